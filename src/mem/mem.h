/* SPDX-License-Identifier: MIT */
/*
 * regbuf - mem layer private helpers.
 */
#ifndef REGBUF_SRC_MEM_MEM_H
#define REGBUF_SRC_MEM_MEM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * The bracketed choice of a sysfs mode file ("always [madvise] never"),
 * copied into @buf; 0 or -errno.
 */
int mem_read_mode(const char *path, char *buf, size_t len);

/*
 * Bytes of [addr, addr + len) mapped by PMD-level huge pages, from
 * PAGEMAP_SCAN (6.7+) or, failing that, /proc/self/smaps when the range is
 * exactly one VMA (@shmem: ShmemPmdMapped, else AnonHugePages; < 0: either).
 * 0 or -errno (-EOPNOTSUPP: neither could tell).
 */
int mem_huge_bytes(uintptr_t addr, size_t len, int shmem, uint64_t *huge);

/*
 * Whether an arena of @len bytes skips a tier of 2^@shift pages: a huge tier
 * is skipped when not even one page of it is filled (an arena of exactly one
 * page takes it), unless REGBUF_MEM_F_REQUIRE in @flags asks for it.
 */
bool mem_tier_skipped(size_t len, unsigned int shift, bool huge_tier, unsigned int flags);

/*
 * The folio shift a THP arena of @len bytes may report when @huge of them are
 * PMD-mapped: @pmd_shift only when all are, else @base (a partly huge arena
 * is not a 2 MiB arena: hinted registration would trust it everywhere).
 */
unsigned int mem_thp_folio_shift(uint64_t huge, uint64_t len, unsigned int pmd_shift,
				 unsigned int base);

/*
 * Fault [@addr, @addr + @len) in, writable, from as many threads as there
 * are CPUs to fault it from (@node >= 0: the CPUs of that NUMA node, which
 * the threads are bound to), each a slice of whole 2^@folio_shift folios:
 * 0 or the first -errno (-ENOMEM: a hugetlb pool ran dry).
 */
int mem_prefault(void *addr, size_t len, unsigned int folio_shift, int node);

/*
 * Fault [@addr, @addr + @len) in, writable, from this thread: 0 or -errno
 * (-ENOMEM: a hugetlb pool ran dry).
 */
int mem_prefault_range(char *addr, size_t len);

#endif /* REGBUF_SRC_MEM_MEM_H */
