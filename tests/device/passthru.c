// SPDX-License-Identifier: MIT
/*
 * Device tests of NVMe passthrough through the kernel's NVMe host, run in the
 * Debian 6.1 QEMU guest (tests/device/guest.sh --mode kernel|tcp): the guest's
 * /init binds QEMU's controller to the kernel nvme driver, or attaches an
 * nvmet-tcp target on 127.0.0.1, and names the namespace in REGBUF_NG (char
 * device) and REGBUF_BLK (block device).
 *
 * Every data case writes a position-dependent pattern, reads it back into
 * another place of registered memory and compares.  The bounce-copy case
 * counts what the kernel's copy path (bio_copy_user_iov()) costs: page
 * allocations in /proc/vmstat and, where kprobes reach the function, its hits.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <regbuf/uring.h>

#include "harness.h"
#include "md.h"

#define KiB (UINT64_C(1) << 10)
#define MiB (UINT64_C(1) << 20)
#define GiB (UINT64_C(1) << 30)
#define SALT UINT64_C(0x70617373)
#define WAIT_S 60	/* no completion may take longer: "no hang" */

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static struct regbuf_uring_nvme_ns ns;
static bool ns_ok;
static uint64_t tot_ios, tot_cmds, tot_bytes;

static const char *env(const char *name)
{
	const char *v = getenv(name);

	return v && *v ? v : NULL;
}

static uint64_t lbs(void)
{
	return UINT64_C(1) << ns.lba_shift;
}

static int need_ns(void)
{
	int ret;

	if (ns_ok)
		return T_PASS;
	if (!env("REGBUF_NG"))
		return t_skip("REGBUF_NG not set: run through tests/device/guest.sh --mode kernel|tcp");
	ret = regbuf_uring_nvme_open(&ns, env("REGBUF_NG"), 0);
	if (ret)
		return T_FAILF("regbuf_uring_nvme_open(%s) = %d", env("REGBUF_NG"), ret);
	ns_ok = true;
	return T_PASS;
}

struct arena {
	uint8_t *p;
	size_t len;
	bool huge;
};

