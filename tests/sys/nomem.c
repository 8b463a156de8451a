// SPDX-License-Identifier: MIT
/*
 * nomem: every public call that documents -ENOMEM is run out of memory for
 * real, at every point where it allocates, and must return -ENOMEM, leave
 * its object as it was and leak nothing.
 *
 * The memory is taken away with RLIMIT_AS (what a container's or a cgroup-less
 * ulimit -v gives a storage engine), not with a mocked malloc.  Each sweep
 * runs in a fresh process started with glibc's tunables mmap_threshold=0 and
 * tcache_count=0: from its first malloc() on, every allocation is an mmap()
 * of its own and every free() an munmap(), so the address-space limit makes
 * each allocation fail in turn as the limit is raised a page at a time above
 * the process's current size; mmap() of arenas and io_uring rings fails the
 * same way.  After each failed call the
 * process's size must be back to what it was before the call (every
 * allocation undone: an allocation leaked on an error path, or a buffer
 * reference not put, keeps its mapping), and the object must be usable: a
 * table still unregistered, a pool still empty, a kernel table unchanged.
 * The sweep ends when the call succeeds; a call that never failed would prove
 * nothing and fails the case.  A limit reaches an allocation only when it
 * raises the call's high-water mark (a later, smaller one fits where an
 * earlier, freed one was), so the cases are sized to make the allocations
 * that matter the largest.
 *
 * AddressSanitizer reserves terabytes of address space and replaces malloc,
 * so under it every case skips.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include <regbuf/alloc.h>
#include <regbuf/mem.h>
#include <regbuf/table.h>
#ifdef REGBUF_HAVE_URING
#include <liburing.h>
#include <regbuf/uring.h>
#endif

#include "harness.h"
#include "sys/compat.h"

#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif
#ifndef UNDER_ASAN
#define UNDER_ASAN 0
#endif

/* Up to this much allocation per call (4 KiB steps). */
#define MAX_EXTRA (64u << 20)

/*
 * The process's address-space size in bytes (/proc/self/statm, first field),
 * read without stdio: a FILE would be a mapping of its own while it is read.
 */
static unsigned long vm_bytes(void)
{
	char buf[64] = "";
	int fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
	ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof(buf) - 1);

	if (fd >= 0)
		close(fd);
	return n > 0 ? strtoul(buf, NULL, 10) * (unsigned long)sysconf(_SC_PAGESIZE) : 0;
}

static void as_limit(rlim_t bytes)
{
	struct rlimit r = { bytes, RLIM_INFINITY };

	setrlimit(RLIMIT_AS, &r);
}

/*
 * One operation under test: @setup builds what the call needs (no limit),
 * @call is the call (under the limit), @after_failure checks the object after
 * a failed call (may be NULL), @teardown frees everything.  @setup and
 * @after_failure return 0 or a T_* code; @call returns the call's result.
 */
struct op {
	int (*setup)(void);
	long (*call)(void);
	int (*after_failure)(void);
	void (*teardown)(void);
};

/*
 * In a child (the limit and the malloc tuning stay there): raise the limit
 * a page at a time from the current size until @op's call succeeds.
 * Exit status: T_PASS, T_FAIL with the reason on stdout.
 */
