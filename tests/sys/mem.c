// SPDX-License-Identifier: MIT
/*
 * sys: real arenas on the running kernel: hugetlb 1G and 2M (pages reserved
 * here as root and the old pool sizes restored), THP, 4K, memfd arenas shared
 * with a child process and registered with io_uring.  What the library says
 * it obtained is checked against what the kernel reports (pagemap +
 * kpageflags, hugetlb pool counters, mincore, get_mempolicy).
 */
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <regbuf/mem.h>

#include "harness.h"
#include "sys/compat.h"

#define KiB (UINT64_C(1) << 10)
#define MiB (UINT64_C(1) << 20)
#define GiB (UINT64_C(1) << 30)

/* ---- hugetlb pool handling: reserve what a case needs, restore after ---- */

struct pool {
	unsigned long kb;
	long added;		/* pages this test added to nr_hugepages */
};

static long pool_read(unsigned long kb, const char *what)
{
	char path[128];
	long v = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/sys/kernel/mm/hugepages/hugepages-%lukB/%s", kb, what);
	f = fopen(path, "r");
	if (!f)
		return -1;
	if (fscanf(f, "%ld", &v) != 1)
		v = -1;
	fclose(f);
	return v;
}

static int pool_write(unsigned long kb, long nr)
{
	char path[128];
	FILE *f;
	int ok;

	snprintf(path, sizeof(path), "/sys/kernel/mm/hugepages/hugepages-%lukB/nr_hugepages", kb);
	f = fopen(path, "w");
	if (!f)
		return -1;
	ok = fprintf(f, "%ld\n", nr) > 0;
	ok &= fclose(f) == 0;
	return ok ? 0 : -1;
}

static void pool_restore(struct pool *p)
{
	long nr = pool_read(p->kb, "nr_hugepages");

	if (p->added > 0 && nr >= 0)
		pool_write(p->kb, nr > p->added ? nr - p->added : 0);
	p->added = 0;
}

/*
 * Make @need pages of @kb free (unreserved); 0, or -1 (restored, caller skips).
 * Other test binaries may resize the pool at the same time, so the restore
 * takes back only the pages this test added, from the value current then.
 */
static int pool_reserve(struct pool *p, unsigned long kb, long need)
{
	long nr = pool_read(kb, "nr_hugepages");
	long avail = pool_read(kb, "free_hugepages") - pool_read(kb, "resv_hugepages");

	p->kb = kb;
	p->added = 0;
	if (nr < 0)
		return -1;
	if (avail >= need)
		return 0;
	if (pool_write(kb, nr + need - avail)) {
		pool_write(kb, nr);
		return -1;
	}
	p->added = pool_read(kb, "nr_hugepages") - nr;
	if (pool_read(kb, "free_hugepages") - pool_read(kb, "resv_hugepages") < need) {
		pool_restore(p);
		return -1;
	}
	return 0;
}

/* ---- what the kernel says backs a page (root: pagemap pfn + kpageflags) ---- */

/* kpageflags of the page at @addr; -1 if unknown (not root, not present). */
static long long page_flags(const void *addr)
{
	uint64_t ent, flags;
	int fd;

	fd = open("/proc/self/pagemap", O_RDONLY);
	if (fd < 0)
		return -1;
	if (pread(fd, &ent, 8, (off_t)((uintptr_t)addr / 4096 * 8)) != 8) {
		close(fd);
		return -1;
	}
	close(fd);
	if (!(ent & PM_ENTRY_PRESENT) || !(ent & PM_ENTRY_PFN_MASK))
		return -1;
	fd = open("/proc/kpageflags", O_RDONLY);
	if (fd < 0)
		return -1;
	if (pread(fd, &flags, 8, (off_t)((ent & PM_ENTRY_PFN_MASK) * 8)) != 8)
		flags = (uint64_t)-1;
	close(fd);
	return (long long)flags;
}

/* Every @step of the arena is backed by a page with kpageflags bit @bit. */
static int check_kpf(const struct regbuf_mem *m, uint64_t step, int bit)
{
	const char *p = regbuf_mem_addr(m);
	uint64_t off;

	for (off = 0; off < regbuf_mem_len(m); off += step) {
		long long f = page_flags(p + off);

		if (f < 0)
			return T_FAILF("no pfn for +%llu (not root?)", (unsigned long long)off);
		if (!(f & (1ll << bit)))
			return T_FAILF("+%llu: kpageflags %#llx lacks bit %d",
				       (unsigned long long)off, f, bit);
	}
	return T_PASS;
}

