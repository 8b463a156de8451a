// SPDX-License-Identifier: MIT
#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

static char t_reason[512];
static uint64_t t_state = 0x5eed5eed5eedULL;
static uint64_t t_initial_seed;

static void t_vreason(const char *prefix, const char *fmt, va_list ap)
{
	size_t n = (size_t)snprintf(t_reason, sizeof(t_reason), "%s", prefix);

	if (n < sizeof(t_reason))
		vsnprintf(t_reason + n, sizeof(t_reason) - n, fmt, ap);
}

int t_fail(const char *file, int line, const char *fmt, ...)
{
	char prefix[128];
	va_list ap;

	snprintf(prefix, sizeof(prefix), "%s:%d: ", file, line);
	va_start(ap, fmt);
	t_vreason(prefix, fmt, ap);
	va_end(ap);
	return T_FAIL;
}

int t_skip(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	t_vreason("", fmt, ap);
	va_end(ap);
	return T_SKIP;
}

int t_in_child(int (*fn)(void))
{
	size_t got = 0;
	int fds[2], status, ret;
	ssize_t n;
	pid_t pid;

	if (pipe(fds))
		return t_broken("pipe: %s", strerror(errno));
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		close(fds[0]);
		close(fds[1]);
		return t_broken("fork: %s", strerror(errno));
	}
	if (pid == 0) {
		close(fds[0]);
		t_reason[0] = '\0';
		ret = fn();
		if (write(fds[1], t_reason, strlen(t_reason)) < 0)
			ret = T_BROKEN;
		_exit(ret);
	}
	close(fds[1]);
	while (got < sizeof(t_reason) - 1 &&
	       (n = read(fds[0], t_reason + got, sizeof(t_reason) - 1 - got)) > 0)
		got += (size_t)n;
	t_reason[got] = '\0';
	close(fds[0]);
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
		return t_fail(__FILE__, __LINE__, "the child running the case died");
	return WEXITSTATUS(status);
}

int t_broken(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	t_vreason("broken setup: ", fmt, ap);
	va_end(ap);
	return T_BROKEN;
}

void t_srand(uint64_t seed)
{
	t_state = seed;
	t_initial_seed = seed;
}

uint64_t t_seed(void)
{
	return t_initial_seed;
}

uint64_t t_rand(void)
{
	uint64_t z = (t_state += UINT64_C(0x9E3779B97F4A7C15));

	z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
	return z ^ (z >> 31);
}

void t_pattern_fill(void *buf, size_t len, uint64_t pos, uint64_t salt)
{
	uint8_t *p = buf;
	size_t i;

	for (i = 0; i < len; i++)
		p[i] = t_pattern(pos + i, salt);
}

long long t_pattern_check(const void *buf, size_t len, uint64_t pos, uint64_t salt)
{
	const uint8_t *p = buf;
	size_t i;

	for (i = 0; i < len; i++)
		if (p[i] != t_pattern(pos + i, salt))
			return (long long)i;
	return -1;
}

#if defined(__x86_64__)
#define T_AUDIT_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define T_AUDIT_ARCH AUDIT_ARCH_AARCH64
#endif

int t_deny_syscall(long nr, int arg, uint32_t value, int err)
{
#ifdef T_AUDIT_ARCH
	/* The low word of args[@arg] (little-endian); with @arg < 0, nr again. */
	unsigned int arg_off = arg >= 0 && arg < 6 ?
		(unsigned int)(offsetof(struct seccomp_data, args) + (size_t)arg * 8) :
		(unsigned int)offsetof(struct seccomp_data, nr);
	uint32_t want = arg >= 0 && arg < 6 ? value : (uint32_t)nr;
	struct sock_filter f[] = {
		/* Another architecture's syscall numbers: not ours to judge. */
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, T_AUDIT_ARCH, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (unsigned int)nr, 0, 3),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, arg_off),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, want, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ((unsigned int)err & SECCOMP_RET_DATA)),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = { (unsigned short)(sizeof(f) / sizeof(f[0])), f };

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) || prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog))
		return -errno;
	return 0;
#else
	(void)nr;
	(void)arg;
	(void)value;
	(void)err;
	return -EOPNOTSUPP;
#endif
}

int t_sh(const char *fmt, ...)
{
	char cmd[1024];
	va_list ap;
	int st;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	st = system(cmd);
	if (st == -1 || !WIFEXITED(st))
		return -1;
	return WEXITSTATUS(st);
}

static bool t_selected(const struct t_case *c, int argc, char **argv)
{
	const char *name = c->name;
	int i;

	if (argc <= 1)
		return !c->explicit_only;
	for (i = 1; i < argc; i++)
		if (!strcmp(argv[i], name))
			return true;
	return false;
}

