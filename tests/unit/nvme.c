// SPDX-License-Identifier: MIT
/*
 * nvme layer, host side without a device: status decoding and errno mapping
 * (QEMU 7.2 values as the oracle), the IOVA allocator, the refusals of
 * regbuf_nvme_ctrl_create(), and the I/O path (command fields, MDTS split,
 * doorbells, completion checks) over a controller made of host memory.  The device itself is
 * exercised in the QEMU guest (tests/device/nvme.c).
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>

#include <regbuf/dma.h>
#include <regbuf/nvme.h>

#include "harness.h"
#include "nvme/nvme_priv.h"

/* Raw statuses as QEMU 7.2 posts them (SCT << 8 | SC, DNR = bit 14). */
static int status_decode(void)
{
	static const struct {
		uint16_t status;
		unsigned int sct, sc, dnr;
		int err;
		const char *name;
	} t[] = {
		{ 0x0000, 0, 0x00, 0, 0, "SUCCESS" },
		{ 0x4002, 0, 0x02, 1, -EINVAL, "INVALID_FIELD" },	/* MDTS exceeded */
		{ 0x4080, 0, 0x80, 1, -ERANGE, "LBA_OUT_OF_RANGE" },
		{ 0x4013, 0, 0x13, 1, -EINVAL, "INVALID_PRP_OFFSET" },
		{ 0x400f, 0, 0x0f, 1, -EINVAL, "DATA_SGL_LENGTH_INVALID" },
		{ 0x400d, 0, 0x0d, 1, -EINVAL, "INVALID_SGL_SEGMENT_DESCRIPTOR" },
		{ 0x4011, 0, 0x11, 1, -EINVAL, "SGL_DESCRIPTOR_TYPE_INVALID" },
		{ 0x4004, 0, 0x04, 1, -EIO, "DATA_TRANSFER_ERROR" },
		{ 0x400b, 0, 0x0b, 1, -ENODEV, "INVALID_NAMESPACE" },
		{ 0x0281, 2, 0x81, 0, -EIO, "UNRECOVERED_READ" },
		{ 0x0280, 2, 0x80, 0, -EIO, "WRITE_FAULT" },
		{ 0x4101, 1, 0x01, 1, -EIO, "INVALID_QID" },
		{ 0x4102, 1, 0x02, 1, -EIO, "MAX_QSIZE_EXCEEDED" },
		{ 0x0182, 1, 0x82, 0, -EROFS, "UNKNOWN" },
		{ 0x0081, 0, 0x81, 0, -ENOSPC, "CAPACITY_EXCEEDED" },
		{ 0x07ff, 7, 0xff, 0, -EIO, "UNKNOWN" },
		{ REGBUF_NVME_STATUS_TIMEOUT, 0, 0, 0, -ETIMEDOUT, "TIMEOUT" },
		{ REGBUF_NVME_STATUS_ABORTED, 0, 0, 0, -ENXIO, "ABORTED" },
	};
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		if (t[i].status < 0x8000) {
			t_check_eq(regbuf_nvme_status_sct(t[i].status), t[i].sct);
			t_check_eq(regbuf_nvme_status_sc(t[i].status), t[i].sc);
			t_check_eq(regbuf_nvme_status_dnr(t[i].status), t[i].dnr);
		}
		if (regbuf_nvme_status_errno(t[i].status) != t[i].err)
			return T_FAILF("status 0x%04x -> %d, expected %d", t[i].status,
				       regbuf_nvme_status_errno(t[i].status), t[i].err);
		if (strcmp(regbuf_nvme_status_str(t[i].status), t[i].name))
			return T_FAILF("status 0x%04x named %s, expected %s", t[i].status,
				       regbuf_nvme_status_str(t[i].status), t[i].name);
	}
	return T_PASS;
}

/* First fit with alignment inside the IOMMU's ranges; frees merge back. */
static int iova_alloc(void)
{
	struct regbuf_nvme_ctrl c;
	uint64_t a, b, d, e;

	memset(&c, 0, sizeof(c));
	/* two windows, as VT-d reports them around the MSI window */
	t_ok(nvme_iova_add_range(&c, 0x10000, 0xfedfffff));
	t_ok(nvme_iova_add_range(&c, 0xfef00000, (UINT64_C(1) << 39) - 1));
	t_ok(nvme_iova_alloc(&c, 4096, 4096, &a));
	t_check_eq(a, 0x10000);
	t_ok(nvme_iova_alloc(&c, 2u << 20, 2u << 20, &b));
	t_check_eq(b, 0x200000);		/* aligned up; [0x11000, 0x200000) stays free */
	t_ok(nvme_iova_alloc(&c, 8192, 4096, &d));
	t_check_eq(d, 0x11000);			/* the gap left by the alignment is reused */
	/* larger than the first window: lands in the second */
	t_ok(nvme_iova_alloc(&c, UINT64_C(0x100000000), 2u << 20, &e));
	t_check(e >= 0xfef00000);
	t_check_eq(e & ((2u << 20) - 1), 0);
	/* nothing ever straddles the hole */
	t_check(!(e < 0xfee00000 && e + 0x100000000 > 0xfee00000));
	nvme_iova_free(&c, a, 4096);
	nvme_iova_free(&c, d, 8192);
	nvme_iova_free(&c, b, 2u << 20);
	nvme_iova_free(&c, e, UINT64_C(0x100000000));
	/* everything merged back into the two windows */
	t_check_eq(c.nr_free_iova, 2);
	t_ok(nvme_iova_alloc(&c, 0xfedfffff - 0x10000 + 1, 4096, &a));
	t_check_eq(a, 0x10000);
	/* exhaustion is -ENOSPC */
	t_check_eq(nvme_iova_alloc(&c, UINT64_C(1) << 40, 4096, &a), -ENOSPC);
	free(c.free_iova);
	return T_PASS;
}

