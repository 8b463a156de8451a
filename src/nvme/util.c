// SPDX-License-Identifier: MIT
/*
 * The bottom of the driver, shared by every file above it: one-line reasons,
 * the monotonic clock, and PCI config space through either backend (the
 * VFIO device's config region or sysfs config).
 */
#include <stdarg.h>
#include <stdio.h>
#include <time.h>

#include "nvme_priv.h"
#include "sys/sys.h"

void nvme_why(char *why, size_t len, const char *fmt, ...)
{
	va_list ap;

	if (!why || !len)
		return;
	va_start(ap, fmt);
	vsnprintf(why, len, fmt, ap);
	va_end(ap);
}

uint64_t nvme_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int nvme_cfg_read(struct regbuf_nvme_ctrl *c, uint32_t off, void *buf, size_t len)
{
	ssize_t n;

	if (c->info.mode == REGBUF_NVME_MODE_VFIO)
		n = sys_pread(c->device, buf, len, (off_t)(c->cfg_off + off));
	else
		n = sys_pread(c->cfg_fd, buf, len, off);
	return n == (ssize_t)len ? 0 : (n < 0 ? (int)n : -EIO);
}

int nvme_cfg_write(struct regbuf_nvme_ctrl *c, uint32_t off, const void *buf, size_t len)
{
	ssize_t n;

	if (c->info.mode == REGBUF_NVME_MODE_VFIO)
		n = sys_pwrite(c->device, buf, len, (off_t)(c->cfg_off + off));
	else
		n = sys_pwrite(c->cfg_fd, buf, len, off);
	return n == (ssize_t)len ? 0 : (n < 0 ? (int)n : -EIO);
}
