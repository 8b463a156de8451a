/* SPDX-License-Identifier: MIT */
/*
 * regbuf fuzz targets: what every target and both of its drivers share.
 *
 * A target is one file tests/fuzz/<name>.c that defines
 * LLVMFuzzerTestOneInput() and, with FZ_TARGET(), its name, its input
 * classes and how many pseudo-random inputs of each class the standalone
 * driver runs.  Every input is decoded into a structured case and
 * cross-checked against a slow reference written in the target itself, never
 * against the code under test.  A mismatch calls fz_fail(), which does not
 * return:
 *  - under libFuzzer (libfuzzer.c) it prints the reason and aborts, so the
 *    input is saved as a crash artifact;
 *  - under the standalone driver (driver.c) it records the reason and jumps
 *    back to the driver, which reports the case as failed and writes the
 *    input to a file for replay.
 *
 * Input layout: byte 0 selects the input class (byte % number of classes);
 * the rest is read through &struct fz, which yields zeros once the input is
 * exhausted, so every byte string decodes to a valid case.
 */
#ifndef REGBUF_TESTS_FUZZ_H
#define REGBUF_TESTS_FUZZ_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/mman.h>

struct fz_target {
	const char *name;		/* "seg-split": binary test-fuzz-seg-split */
	const char *const *classes;	/* input class names, byte 0 selects one */
	unsigned int nr_classes;
	size_t max_len;			/* random inputs are 1..max_len bytes */
	unsigned int iters;		/* random inputs per class in the driver */
};

extern const struct fz_target fz_target;

#define FZ_TARGET(name_, max_len_, iters_, ...)					\
	static const char *const fz_classes_[] = { __VA_ARGS__ };		\
	const struct fz_target fz_target = {					\
		.name = (name_),						\
		.classes = fz_classes_,						\
		.nr_classes = sizeof(fz_classes_) / sizeof(fz_classes_[0]),	\
		.max_len = (max_len_),						\
		.iters = (iters_),						\
	}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Report a mismatch; never returns. */
void fz_fail(const char *file, int line, const char *fmt, ...)
	__attribute__((noreturn, format(printf, 3, 4)));

#define FZ_FAIL(...) fz_fail(__FILE__, __LINE__, __VA_ARGS__)

#define FZ_CHECK(cond)								\
	do {									\
		if (!(cond))							\
			FZ_FAIL("%s", #cond);					\
	} while (0)

#define FZ_CHECK_EQ(a, b)							\
	do {									\
		unsigned long long __a = (unsigned long long)(a);		\
		unsigned long long __b = (unsigned long long)(b);		\
		if (__a != __b)							\
			FZ_FAIL("%s == %lld (%#llx), reference %s == %lld (%#llx)", \
				#a, (long long)__a, __a, #b, (long long)__b, __b); \
	} while (0)

/* Counters the standalone driver prints: inputs decoded vs fully checked. */
extern unsigned long fz_stat_checked;

/* ---- input reader ---------------------------------------------------- */

struct fz {
	const uint8_t *p;
	size_t n;
};

static inline void fz_init(struct fz *f, const uint8_t *data, size_t size)
{
	f->p = data;
	f->n = size;
}

static inline bool fz_empty(const struct fz *f)
{
	return f->n == 0;
}

static inline uint8_t fz_u8(struct fz *f)
{
	if (!f->n)
		return 0;
	f->n--;
	return *f->p++;
}

static inline uint16_t fz_u16(struct fz *f)
{
	uint8_t lo = fz_u8(f);

	return (uint16_t)(lo | (unsigned int)fz_u8(f) << 8);
}

static inline uint32_t fz_u32(struct fz *f)
{
	uint16_t lo = fz_u16(f);

	return lo | (uint32_t)fz_u16(f) << 16;
}

static inline uint64_t fz_u64(struct fz *f)
{
	uint32_t lo = fz_u32(f);

	return lo | (uint64_t)fz_u32(f) << 32;
}

/* A value in [lo, hi] (inclusive); lo when the input is exhausted. */
static inline uint64_t fz_range(struct fz *f, uint64_t lo, uint64_t hi)
{
	uint64_t span = hi - lo, v;

	if (span < 0x100)
		v = fz_u8(f);
	else if (span < 0x10000)
		v = fz_u16(f);
	else if (span < 0x100000000ull)
		v = fz_u32(f);
	else
		v = fz_u64(f);
	if (span == UINT64_MAX)
		return v;
	return lo + v % (span + 1);
}

/* True with probability about num/256. */
static inline bool fz_chance(struct fz *f, unsigned int num)
{
	return fz_u8(f) < num;
}

/*
 * Whether nothing is mapped in [start, end) (page-aligned): made-up buffer
 * addresses must be, because registering them checks a folio-size hint with
 * PAGEMAP_SCAN and discovers the layout of what is mapped there.  A sanitizer
 * maps terabytes of shadow, so a random address is often inside it.  Mapping
 * the range with MAP_FIXED_NOREPLACE succeeds only over a hole (and is undone
 * at once); any other refusal means addresses no mapping can have.
 */
static inline bool fz_unmapped(uint64_t start, uint64_t end)
{
	void *p;

	if (end <= start || end - start > SIZE_MAX)
		return true;
	p = mmap((void *)(uintptr_t)start, (size_t)(end - start), PROT_NONE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED_NOREPLACE, -1, 0);
	if (p == MAP_FAILED)
		return errno != EEXIST;
	munmap(p, (size_t)(end - start));
	/* Before Linux 4.17 the flag is ignored: a hint elsewhere means taken. */
	return p == (void *)(uintptr_t)start;
}

#endif /* REGBUF_TESTS_FUZZ_H */
