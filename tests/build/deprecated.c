// SPDX-License-Identifier: MIT
/*
 * The names regbuf 0.1 used for the allocator's span and the NVMe driver's
 * DMA mapping still compile, for one release, and mean the new ones (built
 * with -w: each use warns by design).  Compile-time only; never run.
 */
#include <regbuf/alloc.h>
#include <regbuf/nvme.h>

int regbuf_deprecated_names_check(struct regbuf_nvme_ctrl *c, struct regbuf_table *t,
				  struct regbuf_iobuf *span);

int regbuf_deprecated_names_check(struct regbuf_nvme_ctrl *c, struct regbuf_table *t,
				  struct regbuf_iobuf *span)
{
	struct regbuf_alloc_span *same = span;
	struct regbuf_nvme_buf *b;
	struct regbuf_nvme_dmamap *m;
	int r = regbuf_nvme_buf_create(&b, c, same->addr, same->len, REGBUF_NVME_BUF_F_READONLY);

	if (r)
		return r;
	m = b;
	r = regbuf_nvme_buf_iova(m, 0) + regbuf_nvme_buf_len(m) + regbuf_nvme_buf_nr_segs(m) ? 0 : 1;
	regbuf_nvme_buf_destroy(m);
	if (!r)
		r = regbuf_nvme_buf_create_slot(&b, c, t, same->slot, 0);
	return r;
}