static int arena_map(struct arena *a, size_t len, bool try_huge)
{
	a->len = len;
	a->huge = false;
	if (try_huge) {
		a->p = mmap(NULL, len, PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE | MAP_HUGETLB, -1, 0);
		if (a->p != MAP_FAILED) {
			a->huge = true;
			return 0;
		}
	}
	a->p = mmap(NULL, len, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	return a->p == MAP_FAILED ? -errno : 0;
}

static void arena_unmap(struct arena *a)
{
	if (a->p && a->p != MAP_FAILED)
		munmap(a->p, a->len);
}

/* A passthrough pool of @nr rings of @sq_entries with @a registered, slots as this kernel needs. */
static int pool_make(struct regbuf_uring_pool **pp, uint32_t nr, uint32_t sq_entries,
		     struct arena *a)
{
	struct iovec iov = { a->p, a->len };
	int ret;

	ret = regbuf_uring_pool_create(pp, nr, sq_entries, 0, REGBUF_URING_POOL_F_NVME_CMD);
	if (ret)
		return ret;
	ret = regbuf_uring_pool_set_buf_len(*pp, ns.max_buf_len);
	if (!ret)
		ret = regbuf_uring_pool_register(*pp, &iov, 1, 0);
	if (ret) {
		regbuf_uring_pool_destroy(*pp);
		*pp = NULL;
	}
	return ret;
}

/* An arena registered in a passthrough pool of @nr rings; @r is ring 0. */
struct fix {
	struct arena a;
	struct regbuf_uring_pool *pool;
	struct regbuf_uring_ring *r;
};

static int fix_init_sq(struct fix *f, size_t len, uint32_t nr, uint32_t sq_entries,
		       bool try_huge)
{
	int ret;

	memset(f, 0, sizeof(*f));
	ret = arena_map(&f->a, len, try_huge);
	if (ret)
		return ret;
	ret = pool_make(&f->pool, nr, sq_entries, &f->a);
	if (ret) {
		arena_unmap(&f->a);
		return ret;
	}
	f->r = regbuf_uring_pool_ring(f->pool, 0);
	return 0;
}

static int fix_init(struct fix *f, size_t len, uint32_t nr, bool try_huge)
{
	return fix_init_sq(f, len, nr, 128, try_huge);
}

/* The namespace, then the fixture: a harness result (skip without a namespace). */
static int setup(struct fix *f, size_t len, uint32_t nr, bool try_huge)
{
	int ret = need_ns();

	if (ret)
		return ret;
	ret = fix_init(f, len, nr, try_huge);
	return ret ? T_FAILF("arena + pool: %d", ret) : T_PASS;
}

static void fix_fini(struct fix *f)
{
	regbuf_uring_pool_destroy(f->pool);
	arena_unmap(&f->a);
}

/* Wait for @n CQEs (tags skipped), each within WAIT_S; first failure in @first. */
static int reap(struct regbuf_uring_ring *r, int n, struct regbuf_uring_nvme_cpl *first,
		int *nr_err)
{
	struct __kernel_timespec ts = { .tv_sec = WAIT_S };
	struct regbuf_uring_nvme_cpl c;
	struct io_uring_cqe *cqe;
	int ret = 0, err;

	if (nr_err)
		*nr_err = 0;
	while (n) {
		err = io_uring_wait_cqe_timeout(&r->ring, &cqe, &ts);
		if (err)
			return err == -ETIME ? -ETIMEDOUT : err;
		if (regbuf_uring_cqe_is_tag(cqe)) {
			regbuf_uring_ring_count_tag(r, cqe);
		} else {
			err = regbuf_uring_nvme_cqe(cqe, &c);
			if (err) {
				if (nr_err)
					(*nr_err)++;
				if (!ret) {
					ret = err;
					if (first)
						*first = c;
				}
			}
			n--;
		}
		io_uring_cqe_seen(&r->ring, cqe);
	}
	return ret;
}

/* One synchronous read or write; counted in the totals when it succeeds. */
static int xfer(struct regbuf_uring_ring *r, bool write, void *buf, uint64_t len, uint64_t lba,
		struct regbuf_uring_nvme_cpl *c, int *cmds)
{
	int n, ret;

	n = regbuf_uring_nvme_prep_rw(r, &ns, write, buf, len, lba, 0, 1);
	if (n < 0)
		return n;
	if (cmds)
		*cmds = n;
	ret = io_uring_submit(&r->ring);
	if (ret != n)
		return ret < 0 ? ret : -EIO;
	ret = reap(r, n, c, NULL);
	if (!ret) {
		tot_ios++;
		tot_cmds += (uint64_t)n;
		tot_bytes += len;
	}
	return ret;
}

/* Write @len from @w at @lba, read it into @rd, compare (pattern by disk position). */
static int roundtrip(struct regbuf_uring_ring *r, uint8_t *w, uint8_t *rd, uint64_t len,
		     uint64_t lba, uint64_t salt)
{
	struct regbuf_uring_nvme_cpl c;
	long long bad;
	int ret;

	t_pattern_fill(w, len, lba << ns.lba_shift, salt);
	ret = xfer(r, true, w, len, lba, &c, NULL);
	if (ret)
		return T_FAILF("write %llu at lba %llu from %p: %d (status %#x)",
			       (unsigned long long)len, (unsigned long long)lba, (void *)w, ret,
			       c.status);
	memset(rd, 0, len);
	ret = xfer(r, false, rd, len, lba, &c, NULL);
	if (ret)
		return T_FAILF("read %llu at lba %llu into %p: %d (status %#x)",
			       (unsigned long long)len, (unsigned long long)lba, (void *)rd, ret,
			       c.status);
	bad = t_pattern_check(rd, len, lba << ns.lba_shift, salt);
	if (bad >= 0)
		return T_FAILF("%llu bytes at lba %llu: mismatch at byte %lld",
			       (unsigned long long)len, (unsigned long long)lba, bad);
	return T_PASS;
}

static int ns_open(void)
{
	const char *blk = env("REGBUF_BLK");
	uint64_t size = 0;
	int fd, ret;

	ret = need_ns();
	if (ret)
		return ret;
	printf("# %s: nsid %u, %llu blocks of %llu bytes; %s controller, MDTS %llu KiB; max "
	       "transfer %llu KiB, %u segments of <= %llu, virt boundary %#llx, dma alignment "
	       "%#x, chunk %llu; fixed passthrough %s, kernel buffers up to %llu KiB\n",
	       ns.char_name, ns.nsid, (unsigned long long)ns.nr_lbas, (unsigned long long)lbs(),
	       ns.fabrics ? "fabrics" : "PCIe", (unsigned long long)(ns.mdts_bytes >> 10),
	       (unsigned long long)(ns.lim.max_bytes >> 10), ns.lim.max_segments,
	       (unsigned long long)ns.lim.max_segment_size,
	       (unsigned long long)ns.lim.virt_boundary_mask, ns.lim.dma_alignment,
	       (unsigned long long)ns.chunk_bytes, ns.fixed ? strerror(-ns.fixed) : "works",
	       (unsigned long long)(ns.max_buf_len >> 10));
	t_check_eq(ns.fixed, 0);
	t_check(ns.nsid >= 1);
	t_check_eq(ns.fabrics, env("REGBUF_FABRICS") != NULL);
	if (env("REGBUF_EXPECT_LBS"))
		t_check_eq(lbs(), strtoull(env("REGBUF_EXPECT_LBS"), NULL, 0));
	if (blk) {
		t_check(!strcmp(ns.blk_name, strrchr(blk, '/') + 1));
		fd = open(blk, O_RDONLY);
		t_check(fd >= 0);
		t_check(ioctl(fd, BLKGETSIZE64, &size) == 0);
		close(fd);
		t_check_eq(size, ns.nr_lbas << ns.lba_shift);
	}
	return T_PASS;
}

/* Whether [off, off + len) of the arena puts a block across a kernel-buffer boundary. */
static bool straddles(uint64_t off, uint64_t len)
{
	uint64_t next = (off / ns.max_buf_len + 1) * ns.max_buf_len;

	return off + len > next && ((next - off) & (lbs() - 1));
}

/* Mixed sizes and buffer offsets through every ring of a 3-ring pool. */
static int rw_every_ring(void)
{
	const uint64_t b = lbs(), mx = ns.lim.max_bytes, al = ns.lim.dma_alignment + 1;
	/* Sizes: a block, pages + a block, past the max transfer, 1 MiB; offsets: the DMA
	 * alignment, a block, near the end of a 2 MiB page. */
	const uint64_t sizes[] = { b, 12 * KiB + b, mx + b, MiB };
	const uint64_t offs[] = { 0, al, b, 4 * KiB - al * 8, 2 * MiB - 2 * b };
	const size_t nr_offs = sizeof(offs) / sizeof(offs[0]);
	struct regbuf_uring_status st;
	struct fix f;
	uint64_t lba = 4096, cmds0 = tot_cmds, ios0 = tot_ios, bytes0 = tot_bytes;
	uint32_t i, refused = 0;
	size_t s, o;
	int ret;

	ret = setup(&f, 16 * MiB, 3, true);
	if (ret)
		return ret;
	regbuf_uring_pool_status(f.pool, &st);
	printf("# pool: 3 rings, %s, %u kernel buffers over %s memory\n",
	       regbuf_uring_path_name(st.path), st.nr_slots, f.a.huge ? "hugetlb" : "4 KiB page");
	for (i = 0; i < 3 && !ret; i++) {
		struct regbuf_uring_ring *r = regbuf_uring_pool_ring(f.pool, i);

		for (s = 0; s < sizeof(sizes) / sizeof(sizes[0]) && !ret; s++) {
			for (o = 0; o < nr_offs && !ret; o++) {
				uint64_t len = (sizes[s] < 2 * MiB ? sizes[s] : 2 * MiB) & ~(b - 1);
				uint64_t wo = offs[o], ro = 8 * MiB + offs[(o + 1) % nr_offs];

				if (straddles(wo, len) || straddles(ro, len)) {
					/* A block across two kernel buffers: refused up front. */
					ret = regbuf_uring_nvme_prep_rw(r, &ns, false, f.a.p + (straddles(wo, len) ? wo : ro),
									len, lba, 0, 1);
					if (ret != -EINVAL)
						ret = T_FAILF("a block across a kernel buffer boundary: %d", ret);
					else
						ret = 0;
					refused++;
					continue;
				}
				ret = roundtrip(r, f.a.p + wo, f.a.p + ro, len, lba, SALT + i);
				lba += len >> ns.lba_shift;
				if (lba + (4 * MiB >> ns.lba_shift) >= ns.nr_lbas)
					lba = 4096;
			}
		}
	}
	printf("# every ring: %llu I/Os, %llu commands, %llu bytes; %u refused (a block across "
	       "two kernel buffers)\n", (unsigned long long)(tot_ios - ios0),
	       (unsigned long long)(tot_cmds - cmds0), (unsigned long long)(tot_bytes - bytes0),
	       refused);
	fix_fini(&f);
	return ret;
}

/* Larger than max_hw_sectors: cut into ceil(len / max) commands or more. */
static int larger_than_max_hw(void)
{
	struct regbuf_uring_nvme_cpl c;
	struct fix f;
	uint64_t len;
	long long bad;
	int ret, cmds = 0;

	ret = need_ns();
	if (ret)
		return ret;
	if (ns.lim.max_bytes > 2 * MiB)
		return t_skip("the host reports a max transfer of %llu KiB: nothing to exceed",
			      (unsigned long long)(ns.lim.max_bytes >> 10));
	len = 4 * ns.lim.max_bytes + lbs();
	ret = fix_init(&f, 16 * MiB, 1, true);
	if (ret) {
		return T_FAILF("arena + pool: %d", ret);
	}
	t_pattern_fill(f.a.p + 4096, len, 0, SALT ^ 1);
	ret = xfer(f.r, true, f.a.p + 4096, len, 0, &c, &cmds);
	if (!ret) {
		memset(f.a.p + 8 * MiB, 0, len);
		ret = xfer(f.r, false, f.a.p + 8 * MiB, len, 0, &c, NULL);
	}
	bad = ret ? -1 : t_pattern_check(f.a.p + 8 * MiB, len, 0, SALT ^ 1);
	printf("# %llu bytes (max transfer %llu): %d commands\n", (unsigned long long)len,
	       (unsigned long long)ns.lim.max_bytes, cmds);
	fix_fini(&f);
	if (ret)
		return T_FAILF("I/O: %d (status %#x)", ret, c.status);
	t_check(bad < 0);
	t_check((uint64_t)cmds >= (len + ns.lim.max_bytes - 1) / ns.lim.max_bytes);
	return T_PASS;
}

/*
 * Reads and writes of 1 to 36 MiB, each one call: every command regbuf cuts
 * must be one the namespace takes whole.  Over NVMe/TCP to Linux's nvmet the
 * host reports no max transfer (max_hw_sectors_kb 2147483647) and the target
 * refuses commands over 4 MiB (Data SGL Length Invalid): 4 MiB + 4 KiB is
 * the first size that broke.
 */
static int large_ios(void)
{
	static const uint64_t sizes[] = { MiB, 4 * MiB, 4 * MiB + 4 * KiB, 5 * MiB, 8 * MiB,
					  16 * MiB, 36 * MiB };
	const uint64_t area = 36 * MiB + 4 * KiB;
	uint64_t lba, ios0 = tot_ios, cmds0 = tot_cmds, bytes0 = tot_bytes, max_cmds;
	struct fix f;
	double t0;
	size_t i;
	int ret, cmds;

	ret = need_ns();
	if (ret)
		return ret;
	lba = (32 * MiB) >> ns.lba_shift;
	if ((2 * area) / ns.max_buf_len > 16384)
		return t_skip("kernel buffers of %llu KiB: 72 MiB needs more than 16384",
			      (unsigned long long)(ns.max_buf_len >> 10));
	/* Room for a 36 MiB I/O in the SQ: a command per max transfer, and per
	 * kernel buffer it crosses. */
	max_cmds = 36 * MiB / ns.lim.max_bytes + 36 * MiB / ns.max_buf_len + 2;
	if (max_cmds > 8192)
		return t_skip("a 36 MiB I/O is %llu commands here, more than an SQ of 8192 holds",
			      (unsigned long long)max_cmds);
	ret = fix_init_sq(&f, 2 * area, 1, 8192, true);
	if (ret == -ENOMEM)
		return t_skip("no 72 MiB of guest memory for the arena");
	if (ret)
		return T_FAILF("arena + pool: %d", ret);
	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]) && !ret; i++) {
		uint64_t c0 = tot_cmds;

		if (lba + (sizes[i] >> ns.lba_shift) > ns.nr_lbas)
			break;
		t0 = now_s();
		/* The read lands 4 KiB off the write's place in its own half. */
		ret = roundtrip(f.r, f.a.p, f.a.p + area + 4 * KiB, sizes[i], lba, SALT ^ 8);
		cmds = (int)(tot_cmds - c0);
		printf("# %llu bytes: written and read back as %d commands (max transfer %llu KiB) "
		       "in %.2f s\n", (unsigned long long)sizes[i], cmds / 2,
		       (unsigned long long)(ns.lim.max_bytes >> 10), now_s() - t0);
		if (!ret && (uint64_t)cmds / 2 < (sizes[i] + ns.lim.max_bytes - 1) / ns.lim.max_bytes)
			ret = T_FAILF("%llu bytes in %d commands of at most %llu",
				      (unsigned long long)sizes[i], cmds / 2,
				      (unsigned long long)ns.lim.max_bytes);
		lba += sizes[i] >> ns.lba_shift;
	}
	printf("# large I/Os: %llu I/Os, %llu commands, %llu bytes\n",
	       (unsigned long long)(tot_ios - ios0), (unsigned long long)(tot_cmds - cmds0),
	       (unsigned long long)(tot_bytes - bytes0));
	fix_fini(&f);
	if (!ret && i < sizeof(sizes) / sizeof(sizes[0]))
		ret = T_FAILF("namespace of %llu blocks too small for the %llu-byte I/O",
			      (unsigned long long)ns.nr_lbas, (unsigned long long)sizes[i]);
	return ret;
}

