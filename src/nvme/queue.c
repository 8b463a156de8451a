// SPDX-License-Identifier: MIT
/*
 * Queues: submission (SQE at the tail, one doorbell write per batch), polled
 * completion (phase tag), requests split at MDTS, timeouts; admin commands;
 * I/O queue pairs.  Section numbers: NVMe Base 1.4.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "nvme_priv.h"

#define NVME_DEFAULT_DEPTH	256
#define NVME_MAX_DEPTH		4096
#define NVME_CID_ZOMBIE		UINT32_MAX	/* timed out; freed when (if) it completes */
#define NVME_CID_FREE		(UINT32_MAX - 1)

static bool issue_pieces(struct nvme_queue *q, uint32_t r);

/* Store barrier before a doorbell: the SQE must be visible to the device first. */
static inline void nvme_wmb(void)
{
	__atomic_thread_fence(__ATOMIC_RELEASE);
#if defined(__x86_64__) || defined(__i386__)
	__asm__ __volatile__("sfence" ::: "memory");
#endif
}

int nvme_queue_init_host(struct regbuf_nvme_ctrl *c, struct nvme_queue *q, uint16_t qid,
			 uint32_t depth)
{
	uint32_t i;

	memset(q, 0, sizeof(*q));
	q->ctrl = c;
	q->qid = qid;
	q->depth = (uint16_t)depth;
	q->phase = 1;	/* the controller writes phase 1 on its first pass (NVMe 1.4 §4.6) */
	q->partial = UINT32_MAX;
	q->cid_req = malloc(depth * sizeof(*q->cid_req));
	q->cid_deadline = calloc(depth, sizeof(*q->cid_deadline));
	q->free_cids = malloc(depth * sizeof(*q->free_cids));
	q->reqs = calloc(depth, sizeof(*q->reqs));
	q->free_reqs = malloc(depth * sizeof(*q->free_reqs));
	q->scratch = calloc(depth, sizeof(*q->scratch));
	q->scratch_iova = calloc(depth, sizeof(*q->scratch_iova));
	q->local_done = calloc(depth, sizeof(*q->local_done));
	if (!q->local_done || !q->cid_req || !q->cid_deadline || !q->free_cids || !q->reqs ||
	    !q->free_reqs || !q->scratch || !q->scratch_iova) {
		nvme_queue_fini(q);
		return -ENOMEM;
	}
	/* a full queue keeps one entry empty (NVMe 1.4 §4.1.2): depth - 1 commands in flight */
	for (i = 0; i < depth - 1u; i++) {
		q->free_cids[q->nr_free_cids++] = (uint16_t)(depth - 2 - i);
		q->free_reqs[q->nr_free_reqs++] = depth - 2 - i;
		q->cid_req[i] = NVME_CID_FREE;
	}
	q->cid_req[depth - 1] = NVME_CID_FREE;
	nvme_queue_set_db(q);
	return 0;
}

int nvme_queue_init(struct regbuf_nvme_ctrl *c, struct nvme_queue *q, uint16_t qid,
		    uint32_t depth)
{
	void *p;
	uint32_t i;
	int ret;

	ret = nvme_queue_init_host(c, q, qid, depth);
	if (ret)
		return ret;
	ret = nvme_dma_alloc(c, (size_t)depth * sizeof(*q->sq), &p, &q->sq_iova);
	if (ret)
		goto out_fini;
	q->sq = p;
	ret = nvme_dma_alloc(c, (size_t)depth * sizeof(*q->cq), &p, &q->cq_iova);
	if (ret)
		goto out_fini;
	q->cq = p;
	/* I/O queues: one scratch page per command for its PRP list / SGL segment */
	for (i = 0; qid && i < depth - 1u; i++) {
		ret = nvme_dma_alloc(c, 4096, &p, &q->scratch_iova[i]);
		if (ret)
			goto out_fini;
		q->scratch[i] = p;
	}
	return 0;
out_fini:
	nvme_queue_fini(q);
	return ret;
}

/* Doorbells of queue y (NVMe 1.4 §3.1.24, §3.1.25): 0x1000 + (2y [+ 1]) * (4 << CAP.DSTRD). */
void nvme_queue_set_db(struct nvme_queue *q)
{
	struct regbuf_nvme_ctrl *c = q->ctrl;

	q->sq_db = (volatile regbuf_le32 *)(c->bar + NVME_REG_DBS + (2u * q->qid) * c->db_stride);
	q->cq_db = (volatile regbuf_le32 *)(c->bar + NVME_REG_DBS + (2u * q->qid + 1) * c->db_stride);
}