static bool pfn_readable(void)
{
	static char x = 1;

	return page_flags(&x) >= 0;
}

static int fill_and_check(struct regbuf_mem *m, uint64_t salt)
{
	size_t len = regbuf_mem_len(m);
	long long bad;

	t_pattern_fill(regbuf_mem_addr(m), len, 0, salt);
	bad = t_pattern_check(regbuf_mem_addr(m), len, 0, salt);
	if (bad >= 0)
		return T_FAILF("pattern mismatch at +%lld", bad);
	return T_PASS;
}

/* ---- cases ---- */

static int hugetlb_1g_arena(void)
{
	struct regbuf_mem_opts o = { .flags = REGBUF_MEM_F_REQUIRE, .tier = REGBUF_MEM_TIER_1G };
	struct regbuf_mem *m;
	struct pool p;
	long free0;
	int r;

	if (pool_reserve(&p, 1048576, 1))
		return t_skip("cannot reserve one 1 GiB page: "
			      "/sys/kernel/mm/hugepages/hugepages-1048576kB/nr_hugepages (root)");
	free0 = pool_read(1048576, "free_hugepages");
	r = regbuf_mem_create(&m, GiB, &o);
	if (r) {
		pool_restore(&p);
		return T_FAILF("create 1G: %d", r);
	}
	r = T_PASS;
	if (regbuf_mem_tier(m) != REGBUF_MEM_TIER_1G || regbuf_mem_folio_shift(m) != 30 ||
	    ((uintptr_t)regbuf_mem_addr(m) & (GiB - 1)) || regbuf_mem_len(m) != GiB)
		r = T_FAILF("tier %d shift %u addr %p", regbuf_mem_tier(m),
			    regbuf_mem_folio_shift(m), regbuf_mem_addr(m));
	/*
	 * Prefaulted: every page present and hugetlb per kpageflags; without
	 * pfns, the page left the free pool now (racy if others use the pool).
	 */
	if (!r && pfn_readable())
		r = check_kpf(m, 256 * MiB, KPF_HUGE);
	else if (!r && pool_read(1048576, "free_hugepages") != free0 - 1)
		r = T_FAILF("free 1G pages %ld, expected %ld", pool_read(1048576, "free_hugepages"),
			    free0 - 1);
	if (!r)
		r = fill_and_check(m, 1);
	regbuf_mem_destroy(m);
	pool_restore(&p);
	return r;
}

static int hugetlb_2m_arena_via_chain(void)
{
	struct regbuf_mem *m;
	struct pool p;
	const char *why;
	long free0;
	int r;

	if (pool_reserve(&p, 2048, 3))
		return t_skip("cannot reserve 2 MiB pages: "
			      "/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages (root)");
	free0 = pool_read(2048, "free_hugepages");
	/* 5 MiB: the 1G tier is skipped (-ERANGE), 2M taken, rounded to 6 MiB. */
	r = regbuf_mem_create(&m, 5 * MiB, NULL);
	if (r) {
		pool_restore(&p);
		return T_FAILF("create: %d", r);
	}
	r = T_PASS;
	if (regbuf_mem_tier(m) != REGBUF_MEM_TIER_2M || regbuf_mem_folio_shift(m) != 21 ||
	    regbuf_mem_len(m) != 6 * MiB || ((uintptr_t)regbuf_mem_addr(m) & (2 * MiB - 1)))
		r = T_FAILF("tier %d shift %u len %zu", regbuf_mem_tier(m),
			    regbuf_mem_folio_shift(m), regbuf_mem_len(m));
	if (!r && regbuf_mem_tier_status(m, REGBUF_MEM_TIER_1G, &why) != -ERANGE)
		r = T_FAILF("1G status: %s", why);
	if (!r && pfn_readable())
		r = check_kpf(m, 2 * MiB, KPF_HUGE);
	else if (!r && pool_read(2048, "free_hugepages") != free0 - 3)
		r = T_FAILF("free 2M pages %ld, expected %ld", pool_read(2048, "free_hugepages"),
			    free0 - 3);
	if (!r)
		r = fill_and_check(m, 2);
	regbuf_mem_destroy(m);
	pool_restore(&p);
	return r;
}

