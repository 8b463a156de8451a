// SPDX-License-Identifier: MIT
/*
 * regbuf - splitting a segment range by device limits.
 *
 * The walk is the block layer's bio_split_io_at() / bvec_split_segs()
 * (block/blk-merge.c), in bytes and 64-bit.  See include/regbuf/seg.h for
 * the differences that are on purpose.
 */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>

#include <regbuf/seg.h>

/* Linux's default max_sectors cap, BLK_DEF_MAX_SECTORS_CAP (2560 sectors). */
#define DEF_MAX_BYTES		(2560u * 512u)
#define DEF_MAX_SEGMENTS	128u		/* BLK_MAX_SEGMENTS */
#define DEF_MAX_SEGMENT_SIZE	65536u		/* BLK_MAX_SEGMENT_SIZE */
#define MIN_PAGE		4096u

static bool is_mask(uint64_t m)
{
	return (m & (m + 1)) == 0;
}

static uint64_t div_up(uint64_t x, uint64_t d)
{
	return x / d + (x % d != 0);
}

void regbuf_limits_default(struct regbuf_limits *lim)
{
	lim->max_bytes = DEF_MAX_BYTES;
	lim->max_segments = DEF_MAX_SEGMENTS;
	lim->logical_block_size = 512;
	lim->max_segment_size = DEF_MAX_SEGMENT_SIZE;
	lim->seg_boundary_mask = 0xffffffffu;
	lim->virt_boundary_mask = 0;
	lim->dma_alignment = 511;
	lim->__pad = 0;
}

/*
 * The two limits that segment counting and mapping divide and mask by: segments
 * and boundaries of at least a page, as blk_validate_limits() requires.  A zero
 * max_segment_size would otherwise divide by zero.
 */
static int seg_limits_check(const struct regbuf_limits *lim)
{
	if (lim->max_segment_size < MIN_PAGE)
		return -EINVAL;
	if (lim->seg_boundary_mask < MIN_PAGE - 1 || !is_mask(lim->seg_boundary_mask))
		return -EINVAL;
	return 0;
}

int regbuf_limits_validate(const struct regbuf_limits *lim)
{
	uint32_t lbs = lim->logical_block_size;

	/* blk_validate_limits(): blocks are powers of two from 512 bytes. */
	if (lbs < 512 || (lbs & (lbs - 1)))
		return -EINVAL;
	/* max_hw_sectors must cover at least one block (the kernel asks a page). */
	if (lim->max_bytes < lbs || !lim->max_segments)
		return -EINVAL;
	if (seg_limits_check(lim))
		return -EINVAL;
	if (!is_mask(lim->virt_boundary_mask))
		return -EINVAL;
	/* dma_alignment is a mask no larger than a page (blk_validate_limits()). */
	if (lim->dma_alignment > MIN_PAGE - 1 || !is_mask(lim->dma_alignment))
		return -EINVAL;
	return 0;
}

/*
 * get_max_segment_size(): the bytes a DMA segment starting at @addr may
 * take out of @len, bounded by the next seg_boundary_mask crossing and by
 * max_segment_size.  The +1 comes after the min so that a mask of all ones
 * cannot overflow.
 */
static uint64_t max_seg_at(const struct regbuf_limits *lim, uint64_t addr, uint64_t len)
{
	uint64_t room = lim->seg_boundary_mask - (lim->seg_boundary_mask & addr);
	uint64_t cap = lim->max_segment_size - 1;

	if (room < cap)
		cap = room;
	return len < cap + 1 ? len : cap + 1;
}

/* The multipage pieces of an iterator's range, as bio_for_each_bvec() yields them. */
struct walk {
	const struct regbuf_seg *seg;
	uint32_t left_segs;
	uint64_t offset;
	uint64_t left;
};

static bool walk_next(struct walk *w, struct regbuf_seg *out)
{
	while (w->left && w->left_segs) {
		uint64_t avail = w->seg->len > w->offset ? w->seg->len - w->offset : 0;

		out->addr = w->seg->addr + w->offset;
		out->len = avail < w->left ? avail : w->left;
		w->seg++;
		w->left_segs--;
		w->offset = 0;
		if (!out->len)
			continue;	/* bios have no empty bvecs: skip ours */
		w->left -= out->len;
		return true;
	}
	return false;
}

static void walk_init(struct walk *w, const struct regbuf_seg_iter *it, uint64_t count)
{
	w->seg = it->segs;
	w->left_segs = it->nr_segs;
	w->offset = it->offset;
	w->left = count;
}

static uint64_t count_bytes(const struct regbuf_seg_iter *it, const struct regbuf_limits *lim,
			    uint64_t count)
{
	uint64_t mss = lim->max_segment_size, mask = lim->seg_boundary_mask;
	uint64_t total = 0;
	struct regbuf_seg bv;
	struct walk w;

	walk_init(&w, it, count);
	while (walk_next(&w, &bv)) {
		uint64_t room, rest, windows, win;

		if (mask == UINT64_MAX) {
			total += div_up(bv.len, mss);
			continue;
		}
		/* Pieces restart at each boundary; inside a window they are mss long. */
		room = mask + 1 - (bv.addr & mask);
		if (bv.len <= room) {
			total += div_up(bv.len, mss);
			continue;
		}
		total += div_up(room, mss);
		rest = bv.len - room;
		win = mask + 1;
		windows = rest / win;
		total += windows * div_up(win, mss);
		total += div_up(rest % win, mss);
	}
	return total;
}

