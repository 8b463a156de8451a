// SPDX-License-Identifier: MIT
/*
 * sys: premapped NVMe descriptors over the physical layouts of real memory on
 * this machine: 4 KiB pages, THP, 2 MiB and 1 GiB hugetlb.  The expected
 * byte ranges come from /proc/self/pagemap read here (root: frame numbers);
 * the cookie is built twice, from those segments and from a table buffer
 * registered with REGBUF_TABLE_F_LAYOUT_PFN, and every descriptor is read
 * back by the walker in tests/dma_walk.h.  hugetlb pages are reserved by the
 * test and the old counts restored.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <unistd.h>

#include <regbuf/dma.h>
#include <regbuf/table.h>

#include "dma_walk.h"
#include "harness.h"

#define KiB (UINT64_C(1) << 10)
#define MiB (UINT64_C(1) << 20)
#define GiB (UINT64_C(1) << 30)
#define LEAD (100 * 4096 + 512)

#ifndef MAP_HUGE_SHIFT
#define MAP_HUGE_SHIFT 26
#endif

static struct wranges w_got, w_want;
static uint64_t cases_walked;

/* ---- pagemap ---- */

/*
 * Physical segments of [addr, addr + len) from /proc/self/pagemap: bit 63
 * present, bits 54..0 the frame number (zero without CAP_SYS_ADMIN).
 * Physically adjacent pages merge.  Returns the count, or -errno / -EPERM.
 */
static int pagemap_segs(uint64_t addr, uint64_t len, struct regbuf_seg **out)
{
	uint64_t first = addr / 4096, last = (addr + len - 1) / 4096, i, n = last - first + 1;
	struct regbuf_seg *segs;
	uint64_t *ents;
	int fd, nr = 0;

	fd = open("/proc/self/pagemap", O_RDONLY);
	if (fd < 0)
		return -errno;
	ents = malloc(n * 8);
	segs = malloc(n * sizeof(*segs));
	if (!ents || !segs) {
		close(fd);
		free(ents);
		free(segs);
		return -ENOMEM;
	}
	if (pread(fd, ents, n * 8, (off_t)(first * 8)) != (ssize_t)(n * 8)) {
		close(fd);
		free(ents);
		free(segs);
		return -EIO;
	}
	close(fd);
	for (i = 0; i < n; i++) {
		uint64_t pfn = ents[i] & ((UINT64_C(1) << 55) - 1);
		uint64_t pa = pfn * 4096, va = (first + i) * 4096;
		uint64_t s = va < addr ? addr : va;
		uint64_t e = va + 4096 > addr + len ? addr + len : va + 4096;

		if (!(ents[i] >> 63) || !pfn) {
			free(ents);
			free(segs);
			return -EPERM;
		}
		pa += s - va;
		if (nr && segs[nr - 1].addr + segs[nr - 1].len == pa) {
			segs[nr - 1].len += e - s;
		} else {
			segs[nr].addr = pa;
			segs[nr].len = e - s;
			nr++;
		}
	}
	free(ents);
	*out = segs;
	return nr;
}

/* ---- the check ---- */

