/* SPDX-License-Identifier: MIT */
/*
 * The fio baselines of regbuf bench io: fio's io_uring engine with its
 * defaults, fio tuned as an expert would run it, and t/io_uring (fio's
 * peak-IOPS tool) built from the same fio source tree.
 */
#ifndef REGBUF_BENCH_FIO_H
#define REGBUF_BENCH_FIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum bench_fio_kind {
	BENCH_FIO_DEFAULT,	/* ioengine=io_uring, direct=1, nothing else */
	BENCH_FIO_TUNED,	/* + fixedbufs, registerfiles, batching, hugepage memory */
	BENCH_FIO_TIO,		/* t/io_uring: registered ring, files and buffers */
	BENCH_FIO_NR,
};

struct bench_fio_job {
	const char *path;
	uint64_t file_size;
	const char *rw;		/* randread, randwrite, read, write */
	bool write, rnd;
	uint32_t bs, qd, threads;
	double runtime_s;
	bool huge;		/* 2 MiB hugepages are free for fio's buffers */
	bool poll;		/* polled I/O: fio hipri, t/io_uring -p1 */
	bool sqpoll;		/* an SQ thread: fio sqthread_poll (t/io_uring has none) */
};

struct bench_fio_res {
	uint64_t ios, bytes, errors;
	double iops, bw_bytes, elapsed_s, usr_s, sys_s, cpu_ns_per_io;
	double machine_ns_per_io;	/* bench_busy_ns() over the window's I/Os */
	double p50_ns, p99_ns, p999_ns;	/* NaN when the tool does not report them */
};

const char *bench_fio_name(enum bench_fio_kind kind);

enum bench_fio_fit {
	BENCH_FIO_RUNS,
	BENCH_FIO_NOT_APPLICABLE,	/* the tool cannot express the job (t/io_uring writes) */
	BENCH_FIO_UNAVAILABLE,		/* the machine lacks it (no fio tree that built it) */
};

/*
 * Whether @kind can run @job here; if not, @why says why and, when the machine
 * lacks it, what would enable it.
 */
enum bench_fio_fit bench_fio_applies(enum bench_fio_kind kind, const struct bench_fio_job *job,
				     char *why, size_t len);

/* Run once; 0, or -errno with @err set. */
int bench_fio_run(enum bench_fio_kind kind, const struct bench_fio_job *job,
		  struct bench_fio_res *res, char *err, size_t errlen);

#endif
