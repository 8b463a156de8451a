// SPDX-License-Identifier: MIT
/*
 * unit: NVMe passthrough SQEs - the layout against the kernel's uapi
 * (linux/io_uring.h, linux/nvme_ioctl.h), the fields written for every
 * command, the cuts by queue limits, slots and chunks, and CQE decoding.
 * SQEs are prepared in a real 128-byte-SQE ring and read back, never submitted.
 */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <linux/nvme_ioctl.h>
#include <regbuf/uring.h>

#include "harness.h"

#define KiB (UINT64_C(1) << 10)
#define MiB (UINT64_C(1) << 20)

#define BASE UINT64_C(0x7f0000000000)

/* uapi values (include/uapi/linux/io_uring.h, nvme_ioctl.h): ABI, never renumbered. */
#define OP_URING_CMD 46

struct env {
	struct regbuf_uring_ring r;
	struct regbuf_uring_nvme_ns ns;
};

/* A ring of @entries 128-byte SQEs, with a map of @nr slots of @slot_len from BASE. */
static int env_init(struct env *e, uint32_t entries, uint32_t nr, uint64_t slot_len)
{
	struct regbuf_uring_map *m;
	uint32_t i;
	int ret;

	memset(e, 0, sizeof(*e));
	ret = io_uring_queue_init(entries, &e->r.ring, IORING_SETUP_SQE128 | IORING_SETUP_CQE32);
	if (ret)
		return ret;
	m = calloc(1, sizeof(*m) + nr * sizeof(m->e[0]));
	if (!m)
		return -ENOMEM;
	m->nr = nr;
	m->cap = nr;
	for (i = 0; i < nr; i++)
		m->e[i] = (struct regbuf_uring_slotref){ BASE + i * slot_len, slot_len, i };
	e->r.map = m;
	e->r.fixed = true;
	e->ns.fd = 5;
	e->ns.nsid = 7;
	e->ns.lba_shift = 9;
	e->ns.blk_bytes = 512;
	e->ns.nr_lbas = 1 << 20;
	regbuf_limits_default(&e->ns.lim);
	e->ns.lim.max_bytes = 128 * KiB;
	e->ns.lim.max_segments = 33;
	e->ns.lim.max_segment_size = UINT32_MAX;
	e->ns.lim.virt_boundary_mask = 4095;
	e->ns.lim.dma_alignment = 3;
	e->ns.max_buf_len = REGBUF_BUF_MAX_LEN;
	return 0;
}

static void env_fini(struct env *e)
{
	free(e->r.map);
	io_uring_queue_exit(&e->r.ring);
}

/* The i-th SQE queued since the ring was created (nothing is ever submitted here). */
static const uint8_t *sqe_at(struct env *e, unsigned int i)
{
	return (const uint8_t *)e->r.ring.sq.sqes + (size_t)i * 128;
}

static uint32_t rd32(const uint8_t *p, size_t off)
{
	uint32_t v;

	memcpy(&v, p + off, sizeof(v));
	return v;
}

static uint64_t rd64(const uint8_t *p, size_t off)
{
	uint64_t v;

	memcpy(&v, p + off, sizeof(v));
	return v;
}

/* struct nvme_uring_cmd offsets inside the SQE's command area (SQE byte 48). */
#define C(off) (48 + (off))

static int layout_uapi(void)
{
	/* struct io_uring_sqe: where the kernel's io_uring_cmd_prep() reads. */
	t_check_eq(offsetof(struct io_uring_sqe, opcode), 0);
	t_check_eq(offsetof(struct io_uring_sqe, fd), 4);
	t_check_eq(offsetof(struct io_uring_sqe, cmd_op), 8);
	t_check_eq(offsetof(struct io_uring_sqe, uring_cmd_flags), 28);
	t_check_eq(offsetof(struct io_uring_sqe, user_data), 32);
	t_check_eq(offsetof(struct io_uring_sqe, buf_index), 40);
	t_check_eq(offsetof(struct io_uring_sqe, cmd), 48);
	t_check_eq(IORING_OP_URING_CMD, OP_URING_CMD);
	t_check_eq(IORING_URING_CMD_FIXED, 1);
	/* struct nvme_uring_cmd fits the 80 bytes of a 128-byte SQE. */
	t_check_eq(sizeof(struct nvme_uring_cmd), 72);
	t_check(sizeof(struct nvme_uring_cmd) <= 128 - 48);
	t_check_eq(offsetof(struct nvme_uring_cmd, opcode), 0);
	t_check_eq(offsetof(struct nvme_uring_cmd, nsid), 4);
	t_check_eq(offsetof(struct nvme_uring_cmd, addr), 24);
	t_check_eq(offsetof(struct nvme_uring_cmd, data_len), 36);
	t_check_eq(offsetof(struct nvme_uring_cmd, cdw10), 40);
	t_check_eq(offsetof(struct nvme_uring_cmd, cdw11), 44);
	t_check_eq(offsetof(struct nvme_uring_cmd, cdw12), 48);
	t_check_eq(offsetof(struct nvme_uring_cmd, timeout_ms), 64);
	/* _IOWR('N', 0x80, struct nvme_uring_cmd): the size is part of the number. */
	t_check_eq(NVME_URING_CMD_IO, 0xc0484e80u);
	return T_PASS;
}

