// SPDX-License-Identifier: MIT
/*
 * fuzz-table-coalesce: folio layouts -> segments, and imports.
 *
 * Inputs are synthetic page layouts fed through the table's internal layout
 * interface (src/table/layout.h: table_layout_add() + table_buf_build(), as
 * the unit tests do) or hinted registrations of made-up addresses
 * (regbuf_table_register_hinted(), no memory is touched): the same page
 * repeated, pages shuffled or reversed, duplicates, a folio mapped twice,
 * mixed folio sizes, partial head and tail folios, a head entered mid-folio
 * (misaligned VA), folio shifts 12..30, physically adjacent folios.
 *
 * The reference is a per-page model written from io_uring/rsrc.c:
 * io_check_coalesce_buffer() page by page, the io_sqe_buffer_register()
 * bvec layout (bv_offset from the head page index, never addr % folio size),
 * regbuf's documented extensions (one segment per run of consecutive pages
 * of a folio when the kernel would go per page; physical runs merged across
 * folios), and the coalescing-ENOMEM fallback.  Then every segment is checked
 * to stay inside one run of consecutive pages of one folio (the CVE-2023-2598
 * invariant), the physical segments byte position by byte position, and
 * random imports against a walk of the expected segments: every piece's
 * address and length, the exact segment count, and the kernel's
 * io_import_fixed() formula (with the bv_offset term, Nitesh Shetty's case).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <regbuf/table.h>

#include "fuzz.h"
#include "table/layout.h"

#define PG		UINT64_C(4096)
#define MAX_PAGES	512
#define MAX_FOLIOS	8
#define NO_PFN		TABLE_PFN_NONE

enum { C_LAYOUT, C_CVE, C_HINTED, C_IMPORT };
FZ_TARGET("table-coalesce", 768, 5000, "layout", "cve", "hinted", "import");

struct page {
	uint64_t folio;
	uint64_t pfn;		/* NO_PFN when unknown */
	uint32_t idx;
	uint8_t shift;
};

/* What the reference expects a buffer to look like. */
struct expect {
	unsigned int flags;
	unsigned int shift;
	uint64_t seg0_off;
	uint32_t kernel_nr_segs;
	uint32_t nr_segs;
	struct regbuf_seg *segs;
	uint32_t nr_phys;
	struct regbuf_seg *phys;
};

static void expect_free(struct expect *e)
{
	free(e->segs);
	free(e->phys);
	memset(e, 0, sizeof(*e));
}

static bool next_in_folio(const struct page *a, const struct page *b)
{
	/* The kernel's "same folio and pages[i] == pages[i-1] + 1". */
	return a->folio == b->folio && a->shift == b->shift && b->idx == a->idx + 1 &&
	       (a->pfn == NO_PFN ? b->pfn == NO_PFN : b->pfn == a->pfn + 1);
}

/* io_check_coalesce_buffer(), page by page. */
static bool ref_check_coalesce(const struct page *p, uint64_t n, uint64_t *nr_folios)
{
	uint64_t nr_pages_mid = UINT64_C(1) << (p[0].shift - 12), count = 1, folios = 1, i;

	for (i = 1; i < n; i++) {
		if (next_in_folio(&p[i - 1], &p[i])) {
			count++;
			continue;
		}
		if (folios == 1) {
			/* The head may start anywhere but must run to its folio's end. */
			if (p[i - 1].idx != nr_pages_mid - 1)
				return false;
		} else if (count != nr_pages_mid) {
			return false;	/* middle folios are whole */
		}
		if (p[i].shift != p[0].shift || p[i].idx != 0)
			return false;	/* same size, entered at page 0 */
		count = 1;
		folios++;
	}
	*nr_folios = folios;
	return true;
}

/* Tile [ubuf, ubuf + len) with pieces of the given page lengths. */
static void add_seg(struct expect *e, uint64_t ubuf, uint64_t *pos, uint64_t len, uint64_t want)
{
	uint64_t n = want < len - *pos ? want : len - *pos;

	e->segs[e->nr_segs].addr = ubuf + *pos;
	e->segs[e->nr_segs].len = n;
	e->nr_segs++;
	*pos += n;
}

