// SPDX-License-Identifier: MIT
/*
 * uring: RLIMIT_MEMLOCK preflight.  Predicts what io_buffer_account_pin()
 * will charge and what io_account_mem() will refuse, so that a registration
 * fails with numbers and a fix instead of a bare -ENOMEM (the ecosystem's most
 * common complaint: liburing#365, glommio#305, sirius-db#800).
 */
#include <errno.h>
#include <inttypes.h>
#include <linux/capability.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "sys/compat.h"
#include "sys/pagemap.h"
#include "uring/uring.h"

#define PG		UINT64_C(4096)
#define THP_SIZE	(UINT64_C(2) << 20)

bool uring_memlock_charged(void)
{
	struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct data[2];

	/* Kernel io_ring_ctx_alloc()/io_uring_create(): ctx->user is only set
	 * when !capable(CAP_IPC_LOCK); without ctx->user nothing is accounted. */
	memset(data, 0, sizeof(data));
	if (syscall(SYS_capget, &hdr, data) < 0)
		return true;
	return !(data[CAP_IPC_LOCK / 32].effective & (1U << (CAP_IPC_LOCK % 32)));
}

static uint64_t vm_pinned_bytes(void)
{
	char line[256];
	unsigned long long kb;
	uint64_t ret = 0;
	FILE *f = fopen("/proc/self/status", "re");

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmPin: %llu kB", &kb) == 1)
			ret = kb * 1024;
	fclose(f);
	return ret;
}

struct acct {
	uint64_t bytes;
	uint64_t last_hpage;	/* kernel: *last_hpage, shared across the call */
	bool huge;
};

/* A compound page: charged whole, unless it is the one charged just before. */
static void charge_huge(struct acct *ac, uint64_t head, uint64_t size)
{
	if (ac->last_hpage == head)
		return;
	ac->last_hpage = head;
	ac->bytes += size;
	ac->huge = true;
}

static void charge_huge_range(struct acct *ac, uint64_t a, uint64_t b, uint64_t ps)
{
	uint64_t hp;

	for (hp = a & ~(ps - 1); hp < b; hp += ps)
		charge_huge(ac, hp, ps);
}

struct small_ctx {
	struct acct *ac;
	uint64_t cur;		/* charged up to here */
};

static int charge_region(void *arg, uint64_t start, uint64_t end, uint64_t categories)
{
	struct small_ctx *c = arg;

	if (categories & PAGE_IS_HUGE)
		charge_huge_range(c->ac, start, end, THP_SIZE);
	else
		c->ac->bytes += end - start;	/* walked, not huge: small pages */
	c->cur = end;
	return 0;
}

/*
 * Non-hugetlb memory: PMD-mapped THPs (PAGEMAP_SCAN PAGE_IS_HUGE) and small
 * pages.  @thp: the VMA has THP-backed memory (smaps AnonHugePages).
 */
static void charge_small(struct acct *ac, int pm_fd, uint64_t a, uint64_t b, bool thp)
{
	struct small_ctx c = { ac, a };
	int ret = -EBADF;

	if (pm_fd >= 0)
		ret = sys_pagemap_scan(pm_fd, a, b, PAGE_IS_HUGE, PAGE_IS_HUGE, charge_region, &c);
	/*
	 * No pagemap (non-dumpable task), or no PAGEMAP_SCAN (before 6.7 the
	 * ioctl is -ENOTTY) while the kernel still charges a THP whole (6.1
	 * io_buffer_account_pin(): PageCompound -> page_size(head)): assume
	 * THP throughout a VMA that has any; over-charging is safe,
	 * under-charging is not.
	 */
	if (ret && c.cur == a && thp) {
		charge_huge_range(ac, a, b, THP_SIZE);
		return;
	}
	/* A scan failed part way leaves the rest to be charged as small pages. */
	if (c.cur < b)
		ac->bytes += b - c.cur;
}

int regbuf_uring_memlock_estimate(struct regbuf_uring_memlock *ml, const struct iovec *iov,
				  uint32_t nr, uint32_t charges)
{
	struct acct ac = { 0, 0, false };
	struct sys_vma *v = NULL;
	size_t nv = 0, j;
	uint64_t a, b, s, e;
	uint32_t i;
	int ret, pm_fd;

	if (!ml || (!iov && nr))
		return -EINVAL;
	memset(ml, 0, sizeof(*ml));
	ret = sys_smaps_read(&v, &nv);
	if (ret)
		return ret;
	pm_fd = sys_pagemap_open();
	for (i = 0; i < nr; i++) {
		if (!iov[i].iov_len)
			continue;
		/* io_pin_pages(): the whole containing pages are pinned. */
		a = (uint64_t)(uintptr_t)iov[i].iov_base & ~(PG - 1);
		b = ((uint64_t)(uintptr_t)iov[i].iov_base + iov[i].iov_len + PG - 1) & ~(PG - 1);
		s = a;
		for (j = 0; j < nv && s < b; j++) {
			if (v[j].end <= s || v[j].start >= b)
				continue;
			if (v[j].start > s) {
				ac.bytes += v[j].start - s;	/* unmapped: the pin fails anyway */
				s = v[j].start;
			}
			e = v[j].end < b ? v[j].end : b;
			if (v[j].page_size > PG)
				charge_huge_range(&ac, s, e, v[j].page_size);
			else
				charge_small(&ac, pm_fd, s, e, v[j].anon_huge != 0);
			s = e;
		}
		if (s < b)
			ac.bytes += b - s;
	}
	if (pm_fd >= 0)
		close(pm_fd);
	free(v);

	uring_memlock_limits(ml);
	ml->needed = ac.bytes * (charges ? charges : 1);
	ml->charges = charges ? charges : 1;
	ml->huge = ac.huge;
	return 0;
}

