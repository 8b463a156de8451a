// SPDX-License-Identifier: MIT
/*
 * regbuf-fio.so - a fio ioengine over regbuf.
 *
 *   fio --thread=1 --ioengine=external:/path/regbuf-fio.so --backend=uring ...
 *
 * One fio process gets one regbuf arena for the I/O buffers of all its jobs
 * (fio's iomem_alloc/iomem_free hooks), registered once:
 *
 *   backend=uring  one io_uring per job from a regbuf ring pool; the arena is
 *                  registered in ring 0 and cloned into the others
 *                  (IORING_REGISTER_CLONE_BUFFERS, Linux 6.12), or registered
 *                  again where the kernel has no clone.  Reads and writes are
 *                  READ_FIXED/WRITE_FIXED, optionally on registered files,
 *                  submitted in fio's batches (iodepth_batch_submit).
 *   backend=uring_cmd  NVMe passthrough (IORING_OP_URING_CMD) on a namespace's
 *                  generic char device, filename=/dev/ngXnY: the same ring pool,
 *                  registration and clone as backend=uring, with 128-byte SQEs;
 *                  each I/O becomes NVMe Read/Write commands sized to the
 *                  namespace's limits, and an NVMe status fails it with EIO.
 *   backend=nvme   regbuf's userspace NVMe driver: filename= is a PCI address
 *                  (0000:03:00.0 written 0000.03.00.0, as fio splits file
 *                  names at ':'), bound to vfio-pci (or uio_pci_generic with
 *                  allow_unsafe=1); the arena is DMA-mapped once and each job
 *                  gets its own queue pair; PRP or SGL per command.
 *
 * Jobs must be threads (thread=1): the registration belongs to the process.
 * Built against a fio source tree configured like the fio binary that loads
 * it; fio itself refuses a different FIO_IOOPS_VERSION, and the engine also
 * refuses a fio whose version string differs from the tree's, since struct
 * layouts can change between releases with the same ops version.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fio.h"
#include "optgroup.h"

#include <regbuf/alloc.h>
#include <regbuf/mem.h>
#include <regbuf/nvme.h>
#include <regbuf/table.h>
#include <regbuf/uring.h>

#ifndef REGBUF_FIO_BUILT_FOR
#error "REGBUF_FIO_BUILT_FOR (the fio version string of the source tree) must be defined"
#endif

enum rb_backend { RB_URING, RB_URING_CMD, RB_NVME };
enum rb_sgl { RB_SGL_AUTO, RB_SGL_ON, RB_SGL_OFF };
enum rb_tier { RB_TIER_1G, RB_TIER_2M, RB_TIER_THP, RB_TIER_4K };

struct rb_options {
	void *pad;			/* fio stores the thread_data here */
	unsigned int backend;
	unsigned int mem_tier;
	unsigned int mem_require;
	unsigned int mem_size_mb;
	unsigned int registerfiles;
	unsigned int sqthread_poll;
	unsigned int enable_sgl;
	unsigned int nsid;
	unsigned int allow_unsafe;
};

/* The process-wide part: one arena, one registration, shared by every job. */
static struct {
	pthread_mutex_t lock;
	unsigned int users;		/* jobs between init and cleanup */
	unsigned int done;		/* jobs that went through init and cleanup */
	enum rb_backend backend;
	struct regbuf_mem *mem;
	struct regbuf_alloc *alloc;
	uint64_t setup_ns;		/* arena + registration (+ clone), wall clock */
	bool reported;
	/* uring */
	struct regbuf_uring_pool *pool;
	uint32_t nr_rings, next_ring;
	unsigned int ring_flags;	/* IORING_SETUP_* of the pool's rings */
	/* uring_cmd */
	struct regbuf_uring_nvme_ns cns;
	char cns_path[256];
	/* nvme */
	struct regbuf_nvme_ctrl *ctrl;
	struct regbuf_nvme_buf *nbuf;
	struct regbuf_nvme_ns_info ns;
	char bdf[32];
} rb = { .lock = PTHREAD_MUTEX_INITIALIZER, .cns = { .fd = -1 } };

struct rb_file {
	struct regbuf_uring_file uf;	/* fd: the real descriptor */
	bool fixed;			/* registered at index fileno */
};

struct rb_data {
	struct rb_options *o;
	bool holds_ref;
	struct regbuf_iobuf iobuf;
	bool has_iobuf;
	struct regbuf_uring_ring *ring;
	bool ring_fd_reg;
	struct regbuf_nvme_qpair *qp;
	struct rb_file *files;
	unsigned int nr_files;
	struct io_u **events;		/* reaped, handed to fio by event() */
	struct io_u **pending;		/* queued since the last commit */
	unsigned int nr_pending;
	struct regbuf_nvme_cpl *cpls;
	unsigned int depth;
	unsigned int io_flags;		/* nvme: REGBUF_NVME_IO_F_* */
	uint64_t nr_ios, nr_cmds;	/* uring_cmd: fio I/Os, NVMe commands sent for them */
};

