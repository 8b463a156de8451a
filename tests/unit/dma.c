// SPDX-License-Identifier: MIT
/*
 * unit: premapped NVMe descriptors (include/regbuf/dma.h) checked by an
 * independent descriptor walker (tests/dma_walk.h), with synthetic layouts.
 * Layouts from real memory are in tests/sys/dma.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <time.h>

#include <regbuf/dma.h>

#include "baseline.h"
#include "dma/dma.h"	/* the list arithmetic (dma_div) */
#include "dma_walk.h"
#include "harness.h"

#define KiB (UINT64_C(1) << 10)
#define MiB (UINT64_C(1) << 20)
#define GiB (UINT64_C(1) << 30)

static struct wranges w_got, w_want, w_other;

/* ---- layouts ---- */

struct layout {
	char name[64];
	struct regbuf_seg segs[8192];
	uint32_t nr;
	uint64_t len;
};

static struct layout lay;

static void lay_add(struct layout *l, uint64_t addr, uint64_t len)
{
	l->segs[l->nr].addr = addr;
	l->segs[l->nr].len = len;
	l->nr++;
	l->len += len;
}

/* One IOVA range of @pages 4 KiB pages (plus @base_off lead-in). */
static void lay_iova(struct layout *l, uint64_t pages, uint64_t base_off)
{
	memset(l, 0, sizeof(*l));
	snprintf(l->name, sizeof(l->name), "iova/%llu+%llu", (unsigned long long)pages,
		 (unsigned long long)base_off);
	lay_add(l, UINT64_C(0x100000000) + base_off, pages * 4 * KiB);
}

/* 4 KiB pages scattered over physical memory, with some runs of 2-3 contiguous pages. */
static void lay_4k(struct layout *l, uint64_t pages, uint64_t base_off)
{
	uint64_t i, a = UINT64_C(0x200000000);

	memset(l, 0, sizeof(*l));
	snprintf(l->name, sizeof(l->name), "phys4k/%llu+%llu", (unsigned long long)pages,
		 (unsigned long long)base_off);
	for (i = 0; i < pages; i++) {
		uint64_t off = i ? 0 : base_off;

		if (i % 3 == 0)
			a += ((i * 7919) % 97 + 2) * 4 * KiB;	/* a gap */
		lay_add(l, a + off, 4 * KiB - off);
		a += 4 * KiB;
	}
	l->len = pages * 4 * KiB - base_off;
}

/* 2 MiB folios at scattered addresses, starting mid-folio (as io_uring registers a buffer that starts inside a huge page). */
static void lay_2m(struct layout *l, uint64_t pages, uint64_t base_off)
{
	uint64_t left = pages * 4 * KiB - base_off, first = 100 * 4 * KiB + base_off, f = 0;

	memset(l, 0, sizeof(*l));
	snprintf(l->name, sizeof(l->name), "phys2m/%llu+%llu", (unsigned long long)pages,
		 (unsigned long long)base_off);
	while (left) {
		uint64_t a = UINT64_C(0x4000000000) + ((f * 37) % 61) * 2 * MiB * 3;
		uint64_t in = f ? 0 : first, n = 2 * MiB - in < left ? 2 * MiB - in : left;

		lay_add(l, a + in, n);
		left -= n;
		f++;
	}
}

/* Mixed folio sizes: 64 KiB, 4 KiB, 2 MiB and 1 GiB runs. */
static void lay_mixed(struct layout *l, uint64_t pages, uint64_t base_off)
{
	static const uint64_t sizes[] = { 64 * KiB, 4 * KiB, 2 * MiB, 8 * KiB, 1 * GiB };
	uint64_t left = pages * 4 * KiB - base_off, a = UINT64_C(0x8000000000);
	unsigned int k = 0;

	memset(l, 0, sizeof(*l));
	snprintf(l->name, sizeof(l->name), "mixed/%llu+%llu", (unsigned long long)pages,
		 (unsigned long long)base_off);
	while (left) {
		uint64_t sz = sizes[k % 5], in = k ? 0 : base_off;
		uint64_t n = sz - in < left ? sz - in : left;

		a = (a + sz + 3 * 4 * KiB * (k + 1)) & ~(sz - 1);
		lay_add(l, a + in, n);
		a += sz;
		left -= n;
		k++;
	}
}

/* ---- sweeps ---- */

struct counts {
	uint64_t prp, prp_rejected, sgl, sgl_rejected, copy_a_bad, copy_b_bad;
};

static struct counts total;

static uint32_t expected_descs(const struct layout *l, uint64_t off, uint64_t len)
{
	ref_ranges(&w_want, l->segs, l->nr, off, len);
	return w_want.n;
}

/* One I/O against one cookie: PRP (both copies) and SGL, every answer walked. */
static int check_io(const struct regbuf_dma_cookie *c, struct tdev *d, const struct wctrl *ctl,
		    const struct layout *l, uint64_t off, uint64_t len, struct counts *n)
{
	uint64_t p1, p2;
	bool in_range = len && off <= l->len && len <= l->len - off;
	bool in_mdts = !ctl->mdts_bytes || len <= ctl->mdts_bytes;
	struct regbuf_nvme_sgl_desc sgl1;
	struct regbuf_dma_sgl_scratch scratch;
	int ret, st, i;

	if (regbuf_dma_cookie_flags(c) & REGBUF_DMA_COOKIE_F_PRP) {
		ret = regbuf_dma_prp(c, off, len, &p1, &p2);
		if (!in_range || !in_mdts) {
			if (ret != -EINVAL)
				return T_FAILF("%s prp off %llu len %llu: %d, expected -EINVAL",
					       l->name, (unsigned long long)off,
					       (unsigned long long)len, ret);
			n->prp_rejected++;
		} else if ((l->segs[0].addr + off) & 3) {
			/* NVMe 1.4 §4.3: PRP1 is dword aligned; the walker agrees. */
			if (ret != -EINVAL)
				return T_FAILF("%s prp off %llu: misaligned PRP1 accepted",
					       l->name, (unsigned long long)off);
			n->prp_rejected++;
		} else {
			bool ok[2];

			if (ret)
				return T_FAILF("%s prp off %llu len %llu: %d", l->name,
					       (unsigned long long)off, (unsigned long long)len,
					       ret);
			ref_ranges(&w_want, l->segs, l->nr, off, len);
			st = walk_prp(d, ctl, p1, p2, len, &w_got);
			if (st || !wr_equal(&w_got, &w_want))
				return T_FAILF("%s prp off %llu len %llu: walker status 0x%x, "
					       "%u ranges vs %u expected", l->name,
					       (unsigned long long)off, (unsigned long long)len, st,
					       w_got.n, w_want.n);
			/* Both copies: at least one works, and the chosen one is among them. */
			for (i = 0; i < 2; i++) {
				uint64_t q1, q2;

				dma_prp_copy(c, off, len, (unsigned int)i, &q1, &q2);
				st = walk_prp(d, ctl, q1, q2, len, &w_other);
				ok[i] = !st && wr_equal(&w_other, &w_want);
				if (q1 == p1 && q2 == p2 && !ok[i])
					return T_FAILF("%s prp off %llu len %llu: chose copy %d, "
						       "which does not work", l->name,
						       (unsigned long long)off,
						       (unsigned long long)len, i);
			}
			if (!ok[0] && !ok[1])
				return T_FAILF("%s prp off %llu len %llu: neither list copy works",
					       l->name, (unsigned long long)off,
					       (unsigned long long)len);
			n->copy_a_bad += !ok[0];
			n->copy_b_bad += !ok[1];
			n->prp++;
		}
	}
	if (regbuf_dma_cookie_flags(c) & REGBUF_DMA_COOKIE_F_SGL) {
		scratch.descs = (struct regbuf_nvme_sgl_desc *)tdev_ptr(d, d->r[d->n - 1].iova, 0);
		scratch.iova = d->r[d->n - 1].iova;
		scratch.nr = 64;
		ret = regbuf_dma_sgl(c, off, len, &sgl1, &scratch);
		if (!in_range || !in_mdts) {
			if (ret != -EINVAL)
				return T_FAILF("%s sgl off %llu len %llu: %d, expected -EINVAL",
					       l->name, (unsigned long long)off,
					       (unsigned long long)len, ret);
			n->sgl_rejected++;
		} else if (ret == -ENOSPC) {
			if (expected_descs(l, off, len) <= 64)
				return T_FAILF("%s sgl off %llu len %llu: -ENOSPC for %u descs",
					       l->name, (unsigned long long)off,
					       (unsigned long long)len, w_want.n);
			n->sgl_rejected++;
		} else {
			if (ret < 0)
				return T_FAILF("%s sgl off %llu len %llu: %d", l->name,
					       (unsigned long long)off, (unsigned long long)len,
					       ret);
			ref_ranges(&w_want, l->segs, l->nr, off, len);
			st = walk_sgl(d, ctl, &sgl1, len, &w_got);
			if (st || !wr_equal(&w_got, &w_want))
				return T_FAILF("%s sgl off %llu len %llu: walker status 0x%x, "
					       "%u ranges vs %u expected", l->name,
					       (unsigned long long)off, (unsigned long long)len, st,
					       w_got.n, w_want.n);
			n->sgl++;
		}
	}
	return T_PASS;
}

