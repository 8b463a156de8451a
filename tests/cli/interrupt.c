// SPDX-License-Identifier: MIT
/*
 * interrupt: `regbuf bench io` is stopped at the moment it has raised the
 * 2 MiB hugetlb pool and written its temporary file ($REGBUF_PAUSE_AFTER_RAISE
 * makes it pause exactly there), by SIGINT, SIGTERM, SIGHUP, or SIGKILL
 * followed by another run.  Afterwards nr_hugepages is what it was before and
 * the temporary file and the state file are gone; after SIGKILL, the next run
 * says what it undid.  A fio baseline running when the bench is signalled
 * stops with it.  A second bench starting meanwhile leaves the live run's
 * raise alone, and a pool lowered by someone else meanwhile is not given
 * back below where the bench found it.
 *
 * The pool is machine-wide and other programs (other test suites) move it
 * too.  Each case therefore also checks what the bench itself did: the state
 * file records how many pages it added, and its restore message must give
 * exactly those back.  When the final count is off only because the pool
 * moved under another program, the case is tried again (up to 4 times).
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
 * The bench's buffer arena is 2 x bs x qd x threads + 4 MiB of 2 MiB pages:
 * with 16 MiB blocks and 2 threads, a queue depth that makes it larger than
 * the pages free right now, so the pool has to grow (other programs may hold
 * free pages of their own).
 */
static void io_args(char *buf, size_t len, const char *runtime)
{
	FILE *f = fopen("/sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages", "r");
	long free_pages = 0;

	if (f) {
		if (fscanf(f, "%ld", &free_pages) != 1)
			free_pages = 0;
		fclose(f);
	}
	snprintf(buf, len, "bench io --no-fio --size-mb 64 --bs 16M --qd %ld --runtime %s --reps 1",
		 (free_pages + 64) / 32 + 1, runtime);
}

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

#define RETRY 2		/* another program moved the pool during the attempt */
#define NR_HP "/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages"

struct paused {
	pid_t pid;
	int errfd;
	long before, raised;
	long added;		/* what the state file says the bench added */
	char err[8192];
};

/* "counter FLOOR ADDED .../hugepages-2048kB/nr_hugepages" of the one state file: ADDED. */
static long state_added(void)
{
	char path[PATH_MAX + 300], line[512];
	struct dirent *de;
	long orig, added = -1, a;
	DIR *d = opendir(state_dir);
	FILE *f;

	while (d && (de = readdir(d))) {
		if (!strstr(de->d_name, ".state"))
			continue;
		snprintf(path, sizeof(path), "%s/%s", state_dir, de->d_name);
		f = fopen(path, "r");
		while (f && fgets(line, sizeof(line), f))
			if (sscanf(line, "counter %ld %ld", &orig, &a) == 2 && strstr(line, NR_HP))
				added = a;
		if (f)
			fclose(f);
	}
	if (d)
		closedir(d);
	return added;
}

/* Did @err say "restored NR_HP A -> B" giving back exactly @added? */
static bool gave_back(const char *err, long added)
{
	const char *p = strstr(err, "restored " NR_HP " ");
	long a, b;

	if (!p || sscanf(p + strlen("restored " NR_HP " "), "%ld -> %ld", &a, &b) != 2)
		return false;
	return a - b == added || (a < added && b == 0);
}

