/* SPDX-License-Identifier: MIT */
/*
 * regbuf - I/O memory arenas: hugetlb 1G -> hugetlb 2M -> THP -> 4K.
 */
#ifndef REGBUF_MEM_H
#define REGBUF_MEM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <regbuf/compiler.h>

#ifdef __cplusplus
extern "C" {
#endif

/**
 * DOC: memory arenas
 *
 * An arena is one mapping of I/O memory whose folio size is known, so that
 * registering it needs no page-table walk (regbuf_table_register_hinted()).
 * regbuf_mem_create() walks a fallback chain from the best tier down:
 *
 * - %REGBUF_MEM_TIER_1G: hugetlb, 1 GiB pages (MAP_HUGE_1GB);
 * - %REGBUF_MEM_TIER_2M: hugetlb, 2 MiB pages (MAP_HUGE_2MB);
 * - %REGBUF_MEM_TIER_THP: transparent huge pages: a 2 MiB-aligned mapping
 *   with MADV_HUGEPAGE, kept at this tier only if, once prefaulted, every
 *   2 MiB of it is verified to be a PMD-mapped huge page (PAGEMAP_SCAN,
 *   else /proc/self/smaps);
 * - %REGBUF_MEM_TIER_4K: base pages.
 *
 * Hugetlb and THP tiers are skipped when the arena is smaller than one page
 * of that size (a 1 GiB page for a 4 MiB arena wastes memory and memlock; an
 * arena of exactly one page takes the tier), unless REGBUF_MEM_F_REQUIRE asks
 * for that tier.  The arena length is rounded up to
 * the obtained page size, and all of it is usable.  Arenas over 1 GiB are
 * legal; the io_uring backend splits them into kernel buffers of at most
 * 1 GiB.
 *
 * The arena is prefaulted (MADV_POPULATE_WRITE, else touching each page)
 * unless REGBUF_MEM_F_NO_PREFAULT: registering unprefaulted memory faults
 * page by page under the pin and was measured ~100x slower for 4K pages.
 * An arena of 64 MiB or more is prefaulted by several threads, one per CPU
 * the calling thread may run on (with REGBUF_MEM_F_NUMA, per CPU of that
 * node, the threads bound to it), each a slice of whole folios: what the
 * prefault costs is the kernel zeroing the pages.
 */

/**
 * enum regbuf_mem_tier - kinds of arena memory, best first
 * @REGBUF_MEM_TIER_1G: hugetlb 1 GiB pages
 * @REGBUF_MEM_TIER_2M: hugetlb 2 MiB pages
 * @REGBUF_MEM_TIER_THP: transparent huge pages (PMD size, 2 MiB on x86-64)
 * @REGBUF_MEM_TIER_4K: base pages
 * @REGBUF_MEM_TIER_NR: number of tiers
 */
enum regbuf_mem_tier {
	REGBUF_MEM_TIER_1G,
	REGBUF_MEM_TIER_2M,
	REGBUF_MEM_TIER_THP,
	REGBUF_MEM_TIER_4K,
	REGBUF_MEM_TIER_NR,
};

/* Fail rather than fall back below regbuf_mem_opts.tier. */
#define REGBUF_MEM_F_REQUIRE		(1U << 0)
/* Do not prefault; the tier of a THP arena then cannot be verified (folio shift stays 12). */
#define REGBUF_MEM_F_NO_PREFAULT	(1U << 1)
/* Back the arena by a memfd (hugetlbfs or shmem) that other processes can map. */
#define REGBUF_MEM_F_MEMFD		(1U << 2)
/* Bind the memory to NUMA node regbuf_mem_opts.numa_node (mbind MPOL_BIND). */
#define REGBUF_MEM_F_NUMA		(1U << 3)

/**
 * struct regbuf_mem_opts - how to build an arena (zero-initialise, then set)
 * @flags: REGBUF_MEM_F_*
 * @tier: the best tier to try; the chain falls back from here (0 = 1G: all)
 * @numa_node: node for REGBUF_MEM_F_NUMA, ignored otherwise
 * @__reserved: must be zero
 */
struct regbuf_mem_opts {
	unsigned int flags;
	enum regbuf_mem_tier tier;
	int numa_node;
	uint32_t __reserved[5];
};

struct regbuf_mem;

/**
 * regbuf_mem_create() - map an arena of at least @len bytes
 * @memp: where to store the arena
 * @len: bytes wanted (more than 1 GiB is fine)
 * @opts: options, or NULL for the whole chain, prefaulted, anonymous, any node
 *
 * Tries each tier from @opts->tier down (see DOC: memory arenas) and keeps the
 * first that works; regbuf_mem_tier_status() says why the others did not.
 * With REGBUF_MEM_F_MEMFD the arena is a MAP_SHARED mapping of a
 * memfd_create() file (MFD_HUGETLB with the page size for hugetlb tiers,
 * shmem otherwise; the THP tier needs shmem_enabled = advise, within_size or
 * always).  io_uring accepts both for registration.
 *
 * Context: process context; may sleep (page allocation, compaction).
 * Return: 0, or
 * -EINVAL for a NULL @memp, @len 0, unknown flags, a bad tier, non-zero reserved fields or
 * a NUMA node out of range or offline;
 * -ENOMEM when no tier could be had (or the arena struct could not; why
 * each tier failed: regbuf_mem_create_report());
 * with REGBUF_MEM_F_REQUIRE, the error of the required tier: -ENOMEM (no
 * huge pages free), -EOPNOTSUPP (THP disabled, or huge pages not obtained),
 * or the errno of mmap()/memfd_create()/mbind()/madvise().
 */
REGBUF_MUST_CHECK
int regbuf_mem_create(struct regbuf_mem **memp, size_t len, const struct regbuf_mem_opts *opts);

/**
 * struct regbuf_mem_report - what each tier of an arena creation gave
 * @status: per tier, as regbuf_mem_tier_status() returns
 * @why: per tier, the one-line explanation regbuf_mem_tier_status() gives
 */
struct regbuf_mem_report {
	int status[REGBUF_MEM_TIER_NR];
	char why[REGBUF_MEM_TIER_NR][192];
};

/**
 * regbuf_mem_create_report() - regbuf_mem_create() that says why, also on failure
 * @memp: where to store the arena
 * @len: as regbuf_mem_create()
 * @opts: as regbuf_mem_create()
 * @report: if not NULL, filled in whatever the result: why each tier was or
 *	was not obtained (all "not tried", -ENOENT, when the arguments were
 *	refused)
 *
 * regbuf_mem_tier_status() answers only for an arena that exists; when every
 * tier fails, regbuf_mem_create() can only return -ENOMEM, and this is where
 * the per-tier reasons (no huge pages free, THP disabled, the mmap() error)
 * go instead.
 *
 * Context: as regbuf_mem_create().
 * Return: as regbuf_mem_create().
 */
REGBUF_MUST_CHECK
int regbuf_mem_create_report(struct regbuf_mem **memp, size_t len,
			     const struct regbuf_mem_opts *opts, struct regbuf_mem_report *report);

/**
 * regbuf_mem_destroy() - unmap an arena and close its memfd
 * @mem: arena, or NULL
 *
 * Memory registered with io_uring stays pinned by the kernel until it is
 * unregistered; unmapping first is legal but wastes the pages until then.
 */
void regbuf_mem_destroy(struct regbuf_mem *mem);

/**
 * regbuf_mem_prefault() - fault part of an arena in now, from the calling thread
 * @mem: arena, typically made with REGBUF_MEM_F_NO_PREFAULT
 * @off: offset of the first byte, a multiple of the arena's page size
 * @len: bytes from @off, a multiple of the page size or up to the arena's end
 *
 * For an application that faults its arena from threads of its own, each
 * the part it is about to use (as fio's own engines fault each job's buffers
 * in that job's thread), before registering the whole: pages are faulted
 * writable (MADV_POPULATE_WRITE, Linux 5.14; before it each page is touched),
 * so that the registration pins present pages.  Parts may be faulted from
 * several threads at once; a part faulted twice is faulted once.  The
 * arena's folio shift and tier are what creation found: a THP arena made
 * with REGBUF_MEM_F_NO_PREFAULT stays unverified (12).
 *
 * Return: 0; -EINVAL for a NULL @mem, a range past the arena's end or not on
 * its page boundaries; -ENOMEM when the memory could not be had (a hugetlb
 * pool running dry, where touching the page would die of SIGBUS); -EFAULT,
 * -EINTR or -EHWPOISON as madvise(MADV_POPULATE_WRITE) reports them.
 */
REGBUF_MUST_CHECK
int regbuf_mem_prefault(struct regbuf_mem *mem, size_t off, size_t len);

/**
 * regbuf_mem_addr() - first byte of the arena
 * @mem: arena
 *
 * Return: the arena's start, aligned to its folio size.
 */
void *regbuf_mem_addr(const struct regbuf_mem *mem);

/**
 * regbuf_mem_len() - usable bytes of the arena
 * @mem: arena
 *
 * Return: the requested length rounded up to the arena's page size.
 */
size_t regbuf_mem_len(const struct regbuf_mem *mem);

/**
 * regbuf_mem_folio_shift() - log2 of the folio size backing the arena
 * @mem: arena
 *
 * The shift is a promise about the whole arena, which a hinted registration
 * (regbuf_table_register_hinted()) trusts without looking: a THP arena
 * reports the PMD shift only when, after prefault, every 2 MiB of it was
 * verified huge.  One that is only partly huge reports 12, and its THP tier
 * status says how much was huge.  Huge pages the kernel later splits or
 * collapses (partial munmap()/madvise(), khugepaged) are not tracked:
 * regbuf_mem_huge_bytes() answers for any range, now.
 *
 * Return: 30 (1G), 21 (2M or verified THP) or 12 (4K, including a THP arena
 * that was only partly huge or could not be verified).
 */
unsigned int regbuf_mem_folio_shift(const struct regbuf_mem *mem);

/**
 * regbuf_mem_tier() - the tier obtained
 * @mem: arena
 *
 * Return: the memory tier backing the whole arena.
 */
enum regbuf_mem_tier regbuf_mem_tier(const struct regbuf_mem *mem);

/**
 * regbuf_mem_tier_status() - why a tier was, or was not, obtained
 * @mem: arena
 * @tier: any tier
 * @why: if not NULL, set to a one-line explanation that lives as long as @mem
 *
 * Return: 0 for the obtained tier, else why @tier is not the arena's:
 * -ENOENT not tried (above @opts->tier, or below the obtained tier);
 * -ERANGE skipped, the arena is smaller than one page of that size;
 * -ENOMEM no huge pages of that size free (the text names the sysfs file
 * to reserve them with);
 * -EOPNOTSUPP THP disabled in sysfs, or THP requested but not every
 * 2 MiB was a huge page (the text gives the count);
 * other: the errno of the failing mmap()/memfd_create()/madvise()/mbind().
 * -EINVAL for a @tier out of range.
 */
int regbuf_mem_tier_status(const struct regbuf_mem *mem, enum regbuf_mem_tier tier,
			   const char **why);

/**
 * regbuf_mem_fd() - the memfd behind a REGBUF_MEM_F_MEMFD arena
 * @mem: arena
 *
 * The fd is owned by @mem (closed by regbuf_mem_destroy()); dup() it to keep
 * it, or pass it to another process which maps it with MAP_SHARED.  It has
 * FD_CLOEXEC set.
 *
 * Return: the fd, or -ENOENT for an anonymous arena.
 */
int regbuf_mem_fd(const struct regbuf_mem *mem);

/**
 * regbuf_mem_tier_name() - short name of a tier
 * @tier: tier
 *
 * Return: "1G", "2M", "THP", "4K", or "?" for an unknown value.
 */
const char *regbuf_mem_tier_name(enum regbuf_mem_tier tier);

/**
 * regbuf_mem_huge_bytes() - how much of a range is really mapped by huge pages
 * @addr: start of the range (any memory of this process, not only arenas)
 * @len: bytes
 * @huge: set to the bytes of [@addr, @addr + @len) mapped by PMD-level THP or
 *	hugetlb pages
 *
 * THP is a hint the kernel may ignore; this is how regbuf_mem_create()
 * verifies its THP tier.  PAGEMAP_SCAN PAGE_IS_HUGE (6.7+); before 6.7,
 * /proc/self/smaps (AnonHugePages, ShmemPmdMapped) when the range is exactly
 * one VMA.
 *
 * Context: process context; reads /proc.
 * Return: 0; -EINVAL for a NULL @huge, @len 0 or a range that wraps;
 * -EOPNOTSUPP when neither source can tell (before 6.7, range not one VMA);
 * -errno opening or reading /proc.
 */
int regbuf_mem_huge_bytes(const void *addr, size_t len, uint64_t *huge);

/**
 * struct regbuf_mem_layout_caps - page-table introspection open to this process
 * @pagemap: /proc/self/pagemap can be opened (not for a non-dumpable task)
 * @pfns: pagemap shows frame numbers (CAP_SYS_ADMIN; without it the kernel
 *	reports pfn 0), needed for physical segments
 * @pagemap_scan: 0 when the PAGEMAP_SCAN ioctl works (6.7+), else its
 *	-errno (-ENOTTY/-EINVAL before 6.7; the open error without @pagemap)
 * @kpageflags: /proc/kpageflags is readable (CAP_SYS_ADMIN): exact folio
 *	heads and tails
 *
 * What layout discovery of memory not from a regbuf arena can use
 * (PAGEMAP_SCAN unprivileged, pagemap + kpageflags when privileged).
 */
struct regbuf_mem_layout_caps {
	bool pagemap;
	bool pfns;
	int pagemap_scan;
	bool kpageflags;
};

/**
 * regbuf_mem_layout_caps() - which page-table readers work here, tried for real
 * @caps: filled in
 *
 * Reads the pagemap entry of one resident page, runs PAGEMAP_SCAN over it
 * and reads one /proc/kpageflags entry.
 *
 * Context: process context; a few system calls.
 */
void regbuf_mem_layout_caps(struct regbuf_mem_layout_caps *caps);

#ifdef __cplusplus
}
#endif

#endif /* REGBUF_MEM_H */
