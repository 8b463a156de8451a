// SPDX-License-Identifier: MIT
/*
 * regbuf - prefaulting an arena on several CPUs.
 *
 * What a prefault costs is the kernel zeroing every page it faults in
 * (clear_page), one core's memory bandwidth at a time: a 2 GiB arena took a
 * fio process longer to set up than fio's own engine, whose jobs fault their
 * buffers in their own threads.  So the arena is cut into slices of whole
 * folios, one per CPU the memory may be faulted from, each faulted with
 * MADV_POPULATE_WRITE by its own thread.  Pages still come from where the
 * mapping's policy says (an mbind() node policy holds whichever thread
 * faults); for a bound arena the threads also run on that node's CPUs, so
 * that the zeroing writes stay local.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "mem.h"
#include "sys/sys.h"

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE	23	/* 5.14 */
#endif

/* Below this per thread, starting one costs more than it saves. */
#define SLICE_MIN		(UINT64_C(32) << 20)
#define THREADS_MAX		64

/*
 * Fault every page in now, writable, so registration pins present pages.
 * MADV_POPULATE_WRITE reports a hugetlb pool running dry as -ENOMEM where a
 * touch would die of SIGBUS; before 5.14 it is -EINVAL and we touch instead.
 */
int mem_prefault_range(char *addr, size_t len)
{
	size_t step = (size_t)sysconf(_SC_PAGESIZE), off;
	int err = sys_madvise(addr, len, MADV_POPULATE_WRITE);

	if (err != -EINVAL)
		return err;
	for (off = 0; off < len; off += step)
		*(volatile char *)(addr + off) = 0;
	return 0;
}

struct slice {
	pthread_t thread;
	char *addr;
	size_t len;
	int err;
	bool started;
};

static void *slice_main(void *arg)
{
	struct slice *s = arg;

	s->err = mem_prefault_range(s->addr, s->len);
	return NULL;
}

/*
 * The CPUs of NUMA node @node (its sysfs cpulist, "0-3,8-11") that this
 * thread may also run on, into @set: 0 or -errno.
 */
static int node_cpus(int node, cpu_set_t *set)
{
	char path[64], list[1024], *p, *end;
	cpu_set_t allowed;
	unsigned long a, b;
	int ret;

	snprintf(path, sizeof(path), "/sys/devices/system/node/node%d/cpulist", node);
	ret = sys_read_small(path, list, sizeof(list));
	if (ret)
		return ret;
	if (sched_getaffinity(0, sizeof(allowed), &allowed))
		return -errno;
	CPU_ZERO(set);
	for (p = list; *p && *p != '\n'; p = *end == ',' ? end + 1 : end) {
		a = b = strtoul(p, &end, 10);
		if (end == p)
			return -EINVAL;
		if (*end == '-')
			b = strtoul(end + 1, &end, 10);
		for (; a <= b && a < CPU_SETSIZE; a++)
			if (CPU_ISSET(a, &allowed))
				CPU_SET(a, set);
	}
	return CPU_COUNT(set) ? 0 : -ENOENT;
}

/* Start a thread per slice but @self (the caller's); a slice whose thread did not start is not started. */
static void start_slices(struct slice *s, unsigned int n, unsigned int self,
			 const cpu_set_t *cpus)
{
	sigset_t all, old;
	pthread_attr_t attr;
	unsigned int i;

	if (pthread_attr_init(&attr))
		return;
	if (cpus)
		pthread_attr_setaffinity_np(&attr, sizeof(*cpus), cpus);
	/* The workers take no signal meant for the application. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	for (i = 0; i < n; i++)
		if (i != self)
			s[i].started = !pthread_create(&s[i].thread, &attr, slice_main, &s[i]);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	pthread_attr_destroy(&attr);
}

int mem_prefault(void *addr, size_t len, unsigned int folio_shift, int node)
{
	struct slice s[THREADS_MAX];
	uint64_t folio = UINT64_C(1) << folio_shift, min = SLICE_MIN > folio ? SLICE_MIN : folio;
	uint64_t folios = len >> folio_shift, per;
	unsigned int n, i, self;
	cpu_set_t cpus;
	int err = 0;

	if (node >= 0 && node_cpus(node, &cpus))
		node = -1;
	if (node < 0 && sched_getaffinity(0, sizeof(cpus), &cpus))
		CPU_ZERO(&cpus);
	n = (unsigned int)(len / min);
	if (n > (unsigned int)CPU_COUNT(&cpus))
		n = (unsigned int)CPU_COUNT(&cpus);
	if (n > THREADS_MAX)
		n = THREADS_MAX;
	if (n < 2)
		return mem_prefault_range(addr, len);
	/* Whole folios per slice, the remainder spread over the first ones. */
	per = folios / n;
	memset(s, 0, sizeof(s));
	for (i = 0; i < n; i++) {
		uint64_t nf = per + (i < folios % n);

		s[i].addr = i ? s[i - 1].addr + s[i - 1].len : addr;
		s[i].len = (size_t)(nf << folio_shift);
	}
	s[n - 1].len = (size_t)((char *)addr + len - s[n - 1].addr);
	/* A bound arena is faulted from its node's CPUs only; else the caller takes a slice. */
	self = node >= 0 ? n : 0;
	start_slices(s, n, self, node >= 0 ? &cpus : NULL);
	for (i = 0; i < n; i++) {
		if (i == self || !s[i].started)
			s[i].err = mem_prefault_range(s[i].addr, s[i].len);
		else
			pthread_join(s[i].thread, NULL);
		if (!err)
			err = s[i].err;
	}
	return err;
}
