// SPDX-License-Identifier: MIT
/*
 * regbuf bench nvme - random I/O through the userspace NVMe driver, premapped
 * descriptors next to the per-I/O chain (bench/baseline), on one controller:
 *
 *   regbuf bench nvme --device BDF [--size BYTES] [--qd N] [--seconds S]
 *                     [--write --overwrite] [--path premapped|classic|both]
 *
 * The device is taken from $REGBUF_NVME_DEVICE when --device is absent;
 * without either the experiment is skipped and says so.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>

#include <regbuf/nvme.h>

#include "baseline.h"
#include "bench.h"
#include "cli.h"
#include "opt.h"

enum { PATH_PREMAPPED, PATH_CLASSIC, PATH_BOTH };

struct nvme_args {
	const char *dev;
	uint32_t nsid, qd;
	uint64_t size;
	double seconds;
	int path;
	bool write, unsafe, overwrite;
};

static uint64_t cpu_ns(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ((uint64_t)ru.ru_utime.tv_sec + (uint64_t)ru.ru_stime.tv_sec) * 1000000000u +
	       ((uint64_t)ru.ru_utime.tv_usec + (uint64_t)ru.ru_stime.tv_usec) * 1000u;
}

/* One random I/O of slot @slot: premapped, or classic when @bn is set. */
static int submit_one(struct regbuf_nvme_qpair *q, struct baseline_nvme *bn,
		      enum regbuf_nvme_op op, const struct regbuf_nvme_ns *ns,
		      const struct regbuf_nvme_dmamap *b, const uint8_t *base, uint64_t off,
		      uint64_t size, uint64_t lba, uint64_t slot)
{
	const struct regbuf_nvme_ns_info *ni = regbuf_nvme_ns_info(ns);
	void *ctx = (void *)(uintptr_t)slot;

	if (bn)
		return baseline_nvme_submit(bn, op, ni->nsid, ni->lba_size, b, base, off, size,
					    lba, ctx, 0);
	if (op == REGBUF_NVME_OP_WRITE)
		return regbuf_nvme_submit_write(q, ns, b, off, size, lba, ctx, 0);
	return regbuf_nvme_submit_read(q, ns, b, off, size, lba, ctx, 0);
}

/*
 * One pass: keep @qd I/Os of @size in flight for @seconds on one buffer
 * mapped once.  premapped: descriptors from the buffer's cookie, O(1).
 * classic: the per-I/O chain a driver without premapping runs (translate
 * each page, scatterlist, PRP list or SGL segment from a pool; bench/baseline),
 * submitted as raw commands on the same memory and queue, so only the
 * descriptor work differs.  Polled: CPU per I/O
 * includes the polling, so it is the whole cost seen by one core.
 */
