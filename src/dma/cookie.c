// SPDX-License-Identifier: MIT
/*
 * regbuf - premapped NVMe descriptors: build a buffer's PRP lists and SGL
 * descriptor array once.  The per-I/O side is inline in
 * include/regbuf/dma.h; the layout rules are in its DOC comment.
 *
 * Section numbers: NVMe Base Specification 1.4.
 */
#include <stdlib.h>
#include <string.h>

#include <regbuf/dma.h>

#include "dma.h"

/* SGL Data Block length is 32 bits (NVMe 1.4 §4.4); cut descriptors at 2 GiB. */
#define SGL_PIECE_MAX	(UINT64_C(1) << 31)
/* Below this the granule table would cost more than the buffer is worth. */
#define SEG_SHIFT_MIN	9

int dma_ctrl_resolve(const struct regbuf_dma_ctrl *ctrl, unsigned int *page_shift,
		     uint64_t *max_bytes)
{
	unsigned int shift = 12;
	uint64_t max = UINT64_MAX;

	if (ctrl) {
		if (ctrl->__rsvd)
			return -EINVAL;
		if (ctrl->page_shift)
			shift = ctrl->page_shift;
		if (ctrl->max_bytes) {
			max = ctrl->max_bytes;
			if (max & 3)
				return -EINVAL;
		}
	}
	/* CC.MPS is 4 bits: 2^(12 + MPS), 4 KiB .. 128 MiB (NVMe 1.4 §3.1.5). */
	if (shift < 12 || shift > 27)
		return -EINVAL;
	*page_shift = shift;
	*max_bytes = max;
	return 0;
}

/* Copy @nr segments covering @len bytes, dropping empty ones and merging contiguous ones. */
static int merge_segs(const struct regbuf_seg *in, uint32_t nr, uint64_t len,
		      struct regbuf_seg **outp, uint32_t *nr_out)
{
	struct regbuf_seg *out;
	uint64_t left = len;
	uint32_t i, n = 0;

	out = malloc(sizeof(*out) * nr);
	if (!out)
		return -ENOMEM;
	for (i = 0; i < nr && left; i++) {
		uint64_t l = in[i].len < left ? in[i].len : left;

		if (!l)
			continue;
		if (in[i].addr + l < in[i].addr) {
			free(out);
			return -EINVAL;
		}
		if (n && out[n - 1].addr + out[n - 1].len == in[i].addr) {
			out[n - 1].len += l;
		} else {
			out[n].addr = in[i].addr;
			out[n].len = l;
			n++;
		}
		left -= l;
	}
	if (left) {
		free(out);
		return -EINVAL;
	}
	*outp = out;
	*nr_out = n;
	return 0;
}

static int build_prp_copy(struct regbuf_dma_cookie *c, unsigned int copy,
			  const struct regbuf_seg *segs, uint32_t nr)
{
	uint64_t ps = UINT64_C(1) << c->page_shift;
	uint64_t slots = (uint64_t)c->nr_pages + (copy ? c->shift_b : 0);
	uint64_t pages = (slots - 1) / c->per_list + 1;
	size_t bytes = (size_t)(pages * ps);
	regbuf_le64 *l;
	regbuf_iova_t iova;
	void *va;
	uint64_t p, k = 0;
	uint32_t s;
	int ret;

	ret = c->ops->alloc(c->priv, bytes, &va, &iova);
	if (ret)
		return ret < 0 ? ret : -ENOMEM;
	if (regbuf_iova_u64(iova) & (ps - 1)) {
		c->ops->free(c->priv, va, bytes, iova);
		return -EINVAL;
	}
	l = va;
	memset(l, 0, bytes);
	/* Chain pointers: the last slot of every list page but the last (NVMe 1.4 §4.3). */
	for (p = 0; p + 1 < pages; p++)
		l[p * (c->per_list + 1) + c->per_list] = regbuf_cpu_to_le64(regbuf_iova_u64(iova) + (p + 1) * ps);
	/* Entry k: the controller page holding buffer position k * ps. */
	for (s = 0; s < nr; s++) {
		uint64_t a = segs[s].addr & ~(ps - 1);
		uint64_t end = segs[s].addr + segs[s].len;

		for (; a < end; a += ps, k++)
			l[dma_slot(c, copy, k)] = regbuf_cpu_to_le64(a);
	}
	c->list[copy] = l;
	c->list_iova[copy] = iova;
	c->list_bytes[copy] = bytes;
	return 0;
}