/* The scratch region: 64 descriptors of device-visible memory, allocated last. */
static int scratch_alloc(struct tdev *d)
{
	void *va;
	regbuf_iova_t iova;

	return tdev_alloc(d, 64 * 16, &va, &iova);
}

static int sweep_layout(const struct layout *l, const struct regbuf_dma_ctrl *ctrl,
			unsigned int want_flags)
{
	static const uint64_t list_pages[] = { 0, 1, 2, 254, 255, 256, 257, 258, 507, 508, 509,
					       510, 511, 512, 513, 764, 765, 766, 767, 1018,
					       1019, 1020, 1021, 1022, 1023, 1024, 1025 };
	static const uint64_t in_page[] = { 0, 1, 4, 511, 512, 4092, 4095, 4096 };
	static const uint64_t small[] = { 1, 2, 3, 4, 5, 8, 511, 512, 513, 1024 };
	struct wctrl ctl = { ctrl->page_shift, ctrl->max_bytes, false };
	uint64_t ps = UINT64_C(1) << ctrl->page_shift, mdts_pages = ctrl->max_bytes / ps;
	struct regbuf_dma_cookie *c;
	struct counts n = { 0 };
	struct tdev d;
	uint64_t lens[4096];
	unsigned int nl = 0, a, b, k;
	int ret = T_PASS;

	tdev_init(&d);
	t_ok(regbuf_dma_cookie_create(&c, l->segs, l->nr, l->len, ctrl, &tdev_ops, &d, 0));
	if ((regbuf_dma_cookie_flags(c) & want_flags) != want_flags) {
		regbuf_dma_cookie_destroy(c);
		return T_FAILF("%s: cookie flags 0x%x, want 0x%x", l->name,
			       regbuf_dma_cookie_flags(c), want_flags);
	}
	t_ok(scratch_alloc(&d));
	for (a = 0; a < sizeof(small) / sizeof(small[0]); a++)
		lens[nl++] = small[a];
	/* every page count to MDTS when that is small, boundary counts otherwise */
	for (k = 1; k <= mdts_pages + 1; k++) {
		if (mdts_pages > 160 && !(k < 40 || (k % 256) < 4 || (k % 256) > 251 ||
					  (k % 511) < 3 || (k % 511) > 508 || k > mdts_pages - 3))
			continue;
		lens[nl++] = k * ps - 4;
		lens[nl++] = k * ps - 1;
		lens[nl++] = k * ps;
		lens[nl++] = k * ps + 4;
	}
	lens[nl++] = ctrl->max_bytes - 1;
	lens[nl++] = ctrl->max_bytes + 1;
	for (a = 0; a < sizeof(list_pages) / sizeof(list_pages[0]) && ret == T_PASS; a++) {
		for (b = 0; b < sizeof(in_page) / sizeof(in_page[0]) && ret == T_PASS; b++) {
			uint64_t off = list_pages[a] * ps + in_page[b];

			if (off > l->len)
				continue;
			for (k = 0; k < nl && ret == T_PASS; k++)
				ret = check_io(c, &d, &ctl, l, off, lens[k], &n);
			/* and the I/O that runs exactly to the end of the buffer */
			if (ret == T_PASS && off < l->len)
				ret = check_io(c, &d, &ctl, l, off, l->len - off, &n);
		}
	}
	regbuf_dma_cookie_destroy(c);
	/* the scratch is the only device memory left: the cookie gave back all of its own */
	if (ret == T_PASS && d.n != 1)
		ret = T_FAILF("%s: %u device allocations left", l->name, d.n);
	tdev_free(&d, d.r[d.n - 1].va, d.r[d.n - 1].len, d.r[d.n - 1].iova);
	total.prp += n.prp;
	total.prp_rejected += n.prp_rejected;
	total.sgl += n.sgl;
	total.sgl_rejected += n.sgl_rejected;
	total.copy_a_bad += n.copy_a_bad;
	total.copy_b_bad += n.copy_b_bad;
	return ret;
}

static const uint64_t sweep_pages[] = { 1, 2, 511, 512, 513, 1022, 1023 };

static int sweep_all(void (*mk)(struct layout *, uint64_t, uint64_t),
		     const struct regbuf_dma_ctrl *ctrl, unsigned int want)
{
	static const uint64_t base_offs[] = { 0, 512, 4092 };
	unsigned int i, j;

	for (i = 0; i < sizeof(sweep_pages) / sizeof(sweep_pages[0]); i++) {
		for (j = 0; j < 3; j++) {
			int ret;

			if (sweep_pages[i] == 1 && base_offs[j] == 4092)
				continue;
			mk(&lay, sweep_pages[i], base_offs[j]);
			ret = sweep_layout(&lay, ctrl, want);
			if (ret != T_PASS)
				return ret;
		}
	}
	return T_PASS;
}

static const struct regbuf_dma_ctrl ctrl_qemu = { 12, 0, 512 * KiB };	/* QEMU 7.2: MDTS 7 */
static const struct regbuf_dma_ctrl ctrl_big = { 12, 0, 4 * MiB };	/* 2 chain slots */
static const struct regbuf_dma_ctrl ctrl_8k = { 13, 0, 1 * MiB };	/* CC.MPS = 1 */

#define BOTH (REGBUF_DMA_COOKIE_F_PRP | REGBUF_DMA_COOKIE_F_SGL)

static int sweep_iova_mdts_512k(void)
{
	return sweep_all(lay_iova, &ctrl_qemu, BOTH | REGBUF_DMA_COOKIE_F_CONTIG);
}

static int sweep_iova_mdts_4m(void)
{
	int ret = sweep_all(lay_iova, &ctrl_big, BOTH | REGBUF_DMA_COOKIE_F_CONTIG);

	/* not vacuous: some I/Os must have needed copy B, some copy A */
	if (ret == T_PASS && (!total.copy_a_bad || !total.copy_b_bad))
		return T_FAILF("no I/O ended on a chain slot (A bad %llu, B bad %llu)",
			       (unsigned long long)total.copy_a_bad,
			       (unsigned long long)total.copy_b_bad);
	return ret;
}

static int sweep_iova_page_8k(void)
{
	return sweep_all(lay_iova, &ctrl_8k, BOTH | REGBUF_DMA_COOKIE_F_CONTIG);
}

static int sweep_phys_4k(void)
{
	return sweep_all(lay_4k, &ctrl_big, BOTH);
}

static int sweep_phys_2m(void)
{
	return sweep_all(lay_2m, &ctrl_big, BOTH);
}

static int sweep_phys_mixed(void)
{
	return sweep_all(lay_mixed, &ctrl_qemu, BOTH);
}

/*
 * Every length from 1 byte to MDTS (every byte to 9000, then every dword:
 * PRP entries are dword aligned, lengths are whole blocks in practice) at
 * the offsets where the first list entry is slot 0, 510 or 511 of a list page.
 */
static int sweep_every_length_to_mdts(void)
{
	void (*mks[])(struct layout *, uint64_t, uint64_t) = { lay_iova, lay_2m, lay_4k };
	static const uint64_t offs[] = { 4092, 509 * 4096 + 8, 510 * 4096 + 4, 511 * 4096 };
	struct wctrl ctl = { 12, 512 * KiB, true };
	struct regbuf_dma_cookie *c;
	struct counts n = { 0 };
	unsigned int m, o;
	uint64_t len;
	struct tdev d;
	int ret = T_PASS;

	for (m = 0; m < 3 && ret == T_PASS; m++) {
		mks[m](&lay, 1024, 0);
		tdev_init(&d);
		t_ok(regbuf_dma_cookie_create(&c, lay.segs, lay.nr, lay.len, &ctrl_qemu, &tdev_ops,
					      &d, 0));
		t_ok(scratch_alloc(&d));
		for (o = 0; o < 4 && ret == T_PASS; o++)
			for (len = 1; len <= 512 * KiB && ret == T_PASS; len += len < 9000 ? 1 : 4)
				ret = check_io(c, &d, &ctl, &lay, offs[o], len, &n);
		regbuf_dma_cookie_destroy(c);
		tdev_free(&d, d.r[d.n - 1].va, d.r[d.n - 1].len, d.r[d.n - 1].iova);
		t_check_eq(d.n, 0);
	}
	printf("# every length: %llu PRP and %llu SGL I/Os walked\n", (unsigned long long)n.prp,
	       (unsigned long long)n.sgl);
	total.prp += n.prp;
	total.sgl += n.sgl;
	return ret;
}

