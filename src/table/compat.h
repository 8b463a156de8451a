/* SPDX-License-Identifier: MIT */
/*
 * regbuf table - uapi newer than Debian bookworm's 6.1 headers.  Guarded so
 * that newer system headers win.  Values from include/uapi/linux/fs.h.
 */
#ifndef REGBUF_TABLE_COMPAT_H
#define REGBUF_TABLE_COMPAT_H

#include <linux/fs.h>
#include <linux/ioctl.h>
#include <linux/types.h>

#ifndef PAGEMAP_SCAN
/* PAGEMAP_SCAN: kernel 6.7. */
#define PAGEMAP_SCAN		_IOWR('f', 16, struct pm_scan_arg)
#define PAGE_IS_WPALLOWED	(1 << 0)
#define PAGE_IS_WRITTEN		(1 << 1)
#define PAGE_IS_FILE		(1 << 2)
#define PAGE_IS_PRESENT		(1 << 3)
#define PAGE_IS_SWAPPED		(1 << 4)
#define PAGE_IS_PFNZERO		(1 << 5)
#define PAGE_IS_HUGE		(1 << 6)

struct page_region {
	__u64 start;
	__u64 end;
	__u64 categories;
};

struct pm_scan_arg {
	__u64 size;
	__u64 flags;
	__u64 start;
	__u64 end;
	__u64 walk_end;
	__u64 vec;
	__u64 vec_len;
	__u64 max_pages;
	__u64 category_inverted;
	__u64 category_mask;
	__u64 category_anyof_mask;
	__u64 return_mask;
};
#endif

#ifndef PROCMAP_QUERY
/* PROCMAP_QUERY ioctl on /proc/<pid>/maps: kernel 6.11. */
#define PROCMAP_QUERY		_IOWR('f', 17, struct procmap_query)
#define PROCMAP_QUERY_VMA_READABLE		0x01
#define PROCMAP_QUERY_VMA_WRITABLE		0x02
#define PROCMAP_QUERY_VMA_EXECUTABLE		0x04
#define PROCMAP_QUERY_VMA_SHARED		0x08
#define PROCMAP_QUERY_COVERING_OR_NEXT_VMA	0x10
#define PROCMAP_QUERY_FILE_BACKED_VMA		0x20

struct procmap_query {
	__u64 size;
	__u64 query_flags;
	__u64 query_addr;
	__u64 vma_start;
	__u64 vma_end;
	__u64 vma_flags;
	__u64 vma_page_size;
	__u64 vma_offset;
	__u64 inode;
	__u32 dev_major;
	__u32 dev_minor;
	__u32 vma_name_size;
	__u32 build_id_size;
	__u64 vma_name_addr;
	__u64 build_id_addr;
};
#endif

/* /proc/kpageflags bits (include/uapi/linux/kernel-page-flags.h). */
#define TABLE_KPF_COMPOUND_HEAD	15
#define TABLE_KPF_COMPOUND_TAIL	16
#define TABLE_KPF_HUGE		17
#define TABLE_KPF_THP		22

/* /proc/self/pagemap entry (Documentation/admin-guide/mm/pagemap.rst). */
#define TABLE_PM_PRESENT	(UINT64_C(1) << 63)
#define TABLE_PM_PFN_MASK	((UINT64_C(1) << 55) - 1)

#endif /* REGBUF_TABLE_COMPAT_H */
