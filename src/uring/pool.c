// SPDX-License-Identifier: MIT
/*
 * uring: ring pool, registration mirrored into every ring (register once +
 * clone, or register again), tags, updates, status.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <regbuf/table.h>

#include "sys/compat.h"
#include "sys/kbuf.h"
#include "uring/pool.h"
#include "uring/uring.h"

#define POOL_FLAGS (REGBUF_URING_POOL_F_DEGRADE | REGBUF_URING_POOL_F_NO_REGISTER | \
		    REGBUF_URING_POOL_F_NO_PREFLIGHT | REGBUF_URING_POOL_F_NO_CLONE | \
		    REGBUF_URING_POOL_F_CLONE_WHOLE_ONLY | REGBUF_URING_POOL_F_NO_RWV_FIXED | \
		    REGBUF_URING_POOL_F_NVME_CMD | REGBUF_URING_POOL_F_IOPOLL | \
		    REGBUF_URING_POOL_F_HYBRID_IOPOLL)

uint64_t uring_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* The pool's clone path, from the one clone prober (uring/probe.c). */
static void probe_clone(struct regbuf_uring_pool *pool)
{
	int whole, ranges;

	uring_probe_clone(&pool->rings[0].ring, &whole, &ranges);
	pool->clone_ok = !whole;
	pool->clone_range_ok = !whole && !ranges;
	if (pool->flags & REGBUF_URING_POOL_F_NO_CLONE)
		pool->clone_ok = false;
	if (pool->flags & (REGBUF_URING_POOL_F_NO_CLONE | REGBUF_URING_POOL_F_CLONE_WHOLE_ONLY))
		pool->clone_range_ok = false;
}

/* READV/WRITEV_FIXED (6.15), unless the caller asked to behave as before. */
static bool probe_rwv_fixed(struct regbuf_uring_pool *pool)
{
	struct regbuf_uring_features f;

	if (pool->flags & REGBUF_URING_POOL_F_NO_RWV_FIXED)
		return false;
	memset(&f, 0, sizeof(f));
	uring_probe_ops(&pool->rings[0].ring, &f);
	return f.readv_fixed && f.writev_fixed;
}

/*
 * One ring, with IORING_SETUP_NO_SQARRAY (Linux 6.6) where the kernel has it:
 * liburing queues SQE i at SQ index i, so the index array the kernel would
 * read for every SQE says nothing.  liburing 2.3's io_uring_queue_init() fills
 * that array at the offset the kernel reports, which for a ring without one
 * is 0, the heads and tails: so the ring is set up and mapped here, and the
 * identity array written only when there is one.  0 or -errno.
 */
static int ring_init(struct io_uring *ring, uint32_t entries, uint32_t setup_flags)
{
	struct io_uring_params p;
	uint32_t i;
	int fd, ret;

	memset(&p, 0, sizeof(p));
	p.flags = setup_flags | IORING_SETUP_NO_SQARRAY;
	fd = io_uring_setup(entries, &p);
	if (fd == -EINVAL) {
		/* Before 6.6; or the caller's flags are invalid, which this says again. */
		memset(&p, 0, sizeof(p));
		p.flags = setup_flags;
		fd = io_uring_setup(entries, &p);
	}
	if (fd < 0)
		return fd;
	ret = io_uring_queue_mmap(fd, &p, ring);
	if (ret) {
		close(fd);
		return ret;
	}
	if (!(p.flags & IORING_SETUP_NO_SQARRAY))
		for (i = 0; i < ring->sq.ring_entries; i++)
			ring->sq.array[i] = i;
	ring->features = p.features;
	return 0;
}

/*
 * The setup flags of the pool's rings.  Hybrid polling is refused by a kernel
 * without it (before 6.13) as an unknown flag, -EINVAL: when a ring with
 * plain IORING_SETUP_IOPOLL works, say -EOPNOTSUPP instead.
 */
static uint32_t pool_setup_flags(uint32_t setup_flags, unsigned int flags)
{
	/* NVMe passthrough carries a 64-byte command in the SQE and DW0 in the CQE. */
	if (flags & REGBUF_URING_POOL_F_NVME_CMD)
		setup_flags |= IORING_SETUP_SQE128 | IORING_SETUP_CQE32;
	if (flags & (REGBUF_URING_POOL_F_IOPOLL | REGBUF_URING_POOL_F_HYBRID_IOPOLL))
		setup_flags |= IORING_SETUP_IOPOLL;
	if (flags & REGBUF_URING_POOL_F_HYBRID_IOPOLL)
		setup_flags |= IORING_SETUP_HYBRID_IOPOLL;
	return setup_flags;
}

static int hybrid_missing(uint32_t entries, uint32_t setup_flags, struct regbuf_uring_status *st)
{
	struct io_uring ring;

	if (ring_init(&ring, entries, setup_flags & ~IORING_SETUP_HYBRID_IOPOLL))
		return -EINVAL;
	io_uring_queue_exit(&ring);
	st->err = -EOPNOTSUPP;
	snprintf(st->reason, sizeof(st->reason),
		 "the kernel has IORING_SETUP_IOPOLL but no IORING_SETUP_HYBRID_IOPOLL (Linux 6.13)");
	return -EOPNOTSUPP;
}

/*
 * The rings' own memory against RLIMIT_MEMLOCK (charged since Linux 6.14):
 * fills @st->memlock; -ENOMEM with the reason when it cannot fit.
 */
static int ring_preflight(uint32_t nr_rings, uint32_t entries, uint32_t setup_flags,
			  unsigned int flags, struct regbuf_uring_status *st)
{
	struct regbuf_uring_memlock *ml = &st->memlock;

	memset(ml, 0, sizeof(*ml));
	uring_memlock_limits(ml, uring_memlock_charged());
	ml->new_rings = nr_rings;
	ml->charges = nr_rings;
	ml->needed = regbuf_uring_ring_memlock(entries, setup_flags) * nr_rings;
	if ((flags & REGBUF_URING_POOL_F_NO_PREFLIGHT) || regbuf_uring_memlock_fits(ml))
		return 0;
	st->err = -ENOMEM;
	regbuf_uring_memlock_explain(ml, st->reason, sizeof(st->reason));
	return -ENOMEM;
}