/*
 * The PRP view of physical segments besides the list: the DMA address of
 * every granule, so that the hot path finds PRP1 with one load from a small
 * table.  The granule is the largest power of two g such that all inner
 * boundary positions are congruent modulo 2^g; shifting positions by a phase
 * puts them on granule starts.  A buffer registered at any page of 2 MiB
 * folios gets 2 MiB granules (512 entries per GiB), 4 KiB pages one entry
 * per page.
 */
static int build_gran_dma(struct regbuf_dma_cookie *c, const struct regbuf_seg *segs,
			  uint32_t nr)
{
	uint64_t b0 = c->base_off + segs[0].len, b = b0, phase, nr_gran, q, *gran, start;
	uint32_t s, g = 40;

	for (s = 1; s + 1 < nr; s++) {
		b += segs[s].len;
		while ((b - b0) & ((UINT64_C(1) << g) - 1))
			g--;
	}
	phase = (0 - b0) & ((UINT64_C(1) << g) - 1);
	nr_gran = ((c->len - 1 + c->base_off + phase) >> g) + 1;
	gran = malloc(sizeof(*gran) * nr_gran);
	if (!gran)
		return -ENOMEM;
	s = 0;
	start = c->base_off;	/* position where segment s starts */
	for (q = 0; q < nr_gran; q++) {
		/* granule q starts at position (q << g) - phase, perhaps before the buffer */
		uint64_t pos = (q << g) - phase;
		uint64_t p = q == 0 || pos < c->base_off ? c->base_off : pos;

		while (p >= start + segs[s].len) {
			start += segs[s].len;
			s++;
		}
		/* modular arithmetic: for a granule that starts before its segment's
		 * first byte in the buffer, this extrapolates the segment backwards */
		gran[q] = segs[s].addr + (pos - start);
	}
	c->gran_dma = gran;
	c->gran_phase = phase;
	c->gran_shift = g;
	return 0;
}

/*
 * Where each SGL descriptor starts in the buffer: one per segment, cut at
 * SGL_PIECE_MAX; start[n] is the end.  Allocates the array; 0 or -ENOMEM.
 */
static int sgl_starts(const struct regbuf_seg *segs, uint32_t nr, uint64_t **startp,
		      uint32_t *np)
{
	uint64_t *start, off = 0;
	uint32_t s, n = 0;

	for (s = 0; s < nr; s++)
		n += (uint32_t)((segs[s].len + SGL_PIECE_MAX - 1) / SGL_PIECE_MAX);
	start = malloc(sizeof(*start) * (n + 1));
	if (!start)
		return -ENOMEM;
	n = 0;
	for (s = 0; s < nr; s++) {
		uint64_t done, l;

		for (done = 0; done < segs[s].len; done += l, off += l, n++) {
			l = segs[s].len - done < SGL_PIECE_MAX ? segs[s].len - done : SGL_PIECE_MAX;
			start[n] = off;
		}
	}
	start[n] = off;
	*startp = start;
	*np = n;
	return 0;
}

/*
 * The granule of a descriptor layout, a pure function: the largest power of
 * two modulo which all inner boundaries are congruent (as build_gran_dma()).
 */
static uint32_t sgl_granule(const uint64_t *start, uint32_t n)
{
	uint32_t i, g = 40;

	for (i = 2; i < n; i++)
		while ((start[i] - start[1]) & ((UINT64_C(1) << g) - 1))
			g--;
	return g;
}

/* Data Block @n..: segment pieces as sgl_starts() cut them. */
static void sgl_fill(struct regbuf_nvme_sgl_desc *d, const struct regbuf_seg *segs, uint32_t nr,
		     const uint64_t *start)
{
	uint32_t s, n = 0;

	for (s = 0; s < nr; s++) {
		uint64_t done, l;

		for (done = 0; done < segs[s].len; done += l, n++) {
			l = start[n + 1] - start[n];
			regbuf_nvme_sgl_set(&d[n], segs[s].addr + done, (uint32_t)l,
					    REGBUF_NVME_SGL_DATA_BLOCK);
		}
	}
}

