// SPDX-License-Identifier: MIT
/*
 * unit: the uring layer's pure parts - pointer -> slot lookup over a map of
 * kernel buffers (and the map rewritten under readers), user_data pieces,
 * O_DIRECT alignment checks, memlock arithmetic.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include <regbuf/uring.h>

#include "harness.h"
#include "uring/pool.h"

#define KiB (UINT64_C(1) << 10)
#define MiB (UINT64_C(1) << 20)
#define GiB (UINT64_C(1) << 30)

/* A 3 GiB + 4 KiB arena as consecutive 1 GiB kernel buffers, plus an unrelated one. */
static struct regbuf_uring_map *demo_map(void)
{
	struct regbuf_uring_map *m = calloc(1, sizeof(*m) + 5 * sizeof(m->e[0]));
	uint64_t base = 0x7f0000000000ULL;

	m->nr = 5;
	m->cap = 5;
	m->e[0] = (struct regbuf_uring_slotref){ 0x10000, 8 * KiB, 7 };
	m->e[1] = (struct regbuf_uring_slotref){ base, GiB, 0 };
	m->e[2] = (struct regbuf_uring_slotref){ base + GiB, GiB, 1 };
	m->e[3] = (struct regbuf_uring_slotref){ base + 2 * GiB, GiB, 2 };
	m->e[4] = (struct regbuf_uring_slotref){ base + 3 * GiB, 4 * KiB, 3 };
	return m;
}

static int find_table(void)
{
	static const struct {
		const char *name;
		uint64_t addr, len;
		int64_t ret;
		uint32_t slot;
	} c[] = {
		{ "before everything", 0x1000, 16, -EFAULT, 0 },
		{ "small buffer, whole", 0x10000, 8 * KiB, 8 * KiB, 7 },
		{ "small buffer, one past the end", 0x10000 + 8 * KiB, 1, -EFAULT, 0 },
		{ "gap between buffers", 0x20000, 1, -EFAULT, 0 },
		{ "arena start", 0x7f0000000000ULL, 4096, 4096, 0 },
		{ "crossing 1 GiB: first piece", 0x7f0000000000ULL + GiB - 512, 4096, 512, 0 },
		{ "exactly at 1 GiB", 0x7f0000000000ULL + GiB, 4096, 4096, 1 },
		{ "last byte of slot 2", 0x7f0000000000ULL + 3 * GiB - 1, 2, 1, 2 },
		{ "tail buffer", 0x7f0000000000ULL + 3 * GiB, 8192, 4096, 3 },
		{ "past the arena", 0x7f0000000000ULL + 3 * GiB + 4096, 1, -EFAULT, 0 },
		{ "zero length inside", 0x7f0000000000ULL + 5, 0, 0, 0 },
	};
	struct regbuf_uring_ring r;
	uint32_t slot;
	size_t i;

	memset(&r, 0, sizeof(r));
	t_check_eq(regbuf_uring_find(&r, 0x10000, 1, &slot), -EFAULT);	/* no map */
	r.map = demo_map();
	for (i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		int64_t ret;

		slot = 12345;
		ret = regbuf_uring_find(&r, c[i].addr, c[i].len, &slot);
		if (ret != c[i].ret || (ret >= 0 && slot != c[i].slot)) {
			free(r.map);
			return T_FAILF("%s: ret %lld slot %u, expected %lld slot %u", c[i].name,
				       (long long)ret, slot, (long long)c[i].ret, c[i].slot);
		}
	}
	free(r.map);
	return T_PASS;
}

/*
 * The ring's lookup cache serves only while the map is the one it was filled
 * from: the same answers as regbuf_uring_lookup() before and after the map
 * is rewritten (an address moved to another slot, a slot emptied), and
 * nothing cached from a lookup that failed.
 */
