// SPDX-License-Identifier: MIT
/*
 * fuzz-seg-split: random segment arrays, ranges and device limits.
 *
 * regbuf_seg_split() is checked against a slow reference that walks the
 * range q bytes at a time (q is a power of two dividing every address,
 * length and limit in play, so this is exactly a byte-by-byte walk) and
 * applies the rules of the kernel's bio_split_io_at() (block/blk-merge.c)
 * to each step: whole-request rejection of misaligned bvecs, a virt-boundary
 * gap before a bvec, a new DMA segment at each seg_boundary_mask window and
 * every max_segment_size bytes, nothing after a segment ending off the virt
 * boundary, max_segments, max_bytes rounded down to the block size, then the
 * split point aligned down to the logical block size (0 = -EINVAL) and the
 * exact segment count of the piece (seg.h documents that regbuf recounts
 * after aligning down).  The whole range is split piece by piece.
 *
 * regbuf_seg_count(), regbuf_seg_map() (blk_map_iter_next() merging, checked
 * piece by piece), regbuf_limits_validate(), regbuf_seg_iter_seek() and the
 * iterator (views, advance, its invariants) are checked against the same raw
 * segment array walked from the start.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <regbuf/seg.h>

#include "fuzz.h"

#define MAX_SEGS	48
#define STEP_BUDGET	(UINT64_C(1) << 14)	/* reference steps per input */
#define MAX_ROUNDS	64			/* pieces split per input */

enum { C_NVME, C_BLOCK, C_RAW, C_ITER };
FZ_TARGET("seg-split", 512, 4000, "nvme", "block", "raw", "iter");

struct piece {
	uint64_t addr;
	uint64_t len;
};

/* ---- the reference ------------------------------------------------------ */

static bool is_mask(uint64_t m)
{
	return (m & (m + 1)) == 0;
}

/* The rules struct regbuf_limits documents (blk_validate_limits()). */
static bool ref_limits_ok(const struct regbuf_limits *l)
{
	uint32_t lbs = l->logical_block_size;

	return lbs >= 512 && !(lbs & (lbs - 1)) && l->max_bytes >= lbs && l->max_segments &&
	       l->max_segment_size >= 4096 && l->seg_boundary_mask >= 4095 &&
	       is_mask(l->seg_boundary_mask) && is_mask(l->virt_boundary_mask) &&
	       l->dma_alignment <= 4095 && is_mask(l->dma_alignment);
}

/* The non-empty pieces of bytes [pos, pos + count) of the raw array, in order. */
static uint32_t ref_pieces(const struct regbuf_seg *s, uint32_t nr, uint64_t pos, uint64_t count,
			   struct piece *out)
{
	uint64_t at = 0, end = pos + count;
	uint32_t i, n = 0;

	for (i = 0; i < nr; i++) {
		uint64_t lo = at > pos ? at : pos;
		uint64_t hi = at + s[i].len < end ? at + s[i].len : end;

		if (lo < hi) {
			out[n].addr = s[i].addr + (lo - at);
			out[n].len = hi - lo;
			n++;
		}
		at += s[i].len;
	}
	return n;
}

static uint64_t lowbit(uint64_t x)
{
	return x & (~x + 1);
}

/*
 * The largest power of two (at most 4096) dividing everything the walk meets:
 * stepping by it is exactly a byte walk.  A max_segment_size no segment can
 * reach (at least @count) cannot matter.
 */
static uint64_t ref_quantum(const struct regbuf_limits *l, const struct piece *p, uint32_t np,
			    uint64_t count)
{
	uint64_t acc = 4096 | l->logical_block_size |
		       (l->max_bytes & ~(uint64_t)(l->logical_block_size - 1));
	uint32_t i;

	if (l->max_segment_size < count)
		acc |= l->max_segment_size;
	if (l->seg_boundary_mask != UINT64_MAX)
		acc |= l->seg_boundary_mask + 1;
	if (l->virt_boundary_mask)
		acc |= l->virt_boundary_mask + 1;
	for (i = 0; i < np; i++)
		acc |= p[i].addr | p[i].len;
	return lowbit(acc);
}

struct ref_out {
	int64_t ret;
	uint64_t nsegs;
};

/* Byte positions where DMA segments start, to count the segments of a prefix. */
static uint64_t seg_starts[STEP_BUDGET + MAX_SEGS + 1];

