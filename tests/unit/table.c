// SPDX-License-Identifier: MIT
/*
 * unit: the registered buffer table (include/regbuf/table.h) on synthetic
 * folio layouts and hinted (walk-free) registrations of made-up addresses.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include <regbuf/table.h>

#include "harness.h"
#include "table/layout.h"
#include "table_ref.h"

#define KiB (UINT64_C(1) << 10)
#define MiB (UINT64_C(1) << 20)
#define GiB (UINT64_C(1) << 30)
#define PG 4096u

/* Addresses nobody dereferences: hinted registration never walks. */
/* A synthetic user address with room for several GiB above it (32-bit too). */
#if UINTPTR_MAX > 0xffffffffu
#define VA (UINT64_C(0x7f0000000000))
#else
#define VA (UINT64_C(0x40000000))	/* 1 GiB aligned, 3 GiB above it */
#endif

/* ---------------------------------------------------------------------- */
/* Synthetic layouts: one entry per page (folio identity, index in folio, shift, pfn). */

static int build_pages(struct regbuf_buf **b, uint64_t ubuf, uint64_t len, const struct pg *p,
		       uint32_t n, unsigned int flags)
{
	struct table_layout l;
	uint32_t i;
	int ret = 0;

	table_layout_init(&l, REGBUF_LAYOUT_SYNTHETIC);
	for (i = 0; i < n && !ret; i++)
		ret = table_layout_add(&l, p[i].folio, p[i].idx, 1, p[i].shift,
				       p[i].pfn ? p[i].pfn : TABLE_PFN_NONE);
	if (!ret)
		ret = table_buf_build(b, ubuf, len, &l, flags);
	table_layout_free(&l);
	return ret;
}

/* Segments tile [ubuf, ubuf + len) in order and none is empty. */
static int check_tiling(const struct regbuf_buf *b)
{
	struct regbuf_buf_info in;
	uint64_t pos = 0;
	uint32_t i;

	t_ok(regbuf_buf_info(b, &in));
	for (i = 0; i < in.nr_segs; i++) {
		if (in.segs[i].addr != in.ubuf + pos || !in.segs[i].len)
			return T_FAILF("seg %u at %#llx len %llu, expected at %#llx", i,
				       (unsigned long long)in.segs[i].addr,
				       (unsigned long long)in.segs[i].len,
				       (unsigned long long)(in.ubuf + pos));
		pos += in.segs[i].len;
	}
	t_check_eq(pos, in.len);
	return T_PASS;
}

/*
 * No segment may extend past its folio (the CVE-2023-2598 invariant):
 * walking the synthetic pages, each segment must cover consecutive pages of
 * one folio.
 */
static int check_within_folios(const struct regbuf_buf *b, const struct pg *p)
{
	struct regbuf_buf_info in;
	uint64_t pos = 0, in_page;
	uint32_t i;

	t_ok(regbuf_buf_info(b, &in));
	in_page = in.ubuf & (PG - 1);
	for (i = 0; i < in.nr_segs; i++) {
		uint64_t first = (in_page + pos) / PG;
		uint64_t last = (in_page + pos + in.segs[i].len - 1) / PG;
		uint64_t k;

		for (k = first + 1; k <= last; k++)
			if (p[k].folio != p[first].folio || p[k].idx != p[first].idx + (k - first))
				return T_FAILF("seg %u: page %llu does not follow page %llu",
					       i, (unsigned long long)k, (unsigned long long)first);
		pos += in.segs[i].len;
	}
	return T_PASS;
}

/* ---------------------------------------------------------------------- */
/* Coalescing, table-driven. */

#define MAXP 16
#define F2M 21
#define F64K 16

struct coalesce_case {
	const char *name;
	uint64_t in_page;	/* ubuf offset inside its first page */
	uint64_t len;		/* 0 = to the end of the last page */
	uint32_t n;
	struct pg p[MAXP];
	unsigned int flags;	/* register flags */
	unsigned int want_flags;
	uint32_t want_segs;
	uint64_t want_seg0_off;
	unsigned int want_shift;
};

/* Small folios keep the tables short: a 32 KiB "huge" folio has 8 pages. */
#define F32K 15
#define P(f, i, sh) { (f), (i), (sh), 0 }
static const struct coalesce_case coalesce_cases[] = {
	{ "item8_cve_same_page_n_times", 0, 0, 4,
	  { P(1, 5, F2M), P(1, 5, F2M), P(1, 5, F2M), P(1, 5, F2M) },
	  0, 0, 4, 0, 12 },
	{ "item8_cve_shuffled_pages", 0, 0, 4,
	  { P(1, 3, F32K), P(1, 1, F32K), P(1, 2, F32K), P(1, 0, F32K) },
	  REGBUF_TABLE_F_KERNEL_EXACT, 0, 4, 0, 12 },
	/* Beyond the kernel: {3} {1,2} {0} are each consecutive pages, nothing more. */
	{ "item8_cve_shuffled_pages_runs", 0, 0, 4,
	  { P(1, 3, F32K), P(1, 1, F32K), P(1, 2, F32K), P(1, 0, F32K) },
	  0, REGBUF_BUF_F_MIXED, 3, 0, 12 },
	{ "item8_cve_reversed_pages", 0, 0, 4,
	  { P(1, 7, F32K), P(1, 6, F32K), P(1, 5, F32K), P(1, 4, F32K) },
	  0, 0, 4, 0, 12 },
	{ "item8_cve_duplicate_page_kernel_exact", 0, 0, 4,
	  { P(1, 0, F32K), P(1, 1, F32K), P(1, 1, F32K), P(1, 2, F32K) },
	  REGBUF_TABLE_F_KERNEL_EXACT, 0, 4, 0, 12 },
	/* Beyond the kernel: runs {0,1} {1,2} are each safe, still never one segment. */
	{ "item8_cve_duplicate_page_runs", 0, 0, 4,
	  { P(1, 0, F32K), P(1, 1, F32K), P(1, 1, F32K), P(1, 2, F32K) },
	  0, REGBUF_BUF_F_MIXED, 2, 0, 12 },
	{ "item9_single_folio_mid", 100, 3 * PG, 4,
	  { P(1, 2, F32K), P(1, 3, F32K), P(1, 4, F32K), P(1, 5, F32K) },
	  0, REGBUF_BUF_F_COALESCED | REGBUF_BUF_F_SINGLE_FOLIO, 1, 2 * PG + 100, F32K },
	{ "item10_first_folio_stops_early", 0, 0, 4,
	  { P(1, 5, F32K), P(1, 6, F32K), P(2, 0, F32K), P(2, 1, F32K) },
	  REGBUF_TABLE_F_KERNEL_EXACT, 0, 4, 0, 12 },
	{ "item10_first_folio_runs_to_end", 0, 0, 4,
	  { P(1, 6, F32K), P(1, 7, F32K), P(2, 0, F32K), P(2, 1, F32K) },
	  0, REGBUF_BUF_F_COALESCED, 2, 6 * PG, F32K },
	{ "item11_middle_folio_partial", 0, 0, 6,
	  { P(1, 7, F32K), P(2, 0, F32K), P(2, 1, F32K), P(3, 0, F32K), P(3, 1, F32K),
	    P(3, 2, F32K) },
	  REGBUF_TABLE_F_KERNEL_EXACT, 0, 6, 0, 12 },
	{ "item11_tail_partial", 0, 0, 11,
	  { P(1, 7, F32K), P(2, 0, F32K), P(2, 1, F32K), P(2, 2, F32K), P(2, 3, F32K),
	    P(2, 4, F32K), P(2, 5, F32K), P(2, 6, F32K), P(2, 7, F32K), P(3, 0, F32K),
	    P(3, 1, F32K) },
	  0, REGBUF_BUF_F_COALESCED, 3, 7 * PG, F32K },
	{ "item11_exactly_full_tail", 0, 0, 16,
	  { P(1, 0, F32K), P(1, 1, F32K), P(1, 2, F32K), P(1, 3, F32K), P(1, 4, F32K),
	    P(1, 5, F32K), P(1, 6, F32K), P(1, 7, F32K), P(2, 0, F32K), P(2, 1, F32K),
	    P(2, 2, F32K), P(2, 3, F32K), P(2, 4, F32K), P(2, 5, F32K), P(2, 6, F32K),
	    P(2, 7, F32K) },
	  0, REGBUF_BUF_F_COALESCED, 2, 0, F32K },
	{ "item12_mixed_sizes_kernel_exact", 0, 0, 4,
	  { P(1, 7, F32K), P(2, 0, F64K), P(2, 1, F64K), P(2, 2, F64K) },
	  REGBUF_TABLE_F_KERNEL_EXACT, 0, 4, 0, 12 },
	{ "item12_mixed_sizes_runs", 0, 0, 4,
	  { P(1, 7, F32K), P(2, 0, F64K), P(2, 1, F64K), P(2, 2, F64K) },
	  0, REGBUF_BUF_F_MIXED, 2, 0, 12 },
	{ "item12_4k_then_thp", 0, 0, 3,
	  { P(9, 0, 12), P(2, 0, F2M), P(2, 1, F2M) },
	  0, REGBUF_BUF_F_MIXED, 2, 0, 12 },
	{ "item12_all_order0", 0, 0, 3,
	  { P(1, 0, 12), P(2, 0, 12), P(3, 0, 12) },
	  0, 0, 3, 0, 12 },
	{ "item13_next_folio_not_page0", 0, 0, 4,
	  { P(1, 6, F32K), P(1, 7, F32K), P(2, 1, F32K), P(2, 2, F32K) },
	  REGBUF_TABLE_F_KERNEL_EXACT, 0, 4, 0, 12 },
	{ "item14_same_folio_twice", 0, 0, 16,
	  { P(1, 0, F32K), P(1, 1, F32K), P(1, 2, F32K), P(1, 3, F32K), P(1, 4, F32K),
	    P(1, 5, F32K), P(1, 6, F32K), P(1, 7, F32K), P(1, 0, F32K), P(1, 1, F32K),
	    P(1, 2, F32K), P(1, 3, F32K), P(1, 4, F32K), P(1, 5, F32K), P(1, 6, F32K),
	    P(1, 7, F32K) },
	  0, REGBUF_BUF_F_COALESCED, 2, 0, F32K },
	/* Pages 1-2 of a huge folio: one segment, bv_offset from the page index. */
	{ "item16_tail_pages_only", 8, 2 * PG - 8, 2,
	  { P(1, 1, F32K), P(1, 2, F32K) },
	  0, REGBUF_BUF_F_COALESCED | REGBUF_BUF_F_SINGLE_FOLIO, 1, PG + 8, F32K },
	{ "single_page_stays_page_shift", 0, 0, 1,
	  { P(1, 3, F2M) },
	  0, 0, 1, 0, 12 },
};

