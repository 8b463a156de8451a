/* SPDX-License-Identifier: MIT */
/*
 * regbuf uring - io_uring uapi that Debian bookworm's liburing 2.3 headers
 * lack.  Private to the uring layer: no other layer includes <liburing.h>.
 * Every item is guarded so that a newer header wins: enum constants and
 * structs through the meson probes in uring-config.h (src/uring/meson.build;
 * an enum member is invisible to #ifdef), macros with #ifndef.  Numbers
 * checked against the kernel's include/uapi/linux/io_uring.h (6.18) and
 * io_uring/rsrc.h.
 */
#ifndef REGBUF_SRC_URING_COMPAT_H
#define REGBUF_SRC_URING_COMPAT_H

#include <stdint.h>
#include <linux/types.h>
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

/* Setup flags: 6.6 NO_SQARRAY, 6.13 HYBRID_IOPOLL (macros: #ifndef suffices). */
#ifndef IORING_SETUP_NO_SQARRAY
#define IORING_SETUP_NO_SQARRAY		(1U << 16)
#endif
#ifndef IORING_SETUP_HYBRID_IOPOLL
#define IORING_SETUP_HYBRID_IOPOLL	(1U << 17)
#endif

/* Kernel io_uring/rsrc.h: IORING_MAX_REG_BUFFERS. */
#define URING_MAX_REG_BUFFERS		(1U << 14)

#endif /* REGBUF_SRC_URING_COMPAT_H */