static int check_cookie(const char *what, const struct regbuf_dma_cookie *c, struct tdev *d,
			const struct regbuf_seg *segs, uint32_t nr, uint64_t len)
{
	static const uint64_t lens[] = { 4, 512, 4092, 4096, 4100, 8192, 12288, 65536,
					 128 * KiB, 512 * KiB - 4, 512 * KiB };
	struct wctrl ctl = { 12, 512 * KiB, true };
	struct regbuf_dma_sgl_scratch s = { 0 };
	struct regbuf_nvme_sgl_desc s1;
	uint64_t offs[512], p1, p2, b = 0;
	unsigned int no = 0, i, j;
	void *va;
	int ret = T_PASS, r;

	if ((regbuf_dma_cookie_flags(c) & (REGBUF_DMA_COOKIE_F_PRP | REGBUF_DMA_COOKIE_F_SGL)) !=
	    (REGBUF_DMA_COOKIE_F_PRP | REGBUF_DMA_COOKIE_F_SGL))
		return T_FAILF("%s: cookie flags 0x%x", what, regbuf_dma_cookie_flags(c));
	if (tdev_alloc(d, 256 * 16, &va, &s.iova))
		return t_broken("no scratch");
	s.descs = va;
	s.nr = 256;
	/* around every physical segment boundary, and the list-page slots 509..512 */
	for (i = 0; i < nr && no < 400; i++) {
		static const int64_t around[] = { -8192, -4096, -512, -4, 0, 4, 4096 };

		for (j = 0; j < 7; j++)
			if ((int64_t)b + around[j] >= 0 && b + (uint64_t)around[j] < len)
				offs[no++] = (b + (uint64_t)around[j]) & ~(uint64_t)3;
		b += segs[i].len;
	}
	for (i = 509; i <= 512; i++)
		if (i * 4096 < len)
			offs[no++] = i * 4096;
	for (i = 0; i < 100; i++)
		offs[no++] = (t_rand() % len) & ~(uint64_t)3;
	for (i = 0; i < no && ret == T_PASS; i++) {
		for (j = 0; j < sizeof(lens) / sizeof(lens[0]) && ret == T_PASS; j++) {
			uint64_t off = offs[i], n = lens[j];

			if (off + n > len)
				continue;
			ref_ranges(&w_want, segs, nr, off, n);
			if (regbuf_dma_prp(c, off, n, &p1, &p2) ||
			    walk_prp(d, &ctl, p1, p2, n, &w_got) != WS_OK ||
			    !wr_equal(&w_got, &w_want))
				ret = T_FAILF("%s: PRP off %llu len %llu", what,
					      (unsigned long long)off, (unsigned long long)n);
			r = regbuf_dma_sgl(c, off, n, &s1, &s);
			if (ret == T_PASS && (r < 0 || walk_sgl(d, &ctl, &s1, n, &w_got) != WS_OK ||
					      !wr_equal(&w_got, &w_want)))
				ret = T_FAILF("%s: SGL off %llu len %llu: %d", what,
					      (unsigned long long)off, (unsigned long long)n, r);
			cases_walked += 2;
		}
	}
	tdev_free(d, va, 256 * 16, s.iova);
	return ret;
}

/*
 * Build the cookie from pagemap's segments and from a table buffer's physical
 * segments (REGBUF_TABLE_F_LAYOUT_PFN) and check both against pagemap.
 */
static int check_memory(const char *what, void *mem, uint64_t len, uint64_t min_seg)
{
	const struct regbuf_dma_ctrl ctrl = { 12, 0, 512 * KiB };
	struct regbuf_dma_cookie *c;
	struct regbuf_buf_info info;
	struct regbuf_seg *segs = NULL;
	struct regbuf_table *t;
	struct regbuf_buf *buf;
	/* start mid-folio, mid-page: page 100 plus 512 bytes */
	struct iovec iov = { (char *)mem + LEAD, len - LEAD };
	struct tdev d;
	uint64_t i, longest = 0;
	int nr, ret;

	memset(mem, 0x5a, len);
	nr = pagemap_segs((uintptr_t)iov.iov_base, iov.iov_len, &segs);
	if (nr == -EPERM)
		return t_skip("no frame numbers in /proc/self/pagemap: run as root");
	if (nr < 0)
		return t_broken("pagemap: %d", nr);
	for (i = 0; i < (uint64_t)nr; i++)
		longest = segs[i].len > longest ? segs[i].len : longest;
	if (longest + LEAD < min_seg) {
		free(segs);
		return t_skip("%s: no physically contiguous run of %llu KiB was obtained", what,
			      (unsigned long long)(min_seg >> 10));
	}
	printf("# %s: %d physical segments over %llu MiB, longest %llu KiB\n", what, nr,
	       (unsigned long long)(len >> 20), (unsigned long long)(longest >> 10));
	tdev_init(&d);
	ret = regbuf_dma_cookie_create(&c, segs, (uint32_t)nr, iov.iov_len, &ctrl, &tdev_ops, &d,
				       0);
	if (ret) {
		free(segs);
		return T_FAILF("%s: cookie_create %d", what, ret);
	}
	ret = check_cookie(what, c, &d, segs, (uint32_t)nr, iov.iov_len);
	regbuf_dma_cookie_destroy(c);
	if (ret != T_PASS)
		goto out_free;

	/* the same memory through the table layer */
	if (regbuf_table_create(&t, 0)) {
		ret = t_broken("table_create");
		goto out_free;
	}
	ret = regbuf_table_register(t, &iov, 1, REGBUF_TABLE_F_LAYOUT_PFN);
	if (!ret)
		ret = regbuf_table_buf_get(t, 0, &buf);
	if (ret) {
		regbuf_table_destroy(t);
		ret = T_FAILF("%s: table register %d", what, ret);
		goto out_free;
	}
	if (regbuf_buf_info(buf, &info) || !(info.flags & REGBUF_BUF_F_PHYS)) {
		ret = T_FAILF("%s: table buffer has no physical segments", what);
	} else {
		ret = regbuf_dma_cookie_create_buf(&c, buf, &ctrl, &tdev_ops, &d,
						   REGBUF_DMA_F_PHYS);
		if (ret) {
			ret = T_FAILF("%s: cookie_create_buf %d", what, ret);
		} else {
			ret = check_cookie(what, c, &d, segs, (uint32_t)nr, iov.iov_len);
			regbuf_dma_cookie_destroy(c);
		}
	}
	regbuf_buf_put(buf);
	regbuf_table_destroy(t);
	if (ret == T_PASS && (d.n || d.bad_frees))
		ret = T_FAILF("%s: device memory leaked (%u) or freed wrongly (%u)", what, d.n,
			      d.bad_frees);
out_free:
	free(segs);
	return ret;
}

