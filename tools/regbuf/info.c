// SPDX-License-Identifier: MIT
/*
 * regbuf info - what this machine offers registered buffers: kernel,
 * io_uring operations and registration opcodes (probed and tried), hugetlb
 * pools and THP modes, the memlock limit, page-table introspection, IOMMU and
 * VFIO, and the O_DIRECT alignment of a path.  Human-readable by default,
 * one JSON document with --json.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <liburing.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <regbuf/mem.h>

#include "cli.h"

/*
 * io_uring uapi numbers newer than Debian 12's liburing 2.3 headers.  Kept
 * minimal and local on purpose: src/uring/compat.h (uring layer) is the
 * library's single compat header; this tool only probes.
 */
#define INFO_OP_READV_FIXED		60	/* 6.15 */
#define INFO_OP_WRITEV_FIXED		61	/* 6.15 */
#define INFO_REGISTER_BUFFERS2		15	/* 5.13 */
#define INFO_REGISTER_CLONE_BUFFERS	30	/* 6.12; ranges + DST_REPLACE 6.13 */
#define INFO_CLONE_SRC_REGISTERED	(1u << 0)
#define INFO_CLONE_DST_REPLACE		(1u << 1)

struct info_clone_buffers {
	uint32_t src_fd;
	uint32_t flags;
	uint32_t src_off;	/* pad before 6.13 */
	uint32_t dst_off;
	uint32_t nr;
	uint32_t pad[3];
};

#define INFO_STATX_DIOALIGN		0x00002000u	/* linux/stat.h, 6.1 */

/* ---- output: the same calls print text or JSON ---- */

static bool json;
static int depth;
static bool need_comma[16];

static void indent(void)
{
	int i;

	for (i = 1; i < depth; i++)
		fputs("  ", stdout);
}

static void json_str(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			printf("\\%c", c);
		else if (c < 0x20)
			printf("\\u%04x", c);
		else
			putchar(c);
	}
	putchar('"');
}

static void key(const char *k)
{
	if (json) {
		if (need_comma[depth])
			putchar(',');
		need_comma[depth] = true;
		json_str(k);
		putchar(':');
	} else {
		indent();
		printf("%s: ", k);
	}
}

static void obj_begin(const char *k)
{
	if (k && json) {
		key(k);
	} else if (k) {
		indent();
		printf("%s:\n", k);
	}
	if (json)
		putchar('{');
	depth++;
	need_comma[depth] = false;
}

static void obj_end(void)
{
	depth--;
	if (json)
		putchar('}');
	if (json && !depth)
		putchar('\n');
}

static void kv_str(const char *k, const char *v)
{
	key(k);
	if (json) {
		if (v)
			json_str(v);
		else
			fputs("null", stdout);
	} else {
		printf("%s\n", v ? v : "-");
	}
}

static void kv_u64(const char *k, uint64_t v)
{
	key(k);
	printf("%" PRIu64 "%s", v, json ? "" : "\n");
}

static void kv_bool(const char *k, bool v)
{
	key(k);
	printf("%s%s", json ? (v ? "true" : "false") : (v ? "yes" : "no"), json ? "" : "\n");
}

/* "ok" or the error name, for results of trials. */
static void kv_result(const char *k, int err)
{
	kv_str(k, err ? strerror(-err) : "ok");
}

/* ---- helpers ---- */

static int read_line(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "re");
	int err = 0;

	if (!f)
		return -errno;
	if (!fgets(buf, (int)len, f))
		err = -EIO;
	fclose(f);
	buf[strcspn(buf, "\n")] = '\0';
	return err;
}

static bool read_u64(const char *path, uint64_t *v)
{
	char buf[64];

	if (read_line(path, buf, sizeof(buf)))
		return false;
	*v = strtoull(buf, NULL, 10);
	return true;
}

/* The bracketed choice of "always [madvise] never". */
static void kv_mode(const char *k, const char *path)
{
	char buf[256], *l, *r;

	if (read_line(path, buf, sizeof(buf)) || !(l = strchr(buf, '[')) || !(r = strchr(l, ']'))) {
		kv_str(k, NULL);
		return;
	}
	*r = '\0';
	kv_str(k, l + 1);
}

