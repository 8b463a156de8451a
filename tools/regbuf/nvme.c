// SPDX-License-Identifier: MIT
/*
 * regbuf nvme - the userspace NVMe driver from the command line.
 *
 *   regbuf nvme list
 *   regbuf nvme identify --device BDF [--nsid N]
 *   regbuf nvme read     --device BDF --lba L [--blocks N] [--nsid N] [--out FILE [--overwrite]]
 *   regbuf nvme write    --device BDF --lba L [--blocks N] [--nsid N] (--in FILE | --fill BYTE)
 *
 * --unsafe permits physical mode (uio_pci_generic, no IOMMU).  The device is
 * taken from $REGBUF_NVME_DEVICE when --device is absent.  Every option is
 * checked (opt.h) before the device is opened.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <regbuf/nvme.h>

#include "cli.h"
#include "cmd.h"
#include "opt.h"

struct nvme_args {
	const char *dev;
	const char *in, *out;
	uint32_t nsid, fill;
	uint64_t lba, blocks;
	bool unsafe, overwrite;
};

static int write_all(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int read_sysfs(const char *dir, const char *name, char *buf, size_t len)
{
	char path[PATH_MAX];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "r");
	if (!f)
		return -1;
	if (!fgets(buf, (int)len, f))
		buf[0] = '\0';
	fclose(f);
	buf[strcspn(buf, "\n")] = '\0';
	return 0;
}

static int nvme_list(void)
{
	DIR *d = opendir("/sys/bus/pci/devices");
	struct dirent *e;
	int n = 0;

	if (!d) {
		cli_err("nvme list", "/sys/bus/pci/devices: %s", strerror(errno));
		return 1;
	}
	printf("%-14s %-11s %-16s %-8s %s\n", "BDF", "ID", "DRIVER", "GROUP", "REGBUF MODE");
	while ((e = readdir(d))) {
		char dir[PATH_MAX], cls[32], ven[16], dev[16], link[PATH_MAX + 16], grp[PATH_MAX];
		const char *drv = "-", *g = "-", *mode;
		ssize_t k;

		if (e->d_name[0] == '.')
			continue;
		snprintf(dir, sizeof(dir), "/sys/bus/pci/devices/%s", e->d_name);
		if (read_sysfs(dir, "class", cls, sizeof(cls)) || strcmp(cls, "0x010802"))
			continue;
		read_sysfs(dir, "vendor", ven, sizeof(ven));
		read_sysfs(dir, "device", dev, sizeof(dev));
		snprintf(link, sizeof(link), "%s/driver", dir);
		k = readlink(link, grp, sizeof(grp) - 1);
		if (k > 0) {
			grp[k] = '\0';
			drv = strrchr(grp, '/') ? strrchr(grp, '/') + 1 : grp;
		}
		drv = strdup(drv);
		snprintf(link, sizeof(link), "%s/iommu_group", dir);
		k = readlink(link, grp, sizeof(grp) - 1);
		if (k > 0) {
			grp[k] = '\0';
			g = strrchr(grp, '/') ? strrchr(grp, '/') + 1 : grp;
		}
		if (!strcmp(drv, "vfio-pci"))
			mode = "vfio (IOMMU)";
		else if (!strcmp(drv, "uio_pci_generic"))
			mode = "phys (no IOMMU, unsafe; --unsafe)";
		else if (!strcmp(drv, "nvme"))
			mode = "- (kernel nvme driver owns it; bind to vfio-pci to use)";
		else
			mode = "- (bind to vfio-pci or uio_pci_generic)";
		printf("%-14s %.4s:%.4s   %-16s %-8s %s\n", e->d_name, ven + 2, dev + 2, drv, g,
		       mode);
		free((void *)drv);
		n++;
	}
	closedir(d);
	if (!n)
		printf("(no NVMe controllers, PCI class 010802)\n");
	return 0;
}

static int open_ctrl(const char *cmd, const struct nvme_args *a, struct regbuf_nvme_ctrl **cp,
		     struct regbuf_nvme_ns **ns)
{
	return cli_nvme_open(cmd, a->dev, a->nsid, a->unsafe, cp, ns);
}

static int nvme_identify(const struct nvme_args *a)
{
	const struct regbuf_nvme_ctrl_info *ci;
	const struct regbuf_nvme_ns_info *ni;
	struct regbuf_nvme_ctrl *c;
	struct regbuf_nvme_ns *ns;
	int ret = open_ctrl("nvme identify", a, &c, NULL);

	if (ret)
		return 1;
	ci = regbuf_nvme_ctrl_info(c);
	printf("device      %s (%s mode)\n", a->dev,
	       ci->mode == REGBUF_NVME_MODE_VFIO ? "vfio" : "physical");
	printf("model       %s\nserial      %s\nfirmware    %s\nvendor      0x%04x\n", ci->mn,
	       ci->sn, ci->fr, ci->vid);
	printf("version     %u.%u.%u\n", ci->vs >> 16, (ci->vs >> 8) & 0xff, ci->vs & 0xff);
	printf("queues      %u I/O pairs granted, up to %u entries each, doorbell stride %u B\n",
	       ci->io_queues, ci->mqes, 4u << ci->dstrd);
	printf("MDTS        %llu bytes%s; commands up to %llu bytes\n",
	       (unsigned long long)ci->mdts_bytes, ci->mdts_bytes ? "" : " (no limit)",
	       (unsigned long long)ci->max_cmd_bytes);
	printf("SGL         %s (SGLS 0x%08x)\n", (ci->sgls & 3) ? "supported" : "no", ci->sgls);
	printf("timeout     %u ms (CAP.TO); bring-up took %.3f ms\n", ci->timeout_ms,
	       ci->bringup_ns / 1e6);
	if (ci->iova_limit)
		printf("DMA maps    %u slots in the VFIO container\n", ci->iova_limit);
	printf("namespaces  %u\n", ci->nn);
	if (!regbuf_nvme_ns_get(&ns, c, a->nsid)) {
		ni = regbuf_nvme_ns_info(ns);
		printf("ns %-8u %llu blocks x %u B = %.1f MiB (LBA format %u of %u)\n", ni->nsid,
		       (unsigned long long)ni->nsze, ni->lba_size,
		       (double)ni->nsze * ni->lba_size / (1 << 20), ni->flbas, ni->nlbaf);
	}
	regbuf_nvme_ctrl_destroy(c);
	return 0;
}

/* What nvme write writes: --in FILE (zero-padded) or --fill BYTE.  0 or -1 (said why). */
static int fill_data(const char *cmd, const struct nvme_args *a, uint8_t *p, size_t len)
{
	ssize_t n;
	int fd;

	if (!a->in) {
		memset(p, (int)a->fill, len);
		return 0;
	}
	fd = open(a->in, O_RDONLY | O_CLOEXEC);
	n = fd >= 0 ? read(fd, p, len) : -1;
	if (n < 0)
		cli_err(cmd, "%s: %s", a->in, strerror(errno));
	if (fd >= 0)
		close(fd);
	if (n < 0)
		return -1;
	memset(p + n, 0, len - (size_t)n);
	return 0;
}

