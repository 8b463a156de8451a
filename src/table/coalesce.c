// SPDX-License-Identifier: MIT
/*
 * regbuf table - coalescing a folio layout into segments.
 *
 * Kernel rules first (io_check_coalesce_buffer(), io_coalesce_buffer(),
 * io_sqe_buffer_register() in io_uring/rsrc.c), then, clearly separated,
 * what regbuf does beyond them: per-run coalescing of layouts the kernel
 * keeps per page, and physical segments merged across adjacent folios.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "sys/kbuf.h"
#include "layout.h"

_Atomic int table_inject_coalesce_enomem;

/* Physical runs: one per extent, merged when the next extent starts where this one ends. */
static uint32_t count_phys(const struct table_layout *l, bool *merged)
{
	uint32_t i, n = 1;

	*merged = false;
	for (i = 1; i < l->nr_ext; i++) {
		if (l->ext[i - 1].pfn + l->ext[i - 1].nr == l->ext[i].pfn)
			*merged = true;
		else
			n++;
	}
	return n;
}

static void fill_phys(struct regbuf_buf *b, const struct table_layout *l)
{
	uint64_t in_page = b->ubuf & ~TABLE_PAGE_MASK, left = b->len;
	uint32_t i, n = 0;

	for (i = 0; i < l->nr_ext && left; i++) {
		uint64_t addr = (l->ext[i].pfn << TABLE_PAGE_SHIFT) + (i ? 0 : in_page);
		uint64_t len = ((uint64_t)l->ext[i].nr << TABLE_PAGE_SHIFT) - (i ? 0 : in_page);

		if (len > left)
			len = left;
		if (n && b->phys[n - 1].addr + b->phys[n - 1].len == addr)
			b->phys[n - 1].len += len;
		else
			regbuf_seg_set(&b->phys[n++], addr, len);
		left -= len;
	}
	b->nr_phys = n;
}

static struct regbuf_buf *alloc_buf(uint32_t nr_segs, bool starts, uint32_t nr_phys)
{
	size_t sz = sizeof(struct regbuf_buf) + (size_t)nr_segs * sizeof(struct regbuf_seg);
	size_t starts_off = sz, phys_off;
	struct regbuf_buf *b;

	if (starts)
		sz += (size_t)nr_segs * sizeof(uint64_t);
	phys_off = sz;
	sz += (size_t)nr_phys * sizeof(struct regbuf_seg);
	b = calloc(1, sz);
	if (!b)
		return NULL;
	atomic_init(&b->refs, 1);
	b->nr_segs = nr_segs;
	if (starts)
		b->starts = (uint64_t *)((char *)b + starts_off);
	if (nr_phys)
		b->phys = (struct regbuf_seg *)((char *)b + phys_off);
	return b;
}

/* Tile [ubuf, ubuf + len) with a first segment of @first bytes, then @granule-sized ones. */
static void fill_uniform(struct regbuf_buf *b, uint64_t first, uint64_t granule)
{
	uint64_t pos = 0, len = first;
	uint32_t i;

	for (i = 0; i < b->nr_segs; i++) {
		if (len > b->len - pos)
			len = b->len - pos;
		regbuf_seg_set(&b->segs[i], b->ubuf + pos, len);
		pos += len;
		len = granule;
	}
}

/* The fields every shape of buffer sets the same way. */
static void buf_head(struct regbuf_buf *b, uint64_t ubuf, uint64_t len, uint64_t seg0_off,
		     unsigned int shift, uint32_t kernel_nr_segs, unsigned int flags)
{
	b->ubuf = ubuf;
	b->len = len;
	b->seg0_off = seg0_off;
	b->folio_shift = (uint8_t)shift;
	b->kernel_nr_segs = kernel_nr_segs;
	b->flags = flags;
}

/*
 * io_sqe_buffer_register()'s decision, a pure predicate: coalesce only when
 * there is more than one page, io_check_coalesce_buffer() passed (kept up to
 * date by table_layout_add()), and the folios are not single pages
 * (nr_pages_mid != 1).
 */
static bool layout_coalesces(const struct table_layout *l)
{
	return l->nr_pages > 1 && l->coalesce_ok && l->ext[0].shift > TABLE_PAGE_SHIFT;
}

