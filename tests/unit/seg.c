// SPDX-License-Identifier: MIT
/*
 * unit: multipage segment iteration (include/regbuf/seg.h).
 */
#include <regbuf/seg.h>

#include "harness.h"

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

/* Advancing past the end fails and leaves the iterator untouched (kernel §6 item 31). */
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
	return T_PASS;
}

static const struct t_case cases[] = {
	T_CASE(iter_mp_view_offset_past_page),
	T_CASE(iter_advance_past_end),
	T_CASE(iter_zero_length_segments),
	T_CASE(iter_page_walk_matches_reference),
	T_CASE(iter_seek_out_of_range),
};

int main(int argc, char **argv)
{
	return t_main("unit/seg", cases, sizeof(cases) / sizeof(cases[0]), argc, argv);
}
