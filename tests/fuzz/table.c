// SPDX-License-Identifier: MIT
/*
 * fuzz: the table layer (libFuzzer, clang only).
 *
 * The first input byte picks the target:
 *  even: a synthetic folio layout is coalesced; the result is checked
 *        against the page-by-page reference of io_check_coalesce_buffer()
 *        (tests/unit/table_ref.h), for tiling, for segments that never leave
 *        a folio or skip a page, and the O(1) seek against the linear one;
 *  odd:  a sequence of register / unregister / clone operations on three
 *        tables is run against a model of the kernel's clone semantics.
 * Any disagreement aborts.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <regbuf/table.h>

#include "table/layout.h"
#include "unit/table_ref.h"

#define PG 4096u
#define VA UINT64_C(0x7f0000000000)
#define MAXP 64

#define CHECK(c)							\
	do {								\
		if (!(c)) {						\
			fprintf(stderr, "%s:%d: %s\n", __FILE__, __LINE__, #c); \
			abort();					\
		}							\
	} while (0)

static void check_seek(const struct regbuf_buf *b, uint64_t off, uint64_t len)
{
	struct regbuf_buf_info in;
	struct regbuf_seg_iter fast, ref;
	const struct regbuf_seg *s;
	uint64_t left, pos;
	uint32_t touched = 0;

	regbuf_buf_info(b, &in);
	CHECK(regbuf_buf_import(b, in.ubuf + off, len, &fast) == 0);
	CHECK(regbuf_seg_iter_seek(&ref, in.segs, in.nr_segs, off, len) == 0);
	CHECK(fast.count == len);
	if (!len)
		return;
	CHECK(fast.segs == ref.segs && fast.offset == ref.offset);
	for (s = ref.segs, pos = ref.offset, left = len; left; s++, pos = 0, touched++)
		left -= s->len - pos < left ? s->len - pos : left;
	CHECK(fast.nr_segs == touched);
}

static void fuzz_layout(const uint8_t *d, size_t n)
{
	struct table_layout l;
	struct regbuf_buf_info in;
	struct regbuf_buf *b;
	struct pg p[MAXP];
	uint8_t shift_of[8];
	uint32_t np, i, folios = 0, first = 0;
	unsigned int shift = 12, flags;
	uint64_t in_page, len, pos;
	bool want;

	if (n < 12)
		return;
	flags = d[1] & 1 ? REGBUF_TABLE_F_KERNEL_EXACT : 0;
	in_page = ((uint64_t)d[2] << 4 | (d[3] & 15)) % PG;
	for (i = 0; i < 8; i++)		/* one size per folio */
		shift_of[i] = (uint8_t)(12 + d[4 + i] % 4);
	d += 12;
	n -= 12;
	for (np = 0; np < MAXP && n >= 2; np++, d += 2, n -= 2) {
		uint8_t f = d[0] & 7;

		p[np] = (struct pg){ f, (uint32_t)(d[1] % (1u << (shift_of[f] - 12))), shift_of[f],
				     0 };
	}
	if (!np)
		return;
	len = (uint64_t)np * PG - in_page;
	if (np > 1 || len > 1)
		len -= (d[-1] % PG) % (np > 1 ? PG : len);
	table_layout_init(&l, REGBUF_LAYOUT_SYNTHETIC);
	for (i = 0; i < np; i++)
		CHECK(table_layout_add(&l, p[i].folio, p[i].idx, 1, p[i].shift,
				       TABLE_PFN_NONE) == 0);
	CHECK(table_buf_build(&b, VA + in_page, len, &l, flags) == 0);
	table_layout_free(&l);
	regbuf_buf_info(b, &in);

	want = ref_kernel_coalesce(p, np, &folios, &first, &shift);
	CHECK(want == !!(in.flags & REGBUF_BUF_F_COALESCED));
	if (want) {
		CHECK(in.nr_segs == folios && in.folio_shift == shift);
		CHECK(in.seg0_off == (uint64_t)first * PG + in_page);
	} else if (flags) {
		CHECK(in.nr_segs == np);
	}
	/* Tiling, and (not coalesced) every segment = consecutive pages of one folio. */
	for (i = 0, pos = 0; i < in.nr_segs; pos += in.segs[i].len, i++) {
		uint64_t a = (in_page + pos) / PG, z = (in_page + pos + in.segs[i].len - 1) / PG, k;

		CHECK(in.segs[i].addr == in.ubuf + pos && in.segs[i].len);
		for (k = a + 1; !want && k <= z; k++)
			CHECK(p[k].folio == p[a].folio && p[k].idx == p[a].idx + (k - a));
		check_seek(b, pos, 0);
		check_seek(b, pos, in.len - pos);
		if (pos)
			check_seek(b, pos - 1, 2 < in.len - pos + 1 ? 2 : in.len - pos + 1);
	}
	CHECK(pos == len);
	regbuf_buf_put(b);
}