/* io_coalesce_buffer(): one segment per folio.  NULL when it cannot be allocated. */
static struct regbuf_buf *build_coalesced(uint64_t ubuf, uint64_t len,
					  const struct table_layout *l, uint32_t nr_phys,
					  unsigned int bflags)
{
	/*
	 * bvec[0].bv_offset = the page index inside the head folio plus the
	 * offset inside the page; never addr % folio_size, which assumes the VA
	 * is aligned like the folio (the 2025 mremap bug, fixed by
	 * first_folio_page_idx).
	 */
	uint64_t off0 = ((uint64_t)l->ext[0].idx << TABLE_PAGE_SHIFT) | (ubuf & ~TABLE_PAGE_MASK);
	unsigned int shift = l->ext[0].shift;
	uint64_t fsize = UINT64_C(1) << shift;
	/* The check passed: every extent is one folio (table_layout_add()). */
	uint32_t nr_folios = l->nr_ext;
	struct regbuf_buf *b;

	if (atomic_load(&table_inject_coalesce_enomem) > 0 &&
	    atomic_fetch_sub(&table_inject_coalesce_enomem, 1) > 0)
		return NULL;
	b = alloc_buf(nr_folios, false, nr_phys);
	if (!b)
		return NULL;
	buf_head(b, ubuf, len, off0, shift, nr_folios,
		 bflags | REGBUF_BUF_F_COALESCED | (nr_folios == 1 ? REGBUF_BUF_F_SINGLE_FOLIO : 0));
	fill_uniform(b, fsize - off0, fsize);
	return b;
}

/*
 * Beyond the kernel: the kernel would take one bvec per page.  Every extent
 * is a run of consecutive pages of one folio, so one segment per extent is
 * exactly as safe (no segment leaves its folio or skips a page) and much
 * shorter for mixed folio sizes.  Positions are no longer a shift away: keep
 * each segment's start.  NULL when it cannot be allocated.
 */
static struct regbuf_buf *build_runs(uint64_t ubuf, uint64_t len, const struct table_layout *l,
				     uint32_t nr_phys, unsigned int bflags)
{
	uint64_t in_page = ubuf & ~TABLE_PAGE_MASK, pos = 0;
	struct regbuf_buf *b = alloc_buf(l->nr_ext, true, nr_phys);
	uint32_t i;

	if (!b)
		return NULL;
	buf_head(b, ubuf, len, in_page, TABLE_PAGE_SHIFT, (uint32_t)l->nr_pages,
		 bflags | REGBUF_BUF_F_MIXED);
	for (i = 0; i < l->nr_ext; i++) {
		uint64_t n = ((uint64_t)l->ext[i].nr << TABLE_PAGE_SHIFT) - (i ? 0 : in_page);

		if (n > len - pos)
			n = len - pos;
		b->starts[i] = pos;
		regbuf_seg_set(&b->segs[i], ubuf + pos, n);
		pos += n;
	}
	return b;
}

/* What the kernel keeps when it does not coalesce: one segment per page. */
static struct regbuf_buf *build_per_page(uint64_t ubuf, uint64_t len,
					 const struct table_layout *l, uint32_t nr_phys,
					 unsigned int bflags)
{
	uint64_t in_page = ubuf & ~TABLE_PAGE_MASK;
	struct regbuf_buf *b = alloc_buf((uint32_t)l->nr_pages, false, nr_phys);

	if (!b)
		return NULL;
	buf_head(b, ubuf, len, in_page, TABLE_PAGE_SHIFT, (uint32_t)l->nr_pages, bflags);
	fill_uniform(b, TABLE_PAGE_SIZE - in_page, TABLE_PAGE_SIZE);
	return b;
}

