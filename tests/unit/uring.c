// SPDX-License-Identifier: MIT
/*
 * unit: the uring layer's pure parts - pointer -> slot lookup over a map of
 * kernel buffers, O_DIRECT alignment checks, memlock arithmetic.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <regbuf/uring.h>

#include "harness.h"

#define KiB (UINT64_C(1) << 10)
#define MiB (UINT64_C(1) << 20)
#define GiB (UINT64_C(1) << 30)

/* A 3 GiB + 4 KiB arena as consecutive 1 GiB kernel buffers, plus an unrelated one. */
static struct regbuf_uring_map *demo_map(void)
{
	struct regbuf_uring_map *m = malloc(sizeof(*m) + 5 * sizeof(m->e[0]));
	uint64_t base = 0x7f0000000000ULL;

	m->nr = 5;
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
