// SPDX-License-Identifier: MIT
/*
 * regbuf nvme - the userspace NVMe driver from the command line.
 *
 *   regbuf nvme list
 *   regbuf nvme identify --device BDF [--nsid N]
 *   regbuf nvme read     --device BDF --lba L [--blocks N] [--nsid N] [--out FILE]
 *   regbuf nvme write    --device BDF --lba L [--blocks N] [--nsid N] (--in FILE | --fill BYTE)
 *   regbuf nvme bench    --device BDF [--size BYTES] [--qd N] [--seconds S] [--write]
 *                        [--path premapped|classic|both]
 *
 * --unsafe permits physical mode (uio_pci_generic, no IOMMU).  The device is
 * taken from $REGBUF_NVME_DEVICE when --device is absent.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <regbuf/nvme.h>

#include "baseline.h"
#include "cli.h"

struct nvme_args {
	const char *dev;
	const char *in, *out, *path;
	uint32_t nsid, qd, seconds;
	uint64_t lba, blocks, size;
	int fill;
	int write, unsafe;
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t cpu_ns(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ((uint64_t)ru.ru_utime.tv_sec + (uint64_t)ru.ru_stime.tv_sec) * 1000000000u +
	       ((uint64_t)ru.ru_utime.tv_usec + (uint64_t)ru.ru_stime.tv_usec) * 1000u;
}

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
		     struct regbuf_nvme_ns_info *ns)
{
	struct regbuf_nvme_opts o = { 0 };
	char why[256] = "";
	int ret;

	if (!a->dev) {
		cli_err(cmd, "--device BDF is required (see 'regbuf nvme list')");
		return -EINVAL;
	}
	o.why = why;
	o.why_len = sizeof(why);
	o.flags = a->unsafe ? REGBUF_NVME_F_ALLOW_UNSAFE : 0;
	o.io_queues = 4;
	ret = regbuf_nvme_ctrl_create(cp, a->dev, &o);
	if (ret) {
		cli_err(cmd, "%s: %s (%s)", a->dev, strerror(-ret), why);
		return ret;
	}
	if (ns) {
		ret = regbuf_nvme_ns_identify(*cp, a->nsid, ns);
		if (ret) {
			cli_err(cmd, "namespace %u: %s", a->nsid, strerror(-ret));
			regbuf_nvme_ctrl_destroy(*cp);
		}
	}
	return ret;
}

static int nvme_identify(const struct nvme_args *a)
{
	const struct regbuf_nvme_ctrl_info *ci;
	struct regbuf_nvme_ctrl *c;
	struct regbuf_nvme_ns_info ns;
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
	if (!regbuf_nvme_ns_identify(c, a->nsid, &ns))
		printf("ns %-8u %llu blocks x %u B = %.1f MiB (LBA format %u of %u)\n", ns.nsid,
		       (unsigned long long)ns.nsze, ns.lba_size,
		       (double)ns.nsze * ns.lba_size / (1 << 20), ns.flbas, ns.nlbaf);
	regbuf_nvme_ctrl_destroy(c);
	return 0;
}

/* I/O memory: hugetlb when there is some (required in physical mode), else 4 KiB pages. */
static void *io_alloc(size_t len, size_t *maplen)
{
	size_t l2 = (len + (2u << 20) - 1) & ~(size_t)((2u << 20) - 1);
	void *p = mmap(NULL, l2, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB | MAP_POPULATE, -1, 0);

	if (p != MAP_FAILED) {
		*maplen = l2;
		return p;
	}
	*maplen = (len + 4095) & ~(size_t)4095;
	p = mmap(NULL, *maplen, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE,
		 -1, 0);
	return p == MAP_FAILED ? NULL : p;
}

