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
 * Types sparse checks (the kernel's __bitwise and __force): a REGBUF_BITWISE
 * type mixes with no other integer type without a REGBUF_FORCE cast.  Plain
 * typedefs for the compiler.
 */
#ifdef __CHECKER__
#define REGBUF_BITWISE	__attribute__((bitwise))
#define REGBUF_FORCE	__attribute__((force))
#else
#define REGBUF_BITWISE
#define REGBUF_FORCE
#endif

/*
 * A device-visible address: an IOVA behind an IOMMU, or a physical address
 * without one.  Kept distinct from pointers and from host integers (a
 * bitwise type under sparse) so the two cannot be swapped; convert with
 * regbuf_iova() and regbuf_iova_u64().
 */
typedef uint64_t REGBUF_BITWISE regbuf_iova_t;

/**
 * regbuf_iova() - a device address from its numeric value
 * @v: the address
 *
 * Return: @v as a &regbuf_iova_t.
 */
static inline regbuf_iova_t regbuf_iova(uint64_t v)
{
	return (REGBUF_FORCE regbuf_iova_t)v;
}

/**
 * regbuf_iova_u64() - the numeric value of a device address
 * @iova: the address
 *
 * Return: @iova as an integer, for arithmetic and printing.
 */
static inline uint64_t regbuf_iova_u64(regbuf_iova_t iova)
{
	return (REGBUF_FORCE uint64_t)iova;
}

#endif /* REGBUF_COMPILER_H */
