/* SPDX-License-Identifier: MIT */
/*
 * regbuf-bench, the benchmark lab: shared helpers of the experiments
 * (bench*.c, nvme.c).  Uses only public headers and liburing.
 */
#ifndef REGBUF_BENCH_H
#define REGBUF_BENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/uio.h>

#define KiB (UINT64_C(1) << 10)
#define MiB (UINT64_C(1) << 20)
#define GiB (UINT64_C(1) << 30)

/* ---- JSON, written to a growing buffer, printed once at the end ---- */
struct json {
	char *buf;
	size_t len, cap;
	int depth;
	bool first[32];
};

void json_open(struct json *j, const char *key, char kind);	/* kind '{' or '[' */
void json_close(struct json *j, char kind);
void json_str(struct json *j, const char *key, const char *val);
void json_num(struct json *j, const char *key, double val);	/* NaN -> null */
void json_int(struct json *j, const char *key, int64_t val);
void json_bool(struct json *j, const char *key, bool val);
void json_null(struct json *j, const char *key);
void json_raw(struct json *j, const char *key, const char *text);	/* a JSON value as is */

/* ---- options shared by the sub-commands ---- */
struct bench_opts {
	bool json;
	bool quick;
	bool strict;		/* --strict: a row skipped for a missing prerequisite
				 * fails the run too */
	uint32_t reps;
	struct json *j;		/* non-NULL when --json */
};

/*
 * One experiment: its options (a table for opt_parse(), defaults in the
 * variables it points at), a check of what the table cannot express (option
 * combinations, the file given), run before anything is touched, and the run.
 * run() returns 0, 1 (a row failed, or with --strict was skipped: bench_rows_exit())
 * or 2 (usage).
 */
struct opt_spec;
struct bench_cmd {
	const char *name;
	const char *summary;
	struct opt_spec *opts;
	int (*check)(const struct bench_opts *o, char *err, size_t errlen);
	int (*run)(const struct bench_opts *o);
};

extern const struct bench_cmd bench_reg_cmd, bench_clone_cmd, bench_io_cmd, bench_nvme_cmd;

/* regbuf bench [options] [experiment [options]] (bench.c); argv[0] is not read. */
int cmd_bench(int argc, char **argv);

/*
 * How a row ended.  A row is BENCH_ROW_SKIPPED only when it was not attempted
 * because the machine lacks a prerequisite (a memory tier's pages, fio, a fio
 * tree, a device, a kernel feature, io_uring itself), and its reason says
 * what would enable it; a row that was attempted and did not produce every
 * repetition is BENCH_ROW_FAILED, always.
 */
enum bench_row { BENCH_ROW_MEASURED, BENCH_ROW_SKIPPED, BENCH_ROW_FAILED };

/* The word before a row's reason: "skipped", "FAILED (--strict)" or "FAILED". */
const char *bench_row_word(const struct bench_opts *o, enum bench_row st);
/* "status": "measured" | "skipped" | "error", and the reason under "skipped" or "error". */
void bench_row_json(struct json *j, enum bench_row st, const char *why);
/* An experiment's exit status: 1 when a row failed, or with --strict was skipped; else 0. */
int bench_rows_exit(const struct bench_opts *o, int skipped, int failed);
/* Whether io_uring_setup()'s -errno means no io_uring here (-ENOSYS, -EPERM), and why in @why. */
bool bench_uring_refused(int ret, char *why, size_t wlen);

/* Progress for long steps: stderr, never stdout. */
void bench_progress(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

double bench_median(double *v, int n);

/*
 * What a process has done so far, as the kernel counts it: CPU time of every
 * thread it has now (the first field of /proc/PID/task/TID/schedstat, the
 * scheduler's sum_exec_runtime: user + system time, interrupts included that
 * arrived while a thread ran), and bytes its threads submitted for reading
 * from storage (read_bytes in /proc/PID/io, counted by the block layer as
 * each bio is submitted, O_DIRECT and io_uring included).  Two samples taken
 * while a run is in its steady state measure it the same way for any
 * process, ours or a peer's, without its own setup and teardown.
 */
struct bench_proc {
	uint64_t cpu_ns;
	uint64_t read_bytes;
	uint64_t at_ns;		/* CLOCK_MONOTONIC when taken */
	/* the machine: see bench_busy_ns() */
	uint64_t idle_ns, steal_ns;
	uint32_t ncpu;
};

/*
 * Busy time of every CPU of the machine between two samples: CPUs times the
 * time between them, less the time the CPUs were idle (the cpuidle states'
 * residency, in microseconds, else /proc/stat's idle and iowait) and the
 * time the hypervisor ran something else (steal).  Unlike a process's CPU
 * time it holds the interrupts that arrived while the CPU was idle, and the
 * kernel's work done in other tasks' time (kworkers, softirqs): on a quiet
 * machine, all that a run cost.  NAN when the samples disagree.
 */
double bench_busy_ns(const struct bench_proc *a, const struct bench_proc *b);

/*
 * Wait (up to 3 s) until the machine is quiet: less than a tenth of its CPUs
 * busy over 50 ms.  What a run leaves behind (a ring's exit unpinning its
 * buffers in a kernel worker, a process's memory being freed) would
 * otherwise be counted in the next run's window.
 */
void bench_settle(void);

/* The steady-state window of a timed run: from this fraction of its runtime to that. */
#define BENCH_WINDOW_FROM 0.25
#define BENCH_WINDOW_TO 0.9

/* Sample process @pid (0: this one); 0 or -errno (the process is gone: -ENOENT). */
int bench_proc_sample(int pid, struct bench_proc *s);

/* ---- memory tiers, mapped by the bench itself (prefaulted) ---- */
enum bench_tier { TIER_4K, TIER_THP, TIER_2M, TIER_1G, TIER_NR };
extern const char *const bench_tier_name[TIER_NR];

struct bench_mem {
	void *addr;
	uint64_t len;		/* mapped length */
	enum bench_tier tier;
	char why[160];		/* when the tier could not be had */
};

/* Map @len bytes of @tier, prefaulted; as root, reserves hugetlb pages
 * (restored by bench_hugepages_restore()).  Returns 0 or -errno + m->why. */
int bench_mem_map(struct bench_mem *m, uint64_t len, enum bench_tier tier);
void bench_mem_unmap(struct bench_mem *m);
void bench_hugepages_restore(void);
/* As root, make @len bytes of @tier hugetlb pages free (restored as above). */
int bench_hugepages_reserve(enum bench_tier tier, uint64_t len, char *why, size_t wlen);

/* Consecutive iovecs of @chunk bytes (the last shorter) over [addr, addr + len). */
uint32_t bench_chunk_iov(struct iovec *iov, uint32_t max, void *addr, uint64_t len,
			 uint64_t chunk);

/* "@what: <error>", and for -ENOMEM over RLIMIT_MEMLOCK the numbers and the fix (bench_reg.c). */
void bench_register_failed(int ret, const char *what, const struct iovec *iov, uint32_t n,
			   char *why, size_t wlen);

/* bench_map.c: ns per I/O to fill an NVMe command's data pointer; 0, or 1 on failure. */
int bench_map(uint32_t runs, uint64_t buf_len, bool json);


#endif /* REGBUF_BENCH_H */