/* 4 KiB physical pages under an 8 KiB controller page: PRP impossible, SGL works (NVMe 1.4 §4.3). */
static int sweep_phys_4k_page_8k_sgl_only(void)
{
	struct regbuf_dma_cookie *c;
	struct tdev d;

	lay_4k(&lay, 513, 0);
	tdev_init(&d);
	t_ok(regbuf_dma_cookie_create(&c, lay.segs, lay.nr, lay.len, &ctrl_8k, &tdev_ops, &d, 0));
	t_check(!(regbuf_dma_cookie_flags(c) & REGBUF_DMA_COOKIE_F_PRP));
	{
		uint64_t p1, p2;

		t_check_eq(regbuf_dma_prp(c, 0, 8192, &p1, &p2), -EOPNOTSUPP);
	}
	regbuf_dma_cookie_destroy(c);
	t_check_eq(d.n, 0);
	return sweep_all(lay_4k, &ctrl_8k, REGBUF_DMA_COOKIE_F_SGL);
}

/* Segments that do not meet on page boundaries: PRP refused, SGL per segment. */
static int middle_segment_not_page_aligned(void)
{
	struct regbuf_seg segs[] = {
		{ 0x10000, 6144 }, { 0x30000 + 512, 4096 }, { 0x50000, 8192 }
	};
	struct wctrl ctl = { 12, 0, false };
	struct regbuf_nvme_sgl_desc sgl1;
	struct regbuf_dma_sgl_scratch s;
	struct regbuf_dma_cookie *c;
	struct tdev d;
	uint64_t p1, p2;
	void *va;

	tdev_init(&d);
	t_ok(regbuf_dma_cookie_create(&c, segs, 3, 18432, NULL, &tdev_ops, &d, 0));
	t_check_eq(regbuf_dma_cookie_flags(c) & REGBUF_DMA_COOKIE_F_PRP, 0);
	t_check_eq(regbuf_dma_prp(c, 0, 8192, &p1, &p2), -EOPNOTSUPP);
	t_ok(tdev_alloc(&d, 64 * 16, &va, &s.iova));
	s.descs = va;
	s.nr = 64;
	t_check_eq(regbuf_dma_sgl(c, 100, 18000, &sgl1, &s), 3);
	t_check_eq(walk_sgl(&d, &ctl, &sgl1, 18000, &w_got), WS_OK);
	ref_ranges(&w_want, segs, 3, 100, 18000);
	t_check(wr_equal(&w_got, &w_want));
	regbuf_dma_cookie_destroy(c);
	tdev_free(&d, va, 64 * 16, s.iova);
	/* boundaries off any alignment but 4 KiB apart: still SGL (granule phase) */
	segs[0].len = 6100;
	t_ok(regbuf_dma_cookie_create(&c, segs, 3, 18388, NULL, &tdev_ops, &d, 0));
	t_ok(tdev_alloc(&d, 64 * 16, &va, &s.iova));
	s.descs = va;
	t_check_eq(regbuf_dma_sgl(c, 6000, 4300, &sgl1, &s), 3);
	t_check_eq(walk_sgl(&d, &ctl, &sgl1, 4300, &w_got), WS_OK);
	ref_ranges(&w_want, segs, 3, 6000, 4300);
	t_check(wr_equal(&w_got, &w_want));
	regbuf_dma_cookie_destroy(c);
	tdev_free(&d, va, 64 * 16, s.iova);
	/* boundaries 100 bytes apart: a granule table would be absurd; neither PRP nor SGL */
	segs[1].len = 100;
	t_check_eq(regbuf_dma_cookie_create(&c, segs, 3, 14392, NULL, &tdev_ops, &d, 0),
		   -EOPNOTSUPP);
	t_check_eq(d.n, 0);
	t_check_eq(d.bad_frees, 0);
	return T_PASS;
}

/*
 * The claim of the DOC comment, exhaustively: for every page-granular I/O
 * shape over three list pages (first page f, last page l, l - f from 2 to
 * 600 entries), at least one list copy walks to exactly the requested pages,
 * and regbuf_dma_prp() picks a working one.
 */
static int every_io_has_a_working_copy(void)
{
	const uint64_t pages = 1600, ps = 4096;
	struct regbuf_seg seg = { UINT64_C(0x100000000), pages * ps };
	struct wctrl ctl = { 12, 0, false };
	struct regbuf_dma_cookie *c;
	uint64_t f, l, shapes = 0, bad[2] = { 0, 0 };
	struct tdev d;

	tdev_init(&d);
	t_ok(regbuf_dma_cookie_create(&c, &seg, 1, seg.len, NULL, &tdev_ops, &d, 0));
	for (f = 0; f < pages; f++) {
		for (l = f + 2; l < pages && l <= f + 600; l++) {
			uint64_t off = f * ps, len = (l - f + 1) * ps, p1, p2;
			bool ok[2];
			unsigned int i;

			for (i = 0; i < 2; i++) {
				dma_prp_copy(c, off, len, i, &p1, &p2);
				ok[i] = walk_prp(&d, &ctl, p1, p2, len, &w_got) == WS_OK &&
					w_got.n == 1 && w_got.r[0].addr == seg.addr + off &&
					w_got.r[0].len == len;
				bad[i] += !ok[i];
			}
			if (!ok[0] && !ok[1])
				return T_FAILF("f %llu l %llu: no copy works",
					       (unsigned long long)f, (unsigned long long)l);
			t_ok(regbuf_dma_prp(c, off, len, &p1, &p2));
			t_check(walk_prp(&d, &ctl, p1, p2, len, &w_got) == WS_OK && w_got.n == 1 &&
				w_got.r[0].len == len);
			shapes++;
		}
	}
	regbuf_dma_cookie_destroy(c);
	/* exactly the shapes whose last entry opens a list page fail in copy A */
	t_check(bad[0] > 0 && bad[1] > 0);
	printf("# %llu I/O shapes, copy A fails %llu, copy B fails %llu, never both\n",
	       (unsigned long long)shapes, (unsigned long long)bad[0],
	       (unsigned long long)bad[1]);
	return T_PASS;
}

/* ---- named shapes: pool sizes, the 3-page list, list page edges (NVMe 1.4 §4.3) ---- */

static int prp_shapes(void)
{
	struct regbuf_seg seg = { UINT64_C(0x100000000), 8 * MiB };
	struct wctrl ctl = { 12, 0, false };
	struct regbuf_dma_cookie *c;
	struct tdev d;
	uint64_t p1, p2;

	tdev_init(&d);
	t_ok(regbuf_dma_cookie_create(&c, &seg, 1, seg.len, NULL, &tdev_ops, &d, 0));
	/* PRP1 only: offset + len <= 4096 */
	t_ok(regbuf_dma_prp(c, 1024, 3072, &p1, &p2));
	t_check_eq(p1, seg.addr + 1024);
	t_check_eq(p2, 0);
	/* PRP1 + PRP2 as data: len <= 8192 - off */
	t_ok(regbuf_dma_prp(c, 1024, 8192 - 1024, &p1, &p2));
	t_check_eq(p2, seg.addr + 4096);
	/* a single segment spanning 3 controller pages needs a list */
	t_ok(regbuf_dma_prp(c, 1024, 8192 - 1020, &p1, &p2));
	t_check(p2 != seg.addr + 4096);
	t_check_eq(walk_prp(&d, &ctl, p1, p2, 8192 - 1020, &w_got), WS_OK);
	t_check_eq(w_got.elems, 3);
	/* lists of 32 vs 33, 512 vs 513 entries, and 511 + link + more */
	{
		static const uint64_t entries[] = { 32, 33, 510, 511, 512, 513, 1021, 1022, 1023 };
		unsigned int i;

		for (i = 0; i < sizeof(entries) / sizeof(entries[0]); i++) {
			uint64_t len = (entries[i] + 1) * 4096;

			t_ok(regbuf_dma_prp(c, 0, len, &p1, &p2));
			t_check_eq(walk_prp(&d, &ctl, p1, p2, len, &w_got), WS_OK);
			t_check_eq(w_got.elems, entries[i] + 1);
			t_check(w_got.n == 1 && w_got.r[0].addr == seg.addr &&
				w_got.r[0].len == len);
		}
	}
	/* first PRP list index 510/511/512 inside each list page */
	{
		uint64_t first, len;

		for (first = 509; first <= 1024; first++) {
			if (!(first % 511 <= 2 || first % 511 >= 509))
				continue;
			for (len = 2; len <= 4; len++) {
				uint64_t off = (first - 1) * 4096, bytes = len * 4096;

				t_ok(regbuf_dma_prp(c, off, bytes, &p1, &p2));
				t_check_eq(walk_prp(&d, &ctl, p1, p2, bytes, &w_got), WS_OK);
				t_check(w_got.n == 1 && w_got.r[0].addr == seg.addr + off &&
					w_got.r[0].len == bytes);
			}
		}
	}
	regbuf_dma_cookie_destroy(c);
	return T_PASS;
}

