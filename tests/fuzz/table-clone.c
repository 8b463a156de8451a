// SPDX-License-Identifier: MIT
/*
 * fuzz-table-clone: random sequences of register, register_sparse, update,
 * clone (ranges, REPLACE, src == dst), unregister, destroy, buf_get/put and
 * import over 2-3 tables, checked after every step against a model that is
 * nothing but arrays of slot -> buffer identity, written from the kernel's
 * rules (io_uring/rsrc.c: registration, update, import and clone) and
 * the error codes include/regbuf/table.h documents.
 *
 * Buffers are made-up addresses registered with a folio-size hint (no page
 * walk), or, for update (which always discovers the layout), addresses inside
 * a small real arena.  Every buffer has a unique (address, length), which is
 * its identity.  Checks: every return value and error code; the slot count;
 * each slot's buffer (buf_get + info, import of its whole range and one byte
 * past it); that a cloned slot shares the very same buffer object; and that
 * a buffer held with buf_get after its last table slot went has exactly the
 * holders' references left, stays readable (ASan), and is freed by the last
 * put (LeakSanitizer).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <regbuf/table.h>

#include "fuzz.h"
#include "table/layout.h"

#define NT		3
#define MAXB		REGBUF_TABLE_MAX_BUFS
#define MAX_IDS		4096
#define MAX_HELD	16
#define MAX_OPS		48
#define MAX_ENTRIES	12
#define ARENA_LEN	(UINT64_C(1) << 20)
#define FAKE_BASE	UINT64_C(0x200000000000)	/* above ASan's shadow */

enum { C_SMALL, C_CLONE, C_LARGE };
FZ_TARGET("table-clone", 1024, 2500, "small", "clone", "large");

struct mtable {
	bool reg;
	uint32_t nr;
	uint32_t *slot;		/* buffer id, 0 = empty; MAXB entries */
};

struct mbuf {
	uint64_t ubuf;
	uint64_t len;
	struct regbuf_buf *obj;	/* seen once, must stay the same object */
};

struct held {
	uint32_t id;
	struct regbuf_buf *b;
};

struct state {
	struct regbuf_table *t[NT];
	struct mtable m[NT];
	unsigned int nt;
	struct mbuf ids[MAX_IDS];
	uint32_t nids;
	struct held held[MAX_HELD];
	unsigned int nheld;
};

static struct state model;
static uint32_t model_slots[NT][MAXB + 8];
static uint8_t *arena;
static struct iovec big_iov[MAXB + 1];
static uint8_t big_shift[MAXB + 1];

static uint32_t new_id(struct state *s, uint64_t ubuf, uint64_t len)
{
	if (s->nids + 1 >= MAX_IDS)
		return 0;
	s->nids++;
	s->ids[s->nids].ubuf = ubuf;
	s->ids[s->nids].len = len;
	s->ids[s->nids].obj = NULL;
	return s->nids;
}

/* ---- entries ------------------------------------------------------------ */

struct entry {
	struct iovec iov;
	uint8_t shift;
	int want;	/* reference verdict: 0 ok, 1 empty slot, -errno */
	uint32_t id;
};

/*
 * One iovec: valid (a fresh identity), empty, or invalid as
 * io_sqe_buffer_register() refuses.  @real: inside the arena
 * (update discovers layouts), else made up with a hint.
 */