/* An I/O across the 1 GiB kernel-buffer boundary of a > 1 GiB registration. */
static int across_1g_boundary(void)
{
	struct regbuf_uring_status st;
	struct fix f;
	uint64_t len = 1 * MiB;
	int ret;

	ret = need_ns();
	if (ret)
		return ret;
	if ((GiB + 4 * MiB) / ns.max_buf_len > 16384)
		return t_skip("kernel buffers of %llu KiB: a 1 GiB registration needs more than "
			      "16384 of them", (unsigned long long)(ns.max_buf_len >> 10));
	ret = fix_init(&f, GiB + 4 * MiB, 1, false);
	if (ret == -ENOMEM)
		return t_skip("no 1 GiB + 4 MiB of guest memory (boot with --mem 2560M)");
	if (ret)
		return T_FAILF("arena + pool: %d", ret);
	regbuf_uring_pool_status(f.pool, &st);
	printf("# 1 GiB + 4 MiB registered as %u kernel buffers\n", st.nr_slots);
	ret = roundtrip(f.r, f.a.p + GiB - 300 * KiB,
			f.a.p + GiB - 100 * KiB, len, 1 << 16, SALT ^ 2);
	fix_fini(&f);
	return ret;
}

static int errors(void)
{
	struct regbuf_uring_nvme_cpl c;
	struct fix f;
	uint8_t stack_buf[4096] __attribute__((aligned(4096)));
	int ret;

	ret = setup(&f, 4 * MiB, 1, true);
	if (ret)
		return ret;
	/* The last block + 1: the device's LBA Out of Range (SCT 0, SC 80h), DNR set. */
	ret = xfer(f.r, false, f.a.p, lbs(), ns.nr_lbas, &c, NULL);
	printf("# read at lba %llu: %d, status %#x (sct %u sc %#x dnr %u)\n",
	       (unsigned long long)ns.nr_lbas, ret, c.status, c.sct, c.sc, c.dnr);
	/* QEMU answers LBA Out of Range; nvmet on 6.1 passes the block layer's
	 * error on (Internal Error), both with DNR. */
	if (ret != -EIO || !c.dnr || (!env("REGBUF_FABRICS") && (c.sct != 0 || c.sc != 0x80))) {
		fix_fini(&f);
		return T_FAILF("LBA out of range gave %d status %#x", ret, c.status);
	}
	/* Refused before submission: misaligned memory, partial block, unregistered memory. */
	t_check_eq(regbuf_uring_nvme_prep_rw(f.r, &ns, false, f.a.p + (ns.lim.dma_alignment + 1) / 2,
					     lbs(), 0, 0, 1), -EINVAL);
	t_check_eq(regbuf_uring_nvme_prep_rw(f.r, &ns, false, f.a.p, lbs() / 2, 0, 0, 1), -EINVAL);
	t_check_eq(regbuf_uring_nvme_prep_rw(f.r, &ns, false, stack_buf, 4096, 0, 0, 1), -EFAULT);
	t_check_eq(io_uring_sq_ready(&f.r->ring), 0);
	fix_fini(&f);
	return T_PASS;
}

/* Passthrough writes read back through the block device with O_DIRECT, and the reverse. */
static int block_path_both_ways(void)
{
	const uint64_t len = 256 * KiB, lba1 = 1 << 12, lba2 = 1 << 13;
	struct regbuf_uring_nvme_cpl c;
	struct fix f;
	uint8_t *blkbuf;
	int fd, ret;

	ret = need_ns();
	if (ret)
		return ret;
	if (!env("REGBUF_BLK"))
		return t_skip("REGBUF_BLK not set");
	fd = open(env("REGBUF_BLK"), O_RDWR | O_DIRECT);
	if (fd < 0)
		return T_FAILF("open %s: %s", env("REGBUF_BLK"), strerror(errno));
	ret = fix_init(&f, 4 * MiB, 1, true);
	if (ret) {
		close(fd);
		return T_FAILF("arena + pool: %d", ret);
	}
	blkbuf = f.a.p + 2 * MiB;	/* not registered: the block path pins it itself */
	t_pattern_fill(f.a.p, len, lba1 << ns.lba_shift, SALT ^ 3);
	ret = xfer(f.r, true, f.a.p, len, lba1, &c, NULL);
	if (!ret && pread(fd, blkbuf, len, (off_t)(lba1 << ns.lba_shift)) != (ssize_t)len)
		ret = -errno ? -errno : -EIO;
	if (!ret && t_pattern_check(blkbuf, len, lba1 << ns.lba_shift, SALT ^ 3) >= 0)
		ret = -EILSEQ;
	if (!ret) {
		t_pattern_fill(blkbuf, len, lba2 << ns.lba_shift, SALT ^ 4);
		if (pwrite(fd, blkbuf, len, (off_t)(lba2 << ns.lba_shift)) != (ssize_t)len ||
		    fsync(fd))
			ret = -errno ? -errno : -EIO;
	}
	if (!ret) {
		memset(f.a.p + MiB, 0, len);
		ret = xfer(f.r, false, f.a.p + MiB, len, lba2, &c, NULL);
	}
	if (!ret && t_pattern_check(f.a.p + MiB, len, lba2 << ns.lba_shift, SALT ^ 4) >= 0)
		ret = -EILSEQ;
	fix_fini(&f);
	close(fd);
	if (ret)
		return T_FAILF("%d (status %#x)", ret, c.status);
	return T_PASS;
}

