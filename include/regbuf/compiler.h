/* SPDX-License-Identifier: MIT */
/*
 * regbuf - compiler helpers shared by the public headers.
 */
#ifndef REGBUF_COMPILER_H
#define REGBUF_COMPILER_H

#include <stdint.h>

/* Setup and registration calls return 0 or -errno: ignoring that is a bug. */
#define REGBUF_MUST_CHECK	__attribute__((warn_unused_result))
#define REGBUF_COLD		__attribute__((cold))
#define REGBUF_LIKELY(x)	__builtin_expect(!!(x), 1)
#define REGBUF_UNLIKELY(x)	__builtin_expect(!!(x), 0)

/*
 * A device-visible address: an IOVA behind an IOMMU, or a physical address
 * without one.  Kept distinct from pointers so the two cannot be swapped.
 */
typedef uint64_t regbuf_iova_t;

#endif /* REGBUF_COMPILER_H */