static uint64_t rb_now_ns(void)
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

/* fio splits file names at ':'; accept 0000.03.00.0 as well as 0000:03:00.0. */
static void rb_bdf(const char *name, char *out, size_t len)
{
	unsigned int dots = 0;
	size_t i;

	snprintf(out, len, "%s", name);
	for (i = 0; out[i]; i++)
		if (out[i] == '.' && ++dots <= 2)
			out[i] = ':';
	if (dots < 3)		/* already 0000:03:00.0 (escaped in the job) */
		snprintf(out, len, "%s", name);
}

/* filename= names a controller or a namespace, not a file: never create or extend it. */
static void rb_set_raw(struct thread_data *td)
{
	td->flags |= (unsigned long long)(FIO_NOEXTEND | FIO_NODISKUTIL | FIO_RAWIO)
		     << TD_ENG_FLAG_SHIFT;
}

static int rb_init(struct thread_data *td)
{
	struct rb_options *o = td->eo;
	struct rb_data *d;

	if (rb_check_fio())
		return 1;
	if (!td->o.use_thread) {
		log_err("regbuf: needs thread=1: the registration belongs to the process "
			"and every job shares it\n");
		return 1;
	}
	if (o->backend != RB_URING)	/* also when fio skipped setup (create_serialize=0) */
		rb_set_raw(td);
	d = calloc(1, sizeof(*d));
	if (!d)
		return 1;
	d->o = o;
	d->depth = td->o.iodepth ? td->o.iodepth : 1;
	d->events = calloc(d->depth, sizeof(*d->events));
	d->pending = calloc(d->depth, sizeof(*d->pending));
	d->cpls = calloc(d->depth, sizeof(*d->cpls));
	if (!d->events || !d->pending || !d->cpls)
		goto err_free;
	if (o->enable_sgl == RB_SGL_ON)
		d->io_flags = REGBUF_NVME_IO_F_SGL;
	else if (o->enable_sgl == RB_SGL_OFF)
		d->io_flags = REGBUF_NVME_IO_F_PRP;
	td->io_ops_data = d;

	pthread_mutex_lock(&rb.lock);
	if ((rb.users || rb.mem) && rb.backend != o->backend) {
		pthread_mutex_unlock(&rb.lock);
		log_err("regbuf: every job of one fio process must use the same backend\n");
		goto err_unset;
	}
	rb.backend = o->backend;
	rb.users++;
	d->holds_ref = true;
	pthread_mutex_unlock(&rb.lock);
	return 0;

err_unset:
	td->io_ops_data = NULL;
err_free:
	free(d->cpls);
	free(d->pending);
	free(d->events);
	free(d);
	return 1;
}

/* The deepest queue of any job: every ring of the pool is created alike. */
static unsigned int rb_max_depth(void)
{
	struct thread_data *t;
	unsigned int depth = 1;
	int i;

	for_each_td(t, i)
		if (t->o.iodepth > depth)
			depth = t->o.iodepth;
	return depth;
}

static const enum regbuf_mem_tier rb_tiers[] = {
	[RB_TIER_1G] = REGBUF_MEM_TIER_1G,
	[RB_TIER_2M] = REGBUF_MEM_TIER_2M,
	[RB_TIER_THP] = REGBUF_MEM_TIER_THP,
	[RB_TIER_4K] = REGBUF_MEM_TIER_4K,
};

static int rb_ns_open_locked(struct thread_data *td);

/*
 * SQ entries per ring.  A passthrough I/O is cut into as many commands as
 * the namespace's limits ask (every 4 KiB page a DMA segment, plus a cut at
 * a kernel-buffer or chunk boundary), and regbuf_uring_nvme_prep_rw() queues
 * all of them or none: an SQ smaller than one I/O's commands would never
 * take it.
 */
static unsigned int rb_ring_entries(void)
{
	unsigned long long per = 1, max_bs = 0, cmd;
	unsigned int entries = 1;
	struct thread_data *t;
	int i;

	if (rb.backend == RB_URING_CMD) {
		for_each_td(t, i) {
			if (t->o.max_bs[DDIR_READ] > max_bs)
				max_bs = t->o.max_bs[DDIR_READ];
			if (t->o.max_bs[DDIR_WRITE] > max_bs)
				max_bs = t->o.max_bs[DDIR_WRITE];
		}
		cmd = (unsigned long long)rb.cns.lim.max_segments * 4096;
		if (rb.cns.lim.max_bytes && rb.cns.lim.max_bytes < cmd)
			cmd = rb.cns.lim.max_bytes;
		if (cmd)
			per = (max_bs + cmd - 1) / cmd + 2;
	}
	while (entries < rb_max_depth() * per && entries < 4096)
		entries <<= 1;
	return entries;
}

