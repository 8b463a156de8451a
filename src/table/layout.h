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
	unsigned int source;	/* enum regbuf_layout_source */
};

void table_layout_init(struct table_layout *l, unsigned int source);
void table_layout_free(struct table_layout *l);
/* Append @nr pages starting at page @idx of @folio; -EINVAL if they leave the folio. */
int table_layout_add(struct table_layout *l, uint64_t folio, uint32_t idx, uint32_t nr,
		     unsigned int shift, uint64_t pfn);
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

/* Kernel io_validate_user_buf_range() + the NULL-base rule: 1 = empty slot, 0 = ok, -errno. */
int table_validate(uint64_t addr, uint64_t len);
/* Coalesce @l into a buffer (kernel rules, then regbuf's extensions unless KERNEL_EXACT). */
int table_buf_build(struct regbuf_buf **bufp, uint64_t ubuf, uint64_t len,
		    const struct table_layout *l, unsigned int flags);
/* Validate + discover + build; *bufp = NULL for an empty slot. */
int table_buf_create(struct regbuf_buf **bufp, const struct iovec *iov, unsigned int shift_hint,
		     unsigned int flags);

/*
 * Test hook (§6 item 18): while > 0, each coalesced-array allocation fails
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
