// SPDX-License-Identifier: MIT
/*
 * regbuf bench io's baselines.  A comparison an expert accepts is against fio
 * at its best, not fio's defaults: fio's io_uring engine submits one I/O per
 * io_uring_enter() unless told to batch, and registers neither buffers nor
 * files.  So each job runs three baselines:
 *
 *   fio         ioengine=io_uring with its defaults (what a new user runs)
 *   fio-tuned   fixedbufs, registerfiles, iodepth_batch_submit and
 *               iodepth_batch_complete_min, 2 MiB hugepage buffers
 *   t/io_uring  fio's peak-IOPS tool from the same fio source tree: fixed
 *               buffers, registered files and ring fd, batched submit and
 *               reap (reads only)
 *
 * CPU is what the I/O threads used: fio's usr_cpu/sys_cpu of the group
 * (RUSAGE_THREAD per job); t/io_uring's IOPS and CPU per I/O are measured
 * from outside over a steady-state window of its run, every thread of it
 * (its main thread only sleeps), as regbuf's own rows are.  With an SQ
 * thread (sqthread_poll) the submitting is done by kernel threads of the
 * process that fio's per-job numbers leave out: then fio's CPU is the whole
 * child process's too.
 *
 * Polled I/O (--poll) polls in every peer: fio's hipri, t/io_uring -p1.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "bench_fio.h"
#include "cli.h"
#include "undo.h"


static const char *const kind_name[BENCH_FIO_NR] = { "fio", "fio-tuned", "t/io_uring" };

const char *bench_fio_name(enum bench_fio_kind kind)
{
	return kind < BENCH_FIO_NR ? kind_name[kind] : "?";
}

/* t/io_uring: $REGBUF_T_IO_URING, else in the fio tree $REGBUF_FIO_TREE (bench io --fio-tree). */
static const char *tio_path(const char **tree)
{
	static char path[PATH_MAX];
	const char *env = getenv("REGBUF_T_IO_URING");

	*tree = getenv("REGBUF_FIO_TREE");
	if (env && *env)
		return env;
	if (!*tree || !**tree)
		return NULL;
	snprintf(path, sizeof(path), "%s/t/io_uring", *tree);
	return path;
}

enum bench_fio_fit bench_fio_applies(enum bench_fio_kind kind, const struct bench_fio_job *job,
				     char *why, size_t len)
{
	const char *tio, *tree;

	if (kind != BENCH_FIO_TIO)
		return BENCH_FIO_RUNS;
	if (job->write) {
		snprintf(why, len, "t/io_uring only reads");
		return BENCH_FIO_NOT_APPLICABLE;
	}
	if (job->sqpoll) {
		snprintf(why, len, "t/io_uring has no option for an SQ thread");
		return BENCH_FIO_NOT_APPLICABLE;
	}
	tio = tio_path(&tree);
	if (!tio) {
		snprintf(why, len, "no fio source tree: give --fio-tree DIR or set REGBUF_FIO_TREE "
			 "(scripts/fio-source.sh makes one with t/io_uring built)");
		return BENCH_FIO_UNAVAILABLE;
	}
	if (access(tio, X_OK)) {
		snprintf(why, len, "%s: %s (build it: make -C %s t/io_uring)", tio, strerror(errno),
			 tree ? tree : "<fio tree>");
		return BENCH_FIO_UNAVAILABLE;
	}
	return BENCH_FIO_RUNS;
}

static uint32_t batch_of(uint32_t qd)
{
	uint32_t b = qd / 4;

	return b < 1 ? 1 : b > 32 ? 32 : b;
}

/* t/io_uring's -r counts whole seconds and reports each but the last: at least 2. */
static unsigned int tio_secs(const struct bench_fio_job *j)
{
	unsigned int secs = (unsigned int)ceil(j->runtime_s);

	return secs < 2 ? 2 : secs;
}

/* An argument vector and the strings it points into. */
struct bench_fio_argv {
	char *argv[40];
	char buf[8192];
	size_t used;
	int argc;
};

