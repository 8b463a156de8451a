/* SPDX-License-Identifier: MIT */
/*
 * regbuf test harness: named cases, one line each, and the binary contract
 * shared with meson and tests/run:
 *   exit 0  all cases passed or were skipped one by one
 *   exit 1  a case failed
 *   exit 77 every case skipped (the reason says how to enable them)
 *   exit 99 broken setup
 * The last line is "<area>: N passed, N failed, N skipped".
 * REGBUF_TEST_CASE_EXCLUDE=name,name... reports those cases as skipped.
 */
#ifndef REGBUF_TESTS_HARNESS_H
#define REGBUF_TESTS_HARNESS_H

#include <inttypes.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum { T_PASS = 0, T_FAIL = 1, T_SKIP = 77, T_BROKEN = 99 };

struct t_case {
	const char *name;
	int (*fn)(void);
	int explicit_only;	/* runs only when named on the command line */
};

#define T_CASE(fn) { #fn, fn, 0 }
/*
 * A case that needs a setup the default run does not have (a device
 * configuration with injected faults, say): left out of the default run
 * rather than reported as skipped there; the setup that provides it names it.
 */
#define T_CASE_EXPLICIT(fn) { #fn, fn, 1 }

/* Run @cases (or the ones named on the command line) and exit per the contract. */
int t_main(const char *area, const struct t_case *cases, size_t nr, int argc, char **argv);

/* Record why the current case fails or skips; returns T_FAIL / T_SKIP / T_BROKEN. */
int t_fail(const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
int t_skip(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int t_broken(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#define T_FAILF(...) t_fail(__FILE__, __LINE__, __VA_ARGS__)

/*
 * Run @fn in a forked child and return its verdict, with its reason: for a
 * case that must start from a fresh process (its own mm: VmPin counts only
 * its own pins, not those of rings earlier cases closed, which the kernel
 * releases later).
 */
int t_in_child(int (*fn)(void));

#define t_check(cond)							\
	do {								\
		if (!(cond))						\
			return T_FAILF("%s", #cond);			\
	} while (0)

#define t_check_eq(a, b)						\
	do {								\
		long long __a = (long long)(a), __b = (long long)(b);	\
		if (__a != __b)						\
			return T_FAILF("%s == %lld, expected %s == %lld", \
				       #a, __a, #b, __b);		\
	} while (0)

/* A call returning 0 or -errno that must succeed. */
#define t_ok(call)							\
	do {								\
		long long __r = (long long)(call);			\
		if (__r < 0)						\
			return T_FAILF("%s returned %lld", #call, __r);	\
	} while (0)

/* Deterministic PRNG for random cases (splitmix64); seed printed on failure. */
uint64_t t_rand(void);
void t_srand(uint64_t seed);
uint64_t t_seed(void);

/* Position-dependent pattern byte: detects shifted, swapped and zeroed data. */
static inline uint8_t t_pattern(uint64_t pos, uint64_t salt)
{
	uint64_t x = (pos + salt) * UINT64_C(0x9E3779B97F4A7C15);

	return (uint8_t)(x >> 56) ^ (uint8_t)pos;
}
void t_pattern_fill(void *buf, size_t len, uint64_t pos, uint64_t salt);
/* Returns the first mismatching offset, or -1 if all bytes match. */
long long t_pattern_check(const void *buf, size_t len, uint64_t pos, uint64_t salt);

/*
 * From now on in this process and what it execs, syscall @nr fails with
 * -@err (a seccomp filter, as a container runtime's profile or a kernel
 * without the syscall would answer); with @arg >= 0, only calls whose
 * argument @arg (its low 32 bits) is @value.  Call in a child process.
 * Returns 0, or -errno when the filter cannot be installed.
 */
int t_deny_syscall(long nr, int arg, uint32_t value, int err);

/* Run a shell command as a setup helper; returns its exit status. */
int t_sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * hugetlb pages reserved for a test (root), given back afterwards.  Other
 * programs (other test suites, other helpers) may reserve pages of the same
 * size at the same time: t_hugepages_restore() gives back exactly what was
 * added, relative to the current count, instead of writing an old count over
 * theirs.  Zero-initialize; reserve may be called again on the same struct
 * (what it adds accumulates); restore gives everything back.
 */
struct t_hugepages {
	char path[128];		/* .../hugepages-<kb>kB/nr_hugepages */
	long added;		/* pages this test added to it */
	char why[256];		/* after a failed reserve: what to set, for t_skip() */
};

/* Make @pages free pages of @kb kB available: 0, or -1 with @r->why set. */
int t_hugepages_reserve(struct t_hugepages *r, unsigned long kb, long pages);
void t_hugepages_restore(struct t_hugepages *r);

#endif /* REGBUF_TESTS_HARNESS_H */
