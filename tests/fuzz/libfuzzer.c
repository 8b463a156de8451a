// SPDX-License-Identifier: MIT
/*
 * libFuzzer glue for a fuzz target (tests/fuzz/fuzz.h): a mismatch with the
 * reference prints its reason and aborts, and libFuzzer saves the input as a
 * crash artifact.  Replay it with the libFuzzer binary or with the normal
 * build's test-fuzz-<name> FILE.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "fuzz.h"

unsigned long fz_stat_checked;

void fz_fail(const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "fuzz-%s: %s:%d: ", fz_target.name, file, line);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	abort();
}
