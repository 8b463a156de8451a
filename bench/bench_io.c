// SPDX-License-Identifier: MIT
/*
 * regbuf bench io - O_DIRECT I/O through a regbuf ring pool (one ring per
 * thread, one registration cloned into every ring), fixed vs unfixed buffers,
 * and the same job (file, QD, block size, threads) through fio's io_uring
 * engine with its defaults, fio tuned, and t/io_uring (bench_fio.c), run in
 * the same invocation; regbuf is compared with the best of them.
 * Runs are interleaved (regbuf, fio, regbuf, fio, ...) and medians reported.
 * With --passthru the same jobs run as NVMe passthrough commands on a
 * namespace's char device (/dev/ngXnY), fixed and unfixed.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <regbuf/alloc.h>
#include <regbuf/mem.h>
#include <regbuf/uring.h>

#include "bench.h"
#include "bench_fio.h"
#include "cli.h"
#include "opt.h"
#include "undo.h"

#define MAX_THREADS 16
#define HIST_NR 2368
#define BATCH 64

enum rw { RW_RANDREAD, RW_RANDWRITE, RW_READ, RW_WRITE };
static const char *const rw_name[] = { "randread", "randwrite", "read", "write", NULL };

struct io_cfg {
	enum rw rw;
	uint32_t bs, qd, threads;
	double runtime_s;
	bool fixed;
};

struct io_res {
	uint64_t ios, bytes, errors;
	double elapsed_s;	/* slowest thread */
	double iops, bw_bytes;
	double usr_s, sys_s;	/* regbuf: the whole process during the run; fio: its jobs */
	double cpu_ns_per_io;	/* regbuf, t/io_uring: the steady-state window's (bench_proc) */
	double machine_ns_per_io;	/* every CPU's busy time in the window (bench_busy_ns()) */
	double p50_ns, p99_ns, p999_ns;
	bool ok;
	bool unavailable;	/* not attempted: io_uring refused here (err says why) */
	char err[640];
};

/* Log-linear latency histogram: exact below 128 ns, then 64 buckets per power of 2. */
static inline uint32_t hist_idx(uint64_t v)
{
	uint32_t e;

	if (v < 128)
		return (uint32_t)v;
	e = 63 - (uint32_t)__builtin_clzll(v);
	if (e > 40)
		return HIST_NR - 1;
	return (e - 6) * 64 + (uint32_t)(v >> (e - 6));
}

static double hist_val(uint32_t idx)
{
	uint32_t e, m;

	if (idx < 128)
		return idx;
	e = idx / 64 + 5;
	m = idx % 64 + 64;
	return ((double)m + 0.5) * (double)(UINT64_C(1) << (e - 6));
}

static double hist_pct(const uint64_t *h, uint64_t total, double p)
{
	uint64_t want = (uint64_t)ceil(p * (double)total), cum = 0;
	uint32_t i;

	for (i = 0; i < HIST_NR; i++) {
		cum += h[i];
		if (cum >= want && cum)
			return hist_val(i);
	}
	return NAN;
}

struct worker {
	pthread_t tid;
	const struct io_cfg *cfg;
	struct regbuf_uring_ring *ring;
	struct regbuf_uring_file file;
	struct regbuf_alloc *alloc;	/* qd buffers of bs bytes come from here */
	struct regbuf_alloc_span *bufs;
	uint64_t file_size;
	uint64_t region_off, region_len;	/* sequential: this thread's part */
	uint64_t seed;
	const struct regbuf_uring_nvme_ns *ns;	/* --passthru: NVMe commands */
	bool enable;			/* ring created R_DISABLED: enable in this thread */
	bool ring_fd_reg;		/* ring fd registered by this thread */
	/* results */
	uint64_t ios, errors;
	uint64_t elapsed_ns;
	uint64_t hist[HIST_NR];
	int err;
};

static inline uint64_t xorshift(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	*s = x;
	return x;
}

static uint64_t tv_ns(const struct timeval *tv)
{
	return (uint64_t)tv->tv_sec * 1000000000u + (uint64_t)tv->tv_usec * 1000u;
}

/* One thread's I/O stream: where the next I/O goes, and when each slot was submitted. */
struct stream {
	uint64_t *ts;		/* per slot: submission time */
	uint64_t seq, blocks;
	bool write, rnd;
};

static uint64_t next_off(struct worker *w, struct stream *s)
{
	uint64_t bs = w->cfg->bs;

	if (s->rnd)
		return (xorshift(&w->seed) % s->blocks) * bs;
	return w->region_off + (s->seq++ % s->blocks) * bs;
}

/* Slot @i's next I/O; 0 or -errno. */
static int submit_slot(struct worker *w, struct stream *s, uint32_t i, uint64_t now)
{
	uint64_t off = next_off(w, s);
	int ret = w->ns ? regbuf_uring_nvme_prep_rw(w->ring, w->ns, s->write, w->bufs[i].addr,
						    w->cfg->bs, off >> w->ns->lba_shift, 0, i) :
			  regbuf_uring_prep_rw(w->ring, s->write, &w->file, w->bufs[i].addr,
					       w->cfg->bs, off, i);

	if (ret != 1)
		return ret < 0 ? ret : -EINVAL;
	s->ts[i] = now;
	return 0;
}

/* The qd buffers, and the ring enabled in this thread (IORING_SETUP_SINGLE_ISSUER). */
static int worker_setup(struct worker *w)
{
	uint32_t i;
	int ret;

	w->bufs = calloc(w->cfg->qd, sizeof(*w->bufs));
	if (!w->bufs)
		return -ENOMEM;
	for (i = 0; i < w->cfg->qd; i++) {
		ret = regbuf_alloc_acquire(w->alloc, w->cfg->bs, &w->bufs[i]);
		if (ret)
			goto out_release;
	}
	if (w->enable && io_uring_register(w->ring->ring.ring_fd, IORING_REGISTER_ENABLE_RINGS,
					     NULL, 0) < 0) {
		ret = -EINVAL;
		goto out_release;
	}
	/*
	 * A registered ring fd (Linux 5.18) spares io_uring_enter() the fdget()
	 * of every submit-and-wait; per task, so each worker registers its own.
	 */
	w->ring_fd_reg = io_uring_register_ring_fd(&w->ring->ring) == 1;
	return 0;
out_release:
	while (i--)
		regbuf_alloc_release(w->alloc, &w->bufs[i]);
	free(w->bufs);
	w->bufs = NULL;
	return ret;
}

static void worker_teardown(struct worker *w)
{
	uint32_t i;

	if (w->ring_fd_reg)
		io_uring_unregister_ring_fd(&w->ring->ring);
	for (i = 0; i < w->cfg->qd; i++)
		regbuf_alloc_release(w->alloc, &w->bufs[i]);
	regbuf_alloc_flush(w->alloc);
	free(w->bufs);
}

/* Reap a batch; each completed slot is resubmitted until @stopping.  Returns slots retired. */
static uint32_t reap_batch(struct worker *w, struct stream *s, uint64_t now, bool *stopping)
{
	struct io_uring_cqe *cqes[BATCH];
	uint32_t n, k, i, retired = 0;
	int ret;

	n = io_uring_peek_batch_cqe(&w->ring->ring, cqes, BATCH);
	for (k = 0; k < n; k++) {
		i = (uint32_t)cqes[k]->user_data;
		if (regbuf_uring_cqe_is_tag(cqes[k]))
			continue;
		/* Passthrough completes with 0, or an NVMe status or -errno. */
		if (cqes[k]->res != (w->ns ? 0 : (int)w->cfg->bs)) {
			w->errors++;
			if (!w->err)
				w->err = cqes[k]->res < 0 ? cqes[k]->res : -EIO;
		}
		w->hist[hist_idx(now - s->ts[i])]++;
		/* Read by the main thread during the run (io_window()). */
		__atomic_store_n(&w->ios, w->ios + 1, __ATOMIC_RELAXED);
		ret = *stopping ? 0 : submit_slot(w, s, i, now);
		if (*stopping || ret) {
			retired++;
			if (ret && !w->err)
				w->err = ret;
			*stopping |= ret != 0;
		}
	}
	io_uring_cq_advance(&w->ring->ring, n);
	return retired;
}

