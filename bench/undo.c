// SPDX-License-Identifier: MIT
/*
 * regbuf CLI: undo log for the changes a command makes outside itself (see
 * undo.h).  The signal handler may run at any point, so what it reads is in
 * fixed static arrays and it uses only async-signal-safe calls (open, read,
 * write, unlink, close, kill, waitpid); the main thread changes those arrays
 * with the signals blocked.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "undo.h"

#define NR_COUNTERS 8
#define NR_FILES 4

struct counter {
	char path[128];
	long floor;		/* the value without any live run's raise: never given back below */
	long added;		/* what this run added */
};

static struct counter counters[NR_COUNTERS];
static char files[NR_FILES][PATH_MAX];
static volatile sig_atomic_t nr_counters, nr_files;
static volatile pid_t child;
static char state_dir[PATH_MAX], state_path[PATH_MAX + 32];
static int state_fd = -1;
static pid_t owner;
static const char *owner_cmd = "regbuf";

static const int undo_signals[] = { SIGINT, SIGTERM, SIGHUP };

/* ---- async-signal-safe helpers ---- */

static void put(const char *s)
{
	ssize_t r = write(STDERR_FILENO, s, strlen(s));

	(void)r;
}

/* Decimal of @v into @buf (>= 24 bytes), returns @buf. */
static char *ltoa10(long v, char *buf)
{
	char tmp[24];
	unsigned long u = v < 0 ? 0UL - (unsigned long)v : (unsigned long)v;
	int n = 0, i = 0;

	do {
		tmp[n++] = (char)('0' + u % 10);
		u /= 10;
	} while (u);
	if (v < 0)
		buf[i++] = '-';
	while (n)
		buf[i++] = tmp[--n];
	buf[i] = '\0';
	return buf;
}

long undo_read_long(const char *path)
{
	char buf[32];
	long v = 0;
	ssize_t n, i;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0 || buf[0] < '0' || buf[0] > '9')
		return -1;
	for (i = 0; i < n && buf[i] >= '0' && buf[i] <= '9'; i++)
		v = v * 10 + (buf[i] - '0');
	return v;
}

static int write_long(const char *path, long v)
{
	char buf[32];
	size_t len;
	ssize_t n;
	int fd = open(path, O_WRONLY | O_CLOEXEC), err = 0;

	if (fd < 0)
		return -errno;
	ltoa10(v, buf);
	len = strlen(buf);
	buf[len++] = '\n';
	n = write(fd, buf, len);
	if (n != (ssize_t)len)
		err = n < 0 ? -errno : -EIO;
	close(fd);
	return err;
}

/*
 * Give back @added to the counter at @path, but never below @floor: when
 * someone lowered the counter meanwhile, what they took came out of this
 * run's raise first, and what is left of @floor belongs to others.  Reports
 * "path a -> b" if @say.  Huge pages still mapped (by this process, or
 * pinned by an io_uring being torn down) turn into surplus pages and leave
 * the pool when they are freed: nr_hugepages reads the old value until then.
 */
static void counter_giveback(const char *path, long added, long floor, bool say)
{
	char a[24], b[24];
	long cur = undo_read_long(path);

	if (cur < 0)
		return;
	if (cur - added < floor)
		added = cur - floor;
	if (added <= 0)
		return;
	write_long(path, cur - added);
	if (say) {
		put("regbuf: restored ");
		put(path);
		put(" ");
		put(ltoa10(cur, a));
		put(" -> ");
		put(ltoa10(cur - added, b));
		if (undo_read_long(path) != cur - added)
			put(" (pages still in use leave the pool when they are freed)");
		put("\n");
	}
}

/* Everything recorded, undone; safe in a signal handler. */
static void undo_all(bool say)
{
	char a[24];
	pid_t pid = child;
	int i;

	/* First the child: what it maps must be unmapped before the pool shrinks. */
	if (pid > 0 && !kill(pid, SIGKILL)) {
		while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
			;
		if (say) {
			put("regbuf: stopped child process ");
			put(ltoa10((long)pid, a));
			put("\n");
		}
	}
	child = 0;

	for (i = 0; i < nr_counters; i++) {
		counter_giveback(counters[i].path, counters[i].added, counters[i].floor, say);
		counters[i].added = 0;
	}
	for (i = 0; i < nr_files; i++) {
		if (files[i][0] && !unlink(files[i]) && say) {
			put("regbuf: removed ");
			put(files[i]);
			put("\n");
		}
		files[i][0] = '\0';
	}
	if (state_fd >= 0) {
		unlink(state_path);
		close(state_fd);
		state_fd = -1;
	}
}

static void on_signal(int sig)
{
	/* A forked child (bench map --json) inherits the handler, not the changes. */
	if (getpid() == owner) {
		put("regbuf: ");
		put(owner_cmd);
		put(": interrupted, undoing its changes\n");
		undo_all(true);
	}
	signal(sig, SIG_DFL);
	raise(sig);
}

/* ---- state file ---- */

