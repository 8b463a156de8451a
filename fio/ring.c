// SPDX-License-Identifier: MIT
/*
 * regbuf-fio.so: the ring pool of the io_uring backends (uring, uring_cmd).
 *
 * One io_uring per job from a regbuf ring pool; the arena is registered in
 * ring 0 and cloned into the others (IORING_REGISTER_CLONE_BUFFERS, Linux
 * 6.12), or registered again where the kernel has no clone.
 */
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "engine.h"

static struct {
	struct regbuf_uring_pool *pool;
	uint32_t nr_rings, next_ring;
	unsigned int ring_flags;	/* IORING_SETUP_* of the pool's rings */
	bool hipri;			/* polling rings (REGBUF_URING_POOL_F_IOPOLL) */
} rp;

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
	 */
	rp.ring_flags = o->sqthread_poll ? IORING_SETUP_SQPOLL :
			IORING_SETUP_R_DISABLED | IORING_SETUP_SINGLE_ISSUER |
			IORING_SETUP_DEFER_TASKRUN;
	ret = regbuf_uring_pool_create(&rp.pool, rp.nr_rings, entries, rp.ring_flags, pool_flags);
	if (ret == -EINVAL && !o->sqthread_poll) {
		rp.ring_flags = IORING_SETUP_COOP_TASKRUN;
		ret = regbuf_uring_pool_create(&rp.pool, rp.nr_rings, entries, rp.ring_flags,
					       pool_flags);
	}
	if (ret == -EINVAL && !o->sqthread_poll) {
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
 * The pool, sized for the deepest job at @per_io SQEs per I/O, with the
 * arena registered (and cloned), one kernel buffer per allocator slot.
 * @buf_len, when not 0, caps the kernel buffers (what @buf_len_what needs).
 */
int rb_ring_map_locked(struct thread_data *td, unsigned int per_io, unsigned int pool_flags,
		       uint64_t buf_len, const char *buf_len_what)
{
	struct regbuf_uring_status st;
	unsigned int entries = 1;
	struct iovec iov;
	int ret;

	while (entries < rb_max_depth() * per_io && entries < 4096)
		entries <<= 1;
	ret = rb_pool_create(td, entries, pool_flags);
	if (ret)
		return ret;
	/* One per allocator slot, or smaller where the backend needs it. */
	if (!buf_len || buf_len > rb.slot_len) {
		buf_len = rb.slot_len;
		buf_len_what = "one allocator slot";
	}
	ret = regbuf_uring_pool_set_buf_len(rp.pool, buf_len);
	if (ret) {
		log_err("regbuf: kernel buffers of %" PRIu64 " KiB for %s: %s\n", buf_len >> 10,
			buf_len_what, strerror(-ret));
		goto err_pool;
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
	return ret;
}

void rb_ring_report_locked(void)
{
	struct regbuf_uring_status st;

	regbuf_uring_pool_status(rp.pool, &st);
	rb_info("regbuf: uring pool: %u rings%s, %s, %s, %" PRIu64 " MiB in %u slots, "
		"register %.3f ms, clone %.3f ms, setup %.3f ms%s%s\n",
		st.nr_rings, rp.hipri ? " polled (hipri)" : "", regbuf_uring_state_name(st.state),
		regbuf_uring_path_name(st.path), st.nr_bytes >> 20, st.nr_slots,
		st.register_ns / 1e6, st.clone_ns / 1e6, rb.setup_ns / 1e6,
		st.reason[0] ? "; " : "", st.reason);
}

int rb_ring_attach_locked(struct thread_data *td, struct rb_data *d)
{
	(void)td;
	/* The pool's rings poll, or not, for every job alike. */
	if (!d->o->hipri != !rp.hipri) {
		log_err("regbuf: every job of one fio process must use the same hipri (the jobs "
			"share one ring pool)\n");
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
	regbuf_uring_pool_destroy(rp.pool);
	rp.pool = NULL;
	rp.nr_rings = rp.next_ring = 0;
}