int64_t regbuf_seg_count(const struct regbuf_seg_iter *it, const struct regbuf_limits *lim)
{
	uint64_t n;

	if (seg_limits_check(lim))
		return -EINVAL;
	n = count_bytes(it, lim, it->count);
	return n > INT64_MAX ? INT64_MAX : (int64_t)n;
}

/*
 * bvec_split_segs(): cut @bv into DMA segments while segments and bytes
 * last.  Returns true when the piece must end inside or before @bv.
 */
static bool split_segs(const struct regbuf_limits *lim, const struct regbuf_seg *bv,
		       uint32_t *nsegs, uint64_t *bytes, uint64_t max_bytes)
{
	uint64_t max_len = max_bytes - *bytes;
	uint64_t len = bv->len < max_len ? bv->len : max_len;
	uint64_t done = 0;

	while (len && *nsegs < lim->max_segments) {
		uint64_t seg = max_seg_at(lim, bv->addr + done, len);

		(*nsegs)++;
		done += seg;
		len -= seg;
		/* Nothing may follow a segment that ends off the virt boundary. */
		if ((bv->addr + done) & lim->virt_boundary_mask)
			break;
	}
	*bytes += done;
	return len > 0 || bv->len > max_len;
}

int64_t regbuf_seg_split(const struct regbuf_seg_iter *it, const struct regbuf_limits *lim,
			 uint32_t *nr_segs, unsigned int flags)
{
	uint64_t max_bytes, bytes = 0, aligned;
	uint64_t vmask = lim->virt_boundary_mask;
	struct regbuf_seg bv, prev = { 0, 0 };
	bool have_prev = false;
	uint32_t nsegs = 0;
	struct walk w;

	if (regbuf_limits_validate(lim) ||
	    (flags & ~(REGBUF_SEG_SPLIT_F_NOWAIT | REGBUF_SEG_SPLIT_F_ATOMIC)))
		return -EINVAL;
	/* get_max_io_size(): the transfer limit rounded down to the block size. */
	max_bytes = lim->max_bytes & ~(uint64_t)(lim->logical_block_size - 1);

	walk_init(&w, it, it->count);
	while (walk_next(&w, &bv)) {
		/* The kernel rejects the whole bio, it does not split around it. */
		if ((bv.addr & lim->dma_alignment) || (bv.len & lim->dma_alignment))
			return -EINVAL;
		/* bvec_gap_to_prev(): a gap needs a new command. */
		if (have_prev && vmask && ((bv.addr & vmask) || ((prev.addr + prev.len) & vmask)))
			goto split;
		if (split_segs(lim, &bv, &nsegs, &bytes, max_bytes))
			goto split;
		prev = bv;
		have_prev = true;
	}
	if (nr_segs)
		*nr_segs = nsegs;
	return (int64_t)it->count;

split:
	if (flags & REGBUF_SEG_SPLIT_F_ATOMIC)
		return -EINVAL;
	if (flags & REGBUF_SEG_SPLIT_F_NOWAIT)
		return -EAGAIN;
	/* bio_split_alignment(): pieces end on a logical block. */
	aligned = bytes & ~(uint64_t)(lim->logical_block_size - 1);
	if (!aligned)
		return -EINVAL;
	/* Cutting the tail off may drop segments: count again (the kernel does not). */
	if (nr_segs)
		*nr_segs = aligned == bytes ? nsegs : (uint32_t)count_bytes(it, lim, aligned);
	return (int64_t)aligned;
}

/* biovec_phys_mergeable(): contiguous, and the union stays inside one boundary window. */
static bool phys_mergeable(const struct regbuf_limits *lim, const struct regbuf_seg *a,
			   const struct regbuf_seg *b)
{
	if (a->addr + a->len != b->addr)
		return false;
	return (a->addr | lim->seg_boundary_mask) ==
	       ((b->addr + b->len - 1) | lim->seg_boundary_mask);
}

int64_t regbuf_seg_map(const struct regbuf_seg_iter *it, const struct regbuf_limits *lim,
		       struct regbuf_seg *out, uint32_t max)
{
	struct regbuf_seg bv, cur;
	bool have = false;
	uint32_t n = 0;
	struct walk w;

	if (seg_limits_check(lim))
		return -EINVAL;
	walk_init(&w, it, it->count);
	for (;;) {
		uint64_t max_size;
		struct regbuf_seg seg;

		if (!have) {
			if (!walk_next(&w, &cur))
				break;
			have = true;
		}
		/* Start a segment at cur, capped by the boundary and max_segment_size. */
		max_size = max_seg_at(lim, cur.addr, UINT64_MAX);
		seg.addr = cur.addr;
		seg.len = cur.len < max_size ? cur.len : max_size;
		cur.addr += seg.len;
		cur.len -= seg.len;
		have = cur.len != 0;
		/* The multipage segment is used up: try to merge the following ones. */
		while (!have) {
			if (!walk_next(&w, &bv))
				break;
			if (seg.len + bv.len > max_size || !phys_mergeable(lim, &seg, &bv)) {
				cur = bv;
				have = true;
				break;
			}
			seg.len += bv.len;
		}
		if (n == max)
			return -ENOSPC;
		out[n++] = seg;
	}
	return n;
}
