// SPDX-License-Identifier: MIT
/*
 * regbuf bench - the experiments, measured side by side in one run (medians
 * over repetitions; absolute times mean nothing across runs or machines):
 *   reg    kernel registration time per GiB by memory tier (bench_reg.c)
 *   clone  register again vs IORING_REGISTER_CLONE_BUFFERS (bench_clone.c)
 *   io     O_DIRECT fixed vs unfixed I/O through a ring pool, next to fio (bench_io.c)
 *   map    per-I/O NVMe descriptor cost (bench_map.c)
 *   nvme   random I/O on an NVMe controller, premapped vs per-I/O chain (nvme.c)
 * This is the lab binary regbuf-bench; the installed CLI runs it for
 * 'regbuf bench'.  A row this machine cannot offer (a prerequisite missing)
 * is skipped with its reason (--strict makes that a failure); a row that was
 * attempted and failed always fails the run.  This file: the option parsing
 * and dispatch, JSON output, and the memory tiers the experiments map
 * (hugetlb pages reserved through undo.c, so an interrupted run gives them
 * back).
 */
#include <errno.h>
#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <regbuf/mem.h>
#include <regbuf/table.h>
#include <regbuf/features.h>
#if REGBUF_HAVE_URING
#include <regbuf/uring.h>
#endif

#include "bench.h"
#include "cli.h"
#include "opt.h"
#include "undo.h"

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif
#ifndef MAP_HUGE_SHIFT
#define MAP_HUGE_SHIFT 26
#endif
#define MAP_HUGE_2M_FLAG (21U << MAP_HUGE_SHIFT)
#define MAP_HUGE_1G_FLAG (30U << MAP_HUGE_SHIFT)

const char *const bench_tier_name[TIER_NR] = { "4K", "THP", "2M", "1G" };

/* ---- small utilities ---- */

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

double bench_median(double *v, int n)
{
	if (n <= 0)
		return NAN;
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* One unsigned decimal after @key in a small /proc file; 0 or -errno. */
static int proc_field(const char *path, const char *key, uint64_t *val)
{
	char buf[1024], *p, *end;
	ssize_t n;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n < 0)
		return -errno;
	buf[n] = '\0';
	p = key[0] ? strstr(buf, key) : buf;
	if (!p)
		return -ENODATA;
	errno = 0;
	*val = strtoull(p + strlen(key), &end, 10);
	return end == p + strlen(key) || errno ? -ENODATA : 0;
}

/* Idle time of the online CPUs: their cpuidle states' residency (0: no cpuidle here). */
static int cpuidle_ns(uint64_t *idle, uint32_t *ncpu)
{
	char path[96];
	uint64_t us;
	int cpu, st, got = 0;

	*idle = 0;
	*ncpu = 0;
	for (cpu = 0; cpu < 4096; cpu++) {
		for (st = 0; st < 16; st++) {
			snprintf(path, sizeof(path), "/sys/devices/system/cpu/cpu%d/cpuidle/state%d/time",
				 cpu, st);
			if (proc_field(path, "", &us))
				break;
			*idle += us * 1000;
		}
		if (!st) {
			snprintf(path, sizeof(path), "/sys/devices/system/cpu/cpu%d", cpu);
			if (access(path, F_OK))
				break;
			continue;	/* offline, or no cpuidle: not counted */
		}
		(*ncpu)++;
		got = 1;
	}
	return got;
}

/* Idle (unless cpuidle gave it), iowait and steal of /proc/stat's "cpu" line, in ns. */
static int stat_times(struct bench_proc *s, bool idle)
{
	unsigned long long v[8];
	long hz = sysconf(_SC_CLK_TCK);
	char buf[512];
	FILE *f = fopen("/proc/stat", "re");
	int n = 0;

	if (f) {
		if (fgets(buf, sizeof(buf), f))
			n = sscanf(buf, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1],
				   &v[2], &v[3], &v[4], &v[5], &v[6], &v[7]);
		fclose(f);
	}
	if (n != 8 || hz <= 0)
		return -ENODATA;
	s->steal_ns = v[7] * (1000000000u / (uint64_t)hz);
	if (idle) {
		s->idle_ns = (v[3] + v[4]) * (1000000000u / (uint64_t)hz);
		s->ncpu = (uint32_t)sysconf(_SC_NPROCESSORS_ONLN);
	}
	return 0;
}

