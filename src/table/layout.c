// SPDX-License-Identifier: MIT
/*
 * regbuf table - folio layout discovery.
 *
 * The goal is the layout io_sqe_buffer_register() will see, so discovery
 * first does what the pin does to the memory: it refuses what
 * pin_user_pages_fast(FOLL_WRITE | FOLL_LONGTERM) refuses (holes, read-only
 * VMAs, shared mappings of files that need dirty tracking) and faults in
 * what is not faulted yet (MADV_POPULATE_WRITE, a write fault like the
 * pin's).  Then, cheapest first:
 *   1. a hint (regbuf's own arenas know their folio size), trusted only when
 *      one PAGEMAP_SCAN shows the range huge-mapped: the kernel may split a
 *      THP at any time;
 *   2. PAGEMAP_SCAN (6.7+, unprivileged): PMD/hugetlb-mapped runs are whole
 *      folios (PROCMAP_QUERY, 6.11+, gives hugetlb page sizes); memory mapped
 *      by page table entries may still be a large folio (a THP whose PMD was
 *      split, mTHP, shmem, a THP moved by mremap()): its folios are read from
 *      pagemap + /proc/kpageflags when readable (CAP_SYS_ADMIN), only as far
 *      as they can change the kernel's answer; otherwise it is described per
 *      page and the buffer is marked an upper bound;
 *   3. /proc/self/pagemap + /proc/kpageflags for every page (before 6.7, or
 *      asked for): exact folios and frame numbers;
 *   4. nothing known: 4 KiB pages, an upper bound.
 * Every method errs on the safe side: when it cannot prove that pages are
 * consecutive pages of one folio, it reports them as separate 4 KiB folios,
 * which the coalescer keeps per page.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "sys/compat.h"
#include "sys/pagemap.h"
#include "sys/sys.h"
#include "layout.h"

#define PMD_SHIFT		21	/* x86-64 PMD: the size of a PMD-mapped THP */
#define PM_BATCH		4096	/* pagemap entries read at once */

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE	23	/* 5.14 */
#endif
/* pagemap: the page is mapped by this process only (not shared copy-on-write). */
#define PM_ENTRY_EXCLUSIVE	(UINT64_C(1) << 56)
#define FS_TMPFS_MAGIC		0x01021994
#define FS_HUGETLBFS_MAGIC	0x958458f6

void table_layout_init(struct table_layout *l, unsigned int source)
{
	memset(l, 0, sizeof(*l));
	l->source = source;
	l->pfn_known = true;
	l->coalesce_ok = true;
}

void table_layout_free(struct table_layout *l)
{
	free(l->ext);
	l->ext = NULL;
	l->nr_ext = l->cap = 0;
}

int table_layout_add(struct table_layout *l, uint64_t folio, uint32_t idx, uint32_t nr,
		     unsigned int shift, uint64_t pfn)
{
	struct table_extent *e;

	if (!nr || shift < TABLE_PAGE_SHIFT || shift > TABLE_MAX_FOLIO_SHIFT ||
	    (uint64_t)idx + nr > (UINT64_C(1) << (shift - TABLE_PAGE_SHIFT)))
		return -EINVAL;
	if (pfn == TABLE_PFN_NONE)
		l->pfn_known = false;
	l->nr_pages += nr;
	if (l->nr_ext) {
		/* The kernel's "same folio and pages[i] == pages[i-1] + 1". */
		e = &l->ext[l->nr_ext - 1];
		if (e->folio == folio && e->shift == shift && e->idx + e->nr == idx &&
		    (pfn == TABLE_PFN_NONE ? e->pfn == TABLE_PFN_NONE :
		     e->pfn != TABLE_PFN_NONE && e->pfn + e->nr == pfn)) {
			e->nr += nr;
			return 0;
		}
	}
	/*
	 * A new extent is a folio boundary for io_check_coalesce_buffer(): the
	 * extent before it is final now.  Leaving the first folio, the last
	 * page seen must be its last page (the head may start mid-folio);
	 * leaving a middle folio, it was seen whole; the next folio has the
	 * first one's size and is entered at its page 0.  Non-consecutive pages
	 * of one folio (a page mapped twice, shuffled pages) start an extent and
	 * then fail the "page 0" test: the CVE-2023-2598 lesson, never "same
	 * folio" alone.  The tail folio may be partial.
	 */
	if (l->nr_ext && l->coalesce_ok) {
		const struct table_extent *first = &l->ext[0], *prev = &l->ext[l->nr_ext - 1];
		uint64_t first_pages = UINT64_C(1) << (first->shift - TABLE_PAGE_SHIFT);

		if ((l->nr_ext == 1 ? prev->idx + prev->nr : prev->nr) != first_pages ||
		    shift != first->shift || idx != 0)
			l->coalesce_ok = false;
	}
	if (l->nr_ext == l->cap) {
		uint32_t cap = l->cap ? l->cap * 2 : 16;

		e = realloc(l->ext, cap * sizeof(*e));
		if (!e)
			return -ENOMEM;
		l->ext = e;
		l->cap = cap;
	}
	e = &l->ext[l->nr_ext++];
	e->folio = folio;
	e->pfn = pfn;
	e->idx = idx;
	e->nr = nr;
	e->shift = (uint8_t)shift;
	return 0;
}

