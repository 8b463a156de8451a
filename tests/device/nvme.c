// SPDX-License-Identifier: MIT
/*
 * Device tests: run inside a QEMU guest (tests/device/guest.sh) against QEMU's
 * emulated NVMe controller, a real implementation nobody here wrote.  The
 * guest's /init passes the controller's PCI address in REGBUF_NVME_DEVICE and
 * the binding in REGBUF_NVME_MODE (vfio | phys); guest-suite passes what
 * the controller was configured with (REGBUF_EXPECT_MDTS, _LBS, _QUEUES) so
 * that Identify is checked against the truth, not against itself.
 *
 * QEMU 7.2 does not report a bad data-page address as an NVMe error (it
 * bounces through an unmapped IOVA silently), so every data case writes a
 * pattern that depends on the disk position, reads it back into a different
 * place of the buffer, and compares, with guard bytes around the target; the
 * wrapper also checks the guest's kernel log for VT-d faults.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sys/uio.h>

#include <regbuf/nvme.h>
#include <regbuf/table.h>

#include "baseline.h"
#include "harness.h"
#include "md.h"
#include "nvme/nvme_priv.h"	/* dma_fault_detected unmaps behind the driver */

#define SALT		UINT64_C(0x6e766d65)
#define ARENA_LEN	(UINT64_C(16) << 20)
#define GUARD		0xa5

static struct regbuf_nvme_ctrl *ctrl;
static struct regbuf_nvme_ns *nsh;	/* namespace 1, what I/O names */
static struct regbuf_nvme_ns_info ns;
static const char *mode = "vfio";
static uint64_t ios_verified;	/* I/Os whose data was checked, reported at the end */

static const char *dev_bdf(void)
{
	const char *bdf = getenv("REGBUF_NVME_DEVICE");

	return bdf && *bdf ? bdf : NULL;
}

static uint64_t env_u64(const char *name, uint64_t def)
{
	const char *v = getenv(name);

	return v && *v ? strtoull(v, NULL, 0) : def;
}

static bool is_phys(void)
{
	return !strcmp(mode, "phys");
}

/* The controller, brought up once for all cases (bring-up is a case of its own). */
static int need_ctrl(void)
{
	struct regbuf_nvme_opts o = { 0 };
	char why[256];
	int ret;

	if (ctrl)
		return T_PASS;
	if (!dev_bdf())
		return t_skip("REGBUF_NVME_DEVICE not set: run through tests/device/guest.sh "
			      "(build/tests/device/guest-suite)");
	o.why = why;
	o.why_len = sizeof(why);
	o.flags = is_phys() ? REGBUF_NVME_F_ALLOW_UNSAFE : 0;
	o.admin_depth = (uint32_t)env_u64("REGBUF_NVME_ADMIN_DEPTH", 0);
	if (getenv("REGBUF_NVME_NO_SGL"))
		o.flags |= REGBUF_NVME_F_NO_SGL;	/* the PRP-only driver configuration */
	ret = regbuf_nvme_ctrl_create(&ctrl, dev_bdf(), &o);
	if (ret)
		return T_FAILF("regbuf_nvme_ctrl_create(%s): %d (%s)", dev_bdf(), ret, why);
	ret = regbuf_nvme_ns_get(&nsh, ctrl, 1);
	if (!ret)
		ns = *regbuf_nvme_ns_info(nsh);
	if (ret)
		return T_FAILF("Identify Namespace 1: %d", ret);
	return T_PASS;
}

/* An arena: 4 KiB anonymous pages or 2 MiB hugetlb pages, mapped for DMA. */
struct arena {
	uint8_t *p;
	uint64_t len;
	bool huge;
	struct regbuf_nvme_dmamap *b;
};

static int arena_get(struct arena *a, bool huge, uint64_t len)
{
	int ret;

	memset(a, 0, sizeof(*a));
	a->len = len;
	a->huge = huge;
	a->p = mmap(NULL, len, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE | (huge ? MAP_HUGETLB : 0), -1, 0);
	if (a->p == MAP_FAILED) {
		a->p = NULL;
		return -errno;
	}
	ret = regbuf_nvme_dmamap_create(&a->b, ctrl, a->p, len, 0);
	if (ret) {
		munmap(a->p, len);
		a->p = NULL;
	}
	return ret;
}

static void arena_put(struct arena *a)
{
	if (!a->p)
		return;
	regbuf_nvme_dmamap_destroy(a->b);
	munmap(a->p, a->len);
	a->p = NULL;
}

static uint64_t nblocks(void)
{
	return ns.nsze;
}

/* Synchronous I/O with a readable failure. */
/*
 * Test flag: build the descriptors with the classic per-I/O chain
 * (bench/baseline) and submit them as raw commands, on the same queue pair
 * and memory: a differential check of both paths.
 */
#define T_CLASSIC	(1u << 31)

static struct baseline_nvme *classic_bn;
static struct regbuf_nvme_qpair *classic_q;

/* Drop the classic chain state (its pools are mapped on the controller). */
static void classic_put(void)
{
	baseline_nvme_destroy(classic_bn);
	classic_bn = NULL;
	classic_q = NULL;
}

/* Destroy a queue pair, and the classic chain state made on it. */
static void qpair_put(struct regbuf_nvme_qpair *q)
{
	if (classic_q == q)
		classic_put();
	regbuf_nvme_qpair_destroy(q);
}

static int do_io(struct regbuf_nvme_qpair *q, enum regbuf_nvme_op op, struct arena *a,
		 uint64_t off, uint64_t len, uint64_t lba, unsigned int flags,
		 struct regbuf_nvme_cpl *cpl)
{
	struct regbuf_nvme_cpl local;
	int ret;

	if (!cpl)
		cpl = &local;
	memset(cpl, 0, sizeof(*cpl));
	if (!(flags & T_CLASSIC))
		return regbuf_nvme_io(q, op, nsh, a ? a->b : NULL, off, len, lba, cpl, flags);
	if (classic_q != q) {
		classic_put();
		ret = baseline_nvme_create(&classic_bn, ctrl, q, 4);
		if (ret)
			return ret;
		classic_q = q;
	}
	return baseline_nvme_io(classic_bn, op, 1, ns.lba_size, a->b, a->p, off, len, lba, cpl,
				flags & ~T_CLASSIC);
}

/*
 * Write [woff, woff+len) of the arena to @lba with a pattern keyed on the disk
 * byte position, read it back into [roff, roff+len) with guard bytes around,
 * compare.  Returns T_PASS or a failure naming the first bad byte.
 */
static int write_read_verify(struct regbuf_nvme_qpair *q, struct arena *a, uint64_t woff,
			     uint64_t roff, uint64_t len, uint64_t lba, unsigned int flags)
{
	uint64_t pos = lba * ns.lba_size, g0, g1;
	struct regbuf_nvme_cpl cpl;
	long long bad;
	int ret;

	t_pattern_fill(a->p + woff, len, pos, SALT);
	ret = do_io(q, REGBUF_NVME_OP_WRITE, a, woff, len, lba, flags, &cpl);
	if (ret)
		return T_FAILF("write off %llu len %llu lba %llu flags %u: %d status 0x%x (%s)",
			       (unsigned long long)woff, (unsigned long long)len,
			       (unsigned long long)lba, flags, ret, cpl.status,
			       regbuf_nvme_status_str(cpl.status));
	g0 = roff >= 64 ? roff - 64 : 0;
	g1 = roff + len + 64 <= a->len ? roff + len + 64 : a->len;
	memset(a->p + g0, GUARD, g1 - g0);
	ret = do_io(q, REGBUF_NVME_OP_READ, a, roff, len, lba, flags, &cpl);
	if (ret)
		return T_FAILF("read off %llu len %llu lba %llu flags %u: %d status 0x%x (%s)",
			       (unsigned long long)roff, (unsigned long long)len,
			       (unsigned long long)lba, flags, ret, cpl.status,
			       regbuf_nvme_status_str(cpl.status));
	bad = t_pattern_check(a->p + roff, len, pos, SALT);
	if (bad >= 0)
		return T_FAILF("data mismatch at byte %lld of %llu (buffer off %llu -> %llu, lba %llu, "
			       "%s arena, flags %u)", bad, (unsigned long long)len,
			       (unsigned long long)woff, (unsigned long long)roff,
			       (unsigned long long)lba, a->huge ? "2M" : "4K", flags);
	for (uint64_t i = g0; i < g1; i++)
		if ((i < roff || i >= roff + len) && a->p[i] != GUARD)
			return T_FAILF("read wrote outside its range: buffer byte %llu "
				       "(range %llu+%llu)", (unsigned long long)i,
				       (unsigned long long)roff, (unsigned long long)len);
	ios_verified += 2;
	return T_PASS;
}

/* write_read_verify() on a short-lived queue pair. */
static int write_read_verify_q(struct arena *a, uint64_t woff, uint64_t roff, uint64_t len,
			       uint64_t lba)
{
	struct regbuf_nvme_qpair *q;
	int ret = regbuf_nvme_qpair_create(&q, ctrl, 8, 0);

	if (ret)
		return T_FAILF("qpair_create: %d", ret);
	ret = write_read_verify(q, a, woff, roff, len, lba, 0);
	qpair_put(q);
	return ret;
}

/* ---------------------------------------------------------------------- */

