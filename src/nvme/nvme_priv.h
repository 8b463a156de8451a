/* SPDX-License-Identifier: MIT */
/*
 * nvme layer internals: controller registers, admin opcodes, the device
 * access backends (VFIO, physical) and the structures behind the opaque
 * public handles.  Section numbers: NVMe Base Specification 1.4.
 */
#ifndef REGBUF_SRC_NVME_PRIV_H
#define REGBUF_SRC_NVME_PRIV_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include <regbuf/nvme.h>
#include <regbuf/seg.h>
#include <regbuf/table.h>

#include <regbuf/dma.h>

/* Controller registers, offsets in BAR0 (NVMe 1.4 §3.1, Figure 78). */
#define NVME_REG_CAP	0x00	/* NVMe 1.4 §3.1.1 Controller Capabilities, 64 bit */
#define NVME_REG_VS	0x08	/* NVMe 1.4 §3.1.2 Version */
#define NVME_REG_INTMS	0x0c	/* NVMe 1.4 §3.1.3 Interrupt Mask Set */
#define NVME_REG_CC	0x14	/* NVMe 1.4 §3.1.5 Controller Configuration */
#define NVME_REG_CSTS	0x1c	/* NVMe 1.4 §3.1.6 Controller Status */
#define NVME_REG_AQA	0x24	/* NVMe 1.4 §3.1.8 Admin Queue Attributes */
#define NVME_REG_ASQ	0x28	/* NVMe 1.4 §3.1.9 Admin Submission Queue Base Address */
#define NVME_REG_ACQ	0x30	/* NVMe 1.4 §3.1.10 Admin Completion Queue Base Address */
#define NVME_REG_DBS	0x1000	/* NVMe 1.4 §3.1.24/§3.1.25 doorbells start here */

/* CAP fields (NVMe 1.4 §3.1.1, Figure 79). */
#define NVME_CAP_MQES(cap)	((uint32_t)((cap) & 0xffff))		/* 15:00, 0-based */
#define NVME_CAP_CQR(cap)	((uint32_t)(((cap) >> 16) & 1))		/* 16 */
#define NVME_CAP_TO(cap)	((uint32_t)(((cap) >> 24) & 0xff))	/* 31:24, 500 ms units */
#define NVME_CAP_DSTRD(cap)	((uint32_t)(((cap) >> 32) & 0xf))	/* 35:32 */
#define NVME_CAP_CSS(cap)	((uint32_t)(((cap) >> 37) & 0xff))	/* 44:37 */
#define NVME_CAP_MPSMIN(cap)	((uint32_t)(((cap) >> 48) & 0xf))	/* 51:48 */
#define NVME_CAP_MPSMAX(cap)	((uint32_t)(((cap) >> 52) & 0xf))	/* 55:52 */
#define NVME_CAP_CSS_NVM	(1u << 0)	/* NVM command set */
#define NVME_CAP_CSS_IOCS	(1u << 6)	/* one or more I/O command sets (2.0) */

/* CC fields (NVMe 1.4 §3.1.5, Figure 84). */
#define NVME_CC_EN		(1u << 0)
#define NVME_CC_CSS(x)		((uint32_t)(x) << 4)	/* 06:04 */
#define NVME_CC_CSS_NVM		0
#define NVME_CC_CSS_ALL		6	/* "all supported I/O command sets", CAP.CSS bit 6 */
#define NVME_CC_MPS(x)		((uint32_t)(x) << 7)	/* 10:07, page = 2^(12 + MPS) */
#define NVME_CC_AMS_RR		(0u << 11)		/* 13:11 round robin */
#define NVME_CC_SHN_MASK	(3u << 14)		/* 15:14 */
#define NVME_CC_SHN_NORMAL	(1u << 14)
#define NVME_CC_IOSQES(x)	((uint32_t)(x) << 16)	/* 19:16, 2^n bytes: 6 = 64 */
#define NVME_CC_IOCQES(x)	((uint32_t)(x) << 20)	/* 23:20, 2^n bytes: 4 = 16 */

/* CSTS fields (NVMe 1.4 §3.1.6, Figure 85). */
#define NVME_CSTS_RDY		(1u << 0)
#define NVME_CSTS_CFS		(1u << 1)		/* Controller Fatal Status */
#define NVME_CSTS_SHST_MASK	(3u << 2)		/* 03:02 */
#define NVME_CSTS_SHST_DONE	(2u << 2)

/* Device-visible memory the driver itself needs (queues, scratch pages). */
struct nvme_dma_chunk {
	struct nvme_dma_chunk *next;
	uint8_t *vaddr;
	uint64_t iova;
	uint64_t len;
	bool hugetlb;
	bool big;		/* one allocation larger than a chunk */
	uint64_t used[8];	/* bitmap of 4 KiB pages, 512 per 2 MiB chunk */
};

