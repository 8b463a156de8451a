/* SPDX-License-Identifier: MIT */
/*
 * uring: private declarations shared by the layer's files.
 */
#ifndef REGBUF_SRC_URING_URING_H
#define REGBUF_SRC_URING_URING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <regbuf/uring.h>

#include "uring/compat.h"

/* Whether the kernel will charge rings created now: io_ring_ctx_alloc() sets
 * ctx->user (and so accounting) unless capable(CAP_IPC_LOCK). */
bool uring_memlock_charged(void);


/* CLOCK_MONOTONIC in nanoseconds, for the pool's timings. */
uint64_t uring_now_ns(void);

/* /sys/block/@disk/queue/@attr as a number; 0 or -errno. */
int uring_queue_read_u64(const char *disk, const char *attr, uint64_t *val);

/*
 * The disk whose queue serves block device @devt (a partition's parent);
 * 0, or -errno when there is no such block device.
 */
int uring_disk_of(dev_t devt, char *disk, size_t len);

/* "ngXnY", the sysfs name of char device @rdev when its class is nvme-generic; else -ENODEV. */
int uring_nvme_generic_name(dev_t rdev, char *name, size_t len);

/*
 * regbuf_uring_memlock_estimate() for rings whose creator was (@charged) or
 * was not charged: VmPin is read only where the limit is enforced.
 */
int uring_memlock_estimate(struct regbuf_uring_memlock *ml, const struct iovec *iov, uint32_t nr,
			   uint32_t charges, bool charged);

/*
 * The RLIMIT_MEMLOCK limits and @charged into @ml; VmPin only where the limit
 * is enforced (@charged and a finite soft limit), else 0.
 */
void uring_memlock_limits(struct regbuf_uring_memlock *ml, bool charged);
/* Whether RLIMIT_MEMLOCK can refuse a registration: charged (@charged) and finite. */
bool uring_memlock_enforced(bool charged);

/* Bytes of RLIMIT_MEMLOCK a ring like @ring was charged at creation. */
uint64_t uring_ring_charge(const struct io_uring *ring);

/* IORING_REGISTER_PROBE: the probe and fixed-buffer opcode fields of @f. */
void uring_probe_ops(struct io_uring *ring, struct regbuf_uring_features *f);

/*
 * Clone support, probed on @ring, which must have no buffer table: 0 or the
 * kernel's -errno for a whole-table clone (6.12) and for ranges (6.13).
 */
void uring_probe_clone(struct io_uring *ring, int *whole, int *ranges);

#endif /* REGBUF_SRC_URING_URING_H */