static int rb_setup_uring(struct thread_data *td)
{
	struct rb_options *o = td->eo;
	struct iovec iov;
	struct regbuf_uring_status st;
	unsigned int entries, pool_flags = 0;
	int ret;

	if (rb.backend == RB_URING_CMD) {
		ret = rb_ns_open_locked(td);
		if (ret)
			return ret;
		pool_flags = REGBUF_URING_POOL_F_NVME_CMD;
	}
	entries = rb_ring_entries();
	rb.nr_rings = (uint32_t)thread_number;
	/*
	 * As fio's own io_uring engine: task work deferred to the submitter
	 * (DEFER_TASKRUN, Linux 6.1, which needs SINGLE_ISSUER), else cooperative
	 * task work (5.19).  The rings are created here, in one job's thread, so
	 * they start disabled and each job enables its own (the issuer is the
	 * task that enables a SINGLE_ISSUER ring).
	 */
	rb.ring_flags = o->sqthread_poll ? IORING_SETUP_SQPOLL :
			IORING_SETUP_R_DISABLED | IORING_SETUP_SINGLE_ISSUER |
			IORING_SETUP_DEFER_TASKRUN;
	ret = regbuf_uring_pool_create(&rb.pool, rb.nr_rings, entries, rb.ring_flags, pool_flags);
	if (ret == -EINVAL && !o->sqthread_poll) {
		rb.ring_flags = IORING_SETUP_COOP_TASKRUN;
		ret = regbuf_uring_pool_create(&rb.pool, rb.nr_rings, entries, rb.ring_flags,
					       pool_flags);
	}
	if (ret == -EINVAL && !o->sqthread_poll) {
		rb.ring_flags = 0;
		ret = regbuf_uring_pool_create(&rb.pool, rb.nr_rings, entries, rb.ring_flags,
					       pool_flags);
	}
	if (ret) {
		log_err("regbuf: ring pool of %u rings (%u entries): %s\n", rb.nr_rings, entries,
			strerror(-ret));
		return ret;
	}
	/*
	 * Before Linux 6.13 a fixed passthrough command fails when the pages from
	 * its start to the end of its registered buffer exceed max_segments: the
	 * namespace says which kernel-buffer length this kernel takes.
	 */
	if (rb.backend == RB_URING_CMD) {
		ret = regbuf_uring_pool_set_buf_len(rb.pool, rb.cns.max_buf_len);
		if (ret) {
			log_err("regbuf: kernel buffers of %" PRIu64 " KiB for %s: %s\n",
				rb.cns.max_buf_len >> 10, rb.cns.char_name, strerror(-ret));
			goto err_pool;
		}
	}
	iov.iov_base = regbuf_mem_addr(rb.mem);
	iov.iov_len = regbuf_mem_len(rb.mem);
	ret = regbuf_uring_pool_register(rb.pool, &iov, 1, 0);
	if (ret) {
		regbuf_uring_pool_status(rb.pool, &st);
		log_err("regbuf: registering %zu MiB: %s%s%s\n", iov.iov_len >> 20, strerror(-ret),
			st.reason[0] ? ": " : "", st.reason);
		goto err_pool;
	}
	return 0;

err_pool:
	regbuf_uring_pool_destroy(rb.pool);
	rb.pool = NULL;
	return ret;
}

/*
 * uring_cmd: open the namespace once per process, in fio's setup hook (the
 * size fio asks for next is the namespace's) or at the registration when fio
 * skipped setup; every job must name the same one.
 */
static int rb_ns_open_locked(struct thread_data *td)
{
	const char *path;
	int ret;

	if (!td->files_index || !td->files[0]) {
		log_err("regbuf: backend=uring_cmd needs filename=/dev/ngXnY\n");
		return -EINVAL;
	}
	path = td->files[0]->file_name;
	if (rb.cns.fd >= 0) {
		if (strcmp(path, rb.cns_path)) {
			log_err("regbuf: every job of one fio process must use the same "
				"namespace (%s, not %s)\n", rb.cns_path, path);
			return -EINVAL;
		}
		return 0;
	}
	ret = regbuf_uring_nvme_open(&rb.cns, path, 0);
	if (ret) {
		log_err("regbuf: NVMe namespace %s: %s%s\n", path, strerror(-ret),
			ret == -ENODEV ? " (backend=uring_cmd takes a /dev/ngXnY char device)" :
			"");
		return ret;
	}
	snprintf(rb.cns_path, sizeof(rb.cns_path), "%s", path);
	return 0;
}

/*
 * nvme: bring the controller up in fio's setup hook, before fio asks for the
 * "file" size (the namespace's) and before any job thread starts.
 */