/*
 * io_uring_setup() refused ring @i: say why.  -ENOMEM from a charged
 * user is RLIMIT_MEMLOCK on kernels that charge rings (the preflight cannot
 * see what the user's other processes have locked), or -EMFILE the
 * descriptors.
 */
static void ring_refused(struct regbuf_uring_status *st, uint32_t i, uint32_t nr_rings, int err)
{
	int n;

	st->err = err;
	if (err == -ENOMEM && st->memlock.charged && st->memlock.needed) {
		n = snprintf(st->reason, sizeof(st->reason), "the kernel refused ring %u of %u: ",
			     i, nr_rings);
		if (n > 0 && (size_t)n < sizeof(st->reason))
			regbuf_uring_memlock_explain(&st->memlock, st->reason + n,
						     sizeof(st->reason) - (size_t)n);
		return;
	}
	snprintf(st->reason, sizeof(st->reason), "io_uring_setup() of ring %u of %u: %s (%d)%s",
		 i, nr_rings, strerror(-err), err,
		 err == -EMFILE || err == -ENFILE ? "; each ring is a file descriptor: raise "
		 "RLIMIT_NOFILE ('ulimit -n') or use fewer rings" : "");
}

int regbuf_uring_pool_create_report(struct regbuf_uring_pool **poolp, uint32_t nr_rings,
				    uint32_t entries, uint32_t setup_flags, unsigned int flags,
				    struct regbuf_uring_status *report)
{
	struct regbuf_uring_status local, *st = report ? report : &local;
	struct regbuf_uring_pool *pool;
	uint32_t i;
	int ret;

	memset(st, 0, sizeof(*st));
	if (!poolp || !nr_rings || nr_rings > REGBUF_URING_POOL_MAX_RINGS || !entries ||
	    (flags & ~POOL_FLAGS)) {
		st->err = -EINVAL;
		snprintf(st->reason, sizeof(st->reason), "invalid argument");
		return -EINVAL;
	}
	setup_flags = pool_setup_flags(setup_flags, flags);
	ret = ring_preflight(nr_rings, entries, setup_flags, flags, st);
	if (ret)
		return ret;
	ret = -ENOMEM;
	pool = calloc(1, sizeof(*pool));
	if (!pool)
		goto out_report;
	pool->rings = calloc(nr_rings, sizeof(*pool->rings));
	pool->closed = calloc(nr_rings, sizeof(*pool->closed));
	if (!pool->rings || !pool->closed || map_init(pool))
		goto out_free_pool;
	pool->nr_rings = nr_rings;
	pool->flags = flags;
	pool->max_buf_len = REGBUF_BUF_MAX_LEN;
	pool->charged = st->memlock.charged;
	for (i = 0; i < nr_rings; i++) {
		ret = ring_init(&pool->rings[i].ring, entries, setup_flags);
		if (ret == -EINVAL && !i && (setup_flags & IORING_SETUP_HYBRID_IOPOLL) &&
		    (setup_flags & IORING_SETUP_IOPOLL))
			ret = hybrid_missing(entries, setup_flags, st);
		if (ret < 0) {
			if (!st->err)
				ring_refused(st, i, nr_rings, ret);
			goto out_exit_rings;
		}
		pool->rings[i].pool = pool;
		pool->rings[i].idx = i;
		pool->rings[i].iopoll = setup_flags & IORING_SETUP_IOPOLL;
		pool->rings[i].map = pool->map;
	}
	pool->ring_bytes = pool->charged ? uring_ring_charge(&pool->rings[0].ring) * nr_rings : 0;
	probe_clone(pool);
	pool->rwv_fixed = probe_rwv_fixed(pool);
	for (i = 0; i < nr_rings; i++)
		pool->rings[i].rwv_fixed = pool->rwv_fixed;
	pool->st.nr_rings = nr_rings;
	pool->st.memlock = st->memlock;
	pool->st.memlock.new_rings = 0;
	pool->st.memlock.needed = 0;
	pool->st.memlock.charges = 0;
	pool->st.memlock.rings = pool->ring_bytes;
	*st = pool->st;
	*poolp = pool;
	return 0;

out_exit_rings:
	while (i--)
		io_uring_queue_exit(&pool->rings[i].ring);
out_free_pool:
	map_free(pool);
	free(pool->closed);
	free(pool->rings);
	free(pool);
out_report:
	if (ret == -ENOMEM && !st->err) {
		st->err = ret;
		snprintf(st->reason, sizeof(st->reason), "out of memory for the pool");
	}
	return ret;
}

int regbuf_uring_pool_create(struct regbuf_uring_pool **poolp, uint32_t nr_rings,
			     uint32_t entries, uint32_t setup_flags, unsigned int flags)
{
	return regbuf_uring_pool_create_report(poolp, nr_rings, entries, setup_flags, flags, NULL);
}

/* Put the references regbuf_uring_pool_mirror() holds: the next mirror registers afresh. */
static void drop_mirror(struct regbuf_uring_pool *pool)
{
	uint32_t i;

	for (i = 0; i < pool->mirror_nr; i++)
		regbuf_buf_put(pool->mirror[i]);
	free(pool->mirror);
	pool->mirror = NULL;
	pool->mirror_nr = 0;
}

void regbuf_uring_pool_destroy(struct regbuf_uring_pool *pool)
{
	uint32_t i;

	if (!pool)
		return;
	for (i = 0; i < pool->nr_rings; i++)
		if (!pool->closed[i])
			io_uring_queue_exit(&pool->rings[i].ring);
	drop_mirror(pool);
	map_free(pool);
	free(pool->files);
	free(pool->slots);
	free(pool->closed);
	free(pool->rings);
	free(pool);
}

int regbuf_uring_pool_set_buf_len(struct regbuf_uring_pool *pool, uint64_t len)
{
	if (!pool || len < 4096 || len > REGBUF_BUF_MAX_LEN || (len & 4095))
		return -EINVAL;
	if (pool->registered || pool->st.state != REGBUF_URING_REG_NONE)
		return -EBUSY;
	pool->max_buf_len = len;
	return 0;
}

struct regbuf_uring_ring *regbuf_uring_pool_ring(struct regbuf_uring_pool *pool, uint32_t idx)
{
	if (!pool || idx >= pool->nr_rings || pool->closed[idx])
		return NULL;
	return &pool->rings[idx];
}