static void gen_entry(struct fz *f, struct state *s, bool real, struct entry *e)
{
	uint64_t addr, len;

	e->shift = (uint8_t)(fz_chance(f, 128) ? 12 : 13 + fz_u8(f) % 18);
	e->id = 0;
	switch (fz_u8(f) % 10) {
	case 0:
		addr = 0;
		len = 0;
		e->want = 1;
		break;
	case 1:
		addr = 0;
		len = fz_range(f, 1, 4096);
		e->want = -EFAULT;
		break;
	case 2:
		switch (fz_u8(f) % 4) {
		case 0:
			addr = FAKE_BASE;
			len = 0;
			e->want = -EFAULT;
			break;
		case 1:
			addr = FAKE_BASE;
			len = REGBUF_BUF_MAX_LEN + 1;
			e->want = -EFAULT;
			break;
		case 2:		/* addr + PAGE_ALIGN(len), or ALIGN(addr + len), wraps */
			len = fz_range(f, 1, 8192);
			addr = fz_chance(f, 128) ? UINT64_MAX - fz_range(f, 0, len) :
						   UINT64_MAX - len - fz_range(f, 0, 4094);
			e->want = -EOVERFLOW;
			break;
		default:	/* a folio-size hint outside 12..30 */
			addr = FAKE_BASE;
			len = 4096;
			e->shift = fz_chance(f, 128) ? 11 : 31;
			e->want = real ? 0 : -EINVAL;
			if (real) {
				addr = (uint64_t)(uintptr_t)arena;
				len = 1;
			}
			break;
		}
		break;
	default:
		if (real) {
			len = s->nids + 1;
			addr = (uint64_t)(uintptr_t)arena + fz_range(f, 0, ARENA_LEN - len);
		} else {
			addr = FAKE_BASE + ((uint64_t)(s->nids + 1) << 24) + fz_range(f, 0, 8191);
			len = fz_range(f, 1, 1 << 20);
			if (!fz_unmapped(addr & ~UINT64_C(4095),
					 (addr + len + 4095) & ~UINT64_C(4095))) {
				/* Something is mapped there after all: an empty slot. */
				addr = 0;
				len = 0;
				e->want = 1;
				break;
			}
		}
		e->want = 0;
		break;
	}
	e->iov.iov_base = (void *)(uintptr_t)addr;
	e->iov.iov_len = len;
	if (!e->want) {
		e->id = new_id(s, addr, len);
		if (!e->id) {		/* out of identities: an empty slot instead */
			e->iov.iov_base = NULL;
			e->iov.iov_len = 0;
			e->want = 1;
		}
	}
}

/* ---- checks ------------------------------------------------------------- */

static void check_slot(struct state *s, unsigned int ti, uint32_t slot)
{
	const struct mtable *m = &s->m[ti];
	uint32_t id = m->reg && slot < m->nr ? m->slot[slot] : 0;
	struct regbuf_seg_iter it;
	struct regbuf_buf_info in;
	struct regbuf_buf *b;

	if (!id) {
		FZ_CHECK_EQ(regbuf_table_buf_get(s->t[ti], slot, &b), -EFAULT);
		FZ_CHECK_EQ(regbuf_table_import(s->t[ti], slot, 0, 0, &it), -EFAULT);
		return;
	}
	FZ_CHECK_EQ(regbuf_table_buf_get(s->t[ti], slot, &b), 0);
	FZ_CHECK_EQ(regbuf_buf_info(b, &in), 0);
	FZ_CHECK_EQ(in.ubuf, s->ids[id].ubuf);
	FZ_CHECK_EQ(in.len, s->ids[id].len);
	/* Shared, never copied: one object per identity. */
	if (!s->ids[id].obj)
		s->ids[id].obj = b;
	FZ_CHECK(s->ids[id].obj == b);
	regbuf_buf_put(b);
	FZ_CHECK_EQ(regbuf_table_import(s->t[ti], slot, in.ubuf, in.len, &it), 0);
	FZ_CHECK_EQ(it.count, in.len);
	FZ_CHECK_EQ(regbuf_table_import(s->t[ti], slot, in.ubuf + in.len, 1, &it), -EFAULT);
	FZ_CHECK_EQ(regbuf_table_import(s->t[ti], slot, in.ubuf - 1, 1, &it), -EFAULT);
}

static void check_table(struct fz *f, struct state *s, unsigned int ti)
{
	const struct mtable *m = &s->m[ti];
	uint32_t nr = m->reg ? m->nr : 0, i;

	FZ_CHECK_EQ(regbuf_table_nr(s->t[ti]), nr);
	if (nr <= 64) {
		for (i = 0; i < nr; i++)
			check_slot(s, ti, i);
	} else {
		check_slot(s, ti, 0);
		check_slot(s, ti, nr - 1);
		for (i = 0; i < 16; i++)
			check_slot(s, ti, (uint32_t)fz_range(f, 0, nr - 1));
		/* Occupied slots too: large tables are mostly empty. */
		for (i = 0; i < nr; i++)
			if (m->slot[i])
				check_slot(s, ti, i);
	}
	check_slot(s, ti, nr);
	check_slot(s, ti, UINT32_MAX);
}

/* Which identities some table slot holds. */
static void referenced(const struct state *s, bool *ref)
{
	unsigned int t;
	uint32_t i;

	memset(ref, 0, sizeof(bool) * MAX_IDS);
	for (t = 0; t < s->nt; t++)
		for (i = 0; s->m[t].reg && i < s->m[t].nr; i++)
			ref[s->m[t].slot[i]] = true;
}

