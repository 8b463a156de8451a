// SPDX-License-Identifier: MIT
/*
 * Device tests of polled I/O (IORING_SETUP_IOPOLL), run in the QEMU guest on
 * QEMU's NVMe controller bound to the kernel's nvme driver with poll queues
 * (tests/device/guest.sh --mode kernel --append nvme.poll_queues=N): the block
 * path on REGBUF_BLK (/dev/nvme0n1, O_DIRECT) and NVMe passthrough on
 * REGBUF_NG (/dev/ng0n1, uring_cmd iopoll), reads and writes through every
 * ring of a polling pool, each checked with a position-dependent pattern and
 * against the other path; that a polled completion is reaped only by entering
 * the kernel; and that a buffer tag waits for the polled I/O holding the
 * buffer.  The refusal without poll queues is tested by the sys suite (the
 * host's disk, loop devices) and by fio's hipri in the fio-kernel-cmd boot.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <regbuf/uring.h>

#include "harness.h"

#define KiB (UINT64_C(1) << 10)
#define MiB (UINT64_C(1) << 20)
#define ARENA (8 * MiB)
#define SALT UINT64_C(0x706f6c6c)

static const char *env(const char *name)
{
	const char *v = getenv(name);

	return v && *v ? v : NULL;
}

/*
 * The namespace has poll queues (the nvme driver's io_poll attribute), or the
 * case cannot run: T_PASS, or a failure naming the boot option.
 */
static int need_poll_queues(void)
{
	char buf[8] = "";
	int fd = open("/sys/block/nvme0n1/queue/io_poll", O_RDONLY);
	ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof(buf) - 1);

	if (fd >= 0)
		close(fd);
	if (n <= 0 || buf[0] != '1')
		return T_FAILF("/sys/block/nvme0n1/queue/io_poll is not 1: boot with "
			       "nvme.poll_queues=N (guest.sh --append)");
	return T_PASS;
}

#define t_need_poll_queues()						\
	do {								\
		int __p = need_poll_queues();				\
		if (__p != T_PASS)					\
			return __p;					\
	} while (0)

