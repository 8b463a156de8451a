// SPDX-License-Identifier: MIT
/*
 * regbuf-bench - the benchmark lab, run as 'regbuf bench ...' (the installed
 * CLI hands its arguments over) or directly.
 */
#include "bench.h"
#include "cli.h"

int main(int argc, char **argv)
{
	cli_stdio_init();
	return cli_exit(cmd_bench(argc, argv));
}
