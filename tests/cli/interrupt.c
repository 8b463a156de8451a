// SPDX-License-Identifier: MIT
/*
 * interrupt: `regbuf bench io` is stopped at the moment it has raised the
 * 2 MiB hugetlb pool and written its temporary file ($REGBUF_PAUSE_AFTER_RAISE
 * makes it pause exactly there), by SIGINT, SIGTERM, SIGHUP, or SIGKILL
 * followed by another run.  Afterwards nr_hugepages is what it was before and
 * the temporary file and the state file are gone; after SIGKILL, the next run
 * says what it undid.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "clirun.h"
#include "harness.h"

static char dir[PATH_MAX], state_dir[PATH_MAX + 16];

/*
 * 4 MiB blocks x 16 x 2 threads: a 260 MiB arena, 130 huge pages, so the
 * pool has to grow unless that many are free already.
 */
#define IO_ARGS "bench io --no-fio --size-mb 64 --bs 4M --qd 16 --runtime 0.2 --reps 1"

/* Names in @d that start with @prefix. */
static int count_prefixed(const char *d, const char *prefix)
{
	struct dirent *de;
	DIR *dp = opendir(d);
	int n = 0;

	while (dp && (de = readdir(dp)))
		n += !strncmp(de->d_name, prefix, strlen(prefix)) ||
		     (prefix[0] == '*' && strstr(de->d_name, prefix + 1));
	if (dp)
		closedir(dp);
	return n;
}

struct paused {
	pid_t pid;
	int errfd;
	long before, raised;
	char err[8192];
};

/* Start the bench and wait until it paused with the pool raised: 0, T_SKIP or T_FAIL. */
static int start_paused_once(struct paused *p)
{
	int st;

	memset(p, 0, sizeof(*p));
	p->before = cli_nr_hugepages_2m();
	if (p->before < 0)
		return t_skip("no 2 MiB hugetlb pool (/sys/kernel/mm/hugepages/hugepages-2048kB)");
	setenv("REGBUF_PAUSE_AFTER_RAISE", "1", 1);
	p->pid = cli_start(IO_ARGS, &p->errfd);
	unsetenv("REGBUF_PAUSE_AFTER_RAISE");
	if (p->pid < 0)
		return t_broken("cannot start %s", cli_path());
	if (!cli_wait_for(p->errfd, p->err, sizeof(p->err), "paused after raising", 120)) {
		kill(p->pid, SIGKILL);
		waitpid(p->pid, &st, 0);
		p->pid = -1;	/* reaped: nothing for start_paused() to kill */
		close(p->errfd);
		/* Enough free pages already (another program reserved them): nothing was raised. */
		if (strstr(p->err, "== io") || (WIFEXITED(st) && !WEXITSTATUS(st)))
			return t_skip("the pool did not need to grow (free 2 MiB pages already)");
		return T_FAILF("never paused after raising the pool: %s", p->err);
	}
	p->raised = cli_nr_hugepages_2m();
	if (p->raised <= p->before)
		return T_FAILF("paused, but nr_hugepages %ld -> %ld", p->before, p->raised);
	if (count_prefixed(".", "regbuf-bench.") != 1)
		return T_FAILF("no temporary file while paused");
	if (count_prefixed(state_dir, "*.state") != 1)
		return T_FAILF("no state file in %s while paused", state_dir);
	return T_PASS;
}

/* start_paused_once(), and on failure nothing left running. */
static int start_paused(struct paused *p)
{
	int st, ret = start_paused_once(p);

	if (ret && p->pid > 0 && !kill(p->pid, SIGKILL))
		waitpid(p->pid, &st, 0);
	return ret;
}

/* After the process is gone: pool back, temp file and state file gone. */
static int check_restored(const struct paused *p, const char *when)
{
	long now = cli_nr_hugepages_2m();

	if (now != p->before)
		return T_FAILF("%s: nr_hugepages %ld, was %ld before (raised to %ld)", when, now,
			       p->before, p->raised);
	if (count_prefixed(".", "regbuf-bench."))
		return T_FAILF("%s: the temporary file is still there", when);
	if (count_prefixed(state_dir, "*.state") || count_prefixed(state_dir, "*.new"))
		return T_FAILF("%s: a state file is left in %s", when, state_dir);
	return T_PASS;
}