/* Requiring a tier with no pages free fails with -ENOMEM and says where to reserve. */
static int hugetlb_required_without_pages(void)
{
	struct regbuf_mem_opts o = { .flags = REGBUF_MEM_F_REQUIRE, .tier = REGBUF_MEM_TIER_2M };
	struct regbuf_mem *m = NULL;
	long avail = pool_read(2048, "free_hugepages") - pool_read(2048, "resv_hugepages");
	int r;

	if (avail < 0)
		return t_skip("no 2 MiB hugetlb pool on this kernel");
	/* Surplus pages would satisfy any request: nothing to run out of. */
	if (pool_read(2048, "nr_overcommit_hugepages") > 0)
		return t_skip("hugetlb overcommit on: set "
			      "/sys/kernel/mm/hugepages/hugepages-2048kB/nr_overcommit_hugepages to 0");
	/* Ask for more than is free, whatever other users hold right now. */
	r = regbuf_mem_create(&m, (size_t)(avail + 64) * 2 * MiB, &o);
	t_check_eq(r, -ENOMEM);
	t_check(m == NULL);
	/* Through the chain the same shortage is explained, then THP or 4K used. */
	o.flags = 0;
	o.tier = REGBUF_MEM_TIER_2M;
	t_ok(regbuf_mem_create(&m, (size_t)(avail + 64) * 2 * MiB, &o));
	{
		const char *why;
		int st = regbuf_mem_tier_status(m, REGBUF_MEM_TIER_2M, &why);

		if (st != -ENOMEM || !strstr(why, "nr_hugepages")) {
			regbuf_mem_destroy(m);
			return T_FAILF("2M status %d: %s", st, why);
		}
	}
	t_check(regbuf_mem_tier(m) >= REGBUF_MEM_TIER_THP);
	regbuf_mem_destroy(m);
	return T_PASS;
}

static bool thp_enabled(void)
{
	char buf[128] = "";
	FILE *f = fopen("/sys/kernel/mm/transparent_hugepage/enabled", "r");

	if (!f)
		return false;
	if (!fgets(buf, sizeof(buf), f))
		buf[0] = '\0';
	fclose(f);
	return !strstr(buf, "[never]") && buf[0];
}

static int thp_arena(void)
{
	struct regbuf_mem_opts o = { .flags = REGBUF_MEM_F_REQUIRE, .tier = REGBUF_MEM_TIER_THP };
	struct regbuf_mem *m;
	int r;

	if (!thp_enabled())
		return t_skip("THP disabled: echo madvise > /sys/kernel/mm/transparent_hugepage/enabled");
	r = regbuf_mem_create(&m, 16 * MiB, &o);
	if (r == -EOPNOTSUPP)
		return t_skip("THP enabled but no huge pages could be had (memory fragmented)");
	t_ok(r);
	r = T_PASS;
	if (regbuf_mem_tier(m) != REGBUF_MEM_TIER_THP || regbuf_mem_folio_shift(m) != 21 ||
	    ((uintptr_t)regbuf_mem_addr(m) & (2 * MiB - 1)))
		r = T_FAILF("tier %d shift %u addr %p", regbuf_mem_tier(m),
			    regbuf_mem_folio_shift(m), regbuf_mem_addr(m));
	/* Independent of the library's PAGEMAP_SCAN: the kernel's page flags. */
	if (!r && pfn_readable())
		r = check_kpf(m, 2 * MiB, KPF_THP);
	if (!r)
		r = fill_and_check(m, 3);
	regbuf_mem_destroy(m);
	return r;
}

/*
 * THP requested but not delivered: PR_SET_THP_DISABLE in a child makes every
 * fault a base page.  Required, that is -EOPNOTSUPP; through the chain the
 * mapping is kept as a 4K arena and the THP status says how much was huge.
 */
