// SPDX-License-Identifier: MIT
/*
 * sys: regbuf's buffer descriptions held against what the running kernel
 * really builds.  Each layout is registered twice: with io_uring
 * (IORING_REGISTER_BUFFERS on a real ring) and with regbuf_table_register()
 * (default discovery).  A BPF program on the io_uring:io_uring_register
 * tracepoint (tests/oracle/oracle.bpf.c) copies the kernel's io_mapped_ubuf
 * of every slot - nr_bvecs, folio_shift and every bio_vec - and the test
 * compares bvec count, folio shift, the first bvec's offset and every bvec
 * length with regbuf_buf_info(), and the error code when the kernel refuses.
 *
 * The probe checks itself: every bv_page must be the struct page of the
 * frame /proc/self/pagemap reports for that address, i.e. vmemmap base +
 * pfn * sizeof(struct page); the base is calibrated independently from the
 * pages io_uring allocated for the ring itself (ctx->ring_region), whose
 * frames pagemap reports through the ring's mmap.
 *
 * Needs root (BPF, pagemap frames), the kernel's BTF and a kernel that loads
 * BTF tracepoint programs; anything missing skips with the reason.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/types.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <grp.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <liburing.h>
#include <regbuf/table.h>

#include "harness.h"

#ifdef REGBUF_HAVE_ORACLE
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "oracle.h"
#include "oracle.skel.h"
#endif

#define KiB (UINT64_C(1) << 10)
#define MiB (UINT64_C(1) << 20)
#define PAGE 4096UL

#define PM_PRESENT (UINT64_C(1) << 63)
#define PM_PFN_MASK ((UINT64_C(1) << 55) - 1)

/* What the kernel built for one slot. */
struct k_buf {
	bool present;
	uint64_t ubuf;
	uint32_t len, nr_bvecs, folio_shift;
	uint32_t *bv_len, *bv_off;
};

struct k_result {
	long ret;
	uint32_t nr;
	struct k_buf buf[64];
};

static void k_result_free(struct k_result *k)
{
	uint32_t i;

	for (i = 0; i < 64; i++) {
		free(k->buf[i].bv_len);
		free(k->buf[i].bv_off);
	}
	memset(k, 0, sizeof(*k));
}

static uint64_t pagemap_pfn(int pm, uint64_t va)
{
	uint64_t e = 0;

	if (pread(pm, &e, sizeof(e), (off_t)(va / PAGE * 8)) != sizeof(e) || !(e & PM_PRESENT))
		return 0;
	return e & PM_PFN_MASK;
}

#ifdef REGBUF_HAVE_ORACLE
static struct oracle *skel;
static struct io_uring ring;	/* one ring for every registration: no mmap() between layouts */
static char skip_why[256];
static uint64_t probe_pages_checked;

static int silent_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	(void)level;
	(void)fmt;
	(void)ap;
	return 0;
}

/* Load and attach once; 0, or -1 with skip_why set. */
static int oracle_up(void)
{
	static int state;	/* 0 untried, 1 up, -1 unavailable */
	int err;

	if (state)
		return state > 0 ? 0 : -1;
	state = -1;
	if (geteuid()) {
		snprintf(skip_why, sizeof(skip_why),
			 "needs root (BPF programs and pagemap frame numbers); run as root");
		return -1;
	}
	if (access("/sys/kernel/btf/vmlinux", R_OK)) {
		snprintf(skip_why, sizeof(skip_why),
			 "no kernel BTF (/sys/kernel/btf/vmlinux; CONFIG_DEBUG_INFO_BTF)");
		return -1;
	}
	if (!getenv("REGBUF_ORACLE_DEBUG"))
		libbpf_set_print(silent_print);
	skel = oracle__open();
	if (!skel) {
		snprintf(skip_why, sizeof(skip_why), "cannot open the BPF object: %s",
			 strerror(errno));
		return -1;
	}
	err = oracle__load(skel);
	if (err) {
		snprintf(skip_why, sizeof(skip_why),
			 "the kernel refused the BTF tracepoint program (%s): no io_uring:io_uring_register tracepoint, or BPF disabled",
			 strerror(-err));
		goto out_destroy;
	}
	err = oracle__attach(skel);
	if (err) {
		snprintf(skip_why, sizeof(skip_why), "cannot attach to io_uring:io_uring_register: %s",
			 strerror(-err));
		goto out_destroy;
	}
	err = io_uring_queue_init(4, &ring, 0);
	if (err) {
		snprintf(skip_why, sizeof(skip_why), "io_uring_queue_init: %s", strerror(-err));
		goto out_destroy;
	}
	skel->bss->state.tgid = (uint32_t)getpid();
	state = 1;
	return 0;
out_destroy:
	oracle__destroy(skel);
	skel = NULL;
	return -1;
}

/*
 * The vmemmap base, from the ring's own pages: ring_region.pages[i] is the
 * struct page of the frame behind page i of the SQ ring mmap.
 */
static int calibrate(int pm, uint64_t *base, uint32_t *psz)
{
	const struct oracle_state *st = &skel->bss->state;
	uint32_t i;

	*psz = st->page_size;
	if (!st->nr_ring_pages || !*psz)
		return T_FAILF("the probe saw no ring pages (%u) or no struct page size (%u)",
			       st->nr_ring_pages, *psz);
	for (i = 0; i < st->nr_ring_pages && i * PAGE < ring.sq.ring_sz; i++) {
		uint64_t pfn = pagemap_pfn(pm, (uint64_t)(uintptr_t)ring.sq.ring_ptr + i * PAGE);
		uint64_t b = st->ring_page[i] - pfn * *psz;

		if (!pfn)
			return T_FAILF("pagemap shows no frame for ring page %u", i);
		if (i && b != *base)
			return T_FAILF("ring page %u gives vmemmap base %#llx, page 0 gave %#llx", i,
				       (unsigned long long)b, (unsigned long long)*base);
		*base = b;
	}
	return 0;
}

/*
 * Register @iov with the kernel and read back what it built, then
 * unregister.  Returns 0 (k->ret is the kernel's result) or a harness failure.
 */
