// SPDX-License-Identifier: MIT
/*
 * NVMe controllers from the command line: the checks and the bring-up that
 * 'regbuf nvme' and 'regbuf bench nvme' share (cli.h).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#include <regbuf/nvme.h>

#include "cli.h"

/* DDDD:BB:DD.F in hex: anything else never reaches a sysfs path. */
static bool bdf_valid(const char *s)
{
	static const char shape[] = "xxxx:xx:xx.x";
	size_t i;

	if (strlen(s) != sizeof(shape) - 1)
		return false;
	for (i = 0; shape[i]; i++) {
		bool hex = (s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f') ||
			   (s[i] >= 'A' && s[i] <= 'F');

		if (shape[i] == 'x' ? !hex : s[i] != shape[i])
			return false;
	}
	return s[11] <= '7';	/* function 0..7 */
}

int cli_nvme_check_device(const char *dev, char *err, size_t len)
{
	if (!dev)
		return snprintf(err, len, "--device BDF is required (see 'regbuf nvme list')"), 2;
	if (!bdf_valid(dev))
		return snprintf(err, len, "--device: '%s' is not a PCI address (DDDD:BB:DD.F, "
				"e.g. 0000:01:00.0)", dev), 2;
	return 0;
}

int cli_nvme_open(const char *cmd, const char *dev, uint32_t nsid, bool unsafe,
		  struct regbuf_nvme_ctrl **cp, struct regbuf_nvme_ns **ns)
{
	struct regbuf_nvme_opts o = { 0 };
	char why[256] = "";
	int ret;

	o.why = why;
	o.why_len = sizeof(why);
	o.flags = unsafe ? REGBUF_NVME_F_ALLOW_UNSAFE : 0;
	o.io_queues = 4;
	ret = regbuf_nvme_ctrl_create(cp, dev, &o);
	if (ret == -EPERM && !unsafe && strstr(why, "REGBUF_NVME_F_ALLOW_UNSAFE")) {
		/* The library names its flag; the CLI user needs the option. */
		cli_err(cmd, "%s: %s (physical mode lets the device write anywhere in RAM (no "
			"IOMMU); pass --unsafe to accept that)", dev, strerror(-ret));
		return ret;
	}
	if (ret) {
		cli_err(cmd, "%s: %s (%s)", dev, strerror(-ret), why);
		return ret;
	}
	if (ns) {
		ret = regbuf_nvme_ns_get(ns, *cp, nsid);
		if (ret) {
			cli_err(cmd, "namespace %u: %s", nsid, strerror(-ret));
			regbuf_nvme_ctrl_destroy(*cp);
		}
	}
	return ret;
}

void *cli_io_alloc(size_t len, size_t *maplen)
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
