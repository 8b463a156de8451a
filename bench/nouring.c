// SPDX-License-Identifier: MIT
/*
 * regbuf bench reg|clone|io in a build without liburing: these experiments
 * measure io_uring, whose layer this copy of regbuf was built without.  They
 * say so (in the help and when run) instead of disappearing.
 */
#include <stdio.h>

#include "bench.h"
#include "cli.h"
#include "opt.h"

#define NOT_BUILT "not built: this regbuf has no io_uring layer (built without liburing)"

static struct opt_spec no_opts[] = {
	OPT_END
};

/* Nothing attempted: skipped (a failure with --strict), with what would enable it. */
static int not_built(const struct bench_opts *o, const char *what)
{
	if (o->j) {
		json_open(o->j, what, '{');
		bench_row_json(o->j, BENCH_ROW_SKIPPED, NOT_BUILT);
		json_close(o->j, '{');
	}
	cli_err("bench", "%s %s: %s; install liburing-dev and rebuild (meson -During=enabled)",
		what, bench_row_word(o, BENCH_ROW_SKIPPED), NOT_BUILT);
	return bench_rows_exit(o, 1, 0);
}

static int reg_run(const struct bench_opts *o)
{
	return not_built(o, "reg");
}

static int clone_run(const struct bench_opts *o)
{
	return not_built(o, "clone");
}

static int io_run(const struct bench_opts *o)
{
	return not_built(o, "io");
}

const struct bench_cmd bench_reg_cmd = {
	.name = "reg", .summary = NOT_BUILT, .opts = no_opts, .run = reg_run,
};
const struct bench_cmd bench_clone_cmd = {
	.name = "clone", .summary = NOT_BUILT, .opts = no_opts, .run = clone_run,
};
const struct bench_cmd bench_io_cmd = {
	.name = "io", .summary = NOT_BUILT, .opts = no_opts, .run = io_run,
};
