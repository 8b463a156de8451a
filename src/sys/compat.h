/* SPDX-License-Identifier: MIT */
/*
 * regbuf - kernel uapi for memory and files that Debian bookworm's
 * linux-libc-dev 6.1 headers lack: statx, PAGEMAP_SCAN, PROCMAP_QUERY,
 * pagemap entries and kpageflags.  Private to the library (never installed,
 * never included from include/).  Any layer may include it; it pulls in no
 * io_uring header (the io_uring numbers are in src/uring/compat.h, private to
 * the uring layer, so that a build without liburing has every other layer).
 * Every item is guarded so that a newer header wins: structs through the
 * meson probes in sys-config.h (src/sys/meson.build), macros with #ifndef.
 * Numbers checked against the kernel's include/uapi/linux/{fs,stat,
 * kernel-page-flags}.h (6.18) and Documentation/admin-guide/mm/pagemap.rst.
 */
#ifndef REGBUF_SRC_SYS_COMPAT_H
#define REGBUF_SRC_SYS_COMPAT_H

#include <stdint.h>
#include <linux/fs.h>
#include <linux/ioctl.h>
#include <linux/stat.h>
#include <linux/types.h>

#include "sys/sys-config.h"

/* ---- statx ---- */

/* statx direct-I/O alignment (6.1); older headers lack the mask bit. */
#ifndef STATX_DIOALIGN
#define STATX_DIOALIGN			0x00002000U
#endif

/* ---- /proc/self/pagemap: PAGEMAP_SCAN (6.7) ---- */

#ifndef PAGEMAP_SCAN
#define PAGEMAP_SCAN			_IOWR('f', 16, struct pm_scan_arg)
#endif
#ifndef PAGE_IS_WPALLOWED
#define PAGE_IS_WPALLOWED		(1 << 0)
#define PAGE_IS_WRITTEN			(1 << 1)
#define PAGE_IS_FILE			(1 << 2)
#define PAGE_IS_PRESENT			(1 << 3)
#define PAGE_IS_SWAPPED			(1 << 4)
#define PAGE_IS_PFNZERO			(1 << 5)
#define PAGE_IS_HUGE			(1 << 6)
#endif
#if !HAVE_STRUCT_PM_SCAN_ARG
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
_Static_assert(sizeof(struct pm_scan_arg) == 96, "uapi pm_scan_arg");

/* ---- /proc/<pid>/maps: PROCMAP_QUERY (6.11) ---- */

#ifndef PROCMAP_QUERY
#define PROCMAP_QUERY			_IOWR('f', 17, struct procmap_query)
#endif
#ifndef PROCMAP_QUERY_VMA_READABLE
#define PROCMAP_QUERY_VMA_READABLE		0x01
#define PROCMAP_QUERY_VMA_WRITABLE		0x02
#define PROCMAP_QUERY_VMA_EXECUTABLE		0x04
#define PROCMAP_QUERY_VMA_SHARED		0x08
#define PROCMAP_QUERY_COVERING_OR_NEXT_VMA	0x10
#define PROCMAP_QUERY_FILE_BACKED_VMA		0x20
#endif
#if !HAVE_STRUCT_PROCMAP_QUERY
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

/* ---- /proc/self/pagemap entries and /proc/kpageflags ---- */

/* A pagemap entry (Documentation/admin-guide/mm/pagemap.rst). */
#define PM_ENTRY_PRESENT		(UINT64_C(1) << 63)
#define PM_ENTRY_PFN_MASK		((UINT64_C(1) << 55) - 1)

/* /proc/kpageflags bits (include/uapi/linux/kernel-page-flags.h). */
#ifndef KPF_COMPOUND_HEAD
#define KPF_COMPOUND_HEAD		15
#define KPF_COMPOUND_TAIL		16
#define KPF_HUGE			17
#define KPF_THP				22
#endif

#endif /* REGBUF_SRC_SYS_COMPAT_H */