/*
 * bio_split_io_at(), one q-byte step at a time.  @counting: the
 * blk_recalc_rq_segments() variant (regbuf_seg_count()): no transfer, segment,
 * alignment or virt-boundary limits, only the cutting of each bvec.
 */
static struct ref_out ref_split(const struct piece *p, uint32_t np, uint64_t count,
				const struct regbuf_limits *l, unsigned int flags, uint64_t q,
				bool counting)
{
	uint64_t maxb = l->max_bytes & ~(uint64_t)(l->logical_block_size - 1);
	uint64_t vmask = counting ? 0 : l->virt_boundary_mask;
	uint64_t bmask = l->seg_boundary_mask, mss = l->max_segment_size;
	uint64_t bytes = 0, nsegs = 0, nst = 0, prev_end = 0, aligned, i;
	struct ref_out out = { 0, 0 };
	bool have_prev = false;
	uint32_t k;

	for (k = 0; k < np; k++) {
		uint64_t first = 0, seg_len = 0, b;
		bool open = false;

		if (!counting) {
			/* A misaligned bvec fails the whole bio. */
			if ((p[k].addr | p[k].len) & l->dma_alignment) {
				out.ret = -EINVAL;
				return out;
			}
			/* bvec_gap_to_prev() */
			if (have_prev && vmask && ((p[k].addr & vmask) || (prev_end & vmask)))
				goto split;
		}
		for (b = 0; b < p[k].len; b += q) {
			uint64_t a = p[k].addr + b;
			bool join;

			if (!counting && bytes + q > maxb)
				goto split;
			/* Same seg_boundary window, room left under max_segment_size. */
			join = open && (a & ~bmask) == (first & ~bmask) && seg_len + q <= mss;
			if (!join) {
				/* Nothing may follow a segment that ended off the virt boundary. */
				if (open && (a & vmask))
					goto split;
				if (!counting && nsegs == l->max_segments)
					goto split;
				nsegs++;
				seg_starts[nst++] = bytes;
				open = true;
				first = a;
				seg_len = 0;
			}
			seg_len += q;
			bytes += q;
		}
		prev_end = p[k].addr + p[k].len;
		have_prev = true;
	}
	out.ret = (int64_t)count;
	out.nsegs = nsegs;
	return out;

split:
	if (flags & REGBUF_SEG_SPLIT_F_ATOMIC) {
		out.ret = -EINVAL;
		return out;
	}
	if (flags & REGBUF_SEG_SPLIT_F_NOWAIT) {
		out.ret = -EAGAIN;
		return out;
	}
	aligned = bytes & ~(uint64_t)(l->logical_block_size - 1);
	if (!aligned) {
		out.ret = -EINVAL;
		return out;
	}
	out.ret = (int64_t)aligned;
	for (i = 0; i < nst && seg_starts[i] < aligned; i++)
		;
	out.nsegs = i;
	return out;
}

/*
 * blk_map_iter_next() (block/blk-mq-dma.c) piece by piece: a new DMA
 * segment may take at most cap(start) = min(max_segment_size, bytes to the
 * next seg_boundary window); a piece is cut greedily into such segments;
 * when a piece starts, the previous segment has just reached the end of its
 * piece, and the whole new piece is merged into it if it starts where that
 * segment ends, fits in its cap, and the union stays in one boundary window
 * (biovec_phys_mergeable()).  Returns the number of segments, writing at most
 * @max of them.
 */
static uint64_t ref_cap(const struct regbuf_limits *l, uint64_t a)
{
	uint64_t room = l->seg_boundary_mask - (a & l->seg_boundary_mask);	/* bytes - 1 */

	return room < l->max_segment_size - 1 ? room + 1 : l->max_segment_size;
}

static uint64_t ref_map(const struct piece *p, uint32_t np, const struct regbuf_limits *l,
			struct regbuf_seg *out, uint64_t max)
{
	uint64_t n = 0, pos;
	struct regbuf_seg last = { 0, 0 };
	uint32_t k;

