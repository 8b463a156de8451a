// SPDX-License-Identifier: MIT
/*
 * regbuf-fio.so - a fio ioengine over regbuf.
 *
 *   fio --thread=1 --ioengine=external:/path/regbuf-fio.so --backend=uring ...
 *
 * One fio process gets one regbuf arena for the I/O buffers of all its jobs
 * (fio's iomem_alloc/iomem_free hooks), registered once by the backend the
 * jobs name.  This file is the glue fio calls; each backend is one table of
 * operations (struct rb_ops, engine.h) in its own file:
 *
 *   backend=uring      uring.c: READ_FIXED/WRITE_FIXED on files and block
 *                      devices, one ring per job from a regbuf ring pool
 *                      (ring.c), the arena registered once and cloned
 *   backend=uring_cmd  uring_cmd.c: NVMe passthrough on /dev/ngXnY, the same
 *                      ring pool with 128-byte SQEs
 *   backend=nvme       nvme.c: regbuf's userspace NVMe driver, filename= a
 *                      PCI address, the arena DMA-mapped once, a queue pair
 *                      per job
 *
 * Jobs must be threads (thread=1): the registration belongs to the process.
 * Built against a fio source tree configured like the fio binary that loads
 * it; fio itself refuses a different FIO_IOOPS_VERSION, and the engine also
 * refuses a fio whose version string differs from the tree's, since struct
 * layouts can change between releases with the same ops version.
 */
#include <errno.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine.h"
#include "optgroup.h"

#ifndef REGBUF_FIO_BUILT_FOR
#error "REGBUF_FIO_BUILT_FOR (the fio version string of the source tree) must be defined"
#endif

struct rb_proc rb = { .lock = PTHREAD_MUTEX_INITIALIZER };

/* By the backend= option's value. */
static const struct rb_ops *const rb_backends[] = {
	[RB_URING] = &rb_uring_ops,
	[RB_URING_CMD] = &rb_uring_cmd_ops,
	[RB_NVME] = &rb_nvme_ops,
};

static const struct rb_ops *rb_ops_of(struct thread_data *td)
{
	struct rb_options *o = td->eo;

	return rb_backends[o->backend];
}

uint64_t rb_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int rb_check_fio(void)
{
	if (strcmp(fio_version_string, REGBUF_FIO_BUILT_FOR) != 0) {
		log_err("regbuf: this engine was built against %s (ioengine ops version %d) "
			"but is loaded by %s; rebuild it against that fio's source\n",
			REGBUF_FIO_BUILT_FOR, FIO_IOOPS_VERSION, fio_version_string);
		return 1;
	}
	return 0;
}

void rb_set_raw(struct thread_data *td)
{
	td->flags |= (unsigned long long)(FIO_NOEXTEND | FIO_NODISKUTIL | FIO_RAWIO)
		     << TD_ENG_FLAG_SHIFT;
}

const char *rb_first_file(struct thread_data *td, const char *what)
{
	if (!td->files_index || !td->files[0]) {
		log_err("regbuf: %s\n", what);
		return NULL;
	}
	return td->files[0]->file_name;
}

static int rb_init(struct thread_data *td)
{
	const struct rb_ops *ops = rb_ops_of(td);
	struct rb_data *d;

	if (rb_check_fio())
		return 1;
	if (!td->o.use_thread) {
		log_err("regbuf: needs thread=1: the registration belongs to the process "
			"and every job shares it\n");
		return 1;
	}
	if (ops->raw)	/* also when fio skipped setup (create_serialize=0) */
		rb_set_raw(td);
	d = calloc(1, sizeof(*d));
	if (!d)
		return 1;
	d->o = td->eo;
	d->depth = td->o.iodepth ? td->o.iodepth : 1;
	d->events = calloc(d->depth, sizeof(*d->events));
	d->pending = calloc(d->depth, sizeof(*d->pending));
	if (!d->events || !d->pending)
		goto err_free;
	td->io_ops_data = d;

	pthread_mutex_lock(&rb.lock);
	if ((rb.users || rb.mem) && rb.ops != ops) {
		pthread_mutex_unlock(&rb.lock);
		log_err("regbuf: every job of one fio process must use the same backend\n");
		goto err_unset;
	}
	rb.ops = ops;
	rb.users++;
	d->holds_ref = true;
	pthread_mutex_unlock(&rb.lock);
	return 0;

err_unset:
	td->io_ops_data = NULL;
err_free:
	free(d->pending);
	free(d->events);
	free(d);
	return 1;
}

