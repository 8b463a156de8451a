// SPDX-License-Identifier: MIT
/*
 * uring: fixed-buffer I/O - slot lookup by pointer, splitting at kernel-buffer
 * boundaries, vectored fixed I/O (6.15) or its fallback, O_DIRECT alignment.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <linux/stat.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sys/compat.h"
#include "sys/sys.h"
#include "uring/uring.h"

/* A request of <= REGBUF_MAX_RW_COUNT crosses at most two 1 GiB boundaries. */
#define MAX_PIECES	3

int regbuf_uring_dio_align(int fd, uint32_t *mem_align, uint32_t *off_align)
{
	struct statx stx;
	int ret;

	if (fd < 0 || !mem_align || !off_align)
		return -EINVAL;
	memset(&stx, 0, sizeof(stx));
	ret = sys_statx(fd, "", AT_EMPTY_PATH, STATX_DIOALIGN, &stx);
	if (ret)
		return ret;
	if (!(stx.stx_mask & STATX_DIOALIGN))
		return -EOPNOTSUPP;
	*mem_align = stx.stx_dio_mem_align;
	*off_align = stx.stx_dio_offset_align;
	return 0;
}

int regbuf_uring_file_init(struct regbuf_uring_file *f, int fd)
{
	uint32_t mem_align, off_align;
	struct stat st;
	int fl, lbs, ret;

	if (!f || fd < 0)
		return -EINVAL;
	memset(f, 0, sizeof(*f));
	f->fd = fd;
	f->mem_align = 1;
	f->off_align = 1;
	fl = sys_fcntl_getfl(fd);
	if (fl < 0)
		return fl;
	if (!(fl & O_DIRECT))
		return 0;
	f->poll = !regbuf_uring_poll_check(fd, NULL, 0);
	ret = regbuf_uring_dio_align(fd, &mem_align, &off_align);
	if (!ret) {
		/* statx(2): 0 means direct I/O is not supported on this file. */
		if (!mem_align || !off_align)
			return -EINVAL;
		f->mem_align = mem_align;
		f->off_align = off_align;
		return 0;
	}
	if (ret != -EOPNOTSUPP)
		return ret;
	ret = sys_fstat(fd, &st);
	if (ret)
		return ret;
	if (S_ISBLK(st.st_mode)) {
		/* Block devices report DIOALIGN only since 6.11: logical block size
		 * for offsets, and the default dma_alignment (511) for memory. */
		ret = sys_ioctl(fd, BLKSSZGET, &lbs);
		if (ret < 0)
			return ret;
		f->off_align = (uint32_t)lbs;
		f->mem_align = 512;
		return 0;
	}
	/* Unknown: the strictest common requirement. */
	f->mem_align = 4096;
	f->off_align = 4096;
	return 0;
}

/* The piece index in user_data (DOC: user_data bits). */
static uint64_t piece_data(uint64_t user_data, uint32_t piece)
{
	return user_data | ((uint64_t)piece << REGBUF_URING_PIECE_SHIFT);
}

/*
 * The piece of [@addr, @addr + @len) that starts at @addr: the slot holding
 * @addr and the bytes of the range in it (the rest continues in other
 * slots).  A piece cut at a slot end must itself be aligned for O_DIRECT.
 * 0 or -errno.
 */
static int next_piece(const struct regbuf_uring_ring *r, const struct regbuf_uring_file *f,
		      uint64_t addr, uint64_t len, uint64_t off, struct regbuf_uring_loc *loc)
{
	if (regbuf_uring_lookup(r, (const void *)(uintptr_t)addr, len, loc))
		return -EFAULT;
	if (loc->len < len && f && regbuf_uring_check_align(f, addr, loc->len, off))
		return -EINVAL;
	return 0;
}

/*
 * Count the pieces [@addr, @addr + @len) is cut into at slot ends (a range
 * of 0 bytes is one piece when @addr is registered): count or -errno.
 */
static int count_pieces(const struct regbuf_uring_ring *r, const struct regbuf_uring_file *f,
			uint64_t addr, uint64_t len, uint64_t off)
{
	struct regbuf_uring_loc loc;
	uint32_t n = 0;
	int ret;

	do {
		if (n == REGBUF_URING_MAX_PIECES)
			return -E2BIG;
		ret = next_piece(r, f, addr, len, off, &loc);
		if (ret)
			return ret;
		n++;
		addr += loc.len;
		off += loc.len;
		len -= loc.len;
	} while (len);
	return (int)n;
}

int regbuf_uring_piece(const struct regbuf_uring_ring *r, const void *buf, uint64_t len,
		       uint32_t piece, struct regbuf_uring_loc *loc, uint64_t *io_off)
{
	uint64_t addr = (uint64_t)(uintptr_t)buf, done = 0;
	uint32_t i = 0;

	if (!r || !loc)
		return -EINVAL;
	for (;;) {
		if (next_piece(r, NULL, addr + done, len - done, 0, loc))
			return -EFAULT;
		if (i == piece)
			break;
		done += loc->len;
		if (done == len)
			return -ERANGE;
		i++;
	}
	if (io_off)
		*io_off = done;
	return 0;
}