/* Append one argument, printf-style; -ENAMETOOLONG when @a is full. */
static int __attribute__((format(printf, 2, 3))) arg_add(struct bench_fio_argv *a,
							 const char *fmt, ...)
{
	size_t room = sizeof(a->buf) - a->used;
	va_list ap;
	int n;

	if (a->argc + 1 >= (int)(sizeof(a->argv) / sizeof(a->argv[0])))
		return -ENAMETOOLONG;
	va_start(ap, fmt);
	n = vsnprintf(a->buf + a->used, room, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= room)
		return -ENAMETOOLONG;
	a->argv[a->argc++] = a->buf + a->used;
	a->argv[a->argc] = NULL;
	a->used += (size_t)n + 1;
	return 0;
}

/* The command @kind runs for @j, one argument per string (no shell); 0 or -ENAMETOOLONG. */
static int bench_fio_argv(enum bench_fio_kind kind, const struct bench_fio_job *j,
			  struct bench_fio_argv *a)
{
	uint64_t per = j->file_size / j->threads / j->bs * j->bs;
	char path[2 * PATH_MAX];
	size_t n;
	uint32_t t;
	int ret = 0;

	a->argc = 0;
	a->used = 0;
	a->argv[0] = NULL;
	if (kind == BENCH_FIO_TIO) {
		const char *tree;

		ret |= arg_add(a, "%s", tio_path(&tree));
		ret |= arg_add(a, "-d%u", j->qd);
		ret |= arg_add(a, "-s%u", batch_of(j->qd));
		ret |= arg_add(a, "-c%u", batch_of(j->qd));
		ret |= arg_add(a, "-b%u", j->bs);
		ret |= arg_add(a, "-p%d", j->poll ? 1 : 0);
		ret |= arg_add(a, "-B1");
		ret |= arg_add(a, "-F1");
		ret |= arg_add(a, "-X1");
		ret |= arg_add(a, "-O1");
		ret |= arg_add(a, "-R%d", j->rnd ? 1 : 0);
		ret |= arg_add(a, "-n%u", j->threads);
		ret |= arg_add(a, "-r%u", tio_secs(j));
		/* One file per thread: t/io_uring gives each submitter its own files. */
		for (t = 0; t < j->threads; t++)
			ret |= arg_add(a, "%s", j->path);
		return ret ? -ENAMETOOLONG : 0;
	}
	/* fio splits --filename at ':' (several files); "\\:" is a literal colon. */
	for (t = 0, n = 0; j->path[t] && n + 2 < sizeof(path); t++) {
		if (j->path[t] == ':')
			path[n++] = '\\';
		path[n++] = j->path[t];
	}
	if (j->path[t])
		return -ENAMETOOLONG;
	path[n] = '\0';
	ret |= arg_add(a, "fio");
	ret |= arg_add(a, "--name=regbuf-%s", j->rw);
	ret |= arg_add(a, "--filename=%s", path);
	ret |= arg_add(a, "--ioengine=io_uring");
	ret |= arg_add(a, "--direct=1");
	ret |= arg_add(a, "--rw=%s", j->rw);
	ret |= arg_add(a, "--bs=%u", j->bs);
	ret |= arg_add(a, "--iodepth=%u", j->qd);
	ret |= arg_add(a, "--numjobs=%u", j->threads);
	ret |= arg_add(a, "--thread");
	ret |= arg_add(a, "--group_reporting");
	ret |= arg_add(a, "--time_based");
	ret |= arg_add(a, "--runtime=%.0fms", j->runtime_s * 1000);
	if (!j->rnd) {
		ret |= arg_add(a, "--size=%" PRIu64, per);
		ret |= arg_add(a, "--offset_increment=%" PRIu64, per);
	} else {
		ret |= arg_add(a, "--size=%" PRIu64, j->file_size);
		ret |= arg_add(a, "--norandommap");
		ret |= arg_add(a, "--randrepeat=0");
	}
	if (j->poll)
		ret |= arg_add(a, "--hipri=1");
	if (j->sqpoll)
		ret |= arg_add(a, "--sqthread_poll=1");
	if (kind == BENCH_FIO_TUNED) {
		ret |= arg_add(a, "--fixedbufs=1");
		ret |= arg_add(a, "--registerfiles=1");
		ret |= arg_add(a, "--iodepth_batch_submit=%u", batch_of(j->qd));
		ret |= arg_add(a, "--iodepth_batch_complete_min=1");
		ret |= arg_add(a, "--iodepth_batch_complete_max=%u", j->qd);
		if (j->huge)
			ret |= arg_add(a, "--iomem=mmaphuge");
	}
	ret |= arg_add(a, "--output-format=json");
	return ret ? -ENAMETOOLONG : 0;
}