static int kernel_register(const struct iovec *iov, uint32_t nr, struct k_result *k)
{
	struct oracle_state *st = &skel->bss->state;
	uint64_t base = 0;
	uint32_t psz, i, j;
	int pm, ret, fd;

	memset(k, 0, sizeof(*k));
	if (nr > ORACLE_MAX_SLOTS)
		return T_FAILF("too many slots for the oracle");
	st->hits = 0;
	k->ret = io_uring_register_buffers(&ring, iov, nr);
	if (st->hits != 1) {
		ret = T_FAILF("the tracepoint fired %u times for one registration", st->hits);
		goto out_unregister;
	}
	if (st->ret != k->ret) {
		ret = T_FAILF("the probe saw ret %lld, liburing returned %ld",
			      (long long)st->ret, k->ret);
		goto out_unregister;
	}
	pm = open("/proc/self/pagemap", O_RDONLY);
	if (pm < 0) {
		ret = T_FAILF("open pagemap: %s", strerror(errno));
		goto out_unregister;
	}
	ret = calibrate(pm, &base, &psz);
	if (ret)
		goto out;
	fd = bpf_map__fd(skel->maps.bvecs);
	k->nr = k->ret ? 0 : st->nr_slots;
	for (i = 0; i < k->nr && !k->ret; i++) {
		const struct oracle_slot *s = &st->slot[i];
		struct k_buf *b = &k->buf[i];
		uint64_t va;

		if (!s->present)
			continue;
		if (s->truncated) {
			ret = T_FAILF("slot %u: more bvecs than the oracle holds", i);
			goto out;
		}
		b->present = true;
		b->ubuf = s->ubuf;
		b->len = s->len;
		b->nr_bvecs = s->nr_bvecs;
		b->folio_shift = s->folio_shift;
		b->bv_len = calloc(s->nr_bvecs, sizeof(uint32_t));
		b->bv_off = calloc(s->nr_bvecs, sizeof(uint32_t));
		if (!b->bv_len || !b->bv_off) {
			ret = T_FAILF("out of memory");
			goto out;
		}
		va = s->ubuf;
		for (j = 0; j < s->nr_bvecs; j++) {
			static struct oracle_chunk c;
			static uint32_t cached = UINT32_MAX;
			uint32_t idx = s->first + j, key = idx / ORACLE_CHUNK;
			const struct oracle_bvec *v;
			uint64_t pfn, want;

			if (key != cached || j == 0) {
				if (bpf_map_lookup_elem(fd, &key, &c)) {
					ret = T_FAILF("bvec map lookup: %s", strerror(errno));
					goto out;
				}
				cached = key;
			}
			v = &c.v[idx % ORACLE_CHUNK];
			b->bv_len[j] = v->len;
			b->bv_off[j] = v->offset;
			/* bv_page is the folio page holding bv_offset's page 0. */
			pfn = pagemap_pfn(pm, va & ~(PAGE - 1));
			want = base + (pfn - (v->offset / PAGE)) * psz;
			if (!pfn || v->page != want) {
				ret = T_FAILF("slot %u bvec %u: bv_page %#llx, but pagemap's pfn %#llx gives %#llx",
					      i, j, (unsigned long long)v->page,
					      (unsigned long long)pfn, (unsigned long long)want);
				goto out;
			}
			probe_pages_checked++;
			va += v->len;
		}
	}
	ret = 0;
out:
	close(pm);
out_unregister:
	if (!k->ret)
		io_uring_unregister_buffers(&ring);
	return ret;
}
#endif /* REGBUF_HAVE_ORACLE */

/* ---- comparison ---- */

static unsigned int nr_layouts, nr_buffers, nr_mismatch;

/*
 * Compare the kernel's result with regbuf's for one layout; print both on a
 * mismatch.  Returns true when they agree.  An upper-bound prediction
 * (REGBUF_BUF_F_UPPER_BOUND) agrees when the kernel used no more bvecs.
 */
static bool compare(const char *name, const struct iovec *iov, uint32_t nr,
		    const struct k_result *k, int r_ret, struct regbuf_table *t)
{
	bool ok = true;
	uint32_t i, j;

	nr_layouts++;
	if (k->ret != r_ret) {
		printf("  %s: kernel returned %ld, regbuf %d\n", name, k->ret, r_ret);
		nr_mismatch++;
		return false;
	}
	for (i = 0; i < nr && !k->ret; i++) {
		const struct k_buf *kb = &k->buf[i];
		struct regbuf_buf_info info;
		struct regbuf_buf *b = NULL;
		uint64_t fsize, first;
		bool buf_ok = true;

		if (regbuf_table_buf_get(t, i, &b)) {
			if (kb->present) {
				printf("  %s slot %u: kernel has a buffer, regbuf none\n", name, i);
				ok = false;
			}
			continue;
		}
		nr_buffers++;
		if (!kb->present || regbuf_buf_info(b, &info)) {
			printf("  %s slot %u: regbuf has a buffer, kernel none\n", name, i);
			regbuf_buf_put(b);
			ok = false;
			continue;
		}
		if (kb->ubuf != (uint64_t)(uintptr_t)iov[i].iov_base || kb->len != iov[i].iov_len)
			buf_ok = false;
		if (info.kernel_nr_segs != kb->nr_bvecs || info.folio_shift != kb->folio_shift ||
		    info.seg0_off != kb->bv_off[0])
			buf_ok = false;
		/* Every bvec: the first is folio size - offset (clamped), the middle ones whole. */
		fsize = UINT64_C(1) << info.folio_shift;
		first = fsize - info.seg0_off;
		for (j = 0; buf_ok && j < kb->nr_bvecs; j++) {
			uint64_t done = j ? first + (uint64_t)(j - 1) * fsize : 0;
			uint64_t want = j ? fsize : first;

			if (want > info.len - done)
				want = info.len - done;
			if (kb->bv_len[j] != want || (j && kb->bv_off[j]))
				buf_ok = false;
			/* Without regbuf's own per-run segments, its segments are the kernel's. */
			if (!(info.flags & REGBUF_BUF_F_MIXED) &&
			    (info.nr_segs != kb->nr_bvecs || info.segs[j].len != kb->bv_len[j]))
				buf_ok = false;
		}
		if (!buf_ok) {
			printf("  %s slot %u: kernel %u bvecs shift %u off %u | regbuf %u shift %u off %llu flags %#x source %u\n",
			       name, i, kb->nr_bvecs, kb->folio_shift, kb->bv_off[0],
			       info.kernel_nr_segs, info.folio_shift,
			       (unsigned long long)info.seg0_off, info.flags, info.source);
			ok = false;
		}
		regbuf_buf_put(b);
	}
	if (!ok)
		nr_mismatch++;
	return ok;
}