	for (k = 0; k < np; k++) {
		if (n && last.addr + last.len == p[k].addr &&
		    p[k].len <= ref_cap(l, last.addr) - last.len &&
		    (last.addr | l->seg_boundary_mask) ==
		    ((p[k].addr + p[k].len - 1) | l->seg_boundary_mask)) {
			last.len += p[k].len;
			if (n <= max)
				out[n - 1] = last;
			continue;
		}
		for (pos = 0; pos < p[k].len; ) {
			uint64_t c = ref_cap(l, p[k].addr + pos);

			last.addr = p[k].addr + pos;
			last.len = p[k].len - pos < c ? p[k].len - pos : c;
			if (n < max)
				out[n] = last;
			n++;
			pos += last.len;
		}
	}
	return n;
}

/* regbuf_seg_map() against ref_map(), with room for all segments or too little. */
static void check_map(struct fz *f, const struct regbuf_seg_iter *it, const struct piece *p,
		      uint32_t np, const struct regbuf_limits *l, uint64_t nr_count)
{
	uint64_t want = ref_map(p, np, l, NULL, 0), room, i;
	struct regbuf_seg *got, *ref;
	int64_t ret;

	FZ_CHECK(want <= nr_count);	/* never more than blk_recalc_rq_segments() */
	if (want > (UINT64_C(1) << 20))
		return;
	room = fz_chance(f, 32) && want ? fz_range(f, 0, want - 1) : want + fz_range(f, 0, 2);
	got = calloc(room + 1, sizeof(*got));
	ref = calloc(want + 1, sizeof(*ref));
	FZ_CHECK(got && ref);
	ref_map(p, np, l, ref, want);
	ret = regbuf_seg_map(it, l, got, (uint32_t)room);
	if (room < want) {
		FZ_CHECK_EQ(ret, -ENOSPC);
	} else {
		FZ_CHECK_EQ(ret, want);
	}
	for (i = 0; i < want && i < room; i++) {
		FZ_CHECK_EQ(got[i].addr, ref[i].addr);
		FZ_CHECK_EQ(got[i].len, ref[i].len);
	}
	free(got);
	free(ref);
}

/* Address of byte @pos of the raw array. */
static uint64_t ref_addr_at(const struct regbuf_seg *s, uint32_t nr, uint64_t pos,
			    uint64_t *left_in_seg, uint32_t *idx)
{
	uint64_t at = 0;
	uint32_t i;

	for (i = 0; i < nr; i++) {
		if (pos < at + s[i].len) {
			*left_in_seg = at + s[i].len - pos;
			*idx = i;
			return s[i].addr + (pos - at);
		}
		at += s[i].len;
	}
	FZ_FAIL("position %llu past the segments", (unsigned long long)pos);
}

/* Iterator invariants for bytes [pos, pos + count) of the raw array. */
static void check_iter(const struct regbuf_seg_iter *it, const struct regbuf_seg *s, uint32_t nr,
		       uint64_t pos, uint64_t count)
{
	uint64_t left, last_left;
	uint32_t idx, last, cur;

	FZ_CHECK_EQ(it->count, count);
	FZ_CHECK_EQ(regbuf_seg_iter_done(it), count == 0);
	if (!count)
		return;
	FZ_CHECK(it->segs >= s && it->segs < s + nr);
	cur = (uint32_t)(it->segs - s);
	ref_addr_at(s, nr, pos, &left, &idx);
	ref_addr_at(s, nr, pos + count - 1, &last_left, &last);
	FZ_CHECK_EQ(cur, idx);
	FZ_CHECK_EQ(it->offset, s[idx].len - left);
	FZ_CHECK(it->offset < it->segs->len);
	/* nr_segs reaches every segment the bytes touch and stays inside the array. */
	FZ_CHECK(it->nr_segs >= last - idx + 1);
	FZ_CHECK(cur + (uint64_t)it->nr_segs <= nr);
}