int regbuf_uring_pool_close_ring(struct regbuf_uring_pool *pool, uint32_t idx)
{
	if (!pool || idx >= pool->nr_rings || pool->closed[idx])
		return -EINVAL;
	io_uring_queue_exit(&pool->rings[idx].ring);
	pool->closed[idx] = true;
	return 0;
}

int regbuf_uring_ring_enable(struct regbuf_uring_ring *r)
{
	int ret;

	if (!r)
		return -EINVAL;
	/* Direct: liburing 2.3 declares io_uring_enable_rings() but does not export it. */
	ret = io_uring_register(r->ring.ring_fd, IORING_REGISTER_ENABLE_RINGS, NULL, 0);
	return ret < 0 ? ret : 0;
}

/* The first open ring: the source of clones. */
static struct regbuf_uring_ring *src_ring(struct regbuf_uring_pool *pool)
{
	uint32_t i;

	for (i = 0; i < pool->nr_rings; i++)
		if (!pool->closed[i])
			return &pool->rings[i];
	return NULL;
}

static bool degrades(const struct regbuf_uring_pool *pool)
{
	return pool->flags & REGBUF_URING_POOL_F_DEGRADE;
}

/* Split entries longer than 1 GiB into consecutive kernel buffers. */
static int expand_iov(const struct iovec *iov, uint32_t nr, uint64_t max_len,
		      struct iovec **outp, uint32_t *nrp)
{
	struct iovec *out;
	uint64_t total = 0, len, base, chunk;
	uint32_t i, n = 0;

	for (i = 0; i < nr; i++) {
		len = iov[i].iov_len;
		total += len ? (len + max_len - 1) / max_len : 1;
		if (total > URING_MAX_REG_BUFFERS)
			return -EINVAL;
	}
	out = calloc(total ? total : 1, sizeof(*out));
	if (!out)
		return -ENOMEM;
	for (i = 0; i < nr; i++) {
		base = (uint64_t)(uintptr_t)iov[i].iov_base;
		len = iov[i].iov_len;
		if (!len) {
			out[n++] = iov[i];
			continue;
		}
		while (len) {
			chunk = len < max_len ? len : max_len;
			out[n].iov_base = (void *)(uintptr_t)base;
			out[n].iov_len = chunk;
			n++;
			base += chunk;
			len -= chunk;
		}
	}
	*outp = out;
	*nrp = n;
	return 0;
}

static uint64_t make_tag(struct regbuf_uring_pool *pool, uint32_t slot)
{
	return REGBUF_URING_TAG_BIT | ((pool->gen & 0x7fffffffffffULL) << 16) | slot;
}

static void unregister_all(struct regbuf_uring_pool *pool)
{
	uint32_t i;

	for (i = 0; i < pool->nr_rings; i++)
		if (!pool->closed[i])
			(void)io_uring_unregister_buffers(&pool->rings[i].ring);
	pool->registered = false;
}

/* Forget the slots: nothing registered, nothing for unregistered I/O either. */
static void drop_slots(struct regbuf_uring_pool *pool)
{
	free(pool->slots);
	pool->slots = NULL;
	pool->nr_slots = 0;
	pool->st.nr_slots = 0;
	pool->st.nr_bytes = 0;
}

/*
 * A registration failed: record why and what it left.  With @degraded the
 * slots stay for unregistered I/O; otherwise nothing is left.
 */
static void set_failed(struct regbuf_uring_pool *pool, int err, const char *what, bool degraded)
{
	const char *left = degraded ? "; running unregistered I/O (REGBUF_URING_POOL_F_DEGRADE)"
				    : "; nothing is registered";
	int n;

	pool->st.state = REGBUF_URING_REG_FAILED;
	pool->st.err = err;
	pool->st.path = REGBUF_URING_PATH_NONE;
	pool->degraded = degraded;
	if (!degraded)
		drop_slots(pool);
	if (err == -ENOMEM && !regbuf_uring_memlock_fits(&pool->st.memlock))
		n = regbuf_uring_memlock_explain(&pool->st.memlock, pool->st.reason,
						 sizeof(pool->st.reason));
	else
		n = snprintf(pool->st.reason, sizeof(pool->st.reason),
			     "registration failed: %s: %s (%d)%s", what, strerror(-err), err,
			     err == -ENOMEM ? "; RLIMIT_MEMLOCK is the usual cause: raise it with "
					      "'ulimit -l', /etc/security/limits.conf (memlock) or "
					      "systemd LimitMEMLOCK=" : "");
	if (n >= 0 && (size_t)n < sizeof(pool->st.reason))
		snprintf(pool->st.reason + n, sizeof(pool->st.reason) - (size_t)n, "%s", left);
}

/*
 * Kernel io_buffer_validate(), entry by entry as __io_sqe_buffers_update()
 * applies them: the number of valid entries before the first invalid one,
 * or that entry's -errno when it is the first.
 */
static int valid_prefix(const struct iovec *iov, uint32_t nr)
{
	uint32_t i;
	int ret;

	for (i = 0; i < nr; i++) {
		ret = sys_kbuf_validate((uint64_t)(uintptr_t)iov[i].iov_base, iov[i].iov_len);
		if (ret < 0)
			return i ? (int)i : ret;
	}
	return (int)nr;
}

/*
 * The memlock preflight (kernel io_account_mem()) for registering @iov in
 * @charges rings: fills @ml with the real limits and the charge (also when
 * CAP_IPC_LOCK makes the kernel enforce neither).  0 or -errno.
 */
static int preflight(const struct regbuf_uring_pool *pool, struct regbuf_uring_memlock *ml,
		     const struct iovec *iov, uint32_t nr, uint32_t charges)
{
	int ret;

	/*
	 * Only an enforced, finite RLIMIT_MEMLOCK can refuse.  Otherwise the
	 * estimate (a walk of /proc/self/maps and the page map) is left to
	 * regbuf_uring_pool_status(), and registering costs what the kernel's
	 * own registration costs.
	 */
	if ((pool->flags & REGBUF_URING_POOL_F_NO_PREFLIGHT) ||
	    !uring_memlock_enforced(pool->charged)) {
		memset(ml, 0, sizeof(*ml));
		uring_memlock_limits(ml, pool->charged);
		ml->rings = pool->ring_bytes;
		return 0;
	}
	ret = uring_memlock_estimate(ml, iov, nr, charges, pool->charged);
	if (ret)
		return ret;
	ml->rings = pool->ring_bytes;
	return regbuf_uring_memlock_fits(ml) ? 0 : -ENOMEM;
}

