// SPDX-License-Identifier: MIT
/*
 * regbuf - what the kernel says about memory: sysfs modes and counters, and
 * whether a range is really backed by huge pages.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <regbuf/mem.h>

#include "sys/compat.h"
#include "sys/pagemap.h"
#include "sys/sys.h"
#include "mem.h"

int mem_read_mode(const char *path, char *out, size_t len)
{
	char buf[256], *l, *r;
	int err;

	err = sys_read_small(path, buf, sizeof(buf));
	if (err)
		return err;
	l = strchr(buf, '[');
	r = l ? strchr(l, ']') : NULL;
	if (!r || (size_t)(r - l - 1) >= len)
		return -EINVAL;
	memcpy(out, l + 1, (size_t)(r - l - 1));
	out[r - l - 1] = '\0';
	return 0;
}

static int huge_bytes_add(void *arg, uint64_t start, uint64_t end, uint64_t categories)
{
	uint64_t *total = arg;

	if (categories & PAGE_IS_HUGE)
		*total += end - start;
	return 0;
}

/* PMD/hugetlb-mapped bytes of the range: PAGEMAP_SCAN for PAGE_IS_HUGE only. */
static int huge_bytes_scan(uintptr_t addr, size_t len, uint64_t *huge)
{
	uint64_t total = 0;
	int fd, err;

	fd = sys_pagemap_open();
	if (fd < 0)
		return fd;
	err = sys_pagemap_scan(fd, addr, (uint64_t)addr + len, PAGE_IS_HUGE, PAGE_IS_HUGE,
			       huge_bytes_add, &total);
	close(fd);
	if (!err)
		*huge = total;
	return err;
}

/*
 * /proc/self/smaps counts huge pages per VMA (AnonHugePages for anonymous
 * memory, ShmemPmdMapped for shmem).  It can only be attributed to the range
 * when the VMA is exactly the range: a neighbouring arena with the same flags
 * may have been merged into it.
 */
static int huge_bytes_smaps(uintptr_t addr, size_t len, int shmem, uint64_t *huge)
{
	unsigned int want = shmem < 0 ? SYS_VMA_HAS_SHMEM_PMD | SYS_VMA_HAS_ANON_HUGE :
			    shmem ? SYS_VMA_HAS_SHMEM_PMD : SYS_VMA_HAS_ANON_HUGE;
	struct sys_vma *v;
	size_t nr, i;
	int err;

	err = sys_smaps_read(&v, &nr);
	if (err)
		return err;
	err = -EOPNOTSUPP;
	for (i = 0; i < nr; i++) {
		if (v[i].start > addr || addr >= v[i].end)
			continue;
		if (v[i].start == addr && v[i].end == (uint64_t)addr + len && (v[i].has & want)) {
			/* A VMA is anonymous or shmem: the other counter is 0. */
			*huge = shmem < 0 ? v[i].shmem_pmd + v[i].anon_huge :
				shmem ? v[i].shmem_pmd : v[i].anon_huge;
			err = 0;
		}
		break;
	}
	free(v);
	return err;
}

int mem_huge_bytes(uintptr_t addr, size_t len, int shmem, uint64_t *huge)
{
	int err = huge_bytes_scan(addr, len, huge);

	/* ENOTTY/EINVAL: a kernel before 6.7 (or another layout). */
	if (!err)
		return 0;
	return huge_bytes_smaps(addr, len, shmem, huge);
}

static int scan_nothing(void *arg, uint64_t start, uint64_t end, uint64_t categories)
{
	(void)arg;
	(void)start;
	(void)end;
	(void)categories;
	return 0;
}

int regbuf_mem_huge_bytes(const void *addr, size_t len, uint64_t *huge)
{
	if (!huge || !len || (uintptr_t)addr + len < (uintptr_t)addr)
		return -EINVAL;
	return mem_huge_bytes((uintptr_t)addr, len, -1, huge);
}

void regbuf_mem_layout_caps(struct regbuf_mem_layout_caps *caps)
{
	static volatile char page[4096] __attribute__((aligned(4096)));
	uint64_t va = (uint64_t)(uintptr_t)page, ent, flags;
	int fd;

	memset(caps, 0, sizeof(*caps));
	page[0] = 1;	/* resident, so pagemap has a frame to show */
	fd = sys_pagemap_open();
	caps->pagemap = fd >= 0;
	if (fd < 0) {
		caps->pagemap_scan = fd;
	} else {
		caps->pfns = !sys_read_entries_all(fd, va / 4096, &ent, 1) &&
			     (ent & PM_ENTRY_PRESENT) && (ent & PM_ENTRY_PFN_MASK);
		caps->pagemap_scan = sys_pagemap_scan(fd, va, va + 4096, PAGE_IS_PRESENT,
						      PAGE_IS_PRESENT, scan_nothing, NULL);
		close(fd);
	}
	fd = sys_kpageflags_open();
	if (fd >= 0) {
		caps->kpageflags = !sys_read_entries_all(fd, 0, &flags, 1);
		close(fd);
	}
}