static int thp_not_huge_detected(void)
{
	pid_t pid;
	int st;

	if (!thp_enabled())
		return t_skip("THP disabled: echo madvise > /sys/kernel/mm/transparent_hugepage/enabled");
	pid = fork();
	if (pid < 0)
		return t_broken("fork: %s", strerror(errno));
	if (pid == 0) {
		struct regbuf_mem_opts o = { .flags = REGBUF_MEM_F_REQUIRE,
					     .tier = REGBUF_MEM_TIER_THP };
		struct regbuf_mem *m;
		const char *why;

		if (prctl(PR_SET_THP_DISABLE, 1, 0, 0, 0))
			_exit(3);
		if (regbuf_mem_create(&m, 8 * MiB, &o) != -EOPNOTSUPP)
			_exit(4);
		o.flags = 0;
		if (regbuf_mem_create(&m, 8 * MiB, &o))
			_exit(5);
		if (regbuf_mem_tier(m) != REGBUF_MEM_TIER_4K || regbuf_mem_folio_shift(m) != 12)
			_exit(6);
		if (regbuf_mem_tier_status(m, REGBUF_MEM_TIER_THP, &why) != -EOPNOTSUPP)
			_exit(7);
		if (!strstr(why, "0 of 8 MiB") && !strstr(why, "not be verified"))
			_exit(8);
		regbuf_mem_destroy(m);
		_exit(0);
	}
	if (waitpid(pid, &st, 0) != pid)
		return t_broken("waitpid");
	if (!WIFEXITED(st) || WEXITSTATUS(st))
		return T_FAILF("child failed at step %d", WIFEXITED(st) ? WEXITSTATUS(st) : -1);
	return T_PASS;
}

static int base_page_arena_prefaulted(void)
{
	struct regbuf_mem_opts o = { .flags = REGBUF_MEM_F_REQUIRE, .tier = REGBUF_MEM_TIER_4K };
	struct regbuf_mem *m;
	unsigned char vec[256];
	size_t i;

	t_ok(regbuf_mem_create(&m, 1 * MiB, &o));
	t_check_eq(regbuf_mem_folio_shift(m), 12);
	t_check_eq(mincore(regbuf_mem_addr(m), MiB, vec), 0);
	for (i = 0; i < 256; i++)
		if (!(vec[i] & 1))
			return T_FAILF("page %zu not resident after prefault", i);
	regbuf_mem_destroy(m);

	/* And NO_PREFAULT really leaves it unpopulated. */
	o.flags |= REGBUF_MEM_F_NO_PREFAULT;
	t_ok(regbuf_mem_create(&m, 1 * MiB, &o));
	t_check_eq(mincore(regbuf_mem_addr(m), MiB, vec), 0);
	for (i = 0; i < 256; i++)
		if (vec[i] & 1)
			return T_FAILF("page %zu resident without prefault", i);
	regbuf_mem_destroy(m);
	return T_PASS;
}

/* Every page of [p, p + len) resident (mincore): -1, or the first page that is not. */
static long first_absent(const void *p, size_t len)
{
	size_t n = len / 4096, i;
	unsigned char *vec = malloc(n);
	long ret = -1;

	if (!vec || mincore((void *)(uintptr_t)p, len, vec))
		ret = 0;
	for (i = 0; vec && ret < 0 && i < n; i++)
		if (!(vec[i] & 1))
			ret = (long)i;
	free(vec);
	return ret;
}

/*
 * Arenas large enough to be prefaulted by several threads (one slice of
 * whole folios per CPU) are resident from the first page to the last, also
 * when the length does not divide evenly, when bound to a NUMA node (the
 * threads then run on its CPUs), and for THP every folio is still huge.
 */
static int arena_prefaulted_in_slices(void)
{
	static const size_t lens[] = { 192 * MiB, 100 * MiB + 12 * KiB };
	struct regbuf_mem_opts o = { .flags = REGBUF_MEM_F_REQUIRE, .tier = REGBUF_MEM_TIER_4K };
	struct regbuf_mem *m;
	uint64_t huge;
	size_t i;
	long page;

	for (i = 0; i < 2 * sizeof(lens) / sizeof(lens[0]); i++) {
		o.flags = REGBUF_MEM_F_REQUIRE | (i & 1 ? REGBUF_MEM_F_NUMA : 0);
		o.numa_node = 0;
		t_ok(regbuf_mem_create(&m, lens[i / 2], &o));
		page = first_absent(regbuf_mem_addr(m), regbuf_mem_len(m));
		regbuf_mem_destroy(m);
		if (page >= 0)
			return T_FAILF("%zu bytes%s: page %ld not resident after prefault",
				       lens[i / 2], i & 1 ? " (NUMA node 0)" : "", page);
	}
	if (!thp_enabled())
		return t_skip("4K arenas passed; THP disabled for the THP one");
	o.flags = 0;
	o.tier = REGBUF_MEM_TIER_THP;
	t_ok(regbuf_mem_create(&m, 70 * MiB, &o));	/* 35 folios: slices of 18 and 17 */
	if (regbuf_mem_tier(m) != REGBUF_MEM_TIER_THP) {
		regbuf_mem_destroy(m);
		return t_skip("4K arenas passed; THP did not back the THP one");
	}
	t_ok(regbuf_mem_huge_bytes(regbuf_mem_addr(m), regbuf_mem_len(m), &huge));
	t_check_eq(huge, 70 * MiB);
	t_check_eq(first_absent(regbuf_mem_addr(m), regbuf_mem_len(m)), -1);
	regbuf_mem_destroy(m);
	return T_PASS;
}

