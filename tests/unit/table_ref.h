/* SPDX-License-Identifier: MIT */
/*
 * Slow references for the table layer, shared by tests/unit/table.c and
 * tests/fuzz/table.c.
 */
#ifndef REGBUF_TESTS_TABLE_REF_H
#define REGBUF_TESTS_TABLE_REF_H

#include <stdbool.h>
#include <stdint.h>

/* A synthetic page: folio identity, index in the folio, folio shift, pfn (0 = unknown). */
struct pg {
	uint64_t folio;
	uint32_t idx;
	uint8_t shift;
	uint64_t pfn;
};

/*
 * The kernel's io_check_coalesce_buffer() decision, transcribed page by page
 * from io_uring/rsrc.c, as the slow reference for the
 * extent-based check in src/table/coalesce.c.  A "page" is (folio, idx);
 * pages[i] == pages[i-1] + 1 means same folio and idx + 1.
 */
static inline bool ref_kernel_coalesce(const struct pg *p, uint32_t n, uint32_t *nr_folios,
				       uint32_t *first_idx, unsigned int *shift)
{
	uint64_t mid = UINT64_C(1) << (p[0].shift - 12), count = 1, head = 0;
	uint32_t i, folios = 1;

	for (i = 1; i < n; i++) {
		if (p[i].folio == p[i - 1].folio && p[i].idx == p[i - 1].idx + 1) {
			count++;
			continue;
		}
		if (folios == 1) {
			if (p[i - 1].idx != mid - 1)
				return false;
			head = count;
		} else if (count != mid) {
			return false;
		}
		if (p[i].shift != p[0].shift || p[i].idx != 0)
			return false;
		count = 1;
		folios++;
	}
	(void)head;
	*nr_folios = folios;
	*first_idx = p[0].idx;
	*shift = p[0].shift;
	/* io_sqe_buffer_register(): more than one page, folios bigger than a page. */
	return n > 1 && p[0].shift > 12;
}

#endif /* REGBUF_TESTS_TABLE_REF_H */
