/* SPDX-License-Identifier: MIT */
/*
 * regbuf CLI: each sub-command lives in its own file and registers here.
 */
#ifndef REGBUF_CLI_H
#define REGBUF_CLI_H

#include <stdint.h>
#include <stdio.h>

/* Print a one-line error for the user, "regbuf: <cmd>: <message>". */
void cli_err(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* CLOCK_MONOTONIC in nanoseconds. */
uint64_t cli_now_ns(void);

/* regbuf info [--json] [--path P] (info.c) */
int cmd_info(int argc, char **argv);

/* regbuf bench (bench.c): every experiment, or one with options. */
int cmd_bench(int argc, char **argv);

/* regbuf nvme list|identify|read|write|bench (nvme.c) */
int cmd_nvme(int argc, char **argv);

#endif /* REGBUF_CLI_H */