static int nvme_rw(const struct nvme_args *a, int write)
{
	const char *cmd = write ? "nvme write" : "nvme read";
	struct regbuf_nvme_ns_info ns;
	struct regbuf_nvme_ctrl *c;
	struct regbuf_nvme_qpair *q = NULL;
	struct regbuf_nvme_buf *b = NULL;
	struct regbuf_nvme_cpl cpl;
	size_t len, maplen;
	uint8_t *p;
	int ret, rc = 1;

	if (open_ctrl(cmd, a, &c, &ns))
		return 1;
	len = (size_t)(a->blocks ? a->blocks : 1) * ns.lba_size;
	p = io_alloc(len, &maplen);
	if (!p) {
		cli_err(cmd, "no memory for %zu bytes", len);
		goto out_ctrl;
	}
	if (write) {
		if (a->in) {
			int fd = open(a->in, O_RDONLY);
			ssize_t n = fd >= 0 ? read(fd, p, len) : -1;

			if (fd >= 0)
				close(fd);
			if (n < 0) {
				cli_err(cmd, "%s: %s", a->in, strerror(errno));
				goto out_mem;
			}
			memset(p + n, 0, len - (size_t)n);
		} else if (a->fill >= 0) {
			memset(p, a->fill, len);
		} else {
			cli_err(cmd, "--in FILE or --fill BYTE is required");
			goto out_mem;
		}
	}
	ret = regbuf_nvme_buf_create(&b, c, p, len, 0);
	if (!ret)
		ret = regbuf_nvme_qpair_create(&q, c, 0, 0);
	if (!ret)
		ret = regbuf_nvme_io(q, write ? REGBUF_NVME_OP_WRITE : REGBUF_NVME_OP_READ, a->nsid,
				     b, 0, len, a->lba, &cpl, 0);
	if (ret) {
		cli_err(cmd, "%s (NVMe status 0x%03x %s, SCT %u SC 0x%02x%s)", strerror(-ret),
			cpl.status, regbuf_nvme_status_str(cpl.status),
			regbuf_nvme_status_sct(cpl.status), regbuf_nvme_status_sc(cpl.status),
			regbuf_nvme_status_dnr(cpl.status) ? " DNR" : "");
		goto out_q;
	}
	if (!write) {
		if (a->out) {
			int fd = open(a->out, O_WRONLY | O_CREAT | O_TRUNC, 0644);

			if (fd < 0 || write_all(fd, p, len)) {
				cli_err(cmd, "%s: %s", a->out, strerror(errno));
				if (fd >= 0)
					close(fd);
				goto out_q;
			}
			close(fd);
		} else {
			size_t i;

			for (i = 0; i < len; i += 16) {
				size_t j;

				printf("%08llx ", (unsigned long long)(a->lba * ns.lba_size + i));
				for (j = 0; j < 16; j++)
					printf(" %02x", p[i + j]);
				printf("\n");
			}
		}
	} else {
		printf("wrote %zu bytes at LBA %llu\n", len, (unsigned long long)a->lba);
	}
	rc = 0;
out_q:
	regbuf_nvme_qpair_destroy(q);
	regbuf_nvme_buf_destroy(b);
out_mem:
	munmap(p, maplen);
out_ctrl:
	regbuf_nvme_ctrl_destroy(c);
	return rc;
}

/* One random I/O of slot @slot: premapped, or classic when @bn is set. */
static int submit_one(struct regbuf_nvme_qpair *q, struct baseline_nvme *bn,
		      enum regbuf_nvme_op op, uint32_t nsid, uint32_t lba_size,
		      const struct regbuf_nvme_buf *b, const uint8_t *base, uint64_t off,
		      uint64_t size, uint64_t lba, uint64_t slot)
{
	void *ctx = (void *)(uintptr_t)slot;

	if (bn)
		return baseline_nvme_submit(bn, op, nsid, lba_size, b, base, off, size, lba, ctx,
					    0);
	if (op == REGBUF_NVME_OP_WRITE)
		return regbuf_nvme_submit_write(q, nsid, b, off, size, lba, ctx, 0);
	return regbuf_nvme_submit_read(q, nsid, b, off, size, lba, ctx, 0);
}

/*
 * One pass: keep @qd I/Os of @size in flight for @seconds on one buffer
 * mapped once.  premapped: descriptors from the buffer's cookie, O(1).
 * classic: the per-I/O chain a driver without premapping runs (translate
 * each page, scatterlist, PRP list or SGL segment from a pool; tools/baseline),
 * submitted as raw commands on the same memory and queue, so only the
 * descriptor work differs.  Polled: CPU per I/O
 * includes the polling, so it is the whole cost seen by one core.
 */
