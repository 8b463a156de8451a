// SPDX-License-Identifier: MIT
/*
 * regbuf bench reg|clone|io in a build without liburing: these experiments
 * measure io_uring, whose layer this copy of regbuf was built without.  They
 * say so instead of disappearing from the help and the full run.
 */
#include "bench.h"
#include "cli.h"

static int not_built(const struct bench_opts *o, const char *what)
{
	if (o->j) {
		json_open(o->j, what, '{');
		json_str(o->j, "error", "not built: regbuf was built without liburing");
		json_close(o->j, '{');
	}
	cli_err("bench", "%s: not available: this regbuf was built without liburing (no io_uring "
		"layer); install liburing-dev and rebuild with meson -During=enabled", what);
	return 1;
}

int bench_reg(const struct bench_opts *o, int argc, char **argv)
{
	(void)argc;
	(void)argv;
	return not_built(o, "reg");
}

int bench_clone(const struct bench_opts *o, int argc, char **argv)
{
	(void)argc;
	(void)argv;
	return not_built(o, "clone");
}

int bench_io(const struct bench_opts *o, int argc, char **argv)
{
	(void)argc;
	(void)argv;
	return not_built(o, "io");
}
