/* SPDX-License-Identifier: MIT */
/*
 * What both command-line programs share: the installed CLI (tools/regbuf/)
 * and the benchmark lab (bench/).
 */
#ifndef REGBUF_CLI_H
#define REGBUF_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Print a one-line error for the user, "regbuf: <cmd>: <message>". */
void cli_err(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* CLOCK_MONOTONIC in nanoseconds. */
uint64_t cli_now_ns(void);

/*
 * First thing in main(): a standard descriptor that is closed gets one that
 * refuses writes (/dev/null opened read-only), so that no file the command
 * opens later becomes its stdout, and writing there fails as it would on a
 * closed descriptor.
 */
void cli_stdio_init(void);

/*
 * Last thing in main(): flush and close stdout.  Output that could not be
 * written (a closed stdout, EPIPE with SIGPIPE ignored, ENOSPC on a full
 * device) is an error of its own: "regbuf: write error: ..." and exit status
 * 1 instead of @rc when @rc was 0.  Returns the exit status.
 */
int cli_exit(int rc);

/* ---- NVMe controllers, for 'regbuf nvme' and 'regbuf bench nvme' ---- */
struct regbuf_nvme_ctrl;
struct regbuf_nvme_ns;

/* --device: a PCI address DDDD:BB:DD.F.  0, or 2 with the message in @err. */
int cli_nvme_check_device(const char *dev, char *err, size_t len);

/*
 * Bring up controller @dev (4 I/O queue pairs) and, if @ns, get namespace
 * @nsid's handle.  Errors are said on stderr as @cmd; 0 or -errno.
 */
int cli_nvme_open(const char *cmd, const char *dev, uint32_t nsid, bool unsafe,
		  struct regbuf_nvme_ctrl **cp, struct regbuf_nvme_ns **ns);

/* I/O memory: hugetlb when there is some (required in physical mode), else 4 KiB pages. */
void *cli_io_alloc(size_t len, size_t *maplen);

#endif /* REGBUF_CLI_H */