/* The flat-list trap (NVMe 1.4 §4.3, the last entry of a list page chains): a list without chain slots fails exactly there. */
static int walker_reads_last_slot_as_data(void)
{
	struct wctrl ctl = { 12, 0, false };
	regbuf_le64 *list;
	regbuf_iova_t iova;
	struct tdev d;
	void *va;
	unsigned int i;

	tdev_init(&d);
	t_ok(tdev_alloc(&d, 2 * 4096, &va, &iova));
	list = va;
	for (i = 0; i < 1024; i++)
		list[i] = regbuf_cpu_to_le64(UINT64_C(0x100000000) + (uint64_t)(i + 1) * 4096);
	/* PRP1 page 510, list slots 510 and 511: slot 511 is data when it is the last page */
	t_check_eq(walk_prp(&d, &ctl, 0x100000000 + 510 * 4096, iova + 510 * 8, 3 * 4096, &w_got),
		   WS_OK);
	t_check_eq(w_got.n, 1);
	t_check_eq(w_got.r[0].len, 3 * 4096);
	/* one more page: slot 511 is now a chain pointer, to a data page: not the bytes asked */
	t_check(walk_prp(&d, &ctl, 0x100000000 + 510 * 4096, iova + 510 * 8, 4 * 4096,
			 &w_got) != WS_OK || w_got.n != 1);
	tdev_free(&d, va, 2 * 4096, iova);
	return T_PASS;
}

/* The walker rejects what a controller rejects (NVMe 1.4 §4.3/§4.4; QEMU 7.2 §5 table). */
static int walker_rejects_bad_descriptors(void)
{
	struct wctrl ctl = { 12, 512 * KiB, true };
	struct regbuf_nvme_sgl_desc sgl1, *seg;
	regbuf_le64 *list;
	regbuf_iova_t iova;
	struct tdev d;
	void *va;
	unsigned int i;

	tdev_init(&d);
	t_ok(tdev_alloc(&d, 4096, &va, &iova));
	list = va;
	for (i = 0; i < 512; i++)
		list[i] = regbuf_cpu_to_le64(UINT64_C(0x100000000) + (uint64_t)i * 4096);
	t_check_eq(walk_prp(&d, &ctl, 0x100000002, 0, 100, &w_got), WS_INVALID_PRP_OFFSET);
	t_check_eq(walk_prp(&d, &ctl, 0x100000000, 0x100000800, 8192, &w_got),
		   WS_INVALID_PRP_OFFSET);		/* PRP2 data pointer unaligned */
	t_check_eq(walk_prp(&d, &ctl, 0x100000000, iova + 4, 3 * 4096, &w_got),
		   WS_INVALID_PRP_OFFSET);		/* list pointer not qword aligned */
	list[3] = regbuf_cpu_to_le64(0x100000010);
	t_check_eq(walk_prp(&d, &ctl, 0x100000000, iova, 6 * 4096, &w_got),
		   WS_INVALID_PRP_OFFSET);		/* list entry unaligned */
	list[511] = regbuf_cpu_to_le64(iova + 8);
	t_check_eq(walk_prp(&d, &ctl, 0x100000000, iova + 509 * 8, 4 * 4096, &w_got),
		   WS_INVALID_PRP_OFFSET);		/* chain pointer unaligned */
	t_check_eq(walk_prp(&d, &ctl, 0x100000000, 0xdead000, 3 * 4096, &w_got),
		   WS_DATA_TRAS_ERROR);			/* list not readable */
	t_check_eq(walk_prp(&d, &ctl, 0x100000000, 0, 512 * KiB + 4, &w_got), WS_INVALID_FIELD);

	seg = va;
	regbuf_nvme_sgl_set(&sgl1, 0x1000, 100, REGBUF_NVME_SGL_DATA_BLOCK);
	t_check_eq(walk_sgl(&d, &ctl, &sgl1, 100, &w_got), WS_OK);
	t_check_eq(walk_sgl(&d, &ctl, &sgl1, 101, &w_got), WS_DATA_SGL_LEN_INVALID);
	t_check_eq(walk_sgl(&d, &ctl, &sgl1, 99, &w_got), WS_DATA_SGL_LEN_INVALID);
	regbuf_nvme_sgl_set(&sgl1, 0x1000, 100, REGBUF_NVME_SGL_BIT_BUCKET);
	t_check_eq(walk_sgl(&d, &ctl, &sgl1, 100, &w_got), WS_INVALID_SGL_SEG_DESCR);
	regbuf_nvme_sgl_set(&sgl1, iova, 0, REGBUF_NVME_SGL_LAST_SEGMENT);
	t_check_eq(walk_sgl(&d, &ctl, &sgl1, 100, &w_got), WS_INVALID_SGL_SEG_DESCR);
	regbuf_nvme_sgl_set(&sgl1, iova, 17, REGBUF_NVME_SGL_LAST_SEGMENT);
	t_check_eq(walk_sgl(&d, &ctl, &sgl1, 100, &w_got), WS_INVALID_SGL_SEG_DESCR);
	regbuf_nvme_sgl_set(&seg[0], 0x1000, 50, REGBUF_NVME_SGL_DATA_BLOCK);
	regbuf_nvme_sgl_set(&seg[1], 0x9000, 50, REGBUF_NVME_SGL_DATA_BLOCK);
	regbuf_nvme_sgl_set(&sgl1, iova, 32, REGBUF_NVME_SGL_LAST_SEGMENT);
	t_check_eq(walk_sgl(&d, &ctl, &sgl1, 100, &w_got), WS_OK);
	t_check_eq(w_got.n, 2);
	regbuf_nvme_sgl_set(&seg[1], 0x9000, 50, REGBUF_NVME_SGL_BIT_BUCKET);
	t_check_eq(walk_sgl(&d, &ctl, &sgl1, 100, &w_got), WS_INVALID_SGL_SEG_DESCR);
	regbuf_nvme_sgl_set(&seg[0], 0x1000, 50, REGBUF_NVME_SGL_SEGMENT);
	regbuf_nvme_sgl_set(&seg[1], 0x9000, 50, REGBUF_NVME_SGL_DATA_BLOCK);
	t_check_eq(walk_sgl(&d, &ctl, &sgl1, 100, &w_got), WS_INVALID_NUM_SGL_DESCRS);
	regbuf_nvme_sgl_set(&seg[0], 0x1000, 50, REGBUF_NVME_SGL_KEYED_DATA);
	t_check_eq(walk_sgl(&d, &ctl, &sgl1, 100, &w_got), WS_SGL_DESCR_TYPE_INVALID);
	/* a Last Segment whose segment chains on */
	regbuf_nvme_sgl_set(&seg[0], 0x1000, 50, REGBUF_NVME_SGL_DATA_BLOCK);
	regbuf_nvme_sgl_set(&seg[1], iova + 64, 16, REGBUF_NVME_SGL_LAST_SEGMENT);
	t_check_eq(walk_sgl(&d, &ctl, &sgl1, 100, &w_got), WS_INVALID_SGL_SEG_DESCR);
	/* ... which a Segment may do */
	regbuf_nvme_sgl_set(&seg[4], 0x9000, 50, REGBUF_NVME_SGL_DATA_BLOCK);
	regbuf_nvme_sgl_set(&sgl1, iova, 32, REGBUF_NVME_SGL_SEGMENT);
	t_check_eq(walk_sgl(&d, &ctl, &sgl1, 100, &w_got), WS_OK);
	t_check_eq(walk_sgl(&d, &ctl, &sgl1, 512 * KiB + 1, &w_got), WS_INVALID_FIELD);
	tdev_free(&d, va, 4096, iova);
	return T_PASS;
}

/* ---- random differential: premapped vs the classic chain ---- */

