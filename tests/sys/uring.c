// SPDX-License-Identifier: MIT
/*
 * sys: the uring layer on the running kernel - ring pools sharing one
 * registration (clone or register again), fixed I/O checked byte by byte
 * against plain pread/pwrite on an O_DIRECT file and a loop device, the
 * kernel's clone/update/register error codes, in-flight updates, memlock
 * preflight as an unprivileged user, > 1 GiB arenas and O_DIRECT alignment.
 * Each case checks what the
 * running kernel must do (kernel_agrees(), expect_path()): the clone paths and
 * 6.12+/6.13+ error codes on 6.18; on 6.1 (the device suite's uring-6.1 guest)
 * the fallbacks - registered again in every ring, charged per ring, vectored
 * fixed I/O split - and the kernel's own refusal of CLONE_BUFFERS.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <regbuf/alloc.h>
#include <regbuf/mem.h>
#include <regbuf/table.h>
#include <regbuf/uring.h>

#include "harness.h"
#include "sys/compat.h"
#include "uring/uring.h"

#define KiB (UINT64_C(1) << 10)
#define MiB (UINT64_C(1) << 20)
#define GiB (UINT64_C(1) << 30)

#define FILE_SIZE (16 * MiB)

/* ---- setup helpers ---- */

static void *map_anon(uint64_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

/*
 * Anonymous memory in 4 KiB pages even where THP is "always": since Linux
 * 6.7 ("mm: align larger anonymous mappings on THP boundaries") a mapping of
 * 2 MiB or more starts on a 2 MiB boundary and faults in as one huge folio
 * (Debian's 6.12 guest), which io_uring charges as a whole huge page.
 */
static void *map_4k(uint64_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		return NULL;
	if (madvise(p, len, MADV_NOHUGEPAGE)) {
		munmap(p, len);
		return NULL;
	}
	memset(p, 0, len);
	return p;
}

/* An O_DIRECT scratch file in the current directory (unlinked at once). */
static int scratch_file(uint64_t size)
{
	char name[] = "./regbuf-uring-test.XXXXXX";
	int fd = mkstemp(name);

	if (fd < 0)
		return -1;
	unlink(name);
	if (ftruncate(fd, (off_t)size) < 0 || fcntl(fd, F_SETFL, O_DIRECT) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* 2 MiB hugetlb pages: reserved as needed (root), given back in huge_release(). */
static struct t_hugepages huge_2m;

#define NR_2M "/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages"

/* @len bytes of 2 MiB pages, or NULL with huge_2m.why saying why (for t_skip()). */
static void *map_huge2m(uint64_t len)
{
	void *p;

	if (t_hugepages_reserve(&huge_2m, 2048, (long)(len / (2 * MiB))))
		return NULL;
	p = mmap(NULL, len, PROT_READ | PROT_WRITE,
		 MAP_SHARED | MAP_ANONYMOUS | MAP_HUGETLB | MAP_POPULATE, -1, 0);
	if (p != MAP_FAILED)
		return p;
	/* The pages were free a moment ago: another program took them, or a cgroup's
	 * hugetlb limit refuses them. */
	snprintf(huge_2m.why, sizeof(huge_2m.why), "mmap of %llu MiB of 2 MiB hugetlb pages: %s "
		 "(free pages taken by another program meanwhile, or a hugetlb cgroup limit)",
		 (unsigned long long)(len >> 20), strerror(errno));
	return NULL;
}

static void huge_release(void)
{
	t_hugepages_restore(&huge_2m);
}

/* Fill through plain pwrite, or check through plain pread (cross-check). */
static int plain_fill(int fd, uint64_t off, uint64_t len, uint64_t salt)
{
	uint8_t *b = aligned_alloc(4096, len);
	int ok;

	if (!b)
		return -1;
	t_pattern_fill(b, len, off, salt);
	ok = pwrite(fd, b, len, (off_t)off) == (ssize_t)len;
	free(b);
	return ok ? 0 : -1;
}

static long long plain_check(int fd, uint64_t off, uint64_t len, uint64_t salt)
{
	uint8_t *b = aligned_alloc(4096, len);
	long long bad;

	if (!b)
		return 0;
	if (pread(fd, b, len, (off_t)off) != (ssize_t)len) {
		free(b);
		return 0;
	}
	bad = t_pattern_check(b, len, off, salt);
	free(b);
	return bad;
}

/* ---- what the running kernel must do ---- */

/*
 * Every case checks what this kernel must do, not what 6.18 does: the
 * library's own probe (regbuf_uring_probe(), the same one the pool decides
 * with) says which features exist, and kernel_agrees() holds that probe to the
 * running kernel - its release (uname) and a raw IORING_REGISTER_CLONE_BUFFERS -
 * so that a probe gone wrong cannot turn the clone cases into vacuous fallback
 * passes on 6.18, nor the fallback cases into clone passes on 6.1.
 */
#define KV(maj, min) ((maj) * 1000 + (min))

static struct {
	bool done;
	int ver;				/* KV() of uname's release */
	char release[65];
	struct regbuf_uring_features f;
	int probe_ret;
	int raw_clone;				/* a raw whole-table clone, as the kernel answers */
} kern;

static const struct regbuf_uring_features *kfeat(void)
{
	struct utsname u;
	int maj = 0, min = 0;

	if (kern.done)
		return &kern.f;
	kern.done = true;
	if (!uname(&u)) {
		snprintf(kern.release, sizeof(kern.release), "%s", u.release);
		sscanf(u.release, "%d.%d", &maj, &min);
	}
	kern.ver = KV(maj, min);
	kern.probe_ret = regbuf_uring_probe(&kern.f);
	{
		struct io_uring a, b;
		uint8_t *buf = map_anon(4 * KiB);
		struct iovec iov = { buf, 4 * KiB };
		struct io_uring_clone_buffers arg;

		kern.raw_clone = -999;
		if (buf && !io_uring_queue_init(4, &a, 0)) {
			if (!io_uring_queue_init(4, &b, 0)) {
				if (!io_uring_register_buffers(&a, &iov, 1)) {
					memset(&arg, 0, sizeof(arg));
					arg.src_fd = (uint32_t)a.ring_fd;
					kern.raw_clone = io_uring_register(b.ring_fd,
						IORING_REGISTER_CLONE_BUFFERS, &arg, 1);
				}
				io_uring_queue_exit(&b);
			}
			io_uring_queue_exit(&a);
		}
		if (buf)
			munmap(buf, 4 * KiB);
	}
	return &kern.f;
}

static bool k_clone(void)
{
	return kfeat()->clone_whole == 0;
}

static bool k_clone_ranges(void)
{
	return kfeat()->clone_whole == 0 && kern.f.clone_ranges == 0;
}

static bool k_rwv_fixed(void)
{
	return kfeat()->readv_fixed && kern.f.writev_fixed;
}

/*
 * The probe against the kernel itself: a raw clone answers as the probe says
 * (no such opcode before 6.12: io_uring_register() -EINVAL for an opcode past
 * IORING_REGISTER_LAST), and the release agrees - clone from 6.12, ranges
 * from 6.13, READV/WRITEV_FIXED from 6.15.
 */
static int kernel_agrees(void)
{
	const struct regbuf_uring_features *f = kfeat();

	if (kern.probe_ret)
		return T_FAILF("regbuf_uring_probe() failed: %d", kern.probe_ret);
	if (!f->buffers && (f->clone_whole == 0) != (kern.raw_clone == 0))
		return T_FAILF("probe says clone_whole %d, a raw clone gave %d", f->clone_whole,
			       kern.raw_clone);
	if (f->clone_whole && kern.raw_clone != -EINVAL)
		return T_FAILF("no clone, yet a raw clone gave %d, not -EINVAL", kern.raw_clone);
	if (!kern.ver)
		return T_PASS;
	if ((kern.ver >= KV(6, 12)) != (f->clone_whole == 0))
		return T_FAILF("kernel %s: clone_whole %d (IORING_REGISTER_CLONE_BUFFERS is 6.12+)",
			       kern.release, f->clone_whole);
	if ((kern.ver >= KV(6, 13)) != k_clone_ranges())
		return T_FAILF("kernel %s: clone_ranges %d (ranges and DST_REPLACE are 6.13+)",
			       kern.release, f->clone_ranges);
	if ((kern.ver >= KV(6, 15)) != k_rwv_fixed())
		return T_FAILF("kernel %s: readv_fixed %d writev_fixed %d (6.15+)", kern.release,
			       f->readv_fixed, f->writev_fixed);
	return T_PASS;
}

#define t_kernel_agrees()						\
	do {								\
		int __k = kernel_agrees();				\
		if (__k != T_PASS)					\
			return __k;					\
	} while (0)

/* The path a pool of 2+ rings must take here with pool @flags. */
static enum regbuf_uring_path expect_path(unsigned int flags)
{
	if ((flags & REGBUF_URING_POOL_F_NO_CLONE) || !k_clone())
		return REGBUF_URING_PATH_REGISTER;
	if ((flags & REGBUF_URING_POOL_F_CLONE_WHOLE_ONLY) || !k_clone_ranges())
		return REGBUF_URING_PATH_CLONE_WHOLE;
	return REGBUF_URING_PATH_CLONE;
}

/* How many rings pay for one registration on @path (kernel io_account_mem() per ctx). */
static uint32_t expect_charges(enum regbuf_uring_path path, uint32_t rings)
{
	return path == REGBUF_URING_PATH_REGISTER ? rings : 1;
}

/* ---- data integrity through every ring ---- */

/*
 * The pool flags that force each fallback; which path each must take on this
 * kernel is expect_path()'s (on 6.1 all three register again).
 */
struct path_case {
	const char *name;
	unsigned int flags;
};

static const struct path_case path_cases[] = {
	{ "clone", 0 },
	{ "clone-whole", REGBUF_URING_POOL_F_CLONE_WHOLE_ONLY },
	{ "register-again", REGBUF_URING_POOL_F_NO_CLONE },
};

/* Run @fn once per pool path; a failure names the path it happened on. */
static int for_each_path(int (*fn)(unsigned int flags))
{
	size_t i;
	int ret;

	t_kernel_agrees();
	for (i = 0; i < sizeof(path_cases) / sizeof(path_cases[0]); i++) {
		ret = fn(path_cases[i].flags);
		if (ret != T_PASS) {
			fprintf(stderr, "  path %s\n", path_cases[i].name);
			return ret;
		}
	}
	return T_PASS;
}

/*
 * Fixed writes from each ring of a 4-ring pool into its own 1 MiB of the
 * file, checked with plain pread; then plain pwrite of a new pattern read back
 * with fixed reads through a different ring.  Buffers are spread over two
 * registered iovecs so slots other than 0 are exercised.
 */
static int integrity_on_fd(int fd, unsigned int flags, enum regbuf_uring_path want_path)
{
	struct regbuf_uring_pool *pool;
	struct regbuf_uring_status st;
	struct regbuf_uring_file f;
	struct iovec iov[2];
	uint8_t *mem = map_anon(8 * MiB);
	uint32_t i;
	int ret = T_PASS;

	if (!mem)
		return t_broken("mmap 8 MiB");
	t_ok(regbuf_uring_file_init(&f, fd));
	iov[0] = (struct iovec){ mem, 4 * MiB };
	iov[1] = (struct iovec){ mem + 4 * MiB, 4 * MiB };
	t_ok(regbuf_uring_pool_create(&pool, 4, 64, 0, flags));
	t_ok(regbuf_uring_pool_register(pool, iov, 2, 0));
	regbuf_uring_pool_status(pool, &st);
	t_check_eq(st.path, want_path);
	t_check_eq(st.state, REGBUF_URING_REG_ACTIVE);
	t_check_eq(st.nr_slots, 2);
	/* Registering again claims no clone time and charges every ring. */
	if (want_path == REGBUF_URING_PATH_REGISTER)
		t_check_eq(st.clone_ns, 0);
	else
		t_check(st.clone_ns > 0);
	t_check_eq(st.memlock.charges, expect_charges(want_path, 4));

	for (i = 0; i < 4; i++) {
		struct regbuf_uring_ring *r = regbuf_uring_pool_ring(pool, i);
		uint8_t *b = mem + i * 2 * MiB + 4096 * i;	/* slots 0 and 1, odd offsets */
		uint64_t off = i * MiB;

		t_pattern_fill(b, MiB, off, 11);
		t_check_eq(regbuf_uring_rw_wait(r, true, &f, b, MiB, off), MiB);
		if (plain_check(fd, off, MiB, 11) != -1) {
			ret = T_FAILF("ring %u: plain pread disagrees with fixed write", i);
			goto out;
		}
	}
	for (i = 0; i < 4; i++) {
		struct regbuf_uring_ring *r = regbuf_uring_pool_ring(pool, (i + 1) % 4);
		uint8_t *b = mem + 8 * MiB - (i + 1) * MiB;
		uint64_t off = 4 * MiB + i * MiB;

		t_check_eq(plain_fill(fd, off, MiB, 23 + i), 0);
		memset(b, 0, MiB);
		t_check_eq(regbuf_uring_rw_wait(r, false, &f, b, MiB, off), MiB);
		if (t_pattern_check(b, MiB, off, 23 + i) != -1) {
			ret = T_FAILF("ring %u: fixed read disagrees with plain pwrite", (i + 1) % 4);
			goto out;
		}
	}
out:
	regbuf_uring_pool_destroy(pool);
	munmap(mem, 8 * MiB);
	return ret;
}

static int integrity_odirect_file_every_ring(void)
{
	size_t i;
	int fd, ret;

	t_kernel_agrees();
	for (i = 0; i < sizeof(path_cases) / sizeof(path_cases[0]); i++) {
		fd = scratch_file(FILE_SIZE);
		if (fd < 0)
			return t_broken("O_DIRECT scratch file in the current directory");
		ret = integrity_on_fd(fd, path_cases[i].flags, expect_path(path_cases[i].flags));
		close(fd);
		if (ret != T_PASS) {
			fprintf(stderr, "  path %s\n", path_cases[i].name);
			return ret;
		}
	}
	return T_PASS;
}

/*
 * A loop device over a fresh backing file of @size bytes, opened O_DIRECT:
 * the fd, or -1 with *@ret set to the case's verdict (skip without root or
 * the loop module).  loop_detach() undoes it.
 */
static int loop_attach(uint64_t size, char *dev, size_t dev_len, char *backing, int *ret)
{
	char cmd[320];
	FILE *p;
	int bfd, fd;

	if (geteuid()) {
		*ret = t_skip("needs root to create a loop device (run as root)");
		return -1;
	}
	bfd = mkstemp(backing);
	if (bfd < 0 || ftruncate(bfd, (off_t)size) < 0) {
		*ret = t_broken("backing file");
		return -1;
	}
	close(bfd);
	/* util-linux; busybox (the 6.1 guest) has neither --show nor --direct-io. */
	snprintf(cmd, sizeof(cmd), "losetup -f --show --direct-io=on %s 2>/dev/null || "
		 "{ d=$(losetup -f) && losetup $d %s && echo $d; }", backing, backing);
	p = popen(cmd, "r");
	dev[0] = '\0';
	if (!p || !fgets(dev, (int)dev_len, p) || dev[0] != '/') {
		if (p)
			pclose(p);
		unlink(backing);
		*ret = t_skip("losetup failed (needs the loop module and root)");
		return -1;
	}
	pclose(p);
	dev[strcspn(dev, "\n")] = '\0';
	fd = open(dev, O_RDWR | O_DIRECT);
	if (fd < 0) {
		*ret = t_broken("open %s", dev);
		t_sh("losetup -d %s", dev);
		unlink(backing);
	}
	return fd;
}

static void loop_detach(int fd, const char *dev, const char *backing)
{
	close(fd);
	t_sh("losetup -d %s", dev);
	unlink(backing);
}

static int integrity_loop_device_every_ring(void)
{
	char backing[] = "/tmp/regbuf-uring-loop.XXXXXX", dev[64];
	int fd, ret = T_PASS;

	t_kernel_agrees();
	fd = loop_attach(FILE_SIZE, dev, sizeof(dev), backing, &ret);
	if (fd < 0)
		return ret;
	ret = integrity_on_fd(fd, 0, expect_path(0));
	loop_detach(fd, dev, backing);
	return ret;
}

/* ---- clone semantics ---- */

static int probe_read(struct io_uring *ring, int fd, void *buf, uint32_t len, int slot)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(ring);
	struct io_uring_cqe *cqe;
	int res;

	io_uring_prep_read_fixed(sqe, fd, buf, len, 0, slot);
	io_uring_submit(ring);
	if (io_uring_wait_cqe(ring, &cqe))
		return -999;
	while (cqe->user_data & REGBUF_URING_TAG_BIT) {
		io_uring_cqe_seen(ring, cqe);
		if (io_uring_wait_cqe(ring, &cqe))
			return -999;
	}
	res = cqe->res;
	io_uring_cqe_seen(ring, cqe);
	return res;
}

/* Error codes surface unchanged. */
static int clone_errors_unchanged(void)
{
	struct io_uring a, b, c;
	struct io_uring_clone_buffers arg;
	uint8_t *mem = map_anon(64 * KiB);
	struct iovec iov[4];
	int i, pfd[2];

	for (i = 0; i < 4; i++)
		iov[i] = (struct iovec){ mem + i * 16 * KiB, 16 * KiB };
	t_kernel_agrees();
	t_ok(io_uring_queue_init(8, &a, 0));
	t_ok(io_uring_queue_init(8, &b, 0));
	t_ok(io_uring_queue_init(8, &c, 0));
	if (!k_clone()) {
		/*
		 * Before 6.12 the opcode does not exist: io_uring_register()
		 * refuses it with -EINVAL before looking at the argument, for
		 * every variant, and the destination stays empty.
		 */
		t_check_eq(regbuf_uring_clone_buffers(&b, &a, 0, 0, 0, 0), -EINVAL);
		t_ok(io_uring_register_buffers(&a, iov, 4));
		t_check_eq(regbuf_uring_clone_buffers(&b, &a, 0, 0, 0, 0), -EINVAL);
		t_check_eq(regbuf_uring_clone_buffers(&b, &a, 1, 2, 2, IORING_REGISTER_DST_REPLACE),
			   -EINVAL);
		t_check_eq(io_uring_register(b.ring_fd, IORING_REGISTER_CLONE_BUFFERS, NULL, 1),
			   -EINVAL);
		t_check_eq(io_uring_unregister_buffers(&b), -ENXIO);
		t_check_eq(io_uring_unregister_buffers(&c), -ENXIO);
		goto out;
	}
	/* Empty source. */
	t_check_eq(regbuf_uring_clone_buffers(&b, &a, 0, 0, 0, 0), -ENXIO);
	t_ok(io_uring_register_buffers(&a, iov, 4));
	/* Unknown flag; non-zero pad (raw, as a 6.12-style bad struct would be). */
	t_check_eq(regbuf_uring_clone_buffers(&b, &a, 0, 0, 0, 1U << 5), -EINVAL);
	memset(&arg, 0, sizeof(arg));
	arg.src_fd = (uint32_t)a.ring_fd;
	arg.pad[0] = 1;
	t_check_eq(io_uring_register(b.ring_fd, IORING_REGISTER_CLONE_BUFFERS, &arg, 1), -EINVAL);
	t_check_eq(io_uring_register(b.ring_fd, IORING_REGISTER_CLONE_BUFFERS, NULL, 1), -EINVAL);
	arg.pad[0] = 0;
	t_check_eq(io_uring_register(b.ring_fd, IORING_REGISTER_CLONE_BUFFERS, &arg, 2), -EINVAL);
	/* Source is not a ring, or not an fd. */
	t_check_eq(pipe(pfd), 0);
	arg.src_fd = (uint32_t)pfd[0];
	t_check_eq(io_uring_register(b.ring_fd, IORING_REGISTER_CLONE_BUFFERS, &arg, 1),
		   -EOPNOTSUPP);
	arg.src_fd = 1000000;
	t_check_eq(io_uring_register(b.ring_fd, IORING_REGISTER_CLONE_BUFFERS, &arg, 1), -EBADF);
	/* Registered-ring index >= 16. */
	arg.src_fd = 16;
	arg.flags = IORING_REGISTER_SRC_REGISTERED;
	t_check_eq(io_uring_register(b.ring_fd, IORING_REGISTER_CLONE_BUFFERS, &arg, 1), -EINVAL);
	/* Ranges: nr == 0 with an offset; nr > src.nr; src_off + nr beyond; dst beyond
	 * 16384.  6.12 (whole table only) has no such fields: they are its pad,
	 * and any non-zero pad is -EINVAL. */
	t_check_eq(regbuf_uring_clone_buffers(&b, &a, 1, 0, 0, 0), -EINVAL);
	t_check_eq(regbuf_uring_clone_buffers(&b, &a, 0, 0, 5, 0), -EINVAL);
	t_check_eq(regbuf_uring_clone_buffers(&b, &a, 0, 2, 3, 0),
		   k_clone_ranges() ? -EOVERFLOW : -EINVAL);
	t_check_eq(regbuf_uring_clone_buffers(&b, &a, 0, UINT32_MAX, 2, 0),
		   k_clone_ranges() ? -EOVERFLOW : -EINVAL);
	t_check_eq(regbuf_uring_clone_buffers(&b, &a, 16383, 0, 2, 0), -EINVAL);
	t_check_eq(regbuf_uring_clone_buffers(&b, &a, UINT32_MAX, 0, 2, 0),
		   k_clone_ranges() ? -EOVERFLOW : -EINVAL);
	/* Whole clone, then again without DST_REPLACE: -EBUSY. */
	t_ok(regbuf_uring_clone_buffers(&b, &a, 0, 0, 0, 0));
	t_check_eq(regbuf_uring_clone_buffers(&b, &a, 0, 0, 0, 0), -EBUSY);
	/* Unregistering an empty table: -ENXIO. */
	t_check_eq(io_uring_unregister_buffers(&c), -ENXIO);
	close(pfd[0]);
	close(pfd[1]);
out:
	io_uring_queue_exit(&a);
	io_uring_queue_exit(&b);
	io_uring_queue_exit(&c);
	munmap(mem, 64 * KiB);
	return T_PASS;
}

/*
 * A range clone with DST_REPLACE keeps the slots before and
 * after, grows the table leaving a gap empty, copies no tags; self-clone works.
 * Which buffer a slot holds is observed with fixed reads: an address outside
 * the slot's buffer is -EFAULT.
 */
static int clone_range_replace_layout(void)
{
	struct io_uring a, b;
	uint8_t *mem = map_anon(64 * KiB);
	struct iovec iov[4];
	int i, zfd = open("/dev/zero", O_RDONLY);

	for (i = 0; i < 4; i++)
		iov[i] = (struct iovec){ mem + i * 16 * KiB, 16 * KiB };
	t_ok(io_uring_queue_init(8, &a, 0));
	t_ok(io_uring_queue_init(8, &b, 0));
	t_ok(io_uring_register_buffers(&a, iov, 4));
	t_ok(io_uring_register_buffers_sparse(&b, 4));
	t_kernel_agrees();
	if (!k_clone_ranges()) {
		/* 6.1 has no clone at all (-EINVAL); 6.12 clones whole tables only,
		 * into a ring without one: it answers -EBUSY for b's table before
		 * it reads the flags. */
		t_check_eq(regbuf_uring_clone_buffers(&b, &a, 1, 2, 2, IORING_REGISTER_DST_REPLACE),
			   k_clone() ? -EBUSY : -EINVAL);
		t_check_eq(probe_read(&b, zfd, iov[2].iov_base, 4096, 1), -EFAULT);
		io_uring_queue_exit(&a);
		io_uring_queue_exit(&b);
		close(zfd);
		munmap(mem, 64 * KiB);
		return t_skip("needs kernel 6.13+ (clone ranges with DST_REPLACE); %s refuses "
			      "them with %s, checked", kern.release,
			      k_clone() ? "-EBUSY (whole-table clone only, into an empty table)" :
			      "-EINVAL (no clone)");
	}
	/* b[1..2] := a[2..3]; b[0], b[3] stay empty. */
	t_ok(regbuf_uring_clone_buffers(&b, &a, 1, 2, 2, IORING_REGISTER_DST_REPLACE));
	t_check_eq(probe_read(&b, zfd, iov[2].iov_base, 4096, 1), 4096);
	t_check_eq(probe_read(&b, zfd, iov[3].iov_base, 4096, 2), 4096);
	t_check_eq(probe_read(&b, zfd, iov[0].iov_base, 4096, 0), -EFAULT);
	t_check_eq(probe_read(&b, zfd, iov[2].iov_base, 4096, 2), -EFAULT);
	/* Grow: b[6] := a[0]; b[4..5] are a gap, empty; b[1..2] preserved. */
	t_ok(regbuf_uring_clone_buffers(&b, &a, 6, 0, 1, IORING_REGISTER_DST_REPLACE));
	t_check_eq(probe_read(&b, zfd, iov[0].iov_base, 4096, 6), 4096);
	t_check_eq(probe_read(&b, zfd, iov[0].iov_base, 4096, 4), -EFAULT);
	t_check_eq(probe_read(&b, zfd, iov[2].iov_base, 4096, 1), 4096);
	t_check_eq(probe_read(&b, zfd, iov[3].iov_base, 4096, 2), 4096);
	/* Self-clone: a[1] := a[0]. */
	t_ok(regbuf_uring_clone_buffers(&a, &a, 1, 0, 1, IORING_REGISTER_DST_REPLACE));
	t_check_eq(probe_read(&a, zfd, iov[0].iov_base, 4096, 1), 4096);
	t_check_eq(probe_read(&a, zfd, iov[1].iov_base, 4096, 1), -EFAULT);
	io_uring_queue_exit(&a);
	io_uring_queue_exit(&b);
	close(zfd);
	munmap(mem, 64 * KiB);
	return T_PASS;
}

struct xclone {
	struct io_uring *dst, *src;
	int errs;
};

static void *xclone_fn(void *arg)
{
	struct xclone *x = arg;
	int i, ret;

	for (i = 0; i < 200; i++) {
		ret = regbuf_uring_clone_buffers(x->dst, x->src, 0, 0, 1,
						 IORING_REGISTER_DST_REPLACE);
		if (ret < 0)
			x->errs++;
	}
	return NULL;
}

/* A→B and B→A concurrently (address-ordered locking; no deadlock). */
static int clone_concurrent_both_ways(void)
{
	struct io_uring a, b;
	uint8_t *mem = map_anon(8 * KiB);
	struct iovec iov = { mem, 8 * KiB };
	struct xclone x1 = { &b, &a, 0 }, x2 = { &a, &b, 0 };
	pthread_t t1, t2;

	t_ok(io_uring_queue_init(8, &a, 0));
	t_ok(io_uring_queue_init(8, &b, 0));
	t_ok(io_uring_register_buffers(&a, &iov, 1));
	t_ok(io_uring_register_buffers(&b, &iov, 1));
	t_kernel_agrees();
	if (!k_clone_ranges()) {
		/* As in clone_range_replace_layout: b has a table. */
		t_check_eq(regbuf_uring_clone_buffers(&b, &a, 0, 0, 1, IORING_REGISTER_DST_REPLACE),
			   k_clone() ? -EBUSY : -EINVAL);
		io_uring_queue_exit(&a);
		io_uring_queue_exit(&b);
		munmap(mem, 8 * KiB);
		return t_skip("needs kernel 6.13+ (clone ranges with DST_REPLACE); %s refuses "
			      "them with %s, checked", kern.release,
			      k_clone() ? "-EBUSY (whole-table clone only, into an empty table)" :
			      "-EINVAL (no clone)");
	}
	pthread_create(&t1, NULL, xclone_fn, &x1);
	pthread_create(&t2, NULL, xclone_fn, &x2);
	pthread_join(t1, NULL);
	pthread_join(t2, NULL);
	t_check_eq(x1.errs + x2.errs, 0);
	io_uring_queue_exit(&a);
	io_uring_queue_exit(&b);
	munmap(mem, 8 * KiB);
	return T_PASS;
}

struct issuer {
	struct io_uring ring;
	int ret;
};

static void *single_issuer_fn(void *arg)
{
	struct issuer *is = arg;

	is->ret = io_uring_queue_init(8, &is->ring, IORING_SETUP_SINGLE_ISSUER);
	return NULL;
}

/* A SINGLE_ISSUER source owned by another task: -EEXIST. */
static int clone_single_issuer_other_task(void)
{
	struct issuer is = { .ret = -1 };
	struct io_uring dst;
	uint8_t *mem = map_anon(8 * KiB);
	struct iovec iov = { mem, 8 * KiB };
	pthread_t t;
	int ret;

	pthread_create(&t, NULL, single_issuer_fn, &is);
	pthread_join(t, NULL);
	if (is.ret < 0)
		return t_skip("IORING_SETUP_SINGLE_ISSUER unsupported (%d)", is.ret);
	t_ok(io_uring_queue_init(8, &dst, 0));
	/* Registration on it from this task is already refused the same way. */
	ret = io_uring_register_buffers(&is.ring, &iov, 1);
	t_check_eq(ret, -EEXIST);
	/* Before 6.12 the clone opcode is refused before the source is looked at;
	 * 6.12 finds the source's table empty (-ENXIO) before it checks the
	 * owner, 6.13+ refuses the other task's ring first (-EEXIST). */
	t_kernel_agrees();
	ret = regbuf_uring_clone_buffers(&dst, &is.ring, 0, 0, 0, 0);
	t_check_eq(ret, !k_clone() ? -EINVAL : k_clone_ranges() ? -EEXIST : -ENXIO);
	io_uring_queue_exit(&is.ring);
	io_uring_queue_exit(&dst);
	munmap(mem, 8 * KiB);
	return T_PASS;
}

/* The source ring closed, I/O through a clone still works. */
static int io_after_source_closed_path(unsigned int flags)
{
	struct regbuf_uring_status st;
	struct regbuf_uring_pool *pool;
	struct regbuf_uring_file f;
	uint8_t *mem = map_anon(2 * MiB);
	struct iovec iov = { mem, 2 * MiB };
	int fd = scratch_file(FILE_SIZE);
	struct regbuf_uring_ring *r;

	if (fd < 0 || !mem)
		return t_broken("scratch file / memory");
	t_ok(regbuf_uring_file_init(&f, fd));
	t_ok(regbuf_uring_pool_create(&pool, 3, 16, 0, flags));
	t_ok(regbuf_uring_pool_register(pool, &iov, 1, 0));
	/* A clone, or (before 6.12, NO_CLONE) ring 2's own registration, outlives ring 0. */
	regbuf_uring_pool_status(pool, &st);
	t_check_eq(st.path, expect_path(flags));
	t_ok(regbuf_uring_pool_close_ring(pool, 0));
	t_check(regbuf_uring_pool_ring(pool, 0) == NULL);
	r = regbuf_uring_pool_ring(pool, 2);
	t_pattern_fill(mem, MiB, 0, 5);
	t_check_eq(regbuf_uring_rw_wait(r, true, &f, mem, MiB, 0), MiB);
	t_check_eq(plain_check(fd, 0, MiB, 5), -1);
	memset(mem + MiB, 0, MiB);
	t_check_eq(regbuf_uring_rw_wait(r, false, &f, mem + MiB, MiB, 0), MiB);
	t_check_eq(t_pattern_check(mem + MiB, MiB, 0, 5), -1);
	regbuf_uring_pool_destroy(pool);
	close(fd);
	munmap(mem, 2 * MiB);
	return T_PASS;
}

static int io_on_clone_after_source_closed(void)
{
	return for_each_path(io_after_source_closed_path);
}

/* ---- registration edge cases ---- */

static int register_errors_unchanged(void)
{
	struct regbuf_uring_pool *pool;
	struct regbuf_uring_status st;
	uint8_t *mem = map_anon(64 * KiB);
	uint8_t *ro = mmap(NULL, 8 * KiB, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	struct iovec bad[3], good = { mem, 64 * KiB };
	struct iovec *many;
	int ret;

	t_ok(regbuf_uring_pool_create(&pool, 2, 8, 0, 0));
	/* NULL with a length, non-NULL with length 0. */
	bad[0] = (struct iovec){ NULL, 4096 };
	t_check_eq(regbuf_uring_pool_register(pool, bad, 1, 0), -EFAULT);
	regbuf_uring_pool_status(pool, &st);
	t_check_eq(st.state, REGBUF_URING_REG_FAILED);
	t_check_eq(st.err, -EFAULT);
	t_check(strstr(st.reason, "registration failed") != NULL);
	bad[0] = (struct iovec){ mem, 0 };
	/* A zero length expands to an empty slot in regbuf's own splitting only for NULL. */
	ret = regbuf_uring_pool_register(pool, bad, 1, 0);
	t_check_eq(ret, -EFAULT);
	/* one bad entry rolls back the whole batch; then a fresh register works. */
	bad[0] = good;
	bad[1] = (struct iovec){ NULL, 4096 };
	t_check_eq(regbuf_uring_pool_register(pool, bad, 2, 0), -EFAULT);
	/* read-only memory cannot be pinned FOLL_WRITE. */
	bad[0] = (struct iovec){ ro, 8 * KiB };
	t_check_eq(regbuf_uring_pool_register(pool, bad, 1, 0), -EFAULT);
	/* more than 16384 slots. */
	many = calloc(16385, sizeof(*many));
	t_check_eq(regbuf_uring_pool_register(pool, many, 16385, 0), -EINVAL);
	free(many);
	t_ok(regbuf_uring_pool_register(pool, &good, 1, 0));
	/* twice -EBUSY; unregister twice -ENXIO. */
	t_check_eq(regbuf_uring_pool_register(pool, &good, 1, 0), -EBUSY);
	t_ok(regbuf_uring_pool_unregister(pool));
	t_check_eq(regbuf_uring_pool_unregister(pool), -ENXIO);
	/* 16384 empty slots is the maximum, 16385 is -EINVAL. */
	t_check_eq(regbuf_uring_pool_register_sparse(pool, 16385), -EINVAL);
	t_ok(regbuf_uring_pool_register_sparse(pool, 16384));
	regbuf_uring_pool_destroy(pool);
	munmap(ro, 8 * KiB);
	munmap(mem, 64 * KiB);
	return T_PASS;
}

/* sparse table, updates: count, bounds, overflow, I/O on the new slot. */
static int sparse_then_update_path(unsigned int flags)
{
	struct regbuf_uring_status st;
	struct regbuf_uring_pool *pool;
	struct regbuf_uring_file f;
	uint8_t *mem = map_anon(2 * MiB);
	struct iovec iov[2] = { { mem, MiB }, { mem + MiB, MiB } };
	int fd = scratch_file(FILE_SIZE);
	uint32_t i;

	t_ok(regbuf_uring_file_init(&f, fd));
	t_ok(regbuf_uring_pool_create(&pool, 4, 16, 0, flags));
	t_check_eq(regbuf_uring_pool_update(pool, 0, iov, 1), -ENXIO);
	t_ok(regbuf_uring_pool_register_sparse(pool, 8));
	regbuf_uring_pool_status(pool, &st);
	t_check_eq(st.path, expect_path(flags));
	t_check_eq(regbuf_uring_rw_wait(regbuf_uring_pool_ring(pool, 1), true, &f, mem, 4096, 0),
		   -EFAULT);
	t_check_eq(regbuf_uring_pool_update(pool, 7, iov, 2), -EINVAL);
	t_check_eq(regbuf_uring_pool_update(pool, UINT32_MAX, iov, 2), -EOVERFLOW);
	t_check_eq(regbuf_uring_pool_update(pool, 3, iov, 2), 2);
	for (i = 0; i < 4; i++) {
		struct regbuf_uring_ring *r = regbuf_uring_pool_ring(pool, i);

		t_pattern_fill(mem, 2 * MiB, i * 2 * MiB, 77);
		/* Crosses from slot 3 into slot 4: two SQEs. */
		t_check_eq(regbuf_uring_prep_rw(r, true, &f, mem + 512 * KiB, MiB,
						i * 2 * MiB + 512 * KiB, 1), 2);
		io_uring_submit(&r->ring);
		for (int k = 0; k < 2; k++) {
			struct io_uring_cqe *cqe;

			t_ok(io_uring_wait_cqe(&r->ring, &cqe));
			t_check_eq(cqe->res, 512 * KiB);
			io_uring_cqe_seen(&r->ring, cqe);
		}
		t_check_eq(plain_check(fd, i * 2 * MiB + 512 * KiB, MiB, 77), -1);
	}
	regbuf_uring_pool_destroy(pool);
	close(fd);
	munmap(mem, 2 * MiB);
	return T_PASS;
}

/* Through every path: clone ranges (6.13+), whole-table re-clone (6.12), update per ring. */
static int sparse_then_update(void)
{
	return for_each_path(sparse_then_update_path);
}

/*
 * An update of a slot while a read into it is in flight.  The read
 * waits on an empty pipe; the slot is replaced and the old buffer's registered
 * mapping unmapped; the kernel keeps the old pages pinned, the read lands in
 * them (seen through a second mapping of the same memfd), and only then does
 * the old slot's tag CQE arrive.
 */
static int update_while_in_flight_path(unsigned int flags)
{
	struct regbuf_uring_pool *pool;
	struct regbuf_uring_file pf;
	struct regbuf_uring_ring *r0;
	struct io_uring_cqe *cqe;
	struct __kernel_timespec ts = { 0, 100 * 1000 * 1000 };
	/*
	 * The tag may lag the read: 6.1 puts a dead resource node from delayed
	 * work, up to a second later (io_rsrc_node_ref_zero()); 6.18 at once.
	 */
	struct __kernel_timespec ts_tag = { 3, 0 };
	struct regbuf_uring_status st;
	uint8_t *a, *a2, *b = map_anon(64 * KiB), msg[4096];
	struct iovec iov;
	uint32_t slot;
	int mfd, pfd[2], got_read = 0, got_tag = 0, tag_after_read = 0;

	mfd = memfd_create("regbuf-inflight", MFD_CLOEXEC);
	t_check(mfd >= 0 && ftruncate(mfd, 64 * KiB) == 0);
	a = mmap(NULL, 64 * KiB, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, mfd, 0);
	a2 = mmap(NULL, 64 * KiB, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0);
	t_check(a != MAP_FAILED && a2 != MAP_FAILED && b);
	t_check_eq(pipe(pfd), 0);
	pf = (struct regbuf_uring_file){ .fd = pfd[0], .mem_align = 1, .off_align = 1 };
	iov = (struct iovec){ a, 64 * KiB };
	t_ok(regbuf_uring_pool_create(&pool, 4, 16, 0, flags));
	t_ok(regbuf_uring_pool_register(pool, &iov, 1, 0));
	regbuf_uring_pool_status(pool, &st);
	t_check_eq(st.path, expect_path(flags));
	r0 = regbuf_uring_pool_ring(pool, 0);
	memset(a, 0, 64 * KiB);
	t_check_eq(regbuf_uring_prep_rw(r0, false, &pf, a + 4096, 4096, 0, 42), 1);
	t_check_eq(io_uring_submit(&r0->ring), 1);

	iov = (struct iovec){ b, 64 * KiB };
	t_check_eq(regbuf_uring_pool_update(pool, 0, &iov, 1), 1);
	t_check_eq(munmap(a, 64 * KiB), 0);
	/* No tag yet: the read still holds the old buffer. */
	t_check_eq(io_uring_wait_cqe_timeout(&r0->ring, &cqe, &ts), -ETIME);

	t_pattern_fill(msg, sizeof(msg), 0, 99);
	t_check_eq(write(pfd[1], msg, sizeof(msg)), (ssize_t)sizeof(msg));
	while (!(got_read && got_tag)) {
		if (io_uring_wait_cqe_timeout(&r0->ring, &cqe, &ts_tag))
			break;
		if (regbuf_uring_cqe_is_tag(cqe)) {
			slot = regbuf_uring_tag_slot(cqe);
			t_check_eq(slot, 0);
			got_tag = 1;
			tag_after_read = got_read;
		} else {
			t_check_eq(cqe->user_data, 42);
			t_check_eq(cqe->res, 4096);
			got_read = 1;
		}
		io_uring_cqe_seen(&r0->ring, cqe);
	}
	t_check(got_read);
	t_check(got_tag);
	t_check(tag_after_read);
	t_check_eq(t_pattern_check(a2 + 4096, 4096, 0, 99), -1);
	/* The new buffer serves fixed I/O on every ring. */
	t_check_eq(regbuf_uring_prep_rw(regbuf_uring_pool_ring(pool, 3), false, &pf, b, 16, 0, 1), 1);
	t_check_eq(regbuf_uring_prep_rw(r0, false, &pf, a + 4096, 16, 0, 1), -EFAULT);
	regbuf_uring_pool_destroy(pool);
	munmap(a2, 64 * KiB);
	munmap(b, 64 * KiB);
	close(mfd);
	close(pfd[0]);
	close(pfd[1]);
	return T_PASS;
}

/* A regbuf table mirrored into a 4-ring pool; a table update reaches every ring. */
static int mirror_table_follows_updates(void)
{
	struct regbuf_uring_pool *pool;
	struct regbuf_uring_file f;
	struct regbuf_table *t;
	uint8_t *mem = map_anon(10 * MiB);
	struct iovec iov[4], repl;
	int fd = scratch_file(FILE_SIZE);
	uint32_t i, slot;

	t_check(mem && fd >= 0);
	t_ok(regbuf_uring_file_init(&f, fd));
	for (i = 0; i < 4; i++)
		iov[i] = (struct iovec){ mem + i * 2 * MiB, 2 * MiB };
	iov[2] = (struct iovec){ NULL, 0 };	/* an empty slot stays empty */
	t_ok(regbuf_table_create(&t, 0));
	t_ok(regbuf_table_register(t, iov, 4, 0));
	t_ok(regbuf_uring_pool_create(&pool, 4, 16, 0, 0));
	t_check_eq(regbuf_uring_pool_mirror(pool, t, 0), 4);
	t_check_eq(regbuf_uring_pool_mirror(pool, t, 0), 0);
	for (i = 0; i < 4; i++) {
		struct regbuf_uring_ring *r = regbuf_uring_pool_ring(pool, i);

		t_check_eq(regbuf_uring_find(r, (uintptr_t)mem + 6 * MiB + 4096, 4096, &slot), 4096);
		t_check_eq(slot, 3);
		t_check_eq(regbuf_uring_find(r, (uintptr_t)mem + 4 * MiB, 1, &slot), -EFAULT);
		t_pattern_fill(mem + 6 * MiB, MiB, i * MiB, 40);
		t_check_eq(regbuf_uring_rw_wait(r, true, &f, mem + 6 * MiB, MiB, i * MiB), MiB);
		t_check_eq(plain_check(fd, i * MiB, MiB, 40), -1);
	}
	/* Slot 1 now holds other memory: one slot updated in every ring. */
	repl = (struct iovec){ mem + 8 * MiB, 2 * MiB };
	t_check_eq(regbuf_table_update(t, 1, &repl, 1), 1);
	t_check_eq(regbuf_uring_pool_mirror(pool, t, 0), 1);
	for (i = 0; i < 4; i++) {
		struct regbuf_uring_ring *r = regbuf_uring_pool_ring(pool, i);

		t_check_eq(regbuf_uring_find(r, (uintptr_t)mem + 2 * MiB, 1, &slot), -EFAULT);
		t_check_eq(regbuf_uring_find(r, (uintptr_t)mem + 8 * MiB, 1, &slot), 1);
		t_check_eq(slot, 1);
		t_check_eq(plain_fill(fd, 8 * MiB + i * MiB, MiB, 41), 0);
		t_check_eq(regbuf_uring_rw_wait(r, false, &f, mem + 8 * MiB, MiB, 8 * MiB + i * MiB), MiB);
		t_check_eq(t_pattern_check(mem + 8 * MiB, MiB, 8 * MiB + i * MiB, 41), -1);
	}
	regbuf_uring_pool_destroy(pool);
	regbuf_table_destroy(t);
	close(fd);
	munmap(mem, 10 * MiB);
	return T_PASS;
}

/*
 * The table is unregistered and registered again with fewer slots: the mirror
 * empties the kernel slots past the new end (it used to write iovecs for them
 * past the end of a table-sized array: a heap overflow under ASan).
 */
static int mirror_table_shrinks(void)
{
	struct regbuf_uring_pool *pool;
	struct regbuf_table *t;
	uint8_t *mem = map_anon(8 * MiB);
	struct iovec iov[4];
	uint32_t i, slot;

	t_check(mem != NULL);
	for (i = 0; i < 4; i++)
		iov[i] = (struct iovec){ mem + i * 2 * MiB, 2 * MiB };
	t_ok(regbuf_table_create(&t, 0));
	t_ok(regbuf_table_register(t, iov, 4, 0));
	t_ok(regbuf_uring_pool_create(&pool, 2, 16, 0, 0));
	t_check_eq(regbuf_uring_pool_mirror(pool, t, 0), 4);
	t_ok(regbuf_table_unregister(t));
	t_ok(regbuf_table_register(t, iov, 2, 0));
	/* Slots 0 and 1 are new buffer objects, 2 and 3 become empty. */
	t_check_eq(regbuf_uring_pool_mirror(pool, t, 0), 4);
	for (i = 0; i < 2; i++) {
		struct regbuf_uring_ring *r = regbuf_uring_pool_ring(pool, i);

		t_check_eq(regbuf_uring_find(r, (uintptr_t)mem + 2 * MiB, 1, &slot), 1);
		t_check_eq(slot, 1);
		t_check_eq(regbuf_uring_find(r, (uintptr_t)mem + 4 * MiB, 1, &slot), -EFAULT);
		t_check_eq(regbuf_uring_find(r, (uintptr_t)mem + 6 * MiB, 1, &slot), -EFAULT);
	}
	t_check_eq(regbuf_uring_pool_mirror(pool, t, 0), 0);
	regbuf_uring_pool_destroy(pool);
	regbuf_table_destroy(t);
	munmap(mem, 8 * MiB);
	return T_PASS;
}

static int update_while_in_flight(void)
{
	return for_each_path(update_while_in_flight_path);
}

/* ---- vectored fixed I/O ---- */

static int rwv_fixed_native_and_split(void)
{
	static const unsigned int flags[] = { 0, REGBUF_URING_POOL_F_NO_RWV_FIXED };
	struct regbuf_uring_pool *pool;
	struct regbuf_uring_file f;
	uint8_t *mem = map_anon(4 * MiB);
	int fd = scratch_file(FILE_SIZE);
	struct iovec reg[2] = { { mem, 2 * MiB }, { mem + 2 * MiB, 2 * MiB } };
	struct iovec v[3], rv[3];
	size_t k;

	t_kernel_agrees();
	t_ok(regbuf_uring_file_init(&f, fd));
	for (k = 0; k < 2; k++) {
		struct regbuf_uring_ring *r;

		t_ok(regbuf_uring_pool_create(&pool, 2, 16, 0, flags[k]));
		t_ok(regbuf_uring_pool_register(pool, reg, 2, 0));
		r = regbuf_uring_pool_ring(pool, 1);
		/* Same slot: one READV/WRITEV_FIXED SQE when the kernel has it. */
		v[0] = (struct iovec){ mem + 8 * KiB, 4 * KiB };
		v[1] = (struct iovec){ mem + 64 * KiB, 12 * KiB };
		v[2] = (struct iovec){ mem + 1 * MiB, 16 * KiB };
		t_pattern_fill(mem + 8 * KiB, 4 * KiB, 0, 3);
		t_pattern_fill(mem + 64 * KiB, 12 * KiB, 4 * KiB, 3);
		t_pattern_fill(mem + 1 * MiB, 16 * KiB, 16 * KiB, 3);
		/*
		 * One WRITEV_FIXED SQE on 6.15+, else (6.1, or NO_RWV_FIXED) one
		 * fixed write per iovec, each landing at its own file offset.
		 */
		t_check_eq(r->rwv_fixed, k_rwv_fixed() && !flags[k]);
		t_check_eq(regbuf_uring_prep_rwv(r, true, &f, v, 3, 0, 8), r->rwv_fixed ? 1 : 3);
		io_uring_submit(&r->ring);
		for (int j = 0, n = r->rwv_fixed ? 1 : 3, sum = 0; j < n; j++) {
			struct io_uring_cqe *cqe;

			t_ok(io_uring_wait_cqe(&r->ring, &cqe));
			t_check(cqe->res > 0);
			sum += cqe->res;
			io_uring_cqe_seen(&r->ring, cqe);
			if (j == n - 1)
				t_check_eq(sum, 32 * KiB);
		}
		t_check_eq(plain_check(fd, 0, 32 * KiB, 3), -1);
		/* The waiting form agrees. */
		t_check_eq(regbuf_uring_rwv_wait(r, true, &f, v, 3, 0), 32 * KiB);
		/* Across slots 0 and 1: always split into fixed reads. */
		rv[0] = (struct iovec){ mem + 2 * MiB - 8 * KiB, 16 * KiB };
		rv[1] = (struct iovec){ mem + 3 * MiB, 16 * KiB };
		memset(mem + 2 * MiB - 8 * KiB, 0, 16 * KiB);
		memset(mem + 3 * MiB, 0, 16 * KiB);
		t_check_eq(regbuf_uring_prep_rwv(r, false, &f, rv, 2, 0, 7), 3);
		io_uring_submit(&r->ring);
		for (int j = 0; j < 3; j++) {
			struct io_uring_cqe *cqe;

			t_ok(io_uring_wait_cqe(&r->ring, &cqe));
			t_check(cqe->res > 0);
			io_uring_cqe_seen(&r->ring, cqe);
		}
		t_check_eq(t_pattern_check(mem + 2 * MiB - 8 * KiB, 16 * KiB, 0, 3), -1);
		t_check_eq(t_pattern_check(mem + 3 * MiB, 16 * KiB, 16 * KiB, 3), -1);
		/* A zero-length iovec is -EFAULT; too many bytes -EINVAL; nothing queued. */
		v[1].iov_len = 0;
		t_check_eq(regbuf_uring_prep_rwv(r, false, &f, v, 3, 0, 7), -EFAULT);
		v[1].iov_len = 12 * KiB;
		v[0] = (struct iovec){ mem, 2 * MiB };
		v[1] = (struct iovec){ mem, 2 * MiB };
		{
			struct iovec big[1100];

			for (int j = 0; j < 1100; j++)
				big[j] = (struct iovec){ mem, 2 * MiB };
			t_check_eq(regbuf_uring_prep_rwv(r, false, &f, big, 1100, 0, 7), -EINVAL);
		}
		/* Lengths whose sum wraps (4 KiB + 2^64 - 4 KiB == 0): -EOVERFLOW. */
		v[0] = (struct iovec){ mem, 4 * KiB };
		v[1] = (struct iovec){ mem + 4 * KiB, (size_t)0 - 4 * KiB };
		t_check_eq(regbuf_uring_prep_rwv(r, false, &f, v, 2, 0, 7), -EOVERFLOW);
		t_check_eq(io_uring_sq_ready(&r->ring), 0);
		regbuf_uring_pool_destroy(pool);
	}
	close(fd);
	munmap(mem, 4 * MiB);
	return T_PASS;
}

/* ---- pointer to I/O: pieces, lookup, refusals ---- */

/*
 * regbuf_uring_prep_rw() of [@buf, @buf + @len) at @off with user_data 0x5a5a,
 * submitted and reaped: @n pieces, piece i's CQE carrying index i, and
 * regbuf_uring_piece() agreeing with what each piece transferred (@first: the
 * bytes of piece 0).  A piece's res is checked against its length unless the
 * caller expects a short or failed one (handled by the caller instead).
 */
static int rw_pieces(struct regbuf_uring_ring *r, bool write, const struct regbuf_uring_file *f,
		     void *buf, uint32_t len, uint64_t off, uint32_t n, uint64_t first)
{
	struct regbuf_uring_loc loc;
	struct io_uring_cqe *cqe;
	uint32_t seen = 0, piece;
	uint64_t io_off;

	t_check_eq(regbuf_uring_prep_rw(r, write, f, buf, len, off, 0x5a5a), n);
	t_check_eq(io_uring_submit(&r->ring), n);
	/* Pieces complete in any order (one may wait in io-wq): until each was seen. */
	while (seen != (1U << n) - 1) {
		t_check_eq(io_uring_wait_cqe(&r->ring, &cqe), 0);
		if (regbuf_uring_cqe_is_tag(cqe)) {
			io_uring_cqe_seen(&r->ring, cqe);
			continue;
		}
		piece = regbuf_uring_cqe_piece(cqe);
		t_check_eq(regbuf_uring_cqe_user_data(cqe), 0x5a5a);
		t_check(piece < n && !(seen & (1U << piece)));
		seen |= 1U << piece;
		t_ok(regbuf_uring_piece(r, buf, len, piece, &loc, &io_off));
		t_check_eq(io_off, piece ? first + (piece - 1) * loc.slot_len : 0);
		t_check_eq(cqe->res, (int)loc.len);
		io_uring_cqe_seen(&r->ring, cqe);
	}
	t_check_eq(regbuf_uring_piece(r, buf, len, n, &loc, &io_off), -ERANGE);
	return T_PASS;
}

/* The next CQE of ours (tag CQEs skipped): user_data and res. */
static int next_cqe(struct regbuf_uring_ring *r, uint64_t *user_data, int *res)
{
	struct io_uring_cqe *cqe;
	int ret;

	for (;;) {
		ret = io_uring_wait_cqe(&r->ring, &cqe);
		if (ret)
			return ret;
		if (!regbuf_uring_cqe_is_tag(cqe))
			break;
		io_uring_cqe_seen(&r->ring, cqe);
	}
	*user_data = cqe->user_data;
	*res = cqe->res;
	io_uring_cqe_seen(&r->ring, cqe);
	return 0;
}

/*
 * Every boundary of pointer -> slot: two registrations that touch (one
 * mapping registered as two entries: an extent across them is two pieces),
 * a third after a gap; first and last byte of a slot, one byte past it,
 * length 0, a range running past registered memory, and nothing registered.
 * Every refusal queues nothing and is explained.
 */
static int pointer_boundaries(void)
{
	struct regbuf_uring_pool *pool;
	struct regbuf_uring_file f;
	struct regbuf_uring_ring *r;
	struct regbuf_uring_loc loc;
	uint8_t *mem = map_anon(256 * KiB), *a, *b, *c;
	struct iovec iov[3];
	int fd = scratch_file(MiB), res;
	uint64_t ud;
	char why[512];

	t_check(mem && fd >= 0);
	a = mem;
	b = mem + 64 * KiB;
	c = mem + 192 * KiB;	/* 64 KiB gap after b */
	iov[0] = (struct iovec){ a, 64 * KiB };
	iov[1] = (struct iovec){ b, 64 * KiB };
	iov[2] = (struct iovec){ c, 64 * KiB };
	t_ok(regbuf_uring_file_init(&f, fd));
	t_ok(regbuf_uring_pool_create(&pool, 2, 16, 0, 0));
	r = regbuf_uring_pool_ring(pool, 1);
	/* Nothing registered yet: -EFAULT, and the reason says so. */
	t_check_eq(regbuf_uring_prep_rw(r, false, &f, a, 4096, 0, 1), -EFAULT);
	regbuf_uring_fault_explain(r, a, 4096, why, sizeof(why));
	t_check(strstr(why, "nothing is registered") != NULL);
	t_ok(regbuf_uring_pool_register(pool, iov, 3, 0));

	/* First byte, last byte of a slot, and the first byte of the next. */
	t_ok(regbuf_uring_lookup(r, a, 4096, &loc));
	t_check(loc.slot == 0 && loc.offset == 0 && loc.len == 4096 && loc.slot_len == 64 * KiB);
	t_ok(regbuf_uring_lookup(r, b - 1, 1, &loc));
	t_check(loc.slot == 0 && loc.offset == 64 * KiB - 1 && loc.len == 1);
	t_ok(regbuf_uring_lookup(r, b - 1, 2, &loc));
	t_check(loc.slot == 0 && loc.len == 1);
	t_ok(regbuf_uring_lookup(r, b, 1, &loc));
	t_check(loc.slot == 1 && loc.offset == 0);
	/* One byte past a registration with nothing after it, and past everything. */
	t_check_eq(regbuf_uring_lookup(r, b + 64 * KiB, 1, &loc), -EFAULT);
	t_check_eq(regbuf_uring_lookup(r, c + 64 * KiB, 0, &loc), -EFAULT);
	regbuf_uring_fault_explain(r, b + 64 * KiB, 4096, why, sizeof(why));
	t_check(strstr(why, "is not in registered memory") && strstr(why, "(slot 1, 0 bytes before") &&
		strstr(why, "(slot 2, 65536 bytes after"));
	regbuf_uring_fault_explain(r, c + 64 * KiB, 4096, why, sizeof(why));
	t_check(strstr(why, "(slot 2, 0 bytes before") && strstr(why, "none above"));

	/* Within one slot: one SQE, user_data unchanged. */
	t_pattern_fill(a, 4096, 0, 3);
	t_check_eq(rw_pieces(r, true, &f, a, 4096, 0, 1, 4096), T_PASS);
	t_check_eq(plain_check(fd, 0, 4096, 3), -1);
	t_pattern_fill(b - 4096, 4096, 4096, 3);
	t_check_eq(rw_pieces(r, true, &f, b - 4096, 4096, 4096, 1, 4096), T_PASS);
	/* Across two registrations: two pieces, numbered, each its own slot. */
	t_pattern_fill(b - 12 * KiB, 32 * KiB, 64 * KiB, 4);
	t_check_eq(rw_pieces(r, true, &f, b - 12 * KiB, 32 * KiB, 64 * KiB, 2, 12 * KiB), T_PASS);
	t_check_eq(plain_check(fd, 64 * KiB, 32 * KiB, 4), -1);
	memset(a, 0, 128 * KiB);
	t_check_eq(rw_pieces(r, false, &f, b - 12 * KiB, 32 * KiB, 64 * KiB, 2, 12 * KiB), T_PASS);
	t_check_eq(t_pattern_check(b - 12 * KiB, 32 * KiB, 64 * KiB, 4), -1);
	regbuf_uring_fault_explain(r, b - 12 * KiB, 32 * KiB, why, sizeof(why));
	t_check(strstr(why, "is registered: slot 0 at offset 53248") &&
		strstr(why, "one piece per slot"));

	/* Running past registered memory: refused whole, nothing queued, explained. */
	t_check_eq(regbuf_uring_prep_rw(r, true, &f, b + 60 * KiB, 8 * KiB, 0, 1), -EFAULT);
	t_check_eq(regbuf_uring_prep_rw(r, true, &f, c + 60 * KiB, 8 * KiB, 0, 1), -EFAULT);
	t_check_eq(io_uring_sq_ready(&r->ring), 0);
	regbuf_uring_fault_explain(r, b + 60 * KiB, 8 * KiB, why, sizeof(why));
	t_check(strstr(why, "runs past registered memory") && strstr(why, "end of slot 1, 4096 of 8192") &&
		strstr(why, "resumes at"));
	regbuf_uring_fault_explain(r, c + 60 * KiB, 8 * KiB, why, sizeof(why));
	t_check(strstr(why, "runs past registered memory") && !strstr(why, "resumes"));

	/* Length 0: one SQE on registered memory (the kernel completes it with 0), not past it. */
	t_check_eq(regbuf_uring_prep_rw(r, false, &f, b, 0, 0, 9), 1);
	t_check_eq(io_uring_submit(&r->ring), 1);
	t_check_eq(next_cqe(r, &ud, &res), 0);
	t_check_eq(ud, 9);
	t_check_eq(res, 0);
	t_check_eq(regbuf_uring_prep_rw(r, false, &f, c + 64 * KiB, 0, 0, 9), -EFAULT);
	/* The piece bits are the pool's: a caller's value using them is refused. */
	t_check_eq(regbuf_uring_prep_rw(r, false, &f, a, 4096, 0, UINT64_C(1) << 48), -EINVAL);
	t_check_eq(regbuf_uring_prep_rw(r, false, &f, a, 4096, 0, REGBUF_URING_USER_DATA_MASK), 1);
	t_check_eq(io_uring_submit(&r->ring), 1);
	t_check_eq(next_cqe(r, &ud, &res), 0);
	t_check(ud == REGBUF_URING_USER_DATA_MASK && res == 4096);

	/* Unregistered: nothing registered again, and the reason names the state. */
	t_ok(regbuf_uring_pool_unregister(pool));
	t_check_eq(regbuf_uring_lookup(r, a, 1, &loc), -EFAULT);
	regbuf_uring_fault_explain(r, a, 1, why, sizeof(why));
	t_check(strstr(why, "nothing is registered in this pool (not registered)") != NULL);
	regbuf_uring_pool_destroy(pool);
	close(fd);
	munmap(mem, 256 * KiB);
	return T_PASS;
}

/*
 * A write whose second piece fails, and a read whose second piece is short:
 * on a 1 MiB loop device, an extent across two registrations that ends past
 * the device's end.  The write's piece 1 starts at the end (blkdev_write_iter:
 * -ENOSPC) while piece 0 is written; the read's piece 1 reads 0 bytes; the
 * CQEs say which, and regbuf_uring_piece() names the bytes not transferred.
 */
static int pointer_failed_piece_is_known(void)
{
	char backing[] = "/tmp/regbuf-uring-piece.XXXXXX", dev[64];
	struct regbuf_uring_pool *pool;
	struct regbuf_uring_file f;
	struct regbuf_uring_ring *r;
	struct regbuf_uring_loc loc;
	uint8_t *mem = map_anon(128 * KiB), *b = mem + 64 * KiB;
	struct iovec iov[2] = { { mem, 64 * KiB }, { mem + 64 * KiB, 64 * KiB } };
	int fd, ret = T_PASS, res[2] = { 1, 1 }, got, i;
	uint64_t ud, io_off;

	t_check(mem != NULL);
	fd = loop_attach(MiB, dev, sizeof(dev), backing, &ret);
	if (fd < 0)
		return ret;
	t_ok(regbuf_uring_file_init(&f, fd));
	t_ok(regbuf_uring_pool_create(&pool, 1, 8, 0, 0));
	t_ok(regbuf_uring_pool_register(pool, iov, 2, 0));
	r = regbuf_uring_pool_ring(pool, 0);
	t_pattern_fill(b - 4096, 8192, MiB - 4096, 6);
	t_check_eq(regbuf_uring_prep_rw(r, true, &f, b - 4096, 8192, MiB - 4096, 11), 2);
	t_check_eq(io_uring_submit(&r->ring), 2);
	for (got = 0; got < 2; got++) {
		t_check_eq(next_cqe(r, &ud, &i), 0);
		t_check_eq(ud & REGBUF_URING_USER_DATA_MASK, 11);
		res[ud >> REGBUF_URING_PIECE_SHIFT] = i;
	}
	t_check_eq(res[0], 4096);
	t_check_eq(res[1], -ENOSPC);
	t_ok(regbuf_uring_piece(r, b - 4096, 8192, 1, &loc, &io_off));
	t_check(io_off == 4096 && loc.len == 4096 && loc.slot == 1 && loc.offset == 0);
	t_check_eq(plain_check(fd, MiB - 4096, 4096, 6), -1);
	/* The read of the same range: piece 1 reads nothing (at the end of the device). */
	memset(mem, 0, 128 * KiB);
	t_check_eq(regbuf_uring_prep_rw(r, false, &f, b - 4096, 8192, MiB - 4096, 12), 2);
	t_check_eq(io_uring_submit(&r->ring), 2);
	for (got = 0; got < 2; got++) {
		t_check_eq(next_cqe(r, &ud, &i), 0);
		res[ud >> REGBUF_URING_PIECE_SHIFT] = i;
	}
	t_check(res[0] == 4096 && res[1] == 0);
	t_check_eq(t_pattern_check(b - 4096, 4096, MiB - 4096, 6), -1);
	regbuf_uring_pool_destroy(pool);
	loop_detach(fd, dev, backing);
	munmap(mem, 128 * KiB);
	return ret;
}

/* ---- > 1 GiB arena ---- */

static int arena_over_1g_io_across_boundary(void)
{
	uint64_t len = GiB + 8 * MiB;
	struct regbuf_uring_pool *pool;
	struct regbuf_uring_status st;
	struct regbuf_uring_file f;
	struct iovec iov;
	uint8_t *mem = map_anon(len);
	uint8_t *cross = mem + GiB - 512 * KiB;
	int fd = scratch_file(FILE_SIZE);
	uint32_t slot;

	if (!mem)
		return t_skip("cannot map %llu bytes", (unsigned long long)len);
	t_ok(regbuf_uring_file_init(&f, fd));
	iov = (struct iovec){ mem, len };
	t_ok(regbuf_uring_pool_create(&pool, 2, 16, 0, 0));
	t_ok(regbuf_uring_pool_register(pool, &iov, 1, 0));
	regbuf_uring_pool_status(pool, &st);
	t_check_eq(st.nr_slots, 2);
	t_check_eq(st.nr_bytes, len);
	t_check_eq(regbuf_uring_find(regbuf_uring_pool_ring(pool, 1), (uintptr_t)cross, MiB, &slot),
		   512 * KiB);
	t_check_eq(slot, 0);
	t_check_eq(regbuf_uring_find(regbuf_uring_pool_ring(pool, 1), (uintptr_t)mem + GiB, 1,
				     &slot), 1);
	t_check_eq(slot, 1);
	t_pattern_fill(cross, MiB, 4 * MiB, 8);
	t_check_eq(rw_pieces(regbuf_uring_pool_ring(pool, 1), true, &f, cross, MiB, 4 * MiB, 2,
			     512 * KiB), T_PASS);
	t_check_eq(plain_check(fd, 4 * MiB, MiB, 8), -1);
	t_check_eq(plain_fill(fd, 8 * MiB, MiB, 9), 0);
	t_check_eq(regbuf_uring_rw_wait(regbuf_uring_pool_ring(pool, 0), false, &f, cross, MiB, 8 * MiB),
		   MiB);
	t_check_eq(t_pattern_check(cross, MiB, 8 * MiB, 9), -1);
	regbuf_uring_pool_destroy(pool);
	close(fd);
	munmap(mem, len);
	return T_PASS;
}

/* ---- the sub-allocator over a registered arena ---- */

struct alloc_worker {
	pthread_t tid;
	struct regbuf_uring_ring *ring;
	struct regbuf_alloc *a;
	const struct regbuf_uring_file *f;
	int fd;
	uint32_t idx;
	char err[160];
};

/* Each thread: buffers of varied sizes, fixed-written from its own ring, checked. */
static void *alloc_worker_fn(void *arg)
{
	struct alloc_worker *w = arg;
	uint64_t base = w->idx * 4 * MiB, off = 0;
	uint32_t k, slot = UINT32_MAX;
	int64_t n;

	for (k = 0; k < 48; k++) {
		struct regbuf_alloc_span b;
		size_t len = (size_t)4096 << (k % 7);	/* 4 KiB .. 256 KiB */

		if (regbuf_alloc_acquire(w->a, len, &b)) {
			snprintf(w->err, sizeof(w->err), "acquire %zu", len);
			return NULL;
		}
		n = regbuf_uring_find(w->ring, (uintptr_t)b.addr, len, &slot);
		if (n != (int64_t)len || slot != b.slot) {
			snprintf(w->err, sizeof(w->err), "buffer %p slot %u, pool says %u (%lld)",
				 b.addr, b.slot, slot, (long long)n);
			return NULL;
		}
		if (off + len > 4 * MiB)
			off = 0;
		t_pattern_fill(b.addr, len, base + off, 60 + w->idx);
		n = regbuf_uring_rw_wait(w->ring, true, w->f, b.addr, (uint32_t)len, base + off);
		if (n != (int64_t)len || plain_check(w->fd, base + off, len, 60 + w->idx) != -1) {
			snprintf(w->err, sizeof(w->err), "write of %zu at %llu: %lld", len,
				 (unsigned long long)(base + off), (long long)n);
			return NULL;
		}
		off += len;
		regbuf_alloc_release(w->a, &b);
	}
	return NULL;
}

/*
 * regbuf_mem arena over 1 GiB, registered as one entry (two kernel slots),
 * regbuf_alloc on top with slot_len = REGBUF_BUF_MAX_LEN: every buffer's
 * slot is the one the pool finds, and fixed I/O with it is correct from four
 * threads, each on its own ring.  Filling the first GiB makes buffers come
 * from slot 1 too.
 */
static int alloc_buffers_through_every_ring(void)
{
	struct regbuf_uring_pool *pool;
	struct regbuf_uring_file f;
	struct regbuf_alloc *a;
	struct regbuf_mem *mem;
	struct alloc_worker w[4];
	struct regbuf_alloc_span *big;
	struct iovec iov;
	int fd = scratch_file(FILE_SIZE);
	uint32_t i, nbig = 0, in_slot1 = 0;
	int ret = T_PASS;

	t_check(fd >= 0);
	t_ok(regbuf_uring_file_init(&f, fd));
	if (regbuf_mem_create(&mem, GiB + 64 * MiB, NULL))
		return t_skip("cannot map a 1 GiB + 64 MiB arena");
	iov = (struct iovec){ regbuf_mem_addr(mem), regbuf_mem_len(mem) };
	t_ok(regbuf_uring_pool_create(&pool, 4, 16, 0, 0));
	t_ok(regbuf_uring_pool_register(pool, &iov, 1, 0));
	t_ok(regbuf_alloc_create(&a, mem, 0, REGBUF_BUF_MAX_LEN, f.mem_align, 0));
	for (i = 0; i < 4; i++) {
		w[i] = (struct alloc_worker){ .ring = regbuf_uring_pool_ring(pool, i), .a = a,
					      .f = &f, .fd = fd, .idx = i };
		pthread_create(&w[i].tid, NULL, alloc_worker_fn, &w[i]);
	}
	for (i = 0; i < 4; i++) {
		pthread_join(w[i].tid, NULL);
		if (w[i].err[0] && ret == T_PASS)
			ret = T_FAILF("thread %u: %s", i, w[i].err);
	}
	/* Fill the first GiB with 1 MiB buffers: later ones come from slot 1. */
	big = calloc(1200, sizeof(*big));
	while (ret == T_PASS && nbig < 1200 && !regbuf_alloc_acquire(a, MiB, &big[nbig])) {
		if (big[nbig].slot == 1 && in_slot1++ < 4) {
			struct regbuf_uring_ring *r = regbuf_uring_pool_ring(pool, in_slot1 % 4);
			uint32_t slot = UINT32_MAX;

			if (regbuf_uring_find(r, (uintptr_t)big[nbig].addr, MiB, &slot) != (int64_t)MiB ||
			    slot != 1)
				ret = T_FAILF("slot-1 buffer %p not found in slot 1", big[nbig].addr);
			t_pattern_fill(big[nbig].addr, MiB, 0, 70);
			if (regbuf_uring_rw_wait(r, true, &f, big[nbig].addr, MiB, 0) != (int64_t)MiB ||
			    plain_check(fd, 0, MiB, 70) != -1)
				ret = T_FAILF("fixed write from slot 1 failed");
		}
		nbig++;
	}
	if (ret == T_PASS && !in_slot1)
		ret = T_FAILF("%u MiB acquired, none from slot 1", nbig);
	for (i = 0; i < nbig; i++)
		regbuf_alloc_release(a, &big[i]);
	free(big);
	regbuf_alloc_destroy(a);
	regbuf_uring_pool_destroy(pool);
	regbuf_mem_destroy(mem);
	close(fd);
	return ret;
}

/* ---- O_DIRECT alignment ---- */

static int misaligned_odirect_rejected_nothing_written(void)
{
	struct regbuf_uring_pool *pool;
	struct regbuf_uring_file f;
	struct regbuf_uring_ring *r;
	uint8_t *mem = map_anon(MiB);
	struct iovec iov = { mem, MiB };
	int fd = scratch_file(0);
	struct stat sb;

	t_ok(regbuf_uring_file_init(&f, fd));
	t_check(f.mem_align >= 1 && !(f.mem_align & (f.mem_align - 1)));
	t_check(f.off_align >= 512 && !(f.off_align & (f.off_align - 1)));
	t_ok(regbuf_uring_pool_create(&pool, 1, 16, 0, 0));
	t_ok(regbuf_uring_pool_register(pool, &iov, 1, 0));
	r = regbuf_uring_pool_ring(pool, 0);
	if (f.mem_align > 1)
		t_check_eq(regbuf_uring_rw_wait(r, true, &f, mem + f.mem_align / 2, 4096, 0), -EINVAL);
	t_check_eq(regbuf_uring_rw_wait(r, true, &f, mem, f.off_align + 1, 0), -EINVAL);
	t_check_eq(regbuf_uring_rw_wait(r, true, &f, mem, f.off_align, f.off_align / 2), -EINVAL);
	t_check_eq(io_uring_sq_ready(&r->ring), 0);
	t_check_eq(fstat(fd, &sb), 0);
	t_check_eq(sb.st_size, 0);
	/* Control: the aligned request is written. */
	t_check_eq(regbuf_uring_rw_wait(r, true, &f, mem, f.off_align, 0), f.off_align);
	t_check_eq(fstat(fd, &sb), 0);
	t_check_eq(sb.st_size, f.off_align);
	regbuf_uring_pool_destroy(pool);
	close(fd);
	munmap(mem, MiB);
	return T_PASS;
}

/* ---- memlock as an unprivileged user ---- */

struct ml_case {
	const char *name;
	uint64_t limit;		/* RLIMIT_MEMLOCK, soft = hard */
	uint64_t map_len;
	uint64_t off, len;	/* registered range inside the mapping */
	bool huge;		/* 2 MiB hugetlb */
	bool thp;		/* THP, mapped by the child itself (fork would split it on COW) */
	uint32_t rings;
	unsigned int flags;
	bool fits;		/* expected preflight verdict, confirmed by the kernel */
	uint64_t needed;	/* expected charge */
};

static const struct ml_case ml_cases[] = {
	{ "4k-exact-limit", MiB, 2 * MiB, 0, MiB, false, false, 1, 0, true, MiB },
	{ "4k-one-page-over", MiB, 2 * MiB, 0, MiB + 4 * KiB, false, false, 1, 0, false, MiB + 4 * KiB },
	{ "4k-unaligned-spills-a-page", MiB, 2 * MiB, 100, MiB, false, false, 1, 0, false,
	  MiB + 4 * KiB },
	{ "clone-4-rings-charged-once", MiB, 2 * MiB, 0, MiB, false, false, 4, 0, true, MiB },
	{ "clone-whole-4-rings-charged-once", MiB, 2 * MiB, 0, MiB, false, false, 4,
	  REGBUF_URING_POOL_F_CLONE_WHOLE_ONLY, true, MiB },
	{ "register-again-4-rings", 2 * MiB, 2 * MiB, 0, MiB, false, false, 4,
	  REGBUF_URING_POOL_F_NO_CLONE, false, 4 * MiB },
	{ "huge-4k-slice-charged-2m", MiB, 2 * MiB, 4 * KiB, 4 * KiB, true, false, 1, 0, false, 2 * MiB },
	{ "huge-2-pages-limit-4m", 4 * MiB, 4 * MiB, 4 * KiB, 3 * MiB, true, false, 1, 0, true, 4 * MiB },
	{ "thp-4k-slice-charged-2m", MiB, 4 * MiB, 4 * KiB, 4 * KiB, false, true, 1, 0, false,
	  2 * MiB },
	{ "thp-2-folios-limit-4m", 4 * MiB, 4 * MiB, 2 * MiB - 4 * KiB, 8 * KiB, false, true, 1, 0,
	  true, 4 * MiB },
};

/*
 * A case's charge and verdict on this kernel.  The table's needed is per the
 * path the case names (clone: charged once; NO_CLONE: once per ring); before
 * 6.12 every multi-ring pool registers again and so pays once per ring, and
 * the preflight must still predict the kernel's verdict exactly.
 */
static void ml_expect(const struct ml_case *c, uint64_t *needed, bool *fits)
{
	uint32_t as_named = c->rings > 1 && (c->flags & REGBUF_URING_POOL_F_NO_CLONE) ? c->rings : 1;
	uint32_t here = c->rings > 1 ? expect_charges(expect_path(c->flags), c->rings) : 1;

	*needed = c->needed / as_named * here;
	*fits = *needed <= c->limit;
}

/* A prefaulted, 2 MiB-aligned THP mapping (NULL when THP did not back it). */
static uint8_t *map_thp(uint64_t len)
{
	uint8_t *p = mmap(NULL, len + 2 * MiB, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), *al;

	if (p == MAP_FAILED)
		return NULL;
	al = (uint8_t *)(((uintptr_t)p + 2 * MiB - 1) & ~(uintptr_t)(2 * MiB - 1));
	if (madvise(al, len, MADV_HUGEPAGE))
		return NULL;
	memset(al, 1, len);
	return al;
}

/* Children cannot hand the harness their reason: they print it. */
#define CK_FAILF(...) (fprintf(stderr, "  child: " __VA_ARGS__), fputc('\n', stderr), T_FAIL)
#define CK(cond)							\
	do {								\
		if (!(cond))						\
			return CK_FAILF("%s:%d: %s", __FILE__, __LINE__, #cond); \
	} while (0)
#define CK_EQ(a, b)							\
	do {								\
		long long __a = (long long)(a), __b = (long long)(b);	\
		if (__a != __b)						\
			return CK_FAILF("%s:%d: %s == %lld, expected %lld", \
					__FILE__, __LINE__, #a, __a, __b); \
	} while (0)
#define CK_OK(call)							\
	do {								\
		long long __r = (long long)(call);			\
		CK_EQ(__r < 0 ? __r : 0, 0);				\
	} while (0)

/* What the rings of an 8-entry pool cost themselves (kernel 6.14+: charged too). */
static uint64_t ring_charge8(void)
{
	struct io_uring r;
	uint64_t c;

	if (io_uring_queue_init(8, &r, 0))
		return 0;
	c = uring_ring_charge(&r);
	io_uring_queue_exit(&r);
	return c;
}

/*
 * Become an unprivileged user with RLIMIT_MEMLOCK = @limit.  The kernel's
 * counter is per user and ring teardown (and so unaccounting) is deferred past
 * process exit, so every child takes a fresh uid nobody else uses (like
 * 'setpriv --reuid'), starting from a locked_vm of exactly 0.
 */
static unsigned int uid_seq;

static int drop_to_nobody(uint64_t limit)
{
	struct rlimit rl = { limit, limit };
	uid_t uid = 200000 + ((unsigned int)getppid() % 30000) * 64 + uid_seq % 64;

	if (setrlimit(RLIMIT_MEMLOCK, &rl) || setgroups(0, NULL) || setresgid(65534, 65534, 65534) ||
	    setresuid(uid, uid, uid))
		return -1;
	/* A uid change makes the task non-dumpable and /proc/self/pagemap root's;
	 * a process started as that user (setpriv, runuser) is dumpable. */
	return prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
}

/* In the child: preflight verdict, reason text, kernel verdict, degraded mode. */
static int ml_child(const struct ml_case *c, uint8_t *mem, int fd)
{
	struct regbuf_uring_pool *pool;
	struct regbuf_uring_status st;
	struct iovec iov;
	uint64_t rc8, needed;
	char num[32];
	bool fits;
	int ret;

	ml_expect(c, &needed, &fits);
	if (c->thp && !(mem = map_thp(c->map_len)))
		return T_SKIP;
	iov = (struct iovec){ mem + c->off, c->len };
	rc8 = ring_charge8();	/* as root: a ring closed as the user stays charged a while */
	if (drop_to_nobody(c->limit + c->rings * rc8))
		return CK_FAILF("cannot become nobody");
	/* Preflight. */
	CK_OK(regbuf_uring_pool_create(&pool, c->rings, 8, 0, c->flags));
	ret = regbuf_uring_pool_register(pool, &iov, 1, 0);
	regbuf_uring_pool_status(pool, &st);
	if (!st.memlock.charged)
		return CK_FAILF("not charged: register %d, state %d, charges %u: %s", ret,
				st.state, st.memlock.charges, st.reason);
	CK_EQ(st.memlock.charges, c->rings > 1 ? expect_charges(expect_path(c->flags), c->rings) : 1);
	CK_EQ(st.memlock.needed, needed);
	if (ret != (fits ? 0 : -ENOMEM))
		return CK_FAILF("register %d, expected %d: %s", ret, fits ? 0 : -ENOMEM,
				st.reason);
	if (!fits) {
		snprintf(num, sizeof(num), "%llu bytes", (unsigned long long)needed);
		if (!strstr(st.reason, num))
			return CK_FAILF("reason lacks '%s': %s", num, st.reason);
		snprintf(num, sizeof(num), "soft %llu bytes",
			 (unsigned long long)(c->limit + c->rings * rc8));
		if (!strstr(st.reason, num) || !strstr(st.reason, "ulimit -l") ||
		    !strstr(st.reason, "LimitMEMLOCK") || !strstr(st.reason, "limits.conf"))
			return CK_FAILF("reason lacks limits or fix: %s", st.reason);
	}
	regbuf_uring_pool_destroy(pool);
	(void)fd;
	return T_PASS;
}

/* The kernel's own verdict, in a fresh process (deferred unaccounting cannot skew it). */
static int ml_child_kernel(const struct ml_case *c, uint8_t *mem)
{
	struct regbuf_uring_pool *pool;
	struct iovec iov;
	uint64_t needed;
	bool fits;
	int ret;

	ml_expect(c, &needed, &fits);
	if (c->thp && !(mem = map_thp(c->map_len)))
		return T_SKIP;
	iov = (struct iovec){ mem + c->off, c->len };
	if (drop_to_nobody(c->limit + c->rings * ring_charge8()))
		return CK_FAILF("cannot become nobody");
	CK_OK(regbuf_uring_pool_create(&pool, c->rings, 8, 0,
				      c->flags | REGBUF_URING_POOL_F_NO_PREFLIGHT));
	ret = regbuf_uring_pool_register(pool, &iov, 1, 0);
	if (ret != (fits ? 0 : -ENOMEM))
		return CK_FAILF("kernel said %d, preflight predicted %s", ret,
			       fits ? "fits" : "-ENOMEM");
	regbuf_uring_pool_destroy(pool);
	return T_PASS;
}

/* Degraded and disabled modes do unregistered I/O and say which they are. */
static int ml_child_degraded(uint8_t *mem, int fd)
{
	struct regbuf_uring_pool *pool;
	struct regbuf_uring_status st;
	struct regbuf_uring_file f;
	struct iovec iov = { mem, 2 * MiB }, small = { mem, 4 * KiB };
	unsigned int modes[2] = { REGBUF_URING_POOL_F_DEGRADE, REGBUF_URING_POOL_F_NO_REGISTER };
	int m;

	if (drop_to_nobody(MiB))
		return CK_FAILF("cannot become nobody");
	CK_OK(regbuf_uring_file_init(&f, fd));
	for (m = 0; m < 2; m++) {
		CK_OK(regbuf_uring_pool_create(&pool, 2, 8, 0, modes[m]));
		CK_EQ(regbuf_uring_pool_register(pool, &iov, 1, 0), 0);
		regbuf_uring_pool_status(pool, &st);
		if (m == 0) {
			CK_EQ(st.state, REGBUF_URING_REG_FAILED);
			CK_EQ(st.err, -ENOMEM);
			CK(strstr(st.reason, "RLIMIT_MEMLOCK") != NULL);
			CK(!strcmp(regbuf_uring_state_name(st.state), "registration failed"));
		} else {
			CK_EQ(st.state, REGBUF_URING_REG_DISABLED);
			CK(!strcmp(regbuf_uring_state_name(st.state),
					"registration disabled"));
		}
		t_pattern_fill(mem, MiB, MiB * m, 31);
		CK_EQ(regbuf_uring_rw_wait(regbuf_uring_pool_ring(pool, 1), true, &f, mem, MiB,
					   MiB * m), MiB);
		memset(mem + MiB, 0, MiB);
		CK_EQ(regbuf_uring_rw_wait(regbuf_uring_pool_ring(pool, 0), false, &f, mem + MiB,
					   MiB, MiB * m), MiB);
		CK_EQ(t_pattern_check(mem + MiB, MiB, MiB * m, 31), -1);
		regbuf_uring_pool_destroy(pool);
	}
	/* An update the preflight refuses: -ENOMEM, the registration stays, the reason says why. */
	CK_OK(regbuf_uring_pool_create(&pool, 1, 8, 0, 0));
	CK_OK(regbuf_uring_pool_register(pool, &small, 1, 0));
	CK_EQ(regbuf_uring_pool_update(pool, 0, &iov, 1), -ENOMEM);
	regbuf_uring_pool_status(pool, &st);
	CK_EQ(st.state, REGBUF_URING_REG_ACTIVE);
	CK_EQ(st.nr_bytes, 4 * KiB);
	CK(strstr(st.reason, "RLIMIT_MEMLOCK") != NULL);
	regbuf_uring_pool_destroy(pool);
	return T_PASS;
}

static uint64_t vm_pin(void)
{
	char line[256];
	unsigned long long kb;
	uint64_t ret = UINT64_MAX;
	FILE *f = fopen("/proc/self/status", "re");

	if (!f)
		return ret;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmPin: %llu kB", &kb) == 1)
			ret = kb * 1024;
	fclose(f);
	return ret;
}

/*
 * Two 4 KiB buffers in one 2 MiB huge page are charged once
 * (exactly at the limit); dropping one of them leaves the other usable and
 * VmPin never goes negative.  Which buffer carried the charge is the kernel's
 * business (io_buffer_account_pin(): the first; 6.18 then uncharges the page
 * while the second still pins it) - both outcomes are accepted, and logged.
 */
static int ml_child_shared_hugepage(uint8_t *huge, int fd)
{
	struct regbuf_uring_pool *pool;
	struct regbuf_uring_status st;
	struct regbuf_uring_file f;
	struct regbuf_uring_ring *r0;
	struct io_uring_cqe *cqe;
	struct __kernel_timespec ts = { 2, 0 };
	struct iovec iov[2] = { { huge, 4 * KiB }, { huge + 64 * KiB, 4 * KiB } };
	struct iovec none = { NULL, 0 };
	/* One huge page, charged once per ring that pays (both rings before 6.12). */
	uint64_t page = 2 * MiB * expect_charges(expect_path(0), 2);
	uint64_t pin;

	if (drop_to_nobody(page + 2 * ring_charge8()))
		return CK_FAILF("cannot become nobody");
	CK_OK(regbuf_uring_file_init(&f, fd));
	CK_OK(regbuf_uring_pool_create(&pool, 2, 8, 0, 0));
	CK_EQ(regbuf_uring_pool_register(pool, iov, 2, 0), 0);
	regbuf_uring_pool_status(pool, &st);
	CK_EQ(st.memlock.needed, page);
	CK_EQ(vm_pin(), page);
	/* Drop buffer 0; its tag arrives once the kernel released it. */
	CK_EQ(regbuf_uring_pool_update(pool, 0, &none, 1), 1);
	r0 = regbuf_uring_pool_ring(pool, 0);
	CK_EQ(io_uring_wait_cqe_timeout(&r0->ring, &cqe, &ts), 0);
	CK(regbuf_uring_cqe_is_tag(cqe));
	CK_EQ(regbuf_uring_tag_slot(cqe), 0);
	io_uring_cqe_seen(&r0->ring, cqe);
	pin = vm_pin();
	CK(pin % (2 * MiB) == 0 && pin <= page);	/* never negative, never more */
	fprintf(stderr, "  shared huge page: VmPin after dropping the charged buffer: %llu "
		"(the other buffer still pins the page)\n", (unsigned long long)pin);
	/* Buffer 1 still works through ring 1 (its clone, or its own registration). */
	t_pattern_fill(huge + 64 * KiB, 4 * KiB, 0, 51);
	CK_EQ(regbuf_uring_rw_wait(regbuf_uring_pool_ring(pool, 1), true, &f, huge + 64 * KiB,
			      4 * KiB, 0), 4 * KiB);
	CK_EQ(plain_check(fd, 0, 4 * KiB, 51), -1);
	regbuf_uring_pool_destroy(pool);
	return T_PASS;
}

static int shared_hugepage_fn(const struct ml_case *c, uint8_t *mem, int fd)
{
	(void)c;
	return ml_child_shared_hugepage(mem, fd);
}

static int in_child(int (*fn)(const struct ml_case *, uint8_t *, int),
		    const struct ml_case *c, uint8_t *mem, int fd)
{
	pid_t pid;
	int status;

	uid_seq++;
	pid = fork();
	if (pid == 0)
		_exit(fn(c, mem, fd));
	if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
		return T_FAILF("child died");
	return WEXITSTATUS(status);
}

static int kernel_fn(const struct ml_case *c, uint8_t *mem, int fd)
{
	(void)fd;
	return ml_child_kernel(c, mem);
}

static int degraded_fn(const struct ml_case *c, uint8_t *mem, int fd)
{
	(void)c;
	return ml_child_degraded(mem, fd);
}

static int memlock_unprivileged_preflight_matches_kernel(void)
{
	size_t i;
	int ret, fd, skipped = 0;

	t_kernel_agrees();	/* probed here: the children inherit the answers */
	if (geteuid())
		return t_skip("needs root to switch to user nobody (run as root)");
	fd = scratch_file(FILE_SIZE);
	for (i = 0; i < sizeof(ml_cases) / sizeof(ml_cases[0]); i++) {
		const struct ml_case *c = &ml_cases[i];
		uint8_t *mem = c->huge ? map_huge2m(c->map_len) : map_4k(c->map_len);

		if (c->thp && mem) {
			munmap(mem, c->map_len);	/* the child maps its own */
			mem = NULL;
		}
		if (!mem && !c->thp) {
			fprintf(stderr, "  %s: skipped (no 2 MiB hugetlb pages: %s)\n", c->name,
				NR_2M);
			skipped++;
			continue;
		}
		ret = in_child(ml_child, c, mem, fd);
		if (ret == T_PASS)
			ret = in_child(kernel_fn, c, mem, fd);
		if (mem)
			munmap(mem, c->map_len);
		if (ret == T_SKIP) {
			fprintf(stderr, "  %s: skipped (THP did not back the mapping: "
				"/sys/kernel/mm/transparent_hugepage/enabled)\n", c->name);
			skipped++;
			continue;
		}
		if (ret != T_PASS) {
			fprintf(stderr, "  case %s\n", c->name);
			huge_release();
			close(fd);
			return T_FAILF("memlock case %s", c->name);
		}
	}
	{
		uint8_t *huge = map_huge2m(2 * MiB);

		if (huge) {
			ret = in_child(shared_hugepage_fn, NULL, huge, fd);
			munmap(huge, 2 * MiB);
			if (ret != T_PASS) {
				huge_release();
				close(fd);
				return T_FAILF("memlock: two buffers sharing a huge page");
			}
		} else {
			fprintf(stderr, "  shared huge page: skipped (no 2 MiB hugetlb pages: %s)\n",
				NR_2M);
		}
	}
	huge_release();
	{
		uint8_t *mem = map_anon(2 * MiB);

		ret = in_child(degraded_fn, NULL, mem, fd);
		munmap(mem, 2 * MiB);
	}
	close(fd);
	if (ret != T_PASS)
		return T_FAILF("degraded mode");
	return T_PASS;
}

/*
 * regbuf_uring_ring_memlock() against the kernel's own ring layout: the
 * SQ/CQ ring size the kernel reports (sq_off.array + entries * 4, cq_off.cqes
 * + CQEs) and the SQE array, each in whole pages, for several sizes and with
 * 128-byte SQEs / 32-byte CQEs (6.14+; 0 before, when rings were not charged).
 */
static int ring_memlock_matches_kernel_layout(void)
{
	static const uint32_t sizes[] = { 1, 8, 16, 100, 128, 1024, 4096 };
	static const uint32_t flags[] = { 0, IORING_SETUP_SQE128 | IORING_SETUP_CQE32 };
	struct io_uring ring;
	uint64_t rings, sqes, want;
	size_t i, j;

	t_kernel_agrees();
	for (j = 0; j < sizeof(flags) / sizeof(flags[0]); j++) {
		for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
			t_ok(io_uring_queue_init(sizes[i], &ring, flags[j]));
			rings = ring.sq.ring_sz > ring.cq.ring_sz ? ring.sq.ring_sz :
								      ring.cq.ring_sz;
			sqes = (uint64_t)*ring.sq.kring_entries * (flags[j] ? 128 : 64);
			want = kern.ver >= KV(6, 14) ? ((rings + 4095) & ~UINT64_C(4095)) +
						       ((sqes + 4095) & ~UINT64_C(4095)) : 0;
			io_uring_queue_exit(&ring);
			if (regbuf_uring_ring_memlock(sizes[i], flags[j]) != want)
				return T_FAILF("%u entries, flags %#x: %llu bytes, the kernel's "
					       "layout %llu", sizes[i], flags[j],
					       (unsigned long long)regbuf_uring_ring_memlock(
						       sizes[i], flags[j]),
					       (unsigned long long)want);
		}
	}
	return T_PASS;
}

/*
 * In a child, as a fresh unprivileged user with RLIMIT_MEMLOCK of exactly
 * four rings of 64 entries (+ @slack bytes): 4 rings fit; 5 are refused by
 * the preflight with the numbers and the fix, and with the preflight off the
 * kernel itself refuses ring 4 with -ENOMEM, explained the same way (6.14+:
 * rings are charged).  Before 6.14 the kernel charges no ring: 5 are created.
 */
static int ring_refusal_child(uint64_t per, bool five)
{
	uint64_t limit = per ? 4 * per : 4096;
	struct regbuf_uring_pool *pool;
	struct regbuf_uring_status st;
	char num[64];

	if (drop_to_nobody(limit))
		return CK_FAILF("cannot become nobody");
	if (!five) {
		CK_OK(regbuf_uring_pool_create_report(&pool, 4, 64, 0, 0, &st));
		CK_EQ(st.memlock.rings, 4 * per);
		CK_EQ(st.memlock.soft, limit);
		regbuf_uring_pool_destroy(pool);
		return T_PASS;
	}
	if (!per) {
		CK_OK(regbuf_uring_pool_create_report(&pool, 5, 64, 0, 0, &st));
		regbuf_uring_pool_destroy(pool);
		return T_PASS;
	}
	CK_EQ(regbuf_uring_pool_create_report(&pool, 5, 64, 0, 0, &st), -ENOMEM);
	snprintf(num, sizeof(num), "creating 5 rings needs %llu bytes",
		 (unsigned long long)(5 * per));
	/* Refused before any ring was made: the preflight's answer, not the kernel's. */
	if (st.err != -ENOMEM || st.memlock.new_rings != 5 || !strstr(st.reason, num) ||
	    !strstr(st.reason, "ulimit -l") || !strstr(st.reason, "soft") ||
	    strstr(st.reason, "the kernel refused"))
		return CK_FAILF("preflight: err %d, reason: %s", st.err, st.reason);
	CK_EQ(regbuf_uring_pool_create_report(&pool, 5, 64, 0, REGBUF_URING_POOL_F_NO_PREFLIGHT,
					      &st), -ENOMEM);
	if (!strstr(st.reason, "the kernel refused ring 4 of 5") || !strstr(st.reason, num))
		return CK_FAILF("kernel refusal: %s", st.reason);
	/* Without a report, the same -ENOMEM. */
	CK_EQ(regbuf_uring_pool_create(&pool, 5, 64, 0, 0), -ENOMEM);
	return T_PASS;
}

static int ring_creation_refused_explained(void)
{
	uint64_t per = regbuf_uring_ring_memlock(64, 0);
	pid_t pid;
	int status, five;

	t_kernel_agrees();
	if (geteuid())
		return t_skip("needs root to switch to an unprivileged user (run as root)");
	for (five = 0; five < 2; five++) {
		uid_seq++;	/* a fresh user each time: closed rings stay charged a while */
		pid = fork();
		if (pid == 0)
			_exit(ring_refusal_child(per, five));
		if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
			return T_FAILF("child died");
		if (WEXITSTATUS(status) != T_PASS)
			return WEXITSTATUS(status);
	}
	return T_PASS;
}

/* ---- growing and shrinking a registration while other rings do I/O ---- */

#define GROW_IO_LEN	(64 * KiB)
#define GROW_THREADS	3

struct grow_io {
	struct regbuf_uring_pool *pool;
	const struct regbuf_uring_file *f;
	uint32_t ring;
	uint8_t *mem;			/* this thread's part of the first piece */
	uint64_t off;			/* and of the file */
	int stop;			/* atomic */
	uint64_t ios;
	int64_t err;
};

/* Fixed write, clear, fixed read, check: over and over until told to stop. */
static void *grow_io_fn(void *arg)
{
	struct grow_io *g = arg;
	struct regbuf_uring_ring *r = regbuf_uring_pool_ring(g->pool, g->ring);
	uint64_t salt;
	int64_t ret;

	for (salt = 100; !__atomic_load_n(&g->stop, __ATOMIC_RELAXED); salt++) {
		t_pattern_fill(g->mem, GROW_IO_LEN, g->off, salt);
		ret = regbuf_uring_rw_wait(r, true, g->f, g->mem, GROW_IO_LEN, g->off);
		if (ret == (int64_t)GROW_IO_LEN) {
			memset(g->mem, 0, GROW_IO_LEN);
			ret = regbuf_uring_rw_wait(r, false, g->f, g->mem, GROW_IO_LEN, g->off);
		}
		if (ret != (int64_t)GROW_IO_LEN) {
			g->err = ret < 0 ? ret : -EIO;
			break;
		}
		if (t_pattern_check(g->mem, GROW_IO_LEN, g->off, salt) != -1) {
			g->err = -EILSEQ;
			break;
		}
		g->ios++;
	}
	return NULL;
}

/*
 * The status after a change: every registered byte charged, and VmPin the
 * same.  Pinning is done when grow returns; unpinning (shrink, a failed grow)
 * waits for the kernel's last reference to the old buffer (a request freed
 * late, the tag CQE posted then), so up to @lag bytes may still be pinned
 * when the status is read, and VmPin gets there within a few seconds.
 */
static int grow_status_is(struct regbuf_uring_pool *pool, uint64_t bytes, uint64_t lag)
{
	uint64_t want = bytes;	/* a fresh process (t_in_child()): nothing else of it pinned */
	struct regbuf_uring_status st;
	struct rlimit rl;
	int i;

	regbuf_uring_pool_status(pool, &st);
	getrlimit(RLIMIT_MEMLOCK, &rl);
	t_check_eq(st.state, REGBUF_URING_REG_ACTIVE);
	t_check_eq(st.nr_bytes, bytes);
	t_check_eq(st.memlock.needed, bytes);
	t_check_eq(st.memlock.charges, 1);
	t_check_eq(st.memlock.soft, rl.rlim_cur == RLIM_INFINITY ? UINT64_MAX : rl.rlim_cur);
	/* VmPin is read where the limit is enforced (uring_memlock_limits()). */
	if (st.memlock.charged && st.memlock.soft != UINT64_MAX)
		t_check(st.memlock.pinned >= want && st.memlock.pinned <= want + lag);
	else
		t_check_eq(st.memlock.pinned, 0);
	for (i = 0; i < 500 && vm_pin() != want; i++)
		usleep(10 * 1000);
	t_check_eq(vm_pin(), want);
	return T_PASS;
}

/*
 * A sparse table grown piece by piece with memory the test mapped itself
 * (anonymous, then shared memfd, alternately), each piece used through ring 0
 * and then dropped again, while three threads keep doing verified fixed I/O
 * on rings 1-3 over the first piece.  A grow whose second piece cannot be
 * pinned (PROT_NONE) fails with the kernel's -EFAULT and leaves nothing
 * behind: no slot, no pin, and the slot it tried is empty in the kernel.
 */
static int grow_shrink_in_fresh_process(void)
{
	const uint64_t a_len = GROW_THREADS * GROW_IO_LEN, b_len = 256 * KiB;
	struct grow_io g[GROW_THREADS];
	pthread_t tid[GROW_THREADS];
	struct regbuf_uring_pool *pool;
	struct regbuf_uring_status st;
	struct regbuf_uring_file f;
	struct regbuf_uring_loc loc;
	struct regbuf_uring_ring *r0;
	uint8_t *a = map_anon(a_len), *b, *hole;
	struct iovec iov[2];
	uint32_t slot_a, slot, i, round;
	int fd = scratch_file(FILE_SIZE), ret = T_PASS, mfd;

	t_kernel_agrees();
	if (!k_clone_ranges())
		return t_skip("growing while other rings do I/O needs clone ranges (6.13+)");
	t_check(a && fd >= 0);
	t_ok(regbuf_uring_file_init(&f, fd));
	t_ok(regbuf_uring_pool_create(&pool, GROW_THREADS + 1, 8, 0, 0));
	r0 = regbuf_uring_pool_ring(pool, 0);
	t_check_eq(regbuf_uring_pool_grow(pool, &(struct iovec){ a, a_len }, 1, &slot_a), -ENXIO);
	t_ok(regbuf_uring_pool_register_sparse(pool, 16));
	/* The limits are real before anything is registered (the probes' rings let go soon). */
	if (grow_status_is(pool, 0, 64 * KiB) != T_PASS)
		return T_FAIL;
	t_check_eq(regbuf_uring_pool_grow(pool, &(struct iovec){ a, a_len }, 1, &slot_a), 1);
	t_check_eq(slot_a, 0);
	if (grow_status_is(pool, a_len, 0) != T_PASS)
		return T_FAIL;

	for (i = 0; i < GROW_THREADS; i++) {
		g[i] = (struct grow_io){ pool, &f, i + 1, a + i * GROW_IO_LEN, i * GROW_IO_LEN,
					 0, 0, 0 };
		t_check(pthread_create(&tid[i], NULL, grow_io_fn, &g[i]) == 0);
	}
	for (round = 0; round < 24 && ret == T_PASS; round++) {
		bool shared = round & 1;

		mfd = shared ? memfd_create("regbuf-grow", MFD_CLOEXEC) : -1;
		if (shared && ftruncate(mfd, (off_t)b_len))
			b = MAP_FAILED;
		else
			b = mmap(NULL, b_len, PROT_READ | PROT_WRITE,
				 (shared ? MAP_SHARED : MAP_PRIVATE | MAP_ANONYMOUS) | MAP_POPULATE,
				 mfd, 0);
		if (b == MAP_FAILED) {
			ret = T_FAILF("mmap: %s", strerror(errno));
			break;
		}
		if (regbuf_uring_pool_grow(pool, &(struct iovec){ b, b_len }, 1, &slot) != 1 ||
		    slot != 1)
			ret = T_FAILF("round %u: grow", round);
		else if (grow_status_is(pool, a_len + b_len, 0) != T_PASS)
			ret = T_FAIL;	/* its reason */
		else if (regbuf_uring_lookup(r0, b + 4096, 4096, &loc) || loc.slot != 1 ||
			 loc.offset != 4096)
			ret = T_FAILF("round %u: lookup of the new piece", round);
		else {
			int sh, lk, pr;
			int64_t rw;

			t_pattern_fill(b, b_len, MiB, round);
			if (regbuf_uring_rw_wait(r0, true, &f, b, (uint32_t)b_len, MiB) !=
			    (int64_t)b_len || plain_check(fd, MiB, b_len, round) != -1)
				ret = T_FAILF("round %u: fixed write from the new piece", round);
			sh = regbuf_uring_pool_shrink(pool, slot, 1);
			lk = regbuf_uring_lookup(r0, b, 1, &loc);
			rw = regbuf_uring_rw_wait(r0, true, &f, b, 4096, MiB);
			pr = probe_read(&r0->ring, fd, b, 4096, (int)slot);
			if (sh != 1 || lk != -EFAULT || rw != -EFAULT || pr != -EFAULT)
				ret = T_FAILF("round %u: shrink %d, then lookup %d, prep %lld, "
					      "fixed read on the slot %d", round, sh, lk,
					      (long long)rw, pr);
			else if (grow_status_is(pool, a_len, b_len) != T_PASS)
				ret = T_FAIL;	/* its reason */
		}
		munmap(b, b_len);
		if (mfd >= 0)
			close(mfd);
	}

	/* A hugetlb piece, where 2 MiB pages can be had: charged by whole page. */
	if (ret == T_PASS && (b = map_huge2m(2 * MiB)) != NULL) {
		memset(b, 1, 2 * MiB);
		if (regbuf_uring_pool_grow(pool, &(struct iovec){ b + 4096, 8192 }, 1, &slot) != 1)
			ret = T_FAILF("grow of 8 KiB of a huge page");
		else if ((regbuf_uring_pool_status(pool, &st), !st.memlock.huge) ||
			 st.nr_bytes != a_len + 8192 || st.memlock.needed != a_len + 2 * MiB ||
			 vm_pin() != a_len + 2 * MiB)
			ret = T_FAILF("hugetlb piece: %llu bytes, needed %llu (huge %d), VmPin %llu; "
				      "want %llu charged", (unsigned long long)st.nr_bytes,
				      (unsigned long long)st.memlock.needed, st.memlock.huge,
				      (unsigned long long)vm_pin(),
				      (unsigned long long)(a_len + 2 * MiB));
		else if (regbuf_uring_rw_wait(r0, true, &f, b + 4096, 8192, MiB) != 8192 ||
			 regbuf_uring_pool_shrink(pool, slot, 1) != 1)
			ret = T_FAILF("I/O on, or shrink of, the hugetlb piece");
		else if (grow_status_is(pool, a_len, 2 * MiB) != T_PASS)
			ret = T_FAIL;	/* its reason */
		munmap(b, 2 * MiB);
		fprintf(stderr, "  grow: 8 KiB of a 2 MiB hugetlb page grown in, charged 2 MiB, "
			"shrunk\n");
	} else if (ret == T_PASS) {
		fprintf(stderr, "  grow: no hugetlb piece: %s\n", huge_2m.why);
	}
	huge_release();

	/* A grow the kernel cannot pin all of: the first piece is released again. */
	b = map_anon(b_len);
	hole = mmap(NULL, 64 * KiB, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	iov[0] = (struct iovec){ b, b_len };
	iov[1] = (struct iovec){ hole, 64 * KiB };
	if (ret == T_PASS) {
		int got = regbuf_uring_pool_grow(pool, iov, 2, &slot);

		regbuf_uring_pool_status(pool, &st);
		if (got != -EFAULT || st.nr_slots != 16 ||
		    regbuf_uring_lookup(r0, b, 1, &loc) != -EFAULT ||
		    probe_read(&r0->ring, fd, b, 4096, 1) != -EFAULT)
			ret = T_FAILF("failed grow: %d, left something behind", got);
		else if (grow_status_is(pool, a_len, b_len) != T_PASS)
			ret = T_FAIL;	/* its reason */
	}

	for (i = 0; i < GROW_THREADS; i++)
		__atomic_store_n(&g[i].stop, 1, __ATOMIC_RELAXED);
	for (i = 0; i < GROW_THREADS; i++) {
		pthread_join(tid[i], NULL);
		if (ret == T_PASS && (g[i].err || !g[i].ios))
			ret = T_FAILF("ring %u: %llu I/Os, error %lld", g[i].ring,
				      (unsigned long long)g[i].ios, (long long)g[i].err);
	}
	/* Ring 1 (its thread stopped) has nothing in the slot either. */
	if (ret == T_PASS &&
	    probe_read(&regbuf_uring_pool_ring(pool, 1)->ring, fd, b, 4096, 1) != -EFAULT)
		ret = T_FAILF("failed grow: slot 1 of ring 1 is not empty");
	/* The same memory alone then goes in, in the same free slot. */
	if (ret == T_PASS && (regbuf_uring_pool_grow(pool, iov, 1, &slot) != 1 || slot != 1))
		ret = T_FAILF("grow after a failed grow");
	else if (ret == T_PASS && grow_status_is(pool, a_len + b_len, 0) != T_PASS)
		ret = T_FAIL;	/* its reason */
	fprintf(stderr, "  grow: %llu + %llu + %llu verified I/Os on rings 1-3 during 24 grows "
		"and shrinks and a failed grow\n", (unsigned long long)g[0].ios,
		(unsigned long long)g[1].ios, (unsigned long long)g[2].ios);
	regbuf_uring_pool_destroy(pool);
	munmap(hole, 64 * KiB);
	munmap(b, b_len);
	munmap(a, a_len);
	close(fd);
	return ret;
}

/*
 * Every documented refusal of grow and shrink, each leaving the registration
 * as it was: bad arguments, nothing registered, no run of free slots long
 * enough (an entry over the buffer length takes several), a mirrored table.
 */
static int grow_shrink_refusals(void)
{
	struct regbuf_uring_pool *pool;
	struct regbuf_uring_status st;
	struct regbuf_table *t;
	uint8_t *mem = map_4k(4 * MiB);	/* no huge page charged whole */
	struct iovec one = { mem, 64 * KiB }, empty = { NULL, 0 }, nolen = { mem, 0 };
	struct iovec big = { mem, 3 * MiB };
	uint32_t slot = 99;

	t_check(mem != NULL);
	t_ok(regbuf_uring_pool_create(&pool, 2, 8, 0, 0));
	t_check_eq(regbuf_uring_pool_grow(pool, &one, 1, &slot), -ENXIO);
	t_check_eq(regbuf_uring_pool_shrink(pool, 0, 1), -ENXIO);
	t_ok(regbuf_uring_pool_set_buf_len(pool, MiB));
	t_ok(regbuf_uring_pool_register_sparse(pool, 3));
	t_check_eq(regbuf_uring_pool_grow(NULL, &one, 1, &slot), -EINVAL);
	t_check_eq(regbuf_uring_pool_grow(pool, NULL, 1, &slot), -EINVAL);
	t_check_eq(regbuf_uring_pool_grow(pool, &one, 0, &slot), -EINVAL);
	t_check_eq(regbuf_uring_pool_grow(pool, &one, 1, NULL), -EINVAL);
	t_check_eq(regbuf_uring_pool_grow(pool, &empty, 1, &slot), -EINVAL);
	t_check_eq(regbuf_uring_pool_grow(pool, &nolen, 1, &slot), -EFAULT);	/* the kernel's rule */
	/* 3 MiB at 1 MiB per buffer: three slots, all free. */
	t_check_eq(regbuf_uring_pool_grow(pool, &big, 1, &slot), 3);
	t_check_eq(slot, 0);
	t_check_eq(regbuf_uring_pool_grow(pool, &one, 1, &slot), -ENOSPC);
	/* The middle slot freed: one piece fits there, a two-slot one nowhere. */
	t_check_eq(regbuf_uring_pool_shrink(pool, 1, 1), 1);
	t_check_eq(regbuf_uring_pool_grow(pool, &(struct iovec){ mem + 3 * MiB, 2 * MiB }, 1,
					  &slot), -ENOSPC);
	t_check_eq(regbuf_uring_pool_grow(pool, &(struct iovec){ mem + 3 * MiB, MiB }, 1, &slot),
		   1);
	t_check_eq(slot, 1);
	t_check_eq(regbuf_uring_pool_shrink(pool, 2, 2), -EINVAL);
	t_check_eq(regbuf_uring_pool_shrink(pool, UINT32_MAX, 2), -EINVAL);
	t_check_eq(regbuf_uring_pool_shrink(pool, 0, 0), -EINVAL);
	t_check_eq(regbuf_uring_pool_shrink(NULL, 0, 1), -EINVAL);
	regbuf_uring_pool_status(pool, &st);
	t_check_eq(st.state, REGBUF_URING_REG_ACTIVE);
	t_check_eq(st.nr_bytes, 3 * MiB);
	/* Once with a kernel clone, per ring where each registers again (before 6.12). */
	t_check_eq(st.memlock.charges, st.path == REGBUF_URING_PATH_CLONE ||
				       st.path == REGBUF_URING_PATH_CLONE_WHOLE ? 1 : 2);
	t_check_eq(st.memlock.needed, 3 * MiB * st.memlock.charges);
	regbuf_uring_pool_destroy(pool);

	/* A mirrored table's slots are the table's. */
	t_ok(regbuf_table_create(&t, 0));
	t_ok(regbuf_table_register(t, &one, 1, 0));
	t_ok(regbuf_uring_pool_create(&pool, 2, 8, 0, 0));
	t_check_eq(regbuf_uring_pool_mirror(pool, t, 0), 1);
	t_check_eq(regbuf_uring_pool_grow(pool, &(struct iovec){ mem + MiB, 64 * KiB }, 1, &slot),
		   -EBUSY);
	t_check_eq(regbuf_uring_pool_shrink(pool, 0, 1), -EBUSY);
	regbuf_uring_pool_destroy(pool);
	regbuf_table_destroy(t);
	munmap(mem, 4 * MiB);
	return T_PASS;
}

static int grow_shrink_while_rings_do_io(void)
{
	return t_in_child(grow_shrink_in_fresh_process);
}

/*
 * As an unprivileged user with room for one 64 KiB piece (and the rings): a
 * second grow is refused (by the preflight, with the reason; with the
 * preflight off, by the kernel), and the first piece keeps working with the
 * status unchanged.
 */
static int grow_memlock_child(bool preflight)
{
	uint64_t ring = regbuf_uring_ring_memlock(8, 0), piece = 64 * KiB;
	struct regbuf_uring_pool *pool;
	struct regbuf_uring_status st;
	struct regbuf_uring_file f;
	uint8_t *mem = map_anon(2 * piece);
	uint32_t slot;
	int fd = scratch_file(piece), ret;

	CK(mem && fd >= 0);
	if (drop_to_nobody(piece + 2 * ring + 4 * KiB))
		return CK_FAILF("cannot become nobody");
	CK_OK(regbuf_uring_file_init(&f, fd));
	CK_OK(regbuf_uring_pool_create(&pool, 2, 8, 0,
				       preflight ? 0 : REGBUF_URING_POOL_F_NO_PREFLIGHT));
	CK_OK(regbuf_uring_pool_register_sparse(pool, 4));
	CK_EQ(regbuf_uring_pool_grow(pool, &(struct iovec){ mem, piece }, 1, &slot), 1);
	ret = regbuf_uring_pool_grow(pool, &(struct iovec){ mem + piece, piece }, 1, &slot);
	regbuf_uring_pool_status(pool, &st);
	fprintf(stderr, "  grow past RLIMIT_MEMLOCK (%s): %d; %s\n",
		preflight ? "preflight" : "kernel", ret, st.reason);
	CK_EQ(ret, -ENOMEM);
	CK(!preflight || strstr(st.reason, "ulimit -l"));
	CK_EQ(st.state, REGBUF_URING_REG_ACTIVE);
	CK_EQ(st.nr_bytes, piece);
	CK_EQ(st.memlock.needed, piece);
	CK_EQ(vm_pin(), piece);
	t_pattern_fill(mem, piece, 0, 71);
	CK_EQ(regbuf_uring_rw_wait(regbuf_uring_pool_ring(pool, 1), true, &f, mem, piece, 0), piece);
	CK_EQ(plain_check(fd, 0, piece, 71), -1);
	regbuf_uring_pool_destroy(pool);
	return T_PASS;
}

static int grow_refused_by_memlock_keeps_registration(void)
{
	pid_t pid;
	int status, pre;

	t_kernel_agrees();
	if (geteuid())
		return t_skip("needs root to switch to an unprivileged user (run as root)");
	if (!k_clone_ranges())
		return t_skip("needs clone ranges (6.13+)");
	for (pre = 1; pre >= 0; pre--) {
		uid_seq++;
		pid = fork();
		if (pid == 0)
			_exit(grow_memlock_child(pre));
		if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
			return T_FAILF("child died");
		if (WEXITSTATUS(status) != T_PASS)
			return WEXITSTATUS(status);
	}
	return T_PASS;
}

/* ---- pre-fork pools: one registration, many processes ---- */

#define FORK_WORKERS	64
#define FORK_PIECE	(16 * KiB)

/* Forked worker @i: a fixed write and read through ring @i over its piece of the arena. */
static int fork_worker(struct regbuf_uring_pool *pool, uint32_t i, uint8_t *arena,
		       const struct regbuf_uring_file *f)
{
	struct regbuf_uring_ring *r = regbuf_uring_pool_ring(pool, i);
	uint64_t off = (uint64_t)i * FORK_PIECE;
	uint8_t *p = arena + off;

	CK(r);
	t_pattern_fill(p, FORK_PIECE, off, 61);
	CK_EQ(regbuf_uring_rw_wait(r, true, f, p, FORK_PIECE, off), FORK_PIECE);
	memset(p, 0, FORK_PIECE);
	CK_EQ(regbuf_uring_rw_wait(r, false, f, p, FORK_PIECE, off), FORK_PIECE);
	CK_EQ(t_pattern_check(p, FORK_PIECE, off, 61), -1);
	return T_PASS;
}

/*
 * What a process that did not inherit the pool's rings must do: a ring it
 * creates belongs to its own mm, and the kernel refuses to clone into it
 * from the pool (io_clone_buffers(): both rings must be accounted to the same
 * user and mm); registering again is charged again, which this limit does
 * not allow.  Returns T_PASS when both refusals are the documented ones.
 */
static int fork_late_ring(struct regbuf_uring_pool *pool, uint8_t *arena)
{
	struct iovec iov = { arena, FORK_PIECE };
	struct io_uring own;
	int clone, reg;

	CK_EQ(io_uring_queue_init(8, &own, 0), 0);
	clone = regbuf_uring_clone_buffers(&own, &regbuf_uring_pool_ring(pool, 0)->ring, 0, 0,
					   0, 0);
	reg = io_uring_register_buffers(&own, &iov, 1);
	io_uring_queue_exit(&own);
	fprintf(stderr, "  fork: a ring created in a worker: clone from the pool %d (%s), "
		"registering %llu KiB again %d (%s)\n", clone, strerror(-clone),
		(unsigned long long)(FORK_PIECE / KiB), reg, strerror(-reg));
	CK_EQ(clone, -EINVAL);
	CK_EQ(reg, -ENOMEM);
	return T_PASS;
}

/*
 * As a fresh unprivileged user whose RLIMIT_MEMLOCK is one registration plus
 * the rings' own memory (plus one more ring and a page): a 64-ring pool over
 * a shared memfd arena, registered once and cloned into every ring before
 * fork; 64 forked workers each run fixed I/O on their own ring and piece.
 */
static int fork_pool_child(uint8_t *arena, int fd)
{
	uint64_t reg = FORK_WORKERS * FORK_PIECE, ring = regbuf_uring_ring_memlock(8, 0);
	uint64_t limit = reg + (FORK_WORKERS + 1) * ring + 4 * KiB;
	struct iovec iov = { arena, reg };
	struct regbuf_uring_pool *pool;
	struct regbuf_uring_status st;
	struct regbuf_uring_file f;
	pid_t pids[FORK_WORKERS];
	uint32_t i, failed = 0;
	int status, ret;

	if (drop_to_nobody(limit))
		return CK_FAILF("cannot become nobody");
	CK_OK(regbuf_uring_file_init(&f, fd));
	ret = regbuf_uring_pool_create_report(&pool, FORK_WORKERS, 8, 0, 0, &st);
	if (ret)
		return CK_FAILF("pool: %d: %s", ret, st.reason);
	ret = regbuf_uring_pool_register(pool, &iov, 1, 0);
	regbuf_uring_pool_status(pool, &st);
	if (!k_clone()) {
		/* Registered again in every ring: 64 charges cannot fit one. */
		CK_EQ(ret, -ENOMEM);
		CK(strstr(st.reason, "ulimit -l") != NULL);
		regbuf_uring_pool_destroy(pool);
		return T_PASS;
	}
	if (ret)
		return CK_FAILF("register: %d: %s", ret, st.reason);
	CK_EQ(st.state, REGBUF_URING_REG_ACTIVE);
	CK_EQ(st.path, expect_path(0));
	CK_EQ(st.memlock.needed, reg);
	CK_EQ(st.memlock.charges, 1);
	CK_EQ(st.memlock.rings, uring_memlock_charged() ? FORK_WORKERS * ring : 0);
	CK_EQ(st.memlock.soft, limit);
	CK_EQ(vm_pin(), reg);
	fprintf(stderr, "  fork: %u workers, RLIMIT_MEMLOCK %llu = registration %llu + "
		"%u rings x %llu + one more ring + 4 KiB; VmPin %llu, charges %u (%s)\n",
		FORK_WORKERS, (unsigned long long)limit, (unsigned long long)reg,
		FORK_WORKERS, (unsigned long long)ring, (unsigned long long)vm_pin(),
		st.memlock.charges, regbuf_uring_path_name(st.path));

	for (i = 0; i < FORK_WORKERS; i++) {
		pids[i] = fork();
		if (pids[i] == 0) {
			ret = fork_worker(pool, i, arena, &f);
			if (ret == T_PASS && i == 0)
				ret = fork_late_ring(pool, arena);
			_exit(ret);
		}
		if (pids[i] < 0)
			return CK_FAILF("fork %u: %s", i, strerror(errno));
	}
	for (i = 0; i < FORK_WORKERS; i++)
		if (waitpid(pids[i], &status, 0) != pids[i] || !WIFEXITED(status) ||
		    WEXITSTATUS(status) != T_PASS)
			failed++;
	CK_EQ(failed, 0);
	/* The workers' reads landed in the shared arena, and their writes on disk. */
	CK_EQ(t_pattern_check(arena, reg, 0, 61), -1);
	CK_EQ(plain_check(fd, 0, reg, 61), -1);
	/* Still charged once: nothing the workers did pinned more. */
	CK_EQ(vm_pin(), reg);
	regbuf_uring_pool_destroy(pool);
	return T_PASS;
}

static int fork_workers_charged_once(void)
{
	uint64_t reg = FORK_WORKERS * FORK_PIECE;
	int mfd = -1, fd = -1, ret;
	uint8_t *arena = MAP_FAILED;
	pid_t pid;
	int status;

	t_kernel_agrees();
	if (geteuid())
		return t_skip("needs root to switch to an unprivileged user (run as root)");
	mfd = memfd_create("regbuf-fork-arena", MFD_CLOEXEC);
	t_check(mfd >= 0);
	if (ftruncate(mfd, (off_t)reg) == 0)
		arena = mmap(NULL, reg, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, mfd, 0);
	fd = scratch_file(reg);
	if (arena == MAP_FAILED || fd < 0) {
		ret = T_FAILF("setup: %s", strerror(errno));
		goto out;
	}
	uid_seq++;
	pid = fork();
	if (pid == 0)
		_exit(fork_pool_child(arena, fd));
	if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
		ret = T_FAILF("child died");
	else
		ret = WEXITSTATUS(status);
out:
	if (arena != MAP_FAILED)
		munmap(arena, reg);
	if (fd >= 0)
		close(fd);
	close(mfd);
	return ret;
}

/*
 * Why the arena must be shared: private memory registered before fork is
 * copied for the child (the kernel copies pages pinned for DMA at fork rather
 * than share them copy-on-write), so a child's stores go to its copy while
 * its fixed I/O moves the parent's page.  A ring created with
 * IORING_SETUP_SINGLE_ISSUER belongs to its creator: the child's submission
 * is refused with -EEXIST.  Created R_DISABLED as well (with DEFER_TASKRUN),
 * the pool registers and clones into the disabled rings, and the child that
 * enables one is its issuer: its fixed I/O works, the parent's is refused.
 */
static int fork_private_memory_and_single_issuer(void)
{
	struct regbuf_uring_pool *pool, *single, *late;
	struct regbuf_uring_file f;
	uint8_t *mem = map_anon(8 * KiB), *shared;
	struct iovec iov = { mem, 8 * KiB }, siov;
	int fd = scratch_file(16 * KiB), status, ret;
	pid_t pid;

	t_kernel_agrees();
	shared = mmap(NULL, 4 * KiB, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	t_check(mem && fd >= 0 && shared != MAP_FAILED);
	siov = (struct iovec){ shared, 4 * KiB };
	t_ok(regbuf_uring_file_init(&f, fd));
	memset(mem, 0, 8 * KiB);
	t_ok(regbuf_uring_pool_create(&pool, 2, 8, 0, 0));
	t_ok(regbuf_uring_pool_register(pool, &iov, 1, 0));
	t_ok(regbuf_uring_pool_create(&single, 1, 8, IORING_SETUP_SINGLE_ISSUER, 0));
	t_ok(regbuf_uring_pool_register(single, &iov, 1, 0));
	t_ok(regbuf_uring_pool_create(&late, 2, 8, IORING_SETUP_R_DISABLED |
				      IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN, 0));
	t_ok(regbuf_uring_pool_register(late, &siov, 1, 0));
	pid = fork();
	if (pid == 0) {
		/* The child's copy of the page: the kernel's write sends the parent's zeros. */
		t_pattern_fill(mem, 4 * KiB, 0, 62);
		ret = (int)regbuf_uring_rw_wait(regbuf_uring_pool_ring(pool, 1), true, &f, mem,
						4 * KiB, 0);
		if (ret != (int)(4 * KiB))
			_exit(CK_FAILF("private write: %d", ret));
		ret = (int)regbuf_uring_rw_wait(regbuf_uring_pool_ring(single, 0), true, &f,
						mem + 4 * KiB, 4 * KiB, 4 * KiB);
		fprintf(stderr, "  fork: SINGLE_ISSUER ring used by a child: %d (%s)\n", ret,
			strerror(-ret));
		if (ret != -EEXIST)
			_exit(T_FAIL);
		/* The disabled ring this child enables is its own, with the clone in it. */
		CK_EQ(regbuf_uring_ring_enable(regbuf_uring_pool_ring(late, 1)), 0);
		t_pattern_fill(shared, 4 * KiB, 8 * KiB, 63);
		CK_EQ(regbuf_uring_rw_wait(regbuf_uring_pool_ring(late, 1), true, &f, shared,
					   4 * KiB, 8 * KiB), 4 * KiB);
		_exit(T_PASS);
	}
	t_check(pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status));
	t_check_eq(WEXITSTATUS(status), T_PASS);
	/* Zeros on disk, not the child's pattern: its stores never reached the pinned page. */
	t_check_eq(pread(fd, mem + 4 * KiB, 4 * KiB, 0), 4 * KiB);
	t_check(mem[4 * KiB] == 0 && !memcmp(mem + 4 * KiB, mem + 4 * KiB + 1, 4 * KiB - 1));
	t_check(mem[0] == 0 && !memcmp(mem, mem + 1, 4 * KiB - 1));
	/* The child's write through the ring it enabled, from the shared page. */
	t_check_eq(plain_check(fd, 8 * KiB, 4 * KiB, 63), -1);
	/* The child is its issuer: this task's registrations and submissions are refused. */
	t_check_eq(regbuf_uring_ring_enable(regbuf_uring_pool_ring(late, 1)), -EEXIST);
	t_check_eq(regbuf_uring_ring_enable(regbuf_uring_pool_ring(pool, 0)), -EBADFD);
	t_check_eq(regbuf_uring_rw_wait(regbuf_uring_pool_ring(late, 1), true, &f, shared, 4 * KiB,
					8 * KiB), -EEXIST);
	t_check_eq(regbuf_uring_ring_enable(NULL), -EINVAL);
	regbuf_uring_pool_destroy(late);
	regbuf_uring_pool_destroy(single);
	regbuf_uring_pool_destroy(pool);
	close(fd);
	munmap(shared, 4 * KiB);
	munmap(mem, 8 * KiB);
	return T_PASS;
}

/*
 * A pool of 1024 rings: created (with enough descriptors), registered once,
 * the table cloned (or registered again) into every ring, and a fixed write
 * and read checked on the first, a middle and the last ring.
 */
static int pool_of_1024_rings(void)
{
	struct rlimit nofile, want;
	struct regbuf_uring_pool *pool;
	struct regbuf_uring_status st;
	struct regbuf_uring_file f;
	uint8_t *mem = map_anon(MiB);
	struct iovec iov = { mem, MiB };
	static const uint32_t probe[] = { 0, 511, 1023 };
	int fd = scratch_file(MiB), ret;
	size_t i;

	t_kernel_agrees();
	t_check(mem && fd >= 0);
	t_ok(regbuf_uring_file_init(&f, fd));
	getrlimit(RLIMIT_NOFILE, &nofile);
	want = nofile;
	if (want.rlim_cur < 1200) {
		want.rlim_cur = want.rlim_max < 1200 ? want.rlim_max : 1200;
		setrlimit(RLIMIT_NOFILE, &want);
	}
	if (want.rlim_cur < 1100) {
		close(fd);
		return t_skip("RLIMIT_NOFILE hard limit %llu is below 1100 descriptors",
			      (unsigned long long)want.rlim_max);
	}
	ret = regbuf_uring_pool_create_report(&pool, 1024, 8, 0, 0, &st);
	if (ret) {
		setrlimit(RLIMIT_NOFILE, &nofile);
		close(fd);
		return T_FAILF("1024 rings: %d: %s", ret, st.reason);
	}
	t_ok(regbuf_uring_pool_register(pool, &iov, 1, 0));
	regbuf_uring_pool_status(pool, &st);
	t_check_eq(st.nr_rings, 1024);
	t_check_eq(st.path, expect_path(0));
	for (i = 0; i < sizeof(probe) / sizeof(probe[0]); i++) {
		struct regbuf_uring_ring *r = regbuf_uring_pool_ring(pool, probe[i]);

		t_pattern_fill(mem + i * 4096, 4096, i * 4096, 21);
		t_check_eq(regbuf_uring_rw_wait(r, true, &f, mem + i * 4096, 4096, i * 4096), 4096);
		t_check_eq(plain_check(fd, i * 4096, 4096, 21), -1);
		memset(mem + i * 4096, 0, 4096);
		t_check_eq(regbuf_uring_rw_wait(r, false, &f, mem + i * 4096, 4096, i * 4096), 4096);
		t_check_eq(t_pattern_check(mem + i * 4096, 4096, i * 4096, 21), -1);
	}
	regbuf_uring_pool_destroy(pool);
	setrlimit(RLIMIT_NOFILE, &nofile);
	close(fd);
	munmap(mem, MiB);
	return T_PASS;
}

/*
 * The same through the real tools: prlimit + setpriv exec this binary with
 * REGBUF_URING_MEMLOCK_CHILD set; main() then runs memlock_exec_child().  One
 * pool, one ring: the preflight refuses one page over the limit, the kernel
 * refuses the same registration (raw, on the pool's ring), and exactly the
 * limit is accepted by both.
 */
#define EXEC_LIMIT (UINT64_C(1) << 20)

static int memlock_exec_child(void)
{
	struct regbuf_uring_pool *pool;
	struct regbuf_uring_status st;
	uint8_t *mem = map_anon(2 * MiB);
	struct iovec over, exact;
	uint64_t fit;
	int ret;

	if (!mem || geteuid() == 0)
		return CK_FAILF("child: no memory, or still root");
	/* Only this pool's ring may be charged: a ring closed as this user stays
	 * charged until the kernel's deferred teardown runs. */
	CK_OK(regbuf_uring_pool_create(&pool, 1, 8, 0, 0));
	fit = EXEC_LIMIT - uring_ring_charge(&regbuf_uring_pool_ring(pool, 0)->ring);
	over = (struct iovec){ mem, fit + 4 * KiB };
	exact = (struct iovec){ mem, fit };
	CK_EQ(regbuf_uring_pool_register(pool, &over, 1, 0), -ENOMEM);
	regbuf_uring_pool_status(pool, &st);
	CK(strstr(st.reason, "soft 1048576 bytes") != NULL);
	ret = io_uring_register_buffers(&regbuf_uring_pool_ring(pool, 0)->ring, &over, 1);
	CK_EQ(ret, -ENOMEM);
	ret = regbuf_uring_pool_register(pool, &exact, 1, 0);
	regbuf_uring_pool_status(pool, &st);
	if (ret)
		return CK_FAILF("exact limit: %d: %s", ret, st.reason);
	regbuf_uring_pool_destroy(pool);
	return T_PASS;
}

static int memlock_prlimit_setpriv_exec(void)
{
	char exe[512];
	ssize_t n;
	int rc;

	if (geteuid())
		return t_skip("needs root to switch user with setpriv (run as root)");
	if (t_sh("command -v setpriv >/dev/null && command -v prlimit >/dev/null"))
		return t_skip("setpriv/prlimit missing (Debian package util-linux; the device guest has busybox only)");
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n <= 0)
		return t_broken("readlink /proc/self/exe");
	exe[n] = '\0';
	uid_seq++;
	rc = t_sh("REGBUF_URING_MEMLOCK_CHILD=1 prlimit --memlock=%llu:%llu setpriv "
		  "--reuid=%u --regid=65534 --clear-groups --inh-caps=-all %s",
		  (unsigned long long)EXEC_LIMIT, (unsigned long long)EXEC_LIMIT,
		  200000 + ((unsigned int)getpid() % 30000) * 64 + 63, exe);
	if (rc)
		return T_FAILF("the setpriv/prlimit child failed (%d)", rc);
	return T_PASS;
}

/* The clone probe and fallbacks report the path taken and its cost. */
static int status_reports_path_and_cost(void)
{
	struct regbuf_uring_pool *pool;
	struct regbuf_uring_status st;
	uint8_t *mem = map_anon(4 * MiB);
	struct iovec iov = { mem, 4 * MiB };
	size_t i;

	t_kernel_agrees();
	for (i = 0; i < sizeof(path_cases) / sizeof(path_cases[0]); i++) {
		t_ok(regbuf_uring_pool_create(&pool, 4, 8, 0, path_cases[i].flags));
		t_ok(regbuf_uring_pool_register(pool, &iov, 1, 0));
		regbuf_uring_pool_status(pool, &st);
		t_check_eq(st.path, expect_path(path_cases[i].flags));
		t_check(st.register_ns > 0);
		if (st.path == REGBUF_URING_PATH_REGISTER)
			t_check_eq(st.clone_ns, 0);
		else
			t_check(st.clone_ns > 0);
		t_check(strcmp(regbuf_uring_path_name(st.path), "none") != 0);
		regbuf_uring_pool_destroy(pool);
	}
	munmap(mem, 4 * MiB);
	return T_PASS;
}

/*
 * regbuf_uring_probe() against the kernel itself: its side-effect-free clone
 * probe must agree with real clones (whole table into an empty ring, then a
 * range with DST_REPLACE), its register results with real registrations, and
 * the pool must take the path and vectored I/O the probe reports.
 */
static int probe_agrees_with_kernel_and_pool(void)
{
	struct regbuf_uring_features f;
	struct regbuf_uring_pool *pool;
	struct regbuf_uring_status st;
	struct io_uring a, b;
	struct iovec iov;
	void *buf = map_anon(4 * KiB);
	int whole, range, reg, sparse;

	t_check(buf != NULL);
	t_kernel_agrees();
	t_check_eq(regbuf_uring_probe(NULL), -EINVAL);
	t_ok(regbuf_uring_probe(&f));
	t_check(f.probe && f.read_fixed && f.write_fixed);
	t_check(f.ring_features != 0);

	iov.iov_base = buf;
	iov.iov_len = 4 * KiB;
	t_ok(io_uring_queue_init(4, &a, 0));
	t_ok(io_uring_queue_init(4, &b, 0));
	sparse = io_uring_register_buffers_sparse(&a, 4);
	t_check_eq(f.buffers2_sparse, sparse);
	if (!sparse)
		t_ok(io_uring_unregister_buffers(&a));
	reg = io_uring_register_buffers(&a, &iov, 1);
	t_check_eq(f.buffers, reg);
	if (!reg) {
		whole = regbuf_uring_clone_buffers(&b, &a, 0, 0, 0, 0);
		range = whole ? whole : regbuf_uring_clone_buffers(&b, &a, 1, 0, 1,
								   IORING_REGISTER_DST_REPLACE);
		t_check_eq(f.clone_whole == 0, whole == 0);
		t_check_eq(f.clone_ranges == 0, range == 0);
	}
	io_uring_queue_exit(&b);
	io_uring_queue_exit(&a);

	t_ok(regbuf_uring_pool_create(&pool, 2, 8, 0, 0));
	t_ok(regbuf_uring_pool_register(pool, &iov, 1, 0));
	regbuf_uring_pool_status(pool, &st);
	t_check_eq(st.path, !f.clone_whole ? (!f.clone_ranges ? REGBUF_URING_PATH_CLONE :
					      REGBUF_URING_PATH_CLONE_WHOLE) :
		   REGBUF_URING_PATH_REGISTER);
	t_check_eq(regbuf_uring_pool_ring(pool, 1)->rwv_fixed, f.readv_fixed && f.writev_fixed);
	regbuf_uring_pool_destroy(pool);
	munmap(buf, 4 * KiB);
	return T_PASS;
}

/*
 * In a child whose io_uring_setup() fails with -@err: the probe and the pool
 * return that errno as documented (-ENOSYS: no io_uring in the kernel or a
 * sandbox that hides it; -EPERM: kernel.io_uring_disabled or a container's
 * seccomp profile), and nothing is half-created.
 */
static int blocked_child(int err)
{
	struct regbuf_uring_features f;
	struct regbuf_uring_pool *pool = NULL;
	int ret = t_deny_syscall(__NR_io_uring_setup, -1, 0, err);

	if (ret)
		return ret == -EOPNOTSUPP || ret == -EINVAL ? T_SKIP : T_BROKEN;
	if (regbuf_uring_probe(&f) != -err)
		return 10;
	if (regbuf_uring_pool_create(&pool, 2, 8, 0, 0) != -err || pool)
		return 11;
	if (regbuf_uring_pool_create(&pool, 1, 8, 0, REGBUF_URING_POOL_F_DEGRADE) != -err || pool)
		return 12;
	return T_PASS;
}

static int io_uring_blocked_errno_documented(void)
{
	static const int errs[] = { ENOSYS, EPERM };
	static const char *const what[] = {
		[10] = "regbuf_uring_probe()", [11] = "regbuf_uring_pool_create()",
		[12] = "regbuf_uring_pool_create(DEGRADE)",
	};
	size_t i;
	pid_t pid;
	int st;

	for (i = 0; i < sizeof(errs) / sizeof(errs[0]); i++) {
		fflush(stdout);
		pid = fork();
		if (pid < 0)
			return t_broken("fork: %s", strerror(errno));
		if (pid == 0)
			_exit(blocked_child(errs[i]));
		waitpid(pid, &st, 0);
		if (!WIFEXITED(st))
			return T_FAILF("with io_uring_setup() failing %s: the child died (0x%x)",
				       strerror(errs[i]), st);
		if (WEXITSTATUS(st) == T_SKIP)
			return t_skip("no seccomp filter for this architecture or kernel");
		if (WEXITSTATUS(st) == T_BROKEN)
			return t_broken("seccomp filter refused");
		if (WEXITSTATUS(st) >= 10 && WEXITSTATUS(st) <= 12)
			return T_FAILF("with io_uring_setup() failing %s: %s did not return -%d",
				       strerror(errs[i]), what[WEXITSTATUS(st)], errs[i]);
		t_check_eq(WEXITSTATUS(st), T_PASS);
	}
	return T_PASS;
}

/* A fixed read of 4 KiB from /dev/zero into @buf through @slot of @ring: the CQE result. */
static int fixed_read_res(struct io_uring *ring, void *buf, int slot)
{
	int fd = open("/dev/zero", O_RDONLY | O_CLOEXEC), res = probe_read(ring, fd, buf, 4096, slot);

	if (fd >= 0)
		close(fd);
	return res;
}

/*
 * Ring 1 cannot follow an update ring 0 took (its clone fails: a seccomp
 * filter answers IORING_REGISTER_CLONE_BUFFERS with -ENOMEM).  The pool must
 * not stay ACTIVE with ring 0 holding the new buffer under a map that names
 * the old one: it drops the table from every ring and fails as a failed
 * registration does.  In a child: the filter stays there.
 */
static int diverged_child(void)
{
	struct regbuf_uring_pool *pool;
	struct regbuf_uring_status st;
	struct iovec iov[4], fresh;
	uint8_t *mem = map_anon(5 * 16 * KiB);
	int i, ret;

	if (!mem || regbuf_uring_pool_create(&pool, 2, 8, 0, 0))
		return T_BROKEN;
	for (i = 0; i < 4; i++)
		iov[i] = (struct iovec){ mem + i * 16 * KiB, 16 * KiB };
	fresh = (struct iovec){ mem + 4 * 16 * KiB, 16 * KiB };
	if (regbuf_uring_pool_register(pool, iov, 4, 0))
		return T_BROKEN;
	regbuf_uring_pool_status(pool, &st);
	if (st.path != REGBUF_URING_PATH_CLONE)
		return T_SKIP;	/* rings that register again: ring 0's opcode too */
	if (t_deny_syscall(__NR_io_uring_register, 1, IORING_REGISTER_CLONE_BUFFERS, ENOMEM))
		return T_SKIP;
	ret = regbuf_uring_pool_update(pool, 1, &fresh, 1);
	if (ret != -ENOMEM)
		return 10;
	regbuf_uring_pool_status(pool, &st);
	if (st.state != REGBUF_URING_REG_FAILED || st.err != -ENOMEM)
		return 11;
	/* No ring has a table (an empty table is -EFAULT), and the pool knows it. */
	for (i = 0; i < 2; i++) {
		if (fixed_read_res(&regbuf_uring_pool_ring(pool, (uint32_t)i)->ring,
				   i ? iov[1].iov_base : fresh.iov_base, 1) != -EFAULT)
			return 12 + i;
		if (regbuf_uring_pool_ring(pool, (uint32_t)i)->fixed)
			return 14;
	}
	if (regbuf_uring_pool_update(pool, 1, &fresh, 1) != -ENXIO)
		return 15;
	/* Registered again, ring 0 works (the clone is still refused). */
	if (regbuf_uring_pool_register(pool, iov, 4, 0) != -ENOMEM)
		return 16;
	regbuf_uring_pool_destroy(pool);
	return T_PASS;
}

static int update_ring_cannot_follow_drops_table(void)
{
	static const char *const what[] = {
		[10] = "the update did not return the clone's -ENOMEM",
		[11] = "the pool is not FAILED with -ENOMEM",
		[12] = "ring 0 still has a table (the new buffer reads through slot 1)",
		[13] = "ring 1 still has a table",
		[14] = "a ring still says fixed",
		[15] = "a later update was not -ENXIO",
		[16] = "registering again did not fail at the clone",
	};
	pid_t pid;
	int st;

	t_kernel_agrees();
	fflush(stdout);
	pid = fork();
	if (pid < 0)
		return t_broken("fork: %s", strerror(errno));
	if (pid == 0)
		_exit(diverged_child());
	waitpid(pid, &st, 0);
	if (!WIFEXITED(st))
		return T_FAILF("the child died (0x%x)", st);
	if (WEXITSTATUS(st) == T_SKIP)
		return t_skip("the pool does not clone ranges here, or no seccomp filter");
	if (WEXITSTATUS(st) >= 10 && WEXITSTATUS(st) <= 16)
		return T_FAILF("after ring 1 could not follow: %s", what[WEXITSTATUS(st)]);
	t_check_eq(WEXITSTATUS(st), T_PASS);
	return T_PASS;
}

/* regbuf_uring_dio_align(): what file_init() uses; -EOPNOTSUPP where nothing is reported. */
static int dio_align_query(void)
{
	struct regbuf_uring_file f;
	uint32_t mem_align = 7, off_align = 7;
	int fd = scratch_file(FILE_SIZE), p[2], r;

	if (fd < 0)
		return t_broken("scratch file: %s", strerror(errno));
	t_check_eq(regbuf_uring_dio_align(-1, &mem_align, &off_align), -EINVAL);
	t_check_eq(regbuf_uring_dio_align(fd, NULL, &off_align), -EINVAL);
	t_ok(regbuf_uring_file_init(&f, fd));
	r = regbuf_uring_dio_align(fd, &mem_align, &off_align);
	if (r == -EOPNOTSUPP) {
		t_check(mem_align == 7 && off_align == 7);
	} else {
		t_ok(r);
		t_check_eq(mem_align, f.mem_align);
		t_check_eq(off_align, f.off_align);
	}
	close(fd);
	/* A pipe has no direct I/O alignment to report. */
	t_ok(pipe(p));
	t_check_eq(regbuf_uring_dio_align(p[0], &mem_align, &off_align), -EOPNOTSUPP);
	close(p[0]);
	close(p[1]);
	return T_PASS;
}

/*
 * A registration the kernel refused (read-only memory cannot be pinned
 * FOLL_WRITE), with and without REGBUF_URING_POOL_F_DEGRADE: what the pool
 * answers afterwards and what its status says the failure left.
 */
static int failed_register_state(void)
{
	struct regbuf_uring_pool *pool;
	struct regbuf_uring_status st;
	struct regbuf_uring_file f;
	uint8_t *ro = mmap(NULL, 8 * KiB, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	uint8_t *mem = map_anon(64 * KiB);
	struct iovec bad = { ro, 8 * KiB }, good = { mem, 64 * KiB }, null4k = { NULL, 4096 };
	int fd = scratch_file(MiB);
	struct iovec two_v[1];
	uint32_t slot;

	t_check(ro != MAP_FAILED && mem && fd >= 0);
	t_ok(regbuf_uring_file_init(&f, fd));

	/* Without the degrade flag nothing is left, and the pool says so. */
	t_ok(regbuf_uring_pool_create(&pool, 2, 8, 0, 0));
	t_check_eq(regbuf_uring_pool_register(pool, &bad, 1, 0), -EFAULT);
	regbuf_uring_pool_status(pool, &st);
	t_check_eq(st.state, REGBUF_URING_REG_FAILED);
	t_check_eq(st.err, -EFAULT);
	t_check_eq(st.nr_slots, 0);
	t_check_eq(st.nr_bytes, 0);
	t_check(strstr(st.reason, "nothing is registered") != NULL);
	t_check_eq(regbuf_uring_pool_update(pool, 0, &good, 1), -ENXIO);
	t_check_eq(regbuf_uring_pool_unregister(pool), -ENXIO);
	t_check_eq(regbuf_uring_find(regbuf_uring_pool_ring(pool, 1), (uintptr_t)mem, 1, &slot),
		   -EFAULT);
	/* No silent unregistered I/O either. */
	t_check_eq(regbuf_uring_rw_wait(regbuf_uring_pool_ring(pool, 1), true, &f, mem, 4096, 0),
		   -EFAULT);
	two_v[0] = (struct iovec){ mem, 4096 };
	t_check_eq(regbuf_uring_rwv_wait(regbuf_uring_pool_ring(pool, 0), true, &f, two_v, 1, 0),
		   -EFAULT);
	/* ... and it may be registered again. */
	t_ok(regbuf_uring_pool_register(pool, &good, 1, 0));
	regbuf_uring_pool_status(pool, &st);
	t_check_eq(st.state, REGBUF_URING_REG_ACTIVE);
	t_check_eq(st.err, 0);
	t_check_eq(st.nr_slots, 1);
	t_check_eq(st.nr_bytes, 64 * KiB);
	t_ok(regbuf_uring_pool_unregister(pool));
	regbuf_uring_pool_status(pool, &st);
	t_check_eq(st.state, REGBUF_URING_REG_NONE);
	t_check_eq(st.nr_slots, 0);
	t_check_eq(st.nr_bytes, 0);
	t_check_eq(regbuf_uring_pool_unregister(pool), -ENXIO);
	t_check_eq(regbuf_uring_rw_wait(regbuf_uring_pool_ring(pool, 0), true, &f, mem, 4096, 0),
		   -EFAULT);
	regbuf_uring_pool_destroy(pool);

	/* With it: unregistered I/O over the memory given, updates follow. */
	t_ok(regbuf_uring_pool_create(&pool, 2, 8, 0, REGBUF_URING_POOL_F_DEGRADE));
	t_check_eq(regbuf_uring_pool_register(pool, &bad, 1, 0), 0);
	regbuf_uring_pool_status(pool, &st);
	t_check_eq(st.state, REGBUF_URING_REG_FAILED);
	t_check_eq(st.err, -EFAULT);
	t_check_eq(st.nr_slots, 1);
	t_check_eq(st.nr_bytes, 8 * KiB);
	t_check(strstr(st.reason, "unregistered I/O") != NULL);
	t_check_eq(regbuf_uring_pool_update(pool, 0, &good, 1), 1);
	regbuf_uring_pool_status(pool, &st);
	t_check_eq(st.nr_bytes, 64 * KiB);
	t_pattern_fill(mem, 32 * KiB, 0, 5);
	t_check_eq(regbuf_uring_rw_wait(regbuf_uring_pool_ring(pool, 1), true, &f, mem, 32 * KiB,
					0), 32 * KiB);
	t_check_eq(plain_check(fd, 0, 32 * KiB, 5), -1);
	t_ok(regbuf_uring_pool_unregister(pool));
	t_check_eq(regbuf_uring_pool_unregister(pool), -ENXIO);
	t_check_eq(regbuf_uring_rw_wait(regbuf_uring_pool_ring(pool, 1), true, &f, mem, 4096, 0),
		   -EFAULT);
	/* An invalid entry is the caller's bug: refused, never degraded. */
	t_check_eq(regbuf_uring_pool_register(pool, &null4k, 1, 0), -EFAULT);
	regbuf_uring_pool_status(pool, &st);
	t_check_eq(st.state, REGBUF_URING_REG_FAILED);
	t_check_eq(st.nr_slots, 0);
	t_check(strstr(st.reason, "nothing is registered") != NULL);
	t_check_eq(regbuf_uring_pool_update(pool, 0, &good, 1), -ENXIO);
	regbuf_uring_pool_destroy(pool);
	close(fd);
	munmap(mem, 64 * KiB);
	munmap(ro, 8 * KiB);
	return T_PASS;
}

/*
 * Every public pool/probe/file function with the arguments its kernel-doc
 * refuses, and each documented code it names (kernel -errno cases are in
 * register_errors_unchanged and clone_errors_unchanged).
 */
static int pool_api_abuse(void)
{
	struct regbuf_uring_pool *pool;
	struct regbuf_uring_memlock ml;
	struct regbuf_uring_file f;
	struct regbuf_table *t;
	uint32_t ma, oa;
	uint8_t *mem = map_anon(64 * KiB);
	struct iovec good = { mem, 64 * KiB }, two[2];
	struct iovec wraps = { (void *)(UINTPTR_MAX - 8191), 8 * KiB + 1 };
	struct iovec zero = { mem, 0 }, null4k = { NULL, 4096 };
	struct iovec over = { mem, REGBUF_BUF_MAX_LEN + 4096 };
	int fd = scratch_file(MiB), closed_fd;

	t_check(mem && fd >= 0);
	/* create */
	t_check_eq(regbuf_uring_pool_create(NULL, 1, 8, 0, 0), -EINVAL);
	t_check_eq(regbuf_uring_pool_create(&pool, 0, 8, 0, 0), -EINVAL);
	t_check_eq(regbuf_uring_pool_create(&pool, REGBUF_URING_POOL_MAX_RINGS + 1, 8, 0, 0),
		   -EINVAL);
	t_check_eq(regbuf_uring_pool_create(&pool, 1, 0, 0, 0), -EINVAL);
	t_check_eq(regbuf_uring_pool_create(&pool, 1, 8, 0, 1U << 31), -EINVAL);
	t_check_eq(regbuf_uring_pool_create(&pool, 1, 1U << 30, 0, 0), -EINVAL);
	/* A failed constructor hands nothing back: the caller's pointer is untouched. */
	pool = (struct regbuf_uring_pool *)&ml;
	t_check_eq(regbuf_uring_pool_create(&pool, 0, 8, 0, 0), -EINVAL);
	t_check(pool == (struct regbuf_uring_pool *)&ml);
	t_ok(regbuf_uring_pool_create(&pool, 2, 8, 0, 0));
	/* ring, close_ring */
	t_check(regbuf_uring_pool_ring(NULL, 0) == NULL);
	t_check(regbuf_uring_pool_ring(pool, 2) == NULL);
	t_check_eq(regbuf_uring_pool_close_ring(NULL, 0), -EINVAL);
	t_check_eq(regbuf_uring_pool_close_ring(pool, 2), -EINVAL);
	/* register: arguments, then entries as io_buffer_validate() */
	t_check_eq(regbuf_uring_pool_register(NULL, &good, 1, 0), -EINVAL);
	t_check_eq(regbuf_uring_pool_register(pool, NULL, 1, 0), -EINVAL);
	t_check_eq(regbuf_uring_pool_register(pool, &good, 0, 0), -EINVAL);
	t_check_eq(regbuf_uring_pool_register(pool, &good, 1, 1), -EINVAL);
	t_check_eq(regbuf_uring_pool_register(pool, &zero, 1, 0), -EFAULT);
	t_check_eq(regbuf_uring_pool_register(pool, &null4k, 1, 0), -EFAULT);
	t_check_eq(regbuf_uring_pool_register(pool, &wraps, 1, 0), -EOVERFLOW);
	/* register_sparse */
	t_check_eq(regbuf_uring_pool_register_sparse(NULL, 1), -EINVAL);
	t_check_eq(regbuf_uring_pool_register_sparse(pool, 0), -EINVAL);
	/* update and unregister with nothing registered */
	t_check_eq(regbuf_uring_pool_update(NULL, 0, &good, 1), -EINVAL);
	t_check_eq(regbuf_uring_pool_update(pool, 0, NULL, 1), -EINVAL);
	t_check_eq(regbuf_uring_pool_update(pool, 0, &good, 0), -EINVAL);
	t_check_eq(regbuf_uring_pool_update(pool, UINT32_MAX, two, 2), -EOVERFLOW);
	t_check_eq(regbuf_uring_pool_update(pool, 0, &good, 1), -ENXIO);
	t_check_eq(regbuf_uring_pool_unregister(NULL), -EINVAL);
	t_check_eq(regbuf_uring_pool_unregister(pool), -ENXIO);
	/* a sparse table: -EBUSY, bounds, bad entries (the first stops the update) */
	t_ok(regbuf_uring_pool_register_sparse(pool, 4));
	t_check_eq(regbuf_uring_pool_register_sparse(pool, 4), -EBUSY);
	t_check_eq(regbuf_uring_pool_register(pool, &good, 1, 0), -EBUSY);
	two[0] = good;
	two[1] = null4k;
	t_check_eq(regbuf_uring_pool_update(pool, 3, two, 2), -EINVAL);
	t_check_eq(regbuf_uring_pool_update(pool, 0, &zero, 1), -EFAULT);
	t_check_eq(regbuf_uring_pool_update(pool, 0, &null4k, 1), -EFAULT);
	t_check_eq(regbuf_uring_pool_update(pool, 0, &over, 1), -EFAULT);
	t_check_eq(regbuf_uring_pool_update(pool, 0, &wraps, 1), -EOVERFLOW);
	t_check_eq(regbuf_uring_pool_update(pool, 1, two, 2), 1);
	t_ok(regbuf_uring_pool_unregister(pool));
	t_check_eq(regbuf_uring_pool_unregister(pool), -ENXIO);
	/* mirror */
	t_ok(regbuf_table_create(&t, 0));
	t_check_eq(regbuf_uring_pool_mirror(NULL, t, 0), -EINVAL);
	t_check_eq(regbuf_uring_pool_mirror(pool, NULL, 0), -EINVAL);
	t_check_eq(regbuf_uring_pool_mirror(pool, t, 1), -EINVAL);
	t_check_eq(regbuf_uring_pool_mirror(pool, t, 0), -ENXIO);
	regbuf_table_destroy(t);
	/* every ring closed: nothing to register into */
	t_ok(regbuf_uring_pool_close_ring(pool, 0));
	t_check_eq(regbuf_uring_pool_close_ring(pool, 0), -EINVAL);
	t_check(regbuf_uring_pool_ring(pool, 0) == NULL);
	t_ok(regbuf_uring_pool_close_ring(pool, 1));
	t_check_eq(regbuf_uring_pool_register(pool, &good, 1, 0), -EINVAL);
	t_check_eq(regbuf_uring_pool_register_sparse(pool, 1), -EINVAL);
	regbuf_uring_pool_destroy(pool);
	regbuf_uring_pool_destroy(NULL);
	/* memlock, probe, alignment, file */
	t_check_eq(regbuf_uring_memlock_estimate(NULL, &good, 1, 1), -EINVAL);
	t_check_eq(regbuf_uring_memlock_estimate(&ml, NULL, 1, 1), -EINVAL);
	t_check_eq(regbuf_uring_probe(NULL), -EINVAL);
	t_check_eq(regbuf_uring_dio_align(-1, &ma, &oa), -EINVAL);
	t_check_eq(regbuf_uring_dio_align(fd, NULL, &oa), -EINVAL);
	t_check_eq(regbuf_uring_file_init(NULL, fd), -EINVAL);
	t_check_eq(regbuf_uring_file_init(&f, -1), -EINVAL);
	closed_fd = dup(fd);
	close(closed_fd);
	t_check_eq(regbuf_uring_dio_align(closed_fd, &ma, &oa), -EBADF);
	t_check_eq(regbuf_uring_file_init(&f, closed_fd), -EBADF);
	/* clone from something that is not a ring: the kernel's codes unchanged */
	if (k_clone()) {
		struct regbuf_uring_pool *p1;
		struct io_uring fake;

		t_ok(regbuf_uring_pool_create(&p1, 1, 8, 0, 0));
		memset(&fake, 0, sizeof(fake));
		fake.ring_fd = fd;
		t_check_eq(regbuf_uring_clone_buffers(&regbuf_uring_pool_ring(p1, 0)->ring, &fake,
						      0, 0, 0, 0), -EOPNOTSUPP);
		fake.ring_fd = -1;
		t_check_eq(regbuf_uring_clone_buffers(&regbuf_uring_pool_ring(p1, 0)->ring, &fake,
						      0, 0, 0, 0), -EBADF);
		regbuf_uring_pool_destroy(p1);
	}
	/* names of values out of range */
	t_check(!strcmp(regbuf_uring_path_name((enum regbuf_uring_path)99), "none"));
	t_check(!strcmp(regbuf_uring_state_name((enum regbuf_uring_reg_state)99),
			"not registered"));
	close(fd);
	munmap(mem, 64 * KiB);
	return T_PASS;
}

/* prep_rw/prep_rwv refuse before queueing anything; each documented code. */
static int io_api_abuse(void)
{
	struct regbuf_uring_pool *pool;
	struct regbuf_uring_ring *r;
	struct regbuf_uring_file f;
	struct io_uring_sqe *sqe;
	struct io_uring_cqe *cqe;
	uint8_t *mem = map_anon(64 * KiB), *other = map_anon(8 * KiB);
	struct iovec good = { mem, 64 * KiB }, v[2];
	int fd = scratch_file(MiB), i, n = 0;

	t_check(mem && other && fd >= 0);
	t_ok(regbuf_uring_file_init(&f, fd));
	t_ok(regbuf_uring_pool_create(&pool, 1, 8, 0, 0));
	t_ok(regbuf_uring_pool_register(pool, &good, 1, 0));
	r = regbuf_uring_pool_ring(pool, 0);
	/* prep_rw */
	t_check_eq(regbuf_uring_prep_rw(r, false, &f, mem, 4096, 0, REGBUF_URING_TAG_BIT), -EINVAL);
	t_check(f.mem_align > 1 && f.off_align > 1);	/* O_DIRECT */
	t_check_eq(regbuf_uring_prep_rw(r, false, &f, mem + f.mem_align / 2, 4096, 0, 0), -EINVAL);
	t_check_eq(regbuf_uring_prep_rw(r, false, &f, mem, 4096 + f.off_align / 2, 0, 0), -EINVAL);
	t_check_eq(regbuf_uring_prep_rw(r, false, &f, mem, 4096, f.off_align / 2, 0), -EINVAL);
	t_check_eq(regbuf_uring_prep_rw(r, false, &f, mem, (uint32_t)REGBUF_MAX_RW_COUNT + 4096,
					0, 0), -EINVAL);
	t_check_eq(regbuf_uring_prep_rw(r, false, &f, other, 4096, 0, 0), -EFAULT);
	t_check_eq(regbuf_uring_prep_rw(r, false, &f, mem + 60 * KiB, 8 * KiB, 0, 0), -EFAULT);
	/* prep_rwv */
	t_check_eq(regbuf_uring_prep_rwv(r, false, &f, NULL, 1, 0, 0), -EINVAL);
	t_check_eq(regbuf_uring_prep_rwv(r, false, &f, &good, 0, 0, 0), -EINVAL);
	t_check_eq(regbuf_uring_prep_rwv(r, false, &f, &good, 1, 0, REGBUF_URING_TAG_BIT),
		   -EINVAL);
	v[0] = (struct iovec){ mem, 4096 };
	v[1] = (struct iovec){ mem + 4096, 0 };
	t_check_eq(regbuf_uring_prep_rwv(r, false, &f, v, 2, 0, 0), -EFAULT);
	v[1] = (struct iovec){ mem + 4096, SIZE_MAX - 100 };
	t_check_eq(regbuf_uring_prep_rwv(r, false, &f, v, 2, 0, 0), -EOVERFLOW);
	v[1] = (struct iovec){ mem + 4096, (size_t)REGBUF_MAX_RW_COUNT };
	t_check_eq(regbuf_uring_prep_rwv(r, false, &f, v, 2, 0, 0), -EINVAL);
	v[1] = (struct iovec){ mem + 4096 + f.mem_align / 2, 4096 };
	t_check_eq(regbuf_uring_prep_rwv(r, false, &f, v, 2, 0, 0), -EINVAL);
	v[1] = (struct iovec){ other, 4096 };
	t_check_eq(regbuf_uring_prep_rwv(r, false, &f, v, 2, 0, 0), -EFAULT);
	t_check_eq(io_uring_sq_ready(&r->ring), 0);	/* nothing was queued */
	/* A full SQ: -EBUSY, nothing queued. */
	while ((sqe = io_uring_get_sqe(&r->ring)) != NULL) {
		io_uring_prep_nop(sqe);
		n++;
	}
	t_check_eq(regbuf_uring_prep_rw(r, false, &f, mem, 4096, 0, 0), -EBUSY);
	v[1] = (struct iovec){ mem + 4096, 4096 };
	t_check_eq(regbuf_uring_prep_rwv(r, false, &f, v, 2, 0, 0), -EBUSY);
	t_check_eq(io_uring_sq_ready(&r->ring), (unsigned int)n);
	t_check_eq(io_uring_submit_and_wait(&r->ring, (unsigned int)n), n);
	for (i = 0; i < n; i++) {
		t_ok(io_uring_wait_cqe(&r->ring, &cqe));
		io_uring_cqe_seen(&r->ring, cqe);
	}
	/* The wait helpers pass prep errors through. */
	t_check_eq(regbuf_uring_rw_wait(r, false, &f, other, 4096, 0), -EFAULT);
	t_check_eq(regbuf_uring_rwv_wait(r, false, &f, NULL, 1, 0), -EINVAL);
	regbuf_uring_pool_destroy(pool);
	close(fd);
	munmap(other, 8 * KiB);
	munmap(mem, 64 * KiB);
	return T_PASS;
}

/*
 * The memlock status as what applies: the real RLIMIT_MEMLOCK (also as root,
 * where CAP_IPC_LOCK means it is not enforced: charged false), the charge and
 * whether huge pages are charged whole.
 */
static int memlock_status_real_limits(void)
{
	struct regbuf_uring_pool *pool;
	struct regbuf_uring_status st;
	struct rlimit rl;
	uint8_t *mem = map_anon(64 * KiB), *huge;
	struct iovec iov = { mem, 64 * KiB };
	int ret = T_PASS;

	t_check(mem != NULL);
	t_check(!getrlimit(RLIMIT_MEMLOCK, &rl));
	t_ok(regbuf_uring_pool_create(&pool, 1, 8, 0, 0));
	t_ok(regbuf_uring_pool_register(pool, &iov, 1, 0));
	regbuf_uring_pool_status(pool, &st);
	t_check_eq(st.memlock.soft, rl.rlim_cur == RLIM_INFINITY ? UINT64_MAX : rl.rlim_cur);
	t_check_eq(st.memlock.hard, rl.rlim_max == RLIM_INFINITY ? UINT64_MAX : rl.rlim_max);
	t_check_eq(st.memlock.charged, uring_memlock_charged());
	t_check_eq(st.memlock.needed, 64 * KiB);
	t_check_eq(st.memlock.charges, 1);
	t_check(!st.memlock.huge);
	regbuf_uring_pool_destroy(pool);
	munmap(mem, 64 * KiB);

	huge = map_huge2m(2 * MiB);
	if (!huge) {
		huge_release();
		return t_skip("hugetlb part: %s", huge_2m.why);
	}
	iov = (struct iovec){ huge + 4096, 4096 };
	t_ok(regbuf_uring_pool_create(&pool, 1, 8, 0, 0));
	t_ok(regbuf_uring_pool_register(pool, &iov, 1, 0));
	regbuf_uring_pool_status(pool, &st);
	if (!st.memlock.huge || st.memlock.needed != 2 * MiB)
		ret = T_FAILF("hugetlb buffer: huge %d needed %llu, want 1 and 2 MiB",
			      st.memlock.huge, (unsigned long long)st.memlock.needed);
	regbuf_uring_pool_destroy(pool);
	munmap(huge, 2 * MiB);
	huge_release();
	return ret;
}

/* ---- the file table ---- */

/* One fixed read of @len at @off into @buf: the CQE's res, or a prep error. */
static int64_t read_once(struct regbuf_uring_ring *r, const struct regbuf_uring_file *f,
			 void *buf, uint32_t len, uint64_t off)
{
	return regbuf_uring_rw_wait(r, false, f, buf, len, off);
}

/*
 * A file added to the pool's file table is reached through the slot on every
 * ring: its descriptor can be closed and I/O still reads and writes the file
 * (the rings hold it); once removed, I/O goes by the descriptor again, which
 * is closed now: -EBADF.  On a pool with no file table of its own, the
 * descriptor is used.
 */
static int file_table_io_every_ring(void)
{
	struct regbuf_uring_pool *pool, *other;
	struct regbuf_uring_file f;
	uint8_t *mem = map_anon(4 * MiB);
	struct iovec iov = { mem, 4 * MiB };
	int fd = scratch_file(FILE_SIZE), dfd;
	uint32_t i;

	t_kernel_agrees();
	t_check(mem && fd >= 0);
	/* A high descriptor number, so that nothing reuses it once closed. */
	dfd = fcntl(fd, F_DUPFD_CLOEXEC, 900);
	t_check(dfd >= 900);
	t_ok(regbuf_uring_file_init(&f, dfd));
	t_check(f.pool == NULL);
	t_ok(regbuf_uring_pool_create(&pool, 4, 16, 0, 0));
	t_ok(regbuf_uring_pool_create(&other, 1, 16, 0, 0));
	t_ok(regbuf_uring_pool_register(pool, &iov, 1, 0));
	t_ok(regbuf_uring_pool_register(other, &iov, 1, 0));
	t_ok(regbuf_uring_pool_register_files(pool, 4));
	t_ok(regbuf_uring_pool_file_add(pool, &f));
	t_check(f.pool == pool);
	t_check_eq(f.slot, 0);
	/* The other pool has no table: its rings use the descriptor. */
	t_pattern_fill(mem, 64 * KiB, 0, 3);
	t_check_eq(regbuf_uring_rw_wait(regbuf_uring_pool_ring(other, 0), true, &f, mem,
					64 * KiB, 0), 64 * KiB);
	close(dfd);
	t_check_eq(regbuf_uring_rw_wait(regbuf_uring_pool_ring(other, 0), true, &f, mem,
					64 * KiB, 0), -EBADF);
	for (i = 0; i < 4; i++) {
		struct regbuf_uring_ring *r = regbuf_uring_pool_ring(pool, i);
		uint8_t *b = mem + MiB * (i % 4);
		uint64_t off = MiB * i;

		t_pattern_fill(b, 256 * KiB, off, 40 + i);
		t_check_eq(regbuf_uring_rw_wait(r, true, &f, b, 256 * KiB, off), 256 * KiB);
		t_check_eq(plain_check(fd, off, 256 * KiB, 40 + i), -1);
		t_check_eq(plain_fill(fd, off + 256 * KiB, 256 * KiB, 50 + i), 0);
		memset(b, 0, 256 * KiB);
		t_check_eq(read_once(r, &f, b, 256 * KiB, off + 256 * KiB), 256 * KiB);
		t_check_eq(t_pattern_check(b, 256 * KiB, off + 256 * KiB, 50 + i), -1);
	}
	/* Vectored I/O goes through the slot too. */
	iov = (struct iovec){ mem + 2 * MiB, 8 * KiB };
	t_check_eq(regbuf_uring_rwv_wait(regbuf_uring_pool_ring(pool, 1), false, &f, &iov, 1,
					 MiB + 256 * KiB), 8 * KiB);
	t_check_eq(t_pattern_check(mem + 2 * MiB, 8 * KiB, MiB + 256 * KiB, 51), -1);
	t_ok(regbuf_uring_pool_file_remove(pool, &f));
	t_check(f.pool == NULL);
	for (i = 0; i < 4; i++)
		t_check_eq(read_once(regbuf_uring_pool_ring(pool, i), &f, mem, 4096, 0), -EBADF);
	regbuf_uring_pool_destroy(other);
	regbuf_uring_pool_destroy(pool);
	close(fd);
	munmap(mem, 4 * MiB);
	return T_PASS;
}

struct issuer_arg {
	struct io_uring *ring;
	int ret;
};

static void *enable_ring_fn(void *p)
{
	struct issuer_arg *a = p;

	a->ret = io_uring_register(a->ring->ring_fd, IORING_REGISTER_ENABLE_RINGS, NULL, 0);
	return NULL;
}

/*
 * The file table's errors, each as documented: no table, a second table,
 * too many slots for RLIMIT_NOFILE, a full table, a file added twice, a
 * descriptor that is not open or is an io_uring, removal from the wrong
 * pool, a SINGLE_ISSUER ring enabled by another thread; and a ring that
 * refuses an add makes the rings that took it give it back.
 */
static int file_table_errors(void)
{
	struct regbuf_uring_pool *pool, *other;
	struct regbuf_uring_file f, g, bad;
	struct issuer_arg ia;
	struct rlimit rl;
	pthread_t th;
	uint8_t *mem = map_anon(64 * KiB);
	struct iovec iov = { mem, 64 * KiB };
	int fd = scratch_file(MiB), fd2 = scratch_file(MiB);
	uint64_t nr;

	t_check(mem && fd >= 0 && fd2 >= 0);
	t_ok(regbuf_uring_file_init(&f, fd));
	t_ok(regbuf_uring_file_init(&g, fd2));
	t_ok(regbuf_uring_pool_create(&pool, 2, 8, 0, 0));
	t_ok(regbuf_uring_pool_create(&other, 1, 8, 0, 0));
	t_ok(regbuf_uring_pool_register(pool, &iov, 1, 0));
	t_check_eq(regbuf_uring_pool_file_add(pool, &f), -ENXIO);
	t_check_eq(regbuf_uring_pool_register_files(NULL, 1), -EINVAL);
	t_check_eq(regbuf_uring_pool_register_files(pool, 0), -EINVAL);
	/* io_sqe_files_register(): more slots than RLIMIT_NOFILE allows. */
	t_check(!getrlimit(RLIMIT_NOFILE, &rl));
	nr = rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur >= (1U << 20) ? (1U << 20) + 1 :
	     rl.rlim_cur + 1;
	t_check_eq(regbuf_uring_pool_register_files(pool, (uint32_t)nr), -EMFILE);
	t_check(!getrlimit(RLIMIT_NOFILE, &rl) && (rl.rlim_cur == RLIM_INFINITY ||
						   rl.rlim_cur < nr));	/* left alone */
	t_ok(regbuf_uring_pool_register_files(pool, 1));
	t_check_eq(regbuf_uring_pool_register_files(pool, 1), -EBUSY);
	t_check_eq(regbuf_uring_pool_file_add(NULL, &f), -EINVAL);
	t_check_eq(regbuf_uring_pool_file_add(pool, NULL), -EINVAL);
	bad = f;
	bad.fd = -1;
	t_check_eq(regbuf_uring_pool_file_add(pool, &bad), -EINVAL);
	/* __io_sqe_files_update(): not an open file, or an io_uring: -EBADF; nothing taken. */
	bad.fd = 987;
	t_check(fcntl(987, F_GETFD) < 0);
	t_check_eq(regbuf_uring_pool_file_add(pool, &bad), -EBADF);
	bad.fd = regbuf_uring_pool_ring(other, 0)->ring.ring_fd;
	t_check_eq(regbuf_uring_pool_file_add(pool, &bad), -EBADF);
	t_check(bad.pool == NULL);
	t_ok(regbuf_uring_pool_file_add(pool, &f));
	t_check_eq(f.slot, 0);
	t_check_eq(regbuf_uring_pool_file_add(pool, &f), -EBUSY);
	/* io_file_bitmap_get(): a full table is -ENFILE. */
	t_check_eq(regbuf_uring_pool_file_add(pool, &g), -ENFILE);
	t_check(g.pool == NULL);
	t_check_eq(regbuf_uring_pool_file_remove(other, &f), -EINVAL);
	t_check_eq(regbuf_uring_pool_file_remove(pool, &g), -EINVAL);
	t_check_eq(regbuf_uring_pool_file_remove(NULL, &f), -EINVAL);
	t_ok(regbuf_uring_pool_file_remove(pool, &f));
	t_check_eq(regbuf_uring_pool_file_remove(pool, &f), -EINVAL);
	/* The freed slot is taken again. */
	t_ok(regbuf_uring_pool_file_add(pool, &g));
	t_check_eq(g.slot, 0);
	t_ok(regbuf_uring_pool_file_remove(pool, &g));
	/*
	 * Ring 1 loses its table behind the pool's back: the add fails there
	 * (-ENXIO from the kernel) and ring 0 gives the slot back, so a read
	 * naming slot 0 fails on ring 0 too (-EBADF: an empty slot).
	 */
	t_ok(io_uring_unregister_files(&regbuf_uring_pool_ring(pool, 1)->ring));
	t_check_eq(regbuf_uring_pool_file_add(pool, &f), -ENXIO);
	t_check(f.pool == NULL);
	{
		struct regbuf_uring_ring *r0 = regbuf_uring_pool_ring(pool, 0);
		struct io_uring_sqe *sqe = io_uring_get_sqe(&r0->ring);
		struct io_uring_cqe *cqe;

		io_uring_prep_read_fixed(sqe, 0, mem, 4096, 0, 0);
		sqe->flags |= IOSQE_FIXED_FILE;
		t_check_eq(io_uring_submit_and_wait(&r0->ring, 1), 1);
		t_ok(io_uring_wait_cqe(&r0->ring, &cqe));
		t_check_eq(cqe->res, -EBADF);
		io_uring_cqe_seen(&r0->ring, cqe);
	}
	regbuf_uring_pool_destroy(pool);
	/* SINGLE_ISSUER: once another thread enabled the ring, it alone may register. */
	t_ok(regbuf_uring_pool_create(&pool, 1, 8, IORING_SETUP_R_DISABLED |
				      IORING_SETUP_SINGLE_ISSUER, 0));
	ia.ring = &regbuf_uring_pool_ring(pool, 0)->ring;
	t_check_eq(pthread_create(&th, NULL, enable_ring_fn, &ia), 0);
	pthread_join(th, NULL);
	t_check_eq(ia.ret, 0);
	t_check_eq(regbuf_uring_pool_register_files(pool, 1), -EEXIST);
	regbuf_uring_pool_destroy(pool);
	regbuf_uring_pool_destroy(other);
	close(fd);
	close(fd2);
	munmap(mem, 64 * KiB);
	return T_PASS;
}

/* ---- polled I/O ---- */

/* A file of this machine that polled I/O cannot reach: refused, with @want in the reason. */
static int poll_refused_on(struct regbuf_uring_pool *pool, int fd, void *mem, const char *want)
{
	struct regbuf_uring_ring *r = regbuf_uring_pool_ring(pool, 0);
	struct regbuf_uring_file f;
	struct iovec v = { mem, 4096 };
	char why[512] = "";

	t_ok(regbuf_uring_file_init(&f, fd));
	t_check(!f.poll);
	t_check_eq(regbuf_uring_poll_check(fd, why, sizeof(why)), -EOPNOTSUPP);
	if (!strstr(why, want))
		return T_FAILF("reason '%s' does not name '%s'", why, want);
	printf("# refused: %s\n", why);
	t_check_eq(regbuf_uring_prep_rw(r, false, &f, mem, 4096, 0, 0), -EOPNOTSUPP);
	t_check_eq(regbuf_uring_prep_rw(r, true, &f, mem, 4096, 0, 0), -EOPNOTSUPP);
	t_check_eq(regbuf_uring_prep_rwv(r, false, &f, &v, 1, 0, 0), -EOPNOTSUPP);
	t_check_eq(regbuf_uring_rw_wait(r, false, &f, mem, 4096, 0), -EOPNOTSUPP);
	t_check_eq(io_uring_sq_ready(&r->ring), 0);	/* nothing was queued */
	return T_PASS;
}

/*
 * This machine has no poll queues: a polling pool refuses I/O on an O_DIRECT
 * file of the current directory's filesystem (its disk's io_poll is 0), a
 * loop device, a file opened without O_DIRECT, a tmpfs file and a char
 * device, each with the reason; nothing reaches the kernel.  A non-polling
 * ring still does I/O on the same file.  What the kernel itself answers a
 * polled read there is printed (6.18: -EOPNOTSUPP in the CQE; before, the
 * I/O completed by interrupt).
 */
static int poll_refused_with_reason(void)
{
	char backing[] = "/tmp/regbuf-uring-loop.XXXXXX", dev[64], tmpf[] = "/dev/shm/regbuf-poll.XXXXXX";
	struct regbuf_uring_pool *pool, *plainpool;
	struct regbuf_uring_file f;
	uint8_t *mem = map_anon(MiB);
	struct iovec iov = { mem, MiB };
	struct io_uring_sqe *sqe;
	struct io_uring_cqe *cqe;
	int fd = scratch_file(MiB), bfd, lfd, tfd, ret, n;
	char why[512];

	t_kernel_agrees();
	/* Written blocks: a read of a hole completes without reaching the disk. */
	t_check(mem && fd >= 0 && plain_fill(fd, 0, MiB, 9) == 0);
	if (!regbuf_uring_poll_check(fd, why, sizeof(why)))
		return t_skip("this directory's disk has poll queues: the refusal needs one without");
	t_ok(regbuf_uring_pool_create(&pool, 2, 8, 0, REGBUF_URING_POOL_F_IOPOLL));
	t_check(regbuf_uring_pool_ring(pool, 1)->ring.flags & IORING_SETUP_IOPOLL);
	t_ok(regbuf_uring_pool_register(pool, &iov, 1, 0));
	ret = poll_refused_on(pool, fd, mem, "/queue/io_poll is 0");
	if (ret != T_PASS)
		return ret;
	/* The same file on a ring that does not poll. */
	t_ok(regbuf_uring_pool_create(&plainpool, 1, 8, 0, 0));
	t_ok(regbuf_uring_pool_register(plainpool, &iov, 1, 0));
	t_ok(regbuf_uring_file_init(&f, fd));
	t_check_eq(regbuf_uring_rw_wait(regbuf_uring_pool_ring(plainpool, 0), false, &f, mem, 4096,
					0), 4096);
	regbuf_uring_pool_destroy(plainpool);
	/* What the kernel answers a polled read regbuf would have refused. */
	{
		struct regbuf_uring_ring *r = regbuf_uring_pool_ring(pool, 0);

		sqe = io_uring_get_sqe(&r->ring);
		io_uring_prep_read_fixed(sqe, fd, mem, 4096, 0, 0);
		t_check_eq(io_uring_submit_and_wait(&r->ring, 1), 1);
		t_ok(io_uring_wait_cqe(&r->ring, &cqe));
		printf("# kernel %s: a polled read on that file completes with %d\n", kern.release,
		       cqe->res);
		if (kern.ver >= KV(6, 18))
			t_check_eq(cqe->res, -EOPNOTSUPP);
		io_uring_cqe_seen(&r->ring, cqe);
	}
	/* Buffered. */
	bfd = open("/proc/self/exe", O_RDONLY);
	t_check(bfd >= 0);
	ret = poll_refused_on(pool, bfd, mem, "O_DIRECT");
	close(bfd);
	if (ret != T_PASS)
		return ret;
	/* A char device that is not an NVMe namespace. */
	n = open("/dev/null", O_RDWR);
	t_check(n >= 0);
	t_check_eq(regbuf_uring_poll_check(n, why, sizeof(why)), -EOPNOTSUPP);
	t_check(strstr(why, "not an NVMe namespace") != NULL);
	close(n);
	/* tmpfs: no block device under it (O_DIRECT there is 6.6+). */
	tfd = mkstemp(tmpf);
	if (tfd >= 0) {
		unlink(tmpf);
		if (fcntl(tfd, F_SETFL, O_DIRECT) == 0 && ftruncate(tfd, MiB) == 0) {
			ret = poll_refused_on(pool, tfd, mem, "on no block device");
			if (ret != T_PASS)
				return ret;
		}
		close(tfd);
	}
	/* A loop device (no poll queues), where one can be made. */
	lfd = loop_attach(MiB, dev, sizeof(dev), backing, &ret);
	if (lfd >= 0) {
		ret = poll_refused_on(pool, lfd, mem, "/queue/io_poll is 0");
		loop_detach(lfd, dev, backing);
		if (ret != T_PASS)
			return ret;
	}
	/* Unregistered I/O is refused alike. */
	regbuf_uring_pool_destroy(pool);
	t_ok(regbuf_uring_pool_create(&pool, 1, 8, 0,
				      REGBUF_URING_POOL_F_IOPOLL | REGBUF_URING_POOL_F_NO_REGISTER));
	t_ok(regbuf_uring_pool_register(pool, &iov, 1, 0));
	ret = poll_refused_on(pool, fd, mem, "/queue/io_poll is 0");
	regbuf_uring_pool_destroy(pool);
	close(fd);
	munmap(mem, MiB);
	return ret;
}

/* Hybrid polling: a ring with IORING_SETUP_HYBRID_IOPOLL from 6.13, -EOPNOTSUPP before. */
static int hybrid_iopoll_by_kernel(void)
{
	struct regbuf_uring_pool *pool;
	int ret;

	t_kernel_agrees();
	ret = regbuf_uring_pool_create(&pool, 2, 8, 0, REGBUF_URING_POOL_F_HYBRID_IOPOLL);
	if (kern.ver && kern.ver < KV(6, 13)) {
		t_check_eq(ret, -EOPNOTSUPP);
		return T_PASS;
	}
	t_ok(ret);
	t_check_eq(regbuf_uring_pool_ring(pool, 1)->ring.flags &
		   (IORING_SETUP_IOPOLL | IORING_SETUP_HYBRID_IOPOLL),
		   IORING_SETUP_IOPOLL | IORING_SETUP_HYBRID_IOPOLL);
	regbuf_uring_pool_destroy(pool);
	/* Without IOPOLL the kernel refuses the flag: the pool never asks for that. */
	t_check_eq(regbuf_uring_pool_create(&pool, 1, 8, IORING_SETUP_HYBRID_IOPOLL, 0), -EINVAL);
	return T_PASS;
}

/*
 * Buffer tags on a polling ring: updating slots with no I/O in flight posts
 * each old buffer's tag on ring 0, as on any ring.  Waiting polls, and with
 * nothing to poll returns at once: bounded here by a deadline (6.1 puts the
 * old buffers from delayed work, up to a second later).  What unregistering
 * posts is printed, not checked: 6.1 posts no tags for it, 6.18 one a slot.
 */
static int tags_on_polling_ring(void)
{
	struct regbuf_uring_pool *pool;
	struct regbuf_uring_ring *r0;
	struct io_uring_cqe *cqe;
	uint8_t *mem = map_anon(256 * KiB);
	struct iovec iov[2] = { { mem, 64 * KiB }, { mem + 64 * KiB, 64 * KiB } };
	struct iovec repl[2] = { { mem + 128 * KiB, 64 * KiB }, { mem + 192 * KiB, 64 * KiB } };
	unsigned int seen = 0, tags = 0;
	uint64_t t0;

	t_kernel_agrees();
	t_check(mem != NULL);
	t_ok(regbuf_uring_pool_create(&pool, 2, 8, 0, REGBUF_URING_POOL_F_IOPOLL));
	t_ok(regbuf_uring_pool_register(pool, iov, 2, 0));
	r0 = regbuf_uring_pool_ring(pool, 0);
	t_check_eq(regbuf_uring_pool_update(pool, 0, repl, 2), 2);
	for (t0 = uring_now_ns(); seen != 3 && uring_now_ns() - t0 < 5000000000ULL;) {
		if (io_uring_peek_cqe(&r0->ring, &cqe))
			continue;
		t_check(regbuf_uring_cqe_is_tag(cqe));
		t_check(regbuf_uring_tag_slot(cqe) < 2);
		seen |= 1U << regbuf_uring_tag_slot(cqe);
		io_uring_cqe_seen(&r0->ring, cqe);
	}
	t_check_eq(seen, 3);	/* the tags of both old buffers */
	t_ok(regbuf_uring_pool_unregister(pool));
	for (t0 = uring_now_ns(); uring_now_ns() - t0 < 1500000000ULL;) {
		if (io_uring_peek_cqe(&r0->ring, &cqe))
			continue;
		t_check(regbuf_uring_cqe_is_tag(cqe));
		tags++;
		io_uring_cqe_seen(&r0->ring, cqe);
	}
	printf("# kernel %s: unregistering a polling ring's 2 buffers posted %u tags\n",
	       kern.release, tags);
	regbuf_uring_pool_destroy(pool);
	munmap(mem, 256 * KiB);
	return T_PASS;
}

/* What registering @iov in a fresh ring adds to VmPin: the kernel's own charge. */
static int64_t kernel_charge(const struct iovec *iov, unsigned int nr)
{
	struct io_uring ring;
	uint64_t before, after;
	int ret;

	if (io_uring_queue_init(8, &ring, 0))
		return -1;
	before = vm_pin();
	ret = io_uring_register_buffers(&ring, iov, nr);
	after = vm_pin();
	if (!ret)
		io_uring_unregister_buffers(&ring);
	io_uring_queue_exit(&ring);
	return ret ? ret : (int64_t)(after - before);
}

/*
 * The preflight's charge is the kernel's on THP memory, where it depends on
 * which 2 MiB blocks are huge and on the kernel's last_hpage across buffers
 * (io_buffer_account_pin()).  The kernel's figure is what registering adds
 * to VmPin, which io_account_mem() raises whatever the capability.  Mapping
 * @mix: block 2 of 4 has small pages (MADV_NOHUGEPAGE), the others THPs.
 */
static int memlock_estimate_matches_kernel_thp(void)
{
	uint8_t *raw = mmap(NULL, 10 * MiB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
			    -1, 0), *m, *mix;
	struct {
		const char *name;
		unsigned int nr;
		struct iovec iov[3];
	} cases[8];
	struct regbuf_uring_memlock ml;
	uint64_t huge[4], m_huge;
	unsigned int i, k;
	int64_t kc;

	t_check(raw != MAP_FAILED);
	m = map_thp(8 * MiB);
	mix = (uint8_t *)(((uintptr_t)raw + 2 * MiB - 1) & ~(uintptr_t)(2 * MiB - 1));
	t_check(m != NULL);
	t_check(!madvise(mix, 8 * MiB, MADV_HUGEPAGE));
	t_check(!madvise(mix + 4 * MiB, 2 * MiB, MADV_NOHUGEPAGE));
	memset(mix, 1, 8 * MiB);
	for (k = 0; k < 4; k++) {
		int ret = regbuf_mem_huge_bytes(mix + k * 2 * MiB, 2 * MiB, &huge[k]);

		if (ret == -EOPNOTSUPP)
			return t_skip("this kernel cannot tell which blocks are THPs (PAGEMAP_SCAN, "
				      "Linux 6.7)");
		t_ok(ret);
	}
	if (regbuf_mem_huge_bytes(m, 8 * MiB, &m_huge) || m_huge != 8 * MiB || huge[0] != 2 * MiB ||
	    huge[1] != 2 * MiB || huge[2] || huge[3] != 2 * MiB)
		return t_skip("THP did not back the mappings (/sys/kernel/mm/transparent_hugepage)");
	cases[0] = (typeof(cases[0])){ "whole THPs", 1, { { m, 8 * MiB } } };
	cases[1] = (typeof(cases[0])){ "partial THPs at both ends", 1,
				       { { m + 4 * KiB, 6 * MiB - 8 * KiB } } };
	cases[2] = (typeof(cases[0])){ "a later buffer in the last THP charged", 2,
				       { { m, 6 * MiB }, { m + 4 * MiB + 4 * KiB, 4 * KiB } } };
	cases[3] = (typeof(cases[0])){ "a later buffer in an earlier THP", 2,
				       { { m, 6 * MiB }, { m + 4 * KiB, 4 * KiB } } };
	cases[4] = (typeof(cases[0])){ "last THP charged before small pages", 2,
				       { { mix, 6 * MiB }, { mix + 2 * MiB + 4 * KiB, 4 * KiB } } };
	cases[5] = (typeof(cases[0])){ "a buffer starting where the last one's THP is", 2,
				       { { m + 2 * MiB - 4 * KiB, 4 * KiB }, { m, 4 * MiB } } };
	cases[6] = (typeof(cases[0])){ "small pages between", 1,
				       { { mix + 4 * KiB, 8 * MiB - 8 * KiB } } };
	cases[7] = (typeof(cases[0])){ "the newest THP charged decides", 3,
				       { { m, 2 * MiB }, { m + 4 * MiB, 2 * MiB },
					 { m + 4 * MiB + 4 * KiB, 4 * KiB } } };
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		t_ok(regbuf_uring_memlock_estimate(&ml, cases[i].iov, cases[i].nr, 1));
		kc = kernel_charge(cases[i].iov, cases[i].nr);
		if (kc < 0)
			return t_skip("registering %s: %s", cases[i].name, strerror((int)-kc));
		if ((int64_t)ml.needed != kc)
			return T_FAILF("%s: preflight %llu bytes, kernel %lld", cases[i].name,
				       (unsigned long long)ml.needed, (long long)kc);
	}
	munmap(m, 8 * MiB);
	munmap(raw, 10 * MiB);
	return T_PASS;
}

static const struct t_case cases[] = {
	T_CASE(io_uring_blocked_errno_documented),
	T_CASE(update_ring_cannot_follow_drops_table),
	T_CASE(integrity_odirect_file_every_ring),
	T_CASE(integrity_loop_device_every_ring),
	T_CASE(clone_errors_unchanged),
	T_CASE(clone_range_replace_layout),
	T_CASE(clone_concurrent_both_ways),
	T_CASE(clone_single_issuer_other_task),
	T_CASE(io_on_clone_after_source_closed),
	T_CASE(register_errors_unchanged),
	T_CASE(sparse_then_update),
	T_CASE(update_while_in_flight),
	T_CASE(mirror_table_follows_updates),
	T_CASE(mirror_table_shrinks),
	T_CASE(rwv_fixed_native_and_split),
	T_CASE(arena_over_1g_io_across_boundary),
	T_CASE(pointer_boundaries),
	T_CASE(pointer_failed_piece_is_known),
	T_CASE(alloc_buffers_through_every_ring),
	T_CASE(misaligned_odirect_rejected_nothing_written),
	T_CASE(memlock_unprivileged_preflight_matches_kernel),
	T_CASE(memlock_prlimit_setpriv_exec),
	T_CASE(ring_memlock_matches_kernel_layout),
	T_CASE(ring_creation_refused_explained),
	T_CASE(pool_of_1024_rings),
	T_CASE(fork_workers_charged_once),
	T_CASE(fork_private_memory_and_single_issuer),
	T_CASE(grow_shrink_while_rings_do_io),
	T_CASE(grow_refused_by_memlock_keeps_registration),
	T_CASE(grow_shrink_refusals),
	T_CASE(status_reports_path_and_cost),
	T_CASE(probe_agrees_with_kernel_and_pool),
	T_CASE(dio_align_query),
	T_CASE(failed_register_state),
	T_CASE(pool_api_abuse),
	T_CASE(io_api_abuse),
	T_CASE(memlock_status_real_limits),
	T_CASE(file_table_io_every_ring),
	T_CASE(file_table_errors),
	T_CASE(poll_refused_with_reason),
	T_CASE(hybrid_iopoll_by_kernel),
	T_CASE(tags_on_polling_ring),
	T_CASE(memlock_estimate_matches_kernel_thp),
};

int main(int argc, char **argv)
{
	if (getenv("REGBUF_URING_MEMLOCK_CHILD"))
		return memlock_exec_child();
	return t_main("uring", cases, sizeof(cases) / sizeof(cases[0]), argc, argv);
}