static int interrupt_with(int sig)
{
	struct paused p;
	int st, ret = start_paused(&p);

	if (ret)
		return ret;
	kill(p.pid, sig);
	waitpid(p.pid, &st, 0);
	cli_wait_for(p.errfd, p.err, sizeof(p.err), "\x01", 1);	/* the rest of stderr */
	close(p.errfd);
	if (!WIFSIGNALED(st) || WTERMSIG(st) != sig)
		return T_FAILF("did not die of signal %d (status 0x%x): %s", sig, st, p.err);
	if (!strstr(p.err, "interrupted, undoing its changes") || !strstr(p.err, "restored "))
		return T_FAILF("did not say what it undid: %s", p.err);
	return check_restored(&p, strsignal(sig));
}

static int sigint_restores(void)
{
	return interrupt_with(SIGINT);
}

static int sigterm_restores(void)
{
	return interrupt_with(SIGTERM);
}

static int sighup_restores(void)
{
	return interrupt_with(SIGHUP);
}

static int sigkill_next_run_restores(void)
{
	static struct cli_out o;
	struct paused p;
	int st, ret = start_paused(&p);

	if (ret)
		return ret;
	kill(p.pid, SIGKILL);
	waitpid(p.pid, &st, 0);
	close(p.errfd);
	/* Nothing can run in a killed process: the leftovers are there... */
	if (cli_nr_hugepages_2m() < p.raised || count_prefixed(".", "regbuf-bench.") != 1) {
		t_sh("%s bench map --runs 1 --buffer-mib 4 >/dev/null 2>&1", cli_path());
		return T_FAILF("after SIGKILL the pool or the temporary file was already back");
	}
	/* ...until the next run, which undoes them first and says so. */
	if (cli_run(&o, 300, "bench map --runs 1 --buffer-mib 4"))
		return T_FAILF("the next run did not finish");
	if (o.status)
		return T_FAILF("the next run exited %d: %s", o.status, o.err);
	if (!strstr(o.err, "was killed before it could undo") || !strstr(o.err, "restored ") ||
	    !strstr(o.err, "removed "))
		return T_FAILF("the next run did not say what it undid: %s", o.err);
	return check_restored(&p, "next run");
}

/* Bad input in the next run: exit 2 and the leftovers stay for a run that gets going. */
static int state_dir_untouched_on_usage_error(void)
{
	static struct cli_out o;

	if (cli_run(&o, 20, "bench io --runtime nan"))
		return T_FAILF("did not finish");
	t_check_eq(o.status, 2);
	t_check(count_prefixed(state_dir, "") <= 2);	/* "." and ".." at most */
	return T_PASS;
}

static void cleanup(void)
{
	if (dir[0])
		t_sh("rm -rf '%s'", dir);
}

static const struct t_case cases[] = {
	T_CASE(sigint_restores),
	T_CASE(sigterm_restores),
	T_CASE(sighup_restores),
	T_CASE(sigkill_next_run_restores),
	T_CASE(state_dir_untouched_on_usage_error),
};

int main(int argc, char **argv)
{
	if (geteuid()) {
		printf("SKIP interrupt: needs root (the bench raises nr_hugepages only as root)\n");
		printf("interrupt: 0 passed, 0 failed, %zu skipped\n",
		       sizeof(cases) / sizeof(cases[0]));
		return T_SKIP;
	}
	/* O_DIRECT for the temporary file: /var/tmp rather than a tmpfs /tmp. */
	snprintf(dir, sizeof(dir), "/var/tmp/regbuf-interrupt.XXXXXX");
	if (!mkdtemp(dir) || chdir(dir)) {
		printf("interrupt: cannot create %s: %s\n", dir, strerror(errno));
		return T_BROKEN;
	}
	atexit(cleanup);
	snprintf(state_dir, sizeof(state_dir), "%s/state", dir);
	setenv("REGBUF_STATE_DIR", state_dir, 1);
	unsetenv("REGBUF_PAUSE_AFTER_RAISE");
	return t_main("interrupt", cases, sizeof(cases) / sizeof(cases[0]), argc, argv);
}