static void ref_build(const struct page *p, uint64_t n, uint64_t ubuf, uint64_t len,
		      unsigned int flags, bool inject_enomem, struct expect *e)
{
	uint64_t in_page = ubuf & (PG - 1), nr_folios = 0, pos = 0, i, runs = 1;
	bool pfn_known = p[0].pfn != NO_PFN, merged = false;

	memset(e, 0, sizeof(*e));
	e->segs = calloc(n, sizeof(*e->segs));
	FZ_CHECK(e->segs);
	for (i = 1; i < n; i++)
		runs += !next_in_folio(&p[i - 1], &p[i]);

	if (pfn_known) {
		uint64_t left = len;

		e->flags |= REGBUF_BUF_F_PHYS;
		e->phys = calloc(n, sizeof(*e->phys));
		FZ_CHECK(e->phys);
		for (i = 0; i < n && left; i++) {
			uint64_t a = p[i].pfn * PG + (i ? 0 : in_page), l = PG - (i ? 0 : in_page);

			if (l > left)
				l = left;
			if (i && p[i].pfn == p[i - 1].pfn + 1) {
				e->phys[e->nr_phys - 1].len += l;
				if (p[i].folio != p[i - 1].folio || p[i].idx != p[i - 1].idx + 1)
					merged = true;	/* adjacent folios */
			} else {
				e->phys[e->nr_phys].addr = a;
				e->phys[e->nr_phys].len = l;
				e->nr_phys++;
			}
			left -= l;
		}
		if (merged)
			e->flags |= REGBUF_BUF_F_PHYS_MERGED;
	}

	if (n > 1 && p[0].shift > 12 && ref_check_coalesce(p, n, &nr_folios)) {
		uint64_t fsize = UINT64_C(1) << p[0].shift;

		if (inject_enomem) {
			e->flags |= REGBUF_BUF_F_COALESCE_FALLBACK;
			goto per_page;
		}
		e->flags |= REGBUF_BUF_F_COALESCED;
		if (nr_folios == 1)
			e->flags |= REGBUF_BUF_F_SINGLE_FOLIO;
		e->shift = p[0].shift;
		e->seg0_off = (uint64_t)p[0].idx * PG + in_page;
		e->kernel_nr_segs = (uint32_t)nr_folios;
		add_seg(e, ubuf, &pos, len, fsize - e->seg0_off);
		while (pos < len)
			add_seg(e, ubuf, &pos, len, fsize);
		FZ_CHECK_EQ(e->nr_segs, nr_folios);
		return;
	}
	if (!(flags & REGBUF_TABLE_F_KERNEL_EXACT) && runs < n) {
		/* regbuf beyond the kernel: one segment per run of consecutive pages. */
		uint64_t run_pages = 1;

		e->flags |= REGBUF_BUF_F_MIXED;
		e->shift = 12;
		e->seg0_off = in_page;
		e->kernel_nr_segs = (uint32_t)n;
		for (i = 1; i <= n; i++) {
			if (i < n && next_in_folio(&p[i - 1], &p[i])) {
				run_pages++;
				continue;
			}
			add_seg(e, ubuf, &pos, len, run_pages * PG - (e->nr_segs ? 0 : in_page));
			run_pages = 1;
		}
		return;
	}
per_page:
	e->shift = 12;
	e->seg0_off = in_page;
	e->kernel_nr_segs = (uint32_t)n;
	for (i = 0; i < n; i++)
		add_seg(e, ubuf, &pos, len, PG - (i ? 0 : in_page));
}

/*
 * A hinted buffer too large for the per-page model (the exactly-1-GiB case:
 * 262144 pages made the reference most of the fuzzing time).  VA-aligned
 * folios always pass io_check_coalesce_buffer(), so the expectation is one
 * segment per folio touched.
 */
static void ref_build_folios(uint64_t ubuf, uint64_t len, unsigned int shift, struct expect *e)
{
	uint64_t fs = UINT64_C(1) << shift, pos = 0;
	uint64_t n = ((ubuf + len - 1) >> shift) - (ubuf >> shift) + 1;

	memset(e, 0, sizeof(*e));
	e->segs = calloc(n, sizeof(*e->segs));
	FZ_CHECK(e->segs);
	e->flags = REGBUF_BUF_F_COALESCED | (n == 1 ? REGBUF_BUF_F_SINGLE_FOLIO : 0);
	e->shift = shift;
	e->seg0_off = ubuf & (fs - 1);
	e->kernel_nr_segs = (uint32_t)n;
	add_seg(e, ubuf, &pos, len, fs - e->seg0_off);
	while (pos < len)
		add_seg(e, ubuf, &pos, len, fs);
}

