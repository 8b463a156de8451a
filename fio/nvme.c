// SPDX-License-Identifier: MIT
/*
 * regbuf-fio.so backend=nvme: regbuf's userspace NVMe driver.  filename= is
 * a PCI address (0000:03:00.0 written 0000.03.00.0, as fio splits file names
 * at ':'), bound to vfio-pci (or uio_pci_generic with allow_unsafe=1); the
 * arena is DMA-mapped once and each job gets its own queue pair; PRP or SGL
 * per command.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"

static struct {
	struct regbuf_nvme_ctrl *ctrl;
	struct regbuf_nvme_dmamap *nbuf;
	struct regbuf_nvme_ns *nsh;	/* what I/O names the namespace by */
	struct regbuf_nvme_ns_info ns;
	char bdf[32];
} nv;

/* fio splits file names at ':'; accept 0000.03.00.0 as well as 0000:03:00.0. */
static void rb_bdf(const char *name, char *out, size_t len)
{
	unsigned int dots = 0;
	size_t i;

	snprintf(out, len, "%s", name);
	for (i = 0; out[i]; i++)
		if (out[i] == '.' && ++dots <= 2)
			out[i] = ':';
	if (dots < 3)		/* already 0000:03:00.0 (escaped in the job) */
		snprintf(out, len, "%s", name);
}

static int rb_nvme_bringup_locked(struct thread_data *td, const char *name)
{
	struct rb_options *o = td->eo;
	struct regbuf_nvme_opts nopts = { 0 };
	char why[256] = "";
	int ret;

	rb_bdf(name, nv.bdf, sizeof(nv.bdf));
	nopts.why = why;
	nopts.why_len = sizeof(why);
	nopts.io_queues = (uint32_t)thread_number;
	if (o->allow_unsafe)
		nopts.flags |= REGBUF_NVME_F_ALLOW_UNSAFE;
	if (o->enable_sgl == RB_SGL_OFF)
		nopts.flags |= REGBUF_NVME_F_NO_SGL;
	ret = regbuf_nvme_ctrl_create(&nv.ctrl, nv.bdf, &nopts);
	if (ret) {
		log_err("regbuf: NVMe controller %s: %s%s%s\n", nv.bdf, strerror(-ret),
			why[0] ? ": " : "", why);
		return ret;
	}
	ret = regbuf_nvme_ns_get(&nv.nsh, nv.ctrl, o->nsid);
	if (!ret)
		nv.ns = *regbuf_nvme_ns_info(nv.nsh);
	if (ret) {
		log_err("regbuf: %s namespace %u: %s\n", nv.bdf, o->nsid, strerror(-ret));
	} else if (nv.ns.ms) {
		/* fio's buffers hold data only, and this backend sends no metadata */
		log_err("regbuf: %s namespace %u has %u bytes of metadata per block: "
			"backend=nvme takes formats without metadata (backend=uring_cmd "
			"carries it)\n", nv.bdf, o->nsid, nv.ns.ms);
		ret = -EOPNOTSUPP;
	}
	if (ret) {
		regbuf_nvme_ctrl_destroy(nv.ctrl);
		nv.ctrl = NULL;
	}
	return ret;
}

/*
 * Bring the controller up in fio's setup hook, before fio asks for the
 * "file" size (the namespace's) and before any job thread starts; every job
 * must name the same controller.
 */
static int rb_nvme_setup_locked(struct thread_data *td)
{
	const char *name = rb_first_file(td, "backend=nvme needs filename=<PCI address>");
	char bdf[sizeof(nv.bdf)];

	if (!nv.ctrl) {
		if (!name)
			return -EINVAL;
		return rb_nvme_bringup_locked(td, name);
	}
	if (!name)
		return 0;
	rb_bdf(name, bdf, sizeof(bdf));
	if (strcmp(bdf, nv.bdf)) {
		log_err("regbuf: every job of one fio process must use the same "
			"controller (%s, not %s)\n", nv.bdf, bdf);
		return -EINVAL;
	}
	return 0;
}

