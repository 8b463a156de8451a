// SPDX-License-Identifier: MIT
/*
 * regbuf bench reg - io_uring buffer registration time per GiB by memory tier
 * (4K, THP, 2M, 1G), the kernel's IORING_REGISTER_BUFFERS next to regbuf's
 * pool (memlock preflight + registration) and regbuf's own layout discovery
 * and coalescing (regbuf_table_register(), with and without the arena's
 * folio-size hint).
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <regbuf/mem.h>
#include <regbuf/table.h>
#include <regbuf/uring.h>

#include "bench.h"
#include "cli.h"
#include "opt.h"

#define REG_MAX_REPS 32
#define REG_MAX_IOV 64		/* 1 GiB each: up to a 64 GiB arena */
/* Kernel/pool pairs per repetition (the fastest of each kept): at least the
 * minimum, more while the repetition has taken less than REG_PAIRS_NS. */
#define REG_PAIRS_MIN 8
#define REG_PAIRS_MAX 64
#define REG_PAIRS_NS (250 * 1000 * 1000ull)

static uint64_t reg_size_mb = 1024;

static struct opt_spec reg_opts[] = {
	OPT_U64("size-mb", &reg_size_mb, 64, 65536, "MIB",
		"arena size per tier in MiB, 256 with --quick"),
	OPT_END
};

struct reg_row {
	bool ok;
	bool unavailable;	/* not attempted: the tier (or io_uring) is not offered here */
	uint64_t bytes;		/* measured on (fewer when huge pages were short) */
	uint64_t segs, ksegs;	/* regbuf segments, kernel bvecs (predicted) */
	bool kexact, kupper;	/* every buffer REGBUF_BUF_F_EXACT / any an upper bound */
	double kernel, pool, layout, hinted;	/* ms per GiB, medians */
	double pool_ratio;	/* median over repetitions of pool / kernel (time_pair()) */
	char why[640];
};

/*
 * One tier exactly, through regbuf_mem (REGBUF_MEM_F_REQUIRE): the arena an
 * application would get, prefaulted, with its folio size known (the hint).
 * A huge tier the machine does not offer sets *@unavailable; 4K memory that
 * cannot be had is a failure.
 */
static int reg_map(struct bench_mem *m, struct regbuf_mem **rm, uint64_t len, enum bench_tier t,
		   bool *unavailable)
{
	struct regbuf_mem_opts mo = { .flags = REGBUF_MEM_F_REQUIRE };
	int ret;

	memset(m, 0, sizeof(*m));
	m->tier = t;
	*unavailable = t != TIER_4K;	/* when it fails */
	mo.tier = (enum regbuf_mem_tier)(TIER_1G - t);	/* 4K THP 2M 1G <-> 1G 2M THP 4K */
	if ((t == TIER_2M || t == TIER_1G) &&
	    bench_hugepages_reserve(t, len, m->why, sizeof(m->why)))
		return -ENOMEM;
	ret = regbuf_mem_create(rm, len, &mo);
	*unavailable &= ret != 0;
	if (ret) {
		snprintf(m->why, sizeof(m->why), "regbuf_mem_create(%s required): %s%s",
			 bench_tier_name[t], strerror(-ret), t == TIER_THP ?
			 " (/sys/kernel/mm/transparent_hugepage/enabled set to always or madvise "
			 "enables it)" : t != TIER_4K ? " (the pool's free pages taken meanwhile: "
			 "raise nr_hugepages)" : "");
		return ret;
	}
	m->addr = regbuf_mem_addr(*rm);
	m->len = regbuf_mem_len(*rm);
	return 0;
}

static double ms_since(uint64_t t0)
{
	return (double)(cli_now_ns() - t0) / 1e6;
}

void bench_register_failed(int ret, const char *what, const struct iovec *iov, uint32_t n,
			   char *why, size_t wlen)
{
	struct regbuf_uring_memlock ml;

	snprintf(why, wlen, "%s: %s", what, strerror(-ret));
	/* The usual cause, with the numbers and the fix. */
	if (ret == -ENOMEM && !regbuf_uring_memlock_estimate(&ml, iov, n, 1) &&
	    !regbuf_uring_memlock_fits(&ml))
		regbuf_uring_memlock_explain(&ml, why, wlen);
}

/* IORING_REGISTER_BUFFERS alone. */
static int time_kernel(struct io_uring *ring, const struct iovec *iov, uint32_t n, double *ms,
		       char *why, size_t wlen)
{
	uint64_t t0 = cli_now_ns();
	int ret = io_uring_register_buffers(ring, iov, n);

	*ms = ms_since(t0);
	if (ret) {
		bench_register_failed(ret, "IORING_REGISTER_BUFFERS", iov, n, why, wlen);
		return ret;
	}
	io_uring_unregister_buffers(ring);
	return 0;
}

