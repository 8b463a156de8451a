// SPDX-License-Identifier: MIT
/*
 * regbuf table - snapshots, registration, update, import.
 *
 * Publication and reclamation.  A table points at an immutable snapshot
 * (slot array); writers build a new one (copy-on-write), publish it with one
 * atomic exchange and only then may drop their reference to the old one.
 * Readers (import, buf_get) take no lock, so the old snapshot must not be
 * freed while a reader that loaded its pointer is still looking at it.
 *
 * Choice: a per-table two-phase reader count, the scheme of SRCU.  A reader
 * reads the epoch parity, increments readers[parity], loads the pointer, and
 * decrements when done.  A writer, after the exchange, flips the epoch and
 * waits for readers[old parity] to drain, then flips again and drains the
 * other counter.  Every reader that could have loaded the old pointer
 * incremented one of the two counters before its load, hence before the
 * exchange (sequentially consistent atomics), and both counters were seen at
 * zero after that: it is gone.  New readers only ever land on the counter not
 * being drained, so a writer cannot be starved by a stream of readers.
 * Why not the alternatives: a reference count on the snapshot taken by each
 * reader has the classic load-then-increment race; hazard pointers need a
 * per-thread registry (readers are arbitrary application threads); epoch
 * schemes with per-thread state the same.  The cost is two atomic RMWs on a
 * per-table counter per import, and writers wait for in-flight readers
 * (sub-microsecond critical sections).  Writers are rare: registration,
 * update, clone.  Each counter is split into cache-line shards picked per
 * thread, so readers on different threads do not bounce one line; a reader
 * increments and decrements the same shard, so the writer may drain the
 * shards one after the other.
 *
 * Snapshots are themselves refcounted, so a whole-table clone publishes the
 * source's snapshot in the destination: O(1).  Each table's writer waits for
 * its own readers before dropping its own reference; the snapshot dies with
 * the last table.  Buffers are refcounted by snapshots and by
 * regbuf_table_buf_get() holders; the last reference frees.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>

#include "layout.h"

#define READER_SHARDS 8

struct reader_shard {
	_Alignas(64) _Atomic uint64_t n;
};

struct regbuf_table {
	_Atomic(struct table_snap *) cur;
	_Atomic uint64_t epoch;
	pthread_mutex_t lock;
	/* Separate lines: readers hammer these, the writer polls them. */
	struct reader_shard readers[2][READER_SHARDS];
};

/*
 * The shard: a hash of where this thread's stack is.  No thread-local
 * variable (TLS in a dlopen()ed library costs a call or may not load), and
 * any mapping is correct: only contention depends on it.
 */
static inline unsigned int reader_shard(void)
{
	uintptr_t sp = (uintptr_t)__builtin_frame_address(0);

	return (unsigned int)(((uint64_t)(sp >> 12) * UINT64_C(0x9E3779B97F4A7C15)) >> 61) %
	       READER_SHARDS;
}

/* Returns parity * READER_SHARDS + shard, for read_unlock(). */
static unsigned int read_lock(struct regbuf_table *t)
{
	unsigned int parity = (unsigned int)(atomic_load(&t->epoch) & 1), shard = reader_shard();

	atomic_fetch_add(&t->readers[parity][shard].n, 1);
	return parity * READER_SHARDS + shard;
}

static void read_unlock(struct regbuf_table *t, unsigned int idx)
{
	atomic_fetch_sub_explicit(&t->readers[idx / READER_SHARDS][idx % READER_SHARDS].n, 1,
				  memory_order_release);
}

/* Wait until no reader can still see a snapshot unpublished before this call. */
static void synchronize(struct regbuf_table *t)
{
	int phase;

	for (phase = 0; phase < 2; phase++) {
		unsigned int parity = (unsigned int)(atomic_fetch_add(&t->epoch, 1) & 1);
		unsigned int shard, spins = 0;

		for (shard = 0; shard < READER_SHARDS; shard++)
			while (atomic_load_explicit(&t->readers[parity][shard].n,
						    memory_order_acquire)) {
				if (++spins > 64)
					sched_yield();
			}
	}
}

struct table_snap *table_snap_alloc(uint32_t nr)
{
	struct table_snap *s = calloc(1, sizeof(*s) + (size_t)nr * sizeof(s->bufs[0]));