static double jnum(const char *from, const char *key)
{
	char pat[64];
	const char *p;

	if (!from)
		return NAN;
	snprintf(pat, sizeof(pat), "\"%s\"", key);
	p = strstr(from, pat);
	if (!p)
		return NAN;
	p = strchr(p + strlen(pat), ':');
	return p ? strtod(p + 1, NULL) : NAN;
}

/*
 * Two samples of a child while it runs (bench_proc_sample()), @from_ns and
 * @to_ns after it was started; err is the first sample's failure (-ENOENT:
 * the child had exited), or -ETIME when its output ended before both.
 */
struct capture_window {
	uint64_t from_ns, to_ns;
	struct bench_proc s[2];
	int got;
	int err;
};

/* Seconds between @w's samples, and the reads of @bs bytes the child submitted meanwhile. */
static double window_s(const struct capture_window *w)
{
	return (double)(w->s[1].at_ns - w->s[0].at_ns) / 1e9;
}

static uint64_t window_reads(const struct capture_window *w, uint32_t bs)
{
	return (w->s[1].read_bytes - w->s[0].read_bytes) / bs;
}

/* Wait for @fd to be readable, or until @w's next sample is due (then take it). */
static void capture_wait(int fd, pid_t pid, uint64_t t0, struct capture_window *w)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	uint64_t due, now;

	while (w && w->got < 2 && !w->err) {
		due = t0 + (w->got ? w->to_ns : w->from_ns);
		now = cli_now_ns();
		if (now >= due) {
			w->err = bench_proc_sample(pid, &w->s[w->got]);
			w->got += !w->err;
			continue;
		}
		if (poll(&p, 1, (int)((due - now + 999999) / 1000000)) != 0)
			return;
	}
}

/*
 * Run @argv (no shell: paths go through as they are) with stderr discarded and
 * return its whole stdout, NUL-terminated, and its wait status in @status;
 * NULL with errno set when it could not run.  The child dies with this
 * process (PR_SET_PDEATHSIG, for SIGKILL) and a signal to this process stops
 * it first (undo_child_set()), so an interrupted bench leaves no fio behind.
 * With @w, the child is sampled meanwhile.
 */