/*
 * Pages [va, end) inside VA-aligned folios of 1 << shift bytes.  The folio
 * identity is the folio's virtual address: distinct VAs are distinct folios
 * as far as we can prove (an alias of the same folio then just fails to
 * merge, which is the safe direction).
 */
static int add_aligned(struct table_layout *l, uint64_t va, uint64_t end, unsigned int shift)
{
	uint64_t fsize = UINT64_C(1) << shift;
	int ret;

	while (va < end) {
		uint64_t base = va & ~(fsize - 1);
		/* No base + fsize: the top folio of the address space would wrap. */
		uint64_t room = fsize - (va - base);
		uint64_t stop = end - va > room ? va + room : end;

		ret = table_layout_add(l, shift == TABLE_PAGE_SHIFT ? va : base,
				       (uint32_t)((va - base) >> TABLE_PAGE_SHIFT),
				       (uint32_t)((stop - va) >> TABLE_PAGE_SHIFT), shift,
				       TABLE_PFN_NONE);
		if (ret)
			return ret;
		va = stop;
	}
	return 0;
}

/*
 * The page size of the hugetlb VMA at @va (PROCMAP_QUERY, 6.11+), 0 when it
 * is not hugetlb, VMA_PAGE_UNKNOWN when the query is not available.
 */
#define VMA_PAGE_UNKNOWN	1
static uint64_t vma_page_size(int maps_fd, uint64_t va, uint64_t *vma_end)
{
	struct procmap_query q;

	if (sys_vma_query(maps_fd, va, false, &q, NULL, 0))
		return VMA_PAGE_UNKNOWN;
	*vma_end = q.vma_end;
	return q.vma_page_size > TABLE_PAGE_SIZE ? q.vma_page_size : 0;
}

/*
 * A run reported PAGE_IS_HUGE: PMD-mapped THP or hugetlb.  hugetlb VMAs tell
 * their page size through PROCMAP_QUERY; anything else huge is a PMD mapping.
 */
static int add_huge(struct table_layout *l, int maps_fd, uint64_t va, uint64_t end)
{
	int ret;

	while (va < end) {
		uint64_t vma_end = end, psz = vma_page_size(maps_fd, va, &vma_end);
		unsigned int shift = PMD_SHIFT;

		/* Unknown: a 1 GiB hugetlb page would be seen as 2 MiB pieces, fewer bvecs. */
		if (psz == VMA_PAGE_UNKNOWN)
			l->inexact = true;
		else if (psz && !(psz & (psz - 1)) &&
			 psz <= (UINT64_C(1) << TABLE_MAX_FOLIO_SHIFT))
			shift = (unsigned int)__builtin_ctzll(psz);
		if (vma_end > end || vma_end <= va)
			vma_end = end;
		ret = add_aligned(l, va, vma_end, shift);
		if (ret)
			return ret;
		va = vma_end;
	}
	return 0;
}

static int check_vmas(int maps_fd, uint64_t start, uint64_t end);