	if (!s)
		return NULL;
	atomic_init(&s->refs, 1);
	s->nr = nr;
	return s;
}

void table_snap_put(struct table_snap *s)
{
	uint32_t i;

	if (!s || atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel) != 1)
		return;
	for (i = 0; i < s->nr; i++)
		regbuf_buf_put(s->bufs[i]);
	free(s);
}

struct table_snap *table_snap_get(struct regbuf_table *t)
{
	unsigned int idx = read_lock(t);
	struct table_snap *s = atomic_load(&t->cur);

	if (s)
		atomic_fetch_add_explicit(&s->refs, 1, memory_order_relaxed);
	read_unlock(t, idx);
	return s;
}

void table_lock(struct regbuf_table *t)
{
	pthread_mutex_lock(&t->lock);
}

void table_unlock(struct regbuf_table *t)
{
	pthread_mutex_unlock(&t->lock);
}

struct table_snap *table_cur_locked(struct regbuf_table *t)
{
	/* Only lock holders change t->cur. */
	return atomic_load_explicit(&t->cur, memory_order_relaxed);
}

void table_publish_locked(struct regbuf_table *t, struct table_snap *s)
{
	struct table_snap *old = atomic_exchange(&t->cur, s);

	if (old) {
		synchronize(t);
		table_snap_put(old);
	}
}

int regbuf_table_create(struct regbuf_table **tp, unsigned int flags)
{
	struct regbuf_table *t;
	int ret;

	if (!tp || flags)
		return -EINVAL;
	t = aligned_alloc(64, sizeof(*t));
	if (!t)
		return -ENOMEM;
	memset(t, 0, sizeof(*t));
	atomic_init(&t->cur, NULL);
	atomic_init(&t->epoch, 0);
	for (ret = 0; ret < 2 * READER_SHARDS; ret++)
		atomic_init(&t->readers[ret / READER_SHARDS][ret % READER_SHARDS].n, 0);
	ret = pthread_mutex_init(&t->lock, NULL);
	if (ret) {
		free(t);
		return -ret;
	}
	*tp = t;
	return 0;
}

void regbuf_table_destroy(struct regbuf_table *t)
{
	if (!t)
		return;
	table_snap_put(atomic_load(&t->cur));
	pthread_mutex_destroy(&t->lock);
	free(t);
}

void regbuf_buf_get(struct regbuf_buf *buf)
{
	table_buf_ref(buf);
}

void regbuf_buf_put(struct regbuf_buf *buf)
{
	if (buf && atomic_fetch_sub_explicit(&buf->refs, 1, memory_order_acq_rel) == 1)
		free(buf);
}

#define LAYOUT_FLAGS (REGBUF_TABLE_F_LAYOUT_PFN | REGBUF_TABLE_F_LAYOUT_4K | \
		      REGBUF_TABLE_F_KERNEL_EXACT)

/* io_sqe_buffers_register(): all or nothing. */
static int do_register(struct regbuf_table *t, const struct iovec *iov, const uint8_t *shifts,
		       uint32_t nr, unsigned int flags)
{
	struct table_snap *s;
	uint32_t i;
	int ret;

	if (flags & ~LAYOUT_FLAGS)
		return -EINVAL;
	table_lock(t);
	ret = -EBUSY;
	if (table_cur_locked(t))
		goto out_unlock;
	ret = -EINVAL;
	if (!nr || nr > REGBUF_TABLE_MAX_BUFS)
		goto out_unlock;
	ret = -ENOMEM;
	s = table_snap_alloc(nr);
	if (!s)
		goto out_unlock;
	for (i = 0; iov && i < nr; i++) {
		ret = table_buf_create(&s->bufs[i], &iov[i], shifts ? shifts[i] : 0, flags);
		if (ret)
			goto out_free_snap;
	}
	table_publish_locked(t, s);
	ret = 0;
	goto out_unlock;
out_free_snap:
	table_snap_put(s);
out_unlock:
	table_unlock(t);
	return ret;
}

