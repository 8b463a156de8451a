// SPDX-License-Identifier: MIT
/*
 * regbuf-fio.so: the ring pool of the io_uring backends (uring, uring_cmd).
 *
 * One io_uring per job from a regbuf ring pool; the arena is registered in
 * ring 0 and cloned into the others (IORING_REGISTER_CLONE_BUFFERS, Linux
 * 6.12), or registered again where the kernel has no clone.
 *
 * With lazy_register=1 the arena is neither faulted nor registered at setup:
 * the pool starts with a sparse table, and the first I/O on a piece of the
 * arena registers that piece (regbuf_uring_pool_grow(): pinned in one ring,
 * cloned into the others) before it is sent fixed.  Only the memory the
 * jobs' I/O reaches is faulted, zeroed and pinned.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"

/*
 * A piece: 2 MiB, or the arena's page when larger (1 GiB hugetlb).  The
 * kernel charges a huge page whole to every registration that touches it
 * (io_buffer_account_pin()), so a piece is never less than a page; 2 MiB is
 * also what a THP folio holds and 512 base pages of a 4 KiB arena, few
 * enough grows (one registration syscall plus a clone into every ring each)
 * for little memory pinned beyond what the I/O reaches.  An arena of more
 * pieces than a table holds gets larger pieces.
 */
#define RB_PIECE_MIN	(2u << 20)
#define RB_TABLE_MAX	16384u	/* regbuf_uring_pool_register_sparse() */

static struct {
	struct regbuf_uring_pool *pool;
	uint32_t nr_rings, next_ring;
	unsigned int ring_flags;	/* IORING_SETUP_* of the pool's rings */
	bool hipri;			/* polling rings (REGBUF_URING_POOL_F_IOPOLL) */
	/* lazy_register */
	bool lazy;
	uint64_t piece;			/* bytes per piece (the last may be shorter) */
	size_t nr_pieces;
	bool *reached;			/* piece i registered: written under grow_lock */
	pthread_mutex_t grow_lock;	/* one grow at a time (regbuf_uring_pool_grow()) */
	uint64_t reached_bytes, nr_grows, grow_ns;	/* under grow_lock */
} rp = { .grow_lock = PTHREAD_MUTEX_INITIALIZER };

/* The largest block any job reads or writes. */
unsigned long long rb_max_bs(void)
{
	unsigned long long max_bs = 0;
	struct thread_data *t;
	int i;

	for_each_td(t, i) {
		if (t->o.max_bs[DDIR_READ] > max_bs)
			max_bs = t->o.max_bs[DDIR_READ];
		if (t->o.max_bs[DDIR_WRITE] > max_bs)
			max_bs = t->o.max_bs[DDIR_WRITE];
	}
	return max_bs;
}

/* The deepest queue of any job: every ring of the pool is created alike. */
static unsigned int rb_max_depth(void)
{
	struct thread_data *t;
	unsigned int depth = 1;
	int i;

	for_each_td(t, i)
		if (t->o.iodepth > depth)
			depth = t->o.iodepth;
	return depth;
}