static int sweep_child(const struct op *op)
{
	unsigned long base, before, extra;
	int nomem = 0, ret;
	long r;

	/* Warm-up without a limit: one-time allocations (stdio, caches) happen here. */
	if ((ret = op->setup()))
		return ret;
	r = op->call();
	if (r < 0)
		return printf("the call fails even without a limit: %ld\n", r), T_FAIL;
	op->teardown();
	base = vm_bytes();
	for (extra = 0; extra <= MAX_EXTRA; extra += 4096) {
		if ((ret = op->setup()))
			return ret;
		before = vm_bytes();
		as_limit(before + extra);
		r = op->call();
		as_limit(RLIM_INFINITY);
		if (r >= 0) {
			op->teardown();
			if (vm_bytes() != base)
				return printf("after success: %lu bytes mapped, %lu before\n",
					      vm_bytes(), base), T_FAIL;
			printf("  %d failures (-ENOMEM), then success with %lu KiB to spare\n", nomem,
			       extra >> 10);
			return nomem ? T_PASS : (printf("never ran out of memory\n"), T_FAIL);
		}
		if (r != -ENOMEM)
			return printf("with %lu KiB to spare: %ld, expected -ENOMEM\n", extra >> 10,
				      r), T_FAIL;
		nomem++;
		if (vm_bytes() != before)
			return printf("with %lu KiB to spare: -ENOMEM left %lu bytes mapped "
				      "(leak on the error path)\n", extra >> 10,
				      vm_bytes() - before), T_FAIL;
		ret = op->after_failure ? op->after_failure() : 0;
		op->teardown();
		if (ret)
			return ret;
		if (vm_bytes() != base)
			return printf("with %lu KiB to spare: %lu bytes mapped after teardown, %lu "
				      "before\n", extra >> 10, vm_bytes(), base), T_FAIL;
	}
	return printf("still -ENOMEM with %u MiB to spare\n", MAX_EXTRA >> 20), T_FAIL;
}

#define CHILD_ENV "REGBUF_NOMEM_SWEEP"

/*
 * Case @name sweeps @op in a fresh process (this binary again, running only
 * that case) with every allocation an mmap(); there, sweep() is the sweep.
 */
static int sweep(const struct op *op, const char *name)
{
	char out[4096] = "", exe[4096];
	int fds[2], st;
	ssize_t n, len = 0;
	pid_t pid;

	if (UNDER_ASAN)
		return t_skip("AddressSanitizer reserves the address space RLIMIT_AS limits");
	if (getenv(CHILD_ENV)) {
		setvbuf(stdout, NULL, _IONBF, 0);
		_exit(sweep_child(op));
	}
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n <= 0)
		return t_broken("readlink /proc/self/exe: %s", strerror(errno));
	exe[n] = '\0';
	fflush(stdout);
	if (pipe(fds))
		return t_broken("pipe: %s", strerror(errno));
	pid = fork();
	if (pid < 0)
		return t_broken("fork: %s", strerror(errno));
	if (pid == 0) {
		close(fds[0]);
		dup2(fds[1], STDOUT_FILENO);
		setenv(CHILD_ENV, "1", 1);
		setenv("GLIBC_TUNABLES", "glibc.malloc.mmap_threshold=0:glibc.malloc.tcache_count=0:"
		       "glibc.malloc.top_pad=0", 1);
		execl(exe, exe, name, (char *)NULL);
		_exit(T_BROKEN);
	}
	close(fds[1]);
	while ((n = read(fds[0], out + len, sizeof(out) - 1 - (size_t)len)) > 0)
		len += n;
	out[len] = '\0';
	close(fds[0]);
	waitpid(pid, &st, 0);
	if (!WIFEXITED(st))
		return T_FAILF("the sweep died of signal %d: %s", WTERMSIG(st), out);
	if (WEXITSTATUS(st) == T_PASS) {
		printf("%s", out);
		return T_PASS;
	}
	if (WEXITSTATUS(st) == T_SKIP)
		return t_skip("%s", out);
	return T_FAILF("%s", out);
}

