/* SPDX-License-Identifier: MIT */
/*
 * Slow reference for regbuf_seg_split(), shared by tests/unit/seg.c and
 * tests/fuzz/seg.c.  Written from the definition, not from the walk: the
 * kernel's split point is the largest prefix that is valid (fits max_bytes
 * and max_segments once cut greedily into DMA segments, and has no
 * virt-boundary gap at any inner cut), aligned down to the logical block;
 * validity is downward closed, so a binary search over the candidate cut
 * points finds it.
 */
#ifndef REGBUF_TESTS_SEG_REF_H
#define REGBUF_TESTS_SEG_REF_H

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>

#include <regbuf/seg.h>

struct ref_piece {
	uint64_t addr, len;
	uint64_t pos;		/* range position of the first byte */
	uint32_t bv;		/* which multipage segment it came from */
};

/* Greedy DMA segments of the first @p bytes: cut at boundary crossings and every mss. */
static uint32_t ref_pieces(const struct regbuf_seg *bvs, uint32_t nbv, const struct regbuf_limits *l,
			   uint64_t p, struct ref_piece *out, uint32_t max)
{
	uint64_t pos = 0;
	uint32_t n = 0, i;

	for (i = 0; i < nbv && pos < p; i++) {
		uint64_t a = bvs[i].addr, left = bvs[i].len;

		if (left > p - pos)
			left = p - pos;
		while (left) {
			uint64_t bnd = l->seg_boundary_mask == UINT64_MAX ? UINT64_MAX :
				((a | l->seg_boundary_mask) - a + 1);
			uint64_t len = left;

			if (len > l->max_segment_size)
				len = l->max_segment_size;
			if (len > bnd)
				len = bnd;
			if (n < max)
				out[n] = (struct ref_piece){ a, len, pos, i };
			n++;
			a += len;
			pos += len;
			left -= len;
		}
	}
	return n;
}

#define REF_MAX 4096

static bool ref_valid(const struct regbuf_seg *bvs, uint32_t nbv, const struct regbuf_limits *l,
		      uint64_t p, uint64_t max_bytes)
{
	static struct ref_piece pc[REF_MAX];
	uint32_t n, i;

	if (p > max_bytes)
		return false;
	n = ref_pieces(bvs, nbv, l, p, pc, REF_MAX);
	if (n > l->max_segments)
		return false;
	for (i = 1; i < n; i++)
		if (((pc[i - 1].addr + pc[i - 1].len) & l->virt_boundary_mask) ||
		    (pc[i].addr & l->virt_boundary_mask))
			return false;
	return true;
}

static int64_t ref_split(const struct regbuf_seg *bvs, uint32_t nbv, uint64_t count,
			 const struct regbuf_limits *l, uint32_t *nsegs)
{
	static struct ref_piece pc[REF_MAX];
	static uint64_t cand[REF_MAX + 2];
	uint64_t max_bytes = l->max_bytes / l->logical_block_size * l->logical_block_size;
	uint64_t best, pos = 0;
	uint32_t n, nc = 0, i, lo, hi;

	n = ref_pieces(bvs, nbv, l, count, pc, REF_MAX);
	if (n > REF_MAX)
		return INT64_MIN;
	for (i = 0; i < n; i++)
		cand[nc++] = pc[i].pos + pc[i].len;
	if (max_bytes < count)
		cand[nc++] = max_bytes;
	/* Sort (small n: insertion sort). */
	for (i = 1; i < nc; i++) {
		uint64_t v = cand[i];
		uint32_t j = i;

		while (j && cand[j - 1] > v) {
			cand[j] = cand[j - 1];
			j--;
		}
		cand[j] = v;
	}
	/* Validity is downward closed: binary search the largest valid candidate. */
	best = 0;
	lo = 0;
	hi = nc;
	while (lo < hi) {
		uint32_t mid = (lo + hi) / 2;

		if (ref_valid(bvs, nbv, l, cand[mid], max_bytes)) {
			best = cand[mid];
			lo = mid + 1;
		} else {
			hi = mid;
		}
	}
	/* The walk reaches every segment that starts at or before the split point. */
	for (i = 0; i < nbv; i++) {
		if (pos > best || pos >= count)
			break;
		if ((bvs[i].addr | bvs[i].len) & l->dma_alignment)
			return -EINVAL;
		pos += bvs[i].len;
	}
	if (best < count)
		best = best / l->logical_block_size * l->logical_block_size;
	if (!best && count)
		return -EINVAL;
	*nsegs = ref_pieces(bvs, nbv, l, best, pc, REF_MAX);
	return (int64_t)best;
}

#endif /* REGBUF_TESTS_SEG_REF_H */