static int rb_ctrl_bringup_locked(struct thread_data *td)
{
	struct rb_options *o = td->eo;
	struct regbuf_nvme_opts nopts = { 0 };
	char why[256] = "";
	int ret;

	if (!td->files_index || !td->files[0]) {
		log_err("regbuf: backend=nvme needs filename=<PCI address>\n");
		return -EINVAL;
	}
	rb_bdf(td->files[0]->file_name, rb.bdf, sizeof(rb.bdf));
	nopts.why = why;
	nopts.why_len = sizeof(why);
	nopts.io_queues = (uint32_t)thread_number;
	if (o->allow_unsafe)
		nopts.flags |= REGBUF_NVME_F_ALLOW_UNSAFE;
	if (o->enable_sgl == RB_SGL_OFF)
		nopts.flags |= REGBUF_NVME_F_NO_SGL;
	ret = regbuf_nvme_ctrl_create(&rb.ctrl, rb.bdf, &nopts);
	if (ret) {
		log_err("regbuf: NVMe controller %s: %s%s%s\n", rb.bdf, strerror(-ret),
			why[0] ? ": " : "", why);
		return ret;
	}
	ret = regbuf_nvme_ns_identify(rb.ctrl, o->nsid, &rb.ns);
	if (ret) {
		log_err("regbuf: %s namespace %u: %s\n", rb.bdf, o->nsid, strerror(-ret));
		regbuf_nvme_ctrl_destroy(rb.ctrl);
		rb.ctrl = NULL;
	}
	return ret;
}

static int rb_get_file_size(struct thread_data *td, struct fio_file *f);

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
	struct rb_options *o = td->eo;
	int ret = 0;

	if (rb_check_fio())
		return 1;
	if (o->backend == RB_URING)
		return rb_file_sizes(td);
	rb_set_raw(td);
	pthread_mutex_lock(&rb.lock);
	if (o->backend == RB_URING_CMD)
		ret = rb_ns_open_locked(td);
	else if (!rb.ctrl)
		ret = rb_ctrl_bringup_locked(td);
	else if (td->files_index && td->files[0]) {
		char bdf[sizeof(rb.bdf)];

		rb_bdf(td->files[0]->file_name, bdf, sizeof(bdf));
		if (strcmp(bdf, rb.bdf)) {
			log_err("regbuf: every job of one fio process must use the same "
				"controller (%s, not %s)\n", rb.bdf, bdf);
			ret = -EINVAL;
		}
	}
	pthread_mutex_unlock(&rb.lock);
	return ret ? 1 : rb_file_sizes(td);
}

static int rb_setup_nvme(struct thread_data *td)
{
	int ret;

	if (!rb.ctrl) {
		ret = rb_ctrl_bringup_locked(td);
		if (ret)
			return ret;
	}
	ret = regbuf_nvme_buf_create(&rb.nbuf, rb.ctrl, regbuf_mem_addr(rb.mem),
				     regbuf_mem_len(rb.mem), 0);
	if (ret)
		log_err("regbuf: mapping the %zu MiB arena for %s: %s\n",
			regbuf_mem_len(rb.mem) >> 20, rb.bdf, strerror(-ret));
	return ret;
}

/* Arena + registration, once per process, sized for every job. */
static int rb_setup_locked(struct thread_data *td, size_t size)
{
	struct rb_options *o = td->eo;
	struct regbuf_mem_opts mopts = { 0 };
	uint64_t t0 = rb_now_ns();
	size_t len;
	int ret;

	if (o->mem_size_mb) {
		len = (size_t)o->mem_size_mb << 20;
	} else {
		/*
		 * Every job like this one, each rounded to a 2 MiB page.  A
		 * buffer never straddles a kernel buffer (1 GiB slot), so count
		 * how many fit per slot: 8 x 256 MiB + 4 KiB needs three slots.
		 */
		size_t per = (size + (2u << 20) - 1) & ~(size_t)((2u << 20) - 1);
		size_t n = (size_t)thread_number, per_slot, full;

		if (per > REGBUF_BUF_MAX_LEN) {
			log_err("regbuf: %zu bytes of I/O buffers per job: more than one kernel "
				"buffer (1 GiB) holds; lower iodepth or bs\n", size);
			return -E2BIG;
		}
		per_slot = REGBUF_BUF_MAX_LEN / per;
		full = (n - 1) / per_slot;
		len = full * REGBUF_BUF_MAX_LEN + (n - full * per_slot) * per;
	}
	mopts.tier = rb_tiers[o->mem_tier];
	if (o->mem_require)
		mopts.flags |= REGBUF_MEM_F_REQUIRE;
	ret = regbuf_mem_create(&rb.mem, len, &mopts);
	if (ret) {
		log_err("regbuf: arena of %zu MiB (%s%s): %s\n", len >> 20,
			regbuf_mem_tier_name(mopts.tier), o->mem_require ? ", required" : "",
			strerror(-ret));
		return ret;
	}
	ret = regbuf_alloc_create(&rb.alloc, rb.mem, 0, REGBUF_BUF_MAX_LEN, 4096, 0);
	if (ret) {
		log_err("regbuf: allocator: %s\n", strerror(-ret));
		goto err_mem;
	}
	ret = rb.backend == RB_NVME ? rb_setup_nvme(td) : rb_setup_uring(td);
	if (ret)
		goto err_alloc;
	rb.setup_ns = rb_now_ns() - t0;
	return 0;

err_alloc:
	regbuf_alloc_destroy(rb.alloc);
	rb.alloc = NULL;
err_mem:
	regbuf_mem_destroy(rb.mem);
	rb.mem = NULL;
	return ret;
}

