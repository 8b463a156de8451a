// SPDX-License-Identifier: MIT
/*
 * unit: arena option validation and length math (include/regbuf/mem.h).
 * Only 4K arenas of a few pages are mapped here; the tiers are in sys/mem.c.
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include <regbuf/mem.h>

#include "harness.h"
#include "mem/mem.h"

static int opts_rejected(void)
{
	static const struct {
		const char *name;
		size_t len;
		struct regbuf_mem_opts o;
	} cases[] = {
		{ "len_zero", 0, { 0 } },
		{ "unknown_flag", 4096, { .flags = 1u << 20 } },
		{ "tier_out_of_range", 4096, { .tier = REGBUF_MEM_TIER_NR } },
		{ "reserved_nonzero", 4096, { .__reserved = { 0, 0, 0, 0, 1 } } },
		{ "numa_negative", 4096, { .flags = REGBUF_MEM_F_NUMA, .numa_node = -1 } },
		{ "numa_too_big", 4096, { .flags = REGBUF_MEM_F_NUMA, .numa_node = 4096 } },
		{ "numa_offline", 4096, { .flags = REGBUF_MEM_F_NUMA, .numa_node = 1000 } },
	};
	size_t i;

	t_check_eq(regbuf_mem_create(NULL, 4096, NULL), -EINVAL);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct regbuf_mem *m = NULL;
		int r = regbuf_mem_create(&m, cases[i].len, &cases[i].o);

		if (r != -EINVAL)
			return T_FAILF("%s: returned %d, expected -EINVAL", cases[i].name, r);
		if (m)
			return T_FAILF("%s: arena returned on failure", cases[i].name);
	}
	return T_PASS;
}

/* The length is rounded up to the page size of the tier; all of it usable. */
static int len_rounding_4k(void)
{
	static const struct { size_t len, want; } cases[] = {
		{ 1, 4096 }, { 4096, 4096 }, { 4097, 8192 }, { (1 << 20) + 1, (1 << 20) + 4096 },
	};
	struct regbuf_mem_opts o = { .flags = REGBUF_MEM_F_REQUIRE, .tier = REGBUF_MEM_TIER_4K };
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct regbuf_mem *m;
		char *p;

		t_ok(regbuf_mem_create(&m, cases[i].len, &o));
		t_check_eq(regbuf_mem_len(m), cases[i].want);
		t_check_eq(regbuf_mem_tier(m), REGBUF_MEM_TIER_4K);
		t_check_eq(regbuf_mem_folio_shift(m), 12);
		p = regbuf_mem_addr(m);
		t_check(((uintptr_t)p & 4095) == 0);
		p[cases[i].want - 1] = 1;	/* the rounded tail is usable */
		regbuf_mem_destroy(m);
	}
	return T_PASS;
}

/* A small arena skips the huge tiers (-ERANGE) instead of wasting a huge page. */
static int small_arena_skips_huge_tiers(void)
{
	struct regbuf_mem *m;
	const char *why;
	int t;

	t_ok(regbuf_mem_create(&m, 64 << 10, NULL));
	t_check_eq(regbuf_mem_tier(m), REGBUF_MEM_TIER_4K);
	for (t = REGBUF_MEM_TIER_1G; t <= REGBUF_MEM_TIER_THP; t++) {
		int st = regbuf_mem_tier_status(m, (enum regbuf_mem_tier)t, &why);

		/* THP may be refused first for being disabled. */
		if (st != -ERANGE && !(t == REGBUF_MEM_TIER_THP && st == -EOPNOTSUPP))
			return T_FAILF("tier %d: status %d (%s)", t, st, why);
		t_check(why && strlen(why) > 0);
	}
	t_check_eq(regbuf_mem_tier_status(m, REGBUF_MEM_TIER_4K, &why), 0);
	t_check(strstr(why, "obtained") != NULL);
	regbuf_mem_destroy(m);
	return T_PASS;
}

/* Tiers above opts.tier are "not tried"; an anonymous arena has no fd. */
static int status_not_tried_and_no_fd(void)
{
	struct regbuf_mem_opts o = { .tier = REGBUF_MEM_TIER_4K };
	struct regbuf_mem *m;
	const char *why = NULL;

	t_ok(regbuf_mem_create(&m, 3 << 20, &o));
	t_check_eq(regbuf_mem_tier_status(m, REGBUF_MEM_TIER_1G, &why), -ENOENT);
	t_check(!strcmp(why, "not tried"));
	t_check_eq(regbuf_mem_tier_status(m, REGBUF_MEM_TIER_NR, &why), -EINVAL);
	t_check_eq(regbuf_mem_tier_status(m, (enum regbuf_mem_tier)-1, NULL), -EINVAL);
	t_check_eq(regbuf_mem_fd(m), -ENOENT);
	regbuf_mem_destroy(m);
	regbuf_mem_destroy(NULL);
	return T_PASS;
}

static int tier_names(void)
{
	t_check(!strcmp(regbuf_mem_tier_name(REGBUF_MEM_TIER_1G), "1G"));
	t_check(!strcmp(regbuf_mem_tier_name(REGBUF_MEM_TIER_2M), "2M"));
	t_check(!strcmp(regbuf_mem_tier_name(REGBUF_MEM_TIER_THP), "THP"));
	t_check(!strcmp(regbuf_mem_tier_name(REGBUF_MEM_TIER_4K), "4K"));
	t_check(!strcmp(regbuf_mem_tier_name(REGBUF_MEM_TIER_NR), "?"));
	return T_PASS;
}

