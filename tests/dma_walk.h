/* SPDX-License-Identifier: MIT */
/*
 * Test support for the dma layer: a pretend device address space and an NVMe
 * descriptor walker.
 *
 * The walker is written from the NVMe 1.4 base specification (§4.3 PRP,
 * NVMe §4.4 SGL, §5.15.2.1 MDTS) and QEMU 7.2's hw/nvme/ctrl.c (nvme_map_prp(),
 * nvme_map_sgl()), not from src/dma: it reads the
 * descriptors the way a controller would, through device addresses, and
 * returns the byte ranges the controller would transfer, or the NVMe status
 * it would fail the command with.  Where the specification is stricter than
 * QEMU (PRP1 dword alignment, list pointer qword alignment, an SGL that
 * describes more data than the command without SGLS bit 18) the walker
 * follows the specification.
 */
#ifndef REGBUF_TESTS_DMA_WALK_H
#define REGBUF_TESTS_DMA_WALK_H

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <regbuf/dma.h>

/* ---- a device address space: regions of host memory at made-up IOVAs ---- */

#define TDEV_MAX_REGIONS 64

struct tdev_region {
	uint8_t *va;
	uint64_t iova;
	size_t len;
};

struct tdev {
	struct tdev_region r[TDEV_MAX_REGIONS];
	unsigned int n;
	uint64_t next_iova;
	int fail_at;		/* fail the alloc call with this index (0-based); -1 never */
	unsigned int calls;	/* alloc calls so far */
	unsigned int bad_frees;	/* frees that did not match an allocation exactly */
	/* translation of a pretend host buffer, for the classic chain */
	const struct regbuf_seg *segs;
	const uint64_t *seg_off;	/* buffer offset of each segment, for a binary search */
	uint32_t nr_segs;
	uint64_t vbase;
	uint64_t vlen;
};

static inline void tdev_init(struct tdev *d)
{
	memset(d, 0, sizeof(*d));
	d->next_iova = UINT64_C(0xd00000000000);
	d->fail_at = -1;
}

static int tdev_alloc(void *priv, size_t len, void **vaddr, regbuf_iova_t *iova)
{
	struct tdev *d = priv;
	size_t align = 1 << 16, rounded = (len + align - 1) & ~(align - 1);
	void *p;

	if ((int)d->calls++ == d->fail_at || d->n == TDEV_MAX_REGIONS)
		return -ENOMEM;
	/*
	 * Only the IOVA needs aligning (below): a plain allocation keeps fuzzing
	 * off the mmap/munmap path that 64 KiB-aligned ones take under ASan.
	 */
	p = malloc(len ? len : 1);
	if (!p)
		return -ENOMEM;
	memset(p, 0xa5, len);	/* garbage, as fresh memory may hold */
	d->r[d->n].va = p;
	d->r[d->n].iova = d->next_iova;
	d->r[d->n].len = len;
	*vaddr = p;
	*iova = d->next_iova;
	d->n++;
	/* keep every region aligned for any controller page size the tests use */
	d->next_iova += (rounded + (UINT64_C(1) << 20) + (UINT64_C(1) << 21) - 1) &
			~((UINT64_C(1) << 21) - 1);
	return 0;
}

/* As the kernel's dma_unmap_*() must be given what dma_map_*() returned: unmapping uses what was recorded; a mismatch is a bug. */
static void tdev_free(void *priv, void *vaddr, size_t len, regbuf_iova_t iova)
{
	struct tdev *d = priv;
	unsigned int i;

	for (i = 0; i < d->n; i++) {
		if (d->r[i].va == vaddr && d->r[i].iova == iova && d->r[i].len == len) {
			free(vaddr);
			d->r[i] = d->r[--d->n];
			return;
		}
	}
	d->bad_frees++;
}

/* Host view of device range [iova, iova + len), or NULL (a DMA read fault). */
static inline const uint8_t *tdev_ptr(const struct tdev *d, uint64_t iova, uint64_t len)
{
	unsigned int i;

	for (i = 0; i < d->n; i++)
		if (iova >= d->r[i].iova && iova - d->r[i].iova <= d->r[i].len &&
		    len <= d->r[i].len - (iova - d->r[i].iova))
			return d->r[i].va + (iova - d->r[i].iova);
	return NULL;
}

