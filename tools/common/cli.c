// SPDX-License-Identifier: MIT
/*
 * What both command-line programs share (cli.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

uint64_t cli_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void cli_err(const char *cmd, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "regbuf: %s: ", cmd);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

void cli_stdio_init(void)
{
	int fd;

	for (fd = STDIN_FILENO; fd <= STDERR_FILENO; fd++) {
		if (fcntl(fd, F_GETFD) >= 0 || errno != EBADF)
			continue;
		/* open() takes the lowest free descriptor: @fd itself. */
		if (open("/dev/null", O_RDONLY) != fd)
			_exit(1);
	}
}

int cli_exit(int rc)
{
	bool failed;
	int err = 0;

	errno = 0;
	failed = fflush(stdout) != 0;
	if (failed)
		err = errno;
	failed |= ferror(stdout) != 0;
	if (fclose(stdout) && !failed) {
		failed = true;
		err = errno;
	}
	if (!failed)
		return rc;
	if (err)
		fprintf(stderr, "regbuf: write error on standard output: %s\n", strerror(err));
	else
		fprintf(stderr, "regbuf: write error on standard output\n");
	return rc ? rc : 1;
}
