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
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <regbuf/mem.h>
#include <regbuf/features.h>
#if REGBUF_HAVE_URING
#include <regbuf/uring.h>
#endif

#include "cli.h"
#include "cmd.h"
#include "opt.h"

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

static void show_io_uring(void)
{
#if REGBUF_HAVE_URING
	struct regbuf_uring_features f;
	int r;
#endif
	uint64_t disabled;

	obj_begin("io_uring");
	if (read_u64("/proc/sys/kernel/io_uring_disabled", &disabled))
		kv_u64("io_uring_disabled_sysctl", disabled);
#if !REGBUF_HAVE_URING
	kv_bool("available", false);
	kv_str("error", "this regbuf was built without liburing (no io_uring layer)");
	obj_end();
#else
	r = regbuf_uring_probe(&f);
	kv_bool("available", r == 0);
	if (r) {
		kv_result("error", r);
		obj_end();
		return;
	}
	kv_u64("features", f.ring_features);

	obj_begin("ops");
	kv_bool("READ_FIXED", f.read_fixed);
	kv_bool("WRITE_FIXED", f.write_fixed);
	kv_bool("READV_FIXED", f.readv_fixed);
	kv_bool("WRITEV_FIXED", f.writev_fixed);
	obj_end();

	/* Real trials (clone: the same probe the ring pool takes its path from). */
	obj_begin("register");
	kv_bool("PROBE", f.probe);
	kv_result("BUFFERS", f.buffers);
	kv_result("BUFFERS2_sparse", f.buffers2_sparse);
	kv_result("CLONE_BUFFERS", f.clone_whole);
	kv_result("CLONE_BUFFERS_ranges_replace", f.clone_ranges);
	obj_end();
	obj_end();
#endif
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

static void show_memlock(void)
{
#if REGBUF_HAVE_URING
	struct regbuf_uring_memlock ml;
#endif

	obj_begin("memlock");
#if REGBUF_HAVE_URING
	/* Nothing to register: just the limits and whether the kernel charges us. */
	if (!regbuf_uring_memlock_estimate(&ml, NULL, 0, 1)) {
		if (ml.soft == UINT64_MAX)
			kv_str("soft", "unlimited");
		else
			kv_u64("soft", ml.soft);
		if (ml.hard == UINT64_MAX)
			kv_str("hard", "unlimited");
		else
			kv_u64("hard", ml.hard);
		/* io_uring does not charge registered buffers to a CAP_IPC_LOCK caller. */
		kv_bool("cap_ipc_lock", !ml.charged);
	}
#else
	kv_str("error", "reported by the io_uring layer, not built (no liburing)");
#endif
	obj_end();
}

static void show_pagemap(void)
{
	struct regbuf_mem_layout_caps c;

	regbuf_mem_layout_caps(&c);
	obj_begin("pagemap");
	kv_bool("pagemap_readable", c.pagemap);
	if (c.pagemap) {
		/* Without CAP_SYS_ADMIN the kernel reports pfn 0. */
		kv_bool("pfns", c.pfns);
		kv_result("pagemap_scan", c.pagemap_scan);
	}
	kv_bool("kpageflags", c.kpageflags);
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

/*
 * NVMe namespaces of the kernel's host (nvme-generic char devices): limits and
 * whether passthrough with fixed buffers works (regbuf_uring_nvme_open() probes
 * it with a one-block read).
 */
static void show_nvme(void)
{
#if REGBUF_HAVE_URING
	struct regbuf_uring_nvme_ns ns;
	struct dirent *de;
	char path[300];
	DIR *d;
	int r;
#endif

	obj_begin("nvme_namespaces");
#if !REGBUF_HAVE_URING
	kv_str("error", "this regbuf was built without liburing (passthrough needs io_uring)");
#else
	d = opendir("/sys/class/nvme-generic");
	while (d && (de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		obj_begin(de->d_name);
		snprintf(path, sizeof(path), "/dev/%s", de->d_name);
		kv_str("char_device", path);
		r = regbuf_uring_nvme_open(&ns, path, 0);
		if (r) {
			kv_result("open", r);
			obj_end();
			continue;
		}
		snprintf(path, sizeof(path), "/dev/%s", ns.blk_name);
		kv_str("block_device", path);
		kv_u64("nsid", ns.nsid);
		kv_u64("lba_size", UINT64_C(1) << ns.lba_shift);
		kv_u64("lbas", ns.nr_lbas);
		kv_u64("max_transfer", ns.lim.max_bytes);
		kv_u64("max_segments", ns.lim.max_segments);
		kv_u64("max_segment_size", ns.lim.max_segment_size);
		kv_u64("virt_boundary_mask", ns.lim.virt_boundary_mask);
		kv_u64("dma_alignment", ns.lim.dma_alignment);
		kv_u64("chunk_bytes", ns.chunk_bytes);
		kv_result("fixed_passthrough", ns.fixed);
		kv_u64("max_kernel_buffer", ns.max_buf_len);
		regbuf_uring_nvme_close(&ns);
		obj_end();
	}
	if (d)
		closedir(d);
#endif
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
	uint32_t mem_align, off_align;
	int fd, r;

	obj_begin("path");
	kv_str("path", p);
	/* O_PATH: statx needs no read permission, as statx(path) did not. */
	fd = open(p, O_PATH | O_CLOEXEC);
	if (fd < 0) {
		kv_result("statx", -errno);
		obj_end();
		return;
	}
#if REGBUF_HAVE_URING
	r = regbuf_uring_dio_align(fd, &mem_align, &off_align);
#else
	r = -EOPNOTSUPP;	/* statx STATX_DIOALIGN is read by the io_uring layer */
	mem_align = off_align = 0;
#endif
	close(fd);
	if (r && r != -EOPNOTSUPP) {
		kv_result("statx", r);
		obj_end();
		return;
	}
	kv_bool("dioalign_reported", !r);
	if (!r) {
		kv_u64("dio_mem_align", mem_align);
		kv_u64("dio_offset_align", off_align);
	}
	/* O_NONBLOCK: the type was checked, but it may have changed since (a FIFO blocks). */
	fd = open(p, O_RDONLY | O_DIRECT | O_CLOEXEC | O_NONBLOCK);
	kv_result("open_o_direct", fd < 0 ? -errno : 0);
	if (fd >= 0)
		close(fd);
	obj_end();
}

int cmd_info(int argc, char **argv)
{
	const char *path = NULL;
	struct opt_spec opts[] = {
		OPT_FLAG("json", &json, "one JSON document instead of text"),
		OPT_STR("path", &path, "PATH",
			"O_DIRECT alignment (statx STATX_DIOALIGN) of a file or block device"),
		OPT_END
	};
	struct opt_spec *t[] = { opts, NULL };
	char err[OPT_ERR_LEN];
	struct stat st;
	int first, ret;

	ret = opt_parse(t, argc, argv, false, &first, err, sizeof(err));
	if (ret == OPT_HELP) {
		printf("usage: regbuf info [options]\n");
		opt_usage(stdout, t);
		opt_usage_help(stdout);
		return 0;
	}
	if (!ret)
		ret = opt_no_operands(argc, argv, first, err, sizeof(err));
	if (!ret && path && stat(path, &st)) {
		snprintf(err, sizeof(err), "--path %s: %s", path, strerror(errno));
		ret = OPT_USAGE;
	}
	if (!ret && path && !S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode)) {
		snprintf(err, sizeof(err), "--path %s: not a regular file or block device", path);
		ret = OPT_USAGE;
	}
	if (ret) {
		cli_err("info", "%s", err);
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
	show_nvme();
	show_arena();
	if (path)
		show_path(path);
	obj_end();
	return 0;
}
