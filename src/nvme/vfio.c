// SPDX-License-Identifier: MIT
/*
 * VFIO type1 backend: container, group, device, BAR0, bus mastering, and the
 * IOVA space (linux/vfio.h; kernel drivers/vfio/vfio_iommu_type1.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <linux/vfio.h>

#include "nvme_priv.h"
#include "sys/sys.h"

/* libvfn's fallback when the kernel reports no ranges: above 64 KiB, below 2^39
 * (QEMU's intel-iommu default aw-bits=39). */
#define NVME_IOVA_DEFAULT_START	UINT64_C(0x10000)
#define NVME_IOVA_DEFAULT_END	((UINT64_C(1) << 39) - 1)

/* vfio_iommu_type1 module parameter dma_entry_limit default (U16_MAX). */
#define NVME_VFIO_DEFAULT_LIMIT	65535u

int nvme_iova_add_range(struct regbuf_nvme_ctrl *c, uint64_t start, uint64_t end)
{
	struct nvme_iova_range *r;

	r = realloc(c->free_iova, (c->nr_free_iova + 1) * sizeof(*r));
	if (!r)
		return -ENOMEM;
	c->free_iova = r;
	r[c->nr_free_iova].start = start;
	r[c->nr_free_iova].end = end;
	c->nr_free_iova++;
	return 0;
}

/*
 * VFIO_IOMMU_GET_INFO with its capability chain: the usable IOVA windows
 * (CAP_IOVA_RANGE, which excludes reserved regions such as the x86 MSI
 * window) and the number of mappings left (CAP_DMA_AVAIL).
 */
static int iommu_info(struct regbuf_nvme_ctrl *c, char *why, size_t why_len)
{
	struct vfio_iommu_type1_info *info;
	size_t sz = sizeof(*info);
	uint32_t off;
	int ret = 0;

	for (;;) {
		info = calloc(1, sz);
		if (!info)
			return -ENOMEM;
		info->argsz = (uint32_t)sz;
		ret = sys_ioctl(c->container, VFIO_IOMMU_GET_INFO, info);
		if (ret < 0) {
			nvme_why(why, why_len, "VFIO_IOMMU_GET_INFO: %s", strerror(-ret));
			free(info);
			return ret;
		}
		if (info->argsz <= sz)
			break;
		sz = info->argsz;	/* capabilities did not fit: retry larger */
		free(info);
	}
	c->max_mappings = NVME_VFIO_DEFAULT_LIMIT;
	off = (info->flags & VFIO_IOMMU_INFO_CAPS) ? info->cap_offset : 0;
	while (off && off + sizeof(struct vfio_info_cap_header) <= sz) {
		struct vfio_info_cap_header *h = (void *)((char *)info + off);

		if (h->id == VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE) {
			struct vfio_iommu_type1_info_cap_iova_range *cr = (void *)h;
			uint32_t i;

			for (i = 0; i < cr->nr_iovas && !ret; i++) {
				uint64_t s = cr->iova_ranges[i].start, e = cr->iova_ranges[i].end;

				/* keep IOVA 0 and the first 64 KiB unused: a zero address
				 * in a descriptor is far more often a bug than a mapping */
				if (e < NVME_IOVA_DEFAULT_START)
					continue;
				if (s < NVME_IOVA_DEFAULT_START)
					s = NVME_IOVA_DEFAULT_START;
				ret = nvme_iova_add_range(c, s, e);
			}
		} else if (h->id == VFIO_IOMMU_TYPE1_INFO_DMA_AVAIL) {
			struct vfio_iommu_type1_info_dma_avail *da = (void *)h;

			c->max_mappings = da->avail;
		}
		off = h->next;
	}
	free(info);
	if (!ret && !c->nr_free_iova)
		ret = nvme_iova_add_range(c, NVME_IOVA_DEFAULT_START, NVME_IOVA_DEFAULT_END);
	c->info.iova_limit = c->max_mappings;
	return ret;
}