#ifdef REGBUF_HAVE_ORACLE
/*
 * Register @iov both ways and compare; T_PASS / T_FAIL.  @shifts: folio-size
 * hints for regbuf_table_register_hinted(), NULL for the default discovery.
 */
static int both_hinted(const char *name, const struct iovec *iov, const uint8_t *shifts,
		       uint32_t nr)
{
	struct regbuf_table *t;
	struct k_result *k = calloc(1, sizeof(*k));
	int ret, r_ret;

	if (!k || regbuf_table_create(&t, 0))
		return T_FAILF("out of memory");
	/* regbuf first: it must predict from memory the kernel has not faulted yet. */
	r_ret = shifts ? regbuf_table_register_hinted(t, iov, shifts, nr, 0) :
			 regbuf_table_register(t, iov, nr, 0);
	ret = kernel_register(iov, nr, k);
	if (!ret)
		ret = compare(name, iov, nr, k, r_ret, t) ? T_PASS :
		      T_FAILF("%s: regbuf differs from the kernel", name);
	regbuf_table_destroy(t);
	k_result_free(k);
	free(k);
	return ret;
}

static int both(const char *name, const struct iovec *iov, uint32_t nr)
{
	return both_hinted(name, iov, NULL, nr);
}

/* both(), then again with every buffer hinted at folio shift @shift (name + "-hinted"). */
static int both_and_hinted(const char *name, const struct iovec *iov, uint32_t nr,
			   uint8_t shift)
{
	uint8_t hint[ORACLE_MAX_SLOTS];
	char hname[64];
	int ret = both(name, iov, nr);

	if (ret)
		return ret;
	memset(hint, shift, sizeof(hint));
	snprintf(hname, sizeof(hname), "%s-hinted", name);
	return both_hinted(hname, iov, hint, nr);
}

/* NEED_ORACLE() and @len of populated THP memory, or the skip/fail to return. */
#define NEED_THP(p, len)						\
	do {								\
		NEED_ORACLE();						\
		if (!thp_available())					\
			return t_skip("THP disabled (/sys/kernel/mm/transparent_hugepage/enabled)"); \
		(p) = thp_map(len);					\
		t_check(p);						\
	} while (0)

#define NEED_ORACLE()						\
	do {							\
		if (oracle_up())				\
			return t_skip("%s", skip_why);		\
	} while (0)
#endif

/* ---- memory shapes ---- */

/* @len bytes of address space aligned to @align, nothing mapped in the slack. */
static char *reserve_va(uint64_t len, uint64_t align)
{
	char *p = mmap(NULL, len + align, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
		       -1, 0);
	uint64_t a;

	if (p == MAP_FAILED)
		return NULL;
	a = ((uint64_t)(uintptr_t)p + align - 1) & ~(align - 1);
	if (a > (uint64_t)(uintptr_t)p)
		munmap(p, a - (uint64_t)(uintptr_t)p);
	munmap((char *)(uintptr_t)(a + len), (uint64_t)(uintptr_t)p + align - a);
	return (char *)(uintptr_t)a;
}

static void touch(char *p, uint64_t len)
{
	uint64_t i;

	for (i = 0; i < len; i += PAGE)
		p[i] = (char)i;
}

/* Anonymous memory at @at (MAP_FIXED over a reservation), THP advice as asked. */
static char *anon_at(char *at, uint64_t len, int advice)
{
	char *p = mmap(at, len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | (at ? MAP_FIXED : 0), -1, 0);

	if (p == MAP_FAILED)
		return NULL;
	if (advice)
		madvise(p, len, advice);
	return p;
}

static bool thp_available(void)
{
	char buf[64] = "";
	int fd = open("/sys/kernel/mm/transparent_hugepage/enabled", O_RDONLY);

	if (fd < 0)
		return false;
	if (read(fd, buf, sizeof(buf) - 1) < 0)
		buf[0] = 0;
	close(fd);
	return !strstr(buf, "[never]") && buf[0];
}

/* 2 MiB-aligned THP memory, populated; NULL when the kernel gave no THP. */
static char *thp_map(uint64_t len)
{
	char *p = reserve_va(len, 2 * MiB);

	if (!p || !anon_at(p, len, MADV_HUGEPAGE))
		return NULL;
	touch(p, len);
	return p;
}

/* Read a sysfs knob's selected value ("[x]") into @old, write @val: 0 or -1. */
static int knob_set(const char *path, const char *val, char *old, size_t oldsz)
{
	char buf[256] = "", *a, *b;
	int fd = open(path, O_RDWR);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	a = n > 0 ? strchr(buf, '[') : NULL;
	b = a ? strchr(a, ']') : NULL;
	if (!b || (size_t)(b - a) >= oldsz) {
		close(fd);
		return -1;
	}
	memcpy(old, a + 1, (size_t)(b - a - 1));
	old[b - a - 1] = 0;
	n = pwrite(fd, val, strlen(val), 0);
	close(fd);
	return n < 0 ? -1 : 0;
}

static void knob_restore(const char *path, const char *old)
{
	int fd = open(path, O_WRONLY);

	if (fd >= 0) {
		if (write(fd, old, strlen(old)) < 0)
			perror(path);
		close(fd);
	}
}

static int memfd_sized(const char *name, uint64_t len, unsigned int flags)
{
	int fd = memfd_create(name, flags);

	if (fd >= 0 && ftruncate(fd, (off_t)len)) {
		close(fd);
		return -1;
	}
	return fd;
}

static struct t_hugepages huge_2m;

#ifdef REGBUF_HAVE_ORACLE

/* ---- layouts ---- */

static int layout_4k(void)
{
	char *p;
	int ret;

	NEED_ORACLE();
	p = anon_at(NULL, 256 * KiB, MADV_NOHUGEPAGE);
	t_check(p);
	touch(p, 256 * KiB);
	{
		struct iovec iov[3] = {
			{ p, 256 * KiB },		/* whole pages */
			{ p + 100, 3 * PAGE },		/* unaligned start and end */
			{ p + PAGE - 1, 2 },		/* two bytes across a page boundary */
		};

		ret = both("4k", iov, 3);
	}
	munmap(p, 256 * KiB);
	return ret;
}

