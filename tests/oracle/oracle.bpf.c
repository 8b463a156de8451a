// SPDX-License-Identifier: MIT
/*
 * The oracle: after io_uring_register() of buffers, copy what the kernel
 * built for each slot - struct io_mapped_ubuf's ubuf, len, nr_bvecs,
 * folio_shift and every bio_vec - into maps the test reads.  A BTF
 * tracepoint program: kprobes and fentry are not always available, but the
 * io_uring:io_uring_register tracepoint fires in the io_uring_register()
 * syscall right after __io_uring_register(), still under ctx->uring_lock,
 * so the buffer table is stable while we read it.  Field offsets come from
 * the running kernel's BTF (CO-RE), so the same object works across the
 * io_mapped_ubuf layouts of different kernels.
 */
#include "vmlinux.h"

#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "oracle.h"

char LICENSE[] SEC("license") = "GPL";

struct oracle_state state;

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, ORACLE_MAX_CHUNKS);
	__type(key, __u32);
	__type(value, struct oracle_chunk);
} bvecs SEC(".maps");

struct copy_ctx {
	struct io_rsrc_node **nodes;
	__u32 nr;
	__u32 next;		/* next free bvec index */
};

struct bvec_ctx {
	struct io_mapped_ubuf *imu;
	__u32 nr;
	__u32 base;		/* index of bvec 0 in the chunk array */
};

/* Copy bvecs [j * CHUNK, ...) of one imu into the chunk array (bvec indices base + ...). */
static long copy_bvecs(__u32 j, void *arg)
{
	struct bvec_ctx *c = arg;
	__u32 first = j * ORACLE_CHUNK, n, k;
	struct oracle_chunk *dst;

	if (first >= c->nr)
		return 1;
	n = c->nr - first;
	if (n > ORACLE_CHUNK)
		n = ORACLE_CHUNK;
	/* Slots start on a chunk boundary, so bvec i of this imu is chunk (base + i) / CHUNK. */
	k = (c->base + first) / ORACLE_CHUNK;
	dst = bpf_map_lookup_elem(&bvecs, &k);
	if (!dst)
		return 1;
	/*
	 * bio_vec and oracle_bvec are both {page, len, offset}: copy them raw,
	 * exactly n of them (reading past the array could fault and zero the
	 * whole copy).  The mask keeps 1 <= n <= CHUNK visible to the verifier.
	 */
	asm volatile("" : "+r"(n));
	n = ((n - 1) & (ORACLE_CHUNK - 1)) + 1;
	bpf_probe_read_kernel(dst, n * sizeof(struct oracle_bvec), &c->imu->bvec[first]);
	return 0;
}

static long copy_slot(__u32 i, void *arg)
{
	struct copy_ctx *c = arg;
	struct io_rsrc_node *node = NULL;
	struct oracle_slot *s;
	struct io_mapped_ubuf *imu;
	struct bvec_ctx b;
	__u32 room;

	if (i >= c->nr || i >= ORACLE_MAX_SLOTS)
		return 1;
	/* Hide the bound from the compiler so the verifier sees the mask. */
	asm volatile("" : "+r"(i));
	s = &state.slot[i & (ORACLE_MAX_SLOTS - 1)];
	bpf_probe_read_kernel(&node, sizeof(node), &c->nodes[i]);
	if (!node)
		return 0;
	imu = BPF_CORE_READ(node, buf);
	if (!imu)
		return 0;
	s->present = 1;
	s->ubuf = BPF_CORE_READ(imu, ubuf);
	s->len = BPF_CORE_READ(imu, len);
	s->nr_bvecs = BPF_CORE_READ(imu, nr_bvecs);
	s->folio_shift = BPF_CORE_READ(imu, folio_shift);
	s->first = c->next;
	room = ORACLE_MAX_CHUNKS * ORACLE_CHUNK - c->next;
	b.imu = imu;
	b.base = c->next;
	b.nr = s->nr_bvecs;
	if (b.nr > room) {
		b.nr = room;
		s->truncated = 1;
	}
	bpf_loop((b.nr + ORACLE_CHUNK - 1) / ORACLE_CHUNK, copy_bvecs, &b, 0);
	/* The next slot starts on a fresh chunk. */
	c->next += (b.nr + ORACLE_CHUNK - 1) / ORACLE_CHUNK * ORACLE_CHUNK;
	return 0;
}

SEC("tp_btf/io_uring_register")
int BPF_PROG(on_register, void *ringp, unsigned int opcode, unsigned int nr_files,
	     unsigned int nr_bufs, long ret)
{
	struct io_ring_ctx *ring = ringp;
	struct copy_ctx c = {};
	struct page **pages;
	__u32 i, n;

	if ((bpf_get_current_pid_tgid() >> 32) != state.tgid)
		return 0;
	state.hits++;
	state.ret = ret;
	state.opcode = opcode;
	state.page_size = bpf_core_type_size(struct page);

	/* Calibration: the pages io_uring allocated for the SQ/CQ rings. */
	pages = BPF_CORE_READ(ring, ring_region.pages);
	n = BPF_CORE_READ(ring, ring_region.nr_pages);
	if (n > ORACLE_RING_PAGES)
		n = ORACLE_RING_PAGES;
	state.nr_ring_pages = n;
	for (i = 0; i < ORACLE_RING_PAGES; i++) {
		if (i >= n || !pages)
			break;
		bpf_probe_read_kernel(&state.ring_page[i], sizeof(state.ring_page[i]), &pages[i]);
	}

	c.nodes = BPF_CORE_READ(ring, buf_table.nodes);
	c.nr = BPF_CORE_READ(ring, buf_table.nr);
	state.nr_slots = c.nr;
	for (i = 0; i < ORACLE_MAX_SLOTS; i++)
		state.slot[i].present = 0;
	if (c.nodes)
		bpf_loop(c.nr < ORACLE_MAX_SLOTS ? c.nr : ORACLE_MAX_SLOTS, copy_slot, &c, 0);
	return 0;
}