static int rb_pool_create(struct thread_data *td, unsigned int entries, unsigned int pool_flags)
{
	struct rb_options *o = td->eo;
	int ret;

	rp.nr_rings = (uint32_t)thread_number;
	rp.hipri = o->hipri;
	if (o->hipri)
		pool_flags |= REGBUF_URING_POOL_F_IOPOLL;
	/*
	 * As fio's own io_uring engine: task work deferred to the submitter
	 * (DEFER_TASKRUN, Linux 6.1, which needs SINGLE_ISSUER), else cooperative
	 * task work (5.19).  The rings are created here, in one job's thread, so
	 * they start disabled and each job enables its own (the issuer is the
	 * task that enables a SINGLE_ISSUER ring).
	 *
	 * Not with lazy_register: there any job's thread registers into the
	 * pool's first ring and clones into every other while each ring is in
	 * use by its own job, and io_uring_register() refuses a SINGLE_ISSUER
	 * ring's registrations, and a clone from it, to every task but its
	 * issuer (-EEXIST).  Cooperative task work then.
	 */
	if (o->sqthread_poll)
		rp.ring_flags = IORING_SETUP_SQPOLL;
	else if (o->lazy_register)
		rp.ring_flags = IORING_SETUP_COOP_TASKRUN;
	else
		rp.ring_flags = IORING_SETUP_R_DISABLED | IORING_SETUP_SINGLE_ISSUER |
				IORING_SETUP_DEFER_TASKRUN;
	ret = regbuf_uring_pool_create(&rp.pool, rp.nr_rings, entries, rp.ring_flags, pool_flags);
	if (ret == -EINVAL && (rp.ring_flags & IORING_SETUP_DEFER_TASKRUN)) {
		rp.ring_flags = IORING_SETUP_COOP_TASKRUN;
		ret = regbuf_uring_pool_create(&rp.pool, rp.nr_rings, entries, rp.ring_flags,
					       pool_flags);
	}
	if (ret == -EINVAL && rp.ring_flags == IORING_SETUP_COOP_TASKRUN) {
		rp.ring_flags = 0;
		ret = regbuf_uring_pool_create(&rp.pool, rp.nr_rings, entries, rp.ring_flags,
					       pool_flags);
	}
	if (ret)
		log_err("regbuf: ring pool of %u rings (%u entries): %s\n", rp.nr_rings, entries,
			strerror(-ret));
	return ret;
}

/*
 * lazy_register: the pieces of the arena, each @buf_len bytes or fewer per
 * kernel buffer, in a sparse table of one slot per kernel buffer: 0, or
 * -E2BIG when no table holds them.  Sets rp.piece and rp.nr_pieces.
 */
static int rb_lazy_plan(uint64_t buf_len, uint32_t *nr_slots)
{
	uint64_t len = regbuf_mem_len(rb.mem), page = UINT64_C(1) << regbuf_mem_folio_shift(rb.mem);
	uint64_t piece = page > RB_PIECE_MIN ? page : RB_PIECE_MIN, per;

	for (;;) {
		per = (piece + buf_len - 1) / buf_len;
		rp.nr_pieces = (size_t)((len + piece - 1) / piece);
		if (rp.nr_pieces * per <= RB_TABLE_MAX || piece >= REGBUF_BUF_MAX_LEN ||
		    per > 1)
			break;
		piece <<= 1;
	}
	if (rp.nr_pieces * per > RB_TABLE_MAX) {
		log_err("regbuf: lazy_register: %" PRIu64 " MiB in pieces of %" PRIu64 " KiB "
			"takes %" PRIu64 " kernel buffers, more than a table holds (%u)\n",
			len >> 20, piece >> 10, (uint64_t)rp.nr_pieces * per, RB_TABLE_MAX);
		return -E2BIG;
	}
	rp.piece = piece;
	*nr_slots = (uint32_t)(rp.nr_pieces * per);
	return 0;
}

/*
 * The pool, sized for the deepest job at @per_io SQEs per I/O, with the
 * arena registered (and cloned), one kernel buffer per allocator slot; with
 * lazy_register an empty table of one slot per piece instead.  @buf_len,
 * when not 0, caps the kernel buffers (what @buf_len_what needs).
 */
