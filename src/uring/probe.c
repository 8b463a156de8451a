// SPDX-License-Identifier: MIT
/*
 * uring: what the running kernel offers registered buffers.  One prober for
 * the pool's decisions (clone path, vectored fixed I/O) and for
 * regbuf_uring_probe() (`regbuf info`, applications).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "sys/compat.h"
#include "uring/uring.h"

#define TRIAL_LEN	4096

void uring_probe_ops(struct io_uring *ring, struct regbuf_uring_features *f)
{
	/* IORING_REGISTER_PROBE reports SQE opcodes (not register ops). */
	struct io_uring_probe *p = io_uring_get_probe_ring(ring);

	f->probe = p != NULL;
	if (!p)
		return;
	/* io_uring_opcode_supported() is false past last_op: older kernels. */
	f->read_fixed = io_uring_opcode_supported(p, IORING_OP_READ_FIXED);
	f->write_fixed = io_uring_opcode_supported(p, IORING_OP_WRITE_FIXED);
	f->readv_fixed = io_uring_opcode_supported(p, IORING_OP_READV_FIXED);
	f->writev_fixed = io_uring_opcode_supported(p, IORING_OP_WRITEV_FIXED);
	io_uring_free_probe(p);
}

/* The kernel's answer to a clone from an empty table: -ENXIO means "supported". */
static int clone_answer(struct io_uring *ring, uint32_t off)
{
	int ret = regbuf_uring_clone_buffers(ring, ring, off, off, off, 0);

	return ret == -ENXIO ? 0 : (ret ? ret : -EPROTO);
}

/*
 * Clone support without side effects: clone from a ring without a table.
 * 6.12+ answers -ENXIO (io_clone_buffers(): empty source); an unknown opcode is
 * -EINVAL.  With src_off = 1 a 6.12 kernel sees non-zero padding (-EINVAL)
 * while 6.13+ still reaches the empty-source check.
 */
void uring_probe_clone(struct io_uring *ring, int *whole, int *ranges)
{
	*whole = clone_answer(ring, 0);
	*ranges = *whole ? *whole : clone_answer(ring, 1);
}

int regbuf_uring_probe(struct regbuf_uring_features *f)
{
	struct io_uring ring;
	struct iovec iov;
	void *buf;
	int ret;

	if (!f)
		return -EINVAL;
	memset(f, 0, sizeof(*f));
	ret = io_uring_queue_init(4, &ring, 0);
	if (ret < 0)
		return ret;
	f->ring_features = ring.features;
	uring_probe_ops(&ring, f);
	/* Before anything is registered: the clone probe needs an empty source. */
	uring_probe_clone(&ring, &f->clone_whole, &f->clone_ranges);
	f->buffers2_sparse = io_uring_register_buffers_sparse(&ring, 4);
	if (!f->buffers2_sparse)
		io_uring_unregister_buffers(&ring);
	buf = aligned_alloc(TRIAL_LEN, TRIAL_LEN);
	if (buf) {
		memset(buf, 0, TRIAL_LEN);
		iov.iov_base = buf;
		iov.iov_len = TRIAL_LEN;
		f->buffers = io_uring_register_buffers(&ring, &iov, 1);
		if (!f->buffers)
			io_uring_unregister_buffers(&ring);
		free(buf);
	} else {
		f->buffers = -ENOMEM;
	}
	io_uring_queue_exit(&ring);
	return 0;
}