/*
 * The buffer matches the expectation, and its segments never leave a run of a
 * folio: of the pages @p, or (@p NULL, ref_build_folios()) of VA-aligned
 * folios of 1 << e->shift bytes.
 */
static void check_buf(const struct regbuf_buf *b, const struct page *p, uint64_t n, uint64_t ubuf,
		      uint64_t len, unsigned int source, const struct expect *e)
{
	struct regbuf_buf_info in;
	uint64_t in_page = ubuf & (PG - 1), pos = 0, ppos = 0;
	uint32_t i;

	FZ_CHECK_EQ(regbuf_buf_info(b, &in), 0);
	FZ_CHECK_EQ(in.ubuf, ubuf);
	FZ_CHECK_EQ(in.len, len);
	/* How sure the description is depends on how it was learnt, not on the folios. */
	FZ_CHECK_EQ(in.flags & ~(REGBUF_BUF_F_EXACT | REGBUF_BUF_F_UPPER_BOUND), e->flags);
	FZ_CHECK(!(in.flags & REGBUF_BUF_F_EXACT) || !(in.flags & REGBUF_BUF_F_UPPER_BOUND));
	FZ_CHECK_EQ(in.folio_shift, e->shift);
	FZ_CHECK_EQ(in.seg0_off, e->seg0_off);
	FZ_CHECK_EQ(in.kernel_nr_segs, e->kernel_nr_segs);
	FZ_CHECK_EQ(in.source, source);
	FZ_CHECK_EQ(in.nr_segs, e->nr_segs);
	for (i = 0; i < in.nr_segs; i++) {
		uint64_t first, last, k;

		FZ_CHECK_EQ(in.segs[i].addr, e->segs[i].addr);
		FZ_CHECK_EQ(in.segs[i].len, e->segs[i].len);
		FZ_CHECK(in.segs[i].len > 0);
		FZ_CHECK_EQ(in.segs[i].addr, ubuf + pos);
		/* Independent of the model: no segment leaves its folio or skips a page. */
		if (!p) {
			FZ_CHECK_EQ(in.segs[i].addr >> e->shift,
				    (in.segs[i].addr + in.segs[i].len - 1) >> e->shift);
			pos += in.segs[i].len;
			continue;
		}
		first = (in_page + pos) / PG;
		last = (in_page + pos + in.segs[i].len - 1) / PG;
		FZ_CHECK(last < n);
		for (k = first + 1; k <= last; k++)
			if (!next_in_folio(&p[k - 1], &p[k]))
				FZ_FAIL("segment %u spans pages %llu and %llu, not "
					"consecutive in a folio",
					i, (unsigned long long)(k - 1), (unsigned long long)k);
		pos += in.segs[i].len;
	}
	FZ_CHECK_EQ(pos, len);

	FZ_CHECK_EQ(in.nr_phys_segs, e->nr_phys);
	for (i = 0; i < in.nr_phys_segs; i++) {
		uint64_t off = 0;

		FZ_CHECK_EQ(in.phys_segs[i].addr, e->phys[i].addr);
		FZ_CHECK_EQ(in.phys_segs[i].len, e->phys[i].len);
		/* Every byte position of the run has the physical address of its page. */
		while (off < in.phys_segs[i].len) {
			uint64_t k = (in_page + ppos) / PG, at = (in_page + ppos) % PG;
			uint64_t step = PG - at;

			FZ_CHECK(k < n);
			FZ_CHECK_EQ(in.phys_segs[i].addr + off, p[k].pfn * PG + at);
			if (step > in.phys_segs[i].len - off)
				step = in.phys_segs[i].len - off;
			off += step;
			ppos += step;
		}
	}
	FZ_CHECK(!e->nr_phys || ppos == len);
}

/* Expected segment index holding byte position @pos. */
static uint32_t ref_seg_of(const struct expect *e, uint64_t pos, uint64_t *seg_pos)
{
	uint64_t at = 0;
	uint32_t i;

	for (i = 0; i < e->nr_segs; i++) {
		if (pos < at + e->segs[i].len) {
			*seg_pos = at;
			return i;
		}
		at += e->segs[i].len;
	}
	FZ_FAIL("position %llu past the buffer", (unsigned long long)pos);
}