double bench_busy_ns(const struct bench_proc *a, const struct bench_proc *b)
{
	double busy;

	if (!a->ncpu || a->ncpu != b->ncpu || b->at_ns <= a->at_ns)
		return NAN;
	busy = (double)a->ncpu * (double)(b->at_ns - a->at_ns) -
	       ((double)b->idle_ns - (double)a->idle_ns) -
	       ((double)b->steal_ns - (double)a->steal_ns);
	return busy > 0 ? busy : NAN;
}

/* The machine's part of a sample (bench_busy_ns()): when, and every CPU's idle and steal time. */
static void machine_sample(struct bench_proc *s)
{
	s->at_ns = cli_now_ns();
	stat_times(s, !cpuidle_ns(&s->idle_ns, &s->ncpu));
}

void bench_settle(void)
{
	struct bench_proc a = { 0 }, b = { 0 };
	struct timespec ts = { 0, 50 * 1000 * 1000 };
	double busy;
	int i;

	for (i = 0; i < 60; i++) {
		machine_sample(&a);
		nanosleep(&ts, NULL);
		machine_sample(&b);
		busy = bench_busy_ns(&a, &b);
		if (isnan(busy) || busy < 0.1 * a.ncpu * (double)(b.at_ns - a.at_ns))
			return;
	}
}

int bench_proc_sample(int pid, struct bench_proc *s)
{
	char path[64], file[sizeof(path) + 256 + 16];
	struct dirent *de;
	uint64_t v;
	DIR *dir;
	int ret;

	memset(s, 0, sizeof(*s));
	if (!pid)
		pid = getpid();
	snprintf(path, sizeof(path), "/proc/%d/io", pid);
	ret = proc_field(path, "read_bytes: ", &s->read_bytes);
	if (ret)
		return ret;
	snprintf(path, sizeof(path), "/proc/%d/task", pid);
	dir = opendir(path);
	if (!dir)
		return -errno;
	while ((de = readdir(dir))) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(file, sizeof(file), "%s/%s/schedstat", path, de->d_name);
		/* A thread that exited meanwhile took its time with it. */
		if (!proc_field(file, "", &v))
			s->cpu_ns += v;
	}
	closedir(dir);
	machine_sample(s);
	return 0;
}

