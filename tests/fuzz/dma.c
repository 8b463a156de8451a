// SPDX-License-Identifier: MIT
/*
 * fuzz-dma: premapped PRP/SGL cookies over random DMA layouts, every I/O's
 * descriptors read back by the independent controller-side walker of
 * tests/dma_walk.h (written from NVMe 1.4 §4.3/§4.4 and QEMU's rules, not from
 * src/dma) and compared with the requested byte range of the layout.
 *
 * Layouts: one IOVA range (IOMMU) at any page offset, or physical segments
 * (no IOMMU) of controller pages, 64 KiB or 2 MiB folios, physically adjacent
 * runs (merged), and boundaries off the controller page (PRP impossible: the
 * cookie must be SGL-only).  Controller page sizes 4..64 KiB, MDTS, NO_PRP /
 * NO_SGL, list-memory allocation failures (nothing may leak; frees must match
 * allocations exactly, as the kernel's dma_unmap_* must mirror dma_map_*).  I/Os: random, whole
 * buffer, around list-page boundaries (a PRP list page's entries 510, 511
 * and 512, where the chain pointer goes), empty, past the end, above MDTS, misaligned PRP1.  For PRP both
 * list copies are walked: the chosen one must work.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <regbuf/dma.h>

#include "dma/dma.h"
#include "dma_walk.h"
#include "fuzz.h"

#define MAX_SEGS	64
#define MAX_IOS		24
#define SCRATCH_DESCS	256

enum { C_PRP_IOVA, C_PRP_PHYS, C_SGL_IOVA, C_SGL_PHYS };
FZ_TARGET("dma", 512, 3000, "prp-iova", "prp-phys", "sgl-iova", "sgl-phys");

static struct wranges w_got, w_want, w_other;

struct layout {
	struct regbuf_seg segs[MAX_SEGS];
	uint32_t nr;
	uint64_t len;		/* buffer bytes, <= sum of segments */
	bool odd;		/* some inner boundary is off the controller page */
};

/* Physical segments: folios of @g bytes at scattered or adjacent addresses. */
static void gen_phys(struct fz *f, struct layout *l, uint64_t ps)
{
	static const uint64_t gs[] = { 0, 0, UINT64_C(1) << 16, UINT64_C(1) << 21 };
	uint64_t g = gs[fz_u8(f) % 4], total = 0, cap;
	uint32_t i, nr = (uint32_t)fz_range(f, 1, MAX_SEGS);

	if (g < ps)
		g = ps;
	l->odd = fz_chance(f, 40);
	/* Odd boundaries make byte-granular lookup tables: keep those buffers small. */
	cap = l->odd ? UINT64_C(1) << 20 : UINT64_C(64) << 20;
	for (i = 0; i < nr && total < cap; i++) {
		uint64_t len = g * fz_range(f, 1, 4), addr;

		if (i && fz_chance(f, 64))
			addr = l->segs[i - 1].addr + l->segs[i - 1].len;	/* adjacent */
		else
			addr = (fz_range(f, 1, UINT64_C(1) << 24) * g) & ((UINT64_C(1) << 50) - 1);
		if (!addr)
			addr = g;
		if (!i && fz_chance(f, 128)) {
			/* The buffer starts inside its first folio, dword aligned or not. */
			uint64_t in = fz_range(f, 0, len - 1);

			if (fz_chance(f, 200))
				in &= ~UINT64_C(3);
			addr += in;
			len -= in;
		}
		if (l->odd && fz_chance(f, 96)) {
			uint64_t cut = fz_range(f, 1, len - 1 ? len - 1 : 1);

			if (cut < len)
				len = cut;
			if (fz_chance(f, 128))
				addr += fz_range(f, 1, 4095);
		}
		if (total + len > cap)
			len = cap - total;
		if (!len)
			break;
		l->segs[i].addr = addr;
		l->segs[i].len = len;
		total += len;
		l->nr = i + 1;
	}
	l->len = total - fz_range(f, 0, l->segs[l->nr - 1].len - 1);
}