/*
 * No slot: the kernel answers -EFAULT for it (io_find_buf_node() finds no
 * node past the table, and a table has at most 16384 slots).
 */
#define NO_SLOT		UINT16_MAX

/*
 * Queue [@addr, @addr + @len) cut at slot ends, as count_pieces() counted it,
 * in at most @max SQEs numbered from *@piece on; returns the SQEs queued.
 * The map is read again: should the memory have been unregistered since the
 * count (a caller's bug: I/O on memory being shrunk), the rest of the range
 * goes in one last SQE with no slot, which completes with -EFAULT: never into
 * other memory, never more SQEs than the room checked.
 */
static uint32_t prep_pieces(struct regbuf_uring_ring *r, bool write,
			    const struct regbuf_uring_file *f, uint64_t addr,
			    uint64_t len, uint64_t off, uint64_t user_data, uint32_t max,
			    uint32_t *piece)
{
	struct regbuf_uring_loc loc;
	struct io_uring_sqe *sqe;
	uint32_t i = 0;

	do {
		if (next_piece(r, NULL, addr, len, off, &loc) || (i == max - 1 && loc.len != len)) {
			loc.slot = NO_SLOT;
			loc.len = len;
		}
		sqe = io_uring_get_sqe(&r->ring);
		if (write)
			io_uring_prep_write_fixed(sqe, f->fd, (const void *)(uintptr_t)addr,
						  (unsigned int)loc.len, off, (int)loc.slot);
		else
			io_uring_prep_read_fixed(sqe, f->fd, (void *)(uintptr_t)addr,
						 (unsigned int)loc.len, off, (int)loc.slot);
		regbuf_uring_sqe_file(sqe, r, f);
		io_uring_sqe_set_data64(sqe, piece_data(user_data, (*piece)++));
		addr += loc.len;
		off += loc.len;
		len -= loc.len;
		i++;
	} while (len);
	return i;
}

/* Registration active: fixed I/O (read once; another thread may grow the pool). */
static bool ring_fixed(const struct regbuf_uring_ring *r)
{
	return __atomic_load_n(&r->fixed, __ATOMIC_RELAXED);
}

static bool ring_plain(const struct regbuf_uring_ring *r)
{
	return __atomic_load_n(&r->plain, __ATOMIC_RELAXED);
}

/*
 * Unregistered I/O (registration disabled or failed, degraded pool): one
 * plain READ/WRITE of @iov[0] (@nr 0), or READV/WRITEV of @nr iovecs.
 * 1 SQE or -EBUSY.
 */
static int prep_plain(struct regbuf_uring_ring *r, bool write, const struct regbuf_uring_file *f,
		      const struct iovec *iov, uint32_t nr, uint64_t off, uint64_t user_data)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&r->ring);

	if (!sqe)
		return -EBUSY;
	if (!nr && write)
		io_uring_prep_write(sqe, f->fd, iov->iov_base, (unsigned int)iov->iov_len, off);
	else if (!nr)
		io_uring_prep_read(sqe, f->fd, iov->iov_base, (unsigned int)iov->iov_len, off);
	else if (write)
		io_uring_prep_writev(sqe, f->fd, iov, nr, off);
	else
		io_uring_prep_readv(sqe, f->fd, iov, nr, off);
	regbuf_uring_sqe_file(sqe, r, f);
	io_uring_sqe_set_data64(sqe, user_data);
	return 1;
}

int __regbuf_uring_prep_rw(struct regbuf_uring_ring *r, bool write,
			   const struct regbuf_uring_file *f, void *buf, uint32_t len,
			   uint64_t off, uint64_t user_data)
{
	uint64_t addr = (uint64_t)(uintptr_t)buf;
	uint32_t piece = 0;
	int n;

	if ((user_data & ~REGBUF_URING_USER_DATA_MASK) || len > REGBUF_MAX_RW_COUNT)
		return -EINVAL;
	if (regbuf_uring_check_align(f, addr, len, off))
		return -EINVAL;
	if (r->iopoll && !f->poll)
		return -EOPNOTSUPP;
	if (!ring_fixed(r)) {
		struct iovec one = { buf, len };

		/* Nothing registered and no unregistered I/O asked for. */
		if (!ring_plain(r))
			return -EFAULT;
		return prep_plain(r, write, f, &one, 0, off, user_data);
	}
	n = count_pieces(r, f, addr, len, off);
	if (n < 0)
		return n;
	if (io_uring_sq_space_left(&r->ring) < (unsigned int)n)
		return -EBUSY;
	return (int)prep_pieces(r, write, f, addr, len, off, user_data, (uint32_t)n, &piece);
}