static int run_coalesce_case(const struct coalesce_case *c)
{
	/* A VA deliberately not aligned like the folios. */
	uint64_t ubuf = VA + 0x5000 + c->in_page;
	uint64_t len = c->len ? c->len : (uint64_t)c->n * PG - c->in_page;
	struct regbuf_buf_info in;
	struct regbuf_buf *b;
	unsigned int mask = REGBUF_BUF_F_COALESCED | REGBUF_BUF_F_SINGLE_FOLIO | REGBUF_BUF_F_MIXED;
	int r;

	t_ok(build_pages(&b, ubuf, len, c->p, c->n, c->flags));
	t_ok(regbuf_buf_info(b, &in));
	if ((in.flags & mask) != c->want_flags || in.nr_segs != c->want_segs ||
	    in.seg0_off != c->want_seg0_off || in.folio_shift != c->want_shift) {
		regbuf_buf_put(b);
		return T_FAILF("%s: flags %#x segs %u seg0_off %llu shift %u; want %#x %u %llu %u",
			       c->name, in.flags & mask, in.nr_segs,
			       (unsigned long long)in.seg0_off, in.folio_shift, c->want_flags,
			       c->want_segs, (unsigned long long)c->want_seg0_off,
			       c->want_shift);
	}
	r = check_tiling(b);
	if (r == T_PASS)
		r = check_within_folios(b, c->p);
	regbuf_buf_put(b);
	return r;
}

/* Each row of coalesce_cases[] is its own named case. */
static int run_coalesce_named(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(coalesce_cases) / sizeof(coalesce_cases[0]); i++)
		if (!strcmp(coalesce_cases[i].name, name))
			return run_coalesce_case(&coalesce_cases[i]);
	return t_broken("no coalesce case %s", name);
}

#define COALESCE_CASE(n) static int n(void) { return run_coalesce_named(#n); }
COALESCE_CASE(item8_cve_same_page_n_times)
COALESCE_CASE(item8_cve_shuffled_pages)
COALESCE_CASE(item8_cve_shuffled_pages_runs)
COALESCE_CASE(item8_cve_reversed_pages)
COALESCE_CASE(item8_cve_duplicate_page_kernel_exact)
COALESCE_CASE(item8_cve_duplicate_page_runs)
COALESCE_CASE(item9_single_folio_mid)
COALESCE_CASE(item10_first_folio_stops_early)
COALESCE_CASE(item10_first_folio_runs_to_end)
COALESCE_CASE(item11_middle_folio_partial)
COALESCE_CASE(item11_tail_partial)
COALESCE_CASE(item11_exactly_full_tail)
COALESCE_CASE(item12_mixed_sizes_kernel_exact)
COALESCE_CASE(item12_mixed_sizes_runs)
COALESCE_CASE(item12_4k_then_thp)
COALESCE_CASE(item12_all_order0)
COALESCE_CASE(item13_next_folio_not_page0)
COALESCE_CASE(item14_same_folio_twice)
COALESCE_CASE(item16_tail_pages_only)
COALESCE_CASE(single_page_stays_page_shift)

/*
 * Item 15 (the 2025 mremap bug): a 2 MiB folio mapped at a VA not aligned to
 * 2 MiB, half of it registered.  bv_offset comes from the page index inside
 * the folio (256 pages in), not from ubuf % 2 MiB.
 */
static int item15_misaligned_va_offset_from_page_index(void)
{
	uint64_t ubuf = VA + 0x3000 + 123;	/* ubuf % 2M = 0x307b */
	uint64_t len = MiB - 123;
	uint32_t n = 256, i;
	struct pg *p = calloc(n + 1, sizeof(*p));
	struct regbuf_buf_info in;
	struct regbuf_buf *b;
	struct regbuf_seg_iter it;

	for (i = 0; i < n; i++)
		p[i] = (struct pg){ 7, 256 + i, F2M, 0 };
	t_ok(build_pages(&b, ubuf, len, p, n, 0));
	free(p);
	t_ok(regbuf_buf_info(b, &in));
	t_check(in.flags & REGBUF_BUF_F_SINGLE_FOLIO);
	t_check_eq(in.seg0_off, 256 * PG + 123);
	t_check(in.seg0_off != (ubuf & (2 * MiB - 1)));
	t_check_eq(in.segs[0].len, len);
	t_ok(regbuf_buf_import(b, ubuf + len - 10, 10, &it));
	t_check_eq(it.segs->addr + it.offset, ubuf + len - 10);
	t_check_eq(it.nr_segs, 1);
	regbuf_buf_put(b);

	/* Now with a second folio: the first segment runs to the folio end, 1 MiB. */
	n = 512 + 4;
	p = calloc(n, sizeof(*p));
	for (i = 0; i < n; i++)
		p[i] = i < 256 ? (struct pg){ 7, 256 + i, F2M, 0 } :
				 (struct pg){ 8, i - 256, F2M, 0 };
	t_ok(build_pages(&b, VA + 0x3000, (uint64_t)n * PG, p, n, 0));
	free(p);
	t_ok(regbuf_buf_info(b, &in));
	t_check(in.flags & REGBUF_BUF_F_COALESCED);
	t_check_eq(in.nr_segs, 2);
	t_check_eq(in.segs[0].len, MiB);
	t_ok(regbuf_buf_import(b, VA + 0x3000 + MiB, 4096, &it));
	t_check(it.segs == &in.segs[1]);
	t_check_eq(it.offset, 0);
	regbuf_buf_put(b);
	return T_PASS;
}

/* Item 17: 1 GiB folios, a 1 GiB buffer straddling two of them (registration, hinted). */
static int item17_gigantic_folios_straddle(void)
{
	struct regbuf_table *t;
	struct regbuf_buf *b;
	struct regbuf_buf_info in;
	struct regbuf_seg_iter it;
	struct iovec iov = { (void *)(uintptr_t)(VA + GiB / 2), GiB };
	uint8_t shift = 30;

	t_ok(regbuf_table_create(&t, 0));
	t_ok(regbuf_table_register_hinted(t, &iov, &shift, 1, 0));
	t_ok(regbuf_table_buf_get(t, 0, &b));
	t_ok(regbuf_buf_info(b, &in));
	t_check(in.flags & REGBUF_BUF_F_COALESCED);
	t_check(!(in.flags & REGBUF_BUF_F_SINGLE_FOLIO));
	t_check_eq(in.folio_shift, 30);
	t_check_eq(in.nr_segs, 2);
	t_check_eq(in.seg0_off, GiB / 2);
	t_check_eq(in.segs[0].len, GiB / 2);
	t_check_eq(in.segs[1].addr, VA + GiB);
	t_check_eq(in.segs[1].len, GiB / 2);
	/* The last byte of folio 0 and the first of folio 1. */
	t_ok(regbuf_table_import(t, 0, VA + GiB - 1, 2, &it));
	t_check_eq(it.nr_segs, 2);
	t_check(it.segs == &in.segs[0]);
	t_check_eq(it.offset, GiB / 2 - 1);
	t_ok(regbuf_table_import(t, 0, VA + GiB + 5, 7, &it));
	t_check(it.segs == &in.segs[1]);
	t_check_eq(it.offset, 5);
	t_check_eq(it.nr_segs, 1);
	regbuf_buf_put(b);
	regbuf_table_destroy(t);
	return T_PASS;
}

