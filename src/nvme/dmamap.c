// SPDX-License-Identifier: MIT
/*
 * Buffers the device reaches: one VFIO mapping (or the physical segments) of
 * the caller's memory, and its descriptors built once by the dma layer.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "nvme_priv.h"

/* dma ops: device-visible list memory from the driver's DMA pages. */
static int ops_alloc(void *priv, size_t len, void **vaddr, regbuf_iova_t *iova)
{
	uint64_t a;
	int ret = nvme_dma_alloc(priv, len, vaddr, &a);

	if (!ret)
		*iova = regbuf_iova(a);
	return ret;
}

static void ops_free(void *priv, void *vaddr, size_t len, regbuf_iova_t iova)
{
	(void)iova;
	nvme_dma_free(priv, vaddr, len);
}

static const struct regbuf_dma_ops nvme_dma_ops = {
	.alloc = ops_alloc,
	.free = ops_free,
};

static void dma_ctrl_params(const struct regbuf_nvme_ctrl *c, struct regbuf_dma_ctrl *p)
{
	memset(p, 0, sizeof(*p));
	p->page_shift = c->page_shift;
	p->max_bytes = c->info.max_cmd_bytes;
}

static int buf_build(struct regbuf_nvme_dmamap *b)
{
	struct regbuf_nvme_ctrl *c = b->ctrl;
	struct regbuf_dma_ctrl p;
	uint64_t off = 0;
	uint32_t i;
	int ret;

	b->seg_off = malloc((b->nr_segs + 1) * sizeof(*b->seg_off));
	if (!b->seg_off)
		return -ENOMEM;
	for (i = 0; i < b->nr_segs; i++) {
		b->seg_off[i] = off;
		off += b->segs[i].len;
	}
	b->seg_off[i] = off;
	dma_ctrl_params(c, &p);
	ret = regbuf_dma_cookie_create(&b->cookie, b->segs, b->nr_segs, b->len, &p,
				       &nvme_dma_ops, c,
				       nvme_sgl_ok(c) ? 0 : REGBUF_DMA_F_NO_SGL);
	if (ret) {
		free(b->seg_off);
		b->seg_off = NULL;
		return ret;
	}
	return 0;
}

static void buf_unbuild(struct regbuf_nvme_dmamap *b)
{
	regbuf_dma_cookie_destroy(b->cookie);
	b->cookie = NULL;
	free(b->seg_off);
	b->seg_off = NULL;
}

/* The segment holding byte @off (< b->len). */
static uint32_t dmamap_seg_of(const struct regbuf_nvme_dmamap *b, uint64_t off)
{
	uint32_t lo = 0, hi = b->nr_segs - 1;

	while (lo < hi) {
		uint32_t mid = (lo + hi + 1) / 2;

		if (b->seg_off[mid] <= off)
			lo = mid;
		else
			hi = mid - 1;
	}
	return lo;
}

uint64_t regbuf_nvme_dmamap_iova(const struct regbuf_nvme_dmamap *b, uint64_t off)
{
	uint32_t i;

	if (off >= b->len)
		return 0;
	i = dmamap_seg_of(b, off);
	return b->segs[i].addr + (off - b->seg_off[i]);
}

int nvme_dmamap_iova_contig(const struct regbuf_nvme_dmamap *b, uint64_t off, uint64_t len,
			    uint64_t *iova)
{
	uint32_t i;

	if (!len || off >= b->len || len > b->len - off)
		return -EINVAL;
	i = dmamap_seg_of(b, off);
	if (off + len > b->seg_off[i] + b->segs[i].len)
		return -EINVAL;		/* runs into the next physical segment */
	*iova = b->segs[i].addr + (off - b->seg_off[i]);
	return 0;
}

/*
 * Map [va, va + len) for the device.  @phys_segs: the buffer's physical
 * segments as a table registered them (physical mode), or NULL to read them
 * from pagemap.
 */
static int buf_map(struct regbuf_nvme_dmamap **bp, struct regbuf_nvme_ctrl *c, uint64_t va,
		   uint64_t len, const struct regbuf_seg *phys_segs, uint32_t nr_phys,
		   struct regbuf_buf *tbuf, unsigned int flags)
{
	uint64_t align, iova;
	struct regbuf_nvme_dmamap *b;
	uint32_t i;
	int ret;

