// SPDX-License-Identifier: MIT
/*
 * ring-per-thread - one io_uring ring per thread over ONE registration.
 *
 * The memory is registered once; the pool gives every other ring the same
 * kernel buffer table by IORING_REGISTER_CLONE_BUFFERS (Linux 6.12), or by
 * registering again on older kernels.  Each thread takes its I/O buffers
 * from a shared sub-allocator over the registered arena, writes a pattern
 * to its own region of an O_DIRECT file with fixed-buffer writes, reads it
 * back with fixed-buffer reads and checks every byte.
 *
 *   cc -O2 -pthread ring-per-thread.c $(pkg-config --cflags --libs regbuf)
 *   ./a.out [DIR]        (the temporary file goes in DIR, default ".")
 *
 * DIR must support O_DIRECT (ext4, xfs, btrfs; tmpfs since Linux 6.6).
 * Needs RLIMIT_MEMLOCK of at least the arena (8 MiB; huge pages are charged
 * whole) unless run with CAP_IPC_LOCK.  Exit status: 0 when every byte read
 * back was the byte written, 1 otherwise.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE		/* O_DIRECT, mkostemp() */
#endif
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <regbuf/alloc.h>
#include <regbuf/mem.h>
#include <regbuf/table.h>
#include <regbuf/uring.h>

#define NR_THREADS	4
#define QD		8		/* I/Os in flight per thread */
#define BS		(64 * 1024)	/* bytes per I/O */
#define ROUNDS		4		/* each thread writes ROUNDS * QD blocks */
#define ARENA_LEN	(8u << 20)

struct shared {
	struct regbuf_uring_pool *pool;
	struct regbuf_alloc *alloc;
	struct regbuf_uring_file file;
};

struct worker {
	struct shared *sh;
	uint32_t idx;
	int err;		/* 0, or the first -errno / mismatch (-EIO) */
	char msg[160];
};

/* A byte that depends on the file position: a misplaced block cannot pass. */
static uint8_t pattern(uint64_t off)
{
	return (uint8_t)((off >> 9) * 31 + (off & 511) + 7);
}

/* Submit what is queued and reap @n completions of I/Os of BS bytes. */
static int reap(struct regbuf_uring_ring *r, unsigned int n, struct worker *w)
{
	struct io_uring_cqe *cqe;
	int ret;

	while (n) {
		ret = io_uring_submit_and_wait(&r->ring, 1);
		if (ret < 0)
			return ret;
		while (n && io_uring_peek_cqe(&r->ring, &cqe) == 0) {
			/*
			 * Buffer-release tags arrive on ring 0 when a slot is
			 * updated or unregistered: not an I/O completion.
			 */
			if (regbuf_uring_cqe_is_tag(cqe)) {
				regbuf_uring_ring_count_tag(r, cqe);
				io_uring_cqe_seen(&r->ring, cqe);
				continue;
			}
			ret = cqe->res;
			io_uring_cqe_seen(&r->ring, cqe);
			if (ret != BS) {
				snprintf(w->msg, sizeof(w->msg), "I/O returned %d (%s)", ret,
					 ret < 0 ? strerror(-ret) : "short");
				return ret < 0 ? ret : -EIO;
			}
			n--;
		}
	}
	return 0;
}

/* One round: fill QD buffers, write them, clear them, read them back, check. */
static int one_round(struct worker *w, struct regbuf_uring_ring *r, struct regbuf_alloc_span *bufs,
		     uint64_t base)
{
	unsigned int i, k;
	int ret;

	for (i = 0; i < QD; i++) {
		uint8_t *p = (uint8_t *)bufs[i].addr;
		uint64_t off = base + (uint64_t)i * BS;

		for (k = 0; k < BS; k++)
			p[k] = pattern(off + k);
		/* The slot is found from the pointer: no index to carry around. */
		ret = regbuf_uring_prep_rw(r, true, &w->sh->file, bufs[i].addr, BS, off, i);
		if (ret < 0)
			return ret;
	}
	ret = reap(r, QD, w);
	if (ret)
		return ret;

	for (i = 0; i < QD; i++) {
		memset(bufs[i].addr, 0, BS);
		ret = regbuf_uring_prep_rw(r, false, &w->sh->file, bufs[i].addr, BS,
					   base + (uint64_t)i * BS, i);
		if (ret < 0)
			return ret;
	}
	ret = reap(r, QD, w);
	if (ret)
		return ret;

	for (i = 0; i < QD; i++) {
		const uint8_t *p = (const uint8_t *)bufs[i].addr;
		uint64_t off = base + (uint64_t)i * BS;

		for (k = 0; k < BS; k++) {
			if (p[k] != pattern(off + k)) {
				snprintf(w->msg, sizeof(w->msg),
					 "file offset %" PRIu64 ": read 0x%02x, wrote 0x%02x",
					 off + k, p[k], pattern(off + k));
				return -EIO;
			}
		}
	}
	return 0;
}

