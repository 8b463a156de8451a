// SPDX-License-Identifier: MIT
/*
 * The classic per-I/O descriptor chain, for comparison only: what a driver
 * without premapped buffers does for every I/O,
 * user pointer -> pages[] -> bio_vec[] -> scatterlist[] -> PRP __le64[].
 * Each step is done for real, per I/O, the way the kernel NVMe driver did
 * before Linux 6.17 (nvme_map_data() with nvme_pci_setup_prps()): translate
 * every CPU page (get_user_pages + dma_map_page), merge physically
 * contiguous pages into multipage segments (bio_add_page), copy them into a
 * scatterlist (blk_rq_map_sg + dma_map_sg), then walk the scatterlist in
 * controller pages into PRP list pages taken from a pool, chaining a full
 * page by moving its last entry to the next page.  Lists of at most 32 PRP
 * entries or 16 SGL descriptors come from a pool of 256-byte chunks, the
 * rest from a pool of controller pages, as the kernel's two dma_pools.
 *
 * Not part of the library: `regbuf bench map`, `regbuf nvme bench` and the
 * tests link it to measure the premapped cookie against it and to check
 * both build descriptors that reach the same bytes.
 */
#include <stdlib.h>
#include <string.h>

#include <regbuf/dma.h>

#include "baseline.h"

#define CPU_PAGE_SHIFT	12
#define CPU_PAGE	(UINT64_C(1) << CPU_PAGE_SHIFT)
/* Without an MDTS, cap like the 6.17 kernel's NVME_MAX_BYTES. */
#define CLASSIC_MAX_BYTES	(UINT64_C(8) << 20)
/* NVME_SMALL_POOL_SIZE: 256-byte lists for up to 32 PRP entries or 16 SGL descriptors */
#define SMALL_LIST	256u
/* req->lists[] entries with this bit are small-pool chunks */
#define SMALL_BIT	(1u << 31)

/* A scatterlist entry after dma_map_sg(): CPU view and device view. */
struct classic_sg {
	uint64_t page;		/* host address of the page (struct page * stand-in) */
	uint32_t offset;
	uint32_t length;
	uint64_t dma_address;
	uint64_t dma_length;
};

struct baseline_dma {
	const struct regbuf_dma_ops *ops;
	void *priv;
	unsigned int page_shift;
	uint64_t max_bytes;
	/* the list pool: nr_lists controller pages in one device-visible region */
	uint8_t *pool;
	regbuf_iova_t pool_iova;
	size_t pool_bytes;
	uint32_t nr_lists;
	uint32_t nr_free;
	uint32_t *free_list;
	/* the small pool: 256-byte chunks, as many bytes as the page pool */
	uint8_t *small;
	regbuf_iova_t small_iova;
	uint32_t nr_small;
	uint32_t nr_small_free;
	uint32_t *small_free;
	/* per-I/O working arrays, sized for the largest I/O */
	uint32_t max_pages;
	uint64_t *pages;		/* pages[]: DMA address of every CPU page piece */
	uint32_t *page_len;
	struct regbuf_seg *bvec;	/* bio_vec[]: merged segments (host view) */
	struct regbuf_seg *bvec_dma;	/* their DMA addresses */
	struct classic_sg *sg;		/* scatterlist[] */
};

/* The host-memory half of a classic context: what create and destroy both free. */
static void classic_free_host(struct baseline_dma *cl)
{
	free(cl->pages);
	free(cl->page_len);
	free(cl->bvec);
	free(cl->bvec_dma);
	free(cl->sg);
	free(cl->free_list);
	free(cl->small_free);
	free(cl);
}