static int layout_hugetlb_2m(void)
{
	char *p;
	int ret;

	NEED_ORACLE();
	if (t_hugepages_reserve(&huge_2m, 2048, 3))
		return t_skip("%s", huge_2m.why);
	p = mmap(NULL, 6 * MiB, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB | MAP_POPULATE, -1, 0);
	if (p == MAP_FAILED) {
		t_hugepages_restore(&huge_2m);
		return t_skip("no 2 MiB hugetlb pages free");
	}
	{
		struct iovec iov[4] = {
			{ p, 6 * MiB },				/* three whole folios */
			{ p + 5 * PAGE + 100, 3 * MiB },	/* head and tail partial */
			{ p + MiB + 300, 200 * KiB },		/* inside one folio, bv_offset > 4K */
			{ p + 2 * MiB - PAGE, 2 * PAGE },	/* last page of one, first of next */
		};

		ret = both_and_hinted("hugetlb-2m", iov, 4, 21);
	}
	munmap(p, 6 * MiB);
	t_hugepages_restore(&huge_2m);
	return ret;
}

static int layout_hugetlb_1g(void)
{
	struct t_hugepages h1g = { 0 };
	char *p;
	int ret;

	NEED_ORACLE();
	if (access("/sys/kernel/mm/hugepages/hugepages-1048576kB", F_OK))
		return t_skip("no 1 GiB hugetlb pages on this machine (CPU or kernel)");
	if (t_hugepages_reserve(&h1g, 1048576, 1))
		return t_skip("%s", h1g.why);
	p = mmap(NULL, 1024 * MiB, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB | (30 << MAP_HUGE_SHIFT) | MAP_POPULATE,
		 -1, 0);
	if (p == MAP_FAILED) {
		t_hugepages_restore(&h1g);
		return t_skip("no 1 GiB page could be mapped");
	}
	{
		struct iovec iov[2] = {
			{ p + 512 * MiB + 100, 256 * MiB },
			{ p, 1024 * MiB },
		};

		ret = both("hugetlb-1g", iov, 2);
	}
	munmap(p, 1024 * MiB);
	t_hugepages_restore(&h1g);
	return ret;
}

static int layout_thp(void)
{
	char *p;
	int ret;

	NEED_THP(p, 8 * MiB);
	{
		struct iovec iov[4] = {
			{ p, 8 * MiB },
			{ p + 3 * PAGE + 7, 5 * MiB },
			{ p + MiB + 100, 300 * KiB },
			{ p + 2 * MiB - 10, 20 },
		};

		ret = both_and_hinted("thp", iov, 4, 21);
	}
	munmap(p, 8 * MiB);
	return ret;
}

/* A THP whose PMD mapping was split by an mprotect() of one page: still one 2 MiB folio. */
static int layout_thp_pte_mapped(void)
{
	char *p;
	int ret;

	NEED_THP(p, 4 * MiB);
	t_check(!mprotect(p + 5 * PAGE, PAGE, PROT_READ | PROT_WRITE | PROT_EXEC));
	{
		struct iovec iov[3] = {
			{ p, 4 * MiB },
			{ p + 64 * KiB + 1, 2 * MiB },
			{ p + 4 * PAGE, 3 * PAGE },
		};

		ret = both_and_hinted("thp-pte-mapped", iov, 3, 21);
	}
	munmap(p, 4 * MiB);
	return ret;
}

/* THPs moved by mremap() to an address that is not 2 MiB-aligned: PTE-mapped, whole. */
static int layout_thp_mremap(void)
{
	char *p, *dst, *q;
	int ret;

	NEED_THP(p, 4 * MiB);
	dst = reserve_va(8 * MiB, 2 * MiB);
	t_check(dst);
	q = mremap(p, 4 * MiB, 4 * MiB, MREMAP_MAYMOVE | MREMAP_FIXED, dst + 64 * KiB);
	t_check(q != MAP_FAILED);
	{
		struct iovec iov[3] = {
			{ q, 4 * MiB },
			{ q + MiB + 100, 2 * MiB },	/* half of each: the offset is the page index */
			{ q + 3 * PAGE, 100 * KiB },
		};

		ret = both("thp-mremap", iov, 3);
	}
	munmap(dst, 8 * MiB + 64 * KiB);
	return ret;
}

/* One page dropped and faulted again: the THP is split, the new page is order 0. */
static int layout_thp_refault(void)
{
	char *p;
	int ret;

	NEED_THP(p, 4 * MiB);
	t_check(!madvise(p + 7 * PAGE, PAGE, MADV_DONTNEED));
	p[7 * PAGE] = 1;
	{
		struct iovec iov[2] = {
			{ p, 4 * MiB },
			{ p + 2 * MiB, 2 * MiB },	/* the untouched THP */
		};

		/* Hinted too: a stale hint, the arena was THP when it was made. */
		ret = both_and_hinted("thp-refault", iov, 2, 21);
	}
	munmap(p, 4 * MiB);
	return ret;
}

/* The layout source regbuf reports for @iov registered with folio shift hint @shift. */
static int hinted_source(const struct iovec *iov, uint8_t shift, unsigned int *source)
{
	struct regbuf_buf_info info;
	struct regbuf_table *t;
	struct regbuf_buf *b;
	int ret;

	ret = regbuf_table_create(&t, 0);
	if (ret)
		return ret;
	ret = regbuf_table_register_hinted(t, iov, &shift, 1, 0);
	if (!ret)
		ret = regbuf_table_buf_get(t, 0, &b);
	if (!ret) {
		ret = regbuf_buf_info(b, &info);
		*source = info.source;
		regbuf_buf_put(b);
	}
	regbuf_table_destroy(t);
	return ret;
}

/*
 * A hint is a promise about the whole range, kept only while all of it is
 * still huge: an arena whose last THP was split (one page dropped and
 * faulted again), or whose last 2 MiB was dropped (unfaulted: what backs it
 * is the pin's fault to decide, small pages where THP is off for it), is
 * described from its page tables, as the kernel will find it.
 */
