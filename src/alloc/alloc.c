// SPDX-License-Identifier: MIT
/*
 * regbuf - I/O buffer sub-allocator: size classes with per-thread magazines
 * over a first-fit range allocator that never lets a buffer straddle a slot.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <regbuf/alloc.h>
#include <regbuf/mem.h>
#include <regbuf/table.h>

#define MIN_SHIFT	9
#define MAX_SHIFT	20			/* the largest size class, 1 MiB */
#define NR_CLASSES	(MAX_SHIFT - MIN_SHIFT + 1)
#define MAG_MAX		32u
#define MAG_BYTES	(UINT64_C(1) << 20)	/* per class and thread */
#define PAGE_ALIGN_MIN	4096u

struct magazine {
	uint32_t n;
	uintptr_t v[MAG_MAX];
};

/* One thread's cache for one allocator; linked so that destroy can free it. */
struct tcache {
	struct regbuf_alloc *a;
	struct tcache *prev, *next;
	struct magazine mag[NR_CLASSES];
};

struct central {
	uintptr_t *v;
	uint32_t n, cap;
};

struct extent {
	uintptr_t start;
	uint64_t len;
};

struct regbuf_alloc {
	uintptr_t base;
	uint64_t len;
	uint64_t slot_len;
	uint32_t first_slot;
	uint32_t align;
	unsigned int min_shift, max_shift;	/* classes: min_shift..max_shift */
	uint32_t mag_cap[NR_CLASSES];
	pthread_key_t key;

	pthread_mutex_t lock;			/* everything below */
	struct central central[NR_CLASSES];
	struct extent *ext;			/* free ranges, sorted, disjoint */
	uint32_t n_ext, cap_ext;
	struct tcache *caches;

	atomic_uint_fast64_t in_use;
	atomic_uint_fast64_t in_use_bytes;
};

static uint64_t align_up(uint64_t x, uint64_t a)
{
	return (x + a - 1) & ~(a - 1);
}

static unsigned int ceil_log2(uint64_t x)
{
	return x <= 1 ? 0 : 64 - (unsigned int)__builtin_clzll(x - 1);
}

/* ---- range allocator (under a->lock) ---- */

static int ext_reserve(struct regbuf_alloc *a, uint32_t more)
{
	struct extent *e;
	uint32_t cap;

	if (a->n_ext + more <= a->cap_ext)
		return 0;
	cap = a->cap_ext ? 2 * a->cap_ext : 16;
	while (cap < a->n_ext + more)
		cap *= 2;
	e = realloc(a->ext, cap * sizeof(*e));
	if (!e)
		return -ENOMEM;
	a->ext = e;
	a->cap_ext = cap;
	return 0;
}

/*
 * First fit of @n bytes aligned to @align that stays inside one slot: a
 * candidate that would cross a slot boundary moves to the next slot's start.
 */
static int range_alloc(struct regbuf_alloc *a, uint64_t n, uint64_t align, uintptr_t *out)
{
	uint32_t i;

	if (ext_reserve(a, 1))
		return -ENOMEM;
	for (i = 0; i < a->n_ext; i++) {
		uintptr_t s = a->ext[i].start, e = s + a->ext[i].len;
		uintptr_t p = (uintptr_t)align_up(s, align);

		for (;;) {
			uint64_t off = (p - a->base) % a->slot_len;

			if (p >= e || n > e - p)
				break;
			if (off + n <= a->slot_len) {
				/* Carve [p, p + n): keep the head, the tail, or both. */
				if (p > s && p + n < e) {
					memmove(&a->ext[i + 2], &a->ext[i + 1],
						(a->n_ext - i - 1) * sizeof(*a->ext));
					a->ext[i].len = p - s;
					a->ext[i + 1].start = p + n;
					a->ext[i + 1].len = e - (p + n);
					a->n_ext++;
				} else if (p > s) {
					a->ext[i].len = p - s;
				} else if (p + n < e) {
					a->ext[i].start = p + n;
					a->ext[i].len = e - (p + n);
				} else {
					memmove(&a->ext[i], &a->ext[i + 1],
						(a->n_ext - i - 1) * sizeof(*a->ext));
					a->n_ext--;
				}
				*out = p;
				return 0;
			}
			p = (uintptr_t)align_up(p - off + a->slot_len, align);
		}
	}
	return -ENOMEM;
}

