// SPDX-License-Identifier: MIT
/*
 * sys: the I/O buffer sub-allocator over real arenas (include/regbuf/alloc.h).
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <regbuf/alloc.h>
#include <regbuf/mem.h>
#include <regbuf/table.h>

#include "harness.h"

#define KiB (UINT64_C(1) << 10)
#define MiB (UINT64_C(1) << 20)

static struct regbuf_mem *arena(size_t len)
{
	struct regbuf_mem_opts o = { .tier = REGBUF_MEM_TIER_2M };
	struct regbuf_mem *m;

	return regbuf_mem_create(&m, len, &o) ? NULL : m;
}

static int create_rejected(void)
{
	static char buf[8192] __attribute__((aligned(4096)));
	static const struct {
		const char *name;
		void *base;
		size_t len;
		uint32_t first;
		uint64_t slot_len;
		uint32_t align;
		unsigned int flags;
		int err;
	} cases[] = {
		{ "null_base", NULL, 4096, 0, 4096, 512, 0, -EINVAL },
		{ "zero_len", buf, 0, 0, 4096, 512, 0, -EINVAL },
		{ "zero_slot_len", buf, 4096, 0, 0, 512, 0, -EINVAL },
		{ "slot_len_over_1g", buf, 4096, 0, REGBUF_BUF_MAX_LEN + 4096, 512, 0, -EINVAL },
		{ "align_not_pow2", buf, 4096, 0, 4096, 768, 0, -EINVAL },
		{ "align_zero", buf, 4096, 0, 4096, 0, 0, -EINVAL },
		{ "base_misaligned", buf + 512, 4096, 0, 4096, 4096, 0, -EINVAL },
		{ "slot_len_misaligned", buf, 8192, 0, 4096 + 512, 4096, 0, -EINVAL },
		{ "flags", buf, 4096, 0, 4096, 512, 1, -EINVAL },
		{ "slot_overflow", buf, 8192, UINT32_MAX, 4096, 512, 0, -EOVERFLOW },
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct regbuf_alloc *a = NULL;
		int r = regbuf_alloc_create_range(&a, cases[i].base, cases[i].len, cases[i].first,
						   cases[i].slot_len, cases[i].align, cases[i].flags);

		if (r != cases[i].err)
			return T_FAILF("%s: %d, expected %d", cases[i].name, r, cases[i].err);
		if (a)
			return T_FAILF("%s: allocator handed back on failure", cases[i].name);
	}
	/* The last slot number itself may be UINT32_MAX. */
	{
		struct regbuf_alloc *a;

		t_ok(regbuf_alloc_create_range(&a, buf, 4096, UINT32_MAX, 4096, 512, 0));
		regbuf_alloc_destroy(a);
	}
	t_check_eq(regbuf_alloc_create(&(struct regbuf_alloc *){ NULL }, NULL, 0, 4096, 512, 0),
		   -EINVAL);
	t_check_eq(regbuf_alloc_create_range(NULL, buf, 4096, 0, 4096, 512, 0), -EINVAL);
	return T_PASS;
}

static int sizes_classes_alignment(void)
{
	static const struct { size_t len; uint32_t want; uint64_t align; } cases[] = {
		{ 1, 512, 512 }, { 511, 512, 512 }, { 512, 512, 512 }, { 513, 1024, 1024 },
		{ 4095, 4096, 4096 }, { 4096, 4096, 4096 }, { 4097, 8192, 4096 },
		{ 100 * KiB, 128 * KiB, 4096 }, { MiB, MiB, 4096 },
		{ MiB + 1, MiB + 512, 4096 }, { 3 * MiB, 3 * MiB, 4096 },
	};
	struct regbuf_mem *m = arena(16 * MiB);
	struct regbuf_alloc *a;
	struct regbuf_alloc_span b;
	size_t i;
	int r = T_PASS;

	if (!m)
		return t_broken("no arena");
	t_ok(regbuf_alloc_create(&a, m, 7, 16 * MiB, 512, 0));
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]) && !r; i++) {
		uintptr_t p;

		if (regbuf_alloc_acquire(a, cases[i].len, &b)) {
			r = T_FAILF("len %zu: acquire failed", cases[i].len);
			break;
		}
		p = (uintptr_t)b.addr;
		if (b.len != cases[i].want || (p & (cases[i].align - 1)) || b.slot != 7 ||
		    p < (uintptr_t)regbuf_mem_addr(m) ||
		    p + b.len > (uintptr_t)regbuf_mem_addr(m) + regbuf_mem_len(m))
			r = T_FAILF("len %zu: got %p+%u slot %u", cases[i].len, b.addr, b.len, b.slot);
		memset(b.addr, 0xa5, b.len);
		regbuf_alloc_release(a, &b);
	}
	if (!r && regbuf_alloc_acquire(a, 0, &b) != -EINVAL)
		r = T_FAILF("len 0 accepted");
	if (!r && regbuf_alloc_acquire(a, 16 * MiB + 1, &b) != -E2BIG)
		r = T_FAILF("len over a slot accepted");
