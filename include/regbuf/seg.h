/* SPDX-License-Identifier: MIT */
/*
 * regbuf - multipage segments (seed 004).
 */
#ifndef REGBUF_SEG_H
#define REGBUF_SEG_H

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>

#include <regbuf/compiler.h>

#ifdef __cplusplus
extern "C" {
#endif

/**
 * DOC: multipage segments
 *
 * A &struct regbuf_seg is the userspace twin of the kernel's multipage
 * bio_vec: one address (virtual, IOVA or physical, the owner says which) and
 * a length that may span many pages.  Where the kernel stores page + offset,
 * a segment stores the address of its first byte, so ``addr`` may sit
 * anywhere inside a page or a folio.
 *
 * A &struct regbuf_seg_iter walks a range of bytes over an array of segments
 * the way an ITER_BVEC iov_iter does: ``segs`` points at the current segment,
 * ``offset`` is how far into it the range has advanced, ``count`` is the
 * number of bytes left and ``nr_segs`` the number of segments from ``segs``
 * on that the remaining bytes may touch.  Two views are offered, as in
 * include/linux/bvec.h: the multipage view (mp_bvec_iter_*: the rest of the
 * current segment) and the page view (bvec_iter_*: the rest of the current
 * page of a given size; 4 KiB for NVMe, the folio size for coalescing).
 *
 * Invariants: a segment with ``len == 0`` is legal and is skipped when
 * advancing; ``offset < segs->len`` whenever ``count > 0`` after an advance.
 */

/**
 * struct regbuf_seg - a run of contiguous bytes
 * @addr: address of the first byte
 * @len: length in bytes
 *
 * Field order is argument order everywhere (regbuf_seg_set(seg, addr, len)),
 * the lesson of bvec_set_page().
 */
struct regbuf_seg {
	uint64_t addr;
	uint64_t len;
};

/**
 * struct regbuf_seg_iter - position inside an array of segments
 * @segs: the current segment
 * @nr_segs: segments from @segs on that the remaining bytes may touch
 * @offset: bytes of @segs[0] already consumed
 * @count: bytes left in the range
 */
struct regbuf_seg_iter {
	const struct regbuf_seg *segs;
	uint32_t nr_segs;
	uint32_t __pad;
	uint64_t offset;
	uint64_t count;
};

/**
 * regbuf_seg_set() - fill a segment
 * @seg: segment to fill
 * @addr: address of the first byte
 * @len: length in bytes
 */
static inline void regbuf_seg_set(struct regbuf_seg *seg, uint64_t addr, uint64_t len)
{
	seg->addr = addr;
	seg->len = len;
}

/*
 * Skip zero-length segments and segments fully consumed, so that the
 * current segment always has bytes left while the iterator does.
 */
static inline void __regbuf_seg_iter_normalise(struct regbuf_seg_iter *it)
{
	while (it->count && it->nr_segs && it->offset >= it->segs->len) {
		it->offset -= it->segs->len;
		it->segs++;
		it->nr_segs--;
	}
}

/**
 * regbuf_seg_iter_init() - iterate over @count bytes of @segs from the start
 * @it: iterator to initialise
 * @segs: segment array
 * @nr_segs: entries in @segs
 * @count: bytes to cover; the caller guarantees it is at most the sum of lengths
 */
static inline void regbuf_seg_iter_init(struct regbuf_seg_iter *it, const struct regbuf_seg *segs,
					uint32_t nr_segs, uint64_t count)
{
	it->segs = segs;
	it->nr_segs = nr_segs;
	it->__pad = 0;
	it->offset = 0;
	it->count = count;
	__regbuf_seg_iter_normalise(it);
}

/**
 * regbuf_seg_iter_done() - whether the iterator has no bytes left
 * @it: iterator
 *
 * Return: true when every byte of the range has been consumed.
 */
static inline bool regbuf_seg_iter_done(const struct regbuf_seg_iter *it)
{
	return it->count == 0;
}

/**
 * regbuf_seg_iter_mp() - the multipage view: the rest of the current segment
 * @it: iterator, not done
 *
 * Mirrors mp_bvec_iter_bvec(): address of the next byte and
 * min(bytes left, bytes left in this segment).
 *
 * Return: the piece; a zero-length piece when the iterator is done.
 */
static inline struct regbuf_seg regbuf_seg_iter_mp(const struct regbuf_seg_iter *it)
{
	struct regbuf_seg s = { 0, 0 };
	uint64_t left;

	if (!it->count || !it->nr_segs)
		return s;
	left = it->segs->len - it->offset;
	s.addr = it->segs->addr + it->offset;
	s.len = left < it->count ? left : it->count;
	return s;
}

/**
 * regbuf_seg_iter_page() - the page view: the rest of the current page
 * @it: iterator, not done
 * @page_shift: log2 of the page size (12 for NVMe pages, 21 for 2 MiB folios)
 *
 * Mirrors bvec_iter_bvec(): the multipage piece cut at the next multiple of
 * the page size in the address space of the segments.
 *
 * Return: the piece; a zero-length piece when the iterator is done.
 */
static inline struct regbuf_seg regbuf_seg_iter_page(const struct regbuf_seg_iter *it,
						     unsigned int page_shift)
{
	struct regbuf_seg s = regbuf_seg_iter_mp(it);
	uint64_t in_page = s.addr & ((UINT64_C(1) << page_shift) - 1);
	uint64_t room = (UINT64_C(1) << page_shift) - in_page;

	if (s.len > room)
		s.len = room;
	return s;
}

/**
 * regbuf_seg_iter_advance() - consume @bytes
 * @it: iterator
 * @bytes: bytes to consume
 *
 * Mirrors bvec_iter_advance(), including its refusal to run past the end:
 * the kernel warns and empties the iterator, we refuse and leave it intact.
 * O(number of segments skipped).
 *
 * Return: 0, or -EINVAL when @bytes exceeds the bytes left.
 */
static inline int regbuf_seg_iter_advance(struct regbuf_seg_iter *it, uint64_t bytes)
{
	if (REGBUF_UNLIKELY(bytes > it->count))
		return -EINVAL;
	it->count -= bytes;
	it->offset += bytes;
	__regbuf_seg_iter_normalise(it);
	return 0;
}

/**
 * regbuf_seg_iter_seek() - iterate over bytes [@pos, @pos + @count) of @segs
 * @it: iterator to initialise
 * @segs: segment array
 * @nr_segs: entries in @segs
 * @pos: first byte, counted from the start of @segs[0]
 * @count: bytes to cover
 *
 * The generic linear seek, O(@nr_segs).  Tables use their O(1) seek instead
 * (regbuf_table_import()); this is the reference it is checked against.
 *
 * Return: 0, or -EINVAL when the range runs past the end of the segments.
 */
int regbuf_seg_iter_seek(struct regbuf_seg_iter *it, const struct regbuf_seg *segs,
			 uint32_t nr_segs, uint64_t pos, uint64_t count);

#ifdef __cplusplus
}
#endif

#endif /* REGBUF_SEG_H */