/* One kpageflags entry; frames past the end read as no flags. */
static int kpf_flags(int kpf, uint64_t pfn, uint64_t *flags)
{
	long got = sys_read_entries(kpf, pfn, flags, 1);

	if (got < 0)
		return (int)got;
	if (!got)
		*flags = 0;
	return 0;
}

#define KPF_IS(f, bit)	((f) & (UINT64_C(1) << (bit)))

/*
 * The folio containing @pfn from /proc/kpageflags; *@nr on entry: the size
 * to try first (the previous folio's), or 0.  Folios are naturally
 * aligned powers of two, which lets a few single-entry reads find it instead
 * of reading every tail (each entry costs the kernel a page lookup): the
 * head is the first compound head met at @pfn rounded down to 2, 4, 8...
 * pages (everything closer is a tail of the same folio), and the size is the
 * first power of two n for which head + n is no longer a tail.  Anything
 * inconsistent is reported as an order-0 page (the safe answer).
 */
static int find_folio(int kpf, uint64_t pfn, uint64_t *head, uint64_t *nr)
{
	const unsigned int max_order = TABLE_MAX_FOLIO_SHIFT - TABLE_PAGE_SHIFT;
	uint64_t f, h = pfn, n = *nr;
	unsigned int k;
	int ret;

	ret = kpf_flags(kpf, pfn, &f);
	if (ret)
		return ret;
	/*
	 * A head where a folio of the previous one's size n is expected: a tail
	 * at head + n/2 can only belong to a folio of at least n pages starting
	 * here (folios are aligned), and no tail at head + n makes it exactly n.
	 */
	if (KPF_IS(f, KPF_COMPOUND_HEAD) && n >= 2 && !(pfn & (n - 1))) {
		uint64_t mid, after;

		ret = kpf_flags(kpf, pfn + n / 2, &mid);
		if (!ret)
			ret = kpf_flags(kpf, pfn + n, &after);
		if (ret)
			return ret;
		if (KPF_IS(mid, KPF_COMPOUND_TAIL) && !KPF_IS(after, KPF_COMPOUND_TAIL)) {
			*head = pfn;
			return 0;
		}
	}
	if (KPF_IS(f, KPF_COMPOUND_TAIL)) {
		for (k = 1; k <= max_order; k++) {
			h = pfn & ~((UINT64_C(1) << k) - 1);
			ret = kpf_flags(kpf, h, &f);
			if (ret)
				return ret;
			if (KPF_IS(f, KPF_COMPOUND_HEAD))
				break;
			if (!KPF_IS(f, KPF_COMPOUND_TAIL))
				goto order0;
		}
		if (k > max_order)
			goto order0;
	} else if (!KPF_IS(f, KPF_COMPOUND_HEAD)) {
		goto order0;
	}
	for (n = 1; n <= (UINT64_C(1) << max_order); n <<= 1) {
		ret = kpf_flags(kpf, h + n, &f);
		if (ret)
			return ret;
		if (!KPF_IS(f, KPF_COMPOUND_TAIL))
			break;
	}
	if (n < 2 || n > (UINT64_C(1) << max_order) || (h & (n - 1)) || pfn >= h + n)
		goto order0;
	*head = h;
	*nr = n;
	return 0;
order0:
	*head = pfn;
	*nr = 1;
	return 0;
}