#define NOMEM_CASE(name, setup, call, after_failure, teardown)		\
	static int name(void)						\
	{								\
		static const struct op op = { setup, call, after_failure, teardown }; \
		return sweep(&op, #name);				\
	}

/* ---- table ---- */

#define NR_BUFS 16
static struct regbuf_table *t, *t2;
static void *area;
static size_t area_len = (size_t)NR_BUFS << 18;	/* 16 x 256 KiB */
static struct iovec iov[NR_BUFS];

static int map_area(void)
{
	unsigned int i;

	area = mmap(NULL, area_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (area == MAP_FAILED)
		return printf("mmap: %s\n", strerror(errno)), T_BROKEN;
	memset(area, 1, area_len);
	for (i = 0; i < NR_BUFS; i++) {
		iov[i].iov_base = (char *)area + ((size_t)i << 18);
		iov[i].iov_len = 1u << 18;
	}
	return 0;
}

static void table_teardown(void)
{
	regbuf_table_destroy(t);
	regbuf_table_destroy(t2);
	t = t2 = NULL;
	if (area)
		munmap(area, area_len);
	area = NULL;
}

static int create_setup(void)
{
	t = NULL;
	return 0;
}

static long create_call(void)
{
	return regbuf_table_create(&t, 0);
}

static int create_after_failure(void)
{
	return t ? (printf("-ENOMEM but *tp set\n"), T_FAIL) : 0;
}

static int table_setup(void)
{
	int ret = map_area();

	if (!ret && regbuf_table_create(&t, 0))
		ret = (printf("regbuf_table_create failed\n"), T_BROKEN);
	return ret;
}

/* All or nothing: a failed registration leaves the table unregistered and registrable. */
static int still_unregistered(void)
{
	if (regbuf_table_unregister(t) != -ENXIO)
		return printf("the table is registered after -ENOMEM\n"), T_FAIL;
	return 0;
}

static long register_call(void)
{
	return regbuf_table_register(t, iov, NR_BUFS, 0);
}

static long register_4k_call(void)
{
	return regbuf_table_register(t, iov, NR_BUFS, REGBUF_TABLE_F_LAYOUT_4K);
}

static long register_hinted_call(void)
{
	uint8_t shift[NR_BUFS];

	memset(shift, 12, sizeof(shift));
	return regbuf_table_register_hinted(t, iov, shift, NR_BUFS, 0);
}

static long register_sparse_call(void)
{
	return regbuf_table_register_sparse(t, 4096);
}

static int clone_setup(void)
{
	int ret = table_setup();

	if (!ret && (regbuf_table_register(t, iov, NR_BUFS, 0) || regbuf_table_create(&t2, 0)))
		ret = (printf("source table set-up failed\n"), T_BROKEN);
	return ret;
}

/* A range (a whole-table clone into an empty table shares the snapshot: no allocation). */
static long clone_call(void)
{
	return regbuf_table_clone(t2, t, 2, 1, NR_BUFS - 2, 0);
}

static int clone_after_failure(void)
{
	if (regbuf_table_unregister(t2) != -ENXIO)
		return printf("the destination is registered after -ENOMEM\n"), T_FAIL;
	return 0;
}

static int update_setup(void)
{
	int ret = table_setup();

	if (!ret && regbuf_table_register_sparse(t, NR_BUFS))
		ret = (printf("sparse registration failed\n"), T_BROKEN);
	return ret;
}

/*
 * One slot: an update of several stops at the first failing entry and keeps
 * the ones before it (1..nr-1 is a documented result, not a failure).
 */
static long update_call(void)
{
	return regbuf_table_update(t, 3, iov, 1);
}

static int update_after_failure(void)
{
	/* Still registered with its NR_BUFS empty slots: the update goes through now. */
	if (regbuf_table_nr(t) != NR_BUFS || regbuf_table_update(t, 3, iov, 1) != 1)
		return printf("the table cannot be updated after -ENOMEM\n"), T_FAIL;
	return 0;
}

NOMEM_CASE(table_create_enomem, create_setup, create_call, create_after_failure, table_teardown)

NOMEM_CASE(table_register_enomem, table_setup, register_call, still_unregistered, table_teardown)

NOMEM_CASE(table_register_4k_enomem, table_setup, register_4k_call,
	   still_unregistered, table_teardown)

NOMEM_CASE(table_register_hinted_enomem, table_setup, register_hinted_call,
	   still_unregistered, table_teardown)

NOMEM_CASE(table_register_sparse_enomem, table_setup, register_sparse_call,
	   still_unregistered, table_teardown)

NOMEM_CASE(table_clone_enomem, clone_setup, clone_call, clone_after_failure, table_teardown)

NOMEM_CASE(table_update_enomem, update_setup, update_call, update_after_failure, table_teardown)

/* ---- mem and alloc ---- */

static struct regbuf_mem *mem;
static struct regbuf_alloc *alloc;

static int nothing_setup(void)
{
	mem = NULL;
	alloc = NULL;
	return 0;
}

static void mem_teardown(void)
{
	regbuf_alloc_destroy(alloc);
	regbuf_mem_destroy(mem);
	alloc = NULL;
	mem = NULL;
	if (area)
		munmap(area, area_len);
	area = NULL;
}

/* 4 KiB pages: the tier that needs nothing from the machine. */
static long mem_call(void)
{
	struct regbuf_mem_opts o = { .tier = REGBUF_MEM_TIER_4K };

	return regbuf_mem_create(&mem, 1u << 20, &o);
}

static int mem_after_failure(void)
{
	return mem ? (printf("-ENOMEM but *memp set\n"), T_FAIL) : 0;
}

static int alloc_setup(void)
{
	alloc = NULL;
	return map_area();
}

static long alloc_call(void)
{
	return regbuf_alloc_create_range(&alloc, area, area_len, 0, 1u << 18, 4096, 0);
}

static int alloc_after_failure(void)
{
	return alloc ? (printf("-ENOMEM but *ap set\n"), T_FAIL) : 0;
}

NOMEM_CASE(mem_create_enomem, nothing_setup, mem_call, mem_after_failure, mem_teardown)

NOMEM_CASE(alloc_create_range_enomem, alloc_setup, alloc_call, alloc_after_failure, mem_teardown)

/* ---- uring ---- */
#ifdef REGBUF_HAVE_URING

static struct regbuf_uring_pool *pool;

static int probe_setup(void)
{
	return 0;
}

static long probe_call(void)
{
	struct regbuf_uring_features f;

	return regbuf_uring_probe(&f);
}

static void pool_teardown(void)
{
	regbuf_uring_pool_destroy(pool);
	pool = NULL;
	if (area)
		munmap(area, area_len);
	area = NULL;
}

static int pool_setup(void)
{
	int ret = map_area();

	if (!ret && regbuf_uring_pool_create(&pool, 2, 8, 0, 0))
		ret = (printf("regbuf_uring_pool_create failed\n"), T_BROKEN);
	return ret;
}

static long pool_create_call(void)
{
	return regbuf_uring_pool_create(&pool, 2, 8, 0, 0);
}

static int pool_create_after_failure(void)
{
	return pool ? (printf("-ENOMEM but *poolp set\n"), T_FAIL) : 0;
}

/* Nothing registered after the failure: the pool takes a registration. */
static int pool_empty(void)
{
	if (regbuf_uring_pool_register(pool, iov, NR_BUFS, 0))
		return printf("the pool refuses a registration after -ENOMEM\n"), T_FAIL;
	return 0;
}

static long pool_register_call(void)
{
	return regbuf_uring_pool_register(pool, iov, NR_BUFS, 0);
}

/*
 * 4096 slots: the pool's pointer -> slot map (24 bytes a slot) is then the
 * largest allocation of an update, which a sweep of the limit reaches only
 * when it is the high-water mark.
 */
static int pool_sparse_setup(void)
{
	int ret = pool_setup();

	if (!ret && regbuf_uring_pool_register_sparse(pool, 4096))
		ret = (printf("sparse registration failed\n"), T_BROKEN);
	return ret;
}

static long pool_update_call(void)
{
	return regbuf_uring_pool_update(pool, 3, iov, 1);
}

/*
 * What the kernel holds in slot 3 of ring 0: a fixed read from /dev/zero into
 * the new buffer through that slot works only if the update reached the
 * kernel (an empty slot is -EFAULT).  Returns the CQE result.
 */
static int kernel_slot3_read(void)
{
	struct regbuf_uring_ring *r = regbuf_uring_pool_ring(pool, 0);
	struct io_uring_cqe *cqe;
	struct io_uring_sqe *sqe;
	int fd = open("/dev/zero", O_RDONLY | O_CLOEXEC), res;

	if (fd < 0 || !r || !(sqe = io_uring_get_sqe(&r->ring))) {
		if (fd >= 0)
			close(fd);
		return -EBADF;
	}
	io_uring_prep_read_fixed(sqe, fd, iov[0].iov_base, 4096, 0, 3);
	sqe->user_data = 1;
	if (io_uring_submit_and_wait(&r->ring, 1) != 1 || io_uring_wait_cqe(&r->ring, &cqe)) {
		close(fd);
		return -EIO;
	}
	res = cqe->res;
	io_uring_cqe_seen(&r->ring, cqe);
	close(fd);
	return res;
}

/* -ENOMEM means nothing changed: not in the kernel either, where I/O would use it. */
static int pool_update_after_failure(void)
{
	int res = kernel_slot3_read();

	if (res != -EFAULT)
		return printf("after -ENOMEM, a fixed read through slot 3 gave %d: the kernel "
			      "has the new buffer while the pool reported failure\n", res), T_FAIL;
	if (regbuf_uring_pool_update(pool, 3, iov, 1) != 1 || kernel_slot3_read() != 4096)
		return printf("the update does not go through after -ENOMEM\n"), T_FAIL;
	return 0;
}

static long pool_register_sparse_call(void)
{
	return regbuf_uring_pool_register_sparse(pool, 1024);
}

/*
 * The estimate allocates only where it reads /proc/self/smaps: kernels
 * without PROCMAP_QUERY (6.11).  Elsewhere it cannot run out of memory.
 */
static int memlock_setup(void)
{
	struct procmap_query q;
	int fd, ret;

	fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
	memset(&q, 0, sizeof(q));
	q.size = sizeof(q);
	q.query_addr = (uint64_t)(uintptr_t)&q;
	ret = fd >= 0 && !ioctl(fd, PROCMAP_QUERY, &q);
	if (fd >= 0)
		close(fd);
	if (ret)
		return printf("PROCMAP_QUERY works: the estimate allocates nothing on this kernel\n"),
		       T_SKIP;
	return map_area();
}

static long memlock_call(void)
{
	struct regbuf_uring_memlock ml;

	return regbuf_uring_memlock_estimate(&ml, iov, NR_BUFS, 1);
}

NOMEM_CASE(uring_probe_enomem, probe_setup, probe_call, NULL, pool_teardown)

NOMEM_CASE(uring_pool_create_enomem, probe_setup, pool_create_call,
	   pool_create_after_failure, pool_teardown)

NOMEM_CASE(uring_pool_register_enomem, pool_setup, pool_register_call, pool_empty, pool_teardown)

NOMEM_CASE(uring_pool_register_sparse_enomem, pool_setup, pool_register_sparse_call,
	   pool_empty, pool_teardown)

NOMEM_CASE(uring_pool_update_enomem, pool_sparse_setup, pool_update_call,
	   pool_update_after_failure, pool_teardown)
NOMEM_CASE(uring_memlock_estimate_enomem, memlock_setup, memlock_call, NULL, pool_teardown)

/* 16384 slots: the pool's descriptor array (64 KiB) is the call's largest allocation. */
static long pool_register_files_call(void)
{
	return regbuf_uring_pool_register_files(pool, 16384);
}

/* No file table after the failure, in any ring: the pool takes one. */
static int pool_no_files(void)
{
	if (regbuf_uring_pool_register_files(pool, 16))
		return printf("the pool refuses a file table after -ENOMEM\n"), T_FAIL;
	return 0;
}

NOMEM_CASE(uring_pool_register_files_enomem, pool_setup, pool_register_files_call,
	   pool_no_files, pool_teardown)
#endif

static const struct t_case cases[] = {
	T_CASE(table_create_enomem),
	T_CASE(table_register_enomem),
	T_CASE(table_register_4k_enomem),
	T_CASE(table_register_hinted_enomem),
	T_CASE(table_register_sparse_enomem),
	T_CASE(table_clone_enomem),
	T_CASE(table_update_enomem),
	T_CASE(mem_create_enomem),
	T_CASE(alloc_create_range_enomem),
#ifdef REGBUF_HAVE_URING
	T_CASE(uring_probe_enomem),
	T_CASE(uring_pool_create_enomem),
	T_CASE(uring_pool_register_enomem),
	T_CASE(uring_pool_register_sparse_enomem),
	T_CASE(uring_pool_update_enomem),
	T_CASE(uring_memlock_estimate_enomem),
	T_CASE(uring_pool_register_files_enomem),
#endif
};

int main(int argc, char **argv)
{
	return t_main("nomem", cases, sizeof(cases) / sizeof(cases[0]), argc, argv);
}