/* Named in $REGBUF_TEST_CASE_EXCLUDE (comma-separated): too slow under valgrind, say. */
static bool t_excluded(const char *name)
{
	const char *list = getenv("REGBUF_TEST_CASE_EXCLUDE"), *p;
	size_t n = strlen(name);

	for (p = list; p && (p = strstr(p, name)); p += n)
		if ((p == list || p[-1] == ',') && (p[n] == ',' || !p[n]))
			return true;
	return false;
}

int t_main(const char *area, const struct t_case *cases, size_t nr, int argc, char **argv)
{
	unsigned int passed = 0, failed = 0, skipped = 0, broken = 0;
	const char *seed = getenv("REGBUF_TEST_SEED");
	size_t i;

	t_srand(seed ? strtoull(seed, NULL, 0) : 0x5eed5eed5eedULL);
	setvbuf(stdout, NULL, _IOLBF, 0);
	for (i = 0; i < nr; i++) {
		int ret;

		if (!t_selected(&cases[i], argc, argv))
			continue;
		if (t_excluded(cases[i].name)) {
			printf("SKIP %s: excluded by REGBUF_TEST_CASE_EXCLUDE\n", cases[i].name);
			skipped++;
			continue;
		}
		t_reason[0] = '\0';
		ret = cases[i].fn();
		switch (ret) {
		case T_PASS:
			printf("ok %s\n", cases[i].name);
			passed++;
			break;
		case T_SKIP:
			printf("SKIP %s: %s\n", cases[i].name, t_reason);
			skipped++;
			break;
		case T_BROKEN:
			printf("FAIL %s: %s\n", cases[i].name, t_reason);
			broken++;
			break;
		default:
			printf("FAIL %s: %s (seed 0x%" PRIx64 ")\n", cases[i].name,
			       t_reason[0] ? t_reason : "failed", t_seed());
			failed++;
			break;
		}
	}
	printf("%s: %u passed, %u failed, %u skipped\n", area, passed, failed + broken, skipped);
	if (failed)
		return T_FAIL;
	if (broken)
		return T_BROKEN;
	if (!passed && skipped)
		return T_SKIP;
	return T_PASS;
}

static long read_long(const char *path)
{
	char buf[64] = "";
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	return n > 0 ? strtol(buf, NULL, 10) : -1;
}

static int write_long(const char *path, long v)
{
	char buf[32];
	int fd = open(path, O_WRONLY | O_CLOEXEC), n;

	if (fd < 0)
		return -errno;
	n = snprintf(buf, sizeof(buf), "%ld\n", v);
	if (write(fd, buf, (size_t)n) != n) {
		n = -errno;
		close(fd);
		return n;
	}
	close(fd);
	return 0;
}

void t_hugepages_restore(struct t_hugepages *r)
{
	long cur;

	if (r->added <= 0)
		return;
	cur = read_long(r->path);
	if (cur >= 0)
		write_long(r->path, cur > r->added ? cur - r->added : 0);
	r->added = 0;
}

/*
 * Pages a new mapping can have: free_hugepages counts pages other mappings
 * have reserved but not faulted yet (resv_hugepages), which mmap() cannot
 * take (hugetlb_acct_memory()).  -1 without the pool.
 */
static long hugepages_available(unsigned long kb)
{
	char path[128];
	long fr, resv;

	snprintf(path, sizeof(path), "/sys/kernel/mm/hugepages/hugepages-%lukB/free_hugepages", kb);
	fr = read_long(path);
	snprintf(path, sizeof(path), "/sys/kernel/mm/hugepages/hugepages-%lukB/resv_hugepages", kb);
	resv = read_long(path);
	if (fr < 0)
		return -1;
	if (resv > 0)
		fr = resv < fr ? fr - resv : 0;
	return fr;
}

int t_hugepages_reserve(struct t_hugepages *r, unsigned long kb, long pages)
{
	long old, fr, now, added = 0;

	snprintf(r->path, sizeof(r->path), "/sys/kernel/mm/hugepages/hugepages-%lukB/nr_hugepages",
		 kb);
	old = read_long(r->path);
	fr = hugepages_available(kb);
	if (old < 0 || fr < 0) {
		snprintf(r->why, sizeof(r->why), "no %lu kB hugepages on this kernel", kb);
		return -1;
	}
	if (fr >= pages)
		return 0;
	if (write_long(r->path, old + pages - fr) == 0) {
		now = read_long(r->path);
		added = now > old ? now - old : 0;
	}
	if (hugepages_available(kb) < pages) {
		/* Give back what this call added (the pool may have grown only partly). */
		now = read_long(r->path);
		if (added && now >= 0)
			write_long(r->path, now > added ? now - added : 0);
		snprintf(r->why, sizeof(r->why), "could not reserve %ld x %lu kB hugepages: set %s "
			 "(as root) to %ld or more", pages, kb, r->path, old + pages);
		return -1;
	}
	r->added += added;
	return 0;
}
