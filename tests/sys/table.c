// SPDX-License-Identifier: MIT
/*
 * sys: table layout discovery on real memory of the running kernel: 4 KiB
 * pages, THP (madvise), THP mremap'ed to a misaligned address, 2 MiB and
 * 1 GiB hugetlb, and the CVE-2023-2598 shape built for real (one page mapped
 * N times; pages of one shmem THP mapped out of order).  Every discovered
 * layout is checked against what the kernel reports through
 * /proc/self/pagemap and /proc/kpageflags, read here independently.
 *
 * hugetlb pages are reserved by the test (root) and the old counts restored.
 * The "measure_*" cases print timings; they never assert them.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <regbuf/table.h>

#include "harness.h"
#include "sys/compat.h"

#define KiB (UINT64_C(1) << 10)
#define MiB (UINT64_C(1) << 20)
#define GiB (UINT64_C(1) << 30)
#define PG 4096u

#ifndef MAP_HUGE_SHIFT
#define MAP_HUGE_SHIFT 26
#endif
#define MAP_HUGE_2MB (21 << MAP_HUGE_SHIFT)
#define MAP_HUGE_1GB (30 << MAP_HUGE_SHIFT)

/* ---------------------------------------------------------------------- */
/* What the kernel says, read independently of the library. */

static int pagemap_fd = -1, kpageflags_fd = -1;

static uint64_t pfn_of(const void *va)
{
	uint64_t e = 0;

	if (pread(pagemap_fd, &e, 8, (off_t)((uintptr_t)va / PG * 8)) != 8)
		return 0;
	return (e & PM_ENTRY_PRESENT) ? e & PM_ENTRY_PFN_MASK : 0;
}

static uint64_t kpf(uint64_t pfn)
{
	uint64_t f = 0;

	if (pread(kpageflags_fd, &f, 8, (off_t)(pfn * 8)) != 8)
		return 0;
	return f;
}

/* Head pfn and size in pages of the folio holding @pfn, by a page-by-page walk. */
static void folio_of(uint64_t pfn, uint64_t *head, uint64_t *nr)
{
	uint64_t h = pfn, n = 1;

	while (h && (kpf(h) & (UINT64_C(1) << KPF_COMPOUND_TAIL)))
		h--;
	if (!(kpf(h) & (UINT64_C(1) << KPF_COMPOUND_HEAD))) {
		*head = pfn;
		*nr = 1;
		return;
	}
	/* Folios are powers of two: probe the size by doubling instead of every tail. */
	while (n < (UINT64_C(1) << 18) && (kpf(h + n) & (UINT64_C(1) << KPF_COMPOUND_TAIL)))
		n = n * 2 > 1 ? n * 2 : 2;
	if (n > 1 && !(kpf(h + n - 1) & (UINT64_C(1) << KPF_COMPOUND_TAIL)))
		n /= 2;
	*head = h;
	*nr = n;
}

static int need_proc(void)
{
	if (pagemap_fd < 0)
		pagemap_fd = open("/proc/self/pagemap", O_RDONLY);
	if (kpageflags_fd < 0)
		kpageflags_fd = open("/proc/kpageflags", O_RDONLY);
	if (pagemap_fd < 0 || kpageflags_fd < 0 || geteuid() != 0)
		return t_skip("needs root for /proc/kpageflags and pfns in /proc/self/pagemap");
	return T_PASS;
}

/*
 * The registered buffer agrees with the kernel: its physical segments are
 * exactly the frames pagemap reports for each page, and each virtual segment
 * lies inside one folio and covers consecutive frames (kpageflags).
 */
static int check_against_kernel(const struct regbuf_buf_info *in)
{
	uint64_t pos = 0, ps = 0, poff = 0;
	uint32_t i;

	if (!(in->flags & REGBUF_BUF_F_PHYS))
		return T_FAILF("no physical segments");
	for (pos = 0; pos < in->len;) {
		uint64_t va = in->ubuf + pos, n = PG - (va & (PG - 1));
		uint64_t pa = pfn_of((void *)(uintptr_t)va) * PG + (va & (PG - 1));

		if (n > in->len - pos)
			n = in->len - pos;
		if (in->phys_segs[ps].addr + poff != pa)
			return T_FAILF("byte %llu: phys seg %llu says %#llx, pagemap %#llx",
				       (unsigned long long)pos, (unsigned long long)ps,
				       (unsigned long long)(in->phys_segs[ps].addr + poff),
				       (unsigned long long)pa);
		poff += n;
		pos += n;
		if (poff == in->phys_segs[ps].len) {
			ps++;
			poff = 0;
		}
	}
	t_check_eq(ps, in->nr_phys_segs);
	for (i = 0, pos = 0; i < in->nr_segs; pos += in->segs[i].len, i++) {
		uint64_t first = pfn_of((void *)(uintptr_t)in->segs[i].addr), head, nr;
		uint64_t lastva = in->segs[i].addr + in->segs[i].len - 1;
		uint64_t last = pfn_of((void *)(uintptr_t)lastva);

		folio_of(first, &head, &nr);
		if (last < first || last >= head + nr ||
		    last - first != (lastva / PG) - (in->segs[i].addr / PG))
			return T_FAILF("seg %u [%#llx +%llu] leaves folio %#llx+%llu or skips",
				       i, (unsigned long long)in->segs[i].addr,
				       (unsigned long long)in->segs[i].len,
				       (unsigned long long)head, (unsigned long long)nr);
	}
	return T_PASS;
}

