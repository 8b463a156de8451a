// SPDX-License-Identifier: MIT
/*
 * regbuf-fio.so backend=uring: io_uring fixed reads and writes on files and
 * block devices, optionally on registered files (registerfiles=1), submitted
 * in fio's batches (iodepth_batch_submit).  The rings come from ring.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"

/*
 * io_uring's block device command: discard [addr, addr + addr3) (Linux 6.12,
 * blkdev_uring_cmd()); the headers of older systems lack it.
 */
#ifndef BLOCK_URING_CMD_DISCARD
#define BLOCK_URING_CMD_DISCARD	_IO(0x12, 0)
#endif

/*
 * With lazy_register an I/O may cross from one registered piece of the arena
 * into the next: regbuf_uring_prep_rw() sends it as one SQE per kernel
 * buffer, and ring.c adds room for those.
 */
static int rb_uring_map_locked(struct thread_data *td)
{
	return rb_ring_map_locked(td, 1, 0, 0, NULL);
}

static int rb_uring_start(struct thread_data *td, struct rb_data *d)
{
	int ret;

	d->nr_files = td->o.nr_files;
	d->files = calloc(d->nr_files ? d->nr_files : 1, sizeof(*d->files));
	if (!d->files)
		return -ENOMEM;
	ret = rb_ring_start(td, d);
	if (ret)
		return ret;
	if (d->o->registerfiles) {
		ret = io_uring_register_files_sparse(&d->ring->ring, d->nr_files);
		if (ret) {
			log_err("regbuf: registering %u files: %s\n", d->nr_files, strerror(-ret));
			return ret;
		}
	}
	return 0;
}

static int rb_uring_open_file(struct thread_data *td, struct fio_file *f)
{
	struct rb_data *d = td->io_ops_data;
	struct rb_file *rf;
	int ret;

	ret = generic_open_file(td, f);
	/* Sizing a block device in setup opens it before the job has a ring. */
	if (ret || !d || !d->files)
		return ret;
	rf = &d->files[f->fileno];
	ret = regbuf_uring_file_init(&rf->uf, f->fd);
	if (ret) {
		td_verror(td, -ret, "statx");
		goto err_close;
	}
	if (d->o->hipri && !rf->uf.poll) {
		char why[512] = "";

		regbuf_uring_poll_check(f->fd, why, sizeof(why));
		log_err("regbuf: hipri: %s cannot be polled: %s\n", f->file_name, why);
		td_verror(td, EOPNOTSUPP, "hipri");
		goto err_close;
	}
	rf->blkdev = f->filetype == FIO_TYPE_BLOCK;
	if (d->o->registerfiles) {
		ret = io_uring_register_files_update(&d->ring->ring, f->fileno, &f->fd, 1);
		if (ret < 0) {
			td_verror(td, -ret, "io_uring_register_files_update");
			goto err_close;
		}
		rf->fixed = true;
	}
	return 0;

err_close:
	if (generic_close_file(td, f))
		log_err("regbuf: closing %s after the error failed too\n", f->file_name);
	return 1;
}

static int rb_uring_close_file(struct thread_data *td, struct fio_file *f)
{
	struct rb_data *d = td->io_ops_data;
	struct rb_file *rf = d && d->files ? &d->files[f->fileno] : NULL;
	int none = -1;

	if (rf && rf->fixed) {
		io_uring_register_files_update(&d->ring->ring, f->fileno, &none, 1);
		rf->fixed = false;
	}
	return generic_close_file(td, f);
}

/*
 * Not in one slot, or not registered (the pool degraded): regbuf's general
 * path, which sends an I/O over several kernel buffers as one SQE per
 * buffer.  Such an I/O counts its CQEs still to come in engine_data and its
 * bytes still to do in resid; every other I/O has engine_data NULL (it is in
 * a union with fio's io_u index: set on every queue).
 */
static enum fio_q_status rb_uring_queue_plain(struct rb_data *d, struct rb_file *rf,
					      struct io_u *io_u)
{
	int ret = regbuf_uring_prep_rw(d->ring, io_u->ddir == DDIR_WRITE, &rf->uf,
				       io_u->xfer_buf, (uint32_t)io_u->xfer_buflen, io_u->offset,
				       (uint64_t)(uintptr_t)io_u);

	if (ret == -EBUSY)
		return FIO_Q_BUSY;
	if (ret < 1) {
		io_u->error = ret < 0 ? -ret : EINVAL;
		return FIO_Q_COMPLETED;
	}
	io_u->engine_data = NULL;
	if (ret > 1) {
		io_u->engine_data = (void *)(uintptr_t)ret;
		io_u->error = 0;
		io_u->resid = io_u->xfer_buflen;
		d->nr_split++;
		d->nr_split_sqes += (uint64_t)ret;
	}
	d->pending[d->nr_pending++] = io_u;
	return FIO_Q_QUEUED;
}

static enum fio_q_status rb_uring_queue(struct thread_data *td, struct io_u *io_u)
{
	struct rb_data *d = td->io_ops_data;
	struct regbuf_uring_ring *r = d->ring;
	struct rb_file *rf = &d->files[io_u->file->fileno];
	int fd = rf->fixed ? (int)io_u->file->fileno : rf->uf.fd;
	struct regbuf_uring_loc loc;
	struct io_uring_sqe *sqe;
	uint64_t addr = (uint64_t)(uintptr_t)io_u->xfer_buf;
	int ret;