/*
 * The memlock figures for what is registered now: the real limits (and
 * VmPin where they are enforced), and the charge of every slot.
 */
static void memlock_now(const struct regbuf_uring_pool *pool, struct regbuf_uring_memlock *ml)
{
	if (uring_memlock_estimate(ml, pool->slots, pool->nr_slots,
				   pool->clone_ok ? 1 : pool->nr_rings, pool->charged)) {
		memset(ml, 0, sizeof(*ml));
		uring_memlock_limits(ml, pool->charged);
	}
	ml->rings = pool->ring_bytes;
}

/* The registration changed: the status's memlock figures are made when asked for. */
static void status_memlock(struct regbuf_uring_pool *pool)
{
	pool->memlock_lazy = true;
}

/* The next open ring from index *@i on that is not @src (*@i moves past it), or NULL. */
static struct regbuf_uring_ring *next_other_ring(struct regbuf_uring_pool *pool,
						 const struct regbuf_uring_ring *src, uint32_t *i)
{
	for (; *i < pool->nr_rings; (*i)++) {
		struct regbuf_uring_ring *r = &pool->rings[*i];

		if (r != src && !pool->closed[*i]) {
			(*i)++;
			return r;
		}
	}
	return NULL;
}

/* Give rings other than @src the table @src has: clone, or register again. */
static int mirror_whole(struct regbuf_uring_pool *pool, struct regbuf_uring_ring *src,
			const struct iovec *iov, const __u64 *tags, uint32_t nr)
{
	uint64_t t0 = uring_now_ns();
	struct regbuf_uring_ring *r;
	uint32_t i = 0;
	int ret;

	while ((r = next_other_ring(pool, src, &i)) != NULL) {
		if (pool->clone_ok)
			ret = regbuf_uring_clone_buffers(&r->ring, &src->ring, 0, 0, 0, 0);
		else if (iov)
			ret = io_uring_register_buffers_tags(&r->ring, iov, tags, nr);
		else
			ret = io_uring_register_buffers_sparse(&r->ring, nr);
		if (ret < 0)
			return ret;
	}
	if (pool->clone_ok)
		pool->st.clone_ns += uring_now_ns() - t0;
	else
		pool->st.register_ns += uring_now_ns() - t0;
	return 0;
}

static enum regbuf_uring_path pool_path(const struct regbuf_uring_pool *pool)
{
	if (pool->nr_rings == 1)
		return REGBUF_URING_PATH_SINGLE;
	if (!pool->clone_ok)
		return REGBUF_URING_PATH_REGISTER;
	return pool->clone_range_ok ? REGBUF_URING_PATH_CLONE : REGBUF_URING_PATH_CLONE_WHOLE;
}

/* Register @kiov in @src and give the other rings the table: 0 or -errno. */
static int register_rings(struct regbuf_uring_pool *pool, struct regbuf_uring_ring *src,
			  const struct iovec *kiov, uint32_t knr)
{
	__u64 *tags;
	uint64_t t0;
	uint32_t i;
	int ret;

	tags = malloc((size_t)knr * sizeof(*tags));
	if (!tags)
		return -ENOMEM;
	for (i = 0; i < knr; i++)
		tags[i] = kiov[i].iov_len ? make_tag(pool, i) : 0;
	t0 = uring_now_ns();
	ret = io_uring_register_buffers_tags(&src->ring, kiov, tags, knr);
	pool->st.register_ns = uring_now_ns() - t0;
	if (ret < 0)
		goto out_free_tags;
	pool->registered = true;
	ret = mirror_whole(pool, src, kiov, tags, knr);
	if (ret < 0)
		unregister_all(pool);
out_free_tags:
	free(tags);
	return ret;
}

int regbuf_uring_pool_register(struct regbuf_uring_pool *pool, const struct iovec *iov,
			       uint32_t nr, unsigned int flags)
{
	struct regbuf_uring_ring *src;
	struct iovec *kiov;
	uint64_t bytes = 0;
	uint32_t knr, i;
	int ret;

	if (!pool || !iov || !nr || flags)
		return -EINVAL;
	if (pool->registered || pool->st.state == REGBUF_URING_REG_ACTIVE)
		return -EBUSY;
	src = src_ring(pool);
	if (!src)
		return -EINVAL;
	ret = expand_iov(iov, nr, pool->max_buf_len, &kiov, &knr);
	if (ret)
		return ret;
	/* A bad entry is the caller's bug, not a reason to degrade: refuse it first. */
	ret = valid_prefix(kiov, knr);
	if (ret < 0) {
		free(kiov);
		set_failed(pool, ret, "invalid entry (io_buffer_validate())", false);
		map_publish(pool, false);
		return ret;
	}
	for (i = 0; i < knr; i++)
		bytes += kiov[i].iov_len;

	free(pool->slots);
	pool->slots = kiov;
	pool->nr_slots = knr;
	pool->st.nr_slots = knr;
	pool->st.nr_bytes = bytes;
	pool->st.register_ns = 0;
	pool->st.clone_ns = 0;
	pool->st.err = 0;
	pool->st.reason[0] = '\0';

	if (pool->flags & REGBUF_URING_POOL_F_NO_REGISTER) {
		pool->st.state = REGBUF_URING_REG_DISABLED;
		pool->st.path = REGBUF_URING_PATH_NONE;
		snprintf(pool->st.reason, sizeof(pool->st.reason),
			 "registration disabled (REGBUF_URING_POOL_F_NO_REGISTER): "
			 "unregistered I/O");
		map_publish(pool, false);
		return 0;
	}

	pool->memlock_lazy = false;
	ret = preflight(pool, &pool->st.memlock, kiov, knr,
			pool->clone_ok ? 1 : pool->nr_rings);
	if (!ret)
		ret = register_rings(pool, src, kiov, knr);
	if (ret < 0) {
		set_failed(pool, ret, "IORING_REGISTER_BUFFERS2", degrades(pool));
		map_publish(pool, false);
		return degrades(pool) ? 0 : ret;
	}
	status_memlock(pool);
	pool->st.state = REGBUF_URING_REG_ACTIVE;
	pool->st.path = pool_path(pool);
	map_publish(pool, true);
	return 0;
}