static int differential_one(void (*mk)(struct layout *, uint64_t, uint64_t), uint64_t pages,
			    uint64_t base_off, uint64_t nr_ios, uint64_t *done)
{
	const struct regbuf_dma_ctrl ctrl = { 12, 0, 4 * MiB };
	struct wctrl ctl = { 12, 4 * MiB, false };
	struct baseline_dma_req req;
	struct baseline_dma *cl;
	struct regbuf_dma_cookie *c;
	struct tdev d;
	uint64_t i;

	static uint64_t seg_off[8192];

	mk(&lay, pages, base_off);
	seg_off[0] = 0;
	for (i = 1; i < lay.nr; i++)
		seg_off[i] = seg_off[i - 1] + lay.segs[i - 1].len;
	tdev_init(&d);
	d.seg_off = seg_off;
	d.segs = lay.segs;
	d.nr_segs = lay.nr;
	d.vbase = UINT64_C(0x7f0000000000) + (lay.segs[0].addr & 4095);
	d.vlen = lay.len;
	t_ok(regbuf_dma_cookie_create(&c, lay.segs, lay.nr, lay.len, &ctrl, &tdev_ops, &d, 0));
	t_ok(baseline_dma_create(&cl, &ctrl, &tdev_ops, &d, 16, 0));
	for (i = 0; i < nr_ios; i++) {
		uint64_t r = t_rand(), off, len, p1, p2;
		unsigned int bits = (unsigned int)(r % 23);	/* log-uniform length */
		int st;

		len = (t_rand() & ((UINT64_C(2) << bits) - 1)) + 1;
		if (len > 4 * MiB)
			len = 4 * MiB;
		if (len > lay.len)
			len = lay.len;
		off = (t_rand() % (lay.len - len + 1)) & ~(uint64_t)3;
		if ((lay.segs[0].addr + off) & 3)
			off += 4 - ((lay.segs[0].addr + off) & 3);
		if (off + len > lay.len)
			continue;
		t_ok(regbuf_dma_prp(c, off, len, &p1, &p2));
		st = walk_prp(&d, &ctl, p1, p2, len, &w_got);
		if (st)
			return T_FAILF("%s premapped off %llu len %llu: 0x%x", lay.name,
				       (unsigned long long)off, (unsigned long long)len, st);
		t_ok(baseline_dma_prp(cl, d.vbase + off, len, &req));
		st = walk_prp(&d, &ctl, req.prp1, req.prp2, len, &w_other);
		baseline_dma_done(cl, &req);
		if (st)
			return T_FAILF("%s classic off %llu len %llu: 0x%x", lay.name,
				       (unsigned long long)off, (unsigned long long)len, st);
		if (!wr_equal(&w_got, &w_other))
			return T_FAILF("%s off %llu len %llu: premapped and classic differ",
				       lay.name, (unsigned long long)off, (unsigned long long)len);
		/* every tenth: SGL both ways too */
		if (i % 10 == 0 && len <= 1 * MiB) {
			struct regbuf_nvme_sgl_desc s1;
			struct regbuf_dma_sgl_scratch s = { 0 };
			void *va;
			int ret;

			t_ok(tdev_alloc(&d, 256 * 16, &va, &s.iova));
			s.descs = va;
			s.nr = 256;
			ret = regbuf_dma_sgl(c, off, len, &s1, &s);
			if (ret >= 0) {
				t_check_eq(walk_sgl(&d, &ctl, &s1, len, &w_got), WS_OK);
				ret = baseline_dma_sgl(cl, d.vbase + off, len, &req);
				if (ret == 0) {
					t_check_eq(walk_sgl(&d, &ctl, &req.sgl1, len, &w_other),
						   WS_OK);
					baseline_dma_done(cl, &req);
					t_check(wr_equal(&w_got, &w_other));
				} else {
					t_check_eq(ret, -E2BIG);
				}
			} else {
				t_check_eq(ret, -ENOSPC);
			}
			tdev_free(&d, va, 256 * 16, s.iova);
		}
		(*done)++;
	}
	baseline_dma_destroy(cl);
	regbuf_dma_cookie_destroy(c);
	t_check_eq(d.n, 0);
	t_check_eq(d.bad_frees, 0);
	return T_PASS;
}

