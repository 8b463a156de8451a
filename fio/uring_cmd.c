// SPDX-License-Identifier: MIT
/*
 * regbuf-fio.so backend=uring_cmd: NVMe passthrough (IORING_OP_URING_CMD) on
 * a namespace's generic char device, filename=/dev/ngXnY.  The same ring
 * pool, registration and clone as backend=uring (ring.c), with 128-byte SQEs;
 * each I/O becomes NVMe Read/Write commands sized to the namespace's limits,
 * and an NVMe status fails it with EIO.
 *
 * Namespaces formatted with a separate metadata buffer: md_per_io_size bytes
 * per I/O from the arena, after the job's buffers; with protection
 * information, pi_act=1 (PRACT) has the controller make and strip it, pi_act=0
 * has the engine write each block's tuple (guard, apptag, LBA as reference
 * tag), and pi_chk names what the controller checks.  fio 3.37 took these
 * option names for its io_uring_cmd engine; fio 3.33 has none of them, nor
 * fio's own checking of the tuples it reads.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "engine.h"

/* The namespace, opened once per process; every job must name the same one. */
static struct regbuf_uring_nvme_ns cns = { .fd = -1 };
static char cns_path[256];

/* pi_chk=GUARD,REFTAG,APPTAG as PRCHK bits; -EINVAL for another word. */
static int rb_cmd_prchk(const char *s, unsigned int *bits)
{
	static const struct {
		const char *name;
		unsigned int bit;
	} words[] = { { "GUARD", REGBUF_NVME_RW_PRCHK_GUARD },
		      { "REFTAG", REGBUF_NVME_RW_PRCHK_REF },
		      { "APPTAG", REGBUF_NVME_RW_PRCHK_APP } };
	size_t i, n;

	*bits = 0;
	while (s && *s) {
		n = strcspn(s, ",");
		for (i = 0; i < sizeof(words) / sizeof(words[0]); i++)
			if (strlen(words[i].name) == n && !strncasecmp(s, words[i].name, n))
				break;
		if (i == sizeof(words) / sizeof(words[0]))
			return -EINVAL;
		*bits |= words[i].bit;
		s += n + (s[n] == ',');
	}
	return 0;
}

/* Whether I/O on the namespace moves metadata through a buffer of its own. */
static bool rb_cmd_md_buffer(const struct rb_options *o)
{
	return cns.ms && !cns.ext && !(o->pi_act && cns.pi_type && cns.ms == 8);
}

/*
 * The job's metadata options against the namespace's format: what cannot
 * work is refused with the reason before any I/O.
 */
static int rb_cmd_md_check(struct thread_data *td)
{
	struct rb_options *o = td->eo;
	unsigned long long need = td_max_bs(td) / (UINT64_C(1) << cns.lba_shift) * cns.ms;
	unsigned int bits;

	if (rb_cmd_prchk(o->pi_chk, &bits)) {
		log_err("regbuf: pi_chk=%s: GUARD, REFTAG and APPTAG are the checks\n", o->pi_chk);
		return -EINVAL;
	}
	o->prchk = bits;
	if (bits && !cns.pi_type) {
		log_err("regbuf: pi_chk: %s has no protection information\n", cns.char_name);
		return -EINVAL;
	}
	if (cns.ext) {
		log_err("regbuf: %s keeps %u bytes of metadata after each block's data (extended "
			"LBA format): fio's buffers hold data only, so this engine takes "
			"namespaces with a separate metadata buffer\n", cns.char_name, cns.ms);
		return -EOPNOTSUPP;
	}
	if (!rb_cmd_md_buffer(o)) {
		if (o->md_per_io_size && !cns.ms) {
			log_err("regbuf: md_per_io_size: %s has no metadata\n", cns.char_name);
			return -EINVAL;
		}
		return 0;
	}
	if (o->md_per_io_size < need) {
		log_err("regbuf: %s has %u bytes of metadata per block in a separate buffer: "
			"md_per_io_size must be at least %llu for bs up to %llu%s\n",
			cns.char_name, cns.ms, need, td_max_bs(td),
			cns.pi_type && cns.ms == 8 ? " (or pi_act=1)" : "");
		return -EINVAL;
	}
	return 0;
}