/* regbuf's pool, one ring: memlock preflight + registration of the whole arena. */
static int time_pool(const struct bench_mem *m, double *ms, char *why, size_t wlen)
{
	struct iovec whole = { m->addr, m->len };
	struct regbuf_uring_pool *pool;
	uint64_t t0;
	int ret = regbuf_uring_pool_create(&pool, 1, 8, 0, 0);

	if (ret) {
		snprintf(why, wlen, "regbuf_uring_pool_create: %s", strerror(-ret));
		return ret;
	}
	t0 = cli_now_ns();
	ret = regbuf_uring_pool_register(pool, &whole, 1, 0);
	*ms = ms_since(t0);
	if (ret)
		snprintf(why, wlen, "regbuf_uring_pool_register: %s", strerror(-ret));
	/*
	 * Unpinned now, as the kernel row's unregister does: a ring's exit
	 * would unpin in a kernel worker, on the same pages as the next run.
	 */
	else
		(void)regbuf_uring_pool_unregister(pool);
	regbuf_uring_pool_destroy(pool);
	return ret;
}

/* Segments regbuf and the kernel build for the registered buffers. */
static void count_segs(struct regbuf_table *tb, uint32_t n, struct reg_row *row)
{
	struct regbuf_buf_info bi;
	struct regbuf_buf *b;
	uint32_t k;

	row->segs = row->ksegs = 0;
	row->kexact = true;
	row->kupper = false;
	for (k = 0; k < n; k++) {
		if (regbuf_table_buf_get(tb, k, &b))
			continue;
		if (!regbuf_buf_info(b, &bi)) {
			row->segs += bi.nr_segs;
			row->ksegs += bi.kernel_nr_segs;
			row->kexact &= !!(bi.flags & REGBUF_BUF_F_EXACT);
			row->kupper |= !!(bi.flags & REGBUF_BUF_F_UPPER_BOUND);
		}
		regbuf_buf_put(b);
	}
}

/* regbuf_table_register(), or _hinted() with @shift for every buffer when @shift != 0. */
static int time_table(const struct iovec *iov, uint32_t n, unsigned int shift, double *ms,
		      struct reg_row *count, char *why, size_t wlen)
{
	uint8_t shifts[REG_MAX_IOV];
	struct regbuf_table *tb;
	uint64_t t0;
	int ret = regbuf_table_create(&tb, 0);

	if (ret) {
		snprintf(why, wlen, "regbuf_table_create: %s", strerror(-ret));
		return ret;
	}
	memset(shifts, (int)shift, sizeof(shifts));
	t0 = cli_now_ns();
	ret = shift ? regbuf_table_register_hinted(tb, iov, shifts, n, 0)
		    : regbuf_table_register(tb, iov, n, 0);
	*ms = ms_since(t0);
	if (ret)
		snprintf(why, wlen, "regbuf_table_register%s: %s", shift ? "_hinted" : "",
			 strerror(-ret));
	else if (count)
		count_segs(tb, n, count);
	regbuf_table_destroy(tb);
	return ret;
}

/*
 * The kernel's and the pool's registration, REG_PAIRS_MIN to REG_PAIRS_MAX
 * times each (a fast registration more often, its noise is larger), taking
 * turns to go first.  What other tenants of the machine add (preemption,
 * evicted caches, contended memory) only ever makes a run slower, so the
 * fastest of each is its cost: @k and @p get the minimum.  (The thread's
 * CPU time would leave preemption out, but in a virtual machine it was seen
 * to read a small fraction of the wall time of even the fastest runs: not a
 * cost to compare.)
 */
static int time_pair(const struct bench_mem *m, struct io_uring *ring, const struct iovec *iov,
		     uint32_t n, double *k, double *p, char *why, size_t wlen)
{
	uint64_t t0 = cli_now_ns();
	double tk, tp;
	int i, ret = 0;

	*k = *p = INFINITY;
	for (i = 0; i < REG_PAIRS_MAX && !ret; i++) {
		if (i >= REG_PAIRS_MIN && cli_now_ns() - t0 >= REG_PAIRS_NS)
			break;
		if (i & 1)
			ret = time_pool(m, &tp, why, wlen);
		if (!ret)
			ret = time_kernel(ring, iov, n, &tk, why, wlen);
		if (!ret && !(i & 1))
			ret = time_pool(m, &tp, why, wlen);
		if (ret)
			break;
		*k = fmin(*k, tk);
		*p = fmin(*p, tp);
	}
	return ret;
}