/* Resident pages of [p, p + len) (mincore). */
static long resident_pages(const void *p, size_t len)
{
	size_t n = len / 4096, i;
	unsigned char *vec = malloc(n);
	long ret = 0;

	if (!vec || mincore((void *)(uintptr_t)p, len, vec))
		ret = -1;
	for (i = 0; vec && ret >= 0 && i < n; i++)
		ret += vec[i] & 1;
	free(vec);
	return ret;
}

/*
 * regbuf_mem_prefault() faults exactly the part it is given of an arena made
 * without prefault, from the calling thread; a part off the page boundaries,
 * past the end or of no arena is refused with nothing faulted.  A hugetlb
 * arena's part is whole 2 MiB pages.
 */
static int arena_prefault_part(void)
{
	struct regbuf_mem_opts o = { .flags = REGBUF_MEM_F_REQUIRE | REGBUF_MEM_F_NO_PREFAULT,
				     .tier = REGBUF_MEM_TIER_4K };
	struct regbuf_mem *m;
	struct pool p;
	char *a;
	int r = T_PASS;

	t_check_eq(regbuf_mem_prefault(NULL, 0, 4096), -EINVAL);
	t_ok(regbuf_mem_create(&m, 16 * 4096, &o));
	a = regbuf_mem_addr(m);
	t_check_eq(resident_pages(a, 16 * 4096), 0);
	t_check_eq(regbuf_mem_prefault(m, 100, 4096), -EINVAL);
	t_check_eq(regbuf_mem_prefault(m, 4096, 100), -EINVAL);
	t_check_eq(regbuf_mem_prefault(m, 8 * 4096, 9 * 4096), -EINVAL);
	t_check_eq(regbuf_mem_prefault(m, 17 * 4096, 0), -EINVAL);
	t_check_eq(resident_pages(a, 16 * 4096), 0);
	t_check_eq(regbuf_mem_prefault(m, 4 * 4096, 4 * 4096), 0);
	t_check_eq(resident_pages(a, 4 * 4096), 0);
	t_check_eq(resident_pages(a + 4 * 4096, 4 * 4096), 4);
	t_check_eq(resident_pages(a + 8 * 4096, 8 * 4096), 0);
	t_check_eq(regbuf_mem_prefault(m, 12 * 4096, 4 * 4096), 0);
	t_check_eq(resident_pages(a + 12 * 4096, 4 * 4096), 4);
	t_check_eq(resident_pages(a, 16 * 4096), 8);
	regbuf_mem_destroy(m);

	if (pool_reserve(&p, 2048, 2))
		return t_skip("4K arena passed; cannot reserve two 2 MiB hugetlb pages");
	o.tier = REGBUF_MEM_TIER_2M;
	if (regbuf_mem_create(&m, 4 * MiB, &o)) {
		pool_restore(&p);
		return T_FAILF("2M arena of two reserved pages not created");
	}
	a = regbuf_mem_addr(m);
	if (regbuf_mem_prefault(m, 4096, 2 * MiB - 4096) != -EINVAL)
		r = T_FAILF("a part inside a 2 MiB page accepted");
	else if (regbuf_mem_prefault(m, 2 * MiB, 2 * MiB))
		r = T_FAILF("the second 2 MiB page not faulted");
	else if (resident_pages(a, 2 * MiB) != 0 || resident_pages(a + 2 * MiB, 2 * MiB) != 512)
		r = T_FAILF("resident: %ld pages of the first 2 MiB, %ld of the second",
			    resident_pages(a, 2 * MiB), resident_pages(a + 2 * MiB, 2 * MiB));
	regbuf_mem_destroy(m);
	pool_restore(&p);
	return r;
}

/* Arenas over 1 GiB are legal (the uring layer splits them for the kernel). */
static int arena_over_1g(void)
{
	struct regbuf_mem_opts o = { .tier = REGBUF_MEM_TIER_THP };
	size_t len = GiB + 6 * MiB;
	struct regbuf_mem *m;
	char *p;

	t_ok(regbuf_mem_create(&m, len, &o));
	t_check(regbuf_mem_len(m) >= len);
	p = regbuf_mem_addr(m);
	p[0] = 1;
	p[len - 1] = 2;
	t_check_eq(p[GiB], 0);
	regbuf_mem_destroy(m);
	return T_PASS;
}

