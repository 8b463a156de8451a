// SPDX-License-Identifier: MIT
/*
 * regbuf bench map - per-I/O descriptor cost: the premapped cookie against
 * the classic per-I/O chain and an SPDK-style translate-per-page path.
 *
 * Nothing here touches a device or the buffer's bytes: it measures the CPU
 * work between "I/O at (offset, length) of a registered buffer" and "the
#include "baseline.h"
 * command's data pointer is filled in", which premapping removes (the idea of
 * Keith Busch's 2022 "dma mapping optimisations" RFC, done in userspace).
 * Every method writes PRP1/PRP2 (or SGL1) into a submission queue entry.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <regbuf/dma.h>

#include "baseline.h"
#include "bench.h"
#include "cli.h"

/* Where the pretend buffer lives in the host's address space, and its DMA base. */
#define BUF_VA		UINT64_C(0x7f2000000000)
#define BUF_IOVA	UINT64_C(0x0000100000000)
#define NR_OFFS		4096

static const uint64_t sizes[] = { 4 * KiB, 16 * KiB, 128 * KiB, 1 * MiB };
#define NR_SIZES (sizeof(sizes) / sizeof(sizes[0]))

/* ---- device-visible memory and translation for the bench: identity-mapped host memory ---- */

struct bench_ctx {
	uint64_t buf_len;
	uint64_t *phys2m;		/* physical-segments variant: DMA address of each 2 MiB */
};

static int b_alloc(void *priv, size_t len, void **vaddr, regbuf_iova_t *iova)
{
	void *p = aligned_alloc(1 << 21, (len + (1 << 21) - 1) & ~(size_t)((1 << 21) - 1));

	(void)priv;
	if (!p)
		return -ENOMEM;
	memset(p, 0, len);
	*vaddr = p;
	*iova = (uintptr_t)p;
	return 0;
}

static void b_free(void *priv, void *vaddr, size_t len, regbuf_iova_t iova)
{
	(void)priv;
	(void)len;
	(void)iova;
	free(vaddr);
}

/* IOVA mode: one range, translation is an offset (what an IOMMU mapping gives). */
static int b_translate_iova(void *priv, uint64_t vaddr, uint64_t len, struct regbuf_seg *out,
			    uint32_t max)
{
	struct bench_ctx *b = priv;

	if (vaddr < BUF_VA || vaddr - BUF_VA + len > b->buf_len)
		return -EFAULT;
	if (!max)
		return -E2BIG;
	out->addr = vaddr - BUF_VA + BUF_IOVA;
	out->len = len;
	return 1;
}

/* Physical mode: 2 MiB folios at scattered addresses (pagemap would give this). */
static int b_translate_phys(void *priv, uint64_t vaddr, uint64_t len, struct regbuf_seg *out,
			    uint32_t max)
{
	struct bench_ctx *b = priv;
	uint64_t p = vaddr - BUF_VA;

	if (vaddr < BUF_VA || p + len > b->buf_len)
		return -EFAULT;
	if (!max || (p >> 21) != ((p + len - 1) >> 21))
		return -E2BIG;
	out->addr = b->phys2m[p >> 21] + (p & ((1 << 21) - 1));
	out->len = len;
	return 1;
}

static const struct regbuf_dma_ops ops_iova = { b_alloc, b_free, b_translate_iova };
static const struct regbuf_dma_ops ops_phys = { b_alloc, b_free, b_translate_phys };

#include "baseline.h"
/* ---- the SPDK-style path: spdk_mem_map translation per page, prp_list_append(), written here ---- */

/* Two levels over the 48-bit VA space: 1 GiB slots, then 2 MiB translations. */
struct spdk_map_2m {
	uint64_t tr[512];
};

struct spdk_map {
	struct spdk_map_2m *top[1u << 18];
};

