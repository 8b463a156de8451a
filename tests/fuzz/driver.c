// SPDX-License-Identifier: MIT
/*
 * Standalone driver for a fuzz target (tests/fuzz/fuzz.h), used by the
 * normal build where libFuzzer is not available (gcc):
 *
 *   test-fuzz-<name>              run the seed corpus, then a fixed number of
 *                                 deterministic pseudo-random inputs per input
 *                                 class (REGBUF_TEST_SEED changes the seed,
 *                                 REGBUF_FUZZ_ITERS the count)
 *   test-fuzz-<name> CASE...      only those cases (corpus, random_<class>)
 *   test-fuzz-<name> FILE...      replay inputs (crash artifacts, corpus files)
 *
 * One harness case per input class plus one for the corpus; a failing input
 * is written to $REGBUF_FUZZ_ARTIFACTS (default /tmp) for replay, under
 * libFuzzer or here.
 */
#include <dirent.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "fuzz.h"
#include "harness.h"

#define MAX_CLASSES	8

unsigned long fz_stat_checked;

static jmp_buf fz_jmp;
static int fz_armed;
static char fz_reason[1024];

void fz_fail(const char *file, int line, const char *fmt, ...)
{
	size_t n = (size_t)snprintf(fz_reason, sizeof(fz_reason), "%s:%d: ", file, line);
	va_list ap;

	if (n < sizeof(fz_reason)) {
		va_start(ap, fmt);
		vsnprintf(fz_reason + n, sizeof(fz_reason) - n, fmt, ap);
		va_end(ap);
	}
	if (fz_armed)
		longjmp(fz_jmp, 1);
	fprintf(stderr, "fuzz-%s: %s\n", fz_target.name, fz_reason);
	abort();
}

/* 0 when the input passed its checks, -1 when fz_fail() was called. */
static int run_input(const uint8_t *data, size_t size)
{
	fz_armed = 1;
	if (setjmp(fz_jmp)) {
		fz_armed = 0;
		return -1;
	}
	LLVMFuzzerTestOneInput(data, size);
	fz_armed = 0;
	return 0;
}

static void save_input(const char *tag, const uint8_t *data, size_t size, char *path, size_t cap)
{
	const char *dir = getenv("REGBUF_FUZZ_ARTIFACTS");
	FILE *f;

	snprintf(path, cap, "%s/fuzz-%s-%s.bin", dir ? dir : "/tmp", fz_target.name, tag);
	f = fopen(path, "wb");
	if (!f || fwrite(data, 1, size, f) != size) {
		snprintf(path, cap, "(could not write %s: %s)", tag, strerror(errno));
		if (f)
			fclose(f);
		return;
	}
	fclose(f);
}

static int read_file(const char *path, uint8_t **datap, size_t *sizep)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf = NULL;
	size_t cap = 0, n = 0, got;

	if (!f)
		return -errno;
	do {
		if (n == cap) {
			uint8_t *nb = realloc(buf, cap ? cap * 2 : 4096);

			if (!nb) {
				free(buf);
				fclose(f);
				return -ENOMEM;
			}
			buf = nb;
			cap = cap ? cap * 2 : 4096;
		}
		got = fread(buf + n, 1, cap - n, f);
		n += got;
	} while (got);
	fclose(f);
	*datap = buf;
	*sizep = n;
	return 0;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int case_corpus(void)
{
	char dir[1024], path[2048], saved[1024];
	struct dirent *de;
	char **names = NULL;
	size_t nr = 0, i;
	DIR *d;
	int ret = T_PASS;

	snprintf(dir, sizeof(dir), "%s/%s", FZ_CORPUS_DIR, fz_target.name);
	d = opendir(dir);
	if (!d)
		return t_broken("seed corpus %s: %s", dir, strerror(errno));
	while ((de = readdir(d))) {
		char **nn;

		if (de->d_name[0] == '.')
			continue;
		nn = realloc(names, (nr + 1) * sizeof(*names));
		if (!nn)
			break;
		names = nn;
		names[nr] = strdup(de->d_name);
		if (names[nr])
			nr++;
	}
	closedir(d);
	qsort(names, nr, sizeof(*names), name_cmp);
	fz_stat_checked = 0;
	for (i = 0; i < nr && ret == T_PASS; i++) {
		uint8_t *data;
		size_t size;

		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		if (read_file(path, &data, &size)) {
			ret = t_broken("cannot read %s", path);
			break;
		}
		if (run_input(data, size)) {
			save_input(names[i], data, size, saved, sizeof(saved));
			ret = T_FAILF("corpus file %s: %s", names[i], fz_reason);
		}
		free(data);
	}
	if (ret == T_PASS && !nr)
		ret = t_broken("seed corpus %s is empty", dir);
	printf("# corpus: %zu files, %lu fully checked\n", nr, fz_stat_checked);
	for (i = 0; i < nr; i++)
		free(names[i]);
	free(names);
	return ret;
}

