// SPDX-License-Identifier: MIT
/*
 * uring: NVMe passthrough (IORING_OP_URING_CMD on /dev/ngXnY) with the pool's
 * registered buffers, every command cut to the namespace's queue limits.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <linux/nvme_ioctl.h>

#include <regbuf/nvme_spec.h>

#include "sys/sys.h"
#include "uring/uring.h"

#define PAGE_4K			4096u

/* Identify (06h) with @cns for @nsid into the 4 KiB @id, through the namespace's fd. */
static int identify(const struct regbuf_uring_nvme_ns *ns, uint32_t cns, uint32_t nsid,
		    uint8_t *id)
{
	struct nvme_passthru_cmd cmd;
	int ret;

	memset(id, 0, PAGE_4K);
	memset(&cmd, 0, sizeof(cmd));
	cmd.opcode = REGBUF_NVME_ADM_IDENTIFY;
	cmd.nsid = nsid;
	cmd.addr = (uint64_t)(uintptr_t)id;
	cmd.data_len = PAGE_4K;
	cmd.cdw10 = cns;
	ret = sys_ioctl(ns->fd, NVME_IOCTL_ADMIN_CMD, &cmd);
	return ret > 0 ? -EIO : ret;	/* > 0: an NVMe status */
}

/* Identify Namespace (CNS 00h): size and the LBA format in use. */
static int identify_ns(struct regbuf_uring_nvme_ns *ns)
{
	struct regbuf_nvme_id_ns id_ns;
	uint8_t *id;
	int ret;

	id = aligned_alloc(PAGE_4K, PAGE_4K);
	if (!id)
		return -ENOMEM;
	ret = identify(ns, REGBUF_NVME_ID_CNS_NS, ns->nsid, id);
	if (ret < 0)
		goto out_free;
	ret = regbuf_nvme_id_ns_parse(&id_ns, id);
	if (ret)
		goto out_free;
	ns->nr_lbas = id_ns.nsze;
	ns->lba_shift = (uint32_t)__builtin_ctz(id_ns.lba_size);
	ns->ms = id_ns.ms;
	ns->ext = id_ns.ext;
	ns->pi_type = id_ns.pi_type;
	ns->pi_first = id_ns.pi_first;
	ns->blk_bytes = id_ns.lba_size + (ns->ext ? id_ns.ms : 0);
out_free:
	free(id);
	return ret;
}

/*
 * Bound @ns->lim.max_bytes by what the controller takes, from Identify
 * Controller (CNS 01h).  MDTS is a power of two in units of CAP.MPSMIN (NVMe
 * Base 2.0, 5.17.2.1); CAP is not reachable through passthrough, so 4 KiB
 * (MPSMIN 0, the smallest) makes a bound that is never above the real one.
 * The host kernel already applies a non-zero MDTS to max_hw_sectors; it is
 * applied again here because the sysfs value is the host's, and a fabrics
 * host does not bound it by the target at all.
 *
 * A fabrics controller (IOCCSZ non-zero: NVMe over Fabrics 1.1, 4.1) with
 * MDTS 0 reports no limit, and the host then shows max_hw_sectors_kb
 * 2147483647; yet the target has one that it does not advertise (Linux's
 * nvmet-tcp fails commands over 4 MiB with Data SGL Length Invalid).  With
 * nothing reported, commands are cut to the block path's own limit,
 * max_sectors_kb: the size every read and write of the block device is split
 * to, so a size the target is known to take.
 */