static int region_info(struct regbuf_nvme_ctrl *c, uint32_t index, struct vfio_region_info *ri)
{
	memset(ri, 0, sizeof(*ri));
	ri->argsz = sizeof(*ri);
	ri->index = index;
	int ret = sys_ioctl(c->device, VFIO_DEVICE_GET_REGION_INFO, ri);

	return ret < 0 ? ret : 0;
}

/* A missing file means the driver or the function is not there: -ENODEV. */
static int enoent_nodev(int ret)
{
	return ret == -ENOENT ? -ENODEV : ret;
}

/*
 * The container: /dev/vfio/vfio with the API version this code speaks and a
 * type1 IOMMU (type1v2 unmaps exactly what was mapped; plain type1 as a
 * fallback).  The fd in *@fdp, the IOMMU type in *@type; 0 or -errno.
 */
static int vfio_container_open(int *fdp, unsigned long *type, char *why, size_t why_len)
{
	int fd, ret;

	fd = sys_open("/dev/vfio/vfio", O_RDWR);
	if (fd < 0) {
		nvme_why(why, why_len, "/dev/vfio/vfio: %s (modprobe vfio-pci)", strerror(-fd));
		return enoent_nodev(fd);
	}
	if (sys_ioctl_val(fd, VFIO_GET_API_VERSION, 0) != VFIO_API_VERSION) {
		nvme_why(why, why_len, "VFIO API version mismatch");
		ret = -ENODEV;
		goto out_close;
	}
	*type = sys_ioctl_val(fd, VFIO_CHECK_EXTENSION, VFIO_TYPE1v2_IOMMU) > 0 ?
		VFIO_TYPE1v2_IOMMU : VFIO_TYPE1_IOMMU;
	if (*type == VFIO_TYPE1_IOMMU && sys_ioctl_val(fd, VFIO_CHECK_EXTENSION, *type) <= 0) {
		nvme_why(why, why_len, "VFIO has no type1 IOMMU support");
		ret = -ENODEV;
		goto out_close;
	}
	*fdp = fd;
	return 0;
out_close:
	close(fd);
	return ret;
}

/* The function's IOMMU group, viable, attached to @c's container with @type. */
static int vfio_group_open(struct regbuf_nvme_ctrl *c, unsigned long type, char *why,
			   size_t why_len)
{
	struct vfio_group_status gs = { .argsz = sizeof(gs) };
	char path[PATH_MAX + 32], link[PATH_MAX], *g;
	ssize_t n;
	int fd, ret;

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/iommu_group", c->bdf);
	n = sys_readlink(path, link, sizeof(link));
	if (n < 0) {
		nvme_why(why, why_len, "%s has no IOMMU group (%s): no IOMMU, use physical mode",
			 c->bdf, strerror((int)-n));
		return enoent_nodev((int)n);
	}
	g = strrchr(link, '/');
	snprintf(path, sizeof(path), "/dev/vfio/%s", g ? g + 1 : link);
	fd = sys_open(path, O_RDWR);
	if (fd < 0) {
		nvme_why(why, why_len, "%s: %s (is %s bound to vfio-pci?)", path, strerror(-fd),
			 c->bdf);
		return enoent_nodev(fd);
	}
	ret = sys_ioctl(fd, VFIO_GROUP_GET_STATUS, &gs);
	if (ret < 0) {
		nvme_why(why, why_len, "VFIO_GROUP_GET_STATUS: %s", strerror(-ret));
		goto out_close;
	}
	if (!(gs.flags & VFIO_GROUP_FLAGS_VIABLE)) {
		nvme_why(why, why_len, "IOMMU group %s is not viable: bind every device in it to "
			 "vfio-pci", path);
		ret = -EBUSY;
		goto out_close;
	}
	ret = sys_ioctl(fd, VFIO_GROUP_SET_CONTAINER, &c->container);
	if (ret >= 0)
		ret = sys_ioctl_val(c->container, VFIO_SET_IOMMU, type);
	if (ret < 0) {
		nvme_why(why, why_len, "attaching group %s: %s", path, strerror(-ret));
		goto out_close;
	}
	c->group = fd;
	return 0;
out_close:
	close(fd);
	return ret;
}

