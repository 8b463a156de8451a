// SPDX-License-Identifier: MIT
/*
 * Fuzz target "nvme-device": what the userspace NVMe driver reads from the
 * controller, which is not trusted.  No device: the queue's memory and BAR0
 * are host memory written by the fuzzer as a controller would write them.
 *
 *  - cq: commands are submitted with regbuf_nvme_submit_cmd(), then the
 *    input writes completion entries (CID, SQ id, SQ head, status, phase;
 *    mostly plausible, sometimes not) and reaps.  Reference: every request
 *    completes exactly once; a completion naming a CID not in flight, another
 *    queue or a head outside the queue fails the controller, and then every
 *    request still in flight completes ABORTED; plausible ones never do.
 *  - id-ctrl, id-ns: an Identify page made of the input; the parsers accept
 *    it only with values the driver can use (power-of-two block size in
 *    512..64K, a listed format, MDTS within 64 bits) and never read out of
 *    bounds (ASan/UBSan under libFuzzer).
 *  - cap: a CAP register and a BAR size; accepted only when the admin
 *    doorbells fit in the BAR and MQES is valid.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "nvme/nvme_priv.h"

FZ_TARGET("nvme-device", 512, 4000, "cq", "id-ctrl", "id-ns", "cap");

#define MAX_DEPTH	32
#define BAR_LEN		0x2000

static struct regbuf_nvme_ctrl ctrl;
static uint8_t bar[BAR_LEN] __attribute__((aligned(4096)));

static const uint8_t zero_page[4096];

static void ctrl_setup(void)
{
	memset(&ctrl, 0, sizeof(ctrl));
	ctrl.bar = bar;
	ctrl.bar_len = BAR_LEN;
	ctrl.db_stride = 4;
	ctrl.timeout_ms = 3600 * 1000;	/* nothing times out during one input */
	ctrl.info.max_cmd_bytes = 1u << 20;
	memset(bar, 0, sizeof(bar));	/* CSTS reads 0: no fatal status */
}