static int lookup_cache_follows_the_map(void)
{
	uint64_t base = 0x7f0000000000ULL;
	struct regbuf_uring_loc loc, want;
	struct regbuf_uring_ring r;
	void *p = (void *)(uintptr_t)(base + GiB + 4096);

	memset(&r, 0, sizeof(r));
	t_check_eq(__regbuf_uring_lookup_cached(&r, p, 4096, &loc), -EFAULT);	/* no map */
	r.map = demo_map();
	t_check_eq(__regbuf_uring_lookup_cached(&r, (void *)0x1000, 16, &loc), -EFAULT);
	t_check_eq(r.cache.len, 0);
	/* A miss fills the cache; the same slot again is answered from it, alike. */
	t_check_eq(__regbuf_uring_lookup_cached(&r, p, 4096, &loc), 0);
	t_check(loc.slot == 1 && loc.offset == 4096 && loc.len == 4096 && loc.slot_len == GiB);
	t_check(r.cache.slot == 1 && r.cache.base == base + GiB && r.cache.len == GiB);
	t_check_eq(__regbuf_uring_lookup_cached(&r, (void *)(uintptr_t)(base + 2 * GiB - 8), 64,
						&loc), 0);
	t_ok(regbuf_uring_lookup(&r, (void *)(uintptr_t)(base + 2 * GiB - 8), 64, &want));
	t_check(loc.slot == want.slot && loc.offset == want.offset && loc.len == want.len &&
		loc.len == 8 && loc.slot_len == want.slot_len);
	/* Another slot: looked up (not the cached one) and cached instead. */
	t_check_eq(__regbuf_uring_lookup_cached(&r, (void *)(uintptr_t)(base + 5), 1, &loc), 0);
	t_check(loc.slot == 0 && r.cache.slot == 0);
	t_check_eq(__regbuf_uring_lookup_cached(&r, p, 4096, &loc), 0);
	t_check_eq(loc.slot, 1);
	/* The map rewritten as a pool does (odd count, entries, even count): slot 1's memory is slot 9 now. */
	r.map->seq++;
	r.map->e[2].slot = 9;
	r.map->seq++;
	t_check_eq(__regbuf_uring_lookup_cached(&r, p, 4096, &loc), 0);
	t_check(loc.slot == 9 && r.cache.slot == 9 && r.cache_seq == r.map->seq);
	/* Emptied: the cached entry is not used once the count moved. */
	r.map->seq++;
	r.map->e[2].len = 0;
	r.map->seq++;
	t_check_eq(__regbuf_uring_lookup_cached(&r, p, 4096, &loc), -EFAULT);
	free(r.map);
	return T_PASS;
}

/* regbuf_uring_lookup(): slot, offset inside it, bytes in it, the slot's length. */
static int lookup_offsets(void)
{
	uint64_t base = 0x7f0000000000ULL;
	struct regbuf_uring_loc loc;
	struct regbuf_uring_ring r;

	memset(&r, 0, sizeof(r));
	t_check_eq(regbuf_uring_lookup(&r, (void *)0x10000, 1, &loc), -EFAULT);
	r.map = demo_map();
	/* First and last byte of a slot, and the byte after it (the next slot). */
	t_check_eq(regbuf_uring_lookup(&r, (void *)(uintptr_t)(base + GiB), 4096, &loc), 0);
	t_check(loc.slot == 1 && loc.offset == 0 && loc.len == 4096 && loc.slot_len == GiB);
	t_check_eq(regbuf_uring_lookup(&r, (void *)(uintptr_t)(base + 2 * GiB - 1), 8, &loc), 0);
	t_check(loc.slot == 1 && loc.offset == GiB - 1 && loc.len == 1);
	t_check_eq(regbuf_uring_lookup(&r, (void *)(uintptr_t)(base + 2 * GiB), 8, &loc), 0);
	t_check(loc.slot == 2 && loc.offset == 0 && loc.len == 8);
	/* Length 0 looks up the address alone; one byte past the end is not registered. */
	t_check_eq(regbuf_uring_lookup(&r, (void *)(uintptr_t)(0x10000 + 8 * KiB - 1), 0, &loc), 0);
	t_check(loc.slot == 7 && loc.offset == 8 * KiB - 1 && loc.len == 0);
	t_check_eq(regbuf_uring_lookup(&r, (void *)(uintptr_t)(0x10000 + 8 * KiB), 0, &loc),
		   -EFAULT);
	t_check_eq(regbuf_uring_lookup(&r, (void *)(uintptr_t)(base + 3 * GiB + 4096), 0, &loc),
		   -EFAULT);
	free(r.map);
	return T_PASS;
}

