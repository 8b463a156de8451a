// SPDX-License-Identifier: MIT
/*
 * uring: RLIMIT_MEMLOCK preflight.  Predicts what io_buffer_account_pin()
 * will charge and what io_account_mem() will refuse, so that a registration
 * fails with numbers and a fix instead of a bare -ENOMEM (the ecosystem's most
 * common complaint: liburing#365, glommio#305, sirius-db#800).
 */
#include <errno.h>
#include <fcntl.h>
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
#include "sys/sys.h"
#include "uring/uring.h"

#define PG		UINT64_C(4096)

static int kernel_version(void);
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

/* VmPin of /proc/self/status (in its first lines), read without allocating. */
static uint64_t vm_pinned_bytes(void)
{
	char buf[4096], *p;

	if (sys_read_small("/proc/self/status", buf, sizeof(buf)))
		return 0;
	p = strstr(buf, "\nVmPin:");
	return p ? strtoull(p + 7, NULL, 10) * 1024 : 0;
}

/*
 * Whole 2 MiB blocks of non-hugetlb memory charged page by page without
 * looking (charge_whole()): the kernel's last_hpage may be one of them.
 */
#define PENDING_MAX	8

struct acct {
	uint64_t bytes;
	uint64_t last_hpage;	/* kernel: *last_hpage, shared across the call */
	uint64_t a, b;		/* the buffer being charged (its whole pages) */
	const struct iovec *iov;	/* the call's buffers, iov[0..cur) charged before */
	uint32_t cur;
	bool earlier_count;	/* before 6.13: earlier buffers' compound pages count */
	bool huge;
	int pm_fd;		/* /proc/self/pagemap once needed; -1 not yet, else -errno */
	uint32_t nr_pending;
	struct { uint64_t start, end; } pending[PENDING_MAX];
};

static int acct_pm_fd(struct acct *ac)
{
	if (ac->pm_fd == -1)
		ac->pm_fd = sys_pagemap_open();
	return ac->pm_fd;
}

struct last_huge {
	uint64_t end;		/* end of the last PMD-mapped run seen, 0: none */
};

static int note_huge(void *arg, uint64_t start, uint64_t end, uint64_t categories)
{
	struct last_huge *lh = arg;

	(void)start;
	if (categories & PAGE_IS_HUGE)
		lh->end = end;
	return 0;
}

/*
 * The kernel's last_hpage after the pending blocks: the last PMD-mapped THP
 * of the newest pending range that has one.  A scan that fails leaves
 * last_hpage as it was, which can only over-charge.
 */
static void resolve_pending(struct acct *ac)
{
	struct last_huge lh;
	int fd = acct_pm_fd(ac);

	while (ac->nr_pending) {
		ac->nr_pending--;
		lh.end = 0;
		if (fd >= 0 &&
		    !sys_pagemap_scan(fd, ac->pending[ac->nr_pending].start,
				      ac->pending[ac->nr_pending].end, PAGE_IS_HUGE, PAGE_IS_HUGE,
				      note_huge, &lh) && lh.end) {
			ac->last_hpage = lh.end - THP_SIZE;
			break;
		}
	}
	ac->nr_pending = 0;
}

static bool in_pending(const struct acct *ac, uint64_t va)
{
	uint32_t i;

	for (i = 0; i < ac->nr_pending; i++)
		if (va >= ac->pending[i].start && va < ac->pending[i].end)
			return true;
	return false;
}

/*
 * Before Linux 6.13 headpage_already_acct() also looked through every buffer
 * already in the ring's table, which io_sqe_buffers_register() filled one
 * buffer at a time: a compound page that an earlier buffer of the call holds
 * is not charged again.  Since 6.13 the call's buffers go into a table that
 * is installed at its end, and only last_hpage and the buffer's own pages
 * count.  Whether [s, e) meets one of those earlier buffers.
 */
static bool earlier_holds(const struct acct *ac, uint64_t s, uint64_t e)
{
	uint64_t a, b;
	uint32_t j;

	for (j = 0; ac->earlier_count && j < ac->cur; j++) {
		if (!ac->iov[j].iov_len)
			continue;
		a = (uint64_t)(uintptr_t)ac->iov[j].iov_base & ~(PG - 1);
		b = ((uint64_t)(uintptr_t)ac->iov[j].iov_base + ac->iov[j].iov_len + PG - 1) &
		    ~(PG - 1);
		if (a < e && s < b)
			return true;
	}
	return false;
}

/*
 * A compound page: charged whole, unless it is the one charged just before
 * (io_buffer_account_pin(): last_hpage), or (before 6.13) one an earlier
 * buffer holds.  It makes the charge larger than the registered pages when
 * the buffer covers only part of it.
 */
