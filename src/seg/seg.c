// SPDX-License-Identifier: MIT
/*
 * regbuf - multipage segments: the out-of-line parts.
 */
#include <errno.h>

#include <regbuf/seg.h>

int regbuf_seg_iter_seek(struct regbuf_seg_iter *it, const struct regbuf_seg *segs,
			 uint32_t nr_segs, uint64_t pos, uint64_t count)
{
	uint64_t total = 0, end;
	uint32_t i;

	if (__builtin_add_overflow(pos, count, &end))
		return -EINVAL;
	/* Sum only up to the range's end: lengths that add up past 2^64 cannot wrap. */
	for (i = 0; i < nr_segs && total < end; i++)
		if (__builtin_add_overflow(total, segs[i].len, &total))
			total = UINT64_MAX;
	if (total < end)
		return -EINVAL;
	regbuf_seg_iter_init(it, segs, nr_segs, pos + count);
	return regbuf_seg_iter_advance(it, pos);
}