/* Random alloc/free sequences never hand out overlapping ranges. */
static int iova_random(void)
{
	struct regbuf_nvme_ctrl c;
	uint64_t at[64], len[64];
	unsigned int i, j, k;

	memset(&c, 0, sizeof(c));
	memset(at, 0, sizeof(at));
	t_ok(nvme_iova_add_range(&c, 0x10000, (UINT64_C(1) << 32) - 1));
	for (k = 0; k < 20000; k++) {
		i = (unsigned int)(t_rand() % 64);
		if (at[i]) {
			nvme_iova_free(&c, at[i], len[i]);
			at[i] = 0;
			continue;
		}
		len[i] = (1 + t_rand() % 1024) << 12;
		if (nvme_iova_alloc(&c, len[i], (t_rand() & 1) ? 4096 : 2u << 20, &at[i]))
			return T_FAILF("alloc %llu failed at step %u",
				       (unsigned long long)len[i], k);
		for (j = 0; j < 64; j++)
			if (j != i && at[j] && at[i] < at[j] + len[j] && at[j] < at[i] + len[i])
				return T_FAILF("overlap at step %u", k);
	}
	free(c.free_iova);
	return T_PASS;
}

static int ctrl_create_refuses(void)
{
	struct regbuf_nvme_opts o = { 0 };
	struct regbuf_nvme_ctrl *c = NULL;
	char why[256];

	o.why = why;
	o.why_len = sizeof(why);
	t_check_eq(regbuf_nvme_ctrl_create(NULL, "0000:00:00.0", &o), -EINVAL);
	t_check_eq(regbuf_nvme_ctrl_create(&c, NULL, &o), -EINVAL);
	o.flags = 1u << 31;
	t_check_eq(regbuf_nvme_ctrl_create(&c, "0000:00:00.0", &o), -EINVAL);
	o.flags = 0;
	o.admin_depth = 1;	/* AQA sizes are 0-based: at least 2 entries */
	t_check_eq(regbuf_nvme_ctrl_create(&c, "0000:00:00.0", &o), -EINVAL);
	o.admin_depth = 0;
	/* no such function */
	t_check_eq(regbuf_nvme_ctrl_create(&c, "0000:ff:1f.7", &o), -ENODEV);
	t_check(strstr(why, "0000:ff:1f.7") != NULL);
	/* physical mode is refused unless the caller accepts that it is unsafe */
	o.mode = REGBUF_NVME_MODE_PHYS;
	t_check_eq(regbuf_nvme_ctrl_create(&c, "ff:1f.7", &o), -EPERM);
	t_check(strstr(why, "REGBUF_NVME_F_ALLOW_UNSAFE") != NULL);
	o.flags = REGBUF_NVME_F_ALLOW_UNSAFE;
	t_check_eq(regbuf_nvme_ctrl_create(&c, "ff:1f.7", &o), -ENODEV);
	t_check(strstr(why, "uio_pci_generic") != NULL);
	t_check(c == NULL);
	return T_PASS;
}

/* ---- the I/O path over a controller made of memory ---- */

#define MC_IOVA		UINT64_C(0x40000000)
#define MC_BUF_LEN	(256u << 10)

/* A buffer of host memory at one IOVA range, as VFIO maps one, with its cookie (PRP only). */
struct membuf {
	struct regbuf_nvme_dmamap b;
	struct regbuf_seg seg;
	uint64_t seg_off[2];
	uint8_t *mem;
};

static int membuf_init(struct membuf *mb, struct regbuf_nvme_ctrl *c, uint64_t mdts_bytes)
{
	struct regbuf_dma_ctrl dc = { 12, 0, mdts_bytes };

	mb->mem = aligned_alloc(4096, MC_BUF_LEN);
	if (!mb->mem)
		return -ENOMEM;
	mb->seg.addr = MC_IOVA;
	mb->seg.len = MC_BUF_LEN;
	mb->seg_off[1] = MC_BUF_LEN;
	mb->b.ctrl = c;
	mb->b.vaddr = mb->mem;
	mb->b.len = MC_BUF_LEN;
	mb->b.segs = &mb->seg;
	mb->b.seg_off = mb->seg_off;
	mb->b.nr_segs = 1;
	mb->b.contig = true;
	return regbuf_dma_cookie_create(&mb->b.cookie, &mb->seg, 1, MC_BUF_LEN, &dc,
					regbuf_dma_ops_identity(), NULL, REGBUF_DMA_F_NO_SGL);
}

static void membuf_fini(struct membuf *mb)
{
	regbuf_dma_cookie_destroy(mb->b.cookie);
	free(mb->mem);
}

/*
 * A controller whose BAR and queues are host memory: what the driver writes
 * (SQEs, doorbells) is read back here, and completions are written as a
 * controller would.  Everything from regbuf_nvme_submit_*() to
 * regbuf_nvme_reap() is the driver's own code.
 */
struct memctrl {
	struct regbuf_nvme_ctrl c;
	struct regbuf_nvme_qpair *p;
	struct regbuf_nvme_sqe sq[64];
	struct regbuf_nvme_cqe cq[64];
	struct regbuf_nvme_ns ns;
	struct membuf mb;
	regbuf_le32 bar[0x2000 / 4];	/* registers are little-endian */
	uint16_t cq_tail;
	uint8_t phase;
};