static int prep_read_fields(void)
{
	struct env e;
	const uint8_t *s;

	t_ok(env_init(&e, 8, 2, MiB));
	t_check_eq(regbuf_uring_nvme_prep_rw(&e.r, &e.ns, false, (void *)(uintptr_t)(BASE + MiB + 512),
					     64 * KiB, UINT64_C(0x100000010), 0, 99), 1);
	s = sqe_at(&e, 0);
	t_check_eq(s[0], OP_URING_CMD);
	t_check_eq(rd32(s, 4), 5);				/* fd */
	t_check_eq(rd32(s, 8), NVME_URING_CMD_IO);		/* cmd_op */
	t_check_eq(rd32(s, 28), IORING_URING_CMD_FIXED);	/* uring_cmd_flags */
	t_check_eq(rd64(s, 32), 99);				/* user_data */
	t_check_eq(s[40] | s[41] << 8, 1);			/* buf_index: slot 1 */
	t_check_eq(s[C(0)], 0x02);				/* Read */
	t_check_eq(rd32(s, C(4)), 7);				/* nsid */
	t_check_eq(rd64(s, C(24)), BASE + MiB + 512);		/* addr */
	t_check_eq(rd32(s, C(36)), 64 * KiB);			/* data_len */
	t_check_eq(rd32(s, C(40)), 0x10);			/* cdw10: SLBA 31:0 */
	t_check_eq(rd32(s, C(44)), 1);				/* cdw11: SLBA 63:32 */
	t_check_eq(rd32(s, C(48)), 127);			/* cdw12: NLB 0-based */
	t_check_eq(rd32(s, C(32)), 0);				/* metadata_len */
	t_check_eq(rd64(s, C(16)), 0);				/* metadata */
	env_fini(&e);
	return T_PASS;
}

/* Commands [first, first + n): contiguous memory and LBAs, each within @max_pages pages. */
static int check_run(struct env *e, unsigned int first, unsigned int n, uint64_t addr,
		     uint64_t len, uint64_t slba, uint8_t op, uint32_t extra, uint64_t max_pages)
{
	uint64_t done = 0, ud = rd64(sqe_at(e, first), 32), io_off, plen;
	unsigned int i;

	for (i = first; i < first + n; i++) {
		const uint8_t *s = sqe_at(e, i);
		uint64_t a = rd64(s, C(24)), l = rd32(s, C(36));
		uint64_t lba = rd32(s, C(40)) | (uint64_t)rd32(s, C(44)) << 32;
		uint32_t cdw12 = rd32(s, C(48));

		/* Command i - first is piece i - first of the transfer, and says so. */
		if (rd64(s, 32) != (ud | (uint64_t)(i - first) << REGBUF_URING_PIECE_SHIFT))
			return T_FAILF("command %u: user_data %#llx, first %#llx", i,
				       (unsigned long long)rd64(s, 32), (unsigned long long)ud);
		if (regbuf_uring_nvme_piece(&e->r, &e->ns, (void *)(uintptr_t)addr, len, slba,
					    i - first, &io_off, &plen) || io_off != done ||
		    plen != l)
			return T_FAILF("command %u: regbuf_uring_nvme_piece() disagrees", i);

		if (s[C(0)] != op || a != addr + done || lba != slba + (done >> 9))
			return T_FAILF("command %u: op %u addr %#llx lba %llu", i, s[C(0)],
				       (unsigned long long)a, (unsigned long long)lba);
		if ((cdw12 & 0xffff) + 1 != l >> 9 || (cdw12 & ~0xffffu) != extra || (l & 511))
			return T_FAILF("command %u: cdw12 %#x for %llu bytes", i, cdw12,
				       (unsigned long long)l);
		if (((a & 4095) + l + 4095) / 4096 > max_pages || l > e->ns.lim.max_bytes)
			return T_FAILF("command %u: %llu bytes at %#llx exceed the limits", i,
				       (unsigned long long)l, (unsigned long long)a);
		done += l;
	}
	t_check_eq(done, len);
	t_check_eq(regbuf_uring_nvme_piece(&e->r, &e->ns, (void *)(uintptr_t)addr, len, slba, n,
					   &io_off, &plen), -ERANGE);
	return T_PASS;
}