/* Held buffers: readable, and exactly the holders' references once no slot has them. */
static void check_held(const struct state *s)
{
	static bool ref[MAX_IDS];
	unsigned int i, j;

	if (!s->nheld)
		return;
	referenced(s, ref);
	for (i = 0; i < s->nheld; i++) {
		const struct held *h = &s->held[i];
		struct regbuf_buf_info in;
		uint32_t holders = 0;

		FZ_CHECK_EQ(regbuf_buf_info(h->b, &in), 0);
		FZ_CHECK_EQ(in.ubuf, s->ids[h->id].ubuf);
		FZ_CHECK_EQ(in.len, s->ids[h->id].len);
		for (j = 0; j < s->nheld; j++)
			holders += s->held[j].id == h->id;
		if (ref[h->id])
			FZ_CHECK(atomic_load(&h->b->refs) > holders);
		else
			FZ_CHECK_EQ(atomic_load(&h->b->refs), holders);
	}
}

/* ---- operations ----------------------------------------------------------- */

static void op_register(struct fz *f, struct state *s, unsigned int cls, unsigned int ti)
{
	struct mtable *m = &s->m[ti];
	unsigned int flags = fz_chance(f, 96) ? REGBUF_TABLE_F_LAYOUT_4K : 0;
	struct entry e[MAX_ENTRIES];
	uint32_t nr, i, ne;
	int want = 0, ret;

	switch (fz_u8(f) % (cls == C_LARGE ? 6 : 10)) {
	case 0:
		nr = 0;
		break;
	case 1:
		nr = fz_chance(f, 128) ? MAXB : MAXB + 1;
		break;
	case 2:
		nr = (uint32_t)fz_range(f, 1, 200);
		break;
	default:
		nr = (uint32_t)fz_range(f, 1, 8);
		break;
	}
	if (fz_chance(f, 6))
		flags |= 1u << 9;
	ne = nr < MAX_ENTRIES ? nr : MAX_ENTRIES;
	for (i = 0; i < ne; i++) {
		/* In big tables put the entries anywhere, mostly empty slots. */
		gen_entry(f, s, false, &e[i]);
	}
	memset(big_iov, 0, sizeof(big_iov[0]) * (nr <= MAXB ? nr + 1 : MAXB + 1));
	memset(big_shift, 12, nr <= MAXB ? nr + 1 : MAXB + 1);
	{
		uint32_t pos[MAX_ENTRIES];

		for (i = 0; i < ne; i++) {
			pos[i] = nr <= MAX_ENTRIES ? i : (uint32_t)fz_range(f, 0, nr - 1);
			big_iov[pos[i]] = e[i].iov;
			big_shift[pos[i]] = e[i].shift;
		}
		/* The first failing slot in slot order decides (all or nothing). */
		if (flags & ~REGBUF_TABLE_F_LAYOUT_4K)
			want = -EINVAL;
		else if (m->reg)
			want = -EBUSY;
		else if (!nr || nr > MAXB)
			want = -EINVAL;
		else {
			uint32_t best = UINT32_MAX;

			for (i = 0; i < ne; i++) {
				/* A later entry may overwrite an earlier one at the same slot. */
				uint32_t k, last = i;

				for (k = i + 1; k < ne; k++)
					if (pos[k] == pos[i])
						last = k;
				if (last != i)
					continue;
				if (e[i].want < 0 && pos[i] < best) {
					best = pos[i];
					want = e[i].want;
				}
			}
		}
		ret = regbuf_table_register_hinted(s->t[ti], big_iov, big_shift, nr, flags);
		FZ_CHECK_EQ(ret, want);
		if (ret)
			return;
		m->reg = true;
		m->nr = nr;
		memset(m->slot, 0, sizeof(m->slot[0]) * nr);
		for (i = 0; i < ne; i++)
			m->slot[pos[i]] = e[i].want ? 0 : e[i].id;
	}
}

static void op_sparse(struct fz *f, struct state *s, unsigned int ti)
{
	struct mtable *m = &s->m[ti];
	uint32_t nr;
	int want;

	switch (fz_u8(f) % 5) {
	case 0:
		nr = 0;
		break;
	case 1:
		nr = fz_chance(f, 128) ? MAXB : MAXB + 1;
		break;
	default:
		nr = (uint32_t)fz_range(f, 1, 40);
		break;
	}
	want = m->reg ? -EBUSY : (!nr || nr > MAXB) ? -EINVAL : 0;
	FZ_CHECK_EQ(regbuf_table_register_sparse(s->t[ti], nr), want);
	if (want)
		return;
	m->reg = true;
	m->nr = nr;
	memset(m->slot, 0, sizeof(m->slot[0]) * nr);
}