/* One import, checked against the expected segments. */
static void check_import(struct fz *f, const struct regbuf_buf *b, uint64_t ubuf, uint64_t len,
			 const struct expect *e)
{
	struct regbuf_buf_info in;
	struct regbuf_seg_iter it;
	uint64_t off, ilen, addr, seg_pos, pos, left;
	uint32_t first, last;
	int want = 0, ret;

	FZ_CHECK_EQ(regbuf_buf_info(b, &in), 0);
	switch (fz_u8(f) % 8) {
	case 0:		/* around the first segment's end */
		off = e->segs[0].len - fz_range(f, 0, e->segs[0].len < 4 ? e->segs[0].len : 4);
		ilen = fz_range(f, 0, len - off);
		break;
	case 1:		/* to the end exactly */
		off = fz_range(f, 0, len);
		ilen = len - off;
		break;
	case 2:		/* out of range, or wrapping */
		switch (fz_u8(f) % 4) {
		case 0:
			addr = ubuf - fz_range(f, 1, 4096);
			ilen = fz_range(f, 0, len);
			goto raw;
		case 1:
			off = fz_range(f, 0, len);
			ilen = len - off + fz_range(f, 1, 4096);
			break;
		case 2:
			addr = ubuf + fz_range(f, 0, len);
			ilen = UINT64_MAX - addr + fz_range(f, 1, 4096);
			goto raw;
		default:
			off = 0;
			ilen = REGBUF_MAX_RW_COUNT + 1;
			break;
		}
		break;
	case 3:		/* small, near a segment boundary */
		off = fz_range(f, 0, len);
		ilen = fz_range(f, 0, len - off < 8192 ? len - off : 8192);
		break;
	default:
		off = fz_range(f, 0, len);
		ilen = fz_range(f, 0, len - off);
		break;
	}
	addr = ubuf + off;
raw:
	/* validate_fixed_range(): wrap, outside the buffer, above MAX_RW_COUNT. */
	if (addr + ilen < addr || addr < ubuf || addr + ilen > ubuf + len ||
	    ilen > REGBUF_MAX_RW_COUNT)
		want = -EFAULT;
	ret = regbuf_buf_import(b, addr, ilen, &it);
	FZ_CHECK_EQ(ret, want);
	if (ret)
		return;
	FZ_CHECK_EQ(it.count, ilen);
	if (!ilen)
		return;
	off = addr - ubuf;
	first = ref_seg_of(e, off, &seg_pos);
	FZ_CHECK(it.segs == &in.segs[first]);
	FZ_CHECK_EQ(it.offset, off - seg_pos);
	last = ref_seg_of(e, off + ilen - 1, &seg_pos);
	FZ_CHECK_EQ(it.nr_segs, last - first + 1);
	if (e->flags & REGBUF_BUF_F_COALESCED) {
		/* io_import_fixed() with the bv_offset term. */
		uint64_t mask = (UINT64_C(1) << e->shift) - 1;
		uint64_t in_folio = (e->seg0_off + off) & mask;

		FZ_CHECK_EQ(it.nr_segs, (in_folio + ilen + mask) >> e->shift);
	} else if (!(e->flags & REGBUF_BUF_F_MIXED)) {
		FZ_CHECK_EQ(it.nr_segs, (((ubuf + off) & (PG - 1)) + ilen + PG - 1) / PG);
	}
	/* Walk every piece: addresses in order, cut exactly at segment ends. */
	pos = off;
	left = ilen;
	while (left) {
		struct regbuf_seg mp = regbuf_seg_iter_mp(&it);
		uint32_t k = ref_seg_of(e, pos, &seg_pos);
		uint64_t room = seg_pos + e->segs[k].len - pos;

		FZ_CHECK_EQ(mp.addr, ubuf + pos);
		FZ_CHECK_EQ(mp.len, room < left ? room : left);
		FZ_CHECK(it.segs == &in.segs[k]);
		FZ_CHECK(it.segs + it.nr_segs <= in.segs + in.nr_segs);
		FZ_CHECK_EQ(regbuf_seg_iter_advance(&it, mp.len), 0);
		pos += mp.len;
		left -= mp.len;
	}
	FZ_CHECK(regbuf_seg_iter_done(&it));
}

/* ---- layouts ------------------------------------------------------------- */

struct folio {
	uint64_t id;
	uint64_t base_pfn;
	uint8_t shift;
};

static uint8_t gen_shift(struct fz *f)
{
	static const uint8_t s[] = { 12, 13, 14, 15, 15, 15, 16, 16, 21, 21, 30, 18 };

	return s[fz_u8(f) % sizeof(s)];
}

static uint64_t folio_pages(const struct folio *fo)
{
	return UINT64_C(1) << (fo->shift - 12);
}