static bool exists(const char *path)
{
	return !access(path, F_OK);
}

/* ---- sections ---- */

static void show_kernel(void)
{
	struct utsname u;

	obj_begin("kernel");
	if (!uname(&u)) {
		kv_str("release", u.release);
		kv_str("machine", u.machine);
	}
	kv_u64("page_size", (uint64_t)sysconf(_SC_PAGESIZE));
	obj_end();
}

static int clone_buffers(int dst_fd, int src_fd, uint32_t flags, uint32_t src_off,
			 uint32_t dst_off, uint32_t nr)
{
	struct info_clone_buffers arg = { (uint32_t)src_fd, flags, src_off, dst_off, nr, { 0 } };

	if (syscall(__NR_io_uring_register, dst_fd, INFO_REGISTER_CLONE_BUFFERS, &arg, 1) < 0)
		return -errno;
	return 0;
}

static void show_io_uring(void)
{
	static const struct { const char *name; int op; } ops[] = {
		{ "READ_FIXED", IORING_OP_READ_FIXED },
		{ "WRITE_FIXED", IORING_OP_WRITE_FIXED },
		{ "READV_FIXED", INFO_OP_READV_FIXED },
		{ "WRITEV_FIXED", INFO_OP_WRITEV_FIXED },
	};
	struct io_uring src, dst;
	struct io_uring_probe *probe;
	struct iovec iov;
	uint64_t disabled;
	void *buf = NULL;
	bool have_probe;
	size_t i;
	int r;

	obj_begin("io_uring");
	if (read_u64("/proc/sys/kernel/io_uring_disabled", &disabled))
		kv_u64("io_uring_disabled_sysctl", disabled);
	r = io_uring_queue_init(4, &src, 0);
	kv_bool("available", r == 0);
	if (r) {
		kv_result("error", r);
		obj_end();
		return;
	}
	kv_u64("features", src.features);

	obj_begin("ops");
	probe = io_uring_get_probe_ring(&src);
	have_probe = probe != NULL;
	for (i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
		kv_bool(ops[i].name, probe && io_uring_opcode_supported(probe, ops[i].op));
	if (probe)
		io_uring_free_probe(probe);
	obj_end();

	/* Real trials with one registered 4 KiB buffer. */
	obj_begin("register");
	kv_bool("PROBE", have_probe);
	if (posix_memalign(&buf, 4096, 4096)) {
		kv_str("error", "out of memory");
		obj_end();
		io_uring_queue_exit(&src);
		obj_end();
		return;
	}
	memset(buf, 0, 4096);
	iov.iov_base = buf;
	iov.iov_len = 4096;
	r = io_uring_register_buffers(&src, &iov, 1);
	kv_result("BUFFERS", r);
	if (!io_uring_queue_init(4, &dst, 0)) {
		int sparse = io_uring_register_buffers_sparse(&dst, 4);

		kv_result("BUFFERS2_sparse", sparse);
		if (!sparse)
			io_uring_unregister_buffers(&dst);
		if (!r) {
			/* 6.12: whole table into an empty one. */
			int whole = clone_buffers(dst.ring_fd, src.ring_fd, 0, 0, 0, 0);
			/* 6.13: a range, replacing into an existing table. */
			int range = whole ? whole :
				clone_buffers(dst.ring_fd, src.ring_fd, INFO_CLONE_DST_REPLACE, 0, 1, 1);

			kv_result("CLONE_BUFFERS", whole);
			kv_result("CLONE_BUFFERS_ranges_replace", range);
		}
		io_uring_queue_exit(&dst);
	}
	obj_end();
	io_uring_queue_exit(&src);
	free(buf);
	obj_end();
}

static void show_hugepages(void)
{
	const char *dir = "/sys/kernel/mm/hugepages";
	struct dirent *de;
	DIR *d;

	obj_begin("hugepages");
	d = opendir(dir);
	while (d && (de = readdir(d))) {
		static const char *const f[] = { "nr_hugepages", "free_hugepages",
						 "resv_hugepages", "surplus_hugepages" };
		static const char *const k[] = { "total", "free", "reserved", "surplus" };
		char path[512];
		uint64_t v;
		size_t i;

		if (strncmp(de->d_name, "hugepages-", 10))
			continue;
		obj_begin(de->d_name + 10);
		for (i = 0; i < 4; i++) {
			snprintf(path, sizeof(path), "%s/%s/%s", dir, de->d_name, f[i]);
			if (read_u64(path, &v))
				kv_u64(k[i], v);
		}
		obj_end();
	}
	if (d)
		closedir(d);
	obj_end();

	obj_begin("thp");
	kv_mode("enabled", "/sys/kernel/mm/transparent_hugepage/enabled");
	kv_mode("defrag", "/sys/kernel/mm/transparent_hugepage/defrag");
	kv_mode("shmem_enabled", "/sys/kernel/mm/transparent_hugepage/shmem_enabled");
	{
		uint64_t v;

		if (read_u64("/sys/kernel/mm/transparent_hugepage/hpage_pmd_size", &v))
			kv_u64("pmd_size", v);
	}
	obj_end();
}

static bool cap_ipc_lock(void)
{
	char line[256];
	bool yes = false;
	FILE *f = fopen("/proc/self/status", "re");

	if (!f)
		return false;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, "CapEff:", 7)) {
			yes = (strtoull(line + 7, NULL, 16) >> 14) & 1;	/* CAP_IPC_LOCK */
			break;
		}
	fclose(f);
	return yes;
}