static int bench_pass(struct regbuf_nvme_ctrl *c, const struct regbuf_nvme_ns_info *ns,
		      const struct nvme_args *a, int classic)
{
	uint64_t size = a->size, slots = a->qd, blocks = ns->nsze - size / ns->lba_size;
	uint64_t max = regbuf_nvme_ctrl_info(c)->max_cmd_bytes;
	/* the classic chain issues a split request's pieces as separate commands */
	uint64_t depth = slots * (classic ? (size + max - 1) / max : 1) + 1;
	enum regbuf_nvme_op op = a->write ? REGBUF_NVME_OP_WRITE : REGBUF_NVME_OP_READ;
	struct baseline_nvme *bn = NULL;
	struct regbuf_nvme_buf *b = NULL;
	struct regbuf_nvme_cpl cpl[64];
	struct regbuf_nvme_qpair *q;
	uint64_t t0, c0, done = 0, end, rnd = 0x9e3779b97f4a7c15ull, i;
	struct regbuf_nvme_stats st;
	size_t maplen;
	uint8_t *p;
	int ret;

	p = io_alloc(size * slots, &maplen);
	if (!p)
		return -ENOMEM;
	if (depth > regbuf_nvme_ctrl_info(c)->mqes) {
		ret = -EINVAL;
		goto out_mem;
	}
	ret = regbuf_nvme_qpair_create(&q, c, (uint32_t)depth, 0);
	if (ret)
		goto out_mem;
	ret = regbuf_nvme_buf_create(&b, c, p, size * slots, 0);
	if (ret)
		goto out_q;
	if (classic) {
		ret = baseline_nvme_create(&bn, c, q, (uint32_t)depth - 1);
		if (ret)
			goto out_buf;
	}
	t0 = now_ns();
	c0 = cpu_ns();
	end = t0 + (uint64_t)a->seconds * 1000000000u;
	for (i = 0; i < slots && !ret; i++) {
		rnd = rnd * 6364136223846793005ull + 1442695040888963407ull;
		ret = submit_one(q, bn, op, a->nsid, ns->lba_size, b, p, i * size, size,
				 (rnd >> 16) % blocks, i);
	}
	while (!ret && regbuf_nvme_qpair_inflight(q)) {
		int n = bn ? baseline_nvme_reap(bn, cpl, 64) : regbuf_nvme_reap(q, cpl, 64), k;

		for (k = 0; k < n && !ret; k++) {
			uintptr_t s = (uintptr_t)cpl[k].ctx;

			if (cpl[k].status) {
				ret = regbuf_nvme_status_errno(cpl[k].status);
				break;
			}
			done++;
			if (now_ns() >= end)
				continue;
			rnd = rnd * 6364136223846793005ull + 1442695040888963407ull;
			ret = submit_one(q, bn, op, a->nsid, ns->lba_size, b, p, s * size, size,
					 (rnd >> 16) % blocks, s);
		}
	}
	if (!ret) {
		double secs = (now_ns() - t0) / 1e9, cpu = (double)(cpu_ns() - c0);

		regbuf_nvme_qpair_stats(q, &st);
		printf("%-10s %8.0f IOPS  %8.1f MiB/s  %8.0f ns CPU per I/O  (%llu I/Os, %u B, "
		       "QD %u, %.1f s; %llu PRP / %llu SGL commands)\n",
		       classic ? "classic" : "premapped", done / secs,
		       done * (double)size / secs / (1 << 20), cpu / (double)(done ? done : 1),
		       (unsigned long long)done, (unsigned int)size, a->qd, secs,
		       (unsigned long long)st.prp, (unsigned long long)st.sgl);
	}
	baseline_nvme_destroy(bn);
out_buf:
	regbuf_nvme_buf_destroy(b);
out_q:
	regbuf_nvme_qpair_destroy(q);
out_mem:
	munmap(p, maplen);
	return ret;
}