int baseline_dma_create(struct baseline_dma **clp, const struct regbuf_dma_ctrl *ctrl,
			      const struct regbuf_dma_ops *ops, void *priv, uint32_t nr_lists,
			      unsigned int flags)
{
	struct baseline_dma *cl;
	void *va;
	uint32_t i;
	int ret;

	if (!clp || !ops || !ops->alloc || !ops->free || !ops->translate || !nr_lists || flags)
		return -EINVAL;
	cl = calloc(1, sizeof(*cl));
	if (!cl)
		return -ENOMEM;
	ret = baseline_ctrl_resolve(ctrl, &cl->page_shift, &cl->max_bytes);
	if (ret)
		goto out_free;
	if (cl->max_bytes > CLASSIC_MAX_BYTES)
		cl->max_bytes = CLASSIC_MAX_BYTES;
	cl->ops = ops;
	cl->priv = priv;
	cl->max_pages = (uint32_t)(cl->max_bytes >> CPU_PAGE_SHIFT) + 2;
	cl->pages = calloc(cl->max_pages, sizeof(*cl->pages));
	cl->page_len = calloc(cl->max_pages, sizeof(*cl->page_len));
	cl->bvec = calloc(cl->max_pages, sizeof(*cl->bvec));
	cl->bvec_dma = calloc(cl->max_pages, sizeof(*cl->bvec_dma));
	cl->sg = calloc(cl->max_pages, sizeof(*cl->sg));
	cl->free_list = calloc(nr_lists, sizeof(*cl->free_list));
	cl->nr_small = (uint32_t)(((uint64_t)nr_lists << cl->page_shift) / SMALL_LIST);
	cl->small_free = calloc(cl->nr_small, sizeof(*cl->small_free));
	if (!cl->pages || !cl->page_len || !cl->bvec || !cl->bvec_dma || !cl->sg ||
	    !cl->free_list || !cl->small_free) {
		ret = -ENOMEM;
		goto out_free;
	}
	cl->pool_bytes = (size_t)nr_lists << cl->page_shift;
	ret = ops->alloc(priv, cl->pool_bytes, &va, &cl->pool_iova);
	if (ret) {
		ret = ret < 0 ? ret : -ENOMEM;
		goto out_free;
	}
	cl->pool = va;
	if (cl->pool_iova & ((UINT64_C(1) << cl->page_shift) - 1)) {
		ret = -EINVAL;
		goto out_free_pool;
	}
	ret = ops->alloc(priv, cl->pool_bytes, &va, &cl->small_iova);
	if (ret) {
		ret = ret < 0 ? ret : -ENOMEM;
		goto out_free_pool;
	}
	cl->small = va;
	cl->nr_lists = nr_lists;
	for (i = 0; i < nr_lists; i++)
		cl->free_list[i] = nr_lists - 1 - i;
	cl->nr_free = nr_lists;
	for (i = 0; i < cl->nr_small; i++)
		cl->small_free[i] = cl->nr_small - 1 - i;
	cl->nr_small_free = cl->nr_small;
	*clp = cl;
	return 0;

out_free_pool:
	ops->free(priv, cl->pool, cl->pool_bytes, cl->pool_iova);
out_free:
	classic_free_host(cl);
	return ret;
}

void baseline_dma_destroy(struct baseline_dma *cl)
{
	if (!cl)
		return;
	cl->ops->free(cl->priv, cl->pool, cl->pool_bytes, cl->pool_iova);
	cl->ops->free(cl->priv, cl->small, cl->pool_bytes, cl->small_iova);
	classic_free_host(cl);
}

void baseline_dma_done(struct baseline_dma *cl, struct baseline_dma_req *req)
{
	while (req->nr_lists) {
		uint32_t idx = req->lists[--req->nr_lists];

		if (idx & SMALL_BIT)
			cl->small_free[cl->nr_small_free++] = idx & ~SMALL_BIT;
		else
			cl->free_list[cl->nr_free++] = idx;
	}
}

/* Take a list from the small or the page pool (dma_pool_alloc). */
static regbuf_le64 *take_list(struct baseline_dma *cl, struct baseline_dma_req *req,
			      regbuf_iova_t *iova, bool small)
{
	uint32_t idx;

	if (req->nr_lists == sizeof(req->lists) / sizeof(req->lists[0]))
		return NULL;
	if (small) {
		if (!cl->nr_small_free)
			return NULL;
		idx = cl->small_free[--cl->nr_small_free];
		req->lists[req->nr_lists++] = idx | SMALL_BIT;
		*iova = cl->small_iova + (uint64_t)idx * SMALL_LIST;
		return (regbuf_le64 *)(cl->small + (size_t)idx * SMALL_LIST);
	}
	if (!cl->nr_free)
		return NULL;
	idx = cl->free_list[--cl->nr_free];
	req->lists[req->nr_lists++] = idx;
	*iova = cl->pool_iova + ((uint64_t)idx << cl->page_shift);
	return (regbuf_le64 *)(cl->pool + ((size_t)idx << cl->page_shift));
}