static int bench_pass(struct regbuf_nvme_ctrl *c, const struct regbuf_nvme_ns *ns,
		      const struct nvme_args *a, int classic, struct json *j)
{
	const struct regbuf_nvme_ns_info *ni = regbuf_nvme_ns_info(ns);
	uint64_t size = a->size, slots = a->qd, blocks = ni->nsze - size / ni->lba_size;
	uint64_t max = regbuf_nvme_ctrl_info(c)->max_cmd_bytes;
	/* the classic chain issues a split request's pieces as separate commands */
	uint64_t depth = slots * (classic ? (size + max - 1) / max : 1) + 1;
	enum regbuf_nvme_op op = a->write ? REGBUF_NVME_OP_WRITE : REGBUF_NVME_OP_READ;
	struct baseline_nvme *bn = NULL;
	struct regbuf_nvme_dmamap *b = NULL;
	struct regbuf_nvme_cpl cpl[64];
	struct regbuf_nvme_qpair *q;
	uint64_t t0, c0, done = 0, end, rnd = 0x9e3779b97f4a7c15ull, i;
	struct regbuf_nvme_stats st;
	size_t maplen;
	uint8_t *p;
	int ret;

	p = cli_io_alloc(size * slots, &maplen);
	if (!p)
		return -ENOMEM;
	if (depth > regbuf_nvme_ctrl_info(c)->mqes) {
		ret = -EINVAL;
		goto out_mem;
	}
	ret = regbuf_nvme_qpair_create(&q, c, (uint32_t)depth, 0);
	if (ret)
		goto out_mem;
	ret = regbuf_nvme_dmamap_create(&b, c, p, size * slots, 0);
	if (ret)
		goto out_q;
	if (classic) {
		ret = baseline_nvme_create(&bn, c, q, (uint32_t)depth - 1);
		if (ret)
			goto out_buf;
	}
	t0 = cli_now_ns();
	c0 = cpu_ns();
	end = t0 + (uint64_t)(a->seconds * 1e9);
	for (i = 0; i < slots && !ret; i++) {
		rnd = rnd * 6364136223846793005ull + 1442695040888963407ull;
		ret = submit_one(q, bn, op, ns, b, p, i * size, size, (rnd >> 16) % blocks, i);
	}
	while (!ret && regbuf_nvme_qpair_inflight(q)) {
		int n = bn ? baseline_nvme_reap(bn, cpl, 64) : regbuf_nvme_reap(q, cpl, 64), k;

		for (k = 0; k < n && !ret; k++) {
			uintptr_t s = (uintptr_t)cpl[k].ctx;

			if (cpl[k].status) {
				ret = regbuf_nvme_status_errno(cpl[k].status);
				break;
			}
			done++;
			if (cli_now_ns() >= end)
				continue;
			rnd = rnd * 6364136223846793005ull + 1442695040888963407ull;
			ret = submit_one(q, bn, op, ns, b, p, s * size, size,
					 (rnd >> 16) % blocks, s);
		}
	}
	if (!ret) {
		double secs = (cli_now_ns() - t0) / 1e9, cpu = (double)(cpu_ns() - c0);

		regbuf_nvme_qpair_stats(q, &st);
		if (j) {
			json_open(j, classic ? "classic" : "premapped", '{');
			json_int(j, "ios", (int64_t)done);
			json_num(j, "seconds", secs);
			json_num(j, "iops", done / secs);
			json_num(j, "cpu_ns_per_io", cpu / (double)(done ? done : 1));
			json_int(j, "prp_commands", (int64_t)st.prp);
			json_int(j, "sgl_commands", (int64_t)st.sgl);
			json_close(j, '{');
		} else {
			printf("%-10s %8.0f IOPS  %8.1f MiB/s  %8.0f ns CPU per I/O  (%llu I/Os, %u B, "
		       "QD %u, %.1f s; %llu PRP / %llu SGL commands)\n",
		       classic ? "classic" : "premapped", done / secs,
		       done * (double)size / secs / (1 << 20), cpu / (double)(done ? done : 1),
		       (unsigned long long)done, (unsigned int)size, a->qd, secs,
		       (unsigned long long)st.prp, (unsigned long long)st.sgl);
		}
	}
	baseline_nvme_destroy(bn);
out_buf:
	regbuf_nvme_dmamap_destroy(b);
out_q:
	regbuf_nvme_qpair_destroy(q);
out_mem:
	munmap(p, maplen);
	return ret;
}

static struct nvme_args nv = { .nsid = 1, .qd = 32, .seconds = 3, .size = 4096,
			       .path = PATH_BOTH };
static const char *const path_names[] = { "premapped", "classic", "both", NULL };

static struct opt_spec nvme_opts[] = {
	OPT_STR("device", &nv.dev, "BDF",
		"PCI address such as 0000:01:00.0 (default $REGBUF_NVME_DEVICE)"),
	OPT_U32("nsid", &nv.nsid, 1, 0xfffffffe, "N", "namespace"),
	OPT_SIZE("size", &nv.size, 512, 2 * 1024 * 1024, "bytes per I/O, a multiple of the LBA"),
	OPT_U32("qd", &nv.qd, 1, 1024, "N", "I/Os in flight"),
	OPT_SECS("seconds", &nv.seconds, 0.1, 3600, "per pass, 1 with --quick"),
	OPT_ENUM("path", &nv.path, path_names, "descriptor path(s) to measure"),
	OPT_FLAG("write", &nv.write, "random writes instead of reads (needs --overwrite)"),
	OPT_FLAG("overwrite", &nv.overwrite, "let --write overwrite random blocks of the namespace"),
	OPT_FLAG("unsafe", &nv.unsafe, "allow physical mode (uio_pci_generic, no IOMMU)"),
	OPT_END
};

#define NO_DEVICE "no NVMe controller named: give --device BDF or set REGBUF_NVME_DEVICE " \
		  "(a controller bound to vfio-pci; see 'regbuf nvme list')"