void bench_progress(const char *fmt, ...)
{
	va_list ap;

	fputs("bench: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* ---- how a row ended ---- */

const char *bench_row_word(const struct bench_opts *o, enum bench_row st)
{
	if (st == BENCH_ROW_SKIPPED)
		return o->strict ? "FAILED (--strict)" : "skipped";
	return st == BENCH_ROW_FAILED ? "FAILED" : "measured";
}

void bench_row_json(struct json *j, enum bench_row st, const char *why)
{
	static const char *const name[] = { "measured", "skipped", "error" };

	json_str(j, "status", name[st]);
	if (st != BENCH_ROW_MEASURED)
		json_str(j, name[st], why);
}

int bench_rows_exit(const struct bench_opts *o, int skipped, int failed)
{
	return failed || (skipped && o->strict) ? 1 : 0;
}

bool bench_uring_refused(int ret, char *why, size_t wlen)
{
	if (ret != -ENOSYS && ret != -EPERM)
		return false;
	snprintf(why, wlen, "io_uring refused by the kernel: %s (%s)", strerror(-ret),
		 ret == -ENOSYS ? "a kernel built without CONFIG_IO_URING, or a sandbox that "
		 "filters io_uring_setup()" : "sysctl kernel.io_uring_disabled=0 enables it, or "
		 "a container's seccomp profile that allows io_uring_setup()");
	return true;
}

/* ---- JSON ---- */

static void jput(struct json *j, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void jput(struct json *j, const char *fmt, ...)
{
	va_list ap;
	int n;

	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(j->buf + j->len, j->cap - j->len, fmt, ap);
		va_end(ap);
		if (n >= 0 && (size_t)n < j->cap - j->len)
			break;
		j->cap = j->cap ? j->cap * 2 + (size_t)n : 4096;
		j->buf = realloc(j->buf, j->cap);
		if (!j->buf)
			abort();
	}
	j->len += (size_t)n;
}

static void jkey(struct json *j, const char *key)
{
	if (!j->first[j->depth])
		jput(j, ",");
	j->first[j->depth] = false;
	jput(j, "\n%*s", 2 * j->depth, "");
	if (key)
		jput(j, "\"%s\": ", key);
}

void json_open(struct json *j, const char *key, char kind)
{
	if (j->depth || j->len)
		jkey(j, key);
	jput(j, "%c", kind);
	j->depth++;
	j->first[j->depth] = true;
}

void json_close(struct json *j, char kind)
{
	j->depth--;
	jput(j, "\n%*s%c", 2 * j->depth, "", kind == '{' ? '}' : ']');
}

void json_str(struct json *j, const char *key, const char *val)
{
	const char *p;

	jkey(j, key);
	jput(j, "\"");
	for (p = val; *p; p++) {
		if (*p == '"' || *p == '\\')
			jput(j, "\\%c", *p);
		else if ((unsigned char)*p < 0x20)
			jput(j, "\\u%04x", *p);
		else
			jput(j, "%c", *p);
	}
	jput(j, "\"");
}

void json_num(struct json *j, const char *key, double val)
{
	jkey(j, key);
	if (isnan(val) || isinf(val))
		jput(j, "null");
	else
		jput(j, "%.6g", val);
}

void json_int(struct json *j, const char *key, int64_t val)
{
	jkey(j, key);
	jput(j, "%" PRId64, val);
}

void json_bool(struct json *j, const char *key, bool val)
{
	jkey(j, key);
	jput(j, val ? "true" : "false");
}

void json_null(struct json *j, const char *key)
{
	jkey(j, key);
	jput(j, "null");
}

void json_raw(struct json *j, const char *key, const char *text)
{
	jkey(j, key);
	jput(j, "%s", text);
}

/* ---- memory tiers ---- */

static const char *const nr_path[TIER_NR] = {
	[TIER_2M] = "/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages",
	[TIER_1G] = "/sys/kernel/mm/hugepages/hugepages-1048576kB/nr_hugepages",
};
static const char *const free_path[TIER_NR] = {
	[TIER_2M] = "/sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages",
	[TIER_1G] = "/sys/kernel/mm/hugepages/hugepages-1048576kB/free_hugepages",
};
static const char *const resv_path[TIER_NR] = {
	[TIER_2M] = "/sys/kernel/mm/hugepages/hugepages-2048kB/resv_hugepages",
	[TIER_1G] = "/sys/kernel/mm/hugepages/hugepages-1048576kB/resv_hugepages",
};

/*
 * Pages a new mapping can have: free_hugepages also counts pages that other
 * mappings reserved and have not faulted yet (resv_hugepages), which mmap()
 * cannot take (hugetlb_acct_memory()).  < 0 without the pool.
 */
static long avail_pages(enum bench_tier t)
{
	long fr = undo_read_long(free_path[t]), resv = undo_read_long(resv_path[t]);

	if (fr < 0 || resv <= 0)
		return fr;
	return resv < fr ? fr - resv : 0;
}
void bench_hugepages_restore(void)
{
	undo_counters_restore();
}

/* A trigger, not a setting: nothing to give back afterwards. */
static void compact_memory(void)
{
	FILE *f = fopen("/proc/sys/vm/compact_memory", "w");

	if (f) {
		fputs("1\n", f);
		fclose(f);
	}
}

/* Make sure @need pages of the tier are free: reserve the difference as root. */
static int reserve(enum bench_tier t, long need, char *why, size_t wlen)
{
	long free_pages = avail_pages(t), cur;

	if (free_pages >= need)
		return 0;
	cur = undo_read_long(nr_path[t]);
	if (cur < 0) {
		snprintf(why, wlen, "no %s hugetlb pool on this machine (%s missing)",
			 bench_tier_name[t], nr_path[t]);
		return -ENOMEM;
	}
	if (geteuid()) {
		snprintf(why, wlen, "%ld of %ld free %s hugetlb pages; as root regbuf reserves "
			 "them (%s)", free_pages < 0 ? 0 : free_pages, need, bench_tier_name[t],
			 nr_path[t]);
		return -ENOMEM;
	}
	if (undo_counter_write(nr_path[t], cur + need - free_pages) >= 0 &&
	    avail_pages(t) < need) {
		/* Fragmented: compact once and ask again for the rest. */
		compact_memory();
		undo_counter_write(nr_path[t], cur + need - free_pages);
	}
	if (avail_pages(t) < need) {
		snprintf(why, wlen, "reserved only %ld of %ld %s pages (memory fragmented: %s)",
			 avail_pages(t), need, bench_tier_name[t], nr_path[t]);
		return -ENOMEM;
	}
	return 0;
}

int bench_hugepages_reserve(enum bench_tier tier, uint64_t len, char *why, size_t wlen)
{
	if (tier != TIER_2M && tier != TIER_1G)
		return -EINVAL;
	return reserve(tier, (long)((len + (tier == TIER_2M ? 2 * MiB : GiB) - 1) >>
				    (tier == TIER_2M ? 21 : 30)), why, wlen);
}

int bench_mem_map(struct bench_mem *m, uint64_t len, enum bench_tier tier)
{
	int flags = MAP_PRIVATE | MAP_ANONYMOUS;
	uint8_t *p, *al;
	uint64_t got;
	int ret;

	memset(m, 0, sizeof(*m));
	m->tier = tier;
	switch (tier) {
	case TIER_4K:
	case TIER_THP:
		p = mmap(NULL, len + 2 * MiB, PROT_READ | PROT_WRITE, flags, -1, 0);
		if (p == MAP_FAILED) {
			ret = -errno;
			snprintf(m->why, sizeof(m->why), "mmap: %s", strerror(errno));
			return ret;
		}
		/* Folio-aligned start, so THPs can back the whole range. */
		al = (uint8_t *)(((uintptr_t)p + (uintptr_t)(2 * MiB - 1)) & ~(uintptr_t)(2 * MiB - 1));
		if (al > p)
			munmap(p, (size_t)(al - p));
		if (al + len < p + len + 2 * MiB)
			munmap(al + len, (size_t)(p + len + 2 * MiB - (al + len)));
		madvise(al, len, tier == TIER_THP ? MADV_HUGEPAGE : MADV_NOHUGEPAGE);
		if (madvise(al, len, MADV_POPULATE_WRITE))
			memset(al, 0, len);
		m->addr = al;
		m->len = len;
		if (tier == TIER_THP) {
			if (regbuf_mem_huge_bytes(al, len, &got))
				got = 0;
			if (got < len) {
				snprintf(m->why, sizeof(m->why), "only %" PRIu64 " of %" PRIu64
					 " MiB backed by THP (transparent_hugepage/enabled, "
					 "defrag)", got >> 20, len >> 20);
				munmap(al, len);
				m->addr = NULL;
				return -ENOMEM;
			}
		}
		return 0;
	case TIER_2M:
	case TIER_1G:
		len = tier == TIER_2M ? (len + 2 * MiB - 1) & ~(2 * MiB - 1)
				      : (len + GiB - 1) & ~(GiB - 1);
		ret = reserve(tier, (long)(len >> (tier == TIER_2M ? 21 : 30)), m->why,
			      sizeof(m->why));
		if (ret)
			return ret;
		flags |= MAP_HUGETLB | MAP_POPULATE |
			 (int)(tier == TIER_2M ? MAP_HUGE_2M_FLAG : MAP_HUGE_1G_FLAG);
		p = mmap(NULL, len, PROT_READ | PROT_WRITE, flags, -1, 0);
		if (p == MAP_FAILED) {
			ret = -errno;
			snprintf(m->why, sizeof(m->why), "mmap MAP_HUGETLB: %s", strerror(errno));
			return ret;
		}
		m->addr = p;
		m->len = len;
		return 0;
	case TIER_NR:
		break;
	}
	return -EINVAL;
}

void bench_mem_unmap(struct bench_mem *m)
{
	if (m->addr)
		munmap(m->addr, m->len);
	m->addr = NULL;
}

/* Consecutive <= 1 GiB iovecs over [addr, addr + len): the kernel's per-buffer limit. */
uint32_t bench_chunk_iov(struct iovec *iov, uint32_t max, void *addr, uint64_t len,
			  uint64_t chunk)
{
	uint32_t n = 0;
	uint64_t off;

	for (off = 0; off < len && n < max; off += chunk, n++) {
		iov[n].iov_base = (uint8_t *)addr + off;
		iov[n].iov_len = len - off < chunk ? len - off : chunk;
	}
	return n;
}

/* ---- header ---- */

static void header(const struct bench_opts *o)
{
#if REGBUF_HAVE_URING
	struct regbuf_uring_pool *pool;
	struct regbuf_uring_status st;
	struct iovec iov;
	static uint8_t page[4096] __attribute__((aligned(4096)));
#endif
	struct utsname u;
	const char *path = "not built (no liburing)";

	uname(&u);
#if REGBUF_HAVE_URING
	path = "unknown";
	iov = (struct iovec){ page, sizeof(page) };
	if (regbuf_uring_pool_create(&pool, 2, 8, 0, 0) == 0) {
		if (regbuf_uring_pool_register(pool, &iov, 1, 0) == 0) {
			regbuf_uring_pool_status(pool, &st);
			path = regbuf_uring_path_name(st.path);
		}
		regbuf_uring_pool_destroy(pool);
	}
#endif
	if (o->j) {
		json_str(o->j, "regbuf version", REGBUF_VERSION);
		json_int(o->j, "timestamp", (int64_t)time(NULL));
		json_str(o->j, "kernel", u.release);
		json_int(o->j, "cpus", sysconf(_SC_NPROCESSORS_ONLN));
		json_str(o->j, "pool_path", path);
		return;
	}
	printf("regbuf bench %s: kernel %s, %ld CPUs, ring pool path: %s\n", REGBUF_VERSION,
	       u.release, sysconf(_SC_NPROCESSORS_ONLN), path);
	printf("(ratios are side by side in this run; never compare absolute numbers across runs)\n");
}

/* ---- map: its options here, the measurement in bench_map.c ---- */

static uint32_t map_runs = 31;
static uint64_t map_buffer_mib = 1024;

static struct opt_spec map_opts[] = {
	OPT_U32("runs", &map_runs, 1, 101, "N", "runs per I/O size; the median is reported"),
	OPT_U64("buffer-mib", &map_buffer_mib, 4, 65536, "MIB",
		"buffer the random offsets fall in, MiB, even"),
	OPT_END
};

static int map_check(const struct bench_opts *o, char *err, size_t errlen)
{
	(void)o;
	if (map_buffer_mib % 2) {
		snprintf(err, errlen, "--buffer-mib: '%" PRIu64 "' is odd (an even number 4..65536)",
			 map_buffer_mib);
		return 2;
	}
	return 0;
}

/* bench_map() prints its own JSON document: run it in a child, embed its stdout. */
static int map_json(struct json *j)
{
	char *out = NULL, *p;
	size_t len = 0, cap = 0;
	ssize_t n;
	int fds[2], status = 0;
	pid_t pid;

	if (pipe(fds))
		return -errno;
	fflush(stdout);
	pid = fork();
	if (pid < 0) {
		close(fds[0]);
		close(fds[1]);
		return -errno;
	}
	if (pid == 0) {
		close(fds[0]);
		if (dup2(fds[1], STDOUT_FILENO) < 0)
			_exit(99);
		_exit(bench_map(map_runs, map_buffer_mib * MiB, true) ? 1 : 0);
	}
	close(fds[1]);
	for (;;) {
		if (cap - len < 4096) {
			cap = cap ? cap * 2 : 65536;
			p = realloc(out, cap);
			if (!p)
				break;
			out = p;
		}
		n = read(fds[0], out + len, cap - len - 1);
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	close(fds[0]);
	waitpid(pid, &status, 0);
	if (out)
		out[len] = '\0';
	for (p = out; p && (*p == ' ' || *p == '\n'); p++)
		;
	if (!p || *p != '{' || !WIFEXITED(status) || WEXITSTATUS(status)) {
		json_open(j, "map", '{');
		bench_row_json(j, BENCH_ROW_FAILED, "bench map failed or printed no JSON object");
		json_close(j, '{');
		free(out);
		return -EIO;
	}
	while (len && (out[len - 1] == '\n' || out[len - 1] == ' '))
		out[--len] = '\0';
	json_raw(j, "map", p);
	free(out);
	return 0;
}

static int map_run(const struct bench_opts *o)
{
	if (o->j)
		return map_json(o->j) ? 1 : 0;
	printf("\n== map: per-I/O NVMe descriptor cost (dma layer)\n");
	fflush(stdout);
	return bench_map(map_runs, map_buffer_mib * MiB, false);
}

static const struct bench_cmd bench_map_cmd = {
	.name = "map",
	.summary = "per-I/O NVMe descriptor cost, premapped vs per-I/O chain",
	.opts = map_opts,
	.check = map_check,
	.run = map_run,
};

/* ---- dispatcher ---- */

static const struct bench_cmd *const bench_cmds[] = {
	&bench_reg_cmd, &bench_clone_cmd, &bench_io_cmd, &bench_map_cmd, &bench_nvme_cmd, NULL,
};

static struct bench_opts bench_o = { .reps = 5 };
static bool bench_skip_unavailable;	/* accepted, and what happens anyway */

static struct opt_spec bench_common_opts[] = {
	OPT_FLAG("json", &bench_o.json, "one JSON document on stdout (progress stays on stderr)"),
	OPT_FLAG("quick", &bench_o.quick, "smaller sizes, fewer rows and repetitions"),
	OPT_U32("reps", &bench_o.reps, 1, 32, "N", "repetitions; medians are reported"),
	OPT_FLAG("strict", &bench_o.strict,
		 "a row skipped because this machine lacks what it needs fails the run (exit 1) "
		 "too"),
	OPT_FLAG("skip-unavailable", &bench_skip_unavailable,
		 "the default: a row this machine cannot offer is skipped (for older scripts)"),
	OPT_END
};

static void usage(void)
{
	struct opt_spec *common[] = { bench_common_opts, NULL };
	int i;

	printf("usage: regbuf bench [options] [reg|clone|io|map|nvme [options]]\n"
	       "  (the lab binary regbuf-bench takes the same arguments)\n"
	       "  no experiment: every one with its defaults (io on a temporary O_DIRECT file\n"
	       "  in the current directory; as root, hugepages are reserved and given back\n"
	       "  afterwards, also when interrupted; nvme only with a device).  What this\n"
	       "  machine cannot offer is skipped with the reason and what would enable it.\n"
	       "  Progress goes to stderr.\n"
	       "options (before or after the experiment):\n");
	opt_usage(stdout, common);
	opt_usage_help(stdout);
	for (i = 0; bench_cmds[i]; i++) {
		struct opt_spec *own[] = { bench_cmds[i]->opts, NULL };

		printf("%s: %s\n", bench_cmds[i]->name, bench_cmds[i]->summary);
		opt_usage(stdout, own);
	}
	printf("exit status: 0 every row measured, or skipped because this machine lacks what it\n"
	       "needs (the reason says what would enable it); 1 a row was attempted and FAILED (an\n"
	       "I/O or registration error, a tool that exited non-zero, missing repetitions), or\n"
	       "with --strict a row was skipped; 2 bad usage (nothing was touched)\n");
}

static void usage_cmd(const struct bench_cmd *c)
{
	struct opt_spec *t[] = { c->opts, bench_common_opts, NULL };

	printf("usage: regbuf bench %s [options]\n  %s\n", c->name, c->summary);
	opt_usage(stdout, t);
	opt_usage_help(stdout);
}

/* Parse the experiment's options (and the common ones after its name): OPT_*. */
static int parse_cmd(const struct bench_cmd *c, int argc, char **argv)
{
	struct opt_spec *t[] = { c->opts, bench_common_opts, NULL };
	char err[OPT_ERR_LEN], what[32];
	int first, ret = opt_parse(t, argc, argv, false, &first, err, sizeof(err));

	snprintf(what, sizeof(what), "bench %s", c->name);
	if (ret == OPT_HELP) {
		usage_cmd(c);
		return OPT_HELP;
	}
	if (ret == OPT_OK)
		ret = opt_no_operands(argc, argv, first, err, sizeof(err));
	if (ret)
		cli_err(what, "%s", err);
	return ret;
}

static int run(const struct bench_cmd *only)
{
	struct json j = { 0 };
	int i, rc, worst = 0, ret;

	ret = undo_init("bench");
	if (ret) {
		cli_err("bench", "cannot keep the state that undoes an interrupted run: %s "
			"(set REGBUF_STATE_DIR to a directory of yours)", strerror(-ret));
		return 1;
	}
	if (bench_o.json) {
		bench_o.j = &j;
		json_open(&j, NULL, '{');
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	header(&bench_o);
	for (i = 0; bench_cmds[i]; i++) {
		if (only && only != bench_cmds[i])
			continue;
		rc = bench_cmds[i]->run(&bench_o);
		if (rc > worst)
			worst = rc;
	}
	undo_finish();
	if (bench_o.json) {
		json_close(&j, '{');
		fwrite(j.buf, 1, j.len, stdout);
		fputc('\n', stdout);
		free(j.buf);
	}
	return worst;
}

int cmd_bench(int argc, char **argv)
{
	struct opt_spec *common[] = { bench_common_opts, NULL };
	const struct bench_cmd *only = NULL;
	char err[OPT_ERR_LEN];
	int i, first, ret;

	ret = opt_parse(common, argc, argv, true, &first, err, sizeof(err));
	if (ret == OPT_HELP) {
		usage();
		return 0;
	}
	if (ret) {
		cli_err("bench", "%s", err);
		return 2;
	}
	if (first < argc) {
		for (i = 0; bench_cmds[i] && strcmp(bench_cmds[i]->name, argv[first]); i++)
			;
		only = bench_cmds[i];
		if (!only) {
			cli_err("bench", "unknown experiment '%s' (reg, clone, io, map, nvme)",
				argv[first]);
			return 2;
		}
		ret = parse_cmd(only, argc - first, argv + first);
		if (ret)
			return ret == OPT_HELP ? 0 : 2;
	}
	/* Everything the tables cannot say, before anything is touched. */
	for (i = 0; bench_cmds[i]; i++) {
		if ((only && only != bench_cmds[i]) || !bench_cmds[i]->check)
			continue;
		if (bench_cmds[i]->check(&bench_o, err, sizeof(err))) {
			char what[32];

			snprintf(what, sizeof(what), "bench %s", bench_cmds[i]->name);
			cli_err(what, "%s", err);
			return 2;
		}
	}
	return run(only);
}