/* A CQE's user_data taken apart: the caller's bits, the piece index, the tag bit. */
static int cqe_pieces(void)
{
	struct io_uring_cqe cqe;

	memset(&cqe, 0, sizeof(cqe));
	cqe.user_data = REGBUF_URING_USER_DATA_MASK;
	t_check_eq(regbuf_uring_cqe_piece(&cqe), 0);
	t_check_eq(regbuf_uring_cqe_user_data(&cqe), REGBUF_URING_USER_DATA_MASK);
	cqe.user_data = 0x7f1234560000ULL | (UINT64_C(3) << REGBUF_URING_PIECE_SHIFT);
	t_check_eq(regbuf_uring_cqe_piece(&cqe), 3);
	t_check_eq(regbuf_uring_cqe_user_data(&cqe), 0x7f1234560000ULL);
	t_check(!regbuf_uring_cqe_is_tag(&cqe));
	cqe.user_data = 42 | ((uint64_t)(REGBUF_URING_MAX_PIECES - 1) << REGBUF_URING_PIECE_SHIFT);
	t_check_eq(regbuf_uring_cqe_piece(&cqe), REGBUF_URING_MAX_PIECES - 1);
	t_check(!regbuf_uring_cqe_is_tag(&cqe));
	t_check_eq(REGBUF_URING_PIECE_SHIFT + 15, 63);	/* the pieces end below the tag bit */
	return T_PASS;
}

/*
 * The map rewritten while other threads read it: two layouts of the same
 * 1 MiB (16 slots of 64 KiB numbered 0..15, 8 of 128 KiB numbered
 * 100..107) published in turn; every lookup must see one layout whole (a
 * slot, its base and its length from the same layout), never a mix and
 * never a miss.  Run under ThreadSanitizer too (scripts/test).
 */
#define SEQ_BASE	0x7e0000000000ULL
#define SEQ_READERS	2

struct seq_env {
	struct regbuf_uring_ring *ring;
	volatile int stop;
	uint64_t lookups, bad;
};

static void *seq_reader(void *arg)
{
	struct seq_env *e = arg;
	struct regbuf_uring_loc loc;
	uint64_t x = (uint64_t)(uintptr_t)&loc, a, n = 0, bad = 0, base, len;

	while (!__atomic_load_n(&e->stop, __ATOMIC_RELAXED)) {
		x = x * 6364136223846793005ULL + 1442695040888963407ULL;
		a = SEQ_BASE + (x >> 33) % MiB;
		if (!(n++ & 1023))	/* progress the writer waits for */
			__atomic_fetch_add(&e->lookups, 1, __ATOMIC_RELAXED);
		if (regbuf_uring_lookup(e->ring, (void *)(uintptr_t)a, 1, &loc)) {
			bad++;
			continue;
		}
		len = loc.slot < 16 ? 64 * KiB : 128 * KiB;
		base = SEQ_BASE + (loc.slot < 16 ? loc.slot : loc.slot - 100) * len;
		if (loc.slot_len != len || a - loc.offset != base || loc.len != 1)
			bad++;
	}
	__atomic_fetch_add(&e->lookups, n - (n + 1023) / 1024, __ATOMIC_RELAXED);
	__atomic_fetch_add(&e->bad, bad, __ATOMIC_RELAXED);
	return NULL;
}

static void seq_layout(struct regbuf_uring_pool *pool, bool wide)
{
	uint32_t i;

	memset(pool->slots, 0, 108 * sizeof(*pool->slots));
	for (i = 0; i < (wide ? 8u : 16u); i++)
		pool->slots[wide ? 100 + i : i] = (struct iovec){
			(void *)(uintptr_t)(SEQ_BASE + i * (wide ? 128 : 64) * KiB),
			(wide ? 128 : 64) * KiB };
}

