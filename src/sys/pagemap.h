/* SPDX-License-Identifier: MIT */
/*
 * regbuf - private page-table readers shared by the layers (mem, table,
 * uring): pagemap, PAGEMAP_SCAN, kpageflags and smaps.  Mechanism only: each caller keeps its own policy (what a huge run
 * means for it, which errors fall back to what).  Functions return a file
 * descriptor, a count or 0, or -errno, captured right after the libc call.
 */
#ifndef REGBUF_SRC_SYS_PAGEMAP_H
#define REGBUF_SRC_SYS_PAGEMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* open("/proc/self/pagemap") / open("/proc/kpageflags"), O_CLOEXEC: fd or -errno. */
int sys_pagemap_open(void);
int sys_kpageflags_open(void);

/*
 * Read @nr 64-bit entries starting at entry @idx of a pagemap or kpageflags
 * file (entry i describes virtual page i, or frame i): the number read (short
 * past the last frame) or -errno.
 */
long sys_read_entries(int fd, uint64_t idx, uint64_t *ent, size_t nr);

/* As sys_read_entries(), but a short read is -EIO. */
int sys_read_entries_all(int fd, uint64_t idx, uint64_t *ent, size_t nr);

/*
 * Categories of a range PAGEMAP_SCAN walked but did not report: with
 * category_mask == 0, pages outside any VMA; otherwise, pages not in the
 * requested categories.  Above every PAGE_IS_* bit the kernel defines.
 */
#define SYS_PM_UNREPORTED	(UINT64_C(1) << 63)

/*
 * One piece of the scanned range, in address order: @categories is the
 * region's PAGE_IS_* bits (masked by return_mask), or SYS_PM_UNREPORTED.
 * A non-zero return stops the walk and is returned by sys_pagemap_scan().
 */
typedef int (*sys_pm_scan_fn)(void *arg, uint64_t start, uint64_t end, uint64_t categories);

/*
 * Walk [start, end) with the PAGEMAP_SCAN ioctl (6.7+) on @pm_fd, calling
 * @fn for each reported region and for each walked but unreported gap, so
 * the pieces tile the range up to where the walk stopped.  Returns 0 when the
 * whole range was walked, @fn's non-zero value, -errno from the ioctl
 * (-ENOTTY/-EINVAL before 6.7), or -EFAULT when the kernel makes no progress.
 */
int sys_pagemap_scan(int pm_fd, uint64_t start, uint64_t end, uint64_t category_mask,
		     uint64_t return_mask, sys_pm_scan_fn fn, void *arg);

struct procmap_query;

/*
 * PROCMAP_QUERY (Linux 6.11) on @maps_fd (an open /proc/self/maps): the VMA
 * covering @addr, or with @or_next the first one after it, into @q; with
 * @name, its name (up to @name_size bytes).  0, -ENOENT when there is no
 * such VMA, or -errno (-ENOTTY/-EINVAL before 6.11, -EBADF for @maps_fd < 0).
 */
int sys_vma_query(int maps_fd, uint64_t addr, bool or_next, struct procmap_query *q, char *name,
		  size_t name_size);

/* One VMA of /proc/self/smaps, with the fields regbuf reads. */
struct sys_vma {
	uint64_t start, end;
	uint64_t page_size;	/* KernelPageSize: 4 KiB, or the hugetlb page size */
	uint64_t anon_huge;	/* AnonHugePages: THP-backed anonymous bytes */
	uint64_t shmem_pmd;	/* ShmemPmdMapped: PMD-mapped shmem bytes */
	unsigned int has;	/* SYS_VMA_HAS_*: which of the above smaps printed */
};

#define SYS_VMA_HAS_ANON_HUGE	(1U << 0)
#define SYS_VMA_HAS_SHMEM_PMD	(1U << 1)

/*
 * Every VMA of this process from /proc/self/smaps, in address order, into a
 * malloc()ed array the caller frees: 0 or -errno.
 */
int sys_smaps_read(struct sys_vma **vmas, size_t *nr);

#endif /* REGBUF_SRC_SYS_PAGEMAP_H */