static int discover_kpageflags(struct table_layout *l, uint64_t start, uint64_t end)
{
	uint64_t pm[PM_BATCH], va, head = 0, nr = 0;
	int pm_fd, kpf_fd, maps_fd, ret = 0;
	size_t i, n;

	maps_fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
	ret = check_vmas(maps_fd, start, end);
	if (maps_fd >= 0)
		close(maps_fd);
	if (ret)
		return ret;
	/* Fault in what the pin would fault in (no PAGEMAP_SCAN to say where). */
	ret = sys_madvise((void *)(uintptr_t)start, end - start, MADV_POPULATE_WRITE);
	if (ret == -ENOMEM)
		return ret;
	if (ret == -EINVAL)
		l->inexact = true;
	else if (ret)
		return -EFAULT;
	pm_fd = sys_pagemap_open();
	if (pm_fd < 0)
		return pm_fd;
	kpf_fd = sys_kpageflags_open();
	if (kpf_fd < 0) {
		ret = kpf_fd == -EACCES ? -EPERM : kpf_fd;
		goto out_close_pm;
	}
	for (va = start; va < end; va += n << TABLE_PAGE_SHIFT) {
		n = (end - va) >> TABLE_PAGE_SHIFT;
		if (n > PM_BATCH)
			n = PM_BATCH;
		ret = sys_read_entries_all(pm_fd, va >> TABLE_PAGE_SHIFT, pm, n);
		if (ret)
			goto out;
		for (i = 0; i < n; i++) {
			uint64_t page_va = va + (i << TABLE_PAGE_SHIFT), pfn;

			if (!(pm[i] & PM_ENTRY_PRESENT)) {
				/* Not faulted in (or swapped): nothing to prove. */
				l->inexact = true;
				ret = table_layout_add(l, page_va, 0, 1, TABLE_PAGE_SHIFT,
						       TABLE_PFN_NONE);
				if (ret)
					goto out;
				continue;
			}
			pfn = pm[i] & PM_ENTRY_PFN_MASK;
			if (!pfn) {
				/* Frame numbers hidden: no CAP_SYS_ADMIN. */
				ret = -EPERM;
				goto out;
			}
			if (!nr || pfn < head || pfn >= head + nr) {
				ret = find_folio(kpf_fd, pfn, &head, &nr);
				if (ret)
					goto out;
			}
			ret = table_layout_add(l, head, (uint32_t)(pfn - head), 1,
					       TABLE_PAGE_SHIFT + (unsigned int)__builtin_ctzll(nr),
					       pfn);
			if (ret)
				goto out;
		}
	}
out:
	close(kpf_fd);
out_close_pm:
	close(pm_fd);
	return ret;
}

/*
 * A shared mapping may be pinned for writing only when its file needs no
 * dirty tracking: shmem (memfd, MAP_SHARED|MAP_ANONYMOUS, SysV shm, tmpfs)
 * and hugetlbfs (writable_file_mapping_allowed(), vma_needs_dirty_tracking()).
 * The filesystem is read through /proc/self/map_files (privileged), else from
 * the names the kernel gives its internal shmem files, else from the path or,
 * for a deleted file, its directory.  Unknown stays allowed.
 */
static bool shared_file_pinnable(uint64_t start, uint64_t end, const char *name)
{
	static const char *const shmem_names[] = { "/memfd:", "/dev/zero", "/SYSV" };
	char path[4096], *slash;
	struct statfs sfs;
	size_t i, n;

	snprintf(path, sizeof(path), "/proc/self/map_files/%llx-%llx", (unsigned long long)start,
		 (unsigned long long)end);
	if (statfs(path, &sfs)) {
		for (i = 0; i < sizeof(shmem_names) / sizeof(shmem_names[0]); i++)
			if (!strncmp(name, shmem_names[i], strlen(shmem_names[i])))
				return true;
		n = strlen(name);
		if (name[0] != '/' || n >= sizeof(path))
			return true;
		memcpy(path, name, n + 1);
		if (n > 10 && !strcmp(path + n - 10, " (deleted)")) {
			slash = strrchr(path, '/');
			slash[slash == path ? 1 : 0] = 0;
		}
		if (statfs(path, &sfs))
			return true;
	}
	return sfs.f_type == FS_TMPFS_MAGIC || sfs.f_type == (typeof(sfs.f_type))FS_HUGETLBFS_MAGIC;
}

/* One VMA as the refusal check needs it. */
struct vma_info {
	uint64_t start, end;
	bool writable, shared, file;
	char name[4096];
};

/* /proc/self/maps, for kernels without PROCMAP_QUERY: the VMA covering or after @addr. */
static int vma_from_maps(uint64_t addr, struct vma_info *v)
{
	unsigned long long a, b, ino;
	char perms[8], line[4200];
	int used, ret = -ENOENT;
	FILE *f;

	f = fopen("/proc/self/maps", "re");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%llx-%llx %7s %*s %*s %llu %n", &a, &b, perms, &ino, &used) < 4 ||
		    b <= addr)
			continue;
		v->start = a;
		v->end = b;
		v->writable = perms[1] == 'w';
		v->shared = perms[3] == 's';
		v->file = ino != 0;
		snprintf(v->name, sizeof(v->name), "%s", line + used);
		v->name[strcspn(v->name, "\n")] = 0;
		ret = 0;
		break;
	}
	fclose(f);
	return ret;
}