/* @reps repetitions of the measurements on one mapped tier. */
static int reg_measure(const struct bench_mem *m, struct regbuf_mem *rm, int reps,
		       struct reg_row *row)
{
	double v[4][REG_MAX_REPS], ratio[REG_MAX_REPS], gib = (double)m->len / (double)GiB;
	struct iovec iov[REG_MAX_IOV];
	struct io_uring ring;
	uint32_t n = bench_chunk_iov(iov, REG_MAX_IOV, m->addr, m->len, GiB);
	int r, ret;

	ret = io_uring_queue_init(8, &ring, 0);
	if (ret) {
		row->unavailable = bench_uring_refused(ret, row->why, sizeof(row->why));
		if (!row->unavailable)
			snprintf(row->why, sizeof(row->why), "io_uring_queue_init: %s",
				 strerror(-ret));
		return ret;
	}
	for (r = 0; r < reps && !ret; r++) {
		ret = time_pair(m, &ring, iov, n, &v[0][r], &v[1][r], row->why, sizeof(row->why));
		if (!ret) {
			ratio[r] = v[1][r] / v[0][r];
			ret = time_table(iov, n, 0, &v[2][r], r ? NULL : row, row->why,
					 sizeof(row->why));
		}
		if (!ret)
			ret = time_table(iov, n, regbuf_mem_folio_shift(rm), &v[3][r], NULL,
					 row->why, sizeof(row->why));
	}
	io_uring_queue_exit(&ring);
	if (ret)
		return ret;
	row->kernel = bench_median(v[0], reps) / gib;
	row->pool = bench_median(v[1], reps) / gib;
	row->layout = bench_median(v[2], reps) / gib;
	row->hinted = bench_median(v[3], reps) / gib;
	row->pool_ratio = bench_median(ratio, reps);
	row->ok = true;
	return 0;
}

static void reg_tier(enum bench_tier t, uint64_t size, int reps, struct reg_row *row)
{
	struct regbuf_mem *rm = NULL;
	struct bench_mem m;
	uint64_t try_len;
	int ret;

	memset(row, 0, sizeof(*row));
	bench_progress("reg: %s: mapping and prefaulting %" PRIu64 " MiB", bench_tier_name[t],
		       size >> 20);
	ret = reg_map(&m, &rm, size, t, &row->unavailable);
	/* Fewer huge pages than asked: measure on what can be had (>= 128 MiB);
	 * the result is per GiB anyway. */
	for (try_len = size / 2; ret && t == TIER_2M && try_len >= 128 * MiB; try_len /= 2) {
		bench_hugepages_restore();
		ret = reg_map(&m, &rm, try_len, t, &row->unavailable);
	}
	if (ret) {
		snprintf(row->why, sizeof(row->why), "%s", m.why);
	} else {
		row->bytes = m.len;
		reg_measure(&m, rm, reps, row);
		regbuf_mem_destroy(rm);
	}
	if (!row->ok)
		bench_progress("reg: %s: %s: %s", bench_tier_name[t],
			       row->unavailable ? "skipped" : "FAILED", row->why);
	bench_hugepages_restore();
}

static enum bench_row reg_status(const struct reg_row *row)
{
	return row->ok ? BENCH_ROW_MEASURED : row->unavailable ? BENCH_ROW_SKIPPED :
							  BENCH_ROW_FAILED;
}

static void reg_json(struct json *j, const struct reg_row *rows, uint64_t size, int reps)
{
	int t;

	json_open(j, "reg", '{');
	json_int(j, "size_bytes", (int64_t)size);
	json_int(j, "reps", reps);
	json_open(j, "tiers", '[');
	for (t = 0; t < TIER_NR; t++) {
		json_open(j, NULL, '{');
		json_str(j, "tier", bench_tier_name[t]);
		bench_row_json(j, reg_status(&rows[t]), rows[t].why);
		json_int(j, "bytes", (int64_t)rows[t].bytes);
		json_num(j, "kernel_register_ms_per_gib", rows[t].ok ? rows[t].kernel : NAN);
		json_num(j, "regbuf_pool_register_ms_per_gib", rows[t].ok ? rows[t].pool : NAN);
		json_num(j, "regbuf_pool_over_kernel", rows[t].ok ? rows[t].pool_ratio : NAN);
		json_num(j, "regbuf_table_register_ms_per_gib", rows[t].ok ? rows[t].layout : NAN);
		json_num(j, "regbuf_table_register_hinted_ms_per_gib",
			 rows[t].ok ? rows[t].hinted : NAN);
		json_int(j, "regbuf_segments", (int64_t)rows[t].segs);
		json_int(j, "kernel_bvecs", (int64_t)rows[t].ksegs);
		json_str(j, "kernel_bvecs_prediction", rows[t].kexact ? "exact" :
			 rows[t].kupper ? "upper_bound" : "unverified");
		json_close(j, '{');
	}
	json_close(j, '[');
	json_num(j, "ratio_4k_over_2m", rows[TIER_4K].ok && rows[TIER_2M].ok ?
		 rows[TIER_4K].kernel / rows[TIER_2M].kernel : NAN);
	json_close(j, '{');
}