/* Walk the iterator with views and advances, checking every step. */
static void walk_iter(struct fz *f, const struct regbuf_seg *s, uint32_t nr, uint64_t pos,
		      uint64_t count, struct regbuf_seg_iter it)
{
	static const unsigned int shifts[] = { 9, 12, 16, 21, 30 };
	unsigned int step;

	for (step = 0; step < 64 && count; step++) {
		unsigned int shift = shifts[fz_u8(f) % 5];
		struct regbuf_seg mp = regbuf_seg_iter_mp(&it), pg;
		uint64_t left, room, adv;
		uint32_t idx;
		int ret;

		FZ_CHECK_EQ(mp.addr, ref_addr_at(s, nr, pos, &left, &idx));
		FZ_CHECK_EQ(mp.len, left < count ? left : count);
		pg = regbuf_seg_iter_page(&it, shift);
		room = (UINT64_C(1) << shift) - (mp.addr & ((UINT64_C(1) << shift) - 1));
		FZ_CHECK_EQ(pg.addr, mp.addr);
		FZ_CHECK_EQ(pg.len, mp.len < room ? mp.len : room);
		switch (fz_u8(f) % 6) {
		case 0:
			adv = mp.len;
			break;
		case 1:
			adv = pg.len;
			break;
		case 2:
			adv = count;
			break;
		case 3:
			adv = count + 1 + fz_u8(f);	/* past the end: refused, untouched */
			break;
		case 4:
			adv = 0;
			break;
		default:
			adv = fz_range(f, 0, count);
			break;
		}
		ret = regbuf_seg_iter_advance(&it, adv);
		if (adv > count) {
			FZ_CHECK_EQ(ret, -EINVAL);
		} else {
			FZ_CHECK_EQ(ret, 0);
			pos += adv;
			count -= adv;
		}
		check_iter(&it, s, nr, pos, count);
	}
	if (!count) {
		FZ_CHECK_EQ(regbuf_seg_iter_mp(&it).len, 0);
		FZ_CHECK_EQ(regbuf_seg_iter_advance(&it, 1), -EINVAL);
	}
}

/* ---- input decoding ----------------------------------------------------- */

static uint64_t gen_align(struct fz *f)
{
	static const uint64_t a[] = { 4096, 4096, 4096, 512, 512, 4, 1, 65536, 1 << 21, 8, 2048,
				      16384 };

	return a[fz_u8(f) % (sizeof(a) / sizeof(a[0]))];
}

static uint64_t gen_len(struct fz *f)
{
	uint64_t al = gen_align(f);

	switch (fz_u8(f) % 8) {
	case 0:
		return fz_chance(f, 64) ? 0 : al;
	case 1:
		return fz_range(f, 1, 8192) & ~(al - 1 < 8191 ? al - 1 : 0);
	case 2:
	case 3:
		return fz_range(f, 1, 64) * 4096;
	case 4:
		return fz_range(f, 1, 256) * 512;
	case 5:
		return (fz_range(f, 1, 4 << 20) + al - 1) & ~(al - 1);
	case 6:
		return fz_range(f, 1, 8) << 21;
	default:
		return fz_chance(f, 16) ? fz_range(f, 1, 4) << 30 : fz_range(f, 1, 1 << 16);
	}
}

static uint64_t gen_addr(struct fz *f, const struct regbuf_seg *prev, uint64_t len)
{
	uint64_t al = gen_align(f), a;

	switch (fz_u8(f) % 6) {
	case 0:
	case 1:
		/* Physically contiguous with the previous segment. */
		a = prev ? prev->addr + prev->len : 0x100000;
		break;
	case 2: {
		/* Just below a power-of-two boundary (seg_boundary, virt boundary). */
		uint64_t b = UINT64_C(1) << fz_range(f, 12, 40);

		a = b * fz_range(f, 1, 16) - fz_range(f, 0, 8) * al;
		break;
	}
	case 3:
		/* Near the top of the address space. */
		a = (UINT64_MAX - len - fz_range(f, 0, 1 << 20)) & ~(al - 1);
		break;
	default:
		a = fz_u64(f) & ((UINT64_C(1) << 44) - 1) & ~(al - 1);
		break;
	}
	if (a > UINT64_MAX - len)	/* no segment wraps the address space */
		a = (UINT64_MAX - len) & ~(al - 1);
	return a;
}

