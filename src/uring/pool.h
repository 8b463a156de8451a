/* SPDX-License-Identifier: MIT */
/*
 * uring: the ring pool's private state, shared by pool.c (create, register,
 * update), map.c (the pointer -> slot map) and the files built on them.
 */
#ifndef REGBUF_SRC_URING_POOL_H
#define REGBUF_SRC_URING_POOL_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include <regbuf/table.h>
#include <regbuf/uring.h>

struct regbuf_uring_pool {
	uint32_t nr_rings;
	unsigned int flags;
	bool clone_ok;			/* IORING_REGISTER_CLONE_BUFFERS works (6.12+) */
	bool clone_range_ok;		/* with offsets and DST_REPLACE (6.13+) */
	bool rwv_fixed;			/* IORING_OP_READV_FIXED (6.15+) */
	bool charged;			/* rings are charged against RLIMIT_MEMLOCK */
	bool registered;		/* a kernel table exists in the open rings */
	bool degraded;			/* failed with REGBUF_URING_POOL_F_DEGRADE: unregistered I/O */
	uint64_t max_buf_len;		/* longest kernel buffer (regbuf_uring_pool_set_buf_len()) */
	uint64_t ring_bytes;		/* memlock charged for the rings themselves */
	bool memlock_lazy;		/* st.memlock is made when the status is asked for */
	struct regbuf_uring_ring *rings;
	bool *closed;
	/* The slot table as registered: base/len per kernel buffer. */
	uint32_t nr_slots;
	struct iovec *slots;
	uint64_t gen;			/* tag generation, bumped per update */
	struct regbuf_uring_status st;
	/* regbuf_uring_pool_mirror(): the table buffer each slot mirrors (a reference). */
	struct regbuf_buf **mirror;
	uint32_t mirror_nr;
	/* The pointer -> slot map every ring reads (map.c), and room to sort it. */
	struct regbuf_uring_map *map;
	struct regbuf_uring_slotref *map_scratch;
	/* The file table every ring registers (regbuf_uring_pool_register_files()): fd per slot, -1 free. */
	int *files;
	uint32_t nr_files;
};

/* Unregistered I/O is running: registration disabled, or degraded after a failure. */
static inline bool pool_unregistered_io(const struct regbuf_uring_pool *pool)
{
	return pool->st.state == REGBUF_URING_REG_DISABLED ||
	       (pool->st.state == REGBUF_URING_REG_FAILED && pool->degraded);
}

/* map.c: room for a map of every slot the kernel allows; 0 or -ENOMEM. */
int map_init(struct regbuf_uring_pool *pool);
void map_free(struct regbuf_uring_pool *pool);

/*
 * Rewrite the map from the pool's slots (@fixed) or empty it (!@fixed: no
 * fixed I/O; the pool's state says whether unregistered I/O runs), and set
 * every ring's fixed/plain flags.  Cannot fail: everything it needs was
 * allocated with the pool.
 */
void map_publish(struct regbuf_uring_pool *pool, bool fixed);

#endif /* REGBUF_SRC_URING_POOL_H */
