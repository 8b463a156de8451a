// SPDX-License-Identifier: MIT
/*
 * Physical-address backend: no IOMMU.  The function is bound to
 * uio_pci_generic (which only exists to keep other drivers away; it does not
 * touch DMA), BAR0 is mapped from sysfs resource0 and DMA uses physical
 * addresses from /proc/self/pagemap (Documentation/admin-guide/mm/pagemap.rst:
 * bit 63 present, bits 54:0 the frame number, zero without CAP_SYS_ADMIN).
 * Only hugetlb pages are accepted (/proc/kpageflags KPF_HUGE, bit 17): they
 * are not migrated or compacted while mapped, 4 KiB pages and THPs can be,
 * which would leave the device writing into someone else's memory.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "nvme_priv.h"
#include "sys/compat.h"
#include "sys/pagemap.h"
#include "sys/sys.h"

/* Without read access to these files physical mode is not allowed: -EPERM. */
static int eacces_perm(int ret)
{
	return ret == -EACCES ? -EPERM : ret;
}

/* BAR0 through sysfs resource0, mapped uncached (O_SYNC). */
static int phys_bar_map(struct regbuf_nvme_ctrl *c, char *why, size_t why_len)
{
	char path[PATH_MAX];
	struct stat st;
	void *p = NULL;
	int fd, ret;

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/resource0", c->bdf);
	fd = sys_open(path, O_RDWR | O_SYNC);
	if (fd < 0) {
		nvme_why(why, why_len, "%s: %s", path, strerror(-fd));
		return eacces_perm(fd);
	}
	ret = sys_fstat(fd, &st);
	if (!ret)
		ret = sys_mmap(&p, NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED,
			       fd, 0);
	if (ret) {
		nvme_why(why, why_len, "%s: %s", path, strerror(-ret));
		goto out_close;
	}
	c->bar = p;
	c->bar_len = (size_t)st.st_size;
out_close:
	close(fd);
	return eacces_perm(ret);
}

/*
 * Hold the function's /dev/uioN for as long as the controller is used.
 * uio_pci_generic's release() clears bus mastering when the file is closed,
 * which the kernel also does when the process dies, even of SIGKILL: a
 * controller left enabled would otherwise finish the commands in flight by
 * writing data and completions into pages that are free again.  The flock
 * keeps a second process from bringing up the same controller under this
 * one (VFIO refuses a second open of the group; uio does not).
 */
static int phys_uio_hold(struct regbuf_nvme_ctrl *c, char *why, size_t why_len)
{
	char path[PATH_MAX + 300];
	struct dirent *de;
	DIR *d;
	int fd = -ENOENT;

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/uio", c->bdf);
	d = opendir(path);
	while (d && (de = readdir(d)) && fd == -ENOENT) {
		if (strncmp(de->d_name, "uio", 3))
			continue;
		snprintf(path, sizeof(path), "/dev/%s", de->d_name);
		fd = sys_open(path, O_RDWR);
	}
	if (d)
		closedir(d);
	if (fd < 0) {
		nvme_why(why, why_len, "%s/uio, /dev/uioN: %s (the uio device's file is what "
			 "stops the controller's DMA when this process ends)", c->bdf,
			 strerror(-fd));
		return eacces_perm(fd);
	}
	if (flock(fd, LOCK_EX | LOCK_NB)) {
		close(fd);
		nvme_why(why, why_len, "%s is in use by another process (its /dev/uioN is locked)",
			 c->bdf);
		return -EBUSY;
	}
	c->uio_fd = fd;
	return 0;
}