static int guest_binding(void)
{
	const char *bdf = dev_bdf();
	char path[256], link[PATH_MAX];
	ssize_t n;

	if (!bdf)
		return t_skip("REGBUF_NVME_DEVICE not set: run through tests/device/guest.sh");
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/driver", bdf);
	n = readlink(path, link, sizeof(link) - 1);
	if (n < 0)
		return T_FAILF("%s: %s", path, strerror(errno));
	link[n] = '\0';
	t_check(strstr(link, is_phys() ? "/uio_pci_generic" : "/vfio-pci") != NULL);
	return T_PASS;
}

static int bringup_identify(void)
{
	const struct regbuf_nvme_ctrl_info *ci;
	struct regbuf_nvme_ns *again;
	uint64_t mdts = env_u64("REGBUF_EXPECT_MDTS", 7);
	uint64_t lbs = env_u64("REGBUF_EXPECT_LBS", 512);
	uint64_t queues = env_u64("REGBUF_EXPECT_QUEUES", 64);
	int ret = need_ctrl();

	if (ret)
		return ret;
	ci = regbuf_nvme_ctrl_info(ctrl);
	printf("# bring-up: %.3f ms from CC.EN=0 to CSTS.RDY=1; %s mode; %s fw %s sn %s; "
	       "MQES+1 %u DSTRD %u TO %u ms MDTS %llu B SGLS 0x%x NN %u queues %u; "
	       "ns1 %llu x %u B\n", ci->bringup_ns / 1e6,
	       ci->mode == REGBUF_NVME_MODE_VFIO ? "vfio" : "phys", ci->mn, ci->fr, ci->sn,
	       ci->mqes, ci->dstrd, ci->timeout_ms, (unsigned long long)ci->mdts_bytes,
	       ci->sgls, ci->nn, ci->io_queues, (unsigned long long)ns.nsze, ns.lba_size);
	t_check(!strcmp(ci->mn, "QEMU NVMe Ctrl"));
	t_check_eq(ci->vid, 0x1b36);
	t_check(!strcmp(ci->sn, "regbuf0"));
	t_check_eq(ci->mode, is_phys() ? REGBUF_NVME_MODE_PHYS : REGBUF_NVME_MODE_VFIO);
	t_check_eq(ci->mqes, 2048);		/* QEMU 7.2 CAP.MQES 0x7ff */
	t_check_eq(ci->dstrd, 0);
	t_check_eq(ci->page_size, 4096);
	t_check_eq(ci->mdts_bytes, mdts ? UINT64_C(4096) << mdts : 0);
	t_check_eq(ci->sgls & 3, 1);		/* SGLs, no alignment requirement */
	t_check_eq(ci->io_queues, queues);
	t_check_eq(ns.lba_size, lbs);
	t_check_eq(ns.nsze * ns.lba_size, UINT64_C(256) << 20);
	t_check_eq(ns.ms, 0);
	/* namespace 0 is refused; asking again for an unchanged namespace gives the same handle */
	t_check_eq(regbuf_nvme_ns_get(&again, ctrl, 0), -EINVAL);
	t_ok(regbuf_nvme_ns_get(&again, ctrl, 1));
	t_check(again == nsh);
	return T_PASS;
}

/* Random write/read/verify across offsets, lengths up to 2 x the max transfer. */
static int sweep(struct arena *a, unsigned int flags, unsigned int iters, uint64_t disk_lo,
		 uint64_t disk_hi)
{
	const struct regbuf_nvme_ctrl_info *ci = regbuf_nvme_ctrl_info(ctrl);
	uint64_t maxlen = 2 * ci->max_cmd_bytes, lbs = ns.lba_size;
	struct regbuf_nvme_qpair *q;
	unsigned int i;
	int ret;

	if (maxlen > a->len / 4)
		maxlen = a->len / 4;
	ret = regbuf_nvme_qpair_create(&q, ctrl, (uint32_t)env_u64("REGBUF_NVME_QDEPTH", 64), 0);
	if (ret)
		return T_FAILF("qpair_create: %d", ret);
	for (i = 0; i < iters && !ret; i++) {
		uint64_t r = t_rand(), len, woff, roff, lba;

		/* lengths: mostly small, some near and beyond MDTS (splits) */
		switch (r % 4) {
		case 0: len = lbs * (1 + t_rand() % 16); break;
		case 1: len = lbs * (1 + t_rand() % (maxlen / lbs)); break;
		case 2: len = ci->max_cmd_bytes - lbs * (t_rand() % 2); break;
		default: len = lbs * (1 + t_rand() % (65536 / lbs)); break;
		}
		if (len > maxlen)
			len = maxlen;
		/* buffer offsets: dword aligned, biased onto page / list-page / 2 MiB edges */
		switch ((r >> 8) % 4) {
		case 0: woff = (t_rand() % (a->len - len)) & ~UINT64_C(3); break;
		case 1: woff = ((t_rand() % (a->len >> 21)) << 21) + 4096 * (t_rand() % 4);
			woff = woff >= 8192 ? woff - 8192 : woff; break;
		case 2: woff = (t_rand() % (a->len >> 12)) << 12; break;
		default: woff = ((t_rand() % (a->len >> 12)) << 12) + 4096 - 4 * (1 + t_rand() % 8);
			break;
		}
		if (woff + len > a->len)
			woff = (a->len - len) & ~UINT64_C(3);
		roff = (t_rand() % (a->len - len)) & ~UINT64_C(3);
		lba = disk_lo + t_rand() % ((disk_hi - disk_lo - len) / lbs);
		ret = write_read_verify(q, a, woff, roff, len, lba, flags);
	}
	qpair_put(q);
	return ret;
}

static int sweep_case(bool huge, unsigned int flags)
{
	unsigned int iters = (unsigned int)env_u64("REGBUF_SWEEP_ITERS", 400);
	struct arena a;
	int ret = need_ctrl();

	if (ret)
		return ret;
	if (!huge && is_phys())
		return t_skip("physical mode takes hugetlb memory only (see buf_refuses)");
	if ((flags & REGBUF_NVME_IO_F_SGL) && !(regbuf_nvme_ctrl_info(ctrl)->sgls & 3))
		return t_skip("controller without SGL support");
	if ((flags & REGBUF_NVME_IO_F_SGL) && (flags & T_CLASSIC) && getenv("REGBUF_NVME_NO_SGL"))
		return t_skip("REGBUF_NVME_F_NO_SGL governs the driver's own descriptors; the "
			      "classic chain submits raw commands");
	if ((flags & REGBUF_NVME_IO_F_SGL) && getenv("REGBUF_NVME_NO_SGL")) {
		struct regbuf_nvme_qpair *q;
		int r;

		/* SGL refused up front, not sent */
		t_ok(arena_get(&a, huge, 1u << 20));
		t_ok(regbuf_nvme_qpair_create(&q, ctrl, 4, 0));
		r = do_io(q, REGBUF_NVME_OP_READ, &a, 0, 65536, 0, flags, NULL);
		qpair_put(q);
		arena_put(&a);
		t_check_eq(r, -EOPNOTSUPP);
		return t_skip("REGBUF_NVME_F_NO_SGL: forced SGL refused with -EOPNOTSUPP as expected");
	}
	ret = arena_get(&a, huge, ARENA_LEN);
	if (ret)
		return T_FAILF("arena (%s): %d (reserve hugepages: vm.nr_hugepages)",
			       huge ? "2M hugetlb" : "4K", ret);
	if (huge)
		printf("# 2M arena: %u DMA segments\n", regbuf_nvme_dmamap_nr_segs(a.b));
	ret = sweep(&a, flags, iters, 0, nblocks() * ns.lba_size);
	arena_put(&a);
	return ret;
}

static int sweep_4k_prp(void) { return sweep_case(false, REGBUF_NVME_IO_F_PRP); }
static int sweep_4k_sgl(void) { return sweep_case(false, REGBUF_NVME_IO_F_SGL); }
static int sweep_2m_prp(void) { return sweep_case(true, REGBUF_NVME_IO_F_PRP); }
static int sweep_2m_sgl(void) { return sweep_case(true, REGBUF_NVME_IO_F_SGL); }
static int sweep_2m_auto(void) { return sweep_case(true, 0); }
/* the classic per-I/O chain on the same device: a differential check of both */
static int sweep_2m_classic(void) { return sweep_case(true, T_CLASSIC); }
static int sweep_2m_classic_sgl(void)
{
	return sweep_case(true, T_CLASSIC | REGBUF_NVME_IO_F_SGL);
}

/*
 * A buffer registered in a regbuf table with frame numbers: the nvme mapping
 * takes the table's physical segments (physical mode) or its range (VFIO),
 * and data still lands where it should.
 */