void uring_memlock_limits(struct regbuf_uring_memlock *ml)
{
	struct rlimit rl;

	getrlimit(RLIMIT_MEMLOCK, &rl);
	ml->pinned = vm_pinned_bytes();
	ml->soft = rl.rlim_cur == RLIM_INFINITY ? UINT64_MAX : rl.rlim_cur;
	ml->hard = rl.rlim_max == RLIM_INFINITY ? UINT64_MAX : rl.rlim_max;
	ml->charged = uring_memlock_charged();
}

bool regbuf_uring_memlock_fits(const struct regbuf_uring_memlock *ml)
{
	uint64_t limit_pages;

	if (!ml->charged || ml->soft == UINT64_MAX)
		return true;
	/* Kernel __io_account_mem(): new = cur + nr_pages; new > limit -> -ENOMEM,
	 * with limit = rlimit(RLIMIT_MEMLOCK) >> PAGE_SHIFT. */
	limit_pages = ml->soft / PG;
	return (ml->pinned + ml->rings + ml->needed) / PG <= limit_pages;
}

static void human(char *buf, size_t len, uint64_t v)
{
	if (v == UINT64_MAX)
		snprintf(buf, len, "unlimited");
	else if (v >= (UINT64_C(1) << 30) && !(v % (UINT64_C(1) << 20)))
		snprintf(buf, len, "%" PRIu64 " bytes (%.2f GiB)", v, (double)v / (1 << 30));
	else
		snprintf(buf, len, "%" PRIu64 " bytes (%.1f MiB)", v, (double)v / (1 << 20));
}

int regbuf_uring_memlock_explain(const struct regbuf_uring_memlock *ml, char *buf, size_t len)
{
	char need[64], pin[64], rings[64], soft[64], hard[64], what[256];
	uint64_t want_kib;

	human(need, sizeof(need), ml->needed);
	human(pin, sizeof(pin), ml->pinned);
	human(rings, sizeof(rings), ml->rings);
	human(soft, sizeof(soft), ml->soft);
	human(hard, sizeof(hard), ml->hard);
	if (ml->new_rings)
		snprintf(what, sizeof(what), "creating %u ring%s needs %s of locked memory (each "
			 "ring's SQ/CQ and SQE array, charged since Linux 6.14)", ml->new_rings,
			 ml->new_rings == 1 ? "" : "s", need);
	else
		snprintf(what, sizeof(what), "registration needs %s of locked memory%s", need,
			 ml->huge ? " (huge pages are charged whole)" : "");
	if (!ml->charged)
		return snprintf(buf, len, "memlock: not charged (CAP_IPC_LOCK): %s", what);
	want_kib = (ml->pinned + ml->rings + ml->needed + 1023) / 1024;
	return snprintf(buf, len,
			"memlock: %s (%u ring%s charged%s; "
			"%s already pinned by this process, %s by its rings) but RLIMIT_MEMLOCK is soft %s, "
			"hard %s. Fix: 'ulimit -l %" PRIu64 "' (KiB; above the hard limit needs "
			"root), '<user> - memlock %" PRIu64 "' in /etc/security/limits.conf, "
			"LimitMEMLOCK=%" PRIu64 " in the systemd unit, or CAP_IPC_LOCK",
			what, ml->charges, ml->charges == 1 ? "" : "s",
			ml->charges > 1 && !ml->new_rings ?
			": no kernel clone, each ring registers again" : "",
			pin, rings, soft, hard, want_kib, want_kib, want_kib * 1024);
}

/* Kernel version as major * 1000 + minor. */
static int kernel_version(void)
{
	static int ver = -1;
	struct utsname u;
	int maj = 0, min = 0;

	if (ver < 0) {
		if (!uname(&u))
			sscanf(u.release, "%d.%d", &maj, &min);
		ver = maj * 1000 + min;
	}
	return ver;
}

/*
 * io_allocate_scq_urings(): the SQ/CQ rings (struct io_rings, 64 bytes on
 * x86-64 since 6.14, then the CQEs, cache-line aligned, then the SQ index
 * array) and the SQE array are two regions made by io_create_region(), which
 * charges ctx->user for whole pages (not mm->pinned_vm: VmPin does not show
 * it).  Before the region API took over the rings (Linux 6.14) ring memory
 * was not charged.  tests/sys checks this against the kernel's own ring
 * offsets and RLIMIT_MEMLOCK refusals.
 */
static uint64_t ring_charge(uint64_t sq_entries, uint64_t cq_entries, uint32_t setup_flags)
{
	uint64_t rings, sqes;

	if (kernel_version() < 6014)
		return 0;
	rings = 64 + cq_entries * ((setup_flags & IORING_SETUP_CQE32) ? 32 : 16);
	rings = (rings + 63) & ~UINT64_C(63);
	rings += sq_entries * 4;
	sqes = sq_entries * ((setup_flags & IORING_SETUP_SQE128) ? 128 : 64);
	return ((rings + PG - 1) & ~(PG - 1)) + ((sqes + PG - 1) & ~(PG - 1));
}

uint64_t uring_ring_charge(const struct io_uring *ring)
{
	return ring_charge(*ring->sq.kring_entries, *ring->cq.kring_entries, ring->flags);
}

uint64_t regbuf_uring_ring_memlock(uint32_t entries, uint32_t setup_flags)
{
	uint64_t sq = 1;

	/* io_uring_create(): entries rounded up to a power of two, twice as many CQEs. */
	while (sq < entries)
		sq <<= 1;
	return ring_charge(sq, 2 * sq, setup_flags);
}
