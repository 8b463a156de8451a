// SPDX-License-Identifier: MIT
/*
 * fuzz: segment splitting and DMA mapping (libFuzzer, clang only).
 *
 * The input picks device limits and up to 8 multipage segments (often
 * contiguous, sometimes misaligned).  regbuf_seg_split() must agree with the
 * largest-valid-prefix reference (tests/unit/seg_ref.h) in bytes and segment
 * count; splitting in a loop must consume the range exactly; regbuf_seg_map()
 * must cover the same bytes within the limits and never return more segments
 * than regbuf_seg_count().  Any disagreement aborts.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <regbuf/seg.h>

#include "unit/seg_ref.h"

#define CHECK(c)							\
	do {								\
		if (!(c)) {						\
			fprintf(stderr, "%s:%d: %s\n", __FILE__, __LINE__, #c); \
			abort();					\
		}							\
	} while (0)

struct input {
	const uint8_t *d;
	size_t n;
};

static uint32_t take(struct input *in, unsigned int bytes)
{
	uint32_t v = 0;

	while (bytes--) {
		v <<= 8;
		if (in->n) {
			v |= *in->d++;
			in->n--;
		}
	}
	return v;
}

static void limits(struct input *in, struct regbuf_limits *l)
{
	static const uint64_t mss[] = { 4096, 6144, 8192, 65536, 0xffffffffu, UINT64_MAX };
	static const uint64_t bnd[] = { 4095, 0xffff, 0xffffffffu, UINT64_MAX };
	static const uint64_t virt[] = { 0, 4095, 511, 0 };
	static const uint32_t dma[] = { 0, 3, 511, 3 };
	uint32_t v = take(in, 4);

	regbuf_limits_default(l);
	l->logical_block_size = (v & 1) ? 512 : 4096;
	l->max_bytes = l->logical_block_size * (1 + ((v >> 1) & 63)) + ((v >> 7) % 3) * 512;
	l->max_segments = 1 + ((v >> 9) & 15);
	l->max_segment_size = mss[((v >> 13) & 7) % 6];
	l->seg_boundary_mask = bnd[(v >> 16) & 3];
	l->virt_boundary_mask = virt[(v >> 18) & 3];
	l->dma_alignment = dma[(v >> 20) & 3];
}

static void check_map(const struct regbuf_seg_iter *it, const struct regbuf_limits *l)
{
	static struct regbuf_seg out[8192];
	const struct regbuf_seg *s = it->segs;
	uint64_t off = it->offset, done = 0;
	int64_t n = regbuf_seg_map(it, l, out, 8192);
	uint32_t i;

	CHECK(n >= 0 && (uint64_t)n <= regbuf_seg_count(it, l));
	for (i = 0; i < (uint32_t)n; i++) {
		uint64_t left = out[i].len, a = out[i].addr;

		CHECK(left && left <= l->max_segment_size);
		CHECK((a | l->seg_boundary_mask) == ((a + left - 1) | l->seg_boundary_mask));
		/* Walk the source segments alongside: the bytes must be the same. */
		while (left) {
			uint64_t room;

			while (off >= s->len) {
				off -= s->len;
				s++;
			}
			room = s->len - off;
			if (room > left)
				room = left;
			CHECK(s->addr + off == a);
			a += room;
			off += room;
			left -= room;
			done += room;
		}
	}
	CHECK(done == it->count);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct input in = { data, size };
	struct regbuf_seg bvs[8];
	struct regbuf_limits l;
	struct regbuf_seg_iter it;
	uint32_t nbv, i, n1 = 0, n2 = 0;
	uint64_t total = 0;
	int64_t r1, r2;

	limits(&in, &l);
	nbv = 1 + take(&in, 1) % 8;
	for (i = 0; i < nbv; i++) {
		uint32_t v = take(&in, 4);
		uint64_t gran = (v & 3) == 0 ? 4 : (v & 3) == 1 ? 512 : 4096;

		bvs[i].len = (1 + ((v >> 2) & 0x3f)) * gran + ((v >> 30) ? 0 : ((v >> 8) & 3));
		if (i && (v & 0x10000))
			bvs[i].addr = bvs[i - 1].addr + bvs[i - 1].len;
		else
			bvs[i].addr = (uint64_t)((v >> 17) & 0x1fff) * gran + ((v >> 28) & 1);
		total += bvs[i].len;
	}
	regbuf_seg_iter_init(&it, bvs, nbv, total);

	r1 = regbuf_seg_split(&it, &l, &n1, 0);
	r2 = ref_split(bvs, nbv, total, &l, &n2);
	if (r2 != INT64_MIN) {
		CHECK(r1 == r2);
		CHECK(r1 <= 0 || n1 == n2);
	}
	check_map(&it, &l);

	/* Split to the end: pieces are positive, block-aligned but for the last. */
	while (!regbuf_seg_iter_done(&it)) {
		int64_t r = regbuf_seg_split(&it, &l, &n1, 0);

		if (r == -EINVAL)
			break;
		CHECK(r > 0 && (uint64_t)r <= it.count && n1 >= 1 && n1 <= l.max_segments);
		CHECK((uint64_t)r == it.count || (uint64_t)r % l.logical_block_size == 0);
		CHECK(regbuf_seg_iter_advance(&it, (uint64_t)r) == 0);
	}
	return 0;
}