int regbuf_uring_prep_rwv(struct regbuf_uring_ring *r, bool write,
			  const struct regbuf_uring_file *f, const struct iovec *iov,
			  uint32_t nr, uint64_t off, uint64_t user_data)
{
	struct regbuf_uring_loc loc;
	struct io_uring_sqe *sqe;
	uint64_t total = 0, o;
	uint32_t i, slot = 0, need = 0, piece = 0;
	bool one_slot = true;
	int n;

	if ((user_data & ~REGBUF_URING_USER_DATA_MASK) || !iov || !nr)
		return -EINVAL;
	for (i = 0; i < nr; i++) {
		/* Kernel io_import_reg_vec(): a zero-length iovec is -EFAULT. */
		if (!iov[i].iov_len)
			return -EFAULT;
		/* io_import_reg_vec(): a wrapping total is -EOVERFLOW, too long -EINVAL. */
		if (__builtin_add_overflow(total, iov[i].iov_len, &total))
			return -EOVERFLOW;
		if (total > REGBUF_MAX_RW_COUNT)
			return -EINVAL;
		if (regbuf_uring_check_align(f, (uint64_t)(uintptr_t)iov[i].iov_base,
					     iov[i].iov_len, off))
			return -EINVAL;
	}
	if (r->iopoll && !f->poll)
		return -EOPNOTSUPP;
	if (!ring_fixed(r))
		return ring_plain(r) ? prep_plain(r, write, f, iov, nr, off, user_data) : -EFAULT;
	/* Validate every piece and count SQEs before queueing anything. */
	for (i = 0, o = off; i < nr; i++) {
		n = count_pieces(r, f, (uint64_t)(uintptr_t)iov[i].iov_base, iov[i].iov_len, o);
		if (n < 0)
			return n;
		if (regbuf_uring_lookup(r, iov[i].iov_base, iov[i].iov_len, &loc))
			return -EFAULT;	/* unregistered since the count: a caller's bug */
		if (n > 1 || (i && loc.slot != slot))
			one_slot = false;
		slot = loc.slot;
		if (need + (uint32_t)n > REGBUF_URING_MAX_PIECES)
			return -E2BIG;
		need += (uint32_t)n;
		o += iov[i].iov_len;
	}
	if (one_slot && r->rwv_fixed) {
		sqe = io_uring_get_sqe(&r->ring);
		if (!sqe)
			return -EBUSY;
		io_uring_prep_rw(write ? IORING_OP_WRITEV_FIXED : IORING_OP_READV_FIXED, sqe,
				 f->fd, iov, nr, off);
		sqe->buf_index = (uint16_t)slot;
		regbuf_uring_sqe_file(sqe, r, f);
		io_uring_sqe_set_data64(sqe, user_data);
		return 1;
	}
	if (io_uring_sq_space_left(&r->ring) < need)
		return -EBUSY;
	/* Each iovec keeps room for one SQE for every iovec after it. */
	for (i = 0, o = off; i < nr; i++) {
		prep_pieces(r, write, f, (uint64_t)(uintptr_t)iov[i].iov_base, iov[i].iov_len,
			    o, user_data, need - piece - (nr - 1 - i), &piece);
		o += iov[i].iov_len;
	}
	return (int)piece;
}

/* Submit what is queued and wait for @n CQEs of ours; tag CQEs are counted. */
static int64_t wait_n(struct regbuf_uring_ring *r, int n)
{
	struct io_uring_cqe *cqe;
	int64_t total = 0;
	int err = 0, ret;

	ret = io_uring_submit(&r->ring);
	if (ret < 0)
		return ret;
	while (n > 0) {
		ret = io_uring_wait_cqe(&r->ring, &cqe);
		if (ret < 0)
			return ret;
		if (regbuf_uring_cqe_is_tag(cqe)) {
			regbuf_uring_ring_count_tag(r, cqe);
		} else {
			if (cqe->res < 0 && !err)
				err = cqe->res;
			else if (cqe->res > 0)
				total += cqe->res;
			n--;
		}
		io_uring_cqe_seen(&r->ring, cqe);
	}
	return err ? err : total;
}

int64_t regbuf_uring_rw_wait(struct regbuf_uring_ring *r, bool write,
			const struct regbuf_uring_file *f, void *buf, uint32_t len, uint64_t off)
{
	int n = regbuf_uring_prep_rw(r, write, f, buf, len, off, 0);

	return n < 0 ? n : wait_n(r, n);
}

int64_t regbuf_uring_rwv_wait(struct regbuf_uring_ring *r, bool write,
			 const struct regbuf_uring_file *f, const struct iovec *iov,
			 uint32_t nr, uint64_t off)
{
	int n = regbuf_uring_prep_rwv(r, write, f, iov, nr, off, 0);

	return n < 0 ? n : wait_n(r, n);
}