/* Item 17 on a synthetic layout: gigantic folio indices, no page-pointer arithmetic. */
static int item17_gigantic_folios_synthetic(void)
{
	struct table_layout l;
	struct regbuf_buf *b;
	struct regbuf_buf_info in;

	table_layout_init(&l, REGBUF_LAYOUT_SYNTHETIC);
	t_ok(table_layout_add(&l, 100, 262144 - 3, 3, 30, TABLE_PFN_NONE));
	t_ok(table_layout_add(&l, 200, 0, 262144 - 3, 30, TABLE_PFN_NONE));
	t_check_eq(l.nr_ext, 2);
	t_ok(table_buf_build(&b, VA + 0x1000, GiB, &l, 0));
	table_layout_free(&l);
	t_ok(regbuf_buf_info(b, &in));
	t_check(in.flags & REGBUF_BUF_F_COALESCED);
	t_check_eq(in.nr_segs, 2);
	t_check_eq(in.seg0_off, GiB - 3 * PG);
	t_check_eq(in.segs[0].len, 3 * PG);
	regbuf_buf_put(b);
	/* An extent may not leave its folio. */
	table_layout_init(&l, REGBUF_LAYOUT_SYNTHETIC);
	t_check_eq(table_layout_add(&l, 1, 262143, 2, 30, TABLE_PFN_NONE), -EINVAL);
	table_layout_free(&l);
	return T_PASS;
}

/* Item 18: the coalesced array cannot be allocated: registered per page, not failed. */
static int item18_coalesce_alloc_failure_falls_back(void)
{
	struct pg p[8];
	struct regbuf_buf *b;
	struct regbuf_buf_info in;
	uint32_t i;

	for (i = 0; i < 8; i++)
		p[i] = (struct pg){ 1 + i / 4, (i % 4) + (i < 4 ? 4 : 0), F32K, 0 };
	atomic_store(&table_inject_coalesce_enomem, 1);
	t_ok(build_pages(&b, VA, 8 * PG, p, 8, 0));
	t_check_eq(atomic_load(&table_inject_coalesce_enomem), 0);
	t_ok(regbuf_buf_info(b, &in));
	t_check(!(in.flags & REGBUF_BUF_F_COALESCED));
	t_check(in.flags & REGBUF_BUF_F_COALESCE_FALLBACK);
	t_check_eq(in.nr_segs, 8);
	t_check_eq(in.folio_shift, 12);
	t_check_eq(check_tiling(b), T_PASS);
	regbuf_buf_put(b);
	/* The same layout without the injection coalesces. */
	t_ok(build_pages(&b, VA, 8 * PG, p, 8, 0));
	t_ok(regbuf_buf_info(b, &in));
	t_check(in.flags & REGBUF_BUF_F_COALESCED);
	t_check_eq(in.nr_segs, 2);
	regbuf_buf_put(b);
	return T_PASS;
}

/* Beyond the kernel: physically adjacent folios merge into one physical segment. */
static int phys_segments_merge_adjacent_folios(void)
{
	struct pg p[8];
	struct regbuf_buf *b;
	struct regbuf_buf_info in;
	uint32_t i;

	for (i = 0; i < 8; i++)	/* two 16 KiB-folios, frames 0x1000.. contiguous */
		p[i] = (struct pg){ 0x1000 + (i / 4) * 4, i % 4, 14, 0x1000 + i };
	t_ok(build_pages(&b, VA + 100, 8 * PG - 200, p, 8, 0));
	t_ok(regbuf_buf_info(b, &in));
	t_check(in.flags & REGBUF_BUF_F_COALESCED);
	t_check(in.flags & REGBUF_BUF_F_PHYS);
	t_check(in.flags & REGBUF_BUF_F_PHYS_MERGED);
	t_check_eq(in.nr_segs, 2);
	t_check_eq(in.nr_phys_segs, 1);
	t_check_eq(in.phys_segs[0].addr, 0x1000 * (uint64_t)PG + 100);
	t_check_eq(in.phys_segs[0].len, 8 * PG - 200);
	regbuf_buf_put(b);
	/* Second folio elsewhere: two physical segments, no merge flag. */
	for (i = 4; i < 8; i++)
		p[i] = (struct pg){ 0x9000, i - 4, 14, 0x9000 + i - 4 };
	t_ok(build_pages(&b, VA, 8 * PG, p, 8, 0));
	t_ok(regbuf_buf_info(b, &in));
	t_check(!(in.flags & REGBUF_BUF_F_PHYS_MERGED));
	t_check_eq(in.nr_phys_segs, 2);
	t_check_eq(in.phys_segs[1].addr, 0x9000 * (uint64_t)PG);
	regbuf_buf_put(b);
	return T_PASS;
}

/* ---------------------------------------------------------------------- */
/* Registration and validation. */

struct reg_case {
	const char *name;
	uint64_t base;
	uint64_t len;
	int want;
};

static const struct reg_case reg_cases[] = {
	{ "item1_null_zero_is_empty_slot", 0, 0, 0 },
	{ "item1_null_with_len_efault", 0, 4096, -EFAULT },
	{ "item1_len0_efault", VA, 0, -EFAULT },
	{ "item1_len_1g_ok", VA, GiB, 0 },
	{ "item1_len_1g_plus_1_efault", VA, GiB + 1, -EFAULT },
	{ "item1_wrap_eoverflow", UINTPTR_MAX - 8191, 8193, -EOVERFLOW },
	{ "item1_page_align_wrap_eoverflow", UINT64_MAX - 4095, 1, -EOVERFLOW },
	{ "item1_top_page_ok_no_wrap", UINT64_MAX - 2 * 4096 + 1, 4096, 0 },
};

static int item1_validation_table(void)
{
	size_t i;

	for (i = 0; i < sizeof(reg_cases) / sizeof(reg_cases[0]); i++) {
		const struct reg_case *c = &reg_cases[i];
		struct iovec iov = { (void *)(uintptr_t)c->base, c->len };
		struct regbuf_table *t;
		uint8_t shift = 21;
		int r;

		t_ok(regbuf_table_create(&t, 0));
		r = regbuf_table_register_hinted(t, &iov, &shift, 1, 0);
		if (r != c->want) {
			regbuf_table_destroy(t);
			return T_FAILF("%s: got %d want %d", c->name, r, c->want);
		}
		if (!r) {
			struct regbuf_buf *b = NULL;

			t_check_eq(regbuf_table_nr(t), 1);
			r = regbuf_table_buf_get(t, 0, &b);
			t_check_eq(r, c->base ? 0 : -EFAULT);
			regbuf_buf_put(b);
		} else {
			t_check_eq(regbuf_table_nr(t), 0);
		}
		regbuf_table_destroy(t);
	}
	return T_PASS;
}

static int item2_nr_limits_busy_enxio(void)
{
	struct regbuf_table *t;
	struct iovec iov = { NULL, 0 };

	t_ok(regbuf_table_create(&t, 0));
	t_check_eq(regbuf_table_register(t, &iov, 0, 0), -EINVAL);
	t_check_eq(regbuf_table_register_sparse(t, 0), -EINVAL);
	t_check_eq(regbuf_table_register_sparse(t, REGBUF_TABLE_MAX_BUFS + 1), -EINVAL);
	t_check_eq(regbuf_table_unregister(t), -ENXIO);
	t_ok(regbuf_table_register_sparse(t, REGBUF_TABLE_MAX_BUFS));
	t_check_eq(regbuf_table_nr(t), REGBUF_TABLE_MAX_BUFS);
	t_check_eq(regbuf_table_register_sparse(t, 1), -EBUSY);
	t_check_eq(regbuf_table_register(t, &iov, 1, 0), -EBUSY);
	t_ok(regbuf_table_unregister(t));
	t_check_eq(regbuf_table_unregister(t), -ENXIO);
	t_check_eq(regbuf_table_nr(t), 0);
	t_check_eq(regbuf_table_register(t, &iov, 1, 0x100), -EINVAL);
	t_check_eq(regbuf_table_register(t, NULL, 1, 0), -EFAULT);
	regbuf_table_destroy(t);
	return T_PASS;
}

static int item3_batch_failure_rolls_back_everything(void)
{
	struct iovec iov[3] = {
		{ (void *)(uintptr_t)VA, 2 * MiB },
		{ (void *)(uintptr_t)(VA + 4 * MiB), 4096 },
		{ (void *)(uintptr_t)(VA + 8 * MiB), 0 },	/* -EFAULT */
	};
	uint8_t shifts[3] = { 21, 21, 21 };
	struct regbuf_table *t;

	t_ok(regbuf_table_create(&t, 0));
	t_check_eq(regbuf_table_register_hinted(t, iov, shifts, 3, 0), -EFAULT);
	t_check_eq(regbuf_table_nr(t), 0);
	iov[2].iov_base = NULL;
	t_ok(regbuf_table_register_hinted(t, iov, shifts, 3, 0));
	t_check_eq(regbuf_table_nr(t), 3);
	shifts[0] = 31;
	regbuf_table_destroy(t);
	t_ok(regbuf_table_create(&t, 0));
	t_check_eq(regbuf_table_register_hinted(t, iov, shifts, 3, 0), -EINVAL);
	regbuf_table_destroy(t);
	return T_PASS;
}