static void reg_text(const struct reg_row *rows, uint64_t size, int reps,
		     const struct bench_opts *o)
{
	int t;

	printf("\n== reg: io_uring buffer registration, %" PRIu64 " MiB prefaulted, median of %d\n",
	       size >> 20, reps);
	printf("%-5s %12s %12s %8s %14s %14s %10s %10s\n", "tier", "kernel", "regbuf pool",
	       "pool /", "regbuf layout", "regbuf hinted", "segments", "kernel");
	printf("%-5s %12s %12s %8s %14s %14s %10s %10s\n", "", "ms/GiB", "ms/GiB", "kernel",
	       "ms/GiB", "ms/GiB", "(regbuf)", "bvecs pred.");
	for (t = 0; t < TIER_NR; t++) {
		if (rows[t].ok)
			printf("%-5s %12.2f %12.2f %7.3fx %14.3f %14.4f %10" PRIu64 " %10" PRIu64
			       " %s%s\n", bench_tier_name[t], rows[t].kernel, rows[t].pool,
			       rows[t].pool_ratio, rows[t].layout,
			       rows[t].hinted, rows[t].segs, rows[t].ksegs,
			       rows[t].kexact ? "exact" : rows[t].kupper ? "upper bound" : "unverified",
			       rows[t].bytes != size ? "   (on fewer MiB: huge pages short)" : "");
		else
			printf("%-5s %s: %s\n", bench_tier_name[t],
			       bench_row_word(o, reg_status(&rows[t])), rows[t].why);
	}
	printf("kernel = IORING_REGISTER_BUFFERS (pin + account + coalesce); regbuf pool = memlock\n"
	       "preflight + kernel registration, each the fastest of %d..%d runs taking turns in a\n"
	       "repetition (other tenants of the machine only ever add time); pool / kernel = median\n"
	       "over repetitions of the ratio of the two; regbuf layout = regbuf_table_register() (layout\n"
	       "discovery + coalescing, no pinning); hinted = with the arena's folio size (one\n"
	       "PAGEMAP_SCAN to check it); kernel bvecs = regbuf's prediction (regbuf_buf_info()):\n"
	       "exact when every folio was read, an upper bound when folios mapped by page table\n"
	       "entries could not be (/proc/kpageflags needs root); the test suite measures the\n"
	       "kernel's own bvecs (tests/sys/oracle.c)\n", REG_PAIRS_MIN, REG_PAIRS_MAX);
	if (rows[TIER_4K].ok && rows[TIER_2M].ok)
		printf("4K/2M registration time ratio: %.1fx\n",
		       rows[TIER_4K].kernel / rows[TIER_2M].kernel);
}

static int reg_run(const struct bench_opts *o)
{
	uint64_t size = (o->quick && !reg_opts[0].seen ? 256 : reg_size_mb) * MiB;
	int reps = o->reps > REG_MAX_REPS ? REG_MAX_REPS : (int)o->reps, t;
	int skipped = 0, failed = 0;
	struct reg_row rows[TIER_NR];

	for (t = 0; t < TIER_NR; t++) {
		reg_tier((enum bench_tier)t, size, reps, &rows[t]);
		skipped += reg_status(&rows[t]) == BENCH_ROW_SKIPPED;
		failed += reg_status(&rows[t]) == BENCH_ROW_FAILED;
	}
	if (o->j)
		reg_json(o->j, rows, size, reps);
	else
		reg_text(rows, size, reps, o);
	return bench_rows_exit(o, skipped, failed);
}

const struct bench_cmd bench_reg_cmd = {
	.name = "reg",
	.summary = "registration time per GiB by memory tier (4K, THP, 2M, 1G)",
	.opts = reg_opts,
	.run = reg_run,
};
