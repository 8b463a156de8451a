// SPDX-License-Identifier: MIT
/*
 * unit: multipage segment iteration (include/regbuf/seg.h).
 */
#include <regbuf/seg.h>

#include <stdbool.h>

#include "harness.h"
#include "seg_ref.h"

#define KiB (UINT64_C(1) << 10)
#define MiB (UINT64_C(1) << 20)

/* Reference: the byte at position p of a segment array, by linear walk. */
static uint64_t ref_addr(const struct regbuf_seg *segs, uint32_t nr, uint64_t p)
{
	uint32_t i;

	for (i = 0; i < nr; i++) {
		if (p < segs[i].len)
			return segs[i].addr + p;
		p -= segs[i].len;
	}
	return UINT64_MAX;
}

/* A multipage segment with a first offset past one page, as io_uring's coalesced bvec[0]. */
static int iter_mp_view_offset_past_page(void)
{
	struct regbuf_seg segs[] = {
		{ 0x200000 + 3 * 4 * KiB + 100, 2 * MiB - 3 * 4 * KiB - 100 },
		{ 0x600000, 2 * MiB },
	};
	struct regbuf_seg_iter it;
	struct regbuf_seg s;

	regbuf_seg_iter_init(&it, segs, 2, segs[0].len + 10);
	s = regbuf_seg_iter_mp(&it);
	t_check_eq(s.addr, segs[0].addr);
	t_check_eq(s.len, segs[0].len);
	s = regbuf_seg_iter_page(&it, 12);
	t_check_eq(s.addr, segs[0].addr);
	t_check_eq(s.len, 4 * KiB - 100);
	t_ok(regbuf_seg_iter_advance(&it, segs[0].len));
	s = regbuf_seg_iter_mp(&it);
	t_check_eq(s.addr, 0x600000);
	t_check_eq(s.len, 10);
	return T_PASS;
}

/* Advancing past the end fails and leaves the iterator untouched. */
static int iter_advance_past_end(void)
{
	struct regbuf_seg segs[] = { { 4096, 4096 } };
	struct regbuf_seg_iter it;

	regbuf_seg_iter_init(&it, segs, 1, 4096);
	t_check_eq(regbuf_seg_iter_advance(&it, 4097), -EINVAL);
	t_check_eq(it.count, 4096);
	t_ok(regbuf_seg_iter_advance(&it, 0));
	t_ok(regbuf_seg_iter_advance(&it, 4096));
	t_check(regbuf_seg_iter_done(&it));
	t_check_eq(regbuf_seg_iter_mp(&it).len, 0);
	return T_PASS;
}

/* Zero-length segments are skipped, including at the start. */
static int iter_zero_length_segments(void)
{
	struct regbuf_seg segs[] = { { 100, 0 }, { 8192, 10 }, { 300, 0 }, { 0, 0 }, { 65536, 5 } };
	struct regbuf_seg_iter it;

	regbuf_seg_iter_init(&it, segs, 5, 15);
	t_check_eq(regbuf_seg_iter_mp(&it).addr, 8192);
	t_ok(regbuf_seg_iter_advance(&it, 10));
	t_check_eq(regbuf_seg_iter_mp(&it).addr, 65536);
	t_check_eq(regbuf_seg_iter_mp(&it).len, 5);
	return T_PASS;
}

