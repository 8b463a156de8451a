// SPDX-License-Identifier: MIT
/*
 * regbuf bench clone - how a second ring gets the same buffers: registered
 * again (pinned and charged again) against IORING_REGISTER_CLONE_BUFFERS
 * (Linux 6.12) and regbuf_table_clone(), for 1..16384 buffers and a large
 * arena of 1 GiB buffers.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <regbuf/table.h>
#include <regbuf/uring.h>

#include "bench.h"
#include "cli.h"
#include "opt.h"

#define CLONE_MAX_REPS 32
#define CLONE_MAX_IOV 16384
#define NR_ROWS 5

static uint64_t clone_max_gib = 4;

static struct opt_spec clone_opts[] = {
	OPT_U64("max-gib", &clone_max_gib, 1, 1024, "GIB",
		"the last row's arena in GiB, 1 with --quick, at most a quarter of free memory"),
	OPT_END
};

struct clone_row {
	bool ok;
	bool unavailable;	/* not attempted: no io_uring or no clone on this kernel */
	uint32_t nr;
	uint64_t bytes;
	const char *tier;
	double reg, again, kclone, tclone;	/* us, medians */
	char why[640];
};

static double us_since(uint64_t t0)
{
	return (double)(cli_now_ns() - t0) / 1e3;
}

/* regbuf_table_clone() of a whole registered table. */
static int time_table_clone(const struct iovec *iov, uint32_t nr, double *us, char *why,
			    size_t wlen)
{
	struct regbuf_table *ta, *tb;
	uint64_t t0;
	int ret = regbuf_table_create(&ta, 0);

	if (ret)
		goto out_why;
	ret = regbuf_table_register(ta, iov, nr, 0);
	if (!ret)
		ret = regbuf_table_create(&tb, 0);
	if (ret)
		goto out_ta;
	t0 = cli_now_ns();
	ret = regbuf_table_clone(tb, ta, 0, 0, 0, 0);
	*us = us_since(t0);
	regbuf_table_destroy(tb);
out_ta:
	regbuf_table_destroy(ta);
out_why:
	if (ret)
		snprintf(why, wlen, "regbuf table clone: %s", strerror(-ret));
	return ret;
}

/* One repetition: register in a, again in b, clone a into c, then regbuf's table clone. */
static int clone_rep(struct io_uring *ring, const struct iovec *iov, uint32_t nr, double *v,
		     char *why, size_t wlen)
{
	const char *step = "IORING_REGISTER_BUFFERS";
	uint64_t t0 = cli_now_ns();
	int ret = io_uring_register_buffers(&ring[0], iov, nr);

	if (ret)
		goto out;
	v[0] = us_since(t0);
	step = "IORING_REGISTER_BUFFERS (second ring)";
	t0 = cli_now_ns();
	ret = io_uring_register_buffers(&ring[1], iov, nr);
	if (ret)
		goto out_a;
	v[1] = us_since(t0);
	step = "IORING_REGISTER_CLONE_BUFFERS";
	t0 = cli_now_ns();
	ret = regbuf_uring_clone_buffers(&ring[2], &ring[0], 0, 0, 0, 0);
	if (!ret) {
		v[2] = us_since(t0);
		io_uring_unregister_buffers(&ring[2]);
	}
	io_uring_unregister_buffers(&ring[1]);
out_a:
	io_uring_unregister_buffers(&ring[0]);
out:
	if (ret) {
		bench_register_failed(ret, step, iov, nr, why, wlen);
		return ret;
	}
	return time_table_clone(iov, nr, &v[3], why, wlen);
}

static void clone_measure(struct clone_row *row, uint64_t each, int reps, struct iovec *iov)
{
	double v[4][CLONE_MAX_REPS], one[4] = { NAN, NAN, NAN, NAN };
	struct io_uring ring[3];
	struct bench_mem m;
	int r, i, k, ret = 0;

	bench_progress("clone: %u buffers, %" PRIu64 " MiB", row->nr, row->bytes >> 20);
	if (bench_mem_map(&m, row->bytes, TIER_2M) && bench_mem_map(&m, row->bytes, TIER_4K)) {
		snprintf(row->why, sizeof(row->why), "%s", m.why);
		goto out;
	}
	row->tier = bench_tier_name[m.tier];
	row->nr = bench_chunk_iov(iov, CLONE_MAX_IOV, m.addr, row->bytes, each);
	for (i = 0; i < 3; i++) {
		ret = io_uring_queue_init(8, &ring[i], 0);
		if (ret) {
			snprintf(row->why, sizeof(row->why), "io_uring_queue_init: %s",
				 strerror(-ret));
			break;
		}
	}
	for (r = 0; r < reps && !ret; r++) {
		ret = clone_rep(ring, iov, row->nr, one, row->why, sizeof(row->why));
		for (k = 0; k < 4; k++)
			v[k][r] = one[k];
	}
	while (i--)
		io_uring_queue_exit(&ring[i]);
	bench_mem_unmap(&m);
	if (!ret) {
		row->reg = bench_median(v[0], reps);
		row->again = bench_median(v[1], reps);
		row->kclone = bench_median(v[2], reps);
		row->tclone = bench_median(v[3], reps);
		row->ok = true;
	}
out:
	bench_hugepages_restore();
	if (!row->ok)
		bench_progress("clone: %u buffers: FAILED: %s", row->nr, row->why);
}

