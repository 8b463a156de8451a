// SPDX-License-Identifier: MIT
/*
 * regbuf table - folio layout discovery, cheapest first:
 *   1. a hint (regbuf's own arenas know their folio size): no walk at all;
 *   2. PAGEMAP_SCAN (6.7+, unprivileged): PMD/hugetlb-mapped runs vs the
 *      rest, with PROCMAP_QUERY (6.11+) for the hugetlb page size;
 *   3. /proc/self/pagemap + /proc/kpageflags (CAP_SYS_ADMIN): exact folios
 *      (heads and tails) and frame numbers;
 *   4. nothing known: 4 KiB pages.
 * Every method errs on the safe side: when it cannot prove that pages are
 * consecutive pages of one folio, it reports them as separate 4 KiB folios,
 * which the coalescer keeps per page.  Under-estimating a folio (2 MiB pieces
 * of a 1 GiB hugetlb page) is also safe: each piece is contiguous.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "sys/compat.h"
#include "sys/pagemap.h"
#include "layout.h"

#define PMD_SHIFT		21	/* x86-64 PMD: the size of a PMD-mapped THP */
#define PM_BATCH		4096	/* pagemap entries read at once */
#define KPF_BATCH		512

void table_layout_init(struct table_layout *l, unsigned int source)
{
	memset(l, 0, sizeof(*l));
	l->source = source;
	l->pfn_known = true;
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

/* The page size of the hugetlb VMA at @va (PROCMAP_QUERY), or 0 if unknown / not hugetlb. */
static uint64_t vma_page_size(int maps_fd, uint64_t va, uint64_t *vma_end)
{
	struct procmap_query q;

	if (maps_fd < 0)
		return 0;
	memset(&q, 0, sizeof(q));
	q.size = sizeof(q);
	q.query_addr = va;
	if (ioctl(maps_fd, PROCMAP_QUERY, &q) < 0)
		return 0;
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

		if (psz && !(psz & (psz - 1)) && psz <= (UINT64_C(1) << TABLE_MAX_FOLIO_SHIFT))
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

struct scan_ctx {
	struct table_layout *l;
	int maps_fd;
};

static int scan_region(void *arg, uint64_t start, uint64_t end, uint64_t categories)
{
	struct scan_ctx *c = arg;

	/* Pages outside any VMA are not reported: the kernel's pin would fail. */
	if (categories & SYS_PM_UNREPORTED)
		return -EFAULT;
	if (categories & PAGE_IS_HUGE)
		return add_huge(c->l, c->maps_fd, start, end);
	return add_aligned(c->l, start, end, TABLE_PAGE_SHIFT);
}

static int discover_scan(struct table_layout *l, uint64_t start, uint64_t end)
{
	struct scan_ctx c = { l, -1 };
	int fd, ret;

	fd = sys_pagemap_open();
	if (fd < 0)
		return fd;
	c.maps_fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
	ret = sys_pagemap_scan(fd, start, end, 0, PAGE_IS_PRESENT | PAGE_IS_HUGE, scan_region, &c);
	if (c.maps_fd >= 0)
		close(c.maps_fd);
	close(fd);
	return ret;
}

/*
 * The folio containing @pfn from /proc/kpageflags: walk back to the
 * compound head, then forward over the tails.  Folios are naturally aligned
 * powers of two; anything else is reported as an order-0 page.
 */
static int find_folio(int kpf, uint64_t pfn, uint64_t *head, uint64_t *nr)
{
	uint64_t flags[KPF_BATCH], h, n, p;
	int ret, i, got;

	ret = sys_read_entries_all(kpf, pfn, flags, 1);
	if (ret)
		return ret;
	h = pfn;
	if (flags[0] & (UINT64_C(1) << KPF_COMPOUND_TAIL)) {
		/* Entries [from, p) per read, newest first, until the head. */
		const uint64_t max = UINT64_C(1) << (TABLE_MAX_FOLIO_SHIFT - TABLE_PAGE_SHIFT);

		for (p = pfn; p > 0 && pfn - p < max; p -= (uint64_t)got) {
			uint64_t from = p >= KPF_BATCH ? p - KPF_BATCH : 0;

			got = (int)(p - from);
			ret = sys_read_entries_all(kpf, from, flags, (size_t)got);
			if (ret)
				return ret;
			for (i = got - 1; i >= 0; i--) {
				if (flags[i] & (UINT64_C(1) << KPF_COMPOUND_HEAD)) {
					h = from + (uint64_t)i;
					goto found;
				}
				if (!(flags[i] & (UINT64_C(1) << KPF_COMPOUND_TAIL)))
					goto order0;
			}
		}
		goto order0;
	} else if (!(flags[0] & (UINT64_C(1) << KPF_COMPOUND_HEAD))) {
		goto order0;
	}
found:
	/* Count the tails after the head. */
	for (n = 1;; ) {
		long got_ent = sys_read_entries(kpf, h + n, flags, KPF_BATCH);

		if (got_ent < 0)
			return (int)got_ent;
		/* Past the last frame: nothing more is a tail. */
		if (got_ent < KPF_BATCH)
			memset(flags + got_ent, 0, (size_t)(KPF_BATCH - got_ent) * sizeof(flags[0]));
		for (i = 0; i < KPF_BATCH; i++, n++)
			if (!(flags[i] & (UINT64_C(1) << KPF_COMPOUND_TAIL)))
				goto counted;
		if (n > (UINT64_C(1) << (TABLE_MAX_FOLIO_SHIFT - TABLE_PAGE_SHIFT)))
			goto order0;
	}
counted:
	if ((n & (n - 1)) || (h & (n - 1)) || pfn >= h + n)
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
	int pm_fd, kpf_fd, ret = 0;
	size_t i, n;

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
		goto out;
	}
	if (shift_hint) {
		table_layout_init(l, REGBUF_LAYOUT_HINT);
		ret = add_aligned(l, start, end, shift_hint);
		goto out;
	}
	table_layout_init(l, REGBUF_LAYOUT_PAGEMAP_SCAN);
	ret = discover_scan(l, start, end);
	if (ret == -ENOTTY || ret == -EINVAL || ret == -ENOENT || ret == -EACCES) {
		/* No PAGEMAP_SCAN (before 6.7): exact walk if we may, else 4 KiB. */
		table_layout_free(l);
		table_layout_init(l, REGBUF_LAYOUT_KPAGEFLAGS);
		ret = discover_kpageflags(l, start, end);
		if (ret == -EPERM || ret == -ENOENT || ret == -EACCES) {
			table_layout_free(l);
			table_layout_init(l, REGBUF_LAYOUT_4K);
			ret = add_aligned(l, start, end, TABLE_PAGE_SHIFT);
		}
	}
out:
	if (ret)
		table_layout_free(l);
	return ret;
}