/* Page pieces, walked to the end, visit exactly the bytes of the reference walk. */
static int iter_page_walk_matches_reference(void)
{
	struct regbuf_seg segs[8];
	uint32_t round;

	for (round = 0; round < 2000; round++) {
		struct regbuf_seg_iter it;
		uint64_t total = 0, pos, len, done = 0;
		unsigned int shift = (t_rand() & 1) ? 12 : 21;
		uint32_t i, nr = 1 + (uint32_t)(t_rand() % 8);

		for (i = 0; i < nr; i++) {
			segs[i].addr = (t_rand() % (1u << 30)) & ~UINT64_C(3);
			segs[i].len = t_rand() % (3 * MiB);
			total += segs[i].len;
		}
		if (!total)
			continue;
		pos = t_rand() % total;
		len = 1 + t_rand() % (total - pos);
		t_ok(regbuf_seg_iter_seek(&it, segs, nr, pos, len));
		while (!regbuf_seg_iter_done(&it)) {
			struct regbuf_seg s = regbuf_seg_iter_page(&it, shift);

			if (s.len == 0 || s.addr != ref_addr(segs, nr, pos + done))
				return T_FAILF("round %u: piece at +%llu wrong", round,
					       (unsigned long long)done);
			if ((s.addr >> shift) != ((s.addr + s.len - 1) >> shift))
				return T_FAILF("round %u: piece crosses a page", round);
			t_ok(regbuf_seg_iter_advance(&it, s.len));
			done += s.len;
		}
		t_check_eq(done, len);
	}
	return T_PASS;
}

static int iter_seek_out_of_range(void)
{
	struct regbuf_seg segs[] = { { 0, 4096 }, { 8192, 4096 } };
	struct regbuf_seg_iter it;

	t_check_eq(regbuf_seg_iter_seek(&it, segs, 2, 8192, 1), -EINVAL);
	t_check_eq(regbuf_seg_iter_seek(&it, segs, 2, 4096, 4097), -EINVAL);
	t_check_eq(regbuf_seg_iter_seek(&it, segs, 2, UINT64_MAX, 2), -EINVAL);
	t_ok(regbuf_seg_iter_seek(&it, segs, 2, 4096, 4096));
	t_check_eq(regbuf_seg_iter_mp(&it).addr, 8192);
	{
		/* Lengths summing past 2^64 (to 4195 when wrapped): a range inside
		 * segment 0 beyond the wrapped sum is still found. */
		const struct regbuf_seg huge[3] = {
			{ 0x1000, UINT64_MAX - 100 }, { 0x2000, 4096 }, { 0x3000, 200 },
		};

		t_ok(regbuf_seg_iter_seek(&it, huge, 3, 5000, 1));
		t_check_eq(regbuf_seg_iter_mp(&it).addr, 0x1000 + 5000);
		t_check_eq(regbuf_seg_iter_seek(&it, huge, 3, UINT64_MAX - 50, 51), -EINVAL);
		t_ok(regbuf_seg_iter_seek(&it, huge, 3, UINT64_MAX - 150, 50));
	}
	return T_PASS;
}


/* ---- splitting by device limits (block/blk-merge.c bio_split_io_at()) ---- */

#define U32MAX UINT64_C(0xffffffff)

/* Limit overrides on top of the block layer defaults; 0 = keep the default. */
struct lim_ovr {
	uint64_t max_bytes;
	uint32_t max_segments;
	uint32_t lbs;
	uint64_t mss;
	uint64_t seg_boundary;
	uint64_t virt;
	uint32_t dma_align;	/* stored + 1 so that 0 can mean "keep" */
};

#define DMA(m) ((m) + 1)

static void lim_make(struct regbuf_limits *lim, const struct lim_ovr *o)
{
	regbuf_limits_default(lim);
	if (o->max_bytes)
		lim->max_bytes = o->max_bytes;
	if (o->max_segments)
		lim->max_segments = o->max_segments;
	if (o->lbs)
		lim->logical_block_size = o->lbs;
	if (o->mss)
		lim->max_segment_size = o->mss;
	if (o->seg_boundary)
		lim->seg_boundary_mask = o->seg_boundary;
	if (o->virt)
		lim->virt_boundary_mask = o->virt;
	if (o->dma_align)
		lim->dma_alignment = o->dma_align - 1;
}

struct split_case {
	const char *name;
	struct regbuf_seg segs[5];
	uint32_t nr;
	uint64_t offset;	/* into segs[0] */
	uint64_t count;		/* 0: to the end */
	struct lim_ovr lim;
	unsigned int flags;
	int64_t ret;
	uint32_t nsegs;
};