static int memctrl_init(struct memctrl *m, uint64_t mdts_bytes, uint32_t depth)
{
	memset(m, 0, sizeof(*m));
	m->c.bar = (volatile uint8_t *)m->bar;
	m->c.bar_len = sizeof(m->bar);
	m->c.db_stride = 4;
	m->c.timeout_ms = 3600 * 1000;
	m->c.info.max_cmd_bytes = mdts_bytes;
	m->ns.ctrl = &m->c;
	m->ns.info.nsid = 1;
	m->ns.info.lba_size = 512;
	m->ns.info.blk_bytes = 512;
	m->ns.info.nsze = UINT64_C(1) << 40;
	m->ns.lbs_shift = 9;
	m->p = calloc(1, sizeof(*m->p));
	if (!m->p || nvme_queue_init_host(&m->c, &m->p->q, 1, depth))
		return -ENOMEM;
	m->p->q.sq = m->sq;
	m->p->q.cq = m->cq;
	m->phase = 1;
	return membuf_init(&m->mb, &m->c, mdts_bytes);
}

static void memctrl_fini(struct memctrl *m)
{
	membuf_fini(&m->mb);
	if (m->p) {
		m->p->q.sq = NULL;
		m->p->q.cq = NULL;
		nvme_queue_fini(&m->p->q);
		free(m->p);
	}
}

/* The controller completes the command in SQ slot @slot with @status. */
static void memctrl_complete(struct memctrl *m, unsigned int slot, uint16_t status)
{
	struct regbuf_nvme_cqe *e = &m->cq[m->cq_tail];

	e->dw0 = regbuf_cpu_to_le32(0);
	e->sq_head = regbuf_cpu_to_le16((uint16_t)((slot + 1) % m->p->q.depth));
	e->sq_id = regbuf_cpu_to_le16(1);
	e->cid = m->sq[slot].cid;
	e->status = regbuf_cpu_to_le16((uint16_t)(status << 1 | m->phase));
	if (++m->cq_tail == m->p->q.depth) {
		m->cq_tail = 0;
		m->phase ^= 1;
	}
}

/* SQ 1 tail doorbell and CQ 1 head doorbell (NVMe 1.4 §3.1.24, §3.1.25, stride 4). */
#define SQ1_TAIL(m)	regbuf_le32_to_cpu((m)->bar[(0x1000 + 2 * 4) / 4])
#define CQ1_HEAD(m)	regbuf_le32_to_cpu((m)->bar[(0x1000 + 3 * 4) / 4])

/*
 * Read/Write commands as the controller reads them (NVMe 1.4 §6.9, §6.15): opcode,
 * NSID, SLBA in CDW10/11 (both halves), NLB 0-based in CDW12 15:0, FUA in
 * CDW12 bit 30, PRP1 at the data; a request over MDTS is split into pieces
 * of MDTS bytes whose SLBA and PRP1 advance together, and completes once.
 */
static int rw_command_fields(void)
{
	const uint64_t slba = UINT64_C(0x123456789), mdts = 16 << 10;
	struct regbuf_nvme_cpl cpl[4];
	struct memctrl m;
	unsigned int i;
	int ret = memctrl_init(&m, mdts, 16);

	if (ret)
		return T_FAILF("memctrl_init: %d", ret);
	/* 40 KiB from buffer offset 512, FUA: pieces of 16, 16 and 8 KiB */
	t_ok(regbuf_nvme_submit_write(m.p, &m.ns, &m.mb.b, 512, 40 << 10, slba, &m, REGBUF_NVME_IO_F_FUA));
	t_check_eq(SQ1_TAIL(&m), 3);
	for (i = 0; i < 3; i++) {
		const struct regbuf_nvme_sqe *e = &m.sq[i];
		uint64_t lba = slba + i * (mdts / 512);
		uint32_t nlb = i < 2 ? 32 : 16;

		t_check_eq(e->opcode, 0x01);
		t_check_eq(regbuf_le32_to_cpu(e->nsid), 1);
		t_check_eq(regbuf_le32_to_cpu(e->cdw10), (uint32_t)lba);
		t_check_eq(regbuf_le32_to_cpu(e->cdw11), (uint32_t)(lba >> 32));
		t_check_eq(regbuf_le32_to_cpu(e->cdw12), (nlb - 1) | 1u << 30);
		t_check_eq(e->flags & REGBUF_NVME_PSDT_MASK, REGBUF_NVME_PSDT_PRP);
		t_check_eq(regbuf_le64_to_cpu(e->dptr.prp.prp1), MC_IOVA + 512 + i * mdts);
	}
	t_check(m.sq[0].cid != m.sq[1].cid && m.sq[1].cid != m.sq[2].cid &&
		m.sq[0].cid != m.sq[2].cid);
	/* the request completes once, after its last command */
	memctrl_complete(&m, 0, 0);
	memctrl_complete(&m, 2, 0);
	t_check_eq(regbuf_nvme_reap(m.p, cpl, 4), 0);
	memctrl_complete(&m, 1, 0);
	t_check_eq(regbuf_nvme_reap(m.p, cpl, 4), 1);
	t_check(cpl[0].ctx == &m);
	t_check_eq(cpl[0].nr_cmds, 3);
	t_check_eq(cpl[0].status, 0);
	t_check_eq(CQ1_HEAD(&m), 3);
	/* a read without FUA: opcode 02h, CDW12 bit 30 clear; exactly MDTS is one command */
	t_ok(regbuf_nvme_submit_read(m.p, &m.ns, &m.mb.b, 0, mdts, 7, NULL, 0));
	t_check_eq(SQ1_TAIL(&m), 4);
	t_check_eq(m.sq[3].opcode, 0x02);
	t_check_eq(regbuf_le32_to_cpu(m.sq[3].cdw10), 7);
	t_check_eq(regbuf_le32_to_cpu(m.sq[3].cdw11), 0);
	t_check_eq(regbuf_le32_to_cpu(m.sq[3].cdw12), mdts / 512 - 1);
	memctrl_complete(&m, 3, 0);
	t_check_eq(regbuf_nvme_reap(m.p, cpl, 4), 1);
	t_check_eq(cpl[0].nr_cmds, 1);
	/* one block more than MDTS: two commands, the second of one block */
	t_ok(regbuf_nvme_submit_read(m.p, &m.ns, &m.mb.b, 4096, mdts + 512, 100, NULL, 0));
	t_check_eq(SQ1_TAIL(&m), 6);
	t_check_eq(regbuf_le32_to_cpu(m.sq[4].cdw12), mdts / 512 - 1);
	t_check_eq(regbuf_le32_to_cpu(m.sq[5].cdw10), 100 + mdts / 512);
	t_check_eq(regbuf_le32_to_cpu(m.sq[5].cdw12), 0);
	t_check_eq(regbuf_le64_to_cpu(m.sq[5].dptr.prp.prp1), MC_IOVA + 4096 + mdts);
	memctrl_complete(&m, 4, 0);
	memctrl_complete(&m, 5, 0);
	t_check_eq(regbuf_nvme_reap(m.p, cpl, 4), 1);
	t_check_eq(cpl[0].nr_cmds, 2);
	memctrl_fini(&m);
	return T_PASS;
}