static void charge_huge(struct acct *ac, uint64_t head, uint64_t size)
{
	if (in_pending(ac, head))
		resolve_pending(ac);
	if (ac->last_hpage == head)
		return;
	ac->last_hpage = head;
	ac->nr_pending = 0;	/* the kernel's last_hpage is known again */
	if (earlier_holds(ac, head, head + size))
		return;
	ac->bytes += size;
	if (head < ac->a || head + size > ac->b)
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

/* [a, b) of non-hugetlb memory, every page looked at: 0, or -errno when nothing was charged. */
static int charge_scanned(struct acct *ac, uint64_t a, uint64_t b)
{
	struct small_ctx c = { ac, a };
	int fd = acct_pm_fd(ac), ret = fd;

	if (fd >= 0)
		ret = sys_pagemap_scan(fd, a, b, PAGE_IS_HUGE, PAGE_IS_HUGE, charge_region, &c);
	if (ret && c.cur == a)
		return ret;
	/* A scan failed part way leaves the rest to be charged as small pages. */
	if (c.cur < b)
		ac->bytes += b - c.cur;
	return 0;
}

/*
 * Whole 2 MiB blocks [s, e) of non-hugetlb memory: 2 MiB each whether a THP
 * or small pages back them, so nothing is read - unless the first block may
 * be the compound page charged just before (a buffer overlapping the one
 * before it), where the kernel's last_hpage decides.
 */
static void charge_whole(struct acct *ac, uint64_t s, uint64_t e)
{
	/* before 6.13, THPs an earlier buffer holds are free: look at every block */
	if (earlier_holds(ac, s, e)) {
		if (charge_scanned(ac, s, e))
			ac->bytes += e - s;
		return;
	}
	if (ac->last_hpage == s || in_pending(ac, s)) {
		if (charge_scanned(ac, s, s + THP_SIZE))
			ac->bytes += THP_SIZE;
		s += THP_SIZE;
		if (s == e)
			return;
	}
	if (ac->nr_pending == PENDING_MAX)
		resolve_pending(ac);
	ac->pending[ac->nr_pending].start = s;
	ac->pending[ac->nr_pending++].end = e;
	ac->bytes += e - s;
}

/* /proc/self/smaps, read once and only when PROCMAP_QUERY or PAGEMAP_SCAN is missing. */
struct smaps {
	struct sys_vma *v;
	size_t nv;
	bool read;
};

static int smaps_get(struct smaps *sm)
{
	int ret;

	if (sm->read)
		return 0;
	ret = sys_smaps_read(&sm->v, &sm->nv);
	sm->read = !ret;
	return ret;
}

/* Whether the VMA holding @a has THP-backed memory (AnonHugePages); unknown: true. */
static bool smaps_thp_at(struct smaps *sm, uint64_t a)
{
	size_t j;

	if (smaps_get(sm))
		return true;
	for (j = 0; j < sm->nv; j++)
		if (sm->v[j].start <= a && a < sm->v[j].end)
			return sm->v[j].anon_huge != 0;
	return false;
}

/*
 * A partial 2 MiB block [a, b) of non-hugetlb memory: a PMD-mapped THP
 * (PAGEMAP_SCAN PAGE_IS_HUGE) is charged whole, small pages one by one.
 * No pagemap (non-dumpable task), or no PAGEMAP_SCAN (before 6.7 the ioctl
 * is -ENOTTY) while the kernel still charges a THP whole (6.1
 * io_buffer_account_pin(): PageCompound -> page_size(head)): assume THP
 * throughout a VMA that has any; over-charging is safe, under-charging is
 * not.
 */
static void charge_partial(struct acct *ac, struct smaps *sm, uint64_t a, uint64_t b)
{
	if (!charge_scanned(ac, a, b))
		return;
	if (smaps_thp_at(sm, a))
		charge_huge_range(ac, a, b, THP_SIZE);
	else
		ac->bytes += b - a;
}

/* Non-hugetlb memory [a, b): partial blocks at either end looked at, whole ones counted. */
static void charge_small(struct acct *ac, struct smaps *sm, uint64_t a, uint64_t b)
{
	uint64_t head_end = (a + THP_SIZE - 1) & ~(THP_SIZE - 1), tail = b & ~(THP_SIZE - 1);

	if (head_end >= tail) {
		/* No whole block: within one block, or across one boundary. */
		if (head_end > a && head_end < b) {
			charge_partial(ac, sm, a, head_end);
			a = head_end;
		}
		charge_partial(ac, sm, a, b);
		return;
	}
	if (a < head_end)
		charge_partial(ac, sm, a, head_end);
	charge_whole(ac, head_end, tail);
	if (tail < b)
		charge_partial(ac, sm, tail, b);
}

/* [s, e) inside one VMA whose pages are @page_size bytes. */
static void charge_vma_part(struct acct *ac, struct smaps *sm, uint64_t s, uint64_t e,
			    uint64_t page_size)
{
	if (page_size > PG)
		charge_huge_range(ac, s, e, page_size);
	else
		charge_small(ac, sm, s, e);
}

/* [s, b) from /proc/self/smaps (kernels without PROCMAP_QUERY): 0 or -errno. */
static int charge_smaps(struct acct *ac, struct smaps *sm, uint64_t s, uint64_t b)
{
	uint64_t e;
	size_t j;
	int ret = smaps_get(sm);

	if (ret)
		return ret;
	for (j = 0; j < sm->nv && s < b; j++) {
		if (sm->v[j].end <= s || sm->v[j].start >= b)
			continue;
		if (sm->v[j].start > s) {
			ac->bytes += sm->v[j].start - s;	/* unmapped: the pin fails anyway */
			s = sm->v[j].start;
		}
		e = sm->v[j].end < b ? sm->v[j].end : b;
		charge_vma_part(ac, sm, s, e, sm->v[j].page_size);
		s = e;
	}
	if (s < b)
		ac->bytes += b - s;
	return 0;
}

/*
 * One buffer's whole pages [a, b), VMA by VMA: PROCMAP_QUERY (6.11) reads no
 * page tables, where /proc/self/smaps walks every page of the process.
 */
static int charge_buffer(struct acct *ac, struct smaps *sm, int maps_fd, uint64_t a, uint64_t b)
{
	struct procmap_query q;
	uint64_t s = a, e;
	int ret;

	ac->a = a;
	ac->b = b;
	while (s < b) {
		ret = sys_vma_query(maps_fd, s, true, &q, NULL, 0);
		if (ret == -ENOENT || (!ret && q.vma_start >= b))
			break;
		if (ret)
			return charge_smaps(ac, sm, s, b);
		if (q.vma_start > s) {
			ac->bytes += q.vma_start - s;	/* unmapped: the pin fails anyway */
			s = q.vma_start;
		}
		e = q.vma_end < b ? q.vma_end : b;
		charge_vma_part(ac, sm, s, e, q.vma_page_size);
		s = e;
	}
	ac->bytes += b - s;
	return 0;
}

int uring_memlock_estimate(struct regbuf_uring_memlock *ml, const struct iovec *iov, uint32_t nr,
			   uint32_t charges, bool charged)
{
	struct smaps sm = { NULL, 0, false };
	struct acct ac;
	uint64_t a, b;
	uint32_t i;
	int ret = 0, maps_fd;

	if (!ml || (!iov && nr))
		return -EINVAL;
	memset(ml, 0, sizeof(*ml));
	memset(&ac, 0, sizeof(ac));
	ac.pm_fd = -1;
	ac.iov = iov;
	ac.earlier_count = kernel_version() < 6013;
	maps_fd = sys_open("/proc/self/maps", O_RDONLY);
	for (i = 0; i < nr && !ret; i++) {
		if (!iov[i].iov_len)
			continue;
		/* io_pin_pages(): the whole containing pages are pinned. */
		a = (uint64_t)(uintptr_t)iov[i].iov_base & ~(PG - 1);
		b = ((uint64_t)(uintptr_t)iov[i].iov_base + iov[i].iov_len + PG - 1) & ~(PG - 1);
		ac.cur = i;
		ret = charge_buffer(&ac, &sm, maps_fd, a, b);
	}
	if (ac.pm_fd >= 0)
		close(ac.pm_fd);
	if (maps_fd >= 0)
		close(maps_fd);
	free(sm.v);
	if (ret)
		return ret;

	uring_memlock_limits(ml, charged);
	ml->needed = ac.bytes * (charges ? charges : 1);
	ml->charges = charges ? charges : 1;
	ml->huge = ac.huge;
	return 0;
}

bool uring_memlock_enforced(bool charged)
{
	struct rlimit rl;

	return charged && !getrlimit(RLIMIT_MEMLOCK, &rl) && rl.rlim_cur != RLIM_INFINITY;
}

void uring_memlock_limits(struct regbuf_uring_memlock *ml, bool charged)
{
	struct rlimit rl;

	getrlimit(RLIMIT_MEMLOCK, &rl);
	ml->soft = rl.rlim_cur == RLIM_INFINITY ? UINT64_MAX : rl.rlim_cur;
	ml->hard = rl.rlim_max == RLIM_INFINITY ? UINT64_MAX : rl.rlim_max;
	ml->charged = charged;
	/* Only an enforced limit needs it, and /proc/self/status costs more than the rest. */
	ml->pinned = charged && ml->soft != UINT64_MAX ? vm_pinned_bytes() : 0;
}

int regbuf_uring_memlock_estimate(struct regbuf_uring_memlock *ml, const struct iovec *iov,
				  uint32_t nr, uint32_t charges)
{
	return uring_memlock_estimate(ml, iov, nr, charges, uring_memlock_charged());
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