int regbuf_uring_pool_register_sparse(struct regbuf_uring_pool *pool, uint32_t nr)
{
	struct regbuf_uring_ring *src;
	uint64_t t0;
	int ret;

	if (!pool || !nr || nr > URING_MAX_REG_BUFFERS)
		return -EINVAL;
	if (pool->registered)
		return -EBUSY;
	src = src_ring(pool);
	if (!src)
		return -EINVAL;
	free(pool->slots);
	pool->slots = calloc(nr, sizeof(*pool->slots));
	if (!pool->slots) {
		drop_slots(pool);
		return -ENOMEM;
	}
	pool->nr_slots = nr;
	pool->st.nr_slots = nr;
	pool->st.nr_bytes = 0;
	if (pool->flags & REGBUF_URING_POOL_F_NO_REGISTER) {
		pool->st.state = REGBUF_URING_REG_DISABLED;
		map_publish(pool, false);
		return 0;
	}
	t0 = uring_now_ns();
	ret = io_uring_register_buffers_sparse(&src->ring, nr);
	pool->st.register_ns = uring_now_ns() - t0;
	if (ret < 0)
		goto out_drop_slots;
	pool->registered = true;
	ret = mirror_whole(pool, src, NULL, NULL, nr);
	if (ret < 0)
		goto out_unregister;
	pool->st.state = REGBUF_URING_REG_ACTIVE;
	pool->st.path = pool_path(pool);
	map_publish(pool, true);
	status_memlock(pool);
	return 0;

out_unregister:
	unregister_all(pool);
out_drop_slots:
	drop_slots(pool);
	return ret;
}

/* Rings other than @src follow @src's update of slots [@off, @off + @done). */
static int update_other_rings(struct regbuf_uring_pool *pool, struct regbuf_uring_ring *src,
			      uint32_t off, const struct iovec *iov, const __u64 *tags,
			      uint32_t done)
{
	uint64_t t0 = uring_now_ns();
	struct regbuf_uring_ring *r;
	uint32_t i = 0;
	int ret;

	while ((r = next_other_ring(pool, src, &i)) != NULL) {
		if (pool->clone_range_ok) {
			ret = regbuf_uring_clone_buffers(&r->ring, &src->ring, off, off, done,
							 IORING_REGISTER_DST_REPLACE);
		} else if (pool->clone_ok) {
			/* 6.12: no ranges, and the destination must be empty.  Dropping
			 * the table keeps in-flight I/O safe (nodes are refcounted). */
			ret = io_uring_unregister_buffers(&r->ring);
			if (!ret)
				ret = regbuf_uring_clone_buffers(&r->ring, &src->ring, 0, 0, 0, 0);
		} else {
			ret = io_uring_register_buffers_update_tag(&r->ring, off, iov, tags, done);
			if (ret >= 0 && (uint32_t)ret != done)
				ret = -EIO;
		}
		if (ret < 0)
			return ret;
	}
	pool->st.clone_ns += uring_now_ns() - t0;
	return 0;
}

/*
 * Ring 0 took an update that another ring could not follow: the rings now
 * hold different buffers in those slots, and the map matches neither.  Drop
 * the table from every ring and fail the pool as a failed registration does
 * (unregistered I/O with REGBUF_URING_POOL_F_DEGRADE), rather than let I/O
 * reach a buffer other than the one its address names.  In-flight I/O keeps
 * its buffers (the kernel's nodes are refcounted).
 */
static void fail_diverged(struct regbuf_uring_pool *pool, int err)
{
	unregister_all(pool);
	drop_mirror(pool);
	set_failed(pool, err, "an update the other rings could not follow", degrades(pool));
	map_publish(pool, false);
}

/* Record slots [@off, @off + @done) as updated and publish them (@fixed: registered). */
static int commit_update(struct regbuf_uring_pool *pool, uint32_t off, const struct iovec *iov,
			 uint32_t done, bool fixed)
{
	uint32_t i;

	for (i = 0; i < done; i++)
		pool->slots[off + i] = iov[i];
	pool->st.nr_bytes = 0;
	for (i = 0; i < pool->nr_slots; i++)
		pool->st.nr_bytes += pool->slots[i].iov_len;
	map_publish(pool, fixed);
	return (int)done;
}

int regbuf_uring_pool_update(struct regbuf_uring_pool *pool, uint32_t off,
			     const struct iovec *iov, uint32_t nr)
{
	struct regbuf_uring_memlock ml;
	struct regbuf_uring_ring *src;
	__u64 *tags;
	uint64_t t0;
	uint32_t i;
	int ret, done;

	if (!pool || !iov || !nr)
		return -EINVAL;
	if (off + nr < off)
		return -EOVERFLOW;
	/* Unregistered I/O (disabled, or degraded after a failure) keeps slots too. */
	if (!pool->registered && !pool_unregistered_io(pool))
		return -ENXIO;
	if (off + nr > pool->nr_slots)
		return -EINVAL;
	ret = valid_prefix(iov, nr);
	if (ret < 0)
		return ret;
	nr = (uint32_t)ret;
	for (i = 0; i < nr; i++)
		if (iov[i].iov_len > pool->max_buf_len)
			return -EINVAL;	/* regbuf_uring_pool_set_buf_len() */
	if (!pool->registered)
		return commit_update(pool, off, iov, nr, false);

	src = src_ring(pool);
	ret = preflight(pool, &ml, iov, nr, pool->clone_ok ? 1 : pool->nr_rings);
	if (ret) {
		if (ret == -ENOMEM && !regbuf_uring_memlock_fits(&ml)) {
			pool->st.memlock = ml;
			pool->memlock_lazy = false;
			regbuf_uring_memlock_explain(&ml, pool->st.reason,
						     sizeof(pool->st.reason));
		}
		return ret;
	}

	tags = malloc((size_t)nr * sizeof(*tags));
	if (!tags)
		return -ENOMEM;
	pool->gen++;
	for (i = 0; i < nr; i++)
		tags[i] = iov[i].iov_len ? make_tag(pool, off + i) : 0;

	/* Kernel __io_sqe_buffers_update(): returns how many were done if any. */
	t0 = uring_now_ns();
	done = io_uring_register_buffers_update_tag(&src->ring, off, iov, tags, nr);
	pool->st.register_ns += uring_now_ns() - t0;
	if (done <= 0)
		ret = done < 0 ? done : -EINVAL;
	else
		ret = update_other_rings(pool, src, off, iov, tags, (uint32_t)done);
	free(tags);
	if (ret < 0) {
		if (done > 0)
			fail_diverged(pool, ret);
		return ret;
	}
	ret = commit_update(pool, off, iov, (uint32_t)done, true);
	status_memlock(pool);
	return ret;
}