/*
 * A completion whose status has Command Retry Delay (12:11) and DNR set
 * reaches the caller whole, and still reads as its SCT/SC: LBA Out of Range
 * is -ERANGE, not a generic -EIO.
 */
static int status_retry_delay(void)
{
	struct regbuf_nvme_cpl cpl[2];
	struct memctrl m;
	int ret = memctrl_init(&m, 128 << 10, 16);

	if (ret)
		return T_FAILF("memctrl_init: %d", ret);
	t_ok(regbuf_nvme_submit_read(m.p, &m.ns, &m.mb.b, 0, 4096, 0, &m, 0));
	memctrl_complete(&m, 0, 0x5880);	/* DNR, CRD 3, SCT 0, SC 80h */
	t_check_eq(regbuf_nvme_reap(m.p, cpl, 2), 1);
	t_check_eq(cpl[0].status, 0x5880);
	t_check_eq(regbuf_nvme_status_sct(cpl[0].status), 0);
	t_check_eq(regbuf_nvme_status_sc(cpl[0].status), 0x80);
	t_check_eq(regbuf_nvme_status_crd(cpl[0].status), 3);
	t_check_eq(regbuf_nvme_status_errno(cpl[0].status), -ERANGE);
	memctrl_fini(&m);
	return T_PASS;
}

/* REGBUF_NVME_IO_F_DEFER posts without the doorbell; regbuf_nvme_qpair_ring() rings once. */
static int deferred_doorbell(void)
{
	struct regbuf_nvme_sqe cmd;
	struct regbuf_nvme_cpl cpl[8];
	struct memctrl m;
	int ret = memctrl_init(&m, 128 << 10, 16), i;

	if (ret)
		return T_FAILF("memctrl_init: %d", ret);
	for (i = 0; i < 3; i++)
		t_ok(regbuf_nvme_submit_read(m.p, &m.ns, &m.mb.b, 4096 * (uint64_t)i, 4096, (uint64_t)i,
					     NULL, REGBUF_NVME_IO_F_DEFER));
	memset(&cmd, 0, sizeof(cmd));
	cmd.opcode = 0x00;	/* Flush, raw */
	cmd.nsid = regbuf_cpu_to_le32(1);
	t_ok(regbuf_nvme_submit_cmd(m.p, &cmd, &m, REGBUF_NVME_IO_F_DEFER));
	t_check_eq(SQ1_TAIL(&m), 0);		/* nothing rung yet */
	t_check_eq(m.sq[3].opcode, 0x00);
	t_check(regbuf_le16_to_cpu(m.sq[3].cid) < 16);
	regbuf_nvme_qpair_ring(m.p);
	t_check_eq(SQ1_TAIL(&m), 4);
	t_check_eq(regbuf_nvme_submit_cmd(m.p, NULL, NULL, 0), -EINVAL);
	t_check_eq(regbuf_nvme_submit_cmd(m.p, &cmd, NULL, 1u << 7), -EINVAL);
	for (i = 0; i < 4; i++)
		memctrl_complete(&m, (unsigned int)i, 0);
	t_check_eq(regbuf_nvme_reap(m.p, cpl, 8), 4);
	t_check(cpl[3].ctx == &m);
	memctrl_fini(&m);
	return T_PASS;
}

/*
 * A completion the controller had no business posting (CID not in flight,
 * another SQ, an SQ head outside the queue) fails the controller: every
 * request in flight ends ABORTED, further submissions get -ENXIO.
 */
