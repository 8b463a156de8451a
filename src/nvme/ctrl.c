// SPDX-License-Identifier: MIT
/*
 * Controller bring-up, Identify, reset and shutdown; driver DMA memory;
 * buffer mappings; status helpers.  Section numbers: NVMe Base 1.4.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "nvme_priv.h"
#include "sys/sys.h"

#define NVME_ADMIN_DEPTH	32
#define NVME_MAX_CMD_BYTES	(UINT64_C(2) << 20)	/* one 4 KiB PRP list / SGL page */
#define PCI_COMMAND		0x04
#define PCI_COMMAND_MEMORY	0x2
#define PCI_COMMAND_MASTER	0x4
#define PCI_CLASS_REVISION	0x08

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

/* ---- driver DMA memory: 2 MiB chunks mapped once, 4 KiB pages handed out ---- */

/*
 * @len bytes aligned to NVME_CHUNK_SIZE: a hugetlb mapping (physically
 * contiguous), or, under VFIO only, 4 KiB pages over-allocated and trimmed
 * to the alignment.  Sets *@hugetlb.  0 or -ENOMEM.
 */
static int chunk_map(struct regbuf_nvme_ctrl *c, uint64_t len, uint8_t **pp, bool *hugetlb)
{
	void *raw = NULL;
	uint8_t *p;

	if (!sys_mmap(&raw, NULL, len, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB | MAP_POPULATE, -1, 0)) {
		*pp = raw;
		*hugetlb = true;
		return 0;
	}
	if (c->info.mode == REGBUF_NVME_MODE_PHYS)
		return -ENOMEM;	/* physically contiguous memory needs a huge page */
	if (sys_mmap(&raw, NULL, len + NVME_CHUNK_SIZE, PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0))
		return -ENOMEM;
	p = (uint8_t *)(((uintptr_t)raw + NVME_CHUNK_SIZE - 1) & ~(uintptr_t)(NVME_CHUNK_SIZE - 1));
	if (p > (uint8_t *)raw)
		munmap(raw, (size_t)(p - (uint8_t *)raw));
	munmap(p + len, (size_t)((uint8_t *)raw + len + NVME_CHUNK_SIZE - (p + len)));
	memset(p, 0, len);
	*pp = p;
	*hugetlb = false;
	return 0;
}

/* The device address of a chunk: a VFIO mapping, or its one physical segment. */
static int chunk_dma_map(struct regbuf_nvme_ctrl *c, struct nvme_dma_chunk *ch)
{
	struct regbuf_seg *segs;
	uint32_t nr;
	int ret;

	if (c->info.mode == REGBUF_NVME_MODE_VFIO)
		return nvme_vfio_map(c, (uint64_t)(uintptr_t)ch->vaddr, ch->len, NVME_CHUNK_SIZE,
				     &ch->iova, false);
	ret = nvme_phys_translate(c, (uint64_t)(uintptr_t)ch->vaddr, ch->len, &segs, &nr, true);
	if (ret)
		return ret;
	if (nr == 1)
		ch->iova = segs[0].addr;
	free(segs);
	return nr == 1 ? 0 : -ENOMEM;
}

static int chunk_create(struct regbuf_nvme_ctrl *c, uint64_t len, struct nvme_dma_chunk **chp)
{
	struct nvme_dma_chunk *ch = calloc(1, sizeof(*ch));
	int ret;

	if (!ch)
		return -ENOMEM;
	ch->len = len;
	ret = chunk_map(c, len, &ch->vaddr, &ch->hugetlb);
	if (ret)
		goto out_free;
	ret = chunk_dma_map(c, ch);
	if (ret)
		goto out_unmap;
	*chp = ch;
	return 0;
out_unmap:
	munmap(ch->vaddr, len);
out_free:
	free(ch);
	return ret;
}

static void chunk_destroy(struct regbuf_nvme_ctrl *c, struct nvme_dma_chunk *ch)
{
	if (c->info.mode == REGBUF_NVME_MODE_VFIO)
		nvme_vfio_unmap(c, ch->iova, ch->len);
	munmap(ch->vaddr, ch->len);
	free(ch);
}

static bool page_used(const struct nvme_dma_chunk *ch, uint32_t i)
{
	return ch->used[i / 64] >> (i % 64) & 1;
}