static void gen_limits(struct fz *f, unsigned int cls, struct regbuf_limits *l)
{
	memset(l, 0, sizeof(*l));
	switch (cls) {
	case C_NVME:
		/* nvme/host/pci.c: PRP virt boundary, dword DMA alignment, MDTS. */
		l->logical_block_size = fz_chance(f, 128) ? 4096 : 512;
		l->max_bytes = fz_chance(f, 200) ? UINT64_C(4096) << fz_range(f, 0, 11) :
			       fz_range(f, 1, 2048) * l->logical_block_size;
		switch (fz_u8(f) % 4) {
		case 0:
			l->max_segments = (uint32_t)(l->max_bytes / 4096 + 1);
			break;
		case 1:
			l->max_segments = 127;
			break;
		case 2:
			l->max_segments = 256;
			break;
		default:
			l->max_segments = (uint32_t)fz_range(f, 1, 600);
			break;
		}
		l->max_segment_size = fz_chance(f, 200) ? UINT32_MAX : 65536;
		l->seg_boundary_mask = 0xffffffff;
		/* 6.18: SGL-capable controllers have no virt boundary. */
		l->virt_boundary_mask = fz_chance(f, 200) ? 4095 : 0;
		l->dma_alignment = 3;
		break;
	case C_RAW:
		/* Anything, mostly invalid: split must refuse what validate refuses. */
		l->logical_block_size = fz_chance(f, 128) ? 1u << fz_range(f, 0, 31) : fz_u32(f);
		l->max_bytes = fz_chance(f, 128) ? fz_u32(f) : fz_u64(f);
		l->max_segments = fz_chance(f, 128) ? (uint32_t)fz_range(f, 0, 4) : fz_u32(f);
		l->max_segment_size = fz_chance(f, 128) ? fz_range(f, 4000, 70000) : fz_u64(f);
		l->seg_boundary_mask = fz_chance(f, 128) ?
			(UINT64_C(1) << fz_range(f, 0, 63)) - 1 : fz_u64(f);
		l->virt_boundary_mask = fz_chance(f, 128) ?
			(UINT64_C(1) << fz_range(f, 0, 20)) - 1 : fz_u64(f);
		l->dma_alignment = fz_chance(f, 128) ? (1u << fz_range(f, 0, 13)) - 1 : fz_u32(f);
		break;
	default:
		/* Block-layer shapes around the defaults. */
		l->logical_block_size = 512u << fz_range(f, 0, 7);
		l->max_bytes = l->logical_block_size * fz_range(f, 1, 2560) + fz_range(f, 0, 511);
		l->max_segments = (uint32_t)(fz_chance(f, 64) ? 128 : fz_range(f, 1, 300));
		switch (fz_u8(f) % 5) {
		case 0:
			l->max_segment_size = 65536;
			break;
		case 1:
			l->max_segment_size = fz_range(f, 8, 2048) * 512;
			break;
		case 2:
			l->max_segment_size = fz_range(f, 4096, 1 << 20);
			break;
		case 3:
			l->max_segment_size = UINT64_MAX;
			break;
		default:
			l->max_segment_size = 4096;
			break;
		}
		l->seg_boundary_mask = fz_chance(f, 32) ? UINT64_MAX :
			(UINT64_C(1) << fz_range(f, 12, 40)) - 1;
		l->virt_boundary_mask = fz_chance(f, 128) ? 0 :
			(UINT64_C(1) << fz_range(f, 9, 16)) - 1;
		l->dma_alignment = (1u << fz_range(f, 0, 12)) - 1;
		break;
	}
}