int regbuf_table_register(struct regbuf_table *t, const struct iovec *iov, uint32_t nr,
			  unsigned int flags)
{
	/* IORING_REGISTER_BUFFERS with a NULL array: -EFAULT, before anything else. */
	if (!iov)
		return -EFAULT;
	return do_register(t, iov, NULL, nr, flags);
}

int regbuf_table_register_hinted(struct regbuf_table *t, const struct iovec *iov,
				 const uint8_t *folio_shift, uint32_t nr, unsigned int flags)
{
	if (!iov || !folio_shift)
		return -EFAULT;
	return do_register(t, iov, folio_shift, nr, flags);
}

int regbuf_table_register_sparse(struct regbuf_table *t, uint32_t nr)
{
	return do_register(t, NULL, NULL, nr, 0);
}

int regbuf_table_update(struct regbuf_table *t, uint32_t off, const struct iovec *iov,
			uint32_t nr)
{
	struct table_snap *old, *s;
	uint32_t end, i, done = 0;
	int ret;

	/* io_register_rsrc_update() / __io_sqe_buffers_update() check order. */
	if (!nr)
		return -EINVAL;
	if (__builtin_add_overflow(off, nr, &end))
		return -EOVERFLOW;
	/* The kernel's copy_from_user() of the first entry would fail. */
	if (!iov)
		return -EFAULT;
	table_lock(t);
	old = table_cur_locked(t);
	ret = -ENXIO;
	if (!old)
		goto out_unlock;
	ret = -EINVAL;
	if (end > old->nr)
		goto out_unlock;
	ret = -ENOMEM;
	s = table_snap_alloc(old->nr);
	if (!s)
		goto out_unlock;
	for (i = 0; i < old->nr; i++) {
		s->bufs[i] = old->bufs[i];
		table_buf_ref(s->bufs[i]);
	}
	for (; done < nr; done++) {
		struct regbuf_buf *b;

		ret = table_buf_create(&b, &iov[done], 0, 0);
		if (ret)
			break;
		regbuf_buf_put(s->bufs[off + done]);
		s->bufs[off + done] = b;
	}
	if (!done) {
		table_snap_put(s);
		goto out_unlock;
	}
	table_publish_locked(t, s);
	ret = (int)done;
out_unlock:
	table_unlock(t);
	return ret;
}

int regbuf_table_unregister(struct regbuf_table *t)
{
	int ret = -ENXIO;

	table_lock(t);
	if (table_cur_locked(t)) {
		table_publish_locked(t, NULL);
		ret = 0;
	}
	table_unlock(t);
	return ret;
}

uint32_t regbuf_table_nr(const struct regbuf_table *t)
{
	struct regbuf_table *tt = (struct regbuf_table *)t;
	unsigned int idx = read_lock(tt);
	struct table_snap *s = atomic_load(&tt->cur);
	uint32_t nr = s ? s->nr : 0;

	read_unlock(tt, idx);
	return nr;
}

int regbuf_buf_import(const struct regbuf_buf *buf, uint64_t addr, uint64_t len,
		      struct regbuf_seg_iter *it)
{
	uint64_t end, off, pos, in, mask;
	uint32_t idx;

	/* validate_fixed_range() */
	if (__builtin_add_overflow(addr, len, &end))
		return -EFAULT;
	if (addr < buf->ubuf || end > buf->ubuf + buf->len)
		return -EFAULT;
	if (len > REGBUF_MAX_RW_COUNT)
		return -EFAULT;
	it->__pad = 0;
	it->count = len;
	if (!len) {
		it->segs = buf->segs;
		it->nr_segs = 0;
		it->offset = 0;
		return 0;
	}
	off = addr - buf->ubuf;
	if (REGBUF_UNLIKELY(buf->flags & REGBUF_BUF_F_MIXED)) {
		/* Beyond the kernel: uneven segments, binary search on their starts. */
		uint32_t lo = 0, hi = buf->nr_segs - 1, first;

		while (lo < hi) {
			uint32_t mid = lo + (hi - lo + 1) / 2;

			if (buf->starts[mid] <= off)
				lo = mid;
			else
				hi = mid - 1;
		}
		first = lo;
		hi = buf->nr_segs - 1;
		while (lo < hi) {
			uint32_t mid = lo + (hi - lo + 1) / 2;

			if (buf->starts[mid] < end - buf->ubuf)
				lo = mid;
			else
				hi = mid - 1;
		}
		it->segs = &buf->segs[first];
		it->offset = off - buf->starts[first];
		it->nr_segs = lo - first + 1;
		return 0;
	}
	/*
	 * io_import_fixed(): position p is in segment (bv_offset + p) >> shift,
	 * at (bv_offset + p) & mask inside that folio.  The segment count is
	 * taken from that in-folio position, which for segment 0 includes
	 * bv_offset (Nitesh Shetty's undercount: bv_offset 256, offset 3584,
	 * len 512 spans 2 segments).
	 */
	mask = (UINT64_C(1) << buf->folio_shift) - 1;
	pos = buf->seg0_off + off;
	idx = (uint32_t)(pos >> buf->folio_shift);
	in = pos & mask;
	it->segs = &buf->segs[idx];
	/* Our segment 0 starts at ubuf, i.e. at bv_offset inside its folio. */
	it->offset = idx ? in : off;
	it->nr_segs = (uint32_t)((in + len + mask) >> buf->folio_shift);
	return 0;
}