#define NV(...) { __VA_ARGS__ }

static const struct split_case split_cases[] = {
	{ "fits_whole", NV({ 0x10000, 0x10000 }), 1, 0, 0, { 0 }, 0, 0x10000, 1 },
	{ "empty_range", NV({ 0x10000, 0x1000 }), 1, 0x1000, 0, { 0 }, 0, 0, 0 },
	/* max_sectors rounded down to the logical block size. */
	{ "max_bytes_rounded_to_lbs", NV({ 0x100000, 0x10000 }), 1, 0, 0,
	  { .max_bytes = 12288 + 512, .lbs = 4096 }, 0, 12288, 1 },
	/* Segments run out at 10 KiB; the piece is aligned down to 8 KiB, 2 segments. */
	{ "max_segments_exhausted_aligned_down",
	  NV({ 0x10000, 5120 }, { 0x20000, 5120 }, { 0x30000, 5120 }), 3, 0, 0,
	  { .max_segments = 2, .lbs = 4096 }, 0, 8192, 2 },
	{ "max_segments_exhausted_exact",
	  NV({ 0x10000, 4096 }, { 0x20000, 4096 }, { 0x30000, 4096 }), 3, 0, 0,
	  { .max_segments = 2 }, 0, 8192, 2 },
	/* One segment crossing a 64 KiB boundary is two DMA segments... */
	{ "seg_boundary_crossing_counts_two", NV({ 0x1f000, 0x4000 }), 1, 0, 0,
	  { .seg_boundary = 0xffff, .mss = 1 << 20 }, 0, 0x4000, 2 },
	/* ...and with one segment allowed, the piece ends at the boundary. */
	{ "seg_boundary_crossing_splits", NV({ 0x1f000, 0x4000 }), 1, 0, 0,
	  { .seg_boundary = 0xffff, .mss = 1 << 20, .max_segments = 1 }, 0, 0x1000, 1 },
	{ "max_segment_size_below_len", NV({ 0x40000, 0x4000 }), 1, 0, 0,
	  { .mss = 4096 }, 0, 0x4000, 4 },
	{ "max_segment_size_and_max_segments", NV({ 0x40000, 0x4000 }), 1, 0, 0,
	  { .mss = 4096, .max_segments = 3 }, 0, 0x3000, 3 },
	/* Previous segment ends off the virt boundary: split before the next. */
	{ "virt_gap_prev_end", NV({ 0x1000, 0x1800 }, { 0x5000, 0x1000 }), 2, 0, 0,
	  { .virt = 4095, .mss = U32MAX }, 0, 0x1800, 1 },
	{ "virt_gap_next_start", NV({ 0x1000, 0x1000 }, { 0x5200, 0xe00 }), 2, 0, 0,
	  { .virt = 4095, .mss = U32MAX }, 0, 0x1000, 1 },
	{ "virt_no_gap", NV({ 0x1000, 0x1000 }, { 0x8000, 0x2000 }), 2, 0, 0,
	  { .virt = 4095, .mss = U32MAX }, 0, 0x3000, 2 },
	/* First segment may start, last may end, off the boundary. */
	{ "virt_first_start_last_end_free", NV({ 0x1800, 0x800 }, { 0x8000, 0x1200 }), 2, 0, 0,
	  { .virt = 4095, .mss = U32MAX }, 0, 0x1a00, 2 },
	/* A 6 KiB DMA segment ends off the virt boundary: nothing may follow it. */
	{ "virt_unaligned_piece_end_stops", NV({ 0x10000, 0x4000 }), 1, 0, 0,
	  { .virt = 4095, .mss = 6144 }, 0, 6144, 1 },
	{ "zero_bytes_after_gap", NV({ 0x1000, 0x800 }, { 0x3000, 0x1000 }), 2, 0, 0,
	  { .virt = 4095, .mss = U32MAX, .lbs = 4096 }, 0, -EINVAL, 0 },
	{ "zero_bytes_after_max_segments", NV({ 0x1000, 512 }, { 0x3000, 512 }), 2, 0, 0,
	  { .max_segments = 1, .lbs = 4096 }, 0, -EINVAL, 0 },
	{ "dma_alignment_addr", NV({ 0x1100, 0x1000 }), 1, 0, 0, { 0 }, 0, -EINVAL, 0 },
	{ "dma_alignment_len", NV({ 0x1000, 1000 }), 1, 0, 0, { 0 }, 0, -EINVAL, 0 },
	{ "dma_alignment_nvme_dword_ok", NV({ 0x1004, 0x1000 }), 1, 0, 0,
	  { .dma_align = DMA(3) }, 0, 0x1000, 1 },
	{ "dma_alignment_nvme_dword_bad", NV({ 0x1002, 0x1000 }), 1, 0, 0,
	  { .dma_align = DMA(3) }, 0, -EINVAL, 0 },
	/* The offset into segs[0] counts for alignment, like bv_offset. */
	{ "dma_alignment_iter_offset", NV({ 0x1000, 0x2000 }), 1, 2, 0x1000,
	  { .dma_align = DMA(3) }, 0, -EINVAL, 0 },
	/* Segments past the split point are checked when the remainder is split. */
	{ "misaligned_after_split_unchecked",
	  NV({ 0x1000, 4096 }, { 0x3000, 4096 }, { 0x5001, 3 }), 3, 0, 0,
	  { .max_bytes = 4096, .dma_align = DMA(0) }, 0, 4096, 1 },
	{ "misaligned_at_split_point_checked",
	  NV({ 0x1000, 4096 }, { 0x5001, 3 }), 2, 0, 0,
	  { .max_bytes = 4096, .dma_align = DMA(3) }, 0, -EINVAL, 0 },
	{ "nowait_needs_split", NV({ 0x10000, 0x200000 }), 1, 0, 0, { 0 },
	  REGBUF_SEG_SPLIT_F_NOWAIT, -EAGAIN, 0 },
	{ "nowait_no_split", NV({ 0x10000, 0x10000 }), 1, 0, 0, { 0 },
	  REGBUF_SEG_SPLIT_F_NOWAIT, 0x10000, 1 },
	{ "atomic_needs_split", NV({ 0x10000, 0x200000 }), 1, 0, 0, { 0 },
	  REGBUF_SEG_SPLIT_F_ATOMIC, -EINVAL, 0 },
	{ "atomic_no_split", NV({ 0x10000, 0x10000 }), 1, 0, 0, { 0 },
	  REGBUF_SEG_SPLIT_F_ATOMIC, 0x10000, 1 },
	{ "unknown_flag", NV({ 0x10000, 0x10000 }), 1, 0, 0, { 0 }, 1u << 7, -EINVAL, 0 },
	{ "iter_offset_and_count", NV({ 0x0, 0x10000 }), 1, 0x800, 0x2000,
	  { .virt = 4095, .mss = U32MAX }, 0, 0x2000, 1 },
	{ "zero_length_segments_skipped",
	  NV({ 0x1000, 0 }, { 0x2000, 0x1000 }, { 0x9999, 0 }, { 0x4000, 0x1000 }), 4, 0, 0,
	  { .virt = 4095, .mss = U32MAX }, 0, 0x2000, 2 },
	/* A 1 GiB coalesced segment under NVMe-like limits: 2 MiB MDTS. */
	{ "gigantic_segment_mdts", NV({ 0x40000000, 1u << 30 }), 1, 4096, 0,
	  { .max_bytes = 2 << 20, .virt = 4095, .mss = U32MAX, .max_segments = 127,
	    .dma_align = DMA(3) }, 0, 2 << 20, 1 },
	{ "invalid_lbs", NV({ 0x1000, 0x1000 }), 1, 0, 0, { .lbs = 1000 }, 0, -EINVAL, 0 },
	{ "invalid_mss", NV({ 0x1000, 0x1000 }), 1, 0, 0, { .mss = 100 }, 0, -EINVAL, 0 },
	{ "invalid_dma_mask", NV({ 0x1000, 0x1000 }), 1, 0, 0, { .dma_align = DMA(5) }, 0,
	  -EINVAL, 0 },
	{ "invalid_virt_mask", NV({ 0x1000, 0x1000 }), 1, 0, 0, { .virt = 4096 }, 0,
	  -EINVAL, 0 },
};