static int rb_nvme_get_file_size(struct thread_data *td, struct fio_file *f)
{
	(void)td;
	if (!nv.ctrl)
		return EINVAL;
	f->real_file_size = nv.ns.nsze * nv.ns.lba_size;
	return 0;
}

static int rb_nvme_map_locked(struct thread_data *td)
{
	int ret = nv.ctrl ? 0 : rb_nvme_setup_locked(td);

	if (ret)
		return ret;
	ret = regbuf_nvme_dmamap_create(&nv.nbuf, nv.ctrl, regbuf_mem_addr(rb.mem),
					regbuf_mem_len(rb.mem), 0);
	if (ret)
		log_err("regbuf: mapping the %zu MiB arena for %s: %s\n",
			regbuf_mem_len(rb.mem) >> 20, nv.bdf, strerror(-ret));
	return ret;
}

static void rb_nvme_report_locked(void)
{
	const struct regbuf_nvme_ctrl_info *ci = regbuf_nvme_ctrl_info(nv.ctrl);

	rb_info("regbuf: nvme %s (%s): %s, ns %u: %" PRIu64 " blocks of %u B, "
		"%u I/O queue pairs, SGL %s, arena mapped in %u segment(s), setup %.3f ms\n",
		nv.bdf, ci->mn, ci->mode == REGBUF_NVME_MODE_PHYS ? "physical" : "vfio",
		nv.ns.nsid, nv.ns.nsze, nv.ns.lba_size, ci->io_queues,
		(ci->sgls & 3) ? "supported" : "not supported",
		regbuf_nvme_dmamap_nr_segs(nv.nbuf), rb.setup_ns / 1e6);
}

static int rb_nvme_attach_locked(struct thread_data *td, struct rb_data *d)
{
	int ret;

	(void)td;
	d->cpls = calloc(d->depth, sizeof(*d->cpls));
	if (!d->cpls)
		return -ENOMEM;
	if (d->o->enable_sgl == RB_SGL_ON)
		d->io_flags = REGBUF_NVME_IO_F_SGL;
	else if (d->o->enable_sgl == RB_SGL_OFF)
		d->io_flags = REGBUF_NVME_IO_F_PRP;
	ret = regbuf_nvme_qpair_create(&d->qp, nv.ctrl, d->depth + 1, 0);
	if (ret)
		log_err("regbuf: queue pair of depth %u on %s: %s\n", d->depth + 1, nv.bdf,
			strerror(-ret));
	return ret;
}

/*
 * Trim: Dataset Management with Deallocate over one range (NVM Command Set
 * 1.0, 3.2.3), the range in the DMA-mapped arena: 16 bytes that never cross
 * a page, so PRP1 alone addresses them.  0 or -errno (-EAGAIN: nothing free).
 */
static int rb_nvme_trim(struct rb_data *d, struct io_u *io_u)
{
	unsigned int shift = (unsigned int)__builtin_ctz(nv.ns.lba_size);
	struct regbuf_nvme_dsm_range *r;
	struct regbuf_nvme_sqe sqe;
	int ret;

	if (((io_u->offset | io_u->xfer_buflen) & (nv.ns.lba_size - 1)) || !io_u->xfer_buflen ||
	    (io_u->xfer_buflen >> shift) > UINT32_MAX)
		return -EINVAL;
	r = rb_dsm_get(d, io_u, shift);
	if (!r)
		return -EAGAIN;
	memset(&sqe, 0, sizeof(sqe));
	regbuf_nvme_sqe_dsm(&sqe, nv.ns.nsid, 1, REGBUF_NVME_DSM_AD);
	sqe.dptr.prp.prp1 = regbuf_cpu_to_le64(regbuf_nvme_dmamap_iova(nv.nbuf,
		(uint64_t)((char *)r - (char *)regbuf_mem_addr(rb.mem))));
	ret = regbuf_nvme_submit_cmd(d->qp, &sqe, io_u, REGBUF_NVME_IO_F_DEFER);
	if (ret)
		rb_dsm_put(d, io_u);
	return ret;
}