void nvme_queue_fini(struct nvme_queue *q)
{
	uint32_t i;

	if (q->scratch)
		for (i = 0; i < q->depth; i++)
			nvme_dma_free(q->ctrl, q->scratch[i], 4096);
	nvme_dma_free(q->ctrl, q->sq, (size_t)q->depth * sizeof(*q->sq));
	nvme_dma_free(q->ctrl, q->cq, (size_t)q->depth * sizeof(*q->cq));
	free(q->cid_req);
	free(q->cid_deadline);
	free(q->free_cids);
	free(q->reqs);
	free(q->free_reqs);
	free(q->scratch);
	free(q->scratch_iova);
	free(q->local_done);
	memset(q, 0, sizeof(*q));
}

/* Put one SQE at the tail; the caller rings the doorbell. */
static inline void sq_push(struct nvme_queue *q, const struct regbuf_nvme_sqe *sqe)
{
	memcpy(&q->sq[q->sq_tail], sqe, sizeof(*sqe));
	if (++q->sq_tail == q->depth)
		q->sq_tail = 0;
}

/* SQ y Tail Doorbell (NVMe 1.4 §3.1.24): the new tail, after the entries are visible. */
static inline void sq_ring(struct nvme_queue *q)
{
	nvme_wmb();
	nvme_db_write(q->sq_db, q->sq_tail);
}

static inline uint16_t cid_get(struct nvme_queue *q, uint32_t req, uint64_t deadline)
{
	uint16_t cid = q->free_cids[--q->nr_free_cids];

	q->cid_req[cid] = req;
	q->cid_deadline[cid] = deadline;
	return cid;
}

static inline void cid_put(struct nvme_queue *q, uint16_t cid)
{
	q->cid_req[cid] = NVME_CID_FREE;
	q->free_cids[q->nr_free_cids++] = cid;
}

static void req_done(struct nvme_queue *q, uint32_t r, struct regbuf_nvme_cpl *cpl)
{
	struct nvme_req *req = &q->reqs[r];

	cpl->ctx = req->ctx;
	cpl->status = req->status;
	cpl->cid = req->cid;
	cpl->dw0 = req->dw0;
	cpl->nr_cmds = req->nr_cmds;
	q->free_reqs[q->nr_free_reqs++] = r;
	q->inflight--;
}

/* A command's end, normal or given up; returns 1 when its request finished. */
static int cmd_end(struct nvme_queue *q, uint16_t cid, uint16_t status, uint32_t dw0,
		   struct regbuf_nvme_cpl *cpl)
{
	struct nvme_req *req;
	uint32_t r;

	if (cid >= q->depth)
		return 0;		/* stray CID: not ours, ignore */
	r = q->cid_req[cid];
	if (r == NVME_CID_ZOMBIE) {	/* late completion of a timed-out command */
		cid_put(q, cid);
		return 0;
	}
	if (r >= q->depth)
		return 0;		/* stray CID: not ours, ignore */
	req = &q->reqs[r];
	if (status && !req->status) {
		req->status = status;
		req->cid = cid;
	}
	req->dw0 = dw0;
	if (status == REGBUF_NVME_STATUS_TIMEOUT)
		q->cid_req[cid] = NVME_CID_ZOMBIE;	/* the device may still write */
	else
		cid_put(q, cid);
	if (--req->pending)
		return 0;
	req_done(q, r, cpl);
	return 1;
}

/* Give up on overdue commands, or on all when the controller failed. */
static unsigned int check_timeouts(struct nvme_queue *q, struct regbuf_nvme_cpl *cpls,
				   unsigned int max)
{
	struct regbuf_nvme_ctrl *c = q->ctrl;
	uint64_t now = nvme_now_ns();
	unsigned int n = 0;
	uint16_t status;
	bool failed;
	uint32_t i;

	if (now < q->next_check_ns)
		return 0;
	q->next_check_ns = now + 1000000;
	failed = nvme_csts_check(c);
	status = failed ? REGBUF_NVME_STATUS_ABORTED : REGBUF_NVME_STATUS_TIMEOUT;
	if (failed && q->partial != UINT32_MAX) {
		/* pieces never issued will never complete: drop them from the count */
		struct nvme_req *req = &q->reqs[q->partial];
		uint64_t m = req->max;

		req->pending -= (uint32_t)((req->len - req->done + m - 1) / m);
		req->done = req->len;
		req->status = REGBUF_NVME_STATUS_ABORTED;
		q->partial = UINT32_MAX;
	}
	for (i = 0; i < q->depth && n < max; i++) {
		if (q->cid_req[i] >= q->depth)
			continue;
		if (!failed && q->cid_deadline[i] > now)
			continue;
		q->stats.timeouts++;
		n += (unsigned int)cmd_end(q, (uint16_t)i, REGBUF_NVME_STATUS_TIMEOUT, 0, &cpls[n]);
		if (n && cpls[n - 1].status == REGBUF_NVME_STATUS_TIMEOUT)
			cpls[n - 1].status = status;
	}
	return n;
}