/* Keep qd I/Os in flight until @end, then drain. */
static void worker_run(struct worker *w, struct stream *s, uint64_t start, uint64_t end)
{
	/*
	 * Wait for a quarter of the queue (at most 16) per io_uring_enter(), as
	 * t/io_uring's batch_complete does: one syscall then reaps several I/Os
	 * instead of returning at the first completion.
	 */
	uint32_t batch = w->cfg->qd / 4 > 16 ? 16 : w->cfg->qd / 4 ? w->cfg->qd / 4 : 1;
	uint32_t i, inflight = 0;
	bool stopping = false;
	uint64_t now;
	int ret;

	for (i = 0; i < w->cfg->qd; i++) {
		ret = submit_slot(w, s, i, start);
		if (ret) {
			/* Drain what is in flight before the buffers go back. */
			w->err = ret;
			stopping = true;
			break;
		}
		inflight++;
	}
	while (inflight) {
		ret = io_uring_submit_and_wait(&w->ring->ring,
					       stopping || inflight < batch ? 1 : batch);
		if (ret < 0 && ret != -EINTR && ret != -EAGAIN && ret != -EBUSY) {
			w->err = ret;
			break;
		}
		now = cli_now_ns();
		if (now >= end)
			stopping = true;
		inflight -= reap_batch(w, s, now, &stopping);
	}
}

static void *worker_fn(void *arg)
{
	struct worker *w = arg;
	const struct io_cfg *c = w->cfg;
	struct stream s = { .write = c->rw == RW_RANDWRITE || c->rw == RW_WRITE,
			    .rnd = c->rw == RW_RANDREAD || c->rw == RW_RANDWRITE };
	uint64_t start;

	s.ts = calloc(c->qd, sizeof(*s.ts));
	w->err = s.ts ? worker_setup(w) : -ENOMEM;
	if (w->err) {
		free(s.ts);
		return NULL;
	}
	s.blocks = (s.rnd ? w->file_size : w->region_len) / c->bs;
	start = cli_now_ns();
	worker_run(w, &s, start, start + (uint64_t)(c->runtime_s * 1e9));
	w->elapsed_ns = cli_now_ns() - start;
	/* The clock stopped before the buffers go back (no CQE is left to reap). */
	worker_teardown(w);
	free(s.ts);
	return NULL;
}

struct io_env {
	char path[256];
	int fd;
	bool own_file;
	uint64_t file_size;
	struct regbuf_mem *mem;		/* the arena every thread's buffers come from */
	const char *mem_tier;
	bool fio;
	bool fio_huge;
	struct regbuf_uring_status st;	/* last pool's status */
	bool passthru;
	struct regbuf_uring_nvme_ns ns;	/* --passthru */
	bool poll;			/* --poll: IORING_SETUP_IOPOLL rings, polled peers */
	bool sqpoll;			/* --sqpoll: SQ thread rings and peers */
	char why[640];			/* why the preparation failed */
};

static struct worker workers[MAX_THREADS];

/* The longest kernel buffer (and allocator slot): what fixed passthrough takes here. */
static uint64_t io_slot_len(const struct io_env *env)
{
	return env->passthru ? env->ns.max_buf_len : REGBUF_BUF_MAX_LEN;
}

/* Memory alignment of the I/O: O_DIRECT's (statx), or a logical block for passthrough. */
static int io_mem_align(const struct io_env *env, struct regbuf_uring_file *f)
{
	if (!env->passthru)
		return regbuf_uring_file_init(f, env->fd);
	memset(f, 0, sizeof(*f));
	f->fd = env->fd;
	f->mem_align = f->off_align = 1U << env->ns.lba_shift;
	return 0;
}

/*
 * A pool of c->threads rings with the arena registered once (unless unfixed)
 * and @f in the pool's file table (both rows: fixed and unfixed differ only in
 * the buffers).  As t/io_uring: task work deferred to the submitter
 * (SINGLE_ISSUER + DEFER_TASKRUN, 6.1), the ring enabled in its thread; with
 * --sqpoll an SQ thread instead (which takes neither).
 */
static int pool_open(struct io_env *env, const struct io_cfg *c, struct regbuf_uring_file *f,
		     struct regbuf_uring_pool **pool, unsigned int *setup, struct io_res *res)
{
	struct iovec iov = { regbuf_mem_addr(env->mem), regbuf_mem_len(env->mem) };
	unsigned int flags = (c->fixed ? 0 : REGBUF_URING_POOL_F_NO_REGISTER) |
			     (env->passthru ? REGBUF_URING_POOL_F_NVME_CMD : 0) |
			     (env->poll ? REGBUF_URING_POOL_F_IOPOLL : 0);
	int ret;

	*setup = env->sqpoll ? IORING_SETUP_SQPOLL : IORING_SETUP_R_DISABLED |
		 IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
	ret = regbuf_uring_pool_create(pool, c->threads, c->qd * 2, *setup, flags);
	if (ret == -EINVAL && !env->sqpoll) {
		/* Kernels before 6.1 lack DEFER_TASKRUN. */
		*setup = IORING_SETUP_COOP_TASKRUN;
		ret = regbuf_uring_pool_create(pool, c->threads, c->qd * 2, *setup, flags);
	}
	if (ret) {
		res->unavailable = bench_uring_refused(ret, res->err, sizeof(res->err));
		if (!res->unavailable)
			snprintf(res->err, sizeof(res->err), "pool: %s", strerror(-ret));
		return ret;
	}
	/* Passthrough: kernel buffers no longer than this kernel's fixed commands take. */
	ret = regbuf_uring_pool_set_buf_len(*pool, io_slot_len(env));
	if (!ret)
		ret = regbuf_uring_pool_register(*pool, &iov, 1, 0);
	if (c->fixed)
		regbuf_uring_pool_status(*pool, &env->st);
	if (ret) {
		snprintf(res->err, sizeof(res->err), "register: %s", env->st.reason);
		goto out_destroy;
	}
	if (env->passthru)
		return 0;
	ret = regbuf_uring_pool_register_files(*pool, 1);
	if (!ret)
		ret = regbuf_uring_pool_file_add(*pool, f);
	if (ret) {
		snprintf(res->err, sizeof(res->err), "file table: %s", strerror(-ret));
		goto out_destroy;
	}
	return 0;

out_destroy:
	regbuf_uring_pool_destroy(*pool);
	return ret;
}

