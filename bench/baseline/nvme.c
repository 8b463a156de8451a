// SPDX-License-Identifier: MIT
/*
 * Reads and writes whose descriptors come from the classic per-I/O chain
 * (baseline_dma_*), on a regbuf_nvme queue pair, through the driver's raw
 * command interface: the same controller, queue and memory as the premapped
 * path, so that only the descriptor work differs.  For `regbuf nvme bench`
 * and the device tests' differential cases; not part of the library.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "baseline.h"

#define HUGE_2M		(UINT64_C(2) << 20)
/* /proc/self/pagemap entry (Documentation/admin-guide/mm/pagemap.rst) */
#define PM_PRESENT	(UINT64_C(1) << 63)
#define PM_PFN_MASK	((UINT64_C(1) << 55) - 1)
#define MAX_POOL_MAPS	2

struct bn_cmd {
	struct baseline_dma_req req;
	uint32_t r;			/* its request */
};

struct bn_req {
	void *ctx;
	uint32_t pending;
	uint32_t nr_cmds;
	uint16_t status;
	uint16_t cid;
	uint32_t dw0;
};

/* Device-visible memory for the list pools: host memory mapped for the controller. */
struct bn_map {
	void *va;
	size_t maplen;
	struct regbuf_nvme_dmamap *b;
};

struct baseline_nvme {
	struct regbuf_nvme_ctrl *c;
	struct regbuf_nvme_qpair *q;
	struct baseline_dma *dma;
	struct regbuf_dma_ops ops;
	uint64_t max_cmd;
	bool phys;
	int pagemap_fd;
	uint32_t depth;
	struct bn_cmd *cmds;
	uint32_t *free_cmds, nr_free_cmds;
	struct bn_req *reqs;
	uint32_t *free_reqs, nr_free_reqs;
	struct bn_map maps[MAX_POOL_MAPS];
	/* the buffer being translated (one I/O at a time is built) */
	const struct regbuf_nvme_dmamap *cur_b;
	uint64_t cur_base;
};

