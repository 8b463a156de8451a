/* SPDX-License-Identifier: MIT */
/*
 * tests/cli: run the built regbuf binary and look at what it left behind.
 */
#ifndef REGBUF_TESTS_CLIRUN_H
#define REGBUF_TESTS_CLIRUN_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct cli_out {
	int status;		/* exit status, or 128 + signal */
	char out[65536];	/* stdout */
	char err[16384];	/* stderr */
};

/*
 * Run "regbuf @args" (split at spaces; no quoting) in the current directory
 * with stdin from /dev/null, wait at most @timeout_s.  Returns 0, or -1 if it
 * could not run or timed out (killed; o->status 128 + SIGKILL).
 */
int cli_run(struct cli_out *o, int timeout_s, const char *args);

/*
 * Start "regbuf @args" with stderr on a pipe; returns the pid and the pipe's
 * read end in *errfd, or -1.
 */
pid_t cli_start(const char *args, int *errfd);

/* Read @fd into @buf until @needle appears or @timeout_s passes: true if it appeared. */
bool cli_wait_for(int fd, char *buf, size_t len, const char *needle, int timeout_s);

/* The directory listing of @dir (names, sizes and mtimes) as one string. */
void cli_snapshot(const char *dir, char *buf, size_t len);

/* nr_hugepages of the 2 MiB and 1 GiB pools ("2M=N 1G=N"). */
void cli_hugepages(char *buf, size_t len);
long cli_nr_hugepages_2m(void);

/* The path of the regbuf binary under test. */
const char *cli_path(void);

#endif /* REGBUF_TESTS_CLIRUN_H */