static int map_rewritten_under_readers(void)
{
	struct regbuf_uring_pool pool;
	struct regbuf_uring_ring ring;
	struct seq_env e = { &ring, 0, 0, 0 };
	pthread_t th[SEQ_READERS];
	struct timespec t0, t;
	uint64_t rewrites = 0;
	int i, ret = T_PASS;

	memset(&pool, 0, sizeof(pool));
	memset(&ring, 0, sizeof(ring));
	t_check_eq(map_init(&pool), 0);
	pool.slots = calloc(108, sizeof(*pool.slots));
	t_check(pool.slots != NULL);
	pool.nr_slots = 108;
	pool.rings = &ring;
	pool.nr_rings = 1;
	ring.map = pool.map;
	ring.pool = &pool;
	seq_layout(&pool, false);
	map_publish(&pool, true);
	for (i = 0; i < SEQ_READERS; i++)
		t_check_eq(pthread_create(&th[i], NULL, seq_reader, &e), 0);
	/* Until both readers and the writer really ran, at least 0.2 s (valgrind serializes). */
	clock_gettime(CLOCK_MONOTONIC, &t0);
	do {
		seq_layout(&pool, rewrites & 1);
		map_publish(&pool, true);
		rewrites++;
		clock_gettime(CLOCK_MONOTONIC, &t);
	} while ((t.tv_sec - t0.tv_sec) * 1000000000LL + (t.tv_nsec - t0.tv_nsec) < 200000000LL ||
		 (__atomic_load_n(&e.lookups, __ATOMIC_RELAXED) == 0 && t.tv_sec - t0.tv_sec < 20));
	__atomic_store_n(&e.stop, 1, __ATOMIC_RELAXED);
	for (i = 0; i < SEQ_READERS; i++)
		pthread_join(th[i], NULL);
	if (e.bad)
		ret = T_FAILF("%llu of %llu lookups saw a mixed or missing layout (%llu rewrites)",
			      (unsigned long long)e.bad, (unsigned long long)e.lookups,
			      (unsigned long long)rewrites);
	else if (!e.lookups || rewrites < 2)
		ret = T_FAILF("readers did %llu lookups over %llu rewrites",
			      (unsigned long long)e.lookups, (unsigned long long)rewrites);
	free(pool.slots);
	map_free(&pool);
	return ret;
}

static int align_table(void)
{
	struct regbuf_uring_file dio = { .fd = 3, .mem_align = 512, .off_align = 4096 },
				 buffered = { .fd = 3, .mem_align = 1, .off_align = 1 };

	t_check_eq(regbuf_uring_check_align(&dio, 0x1000, 4096, 8192), 0);
	t_check_eq(regbuf_uring_check_align(&dio, 0x1200, 4096, 8192), 0);	/* mem 512 */
	t_check_eq(regbuf_uring_check_align(&dio, 0x1100, 4096, 8192), -EINVAL);
	t_check_eq(regbuf_uring_check_align(&dio, 0x1000, 512, 0), -EINVAL);	/* len < 4096 */
	t_check_eq(regbuf_uring_check_align(&dio, 0x1000, 4096, 512), -EINVAL);
	t_check_eq(regbuf_uring_check_align(&buffered, 0x1001, 3, 7), 0);
	return T_PASS;
}

static int memlock_fits_boundaries(void)
{
	struct regbuf_uring_memlock ml = { .needed = MiB - 8 * KiB, .pinned = 4 * KiB,
					   .rings = 4 * KiB, .soft = MiB, .hard = 2 * MiB,
					   .charges = 1, .charged = true };

	t_check(regbuf_uring_memlock_fits(&ml));		/* exactly at the limit */
	ml.needed += 4 * KiB;
	t_check(!regbuf_uring_memlock_fits(&ml));		/* one page over */
	ml.soft = UINT64_MAX;
	t_check(regbuf_uring_memlock_fits(&ml));		/* unlimited */
	ml.soft = 0;
	ml.charged = false;
	t_check(regbuf_uring_memlock_fits(&ml));		/* CAP_IPC_LOCK */
	/* A limit that is not a page multiple is rounded down, as rlimit >> PAGE_SHIFT. */
	ml = (struct regbuf_uring_memlock){ .needed = 4 * KiB, .soft = 4 * KiB + 100,
					    .hard = 8 * KiB, .charges = 1, .charged = true };
	t_check(regbuf_uring_memlock_fits(&ml));
	ml.needed = 8 * KiB;
	t_check(!regbuf_uring_memlock_fits(&ml));
	return T_PASS;
}

/* Ring creation refused: the same numbers and fix as a registration. */
static int memlock_explain_ring_creation(void)
{
	struct regbuf_uring_memlock ml = { .needed = 512 * KiB, .pinned = 4 * MiB,
					   .soft = 4 * MiB, .hard = 8 * MiB, .charges = 64,
					   .charged = true, .new_rings = 64 };
	char buf[1024];

	t_check(!regbuf_uring_memlock_fits(&ml));
	regbuf_uring_memlock_explain(&ml, buf, sizeof(buf));
	t_check(strstr(buf, "creating 64 rings needs 524288 bytes") != NULL);
	t_check(strstr(buf, "6.14") != NULL);
	t_check(strstr(buf, "4194304 bytes (4.0 MiB) already pinned") != NULL);
	t_check(strstr(buf, "soft 4194304 bytes") != NULL);
	t_check(strstr(buf, "ulimit -l 4608") != NULL);
	t_check(strstr(buf, "no kernel clone") == NULL);
	return T_PASS;
}