static int differential_random_1m(void)
{
	uint64_t done = 0;
	struct timespec t0, t1;
	int ret;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	ret = differential_one(lay_iova, 262144, 0, 250000, &done);
	if (ret == T_PASS)
		ret = differential_one(lay_4k, 8192, 512, 250000, &done);
	if (ret == T_PASS)
		ret = differential_one(lay_2m, 65536, 1024, 250000, &done);
	if (ret == T_PASS)
		ret = differential_one(lay_mixed, 300000, 0, 250000, &done);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	if (ret != T_PASS)
		return ret;
	t_check(done >= 999000);
	printf("# differential: %llu random I/Os, premapped == classic, %.1f s\n",
	       (unsigned long long)done,
	       (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
	return T_PASS;
}

/* ---- allocation failure, argument checks, wire format ---- */

static int enomem_every_allocation_nothing_leaked(void)
{
	void (*mks[])(struct layout *, uint64_t, uint64_t) = { lay_iova, lay_4k, lay_2m };
	unsigned int m;

	for (m = 0; m < 3; m++) {
		int fail;

		mks[m](&lay, 1023, 512);
		for (fail = 0;; fail++) {
			struct regbuf_dma_cookie *c = NULL;
			struct tdev d;
			int ret;

			tdev_init(&d);
			d.fail_at = fail;
			ret = regbuf_dma_cookie_create(&c, lay.segs, lay.nr, lay.len, NULL,
						       &tdev_ops, &d, 0);
			if (ret == 0) {
				t_check(fail >= 2);
				regbuf_dma_cookie_destroy(c);
				t_check_eq(d.n, 0);
				break;
			}
			t_check_eq(ret, -ENOMEM);
			t_check(c == NULL);
			t_check_eq(d.n, 0);		/* every device allocation given back */
			t_check_eq(d.bad_frees, 0);
		}
	}
	{
		struct baseline_dma *cl = NULL;
		struct tdev d;

		int fail;

		for (fail = 0; fail < 2; fail++) {
			tdev_init(&d);
			d.fail_at = fail;
			t_check_eq(baseline_dma_create(&cl, NULL, &tdev_ops, &d, 4, 0),
				   -ENOMEM);
			t_check(cl == NULL);
			t_check_eq(d.n, 0);
		}
	}
	return T_PASS;
}

static int misaligned_list_memory(void *priv, size_t len, void **vaddr, regbuf_iova_t *iova)
{
	int ret = tdev_alloc(priv, len, vaddr, iova);

	if (!ret)
		((struct tdev *)priv)->r[((struct tdev *)priv)->n - 1].iova += 8, *iova += 8;
	return ret;
}

static int create_rejects_bad_arguments(void)
{
	struct regbuf_seg seg = { 0x100000, 64 * KiB };
	struct regbuf_dma_ctrl bad_shift = { 11, 0, 0 }, big_shift = { 28, 0, 0 };
	struct regbuf_dma_ctrl bad_mdts = { 12, 0, 4097 }, rsvd = { 12, 1, 0 };
	struct regbuf_dma_ops mis = tdev_ops;
	struct regbuf_dma_cookie *c = NULL;
	struct tdev d;

	tdev_init(&d);
	t_check_eq(regbuf_dma_cookie_create(&c, &seg, 0, 4096, NULL, &tdev_ops, &d, 0), -EINVAL);
	t_check_eq(regbuf_dma_cookie_create(&c, &seg, 1, 0, NULL, &tdev_ops, &d, 0), -EINVAL);
	t_check_eq(regbuf_dma_cookie_create(&c, &seg, 1, 64 * KiB + 1, NULL, &tdev_ops, &d, 0),
		   -EINVAL);
	t_check_eq(regbuf_dma_cookie_create(&c, NULL, 1, 4096, NULL, &tdev_ops, &d, 0), -EINVAL);
	t_check_eq(regbuf_dma_cookie_create(&c, &seg, 1, 4096, NULL, NULL, &d, 0), -EINVAL);
	t_check_eq(regbuf_dma_cookie_create(&c, &seg, 1, 4096, &bad_shift, &tdev_ops, &d, 0),
		   -EINVAL);
	t_check_eq(regbuf_dma_cookie_create(&c, &seg, 1, 4096, &big_shift, &tdev_ops, &d, 0),
		   -EINVAL);
	t_check_eq(regbuf_dma_cookie_create(&c, &seg, 1, 4096, &bad_mdts, &tdev_ops, &d, 0),
		   -EINVAL);
	t_check_eq(regbuf_dma_cookie_create(&c, &seg, 1, 4096, &rsvd, &tdev_ops, &d, 0), -EINVAL);
	t_check_eq(regbuf_dma_cookie_create(&c, &seg, 1, 4096, NULL, &tdev_ops, &d, 1u << 7),
		   -EINVAL);
	t_check_eq(regbuf_dma_cookie_create(&c, &seg, 1, 4096, NULL, &tdev_ops, &d,
					    REGBUF_DMA_F_NO_PRP | REGBUF_DMA_F_NO_SGL),
		   -EOPNOTSUPP);
	mis.alloc = misaligned_list_memory;
	t_check_eq(regbuf_dma_cookie_create(&c, &seg, 1, 4096, NULL, &mis, &d, 0), -EINVAL);
	t_check(c == NULL);
	t_check_eq(d.n, 0);
	t_check_eq(d.bad_frees, 0);
	return T_PASS;
}

static int per_io_rejects_bad_ranges(void)
{
	struct regbuf_seg seg = { 0x100000, 64 * KiB };
	struct regbuf_dma_ctrl ctrl = { 12, 0, 16 * KiB };
	struct regbuf_nvme_sgl_desc s;
	struct regbuf_dma_cookie *c;
	struct tdev d;
	uint64_t p1, p2;

	tdev_init(&d);
	t_ok(regbuf_dma_cookie_create(&c, &seg, 1, seg.len, &ctrl, &tdev_ops, &d, 0));
	t_check_eq(regbuf_dma_prp(c, 0, 0, &p1, &p2), -EINVAL);
	t_check_eq(regbuf_dma_prp(c, 64 * KiB, 4, &p1, &p2), -EINVAL);
	t_check_eq(regbuf_dma_prp(c, 60 * KiB, 4 * KiB + 4, &p1, &p2), -EINVAL);
	t_check_eq(regbuf_dma_prp(c, UINT64_MAX - 3, 8, &p1, &p2), -EINVAL);
	t_check_eq(regbuf_dma_prp(c, 0, 16 * KiB + 4, &p1, &p2), -EINVAL);	/* MDTS */
	t_ok(regbuf_dma_prp(c, 0, 16 * KiB, &p1, &p2));
	t_check_eq(regbuf_dma_prp(c, 2, 4, &p1, &p2), -EINVAL);		/* dword */
	t_check_eq(regbuf_dma_sgl(c, 0, 16 * KiB + 1, &s, NULL), -EINVAL);
	t_check_eq(regbuf_dma_sgl(c, 3, 5, &s, NULL), 0);			/* SGL: any byte */
	t_check_eq(regbuf_dma_split(c, 1 * MiB), 16 * KiB);
	t_check_eq(regbuf_dma_split(c, 100), 100);
	t_check_eq(regbuf_dma_cookie_len(c), 64 * KiB);
	regbuf_dma_cookie_destroy(c);
	t_ok(regbuf_dma_cookie_create(&c, &seg, 1, seg.len, NULL, &tdev_ops, &d,
				      REGBUF_DMA_F_NO_PRP));
	t_check_eq(regbuf_dma_prp(c, 0, 4096, &p1, &p2), -EOPNOTSUPP);
	regbuf_dma_cookie_destroy(c);
	t_ok(regbuf_dma_cookie_create(&c, &seg, 1, seg.len, NULL, &tdev_ops, &d,
				      REGBUF_DMA_F_NO_SGL));
	t_check_eq(regbuf_dma_sgl(c, 0, 4096, &s, NULL), -EOPNOTSUPP);
	regbuf_dma_cookie_destroy(c);
	t_check_eq(d.n, 0);
	return T_PASS;
}

/* MDTS splitting: pieces of at most MDTS that walk to exactly the whole range. */
static int split_over_mdts(void)
{
	const struct regbuf_dma_ctrl ctrl = { 12, 0, 128 * KiB };
	struct wctrl ctl = { 12, 128 * KiB, true };
	struct regbuf_dma_cookie *c;
	struct wranges *all = &w_other;
	uint64_t off = 4 * KiB + 512, left = 3 * MiB + 100, p1, p2;
	struct tdev d;
	unsigned int pieces = 0, i;

	lay_2m(&lay, 2048, 0);
	tdev_init(&d);
	t_ok(regbuf_dma_cookie_create(&c, lay.segs, lay.nr, lay.len, &ctrl, &tdev_ops, &d, 0));
	ref_ranges(&w_want, lay.segs, lay.nr, off, left);
	all->n = 0;
	all->elems = 0;
	while (left) {
		uint64_t n = regbuf_dma_split(c, left);

		t_check(n > 0 && n <= 128 * KiB);
		t_ok(regbuf_dma_prp(c, off, n, &p1, &p2));
		t_check_eq(walk_prp(&d, &ctl, p1, p2, n, &w_got), WS_OK);
		for (i = 0; i < w_got.n; i++)
			wr_add(all, w_got.r[i].addr, w_got.r[i].len);
		off += n;
		left -= n;
		pieces++;
	}
	t_check_eq(pieces, 25);
	t_check(wr_equal(all, &w_want));
	regbuf_dma_cookie_destroy(c);
	return T_PASS;
}

/* The multiply-and-shift division is exact over the whole range it is used on. */
static int division_by_multiply_is_exact(void)
{
	unsigned int shift;

	for (shift = 12; shift <= 20; shift++) {
		const struct regbuf_dma_ctrl ctrl = { shift, 0, 0 };
		struct regbuf_seg seg = { 0, UINT64_C(1) << shift };
		struct regbuf_dma_cookie *c;
		uint32_t e, x, i;
		struct tdev d;

		tdev_init(&d);
		t_ok(regbuf_dma_cookie_create(&c, &seg, 1, seg.len, &ctrl, &tdev_ops, &d,
					      REGBUF_DMA_F_NO_SGL));
		e = c->per_list;
		t_check_eq(e, (UINT32_C(1) << (shift - 3)) - 1);
		/* the inline 4 KiB path uses compile-time constants: they must be the same */
		if (shift == 12)
			t_check(c->div_magic == __REGBUF_DMA_4K_MAGIC && c->div_shift == 40 &&
				c->shift_b == 256);
		/* around every multiple of e in the low range, the top, and random values */
		for (x = 0; x < 4 * 1024 * 1024; x++)
			if (dma_div(c, x) != x / e)
				return T_FAILF("shift %u: %u / %u", shift, x, e);
		for (i = 0; i < 1000000; i++) {
			x = (uint32_t)(t_rand() & 0x7fffffff);
			if (dma_div(c, x) != x / e)
				return T_FAILF("shift %u: %u / %u", shift, x, e);
			x = (uint32_t)((x / e) * e);
			if (dma_div(c, x) != x / e ||
			    (x && dma_div(c, x - 1) != (x - 1) / e))
				return T_FAILF("shift %u: %u / %u", shift, x, e);
		}
		for (x = 0x7fffffff; x > 0x7fffffff - 4 * e; x--)
			if (dma_div(c, x) != x / e)
				return T_FAILF("shift %u: %u / %u", shift, x, e);
		regbuf_dma_cookie_destroy(c);
	}
	return T_PASS;
}

static int sqe_wire_format(void)
{
	struct regbuf_seg seg = { UINT64_C(0x1122334455660000), 64 * KiB };
	struct regbuf_dma_cookie *c;
	struct regbuf_nvme_sqe sqe;
	uint8_t *b = (uint8_t *)&sqe;
	struct tdev d;

	tdev_init(&d);
	t_ok(regbuf_dma_cookie_create(&c, &seg, 1, seg.len, NULL, &tdev_ops, &d, 0));
	memset(&sqe, 0, sizeof(sqe));
	sqe.flags = 0xc1;	/* stale PSDT bits and a FUSE bit */
	t_ok(regbuf_dma_sqe_prp(c, &sqe, 0x100, 0x800));
	t_check_eq(sqe.flags, 0x01);
	/* PRP1 at bytes 24..31, little-endian */
	t_check_eq(b[24], 0x00);
	t_check_eq(b[25], 0x01);
	t_check_eq(b[26], 0x66);
	t_check_eq(b[31], 0x11);
	t_check_eq(b[32] | b[33] | b[39], 0);
	t_check_eq(regbuf_dma_sqe_sgl(c, &sqe, 0x10, 0x1234, NULL), 0);
	t_check_eq(sqe.flags, 0x41);		/* PSDT 01b */
	t_check_eq(b[24], 0x10);
	t_check_eq(b[32], 0x34);		/* length at bytes 8..11 of the descriptor */
	t_check_eq(b[33], 0x12);
	t_check_eq(b[39], 0x00);		/* Data Block, address sub type */
	regbuf_dma_cookie_destroy(c);
	{
		struct regbuf_nvme_sgl_desc s;

		regbuf_nvme_sgl_set(&s, 1, 32, REGBUF_NVME_SGL_LAST_SEGMENT);
		t_check_eq(((uint8_t *)&s)[15], 0x30);
		regbuf_nvme_sgl_set(&s, 1, 32, REGBUF_NVME_SGL_SEGMENT);
		t_check_eq(((uint8_t *)&s)[15], 0x20);
	}
	return T_PASS;
}

/* SGL shapes over physical segments: O(1) cases use no scratch or two descriptors. */
static int sgl_shapes(void)
{
	struct wctrl ctl = { 12, 0, false };
	struct regbuf_nvme_sgl_desc s1;
	struct regbuf_dma_sgl_scratch s = { 0 };
	struct regbuf_dma_cookie *c;
	struct tdev d;
	uint64_t seg0;
	void *va;

	lay_2m(&lay, 4096, 0);		/* 8 segments of 2 MiB, the first 400 KiB short */
	seg0 = lay.segs[0].len;
	tdev_init(&d);
	t_ok(regbuf_dma_cookie_create(&c, lay.segs, lay.nr, lay.len, NULL, &tdev_ops, &d, 0));
	/* registered mid-folio, the PRP granule table is still one entry per 2 MiB */
	t_check_eq(c->gran_shift, 21);
	t_ok(tdev_alloc(&d, 4 * 16, &va, &s.iova));
	s.descs = va;
	s.nr = 4;
	/* inside one segment: inline Data Block */
	t_check_eq(regbuf_dma_sgl(c, seg0 + 5, 1 * MiB, &s1, &s), 0);
	t_check_eq(s1.type, 0x00);
	/* whole segments 1..3: Last Segment into the pre-built array, no scratch */
	t_check_eq(regbuf_dma_sgl(c, seg0, 6 * MiB, &s1, &s), 0);
	t_check_eq(s1.type, 0x30);
	t_check_eq(regbuf_le32_to_cpu(s1.len), 48);
	t_check_eq(walk_sgl(&d, &ctl, &s1, 6 * MiB, &w_got), WS_OK);
	t_check_eq(w_got.n, 3);
	/* mid-segment start, segment-end finish: two scratch descriptors */
	t_check_eq(regbuf_dma_sgl(c, seg0 - 4096, 4096 + 4 * MiB, &s1, &s), 2);
	t_check_eq(s1.type, 0x20);
	t_check_eq(walk_sgl(&d, &ctl, &s1, 4096 + 4 * MiB, &w_got), WS_OK);
	t_check_eq(w_got.n, 3);
	/* two segments, both cut: two descriptors */
	t_check_eq(regbuf_dma_sgl(c, seg0 - 4096, 8192, &s1, &s), 2);
	t_check_eq(walk_sgl(&d, &ctl, &s1, 8192, &w_got), WS_OK);
	/* four segments, cut at both ends: copies, and the scratch is too small for five */
	t_check_eq(regbuf_dma_sgl(c, seg0 - 4096, 4096 + 4 * MiB + 4096, &s1, &s), 4);
	t_check_eq(walk_sgl(&d, &ctl, &s1, 4096 + 4 * MiB + 4096, &w_got), WS_OK);
	t_check_eq(regbuf_dma_sgl(c, seg0 - 4096, 4096 + 6 * MiB + 4096, &s1, &s), -ENOSPC);
	t_check_eq(regbuf_dma_sgl(c, seg0 - 4096, 8192, &s1, NULL), -ENOSPC);
	tdev_free(&d, va, 4 * 16, s.iova);
	regbuf_dma_cookie_destroy(c);
	return T_PASS;
}

/* The classic chain's own shapes (nvme_pci_setup_prps(), NVME_SMALL_POOL_SIZE): chaining at 512 entries, the SGL cap. */
static int classic_shapes(void)
{
	struct baseline_dma_req req;
	struct wctrl ctl = { 12, 0, false };
	struct baseline_dma *cl;
	struct tdev d;
	unsigned int i;

	lay_4k(&lay, 2048, 0);
	tdev_init(&d);
	d.segs = lay.segs;
	d.nr_segs = lay.nr;
	d.vbase = UINT64_C(0x7f0000000000);
	d.vlen = lay.len;
	t_ok(baseline_dma_create(&cl, NULL, &tdev_ops, &d, 4, 0));
	/* 32 entries from the 256-byte pool, 33 from a page */
	t_ok(baseline_dma_prp(cl, d.vbase, 33 * 4096, &req));
	t_check_eq(req.nr_lists, 1);
	t_check(req.lists[0] & (1u << 31));
	t_check_eq(walk_prp(&d, &ctl, req.prp1, req.prp2, 33 * 4096, &w_got), WS_OK);
	baseline_dma_done(cl, &req);
	t_ok(baseline_dma_prp(cl, d.vbase, 34 * 4096, &req));
	t_check_eq(req.nr_lists, 1);
	t_check(!(req.lists[0] & (1u << 31)));
	t_check_eq(req.prp2 & 4095, 0);
	t_check_eq(walk_prp(&d, &ctl, req.prp1, req.prp2, 34 * 4096, &w_got), WS_OK);
	baseline_dma_done(cl, &req);
	t_ok(baseline_dma_prp(cl, d.vbase, 513 * 4096, &req));	/* 512 entries */
	t_check_eq(req.nr_lists, 1);
	t_check_eq(walk_prp(&d, &ctl, req.prp1, req.prp2, 513 * 4096, &w_got), WS_OK);
	baseline_dma_done(cl, &req);
	t_ok(baseline_dma_prp(cl, d.vbase, 514 * 4096, &req));	/* 513: chain */
	t_check_eq(req.nr_lists, 2);
	t_check_eq(walk_prp(&d, &ctl, req.prp1, req.prp2, 514 * 4096, &w_got), WS_OK);
	ref_ranges(&w_want, lay.segs, lay.nr, 0, 514 * 4096);
	t_check(wr_equal(&w_got, &w_want));
	baseline_dma_done(cl, &req);
	t_check_eq(baseline_dma_sgl(cl, d.vbase, 1000 * 4096, &req), -E2BIG);
	/* the pool runs dry: -ENOMEM, and everything taken is given back */
	{
		struct baseline_dma_req r[4];

		for (i = 0; i < 4; i++)
			t_ok(baseline_dma_prp(cl, d.vbase, 40 * 4096, &r[i]));
		t_check_eq(baseline_dma_prp(cl, d.vbase, 40 * 4096, &req), -ENOMEM);
		for (i = 0; i < 4; i++)
			baseline_dma_done(cl, &r[i]);
		t_ok(baseline_dma_prp(cl, d.vbase, 2000 * 4096, &req));
		t_check_eq(req.nr_lists, 4);
		baseline_dma_done(cl, &req);
	}
	baseline_dma_destroy(cl);
	t_check_eq(d.n, 0);
	return T_PASS;
}

/* The table convenience: a registered buffer, translated by the ops (pretend pagemap). */
static int cookie_from_registered_buffer(void)
{
	const size_t len = 8 * MiB - 4096;
	struct wctrl ctl = { 12, 0, false };
	struct regbuf_dma_cookie *c = NULL;
	struct regbuf_buf_info info;
	struct regbuf_table *t;
	struct regbuf_buf *buf;
	struct iovec iov;
	struct tdev d;
	uint64_t off, p1, p2;
	void *mem;
	int ret = T_PASS;

	mem = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE,
		   -1, 0);
	if (mem == MAP_FAILED)
		return t_broken("mmap failed");
	iov.iov_base = (char *)mem + 512;
	iov.iov_len = len - 512;
	t_ok(regbuf_table_create(&t, 0));
	t_ok(regbuf_table_register(t, &iov, 1, 0));
	t_ok(regbuf_table_buf_get(t, 0, &buf));
	t_ok(regbuf_buf_info(buf, &info));
	/* a scattered physical layout for the buffer's pages, as pagemap would give */
	lay_4k(&lay, 2048, 512);
	tdev_init(&d);
	d.segs = lay.segs;
	d.nr_segs = lay.nr;
	d.vbase = info.ubuf;
	d.vlen = info.len;
	t_ok(regbuf_dma_cookie_create_buf(&c, buf, NULL, &tdev_ops, &d, 0));
	t_check(regbuf_dma_cookie_flags(c) & REGBUF_DMA_COOKIE_F_PRP);
	t_check_eq(regbuf_dma_cookie_len(c), info.len);
	for (off = 0; off < info.len && ret == T_PASS; off += 4096 * 37 + 4) {
		uint64_t n = info.len - off < 300 * KiB ? info.len - off : 300 * KiB;

		t_ok(regbuf_dma_prp(c, off, n, &p1, &p2));
		ref_ranges(&w_want, lay.segs, lay.nr, off, n);
		if (walk_prp(&d, &ctl, p1, p2, n, &w_got) != WS_OK || !wr_equal(&w_got, &w_want))
			ret = T_FAILF("off %llu: walker disagrees", (unsigned long long)off);
	}
	regbuf_dma_cookie_destroy(c);
	/* no physical segments were learnt without REGBUF_TABLE_F_LAYOUT_PFN */
	if (!(info.flags & REGBUF_BUF_F_PHYS))
		t_check_eq(regbuf_dma_cookie_create_buf(&c, buf, NULL, &tdev_ops, &d,
							REGBUF_DMA_F_PHYS), -EOPNOTSUPP);
	/* a translator that covers less than the buffer */
	d.vlen = info.len + 1;
	d.nr_segs = lay.nr - 3;
	t_check_eq(regbuf_dma_cookie_create_buf(&c, buf, NULL, &tdev_ops, &d, 0), -EFAULT);
	t_check_eq(regbuf_dma_cookie_create_buf(&c, NULL, NULL, &tdev_ops, &d, 0), -EINVAL);
	t_check_eq(d.n, 0);
	t_check_eq(d.bad_frees, 0);
	regbuf_buf_put(buf);
	regbuf_table_destroy(t);
	munmap(mem, len);
	return ret;
}

/*
 * A cookie built from a buffer holds its own reference: the caller's
 * reference and the table's slot can both go and the buffer still describes
 * the cookie's memory (a use after free under ASan without it).
 */
static int cookie_keeps_buffer_alive(void)
{
	const size_t len = 1 * MiB;
	struct regbuf_dma_cookie *c = NULL, *c2 = NULL;
	struct regbuf_buf_info info;
	struct regbuf_table *t;
	struct regbuf_buf *buf;
	struct iovec iov;
	struct tdev d;
	void *mem;

	mem = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE,
		   -1, 0);
	if (mem == MAP_FAILED)
		return t_broken("mmap failed");
	iov = (struct iovec){ mem, len };
	t_ok(regbuf_table_create(&t, 0));
	t_ok(regbuf_table_register(t, &iov, 1, 0));
	t_ok(regbuf_table_buf_get(t, 0, &buf));
	lay_4k(&lay, 256, 0);
	tdev_init(&d);
	d.segs = lay.segs;
	d.nr_segs = lay.nr;
	d.vbase = (uintptr_t)mem;
	d.vlen = len;
	t_ok(regbuf_dma_cookie_create_buf(&c, buf, NULL, &tdev_ops, &d, 0));
	t_check(regbuf_dma_cookie_buf(c) == buf);
	/* regbuf_buf_get() pairs with regbuf_buf_put(); NULL is ignored by both. */
	regbuf_buf_get(buf);
	regbuf_buf_put(buf);
	regbuf_buf_get(NULL);
	regbuf_buf_put(buf);
	t_ok(regbuf_table_unregister(t));
	/* The cookie's reference is the last one. */
	t_ok(regbuf_buf_info(regbuf_dma_cookie_buf(c), &info));
	t_check_eq(info.ubuf, (uintptr_t)mem);
	t_check_eq(info.len, len);
	/* A cookie from raw DMA segments has no buffer. */
	t_ok(regbuf_dma_cookie_create(&c2, lay.segs, lay.nr, len, NULL, &tdev_ops, &d, 0));
	t_check(regbuf_dma_cookie_buf(c2) == NULL);
	regbuf_dma_cookie_destroy(c2);
	regbuf_dma_cookie_destroy(c);
	t_check_eq(d.n, 0);
	regbuf_table_destroy(t);
	munmap(mem, len);
	return T_PASS;
}