/*
 * The SGL view of physical segments: one Data Block per segment (cut at
 * 2 GiB), the buffer offset where each starts, and a granule table giving
 * the descriptor of any byte in O(1).
 */
static int build_sgl(struct regbuf_dma_cookie *c, const struct regbuf_seg *segs, uint32_t nr)
{
	uint64_t *start, nr_gran, q, phase;
	uint32_t s, n, g, *gran;
	regbuf_iova_t iova;
	void *va;
	int ret;

	ret = sgl_starts(segs, nr, &start, &n);
	if (ret)
		return ret;
	g = sgl_granule(start, n);
	if (g < SEG_SHIFT_MIN) {
		free(start);
		return 0;	/* SGL unsupported for this layout; not an error */
	}
	phase = n > 1 ? (0 - (start[1] + c->base_off)) & ((UINT64_C(1) << g) - 1) : 0;
	nr_gran = ((c->len - 1 + c->base_off + phase) >> g) + 1;
	gran = malloc(sizeof(*gran) * nr_gran);
	if (!gran) {
		ret = -ENOMEM;
		goto out_free_start;
	}
	ret = c->ops->alloc(c->priv, sizeof(struct regbuf_nvme_sgl_desc) * n, &va, &iova);
	if (ret) {
		ret = ret < 0 ? ret : -ENOMEM;
		goto out_free_gran;
	}
	if (regbuf_iova_u64(iova) & 15) {
		ret = -EINVAL;
		goto out_free_descs;
	}
	sgl_fill(va, segs, nr, start);
	/* granule q covers positions [(q << g) - phase, ...); position = offset + base_off */
	for (s = 0, q = 0; q < nr_gran; q++) {
		uint64_t pos = (q << g) - phase;
		uint64_t o = q == 0 || pos < c->base_off ? 0 : pos - c->base_off;

		while (o >= start[s + 1])
			s++;
		gran[q] = s;
	}
	c->seg_bias = c->base_off + phase;
	c->sgl = va;
	c->sgl_iova = iova;
	c->sgl_bytes = sizeof(struct regbuf_nvme_sgl_desc) * n;
	c->nr_sgl = n;
	c->seg_start = start;
	c->gran_seg = gran;
	c->seg_shift = g;
	c->flags |= REGBUF_DMA_COOKIE_F_SGL;
	return 0;

out_free_descs:
	c->ops->free(c->priv, va, sizeof(struct regbuf_nvme_sgl_desc) * n, iova);
out_free_gran:
	free(gran);
out_free_start:
	free(start);
	return ret;
}

static void cookie_free(struct regbuf_dma_cookie *c)
{
	unsigned int i;

	for (i = 0; i < 2; i++)
		if (c->list[i])
			c->ops->free(c->priv, (void *)c->list[i], c->list_bytes[i],
				     c->list_iova[i]);
	if (c->sgl)
		c->ops->free(c->priv, (void *)c->sgl, c->sgl_bytes, c->sgl_iova);
	free((void *)c->gran_seg);
	free((void *)c->gran_dma);
	free((void *)c->seg_start);
	regbuf_buf_put(c->buf);
	free(c);
}

/*
 * Whether PRP lists can describe merged segments, a pure predicate: every
 * entry after PRP1 is a page address, so every inner boundary must fall on
 * a controller page boundary (NVMe 1.4 §4.3).
 */
static bool prp_layout_ok(const struct regbuf_seg *segs, uint32_t n, uint64_t mask)
{
	uint32_t i;

	for (i = 0; i + 1 < n; i++)
		if (((segs[i].addr + segs[i].len) & mask) || (segs[i + 1].addr & mask))
			return false;
	return true;
}