#define NVME_CHUNK_SIZE		(UINT64_C(2) << 20)
#define NVME_CHUNK_PAGES	512

/* One free IOVA range. */
struct nvme_iova_range {
	uint64_t start;
	uint64_t end;	/* inclusive */
};

struct regbuf_nvme_ctrl {
	struct regbuf_nvme_ctrl_info info;
	char bdf[32];
	/* VFIO */
	int container;
	int group;
	int device;
	uint64_t cfg_off;		/* config region offset in the device fd */
	/* physical mode */
	int uio_fd;			/* /dev/uioN, flocked: closing it clears bus mastering */
	int cfg_fd;			/* sysfs config */
	int pagemap_fd;
	int kpageflags_fd;
	/* BAR0 */
	volatile uint8_t *bar;
	size_t bar_len;
	uint64_t cap;
	uint32_t page_shift;
	uint32_t db_stride;		/* bytes: 4 << CAP.DSTRD */
	uint32_t max_qid;		/* doorbells mapped for qid 0..max_qid */
	uint32_t timeout_ms;
	uint32_t flags;
	/* IOVA space (VFIO) */
	struct nvme_iova_range *free_iova;
	uint32_t nr_free_iova;
	uint32_t nr_mappings;
	uint32_t max_mappings;
	/* driver memory */
	struct nvme_dma_chunk *chunks;
	pthread_mutex_t lock;		/* chunks, qid bitmap, namespaces */
	pthread_mutex_t map_lock;	/* IOVA space and the mapping count */
	/* admin queue, one command at a time, data through one 4 KiB page */
	pthread_mutex_t admin_lock;
	struct nvme_queue *admin;
	void *admin_page;
	uint64_t admin_page_iova;
	/* namespace handles handed out, newest first (lock); freed with the controller */
	struct regbuf_nvme_ns *ns;
	int shutdown_ret;
	uint8_t *qid_used;		/* 1..io_queues */
	uint32_t nr_qpairs;
	bool failed;			/* any thread may set it: nvme_ctrl_fail() */
	bool enabled;
};

/*
 * A namespace handle, as SPDK's spdk_nvme_ns: what one Identify Namespace
 * said, immutable once handed out and never freed before the controller, so
 * that submission reads it without a lock or a search.  A namespace whose
 * Identify data changes gets a new handle; the old one stays valid.
 */
struct regbuf_nvme_ns {
	struct regbuf_nvme_ctrl *ctrl;
	struct regbuf_nvme_ns *next;
	struct regbuf_nvme_ns_info info;
	uint8_t lbs_shift;		/* log2 of info.lba_size */
};

/*
 * CSTS.CFS seen, a malformed completion or Identify data that cannot be
 * right: from then on every submission fails.  Set from any thread (a reaper,
 * an identify), read on every submission: relaxed atomics, a plain load on
 * x86.
 */
static inline void nvme_ctrl_fail(struct regbuf_nvme_ctrl *c)
{
	__atomic_store_n(&c->failed, true, __ATOMIC_RELAXED);
}

static inline bool nvme_ctrl_is_failed(const struct regbuf_nvme_ctrl *c)
{
	return __atomic_load_n(&c->failed, __ATOMIC_RELAXED);
}

/* A submission + completion queue pair (admin or I/O). */
struct nvme_queue {
	struct regbuf_nvme_ctrl *ctrl;
	uint16_t qid;
	uint16_t depth;
	struct regbuf_nvme_sqe *sq;
	struct regbuf_nvme_cqe *cq;
	uint64_t sq_iova, cq_iova;
	volatile regbuf_le32 *sq_db, *cq_db;
	uint16_t sq_tail, sq_head, cq_head;
	uint8_t phase;
	/* per CID: device-visible scratch page (PRP list / SGL segment) */
	uint8_t **scratch;
	uint64_t *scratch_iova;
	/* per CID: the request it belongs to, and its deadline */
	uint32_t *cid_req;
	uint64_t *cid_deadline;
	uint16_t *free_cids;
	uint32_t nr_free_cids;
	/* requests (a request may span several commands) */
	struct nvme_req *reqs;
	uint32_t *free_reqs;
	uint32_t nr_free_reqs;
	uint32_t inflight;
	/* requests that failed in software before reaching the device */
	uint32_t *local_done;
	uint32_t nr_local_done;
	uint32_t partial;		/* request with pieces still to issue, or UINT32_MAX */
	uint64_t next_check_ns;
	struct regbuf_nvme_stats stats;
};

/* The metadata of a request: MPTR from mb at moff (or none), PI fields. */
struct nvme_req_md {
	const struct regbuf_nvme_dmamap *mb;
	uint64_t moff;
	uint32_t ms;
	uint32_t prinfo;
	uint32_t reftag;
	uint32_t cdw15;
};

