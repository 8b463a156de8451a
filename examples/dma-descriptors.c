// SPDX-License-Identifier: MIT
/*
 * dma-descriptors - NVMe PRP and SGL descriptors for a registered buffer,
 * built once, then handed out per I/O.
 *
 * Registers a 4 MiB buffer in a regbuf table, builds its DMA cookie with the
 * identity translator (device address = virtual address, so no device and
 * no IOMMU are needed and every descriptor can be followed with a plain
 * pointer), then asks for the data pointer of a few I/O shapes and prints
 * it: PRP1/PRP2 (and the PRP list PRP2 points into), or SGL descriptor 1
 * (and the segment it points to).  Each description is walked back the way
 * a controller would read it and checked to cover exactly the I/O's bytes.
 *
 *   cc -O2 dma-descriptors.c $(pkg-config --cflags --libs regbuf)
 *   ./a.out
 *
 * With a real device, replace regbuf_dma_ops_identity() by a translator that
 * returns IOVAs (or use regbuf_nvme_dmamap_create(), which does all of this).
 * Exit status: 0 when every walk matches its I/O, 1 otherwise.
 *
 * Section numbers: NVMe Base Specification 1.4.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include <regbuf/dma.h>
#include <regbuf/table.h>

#define BUF_LEN		(4u << 20)
#define PAGE		4096u

/* Follow PRP1/PRP2 as a controller does (NVMe 1.4 §4.3); returns bytes that match. */
static uint64_t walk_prp(const uint8_t *buf, uint64_t off, uint64_t len, uint64_t prp1,
			 uint64_t prp2)
{
	uint64_t want = (uint64_t)(uintptr_t)(buf + off), done, first;
	const regbuf_le64 *list;
	unsigned int i;

	first = PAGE - (prp1 & (PAGE - 1));	/* PRP1 runs to the end of its page */
	if (first > len)
		first = len;
	if (prp1 != want)
		return 0;
	printf("    PRP1 %#" PRIx64 " (%" PRIu64 " bytes)\n", prp1, first);
	if (first == len)
		return len;
	if (len - first <= PAGE) {		/* PRP2 is the second page itself */
		printf("    PRP2 %#" PRIx64 " (data)\n", prp2);
		return prp2 == want + first ? len : 0;
	}
	/* PRP2 points at a list of page addresses; the last entry of a list
	 * page chains to the next page unless one data page remains */
	printf("    PRP2 %#" PRIx64 " -> PRP list:", prp2);
	list = (const regbuf_le64 *)(uintptr_t)(prp2 & ~(uint64_t)(PAGE - 1));
	i = (unsigned int)((prp2 & (PAGE - 1)) / 8);	/* PRP2 may point mid-page */
	for (done = first; done < len; done += PAGE) {
		uint64_t e;

		if (i == PAGE / 8 - 1 && len - done > PAGE) {
			list = (const regbuf_le64 *)(uintptr_t)regbuf_le64_to_cpu(list[i]);
			printf(" [chain]");
			i = 0;
		}
		e = regbuf_le64_to_cpu(list[i++]);
		if (done - first < 3 * PAGE)
			printf(" %#" PRIx64, e);
		if (e != want + done)
			return 0;
	}
	printf("%s\n", len - first > 3 * PAGE ? " ..." : "");
	return len;
}

/* Follow an SGL (NVMe 1.4 §4.4): Data Blocks inline or in (Last) Segments. */
static uint64_t walk_sgl(const uint8_t *buf, uint64_t off, uint64_t len,
			 const struct regbuf_nvme_sgl_desc *d)
{
	uint64_t want = (uint64_t)(uintptr_t)(buf + off), done = 0;
	unsigned int n = 1, i;

	for (;;) {
		for (i = 0; i < n; i++) {
			unsigned int type = d[i].type >> 4;
			uint64_t a = regbuf_le64_to_cpu(d[i].addr);
			uint32_t l = regbuf_le32_to_cpu(d[i].len);

			if (type == REGBUF_NVME_SGL_DATA_BLOCK) {
				printf("    Data Block %#" PRIx64 " +%u\n", a, l);
				if (a != want + done)
					return 0;
				done += l;
			} else if (i == n - 1 && (type == REGBUF_NVME_SGL_SEGMENT ||
						  type == REGBUF_NVME_SGL_LAST_SEGMENT)) {
				printf("    %s %#" PRIx64 " (%u descriptors)\n",
				       type == REGBUF_NVME_SGL_SEGMENT ? "Segment" : "Last Segment",
				       a, l / 16);
				d = (const struct regbuf_nvme_sgl_desc *)(uintptr_t)a;
				n = l / 16;
				break;
			} else {
				return 0;
			}
		}
		if (i == n)
			return done == len ? len : 0;
	}
}