static int malformed_completion(void)
{
	static const struct { const char *what; uint16_t cid, sq_id, sq_head; } bad[] = {
		{ "CID out of range", 200, 1, 0 },
		{ "CID not in flight", 9, 1, 0 },
		{ "other SQ", 0xffff, 2, 0 },
		{ "SQ head outside the queue", 0xffff, 1, 16 },
	};
	struct regbuf_nvme_cpl cpl[8];
	unsigned int k;

	for (k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
		struct memctrl m;
		struct regbuf_nvme_cqe *e;
		int n, ret = memctrl_init(&m, 128 << 10, 16);

		if (ret)
			return T_FAILF("memctrl_init: %d", ret);
		t_ok(regbuf_nvme_submit_read(m.p, &m.ns, &m.mb.b, 0, 4096, 0, &m, 0));
		t_ok(regbuf_nvme_submit_read(m.p, &m.ns, &m.mb.b, 4096, 4096, 8, &m.mb.b, 0));
		memctrl_complete(&m, 0, 0);	/* a good one first */
		e = &m.cq[m.cq_tail];
		memctrl_complete(&m, 1, 0);
		if (bad[k].cid != 0xffff)
			e->cid = regbuf_cpu_to_le16(bad[k].cid);
		e->sq_id = regbuf_cpu_to_le16(bad[k].sq_id);
		e->sq_head = regbuf_cpu_to_le16(bad[k].sq_head);
		n = regbuf_nvme_reap(m.p, cpl, 8);
		if (n != 2 || cpl[0].status != 0 || cpl[1].status != REGBUF_NVME_STATUS_ABORTED ||
		    cpl[1].ctx != &m.mb.b || !m.c.failed)
			return T_FAILF("%s: %d completions, statuses 0x%x 0x%x, failed %d",
				       bad[k].what, n, n > 0 ? cpl[0].status : 0,
				       n > 1 ? cpl[1].status : 0, m.c.failed);
		t_check_eq(regbuf_nvme_qpair_inflight(m.p), 0);
		t_check_eq(regbuf_nvme_submit_read(m.p, &m.ns, &m.mb.b, 0, 4096, 0, NULL, 0), -ENXIO);
		memctrl_fini(&m);
	}
	return T_PASS;
}

/* Identify and CAP values that cannot be used are refused, not trusted. */
static int identify_checked(void)
{
	static uint8_t id[4096];
	struct regbuf_nvme_ns_info ni;
	struct regbuf_nvme_ctrl_info info;
	struct regbuf_nvme_ctrl c;
	char why[128];

	memset(id, 0, sizeof(id));
	id[0] = 1;		/* NSZE */
	id[25] = 1;		/* two formats */
	id[26] = 1;		/* the second in use */
	id[128 + 2] = 9;
	id[132 + 2] = 12;
	t_ok(nvme_id_ns_parse(&ni, id, 1));
	t_check_eq(ni.lba_size, 4096);
	t_check_eq(ni.nlbaf, 2);
	id[26] = 2;		/* a format that is not listed */
	t_check_eq(nvme_id_ns_parse(&ni, id, 1), -EIO);
	id[26] = 1;
	id[132 + 2] = 40;	/* 2^40-byte blocks: refused before any shift */
	t_check_eq(nvme_id_ns_parse(&ni, id, 1), -EOPNOTSUPP);
	id[132 + 2] = 8;
	t_check_eq(nvme_id_ns_parse(&ni, id, 1), -EOPNOTSUPP);
	/* 512 + 16 bytes of metadata, extended LBA: a block is 528 bytes of data buffer */
	id[132 + 2] = 9;
	id[132] = 16;
	id[26] = 0x10 | 1;
	t_ok(nvme_id_ns_parse(&ni, id, 1));
	t_check_eq(ni.ms, 16);
	t_check(ni.ext);
	t_check_eq(ni.blk_bytes, 528);
	id[26] = 1;		/* separate: the data buffer holds data only */
	t_ok(nvme_id_ns_parse(&ni, id, 1));
	t_check(!ni.ext);
	t_check_eq(ni.blk_bytes, 512);
	memset(id, 0, 8);
	t_check_eq(nvme_id_ns_parse(&ni, id, 1), -ENODEV);

	memset(id, 0, sizeof(id));
	id[512] = 0x66;
	id[513] = 0x44;
	id[77] = 5;
	memset(&info, 0, sizeof(info));
	t_ok(nvme_id_ctrl_parse(&info, id, 0, why, sizeof(why)));
	t_check_eq(info.mdts_bytes, 128 << 10);
	t_check_eq(info.max_cmd_bytes, 128 << 10);
	id[77] = 0;		/* no limit: the driver's own 2 MiB cap */
	t_ok(nvme_id_ctrl_parse(&info, id, 0, why, sizeof(why)));
	t_check_eq(info.max_cmd_bytes, 2 << 20);
	id[77] = 255;		/* 2^267 bytes */
	t_check_eq(nvme_id_ctrl_parse(&info, id, 0, why, sizeof(why)), -EIO);
	id[77] = 5;
	id[512] = 0x55;		/* 32-byte SQEs only */
	t_check_eq(nvme_id_ctrl_parse(&info, id, 0, why, sizeof(why)), -ENODEV);

	memset(&c, 0, sizeof(c));
	c.bar_len = 0x2000;
	/* MQES 0 is invalid */
	t_check_eq(nvme_cap_parse(&c, UINT64_C(1) << 37, why, sizeof(why)), -EIO);
	/* DSTRD 15: 128 KiB stride, the admin doorbells lie outside an 8 KiB BAR */
	t_check_eq(nvme_cap_parse(&c, UINT64_C(1) << 37 | UINT64_C(15) << 32 | 63, why,
				  sizeof(why)), -EIO);
	t_ok(nvme_cap_parse(&c, UINT64_C(1) << 37 | UINT64_C(1) << 32 | 63, why, sizeof(why)));
	t_check_eq(c.info.mqes, 64);
	t_check_eq(c.db_stride, 8);
	t_check_eq(c.max_qid, 0x1000 / 16 - 1);
	return T_PASS;
}

/*
 * An I/O whose commands exactly fill the free SQ entries is queued whole:
 * 15 commands on a 16-entry queue (one entry stays empty, NVMe 1.4 §4.1.2),
 * all posted with one doorbell, none left for later.  Only then is the queue
 * full (-EAGAIN), and one command more than the free entries is still taken:
 * what does not fit goes out as completions free entries.
 */