static int split_table(void)
{
	size_t i;

	for (i = 0; i < sizeof(split_cases) / sizeof(split_cases[0]); i++) {
		const struct split_case *c = &split_cases[i];
		struct regbuf_limits lim;
		struct regbuf_seg_iter it;
		uint64_t total = 0;
		uint32_t nsegs = 0xdead, j;
		int64_t ret;

		for (j = 0; j < c->nr; j++)
			total += c->segs[j].len;
		lim_make(&lim, &c->lim);
		if (regbuf_seg_iter_seek(&it, c->segs, c->nr, c->offset,
					 c->count ? c->count : total - c->offset))
			return T_FAILF("%s: bad case", c->name);
		ret = regbuf_seg_split(&it, &lim, &nsegs, c->flags);
		if (ret != c->ret)
			return T_FAILF("%s: returned %lld, expected %lld", c->name, (long long)ret,
				       (long long)c->ret);
		if (ret >= 0 && nsegs != c->nsegs)
			return T_FAILF("%s: %u segments, expected %u", c->name, nsegs, c->nsegs);
	}
	return T_PASS;
}

/* Splitting a whole range piece by piece consumes it exactly, each piece valid. */
static int split_loop_consumes_range(void)
{
	struct regbuf_seg segs[] = { { 0x1000, 0x7000 }, { 0x10000, 0x3000 }, { 0x20200, 0x1e00 } };
	struct regbuf_limits lim;
	struct regbuf_seg_iter it;
	uint64_t done = 0;
	int pieces = 0;

	regbuf_limits_default(&lim);
	lim.max_bytes = 8192;
	lim.virt_boundary_mask = 4095;
	lim.max_segment_size = U32MAX;
	regbuf_seg_iter_init(&it, segs, 3, 0x7000 + 0x3000 + 0x1e00);
	while (!regbuf_seg_iter_done(&it)) {
		uint32_t n;
		int64_t r = regbuf_seg_split(&it, &lim, &n, 0);

		t_check(r > 0 && r <= 8192);
		t_check(n >= 1);
		t_ok(regbuf_seg_iter_advance(&it, (uint64_t)r));
		done += (uint64_t)r;
		pieces++;
	}
	t_check_eq(done, 0x7000 + 0x3000 + 0x1e00);
	/* 40 KiB in five 8 KiB pieces (one spans the aligned join), then the
	 * 0x1e00 tail alone: it starts off the virt boundary. */
	t_check_eq(pieces, 6);
	return T_PASS;
}