static void page_mark(struct nvme_dma_chunk *ch, uint32_t i, uint32_t n, bool used)
{
	for (; n; n--, i++) {
		if (used)
			ch->used[i / 64] |= UINT64_C(1) << (i % 64);
		else
			ch->used[i / 64] &= ~(UINT64_C(1) << (i % 64));
	}
}

/*
 * Zeroed, page-aligned, physically/IOVA-contiguous memory.  Up to 2 MiB comes
 * from shared chunks; larger (PRP lists of buffers over ~1 GiB) gets a
 * mapping of its own, which physical mode cannot provide (-ENOMEM).
 */
int nvme_dma_alloc(struct regbuf_nvme_ctrl *c, size_t len, void **vaddr, uint64_t *iova)
{
	uint32_t n = (uint32_t)((len + 4095) / 4096), i, run;
	struct nvme_dma_chunk *ch;
	int ret;

	if (!len)
		return -EINVAL;
	if (n > NVME_CHUNK_PAGES) {
		uint64_t big = ((uint64_t)len + NVME_CHUNK_SIZE - 1) & ~(NVME_CHUNK_SIZE - 1);

		if (c->info.mode != REGBUF_NVME_MODE_VFIO)
			return -ENOMEM;
		pthread_mutex_lock(&c->lock);
		ret = chunk_create(c, big, &ch);
		if (!ret) {
			ch->big = true;
			ch->next = c->chunks;
			c->chunks = ch;
			*vaddr = ch->vaddr;
			*iova = ch->iova;
		}
		pthread_mutex_unlock(&c->lock);
		return ret;
	}
	pthread_mutex_lock(&c->lock);
	for (ch = c->chunks;; ch = ch->next) {
		if (!ch) {
			ret = chunk_create(c, NVME_CHUNK_SIZE, &ch);
			if (ret) {
				pthread_mutex_unlock(&c->lock);
				return ret;
			}
			ch->next = c->chunks;
			c->chunks = ch;
		}
		if (ch->big)
			continue;
		for (i = 0, run = 0; i < NVME_CHUNK_PAGES; i++) {
			run = page_used(ch, i) ? 0 : run + 1;
			if (run == n)
				break;
		}
		if (run == n) {
			i = i + 1 - n;
			page_mark(ch, i, n, true);
			*vaddr = ch->vaddr + (size_t)i * 4096;
			*iova = ch->iova + (uint64_t)i * 4096;
			memset(*vaddr, 0, (size_t)n * 4096);
			pthread_mutex_unlock(&c->lock);
			return 0;
		}
	}
}

void nvme_dma_free(struct regbuf_nvme_ctrl *c, void *vaddr, size_t len)
{
	struct nvme_dma_chunk *ch, **pp;
	uint8_t *p = vaddr;

	if (!vaddr)
		return;
	pthread_mutex_lock(&c->lock);
	for (pp = &c->chunks; (ch = *pp); pp = &ch->next) {
		if (ch->big && p == ch->vaddr) {
			*pp = ch->next;
			chunk_destroy(c, ch);
			break;
		}
		if (p >= ch->vaddr && p < ch->vaddr + ch->len) {
			page_mark(ch, (uint32_t)((size_t)(p - ch->vaddr) / 4096),
				  (uint32_t)((len + 4095) / 4096), false);
			break;
		}
	}
	pthread_mutex_unlock(&c->lock);
}

/* ---- register handshakes ---- */

/* Wait until (CSTS & mask) == want, bounded by CAP.TO; CFS ends it early. */
static int wait_csts(struct regbuf_nvme_ctrl *c, uint32_t mask, uint32_t want, bool cfs_fatal)
{
	uint64_t deadline = nvme_now_ns() + (uint64_t)c->timeout_ms * 1000000u;
	struct timespec ts = { 0, 100000 };

	for (;;) {
		uint32_t csts = nvme_rd32(c, NVME_REG_CSTS);

		if (csts == UINT32_MAX)
			return -ENODEV;	/* surprise removal reads all ones */
		if ((csts & mask) == want)
			return 0;
		if (cfs_fatal && (csts & NVME_CSTS_CFS))
			return -EIO;
		if (nvme_now_ns() > deadline)
			return -ETIMEDOUT;
		nanosleep(&ts, NULL);
	}
}