/*
 * Registers and doorbells only.  QEMU puts the MSI-X table right after the
 * doorbells (0x2000 with 64 queue pairs); whether the kernel lets those
 * pages be mapped depends on interrupt remapping, so try the whole BAR and
 * fall back to the first 8 KiB.
 */
static int vfio_bar_map(struct regbuf_nvme_ctrl *c, const struct vfio_region_info *bar0,
			char *why, size_t why_len)
{
	void *p = NULL;
	int ret;

	if (!(bar0->flags & VFIO_REGION_INFO_FLAG_MMAP) || bar0->size < 0x2000) {
		nvme_why(why, why_len, "BAR0 cannot be mapped (size %llu)",
			 (unsigned long long)bar0->size);
		return -ENODEV;
	}
	c->bar_len = bar0->size;
	ret = sys_mmap(&p, NULL, c->bar_len, PROT_READ | PROT_WRITE, MAP_SHARED, c->device,
		       (off_t)bar0->offset);
	if (ret) {
		c->bar_len = 0x2000;
		ret = sys_mmap(&p, NULL, c->bar_len, PROT_READ | PROT_WRITE, MAP_SHARED,
			       c->device, (off_t)bar0->offset);
	}
	if (ret) {
		nvme_why(why, why_len, "mmap BAR0: %s", strerror(-ret));
		return ret;
	}
	c->bar = p;
	return 0;
}

/* The device fd, where its config space is, and BAR0 mapped. */
static int vfio_device_open(struct regbuf_nvme_ctrl *c, char *why, size_t why_len)
{
	struct vfio_region_info bar0, cfg;
	int fd, ret;

	fd = sys_ioctl(c->group, VFIO_GROUP_GET_DEVICE_FD, c->bdf);
	if (fd < 0) {
		nvme_why(why, why_len, "VFIO_GROUP_GET_DEVICE_FD %s: %s", c->bdf, strerror(-fd));
		return fd == -EBUSY ? -EBUSY : -ENODEV;
	}
	c->device = fd;
	ret = region_info(c, VFIO_PCI_CONFIG_REGION_INDEX, &cfg);
	if (!ret)
		ret = region_info(c, VFIO_PCI_BAR0_REGION_INDEX, &bar0);
	if (ret) {
		nvme_why(why, why_len, "VFIO_DEVICE_GET_REGION_INFO failed");
		goto out_close;
	}
	c->cfg_off = cfg.offset;
	ret = vfio_bar_map(c, &bar0, why, why_len);
	if (ret)
		goto out_close;
	return 0;
out_close:
	close(fd);
	c->device = -1;
	return ret;
}

int nvme_vfio_open(struct regbuf_nvme_ctrl *c, char *why, size_t why_len)
{
	unsigned long type;
	int ret;

	ret = vfio_container_open(&c->container, &type, why, why_len);
	if (ret)
		return ret;
	ret = vfio_group_open(c, type, why, why_len);
	if (ret)
		goto out_close_container;
	ret = iommu_info(c, why, why_len);
	if (ret)
		goto out_close_group;
	ret = vfio_device_open(c, why, why_len);
	if (ret)
		goto out_free_iova;
	return 0;
out_free_iova:
	free(c->free_iova);
	c->free_iova = NULL;
	c->nr_free_iova = 0;
out_close_group:
	close(c->group);
	c->group = -1;
out_close_container:
	close(c->container);
	c->container = -1;
	return ret;
}