static void show_memlock(void)
{
	struct rlimit rl;

	obj_begin("memlock");
	if (!getrlimit(RLIMIT_MEMLOCK, &rl)) {
		if (rl.rlim_cur == RLIM_INFINITY)
			kv_str("soft", "unlimited");
		else
			kv_u64("soft", rl.rlim_cur);
		if (rl.rlim_max == RLIM_INFINITY)
			kv_str("hard", "unlimited");
		else
			kv_u64("hard", rl.rlim_max);
	}
	/* io_uring does not charge registered buffers to a CAP_IPC_LOCK caller. */
	kv_bool("cap_ipc_lock", cap_ipc_lock());
	obj_end();
}

/* PAGEMAP_SCAN (6.7) layout, spelled out: Debian 12's headers lack it. */
struct info_pm_scan_arg {
	uint64_t size, flags, start, end, walk_end, vec, vec_len, max_pages;
	uint64_t category_inverted, category_mask, category_anyof_mask, return_mask;
};

struct info_page_region {
	uint64_t start, end, categories;
};

#define INFO_PAGEMAP_SCAN	_IOWR('f', 16, struct info_pm_scan_arg)
#define INFO_PAGE_IS_PRESENT	(1u << 3)

static void show_pagemap(void)
{
	static volatile char probe_page[4096] __attribute__((aligned(4096)));
	uint64_t ent = 0, flags;
	struct info_page_region reg;
	struct info_pm_scan_arg arg;
	int fd, r;

	probe_page[0] = 1;
	obj_begin("pagemap");
	fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	kv_bool("pagemap_readable", fd >= 0);
	if (fd >= 0) {
		bool pfn = pread(fd, &ent, 8, (off_t)((uintptr_t)probe_page / 4096 * 8)) == 8 &&
			   (ent >> 63) && (ent & ((UINT64_C(1) << 55) - 1));

		/* Without CAP_SYS_ADMIN the kernel reports pfn 0. */
		kv_bool("pfns", pfn);
		memset(&arg, 0, sizeof(arg));
		arg.size = sizeof(arg);
		arg.start = (uintptr_t)probe_page;
		arg.end = arg.start + 4096;
		arg.vec = (uintptr_t)&reg;
		arg.vec_len = 1;
		arg.category_mask = INFO_PAGE_IS_PRESENT;
		arg.return_mask = INFO_PAGE_IS_PRESENT;
		r = ioctl(fd, INFO_PAGEMAP_SCAN, &arg);
		kv_result("pagemap_scan", r < 0 ? -errno : 0);
		close(fd);
	}
	fd = open("/proc/kpageflags", O_RDONLY | O_CLOEXEC);
	kv_bool("kpageflags", fd >= 0 && pread(fd, &flags, 8, 0) == 8);
	if (fd >= 0)
		close(fd);
	obj_end();
}

