// SPDX-License-Identifier: MIT
/*
 * uring: what sysfs says of the device under a file: the disk whose queue
 * serves it, that queue's limits, and the NVMe namespace a char device is.
 * Read by passthrough (cmd.c) and by the polling check (poll.c).
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "sys/sys.h"
#include "uring/uring.h"

#define SYS_BLOCK		"/sys/block/"

int uring_queue_read_u64(const char *disk, const char *attr, uint64_t *val)
{
	char path[128];

	if ((size_t)snprintf(path, sizeof(path), SYS_BLOCK "%s/queue/%s", disk, attr) >=
	    sizeof(path))
		return -EINVAL;
	return sys_read_u64(path, val);
}

int regbuf_uring_nvme_read_limits(struct regbuf_limits *lim, uint64_t *chunk_bytes,
				  const char *disk)
{
	uint64_t v;
	int ret;

	if (!lim || !disk || !*disk || strchr(disk, '/'))
		return -EINVAL;
	regbuf_limits_default(lim);
	ret = uring_queue_read_u64(disk, "max_hw_sectors_kb", &v);
	if (ret)
		return ret;
	lim->max_bytes = v << 10;
	ret = uring_queue_read_u64(disk, "max_segments", &v);
	if (ret)
		return ret;
	lim->max_segments = v > UINT32_MAX ? UINT32_MAX : (uint32_t)v;
	ret = uring_queue_read_u64(disk, "max_segment_size", &v);
	if (ret)
		return ret;
	lim->max_segment_size = v;
	ret = uring_queue_read_u64(disk, "logical_block_size", &v);
	if (ret)
		return ret;
	lim->logical_block_size = v > UINT32_MAX ? 0 : (uint32_t)v;
	/* virt_boundary_mask and dma_alignment appeared in sysfs later than the
	 * other limits: keep the block layer's defaults where they are missing. */
	if (!uring_queue_read_u64(disk, "virt_boundary_mask", &v))
		lim->virt_boundary_mask = v;
	if (!uring_queue_read_u64(disk, "dma_alignment", &v))
		lim->dma_alignment = v > UINT32_MAX ? UINT32_MAX : (uint32_t)v;
	if (chunk_bytes) {
		*chunk_bytes = 0;
		if (!uring_queue_read_u64(disk, "chunk_sectors", &v))
			*chunk_bytes = v << 9;
	}
	return regbuf_limits_validate(lim);
}

int uring_nvme_generic_name(dev_t rdev, char *name, size_t len)
{
	char path[96], link[PATH_MAX];
	const char *base;
	ssize_t n;

	snprintf(path, sizeof(path), "/sys/dev/char/%u:%u/subsystem", major(rdev), minor(rdev));
	if (sys_readlink(path, link, sizeof(link)) < 0)
		return -ENODEV;		/* no such char device in sysfs */
	base = strrchr(link, '/');
	if (strcmp(base ? base + 1 : link, "nvme-generic"))
		return -ENODEV;
	snprintf(path, sizeof(path), "/sys/dev/char/%u:%u", major(rdev), minor(rdev));
	n = sys_readlink(path, link, sizeof(link));
	if (n < 0)
		return (int)n;
	base = strrchr(link, '/');
	base = base ? base + 1 : link;
	if (strncmp(base, "ng", 2) || strlen(base) >= len)
		return -ENODEV;
	strcpy(name, base);
	return 0;
}

/*
 * The disk whose queue serves block device @devt: the device's own
 * directory, or its parent's for a partition (the queue belongs to the
 * whole disk).  0, or -errno when there is no such block device.
 */
int uring_disk_of(dev_t devt, char *disk, size_t len)
{
	char link[64], dir[PATH_MAX], part[PATH_MAX + 16];
	const char *base;
	char *slash;

	snprintf(link, sizeof(link), "/sys/dev/block/%u:%u", major(devt), minor(devt));
	if (!realpath(link, dir))
		return -errno;
	snprintf(part, sizeof(part), "%s/partition", dir);
	if (!access(part, F_OK)) {
		slash = strrchr(dir, '/');
		if (slash)
			*slash = '\0';
	}
	base = strrchr(dir, '/');
	base = base ? base + 1 : dir;
	if (strlen(base) >= len)
		return -ENAMETOOLONG;
	strcpy(disk, base);
	return 0;
}
