/* SPDX-License-Identifier: MIT *
 * Section numbers: NVMe Base Specification 1.4.
 */
/*
 * regbuf - NVMe DMA descriptors (PRP lists, SGLs) built once per buffer.
 */
#ifndef REGBUF_DMA_H
#define REGBUF_DMA_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <regbuf/compiler.h>
#include <regbuf/nvme_spec.h>
#include <regbuf/seg.h>
#include <regbuf/table.h>

#ifdef __cplusplus
extern "C" {
#endif

/**
 * DOC: premapped descriptors
 *
 * A registered buffer reaches the device through the same descriptors for
 * every I/O, so regbuf walks the chain ``pages -> segments -> scatterlist ->
 * PRP list`` once, when the buffer is mapped, and keeps the result in a
 * &struct regbuf_dma_cookie.  Per I/O, ``(cookie, offset, length)`` gives
 * PRP1/PRP2 or an SGL descriptor in O(1) with no allocation and no copying.
 *
 * The DMA view of a buffer is either one IOVA-contiguous range (an IOMMU
 * mapped it) or its physical segments (no IOMMU).  The layer needs no
 * device: a &struct regbuf_dma_ops translator supplies device-visible memory
 * for the lists and, for the convenience constructors, translates virtual
 * addresses.
 *
 * PRP (NVMe 1.4 §4.3, "Physical Region Page Entry and List").  PRP1 is the
 * address of the first byte and may carry a dword-aligned offset.  If the
 * transfer needs one more page, PRP2 is that page's address; if it needs more,
 * PRP2 points at a PRP list: page-aligned entries, read from PRP2 to the end of
 * the list page.  The last entry of a list page is a pointer to the next list
 * page *unless exactly one page of data remains*, in which case it is data
 * (QEMU 7.2 nvme_map_prp() does the same).
 *
 * The cookie holds the list for the whole buffer, laid out in list pages of
 * E = page_size / 8 - 1 data entries plus a chain pointer (511 + 1 for 4 KiB),
 * so PRP2 can point into the middle of it.  One I/O shape cannot use that
 * layout in place: when its last data entry is the first entry of a list page,
 * the controller reaches the previous page's last slot with exactly one data
 * page left and reads the chain pointer as data.  The cookie therefore keeps a
 * second copy whose entries are shifted by (E + 1) / 2 slots (256 for 4 KiB).
 * Page k's entry starts a list page in copy A when k % E == 0 and in copy B
 * when (k + 256) % E == 0; both cannot hold since 256 % 511 != 0, so every
 * I/O finds a copy that works (tests/unit/dma.c checks every shape against an
 * independent walker).  The choice is one multiply and a compare, and only
 * I/Os of three pages or more pay it.  With physical segments, PRP1 and a
 * second page come from a granule table (one entry per 2 MiB for hugepages)
 * rather than from the list, so they stay in cache.
 *
 * SGL (NVMe 1.4 §4.4, "Scatter Gather List").  An IOVA-contiguous buffer
 * needs one Data Block descriptor in the command.  With physical segments the
 * cookie keeps a pre-built Data Block array, one descriptor per segment, in
 * device-visible memory.  An I/O inside one segment gets an inline Data Block;
 * one that ends at a segment end points a Last Segment descriptor into the
 * array (plus, if it starts mid-segment, a two-descriptor segment in caller
 * scratch memory).  Only an I/O that ends mid-segment and touches three or
 * more segments copies the middle descriptors, O(segments touched), because
 * an SGL segment whose last descriptor is a Data Block ends the list (NVMe 1.4 §4.4)
 * and the pre-built last descriptor is too long.
 */

/* ---------------------------------------------------------------------- */
/* Translator and controller parameters. */

/**
 * struct regbuf_dma_ops - how the layer reaches device-visible memory
 * @alloc: allocate @len bytes of memory the device can read (PRP lists, SGL
 *	segments); store the host pointer in *@vaddr and the device address in
 *	*@iova.  The range must be contiguous in the device's address space and
 *	*@iova aligned to the controller page size.  Returns 0 or -errno.
 * @free: give back what @alloc returned
 * @translate: translate host [@vaddr, @vaddr + @len) into at most @max DMA
 *	segments in @out; returns the count, or -errno (-E2BIG when @max is too
 *	small).  Used by regbuf_dma_cookie_create_buf() only.
 */
struct regbuf_dma_ops {
	int (*alloc)(void *priv, size_t len, void **vaddr, regbuf_iova_t *iova);
	void (*free)(void *priv, void *vaddr, size_t len, regbuf_iova_t iova);
	int (*translate)(void *priv, uint64_t vaddr, uint64_t len, struct regbuf_seg *out,
			 uint32_t max);
};

/**
 * regbuf_dma_ops_identity() - a translator where the device address is the
 *	virtual address
 *
 * For tests, simulators and a driver in progress: descriptors built with it
 * hold host virtual addresses, so a program can follow them without a
 * device (examples/dma-descriptors.c does).  @alloc is aligned_alloc()
 * (aligned to the largest power of two dividing the length, at least 4 KiB,
 * which covers every controller page size the cookie asks for), @free is
 * free(), @translate returns the range as one segment.  priv is unused
 * (pass NULL).  Not for a real device: nothing is pinned or mapped.
 *
 * Return: a static table, valid for the life of the program.
 */
const struct regbuf_dma_ops *regbuf_dma_ops_identity(void);

/**
 * struct regbuf_dma_ctrl - what the controller imposes
 * @page_shift: log2 of the controller memory page size, CC.MPS + 12;
 *	0 means 12 (4 KiB).  12..27 (MPS 0..15).
 * @__rsvd: zero
 * @max_bytes: maximum data transfer, MDTS in bytes (page size << MDTS);
 *	0 means no limit.
 */
struct regbuf_dma_ctrl {
	uint32_t page_shift;
	uint32_t __rsvd;
	uint64_t max_bytes;
};

/* Cookie flags. */
#define REGBUF_DMA_F_NO_PRP	(1u << 0)	/* build no PRP lists (SGL-only controller) */
#define REGBUF_DMA_F_NO_SGL	(1u << 1)	/* build no SGL array (PRP-only controller) */
/* regbuf_dma_cookie_create_buf(): use the buffer's physical segments, no translate call. */
#define REGBUF_DMA_F_PHYS	(1u << 2)

/* Cookie state (regbuf_dma_cookie_flags()); read-only for users. */
#define REGBUF_DMA_COOKIE_F_CONTIG	(1u << 0)	/* one IOVA-contiguous range */
#define REGBUF_DMA_COOKIE_F_PRP		(1u << 1)	/* PRP lists built */
#define REGBUF_DMA_COOKIE_F_SGL		(1u << 2)	/* SGL possible */

/* regbuf_dma_cookie::prp_mode */
#define __REGBUF_DMA_PRP_NONE		0	/* no PRP lists */
#define __REGBUF_DMA_PRP_4K_CONTIG	1	/* 4 KiB pages, one IOVA range */
#define __REGBUF_DMA_PRP_4K		2	/* 4 KiB pages, physical segments */
#define __REGBUF_DMA_PRP_ANY		3	/* other page sizes */

/**
 * struct regbuf_dma_cookie - a buffer's descriptors, built once
 *
 * Public only so that the per-I/O functions can be inline; every field is
 * private.  Create with regbuf_dma_cookie_create(); read-only afterwards, so
 * any number of threads may use one cookie at once.
 */
struct regbuf_dma_cookie {
	/* private: */
	uint64_t len;			/* bytes in the buffer */
	uint64_t base_off;		/* buffer start inside its first controller page */
	uint64_t dma_page0;		/* CONTIG: DMA address of controller page 0 */
	uint64_t max_bytes;		/* MDTS, UINT64_MAX if none */
	uint64_t max_io;		/* min(max_bytes, len): one compare bounds len */
	uint64_t max_io_sgl;		/* the same, at most 4 GiB - 1 (32-bit SGL length) */
	uint64_t div_magic;		/* x / per_list == (x * div_magic) >> div_shift */
	const regbuf_le64 *list[2];	/* host view of the two PRP list copies */
	regbuf_iova_t list_iova[2];	/* their device addresses */
	uint32_t page_shift;
	uint32_t per_list;		/* E: data entries per list page */
	uint32_t shift_b;		/* copy B starts at slot shift_b */
	uint32_t flags;			/* REGBUF_DMA_COOKIE_F_* */
	uint32_t div_shift;
	uint32_t prp_mode;		/* __REGBUF_DMA_PRP_*: one compare picks the path */
	/* physical segments, for SGL */
	const struct regbuf_nvme_sgl_desc *sgl;	/* host view of the descriptor array */
	regbuf_iova_t sgl_iova;
	const uint32_t *gran_seg;	/* granule (position >> seg_shift) -> descriptor */
	const uint64_t *seg_start;	/* buffer offset of each descriptor, plus the end */
	uint64_t seg_bias;		/* granule of offset o: (o + seg_bias) >> seg_shift */
	uint32_t nr_sgl;
	uint32_t seg_shift;
	/* physical segments, for PRP: DMA address of position (q << gran_shift) - gran_phase */
	const uint64_t *gran_dma;
	uint64_t gran_phase;		/* boundaries + gran_phase are multiples of the granule */
	uint32_t gran_shift;
	uint32_t __pad1;
	/* ownership (not used per I/O) */
	const struct regbuf_dma_ops *ops;
	void *priv;
	size_t list_bytes[2];
	size_t sgl_bytes;
	uint32_t nr_pages;
	uint32_t __pad2;
	struct regbuf_buf *buf;		/* regbuf_dma_cookie_create_buf(): a reference */
	uint64_t __rsvd[3];
};

/**
 * regbuf_dma_cookie_create() - build the descriptors of a buffer once
 * @cp: where to store the new cookie
 * @dma_segs: the buffer's DMA view: one IOVA range, or physical segments in
 *	buffer order (adjacent contiguous segments are merged)
 * @nr: entries in @dma_segs
 * @len: bytes of the buffer; at most the sum of the segment lengths
 * @ctrl: controller page size and MDTS; NULL for 4 KiB pages and no limit
 * @ops: device-visible memory for the lists (alloc/free); translate unused
 * @priv: passed to @ops
 * @flags: REGBUF_DMA_F_*
 *
 * PRP lists need every segment boundary to fall on a controller page
 * boundary (NVMe 1.4 §4.3: every entry after PRP1 is a page address); when
 * it does not, the cookie is built for SGL only.  The NVMe SGL itself has no
 * alignment rule, but the cookie finds an I/O's first descriptor in O(1)
 * through a granule table, which needs the inner boundaries congruent modulo
 * 512 bytes or more; a layout that is not gets no SGL either (-EOPNOTSUPP
 * when PRP is impossible too).  Hugepage and page-granular layouts always
 * qualify.
 *
 * Context: allocates (host memory and @ops->alloc); call once per buffer.
 * Return: 0; -EINVAL for a bad argument (no segments, @len 0 or larger than
 * the segments, page shift out of range, @max_bytes not a multiple of 4, more
 * than 2^30 controller pages, a segment wrapping the address space, list
 * memory not page aligned, unknown flags); -EOPNOTSUPP when neither PRP nor
 * SGL is possible with @flags and this layout (PRP needs page-aligned inner
 * boundaries, SGL inner boundaries congruent modulo 512 bytes); -ENOMEM when host or device memory ran out
 * (nothing is leaked); any -errno from @ops->alloc.
 */
REGBUF_MUST_CHECK
int regbuf_dma_cookie_create(struct regbuf_dma_cookie **cp, const struct regbuf_seg *dma_segs,
			     uint32_t nr, uint64_t len, const struct regbuf_dma_ctrl *ctrl,
			     const struct regbuf_dma_ops *ops, void *priv, unsigned int flags);

/**
 * regbuf_dma_cookie_create_buf() - build the descriptors of a registered buffer
 * @cp: where to store the new cookie
 * @buf: the buffer (the caller holds a reference); the cookie takes its own
 *	(regbuf_buf_get()) and drops it in regbuf_dma_cookie_destroy(), so the
 *	caller may put its reference at once.  The cookie does not pin memory:
 *	the memory must stay mapped for the device while the cookie lives
 * @ctrl: as for regbuf_dma_cookie_create()
 * @ops: alloc/free as for regbuf_dma_cookie_create(); translate maps the
 *	buffer's virtual range to DMA segments (a VFIO IOVA lookup, or pagemap)
 * @priv: passed to @ops
 * @flags: REGBUF_DMA_F_*; with REGBUF_DMA_F_PHYS the physical segments the
 *	table learnt at registration (REGBUF_TABLE_F_LAYOUT_PFN) are used as
 *	they are and @ops->translate is not called
 *
 * Context: allocates; calls @ops.
 * Return: as regbuf_dma_cookie_create(), and -EINVAL for a NULL @buf or a
 * missing @ops->translate; -EOPNOTSUPP for REGBUF_DMA_F_PHYS when the
 * buffer has no physical segments; -errno from @ops->translate (-EFAULT when
 * it covers less than the buffer).
 */
REGBUF_MUST_CHECK
int regbuf_dma_cookie_create_buf(struct regbuf_dma_cookie **cp, struct regbuf_buf *buf,
				 const struct regbuf_dma_ctrl *ctrl,
				 const struct regbuf_dma_ops *ops, void *priv, unsigned int flags);

/**
 * regbuf_dma_cookie_limits() - what the cookie accepts, as splitting limits
 * @c: cookie
 * @logical_block_size: the namespace's block size (power of two, >= 512)
 * @max_sgl_descs: descriptors in the caller's SGL scratch; 0 for PRP only
 * @lim: filled for regbuf_seg_split() over the buffer's segments
 *
 * The cookie already guarantees the PRP page rules (it has PRP lists only
 * when every inner boundary is page aligned), so the limits are MDTS (capped
 * at 2 GiB, rounded down to the block size), dword alignment, and for SGL
 * the scratch size as max_segments.  regbuf_dma_split() is the O(1)
 * shortcut when only MDTS matters.
 */
void regbuf_dma_cookie_limits(const struct regbuf_dma_cookie *c, uint32_t logical_block_size,
			      uint32_t max_sgl_descs, struct regbuf_limits *lim);

/**
 * regbuf_dma_cookie_buf() - the registered buffer a cookie was built from
 * @c: cookie
 *
 * Return: the buffer given to regbuf_dma_cookie_create_buf(), valid while the
 * cookie lives (the cookie holds a reference); NULL for a cookie built from
 * DMA segments with regbuf_dma_cookie_create().
 */
static inline const struct regbuf_buf *regbuf_dma_cookie_buf(const struct regbuf_dma_cookie *c)
{
	return c->buf;
}

/**
 * regbuf_dma_cookie_destroy() - free a cookie and its device-visible lists
 * @c: cookie, or NULL
 *
 * Drops the buffer reference regbuf_dma_cookie_create_buf() took.
 *
 * Context: no I/O using @c may be in flight.
 */
void regbuf_dma_cookie_destroy(struct regbuf_dma_cookie *c);

/**
 * regbuf_dma_cookie_len() - bytes the cookie covers
 * @c: cookie
 *
 * Return: the buffer length given at creation.
 */
static inline uint64_t regbuf_dma_cookie_len(const struct regbuf_dma_cookie *c)
{
	return c->len;
}

/**
 * regbuf_dma_cookie_flags() - what the cookie can do
 * @c: cookie
 *
 * Return: REGBUF_DMA_COOKIE_F_* bits: CONTIG (one IOVA range), PRP (lists
 * built), SGL (SGL descriptors possible).
 */
static inline unsigned int regbuf_dma_cookie_flags(const struct regbuf_dma_cookie *c)
{
	return c->flags;
}

/**
 * regbuf_dma_split() - bytes of the first piece when @len exceeds MDTS
 * @c: cookie
 * @len: bytes of the I/O
 *
 * PRP and SGL impose nothing else on where a request may be cut: each piece
 * gets its own PRP1 with any dword-aligned offset, so where the I/O starts
 * does not matter and the piece is min(@len, MDTS).  The caller keeps pieces
 * on logical block boundaries by making MDTS a multiple of the block size.
 *
 * Return: 0 < bytes <= @len.
 */
static inline uint64_t regbuf_dma_split(const struct regbuf_dma_cookie *c, uint64_t len)
{
	return len < c->max_bytes ? len : c->max_bytes;
}

/*
 * Out-of-line part of regbuf_dma_prp(): cookies whose controller page is not
 * 4 KiB, and cookies without PRP lists (-EOPNOTSUPP).  @pos is the checked offset plus the
 * buffer's offset in its first page.
 */
int __regbuf_dma_prp_list(const struct regbuf_dma_cookie *c, uint64_t pos, uint64_t len,
			  uint64_t *prp1, uint64_t *prp2);

/* 4 KiB controller pages: E = 511 entries per list page, x / 511 = (x * m) >> 40. */
#define __REGBUF_DMA_4K_MAGIC	((UINT64_C(1) << 40) / 511 + 1)

/*
 * The PRP list pointer of an I/O from its second page @k to page @last, in
 * list copy @copy, or the right copy when @copy < 0: copy A at slot
 * k + k / E, copy B (shifted @sh slots) when page @last would open a list
 * page of copy A (see DOC above).  With __regbuf_dma_prp_fill() below, the
 * one implementation of the PRP arithmetic: regbuf_dma_prp() passes the
 * 4 KiB geometry as constants, which compile to immediates (kept inline: out
 * of line the list pointer cost regbuf_dma_prp() 0.6-1 ns per I/O in
 * `regbuf bench map`, a third of its time), the library's out-of-line path
 * the cookie's own.  x / e is (x * magic) >> mshift.
 */
static inline __attribute__((always_inline)) uint64_t
__regbuf_dma_prp_list_ptr(const struct regbuf_dma_cookie *c, uint64_t k, uint64_t last, int copy,
			  uint32_t e, uint32_t sh, uint64_t magic, unsigned int mshift)
{
	/* positions stay below 2^31 (the cookie refuses longer buffers) */
	uint32_t qk = (uint32_t)((k * magic) >> mshift), rk = (uint32_t)k - qk * e;
	uint32_t ql = (uint32_t)((last * magic) >> mshift), rl = (uint32_t)last - ql * e;

	if (copy < 0 ? rl == 0 : copy)
		return regbuf_iova_u64(c->list_iova[1]) + 8 * (k + sh + qk + (rk + sh >= e));
	return regbuf_iova_u64(c->list_iova[0]) + 8 * (k + qk);
}

/*
 * PRP1/PRP2 of an I/O at position @pos whose second page is @k and last page
 * @last (controller pages of 2^@shift bytes); the list pointer as above.
 */
static inline __attribute__((always_inline)) void
__regbuf_dma_prp_fill(const struct regbuf_dma_cookie *c, uint64_t pos, uint64_t k, uint64_t last,
		      int copy, uint64_t *prp1, uint64_t *prp2, unsigned int shift, uint32_t e,
		      uint32_t sh, uint64_t magic, unsigned int mshift, unsigned int contig)
{
	if (contig) {
		*prp1 = c->dma_page0 + pos;
		/* one or two pages: PRP2 unused or the second page (NVMe 1.4 §4.3) */
		if (REGBUF_LIKELY(last <= k))
			*prp2 = (c->dma_page0 + (k << shift)) & ((uint64_t)0 - (last == k));
		else
			*prp2 = __regbuf_dma_prp_list_ptr(c, k, last, copy, e, sh, magic, mshift);
	} else {
		/*
		 * Physical segments: a granule (at least a controller page, 2 MiB for
		 * hugepages) never crosses a segment boundary, so an address is one
		 * load from a table that stays in cache, not a walk of the list.
		 */
		unsigned int g = c->gran_shift;
		uint64_t gmask = (UINT64_C(1) << g) - 1, gpos = pos + c->gran_phase;

		*prp1 = c->gran_dma[gpos >> g] + (gpos & gmask);
		if (REGBUF_LIKELY(last <= k)) {
			uint64_t two = (uint64_t)0 - (last == k);
			uint64_t pk = (k << shift) + c->gran_phase;

			/* index 0 when unused: page k may lie past the buffer */
			*prp2 = (c->gran_dma[(pk >> g) & two] + (pk & gmask)) & two;
		} else {
			*prp2 = __regbuf_dma_prp_list_ptr(c, k, last, copy, e, sh, magic, mshift);
		}
	}
}

/**
 * regbuf_dma_prp() - PRP1/PRP2 for an I/O, O(1)
 * @c: cookie
 * @off: offset of the I/O in the buffer
 * @len: bytes of the I/O
 * @prp1: PRP entry 1 (host order; store with regbuf_cpu_to_le64())
 * @prp2: PRP entry 2: 0, the second page, or a pointer into the cookie's list
 *
 * Copy A works unless the I/O's last entry opens a list page of copy A; then
 * copy B, shifted by (E + 1) / 2 entries, has it mid-page (see DOC above).
 * No allocation, no copying, no lock.
 *
 * Context: any thread; hot path.
 * Return: 0; -EINVAL when [@off, @off + @len) is empty or leaves the buffer,
 * @len exceeds MDTS (split with regbuf_dma_split()), or the first byte is not
 * dword aligned (NVMe 1.4 §4.3: PRP offset bits 1:0 are 0); -EOPNOTSUPP when
 * the cookie has no PRP lists.
 */
static inline int regbuf_dma_prp(const struct regbuf_dma_cookie *c, uint64_t off, uint64_t len,
				 uint64_t *prp1, uint64_t *prp2)
{
	uint64_t pos = off + c->base_off;
	uint64_t k = (pos >> 12) + 1, last = (pos + len - 1) >> 12;

	/* 1 <= len <= max_io <= c->len, so c->len - len cannot wrap and bounds off */
	if (REGBUF_UNLIKELY((len - 1 >= c->max_io) | (off > c->len - len) | ((pos & 3) != 0)))
		return -EINVAL;
	/*
	 * Inline for 4 KiB pages: an IOVA-contiguous buffer computes PRP1/PRP2,
	 * physical segments read them from the granule table, which stays in
	 * cache.  Other page sizes are out of line.
	 */
	if (REGBUF_LIKELY(c->prp_mode == __REGBUF_DMA_PRP_4K_CONTIG)) {
		__regbuf_dma_prp_fill(c, pos, k, last, -1, prp1, prp2, 12, 511, 256,
				      __REGBUF_DMA_4K_MAGIC, 40, 1);
		return 0;
	}
	if (c->prp_mode == __REGBUF_DMA_PRP_4K) {
		__regbuf_dma_prp_fill(c, pos, k, last, -1, prp1, prp2, 12, 511, 256,
				      __REGBUF_DMA_4K_MAGIC, 40, 0);
		return 0;
	}
	return __regbuf_dma_prp_list(c, pos, len, prp1, prp2);
}

/**
 * regbuf_dma_sqe_prp() - fill an SQE's data pointer with PRPs
 * @c: cookie
 * @sqe: command; PSDT is set to PRP
 * @off: offset of the I/O in the buffer
 * @len: bytes of the I/O
 *
 * Return: as regbuf_dma_prp().
 */
static inline int regbuf_dma_sqe_prp(const struct regbuf_dma_cookie *c,
				     struct regbuf_nvme_sqe *sqe, uint64_t off, uint64_t len)
{
	uint64_t p1, p2;
	int ret = regbuf_dma_prp(c, off, len, &p1, &p2);

	if (REGBUF_UNLIKELY(ret))
		return ret;
	sqe->flags = (uint8_t)((sqe->flags & ~REGBUF_NVME_PSDT_MASK) | REGBUF_NVME_PSDT_PRP);
	sqe->dptr.prp.prp1 = regbuf_cpu_to_le64(p1);
	sqe->dptr.prp.prp2 = regbuf_cpu_to_le64(p2);
	return 0;
}

/**
 * struct regbuf_dma_sgl_scratch - per-request device-visible descriptor space
 * @descs: host view
 * @iova: device address of @descs[0]; 16-byte aligned
 * @nr: descriptors available
 *
 * Like a tracker's list page in SPDK or a CID-indexed slot: one per
 * outstanding command, owned by the caller.  Only physical-segment cookies
 * use it, and only for I/Os that start or end mid-segment across segments.
 */
struct regbuf_dma_sgl_scratch {
	struct regbuf_nvme_sgl_desc *descs;
	regbuf_iova_t iova;
	uint32_t nr;
	uint32_t __pad;
};

/*
 * Out-of-line part of regbuf_dma_sgl(): an I/O over descriptors @i..@j
 * (@i < @j) of a physical-segment cookie.
 */
int __regbuf_dma_sgl_segs(const struct regbuf_dma_cookie *c, uint64_t off, uint64_t len,
			  uint32_t i, uint32_t j, struct regbuf_nvme_sgl_desc *sgl1,
			  const struct regbuf_dma_sgl_scratch *scratch);

/**
 * regbuf_dma_sgl() - SGL descriptor 1 for an I/O
 * @c: cookie
 * @off: offset of the I/O in the buffer
 * @len: bytes of the I/O
 * @sgl1: the command's SGL descriptor 1 (wire format)
 * @scratch: per-request descriptor space, or NULL when the cookie is
 *	IOVA-contiguous
 *
 * O(1) for an IOVA-contiguous buffer (one Data Block), for an I/O inside one
 * segment (one Data Block), and for an I/O that ends at a segment end (a Last
 * Segment pointing into the pre-built array, after a two-descriptor segment
 * in @scratch when it starts mid-segment) or touches two segments (two
 * descriptors in @scratch).  Otherwise O(segments touched): the middle
 * descriptors are copied to @scratch (see DOC above).  The caller sets PSDT
 * to REGBUF_NVME_PSDT_SGL_MPTR_CONTIG (or regbuf_dma_sqe_sgl() does).
 *
 * Context: any thread; hot path.
 * Return: the number of @scratch descriptors used (0 when none); -EINVAL when
 * the range is empty, leaves the buffer, exceeds MDTS or exceeds 4 GiB - 1
 * (an SGL length is 32 bits); -ENOSPC when @scratch is missing or too small
 * (split the I/O); -EOPNOTSUPP when the cookie was built without SGL.
 */
static inline int regbuf_dma_sgl(const struct regbuf_dma_cookie *c, uint64_t off, uint64_t len,
				 struct regbuf_nvme_sgl_desc *sgl1,
				 const struct regbuf_dma_sgl_scratch *scratch)
{
	uint32_t i, j;
	uint64_t end = off + len;

	if (REGBUF_UNLIKELY((len - 1 >= c->max_io_sgl) | (off > c->len - len)))
		return -EINVAL;
	if (REGBUF_UNLIKELY(!(c->flags & REGBUF_DMA_COOKIE_F_SGL)))
		return -EOPNOTSUPP;
	if (REGBUF_LIKELY(c->flags & REGBUF_DMA_COOKIE_F_CONTIG)) {
		regbuf_nvme_sgl_set(sgl1, c->dma_page0 + c->base_off + off, (uint32_t)len,
				    REGBUF_NVME_SGL_DATA_BLOCK);
		return 0;
	}
	/* boundaries sit on granule starts, so a granule lies in one descriptor */
	i = c->gran_seg[(off + c->seg_bias) >> c->seg_shift];
	j = c->gran_seg[(end - 1 + c->seg_bias) >> c->seg_shift];
	if (REGBUF_LIKELY(i == j)) {
		regbuf_nvme_sgl_set(sgl1, regbuf_le64_to_cpu(c->sgl[i].addr) +
				    (off - c->seg_start[i]), (uint32_t)len,
				    REGBUF_NVME_SGL_DATA_BLOCK);
		return 0;
	}
	/*
	 * Two segments, both cut: two Data Blocks in @scratch.  The common case
	 * with hugepages (a random 1 MiB I/O in 2 MiB segments crosses a
	 * boundary half the time): out of line it cost about 1 ns per I/O more.
	 */
	if (REGBUF_LIKELY(j == i + 1 && end != c->seg_start[j + 1] && scratch &&
			  scratch->nr >= 2)) {
		regbuf_nvme_sgl_set(&scratch->descs[0], regbuf_le64_to_cpu(c->sgl[i].addr) +
				    (off - c->seg_start[i]), (uint32_t)(c->seg_start[j] - off),
				    REGBUF_NVME_SGL_DATA_BLOCK);
		regbuf_nvme_sgl_set(&scratch->descs[1], regbuf_le64_to_cpu(c->sgl[j].addr),
				    (uint32_t)(end - c->seg_start[j]), REGBUF_NVME_SGL_DATA_BLOCK);
		regbuf_nvme_sgl_set(sgl1, regbuf_iova_u64(scratch->iova), 32,
				    REGBUF_NVME_SGL_LAST_SEGMENT);
		return 2;
	}
	return __regbuf_dma_sgl_segs(c, off, len, i, j, sgl1, scratch);
}

/**
 * regbuf_dma_sqe_sgl() - fill an SQE's data pointer with an SGL
 * @c: cookie
 * @sqe: command; PSDT is set to SGL with a contiguous metadata buffer
 * @off: offset of the I/O in the buffer
 * @len: bytes of the I/O
 * @scratch: as for regbuf_dma_sgl()
 *
 * Return: as regbuf_dma_sgl().
 */
static inline int regbuf_dma_sqe_sgl(const struct regbuf_dma_cookie *c,
				     struct regbuf_nvme_sqe *sqe, uint64_t off, uint64_t len,
				     const struct regbuf_dma_sgl_scratch *scratch)
{
	int ret = regbuf_dma_sgl(c, off, len, &sqe->dptr.sgl, scratch);

	if (REGBUF_UNLIKELY(ret < 0))
		return ret;
	sqe->flags = (uint8_t)((sqe->flags & ~REGBUF_NVME_PSDT_MASK) |
			       REGBUF_NVME_PSDT_SGL_MPTR_CONTIG);
	return ret;
}

#ifdef __cplusplus
}
#endif

#endif /* REGBUF_DMA_H */