static int numa_bind_node0(void)
{
	struct regbuf_mem_opts o = { .flags = REGBUF_MEM_F_NUMA | REGBUF_MEM_F_REQUIRE,
				     .tier = REGBUF_MEM_TIER_4K, .numa_node = 0 };
	struct regbuf_mem *m;
	int node = -1, mode = -1;

	t_ok(regbuf_mem_create(&m, 64 * 4096, &o));
	/* get_mempolicy(MPOL_F_NODE | MPOL_F_ADDR): the node of the page at addr. */
	t_check_eq(syscall(SYS_get_mempolicy, &node, NULL, 0, regbuf_mem_addr(m), 3), 0);
	t_check_eq(node, 0);
	/* MPOL_F_ADDR alone: the VMA's policy, MPOL_BIND (2). */
	t_check_eq(syscall(SYS_get_mempolicy, &mode, NULL, 0, regbuf_mem_addr(m), 2), 0);
	t_check_eq(mode, 2);
	regbuf_mem_destroy(m);
	return T_PASS;
}

/*
 * The child maps the memfd on its own (not the inherited mapping) and writes
 * a pattern; the parent sees it through its mapping and through pread.
 */
static int share_with_child(struct regbuf_mem *m, uint64_t salt)
{
	size_t len = regbuf_mem_len(m);
	int fd = regbuf_mem_fd(m), st;
	char buf[4096];
	pid_t pid;

	if (fd < 0)
		return T_FAILF("no fd: %d", fd);
	pid = fork();
	if (pid < 0)
		return t_broken("fork: %s", strerror(errno));
	if (pid == 0) {
		void *q;

		munmap(regbuf_mem_addr(m), len);
		q = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		if (q == MAP_FAILED)
			_exit(2);
		t_pattern_fill(q, len, 0, salt);
		_exit(0);
	}
	if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st))
		return T_FAILF("child failed (%#x)", st);
	if (t_pattern_check(regbuf_mem_addr(m), len, 0, salt) >= 0)
		return T_FAILF("child's writes not visible through the parent's mapping");
	if (pread(fd, buf, sizeof(buf), (off_t)(len - sizeof(buf))) != (ssize_t)sizeof(buf))
		return T_FAILF("pread: %s", strerror(errno));
	if (t_pattern_check(buf, sizeof(buf), len - sizeof(buf), salt) >= 0)
		return T_FAILF("child's writes not visible through the fd");
	return T_PASS;
}

/* io_uring takes memfd (shmem, hugetlbfs) memory for registration. */
static int register_with_uring(struct regbuf_mem *m)
{
	struct io_uring ring;
	struct iovec iov = { regbuf_mem_addr(m), regbuf_mem_len(m) };
	int r;

	r = io_uring_queue_init(4, &ring, 0);
	if (r)
		return t_skip("io_uring unavailable: %s (sysctl kernel.io_uring_disabled)",
			      strerror(-r));
	r = io_uring_register_buffers(&ring, &iov, 1);
	io_uring_queue_exit(&ring);
	if (r)
		return T_FAILF("io_uring_register_buffers: %s", strerror(-r));
	return T_PASS;
}

static int memfd_shmem_shared_with_child(void)
{
	struct regbuf_mem_opts o = { .flags = REGBUF_MEM_F_MEMFD | REGBUF_MEM_F_REQUIRE,
				     .tier = REGBUF_MEM_TIER_4K };
	struct regbuf_mem *m;
	int r;

	t_ok(regbuf_mem_create(&m, 4 * MiB, &o));
	r = share_with_child(m, 4);
	if (!r)
		r = register_with_uring(m);
	regbuf_mem_destroy(m);
	return r;
}