static int reg_one(struct regbuf_table **tp, void *addr, uint64_t len, unsigned int flags,
		   struct regbuf_buf **bp, struct regbuf_buf_info *in)
{
	struct iovec iov = { addr, len };
	int r;

	r = regbuf_table_create(tp, 0);
	if (r)
		return r;
	r = regbuf_table_register(*tp, &iov, 1, flags);
	if (r) {
		regbuf_table_destroy(*tp);
		return r;
	}
	r = regbuf_table_buf_get(*tp, 0, bp);
	if (!r)
		r = regbuf_buf_info(*bp, in);
	return r;
}

static void unreg_one(struct regbuf_table *t, struct regbuf_buf *b)
{
	regbuf_buf_put(b);
	regbuf_table_destroy(t);
}

/* Register with both discovery paths and compare them with each other and with the kernel. */
static int discover_both(void *addr, uint64_t len, unsigned int want_shift, uint32_t want_segs,
			 unsigned int want_source)
{
	struct regbuf_table *t1, *t2;
	struct regbuf_buf *b1, *b2;
	struct regbuf_buf_info i1, i2;
	uint32_t i;
	int r;

	t_ok(reg_one(&t1, addr, len, 0, &b1, &i1));
	t_ok(reg_one(&t2, addr, len, REGBUF_TABLE_F_LAYOUT_PFN, &b2, &i2));
	r = check_against_kernel(&i2);
	if (r != T_PASS)
		goto out;
	r = T_FAIL;
	if (i1.source != want_source || i2.source != REGBUF_LAYOUT_KPAGEFLAGS) {
		r = T_FAILF("sources %u/%u, want %u", i1.source, i2.source, want_source);
		goto out;
	}
	if (i2.folio_shift != want_shift || i2.nr_segs != want_segs) {
		r = T_FAILF("kpageflags path: shift %u segs %u, want %u %u", i2.folio_shift,
			    i2.nr_segs, want_shift, want_segs);
		goto out;
	}
	/* The cheap path must agree with the exact one (it may only be more conservative
	 * for layouts it cannot see; none here). */
	if (i1.folio_shift != i2.folio_shift || i1.nr_segs != i2.nr_segs ||
	    i1.seg0_off != i2.seg0_off) {
		r = T_FAILF("PAGEMAP_SCAN path: shift %u segs %u off0 %llu; kpageflags: %u %u %llu",
			    i1.folio_shift, i1.nr_segs, (unsigned long long)i1.seg0_off,
			    i2.folio_shift, i2.nr_segs, (unsigned long long)i2.seg0_off);
		goto out;
	}
	for (i = 0; i < i1.nr_segs; i++)
		if (i1.segs[i].addr != i2.segs[i].addr || i1.segs[i].len != i2.segs[i].len) {
			r = T_FAILF("seg %u differs", i);
			goto out;
		}
	r = T_PASS;
out:
	unreg_one(t1, b1);
	unreg_one(t2, b2);
	return r;
}

/* ---------------------------------------------------------------------- */
/* hugetlb reservation, restored afterwards. */

/* t_hugepages_reserve() from a clean struct: 0, or T_SKIP naming the sysctl. */
static int hp_reserve(struct t_hugepages *r, unsigned long kb, long pages)
{
	memset(r, 0, sizeof(*r));
	return t_hugepages_reserve(r, kb, pages) ? t_skip("%s", r->why) : 0;
}

static void *map_huge(uint64_t len, int flag)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB | flag | MAP_POPULATE, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

/* Anonymous memory aligned to @align, populated. */
static void *map_aligned(uint64_t len, uint64_t align, int advice)
{
	char *p = mmap(NULL, len + align, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
		       -1, 0);
	char *a;
	uint64_t i;

	if (p == MAP_FAILED)
		return NULL;
	a = (char *)(((uintptr_t)p + (uintptr_t)(align - 1)) & ~(uintptr_t)(align - 1));
	if (a > p)
		munmap(p, (size_t)(a - p));
	munmap(a + len, (size_t)(p + len + align - (a + len)));
	madvise(a, len, advice);
	for (i = 0; i < len; i += PG)
		a[i] = (char)i;
	return a;
}

static bool is_thp(const void *va)
{
	uint64_t head, nr, pfn = pfn_of(va);

	if (!pfn)
		return false;
	folio_of(pfn, &head, &nr);
	return nr == 512 && (kpf(head) & (UINT64_C(1) << KPF_THP));
}