struct nvme_req {
	void *ctx;
	uint32_t pending;	/* commands not completed yet, issued or not */
	uint32_t nr_cmds;
	uint16_t status;
	uint16_t cid;
	uint32_t dw0;
	/* what is left to issue when the queue had fewer free entries than pieces */
	const struct regbuf_nvme_dmamap *b;
	uint64_t off, len, slba, done;
	uint64_t max;		/* bytes per command: MDTS, whole blocks */
	uint32_t nsid;
	uint8_t opc;
	uint8_t lbs_shift;
	uint16_t flags;
	/* blocks of blk_bytes, data and metadata, with extended LBAs */
	bool ext;
	uint32_t blk_bytes;
	struct nvme_req_md md;
};

/* Blocks in @bytes of a request: a shift, or a division for extended LBAs. */
static inline uint64_t nvme_req_blocks(const struct nvme_req *req, uint64_t bytes)
{
	return REGBUF_LIKELY(!req->ext) ? bytes >> req->lbs_shift : bytes / req->blk_bytes;
}

struct regbuf_nvme_qpair {
	struct nvme_queue q;
};

struct regbuf_nvme_dmamap {
	struct regbuf_nvme_ctrl *ctrl;
	uint8_t *vaddr;
	uint64_t len;
	/* VFIO: the mapping of the covering pages */
	uint64_t map_vaddr, map_len, map_iova;
	/* DMA segments in buffer order, buffer offsets in seg_off */
	struct regbuf_seg *segs;
	uint64_t *seg_off;
	uint32_t nr_segs;
	bool contig;
	struct regbuf_buf *tbuf;	/* table buffer reference (create_slot) */
	struct regbuf_dma_cookie *cookie;	/* PRP lists / SGL, built once */
};

/* Software status of a piece no descriptor could be built for (-EINVAL). */
#define NVME_STATUS_SW_INVALID	REGBUF_NVME_STATUS_BADDESC

/* SGLS bits 1:0 (Identify Controller bytes 539:536): SGLs for NVM commands. */
static inline bool nvme_sgl_ok(const struct regbuf_nvme_ctrl *c)
{
	return (c->info.sgls & 3) && !(c->flags & REGBUF_NVME_F_NO_SGL);
}

/* ctrl.c: the top; nothing below calls it */
/*
 * What the controller reports, checked before use (the device is not
 * trusted): pure functions over the register value or the Identify page, so
 * that the fuzz target can drive them.  0 or -errno (-EIO for values that
 * cannot be right, -ENODEV/-EOPNOTSUPP for ones regbuf does not support).
 */
int nvme_cap_parse(struct regbuf_nvme_ctrl *c, uint64_t cap, char *why, size_t why_len);
int nvme_id_ctrl_parse(struct regbuf_nvme_ctrl_info *info, const uint8_t *id, uint32_t mpsmin,
		       char *why, size_t why_len);
/* Set Features Number of Queues for @want pairs: sets info.io_queues to what was granted. */
int nvme_set_num_queues(struct regbuf_nvme_ctrl *c, uint32_t want, char *why, size_t why_len);

