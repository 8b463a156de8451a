/* SPDX-License-Identifier: MIT */
/*
 * regbuf-fio.so internals: the engine glue (regbuf-fio.c) and one table of
 * operations per backend (uring.c, uring_cmd.c, nvme.c; ring.c is the ring
 * pool both io_uring backends share).  The glue owns the arena every job's
 * buffers come from and calls the backend for everything device-specific.
 */
#ifndef REGBUF_FIO_ENGINE_H
#define REGBUF_FIO_ENGINE_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "fio.h"

#include <regbuf/alloc.h>
#include <regbuf/mem.h>
#include <regbuf/nvme.h>
#include <regbuf/nvme_spec.h>
#include <regbuf/uring.h>

enum rb_backend_id { RB_URING, RB_URING_CMD, RB_NVME };
enum rb_sgl { RB_SGL_AUTO, RB_SGL_ON, RB_SGL_OFF };
enum rb_tier { RB_TIER_1G, RB_TIER_2M, RB_TIER_THP, RB_TIER_4K };

/* The job options (fio's option_struct), laid out as rb_options[] describes. */
struct rb_options {
	void *pad;			/* fio stores the thread_data here */
	unsigned int backend;
	unsigned int mem_tier;
	unsigned int mem_require;
	unsigned int mem_size_mb;
	unsigned int registerfiles;
	unsigned int sqthread_poll;
	unsigned int enable_sgl;
	unsigned int nsid;
	unsigned int allow_unsafe;
	unsigned int hipri;
	/* uring_cmd: metadata and protection information (fio 3.37's io_uring_cmd
	 * option names; fio 3.33 has none of them) */
	unsigned int md_per_io_size;
	unsigned int pi_act;
	char *pi_chk;
	unsigned int apptag;
	unsigned int apptag_mask;
	unsigned int lazy_register;
	unsigned int prchk;	/* pi_chk as PRCHK bits, parsed at setup (not an option) */
};

struct rb_file {
	struct regbuf_uring_file uf;	/* fd: the real descriptor */
	bool fixed;			/* registered at index fileno */
	bool blkdev;			/* a block device: trim is a discard */
};

/* One job (fio's io_ops_data). */
struct rb_data {
	struct rb_options *o;
	bool holds_ref;
	struct regbuf_alloc_span iobuf;
	bool has_iobuf;
	struct io_u **events;		/* reaped, handed to fio by event() */
	struct io_u **pending;		/* queued since the last commit */
	unsigned int nr_pending;
	unsigned int depth;
	/* Dataset Management ranges (trim on the NVMe backends): one per I/O in flight */
	struct regbuf_alloc_span dsm;
	bool has_dsm;
	uint32_t *dsm_free;		/* free range indices, a stack */
	unsigned int dsm_nfree;
	/* io_uring backends (ring.c) */
	struct regbuf_uring_ring *ring;
	bool ring_fd_reg;
	struct rb_file *files;		/* uring: per fio file, by fileno */
	unsigned int nr_files;
	uint64_t nr_ios, nr_cmds;	/* uring_cmd: fio I/Os, NVMe commands sent for them */
	uint64_t nr_split, nr_split_sqes; /* uring: I/Os over several kernel buffers, their SQEs */
	uint8_t *md;			/* uring_cmd: md_per_io_size bytes per io_u, in the arena */
	/* nvme */
	struct regbuf_nvme_qpair *qp;
	struct regbuf_nvme_cpl *cpls;
	unsigned int io_flags;		/* REGBUF_NVME_IO_F_* */
};

/*
 * A backend.  "locked" operations run with rb.lock held; the others in the
 * job's own thread.  A NULL operation does nothing (returns 0).
 */
