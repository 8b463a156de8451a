// SPDX-License-Identifier: MIT
/*
 * tests/cli: run the built regbuf binary (see clirun.h).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "clirun.h"

const char *cli_path(void)
{
	return REGBUF_CLI;
}

/* 'regbuf bench' runs this build's lab binary (the installed CLI finds it beside itself). */
__attribute__((constructor)) static void cli_bench_env(void)
{
	setenv("REGBUF_BENCH", REGBUF_BENCH_BIN, 1);
}

static void split(const char *args, char *buf, size_t len, char **argv, int max)
{
	int n = 0;
	char *p;

	argv[n++] = (char *)"regbuf";
	snprintf(buf, len, "%s", args);
	for (p = strtok(buf, " "); p && n < max - 1; p = strtok(NULL, " "))
		argv[n++] = p;
	argv[n] = NULL;
}

static pid_t spawn(const char *args, int out_fd, int err_fd)
{
	char buf[1024], *argv[64];
	pid_t pid;

	split(args, buf, sizeof(buf), argv, 64);
	pid = fork();
	if (pid)
		return pid;
	int null = open("/dev/null", O_RDONLY);

	dup2(null, STDIN_FILENO);
	dup2(out_fd, STDOUT_FILENO);
	dup2(err_fd, STDERR_FILENO);
	execv(REGBUF_CLI, argv);
	_exit(127);
}

static int status_of(int st)
{
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int cli_run(struct cli_out *o, int timeout_s, const char *args)
{
	int po[2], pe[2], st, open_fds = 2;
	size_t lo = 0, le = 0;
	double end = now_s() + timeout_s;
	pid_t pid;

	memset(o, 0, sizeof(*o));
	if (pipe(po) || pipe(pe))
		return -1;
	pid = spawn(args, po[1], pe[1]);
	close(po[1]);
	close(pe[1]);
	if (pid < 0)
		return -1;
	while (open_fds && now_s() < end) {
		struct pollfd p[2] = { { po[0], POLLIN, 0 }, { pe[0], POLLIN, 0 } };
		int i;

		if (poll(p, 2, 100) <= 0)
			continue;
		for (i = 0; i < 2; i++) {
			char *buf = i ? o->err : o->out;
			size_t *used = i ? &le : &lo, cap = i ? sizeof(o->err) : sizeof(o->out);
			char sink[4096];
			ssize_t n;

			if (!(p[i].revents & (POLLIN | POLLHUP)) || p[i].fd < 0)
				continue;
			if (*used < cap - 1)
				n = read(p[i].fd, buf + *used, cap - 1 - *used);
			else
				n = read(p[i].fd, sink, sizeof(sink));
			if (n <= 0) {
				close(p[i].fd);
				if (i)
					pe[0] = -1;
				else
					po[0] = -1;
				open_fds--;
			} else if (*used < cap - 1) {
				*used += (size_t)n;
			}
		}
		if (po[0] < 0 && pe[0] < 0)
			break;
	}
	if (open_fds) {
		kill(pid, SIGKILL);
		if (po[0] >= 0)
			close(po[0]);
		if (pe[0] >= 0)
			close(pe[0]);
	}
	waitpid(pid, &st, 0);
	o->status = status_of(st);
	return open_fds ? -1 : 0;
}

pid_t cli_start(const char *args, int *errfd)
{
	int pe[2], null = open("/dev/null", O_WRONLY);
	pid_t pid;

	if (null < 0 || pipe(pe))
		return -1;
	pid = spawn(args, null, pe[1]);
	close(pe[1]);
	close(null);
	*errfd = pe[0];
	return pid;
}

bool cli_wait_for(int fd, char *buf, size_t len, const char *needle, int timeout_s)
{
	double end = now_s() + timeout_s;
	size_t used = strlen(buf);

	while (!strstr(buf, needle) && now_s() < end && used < len - 1) {
		struct pollfd p = { fd, POLLIN, 0 };
		ssize_t n;

		if (poll(&p, 1, 100) <= 0)
			continue;
		n = read(fd, buf + used, len - 1 - used);
		if (n <= 0)
			break;
		used += (size_t)n;
		buf[used] = '\0';
	}
	return strstr(buf, needle) != NULL;
}

void cli_snapshot(const char *dir, char *buf, size_t len)
{
	struct dirent **names;
	char path[4096];
	size_t used = 0;
	struct stat st;
	int n, i;

	buf[0] = '\0';
	n = scandir(dir, &names, NULL, alphasort);
	for (i = 0; i < n; i++) {
		/* ".." is the shared parent: other programs change it. */
		if (!strcmp(names[i]->d_name, "..")) {
			free(names[i]);
			continue;
		}
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]->d_name);
		if (!lstat(path, &st) && used < len)
			used += (size_t)snprintf(buf + used, len - used, "%s:%lld:%lld.%09ld ",
						 names[i]->d_name, (long long)st.st_size,
						 (long long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
		free(names[i]);
	}
	if (n >= 0)
		free(names);
}

static long read_long(const char *path)
{
	FILE *f = fopen(path, "r");
	long v = -1;

	if (f) {
		if (fscanf(f, "%ld", &v) != 1)
			v = -1;
		fclose(f);
	}
	return v;
}

long cli_nr_hugepages_2m(void)
{
	return read_long("/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages");
}

void cli_hugepages(char *buf, size_t len)
{
	snprintf(buf, len, "2M=%ld 1G=%ld", cli_nr_hugepages_2m(),
		 read_long("/sys/kernel/mm/hugepages/hugepages-1048576kB/nr_hugepages"));
}