static int split_max_bytes_fua(void)
{
	struct env e;
	int n, ret;

	t_ok(env_init(&e, 16, 1, 4 * MiB));
	n = regbuf_uring_nvme_prep_rw(&e.r, &e.ns, true, (void *)(uintptr_t)BASE, MiB, 1000,
				      REGBUF_URING_NVME_F_FUA, 1);
	t_check_eq(n, 8);
	ret = check_run(&e, 0, 8, BASE, MiB, 1000, 0x01, 1U << 30, 33);
	env_fini(&e);
	return ret;
}

static int split_max_segments_unaligned(void)
{
	uint64_t addr = BASE + 2048, len = 64 * KiB;
	struct env e;
	int n, ret;

	t_ok(env_init(&e, 64, 1, 4 * MiB));
	e.ns.lim.max_segments = 4;
	n = regbuf_uring_nvme_prep_rw(&e.r, &e.ns, false, (void *)(uintptr_t)addr, len, 0, 0, 1);
	t_check(n > 0);
	/* 4 pages per command; the first one starts 2 KiB into a page: 14 KiB. */
	t_check_eq(rd32(sqe_at(&e, 0), C(36)), 14 * KiB);
	ret = check_run(&e, 0, (unsigned int)n, addr, len, 0, 0x02, 0, 4);
	env_fini(&e);
	return ret;
}

static int split_slot_boundary(void)
{
	struct env e;
	int ret;

	t_ok(env_init(&e, 8, 4, 64 * KiB));
	/* 96 KiB from 32 KiB into slot 0: 32 KiB in slot 0, 64 KiB in slot 1. */
	t_check_eq(regbuf_uring_nvme_prep_rw(&e.r, &e.ns, false,
					     (void *)(uintptr_t)(BASE + 32 * KiB), 96 * KiB, 0, 0, 1),
		   2);
	t_check_eq(sqe_at(&e, 0)[40], 0);
	t_check_eq(sqe_at(&e, 1)[40], 1);
	t_check_eq(rd32(sqe_at(&e, 0), C(36)), 32 * KiB);
	ret = check_run(&e, 0, 2, BASE + 32 * KiB, 96 * KiB, 0, 0x02, 0, 33);
	env_fini(&e);
	return ret;
}

static int split_chunk(void)
{
	struct env e;
	int ret;

	t_ok(env_init(&e, 8, 1, MiB));
	e.ns.chunk_bytes = 64 * KiB;
	/* LBA 100 is 50 KiB into a 64 KiB chunk: 14 KiB, then the rest. */
	t_check_eq(regbuf_uring_nvme_prep_rw(&e.r, &e.ns, true, (void *)(uintptr_t)BASE, 64 * KiB,
					     100, 0, 1),
		   2);
	t_check_eq(rd32(sqe_at(&e, 0), C(36)), 14 * KiB);
	ret = check_run(&e, 0, 2, BASE, 64 * KiB, 100, 0x01, 0, 33);
	env_fini(&e);
	return ret;
}