/* The VMA covering or after @addr: 0, -ENOENT when there is none, -errno. */
static int vma_find(int maps_fd, uint64_t addr, struct vma_info *v)
{
	struct procmap_query q;
	int ret = sys_vma_query(maps_fd, addr, true, &q, v->name, sizeof(v->name));

	if (ret == -ENOENT)
		return ret;
	if (ret)
		return vma_from_maps(addr, v);
	v->start = q.vma_start;
	v->end = q.vma_end;
	v->writable = q.vma_flags & PROCMAP_QUERY_VMA_WRITABLE;
	v->shared = q.vma_flags & PROCMAP_QUERY_VMA_SHARED;
	v->file = q.inode != 0;
	return 0;
}

/*
 * io_pin_pages(): pin_user_pages_fast(FOLL_WRITE | FOLL_LONGTERM) fails the
 * whole buffer with -EFAULT on an address outside any VMA, on a VMA without
 * write permission (check_vma_flags()) and on a shared mapping of a file
 * that needs dirty tracking (since Linux 6.5; before, io_uring refused every
 * file but shmem and hugetlbfs itself, with -EOPNOTSUPP).
 */
static int check_vmas(int maps_fd, uint64_t start, uint64_t end)
{
	struct vma_info *v = malloc(sizeof(*v));
	uint64_t cur = start;
	int ret = 0;

	if (!v)
		return -ENOMEM;
	while (cur < end) {
		ret = vma_find(maps_fd, cur, v);
		if (ret == -ENOENT || (!ret && v->start > cur) ||
		    (!ret && (!v->writable ||
			      (v->shared && v->file &&
			       !shared_file_pinnable(v->start, v->end, v->name))))) {
			ret = -EFAULT;
			break;
		}
		if (ret) {
			/* Cannot read the VMAs: the walk below still finds holes. */
			ret = 0;
			break;
		}
		cur = v->end;
	}
	free(v);
	return ret;
}

/* A piece of the range as PAGEMAP_SCAN reported it. */
struct region {
	uint64_t start, end, cat;
	bool cow;		/* the pin will replace its pages (copy-on-write) */
	bool anon;		/* private anonymous memory: shared only after fork() */
};

struct regions {
	struct region *r;
	size_t nr, cap;
	bool unfaulted;		/* some memory is not faulted in, or maps the zero page */
};

static int collect_region(void *arg, uint64_t start, uint64_t end, uint64_t cat)
{
	struct regions *rs = arg;

	if (cat & SYS_PM_UNREPORTED)
		return -EFAULT;	/* outside any VMA: the pin would fail */
	if (!(cat & PAGE_IS_PRESENT) || (cat & PAGE_IS_PFNZERO))
		rs->unfaulted = true;
	if (rs->nr == rs->cap) {
		size_t cap = rs->cap ? rs->cap * 2 : 16;
		struct region *r = realloc(rs->r, cap * sizeof(*r));

		if (!r)
			return -ENOMEM;
		rs->r = r;
		rs->cap = cap;
	}
	rs->r[rs->nr++] = (struct region){ start, end, cat, false, false };
	return 0;
}

static int scan(int pm_fd, uint64_t start, uint64_t end, struct regions *rs)
{
	rs->nr = 0;
	rs->unfaulted = false;
	return sys_pagemap_scan(pm_fd, start, end, 0,
				PAGE_IS_PRESENT | PAGE_IS_HUGE | PAGE_IS_PFNZERO,
				collect_region, rs);
}

/*
 * Write-fault what the pin would write-fault: pages not faulted in, and the
 * shared zero page (the pin breaks COW, so the kernel will see new folios:
 * THPs where the VMA and alignment allow, else whatever the fault gives).
 * Returns 0, 1 when the kernel cannot populate (the layout is then only an
 * upper bound), or -errno as the pin would fail.
 */