void undo_signals_block(sigset_t *old)
{
	sigset_t s;
	size_t i;

	sigemptyset(&s);
	for (i = 0; i < sizeof(undo_signals) / sizeof(undo_signals[0]); i++)
		sigaddset(&s, undo_signals[i]);
	pthread_sigmask(SIG_BLOCK, &s, old);
}

void undo_signals_restore(const sigset_t *old)
{
	pthread_sigmask(SIG_SETMASK, old, NULL);
}

static int pick_dir(void)
{
	const char *env = getenv("REGBUF_STATE_DIR");
	struct stat st;

	if (env && *env)
		snprintf(state_dir, sizeof(state_dir), "%s", env);
	else if (!geteuid())
		snprintf(state_dir, sizeof(state_dir), "/run/regbuf");
	else
		snprintf(state_dir, sizeof(state_dir), "/var/tmp/regbuf-%u", (unsigned int)geteuid());
	if (mkdir(state_dir, 0700) && errno != EEXIST)
		return -errno;
	/* Someone else's directory (or a symlink planted in /var/tmp): not ours to trust. */
	if (lstat(state_dir, &st))
		return -errno;
	if (!S_ISDIR(st.st_mode) || st.st_uid != geteuid())
		return -EPERM;
	return 0;
}

/* Rewrite the state file from the arrays (signals blocked by the caller). */
static int state_save(void)
{
	char buf[NR_COUNTERS * 200 + NR_FILES * (PATH_MAX + 8) + 128];
	size_t len = 0;
	int i;

	if (state_fd < 0) {
		char tmp[PATH_MAX + 32];

		if (!state_dir[0])
			return -EINVAL;		/* undo_init() first */
		/* Locked before it has its final name: a recovering run never sees it unlocked. */
		snprintf(tmp, sizeof(tmp), "%s/%d.new", state_dir, (int)owner);
		state_fd = open(tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		if (state_fd < 0)
			return -errno;
		if (flock(state_fd, LOCK_EX) || rename(tmp, state_path)) {
			int err = -errno;

			unlink(tmp);
			close(state_fd);
			state_fd = -1;
			return err;
		}
	}
	len += (size_t)snprintf(buf + len, sizeof(buf) - len, "regbuf-state 1 pid %d %s\n",
				(int)owner, owner_cmd);
	for (i = 0; i < nr_counters; i++)
		len += (size_t)snprintf(buf + len, sizeof(buf) - len, "counter %ld %ld %s\n",
					counters[i].floor, counters[i].added, counters[i].path);
	for (i = 0; i < nr_files; i++)
		if (files[i][0])
			len += (size_t)snprintf(buf + len, sizeof(buf) - len, "file %s\n", files[i]);
	if (pwrite(state_fd, buf, len, 0) != (ssize_t)len || ftruncate(state_fd, (off_t)len) ||
	    fdatasync(state_fd))
		return -EIO;
	return 0;
}

/* Undo what a dead run's state file @path lists. */
static void recover_one(const char *path)
{
	char line[PATH_MAX + 64], cmd[64], *p;
	long floor, added;
	int pid;
	FILE *f;
	int fd = open(path, O_RDWR | O_CLOEXEC);

	if (fd < 0)
		return;
	if (flock(fd, LOCK_EX | LOCK_NB)) {
		close(fd);	/* its run is alive */
		return;
	}
	f = fdopen(fd, "r");
	if (!f) {
		close(fd);
		return;
	}
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = '\0';
		if (sscanf(line, "regbuf-state 1 pid %d %63s", &pid, cmd) == 2) {
			fprintf(stderr, "regbuf: %s (pid %d) was killed before it could undo its "
				"changes; undoing them now\n", cmd, pid);
		} else if (sscanf(line, "counter %ld %ld", &floor, &added) == 2 &&
			   (p = strchr(line + 8, ' ')) && (p = strchr(p + 1, ' '))) {
			counter_giveback(p + 1, added, floor, true);
		} else if (!strncmp(line, "file ", 5) && line[5] == '/') {
			if (!unlink(line + 5))
				fprintf(stderr, "regbuf: removed %s\n", line + 5);
		}
	}
	unlink(path);
	fclose(f);
}

static void recover(void)
{
	char path[PATH_MAX + 300];
	struct dirent *de;
	size_t n;
	DIR *d = opendir(state_dir);

	while (d && (de = readdir(d))) {
		n = strlen(de->d_name);
		if (n < 7 || strcmp(de->d_name + n - 6, ".state"))
			continue;
		snprintf(path, sizeof(path), "%s/%s", state_dir, de->d_name);
		recover_one(path);
	}
	if (d)
		closedir(d);
}

int undo_init(const char *cmd)
{
	struct sigaction sa;
	size_t i;
	int ret;

	owner = getpid();
	owner_cmd = cmd;
	ret = pick_dir();
	if (ret)
		return ret;
	snprintf(state_path, sizeof(state_path), "%s/%d.state", state_dir, (int)owner);
	recover();
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigfillset(&sa.sa_mask);
	for (i = 0; i < sizeof(undo_signals) / sizeof(undo_signals[0]); i++)
		sigaction(undo_signals[i], &sa, NULL);
	return 0;
}