int rb_ring_map_locked(struct thread_data *td, unsigned int per_io, unsigned int pool_flags,
		       uint64_t buf_len, const char *buf_len_what)
{
	struct rb_options *o = td->eo;
	struct regbuf_uring_status st;
	unsigned int entries = 1;
	uint32_t nr_slots = 0;
	struct iovec iov;
	int ret;

	rp.lazy = o->lazy_register;
	if (rp.lazy) {
		/* A kernel buffer per piece, or smaller where the backend needs it. */
		if (!buf_len || buf_len > REGBUF_BUF_MAX_LEN) {
			buf_len = REGBUF_BUF_MAX_LEN;
			buf_len_what = "one piece";
		}
		ret = rb_lazy_plan(buf_len, &nr_slots);
		if (ret)
			return ret;
		if (buf_len > rp.piece)
			buf_len = rp.piece;
		/* An I/O may cross a kernel buffer at every piece it spans. */
		per_io += (unsigned int)(rb_max_bs() / buf_len + 1);
		rp.reached = calloc(rp.nr_pieces, sizeof(*rp.reached));
		if (!rp.reached)
			return -ENOMEM;
	} else if (!buf_len || buf_len > rb.slot_len) {
		/* One per allocator slot, or smaller where the backend needs it. */
		buf_len = rb.slot_len;
		buf_len_what = "one allocator slot";
	}
	while (entries < rb_max_depth() * per_io && entries < 4096)
		entries <<= 1;
	ret = rb_pool_create(td, entries, pool_flags);
	if (ret)
		goto err_reached;
	ret = regbuf_uring_pool_set_buf_len(rp.pool, buf_len);
	if (ret) {
		log_err("regbuf: kernel buffers of %" PRIu64 " KiB for %s: %s\n", buf_len >> 10,
			buf_len_what, strerror(-ret));
		goto err_pool;
	}
	if (rp.lazy) {
		ret = regbuf_uring_pool_register_sparse(rp.pool, nr_slots);
		if (ret) {
			log_err("regbuf: lazy_register: a table of %u empty kernel buffers: %s\n",
				nr_slots, strerror(-ret));
			goto err_pool;
		}
		/*
		 * A kernel that clones only whole tables (Linux 6.12) makes a grow
		 * empty every other ring's table before cloning it again, and a job
		 * submitting meanwhile would see -EFAULT.
		 */
		regbuf_uring_pool_status(rp.pool, &st);
		if (st.path == REGBUF_URING_PATH_CLONE_WHOLE) {
			log_err("regbuf: lazy_register: this kernel clones only whole buffer tables "
				"(Linux 6.12), so registering a piece would empty the other jobs' "
				"tables while they submit; run without lazy_register\n");
			ret = -EOPNOTSUPP;
			goto err_pool;
		}
		return 0;
	}
	iov.iov_base = regbuf_mem_addr(rb.mem);
	iov.iov_len = regbuf_mem_len(rb.mem);
	ret = regbuf_uring_pool_register(rp.pool, &iov, 1, 0);
	if (ret) {
		regbuf_uring_pool_status(rp.pool, &st);
		log_err("regbuf: registering %zu MiB: %s%s%s\n", iov.iov_len >> 20, strerror(-ret),
			st.reason[0] ? ": " : "", st.reason);
		goto err_pool;
	}
	return 0;

err_pool:
	regbuf_uring_pool_destroy(rp.pool);
	rp.pool = NULL;
err_reached:
	free(rp.reached);
	rp.reached = NULL;
	return ret;
}

void rb_ring_report_locked(void)
{
	struct regbuf_uring_status st;
	char lazy[160] = "";

	regbuf_uring_pool_status(rp.pool, &st);
	if (rp.lazy)
		snprintf(lazy, sizeof(lazy), ", lazy: %zu pieces of %" PRIu64 " KiB registered "
			 "as I/O reaches them, none yet", rp.nr_pieces, rp.piece >> 10);
	rb_info("regbuf: uring pool: %u rings%s, %s, %s, %" PRIu64 " MiB in %u slots%s, "
		"register %.3f ms, clone %.3f ms, setup %.3f ms%s%s\n",
		st.nr_rings, rp.hipri ? " polled (hipri)" : "", regbuf_uring_state_name(st.state),
		regbuf_uring_path_name(st.path), st.nr_bytes >> 20, st.nr_slots, lazy,
		st.register_ns / 1e6, st.clone_ns / 1e6, rb.setup_ns / 1e6,
		st.reason[0] ? "; " : "", st.reason);
}

