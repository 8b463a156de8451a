// SPDX-License-Identifier: MIT
/*
 * inspect-registration - what a registration looks like inside, and how an
 * I/O finds its memory.
 *
 * Registers two buffers in a regbuf table, as io_uring would: a regbuf arena
 * (its folio size is known: one PAGEMAP_SCAN checks it) and plain malloc() memory
 * (its layout is discovered: PAGEMAP_SCAN, or pagemap when privileged).
 * Prints each buffer's multipage segments (one per folio when the layout
 * allows, as the kernel coalesces huge pages since Linux 6.11), then imports
 * a byte range the way a fixed I/O does (slot + address + length, an O(1)
 * seek) and walks it twice: by multipage segment, and by 4 KiB page as an
 * NVMe PRP list would.  Finally clones the table, which shares the buffers.
 *
 *   cc -O2 inspect-registration.c $(pkg-config --cflags --libs regbuf)
 *   ./a.out
 *
 * Needs no privilege and no io_uring.  Exit status: 0 when every walk covers
 * exactly the bytes imported, 1 otherwise.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include <regbuf/mem.h>
#include <regbuf/seg.h>
#include <regbuf/table.h>

#define ARENA_LEN	(6u << 20)
#define HEAP_LEN	(1u << 20)

/* Print what the table knows of @slot. */
static int show_slot(struct regbuf_table *t, uint32_t slot)
{
	struct regbuf_buf_info info;
	struct regbuf_buf *buf;
	unsigned int bit;
	uint32_t i;
	int ret;

	/* A reference keeps the description alive while we read it. */
	ret = regbuf_table_buf_get(t, slot, &buf);
	if (ret)
		return ret;
	ret = regbuf_buf_info(buf, &info);
	if (ret)
		goto out_put;
	printf("slot %u: %" PRIu64 " bytes at 0x%" PRIx64 ", layout from %s\n", slot, info.len,
	       info.ubuf, regbuf_layout_source_name(info.source));
	printf("  %u segment(s) of up to %llu KiB (the kernel would build %u bvecs)",
	       info.nr_segs, (1ULL << info.folio_shift) >> 10, info.kernel_nr_segs);
	/* Each REGBUF_BUF_F_* flag has a name. */
	for (bit = 0; bit < 32; bit++)
		if (info.flags & (1u << bit))
			printf(", %s", regbuf_buf_flag_name(1u << bit));
	printf("\n");
	for (i = 0; i < info.nr_segs && i < 4; i++)
		printf("    seg %u: 0x%" PRIx64 " + %" PRIu64 "\n", i, info.segs[i].addr,
		       info.segs[i].len);
	if (info.nr_segs > 4)
		printf("    ... %u more\n", info.nr_segs - 4);
out_put:
	regbuf_buf_put(buf);
	return ret;
}

/*
 * Import [@addr, @addr + @len) of @slot, as a fixed read or write does, and
 * walk it.  Returns 0 when both walks cover exactly the range.
 */
static int walk_range(struct regbuf_table *t, uint32_t slot, uint64_t addr, uint64_t len)
{
	struct regbuf_seg_iter it, pages;
	uint64_t covered = 0, next = addr;
	unsigned int n = 0;
	int ret;

	ret = regbuf_table_import(t, slot, addr, len, &it);
	if (ret)
		return ret;
	pages = it;	/* iterators are plain values: copy one to walk twice */

	printf("import slot %u [0x%" PRIx64 ", +%" PRIu64 "):\n", slot, addr, len);
	while (!regbuf_seg_iter_done(&it)) {
		struct regbuf_seg s = regbuf_seg_iter_mp(&it);

		/* Virtual segments tile the buffer: each piece starts where the last ended. */
		if (s.addr != next)
			return -1;
		if (n < 4)
			printf("  multipage piece %u: 0x%" PRIx64 " + %" PRIu64 "\n", n, s.addr, s.len);
		n++;
		covered += s.len;
		next += s.len;
		if (regbuf_seg_iter_advance(&it, s.len))
			return -1;
	}
	if (n > 4)
		printf("  ... %u more\n", n - 4);
	if (covered != len)
		return -1;

	n = 0;
	covered = 0;
	while (!regbuf_seg_iter_done(&pages)) {
		struct regbuf_seg s = regbuf_seg_iter_page(&pages, 12);

		covered += s.len;
		n++;
		if (regbuf_seg_iter_advance(&pages, s.len))
			return -1;
	}
	printf("  the same bytes as %u pieces of at most 4 KiB (one PRP entry each)\n", n);
	return covered == len ? 0 : -1;
}

int main(void)
{
	struct regbuf_table *t, *t2;
	struct regbuf_mem *mem;
	struct iovec iov[2];
	uint8_t shift[2];
	void *heap;
	uint64_t base;
	int ret, status = 1;

	ret = regbuf_mem_create(&mem, ARENA_LEN, NULL);
	if (ret) {
		fprintf(stderr, "inspect-registration: regbuf_mem_create: %s\n", strerror(-ret));
		return 1;
	}
	if (posix_memalign(&heap, 4096, HEAP_LEN)) {
		fprintf(stderr, "inspect-registration: out of memory\n");
		goto out_mem;
	}
	memset(heap, 1, HEAP_LEN);	/* fault it in, so that its layout is known */
	printf("arena: %s pages, folio size %llu KiB\n", regbuf_mem_tier_name(regbuf_mem_tier(mem)),
	       (1ULL << regbuf_mem_folio_shift(mem)) >> 10);

	ret = regbuf_table_create(&t, 0);
	if (ret)
		goto out_heap;
	iov[0].iov_base = regbuf_mem_addr(mem);
	iov[0].iov_len = regbuf_mem_len(mem);
	shift[0] = (uint8_t)regbuf_mem_folio_shift(mem);	/* known: checked, not walked */
	iov[1].iov_base = heap;
	iov[1].iov_len = HEAP_LEN;
	shift[1] = 0;						/* unknown: discover */
	ret = regbuf_table_register_hinted(t, iov, shift, 2, 0);
	if (ret) {
		fprintf(stderr, "inspect-registration: register: %s\n", strerror(-ret));
		goto out_table;
	}
	if (show_slot(t, 0) || show_slot(t, 1))
		goto out_table;

	/* A range that starts 1000 bytes before the arena's second MiB and spans 3 MiB. */
	base = (uint64_t)(uintptr_t)regbuf_mem_addr(mem);
	if (walk_range(t, 0, base + (1u << 20) - 1000, 3u << 20) ||
	    walk_range(t, 1, (uint64_t)(uintptr_t)heap + 512, 64 * 1024)) {
		fprintf(stderr, "inspect-registration: a walk did not cover its range\n");
		goto out_table;
	}

	/* Clone shares the buffers (reference counts), whatever the table size: O(1). */
	ret = regbuf_table_create(&t2, 0);
	if (ret)
		goto out_table;
	ret = regbuf_table_clone(t2, t, 0, 0, 0, 0);
	if (ret) {
		fprintf(stderr, "inspect-registration: clone: %s\n", strerror(-ret));
	} else {
		printf("clone: %u slots shared with a second table\n", regbuf_table_nr(t2));
		status = 0;
	}
	regbuf_table_destroy(t2);
out_table:
	/* Buffers live on while another table (or a reference) still holds them. */
	regbuf_table_destroy(t);
out_heap:
	free(heap);
out_mem:
	regbuf_mem_destroy(mem);
	return status;
}