/* What nvme read read: into --out FILE, or a hex dump.  0 or -1 (said why). */
static int emit_data(const char *cmd, const struct nvme_args *a, const uint8_t *p, size_t len,
		     uint32_t lba_size)
{
	size_t i, j;
	int fd;

	if (!a->out) {
		for (i = 0; i < len; i += 16) {
			printf("%08llx ", (unsigned long long)(a->lba * lba_size + i));
			for (j = 0; j < 16; j++)
				printf(" %02x", p[i + j]);
			printf("\n");
		}
		return 0;
	}
	/* Without --overwrite, a file that appeared since the check is kept. */
	fd = open(a->out, O_WRONLY | O_CREAT | O_CLOEXEC | (a->overwrite ? O_TRUNC : O_EXCL),
		  0644);
	if (fd < 0 || write_all(fd, p, len)) {
		cli_err(cmd, "%s: %s", a->out, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

static int nvme_rw(const struct nvme_args *a, bool write)
{
	const char *cmd = write ? "nvme write" : "nvme read";
	uint32_t lba_size;
	struct regbuf_nvme_ns *ns;
	struct regbuf_nvme_ctrl *c;
	struct regbuf_nvme_qpair *q = NULL;
	struct regbuf_nvme_dmamap *b = NULL;
	struct regbuf_nvme_cpl cpl = { 0 };
	size_t len, maplen;
	uint8_t *p;
	int ret, rc = 1;

	if (open_ctrl(cmd, a, &c, &ns))
		return 1;
	lba_size = regbuf_nvme_ns_info(ns)->lba_size;
	len = (size_t)a->blocks * lba_size;
	p = cli_io_alloc(len, &maplen);
	if (!p) {
		cli_err(cmd, "no memory for %zu bytes", len);
		goto out_ctrl;
	}
	if (write && fill_data(cmd, a, p, len))
		goto out_mem;
	ret = regbuf_nvme_dmamap_create(&b, c, p, len, 0);
	if (!ret)
		ret = regbuf_nvme_qpair_create(&q, c, 0, 0);
	if (!ret)
		ret = regbuf_nvme_io(q, write ? REGBUF_NVME_OP_WRITE : REGBUF_NVME_OP_READ, ns, b,
				     0, len, a->lba, &cpl, 0);
	if (ret) {
		cli_err(cmd, "%s (NVMe status 0x%03x %s, SCT %u SC 0x%02x%s)", strerror(-ret),
			cpl.status, regbuf_nvme_status_str(cpl.status),
			regbuf_nvme_status_sct(cpl.status), regbuf_nvme_status_sc(cpl.status),
			regbuf_nvme_status_dnr(cpl.status) ? " DNR" : "");
		goto out_q;
	}
	if (write)
		printf("wrote %zu bytes at LBA %llu\n", len, (unsigned long long)a->lba);
	else if (emit_data(cmd, a, p, len, lba_size))
		goto out_q;
	rc = 0;
out_q:
	regbuf_nvme_qpair_destroy(q);
	regbuf_nvme_dmamap_destroy(b);
out_mem:
	munmap(p, maplen);
out_ctrl:
	regbuf_nvme_ctrl_destroy(c);
	return rc;
}

/* ---- options ---- */

static struct nvme_args nv = { .nsid = 1, .blocks = 1 };

#define O_DEVICE OPT_STR("device", &nv.dev, "BDF", \
			 "PCI address such as 0000:01:00.0 (default $REGBUF_NVME_DEVICE)")
#define O_NSID OPT_U32("nsid", &nv.nsid, 1, 0xfffffffe, "N", "namespace")
#define O_UNSAFE OPT_FLAG("unsafe", &nv.unsafe, "allow physical mode (uio_pci_generic, no IOMMU)")
#define O_LBA OPT_U64("lba", &nv.lba, 0, UINT64_MAX, "L", "first logical block (required)")
/* NLB is a 0-based 16-bit field: one command moves at most 65536 blocks. */
#define O_BLOCKS OPT_U64("blocks", &nv.blocks, 1, 65536, "N", "logical blocks")

static struct opt_spec list_opts[] = { OPT_END };
static struct opt_spec identify_opts[] = { O_DEVICE, O_NSID, O_UNSAFE, OPT_END };
static struct opt_spec read_opts[] = {
	O_DEVICE, O_NSID, O_LBA, O_BLOCKS,
	OPT_STR("out", &nv.out, "FILE", "write the data to FILE instead of a hex dump"),
	OPT_FLAG("overwrite", &nv.overwrite, "let --out replace an existing file"),
	O_UNSAFE, OPT_END
};
static struct opt_spec write_opts[] = {
	O_DEVICE, O_NSID, O_LBA, O_BLOCKS,
	OPT_STR("in", &nv.in, "FILE", "data to write (zero-padded to the blocks)"),
	OPT_U32("fill", &nv.fill, 0, 255, "BYTE", "write this byte in every position"),
	O_UNSAFE, OPT_END
};
static bool seen(struct opt_spec *table, const char *name)
{
	struct opt_spec *t[] = { table, NULL };

	return opt_seen(t, name);
}

static int check_identify(char *err, size_t len)
{
	return cli_nvme_check_device(nv.dev, err, len);
}

static int check_read(char *err, size_t len)
{
	if (cli_nvme_check_device(nv.dev, err, len))
		return 2;
	if (!seen(read_opts, "lba"))
		return snprintf(err, len, "--lba is required"), 2;
	if (nv.out && !access(nv.out, F_OK) && !nv.overwrite)
		return snprintf(err, len, "--out %s exists; add --overwrite to replace it",
				nv.out), 2;
	return 0;
}

static int check_write(char *err, size_t len)
{
	if (cli_nvme_check_device(nv.dev, err, len))
		return 2;
	if (!seen(write_opts, "lba"))
		return snprintf(err, len, "--lba is required"), 2;
	if (!nv.in == !seen(write_opts, "fill"))
		return snprintf(err, len, "one of --in FILE or --fill BYTE is required"), 2;
	return 0;
}

static int run_list(const struct nvme_args *a)
{
	(void)a;
	return nvme_list();
}

static int run_read(const struct nvme_args *a)
{
	return nvme_rw(a, false);
}

static int run_write(const struct nvme_args *a)
{
	return nvme_rw(a, true);
}

static const struct nvme_sub {
	const char *name, *summary;
	struct opt_spec *opts;
	int (*check)(char *err, size_t len);
	int (*run)(const struct nvme_args *a);
} subs[] = {
	{ "list", "NVMe controllers and how regbuf can use them", list_opts, NULL, run_list },
	{ "identify", "controller and namespace data", identify_opts, check_identify,
	  nvme_identify },
	{ "read", "read blocks (hex dump or --out FILE)", read_opts, check_read, run_read },
	{ "write", "write blocks from --in FILE or a --fill byte", write_opts, check_write,
	  run_write },
};

static void usage(FILE *f, const struct nvme_sub *only)
{
	size_t i;

	fprintf(f, "usage: regbuf nvme <list|identify|read|write> [options]\n");
	for (i = 0; i < sizeof(subs) / sizeof(subs[0]); i++) {
		struct opt_spec *t[] = { subs[i].opts, NULL };

		if (only && only != &subs[i])
			continue;
		fprintf(f, "%s: %s\n", subs[i].name, subs[i].summary);
		opt_usage(f, t);
	}
	opt_usage_help(f);
	fprintf(f, "(the premapped vs per-I/O descriptor benchmark: regbuf bench nvme)\n");
	fprintf(f, "exit status: 0 done, 1 the device or a file failed, 2 bad usage (nothing "
		   "was opened)\n");
}

int cmd_nvme(int argc, char **argv)
{
	const struct nvme_sub *sub = NULL;
	char err[OPT_ERR_LEN], what[32];
	struct opt_spec *t[2] = { NULL, NULL };
	size_t i;
	int first, ret;

	if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
		usage(stdout, NULL);
		return 0;
	}
	for (i = 0; argc >= 2 && i < sizeof(subs) / sizeof(subs[0]); i++)
		if (!strcmp(argv[1], subs[i].name))
			sub = &subs[i];
	if (!sub) {
		cli_err("nvme", argc < 2 ? "which command? (list, identify, read, write)"
					 : "unknown command '%s' (list, identify, read, write)",
			argc < 2 ? "" : argv[1]);
		return 2;
	}
	snprintf(what, sizeof(what), "nvme %s", sub->name);
	nv.dev = getenv("REGBUF_NVME_DEVICE");
	if (nv.dev && !*nv.dev)
		nv.dev = NULL;
	t[0] = sub->opts;
	ret = opt_parse(t, argc - 1, argv + 1, false, &first, err, sizeof(err));
	if (ret == OPT_HELP) {
		usage(stdout, sub);
		return 0;
	}
	if (!ret)
		ret = opt_no_operands(argc - 1, argv + 1, first, err, sizeof(err));
	if (!ret && sub->check)
		ret = sub->check(err, sizeof(err));
	if (ret) {
		cli_err(what, "%s", err);
		return 2;
	}
	return sub->run(&nv);
}
