// SPDX-License-Identifier: MIT
/*
 * nvme layer, host side without a device: status decoding and errno mapping
 * (QEMU 7.2 values as the oracle, nvme-userspace.md §5), the IOVA allocator,
 * and the refusals of regbuf_nvme_ctrl_create().  The device itself is
 * exercised in the QEMU guest (tests/device/nvme.c).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <regbuf/nvme.h>

#include "harness.h"
#include "nvme/nvme_priv.h"

/* Raw statuses as QEMU 7.2 posts them (SCT << 8 | SC, DNR = bit 14). */
static int status_decode(void)
{
	static const struct {
		uint16_t status;
		unsigned int sct, sc, dnr;
		int err;
		const char *name;
	} t[] = {
		{ 0x0000, 0, 0x00, 0, 0, "SUCCESS" },
		{ 0x4002, 0, 0x02, 1, -EINVAL, "INVALID_FIELD" },	/* MDTS exceeded */
		{ 0x4080, 0, 0x80, 1, -ERANGE, "LBA_OUT_OF_RANGE" },
		{ 0x4013, 0, 0x13, 1, -EINVAL, "INVALID_PRP_OFFSET" },
		{ 0x400f, 0, 0x0f, 1, -EINVAL, "DATA_SGL_LENGTH_INVALID" },
		{ 0x400d, 0, 0x0d, 1, -EINVAL, "INVALID_SGL_SEGMENT_DESCRIPTOR" },
		{ 0x4011, 0, 0x11, 1, -EINVAL, "SGL_DESCRIPTOR_TYPE_INVALID" },
		{ 0x4004, 0, 0x04, 1, -EIO, "DATA_TRANSFER_ERROR" },
		{ 0x400b, 0, 0x0b, 1, -ENODEV, "INVALID_NAMESPACE" },
		{ 0x0281, 2, 0x81, 0, -EIO, "UNRECOVERED_READ" },
		{ 0x0280, 2, 0x80, 0, -EIO, "WRITE_FAULT" },
		{ 0x4101, 1, 0x01, 1, -EIO, "INVALID_QID" },
		{ 0x4102, 1, 0x02, 1, -EIO, "MAX_QSIZE_EXCEEDED" },
		{ 0x0182, 1, 0x82, 0, -EROFS, "UNKNOWN" },
		{ 0x0081, 0, 0x81, 0, -ENOSPC, "CAPACITY_EXCEEDED" },
		{ 0x07ff, 7, 0xff, 0, -EIO, "UNKNOWN" },
		{ REGBUF_NVME_STATUS_TIMEOUT, 0, 0, 0, -ETIMEDOUT, "TIMEOUT" },
		{ REGBUF_NVME_STATUS_ABORTED, 0, 0, 0, -ENXIO, "ABORTED" },
	};
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		if (t[i].status < 0x8000) {
			t_check_eq(regbuf_nvme_status_sct(t[i].status), t[i].sct);
			t_check_eq(regbuf_nvme_status_sc(t[i].status), t[i].sc);
			t_check_eq(regbuf_nvme_status_dnr(t[i].status), t[i].dnr);
		}
		if (regbuf_nvme_status_errno(t[i].status) != t[i].err)
			return T_FAILF("status 0x%04x -> %d, expected %d", t[i].status,
				       regbuf_nvme_status_errno(t[i].status), t[i].err);
		if (strcmp(regbuf_nvme_status_str(t[i].status), t[i].name))
			return T_FAILF("status 0x%04x named %s, expected %s", t[i].status,
				       regbuf_nvme_status_str(t[i].status), t[i].name);
	}
	return T_PASS;
}