/* Give [p, p + n) back, merging with free neighbours. */
static int range_free(struct regbuf_alloc *a, uintptr_t p, uint64_t n)
{
	uint32_t lo = 0, hi = a->n_ext, i;
	bool prev, next;

	while (lo < hi) {
		uint32_t mid = (lo + hi) / 2;

		if (a->ext[mid].start < p)
			lo = mid + 1;
		else
			hi = mid;
	}
	i = lo;		/* first extent after p */
	prev = i > 0 && a->ext[i - 1].start + a->ext[i - 1].len == p;
	next = i < a->n_ext && p + n == a->ext[i].start;
	if (prev && next) {
		a->ext[i - 1].len += n + a->ext[i].len;
		memmove(&a->ext[i], &a->ext[i + 1], (a->n_ext - i - 1) * sizeof(*a->ext));
		a->n_ext--;
	} else if (prev) {
		a->ext[i - 1].len += n;
	} else if (next) {
		a->ext[i].start = p;
		a->ext[i].len += n;
	} else {
		if (ext_reserve(a, 1))
			return -ENOMEM;
		memmove(&a->ext[i + 1], &a->ext[i], (a->n_ext - i) * sizeof(*a->ext));
		a->ext[i].start = p;
		a->ext[i].len = n;
		a->n_ext++;
	}
	return 0;
}

/* ---- size classes (under a->lock) ---- */

