/* SPDX-License-Identifier: MIT */
/*
 * regbuf baseline - the per-I/O work a driver without premapped buffers
 * does, kept only to be measured and checked against: `regbuf bench map`,
 * `regbuf nvme bench` and the tests link this static library; the regbuf
 * library itself has no trace of it.  It uses only the public headers.
 *
 *  - baseline_dma_*: the classic descriptor chain (translate each page,
 *    segments, scatterlist, PRP list or SGL segment from a pool).
 *  - baseline_nvme_*: reads and writes on a regbuf_nvme queue pair whose
 *    descriptors come from that chain, submitted as raw commands
 *    (regbuf_nvme_submit_cmd()).
 */
#ifndef REGBUF_TOOLS_BASELINE_H
#define REGBUF_TOOLS_BASELINE_H

#include <stdint.h>

#include <regbuf/dma.h>
#include <regbuf/nvme.h>

/**
 * struct baseline_dma_req - descriptors one classic I/O built
 * @prp1: PRP entry 1
 * @prp2: PRP entry 2 or list pointer
 * @sgl1: SGL descriptor 1 (SGL mode)
 * @nr_lists: list pages taken from the pool
 * @lists: their indices in the pool, for baseline_dma_done()
 */
struct baseline_dma_req {
	uint64_t prp1;
	uint64_t prp2;
	struct regbuf_nvme_sgl_desc sgl1;
	uint32_t nr_lists;
	uint32_t lists[15];
};

struct baseline_dma;

/**
 * baseline_dma_create() - state for the classic per-I/O chain
 * @clp: where to store it
 * @ctrl: controller page size and MDTS; NULL for 4 KiB and no limit
 * @ops: alloc/free for the list pool, translate for every page of every I/O
 * @priv: passed to @ops
 * @nr_lists: list pages in the pool (like the kernel's dma_pool of PRP pages)
 * @flags: 0
 *
 * What a driver without premapping does per I/O: translate
 * each page (get_user_pages + dma_map_page), merge into segments (bio_vec),
 * build a scatterlist, then walk it into a PRP list with chaining, or an SGL
 * segment, in list pages taken from a pool.  Kept faithful and separate so
 * the premapped path can be compared against it; not a path users take.
 *
 * Context: allocates.  The state (its list pool) serves one thread at a time.
 * Return: 0; -EINVAL for bad arguments; -ENOMEM; any -errno from @ops->alloc.
 */
int baseline_dma_create(struct baseline_dma **clp, const struct regbuf_dma_ctrl *ctrl,
			      const struct regbuf_dma_ops *ops, void *priv, uint32_t nr_lists,
			      unsigned int flags);

/**
 * baseline_dma_destroy() - free the pool
 * @cl: state, or NULL
 */
void baseline_dma_destroy(struct baseline_dma *cl);

/**
 * baseline_dma_prp() - build PRPs for one I/O the classic way
 * @cl: state
 * @vaddr: host address of the first byte
 * @len: bytes, 1..MDTS
 * @req: result; release with baseline_dma_done()
 *
 * Return: 0; -EINVAL for an empty, oversized or misaligned request or a
 * translation that breaks the PRP rules (segment gap inside a page);
 * -ENOMEM when the pool is empty; -errno from @ops->translate.
 */
int baseline_dma_prp(struct baseline_dma *cl, uint64_t vaddr, uint64_t len,
			   struct baseline_dma_req *req);

/**
 * baseline_dma_sgl() - build an SGL for one I/O the classic way
 * @cl: state
 * @vaddr: host address of the first byte
 * @len: bytes, 1..MDTS
 * @req: result; release with baseline_dma_done()
 *
 * One Data Block per scatterlist entry: inline when there is one, otherwise
 * a Last Segment pointing at a pool page (at most 256 descriptors).
 *
 * Return: 0; -EINVAL; -E2BIG over 256 segments; -ENOMEM; -errno from
 * @ops->translate.
 */
int baseline_dma_sgl(struct baseline_dma *cl, uint64_t vaddr, uint64_t len,
			   struct baseline_dma_req *req);

/**
 * baseline_dma_done() - give back the list pages of a finished I/O
 * @cl: state
 * @req: what baseline_dma_prp() or baseline_dma_sgl() filled
 */
void baseline_dma_done(struct baseline_dma *cl, struct baseline_dma_req *req);


/* Controller parameters with defaults applied: 4 KiB pages, no MDTS limit. */
int baseline_ctrl_resolve(const struct regbuf_dma_ctrl *ctrl, unsigned int *page_shift,
			  uint64_t *max_bytes);

struct baseline_nvme;

/*
 * baseline_nvme_create() - the classic chain for one queue pair
 * @bnp: where to store it
 * @c: controller
 * @q: queue pair it submits on
 * @depth: commands it may have in flight at once
 *
 * The list pools live in memory mapped with regbuf_nvme_dmamap_create(); each
 * page translation is a buffer lookup (VFIO: the IOMMU mapping, as a driver
 * looking its mappings up per I/O) or a /proc/self/pagemap read (physical
 * mode).  Returns 0 or -errno.
 */
int baseline_nvme_create(struct baseline_nvme **bnp, struct regbuf_nvme_ctrl *c,
			 struct regbuf_nvme_qpair *q, uint32_t depth);

/* baseline_nvme_destroy() - free the pools; nothing may be in flight. */
void baseline_nvme_destroy(struct baseline_nvme *bn);

/*
 * baseline_nvme_submit() - a read or write with classic descriptors
 * @bn: state
 * @op: REGBUF_NVME_OP_READ or _WRITE
 * @nsid: namespace
 * @lba_size: its logical block size
 * @b: mapped buffer
 * @base: @b's first byte (the host address it was created with)
 * @off: offset of the data in @b
 * @len: bytes, a multiple of @lba_size
 * @slba: first logical block
 * @ctx: returned by baseline_nvme_reap()
 * @flags: REGBUF_NVME_IO_F_PRP (default), _SGL, _FUA
 *
 * Split at the controller's largest command, as regbuf_nvme_submit_read()
 * does.  Returns 0, -EAGAIN when the queue or the pools are full (nothing
 * was submitted), or -errno.
 */
int baseline_nvme_submit(struct baseline_nvme *bn, enum regbuf_nvme_op op, uint32_t nsid,
			 uint32_t lba_size, const struct regbuf_nvme_dmamap *b, const void *base,
			 uint64_t off, uint64_t len, uint64_t slba, void *ctx, unsigned int flags);

/*
 * baseline_nvme_reap() - completions of baseline_nvme_submit() requests
 *
 * Reaps the queue pair, gives the list pages of finished commands back and
 * reports each request once all its commands finished, with its ctx and the
 * first failing status.  Returns the number stored in @cpls.
 */
int baseline_nvme_reap(struct baseline_nvme *bn, struct regbuf_nvme_cpl *cpls, unsigned int max);

/*
 * baseline_nvme_io() - one request, synchronously: each command is submitted
 * and reaped in turn (any queue depth will do); 0 or the errno of the first
 * failing status, which is in @cpl.
 */
int baseline_nvme_io(struct baseline_nvme *bn, enum regbuf_nvme_op op, uint32_t nsid,
		     uint32_t lba_size, const struct regbuf_nvme_dmamap *b, const void *base,
		     uint64_t off, uint64_t len, uint64_t slba, struct regbuf_nvme_cpl *cpl,
		     unsigned int flags);

#endif /* REGBUF_TOOLS_BASELINE_H */