static int layout_hint_later_part(void)
{
	static const char *const names[3] = { "hint-split-last-thp", "hint-unfaulted-last",
					      "hint-unfaulted-last-nohuge" };
	unsigned int source = REGBUF_LAYOUT_HINT, k;
	char *p;
	int ret = 0;

	for (k = 0; k < 3 && !ret; k++) {
		NEED_THP(p, 8 * MiB);
		if (k == 0) {
			t_check(!madvise(p + 6 * MiB + 7 * PAGE, PAGE, MADV_DONTNEED));
			p[6 * MiB + 7 * PAGE] = 1;
		} else {
			t_check(!madvise(p + 6 * MiB, 2 * MiB, MADV_DONTNEED));
			if (k == 2)
				t_check(!madvise(p + 6 * MiB, 2 * MiB, MADV_NOHUGEPAGE));
		}
		{
			struct iovec iov[1] = { { p, 8 * MiB } };
			uint8_t shift = 21;

			t_ok(hinted_source(iov, shift, &source));
			if (source == REGBUF_LAYOUT_HINT)
				ret = T_FAILF("%s: the hint was trusted", names[k]);
			if (!ret)
				ret = both_hinted(names[k], iov, &shift, 1);
		}
		munmap(p, 8 * MiB);
	}
	return ret;
}

/*
 * A folio larger than the ones before it in the same buffer: 4 KiB pages
 * then a PMD-mapped THP, and 64 KiB mTHP folios then a THP mapped by page
 * table entries (its PMD split by an mprotect() of one page), whose folio
 * regbuf reads from /proc/kpageflags right after the 64 KiB ones.  The
 * kernel coalesces neither (its folios must all have one size).
 */
static int layout_larger_after_smaller(void)
{
	static const char knob[] = "/sys/kernel/mm/transparent_hugepage/hugepages-64kB/enabled";
	char old[32];
	char *p, *q;
	int ret;

	NEED_ORACLE();
	if (!thp_available())
		return t_skip("THP disabled (/sys/kernel/mm/transparent_hugepage/enabled)");
	p = reserve_va(4 * MiB, 2 * MiB);
	t_check(p);
	t_check(anon_at(p + MiB, MiB, MADV_NOHUGEPAGE));
	t_check(anon_at(p + 2 * MiB, 2 * MiB, MADV_HUGEPAGE));
	touch(p + MiB, 3 * MiB);
	{
		struct iovec iov[2] = {
			{ p + MiB, 3 * MiB },
			{ p + 2 * MiB - PAGE, 2 * MiB },	/* one small page, then the THP */
		};

		ret = both("4k-then-thp", iov, 2);
	}
	munmap(p + MiB, 3 * MiB);
	if (ret)
		return ret;
	if (access(knob, W_OK))
		return t_skip("4k-then-thp agreed; no 64 KiB mTHP on this kernel (%s)", knob);
	q = reserve_va(4 * MiB, 2 * MiB);
	t_check(q);
	/* [1 MiB of 64 KiB folios: no aligned 2 MiB inside][2 MiB THP] */
	t_check(anon_at(q + MiB, MiB, MADV_HUGEPAGE));
	t_check(anon_at(q + 2 * MiB, 2 * MiB, MADV_HUGEPAGE));
	if (knob_set(knob, "madvise", old, sizeof(old)))
		return T_FAILF("cannot set %s", knob);
	touch(q + MiB, MiB);
	knob_restore(knob, old);
	touch(q + 2 * MiB, 2 * MiB);
	t_check(!mprotect(q + 3 * MiB, PAGE, PROT_READ | PROT_WRITE | PROT_EXEC));
	{
		struct iovec iov[2] = {
			{ q + MiB, 3 * MiB },
			{ q + 2 * MiB - 64 * KiB, 128 * KiB },	/* one 64 KiB folio, then the THP */
		};

		ret = both("mthp-then-pte-mapped-thp", iov, 2);
	}
	munmap(q + MiB, 3 * MiB);
	return ret;
}

/* 64 KiB mTHP folios (enabled for the test and restored). */
static int layout_mthp_64k(void)
{
	static const char knob[] = "/sys/kernel/mm/transparent_hugepage/hugepages-64kB/enabled";
	char old[32];
	char *p;
	int ret;

	NEED_ORACLE();
	if (access(knob, W_OK))
		return t_skip("no 64 KiB mTHP on this kernel (%s)", knob);
	p = reserve_va(2 * MiB, 2 * MiB);
	t_check(p);
	/* 1 MiB at +512 KiB: no aligned 2 MiB inside, so only mTHP can back it. */
	t_check(anon_at(p + 512 * KiB, MiB, MADV_HUGEPAGE));
	if (knob_set(knob, "madvise", old, sizeof(old)))
		return T_FAILF("cannot set %s", knob);
	touch(p + 512 * KiB, MiB);
	knob_restore(knob, old);
	{
		struct iovec iov[3] = {
			{ p + 512 * KiB, MiB },
			{ p + 512 * KiB + 16 * KiB + 5, 200 * KiB },
			{ p + 512 * KiB + 64 * KiB, 64 * KiB },
		};

		ret = both("mthp-64k", iov, 3);
	}
	munmap(p, 2 * MiB);
	return ret;
}

static int layout_memfd(void)
{
	int fd, ret;
	char *p;

	NEED_ORACLE();
	fd = memfd_sized("regbuf-oracle", 2 * MiB, 0);
	t_check(fd >= 0);
	p = mmap(NULL, 2 * MiB, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, 0);
	close(fd);
	t_check(p != MAP_FAILED);
	{
		struct iovec iov[2] = { { p, 2 * MiB }, { p + 10, 5 * PAGE } };

		ret = both("memfd", iov, 2);
	}
	munmap(p, 2 * MiB);
	return ret;
}

/* shmem with THP (shmem_enabled=advise for the test, restored). */
static char *memfd_thp(uint64_t len, int *fdp)
{
	static const char knob[] = "/sys/kernel/mm/transparent_hugepage/shmem_enabled";
	char old[32];
	char *p = reserve_va(len, 2 * MiB), *q;
	int fd = memfd_sized("regbuf-oracle-thp", len, 0);

	if (!p || fd < 0 || knob_set(knob, "advise", old, sizeof(old)))
		return NULL;
	q = mmap(p, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd, 0);
	if (q != MAP_FAILED) {
		madvise(q, len, MADV_HUGEPAGE);
		touch(q, len);
	}
	knob_restore(knob, old);
	*fdp = fd;
	return q == MAP_FAILED ? NULL : q;
}

static int layout_memfd_thp(void)
{
	int fd = -1, ret;
	char *p;

	NEED_ORACLE();
	p = memfd_thp(4 * MiB, &fd);
	if (!p)
		return t_skip("no shmem THP (shmem_enabled)");
	{
		struct iovec iov[2] = { { p, 4 * MiB }, { p + MiB + 3, 2 * MiB } };

		ret = both("memfd-thp", iov, 2);
	}
	munmap(p, 4 * MiB);
	close(fd);
	return ret;
}