/* The per-I/O geometry: list page shape and the divide-by-E constants. */
static void cookie_geometry(struct regbuf_dma_cookie *c, const struct regbuf_seg *segs,
			    uint32_t n, uint64_t len, unsigned int page_shift, uint64_t max_bytes)
{
	uint64_t ps = UINT64_C(1) << page_shift, mask = ps - 1;
	unsigned int l = 0;

	c->len = len;
	c->base_off = segs[0].addr & mask;
	c->max_bytes = max_bytes;
	c->max_io = max_bytes < len ? max_bytes : len;
	c->max_io_sgl = c->max_io < UINT32_MAX ? c->max_io : UINT32_MAX;
	c->page_shift = page_shift;
	c->per_list = (uint32_t)(ps / 8 - 1);
	c->shift_b = (c->per_list + 1) / 2;
	while ((UINT64_C(1) << l) < c->per_list)
		l++;
	c->div_shift = 31 + l;
	c->div_magic = ((UINT64_C(1) << c->div_shift) + c->per_list - 1) / c->per_list;
	c->nr_pages = (uint32_t)((c->base_off + len - 1) / ps + 1);
	if (n == 1) {
		c->flags |= REGBUF_DMA_COOKIE_F_CONTIG;
		c->dma_page0 = segs[0].addr & ~mask;
	}
}

/* Both PRP list copies, the granule table for physical segments, and the mode. */
static int cookie_build_prp(struct regbuf_dma_cookie *c, const struct regbuf_seg *segs,
			    uint32_t n)
{
	unsigned int i;
	int ret;

	for (i = 0; i < 2; i++) {
		ret = build_prp_copy(c, i, segs, n);
		if (ret)
			return ret;
	}
	if (n > 1) {
		ret = build_gran_dma(c, segs, n);
		if (ret)
			return ret;
	}
	c->flags |= REGBUF_DMA_COOKIE_F_PRP;
	if (c->page_shift != 12)
		c->prp_mode = __REGBUF_DMA_PRP_ANY;
	else if (n == 1)
		c->prp_mode = __REGBUF_DMA_PRP_4K_CONTIG;
	else
		c->prp_mode = __REGBUF_DMA_PRP_4K;
	return 0;
}

int regbuf_dma_cookie_create(struct regbuf_dma_cookie **cp, const struct regbuf_seg *dma_segs,
			     uint32_t nr, uint64_t len, const struct regbuf_dma_ctrl *ctrl,
			     const struct regbuf_dma_ops *ops, void *priv, unsigned int flags)
{
	struct regbuf_dma_cookie *c;
	struct regbuf_seg *segs;
	unsigned int page_shift;
	uint64_t max_bytes, mask;
	uint32_t n;
	int ret;

	if (!cp || !dma_segs || !nr || !len || !ops || !ops->alloc || !ops->free ||
	    (flags & ~(REGBUF_DMA_F_NO_PRP | REGBUF_DMA_F_NO_SGL)))
		return -EINVAL;
	ret = dma_ctrl_resolve(ctrl, &page_shift, &max_bytes);
	if (ret)
		return ret;
	mask = (UINT64_C(1) << page_shift) - 1;
	ret = merge_segs(dma_segs, nr, len, &segs, &n);
	if (ret)
		return ret;
	/* slot positions stay below 2^31 for dma_div() */
	if (((segs[0].addr & mask) + len - 1) / (mask + 1) + 1 > (UINT64_C(1) << 30)) {
		ret = -EINVAL;
		goto out_free_segs;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		ret = -ENOMEM;
		goto out_free_segs;
	}
	c->ops = ops;
	c->priv = priv;
	cookie_geometry(c, segs, n, len, page_shift, max_bytes);
	if (prp_layout_ok(segs, n, mask) && !(flags & REGBUF_DMA_F_NO_PRP)) {
		ret = cookie_build_prp(c, segs, n);
		if (ret)
			goto out_free_cookie;
	}
	if (!(flags & REGBUF_DMA_F_NO_SGL)) {
		if (n == 1)
			c->flags |= REGBUF_DMA_COOKIE_F_SGL;
		else if ((ret = build_sgl(c, segs, n)))
			goto out_free_cookie;
	}
	if (!(c->flags & (REGBUF_DMA_COOKIE_F_PRP | REGBUF_DMA_COOKIE_F_SGL))) {
		ret = -EOPNOTSUPP;
		goto out_free_cookie;
	}
	free(segs);
	*cp = c;
	return 0;

out_free_cookie:
	cookie_free(c);
out_free_segs:
	free(segs);
	return ret;
}