struct rb_ops {
	const char *name;
	/* filename= names a device handle, not a file fio may create or extend */
	bool raw;
	/* can register the arena piece by piece as I/O reaches it (lazy_register=1) */
	bool lazy;
	/* fio's setup hook, before the files are sized: open the device once */
	int (*setup_locked)(struct thread_data *td);
	/* the file's size, for a raw backend (the device opened in setup) */
	int (*get_file_size)(struct thread_data *td, struct fio_file *f);
	/* arena bytes a job needs beside fio's buffers (NULL: none) */
	size_t (*job_extra)(struct thread_data *td);
	/* the arena exists: register or DMA-map it for every job; -errno */
	int (*map_locked)(struct thread_data *td);
	/* what the backend got, once per process (rb_info()) */
	void (*report_locked)(void);
	/* post_init: the job's ring or queue pair; the locked part, then the rest */
	int (*job_attach_locked)(struct thread_data *td, struct rb_data *d);
	int (*job_start)(struct thread_data *td, struct rb_data *d);
	int (*open_file)(struct thread_data *td, struct fio_file *f);
	int (*close_file)(struct thread_data *td, struct fio_file *f);
	enum fio_q_status (*queue)(struct thread_data *td, struct io_u *io_u);
	/* hand what queue() prepared to the device; -1 with td's error set */
	int (*commit)(struct thread_data *td, struct rb_data *d);
	/* completions into d->events[have..max); returns the new count */
	unsigned int (*reap)(struct rb_data *d, unsigned int have, unsigned int min,
			     unsigned int max);
	/* block for @nr more completions, at most @t (NULL: no limit); 0, 1 when @t
	 * expired, or -errno with td's error set.  NULL: completions are polled. */
	int (*wait)(struct thread_data *td, struct rb_data *d, unsigned int nr,
		    const struct timespec *t);
	void (*job_cleanup)(struct thread_data *td, struct rb_data *d);
	/* the last job is gone: release what map_locked() and setup_locked() made */
	void (*release_locked)(void);
};

extern const struct rb_ops rb_uring_ops, rb_uring_cmd_ops, rb_nvme_ops;

/* The process-wide part: one arena, one registration, shared by every job. */
struct rb_proc {
	pthread_mutex_t lock;
	unsigned int users;		/* jobs between init and cleanup */
	unsigned int done;		/* jobs that went through init and cleanup */
	const struct rb_ops *ops;	/* the backend every job uses */
	struct regbuf_mem *mem;
	struct regbuf_alloc *alloc;
	uint64_t slot_len;		/* bytes of the arena per allocator slot and kernel buffer */
	uint64_t setup_ns;		/* arena + registration (+ clone), wall clock */
	bool reported;
};
extern struct rb_proc rb;

/* regbuf-fio.c: what regbuf got, with fio's normal output (stderr under json/terse). */
void rb_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* CLOCK_MONOTONIC in ns. */
uint64_t rb_now_ns(void);
/* Set @td's error (-errno or errno) so that fio reports the job failed and exits non-zero. */
void rb_fail(struct thread_data *td, int err, const char *what);
/* An operation @backend cannot do: logged with its name, the I/O failed with EOPNOTSUPP. */
enum fio_q_status rb_unsupported(struct thread_data *td, struct io_u *io_u, const char *backend);
/*
 * A Dataset Management range for @io_u (in the arena, so registered and
 * DMA-mapped), filled for the trim's blocks and kept in io_u->engine_data
 * until rb_dsm_put(); NULL when every range is in flight.
 */
struct regbuf_nvme_dsm_range *rb_dsm_get(struct rb_data *d, struct io_u *io_u,
					 unsigned int lba_shift);
void rb_dsm_put(struct rb_data *d, struct io_u *io_u);
/* Mark @td's filename= as a device handle: never created, extended or sized as a file. */
void rb_set_raw(struct thread_data *td);
/* The file named first by @td's job, or NULL with the error logged (@what: the backend's need). */
const char *rb_first_file(struct thread_data *td, const char *what);

/* ring.c: the ring pool of both io_uring backends. */
unsigned long long rb_max_bs(void);
int rb_ring_map_locked(struct thread_data *td, unsigned int per_io, unsigned int pool_flags,
		       uint64_t buf_len, const char *buf_len_what);
void rb_ring_report_locked(void);
/*
 * lazy_register: register the arena's pieces that hold [@buf, @buf + @len)
 * if they are not yet; 0, or -errno with the reason logged (fail the I/O).
 */
int rb_ring_reach(struct thread_data *td, const void *buf, uint64_t len);
int rb_ring_attach_locked(struct thread_data *td, struct rb_data *d);
int rb_ring_start(struct thread_data *td, struct rb_data *d);
int rb_ring_commit(struct thread_data *td, struct rb_data *d);
unsigned int rb_ring_reap(struct rb_data *d, unsigned int have, unsigned int min,
			  unsigned int max, bool (*done)(struct rb_data *d, struct io_u *io_u,
							 const struct io_uring_cqe *cqe));
int rb_ring_wait(struct thread_data *td, struct rb_data *d, unsigned int nr,
		 const struct timespec *t);
void rb_ring_job_cleanup(struct thread_data *td, struct rb_data *d);
void rb_ring_release_locked(void);

#endif /* REGBUF_FIO_ENGINE_H */