/*
 * What the other live runs (their state files locked) say they added to
 * @path: the part of its value that is theirs to give back, not this run's
 * floor.  A dead run's file was undone by undo_init() already.
 */
static long live_added(const char *path)
{
	char file[PATH_MAX + 300], line[PATH_MAX + 64], *p;
	long floor, added, sum = 0;
	struct dirent *de;
	DIR *d = opendir(state_dir);
	size_t n;
	FILE *f;
	int fd;

	while (d && (de = readdir(d))) {
		n = strlen(de->d_name);
		if (n < 7 || strcmp(de->d_name + n - 6, ".state"))
			continue;
		snprintf(file, sizeof(file), "%s/%s", state_dir, de->d_name);
		if (!strcmp(file, state_path))
			continue;
		fd = open(file, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		if (!flock(fd, LOCK_SH | LOCK_NB) || errno != EWOULDBLOCK || !(f = fdopen(fd, "r"))) {
			close(fd);	/* not held by a live run */
			continue;
		}
		while (fgets(line, sizeof(line), f)) {
			line[strcspn(line, "\n")] = '\0';
			if (sscanf(line, "counter %ld %ld", &floor, &added) == 2 &&
			    (p = strchr(line + 8, ' ')) && (p = strchr(p + 1, ' ')) &&
			    !strcmp(p + 1, path) && added > 0)
				sum += added;
		}
		fclose(f);
	}
	if (d)
		closedir(d);
	return sum;
}

long undo_counter_write(const char *path, long value)
{
	struct counter *c = NULL;
	sigset_t old;
	long cur, now;
	int i, ret;

	undo_signals_block(&old);
	cur = undo_read_long(path);
	for (i = 0; i < nr_counters; i++)
		if (!strcmp(counters[i].path, path))
			c = &counters[i];
	if (!c) {
		if (nr_counters == NR_COUNTERS || strlen(path) >= sizeof(c->path)) {
			undo_signals_restore(&old);
			return -ENOSPC;
		}
		c = &counters[nr_counters];
		snprintf(c->path, sizeof(c->path), "%s", path);
		c->floor = cur - live_added(path);
		if (c->floor < 0)
			c->floor = 0;
		c->added = 0;
		nr_counters++;
	}
	/* Recorded before the write: killed in between, the next run gives back at most this. */
	if (value > cur)
		c->added += value - cur;
	ret = state_save();
	if (!ret)
		ret = write_long(path, value);
	now = undo_read_long(path);
	if (value > cur)
		c->added -= value - cur;
	if (now > cur)
		c->added += now - cur;
	if (state_fd >= 0)
		state_save();
	undo_signals_restore(&old);
	if (ret)
		return ret;
	if (now > cur && getenv("REGBUF_PAUSE_AFTER_RAISE")) {
		char a[24];

		put("regbuf: paused after raising ");
		put(path);
		put(" (pid ");
		put(ltoa10((long)owner, a));
		put(")\n");
		for (;;)
			pause();
	}
	return now;
}

void undo_counters_restore(void)
{
	sigset_t old;
	int i;

	undo_signals_block(&old);
	for (i = 0; i < nr_counters; i++) {
		counter_giveback(counters[i].path, counters[i].added, counters[i].floor, false);
		counters[i].added = 0;
	}
	if (state_fd >= 0)
		state_save();
	undo_signals_restore(&old);
}

void undo_child_set(pid_t pid)
{
	child = pid;
}

int undo_file_add(const char *path)
{
	char abs[PATH_MAX];
	sigset_t old;
	int i, ret;

	if (!realpath(path, abs))
		return -errno;
	if (strchr(abs, '\n'))
		return -EINVAL;		/* one line per entry in the state file */
	undo_signals_block(&old);
	for (i = 0; i < nr_files && files[i][0]; i++)
		;
	if (i == NR_FILES) {
		undo_signals_restore(&old);
		return -ENOSPC;
	}
	snprintf(files[i], sizeof(files[i]), "%s", abs);
	if (i == nr_files)
		nr_files++;
	ret = state_save();
	undo_signals_restore(&old);
	return ret;
}

void undo_file_remove(const char *path)
{
	char abs[PATH_MAX];
	sigset_t old;
	int i;

	if (!realpath(path, abs))
		snprintf(abs, sizeof(abs), "%s", path);
	undo_signals_block(&old);
	unlink(path);
	for (i = 0; i < nr_files; i++)
		if (!strcmp(files[i], abs))
			files[i][0] = '\0';
	if (state_fd >= 0)
		state_save();
	undo_signals_restore(&old);
}

void undo_finish(void)
{
	sigset_t old;

	undo_signals_block(&old);
	undo_all(false);
	undo_signals_restore(&old);
}