static int populate(const struct regions *rs)
{
	size_t i;
	int ret;

	for (i = 0; i < rs->nr; i++) {
		const struct region *r = &rs->r[i];

		if ((r->cat & PAGE_IS_PRESENT) && !(r->cat & PAGE_IS_PFNZERO) && !r->cow)
			continue;
		ret = sys_madvise((void *)(uintptr_t)r->start, r->end - r->start,
				  MADV_POPULATE_WRITE);
		if (ret == -EINVAL)
			return 1;	/* before 5.14, or a VM_PFNMAP/VM_IO mapping */
		if (ret)
			return ret == -ENOMEM ? -ENOMEM : -EFAULT;
	}
	return 0;
}

/* Reading frames and folios for memory mapped by page table entries. */
struct pte_ctx {
	struct table_layout *l;
	int pm_fd;
	int kpf_fd;		/* -1 until opened, -2 when it cannot be */
	bool anon;		/* the run is anonymous memory (not page cache) */
	bool cow_done;		/* copy-on-write was broken once already */
	uint64_t head, nr;	/* the last folio found */
	uint64_t pm[PM_BATCH];
};

/*
 * Pages [va, end), mapped by page table entries: they may still be pages of
 * large folios.  Read their frames and folios, but only while they can
 * change the kernel's answer (table_layout_settled()); past that point, and
 * when frames cannot be read, per page.
 */
static int add_pte_run(struct pte_ctx *c, uint64_t va, uint64_t end)
{
	struct table_layout *l = c->l;
	size_t i, n, batch = 16;
	int ret;

	if (c->kpf_fd == -1) {
		c->kpf_fd = sys_kpageflags_open();
		if (c->kpf_fd < 0)
			c->kpf_fd = -2;
	}
	while (va < end) {
		if (table_layout_settled(l) || c->kpf_fd < 0)
			goto per_page;
		/* Small reads first: order-0 memory is settled by its first page. */
		n = (end - va) >> TABLE_PAGE_SHIFT;
		if (n > batch)
			n = batch;
		if (batch < PM_BATCH)
			batch *= 2;
		ret = sys_read_entries_all(c->pm_fd, va >> TABLE_PAGE_SHIFT, c->pm, n);
		if (ret)
			return ret;
		for (i = 0; i < n; i++, va += TABLE_PAGE_SIZE) {
			uint64_t e = c->pm[i], pfn = e & PM_ENTRY_PFN_MASK;

			if (table_layout_settled(l))
				goto per_page;
			/* Swapped out, or frames hidden (no CAP_SYS_ADMIN). */
			if (!(e & PM_ENTRY_PRESENT) || !pfn)
				goto per_page;
			/* Anonymous and shared copy-on-write: the pin copies it (find_cow()). */
			if (c->anon && !(e & PM_ENTRY_EXCLUSIVE)) {
				if (!c->cow_done)
					return -EAGAIN;
				goto per_page;	/* still shared after breaking it: unknown */
			}
			if (!c->nr || pfn < c->head || pfn >= c->head + c->nr) {
				ret = find_folio(c->kpf_fd, pfn, &c->head, &c->nr);
				if (ret)
					return ret;
			}
			ret = table_layout_add(l, TABLE_FOLIO_PFN | c->head, (uint32_t)(pfn - c->head),
					       1, TABLE_PAGE_SHIFT +
					       (unsigned int)__builtin_ctzll(c->nr), pfn);
			if (ret)
				return ret;
		}
	}
	return 0;
per_page:
	/* Unknown folios could still have changed the kernel's answer. */
	if (!table_layout_settled(l))
		l->inexact = true;
	return add_aligned(l, va, end, TABLE_PAGE_SHIFT);
}

/*
 * Pages the pin will replace: in a private mapping, FOLL_WRITE breaks
 * copy-on-write, so page cache pages (a private file mapping) and anonymous
 * pages still shared with another process (after fork()) become new pages.
 * For large folios that changes the layout (a shared PMD-mapped THP is split
 * and copied page by page), so such regions are write-faulted first, like
 * unfaulted ones.  One pagemap entry per 2 MiB tells for huge mappings;
 * memory mapped by page table entries is checked where its folios are read
 * (add_pte_run()).  Returns true when some region needs it.
 */