static int write_zeroes_flush(void)
{
	const uint64_t len = 64 * KiB, lba = 1 << 14;
	struct regbuf_uring_nvme_cpl c;
	struct fix f;
	uint64_t i;
	int n, ret;

	ret = setup(&f, 4 * MiB, 1, true);
	if (ret)
		return ret;
	ret = roundtrip(f.r, f.a.p, f.a.p + MiB, len, lba, SALT ^ 5);
	if (!ret) {
		n = regbuf_uring_nvme_prep_write_zeroes(f.r, &ns, lba, len >> ns.lba_shift, 2);
		n += regbuf_uring_nvme_prep_flush(f.r, &ns, 3);
		if (n != 2 || io_uring_submit(&f.r->ring) != 2 || reap(f.r, 2, &c, NULL))
			ret = T_FAILF("write zeroes + flush failed (status %#x)", c.status);
	}
	if (!ret) {
		memset(f.a.p + MiB, 0xff, len);
		ret = xfer(f.r, false, f.a.p + MiB, len, lba, &c, NULL);
		for (i = 0; !ret && i < len; i++)
			if (f.a.p[MiB + i])
				ret = T_FAILF("byte %llu not zero", (unsigned long long)i);
	}
	fix_fini(&f);
	return ret;
}

/* ---- the bounce-copy proof ---- */

static uint64_t pgalloc(void)
{
	char name[64];
	unsigned long long v, sum = 0;
	FILE *f = fopen("/proc/vmstat", "r");

	if (!f)
		return 0;
	while (fscanf(f, "%63s %llu", name, &v) == 2)
		if (!strncmp(name, "pgalloc_", 8))
			sum += v;
	fclose(f);
	return sum;
}

#define TRACEFS "/sys/kernel/tracing"

/*
 * A kprobe on the copy path: bio_copy_user_iov() itself where the kernel kept
 * the symbol, else bio_free_pages(), which only the copy path's unmap
 * (bio_uncopy_user()) calls among the block users this guest has.
 */
static const char *kprobe_fn;

static int write_file(const char *path, const char *s, int flags)
{
	int fd = open(path, O_WRONLY | flags);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = write(fd, s, strlen(s));
	close(fd);
	return n == (ssize_t)strlen(s) ? 0 : -EIO;
}

static bool has_symbol(const char *fn)
{
	char line[256], want[80];
	bool found = false;
	FILE *f = fopen("/proc/kallsyms", "r");

	if (!f)
		return false;
	snprintf(want, sizeof(want), " %s\n", fn);
	while (!found && fgets(line, sizeof(line), f))
		found = strstr(line, want) != NULL;
	fclose(f);
	return found;
}

static void kprobe_setup(void)
{
	static const char *const fns[] = { "bio_copy_user_iov", "bio_free_pages" };
	char ev[128];
	size_t i;

	if (kprobe_fn)
		return;
	if (access(TRACEFS "/kprobe_events", F_OK))
		mount("tracefs", TRACEFS, "tracefs", 0, NULL);
	for (i = 0; i < sizeof(fns) / sizeof(fns[0]); i++) {
		if (!has_symbol(fns[i]))
			continue;
		snprintf(ev, sizeof(ev), "p:regbuf/bio_copy %s\n", fns[i]);
		if (write_file(TRACEFS "/kprobe_events", ev, O_APPEND) ||
		    write_file(TRACEFS "/events/regbuf/bio_copy/enable", "1\n", 0))
			return;
		kprobe_fn = fns[i];
		return;
	}
}

static long long kprobe_hits(void)
{
	char name[128];
	unsigned long long hits, miss;
	long long ret = -1;
	FILE *f;

	if (!kprobe_fn)
		return -1;
	f = fopen(TRACEFS "/kprobe_profile", "r");
	if (!f)
		return -1;
	while (fscanf(f, "%127s %llu %llu", name, &hits, &miss) == 3)
		if (strstr(name, "bio_copy"))
			ret = (long long)hits;
	fclose(f);
	return ret;
}

struct measure {
	uint64_t pages;
	long long hits;
};

static void measure_start(struct measure *m)
{
	m->hits = kprobe_hits();
	m->pages = pgalloc();
}

static void measure_end(struct measure *m)
{
	m->pages = pgalloc() - m->pages;
	if (m->hits >= 0)
		m->hits = kprobe_hits() - m->hits;
}

/* @nr raw reads of @len into @buf (vectored when @iov), waited one by one. */
static int raw_reads(struct regbuf_uring_ring *r, uint8_t *buf, uint64_t len, int nr,
		     const struct iovec *iov, int *err)
{
	struct nvme_uring_cmd cmd;
	int i, ret;

	for (i = 0; i < nr; i++) {
		memset(&cmd, 0, sizeof(cmd));
		cmd.opcode = 0x02;
		cmd.nsid = ns.nsid;
		cmd.addr = (uint64_t)(uintptr_t)(iov ? (void *)iov : buf);
		cmd.data_len = iov ? 2 : (uint32_t)len;	/* IO_VEC: data_len is the iovec count */
		cmd.cdw12 = (uint32_t)(len >> ns.lba_shift) - 1;
		if (iov) {
			/* Vectored: unregistered, sent by hand (regbuf has no vectored passthrough). */
			struct io_uring_sqe *sqe = io_uring_get_sqe(&r->ring);

			if (!sqe)
				return -EBUSY;
			memset(sqe, 0, sizeof(*sqe));
			memset(sqe->cmd, 0, sizeof(cmd));
			sqe->opcode = IORING_OP_URING_CMD;
			sqe->fd = ns.fd;
			sqe->cmd_op = NVME_URING_CMD_IO_VEC;
			memcpy(sqe->cmd, &cmd, sizeof(cmd));
		} else {
			ret = regbuf_uring_nvme_prep_cmd(r, &ns, &cmd, 1);
			if (ret != 1)
				return ret;
		}
		io_uring_submit(&r->ring);
		ret = reap(r, 1, NULL, NULL);
		if (ret) {
			*err = ret;
			return 0;
		}
	}
	*err = 0;
	return 0;
}