static int exact_fill_is_queued(void)
{
	const uint64_t mdts = 16 << 10;
	struct regbuf_nvme_cpl cpl[4];
	struct memctrl m;
	unsigned int i;
	int ret = memctrl_init(&m, mdts, 16);

	if (ret)
		return T_FAILF("memctrl_init: %d", ret);
	t_ok(regbuf_nvme_submit_read(m.p, &m.ns, &m.mb.b, 0, 5 * mdts, 0, &m, 0));
	t_check_eq(SQ1_TAIL(&m), 5);
	/* 10 commands into the 10 entries left */
	t_ok(regbuf_nvme_submit_read(m.p, &m.ns, &m.mb.b, 0, 10 * mdts, 1000, &m.mb.b, 0));
	t_check_eq(SQ1_TAIL(&m), 15);
	t_check_eq(m.p->q.partial, UINT32_MAX);
	t_check_eq(regbuf_nvme_submit_read(m.p, &m.ns, &m.mb.b, 0, 512, 0, NULL, 0), -EAGAIN);
	for (i = 0; i < 15; i++)
		memctrl_complete(&m, i, 0);
	t_check_eq(regbuf_nvme_reap(m.p, cpl, 4), 2);
	t_check_eq(cpl[1].nr_cmds, 10);
	t_check(cpl[1].ctx == &m.mb.b);
	/* alone on an empty queue: 15 commands fill it exactly */
	t_ok(regbuf_nvme_submit_write(m.p, &m.ns, &m.mb.b, 0, 15 * mdts, 0, NULL, 0));
	t_check_eq(SQ1_TAIL(&m), 14);		/* 15 + 15 entries, wrapped at 16 */
	t_check_eq(m.p->q.partial, UINT32_MAX);
	t_check_eq(regbuf_nvme_qpair_inflight(m.p), 1);
	for (i = 15; i < 30; i++)
		memctrl_complete(&m, i % 16, 0);
	t_check_eq(regbuf_nvme_reap(m.p, cpl, 4), 1);
	t_check_eq(cpl[0].nr_cmds, 15);
	/* 16 commands: 15 now, the last once an entry is free */
	t_ok(regbuf_nvme_submit_read(m.p, &m.ns, &m.mb.b, 0, 16 * mdts, 0, NULL, 0));
	t_check_eq(SQ1_TAIL(&m), 13);
	t_check(m.p->q.partial != UINT32_MAX);
	memctrl_fini(&m);
	return T_PASS;
}

/* ---- namespace handles: identify beside I/O on other queue pairs ---- */

/*
 * A controller in host memory answered by a thread of its own, as a device
 * would: it reads each queue's SQ tail doorbell (an acquire load, as the
 * driver rings it with a release store), answers Identify Namespace with a
 * page whose size field changes on every call (each answer is a new
 * namespace state, so the driver makes a new handle while I/O threads hold
 * older ones), completes reads without moving data, and publishes each
 * completion entry with a release store of its status word.  Under
 * ThreadSanitizer (scripts/test's TSan build runs this binary) any access of
 * the driver not ordered by those, or by its locks, is reported.
 */
#define CONC_QPAIRS	2
#define CONC_DEPTH	16
#define CONC_IOS	3000
#define CONC_IDENTIFIES	300

struct simq {
	struct nvme_queue *q;
	struct regbuf_nvme_sqe *sq;
	struct regbuf_nvme_cqe *cq;
	uint16_t sq_head, cq_tail;
	uint8_t phase;
};

struct simctrl {
	struct regbuf_nvme_ctrl c;
	struct regbuf_nvme_qpair *qp[CONC_QPAIRS];
	struct simq q[CONC_QPAIRS + 1];		/* [0] is the admin queue */
	struct membuf mb;
	regbuf_le32 bar[0x2000 / 4];	/* registers are little-endian */
	uint64_t identifies;			/* answered so far (device thread only) */
	uint32_t feat_dw0;			/* Set Features completion DW0 to post */
	uint32_t feat_cdw10, feat_cdw11;	/* the last Set Features seen */
	int stop;
};

static int simq_init(struct simctrl *s, unsigned int i, struct nvme_queue *q)
{
	struct simq *sq = &s->q[i];

	sq->q = q;
	sq->sq = calloc(CONC_DEPTH, sizeof(*sq->sq));
	sq->cq = calloc(CONC_DEPTH, sizeof(*sq->cq));
	if (!sq->sq || !sq->cq || nvme_queue_init_host(&s->c, q, (uint16_t)i, CONC_DEPTH))
		return -ENOMEM;
	q->sq = sq->sq;
	q->cq = sq->cq;
	sq->phase = 1;
	return 0;
}

/* The Identify Namespace page of the @n-th answer: 512-byte blocks, 2^20 + n of them. */
static void sim_identify(struct simctrl *s, void *page)
{
	regbuf_le64 nsze = regbuf_cpu_to_le64((UINT64_C(1) << 20) + s->identifies++);
	uint8_t *id = page;

	memset(id, 0, 4096);
	memcpy(id, &nsze, sizeof(nsze));
	id[128 + 2] = 9;
}