/* Host [vbase, vbase + vlen) -> DMA, through the layout; used by the classic chain. */
static int tdev_translate(void *priv, uint64_t vaddr, uint64_t len, struct regbuf_seg *out,
			  uint32_t max)
{
	struct tdev *d = priv;
	uint64_t p = vaddr - d->vbase;
	uint32_t i, n = 0;

	if (vaddr < d->vbase || p > d->vlen || len > d->vlen - p)
		return -EFAULT;
	i = 0;
	if (d->seg_off) {
		uint32_t lo = 0, hi = d->nr_segs;

		while (hi - lo > 1) {
			uint32_t mid = (lo + hi) / 2;

			if (d->seg_off[mid] <= p)
				lo = mid;
			else
				hi = mid;
		}
		i = lo;
		p -= d->seg_off[lo];
	}
	for (; i < d->nr_segs && len; i++) {
		uint64_t l;

		if (p >= d->segs[i].len) {
			p -= d->segs[i].len;
			continue;
		}
		if (n == max)
			return -E2BIG;
		l = d->segs[i].len - p < len ? d->segs[i].len - p : len;
		out[n].addr = d->segs[i].addr + p;
		out[n].len = l;
		n++;
		len -= l;
		p = 0;
	}
	return (int)n;
}

static const struct regbuf_dma_ops tdev_ops = {
	.alloc = tdev_alloc,
	.free = tdev_free,
	.translate = tdev_translate,
};

/* ---- transfer ranges ---- */

#define W_MAX_RANGES (1u << 17)

struct wranges {
	struct regbuf_seg r[W_MAX_RANGES];
	uint32_t n;		/* after merging contiguous neighbours */
	uint32_t elems;		/* before merging: what QEMU counts against IOV_MAX */
};

static inline int wr_add(struct wranges *w, uint64_t addr, uint64_t len)
{
	w->elems++;
	if (w->n && w->r[w->n - 1].addr + w->r[w->n - 1].len == addr) {
		w->r[w->n - 1].len += len;
		return 0;
	}
	if (w->n == W_MAX_RANGES)
		return -1;
	w->r[w->n].addr = addr;
	w->r[w->n].len = len;
	w->n++;
	return 0;
}

static inline bool wr_equal(const struct wranges *a, const struct wranges *b)
{
	return a->n == b->n && !memcmp(a->r, b->r, sizeof(a->r[0]) * a->n);
}

/* The reference: bytes [off, off + len) of a buffer laid out as @segs, by linear walk. */
static inline void ref_ranges(struct wranges *w, const struct regbuf_seg *segs, uint32_t nr,
			      uint64_t off, uint64_t len)
{
	uint32_t i;

	w->n = 0;
	w->elems = 0;
	for (i = 0; i < nr && len; i++) {
		uint64_t l;

		if (off >= segs[i].len) {
			off -= segs[i].len;
			continue;
		}
		l = segs[i].len - off < len ? segs[i].len - off : len;
		wr_add(w, segs[i].addr + off, l);
		len -= l;
		off = 0;
	}
}

/* ---- the controller side ---- */

/* NVMe generic command status values (NVMe 1.4 Figure 126), as QEMU 7.2 names them. */
enum {
	WS_OK = 0x00,
	WS_INVALID_FIELD = 0x02,
	WS_DATA_TRAS_ERROR = 0x04,
	WS_INTERNAL_DEV_ERROR = 0x06,
	WS_INVALID_SGL_SEG_DESCR = 0x0d,
	WS_INVALID_NUM_SGL_DESCRS = 0x0e,
	WS_DATA_SGL_LEN_INVALID = 0x0f,
	WS_SGL_DESCR_TYPE_INVALID = 0x11,
	WS_INVALID_PRP_OFFSET = 0x13,
};

struct wctrl {
	unsigned int page_shift;	/* CC.MPS + 12 */
	uint64_t mdts_bytes;		/* 0: no limit */
	bool iov_max;			/* QEMU: more than 1024 elements fails */
};

static inline int w_check_len(const struct wctrl *ctl, uint64_t len, struct wranges *w)
{
	w->n = 0;
	w->elems = 0;
	/* MDTS is checked before the data pointer is looked at (QEMU nvme_check_mdts()). */
	if (ctl->mdts_bytes && len > ctl->mdts_bytes)
		return WS_INVALID_FIELD;
	return WS_OK;
}

/*
 * PRP (NVMe 1.4 §4.3; QEMU nvme_map_prp()).  @len is what the command's NLB
 * implies.
 */
