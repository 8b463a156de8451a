// SPDX-License-Identifier: MIT
/*
 * fork-workers - one registration shared by forked worker processes.
 *
 * The pattern of a pre-fork server: before any fork, the parent maps a
 * SHARED arena (a memfd: hugetlbfs when there are huge pages, else shmem),
 * creates one ring per worker, registers the arena once and lets the pool
 * clone the table into every ring (IORING_REGISTER_CLONE_BUFFERS, Linux
 * 6.12; registered again per ring on older kernels).  Each forked worker
 * then uses only its own ring: it writes a pattern to its part of an
 * O_DIRECT file with fixed-buffer writes, reads it back with fixed-buffer
 * reads and checks every byte.  The memory is charged to RLIMIT_MEMLOCK once,
 * whatever the number of workers.
 *
 * What the kernel allows (and the reasons for each rule here):
 * - the arena must be shared memory: private memory pinned for I/O is copied
 *   for the child at fork, so a worker's stores would miss the registered
 *   pages;
 * - the rings must be created and registered before fork: a ring a worker
 *   creates itself is accounted to the worker's mm, and the kernel refuses
 *   to clone into it (-EINVAL); it would have to register again and be
 *   charged again;
 * - IORING_SETUP_SINGLE_ISSUER (and DEFER_TASKRUN, which needs it) only
 *   with R_DISABLED, each worker enabling its own ring
 *   (regbuf_uring_ring_enable()): a ring belongs to the task that created or
 *   enabled it and refuses other tasks' submissions with -EEXIST;
 * - change the registration (update, mirror, unregister) only in the parent
 *   before fork: a worker's copy of the pool does not see changes made in
 *   another process.
 *
 *   cc -O2 fork-workers.c $(pkg-config --cflags --libs regbuf)
 *   ./a.out [DIR [WORKERS]]   (the file goes in DIR, default "."; 8 workers)
 *
 * DIR must support O_DIRECT.  Needs RLIMIT_MEMLOCK of the arena plus, on
 * Linux 6.14+, each ring's own memory, unless run with CAP_IPC_LOCK.  Exit
 * status: 0 when every worker read back what it wrote, 1 otherwise.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE		/* O_DIRECT, mkostemp() */
#endif
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <regbuf/mem.h>
#include <regbuf/uring.h>

#define MAX_WORKERS	1024
#define PIECE		(64 * 1024)	/* each worker's part of the arena and the file */

/* A byte that depends on the file position: a misplaced block cannot pass. */
static uint8_t pattern(uint64_t off)
{
	return (uint8_t)((off >> 9) * 31 + (off & 511) + 7);
}

/* In worker @idx: write, clear, read back, check.  The exit status of the worker. */
static int worker(struct regbuf_uring_pool *pool, const struct regbuf_uring_file *f,
		  uint8_t *arena, uint32_t idx)
{
	/* This worker's ring, created and given the table before fork. */
	struct regbuf_uring_ring *r = regbuf_uring_pool_ring(pool, idx);
	uint64_t off = (uint64_t)idx * PIECE, k;
	uint8_t *p = arena + off;
	int64_t ret;

	for (k = 0; k < PIECE; k++)
		p[k] = pattern(off + k);
	/* The slot is found from the pointer: the arena is registered memory. */
	ret = regbuf_uring_rw_wait(r, true, f, p, PIECE, off);
	if (ret != PIECE) {
		fprintf(stderr, "fork-workers: worker %u: write: %s\n", idx,
			ret < 0 ? strerror((int)-ret) : "short");
		return 1;
	}
	memset(p, 0, PIECE);
	ret = regbuf_uring_rw_wait(r, false, f, p, PIECE, off);
	if (ret != PIECE) {
		fprintf(stderr, "fork-workers: worker %u: read: %s\n", idx,
			ret < 0 ? strerror((int)-ret) : "short");
		return 1;
	}
	for (k = 0; k < PIECE; k++) {
		if (p[k] != pattern(off + k)) {
			fprintf(stderr, "fork-workers: worker %u: file offset %" PRIu64
				": read 0x%02x, wrote 0x%02x\n", idx, off + k, p[k],
				pattern(off + k));
			return 1;
		}
	}
	return 0;
}