int regbuf_dma_cookie_create_buf(struct regbuf_dma_cookie **cp, struct regbuf_buf *buf,
				 const struct regbuf_dma_ctrl *ctrl,
				 const struct regbuf_dma_ops *ops, void *priv, unsigned int flags)
{
	const unsigned int cookie_flags = REGBUF_DMA_F_NO_PRP | REGBUF_DMA_F_NO_SGL;
	struct regbuf_buf_info info;
	struct regbuf_seg *segs;
	uint64_t max, got = 0;
	uint32_t i;
	int n, ret;

	if (!cp || !buf || !ops || (flags & ~(cookie_flags | REGBUF_DMA_F_PHYS)))
		return -EINVAL;
	ret = regbuf_buf_info(buf, &info);
	if (ret)
		return ret;
	if (flags & REGBUF_DMA_F_PHYS) {
		if (!(info.flags & REGBUF_BUF_F_PHYS) || !info.nr_phys_segs)
			return -EOPNOTSUPP;
		ret = regbuf_dma_cookie_create(cp, info.phys_segs, info.nr_phys_segs, info.len,
					       ctrl, ops, priv, flags & cookie_flags);
		goto out_hold_buf;
	}
	if (!ops->translate)
		return -EINVAL;
	/*
	 * One DMA segment per virtual segment is enough for an IOMMU mapping (and
	 * usually one in all); a page-granular translator may need one per page.
	 */
	max = (uint64_t)info.nr_segs + 1;
	for (;;) {
		segs = malloc(sizeof(*segs) * max);
		if (!segs)
			return -ENOMEM;
		n = ops->translate(priv, info.ubuf, info.len, segs, (uint32_t)max);
		if (n != -E2BIG)
			break;
		free(segs);
		if (max > info.len / 4096 + 2)
			return -E2BIG;
		max = info.len / 4096 + 2;
	}
	if (n <= 0) {
		ret = n ? n : -EFAULT;
		goto out_free_segs;
	}
	for (i = 0; i < (uint32_t)n; i++)
		got += segs[i].len;
	if (got < info.len) {
		ret = -EFAULT;
		goto out_free_segs;
	}
	ret = regbuf_dma_cookie_create(cp, segs, (uint32_t)n, info.len, ctrl, ops, priv,
				       flags & cookie_flags);
	free(segs);
out_hold_buf:
	/* The cookie's descriptors describe @buf: it keeps the buffer alive until destroyed. */
	if (!ret) {
		regbuf_buf_get(buf);
		(*cp)->buf = buf;
	}
	return ret;
out_free_segs:
	free(segs);
	return ret;
}

void regbuf_dma_cookie_limits(const struct regbuf_dma_cookie *c, uint32_t logical_block_size,
			      uint32_t max_sgl_descs, struct regbuf_limits *lim)
{
	uint64_t max = c->max_bytes < SGL_PIECE_MAX ? c->max_bytes : SGL_PIECE_MAX;

	memset(lim, 0, sizeof(*lim));
	lim->logical_block_size = logical_block_size;
	lim->max_bytes = max & ~(uint64_t)(logical_block_size - 1);
	/* PRP takes any number of pages; an SGL as many descriptors as the scratch holds */
	lim->max_segments = max_sgl_descs ? max_sgl_descs : UINT32_MAX;
	lim->max_segment_size = SGL_PIECE_MAX;
	lim->seg_boundary_mask = UINT64_MAX;
	lim->virt_boundary_mask = 0;
	/* NVMe 1.4 §4.3: PRP entries are dword aligned (kernel dma_alignment = 3) */
	lim->dma_alignment = 3;
}

void regbuf_dma_cookie_destroy(struct regbuf_dma_cookie *c)
{
	if (c)
		cookie_free(c);
}