/* ---------------------------------------------------------------------- */

static int sys_4k_pages(void)
{
	uint64_t len = 4 * MiB;
	char *p;
	int r = need_proc();

	if (r != T_PASS)
		return r;
	p = map_aligned(len, 2 * MiB, MADV_NOHUGEPAGE);
	if (!p)
		return t_broken("mmap");
	/* 100 bytes in, 1000 short of the end: per page, like the kernel. */
	r = discover_both(p + 100, len - 1100, 12, (uint32_t)(len / PG),
			  REGBUF_LAYOUT_PAGEMAP_SCAN);
	munmap(p, len);
	return r;
}

static int sys_thp_madvise(void)
{
	uint64_t len = 8 * MiB, i;
	char *p;
	int r = need_proc();

	if (r != T_PASS)
		return r;
	p = map_aligned(len, 2 * MiB, MADV_HUGEPAGE);
	if (!p)
		return t_broken("mmap");
	for (i = 0; i < len; i += 2 * MiB)
		if (!is_thp(p + i)) {
			munmap(p, len);
			return t_skip("no THP at +%llu MiB: set "
				      "/sys/kernel/mm/transparent_hugepage/enabled to madvise or "
				      "always, and defrag to madvise",
				      (unsigned long long)(i >> 20));
		}
	/* Starting 3 pages + 5 bytes into the first THP: 4 segments, bv_offset > 4 KiB. */
	r = discover_both(p + 3 * PG + 5, len - 3 * PG - 5 - 7, 21, 4, REGBUF_LAYOUT_PAGEMAP_SCAN);
	munmap(p, len);
	return r;
}

/*
 * Item 15 for real: a THP moved by mremap to a VA that is not 2 MiB-aligned
 * is PTE-mapped but still one folio.  PAGEMAP_SCAN cannot see that (not
 * PMD-mapped: 4 KiB pages, the safe answer); kpageflags can, and the first
 * segment's offset must be the page index inside the folio.
 */