static int rb_iomem_alloc(struct thread_data *td, size_t size)
{
	struct rb_data *d = td->io_ops_data;
	int ret = 0;

	pthread_mutex_lock(&rb.lock);
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
static void rb_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void rb_info(const char *fmt, ...)
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
	if (rb.backend == RB_URING_CMD)
		rb_info("regbuf: uring_cmd %s (nsid %u): %" PRIu64 " blocks of %u B, commands of "
			"at most %" PRIu64 " KiB, kernel buffers of %" PRIu64 " KiB, %s\n",
			rb.cns.char_name, rb.cns.nsid, rb.cns.nr_lbas, 1U << rb.cns.lba_shift,
			rb.cns.lim.max_bytes >> 10, rb.cns.max_buf_len >> 10,
			rb.cns.fixed ? "fixed passthrough refused: unregistered commands" :
			"fixed passthrough");
	if (rb.backend != RB_NVME) {
		struct regbuf_uring_status st;

		regbuf_uring_pool_status(rb.pool, &st);
		rb_info("regbuf: uring pool: %u rings, %s, %s, %" PRIu64 " MiB in %u slots, "
			 "register %.3f ms, clone %.3f ms, setup %.3f ms%s%s\n",
			 st.nr_rings, regbuf_uring_state_name(st.state),
			 regbuf_uring_path_name(st.path), st.nr_bytes >> 20, st.nr_slots,
			 st.register_ns / 1e6, st.clone_ns / 1e6, rb.setup_ns / 1e6,
			 st.reason[0] ? "; " : "", st.reason);
	} else {
		const struct regbuf_nvme_ctrl_info *ci = regbuf_nvme_ctrl_info(rb.ctrl);

		rb_info("regbuf: nvme %s (%s): %s, ns %u: %" PRIu64 " blocks of %u B, "
			 "%u I/O queue pairs, SGL %s, arena mapped in %u segment(s), setup %.3f ms\n",
			 rb.bdf, ci->mn, ci->mode == REGBUF_NVME_MODE_PHYS ? "physical" : "vfio",
			 rb.ns.nsid, rb.ns.nsze, rb.ns.lba_size, ci->io_queues,
			 (ci->sgls & 3) ? "supported" : "not supported",
			 regbuf_nvme_buf_nr_segs(rb.nbuf), rb.setup_ns / 1e6);
	}
}

static int rb_post_init(struct thread_data *td)
{
	struct rb_data *d = td->io_ops_data;
	int ret = 0;

	d->nr_files = td->o.nr_files;
	d->files = calloc(d->nr_files ? d->nr_files : 1, sizeof(*d->files));
	if (!d->files)
		return 1;
	pthread_mutex_lock(&rb.lock);
	if (rb.backend != RB_NVME) {
		if (rb.next_ring >= rb.nr_rings) {
			log_err("regbuf: more jobs than rings (%u)\n", rb.nr_rings);
			ret = -ENOSPC;
		} else {
			d->ring = regbuf_uring_pool_ring(rb.pool, rb.next_ring++);
		}
	} else {
		ret = regbuf_nvme_qpair_create(&d->qp, rb.ctrl, d->depth + 1, 0);
		if (ret)
			log_err("regbuf: queue pair of depth %u on %s: %s\n", d->depth + 1,
				rb.bdf, strerror(-ret));
	}
	if (!ret)
		rb_report_locked();
	pthread_mutex_unlock(&rb.lock);
	if (ret)
		return 1;
	if (d->ring && (rb.ring_flags & IORING_SETUP_R_DISABLED)) {
		/* io_uring_register() directly: liburing 2.3 declares but does not export
		 * io_uring_enable_rings(). */
		ret = io_uring_register(d->ring->ring.ring_fd, IORING_REGISTER_ENABLE_RINGS, NULL, 0);
		if (ret < 0) {
			log_err("regbuf: enabling the job's ring: %s\n", strerror(-ret));
			return 1;
		}
	}
	/* A registered ring fd spares each io_uring_enter() an fdget() (5.18; per task). */
	if (d->ring)
		d->ring_fd_reg = io_uring_register_ring_fd(&d->ring->ring) == 1;
	if (d->ring && d->o->registerfiles && rb.backend == RB_URING) {
		ret = io_uring_register_files_sparse(&d->ring->ring, d->nr_files);
		if (ret) {
			log_err("regbuf: registering %u files: %s\n", d->nr_files, strerror(-ret));
			return 1;
		}
	}
	return 0;
}