/* util.c: the bottom, calls nothing of the driver */
void nvme_why(char *why, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
uint64_t nvme_now_ns(void);
/* pci config space through either backend */
int nvme_cfg_read(struct regbuf_nvme_ctrl *c, uint32_t off, void *buf, size_t len);
int nvme_cfg_write(struct regbuf_nvme_ctrl *c, uint32_t off, const void *buf, size_t len);

/* dmamap.c: the device address of [off, off + len) of @b if it is one contiguous run; -EINVAL */
int nvme_dmamap_iova_contig(const struct regbuf_nvme_dmamap *b, uint64_t off, uint64_t len,
			    uint64_t *iova);

/* dmamem.c: driver DMA memory, over vfio.c / phys.c */
int nvme_dma_alloc(struct regbuf_nvme_ctrl *c, size_t len, void **vaddr, uint64_t *iova);
void nvme_dma_free(struct regbuf_nvme_ctrl *c, void *vaddr, size_t len);
void nvme_dma_free_all(struct regbuf_nvme_ctrl *c);

/* ns.c: namespace handles; over queue.c (Identify) */
int nvme_id_ns_parse(struct regbuf_nvme_ns_info *ni, const uint8_t *id, uint32_t nsid);
/*
 * The handle for what Identify Namespace page @id says of @nsid: the one
 * handed out before when nothing changed, else a new one (c->lock).  As
 * regbuf_nvme_ns_get() after the admin command.
 */
int nvme_ns_publish(struct regbuf_nvme_ctrl *c, uint32_t nsid, const uint8_t *id,
		    struct regbuf_nvme_ns **nsp);
void nvme_ns_free_all(struct regbuf_nvme_ctrl *c);

/* vfio.c, phys.c: the two ways to reach the device; over util.c */
int nvme_vfio_open(struct regbuf_nvme_ctrl *c, char *why, size_t why_len);
void nvme_vfio_close(struct regbuf_nvme_ctrl *c);
int nvme_vfio_map(struct regbuf_nvme_ctrl *c, uint64_t vaddr, uint64_t len, uint64_t align,
		  uint64_t *iova, bool readonly);
void nvme_vfio_unmap(struct regbuf_nvme_ctrl *c, uint64_t iova, uint64_t len);
/* IOVA space: free ranges, first fit with alignment (map_lock held) */
int nvme_iova_add_range(struct regbuf_nvme_ctrl *c, uint64_t start, uint64_t end);
int nvme_iova_alloc(struct regbuf_nvme_ctrl *c, uint64_t len, uint64_t align, uint64_t *iova);
void nvme_iova_free(struct regbuf_nvme_ctrl *c, uint64_t iova, uint64_t len);

int nvme_phys_open(struct regbuf_nvme_ctrl *c, char *why, size_t why_len);
void nvme_phys_close(struct regbuf_nvme_ctrl *c);
int nvme_phys_translate(struct regbuf_nvme_ctrl *c, uint64_t vaddr, uint64_t len,
			struct regbuf_seg **segsp, uint32_t *nrp, bool require_huge);

/* queue.c: queues, admin commands, I/O; over dmamem.c and util.c */
int nvme_queue_init(struct regbuf_nvme_ctrl *c, struct nvme_queue *q, uint16_t qid,
		    uint32_t depth);
/* The host half of nvme_queue_init(): CID and request tables, doorbells; no queue memory. */
int nvme_queue_init_host(struct regbuf_nvme_ctrl *c, struct nvme_queue *q, uint16_t qid,
			 uint32_t depth);
/*
 * Whether completion entry @e may be used: CID of a command in flight, SQ id
 * of @q, SQ head inside the queue.  0 or -EIO; pure (the fuzz target drives it).
 */
int nvme_cqe_check(const struct nvme_queue *q, const struct regbuf_nvme_cqe *e);
void nvme_queue_fini(struct nvme_queue *q);
void nvme_queue_set_db(struct nvme_queue *q);
int nvme_admin_cmd(struct regbuf_nvme_ctrl *c, struct regbuf_nvme_sqe *sqe, void *data,
		   size_t data_len, bool to_dev, uint32_t *dw0, uint16_t *status);

/*
 * MMIO: the controller takes 32-bit accesses; 64-bit registers are two of
 * them.  Registers are little-endian (PCI), as the kernel's readl()/writel()
 * assume: a big-endian CPU swaps.
 */
static inline uint32_t nvme_rd32(struct regbuf_nvme_ctrl *c, uint32_t off)
{
	return regbuf_le32_to_cpu(*(volatile regbuf_le32 *)(c->bar + off));
}

static inline void nvme_wr32(struct regbuf_nvme_ctrl *c, uint32_t off, uint32_t v)
{
	*(volatile regbuf_le32 *)(c->bar + off) = regbuf_cpu_to_le32(v);
}

/* A doorbell write (little-endian too), ordered after what it announces. */
static inline void nvme_db_write(volatile regbuf_le32 *db, uint32_t v)
{
	__atomic_store_n((volatile REGBUF_FORCE uint32_t *)db,
			 (REGBUF_FORCE uint32_t)regbuf_cpu_to_le32(v), __ATOMIC_RELEASE);
}

static inline uint64_t nvme_rd64(struct regbuf_nvme_ctrl *c, uint32_t off)
{
	uint32_t lo = nvme_rd32(c, off), hi = nvme_rd32(c, off + 4);

	return (uint64_t)hi << 32 | lo;
}

static inline void nvme_wr64(struct regbuf_nvme_ctrl *c, uint32_t off, uint64_t v)
{
	nvme_wr32(c, off, (uint32_t)v);
	nvme_wr32(c, off + 4, (uint32_t)(v >> 32));
}

/*
 * CSTS.CFS, or all ones (the device is gone): mark the controller failed.
 * Returns whether it is failed.
 */
static inline bool nvme_csts_check(struct regbuf_nvme_ctrl *c)
{
	uint32_t csts = nvme_rd32(c, NVME_REG_CSTS);

	if (csts == UINT32_MAX || (csts & NVME_CSTS_CFS))
		nvme_ctrl_fail(c);
	return nvme_ctrl_is_failed(c);
}

#endif /* REGBUF_SRC_NVME_PRIV_H */
