// SPDX-License-Identifier: MIT
/*
 * regbuf - multipage segments: the out-of-line parts.
 */
#include <errno.h>

#include <regbuf/seg.h>

int regbuf_seg_iter_seek(struct regbuf_seg_iter *it, const struct regbuf_seg *segs,
			 uint32_t nr_segs, uint64_t pos, uint64_t count)
{
	uint64_t total = 0;
	uint32_t i;

	for (i = 0; i < nr_segs; i++)
		total += segs[i].len;
	if (pos > total || count > total - pos)
		return -EINVAL;
	regbuf_seg_iter_init(it, segs, nr_segs, pos + count);
	return regbuf_seg_iter_advance(it, pos);
}
