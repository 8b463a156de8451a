/* SPDX-License-Identifier: MIT */
/*
 * uring: private declarations shared by the layer's files.
 */
#ifndef REGBUF_SRC_URING_URING_H
#define REGBUF_SRC_URING_URING_H

#include <stdbool.h>
#include <stdint.h>

#include <regbuf/uring.h>

/* Whether the kernel will charge rings created now: io_ring_ctx_alloc() sets
 * ctx->user (and so accounting) unless capable(CAP_IPC_LOCK). */
bool uring_memlock_charged(void);

uint64_t uring_now_ns(void);

/* Bytes of RLIMIT_MEMLOCK a ring like @ring was charged at creation. */
uint64_t uring_ring_charge(const struct io_uring *ring);

#endif /* REGBUF_SRC_URING_URING_H */