/* §7.6.1 steps 1-2: CC.EN 1 -> 0, then CSTS.RDY must read 0. */
static int ctrl_disable(struct regbuf_nvme_ctrl *c)
{
	uint32_t cc = nvme_rd32(c, NVME_REG_CC);

	if (cc & NVME_CC_EN)
		nvme_wr32(c, NVME_REG_CC, cc & ~NVME_CC_EN);
	c->enabled = false;
	return wait_csts(c, NVME_CSTS_RDY, 0, false);
}

int nvme_id_ctrl_parse(struct regbuf_nvme_ctrl_info *info, const uint8_t *id, uint32_t mpsmin,
		       char *why, size_t why_len)
{
	struct regbuf_nvme_id_ctrl ic;

	if (regbuf_nvme_id_ctrl_parse(&ic, id, mpsmin)) {
		nvme_why(why, why_len, "Identify Controller: implausible MDTS %u", ic.mdts);
		return -EIO;
	}
	/* SQES/CQES: the required sizes (bits 3:0) must allow 64/16 bytes */
	if ((ic.sqes & 0xf) > 6 || (ic.sqes >> 4) < 6 || (ic.cqes & 0xf) > 4 ||
	    (ic.cqes >> 4) < 4) {
		nvme_why(why, why_len, "controller does not take 64-byte SQEs / 16-byte CQEs");
		return -ENODEV;
	}
	info->vid = ic.vid;
	memcpy(info->sn, ic.sn, sizeof(info->sn));
	memcpy(info->mn, ic.mn, sizeof(info->mn));
	memcpy(info->fr, ic.fr, sizeof(info->fr));
	info->mdts_bytes = ic.mdts_bytes;
	info->nn = ic.nn;
	info->sgls = ic.sgls;
	info->max_cmd_bytes = NVME_MAX_CMD_BYTES;
	if (info->mdts_bytes && info->mdts_bytes < info->max_cmd_bytes)
		info->max_cmd_bytes = info->mdts_bytes;
	return 0;
}

static int identify_ctrl(struct regbuf_nvme_ctrl *c, char *why, size_t why_len)
{
	uint8_t *id = malloc(4096);
	int ret;

	if (!id)
		return -ENOMEM;
	ret = regbuf_nvme_identify_raw(c, REGBUF_NVME_ID_CNS_CTRL, 0, id);
	if (ret)
		nvme_why(why, why_len, "Identify Controller failed: %s", strerror(-ret));
	else
		ret = nvme_id_ctrl_parse(&c->info, id, NVME_CAP_MPSMIN(c->cap), why, why_len);
	free(id);
	return ret;
}

/* Set Features, Number of Queues (§5.21.1.7): 0-based counts in and out. */
static int set_num_queues(struct regbuf_nvme_ctrl *c, uint32_t want, char *why, size_t why_len)
{
	struct regbuf_nvme_sqe sqe;
	uint32_t dw0, got;
	uint16_t st;
	int ret;

	memset(&sqe, 0, sizeof(sqe));
	sqe.opcode = REGBUF_NVME_ADM_SET_FEATURES;
	sqe.cdw10 = regbuf_cpu_to_le32(REGBUF_NVME_FEAT_NUM_QUEUES);
	sqe.cdw11 = regbuf_cpu_to_le32((want - 1) | (want - 1) << 16);
	ret = nvme_admin_cmd(c, &sqe, NULL, 0, false, &dw0, &st);
	if (ret) {
		nvme_why(why, why_len, "Set Features (Number of Queues) failed: %s status 0x%x",
			 strerror(-ret), st);
		return ret;
	}
	got = (dw0 & 0xffff) < (dw0 >> 16) ? (dw0 & 0xffff) + 1 : (dw0 >> 16) + 1;
	c->info.io_queues = got < want ? got : want;
	if (c->info.io_queues > c->max_qid)
		c->info.io_queues = c->max_qid;	/* doorbells we could map */
	return 0;
}

