// SPDX-License-Identifier: MIT
/*
 * Device tests: run inside a QEMU guest (tests/device/guest.sh) against QEMU's
 * emulated NVMe controller.  The guest's /init passes the controller's PCI
 * address in REGBUF_NVME_DEVICE and the binding in REGBUF_NVME_MODE.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

static const char *dev_bdf(void)
{
	const char *bdf = getenv("REGBUF_NVME_DEVICE");

	return bdf && *bdf ? bdf : NULL;
}

static int guest_binding(void)
{
	const char *bdf = dev_bdf(), *mode = getenv("REGBUF_NVME_MODE");
	char path[256], link[PATH_MAX];
	ssize_t n;

	if (!bdf)
		return t_skip("REGBUF_NVME_DEVICE not set: run through tests/device/guest.sh");
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/driver", bdf);
	n = readlink(path, link, sizeof(link) - 1);
	if (n < 0)
		return T_FAILF("%s: %s", path, strerror(errno));
	link[n] = '\0';
	if (mode && !strcmp(mode, "vfio"))
		t_check(strstr(link, "/vfio-pci") != NULL);
	else if (mode && !strcmp(mode, "phys"))
		t_check(strstr(link, "/uio_pci_generic") != NULL);
	return T_PASS;
}

static const struct t_case cases[] = {
	T_CASE(guest_binding),
};

int main(int argc, char **argv)
{
	return t_main("nvme", cases, sizeof(cases) / sizeof(cases[0]), argc, argv);
}