static int sys_thp_mremap_misaligned_half(void)
{
	uint64_t len = 2 * MiB, head, nr;
	struct regbuf_table *t;
	struct regbuf_buf *b;
	struct regbuf_buf_info in;
	char *p, *area, *q, *reg;
	int r = need_proc();

	if (r != T_PASS)
		return r;
	p = map_aligned(len, 2 * MiB, MADV_HUGEPAGE);
	if (!p)
		return t_broken("mmap");
	if (!is_thp(p)) {
		munmap(p, len);
		return t_skip("no THP: set /sys/kernel/mm/transparent_hugepage/enabled to madvise");
	}
	area = mmap(NULL, 6 * MiB, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (area == MAP_FAILED)
		return t_broken("mmap");
	/* 2 MiB-aligned + 5 pages: misaligned by 20 KiB. */
	q = (char *)(((uintptr_t)area + (uintptr_t)(2 * MiB - 1)) & ~(uintptr_t)(2 * MiB - 1)) + 5 * PG;
	if (mremap(p, len, len, MREMAP_MAYMOVE | MREMAP_FIXED, q) != q)
		return t_broken("mremap: %d", errno);
	folio_of(pfn_of(q), &head, &nr);
	if (nr != 512) {
		munmap(area, 6 * MiB);
		return t_skip("this kernel split the THP on mremap");
	}
	/* Register the second half, from 300 bytes past its first page. */
	reg = q + MiB + 300;
	t_ok(reg_one(&t, reg, MiB - 300, REGBUF_TABLE_F_LAYOUT_PFN, &b, &in));
	r = check_against_kernel(&in);
	if (r == T_PASS) {
		uint64_t idx = pfn_of(reg) - head;

		if (!(in.flags & REGBUF_BUF_F_SINGLE_FOLIO) || in.nr_segs != 1 ||
		    in.seg0_off != idx * PG + 300 || in.folio_shift != 21)
			r = T_FAILF("flags %#x segs %u off0 %llu shift %u; want single folio, off0 "
				    "%llu", in.flags, in.nr_segs, (unsigned long long)in.seg0_off,
				    in.folio_shift, (unsigned long long)(idx * PG + 300));
		else if (in.seg0_off == ((uintptr_t)reg & (2 * MiB - 1)))
			r = T_FAILF("seg0_off equals addr %% folio size: the 2025 mremap bug");
	}
	unreg_one(t, b);
	/*
	 * The default path reads the folio too when frames are readable (the
	 * same single segment, exact); without them it reports the buffer per
	 * page as an upper bound, never one wrong segment.
	 */
	if (r == T_PASS) {
		uint64_t off0 = in.seg0_off;

		t_ok(reg_one(&t, reg, MiB - 300, 0, &b, &in));
		if (in.flags & REGBUF_BUF_F_EXACT) {
			if (in.kernel_nr_segs != 1 || in.seg0_off != off0 || in.folio_shift != 21)
				r = T_FAILF("default path: %u segs off0 %llu shift %u, want 1, %llu, 21",
					    in.kernel_nr_segs, (unsigned long long)in.seg0_off,
					    in.folio_shift, (unsigned long long)off0);
		} else if ((in.flags & REGBUF_BUF_F_COALESCED) ||
			   !(in.flags & REGBUF_BUF_F_UPPER_BOUND)) {
			r = T_FAILF("PAGEMAP_SCAN coalesced a PTE-mapped THP it could not read");
		}
		unreg_one(t, b);
	}
	munmap(area, 6 * MiB);
	return r;
}

/* A hugetlb mapping of @len (@pages of @kb reserved), discovered at [off, off + blen). */
struct hugetlb_case {
	unsigned long kb;
	long pages;
	int map_flag;
	uint64_t len, off, blen;
	unsigned int want_shift;
	uint32_t want_segs;
	bool check_kpf;		/* and kpageflags says KPF_HUGE for its first frame */
};

static int hugetlb_discover(const struct hugetlb_case *c)
{
	struct t_hugepages res;
	char *p;
	int r = need_proc();

	if (r != T_PASS)
		return r;
	r = hp_reserve(&res, c->kb, c->pages);
	if (r)
		return r;
	p = map_huge(c->len, c->map_flag);
	if (!p) {
		t_hugepages_restore(&res);
		return t_skip("mmap(MAP_HUGETLB %lu kB) failed: %d", c->kb, errno);
	}
	r = discover_both(p + c->off, c->blen, c->want_shift, c->want_segs,
			  REGBUF_LAYOUT_PAGEMAP_SCAN);
	if (r == T_PASS && c->check_kpf && !(kpf(pfn_of(p)) & (UINT64_C(1) << KPF_HUGE)))
		r = T_FAILF("kpageflags does not say KPF_HUGE for hugetlb");
	munmap(p, c->len);
	t_hugepages_restore(&res);
	return r;
}

static int sys_hugetlb_2m(void)
{
	static const struct hugetlb_case c = {
		2048, 4, MAP_HUGE_2MB, 8 * MiB, MiB + 17, 8 * MiB - MiB - 17, 21, 4, true,
	};

	return hugetlb_discover(&c);
}

/* Item 17 for real: a 1 GiB buffer straddling two 1 GiB hugetlb folios. */
static int sys_hugetlb_1g_straddle(void)
{
	static const struct hugetlb_case c = {
		1048576, 2, MAP_HUGE_1GB, 2 * GiB, GiB / 2, GiB, 30, 2, false,
	};

	return hugetlb_discover(&c);
}

/*
 * CVE-2023-2598 built for real: one memfd page mapped N times back to back
 * (MAP_FIXED).  The kernel reports the same frame N times; coalescing must
 * keep one segment per page.
 */
static int sys_cve_same_page_mapped_n_times(void)
{
	enum { N = 8 };
	struct regbuf_table *t;
	struct regbuf_buf *b;
	struct regbuf_buf_info in;
	uint64_t pfn0;
	char *area;
	int fd, i, r = need_proc();

	if (r != T_PASS)
		return r;
	fd = memfd_create("regbuf-cve", 0);
	if (fd < 0 || ftruncate(fd, PG))
		return t_broken("memfd");
	area = mmap(NULL, N * PG, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	for (i = 0; i < N; i++)
		if (mmap(area + i * PG, PG, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED |
			 MAP_POPULATE, fd, 0) != area + i * PG)
			return t_broken("mmap fixed");
	area[0] = 1;
	pfn0 = pfn_of(area);
	for (i = 1; i < N; i++)
		t_check_eq(pfn_of(area + i * PG), pfn0);
	t_ok(reg_one(&t, area, N * PG, REGBUF_TABLE_F_LAYOUT_PFN, &b, &in));
	r = check_against_kernel(&in);
	if (r == T_PASS && (in.flags & (REGBUF_BUF_F_COALESCED | REGBUF_BUF_F_MIXED) ||
			    in.nr_segs != N || in.nr_phys_segs != N))
		r = T_FAILF("flags %#x segs %u phys %u: the repeated page was coalesced", in.flags,
			    in.nr_segs, in.nr_phys_segs);
	unreg_one(t, b);
	if (r == T_PASS) {
		t_ok(reg_one(&t, area, N * PG, 0, &b, &in));
		if (in.nr_segs != N)
			r = T_FAILF("PAGEMAP_SCAN path: %u segs", in.nr_segs);
		unreg_one(t, b);
	}
	munmap(area, N * PG);
	close(fd);
	return r;
}

/*
 * The same with a huge folio: pages of one shmem THP mapped in a shuffled
 * order, a page repeated, then the whole folio twice back to back
 * (legitimately two segments).  Needs shmem THP: shmem_enabled is switched to
 * "advise" for the test and restored.
 */
static int sys_cve_shmem_thp_shuffled(void)
{
	static const char *knob = "/sys/kernel/mm/transparent_hugepage/shmem_enabled";
	static const int order[] = { 5, 4, 6, 6, 7 };
	enum { NO = sizeof(order) / sizeof(order[0]) };
	char old[64] = "", *s, *e, *big, *area, *twice;
	struct regbuf_table *t;
	struct regbuf_buf *b;
	struct regbuf_buf_info in;
	uint64_t head, nr;
	int fd, i, kfd, r = need_proc();

	if (r != T_PASS)
		return r;
	kfd = open(knob, O_RDWR);
	if (kfd < 0 || read(kfd, old, sizeof(old) - 1) <= 0)
		return t_skip("no %s", knob);
	s = strchr(old, '[');
	e = s ? strchr(s, ']') : NULL;
	if (!s || !e)
		return t_skip("cannot parse %s", knob);
	*e = 0;
	s++;
	if (pwrite(kfd, "advise", 6, 0) != 6) {
		close(kfd);
		return t_skip("cannot set %s to advise (as root)", knob);
	}
	fd = memfd_create("regbuf-cve-thp", 0);
	if (fd < 0 || ftruncate(fd, 2 * MiB)) {
		r = t_broken("memfd");
		goto out_knob;
	}
	area = mmap(NULL, 4 * MiB, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	big = (char *)(((uintptr_t)area + (uintptr_t)(2 * MiB - 1)) & ~(uintptr_t)(2 * MiB - 1));
	if (mmap(big, 2 * MiB, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd, 0) != big) {
		r = t_broken("mmap");
		goto out_fd;
	}
	madvise(big, 2 * MiB, MADV_HUGEPAGE);
	memset(big, 1, 2 * MiB);
	folio_of(pfn_of(big), &head, &nr);
	if (nr != 512) {
		r = t_skip("shmem did not allocate a THP");
		goto out_area;
	}
	/* Pages 5 4 6 6 7 of the folio at consecutive VAs. */
	twice = mmap(NULL, 7 * MiB + NO * PG, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	for (i = 0; i < NO; i++)
		if (mmap(twice + i * PG, PG, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED |
			 MAP_POPULATE, fd, (off_t)order[i] * PG) != twice + i * PG) {
			r = t_broken("mmap page");
			goto out_twice;
		}
	for (i = 0; i < NO; i++)
		t_check_eq(pfn_of(twice + i * PG), head + (uint64_t)order[i]);
	r = T_PASS;
	t_ok(reg_one(&t, twice, NO * PG, REGBUF_TABLE_F_LAYOUT_PFN | REGBUF_TABLE_F_KERNEL_EXACT,
		     &b, &in));
	r = check_against_kernel(&in);
	if (r == T_PASS && ((in.flags & REGBUF_BUF_F_COALESCED) || in.nr_segs != NO))
		r = T_FAILF("shuffled THP pages: flags %#x segs %u", in.flags, in.nr_segs);
	unreg_one(t, b);
	/* Beyond the kernel: runs {5} {4} {6} {6, 7}, never longer. */
	if (r == T_PASS) {
		t_ok(reg_one(&t, twice, NO * PG, REGBUF_TABLE_F_LAYOUT_PFN, &b, &in));
		r = check_against_kernel(&in);
		if (r == T_PASS && (!(in.flags & REGBUF_BUF_F_MIXED) || in.nr_segs != 4))
			r = T_FAILF("runs: flags %#x segs %u", in.flags, in.nr_segs);
		unreg_one(t, b);
	}
	/* Item 14: the whole folio mapped twice, back to back, by PTEs. */
	if (r == T_PASS) {
		char *w = twice + NO * PG;

		w = (char *)(((uintptr_t)w + (uintptr_t)(2 * MiB - 1)) & ~(uintptr_t)(2 * MiB - 1));
		if (mmap(w, 2 * MiB, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED | MAP_POPULATE,
			 fd, 0) != w ||
		    mmap(w + 2 * MiB, 2 * MiB, PROT_READ | PROT_WRITE,
			 MAP_SHARED | MAP_FIXED | MAP_POPULATE, fd, 0) != w + 2 * MiB) {
			r = t_skip("no room for the double mapping");
			goto out_twice;
		}
		t_ok(reg_one(&t, w, 4 * MiB, REGBUF_TABLE_F_LAYOUT_PFN, &b, &in));
		r = check_against_kernel(&in);
		if (r == T_PASS && (!(in.flags & REGBUF_BUF_F_COALESCED) || in.nr_segs != 2 ||
				    in.segs[1].addr != (uintptr_t)w + 2 * MiB))
			r = T_FAILF("folio twice: flags %#x segs %u", in.flags, in.nr_segs);
		unreg_one(t, b);
	}
out_twice:
	munmap(twice, 7 * MiB + NO * PG);
out_area:
	munmap(area, 4 * MiB);
out_fd:
	close(fd);
out_knob:
	if (pwrite(kfd, s, strlen(s), 0) < 0)
		r = T_FAILF("could not restore %s to %s", knob, s);
	close(kfd);
	return r;
}

/* Registration refuses unmapped memory (the kernel's pin would fail: -EFAULT). */
static int sys_unmapped_range_efault(void)
{
	struct regbuf_table *t;
	char *p = mmap(NULL, 3 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	struct iovec iov = { p, 3 * PG };

	if (p == MAP_FAILED)
		return t_broken("mmap");
	munmap(p + PG, PG);
	t_ok(regbuf_table_create(&t, 0));
	t_check_eq(regbuf_table_register(t, &iov, 1, 0), -EFAULT);
	regbuf_table_destroy(t);
	munmap(p, 3 * PG);
	return T_PASS;
}

/* Bytes of [p, p + len) PAGEMAP_SCAN reports as @cat (PAGE_IS_*), or -errno. */
static long long scan_bytes(const void *p, uint64_t len, uint64_t cat)
{
	struct page_region vec[64];
	struct pm_scan_arg a;
	long long sum = 0;
	long n, i;

	memset(&a, 0, sizeof(a));
	a.size = sizeof(a);
	a.start = (uint64_t)(uintptr_t)p;
	a.end = a.start + len;
	a.vec = (uint64_t)(uintptr_t)vec;
	a.vec_len = 64;
	a.category_mask = cat;
	a.return_mask = cat;
	n = ioctl(pagemap_fd, PAGEMAP_SCAN, &a);
	if (n < 0)
		return -errno;
	for (i = 0; i < n; i++)
		sum += (long long)(vec[i].end - vec[i].start);
	return sum;
}

/*
 * Memory that was only read maps the shared zero page (the huge zero page
 * for THP): the pin write-faults it, so registration must fault it first and
 * read the layout of what the fault brought, exactly - not the zero page's,
 * nor an upper bound.
 */
static int sys_zero_page_faulted_first(void)
{
	volatile char sink = 0;
	struct regbuf_table *t;
	struct regbuf_buf *b;
	struct regbuf_buf_info in;
	char *raw, *p;
	uint64_t lens[2] = { 256 * KiB, 4 * MiB }, i;
	unsigned int k;

	pagemap_fd = pagemap_fd < 0 ? open("/proc/self/pagemap", O_RDONLY) : pagemap_fd;
	if (pagemap_fd < 0)
		return t_skip("no /proc/self/pagemap");
	for (k = 0; k < 2; k++) {
		raw = mmap(NULL, lens[k] + 2 * MiB, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		t_check(raw != MAP_FAILED);
		p = (char *)(((uintptr_t)raw + (uintptr_t)(2 * MiB - 1)) & ~(uintptr_t)(2 * MiB - 1));
		madvise(p, lens[k], k ? MADV_HUGEPAGE : MADV_NOHUGEPAGE);
		for (i = 0; i < lens[k]; i += PG)
			sink += p[i];
		if (scan_bytes(p, lens[k], PAGE_IS_PFNZERO) != (long long)lens[k]) {
			munmap(raw, lens[k] + 2 * MiB);
			if (k)
				break;	/* no huge zero page here: the 4 KiB case stands */
			return t_skip("reading memory did not map the zero page (PAGEMAP_SCAN, 6.7+)");
		}
		t_ok(reg_one(&t, p, lens[k], 0, &b, &in));
		if (scan_bytes(p, lens[k], PAGE_IS_PFNZERO) != 0 ||
		    scan_bytes(p, lens[k], PAGE_IS_PRESENT) != (long long)lens[k])
			return T_FAILF("%llu KiB: still the zero page, or not present, after "
				       "registration", (unsigned long long)(lens[k] >> 10));
		if (!(in.flags & REGBUF_BUF_F_EXACT) || (in.flags & REGBUF_BUF_F_UPPER_BOUND))
			return T_FAILF("%llu KiB: flags %#x, want an exact layout",
				       (unsigned long long)(lens[k] >> 10), in.flags);
		unreg_one(t, b);
		munmap(raw, lens[k] + 2 * MiB);
	}
	(void)sink;
	return T_PASS;
}

/* ---------------------------------------------------------------------- */
/* Measurements: printed, never asserted. */

static double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

/*
 * Made-up buffer addresses for the measurements: registering them checks the
 * folio-size hint with PAGEMAP_SCAN, so they must be a hole in this process
 * (a fixed address can be sanitizer memory: TSan maps 0x7e0000000000).
 */
static uint64_t fake_base;

static uint64_t fake_hole(uint64_t len)
{
	void *p = mmap(NULL, len + GiB, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
		       -1, 0);

	if (p == MAP_FAILED)
		return UINT64_C(0x7e0000000000);
	munmap(p, len + GiB);
	return ((uint64_t)(uintptr_t)p + GiB - 1) & ~(GiB - 1);
}

/* Median of @reps registrations of [p, p + len) with @flags (hint: @shift). */
static double time_register(void *p, uint64_t len, unsigned int flags, uint8_t shift, int reps,
			    uint32_t *segs)
{
	double t[16], x;
	int i, j;

	for (i = 0; i < reps; i++) {
		struct regbuf_table *tb;
		struct iovec iov = { p, len };
		struct regbuf_buf *b;
		struct regbuf_buf_info in;
		double t0;
		int r;

		if (regbuf_table_create(&tb, 0))
			return -1;
		t0 = now_us();
		r = shift ? regbuf_table_register_hinted(tb, &iov, &shift, 1, flags) :
			    regbuf_table_register(tb, &iov, 1, flags);
		t[i] = now_us() - t0;
		if (r) {
			regbuf_table_destroy(tb);
			return r;
		}
		if (!regbuf_table_buf_get(tb, 0, &b)) {
			regbuf_buf_info(b, &in);
			*segs = in.nr_segs;
			regbuf_buf_put(b);
		}
		regbuf_table_destroy(tb);
	}
	for (i = 0; i < reps; i++)
		for (j = i + 1; j < reps; j++)
			if (t[j] < t[i]) {
				x = t[i];
				t[i] = t[j];
				t[j] = x;
			}
	return t[reps / 2];
}

static void print_register(const char *tier, void *p, uint8_t shift)
{
	struct {
		const char *how;
		unsigned int flags;
		uint8_t shift;
		int reps;
	} m[] = {
		{ "hint", 0, shift, 7 },
		{ "pagemap_scan", 0, 0, 5 },
		{ "kpageflags", REGBUF_TABLE_F_LAYOUT_PFN, 0, 3 },
	};
	size_t i;

	for (i = 0; i < sizeof(m) / sizeof(m[0]); i++) {
		uint32_t segs = 0;
		double us = time_register(p, GiB, m[i].flags, m[i].shift, m[i].reps, &segs);

		printf("  measure: register 1 GiB %-3s via %-12s %10.1f us  (%u segs)\n", tier,
		       m[i].how, us, segs);
	}
}

static int measure_register_1g_4k(void)
{
	char *p = map_aligned(GiB, 2 * MiB, MADV_NOHUGEPAGE);

	if (!p)
		return t_skip("cannot map 1 GiB");
	print_register("4K", p, 12);
	munmap(p, GiB);
	return T_PASS;
}

/* Register 1 GiB of @kb kB hugetlb pages (@pages reserved) and print what it cost. */
static int measure_register_hugetlb(const char *name, unsigned long kb, long pages, int map_flag,
				    uint8_t shift)
{
	struct t_hugepages res;
	char *p;
	int r = hp_reserve(&res, kb, pages);

	if (r)
		return r;
	p = map_huge(GiB, map_flag);
	if (p) {
		print_register(name, p, shift);
		munmap(p, GiB);
	}
	t_hugepages_restore(&res);
	return p ? T_PASS : t_skip("mmap(MAP_HUGETLB %s, 1 GiB) failed", name);
}

static int measure_register_1g_2m(void)
{
	return measure_register_hugetlb("2M", 2048, 512, MAP_HUGE_2MB, 21);
}

static int measure_register_1g_1g(void)
{
	return measure_register_hugetlb("1G", 1048576, 1, MAP_HUGE_1GB, 30);
}

static int measure_clone(void)
{
	static const uint32_t sizes[] = { 1, 1024, 16384 };
	struct iovec *iov = calloc(16384, sizeof(*iov));
	uint8_t *shifts = calloc(16384, 1);
	size_t k;
	uint32_t i;

	if (UINTPTR_MAX <= 0xffffffffu)
		return t_skip("32 GiB of made-up addresses need a 64-bit address space");
	fake_base = fake_hole(16384 * 2 * MiB);
	for (i = 0; i < 16384; i++) {
		/* Made-up addresses, hinted: registration cost is not what is measured. */
		iov[i].iov_base = (void *)(uintptr_t)(fake_base + (uint64_t)i * 2 * MiB);
		iov[i].iov_len = 2 * MiB;
		shifts[i] = 21;
	}
	for (k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
		struct regbuf_table *src, *dst;
		double t0, whole, range;
		int reps = 200, j;

		t_ok(regbuf_table_create(&src, 0));
		t_ok(regbuf_table_register_hinted(src, iov, shifts, sizes[k], 0));
		t_ok(regbuf_table_create(&dst, 0));
		t0 = now_us();
		for (j = 0; j < reps; j++) {
			t_ok(regbuf_table_clone(dst, src, 0, 0, 0, 0));
			t_ok(regbuf_table_unregister(dst));
		}
		whole = (now_us() - t0) / reps;
		t_ok(regbuf_table_register_sparse(dst, sizes[k]));
		t0 = now_us();
		for (j = 0; j < reps; j++)
			t_ok(regbuf_table_clone(dst, src, 0, 0, sizes[k] > 1 ? sizes[k] - 1 : 1,
						REGBUF_TABLE_F_CLONE_REPLACE));
		range = (now_us() - t0) / reps;
		printf("  measure: clone %5u bufs: whole table %8.2f us (incl. unregister), "
		       "range+replace (copy) %8.2f us\n", sizes[k], whole, range);
		regbuf_table_destroy(dst);
		regbuf_table_destroy(src);
	}
	free(iov);
	free(shifts);
	return T_PASS;
}

struct imp_arg {
	struct regbuf_table *t;
	long n;
	double ns;
};

static void *import_loop(void *arg)
{
	struct imp_arg *a = arg;
	uint64_t x = 88172645463325252ULL, sum = 0;
	struct regbuf_seg_iter it;
	double t0 = now_us();
	long i;

	for (i = 0; i < a->n; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		if (!regbuf_table_import(a->t, (uint32_t)(x & 7),
					 fake_base + (x & 7) * GiB + (x >> 40) % GiB
					 / 2, 65536, &it))
			sum += it.nr_segs;
	}
	a->ns = (now_us() - t0) * 1000 / a->n + (double)(sum == 0);
	return NULL;
}

/* regbuf_table_import() cost, one thread and two threads on the same table. */
static int measure_import(void)
{
	struct iovec iov[8];
	uint8_t shifts[8];
	struct imp_arg a[2];
	pthread_t th;
	struct regbuf_table *t;
	int i;

	if (UINTPTR_MAX <= 0xffffffffu)
		return t_skip("8 GiB of made-up addresses need a 64-bit address space");
	fake_base = fake_hole(8 * GiB);
	for (i = 0; i < 8; i++) {
		iov[i].iov_base = (void *)(uintptr_t)(fake_base + (uint64_t)i * GiB);
		iov[i].iov_len = GiB;
		shifts[i] = 21;
	}
	t_ok(regbuf_table_create(&t, 0));
	t_ok(regbuf_table_register_hinted(t, iov, shifts, 8, 0));
	a[0] = (struct imp_arg){ t, 5000000, 0 };
	import_loop(&a[0]);
	printf("  measure: import 64 KiB from 1 GiB/2M buffers: %.1f ns (1 thread)\n", a[0].ns);
	a[1] = a[0];
	if (pthread_create(&th, NULL, import_loop, &a[1]) == 0) {
		import_loop(&a[0]);
		pthread_join(th, NULL);
		printf("  measure: import: %.1f / %.1f ns (2 threads, same table)\n", a[0].ns,
		       a[1].ns);
	}
	regbuf_table_destroy(t);
	return T_PASS;
}

/*
 * REGBUF_TABLE_F_LAYOUT_PFN without the privilege to read frame numbers:
 * -EPERM, the table stays unregistered, and the default discovery still works.
 */
static int pfn_layout_unprivileged_eperm(void)
{
	pid_t pid;
	int st;

	pid = fork();
	if (pid < 0)
		return t_broken("fork: %s", strerror(errno));
	if (pid == 0) {
		static char mem[4 * 4096] __attribute__((aligned(4096)));
		struct iovec iov = { mem, sizeof(mem) };
		struct regbuf_table *t;
		int code = 0;

		memset(mem, 1, sizeof(mem));
		/* As root, become nobody (dumpable again, so /proc/self/pagemap opens). */
		if (!geteuid() && (setresgid(65534, 65534, 65534) || setresuid(65534, 65534, 65534) ||
				   prctl(PR_SET_DUMPABLE, 1, 0, 0, 0)))
			_exit(2);
		if (regbuf_table_create(&t, 0))
			_exit(3);
		if (regbuf_table_register(t, &iov, 1, REGBUF_TABLE_F_LAYOUT_PFN) != -EPERM)
			code = 4;
		else if (regbuf_table_nr(t) != 0)
			code = 5;
		else if (regbuf_table_register(t, &iov, 1, 0))
			code = 6;
		regbuf_table_destroy(t);
		_exit(code);
	}
	if (waitpid(pid, &st, 0) != pid)
		return t_broken("waitpid");
	if (!WIFEXITED(st) || WEXITSTATUS(st))
		return T_FAILF("child failed at step %d", WIFEXITED(st) ? WEXITSTATUS(st) : -1);
	return T_PASS;
}

static const struct t_case cases[] = {
	T_CASE(sys_4k_pages),
	T_CASE(sys_thp_madvise),
	T_CASE(sys_thp_mremap_misaligned_half),
	T_CASE(sys_hugetlb_2m),
	T_CASE(sys_hugetlb_1g_straddle),
	T_CASE(sys_cve_same_page_mapped_n_times),
	T_CASE(sys_cve_shmem_thp_shuffled),
	T_CASE(sys_unmapped_range_efault),
	T_CASE(sys_zero_page_faulted_first),
	T_CASE(pfn_layout_unprivileged_eperm),
	T_CASE(measure_register_1g_4k),
	T_CASE(measure_register_1g_2m),
	T_CASE(measure_register_1g_1g),
	T_CASE(measure_clone),
	T_CASE(measure_import),
};

int main(int argc, char **argv)
{
	return t_main("table", cases, sizeof(cases) / sizeof(cases[0]), argc, argv);
}