/* A 2 MiB hugetlb arena (4 KiB pages when the guest has none). */
static uint8_t *arena_map(void)
{
	void *p = mmap(NULL, ARENA, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE | MAP_HUGETLB, -1, 0);

	if (p == MAP_FAILED)
		p = mmap(NULL, ARENA, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	return p == MAP_FAILED ? NULL : p;
}

/* A polling pool of @nr rings with @mem registered (@flags: more pool flags). */
static int pool_make(struct regbuf_uring_pool **pp, uint32_t nr, uint8_t *mem,
		     unsigned int flags, uint64_t buf_len)
{
	struct iovec iov = { mem, ARENA };
	int ret;

	ret = regbuf_uring_pool_create(pp, nr, 64, 0, REGBUF_URING_POOL_F_IOPOLL | flags);
	if (ret)
		return ret;
	ret = regbuf_uring_pool_set_buf_len(*pp, buf_len);
	if (!ret)
		ret = regbuf_uring_pool_register(*pp, &iov, 1, 0);
	if (ret)
		regbuf_uring_pool_destroy(*pp);
	return ret;
}

/* The I/O sizes and the offsets (in bytes) each ring uses. */
static const uint32_t sizes[] = { 4096, 8192, 64 * 1024, 128 * 1024 };

/*
 * Pattern writes through every ring of a polling pool on the block device
 * (through the pool's file table), each read back through another ring and
 * checked.
 */
static int block_polled_every_ring(void)
{
	struct regbuf_uring_pool *pool;
	struct regbuf_uring_file f;
	uint8_t *mem = arena_map(), *b;
	char why[512] = "";
	int fd, ret = T_PASS;
	uint32_t i, s, nr = 2;

	if (!env("REGBUF_BLK"))
		return t_skip("REGBUF_BLK not set: run through tests/device/guest.sh --mode kernel");
	t_need_poll_queues();
	t_check(mem != NULL);
	fd = open(env("REGBUF_BLK"), O_RDWR | O_DIRECT);
	t_check(fd >= 0);
	t_ok(regbuf_uring_file_init(&f, fd));
	if (regbuf_uring_poll_check(fd, why, sizeof(why)) || !f.poll)
		return T_FAILF("%s has poll queues, yet: %s", env("REGBUF_BLK"), why);
	t_ok(pool_make(&pool, nr, mem, 0, REGBUF_BUF_MAX_LEN));
	t_ok(regbuf_uring_pool_register_files(pool, 1));
	t_ok(regbuf_uring_pool_file_add(pool, &f));
	for (i = 0; i < nr; i++) {
		struct regbuf_uring_ring *w = regbuf_uring_pool_ring(pool, i);
		struct regbuf_uring_ring *r = regbuf_uring_pool_ring(pool, (i + 1) % nr);
		uint64_t off = (uint64_t)i * 2 * MiB;

		for (s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++, off += 256 * KiB) {
			b = mem + i * 2 * MiB + s * 256 * KiB + 4096;	/* odd 4 KiB offsets */
			t_pattern_fill(b, sizes[s], off, SALT + i);
			t_check_eq(regbuf_uring_rw_wait(w, true, &f, b, sizes[s], off), sizes[s]);
			memset(b, 0, sizes[s]);
			t_check_eq(regbuf_uring_rw_wait(r, false, &f, b, sizes[s], off), sizes[s]);
			if (t_pattern_check(b, sizes[s], off, SALT + i) != -1) {
				ret = T_FAILF("ring %u: %u bytes at %llu read back wrong", i, sizes[s],
					      (unsigned long long)off);
				goto out;
			}
		}
	}
	printf("# %u rings: polled writes and reads of 4 KiB..128 KiB on %s verified\n", nr,
	       env("REGBUF_BLK"));
out:
	regbuf_uring_pool_destroy(pool);
	close(fd);
	munmap(mem, ARENA);
	return ret;
}

/*
 * The same through NVMe passthrough (uring_cmd iopoll): writes through every
 * ring, read back through another and through the block device (plain
 * O_DIRECT pread, not polled).
 */
static int passthru_polled_every_ring(void)
{
	struct regbuf_uring_nvme_ns ns;
	struct regbuf_uring_pool *pool;
	uint8_t *mem = arena_map(), *b, *chk = NULL;
	char why[512] = "";
	int bfd = -1, ret = T_PASS;
	uint32_t i, s, nr = 2;
	int64_t n;

	if (!env("REGBUF_NG") || !env("REGBUF_BLK"))
		return t_skip("REGBUF_NG not set: run through tests/device/guest.sh --mode kernel");
	t_need_poll_queues();
	t_check(mem != NULL);
	t_ok(regbuf_uring_nvme_open(&ns, env("REGBUF_NG"), 0));
	if (regbuf_uring_poll_check(ns.fd, why, sizeof(why)) || !ns.poll)
		return T_FAILF("%s has poll queues, yet: %s", env("REGBUF_NG"), why);
	t_ok(pool_make(&pool, nr, mem, REGBUF_URING_POOL_F_NVME_CMD, ns.max_buf_len));
	bfd = open(env("REGBUF_BLK"), O_RDONLY | O_DIRECT);
	chk = aligned_alloc(4096, 128 * KiB);
	t_check(bfd >= 0 && chk != NULL);
	for (i = 0; i < nr; i++) {
		struct regbuf_uring_ring *w = regbuf_uring_pool_ring(pool, i);
		struct regbuf_uring_ring *r = regbuf_uring_pool_ring(pool, (i + 1) % nr);
		uint64_t off = 16 * MiB + (uint64_t)i * 2 * MiB;

		for (s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++, off += 256 * KiB) {
			b = mem + i * 2 * MiB + s * 256 * KiB + 4096;
			t_pattern_fill(b, sizes[s], off, SALT + 10 + i);
			n = regbuf_uring_nvme_rw_wait(w, &ns, true, b, sizes[s], off >> ns.lba_shift,
						      0, NULL);
			t_check_eq(n, sizes[s]);
			memset(b, 0, sizes[s]);
			n = regbuf_uring_nvme_rw_wait(r, &ns, false, b, sizes[s],
						      off >> ns.lba_shift, 0, NULL);
			t_check_eq(n, sizes[s]);
			t_check_eq(pread(bfd, chk, sizes[s], (off_t)off), (ssize_t)sizes[s]);
			if (t_pattern_check(b, sizes[s], off, SALT + 10 + i) != -1 ||
			    t_pattern_check(chk, sizes[s], off, SALT + 10 + i) != -1) {
				ret = T_FAILF("ring %u: %u bytes at %llu read back wrong", i, sizes[s],
					      (unsigned long long)off);
				goto out;
			}
		}
	}
	printf("# %u rings: polled NVMe Write and Read of 4 KiB..128 KiB on %s verified, and "
	       "through %s\n", nr, env("REGBUF_NG"), env("REGBUF_BLK"));
out:
	free(chk);
	if (bfd >= 0)
		close(bfd);
	regbuf_uring_pool_destroy(pool);
	regbuf_uring_nvme_close(&ns);
	munmap(mem, ARENA);
	return ret;
}

/*
 * Submit what is queued on @ring without asking for completions.  Not
 * io_uring_submit(): on a polling ring liburing enters with
 * IORING_ENTER_GETEVENTS, and the kernel then polls once (io_iopoll_check()),
 * which finds a completion the device was quick enough to post.
 */
static int submit_only(struct io_uring *ring)
{
	unsigned int n = ring->sq.sqe_tail - ring->sq.sqe_head;

	ring->sq.sqe_head = ring->sq.sqe_tail;
	io_uring_smp_store_release(ring->sq.ktail, ring->sq.sqe_tail);
	return io_uring_enter((unsigned int)ring->ring_fd, n, 0, 0, NULL);
}

/*
 * Reaping polls: a polled read is submitted (no wait, no GETEVENTS) and
 * nobody enters the kernel for a while: its CQE is not there, however long
 * the device took; the first wait polls it in.  Then a buffer update under a
 * polled read in flight: its tag comes only once that read is polled to
 * completion.
 */
static int reap_polls_and_tag_waits(void)
{
	struct regbuf_uring_pool *pool;
	struct regbuf_uring_ring *r0;
	struct regbuf_uring_file f;
	struct io_uring_cqe *cqe;
	struct timespec pause = { 0, 300 * 1000 * 1000 };
	uint8_t *mem = arena_map();
	struct iovec iov = { mem + 4 * MiB, 64 * KiB };
	int fd, got_read = 0, got_tag = 0, tag_after_read = 0, i;

	if (!env("REGBUF_BLK"))
		return t_skip("REGBUF_BLK not set: run through tests/device/guest.sh --mode kernel");
	t_need_poll_queues();
	t_check(mem != NULL);
	fd = open(env("REGBUF_BLK"), O_RDONLY | O_DIRECT);
	t_check(fd >= 0);
	t_ok(regbuf_uring_file_init(&f, fd));
	t_ok(pool_make(&pool, 2, mem, 0, 2 * MiB));	/* four 2 MiB slots */
	r0 = regbuf_uring_pool_ring(pool, 0);
	t_check_eq(regbuf_uring_prep_rw(r0, false, &f, mem, 4096, 0, 7), 1);
	t_check_eq(submit_only(&r0->ring), 1);
	nanosleep(&pause, NULL);
	t_check_eq(io_uring_cq_ready(&r0->ring), 0);
	t_ok(io_uring_wait_cqe(&r0->ring, &cqe));
	t_check_eq(cqe->user_data, 7);
	t_check_eq(cqe->res, 4096);
	io_uring_cqe_seen(&r0->ring, cqe);

	/* A read into slot 2 in flight, slot 2 replaced: no tag until it is reaped. */
	t_check_eq(regbuf_uring_prep_rw(r0, false, &f, mem + 4 * MiB + 8192, 4096, 0, 8), 1);
	t_check_eq(submit_only(&r0->ring), 1);
	t_check_eq(regbuf_uring_pool_update(pool, 2, &iov, 1), 1);
	nanosleep(&pause, NULL);
	t_check_eq(io_uring_cq_ready(&r0->ring), 0);
	/* Each wait polls; on 6.1 the tag is put from delayed work, up to a second later. */
	for (i = 0; i < 3000 && !(got_read && got_tag); i++) {
		if (io_uring_peek_cqe(&r0->ring, &cqe)) {
			nanosleep(&(struct timespec){ 0, 1000 * 1000 }, NULL);
			continue;
		}
		if (regbuf_uring_cqe_is_tag(cqe)) {
			t_check_eq(regbuf_uring_tag_slot(cqe), 2);
			got_tag = 1;
			tag_after_read = got_read;
		} else {
			t_check_eq(cqe->user_data, 8);
			t_check_eq(cqe->res, 4096);
			got_read = 1;
		}
		io_uring_cqe_seen(&r0->ring, cqe);
	}
	t_check(got_read && got_tag && tag_after_read);
	regbuf_uring_pool_destroy(pool);
	close(fd);
	munmap(mem, ARENA);
	return T_PASS;
}

static const struct t_case cases[] = {
	T_CASE(block_polled_every_ring),
	T_CASE(passthru_polled_every_ring),
	T_CASE(reap_polls_and_tag_waits),
};

int main(int argc, char **argv)
{
	return t_main("poll", cases, sizeof(cases) / sizeof(cases[0]), argc, argv);
}