int nvme_phys_open(struct regbuf_nvme_ctrl *c, char *why, size_t why_len)
{
	char path[PATH_MAX], link[PATH_MAX];
	ssize_t n;
	int ret;

	if (!(c->flags & REGBUF_NVME_F_ALLOW_UNSAFE)) {
		nvme_why(why, why_len, "physical mode lets the device write anywhere in RAM "
			 "(no IOMMU); pass REGBUF_NVME_F_ALLOW_UNSAFE to accept that");
		return -EPERM;
	}
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/driver", c->bdf);
	n = sys_readlink(path, link, sizeof(link));
	if (n < 0 || !strstr(link, "/uio_pci_generic")) {
		nvme_why(why, why_len, "%s is not bound to uio_pci_generic (driver_override + "
			 "drivers_probe)", c->bdf);
		return -ENODEV;
	}
	ret = phys_uio_hold(c, why, why_len);
	if (ret)
		return ret;
	ret = sys_pagemap_open();
	if (ret >= 0) {
		c->pagemap_fd = ret;
		ret = sys_kpageflags_open();
	}
	if (ret < 0) {
		nvme_why(why, why_len, "/proc/self/pagemap or /proc/kpageflags: %s "
			 "(physical mode needs root)", strerror(-ret));
		ret = eacces_perm(ret);
		goto out_close;
	}
	c->kpageflags_fd = ret;
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/config", c->bdf);
	ret = sys_open(path, O_RDWR);
	if (ret < 0) {
		nvme_why(why, why_len, "%s: %s", path, strerror(-ret));
		ret = eacces_perm(ret);
		goto out_close;
	}
	c->cfg_fd = ret;
	ret = phys_bar_map(c, why, why_len);
	if (ret)
		goto out_close;
	return 0;
out_close:
	nvme_phys_close(c);
	return ret;
}

void nvme_phys_close(struct regbuf_nvme_ctrl *c)
{
	if (c->bar)
		munmap((void *)c->bar, c->bar_len);
	c->bar = NULL;
	if (c->cfg_fd >= 0)
		close(c->cfg_fd);
	if (c->pagemap_fd >= 0)
		close(c->pagemap_fd);
	if (c->kpageflags_fd >= 0)
		close(c->kpageflags_fd);
	/* Last: the device stops mastering the bus (after the shutdown, if any). */
	if (c->uio_fd >= 0)
		close(c->uio_fd);
	c->uio_fd = c->cfg_fd = c->pagemap_fd = c->kpageflags_fd = -1;
}

/*
 * Physical segments of [vaddr, vaddr + len): one pagemap read for the whole
 * range, frames checked for KPF_HUGE, physically adjacent pages merged.
 */
int nvme_phys_translate(struct regbuf_nvme_ctrl *c, uint64_t vaddr, uint64_t len,
			struct regbuf_seg **segsp, uint32_t *nrp, bool require_huge)
{
	uint64_t first = vaddr >> 12, last = (vaddr + len - 1) >> 12, n = last - first + 1, i;
	struct regbuf_seg *segs = NULL;
	uint64_t *pm;
	uint32_t nr = 0;
	int ret = 0;

	pm = malloc(n * sizeof(*pm));
	segs = malloc(n * sizeof(*segs));
	if (!pm || !segs) {
		ret = -ENOMEM;
		goto out;
	}
	if (sys_read_entries_all(c->pagemap_fd, first, pm, n)) {
		ret = -EFAULT;
		goto out;
	}
	for (i = 0; i < n; i++) {
		uint64_t pfn = pm[i] & PM_ENTRY_PFN_MASK, flags, pa, a, l;

		if (!(pm[i] & PM_ENTRY_PRESENT)) {
			ret = -EFAULT;	/* not faulted in: the caller must prefault */
			goto out;
		}
		if (!pfn) {
			ret = -EPERM;	/* frame numbers hidden: no CAP_SYS_ADMIN */
			goto out;
		}
		if (require_huge) {
			if (sys_read_entries_all(c->kpageflags_fd, pfn, &flags, 1)) {
				ret = -EPERM;
				goto out;
			}
			if (!(flags & (UINT64_C(1) << KPF_HUGE))) {
				ret = -EPERM;	/* 4 KiB or THP memory could move under DMA */
				goto out;
			}
		}
		pa = pfn << 12;
		a = i ? (first + i) << 12 : vaddr;
		l = (i == n - 1 ? vaddr + len : (first + i + 1) << 12) - a;
		pa += a & 4095;
		if (nr && segs[nr - 1].addr + segs[nr - 1].len == pa) {
			segs[nr - 1].len += l;
		} else {
			segs[nr].addr = pa;
			segs[nr].len = l;
			nr++;
		}
	}
	*segsp = segs;
	*nrp = nr;
	segs = NULL;
out:
	free(pm);
	free(segs);
	return ret;
}