static int refusals_queue_nothing(void)
{
	struct env e;
	void *p = (void *)(uintptr_t)(BASE + 4096);

	t_ok(env_init(&e, 4, 1, MiB));
	/* DMA alignment (mask 3), block multiple, zero length, flags, bit 63. */
	t_check_eq(regbuf_uring_nvme_prep_rw(&e.r, &e.ns, false, (char *)p + 2, 4096, 0, 0, 1), -EINVAL);
	t_check_eq(regbuf_uring_nvme_prep_rw(&e.r, &e.ns, false, p, 4000, 0, 0, 1), -EINVAL);
	t_check_eq(regbuf_uring_nvme_prep_rw(&e.r, &e.ns, false, p, 0, 0, 0, 1), -EINVAL);
	t_check_eq(regbuf_uring_nvme_prep_rw(&e.r, &e.ns, false, p, 4096, 0, 1U << 5, 1), -EINVAL);
	t_check_eq(regbuf_uring_nvme_prep_rw(&e.r, &e.ns, false, p, 4096, 0, 0,
					     REGBUF_URING_TAG_BIT), -EINVAL);
	/* Not registered, and registered but running past the slot. */
	t_check_eq(regbuf_uring_nvme_prep_rw(&e.r, &e.ns, false, (void *)(uintptr_t)0x1000, 4096, 0, 0,
					     1), -EFAULT);
	t_check_eq(regbuf_uring_nvme_prep_rw(&e.r, &e.ns, false, (void *)(uintptr_t)(BASE + MiB - 4096),
					     8192, 0, 0, 1), -EFAULT);
	/* 1 MiB in 128 KiB commands: 8 SQEs do not fit a 4-entry SQ. */
	t_check_eq(regbuf_uring_nvme_prep_rw(&e.r, &e.ns, false, (void *)(uintptr_t)BASE, MiB, 0, 0, 1),
		   -EBUSY);
	/* A slot longer than this kernel's fixed passthrough takes (max_segments pages). */
	e.ns.max_buf_len = 128 * KiB;
	t_check_eq(regbuf_uring_nvme_prep_rw(&e.r, &e.ns, false, p, 4096, 0, 0, 1), -E2BIG);
	/* ... but the last 33 pages of the slot are fine. */
	t_check_eq(regbuf_uring_nvme_prep_rw(&e.r, &e.ns, false, (void *)(uintptr_t)(BASE + MiB - 33 * 4096),
					     4096, 0, 0, 1), 1);
	t_check_eq(io_uring_sq_ready(&e.r.ring), 1);
	env_fini(&e);

	/* A ring of 64-byte SQEs has no room for the command. */
	t_ok(env_init(&e, 4, 1, MiB));
	io_uring_queue_exit(&e.r.ring);
	t_ok(io_uring_queue_init(4, &e.r.ring, 0));
	t_check_eq(regbuf_uring_nvme_prep_rw(&e.r, &e.ns, false, p, 4096, 0, 0, 1), -EINVAL);
	t_check_eq(regbuf_uring_nvme_prep_flush(&e.r, &e.ns, 1), -EINVAL);
	t_check_eq(io_uring_sq_ready(&e.r.ring), 0);
	env_fini(&e);
	return T_PASS;
}

/* A block across two kernel buffers cannot be one command, and two would cut it. */
static int block_across_slots_refused(void)
{
	struct env e;

	t_ok(env_init(&e, 8, 2, 64 * KiB));
	t_check_eq(regbuf_uring_nvme_prep_rw(&e.r, &e.ns, true,
					     (void *)(uintptr_t)(BASE + 64 * KiB - 4), 4096, 0, 0, 1),
		   -EINVAL);
	/* The same length inside one slot, or with blocks meeting the boundary, is fine. */
	t_check_eq(regbuf_uring_nvme_prep_rw(&e.r, &e.ns, true,
					     (void *)(uintptr_t)(BASE + 64 * KiB - 4096 - 4), 4096, 0,
					     0, 1), 1);
	t_check_eq(regbuf_uring_nvme_prep_rw(&e.r, &e.ns, true,
					     (void *)(uintptr_t)(BASE + 64 * KiB - 512), 4096, 0, 0, 1),
		   2);
	t_check_eq(io_uring_sq_ready(&e.r.ring), 3);
	env_fini(&e);
	return T_PASS;
}

static int unregistered_pool(void)
{
	struct env e;
	const uint8_t *s;

	t_ok(env_init(&e, 4, 1, MiB));
	e.r.fixed = false;	/* degraded or registration disabled: plain addresses */
	t_check_eq(regbuf_uring_nvme_prep_rw(&e.r, &e.ns, false, (void *)(uintptr_t)0x10000, 4096, 3, 0,
					     1), 1);
	s = sqe_at(&e, 0);
	t_check_eq(rd32(s, 28), 0);
	t_check_eq(rd64(s, C(24)), 0x10000);
	env_fini(&e);
	return T_PASS;
}

static int write_zeroes_and_flush(void)
{
	struct env e;
	const uint8_t *s;

	t_ok(env_init(&e, 8, 1, MiB));
	t_check_eq(regbuf_uring_nvme_prep_write_zeroes(&e.r, &e.ns, 10, 70000, 4), 2);
	s = sqe_at(&e, 0);
	t_check_eq(s[C(0)], 0x08);
	t_check_eq(rd32(s, C(40)), 10);
	t_check_eq(rd32(s, C(48)), 65535);
	t_check_eq(rd32(s, C(36)), 0);
	t_check_eq(rd32(s, 28), 0);
	s = sqe_at(&e, 1);
	t_check_eq(rd32(s, C(40)), 10 + 65536);
	t_check_eq(rd32(s, C(48)), 70000 - 65536 - 1);
	t_check_eq(regbuf_uring_nvme_prep_write_zeroes(&e.r, &e.ns, 0, 0, 4), -EINVAL);
	t_check_eq(regbuf_uring_nvme_prep_flush(&e.r, &e.ns, 5), 1);
	s = sqe_at(&e, 2);
	t_check_eq(s[C(0)], 0x00);
	t_check_eq(rd32(s, C(4)), 7);
	t_check_eq(rd64(s, 32), 5);
	env_fini(&e);
	return T_PASS;
}