static int rb_open_file(struct thread_data *td, struct fio_file *f)
{
	struct rb_data *d = td->io_ops_data;
	struct rb_options *o = td->eo;
	struct rb_file *rf;
	int ret;

	/* The namespace or controller is the process's, opened once in setup. */
	if (o->backend != RB_URING) {
		f->fd = -1;
		return 0;
	}
	ret = generic_open_file(td, f);
	/* Sizing a block device in setup opens it before the job has a ring. */
	if (ret || !d || !d->files)
		return ret;
	rf = &d->files[f->fileno];
	ret = regbuf_uring_file_init(&rf->uf, f->fd);
	if (ret) {
		td_verror(td, -ret, "statx");
		goto err_close;
	}
	if (d->o->registerfiles) {
		ret = io_uring_register_files_update(&d->ring->ring, f->fileno, &f->fd, 1);
		if (ret < 0) {
			td_verror(td, -ret, "io_uring_register_files_update");
			goto err_close;
		}
		rf->fixed = true;
	}
	return 0;

err_close:
	if (generic_close_file(td, f))
		log_err("regbuf: closing %s after the error failed too\n", f->file_name);
	return 1;
}

static int rb_close_file(struct thread_data *td, struct fio_file *f)
{
	struct rb_data *d = td->io_ops_data;
	struct rb_options *o = td->eo;
	struct rb_file *rf = d && d->files ? &d->files[f->fileno] : NULL;
	int none = -1;

	if (o->backend != RB_URING)
		return 0;
	if (rf && rf->fixed) {
		io_uring_register_files_update(&d->ring->ring, f->fileno, &none, 1);
		rf->fixed = false;
	}
	return generic_close_file(td, f);
}

static int rb_get_file_size(struct thread_data *td, struct fio_file *f)
{
	struct rb_options *o = td->eo;

	if (o->backend == RB_URING)
		return generic_get_file_size(td, f);
	/* The namespace's size; it was opened (or the controller came up) in rb_setup(). */
	if (o->backend == RB_URING_CMD && rb.cns.fd >= 0)
		f->real_file_size = rb.cns.nr_lbas << rb.cns.lba_shift;
	else if (o->backend == RB_NVME && rb.ctrl)
		f->real_file_size = rb.ns.nsze * rb.ns.lba_size;
	else
		return EINVAL;
	fio_file_set_size_known(f);
	return 0;
}

static enum fio_q_status rb_queue_uring(struct thread_data *td, struct io_u *io_u)
{
	struct rb_data *d = td->io_ops_data;
	struct regbuf_uring_ring *r = d->ring;
	struct rb_file *rf = &d->files[io_u->file->fileno];
	struct io_uring_sqe *sqe;
	uint64_t addr = (uint64_t)(uintptr_t)io_u->xfer_buf;
	uint32_t slot = 0;
	int ret;

	if (io_u->ddir == DDIR_READ || io_u->ddir == DDIR_WRITE) {
		bool write = io_u->ddir == DDIR_WRITE;

		if (regbuf_uring_check_align(&rf->uf, addr, io_u->xfer_buflen, io_u->offset)) {
			io_u->error = EINVAL;
			return FIO_Q_COMPLETED;
		}
		if (!r->fixed || regbuf_uring_find(r, addr, io_u->xfer_buflen, &slot) !=
				 (int64_t)io_u->xfer_buflen) {
			/* Degraded (not registered): regbuf's plain read/write path. */
			ret = regbuf_uring_prep_rw(r, write, &rf->uf, io_u->xfer_buf,
						   (uint32_t)io_u->xfer_buflen, io_u->offset,
						   (uint64_t)(uintptr_t)io_u);
			if (ret == -EBUSY)
				return FIO_Q_BUSY;
			if (ret != 1) {
				io_u->error = ret < 0 ? -ret : EINVAL;
				return FIO_Q_COMPLETED;
			}
			goto queued;
		}
		sqe = io_uring_get_sqe(&r->ring);
		if (!sqe)
			return FIO_Q_BUSY;
		if (write)
			io_uring_prep_write_fixed(sqe, rf->fixed ? (int)io_u->file->fileno :
						  rf->uf.fd, io_u->xfer_buf,
						  (unsigned int)io_u->xfer_buflen, io_u->offset,
						  (int)slot);
		else
			io_uring_prep_read_fixed(sqe, rf->fixed ? (int)io_u->file->fileno :
						 rf->uf.fd, io_u->xfer_buf,
						 (unsigned int)io_u->xfer_buflen, io_u->offset,
						 (int)slot);
	} else if (ddir_sync(io_u->ddir)) {
		sqe = io_uring_get_sqe(&r->ring);
		if (!sqe)
			return FIO_Q_BUSY;
		io_uring_prep_fsync(sqe, rf->fixed ? (int)io_u->file->fileno : rf->uf.fd,
				    io_u->ddir == DDIR_DATASYNC ? IORING_FSYNC_DATASYNC : 0);
	} else {
		io_u->error = EOPNOTSUPP;
		return FIO_Q_COMPLETED;
	}
	if (rf->fixed)
		sqe->flags |= IOSQE_FIXED_FILE;
	io_uring_sqe_set_data64(sqe, (uint64_t)(uintptr_t)io_u);
queued:
	d->pending[d->nr_pending++] = io_u;
	return FIO_Q_QUEUED;
}