/* The first run of @nr empty slots: its index, or -ENOSPC. */
static int64_t free_run(const struct regbuf_uring_pool *pool, uint32_t nr)
{
	uint32_t i, run = 0;

	for (i = 0; i < pool->nr_slots; i++) {
		run = pool->slots[i].iov_len ? 0 : run + 1;
		if (run == nr)
			return (int64_t)(i + 1 - nr);
	}
	return -ENOSPC;
}

/*
 * Empty slots [@off, @off + @nr) in @r again (a grow being undone): the
 * slots held nothing before, so the kernel only drops what it just pinned.
 */
static int empty_slots(struct io_uring *ring, uint32_t off, uint32_t nr)
{
	struct iovec *none = calloc(nr, sizeof(*none));
	__u64 *tags = calloc(nr, sizeof(*tags));
	int ret = -ENOMEM;

	if (none && tags)
		ret = io_uring_register_buffers_update_tag(ring, off, none, tags, nr);
	free(none);
	free(tags);
	return ret < 0 ? ret : (uint32_t)ret == nr ? 0 : -EIO;
}

/*
 * Give every ring slots [@off, @off + @nr) as @src has them, or undo a grow
 * that could not be completed: @src's slots are emptied and the other rings
 * follow.  0, or -errno when the rings could not be brought back together
 * (the caller then drops the table: fail_diverged()).
 */
static int grow_undo(struct regbuf_uring_pool *pool, struct regbuf_uring_ring *src, uint32_t off,
		     uint32_t nr)
{
	struct iovec *none;
	__u64 *tags;
	int ret;

	ret = empty_slots(&src->ring, off, nr);
	if (ret)
		return ret;
	none = calloc(nr, sizeof(*none));
	tags = calloc(nr, sizeof(*tags));
	ret = none && tags ? update_other_rings(pool, src, off, none, tags, nr) : -ENOMEM;
	free(none);
	free(tags);
	return ret;
}

/* A grow the kernel refused and that was undone: the reason, the registration unchanged. */
static void grow_refused(struct regbuf_uring_pool *pool, int err, const char *what,
			 uint32_t piece, uint32_t nr)
{
	snprintf(pool->st.reason, sizeof(pool->st.reason),
		 "grow refused, registration unchanged: %s %u of %u: %s (%d)%s", what, piece + 1,
		 nr, strerror(-err), err,
		 err == -ENOMEM && pool->charged ? "; RLIMIT_MEMLOCK is the usual cause: raise it "
		 "with 'ulimit -l', /etc/security/limits.conf (memlock) or systemd LimitMEMLOCK=" :
		 "");
}

/* Every entry of a grow is a range the kernel may take, none of them empty. */
static int grow_check(const struct iovec *kiov, uint32_t knr)
{
	uint32_t i;
	int ret = valid_prefix(kiov, knr);

	if (ret >= 0 && (uint32_t)ret != knr)
		ret = valid_prefix(kiov + ret, 1);
	if (ret < 0)
		return ret;
	for (i = 0; i < knr; i++)
		if (!kiov[i].iov_len)
			return -EINVAL;	/* nothing to register in this entry */
	return 0;
}

/*
 * Pin the new pieces into the source ring first: the slots are empty, so no
 * ring's I/O can use them yet, and the map does not show them until every
 * ring has them.  __io_sqe_buffers_update() stops at the first piece it
 * cannot pin and keeps the ones before it: undone here, and that piece
 * tried alone for its -errno.  0, or -errno with the pool's status set.
 */
static int grow_pin(struct regbuf_uring_pool *pool, struct regbuf_uring_ring *src, uint32_t off,
		    const struct iovec *kiov, __u64 *tags, uint32_t knr)
{
	int done = io_uring_register_buffers_update_tag(&src->ring, off, kiov, tags, knr);
	int ret;

	if (done < 0) {
		grow_refused(pool, done, "pinning piece", 0, knr);
		return done;
	}
	if ((uint32_t)done == knr)
		return 0;
	ret = io_uring_register_buffers_update_tag(&src->ring, off + (uint32_t)done, kiov + done,
						   tags + done, 1);
	if (ret >= 0) {
		/* It went in alone: keep it and let the undo below drop it too. */
		done++;
		ret = -EAGAIN;
	}
	if (done && empty_slots(&src->ring, off, (uint32_t)done))
		fail_diverged(pool, ret);
	else
		grow_refused(pool, ret, "pinning piece", (uint32_t)done, knr);
	return ret;
}