static uint64_t pick(const uint64_t *v, size_t n)
{
	return v[t_rand() % n];
}

static void rand_limits(struct regbuf_limits *l)
{
	static const uint64_t mss[] = { 4096, 6144, 8192, 65536, U32MAX, UINT64_MAX };
	static const uint64_t bnd[] = { 4095, 0xffff, U32MAX, UINT64_MAX };
	static const uint64_t virt[] = { 0, 0, 4095, 511 };
	static const uint64_t dma[] = { 0, 3, 3, 511 };

	regbuf_limits_default(l);
	l->logical_block_size = (t_rand() & 1) ? 512 : 4096;
	l->max_bytes = l->logical_block_size * (1 + t_rand() % 32) + (t_rand() % 3) * 512;
	l->max_segments = 1 + (uint32_t)(t_rand() % 8);
	l->max_segment_size = pick(mss, 6);
	l->seg_boundary_mask = pick(bnd, 4);
	l->virt_boundary_mask = pick(virt, 4);
	l->dma_alignment = (uint32_t)pick(dma, 4);
}

/* Random ranges and limits: the kernel-shaped walk agrees with the reference. */
static int split_random_vs_reference(void)
{
	uint32_t round, splits = 0, einval = 0;

	for (round = 0; round < 30000; round++) {
		struct regbuf_seg bvs[6];
		struct regbuf_limits lim;
		struct regbuf_seg_iter it;
		uint32_t nbv = 1 + (uint32_t)(t_rand() % 6), i, n1 = 0, n2 = 0;
		uint64_t total = 0;
		int64_t r1, r2;

		rand_limits(&lim);
		for (i = 0; i < nbv; i++) {
			uint64_t gran = (t_rand() % 4) ? 512 : ((t_rand() & 1) ? 4 : 4096);

			bvs[i].addr = ((t_rand() % (1 << 20)) / gran) * gran;
			bvs[i].len = (1 + t_rand() % (24 * 1024 / gran)) * gran;
			if (t_rand() % 50 == 0)
				bvs[i].addr |= 1;	/* the odd misaligned one */
			total += bvs[i].len;
		}
		regbuf_seg_iter_init(&it, bvs, nbv, total);
		r1 = regbuf_seg_split(&it, &lim, &n1, 0);
		r2 = ref_split(bvs, nbv, total, &lim, &n2);
		if (r2 == INT64_MIN)
			continue;
		if (r1 != r2 || (r1 > 0 && n1 != n2))
			return T_FAILF("round %u (seed %llu): split %lld/%u, reference %lld/%u",
				       round, (unsigned long long)t_seed(), (long long)r1, n1,
				       (long long)r2, n2);
		if (r1 > 0 && (uint64_t)r1 < total)
			splits++;
		if (r1 == -EINVAL)
			einval++;
		if (r1 > 0 && n1 != regbuf_seg_count(&(struct regbuf_seg_iter){ bvs, nbv, 0, 0,
			(uint64_t)r1 }, &lim))
			return T_FAILF("round %u: count disagrees", round);
	}
	/* The generator must exercise both outcomes, or this test proves nothing. */
	t_check(splits > 1000);
	t_check(einval > 100);
	return T_PASS;
}