/* Register piece @i (under grow_lock): 0, or -errno with the reason logged. */
static int rb_grow_locked(struct thread_data *td, size_t i)
{
	uint64_t off = (uint64_t)i * rp.piece, len = regbuf_mem_len(rb.mem) - off, t0;
	struct regbuf_uring_status st;
	struct iovec iov;
	uint32_t slot;
	int ret;

	if (len > rp.piece)
		len = rp.piece;
	iov.iov_base = (char *)regbuf_mem_addr(rb.mem) + off;
	iov.iov_len = len;
	t0 = rb_now_ns();
	ret = regbuf_uring_pool_grow(rp.pool, &iov, 1, &slot);
	rp.grow_ns += rb_now_ns() - t0;
	if (ret < 0) {
		regbuf_uring_pool_status(rp.pool, &st);
		log_err("regbuf: lazy_register: job %s: registering the %" PRIu64 " KiB at %"
			PRIu64 " KiB into the arena: %s%s%s\n", td->o.name, len >> 10, off >> 10,
			strerror(-ret), st.reason[0] ? ": " : "", st.reason);
		return ret;
	}
	rp.reached_bytes += len;
	rp.nr_grows++;
	/* Pairs with the acquire load in rb_ring_reach(): the map shows the piece by now. */
	__atomic_store_n(&rp.reached[i], true, __ATOMIC_RELEASE);
	return 0;
}

int rb_ring_reach(struct thread_data *td, const void *buf, uint64_t len)
{
	uint64_t base = (uint64_t)(uintptr_t)regbuf_mem_addr(rb.mem), a = (uint64_t)(uintptr_t)buf;
	size_t i, first, last;
	int ret = 0;

	if (a < base || a - base >= regbuf_mem_len(rb.mem) ||
	    len > regbuf_mem_len(rb.mem) - (a - base))
		return -EFAULT;		/* not the arena's: refused as unregistered I/O is */
	first = (size_t)((a - base) / rp.piece);
	last = (size_t)((a - base + (len ? len - 1 : 0)) / rp.piece);
	for (i = first; i <= last; i++)
		if (!__atomic_load_n(&rp.reached[i], __ATOMIC_ACQUIRE))
			break;
	if (i > last)
		return 0;
	pthread_mutex_lock(&rp.grow_lock);
	/* Again under the lock: another job may have registered them meanwhile. */
	for (; i <= last && !ret; i++)
		if (!rp.reached[i])
			ret = rb_grow_locked(td, i);
	pthread_mutex_unlock(&rp.grow_lock);
	return ret;
}

int rb_ring_attach_locked(struct thread_data *td, struct rb_data *d)
{
	(void)td;
	/* The pool's rings poll, or not, for every job alike. */
	if (!d->o->hipri != !rp.hipri || !d->o->lazy_register != !rp.lazy) {
		log_err("regbuf: every job of one fio process must use the same hipri and "
			"lazy_register (the jobs share one ring pool)\n");
		return -EINVAL;
	}
	if (rp.next_ring >= rp.nr_rings) {
		log_err("regbuf: more jobs than rings (%u)\n", rp.nr_rings);
		return -ENOSPC;
	}
	d->ring = regbuf_uring_pool_ring(rp.pool, rp.next_ring++);
	return 0;
}

/* In the job's thread: enable its ring, register the ring fd. */
int rb_ring_start(struct thread_data *td, struct rb_data *d)
{
	int ret;

	(void)td;
	if (rp.ring_flags & IORING_SETUP_R_DISABLED) {
		ret = regbuf_uring_ring_enable(d->ring);
		if (ret < 0) {
			log_err("regbuf: enabling the job's ring: %s\n", strerror(-ret));
			return ret;
		}
	}
	/* A registered ring fd spares each io_uring_enter() an fdget() (5.18; per task). */
	d->ring_fd_reg = io_uring_register_ring_fd(&d->ring->ring) == 1;
	return 0;
}