static int bounce_copy_proof(void)
{
	const int nr = 64;
	struct measure mapped, copied, gap;
	struct fix f;
	struct iovec iov[2];
	uint64_t len, clen, pages, mis;
	bool tcp = env("REGBUF_FABRICS") != NULL;
	int i, ret, err_copy = 0, err_gap = 0, err_big = 0;

	ret = need_ns();
	if (ret)
		return ret;
	len = 128 * KiB < ns.lim.max_bytes ? 128 * KiB : ns.lim.max_bytes;
	pages = len / 4096;
	mis = (ns.lim.dma_alignment + 1) / 2;
	kprobe_setup();
	ret = fix_init(&f, 4 * MiB, 1, true);
	if (ret) {
		return T_FAILF("arena + pool: %d", ret);
	}
	/* Known data to read back through both paths. */
	t_pattern_fill(f.a.p, len, 0, SALT ^ 6);
	ret = xfer(f.r, true, f.a.p, len, 0, NULL, NULL);
	if (ret)
		goto out;

	measure_start(&mapped);
	for (i = 0; i < nr && !ret; i++)
		ret = xfer(f.r, false, f.a.p + MiB, len, 0, NULL, NULL);
	measure_end(&mapped);
	if (ret)
		goto out;

	/* The same reads, sent raw at an address off the DMA alignment: the kernel
	 * copies them through bounce pages (blk_rq_map_user_iov()). */
	/* The misaligned buffer must stay inside one kernel buffer (16 KiB ones with a
	 * 16 KiB max transfer): a block less then. */
	clen = len + mis > ns.max_buf_len ? len - lbs() : len;
	memset(f.a.p + 2 * MiB, 0, len + 4096);
	measure_start(&copied);
	ret = raw_reads(f.r, f.a.p + 2 * MiB + mis, clen, nr, NULL, &err_copy);
	measure_end(&copied);
	if (ret < 0)
		ret = T_FAILF("raw misaligned read not queued: %d", ret);
	if (!ret && !err_copy && t_pattern_check(f.a.p + 2 * MiB + mis, clen, 0, SALT ^ 6) >= 0)
		ret = T_FAILF("the bounce-copied reads returned wrong data");

	/* A vectored command with a gap at the virt boundary: a limits mismatch. */
	iov[0] = (struct iovec){ f.a.p + 3 * MiB, 2048 };
	iov[1] = (struct iovec){ f.a.p + 3 * MiB + 8192, len - 2048 };
	measure_start(&gap);
	if (!ret)
		ret = raw_reads(f.r, NULL, len, nr, iov, &err_gap);
	measure_end(&gap);

	/* Larger than max_hw_sectors, raw and fixed: failed (6.1) or copied (6.13+)?
	 * Only where one kernel buffer holds it (1: not tried). */
	err_big = 1;
	if (!ret && ns.lim.max_bytes + lbs() <= 2 * MiB &&
	    ns.lim.max_bytes + lbs() <= ns.max_buf_len)
		ret = raw_reads(f.r, f.a.p, ns.lim.max_bytes + lbs(), 1, NULL, &err_big);

	printf("# bounce proof, %d reads of %llu KiB each (%llu pages):\n", nr,
	       (unsigned long long)(len >> 10), (unsigned long long)(nr * pages));
	printf("#   regbuf (mapped):          pgalloc +%llu, %s hits %lld\n",
	       (unsigned long long)mapped.pages, kprobe_fn ? kprobe_fn : "(no kprobe)", mapped.hits);
	printf("#   raw, address +%llu, %llu KiB: pgalloc +%llu, %s hits %lld, result %d\n",
	       (unsigned long long)mis, (unsigned long long)(clen >> 10),
	       (unsigned long long)copied.pages,
	       kprobe_fn ? kprobe_fn : "(no kprobe)", copied.hits, err_copy);
	printf("#   raw vectored, gap at 2 KiB: pgalloc +%llu, %s hits %lld, result %d\n",
	       (unsigned long long)gap.pages, kprobe_fn ? kprobe_fn : "(no kprobe)", gap.hits,
	       err_gap);
	printf("#   raw, max transfer + 1 block: %s %d\n", err_big == 1 ? "not tried (longer than a "
	       "kernel buffer here)" : "result", err_big);
	if (ret)
		goto out;
	if (err_copy)
		ret = T_FAILF("misaligned raw reads failed (%d) instead of being copied", err_copy);
	else if (mapped.hits > 0)
		ret = T_FAILF("regbuf's reads took the copy path %lld times", mapped.hits);
	else if (copied.hits >= 0 && copied.hits < nr)
		ret = T_FAILF("the copy path ran %lld times for %d misaligned reads", copied.hits, nr);
	else if (!tcp && mapped.pages * 8 > nr * pages)
		ret = T_FAILF("regbuf's reads allocated %llu pages", (unsigned long long)mapped.pages);
	else if (!tcp && copied.pages < nr * (clen / 4096) * 9 / 10)
		ret = T_FAILF("misaligned reads allocated only %llu pages",
			      (unsigned long long)copied.pages);
	else if (tcp && copied.hits < 0)
		ret = t_skip("no kprobe on the copy path, and page allocations of the TCP "
			     "stack hide the copy path's");
out:
	fix_fini(&f);
	return ret;
}

/* ---- metadata and protection information ---- */

static uint64_t md_ios, md_cmds, md_bytes, md_md_bytes;

/* The format of @n, for md.h. */
static struct md_fmt md_fmt_of(const struct regbuf_uring_nvme_ns *n)
{
	struct md_fmt f = { .lbs = 1u << n->lba_shift, .ms = n->ms, .ext = n->ext,
			    .pi_type = n->pi_type, .pi_first = n->pi_first };

	return f;
}

/* One read or write with metadata, waited; counted when it succeeds. */
static int md_xfer(struct regbuf_uring_ring *r, const struct regbuf_uring_nvme_ns *n, bool write,
		   uint8_t *buf, uint64_t nblk, uint64_t lba, const struct regbuf_uring_nvme_md *md,
		   struct regbuf_uring_nvme_cpl *c, int *cmds)
{
	int nr, ret;

	memset(c, 0, sizeof(*c));
	nr = regbuf_uring_nvme_prep_rw_md(r, n, write, buf, nblk * n->blk_bytes, lba, 0, md, 1);
	if (nr < 0)
		return nr;
	if (cmds)
		*cmds = nr;
	ret = io_uring_submit(&r->ring);
	if (ret != nr)
		return ret < 0 ? ret : -EIO;
	ret = reap(r, nr, c, NULL);
	if (!ret) {
		md_ios++;
		md_cmds += (uint64_t)nr;
		md_bytes += nblk << n->lba_shift;
		md_md_bytes += nblk * n->ms;
	}
	return ret;
}

/*
 * One namespace formatted with metadata: refusals, a multi-command round
 * trip of data and metadata from registered memory (per command its part of
 * the metadata buffer and its own reference tag), protection errors as NVMe
 * statuses, and PRACT (the controller's own tuple, checked against ours).
 */