static inline int walk_prp(const struct tdev *d, const struct wctrl *ctl, uint64_t prp1,
			   uint64_t prp2, uint64_t len, struct wranges *w)
{
	uint64_t page = UINT64_C(1) << ctl->page_shift, mask = page - 1, t;
	uint64_t nents, i, list;
	const uint8_t *ents;
	int st = w_check_len(ctl, len, w);

	if (st)
		return st;
	/* "The first PRP entry ... bits 1:0 shall be cleared": dword aligned offset. */
	if (prp1 & 3)
		return WS_INVALID_PRP_OFFSET;
	t = page - (prp1 & mask);
	if (t > len)
		t = len;
	wr_add(w, prp1, t);
	len -= t;
	if (!len)
		return WS_OK;		/* PRP2 is not used */
	if (len <= page) {
		/* PRP2 is the second data page: no offset */
		if (prp2 & mask)
			return WS_INVALID_PRP_OFFSET;
		wr_add(w, prp2, len);
		return WS_OK;
	}
	/* PRP2 is a list pointer: qword aligned, any offset inside the page. */
	if (prp2 & 7)
		return WS_INVALID_PRP_OFFSET;
	list = prp2;
	nents = (page - (list & mask)) >> 3;
	ents = tdev_ptr(d, list, nents * 8);
	if (!ents)
		return WS_DATA_TRAS_ERROR;
	for (i = 0; len; ) {
		uint64_t e;

		memcpy(&e, ents + 8 * i, 8);
		e = regbuf_le64_to_cpu(e);
		if (i == nents - 1 && len > page) {
			/* last entry of a list page with more than a page to go: the next list */
			if (e & mask)
				return WS_INVALID_PRP_OFFSET;
			list = e;
			nents = page >> 3;
			ents = tdev_ptr(d, list, page);
			if (!ents)
				return WS_DATA_TRAS_ERROR;
			i = 0;
			continue;
		}
		if (e & mask)
			return WS_INVALID_PRP_OFFSET;
		t = len < page ? len : page;
		wr_add(w, e, t);
		len -= t;
		i++;
	}
	if (ctl->iov_max && w->elems > 1024)
		return WS_INTERNAL_DEV_ERROR;
	return WS_OK;
}

static inline unsigned int sgl_type(const struct regbuf_nvme_sgl_desc *s)
{
	return s->type >> 4;
}

/*
 * SGL (NVMe 1.4 §4.4; QEMU nvme_map_sgl()).  Bit bucket, keyed and
 * transport descriptors are not supported (QEMU 7.2 advertises SGLS = 1).
 */
static inline int walk_sgl(const struct tdev *d, const struct wctrl *ctl,
			   const struct regbuf_nvme_sgl_desc *sgl1, uint64_t len,
			   struct wranges *w)
{
	struct regbuf_nvme_sgl_desc cur = *sgl1;
	const struct regbuf_nvme_sgl_desc *seg;
	unsigned int hops = 0;
	int st = w_check_len(ctl, len, w);

	if (st)
		return st;
	for (;;) {
		uint64_t addr = regbuf_le64_to_cpu(cur.addr);
		uint32_t dlen = regbuf_le32_to_cpu(cur.len);
		uint32_t n, k, nd;
		bool last_seg = sgl_type(&cur) == REGBUF_NVME_SGL_LAST_SEGMENT;

		if (hops == 0 && sgl_type(&cur) == REGBUF_NVME_SGL_DATA_BLOCK) {
			seg = &cur;
			n = 1;
			nd = 1;
		} else {
			if (sgl_type(&cur) != REGBUF_NVME_SGL_SEGMENT && !last_seg)
				return WS_INVALID_SGL_SEG_DESCR;
			if (!dlen || dlen % 16)
				return WS_INVALID_SGL_SEG_DESCR;
			if (addr + dlen < addr)
				return WS_DATA_SGL_LEN_INVALID;
			seg = (const void *)tdev_ptr(d, addr, dlen);
			if (!seg)
				return WS_DATA_TRAS_ERROR;
			n = dlen / 16;
			/* A segment ending in a Data Block is the last one. */
			if (sgl_type(&seg[n - 1]) == REGBUF_NVME_SGL_DATA_BLOCK) {
				nd = n;
			} else {
				if (last_seg)
					return WS_INVALID_SGL_SEG_DESCR;
				nd = n - 1;
			}
		}
		for (k = 0; k < nd; k++) {
			uint64_t a = regbuf_le64_to_cpu(seg[k].addr);
			uint64_t l = regbuf_le32_to_cpu(seg[k].len);

			switch (sgl_type(&seg[k])) {
			case REGBUF_NVME_SGL_DATA_BLOCK:
				break;
			case REGBUF_NVME_SGL_SEGMENT:
			case REGBUF_NVME_SGL_LAST_SEGMENT:
				return WS_INVALID_NUM_SGL_DESCRS;
			default:
				return WS_SGL_DESCR_TYPE_INVALID;
			}
			if (!l)
				continue;
			/*
			 * More data than the command, without SGLS bit 18 (excess
			 * length): an error by the spec; QEMU 7.2 silently truncates.
			 */
			if (l > len)
				return WS_DATA_SGL_LEN_INVALID;
			if (a + l < a)
				return WS_DATA_SGL_LEN_INVALID;
			wr_add(w, a, l);
			len -= l;
		}
		if (nd == n || (hops == 0 && n == 1 && seg == &cur))
			break;
		cur = seg[n - 1];
		if (++hops > 4096)
			return WS_INVALID_SGL_SEG_DESCR;
	}
	if (len)
		return WS_DATA_SGL_LEN_INVALID;
	if (ctl->iov_max && w->elems > 1024)
		return WS_INTERNAL_DEV_ERROR;
	return WS_OK;
}

#endif /* REGBUF_TESTS_DMA_WALK_H */