static int bound_by_ctrl(struct regbuf_uring_nvme_ns *ns)
{
	struct regbuf_nvme_id_ctrl ic;
	uint64_t v;
	uint8_t *id;
	int ret;

	id = aligned_alloc(PAGE_4K, PAGE_4K);
	if (!id)
		return -ENOMEM;
	ret = identify(ns, REGBUF_NVME_ID_CNS_CTRL, 0, id);
	if (!ret)
		ret = regbuf_nvme_id_ctrl_parse(&ic, id, 0);
	free(id);
	if (ret < 0)
		return ret;
	ns->mdts_bytes = ic.mdts_bytes;
	ns->fabrics = ic.ioccsz != 0;
	if (ns->mdts_bytes && ns->mdts_bytes < ns->lim.max_bytes)
		ns->lim.max_bytes = ns->mdts_bytes;
	if (ns->fabrics && !ns->mdts_bytes) {
		ret = uring_queue_read_u64(ns->blk_name, "max_sectors_kb", &v);
		if (ret)
			return ret;
		if (v && v << 10 < ns->lim.max_bytes)
			ns->lim.max_bytes = v << 10;
	}
	return regbuf_limits_validate(&ns->lim);
}

/* Zero a 128-byte SQE: the 64-byte head and the 80-byte command area from byte 48. */
static void sqe_clear(struct io_uring_sqe *sqe)
{
	memset(sqe, 0, sizeof(*sqe));
	memset(sqe->cmd, 0, sizeof(struct nvme_uring_cmd));
}

/* A zeroed 128-byte SQE for NVME_URING_CMD_IO on @fd, or NULL when the SQ is full. */
static struct io_uring_sqe *cmd_sqe(struct io_uring *ring, int fd, uint64_t user_data)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(ring);

	if (!sqe)
		return NULL;
	sqe_clear(sqe);
	sqe->opcode = IORING_OP_URING_CMD;
	sqe->fd = fd;
	sqe->cmd_op = NVME_URING_CMD_IO;
	sqe->user_data = user_data;
	return sqe;
}

/* The NVMe command in a 128-byte SQE (struct nvme_uring_cmd, 72 of its 80 bytes). */
static struct nvme_uring_cmd *sqe_cmd(struct io_uring_sqe *sqe)
{
	return (struct nvme_uring_cmd *)sqe->cmd;
}

/* One-block fixed read at the start of a @pages page buffer: 0 or the CQE's -errno. */
static int probe_fixed_read(const struct regbuf_uring_nvme_ns *ns, struct io_uring *ring,
			    uint32_t pages)
{
	struct nvme_uring_cmd *cmd;
	struct io_uring_sqe *sqe;
	struct io_uring_cqe *cqe;
	struct iovec iov;
	void *buf, *md = NULL;
	int ret;

	iov.iov_len = (size_t)pages * PAGE_4K;
	buf = aligned_alloc(PAGE_4K, iov.iov_len);
	if (!buf)
		return -ENOMEM;
	memset(buf, 0, iov.iov_len);
	if (ns->ms && !ns->ext) {
		md = calloc(1, ns->ms);
		if (!md) {
			ret = -ENOMEM;
			goto out_free;
		}
	}
	iov.iov_base = buf;
	ret = io_uring_register_buffers(ring, &iov, 1);
	if (ret)
		goto out_free;
	sqe = cmd_sqe(ring, ns->fd, 0);
	if (!sqe) {
		ret = -EBUSY;
		goto out_unregister;
	}
	sqe->uring_cmd_flags = IORING_URING_CMD_FIXED;
	cmd = sqe_cmd(sqe);
	cmd->opcode = REGBUF_NVME_CMD_READ;
	cmd->nsid = ns->nsid;
	cmd->addr = (uint64_t)(uintptr_t)buf;
	cmd->data_len = ns->blk_bytes;
	if (md) {
		/* never a read without its metadata buffer: MPTR 0 is an address */
		cmd->metadata = (uint64_t)(uintptr_t)md;
		cmd->metadata_len = ns->ms;
	}
	ret = io_uring_submit_and_wait(ring, 1);
	if (ret >= 0)
		ret = io_uring_wait_cqe(ring, &cqe);
	if (ret >= 0) {
		ret = cqe->res > 0 ? -EIO : cqe->res;
		io_uring_cqe_seen(ring, cqe);
	}
out_unregister:
	io_uring_unregister_buffers(ring);
out_free:
	free(md);
	free(buf);
	return ret;
}