void nvme_vfio_close(struct regbuf_nvme_ctrl *c)
{
	if (c->bar)
		munmap((void *)c->bar, c->bar_len);
	if (c->device >= 0)
		close(c->device);
	if (c->group >= 0)
		close(c->group);
	if (c->container >= 0)
		close(c->container);	/* the kernel drops every mapping left */
	free(c->free_iova);
	c->free_iova = NULL;
	c->nr_free_iova = 0;
}

/* First fit with alignment; ranges are few (the IOMMU reports 2-3). map_lock held. */
int nvme_iova_alloc(struct regbuf_nvme_ctrl *c, uint64_t len, uint64_t align, uint64_t *iova)
{
	uint32_t i;

	for (i = 0; i < c->nr_free_iova; i++) {
		struct nvme_iova_range *r = &c->free_iova[i];
		uint64_t s = (r->start + align - 1) & ~(align - 1);

		if (s < r->start || s > r->end || r->end - s < len - 1)
			continue;
		if (s > r->start) {
			/* keep the head; split the range */
			uint64_t tail_start = s + len, tail_end = r->end;

			r->end = s - 1;
			if (tail_start - 1 < tail_end && nvme_iova_add_range(c, tail_start, tail_end))
				return -ENOMEM;
		} else if (s + len - 1 == r->end) {
			c->free_iova[i] = c->free_iova[--c->nr_free_iova];
		} else {
			r->start = s + len;
		}
		*iova = s;
		return 0;
	}
	return -ENOSPC;
}

/* Give back and merge with neighbours. map_lock held. */
void nvme_iova_free(struct regbuf_nvme_ctrl *c, uint64_t iova, uint64_t len)
{
	uint64_t s = iova, e = iova + len - 1;
	uint32_t i = 0;

	while (i < c->nr_free_iova) {
		struct nvme_iova_range *r = &c->free_iova[i];

		if (r->end + 1 == s || e + 1 == r->start) {
			if (r->start < s)
				s = r->start;
			if (r->end > e)
				e = r->end;
			c->free_iova[i] = c->free_iova[--c->nr_free_iova];
			i = 0;
			continue;
		}
		i++;
	}
	if (nvme_iova_add_range(c, s, e))
		return;	/* leaks IOVA space, never correctness */
}

int nvme_vfio_map(struct regbuf_nvme_ctrl *c, uint64_t vaddr, uint64_t len, uint64_t align,
		  uint64_t *iova, bool readonly)
{
	struct vfio_iommu_type1_dma_map m = { .argsz = sizeof(m) };
	int ret;

	pthread_mutex_lock(&c->map_lock);
	/* each MAP_DMA takes one of the container's dma_entry_limit slots */
	if (c->nr_mappings >= c->max_mappings) {
		ret = -ENOSPC;
		goto out_unlock;
	}
	ret = nvme_iova_alloc(c, len, align, iova);
	if (ret)
		goto out_unlock;
	m.flags = VFIO_DMA_MAP_FLAG_READ | (readonly ? 0 : VFIO_DMA_MAP_FLAG_WRITE);
	m.vaddr = vaddr;
	m.iova = *iova;
	m.size = len;
	ret = sys_ioctl(c->container, VFIO_IOMMU_MAP_DMA, &m);
	if (ret < 0) {
		nvme_iova_free(c, *iova, len);
		goto out_unlock;
	}
	ret = 0;
	c->nr_mappings++;
out_unlock:
	pthread_mutex_unlock(&c->map_lock);
	return ret;
}

void nvme_vfio_unmap(struct regbuf_nvme_ctrl *c, uint64_t iova, uint64_t len)
{
	struct vfio_iommu_type1_dma_unmap u = { .argsz = sizeof(u), .iova = iova, .size = len };

	pthread_mutex_lock(&c->map_lock);
	if (sys_ioctl(c->container, VFIO_IOMMU_UNMAP_DMA, &u) >= 0) {
		nvme_iova_free(c, iova, len);
		c->nr_mappings--;
	}
	pthread_mutex_unlock(&c->map_lock);
}
