/* SPDX-License-Identifier: MIT */
/*
 * regbuf - private helpers shared by the dma layer's files.
 */
#ifndef REGBUF_SRC_DMA_DMA_H
#define REGBUF_SRC_DMA_DMA_H

#include <regbuf/dma.h>

/* Controller parameters with defaults applied: 4 KiB pages, no MDTS limit. */
int dma_ctrl_resolve(const struct regbuf_dma_ctrl *ctrl, unsigned int *page_shift,
		     uint64_t *max_bytes);

#endif /* REGBUF_SRC_DMA_DMA_H */