static void fuzz_cq(struct fz *f)
{
	static struct regbuf_nvme_sqe sq[MAX_DEPTH];
	static struct regbuf_nvme_cqe cq[MAX_DEPTH];
	static uint8_t done[MAX_DEPTH];
	uint32_t depth = (uint32_t)fz_range(f, 2, MAX_DEPTH), nr, i, completed = 0;
	struct regbuf_nvme_qpair *p = calloc(1, sizeof(*p));
	struct nvme_queue *q;
	struct regbuf_nvme_sqe cmd;
	struct regbuf_nvme_cpl cpl[MAX_DEPTH];
	unsigned int round, max, valid;

	FZ_CHECK(p != NULL);
	q = &p->q;
	ctrl_setup();
	FZ_CHECK_EQ(nvme_queue_init_host(&ctrl, q, (uint16_t)fz_range(f, 0, 3), depth), 0);
	memset(sq, 0, sizeof(sq));
	memset(cq, 0, sizeof(cq));
	memset(done, 0, sizeof(done));
	q->sq = sq;
	q->cq = cq;
	/* fill the queue part way: depth - 1 commands at most (NVMe Base 2.0, 4.1.2) */
	nr = (uint32_t)fz_range(f, 1, depth - 1);
	memset(&cmd, 0, sizeof(cmd));
	cmd.opcode = 0x02;
	for (i = 0; i < nr; i++)
		FZ_CHECK_EQ(regbuf_nvme_submit_cmd(p, &cmd, (void *)(uintptr_t)i,
						   fz_chance(f, 128) ? REGBUF_NVME_IO_F_DEFER : 0),
			    0);
	/* a full queue refuses one more */
	FZ_CHECK_EQ(regbuf_nvme_submit_cmd(p, &cmd, (void *)(uintptr_t)nr, 0),
		    depth - 1 == nr ? -EAGAIN : 0);
	if (depth - 1 > nr)
		nr++;
	for (round = 0; round < 16 && !fz_empty(f); round++) {
		unsigned int k = (unsigned int)fz_range(f, 0, depth), j, got;
		uint16_t head = q->cq_head;
		uint8_t phase = q->phase;
		bool bad_now = false;

		/* the controller posts k entries from the head on */
		for (j = 0; j < k; j++) {
			struct regbuf_nvme_cqe *e = &cq[head];
			uint16_t cid, st;

			/* a CID the device saw in the SQ, mostly; sometimes anything */
			if (fz_chance(f, 230))
				cid = regbuf_le16_to_cpu(sq[fz_range(f, 0, depth - 1)].cid);
			else
				cid = fz_u16(f);
			e->cid = regbuf_cpu_to_le16(cid);
			e->sq_id = regbuf_cpu_to_le16(fz_chance(f, 240) ? q->qid : fz_u16(f));
			e->sq_head = regbuf_cpu_to_le16(fz_chance(f, 240) ?
							(uint16_t)fz_range(f, 0, depth - 1) :
							fz_u16(f));
			e->dw0 = regbuf_cpu_to_le32(fz_u32(f));
			st = (uint16_t)(fz_chance(f, 200) ? 0 : fz_u16(f) & ~1u);
			e->status = regbuf_cpu_to_le16(st | phase);
			if (++head == depth) {
				head = 0;
				phase ^= 1;
			}
		}
		/*
		 * Reference: the driver consumes entries from its head while the
		 * phase matches, at most @max; the first malformed one it reaches
		 * fails the controller.
		 */
		max = (unsigned int)fz_range(f, 1, depth);
		{
			uint16_t h = q->cq_head;
			uint8_t ph = q->phase;
			bool freed[MAX_DEPTH];

			for (j = 0; j < depth; j++)
				freed[j] = q->cid_req[j] >= depth;
			for (valid = 0; valid < max; valid++) {
				const struct regbuf_nvme_cqe *e = &cq[h];
				uint16_t cid = regbuf_le16_to_cpu(e->cid);

				if ((regbuf_le16_to_cpu(e->status) & 1) != ph)
					break;
				if (cid >= depth || freed[cid] ||
				    regbuf_le16_to_cpu(e->sq_id) != q->qid ||
				    regbuf_le16_to_cpu(e->sq_head) >= depth) {
					bad_now = true;
					break;
				}
				freed[cid] = true;
				if (++h == depth) {
					h = 0;
					ph ^= 1;
				}
			}
		}
		got = (unsigned int)regbuf_nvme_reap(p, cpl, max);
		FZ_CHECK_EQ(ctrl.failed, bad_now);
		if (!bad_now)
			FZ_CHECK_EQ(got, valid);
		else
			FZ_CHECK(got >= valid);
		for (j = 0; j < got; j++) {
			uintptr_t idx = (uintptr_t)cpl[j].ctx;

			FZ_CHECK(idx < nr);
			FZ_CHECK(!done[idx]);	/* exactly once */
			done[idx] = 1;
			completed++;
			if (j >= valid)
				FZ_CHECK_EQ(cpl[j].status, REGBUF_NVME_STATUS_ABORTED);
		}
		if (ctrl.failed)
			break;
	}
	/* then every request still in flight ends, aborted, exactly once */
	ctrl.failed = true;
	q->next_check_ns = 0;
	while (regbuf_nvme_qpair_inflight(p)) {
		unsigned int got = (unsigned int)regbuf_nvme_reap(p, cpl, depth), j;

		FZ_CHECK(got > 0);
		for (j = 0; j < got; j++) {
			uintptr_t idx = (uintptr_t)cpl[j].ctx;

			FZ_CHECK(idx < nr);
			FZ_CHECK(!done[idx]);
			FZ_CHECK_EQ(cpl[j].status, REGBUF_NVME_STATUS_ABORTED);
			done[idx] = 1;
			completed++;
		}
		q->next_check_ns = 0;
	}
	FZ_CHECK_EQ(completed, nr);
	q->sq = NULL;
	q->cq = NULL;
	nvme_queue_fini(q);
	free(p);
	fz_stat_checked++;
}

/* An Identify page: @base (a plausible page), with the input written at chosen offsets. */
static void fill_page(struct fz *f, uint8_t *id, const uint8_t *base, unsigned int hot)
{
	memcpy(id, base, 4096);
	while (!fz_empty(f)) {
		unsigned int off = fz_chance(f, 200) ? (unsigned int)fz_range(f, 0, hot - 1) :
				   (unsigned int)fz_range(f, 0, 4095);
		unsigned int n = (unsigned int)fz_range(f, 1, 8), i;

		for (i = 0; i < n && off + i < 4096; i++)
			id[off + i] = fz_u8(f);
	}
}