static int item5_update_partial_and_ranges(void)
{
	static char mem[3 * 4096] __attribute__((aligned(4096)));
	struct iovec good[3] = {
		{ mem, 4096 }, { mem + 4096, 100 }, { NULL, 0 },
	};
	struct iovec bad[3] = {
		{ mem, 4096 }, { mem, 0 }, { mem + 4096, 4096 },
	};
	struct regbuf_table *t;
	struct regbuf_buf *b;

	t_ok(regbuf_table_create(&t, 0));
	t_check_eq(regbuf_table_update(t, 0, good, 1), -ENXIO);
	t_ok(regbuf_table_register_sparse(t, 4));
	t_check_eq(regbuf_table_update(t, 0, good, 0), -EINVAL);
	t_check_eq(regbuf_table_update(t, 2, good, 3), -EINVAL);
	t_check_eq(regbuf_table_update(t, UINT32_MAX, good, 2), -EOVERFLOW);
	t_check_eq(regbuf_table_update(t, 0, good, 3), 3);
	t_ok(regbuf_table_buf_get(t, 1, &b));
	regbuf_buf_put(b);
	t_check_eq(regbuf_table_buf_get(t, 2, &b), -EFAULT);
	/* Partial success: entry 1 fails, the call reports 1 done. */
	t_check_eq(regbuf_table_update(t, 2, bad, 2), 1);
	t_ok(regbuf_table_buf_get(t, 2, &b));
	regbuf_buf_put(b);
	t_check_eq(regbuf_table_buf_get(t, 3, &b), -EFAULT);
	/* First entry fails: the error itself. */
	t_check_eq(regbuf_table_update(t, 0, &bad[1], 2), -EFAULT);
	/* Old buffer kept alive by a holder while its slot is replaced (in-flight). */
	t_ok(regbuf_table_buf_get(t, 0, &b));
	t_check_eq(regbuf_table_update(t, 0, &good[2], 1), 1);
	{
		struct regbuf_seg_iter it;

		t_ok(regbuf_buf_import(b, (uint64_t)(uintptr_t)mem, 4096, &it));
		t_check_eq(it.segs->addr, (uint64_t)(uintptr_t)mem);
	}
	regbuf_buf_put(b);
	regbuf_table_destroy(t);
	return T_PASS;
}

/* ---------------------------------------------------------------------- */
/* Import. */

static int item19_import_ranges(void)
{
	struct iovec iov[2] = { { (void *)(uintptr_t)(VA + 0x1000), 8 * MiB }, { NULL, 0 } };
	uint8_t shifts[2] = { 21, 21 };
	uint64_t ubuf = VA + 0x1000, end = ubuf + 8 * MiB;
	struct regbuf_table *t;
	struct regbuf_seg_iter it;
	struct {
		const char *name;
		uint32_t slot;
		uint64_t addr, len;
		int want;
	} c[] = {
		{ "addr_below_ubuf", 0, ubuf - 1, 10, -EFAULT },
		{ "end_past_buffer", 0, end - 9, 10, -EFAULT },
		{ "end_exactly_at_end", 0, end - 10, 10, 0 },
		{ "u64_wrap", 0, ubuf, UINT64_MAX - ubuf + 2, -EFAULT },
		{ "over_max_rw_count", 0, ubuf, REGBUF_MAX_RW_COUNT + 1, -EFAULT },
		{ "len0_empty", 0, ubuf + 5, 0, 0 },
		{ "len0_at_end", 0, end, 0, 0 },
		{ "missing_index", 2, ubuf, 1, -EFAULT },
		{ "empty_slot", 1, 0, 0, -EFAULT },
	};
	size_t i;

	t_ok(regbuf_table_create(&t, 0));
	t_check_eq(regbuf_table_import(t, 0, ubuf, 1, &it), -EFAULT);
	t_ok(regbuf_table_register_hinted(t, iov, shifts, 2, 0));
	for (i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		int r = regbuf_table_import(t, c[i].slot, c[i].addr, c[i].len, &it);

		if (r != c[i].want)
			return T_FAILF("%s: got %d want %d", c[i].name, r, c[i].want);
		if (!r && !c[i].len && (it.count || it.nr_segs))
			return T_FAILF("%s: iterator not empty", c[i].name);
	}
	regbuf_table_destroy(t);
	return T_PASS;
}

static int item20_import_offsets(void)
{
	/* ubuf 0x1000 into a 2M folio: bvec[0] has 2M - 4K bytes. */
	struct iovec iov = { (void *)(uintptr_t)(VA + 0x1000), 5 * MiB };
	uint64_t ubuf = VA + 0x1000, seg0 = 2 * MiB - 0x1000;
	uint8_t shift = 21;
	struct regbuf_table *t;
	struct regbuf_seg_iter it;

	t_ok(regbuf_table_create(&t, 0));
	t_ok(regbuf_table_register_hinted(t, &iov, &shift, 1, 0));
	/* inside bvec[0] */
	t_ok(regbuf_table_import(t, 0, ubuf + 100, 4096, &it));
	t_check_eq(it.offset, 100);
	t_check_eq(it.nr_segs, 1);
	/* exactly at bvec[0].len: segment 1 offset 0 */
	t_ok(regbuf_table_import(t, 0, ubuf + seg0, 4096, &it));
	t_check_eq(it.segs->addr, VA + 2 * MiB);
	t_check_eq(it.offset, 0);
	t_check_eq(it.nr_segs, 1);
	/* one byte before it, two bytes: straddles */
	t_ok(regbuf_table_import(t, 0, ubuf + seg0 - 1, 2, &it));
	t_check_eq(it.nr_segs, 2);
	/* inside the last partial bvec (the buffer ends 1 MiB + 4 KiB into the 3rd folio) */
	t_ok(regbuf_table_import(t, 0, VA + 4 * MiB + 0x10, 0x100, &it));
	t_check_eq(it.segs->addr, VA + 4 * MiB);
	t_check_eq(it.segs->len, MiB + 0x1000);
	t_check_eq(it.offset, 0x10);
	/* ending exactly at the end, from the start: all 4 segments */
	t_ok(regbuf_table_import(t, 0, ubuf, 5 * MiB, &it));
	t_check_eq(it.nr_segs, 3);
	t_check_eq(it.count, 5 * MiB);
	regbuf_table_destroy(t);
	return T_PASS;
}

/* Nitesh Shetty's case: bv_offset 256, offset 3584, len 512 needs 2 segments. */
static int item21_nr_segs_counts_first_offset(void)
{
	struct iovec iov = { (void *)(uintptr_t)(VA + 256), 16 * 4096 };
	struct regbuf_table *t;
	struct regbuf_seg_iter it;

	t_ok(regbuf_table_create(&t, 0));
	t_ok(regbuf_table_register(t, &iov, 1, REGBUF_TABLE_F_LAYOUT_4K));
	t_ok(regbuf_table_import(t, 0, VA + 256 + 3584, 512, &it));
	t_check_eq(it.nr_segs, 2);
	t_check_eq(it.offset, 3584);
	regbuf_table_destroy(t);
	return T_PASS;
}

/*
 * Fast seek vs the linear reference (regbuf_seg_iter_seek()) over random
 * ranges of coalesced, per-page, mixed-run and gigantic layouts.
 */
static int ref_check(const struct regbuf_buf *b, uint64_t off, uint64_t len)
{
	struct regbuf_buf_info in;
	struct regbuf_seg_iter fast, ref;
	uint64_t left, pos;
	uint32_t touched = 0;
	const struct regbuf_seg *s;

	regbuf_buf_info(b, &in);
	if (regbuf_buf_import(b, in.ubuf + off, len, &fast))
		return T_FAILF("import(%llu, %llu) failed", (unsigned long long)off,
			       (unsigned long long)len);
	if (regbuf_seg_iter_seek(&ref, in.segs, in.nr_segs, off, len))
		return T_FAILF("reference seek failed");
	if (fast.count != ref.count ||
	    (len && (fast.segs != ref.segs || fast.offset != ref.offset)))
		return T_FAILF("off %llu len %llu: fast seg %td+%llu, ref seg %td+%llu",
			       (unsigned long long)off, (unsigned long long)len,
			       fast.segs - in.segs, (unsigned long long)fast.offset,
			       ref.segs - in.segs, (unsigned long long)ref.offset);
	/* Segments the range touches, by walking. */
	for (s = ref.segs, pos = ref.offset, left = len; left; s++, pos = 0) {
		uint64_t n = s->len - pos < left ? s->len - pos : left;

		left -= n;
		touched++;
	}
	if (fast.nr_segs != touched)
		return T_FAILF("off %llu len %llu: nr_segs %u, touched %u", (unsigned long long)off,
			       (unsigned long long)len, fast.nr_segs, touched);
	return T_PASS;
}

