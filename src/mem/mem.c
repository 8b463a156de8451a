// SPDX-License-Identifier: MIT
/*
 * regbuf - I/O memory arenas with an explicit fallback chain.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <regbuf/mem.h>

#include "mem.h"
#include "sys/sys.h"

#ifndef MAP_HUGE_SHIFT
#define MAP_HUGE_SHIFT		26
#endif
#ifndef MFD_HUGETLB
#define MFD_HUGETLB		0x0004U
#endif
#define MEM_MPOL_BIND		2	/* include/uapi/linux/mempolicy.h */
#define MEM_MPOL_MF_STRICT	(1 << 0)
#define MEM_MAX_NODES		1024

#define SZ_2M			(UINT64_C(1) << 21)
#define SZ_1G			(UINT64_C(1) << 30)

#define THP_SYSFS		"/sys/kernel/mm/transparent_hugepage/"
#define HUGETLB_SYSFS		"/sys/kernel/mm/hugepages/hugepages-"

struct regbuf_mem {
	void *addr;
	size_t len;
	int fd;
	enum regbuf_mem_tier tier;
	unsigned int folio_shift;
	int status[REGBUF_MEM_TIER_NR];
	char why[REGBUF_MEM_TIER_NR][192];
};

static const char *const tier_names[REGBUF_MEM_TIER_NR] = { "1G", "2M", "THP", "4K" };

const char *regbuf_mem_tier_name(enum regbuf_mem_tier tier)
{
	return (unsigned int)tier < REGBUF_MEM_TIER_NR ? tier_names[tier] : "?";
}

__attribute__((format(printf, 4, 5)))
static int tier_fail(struct regbuf_mem *m, enum regbuf_mem_tier t, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(m->why[t], sizeof(m->why[t]), fmt, ap);
	va_end(ap);
	m->status[t] = err;
	return err;
}

static unsigned int base_shift(void)
{
	long ps = sysconf(_SC_PAGESIZE);

	return ps > 0 ? (unsigned int)__builtin_ctzl((unsigned long)ps) : 12;
}

static bool tier_hugetlb(enum regbuf_mem_tier t)
{
	return t == REGBUF_MEM_TIER_1G || t == REGBUF_MEM_TIER_2M;
}

static unsigned int tier_shift(enum regbuf_mem_tier t)
{
	uint64_t pmd;

	switch (t) {
	case REGBUF_MEM_TIER_1G:
		return 30;
	case REGBUF_MEM_TIER_2M:
		return 21;
	case REGBUF_MEM_TIER_THP:
		/* The PMD size: 2 MiB on x86-64, other sizes elsewhere. */
		if (!sys_read_u64(THP_SYSFS "hpage_pmd_size", &pmd) && pmd && !(pmd & (pmd - 1)))
			return (unsigned int)__builtin_ctzll(pmd);
		return 21;
	default:
		return base_shift();
	}
}

/* Explain a hugetlb failure from the pool counters in sysfs. */
static int hugetlb_why(struct regbuf_mem *m, enum regbuf_mem_tier t, int err, size_t len)
{
	unsigned long kb = (1ul << tier_shift(t)) >> 10;
	uint64_t nr = 0, freep = 0, resv = 0;
	char path[128];

	snprintf(path, sizeof(path), HUGETLB_SYSFS "%lukB/nr_hugepages", kb);
	if (access(path, F_OK))
		return tier_fail(m, t, -EOPNOTSUPP, "no %s hugetlb pages on this kernel/CPU (%s missing)",
				 tier_names[t], path);
	sys_read_u64(path, &nr);
	snprintf(path, sizeof(path), HUGETLB_SYSFS "%lukB/free_hugepages", kb);
	sys_read_u64(path, &freep);
	snprintf(path, sizeof(path), HUGETLB_SYSFS "%lukB/resv_hugepages", kb);
	sys_read_u64(path, &resv);
	if (err == -ENOMEM)
		return tier_fail(m, t, err,
				 "need %zu free %s pages, have %llu (nr_hugepages %llu, reserved %llu): "
				 "raise " HUGETLB_SYSFS "%lukB/nr_hugepages",
				 len >> tier_shift(t), tier_names[t],
				 (unsigned long long)(freep > resv ? freep - resv : 0),
				 (unsigned long long)nr, (unsigned long long)resv, kb);
	return tier_fail(m, t, err, "%s hugetlb mapping failed: %s", tier_names[t], strerror(-err));
}