static void push(struct page *p, uint64_t *n, const struct folio *fo, uint64_t idx, bool pfn)
{
	if (*n >= MAX_PAGES)
		return;
	p[*n].folio = fo->id;
	p[*n].idx = (uint32_t)idx;
	p[*n].shift = fo->shift;
	p[*n].pfn = pfn ? fo->base_pfn + idx : NO_PFN;
	(*n)++;
}

static uint64_t pick_idx(struct fz *f, const struct folio *fo)
{
	uint64_t np = folio_pages(fo);

	switch (fz_u8(f) % 4) {
	case 0:
		return 0;
	case 1:
		return np - 1 - fz_range(f, 0, np - 1 < 8 ? np - 1 : 8);
	default:
		return fz_range(f, 0, np - 1);
	}
}

/* A layout the kernel would coalesce, sometimes with one page perturbed. */
static uint64_t gen_coalescable(struct fz *f, struct folio *fo, uint32_t nf, struct page *p,
				bool pfn)
{
	uint64_t n = 0, np = folio_pages(&fo[0]), k, i, idx = pick_idx(f, &fo[0]);
	uint32_t j;

	for (k = idx; k < np && n < MAX_PAGES; k++)
		push(p, &n, &fo[0], k, pfn);
	for (j = 1; j < nf && n < MAX_PAGES; j++) {
		struct folio *g = &fo[j];
		uint64_t take;

		g->shift = fo[0].shift;
		take = folio_pages(g);
		if (j == nf - 1 || fz_chance(f, 32))
			take = fz_range(f, 1, folio_pages(g));	/* partial tail */
		for (i = 0; i < take && n < MAX_PAGES; i++)
			push(p, &n, g, i, pfn);
		if (take < folio_pages(g))
			break;
	}
	if (n > 1 && fz_chance(f, 48)) {
		/* One page swapped for another page of some folio. */
		const struct folio *g = &fo[fz_u8(f) % nf];

		i = fz_range(f, 0, n - 1);
		p[i].folio = g->id;
		p[i].shift = g->shift;
		p[i].idx = (uint32_t)pick_idx(f, g);
		p[i].pfn = pfn ? g->base_pfn + p[i].idx : NO_PFN;
	}
	return n;
}

static uint64_t gen_pages(struct fz *f, unsigned int cls, struct folio *fo, uint32_t nf,
			  struct page *p, bool pfn)
{
	uint64_t n = 0, want = fz_chance(f, 64) ? fz_range(f, 1, 4) : fz_range(f, 1, MAX_PAGES);

	while (n < want && !fz_empty(f)) {
		const struct folio *g = &fo[fz_u8(f) % nf];
		uint64_t np = folio_pages(g), idx = pick_idx(f, g), k, r, i;
		unsigned int mode = fz_u8(f) % (cls == C_CVE ? 8 : 4);

		k = fz_range(f, 1, 32);
		switch (mode) {
		case 0:		/* ascending run */
		case 1:
			for (i = 0; i < k && idx + i < np; i++)
				push(p, &n, g, idx + i, pfn);
			break;
		case 2:		/* the whole folio, when small */
			for (i = 0; i < np && i < 64; i++)
				push(p, &n, g, i, pfn);
			break;
		case 3:		/* rest of the folio */
			for (i = idx; i < np && i < idx + 64; i++)
				push(p, &n, g, i, pfn);
			break;
		case 4:		/* the same page repeated (CVE-2023-2598) */
			for (i = 0; i < k; i++)
				push(p, &n, g, idx, pfn);
			break;
		case 5:		/* descending */
			for (i = 0; i < k && i <= idx; i++)
				push(p, &n, g, idx - i, pfn);
			break;
		case 6:		/* the previous page again (duplicate) */
			if (n) {
				p[n] = p[n - 1];
				n++;
			}
			break;
		default:	/* a run with two pages swapped */
			r = n;
			for (i = 0; i < k && idx + i < np; i++)
				push(p, &n, g, idx + i, pfn);
			if (n - r >= 2) {
				uint64_t a = r + fz_range(f, 0, n - r - 1);
				uint64_t b = r + fz_range(f, 0, n - r - 1);
				struct page t = p[a];

				p[a] = p[b];
				p[b] = t;
			}
			break;
		}
	}
	if (!n)
		push(p, &n, &fo[0], pick_idx(f, &fo[0]), pfn);
	return n;
}