static _Atomic bool forked;

static void note_fork(void)
{
	atomic_store_explicit(&forked, true, memory_order_relaxed);
}

/*
 * Anonymous memory is shared copy-on-write only after a fork(), in the
 * parent and in the child: reading one pagemap entry per 2 MiB costs about
 * as much as the kernel's own registration of THP memory, so it is done
 * only in a process that forked (or was forked) since the library loaded.
 */
__attribute__((constructor)) static void watch_fork(void)
{
	pthread_atfork(NULL, note_fork, note_fork);
}

static bool find_cow(int pm_fd, int maps_fd, struct regions *rs)
{
	bool any = false, fork_seen = atomic_load_explicit(&forked, memory_order_relaxed);
	struct vma_info *v = malloc(sizeof(*v));
	size_t i;

	if (!v)
		return false;
	for (i = 0; i < rs->nr; i++) {
		struct region *r = &rs->r[i];
		uint64_t va, e;

		if (!(r->cat & PAGE_IS_PRESENT) || (r->cat & PAGE_IS_PFNZERO))
			continue;
		for (va = r->start; va < r->end && !r->cow; va = v->end) {
			if (vma_find(maps_fd, va, v) || v->start > va || v->end <= va)
				break;
			/* Page cache pages of a private file mapping: all replaced. */
			if (v->file && !v->shared)
				r->cow = true;
			r->anon |= !v->file && !v->shared;
		}
		if (r->anon && (r->cat & PAGE_IS_HUGE) && fork_seen) {
			for (va = r->start; va < r->end && !r->cow;
			     va = (va | ((UINT64_C(1) << PMD_SHIFT) - 1)) + 1)
				if (sys_read_entries_all(pm_fd, va >> TABLE_PAGE_SHIFT, &e, 1) ||
				    !(e & PM_ENTRY_EXCLUSIVE))
					r->cow = true;
		}
		any |= r->cow;
	}
	free(v);
	return any;
}