static int import_fast_seek_matches_reference(void)
{
	struct regbuf_buf *bufs[5];
	struct regbuf_buf_info in;
	struct table_layout l;
	uint64_t cases = 0;
	uint32_t i, k;
	int r;

	/* 0: coalesced 2M, misaligned VA and mid-folio start (shift hint math, via layout) */
	table_layout_init(&l, REGBUF_LAYOUT_SYNTHETIC);
	t_ok(table_layout_add(&l, 1, 300, 212, F2M, TABLE_PFN_NONE));
	for (i = 0; i < 3; i++)
		t_ok(table_layout_add(&l, 2 + i, 0, 512, F2M, TABLE_PFN_NONE));
	t_ok(table_layout_add(&l, 9, 0, 17, F2M, TABLE_PFN_NONE));
	t_ok(table_buf_build(&bufs[0], VA + 0x3000 + 77,
			     (212 + 3 * 512 + 17) * (uint64_t)PG - 77 - 900, &l, 0));
	table_layout_free(&l);
	/* 1: per page, 64 pages, offset 256 (order-0 folios) */
	table_layout_init(&l, REGBUF_LAYOUT_SYNTHETIC);
	for (i = 0; i < 64; i++)
		t_ok(table_layout_add(&l, 1000 + i, 0, 1, 12, TABLE_PFN_NONE));
	t_ok(table_buf_build(&bufs[1], VA + 256, 64 * PG - 256 - 5, &l, 0));
	table_layout_free(&l);
	/* 2: mixed runs: 4K, 64K folio half, 2M folio, 4K, 32K */
	table_layout_init(&l, REGBUF_LAYOUT_SYNTHETIC);
	t_ok(table_layout_add(&l, 1, 0, 1, 12, TABLE_PFN_NONE));
	t_ok(table_layout_add(&l, 2, 8, 8, F64K, TABLE_PFN_NONE));
	t_ok(table_layout_add(&l, 3, 0, 512, F2M, TABLE_PFN_NONE));
	t_ok(table_layout_add(&l, 4, 0, 1, 12, TABLE_PFN_NONE));
	t_ok(table_layout_add(&l, 5, 0, 8, F32K, TABLE_PFN_NONE));
	t_ok(table_buf_build(&bufs[2], VA + 4000, (1 + 8 + 512 + 1 + 8) * (uint64_t)PG - 4000 - 1,
			     &l, 0));
	table_layout_free(&l);
	t_ok(regbuf_buf_info(bufs[2], &in));
	t_check(in.flags & REGBUF_BUF_F_MIXED);
	t_check_eq(in.nr_segs, 5);
	/* 3: gigantic, 1 GiB straddling two folios */
	table_layout_init(&l, REGBUF_LAYOUT_SYNTHETIC);
	t_ok(table_layout_add(&l, 1, 100000, 262144 - 100000, 30, TABLE_PFN_NONE));
	t_ok(table_layout_add(&l, 2, 0, 100000, 30, TABLE_PFN_NONE));
	t_ok(table_buf_build(&bufs[3], VA + 12, GiB - 12, &l, 0));
	table_layout_free(&l);
	/* 4: single folio with a large first offset */
	table_layout_init(&l, REGBUF_LAYOUT_SYNTHETIC);
	t_ok(table_layout_add(&l, 1, 5, 200, F2M, TABLE_PFN_NONE));
	t_ok(table_buf_build(&bufs[4], VA + 4095, 200 * (uint64_t)PG - 4095, &l, 0));
	table_layout_free(&l);

	for (k = 0; k < 5; k++) {
		r = check_tiling(bufs[k]);
		if (r != T_PASS)
			return r;
		regbuf_buf_info(bufs[k], &in);
		for (i = 0; i < 25000; i++, cases++) {
			uint64_t off, len, pick = t_rand() % 8;

			/* Bias towards segment boundaries and the ends. */
			if (pick == 0) {
				uint32_t s = (uint32_t)(t_rand() % in.nr_segs);

				off = in.segs[s].addr - in.ubuf;
				off -= off ? t_rand() % 2 : 0;
			} else if (pick == 1) {
				off = in.len - t_rand() % 4;
			} else {
				off = t_rand() % in.len;
			}
			len = in.len - off;
			if (pick < 4)
				len = len ? t_rand() % (len < 3 * PG ? len + 1 : 3 * PG) : 0;
			else if (len)
				len = t_rand() % (len + 1);
			r = ref_check(bufs[k], off, len);
			if (r != T_PASS)
				return T_FAILF("layout %u: case %u failed (seed %llu)", k, i,
					       (unsigned long long)t_seed());
		}
	}
	for (k = 0; k < 5; k++)
		regbuf_buf_put(bufs[k]);
	t_check(cases >= 100000);
	return T_PASS;
}

/* Random layouts built from the shapes that matter: partial, full, repeated, shuffled. */
static uint32_t random_layout(struct pg *p, uint32_t max)
{
	static const uint8_t shifts[] = { 12, 13, 14, 15 };
	uint32_t n = 0, folio = 1;
	uint8_t base = shifts[t_rand() % 4];

	uint8_t same = 0;

	while (n < max) {
		/* A folio seen again keeps its size: one folio, one size. */
		uint8_t s = same ? same : t_rand() % 4 ? base : shifts[t_rand() % 4];
		uint32_t fp = 1u << (s - 12), start = 0, cnt = fp, k;
		uint32_t kind = (uint32_t)(t_rand() % 8);

		if (kind == 0 || !n)
			start = (uint32_t)(t_rand() % fp);	/* entered mid-folio */
		if (kind == 1 || n + fp > max)
			cnt = 1 + (uint32_t)(t_rand() % fp);	/* stops early */
		if (start + cnt > fp)
			cnt = fp - start;
		if (cnt > max - n)
			cnt = max - n;
		for (k = 0; k < cnt; k++)
			p[n + k] = (struct pg){ folio, start + k, s, 0 };
		if (kind == 2 && cnt > 1)	/* a page repeated */
			p[n + 1 + t_rand() % (cnt - 1)].idx = p[n].idx;
		if (kind == 3 && cnt > 1) {	/* two pages swapped */
			uint32_t a = (uint32_t)(t_rand() % cnt), b = (uint32_t)(t_rand() % cnt);
			uint32_t x = p[n + a].idx;

			p[n + a].idx = p[n + b].idx;
			p[n + b].idx = x;
		}
		n += cnt;
		same = 0;
		if (kind == 4)	/* the same folio again next */
			same = s;
		else
			folio++;
	}
	return n;
}

static int coalesce_matches_page_by_page_reference(void)
{
	struct pg p[48];
	uint32_t iter, n;

	for (iter = 0; iter < 20000; iter++) {
		struct regbuf_buf_info in;
		struct regbuf_buf *b;
		uint32_t folios = 0, first = 0;
		unsigned int shift = 12, flags = t_rand() % 2 ? REGBUF_TABLE_F_KERNEL_EXACT : 0;
		uint64_t in_page = t_rand() % PG, len, tail;
		bool want;
		int r;

		n = 1 + random_layout(p, 1 + (uint32_t)(t_rand() % 47)) - 1;
		tail = t_rand() % PG;
		len = (uint64_t)n * PG - in_page - (n > 1 || tail < PG - in_page ? tail : 0);
		if (!len)
			len = 1;
		want = ref_kernel_coalesce(p, n, &folios, &first, &shift);
		t_ok(build_pages(&b, VA + 0x7000 + in_page, len, p, n, flags));
		regbuf_buf_info(b, &in);
		r = T_PASS;
		if (want != !!(in.flags & REGBUF_BUF_F_COALESCED))
			r = T_FAILF("iter %u: reference says %d, table flags %#x", iter, want,
				    in.flags);
		else if (want && (in.nr_segs != folios || in.folio_shift != shift ||
				  in.seg0_off != (uint64_t)first * PG + in_page))
			r = T_FAILF("iter %u: segs %u shift %u off0 %llu; reference %u %u %llu",
				    iter, in.nr_segs, in.folio_shift,
				    (unsigned long long)in.seg0_off, folios, shift,
				    (unsigned long long)((uint64_t)first * PG + in_page));
		else if (!want && (flags & REGBUF_TABLE_F_KERNEL_EXACT) && in.nr_segs != n)
			r = T_FAILF("iter %u: kernel-exact layout has %u segs for %u pages", iter,
				    in.nr_segs, n);
		if (r == T_PASS)
			r = check_tiling(b);
		if (r == T_PASS && !want)
			r = check_within_folios(b, p);
		if (r == T_PASS && !(in.flags & REGBUF_BUF_F_COALESCED) &&
		    in.seg0_off != in_page)
			r = T_FAILF("per-page seg0_off %llu", (unsigned long long)in.seg0_off);
		if (r == T_PASS)
			r = ref_check(b, t_rand() % len, 0);
		if (r == T_PASS) {
			uint64_t off = t_rand() % len;

			r = ref_check(b, off, t_rand() % (len - off + 1));
		}
		regbuf_buf_put(b);
		if (r != T_PASS)
			return r;
	}
	return T_PASS;
}

/* ---------------------------------------------------------------------- */
/* Clone. */