static int md_namespace(const char *path, int *cases)
{
	const uint64_t lba = 1024;
	uint64_t nblk = 2048;
	struct regbuf_uring_nvme_md md, mdr;
	struct regbuf_uring_nvme_cpl c;
	struct regbuf_uring_nvme_ns n;
	struct md_fmt f;
	char why[128];
	struct regbuf_uring_pool *pool = NULL;
	struct regbuf_uring_ring *r;
	struct arena a = { 0 };
	struct iovec iov;
	uint8_t *w, *rd, *mw, *mr;
	uint64_t len, mlen, lbs;
	int ret, cmds = 0;

	ret = regbuf_uring_nvme_open(&n, path, 0);
	if (ret)
		return T_FAILF("regbuf_uring_nvme_open(%s) = %d", path, ret);
	lbs = UINT64_C(1) << n.lba_shift;
	f = md_fmt_of(&n);
	/* An extended block (data + metadata, 528 bytes) cannot sit across two
	 * kernel buffers, and short ones (before 6.13) end off its multiples:
	 * then the I/O stays inside the first. */
	if (n.ext && nblk * n.blk_bytes > n.max_buf_len)
		nblk = n.max_buf_len / n.blk_bytes;
	nblk = md_qemu_blocks(&f, nblk);
	len = nblk * n.blk_bytes;
	mlen = nblk * n.ms;
	printf("# %s: %llu + %u bytes per block, %s metadata, %s%s; fixed passthrough %s\n",
	       n.char_name, (unsigned long long)lbs, n.ms, n.ext ? "extended LBA" : "separate",
	       md_pi_name(&f), n.pi_type ? (n.pi_first ? " (first 8 bytes)" : " (last 8 bytes)") : "",
	       n.fixed ? strerror(-n.fixed) : "works");
	ret = arena_map(&a, 8 * MiB, true);
	if (!ret)
		ret = regbuf_uring_pool_create(&pool, 1, 128, 0, REGBUF_URING_POOL_F_NVME_CMD);
	if (!ret)
		ret = regbuf_uring_pool_set_buf_len(pool, n.max_buf_len);
	iov = (struct iovec){ a.p, a.len };
	if (!ret)
		ret = regbuf_uring_pool_register(pool, &iov, 1, 0);
	if (ret) {
		ret = T_FAILF("arena + pool: %d", ret);
		goto out;
	}
	r = regbuf_uring_pool_ring(pool, 0);
	/* data 0..2 MiB, read back 2..4 MiB, metadata 4 MiB and 5 MiB: all registered */
	w = a.p;
	rd = a.p + 2 * MiB;
	mw = a.p + 4 * MiB;
	mr = a.p + 5 * MiB;
	memset(&md, 0, sizeof(md));
	md.buf = n.ext ? NULL : mw;
	md.prinfo = md_prchk(&f);
	md.reftag = (uint32_t)lba;
	md.apptag = MD_APPTAG;
	md.appmask = 0xffff;
	mdr = md;
	mdr.buf = n.ext ? NULL : mr;

	/* Refused before anything is queued: what does not fit the format. */
	if (!n.ext && regbuf_uring_nvme_prep_rw(r, &n, false, rd, n.blk_bytes, lba, 0, 1) != -EINVAL)
		ret = T_FAILF("a read without its separate metadata was not refused");
	if (!n.pi_type) {
		struct regbuf_uring_nvme_md bad = md;

		bad.prinfo = REGBUF_NVME_RW_PRCHK_GUARD;
		if (regbuf_uring_nvme_prep_rw_md(r, &n, false, rd, n.blk_bytes, lba, 0, &bad, 1) !=
		    -EINVAL)
			ret = T_FAILF("PRCHK on a namespace without PI was not refused");
	}
	if (n.ext) {
		struct regbuf_uring_nvme_md bad = md;

		bad.buf = mw;
		if (regbuf_uring_nvme_prep_rw_md(r, &n, false, rd, n.blk_bytes, lba, 0, &bad, 1) !=
		    -EINVAL)
			ret = T_FAILF("a separate buffer on an extended-LBA namespace was not refused");
		if (regbuf_uring_nvme_prep_rw_md(r, &n, false, rd, lbs, lba, 0, &md, 1) != -EINVAL)
			ret = T_FAILF("a data length without the block's metadata was not refused");
	}
	if (ret || io_uring_sq_ready(&r->ring)) {
		ret = ret ? ret : T_FAILF("a refused I/O left SQEs queued");
		goto out;
	}
	(*cases)++;

	/* Round trip: data and metadata, checked by the controller where it can. */
	md_fill(&f, w, mw, nblk, lba, SALT ^ 9);
	ret = md_xfer(r, &n, true, w, nblk, lba, &md, &c, &cmds);
	if (!ret) {
		memset(rd, 0, len);
		memset(mr, 0, mlen);
		ret = md_xfer(r, &n, false, rd, nblk, lba, &mdr, &c, NULL);
	}
	printf("#   %llu blocks: %d commands each way, %llu data + %llu metadata bytes: %d "
	       "(status %#x)\n", (unsigned long long)nblk, cmds,
	       (unsigned long long)(nblk * lbs), (unsigned long long)mlen, ret, c.status);
	if (ret) {
		ret = T_FAILF("%s round trip: %d (status %#x)", n.char_name, ret, c.status);
		goto out;
	}
	if (md_diff(&f, w, rd, nblk, why, sizeof(why)) || (!n.ext && memcmp(mw, mr, mlen))) {
		ret = T_FAILF("%s: read back differs: %s", n.char_name,
			      md_diff(&f, w, rd, nblk, why, sizeof(why)) ? why : "separate metadata");
		goto out;
	}
	(*cases)++;

	if (n.pi_type) {
		const struct md_pi_case *pc = md_pi_cases;
		uint32_t off = md_pi_off(&f);
		unsigned int k;

		/* Protection errors come back as the NVMe status, never as success. */
		for (k = 0; k < md_nr_pi_cases(&f); k++) {
			struct regbuf_uring_nvme_md bad = md;
			uint8_t *m;

			md_fill(&f, w, mw, 1, lba, SALT ^ 10);
			m = n.ext ? w + lbs : mw;
			if (pc[k].byte < 8)
				m[off + pc[k].byte] ^= 0x01;
			else
				bad.reftag = (uint32_t)lba + 1;
			ret = md_xfer(r, &n, true, w, 1, lba, &bad, &c, NULL);
			printf("#   write with a wrong %s: %d, status %#x (sct %u sc %#x dnr %u)\n",
			       pc[k].what, ret, c.status, c.sct, c.sc, c.dnr);
			if (ret != -EIO || c.sct != pc[k].sct || c.sc != pc[k].sc) {
				ret = T_FAILF("%s: a wrong %s gave %d status %#x, not SCT %uh SC %#x",
					      n.char_name, pc[k].what, ret, c.status, pc[k].sct,
					      pc[k].sc);
				goto out;
			}
			(*cases)++;
		}
		ret = 0;
		if (!n.ext && n.ms == 8) {
			/* PRACT: the controller makes the tuple; read raw, it must
			 * equal ours (the CRC-16 T10-DIF of the data). */
			struct regbuf_uring_nvme_md act = md;

			act.buf = NULL;
			act.prinfo = REGBUF_NVME_RW_PRACT | md_prchk(&f);
			md_fill(&f, w, mw, nblk, lba, SALT ^ 11);
			ret = md_xfer(r, &n, true, w, nblk, lba, &act, &c, NULL);
			if (!ret) {
				memset(mr, 0, mlen);
				ret = md_xfer(r, &n, false, rd, nblk, lba, &mdr, &c, NULL);
			}
			if (ret || memcmp(w, rd, len) || memcmp(mw, mr, mlen)) {
				ret = T_FAILF("%s PRACT: %d (status %#x), or the controller's tuples "
					      "differ from regbuf_nvme_pi_set()'s", n.char_name, ret,
					      c.status);
				goto out;
			}
			printf("#   PRACT: %llu tuples the controller made equal regbuf's\n",
			       (unsigned long long)nblk);
			(*cases)++;
		}
	}
out:
	if (pool)
		regbuf_uring_pool_destroy(pool);
	arena_unmap(&a);
	regbuf_uring_nvme_close(&n);
	return ret;
}

/* Every namespace in REGBUF_NG_MD (comma-separated), each formatted with metadata. */
/*
 * The generic char device of namespace @nsid of controller 0: the kernel
 * names namespaces in the order it finds them, not by NSID (ng0n3 may be NSID
 * 4 on 6.12), so each ng0nX is asked.  Waits up to 10 s for the scan.
 */
