// SPDX-License-Identifier: MIT
/*
 * sys: NVMe passthrough on the running kernel without an NVMe device - what
 * refuses and how (the device cases run in the QEMU guest, tests/device/).
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <regbuf/uring.h>

#include "harness.h"

static int open_refuses_non_ng(void)
{
	struct regbuf_uring_nvme_ns ns;
	char tmp[] = "/tmp/regbuf-ng.XXXXXX";
	int fd;

	fd = mkstemp(tmp);
	if (fd < 0)
		return t_broken("mkstemp failed");
	close(fd);
	t_check_eq(regbuf_uring_nvme_open(&ns, tmp, 0), -ENODEV);
	t_check_eq(ns.fd, -1);
	unlink(tmp);
	t_check_eq(regbuf_uring_nvme_open(&ns, "/dev/null", 0), -ENODEV);
	t_check_eq(regbuf_uring_nvme_open(&ns, "/tmp", 0), -ENODEV);
	t_check_eq(regbuf_uring_nvme_open(&ns, "/dev/regbuf-no-such-ng0n1", 0), -ENOENT);
	t_check_eq(regbuf_uring_nvme_open(&ns, NULL, 0), -EINVAL);
	t_check_eq(regbuf_uring_nvme_open(NULL, "/dev/null", 0), -EINVAL);
	t_check_eq(regbuf_uring_nvme_open(&ns, "/dev/null", 1), -EINVAL);
	regbuf_uring_nvme_close(&ns);	/* fd -1: nothing to close */
	return T_PASS;
}

/* A block device of this machine (loop devices exist almost everywhere). */
static int open_refuses_block_device(void)
{
	static const char *const cands[] = { "/dev/loop0", "/dev/sda", "/dev/vda", "/dev/nvme0n1" };
	struct regbuf_uring_nvme_ns ns;
	struct stat st;
	size_t i;

	for (i = 0; i < sizeof(cands) / sizeof(cands[0]); i++) {
		if (stat(cands[i], &st) || !S_ISBLK(st.st_mode))
			continue;
		t_check_eq(regbuf_uring_nvme_open(&ns, cands[i], 0), -ENODEV);
		return T_PASS;
	}
	return t_skip("no block device node found (/dev/loop0, sda, vda, nvme0n1)");
}

/* The first disk under /sys/block and its max_hw_sectors_kb, read directly. */
static int first_disk(char *name, size_t len, unsigned long *kb)
{
	struct dirent *d;
	char path[300];
	DIR *dir = opendir("/sys/block");
	FILE *f;
	int ret = -1;

	if (!dir)
		return -1;
	while ((d = readdir(dir))) {
		if (d->d_name[0] == '.' || strlen(d->d_name) >= len)
			continue;
		snprintf(path, sizeof(path), "/sys/block/%s/queue/max_hw_sectors_kb", d->d_name);
		f = fopen(path, "r");
		if (!f)
			continue;
		if (fscanf(f, "%lu", kb) == 1) {
			strcpy(name, d->d_name);
			ret = 0;
		}
		fclose(f);
		if (!ret)
			break;
	}
	closedir(dir);
	return ret;
}

static int read_limits(void)
{
	struct regbuf_limits lim;
	uint64_t chunk = 1;
	unsigned long kb;
	char disk[64];

	t_check_eq(regbuf_uring_nvme_read_limits(&lim, NULL, "regbuf-no-such-disk"), -ENOENT);
	t_check_eq(regbuf_uring_nvme_read_limits(&lim, NULL, "../loop0"), -EINVAL);
	t_check_eq(regbuf_uring_nvme_read_limits(&lim, NULL, ""), -EINVAL);
	t_check_eq(regbuf_uring_nvme_read_limits(NULL, NULL, "loop0"), -EINVAL);
	if (first_disk(disk, sizeof(disk), &kb))
		return t_skip("no disk under /sys/block");
	t_ok(regbuf_uring_nvme_read_limits(&lim, &chunk, disk));
	t_check_eq(lim.max_bytes, (uint64_t)kb << 10);
	t_check_eq(regbuf_limits_validate(&lim), 0);
	t_check(chunk % 512 == 0);
	return T_PASS;
}