/* Out of line, as spdk_vtophys() is a call into the env library. */
__attribute__((noinline)) static uint64_t spdk_vtophys(const struct spdk_map *m, uint64_t va)
{
	const struct spdk_map_2m *l2 = m->top[(va >> 30) & ((1u << 18) - 1)];
	uint64_t t;

	if (!l2)
		return UINT64_MAX;
	t = l2->tr[(va >> 21) & 511];
	if (t == UINT64_MAX)
		return t;
	return t + (va & ((1 << 21) - 1));
}

/* A request tracker with its PRP list, whose bus address was computed once. */
struct spdk_tracker {
	uint64_t prp_bus;
	uint64_t prp[503];
};

/* One translation per 4 KiB page, appended into the tracker's list (SPDK's prp_list_append). */
static int spdk_build_prp(const struct spdk_map *m, struct spdk_tracker *tr,
			  struct regbuf_nvme_sqe *sqe, uint64_t va, uint64_t len)
{
	const uint64_t ps = 4096;
	uint32_t i = 0;

	if (va & 3)
		return -EFAULT;
	while (len) {
		uint64_t pa = spdk_vtophys(m, va), seg;

		if (pa == UINT64_MAX)
			return -EFAULT;
		if (i == 0) {
			sqe->dptr.prp.prp1 = regbuf_cpu_to_le64(pa);
			seg = ps - (va & (ps - 1));
		} else {
			if (pa & (ps - 1))
				return -EFAULT;
			if (i > 503)
				return -EFAULT;
			tr->prp[i - 1] = regbuf_cpu_to_le64(pa);
			seg = ps;
		}
		if (seg > len)
			seg = len;
		va += seg;
		len -= seg;
		i++;
	}
	if (i == 1)
		sqe->dptr.prp.prp2 = 0;
	else if (i == 2)
		sqe->dptr.prp.prp2 = tr->prp[0];
	else
		sqe->dptr.prp.prp2 = regbuf_cpu_to_le64(tr->prp_bus);
	return 0;
}

/* ---- methods ---- */

enum method {
	M_PREMAP_PRP,
	M_PREMAP_SGL,
	M_PREMAP_PRP_PHYS,
	M_PREMAP_SGL_PHYS,
	M_CLASSIC_PRP,
	M_CLASSIC_PRP_PHYS,
	M_SPDK_PRP,
	NR_METHODS
};

static const char *const method_name[NR_METHODS] = {
	"premapped_prp", "premapped_sgl", "premapped_prp_phys2m", "premapped_sgl_phys2m",
	"classic_prp", "classic_prp_phys2m", "spdk_prp",
};

struct bench {
	struct bench_ctx ctx;
	struct regbuf_dma_cookie *cookie, *cookie_phys;
	struct baseline_dma *classic, *classic_phys;
	struct spdk_map *spdk;
	struct spdk_tracker *tracker;
	struct regbuf_nvme_sgl_desc *scratch_descs;
	struct regbuf_dma_sgl_scratch scratch;
	struct regbuf_nvme_sqe sqe[64];
	uint64_t offs[NR_OFFS];
};

static double now_ns(void)
{
	return (double)cli_now_ns();
}

/*
 * One loop per method, each out of line, so every method gets the registers
 * a real submission loop would give it.  The SQE stores are the result.
 */
__attribute__((noinline)) static int loop_premap_prp(struct bench *b,
						     const struct regbuf_dma_cookie *c,
						     uint64_t len, uint64_t n)
{
	uint64_t i;
	int ret = 0;

	for (i = 0; i < n; i++)
		ret |= regbuf_dma_sqe_prp(c, &b->sqe[i & 63], b->offs[i & (NR_OFFS - 1)], len);
	return ret;
}

__attribute__((noinline)) static int loop_premap_sgl(struct bench *b,
						     const struct regbuf_dma_cookie *c,
						     uint64_t len, uint64_t n)
{
	uint64_t i;
	int ret = 0;

	for (i = 0; i < n; i++) {
		int r = regbuf_dma_sqe_sgl(c, &b->sqe[i & 63], b->offs[i & (NR_OFFS - 1)], len,
					   &b->scratch);

		ret |= r < 0 ? r : 0;
	}
	return ret;
}