static int layout_memfd_hugetlb(void)
{
	int fd, ret;
	char *p;

	NEED_ORACLE();
	if (t_hugepages_reserve(&huge_2m, 2048, 2))
		return t_skip("%s", huge_2m.why);
	fd = memfd_sized("regbuf-oracle-huge", 4 * MiB, MFD_HUGETLB);
	if (fd < 0) {
		t_hugepages_restore(&huge_2m);
		return t_skip("memfd_create(MFD_HUGETLB): %s", strerror(errno));
	}
	p = mmap(NULL, 4 * MiB, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, 0);
	if (p == MAP_FAILED) {
		close(fd);
		t_hugepages_restore(&huge_2m);
		return t_skip("no 2 MiB hugetlb pages free");
	}
	{
		struct iovec iov[2] = { { p, 4 * MiB }, { p + 2 * MiB - 100, 200 } };

		ret = both_and_hinted("memfd-hugetlb", iov, 2, 21);
	}
	munmap(p, 4 * MiB);
	close(fd);
	t_hugepages_restore(&huge_2m);
	return ret;
}

/* Nothing faulted, some pages faulted, a THP region half faulted. */
static int layout_partial(void)
{
	char *p, *q = NULL;
	int ret;
	uint64_t i;

	NEED_ORACLE();
	p = anon_at(NULL, 512 * KiB, MADV_NOHUGEPAGE);
	t_check(p);
	for (i = 0; i < 512 * KiB; i += 3 * PAGE)
		p[i] = 1;
	if (thp_available()) {
		q = reserve_va(4 * MiB, 2 * MiB);
		t_check(q && anon_at(q, 4 * MiB, MADV_HUGEPAGE));
		q[0] = 1;	/* the first 2 MiB only */
	}
	{
		struct iovec iov[2] = { { p, 512 * KiB }, { q, q ? 4 * MiB : 0 } };

		ret = both("partial", iov, q ? 2 : 1);
	}
	munmap(p, 512 * KiB);
	if (q)
		munmap(q, 4 * MiB);
	return ret;
}

/* Read before: the zero page (and the huge zero page) is mapped, the pin write-faults. */
static int layout_zero_page(void)
{
	volatile char sink = 0;
	char *p, *q = NULL;
	uint64_t i;
	int ret;

	NEED_ORACLE();
	p = anon_at(NULL, 256 * KiB, MADV_NOHUGEPAGE);
	t_check(p);
	for (i = 0; i < 256 * KiB; i += PAGE)
		sink += p[i];
	if (thp_available()) {
		q = reserve_va(4 * MiB, 2 * MiB);
		t_check(q && anon_at(q, 4 * MiB, MADV_HUGEPAGE));
		for (i = 0; i < 4 * MiB; i += PAGE)
			sink += q[i];
	}
	(void)sink;
	{
		struct iovec iov[2] = { { p, 256 * KiB }, { q, q ? 4 * MiB : 0 } };

		ret = both("zero-page", iov, q ? 2 : 1);
	}
	munmap(p, 256 * KiB);
	if (q)
		munmap(q, 4 * MiB);
	return ret;
}

/*
 * After fork(), private memory is shared copy-on-write with the child; the
 * pin (FOLL_WRITE) unshares it.  A PMD-mapped THP is copied on write as a
 * whole (or split), which page tables cannot predict.
 */
static int layout_after_fork(void)
{
	char *p, *q = NULL;
	int ret, fds[2];
	pid_t pid;
	char c;

	NEED_ORACLE();
	p = anon_at(NULL, 256 * KiB, MADV_NOHUGEPAGE);
	t_check(p);
	touch(p, 256 * KiB);
	if (thp_available()) {
		q = thp_map(4 * MiB);
		/* The second THP PTE-mapped: its folio is read page by page. */
		t_check(q && !mprotect(q + 2 * MiB + PAGE, PAGE, PROT_READ | PROT_WRITE | PROT_EXEC));
	}
	t_check(!pipe(fds));
	pid = fork();
	if (!pid) {
		close(fds[1]);
		/* Keep the memory shared until the parent is done. */
		if (read(fds[0], &c, 1) < 0)
			_exit(1);
		_exit(0);
	}
	close(fds[0]);
	{
		struct iovec iov[3] = {
			{ p, 256 * KiB },
			{ q ? q + 2 * MiB : NULL, q ? 2 * MiB : 0 },	/* PTE-mapped, shared */
			{ q, q ? 4 * MiB : 0 },
		};

		ret = both("after-fork", iov, q ? 3 : 1);
	}
	close(fds[1]);
	waitpid(pid, NULL, 0);
	munmap(p, 256 * KiB);
	if (q)
		munmap(q, 4 * MiB);
	return ret;
}

/* Neighbouring VMAs of different kinds in one buffer. */
static int layout_mixed_vmas(void)
{
	char *p;
	int ret, fd;

	NEED_ORACLE();
	if (!thp_available())
		return t_skip("THP disabled");
	if (t_hugepages_reserve(&huge_2m, 2048, 1))
		return t_skip("%s", huge_2m.why);
	p = reserve_va(8 * MiB, 2 * MiB);
	t_check(p);
	/* [2 MiB hugetlb][2 MiB THP][4 KiB pages][2 MiB THP] */
	if (mmap(p, 2 * MiB, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB | MAP_FIXED | MAP_POPULATE, -1, 0) ==
	    MAP_FAILED) {
		munmap(p, 8 * MiB);
		t_hugepages_restore(&huge_2m);
		return t_skip("no 2 MiB hugetlb pages free");
	}
	t_check(anon_at(p + 2 * MiB, 2 * MiB, MADV_HUGEPAGE));
	touch(p + 2 * MiB, 2 * MiB);
	t_check(anon_at(p + 4 * MiB, 2 * MiB, MADV_NOHUGEPAGE));
	touch(p + 4 * MiB, 2 * MiB);
	t_check(anon_at(p + 6 * MiB, 2 * MiB, MADV_HUGEPAGE));
	touch(p + 6 * MiB, 2 * MiB);
	fd = 0;
	{
		struct iovec iov[4] = {
			{ p, 4 * MiB },			/* hugetlb + THP: same folio size, coalesced */
			{ p + MiB, 2 * MiB },
			{ p + 2 * MiB, 4 * MiB },	/* THP + 4 KiB: per page */
			{ p + 4 * MiB - PAGE, 2 * MiB + 2 * PAGE },
		};

		ret = both("mixed-vmas", iov, 4);
	}
	(void)fd;
	munmap(p, 8 * MiB);
	t_hugepages_restore(&huge_2m);
	return ret;
}