/* What every row needs from the kernel: io_uring and IORING_REGISTER_CLONE_BUFFERS. */
static bool clone_unavailable(char *why, size_t wlen)
{
	struct regbuf_uring_features f;
	int ret = regbuf_uring_probe(&f);

	if (ret)
		return bench_uring_refused(ret, why, wlen);
	if (!f.clone_whole)
		return false;
	snprintf(why, wlen, "this kernel has no IORING_REGISTER_CLONE_BUFFERS (%s; Linux 6.12 "
		 "has it)", strerror(-f.clone_whole));
	return true;
}

static enum bench_row clone_status(const struct clone_row *r)
{
	return r->ok ? BENCH_ROW_MEASURED : r->unavailable ? BENCH_ROW_SKIPPED : BENCH_ROW_FAILED;
}

static void clone_json(struct json *j, const struct clone_row *rows, int reps)
{
	int i;

	json_open(j, "clone", '{');
	json_int(j, "reps", reps);
	json_open(j, "rows", '[');
	for (i = 0; i < NR_ROWS; i++) {
		const struct clone_row *r = &rows[i];

		json_open(j, NULL, '{');
		json_int(j, "nr_buffers", r->nr);
		json_int(j, "bytes", (int64_t)r->bytes);
		json_bool(j, "measured", r->ok);
		bench_row_json(j, clone_status(r), r->why);
		if (r->ok) {
			json_str(j, "tier", r->tier);
			json_num(j, "register_us", r->reg);
			json_num(j, "register_again_us", r->again);
			json_num(j, "kernel_clone_us", r->kclone);
			json_num(j, "regbuf_table_clone_us", r->tclone);
			json_num(j, "ratio_register_again_over_clone", r->again / r->kclone);
		}
		json_close(j, '{');
	}
	json_close(j, '[');
	json_close(j, '{');
}

static void clone_text(const struct clone_row *rows, int reps, const struct bench_opts *o)
{
	int i;

	printf("\n== clone: a second ring gets the buffers, median of %d\n", reps);
	printf("%8s %7s %5s %12s %14s %13s %13s %12s %13s\n", "buffers", "MiB", "tier",
	       "register us", "reg-again us", "k-clone us", "table-clone us", "again/clone",
	       "again/table");
	for (i = 0; i < NR_ROWS; i++) {
		const struct clone_row *r = &rows[i];

		if (!r->ok) {
			printf("%8u %7" PRIu64 " %s: %s\n", r->nr, r->bytes >> 20,
			       bench_row_word(o, clone_status(r)), r->why);
			continue;
		}
		printf("%8u %7" PRIu64 " %5s %12.1f %14.1f %13.1f %13.2f %11.0fx %12.0fx\n",
		       r->nr, r->bytes >> 20, r->tier, r->reg, r->again, r->kclone, r->tclone,
		       r->again / r->kclone, r->again / r->tclone);
	}
	printf("reg-again = the same memory registered in a second ring (pinned and charged\n"
	       "again); k-clone = IORING_REGISTER_CLONE_BUFFERS; table-clone = regbuf_table_clone()\n");
}

static int clone_run(const struct bench_opts *o)
{
	static const uint32_t nrs[NR_ROWS - 1] = { 1, 64, 1024, 16384 };
	uint64_t max_gib = o->quick && !clone_opts[0].seen ? 1 : clone_max_gib;
	int reps = o->reps > CLONE_MAX_REPS ? CLONE_MAX_REPS : (int)o->reps, i;
	int skipped = 0, failed = 0;
	struct clone_row rows[NR_ROWS];
	struct iovec *iov;
	char why[sizeof(rows[0].why)];
	bool unavailable = clone_unavailable(why, sizeof(why));
	long avail;

	iov = calloc(CLONE_MAX_IOV, sizeof(*iov));
	if (!iov) {
		cli_err("bench clone", "out of memory");
		return 1;
	}
	/* The largest arena: leave most memory to everyone else on the machine. */
	avail = sysconf(_SC_AVPHYS_PAGES) * sysconf(_SC_PAGESIZE) / 4 / (long)GiB;
	if ((uint64_t)avail < max_gib)
		max_gib = avail > 1 ? (uint64_t)avail : 1;
	memset(rows, 0, sizeof(rows));
	if (unavailable)
		bench_progress("clone: skipped: %s", why);
	for (i = 0; i < NR_ROWS; i++) {
		rows[i].nr = i < NR_ROWS - 1 ? nrs[i] : (uint32_t)max_gib;
		rows[i].bytes = i < NR_ROWS - 1 ? (uint64_t)nrs[i] * 64 * KiB : max_gib * GiB;
		rows[i].unavailable = unavailable;
		if (unavailable)
			snprintf(rows[i].why, sizeof(rows[i].why), "%s", why);
		else
			clone_measure(&rows[i], i < NR_ROWS - 1 ? 64 * KiB : GiB, reps, iov);
		skipped += clone_status(&rows[i]) == BENCH_ROW_SKIPPED;
		failed += clone_status(&rows[i]) == BENCH_ROW_FAILED;
	}
	free(iov);
	if (o->j)
		clone_json(o->j, rows, reps);
	else
		clone_text(rows, reps, o);
	return bench_rows_exit(o, skipped, failed);
}

const struct bench_cmd bench_clone_cmd = {
	.name = "clone",
	.summary = "register again vs kernel clone for 1..16384 buffers",
	.opts = clone_opts,
	.run = clone_run,
};