static int table_slot(void)
{
	struct regbuf_buf_info info;
	struct regbuf_table *t;
	struct regbuf_buf *tb;
	struct iovec iov[2];
	struct arena a, b2;
	int ret = need_ctrl();

	if (ret)
		return ret;
	memset(&a, 0, sizeof(a));
	a.len = ARENA_LEN;
	a.huge = true;
	a.p = mmap(NULL, a.len, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE | MAP_HUGETLB, -1, 0);
	if (a.p == MAP_FAILED)
		return T_FAILF("hugetlb arena: %s", strerror(errno));
	t_ok(regbuf_table_create(&t, 0));
	iov[0].iov_base = a.p;
	iov[0].iov_len = a.len;
	iov[1].iov_base = a.p + 4096;		/* starts mid huge page */
	iov[1].iov_len = (6u << 20) + 512;
	ret = regbuf_table_register(t, iov, 2, REGBUF_TABLE_F_LAYOUT_PFN);
	if (ret)
		return T_FAILF("regbuf_table_register(LAYOUT_PFN): %d", ret);
	t_ok(regbuf_table_buf_get(t, 0, &tb));
	t_ok(regbuf_buf_info(tb, &info));
	printf("# table slot 0: %u virtual segments (folio shift %u), %u physical segments, "
	       "flags 0x%x\n", info.nr_segs, info.folio_shift, info.nr_phys_segs, info.flags);
	regbuf_buf_put(tb);
	ret = regbuf_nvme_dmamap_create_slot(&a.b, ctrl, t, 0, 0);
	if (ret)
		return T_FAILF("regbuf_nvme_dmamap_create_slot(0): %d", ret);
	if (is_phys())
		t_check_eq(regbuf_nvme_dmamap_nr_segs(a.b), info.nr_phys_segs);
	else
		t_check_eq(regbuf_nvme_dmamap_nr_segs(a.b), 1);
	t_check_eq(regbuf_nvme_dmamap_create_slot(&b2.b, ctrl, t, 7, 0), -EFAULT);
	/* the slot outlives the table while mapped: the nvme buffer holds a reference */
	ret = regbuf_nvme_dmamap_create_slot(&b2.b, ctrl, t, 1, 0);
	if (ret)
		return T_FAILF("regbuf_nvme_dmamap_create_slot(1): %d", ret);
	regbuf_table_destroy(t);
	ret = sweep(&a, 0, (unsigned int)env_u64("REGBUF_SWEEP_ITERS", 400) / 2, 0,
		    nblocks() * ns.lba_size);
	if (!ret) {
		b2.p = a.p + 4096;
		b2.len = (6u << 20) + 512;
		b2.huge = true;
		ret = write_read_verify_q(&b2, 4, (3u << 20) + 4, (2u << 20) + ns.lba_size, 12345);
	}
	regbuf_nvme_dmamap_destroy(b2.b);
	regbuf_nvme_dmamap_destroy(a.b);
	munmap(a.p, a.len);
	return ret;
}

/* Named shapes (PRP1 only, PRP2 data, list of 2, 2 MiB edges, MDTS) on both descriptor kinds. */
static int io_boundaries(void)
{
	const struct regbuf_nvme_ctrl_info *ci;
	struct regbuf_nvme_qpair *q;
	struct arena a;
	uint64_t lbs, m;
	unsigned int k;
	int ret = need_ctrl();

	if (ret)
		return ret;
	ci = regbuf_nvme_ctrl_info(ctrl);
	lbs = ns.lba_size;
	m = ci->max_cmd_bytes;
	ret = arena_get(&a, true, ARENA_LEN);
	if (ret)
		return T_FAILF("arena: %d", ret);
	ret = regbuf_nvme_qpair_create(&q, ctrl, 16, 0);
	if (ret) {
		arena_put(&a);
		return T_FAILF("qpair_create: %d", ret);
	}
	struct { const char *name; uint64_t off, len; } shapes[] = {
		{ "one block", 0, lbs },
		{ "PRP1 only, page tail", 4096 - lbs, lbs },
		{ "PRP1+PRP2 exactly 8 KiB", 0, 8192 },
		{ "PRP1 offset 4092 -> PRP2 data", 4092, 4096 },
		{ "3 pages from offset 4 (list of 2)", 4, 8192 + lbs },
		{ "across the 2 MiB huge page edge", (2u << 20) - 4096, 8192 },
		{ "across 2 MiB edge, unaligned", (2u << 20) - 4096 - 4, 16384 },
		{ "max transfer, aligned", 0, m },
		{ "max transfer, offset 4", 4, m },
		{ "max transfer ending on 2 MiB edge", (4u << 20) - m, m },
		{ "max + 1 block (split)", 4096, m + lbs },
		{ "3 x max + 1 block (split in 4)", 8192, 3 * m + lbs },
	};
	for (k = 0; k < sizeof(shapes) / sizeof(shapes[0]) && !ret; k++) {
		static const unsigned int fl[] = {
			REGBUF_NVME_IO_F_PRP, REGBUF_NVME_IO_F_SGL, 0,
			T_CLASSIC | REGBUF_NVME_IO_F_PRP,
			T_CLASSIC | REGBUF_NVME_IO_F_SGL,
		};
		unsigned int f;

		if (shapes[k].off + shapes[k].len > a.len / 2)
			continue;
		for (f = 0; f < sizeof(fl) / sizeof(fl[0]) && !ret; f++) {
			if ((fl[f] & REGBUF_NVME_IO_F_SGL) && getenv("REGBUF_NVME_NO_SGL"))
				continue;	/* PRP-only driver configuration */
			ret = write_read_verify(q, &a, shapes[k].off, a.len / 2 + shapes[k].off,
						shapes[k].len, 64 * k + 1024 * f, fl[f]);
			if (ret)
				printf("# shape '%s' failed\n", shapes[k].name);
		}
	}
	if (!ret) {
		struct regbuf_nvme_cpl cpl;

		/* split requests complete once, with the number of commands */
		ret = do_io(q, REGBUF_NVME_OP_READ, &a, 0, 3 * m + lbs < a.len ? 3 * m + lbs : m,
			    0, 0, &cpl);
		if (ret)
			ret = T_FAILF("split read: %d", ret);
		else if (cpl.nr_cmds != (3 * m + lbs < a.len ? 4u : 1u))
			ret = T_FAILF("split read took %u commands", cpl.nr_cmds);
	}
	qpair_put(q);
	arena_put(&a);
	return ret;
}

/* Invalid requests: refused before the device, or by the device with raw status. */
static int io_invalid(void)
{
	struct regbuf_nvme_qpair *q;
	struct regbuf_nvme_cpl cpl;
	struct arena a;
	int ret = need_ctrl();

	if (ret)
		return ret;
	ret = arena_get(&a, true, 4u << 20);
	if (ret)
		return T_FAILF("arena: %d", ret);
	ret = regbuf_nvme_qpair_create(&q, ctrl, 8, 0);
	if (ret) {
		arena_put(&a);
		return T_FAILF("qpair_create: %d", ret);
	}
	/* driver-side checks */
	t_check_eq(do_io(q, REGBUF_NVME_OP_READ, &a, 0, 0, 0, 0, NULL), -EINVAL);
	t_check_eq(do_io(q, REGBUF_NVME_OP_READ, &a, 0, ns.lba_size + 1, 0, 0, NULL), -EINVAL);
	t_check_eq(do_io(q, REGBUF_NVME_OP_READ, &a, 2, ns.lba_size, 0, 0, NULL), -EINVAL);
	t_check_eq(do_io(q, REGBUF_NVME_OP_READ, &a, a.len - ns.lba_size + 4, ns.lba_size, 0, 0,
			 NULL), -EINVAL);
	t_check_eq(do_io(q, REGBUF_NVME_OP_READ, &a, 0, 4096, 0,
			 REGBUF_NVME_IO_F_PRP | REGBUF_NVME_IO_F_SGL, NULL), -EINVAL);
	/* device-side: LBA out of range (QEMU: LBA_RANGE | DNR) */
	ret = do_io(q, REGBUF_NVME_OP_READ, &a, 0, ns.lba_size, nblocks(), 0, &cpl);
	t_check_eq(ret, -ERANGE);
	t_check_eq(regbuf_nvme_status_sct(cpl.status), 0);
	t_check_eq(regbuf_nvme_status_sc(cpl.status), 0x80);
	t_check_eq(regbuf_nvme_status_dnr(cpl.status), 1);
	t_check(!strcmp(regbuf_nvme_status_str(cpl.status), "LBA_OUT_OF_RANGE"));
	/* the last block is fine; straddling the end is not */
	t_ok(do_io(q, REGBUF_NVME_OP_WRITE, &a, 0, ns.lba_size, nblocks() - 1, 0, NULL));
	t_check_eq(do_io(q, REGBUF_NVME_OP_WRITE, &a, 0, 2 * ns.lba_size, nblocks() - 1, 0, &cpl),
		   -ERANGE);
	/* the queue still works after errors */
	ret = write_read_verify(q, &a, 0, 1u << 20, 65536, 4096, 0);
	qpair_put(q);
	arena_put(&a);
	return ret;
}

/* Fill the queue: depth - 1 commands in flight, then -EAGAIN, then all complete. */
/*
 * Post and ring apart (REGBUF_NVME_IO_F_DEFER, regbuf_nvme_qpair_ring()):
 * posted commands are invisible to the controller until the doorbell, then
 * a batch of writes (three of them raw commands with regbuf_nvme_submit_cmd())
 * completes and reads back what was written.
 */
