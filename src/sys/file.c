// SPDX-License-Identifier: MIT
/*
 * regbuf - small sysfs/procfs files read whole: the kernel's counters and
 * limits that the mem layer (hugetlb pools, THP size) and the uring layer
 * (a block device's queue limits) read.
 */
#include <errno.h>
#include <unistd.h>

#include "sys/sys.h"

int sys_read_small(const char *path, char *buf, size_t len)
{
	ssize_t n;
	int fd;

	fd = sys_open(path, O_RDONLY);
	if (fd < 0)
		return fd;
	n = sys_read(fd, buf, len - 1);
	close(fd);
	if (n < 0)
		return (int)n;
	buf[n] = '\0';
	return 0;
}

int sys_read_u64(const char *path, uint64_t *val)
{
	char buf[64];
	int err;

	err = sys_read_small(path, buf, sizeof(buf));
	if (err)
		return err;
	return sys_strtou64(buf, val);
}