static const enum regbuf_mem_tier rb_tiers[] = {
	[RB_TIER_1G] = REGBUF_MEM_TIER_1G,
	[RB_TIER_2M] = REGBUF_MEM_TIER_2M,
	[RB_TIER_THP] = REGBUF_MEM_TIER_THP,
	[RB_TIER_4K] = REGBUF_MEM_TIER_4K,
};

/*
 * fio calls an engine's setup hook instead of sizing the files itself; this
 * is its get_file_sizes(): a file that does not exist yet is created later.
 */
static int rb_file_sizes(struct thread_data *td)
{
	struct fio_file *f;
	unsigned int i;

	for_each_file(td, f, i) {
		if (td_io_get_file_size(td, f)) {
			if (td->error != ENOENT) {
				log_err("%s\n", td->verror);
				return 1;
			}
			td->error = 0;	/* fio's clear_error() */
			td->verror[0] = '\0';
		}
		if (f->real_file_size == -1ULL && td->o.size)
			f->real_file_size = td->o.size / td->o.nr_files;
	}
	return 0;
}

static int rb_setup(struct thread_data *td)
{
	const struct rb_ops *ops = rb_ops_of(td);
	int ret = 0;

	if (rb_check_fio())
		return 1;
	if (ops->raw)
		rb_set_raw(td);
	if (ops->setup_locked) {
		pthread_mutex_lock(&rb.lock);
		ret = ops->setup_locked(td);
		pthread_mutex_unlock(&rb.lock);
	}
	return ret ? 1 : rb_file_sizes(td);
}

/* Bytes of Dataset Management ranges a job may need: one per I/O in flight. */
static size_t rb_dsm_bytes(const struct thread_data *t)
{
	size_t n = (size_t)(t->o.iodepth ? t->o.iodepth : 1) * sizeof(struct regbuf_nvme_dsm_range);

	return (n + 4095) & ~(size_t)4095;
}

/* Room for ranges in every job's share of the arena (trim on the NVMe backends). */
static size_t rb_dsm_room(void)
{
	struct thread_data *t;
	size_t room = 0;
	int i;

	if (!rb.ops->raw)
		return 0;
	for_each_td(t, i)
		if (td_trim(t) && rb_dsm_bytes(t) > room)
			room = rb_dsm_bytes(t);
	return room;
}

/* The job's ranges, when it trims on an NVMe backend: 0 or -errno. */
static int rb_dsm_setup(struct thread_data *td, struct rb_data *d)
{
	unsigned int i, n = d->depth;
	int ret;

	if (!td_trim(td) || !rb.ops->raw)
		return 0;
	d->dsm_free = calloc(n, sizeof(*d->dsm_free));
	if (!d->dsm_free)
		return -ENOMEM;
	pthread_mutex_lock(&rb.lock);
	ret = regbuf_alloc_acquire(rb.alloc, rb_dsm_bytes(td), &d->dsm);
	pthread_mutex_unlock(&rb.lock);
	if (ret) {
		log_err("regbuf: %zu bytes of trim ranges for job %s: %s (set mem_size_mb)\n",
			rb_dsm_bytes(td), td->o.name, strerror(-ret));
		return ret;
	}
	d->has_dsm = true;
	for (i = 0; i < n; i++)
		d->dsm_free[i] = n - 1 - i;
	d->dsm_nfree = n;
	return 0;
}

struct regbuf_nvme_dsm_range *rb_dsm_get(struct rb_data *d, struct io_u *io_u,
					 unsigned int lba_shift)
{
	struct regbuf_nvme_dsm_range *r;

	if (!d->dsm_nfree)
		return NULL;
	r = (struct regbuf_nvme_dsm_range *)d->dsm.addr + d->dsm_free[--d->dsm_nfree];
	regbuf_nvme_dsm_range_set(r, io_u->offset >> lba_shift,
				  (uint32_t)(io_u->xfer_buflen >> lba_shift));
	io_u->engine_data = r;
	return r;
}

void rb_dsm_put(struct rb_data *d, struct io_u *io_u)
{
	const struct regbuf_nvme_dsm_range *r = io_u->engine_data;

	d->dsm_free[d->dsm_nfree++] = (uint32_t)(r - (const struct regbuf_nvme_dsm_range *)d->dsm.addr);
	io_u->engine_data = NULL;
}

