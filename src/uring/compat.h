/* SPDX-License-Identifier: MIT */
/*
 * uring: the one place for io_uring/kernel uapi that Debian bookworm's
 * liburing 2.3 and linux-libc-dev 6.1 headers lack.  Every item is guarded
 * so a newer header wins: enum constants through the meson probe in
 * uring-config.h (an enum member is invisible to #ifdef), macros with #ifndef.
 * Numbers checked against the kernel's include/uapi/linux/io_uring.h and
 * include/uapi/linux/fs.h (6.18).
 */
#ifndef REGBUF_URING_COMPAT_H
#define REGBUF_URING_COMPAT_H

#include <linux/fs.h>
#include <linux/stat.h>
#include <liburing.h>

#include "uring/uring-config.h"

/* Kernel 6.12: IORING_REGISTER_CLONE_BUFFERS (renamed from COPY before release). */
#if !HAVE_IORING_REGISTER_CLONE_BUFFERS
#define IORING_REGISTER_CLONE_BUFFERS	30
#endif

/* Kernel 6.15: vectored fixed-buffer I/O. */
#if !HAVE_IORING_OP_READV_FIXED
#define IORING_OP_READV_FIXED		60
#endif
#if !HAVE_IORING_OP_WRITEV_FIXED
#define IORING_OP_WRITEV_FIXED		61
#endif

/* Clone flags: 6.12 SRC_REGISTERED, 6.13 DST_REPLACE. */
#if !HAVE_IORING_REGISTER_SRC_REGISTERED
#define IORING_REGISTER_SRC_REGISTERED	(1U << 0)
#endif
#if !HAVE_IORING_REGISTER_DST_REPLACE
#define IORING_REGISTER_DST_REPLACE	(1U << 1)
#endif

/*
 * 6.13 layout.  6.12 had { src_fd, flags, pad[6] }: the same 32 bytes, with
 * src_off/dst_off/nr carved out of the padding, which a 6.12 kernel rejects
 * as non-zero pad (-EINVAL) - how regbuf tells the two apart.
 */
#if !HAVE_STRUCT_IO_URING_CLONE_BUFFERS
struct io_uring_clone_buffers {
	__u32 src_fd;
	__u32 flags;
	__u32 src_off;
	__u32 dst_off;
	__u32 nr;
	__u32 pad[3];
};
#endif
_Static_assert(sizeof(struct io_uring_clone_buffers) == 32, "uapi io_uring_clone_buffers");

/* Kernel io_uring/rsrc.h: IORING_MAX_REG_BUFFERS, and io_buffer_validate()'s SZ_1G. */
#define URING_MAX_REG_BUFFERS		(1U << 14)
#define URING_MAX_BUF_LEN		(UINT64_C(1) << 30)

/* statx direct-I/O alignment (6.1); older headers lack the mask bit. */
#ifndef STATX_DIOALIGN
#define STATX_DIOALIGN			0x00002000U
#endif

/* PAGEMAP_SCAN (6.7): used by the memlock preflight to find PMD-mapped THPs. */
#ifndef PAGEMAP_SCAN
#define PAGEMAP_SCAN			_IOWR('f', 16, struct pm_scan_arg)
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

#endif /* REGBUF_URING_COMPAT_H */