static int bn_alloc(void *priv, size_t len, void **vaddr, regbuf_iova_t *iova)
{
	struct baseline_nvme *bn = priv;
	size_t maplen = (len + HUGE_2M - 1) & ~(size_t)(HUGE_2M - 1);
	struct bn_map *m = NULL;
	unsigned int i;
	void *p;
	int ret;

	for (i = 0; i < MAX_POOL_MAPS && !m; i++)
		if (!bn->maps[i].va)
			m = &bn->maps[i];
	if (!m)
		return -ENOMEM;
	p = mmap(NULL, maplen, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB | MAP_POPULATE, -1, 0);
	if (p == MAP_FAILED && !bn->phys)
		p = mmap(NULL, maplen, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (p == MAP_FAILED)
		return -ENOMEM;
	ret = regbuf_nvme_dmamap_create(&m->b, bn->c, p, maplen, 0);
	if (!ret && regbuf_nvme_dmamap_nr_segs(m->b) != 1) {
		/* the pool is indexed by one base address: it must be contiguous */
		regbuf_nvme_dmamap_destroy(m->b);
		ret = -ENOMEM;
	}
	if (ret) {
		munmap(p, maplen);
		return ret;
	}
	m->va = p;
	m->maplen = maplen;
	*vaddr = p;
	*iova = regbuf_iova(regbuf_nvme_dmamap_iova(m->b, 0));
	return 0;
}

static void bn_free(void *priv, void *vaddr, size_t len, regbuf_iova_t iova)
{
	struct baseline_nvme *bn = priv;
	unsigned int i;

	(void)len;
	(void)iova;
	for (i = 0; i < MAX_POOL_MAPS; i++) {
		struct bn_map *m = &bn->maps[i];

		if (m->va == vaddr) {
			regbuf_nvme_dmamap_destroy(m->b);
			munmap(m->va, m->maplen);
			memset(m, 0, sizeof(*m));
		}
	}
}

/*
 * One translation per CPU page, as get_user_pages + dma_map_page: VFIO looks
 * the address up in the buffer's IOMMU mapping, physical mode reads the
 * frame from /proc/self/pagemap.
 */
static int bn_translate(void *priv, uint64_t vaddr, uint64_t len, struct regbuf_seg *out,
			uint32_t max)
{
	struct baseline_nvme *bn = priv;
	uint64_t ent;

	if (!max)
		return -E2BIG;
	if (vaddr < bn->cur_base || vaddr - bn->cur_base + len > regbuf_nvme_dmamap_len(bn->cur_b))
		return -EFAULT;
	if (bn->phys) {
		if (pread(bn->pagemap_fd, &ent, 8, (off_t)((vaddr >> 12) * 8)) != 8)
			return -EFAULT;
		if (!(ent & PM_PRESENT) || !(ent & PM_PFN_MASK))
			return -EFAULT;
		out->addr = (ent & PM_PFN_MASK) << 12 | (vaddr & 4095);
	} else {
		out->addr = regbuf_nvme_dmamap_iova(bn->cur_b, vaddr - bn->cur_base);
	}
	out->len = len;
	return 1;
}

void baseline_nvme_destroy(struct baseline_nvme *bn)
{
	if (!bn)
		return;
	baseline_dma_destroy(bn->dma);
	if (bn->pagemap_fd >= 0)
		close(bn->pagemap_fd);
	free(bn->cmds);
	free(bn->free_cmds);
	free(bn->reqs);
	free(bn->free_reqs);
	free(bn);
}

int baseline_nvme_create(struct baseline_nvme **bnp, struct regbuf_nvme_ctrl *c,
			 struct regbuf_nvme_qpair *q, uint32_t depth)
{
	const struct regbuf_nvme_ctrl_info *ci = regbuf_nvme_ctrl_info(c);
	struct regbuf_dma_ctrl p = { 0 };
	struct baseline_nvme *bn;
	uint32_t i;
	int ret;

	if (!depth)
		return -EINVAL;
	bn = calloc(1, sizeof(*bn));
	if (!bn)
		return -ENOMEM;
	bn->c = c;
	bn->q = q;
	bn->depth = depth;
	bn->max_cmd = ci->max_cmd_bytes;
	bn->phys = ci->mode == REGBUF_NVME_MODE_PHYS;
	bn->pagemap_fd = -1;
	bn->ops.alloc = bn_alloc;
	bn->ops.free = bn_free;
	bn->ops.translate = bn_translate;
	bn->cmds = calloc(depth, sizeof(*bn->cmds));
	bn->free_cmds = calloc(depth, sizeof(*bn->free_cmds));
	bn->reqs = calloc(depth, sizeof(*bn->reqs));
	bn->free_reqs = calloc(depth, sizeof(*bn->free_reqs));
	if (!bn->cmds || !bn->free_cmds || !bn->reqs || !bn->free_reqs) {
		ret = -ENOMEM;
		goto out_destroy;
	}
	for (i = 0; i < depth; i++) {
		bn->free_cmds[bn->nr_free_cmds++] = depth - 1 - i;
		bn->free_reqs[bn->nr_free_reqs++] = depth - 1 - i;
	}
	if (bn->phys) {
		bn->pagemap_fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
		if (bn->pagemap_fd < 0) {
			ret = -errno;
			goto out_destroy;
		}
	}
	p.page_shift = 12;
	p.max_bytes = bn->max_cmd;
	/* a command of max_cmd bytes needs at most two list pages (chained at 511 entries) */
	ret = baseline_dma_create(&bn->dma, &p, &bn->ops, bn, 2 * depth + 2, 0);
	if (ret)
		goto out_destroy;
	*bnp = bn;
	return 0;
out_destroy:
	baseline_nvme_destroy(bn);
	return ret;
}

/* The data pointer of one piece, classic way; the list pages go in @cmd. */
static int bn_dptr(struct baseline_nvme *bn, struct bn_cmd *cmd, uint64_t va, uint64_t len,
		   bool sgl, struct regbuf_nvme_sqe *sqe)
{
	int ret;

	if (sgl) {
		ret = baseline_dma_sgl(bn->dma, va, len, &cmd->req);
		if (ret)
			return ret;
		sqe->flags = REGBUF_NVME_PSDT_SGL_MPTR_CONTIG;
		sqe->dptr.sgl = cmd->req.sgl1;
		return 0;
	}
	ret = baseline_dma_prp(bn->dma, va, len, &cmd->req);
	if (ret)
		return ret;
	sqe->flags = REGBUF_NVME_PSDT_PRP;
	sqe->dptr.prp.prp1 = regbuf_cpu_to_le64(cmd->req.prp1);
	sqe->dptr.prp.prp2 = regbuf_cpu_to_le64(cmd->req.prp2);
	return 0;
}

static void cmd_put(struct baseline_nvme *bn, struct bn_cmd *cmd)
{
	baseline_dma_done(bn->dma, &cmd->req);
	bn->free_cmds[bn->nr_free_cmds++] = (uint32_t)(cmd - bn->cmds);
}

int baseline_nvme_submit(struct baseline_nvme *bn, enum regbuf_nvme_op op, uint32_t nsid,
			 uint32_t lba_size, const struct regbuf_nvme_dmamap *b, const void *base,
			 uint64_t off, uint64_t len, uint64_t slba, void *ctx, unsigned int flags)
{
	uint32_t nr = (uint32_t)((len + bn->max_cmd - 1) / bn->max_cmd), r, i;
	unsigned int shift = (unsigned int)__builtin_ctz(lba_size);
	struct bn_req *req;
	int ret = 0;

	if ((op != REGBUF_NVME_OP_READ && op != REGBUF_NVME_OP_WRITE) || !len ||
	    len % lba_size || off > regbuf_nvme_dmamap_len(b) || len > regbuf_nvme_dmamap_len(b) - off)
		return -EINVAL;
	if (nr > bn->nr_free_cmds || !bn->nr_free_reqs)
		return -EAGAIN;
	r = bn->free_reqs[--bn->nr_free_reqs];
	req = &bn->reqs[r];
	memset(req, 0, sizeof(*req));
	req->ctx = ctx;
	req->nr_cmds = nr;
	req->pending = nr;
	bn->cur_b = b;
	bn->cur_base = (uint64_t)(uintptr_t)base;
	for (i = 0; i < nr; i++) {
		uint64_t done = (uint64_t)i * bn->max_cmd;
		uint64_t piece = len - done < bn->max_cmd ? len - done : bn->max_cmd;
		uint64_t lba = slba + (done >> shift);
		struct bn_cmd *cmd = &bn->cmds[bn->free_cmds[--bn->nr_free_cmds]];
		struct regbuf_nvme_sqe sqe;

		memset(&sqe, 0, sizeof(sqe));
		cmd->r = r;
		regbuf_nvme_sqe_rw(&sqe, op == REGBUF_NVME_OP_READ ? REGBUF_NVME_CMD_READ :
				   REGBUF_NVME_CMD_WRITE, nsid, lba, (uint32_t)(piece >> shift),
				   flags & REGBUF_NVME_IO_F_FUA ? REGBUF_NVME_RW_FUA : 0);
		ret = bn_dptr(bn, cmd, bn->cur_base + off + done, piece,
			      flags & REGBUF_NVME_IO_F_SGL, &sqe);
		if (!ret)
			ret = regbuf_nvme_submit_cmd(bn->q, &sqe, cmd, REGBUF_NVME_IO_F_DEFER);
		if (ret) {
			cmd_put(bn, cmd);
			/* the pieces already posted complete; the rest never will */
			req->pending -= nr - i;
			req->status = REGBUF_NVME_STATUS_BADDESC;
			break;
		}
	}
	regbuf_nvme_qpair_ring(bn->q);
	if (!req->pending) {
		bn->free_reqs[bn->nr_free_reqs++] = r;
		return ret;
	}
	return 0;
}

int baseline_nvme_reap(struct baseline_nvme *bn, struct regbuf_nvme_cpl *cpls, unsigned int max)
{
	struct regbuf_nvme_cpl raw[64];
	unsigned int out = 0;
	int n, k;

	n = regbuf_nvme_reap(bn->q, raw, max < 64 ? max : 64);
	for (k = 0; k < n; k++) {
		struct bn_cmd *cmd = raw[k].ctx;
		struct bn_req *req = &bn->reqs[cmd->r];
		uint32_t r = cmd->r;

		/* a timed-out command's lists may still be read by the device: keep them */
		if (raw[k].status != REGBUF_NVME_STATUS_TIMEOUT)
			cmd_put(bn, cmd);
		if (raw[k].status && !req->status) {
			req->status = raw[k].status;
			req->cid = raw[k].cid;
		}
		req->dw0 = raw[k].dw0;
		if (--req->pending)
			continue;
		cpls[out].ctx = req->ctx;
		cpls[out].status = req->status;
		cpls[out].cid = req->cid;
		cpls[out].dw0 = req->dw0;
		cpls[out].nr_cmds = req->nr_cmds;
		out++;
		bn->free_reqs[bn->nr_free_reqs++] = r;
	}
	return (int)out;
}

int baseline_nvme_io(struct baseline_nvme *bn, enum regbuf_nvme_op op, uint32_t nsid,
		     uint32_t lba_size, const struct regbuf_nvme_dmamap *b, const void *base,
		     uint64_t off, uint64_t len, uint64_t slba, struct regbuf_nvme_cpl *cpl,
		     unsigned int flags)
{
	struct regbuf_nvme_cpl local, one;
	uint64_t done = 0;
	int ret;

	if (!cpl)
		cpl = &local;
	memset(cpl, 0, sizeof(*cpl));
	if (!len)
		return -EINVAL;
	/* one command at a time, so that a queue of any depth takes a split request */
	while (done < len) {
		uint64_t piece = len - done < bn->max_cmd ? len - done : bn->max_cmd;

		ret = baseline_nvme_submit(bn, op, nsid, lba_size, b, base, off + done, piece,
					   slba + done / lba_size, NULL, flags);
		if (ret)
			return ret;
		while (!baseline_nvme_reap(bn, &one, 1))
			;
		cpl->nr_cmds++;
		cpl->dw0 = one.dw0;
		if (one.status && !cpl->status) {
			cpl->status = one.status;
			cpl->cid = one.cid;
		}
		done += piece;
	}
	return regbuf_nvme_status_errno(cpl->status);
}