/*
 * The prefault of a hugetlb arena, shared among the jobs' threads.  What it
 * costs is the kernel zeroing every page, and fio's own io_uring engine pays
 * that in each job's thread (its registration faults the job's buffers); the
 * arena is one for all jobs, made in one job's thread, while the others wait
 * for it.  Where the jobs outnumber the CPUs (regbuf's own prefault runs a
 * thread per CPU), it is made unfaulted, and every job that arrives while
 * it is being faulted takes parts of it (RB_FAULT_PART, whole pages) until
 * none is left; the job that made it registers once all are done.  A THP or
 * 4K arena is always faulted by regbuf itself, which also verifies THP.
 */
#define RB_FAULT_PART (32u << 20)

static struct {
	struct regbuf_mem *mem;		/* while parts are being faulted */
	size_t part, nr;		/* bytes per part, parts */
	size_t next;			/* the next part to take (atomic) */
	size_t done;			/* parts faulted; under rb.lock */
	int err;			/* the first error; under rb.lock */
	unsigned int helpers;		/* jobs in rb_fault_help(); under rb.lock */
	bool active;			/* arena made, not yet registered; under rb.lock */
	pthread_cond_t cond;		/* done reached nr, helpers 0, or active false */
} rbf = { .cond = PTHREAD_COND_INITIALIZER };

/* Take parts and fault them until none is left; called without rb.lock. */
static void rb_fault_help(struct regbuf_mem *mem)
{
	size_t i, off, len;
	int err;

	while ((i = __atomic_fetch_add(&rbf.next, 1, __ATOMIC_RELAXED)) < rbf.nr) {
		off = i * rbf.part;
		len = regbuf_mem_len(mem) - off < rbf.part ? regbuf_mem_len(mem) - off : rbf.part;
		err = regbuf_mem_prefault(mem, off, len);
		pthread_mutex_lock(&rb.lock);
		if (err && !rbf.err)
			rbf.err = err;
		if (++rbf.done == rbf.nr)
			pthread_cond_broadcast(&rbf.cond);
		pthread_mutex_unlock(&rb.lock);
	}
}

/*
 * Fault rb.mem with the help of the jobs arriving meanwhile (rb_iomem_alloc()
 * lets them in while rb.lock is dropped here): 0 or -errno.  rbf.active stays
 * set until rb_fault_end(), after the registration.
 */
static int rb_fault_shared_locked(void)
{
	size_t page = (size_t)1 << regbuf_mem_folio_shift(rb.mem);

	rbf.mem = rb.mem;
	rbf.part = page > RB_FAULT_PART ? page : RB_FAULT_PART;
	rbf.nr = (regbuf_mem_len(rb.mem) + rbf.part - 1) / rbf.part;
	rbf.next = 0;
	rbf.done = 0;
	rbf.err = 0;
	rbf.active = true;
	pthread_mutex_unlock(&rb.lock);
	rb_fault_help(rbf.mem);
	pthread_mutex_lock(&rb.lock);
	while (rbf.done < rbf.nr)
		pthread_cond_wait(&rbf.cond, &rb.lock);
	return rbf.err;
}

/* After the registration: no helper is left to take a part of a later arena's. */
static void rb_fault_end_locked(void)
{
	while (rbf.helpers)
		pthread_cond_wait(&rbf.cond, &rb.lock);
	rbf.active = false;
	rbf.mem = NULL;
	pthread_cond_broadcast(&rbf.cond);
}

/* A job arriving while the arena is faulted helps, then waits for the registration. */
static void rb_fault_join_locked(void)
{
	struct regbuf_mem *mem = rbf.mem;

	if (!rbf.active)
		return;
	rbf.helpers++;
	pthread_mutex_unlock(&rb.lock);
	rb_fault_help(mem);
	pthread_mutex_lock(&rb.lock);
	if (!--rbf.helpers)
		pthread_cond_broadcast(&rbf.cond);
	while (rbf.active)
		pthread_cond_wait(&rbf.cond, &rb.lock);
}

/*
 * Whether the jobs outnumber the CPUs regbuf's own prefault would use, one
 * per CPU this thread may run on (unknown: they do).  Only then does sharing
 * the prefault out among the jobs fault from more threads.
 */
static bool rb_jobs_outnumber_cpus(void)
{
	cpu_set_t set;

	return sched_getaffinity(0, sizeof(set), &set) || (int)thread_number > CPU_COUNT(&set);
}