/* Metadata bytes after the job's buffers: one md_per_io_size slot per io_u buffer. */
static size_t rb_cmd_job_extra(struct thread_data *td)
{
	struct rb_options *o = td->eo;

	if (cns.fd < 0 || !rb_cmd_md_buffer(o))
		return 0;
	return (td->orig_buffer_size / td_max_bs(td) + 1) * o->md_per_io_size;
}

/*
 * Open the namespace in fio's setup hook (the size fio asks for next is the
 * namespace's) or at the registration when fio skipped setup.
 */
static int rb_cmd_setup_locked(struct thread_data *td)
{
	const char *path = rb_first_file(td, "backend=uring_cmd needs filename=/dev/ngXnY");
	int ret;

	if (!path)
		return -EINVAL;
	if (cns.fd >= 0) {
		if (strcmp(path, cns_path)) {
			log_err("regbuf: every job of one fio process must use the same "
				"namespace (%s, not %s)\n", cns_path, path);
			return -EINVAL;
		}
		return rb_cmd_md_check(td);	/* each job's own options */
	}
	ret = regbuf_uring_nvme_open(&cns, path, 0);
	if (ret) {
		log_err("regbuf: NVMe namespace %s: %s%s\n", path, strerror(-ret),
			ret == -ENODEV ? " (backend=uring_cmd takes a /dev/ngXnY char device)" :
			"");
		return ret;
	}
	snprintf(cns_path, sizeof(cns_path), "%s", path);
	return rb_cmd_md_check(td);
}

static int rb_cmd_get_file_size(struct thread_data *td, struct fio_file *f)
{
	(void)td;
	if (cns.fd < 0)
		return EINVAL;
	f->real_file_size = cns.nr_lbas << cns.lba_shift;
	return 0;
}

/*
 * SQ entries per I/O.  A passthrough I/O is cut into as many commands as
 * the namespace's limits ask (every 4 KiB page a DMA segment, plus a cut at
 * a kernel-buffer or chunk boundary), and regbuf_uring_nvme_prep_rw() queues
 * all of them or none: an SQ smaller than one I/O's commands would never
 * take it.
 */
static unsigned int rb_cmd_per_io(void)
{
	unsigned long long max_bs = rb_max_bs(), cmd;

	cmd = (unsigned long long)cns.lim.max_segments * 4096;
	if (cns.lim.max_bytes && cns.lim.max_bytes < cmd)
		cmd = cns.lim.max_bytes;
	return cmd ? (unsigned int)((max_bs + cmd - 1) / cmd + 2) : 1;
}

static int rb_cmd_map_locked(struct thread_data *td)
{
	struct rb_options *o = td->eo;
	char why[512] = "";
	int ret = rb_cmd_setup_locked(td);

	if (ret)
		return ret;
	if (o->hipri && !cns.poll) {
		regbuf_uring_poll_check(cns.fd, why, sizeof(why));
		log_err("regbuf: hipri: %s cannot be polled: %s\n", cns_path, why);
		return -EOPNOTSUPP;
	}
	/*
	 * Before Linux 6.13 a fixed passthrough command fails when the pages from
	 * its start to the end of its registered buffer exceed max_segments: the
	 * namespace says which kernel-buffer length this kernel takes.
	 */
	return rb_ring_map_locked(td, rb_cmd_per_io(), REGBUF_URING_POOL_F_NVME_CMD,
				  cns.max_buf_len, cns.char_name);
}

static void rb_cmd_report_locked(void)
{
	static const char *const pi[] = { "", ", PI Type 1", ", PI Type 2", ", PI Type 3" };

	rb_info("regbuf: uring_cmd %s (nsid %u): %" PRIu64 " blocks of %u B, commands of "
		"at most %" PRIu64 " KiB, kernel buffers of %" PRIu64 " KiB, %s\n",
		cns.char_name, cns.nsid, cns.nr_lbas, 1U << cns.lba_shift,
		cns.lim.max_bytes >> 10, cns.max_buf_len >> 10,
		cns.fixed ? "fixed passthrough refused: unregistered commands" :
		"fixed passthrough");
	if (cns.ms)
		rb_info("regbuf: %s: %u bytes of metadata per block, %s%s\n", cns.char_name,
			cns.ms, cns.ext ? "extended LBA" : "separate buffer", pi[cns.pi_type & 3]);
	rb_ring_report_locked();
}

/*
 * The metadata of @io_u: its slot of the job's metadata area (by its buffer's
 * place among the job's buffers), and with pi_act=0 on a write the tuple of
 * every block, the rest of the metadata zero.
 */