static int make_table(struct regbuf_table **tp, uint32_t nr, uint32_t empty_mask)
{
	struct iovec iov[16];
	uint8_t shifts[16];
	uint32_t i;

	t_ok(regbuf_table_create(tp, 0));
	for (i = 0; i < nr; i++) {
		iov[i].iov_base = (void *)(uintptr_t)(VA + (uint64_t)i * 4 * MiB);
		if ((empty_mask >> i) & 1)
			iov[i].iov_base = NULL;
		iov[i].iov_len = (empty_mask >> i) & 1 ? 0 : 2 * MiB;
		shifts[i] = 21;
	}
	t_ok(regbuf_table_register_hinted(*tp, iov, shifts, nr, 0));
	return T_PASS;
}

/* The buffer in @slot, or NULL; drops the reference (the table keeps one). */
static struct regbuf_buf *peek(struct regbuf_table *t, uint32_t slot)
{
	struct regbuf_buf *b = NULL;

	if (regbuf_table_buf_get(t, slot, &b))
		return NULL;
	regbuf_buf_put(b);
	return b;
}

static int item24_25_clone_error_codes(void)
{
	struct regbuf_table *src, *dst, *none;
	struct {
		const char *name;
		int dst_registered;
		uint32_t dst_off, src_off, nr;
		unsigned int flags;
		int want;
	} c[] = {
		{ "unknown_flags", 0, 0, 0, 0, 1u << 7, -EINVAL },
		{ "dst_busy_without_replace", 1, 0, 0, 0, 0, -EBUSY },
		{ "nr0_with_src_off", 0, 0, 1, 0, 0, -EINVAL },
		{ "nr0_with_dst_off", 0, 1, 0, 0, 0, -EINVAL },
		{ "nr_above_src", 0, 0, 0, 5, 0, -EINVAL },
		{ "src_off_plus_nr_beyond", 0, 0, 1, 4, 0, -EOVERFLOW },
		{ "src_off_u32_wrap", 0, 0, UINT32_MAX, 2, 0, -EOVERFLOW },
		{ "dst_off_u32_wrap", 0, UINT32_MAX, 0, 2, 0, -EOVERFLOW },
		{ "dst_beyond_max", 0, REGBUF_TABLE_MAX_BUFS - 1, 0, 2, 0, -EINVAL },
		{ "dst_exactly_max", 0, REGBUF_TABLE_MAX_BUFS - 2, 0, 2, 0, 0 },
		{ "whole_table", 0, 0, 0, 0, 0, 0 },
		{ "replace_ok", 1, 0, 0, 0, REGBUF_TABLE_F_CLONE_REPLACE, 0 },
	};
	size_t i;

	if (make_table(&src, 4, 0) != T_PASS)
		return T_FAIL;
	t_ok(regbuf_table_create(&none, 0));
	t_ok(regbuf_table_create(&dst, 0));
	/* An empty source table. */
	t_check_eq(regbuf_table_clone(dst, none, 0, 0, 0, 0), -ENXIO);
	t_ok(regbuf_table_register_sparse(none, 2));
	t_ok(regbuf_table_clone(dst, none, 0, 0, 0, 0));	/* sparse source is a table */
	t_ok(regbuf_table_unregister(dst));
	for (i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		int r;

		if (c[i].dst_registered)
			t_ok(regbuf_table_register_sparse(dst, 1));
		r = regbuf_table_clone(dst, src, c[i].dst_off, c[i].src_off, c[i].nr, c[i].flags);
		if (r != c[i].want)
			return T_FAILF("%s: got %d want %d", c[i].name, r, c[i].want);
		if (regbuf_table_nr(dst))
			t_ok(regbuf_table_unregister(dst));
	}
	regbuf_table_destroy(dst);
	regbuf_table_destroy(src);
	regbuf_table_destroy(none);
	return T_PASS;
}

static int item26_clone_replace_layout(void)
{
	struct regbuf_table *src, *dst;
	struct regbuf_buf *a[4], *s[3];
	uint32_t i;

	if (make_table(&dst, 4, 0) != T_PASS || make_table(&src, 3, 1u << 1) != T_PASS)
		return T_FAIL;
	for (i = 0; i < 4; i++)
		a[i] = peek(dst, i);
	for (i = 0; i < 3; i++)
		s[i] = peek(src, i);
	t_check(s[1] == NULL);
	/* src[0..2) -> dst[1..3): before and after preserved, sparse source empties. */
	t_ok(regbuf_table_clone(dst, src, 1, 0, 2, REGBUF_TABLE_F_CLONE_REPLACE));
	t_check_eq(regbuf_table_nr(dst), 4);
	t_check(peek(dst, 0) == a[0]);
	t_check(peek(dst, 1) == s[0]);
	t_check(peek(dst, 2) == NULL);
	t_check(peek(dst, 3) == a[3]);
	/* Beyond the old end: a gap of empty slots. */
	t_ok(regbuf_table_clone(dst, src, 6, 2, 1, REGBUF_TABLE_F_CLONE_REPLACE));
	t_check_eq(regbuf_table_nr(dst), 7);
	t_check(peek(dst, 3) == a[3]);
	t_check(peek(dst, 4) == NULL);
	t_check(peek(dst, 5) == NULL);
	t_check(peek(dst, 6) == s[2]);
	/* Item 29: the source goes away, the clone keeps the buffers. */
	regbuf_table_destroy(src);
	{
		struct regbuf_seg_iter it;

		t_ok(regbuf_table_import(dst, 6, VA + 8 * MiB + 5, 100, &it));
		t_check_eq(it.segs->addr + it.offset, VA + 8 * MiB + 5);
	}
	regbuf_table_destroy(dst);
	return T_PASS;
}

static int item27_self_clone(void)
{
	struct regbuf_table *t;
	struct regbuf_buf *b0;

	if (make_table(&t, 3, 0) != T_PASS)
		return T_FAIL;
	b0 = peek(t, 0);
	t_ok(regbuf_table_clone(t, t, 1, 0, 1, REGBUF_TABLE_F_CLONE_REPLACE));
	t_check(peek(t, 1) == b0);
	t_check(peek(t, 0) == b0);
	t_check(peek(t, 2) != b0 && peek(t, 2));
	/* Whole table onto itself. */
	t_ok(regbuf_table_clone(t, t, 0, 0, 0, REGBUF_TABLE_F_CLONE_REPLACE));
	t_check_eq(regbuf_table_nr(t), 3);
	t_check(peek(t, 0) == b0);
	regbuf_table_destroy(t);
	return T_PASS;
}

/* A whole-table clone shares the buffers; later changes to either table are private. */
static int clone_whole_table_shares_then_diverges(void)
{
	static char mem[4096] __attribute__((aligned(4096)));
	struct iovec iov = { mem, 4096 };
	struct regbuf_table *src, *dst;
	struct regbuf_buf *b;
	uint32_t i;

	if (make_table(&src, 8, 0) != T_PASS)
		return T_FAIL;
	t_ok(regbuf_table_create(&dst, 0));
	t_ok(regbuf_table_clone(dst, src, 0, 0, 0, 0));
	for (i = 0; i < 8; i++)
		t_check(peek(dst, i) == peek(src, i));
	b = peek(src, 3);
	t_check_eq(regbuf_table_update(dst, 3, &iov, 1), 1);
	t_check(peek(src, 3) == b);
	t_check(peek(dst, 3) != b);
	t_ok(regbuf_table_unregister(src));
	t_check(peek(dst, 4) != NULL);
	regbuf_table_destroy(src);
	regbuf_table_destroy(dst);
	return T_PASS;
}

/* ---------------------------------------------------------------------- */
/* Concurrency: lock-free readers vs a writer that clones, updates, unregisters. */

#define CONC_SLOTS 64
#define CONC_READERS 3

struct conc {
	struct regbuf_table *t, *src;
	char *mem;
	atomic_bool stop;
	atomic_ulong imports, gets, bad;
};

static void *conc_reader(void *arg)
{
	struct conc *c = arg;
	uint64_t x = (uint64_t)(uintptr_t)&x;

	while (!atomic_load(&c->stop)) {
		struct regbuf_buf *b;
		struct regbuf_buf_info in;
		struct regbuf_seg_iter it;
		uint32_t slot;
		uint64_t off, len;

		x = x * 6364136223846793005ULL + 1442695040888963407ULL;
		slot = (uint32_t)(x >> 40) % CONC_SLOTS;
		if (regbuf_table_buf_get(c->t, slot, &b))
			continue;
		regbuf_buf_info(b, &in);
		off = (x >> 8) % in.len;
		len = in.len - off ? (x >> 20) % (in.len - off) : 0;
		if (regbuf_buf_import(b, in.ubuf + off, len, &it) ||
		    (len && it.segs->addr + it.offset != in.ubuf + off) || it.count != len)
			atomic_fetch_add(&c->bad, 1);
		regbuf_buf_put(b);
		atomic_fetch_add_explicit(&c->gets, 1, memory_order_relaxed);
		/* And the lookup-only path: must not fault, result may be stale. */
		if (regbuf_table_import(c->t, slot, in.ubuf, 1, &it) == 0)
			atomic_fetch_add_explicit(&c->imports, 1, memory_order_relaxed);
		(void)regbuf_table_nr(c->t);
	}
	return NULL;
}

