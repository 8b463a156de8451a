/* SPDX-License-Identifier: MIT */
/*
 * regbuf - mem layer private helpers.
 */
#ifndef REGBUF_SRC_MEM_MEM_H
#define REGBUF_SRC_MEM_MEM_H

#include <stddef.h>
#include <stdint.h>

/* Read one unsigned integer from a sysfs/procfs file: 0 or -errno. */
int mem_read_u64(const char *path, uint64_t *val);

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

#endif /* REGBUF_SRC_MEM_MEM_H */
