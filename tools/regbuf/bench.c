// SPDX-License-Identifier: MIT
/*
 * regbuf bench - the experiments of the seeds this machine can reproduce,
 * measured side by side in one run (medians over repetitions; absolute times
 * mean nothing across runs or machines):
 *   reg    kernel registration time per GiB by memory tier (4K, THP, 2M, 1G)
 *   clone  register again vs kernel clone (seed 003) for 1..16384 buffers
 *   io     O_DIRECT fixed vs unfixed I/O through a ring pool, next to fio
 *   map    per-I/O descriptor cost (tools/regbuf/bench_map.c, dma layer)
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <regbuf/mem.h>
#include <regbuf/table.h>
#include <regbuf/features.h>
#if REGBUF_HAVE_URING
#include <regbuf/uring.h>
#endif

#include "bench.h"
#include "cli.h"

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif
#ifndef MAP_HUGE_SHIFT
#define MAP_HUGE_SHIFT 26
#endif
#define MAP_HUGE_2M_FLAG (21U << MAP_HUGE_SHIFT)
#define MAP_HUGE_1G_FLAG (30U << MAP_HUGE_SHIFT)

const char *const bench_tier_name[TIER_NR] = { "4K", "THP", "2M", "1G" };

/* ---- small utilities ---- */

uint64_t bench_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