int nvme_cap_parse(struct regbuf_nvme_ctrl *c, uint64_t cap, char *why, size_t why_len)
{
	uint32_t mpsmin = NVME_CAP_MPSMIN(cap), mpsmax = NVME_CAP_MPSMAX(cap);

	/* MQES is 0-based and 0h is invalid (§3.1.1): a queue holds 2 entries at least */
	if (NVME_CAP_MQES(cap) == 0) {
		nvme_why(why, why_len, "CAP.MQES 0 is invalid");
		return -EIO;
	}
	c->cap = cap;
	c->info.mqes = NVME_CAP_MQES(cap) + 1;
	c->info.dstrd = NVME_CAP_DSTRD(cap);
	c->db_stride = 4u << c->info.dstrd;
	/* the admin queue's two doorbells must lie inside the mapped BAR */
	if (c->bar_len < NVME_REG_DBS + 2u * c->db_stride) {
		nvme_why(why, why_len, "BAR0 (%zu bytes) too small for doorbell stride %u",
			 c->bar_len, c->db_stride);
		return -EIO;
	}
	c->max_qid = (uint32_t)((c->bar_len - NVME_REG_DBS) / (2 * c->db_stride)) - 1;
	/* CAP.TO: worst case for RDY transitions, 500 ms units (0 read as 1) */
	c->info.timeout_ms = (NVME_CAP_TO(cap) ? NVME_CAP_TO(cap) : 1) * 500;
	if (!c->timeout_ms)
		c->timeout_ms = c->info.timeout_ms < 2000 ? 2000 : c->info.timeout_ms;
	/* MPS = 0 (4 KiB, the host page size) must lie in [MPSMIN, MPSMAX] */
	if (mpsmin > 0 || mpsmax < mpsmin) {
		nvme_why(why, why_len, "CAP.MPSMIN %u: controller pages larger than 4 KiB are "
			 "not supported", mpsmin);
		return -ENODEV;
	}
	if (!(NVME_CAP_CSS(cap) & (NVME_CAP_CSS_NVM | NVME_CAP_CSS_IOCS))) {
		nvme_why(why, why_len, "controller supports no NVM command set (CAP.CSS 0x%x)",
			 NVME_CAP_CSS(cap));
		return -ENODEV;
	}
	return 0;
}

/* §7.6.1: the whole initialisation from a disabled controller. */
static int ctrl_enable(struct regbuf_nvme_ctrl *c, uint32_t want_queues, char *why,
		       size_t why_len)
{
	uint64_t t0 = nvme_now_ns();
	struct nvme_queue *aq = c->admin;
	uint32_t css, cc;
	int ret;

	ret = nvme_cap_parse(c, nvme_rd64(c, NVME_REG_CAP), why, why_len);
	if (ret)
		return ret;
	c->info.vs = nvme_rd32(c, NVME_REG_VS);
	c->page_shift = 12;
	c->info.page_size = 4096;
	ret = ctrl_disable(c);
	if (ret) {
		nvme_why(why, why_len, "CSTS.RDY did not clear within CAP.TO (%u ms): %s",
			 c->timeout_ms, strerror(-ret));
		return ret;
	}
	/* §3.1.3: polled operation, mask every interrupt vector */
	nvme_wr32(c, NVME_REG_INTMS, UINT32_MAX);
	/* admin queue: AQA sizes are 0-based (§3.1.8), bases page aligned (§3.1.9/10) */
	aq->sq_tail = aq->sq_head = aq->cq_head = 0;
	nvme_queue_set_db(aq);	/* the stride is known only now */
	aq->phase = 1;
	memset(aq->cq, 0, (size_t)aq->depth * sizeof(*aq->cq));
	nvme_wr32(c, NVME_REG_AQA, (uint32_t)(aq->depth - 1) | (uint32_t)(aq->depth - 1) << 16);
	nvme_wr64(c, NVME_REG_ASQ, aq->sq_iova);
	nvme_wr64(c, NVME_REG_ACQ, aq->cq_iova);
	/* CC.CSS 110b selects all I/O command sets when CAP.CSS bit 6 says so, else NVM */
	css = (NVME_CAP_CSS(c->cap) & NVME_CAP_CSS_IOCS) ? NVME_CC_CSS_ALL : NVME_CC_CSS_NVM;
	cc = NVME_CC_EN | NVME_CC_CSS(css) | NVME_CC_MPS(c->page_shift - 12) | NVME_CC_AMS_RR |
	     NVME_CC_IOSQES(6) | NVME_CC_IOCQES(4);
	nvme_wr32(c, NVME_REG_CC, cc);
	ret = wait_csts(c, NVME_CSTS_RDY, NVME_CSTS_RDY, true);
	if (ret) {
		nvme_why(why, why_len, ret == -EIO ? "controller fatal status (CSTS.CFS) on enable" :
			 "CSTS.RDY did not set within CAP.TO (%u ms)", c->timeout_ms);
		return ret;
	}
	c->enabled = true;
	__atomic_store_n(&c->failed, false, __ATOMIC_RELAXED);
	c->info.bringup_ns = nvme_now_ns() - t0;
	ret = identify_ctrl(c, why, why_len);
	if (ret)
		return ret;
	return set_num_queues(c, want_queues, why, why_len);
}