/* A memfd arena of base pages: the fd sees what the mapping wrote. */
static int memfd_4k_fd_sees_writes(void)
{
	struct regbuf_mem_opts o = { .flags = REGBUF_MEM_F_MEMFD | REGBUF_MEM_F_REQUIRE,
				     .tier = REGBUF_MEM_TIER_4K };
	struct regbuf_mem *m;
	char buf[4096];
	int fd;

	t_ok(regbuf_mem_create(&m, 3 * 4096, &o));
	fd = regbuf_mem_fd(m);
	t_check(fd >= 0);
	t_pattern_fill(regbuf_mem_addr(m), 3 * 4096, 0, 7);
	t_check_eq(pread(fd, buf, sizeof(buf), 8192), 4096);
	t_check_eq(t_pattern_check(buf, sizeof(buf), 8192, 7), -1);
	regbuf_mem_destroy(m);
	return T_PASS;
}

/*
 * The size rule of the chain at its edges: an arena of exactly one huge page
 * takes that tier, one byte less skips it (unless required); 4K never skips.
 */
static int tier_skip_at_exactly_one_page(void)
{
	static const struct {
		size_t len;
		unsigned int shift;
		bool huge;
		unsigned int flags;
		bool skipped;
	} c[] = {
		{ (size_t)1 << 30, 30, true, 0, false },
		{ ((size_t)1 << 30) - 1, 30, true, 0, true },
		{ ((size_t)1 << 30) + 1, 30, true, 0, false },
		{ ((size_t)1 << 30) - 4096, 30, true, REGBUF_MEM_F_REQUIRE, false },
		{ (size_t)1 << 21, 21, true, 0, false },
		{ ((size_t)1 << 21) - 1, 21, true, 0, true },
		{ ((size_t)1 << 21) - 4096, 21, true, 0, true },
		{ 4096, 21, true, REGBUF_MEM_F_REQUIRE, false },
		{ 1, 12, false, 0, false },
		{ 4096, 12, false, 0, false },
	};
	size_t i;

	for (i = 0; i < sizeof(c) / sizeof(c[0]); i++)
		if (mem_tier_skipped(c[i].len, c[i].shift, c[i].huge, c[i].flags) != c[i].skipped)
			return T_FAILF("len %zu shift %u flags %#x: skipped %d, want %d", c[i].len,
				       c[i].shift, c[i].flags, !c[i].skipped, c[i].skipped);
	return T_PASS;
}

/* A THP arena claims the PMD shift only when all of it is huge; partly huge is 4 KiB. */
static int thp_partly_huge_reports_base_shift(void)
{
	const uint64_t mib = UINT64_C(1) << 20;

	t_check_eq(mem_thp_folio_shift(8 * mib, 8 * mib, 21, 12), 21);
	t_check_eq(mem_thp_folio_shift(6 * mib, 8 * mib, 21, 12), 12);
	t_check_eq(mem_thp_folio_shift(2 * mib, 8 * mib, 21, 12), 12);
	t_check_eq(mem_thp_folio_shift(0, 8 * mib, 21, 12), 12);
	t_check_eq(mem_thp_folio_shift(2 * mib, 2 * mib, 21, 12), 21);
	t_check_eq(mem_thp_folio_shift(0, 2 * mib, 21, 12), 12);
	return T_PASS;
}

/* Every tier failed: the reasons reach the caller, not only a bare -ENOMEM. */
static int create_report_when_every_tier_fails(void)
{
	struct regbuf_mem_report rep;
	struct regbuf_mem_opts o = { .tier = REGBUF_MEM_TIER_1G };
	struct regbuf_mem *m = NULL;
	int t;

	t_check_eq(regbuf_mem_create_report(&m, SIZE_MAX - 100, &o, &rep), -ENOMEM);
	t_check(m == NULL);
	for (t = 0; t < REGBUF_MEM_TIER_NR; t++) {
		t_check_eq(rep.status[t], -ENOMEM);
		t_check(strstr(rep.why[t], "overflows") != NULL);
	}
	/* Refused arguments: nothing tried. */
	t_check_eq(regbuf_mem_create_report(&m, 0, NULL, &rep), -EINVAL);
	t_check_eq(rep.status[REGBUF_MEM_TIER_4K], -ENOENT);
	t_check(!strcmp(rep.why[REGBUF_MEM_TIER_4K], "not tried"));
	/* Success: the same as regbuf_mem_tier_status(). */
	t_ok(regbuf_mem_create_report(&m, 64 << 10, NULL, &rep));
	for (t = 0; t < REGBUF_MEM_TIER_NR; t++) {
		const char *why;

		t_check_eq(rep.status[t], regbuf_mem_tier_status(m, (enum regbuf_mem_tier)t, &why));
		t_check(!strcmp(rep.why[t], why));
	}
	t_check_eq(rep.status[REGBUF_MEM_TIER_4K], 0);
	regbuf_mem_destroy(m);
	t_ok(regbuf_mem_create_report(&m, 4096, NULL, NULL));
	regbuf_mem_destroy(m);
	return T_PASS;
}

static const struct t_case cases[] = {
	T_CASE(opts_rejected),
	T_CASE(tier_skip_at_exactly_one_page),
	T_CASE(thp_partly_huge_reports_base_shift),
	T_CASE(len_rounding_4k),
	T_CASE(small_arena_skips_huge_tiers),
	T_CASE(status_not_tried_and_no_fd),
	T_CASE(tier_names),
	T_CASE(create_report_when_every_tier_fails),
	T_CASE(memfd_4k_fd_sees_writes),
};

int main(int argc, char **argv)
{
	return t_main("unit/mem", cases, sizeof(cases) / sizeof(cases[0]), argc, argv);
}