/*
 * Steps 1-3 of the chain: pages[], bio_vec[], scatterlist[].  Returns the
 * number of scatterlist entries or -errno.
 */
static int classic_map(struct baseline_dma *cl, uint64_t vaddr, uint64_t len)
{
	uint64_t va = vaddr, end = vaddr + len;
	uint32_t np = 0, nb = 0, ns = 0, i;

	if (!len || len > cl->max_bytes || end < vaddr)
		return -EINVAL;
	/* 1. pages[]: one translation per CPU page, as pinning + dma_map_page do. */
	while (va < end) {
		uint64_t next = (va & ~(CPU_PAGE - 1)) + CPU_PAGE;
		uint64_t l = (next < end ? next : end) - va;
		struct regbuf_seg s;
		int n = cl->ops->translate(cl->priv, va, l, &s, 1);

		if (n < 0)
			return n;
		if (n != 1 || s.len != l)
			return -EFAULT;
		cl->pages[np] = s.addr;
		cl->page_len[np] = (uint32_t)l;
		np++;
		va += l;
	}
	/* 2. bio_vec[]: merge a page into the previous segment when physically contiguous. */
	va = vaddr;
	for (i = 0; i < np; i++) {
		if (nb && cl->bvec_dma[nb - 1].addr + cl->bvec_dma[nb - 1].len == cl->pages[i]) {
			cl->bvec[nb - 1].len += cl->page_len[i];
			cl->bvec_dma[nb - 1].len += cl->page_len[i];
		} else {
			regbuf_seg_set(&cl->bvec[nb], va, cl->page_len[i]);
			regbuf_seg_set(&cl->bvec_dma[nb], cl->pages[i], cl->page_len[i]);
			nb++;
		}
		va += cl->page_len[i];
	}
	/* 3. scatterlist[]: blk_rq_map_sg() copies segments, dma_map_sg() fills the DMA side. */
	for (i = 0; i < nb; i++) {
		struct classic_sg *sg = &cl->sg[ns++];

		sg->page = cl->bvec[i].addr & ~(CPU_PAGE - 1);
		sg->offset = (uint32_t)(cl->bvec[i].addr & (CPU_PAGE - 1));
		sg->length = (uint32_t)cl->bvec[i].len;
		sg->dma_address = cl->bvec_dma[i].addr;
		sg->dma_length = cl->bvec_dma[i].len;
	}
	return (int)ns;
}

int baseline_dma_prp(struct baseline_dma *cl, uint64_t vaddr, uint64_t len,
			   struct baseline_dma_req *req)
{
	int64_t ps = (int64_t)1 << cl->page_shift;
	uint32_t per_page = (uint32_t)(ps / 8), i;
	int64_t length = (int64_t)len, dma_len, offset;
	const struct classic_sg *sg;
	uint64_t dma_addr;
	regbuf_le64 *list;
	regbuf_iova_t iova;
	int nsg, ret;