/* Every worker prepared before any starts; returns how many threads run (< 0: -errno). */
static int workers_start(struct io_env *env, const struct io_cfg *c,
			 const struct regbuf_uring_file *f, struct regbuf_uring_pool *pool,
			 unsigned int setup, struct regbuf_alloc *alloc)
{
	sigset_t mask;
	uint32_t t;
	int ret;

	for (t = 0; t < c->threads; t++) {
		struct worker *w = &workers[t];

		memset(w, 0, sizeof(*w));
		w->file = *f;
		w->ns = env->passthru ? &env->ns : NULL;
		w->alloc = alloc;
		w->cfg = c;
		w->ring = regbuf_uring_pool_ring(pool, t);
		w->file_size = env->file_size;
		w->region_len = env->file_size / c->threads / c->bs * c->bs;
		w->region_off = w->region_len * t;
		w->seed = 0x9E3779B97F4A7C15ULL * (t + 1) ^ cli_now_ns();
		w->enable = !!(setup & IORING_SETUP_R_DISABLED);
	}
	/* Signals stay with the main thread, which undoes what the run changed. */
	undo_signals_block(&mask);
	for (t = 0; t < c->threads; t++) {
		ret = pthread_create(&workers[t].tid, NULL, worker_fn, &workers[t]);
		if (ret) {
			workers[t].err = -ret;
			break;
		}
	}
	undo_signals_restore(&mask);
	return (int)t;
}

/* Join @started workers and add up what they measured; 0 or the first error. */
static int workers_collect(const struct io_cfg *c, int started, struct io_res *res)
{
	uint64_t hist[HIST_NR], el = 0, ios = 0;
	int t, err = 0;
	uint32_t i;

	memset(hist, 0, sizeof(hist));
	for (t = 0; t < (int)c->threads; t++) {
		if (t < started)
			pthread_join(workers[t].tid, NULL);
		for (i = 0; i < HIST_NR; i++)
			hist[i] += workers[t].hist[i];
		ios += workers[t].ios;
		res->errors += workers[t].errors;
		if (workers[t].elapsed_ns > el)
			el = workers[t].elapsed_ns;
		if (workers[t].err && !err)
			err = workers[t].err;
	}
	res->ios = ios;
	res->bytes = ios * c->bs;
	res->elapsed_s = (double)el / 1e9;
	res->iops = (double)ios / res->elapsed_s;
	res->bw_bytes = res->iops * c->bs;
	res->p50_ns = hist_pct(hist, ios, 0.50);
	res->p99_ns = hist_pct(hist, ios, 0.99);
	res->p999_ns = hist_pct(hist, ios, 0.999);
	return err;
}

/* usr and sys time of the whole process over the run, setup and teardown of the workers included. */
static void cpu_whole_process(struct io_res *res, const struct rusage *ru0,
			      const struct rusage *ru1)
{
	res->usr_s = (double)(tv_ns(&ru1->ru_utime) - tv_ns(&ru0->ru_utime)) / 1e9;
	res->sys_s = (double)(tv_ns(&ru1->ru_stime) - tv_ns(&ru0->ru_stime)) / 1e9;
}

static uint64_t workers_ios(int started)
{
	uint64_t n = 0;
	int t;

	for (t = 0; t < started; t++)
		n += __atomic_load_n(&workers[t].ios, __ATOMIC_RELAXED);
	return n;
}

static void sleep_until_ns(uint64_t t)
{
	struct timespec ts = { .tv_sec = (time_t)(t / 1000000000u),
			       .tv_nsec = (long)(t % 1000000000u) };

	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
		;
}

/*
 * IOPS and CPU per I/O of the steady state, measured the same way as
 * t/io_uring's (bench_fio.c): between BENCH_WINDOW_FROM and BENCH_WINDOW_TO
 * of the run, the I/Os the workers completed and the CPU time of every
 * thread of this process (bench_proc_sample()), so that neither side's
 * setup nor teardown is counted.  CPU is the whole process's: the kernel's
 * threads of this process work for the rings too (an SQ thread per ring with
 * --sqpoll; io-wq workers for I/O the target cannot take without blocking,
 * e.g. a bio-based device with no IOCB_NOWAIT, where every read is punted and
 * the submitting threads alone would show a fraction of the cost).  The main
 * thread only sleeps meanwhile.  0, or -errno when no sample could be taken.
 */
static int io_window(const struct io_cfg *c, int started, uint64_t start, struct io_res *res)
{
	double run_ns = c->runtime_s * 1e9;
	struct bench_proc p0, p1;
	uint64_t n0, n1;
	int ret;

	sleep_until_ns(start + (uint64_t)(run_ns * BENCH_WINDOW_FROM));
	n0 = workers_ios(started);
	ret = bench_proc_sample(0, &p0);
	if (ret)
		return ret;
	sleep_until_ns(start + (uint64_t)(run_ns * BENCH_WINDOW_TO));
	n1 = workers_ios(started);
	ret = bench_proc_sample(0, &p1);
	if (ret)
		return ret;
	res->iops = (double)(n1 - n0) * 1e9 / (double)(p1.at_ns - p0.at_ns);
	res->cpu_ns_per_io = n1 > n0 ? (double)(p1.cpu_ns - p0.cpu_ns) / (double)(n1 - n0) : NAN;
	res->machine_ns_per_io = n1 > n0 ? bench_busy_ns(&p0, &p1) / (double)(n1 - n0) : NAN;
	return 0;
}

static int run_regbuf(struct io_env *env, const struct io_cfg *c, struct io_res *res)
{
	struct regbuf_uring_file f;
	struct rusage ru0, ru1;
	struct regbuf_uring_pool *pool;
	struct regbuf_alloc *alloc;
	struct io_res w = { .iops = NAN, .cpu_ns_per_io = NAN, .machine_ns_per_io = NAN };
	unsigned int setup;
	uint64_t start;
	int ret, started, win;

	memset(res, 0, sizeof(*res));
	ret = io_mem_align(env, &f);
	if (ret) {
		snprintf(res->err, sizeof(res->err), "statx: %s", strerror(-ret));
		return ret;
	}
	ret = regbuf_alloc_create(&alloc, env->mem, 0, io_slot_len(env), f.mem_align, 0);
	if (ret) {
		snprintf(res->err, sizeof(res->err), "regbuf_alloc_create: %s", strerror(-ret));
		return ret;
	}
	ret = pool_open(env, c, &f, &pool, &setup, res);
	if (ret)
		goto out_alloc;
	getrusage(RUSAGE_SELF, &ru0);
	start = cli_now_ns();
	started = workers_start(env, c, &f, pool, setup, alloc);
	win = started < 0 ? started : io_window(c, started, start, &w);
	ret = started < 0 ? started : workers_collect(c, started, res);
	getrusage(RUSAGE_SELF, &ru1);
	cpu_whole_process(res, &ru0, &ru1);
	res->iops = w.iops;
	res->bw_bytes = w.iops * c->bs;
	res->cpu_ns_per_io = w.cpu_ns_per_io;
	res->machine_ns_per_io = w.machine_ns_per_io;
	regbuf_uring_pool_destroy(pool);
	if (ret)
		snprintf(res->err, sizeof(res->err), "I/O error: %s", strerror(-ret));
	else if (win)
		snprintf(res->err, sizeof(res->err), "sampling /proc/self during the run: %s",
			 strerror(-win));
	else
		res->ok = true;
	ret = ret ? ret : win;
out_alloc:
	regbuf_alloc_destroy(alloc);
	return ret;
}

/* ---- fio, fio tuned, t/io_uring (bench_fio.c) ---- */

static int run_fio(struct io_env *env, enum bench_fio_kind kind, const struct io_cfg *c,
		   struct io_res *res)
{
	struct bench_fio_job j = {
		.path = env->path, .file_size = env->file_size, .rw = rw_name[c->rw],
		.write = c->rw == RW_RANDWRITE || c->rw == RW_WRITE,
		.rnd = c->rw == RW_RANDREAD || c->rw == RW_RANDWRITE,
		.bs = c->bs, .qd = c->qd, .threads = c->threads, .runtime_s = c->runtime_s,
		.huge = env->fio_huge, .poll = env->poll, .sqpoll = env->sqpoll,
	};
	struct bench_fio_res r;
	int ret;