int table_buf_build(struct regbuf_buf **bufp, uint64_t ubuf, uint64_t len,
		    const struct table_layout *l, unsigned int flags)
{
	uint64_t in_page = ubuf & ~TABLE_PAGE_MASK;
	unsigned int bflags = 0;
	struct regbuf_buf *b = NULL;
	uint32_t nr_phys = 0;
	bool merged = false;

	if (!l->nr_ext ||
	    l->nr_pages != ((in_page + len + TABLE_PAGE_SIZE - 1) >> TABLE_PAGE_SHIFT))
		return -EINVAL;
	if (l->pfn_known) {
		nr_phys = count_phys(l, &merged);
		bflags |= REGBUF_BUF_F_PHYS | (merged ? REGBUF_BUF_F_PHYS_MERGED : 0);
	}
	if (layout_coalesces(l)) {
		b = build_coalesced(ubuf, len, l, nr_phys, bflags);
		/* io_coalesce_buffer(): a failed allocation keeps the per-page array. */
		if (!b)
			bflags |= REGBUF_BUF_F_COALESCE_FALLBACK;
	} else if (!(flags & REGBUF_TABLE_F_KERNEL_EXACT) && l->nr_ext < l->nr_pages) {
		b = build_runs(ubuf, len, l, nr_phys, bflags);
	}
	if (!b)
		b = build_per_page(ubuf, len, l, nr_phys, bflags);
	if (!b)
		return -ENOMEM;
	if (!l->unchecked)
		b->flags |= l->inexact ? REGBUF_BUF_F_UPPER_BOUND : REGBUF_BUF_F_EXACT;
	b->source = (uint8_t)l->source;
	if (nr_phys)
		fill_phys(b, l);
	*bufp = b;
	return 0;
}

/*
 * A hinted buffer inside one folio needs no layout at all: one
 * segment, bv_offset = its offset inside the (VA-aligned) folio.
 */
static int build_single_folio(struct regbuf_buf **bufp, uint64_t ubuf, uint64_t len,
			      unsigned int shift, bool checked)
{
	uint64_t mask = (UINT64_C(1) << shift) - 1;
	uint64_t in_page = ubuf & ~TABLE_PAGE_MASK;
	uint64_t pages = (in_page + len + TABLE_PAGE_SIZE - 1) >> TABLE_PAGE_SHIFT;
	struct regbuf_buf *b;

	if (pages == 1 || shift == TABLE_PAGE_SHIFT)
		return 1;	/* the kernel keeps single pages at PAGE_SHIFT */
	b = alloc_buf(1, false, 0);
	if (!b)
		return -ENOMEM;
	b->ubuf = ubuf;
	b->len = len;
	b->seg0_off = ubuf & mask;
	b->folio_shift = (uint8_t)shift;
	b->kernel_nr_segs = 1;
	b->source = REGBUF_LAYOUT_HINT;
	b->flags = REGBUF_BUF_F_COALESCED | REGBUF_BUF_F_SINGLE_FOLIO |
		   (checked ? REGBUF_BUF_F_EXACT : 0);
	regbuf_seg_set(&b->segs[0], ubuf, len);
	*bufp = b;
	return 0;
}

int table_buf_create(struct regbuf_buf **bufp, const struct iovec *iov, unsigned int shift_hint,
		     unsigned int flags)
{
	uint64_t addr = (uint64_t)(uintptr_t)iov->iov_base, len = iov->iov_len;
	struct table_layout l;
	int ret;

	*bufp = NULL;
	ret = sys_kbuf_validate(addr, len);
	if (ret)
		return ret > 0 ? 0 : ret;
	if (shift_hint && (shift_hint < TABLE_PAGE_SHIFT || shift_hint > TABLE_MAX_FOLIO_SHIFT))
		return -EINVAL;
	if (shift_hint > TABLE_PAGE_SHIFT &&
	    !(flags & (REGBUF_TABLE_F_LAYOUT_PFN | REGBUF_TABLE_F_LAYOUT_4K)) &&
	    (addr >> shift_hint) == ((addr + len - 1) >> shift_hint)) {
		/* The kernel may have split the folio: check the hint (one PAGEMAP_SCAN). */
		ret = table_hint_holds(addr & TABLE_PAGE_MASK,
				       (addr + len + TABLE_PAGE_SIZE - 1) & TABLE_PAGE_MASK, shift_hint);
		if (!ret) {
			shift_hint = 0;
		} else {
			ret = build_single_folio(bufp, addr, len, shift_hint, ret > 0);
			if (ret <= 0)
				return ret;
		}
	}
	ret = table_layout_discover(&l, addr, len, shift_hint, flags);
	if (ret)
		return ret;
	ret = table_buf_build(bufp, addr, len, &l, flags);
	table_layout_free(&l);
	return ret;
}
