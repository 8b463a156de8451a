// SPDX-License-Identifier: MIT
/*
 * uring: the pointer -> slot map every ring of a pool reads, and what an
 * address that is not registered lacks.
 *
 * The map is one array per pool with room for the kernel's largest table,
 * rewritten in place under a sequence count (a seqlock, as the kernel's
 * seqcount_t): the writer makes the count odd, rewrites, and makes it even
 * again with a release store; a reader (regbuf_uring_lookup()) searches and
 * starts over when the count was odd or changed meanwhile.  Nothing is ever
 * freed under a reader, so no grace period is needed before memory can be
 * reused, and readers never wait for the writer's kernel calls: the pool
 * changes the kernel tables first and rewrites the map after (a new slot),
 * or rewrites the map first and changes the kernel tables after (a slot
 * going away).  A reader that looked a slot up just before it went away
 * builds an SQE the kernel refuses with -EFAULT (validate_fixed_range()
 * checks the address against the slot's buffer): stale answers cannot reach
 * other memory.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sys/compat.h"
#include "uring/pool.h"
#include "uring/uring.h"

int map_init(struct regbuf_uring_pool *pool)
{
	pool->map = calloc(1, sizeof(*pool->map) +
			      (size_t)URING_MAX_REG_BUFFERS * sizeof(pool->map->e[0]));
	pool->map_scratch = calloc(URING_MAX_REG_BUFFERS, sizeof(*pool->map_scratch));
	if (!pool->map || !pool->map_scratch) {
		map_free(pool);
		return -ENOMEM;
	}
	pool->map->cap = URING_MAX_REG_BUFFERS;
	return 0;
}

void map_free(struct regbuf_uring_pool *pool)
{
	free(pool->map);
	free(pool->map_scratch);
	pool->map = NULL;
	pool->map_scratch = NULL;
}

static int cmp_slotref(const void *a, const void *b)
{
	const struct regbuf_uring_slotref *x = a, *y = b;

	return x->base < y->base ? -1 : x->base > y->base;
}

void map_publish(struct regbuf_uring_pool *pool, bool fixed)
{
	struct regbuf_uring_map *m = pool->map;
	struct regbuf_uring_slotref *s = pool->map_scratch;
	bool plain = !fixed && pool_unregistered_io(pool);
	uint32_t i, n = 0, seq;

	if (fixed) {
		for (i = 0; i < pool->nr_slots; i++) {
			if (!pool->slots[i].iov_len)
				continue;
			s[n].base = (uint64_t)(uintptr_t)pool->slots[i].iov_base;
			s[n].len = pool->slots[i].iov_len;
			s[n].slot = i;
			n++;
		}
		/* Sorted before the rewrite, so that readers retry for as short a time as can be. */
		qsort(s, n, sizeof(*s), cmp_slotref);
	}
	seq = __atomic_load_n(&m->seq, __ATOMIC_RELAXED);
	__atomic_store_n(&m->seq, seq + 1, __ATOMIC_RELAXED);
	/* Orders the odd count before the rewrite (the reader's fence pairs with it). */
	__atomic_thread_fence(__ATOMIC_RELEASE);
	for (i = 0; i < n; i++) {
		__atomic_store_n(&m->e[i].base, s[i].base, __ATOMIC_RELAXED);
		__atomic_store_n(&m->e[i].len, s[i].len, __ATOMIC_RELAXED);
		__atomic_store_n(&m->e[i].slot, s[i].slot, __ATOMIC_RELAXED);
	}
	__atomic_store_n(&m->nr, n, __ATOMIC_RELAXED);
	/* Pairs with the acquire load that starts regbuf_uring_lookup(). */
	__atomic_store_n(&m->seq, seq + 2, __ATOMIC_RELEASE);
	for (i = 0; i < pool->nr_rings; i++) {
		__atomic_store_n(&pool->rings[i].fixed, fixed, __ATOMIC_RELAXED);
		__atomic_store_n(&pool->rings[i].plain, plain, __ATOMIC_RELAXED);
	}
}

/* What the map says about [addr, addr + len), read under the sequence count. */
struct fault {
	uint32_t nr;			/* registered slots */
	bool inside;			/* addr is registered */
	uint32_t pieces;		/* slots the registered part of the range spans */
	struct regbuf_uring_slotref first, last;	/* when inside: first and last slot of it */
	bool has_below, has_above;
	struct regbuf_uring_slotref below, above;	/* nearest registered memory around the gap */
};

static void load_ref(const struct regbuf_uring_map *m, uint32_t i, struct regbuf_uring_slotref *r)
{
	r->base = __atomic_load_n(&m->e[i].base, __ATOMIC_RELAXED);
	r->len = __atomic_load_n(&m->e[i].len, __ATOMIC_RELAXED);
	r->slot = __atomic_load_n(&m->e[i].slot, __ATOMIC_RELAXED);
}