/*
 * Reads, writes and trims are posted without the SQ tail doorbell
 * (REGBUF_NVME_IO_F_DEFER): commit rings it once for fio's whole batch
 * (iodepth_batch_submit), as fio commits before it waits for completions.
 */
static enum fio_q_status rb_nvme_queue(struct thread_data *td, struct io_u *io_u)
{
	struct rb_data *d = td->io_ops_data;
	uint64_t off = (uint64_t)((char *)io_u->xfer_buf - (char *)regbuf_mem_addr(rb.mem));
	uint64_t slba = io_u->offset / nv.ns.lba_size;
	int ret;

	if (io_u->ddir == DDIR_READ)
		ret = regbuf_nvme_submit_read(d->qp, nv.nsh, nv.nbuf, off, io_u->xfer_buflen,
					      slba, io_u, d->io_flags | REGBUF_NVME_IO_F_DEFER);
	else if (io_u->ddir == DDIR_WRITE)
		ret = regbuf_nvme_submit_write(d->qp, nv.nsh, nv.nbuf, off, io_u->xfer_buflen,
					       slba, io_u, d->io_flags | REGBUF_NVME_IO_F_DEFER);
	else if (ddir_sync(io_u->ddir))
		ret = regbuf_nvme_submit_flush(d->qp, nv.nsh, io_u);
	else if (io_u->ddir == DDIR_TRIM)
		ret = rb_nvme_trim(d, io_u);
	else
		return rb_unsupported(td, io_u, "nvme");
	if (ret == -EAGAIN)
		return FIO_Q_BUSY;
	if (ret) {
		io_u->error = -ret;
		return FIO_Q_COMPLETED;
	}
	d->pending[d->nr_pending++] = io_u;
	return FIO_Q_QUEUED;
}

/* One SQ tail doorbell write for everything queue() posted since the last commit. */
static int rb_nvme_commit(struct thread_data *td, struct rb_data *d)
{
	(void)td;
	regbuf_nvme_qpair_ring(d->qp);
	return 0;
}

/* Completions are polled: the driver has no interrupts. */
static unsigned int rb_nvme_reap(struct rb_data *d, unsigned int have, unsigned int min,
				 unsigned int max)
{
	int n = regbuf_nvme_reap(d->qp, d->cpls, max - have), i;

	(void)min;
	for (i = 0; i < n; i++) {
		struct io_u *io_u = d->cpls[i].ctx;
		int err = d->cpls[i].status ? regbuf_nvme_status_errno(d->cpls[i].status) : 0;

		io_u->error = err < 0 ? -err : err;
		if (io_u->ddir == DDIR_TRIM)
			rb_dsm_put(d, io_u);
		d->events[have++] = io_u;
	}
	return have;
}

static void rb_nvme_job_cleanup(struct thread_data *td, struct rb_data *d)
{
	(void)td;
	if (d->qp)
		regbuf_nvme_qpair_destroy(d->qp);
	free(d->cpls);
}

static void rb_nvme_release_locked(void)
{
	regbuf_nvme_dmamap_destroy(nv.nbuf);
	regbuf_nvme_ctrl_destroy(nv.ctrl);
	nv.nbuf = NULL;
	nv.ctrl = NULL;
}

const struct rb_ops rb_nvme_ops = {
	.name = "nvme",
	.raw = true,
	.setup_locked = rb_nvme_setup_locked,
	.get_file_size = rb_nvme_get_file_size,
	.map_locked = rb_nvme_map_locked,
	.report_locked = rb_nvme_report_locked,
	.job_attach_locked = rb_nvme_attach_locked,
	.queue = rb_nvme_queue,
	.commit = rb_nvme_commit,
	.reap = rb_nvme_reap,
	.job_cleanup = rb_nvme_job_cleanup,
	.release_locked = rb_nvme_release_locked,
};
