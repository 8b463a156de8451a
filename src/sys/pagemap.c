// SPDX-License-Identifier: MIT
/*
 * regbuf - /proc/self/pagemap, PAGEMAP_SCAN, /proc/kpageflags and smaps readers
 * shared by mem (huge bytes of an arena), table (folio layout discovery) and
 * uring (memlock preflight).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#if defined(__has_feature)
#if __has_feature(memory_sanitizer)
#include <sanitizer/msan_interface.h>
#define REGBUF_MSAN 1
#endif
#endif
#if defined(__has_include)
#if __has_include(<valgrind/memcheck.h>)
#include <valgrind/memcheck.h>
#endif
#endif

#include "sys/compat.h"
#include "sys/pagemap.h"

#define SCAN_VEC	256	/* regions per PAGEMAP_SCAN call */

/*
 * PAGEMAP_SCAN (Linux 6.7) wrote vec[0..n) and a->walk_end.  MemorySanitizer
 * and valgrind's memcheck do not know this ioctl, so without this they would
 * report reads of what the kernel wrote as uninitialised.
 */
static void scan_mark_written(const struct pm_scan_arg *a, const struct page_region *vec, long n)
{
	size_t len = (size_t)n * sizeof(*vec);

	(void)a;
	(void)len;
#ifdef REGBUF_MSAN
	__msan_unpoison(a, sizeof(*a));
	__msan_unpoison(vec, len);
#endif
#ifdef VALGRIND_MAKE_MEM_DEFINED
	VALGRIND_MAKE_MEM_DEFINED(a, sizeof(*a));
	VALGRIND_MAKE_MEM_DEFINED(vec, len);
#endif
}

static int open_ro(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	return fd < 0 ? -errno : fd;
}

int sys_pagemap_open(void)
{
	return open_ro("/proc/self/pagemap");
}

int sys_kpageflags_open(void)
{
	return open_ro("/proc/kpageflags");
}

long sys_read_entries(int fd, uint64_t idx, uint64_t *ent, size_t nr)
{
	ssize_t r = pread(fd, ent, nr * sizeof(*ent), (off_t)(idx * sizeof(*ent)));

	if (r < 0)
		return -errno;
	return (long)((size_t)r / sizeof(*ent));
}

int sys_read_entries_all(int fd, uint64_t idx, uint64_t *ent, size_t nr)
{
	long r = sys_read_entries(fd, idx, ent, nr);

	if (r < 0)
		return (int)r;
	return (size_t)r == nr ? 0 : -EIO;
}

int sys_pagemap_scan(int pm_fd, uint64_t start, uint64_t end, uint64_t category_mask,
		     uint64_t return_mask, sys_pm_scan_fn fn, void *arg)
{
	struct page_region vec[SCAN_VEC];
	struct pm_scan_arg a;
	uint64_t cur = start, stop;
	long n, i;
	int ret;

	while (cur < end) {
		memset(&a, 0, sizeof(a));
		a.size = sizeof(a);
		a.start = cur;
		a.end = end;
		a.vec = (uint64_t)(uintptr_t)vec;
		a.vec_len = SCAN_VEC;
		a.category_mask = category_mask;
		a.return_mask = return_mask;
		n = ioctl(pm_fd, PAGEMAP_SCAN, &a);
		/*
		 * A kernel without the ioctl says -ENOTTY; qemu-user (7.2), which
		 * does not pass it through, says -ENOSYS: both mean it is not there.
		 */
		if (n < 0)
			return errno == ENOSYS ? -ENOTTY : -errno;
		scan_mark_written(&a, vec, n);
		for (i = 0; i < n; i++) {
			if (vec[i].start > cur) {
				ret = fn(arg, cur, vec[i].start, SYS_PM_UNREPORTED);
				if (ret)
					return ret;
			}
			ret = fn(arg, vec[i].start, vec[i].end, vec[i].categories);
			if (ret)
				return ret;
			cur = vec[i].end;
		}
		/* Walked up to walk_end; what it did not report there is a gap. */
		stop = a.walk_end < end ? a.walk_end : end;
		if (stop > cur) {
			ret = fn(arg, cur, stop, SYS_PM_UNREPORTED);
			if (ret)
				return ret;
			cur = stop;
		}
		if (!n && stop <= a.start)
			return -EFAULT;
	}
	return 0;
}

int sys_vma_query(int maps_fd, uint64_t addr, bool or_next, struct procmap_query *q, char *name,
		  size_t name_size)
{
	if (maps_fd < 0)
		return -EBADF;
	memset(q, 0, sizeof(*q));
	q->size = sizeof(*q);
	q->query_flags = or_next ? PROCMAP_QUERY_COVERING_OR_NEXT_VMA : 0;
	q->query_addr = addr;
	if (name) {
		q->vma_name_addr = (uint64_t)(uintptr_t)name;
		q->vma_name_size = (uint32_t)name_size;
		name[0] = 0;
	}
	if (ioctl(maps_fd, PROCMAP_QUERY, q) < 0)
		return -errno;
	return 0;
}

int sys_smaps_read(struct sys_vma **vmas, size_t *nr)
{
	struct sys_vma *v = NULL, *nv;
	unsigned long long a, b, kb;
	size_t n = 0, cap = 0;
	char line[512];
	FILE *f;

	f = fopen("/proc/self/smaps", "re");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		int used = 0;

		/* A VMA header: "start-end perms offset dev inode path"; fields "Name: value". */
		if (sscanf(line, "%llx-%llx%n", &a, &b, &used) == 2 && line[used] == ' ') {
			if (n == cap) {
				cap = cap ? cap * 2 : 64;
				nv = realloc(v, cap * sizeof(*v));
				if (!nv) {
					free(v);
					fclose(f);
					return -ENOMEM;
				}
				v = nv;
			}
			memset(&v[n], 0, sizeof(v[n]));
			v[n].start = a;
			v[n].end = b;
			v[n].page_size = 4096;
			n++;
		} else if (n && sscanf(line, "KernelPageSize: %llu kB", &kb) == 1) {
			v[n - 1].page_size = kb * 1024;
		} else if (n && sscanf(line, "AnonHugePages: %llu kB", &kb) == 1) {
			v[n - 1].anon_huge = kb * 1024;
			v[n - 1].has |= SYS_VMA_HAS_ANON_HUGE;
		} else if (n && sscanf(line, "ShmemPmdMapped: %llu kB", &kb) == 1) {
			v[n - 1].shmem_pmd = kb * 1024;
			v[n - 1].has |= SYS_VMA_HAS_SHMEM_PMD;
		}
	}
	fclose(f);
	*vmas = v;
	*nr = n;
	return 0;
}
