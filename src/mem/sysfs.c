// SPDX-License-Identifier: MIT
/*
 * regbuf - what the kernel says about memory: sysfs modes and counters, and
 * whether a range is really backed by huge pages.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "mem.h"

int mem_read_u64(const char *path, uint64_t *val)
{
	char buf[64], *end;
	ssize_t n;
	int fd, err;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	err = errno;
	close(fd);
	if (n < 0)
		return -err;
	buf[n] = '\0';
	errno = 0;
	*val = strtoull(buf, &end, 10);
	if (errno || end == buf)
		return -EINVAL;
	return 0;
}

int mem_read_mode(const char *path, char *out, size_t len)
{
	char buf[256], *l, *r;
	ssize_t n;
	int fd, err;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	err = errno;
	close(fd);
	if (n < 0)
		return -err;
	buf[n] = '\0';
	l = strchr(buf, '[');
	r = l ? strchr(l, ']') : NULL;
	if (!r || (size_t)(r - l - 1) >= len)
		return -EINVAL;
	memcpy(out, l + 1, (size_t)(r - l - 1));
	out[r - l - 1] = '\0';
	return 0;
}

/*
 * PAGEMAP_SCAN (linux/fs.h, 6.7): Debian 12's 6.1 headers lack it, so the
 * uapi layout is spelled out here; the ioctl number encodes its size.
 */
struct mem_pm_scan_arg {
	uint64_t size;
	uint64_t flags;
	uint64_t start;
	uint64_t end;
	uint64_t walk_end;
	uint64_t vec;
	uint64_t vec_len;
	uint64_t max_pages;
	uint64_t category_inverted;
	uint64_t category_mask;
	uint64_t category_anyof_mask;
	uint64_t return_mask;
};

struct mem_page_region {
	uint64_t start;
	uint64_t end;
	uint64_t categories;
};

#define MEM_PAGEMAP_SCAN	_IOWR('f', 16, struct mem_pm_scan_arg)
#define MEM_PAGE_IS_HUGE	(1u << 6)

static int huge_bytes_scan(uintptr_t addr, size_t len, uint64_t *huge)
{
	struct mem_page_region vec[64];
	struct mem_pm_scan_arg arg;
	uint64_t total = 0, start = addr, end = addr + len;
	int fd, err = 0;

	fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	while (start < end) {
		int n, i;

		memset(&arg, 0, sizeof(arg));
		arg.size = sizeof(arg);
		arg.start = start;
		arg.end = end;
		arg.vec = (uintptr_t)vec;
		arg.vec_len = sizeof(vec) / sizeof(vec[0]);
		arg.category_mask = MEM_PAGE_IS_HUGE;
		arg.return_mask = MEM_PAGE_IS_HUGE;
		n = ioctl(fd, MEM_PAGEMAP_SCAN, &arg);
		if (n < 0) {
			err = -errno;
			break;
		}
		for (i = 0; i < n; i++)
			total += vec[i].end - vec[i].start;
		if (arg.walk_end <= start) {
			err = -EIO;
			break;
		}
		start = arg.walk_end;
	}
	close(fd);
	if (!err)
		*huge = total;
	return err;
}

/*
 * /proc/self/smaps counts huge pages per VMA (AnonHugePages for anonymous
 * memory, ShmemPmdMapped for shmem).  It can only be attributed to the range
 * when the VMA is exactly the range: a neighbouring arena with the same flags
 * may have been merged into it.
 */
static int huge_bytes_smaps(uintptr_t addr, size_t len, int shmem, uint64_t *huge)
{
	const char *key = shmem ? "ShmemPmdMapped:" : "AnonHugePages:";
	int in_vma = 0, found = 0;
	char line[512];
	FILE *f;

	f = fopen("/proc/self/smaps", "re");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		uintptr_t s, e;
		uint64_t kb;

		/* VMA header lines are "start-end perms ..."; field lines "Name: value". */
		if (sscanf(line, "%" SCNxPTR "-%" SCNxPTR, &s, &e) == 2) {
			in_vma = s <= addr && addr < e;
			if (in_vma && (s != addr || e != addr + len)) {
				fclose(f);
				return -EOPNOTSUPP;
			}
			continue;
		}
		if (in_vma && !strncmp(line, key, strlen(key)) &&
		    sscanf(line + strlen(key), "%" SCNu64, &kb) == 1) {
			*huge = kb * 1024;
			found = 1;
			break;
		}
	}
	fclose(f);
	return found ? 0 : -EOPNOTSUPP;
}

int mem_huge_bytes(uintptr_t addr, size_t len, int shmem, uint64_t *huge)
{
	int err = huge_bytes_scan(addr, len, huge);

	/* ENOTTY/EINVAL: a kernel before 6.7 (or another layout). */
	if (!err)
		return 0;
	return huge_bytes_smaps(addr, len, shmem, huge);
}