/* Start the bench and wait until it paused with the pool raised: 0, T_SKIP or T_FAIL. */
static int start_paused_once(struct paused *p)
{
	char args[256];
	int st;

	memset(p, 0, sizeof(*p));
	p->before = cli_nr_hugepages_2m();
	if (p->before < 0)
		return t_skip("no 2 MiB hugetlb pool (/sys/kernel/mm/hugepages/hugepages-2048kB)");
	setenv("REGBUF_PAUSE_AFTER_RAISE", "1", 1);
	io_args(args, sizeof(args), "0.2");
	p->pid = cli_start(args, &p->errfd);
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
			return RETRY;	/* pages were freed since io_args() looked */
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

/*
 * After the process is gone: pool back, temp file and state file gone; T_PASS,
 * T_FAIL or RETRY.  Pages that were still mapped or pinned when the pool was
 * lowered became surplus and leave it when freed, which for an io_uring
 * registration happens in the ring's deferred teardown after the process
 * exited: wait for that.
 */
static int check_restored(const struct paused *p, const char *when, const char *said)
{
	long now = cli_nr_hugepages_2m();
	int i;

	if (p->added <= 0)
		return T_FAILF("%s: the state file recorded no pages added (%ld)", when, p->added);
	if (!gave_back(said, p->added))
		return T_FAILF("%s: no 'restored %s A -> B' giving back %ld pages: %s", when, NR_HP,
			       p->added, said);
	if (count_prefixed(".", "regbuf-bench."))
		return T_FAILF("%s: the temporary file is still there", when);
	if (count_prefixed(state_dir, "*.state") || count_prefixed(state_dir, "*.new"))
		return T_FAILF("%s: a state file is left in %s", when, state_dir);
	for (i = 0; i < 100 && now != p->before; i++) {
		usleep(100000);
		now = cli_nr_hugepages_2m();
	}
	if (now != p->before) {
		printf("  %s: nr_hugepages %ld, was %ld before (raised to %ld, %ld added); "
		       "another program moved the pool: again\n", when, now, p->before, p->raised,
		       p->added);
		return RETRY;
	}
	return T_PASS;
}

/* Up to 4 attempts of @attempt while other programs keep moving the pool. */
static int retried(int (*attempt)(int), int arg)
{
	int i, ret = RETRY;

	for (i = 0; i < 4 && ret == RETRY; i++)
		ret = attempt(arg);
	if (ret == RETRY)
		return t_skip("the 2 MiB pool kept changing under other programs; rerun when quiet");
	return ret;
}

static int interrupt_once(int sig)
{
	struct paused p;
	int st, ret = start_paused(&p);

	if (ret)
		return ret;
	p.added = state_added();
	if (cli_nr_hugepages_2m() != p.raised) {
		kill(p.pid, SIGKILL);
		waitpid(p.pid, &st, 0);
		close(p.errfd);
		/* The next attempt's bench undoes what this one left. */
		return RETRY;
	}
	kill(p.pid, sig);
	waitpid(p.pid, &st, 0);
	cli_wait_for(p.errfd, p.err, sizeof(p.err), "\x01", 1);	/* the rest of stderr */
	close(p.errfd);
	if (!WIFSIGNALED(st) || WTERMSIG(st) != sig)
		return T_FAILF("did not die of signal %d (status 0x%x): %s", sig, st, p.err);
	if (!strstr(p.err, "interrupted, undoing its changes") || !strstr(p.err, "restored "))
		return T_FAILF("did not say what it undid: %s", p.err);
	return check_restored(&p, strsignal(sig), p.err);
}

static int sigint_restores(void)
{
	return retried(interrupt_once, SIGINT);
}

static int sigterm_restores(void)
{
	return retried(interrupt_once, SIGTERM);
}

static int sighup_restores(void)
{
	return retried(interrupt_once, SIGHUP);
}

static int sigkill_once(int unused)
{
	static struct cli_out o;
	struct paused p;
	int st, ret = start_paused(&p);

	if (ret)
		return ret;
	(void)unused;
	p.added = state_added();
	kill(p.pid, SIGKILL);
	waitpid(p.pid, &st, 0);
	close(p.errfd);
	/* Nothing can run in a killed process: the leftovers are there... */
	if (count_prefixed(state_dir, "*.state") != 1 || count_prefixed(".", "regbuf-bench.") != 1) {
		t_sh("%s bench map --runs 1 --buffer-mib 4 >/dev/null 2>&1", cli_path());
		return T_FAILF("after SIGKILL the state file or the temporary file was already gone");
	}
	/* ...until the next run, which undoes them first and says so. */
	if (cli_run(&o, 300, "bench map --runs 1 --buffer-mib 4"))
		return T_FAILF("the next run did not finish");
	if (o.status)
		return T_FAILF("the next run exited %d: %s", o.status, o.err);
	if (!strstr(o.err, "was killed before it could undo") || !strstr(o.err, "restored ") ||
	    !strstr(o.err, "removed "))
		return T_FAILF("the next run did not say what it undid: %s", o.err);
	return check_restored(&p, "next run", o.err);
}

static int sigkill_next_run_restores(void)
{
	return retried(sigkill_once, 0);
}

/* SIGINT while the worker threads are doing I/O: the main thread still undoes everything. */
static int sigint_during_io_once(int unused)
{
	struct paused p;
	char args[256];
	int st;

	memset(&p, 0, sizeof(p));
	p.before = cli_nr_hugepages_2m();
	io_args(args, sizeof(args), "60");
	p.pid = cli_start(args, &p.errfd);
	if (p.pid < 0)
		return t_broken("cannot start %s", cli_path());
	if (!cli_wait_for(p.errfd, p.err, sizeof(p.err), "io: regbuf randread", 120)) {
		kill(p.pid, SIGKILL);
		waitpid(p.pid, &st, 0);
		return T_FAILF("the I/O never started: %s", p.err);
	}
	(void)unused;
	usleep(300000);
	p.raised = cli_nr_hugepages_2m();
	p.added = state_added();
	if (p.added <= 0) {
		kill(p.pid, SIGKILL);
		waitpid(p.pid, &st, 0);
		close(p.errfd);
		t_sh("%s bench map --runs 1 --buffer-mib 4 >/dev/null 2>&1", cli_path());
		return RETRY;	/* pages were freed since io_args() looked */
	}
	kill(p.pid, SIGINT);
	waitpid(p.pid, &st, 0);
	cli_wait_for(p.errfd, p.err, sizeof(p.err), "\x01", 1);
	close(p.errfd);
	if (!WIFSIGNALED(st) || WTERMSIG(st) != SIGINT)
		return T_FAILF("did not die of SIGINT (status 0x%x): %s", st, p.err);
	if (!strstr(p.err, "removed "))
		return T_FAILF("did not remove its temporary file: %s", p.err);
	return check_restored(&p, "SIGINT during I/O", p.err);
}

static int sigint_during_io(void)
{
	return retried(sigint_during_io_once, 0);
}

/* The first child of @pid (/proc/PID/task/PID/children), or -1 within @timeout_s. */
static pid_t child_of(pid_t pid, int timeout_s)
{
	char path[64];
	int i, child = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/children", (int)pid, (int)pid);
	for (i = 0; i < timeout_s * 10 && child < 0; i++) {
		f = fopen(path, "r");
		if (!f || fscanf(f, "%d", &child) != 1)
			child = -1;
		if (f)
			fclose(f);
		if (child < 0)
			usleep(100000);
	}
	return child;
}

/* Is @pid gone (or a zombie waiting for init) within @timeout_s? */
static bool gone(pid_t pid, int timeout_s)
{
	char path[64], buf[512], *p;
	int i;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	for (i = 0; i < timeout_s * 10; i++) {
		f = fopen(path, "r");
		if (!f)
			return true;
		p = fgets(buf, sizeof(buf), f) ? strrchr(buf, ')') : NULL;
		fclose(f);
		if (!p || p[2] == 'Z' || p[2] == 'X')
			return true;
		usleep(100000);
	}
	return false;
}

/*
 * A signal while fio (a baseline row) runs: fio stops with regbuf, it does not
 * keep doing I/O on a file that is being removed.  SIGTERM reaches only regbuf
 * (as from kill or a service manager), which stops and reaps fio first;
 * SIGKILL leaves fio to the kernel (the parent-death signal), and the next
 * run removes the temporary file.
 */
static int fio_stops_with(int sig)
{
	static struct cli_out o;
	char err[8192] = "";
	pid_t pid, fio;
	int errfd, st;

	if (t_sh("command -v fio >/dev/null"))
		return t_skip("fio not installed (apt-get install fio)");
	pid = cli_start("bench io --rw randread --size-mb 64 --runtime 10 --reps 1 --threads 1 "
			"--qd 4", &errfd);
	if (pid < 0)
		return t_broken("cannot start %s", cli_path());
	if (!cli_wait_for(errfd, err, sizeof(err), "io: fio randread", 120) ||
	    (fio = child_of(pid, 10)) < 0) {
		kill(pid, SIGKILL);
		waitpid(pid, &st, 0);
		close(errfd);
		t_sh("%s bench map --runs 1 --buffer-mib 4 >/dev/null 2>&1", cli_path());
		return T_FAILF("fio never started: %s", err);
	}
	kill(pid, sig);
	waitpid(pid, &st, 0);
	cli_wait_for(errfd, err, sizeof(err), "\x01", 1);
	close(errfd);
	if (!WIFSIGNALED(st) || WTERMSIG(st) != sig)
		return T_FAILF("did not die of signal %d (status 0x%x): %s", sig, st, err);
	if (!gone(fio, 3)) {
		kill(fio, SIGKILL);
		/* What the killed bench raised is undone by the next run, as a user's would be. */
		t_sh("%s bench map --runs 1 --buffer-mib 4 >/dev/null 2>&1", cli_path());
		return T_FAILF("fio (pid %d) still runs 3 s after regbuf got signal %d", (int)fio,
			       sig);
	}
	if (sig == SIGKILL) {
		if (cli_run(&o, 300, "bench map --runs 1 --buffer-mib 4") || o.status ||
		    !strstr(o.err, "removed "))
			return T_FAILF("the next run did not remove the temporary file: %s", o.err);
	} else if (!strstr(err, "stopped child process ") || !strstr(err, "removed ")) {
		return T_FAILF("did not say it stopped fio and removed its file: %s", err);
	}
	if (count_prefixed(".", "regbuf-bench.") || count_prefixed(state_dir, "*.state"))
		return T_FAILF("the temporary file or the state file is left");
	return T_PASS;
}

static int sigterm_stops_fio(void)
{
	return fio_stops_with(SIGTERM);
}

static int sigkill_stops_fio(void)
{
	return fio_stops_with(SIGKILL);
}

/* Write @v into NR_HP: 0 or -1. */
static int write_nr_hp(long v)
{
	FILE *f = fopen(NR_HP, "w");
	int ret = f && fprintf(f, "%ld\n", v) > 0 ? 0 : -1;

	if (f && fclose(f))
		ret = -1;
	return ret;
}

/*
 * A second bench starting while the first is paused with the pool raised:
 * its undo_init() must leave the first's state file and raise alone (the
 * file is locked by a live process), and what it gives back at its own exit
 * is only its own.  Then the first, interrupted, restores the pool.
 */
static int second_run_once(int unused)
{
	static struct cli_out o;
	struct paused p;
	int st, ret = start_paused(&p);

	(void)unused;
	if (ret)
		return ret;
	p.added = state_added();
	ret = cli_run(&o, 300, "bench map --runs 1 --buffer-mib 4") ? T_FAIL : T_PASS;
	if (ret == T_PASS && o.status)
		ret = T_FAILF("the second run exited %d: %s", o.status, o.err);
	else if (ret == T_PASS && (strstr(o.err, "was killed before") || strstr(o.err, "restored ")))
		ret = T_FAILF("the second run undid the live run's changes: %s", o.err);
	else if (ret == T_PASS && (count_prefixed(state_dir, "*.state") != 1 ||
				   state_added() != p.added))
		ret = T_FAILF("the live run's state file is gone or changed after the second run");
	else if (ret == T_PASS && cli_nr_hugepages_2m() < p.raised)
		ret = RETRY;	/* lowered: by the second run, or by another program */
	kill(p.pid, SIGTERM);
	waitpid(p.pid, &st, 0);
	cli_wait_for(p.errfd, p.err, sizeof(p.err), "\x01", 1);
	close(p.errfd);
	if (ret == RETRY && !gave_back(p.err, p.added))
		return T_FAILF("the live run could not give back its %ld pages: %s", p.added, p.err);
	return ret ? ret : check_restored(&p, "first run, after the second", p.err);
}

static int second_run_leaves_live_raise(void)
{
	return retried(second_run_once, 0);
}

/*
 * Someone lowers the pool while the bench is paused with it raised (here:
 * back to where it was, taking the bench's pages).  The bench must not then
 * give back its raise again from what is left: the pool stays where it was
 * before the bench, never below.  Two pages of "someone else's" are in the
 * pool first, so that going below would show.
 */
static int lowered_once(int unused)
{
	const char *p_said;
	struct paused p;
	long base = cli_nr_hugepages_2m(), a, b;
	int st, ret;

	(void)unused;
	if (base < 0)
		return t_skip("no 2 MiB hugetlb pool");
	if (write_nr_hp(base + 2) || cli_nr_hugepages_2m() != base + 2)
		return t_skip("cannot add 2 pages to the 2 MiB pool (memory fragmented?)");
	ret = start_paused(&p);
	if (ret)
		goto out;
	p.added = state_added();
	write_nr_hp(p.before);		/* someone else takes the raise back */
	kill(p.pid, SIGTERM);
	waitpid(p.pid, &st, 0);
	cli_wait_for(p.errfd, p.err, sizeof(p.err), "\x01", 1);
	close(p.errfd);
	p_said = strstr(p.err, "restored " NR_HP " ");
	if (p_said && sscanf(p_said + strlen("restored " NR_HP " "), "%ld -> %ld", &a, &b) == 2 &&
	    b < p.before)
		ret = T_FAILF("gave back below the pool it found (%ld): %s", p.before, p.err);
	else if (cli_nr_hugepages_2m() != p.before)
		ret = RETRY;	/* another program moved the pool */
out:
	write_nr_hp(cli_nr_hugepages_2m() - 2);	/* our two pages */
	return ret;
}

static int lowered_meanwhile_stays(void)
{
	return retried(lowered_once, 0);
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
	T_CASE(sigint_during_io),
	T_CASE(sigterm_stops_fio),
	T_CASE(sigkill_stops_fio),
	T_CASE(state_dir_untouched_on_usage_error),
	T_CASE(second_run_leaves_live_raise),
	T_CASE(lowered_meanwhile_stays),
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
