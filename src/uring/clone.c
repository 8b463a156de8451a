// SPDX-License-Identifier: MIT
/*
 * uring: IORING_REGISTER_CLONE_BUFFERS (Linux 6.12; ranges and replace 6.13)
 * between two rings, the one call both the pool and the prober make.
 */
#include <string.h>

#include "uring/uring.h"

int regbuf_uring_clone_buffers(struct io_uring *dst, struct io_uring *src, uint32_t dst_off,
			       uint32_t src_off, uint32_t nr, unsigned int flags)
{
	struct io_uring_clone_buffers arg;

	/* The real source fd, never SRC_REGISTERED: a registered-ring index is
	 * only meaningful in the thread that registered it (liburing's
	 * __io_uring_clone_buffers() exists for the same reason). */
	memset(&arg, 0, sizeof(arg));
	arg.src_fd = (uint32_t)src->ring_fd;
	arg.flags = flags;
	arg.src_off = src_off;
	arg.dst_off = dst_off;
	arg.nr = nr;
	return io_uring_register(dst->ring_fd, IORING_REGISTER_CLONE_BUFFERS, &arg, 1);
}