	memset(res, 0, sizeof(*res));
	ret = bench_fio_run(kind, &j, &r, res->err, sizeof(res->err));
	if (ret)
		return ret;
	res->ios = r.ios;
	res->bytes = r.bytes;
	res->errors = r.errors;
	res->elapsed_s = r.elapsed_s;
	res->iops = r.iops;
	res->bw_bytes = r.bw_bytes;
	res->usr_s = r.usr_s;
	res->sys_s = r.sys_s;
	res->cpu_ns_per_io = r.cpu_ns_per_io;
	res->machine_ns_per_io = r.machine_ns_per_io;
	res->p50_ns = r.p50_ns;
	res->p99_ns = r.p99_ns;
	res->p999_ns = r.p999_ns;
	res->ok = true;
	return 0;
}

/* ---- one configuration, repeated, interleaved ---- */

enum { ENG_REGBUF, ENG_REGBUF_UNFIXED, ENG_FIO, ENG_FIO_TUNED, ENG_TIO, ENG_NR };
static const char *const eng_name[ENG_NR] = { "regbuf", "regbuf-unfixed", "fio", "fio-tuned",
					      "t/io_uring" };

/* The baselines run by bench_fio.c; fio and fio-tuned need the fio binary. */
static bool eng_baseline(int e)
{
	return e >= ENG_FIO;
}

struct job_row {
	struct io_cfg cfg;
	bool run[ENG_NR];
	bool unavail[ENG_NR];		/* not attempted: the machine lacks it (err says what) */
	struct io_res med[ENG_NR];
	/* per repetition, NAN where it failed: paired_ratio() compares them */
	double rep_iops[ENG_NR][32], rep_cpu[ENG_NR][32], rep_mach[ENG_NR][32];
	int reps;			/* asked for */
	int reps_ok[ENG_NR];
	char err[ENG_NR][640];
};

static void median_res(struct io_res *r, int n, struct io_res *out)
{
	double v[32];
	int i;

#define MED(field) do { for (i = 0; i < n; i++) v[i] = r[i].field; \
		out->field = bench_median(v, n); } while (0)
	memset(out, 0, sizeof(*out));
	if (!n)
		return;
	MED(iops);
	MED(bw_bytes);
	MED(cpu_ns_per_io);
	MED(machine_ns_per_io);
	MED(usr_s);
	MED(sys_s);
	MED(elapsed_s);
	MED(p50_ns);
	MED(p99_ns);
	MED(p999_ns);
#undef MED
	for (i = 0; i < n; i++) {
		out->ios += r[i].ios;
		out->bytes += r[i].bytes;
		out->errors += r[i].errors;
	}
	out->ok = true;
}

static void run_job(struct io_env *env, struct job_row *row, int reps)
{
	struct io_res res[ENG_NR][32];
	struct io_cfg c;
	int r, e, k, ret;

	row->reps = reps;
	for (e = 0; e < ENG_NR; e++)
		row->reps_ok[e] = 0;
	for (e = ENG_FIO; e <= ENG_FIO_TUNED; e++) {
		if (row->run[e] && !env->fio) {
			row->unavail[e] = true;
			snprintf(row->err[e], sizeof(row->err[e]), "fio not found in PATH "
				 "(apt-get install fio; --no-fio leaves these rows out)");
		}
	}
	for (r = 0; r < reps; r++) {
		for (e = 0; e < ENG_NR; e++)
			row->rep_iops[e][r] = row->rep_cpu[e][r] = row->rep_mach[e][r] = NAN;
		/*
		 * Forwards, then backwards (A B C, C B A, ...): over two repetitions
		 * each engine is as near in time to every other, so a machine that
		 * drifts (a shared host) favours none of them in the paired ratios.
		 */
		for (k = 0; k < ENG_NR; k++) {
			e = r % 2 ? ENG_NR - 1 - k : k;
			if (!row->run[e] || row->unavail[e])
				continue;
			c = row->cfg;
			c.fixed = e != ENG_REGBUF_UNFIXED;
			bench_progress("io: %s %s bs=%u qd=%u threads=%u, rep %d/%d", eng_name[e],
				       rw_name[c.rw], c.bs, c.qd, c.threads, r + 1, reps);
			bench_settle();
			if (eng_baseline(e))
				ret = run_fio(env, (enum bench_fio_kind)(e - ENG_FIO), &c,
					      &res[e][row->reps_ok[e]]);
			else
				ret = run_regbuf(env, &c, &res[e][row->reps_ok[e]]);
			if (ret) {
				snprintf(row->err[e], sizeof(row->err[e]), "%s",
					 res[e][row->reps_ok[e]].err);
				/* Refused before any I/O, and never measured: not offered here. */
				row->unavail[e] = res[e][row->reps_ok[e]].unavailable &&
						  !row->reps_ok[e];
				bench_progress("io: %s %s: %s", eng_name[e],
					       row->unavail[e] ? "skipped" : "FAILED", row->err[e]);
				continue;
			}
			bench_progress("io: %s rep %d/%d: %.0f IOPS, %.0f cpu ns/IO, %.0f machine ns/IO",
				       eng_name[e], r + 1, reps, res[e][row->reps_ok[e]].iops,
				       res[e][row->reps_ok[e]].cpu_ns_per_io,
				       res[e][row->reps_ok[e]].machine_ns_per_io);
			row->rep_iops[e][r] = res[e][row->reps_ok[e]].iops;
			row->rep_cpu[e][r] = res[e][row->reps_ok[e]].cpu_ns_per_io;
			row->rep_mach[e][r] = res[e][row->reps_ok[e]].machine_ns_per_io;
			row->reps_ok[e]++;
		}
	}
	for (e = 0; e < ENG_NR; e++)
		median_res(res[e], row->reps_ok[e], &row->med[e]);
}

/* ---- options ---- */

static struct {
	int rw;
	uint64_t bs, size_mb;
	uint32_t qd, threads;
	double runtime_s;
	const char *file, *passthru, *fio_tree;
	bool overwrite, no_fio, unfixed, poll, sqpoll;
} io_a = { .rw = RW_RANDREAD, .bs = 4096, .qd = 64, .threads = 2, .runtime_s = 2.0,
	   .size_mb = 1024 };

static struct opt_spec io_opts[] = {
	OPT_ENUM("rw", &io_a.rw, rw_name, "one job of this pattern; without --rw, four jobs"),
	OPT_SIZE("bs", &io_a.bs, 512, 16 * MiB, "block size, a multiple of 512"),
	OPT_U32("qd", &io_a.qd, 1, 4096, "N", "queue depth per thread"),
	OPT_U32("threads", &io_a.threads, 1, MAX_THREADS, "N", "threads, one ring each"),
	OPT_SECS("runtime", &io_a.runtime_s, 0.1, 3600, "per run, 1 with --quick"),
	OPT_U64("size-mb", &io_a.size_mb, 64, 1048576, "MIB",
		"temporary file size in MiB, 256 with --quick"),
	OPT_STR("file", &io_a.file, "PATH",
		"an existing file or block device instead of a temporary file"),
	OPT_STR("passthru", &io_a.passthru, "NG",
		"NVMe passthrough on a namespace's char device /dev/ngXnY (no fio rows)"),
	OPT_FLAG("overwrite", &io_a.overwrite,
		 "let write jobs overwrite --file or --passthru (named before they start)"),
	OPT_FLAG("no-fio", &io_a.no_fio, "leave out the fio rows"),
	OPT_STR("fio-tree", &io_a.fio_tree, "DIR",
		"fio source tree whose t/io_uring runs beside (sets $REGBUF_FIO_TREE)"),
	OPT_FLAG("unfixed", &io_a.unfixed, "one job, with the unfixed-buffer row"),
	OPT_FLAG("poll", &io_a.poll, "polled I/O (IORING_SETUP_IOPOLL; fio hipri, t/io_uring -p1): "
		 "needs a device with poll queues"),
	OPT_FLAG("sqpoll", &io_a.sqpoll, "an SQ thread per ring (IORING_SETUP_SQPOLL; fio "
		 "sqthread_poll); CPU counts them (threads of the process)"),
	OPT_END
};

