// SPDX-License-Identifier: MIT
/*
 * regbuf table - clone, mirroring io_register_clone_buffers() and
 * io_clone_buffers() in io_uring/rsrc.c.
 *
 * Only the destination is locked; the source snapshot is taken lock-free
 * with a reference, so there is no lock ordering to get wrong when two
 * threads clone A->B and B->A, and src == dst needs no special case.
 */
#include <errno.h>

#include "layout.h"

int regbuf_table_clone(struct regbuf_table *dst, struct regbuf_table *src, uint32_t dst_off,
		       uint32_t src_off, uint32_t nr, unsigned int flags)
{
	struct table_snap *old, *s, *n;
	uint32_t src_end, dst_end, new_nr, i;
	int ret;

	/*
	 * Kernel errors with no userspace meaning are not reproduced: -EFAULT
	 * (copy_from_user), -EBADF/-EOPNOTSUPP (source fd), -EINVAL for a bad
	 * registered-ring index or pad, -EEXIST (single issuer), -EINVAL for a
	 * different accounting owner (tables do no accounting).
	 */
	if (flags & ~REGBUF_TABLE_F_CLONE_REPLACE)
		return -EINVAL;
	table_lock(dst);
	old = table_cur_locked(dst);
	ret = -EBUSY;
	if (old && !(flags & REGBUF_TABLE_F_CLONE_REPLACE))
		goto out_unlock;
	/* Offsets without a count are an error; nr == 0 means the whole table. */
	ret = -EINVAL;
	if (!nr && (src_off || dst_off))
		goto out_unlock;
	s = table_snap_get(src);
	ret = -ENXIO;
	if (!s || !s->nr)
		goto out_put_src;
	ret = -EINVAL;
	if (!nr)
		nr = s->nr;
	else if (nr > s->nr || nr > REGBUF_TABLE_MAX_BUFS)
		goto out_put_src;
	ret = -EOVERFLOW;
	if (__builtin_add_overflow(nr, src_off, &src_end) || src_end > s->nr)
		goto out_put_src;
	if (__builtin_add_overflow(nr, dst_off, &dst_end))
		goto out_put_src;
	ret = -EINVAL;
	if (dst_end > REGBUF_TABLE_MAX_BUFS)
		goto out_put_src;

	new_nr = dst_end;
	if (old && old->nr > new_nr)
		new_nr = old->nr;
	if (!src_off && !dst_off && nr == s->nr && new_nr == nr) {
		/* The new table is the source table: share the snapshot, O(1). */
		table_publish_locked(dst, s);
		ret = 0;
		goto out_unlock;
	}

	ret = -ENOMEM;
	n = table_snap_alloc(new_nr);
	if (!n)
		goto out_put_src;
	/* Old slots before the range, then after it (525916ce4966); the gap stays empty. */
	for (i = 0; old && i < old->nr; i++) {
		if (i >= dst_off && i < dst_end)
			continue;
		n->bufs[i] = old->bufs[i];
		table_buf_ref(n->bufs[i]);
	}
	/* Cloned slots share the buffer; an empty source slot stays empty.  No tags exist here. */
	for (i = 0; i < nr; i++) {
		n->bufs[dst_off + i] = s->bufs[src_off + i];
		table_buf_ref(n->bufs[dst_off + i]);
	}
	table_publish_locked(dst, n);
	ret = 0;
out_put_src:
	table_snap_put(s);
out_unlock:
	table_unlock(dst);
	return ret;
}