static int open_tmp(const char *dir, uint64_t size)
{
	char path[4096];
	int fd, err;

	snprintf(path, sizeof(path), "%s/regbuf-example-XXXXXX", dir);
	fd = mkostemp(path, O_DIRECT | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	unlink(path);	/* gone when closed, even if we crash */
	if (ftruncate(fd, (off_t)size)) {
		err = -errno;
		close(fd);
		return err;
	}
	return fd;
}

int main(int argc, char **argv)
{
	const char *dir = argc > 1 ? argv[1] : ".";
	struct regbuf_mem_opts opts;
	struct regbuf_uring_status st;
	struct regbuf_uring_pool *pool;
	struct regbuf_uring_file f;
	struct regbuf_mem *mem;
	struct iovec iov;
	pid_t pids[MAX_WORKERS];
	uint32_t nr, i, failed = 0;
	unsigned long n = 8;
	int ret, fd, status;
	char *end;

	if (argc > 2) {
		errno = 0;
		n = strtoul(argv[2], &end, 10);
		if (errno || end == argv[2] || *end)
			n = 0;
	}
	if (n < 1 || n > MAX_WORKERS) {
		fprintf(stderr, "fork-workers: WORKERS must be 1..%d\n", MAX_WORKERS);
		return 2;
	}
	nr = (uint32_t)n;
	fd = open_tmp(dir, (uint64_t)nr * PIECE);
	if (fd < 0) {
		fprintf(stderr, "fork-workers: O_DIRECT file in %s: %s\n", dir, strerror(-fd));
		return 1;
	}
	ret = regbuf_uring_file_init(&f, fd);
	if (ret) {
		fprintf(stderr, "fork-workers: %s\n", strerror(-ret));
		goto out_close;
	}
	/* Shared memory: the workers' stores must reach the registered pages. */
	memset(&opts, 0, sizeof(opts));
	opts.flags = REGBUF_MEM_F_MEMFD;
	ret = regbuf_mem_create(&mem, (size_t)nr * PIECE, &opts);
	if (ret) {
		fprintf(stderr, "fork-workers: regbuf_mem_create: %s\n", strerror(-ret));
		goto out_close;
	}
	/* One ring per worker; the report explains a refusal (RLIMIT_MEMLOCK, descriptors). */
	ret = regbuf_uring_pool_create_report(&pool, nr, 8, 0, 0, &st);
	if (ret) {
		fprintf(stderr, "fork-workers: %s\n", st.reason);
		goto out_mem;
	}
	iov.iov_base = regbuf_mem_addr(mem);
	iov.iov_len = regbuf_mem_len(mem);
	ret = regbuf_uring_pool_register(pool, &iov, 1, 0);
	regbuf_uring_pool_status(pool, &st);
	if (ret) {
		fprintf(stderr, "fork-workers: registration failed: %s\n", st.reason);
		goto out_pool;
	}

	for (i = 0; i < nr; i++) {
		pids[i] = fork();
		if (pids[i] == 0)
			_exit(worker(pool, &f, (uint8_t *)regbuf_mem_addr(mem), i));
		if (pids[i] < 0) {
			fprintf(stderr, "fork-workers: fork: %s\n", strerror(errno));
			failed++;
			break;
		}
	}
	while (i--)
		if (waitpid(pids[i], &status, 0) != pids[i] || !WIFEXITED(status) ||
		    WEXITSTATUS(status))
			failed++;

	printf("%s memory, %" PRIu64 " bytes registered once for %u rings (how: %s; "
	       "RLIMIT_MEMLOCK charge %" PRIu64 " bytes, rings %" PRIu64 ")\n",
	       regbuf_mem_tier_name(regbuf_mem_tier(mem)), st.nr_bytes, st.nr_rings,
	       regbuf_uring_path_name(st.path), st.memlock.needed, st.memlock.rings);
	printf("%u workers wrote and read back %u bytes each: %s\n", nr, PIECE,
	       failed ? "FAILED" : "verified");
	ret = failed ? -EIO : 0;
out_pool:
	regbuf_uring_pool_destroy(pool);
out_mem:
	regbuf_mem_destroy(mem);
out_close:
	close(fd);
	return ret ? 1 : 0;
}