	if (io_u->ddir == DDIR_READ || io_u->ddir == DDIR_WRITE) {
		if (regbuf_uring_check_align(&rf->uf, addr, io_u->xfer_buflen, io_u->offset)) {
			io_u->error = EINVAL;
			return FIO_Q_COMPLETED;
		}
		ret = regbuf_uring_lookup(r, io_u->xfer_buf, io_u->xfer_buflen, &loc);
		if (ret && d->o->lazy_register) {
			/* Not registered yet: register it, then look again. */
			ret = rb_ring_reach(td, io_u->xfer_buf, io_u->xfer_buflen);
			if (ret) {
				io_u->error = -ret;
				return FIO_Q_COMPLETED;
			}
			ret = regbuf_uring_lookup(r, io_u->xfer_buf, io_u->xfer_buflen, &loc);
		}
		if (ret || loc.len != io_u->xfer_buflen)
			return rb_uring_queue_plain(d, rf, io_u);
		sqe = io_uring_get_sqe(&r->ring);
		if (!sqe)
			return FIO_Q_BUSY;
		if (io_u->ddir == DDIR_WRITE)
			io_uring_prep_write_fixed(sqe, fd, io_u->xfer_buf,
						  (unsigned int)io_u->xfer_buflen, io_u->offset,
						  (int)loc.slot);
		else
			io_uring_prep_read_fixed(sqe, fd, io_u->xfer_buf,
						 (unsigned int)io_u->xfer_buflen, io_u->offset,
						 (int)loc.slot);
	} else if (ddir_sync(io_u->ddir)) {
		sqe = io_uring_get_sqe(&r->ring);
		if (!sqe)
			return FIO_Q_BUSY;
		io_uring_prep_fsync(sqe, fd, io_u->ddir == DDIR_DATASYNC ? IORING_FSYNC_DATASYNC : 0);
	} else if (io_u->ddir == DDIR_TRIM) {
		sqe = io_uring_get_sqe(&r->ring);
		if (!sqe)
			return FIO_Q_BUSY;
		if (rf->blkdev) {
			/* The kernel's discard (a device without it: -EOPNOTSUPP). */
			io_uring_prep_rw(IORING_OP_URING_CMD, sqe, fd, NULL, 0, 0);
			sqe->cmd_op = BLOCK_URING_CMD_DISCARD;
			sqe->addr = io_u->offset;
			sqe->addr3 = io_u->xfer_buflen;
		} else {
			/* A file: the range's blocks are freed and read back as zeros. */
			io_uring_prep_fallocate(sqe, fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
						io_u->offset, io_u->xfer_buflen);
		}
	} else {
		return rb_unsupported(td, io_u, "uring");
	}
	if (rf->fixed)
		sqe->flags |= IOSQE_FIXED_FILE;
	io_uring_sqe_set_data64(sqe, (uint64_t)(uintptr_t)io_u);
	io_u->engine_data = NULL;
	d->pending[d->nr_pending++] = io_u;
	return FIO_Q_QUEUED;
}

/*
 * A CQE: its result.  It completes its I/O, unless the I/O was sent as
 * several SQEs (engine_data counts those still to come): then the first
 * failure is kept and the bytes done are taken off resid.  The kernel ends a
 * piece short only at the end of the file, where every later piece does 0
 * bytes, so what was done is the I/O's head, as fio takes resid to mean.
 */
static bool rb_uring_done(struct rb_data *d, struct io_u *io_u, const struct io_uring_cqe *cqe)
{
	uintptr_t left = (uintptr_t)io_u->engine_data;

	(void)d;
	if (left) {
		if (cqe->res < 0) {
			if (!io_u->error)
				io_u->error = -cqe->res;
		} else {
			io_u->resid -= (unsigned long long)cqe->res < io_u->resid ?
				       (unsigned long long)cqe->res : io_u->resid;
		}
		io_u->engine_data = (void *)(left - 1);
		return left == 1;
	}
	if (cqe->res < 0)
		io_u->error = -cqe->res;
	else if ((unsigned long long)cqe->res != io_u->xfer_buflen && !ddir_sync(io_u->ddir) &&
		 io_u->ddir != DDIR_TRIM)
		io_u->resid = io_u->xfer_buflen - (unsigned long long)cqe->res;
	else
		io_u->error = 0;
	return true;
}

static unsigned int rb_uring_reap(struct rb_data *d, unsigned int have, unsigned int min,
				  unsigned int max)
{
	return rb_ring_reap(d, have, min, max, rb_uring_done);
}

static void rb_uring_job_cleanup(struct thread_data *td, struct rb_data *d)
{
	if (d->nr_split)
		rb_info("regbuf: job %s: %" PRIu64 " I/Os crossed a kernel buffer, sent as %"
			PRIu64 " SQEs\n", td->o.name, d->nr_split, d->nr_split_sqes);
	if (d->ring && d->o->registerfiles)
		io_uring_unregister_files(&d->ring->ring);
	rb_ring_job_cleanup(td, d);
	free(d->files);
}

const struct rb_ops rb_uring_ops = {
	.name = "uring",
	.lazy = true,
	.map_locked = rb_uring_map_locked,
	.report_locked = rb_ring_report_locked,
	.job_attach_locked = rb_ring_attach_locked,
	.job_start = rb_uring_start,
	.open_file = rb_uring_open_file,
	.close_file = rb_uring_close_file,
	.queue = rb_uring_queue,
	.commit = rb_ring_commit,
	.reap = rb_uring_reap,
	.wait = rb_ring_wait,
	.job_cleanup = rb_uring_job_cleanup,
	.release_locked = rb_ring_release_locked,
};