/*
 * One I/O may become several commands: engine_data counts the CQEs still to
 * come, io_u->error keeps the first failure.
 */
static enum fio_q_status rb_queue_uring_cmd(struct thread_data *td, struct io_u *io_u)
{
	struct rb_data *d = td->io_ops_data;
	uint64_t lbs = UINT64_C(1) << rb.cns.lba_shift;
	int ret;

	if (io_u->ddir == DDIR_READ || io_u->ddir == DDIR_WRITE) {
		if (io_u->offset & (lbs - 1)) {
			io_u->error = EINVAL;
			return FIO_Q_COMPLETED;
		}
		ret = regbuf_uring_nvme_prep_rw(d->ring, &rb.cns, io_u->ddir == DDIR_WRITE,
						io_u->xfer_buf, io_u->xfer_buflen,
						io_u->offset >> rb.cns.lba_shift, 0,
						(uint64_t)(uintptr_t)io_u);
	} else if (ddir_sync(io_u->ddir)) {
		ret = regbuf_uring_nvme_prep_flush(d->ring, &rb.cns, (uint64_t)(uintptr_t)io_u);
	} else {
		ret = -EOPNOTSUPP;
	}
	if (ret == -EBUSY)
		return FIO_Q_BUSY;
	if (ret <= 0) {
		io_u->error = ret < 0 ? -ret : EINVAL;
		return FIO_Q_COMPLETED;
	}
	io_u->error = 0;
	io_u->engine_data = (void *)(uintptr_t)ret;
	d->nr_ios++;
	d->nr_cmds += (uint64_t)ret;
	d->pending[d->nr_pending++] = io_u;
	return FIO_Q_QUEUED;
}

static enum fio_q_status rb_queue_nvme(struct thread_data *td, struct io_u *io_u)
{
	struct rb_data *d = td->io_ops_data;
	uint64_t off = (uint64_t)((char *)io_u->xfer_buf - (char *)regbuf_mem_addr(rb.mem));
	uint64_t slba = io_u->offset / rb.ns.lba_size;
	int ret;

	if (io_u->ddir == DDIR_READ)
		ret = regbuf_nvme_submit_read(d->qp, rb.ns.nsid, rb.nbuf, off, io_u->xfer_buflen,
					      slba, io_u, d->io_flags);
	else if (io_u->ddir == DDIR_WRITE)
		ret = regbuf_nvme_submit_write(d->qp, rb.ns.nsid, rb.nbuf, off,
					       io_u->xfer_buflen, slba, io_u, d->io_flags);
	else if (ddir_sync(io_u->ddir))
		ret = regbuf_nvme_submit_flush(d->qp, rb.ns.nsid, io_u);
	else
		ret = -EOPNOTSUPP;
	if (ret == -EAGAIN)
		return FIO_Q_BUSY;
	if (ret) {
		io_u->error = -ret;
		return FIO_Q_COMPLETED;
	}
	d->pending[d->nr_pending++] = io_u;
	return FIO_Q_QUEUED;
}

static enum fio_q_status rb_queue(struct thread_data *td, struct io_u *io_u)
{
	fio_ro_check(td, io_u);
	switch (rb.backend) {
	case RB_URING_CMD:
		return rb_queue_uring_cmd(td, io_u);
	case RB_NVME:
		return rb_queue_nvme(td, io_u);
	default:
		return rb_queue_uring(td, io_u);
	}
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
	int ret;

	if (!d->nr_pending)
		return 0;
	/* Issue time first: the I/O may complete inside io_uring_submit(). */
	rb_mark_queued(td, d);
	if (d->ring) {
		ret = io_uring_submit(&d->ring->ring);
		if (ret < 0 && ret != -EAGAIN && ret != -EINTR && ret != -EBUSY) {
			td_verror(td, -ret, "io_uring_submit");
			return -1;
		}
	}
	/* nvme: each submission already rang the SQ tail doorbell. */
	return 0;
}

/* A passthrough CQE of @io_u: true when it was the I/O's last command. */
static bool rb_cmd_done(struct io_u *io_u, const struct io_uring_cqe *cqe)
{
	struct regbuf_uring_nvme_cpl c;
	uintptr_t left = (uintptr_t)io_u->engine_data;
	int err = regbuf_uring_nvme_cqe(cqe, &c);

	if (err && !io_u->error) {
		io_u->error = (unsigned int)-err;
		if (c.status)
			log_err("regbuf: %s: NVMe %s of %llu bytes at %llu: status 0x%03x "
				"(SCT 0x%x, SC 0x%02x%s)\n", rb.cns.char_name,
				io_u->ddir == DDIR_WRITE ? "Write" : io_u->ddir == DDIR_READ ?
				"Read" : "Flush", io_u->xfer_buflen, io_u->offset, c.status,
				c.sct, c.sc, c.dnr ? ", DNR" : "");
	}
	io_u->engine_data = (void *)(left - 1);
	return left == 1;
}