static void fuzz_id_ctrl(struct fz *f)
{
	static uint8_t id[4096];
	struct regbuf_nvme_ctrl_info info;
	uint32_t mpsmin = (uint32_t)fz_range(f, 0, 15);
	char why[128];
	int ret;

	static uint8_t base[4096];

	base[512] = 0x66;	/* SQES: 64 bytes */
	base[513] = 0x44;	/* CQES: 16 bytes */
	base[77] = 5;		/* MDTS */
	fill_page(f, id, fz_chance(f, 200) ? base : zero_page, 544);
	memset(&info, 0, sizeof(info));
	ret = nvme_id_ctrl_parse(&info, id, mpsmin, why, sizeof(why));
	FZ_CHECK(strlen(info.sn) <= 20 && strlen(info.mn) <= 40 && strlen(info.fr) <= 8);
	if (ret) {
		FZ_CHECK(ret == -EIO || ret == -ENODEV);
		return;
	}
	FZ_CHECK_EQ(info.mdts_bytes == 0, id[77] == 0);
	if (info.mdts_bytes)
		FZ_CHECK_EQ(info.mdts_bytes, UINT64_C(1) << (12 + mpsmin + id[77]));
	FZ_CHECK(info.max_cmd_bytes >= 4096 && info.max_cmd_bytes <= (2u << 20));
	FZ_CHECK(!(info.max_cmd_bytes & (info.max_cmd_bytes - 1)));
	fz_stat_checked++;
}

static void fuzz_id_ns(struct fz *f)
{
	static uint8_t id[4096];
	struct regbuf_nvme_ns_info ni;
	int ret;

	static uint8_t base[4096];

	base[0] = 1;		/* NSZE 1 */
	base[130] = 9;		/* LBA format 0: 512 bytes */
	base[134] = 12;		/* LBA format 1: 4 KiB */
	base[25] = 1;		/* NLBAF: 2 formats */
	fill_page(f, id, fz_chance(f, 200) ? base : zero_page, 384);
	ret = nvme_id_ns_parse(&ni, id, 1);
	if (ret) {
		FZ_CHECK(ret == -EIO || ret == -ENODEV || ret == -EOPNOTSUPP);
		return;
	}
	FZ_CHECK(ni.nsze != 0);
	FZ_CHECK(ni.flbas < ni.nlbaf && ni.nlbaf <= 64);
	FZ_CHECK(ni.lba_size >= 512 && ni.lba_size <= 65536);
	FZ_CHECK(!(ni.lba_size & (ni.lba_size - 1)));
	FZ_CHECK_EQ(ni.lba_size, 1u << id[128 + 4 * (id[26] & 0xf) + 2]);
	/* a block in the data buffer: its data, and its metadata when extended */
	FZ_CHECK_EQ(ni.blk_bytes, ni.lba_size + (ni.ext ? ni.ms : 0));
	FZ_CHECK(ni.ms || !ni.ext);
	FZ_CHECK(ni.pi_type <= REGBUF_NVME_PI_TYPE3 && (!ni.pi_type || ni.ms >= 8));
	fz_stat_checked++;
}

static void fuzz_cap(struct fz *f)
{
	uint64_t cap = fz_u64(f);
	char why[128];
	int ret;

	ctrl_setup();
	if (fz_chance(f, 200)) {
		/* mostly plausible: MPSMIN 0, the NVM command set */
		cap &= ~(UINT64_C(0xf) << 48);
		cap |= UINT64_C(1) << 37;
	}
	ctrl.bar_len = (size_t)(fz_chance(f, 128) ? fz_range(f, 0x1000, 0x4000) :
				fz_range(f, 0, 1u << 20));
	ret = nvme_cap_parse(&ctrl, cap, why, sizeof(why));
	if (ret) {
		FZ_CHECK(ret == -EIO || ret == -ENODEV);
		return;
	}
	FZ_CHECK(ctrl.info.mqes >= 2);
	FZ_CHECK(ctrl.bar_len >= NVME_REG_DBS + 2u * ctrl.db_stride);
	/* the highest doorbell of the highest queue lies inside the BAR */
	FZ_CHECK((uint64_t)NVME_REG_DBS + (2u * ctrl.max_qid + 2) * ctrl.db_stride <= ctrl.bar_len);
	FZ_CHECK(ctrl.timeout_ms >= 500);
	fz_stat_checked++;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz f;

	if (!size)
		return 0;
	fz_init(&f, data + 1, size - 1);
	switch (data[0] % fz_target.nr_classes) {
	case 0:
		fuzz_cq(&f);
		break;
	case 1:
		fuzz_id_ctrl(&f);
		break;
	case 2:
		fuzz_id_ns(&f);
		break;
	default:
		fuzz_cap(&f);
		break;
	}
	return 0;
}