static uint64_t pow2_floor(uint64_t x)
{
	while (x & (x - 1))
		x &= x - 1;
	return x;
}

/*
 * Fixed passthrough on this kernel.  Before Linux 6.13, io_import_fixed()
 * hands the block layer an iterator whose nr_segs is every page from the
 * I/O's start to the end of the registered buffer, and blk_rq_map_user_bvec()
 * fails the command with -EINVAL when that exceeds max_segments: registered
 * buffers must then be at most max_segments pages long.  Tried, not guessed.
 */
static void probe_fixed(struct regbuf_uring_nvme_ns *ns)
{
	uint32_t blk_pages = (ns->blk_bytes + PAGE_4K - 1) / PAGE_4K;
	uint64_t small = pow2_floor((uint64_t)ns->lim.max_segments * PAGE_4K);
	struct io_uring ring;
	int ret;

	if (small > REGBUF_BUF_MAX_LEN)
		small = REGBUF_BUF_MAX_LEN;
	ns->max_buf_len = small;
	ret = io_uring_queue_init(2, &ring, IORING_SETUP_SQE128 | IORING_SETUP_CQE32);
	if (ret) {
		ns->fixed = ret;
		return;
	}
	ns->fixed = probe_fixed_read(ns, &ring, blk_pages);
	/* A longer trial buffer than 16 MiB would press on RLIMIT_MEMLOCK: keep
	 * the small slots, which every kernel takes. */
	if (!ns->fixed && ns->lim.max_segments < 4096 &&
	    probe_fixed_read(ns, &ring, ns->lim.max_segments + blk_pages) == 0)
		ns->max_buf_len = REGBUF_BUF_MAX_LEN;
	io_uring_queue_exit(&ring);
}

int regbuf_uring_nvme_open(struct regbuf_uring_nvme_ns *ns, const char *path, unsigned int flags)
{
	struct stat st;
	int ret;

	if (!ns || !path || flags)
		return -EINVAL;
	memset(ns, 0, sizeof(*ns));
	ns->fd = -1;
	if (stat(path, &st))
		return -errno;
	if (!S_ISCHR(st.st_mode))
		return -ENODEV;
	ret = uring_nvme_generic_name(st.st_rdev, ns->char_name, sizeof(ns->char_name));
	if (ret)
		return ret;
	/* ngXnY and nvmeXnY are named from the same instance numbers (nvme-core). */
	snprintf(ns->blk_name, sizeof(ns->blk_name), "nvme%s", ns->char_name + 2);
	ret = sys_open(path, O_RDWR);
	if (ret < 0)
		return ret;
	ns->fd = ret;
	ret = sys_ioctl(ns->fd, NVME_IOCTL_ID, NULL);
	if (ret < 0)
		goto out_close;
	ns->nsid = (uint32_t)ret;
	ret = identify_ns(ns);
	if (ret)
		goto out_close;
	ret = regbuf_uring_nvme_read_limits(&ns->lim, &ns->chunk_bytes, ns->blk_name);
	if (ret)
		goto out_close;
	ns->lim.logical_block_size = 1U << ns->lba_shift;
	ret = bound_by_ctrl(ns);
	if (ret)
		goto out_close;
	probe_fixed(ns);
	ns->poll = !regbuf_uring_poll_check(ns->fd, NULL, 0);
	return 0;

out_close:
	close(ns->fd);
	ns->fd = -1;
	return ret;
}

void regbuf_uring_nvme_close(struct regbuf_uring_nvme_ns *ns)
{
	if (ns && ns->fd >= 0) {
		close(ns->fd);
		ns->fd = -1;
	}
}

static bool ring_is_cmd(const struct regbuf_uring_ring *r)
{
	return (r->ring.flags & (IORING_SETUP_SQE128 | IORING_SETUP_CQE32)) ==
	       (IORING_SETUP_SQE128 | IORING_SETUP_CQE32);
}

