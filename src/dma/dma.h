/* SPDX-License-Identifier: MIT *
 * Section numbers: NVMe Base Specification 1.4.
 */
/*
 * regbuf - private helpers shared by the dma layer's files.
 */
#ifndef REGBUF_SRC_DMA_DMA_H
#define REGBUF_SRC_DMA_DMA_H

#include <regbuf/dma.h>

/* Controller parameters with defaults applied: 4 KiB pages, no MDTS limit. */
int dma_ctrl_resolve(const struct regbuf_dma_ctrl *ctrl, unsigned int *page_shift,
		     uint64_t *max_bytes);

/* ---- the PRP list arithmetic, shared by the builder and the out-of-line I/O path ---- */

/*
 * x / c->per_list for x < 2^31 with one 64-bit multiply and a shift
 * (Granlund and Montgomery 1994: m = ceil(2^(31 + l) / d), l = ceil(log2 d),
 * is exact for every 31-bit x, and m * x fits in 64 bits).
 */
static inline uint32_t dma_div(const struct regbuf_dma_cookie *c, uint32_t x)
{
	return (uint32_t)(((uint64_t)x * c->div_magic) >> c->div_shift);
}

/*
 * Index in list copy @copy (0 = A, 1 = B) of controller page @k's entry,
 * counted in 8-byte slots from the start of the copy: slot position
 * p = k + shift, list page p / E, slot p % E, so the index is
 * (p / E) * (E + 1) + p % E = p + p / E.
 */
static inline uint64_t dma_slot(const struct regbuf_dma_cookie *c, unsigned int copy,
					 uint64_t k)
{
	uint32_t p = (uint32_t)k + (copy ? c->shift_b : 0);

	return (uint64_t)p + dma_div(c, p);
}

/* PRP1/PRP2 from any PRP cookie, list copy @copy or the right one (@copy < 0). */
static inline __attribute__((always_inline)) void
dma_prp_any(const struct regbuf_dma_cookie *c, uint64_t pos, uint64_t len, int copy,
	    uint64_t *prp1, uint64_t *prp2)
{
	unsigned int shift = c->page_shift;
	uint64_t k = (pos >> shift) + 1, last = (pos + len - 1) >> shift;

	if (REGBUF_LIKELY(c->prp_mode == __REGBUF_DMA_PRP_4K_CONTIG))
		__regbuf_dma_prp_fill(c, pos, k, last, copy, prp1, prp2, 12, 511, 256,
				      __REGBUF_DMA_4K_MAGIC, 40, 1);
	else if (c->prp_mode == __REGBUF_DMA_PRP_4K)
		__regbuf_dma_prp_fill(c, pos, k, last, copy, prp1, prp2, 12, 511, 256,
				      __REGBUF_DMA_4K_MAGIC, 40, 0);
	else
		__regbuf_dma_prp_fill(c, pos, k, last, copy, prp1, prp2, shift, c->per_list,
				      c->shift_b, c->div_magic, c->div_shift,
				      c->flags & REGBUF_DMA_COOKIE_F_CONTIG);
}

/*
 * PRP1/PRP2 of the I/O at buffer offset @off from list copy @copy (0 = A,
 * 1 = B), unchecked and without choosing the copy, so that it can build the
 * one descriptor shape the NVMe rule forbids: for the tests, which link the
 * internal library.  Use regbuf_dma_prp().
 */
static inline void dma_prp_copy(const struct regbuf_dma_cookie *c, uint64_t off, uint64_t len,
				unsigned int copy, uint64_t *prp1, uint64_t *prp2)
{
	dma_prp_any(c, off + c->base_off, len, (int)(copy & 1), prp1, prp2);
}

#endif /* REGBUF_SRC_DMA_DMA_H */