/* The arithmetic segment count agrees with the piece-by-piece reference on big ranges. */
static int count_random_vs_reference(void)
{
	static struct ref_piece pc[1];
	uint32_t round;

	for (round = 0; round < 2000; round++) {
		struct regbuf_seg bvs[4];
		struct regbuf_limits lim;
		struct regbuf_seg_iter it;
		uint32_t nbv = 1 + (uint32_t)(t_rand() % 4), i;
		uint64_t total = 0, want;

		rand_limits(&lim);
		for (i = 0; i < nbv; i++) {
			bvs[i].addr = t_rand() % (UINT64_C(1) << 34);
			bvs[i].len = 1 + t_rand() % (2 << 20);
			total += bvs[i].len;
		}
		regbuf_seg_iter_init(&it, bvs, nbv, total);
		want = ref_pieces(bvs, nbv, &lim, total, pc, 0);
		t_check_eq(regbuf_seg_count(&it, &lim), want);
	}
	return T_PASS;
}


/* ---- DMA mapping with merging (block/blk-mq-dma.c blk_map_iter_next()) ---- */

struct map_case {
	const char *name;
	struct regbuf_seg segs[4];
	uint32_t nr;
	struct lim_ovr lim;
	struct regbuf_seg want[4];
	int64_t ret;
};