static int concurrent_import_vs_clone_update_unregister(void)
{
	struct iovec iov[CONC_SLOTS];
	uint8_t shifts[CONC_SLOTS];
	pthread_t th[CONC_READERS];
	struct conc c;
	struct timespec t0, t1;
	int64_t elapsed;
	unsigned long rounds = 0;
	uint32_t i;
	int r = 0;

	memset(&c, 0, sizeof(c));
	c.mem = mmap(NULL, CONC_SLOTS * 4 * PG, PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (c.mem == MAP_FAILED)
		return t_broken("mmap: %d", errno);
	for (i = 0; i < CONC_SLOTS; i++) {
		iov[i].iov_base = (void *)(uintptr_t)(VA + (uint64_t)i * 4 * MiB + i * 100);
		iov[i].iov_len = MiB + 4 * MiB * (i % 3) / 2;
		shifts[i] = 21;
	}
	t_ok(regbuf_table_create(&c.t, 0));
	t_ok(regbuf_table_create(&c.src, 0));
	t_ok(regbuf_table_register_hinted(c.src, iov, shifts, CONC_SLOTS, 0));
	t_ok(regbuf_table_clone(c.t, c.src, 0, 0, 0, 0));
	for (i = 0; i < CONC_READERS; i++)
		if (pthread_create(&th[i], NULL, conc_reader, &c))
			return t_broken("pthread_create");
	clock_gettime(CLOCK_MONOTONIC, &t0);
	do {
		struct iovec u[2] = {
			{ c.mem + (rounds % CONC_SLOTS) * 4 * PG + 10, 3 * PG },
			{ NULL, 0 },
		};
		uint32_t slot = (uint32_t)(rounds * 7 % (CONC_SLOTS - 2));

		switch (rounds % 5) {
		case 0:
			r = regbuf_table_update(c.t, slot, u, 2) == 2 ? 0 : -1;
			break;
		case 1:
			r = regbuf_table_clone(c.t, c.src, slot, slot + 1, 2,
					       REGBUF_TABLE_F_CLONE_REPLACE);
			break;
		case 2:
			r = regbuf_table_unregister(c.t);
			if (!r)
				r = regbuf_table_register_sparse(c.t, CONC_SLOTS);
			break;
		case 3:
			r = regbuf_table_clone(c.t, c.src, 0, 0, 0, REGBUF_TABLE_F_CLONE_REPLACE);
			break;
		default:
			r = regbuf_table_clone(c.t, c.t, slot, slot + 1, 1,
					       REGBUF_TABLE_F_CLONE_REPLACE);
			break;
		}
		if (r)
			break;
		rounds++;
		clock_gettime(CLOCK_MONOTONIC, &t1);
		elapsed = (int64_t)(t1.tv_sec - t0.tv_sec) * 1000000000 + (t1.tv_nsec - t0.tv_nsec);
		/* 0.7 s, or longer (up to 20 s) until the readers really ran: under
		 * valgrind, which runs one thread at a time, they may get little time. */
	} while (elapsed < 700000000 ||
		 ((rounds <= 10 || atomic_load(&c.gets) <= 100) && elapsed < INT64_C(20000000000)));
	atomic_store(&c.stop, true);
	for (i = 0; i < CONC_READERS; i++)
		pthread_join(th[i], NULL);
	printf("  concurrent: %lu writer rounds, %lu get+import, %lu lookups\n", rounds,
	       (unsigned long)atomic_load(&c.gets), (unsigned long)atomic_load(&c.imports));
	regbuf_table_destroy(c.t);
	regbuf_table_destroy(c.src);
	munmap(c.mem, CONC_SLOTS * 4 * PG);
	if (r)
		return T_FAILF("writer op failed at round %lu: %d", rounds, r);
	t_check_eq(atomic_load(&c.bad), 0);
	t_check(rounds > 10 && atomic_load(&c.gets) > 100);
	return T_PASS;
}

struct xclone {
	struct regbuf_table *dst, *src;
	int ret;
};

static void *xclone_loop(void *arg)
{
	struct xclone *x = arg;
	int i;

	for (i = 0; i < 2000 && !x->ret; i++)
		x->ret = regbuf_table_clone(x->dst, x->src, 0, 1, 2, REGBUF_TABLE_F_CLONE_REPLACE);
	return NULL;
}

/* Item 28: A->B and B->A at once cannot deadlock (only the destination is locked). */
static int item28_crossed_clones_no_deadlock(void)
{
	struct regbuf_table *a, *b;
	struct xclone x[2];
	pthread_t th;

	if (make_table(&a, 4, 0) != T_PASS || make_table(&b, 4, 0) != T_PASS)
		return T_FAIL;
	x[0] = (struct xclone){ b, a, 0 };
	x[1] = (struct xclone){ a, b, 0 };
	if (pthread_create(&th, NULL, xclone_loop, &x[1]))
		return t_broken("pthread_create");
	xclone_loop(&x[0]);
	pthread_join(th, NULL);
	t_ok(x[0].ret);
	t_ok(x[1].ret);
	t_check_eq(regbuf_table_nr(a), 4);
	t_check_eq(regbuf_table_nr(b), 4);
	regbuf_table_destroy(a);
	regbuf_table_destroy(b);
	return T_PASS;
}

/* ---------------------------------------------------------------------- */
/* Reference counts, asserted at every step (a lost one is a use after free later). */

static uint32_t refs(const struct regbuf_buf *b)
{
	return atomic_load(&((struct regbuf_buf *)b)->refs);
}

#define t_refs(b, n) t_check_eq(refs(b), n)

static int buf_refcounts_explicit(void)
{
	static char mem[2 * 4096] __attribute__((aligned(4096)));
	struct iovec iov[3] = {
		{ (void *)(uintptr_t)VA, 2 * MiB },
		{ (void *)(uintptr_t)(VA + 4 * MiB), 2 * MiB },
		{ (void *)(uintptr_t)(VA + 8 * MiB), 4096 },
	};
	struct iovec fresh = { mem, 4096 }, bad = { mem, 0 }, empty = { NULL, 0 };
	uint8_t shifts[3] = { 21, 21, 21 };
	struct regbuf_table *a, *b;
	struct regbuf_buf *b0, *b1, *b2, *x, *n0;

	t_ok(regbuf_table_create(&a, 0));
	t_ok(regbuf_table_create(&b, 0));
	t_ok(regbuf_table_register_hinted(a, iov, shifts, 3, 0));
	t_ok(regbuf_table_buf_get(a, 0, &b0));
	t_ok(regbuf_table_buf_get(a, 1, &b1));
	t_ok(regbuf_table_buf_get(a, 2, &b2));
	/* One reference from a's snapshot, one ours. */
	t_refs(b0, 2);
	t_refs(b1, 2);
	t_refs(b2, 2);
	t_ok(regbuf_table_buf_get(a, 0, &x));
	t_check(x == b0);
	t_refs(b0, 3);
	regbuf_buf_get(x);
	t_refs(b0, 4);
	regbuf_buf_put(x);
	regbuf_buf_put(x);
	t_refs(b0, 2);
	/* Failed lookups take nothing. */
	t_check_eq(regbuf_table_buf_get(a, 3, &x), -EFAULT);
	t_refs(b2, 2);
	/* A whole-table clone into an empty table shares the snapshot, not the buffers. */
	t_ok(regbuf_table_clone(b, a, 0, 0, 0, 0));
	t_refs(b0, 2);
	t_refs(b1, 2);
	/* A range clone with REPLACE builds b its own snapshot: a[1] into b[0],
	 * b[1] and b[2] kept; the shared snapshot loses b's reference. */
	t_ok(regbuf_table_clone(b, a, 0, 1, 1, REGBUF_TABLE_F_CLONE_REPLACE));
	t_refs(b0, 2);	/* a + ours */
	t_refs(b1, 4);	/* a + b[0] + b[1] + ours */
	t_refs(b2, 3);	/* a + b[2] + ours */
	/* A failed clone or update changes nothing. */
	t_check_eq(regbuf_table_clone(b, a, 0, 2, 2, REGBUF_TABLE_F_CLONE_REPLACE), -EOVERFLOW);
	t_check_eq(regbuf_table_update(a, 0, &bad, 1), -EFAULT);
	t_refs(b0, 2);
	t_refs(b1, 4);
	t_refs(b2, 3);
	/* Update: the replaced buffer loses a's reference, the others keep theirs. */
	t_check_eq(regbuf_table_update(a, 0, &fresh, 1), 1);
	t_refs(b0, 1);
	t_refs(b1, 4);
	t_refs(b2, 3);
	t_ok(regbuf_table_buf_get(a, 0, &n0));
	t_refs(n0, 2);
	t_check_eq(regbuf_table_update(a, 0, &empty, 1), 1);
	t_refs(n0, 1);
	regbuf_buf_put(n0);
	/* Unregister and destroy drop exactly their own references. */
	t_ok(regbuf_table_unregister(a));
	t_refs(b1, 3);
	t_refs(b2, 2);
	regbuf_table_destroy(b);
	t_refs(b1, 1);
	t_refs(b2, 1);
	regbuf_buf_put(b0);
	regbuf_buf_put(b1);
	regbuf_buf_put(b2);
	regbuf_buf_put(NULL);
	regbuf_table_destroy(a);
	regbuf_table_destroy(NULL);
	return T_PASS;
}

/* The documented codes of the table API, NULL arguments where documented, and the name helpers. */
static int table_api_abuse(void)
{
	static char mem[4096] __attribute__((aligned(4096)));
	struct iovec one = { mem, 4096 };
	struct iovec wraps = { (void *)(UINTPTR_MAX - 8191), 8192 + 1 };
	struct iovec over = { mem, REGBUF_BUF_MAX_LEN + 1 };
	uint8_t shift = 12, bad_shift = 11;
	struct regbuf_table *t, *u;
	struct regbuf_buf *b;
	struct regbuf_buf_info in;
	struct regbuf_seg_iter it;
	unsigned int bit;

	t = (struct regbuf_table *)&in;
	t_check_eq(regbuf_table_create(&t, 1), -EINVAL);
	t_check(t == (struct regbuf_table *)&in);	/* untouched on failure */
	t_check_eq(regbuf_table_create(NULL, 0), -EINVAL);
	t_ok(regbuf_table_create(&t, 0));
	t_ok(regbuf_table_create(&u, 0));
	t_check_eq(regbuf_table_register(t, &one, 1, 1U << 20), -EINVAL);
	t_check_eq(regbuf_table_register(t, &one, REGBUF_TABLE_MAX_BUFS + 1, 0), -EINVAL);
	t_check_eq(regbuf_table_register(t, &over, 1, 0), -EFAULT);
	t_check_eq(regbuf_table_register(t, &wraps, 1, 0), -EOVERFLOW);
	t_check_eq(regbuf_table_register_hinted(t, NULL, &shift, 1, 0), -EFAULT);
	t_check_eq(regbuf_table_register_hinted(t, &one, NULL, 1, 0), -EFAULT);
	t_check_eq(regbuf_table_register_hinted(t, &one, &bad_shift, 1, 0), -EINVAL);
	bad_shift = 31;
	t_check_eq(regbuf_table_register_hinted(t, &one, &bad_shift, 1, 0), -EINVAL);
	t_check_eq(regbuf_table_nr(t), 0);
	t_check_eq(regbuf_table_import(t, 0, (uintptr_t)mem, 1, &it), -EFAULT);
	t_check_eq(regbuf_table_buf_get(t, 0, &b), -EFAULT);
	t_check_eq(regbuf_table_update(t, 0, NULL, 1), -EFAULT);
	t_check_eq(regbuf_table_clone(u, t, 0, 0, 0, 0), -ENXIO);
	t_ok(regbuf_table_register_hinted(t, &one, &shift, 1, 0));
	t_check_eq(regbuf_table_register_hinted(t, &one, &shift, 1, 0), -EBUSY);
	t_check_eq(regbuf_table_update(t, 1, &one, 1), -EINVAL);
	t_check_eq(regbuf_table_import(t, 1, (uintptr_t)mem, 1, &it), -EFAULT);
	t_check_eq(regbuf_table_import(t, 0, (uintptr_t)mem + 4095, 2, &it), -EFAULT);
	t_check_eq(regbuf_table_import(t, 0, (uintptr_t)mem - 1, 1, &it), -EFAULT);
	t_check_eq(regbuf_table_import(t, 0, UINT64_MAX, 2, &it), -EFAULT);
	t_ok(regbuf_table_import(t, 0, (uintptr_t)mem + 4096, 0, &it));
	t_check_eq(it.nr_segs, 0);
	t_check_eq(regbuf_table_clone(u, t, 0, 0, 0, 1U << 5), -EINVAL);
	t_check_eq(regbuf_table_clone(u, t, 1, 0, 0, 0), -EINVAL);
	t_check_eq(regbuf_table_clone(u, t, 0, 0, 2, 0), -EINVAL);
	t_check_eq(regbuf_table_clone(u, t, REGBUF_TABLE_MAX_BUFS, 0, 1, 0), -EINVAL);
	t_check_eq(regbuf_table_clone(u, t, UINT32_MAX, 0, 1, 0), -EOVERFLOW);
	t_check_eq(regbuf_table_clone(u, t, 0, 1, 1, 0), -EOVERFLOW);
	t_ok(regbuf_table_clone(u, t, 0, 0, 1, 0));
	t_check_eq(regbuf_table_clone(u, t, 0, 0, 1, 0), -EBUSY);
	/* info */
	t_ok(regbuf_table_buf_get(t, 0, &b));
	t_check_eq(regbuf_buf_info(NULL, &in), -EINVAL);
	t_check_eq(regbuf_buf_info(b, NULL), -EINVAL);
	t_ok(regbuf_buf_info(b, &in));
	t_check_eq(in.source, REGBUF_LAYOUT_HINT);
	t_check(!strcmp(regbuf_layout_source_name(in.source), "hint"));
	t_check_eq(regbuf_buf_import(b, (uintptr_t)mem, REGBUF_MAX_RW_COUNT + 1, &it), -EFAULT);
	regbuf_buf_put(b);
	regbuf_table_destroy(u);
	regbuf_table_destroy(t);
	/* Name helpers: every value has a distinct name, unknown ones "?". */
	t_check(!strcmp(regbuf_layout_source_name(REGBUF_LAYOUT_PAGEMAP_SCAN), "pagemap-scan"));
	t_check(!strcmp(regbuf_layout_source_name(REGBUF_LAYOUT_KPAGEFLAGS), "kpageflags"));
	t_check(!strcmp(regbuf_layout_source_name(REGBUF_LAYOUT_4K), "4k"));
	t_check(!strcmp(regbuf_layout_source_name(REGBUF_LAYOUT_SYNTHETIC), "synthetic"));
	t_check(!strcmp(regbuf_layout_source_name((enum regbuf_layout_source)99), "?"));
	for (bit = 0; bit < 8; bit++) {
		unsigned int other;

		t_check(strcmp(regbuf_buf_flag_name(1U << bit), "?") != 0);
		for (other = 0; other < bit; other++)
			t_check(strcmp(regbuf_buf_flag_name(1U << bit),
				       regbuf_buf_flag_name(1U << other)) != 0);
	}
	t_check(!strcmp(regbuf_buf_flag_name(REGBUF_BUF_F_MIXED), "mixed"));
	t_check(!strcmp(regbuf_buf_flag_name(REGBUF_BUF_F_UPPER_BOUND), "upper-bound"));
	t_check(!strcmp(regbuf_buf_flag_name(1U << 8), "?"));
	t_check(!strcmp(regbuf_buf_flag_name(1U << 31), "?"));
	t_check(!strcmp(regbuf_buf_flag_name(REGBUF_BUF_F_COALESCED | REGBUF_BUF_F_PHYS), "?"));
	t_check(!strcmp(regbuf_buf_flag_name(0), "?"));
	return T_PASS;
}

static const struct t_case cases[] = {
	T_CASE(item1_validation_table),
	T_CASE(item2_nr_limits_busy_enxio),
	T_CASE(buf_refcounts_explicit),
	T_CASE(table_api_abuse),
	T_CASE(item3_batch_failure_rolls_back_everything),
	T_CASE(item5_update_partial_and_ranges),
	T_CASE(item8_cve_same_page_n_times),
	T_CASE(item8_cve_shuffled_pages),
	T_CASE(item8_cve_shuffled_pages_runs),
	T_CASE(item8_cve_reversed_pages),
	T_CASE(item8_cve_duplicate_page_kernel_exact),
	T_CASE(item8_cve_duplicate_page_runs),
	T_CASE(item9_single_folio_mid),
	T_CASE(item10_first_folio_stops_early),
	T_CASE(item10_first_folio_runs_to_end),
	T_CASE(item11_middle_folio_partial),
	T_CASE(item11_tail_partial),
	T_CASE(item11_exactly_full_tail),
	T_CASE(item12_mixed_sizes_kernel_exact),
	T_CASE(item12_mixed_sizes_runs),
	T_CASE(item12_4k_then_thp),
	T_CASE(item12_all_order0),
	T_CASE(item13_next_folio_not_page0),
	T_CASE(item14_same_folio_twice),
	T_CASE(item16_tail_pages_only),
	T_CASE(single_page_stays_page_shift),
	T_CASE(item15_misaligned_va_offset_from_page_index),
	T_CASE(item17_gigantic_folios_straddle),
	T_CASE(item17_gigantic_folios_synthetic),
	T_CASE(item18_coalesce_alloc_failure_falls_back),
	T_CASE(phys_segments_merge_adjacent_folios),
	T_CASE(item19_import_ranges),
	T_CASE(item20_import_offsets),
	T_CASE(item21_nr_segs_counts_first_offset),
	T_CASE(import_fast_seek_matches_reference),
	T_CASE(coalesce_matches_page_by_page_reference),
	T_CASE(item24_25_clone_error_codes),
	T_CASE(item26_clone_replace_layout),
	T_CASE(item27_self_clone),
	T_CASE(clone_whole_table_shares_then_diverges),
	T_CASE(item28_crossed_clones_no_deadlock),
	T_CASE(concurrent_import_vs_clone_update_unregister),
};

int main(int argc, char **argv)
{
	return t_main("table", cases, sizeof(cases) / sizeof(cases[0]), argc, argv);
}