int nvme_cqe_check(const struct nvme_queue *q, const struct regbuf_nvme_cqe *e)
{
	uint16_t cid = regbuf_le16_to_cpu(e->cid);

	/* NVMe 1.4 §4.6: CID of a command in flight on this SQ (or one given up on) */
	if (cid >= q->depth || q->cid_req[cid] == NVME_CID_FREE)
		return -EIO;
	/* SQ Identifier: this queue; SQ Head Pointer: an entry of it */
	if (regbuf_le16_to_cpu(e->sq_id) != q->qid || regbuf_le16_to_cpu(e->sq_head) >= q->depth)
		return -EIO;
	return 0;
}

static int queue_reap(struct nvme_queue *q, struct regbuf_nvme_cpl *cpls, unsigned int max)
{
	struct regbuf_nvme_ctrl *c = q->ctrl;
	unsigned int n = 0;
	bool any = false;

	while (q->nr_local_done && n < max)
		req_done(q, q->local_done[--q->nr_local_done], &cpls[n++]);
	while (n < max && !nvme_ctrl_is_failed(c)) {
		struct regbuf_nvme_cqe *e = &q->cq[q->cq_head], cqe;
		regbuf_le16 st = (REGBUF_FORCE regbuf_le16)
			__atomic_load_n((REGBUF_FORCE uint16_t *)&e->status, __ATOMIC_ACQUIRE);

		/* NVMe 1.4 §4.6: a new entry has the phase tag the controller writes this pass */
		if ((regbuf_le16_to_cpu(st) & 1) != q->phase)
			break;
		/* one copy, checked before use: the device could rewrite the entry */
		memcpy(&cqe, e, sizeof(cqe));
		cqe.status = st;
		if (REGBUF_UNLIKELY(nvme_cqe_check(q, &cqe))) {
			/* a malformed completion: the controller is not to be trusted */
			nvme_ctrl_fail(c);
			q->next_check_ns = 0;
			break;
		}
		any = true;
		q->sq_head = regbuf_le16_to_cpu(cqe.sq_head);
		n += (unsigned int)cmd_end(q, regbuf_le16_to_cpu(cqe.cid),
					   regbuf_nvme_cqe_status(st),
					   regbuf_le32_to_cpu(cqe.dw0), &cpls[n]);
		if (++q->cq_head == q->depth) {
			q->cq_head = 0;
			q->phase ^= 1;
		}
	}
	if (any) {
		/* CQ y Head Doorbell (NVMe 1.4 §3.1.25): frees the entries for the controller */
		nvme_db_write(q->cq_db, q->cq_head);
		if (q->partial != UINT32_MAX && q->nr_free_cids && !nvme_ctrl_is_failed(c)) {
			if (issue_pieces(q, q->partial))
				q->partial = UINT32_MAX;
			sq_ring(q);
		}
	}
	/* nothing new, or a failed controller: overdue (or all) commands end here */
	if ((!any || nvme_ctrl_is_failed(c)) && q->inflight && n < max)
		n += check_timeouts(q, cpls + n, max - n);
	return (int)n;
}

static uint64_t cmd_deadline(struct nvme_queue *q)
{
	return nvme_now_ns() + (uint64_t)q->ctrl->timeout_ms * 1000000u;
}

static int req_get(struct nvme_queue *q, void *ctx, uint32_t nr_cmds)
{
	uint32_t r;

	if (!q->nr_free_cids || !q->nr_free_reqs)
		return -EAGAIN;
	r = q->free_reqs[--q->nr_free_reqs];
	q->reqs[r].ctx = ctx;
	q->reqs[r].pending = nr_cmds;
	q->reqs[r].nr_cmds = nr_cmds;
	q->reqs[r].status = 0;
	q->reqs[r].cid = 0;
	q->reqs[r].dw0 = 0;
	q->inflight++;
	return (int)r;
}

/* ---- admin ---- */