static void op_update(struct fz *f, struct state *s, unsigned int ti)
{
	struct mtable *m = &s->m[ti];
	struct iovec iov[MAX_ENTRIES];
	struct entry e[MAX_ENTRIES];
	uint32_t nr = (uint32_t)fz_range(f, 0, MAX_ENTRIES), off, i, end, done = 0;
	int want = 0, ret;

	switch (fz_u8(f) % 6) {
	case 0:
		off = UINT32_MAX - (uint32_t)fz_range(f, 0, 4);	/* off + nr wraps */
		break;
	case 1:
		off = m->nr > nr ? m->nr - nr : 0;		/* up to the end */
		break;
	default:
		off = (uint32_t)fz_range(f, 0, (m->reg ? m->nr : 0) + 2);
		break;
	}
	for (i = 0; i < nr; i++) {
		gen_entry(f, s, true, &e[i]);
		iov[i] = e[i].iov;
	}
	/* io_register_rsrc_update() / __io_sqe_buffers_update(). */
	if (!nr)
		want = -EINVAL;
	else if (__builtin_add_overflow(off, nr, &end))
		want = -EOVERFLOW;
	else if (!m->reg)
		want = -ENXIO;
	else if (end > m->nr)
		want = -EINVAL;
	else {
		for (done = 0; done < nr && e[done].want >= 0; done++)
			;
		want = done ? (int)done : e[0].want;
	}
	ret = regbuf_table_update(s->t[ti], off, iov, nr);
	FZ_CHECK_EQ(ret, want);
	for (i = 0; ret > 0 && i < done; i++)
		m->slot[off + i] = e[i].want ? 0 : e[i].id;
}

static uint32_t gen_u32_edge(struct fz *f, uint32_t typical_max)
{
	switch (fz_u8(f) % 8) {
	case 0:
	case 1:
	case 2:
		return 0;
	case 3:
		return UINT32_MAX - (uint32_t)fz_range(f, 0, 8);
	case 4:
		return MAXB - (uint32_t)fz_range(f, 0, 8);
	default:
		return (uint32_t)fz_range(f, 0, typical_max);
	}
}

static void op_clone(struct fz *f, struct state *s, unsigned int cls, unsigned int di,
		     unsigned int si)
{
	struct mtable *d = &s->m[di], *sm = &s->m[si];
	unsigned int flags = fz_chance(f, 128) ? REGBUF_TABLE_F_CLONE_REPLACE : 0;
	uint32_t nr, src_off, dst_off, n, src_end = 0, dst_end = 0, new_nr, i, old_nr;
	uint32_t *src_copy;
	int want = 0, ret;

	if (fz_chance(f, 6))
		flags |= 1u << fz_range(f, 1, 31);
	if (fz_chance(f, cls == C_CLONE ? 200 : 144)) {
		nr = (uint32_t)fz_range(f, 0, sm->nr + 1);
		src_off = (uint32_t)fz_range(f, 0, sm->nr);
		dst_off = (uint32_t)fz_range(f, 0, d->nr + 3);
	} else {
		nr = fz_chance(f, 96) ? 0 : gen_u32_edge(f, sm->nr + 2);
		src_off = gen_u32_edge(f, sm->nr + 1);
		dst_off = gen_u32_edge(f, d->nr + 4);
	}
	/* io_register_clone_buffers() + io_clone_buffers(). */
	if (flags & ~REGBUF_TABLE_F_CLONE_REPLACE)
		want = -EINVAL;
	else if (d->reg && !(flags & REGBUF_TABLE_F_CLONE_REPLACE))
		want = -EBUSY;
	else if (!nr && (src_off || dst_off))
		want = -EINVAL;
	else if (!sm->reg)
		want = -ENXIO;
	else if (nr && (nr > sm->nr || nr > MAXB))
		want = -EINVAL;
	else if (__builtin_add_overflow(nr ? nr : sm->nr, src_off, &src_end) || src_end > sm->nr)
		want = -EOVERFLOW;
	else if (__builtin_add_overflow(nr ? nr : sm->nr, dst_off, &dst_end))
		want = -EOVERFLOW;
	else if (dst_end > MAXB)
		want = -EINVAL;
	ret = regbuf_table_clone(s->t[di], s->t[si], dst_off, src_off, nr, flags);
	FZ_CHECK_EQ(ret, want);
	if (ret)
		return;
	n = nr ? nr : sm->nr;
	/* Snapshot the source first: src may be dst. */
	src_copy = malloc(sizeof(*src_copy) * (n ? n : 1));
	FZ_CHECK(src_copy);
	memcpy(src_copy, sm->slot + src_off, sizeof(*src_copy) * n);
	old_nr = d->reg ? d->nr : 0;
	new_nr = dst_end > old_nr ? dst_end : old_nr;
	/* Kept before and after the range; the gap [old end, dst_off) empty. */
	for (i = old_nr; i < new_nr; i++)
		d->slot[i] = 0;
	memcpy(d->slot + dst_off, src_copy, sizeof(*src_copy) * n);
	free(src_copy);
	d->reg = true;
	d->nr = new_nr;
}