int regbuf_uring_pool_grow(struct regbuf_uring_pool *pool, const struct iovec *iov, uint32_t nr,
			   uint32_t *slot)
{
	struct regbuf_uring_memlock ml;
	struct regbuf_uring_ring *src;
	struct iovec *kiov;
	int64_t first;
	uint32_t knr, i, off;
	__u64 *tags = NULL;
	int ret;

	if (!pool || !iov || !nr || !slot)
		return -EINVAL;
	if (!pool->registered || pool->st.state != REGBUF_URING_REG_ACTIVE)
		return -ENXIO;
	if (pool->mirror)
		return -EBUSY;	/* the table's slots are regbuf_uring_pool_mirror()'s */
	src = src_ring(pool);
	ret = expand_iov(iov, nr, pool->max_buf_len, &kiov, &knr);
	if (ret)
		return ret;
	ret = grow_check(kiov, knr);
	if (ret < 0)
		goto out_free_kiov;
	first = free_run(pool, knr);
	if (first < 0) {
		ret = (int)first;
		goto out_free_kiov;
	}
	off = (uint32_t)first;
	/* What the new pieces add (clones are free): pinned memory plus that must fit. */
	ret = preflight(pool, &ml, kiov, knr, pool->clone_ok ? 1 : pool->nr_rings);
	if (ret) {
		if (ret == -ENOMEM && !regbuf_uring_memlock_fits(&ml)) {
			regbuf_uring_memlock_explain(&ml, pool->st.reason, sizeof(pool->st.reason));
			status_memlock(pool);
		}
		goto out_free_kiov;
	}
	tags = malloc((size_t)knr * sizeof(*tags));
	if (!tags) {
		ret = -ENOMEM;
		goto out_free_kiov;
	}
	pool->gen++;
	for (i = 0; i < knr; i++)
		tags[i] = make_tag(pool, off + i);

	ret = grow_pin(pool, src, off, kiov, tags, knr);
	if (ret < 0)
		goto out_free_tags;
	ret = update_other_rings(pool, src, off, kiov, tags, knr);
	if (ret < 0) {
		if (grow_undo(pool, src, off, knr))
			fail_diverged(pool, ret);
		else
			grow_refused(pool, ret, "another ring following piece", 0, knr);
		goto out_free_tags;
	}
	/* Every ring has the pieces: now the map shows them to lookups. */
	commit_update(pool, off, kiov, knr, true);
	status_memlock(pool);
	pool->st.reason[0] = '\0';
	*slot = off;
	ret = (int)knr;
out_free_tags:
	free(tags);
out_free_kiov:
	free(kiov);
	return ret;
}

int regbuf_uring_pool_shrink(struct regbuf_uring_pool *pool, uint32_t slot, uint32_t nr)
{
	struct regbuf_uring_ring *src;
	struct iovec *none;
	__u64 *tags;
	int ret;

	if (!pool || !nr)
		return -EINVAL;
	if (!pool->registered || pool->st.state != REGBUF_URING_REG_ACTIVE)
		return -ENXIO;
	if (pool->mirror)
		return -EBUSY;
	if (slot + nr < slot || slot + nr > pool->nr_slots)
		return -EINVAL;
	none = calloc(nr, sizeof(*none));
	tags = calloc(nr, sizeof(*tags));
	if (!none || !tags) {
		ret = -ENOMEM;
		goto out_free;
	}
	/*
	 * The map first: lookups stop finding the pieces before any ring drops
	 * them.  An SQE built from a lookup just before is refused by the kernel
	 * once its slot is empty (-EFAULT), or completes on the old buffer,
	 * which stays pinned until that I/O ends.
	 */
	commit_update(pool, slot, none, nr, true);
	src = src_ring(pool);
	ret = io_uring_register_buffers_update_tag(&src->ring, slot, none, tags, nr);
	if (ret >= 0)
		ret = (uint32_t)ret == nr ? update_other_rings(pool, src, slot, none, tags, nr)
					  : -EIO;
	if (ret < 0) {
		fail_diverged(pool, ret);
		goto out_free;
	}
	status_memlock(pool);
	ret = (int)nr;
out_free:
	free(none);
	free(tags);
	return ret;
}

int regbuf_uring_pool_unregister(struct regbuf_uring_pool *pool)
{
	struct regbuf_uring_ring *src;
	int ret;

	if (!pool)
		return -EINVAL;
	if (!pool->registered) {
		/* Unregistered I/O (disabled or degraded) ends here; nothing else to drop. */
		if (!pool_unregistered_io(pool))
			return -ENXIO;
		pool->st.state = REGBUF_URING_REG_NONE;
		drop_slots(pool);
		map_publish(pool, false);
		return 0;
	}
	src = src_ring(pool);
	ret = src ? io_uring_unregister_buffers(&src->ring) : 0;
	unregister_all(pool);
	drop_mirror(pool);
	pool->st.state = REGBUF_URING_REG_NONE;
	pool->st.path = REGBUF_URING_PATH_NONE;
	drop_slots(pool);
	map_publish(pool, false);
	return ret < 0 && ret != -ENXIO ? ret : 0;
}
void regbuf_uring_pool_status(const struct regbuf_uring_pool *pool,
			      struct regbuf_uring_status *st)
{
	*st = pool->st;
	if (pool->memlock_lazy)
		memlock_now(pool, &st->memlock);
}

/* The table's current buffers: a reference and an iovec per slot ({NULL, 0} if empty). */
static int snapshot_table(struct regbuf_table *t, uint32_t nr, struct regbuf_buf **bufs,
			  struct iovec *iov)
{
	struct regbuf_buf_info info;
	uint32_t i;

	for (i = 0; i < nr; i++) {
		iov[i] = (struct iovec){ NULL, 0 };
		if (regbuf_table_buf_get(t, i, &bufs[i])) {
			bufs[i] = NULL;	/* empty slot (io_find_buf_node(): -EFAULT) */
			continue;
		}
		if (regbuf_buf_info(bufs[i], &info))
			return -EINVAL;
		iov[i] = (struct iovec){ (void *)(uintptr_t)info.ubuf, info.len };
	}
	return 0;
}

static void put_all(struct regbuf_buf **bufs, uint32_t nr)
{
	uint32_t i;

	for (i = 0; i < nr; i++)
		regbuf_buf_put(bufs[i]);
}

/* Mirror slot @i already holds the table's buffer (slots past the table's end: empty). */
static bool mirror_same(const struct regbuf_uring_pool *pool, struct regbuf_buf **bufs,
			uint32_t nr, uint32_t i)
{
	return (i < nr ? bufs[i] : NULL) == pool->mirror[i];
}

/*
 * Update the runs of mirrored slots whose buffer object changed (not just the
 * address: the same address may now be different memory).  @bufs/@iov: the
 * table's @nr slots; references that move into the mirror are taken out of
 * @bufs.  Slots updated, or -errno (-EIO: the kernel applied part of a run).
 */
