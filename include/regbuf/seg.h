/* SPDX-License-Identifier: MIT */
/*
 * regbuf - multipage segments, the userspace counterpart of the kernel's
 * multipage bio_vec (Ming Lei's multipage bvec work, Linux 5.1).
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

/**
 * DOC: splitting by device limits
 *
 * The block layer cuts a bio that a device cannot take in one command
 * (block/blk-merge.c, bio_split_io_at(), called bio_split_rw_at() before
 * 6.19).  regbuf_seg_split() is that walk over a segment iterator: it says
 * how many bytes of the range go into the first command and how many DMA
 * segments they need.  The remainder is split again by advancing the
 * iterator by the returned byte count and calling it again.
 *
 * Differences from the kernel, on purpose:
 *
 * - limits are in bytes, not 512-byte sectors, and 64-bit;
 * - the segment count of a split piece is exact (recounted after the piece
 *   is aligned down), where the kernel reports the count before aligning
 *   down, an upper bound;
 * - get_max_io_size() may also end a piece on a physical block boundary
 *   relative to the bio's start sector; an iterator has no sector, so only
 *   the logical block size alignment applies;
 * - REQ_NOWAIT and REQ_ATOMIC are modelled as flags.
 */

/**
 * struct regbuf_limits - the queue_limits fields that drive splitting, in bytes
 * @max_bytes: max transfer of one command (max_sectors << 9; NVMe MDTS);
 *	rounded down to @logical_block_size, must be at least one block
 * @max_segments: max DMA segments per command (kernel default 128)
 * @max_segment_size: max bytes per DMA segment, at least 4096 (kernel default
 *	64 KiB; UINT32_MAX with a virt boundary, as NVMe)
 * @seg_boundary_mask: a segment may not cross a multiple of mask + 1;
 *	at least 4095 (kernel default 0xffffffff)
 * @virt_boundary_mask: 0, or 2^n - 1: every segment but the first must start,
 *	and every segment but the last must end, on a multiple of mask + 1
 *	(NVMe PRP: 4095)
 * @logical_block_size: power of two, at least 512; split points are multiples
 * @dma_alignment: mask (2^n - 1, at most 4095) that every segment address and
 *	length must clear (kernel default 511, NVMe 3)
 */
struct regbuf_limits {
	uint64_t max_bytes;
	uint32_t max_segments;
	uint32_t logical_block_size;
	uint64_t max_segment_size;
	uint64_t seg_boundary_mask;
	uint64_t virt_boundary_mask;
	uint32_t dma_alignment;
	uint32_t __pad;
};

/**
 * regbuf_limits_default() - the block layer's defaults
 * @lim: limits to fill
 *
 * blk_validate_limits() defaults: 1280 KiB transfers (BLK_DEF_MAX_SECTORS_CAP),
 * 128 segments of at most 64 KiB, 4 GiB segment boundary, no virt boundary,
 * 512-byte blocks, 512-byte DMA alignment.
 */
void regbuf_limits_default(struct regbuf_limits *lim);

/**
 * regbuf_limits_validate() - check limits the way blk_validate_limits() does
 * @lim: limits
 *
 * Return: 0, or -EINVAL naming no field (see &struct regbuf_limits for the
 * rules) when a limit is out of range.
 */
int regbuf_limits_validate(const struct regbuf_limits *lim);

/* A request that needs a split fails with -EAGAIN (REQ_NOWAIT). */
#define REGBUF_SEG_SPLIT_F_NOWAIT	(1U << 0)
/* A request that needs a split fails with -EINVAL (REQ_ATOMIC: all or nothing). */
#define REGBUF_SEG_SPLIT_F_ATOMIC	(1U << 1)

/**
 * regbuf_seg_split() - bytes of the first piece a device with @lim can take
 * @it: the range (not modified)
 * @lim: device limits (regbuf_limits_validate() must accept them)
 * @nr_segs: if not NULL, set to the DMA segments of the first piece
 * @flags: REGBUF_SEG_SPLIT_F_*
 *
 * Walks the multipage segments like bio_split_io_at(): a segment whose
 * address or length is not a multiple of dma_alignment + 1 fails the whole
 * request; a virt-boundary gap before a segment ends the piece; a segment
 * is cut into DMA segments at seg_boundary_mask crossings and every
 * max_segment_size bytes, until max_segments or max_bytes is reached; a DMA
 * segment that ends off the virt boundary ends the piece.  A piece shorter
 * than the range is aligned down to the logical block size.  Segments past
 * the split point are not looked at (the kernel checks them when it splits
 * the remainder).
 *
 * Return: bytes of the first piece, 0 < ret <= @it->count (ret == @it->count:
 * no split needed; 0 for an empty range), or
 * -EINVAL when a segment is misaligned, when the split would be 0 bytes
 * (gaps or too many segments before one logical block), when @lim is invalid,
 * or when a split is needed with REGBUF_SEG_SPLIT_F_ATOMIC;
 * -EAGAIN when a split is needed with REGBUF_SEG_SPLIT_F_NOWAIT.
 */
int64_t regbuf_seg_split(const struct regbuf_seg_iter *it, const struct regbuf_limits *lim,
			 uint32_t *nr_segs, unsigned int flags);

/**
 * regbuf_seg_count() - DMA segments the range needs, without merging
 * @it: the range (not modified)
 * @lim: device limits (only max_segment_size and seg_boundary_mask matter)
 *
 * blk_recalc_rq_segments(): each multipage segment is cut at seg_boundary_mask
 * crossings and every max_segment_size bytes; adjacent segments are not merged
 * even when contiguous.  Computed arithmetically, O(segments).
 *
 * Return: the count (saturates at INT64_MAX, never in practice), or -EINVAL
 * when max_segment_size is below 4 KiB or seg_boundary_mask is not a mask of
 * at least 4 KiB - 1 (the checks regbuf_limits_validate() makes of them).
 */
int64_t regbuf_seg_count(const struct regbuf_seg_iter *it, const struct regbuf_limits *lim);

/**
 * regbuf_seg_map() - DMA segments of a range, merged the way the block layer maps them
 * @it: the range (not modified); addresses are physical or IOVA
 * @lim: device limits (only max_segment_size and seg_boundary_mask matter)
 * @out: where to write the segments
 * @max: entries in @out
 *
 * blk_map_iter_next() (6.17, block/blk-mq-dma.c), which __blk_rq_map_sg() and
 * the DMA iterator use: each segment is cut at the next seg_boundary_mask
 * crossing and at max_segment_size; when a segment has reached the end of
 * its multipage segment, the next one is merged into it if it starts where
 * this one ends (biovec_phys_mergeable()), the sum stays within the cap,
 * and the merged segment does not cross a segment boundary.  The result
 * never has more entries than regbuf_seg_count() (the kernel WARNs if it
 * exceeds nr_phys_segments).
 *
 * Return: the number of segments written, -ENOSPC when @max is too small
 * (@out then holds the first @max), or -EINVAL for the limits
 * regbuf_seg_count() rejects.
 */
int64_t regbuf_seg_map(const struct regbuf_seg_iter *it, const struct regbuf_limits *lim,
		       struct regbuf_seg *out, uint32_t max);

#ifdef __cplusplus
}
#endif

#endif /* REGBUF_SEG_H */