/* THP allowed for this mapping kind?  0, or -EOPNOTSUPP with the reason filled. */
static int thp_allowed(struct regbuf_mem *m, bool shmem)
{
	const char *file = shmem ? THP_SYSFS "shmem_enabled" : THP_SYSFS "enabled";
	char mode[32];
	int err;

	err = mem_read_mode(file, mode, sizeof(mode));
	if (err)
		return tier_fail(m, REGBUF_MEM_TIER_THP, -EOPNOTSUPP,
				 "THP not available: cannot read %s (%s)", file, strerror(-err));
	if (!strcmp(mode, "never") || !strcmp(mode, "deny"))
		return tier_fail(m, REGBUF_MEM_TIER_THP, -EOPNOTSUPP, "THP disabled: %s is [%s]",
				 file, mode);
	return 0;
}

/*
 * Map @len bytes at an address aligned to @align: over-allocate by @align
 * and trim both ends, so the mapping can hold PMD-mapped huge pages from
 * its first byte (the kernel only maps a THP where the VA is PMD-aligned).
 */
static int map_aligned(void **addrp, size_t len, size_t align, int fd)
{
	uintptr_t raw, start;
	void *p = NULL, *q;
	int err;

	err = sys_mmap(&p, NULL, len + align, fd < 0 ? PROT_READ | PROT_WRITE : PROT_NONE,
		       MAP_PRIVATE | MAP_ANONYMOUS | (fd < 0 ? 0 : MAP_NORESERVE), -1, 0);
	if (err)
		return err;
	raw = (uintptr_t)p;
	start = (raw + align - 1) & ~(uintptr_t)(align - 1);
	if (fd >= 0) {
		/* Replace the aligned middle with the file mapping. */
		err = sys_mmap(&q, (void *)start, len, PROT_READ | PROT_WRITE,
			       MAP_SHARED | MAP_FIXED, fd, 0);
		if (err) {
			munmap(p, len + align);
			return err;
		}
	}
	if (start > raw)
		munmap(p, start - raw);
	if (raw + align > start)
		munmap((void *)(start + len), raw + align - start);
	*addrp = (void *)start;
	return 0;
}

static int bind_node(void *addr, size_t len, int node)
{
	unsigned long mask[MEM_MAX_NODES / (8 * sizeof(unsigned long))] = { 0 };

	mask[(unsigned int)node / (8 * sizeof(unsigned long))] |=
		1ul << ((unsigned int)node % (8 * sizeof(unsigned long)));
	return sys_mbind(addr, len, MEM_MPOL_BIND, mask, (unsigned long)MEM_MAX_NODES,
			 MEM_MPOL_MF_STRICT);
}

bool mem_tier_skipped(size_t len, unsigned int shift, bool huge_tier, unsigned int flags)
{
	/* One page of the tier is the smallest arena worth it: exactly one fits. */
	return huge_tier && len < ((size_t)1 << shift) && !(flags & REGBUF_MEM_F_REQUIRE);
}

unsigned int mem_thp_folio_shift(uint64_t huge, uint64_t len, unsigned int pmd_shift,
				 unsigned int base)
{
	/*
	 * The shift is a promise about the whole arena (a hinted registration
	 * builds one segment per 2^shift block without looking): only an arena
	 * that is huge from end to end may claim the PMD size.
	 */
	return huge == len ? pmd_shift : base;
}