static unsigned int rb_reap_uring(struct rb_data *d, unsigned int have, unsigned int max)
{
	struct io_uring *ring = &d->ring->ring;
	struct io_uring_cqe *cqe;
	unsigned int head, seen = 0;

	io_uring_for_each_cqe(ring, head, cqe) {
		struct io_u *io_u;

		if (have == max)
			break;
		seen++;
		if (regbuf_uring_cqe_is_tag(cqe)) {
			regbuf_uring_ring_count_tag(d->ring, cqe);
			continue;
		}
		io_u = (struct io_u *)(uintptr_t)cqe->user_data;
		if (rb.backend == RB_URING_CMD) {
			if (!rb_cmd_done(io_u, cqe))
				continue;
		} else if (cqe->res < 0) {
			io_u->error = -cqe->res;
		} else if ((unsigned long long)cqe->res != io_u->xfer_buflen &&
			   !ddir_sync(io_u->ddir)) {
			io_u->resid = io_u->xfer_buflen - (unsigned long long)cqe->res;
		} else {
			io_u->error = 0;
		}
		d->events[have++] = io_u;
	}
	io_uring_cq_advance(ring, seen);
	return have;
}

static unsigned int rb_reap_nvme(struct rb_data *d, unsigned int have, unsigned int max)
{
	int n = regbuf_nvme_reap(d->qp, d->cpls, max - have), i;

	for (i = 0; i < n; i++) {
		struct io_u *io_u = d->cpls[i].ctx;
		int err = d->cpls[i].status ? regbuf_nvme_status_errno(d->cpls[i].status) : 0;

		io_u->error = err < 0 ? -err : err;
		d->events[have++] = io_u;
	}
	return have;
}

static int rb_getevents(struct thread_data *td, unsigned int min, unsigned int max,
			const struct timespec *t)
{
	struct rb_data *d = td->io_ops_data;
	uint64_t deadline = t ? rb_now_ns() + (uint64_t)t->tv_sec * 1000000000u +
				(uint64_t)t->tv_nsec : 0;
	unsigned int have = 0;

	if (max > d->depth)
		max = d->depth;
	for (;;) {
		have = d->ring ? rb_reap_uring(d, have, max) : rb_reap_nvme(d, have, max);
		if (!have && !min && d->ring && (rb.ring_flags & IORING_SETUP_DEFER_TASKRUN)) {
			/* A poll: deferred completions are posted only on entering. */
			io_uring_get_events(&d->ring->ring);
			have = rb_reap_uring(d, have, max);
		}
		if (have >= min || (deadline && rb_now_ns() >= deadline))
			break;
		if (d->ring) {
			struct io_uring_cqe *cqe;
			int ret;

			if (t) {
				struct __kernel_timespec kt = { .tv_sec = t->tv_sec,
								.tv_nsec = t->tv_nsec };

				ret = io_uring_wait_cqes(&d->ring->ring, &cqe, min - have, &kt,
							 NULL);
			} else {
				ret = io_uring_wait_cqe_nr(&d->ring->ring, &cqe, min - have);
			}
			if (ret < 0 && ret != -ETIME && ret != -EINTR && ret != -EAGAIN) {
				td_verror(td, -ret, "io_uring_wait_cqe");
				return ret;
			}
			if (ret == -ETIME)
				t = NULL, deadline = 1;	/* reap what is there, then return */
		}
		/* nvme: completions are polled, as the driver has no interrupts. */
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
	if (d->nr_ios)
		rb_info("regbuf: %s: job %s: %" PRIu64 " I/Os sent as %" PRIu64 " NVMe commands\n",
			rb.cns.char_name, td->o.name, d->nr_ios, d->nr_cmds);
	if (d->qp)
		regbuf_nvme_qpair_destroy(d->qp);
	if (d->ring && d->o->registerfiles)
		io_uring_unregister_files(&d->ring->ring);
	if (d->ring_fd_reg)
		io_uring_unregister_ring_fd(&d->ring->ring);
	pthread_mutex_lock(&rb.lock);
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
		regbuf_uring_pool_destroy(rb.pool);
		regbuf_uring_nvme_close(&rb.cns);
		regbuf_nvme_buf_destroy(rb.nbuf);
		regbuf_nvme_ctrl_destroy(rb.ctrl);
		regbuf_alloc_destroy(rb.alloc);
		regbuf_mem_destroy(rb.mem);
		rb.pool = NULL;
		rb.nbuf = NULL;
		rb.ctrl = NULL;
		rb.alloc = NULL;
		rb.mem = NULL;
		rb.nr_rings = rb.next_ring = 0;
		rb.done = 0;
		rb.reported = false;
	}
	pthread_mutex_unlock(&rb.lock);
	free(d->files);
	free(d->cpls);
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