/* The harness seed (REGBUF_TEST_SEED), not the last class's derived one. */
static uint64_t base_seed(void)
{
	const char *seed = getenv("REGBUF_TEST_SEED");

	return seed ? strtoull(seed, NULL, 0) : UINT64_C(0x5eed5eed5eed);
}

static int run_class(unsigned int cls)
{
	const char *env = getenv("REGBUF_FUZZ_ITERS");
	unsigned long iters = env ? strtoul(env, NULL, 0) : fz_target.iters, i;
	uint8_t *buf = malloc(fz_target.max_len);
	char tag[64], saved[1024];
	double t0 = now();
	int ret = T_PASS;

	if (!buf)
		return t_broken("out of memory");
	/* Each class has its own stream, so one class can be rerun alone. */
	t_srand(base_seed() ^ (UINT64_C(0x9E3779B97F4A7C15) * (cls + 1)));
	fz_stat_checked = 0;
	for (i = 0; i < iters; i++) {
		size_t len = 1 + (size_t)(t_rand() % fz_target.max_len), j;

		for (j = 0; j < len; j += 8) {
			uint64_t r = t_rand();

			memcpy(buf + j, &r, len - j < 8 ? len - j : 8);
		}
		buf[0] = (uint8_t)cls;
		if (run_input(buf, len)) {
			snprintf(tag, sizeof(tag), "%s-%lu", fz_target.classes[cls], i);
			save_input(tag, buf, len, saved, sizeof(saved));
			ret = T_FAILF("input %lu (replay: %s): %s", i, saved, fz_reason);
			break;
		}
	}
	printf("# %s: %lu inputs, %lu fully checked, %.1f s\n", fz_target.classes[cls], i,
	       fz_stat_checked, now() - t0);
	free(buf);
	return ret;
}

#define CLASS_CASE(n) static int case_class##n(void) { return run_class(n); }
CLASS_CASE(0) CLASS_CASE(1) CLASS_CASE(2) CLASS_CASE(3)
CLASS_CASE(4) CLASS_CASE(5) CLASS_CASE(6) CLASS_CASE(7)
static int (*const class_fns[MAX_CLASSES])(void) = {
	case_class0, case_class1, case_class2, case_class3,
	case_class4, case_class5, case_class6, case_class7,
};

/* Replay mode: every argument is an input file. */
static int replay(int argc, char **argv)
{
	unsigned int passed = 0, failed = 0;
	int i;

	for (i = 1; i < argc; i++) {
		uint8_t *data;
		size_t size;

		if (read_file(argv[i], &data, &size)) {
			printf("FAIL %s: cannot read\n", argv[i]);
			failed++;
			continue;
		}
		if (run_input(data, size)) {
			printf("FAIL %s: %s\n", argv[i], fz_reason);
			failed++;
		} else {
			printf("ok %s\n", argv[i]);
			passed++;
		}
		free(data);
	}
	printf("fuzz-%s: %u passed, %u failed, 0 skipped\n", fz_target.name, passed, failed);
	return failed ? T_FAIL : T_PASS;
}

int main(int argc, char **argv)
{
	struct t_case cases[1 + MAX_CLASSES] = { { 0 } };
	char names[MAX_CLASSES][64], area[64];
	struct stat st;
	unsigned int i;

	if (argc > 1 && !stat(argv[1], &st) && S_ISREG(st.st_mode))
		return replay(argc, argv);
	if (fz_target.nr_classes > MAX_CLASSES) {
		printf("FAIL setup: %u input classes, the driver takes %d\n", fz_target.nr_classes,
		       MAX_CLASSES);
		return T_BROKEN;
	}
	cases[0].name = "corpus";
	cases[0].fn = case_corpus;
	for (i = 0; i < fz_target.nr_classes; i++) {
		snprintf(names[i], sizeof(names[i]), "random_%s", fz_target.classes[i]);
		cases[1 + i].name = names[i];
		cases[1 + i].fn = class_fns[i];
	}
	snprintf(area, sizeof(area), "fuzz-%s", fz_target.name);
	return t_main(area, cases, 1 + fz_target.nr_classes, argc, argv);
}