static void rb_cmd_md(struct thread_data *td, struct rb_data *d, struct io_u *io_u,
		      struct regbuf_uring_nvme_md *md)
{
	struct rb_options *o = td->eo;
	uint64_t lbs = UINT64_C(1) << cns.lba_shift, lba = io_u->offset >> cns.lba_shift, i;
	uint32_t off = cns.pi_first ? 0 : cns.ms - 8;
	uint8_t *m;

	memset(md, 0, sizeof(*md));
	if (cns.pi_type)
		md->prinfo = o->prchk | (o->pi_act ? REGBUF_NVME_RW_PRACT : 0);
	md->reftag = (uint32_t)lba;
	md->apptag = (uint16_t)o->apptag;
	md->appmask = (uint16_t)o->apptag_mask;
	if (!rb_cmd_md_buffer(o) || !d->md)
		return;		/* without its buffer, refused by regbuf_uring_nvme_prep_rw_md() */
	md->buf = d->md + (size_t)((char *)io_u->buf - td->orig_buffer) / td_max_bs(td) *
		  o->md_per_io_size;
	if (io_u->ddir != DDIR_WRITE || o->pi_act)
		return;
	m = md->buf;
	memset(m, 0, io_u->xfer_buflen / lbs * cns.ms);
	for (i = 0; cns.pi_type && i < io_u->xfer_buflen / lbs; i++, m += cns.ms) {
		const uint8_t *data = (const uint8_t *)io_u->xfer_buf + i * lbs;
		uint16_t guard = regbuf_nvme_crc16_t10dif(regbuf_nvme_crc16_t10dif(0, data, lbs),
							  m, off);

		regbuf_nvme_pi_set((struct regbuf_nvme_pi *)(m + off), guard, md->apptag,
				   (uint32_t)(lba + i));
	}
}

/*
 * Trim: Dataset Management with Deallocate over one range (NVM Command Set
 * 1.0, 3.2.3), the range in the arena (registered, with lazy_register on its
 * first use: a fixed command).
 * Returns 1, or -errno (-EBUSY: no range or no SQE free).
 */
static int rb_cmd_trim(struct thread_data *td, struct rb_data *d, struct io_u *io_u)
{
	uint64_t lbs = UINT64_C(1) << cns.lba_shift;
	struct regbuf_nvme_dsm_range *r;
	struct nvme_uring_cmd cmd;
	int ret;

	if (((io_u->offset | io_u->xfer_buflen) & (lbs - 1)) || !io_u->xfer_buflen ||
	    (io_u->xfer_buflen >> cns.lba_shift) > UINT32_MAX)
		return -EINVAL;
	r = rb_dsm_get(d, io_u, cns.lba_shift);
	if (!r)
		return -EBUSY;
	ret = d->o->lazy_register ? rb_ring_reach(td, r, sizeof(*r)) : 0;
	if (ret) {
		rb_dsm_put(d, io_u);
		return ret;
	}
	memset(&cmd, 0, sizeof(cmd));
	cmd.opcode = REGBUF_NVME_CMD_DSM;
	cmd.nsid = cns.nsid;
	cmd.addr = (uint64_t)(uintptr_t)r;
	cmd.data_len = sizeof(*r);
	cmd.cdw10 = 0;			/* one range (0-based) */
	cmd.cdw11 = REGBUF_NVME_DSM_AD;
	ret = regbuf_uring_nvme_prep_cmd(d->ring, &cns, &cmd, (uint64_t)(uintptr_t)io_u);
	if (ret < 0)
		rb_dsm_put(d, io_u);
	return ret;
}

/*
 * One I/O may become several commands: engine_data counts the CQEs still to
 * come, io_u->error keeps the first failure.
 */
static enum fio_q_status rb_cmd_queue(struct thread_data *td, struct io_u *io_u)
{
	struct rb_data *d = td->io_ops_data;
	uint64_t lbs = UINT64_C(1) << cns.lba_shift;
	struct regbuf_uring_nvme_md md;
	int ret;