static int raw_command(void)
{
	struct nvme_uring_cmd c;
	struct env e;
	const uint8_t *s;

	t_ok(env_init(&e, 8, 2, MiB));
	memset(&c, 0, sizeof(c));
	c.opcode = 0x02;
	c.nsid = 9;
	c.addr = BASE + MiB + 2;	/* misaligned on purpose: raw commands are not checked */
	c.data_len = 4096;
	c.cdw12 = 7;
	c.timeout_ms = 1234;
	t_check_eq(regbuf_uring_nvme_prep_cmd(&e.r, &e.ns, &c, 6), 1);
	s = sqe_at(&e, 0);
	t_check_eq(rd32(s, 28), IORING_URING_CMD_FIXED);
	t_check_eq(s[40], 1);
	t_check(!memcmp(s + 48, &c, sizeof(c)));
	t_check_eq(rd32(s, C(64)), 1234);
	c.addr = BASE + 2 * MiB - 2048;	/* runs past the last slot */
	t_check_eq(regbuf_uring_nvme_prep_cmd(&e.r, &e.ns, &c, 6), -EFAULT);
	c.data_len = 0;			/* no data: no buffer needed */
	t_check_eq(regbuf_uring_nvme_prep_cmd(&e.r, &e.ns, &c, 6), 1);
	t_check_eq(rd32(sqe_at(&e, 1), 28), 0);
	env_fini(&e);
	return T_PASS;
}

static int cqe_decode(void)
{
	uint64_t raw[4] = { 0 };
	struct io_uring_cqe *cqe = (struct io_uring_cqe *)raw;
	struct regbuf_uring_nvme_cpl c;

	t_check_eq(sizeof(*cqe), 16);	/* big_cqe[] follows: 32-byte CQEs */
	cqe->res = 0;
	cqe->big_cqe[0] = 0xabcd1234;
	t_check_eq(regbuf_uring_nvme_cqe(cqe, &c), 0);
	t_check_eq(c.dw0, 0xabcd1234);
	/* LBA Out of Range (SCT 0, SC 80h) with DNR, as nvme_uring_task_cb() passes it. */
	cqe->res = 0x4080;
	t_check_eq(regbuf_uring_nvme_cqe(cqe, &c), -EIO);
	t_check_eq(c.sct, 0);
	t_check_eq(c.sc, 0x80);
	t_check_eq(c.dnr, 1);
	t_check_eq(c.status, 0x4080);
	/* Command Retry Delay 3 and More above SCT: Invalid Field still reads SCT 0, SC 02h. */
	cqe->res = 0x3802;
	t_check_eq(regbuf_uring_nvme_cqe(cqe, &c), -EIO);
	t_check_eq(c.sct, 0);
	t_check_eq(c.sc, 0x02);
	t_check_eq(c.dnr, 0);
	t_check_eq(c.status, 0x3802);
	/* Host path error (SCT 3, SC 70h), no DNR: the fabrics host lost the path. */
	cqe->res = 0x370;
	t_check_eq(regbuf_uring_nvme_cqe(cqe, &c), -EIO);
	t_check_eq(c.sct, 3);
	t_check_eq(c.sc, 0x70);
	t_check_eq(c.dnr, 0);
	cqe->res = -EINTR;
	t_check_eq(regbuf_uring_nvme_cqe(cqe, &c), -EINTR);
	t_check_eq(c.status, 0);
	return T_PASS;
}

int main(int argc, char **argv)
{
	static const struct t_case cases[] = {
		T_CASE(layout_uapi),
		T_CASE(prep_read_fields),
		T_CASE(split_max_bytes_fua),
		T_CASE(split_max_segments_unaligned),
		T_CASE(split_slot_boundary),
		T_CASE(split_chunk),
		T_CASE(refusals_queue_nothing),
		T_CASE(block_across_slots_refused),
		T_CASE(unregistered_pool),
		T_CASE(write_zeroes_and_flush),
		T_CASE(raw_command),
		T_CASE(cqe_decode),
	};

	return t_main("uring_cmd", cases, sizeof(cases) / sizeof(cases[0]), argc, argv);
}