static int deferred_batch(void)
{
	const unsigned int nr = 6;
	struct regbuf_nvme_qpair *q;
	struct regbuf_nvme_cpl cpl[8];
	unsigned int got = 0, i, polls;
	uint64_t lba0 = nblocks() / 2;
	struct arena a;
	long long bad;
	int ret = need_ctrl();

	if (ret)
		return ret;
	ret = arena_get(&a, true, 4u << 20);
	if (ret)
		return T_FAILF("arena: %d", ret);
	ret = regbuf_nvme_qpair_create(&q, ctrl, 16, 0);
	if (ret) {
		arena_put(&a);
		return T_FAILF("qpair_create: %d", ret);
	}
	t_pattern_fill(a.p, nr * 4096, lba0 * ns.lba_size, SALT + 2);
	for (i = 0; i < nr; i++) {
		uint64_t lba = lba0 + i * 4096 / ns.lba_size;

		if (i % 2) {
			struct regbuf_nvme_sqe cmd;

			/* a raw Write (NVMe 1.4 §6.15): one page, PRP1 only */
			memset(&cmd, 0, sizeof(cmd));
			cmd.opcode = 0x01;
			cmd.nsid = regbuf_cpu_to_le32(1);
			cmd.dptr.prp.prp1 = regbuf_cpu_to_le64(regbuf_nvme_dmamap_iova(a.b, i * 4096));
			cmd.cdw10 = regbuf_cpu_to_le32((uint32_t)lba);
			cmd.cdw11 = regbuf_cpu_to_le32((uint32_t)(lba >> 32));
			cmd.cdw12 = regbuf_cpu_to_le32(4096 / ns.lba_size - 1);
			ret = regbuf_nvme_submit_cmd(q, &cmd, (void *)(uintptr_t)(i + 1),
						     REGBUF_NVME_IO_F_DEFER);
		} else {
			ret = regbuf_nvme_submit_write(q, nsh, a.b, i * 4096, 4096, lba,
						       (void *)(uintptr_t)(i + 1),
						       REGBUF_NVME_IO_F_DEFER);
		}
		if (ret)
			return T_FAILF("submit %u: %d", i, ret);
	}
	/* nothing rung: nothing can complete (the driver polls CSTS meanwhile) */
	for (polls = 0; polls < 2000; polls++)
		if (regbuf_nvme_reap(q, cpl, 8))
			return T_FAILF("a completion arrived before the doorbell");
	regbuf_nvme_qpair_ring(q);
	while (got < nr) {
		int r = regbuf_nvme_reap(q, cpl, 8), k;

		for (k = 0; k < r; k++)
			if (cpl[k].status)
				return T_FAILF("write %p: status 0x%x", cpl[k].ctx, cpl[k].status);
		got += (unsigned int)r;
	}
	memset(a.p + nr * 4096, GUARD, nr * 4096);
	ret = do_io(q, REGBUF_NVME_OP_READ, &a, nr * 4096, nr * 4096, lba0, 0, NULL);
	if (ret)
		return T_FAILF("read back: %d", ret);
	bad = t_pattern_check(a.p + nr * 4096, nr * 4096, lba0 * ns.lba_size, SALT + 2);
	if (bad >= 0)
		return T_FAILF("data mismatch at byte %lld", bad);
	ios_verified += 2 * nr;
	qpair_put(q);
	arena_put(&a);
	return T_PASS;
}

static int queue_full(void)
{
	uint32_t depth = (uint32_t)env_u64("REGBUF_NVME_QDEPTH", 32);
	struct regbuf_nvme_qpair *q;
	struct regbuf_nvme_cpl cpl[64];
	unsigned int n = 0, got = 0, i;
	struct arena a;
	long long bad;
	int ret = need_ctrl();

	if (ret)
		return ret;
	if (depth > 64)
		depth = 64;
	ret = arena_get(&a, true, 4u << 20);
	if (ret)
		return T_FAILF("arena: %d", ret);
	ret = regbuf_nvme_qpair_create(&q, ctrl, depth, 0);
	if (ret) {
		arena_put(&a);
		return T_FAILF("qpair_create(depth %u): %d", depth, ret);
	}
	t_pattern_fill(a.p, a.len / 2, 0, SALT + 1);
	for (;;) {
		ret = regbuf_nvme_submit_write(q, nsh, a.b, n * 8192, 8192, n * 8192 / ns.lba_size,
					       (void *)(uintptr_t)(n + 1), 0);
		if (ret)
			break;
		n++;
	}
	t_check_eq(ret, -EAGAIN);
	t_check_eq(n, depth - 1);
	t_check_eq(regbuf_nvme_qpair_inflight(q), depth - 1);
	while (got < n) {
		int r = regbuf_nvme_reap(q, cpl, 64);

		for (i = 0; i < (unsigned int)r; i++)
			if (cpl[i].status)
				return T_FAILF("write %p status 0x%x", cpl[i].ctx, cpl[i].status);
		got += (unsigned int)r;
	}
	/* read everything back through the same full queue */
	memset(a.p + a.len / 2, 0, a.len / 2);
	for (i = 0; i < n; i++)
		t_ok(regbuf_nvme_submit_read(q, nsh, a.b, a.len / 2 + i * 8192, 8192,
					     i * 8192 / ns.lba_size, NULL, 0));
	for (got = 0; got < n;) {
		int r = regbuf_nvme_reap(q, cpl, 64);

		for (i = 0; i < (unsigned int)r; i++)
			t_check_eq(cpl[i].status, 0);
		got += (unsigned int)r;
	}
	bad = t_pattern_check(a.p + a.len / 2, (size_t)n * 8192, 0, SALT + 1);
	t_check_eq(bad, -1);
	ios_verified += 2 * n;
	t_ok(do_io(q, REGBUF_NVME_OP_FLUSH, NULL, 0, 0, 0, 0, NULL));
	qpair_put(q);
	arena_put(&a);
	return T_PASS;
}

struct thr {
	pthread_t t;
	int idx;
	int ret;
	char why[256];
	uint64_t ios;
};

static void *thread_fn(void *arg)
{
	struct thr *t = arg;
	struct regbuf_nvme_qpair *q;
	struct arena a;
	uint64_t lbs = ns.lba_size, base = (uint64_t)t->idx * (nblocks() / 2);
	unsigned int i;
	int ret;

	ret = arena_get(&a, true, 4u << 20);
	if (ret) {
		snprintf(t->why, sizeof(t->why), "arena: %d", ret);
		t->ret = ret;
		return NULL;
	}
	ret = regbuf_nvme_qpair_create(&q, ctrl, 32, 0);
	if (ret) {
		snprintf(t->why, sizeof(t->why), "qpair_create: %d", ret);
		t->ret = ret;
		arena_put(&a);
		return NULL;
	}
	for (i = 0; i < 150 && !ret; i++) {
		uint64_t len = lbs * (1 + (i * 7919u + (unsigned int)t->idx) % (131072 / lbs));
		uint64_t off = ((i * 104729u) % (a.len / 2 - len)) & ~UINT64_C(3);
		uint64_t lba = base + (i * 2654435761u) % (nblocks() / 2 - len / lbs);
		uint64_t pos = lba * lbs;
		struct regbuf_nvme_cpl cpl;

		t_pattern_fill(a.p + off, len, pos, SALT + 7);
		ret = regbuf_nvme_io(q, REGBUF_NVME_OP_WRITE, nsh, a.b, off, len, lba, &cpl, 0);
		if (!ret) {
			memset(a.p + a.len / 2, 0, len);
			ret = regbuf_nvme_io(q, REGBUF_NVME_OP_READ, nsh, a.b, a.len / 2, len, lba,
					     &cpl, 0);
		}
		if (ret) {
			snprintf(t->why, sizeof(t->why), "I/O %u: %d status 0x%x", i, ret,
				 cpl.status);
		} else if (t_pattern_check(a.p + a.len / 2, len, pos, SALT + 7) >= 0) {
			snprintf(t->why, sizeof(t->why), "I/O %u: data mismatch", i);
			ret = -EIO;
		}
		t->ios += 2;
	}
	t->ret = ret;
	qpair_put(q);
	arena_put(&a);
	return NULL;
}

/* Many queue pairs at once, each with its own verified I/O. */
static int many_qpairs(void)
{
	struct regbuf_nvme_qpair *q[16];
	unsigned int n, i;
	struct arena a;
	int ret = need_ctrl();

	if (ret)
		return ret;
	n = regbuf_nvme_ctrl_info(ctrl)->io_queues;
	if (n > 16)
		n = 16;
	t_ok(arena_get(&a, true, 4u << 20));
	for (i = 0; i < n; i++)
		if ((ret = regbuf_nvme_qpair_create(&q[i], ctrl, 4 + i, 0)))
			return T_FAILF("qpair %u of %u: %d", i, n, ret);
	/* one more than granted is refused */
	if (n == regbuf_nvme_ctrl_info(ctrl)->io_queues) {
		struct regbuf_nvme_qpair *extra;

		t_check_eq(regbuf_nvme_qpair_create(&extra, ctrl, 4, 0), -EBUSY);
	}
	for (i = 0; i < n && !ret; i++)
		ret = write_read_verify(q[i], &a, 8192 * i, (2u << 20) + 8192 * i, 8192,
					1000 + 16 * i, 0);
	for (i = 0; i < n; i++)
		regbuf_nvme_qpair_destroy(q[i]);
	arena_put(&a);
	return ret;
}

static int two_threads(void)
{
	struct thr t[2];
	int i, ret = need_ctrl();

	if (ret)
		return ret;
	if (regbuf_nvme_ctrl_info(ctrl)->io_queues < 2) {
		struct regbuf_nvme_qpair *q1, *q2;

		/* one queue pair granted: the second creation must say so cleanly */
		t_ok(regbuf_nvme_qpair_create(&q1, ctrl, 8, 0));
		ret = regbuf_nvme_qpair_create(&q2, ctrl, 8, 0);
		regbuf_nvme_qpair_destroy(q1);
		t_check_eq(ret, -EBUSY);
		return t_skip("controller granted one I/O queue pair (max_ioqpairs=1): second "
			      "qpair refused with -EBUSY as expected");
	}
	memset(t, 0, sizeof(t));
	for (i = 0; i < 2; i++) {
		t[i].idx = i;
		if (pthread_create(&t[i].t, NULL, thread_fn, &t[i]))
			return T_FAILF("pthread_create");
	}
	for (i = 0; i < 2; i++)
		pthread_join(t[i].t, NULL);
	for (i = 0; i < 2; i++) {
		if (t[i].ret)
			return T_FAILF("thread %d: %s", i, t[i].why);
		ios_verified += t[i].ios;
	}
	return T_PASS;
}