/*
 * An SGL for an I/O over descriptors i..j (i < j) that does not end at the
 * end of j: the first and last descriptors are cut to the I/O, so they cannot
 * come from the shared array, and an SGL segment ends at its first trailing
 * Data Block (NVMe 1.4 §4.4), so the middle ones cannot be pointed at either.  Write
 * [first, copies of i+1..j-1, last] to the scratch and point a Last Segment
 * at it: O(j - i).  With 2 MiB segments and MDTS at most 2 MiB this is never
 * more than two descriptors.
 */
static int sgl_copy(const struct regbuf_dma_cookie *c, uint64_t off, uint64_t len, uint32_t i,
		    uint32_t j, struct regbuf_nvme_sgl_desc *sgl1,
		    const struct regbuf_dma_sgl_scratch *scratch)
{
	struct regbuf_nvme_sgl_desc *d;
	uint32_t n = j - i + 1;
	uint64_t end = off + len;

	if (!scratch || scratch->nr < n)
		return -ENOSPC;
	d = scratch->descs;
	regbuf_nvme_sgl_set(&d[0], regbuf_le64_to_cpu(c->sgl[i].addr) + (off - c->seg_start[i]),
			    (uint32_t)(c->seg_start[i + 1] - off), REGBUF_NVME_SGL_DATA_BLOCK);
	if (n > 2)
		memcpy(&d[1], &c->sgl[i + 1], sizeof(*d) * (n - 2));
	regbuf_nvme_sgl_set(&d[n - 1], regbuf_le64_to_cpu(c->sgl[j].addr),
			    (uint32_t)(end - c->seg_start[j]), REGBUF_NVME_SGL_DATA_BLOCK);
	regbuf_nvme_sgl_set(sgl1, regbuf_iova_u64(scratch->iova), 16 * n,
			    REGBUF_NVME_SGL_LAST_SEGMENT);
	return (int)n;
}

/* The PRP1/PRP2 cases the inline regbuf_dma_prp() leaves here: lists, other page sizes. */
int __regbuf_dma_prp_list(const struct regbuf_dma_cookie *c, uint64_t pos, uint64_t len,
			  uint64_t *prp1, uint64_t *prp2)
{
	if (REGBUF_UNLIKELY(c->prp_mode == __REGBUF_DMA_PRP_NONE))
		return -EOPNOTSUPP;
	dma_prp_any(c, pos, len, -1, prp1, prp2);
	return 0;
}

/*
 * An SGL for an I/O over descriptors i..j, i < j, that the inline
 * regbuf_dma_sgl() left here (it handles i == j, and j == i + 1 cut at both
 * ends when the scratch has room).  When it ends at the end of j, a Last
 * Segment points into the shared array, after a two-descriptor segment when
 * it starts mid-i.  Otherwise sgl_copy().
 */
int __regbuf_dma_sgl_segs(const struct regbuf_dma_cookie *c, uint64_t off, uint64_t len,
			  uint32_t i, uint32_t j, struct regbuf_nvme_sgl_desc *sgl1,
			  const struct regbuf_dma_sgl_scratch *scratch)
{
	uint64_t end = off + len, sgl_iova = regbuf_iova_u64(c->sgl_iova);

	if (end == c->seg_start[j + 1]) {
		if (off == c->seg_start[i]) {
			regbuf_nvme_sgl_set(sgl1, sgl_iova + 16 * (uint64_t)i, 16 * (j - i + 1),
					    REGBUF_NVME_SGL_LAST_SEGMENT);
			return 0;
		}
		if (!scratch || scratch->nr < 2)
			return -ENOSPC;
		regbuf_nvme_sgl_set(&scratch->descs[0], regbuf_le64_to_cpu(c->sgl[i].addr) +
				    (off - c->seg_start[i]), (uint32_t)(c->seg_start[i + 1] - off),
				    REGBUF_NVME_SGL_DATA_BLOCK);
		regbuf_nvme_sgl_set(&scratch->descs[1], sgl_iova + 16 * (uint64_t)(i + 1),
				    16 * (j - i), REGBUF_NVME_SGL_LAST_SEGMENT);
		regbuf_nvme_sgl_set(sgl1, regbuf_iova_u64(scratch->iova), 32,
				    REGBUF_NVME_SGL_SEGMENT);
		return 2;
	}
	return sgl_copy(c, off, len, i, j, sgl1, scratch);
}