static void gen_iova(struct fz *f, struct layout *l, uint64_t ps)
{
	uint64_t off = 0, pages = fz_chance(f, 128) ? fz_range(f, 1, 16) : fz_range(f, 1, 4096);

	switch (fz_u8(f) % 4) {
	case 0:
		off = fz_range(f, 0, ps - 1) & ~UINT64_C(3);
		break;
	case 1:
		off = fz_range(f, 0, ps - 1);
		break;
	default:
		break;
	}
	if (pages * ps > (UINT64_C(64) << 20))
		pages = (UINT64_C(64) << 20) / ps;
	l->nr = 1;
	l->segs[0].addr = fz_range(f, 1, UINT64_C(1) << 30) * ps + off;
	l->segs[0].len = pages * ps - off;
	l->len = l->segs[0].len - fz_range(f, 0, l->segs[0].len - 1);
	l->odd = false;
}

/* PRP is possible iff every boundary between non-adjacent segments is on a page. */
static bool ref_prp_possible(const struct layout *l, uint64_t ps)
{
	uint64_t pos = 0;
	uint32_t i;

	for (i = 0; i + 1 < l->nr; i++) {
		uint64_t end = l->segs[i].addr + l->segs[i].len;

		pos += l->segs[i].len;
		if (pos >= l->len)
			break;
		if (end == l->segs[i + 1].addr)
			continue;
		if ((end & (ps - 1)) || (l->segs[i + 1].addr & (ps - 1)))
			return false;
	}
	return true;
}

/*
 * SGL needs no page rule, but the cookie finds a position's descriptor with a
 * table of granules of at least 512 bytes (src/dma SEG_SHIFT_MIN) and builds
 * no SGL for a layout whose boundaries do not fit such a table (the exact
 * rule has changed as the layer evolved; include/regbuf/dma.h says SGL "has
 * no such rule": reported).  When every boundary between non-adjacent
 * segments is at a multiple of 512 of (position + offset of the buffer in its
 * first page), SGL must be there; otherwise either answer is accepted and the
 * cookie's flag decides what the I/Os must do.
 */
static bool ref_sgl_possible(const struct layout *l, uint64_t ps)
{
	uint64_t pos = 0, base_off = l->segs[0].addr & (ps - 1);
	uint32_t i;

	for (i = 0; i + 1 < l->nr; i++) {
		pos += l->segs[i].len;
		if (pos >= l->len)
			break;
		if (l->segs[i].addr + l->segs[i].len == l->segs[i + 1].addr)
			continue;
		if ((pos + base_off) & 511)
			return false;
	}
	return true;
}

/* Merged runs covering the buffer's bytes. */
static uint32_t ref_runs(const struct layout *l)
{
	ref_ranges(&w_want, l->segs, l->nr, 0, l->len);
	return w_want.n;
}