/* A polling ring reaches the namespace only through poll queues (regbuf_uring_poll_check()). */
static bool poll_refused(const struct regbuf_uring_ring *r, const struct regbuf_uring_nvme_ns *ns)
{
	return r->iopoll && !ns->poll;
}

static bool use_fixed(const struct regbuf_uring_ring *r, const struct regbuf_uring_nvme_ns *ns)
{
	return __atomic_load_n(&r->fixed, __ATOMIC_RELAXED) && !ns->fixed;
}

/* The piece index in user_data (DOC: user_data bits). */
static uint64_t piece_data(uint64_t user_data, uint32_t piece)
{
	return user_data | ((uint64_t)piece << REGBUF_URING_PIECE_SHIFT);
}

/* Blocks in @bytes of the data buffer, and what is left over: a shift unless
 * blocks carry their metadata (extended LBA, not a power of two). */
static inline uint64_t ns_blocks(const struct regbuf_uring_nvme_ns *ns, uint64_t bytes)
{
	return REGBUF_LIKELY(!ns->ext) ? bytes >> ns->lba_shift : bytes / ns->blk_bytes;
}

static inline uint64_t ns_rem(const struct regbuf_uring_nvme_ns *ns, uint64_t bytes)
{
	return REGBUF_LIKELY(!ns->ext) ? bytes & ((UINT64_C(1) << ns->lba_shift) - 1) :
					 bytes % ns->blk_bytes;
}

/*
 * Bytes of the next command at @addr/@lba, at most @left, and its slot.
 * The walk of regbuf_seg_split() over one virtually contiguous segment, with
 * every 4 KiB page counted as a DMA segment of its own: the most the kernel's
 * bvecs (a page each, or a folio each after coalescing) can need.
 */
static int64_t next_cmd(const struct regbuf_uring_ring *r, const struct regbuf_uring_nvme_ns *ns,
			uint64_t addr, uint64_t left, uint64_t lba, uint32_t *slot)
{
	struct regbuf_limits lim = ns->lim;
	uint64_t blk = ns->blk_bytes;
	struct regbuf_seg_iter it;
	struct regbuf_seg seg;
	int64_t n;

	*slot = 0;
	if (use_fixed(r, ns)) {
		n = regbuf_uring_find(r, addr, left, slot);
		if (n < 0)
			return n;
		/* One command, one kernel buffer: a block across two cannot be sent. */
		if ((uint64_t)n < left && ns_rem(ns, (uint64_t)n))
			return -EINVAL;
		left = (uint64_t)n;
		if (ns->max_buf_len < REGBUF_BUF_MAX_LEN) {
			/* blk_rq_map_user_bvec() before 6.13: pages to the buffer's end. */
			int64_t rest = regbuf_uring_find(r, addr, UINT64_MAX, slot);

			if (((addr & (PAGE_4K - 1)) + (uint64_t)rest + PAGE_4K - 1) / PAGE_4K >
			    ns->lim.max_segments)
				return -E2BIG;
		}
	}
	if (lim.max_segment_size > PAGE_4K)
		lim.max_segment_size = PAGE_4K;
	if (lim.seg_boundary_mask > PAGE_4K - 1)
		lim.seg_boundary_mask = PAGE_4K - 1;
	if (lim.max_bytes > (uint64_t)REGBUF_NVME_MAX_NLB * blk)
		lim.max_bytes = (uint64_t)REGBUF_NVME_MAX_NLB * blk;
	regbuf_seg_set(&seg, addr, left);
	regbuf_seg_iter_init(&it, &seg, 1, left);
	n = regbuf_seg_split(&it, &lim, NULL, 0);
	if (n <= 0)
		return n < 0 ? n : -EINVAL;
	/* Extended LBAs: whole blocks of data and metadata, which the split
	 * (on logical-block multiples) does not know of. */
	n -= (int64_t)ns_rem(ns, (uint64_t)n);
	if (!n)
		return -EINVAL;
	if (ns->chunk_bytes) {
		uint64_t room = ns->chunk_bytes - ((lba << ns->lba_shift) % ns->chunk_bytes);

		room = (room >> ns->lba_shift) * blk;
		if ((uint64_t)n > room)
			n = (int64_t)room;
	}
	return n;
}