static void sim_queue(struct simctrl *s, struct simq *sq)
{
	struct nvme_queue *q = sq->q;
	uint32_t tail = regbuf_le32_to_cpu((REGBUF_FORCE regbuf_le32)
		__atomic_load_n((volatile REGBUF_FORCE uint32_t *)q->sq_db, __ATOMIC_ACQUIRE));

	while (sq->sq_head != tail) {
		const struct regbuf_nvme_sqe *e = &sq->sq[sq->sq_head];
		struct regbuf_nvme_cqe *ce = &sq->cq[sq->cq_tail];

		sq->sq_head = (uint16_t)((sq->sq_head + 1) % CONC_DEPTH);
		ce->dw0 = regbuf_cpu_to_le32(0);
		if (!q->qid && e->opcode == REGBUF_NVME_ADM_IDENTIFY)
			sim_identify(s, (void *)(uintptr_t)regbuf_le64_to_cpu(e->dptr.prp.prp1));
		if (!q->qid && e->opcode == REGBUF_NVME_ADM_SET_FEATURES) {
			s->feat_cdw10 = regbuf_le32_to_cpu(e->cdw10);
			s->feat_cdw11 = regbuf_le32_to_cpu(e->cdw11);
			ce->dw0 = regbuf_cpu_to_le32(s->feat_dw0);
		}
		ce->dw1 = regbuf_cpu_to_le32(0);
		ce->sq_head = regbuf_cpu_to_le16(sq->sq_head);
		ce->sq_id = regbuf_cpu_to_le16(q->qid);
		ce->cid = e->cid;
		__atomic_store_n((REGBUF_FORCE uint16_t *)&ce->status,
				 (REGBUF_FORCE uint16_t)regbuf_cpu_to_le16(sq->phase), __ATOMIC_RELEASE);
		if (++sq->cq_tail == CONC_DEPTH) {
			sq->cq_tail = 0;
			sq->phase ^= 1;
		}
	}
}

static void *sim_device(void *arg)
{
	struct simctrl *s = arg;
	unsigned int i;

	while (!__atomic_load_n(&s->stop, __ATOMIC_ACQUIRE)) {
		for (i = 0; i <= CONC_QPAIRS; i++)
			sim_queue(s, &s->q[i]);
		sched_yield();
	}
	return NULL;
}

static int simctrl_init(struct simctrl *s)
{
	unsigned int i;

	memset(s, 0, sizeof(*s));
	s->c.bar = (volatile uint8_t *)s->bar;
	s->c.bar_len = sizeof(s->bar);
	s->c.db_stride = 4;
	s->c.timeout_ms = 3600 * 1000;
	s->c.page_shift = 12;
	s->c.max_qid = 511;			/* doorbells in the 8 KiB BAR */
	s->c.info.nn = 1;
	s->c.info.max_cmd_bytes = 128 << 10;
	pthread_mutex_init(&s->c.lock, NULL);
	pthread_mutex_init(&s->c.admin_lock, NULL);
	pthread_mutex_init(&s->c.map_lock, NULL);
	/* the admin data page: its "IOVA" is its address, for the device thread */
	s->c.admin_page = aligned_alloc(4096, 4096);
	s->c.admin = calloc(1, sizeof(*s->c.admin));
	if (!s->c.admin_page || !s->c.admin || simq_init(s, 0, s->c.admin))
		return -ENOMEM;
	s->c.admin_page_iova = (uint64_t)(uintptr_t)s->c.admin_page;
	for (i = 0; i < CONC_QPAIRS; i++) {
		s->qp[i] = calloc(1, sizeof(*s->qp[i]));
		if (!s->qp[i] || simq_init(s, i + 1, &s->qp[i]->q))
			return -ENOMEM;
	}
	return membuf_init(&s->mb, &s->c, 128 << 10);
}

static void simctrl_fini(struct simctrl *s)
{
	unsigned int i;

	membuf_fini(&s->mb);
	for (i = 0; i <= CONC_QPAIRS; i++) {
		struct nvme_queue *q = s->q[i].q;

		if (q) {
			q->sq = NULL;	/* the test's memory, freed below */
			q->cq = NULL;
			nvme_queue_fini(q);
		}
		free(s->q[i].sq);
		free(s->q[i].cq);
	}
	for (i = 0; i < CONC_QPAIRS; i++)
		free(s->qp[i]);
	free(s->c.admin);
	free(s->c.admin_page);
	nvme_ns_free_all(&s->c);
	pthread_mutex_destroy(&s->c.lock);
	pthread_mutex_destroy(&s->c.admin_lock);
	pthread_mutex_destroy(&s->c.map_lock);
}

struct conc_io {
	struct simctrl *s;
	struct regbuf_nvme_qpair *qp;
	struct regbuf_nvme_ns *ns;	/* taken before the identify thread starts */
	uint64_t done;
	int err;
};

/* Reads on its own queue pair with the handle it was given, a few in flight. */
static void *conc_io_run(void *arg)
{
	struct conc_io *io = arg;
	struct regbuf_nvme_cpl cpl[8];
	uint64_t submitted = 0;
	int n, k;

	while (!io->err && io->done < CONC_IOS) {
		while (submitted - io->done < 4 && submitted < CONC_IOS) {
			io->err = regbuf_nvme_submit_read(io->qp, io->ns, &io->s->mb.b,
							  (submitted % 64) * 4096, 4096,
							  submitted, NULL, 0);
			if (io->err)
				return NULL;
			submitted++;
		}
		n = regbuf_nvme_reap(io->qp, cpl, 8);
		for (k = 0; k < n; k++)
			if (cpl[k].status)
				io->err = -EIO;
		io->done += (uint64_t)n;
	}
	return NULL;
}