/*
 * The arena, unfaulted when it is hugetlb and the jobs outnumber the CPUs
 * (rb_fault_shared_locked() faults it then), or with @lazy (lazy_register:
 * the pages an I/O reaches are faulted when its piece is registered): 0 or
 * -errno.
 */
static int rb_mem_create(size_t len, struct regbuf_mem_opts *mopts, bool lazy, bool *shared)
{
	enum regbuf_mem_tier t;
	int ret;

	*shared = false;
	if (lazy)
		mopts->flags |= REGBUF_MEM_F_NO_PREFAULT;
	if (lazy || !rb_jobs_outnumber_cpus())
		return regbuf_mem_create(&rb.mem, len, mopts);
	mopts->flags |= REGBUF_MEM_F_NO_PREFAULT;
	ret = regbuf_mem_create(&rb.mem, len, mopts);
	mopts->flags &= ~REGBUF_MEM_F_NO_PREFAULT;
	if (ret)
		return ret;
	t = regbuf_mem_tier(rb.mem);
	*shared = t == REGBUF_MEM_TIER_1G || t == REGBUF_MEM_TIER_2M;
	if (*shared)
		return 0;
	/* Nothing was faulted yet: mapping it again is cheap. */
	regbuf_mem_destroy(rb.mem);
	rb.mem = NULL;
	return regbuf_mem_create(&rb.mem, len, mopts);
}

/* Arena + registration, once per process, sized for every job. */
static int rb_setup_locked(struct thread_data *td, size_t size)
{
	struct rb_options *o = td->eo;
	struct regbuf_mem_opts mopts = { 0 };
	uint64_t t0 = rb_now_ns(), slot_len = REGBUF_BUF_MAX_LEN;
	bool shared = false;
	size_t len;
	int ret;

	if (o->mem_size_mb) {
		len = (size_t)o->mem_size_mb << 20;
	} else {
		/*
		 * Every job like this one, each rounded to a 2 MiB page and in a
		 * slot (kernel buffer) of its own, so that a job's buffers never
		 * straddle two kernel buffers and no byte of the arena is
		 * faulted in and pinned for nothing: with 1 GiB slots, which
		 * hold whole jobs only, 8 x 256 MiB + 4 KiB took 2.5 GiB.
		 */
		size_t per = (size + rb_dsm_room() + (2u << 20) - 1) & ~(size_t)((2u << 20) - 1);

		if (per > REGBUF_BUF_MAX_LEN) {
			log_err("regbuf: %zu bytes of I/O buffers per job: more than one kernel "
				"buffer (1 GiB) holds; lower iodepth or bs\n", size);
			return -E2BIG;
		}
		len = per * (size_t)thread_number;
		slot_len = per;
	}
	if (o->lazy_register && !rb.ops->lazy) {
		log_err("regbuf: lazy_register: backend=%s maps the whole arena at setup (the "
			"io_uring backends, uring and uring_cmd, register it as I/O reaches it)\n",
			rb.ops->name);
		return -EOPNOTSUPP;
	}
	mopts.tier = rb_tiers[o->mem_tier];
	if (o->mem_require)
		mopts.flags |= REGBUF_MEM_F_REQUIRE;
	ret = rb_mem_create(len, &mopts, o->lazy_register, &shared);
	if (ret) {
		log_err("regbuf: arena of %zu MiB (%s%s): %s\n", len >> 20,
			regbuf_mem_tier_name(mopts.tier), o->mem_require ? ", required" : "",
			strerror(-ret));
		return ret;
	}
	if (shared) {
		ret = rb_fault_shared_locked();
		if (ret) {
			log_err("regbuf: faulting the arena of %zu MiB (%s) in: %s\n", len >> 20,
				regbuf_mem_tier_name(regbuf_mem_tier(rb.mem)), strerror(-ret));
			goto err_mem;
		}
	}
	rb.slot_len = slot_len;
	ret = regbuf_alloc_create(&rb.alloc, rb.mem, 0, slot_len, 4096, 0);
	if (ret) {
		log_err("regbuf: allocator: %s\n", strerror(-ret));
		goto err_mem;
	}
	ret = rb.ops->map_locked(td);
	if (ret)
		goto err_alloc;
	rb.setup_ns = rb_now_ns() - t0;
	if (shared)
		rb_fault_end_locked();
	return 0;

err_alloc:
	regbuf_alloc_destroy(rb.alloc);
	rb.alloc = NULL;
err_mem:
	regbuf_mem_destroy(rb.mem);
	rb.mem = NULL;
	if (shared)
		rb_fault_end_locked();
	return ret;
}