static void *worker_main(void *arg)
{
	struct worker *w = (struct worker *)arg;
	/* This thread's ring: no other thread submits on it. */
	struct regbuf_uring_ring *r = regbuf_uring_pool_ring(w->sh->pool, w->idx);
	struct regbuf_alloc_span bufs[QD];
	unsigned int got = 0, round;
	int ret = 0;

	/* Buffers from the shared allocator: usually lock-free (per-thread cache). */
	for (got = 0; got < QD; got++) {
		ret = regbuf_alloc_acquire(w->sh->alloc, BS, &bufs[got]);
		if (ret) {
			snprintf(w->msg, sizeof(w->msg), "regbuf_alloc_acquire: %s", strerror(-ret));
			goto out_release;
		}
	}
	for (round = 0; round < ROUNDS && !ret; round++) {
		/* Each thread owns a disjoint region of the file. */
		uint64_t base = ((uint64_t)w->idx * ROUNDS + round) * QD * BS;

		ret = one_round(w, r, bufs, base);
		if (ret && !w->msg[0])
			snprintf(w->msg, sizeof(w->msg), "prep/submit: %s", strerror(-ret));
	}
out_release:
	while (got)
		regbuf_alloc_release(w->sh->alloc, &bufs[--got]);
	/* Give this thread's cached buffers back before it goes. */
	regbuf_alloc_flush(w->sh->alloc);
	w->err = ret;
	return NULL;
}

static int open_tmp(const char *dir, char *path, size_t len)
{
	int fd;

	snprintf(path, len, "%s/regbuf-example-XXXXXX", dir);
	fd = mkostemp(path, O_DIRECT | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	unlink(path);	/* gone when closed, even if we crash */
	if (ftruncate(fd, (off_t)NR_THREADS * ROUNDS * QD * BS)) {
		int err = -errno;

		close(fd);
		return err;
	}
	return fd;
}

int main(int argc, char **argv)
{
	const char *dir = argc > 1 ? argv[1] : ".";
	struct worker w[NR_THREADS];
	pthread_t tid[NR_THREADS];
	struct regbuf_uring_status st;
	struct regbuf_mem *mem;
	struct shared sh;
	struct iovec iov;
	char path[4096];
	uint32_t t, align;
	int ret, fd, failed = 0;

	memset(&sh, 0, sizeof(sh));
	fd = open_tmp(dir, path, sizeof(path));
	if (fd < 0) {
		fprintf(stderr, "ring-per-thread: O_DIRECT file in %s: %s\n", dir, strerror(-fd));
		return 1;
	}
	/* The file's O_DIRECT rules (statx STATX_DIOALIGN, or the block size). */
	ret = regbuf_uring_file_init(&sh.file, fd);
	if (ret) {
		fprintf(stderr, "ring-per-thread: %s: %s\n", path, strerror(-ret));
		goto out_close;
	}

	/* Hugepages when there are any (hugetlb, then THP), else 4 KiB pages. */
	ret = regbuf_mem_create(&mem, ARENA_LEN, NULL);
	if (ret) {
		fprintf(stderr, "ring-per-thread: regbuf_mem_create: %s\n", strerror(-ret));
		goto out_close;
	}

	ret = regbuf_uring_pool_create(&sh.pool, NR_THREADS, 2 * QD, 0, 0);
	if (ret) {
		fprintf(stderr, "ring-per-thread: io_uring: %s\n", strerror(-ret));
		goto out_mem;
	}
	/* One registration for every ring (an arena over 1 GiB becomes several slots). */
	iov.iov_base = regbuf_mem_addr(mem);
	iov.iov_len = regbuf_mem_len(mem);
	ret = regbuf_uring_pool_register(sh.pool, &iov, 1, 0);
	regbuf_uring_pool_status(sh.pool, &st);
	if (ret) {
		/* The reason names the memlock bytes needed and the limits. */
		fprintf(stderr, "ring-per-thread: registration failed: %s\n%s\n", strerror(-ret),
			st.reason);
		goto out_pool;
	}

	/*
	 * Buffers inside the registered arena: slot 0 covers its first
	 * REGBUF_BUF_MAX_LEN bytes, the next slot the next ones (what the
	 * pool made of the one iovec above).  Alignment: the file's O_DIRECT
	 * memory alignment, at least 512.
	 */
	align = sh.file.mem_align > 512 ? sh.file.mem_align : 512;
	ret = regbuf_alloc_create(&sh.alloc, mem, 0, REGBUF_BUF_MAX_LEN, align, 0);
	if (ret) {
		fprintf(stderr, "ring-per-thread: regbuf_alloc_create: %s\n", strerror(-ret));
		goto out_pool;
	}

	for (t = 0; t < NR_THREADS; t++) {
		memset(&w[t], 0, sizeof(w[t]));
		w[t].sh = &sh;
		w[t].idx = t;
		if (pthread_create(&tid[t], NULL, worker_main, &w[t])) {
			fprintf(stderr, "ring-per-thread: pthread_create failed\n");
			while (t)
				pthread_join(tid[--t], NULL);
			ret = -EAGAIN;
			goto out_alloc;
		}
	}
	for (t = 0; t < NR_THREADS; t++) {
		pthread_join(tid[t], NULL);
		if (w[t].err) {
			fprintf(stderr, "ring-per-thread: thread %u: %s\n", t, w[t].msg);
			failed = 1;
		}
	}
	printf("%s memory, %" PRIu64 " bytes registered for %u rings (how: %s)\n",
	       regbuf_mem_tier_name(regbuf_mem_tier(mem)), st.nr_bytes, st.nr_rings,
	       regbuf_uring_path_name(st.path));
	printf("%u bytes written and read back by %u threads: %s\n",
	       (unsigned int)(NR_THREADS * ROUNDS * QD * BS), NR_THREADS,
	       failed ? "MISMATCH" : "verified");
	ret = failed ? -EIO : 0;

out_alloc:
	regbuf_alloc_destroy(sh.alloc);
out_pool:
	/* The kernel unpins the memory when the last ring holding it closes. */
	regbuf_uring_pool_destroy(sh.pool);
out_mem:
	regbuf_mem_destroy(mem);
out_close:
	close(fd);
	return ret ? 1 : 0;
}