static bool rw_writes(int rw)
{
	return rw == RW_RANDWRITE || rw == RW_WRITE;
}

/* The default jobs, or the one the options describe. */
static int io_rows_init(const struct bench_opts *o, struct job_row *rows)
{
	static const struct { enum rw rw; uint32_t bs, qd; bool unfixed; } def[] = {
		{ RW_RANDREAD, 4096, 64, true },
		{ RW_RANDWRITE, 4096, 64, false },
		{ RW_READ, 128 * 1024, 16, false },
		{ RW_WRITE, 128 * 1024, 16, false },
	};
	struct io_cfg c = { (enum rw)io_a.rw, (uint32_t)io_a.bs, io_a.qd, io_a.threads,
			    io_a.runtime_s, true };
	bool custom = io_a.unfixed;
	struct bench_fio_job fj = { .rw = NULL, .sqpoll = io_a.sqpoll };
	enum bench_fio_fit fit;
	int i, e, nrows;

	/* What the jobs run on and how they poll leave the default jobs as they are. */
	for (i = 0; io_opts[i].kind != OPT_KIND_END; i++)
		custom |= io_opts[i].seen && io_opts[i].dst != &io_a.file &&
			  io_opts[i].dst != &io_a.passthru &&
			  io_opts[i].dst != &io_a.overwrite && io_opts[i].dst != &io_a.no_fio &&
			  io_opts[i].dst != &io_a.poll && io_opts[i].dst != &io_a.sqpoll &&
			  io_opts[i].dst != &io_a.fio_tree;
	if (o->quick && !opt_seen((struct opt_spec *[]){ io_opts, NULL }, "runtime"))
		c.runtime_s = 1.0;
	memset(rows, 0, sizeof(*rows) * 4);
	nrows = custom ? 1 : o->quick ? 1 : 4;
	for (i = 0; i < nrows; i++) {
		rows[i].cfg = c;
		if (!custom) {
			rows[i].cfg.rw = def[i].rw;
			rows[i].cfg.bs = def[i].bs;
			rows[i].cfg.qd = def[i].qd;
		}
		rows[i].run[ENG_REGBUF] = true;
		rows[i].run[ENG_REGBUF_UNFIXED] = custom || def[i].unfixed;
		rows[i].run[ENG_FIO] = !io_a.no_fio && !io_a.passthru;
		rows[i].run[ENG_FIO_TUNED] = rows[i].run[ENG_FIO];
		for (e = 0; e < ENG_NR; e++)
			snprintf(rows[i].err[e], sizeof(rows[i].err[e]), "not run");
		/* t/io_uring: reads only, and only from a fio tree that built it (else err says
		 * what would enable it). */
		fj.write = rw_writes(rows[i].cfg.rw);
		fit = bench_fio_applies(BENCH_FIO_TIO, &fj, rows[i].err[ENG_TIO],
					sizeof(rows[i].err[ENG_TIO]));
		rows[i].run[ENG_TIO] = rows[i].run[ENG_FIO] && fit != BENCH_FIO_NOT_APPLICABLE;
		rows[i].unavail[ENG_TIO] = fit == BENCH_FIO_UNAVAILABLE;
	}
	return nrows;
}

/* Every file size the jobs can run on: a whole block per thread's region. */
static bool io_size_fits(uint64_t size, uint64_t bs, uint32_t threads)
{
	return size / threads >= bs;
}

/* Usage errors the option table cannot express; nothing is opened or created. */
static int io_check(const struct bench_opts *o, char *err, size_t errlen)
{
	struct job_row rows[4];
	const char *writers = NULL;
	struct stat st;
	int i, nrows;

	/* One place says where the fio tree is, for every row and the runs. */
	if (io_a.fio_tree && setenv("REGBUF_FIO_TREE", io_a.fio_tree, 1))
		return snprintf(err, errlen, "--fio-tree: %s", strerror(errno)), 2;
	nrows = io_rows_init(o, rows);
	if (io_a.bs % 512)
		return snprintf(err, errlen, "--bs: %" PRIu64 " is not a multiple of 512",
				io_a.bs), 2;
	if (io_a.bs * io_a.qd * io_a.threads > 4 * GiB)
		return snprintf(err, errlen, "--bs x --qd x --threads = %" PRIu64 " MiB of buffers; "
				"at most 4096 MiB", (io_a.bs * io_a.qd * io_a.threads) >> 20), 2;
	for (i = 0; i < nrows; i++)
		if (rw_writes(rows[i].cfg.rw))
			writers = rw_name[rows[i].cfg.rw];
	if (io_a.passthru) {
		if (io_a.file || opt_seen((struct opt_spec *[]){ io_opts, NULL }, "size-mb"))
			return snprintf(err, errlen, "--passthru names the target: not with --file "
					"or --size-mb"), 2;
		if (stat(io_a.passthru, &st))
			return snprintf(err, errlen, "--passthru %s: %s", io_a.passthru,
					strerror(errno)), 2;
		if (!S_ISCHR(st.st_mode))
			return snprintf(err, errlen, "--passthru %s: not a character device (an "
					"NVMe namespace's /dev/ngXnY)", io_a.passthru), 2;
		if (writers && !io_a.overwrite)
			return snprintf(err, errlen, "--passthru %s: the %s job would overwrite the "
					"namespace's data; add --overwrite to allow it, or --rw "
					"randread or read", io_a.passthru, writers), 2;
		return 0;
	}
	if (!io_a.file)
		return io_size_fits(io_a.size_mb * MiB, io_a.bs, io_a.threads) ? 0 :
		       (snprintf(err, errlen, "--size-mb %" PRIu64 " is less than one --bs block "
				 "per thread", io_a.size_mb), 2);
	if (opt_seen((struct opt_spec *[]){ io_opts, NULL }, "size-mb"))
		return snprintf(err, errlen, "--size-mb sizes the temporary file; not with --file"),
		       2;
	if (stat(io_a.file, &st))
		return snprintf(err, errlen, "--file %s: %s", io_a.file, strerror(errno)), 2;
	if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode))
		return snprintf(err, errlen, "--file %s: not a regular file or block device",
				io_a.file), 2;
	if (S_ISREG(st.st_mode) && !io_size_fits((uint64_t)st.st_size, io_a.bs, io_a.threads))
		return snprintf(err, errlen, "--file %s: %lld bytes, less than one --bs block per "
				"thread", io_a.file, (long long)st.st_size), 2;
	if (writers && !io_a.overwrite)
		return snprintf(err, errlen, "--file %s: the %s job would overwrite its data; add "
				"--overwrite to allow it, or --rw randread or read", io_a.file,
				writers), 2;
	return 0;
}

/* ---- file ---- */

/*
 * open() with O_NOATIME, as t/io_uring opens its files: otherwise every read
 * of a regular file goes through touch_atime() (with relatime it changes
 * nothing, but the check is part of every read).  Without it where the
 * caller does not own the file (EPERM), as fio does.
 */