#if SIZE_MAX > UINT32_MAX	/* a 32-bit size_t cannot say it */
	if (!r && regbuf_alloc_acquire(a, (size_t)UINT32_MAX + 1, &b) != -E2BIG)
		r = T_FAILF("len over u32 accepted");
#endif
	regbuf_alloc_destroy(a);
	regbuf_mem_destroy(m);
	return r;
}

/* 4 MiB of 4 KiB buffers is exactly 1024, then -ENOMEM; one back, one out. */
static int exhaustion_enomem_and_reuse(void)
{
	struct regbuf_mem *m = arena(4 * MiB);
	struct regbuf_alloc_span *bufs, b;
	struct regbuf_alloc_stats st;
	struct regbuf_alloc *a;
	uint32_t n = 0, i;
	int r;

	if (!m)
		return t_broken("no arena");
	bufs = calloc(2048, sizeof(*bufs));
	t_ok(regbuf_alloc_create(&a, m, 0, 4 * MiB, 4096, 0));
	while (n < 2048 && !(r = regbuf_alloc_acquire(a, 4096, &bufs[n])))
		n++;
	t_check_eq(r, -ENOMEM);
	t_check_eq(n, 1024);
	regbuf_alloc_stats(a, &st);
	t_check_eq(st.in_use, 1024);
	t_check_eq(st.in_use_bytes, 4 * MiB);
	t_check_eq(st.free_bytes, 0);
	/* Other classes are out of memory too. */
	t_check_eq(regbuf_alloc_acquire(a, 64 * KiB, &b), -ENOMEM);
	t_check_eq(regbuf_alloc_acquire(a, 2 * MiB, &b), -ENOMEM);
	regbuf_alloc_release(a, &bufs[500]);
	t_ok(regbuf_alloc_acquire(a, 4096, &b));
	t_check(b.addr == bufs[500].addr);
	bufs[500] = b;
	/* Everything back, then the whole arena again as one buffer. */
	for (i = 0; i < n; i++)
		regbuf_alloc_release(a, &bufs[i]);
	regbuf_alloc_flush(a);
	regbuf_alloc_stats(a, &st);
	t_check_eq(st.in_use, 0);
	t_ok(regbuf_alloc_acquire(a, 4 * MiB, &b));
	t_check(b.addr == regbuf_mem_addr(m));
	regbuf_alloc_release(a, &b);
	regbuf_alloc_destroy(a);
	regbuf_mem_destroy(m);
	free(bufs);
	return T_PASS;
}

static int cmp_buf(const void *x, const void *y)
{
	const struct regbuf_alloc_span *p = x, *q = y;

	return (uintptr_t)p->addr < (uintptr_t)q->addr ? -1 : (uintptr_t)p->addr > (uintptr_t)q->addr;
}

/*
 * Slots of an awkward length (not a power of two): random sizes until the
 * arena is full; no buffer crosses a slot, slot numbers follow the formula,
 * buffers do not overlap; after releasing all of them, the arena coalesces.
 */