/*
 * Walk the commands of a transfer as regbuf_uring_nvme_prep_rw() cuts it, up
 * to command @stop (UINT32_MAX: all): their count, or -errno.  With @stop,
 * *@io_off and *@cmd_len describe that command.
 */
static int walk_cmds(const struct regbuf_uring_ring *r, const struct regbuf_uring_nvme_ns *ns,
		     uint64_t addr, uint64_t len, uint64_t slba, uint32_t stop, uint64_t *io_off,
		     uint64_t *cmd_len)
{
	uint64_t left, lba;
	uint32_t slot, nr = 0;
	int64_t n;

	for (left = len, lba = slba; left; left -= (uint64_t)n, lba += ns_blocks(ns, (uint64_t)n)) {
		if (nr == REGBUF_URING_MAX_PIECES)
			return -E2BIG;
		n = next_cmd(r, ns, addr + (len - left), left, lba, &slot);
		if (n < 0)
			return (int)n;
		if (nr == stop) {
			*io_off = len - left;
			*cmd_len = (uint64_t)n;
			return (int)nr + 1;
		}
		nr++;
	}
	return stop == UINT32_MAX ? (int)nr : -ERANGE;
}

/* A transfer regbuf_uring_nvme_prep_rw() can cut: 0 or -EINVAL. */
static int check_rw(const struct regbuf_uring_ring *r, const struct regbuf_uring_nvme_ns *ns,
		    uint64_t addr, uint64_t len)
{
	if (!r || !ns || !ring_is_cmd(r))
		return -EINVAL;
	if (!len || ns_rem(ns, len) || (addr & ns->lim.dma_alignment))
		return -EINVAL;
	return 0;
}

int regbuf_uring_nvme_piece(const struct regbuf_uring_ring *r,
			    const struct regbuf_uring_nvme_ns *ns, const void *buf, uint64_t len,
			    uint64_t slba, uint32_t piece, uint64_t *io_off, uint64_t *piece_len)
{
	uint64_t addr = (uint64_t)(uintptr_t)buf;
	int ret = check_rw(r, ns, addr, len);

	if (!ret && (!io_off || !piece_len || piece == UINT32_MAX))
		ret = -EINVAL;
	if (!ret)
		ret = walk_cmds(r, ns, addr, len, slba, piece, io_off, piece_len);
	return ret < 0 ? ret : 0;
}

int regbuf_uring_nvme_prep_rw(struct regbuf_uring_ring *r, const struct regbuf_uring_nvme_ns *ns,
			      bool write, void *buf, uint64_t len, uint64_t slba,
			      unsigned int flags, uint64_t user_data)
{
	return regbuf_uring_nvme_prep_rw_md(r, ns, write, buf, len, slba, flags, NULL, user_data);
}