/* Queue pairs come and go: more admin commands than the admin queue has entries. */
static int qpair_cycle(void)
{
	struct regbuf_nvme_qpair *q;
	unsigned int i;
	int ret = need_ctrl();

	if (ret)
		return ret;
	for (i = 0; i < 40; i++) {
		ret = regbuf_nvme_qpair_create(&q, ctrl, 4 + i % 8, 0);
		if (ret)
			return T_FAILF("cycle %u: qpair_create: %d", i, ret);
		qpair_put(q);
	}
	return T_PASS;
}

/* Memory the mode cannot use is refused with the documented code. */
static int buf_refuses(void)
{
	struct regbuf_nvme_dmamap *b;
	uint8_t *p;
	int ret = need_ctrl();

	if (ret)
		return ret;
	p = mmap(NULL, 1u << 20, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	t_check(p != MAP_FAILED);
	t_check_eq(regbuf_nvme_dmamap_create(&b, ctrl, p + 2, 4096, 0), -EINVAL);
	t_check_eq(regbuf_nvme_dmamap_create(&b, ctrl, p, 0, 0), -EINVAL);
	ret = regbuf_nvme_dmamap_create(&b, ctrl, p, 1u << 20, 0);
	if (is_phys()) {
		/* 4 KiB pages can migrate under a running DMA */
		t_check_eq(ret, -EPERM);
	} else {
		t_ok(ret);
		t_check_eq(regbuf_nvme_dmamap_nr_segs(b), 1);
		t_check(regbuf_nvme_dmamap_iova(b, 0) != 0);
		t_check_eq(regbuf_nvme_dmamap_iova(b, 4096) - regbuf_nvme_dmamap_iova(b, 0), 4096);
		regbuf_nvme_dmamap_destroy(b);
	}
	munmap(p, 1u << 20);
	return T_PASS;
}

/*
 * The fault detector itself: unmap a buffer's IOVA range behind the driver's
 * back and read into it.  QEMU completes the read (an untranslatable data
 * address is not an NVMe error in QEMU's hw/nvme) and the guest's VT-d
 * driver logs a DMAR fault, which guest-suite must see (config
 * vfio-fault inverts its no_dma_faults check).  Only with
 * REGBUF_EXPECT_DMA_FAULT=1.
 */
static int dma_fault_detected(void)
{
	struct regbuf_nvme_qpair *q;
	struct regbuf_nvme_cpl cpl;
	char out[4096];
	struct arena a;
	FILE *f;
	int ret = need_ctrl(), faults = 0;

	if (ret)
		return ret;
	if (!getenv("REGBUF_EXPECT_DMA_FAULT"))
		return t_skip("only in the vfio-fault configuration of guest-suite");
	if (is_phys())
		return t_skip("no IOMMU in physical mode");
	ret = arena_get(&a, false, 1u << 20);
	if (ret)
		return T_FAILF("arena: %d", ret);
	t_ok(regbuf_nvme_qpair_create(&q, ctrl, 8, 0));
	t_pattern_fill(a.p, 65536, 0, SALT);
	t_ok(do_io(q, REGBUF_NVME_OP_WRITE, &a, 0, 65536, 0, 0, NULL));
	memset(a.p, 0, 65536);
	nvme_vfio_unmap(ctrl, a.b->map_iova, a.b->map_len);	/* behind the driver's back */
	ret = do_io(q, REGBUF_NVME_OP_READ, &a, 0, 65536, 0, 0, &cpl);
	printf("# read into an unmapped IOVA: %d status 0x%x\n", ret, cpl.status);
	/* nothing may have reached the buffer */
	for (size_t i = 0; i < 65536; i++)
		if (a.p[i])
			return T_FAILF("byte %zu written through an unmapped IOVA", i);
	f = popen("dmesg", "r");
	t_check(f != NULL);
	while (fgets(out, sizeof(out), f))
		if (strstr(out, "DMAR") && (strstr(out, "fault") || strstr(out, "[DMA ")))
			faults++;
	pclose(f);
	printf("# DMAR fault lines in the guest log: %d\n", faults);
	t_check(faults > 0);
	qpair_put(q);
	regbuf_nvme_dmamap_destroy(a.b);
	munmap(a.p, a.len);
	return T_PASS;
}

/*
 * Command timeout (config vfio-slow: a null-co backend taking 2 s per I/O):
 * with a 300 ms timeout the command completes with REGBUF_NVME_STATUS_TIMEOUT
 * and its CID stays reserved until the controller's late completion frees it.
 */
static int timeout_then_late_completion(void)
{
	struct regbuf_nvme_qpair *q;
	struct regbuf_nvme_cpl cpl;
	struct timespec ts = { 3, 0 };
	uint32_t saved;
	unsigned int n = 0;
	struct arena a;
	int ret = need_ctrl(), got;

	if (ret)
		return ret;
	if (!getenv("REGBUF_SLOW_DEVICE"))
		return t_skip("only in the vfio-slow configuration (null-co latency-ns)");
	t_ok(arena_get(&a, true, 4u << 20));
	t_ok(regbuf_nvme_qpair_create(&q, ctrl, 4, 0));
	saved = ctrl->timeout_ms;
	ctrl->timeout_ms = 300;
	t_ok(regbuf_nvme_submit_write(q, nsh, a.b, 0, 2u << 20, 0, (void *)1, 0));
	do {
		got = regbuf_nvme_reap(q, &cpl, 1);
	} while (!got);
	ctrl->timeout_ms = saved;
	printf("# overdue write -> status 0x%x %s\n", cpl.status, regbuf_nvme_status_str(cpl.status));
	if (cpl.status == 0) {
		/* the controller beat the first poll: nothing to test this time */
		ret = t_skip("the write completed before the first poll");
		goto out;
	}
	t_check_eq(cpl.status, REGBUF_NVME_STATUS_TIMEOUT);
	t_check_eq(regbuf_nvme_status_errno(cpl.status), -ETIMEDOUT);
	t_check_eq(regbuf_nvme_qpair_inflight(q), 0);
	/* the late completion arrives and frees the reserved entries */
	nanosleep(&ts, NULL);
	t_check_eq(regbuf_nvme_reap(q, &cpl, 1), 0);
	for (;;) {
		if (regbuf_nvme_submit_read(q, nsh, a.b, 0, 4096, 0, NULL, 0))
			break;
		n++;
	}
	t_check_eq(n, 3);	/* depth 4: all three entries usable again */
	while (regbuf_nvme_qpair_inflight(q))
		(void)regbuf_nvme_reap(q, &cpl, 1);
	t_check_eq(cpl.status, 0);
	ret = T_PASS;
out:
	qpair_put(q);
	arena_put(&a);
	return ret;
}

/*
 * Controller Fatal Status: the I/O submission queue's memory is unmapped
 * behind the driver's back, so QEMU cannot fetch the next SQE and sets
 * CSTS.CFS (nvme_process_sq()).  The request must complete ABORTED, the
 * controller report failure, and new I/O be refused; the controller is then
 * closed (its DMA memory is gone) and shutdown_clean brings it back up.
 */
static int cfs_detected(void)
{
	struct regbuf_nvme_qpair *q;
	struct regbuf_nvme_cpl cpl;
	struct nvme_dma_chunk *ch;
	struct arena a;
	int ret = need_ctrl(), got;

	if (ret)
		return ret;
	if (!getenv("REGBUF_EXPECT_DMA_FAULT"))
		return t_skip("only in the vfio-fault configuration of guest-suite");
	if (is_phys())
		return t_skip("needs an IOMMU to take the queue away");
	t_ok(arena_get(&a, false, 1u << 20));
	t_ok(regbuf_nvme_qpair_create(&q, ctrl, 4, 0));
	for (ch = ctrl->chunks; ch; ch = ch->next)
		if (q->q.sq_iova >= ch->iova && q->q.sq_iova < ch->iova + ch->len)
			break;
	t_check(ch != NULL);
	nvme_vfio_unmap(ctrl, ch->iova, ch->len);
	t_ok(regbuf_nvme_submit_read(q, nsh, a.b, 0, 4096, 0, (void *)7, 0));
	do {
		got = regbuf_nvme_reap(q, &cpl, 1);
	} while (!got);
	printf("# SQE fetch from an unmapped queue -> status 0x%x %s, CSTS 0x%x\n", cpl.status,
	       regbuf_nvme_status_str(cpl.status), nvme_rd32(ctrl, NVME_REG_CSTS));
	t_check_eq(cpl.status, REGBUF_NVME_STATUS_ABORTED);
	t_check(cpl.ctx == (void *)7);
	t_check_eq(regbuf_nvme_ctrl_failed(ctrl), 1);
	t_check_eq(regbuf_nvme_submit_read(q, nsh, a.b, 0, 4096, 0, NULL, 0), -ENXIO);
	qpair_put(q);
	regbuf_nvme_dmamap_destroy(a.b);
	munmap(a.p, a.len);
	regbuf_nvme_ctrl_destroy(ctrl);
	ctrl = NULL;
	return T_PASS;
}

/* Controller reset with no queues, then I/O works again. */
static int reset_then_io(void)
{
	struct regbuf_nvme_qpair *q;
	struct arena a;
	int ret = need_ctrl();

	if (ret)
		return ret;
	ret = arena_get(&a, true, 4u << 20);
	if (ret)
		return T_FAILF("arena: %d", ret);
	t_ok(regbuf_nvme_qpair_create(&q, ctrl, 8, 0));
	t_check_eq(regbuf_nvme_ctrl_reset(ctrl), -EBUSY);
	ret = write_read_verify(q, &a, 0, 1u << 20, 32768, 100, 0);
	qpair_put(q);
	if (ret)
		return ret;
	t_ok(regbuf_nvme_ctrl_reset(ctrl));
	t_check_eq(regbuf_nvme_ctrl_failed(ctrl), 0);
	t_ok(regbuf_nvme_ns_get(&nsh, ctrl, 1));
	ns = *regbuf_nvme_ns_info(nsh);
	t_ok(regbuf_nvme_qpair_create(&q, ctrl, 8, 0));
	/* data written before the reset is still there */
	memset(a.p + (2u << 20), 0, 32768);
	t_ok(do_io(q, REGBUF_NVME_OP_READ, &a, 2u << 20, 32768, 100, 0, NULL));
	t_check_eq(t_pattern_check(a.p + (2u << 20), 32768, 100 * ns.lba_size, SALT), -1);
	ret = write_read_verify(q, &a, 4, 1u << 20, 65536, 200, 0);
	qpair_put(q);
	arena_put(&a);
	return ret;
}

/*
 * blkdebug config (guest-suite): the first read touching byte 2 MiB fails
 * with EIO, every write touching bytes [4 MiB, 4 MiB + 512) fails with ENOSPC.
 * Both must surface as NVMe status, promptly, without touching neighbours.
 */
static int io_errors(void)
{
	uint64_t lbs, bad_r, bad_w, t0;
	struct regbuf_nvme_qpair *q;
	struct regbuf_nvme_cpl cpl;
	struct arena a;
	int ret = need_ctrl();

	if (ret)
		return ret;
	if (!getenv("REGBUF_BLKDEBUG"))
		return t_skip("needs the blkdebug configuration of guest-suite");
	lbs = ns.lba_size;
	bad_r = (2u << 20) / lbs;
	bad_w = (4u << 20) / lbs;
	ret = arena_get(&a, true, 4u << 20);
	if (ret)
		return T_FAILF("arena: %d", ret);
	t_ok(regbuf_nvme_qpair_create(&q, ctrl, 8, 0));
	/* read error: once; UNRECOVERED_READ (SCT 2h, SC 81h) from QEMU's nvme_aio_err() */
	t0 = (uint64_t)time(NULL);
	ret = do_io(q, REGBUF_NVME_OP_READ, &a, 0, 8 * lbs, bad_r - 2, 0, &cpl);
	printf("# injected read EIO at lba %llu -> %d status 0x%x %s (sct %u sc 0x%x dnr %u)\n",
	       (unsigned long long)bad_r, ret, cpl.status, regbuf_nvme_status_str(cpl.status),
	       regbuf_nvme_status_sct(cpl.status), regbuf_nvme_status_sc(cpl.status),
	       regbuf_nvme_status_dnr(cpl.status));
	t_check_eq(ret, -EIO);
	t_check(!strcmp(regbuf_nvme_status_str(cpl.status), "UNRECOVERED_READ"));
	/* "once = on": the retry succeeds */
	t_ok(do_io(q, REGBUF_NVME_OP_READ, &a, 0, 8 * lbs, bad_r - 2, 0, NULL));
	/* write error on one block; its neighbours hold their data */
	ret = write_read_verify(q, &a, 0, 1u << 20, 4 * lbs, bad_w - 4, 0);
	if (!ret)
		ret = write_read_verify(q, &a, 0, 1u << 20, 4 * lbs, bad_w + 1, 0);
	if (ret)
		return ret;
	t_pattern_fill(a.p, 8 * lbs, 0, SALT + 99);
	ret = do_io(q, REGBUF_NVME_OP_WRITE, &a, 0, lbs, bad_w, 0, &cpl);
	printf("# injected write ENOSPC at lba %llu -> %d status 0x%x %s\n",
	       (unsigned long long)bad_w, ret, cpl.status, regbuf_nvme_status_str(cpl.status));
	t_check(ret < 0);
	t_check(cpl.status != 0);
	/* a write spanning the bad block fails as a whole ... */
	ret = do_io(q, REGBUF_NVME_OP_WRITE, &a, 0, 8 * lbs, bad_w - 2, 0, &cpl);
	printf("# spanning write -> %d status 0x%x %s\n", ret, cpl.status,
	       regbuf_nvme_status_str(cpl.status));
	t_check(ret < 0);
	/* ... and the blocks around it still read back what was there before */
	memset(a.p + (1u << 20), 0, 4 * lbs);
	t_ok(do_io(q, REGBUF_NVME_OP_READ, &a, 1u << 20, 4 * lbs, bad_w - 4, 0, NULL));
	t_check_eq(t_pattern_check(a.p + (1u << 20), 4 * lbs, (bad_w - 4) * lbs, SALT), -1);
	t_ok(do_io(q, REGBUF_NVME_OP_READ, &a, 1u << 20, 4 * lbs, bad_w + 1, 0, NULL));
	t_check_eq(t_pattern_check(a.p + (1u << 20), 4 * lbs, (bad_w + 1) * lbs, SALT), -1);
	/* no hang: everything above finished well inside the command timeout */
	t_check((uint64_t)time(NULL) - t0 < 30);
	t_check_eq(regbuf_nvme_ctrl_failed(ctrl), 0);
	qpair_put(q);
	arena_put(&a);
	return T_PASS;
}

static int shutdown_clean(void)
{
	int ret = need_ctrl();

	if (ret)
		return ret;
	regbuf_nvme_ctrl_destroy(ctrl);
	ctrl = NULL;
	printf("# I/Os verified in this boot: %llu\n", (unsigned long long)ios_verified);
	/* and it comes back up after a clean shutdown */
	ret = need_ctrl();
	if (ret)
		return ret;
	regbuf_nvme_ctrl_destroy(ctrl);
	ctrl = NULL;
	return T_PASS;
}

/* The function's PCI command register (sysfs config), or -1. */
static int pci_command(void)
{
	char path[128];
	regbuf_le16 cmd;
	int fd;
	ssize_t n;

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/config", dev_bdf());
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	n = pread(fd, &cmd, 2, 4);
	close(fd);
	return n == 2 ? regbuf_le16_to_cpu(cmd) : -1;
}

/*
 * In a child: bring the controller up, fill the queue with up to 16 reads of
 * 128 KiB (or MDTS) on hugetlb memory,
 * then die of SIGKILL without a word to the device.
 */
static void die_with_io_in_flight(void)
{
	struct regbuf_nvme_qpair *q;
	struct arena a;
	unsigned int i;
	uint64_t len;
	int ret = 0;

	ctrl = NULL;
	if (need_ctrl() || arena_get(&a, true, 4u << 20) ||
	    regbuf_nvme_qpair_create(&q, ctrl, (uint32_t)env_u64("REGBUF_NVME_QDEPTH", 32), 0))
		_exit(T_BROKEN);
	/* One command each: at most MDTS (0 = no limit). */
	len = regbuf_nvme_ctrl_info(ctrl)->max_cmd_bytes;
	len = len && len < 131072 ? len : 131072;
	for (i = 0; i < 16 && !ret; i++)
		ret = regbuf_nvme_submit_read(q, nsh, a.b, i * len, len, i * len / ns.lba_size,
					      NULL, 0);
	if (ret && (ret != -EAGAIN || i == 1))
		_exit(T_BROKEN);	/* not even one read in flight */
	raise(SIGKILL);
	_exit(T_BROKEN);
}

/*
 * A process killed with I/O in flight must not leave the controller able to
 * write into its freed memory: its bus mastering is off once the process is
 * gone (uio_pci_generic clears it when the /dev/uioN the driver holds is
 * closed; vfio-pci disables the function when its file is released).  A second
 * process is refused while the first holds the function, and the next one
 * brings the controller up again.
 */
static int killed_process_stops_dma(void)
{
	struct regbuf_nvme_ctrl *other = NULL;
	struct regbuf_nvme_opts o = { 0 };
	char why[256] = "";
	pid_t pid;
	int st, cmd, ret = need_ctrl();

	if (ret)
		return ret;
	/* Held here: another process is refused, whatever the mode. */
	o.why = why;
	o.why_len = sizeof(why);
	o.flags = is_phys() ? REGBUF_NVME_F_ALLOW_UNSAFE : 0;
	fflush(stdout);
	pid = fork();
	if (pid == 0)
		_exit(regbuf_nvme_ctrl_create(&other, dev_bdf(), &o) == -EBUSY ? T_PASS : T_FAIL);
	waitpid(pid, &st, 0);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != T_PASS)
		return T_FAILF("a second process could open %s while this one holds it (0x%x)",
			       dev_bdf(), st);
	regbuf_nvme_ctrl_destroy(ctrl);
	ctrl = NULL;

	pid = fork();
	if (pid == 0)
		die_with_io_in_flight();
	waitpid(pid, &st, 0);
	if (!WIFSIGNALED(st) || WTERMSIG(st) != SIGKILL)
		return T_FAILF("the child did not get its I/O going (status 0x%x)", st);
	cmd = pci_command();
	if (cmd < 0)
		return T_FAILF("cannot read the PCI command register of %s", dev_bdf());
	if (cmd & 0x4)
		return T_FAILF("PCI command 0x%04x: bus mastering still on after the process "
			       "died with I/O in flight", cmd);
	ret = need_ctrl();	/* and it comes back */
	if (ret)
		return ret;
	printf("# after SIGKILL with reads in flight: PCI command 0x%04x (bus master off)\n", cmd);
	return T_PASS;
}