	req->nr_lists = 0;
	nsg = classic_map(cl, vaddr, len);
	if (nsg < 0)
		return nsg;
	sg = cl->sg;
	/* 4. PRP: walk the scatterlist in controller pages (NVMe 1.4 §4.3). */
	dma_addr = sg->dma_address;
	if (dma_addr & 3)
		return -EINVAL;
	dma_len = (int64_t)sg->dma_length;
	offset = (int64_t)(dma_addr & (uint64_t)(ps - 1));
	req->prp1 = dma_addr;
	length -= ps - offset;
	if (length <= 0) {
		req->prp2 = 0;
		return 0;
	}
	dma_len -= ps - offset;
	if (dma_len > 0) {
		dma_addr += (uint64_t)(ps - offset);
	} else if (dma_len < 0) {
		return -EINVAL;		/* first segment ends before its page: a gap */
	} else {
		sg++;
		dma_addr = sg->dma_address;
		dma_len = (int64_t)sg->dma_length;
	}
	if (length <= ps) {
		if (dma_addr & (uint64_t)(ps - 1))
			return -EINVAL;
		req->prp2 = dma_addr;
		return 0;
	}
	/* nvme_pci_setup_prps(): the small pool when the entries fit in 256 bytes */
	list = take_list(cl, req, &iova,
			 (uint64_t)((length + ps - 1) / ps) <= SMALL_LIST / sizeof(regbuf_le64));
	if (!list)
		return -ENOMEM;
	req->prp2 = iova;
	i = 0;
	for (;;) {
		if (i == per_page) {
			/* Full page: its last slot becomes the chain, its entry moves on. */
			regbuf_le64 *old = list;

			list = take_list(cl, req, &iova, false);
			if (!list) {
				ret = -ENOMEM;
				goto out_release;
			}
			list[0] = old[per_page - 1];
			old[per_page - 1] = regbuf_cpu_to_le64(iova);
			i = 1;
		}
		if (dma_addr & (uint64_t)(ps - 1)) {
			ret = -EINVAL;
			goto out_release;
		}
		list[i++] = regbuf_cpu_to_le64(dma_addr);
		dma_len -= ps;
		dma_addr += (uint64_t)ps;
		length -= ps;
		if (length <= 0)
			break;
		if (dma_len > 0)
			continue;
		if (dma_len < 0) {
			ret = -EINVAL;	/* a segment ended mid-page: PRPs cannot say that */
			goto out_release;
		}
		sg++;
		dma_addr = sg->dma_address;
		dma_len = (int64_t)sg->dma_length;
	}
	return 0;

out_release:
	baseline_dma_done(cl, req);
	return ret;
}

int baseline_dma_sgl(struct baseline_dma *cl, uint64_t vaddr, uint64_t len,
			   struct baseline_dma_req *req)
{
	struct regbuf_nvme_sgl_desc *d;
	regbuf_iova_t iova;
	int nsg, i;

	req->nr_lists = 0;
	if (len > UINT32_MAX)
		return -EINVAL;
	nsg = classic_map(cl, vaddr, len);
	if (nsg < 0)
		return nsg;
	if (nsg == 1) {
		regbuf_nvme_sgl_set(&req->sgl1, cl->sg[0].dma_address,
				    (uint32_t)cl->sg[0].dma_length, REGBUF_NVME_SGL_DATA_BLOCK);
		return 0;
	}
	/* One segment page only, as the 6.17 kernel (NVME_MAX_SEGS = 256 for 4 KiB). */
	if ((uint64_t)nsg * sizeof(*d) > (UINT64_C(1) << cl->page_shift))
		return -E2BIG;
	d = (struct regbuf_nvme_sgl_desc *)take_list(cl, req, &iova,
						     (uint64_t)nsg * sizeof(*d) <= SMALL_LIST);
	if (!d)
		return -ENOMEM;
	for (i = 0; i < nsg; i++)
		regbuf_nvme_sgl_set(&d[i], cl->sg[i].dma_address, (uint32_t)cl->sg[i].dma_length,
				    REGBUF_NVME_SGL_DATA_BLOCK);
	regbuf_nvme_sgl_set(&req->sgl1, iova, (uint32_t)(16 * nsg), REGBUF_NVME_SGL_LAST_SEGMENT);
	return 0;
}

int baseline_ctrl_resolve(const struct regbuf_dma_ctrl *ctrl, unsigned int *page_shift,
			  uint64_t *max_bytes)
{
	unsigned int shift = ctrl && ctrl->page_shift ? ctrl->page_shift : 12;
	uint64_t max = ctrl && ctrl->max_bytes ? ctrl->max_bytes : UINT64_MAX;

	/* CC.MPS is 4 bits: 2^(12 + MPS), 4 KiB .. 128 MiB (NVMe 1.4 §3.1.5) */
	if ((ctrl && ctrl->__rsvd) || (max != UINT64_MAX && (max & 3)) || shift < 12 ||
	    shift > 27)
		return -EINVAL;
	*page_shift = shift;
	*max_bytes = max;
	return 0;
}