int regbuf_uring_nvme_prep_rw_md(struct regbuf_uring_ring *r,
				 const struct regbuf_uring_nvme_ns *ns, bool write, void *buf,
				 uint64_t len, uint64_t slba, unsigned int flags,
				 const struct regbuf_uring_nvme_md *md, uint64_t user_data)
{
	uint64_t addr = (uint64_t)(uintptr_t)buf, left, lba;
	uint32_t slot, nr, nlb, piece = 0;
	int64_t n;
	int ret;

	if ((flags & ~REGBUF_URING_NVME_F_FUA) || (user_data & ~REGBUF_URING_USER_DATA_MASK))
		return -EINVAL;
	ret = check_rw(r, ns, addr, len);
	if (ret)
		return ret;
	ret = regbuf_nvme_md_check(ns->ms, ns->ext, ns->pi_type, md && md->buf,
				   md ? md->prinfo : 0);
	if (ret)
		return ret;
	if (poll_refused(r, ns))
		return -EOPNOTSUPP;
	/* First pass: every command must fit in the SQ, or none is queued. */
	ret = walk_cmds(r, ns, addr, len, slba, UINT32_MAX, NULL, NULL);
	if (ret < 0)
		return ret;
	nr = (uint32_t)ret;
	if (io_uring_sq_space_left(&r->ring) < nr)
		return -EBUSY;
	for (left = len, lba = slba; left; left -= (uint64_t)n, lba += ns_blocks(ns, (uint64_t)n)) {
		struct io_uring_sqe *sqe;
		struct nvme_uring_cmd *cmd;
		uint32_t prinfo = md ? md->prinfo : 0;

		n = next_cmd(r, ns, addr + (len - left), left, lba, &slot);
		/*
		 * The map changed since the first pass (a caller's bug: I/O on
		 * memory being shrunk): the rest goes in the last SQE the SQ has
		 * room for, with no slot, and the kernel refuses it with -EFAULT.
		 */
		if (n < 0 || (piece == nr - 1 && (uint64_t)n != left)) {
			n = (int64_t)left;
			slot = UINT16_MAX;
		}
		sqe = cmd_sqe(&r->ring, ns->fd, piece_data(user_data, piece++));
		if (!sqe)
			return -EBUSY;	/* not reached: the room was checked */
		cmd = sqe_cmd(sqe);
		if (use_fixed(r, ns)) {
			sqe->uring_cmd_flags = IORING_URING_CMD_FIXED;
			sqe->buf_index = (uint16_t)slot;
		}
		nlb = (uint32_t)ns_blocks(ns, (uint64_t)n);
		cmd->opcode = write ? REGBUF_NVME_CMD_WRITE : REGBUF_NVME_CMD_READ;
		cmd->nsid = ns->nsid;
		cmd->addr = addr + (len - left);
		cmd->data_len = (uint32_t)n;
		cmd->cdw10 = (uint32_t)lba;
		cmd->cdw11 = (uint32_t)(lba >> 32);
		cmd->cdw12 = regbuf_nvme_rw_cdw12(nlb, prinfo | ((flags & REGBUF_URING_NVME_F_FUA) ?
								 REGBUF_NVME_RW_FUA : 0));
		if (md) {
			/* this command's part of the metadata, and the reference
			 * tag of its first block (Type 1 and 2 count up per block) */
			if (md->buf) {
				cmd->metadata = (uint64_t)(uintptr_t)md->buf + (lba - slba) * ns->ms;
				cmd->metadata_len = nlb * ns->ms;
			}
			cmd->cdw14 = md->reftag + (uint32_t)(lba - slba);
			cmd->cdw15 = md->apptag | (uint32_t)md->appmask << 16;
		}
	}
	return (int)nr;
}

int regbuf_uring_nvme_prep_write_zeroes(struct regbuf_uring_ring *r,
					const struct regbuf_uring_nvme_ns *ns, uint64_t slba,
					uint64_t nr_lbas, uint64_t user_data)
{
	uint64_t nr = (nr_lbas + REGBUF_NVME_MAX_NLB - 1) / REGBUF_NVME_MAX_NLB, i;

	if (!r || !ns || !ring_is_cmd(r) || !nr_lbas ||
	    (user_data & ~REGBUF_URING_USER_DATA_MASK))
		return -EINVAL;
	if (poll_refused(r, ns))
		return -EOPNOTSUPP;
	if (nr > REGBUF_URING_MAX_PIECES)
		return -E2BIG;
	if (io_uring_sq_space_left(&r->ring) < nr)
		return -EBUSY;
	for (i = 0; i < nr; i++) {
		uint64_t lba = slba + i * REGBUF_NVME_MAX_NLB;
		uint64_t nlb = nr_lbas - i * REGBUF_NVME_MAX_NLB;
		struct nvme_uring_cmd *cmd;
		struct io_uring_sqe *sqe;

		if (nlb > REGBUF_NVME_MAX_NLB)
			nlb = REGBUF_NVME_MAX_NLB;
		sqe = cmd_sqe(&r->ring, ns->fd, piece_data(user_data, (uint32_t)i));
		if (!sqe)
			return -EBUSY;	/* not reached: the room was checked */
		cmd = sqe_cmd(sqe);
		cmd->opcode = REGBUF_NVME_CMD_WRITE_ZEROES;
		cmd->nsid = ns->nsid;
		cmd->cdw10 = (uint32_t)lba;
		cmd->cdw11 = (uint32_t)(lba >> 32);
		cmd->cdw12 = regbuf_nvme_rw_cdw12((uint32_t)nlb, 0);
	}
	return (int)nr;
}