/* Run a command in the guest, capture its output; returns its exit status. */
static int run_capture(char *out, size_t len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int run_capture(char *out, size_t len, const char *fmt, ...)
{
	char cmd[512];
	size_t n = 0;
	va_list ap;
	FILE *f;
	int st;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	f = popen(cmd, "r");
	if (!f)
		return -1;
	while (n + 1 < len && fgets(out + n, (int)(len - n), f))
		n += strlen(out + n);
	out[n] = '\0';
	st = pclose(f);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* The CLI and the lab's nvme experiment against the same controller (run after
 * shutdown_clean released it). */
static int cli_nvme(void)
{
	const char *cli = "/bin/regbuf-static", *lab = "/bin/regbuf-bench-static";
	const char *unsafe = is_phys() ? " --unsafe" : "";
	static char out[16384];
	int st;

	if (!dev_bdf())
		return t_skip("REGBUF_NVME_DEVICE not set: run through tests/device/guest.sh");
	if (access(cli, X_OK))
		return t_skip("%s not in the initramfs", cli);
	if (ctrl) {
		regbuf_nvme_ctrl_destroy(ctrl);
		ctrl = NULL;
	}
	st = run_capture(out, sizeof(out), "%s nvme list 2>&1", cli);
	t_check_eq(st, 0);
	t_check(strstr(out, dev_bdf()) != NULL);
	t_check(strstr(out, is_phys() ? "uio_pci_generic" : "vfio-pci") != NULL);
	if (is_phys()) {
		/* Without the opt-in: refused, and told the CLI's option, not the library flag. */
		st = run_capture(out, sizeof(out), "%s nvme identify --device %s 2>&1", cli,
				 dev_bdf());
		if (st != 1 || !strstr(out, "pass --unsafe") || strstr(out, "REGBUF_NVME_F"))
			return T_FAILF("identify without --unsafe: exit %d: %s", st, out);
	}
	st = run_capture(out, sizeof(out), "%s nvme identify --device %s%s 2>&1", cli, dev_bdf(),
			 unsafe);
	if (st)
		return T_FAILF("identify exit %d: %s", st, out);
	t_check(strstr(out, "QEMU NVMe Ctrl") != NULL);
	st = run_capture(out, sizeof(out), "%s nvme write --device %s%s --lba 77 --fill 0x5a 2>&1",
			 cli, dev_bdf(), unsafe);
	if (st)
		return T_FAILF("write exit %d: %s", st, out);
	st = run_capture(out, sizeof(out), "%s nvme read --device %s%s --lba 77 2>&1", cli,
			 dev_bdf(), unsafe);
	if (st)
		return T_FAILF("read exit %d: %s", st, out);
	t_check(strstr(out, " 5a 5a 5a 5a") != NULL);
	st = run_capture(out, sizeof(out), "%s nvme read --device %s%s --lba 999999999 2>&1", cli,
			 dev_bdf(), unsafe);
	t_check_eq(st, 1);
	t_check(strstr(out, "LBA_OUT_OF_RANGE") != NULL);
	if (access(lab, X_OK))
		return t_skip("%s not in the initramfs", lab);
	/* The lab keeps its undo state in a directory; the initramfs has no /run. */
	st = run_capture(out, sizeof(out), "REGBUF_STATE_DIR=/tmp/regbuf-state %s nvme --device "
			 "%s%s --seconds 1 --qd 8 2>&1", lab, dev_bdf(), unsafe);
	printf("%s", out);
	if (st)
		return T_FAILF("bench exit %d", st);
	t_check(strstr(out, "premapped") != NULL && strstr(out, "classic") != NULL);
	return T_PASS;
}

/*
 * A namespace of 2^32 blocks or more (a sparse image of 2 TiB and up): the
 * SLBA's upper half travels in CDW11.  A write at block 2^32 + 8 must land
 * there and not at block 8, where an SLBA cut to 32 bits would put it, and an
 * I/O across block 2^32 reads back whole.
 */
static int beyond_32bit_lba(void)
{
	const uint64_t hi = UINT64_C(1) << 32, len = 64 << 10;
	struct regbuf_nvme_qpair *q;
	struct arena a;
	long long bad;
	int ret = need_ctrl();

	if (ret)
		return ret;
	if (ns.nsze < hi + 2 * len / ns.lba_size)
		return t_skip("namespace of %llu blocks: boot with a sparse image of 2 TiB or more",
			      (unsigned long long)ns.nsze);
	ret = arena_get(&a, false, 1u << 20);
	if (ret)
		return T_FAILF("arena: %d", ret);
	ret = regbuf_nvme_qpair_create(&q, ctrl, 8, 0);
	if (ret) {
		arena_put(&a);
		return T_FAILF("qpair_create: %d", ret);
	}
	/* block 8 and on: zeros, so that a write landing there shows */
	memset(a.p, 0, len);
	ret = do_io(q, REGBUF_NVME_OP_WRITE, &a, 0, len, 8, 0, NULL);
	if (!ret)
		ret = write_read_verify(q, &a, 0, 256 << 10, len, hi + 8, 0);
	/* across the 32-bit boundary: blocks 2^32 - 16 .. */
	if (!ret)
		ret = write_read_verify(q, &a, 0, 256 << 10, len, hi - 16, 0);
	/* the last blocks of the namespace */
	if (!ret)
		ret = write_read_verify(q, &a, 0, 256 << 10, len, ns.nsze - len / ns.lba_size, 0);
	if (!ret) {
		memset(a.p + (512 << 10), 0xee, len);
		ret = do_io(q, REGBUF_NVME_OP_READ, &a, 512 << 10, len, 8, 0, NULL);
		bad = -1;
		for (uint64_t i = 0; !ret && i < len && bad < 0; i++)
			if (a.p[(512 << 10) + i])
				bad = (long long)i;
		if (!ret && bad >= 0)
			ret = T_FAILF("block 8 changed (byte %lld): the write for block 2^32 + 8 "
				      "landed there", bad);
	}
	printf("# %llu blocks of %u B; I/O at 2^32 + 8, across 2^32 and at the end verified\n",
	       (unsigned long long)ns.nsze, ns.lba_size);
	qpair_put(q);
	arena_put(&a);
	return ret > 0 ? ret : ret ? T_FAILF("I/O: %d", ret) : T_PASS;
}

/* ---- metadata and protection information (MPTR, extended LBAs, PI) ---- */

static uint64_t md_ios, md_cmds, md_bytes, md_md_bytes;

/* One read or write with metadata, waited; counted when it succeeds. */
static int md_io(struct regbuf_nvme_qpair *q, bool write, const struct regbuf_nvme_ns *h,
		 struct arena *a, uint64_t off, uint64_t nblk, uint64_t lba,
		 const struct regbuf_nvme_md *md, unsigned int flags, struct regbuf_nvme_cpl *cpl)
{
	const struct regbuf_nvme_ns_info *ni = regbuf_nvme_ns_info(h);
	int ret;

	memset(cpl, 0, sizeof(*cpl));
	ret = regbuf_nvme_submit_rw_md(q, write, h, a->b, off, nblk * ni->blk_bytes, lba, md,
				       NULL, flags);
	if (ret)
		return ret;
	while (!regbuf_nvme_reap(q, cpl, 1))
		;
	ret = regbuf_nvme_status_errno(cpl->status);
	if (!ret) {
		md_ios++;
		md_cmds += cpl->nr_cmds;
		md_bytes += nblk * ni->lba_size;
		md_md_bytes += nblk * ni->ms;
	}
	return ret;
}

/*
 * One namespace formatted with metadata, through the userspace driver:
 * refusals, a round trip of data and metadata split at MDTS (each command
 * its own MPTR and reference tag) with PRPs and with SGLs, protection errors
 * as NVMe statuses, and PRACT (the controller's tuples equal ours).
 */
static int md_nsid(uint32_t nsid, int *checks)
{
	const uint64_t lba = 1024;
	static const unsigned int dptr[] = { REGBUF_NVME_IO_F_PRP, REGBUF_NVME_IO_F_SGL };
	const struct regbuf_nvme_ns_info *ni;
	struct regbuf_nvme_md md, mdr, bad;
	struct regbuf_nvme_ns *h;
	struct regbuf_nvme_qpair *q = NULL;
	struct regbuf_nvme_cpl cpl;
	struct md_fmt f;
	struct arena a;
	uint64_t nblk, len, mlen, w = 0, rd = 2 << 20, mw = 4 << 20, mr = 5 << 20;
	char why[128];
	unsigned int i, k;
	int ret;

	ret = regbuf_nvme_ns_get(&h, ctrl, nsid);
	if (ret)
		return T_FAILF("Identify Namespace %u: %d", nsid, ret);
	ni = regbuf_nvme_ns_info(h);
	f = (struct md_fmt){ .lbs = ni->lba_size, .ms = ni->ms, .ext = ni->ext,
			     .pi_type = ni->pi_type, .pi_first = ni->pi_first };
	/* 1 MiB of data at most: written from [w, rd), read back into [rd, mw) */
	nblk = (1u << 20) / ni->blk_bytes < 1024 ? (1u << 20) / ni->blk_bytes : 1024;
	nblk = md_qemu_blocks(&f, nblk);
	len = nblk * ni->blk_bytes;
	mlen = nblk * ni->ms;
	printf("# nsid %u: %u + %u bytes per block, %s metadata, %s%s\n", nsid, ni->lba_size,
	       ni->ms, ni->ext ? "extended LBA" : "separate", md_pi_name(&f),
	       ni->pi_type ? (ni->pi_first ? " (first 8 bytes)" : " (last 8 bytes)") : "");
	if (!ni->ms)
		return T_FAILF("nsid %u has no metadata", nsid);
	ret = arena_get(&a, false, 8 << 20);
	if (ret)
		return T_FAILF("arena: %d", ret);
	ret = regbuf_nvme_qpair_create(&q, ctrl, 16, 0);
	if (ret) {
		arena_put(&a);
		return T_FAILF("qpair_create: %d", ret);
	}
	memset(&md, 0, sizeof(md));
	md.map = ni->ext ? NULL : a.b;
	md.off = mw;
	md.prinfo = md_prchk(&f);
	md.reftag = (uint32_t)lba;
	md.apptag = MD_APPTAG;
	md.appmask = 0xffff;
	mdr = md;
	mdr.off = mr;

	/* Refused before anything is queued: what does not fit the format. */
	if (!ni->ext && regbuf_nvme_submit_read(q, h, a.b, rd, ni->blk_bytes, lba, NULL, 0) !=
	    -EINVAL)
		ret = T_FAILF("a read without its separate metadata was not refused");
	bad = md;
	bad.map = ni->ext ? a.b : NULL;
	bad.prinfo = ni->ext ? md.prinfo : 0;
	if (regbuf_nvme_submit_rw_md(q, false, h, a.b, rd, ni->blk_bytes, lba, &bad, NULL, 0) !=
	    -EINVAL)
		ret = T_FAILF("metadata where the format has none (or none where it has) "
			      "was not refused");
	if (!ni->ext) {
		bad = md;
		bad.off = a.len - mlen + 4;	/* the metadata would run past the buffer */
		if (regbuf_nvme_submit_rw_md(q, false, h, a.b, rd, len, lba, &bad, NULL, 0) !=
		    -EINVAL)
			ret = T_FAILF("metadata past its buffer was not refused");
	} else if (regbuf_nvme_submit_rw_md(q, false, h, a.b, rd, ni->lba_size, lba, &md, NULL,
					    0) != -EINVAL) {
		ret = T_FAILF("a data length without the block's metadata was not refused");
	}
	if (!ni->pi_type) {
		bad = md;
		bad.prinfo = REGBUF_NVME_RW_PRCHK_GUARD;
		if (regbuf_nvme_submit_rw_md(q, false, h, a.b, rd, ni->blk_bytes, lba, &bad, NULL,
					     0) != -EINVAL)
			ret = T_FAILF("PRCHK on a namespace without PI was not refused");
	}
	if (ret || regbuf_nvme_qpair_inflight(q)) {
		ret = ret ? ret : T_FAILF("a refused I/O is in flight");
		goto out;
	}
	(*checks)++;

	/* Round trips, PRPs then SGLs for the data (MPTR a contiguous buffer). */
	for (i = 0; i < 2; i++) {
		if (dptr[i] == REGBUF_NVME_IO_F_SGL &&
		    (!(regbuf_nvme_ctrl_info(ctrl)->sgls & 3) || getenv("REGBUF_NVME_NO_SGL")))
			continue;
		md_fill(&f, a.p + w, a.p + mw, nblk, lba, SALT ^ (20 + i));
		ret = md_io(q, true, h, &a, w, nblk, lba, &md, dptr[i], &cpl);
		if (!ret) {
			memset(a.p + rd, 0, len);
			memset(a.p + mr, 0, mlen);
			ret = md_io(q, false, h, &a, rd, nblk, lba, &mdr, dptr[i], &cpl);
		}
		printf("#   %s: %llu blocks in %u commands each way, %llu data + %llu metadata "
		       "bytes: %d (status %#x)\n", i ? "SGL" : "PRP", (unsigned long long)nblk,
		       cpl.nr_cmds, (unsigned long long)(nblk * ni->lba_size),
		       (unsigned long long)mlen, ret, cpl.status);
		if (ret) {
			ret = T_FAILF("nsid %u round trip: %d (status %#x)", nsid, ret, cpl.status);
			goto out;
		}
		if (md_diff(&f, a.p + w, a.p + rd, nblk, why, sizeof(why)) ||
		    (!ni->ext && memcmp(a.p + mw, a.p + mr, mlen))) {
			ret = T_FAILF("nsid %u: read back differs: %s", nsid,
				      md_diff(&f, a.p + w, a.p + rd, nblk, why, sizeof(why)) ?
				      why : "separate metadata");
			goto out;
		}
		(*checks)++;
	}

	/* Protection errors come back as the NVMe status, never as success. */
	for (k = 0; ni->pi_type && k < md_nr_pi_cases(&f); k++) {
		uint8_t *m;

		bad = md;
		md_fill(&f, a.p + w, a.p + mw, 1, lba, SALT ^ 30);
		m = ni->ext ? a.p + w + ni->lba_size : a.p + mw;
		if (md_pi_cases[k].byte < 8)
			m[md_pi_off(&f) + md_pi_cases[k].byte] ^= 0x01;
		else
			bad.reftag = (uint32_t)lba + 1;
		ret = md_io(q, true, h, &a, w, 1, lba, &bad, 0, &cpl);
		printf("#   write with a wrong %s: %d, status %#x (sct %u sc %#x)\n",
		       md_pi_cases[k].what, ret, cpl.status, regbuf_nvme_status_sct(cpl.status),
		       regbuf_nvme_status_sc(cpl.status));
		if (ret != -EIO || regbuf_nvme_status_sct(cpl.status) != md_pi_cases[k].sct ||
		    regbuf_nvme_status_sc(cpl.status) != md_pi_cases[k].sc) {
			ret = T_FAILF("nsid %u: a wrong %s gave %d status %#x, not SCT %uh SC %#x",
				      nsid, md_pi_cases[k].what, ret, cpl.status,
				      md_pi_cases[k].sct, md_pi_cases[k].sc);
			goto out;
		}
		(*checks)++;
	}
	ret = 0;
	if (ni->pi_type && !ni->ext && ni->ms == 8) {
		/* PRACT: the controller makes the tuples from the data and CDW14/15;
		 * read back with their metadata, they must equal ours. */
		bad = md;
		bad.map = NULL;
		bad.prinfo = REGBUF_NVME_RW_PRACT | md_prchk(&f);
		md_fill(&f, a.p + w, a.p + mw, nblk, lba, SALT ^ 31);
		ret = md_io(q, true, h, &a, w, nblk, lba, &bad, 0, &cpl);
		if (!ret) {
			memset(a.p + mr, 0, mlen);
			ret = md_io(q, false, h, &a, rd, nblk, lba, &mdr, 0, &cpl);
		}
		if (ret || memcmp(a.p + w, a.p + rd, len) || memcmp(a.p + mw, a.p + mr, mlen)) {
			ret = T_FAILF("nsid %u PRACT: %d (status %#x), or the controller's tuples "
				      "differ from regbuf_nvme_pi_set()'s", nsid, ret, cpl.status);
			goto out;
		}
		printf("#   PRACT: %llu tuples the controller made equal regbuf's\n",
		       (unsigned long long)nblk);
		(*checks)++;
	}
out:
	qpair_put(q);
	arena_put(&a);
	return ret;
}

/* Every namespace in REGBUF_NVME_MD_NSIDS (comma-separated), each formatted with metadata. */
static int metadata_and_pi(void)
{
	const char *list = getenv("REGBUF_NVME_MD_NSIDS");
	int ret = need_ctrl(), checks = 0, nr = 0;
	char *end;

	if (ret)
		return ret;
	if (!list || !*list)
		return t_skip("no namespaces with metadata (guest.sh --ns-more ms=8,...; "
			      "REGBUF_NVME_MD_NSIDS)");
	while (*list && ret == T_PASS) {
		ret = md_nsid((uint32_t)strtoul(list, &end, 10), &checks);
		nr++;
		list = *end == ',' ? end + 1 : end;
	}
	printf("# metadata: %d namespaces, %d checks; %llu I/Os, %llu commands, %llu data bytes, "
	       "%llu metadata bytes\n", nr, checks, (unsigned long long)md_ios,
	       (unsigned long long)md_cmds, (unsigned long long)md_bytes,
	       (unsigned long long)md_md_bytes);
	return ret;
}

static const struct t_case cases[] = {
	T_CASE(guest_binding),
	T_CASE(bringup_identify),
	T_CASE(killed_process_stops_dma),
	T_CASE(qpair_cycle),
	T_CASE(buf_refuses),
	T_CASE(io_invalid),
	T_CASE(io_boundaries),
	T_CASE(queue_full),
	T_CASE(deferred_batch),
	T_CASE(sweep_4k_prp),
	T_CASE(sweep_4k_sgl),
	T_CASE(sweep_2m_prp),
	T_CASE(sweep_2m_sgl),
	T_CASE(sweep_2m_auto),
	T_CASE(sweep_2m_classic),
	T_CASE(sweep_2m_classic_sgl),
	T_CASE(table_slot),
	T_CASE(metadata_and_pi),
	T_CASE(many_qpairs),
	T_CASE(two_threads),
	T_CASE_EXPLICIT(io_errors),
	T_CASE_EXPLICIT(dma_fault_detected),
	T_CASE_EXPLICIT(timeout_then_late_completion),
	T_CASE(reset_then_io),
	T_CASE_EXPLICIT(beyond_32bit_lba),
	T_CASE_EXPLICIT(cfs_detected),
	T_CASE(shutdown_clean),
	T_CASE(cli_nvme),
};

int main(int argc, char **argv)
{
	if (getenv("REGBUF_NVME_MODE"))
		mode = getenv("REGBUF_NVME_MODE");
	return t_main("nvme", cases, sizeof(cases) / sizeof(cases[0]), argc, argv);
}