static int ctrl_open(struct regbuf_nvme_ctrl *c, uint32_t mode, char *why, size_t why_len)
{
	char path[PATH_MAX], link[PATH_MAX];
	uint16_t cmd;
	uint32_t class;
	ssize_t n;
	int ret;

	if (mode == REGBUF_NVME_MODE_AUTO) {
		snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/driver", c->bdf);
		n = sys_readlink(path, link, sizeof(link));
		if (n < 0) {
			snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s", c->bdf);
			if (sys_readlink(path, link, sizeof(link)) == -ENOENT) {
				nvme_why(why, why_len, "no PCI function %s", c->bdf);
				return -ENODEV;
			}
			nvme_why(why, why_len, "%s is bound to no driver: bind it to vfio-pci "
				 "(or uio_pci_generic for physical mode)", c->bdf);
			return -ENODEV;
		}
		mode = strstr(link, "/uio_pci_generic") ? REGBUF_NVME_MODE_PHYS :
		       REGBUF_NVME_MODE_VFIO;
	}
	c->info.mode = mode;
	ret = mode == REGBUF_NVME_MODE_VFIO ? nvme_vfio_open(c, why, why_len) :
	      nvme_phys_open(c, why, why_len);
	if (ret)
		return ret;
	ret = nvme_cfg_read(c, PCI_CLASS_REVISION, &class, 4);
	if (ret || (class >> 8) != 0x010802) {
		nvme_why(why, why_len, "%s is not an NVMe controller (class 0x%06x)", c->bdf,
			 class >> 8);
		return -ENODEV;
	}
	/* PCI Command: memory space + bus master, or every DMA of the device fails */
	ret = nvme_cfg_read(c, PCI_COMMAND, &cmd, 2);
	if (!ret && (cmd & (PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER)) !=
		    (PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER)) {
		cmd |= PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER;
		ret = nvme_cfg_write(c, PCI_COMMAND, &cmd, 2);
	}
	if (ret)
		nvme_why(why, why_len, "PCI command register: %s", strerror(-ret));
	return ret;
}

static void ctrl_free(struct regbuf_nvme_ctrl *c)
{
	struct nvme_dma_chunk *ch, *next;

	if (c->admin) {
		nvme_queue_fini(c->admin);
		free(c->admin);
	}
	for (ch = c->chunks; ch; ch = next) {
		next = ch->next;
		chunk_destroy(c, ch);
	}
	if (c->info.mode == REGBUF_NVME_MODE_PHYS)
		nvme_phys_close(c);
	else
		nvme_vfio_close(c);
	free(c->qid_used);
	nvme_ns_free_all(c);
	pthread_mutex_destroy(&c->lock);
	pthread_mutex_destroy(&c->admin_lock);
	pthread_mutex_destroy(&c->map_lock);
	free(c);
}

int regbuf_nvme_ctrl_create(struct regbuf_nvme_ctrl **cp, const char *bdf,
			    const struct regbuf_nvme_opts *opts)
{
	struct regbuf_nvme_opts def = { 0 };
	struct regbuf_nvme_ctrl *c;
	uint32_t depth, want;
	char *why;
	size_t why_len;
	int ret;

	if (!opts)
		opts = &def;
	why = opts->why;
	why_len = opts->why_len;
	nvme_why(why, why_len, "ok");
	depth = opts->admin_depth ? opts->admin_depth : NVME_ADMIN_DEPTH;
	want = opts->io_queues ? opts->io_queues : 64;
	if (!cp || !bdf || depth < 2 || depth > 4096 || want > 65535 ||
	    opts->mode > REGBUF_NVME_MODE_PHYS ||
	    (opts->flags & ~(REGBUF_NVME_F_ALLOW_UNSAFE | REGBUF_NVME_F_NO_SGL |
			     REGBUF_NVME_F_ALWAYS_SGL))) {
		nvme_why(why, why_len, "invalid argument");
		return -EINVAL;
	}
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->container = c->group = c->device = -1;
	c->uio_fd = c->cfg_fd = c->pagemap_fd = c->kpageflags_fd = -1;
	c->flags = opts->flags;
	c->timeout_ms = opts->timeout_ms;
	pthread_mutex_init(&c->lock, NULL);
	pthread_mutex_init(&c->admin_lock, NULL);
	pthread_mutex_init(&c->map_lock, NULL);
	/* accept "00:03.0" for domain 0 */
	snprintf(c->bdf, sizeof(c->bdf), "%s%s", strchr(bdf, ':') == strrchr(bdf, ':') ?
		 "0000:" : "", bdf);
	ret = ctrl_open(c, opts->mode, why, why_len);
	if (ret)
		goto out_free;
	c->admin = calloc(1, sizeof(*c->admin));
	if (!c->admin) {
		ret = -ENOMEM;
		goto out_free;
	}
	ret = nvme_queue_init(c, c->admin, 0, depth);
	if (ret) {
		nvme_why(why, why_len, "admin queue memory: %s", strerror(-ret));
		goto out_free;
	}
	ret = nvme_dma_alloc(c, 4096, &c->admin_page, &c->admin_page_iova);
	if (ret)
		goto out_free;
	ret = ctrl_enable(c, want, why, why_len);
	if (ret)
		goto out_disable;
	c->qid_used = calloc(c->info.io_queues + 1, 1);
	if (!c->qid_used) {
		ret = -ENOMEM;
		goto out_disable;
	}
	*cp = c;
	return 0;
out_disable:
	if (c->bar)
		ctrl_disable(c);
out_free:
	ctrl_free(c);
	return ret;
}