static int open_noatime(const char *path, int flags)
{
	int fd = open(path, flags | O_NOATIME);

	return fd < 0 && errno == EPERM ? open(path, flags) : fd;
}

/* Why the preparation failed, for io_run() to report: -1. */
static int __attribute__((format(printf, 2, 3))) prep_err(struct io_env *env, const char *fmt,
							   ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(env->why, sizeof(env->why), fmt, ap);
	va_end(ap);
	return -1;
}

/* A temporary file of real blocks (not unwritten extents), so reads reach the device. */
static int make_file(struct io_env *env, uint64_t size)
{
	uint64_t off, chunk = 8 * MiB, i;
	uint8_t *b;
	int fd, ret;

	snprintf(env->path, sizeof(env->path), "./regbuf-bench.XXXXXX");
	fd = mkstemp(env->path);
	if (fd < 0)
		return -errno;
	close(fd);
	env->own_file = true;
	ret = undo_file_add(env->path);
	if (ret)
		return ret;
	fd = open_noatime(env->path, O_RDWR | O_DIRECT);
	if (fd < 0)
		return -errno;
	b = aligned_alloc(4096, chunk);
	if (!b) {
		close(fd);
		return -ENOMEM;
	}
	for (off = 0; off < size; off += chunk) {
		for (i = 0; i < chunk; i += 8)
			*(uint64_t *)(b + i) = off + i;
		if (pwrite(fd, b, chunk, (off_t)off) != (ssize_t)chunk) {
			free(b);
			close(fd);
			return -EIO;
		}
		if (!(off % (256 * MiB)))
			bench_progress("io: writing %" PRIu64 " MiB test file %s: %" PRIu64 " MiB",
				       size >> 20, env->path, off >> 20);
	}
	free(b);
	fsync(fd);
	env->fd = fd;
	env->file_size = size;
	return 0;
}

/* --file: read-only unless a job writes (then --overwrite was given: say what goes). */
static int open_file(struct io_env *env, const struct job_row *rows, int nrows)
{
	bool writes = false;
	int i;

	for (i = 0; i < nrows; i++)
		writes |= rw_writes(rows[i].cfg.rw);
	env->fd = open_noatime(io_a.file, (writes ? O_RDWR : O_RDONLY) | O_DIRECT | O_CLOEXEC);
	if (env->fd < 0)
		return prep_err(env, "open %s: %s", io_a.file, strerror(errno));
	snprintf(env->path, sizeof(env->path), "%s", io_a.file);
	env->file_size = (uint64_t)lseek(env->fd, 0, SEEK_END);
	for (i = 0; i < nrows; i++) {
		if (!io_size_fits(env->file_size, rows[i].cfg.bs, rows[i].cfg.threads))
			return prep_err(env, "%s: %" PRIu64 " bytes, less than one %u-byte block per "
					"thread", env->path, env->file_size, rows[i].cfg.bs);
	}
	if (writes)
		fprintf(stderr, "bench io: overwriting %s (%" PRIu64 " MiB, every block the write "
			"jobs reach) as --overwrite allows\n", env->path, env->file_size >> 20);
	return 0;
}

/* --passthru: the namespace, and one command per I/O (what the workers expect). */
static int open_passthru(struct io_env *env, const struct job_row *rows, int nrows)
{
	bool writes = false;
	uint64_t bs, lbs, max;
	int i, ret;

	ret = regbuf_uring_nvme_open(&env->ns, io_a.passthru, 0);
	if (ret)
		return prep_err(env, "%s: %s%s", io_a.passthru, strerror(-ret),
				ret == -ENODEV ? " (not an NVMe namespace's char device)" : "");
	env->passthru = true;
	env->fd = env->ns.fd;
	snprintf(env->path, sizeof(env->path), "%s", io_a.passthru);
	lbs = UINT64_C(1) << env->ns.lba_shift;
	max = env->ns.lim.max_bytes < env->ns.max_buf_len ? env->ns.lim.max_bytes :
							       env->ns.max_buf_len;
	env->file_size = env->ns.nr_lbas << env->ns.lba_shift;
	for (i = 0; i < nrows; i++) {
		bs = rows[i].cfg.bs;
		writes |= rw_writes(rows[i].cfg.rw);
		if (bs % lbs || bs > max || bs / 4096 + 1 > env->ns.lim.max_segments ||
		    !io_size_fits(env->file_size, bs, rows[i].cfg.threads)) {
			return prep_err(env, "%s: --bs %" PRIu64 " is not one command here (blocks of "
					"%" PRIu64 ", at most %" PRIu64 " bytes per command)", env->path, bs,
					lbs, max);
		}
	}
	if (writes)
		fprintf(stderr, "bench io: overwriting %s (%" PRIu64 " MiB, every block the write "
			"jobs reach) as --overwrite allows\n", env->path, env->file_size >> 20);
	return 0;
}

/* O_DIRECT alignment (statx STATX_DIOALIGN): say what is needed, not just EINVAL. */
static int check_dio(struct io_env *env, const struct job_row *rows, int nrows)
{
	struct regbuf_uring_file f;
	int i;

	if (regbuf_uring_file_init(&f, env->fd))
		return prep_err(env, "%s: O_DIRECT not supported here (statx STATX_DIOALIGN "
				"reports 0)", env->path);
	for (i = 0; i < nrows; i++) {
		if (rows[i].cfg.bs % f.off_align)
			return prep_err(env, "%s needs O_DIRECT offsets and lengths aligned to %u "
					"bytes and memory to %u bytes (statx STATX_DIOALIGN); --bs %u is "
					"not", env->path, f.off_align, f.mem_align, rows[i].cfg.bs);
	}
	return 0;
}

/*
 * Buffers: a regbuf_mem arena (2M hugetlb as fio's mmaphuge, else THP, else 4K)
 * and regbuf_alloc on top, as an application would.  Twice the need: the
 * allocator keeps per-thread magazines and size classes.  Then hugepages kept
 * free for fio --iomem=mmaphuge (one 2 MiB-rounded buffer per job, plus slack).
 */
static int map_buffers(struct io_env *env, const struct job_row *rows, int nrows)
{
	struct regbuf_mem_opts mo = { .tier = REGBUF_MEM_TIER_2M };
	uint64_t arena = 0, per = 0, need;
	struct bench_mem fm;
	char why[160];
	int i;

	for (i = 0; i < nrows; i++) {
		need = (uint64_t)rows[i].cfg.bs * rows[i].cfg.qd * rows[i].cfg.threads;
		if (need > arena)
			arena = need;
		need = ((uint64_t)rows[i].cfg.bs * rows[i].cfg.qd + 4096 + 2 * MiB - 1) &
		       ~(2 * MiB - 1);
		if (need * rows[i].cfg.threads > per)
			per = need * rows[i].cfg.threads;
	}
	arena = (2 * arena + 4 * MiB - 1) & ~(2 * MiB - 1);
	(void)bench_hugepages_reserve(TIER_2M, arena, why, sizeof(why));
	if (regbuf_mem_create(&env->mem, arena, &mo))
		return prep_err(env, "cannot map %" PRIu64 " bytes of I/O buffers", arena);
	env->mem_tier = regbuf_mem_tier_name(regbuf_mem_tier(env->mem));
	/* Reserve by mapping once (as root) and keep the pages free for fio. */
	if (env->fio && regbuf_mem_tier(env->mem) == REGBUF_MEM_TIER_2M &&
	    !bench_mem_map(&fm, per * 2 + 4 * MiB, TIER_2M)) {
		bench_mem_unmap(&fm);
		env->fio_huge = true;
	}
	return 0;
}

