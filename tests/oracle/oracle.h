/* SPDX-License-Identifier: MIT */
/*
 * The kernel-side oracle's records, shared by the BPF program and the test
 * that reads them: what io_sqe_buffer_register() really built for each slot
 * of a ring's buffer table, read at the io_uring:io_uring_register
 * tracepoint (which fires under ctx->uring_lock, after registration).
 */
#ifndef REGBUF_TESTS_ORACLE_H
#define REGBUF_TESTS_ORACLE_H

#define ORACLE_MAX_SLOTS	64
#define ORACLE_CHUNK		256		/* bvecs per map value */
#define ORACLE_MAX_CHUNKS	4096		/* 1 Mi bvecs in all */
#define ORACLE_RING_PAGES	8		/* ring pages recorded for calibration */

struct oracle_bvec {
	__u64 page;		/* struct page * */
	__u32 len;
	__u32 offset;
};

struct oracle_chunk {
	struct oracle_bvec v[ORACLE_CHUNK];
};

struct oracle_slot {
	__u64 ubuf;
	__u32 len;
	__u32 nr_bvecs;
	__u32 folio_shift;
	__u32 first;		/* index of its first bvec in the chunk array */
	__u32 present;		/* the node exists */
	__u32 truncated;	/* more bvecs than room */
};

/* Global state (the program's .bss). */
struct oracle_state {
	__u32 tgid;		/* only this process */
	__u32 hits;		/* tracepoint hits recorded */
	__s64 ret;		/* the register call's result */
	__u32 opcode;
	__u32 nr_slots;		/* ctx->buf_table.nr */
	__u32 page_size;	/* sizeof(struct page), from BTF */
	__u32 nr_ring_pages;
	__u64 ring_page[ORACLE_RING_PAGES];	/* ctx->ring_region.pages[i] */
	__u64 ring_uaddr;	/* unused by the program: the test's own bookkeeping */
	struct oracle_slot slot[ORACLE_MAX_SLOTS];
};

#endif /* REGBUF_TESTS_ORACLE_H */