static int sys_dma_4k_pages(void)
{
	uint64_t len = 16 * MiB;
	void *m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	int ret;

	if (m == MAP_FAILED)
		return t_broken("mmap");
	madvise(m, len, MADV_NOHUGEPAGE);
	ret = check_memory("4k", m, len, 0);
	munmap(m, len);
	return ret;
}

static int sys_dma_thp(void)
{
	uint64_t len = 32 * MiB, raw = len + 2 * MiB;
	char *r = mmap(NULL, raw, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char *m;
	int ret;

	if (r == MAP_FAILED)
		return t_broken("mmap");
	m = (char *)(((uintptr_t)r + (uintptr_t)(2 * MiB - 1)) & ~(uintptr_t)(2 * MiB - 1));
	if (madvise(m, len, MADV_HUGEPAGE)) {
		munmap(r, raw);
		return t_skip("madvise(MADV_HUGEPAGE) failed: enable THP "
			      "(/sys/kernel/mm/transparent_hugepage/enabled = madvise)");
	}
	ret = check_memory("thp", m, len, 2 * MiB);
	munmap(r, raw);
	return ret;
}

static int sys_dma_hugetlb(unsigned long kb, long pages, int huge_flag, const char *what)
{
	uint64_t len = (uint64_t)kb * 1024 * (uint64_t)pages;
	struct t_hugepages res = { 0 };
	void *m;
	int ret;

	if (t_hugepages_reserve(&res, kb, pages))
		return t_skip("%s", res.why);
	m = mmap(NULL, len, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB | huge_flag, -1, 0);
	if (m == MAP_FAILED) {
		t_hugepages_restore(&res);
		return t_skip("mmap(MAP_HUGETLB) of %lu kB pages failed: raise %s", kb, res.path);
	}
	ret = check_memory(what, m, len, (uint64_t)kb * 1024);
	munmap(m, len);
	t_hugepages_restore(&res);
	return ret;
}

static int sys_dma_hugetlb_2m(void)
{
	return sys_dma_hugetlb(2048, 8, 21 << MAP_HUGE_SHIFT, "hugetlb-2m");
}

static int sys_dma_hugetlb_1g(void)
{
	return sys_dma_hugetlb(1048576, 1, 30 << MAP_HUGE_SHIFT, "hugetlb-1g");
}

static int sys_dma_counts(void)
{
	printf("# %llu PRP+SGL I/Os over real layouts walked\n",
	       (unsigned long long)cases_walked);
	return cases_walked ? T_PASS : t_skip("no layout could be read");
}

static const struct t_case cases[] = {
	T_CASE(sys_dma_4k_pages),
	T_CASE(sys_dma_thp),
	T_CASE(sys_dma_hugetlb_2m),
	T_CASE(sys_dma_hugetlb_1g),
	T_CASE(sys_dma_counts),
};

int main(int argc, char **argv)
{
	return t_main("sys/dma", cases, sizeof(cases) / sizeof(cases[0]), argc, argv);
}