static int never_straddles_slot_no_overlap(void)
{
	const uint64_t slot_len = 3 * MiB - 5 * 4096;
	struct regbuf_mem *m = arena(16 * MiB);
	struct regbuf_alloc *a;
	struct regbuf_alloc_span *bufs, b;
	uintptr_t base;
	uint32_t n = 0, i, fails = 0;

	if (!m)
		return t_broken("no arena");
	base = (uintptr_t)regbuf_mem_addr(m);
	bufs = calloc(20000, sizeof(*bufs));
	t_ok(regbuf_alloc_create(&a, m, 100, slot_len, 4096, 0));
	while (n < 20000 && fails < 200) {
		size_t len = (t_rand() % 4) ? 1 + t_rand() % (256 * KiB) : 1 + t_rand() % (2 * MiB);

		if (regbuf_alloc_acquire(a, len, &bufs[n])) {
			fails++;
			continue;
		}
		n++;
	}
	t_check(fails >= 200);	/* the arena was filled */
	for (i = 0; i < n; i++) {
		uintptr_t p = (uintptr_t)bufs[i].addr - base;

		if (p / slot_len != (p + bufs[i].len - 1) / slot_len)
			return T_FAILF("buffer %u at +%#lx len %u straddles a slot", i,
				       (unsigned long)p, bufs[i].len);
		if (bufs[i].slot != 100 + p / slot_len)
			return T_FAILF("buffer %u: slot %u", i, bufs[i].slot);
		if ((p & 4095) && bufs[i].len >= 4096)
			return T_FAILF("buffer %u not 4K-aligned", i);
	}
	qsort(bufs, n, sizeof(*bufs), cmp_buf);
	for (i = 1; i < n; i++)
		if ((uintptr_t)bufs[i - 1].addr + bufs[i - 1].len > (uintptr_t)bufs[i].addr)
			return T_FAILF("buffers %u and %u overlap", i - 1, i);
	for (i = 0; i < n; i++)
		regbuf_alloc_release(a, &bufs[i]);
	regbuf_alloc_flush(a);
	/* Each full slot (100..104) can be had again as one buffer. */
	{
		uint32_t seen = 0;

		for (i = 0; i < 5; i++) {
			if (regbuf_alloc_acquire(a, slot_len, &b))
				return T_FAILF("buffer %u of a whole slot: not coalesced", i);
			t_check(b.slot >= 100 && b.slot < 105);
			seen |= 1u << (b.slot - 100);
		}
		t_check_eq(seen, 0x1f);
		t_check_eq(regbuf_alloc_acquire(a, slot_len, &b), -ENOMEM);
	}
	regbuf_alloc_destroy(a);
	regbuf_mem_destroy(m);
	free(bufs);
	return T_PASS;
}

/* LIFO reuse: the buffer just released comes back first (cache-warm). */
static int release_then_reuse(void)
{
	struct regbuf_mem *m = arena(4 * MiB);
	struct regbuf_alloc *a;
	struct regbuf_alloc_span b1, b2;

	if (!m)
		return t_broken("no arena");
	t_ok(regbuf_alloc_create(&a, m, 0, MiB, 4096, 0));
	t_ok(regbuf_alloc_acquire(a, 16 * KiB, &b1));
	regbuf_alloc_release(a, &b1);
	t_ok(regbuf_alloc_acquire(a, 16 * KiB, &b2));
	t_check(b1.addr == b2.addr);
	regbuf_alloc_release(a, &b2);
	/* Slot numbers with 1 MiB slots. */
	t_ok(regbuf_alloc_acquire(a, MiB, &b1));
	t_check_eq((uint64_t)((uintptr_t)b1.addr - (uintptr_t)regbuf_mem_addr(m)) / MiB, b1.slot);
	/* A foreign buffer is ignored, not freed into the arena. */
	b2.addr = &b2;
	b2.len = 4096;
	regbuf_alloc_release(a, &b2);
	regbuf_alloc_release(a, &b1);
	regbuf_alloc_destroy(a);
	regbuf_mem_destroy(m);
	return T_PASS;
}

/* ---- multi-threaded stress with pattern checks ---- */

#define NTHREADS 4
#define LIVE 24

struct live {
	struct regbuf_alloc_span b;
	uint64_t salt;
};

static struct {
	struct regbuf_alloc *a;
	pthread_mutex_t lock;		/* hand-off stack: released by another thread */
	struct live handoff[256];
	unsigned int nh;
	unsigned long ops, enomem;
	int failed;
	char why[200];
} st;

static void stress_fail(const char *why)
{
	pthread_mutex_lock(&st.lock);
	if (!st.failed) {
		__atomic_store_n(&st.failed, 1, __ATOMIC_RELAXED);
		strncpy(st.why, why, sizeof(st.why) - 1);
	}
	pthread_mutex_unlock(&st.lock);
}

static bool check_release(struct live *l)
{
	if (t_pattern_check(l->b.addr, l->b.len, 0, l->salt) >= 0) {
		stress_fail("pattern changed under a live buffer (overlap)");
		return false;
	}
	regbuf_alloc_release(st.a, &l->b);
	return true;
}