static char *run_capture(char *const argv[], int *status, struct capture_window *w)
{
	char *out = NULL, *bigger, sink[4096];
	size_t len = 0, cap = 0;
	bool nomem = false;
	pid_t pid, parent = getpid();
	sigset_t mask;
	ssize_t n;
	int fds[2], err, null;
	uint64_t t0;

	if (pipe2(fds, O_CLOEXEC))
		return NULL;
	fflush(NULL);
	undo_signals_block(&mask);
	t0 = cli_now_ns();
	pid = fork();
	if (pid == 0) {
		undo_signals_restore(&mask);
		null = open("/dev/null", O_WRONLY | O_CLOEXEC);
		if (prctl(PR_SET_PDEATHSIG, SIGKILL) || getppid() != parent || null < 0 ||
		    dup2(fds[1], STDOUT_FILENO) < 0 || dup2(null, STDERR_FILENO) < 0)
			_exit(127);
		execvp(argv[0], argv);
		_exit(127);
	}
	err = errno;
	if (pid > 0)
		undo_child_set(pid);
	undo_signals_restore(&mask);
	close(fds[1]);
	if (pid < 0) {
		close(fds[0]);
		errno = err;
		return NULL;
	}
	/* Read to the end even without memory: the child must not block on a full pipe. */
	for (;;) {
		if (!nomem && cap - len < 4096) {
			bigger = realloc(out, cap ? cap * 2 : 65536);
			if (bigger) {
				out = bigger;
				cap = cap ? cap * 2 : 65536;
			} else {
				nomem = true;
			}
		}
		capture_wait(fds[0], pid, t0, w);
		n = nomem ? read(fds[0], sink, sizeof(sink)) : read(fds[0], out + len, cap - len - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if (!nomem)
			len += (size_t)n;
	}
	close(fds[0]);
	if (w && w->got < 2 && !w->err)
		w->err = -ETIME;
	while (waitpid(pid, status, 0) < 0 && errno == EINTR)
		;
	undo_child_set(0);
	if (nomem) {
		free(out);
		errno = ENOMEM;
		return NULL;
	}
	out[len] = '\0';
	return out;
}

static int parse_fio(const struct bench_fio_job *j, const char *out, struct bench_fio_res *res,
		     char *err, size_t errlen)
{
	const char *dir, *clat;
	double runtime_ms, usr, sys;

	/* The direction object, not the "rw" : "read" option value. */
	dir = strstr(out, j->write ? "\"write\" : {" : "\"read\" : {");
	if (!dir || isnan(jnum(dir, "iops"))) {
		snprintf(err, errlen, "fio produced no result");
		return -EIO;
	}
	res->iops = jnum(dir, "iops");
	res->bw_bytes = jnum(dir, "bw_bytes");
	res->ios = (uint64_t)jnum(dir, "total_ios");
	res->bytes = (uint64_t)jnum(dir, "io_bytes");
	clat = strstr(dir, "\"clat_ns\"");
	res->p50_ns = jnum(clat, "50.000000");
	res->p99_ns = jnum(clat, "99.000000");
	res->p999_ns = jnum(clat, "99.900000");
	/* fio: usr_cpu = usr time / total runtime of the group's threads (%). */
	runtime_ms = jnum(out, "job_runtime");
	usr = jnum(out, "usr_cpu");
	sys = jnum(out, "sys_cpu");
	res->elapsed_s = runtime_ms / 1000 / j->threads;
	res->usr_s = usr / 100 * runtime_ms / 1000;
	res->sys_s = sys / 100 * runtime_ms / 1000;
	res->cpu_ns_per_io = res->ios ? (res->usr_s + res->sys_s) * 1e9 / (double)res->ios : NAN;
	res->errors = (uint64_t)jnum(strstr(out, "\"jobname\""), "error");
	if (res->errors) {
		/* A job that failed (e.g. ENOMEM from --iomem=mmaphuge) skews the group. */
		snprintf(err, errlen, "fio job error %s%s", strerror((int)res->errors),
			 j->huge ? " (hugepages for --iomem=mmaphuge?)" : "");
		return -(int)res->errors;
	}
	return 0;
}

static double tv_s(const struct timeval *tv)
{
	return (double)tv->tv_sec + (double)tv->tv_usec / 1e6;
}

/*
 * t/io_uring prints "IOPS=123456, ..." once a second, which says it ran.
 * What is compared is measured from outside, as regbuf's own rows are
 * (bench_io.c): over the steady-state window @w, reads submitted (its
 * read_bytes over the block size) and the CPU time of all its threads.
 * usr and sys are the whole child's, setup and exit included.
 */
static int parse_tio(const char *out, double wall_s, const struct rusage *ru,
		     const struct capture_window *w, const struct bench_fio_job *j,
		     struct bench_fio_res *res, char *err, size_t errlen)
{
	uint64_t ios;

	if (!strstr(out, "\nIOPS=") && strncmp(out, "IOPS=", 5)) {
		snprintf(err, errlen, "t/io_uring reported no IOPS (%.120s)", out);
		return -EIO;
	}
	if (w->err) {
		snprintf(err, errlen, "t/io_uring: sampling it during the run: %s",
			 w->err == -ETIME ? "it ended first" : strerror(-w->err));
		return w->err;
	}
	ios = window_reads(w, j->bs);
	res->iops = (double)ios / window_s(w);
	res->bw_bytes = res->iops * j->bs;
	res->elapsed_s = wall_s;
	res->ios = (uint64_t)(res->iops * wall_s);
	res->bytes = res->ios * j->bs;
	res->usr_s = tv_s(&ru->ru_utime);
	res->sys_s = tv_s(&ru->ru_stime);
	res->cpu_ns_per_io = ios ? (double)(w->s[1].cpu_ns - w->s[0].cpu_ns) / (double)ios : NAN;
	res->machine_ns_per_io = ios ? bench_busy_ns(&w->s[0], &w->s[1]) / (double)ios : NAN;
	res->p50_ns = res->p99_ns = res->p999_ns = NAN;
	return 0;
}

/*
 * fio's own figures stay as fio counts them; the machine's busy time per I/O
 * comes from the same window as the other rows' (I/Os: fio's reads as the
 * kernel counted them; for writes fio's IOPS over the window).  Not had when
 * a sample failed (fio may set up for longer than the window's start).
 */
static void fio_machine(const struct bench_fio_job *j, const struct capture_window *w,
			struct bench_fio_res *res)
{
	double ios;

	res->machine_ns_per_io = NAN;
	if (w->err)
		return;
	ios = j->write ? res->iops * window_s(w) : (double)window_reads(w, j->bs);
	if (ios > 0)
		res->machine_ns_per_io = bench_busy_ns(&w->s[0], &w->s[1]) / ios;
}

/* "fio exited with status 1 (<the start of its stdout>)", or killed by a signal. */
static void exit_failed(enum bench_fio_kind kind, int status, const char *out, char *err,
			size_t errlen)
{
	const char *lp = *out ? " (" : "", *rp = *out ? ")" : "";

	if (WIFSIGNALED(status))
		snprintf(err, errlen, "%s killed by signal %d%s%.150s%s", bench_fio_name(kind),
			 WTERMSIG(status), lp, out, rp);
	else
		snprintf(err, errlen, "%s exited with status %d%s%.150s%s", bench_fio_name(kind),
			 WEXITSTATUS(status), lp, out, rp);
}

int bench_fio_run(enum bench_fio_kind kind, const struct bench_fio_job *j,
		  struct bench_fio_res *res, char *err, size_t errlen)
{
	struct rusage r0, r1, d;
	struct timespec t0, t1;
	struct bench_fio_argv argv;
	struct capture_window w = { 0 };
	double secs;
	char *out;
	int ret, status = 0;

	memset(res, 0, sizeof(*res));
	if (bench_fio_applies(kind, j, err, errlen) != BENCH_FIO_RUNS)
		return -EOPNOTSUPP;
	ret = bench_fio_argv(kind, j, &argv);
	if (ret) {
		snprintf(err, errlen, "command line too long");
		return ret;
	}
	/* t/io_uring runs whole seconds (tio_secs()); its window is of those. */
	secs = kind == BENCH_FIO_TIO ? tio_secs(j) : j->runtime_s;
	w.from_ns = (uint64_t)(secs * 1e9 * BENCH_WINDOW_FROM);
	w.to_ns = (uint64_t)(secs * 1e9 * BENCH_WINDOW_TO);
	getrusage(RUSAGE_CHILDREN, &r0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	out = run_capture(argv.argv, &status, &w);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	getrusage(RUSAGE_CHILDREN, &r1);
	if (!out) {
		snprintf(err, errlen, "%s: %s", bench_fio_name(kind), strerror(errno));
		return -EIO;
	}
	if (kind == BENCH_FIO_TIO) {
		timersub(&r1.ru_utime, &r0.ru_utime, &d.ru_utime);
		timersub(&r1.ru_stime, &r0.ru_stime, &d.ru_stime);
		ret = status ? -EIO : parse_tio(out, (double)(t1.tv_sec - t0.tv_sec) +
						(double)(t1.tv_nsec - t0.tv_nsec) / 1e9, &d, &w,
						j, res, err, errlen);
		if (status)
			exit_failed(kind, status, out, err, errlen);
	} else {
		ret = parse_fio(j, out, res, err, errlen);
		/* A job error says more than the exit status; without one, the status. */
		if (!ret && status) {
			exit_failed(kind, status, out, err, errlen);
			ret = -EIO;
		}
		if (!ret)
			fio_machine(j, &w, res);
		if (!ret && j->sqpoll) {
			timersub(&r1.ru_utime, &r0.ru_utime, &d.ru_utime);
			timersub(&r1.ru_stime, &r0.ru_stime, &d.ru_stime);
			res->usr_s = tv_s(&d.ru_utime);
			res->sys_s = tv_s(&d.ru_stime);
			res->cpu_ns_per_io = res->ios ? (res->usr_s + res->sys_s) * 1e9 /
							(double)res->ios : NAN;
		}
	}
	free(out);
	return ret;
}