static void gen_io(struct fz *f, uint64_t blen, uint64_t ps, uint64_t mdts, uint64_t *off,
		   uint64_t *len)
{
	static const int64_t edge_pages[] = { 1, 2, 3, 255, 256, 257, 509, 510, 511, 512, 513,
					      1021, 1022, 1023, 1024 };
	uint64_t o, n;

	switch (fz_u8(f) % 8) {
	case 0:		/* whole buffer */
		o = 0;
		n = blen;
		break;
	case 1:		/* empty */
		o = fz_range(f, 0, blen);
		n = 0;
		break;
	case 2:		/* past the end, or wrapping */
		o = fz_range(f, 0, blen);
		n = fz_chance(f, 128) ? blen - o + fz_range(f, 1, 4096) : UINT64_MAX - o + 1;
		break;
	case 3:
	case 4: {	/* list-page edges: k pages from a page-ish offset */
		int64_t k = edge_pages[fz_u8(f) % 15];

		o = fz_range(f, 0, 1030) * ps;
		if (!fz_chance(f, 160))
			o += fz_range(f, 0, ps - 1) & ~UINT64_C(3);
		n = (uint64_t)k * ps - (fz_chance(f, 128) ? 0 : fz_range(f, 0, ps - 1));
		if (o >= blen)
			o = fz_range(f, 0, blen - 1);
		if (n > blen - o)
			n = blen - o;
		if (!n)
			n = 1;
		break;
	}
	case 5:		/* exactly MDTS, or one more */
		o = fz_range(f, 0, blen);
		n = mdts ? mdts + fz_range(f, 0, 1) : blen - o;
		break;
	default:
		o = fz_range(f, 0, blen - 1);
		n = fz_range(f, 1, blen - o);
		break;
	}
	*off = o;
	*len = n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct regbuf_dma_ctrl ctrl = { 12, 0, 0 };
	struct regbuf_dma_sgl_scratch scratch;
	struct regbuf_dma_cookie *c = NULL;
	static struct layout l;
	unsigned int cls, flags = 0, cflags, i;
	bool prp_ok, want_prp, want_sgl, sgl_sure, sgl_never;
	uint64_t ps;
	struct wctrl ctl;
	struct tdev d;
	void *sva;
	regbuf_iova_t siova;
	int ret, want = 0;
	struct fz f;

	if (!size)
		return 0;
	cls = data[0] % fz_target.nr_classes;
	fz_init(&f, data + 1, size - 1);
	memset(&l, 0, sizeof(l));
	tdev_init(&d);

	ctrl.page_shift = fz_chance(&f, 200) ? 12 : (uint32_t)fz_range(&f, 12, 16);
	ps = UINT64_C(1) << ctrl.page_shift;
	switch (fz_u8(&f) % 4) {
	case 0:
		ctrl.max_bytes = 0;
		break;
	case 1:
		ctrl.max_bytes = fz_range(&f, 1, 1 << 20) * 4;
		break;
	default:
		ctrl.max_bytes = ps << fz_range(&f, 0, 9);
		break;
	}
	if (cls == C_PRP_IOVA || cls == C_SGL_IOVA)
		gen_iova(&f, &l, ps);
	else
		gen_phys(&f, &l, ps);
	if (fz_chance(&f, 24))
		flags |= cls < C_SGL_IOVA ? REGBUF_DMA_F_NO_SGL : REGBUF_DMA_F_NO_PRP;
	if (fz_chance(&f, 6))
		flags |= REGBUF_DMA_F_NO_SGL | REGBUF_DMA_F_NO_PRP;

	prp_ok = ref_prp_possible(&l, ps);
	want_prp = prp_ok && !(flags & REGBUF_DMA_F_NO_PRP);
	sgl_sure = ref_sgl_possible(&l, ps) && !(flags & REGBUF_DMA_F_NO_SGL);
	sgl_never = flags & REGBUF_DMA_F_NO_SGL;
	if (fz_chance(&f, 8)) {
		/* MDTS must be a multiple of 4. */
		ctrl.max_bytes = fz_range(&f, 0, 1 << 20) * 4 + fz_range(&f, 1, 3);
		want = -EINVAL;
	} else if (!want_prp && sgl_never) {
		want = -EOPNOTSUPP;
	}
	if (fz_chance(&f, 16))
		d.fail_at = (int)fz_range(&f, 0, 3);

	ret = regbuf_dma_cookie_create(&c, l.segs, l.nr, l.len, &ctrl, &tdev_ops, &d, flags);
	if (ret == -ENOMEM && d.fail_at >= 0 && !want) {
		/* An allocation failed: nothing leaked, nothing freed twice. */
		FZ_CHECK_EQ(d.n, 0);
		FZ_CHECK_EQ(d.bad_frees, 0);
		return 0;
	}
	/* No PRP, SGL layout-dependent: built or -EOPNOTSUPP. */
	if (!want && !want_prp && !sgl_sure && !sgl_never && ret == -EOPNOTSUPP)
		return 0;
	FZ_CHECK_EQ(ret, want);
	if (ret)
		return 0;
	cflags = regbuf_dma_cookie_flags(c);
	FZ_CHECK_EQ(!!(cflags & REGBUF_DMA_COOKIE_F_PRP), want_prp);
	want_sgl = cflags & REGBUF_DMA_COOKIE_F_SGL;
	if (sgl_sure)
		FZ_CHECK(want_sgl);
	if (sgl_never)
		FZ_CHECK(!want_sgl);
	if (cflags & REGBUF_DMA_COOKIE_F_CONTIG)
		FZ_CHECK_EQ(ref_runs(&l), 1);
	FZ_CHECK_EQ(regbuf_dma_cookie_len(c), l.len);

	d.fail_at = -1;
	FZ_CHECK_EQ(tdev_alloc(&d, SCRATCH_DESCS * 16, &sva, &siova), 0);
	scratch.descs = sva;
	scratch.iova = siova;
	ctl.page_shift = ctrl.page_shift;
	ctl.mdts_bytes = ctrl.max_bytes;
	ctl.iov_max = false;

	for (i = 0; i < MAX_IOS && !fz_empty(&f); i++) {
		uint64_t off, len, p1 = 0, p2 = 0;
		bool valid;
		int st;

		gen_io(&f, l.len, ps, ctrl.max_bytes, &off, &len);
		valid = len && off <= l.len && len <= l.len - off &&
			(!ctrl.max_bytes || len <= ctrl.max_bytes);

		/* PRP: range, MDTS, dword-aligned PRP1 (NVMe 1.4 §4.3). */
		ret = regbuf_dma_prp(c, off, len, &p1, &p2);
		if (!valid) {
			FZ_CHECK_EQ(ret, -EINVAL);
		} else if (!want_prp) {
			/* No lists: refused, possibly for alignment first. */
			FZ_CHECK(ret == -EOPNOTSUPP || ret == -EINVAL);
		} else {
			ref_ranges(&w_want, l.segs, l.nr, off, len);
			if (w_want.r[0].addr & 3) {
				FZ_CHECK_EQ(ret, -EINVAL);
			} else {
				bool ok[2];
				unsigned int k;

				FZ_CHECK_EQ(ret, 0);
				st = walk_prp(&d, &ctl, p1, p2, len, &w_got);
				if (st || !wr_equal(&w_got, &w_want))
					FZ_FAIL("prp off %llu len %llu: walker status %#x, "
						"%u ranges, %u expected",
						(unsigned long long)off, (unsigned long long)len,
						st, w_got.n, w_want.n);
				for (k = 0; k < 2; k++) {
					uint64_t q1, q2;

					dma_prp_copy(c, off, len, k, &q1, &q2);
					st = walk_prp(&d, &ctl, q1, q2, len, &w_other);
					ok[k] = !st && wr_equal(&w_other, &w_want);
					if (q1 == p1 && q2 == p2)
						FZ_CHECK(ok[k]);
				}
				FZ_CHECK(ok[0] || ok[1]);
			}
		}

		/* SGL: any scratch size; -ENOSPC only when the range needs more descriptors. */
		scratch.nr = fz_chance(&f, 64) ? (uint32_t)fz_range(&f, 0, 3) : SCRATCH_DESCS;
		{
			struct regbuf_nvme_sgl_desc sgl1;

			memset(&sgl1, 0xee, sizeof(sgl1));
			ret = regbuf_dma_sgl(c, off, len, &sgl1, &scratch);
			if (!valid || len > UINT32_MAX) {
				FZ_CHECK_EQ(ret, -EINVAL);
			} else if (!want_sgl) {
				FZ_CHECK_EQ(ret, -EOPNOTSUPP);
			} else {
				ref_ranges(&w_want, l.segs, l.nr, off, len);
				if (ret == -ENOSPC) {
					FZ_CHECK(w_want.n > scratch.nr);
				} else {
					FZ_CHECK(ret >= 0 && (uint32_t)ret <= scratch.nr);
					st = walk_sgl(&d, &ctl, &sgl1, len, &w_got);
					if (st || !wr_equal(&w_got, &w_want))
						FZ_FAIL("sgl off %llu len %llu: walker "
							"status %#x, %u ranges, %u expected",
							(unsigned long long)off,
							(unsigned long long)len, st, w_got.n,
							w_want.n);
				}
			}
		}
	}
	regbuf_dma_cookie_destroy(c);
	/* Only the scratch is left, and every free matched an allocation. */
	FZ_CHECK_EQ(d.n, 1);
	FZ_CHECK_EQ(d.bad_frees, 0);
	tdev_free(&d, sva, SCRATCH_DESCS * 16, siova);
	fz_stat_checked++;
	return 0;
}