static void op_unregister(struct state *s, unsigned int ti)
{
	FZ_CHECK_EQ(regbuf_table_unregister(s->t[ti]), s->m[ti].reg ? 0 : -ENXIO);
	s->m[ti].reg = false;
	s->m[ti].nr = 0;
}

static void op_destroy(struct state *s, unsigned int ti)
{
	regbuf_table_destroy(s->t[ti]);
	FZ_CHECK_EQ(regbuf_table_create(&s->t[ti], 0), 0);
	s->m[ti].reg = false;
	s->m[ti].nr = 0;
}

static void op_hold(struct fz *f, struct state *s, unsigned int ti)
{
	const struct mtable *m = &s->m[ti];
	uint32_t slot = (uint32_t)fz_range(f, 0, m->nr + 1);
	uint32_t id = m->reg && slot < m->nr ? m->slot[slot] : 0;
	struct regbuf_buf *b;

	if (s->nheld == MAX_HELD)
		return;
	FZ_CHECK_EQ(regbuf_table_buf_get(s->t[ti], slot, &b), id ? 0 : -EFAULT);
	if (!id)
		return;
	s->held[s->nheld].id = id;
	s->held[s->nheld].b = b;
	s->nheld++;
}

static void op_put(struct fz *f, struct state *s)
{
	unsigned int i;

	if (!s->nheld)
		return;
	i = fz_u8(f) % s->nheld;
	regbuf_buf_put(s->held[i].b);
	s->held[i] = s->held[--s->nheld];
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct state *s;
	unsigned int cls, op, i;
	struct fz f;

	if (!size)
		return 0;
	if (!arena) {
		arena = mmap(NULL, ARENA_LEN, PROT_READ | PROT_WRITE,
			     MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
		FZ_CHECK(arena != MAP_FAILED);
	}
	cls = data[0] % fz_target.nr_classes;
	fz_init(&f, data + 1, size - 1);
	/*
	 * One model for every input: its slot arrays are only read up to each
	 * table's nr, which every register and clone writes first, so nothing
	 * but the counters needs resetting (a fresh 300 KiB per input was most
	 * of the time under ASan).
	 */
	s = &model;
	s->nids = 0;
	s->nheld = 0;
	s->nt = fz_chance(&f, 128) ? 2 : 3;
	for (i = 0; i < NT; i++) {
		FZ_CHECK_EQ(regbuf_table_create(&s->t[i], 0), 0);
		s->m[i].reg = false;
		s->m[i].nr = 0;
		s->m[i].slot = model_slots[i];
	}
	{
		struct regbuf_table *bad = NULL;

		FZ_CHECK_EQ(regbuf_table_create(&bad, 1), -EINVAL);
		FZ_CHECK(!bad);
	}

	for (op = 0; op < MAX_OPS && !fz_empty(&f); op++) {
		unsigned int ti = fz_u8(&f) % s->nt, kind = fz_u8(&f) % 16;

		switch (kind) {
		case 0:
		case 1:
		case 2:
			op_register(&f, s, cls, ti);
			break;
		case 3:
			op_sparse(&f, s, ti);
			break;
		case 4:
		case 5:
			op_update(&f, s, ti);
			break;
		case 6:
		case 7:
		case 8:
		case 9:
			op_clone(&f, s, cls, ti,
				 fz_chance(&f, 64) ? ti : fz_u8(&f) % s->nt);
			break;
		case 10:
			op_unregister(s, ti);
			break;
		case 11:
			op_destroy(s, ti);
			break;
		case 12:
		case 13:
			op_hold(&f, s, ti);
			break;
		default:
			op_put(&f, s);
			break;
		}
		for (i = 0; i < s->nt; i++)
			check_table(&f, s, i);
		check_held(s);
	}
	/* Tables gone: held buffers keep exactly their holders' references. */
	for (i = 0; i < NT; i++) {
		regbuf_table_destroy(s->t[i]);
		s->m[i].reg = false;
		s->m[i].nr = 0;
	}
	check_held(s);
	for (i = 0; i < s->nheld; i++)
		regbuf_buf_put(s->held[i].b);
	fz_stat_checked++;
	return 0;
}