int regbuf_nvme_ctrl_reset(struct regbuf_nvme_ctrl *c)
{
	uint32_t want = c->info.io_queues;
	int ret;

	pthread_mutex_lock(&c->lock);
	ret = c->nr_qpairs ? -EBUSY : 0;
	pthread_mutex_unlock(&c->lock);
	if (ret)
		return ret;
	ret = ctrl_enable(c, want ? want : 1, NULL, 0);
	if (ret)
		nvme_ctrl_fail(c);
	return ret;
}

void regbuf_nvme_ctrl_destroy(struct regbuf_nvme_ctrl *c)
{
	if (!c)
		return;
	if (c->enabled && !nvme_ctrl_is_failed(c)) {
		/* §7.6.2: normal shutdown, then wait for SHST = complete */
		uint32_t cc = nvme_rd32(c, NVME_REG_CC);

		nvme_wr32(c, NVME_REG_CC, (cc & ~NVME_CC_SHN_MASK) | NVME_CC_SHN_NORMAL);
		c->shutdown_ret = wait_csts(c, NVME_CSTS_SHST_MASK, NVME_CSTS_SHST_DONE, false);
	}
	if (c->bar)
		ctrl_disable(c);
	ctrl_free(c);
}

const struct regbuf_nvme_ctrl_info *regbuf_nvme_ctrl_info(const struct regbuf_nvme_ctrl *c)
{
	return &c->info;
}

int regbuf_nvme_ctrl_failed(struct regbuf_nvme_ctrl *c)
{
	uint32_t csts = nvme_rd32(c, NVME_REG_CSTS);

	if (csts == UINT32_MAX || (csts & NVME_CSTS_CFS))
		nvme_ctrl_fail(c);
	return nvme_ctrl_is_failed(c);
}

int regbuf_nvme_identify_raw(struct regbuf_nvme_ctrl *c, uint8_t cns, uint32_t nsid, void *data)
{
	struct regbuf_nvme_sqe sqe;
	uint16_t st;

	memset(&sqe, 0, sizeof(sqe));
	sqe.opcode = REGBUF_NVME_ADM_IDENTIFY;
	sqe.nsid = regbuf_cpu_to_le32(nsid);
	sqe.cdw10 = regbuf_cpu_to_le32(cns);
	return nvme_admin_cmd(c, &sqe, data, 4096, false, NULL, &st);
}

/* ---- buffers ---- */

/*
 * Map [va, va + len) for the device.  @phys_segs: the buffer's physical
 * segments as a table registered them (physical mode), or NULL to read them
 * from pagemap.
 */
static int buf_map(struct regbuf_nvme_buf **bp, struct regbuf_nvme_ctrl *c, uint64_t va,
		   uint64_t len, const struct regbuf_seg *phys_segs, uint32_t nr_phys,
		   struct regbuf_buf *tbuf, unsigned int flags)
{
	uint64_t align, iova;
	struct regbuf_nvme_buf *b;
	uint32_t i;
	int ret;