/*
 * CVE-2023-2598 shapes: file pages of one memfd (a THP when shmem can have
 * them) mapped one by one with MAP_FIXED: the same page N times, pages in
 * reverse order, a duplicate; and the whole folio twice back to back.
 */
static int map_pages(char *at, int fd, const unsigned int *pg, unsigned int n)
{
	unsigned int i;

	for (i = 0; i < n; i++)
		if (mmap(at + i * PAGE, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd,
			 (off_t)(pg[i] * PAGE)) == MAP_FAILED)
			return -1;
	return 0;
}

static int layout_cve_2023_2598(void)
{
	static const unsigned int same[] = { 0, 0, 0, 0 };
	static const unsigned int reversed[] = { 3, 2, 1, 0 };
	static const unsigned int dup[] = { 0, 1, 1, 2, 3 };
	static const unsigned int tail[] = { 510, 511, 0, 1 };
	int fd = -1, ret;
	char *big, *v;

	NEED_ORACLE();
	big = memfd_thp(2 * MiB, &fd);
	if (!big) {
		/* Plain shmem: order-0 pages only, still the same shapes. */
		fd = memfd_sized("regbuf-oracle-cve", 2 * MiB, 0);
		t_check(fd >= 0);
		big = mmap(NULL, 2 * MiB, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, 0);
		t_check(big != MAP_FAILED);
	}
	v = reserve_va(8 * MiB, 2 * MiB);
	t_check(v);
	t_check(!map_pages(v, fd, same, 4));
	t_check(!map_pages(v + 16 * PAGE, fd, reversed, 4));
	t_check(!map_pages(v + 32 * PAGE, fd, dup, 5));
	t_check(!map_pages(v + 48 * PAGE, fd, tail, 4));
	/* The whole folio twice, back to back. */
	t_check(mmap(v + 4 * MiB, 2 * MiB, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd, 0) !=
		MAP_FAILED);
	t_check(mmap(v + 6 * MiB, 2 * MiB, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd, 0) !=
		MAP_FAILED);
	{
		struct iovec iov[5] = {
			{ v, 4 * PAGE },
			{ v + 16 * PAGE, 4 * PAGE },
			{ v + 32 * PAGE + 9, 5 * PAGE - 9 },
			{ v + 48 * PAGE, 4 * PAGE },
			{ v + 4 * MiB, 4 * MiB },
		};

		ret = both("cve-2023-2598", iov, 5);
	}
	munmap(v, 8 * MiB);
	munmap(big, 2 * MiB);
	close(fd);
	return ret;
}