int regbuf_uring_nvme_prep_flush(struct regbuf_uring_ring *r,
				 const struct regbuf_uring_nvme_ns *ns, uint64_t user_data)
{
	struct nvme_uring_cmd *cmd;
	struct io_uring_sqe *sqe;

	if (!r || !ns || !ring_is_cmd(r) || (user_data & ~REGBUF_URING_USER_DATA_MASK))
		return -EINVAL;
	if (poll_refused(r, ns))
		return -EOPNOTSUPP;
	sqe = cmd_sqe(&r->ring, ns->fd, user_data);
	if (!sqe)
		return -EBUSY;
	cmd = sqe_cmd(sqe);
	cmd->opcode = REGBUF_NVME_CMD_FLUSH;
	cmd->nsid = ns->nsid;
	return 1;
}

int regbuf_uring_nvme_prep_cmd(struct regbuf_uring_ring *r, const struct regbuf_uring_nvme_ns *ns,
			       const struct nvme_uring_cmd *cmd, uint64_t user_data)
{
	struct nvme_uring_cmd *c;
	struct io_uring_sqe *sqe;
	uint32_t slot = 0;
	bool fixed = false;

	if (!r || !ns || !cmd || !ring_is_cmd(r) || (user_data & ~REGBUF_URING_USER_DATA_MASK))
		return -EINVAL;
	if (poll_refused(r, ns))
		return -EOPNOTSUPP;
	if (cmd->data_len && use_fixed(r, ns)) {
		if (regbuf_uring_find(r, cmd->addr, cmd->data_len, &slot) != cmd->data_len)
			return -EFAULT;
		fixed = true;
	}
	sqe = cmd_sqe(&r->ring, ns->fd, user_data);
	if (!sqe)
		return -EBUSY;
	c = sqe_cmd(sqe);
	*c = *cmd;
	if (fixed) {
		sqe->uring_cmd_flags = IORING_URING_CMD_FIXED;
		sqe->buf_index = (uint16_t)slot;
	}
	return 1;
}

int64_t regbuf_uring_nvme_rw_wait(struct regbuf_uring_ring *r,
				  const struct regbuf_uring_nvme_ns *ns, bool write, void *buf,
				  uint64_t len, uint64_t slba, unsigned int flags,
				  struct regbuf_uring_nvme_cpl *cpl)
{
	struct regbuf_uring_nvme_cpl c;
	struct io_uring_cqe *cqe;
	int64_t ret = 0;
	int n, err;

	if (cpl)
		memset(cpl, 0, sizeof(*cpl));
	n = regbuf_uring_nvme_prep_rw(r, ns, write, buf, len, slba, flags, 0);
	if (n < 0)
		return n;
	err = io_uring_submit(&r->ring);
	if (err < 0)
		return err;	/* the SQEs stay queued; the ring is the caller's */
	while (n) {
		err = io_uring_wait_cqe(&r->ring, &cqe);
		if (err < 0)
			return err;
		if (regbuf_uring_cqe_is_tag(cqe)) {
			regbuf_uring_ring_count_tag(r, cqe);
		} else {
			err = regbuf_uring_nvme_cqe(cqe, &c);
			if (err && !ret) {
				ret = err;
				if (cpl)
					*cpl = c;
			}
			n--;
		}
		io_uring_cqe_seen(&r->ring, cqe);
	}
	return ret ? ret : (int64_t)len;
}