static int rb_iomem_alloc(struct thread_data *td, size_t size)
{
	struct rb_data *d = td->io_ops_data;
	/* the backend's own part (uring_cmd: metadata) after fio's buffers, page aligned */
	size_t extra = rb.ops->job_extra ? rb.ops->job_extra(td) : 0;
	size_t at = (size + 4095) & ~(size_t)4095;
	int ret = 0;

	if (extra)
		size = at + extra;
	pthread_mutex_lock(&rb.lock);
	rb_fault_join_locked();
	if (!rb.mem)
		ret = rb_setup_locked(td, size);
	if (!ret) {
		ret = regbuf_alloc_acquire(rb.alloc, size, &d->iobuf);
		if (ret)
			log_err("regbuf: %zu bytes of I/O buffers for job %s: %s (arena %zu MiB; "
				"set mem_size_mb for jobs of different sizes)\n", size,
				td->o.name, strerror(-ret), regbuf_mem_len(rb.mem) >> 20);
	}
	pthread_mutex_unlock(&rb.lock);
	if (ret)
		return 1;
	d->has_iobuf = true;
	td->orig_buffer = d->iobuf.addr;
	if (extra)
		d->md = (uint8_t *)d->iobuf.addr + at;
	return 0;
}

static void rb_iomem_free(struct thread_data *td)
{
	struct rb_data *d = td->io_ops_data;

	if (d && d->has_iobuf) {
		regbuf_alloc_release(rb.alloc, &d->iobuf);
		d->has_iobuf = false;
	}
	td->orig_buffer = NULL;
}

/*
 * What regbuf got goes with fio's normal output; with json or terse output
 * on stdout it goes to stderr instead, so that stdout stays parseable.
 */
