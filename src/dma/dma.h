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

/*
 * PRP1/PRP2 for buffer positions [@pos, @pos + @len) (position = offset +
 * base_off), from list copy @copy, or the right copy when @copy < 0.  The
 * geometry comes in as arguments so that the 4 KiB case below compiles to
 * immediates; x / e is (x * magic) >> mshift.  Branch-free apart from the
 * cookie's mode, which is fixed per cookie.  The two divisions (k / E and
 * last / E) are independent; copy B's slot follows from k / E because its
 * shift is below E.
 */
static inline __attribute__((always_inline)) void
dma_prp_fill(const struct regbuf_dma_cookie *c, uint64_t pos, uint64_t len, int copy,
		      uint64_t *prp1, uint64_t *prp2, unsigned int shift, uint32_t e, uint32_t sh,
		      uint64_t magic, unsigned int mshift, unsigned int contig)
{
	uint32_t first = (uint32_t)(pos >> shift);
	uint32_t last = (uint32_t)((pos + len - 1) >> shift);
	uint32_t k = first + 1;				/* the first list entry's page */
	uint32_t qk, rk, ql, rl;
	uint64_t slot_a;				/* page k's slot in copy A */
	unsigned int b;

	if (contig) {
		*prp1 = c->dma_page0 + pos;
		if (REGBUF_LIKELY(last <= k)) {
			/* one or two pages: PRP2 unused or the second page (§4.3), no list */
			uint64_t two = (uint64_t)0 - (last == k);

			*prp2 = (c->dma_page0 + ((uint64_t)k << shift)) & two;
			return;
		}
		qk = (uint32_t)(((uint64_t)k * magic) >> mshift);
		rk = k - qk * e;
		slot_a = (uint64_t)k + qk;
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
			uint64_t pk = ((uint64_t)k << shift) + c->gran_phase;

			/* index 0 when unused: page k may lie past the buffer */
			*prp2 = (c->gran_dma[(pk >> g) & two] + (pk & gmask)) & two;
			return;
		}
		qk = (uint32_t)(((uint64_t)k * magic) >> mshift);
		rk = k - qk * e;
		slot_a = (uint64_t)k + qk;
	}
	ql = (uint32_t)(((uint64_t)last * magic) >> mshift);
	rl = last - ql * e;
	b = copy < 0 ? rl == 0 : (unsigned int)copy;
	if (b)
		*prp2 = regbuf_iova_u64(c->list_iova[1]) + 8 * ((uint64_t)k + sh + qk + (rk + sh >= e));
	else
		*prp2 = regbuf_iova_u64(c->list_iova[0]) + 8 * slot_a;
}

/* 4 KiB controller pages: E = 511, copy B shift 256, x / 511 = (x * m) >> 40. */
#define DMA_4K_MAGIC	((UINT64_C(1) << 40) / 511 + 1)

static inline __attribute__((always_inline)) void
dma_prp_any(const struct regbuf_dma_cookie *c, uint64_t pos, uint64_t len, int copy,
		     uint64_t *prp1, uint64_t *prp2)
{
	if (REGBUF_LIKELY(c->prp_mode == __REGBUF_DMA_PRP_4K_CONTIG))
		dma_prp_fill(c, pos, len, copy, prp1, prp2, 12, 511, 256,
				      DMA_4K_MAGIC, 40, 1);
	else if (c->prp_mode == __REGBUF_DMA_PRP_4K)
		dma_prp_fill(c, pos, len, copy, prp1, prp2, 12, 511, 256,
				      DMA_4K_MAGIC, 40, 0);
	else
		dma_prp_fill(c, pos, len, copy, prp1, prp2, c->page_shift, c->per_list,
				      c->shift_b, c->div_magic, c->div_shift,
				      c->flags & REGBUF_DMA_COOKIE_F_CONTIG);
}


#endif /* REGBUF_SRC_DMA_DMA_H */