/* ---- the target ------------------------------------------------------------ */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct regbuf_seg segs[MAX_SEGS];
	struct piece pieces[MAX_SEGS] = { { 0, 0 } };
	struct regbuf_seg_iter it, it2;
	struct regbuf_limits lim;
	uint64_t total = 0, pos, count, q, left;
	unsigned int cls, flags = 0, round;
	uint32_t nr, i, np;
	struct fz f;
	int ret;

	if (!size)
		return 0;
	cls = data[0] % fz_target.nr_classes;
	fz_init(&f, data + 1, size - 1);

	nr = (uint32_t)(fz_chance(&f, 200) ? fz_range(&f, 1, 8) : fz_range(&f, 1, MAX_SEGS));
	for (i = 0; i < nr; i++) {
		uint64_t len = gen_len(&f);

		segs[i].len = len;
		segs[i].addr = gen_addr(&f, i ? &segs[i - 1] : NULL, len);
		total += len;
	}
	gen_limits(&f, cls, &lim);
	if (fz_chance(&f, 24))
		flags |= REGBUF_SEG_SPLIT_F_NOWAIT;
	if (fz_chance(&f, 24))
		flags |= REGBUF_SEG_SPLIT_F_ATOMIC;
	if (fz_chance(&f, 4))
		flags |= 1u << fz_range(&f, 2, 31);

	switch (fz_u8(&f) % 4) {
	case 0:
		pos = 0;
		break;
	case 1:
		pos = fz_range(&f, 0, total < 8192 ? total : 8192);
		break;
	default:
		pos = fz_range(&f, 0, total);
		break;
	}
	count = fz_chance(&f, 128) ? total - pos : fz_range(&f, 0, total - pos);

	/* Out-of-range seeks are refused. */
	if (fz_chance(&f, 16)) {
		uint64_t bad = fz_chance(&f, 128) ? total + 1 + fz_u8(&f) : total - pos + 1;

		if (bad > total - pos) {
			if (fz_chance(&f, 128))
				ret = regbuf_seg_iter_seek(&it, segs, nr, pos, bad);
			else
				ret = regbuf_seg_iter_seek(&it, segs, nr, total + 1, 0);
			FZ_CHECK_EQ(ret, -EINVAL);
		}
	}

	/* Keep the reference cheap: at most STEP_BUDGET steps of q bytes. */
	np = ref_pieces(segs, nr, pos, count, pieces);
	q = ref_quantum(&lim, pieces, np, count);
	if (count / q > STEP_BUDGET) {
		/* q divides every piece, so the cut piece too; q can only grow. */
		count = STEP_BUDGET * q;
		np = ref_pieces(segs, nr, pos, count, pieces);
		q = ref_quantum(&lim, pieces, np, count);
	}

	FZ_CHECK_EQ(regbuf_seg_iter_seek(&it, segs, nr, pos, count), 0);
	check_iter(&it, segs, nr, pos, count);

	FZ_CHECK_EQ(regbuf_limits_validate(&lim) == 0, ref_limits_ok(&lim));
	if (!ref_limits_ok(&lim)) {
		uint32_t ns = 12345;

		FZ_CHECK_EQ(regbuf_seg_split(&it, &lim, &ns, flags), -EINVAL);
		walk_iter(&f, segs, nr, pos, count, it);
		return 0;
	}

	/* The DMA segment count of the whole range. */
	{
		struct ref_out r = ref_split(pieces, np, count, &lim, 0, q, true);

		FZ_CHECK_EQ(regbuf_seg_count(&it, &lim), r.nsegs);
		check_map(&f, &it, pieces, np, &lim, r.nsegs);
	}

	if (cls == C_ITER) {
		walk_iter(&f, segs, nr, pos, count, it);
		fz_stat_checked++;
		return 0;
	}

	/* Split the whole range piece by piece, as a driver resubmitting the remainder. */
	left = count;
	for (round = 0; round < MAX_ROUNDS; round++) {
		struct regbuf_seg_iter before = it;
		struct ref_out r;
		uint32_t ns = 0xdeadbeef;
		int64_t got;

		np = ref_pieces(segs, nr, pos, left, pieces);
		r = ref_split(pieces, np, left, &lim, flags, q, false);
		got = regbuf_seg_split(&it, &lim, &ns, flags);
		FZ_CHECK(!memcmp(&before, &it, sizeof(it)));
		if (flags & ~(REGBUF_SEG_SPLIT_F_NOWAIT | REGBUF_SEG_SPLIT_F_ATOMIC)) {
			FZ_CHECK_EQ(got, -EINVAL);
			break;
		}
		FZ_CHECK_EQ(got, r.ret);
		if (got < 0)
			break;
		FZ_CHECK_EQ(ns, r.nsegs);
		FZ_CHECK(ns <= lim.max_segments);
		if ((uint64_t)got == left)
			break;
		FZ_CHECK(got > 0 && (uint64_t)got % lim.logical_block_size == 0);
		/* The next piece: advancing the iterator equals seeking afresh. */
		FZ_CHECK_EQ(regbuf_seg_iter_advance(&it, (uint64_t)got), 0);
		pos += (uint64_t)got;
		left -= (uint64_t)got;
		FZ_CHECK_EQ(regbuf_seg_iter_seek(&it2, segs, nr, pos, left), 0);
		check_iter(&it, segs, nr, pos, left);
		check_iter(&it2, segs, nr, pos, left);
	}
	walk_iter(&f, segs, nr, pos, left, it);
	fz_stat_checked++;
	return 0;
}