	if (io_u->ddir == DDIR_READ || io_u->ddir == DDIR_WRITE) {
		if (io_u->offset & (lbs - 1)) {
			io_u->error = EINVAL;
			return FIO_Q_COMPLETED;
		}
		/* lazy_register: the arena's pieces under the I/O registered first */
		ret = d->o->lazy_register ? rb_ring_reach(td, io_u->xfer_buf, io_u->xfer_buflen) : 0;
		if (ret) {
			io_u->error = -ret;
			return FIO_Q_COMPLETED;
		}
		if (cns.ms)
			rb_cmd_md(td, d, io_u, &md);
		ret = regbuf_uring_nvme_prep_rw_md(d->ring, &cns, io_u->ddir == DDIR_WRITE,
						   io_u->xfer_buf, io_u->xfer_buflen,
						   io_u->offset >> cns.lba_shift, 0,
						   cns.ms ? &md : NULL, (uint64_t)(uintptr_t)io_u);
	} else if (ddir_sync(io_u->ddir)) {
		ret = regbuf_uring_nvme_prep_flush(d->ring, &cns, (uint64_t)(uintptr_t)io_u);
	} else if (io_u->ddir == DDIR_TRIM) {
		ret = rb_cmd_trim(td, d, io_u);
	} else {
		return rb_unsupported(td, io_u, "uring_cmd");
	}
	if (ret == -EBUSY)
		return FIO_Q_BUSY;
	if (ret <= 0) {
		io_u->error = ret < 0 ? -ret : EINVAL;
		return FIO_Q_COMPLETED;
	}
	io_u->error = 0;
	/* A trim's engine_data is its range (rb_dsm_get()); it is one command. */
	if (io_u->ddir != DDIR_TRIM)
		io_u->engine_data = (void *)(uintptr_t)ret;
	d->nr_ios++;
	d->nr_cmds += (uint64_t)ret;
	d->pending[d->nr_pending++] = io_u;
	return FIO_Q_QUEUED;
}

static const char *rb_cmd_name(const struct io_u *io_u)
{
	switch (io_u->ddir) {
	case DDIR_WRITE:
		return "Write";
	case DDIR_READ:
		return "Read";
	case DDIR_TRIM:
		return "Dataset Management";
	default:
		return "Flush";
	}
}

/* A passthrough CQE of @io_u: true when it was the I/O's last command. */
static bool rb_cmd_done(struct rb_data *d, struct io_u *io_u, const struct io_uring_cqe *cqe)
{
	struct regbuf_uring_nvme_cpl c;
	uintptr_t left = (uintptr_t)io_u->engine_data;
	int err = regbuf_uring_nvme_cqe(cqe, &c);

	if (err && !io_u->error) {
		io_u->error = (unsigned int)-err;
		if (c.status)
			log_err("regbuf: %s: NVMe %s of %llu bytes at %llu: status 0x%03x "
				"(SCT 0x%x, SC 0x%02x%s)\n", cns.char_name, rb_cmd_name(io_u),
				io_u->xfer_buflen, io_u->offset, c.status, c.sct, c.sc,
				c.dnr ? ", DNR" : "");
	}
	if (io_u->ddir == DDIR_TRIM) {
		rb_dsm_put(d, io_u);
		return true;
	}
	io_u->engine_data = (void *)(left - 1);
	return left == 1;
}

static unsigned int rb_cmd_reap(struct rb_data *d, unsigned int have, unsigned int min,
				unsigned int max)
{
	return rb_ring_reap(d, have, min, max, rb_cmd_done);
}

static void rb_cmd_job_cleanup(struct thread_data *td, struct rb_data *d)
{
	if (d->nr_ios)
		rb_info("regbuf: %s: job %s: %" PRIu64 " I/Os sent as %" PRIu64 " NVMe commands\n",
			cns.char_name, td->o.name, d->nr_ios, d->nr_cmds);
	rb_ring_job_cleanup(td, d);
}

static void rb_cmd_release_locked(void)
{
	rb_ring_release_locked();
	regbuf_uring_nvme_close(&cns);
}

const struct rb_ops rb_uring_cmd_ops = {
	.name = "uring_cmd",
	.raw = true,
	.lazy = true,
	.setup_locked = rb_cmd_setup_locked,
	.get_file_size = rb_cmd_get_file_size,
	.job_extra = rb_cmd_job_extra,
	.map_locked = rb_cmd_map_locked,
	.report_locked = rb_cmd_report_locked,
	.job_attach_locked = rb_ring_attach_locked,
	.job_start = rb_ring_start,
	.queue = rb_cmd_queue,
	.commit = rb_ring_commit,
	.reap = rb_cmd_reap,
	.wait = rb_ring_wait,
	.job_cleanup = rb_cmd_job_cleanup,
	.release_locked = rb_cmd_release_locked,
};