static const struct map_case map_cases[] = {
	{ "merges_adjacent", NV({ 0x1000, 0x1000 }, { 0x2000, 0x1000 }, { 0x3000, 0x2000 }), 3,
	  { 0 }, NV({ 0x1000, 0x4000 }), 1 },
	{ "merge_capped_by_max_segment_size",
	  NV({ 0x10000, 0x1000 }, { 0x11000, 0x1000 }, { 0x12000, 0x1000 }), 3,
	  { .mss = 8192 }, NV({ 0x10000, 0x2000 }, { 0x12000, 0x1000 }), 2 },
	{ "no_merge_across_seg_boundary", NV({ 0xf000, 0x1000 }, { 0x10000, 0x1000 }), 2,
	  { .seg_boundary = 0xffff }, NV({ 0xf000, 0x1000 }, { 0x10000, 0x1000 }), 2 },
	{ "no_merge_not_contiguous", NV({ 0x1000, 0x1000 }, { 0x3000, 0x1000 }), 2, { 0 },
	  NV({ 0x1000, 0x1000 }, { 0x3000, 0x1000 }), 2 },
	{ "cut_inside_one_segment", NV({ 0x0, 0x30000 }), 1, { 0 },
	  NV({ 0x0, 0x10000 }, { 0x10000, 0x10000 }, { 0x20000, 0x10000 }), 3 },
	/* The tail of a cut segment merges with the next once it is used up. */
	{ "tail_of_cut_segment_merges", NV({ 0x0, 0x14000 }, { 0x14000, 0x1000 }), 2, { 0 },
	  NV({ 0x0, 0x10000 }, { 0x10000, 0x5000 }), 2 },
	{ "enospc", NV({ 0x0, 0x1000 }, { 0x5000, 0x1000 }, { 0x9000, 0x1000 },
		       { 0xd000, 0x1000 }), 4, { 0 }, NV({ 0x0, 0x1000 }), -ENOSPC },
};

static int map_table(void)
{
	size_t i;

	for (i = 0; i < sizeof(map_cases) / sizeof(map_cases[0]); i++) {
		const struct map_case *c = &map_cases[i];
		struct regbuf_seg out[4];
		struct regbuf_limits lim;
		struct regbuf_seg_iter it;
		uint64_t total = 0;
		uint32_t j, max = c->ret == -ENOSPC ? 3 : 4;
		int64_t r;

		for (j = 0; j < c->nr; j++)
			total += c->segs[j].len;
		lim_make(&lim, &c->lim);
		regbuf_seg_iter_init(&it, c->segs, c->nr, total);
		r = regbuf_seg_map(&it, &lim, out, max);
		if (r != c->ret)
			return T_FAILF("%s: returned %lld, expected %lld", c->name, (long long)r,
				       (long long)c->ret);
		for (j = 0; r > 0 && j < (uint32_t)r; j++)
			if (out[j].addr != c->want[j].addr || out[j].len != c->want[j].len)
				return T_FAILF("%s: segment %u is %#llx+%#llx", c->name, j,
					       (unsigned long long)out[j].addr,
					       (unsigned long long)out[j].len);
	}
	return T_PASS;
}

/* Random ranges with many contiguous neighbours: same bytes, limits obeyed, never more
 * segments than the unmerged count. */