static void run_synthetic(struct fz *f, unsigned int cls)
{
	struct folio fo[MAX_FOLIOS];
	struct page *p = calloc(MAX_PAGES, sizeof(*p));
	uint32_t nf = (uint32_t)fz_range(f, 1, MAX_FOLIOS), j;
	bool pfn = fz_chance(f, 160), inject;
	uint64_t n, in_page, len, ubuf, i, bad_len;
	unsigned int flags = fz_chance(f, 64) ? REGBUF_TABLE_F_KERNEL_EXACT : 0;
	struct table_layout l;
	struct regbuf_buf *b = NULL;
	struct expect e;
	int ret;

	FZ_CHECK(p);
	for (j = 0; j < nf; j++) {
		fo[j].id = j + 1;
		fo[j].shift = gen_shift(f);
		if (j && fz_chance(f, 96))	/* physically right after the previous folio */
			fo[j].base_pfn = fo[j - 1].base_pfn + folio_pages(&fo[j - 1]);
		else
			fo[j].base_pfn = (fz_u32(f) + UINT64_C(1)) << (fo[j].shift - 12);
	}
	if (cls == C_LAYOUT && fz_chance(f, 128))
		n = gen_coalescable(f, fo, nf, p, pfn);
	else
		n = gen_pages(f, cls, fo, nf, p, pfn);

	in_page = fz_chance(f, 128) ? 0 : fz_range(f, 0, PG - 1);
	/* The last page holds at least one byte. */
	len = (n - 1) * PG - in_page + fz_range(f, 1, PG);
	if (n == 1 && len > PG - in_page)
		len = PG - in_page;
	if (len == 0)
		len = 1;
	ubuf = ((fz_u64(f) & ((UINT64_C(1) << 47) - 1)) | (UINT64_C(1) << 32)) & ~(PG - 1);
	if (ubuf + (n + 1) * PG < ubuf)
		ubuf = UINT64_C(1) << 32;
	ubuf += in_page;

	/* Feed the layout in page runs of random length. */
	table_layout_init(&l, REGBUF_LAYOUT_SYNTHETIC);
	for (i = 0; i < n; ) {
		uint64_t k = 1, m = fz_range(f, 1, 16);

		while (k < m && i + k < n && next_in_folio(&p[i + k - 1], &p[i + k]))
			k++;
		FZ_CHECK_EQ(table_layout_add(&l, p[i].folio, p[i].idx, (uint32_t)k, p[i].shift,
					     p[i].pfn), 0);
		i += k;
	}
	FZ_CHECK_EQ(l.nr_pages, n);
	/* Pages past the folio's end, no pages, a bad shift: refused, layout unchanged. */
	if (fz_chance(f, 16)) {
		uint8_t sh = p[0].shift;

		FZ_CHECK_EQ(table_layout_add(&l, 99, (uint32_t)((UINT64_C(1) << (sh - 12)) - 1), 2,
					     sh, NO_PFN), -EINVAL);
		FZ_CHECK_EQ(table_layout_add(&l, 99, 0, 0, sh, NO_PFN), -EINVAL);
		FZ_CHECK_EQ(table_layout_add(&l, 99, 0, 1, fz_chance(f, 128) ? 11 : 31, NO_PFN),
			    -EINVAL);
		FZ_CHECK_EQ(l.nr_pages, n);
	}

	/* A length that does not match the page count is refused. */
	if (fz_chance(f, 8)) {
		bad_len = len + PG * fz_range(f, 1, 3);
		FZ_CHECK_EQ(table_buf_build(&b, ubuf, bad_len, &l, flags), -EINVAL);
	}

	/* A failed coalesced allocation falls back to per page (io_uring/rsrc.c). */
	inject = fz_chance(f, 24);
	atomic_store(&table_inject_coalesce_enomem, inject ? 1 : 0);
	ret = table_buf_build(&b, ubuf, len, &l, flags);
	ref_build(p, n, ubuf, len, flags, inject, &e);
	/* The injection is used up exactly when the kernel rules coalesce. */
	FZ_CHECK_EQ(atomic_load(&table_inject_coalesce_enomem),
		    inject && !(e.flags & REGBUF_BUF_F_COALESCE_FALLBACK));
	atomic_store(&table_inject_coalesce_enomem, 0);
	table_layout_free(&l);
	FZ_CHECK_EQ(ret, 0);
	check_buf(b, p, n, ubuf, len, REGBUF_LAYOUT_SYNTHETIC, &e);
	for (i = 0; i < (cls == C_IMPORT ? 64u : 8u) && !fz_empty(f); i++)
		check_import(f, b, ubuf, len, &e);
	regbuf_buf_put(b);
	expect_free(&e);
	free(p);
	fz_stat_checked++;
}