static bool have_fio(void)
{
	return system("fio --version >/dev/null 2>&1") == 0;
}

/* ---- output ---- */

/* A row is measured when every repetition of it was. */
static bool row_ok(const struct job_row *r, int e)
{
	return r->reps_ok[e] && r->reps_ok[e] == r->reps;
}

static enum bench_row io_status(const struct job_row *r, int e)
{
	return row_ok(r, e) ? BENCH_ROW_MEASURED : r->unavail[e] ? BENCH_ROW_SKIPPED :
								BENCH_ROW_FAILED;
}

static void print_res_row(const struct job_row *r, int e, const struct bench_opts *o)
{
	const struct io_res *m = &r->med[e];

	if (io_status(r, e) == BENCH_ROW_SKIPPED) {
		printf("  %-15s %s: %s\n", eng_name[e], bench_row_word(o, BENCH_ROW_SKIPPED),
		       r->err[e]);
		return;
	}
	if (!row_ok(r, e)) {
		printf("  %-15s FAILED: %d of %d repetitions measured; %s\n", eng_name[e],
		       r->reps_ok[e], r->reps, r->err[e]);
		return;
	}
	printf("  %-15s %10.0f %9.1f %9.2f %9.2f %9.0f %9.0f %9.1f %9.1f %9.1f\n", eng_name[e],
	       m->iops, m->bw_bytes / MiB, m->usr_s, m->sys_s, m->cpu_ns_per_io,
	       m->machine_ns_per_io, m->p50_ns / 1e3, m->p99_ns / 1e3, m->p999_ns / 1e3);
}

static void json_res(struct json *j, const struct job_row *row, int e)
{
	const struct io_res *r = &row->med[e];

	json_open(j, eng_name[e], '{');
	json_str(j, "jobname", eng_name[e]);
	json_int(j, "reps", row->reps_ok[e]);
	json_int(j, "reps_asked", row->reps);
	bench_row_json(j, io_status(row, e), row->err[e]);
	if (!row_ok(row, e)) {
		json_close(j, '{');
		return;
	}
	json_open(j, rw_writes(row->cfg.rw) ? "write" : "read", '{');
	json_int(j, "io_bytes", (int64_t)r->bytes);
	json_num(j, "bw_bytes", r->bw_bytes);
	json_num(j, "iops", r->iops);
	json_int(j, "total_ios", (int64_t)r->ios);
	json_num(j, "runtime", r->elapsed_s * 1000);
	json_open(j, "clat_ns", '{');
	json_open(j, "percentile", '{');
	json_num(j, "50.000000", r->p50_ns);
	json_num(j, "99.000000", r->p99_ns);
	json_num(j, "99.900000", r->p999_ns);
	json_close(j, '{');
	json_close(j, '{');
	json_close(j, '{');
	json_num(j, "usr_cpu_s", r->usr_s);
	json_num(j, "sys_cpu_s", r->sys_s);
	json_num(j, "cpu_ns_per_io", r->cpu_ns_per_io);
	json_num(j, "machine_ns_per_io", r->machine_ns_per_io);
	json_int(j, "errors", (int64_t)r->errors);
	json_close(j, '{');
}

/* A read job t/io_uring cannot express (--sqpoll; err says why): said, not counted. */
static bool tio_not_applicable(const struct job_row *r)
{
	return r->run[ENG_FIO] && !r->run[ENG_TIO] && !rw_writes(r->cfg.rw);
}

/* The fio configuration with the lowest CPU per I/O, or -1. */
static int best_fio(const struct job_row *r)
{
	int e, best = -1;

	for (e = ENG_FIO; e <= ENG_FIO_TUNED; e++)
		if (r->run[e] && row_ok(r, e) &&
		    (best < 0 || r->med[e].cpu_ns_per_io < r->med[best].cpu_ns_per_io))
			best = e;
	return best;
}

/*
 * @a's figure @x (rep_iops, rep_cpu, rep_mach) over @b's: the median of the per-repetition
 * ratios (each pair ran side by side, so what drifted between repetitions
 * cancels), over the repetitions both measured; NAN when there is none.
 * @each, if not NULL, gets the ratios in the order they ran.
 */
static double paired_ratio(const struct job_row *r, const double (*x)[32], int a, int b,
			   char *each, size_t len)
{
	double v[32];
	size_t used = 0;
	int i, n = 0;

	if (each)
		each[0] = '\0';
	for (i = 0; i < r->reps; i++) {
		if (isnan(x[a][i]) || isnan(x[b][i]) || !x[b][i])
			continue;
		v[n] = x[a][i] / x[b][i];
		if (each && used < len)
			used += (size_t)snprintf(each + used, len - used, "%s%.2f", n ? " " : "",
						 v[n]);
		n++;
	}
	return bench_median(v, n);
}

/* The comparisons a row makes, in the order printed; false when @k has none here. */
enum { CMP_BEST_FIO, CMP_TIO, CMP_UNFIXED, CMP_FIO, CMP_NR };

static bool row_cmp(const struct job_row *r, int k, int *b)
{
	if (!row_ok(r, ENG_REGBUF))
		return false;
	switch (k) {
	case CMP_BEST_FIO:
		*b = best_fio(r);
		return *b >= 0;
	case CMP_TIO:
		*b = ENG_TIO;
		break;
	case CMP_UNFIXED:
		*b = ENG_REGBUF_UNFIXED;
		break;
	default:
		*b = ENG_FIO;
		break;
	}
	return r->run[*b] && row_ok(r, *b);
}

static void io_json(struct json *j, const struct io_env *env, const struct job_row *rows,
		    int nrows)
{
	static const char *const cmp_key[CMP_NR] = { "regbuf_over_best_fio",
						      "regbuf_over_t_io_uring",
						      "fixed_over_unfixed", "regbuf_over_fio" };
	char key[64];
	int i, e, b, k;

	json_open(j, "io", '{');
	json_str(j, "file", env->path);
	json_int(j, "file_size", (int64_t)env->file_size);
	json_str(j, "buffer_memory", env->mem_tier);
	json_str(j, "fio_memory", env->fio_huge ? "mmaphuge" : (env->fio ? "malloc" : "none"));
	json_str(j, "pool_path", regbuf_uring_path_name(env->st.path));
	json_str(j, "polling", env->poll ? "iopoll" : env->sqpoll ? "sqpoll" : "none");
	json_open(j, "jobs", '[');
	for (i = 0; i < nrows; i++) {
		const struct job_row *r = &rows[i];

		json_open(j, NULL, '{');
		json_str(j, "rw", rw_name[r->cfg.rw]);
		json_int(j, "bs", r->cfg.bs);
		json_int(j, "iodepth", r->cfg.qd);
		json_int(j, "numjobs", r->cfg.threads);
		json_num(j, "runtime_s", r->cfg.runtime_s);
		for (e = 0; e < ENG_NR; e++)
			if (r->run[e])
				json_res(j, r, e);
		if (tio_not_applicable(r)) {
			json_open(j, eng_name[ENG_TIO], '{');
			json_str(j, "jobname", eng_name[ENG_TIO]);
			json_str(j, "status", "not_applicable");
			json_str(j, "not_applicable", r->err[ENG_TIO]);
			json_close(j, '{');
		}
		/* Ratios: medians of the per-repetition ratios (paired_ratio()). */
		for (k = 0; k < CMP_NR; k++) {
			if (!row_cmp(r, k, &b))
				continue;
			if (k == CMP_BEST_FIO)
				json_str(j, "best_fio", eng_name[b]);
			snprintf(key, sizeof(key), "iops_ratio_%s", cmp_key[k]);
			json_num(j, key, paired_ratio(r, r->rep_iops, ENG_REGBUF, b, NULL, 0));
			snprintf(key, sizeof(key), "cpu_per_io_ratio_%s", cmp_key[k]);
			json_num(j, key, paired_ratio(r, r->rep_cpu, ENG_REGBUF, b, NULL, 0));
			snprintf(key, sizeof(key), "machine_per_io_ratio_%s", cmp_key[k]);
			json_num(j, key, paired_ratio(r, r->rep_mach, ENG_REGBUF, b, NULL, 0));
		}
		json_close(j, '{');
	}
	json_close(j, '[');
	json_close(j, '{');
}