/* regbuf_seg_split() with the cookie's limits yields pieces the cookie takes whole. */
static int split_with_seg_limits(void)
{
	const struct regbuf_dma_ctrl ctrl = { 12, 0, 1 * MiB };
	struct wctrl ctl = { 12, 1 * MiB, true };
	struct regbuf_nvme_sgl_desc s1;
	struct regbuf_dma_sgl_scratch s = { 0 };
	struct regbuf_dma_cookie *c;
	struct regbuf_limits lim;
	struct regbuf_seg_iter it;
	struct tdev d;
	uint64_t off = 3 * 4096 + 512, total = 13 * MiB + 1536, p1, p2;
	unsigned int pieces = 0;
	void *va;

	lay_mixed(&lay, 4096, 0);
	tdev_init(&d);
	t_ok(regbuf_dma_cookie_create(&c, lay.segs, lay.nr, lay.len, &ctrl, &tdev_ops, &d, 0));
	t_ok(tdev_alloc(&d, 2 * 16, &va, &s.iova));
	s.descs = va;
	s.nr = 2;
	regbuf_dma_cookie_limits(c, 512, 2, &lim);
	t_ok(regbuf_limits_validate(&lim));
	t_ok(regbuf_seg_iter_seek(&it, lay.segs, lay.nr, off, total));
	while (!regbuf_seg_iter_done(&it)) {
		int64_t n = regbuf_seg_split(&it, &lim, NULL, 0);

		t_check(n > 0 && n % 512 == 0 && (uint64_t)n <= 1 * MiB);
		ref_ranges(&w_want, lay.segs, lay.nr, off, (uint64_t)n);
		t_check(w_want.n <= 2);
		t_check(regbuf_dma_sgl(c, off, (uint64_t)n, &s1, &s) >= 0);
		t_check_eq(walk_sgl(&d, &ctl, &s1, (uint64_t)n, &w_got), WS_OK);
		t_check(wr_equal(&w_got, &w_want));
		t_ok(regbuf_dma_prp(c, off, (uint64_t)n, &p1, &p2));
		t_check_eq(walk_prp(&d, &ctl, p1, p2, (uint64_t)n, &w_got), WS_OK);
		t_check(wr_equal(&w_got, &w_want));
		t_ok(regbuf_seg_iter_advance(&it, (uint64_t)n));
		off += (uint64_t)n;
		pieces++;
	}
	t_check(pieces >= 14);
	tdev_free(&d, va, 2 * 16, s.iova);
	regbuf_dma_cookie_destroy(c);
	t_check_eq(d.n, 0);
	return T_PASS;
}

