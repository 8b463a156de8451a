/* SPDX-License-Identifier: MIT */
/*
 * regbuf table - private: folio layouts, buffers and snapshots.
 */
#ifndef REGBUF_TABLE_LAYOUT_H
#define REGBUF_TABLE_LAYOUT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <regbuf/seg.h>
#include <regbuf/table.h>

#define TABLE_PAGE_SHIFT	12
#define TABLE_PAGE_SIZE		(UINT64_C(1) << TABLE_PAGE_SHIFT)
#define TABLE_PAGE_MASK		(~(TABLE_PAGE_SIZE - 1))
#define TABLE_PFN_NONE		UINT64_MAX
#define TABLE_MAX_FOLIO_SHIFT	30	/* 1 GiB hugetlb: the largest folio a buffer can see */

/*
 * The one internal interface between layout discovery and coalescing.
 *
 * A layout describes the pages [addr & PAGE_MASK, PAGE_ALIGN(addr + len)) of
 * a buffer in order, as extents.  An extent is a run of pages that are
 * consecutive pages of ONE folio: page j of the extent is page idx + j of
 * folio "folio" (and frame pfn + j when pfns are known).  table_layout_add()
 * merges a page (or run) into the previous extent only under exactly the
 * kernel's "pages[i] == pages[i-1] + 1 in the same folio" test, so every
 * extent boundary is a place where io_check_coalesce_buffer() would see a
 * folio boundary.  Extents never span two folios.
 *
 * "folio" is an identity, nothing more: the head pfn when pfns are known,
 * otherwise any value unique to that folio within the layout (discovery
 * uses the virtual address of the folio's mapping; tests use small numbers).
 */
struct table_extent {
	uint64_t folio;		/* folio identity */
	uint64_t pfn;		/* frame of the first page, TABLE_PFN_NONE if unknown */
	uint32_t idx;		/* index of the first page inside the folio */
	uint32_t nr;		/* pages; idx + nr <= folio pages */
	uint8_t shift;		/* folio shift, 12..30 */
};

struct table_layout {
	struct table_extent *ext;
	uint32_t nr_ext;
	uint32_t cap;
	uint64_t nr_pages;
	bool pfn_known;		/* every extent has a pfn */
	/*
	 * io_check_coalesce_buffer() has not failed on the extents so far: kept
	 * up to date by table_layout_add() at every extent boundary, so that
	 * discovery can stop reading folio sizes once the kernel's answer is
	 * settled, and coalescing needs no second pass.
	 */
	bool coalesce_ok;
	/* Some folio sizes could not be read: the kernel may build fewer bvecs. */
	bool inexact;
	/* A hint taken as given: the range could not be checked. */
	bool unchecked;
	unsigned int source;	/* enum regbuf_layout_source */
};

void table_layout_init(struct table_layout *l, unsigned int source);
void table_layout_free(struct table_layout *l);
/*
 * Append @nr pages starting at page @idx of @folio; -EINVAL if they leave the
 * folio.  Folio identities of discovered layouts: the folio's virtual address
 * when only the mapping is known, TABLE_FOLIO_PFN | head pfn when frames are.
 */
#define TABLE_FOLIO_PFN		(UINT64_C(1) << 63)
int table_layout_add(struct table_layout *l, uint64_t folio, uint32_t idx, uint32_t nr,
		     unsigned int shift, uint64_t pfn);
/*
 * The kernel's coalescing decision is already known (a check failed, or the
 * first folio is a single page, so it keeps one bvec per page whatever
 * follows): the rest of the buffer's folio sizes cannot change it.
 */
static inline bool table_layout_settled(const struct table_layout *l)
{
	return !l->coalesce_ok || (l->nr_ext && l->ext[0].shift == TABLE_PAGE_SHIFT);
}

/*
 * A folio-size hint is trusted when the whole page range [start, end) is
 * huge-mapped (one PAGEMAP_SCAN) in folios of that size: a hugetlb VMA of
 * that page size, or PMD mappings for the PMD size.  1 = it holds, 0 = the
 * memory is mapped otherwise, -errno = it cannot be checked (no PAGEMAP_SCAN
 * before 6.7, or the range is not all mapped): the hint is then taken as given.
 */
int table_hint_holds(uint64_t start, uint64_t end, unsigned int shift);

/*
 * Discover the layout of [addr, addr + len).  @shift_hint != 0: the caller
 * knows the folio size (no walk).  @flags: REGBUF_TABLE_F_LAYOUT_*.
 */
int table_layout_discover(struct table_layout *l, uint64_t addr, uint64_t len,
			  unsigned int shift_hint, unsigned int flags);

/*
 * A registered buffer.  Immutable once built, shared by every snapshot (of
 * every table) that holds it; @refs counts those plus regbuf_table_buf_get()
 * holders.
 */
struct regbuf_buf {
	_Atomic uint32_t refs;
	uint32_t nr_segs;
	uint64_t ubuf;
	uint64_t len;
	uint64_t seg0_off;
	uint32_t kernel_nr_segs;
	uint32_t nr_phys;
	uint8_t folio_shift;
	uint8_t source;
	uint16_t __pad;
	unsigned int flags;
	uint64_t *starts;		/* REGBUF_BUF_F_MIXED: position of each segment */
	struct regbuf_seg *phys;	/* REGBUF_BUF_F_PHYS */
	struct regbuf_seg segs[];
};

/* Coalesce @l into a buffer (kernel rules, then regbuf's extensions unless KERNEL_EXACT). */
int table_buf_build(struct regbuf_buf **bufp, uint64_t ubuf, uint64_t len,
		    const struct table_layout *l, unsigned int flags);
/* Validate + discover + build; *bufp = NULL for an empty slot. */
int table_buf_create(struct regbuf_buf **bufp, const struct iovec *iov, unsigned int shift_hint,
		     unsigned int flags);

/*
 * Test hook (coalescing allocation failure): while > 0, each coalesced-array allocation fails
 * (and decrements it), so the uncoalesced fallback can be tested.
 */
extern _Atomic int table_inject_coalesce_enomem;

/* An immutable slot array, shared by pointer between tables (whole-table clone). */
struct table_snap {
	_Atomic uint32_t refs;
	uint32_t nr;
	struct regbuf_buf *bufs[];
};

struct table_snap *table_snap_alloc(uint32_t nr);
void table_snap_put(struct table_snap *s);
/* The current snapshot of @t with a reference, or NULL (lock-free). */
struct table_snap *table_snap_get(struct regbuf_table *t);
/* Writer side: lock, current snapshot, publish (waits for readers of the old one). */
void table_lock(struct regbuf_table *t);
void table_unlock(struct regbuf_table *t);
struct table_snap *table_cur_locked(struct regbuf_table *t);
void table_publish_locked(struct regbuf_table *t, struct table_snap *s);

static inline void table_buf_ref(struct regbuf_buf *b)
{
	if (b)
		atomic_fetch_add_explicit(&b->refs, 1, memory_order_relaxed);
}

#endif /* REGBUF_TABLE_LAYOUT_H */