/* ---- hinted registration of made-up addresses ---------------------------- */

#define MAX_HINTED	4
#define HINTED_PAGES_MAX	4097	/* per-page model up to 16 MiB + a page */

/* io_sqe_buffer_register() validation, then the hint's range (1 = empty slot). */
static int ref_validate(uint64_t addr, uint64_t len, unsigned int shift)
{
	uint64_t end;

	if (!addr)
		return len ? -EFAULT : 1;
	if (!len || len > REGBUF_BUF_MAX_LEN)
		return -EFAULT;
	if (__builtin_add_overflow(addr, (len + PG - 1) & ~(PG - 1), &end))
		return -EOVERFLOW;
	/* io_pin_pages(): ALIGN(addr + len) must not wrap either. */
	if (__builtin_add_overflow(addr, len, &end) || __builtin_add_overflow(end, PG - 1, &end))
		return -EOVERFLOW;
	if (shift < 12 || shift > 30)
		return -EINVAL;
	return 0;
}

/* The pages of a VA-aligned-folio mapping: what a hint promises. */
static struct page *hinted_pages(uint64_t addr, uint64_t len, unsigned int shift, uint64_t *np)
{
	uint64_t start = addr & ~(PG - 1), end = (addr + len + PG - 1) & ~(PG - 1), i;
	uint64_t n = (end - start) / PG;
	struct page *p = calloc(n, sizeof(*p));

	FZ_CHECK(p);
	for (i = 0; i < n; i++) {
		uint64_t va = start + i * PG;

		p[i].folio = va >> shift;
		p[i].idx = (uint32_t)((va >> 12) & ((UINT64_C(1) << (shift - 12)) - 1));
		p[i].shift = (uint8_t)shift;
		p[i].pfn = NO_PFN;
	}
	*np = n;
	return p;
}