int regbuf_table_import(struct regbuf_table *t, uint32_t slot, uint64_t addr, uint64_t len,
			struct regbuf_seg_iter *it)
{
	unsigned int idx = read_lock(t);
	struct table_snap *s = atomic_load(&t->cur);
	int ret = -EFAULT;

	/* io_find_buf_node(): a missing index or an empty slot is -EFAULT. */
	if (s && slot < s->nr && s->bufs[slot])
		ret = regbuf_buf_import(s->bufs[slot], addr, len, it);
	read_unlock(t, idx);
	return ret;
}

int regbuf_table_buf_get(struct regbuf_table *t, uint32_t slot, struct regbuf_buf **bufp)
{
	unsigned int idx = read_lock(t);
	struct table_snap *s = atomic_load(&t->cur);
	int ret = -EFAULT;

	if (s && slot < s->nr && s->bufs[slot]) {
		*bufp = s->bufs[slot];
		table_buf_ref(*bufp);
		ret = 0;
	}
	read_unlock(t, idx);
	return ret;
}

int regbuf_buf_info(const struct regbuf_buf *buf, struct regbuf_buf_info *info)
{
	if (!buf || !info)
		return -EINVAL;
	memset(info, 0, sizeof(*info));
	info->ubuf = buf->ubuf;
	info->len = buf->len;
	info->folio_shift = buf->folio_shift;
	info->nr_segs = buf->nr_segs;
	info->flags = buf->flags;
	info->kernel_nr_segs = buf->kernel_nr_segs;
	info->seg0_off = buf->seg0_off;
	info->segs = buf->segs;
	info->nr_phys_segs = buf->nr_phys;
	info->phys_segs = buf->phys;
	info->source = (enum regbuf_layout_source)buf->source;
	return 0;
}

const char *regbuf_layout_source_name(enum regbuf_layout_source source)
{
	switch (source) {
	case REGBUF_LAYOUT_HINT:
		return "hint";
	case REGBUF_LAYOUT_PAGEMAP_SCAN:
		return "pagemap-scan";
	case REGBUF_LAYOUT_KPAGEFLAGS:
		return "kpageflags";
	case REGBUF_LAYOUT_4K:
		return "4k";
	case REGBUF_LAYOUT_SYNTHETIC:
		return "synthetic";
	}
	return "?";
}

const char *regbuf_buf_flag_name(unsigned int flag)
{
	switch (flag) {
	case REGBUF_BUF_F_COALESCED:
		return "coalesced";
	case REGBUF_BUF_F_SINGLE_FOLIO:
		return "single-folio";
	case REGBUF_BUF_F_MIXED:
		return "mixed";
	case REGBUF_BUF_F_PHYS:
		return "phys";
	case REGBUF_BUF_F_PHYS_MERGED:
		return "phys-merged";
	case REGBUF_BUF_F_COALESCE_FALLBACK:
		return "coalesce-fallback";
	case REGBUF_BUF_F_EXACT:
		return "exact";
	case REGBUF_BUF_F_UPPER_BOUND:
		return "upper-bound";
	}
	return "?";
}