static int sweep_counts(void)
{
	printf("# sweeps: %llu PRP I/Os walked (+%llu correctly rejected), copy A unusable for "
	       "%llu, copy B for %llu; %llu SGL I/Os walked (+%llu rejected)\n",
	       (unsigned long long)total.prp, (unsigned long long)total.prp_rejected,
	       (unsigned long long)total.copy_a_bad, (unsigned long long)total.copy_b_bad,
	       (unsigned long long)total.sgl, (unsigned long long)total.sgl_rejected);
	t_check(total.prp > 0 && total.sgl > 0);
	return T_PASS;
}

/*
 * An SGL Data Block length is 32 bits (NVMe 1.4 §4.4): a physical segment
 * of 2 GiB or more is described by several descriptors of at most 2 GiB
 * each, contiguous, none empty, adding up to the segment.  Segments of 2, 4
 * and 5 GiB + 4 KiB (the 4 GiB one would read as length 0 if truncated).
 */
static int sgl_data_block_cap(void)
{
	static const uint64_t big[] = { 2 * GiB, 4 * GiB, 5 * GiB + 4 * KiB };
	unsigned int k;

	for (k = 0; k < sizeof(big) / sizeof(big[0]); k++) {
		const struct regbuf_seg segs[2] = { { UINT64_C(0x100000000), big[k] },
						    { UINT64_C(0x4000000000), 2 * MiB } };
		struct regbuf_nvme_sgl_desc d, scr[4];
		struct regbuf_dma_sgl_scratch s = { scr, regbuf_iova(0x9000), 4, 0 };
		struct regbuf_dma_cookie *c;
		uint64_t sum = 0, len = big[k] + 2 * MiB;
		uint32_t i;

		t_ok(regbuf_dma_cookie_create(&c, segs, 2, len, NULL, regbuf_dma_ops_identity(),
					      NULL, REGBUF_DMA_F_NO_PRP));
		t_check(c->flags & REGBUF_DMA_COOKIE_F_SGL);
		t_check_eq(c->nr_sgl, (big[k] + 2 * GiB - 1) / (2 * GiB) + 1);
		for (i = 0; i < c->nr_sgl; i++) {
			uint32_t l = regbuf_le32_to_cpu(c->sgl[i].len);

			t_check(l > 0 && l <= 2 * GiB);
			t_check_eq(c->sgl[i].type, REGBUF_NVME_SGL_ID(REGBUF_NVME_SGL_DATA_BLOCK));
			if (i + 1 < c->nr_sgl)	/* contiguous within the first segment */
				t_check_eq(regbuf_le64_to_cpu(c->sgl[i].addr),
					   segs[0].addr + sum);
			sum += l;
		}
		t_check_eq(sum, len);
		/* an I/O across the 2 GiB cut (or segment end): two Data Blocks, 4 KiB each */
		t_check_eq(regbuf_dma_sgl(c, 2 * GiB - 4 * KiB, 8 * KiB, &d, &s), 2);
		t_check_eq(regbuf_le64_to_cpu(scr[0].addr), segs[0].addr + 2 * GiB - 4 * KiB);
		t_check_eq(regbuf_le32_to_cpu(scr[0].len), 4 * KiB);
		t_check_eq(regbuf_le64_to_cpu(scr[1].addr),
			   big[k] > 2 * GiB ? segs[0].addr + 2 * GiB : segs[1].addr);
		t_check_eq(regbuf_le32_to_cpu(scr[1].len), 4 * KiB);
		/* the last 4 KiB of the big segment: one inline Data Block */
		t_ok(regbuf_dma_sgl(c, big[k] - 4 * KiB, 4 * KiB, &d, &s));
		t_check_eq(regbuf_le64_to_cpu(d.addr), segs[0].addr + big[k] - 4 * KiB);
		t_check_eq(regbuf_le32_to_cpu(d.len), 4 * KiB);
		regbuf_dma_cookie_destroy(c);
	}
	return T_PASS;
}

static const struct t_case cases[] = {
	T_CASE(sgl_data_block_cap),
	T_CASE(sqe_wire_format),
	T_CASE(division_by_multiply_is_exact),
	T_CASE(create_rejects_bad_arguments),
	T_CASE(per_io_rejects_bad_ranges),
	T_CASE(walker_rejects_bad_descriptors),
	T_CASE(walker_reads_last_slot_as_data),
	T_CASE(prp_shapes),
	T_CASE(sgl_shapes),
	T_CASE(classic_shapes),
	T_CASE(middle_segment_not_page_aligned),
	T_CASE(split_over_mdts),
	T_CASE(split_with_seg_limits),
	T_CASE(cookie_from_registered_buffer),
	T_CASE(cookie_keeps_buffer_alive),
	T_CASE(every_io_has_a_working_copy),
	T_CASE(sweep_iova_mdts_512k),
	T_CASE(sweep_iova_mdts_4m),
	T_CASE(sweep_iova_page_8k),
	T_CASE(sweep_phys_4k),
	T_CASE(sweep_phys_2m),
	T_CASE(sweep_phys_mixed),
	T_CASE(sweep_phys_4k_page_8k_sgl_only),
	T_CASE(sweep_every_length_to_mdts),
	T_CASE(sweep_counts),
	T_CASE(differential_random_1m),
	T_CASE(enomem_every_allocation_nothing_leaked),
};

int main(int argc, char **argv)
{
	return t_main("unit/dma", cases, sizeof(cases) / sizeof(cases[0]), argc, argv);
}
