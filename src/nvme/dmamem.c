// SPDX-License-Identifier: MIT
/*
 * Driver DMA memory: queues, PRP list pages and scratch pages the device
 * reads, in 2 MiB chunks mapped once (a VFIO mapping, or one hugetlb page's
 * physical address) from which 4 KiB pages are handed out.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "nvme_priv.h"
#include "sys/sys.h"

/*
 * @len bytes aligned to NVME_CHUNK_SIZE: a hugetlb mapping (physically
 * contiguous), or, under VFIO only, 4 KiB pages over-allocated and trimmed
 * to the alignment.  Sets *@hugetlb.  0 or -ENOMEM.
 */
static int chunk_map(struct regbuf_nvme_ctrl *c, uint64_t len, uint8_t **pp, bool *hugetlb)
{
	void *raw = NULL;
	uint8_t *p;

	if (!sys_mmap(&raw, NULL, len, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB | MAP_POPULATE, -1, 0)) {
		*pp = raw;
		*hugetlb = true;
		return 0;
	}
	if (c->info.mode == REGBUF_NVME_MODE_PHYS)
		return -ENOMEM;	/* physically contiguous memory needs a huge page */
	if (sys_mmap(&raw, NULL, len + NVME_CHUNK_SIZE, PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0))
		return -ENOMEM;
	p = (uint8_t *)(((uintptr_t)raw + (uintptr_t)(NVME_CHUNK_SIZE - 1)) & ~(uintptr_t)(NVME_CHUNK_SIZE - 1));
	if (p > (uint8_t *)raw)
		munmap(raw, (size_t)(p - (uint8_t *)raw));
	munmap(p + len, (size_t)((uint8_t *)raw + len + NVME_CHUNK_SIZE - (p + len)));
	memset(p, 0, len);
	*pp = p;
	*hugetlb = false;
	return 0;
}

/* The device address of a chunk: a VFIO mapping, or its one physical segment. */
static int chunk_dma_map(struct regbuf_nvme_ctrl *c, struct nvme_dma_chunk *ch)
{
	struct regbuf_seg *segs;
	uint32_t nr;
	int ret;

	if (c->info.mode == REGBUF_NVME_MODE_VFIO)
		return nvme_vfio_map(c, (uint64_t)(uintptr_t)ch->vaddr, ch->len, NVME_CHUNK_SIZE,
				     &ch->iova, false);
	ret = nvme_phys_translate(c, (uint64_t)(uintptr_t)ch->vaddr, ch->len, &segs, &nr, true);
	if (ret)
		return ret;
	if (nr == 1)
		ch->iova = segs[0].addr;
	free(segs);
	return nr == 1 ? 0 : -ENOMEM;
}

static int chunk_create(struct regbuf_nvme_ctrl *c, uint64_t len, struct nvme_dma_chunk **chp)
{
	struct nvme_dma_chunk *ch = calloc(1, sizeof(*ch));
	int ret;

	if (!ch)
		return -ENOMEM;
	ch->len = len;
	ret = chunk_map(c, len, &ch->vaddr, &ch->hugetlb);
	if (ret)
		goto out_free;
	ret = chunk_dma_map(c, ch);
	if (ret)
		goto out_unmap;
	*chp = ch;
	return 0;
out_unmap:
	munmap(ch->vaddr, len);
out_free:
	free(ch);
	return ret;
}

static void chunk_destroy(struct regbuf_nvme_ctrl *c, struct nvme_dma_chunk *ch)
{
	if (c->info.mode == REGBUF_NVME_MODE_VFIO)
		nvme_vfio_unmap(c, ch->iova, ch->len);
	munmap(ch->vaddr, ch->len);
	free(ch);
}

static bool page_used(const struct nvme_dma_chunk *ch, uint32_t i)
{
	return ch->used[i / 64] >> (i % 64) & 1;
}

static void page_mark(struct nvme_dma_chunk *ch, uint32_t i, uint32_t n, bool used)
{
	for (; n; n--, i++) {
		if (used)
			ch->used[i / 64] |= UINT64_C(1) << (i % 64);
		else
			ch->used[i / 64] &= ~(UINT64_C(1) << (i % 64));
	}
}

/*
 * Zeroed, page-aligned, physically/IOVA-contiguous memory.  Up to 2 MiB comes
 * from shared chunks; larger (PRP lists of buffers over ~1 GiB) gets a
 * mapping of its own, which physical mode cannot provide (-ENOMEM).
 */
int nvme_dma_alloc(struct regbuf_nvme_ctrl *c, size_t len, void **vaddr, uint64_t *iova)
{
	uint32_t n = (uint32_t)((len + 4095) / 4096), i, run;
	struct nvme_dma_chunk *ch;
	int ret;

	if (!len)
		return -EINVAL;
	if (n > NVME_CHUNK_PAGES) {
		uint64_t big = ((uint64_t)len + NVME_CHUNK_SIZE - 1) & ~(NVME_CHUNK_SIZE - 1);

		if (c->info.mode != REGBUF_NVME_MODE_VFIO)
			return -ENOMEM;
		pthread_mutex_lock(&c->lock);
		ret = chunk_create(c, big, &ch);
		if (!ret) {
			ch->big = true;
			ch->next = c->chunks;
			c->chunks = ch;
			*vaddr = ch->vaddr;
			*iova = ch->iova;
		}
		pthread_mutex_unlock(&c->lock);
		return ret;
	}
	pthread_mutex_lock(&c->lock);
	for (ch = c->chunks;; ch = ch->next) {
		if (!ch) {
			ret = chunk_create(c, NVME_CHUNK_SIZE, &ch);
			if (ret) {
				pthread_mutex_unlock(&c->lock);
				return ret;
			}
			ch->next = c->chunks;
			c->chunks = ch;
		}
		if (ch->big)
			continue;
		for (i = 0, run = 0; i < NVME_CHUNK_PAGES; i++) {
			run = page_used(ch, i) ? 0 : run + 1;
			if (run == n)
				break;
		}
		if (run == n) {
			i = i + 1 - n;
			page_mark(ch, i, n, true);
			*vaddr = ch->vaddr + (size_t)i * 4096;
			*iova = ch->iova + (uint64_t)i * 4096;
			memset(*vaddr, 0, (size_t)n * 4096);
			pthread_mutex_unlock(&c->lock);
			return 0;
		}
	}
}

void nvme_dma_free(struct regbuf_nvme_ctrl *c, void *vaddr, size_t len)
{
	struct nvme_dma_chunk *ch, **pp;
	uint8_t *p = vaddr;

	if (!vaddr)
		return;
	pthread_mutex_lock(&c->lock);
	for (pp = &c->chunks; (ch = *pp); pp = &ch->next) {
		if (ch->big && p == ch->vaddr) {
			*pp = ch->next;
			chunk_destroy(c, ch);
			break;
		}
		if (p >= ch->vaddr && p < ch->vaddr + ch->len) {
			page_mark(ch, (uint32_t)((size_t)(p - ch->vaddr) / 4096),
				  (uint32_t)((len + 4095) / 4096), false);
			break;
		}
	}
	pthread_mutex_unlock(&c->lock);
}

void nvme_dma_free_all(struct regbuf_nvme_ctrl *c)
{
	struct nvme_dma_chunk *ch, *next;

	for (ch = c->chunks; ch; ch = next) {
		next = ch->next;
		chunk_destroy(c, ch);
	}
	c->chunks = NULL;
}
