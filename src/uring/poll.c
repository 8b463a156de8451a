// SPDX-License-Identifier: MIT
/*
 * uring: whether a polling ring (IORING_SETUP_IOPOLL) can do I/O on a file.
 * Polled completions come only from a queue that has poll queues: its io_poll
 * attribute in sysfs says so (queue_poll_show(): the queue's poll feature).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "sys/sys.h"
#include "uring/uring.h"

static int refuse(char *why, size_t len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int refuse(char *why, size_t len, const char *fmt, ...)
{
	va_list ap;

	if (why && len) {
		va_start(ap, fmt);
		vsnprintf(why, len, fmt, ap);
		va_end(ap);
	}
	return -EOPNOTSUPP;
}

int regbuf_uring_poll_check(int fd, char *why, size_t len)
{
	char name[64], path[160];
	struct stat st;
	uint64_t on;
	dev_t devt;
	int fl, ret;

	if (fd < 0)
		return -EINVAL;
	ret = sys_fstat(fd, &st);
	if (ret)
		return ret;
	if (S_ISCHR(st.st_mode)) {
		/* uring_cmd iopoll: the namespace's requests go to nvmeXnY's queue. */
		if (uring_nvme_generic_name(st.st_rdev, name, sizeof(name)))
			return refuse(why, len, "char device %u:%u is not an NVMe namespace "
				      "(/dev/ngXnY): io_uring polls no other char device",
				      major(st.st_rdev), minor(st.st_rdev));
		memmove(name + 4, name + 2, strlen(name + 2) + 1);
		memcpy(name, "nvme", 4);
	} else if (S_ISREG(st.st_mode) || S_ISBLK(st.st_mode)) {
		fl = sys_fcntl_getfl(fd);
		if (fl < 0)
			return fl;
		/* io_rw_init_file(): an IOPOLL ring takes direct I/O only. */
		if (!(fl & O_DIRECT))
			return refuse(why, len, "not open with O_DIRECT: polled I/O is direct "
				      "I/O only");
		devt = S_ISBLK(st.st_mode) ? st.st_rdev : st.st_dev;
		if (uring_disk_of(devt, name, sizeof(name)))
			return refuse(why, len, "on no block device (/sys/dev/block/%u:%u does "
				      "not exist; tmpfs, NFS, ...): only a block device's queue "
				      "can be polled", major(devt), minor(devt));
	} else {
		return refuse(why, len, "neither a regular file, a block device nor an NVMe "
			      "namespace char device");
	}
	snprintf(path, sizeof(path), "/sys/block/%s/queue/io_poll", name);
	ret = sys_read_u64(path, &on);
	if (ret)
		return refuse(why, len, "%s: %s: cannot tell whether the queue has poll "
			      "queues", path, strerror(-ret));
	if (!on)
		return refuse(why, len, "%s is 0: the device has no poll queues%s", path,
			      strncmp(name, "nvme", 4) ? "" :
			      " (the nvme driver makes them: poll_queues=N when loading "
			      "nvme, nvme.poll_queues=N on the kernel command line; "
			      "nr_poll_queues=N for a fabrics connect)");
	return 0;
}