static void show_iommu(void)
{
	static const char *const mods[] = { "vfio", "vfio_pci", "vfio_iommu_type1", "uio_pci_generic" };
	uint64_t groups = 0;
	struct dirent *de;
	char path[128];
	size_t i;
	DIR *d;

	obj_begin("iommu");
	d = opendir("/sys/kernel/iommu_groups");
	while (d && (de = readdir(d)))
		if (de->d_name[0] != '.')
			groups++;
	if (d)
		closedir(d);
	kv_u64("iommu_groups", groups);
	kv_bool("dev_vfio_vfio", exists("/dev/vfio/vfio"));
	obj_begin("modules");
	for (i = 0; i < sizeof(mods) / sizeof(mods[0]); i++) {
		snprintf(path, sizeof(path), "/sys/module/%s", mods[i]);
		kv_bool(mods[i], exists(path));
	}
	obj_end();
	{
		char buf[16];

		if (!read_line("/sys/module/vfio/parameters/enable_unsafe_noiommu_mode", buf,
			       sizeof(buf)))
			kv_str("vfio_noiommu", buf);
	}
	obj_end();
}

/* What the default arena chain gets right now for a small arena. */
static void show_arena(void)
{
	struct regbuf_mem *m;
	int t, r;

	obj_begin("arena_probe");
	kv_u64("len", 4u << 20);
	r = regbuf_mem_create(&m, 4u << 20, NULL);
	if (r) {
		kv_result("error", r);
		obj_end();
		return;
	}
	kv_str("tier", regbuf_mem_tier_name(regbuf_mem_tier(m)));
	kv_u64("folio_shift", regbuf_mem_folio_shift(m));
	obj_begin("tiers");
	for (t = 0; t < REGBUF_MEM_TIER_NR; t++) {
		const char *why;

		regbuf_mem_tier_status(m, (enum regbuf_mem_tier)t, &why);
		kv_str(regbuf_mem_tier_name((enum regbuf_mem_tier)t), why);
	}
	obj_end();
	regbuf_mem_destroy(m);
	obj_end();
}

static void show_path(const char *p)
{
	uint8_t sx[256] __attribute__((aligned(8)));
	uint32_t mask, mem_align, off_align;
	int fd;

	obj_begin("path");
	kv_str("path", p);
	memset(sx, 0, sizeof(sx));
	/* Raw statx: glibc 2.36's struct statx predates stx_dio_*. */
	if (syscall(SYS_statx, AT_FDCWD, p, 0, INFO_STATX_DIOALIGN, sx)) {
		kv_result("statx", -errno);
		obj_end();
		return;
	}
	memcpy(&mask, sx, 4);			/* stx_mask */
	memcpy(&mem_align, sx + 152, 4);	/* stx_dio_mem_align */
	memcpy(&off_align, sx + 156, 4);	/* stx_dio_offset_align */
	kv_bool("dioalign_reported", mask & INFO_STATX_DIOALIGN);
	if (mask & INFO_STATX_DIOALIGN) {
		kv_u64("dio_mem_align", mem_align);
		kv_u64("dio_offset_align", off_align);
	}
	fd = open(p, O_RDONLY | O_DIRECT | O_CLOEXEC);
	kv_result("open_o_direct", fd < 0 ? -errno : 0);
	if (fd >= 0)
		close(fd);
	obj_end();
}

static void usage(FILE *f)
{
	fprintf(f, "usage: regbuf info [--json] [--path PATH]\n"
		   "  --json       one JSON document instead of text\n"
		   "  --path PATH  O_DIRECT alignment (statx STATX_DIOALIGN) of a file or device\n");
}

int cmd_info(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "path", required_argument, NULL, 'p' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *path = NULL;
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "jp:h", lo, NULL)) != -1) {
		switch (c) {
		case 'j':
			json = true;
			break;
		case 'p':
			path = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		cli_err("info", "unexpected argument '%s'", argv[optind]);
		return 2;
	}
	obj_begin(NULL);
	kv_str("regbuf_version", REGBUF_VERSION);
	show_kernel();
	show_io_uring();
	show_hugepages();
	show_memlock();
	show_pagemap();
	show_iommu();
	show_arena();
	if (path)
		show_path(path);
	obj_end();
	return 0;
}