__attribute__((noinline)) static int loop_classic_prp(struct bench *b,
						      struct baseline_dma *cl,
						      uint64_t len, uint64_t n)
{
	struct baseline_dma_req req;
	uint64_t i;

	for (i = 0; i < n; i++) {
		struct regbuf_nvme_sqe *sqe = &b->sqe[i & 63];
		int r = baseline_dma_prp(cl, BUF_VA + b->offs[i & (NR_OFFS - 1)], len, &req);

		if (r)
			return r;
		sqe->dptr.prp.prp1 = regbuf_cpu_to_le64(req.prp1);
		sqe->dptr.prp.prp2 = regbuf_cpu_to_le64(req.prp2);
		/* the completion side gives the list pages back */
		baseline_dma_done(cl, &req);
	}
	return 0;
}

__attribute__((noinline)) static int loop_spdk_prp(struct bench *b, uint64_t len, uint64_t n)
{
	uint64_t i;

	for (i = 0; i < n; i++) {
		int r = spdk_build_prp(b->spdk, b->tracker, &b->sqe[i & 63],
				       BUF_VA + b->offs[i & (NR_OFFS - 1)], len);

		if (r)
			return r;
	}
	return 0;
}

/* Run @n I/Os of @len with method @m; returns -errno on the first failure. */
static int run(struct bench *b, enum method m, uint64_t len, uint64_t n)
{
	switch (m) {
	case M_PREMAP_PRP:
		return loop_premap_prp(b, b->cookie, len, n);
	case M_PREMAP_PRP_PHYS:
		return loop_premap_prp(b, b->cookie_phys, len, n);
	case M_PREMAP_SGL:
		return loop_premap_sgl(b, b->cookie, len, n);
	case M_PREMAP_SGL_PHYS:
		return loop_premap_sgl(b, b->cookie_phys, len, n);
	case M_CLASSIC_PRP:
		return loop_classic_prp(b, b->classic, len, n);
	case M_CLASSIC_PRP_PHYS:
		return loop_classic_prp(b, b->classic_phys, len, n);
	case M_SPDK_PRP:
		return loop_spdk_prp(b, len, n);
	default:
		return -EINVAL;
	}
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* I/Os that take about @target_ns with method @m (after warming it up). */
static int calibrate(struct bench *b, enum method m, uint64_t len, double target_ns,
		     uint64_t *np)
{
	uint64_t n = 64;
	double t;
	int ret;

	for (;;) {
		t = now_ns();
		ret = run(b, m, len, n);
		if (ret)
			return ret;
		t = now_ns() - t;
		if (t > target_ns / 8 || n >= (UINT64_C(1) << 26))
			break;
		n *= 2;
	}
	n = (uint64_t)((double)n * target_ns / (t > 1 ? t : 1));
	*np = n < 16 ? 16 : n;
	return 0;
}

/*
 * Median (and best) ns per I/O of every method at one size.  Runs are
 * interleaved, one of each method per round, so that noise from other work
 * on the machine falls on all methods alike and the ratios hold.
 */
static int measure_size(struct bench *b, uint64_t len, unsigned int runs, double target_ns,
			double med[NR_METHODS], double best[NR_METHODS])
{
	static double per[NR_METHODS][101];
	uint64_t n[NR_METHODS];
	unsigned int m, r;
	double t;
	int ret;

	for (m = 0; m < NR_METHODS; m++) {
		ret = calibrate(b, (enum method)m, len, target_ns, &n[m]);
		if (ret)
			return ret;
	}
	for (r = 0; r < runs; r++) {
		for (m = 0; m < NR_METHODS; m++) {
			t = now_ns();
			ret = run(b, (enum method)m, len, n[m]);
			if (ret)
				return ret;
			per[m][r] = (now_ns() - t) / (double)n[m];
		}
	}
	for (m = 0; m < NR_METHODS; m++) {
		qsort(per[m], runs, sizeof(per[m][0]), cmp_double);
		med[m] = per[m][runs / 2];
		best[m] = per[m][0];
	}
	return 0;
}

static int bench_setup(struct bench *b, uint64_t buf_len)
{
	struct regbuf_seg seg = { BUF_IOVA, buf_len };
	struct regbuf_seg *segs;
	const struct regbuf_dma_ctrl ctrl = { 12, 0, 2 * MiB };
	uint64_t nr2m = buf_len >> 21, i;
	struct spdk_map_2m *l2;
	void *va;
	regbuf_iova_t iova;
	int ret;

	b->ctx.buf_len = buf_len;
	b->ctx.phys2m = calloc(nr2m, sizeof(uint64_t));
	segs = calloc(nr2m, sizeof(*segs));
	if (!b->ctx.phys2m || !segs)
		return -ENOMEM;
	/* 2 MiB folios in a shuffled physical order: no two adjacent */
	for (i = 0; i < nr2m; i++) {
		b->ctx.phys2m[i] = UINT64_C(0x4000000000) + ((i * 193) % nr2m) * 2 * 2 * MiB;
		segs[i].addr = b->ctx.phys2m[i];
		segs[i].len = 2 * MiB;
	}
	ret = regbuf_dma_cookie_create(&b->cookie, &seg, 1, buf_len, &ctrl, &ops_iova, &b->ctx, 0);
	if (ret)
		goto out;
	ret = regbuf_dma_cookie_create(&b->cookie_phys, segs, (uint32_t)nr2m, buf_len, &ctrl,
				       &ops_phys, &b->ctx, 0);
	if (ret)
		goto out;
	ret = baseline_dma_create(&b->classic, &ctrl, &ops_iova, &b->ctx, 16, 0);
	if (ret)
		goto out;
	ret = baseline_dma_create(&b->classic_phys, &ctrl, &ops_phys, &b->ctx, 16, 0);
	if (ret)
		goto out;
	/* SPDK's map: the top level is embedded (2 MiB), second levels per touched GiB */
	b->spdk = calloc(1, sizeof(*b->spdk));
	/* C11 aligned_alloc(): the size must be a multiple of the alignment. */
	b->tracker = aligned_alloc(4096, (sizeof(*b->tracker) + 2 * 4096 - 1) & ~(size_t)4095);
	if (!b->spdk || !b->tracker) {
		ret = -ENOMEM;
		goto out;
	}
	b->tracker->prp_bus = (uintptr_t)b->tracker->prp;
	for (i = 0; i < nr2m; i++) {
		uint64_t va2m = BUF_VA + (i << 21);
		unsigned int top = (unsigned int)((va2m >> 30) & ((1u << 18) - 1));

		if (!b->spdk->top[top]) {
			l2 = malloc(sizeof(*l2));
			if (!l2) {
				ret = -ENOMEM;
				goto out;
			}
			memset(l2, 0xff, sizeof(*l2));
			b->spdk->top[top] = l2;
		}
		b->spdk->top[top]->tr[(va2m >> 21) & 511] = BUF_IOVA + (i << 21);
	}
	ret = b_alloc(NULL, 256 * 16, &va, &iova);
	if (ret)
		goto out;
	b->scratch_descs = va;
	b->scratch.descs = va;
	b->scratch.iova = iova;
	b->scratch.nr = 256;
out:
	free(segs);
	return ret;
}

static void bench_teardown(struct bench *b)
{
	unsigned int i;

	regbuf_dma_cookie_destroy(b->cookie);
	regbuf_dma_cookie_destroy(b->cookie_phys);
	baseline_dma_destroy(b->classic);
	baseline_dma_destroy(b->classic_phys);
	if (b->spdk)
		for (i = 0; i < (1u << 18); i++)
			free(b->spdk->top[i]);
	free(b->spdk);
	free(b->tracker);
	free(b->scratch_descs);
	free(b->ctx.phys2m);
}

/* Options are checked by the caller (bench.c: --runs 1..101, --buffer-mib even 4..65536). */
int bench_map(uint32_t runs, uint64_t buf_len, bool json)
{
	double med[NR_METHODS][NR_SIZES], best[NR_METHODS][NR_SIZES];
	unsigned int s, m;
	struct bench *b;
	int i, ret;

	b = calloc(1, sizeof(*b));
	if (!b) {
		cli_err("bench map", "out of memory");
		return 1;
	}
	ret = bench_setup(b, buf_len);
	if (ret) {
		cli_err("bench map", "FAILED: setup: %s", strerror(-ret));
		goto out;
	}
	srand(12345);
	for (s = 0; s < NR_SIZES; s++) {
		for (i = 0; i < NR_OFFS; i++) {
			uint64_t r = ((uint64_t)rand() << 31) ^ (uint64_t)rand();

			b->offs[i] = (r % ((buf_len - sizes[s]) / 512 + 1)) * 512;
		}
		double ms[NR_METHODS], bs[NR_METHODS];

		ret = measure_size(b, sizes[s], runs, 3e5, ms, bs);
		if (ret) {
			cli_err("bench map", "FAILED: %" PRIu64 "-byte I/Os: %s", sizes[s],
				strerror(-ret));
			goto out;
		}
		for (m = 0; m < NR_METHODS; m++) {
			med[m][s] = ms[m];
			best[m][s] = bs[m];
		}
	}
	if (json) {
		printf("{\"bench\": \"map\", \"buffer_bytes\": %" PRIu64 ", \"runs\": %u, "
		       "\"unit\": \"ns_per_io\", \"results\": [", buf_len, runs);
		for (s = 0; s < NR_SIZES; s++)
			for (m = 0; m < NR_METHODS; m++)
				printf("%s{\"size\": %" PRIu64 ", \"method\": \"%s\", "
				       "\"median\": %.2f, \"min\": %.2f}",
				       s || m ? ", " : "", sizes[s], method_name[m], med[m][s],
				       best[m][s]);
		printf("], \"ratios\": [");
		for (s = 0; s < NR_SIZES; s++)
			printf("%s{\"size\": %" PRIu64 ", \"classic_over_premapped\": %.1f, "
			       "\"spdk_over_premapped\": %.1f}", s ? ", " : "", sizes[s],
			       med[M_CLASSIC_PRP][s] / med[M_PREMAP_PRP][s],
			       med[M_SPDK_PRP][s] / med[M_PREMAP_PRP][s]);
		printf("]}\n");
	} else {
		printf("regbuf bench map: ns per I/O (median of %u runs), random 512 B-aligned "
		       "offsets in a %" PRIu64 " MiB buffer\n", runs, buf_len >> 20);
		printf("%-22s", "method");
		for (s = 0; s < NR_SIZES; s++)
			printf(" %9" PRIu64 "K", sizes[s] >> 10);
		printf("\n");
		for (m = 0; m < NR_METHODS; m++) {
			printf("%-22s", method_name[m]);
			for (s = 0; s < NR_SIZES; s++)
				printf(" %10.1f", med[m][s]);
			printf("\n");
		}
		printf("%-22s", "classic/premapped");
		for (s = 0; s < NR_SIZES; s++)
			printf(" %9.1fx", med[M_CLASSIC_PRP][s] / med[M_PREMAP_PRP][s]);
		printf("\n%-22s", "spdk/premapped");
		for (s = 0; s < NR_SIZES; s++)
			printf(" %9.1fx", med[M_SPDK_PRP][s] / med[M_PREMAP_PRP][s]);
		printf("\ngoals: premapped <= 5 ns at every size; >= 20x classic at 128K; "
		       ">= 3x SPDK-style\n");
	}
	ret = 0;
out:
	bench_teardown(b);
	free(b);
	return ret ? 1 : 0;
}