static void io_text(const struct io_env *env, const struct job_row *rows, int nrows,
		    const struct bench_opts *o)
{
	int i, e, b, k;

	printf("\n== io: %s on %s (%" PRIu64 " MiB), buffers %s, fio memory %s, pool: %s%s%s%s\n",
	       env->passthru ? "NVMe passthrough" : "O_DIRECT", env->path, env->file_size >> 20, env->mem_tier,
	       env->fio_huge ? "mmaphuge" : (env->fio ? "malloc" : "(fio not run)"),
	       regbuf_uring_path_name(env->st.path), env->passthru ? "" : ", registered file",
	       env->poll ? ", polled (IOPOLL)" : "", env->sqpoll ? ", SQ thread (SQPOLL)" : "");
	printf("(medians of the repetitions, which run forwards and backwards in turn; regbuf's and "
	       "t/io_uring's IOPS and cpu ns/IO over %.0f%%-%.0f%% of each run, every thread of the "
	       "process (kernel threads included), usr/sys over the whole run; fio's as fio counts "
	       "them, %s; mach ns/IO: every CPU's busy time over the same part of each run, "
	       "interrupts and kernel workers included, whatever else runs too; ratios: medians "
	       "of each repetition's ratio; latency = submit batch to reap)\n",
	       BENCH_WINDOW_FROM * 100, BENCH_WINDOW_TO * 100,
	       env->sqpoll ? "the whole process" : "its jobs (RUSAGE_THREAD)");
	for (i = 0; i < nrows; i++) {
		const struct job_row *r = &rows[i];

		printf("%s bs=%u qd=%u threads=%u %.1fs, %d repetitions:\n", rw_name[r->cfg.rw],
		       r->cfg.bs, r->cfg.qd, r->cfg.threads, r->cfg.runtime_s, r->reps);
		printf("  %-15s %10s %9s %9s %9s %9s %9s %9s %9s %9s\n", "engine", "IOPS", "MiB/s",
		       "usr s", "sys s", "cpu ns/IO", "mach ns/IO", "p50 us", "p99 us", "p99.9 us");
		for (e = 0; e < ENG_NR; e++)
			if (r->run[e])
				print_res_row(r, e, o);
		if (tio_not_applicable(r))
			printf("  %-15s not applicable: %s\n", eng_name[ENG_TIO], r->err[ENG_TIO]);
		for (k = 0; k < CMP_FIO; k++) {
			char label[64], each[3][200];

			if (!row_cmp(r, k, &b))
				continue;
			if (k == CMP_BEST_FIO)
				snprintf(label, sizeof(label), "regbuf / best fio (%s)", eng_name[b]);
			else
				snprintf(label, sizeof(label), "regbuf%s / %s",
					 k == CMP_UNFIXED ? " fixed" : "",
					 k == CMP_UNFIXED ? "unfixed" : eng_name[b]);
			printf("  %s: IOPS %.2fx, CPU per I/O %.2fx, machine per I/O %.2fx\n"
			       "    (each repetition: IOPS %s; CPU %s; machine %s)\n", label,
			       paired_ratio(r, r->rep_iops, ENG_REGBUF, b, each[0], sizeof(each[0])),
			       paired_ratio(r, r->rep_cpu, ENG_REGBUF, b, each[1], sizeof(each[1])),
			       paired_ratio(r, r->rep_mach, ENG_REGBUF, b, each[2], sizeof(each[2])),
			       each[0], each[1], each[2]);
		}
	}
	if (io_a.no_fio)
		printf("fio rows left out (--no-fio)\n");
	else if (env->passthru)
		printf("fio rows left out (--passthru)\n");
}

/* ---- the experiment ---- */

/* --poll: the target's queue must have poll queues; else say why and run nothing. */
static int check_poll(struct io_env *env)
{
	char why[512];

	if (!env->poll || !regbuf_uring_poll_check(env->fd, why, sizeof(why)))
		return 0;
	return prep_err(env, "--poll: %s cannot be polled: %s", env->path, why);
}

static int io_prepare(struct io_env *env, const struct job_row *rows, int nrows, uint64_t size)
{
	int ret;

	if (io_a.passthru) {
		if (open_passthru(env, rows, nrows) || check_poll(env))
			return -1;
		return map_buffers(env, rows, nrows);
	}
	if (io_a.file) {
		if (open_file(env, rows, nrows))
			return -1;
	} else {
		ret = make_file(env, size);
		if (ret)
			return prep_err(env, "cannot create an O_DIRECT file in the current "
					"directory: %s (use --file PATH on a filesystem with O_DIRECT)",
					strerror(-ret));
	}
	if (check_dio(env, rows, nrows) || check_poll(env))
		return -1;
	return map_buffers(env, rows, nrows);
}

static int io_run(const struct bench_opts *o)
{
	struct io_env env = { .fd = -1, .poll = io_a.poll, .sqpoll = io_a.sqpoll };
	struct job_row rows[4];
	uint64_t size = (o->quick && !opt_seen((struct opt_spec *[]){ io_opts, NULL }, "size-mb") ?
			 256 : io_a.size_mb) * MiB;
	int reps = o->quick ? 1 : (o->reps > 3 ? 3 : (int)o->reps);
	int head_reps = o->quick ? 1 : (int)o->reps;
	int nrows = io_rows_init(o, rows), i, e, skipped = 0, failed = 0, rc = 1;

	env.fio = !io_a.no_fio && have_fio();
	if (io_prepare(&env, rows, nrows, size)) {
		/* Nothing measured: the file, device or buffers failed (a usage error would
		 * have been refused before anything was touched). */
		cli_err("bench io", "FAILED: %s", env.why);
		if (o->j) {
			json_open(o->j, "io", '{');
			bench_row_json(o->j, BENCH_ROW_FAILED, env.why);
			json_close(o->j, '{');
		}
		goto out;
	}
	/* The headline (first) configuration gets more repetitions. */
	for (i = 0; i < nrows; i++) {
		run_job(&env, &rows[i], i == 0 ? head_reps : reps);
		for (e = 0; e < ENG_NR; e++) {
			if (!rows[i].run[e])
				continue;
			skipped += io_status(&rows[i], e) == BENCH_ROW_SKIPPED;
			failed += io_status(&rows[i], e) == BENCH_ROW_FAILED;
		}
	}
	if (o->j)
		io_json(o->j, &env, rows, nrows);
	else
		io_text(&env, rows, nrows, o);
	rc = bench_rows_exit(o, skipped, failed);
out:
	regbuf_mem_destroy(env.mem);
	if (env.passthru)
		regbuf_uring_nvme_close(&env.ns);
	else if (env.fd >= 0)
		close(env.fd);
	if (env.own_file)
		undo_file_remove(env.path);
	return rc;
}

const struct bench_cmd bench_io_cmd = {
	.name = "io",
	.summary = "O_DIRECT I/O through a ring pool, fixed vs unfixed buffers, next to fio",
	.opts = io_opts,
	.check = io_check,
	.run = io_run,
};