	if (!bp || !c || !va || !len || (va & 3) || va + len < va ||
	    (flags & ~REGBUF_NVME_DMAMAP_F_READONLY))
		return -EINVAL;
	b = calloc(1, sizeof(*b));
	if (!b)
		return -ENOMEM;
	b->ctrl = c;
	b->vaddr = (uint8_t *)(uintptr_t)va;
	b->len = len;
	if (c->info.mode == REGBUF_NVME_MODE_VFIO) {
		b->map_vaddr = va & ~UINT64_C(4095);
		b->map_len = ((va + len + 4095) & ~UINT64_C(4095)) - b->map_vaddr;
		/* 2 MiB-aligned IOVAs for large mappings: a 2 MiB-aligned hugepage
		 * arena then lands on the IOMMU's 2 MiB pages */
		align = b->map_len >= NVME_CHUNK_SIZE ? NVME_CHUNK_SIZE : 4096;
		ret = nvme_vfio_map(c, b->map_vaddr, b->map_len, align, &iova,
				    flags & REGBUF_NVME_DMAMAP_F_READONLY);
		if (ret)
			goto out_free;
		b->map_iova = iova;
		b->segs = malloc(sizeof(*b->segs));
		if (!b->segs) {
			ret = -ENOMEM;
			goto out_unmap;
		}
		b->segs[0].addr = iova + (va - b->map_vaddr);
		b->segs[0].len = len;
		b->nr_segs = 1;
	} else {
		/* pagemap now, hugetlb only; a table's layout must still match it */
		ret = nvme_phys_translate(c, va, len, &b->segs, &b->nr_segs, true);
		if (ret)
			goto out_free;
		if (phys_segs) {
			bool same = nr_phys == b->nr_segs;

			for (i = 0; same && i < nr_phys; i++)
				same = phys_segs[i].addr == b->segs[i].addr &&
				       phys_segs[i].len == b->segs[i].len;
			if (!same) {
				ret = -ESTALE;
				goto out_free;
			}
		}
	}
	b->contig = b->nr_segs == 1;
	ret = buf_build(b);
	if (ret)
		goto out_unmap;
	b->tbuf = tbuf;
	*bp = b;
	return 0;
out_unmap:
	if (b->map_len)
		nvme_vfio_unmap(c, b->map_iova, b->map_len);
out_free:
	free(b->segs);
	free(b);
	return ret;
}

int regbuf_nvme_dmamap_create(struct regbuf_nvme_dmamap **bp, struct regbuf_nvme_ctrl *c,
			      void *addr, size_t len, unsigned int flags)
{
	return buf_map(bp, c, (uint64_t)(uintptr_t)addr, len, NULL, 0, NULL, flags);
}

int regbuf_nvme_dmamap_create_slot(struct regbuf_nvme_dmamap **bp, struct regbuf_nvme_ctrl *c,
				struct regbuf_table *t, uint32_t slot, unsigned int flags)
{
	struct regbuf_buf_info info;
	struct regbuf_buf *tb;
	int ret;

	if (!bp || !c || !t)
		return -EINVAL;
	ret = regbuf_table_buf_get(t, slot, &tb);
	if (ret)
		return ret;
	ret = regbuf_buf_info(tb, &info);
	if (ret)
		goto out_put;
	if (c->info.mode == REGBUF_NVME_MODE_PHYS && !(info.flags & REGBUF_BUF_F_PHYS)) {
		ret = -EPERM;	/* registered without frame numbers */
		goto out_put;
	}
	ret = buf_map(bp, c, info.ubuf, info.len,
		      c->info.mode == REGBUF_NVME_MODE_PHYS ? info.phys_segs : NULL,
		      info.nr_phys_segs, tb, flags);
	if (!ret)
		return 0;
out_put:
	regbuf_buf_put(tb);
	return ret;
}

void regbuf_nvme_dmamap_destroy(struct regbuf_nvme_dmamap *b)
{
	if (!b)
		return;
	buf_unbuild(b);
	if (b->map_len)
		nvme_vfio_unmap(b->ctrl, b->map_iova, b->map_len);
	if (b->tbuf)
		regbuf_buf_put(b->tbuf);
	free(b->segs);
	free(b);
}

uint64_t regbuf_nvme_dmamap_len(const struct regbuf_nvme_dmamap *b)
{
	return b->len;
}

uint32_t regbuf_nvme_dmamap_nr_segs(const struct regbuf_nvme_dmamap *b)
{
	return b->nr_segs;
}