static int identify_beside_io(void)
{
	struct regbuf_nvme_ns *first, *ns, *last = NULL;
	struct conc_io io[CONC_QPAIRS];
	pthread_t dev, th[CONC_QPAIRS];
	unsigned int i, made = 1;
	struct simctrl *s;
	int ret;

	s = calloc(1, sizeof(*s));
	if (!s)
		return T_FAILF("no memory");
	ret = simctrl_init(s);
	if (ret) {
		simctrl_fini(s);
		free(s);
		return T_FAILF("simctrl_init: %d", ret);
	}
	t_check_eq(pthread_create(&dev, NULL, sim_device, s), 0);
	ret = regbuf_nvme_ns_get(&first, &s->c, 1);
	for (i = 0; i < CONC_QPAIRS; i++) {
		io[i] = (struct conc_io){ .s = s, .qp = s->qp[i], .ns = first };
		if (!ret)
			ret = pthread_create(&th[i], NULL, conc_io_run, &io[i]) ? -EAGAIN : 0;
	}
	/* identify on the admin queue while both queue pairs run I/O */
	for (i = 0; !ret && i < CONC_IDENTIFIES; i++) {
		ret = regbuf_nvme_ns_get(&ns, &s->c, 1);
		if (!ret && ns != last)
			made++;
		last = ns;
	}
	for (i = 0; i < CONC_QPAIRS; i++)
		pthread_join(th[i], NULL);
	__atomic_store_n(&s->stop, 1, __ATOMIC_RELEASE);
	pthread_join(dev, NULL);
	if (ret)
		goto out;
	for (i = 0; i < CONC_QPAIRS; i++)
		if (io[i].err || io[i].done != CONC_IOS)
			ret = T_FAILF("queue pair %u: %llu reads done, error %d", i + 1,
				      (unsigned long long)io[i].done, io[i].err);
	/* every answer differed: a handle each, the first one untouched */
	if (!ret && (made != CONC_IDENTIFIES + 1 ||
		     regbuf_nvme_ns_info(first)->nsze != UINT64_C(1) << 20 ||
		     regbuf_nvme_ns_info(last)->nsze != (UINT64_C(1) << 20) + CONC_IDENTIFIES))
		ret = T_FAILF("%u handles for %u answers; first nsze %llu", made,
			      CONC_IDENTIFIES + 1,
			      (unsigned long long)regbuf_nvme_ns_info(first)->nsze);
out:
	simctrl_fini(s);
	free(s);
	return ret > 0 ? ret : ret ? T_FAILF("%d", ret) : T_PASS;
}

/*
 * Set Features Number of Queues answers NSQA (DW0 15:0) and NCQA (31:16)
 * separately, 0-based (NVMe 1.4 §5.21.1.7), and a controller may grant fewer
 * completion queues than submission queues (QEMU always grants both alike):
 * the driver may use only as many queue pairs as the smaller count, its
 * request and the doorbells it mapped allow.  The real command goes through
 * the admin queue to the device thread, which answers with these DW0s.
 */
static int fewer_cqs_than_sqs(void)
{
	static const struct { uint32_t nsqa, ncqa, want, max_qid, got; } t[] = {
		{ 8, 4, 64, 511, 4 },		/* fewer CQs than SQs */
		{ 2, 16, 64, 511, 2 },		/* fewer SQs than CQs */
		{ 64, 64, 8, 511, 8 },		/* more than asked: what was asked */
		{ 64, 64, 64, 3, 3 },		/* doorbells for 3 I/O queue pairs only */
		{ 1, 65535, 4, 511, 1 },
	};
	struct simctrl *s;
	pthread_t dev;
	unsigned int i;
	int ret;

	s = calloc(1, sizeof(*s));
	if (!s)
		return T_FAILF("no memory");
	ret = simctrl_init(s);
	if (!ret)
		ret = pthread_create(&dev, NULL, sim_device, s) ? -EAGAIN : 0;
	if (ret) {
		simctrl_fini(s);
		free(s);
		return T_FAILF("simctrl: %d", ret);
	}
	for (i = 0; i < sizeof(t) / sizeof(t[0]) && !ret; i++) {
		s->c.max_qid = t[i].max_qid;
		/* written before the command, read by the device after the doorbell */
		s->feat_dw0 = (t[i].nsqa - 1) | (t[i].ncqa - 1) << 16;
		ret = nvme_set_num_queues(&s->c, t[i].want, NULL, 0);
		if (ret) {
			ret = T_FAILF("case %u: %d", i, ret);
			break;
		}
		if (s->c.info.io_queues != t[i].got || s->feat_cdw10 != REGBUF_NVME_FEAT_NUM_QUEUES ||
		    s->feat_cdw11 != ((t[i].want - 1) | (t[i].want - 1) << 16))
			ret = T_FAILF("%u SQs / %u CQs granted, %u wanted, %u doorbells: %u queue "
				      "pairs, expected %u (CDW10 0x%x CDW11 0x%x)", t[i].nsqa,
				      t[i].ncqa, t[i].want, t[i].max_qid, s->c.info.io_queues,
				      t[i].got, s->feat_cdw10, s->feat_cdw11);
	}
	__atomic_store_n(&s->stop, 1, __ATOMIC_RELEASE);
	pthread_join(dev, NULL);
	simctrl_fini(s);
	free(s);
	return ret;
}

static const struct t_case cases[] = {
	T_CASE(status_decode),
	T_CASE(iova_alloc),
	T_CASE(iova_random),
	T_CASE(ctrl_create_refuses),
	T_CASE(rw_command_fields),
	T_CASE(status_retry_delay),
	T_CASE(deferred_doorbell),
	T_CASE(malformed_completion),
	T_CASE(identify_checked),
	T_CASE(exact_fill_is_queued),
	T_CASE(identify_beside_io),
	T_CASE(fewer_cqs_than_sqs),
};

int main(int argc, char **argv)
{
	return t_main("nvme", cases, sizeof(cases) / sizeof(cases[0]), argc, argv);
}