static int memfd_hugetlb_2m_shared_with_child(void)
{
	struct regbuf_mem_opts o = { .flags = REGBUF_MEM_F_MEMFD | REGBUF_MEM_F_REQUIRE,
				     .tier = REGBUF_MEM_TIER_2M };
	struct regbuf_mem *m;
	struct pool p;
	int r;

	if (pool_reserve(&p, 2048, 2))
		return t_skip("cannot reserve 2 MiB pages: "
			      "/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages (root)");
	r = regbuf_mem_create(&m, 4 * MiB, &o);
	if (r) {
		pool_restore(&p);
		return T_FAILF("create: %d", r);
	}
	r = T_PASS;
	if (regbuf_mem_tier(m) != REGBUF_MEM_TIER_2M)
		r = T_FAILF("tier %d", regbuf_mem_tier(m));
	if (!r && pfn_readable())
		r = check_kpf(m, 2 * MiB, KPF_HUGE);
	if (!r)
		r = share_with_child(m, 5);
	if (!r)
		r = register_with_uring(m);
	regbuf_mem_destroy(m);
	pool_restore(&p);
	return r;
}

/* shmem THP follows shmem_enabled, not enabled: refused with the reason when off. */
static int memfd_thp_follows_shmem_enabled(void)
{
	struct regbuf_mem_opts o = { .flags = REGBUF_MEM_F_MEMFD | REGBUF_MEM_F_REQUIRE,
				     .tier = REGBUF_MEM_TIER_THP };
	char buf[128] = "";
	struct regbuf_mem *m;
	FILE *f;
	int r;

	f = fopen("/sys/kernel/mm/transparent_hugepage/shmem_enabled", "r");
	if (!f)
		return t_skip("no shmem THP on this kernel");
	if (!fgets(buf, sizeof(buf), f))
		buf[0] = '\0';
	fclose(f);
	r = regbuf_mem_create(&m, 8 * MiB, &o);
	if (strstr(buf, "[never]") || strstr(buf, "[deny]")) {
		t_check_eq(r, -EOPNOTSUPP);
		return T_PASS;
	}
	if (r == -EOPNOTSUPP)
		return t_skip("shmem THP enabled but not obtained (fragmented memory)");
	t_ok(r);
	r = T_PASS;
	if (regbuf_mem_folio_shift(m) != 21)
		r = T_FAILF("folio shift %u", regbuf_mem_folio_shift(m));
	if (!r)
		r = share_with_child(m, 6);
	regbuf_mem_destroy(m);
	return r;
}

/* AnonHugePages of the VMA exactly [p, p + len) from smaps: an independent count. */
static long long smaps_anon_huge(const void *p, size_t len)
{
	unsigned long long a, b, kb;
	long long ret = -1;
	char line[512];
	bool in = false;
	FILE *f = fopen("/proc/self/smaps", "re");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		int used = 0;

		if (sscanf(line, "%llx-%llx%n", &a, &b, &used) == 2 && line[used] == ' ')
			in = a == (uintptr_t)p && b == (uintptr_t)p + len;
		else if (in && sscanf(line, "AnonHugePages: %llu kB", &kb) == 1)
			ret = (long long)kb * 1024;
	}
	fclose(f);
	return ret;
}

/* regbuf_mem_huge_bytes() on plain mappings, against smaps. */
static int huge_bytes_of_any_range(void)
{
	static const struct { const char *name; int advice; } cases[] = {
		{ "nohugepage", MADV_NOHUGEPAGE },
		{ "hugepage", MADV_HUGEPAGE },
	};
	size_t len = 8 << 20, i;
	uint64_t huge;

	t_check_eq(regbuf_mem_huge_bytes(cases, 0, &huge), -EINVAL);
	t_check_eq(regbuf_mem_huge_bytes(cases, 4096, NULL), -EINVAL);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint8_t *raw = mmap(NULL, len + (2 << 20), PROT_READ | PROT_WRITE,
				    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		uint8_t *p = (uint8_t *)(((uintptr_t)raw + (2 << 20) - 1) & ~(uintptr_t)((2 << 20) - 1));
		long long want;

		t_check(raw != MAP_FAILED);
		/* Guard pages on both sides keep the VMA exactly [p, p + len). */
		mprotect(raw, (size_t)(p - raw), PROT_NONE);
		mprotect(p + len, (size_t)(raw + len + (2 << 20) - (p + len)), PROT_NONE);
		madvise(p, len, cases[i].advice);
		memset(p, 1, len);
		t_ok(regbuf_mem_huge_bytes(p, len, &huge));
		want = smaps_anon_huge(p, len);
		if (want < 0 || huge != (uint64_t)want) {
			munmap(raw, len + (2 << 20));
			return T_FAILF("%s: %llu huge bytes, smaps says %lld", cases[i].name,
				       (unsigned long long)huge, want);
		}
		if (cases[i].advice == MADV_NOHUGEPAGE)
			t_check_eq(huge, 0);
		munmap(raw, len + (2 << 20));
	}
	return T_PASS;
}