static int memlock_explain_names_numbers_and_fix(void)
{
	struct regbuf_uring_memlock ml = { .needed = 4 * MiB, .pinned = 0, .rings = 8 * KiB,
					   .soft = 2 * MiB, .hard = 8 * MiB, .charges = 4,
					   .charged = true, .huge = true };
	char buf[1024];

	regbuf_uring_memlock_explain(&ml, buf, sizeof(buf));
	t_check(strstr(buf, "4194304 bytes") != NULL);
	t_check(strstr(buf, "soft 2097152 bytes") != NULL);
	t_check(strstr(buf, "hard 8388608 bytes") != NULL);
	t_check(strstr(buf, "4 rings charged") != NULL);
	t_check(strstr(buf, "huge pages are charged whole") != NULL);
	t_check(strstr(buf, "ulimit -l 4104") != NULL);
	t_check(strstr(buf, "limits.conf") != NULL);
	t_check(strstr(buf, "LimitMEMLOCK=4202496") != NULL);
	return T_PASS;
}

/* Small pages: one per page touched, the containing pages of an unaligned buffer. */
static int memlock_estimate_small_pages(void)
{
	uint8_t *p = mmap(NULL, 4 * MiB, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	struct regbuf_uring_memlock ml;
	struct iovec iov[3];

	t_check(p != MAP_FAILED);
	madvise(p, 4 * MiB, MADV_NOHUGEPAGE);
	iov[0] = (struct iovec){ p, MiB };
	t_ok(regbuf_uring_memlock_estimate(&ml, iov, 1, 1));
	t_check_eq(ml.needed, MiB);
	t_check(!ml.huge);
	iov[0] = (struct iovec){ p + 100, MiB };
	t_ok(regbuf_uring_memlock_estimate(&ml, iov, 1, 1));
	t_check_eq(ml.needed, MiB + 4 * KiB);
	/* Empty slots are free; the same small page in two buffers is charged twice. */
	iov[0] = (struct iovec){ p, 8 * KiB };
	iov[1] = (struct iovec){ NULL, 0 };
	iov[2] = (struct iovec){ p + 4 * KiB, 8 * KiB };
	t_ok(regbuf_uring_memlock_estimate(&ml, iov, 3, 3));
	t_check_eq(ml.needed, 3 * 16 * KiB);
	t_check_eq(ml.charges, 3);
	munmap(p, 4 * MiB);
	return T_PASS;
}

/* The tag test is pure; counting is a separate, named call. */
static int tag_test_is_pure(void)
{
	struct regbuf_uring_ring r;
	struct io_uring_cqe tag, io;

	memset(&r, 0, sizeof(r));
	memset(&tag, 0, sizeof(tag));
	memset(&io, 0, sizeof(io));
	tag.user_data = REGBUF_URING_TAG_BIT | (UINT64_C(7) << 16) | 42;
	io.user_data = 42;
	t_check(regbuf_uring_cqe_is_tag(&tag));
	t_check(!regbuf_uring_cqe_is_tag(&io));
	t_check(regbuf_uring_cqe_is_tag(&tag));
	t_check_eq(regbuf_uring_tags_seen(&r), 0);
	t_check_eq(regbuf_uring_tag_slot(&tag), 42);
	regbuf_uring_ring_count_tag(&r, &tag);
	t_check_eq(regbuf_uring_tags_seen(&r), 1);
	t_check_eq(r.last_tag, tag.user_data);
	return T_PASS;
}

static const struct t_case cases[] = {
	T_CASE(find_table),
	T_CASE(lookup_offsets),
	T_CASE(lookup_cache_follows_the_map),
	T_CASE(cqe_pieces),
	T_CASE(map_rewritten_under_readers),
	T_CASE(memlock_explain_ring_creation),
	T_CASE(tag_test_is_pure),
	T_CASE(align_table),
	T_CASE(memlock_fits_boundaries),
	T_CASE(memlock_explain_names_numbers_and_fix),
	T_CASE(memlock_estimate_small_pages),
};

int main(int argc, char **argv)
{
	return t_main("uring", cases, sizeof(cases) / sizeof(cases[0]), argc, argv);
}