	if (!bp || !c || !va || !len || (va & 3) || va + len < va ||
	    (flags & ~REGBUF_NVME_BUF_F_READONLY))
		return -EINVAL;
	b = calloc(1, sizeof(*b));
	if (!b)
		return -ENOMEM;
	b->ctrl = c;
	b->vaddr = (uint8_t *)(uintptr_t)va;
	b->len = len;
	if (c->info.mode == REGBUF_NVME_MODE_VFIO) {
		b->map_vaddr = va & ~UINT64_C(4095);
		b->map_len = ((va + len + 4095) & ~UINT64_C(4095)) - b->map_vaddr;
		/* 2 MiB-aligned IOVAs for large mappings: a 2 MiB-aligned hugepage
		 * arena then lands on the IOMMU's 2 MiB pages */
		align = b->map_len >= NVME_CHUNK_SIZE ? NVME_CHUNK_SIZE : 4096;
		ret = nvme_vfio_map(c, b->map_vaddr, b->map_len, align, &iova,
				    flags & REGBUF_NVME_BUF_F_READONLY);
		if (ret)
			goto out_free;
		b->map_iova = iova;
		b->segs = malloc(sizeof(*b->segs));
		if (!b->segs) {
			ret = -ENOMEM;
			goto out_unmap;
		}
		b->segs[0].addr = iova + (va - b->map_vaddr);
		b->segs[0].len = len;
		b->nr_segs = 1;
	} else {
		/* pagemap now, hugetlb only; a table's layout must still match it */
		ret = nvme_phys_translate(c, va, len, &b->segs, &b->nr_segs, true);
		if (ret)
			goto out_free;
		if (phys_segs) {
			bool same = nr_phys == b->nr_segs;

			for (i = 0; same && i < nr_phys; i++)
				same = phys_segs[i].addr == b->segs[i].addr &&
				       phys_segs[i].len == b->segs[i].len;
			if (!same) {
				ret = -ESTALE;
				goto out_free;
			}
		}
	}
	b->contig = b->nr_segs == 1;
	ret = nvme_buf_build(b);
	if (ret)
		goto out_unmap;
	b->tbuf = tbuf;
	*bp = b;
	return 0;
out_unmap:
	if (b->map_len)
		nvme_vfio_unmap(c, b->map_iova, b->map_len);
out_free:
	free(b->segs);
	free(b);
	return ret;
}

int regbuf_nvme_buf_create(struct regbuf_nvme_buf **bp, struct regbuf_nvme_ctrl *c, void *addr,
			   size_t len, unsigned int flags)
{
	return buf_map(bp, c, (uint64_t)(uintptr_t)addr, len, NULL, 0, NULL, flags);
}

int regbuf_nvme_buf_create_slot(struct regbuf_nvme_buf **bp, struct regbuf_nvme_ctrl *c,
				struct regbuf_table *t, uint32_t slot, unsigned int flags)
{
	struct regbuf_buf_info info;
	struct regbuf_buf *tb;
	int ret;

	if (!bp || !c || !t)
		return -EINVAL;
	ret = regbuf_table_buf_get(t, slot, &tb);
	if (ret)
		return ret;
	ret = regbuf_buf_info(tb, &info);
	if (ret)
		goto out_put;
	if (c->info.mode == REGBUF_NVME_MODE_PHYS && !(info.flags & REGBUF_BUF_F_PHYS)) {
		ret = -EPERM;	/* registered without frame numbers */
		goto out_put;
	}
	ret = buf_map(bp, c, info.ubuf, info.len,
		      c->info.mode == REGBUF_NVME_MODE_PHYS ? info.phys_segs : NULL,
		      info.nr_phys_segs, tb, flags);
	if (!ret)
		return 0;
out_put:
	regbuf_buf_put(tb);
	return ret;
}

void regbuf_nvme_buf_destroy(struct regbuf_nvme_buf *b)
{
	if (!b)
		return;
	nvme_buf_unbuild(b);
	if (b->map_len)
		nvme_vfio_unmap(b->ctrl, b->map_iova, b->map_len);
	if (b->tbuf)
		regbuf_buf_put(b->tbuf);
	free(b->segs);
	free(b);
}

uint64_t regbuf_nvme_buf_len(const struct regbuf_nvme_buf *b)
{
	return b->len;
}

uint32_t regbuf_nvme_buf_nr_segs(const struct regbuf_nvme_buf *b)
{
	return b->nr_segs;
}