/* regbuf_mem_layout_caps() against what this process can read itself. */
static int layout_caps_tried_for_real(void)
{
	struct regbuf_mem_layout_caps c;
	uint64_t ent = 0, flags;
	uint8_t *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	bool pfns = false, kpf = false;
	int fd;

	t_check(p != MAP_FAILED);
	fd = open("/proc/self/pagemap", O_RDONLY);
	if (fd >= 0) {
		pfns = pread(fd, &ent, 8, (off_t)((uintptr_t)p / 4096 * 8)) == 8 &&
		       (ent & PM_ENTRY_PRESENT) && (ent & PM_ENTRY_PFN_MASK);
		close(fd);
	}
	regbuf_mem_layout_caps(&c);
	t_check_eq(c.pagemap, fd >= 0);
	t_check_eq(c.pfns, pfns);
	/* 6.18 here: PAGEMAP_SCAN (6.7) must work when pagemap opens. */
	if (c.pagemap)
		t_check_eq(c.pagemap_scan, 0);
	fd = open("/proc/kpageflags", O_RDONLY);
	if (fd >= 0) {
		kpf = pread(fd, &flags, 8, 0) == 8;
		close(fd);
	}
	t_check_eq(c.kpageflags, kpf);

	munmap(p, 4096);
	return T_PASS;
}

/*
 * An arena of exactly one huge page takes that tier through the chain (no
 * REQUIRE): 2 MiB from the 2M tier, 1 GiB from the 1G tier when a 1 GiB page
 * can be reserved.
 */
static int hugetlb_exactly_one_page_via_chain(void)
{
	static const struct { unsigned long kb; enum regbuf_mem_tier tier; unsigned int shift; } c[] = {
		{ 2048, REGBUF_MEM_TIER_2M, 21 },
		{ 1048576, REGBUF_MEM_TIER_1G, 30 },
	};
	int r = T_PASS, done = 0;
	size_t i;

	for (i = 0; i < sizeof(c) / sizeof(c[0]) && r == T_PASS; i++) {
		struct regbuf_mem_opts o = { .tier = c[i].tier };
		size_t len = (size_t)1 << c[i].shift;
		struct regbuf_mem *m;
		const char *why;
		struct pool p;

		if (pool_reserve(&p, c[i].kb, 1)) {
			fprintf(stderr, "  %lu kB: cannot reserve one page, not checked\n", c[i].kb);
			continue;
		}
		r = regbuf_mem_create(&m, len, &o);
		if (r) {
			pool_restore(&p);
			return T_FAILF("%lu kB: create: %d", c[i].kb, r);
		}
		if (regbuf_mem_tier(m) != c[i].tier || regbuf_mem_folio_shift(m) != c[i].shift ||
		    regbuf_mem_len(m) != len) {
			regbuf_mem_tier_status(m, c[i].tier, &why);
			r = T_FAILF("%lu kB: tier %s shift %u len %zu (%s)", c[i].kb,
				    regbuf_mem_tier_name(regbuf_mem_tier(m)),
				    regbuf_mem_folio_shift(m), regbuf_mem_len(m), why);
		}
		regbuf_mem_destroy(m);
		pool_restore(&p);
		done++;
	}
	if (r == T_PASS && !done)
		return t_skip("cannot reserve hugetlb pages (root, "
			      "/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages)");
	return r;
}

static const struct t_case cases[] = {
	T_CASE(hugetlb_1g_arena),
	T_CASE(layout_caps_tried_for_real),
	T_CASE(huge_bytes_of_any_range),
	T_CASE(hugetlb_2m_arena_via_chain),
	T_CASE(hugetlb_exactly_one_page_via_chain),
	T_CASE(hugetlb_required_without_pages),
	T_CASE(thp_arena),
	T_CASE(thp_not_huge_detected),
	T_CASE(base_page_arena_prefaulted),
	T_CASE(arena_prefaulted_in_slices),
	T_CASE(arena_prefault_part),
	T_CASE(arena_over_1g),
	T_CASE(numa_bind_node0),
	T_CASE(memfd_shmem_shared_with_child),
	T_CASE(memfd_hugetlb_2m_shared_with_child),
	T_CASE(memfd_thp_follows_shmem_enabled),
};

int main(int argc, char **argv)
{
	return t_main("sys/mem", cases, sizeof(cases) / sizeof(cases[0]), argc, argv);
}