int main(void)
{
	/* I/O shapes: (offset, length) inside the buffer */
	static const struct { uint64_t off, len; const char *what; } io[] = {
		{ 0, 4096, "one page" },
		{ 512, 4096, "4 KiB from offset 512: PRP2 is the second page" },
		{ 8192, 8192, "two whole pages" },
		{ 4096, 64 << 10, "64 KiB: PRP2 points into the cookie's list" },
		{ 100, 3 << 20, "3 MiB: the list chains to a second page" },
	};
	struct regbuf_nvme_sgl_desc scratch_descs[8], sgl1;
	struct regbuf_dma_sgl_scratch scratch;
	struct regbuf_dma_cookie *c;
	struct regbuf_table *t;
	struct regbuf_buf *buf;
	struct iovec iov;
	unsigned int i, bad = 0;
	uint8_t *mem;
	int ret;

	/* 1. a registered buffer: one slot of a regbuf table */
	mem = (uint8_t *)aligned_alloc(PAGE, BUF_LEN);
	if (!mem)
		return 1;
	ret = regbuf_table_create(&t, 0);
	if (ret) {
		fprintf(stderr, "regbuf_table_create: %s\n", strerror(-ret));
		return 1;
	}
	iov.iov_base = mem;
	iov.iov_len = BUF_LEN;
	ret = regbuf_table_register(t, &iov, 1, 0);
	if (!ret)
		ret = regbuf_table_buf_get(t, 0, &buf);
	if (ret) {
		fprintf(stderr, "register: %s\n", strerror(-ret));
		return 1;
	}

	/*
	 * 2. its descriptors, once: with the identity translator the buffer is
	 * one DMA range at its own address; NULL controller = 4 KiB pages and
	 * no MDTS.  The cookie holds a reference on the buffer.
	 */
	ret = regbuf_dma_cookie_create_buf(&c, buf, NULL, regbuf_dma_ops_identity(), NULL, 0);
	regbuf_buf_put(buf);
	if (ret) {
		fprintf(stderr, "regbuf_dma_cookie_create_buf: %s\n", strerror(-ret));
		return 1;
	}
	printf("buffer %p, %u KiB; cookie flags:%s%s%s\n", (void *)mem, BUF_LEN >> 10,
	       regbuf_dma_cookie_flags(c) & REGBUF_DMA_COOKIE_F_CONTIG ? " contiguous" : "",
	       regbuf_dma_cookie_flags(c) & REGBUF_DMA_COOKIE_F_PRP ? " PRP" : "",
	       regbuf_dma_cookie_flags(c) & REGBUF_DMA_COOKIE_F_SGL ? " SGL" : "");

	/* per-command SGL scratch (only scattered buffers need it; harmless here) */
	scratch.descs = scratch_descs;
	scratch.iova = regbuf_iova((uint64_t)(uintptr_t)scratch_descs);
	scratch.nr = 8;
	scratch.__pad = 0;

	/* 3. per I/O: O(1), no allocation */
	for (i = 0; i < sizeof(io) / sizeof(io[0]); i++) {
		uint64_t prp1, prp2;

		printf("I/O at %" PRIu64 ", %" PRIu64 " bytes (%s)\n", io[i].off, io[i].len,
		       io[i].what);
		ret = regbuf_dma_prp(c, io[i].off, io[i].len, &prp1, &prp2);
		if (ret || walk_prp(mem, io[i].off, io[i].len, prp1, prp2) != io[i].len) {
			printf("  PRP: wrong (%d)\n", ret);
			bad++;
		}
		ret = regbuf_dma_sgl(c, io[i].off, io[i].len, &sgl1, &scratch);
		if (ret < 0 || walk_sgl(mem, io[i].off, io[i].len, &sgl1) != io[i].len) {
			printf("  SGL: wrong (%d)\n", ret);
			bad++;
		}
	}
	regbuf_dma_cookie_destroy(c);
	regbuf_table_destroy(t);
	free(mem);
	printf("%s\n", bad ? "MISMATCH" : "every descriptor covers exactly its I/O");
	return bad ? 1 : 0;
}