static int ng_of_nsid(uint32_t nsid, char *path, size_t len)
{
	struct regbuf_uring_nvme_ns n;
	unsigned int x, tries;

	for (tries = 0; tries < 100; tries++) {
		for (x = 1; x <= 32; x++) {
			snprintf(path, len, "/dev/ng0n%u", x);
			if (access(path, F_OK) || regbuf_uring_nvme_open(&n, path, 0))
				continue;
			regbuf_uring_nvme_close(&n);
			if (n.nsid == nsid)
				return 0;
		}
		usleep(100 * 1000);
	}
	return -ENOENT;
}

/* Every namespace in REGBUF_NG_MD_NSIDS (comma-separated NSIDs), each formatted with metadata. */
static int metadata_and_pi(void)
{
	const char *list = env("REGBUF_NG_MD_NSIDS");
	int ret = T_PASS, cases = 0, nr = 0;
	char path[64], *end;
	uint32_t nsid;

	if (!list)
		return t_skip("no namespaces with metadata (guest.sh --ns-more ms=8,...; "
			      "REGBUF_NG_MD_NSIDS)");
	while (*list && ret == T_PASS) {
		nsid = (uint32_t)strtoul(list, &end, 10);
		list = *end == ',' ? end + 1 : end;
		if (ng_of_nsid(nsid, path, sizeof(path)))
			return T_FAILF("no /dev/ng0nX with NSID %u", nsid);
		ret = md_namespace(path, &cases);
		nr++;
	}
	printf("# metadata: %d namespaces, %d checks; %llu I/Os, %llu commands, %llu data bytes, "
	       "%llu metadata bytes\n", nr, cases, (unsigned long long)md_ios,
	       (unsigned long long)md_cmds, (unsigned long long)md_bytes,
	       (unsigned long long)md_md_bytes);
	return ret;
}

/*
 * A namespace with a chunk boundary (QEMU's zoned namespace: chunk_sectors is
 * the zone size): no command may cross it.  The kernel never splits a
 * passthrough command, and the device is the oracle: a write or read across
 * a zone boundary fails with Zone Boundary Error (QEMU's zoned.cross_read
 * off).  Zone 0 is written sequentially up to 128 KiB before its end, then
 * one 384 KiB write runs into zone 1 (its write pointer is the zone start),
 * and a read across the boundary comes back whole.  The memory sits 64 KiB
 * off the disk positions, so that a kernel-buffer (slot) boundary, where
 * commands are cut anyway, never falls on the zone boundary.
 */
static int chunk_boundary(void)
{
	const uint64_t skew = 64 * KiB;
	const char *want = env("REGBUF_EXPECT_CHUNK");
	struct regbuf_uring_nvme_cpl c;
	uint64_t z, lba, len, piece;
	int cmds = 0, ret;
	uint8_t *w, *rd;
	struct fix f;
	long long bad;

	ret = need_ns();
	if (ret)
		return ret;
	if (!want)
		return t_skip("no namespace with a chunk boundary (guest.sh --ns zoned=true,...)");
	t_check_eq(ns.chunk_bytes, strtoull(want, NULL, 0));
	z = ns.chunk_bytes;
	t_check(z >= 512 * KiB && z <= 4 * MiB);
	/* a smaller max transfer would cut at the boundary by itself: no proof */
	t_check(ns.lim.max_bytes >= 384 * KiB);
	ret = setup(&f, 4 * z, 1, true);
	if (ret)
		return ret;
	w = f.a.p + skew;		/* disk byte x is w[x] */
	rd = f.a.p + 2 * z + skew;
	t_pattern_fill(w, 2 * z - skew, 0, SALT ^ 7);
	/* zone 0 up to z - 128 KiB, one command at a time: writes go at the write pointer */
	for (lba = 0; !ret && (lba << ns.lba_shift) < z - 128 * KiB; lba += piece >> ns.lba_shift) {
		piece = z - 128 * KiB - (lba << ns.lba_shift);
		if (piece > 64 * KiB)
			piece = 64 * KiB;
		ret = xfer(f.r, true, w + (lba << ns.lba_shift), piece, lba, &c, NULL);
	}
	/* 384 KiB from z - 128 KiB: the end of zone 0 and the start of zone 1 */
	len = 384 * KiB;
	if (!ret)
		ret = xfer(f.r, true, w + z - 128 * KiB, len, (z - 128 * KiB) >> ns.lba_shift, &c,
			   &cmds);
	if (ret) {
		fix_fini(&f);
		return T_FAILF("write at lba %llu: %d (status %#x sct %u sc %#x)",
			       (unsigned long long)lba, ret, c.status, c.sct, c.sc);
	}
	t_check(cmds >= 2);
	memset(rd, 0, z);
	ret = xfer(f.r, false, rd, z, (z / 2) >> ns.lba_shift, &c, NULL);
	if (ret) {
		fix_fini(&f);
		return T_FAILF("read across the boundary: %d (status %#x sct %u sc %#x)", ret,
			       c.status, c.sct, c.sc);
	}
	bad = t_pattern_check(rd, z - 128 * KiB + len - z / 2, z / 2, SALT ^ 7);
	fix_fini(&f);
	if (bad >= 0)
		return T_FAILF("data across the chunk boundary: mismatch at byte %lld", bad);
	printf("# chunk %llu KiB: a 384 KiB write across it went as %d commands\n",
	       (unsigned long long)(z >> 10), cmds);
	return T_PASS;
}

/*
 * A namespace of 2^32 blocks or more (a sparse image of 2 TiB and up): the
 * SLBA's upper half travels in CDW11.  Written at 2^32 + 8 and across block
 * 2^32, read back; block 8, zeroed first, must not change.
 */
static int beyond_32bit_lba(void)
{
	const uint64_t hi = UINT64_C(1) << 32, len = 64 * KiB;
	struct regbuf_uring_nvme_cpl c;
	struct fix f;
	uint64_t i;
	int ret;

	ret = need_ns();
	if (ret)
		return ret;
	if (ns.nr_lbas < hi + 2 * (len >> ns.lba_shift))
		return t_skip("namespace of %llu blocks: boot with a sparse image of 2 TiB or more",
			      (unsigned long long)ns.nr_lbas);
	ret = setup(&f, 4 * MiB, 1, true);
	if (ret)
		return ret;
	memset(f.a.p, 0, len);
	ret = xfer(f.r, true, f.a.p, len, 8, &c, NULL);
	if (!ret)
		ret = roundtrip(f.r, f.a.p + MiB, f.a.p + 2 * MiB, len, hi + 8, SALT ^ 9);
	if (!ret)
		ret = roundtrip(f.r, f.a.p + MiB, f.a.p + 2 * MiB, len, hi - 16, SALT ^ 10);
	if (!ret) {
		memset(f.a.p + 3 * MiB, 0xee, len);
		ret = xfer(f.r, false, f.a.p + 3 * MiB, len, 8, &c, NULL);
		for (i = 0; !ret && i < len; i++)
			if (f.a.p[3 * MiB + i])
				ret = T_FAILF("block 8 changed (byte %llu): the write for block "
					      "2^32 + 8 landed there", (unsigned long long)i);
	}
	fix_fini(&f);
	return ret > 0 ? ret : ret ? T_FAILF("I/O: %d (status %#x)", ret, c.status) : T_PASS;
}

/* ---- fabrics: the target goes away and comes back ---- */

/* The guest has one controller: nvme0. */
static int ctrl_state(char *buf, size_t len)
{
	FILE *f = fopen("/sys/class/nvme/nvme0/state", "r");

	if (!f)
		return -errno;
	if (!fgets(buf, (int)len, f))
		buf[0] = '\0';
	fclose(f);
	buf[strcspn(buf, "\n")] = '\0';
	return 0;
}