/* What registration refuses (or accepts) by mapping kind, error codes compared. */
static int layout_refusals(void)
{
	char name[] = "./regbuf-oracle.XXXXXX";
	char *ro, *hole, *rw, *fsh, *fpriv;
	int fd, ret = T_PASS, r;

	NEED_ORACLE();
	ro = mmap(NULL, 64 * KiB, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	t_check(ro != MAP_FAILED);
	hole = anon_at(NULL, 3 * PAGE, 0);
	t_check(hole);
	touch(hole, 3 * PAGE);
	t_check(!munmap(hole + PAGE, PAGE));
	rw = anon_at(NULL, 3 * PAGE, 0);
	t_check(rw);
	touch(rw, 3 * PAGE);
	t_check(!mprotect(rw + PAGE, PAGE, PROT_READ));
	fd = mkstemp(name);
	t_check(fd >= 0);
	unlink(name);
	t_check(!ftruncate(fd, 64 * KiB));
	fsh = mmap(NULL, 64 * KiB, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, 0);
	fpriv = mmap(NULL, 64 * KiB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_POPULATE, fd, 0);
	t_check(fsh != MAP_FAILED && fpriv != MAP_FAILED);
	{
		struct { const char *name; struct iovec iov; } c[] = {
			{ "read-only", { ro, 64 * KiB } },
			{ "read-only-page-in-rw", { rw, 3 * PAGE } },
			{ "hole", { hole, 3 * PAGE } },
			{ "file-shared", { fsh, 64 * KiB } },
			{ "file-private", { fpriv, 64 * KiB } },
			{ "null-len", { NULL, 1 } },
			{ "over-1g", { ro, (1UL << 30) + 1 } },
		};
		unsigned int i;

		for (i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
			r = both(c[i].name, &c[i].iov, 1);
			if (r && ret == T_PASS)
				ret = r;
		}
	}
	munmap(ro, 64 * KiB);
	munmap(hole, 3 * PAGE);
	munmap(rw, 3 * PAGE);
	munmap(fsh, 64 * KiB);
	munmap(fpriv, 64 * KiB);
	close(fd);
	return ret;
}

/*
 * Without privilege (no frames in pagemap, no /proc/kpageflags): a THP whose
 * PMD mapping was split is described per page and flagged an upper bound of
 * what the kernel builds; PMD-mapped THP stays exact; refusals are the same.
 * The kernel's answer comes from the oracle (root); regbuf's from a child
 * that became nobody, as a process started by setpriv would be.
 */
struct unpriv_report {
	int ret_pte, ret_pmd, ret_ro;
	struct regbuf_buf_info pte, pmd;
	bool kpf_readable;
};

/* The three shapes: a THP with its PMD split by mprotect(), a PMD-mapped THP, read-only. */
static int unpriv_shapes(struct iovec *iov)
{
	char *pte = thp_map(4 * MiB), *pmd = thp_map(4 * MiB);
	char *ro = mmap(NULL, 64 * KiB, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);

	if (!pte || !pmd || ro == MAP_FAILED ||
	    mprotect(pte + 5 * PAGE, PAGE, PROT_READ | PROT_WRITE | PROT_EXEC))
		return -1;
	iov[0] = (struct iovec){ pte, 4 * MiB };
	iov[1] = (struct iovec){ pmd, 4 * MiB };
	iov[2] = (struct iovec){ ro, 64 * KiB };
	return 0;
}

static void unpriv_child(int wfd)
{
	struct unpriv_report r = { 0 };
	struct regbuf_table *t[3];
	struct regbuf_buf *b;
	struct iovec iov[3];
	int i;

	if (setgroups(0, NULL) || setgid(65534) || setuid(65534) ||
	    prctl(PR_SET_DUMPABLE, 1, 0, 0, 0))
		_exit(2);
	/* Its own memory: what it inherited is shared copy-on-write with the parent. */
	if (unpriv_shapes(iov))
		_exit(5);
	r.kpf_readable = !access("/proc/kpageflags", R_OK);
	for (i = 0; i < 3; i++)
		if (regbuf_table_create(&t[i], 0))
			_exit(3);
	r.ret_pte = regbuf_table_register(t[0], &iov[0], 1, 0);
	r.ret_pmd = regbuf_table_register(t[1], &iov[1], 1, 0);
	r.ret_ro = regbuf_table_register(t[2], &iov[2], 1, 0);
	if (!r.ret_pte && !regbuf_table_buf_get(t[0], 0, &b)) {
		regbuf_buf_info(b, &r.pte);
		regbuf_buf_put(b);
	}
	if (!r.ret_pmd && !regbuf_table_buf_get(t[1], 0, &b)) {
		regbuf_buf_info(b, &r.pmd);
		regbuf_buf_put(b);
	}
	r.pte.segs = r.pmd.segs = r.pte.phys_segs = r.pmd.phys_segs = NULL;
	_exit(write(wfd, &r, sizeof(r)) == sizeof(r) ? 0 : 4);
}

static int unprivileged_upper_bound(void)
{
	struct k_result *k[3] = { NULL, NULL, NULL };
	struct unpriv_report r;
	struct iovec iov[3];
	int fds[2], st, ret = T_PASS, i;
	pid_t pid;

	NEED_ORACLE();
	if (!thp_available())
		return t_skip("THP disabled");
	t_check(!unpriv_shapes(iov));
	for (i = 0; i < 3; i++) {
		k[i] = calloc(1, sizeof(*k[i]));
		if (!k[i] || kernel_register(&iov[i], 1, k[i])) {
			ret = T_FAILF("kernel registration %d", i);
			goto out;
		}
	}
	t_check(!pipe(fds));
	pid = fork();
	if (!pid) {
		close(fds[0]);
		unpriv_child(fds[1]);
	}
	close(fds[1]);
	i = (int)read(fds[0], &r, sizeof(r));
	close(fds[0]);
	waitpid(pid, &st, 0);
	if (i != sizeof(r) || !WIFEXITED(st) || WEXITSTATUS(st)) {
		ret = T_FAILF("the unprivileged child failed (status %#x)", st);
		goto out;
	}
	printf("  unprivileged: split THP %u bvecs predicted (kernel %u, flags %#x), PMD THP %u (kernel %u, flags %#x), read-only %d (kernel %ld)\n",
	       r.pte.kernel_nr_segs, k[0]->buf[0].nr_bvecs, r.pte.flags, r.pmd.kernel_nr_segs,
	       k[1]->buf[0].nr_bvecs, r.pmd.flags, r.ret_ro, k[2]->ret);
	if (r.kpf_readable)
		ret = T_FAILF("nobody can read /proc/kpageflags: not unprivileged");
	else if (r.ret_pte || r.ret_pmd || !k[0]->buf[0].present || !k[1]->buf[0].present)
		ret = T_FAILF("registration failed: %d %d", r.ret_pte, r.ret_pmd);
	else if (!(r.pte.flags & REGBUF_BUF_F_UPPER_BOUND) || (r.pte.flags & REGBUF_BUF_F_EXACT) ||
		 r.pte.kernel_nr_segs < k[0]->buf[0].nr_bvecs)
		ret = T_FAILF("split THP: not an upper bound of the kernel's bvecs");
	else if (!(r.pmd.flags & REGBUF_BUF_F_EXACT) ||
		 r.pmd.kernel_nr_segs != k[1]->buf[0].nr_bvecs ||
		 r.pmd.folio_shift != k[1]->buf[0].folio_shift)
		ret = T_FAILF("PMD-mapped THP: not exact without privilege");
	else if (r.ret_ro != k[2]->ret)
		ret = T_FAILF("read-only: regbuf %d, kernel %ld", r.ret_ro, k[2]->ret);
out:
	for (i = 0; i < 3; i++) {
		if (k[i])
			k_result_free(k[i]);
		free(k[i]);
	}
	munmap(iov[0].iov_base, 4 * MiB);
	munmap(iov[1].iov_base, 4 * MiB);
	munmap(iov[2].iov_base, 64 * KiB);
	return ret;
}

/* Summary: the layouts compared and the mismatches, and the probe's own check. */
static int summary(void)
{
	NEED_ORACLE();
	printf("  oracle: %u layouts (%u buffers) compared, %u mismatches, %llu bv_page values checked against pagemap\n",
	       nr_layouts, nr_buffers, nr_mismatch, (unsigned long long)probe_pages_checked);
	t_check(probe_pages_checked > 0);
	t_check_eq(nr_mismatch, 0);
	return T_PASS;
}
#endif /* REGBUF_HAVE_ORACLE */

#ifndef REGBUF_HAVE_ORACLE
static int oracle_unavailable(void)
{
	return t_skip("built without the BPF oracle (needs clang, bpftool, libbpf-dev and /sys/kernel/btf/vmlinux at build time)");
}
#endif

static const struct t_case cases[] = {
#ifdef REGBUF_HAVE_ORACLE
	T_CASE(layout_4k),
	T_CASE(layout_hugetlb_2m),
	T_CASE(layout_hugetlb_1g),
	T_CASE(layout_thp),
	T_CASE(layout_thp_pte_mapped),
	T_CASE(layout_thp_mremap),
	T_CASE(layout_thp_refault),
	T_CASE(layout_mthp_64k),
	T_CASE(layout_hint_later_part),
	T_CASE(layout_larger_after_smaller),
	T_CASE(layout_memfd),
	T_CASE(layout_memfd_thp),
	T_CASE(layout_memfd_hugetlb),
	T_CASE(layout_partial),
	T_CASE(layout_zero_page),
	T_CASE(layout_after_fork),
	T_CASE(layout_mixed_vmas),
	T_CASE(layout_cve_2023_2598),
	T_CASE(layout_refusals),
	T_CASE(unprivileged_upper_bound),
	T_CASE(summary),
#else
	T_CASE(oracle_unavailable),
#endif
};

int main(int argc, char **argv)
{
	return t_main("oracle", cases, sizeof(cases) / sizeof(cases[0]), argc, argv);
}