/* Create the memfd of a MEMFD arena (sized), or -1 without the flag: 0 or -errno. */
static int tier_memfd(struct regbuf_mem *m, enum regbuf_mem_tier t, size_t memlen,
		      unsigned int flags, int *fdp)
{
	unsigned int shift = tier_shift(t), mfd = MFD_CLOEXEC;
	int fd, err;

	*fdp = -1;
	if (!(flags & REGBUF_MEM_F_MEMFD))
		return 0;
	if (tier_hugetlb(t))
		mfd |= MFD_HUGETLB | (shift << MAP_HUGE_SHIFT);
	fd = sys_memfd_create("regbuf-arena", mfd);
	if (fd < 0)
		return tier_hugetlb(t) ? hugetlb_why(m, t, fd, memlen)
				       : tier_fail(m, t, fd, "memfd_create: %s", strerror(-fd));
	err = sys_ftruncate(fd, (off_t)memlen);
	if (err) {
		close(fd);
		return tier_hugetlb(t) ? hugetlb_why(m, t, err, memlen)
				       : tier_fail(m, t, err, "ftruncate: %s", strerror(-err));
	}
	*fdp = fd;
	return 0;
}

/* Map @memlen bytes of tier @t (over @fd when >= 0): 0 or -errno with the reason set. */
static int tier_map(struct regbuf_mem *m, enum regbuf_mem_tier t, size_t memlen, int fd,
		    void **addrp)
{
	unsigned int shift = tier_shift(t);
	int err;

	if (t == REGBUF_MEM_TIER_THP) {
		err = map_aligned(addrp, memlen, (size_t)1 << shift, fd);
	} else if (fd >= 0) {
		err = sys_mmap(addrp, NULL, memlen, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	} else {
		int flags = MAP_PRIVATE | MAP_ANONYMOUS;

		if (tier_hugetlb(t))
			flags |= MAP_HUGETLB | (int)(shift << MAP_HUGE_SHIFT);
		err = sys_mmap(addrp, NULL, memlen, PROT_READ | PROT_WRITE, flags, -1, 0);
	}
	if (!err)
		return 0;
	if (tier_hugetlb(t))
		return hugetlb_why(m, t, err, memlen);
	return tier_fail(m, t, err, "mapping %zu bytes failed: %s", memlen, strerror(-err));
}

/* MADV_HUGEPAGE, NUMA binding and prefault of a fresh mapping: 0 or -errno with the reason. */
static int tier_prepare(struct regbuf_mem *m, enum regbuf_mem_tier t, void *addr, size_t memlen,
			const struct regbuf_mem_opts *o)
{
	int err;

	if (t == REGBUF_MEM_TIER_THP) {
		err = sys_madvise(addr, memlen, MADV_HUGEPAGE);
		if (err)
			return tier_fail(m, t, err, "madvise(MADV_HUGEPAGE): %s", strerror(-err));
	}
	if (o->flags & REGBUF_MEM_F_NUMA) {
		err = bind_node(addr, memlen, o->numa_node);
		if (err)
			return tier_fail(m, t, err, "mbind to node %d: %s", o->numa_node,
					 strerror(-err));
	}
	if (o->flags & REGBUF_MEM_F_NO_PREFAULT)
		return 0;
	err = mem_prefault(addr, memlen, tier_shift(t),
			   (o->flags & REGBUF_MEM_F_NUMA) ? o->numa_node : -1);
	if (!err)
		return 0;
	if (tier_hugetlb(t))
		return hugetlb_why(m, t, err, memlen);
	return tier_fail(m, t, err, "prefault failed: %s", strerror(-err));
}

/*
 * THP is a hint: count what the kernel really mapped huge and keep the THP
 * tier only when all of it is.  0 (the arena's tier and shift are set), or
 * -EOPNOTSUPP with REGBUF_MEM_F_REQUIRE when it is not.
 */
static int thp_verify(struct regbuf_mem *m, const struct regbuf_mem_opts *o)
{
	const enum regbuf_mem_tier t = REGBUF_MEM_TIER_THP;
	uint64_t huge = 0;
	int err;

	if (o->flags & REGBUF_MEM_F_NO_PREFAULT) {
		m->folio_shift = base_shift();
		snprintf(m->why[t], sizeof(m->why[t]),
			 "obtained, unverified (not prefaulted): folio shift %u assumed",
			 m->folio_shift);
		return 0;
	}
	err = mem_huge_bytes((uintptr_t)m->addr, m->len, (o->flags & REGBUF_MEM_F_MEMFD) != 0,
			     &huge);
	m->folio_shift = mem_thp_folio_shift(err ? 0 : huge, m->len, tier_shift(t), base_shift());
	if (m->folio_shift == tier_shift(t))
		return 0;
	if (err)
		tier_fail(m, t, -EOPNOTSUPP, "THP mapped but could not be verified (%s)",
			  strerror(-err));
	else
		tier_fail(m, t, -EOPNOTSUPP,
			  "THP requested but only %llu of %zu MiB are huge pages (fragmented memory? "
			  "defrag mode?)", (unsigned long long)(huge >> 20), m->len >> 20);
	if (o->flags & REGBUF_MEM_F_REQUIRE)
		return m->status[t];
	/* Keep the memory as a 4K arena: correct, just not coalescible per 2 MiB. */
	m->tier = REGBUF_MEM_TIER_4K;
	m->status[REGBUF_MEM_TIER_4K] = 0;
	snprintf(m->why[REGBUF_MEM_TIER_4K], sizeof(m->why[0]),
		 "obtained: the THP mapping, treated as base pages (%llu of %zu MiB huge; a "
		 "folio shift covers the whole arena)", (unsigned long long)(huge >> 20),
		 m->len >> 20);
	return 0;
}

static int try_tier(struct regbuf_mem *m, enum regbuf_mem_tier t, size_t len,
		    const struct regbuf_mem_opts *o)
{
	unsigned int shift = tier_shift(t);
	size_t page = (size_t)1 << shift, memlen;
	void *addr = NULL;
	int fd, err;

	if (len > SIZE_MAX - page)
		return tier_fail(m, t, -ENOMEM, "length overflows when rounded to %s pages",
				 tier_names[t]);
	memlen = (len + page - 1) & ~(page - 1);
	if (mem_tier_skipped(len, shift, t != REGBUF_MEM_TIER_4K, o->flags))
		return tier_fail(m, t, -ERANGE, "skipped: %zu bytes is less than one %s page",
				 len, tier_names[t]);
	if (t == REGBUF_MEM_TIER_THP && thp_allowed(m, o->flags & REGBUF_MEM_F_MEMFD))
		return m->status[t];

	err = tier_memfd(m, t, memlen, o->flags, &fd);
	if (err)
		return err;
	err = tier_map(m, t, memlen, fd, &addr);
	if (err)
		goto out_close;
	err = tier_prepare(m, t, addr, memlen, o);
	if (err)
		goto out_unmap;

	m->addr = addr;
	m->len = memlen;
	m->fd = fd;
	m->tier = t;
	m->folio_shift = shift;
	m->status[t] = 0;
	snprintf(m->why[t], sizeof(m->why[t]), "obtained: %zu bytes of %s pages%s", memlen,
		 tier_names[t], fd >= 0 ? " (memfd)" : "");
	if (t != REGBUF_MEM_TIER_THP)
		return 0;
	err = thp_verify(m, o);
	if (!err)
		return 0;
	m->addr = NULL;
	m->fd = -1;
out_unmap:
	munmap(addr, memlen);
out_close:
	if (fd >= 0)
		close(fd);
	return err;
}

static int node_online(int node)
{
	char path[64];

	snprintf(path, sizeof(path), "/sys/devices/system/node/node%d", node);
	return !access(path, F_OK);
}

static int opts_valid(size_t len, const struct regbuf_mem_opts *o)
{
	const unsigned int known = REGBUF_MEM_F_REQUIRE | REGBUF_MEM_F_NO_PREFAULT |
				   REGBUF_MEM_F_MEMFD | REGBUF_MEM_F_NUMA;
	unsigned int i;

	if (!len || (o->flags & ~known) || (unsigned int)o->tier >= REGBUF_MEM_TIER_NR)
		return -EINVAL;
	for (i = 0; i < sizeof(o->__reserved) / sizeof(o->__reserved[0]); i++)
		if (o->__reserved[i])
			return -EINVAL;
	if ((o->flags & REGBUF_MEM_F_NUMA) &&
	    (o->numa_node < 0 || o->numa_node >= MEM_MAX_NODES || !node_online(o->numa_node)))
		return -EINVAL;
	return 0;
}

/* Copy the per-tier outcome of @m (NULL: nothing tried) into @rep, if any. */
static void report_fill(struct regbuf_mem_report *rep, const struct regbuf_mem *m)
{
	unsigned int t;

	if (!rep)
		return;
	for (t = 0; t < REGBUF_MEM_TIER_NR; t++) {
		rep->status[t] = m ? m->status[t] : -ENOENT;
		snprintf(rep->why[t], sizeof(rep->why[t]), "%s", m ? m->why[t] : "not tried");
	}
}

int regbuf_mem_create_report(struct regbuf_mem **memp, size_t len,
			     const struct regbuf_mem_opts *opts, struct regbuf_mem_report *report)
{
	static const struct regbuf_mem_opts defaults;
	const struct regbuf_mem_opts *o = opts ? opts : &defaults;
	struct regbuf_mem *m;
	unsigned int t;
	int err;

	report_fill(report, NULL);
	if (!memp)
		return -EINVAL;
	err = opts_valid(len, o);
	if (err)
		return err;
	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->fd = -1;
	for (t = 0; t < REGBUF_MEM_TIER_NR; t++) {
		m->status[t] = -ENOENT;
		snprintf(m->why[t], sizeof(m->why[t]), "not tried");
	}
	err = -ENOMEM;
	for (t = o->tier; t < REGBUF_MEM_TIER_NR; t++) {
		err = try_tier(m, (enum regbuf_mem_tier)t, len, o);
		if (!err) {
			report_fill(report, m);
			*memp = m;
			return 0;
		}
		if (o->flags & REGBUF_MEM_F_REQUIRE)
			break;
	}
	/* The reasons would go with the object: hand them to the caller first. */
	report_fill(report, m);
	free(m);
	return (o->flags & REGBUF_MEM_F_REQUIRE) ? err : -ENOMEM;
}

int regbuf_mem_create(struct regbuf_mem **memp, size_t len, const struct regbuf_mem_opts *opts)
{
	return regbuf_mem_create_report(memp, len, opts, NULL);
}

void regbuf_mem_destroy(struct regbuf_mem *mem)
{
	if (!mem)
		return;
	munmap(mem->addr, mem->len);
	if (mem->fd >= 0)
		close(mem->fd);
	free(mem);
}

int regbuf_mem_prefault(struct regbuf_mem *mem, size_t off, size_t len)
{
	size_t page;

	if (!mem)
		return -EINVAL;
	page = (size_t)1 << tier_shift(mem->tier);
	if (off > mem->len || len > mem->len - off || (off & (page - 1)) ||
	    ((len & (page - 1)) && off + len != mem->len))
		return -EINVAL;
	return len ? mem_prefault_range((char *)mem->addr + off, len) : 0;
}

void *regbuf_mem_addr(const struct regbuf_mem *mem)
{
	return mem->addr;
}

size_t regbuf_mem_len(const struct regbuf_mem *mem)
{
	return mem->len;
}

unsigned int regbuf_mem_folio_shift(const struct regbuf_mem *mem)
{
	return mem->folio_shift;
}

enum regbuf_mem_tier regbuf_mem_tier(const struct regbuf_mem *mem)
{
	return mem->tier;
}

int regbuf_mem_tier_status(const struct regbuf_mem *mem, enum regbuf_mem_tier tier,
			   const char **why)
{
	if ((unsigned int)tier >= REGBUF_MEM_TIER_NR)
		return -EINVAL;
	if (why)
		*why = mem->why[tier];
	return mem->status[tier];
}

int regbuf_mem_fd(const struct regbuf_mem *mem)
{
	return mem->fd >= 0 ? mem->fd : -ENOENT;
}