static int map_random_properties(void)
{
	static struct regbuf_seg out[4096];
	uint32_t round, merged = 0;

	for (round = 0; round < 5000; round++) {
		struct regbuf_seg bvs[8];
		struct regbuf_limits lim;
		struct regbuf_seg_iter it;
		uint32_t nbv = 1 + (uint32_t)(t_rand() % 8), i;
		uint64_t total = 0, pos = 0, off, cnt;
		int64_t n;

		rand_limits(&lim);
		for (i = 0; i < nbv; i++) {
			bvs[i].len = 1 + t_rand() % (96 * 1024);
			if (i && (t_rand() % 3))
				bvs[i].addr = bvs[i - 1].addr + bvs[i - 1].len;	/* contiguous */
			else
				bvs[i].addr = t_rand() % (UINT64_C(1) << 32);
			total += bvs[i].len;
		}
		off = t_rand() % bvs[0].len;
		cnt = 1 + t_rand() % (total - off);
		t_ok(regbuf_seg_iter_seek(&it, bvs, nbv, off, cnt));
		n = regbuf_seg_map(&it, &lim, out, 4096);
		t_check(n > 0);
		if (n > regbuf_seg_count(&it, &lim))
			return T_FAILF("round %u: %lld segments, more than the count %lld", round,
				       (long long)n, (long long)regbuf_seg_count(&it, &lim));
		if (n < regbuf_seg_count(&it, &lim))
			merged++;
		for (i = 0; i < (uint32_t)n; i++) {
			const struct regbuf_seg *o = &out[i];

			if (!o->len || o->len > lim.max_segment_size)
				return T_FAILF("round %u: segment %u length %llu", round, i,
					       (unsigned long long)o->len);
			if ((o->addr | lim.seg_boundary_mask) !=
			    ((o->addr + o->len - 1) | lim.seg_boundary_mask))
				return T_FAILF("round %u: segment %u crosses a boundary", round, i);
			/* Same bytes as the reference walk: check both ends and the middle. */
			if (o->addr != ref_addr(bvs, nbv, off + pos) ||
			    o->addr + o->len / 2 != ref_addr(bvs, nbv, off + pos + o->len / 2) ||
			    o->addr + o->len - 1 != ref_addr(bvs, nbv, off + pos + o->len - 1))
				return T_FAILF("round %u: segment %u maps other bytes", round, i);
			pos += o->len;
		}
		t_check_eq(pos, cnt);
	}
	t_check(merged > 500);
	return T_PASS;
}

static int limits_default_valid(void)
{
	struct regbuf_limits lim;

	regbuf_limits_default(&lim);
	t_ok(regbuf_limits_validate(&lim));
	t_check_eq(lim.max_segments, 128);
	t_check_eq(lim.max_segment_size, 65536);
	lim.seg_boundary_mask = 0x7ff;
	t_check_eq(regbuf_limits_validate(&lim), -EINVAL);
	return T_PASS;
}

/*
 * Limits a caller forgot to fill (all zero) or filled badly: counting and
 * mapping divide by max_segment_size and mask by seg_boundary_mask, so they
 * must refuse with -EINVAL instead of dividing by zero (found by fuzz-seg-split).
 */
static int count_and_map_refuse_bad_limits(void)
{
	struct regbuf_seg segs[] = { { 0x10000, 3 * 4096 } };
	struct regbuf_limits zero = { 0 }, bad_mask;
	struct regbuf_seg out[8];
	struct regbuf_seg_iter it;

	regbuf_seg_iter_init(&it, segs, 1, segs[0].len);
	t_check_eq(regbuf_seg_count(&it, &zero), -EINVAL);
	t_check_eq(regbuf_seg_map(&it, &zero, out, 8), -EINVAL);
	regbuf_limits_default(&bad_mask);
	bad_mask.seg_boundary_mask = 0x1234;
	t_check_eq(regbuf_seg_count(&it, &bad_mask), -EINVAL);
	t_check_eq(regbuf_seg_map(&it, &bad_mask, out, 8), -EINVAL);
	regbuf_limits_default(&bad_mask);
	t_check_eq(regbuf_seg_count(&it, &bad_mask), 1);
	t_check_eq(regbuf_seg_map(&it, &bad_mask, out, 8), 1);
	return T_PASS;
}

static const struct t_case cases[] = {
	T_CASE(count_and_map_refuse_bad_limits),
	T_CASE(iter_mp_view_offset_past_page),
	T_CASE(iter_advance_past_end),
	T_CASE(iter_zero_length_segments),
	T_CASE(iter_page_walk_matches_reference),
	T_CASE(iter_seek_out_of_range),
	T_CASE(limits_default_valid),
	T_CASE(split_table),
	T_CASE(split_loop_consumes_range),
	T_CASE(split_random_vs_reference),
	T_CASE(count_random_vs_reference),
	T_CASE(map_table),
	T_CASE(map_random_properties),
};

int main(int argc, char **argv)
{
	return t_main("unit/seg", cases, sizeof(cases) / sizeof(cases[0]), argc, argv);
}