double bench_median(double *v, int n)
{
	if (n <= 0)
		return NAN;
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

void bench_progress(const char *fmt, ...)
{
	va_list ap;

	fputs("bench: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* ---- JSON ---- */

static void jput(struct json *j, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void jput(struct json *j, const char *fmt, ...)
{
	va_list ap;
	int n;

	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(j->buf + j->len, j->cap - j->len, fmt, ap);
		va_end(ap);
		if (n >= 0 && (size_t)n < j->cap - j->len)
			break;
		j->cap = j->cap ? j->cap * 2 + (size_t)n : 4096;
		j->buf = realloc(j->buf, j->cap);
		if (!j->buf)
			abort();
	}
	j->len += (size_t)n;
}

static void jkey(struct json *j, const char *key)
{
	if (!j->first[j->depth])
		jput(j, ",");
	j->first[j->depth] = false;
	jput(j, "\n%*s", 2 * j->depth, "");
	if (key)
		jput(j, "\"%s\": ", key);
}

void json_open(struct json *j, const char *key, char kind)
{
	if (j->depth || j->len)
		jkey(j, key);
	jput(j, "%c", kind);
	j->depth++;
	j->first[j->depth] = true;
}

void json_close(struct json *j, char kind)
{
	j->depth--;
	jput(j, "\n%*s%c", 2 * j->depth, "", kind == '{' ? '}' : ']');
}

void json_str(struct json *j, const char *key, const char *val)
{
	const char *p;

	jkey(j, key);
	jput(j, "\"");
	for (p = val; *p; p++) {
		if (*p == '"' || *p == '\\')
			jput(j, "\\%c", *p);
		else if ((unsigned char)*p < 0x20)
			jput(j, "\\u%04x", *p);
		else
			jput(j, "%c", *p);
	}
	jput(j, "\"");
}

void json_num(struct json *j, const char *key, double val)
{
	jkey(j, key);
	if (isnan(val) || isinf(val))
		jput(j, "null");
	else
		jput(j, "%.6g", val);
}

void json_int(struct json *j, const char *key, int64_t val)
{
	jkey(j, key);
	jput(j, "%" PRId64, val);
}

void json_bool(struct json *j, const char *key, bool val)
{
	jkey(j, key);
	jput(j, val ? "true" : "false");
}

void json_null(struct json *j, const char *key)
{
	jkey(j, key);
	jput(j, "null");
}

void json_raw(struct json *j, const char *key, const char *text)
{
	jkey(j, key);
	jput(j, "%s", text);
}

/* ---- memory tiers ---- */

static const char *const nr_path[TIER_NR] = {
	[TIER_2M] = "/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages",
	[TIER_1G] = "/sys/kernel/mm/hugepages/hugepages-1048576kB/nr_hugepages",
};
static const char *const free_path[TIER_NR] = {
	[TIER_2M] = "/sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages",
	[TIER_1G] = "/sys/kernel/mm/hugepages/hugepages-1048576kB/free_hugepages",
};
static long huge_added[TIER_NR];

static long read_long(const char *path)
{
	FILE *f = fopen(path, "r");
	long v = -1;

	if (f) {
		if (fscanf(f, "%ld", &v) != 1)
			v = -1;
		fclose(f);
	}
	return v;
}

static int write_long(const char *path, long v)
{
	FILE *f = fopen(path, "w");
	int ok;

	if (!f)
		return -errno;
	ok = fprintf(f, "%ld\n", v) > 0;
	if (fclose(f) || !ok)
		return -EIO;
	return 0;
}

void bench_hugepages_restore(void)
{
	int t;
	long cur;

	for (t = 0; t < TIER_NR; t++) {
		if (!huge_added[t])
			continue;
		cur = read_long(nr_path[t]);
		if (cur >= huge_added[t])
			(void)write_long(nr_path[t], cur - huge_added[t]);
		huge_added[t] = 0;
	}
}

/* Make sure @need pages of the tier are free: reserve the difference as root. */
static int reserve(enum bench_tier t, long need, char *why, size_t wlen)
{
	long free_pages = read_long(free_path[t]), cur, now;

	if (free_pages >= need)
		return 0;
	cur = read_long(nr_path[t]);
	if (cur < 0 || geteuid()) {
		snprintf(why, wlen, "%ld of %ld free %s hugetlb pages; as root regbuf reserves "
			 "them (%s)", free_pages < 0 ? 0 : free_pages, need, bench_tier_name[t],
			 nr_path[t]);
		return -ENOMEM;
	}
	(void)write_long(nr_path[t], cur + need - free_pages);
	now = read_long(nr_path[t]);
	if (read_long(free_path[t]) < need) {
		/* Fragmented: compact once and ask again for the rest. */
		(void)write_long("/proc/sys/vm/compact_memory", 1);
		(void)write_long(nr_path[t], cur + need - free_pages);
		now = read_long(nr_path[t]);
	}
	if (now > cur)
		huge_added[t] += now - cur;
	if (read_long(free_path[t]) < need) {
		snprintf(why, wlen, "reserved only %ld of %ld %s pages (memory fragmented: %s)",
			 read_long(free_path[t]), need, bench_tier_name[t], nr_path[t]);
		return -ENOMEM;
	}
	return 0;
}

int bench_hugepages_reserve(enum bench_tier tier, uint64_t len, char *why, size_t wlen)
{
	if (tier != TIER_2M && tier != TIER_1G)
		return -EINVAL;
	return reserve(tier, (long)((len + (tier == TIER_2M ? 2 * MiB : GiB) - 1) >>
				    (tier == TIER_2M ? 21 : 30)), why, wlen);
}

int bench_mem_map(struct bench_mem *m, uint64_t len, enum bench_tier tier)
{
	int flags = MAP_PRIVATE | MAP_ANONYMOUS;
	uint8_t *p, *al;
	uint64_t got;
	int ret;

	memset(m, 0, sizeof(*m));
	m->tier = tier;
	switch (tier) {
	case TIER_4K:
	case TIER_THP:
		p = mmap(NULL, len + 2 * MiB, PROT_READ | PROT_WRITE, flags, -1, 0);
		if (p == MAP_FAILED) {
			ret = -errno;
			snprintf(m->why, sizeof(m->why), "mmap: %s", strerror(errno));
			return ret;
		}
		/* Folio-aligned start, so THPs can back the whole range. */
		al = (uint8_t *)(((uintptr_t)p + 2 * MiB - 1) & ~(uintptr_t)(2 * MiB - 1));
		if (al > p)
			munmap(p, (size_t)(al - p));
		if (al + len < p + len + 2 * MiB)
			munmap(al + len, (size_t)(p + len + 2 * MiB - (al + len)));
		madvise(al, len, tier == TIER_THP ? MADV_HUGEPAGE : MADV_NOHUGEPAGE);
		if (madvise(al, len, MADV_POPULATE_WRITE))
			memset(al, 0, len);
		m->addr = al;
		m->len = len;
		if (tier == TIER_THP) {
			if (regbuf_mem_huge_bytes(al, len, &got))
				got = 0;
			if (got < len) {
				snprintf(m->why, sizeof(m->why), "only %" PRIu64 " of %" PRIu64
					 " MiB backed by THP (transparent_hugepage/enabled, "
					 "defrag)", got >> 20, len >> 20);
				munmap(al, len);
				m->addr = NULL;
				return -ENOMEM;
			}
		}
		return 0;
	case TIER_2M:
	case TIER_1G:
		len = tier == TIER_2M ? (len + 2 * MiB - 1) & ~(2 * MiB - 1)
				      : (len + GiB - 1) & ~(GiB - 1);
		ret = reserve(tier, (long)(len >> (tier == TIER_2M ? 21 : 30)), m->why,
			      sizeof(m->why));
		if (ret)
			return ret;
		flags |= MAP_HUGETLB | MAP_POPULATE |
			 (int)(tier == TIER_2M ? MAP_HUGE_2M_FLAG : MAP_HUGE_1G_FLAG);
		p = mmap(NULL, len, PROT_READ | PROT_WRITE, flags, -1, 0);
		if (p == MAP_FAILED) {
			ret = -errno;
			snprintf(m->why, sizeof(m->why), "mmap MAP_HUGETLB: %s", strerror(errno));
			return ret;
		}
		m->addr = p;
		m->len = len;
		return 0;
	case TIER_NR:
		break;
	}
	return -EINVAL;
}

void bench_mem_unmap(struct bench_mem *m)
{
	if (m->addr)
		munmap(m->addr, m->len);
	m->addr = NULL;
}

#if REGBUF_HAVE_URING
/* Consecutive <= 1 GiB iovecs over [addr, addr + len): the kernel's per-buffer limit. */
static uint32_t chunk_iov(struct iovec *iov, uint32_t max, void *addr, uint64_t len,
			  uint64_t chunk)
{
	uint32_t n = 0;
	uint64_t off;

	for (off = 0; off < len && n < max; off += chunk, n++) {
		iov[n].iov_base = (uint8_t *)addr + off;
		iov[n].iov_len = len - off < chunk ? len - off : chunk;
	}
	return n;
}

/* ---- reg ---- */

/*
 * One tier exactly, through regbuf_mem (REGBUF_MEM_F_REQUIRE): the arena an
 * application would get, prefaulted, with its folio size known (the hint).
 */
static int reg_map(struct bench_mem *m, struct regbuf_mem **rm, uint64_t len, enum bench_tier t)
{
	struct regbuf_mem_opts mo = { .flags = REGBUF_MEM_F_REQUIRE };
	int ret;

	memset(m, 0, sizeof(*m));
	m->tier = t;
	mo.tier = (enum regbuf_mem_tier)(TIER_1G - t);	/* 4K THP 2M 1G <-> 1G 2M THP 4K */
	if ((t == TIER_2M || t == TIER_1G) &&
	    bench_hugepages_reserve(t, len, m->why, sizeof(m->why)))
		return -ENOMEM;
	ret = regbuf_mem_create(rm, len, &mo);
	if (ret) {
		snprintf(m->why, sizeof(m->why), "regbuf_mem_create(%s required): %s",
			 bench_tier_name[t], strerror(-ret));
		return ret;
	}
	m->addr = regbuf_mem_addr(*rm);
	m->len = regbuf_mem_len(*rm);
	return 0;
}

int bench_reg(const struct bench_opts *o, int argc, char **argv)
{
	uint64_t size = o->quick ? 256 * MiB : GiB;
	double ms_gib[TIER_NR], pool_ms_gib[TIER_NR], disc_ms_gib[TIER_NR], hint_ms_gib[TIER_NR];
	double v[32], w[32], dv[32], hv[32];
	uint64_t segs[TIER_NR], ksegs[TIER_NR], got_len[TIER_NR], try_len;
	bool ok[TIER_NR];
	char why[TIER_NR][640];
	struct iovec iov[64];
	int t, r, reps = o->reps, i;
	uint32_t n;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--size-mb") && i + 1 < argc)
			size = strtoull(argv[++i], NULL, 0) * MiB;
		else {
			cli_err("bench reg", "unknown option '%s' (--size-mb N, --reps N)", argv[i]);
			return 2;
		}
	}
	if (reps > 32)
		reps = 32;
	for (t = 0; t < TIER_NR; t++) {
		struct bench_mem m;
		struct regbuf_mem *rm = NULL;
		struct io_uring ring;
		int ret;

		ok[t] = false;
		ms_gib[t] = pool_ms_gib[t] = disc_ms_gib[t] = hint_ms_gib[t] = NAN;
		segs[t] = ksegs[t] = got_len[t] = 0;
		why[t][0] = '\0';
		bench_progress("reg: %s: mapping and prefaulting %" PRIu64 " MiB", bench_tier_name[t],
			       size >> 20);
		ret = reg_map(&m, &rm, size, (enum bench_tier)t);
		/* Fewer huge pages than asked: measure on what can be had (>= 128 MiB,
		 * or one 1 GiB page); the result is per GiB anyway. */
		for (try_len = size / 2; ret && t == TIER_2M && try_len >= 128 * MiB; try_len /= 2) {
			bench_hugepages_restore();
			ret = reg_map(&m, &rm, try_len, (enum bench_tier)t);
		}
		if (ret) {
			snprintf(why[t], sizeof(why[t]), "%s", m.why);
			bench_progress("reg: %s: not available: %s", bench_tier_name[t], m.why);
			bench_hugepages_restore();
			continue;
		}
		got_len[t] = m.len;
		n = chunk_iov(iov, 64, m.addr, m.len, GiB);
		if (io_uring_queue_init(8, &ring, 0)) {
			regbuf_mem_destroy(rm);
			continue;
		}
		for (r = 0; r < reps; r++) {
			struct regbuf_uring_pool *pool;
			uint64_t t0 = bench_now_ns();
			int ret = io_uring_register_buffers(&ring, iov, n);

			v[r] = (double)(bench_now_ns() - t0) / 1e6;
			if (ret) {
				struct regbuf_uring_memlock ml;

				snprintf(why[t], sizeof(why[t]), "register: %s", strerror(-ret));
				/* The usual cause, with the numbers and the fix. */
				if (ret == -ENOMEM && !regbuf_uring_memlock_estimate(&ml, iov, n, 1) &&
				    !regbuf_uring_memlock_fits(&ml))
					regbuf_uring_memlock_explain(&ml, why[t], sizeof(why[t]));
				break;
			}
			io_uring_unregister_buffers(&ring);
			/* regbuf's pool, one ring: memlock preflight + registration. */
			if (regbuf_uring_pool_create(&pool, 1, 8, 0, 0) == 0) {
				struct iovec whole = { m.addr, m.len };

				t0 = bench_now_ns();
				if (regbuf_uring_pool_register(pool, &whole, 1, 0) == 0)
					w[r] = (double)(bench_now_ns() - t0) / 1e6;
				else
					w[r] = NAN;
				regbuf_uring_pool_destroy(pool);
			}
			dv[r] = hv[r] = NAN;
			/* regbuf's own layout discovery + coalescing, and with the arena's hint. */
			{
				struct regbuf_table *tb;
				uint8_t shifts[64];
				uint32_t k;

				memset(shifts, (int)regbuf_mem_folio_shift(rm), sizeof(shifts));
				if (!regbuf_table_create(&tb, 0)) {
					t0 = bench_now_ns();
					if (!regbuf_table_register(tb, iov, n, 0))
						dv[r] = (double)(bench_now_ns() - t0) / 1e6;
					if (r == 0) {
						for (k = 0; k < n; k++) {
							struct regbuf_buf *b;
							struct regbuf_buf_info bi;

							if (regbuf_table_buf_get(tb, k, &b))
								continue;
							if (!regbuf_buf_info(b, &bi)) {
								segs[t] += bi.nr_segs;
								ksegs[t] += bi.kernel_nr_segs;
							}
							regbuf_buf_put(b);
						}
					}
					regbuf_table_destroy(tb);
				}
				if (!regbuf_table_create(&tb, 0)) {
					t0 = bench_now_ns();
					if (!regbuf_table_register_hinted(tb, iov, shifts, n, 0))
						hv[r] = (double)(bench_now_ns() - t0) / 1e6;
					regbuf_table_destroy(tb);
				}
			}
		}
		io_uring_queue_exit(&ring);
		if (r == reps) {
			ok[t] = true;
			ms_gib[t] = bench_median(v, reps) / ((double)m.len / GiB);
			pool_ms_gib[t] = bench_median(w, reps) / ((double)m.len / GiB);
			disc_ms_gib[t] = bench_median(dv, reps) / ((double)m.len / GiB);
			hint_ms_gib[t] = bench_median(hv, reps) / ((double)m.len / GiB);
		}
		regbuf_mem_destroy(rm);
		bench_hugepages_restore();
	}

	if (o->j) {
		json_open(o->j, "reg", '{');
		json_int(o->j, "size_bytes", (int64_t)size);
		json_int(o->j, "reps", reps);
		json_open(o->j, "tiers", '[');
		for (t = 0; t < TIER_NR; t++) {
			json_open(o->j, NULL, '{');
			json_str(o->j, "tier", bench_tier_name[t]);
			json_bool(o->j, "available", ok[t]);
			json_int(o->j, "bytes", (int64_t)got_len[t]);
			json_num(o->j, "kernel_register_ms_per_gib", ms_gib[t]);
			json_num(o->j, "regbuf_pool_register_ms_per_gib", pool_ms_gib[t]);
			json_num(o->j, "regbuf_table_register_ms_per_gib", disc_ms_gib[t]);
			json_num(o->j, "regbuf_table_register_hinted_ms_per_gib", hint_ms_gib[t]);
			json_int(o->j, "regbuf_segments", (int64_t)segs[t]);
			json_int(o->j, "kernel_bvecs", (int64_t)ksegs[t]);
			if (!ok[t])
				json_str(o->j, "why", why[t]);
			json_close(o->j, '{');
		}
		json_close(o->j, '[');
		json_num(o->j, "ratio_4k_over_2m", ms_gib[TIER_4K] / ms_gib[TIER_2M]);
		json_close(o->j, '{');
		return 0;
	}
	printf("\n== reg: io_uring buffer registration, %" PRIu64 " MiB prefaulted, median of %d\n",
	       size >> 20, reps);
	printf("%-5s %14s %14s %14s %14s %10s %10s\n", "tier", "kernel", "regbuf pool",
	       "regbuf layout", "regbuf hinted", "segments", "kernel");
	printf("%-5s %14s %14s %14s %14s %10s %10s\n", "", "ms/GiB", "ms/GiB", "ms/GiB", "ms/GiB",
	       "(regbuf)", "bvecs");
	for (t = 0; t < TIER_NR; t++) {
		if (ok[t])
			printf("%-5s %14.2f %14.2f %14.3f %14.4f %10" PRIu64 " %10" PRIu64 "%s\n",
			       bench_tier_name[t], ms_gib[t], pool_ms_gib[t], disc_ms_gib[t],
			       hint_ms_gib[t], segs[t], ksegs[t],
			       got_len[t] != size ? "   (on fewer MiB: huge pages short)" : "");
		else
			printf("%-5s %14s %14s %14s %14s %10s %10s   (see below)\n",
			       bench_tier_name[t], "-", "-", "-", "-", "-", "-");
	}
	for (t = 0; t < TIER_NR; t++)
		if (!ok[t])
			printf("%s: %s\n", bench_tier_name[t], why[t]);
	printf("kernel = IORING_REGISTER_BUFFERS (pin + account + coalesce); regbuf pool = memlock\n"
	       "preflight + kernel registration; regbuf layout = regbuf_table_register() (layout\n"
	       "discovery + coalescing, no pinning); hinted = with the arena's folio size (no walk)\n");
	if (ok[TIER_4K] && ok[TIER_2M])
		printf("4K/2M registration time ratio: %.1fx (goal >= 15x)\n",
		       ms_gib[TIER_4K] / ms_gib[TIER_2M]);
	return 0;
}

/* ---- clone ---- */

int bench_clone(const struct bench_opts *o, int argc, char **argv)
{
	static const uint32_t nrs[] = { 1, 64, 1024, 16384 };
	enum { NR_ROWS = 5 };
	double reg_us[NR_ROWS], again_us[NR_ROWS], clone_us[NR_ROWS], tclone_us[NR_ROWS];
	double v[32], w[32], x[32], y[32];
	uint64_t bytes[NR_ROWS], max_gib = o->quick ? 1 : 4;
	uint32_t rows_n[NR_ROWS];
	const char *tier_used[NR_ROWS];
	struct iovec *iov = calloc(16384, sizeof(*iov));
	int row, r, reps = o->reps > 32 ? 32 : o->reps, i, nrows = 0;
	long avail;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--max-gib") && i + 1 < argc)
			max_gib = strtoull(argv[++i], NULL, 0);
		else {
			cli_err("bench clone", "unknown option '%s' (--max-gib N, --reps N)", argv[i]);
			free(iov);
			return 2;
		}
	}
	/* The largest arena: leave most memory to everyone else on the machine. */
	avail = sysconf(_SC_AVPHYS_PAGES) * sysconf(_SC_PAGESIZE) / 4 / (long)GiB;
	if ((uint64_t)avail < max_gib)
		max_gib = avail > 1 ? (uint64_t)avail : 1;

	for (row = 0; row < NR_ROWS; row++) {
		struct bench_mem m;
		struct io_uring a, b, c;
		uint32_t nr;
		uint64_t len, each;

		if (row < 4) {
			nr = nrs[row];
			each = 64 * KiB;
			len = (uint64_t)nr * each;
		} else {
			nr = (uint32_t)max_gib;
			each = GiB;
			len = max_gib * GiB;
		}
		bench_progress("clone: %u buffers, %" PRIu64 " MiB", nr, len >> 20);
		if (bench_mem_map(&m, len, TIER_2M) && bench_mem_map(&m, len, TIER_4K))
			continue;
		tier_used[nrows] = bench_tier_name[m.tier];
		nr = chunk_iov(iov, 16384, m.addr, len, each);
		if (io_uring_queue_init(8, &a, 0) || io_uring_queue_init(8, &b, 0) ||
		    io_uring_queue_init(8, &c, 0))
			break;
		for (r = 0; r < reps; r++) {
			uint64_t t0 = bench_now_ns();

			if (io_uring_register_buffers(&a, iov, nr))
				break;
			v[r] = (double)(bench_now_ns() - t0) / 1e3;
			t0 = bench_now_ns();
			if (io_uring_register_buffers(&b, iov, nr))
				break;
			w[r] = (double)(bench_now_ns() - t0) / 1e3;
			t0 = bench_now_ns();
			if (regbuf_uring_clone_buffers(&c, &a, 0, 0, 0, 0))
				break;
			x[r] = (double)(bench_now_ns() - t0) / 1e3;
			io_uring_unregister_buffers(&a);
			io_uring_unregister_buffers(&b);
			io_uring_unregister_buffers(&c);
			/* regbuf's table clone: a whole-table clone shares the snapshot. */
			y[r] = NAN;
			{
				struct regbuf_table *ta, *tb;

				if (!regbuf_table_create(&ta, 0)) {
					if (!regbuf_table_register(ta, iov, nr, 0) &&
					    !regbuf_table_create(&tb, 0)) {
						t0 = bench_now_ns();
						if (!regbuf_table_clone(tb, ta, 0, 0, 0, 0))
							y[r] = (double)(bench_now_ns() - t0) / 1e3;
						regbuf_table_destroy(tb);
					}
					regbuf_table_destroy(ta);
				}
			}
		}
		io_uring_queue_exit(&a);
		io_uring_queue_exit(&b);
		io_uring_queue_exit(&c);
		bench_mem_unmap(&m);
		bench_hugepages_restore();
		if (r < reps)
			continue;
		rows_n[nrows] = nr;
		bytes[nrows] = len;
		reg_us[nrows] = bench_median(v, reps);
		again_us[nrows] = bench_median(w, reps);
		clone_us[nrows] = bench_median(x, reps);
		tclone_us[nrows] = bench_median(y, reps);
		nrows++;
	}
	free(iov);

	if (o->j) {
		json_open(o->j, "clone", '{');
		json_int(o->j, "reps", reps);
		json_open(o->j, "rows", '[');
		for (row = 0; row < nrows; row++) {
			json_open(o->j, NULL, '{');
			json_int(o->j, "nr_buffers", rows_n[row]);
			json_int(o->j, "bytes", (int64_t)bytes[row]);
			json_str(o->j, "tier", tier_used[row]);
			json_num(o->j, "register_us", reg_us[row]);
			json_num(o->j, "register_again_us", again_us[row]);
			json_num(o->j, "kernel_clone_us", clone_us[row]);
			json_num(o->j, "regbuf_table_clone_us", tclone_us[row]);
			json_num(o->j, "ratio_register_again_over_clone", again_us[row] / clone_us[row]);
			json_close(o->j, '{');
		}
		json_close(o->j, '[');
		json_close(o->j, '{');
		return 0;
	}
	printf("\n== clone: a second ring gets the buffers (seed 003), median of %d\n", reps);
	printf("%8s %7s %5s %12s %14s %13s %13s %12s %13s\n", "buffers", "MiB", "tier",
	       "register us", "reg-again us", "k-clone us", "table-clone us", "again/clone",
	       "again/table");
	for (row = 0; row < nrows; row++)
		printf("%8u %7" PRIu64 " %5s %12.1f %14.1f %13.1f %13.2f %11.0fx %12.0fx\n",
		       rows_n[row], bytes[row] >> 20, tier_used[row], reg_us[row], again_us[row],
		       clone_us[row], tclone_us[row], again_us[row] / clone_us[row],
		       again_us[row] / tclone_us[row]);
	printf("reg-again = the same memory registered in a second ring (pinned and charged\n"
	       "again); k-clone = IORING_REGISTER_CLONE_BUFFERS; table-clone = regbuf_table_clone()\n");
	return 0;
}

#endif /* REGBUF_HAVE_URING */

/* ---- dispatcher ---- */

static void header(const struct bench_opts *o)
{
#if REGBUF_HAVE_URING
	struct regbuf_uring_pool *pool;
	struct regbuf_uring_status st;
	struct iovec iov;
	static uint8_t page[4096] __attribute__((aligned(4096)));
#endif
	struct utsname u;
	const char *path = "not built (no liburing)";

	uname(&u);
#if REGBUF_HAVE_URING
	path = "unknown";
	iov = (struct iovec){ page, sizeof(page) };
	if (regbuf_uring_pool_create(&pool, 2, 8, 0, 0) == 0) {
		if (regbuf_uring_pool_register(pool, &iov, 1, 0) == 0) {
			regbuf_uring_pool_status(pool, &st);
			path = regbuf_uring_path_name(st.path);
		}
		regbuf_uring_pool_destroy(pool);
	}
#endif
	if (o->j) {
		json_str(o->j, "regbuf version", REGBUF_VERSION);
		json_int(o->j, "timestamp", (int64_t)time(NULL));
		json_str(o->j, "kernel", u.release);
		json_int(o->j, "cpus", sysconf(_SC_NPROCESSORS_ONLN));
		json_str(o->j, "pool_path", path);
		return;
	}
	printf("regbuf bench %s: kernel %s, %ld CPUs, ring pool path: %s\n", REGBUF_VERSION,
	       u.release, sysconf(_SC_NPROCESSORS_ONLN), path);
	printf("(ratios are side by side in this run; never compare absolute numbers across runs)\n");
}

/* bench_map() --json prints its own document: run it in a child, embed its stdout. */
static int map_json(struct json *j)
{
	char *argv[] = { (char *)"map", (char *)"--json", NULL };
	char *out = NULL, *p;
	size_t len = 0, cap = 0;
	ssize_t n;
	int fds[2], status = 0;
	pid_t pid;

	if (pipe(fds))
		return -errno;
	fflush(stdout);
	pid = fork();
	if (pid < 0) {
		close(fds[0]);
		close(fds[1]);
		return -errno;
	}
	if (pid == 0) {
		close(fds[0]);
		if (dup2(fds[1], STDOUT_FILENO) < 0)
			_exit(99);
		_exit(bench_map(2, argv) ? 1 : 0);
	}
	close(fds[1]);
	for (;;) {
		if (cap - len < 4096) {
			cap = cap ? cap * 2 : 65536;
			p = realloc(out, cap);
			if (!p)
				break;
			out = p;
		}
		n = read(fds[0], out + len, cap - len - 1);
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	close(fds[0]);
	waitpid(pid, &status, 0);
	if (out)
		out[len] = '\0';
	for (p = out; p && (*p == ' ' || *p == '\n'); p++)
		;
	if (!p || *p != '{' || !WIFEXITED(status) || WEXITSTATUS(status)) {
		json_open(j, "map", '{');
		json_str(j, "error", "bench map failed or printed no JSON object");
		json_close(j, '{');
	} else {
		while (len && (out[len - 1] == '\n' || out[len - 1] == ' '))
			out[--len] = '\0';
		json_raw(j, "map", p);
	}
	free(out);
	return 0;
}

static int bench_map_step(const struct bench_opts *o, int argc, char **argv)
{
	if (o->j)
		return map_json(o->j);
	printf("\n== map: per-I/O NVMe descriptor cost (dma layer)\n");
	fflush(stdout);
	return bench_map(argc, argv);
}

static void usage(void)
{
	printf("usage: regbuf bench [--json] [--quick] [--reps N] [reg|clone|io|map [options]]\n"
	       "  no sub-command: every experiment on the embedded default (a temporary\n"
	       "  O_DIRECT file in the current directory, hugepages reserved as root and\n"
	       "  restored after); progress goes to stderr.\n"
	       "  reg   [--size-mb N]                 registration time per GiB by tier\n"
	       "  clone [--max-gib N]                 register again vs kernel clone\n"
	       "  io    [--rw R] [--bs N] [--qd N] [--threads N] [--runtime S] [--size-mb N]\n"
	       "        [--file PATH] [--no-fio] [--unfixed]\n"
	       "                                      O_DIRECT I/O, fixed vs unfixed vs fio\n"
	       "  map                                 per-I/O descriptor cost (dma layer)\n");
}

int cmd_bench(int argc, char **argv)
{
	struct bench_opts o = { .reps = 5 };
	struct json j = { 0 };
	const char *sub = NULL;
	int i, ret = 0, sub_argc = 0;
	char **sub_argv = NULL;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--json"))
			o.json = true;
		else if (!strcmp(argv[i], "--quick"))
			o.quick = true;
		else if (!strcmp(argv[i], "--reps") && i + 1 < argc)
			o.reps = atoi(argv[++i]);
		else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			usage();
			return 0;
		} else if (argv[i][0] != '-') {
			sub = argv[i];
			sub_argc = argc - i;
			sub_argv = argv + i;
			break;
		} else {
			cli_err("bench", "unknown option '%s' (try 'regbuf bench --help')", argv[i]);
			return 2;
		}
	}
	/* Options after the sub-command that belong to bench itself. */
	for (i = 1; i < sub_argc; i++) {
		if (!strcmp(sub_argv[i], "--reps") && i + 1 < sub_argc) {
			o.reps = atoi(sub_argv[i + 1]);
			memmove(&sub_argv[i], &sub_argv[i + 2],
				(size_t)(sub_argc - i - 2) * sizeof(char *));
			sub_argc -= 2;
			i--;
			continue;
		}
		if (!strcmp(sub_argv[i], "--json") || !strcmp(sub_argv[i], "--quick")) {
			if (sub_argv[i][2] == 'j')
				o.json = true;
			else
				o.quick = true;
			memmove(&sub_argv[i], &sub_argv[i + 1], (size_t)(sub_argc - i - 1) * sizeof(char *));
			sub_argc--;
			i--;
		}
	}
	if (o.reps < 1)
		o.reps = 1;
	if (o.json) {
		o.j = &j;
		json_open(&j, NULL, '{');
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	header(&o);
	if (!sub) {
		ret |= bench_reg(&o, 1, argv);
		ret |= bench_clone(&o, 1, argv);
		ret |= bench_io(&o, 1, argv);
		{
			char *map_argv[] = { (char *)"map", NULL };

			ret |= bench_map_step(&o, 1, map_argv);
		}
	} else if (!strcmp(sub, "reg")) {
		ret = bench_reg(&o, sub_argc, sub_argv);
	} else if (!strcmp(sub, "clone")) {
		ret = bench_clone(&o, sub_argc, sub_argv);
	} else if (!strcmp(sub, "io")) {
		ret = bench_io(&o, sub_argc, sub_argv);
	} else if (!strcmp(sub, "map")) {
		ret = bench_map_step(&o, sub_argc, sub_argv);
	} else {
		cli_err("bench", "unknown experiment '%s' (reg, clone, io, map)", sub);
		ret = 2;
	}
	bench_hugepages_restore();
	if (o.json) {
		json_close(&j, '{');
		fwrite(j.buf, 1, j.len, stdout);
		fputc('\n', stdout);
		free(j.buf);
	}
	return ret;
}