static int discover_default(struct table_layout *l, uint64_t start, uint64_t end)
{
	struct regions rs = { 0 };
	struct pte_ctx *c;
	int maps_fd, ret;
	size_t i;

	c = malloc(sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->l = l;
	c->kpf_fd = -1;
	c->nr = 0;
	c->cow_done = false;
	maps_fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
	ret = check_vmas(maps_fd, start, end);
	if (ret)
		goto out_close_maps;
	c->pm_fd = sys_pagemap_open();
	if (c->pm_fd < 0) {
		ret = c->pm_fd;
		goto out_close_maps;
	}
	ret = scan(c->pm_fd, start, end, &rs);
	if (!ret && (find_cow(c->pm_fd, maps_fd, &rs) | rs.unfaulted)) {
		ret = populate(&rs);
		if (ret == 1)
			l->inexact = true;
		else if (!ret)
			ret = scan(c->pm_fd, start, end, &rs);
		if (ret == 1)
			ret = 0;
		if (!ret)
			find_cow(c->pm_fd, maps_fd, &rs);	/* marks the anonymous regions again */
	}
again:
	for (i = 0; !ret && i < rs.nr; i++) {
		struct region *r = &rs.r[i];

		if (r->cat & PAGE_IS_HUGE) {
			ret = add_huge(l, maps_fd, r->start, r->end);
		} else if ((r->cat & PAGE_IS_PRESENT) && !(r->cat & PAGE_IS_PFNZERO)) {
			c->anon = r->anon && atomic_load_explicit(&forked, memory_order_relaxed);
			ret = add_pte_run(c, r->start, r->end);
			if (ret == -EAGAIN) {
				/* Break copy-on-write as the pin will, then start over. */
				bool inexact = l->inexact;

				c->cow_done = true;
				r->cow = true;
				ret = populate(&rs);
				if (ret == 1)
					inexact = true;
				if (ret >= 0)
					ret = scan(c->pm_fd, start, end, &rs);
				if (!ret)
					find_cow(c->pm_fd, maps_fd, &rs);
				table_layout_free(l);
				table_layout_init(l, l->source);
				l->inexact = inexact;
				c->nr = 0;
				if (!ret)
					goto again;
			}
		} else {
			/* Still not faulted in: whatever the pin's fault brings. */
			l->inexact = true;
			ret = add_aligned(l, r->start, r->end, TABLE_PAGE_SHIFT);
		}
	}
	free(rs.r);
	if (c->kpf_fd >= 0)
		close(c->kpf_fd);
	close(c->pm_fd);
out_close_maps:
	if (maps_fd >= 0)
		close(maps_fd);
	free(c);
	return ret;
}

int table_hint_holds(uint64_t start, uint64_t end, unsigned int shift)
{
	struct regions rs = { 0 };
	uint64_t vma_end = end, psz;
	int pm_fd, maps_fd, ret;

	pm_fd = sys_pagemap_open();
	if (pm_fd < 0)
		return pm_fd;
	ret = scan(pm_fd, start, end, &rs);
	close(pm_fd);
	if (ret) {
		free(rs.r);
		return ret;
	}
	ret = rs.nr == 1 && (rs.r[0].cat & PAGE_IS_HUGE) && (rs.r[0].cat & PAGE_IS_PRESENT);
	free(rs.r);
	if (!ret)
		return 0;
	maps_fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
	psz = vma_page_size(maps_fd, start, &vma_end);
	if (maps_fd >= 0)
		close(maps_fd);
	if (psz == VMA_PAGE_UNKNOWN)
		return -ENOTTY;	/* hugetlb page sizes unreadable: cannot check */
	/* One VMA holds it all, so one query is enough; else prove nothing. */
	if (vma_end < end)
		return 0;
	return psz ? psz == UINT64_C(1) << shift : shift == PMD_SHIFT;
}

int table_layout_discover(struct table_layout *l, uint64_t addr, uint64_t len,
			  unsigned int shift_hint, unsigned int flags)
{
	uint64_t start = addr & TABLE_PAGE_MASK;
	uint64_t end = (addr + len + TABLE_PAGE_SIZE - 1) & TABLE_PAGE_MASK;
	int ret;

	if (flags & REGBUF_TABLE_F_LAYOUT_PFN) {
		table_layout_init(l, REGBUF_LAYOUT_KPAGEFLAGS);
		ret = discover_kpageflags(l, start, end);
		goto out;
	}
	if (flags & REGBUF_TABLE_F_LAYOUT_4K) {
		table_layout_init(l, REGBUF_LAYOUT_4K);
		ret = add_aligned(l, start, end, TABLE_PAGE_SHIFT);
		l->inexact = true;
		goto out;
	}
	if (shift_hint == TABLE_PAGE_SHIFT) {
		/* 4 KiB pages by the caller's word: the kernel may find large folios. */
		table_layout_init(l, REGBUF_LAYOUT_HINT);
		ret = add_aligned(l, start, end, TABLE_PAGE_SHIFT);
		l->inexact = true;
		goto out;
	}
	if (shift_hint) {
		ret = table_hint_holds(start, end, shift_hint);
		if (ret) {
			/* Held, or nothing to check it against: taken as given. */
			table_layout_init(l, REGBUF_LAYOUT_HINT);
			l->unchecked = ret < 0;
			ret = add_aligned(l, start, end, shift_hint);
			goto out;
		}
	}
	table_layout_init(l, REGBUF_LAYOUT_PAGEMAP_SCAN);
	ret = discover_default(l, start, end);
	if (ret == -ENOTTY || ret == -EINVAL || ret == -ENOENT || ret == -EACCES) {
		/* No PAGEMAP_SCAN (before 6.7): exact walk if we may, else 4 KiB. */
		table_layout_free(l);
		table_layout_init(l, REGBUF_LAYOUT_KPAGEFLAGS);
		ret = discover_kpageflags(l, start, end);
		if (ret == -EPERM || ret == -ENOENT || ret == -EACCES) {
			table_layout_free(l);
			table_layout_init(l, REGBUF_LAYOUT_4K);
			ret = add_aligned(l, start, end, TABLE_PAGE_SHIFT);
			l->inexact = true;
		}
	}
out:
	if (ret)
		table_layout_free(l);
	return ret;
}