int nvme_admin_cmd(struct regbuf_nvme_ctrl *c, struct regbuf_nvme_sqe *sqe, void *data,
		   size_t data_len, bool to_dev, uint32_t *dw0, uint16_t *status)
{
	struct nvme_queue *q = c->admin;
	struct regbuf_nvme_cpl cpl;
	int r, ret;

	*status = 0;
	if (data_len > 4096)
		return -EINVAL;
	pthread_mutex_lock(&c->admin_lock);
	if (data && to_dev)
		memcpy(c->admin_page, data, data_len);
	r = req_get(q, NULL, 1);
	if (r < 0) {
		pthread_mutex_unlock(&c->admin_lock);
		return r;
	}
	sqe->cid = regbuf_cpu_to_le16(cid_get(q, (uint32_t)r, cmd_deadline(q)));
	/* admin commands use PRPs over PCIe (NVMe 1.4 §4.2, PSDT); one page at most */
	sqe->flags = 0;
	if (data) {
		sqe->dptr.prp.prp1 = regbuf_cpu_to_le64(c->admin_page_iova);
		sqe->dptr.prp.prp2 = 0;
	}
	sq_push(q, sqe);
	sq_ring(q);
	while (!(ret = queue_reap(q, &cpl, 1)))
		;
	*status = cpl.status;
	if (dw0)
		*dw0 = cpl.dw0;
	if (data && !to_dev && !cpl.status)
		memcpy(data, c->admin_page, data_len);
	pthread_mutex_unlock(&c->admin_lock);
	return regbuf_nvme_status_errno(cpl.status);
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

/* ---- I/O queue pairs ---- */

int regbuf_nvme_qpair_create(struct regbuf_nvme_qpair **qp, struct regbuf_nvme_ctrl *c,
			     uint32_t depth, unsigned int flags)
{
	struct regbuf_nvme_qpair *p;
	struct regbuf_nvme_sqe sqe;
	uint16_t qid = 0, st;
	uint32_t i;
	int ret;

	if (!depth)
		depth = NVME_DEFAULT_DEPTH;
	if (!qp || flags || depth < 2 || depth > NVME_MAX_DEPTH || depth > c->info.mqes)
		return -EINVAL;
	if (nvme_ctrl_is_failed(c))
		return -ENXIO;
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	pthread_mutex_lock(&c->lock);
	for (i = 1; i <= c->info.io_queues; i++) {
		if (!c->qid_used[i]) {
			c->qid_used[i] = 1;
			qid = (uint16_t)i;
			c->nr_qpairs++;
			break;
		}
	}
	pthread_mutex_unlock(&c->lock);
	if (!qid) {
		free(p);
		return -EBUSY;
	}
	ret = nvme_queue_init(c, &p->q, qid, depth);
	if (ret)
		goto out_qid;
	/* Create I/O CQ (NVMe 1.4 §5.3): QSIZE 0-based, PC = 1, no interrupts (IEN = 0, IV = 0) */
	memset(&sqe, 0, sizeof(sqe));
	sqe.opcode = REGBUF_NVME_ADM_CREATE_CQ;
	sqe.dptr.prp.prp1 = regbuf_cpu_to_le64(p->q.cq_iova);
	sqe.cdw10 = regbuf_cpu_to_le32(qid | (depth - 1) << 16);
	sqe.cdw11 = regbuf_cpu_to_le32(1);
	ret = nvme_admin_cmd(c, &sqe, NULL, 0, false, NULL, &st);
	if (ret)
		goto out_fini;
	/* Create I/O SQ (NVMe 1.4 §5.4): PC = 1, QPRIO 0, CQID = its own CQ */
	memset(&sqe, 0, sizeof(sqe));
	sqe.opcode = REGBUF_NVME_ADM_CREATE_SQ;
	sqe.dptr.prp.prp1 = regbuf_cpu_to_le64(p->q.sq_iova);
	sqe.cdw10 = regbuf_cpu_to_le32(qid | (depth - 1) << 16);
	sqe.cdw11 = regbuf_cpu_to_le32(1 | (uint32_t)qid << 16);
	ret = nvme_admin_cmd(c, &sqe, NULL, 0, false, NULL, &st);
	if (ret)
		goto out_delete_cq;
	*qp = p;
	return 0;
out_delete_cq:
	memset(&sqe, 0, sizeof(sqe));
	sqe.opcode = REGBUF_NVME_ADM_DELETE_CQ;
	sqe.cdw10 = regbuf_cpu_to_le32(qid);
	(void)nvme_admin_cmd(c, &sqe, NULL, 0, false, NULL, &st);
out_fini:
	nvme_queue_fini(&p->q);
out_qid:
	pthread_mutex_lock(&c->lock);
	c->qid_used[qid] = 0;
	c->nr_qpairs--;
	pthread_mutex_unlock(&c->lock);
	free(p);
	return ret;
}

void regbuf_nvme_qpair_destroy(struct regbuf_nvme_qpair *p)
{
	struct regbuf_nvme_ctrl *c;
	struct regbuf_nvme_cpl cpl[16];
	struct regbuf_nvme_sqe sqe;
	uint16_t st;

	if (!p)
		return;
	c = p->q.ctrl;
	while (p->q.inflight)
		(void)queue_reap(&p->q, cpl, 16);	/* bounded: timeouts complete them */
	if (!nvme_ctrl_is_failed(c)) {
		/* NVMe 1.4 §5.6 then §5.5: the SQ goes first, then its CQ */
		memset(&sqe, 0, sizeof(sqe));
		sqe.opcode = REGBUF_NVME_ADM_DELETE_SQ;
		sqe.cdw10 = regbuf_cpu_to_le32(p->q.qid);
		(void)nvme_admin_cmd(c, &sqe, NULL, 0, false, NULL, &st);
		memset(&sqe, 0, sizeof(sqe));
		sqe.opcode = REGBUF_NVME_ADM_DELETE_CQ;
		sqe.cdw10 = regbuf_cpu_to_le32(p->q.qid);
		(void)nvme_admin_cmd(c, &sqe, NULL, 0, false, NULL, &st);
	}
	pthread_mutex_lock(&c->lock);
	c->qid_used[p->q.qid] = 0;
	c->nr_qpairs--;
	pthread_mutex_unlock(&c->lock);
	nvme_queue_fini(&p->q);
	free(p);
}

unsigned int regbuf_nvme_qpair_inflight(const struct regbuf_nvme_qpair *p)
{
	return p->q.inflight;
}

void regbuf_nvme_qpair_stats(const struct regbuf_nvme_qpair *p, struct regbuf_nvme_stats *st)
{
	*st = p->q.stats;
}

int regbuf_nvme_reap(struct regbuf_nvme_qpair *p, struct regbuf_nvme_cpl *cpls, unsigned int max)
{
	return queue_reap(&p->q, cpls, max);
}

/*
 * The data pointer of one command: O(1) from the buffer's cookie, with the
 * command's scratch page for the rare SGL shapes that need a segment.
 */
static int build_dptr(struct nvme_queue *q, uint16_t cid, const struct regbuf_nvme_dmamap *b,
		      uint64_t off, uint64_t len, bool use_sgl, struct regbuf_nvme_sqe *sqe)
{
	struct regbuf_dma_sgl_scratch scratch;
	int ret;

	if (!use_sgl)
		return regbuf_dma_sqe_prp(b->cookie, sqe, off, len);
	scratch.descs = (struct regbuf_nvme_sgl_desc *)(void *)q->scratch[cid];
	scratch.iova = regbuf_iova(q->scratch_iova[cid]);
	scratch.nr = 4096 / sizeof(struct regbuf_nvme_sgl_desc);
	scratch.__pad = 0;
	ret = regbuf_dma_sqe_sgl(b->cookie, sqe, off, len, &scratch);
	return ret < 0 ? ret : 0;
}

/* ---- I/O submission ---- */

/*
 * The command's own part of the metadata (MPTR, one contiguous run, NVMe 1.4
 * 4.2), its first block's reference tag and the application tag (NVM Command
 * Set 1.0, 3.2.4 and 5.2), for the piece starting @done_blks blocks in.
 */
static int piece_md(const struct nvme_req *req, uint64_t done_blks, uint64_t nlb,
		    struct regbuf_nvme_sqe *sqe)
{
	uint64_t mptr = 0;
	int ret = 0;

	if (req->md.mb)
		ret = nvme_dmamap_iova_contig(req->md.mb, req->md.moff + done_blks * req->md.ms,
					      nlb * req->md.ms, &mptr);
	sqe->mptr = regbuf_cpu_to_le64(mptr);
	sqe->cdw14 = regbuf_cpu_to_le32(req->md.reftag + (uint32_t)done_blks);
	sqe->cdw15 = regbuf_cpu_to_le32(req->md.cdw15);
	return ret;
}

/*
 * PRP1/PRP2 alone cover up to two pages; beyond that the device reads a PRP
 * list, while an SGL over IOVA-contiguous memory is one inline Data Block:
 * SGL is cheaper from the third page on (the kernel's sgl_threshold idea,
 * decided by pages not bytes).  With physical segments a PRP pointer into the
 * pre-built list is O(1) and an SGL may copy descriptors, so PRP stays the
 * default there.  @in_page: the piece's offset in its first page.
 */
static bool piece_use_sgl(const struct nvme_req *req, const struct regbuf_nvme_ctrl *c,
			  bool sgl_ok, uint64_t in_page, uint64_t piece)
{
	if (req->flags & REGBUF_NVME_IO_F_SGL)
		return true;
	if (req->flags & REGBUF_NVME_IO_F_PRP || !sgl_ok)
		return false;
	return (c->flags & REGBUF_NVME_F_ALWAYS_SGL) || (req->b->contig && in_page + piece > 8192);
}

/* A piece that cannot be described: it and the rest of request @r fail in software. */
static void piece_fail(struct nvme_queue *q, uint32_t r, uint16_t cid)
{
	struct nvme_req *req = &q->reqs[r];
	uint32_t left = (uint32_t)((req->len - req->done + req->max - 1) / req->max);

	cid_put(q, cid);
	req->pending -= left;
	req->done = req->len;
	if (!req->status)
		req->status = NVME_STATUS_SW_INVALID;
	if (!req->pending)
		q->local_done[q->nr_local_done++] = r;
}

/*
 * Issue the pieces of request @r that fit in the free queue entries; one
 * command per max_cmd_bytes (MDTS, NVMe 1.4 §5.15.2.2: a larger transfer is refused
 * with Invalid Field).  Returns true when the whole request is issued.
 */
static bool issue_pieces(struct nvme_queue *q, uint32_t r)
{
	struct nvme_req *req = &q->reqs[r];
	struct regbuf_nvme_ctrl *c = q->ctrl;
	const struct regbuf_nvme_dmamap *b = req->b;
	uint64_t max = req->max, deadline = cmd_deadline(q);
	bool sgl_ok = nvme_sgl_ok(c);

	while (req->done < req->len && q->nr_free_cids) {
		uint64_t piece = req->len - req->done < max ? req->len - req->done : max;
		uint64_t done_blks = nvme_req_blocks(req, req->done);
		uint64_t nlb = nvme_req_blocks(req, piece), off = req->off + req->done;
		/* DMA addresses keep the in-page offset of the virtual address */
		uint64_t in_page = ((uintptr_t)b->vaddr + off) & 4095;
		struct regbuf_nvme_sqe sqe;
		uint16_t cid = cid_get(q, r, deadline);
		bool use_sgl = piece_use_sgl(req, c, sgl_ok, in_page, piece);
		int ret = 0;

		memset(&sqe, 0, sizeof(sqe));
		sqe.cid = regbuf_cpu_to_le16(cid);
		regbuf_nvme_sqe_rw(&sqe, req->opc, req->nsid, req->slba + done_blks, (uint32_t)nlb,
				   req->md.prinfo |
				   (req->flags & REGBUF_NVME_IO_F_FUA ? REGBUF_NVME_RW_FUA : 0));
		if (REGBUF_UNLIKELY(req->md.prinfo || req->md.mb))
			ret = piece_md(req, done_blks, nlb, &sqe);
		if (REGBUF_LIKELY(!ret))
			ret = build_dptr(q, cid, b, off, piece, use_sgl, &sqe);
		if (REGBUF_UNLIKELY(ret == -EOPNOTSUPP && !(req->flags & REGBUF_NVME_IO_F_PRP) &&
				    sgl_ok && !use_sgl)) {
			use_sgl = true;	/* segments off page boundaries: SGL only */
			ret = build_dptr(q, cid, b, off, piece, use_sgl, &sqe);
		}
		if (REGBUF_UNLIKELY(ret)) {
			piece_fail(q, r, cid);
			break;
		}
		if (use_sgl)
			q->stats.sgl++;
		else
			q->stats.prp++;
		q->stats.cmds++;
		sq_push(q, &sqe);
		req->done += piece;
	}
	return req->done == req->len;
}

/*
 * The metadata of a request, checked before anything is queued: the format's
 * rule (regbuf_nvme_md_check()), then the separate buffer's range.
 */
static int md_setup(struct nvme_req_md *req, const struct regbuf_nvme_ctrl *c,
		    const struct regbuf_nvme_ns_info *ni, uint64_t nblk,
		    const struct regbuf_nvme_md *md)
{
	uint64_t mlen = nblk * ni->ms;
	int ret;

	ret = regbuf_nvme_md_check(ni->ms, ni->ext, ni->pi_type, md && md->map,
				   md ? md->prinfo : 0);
	if (ret || !md)
		return ret;
	if (md->map && (md->map->ctrl != c || (md->off & 3) || md->off > md->map->len ||
			mlen > md->map->len - md->off))
		return -EINVAL;
	/* PRACT with the 8 bytes of protection information only: nothing moves */
	if (md->map && !(md->prinfo & REGBUF_NVME_RW_PRACT && ni->ms == 8))
		req->mb = md->map;
	req->moff = md->off;
	req->ms = ni->ms;
	req->prinfo = md->prinfo;
	req->reftag = md->reftag;
	req->cdw15 = md->apptag | (uint32_t)md->appmask << 16;
	return 0;
}

static int submit_rw(struct regbuf_nvme_qpair *p, uint8_t opc, const struct regbuf_nvme_ns *ns,
		     const struct regbuf_nvme_dmamap *b, uint64_t off, uint64_t len, uint64_t slba,
		     const struct regbuf_nvme_md *md, void *ctx, unsigned int flags)
{
	struct nvme_queue *q = &p->q;
	struct regbuf_nvme_ctrl *c = q->ctrl;
	uint64_t max = c->info.max_cmd_bytes;
	struct nvme_req_md mdreq = { 0 };
	struct nvme_req *req;
	uint32_t nr_cmds, blk;
	int r;

	if (REGBUF_UNLIKELY(nvme_ctrl_is_failed(c)))
		return -ENXIO;
	if (REGBUF_UNLIKELY(!ns || ns->ctrl != c || !b || !len || off > b->len ||
			    len > b->len - off || (((uintptr_t)b->vaddr + off) & 3) ||
			    (flags & ~(REGBUF_NVME_IO_F_PRP | REGBUF_NVME_IO_F_SGL |
				       REGBUF_NVME_IO_F_FUA | REGBUF_NVME_IO_F_DEFER)) ||
			    (flags & REGBUF_NVME_IO_F_PRP && flags & REGBUF_NVME_IO_F_SGL)))
		return -EINVAL;
	blk = ns->info.blk_bytes;
	if (REGBUF_LIKELY(!ns->info.ms && !md)) {
		if (REGBUF_UNLIKELY(len & (blk - 1)))
			return -EINVAL;
	} else {
		/* whole blocks of data (and, extended, metadata) per command */
		if (len % blk)
			return -EINVAL;
		max -= max % blk;
		r = md_setup(&mdreq, c, &ns->info, len / blk, md);
		if (r)
			return r;
	}
	/* SGLS bits 1:0 (Identify Controller bytes 539:536): SGLs for NVM I/O */
	if (REGBUF_UNLIKELY((flags & REGBUF_NVME_IO_F_SGL) && !nvme_sgl_ok(c)))
		return -EOPNOTSUPP;
	/* a request still waiting for entries goes first */
	if (REGBUF_UNLIKELY(q->partial != UINT32_MAX))
		return -EAGAIN;
	nr_cmds = (uint32_t)((len + max - 1) / max);
	r = req_get(q, ctx, nr_cmds);
	if (REGBUF_UNLIKELY(r < 0))
		return r;
	req = &q->reqs[r];
	req->b = b;
	req->off = off;
	req->len = len;
	req->slba = slba;
	req->done = 0;
	req->max = max;
	req->nsid = ns->info.nsid;
	req->opc = opc;
	req->lbs_shift = ns->lbs_shift;
	req->flags = (uint16_t)flags;
	req->ext = ns->info.ext;
	req->blk_bytes = blk;
	req->md = mdreq;
	if (nr_cmds > 1)
		q->stats.splits++;
	if (!issue_pieces(q, (uint32_t)r))
		q->partial = (uint32_t)r;	/* the rest goes out as entries free up */
	if (!(flags & REGBUF_NVME_IO_F_DEFER))
		sq_ring(q);
	return 0;
}

int regbuf_nvme_submit_read(struct regbuf_nvme_qpair *q, const struct regbuf_nvme_ns *ns,
			    const struct regbuf_nvme_dmamap *b, uint64_t off, uint64_t len,
			    uint64_t slba, void *ctx, unsigned int flags)
{
	return submit_rw(q, REGBUF_NVME_CMD_READ, ns, b, off, len, slba, NULL, ctx, flags);
}

int regbuf_nvme_submit_write(struct regbuf_nvme_qpair *q, const struct regbuf_nvme_ns *ns,
			     const struct regbuf_nvme_dmamap *b, uint64_t off, uint64_t len,
			     uint64_t slba, void *ctx, unsigned int flags)
{
	return submit_rw(q, REGBUF_NVME_CMD_WRITE, ns, b, off, len, slba, NULL, ctx, flags);
}

int regbuf_nvme_submit_rw_md(struct regbuf_nvme_qpair *q, bool write,
			     const struct regbuf_nvme_ns *ns, const struct regbuf_nvme_dmamap *b,
			     uint64_t off, uint64_t len, uint64_t slba,
			     const struct regbuf_nvme_md *md, void *ctx, unsigned int flags)
{
	return submit_rw(q, write ? REGBUF_NVME_CMD_WRITE : REGBUF_NVME_CMD_READ, ns, b, off, len,
			 slba, md, ctx, flags);
}

int regbuf_nvme_submit_flush(struct regbuf_nvme_qpair *p, const struct regbuf_nvme_ns *ns,
			     void *ctx)
{
	struct nvme_queue *q = &p->q;
	struct regbuf_nvme_sqe sqe;
	int r;

	if (!ns || ns->ctrl != q->ctrl)
		return -EINVAL;
	if (nvme_ctrl_is_failed(q->ctrl))
		return -ENXIO;
	r = req_get(q, ctx, 1);
	if (r < 0)
		return r;
	memset(&sqe, 0, sizeof(sqe));
	sqe.opcode = REGBUF_NVME_CMD_FLUSH;
	sqe.nsid = regbuf_cpu_to_le32(ns->info.nsid);
	sqe.cid = regbuf_cpu_to_le16(cid_get(q, (uint32_t)r, cmd_deadline(q)));
	q->stats.cmds++;
	sq_push(q, &sqe);
	sq_ring(q);
	return 0;
}

int regbuf_nvme_submit_cmd(struct regbuf_nvme_qpair *p, const struct regbuf_nvme_sqe *cmd,
			   void *ctx, unsigned int flags)
{
	struct nvme_queue *q = &p->q;
	struct regbuf_nvme_sqe sqe;
	int r;

	if (REGBUF_UNLIKELY(!cmd || (flags & ~REGBUF_NVME_IO_F_DEFER)))
		return -EINVAL;
	if (REGBUF_UNLIKELY(nvme_ctrl_is_failed(q->ctrl)))
		return -ENXIO;
	/* a request still waiting for entries goes first */
	if (REGBUF_UNLIKELY(q->partial != UINT32_MAX))
		return -EAGAIN;
	r = req_get(q, ctx, 1);
	if (REGBUF_UNLIKELY(r < 0))
		return r;
	sqe = *cmd;
	sqe.cid = regbuf_cpu_to_le16(cid_get(q, (uint32_t)r, cmd_deadline(q)));
	if (sqe.flags & REGBUF_NVME_PSDT_MASK)
		q->stats.sgl++;
	else if (sqe.dptr.prp.prp1)
		q->stats.prp++;
	q->stats.cmds++;
	sq_push(q, &sqe);
	if (!(flags & REGBUF_NVME_IO_F_DEFER))
		sq_ring(q);
	return 0;
}

void regbuf_nvme_qpair_ring(struct regbuf_nvme_qpair *p)
{
	sq_ring(&p->q);
}

int regbuf_nvme_io(struct regbuf_nvme_qpair *q, enum regbuf_nvme_op op,
		   const struct regbuf_nvme_ns *ns, const struct regbuf_nvme_dmamap *b, uint64_t off,
		   uint64_t len, uint64_t slba, struct regbuf_nvme_cpl *cpl, unsigned int flags)
{
	struct regbuf_nvme_cpl local;
	int ret;

	if (q->q.inflight)
		return -EBUSY;
	switch (op) {
	case REGBUF_NVME_OP_READ:
		ret = regbuf_nvme_submit_read(q, ns, b, off, len, slba, NULL, flags);
		break;
	case REGBUF_NVME_OP_WRITE:
		ret = regbuf_nvme_submit_write(q, ns, b, off, len, slba, NULL, flags);
		break;
	case REGBUF_NVME_OP_FLUSH:
		ret = regbuf_nvme_submit_flush(q, ns, NULL);
		break;
	default:
		return -EINVAL;
	}
	if (ret)
		return ret;
	if (!cpl)
		cpl = &local;
	while (!regbuf_nvme_reap(q, cpl, 1))
		;
	return regbuf_nvme_status_errno(cpl->status);
}