static int mirror_update_runs(struct regbuf_uring_pool *pool, struct regbuf_buf **bufs,
			      uint32_t nr, struct iovec *iov)
{
	uint32_t i, j, run;
	int ret, done = 0;

	for (i = 0; i < pool->mirror_nr; i += run) {
		run = 1;
		if (mirror_same(pool, bufs, nr, i))
			continue;
		while (i + run < pool->mirror_nr && !mirror_same(pool, bufs, nr, i + run))
			run++;
		for (j = i; j < i + run; j++)
			if (j >= nr)
				iov[j] = (struct iovec){ NULL, 0 };
		ret = regbuf_uring_pool_update(pool, i, iov + i, run);
		if (ret < 0)
			return ret;
		for (j = i; j < i + (uint32_t)ret; j++) {
			regbuf_buf_put(pool->mirror[j]);
			pool->mirror[j] = j < nr ? bufs[j] : NULL;
			if (j < nr)
				bufs[j] = NULL;	/* reference moved to the mirror */
		}
		done += ret;
		if ((uint32_t)ret < run)
			return -EIO;
	}
	return done;
}

int regbuf_uring_pool_mirror(struct regbuf_uring_pool *pool, struct regbuf_table *t,
			     unsigned int flags)
{
	struct regbuf_buf **bufs;
	struct iovec *iov;
	uint32_t nr, i;
	int ret;

	if (!pool || !t || flags)
		return -EINVAL;
	nr = regbuf_table_nr(t);
	if (!nr)
		return -ENXIO;
	bufs = calloc(nr, sizeof(*bufs));
	/* A table re-registered smaller empties the mirror's slots past its end:
	 * room for an iovec per mirrored slot, not just per table slot. */
	iov = calloc(nr > pool->mirror_nr ? nr : pool->mirror_nr, sizeof(*iov));
	if (!bufs || !iov) {
		ret = -ENOMEM;
		goto out_free;
	}
	ret = snapshot_table(t, nr, bufs, iov);
	if (ret)
		goto out_put;
	for (i = 0; i < nr; i++) {
		if (iov[i].iov_len > pool->max_buf_len) {
			/* It would take several kernel slots: table slot i is no longer kernel slot i. */
			ret = -EINVAL;
			goto out_put;
		}
	}

	if (pool->mirror && nr > pool->mirror_nr && pool->registered) {
		/* The kernel cannot grow a table by update: register it afresh
		 * (unregister drops the mirror's references).  In-flight I/O
		 * keeps its buffers (nodes are refcounted). */
		ret = regbuf_uring_pool_unregister(pool);
		if (ret)
			goto out_put;
	}
	if (!pool->mirror) {
		ret = regbuf_uring_pool_register(pool, iov, nr, 0);
		if (ret)
			goto out_put;
		pool->mirror = bufs;
		pool->mirror_nr = nr;
		free(iov);
		return (int)nr;
	}
	ret = mirror_update_runs(pool, bufs, nr, iov);
out_put:
	put_all(bufs, nr);
out_free:
	free(bufs);
	free(iov);
	return ret;
}

/* ---- the file table ---- */

/* Unregister the file table from every open ring up to (not including) @end. */
static void files_drop(struct regbuf_uring_pool *pool, uint32_t end)
{
	uint32_t i;

	for (i = 0; i < end; i++)
		if (!pool->closed[i])
			(void)io_uring_unregister_files(&pool->rings[i].ring);
}

int regbuf_uring_pool_register_files(struct regbuf_uring_pool *pool, uint32_t nr)
{
	uint32_t i;
	int *fds, ret;

	if (!pool || !nr || !src_ring(pool))
		return -EINVAL;
	if (pool->files)
		return -EBUSY;
	fds = malloc((size_t)nr * sizeof(*fds));
	if (!fds)
		return -ENOMEM;
	for (i = 0; i < nr; i++)
		fds[i] = -1;
	/*
	 * IORING_REGISTER_FILES with every slot empty (-1): io_uring has no clone
	 * for files, so each ring registers its own table.  Called directly, not
	 * through liburing's wrapper, which raises RLIMIT_NOFILE behind the
	 * caller's back when the kernel answers -EMFILE.
	 */
	for (i = 0; i < pool->nr_rings; i++) {
		if (pool->closed[i])
			continue;
		ret = io_uring_register(pool->rings[i].ring.ring_fd, IORING_REGISTER_FILES, fds, nr);
		if (ret < 0)
			goto out_drop;
	}
	pool->files = fds;
	pool->nr_files = nr;
	return 0;

out_drop:
	files_drop(pool, i);
	free(fds);
	return ret;
}

/* Slot @slot of every open ring's file table becomes @fd (-1: empty); 0 or -errno. */
static int files_set(struct regbuf_uring_pool *pool, uint32_t slot, int fd)
{
	int none = -1, ret;
	uint32_t i;

	for (i = 0; i < pool->nr_rings; i++) {
		if (pool->closed[i])
			continue;
		ret = io_uring_register_files_update(&pool->rings[i].ring, slot, &fd, 1);
		if (ret < 0)
			goto out_undo;
	}
	pool->files[slot] = fd;
	return 0;

out_undo:
	/* The rings before @i took it: put them back, so that every ring agrees. */
	while (i--)
		if (!pool->closed[i])
			(void)io_uring_register_files_update(&pool->rings[i].ring, slot,
							     fd >= 0 ? &none : &pool->files[slot],
							     1);
	return ret;
}

int regbuf_uring_pool_file_add(struct regbuf_uring_pool *pool, struct regbuf_uring_file *f)
{
	uint32_t slot;
	int ret;

	if (!pool || !f || f->fd < 0)
		return -EINVAL;
	if (f->pool)
		return -EBUSY;
	if (!pool->files)
		return -ENXIO;
	for (slot = 0; slot < pool->nr_files && pool->files[slot] >= 0; slot++)
		;
	/* io_file_bitmap_get(): a full table is -ENFILE. */
	if (slot == pool->nr_files)
		return -ENFILE;
	ret = files_set(pool, slot, f->fd);
	if (ret)
		return ret;
	f->slot = slot;
	f->pool = pool;
	return 0;
}

int regbuf_uring_pool_file_remove(struct regbuf_uring_pool *pool, struct regbuf_uring_file *f)
{
	int ret;

	if (!pool || !f || f->pool != pool || f->slot >= pool->nr_files)
		return -EINVAL;
	ret = files_set(pool, f->slot, -1);
	if (ret)
		return ret;
	f->pool = NULL;
	f->slot = 0;
	return 0;
}