/* One pass over @m (which may change meanwhile; the caller checks the count). */
static void fault_scan(const struct regbuf_uring_map *m, uint64_t addr, uint64_t end,
		       struct fault *f)
{
	uint32_t lo = 0, hi, nr = __atomic_load_n(&m->nr, __ATOMIC_RELAXED);
	struct regbuf_uring_slotref e;

	memset(f, 0, sizeof(*f));
	if (nr > m->cap)
		nr = m->cap;
	f->nr = nr;
	/* lo: the first entry starting above addr. */
	for (hi = nr; lo < hi;) {
		uint32_t mid = lo + (hi - lo) / 2;

		if (__atomic_load_n(&m->e[mid].base, __ATOMIC_RELAXED) <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo) {
		load_ref(m, lo - 1, &e);
		if (addr - e.base < e.len) {
			/* Follow the slots that continue one another up to the range's end. */
			f->inside = true;
			f->first = e;
			f->pieces = 1;
			while (e.base + e.len < end && lo < nr) {
				struct regbuf_uring_slotref next;

				load_ref(m, lo, &next);
				if (next.base != e.base + e.len)
					break;
				e = next;
				f->pieces++;
				lo++;
			}
			f->last = e;
		} else {
			f->has_below = true;
			f->below = e;
		}
	}
	if (lo < nr) {
		f->has_above = true;
		load_ref(m, lo, &f->above);
	}
}

static int explain_gap(const struct fault *f, uint64_t addr, char *buf, size_t size)
{
	char below[128] = "no registered memory below it", above[128] = "none above it";

	if (f->has_below)
		snprintf(below, sizeof(below),
			 "the nearest registered memory below ends at 0x%" PRIx64
			 " (slot %u, %" PRIu64 " bytes before it)", f->below.base + f->below.len,
			 f->below.slot, addr - (f->below.base + f->below.len));
	if (f->has_above)
		snprintf(above, sizeof(above),
			 "the next starts at 0x%" PRIx64 " (slot %u, %" PRIu64 " bytes after it)",
			 f->above.base, f->above.slot, f->above.base - addr);
	return snprintf(buf, size, "0x%" PRIx64 " is not in registered memory (%u registered "
			"slots): %s, %s", addr, f->nr, below, above);
}

int regbuf_uring_fault_explain(const struct regbuf_uring_ring *r, const void *addr, uint64_t len,
			       char *buf, size_t size)
{
	const struct regbuf_uring_pool *pool;
	uint64_t a = (uint64_t)(uintptr_t)addr, end, stop;
	const struct regbuf_uring_map *m;
	char resume[96] = "";
	struct fault f;
	uint32_t seq;

	if (!r || (!buf && size))
		return -EINVAL;
	pool = r->pool;
	m = r->map;
	if (!__atomic_load_n(&r->fixed, __ATOMIC_RELAXED) || !m) {
		if (!pool)
			return snprintf(buf, size, "nothing is registered");
		return snprintf(buf, size, "nothing is registered in this pool (%s)%s%s",
				regbuf_uring_state_name(pool->st.state),
				pool->st.reason[0] ? ": " : "", pool->st.reason);
	}
	end = a + len < a ? UINT64_MAX : a + len;
	do {
		seq = __atomic_load_n(&m->seq, __ATOMIC_ACQUIRE);
		fault_scan(m, a, end, &f);
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
	} while ((seq & 1) || __atomic_load_n(&m->seq, __ATOMIC_RELAXED) != seq);
	if (!f.inside)
		return explain_gap(&f, a, buf, size);
	stop = f.last.base + f.last.len;
	if (stop >= end)
		return snprintf(buf, size, "[0x%" PRIx64 ", 0x%" PRIx64 ") is registered: slot %u "
				"at offset %" PRIu64 "%s%s", a, end, f.first.slot, a - f.first.base,
				f.pieces > 1 ? ", continued in the slots that follow it, " : "",
				f.pieces > 1 ? "one piece per slot" : "");
	if (f.has_above)
		snprintf(resume, sizeof(resume), "; registered memory resumes at 0x%" PRIx64
			 " (slot %u)", f.above.base, f.above.slot);
	return snprintf(buf, size, "[0x%" PRIx64 ", 0x%" PRIx64 ") runs past registered memory: "
			"registered from slot %u up to 0x%" PRIx64 " (end of slot %u, %" PRIu64
			" of %" PRIu64 " bytes), and 0x%" PRIx64 " is not registered%s",
			a, end, f.first.slot, stop, f.last.slot, stop - a, end - a, stop, resume);
}