/* First fit with alignment inside the IOMMU's ranges; frees merge back. */
static int iova_alloc(void)
{
	struct regbuf_nvme_ctrl c;
	uint64_t a, b, d, e;

	memset(&c, 0, sizeof(c));
	/* two windows, as VT-d reports them around the MSI window */
	t_ok(nvme_iova_add_range(&c, 0x10000, 0xfedfffff));
	t_ok(nvme_iova_add_range(&c, 0xfef00000, (UINT64_C(1) << 39) - 1));
	t_ok(nvme_iova_alloc(&c, 4096, 4096, &a));
	t_check_eq(a, 0x10000);
	t_ok(nvme_iova_alloc(&c, 2u << 20, 2u << 20, &b));
	t_check_eq(b, 0x200000);		/* aligned up; [0x11000, 0x200000) stays free */
	t_ok(nvme_iova_alloc(&c, 8192, 4096, &d));
	t_check_eq(d, 0x11000);			/* the gap left by the alignment is reused */
	/* larger than the first window: lands in the second */
	t_ok(nvme_iova_alloc(&c, UINT64_C(0x100000000), 2u << 20, &e));
	t_check(e >= 0xfef00000);
	t_check_eq(e & ((2u << 20) - 1), 0);
	/* nothing ever straddles the hole */
	t_check(!(e < 0xfee00000 && e + 0x100000000 > 0xfee00000));
	nvme_iova_free(&c, a, 4096);
	nvme_iova_free(&c, d, 8192);
	nvme_iova_free(&c, b, 2u << 20);
	nvme_iova_free(&c, e, UINT64_C(0x100000000));
	/* everything merged back into the two windows */
	t_check_eq(c.nr_free_iova, 2);
	t_ok(nvme_iova_alloc(&c, 0xfedfffff - 0x10000 + 1, 4096, &a));
	t_check_eq(a, 0x10000);
	/* exhaustion is -ENOSPC */
	t_check_eq(nvme_iova_alloc(&c, UINT64_C(1) << 40, 4096, &a), -ENOSPC);
	free(c.free_iova);
	return T_PASS;
}

/* Random alloc/free sequences never hand out overlapping ranges. */
static int iova_random(void)
{
	struct regbuf_nvme_ctrl c;
	uint64_t at[64], len[64];
	unsigned int i, j, k;

	memset(&c, 0, sizeof(c));
	memset(at, 0, sizeof(at));
	t_ok(nvme_iova_add_range(&c, 0x10000, (UINT64_C(1) << 32) - 1));
	for (k = 0; k < 20000; k++) {
		i = (unsigned int)(t_rand() % 64);
		if (at[i]) {
			nvme_iova_free(&c, at[i], len[i]);
			at[i] = 0;
			continue;
		}
		len[i] = (1 + t_rand() % 1024) << 12;
		if (nvme_iova_alloc(&c, len[i], (t_rand() & 1) ? 4096 : 2u << 20, &at[i]))
			return T_FAILF("alloc %llu failed at step %u",
				       (unsigned long long)len[i], k);
		for (j = 0; j < 64; j++)
			if (j != i && at[j] && at[i] < at[j] + len[j] && at[j] < at[i] + len[i])
				return T_FAILF("overlap at step %u", k);
	}
	free(c.free_iova);
	return T_PASS;
}

static int ctrl_create_refuses(void)
{
	struct regbuf_nvme_opts o = { 0 };
	struct regbuf_nvme_ctrl *c = NULL;
	char why[256];

	o.why = why;
	o.why_len = sizeof(why);
	t_check_eq(regbuf_nvme_ctrl_create(NULL, "0000:00:00.0", &o), -EINVAL);
	t_check_eq(regbuf_nvme_ctrl_create(&c, NULL, &o), -EINVAL);
	o.flags = 1u << 31;
	t_check_eq(regbuf_nvme_ctrl_create(&c, "0000:00:00.0", &o), -EINVAL);
	o.flags = 0;
	o.admin_depth = 1;	/* AQA sizes are 0-based: at least 2 entries */
	t_check_eq(regbuf_nvme_ctrl_create(&c, "0000:00:00.0", &o), -EINVAL);
	o.admin_depth = 0;
	/* no such function */
	t_check_eq(regbuf_nvme_ctrl_create(&c, "0000:ff:1f.7", &o), -ENODEV);
	t_check(strstr(why, "0000:ff:1f.7") != NULL);
	/* physical mode is refused unless the caller accepts that it is unsafe */
	o.mode = REGBUF_NVME_MODE_PHYS;
	t_check_eq(regbuf_nvme_ctrl_create(&c, "ff:1f.7", &o), -EPERM);
	t_check(strstr(why, "REGBUF_NVME_F_ALLOW_UNSAFE") != NULL);
	o.flags = REGBUF_NVME_F_ALLOW_UNSAFE;
	t_check_eq(regbuf_nvme_ctrl_create(&c, "ff:1f.7", &o), -ENODEV);
	t_check(strstr(why, "uio_pci_generic") != NULL);
	t_check(c == NULL);
	return T_PASS;
}

static const struct t_case cases[] = {
	T_CASE(status_decode),
	T_CASE(iova_alloc),
	T_CASE(iova_random),
	T_CASE(ctrl_create_refuses),
};

int main(int argc, char **argv)
{
	return t_main("nvme", cases, sizeof(cases) / sizeof(cases[0]), argc, argv);
}
