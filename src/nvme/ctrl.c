// SPDX-License-Identifier: MIT
/*
 * Controller bring-up, Identify Controller, reset and shutdown: the top of
 * the driver; it calls the files below it (queue.c, ns.c, dmamem.c, vfio.c,
 * phys.c, util.c) and none of them calls back.  Section numbers: NVMe Base 1.4.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "nvme_priv.h"
#include "sys/sys.h"

#define NVME_ADMIN_DEPTH	32
#define NVME_MAX_CMD_BYTES	(UINT64_C(2) << 20)	/* one 4 KiB PRP list / SGL page */
#define PCI_COMMAND		0x04
#define PCI_COMMAND_MEMORY	0x2
#define PCI_COMMAND_MASTER	0x4
#define PCI_CLASS_REVISION	0x08

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

/* NVMe 1.4 §7.6.1 steps 1-2: CC.EN 1 -> 0, then CSTS.RDY must read 0. */
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

/*
 * Set Features, Number of Queues (NVMe 1.4 §5.21.1.7): 0-based counts in and out.
 * The controller may grant fewer completion queues (NCQA, DW0 31:16) than
 * submission queues (NSQA, 15:0): every queue pair needs one of each.
 */
int nvme_set_num_queues(struct regbuf_nvme_ctrl *c, uint32_t want, char *why, size_t why_len)
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

	/* MQES is 0-based and 0h is invalid (NVMe 1.4 §3.1.1): a queue holds 2 entries at least */
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

/* NVMe 1.4 §7.6.1: the whole initialisation from a disabled controller. */
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
	/* NVMe 1.4 §3.1.3: polled operation, mask every interrupt vector */
	nvme_wr32(c, NVME_REG_INTMS, UINT32_MAX);
	/* admin queue: AQA sizes are 0-based (NVMe 1.4 §3.1.8), bases page aligned (§3.1.9/10) */
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
	return nvme_set_num_queues(c, want_queues, why, why_len);
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
	if (c->admin) {
		nvme_queue_fini(c->admin);
		free(c->admin);
	}
	nvme_dma_free_all(c);
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
		/* NVMe 1.4 §7.6.2: normal shutdown, then wait for SHST = complete */
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
	return nvme_csts_check(c);
}