int rb_ring_commit(struct thread_data *td, struct rb_data *d)
{
	int ret = io_uring_submit(&d->ring->ring);

	if (ret < 0 && ret != -EAGAIN && ret != -EINTR && ret != -EBUSY) {
		td_verror(td, -ret, "io_uring_submit");
		return -1;
	}
	return 0;
}

static unsigned int rb_ring_reap_cqes(struct rb_data *d, unsigned int have, unsigned int max,
				      bool (*done)(struct rb_data *d, struct io_u *io_u,
						   const struct io_uring_cqe *cqe))
{
	struct io_uring *ring = &d->ring->ring;
	struct io_uring_cqe *cqe;
	unsigned int head, seen = 0;

	io_uring_for_each_cqe(ring, head, cqe) {
		struct io_u *io_u;

		if (have == max)
			break;
		seen++;
		if (regbuf_uring_cqe_is_tag(cqe)) {
			regbuf_uring_ring_count_tag(d->ring, cqe);
			continue;
		}
		/* An I/O sent as several commands completes once per piece. */
		io_u = (struct io_u *)(uintptr_t)regbuf_uring_cqe_user_data(cqe);
		if (done(d, io_u, cqe))
			d->events[have++] = io_u;
	}
	io_uring_cq_advance(ring, seen);
	return have;
}

/*
 * The CQEs there are; @done says whether a CQE completes its I/O.  A poll
 * (@min 0) with nothing there enters the kernel once: deferred completions
 * are posted only on entering, and a polling ring's are found only then.
 */
unsigned int rb_ring_reap(struct rb_data *d, unsigned int have, unsigned int min,
			  unsigned int max, bool (*done)(struct rb_data *d, struct io_u *io_u,
							 const struct io_uring_cqe *cqe))
{
	have = rb_ring_reap_cqes(d, have, max, done);
	if (!have && !min && ((rp.ring_flags & IORING_SETUP_DEFER_TASKRUN) || rp.hipri)) {
		io_uring_get_events(&d->ring->ring);
		have = rb_ring_reap_cqes(d, have, max, done);
	}
	return have;
}

int rb_ring_wait(struct thread_data *td, struct rb_data *d, unsigned int nr,
		 const struct timespec *t)
{
	struct io_uring_cqe *cqe;
	int ret;

	if (t) {
		struct __kernel_timespec kt = { .tv_sec = t->tv_sec, .tv_nsec = t->tv_nsec };

		ret = io_uring_wait_cqes(&d->ring->ring, &cqe, nr, &kt, NULL);
	} else {
		ret = io_uring_wait_cqe_nr(&d->ring->ring, &cqe, nr);
	}
	if (ret == -ETIME)
		return 1;
	if (ret < 0 && ret != -EINTR && ret != -EAGAIN) {
		td_verror(td, -ret, "io_uring_wait_cqe");
		return ret;
	}
	return 0;
}

void rb_ring_job_cleanup(struct thread_data *td, struct rb_data *d)
{
	(void)td;
	if (d->ring_fd_reg)
		io_uring_unregister_ring_fd(&d->ring->ring);
}

void rb_ring_release_locked(void)
{
	if (rp.lazy && rp.pool)
		rb_info("regbuf: lazy_register: %" PRIu64 " KiB of the arena's %zu KiB registered, "
			"in %" PRIu64 " pieces of %" PRIu64 " KiB, grow %.3f ms\n",
			rp.reached_bytes >> 10, regbuf_mem_len(rb.mem) >> 10, rp.nr_grows,
			rp.piece >> 10, rp.grow_ns / 1e6);
	free(rp.reached);
	rp.reached = NULL;
	rp.reached_bytes = rp.nr_grows = rp.grow_ns = 0;
	rp.lazy = false;
	regbuf_uring_pool_destroy(rp.pool);
	rp.pool = NULL;
	rp.nr_rings = rp.next_ring = 0;
}