static int nvme_bench(const struct nvme_args *a)
{
	struct regbuf_nvme_ns_info ns;
	struct regbuf_nvme_ctrl *c;
	int ret = 0, rc = 0;

	if (open_ctrl("nvme bench", a, &c, &ns))
		return 1;
	if (!a->size || a->size % ns.lba_size || !a->qd || a->qd > 1024) {
		cli_err("nvme bench", "--size must be a multiple of %u, --qd 1..1024", ns.lba_size);
		regbuf_nvme_ctrl_destroy(c);
		return 2;
	}
	printf("# %s %s, %s, %llu-byte I/Os, QD %u, %u s per pass\n", a->dev,
	       regbuf_nvme_ctrl_info(c)->mn, a->write ? "random writes" : "random reads",
	       (unsigned long long)a->size, a->qd, a->seconds);
	if (strcmp(a->path, "classic"))
		ret = bench_pass(c, &ns, a, 0);
	if (!ret && strcmp(a->path, "premapped"))
		ret = bench_pass(c, &ns, a, 1);
	if (ret) {
		cli_err("nvme bench", "%s", strerror(-ret));
		rc = 1;
	}
	regbuf_nvme_ctrl_destroy(c);
	return rc;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: regbuf nvme list\n"
		   "       regbuf nvme identify --device BDF [--nsid N]\n"
		   "       regbuf nvme read  --device BDF --lba L [--blocks N] [--out FILE]\n"
		   "       regbuf nvme write --device BDF --lba L [--blocks N] (--in FILE | --fill B)\n"
		   "       regbuf nvme bench --device BDF [--size BYTES] [--qd N] [--seconds S]\n"
		   "                         [--write] [--path premapped|classic|both]\n"
		   "options: --unsafe allows physical mode (uio_pci_generic, no IOMMU)\n");
}

int cmd_nvme(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "device", required_argument, NULL, 'd' },
		{ "nsid", required_argument, NULL, 'n' },
		{ "lba", required_argument, NULL, 'l' },
		{ "blocks", required_argument, NULL, 'b' },
		{ "in", required_argument, NULL, 'i' },
		{ "out", required_argument, NULL, 'o' },
		{ "fill", required_argument, NULL, 'f' },
		{ "size", required_argument, NULL, 's' },
		{ "qd", required_argument, NULL, 'q' },
		{ "seconds", required_argument, NULL, 't' },
		{ "write", no_argument, NULL, 'w' },
		{ "path", required_argument, NULL, 'p' },
		{ "unsafe", no_argument, NULL, 'u' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct nvme_args a = { .nsid = 1, .qd = 32, .seconds = 3, .size = 4096, .fill = -1,
			       .path = "both" };
	const char *sub;
	int o;

	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	sub = argv[1];
	a.dev = getenv("REGBUF_NVME_DEVICE");
	optind = 2;
	while ((o = getopt_long(argc, argv, "d:n:l:b:i:o:f:s:q:t:wp:uh", opts, NULL)) != -1) {
		switch (o) {
		case 'd': a.dev = optarg; break;
		case 'n': a.nsid = (uint32_t)strtoul(optarg, NULL, 0); break;
		case 'l': a.lba = strtoull(optarg, NULL, 0); break;
		case 'b': a.blocks = strtoull(optarg, NULL, 0); break;
		case 'i': a.in = optarg; break;
		case 'o': a.out = optarg; break;
		case 'f': a.fill = (int)(strtoul(optarg, NULL, 0) & 0xff); break;
		case 's': a.size = strtoull(optarg, NULL, 0); break;
		case 'q': a.qd = (uint32_t)strtoul(optarg, NULL, 0); break;
		case 't': a.seconds = (uint32_t)strtoul(optarg, NULL, 0); break;
		case 'w': a.write = 1; break;
		case 'p': a.path = optarg; break;
		case 'u': a.unsafe = 1; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (a.dev && !*a.dev)
		a.dev = NULL;
	if (!strcmp(sub, "list"))
		return nvme_list();
	if (!strcmp(sub, "identify"))
		return nvme_identify(&a);
	if (!strcmp(sub, "read"))
		return nvme_rw(&a, 0);
	if (!strcmp(sub, "write"))
		return nvme_rw(&a, 1);
	if (!strcmp(sub, "bench"))
		return nvme_bench(&a);
	usage(stderr);
	return 2;
}