void rb_info(const char *fmt, ...)
{
	char buf[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (output_format & FIO_OUTPUT_NORMAL)
		log_info("%s", buf);
	else
		log_err("%s", buf);
}

static void rb_report_locked(void)
{
	enum regbuf_mem_tier got = regbuf_mem_tier(rb.mem), t;
	const char *why;

	if (rb.reported)
		return;
	rb.reported = true;
	rb_info("regbuf: arena %zu MiB, %s", regbuf_mem_len(rb.mem) >> 20,
		regbuf_mem_tier_name(got));
	for (t = 0; t < got; t++)
		if (regbuf_mem_tier_status(rb.mem, t, &why) != -ENOENT && why)
			rb_info("; %s: %s", regbuf_mem_tier_name(t), why);
	rb_info("\n");
	rb.ops->report_locked();
}

/*
 * A failure fio must report: logged with its reason, and the job's error set
 * so that fio exits non-zero (a hook that just returns 1 ends the job as if
 * it had run).
 */
void rb_fail(struct thread_data *td, int err, const char *what)
{
	td_verror(td, err > 0 ? err : -err, what);
}

enum fio_q_status rb_unsupported(struct thread_data *td, struct io_u *io_u, const char *backend)
{
	log_err("regbuf: backend=%s cannot do %s (job %s)\n", backend, io_ddir_name(io_u->ddir),
		td->o.name);
	io_u->error = EOPNOTSUPP;
	return FIO_Q_COMPLETED;
}

static int rb_post_init(struct thread_data *td)
{
	struct rb_data *d = td->io_ops_data;
	int ret = 0;

	pthread_mutex_lock(&rb.lock);
	rb_fault_join_locked();
	/*
	 * fio allocates no buffers for a job that moves no data (rw=trim):
	 * iomem_alloc never ran, yet the backend's rings or queues and the
	 * memory its commands use (NVMe Dataset Management ranges) come with
	 * the arena.  The smallest one then.
	 */
	if (!rb.mem)
		ret = rb_setup_locked(td, 4096);
	if (!ret)
		ret = rb.ops->job_attach_locked(td, d);
	if (!ret)
		rb_report_locked();
	pthread_mutex_unlock(&rb.lock);
	if (!ret && rb.ops->job_start)
		ret = rb.ops->job_start(td, d);
	if (!ret)
		ret = rb_dsm_setup(td, d);
	if (ret)
		rb_fail(td, ret < 0 ? ret : -EINVAL, "regbuf: setting up the job");
	return ret ? 1 : 0;
}

/* A raw backend's device is the process's, opened once in setup. */
static int rb_open_file(struct thread_data *td, struct fio_file *f)
{
	const struct rb_ops *ops = rb_ops_of(td);

	if (!ops->open_file) {
		f->fd = -1;
		return 0;
	}
	return ops->open_file(td, f);
}

static int rb_close_file(struct thread_data *td, struct fio_file *f)
{
	const struct rb_ops *ops = rb_ops_of(td);

	return ops->close_file ? ops->close_file(td, f) : 0;
}

static int rb_get_file_size(struct thread_data *td, struct fio_file *f)
{
	const struct rb_ops *ops = rb_ops_of(td);
	int ret;

	if (!ops->get_file_size)
		return generic_get_file_size(td, f);
	/* The device's size; it was opened (or the controller came up) in rb_setup(). */
	ret = ops->get_file_size(td, f);
	if (!ret)
		fio_file_set_size_known(f);
	return ret;
}

static enum fio_q_status rb_queue(struct thread_data *td, struct io_u *io_u)
{
	fio_ro_check(td, io_u);
	return rb.ops->queue(td, io_u);
}

/* Issue time is the submission (commit), as fio's own io_uring engine records it. */
static void rb_mark_queued(struct thread_data *td, struct rb_data *d)
{
	struct timespec now;
	unsigned int i;

	if (fio_fill_issue_time(td)) {
		fio_gettime(&now, NULL);
		for (i = 0; i < d->nr_pending; i++) {
			d->pending[i]->issue_time = now;
			io_u_queued(td, d->pending[i]);
		}
		if (td->o.read_iolog_file)
			td->last_issue = now;
	}
	d->nr_pending = 0;
}

static int rb_commit(struct thread_data *td)
{
	struct rb_data *d = td->io_ops_data;

	if (!d->nr_pending)
		return 0;
	/* Issue time first: the I/O may complete inside the submission. */
	rb_mark_queued(td, d);
	return rb.ops->commit ? rb.ops->commit(td, d) : 0;
}

static int rb_getevents(struct thread_data *td, unsigned int min, unsigned int max,
			const struct timespec *t)
{
	struct rb_data *d = td->io_ops_data;
	uint64_t deadline = t ? rb_now_ns() + (uint64_t)t->tv_sec * 1000000000u +
				(uint64_t)t->tv_nsec : 0;
	unsigned int have = 0;
	int ret;

	if (max > d->depth)
		max = d->depth;
	for (;;) {
		have = rb.ops->reap(d, have, min, max);
		if (have >= min || (deadline && rb_now_ns() >= deadline))
			break;
		if (!rb.ops->wait)
			continue;	/* polled */
		ret = rb.ops->wait(td, d, min - have, t);
		if (ret < 0)
			return ret;
		if (ret == 1)
			t = NULL, deadline = 1;	/* reap what is there, then return */
	}
	return (int)have;
}

static struct io_u *rb_event(struct thread_data *td, int event)
{
	struct rb_data *d = td->io_ops_data;

	return d->events[event];
}

static void rb_cleanup(struct thread_data *td)
{
	struct rb_data *d = td->io_ops_data;

	if (!d)
		return;
	if (rb.ops->job_cleanup)
		rb.ops->job_cleanup(td, d);
	pthread_mutex_lock(&rb.lock);
	if (d->has_dsm)
		regbuf_alloc_release(rb.alloc, &d->dsm);
	if (d->holds_ref) {
		rb.users--;
		rb.done++;
	}
	/*
	 * The registration lives as long as jobs remain: a short job that ends
	 * before another starts (or a later stonewall group) must not make the
	 * next one register again.  The last job of the process releases it.
	 */
	if (d->holds_ref && !rb.users && rb.done >= (unsigned int)thread_number) {
		rb.ops->release_locked();
		regbuf_alloc_destroy(rb.alloc);
		regbuf_mem_destroy(rb.mem);
		rb.alloc = NULL;
		rb.mem = NULL;
		rb.done = 0;
		rb.reported = false;
	}
	pthread_mutex_unlock(&rb.lock);
	free(d->dsm_free);
	free(d->pending);
	free(d->events);
	free(d);
	td->io_ops_data = NULL;
}

static struct fio_option rb_options[] = {
	{
		.name	= "backend",
		.lname	= "regbuf backend",
		.type	= FIO_OPT_STR,
		.off1	= offsetof(struct rb_options, backend),
		.help	= "I/O path for the registered buffers",
		.def	= "uring",
		.posval	= {
			{ .ival = "uring", .oval = RB_URING,
			  .help = "io_uring fixed reads/writes on files and block devices" },
			{ .ival = "uring_cmd", .oval = RB_URING_CMD,
			  .help = "NVMe passthrough on a namespace (filename=/dev/ngXnY)" },
			{ .ival = "nvme", .oval = RB_NVME,
			  .help = "regbuf's userspace NVMe driver (filename=PCI address)" },
		},
		.category = FIO_OPT_C_ENGINE,
		.group	= FIO_OPT_G_INVALID,
	},
	{
		.name	= "mem_tier",
		.lname	= "regbuf arena page size",
		.type	= FIO_OPT_STR,
		.off1	= offsetof(struct rb_options, mem_tier),
		.help	= "Best memory to try for the arena (falls back unless mem_require=1)",
		.def	= "1g",
		.posval	= {
			{ .ival = "1g", .oval = RB_TIER_1G, .help = "1 GiB hugetlb pages" },
			{ .ival = "2m", .oval = RB_TIER_2M, .help = "2 MiB hugetlb pages" },
			{ .ival = "thp", .oval = RB_TIER_THP, .help = "transparent huge pages" },
			{ .ival = "4k", .oval = RB_TIER_4K, .help = "base pages" },
		},
		.category = FIO_OPT_C_ENGINE,
		.group	= FIO_OPT_G_INVALID,
	},
	{
		.name	= "mem_require",
		.lname	= "regbuf arena tier required",
		.type	= FIO_OPT_BOOL,
		.off1	= offsetof(struct rb_options, mem_require),
		.help	= "Fail instead of falling back below mem_tier",
		.def	= "0",
		.category = FIO_OPT_C_ENGINE,
		.group	= FIO_OPT_G_INVALID,
	},
	{
		.name	= "mem_size_mb",
		.lname	= "regbuf arena size",
		.type	= FIO_OPT_INT,
		.off1	= offsetof(struct rb_options, mem_size_mb),
		.help	= "Arena size in MiB for the whole process (0: jobs x this job's buffers)",
		.def	= "0",
		.category = FIO_OPT_C_ENGINE,
		.group	= FIO_OPT_G_INVALID,
	},
	{
		.name	= "registerfiles",
		.lname	= "Register file set",
		.type	= FIO_OPT_BOOL,
		.off1	= offsetof(struct rb_options, registerfiles),
		.help	= "uring: register the job's files with the ring (IOSQE_FIXED_FILE)",
		.def	= "0",
		.category = FIO_OPT_C_ENGINE,
		.group	= FIO_OPT_G_INVALID,
	},
	{
		.name	= "sqthread_poll",
		.lname	= "Kernel SQ thread polling",
		.type	= FIO_OPT_BOOL,
		.off1	= offsetof(struct rb_options, sqthread_poll),
		.help	= "uring: a kernel thread polls each ring's SQ (IORING_SETUP_SQPOLL)",
		.def	= "0",
		.category = FIO_OPT_C_ENGINE,
		.group	= FIO_OPT_G_INVALID,
	},
	{
		.name	= "hipri",
		.lname	= "High priority (polled) I/O",
		.type	= FIO_OPT_BOOL,
		.off1	= offsetof(struct rb_options, hipri),
		.help	= "uring, uring_cmd: polled completions (IORING_SETUP_IOPOLL); the device "
			  "needs poll queues",
		.def	= "0",
		.category = FIO_OPT_C_ENGINE,
		.group	= FIO_OPT_G_INVALID,
	},
	{
		.name	= "lazy_register",
		.lname	= "Register buffers on first use",
		.type	= FIO_OPT_BOOL,
		.off1	= offsetof(struct rb_options, lazy_register),
		.help	= "uring, uring_cmd: fault and register the arena in pieces (2 MiB, or the "
			  "page when larger) as I/O first reaches them, not all at setup; the "
			  "rings are then COOP_TASKRUN, without SINGLE_ISSUER/DEFER_TASKRUN (a "
			  "piece is registered from any job's thread into every ring)",
		.def	= "0",
		.category = FIO_OPT_C_ENGINE,
		.group	= FIO_OPT_G_INVALID,
	},
	{
		.name	= "enable_sgl",
		.lname	= "NVMe SGL",
		.type	= FIO_OPT_STR,
		.off1	= offsetof(struct rb_options, enable_sgl),
		.help	= "nvme: SGL or PRP data pointers",
		.def	= "auto",
		.posval	= {
			{ .ival = "auto", .oval = RB_SGL_AUTO,
			  .help = "SGL when the controller has it and the I/O spans 3+ pages" },
			{ .ival = "1", .oval = RB_SGL_ON, .help = "SGL for every I/O" },
			{ .ival = "0", .oval = RB_SGL_OFF, .help = "PRPs only" },
		},
		.category = FIO_OPT_C_ENGINE,
		.group	= FIO_OPT_G_INVALID,
	},
	{
		.name	= "nsid",
		.lname	= "NVMe namespace",
		.type	= FIO_OPT_INT,
		.off1	= offsetof(struct rb_options, nsid),
		.help	= "nvme: namespace id",
		.def	= "1",
		.minval	= 1,
		.category = FIO_OPT_C_ENGINE,
		.group	= FIO_OPT_G_INVALID,
	},
	{
		.name	= "md_per_io_size",
		.lname	= "Separate metadata buffer size per I/O",
		.type	= FIO_OPT_INT,
		.off1	= offsetof(struct rb_options, md_per_io_size),
		.help	= "uring_cmd: bytes of metadata buffer per I/O (namespaces formatted "
			  "with separate metadata)",
		.def	= "0",
		.category = FIO_OPT_C_ENGINE,
		.group	= FIO_OPT_G_INVALID,
	},
	{
		.name	= "pi_act",
		.lname	= "Protection information action",
		.type	= FIO_OPT_BOOL,
		.off1	= offsetof(struct rb_options, pi_act),
		.help	= "uring_cmd: PRACT, the controller inserts and strips protection "
			  "information",
		.def	= "1",
		.category = FIO_OPT_C_ENGINE,
		.group	= FIO_OPT_G_INVALID,
	},
	{
		.name	= "pi_chk",
		.lname	= "Protection information check",
		.type	= FIO_OPT_STR_STORE,
		.off1	= offsetof(struct rb_options, pi_chk),
		.help	= "uring_cmd: what the controller checks: GUARD, REFTAG, APPTAG "
			  "(comma-separated)",
		.category = FIO_OPT_C_ENGINE,
		.group	= FIO_OPT_G_INVALID,
	},
	{
		.name	= "apptag",
		.lname	= "Application tag",
		.type	= FIO_OPT_INT,
		.off1	= offsetof(struct rb_options, apptag),
		.help	= "uring_cmd: application tag of the protection information",
		.def	= "0x1234",
		.category = FIO_OPT_C_ENGINE,
		.group	= FIO_OPT_G_INVALID,
	},
	{
		.name	= "apptag_mask",
		.lname	= "Application tag mask",
		.type	= FIO_OPT_INT,
		.off1	= offsetof(struct rb_options, apptag_mask),
		.help	= "uring_cmd: the bits of apptag the controller checks",
		.def	= "0xffff",
		.category = FIO_OPT_C_ENGINE,
		.group	= FIO_OPT_G_INVALID,
	},
	{
		.name	= "allow_unsafe",
		.lname	= "NVMe physical mode",
		.type	= FIO_OPT_BOOL,
		.off1	= offsetof(struct rb_options, allow_unsafe),
		.help	= "nvme: allow a controller on uio_pci_generic (no IOMMU, physical addresses)",
		.def	= "0",
		.category = FIO_OPT_C_ENGINE,
		.group	= FIO_OPT_G_INVALID,
	},
	{
		.name	= NULL,
	},
};

struct ioengine_ops ioengine = {
	.name			= "regbuf",
	.version		= FIO_IOOPS_VERSION,
	.flags			= FIO_NO_OFFLOAD | FIO_ASYNCIO_SETS_ISSUE_TIME,
	.setup			= rb_setup,
	.init			= rb_init,
	.post_init		= rb_post_init,
	.queue			= rb_queue,
	.commit			= rb_commit,
	.getevents		= rb_getevents,
	.event			= rb_event,
	.cleanup		= rb_cleanup,
	.open_file		= rb_open_file,
	.close_file		= rb_close_file,
	.get_file_size		= rb_get_file_size,
	.iomem_alloc		= rb_iomem_alloc,
	.iomem_free		= rb_iomem_free,
	.options		= rb_options,
	.option_struct_size	= sizeof(struct rb_options),
};