static void run_hinted(struct fz *f)
{
	struct iovec iov[MAX_HINTED];
	uint8_t shifts[MAX_HINTED];
	uint32_t nr = (uint32_t)fz_range(f, 1, MAX_HINTED), i;
	unsigned int flags = 0;
	struct regbuf_table *t;
	int want = 0, ret;

	if (fz_chance(f, 64))
		flags |= REGBUF_TABLE_F_KERNEL_EXACT;
	if (fz_chance(f, 32))
		flags |= REGBUF_TABLE_F_LAYOUT_4K;
	for (i = 0; i < nr; i++) {
		unsigned int shift = gen_shift(f);
		uint64_t fs = UINT64_C(1) << shift, addr, len, lim;

		/* Per-page layouts of a GiB would make the reference slow: keep them short. */
		lim = (shift <= 16 || (flags & REGBUF_TABLE_F_LAYOUT_4K)) ? UINT64_C(2) << 20 :
		      UINT64_C(16) << 20;
		switch (fz_u8(f) % 8) {
		case 0:		/* inside one folio, mid-folio */
			addr = (fz_range(f, 1, 1 << 16) << shift) + fz_range(f, 0, fs - 1);
			len = fz_range(f, 1, fs - (addr & (fs - 1)));
			break;
		case 1:		/* folio-aligned whole folios */
			addr = fz_range(f, 1, 1 << 16) << shift;
			len = fs * fz_range(f, 1, 4);
			break;
		case 2:		/* validation edges */
			switch (fz_u8(f) % 5) {
			case 0:
				addr = 0;
				len = fz_chance(f, 128) ? 0 : fz_range(f, 1, 4096);
				break;
			case 1:
				addr = fz_range(f, 1, UINT64_C(1) << 40);
				len = fz_chance(f, 128) ? 0 : REGBUF_BUF_MAX_LEN + 1;
				break;
			case 2:		/* addr + PAGE_ALIGN(len), or the last page, wraps */
				len = fz_range(f, 1, 1 << 20);
				if (fz_chance(f, 128))
					addr = UINT64_MAX - fz_range(f, 0, len);
				else
					addr = UINT64_MAX - len - fz_range(f, 0, 2 * PG);
				break;
			case 3:
				addr = fz_range(f, 1, UINT64_C(1) << 40);
				len = fz_range(f, 1, 1 << 20);
				shift = fz_chance(f, 128) ? 11 : 31;
				break;
			default:	/* exactly 1 GiB (checked per folio: ref_build_folios()) */
				if (!fz_chance(f, 64)) {
					addr = fz_range(f, 1, UINT64_C(1) << 40);
					len = 0;
					break;
				}
				addr = (fz_range(f, 1, 1 << 10) << 30) + fz_range(f, 0, 1) * PG;
				len = UINT64_C(1) << 30;
				lim = len;
				if (shift <= 16 || (flags & REGBUF_TABLE_F_LAYOUT_4K))
					shift = 30;
				flags &= ~REGBUF_TABLE_F_LAYOUT_4K;
				break;
			}
			break;
		default:	/* anywhere, any length */
			addr = fz_range(f, 1, UINT64_C(1) << 47);
			len = fz_range(f, 1, lim);
			break;
		}
		if (len > lim && addr && len <= REGBUF_BUF_MAX_LEN)
			len = lim;
		/* Over something mapped here (sanitizer shadow): an empty slot instead. */
		if (!ref_validate(addr, len, shift) &&
		    !fz_unmapped(addr & ~(PG - 1), (addr + len + PG - 1) & ~(PG - 1))) {
			addr = 0;
			len = 0;
		}
		iov[i].iov_base = (void *)(uintptr_t)addr;
		iov[i].iov_len = len;
		shifts[i] = (uint8_t)shift;
	}
	/* All or nothing: the first bad entry decides. */
	for (i = 0; i < nr && !want; i++) {
		ret = ref_validate((uint64_t)(uintptr_t)iov[i].iov_base, iov[i].iov_len, shifts[i]);
		if (ret < 0)
			want = ret;
	}
	FZ_CHECK_EQ(regbuf_table_create(&t, 0), 0);
	ret = regbuf_table_register_hinted(t, iov, shifts, nr, flags);
	FZ_CHECK_EQ(ret, want);
	if (ret) {
		FZ_CHECK_EQ(regbuf_table_nr(t), 0);
		regbuf_table_destroy(t);
		return;
	}
	FZ_CHECK_EQ(regbuf_table_nr(t), nr);
	FZ_CHECK_EQ(regbuf_table_register_hinted(t, iov, shifts, nr, flags), -EBUSY);
	for (i = 0; i < nr; i++) {
		uint64_t addr = (uint64_t)(uintptr_t)iov[i].iov_base, len = iov[i].iov_len, n;
		unsigned int shift = (flags & REGBUF_TABLE_F_LAYOUT_4K) ? 12 : shifts[i];
		struct regbuf_seg_iter it;
		struct regbuf_buf *b;
		struct page *p;
		struct expect e;
		unsigned int k;

		if (!addr) {
			FZ_CHECK_EQ(regbuf_table_buf_get(t, i, &b), -EFAULT);
			FZ_CHECK_EQ(regbuf_table_import(t, i, 0, 0, &it), -EFAULT);
			continue;
		}
		FZ_CHECK_EQ(regbuf_table_buf_get(t, i, &b), 0);
		if (len > HINTED_PAGES_MAX * PG) {
			p = NULL;
			n = 0;
			ref_build_folios(addr, len, shift, &e);
		} else {
			p = hinted_pages(addr, len, shift, &n);
			ref_build(p, n, addr, len, flags, false, &e);
		}
		check_buf(b, p, n, addr, len, (flags & REGBUF_TABLE_F_LAYOUT_4K) ?
			  REGBUF_LAYOUT_4K : REGBUF_LAYOUT_HINT, &e);
		for (k = 0; k < 8 && !fz_empty(f); k++)
			check_import(f, b, addr, len, &e);
		FZ_CHECK_EQ(regbuf_table_import(t, i, addr, len, &it), 0);
		FZ_CHECK_EQ(it.count, len);
		regbuf_buf_put(b);
		expect_free(&e);
		free(p);
	}
	{
		struct regbuf_seg_iter it;

		FZ_CHECK_EQ(regbuf_table_import(t, nr, 0, 0, &it), -EFAULT);
	}
	FZ_CHECK_EQ(regbuf_table_unregister(t), 0);
	FZ_CHECK_EQ(regbuf_table_unregister(t), -ENXIO);
	regbuf_table_destroy(t);
	fz_stat_checked++;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned int cls;
	struct fz f;

	if (!size)
		return 0;
	cls = data[0] % fz_target.nr_classes;
	fz_init(&f, data + 1, size - 1);
	if (cls == C_HINTED)
		run_hinted(&f);
	else
		run_synthetic(&f, cls);
	return 0;
}