static int nvme_check(const struct bench_opts *o, char *err, size_t len)
{
	(void)o;
	if (!nv.dev) {
		nv.dev = getenv("REGBUF_NVME_DEVICE");
		if (nv.dev && !*nv.dev)
			nv.dev = NULL;
	}
	if (!nv.dev)	/* nothing to check: the run says it was skipped, and why */
		return 0;
	if (cli_nvme_check_device(nv.dev, err, len))
		return 2;
	if (nv.size % 512)
		return snprintf(err, len, "--size: %" PRIu64 " is not a multiple of 512",
				nv.size), 2;
	if (nv.write && !nv.overwrite)
		return snprintf(err, len, "--write overwrites random blocks of namespace %u on %s; "
				"add --overwrite to allow it", nv.nsid, nv.dev), 2;
	return 0;
}

static int nvme_passes(struct regbuf_nvme_ctrl *c, const struct regbuf_nvme_ns *ns,
		       const struct nvme_args *a, struct json *j)
{
	int ret = 0;

	if (j) {
		json_str(j, "device", a->dev);
		json_str(j, "model", regbuf_nvme_ctrl_info(c)->mn);
		json_str(j, "rw", a->write ? "randwrite" : "randread");
		json_int(j, "bs", (int64_t)a->size);
		json_int(j, "qd", a->qd);
	} else {
		printf("\n== nvme: %s %s, %s, %llu-byte I/Os, QD %u, %.1f s per pass\n", a->dev,
		       regbuf_nvme_ctrl_info(c)->mn, a->write ? "random writes" : "random reads",
		       (unsigned long long)a->size, a->qd, a->seconds);
	}
	if (a->path != PATH_CLASSIC)
		ret = bench_pass(c, ns, a, 0, j);
	if (!ret && a->path != PATH_PREMAPPED)
		ret = bench_pass(c, ns, a, 1, j);
	return ret;
}

static int nvme_run(const struct bench_opts *o)
{
	const struct regbuf_nvme_ns_info *ni;
	struct nvme_args a = nv;
	struct regbuf_nvme_ns *ns;
	struct regbuf_nvme_ctrl *c;
	int ret, rc = 0;

	if (o->quick && !opt_seen((struct opt_spec *[]){ nvme_opts, NULL }, "seconds"))
		a.seconds = 1;
	if (o->j)
		json_open(o->j, "nvme", '{');
	if (!a.dev) {
		if (o->j)
			bench_row_json(o->j, BENCH_ROW_SKIPPED, NO_DEVICE);
		else
			printf("\n== nvme: %s: %s\n", bench_row_word(o, BENCH_ROW_SKIPPED),
			       NO_DEVICE);
		rc = bench_rows_exit(o, 1, 0);
		goto out;
	}
	/* A device was named: not opening it is a failure (the reason is on stderr). */
	if (cli_nvme_open("bench nvme", a.dev, a.nsid, a.unsafe, &c, &ns)) {
		if (o->j)
			bench_row_json(o->j, BENCH_ROW_FAILED, "cannot open the controller");
		else
			printf("\n== nvme: FAILED: cannot open %s (the reason is above)\n", a.dev);
		rc = 1;
		goto out;
	}
	/* What only the namespace can tell; the options themselves were checked. */
	ni = regbuf_nvme_ns_info(ns);
	if (a.size % ni->lba_size || a.size / ni->lba_size >= ni->nsze) {
		cli_err("bench nvme", "--size must be a multiple of the %u-byte LBA and less than "
			"the namespace (%llu blocks)", ni->lba_size, (unsigned long long)ni->nsze);
		rc = 2;
	} else {
		ret = nvme_passes(c, ns, &a, o->j);
		if (ret) {
			cli_err("bench nvme", "FAILED: %s", strerror(-ret));
			if (o->j)
				bench_row_json(o->j, BENCH_ROW_FAILED, strerror(-ret));
			rc = 1;
		}
	}
	regbuf_nvme_ctrl_destroy(c);
out:
	if (o->j)
		json_close(o->j, '{');
	return rc;
}

const struct bench_cmd bench_nvme_cmd = {
	.name = "nvme",
	.summary = "random I/O on an NVMe controller, premapped descriptors vs the per-I/O chain",
	.opts = nvme_opts,
	.check = nvme_check,
	.run = nvme_run,
};