/* ---------------------------------------------------------------------- */

#define NT 3
#define MAXS 8

struct model {
	bool reg;
	uint32_t nr;
	struct regbuf_buf *slot[2 * MAXS];
};

static struct regbuf_buf *peek(struct regbuf_table *t, uint32_t i)
{
	struct regbuf_buf *b = NULL;

	if (regbuf_table_buf_get(t, i, &b))
		return NULL;
	regbuf_buf_put(b);
	return b;
}

static void sync_check(struct regbuf_table *t, const struct model *m)
{
	uint32_t i;

	CHECK(regbuf_table_nr(t) == (m->reg ? m->nr : 0));
	for (i = 0; m->reg && i < m->nr; i++)
		CHECK(peek(t, i) == m->slot[i]);
}

/* The kernel's io_clone_buffers() outcome on the model. */
static int model_clone(struct model *dst, const struct model *src, uint32_t doff, uint32_t soff,
		       uint32_t nr, unsigned int flags)
{
	struct model n;
	uint32_t i, end;

	if (flags & ~REGBUF_TABLE_F_CLONE_REPLACE)
		return -EINVAL;
	if (dst->reg && !(flags & REGBUF_TABLE_F_CLONE_REPLACE))
		return -EBUSY;
	if (!nr && (soff || doff))
		return -EINVAL;
	if (!src->reg || !src->nr)
		return -ENXIO;
	if (!nr)
		nr = src->nr;
	else if (nr > src->nr)
		return -EINVAL;
	if ((uint64_t)nr + soff > src->nr)
		return -EOVERFLOW;
	if ((uint64_t)nr + doff > UINT32_MAX)
		return -EOVERFLOW;
	if (nr + doff > REGBUF_TABLE_MAX_BUFS)
		return -EINVAL;
	end = nr + doff;
	memset(&n, 0, sizeof(n));
	n.reg = true;
	n.nr = dst->reg && dst->nr > end ? dst->nr : end;
	CHECK(n.nr <= 2 * MAXS);
	for (i = 0; dst->reg && i < dst->nr; i++)
		if (i < doff || i >= end)
			n.slot[i] = dst->slot[i];
	for (i = 0; i < nr; i++)
		n.slot[doff + i] = src->slot[soff + i];
	*dst = n;
	return 0;
}

static void fuzz_ops(const uint8_t *d, size_t n)
{
	struct regbuf_table *t[NT];
	struct model m[NT];
	uint32_t i, k;

	memset(m, 0, sizeof(m));
	for (i = 0; i < NT; i++)
		CHECK(regbuf_table_create(&t[i], 0) == 0);
	for (; n >= 4; d += 4, n -= 4) {
		uint32_t a = d[0] % NT, b = d[1] % NT, op = (d[0] >> 2) % 4;
		int r, w;

		if (op == 0) {		/* register d[2] % MAXS + 1 slots, d[3] = empty mask */
			struct iovec iov[MAXS];
			uint8_t sh[MAXS];
			uint32_t nr = d[2] % MAXS + 1;

			for (k = 0; k < nr; k++) {
				iov[k].iov_base = (d[3] >> k) & 1 ? NULL :
					(void *)(uintptr_t)(VA + (uint64_t)(d[2] * MAXS + k) * PG * 4);
				iov[k].iov_len = iov[k].iov_base ? PG * (1 + k) : 0;
				sh[k] = 12 + k % 4;
			}
			r = regbuf_table_register_hinted(t[a], iov, sh, nr, 0);
			CHECK(r == (m[a].reg ? -EBUSY : 0));
			if (!r) {
				m[a].reg = true;
				m[a].nr = nr;
				for (k = 0; k < nr; k++)
					m[a].slot[k] = peek(t[a], k);
			}
		} else if (op == 1) {
			r = regbuf_table_unregister(t[a]);
			CHECK(r == (m[a].reg ? 0 : -ENXIO));
			m[a].reg = false;
		} else {		/* clone; offsets and counts small, sometimes wrapping */
			uint32_t doff = d[2] & 7, soff = (d[2] >> 3) & 7, nr = d[3] & 7;
			unsigned int flags = (d[3] >> 3) & 1 ? REGBUF_TABLE_F_CLONE_REPLACE : 0;

			if (d[3] & 0x80)
				soff = UINT32_MAX - soff;
			if (d[3] & 0x40)
				flags |= 1u << 5;
			w = model_clone(&m[a], &m[b], doff, soff, nr, flags);
			r = regbuf_table_clone(t[a], t[b], doff, soff, nr, flags);
			CHECK(r == w);
		}
		for (i = 0; i < NT; i++)
			sync_check(t[i], &m[i]);
	}
	for (i = 0; i < NT; i++)
		regbuf_table_destroy(t[i]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!size)
		return 0;
	if (data[0] & 1)
		fuzz_ops(data + 1, size - 1);
	else
		fuzz_layout(data, size);
	return 0;
}