static int central_push(struct central *c, uintptr_t p)
{
	if (c->n == c->cap) {
		uint32_t cap = c->cap ? 2 * c->cap : 64;
		uintptr_t *v = realloc(c->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		c->v = v;
		c->cap = cap;
	}
	c->v[c->n++] = p;
	return 0;
}

static uint64_t class_align(const struct regbuf_alloc *a, uint64_t size)
{
	/* 4 KiB-aligned from 4 KiB up: fewer PRP entries, never a worse fit. */
	uint64_t al = size < PAGE_ALIGN_MIN ? size : PAGE_ALIGN_MIN;

	return al > a->align ? al : a->align;
}

/* Return every centrally cached buffer to the range allocator. */
static void central_drain(struct regbuf_alloc *a)
{
	unsigned int c;

	for (c = 0; c <= a->max_shift - a->min_shift && a->max_shift >= a->min_shift; c++) {
		struct central *ce = &a->central[c];
		uint64_t size = UINT64_C(1) << (a->min_shift + c);

		while (ce->n) {
			if (range_free(a, ce->v[ce->n - 1], size))
				return;		/* keep it cached: no room for metadata */
			ce->n--;
		}
	}
}

/*
 * Move up to @want buffers of class @c into @mag: from the central list,
 * else carved from the range allocator (a magazine's worth at once, else
 * one), else after draining the central lists.
 */
static int class_refill(struct regbuf_alloc *a, unsigned int c, struct magazine *mag,
			uint32_t want)
{
	uint64_t size = UINT64_C(1) << (a->min_shift + c);
	struct central *ce = &a->central[c];
	uintptr_t p;
	uint32_t k;
	int err = 0;

	pthread_mutex_lock(&a->lock);
	if (!ce->n) {
		uint32_t nr = want;

		if (range_alloc(a, size * nr, class_align(a, size), &p)) {
			nr = 1;
			if (range_alloc(a, size, class_align(a, size), &p)) {
				central_drain(a);
				if (range_alloc(a, size, class_align(a, size), &p)) {
					err = -ENOMEM;
					goto out_unlock;
				}
			}
		}
		for (k = 0; k < nr; k++)
			mag->v[mag->n++] = p + k * size;
		goto out_unlock;
	}
	while (ce->n && mag->n < want)
		mag->v[mag->n++] = ce->v[--ce->n];
out_unlock:
	pthread_mutex_unlock(&a->lock);
	return err;
}

/* Flush half of a full magazine (or all of it) to the central list. */
static void class_flush(struct regbuf_alloc *a, unsigned int c, struct magazine *mag,
			uint32_t keep)
{
	uint64_t size = UINT64_C(1) << (a->min_shift + c);

	pthread_mutex_lock(&a->lock);
	while (mag->n > keep) {
		uintptr_t p = mag->v[mag->n - 1];

		/* No memory for the list: give the bytes back to the ranges instead. */
		if (central_push(&a->central[c], p) && range_free(a, p, size))
			break;	/* both failed: keep it in the magazine */
		mag->n--;
	}
	pthread_mutex_unlock(&a->lock);
}

/* ---- per-thread caches ---- */

static void tcache_flush_all(struct tcache *tc)
{
	struct regbuf_alloc *a = tc->a;
	unsigned int c;

	if (a->max_shift < a->min_shift)
		return;
	for (c = 0; c <= a->max_shift - a->min_shift; c++)
		if (tc->mag[c].n)
			class_flush(a, c, &tc->mag[c], 0);
}

/* pthread key destructor: the thread exits, its buffers go back. */
static void tcache_exit(void *arg)
{
	struct tcache *tc = arg;
	struct regbuf_alloc *a = tc->a;

	tcache_flush_all(tc);
	pthread_mutex_lock(&a->lock);
	if (tc->prev)
		tc->prev->next = tc->next;
	else
		a->caches = tc->next;
	if (tc->next)
		tc->next->prev = tc->prev;
	pthread_mutex_unlock(&a->lock);
	free(tc);
}

static struct tcache *tcache_get(struct regbuf_alloc *a)
{
	struct tcache *tc = pthread_getspecific(a->key);

	if (REGBUF_LIKELY(tc != NULL))
		return tc;
	tc = calloc(1, sizeof(*tc));
	if (!tc)
		return NULL;
	tc->a = a;
	if (pthread_setspecific(a->key, tc)) {
		free(tc);
		return NULL;
	}
	pthread_mutex_lock(&a->lock);
	tc->next = a->caches;
	if (a->caches)
		a->caches->prev = tc;
	a->caches = tc;
	pthread_mutex_unlock(&a->lock);
	return tc;
}

/* ---- public ---- */

int regbuf_alloc_create_range(struct regbuf_alloc **ap, void *base, size_t len,
			      uint32_t first_slot, uint64_t slot_len, uint32_t align,
			      unsigned int flags)
{
	struct regbuf_alloc *a;
	unsigned int c;
	int err;

	if (!ap || !base || !len || !slot_len || slot_len > REGBUF_BUF_MAX_LEN || flags)
		return -EINVAL;
	if (!align || (align & (align - 1)) || ((uintptr_t)base & (align - 1)) ||
	    (slot_len & (align - 1)))
		return -EINVAL;
	if ((uintptr_t)base + len < (uintptr_t)base)
		return -EINVAL;
	if ((len - 1) / slot_len > UINT32_MAX - first_slot)
		return -EOVERFLOW;

	a = calloc(1, sizeof(*a));
	if (!a)
		return -ENOMEM;
	a->base = (uintptr_t)base;
	a->len = len;
	a->slot_len = slot_len;
	a->first_slot = first_slot;
	a->align = align;
	a->min_shift = ceil_log2(align) > MIN_SHIFT ? ceil_log2(align) : MIN_SHIFT;
	/* The largest class must fit in a slot. */
	a->max_shift = MAX_SHIFT;
	while (a->max_shift && (UINT64_C(1) << a->max_shift) > slot_len)
		a->max_shift--;
	for (c = 0; c < NR_CLASSES; c++) {
		uint64_t per = MAG_BYTES >> (a->min_shift + c);

		a->mag_cap[c] = per > MAG_MAX ? MAG_MAX : per ? (uint32_t)per : 1;
	}
	err = pthread_mutex_init(&a->lock, NULL);
	if (err)
		goto out_free;
	err = pthread_key_create(&a->key, tcache_exit);
	if (err)
		goto out_mutex;
	if (ext_reserve(a, 1)) {
		err = ENOMEM;
		goto out_key;
	}
	a->ext[0].start = a->base;
	a->ext[0].len = len;
	a->n_ext = 1;
	atomic_init(&a->in_use, 0);
	atomic_init(&a->in_use_bytes, 0);
	*ap = a;
	return 0;

out_key:
	pthread_key_delete(a->key);
out_mutex:
	pthread_mutex_destroy(&a->lock);
out_free:
	free(a->ext);
	free(a);
	return -err;
}

int regbuf_alloc_create(struct regbuf_alloc **ap, struct regbuf_mem *mem, uint32_t first_slot,
			uint64_t slot_len, uint32_t align, unsigned int flags)
{
	if (!mem)
		return -EINVAL;
	return regbuf_alloc_create_range(ap, regbuf_mem_addr(mem), regbuf_mem_len(mem), first_slot,
					 slot_len, align, flags);
}

void regbuf_alloc_destroy(struct regbuf_alloc *a)
{
	struct tcache *tc, *next;
	unsigned int c;

	if (!a)
		return;
	/* After this no thread-exit destructor runs for our caches. */
	pthread_key_delete(a->key);
	for (tc = a->caches; tc; tc = next) {
		next = tc->next;
		free(tc);
	}
	for (c = 0; c < NR_CLASSES; c++)
		free(a->central[c].v);
	free(a->ext);
	pthread_mutex_destroy(&a->lock);
	free(a);
}

static void fill(const struct regbuf_alloc *a, uintptr_t p, uint64_t len,
		 struct regbuf_alloc_span *out)
{
	out->addr = (void *)p;
	out->len = (uint32_t)len;
	out->slot = a->first_slot + (uint32_t)((p - a->base) / a->slot_len);
}

int regbuf_alloc_acquire(struct regbuf_alloc *a, size_t len, struct regbuf_alloc_span *out)
{
	unsigned int shift;
	uint64_t size;
	uintptr_t p;
	int err;

	if (!len)
		return -EINVAL;
	if (len > a->slot_len || len > UINT32_MAX)
		return -E2BIG;
	shift = ceil_log2(len);
	if (shift < a->min_shift)
		shift = a->min_shift;
	if (shift <= a->max_shift) {
		unsigned int c = shift - a->min_shift;
		struct tcache *tc = tcache_get(a);
		struct magazine *mag;

		if (!tc)
			return -ENOMEM;
		mag = &tc->mag[c];
		if (!mag->n) {
			err = class_refill(a, c, mag, (a->mag_cap[c] + 1) / 2);
			if (err)
				return err;
		}
		size = UINT64_C(1) << shift;
		p = mag->v[--mag->n];
	} else {
		size = align_up(len, a->align);
		if (size > a->slot_len)
			return -E2BIG;
		pthread_mutex_lock(&a->lock);
		err = range_alloc(a, size, class_align(a, size), &p);
		if (err) {
			central_drain(a);
			err = range_alloc(a, size, class_align(a, size), &p);
		}
		pthread_mutex_unlock(&a->lock);
		if (err)
			return err;
	}
	fill(a, p, size, out);
	atomic_fetch_add_explicit(&a->in_use, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&a->in_use_bytes, size, memory_order_relaxed);
	return 0;
}

void regbuf_alloc_release(struct regbuf_alloc *a, const struct regbuf_alloc_span *buf)
{
	uintptr_t p = (uintptr_t)buf->addr;
	uint64_t size = buf->len;
	unsigned int shift;

	if (p < a->base || p - a->base >= a->len || !size || size > a->len - (p - a->base))
		return;
	atomic_fetch_sub_explicit(&a->in_use, 1, memory_order_relaxed);
	atomic_fetch_sub_explicit(&a->in_use_bytes, size, memory_order_relaxed);
	shift = ceil_log2(size);
	if ((UINT64_C(1) << shift) == size && shift >= a->min_shift && shift <= a->max_shift) {
		unsigned int c = shift - a->min_shift;
		struct tcache *tc = tcache_get(a);

		if (tc) {
			struct magazine *mag = &tc->mag[c];

			if (mag->n >= a->mag_cap[c])
				class_flush(a, c, mag, a->mag_cap[c] / 2);
			if (mag->n < a->mag_cap[c]) {
				mag->v[mag->n++] = p;
				return;
			}
		}
		/* No cache for this thread: straight to the central list. */
		pthread_mutex_lock(&a->lock);
		if (central_push(&a->central[c], p))
			range_free(a, p, size);
		pthread_mutex_unlock(&a->lock);
		return;
	}
	pthread_mutex_lock(&a->lock);
	range_free(a, p, size);
	pthread_mutex_unlock(&a->lock);
}

void regbuf_alloc_flush(struct regbuf_alloc *a)
{
	struct tcache *tc = pthread_getspecific(a->key);

	if (tc)
		tcache_flush_all(tc);
}

void regbuf_alloc_stats(struct regbuf_alloc *a, struct regbuf_alloc_stats *st)
{
	uint32_t i;

	st->in_use = atomic_load_explicit(&a->in_use, memory_order_relaxed);
	st->in_use_bytes = atomic_load_explicit(&a->in_use_bytes, memory_order_relaxed);
	st->free_bytes = 0;
	pthread_mutex_lock(&a->lock);
	for (i = 0; i < a->n_ext; i++)
		st->free_bytes += a->ext[i].len;
	pthread_mutex_unlock(&a->lock);
}