/*
 * The target goes away with reads in flight, and comes back: every read
 * completes (with an error) within WAIT_S, one sent while it is away fails,
 * and the same pool reads and writes again once the controller is live.
 * REGBUF_FABRICS_DOWN / _UP are shell commands: in one guest they take the
 * subsystem off nvmet's port; between two guests they take the host's link
 * down, a pulled cable.  REGBUF_FABRICS_OUTAGE_S: the least time the target
 * stays away, so that the target too has dropped the old association (its
 * keep-alive timeout) before the host reconnects.
 */
static int target_loss(void)
{
	const char *down = env("REGBUF_FABRICS_DOWN"), *up = env("REGBUF_FABRICS_UP");
	double outage = env("REGBUF_FABRICS_OUTAGE_S") ? atof(env("REGBUF_FABRICS_OUTAGE_S")) : 0;
	const uint64_t len = 128 * KiB;
	const int nr = 32;
	struct regbuf_uring_nvme_cpl c;
	struct fix f;
	char state[32] = "";
	double t0, t_err, t_up, t_back = 0;
	int i, n = 0, ret, nerr_inflight = 0, nerr_after = 0, rc_inflight, rc_after;

	ret = need_ns();
	if (ret)
		return ret;
	if (!down || !up)
		return t_skip("not a fabrics namespace (guest.sh --mode tcp and guest.sh pair set "
			      "REGBUF_FABRICS_DOWN and _UP)");
	ret = fix_init(&f, 8 * MiB, 1, true);
	if (ret) {
		return T_FAILF("arena + pool: %d", ret);
	}
	/* In flight while the target goes away. */
	for (i = 0; i < nr; i++) {
		ret = regbuf_uring_nvme_prep_rw(f.r, &ns, false, f.a.p + (uint64_t)i * len % (4 * MiB),
						len, (uint64_t)i * (len >> ns.lba_shift), 0, 1);
		if (ret < 0) {
			ret = T_FAILF("prep: %d", ret);
			goto out;
		}
		n += ret;
	}
	io_uring_submit(&f.r->ring);
	t0 = now_s();
	if (t_sh("%s", down)) {
		ret = T_FAILF("'%s' failed", down);
		goto out;
	}
	rc_inflight = reap(f.r, n, &c, &nerr_inflight);
	/* Submitted while the target is away: an error within fast_io_fail_tmo. */
	n = regbuf_uring_nvme_prep_rw(f.r, &ns, false, f.a.p, len, 0, 0, 1);
	io_uring_submit(&f.r->ring);
	rc_after = reap(f.r, n, &c, &nerr_after);
	t_err = now_s() - t0;
	printf("# target gone: %d in-flight reads: %d failed (first %d); a read after: %d "
	       "(status %#x) %.1f s after the outage began\n", nr, nerr_inflight,
	       rc_inflight, rc_after, c.status, t_err);
	if (t_err < outage)
		usleep((useconds_t)((outage - t_err) * 1e6));
	if (t_sh("%s", up)) {
		ret = T_FAILF("'%s' failed", up);
		goto out;
	}
	t_up = now_s();
	for (i = 0; i < 900; i++) {
		if (!ctrl_state(state, sizeof(state)) && !strcmp(state, "live"))
			break;
		usleep(100 * 1000);
	}
	t_back = now_s() - t0;
	printf("# controller %s %.1f s after the outage began, %.1f s after the target came "
	       "back (reconnect)\n", state, t_back, now_s() - t_up);
	if (rc_inflight == -ETIMEDOUT || rc_after == -ETIMEDOUT) {
		ret = T_FAILF("an I/O did not complete within %d s", WAIT_S);
		goto out;
	}
	if (!rc_after) {
		ret = T_FAILF("a read with the target gone succeeded");
		goto out;
	}
	if (strcmp(state, "live")) {
		ret = T_FAILF("controller state '%s' after the target came back", state);
		goto out;
	}
	/* The same pool and namespace work again. */
	ret = roundtrip(f.r, f.a.p + MiB, f.a.p + 4 * MiB, 256 * KiB, 1 << 15, SALT ^ 7);
out:
	fix_fini(&f);
	return ret;
}

/* The CLI in the guest (guest-suite puts regbuf-static in the initramfs). */
/* The bench keeps its undo state in a directory of its own: /tmp in the guest. */
#define CLI "REGBUF_STATE_DIR=/tmp REGBUF_BENCH=/bin/regbuf-bench-static /bin/regbuf-static"
#define CLI_BIN "/bin/regbuf-static"

static int cli_info_lists_namespace(void)
{
	int ret = need_ns();

	if (ret)
		return ret;
	if (access(CLI_BIN, X_OK))
		return t_skip(CLI_BIN " not in the initramfs");
	/* The namespace, its block device and a working fixed passthrough probe. */
	t_check_eq(t_sh(CLI " info > /tmp/info.txt"), 0);
	t_check_eq(t_sh("grep -A14 '^  %s:' /tmp/info.txt | grep -q 'fixed_passthrough: ok'",
			ns.char_name), 0);
	t_check_eq(t_sh("grep -A14 '^  %s:' /tmp/info.txt | grep -q 'block_device: /dev/%s'",
			ns.char_name, ns.blk_name), 0);
	return T_PASS;
}

static int cli_bench_passthru(void)
{
	const char *ng = env("REGBUF_NG");
	int ret = need_ns();

	if (ret)
		return ret;
	if (access(CLI_BIN, X_OK))
		return t_skip(CLI_BIN " not in the initramfs");
	/* Its table goes to the log (fixed and unfixed rows). */
	t_check_eq(t_sh(CLI " bench --quick --reps 1 io --passthru %s --rw randread --bs 4096 "
			"--qd 8 --threads 2 --runtime 1 --unfixed > /tmp/bench.txt 2>&1; rc=$?; "
			"sed 's/^/# /' /tmp/bench.txt; exit $rc", ng), 0);
	t_check_eq(t_sh("grep -q 'NVMe passthrough on %s' /tmp/bench.txt", ng), 0);
	/* Writes to a device node need --overwrite: refused before anything is touched. */
	t_check_eq(t_sh(CLI " bench --quick io --passthru %s --rw randwrite >/dev/null 2>&1", ng),
		   2);
	t_check_eq(t_sh(CLI " bench --quick --reps 1 io --passthru %s --rw randwrite --bs 4096 "
			"--qd 4 --threads 1 --runtime 1 --overwrite > /tmp/bench.txt 2>&1", ng), 0);
	return T_PASS;
}

static int totals(void)
{
	printf("# totals: %llu I/Os verified or checked, %llu commands, %llu bytes\n",
	       (unsigned long long)tot_ios, (unsigned long long)tot_cmds,
	       (unsigned long long)tot_bytes);
	if (!ns_ok)
		return t_skip("no namespace");
	t_check(tot_ios > 0);
	return T_PASS;
}

int main(int argc, char **argv)
{
	static const struct t_case cases[] = {
		T_CASE(ns_open),
		T_CASE(rw_every_ring),
		T_CASE(larger_than_max_hw),
		T_CASE(large_ios),
		T_CASE(across_1g_boundary),
		T_CASE(errors),
		T_CASE(block_path_both_ways),
		T_CASE(write_zeroes_flush),
		T_CASE(bounce_copy_proof),
		T_CASE(metadata_and_pi),
		T_CASE_EXPLICIT(chunk_boundary),
		T_CASE_EXPLICIT(beyond_32bit_lba),
		T_CASE(target_loss),
		T_CASE(cli_info_lists_namespace),
		T_CASE(cli_bench_passthru),
		T_CASE(totals),
	};
	int ret = t_main("passthru", cases, sizeof(cases) / sizeof(cases[0]), argc, argv);

	regbuf_uring_nvme_close(&ns);
	return ret;
}