static void *stress_thread(void *arg)
{
	uint64_t rng = 0x9e3779b97f4a7c15ull * ((uintptr_t)arg + 1), salt = (uint64_t)(uintptr_t)arg << 40;
	struct live live[LIVE];
	unsigned int nl = 0, i;
	unsigned long ops = 0, enomem = 0;

	for (i = 0; i < 6000 && !__atomic_load_n(&st.failed, __ATOMIC_RELAXED); i++) {
		uint64_t r;
		size_t len;

		rng ^= rng << 13;
		rng ^= rng >> 7;
		rng ^= rng << 17;
		r = rng;
		len = (r & 7) == 0 ? 1 + (r >> 8) % (3 * MiB) : 1 + (r >> 8) % (64 * KiB);
		if (nl == LIVE || (nl && (r & 0x30) == 0)) {
			unsigned int k = (unsigned int)((r >> 40) % nl);
			struct live l = live[k];

			live[k] = live[--nl];
			/* Every fourth release goes through another thread. */
			if ((r & 0xc0) == 0) {
				pthread_mutex_lock(&st.lock);
				if (st.nh < 256) {
					st.handoff[st.nh++] = l;
					l.b.addr = NULL;
				}
				pthread_mutex_unlock(&st.lock);
			}
			if (l.b.addr && !check_release(&l))
				break;
			continue;
		}
		if (regbuf_alloc_acquire(st.a, len, &live[nl].b)) {
			enomem++;
			/* Drain the hand-off stack: frees memory other threads left. */
			for (;;) {
				struct live l;

				pthread_mutex_lock(&st.lock);
				if (!st.nh) {
					pthread_mutex_unlock(&st.lock);
					break;
				}
				l = st.handoff[--st.nh];
				pthread_mutex_unlock(&st.lock);
				if (!check_release(&l))
					break;
			}
			continue;
		}
		if (live[nl].b.len < len) {
			stress_fail("short buffer");
			break;
		}
		live[nl].salt = salt + i;
		t_pattern_fill(live[nl].b.addr, live[nl].b.len, 0, live[nl].salt);
		nl++;
		ops++;
	}
	while (nl)
		check_release(&live[--nl]);
	pthread_mutex_lock(&st.lock);
	st.ops += ops;
	st.enomem += enomem;
	pthread_mutex_unlock(&st.lock);
	return NULL;
}

static int mt_stress_four_threads(void)
{
	struct regbuf_mem *m = arena(48 * MiB);
	struct regbuf_alloc_stats s;
	pthread_t th[NTHREADS];
	uintptr_t i;

	if (!m)
		return t_broken("no arena");
	memset(&st, 0, sizeof(st));
	pthread_mutex_init(&st.lock, NULL);
	t_ok(regbuf_alloc_create(&st.a, m, 0, 16 * MiB, 4096, 0));
	for (i = 0; i < NTHREADS; i++)
		if (pthread_create(&th[i], NULL, stress_thread, (void *)i))
			return t_broken("pthread_create");
	for (i = 0; i < NTHREADS; i++)
		pthread_join(th[i], NULL);
	while (st.nh)
		check_release(&st.handoff[--st.nh]);
	if (st.failed)
		return T_FAILF("%s", st.why);
	regbuf_alloc_stats(st.a, &s);
	t_check_eq(s.in_use, 0);
	t_check_eq(s.in_use_bytes, 0);
	t_check(st.ops > 10000);
	/* The threads exited: their magazines were flushed, the arena coalesces. */
	regbuf_alloc_flush(st.a);
	{
		struct regbuf_alloc_span b;

		for (i = 0; i < 3; i++)
			t_ok(regbuf_alloc_acquire(st.a, 16 * MiB, &b));
	}
	regbuf_alloc_destroy(st.a);
	regbuf_mem_destroy(m);
	pthread_mutex_destroy(&st.lock);
	return T_PASS;
}

static const struct t_case cases[] = {
	T_CASE(create_rejected),
	T_CASE(sizes_classes_alignment),
	T_CASE(exhaustion_enomem_and_reuse),
	T_CASE(never_straddles_slot_no_overlap),
	T_CASE(release_then_reuse),
	T_CASE(mt_stress_four_threads),
};

int main(int argc, char **argv)
{
	return t_main("sys/alloc", cases, sizeof(cases) / sizeof(cases[0]), argc, argv);
}