static int pool_nvme_rings(void)
{
	struct regbuf_uring_pool *pool;
	struct regbuf_uring_status st;
	struct iovec iov;
	uint32_t i;
	void *buf;

	buf = aligned_alloc(4096, 1 << 20);
	if (!buf)
		return t_broken("out of memory");
	memset(buf, 0, 1 << 20);
	t_ok(regbuf_uring_pool_create(&pool, 3, 8, 0, REGBUF_URING_POOL_F_NVME_CMD));
	for (i = 0; i < 3; i++) {
		struct regbuf_uring_ring *r = regbuf_uring_pool_ring(pool, i);

		t_check(r->ring.flags & IORING_SETUP_SQE128);
		t_check(r->ring.flags & IORING_SETUP_CQE32);
	}
	t_check_eq(regbuf_uring_pool_set_buf_len(pool, 1000), -EINVAL);
	t_check_eq(regbuf_uring_pool_set_buf_len(pool, (UINT64_C(1) << 30) + 4096), -EINVAL);
	t_ok(regbuf_uring_pool_set_buf_len(pool, 64 << 10));
	iov.iov_base = buf;
	iov.iov_len = 1 << 20;
	t_ok(regbuf_uring_pool_register(pool, &iov, 1, 0));
	regbuf_uring_pool_status(pool, &st);
	t_check_eq(st.state, REGBUF_URING_REG_ACTIVE);
	t_check_eq(st.nr_slots, 16);
	t_check_eq(regbuf_uring_pool_set_buf_len(pool, 1 << 20), -EBUSY);
	regbuf_uring_pool_destroy(pool);
	free(buf);
	return T_PASS;
}

/* URING_CMD on a file without ->uring_cmd: the kernel's -EOPNOTSUPP, in the CQE. */
static int cmd_on_regular_file(void)
{
	struct regbuf_uring_pool *pool;
	struct regbuf_uring_nvme_ns ns;
	struct regbuf_uring_nvme_cpl c;
	struct regbuf_uring_ring *r;
	struct io_uring_cqe *cqe;
	char tmp[] = "/tmp/regbuf-ng.XXXXXX";
	int ret;

	memset(&ns, 0, sizeof(ns));
	ns.fd = mkstemp(tmp);
	if (ns.fd < 0)
		return t_broken("mkstemp failed");
	unlink(tmp);
	t_ok(regbuf_uring_pool_create(&pool, 1, 4, 0, REGBUF_URING_POOL_F_NVME_CMD));
	r = regbuf_uring_pool_ring(pool, 0);
	t_check_eq(regbuf_uring_nvme_prep_flush(r, &ns, 3), 1);
	t_check_eq(io_uring_submit_and_wait(&r->ring, 1), 1);
	t_ok(io_uring_wait_cqe(&r->ring, &cqe));
	ret = regbuf_uring_nvme_cqe(cqe, &c);
	io_uring_cqe_seen(&r->ring, cqe);
	regbuf_uring_pool_destroy(pool);
	close(ns.fd);
	t_check_eq(ret, -EOPNOTSUPP);
	return T_PASS;
}

/* Any NVMe namespace this machine has (none on the CI host): opened and sane. */
static int open_present_namespace(void)
{
	struct regbuf_uring_nvme_ns ns;
	struct dirent *d;
	char path[300];
	DIR *dir = opendir("/dev");
	int ret = -ENOENT;

	if (!dir)
		return t_broken("cannot list /dev");
	while ((d = readdir(dir))) {
		if (strncmp(d->d_name, "ng", 2) || !strchr(d->d_name + 2, 'n') ||
		    strlen(d->d_name) > 32)
			continue;
		snprintf(path, sizeof(path), "/dev/%s", d->d_name);
		ret = regbuf_uring_nvme_open(&ns, path, 0);
		break;
	}
	closedir(dir);
	if (ret == -ENOENT)
		return t_skip("no /dev/ngXnY on this machine (the QEMU guest covers NVMe)");
	if (ret == -EACCES || ret == -EPERM)
		return t_skip("%s: passthrough needs privileges here (%d)", path, ret);
	t_ok(ret);
	t_check(ns.nsid > 0);
	t_check(ns.lba_shift >= 9);
	t_check(ns.nr_lbas > 0);
	regbuf_uring_nvme_close(&ns);
	return T_PASS;
}

int main(int argc, char **argv)
{
	static const struct t_case cases[] = {
		T_CASE(open_refuses_non_ng),
		T_CASE(open_refuses_block_device),
		T_CASE(read_limits),
		T_CASE(pool_nvme_rings),
		T_CASE(cmd_on_regular_file),
		T_CASE(open_present_namespace),
	};

	return t_main("uring_cmd", cases, sizeof(cases) / sizeof(cases[0]), argc, argv);
}
