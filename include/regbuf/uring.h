/* SPDX-License-Identifier: MIT */
/*
 * regbuf uring: the kernel path.  A pool of io_uring rings (one per thread)
 * sharing one registration of I/O memory: registered once in ring 0, then
 * cloned into the others with IORING_REGISTER_CLONE_BUFFERS (kernel 6.12
 * whole table, 6.13 ranges and DST_REPLACE), or registered again on kernels
 * without clone.  Memory longer than 1 GiB is registered as consecutive
 * <= 1 GiB kernel buffers (io_buffer_validate() refuses more) and addressed
 * by pointer: regbuf finds the slot and splits an I/O crossing a boundary.
 *
 * Fixed I/O obeys O_DIRECT alignment (statx STATX_DIOALIGN); a misaligned
 * request is refused with -EINVAL before anything is submitted.
 *
 * Memlock: the kernel charges registered memory against RLIMIT_MEMLOCK of the
 * ring's user (not for CAP_IPC_LOCK), a whole huge page per huge page
 * touched, once per ring registration; clones are not charged again.  The
 * pool predicts the charge before registering and fails with -ENOMEM and a
 * queryable reason instead of the kernel's bare -ENOMEM.
 */
#ifndef REGBUF_URING_H
#define REGBUF_URING_H

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include <linux/nvme_ioctl.h>
#include <liburing.h>

#include <regbuf/compiler.h>
#include <regbuf/nvme_spec.h>
#include <regbuf/seg.h>
#include <regbuf/table.h>

#ifdef __cplusplus
extern "C" {
#endif

struct regbuf_uring_pool;

/*
 * The kernel's limits are defined once, in table.h: %REGBUF_BUF_MAX_LEN (a
 * kernel buffer, SZ_1G; a longer registered entry becomes consecutive slots
 * of this size, so it is the slot_len to give regbuf_alloc_create() for an
 * arena registered as one entry) and %REGBUF_MAX_RW_COUNT (the longest
 * single read or write).
 */

/**
 * DOC: user_data bits
 *
 * The pool reserves the top 16 bits of every SQE's user_data it prepares
 * (regbuf_uring_prep_rw(), regbuf_uring_prep_rwv(), regbuf_uring_nvme_*()):
 *
 * - bit 63 (%REGBUF_URING_TAG_BIT) marks a buffer tag CQE, posted when a
 *   slot's memory is released (regbuf_uring_cqe_is_tag());
 * - bits 62..48 carry the index of the piece: an I/O the pool queues as several
 *   SQEs (an extent crossing kernel buffers, an NVMe transfer cut into commands)
 *   completes once per piece, and piece i's CQE has user_data
 *   ``user_data | (i << REGBUF_URING_PIECE_SHIFT)``.  Piece 0 leaves user_data
 *   as given, so an I/O of one SQE completes with the caller's value.
 *   regbuf_uring_cqe_user_data() and regbuf_uring_cqe_piece() take a CQE
 *   apart; regbuf_uring_piece() says which bytes piece i covers.
 *
 * The caller's user_data must fit in bits 47..0 (%REGBUF_URING_USER_DATA_MASK):
 * any pointer mmap() or malloc() return does on Linux x86-64 and arm64 (user
 * addresses above 2^47 / 2^48 exist only for mmap() hints that ask for them).
 */
#define REGBUF_URING_TAG_BIT		(UINT64_C(1) << 63)
#define REGBUF_URING_PIECE_SHIFT	48
/* At most this many SQEs for one I/O: the piece index has 15 bits. */
#define REGBUF_URING_MAX_PIECES		(1U << 15)
#define REGBUF_URING_USER_DATA_MASK	((UINT64_C(1) << REGBUF_URING_PIECE_SHIFT) - 1)

/* Pool flags (regbuf_uring_pool_create()). */
/* Run unregistered I/O (plain READ/WRITE) when registration fails. */
#define REGBUF_URING_POOL_F_DEGRADE		(1U << 0)
/* Never register: plain READ/WRITE, reported as "registration disabled". */
#define REGBUF_URING_POOL_F_NO_REGISTER		(1U << 1)
/* Skip the memlock preflight and let the kernel decide (tests compare both). */
#define REGBUF_URING_POOL_F_NO_PREFLIGHT	(1U << 2)
/* Behave as on a kernel without clone (< 6.12): register again in every ring. */
#define REGBUF_URING_POOL_F_NO_CLONE		(1U << 3)
/* Behave as on 6.12: whole-table clone only, updates registered per ring. */
#define REGBUF_URING_POOL_F_CLONE_WHOLE_ONLY	(1U << 4)
/* Behave as before 6.15: vectored fixed I/O split into fixed reads/writes. */
#define REGBUF_URING_POOL_F_NO_RWV_FIXED	(1U << 5)
/* Rings for NVMe passthrough: IORING_SETUP_SQE128 | IORING_SETUP_CQE32 added. */
#define REGBUF_URING_POOL_F_NVME_CMD		(1U << 6)
/* Polled rings (IORING_SETUP_IOPOLL): see DOC: Polled I/O. */
#define REGBUF_URING_POOL_F_IOPOLL		(1U << 7)
/* Hybrid polling (IORING_SETUP_HYBRID_IOPOLL, Linux 6.13): implies IOPOLL. */
#define REGBUF_URING_POOL_F_HYBRID_IOPOLL	(1U << 8)

/**
 * DOC: Polled I/O
 *
 * A pool created with %REGBUF_URING_POOL_F_IOPOLL has IORING_SETUP_IOPOLL
 * rings: a completion raises no interrupt, it is found by polling the
 * device's poll queues from io_uring_enter(IORING_ENTER_GETEVENTS), in the
 * thread that reaps (or by the SQ thread of an IORING_SETUP_SQPOLL ring).
 * %REGBUF_URING_POOL_F_HYBRID_IOPOLL (Linux 6.13) sleeps first for about
 * half the time completions have been taking, then polls.  The rules:
 *
 * - Direct I/O only, on a queue that has poll queues: O_DIRECT reads and
 *   writes of block devices and of files on them, and NVMe passthrough
 *   (uring_cmd iopoll, Linux 6.1).  regbuf_uring_file_init() and
 *   regbuf_uring_nvme_open() ask regbuf_uring_poll_check(), and a polling
 *   ring refuses I/O on a file or namespace without poll queues with
 *   -EOPNOTSUPP before anything is queued: such a queue would take the I/O
 *   and complete it by interrupt while the poller spins (newer kernels fail
 *   it with -EOPNOTSUPP in the CQE instead), and neither is polled I/O.  The
 *   kernel still fails, with -EOPNOTSUPP in the CQE, I/O on a filesystem
 *   that cannot poll (no ->iopoll); regbuf_uring_poll_check() gives the
 *   reason for the other cases.
 * - Reaping polls: io_uring_submit_and_wait(), io_uring_wait_cqe() and
 *   regbuf's own waits enter the kernel, which spins on the device until
 *   the CQEs are there.  A CQE is never posted behind the reaper's back: a
 *   peek at the CQ ring without entering the kernel finds only what an
 *   earlier poll reaped.  With nothing in flight, a wait returns at once
 *   (there is nothing to poll), so a wait loop for a CQE that no I/O will
 *   produce spins in user space.
 * - Buffer tags: a tag CQE (regbuf_uring_cqe_is_tag()) is posted to ring 0
 *   when the old buffer's last I/O has been reaped, as on any ring; since
 *   reaping is polling, the tag of a buffer updated under in-flight I/O
 *   appears once that I/O is polled to completion.
 */

/* How the registration reached rings 1..N-1. */
enum regbuf_uring_path {
	REGBUF_URING_PATH_NONE,		/* nothing registered (yet, or disabled/failed) */
	REGBUF_URING_PATH_SINGLE,	/* a pool of one ring */
	REGBUF_URING_PATH_CLONE,	/* kernel clone with ranges (6.13+) */
	REGBUF_URING_PATH_CLONE_WHOLE,	/* kernel whole-table clone (6.12) */
	REGBUF_URING_PATH_REGISTER,	/* registered again in every ring (charged N times) */
};

enum regbuf_uring_reg_state {
	REGBUF_URING_REG_NONE,		/* nothing registered: none attempted, or unregistered */
	REGBUF_URING_REG_ACTIVE,	/* fixed buffers in use */
	REGBUF_URING_REG_DISABLED,	/* REGBUF_URING_POOL_F_NO_REGISTER: by configuration */
	/*
	 * The last registration failed.  With REGBUF_URING_POOL_F_DEGRADE the
	 * pool runs unregistered I/O over the memory it was given (the status
	 * keeps its slots and bytes); without it nothing is registered (0
	 * slots, 0 bytes), update and unregister answer -ENXIO, and register
	 * may be called again.
	 */
	REGBUF_URING_REG_FAILED,
};

/**
 * struct regbuf_uring_memlock - what a registration will be charged
 * @needed: bytes io_buffer_account_pin() charges for the registration (what
 *          the kernel adds to the user's locked_vm when @charged; computed
 *          either way)
 * @pinned: bytes this process already has pinned (VmPin; the kernel's counter is
 *          per user across processes, so other processes of the user are not seen);
 *          read only where the limit is enforced (@charged and a finite @soft),
 *          0 otherwise
 * @rings: bytes already charged for the pool's own rings: since the ring
 *         memory moved to io_create_region() (kernel 6.14) each ring's SQ/CQ
 *         and SQE array are charged to the same per-user counter, not shown
 *         in VmPin
 * @soft: RLIMIT_MEMLOCK soft limit (the one the kernel checks), RLIM_INFINITY as
 *        UINT64_MAX; the real limit also when it is not enforced (!@charged)
 * @hard: RLIMIT_MEMLOCK hard limit
 * @charges: how many rings pay (1 with clone, N when registering again)
 * @charged: false when the rings' creator had CAP_IPC_LOCK: the kernel then
 *           leaves ctx->user unset, charges nothing and does not enforce
 *           @soft (the other fields still say what would apply without it)
 * @huge: true when some huge page (hugetlb or PMD-mapped THP) is charged
 *        whole although the buffers cover only part of it, so that the charge
 *        is more than the pages registered
 * @new_rings: 0 for a registration; for the creation of rings, how many:
 *	@needed is then their own memory (regbuf_uring_ring_memlock() each)
 */
struct regbuf_uring_memlock {
	uint64_t needed;
	uint64_t pinned;
	uint64_t rings;
	uint64_t soft;
	uint64_t hard;
	uint32_t charges;
	bool charged;
	bool huge;
	uint32_t new_rings;
};

/**
 * struct regbuf_uring_status - the pool's registration, as a query
 * @state: registered, disabled, failed or none
 * @path: how rings 1..N-1 got the table
 * @err: -errno of the failed step when @state is FAILED, else 0
 * @nr_rings: rings in the pool
 * @nr_slots: kernel table slots in use (sparse slots included); with @state
 *            DISABLED or FAILED + REGBUF_URING_POOL_F_DEGRADE, the slots of
 *            the unregistered I/O; 0 after a failure without the degrade flag
 * @nr_bytes: bytes registered (same rule as @nr_slots)
 * @register_ns: time spent registering (ring 0, or all rings on the REGISTER path)
 * @clone_ns: time spent cloning into rings 1..N-1
 * @memlock: the last preflight's numbers
 * @reason: why registration is not active, with the numbers and the fix
 */
struct regbuf_uring_status {
	enum regbuf_uring_reg_state state;
	enum regbuf_uring_path path;
	int err;
	uint32_t nr_rings;
	uint32_t nr_slots;
	uint64_t nr_bytes;
	uint64_t register_ns;
	uint64_t clone_ns;
	struct regbuf_uring_memlock memlock;
	char reason[512];
};

/**
 * struct regbuf_uring_file - a file opened for (fixed) I/O, with its alignment
 * @fd: the file descriptor
 * @mem_align: required memory alignment (1 when not O_DIRECT)
 * @off_align: required file offset and length alignment (1 when not O_DIRECT)
 * @poll: polled I/O reaches it (regbuf_uring_poll_check(), asked by
 *	regbuf_uring_file_init()); a polling ring refuses I/O on a file without it
 * @slot: its index in @pool's file table
 * @pool: the pool whose rings hold @fd at @slot (regbuf_uring_pool_file_add()),
 *	or NULL: I/O on that pool's rings names the slot (IOSQE_FIXED_FILE),
 *	elsewhere the descriptor
 *
 * Zero-initialized fields past @off_align mean: not pollable, in no file table.
 */
struct regbuf_uring_file {
	int fd;
	uint32_t mem_align;
	uint32_t off_align;
	bool poll;
	uint32_t slot;
	struct regbuf_uring_pool *pool;
};

/**
 * struct regbuf_uring_features - what this kernel's io_uring offers registered buffers
 * @ring_features: IORING_FEAT_* of a ring created now (io_uring_params.features)
 * @probe: IORING_REGISTER_PROBE answered (5.6+); the four op fields are false otherwise
 * @read_fixed: IORING_OP_READ_FIXED is supported
 * @write_fixed: IORING_OP_WRITE_FIXED is supported
 * @readv_fixed: IORING_OP_READV_FIXED is supported (6.15)
 * @writev_fixed: IORING_OP_WRITEV_FIXED is supported (6.15)
 * @buffers: 0 when registering one 4 KiB buffer worked, else the kernel's
 *	-errno (-ENOMEM: RLIMIT_MEMLOCK, or no memory for the trial buffer)
 * @buffers2_sparse: 0 when IORING_REGISTER_BUFFERS2 with a sparse table works
 *	(5.19), else the kernel's -errno
 * @clone_whole: 0 when IORING_REGISTER_CLONE_BUFFERS of a whole table works
 *	(6.12), else -errno (-EINVAL: no such opcode)
 * @clone_ranges: 0 when clone with offsets, ranges and DST_REPLACE works
 *	(6.13), else -errno (-EINVAL: a 6.12 kernel)
 *
 * The pool takes its clone and READV/WRITEV_FIXED decisions from the same
 * probes (regbuf_uring_pool_create()).
 */
struct regbuf_uring_features {
	uint32_t ring_features;
	bool probe;
	bool read_fixed;
	bool write_fixed;
	bool readv_fixed;
	bool writev_fixed;
	int buffers;
	int buffers2_sparse;
	int clone_whole;
	int clone_ranges;
};

/* One kernel buffer: slot -> [base, base + len).  Sorted by base in a map. */
struct regbuf_uring_slotref {
	uint64_t base;
	uint64_t len;
	uint32_t slot;
};

/*
 * The pointer -> slot map of a pool, shared by its rings.  Rewritten in place
 * under a sequence count (a seqlock): @seq is odd while the pool rewrites it,
 * and a reader that saw it odd, or changed across its search, searches again.
 * Its capacity is the kernel's table limit, so it is never reallocated and a
 * reader never follows a pointer to memory that could be freed under it.
 * Every field is read and written with atomic accesses.
 */
struct regbuf_uring_map {
	uint32_t seq;
	uint32_t nr;
	uint32_t cap;
	struct regbuf_uring_slotref e[];
};

/**
 * struct regbuf_uring_loc - where a pointer is registered
 * @slot: the kernel buffer (the SQE's buf_index)
 * @offset: bytes from the start of the slot's memory to the address
 * @len: bytes of the range looked up that lie in this slot (at most the
 *	length asked for; less when the range continues in the next slot)
 * @slot_len: length of the slot's memory
 */
struct regbuf_uring_loc {
	uint32_t slot;
	uint64_t offset;
	uint64_t len;
	uint64_t slot_len;
};

/**
 * struct regbuf_uring_ring - one ring of a pool, used by one thread
 * @ring: the liburing ring; submit and reap with liburing as usual
 *
 * Tag CQEs (user_data with REGBUF_URING_TAG_BIT set, res 0) arrive on ring 0
 * when an updated slot's memory is finally released (and an unregistered
 * slot's, on kernels that post tags when unregistering: 6.18 does, 6.1 does
 * not); test
 * every CQE with regbuf_uring_cqe_is_tag() before treating it as an I/O (and
 * count it with regbuf_uring_ring_count_tag() if regbuf_uring_tags_seen()
 * should see it).
 */
struct regbuf_uring_ring {
	struct io_uring ring;
	/* private: */
	struct regbuf_uring_map *map;	/* the pool's; fixed for the ring's life */
	struct regbuf_uring_pool *pool;
	uint32_t idx;
	bool fixed;			/* registration active (atomic) */
	bool plain;			/* unregistered I/O: disabled, or degraded (atomic) */
	bool rwv_fixed;			/* READV/WRITEV_FIXED supported */
	bool iopoll;			/* IORING_SETUP_IOPOLL */
	uint64_t tags_seen;
	uint64_t last_tag;
	/* the map entry this ring's last lookup found, while map->seq == cache_seq */
	struct regbuf_uring_slotref cache;
	uint32_t cache_seq;
};

/*
 * Rings in one pool at most.  The kernel sets no limit of its own: each ring
 * is a file descriptor (RLIMIT_NOFILE) and, since Linux 6.14, charges its
 * memory to RLIMIT_MEMLOCK (regbuf_uring_ring_memlock()).
 */
#define REGBUF_URING_POOL_MAX_RINGS	65536

/**
 * DOC: pools shared by forked processes
 *
 * One registration can serve many processes when the pool is made before
 * fork: create the rings (one per worker), register shared memory (a memfd,
 * hugetlbfs or shmem: REGBUF_MEM_F_MEMFD, or a MAP_SHARED mapping) and let
 * the pool clone the table into every ring, then fork; each worker uses only
 * its own ring (regbuf_uring_pool_ring()).  The memory is charged to
 * RLIMIT_MEMLOCK once, in the parent (clones are not charged), plus each
 * ring's own memory on Linux 6.14+.  What the kernel allows:
 *
 * - private memory does not work: pages pinned for I/O are copied for the
 *   child at fork, so a worker's stores miss the registered page;
 * - a ring made after fork, or in another process, is accounted to that
 *   process's mm, and the kernel refuses to clone into it (-EINVAL,
 *   io_clone_buffers()): such a process makes its own pool and registers
 *   again, charged again; its status then says %REGBUF_URING_PATH_CLONE for
 *   its own rings only;
 * - IORING_SETUP_SINGLE_ISSUER (and DEFER_TASKRUN, which needs it) ties a
 *   ring to its creator: a worker's submission fails with -EEXIST; created
 *   with R_DISABLED as well, the rings are registered and cloned disabled
 *   and each worker enables its own (regbuf_uring_ring_enable()), becoming
 *   its issuer (the parent's registration changes are then refused);
 * - the registration is changed (update, mirror, unregister) by the parent
 *   before fork only: a worker's copy of the pool, its map and its status are
 *   the parent's at fork and do not follow changes made elsewhere.
 */

/**
 * regbuf_uring_pool_create() - create a pool of io_uring rings
 * @poolp: the new pool
 * @nr_rings: rings (one per thread or forked process), 1..%REGBUF_URING_POOL_MAX_RINGS
 * @entries: SQ entries per ring
 * @setup_flags: IORING_SETUP_* flags for every ring (0 is fine).  With
 *	SINGLE_ISSUER (and DEFER_TASKRUN, which needs it) a ring belongs to the
 *	task that creates it, or with R_DISABLED to the task that enables it
 *	(regbuf_uring_ring_enable()); any other task's submissions and
 *	registrations on it fail with -EEXIST
 * @flags: REGBUF_URING_POOL_F_*
 *
 * Probes clone support (a clone from an empty table: -ENXIO means supported,
 * a non-zero offset refused with -EINVAL means 6.12 whole-table only) and
 * READV_FIXED (IORING_REGISTER_PROBE).  Rings are created with
 * IORING_SETUP_NO_SQARRAY where the kernel has it (6.6): SQE i is always
 * queued at SQ index i, so the kernel need not read an index per SQE.
 * %REGBUF_URING_POOL_F_IOPOLL (or IORING_SETUP_IOPOLL in @setup_flags) makes
 * polled rings (see DOC: Polled I/O).  The rings' own memory is checked
 * against RLIMIT_MEMLOCK first (regbuf_uring_pool_create_report() says why
 * it did not fit).
 *
 * Context: process context; the rings' accounting owner is the calling user
 * and process (mm).
 * Return: 0; -EINVAL @poolp NULL, @nr_rings 0 or above
 * %REGBUF_URING_POOL_MAX_RINGS, @entries 0 or unknown @flags; -EOPNOTSUPP
 * %REGBUF_URING_POOL_F_HYBRID_IOPOLL on a kernel without hybrid polling
 * (before 6.13); -ENOMEM (no memory, or the rings' memory does not fit
 * RLIMIT_MEMLOCK); -EMFILE/-ENFILE no file descriptor left for a ring; or
 * io_uring_setup()'s -errno
 * (-EINVAL for @entries above IORING_MAX_ENTRIES or bad @setup_flags).
 */
REGBUF_MUST_CHECK int regbuf_uring_pool_create(struct regbuf_uring_pool **poolp,
					       uint32_t nr_rings, uint32_t entries,
					       uint32_t setup_flags, unsigned int flags);

/**
 * regbuf_uring_pool_create_report() - regbuf_uring_pool_create() that says why
 * @poolp: the new pool
 * @nr_rings: as regbuf_uring_pool_create()
 * @entries: as regbuf_uring_pool_create()
 * @setup_flags: as regbuf_uring_pool_create()
 * @flags: as regbuf_uring_pool_create()
 * @report: if not NULL, filled in whatever the result: on success the new
 *	pool's status; on failure @report->err, @report->reason and, when the
 *	rings' memory did not fit RLIMIT_MEMLOCK, @report->memlock with the
 *	bytes the rings need (%memlock.new_rings set) and the limits
 *
 * Since Linux 6.14 the kernel charges each ring's own memory (SQ/CQ and SQE
 * array, regbuf_uring_ring_memlock()) to the user's RLIMIT_MEMLOCK; a pool of
 * many rings, or rings created by a user whose limit is already taken by
 * registered buffers, can be refused.  The pool checks this before creating
 * any ring (unless %REGBUF_URING_POOL_F_NO_PREFLIGHT) and explains a refusal
 * of the kernel the same way, as a registration refusal is explained.
 *
 * Context: as regbuf_uring_pool_create().
 * Return: as regbuf_uring_pool_create(); -ENOMEM also when the rings' memory
 * does not fit RLIMIT_MEMLOCK (see @report).
 */
REGBUF_MUST_CHECK int regbuf_uring_pool_create_report(struct regbuf_uring_pool **poolp,
						      uint32_t nr_rings, uint32_t entries,
						      uint32_t setup_flags, unsigned int flags,
						      struct regbuf_uring_status *report);

/**
 * regbuf_uring_pool_set_buf_len() - cap the length of one kernel buffer (slot)
 * @pool: the pool, nothing registered yet
 * @len: bytes, a multiple of 4096, at most %REGBUF_BUF_MAX_LEN (the default)
 *
 * Registered entries longer than @len become consecutive slots of @len bytes,
 * and I/O crossing a slot is split as at the 1 GiB boundary.  NVMe passthrough
 * needs it on kernels whose blk_rq_map_user_bvec() checks the rest of the
 * whole registered buffer against the device's max_segments (before the
 * rework onto bio_split_rw_at() in Linux 6.13): the namespace's
 * &struct regbuf_uring_nvme_ns max_buf_len says what to give here.
 * regbuf_uring_pool_mirror() then refuses tables with longer slots.
 *
 * Return: 0; -EINVAL @pool NULL or bad @len; -EBUSY something is registered.
 */
int regbuf_uring_pool_set_buf_len(struct regbuf_uring_pool *pool, uint64_t len);

/**
 * regbuf_uring_pool_destroy() - close every ring and free the pool
 * @pool: the pool, or NULL
 *
 * The kernel unpins registered memory when the last ring holding it is closed.
 */
void regbuf_uring_pool_destroy(struct regbuf_uring_pool *pool);

/**
 * regbuf_uring_pool_ring() - ring @idx of the pool
 * @pool: the pool
 * @idx: 0..nr_rings-1
 *
 * Return: the ring, or NULL when @pool is NULL, @idx is out of range or
 * ring @idx was closed.
 */
struct regbuf_uring_ring *regbuf_uring_pool_ring(struct regbuf_uring_pool *pool, uint32_t idx);

/**
 * regbuf_uring_pool_close_ring() - close one ring early (the others keep the buffers)
 * @pool: the pool
 * @idx: ring to close; must not be used afterwards
 *
 * Return: 0, or -EINVAL for a NULL @pool, a bad or already closed index.
 */
int regbuf_uring_pool_close_ring(struct regbuf_uring_pool *pool, uint32_t idx);

/**
 * regbuf_uring_ring_enable() - enable a ring created with IORING_SETUP_R_DISABLED
 * @r: a ring of the pool
 *
 * IORING_REGISTER_ENABLE_RINGS.  A pool created with R_DISABLED |
 * SINGLE_ISSUER (| DEFER_TASKRUN) can be registered and cloned while its
 * rings are disabled; the task that enables a ring becomes its only issuer
 * (io_register_enable_rings()).  That is how each thread, or each forked
 * worker, gets a SINGLE_ISSUER ring of a pool made by another task.
 *
 * Context: the task that will submit on @r.
 * Return: 0; -EINVAL @r NULL; -EBADFD @r is not disabled (never was, or
 * this task enabled it already); -EEXIST another task is the ring's issuer
 * (it enabled the ring); the kernel's -errno.
 */
int regbuf_uring_ring_enable(struct regbuf_uring_ring *r);

/**
 * regbuf_uring_pool_register() - register memory in every ring of the pool
 * @pool: the pool, with nothing registered yet
 * @iov: buffers; a {NULL, 0} entry is an empty slot; an entry longer than
 *       1 GiB becomes consecutive 1 GiB kernel buffers (slots)
 * @nr: number of entries
 * @flags: 0
 *
 * Ring 0 registers with IORING_REGISTER_BUFFERS2 and a tag per slot; the other
 * rings get a clone, or a registration of their own on kernels without clone
 * (regbuf_uring_pool_status() tells which and what it cost).  The memlock
 * preflight runs first.  With REGBUF_URING_POOL_F_DEGRADE a failure of the
 * memlock preflight or of the kernel switches the pool to unregistered I/O
 * and returns 0; the status keeps the error.  Without it the pool is left
 * with nothing registered (status FAILED, 0 slots) and may be registered
 * again.  Entries are checked first as io_buffer_validate() does, and an
 * invalid entry is refused whatever the flags.
 *
 * Context: no I/O may be prepared on any ring concurrently.
 * Return: 0; -EBUSY already registered; -EINVAL @pool or @iov NULL, @nr 0,
 * unknown @flags, every ring closed, more than 16384 slots;
 * -EFAULT an entry with a NULL base and a length or with a base and length 0
 * (io_buffer_validate()), or memory that cannot be pinned (read-only,
 * file-backed); -EOVERFLOW an entry whose page-aligned end wraps;
 * -ENOMEM the preflight (or the kernel) refused the memlock charge, see the
 * status reason, or out of memory; other kernel -errno unchanged.
 */
REGBUF_MUST_CHECK int regbuf_uring_pool_register(struct regbuf_uring_pool *pool,
						 const struct iovec *iov, uint32_t nr,
						 unsigned int flags);

/**
 * regbuf_uring_pool_register_sparse() - register @nr empty slots in every ring
 * @pool: the pool, with nothing registered yet
 * @nr: slots, 1..16384
 *
 * Return: 0; -EBUSY already registered; -EINVAL @pool NULL, bad @nr, every
 * ring closed; -ENOMEM out of memory; kernel -errno unchanged.
 */
REGBUF_MUST_CHECK int regbuf_uring_pool_register_sparse(struct regbuf_uring_pool *pool,
							uint32_t nr);

/**
 * regbuf_uring_pool_update() - replace slots [@off, @off + @nr) in every ring
 * @pool: the pool
 * @off: first slot
 * @iov: new buffers (each <= 1 GiB; {NULL, 0} empties the slot)
 * @nr: number of slots
 *
 * Ring 0 is updated with IORING_REGISTER_BUFFERS_UPDATE and new tags; the other
 * rings clone the range with DST_REPLACE (6.13+) or are updated themselves.
 * An old buffer stays pinned until the I/O in flight on it completes; then
 * ring 0 posts a tag CQE for the old slot (regbuf_uring_cqe_is_tag()).
 *
 * Context: as regbuf_uring_pool_grow(): one thread at a time changes the
 * registration, and other threads may prepare and submit I/O on their rings
 * meanwhile.  The pointer map changes only after every ring has the new
 * slots, so a concurrent regbuf_uring_lookup() sees the old map or the new
 * one; an SQE built from the old map for a slot being replaced or emptied is
 * checked by the kernel against what the slot holds when it is issued
 * (io_import_fixed(): the address range must lie in the slot's buffer) and
 * fails with -EFAULT, never reaching other memory.  I/O may be in flight.
 * Entries are checked in order as __io_sqe_buffers_update() does: the first
 * invalid entry stops the update, and the slots before it are updated.
 * -ENOMEM of this library comes before any kernel table changes.  If ring 0
 * took the update and another ring could not follow (-EIO or a kernel
 * -errno), the rings would hold different buffers in those slots: the pool
 * then drops its table from every ring and is left as after a failed
 * regbuf_uring_pool_register() (status FAILED; unregistered I/O with
 * REGBUF_URING_POOL_F_DEGRADE), and registers again when asked.
 *
 * Return: number of slots updated (partial updates are possible, as in the
 * kernel), or -ENXIO nothing registered (never registered, unregistered, or
 * the registration failed without REGBUF_URING_POOL_F_DEGRADE); -EINVAL
 * @pool or @iov NULL, @nr 0, range beyond the table; -EOVERFLOW @off + @nr
 * wraps, or the first entry's page-aligned end wraps; -EFAULT the first entry
 * has a NULL base and a length, a base and length 0, or is longer than
 * %REGBUF_BUF_MAX_LEN (io_buffer_validate()); -ENOMEM the memlock preflight
 * refused (see the status reason) or out of memory; -EIO a ring registered
 * again (no clone) applied fewer slots than ring 0; kernel -errno.
 */
REGBUF_MUST_CHECK int regbuf_uring_pool_update(struct regbuf_uring_pool *pool, uint32_t off,
					       const struct iovec *iov, uint32_t nr);

/**
 * regbuf_uring_pool_grow() - register more memory while the rings do I/O
 * @pool: a registered pool with free slots (regbuf_uring_pool_register_sparse()
 *	makes a table of free slots; slots emptied by an update are free too)
 * @iov: memory the caller mapped (any the kernel pins: anonymous, shared,
 *	hugetlb, THP, file mappings it accepts); an entry longer than the
 *	pool's buffer length (1 GiB by default) takes consecutive slots
 * @nr: entries of @iov
 * @slot: the first slot taken; the pieces take consecutive slots from there
 *
 * Takes the first run of free slots that holds every piece, pins the memory
 * into the first open ring (IORING_REGISTER_BUFFERS_UPDATE, with a tag per
 * slot) and clones the range into the other rings (DST_REPLACE, 6.13+; on
 * 6.12 the other rings' tables are dropped and cloned whole, so a submission
 * on them in that moment fails with -EFAULT; without clone each ring pins
 * again).  Only then does the pointer map show the new memory, so a lookup on
 * any thread finds either nothing or memory every ring has.  Memory already
 * registered stays registered throughout, and I/O on it may run on every
 * ring meanwhile.  Nothing but the new pieces is charged to RLIMIT_MEMLOCK
 * (no second table): the preflight checks the new pieces against the limit,
 * and the status' memlock figures describe every registered slot afterwards.
 *
 * A failed grow leaves the registration as it was: pieces pinned before a
 * piece the kernel could not pin, or before a ring could not follow, are
 * released again.  Only if that undo fails too is the table dropped, as
 * after a failed regbuf_uring_pool_update().
 *
 * Context: one thread at a time changes the registration (grow, shrink,
 * update, mirror, unregister); other threads may prepare and submit I/O on
 * their rings meanwhile.  Not with IORING_SETUP_SINGLE_ISSUER rings owned by
 * other threads (the kernel refuses the registration with -EEXIST).
 * Return: slots taken (> 0); -EINVAL @pool, @iov or @slot NULL, @nr 0, an
 * empty entry ({NULL, 0}); -ENXIO nothing registered; -EBUSY the table is a
 * regbuf_uring_pool_mirror(); -ENOSPC no run of free slots long enough;
 * -EFAULT/-EOVERFLOW an entry the kernel would refuse (io_buffer_validate():
 * a base with length 0, a length with a NULL base, an end that wraps);
 * -ENOMEM the memlock preflight refused (the status reason says why) or out
 * of memory; the kernel's -errno for a piece it could not pin (-EFAULT
 * unmapped memory, -ENOMEM RLIMIT_MEMLOCK, -EOPNOTSUPP memory it does not
 * pin) or for a ring that could not follow; -EAGAIN a piece was pinned only
 * when tried alone (the grow was undone; try again).
 */
REGBUF_MUST_CHECK int regbuf_uring_pool_grow(struct regbuf_uring_pool *pool,
					     const struct iovec *iov, uint32_t nr,
					     uint32_t *slot);

/**
 * regbuf_uring_pool_shrink() - unregister slots while the rings do I/O
 * @pool: a registered pool
 * @slot: first slot
 * @nr: slots
 *
 * The pointer map stops showing the slots first, then every ring's slots are
 * emptied.  I/O in flight on the memory completes on it (the kernel keeps it
 * pinned until then, and the first ring gets a tag CQE per slot when it lets
 * go).  An SQE prepared from a lookup made just before the shrink is refused
 * by the kernel with -EFAULT, never sent to other memory.  The status's memlock
 * charge describes what stays registered; VmPin (@pinned) drops when the
 * kernel lets the memory go, when the tag CQE is posted.
 *
 * Context: as regbuf_uring_pool_grow().
 * Return: slots emptied; -EINVAL @pool NULL, @nr 0, range beyond the table;
 * -ENXIO nothing registered; -EBUSY the table is a regbuf_uring_pool_mirror();
 * -ENOMEM out of memory; the kernel's -errno (the table is then dropped, as
 * after a failed regbuf_uring_pool_update()).
 */
REGBUF_MUST_CHECK int regbuf_uring_pool_shrink(struct regbuf_uring_pool *pool, uint32_t slot,
					       uint32_t nr);

/**
 * regbuf_uring_pool_mirror() - make every ring's kernel table follow a regbuf table
 * @pool: the pool
 * @t: a registered regbuf table (slots <= 1 GiB, so slot i is kernel slot i)
 * @flags: 0
 *
 * The first call registers the table's buffers (empty slots stay empty) like
 * regbuf_uring_pool_register().  Later calls compare each slot's buffer object
 * with the one mirrored and update the runs that changed with
 * regbuf_uring_pool_update() (tag CQEs then tell when the old memory is
 * released); a table that grew is registered afresh.  The pool holds a
 * reference on every mirrored buffer.
 *
 * Context: as regbuf_uring_pool_update().
 * Return: slots registered or updated (0 when nothing changed), or -EINVAL bad
 * argument; -ENXIO @t has no slots; -EIO a partial kernel update; any error of
 * regbuf_uring_pool_register() or regbuf_uring_pool_update().
 */
REGBUF_MUST_CHECK int regbuf_uring_pool_mirror(struct regbuf_uring_pool *pool,
					       struct regbuf_table *t, unsigned int flags);

/**
 * regbuf_uring_pool_unregister() - drop the table from every ring
 * @pool: the pool
 *
 * Also ends unregistered I/O after REGBUF_URING_POOL_F_NO_REGISTER or a
 * degraded failure (state back to NONE).
 *
 * Return: 0; -EINVAL @pool NULL; -ENXIO nothing is registered (never,
 * already unregistered, or a failed registration without
 * REGBUF_URING_POOL_F_DEGRADE); the kernel's -errno from unregistering ring
 * 0's table.
 */
int regbuf_uring_pool_unregister(struct regbuf_uring_pool *pool);

/**
 * regbuf_uring_pool_register_files() - a file table of @nr empty slots in every ring
 * @pool: the pool, without a file table
 * @nr: slots
 *
 * The file counterpart of the buffer table.  io_uring has no clone for files,
 * so every ring registers a table of its own (IORING_REGISTER_FILES, every
 * slot empty); regbuf_uring_pool_file_add() then puts a file in the same slot
 * of every ring, and I/O on it names the slot (IOSQE_FIXED_FILE) instead of
 * the descriptor: io_uring then looks the file up in the ring's table instead
 * of taking and dropping a reference on the shared struct file per I/O
 * (fget()/fput(), an atomic write every ring's thread makes to the same cache
 * line).  The table lives until the pool is destroyed.
 *
 * Context: no I/O may be prepared on any ring concurrently; rings created
 * with IORING_SETUP_SINGLE_ISSUER take registrations only from their issuer
 * (the kernel answers -EEXIST to another task), so register before such
 * rings are enabled in their threads.
 * Return: 0; -EINVAL @pool NULL, @nr 0, every ring closed; -EBUSY the pool has
 * a file table; -EMFILE @nr above RLIMIT_NOFILE or the kernel's table limit
 * (io_sqe_files_register()); -ENOMEM; other kernel -errno unchanged.
 */
REGBUF_MUST_CHECK int regbuf_uring_pool_register_files(struct regbuf_uring_pool *pool,
						       uint32_t nr);

/**
 * regbuf_uring_pool_file_add() - put a file in a free slot of every ring's file table
 * @pool: the pool, with a file table
 * @f: the file (regbuf_uring_file_init()), in no file table
 *
 * On success @f names the slot and the pool: regbuf_uring_prep_rw() and the
 * other preps use the slot on this pool's rings and the descriptor elsewhere.
 * The rings hold their own reference on the file: closing @f->fd does not
 * take it out (regbuf_uring_pool_file_remove() or destroying the pool does).
 * If a ring refuses, the rings that took the file give it back.
 *
 * Context: as regbuf_uring_pool_register_files().
 * Return: 0; -EINVAL @pool or @f NULL, @f->fd negative; -EBUSY @f is in a file
 * table already; -ENXIO @pool has no file table; -ENFILE every slot is taken;
 * -EBADF @f->fd is not an open file, or is an io_uring (the kernel's
 * __io_sqe_files_update()); other kernel -errno unchanged.
 */
REGBUF_MUST_CHECK int regbuf_uring_pool_file_add(struct regbuf_uring_pool *pool,
						 struct regbuf_uring_file *f);

/**
 * regbuf_uring_pool_file_remove() - empty @f's slot in every ring
 * @pool: the pool @f was added to
 * @f: the file
 *
 * I/O in flight on the file keeps it (the kernel's reference lives until it
 * completes); I/O prepared afterwards uses the descriptor again.
 *
 * Context: as regbuf_uring_pool_register_files().
 * Return: 0; -EINVAL @pool or @f NULL, or @f not in @pool's file table;
 * kernel -errno unchanged (then the slot still holds the file everywhere).
 */
int regbuf_uring_pool_file_remove(struct regbuf_uring_pool *pool, struct regbuf_uring_file *f);

/**
 * regbuf_uring_pool_status() - what was registered, how, and at what cost
 * @pool: the pool
 * @st: filled in
 *
 * @st->memlock: the real RLIMIT_MEMLOCK limits and what the registered
 * slots are charged, with @st->memlock.charged false when CAP_IPC_LOCK means
 * neither is enforced; after a registration the preflight refused, that
 * request's figures.  Registering estimates the charge only when a finite,
 * enforced limit could refuse it; otherwise the estimate (a walk of
 * /proc/self/maps and the page map) is made here, when asked for.
 *
 * Context: the thread that changes the registration, or with the same
 * exclusion (it reads the slots).
 */
void regbuf_uring_pool_status(const struct regbuf_uring_pool *pool,
			      struct regbuf_uring_status *st);

/**
 * regbuf_uring_path_name() - "clone", "register-again", ... for @path
 * @path: a path
 *
 * Return: a static string.
 */
const char *regbuf_uring_path_name(enum regbuf_uring_path path);

/**
 * regbuf_uring_state_name() - "registered", "registration disabled", "registration failed"
 * @state: a state
 *
 * Return: a static string.
 */
const char *regbuf_uring_state_name(enum regbuf_uring_reg_state state);

/**
 * regbuf_uring_clone_buffers() - IORING_REGISTER_CLONE_BUFFERS on liburing 2.3
 * @dst: destination ring
 * @src: source ring (same process and user)
 * @dst_off: first destination slot
 * @src_off: first source slot
 * @nr: slots; 0 with both offsets 0 clones the whole table
 * @flags: 0 or IORING_REGISTER_DST_REPLACE (1 << 1)
 *
 * Return: 0, or the kernel's -errno unchanged: -EINVAL (no clone support,
 * different accounting owner, bad flags or nr), -EBUSY (destination has a
 * table and no DST_REPLACE), -ENXIO (source has no table), -EOVERFLOW (range
 * beyond the source table), -EBADF/-EOPNOTSUPP (source not a ring).
 */
REGBUF_MUST_CHECK int regbuf_uring_clone_buffers(struct io_uring *dst, struct io_uring *src,
						 uint32_t dst_off, uint32_t src_off, uint32_t nr,
						 unsigned int flags);

/**
 * regbuf_uring_memlock_estimate() - what registering @iov would be charged
 * @ml: filled in
 * @iov: buffers
 * @nr: number of buffers
 * @charges: rings that register it themselves (1 with clone)
 *
 * Mirrors io_buffer_account_pin(): one page per small page pinned (the
 * containing pages of an unaligned buffer), the whole huge page for each huge
 * page touched, counted once across the call (hugetlb page sizes from
 * PROCMAP_QUERY, or /proc/self/smaps before Linux 6.11; PMD-mapped THP from
 * PAGEMAP_SCAN, read only in 2 MiB blocks a buffer covers in part, since a
 * whole block is charged 2 MiB either way).
 *
 * Return: 0; -EINVAL @ml NULL, or @iov NULL with @nr > 0; -ENOMEM
 * (allocation, only where /proc/self/smaps is read: kernels without
 * PROCMAP_QUERY); -errno reading /proc/self/smaps.
 */
REGBUF_MUST_CHECK int regbuf_uring_memlock_estimate(struct regbuf_uring_memlock *ml,
						    const struct iovec *iov, uint32_t nr,
						    uint32_t charges);

/**
 * regbuf_uring_memlock_fits() - whether @ml fits under the soft limit
 * @ml: an estimate
 *
 * The kernel's io_account_mem() fails when locked_vm + new pages exceeds
 * RLIMIT_MEMLOCK in pages.
 *
 * Return: true when the registration will be accepted (or is not charged).
 */
bool regbuf_uring_memlock_fits(const struct regbuf_uring_memlock *ml);

/**
 * regbuf_uring_memlock_explain() - a one-paragraph message with numbers and the fix
 * @ml: an estimate
 * @buf: output
 * @len: size of @buf
 *
 * Return: the length snprintf() would write.
 */
int regbuf_uring_memlock_explain(const struct regbuf_uring_memlock *ml, char *buf, size_t len);

/**
 * regbuf_uring_ring_memlock() - what one ring costs of RLIMIT_MEMLOCK itself
 * @entries: SQ entries, as given to regbuf_uring_pool_create()
 * @setup_flags: IORING_SETUP_* (SQE128 and CQE32 make entries larger)
 *
 * Linux 6.14 moved the rings to io_create_region(), which charges the SQ/CQ
 * rings (with 2 * @entries CQEs) and the SQE array, each rounded up to whole
 * pages, to the user's locked memory; earlier kernels charge rings nothing.
 * It is not shown in VmPin.  Add it, once per ring, to the registration's
 * regbuf_uring_memlock_estimate() when sizing a limit.
 *
 * Return: bytes (0 on kernels before 6.14).
 */
uint64_t regbuf_uring_ring_memlock(uint32_t entries, uint32_t setup_flags);

/**
 * regbuf_uring_probe() - what this kernel's io_uring offers registered buffers
 * @f: filled in
 *
 * Creates a small ring, asks IORING_REGISTER_PROBE about the fixed-buffer
 * opcodes, and tries the registration opcodes for real: one 4 KiB buffer, a
 * sparse BUFFERS2 table, and clone.  Clone is probed without side effects: a
 * clone from a ring without a table is -ENXIO (io_clone_buffers(): empty
 * source) on 6.12+ and -EINVAL where the opcode is unknown; with offsets, a
 * 6.12 kernel sees non-zero padding (-EINVAL) while 6.13+ still answers
 * -ENXIO.
 *
 * Context: process context; briefly locks 4 KiB against RLIMIT_MEMLOCK.
 * Return: 0 when a ring could be created (each feature's own result is in
 * @f); -EINVAL when @f is NULL; otherwise the -errno of io_uring_queue_init()
 * (-ENOSYS: no io_uring; -EPERM: kernel.io_uring_disabled; -ENOMEM:
 * RLIMIT_MEMLOCK on kernels that charge rings).
 */
int regbuf_uring_probe(struct regbuf_uring_features *f);

/**
 * regbuf_uring_dio_align() - a file's O_DIRECT alignment, as the kernel reports it
 * @fd: an open file, block device or O_PATH descriptor
 * @mem_align: set to stx_dio_mem_align, the memory alignment of buffers
 * @off_align: set to stx_dio_offset_align, the file offset and length alignment
 *
 * statx(STATX_DIOALIGN): 6.1 for files, 6.11 for block devices.  Both values
 * 0 mean the file does not support direct I/O (statx(2)).
 *
 * Return: 0; -EINVAL @fd negative, @mem_align or @off_align NULL;
 * -EOPNOTSUPP when the kernel or filesystem does not report the alignment
 * (@mem_align and @off_align untouched); -errno from statx (-EBADF).
 */
int regbuf_uring_dio_align(int fd, uint32_t *mem_align, uint32_t *off_align);

/**
 * regbuf_uring_file_init() - learn a file's O_DIRECT alignment
 * @f: filled in
 * @fd: an open file or block device
 *
 * regbuf_uring_dio_align() gives stx_dio_mem_align and stx_dio_offset_align;
 * a block device without them falls back to its logical block size.  A file not
 * opened with O_DIRECT needs no alignment.  @f->poll says whether polled I/O
 * reaches the file (regbuf_uring_poll_check()); @f is in no file table.
 *
 * Return: 0; -EINVAL @f NULL, @fd negative, or O_DIRECT is not supported on
 * this file (the kernel reports 0 alignment); -errno from
 * statx/fcntl/ioctl (-EBADF).
 */
REGBUF_MUST_CHECK int regbuf_uring_file_init(struct regbuf_uring_file *f, int fd);

/**
 * regbuf_uring_poll_check() - can a polling ring (IORING_SETUP_IOPOLL) do I/O on @fd?
 * @fd: an open regular file, block device, or NVMe namespace char device (/dev/ngXnY)
 * @why: if not NULL, filled with the reason on -EOPNOTSUPP
 * @len: size of @why
 *
 * Polled completions come only from a queue with poll queues, which the
 * queue's io_poll attribute shows (/sys/block/<disk>/queue/io_poll; for a
 * file, the disk the filesystem is on; for /dev/ngXnY, nvmeXnY's).  A queue
 * without them takes polled I/O and completes it by interrupt while the
 * poller spins (or, on newer kernels, fails it with -EOPNOTSUPP per I/O):
 * regbuf refuses up front instead.  Files and block devices must also be
 * open with O_DIRECT: io_uring polls direct I/O only.  NVMe's poll queues
 * come from the driver (the nvme module's poll_queues parameter; nr_poll_queues
 * of a fabrics connect).
 *
 * Return: 0 when the file can be polled; -EOPNOTSUPP when it cannot, with the
 * reason (the sysfs file that says so, or the missing O_DIRECT) in @why;
 * -EINVAL @fd negative; -errno from fstat() or fcntl() (-EBADF).
 */
int regbuf_uring_poll_check(int fd, char *why, size_t len);

/**
 * regbuf_uring_cqe_is_tag() - is @cqe a buffer tag (a slot's memory released)?
 * @cqe: a completion
 *
 * A pure test: nothing is counted (regbuf_uring_ring_count_tag() does that).
 *
 * Return: true for a tag CQE.
 */
static inline bool regbuf_uring_cqe_is_tag(const struct io_uring_cqe *cqe)
{
	return (cqe->user_data & REGBUF_URING_TAG_BIT) != 0;
}

/**
 * regbuf_uring_tag_slot() - the slot whose memory a tag CQE reports released
 * @cqe: a completion for which regbuf_uring_cqe_is_tag() is true
 *
 * Return: the kernel slot index.
 */
static inline uint32_t regbuf_uring_tag_slot(const struct io_uring_cqe *cqe)
{
	return (uint32_t)(cqe->user_data & 0xffff);
}

/**
 * regbuf_uring_ring_count_tag() - count a tag CQE on the ring it came from
 * @r: the ring @cqe was reaped from
 * @cqe: a completion for which regbuf_uring_cqe_is_tag() is true
 *
 * Adds one to regbuf_uring_tags_seen() and remembers the tag; regbuf's own
 * waits (regbuf_uring_rw_wait()) do this for the tags they reap.
 */
static inline void regbuf_uring_ring_count_tag(struct regbuf_uring_ring *r,
					       const struct io_uring_cqe *cqe)
{
	r->tags_seen++;
	r->last_tag = cqe->user_data;
}

/* One search of @m, which may be rewritten meanwhile: 1 and @out when found. */
static inline int __regbuf_uring_map_search(const struct regbuf_uring_map *m, uint64_t addr,
					    struct regbuf_uring_slotref *out)
{
	uint32_t lo = 0, hi = __atomic_load_n(&m->nr, __ATOMIC_RELAXED);
	uint64_t base, len;

	if (hi > m->cap)	/* a count being rewritten: the retry sees a stable one */
		hi = m->cap;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;

		base = __atomic_load_n(&m->e[mid].base, __ATOMIC_RELAXED);
		len = __atomic_load_n(&m->e[mid].len, __ATOMIC_RELAXED);
		if (addr < base) {
			hi = mid;
		} else if (addr - base >= len) {
			lo = mid + 1;
		} else {
			out->base = base;
			out->len = len;
			out->slot = __atomic_load_n(&m->e[mid].slot, __ATOMIC_RELAXED);
			return 1;
		}
	}
	return 0;
}

/**
 * regbuf_uring_lookup() - which slot, and where in it, an address is registered
 * @r: a ring of the pool
 * @addr: first byte of the range
 * @len: length of the range (0 is allowed: then only @addr is looked up)
 * @loc: filled in when found: the slot holding @addr, the offset of @addr in
 *	it, and how many bytes of the range it holds (the rest, if any, is in
 *	other slots: look up @addr + @loc->len next)
 *
 * The map is read under its sequence count: a search that overlaps a change of
 * the pool's registration (regbuf_uring_pool_grow(), _shrink()) is repeated,
 * and the answer is one the pool published.  A slot found here may stop
 * holding @addr right after (a concurrent shrink): an SQE built from it is
 * then refused by the kernel with -EFAULT (validate_fixed_range() checks the
 * address against the slot's buffer), never sent to other memory.
 *
 * Context: hot path; any thread; no lock, no allocation.
 * Return: 0, or -EFAULT when @addr is not in registered memory (nothing
 * registered, a gap, or past the end; regbuf_uring_fault_explain() says which).
 */
static inline int regbuf_uring_lookup(const struct regbuf_uring_ring *r, const void *addr,
				      uint64_t len, struct regbuf_uring_loc *loc)
{
	const struct regbuf_uring_map *m = r->map;
	uint64_t a = (uint64_t)(uintptr_t)addr, end;
	struct regbuf_uring_slotref e = { 0, 0, 0 };
	uint32_t seq;
	int found;

	if (!m)
		return -EFAULT;
	do {
		/* Pairs with the release store that ends the pool's rewrite. */
		seq = __atomic_load_n(&m->seq, __ATOMIC_ACQUIRE);
		found = __regbuf_uring_map_search(m, a, &e);
		/* Orders the search before the second read of the count. */
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
	} while ((seq & 1) || __atomic_load_n(&m->seq, __ATOMIC_RELAXED) != seq);
	if (!found)
		return -EFAULT;
	end = e.base + e.len - a;
	loc->slot = e.slot;
	loc->offset = a - e.base;
	loc->len = len < end ? len : end;
	loc->slot_len = e.len;
	return 0;
}

/**
 * regbuf_uring_find() - the slot holding [@addr, @addr + @len)'s first byte
 * @r: a ring
 * @addr: address inside registered memory
 * @len: length wanted
 * @slot: the slot
 *
 * regbuf_uring_lookup() for callers that need only the slot.
 *
 * Context: as regbuf_uring_lookup().
 * Return: bytes of the range inside that slot (<= @len: the rest is in the next
 * slot), or -EFAULT when @addr is not registered.
 */
static inline int64_t regbuf_uring_find(const struct regbuf_uring_ring *r, uint64_t addr,
					uint64_t len, uint32_t *slot)
{
	struct regbuf_uring_loc loc;

	if (regbuf_uring_lookup(r, (const void *)(uintptr_t)addr, len, &loc))
		return -EFAULT;
	*slot = loc.slot;
	return (int64_t)loc.len;
}

/**
 * regbuf_uring_fault_explain() - why an address range is not registered memory
 * @r: a ring of the pool
 * @addr: first byte
 * @len: length
 * @buf: output, one line
 * @size: size of @buf
 *
 * For an -EFAULT of regbuf_uring_lookup(), regbuf_uring_prep_rw() and the
 * other prep functions: nothing registered (and why: never registered,
 * unregistered, the registration failed), @addr in no registered buffer (with
 * the nearest registered memory below and above it), or the range running
 * past the end of registered memory (where it stops being registered).  For a
 * range that is registered it says which slots hold it.
 *
 * Context: any thread; reads the map like regbuf_uring_lookup().  When
 * nothing is registered, the pool's state and reason are read without a lock:
 * a registration changing them on another thread meanwhile (a grow failing,
 * a register) can make that one line describe the state before or after it,
 * or mix the two; the answer about the map itself is always consistent.
 * Return: the length snprintf() would write, or -EINVAL for a NULL @r, or a
 * NULL @buf with a non-zero @size.
 */
int regbuf_uring_fault_explain(const struct regbuf_uring_ring *r, const void *addr, uint64_t len,
			       char *buf, size_t size);

/**
 * regbuf_uring_piece() - the bytes piece @piece of an I/O covers
 * @r: the ring the I/O was prepared on
 * @buf: the I/O's memory, as given to regbuf_uring_prep_rw()
 * @len: its length
 * @piece: the piece index of a CQE (regbuf_uring_cqe_piece())
 * @loc: filled in: the piece's slot, offset in the slot and length
 * @io_off: if not NULL, the piece's first byte as an offset into the I/O
 *	(also the offset of its file position from the I/O's)
 *
 * regbuf_uring_prep_rw() cuts an I/O at the end of each registered slot it
 * crosses: piece i starts where piece i-1 ends.  Ask before the registration
 * of that memory changes.
 *
 * Return: 0; -EFAULT the memory is not registered (as the prep would have
 * answered); -ERANGE the I/O has fewer pieces than @piece + 1.
 */
int regbuf_uring_piece(const struct regbuf_uring_ring *r, const void *buf, uint64_t len,
		       uint32_t piece, struct regbuf_uring_loc *loc, uint64_t *io_off);

/**
 * regbuf_uring_cqe_user_data() - the caller's user_data of a CQE, without the piece index
 * @cqe: a completion of an I/O the pool prepared (not a tag CQE)
 *
 * Return: user_data bits 47..0.
 */
static inline uint64_t regbuf_uring_cqe_user_data(const struct io_uring_cqe *cqe)
{
	return cqe->user_data & REGBUF_URING_USER_DATA_MASK;
}

/**
 * regbuf_uring_cqe_piece() - which piece of its I/O a CQE completes
 * @cqe: a completion of an I/O the pool prepared (not a tag CQE)
 *
 * Return: 0 for the first (or only) SQE of the I/O, i for the (i+1)th.
 */
static inline uint32_t regbuf_uring_cqe_piece(const struct io_uring_cqe *cqe)
{
	return (uint32_t)((cqe->user_data & ~REGBUF_URING_TAG_BIT) >> REGBUF_URING_PIECE_SHIFT);
}

/**
 * regbuf_uring_check_align() - check an I/O against the file's O_DIRECT alignment
 * @f: the file
 * @addr: memory address
 * @len: length
 * @off: file offset
 *
 * Return: 0, or -EINVAL when @addr is not a multiple of mem_align or @len or
 * @off is not a multiple of off_align.
 */
static inline int regbuf_uring_check_align(const struct regbuf_uring_file *f, uint64_t addr,
					   uint64_t len, uint64_t off)
{
	if (((addr & (f->mem_align - 1)) | (len & (f->off_align - 1)) |
	     (off & (f->off_align - 1))) != 0)
		return -EINVAL;
	return 0;
}

/**
 * regbuf_uring_sqe_file() - the file of an SQE prepared with @f->fd
 * @sqe: an SQE whose fd is @f->fd
 * @r: the ring it goes to
 * @f: the file
 *
 * When @f is in the file table of @r's pool, the SQE names the slot
 * (IOSQE_FIXED_FILE) instead of the descriptor.  regbuf's own preps do this;
 * it is for SQEs the caller builds (fsync, say).
 */
static inline void regbuf_uring_sqe_file(struct io_uring_sqe *sqe,
					 const struct regbuf_uring_ring *r,
					 const struct regbuf_uring_file *f)
{
	if (f->pool == r->pool) {
		sqe->fd = (int32_t)f->slot;
		sqe->flags |= IOSQE_FIXED_FILE;
	}
}

/**
 * __regbuf_uring_prep_rw() - regbuf_uring_prep_rw() for every case
 * @r: the calling thread's ring
 * @write: true for a write
 * @f: the file
 * @buf: memory
 * @len: bytes
 * @off: file offset
 * @user_data: copied to every CQE
 *
 * The out-of-line path behind regbuf_uring_prep_rw(): splitting at kernel-buffer
 * boundaries, unregistered (degraded or disabled) I/O, and every error.
 *
 * Return: as regbuf_uring_prep_rw().
 */
int __regbuf_uring_prep_rw(struct regbuf_uring_ring *r, bool write,
			   const struct regbuf_uring_file *f, void *buf, uint32_t len,
			   uint64_t off, uint64_t user_data);

/*
 * regbuf_uring_lookup() through the ring's one-entry cache: the map entry its
 * last lookup found serves again while the map's sequence count says the
 * map was not rewritten since (a ring is one thread's, so the cache needs no
 * ordering of its own).  An I/O stream over one registration then costs a
 * compare and a load per I/O instead of a search.  A 32-bit count could come
 * round to the cached value after 2^31 rewrites without a miss on this ring;
 * even then the kernel checks the address range against what the slot holds,
 * so a stale entry fails with -EFAULT and reaches no other memory.
 */
static inline int __regbuf_uring_lookup_cached(struct regbuf_uring_ring *r, const void *addr,
					       uint64_t len, struct regbuf_uring_loc *loc)
{
	uint64_t a = (uint64_t)(uintptr_t)addr, off = a - r->cache.base, end;
	uint32_t seq;
	int ret;

	/* cache.len is 0 until a lookup succeeded, so the map is there when it is not */
	if (REGBUF_LIKELY(off < r->cache.len &&
			  __atomic_load_n(&r->map->seq, __ATOMIC_ACQUIRE) == r->cache_seq)) {
		end = r->cache.len - off;
		loc->slot = r->cache.slot;
		loc->offset = off;
		loc->len = len < end ? len : end;
		loc->slot_len = r->cache.len;
		return 0;
	}
	seq = r->map ? __atomic_load_n(&r->map->seq, __ATOMIC_ACQUIRE) : 1;
	ret = regbuf_uring_lookup(r, addr, len, loc);
	/* The same even count before and after: the entry found is the map's at that count. */
	if (!ret && !(seq & 1) && __atomic_load_n(&r->map->seq, __ATOMIC_ACQUIRE) == seq) {
		r->cache.base = a - loc->offset;
		r->cache.len = loc->slot_len;
		r->cache.slot = loc->slot;
		r->cache_seq = seq;
	}
	return ret;
}

/**
 * regbuf_uring_prep_rw() - queue one read or write of registered memory
 * @r: the calling thread's ring
 * @write: true for a write
 * @f: the file
 * @buf: memory inside a registered region (any memory in degraded or disabled mode)
 * @len: bytes, at most %REGBUF_MAX_RW_COUNT; 0 queues a read or write of 0
 *	bytes (the kernel completes it with 0), @buf must still be registered
 * @off: file offset
 * @user_data: copied to every CQE of this I/O, with the piece index in bits
 *	62..48 (DOC: user_data bits); bits 63..48 must be clear
 *
 * Uses READ_FIXED/WRITE_FIXED with the slot found from @buf, on @f's slot of
 * the pool's file table when it has one (regbuf_uring_sqe_file()).  An extent
 * that crosses from one registered slot into the next (the 1 GiB split of a
 * long registration, two registrations that happen to be adjacent) is queued
 * as one SQE per slot, piece i at file offset @off plus the bytes of the
 * pieces before it; each completes on its own, so a short or failed piece is
 * known by its index (regbuf_uring_cqe_piece(), regbuf_uring_piece()).  In degraded
 * or disabled mode plain READ/WRITE is used.  Alignment is checked first: a
 * misaligned request, or one whose cut at a slot end leaves a misaligned
 * piece, queues nothing.  The common case (one slot) is inline; everything
 * else goes to __regbuf_uring_prep_rw().
 *
 * Context: hot path; the thread owning @r.
 * Return: number of SQEs queued (= CQEs to expect), or -EINVAL (misaligned,
 * too long, user_data bits 63..48 set), -EFAULT (@buf not registered, part of
 * the range past registered memory, or nothing is: the pool was never
 * registered, was unregistered, or its registration failed without
 * REGBUF_URING_POOL_F_DEGRADE; regbuf_uring_fault_explain() says which),
 * -EOPNOTSUPP (@r polls and @f cannot be polled: regbuf_uring_poll_check()
 * says why), -E2BIG (more than %REGBUF_URING_MAX_PIECES pieces), -EBUSY (the
 * SQ has no room for every piece; nothing queued).
 */
static inline int regbuf_uring_prep_rw(struct regbuf_uring_ring *r, bool write,
				       const struct regbuf_uring_file *f, void *buf,
				       uint32_t len, uint64_t off, uint64_t user_data)
{
	struct regbuf_uring_loc loc;
	struct io_uring_sqe *sqe;

	if (REGBUF_UNLIKELY(!len || len > REGBUF_MAX_RW_COUNT ||
			    (user_data & ~REGBUF_URING_USER_DATA_MASK) || (r->iopoll && !f->poll) ||
			    regbuf_uring_check_align(f, (uint64_t)(uintptr_t)buf, len, off) ||
			    __regbuf_uring_lookup_cached(r, buf, len, &loc) || loc.len != len))
		return __regbuf_uring_prep_rw(r, write, f, buf, len, off, user_data);
	sqe = io_uring_get_sqe(&r->ring);
	if (REGBUF_UNLIKELY(!sqe))
		return -EBUSY;
	if (write)
		io_uring_prep_write_fixed(sqe, f->fd, buf, len, off, (int)loc.slot);
	else
		io_uring_prep_read_fixed(sqe, f->fd, buf, len, off, (int)loc.slot);
	regbuf_uring_sqe_file(sqe, r, f);
	io_uring_sqe_set_data64(sqe, user_data);
	return 1;
}

/**
 * regbuf_uring_prep_rwv() - queue a vectored read or write of registered memory
 * @r: the calling thread's ring
 * @write: true for a write
 * @f: the file
 * @iov: buffers (must stay valid until the CQEs arrive)
 * @nr: number of buffers
 * @off: file offset of the first byte
 * @user_data: copied to every CQE, with the piece index (bits 63..48 clear)
 *
 * One READV_FIXED/WRITEV_FIXED SQE (kernel 6.15+) when every buffer is in the
 * same slot; otherwise, or on older kernels, one fixed read/write per piece:
 * each iovec cut at the slots it crosses as regbuf_uring_prep_rw() cuts it,
 * pieces numbered in order across the iovecs.
 *
 * Return: number of SQEs queued, or -EINVAL (@iov NULL, @nr 0, bits 63..48
 * set in @user_data, misaligned, or more than %REGBUF_MAX_RW_COUNT bytes); -EOVERFLOW (the
 * iovec lengths wrap when summed, as io_import_reg_vec()); -EFAULT (a
 * zero-length iovec, as io_import_reg_vec(); or memory not registered, or
 * nothing registered, as regbuf_uring_prep_rw()); -EOPNOTSUPP (as
 * regbuf_uring_prep_rw()); -E2BIG (more than %REGBUF_URING_MAX_PIECES
 * pieces); -EBUSY (SQ full; nothing queued).
 */
int regbuf_uring_prep_rwv(struct regbuf_uring_ring *r, bool write,
			  const struct regbuf_uring_file *f, const struct iovec *iov,
			  uint32_t nr, uint64_t off, uint64_t user_data);

/**
 * regbuf_uring_rw_wait() - synchronous regbuf_uring_prep_rw(): submit and wait
 * @r: the ring (no other I/O of the caller in flight on it)
 * @write: true for a write
 * @f: the file
 * @buf: registered memory
 * @len: bytes
 * @off: file offset
 *
 * Tag CQEs seen while waiting are counted on the ring.
 * Return: bytes transferred, or the first CQE's -errno unchanged, or a prep error.
 */
int64_t regbuf_uring_rw_wait(struct regbuf_uring_ring *r, bool write,
			const struct regbuf_uring_file *f, void *buf, uint32_t len, uint64_t off);

/**
 * regbuf_uring_rwv_wait() - synchronous regbuf_uring_prep_rwv()
 * @r: the ring
 * @write: true for a write
 * @f: the file
 * @iov: buffers
 * @nr: number of buffers
 * @off: file offset
 *
 * Return: bytes transferred, or the first -errno.
 */
int64_t regbuf_uring_rwv_wait(struct regbuf_uring_ring *r, bool write,
			 const struct regbuf_uring_file *f, const struct iovec *iov,
			 uint32_t nr, uint64_t off);

/**
 * regbuf_uring_tags_seen() - tag CQEs counted on @r by regbuf's own waits
 * @r: the ring
 *
 * Return: the count.
 */
static inline uint64_t regbuf_uring_tags_seen(const struct regbuf_uring_ring *r)
{
	return r->tags_seen;
}


/**
 * DOC: NVMe passthrough
 *
 * IORING_OP_URING_CMD on a namespace's generic char device (/dev/ngXnY, from
 * nvme-core; PCIe and fabrics alike) sends NVMe I/O commands without the
 * block layer's bio path.  The pool must be created with
 * %REGBUF_URING_POOL_F_NVME_CMD (128-byte SQEs carry &struct nvme_uring_cmd,
 * 32-byte CQEs carry the command's DW0).  Commands use the pool's registered
 * buffers (IORING_URING_CMD_FIXED, Linux 6.1; io_uring_cmd_import_fixed())
 * addressed by pointer, as regbuf_uring_prep_rw().
 *
 * A passthrough request is never split by the kernel: blk_rq_map_user_iov()
 * maps it as one request, and when the memory does not fit the queue limits
 * it either fails it or silently copies it through bounce pages
 * (bio_copy_user_iov()).  regbuf cuts every read and write into commands the
 * namespace takes whole (regbuf_seg_split() over the namespace's limits, each
 * 4 KiB page counted as its own DMA segment, the worst case) and refuses a
 * buffer whose address breaks the DMA alignment before submitting anything.
 *
 * Fabrics hosts (nvme-tcp) queue commands while they reconnect: with the
 * defaults (ctrl_loss_tmo 600 s, no fast_io_fail_tmo) an I/O to a lost target
 * waits up to ten minutes.  Connect with fast_io_fail_tmo=N to get errors
 * after N seconds and a short ctrl_loss_tmo to give up the controller.
 */

/* Room for "ngXnY" / "nvmeXnY" names. */
#define REGBUF_URING_NVME_MAX_NAME	32

/**
 * struct regbuf_uring_nvme_ns - an NVMe namespace opened for passthrough
 * @fd: the generic char device, open read-write
 * @nsid: namespace ID (NVME_IOCTL_ID)
 * @lba_shift: log2 of the logical block size
 * @nr_lbas: namespace size in logical blocks
 * @lim: the queue limits of the namespace (/sys/block/nvmeXnY/queue/)
 * @chunk_bytes: chunk_sectors in bytes (NOIOB, optimal I/O boundary), 0 if none;
 *	commands do not cross it
 * @max_buf_len: the longest kernel buffer a fixed command may point into on
 *	this kernel (regbuf_uring_pool_set_buf_len()): %REGBUF_BUF_MAX_LEN,
 *	or max_segments pages where the kernel counts the rest of the buffer
 * @fixed: 0 when a passthrough read with a registered buffer worked at open,
 *	else the -errno it got (passthrough then needs unregistered I/O)
 * @poll: polled passthrough (uring_cmd iopoll) reaches the namespace: its
 *	queue has poll queues (regbuf_uring_poll_check()); a polling ring
 *	refuses commands without it
 * @char_name: "ngXnY"
 * @blk_name: "nvmeXnY", the block device of the same namespace
 * @mdts_bytes: the controller's Maximum Data Transfer Size (Identify
 *	Controller MDTS) in bytes, counted in 4 KiB units; 0 when it reports none
 * @fabrics: the controller is an NVMe over Fabrics one (TCP, RDMA, loop):
 *	Identify Controller reports a command capsule size (IOCCSZ)
 * @ms: metadata bytes per logical block of the format in use (0: none)
 * @ext: the metadata travels in the data buffer, after each block's data
 *	(extended LBA, FLBAS bit 4); else in a buffer of its own (MPTR)
 * @pi_type: protection information type (Identify Namespace DPS bits 2:0):
 *	0 none, %REGBUF_NVME_PI_TYPE1..3
 * @pi_first: the protection information is the first 8 bytes of each block's
 *	metadata (DPS bit 3), else the last 8
 * @blk_bytes: bytes one logical block takes in the data buffer: the block
 *	size, plus @ms with extended LBAs
 *
 * @lim.max_bytes is the smallest of max_hw_sectors_kb, @mdts_bytes and, for a
 * fabrics controller that reports no MDTS, max_sectors_kb: such a host shows
 * no limit in max_hw_sectors_kb while its target has one it does not
 * advertise, and the block path's own size is one the target takes.
 */
struct regbuf_uring_nvme_ns {
	int fd;
	uint32_t nsid;
	uint32_t lba_shift;
	uint64_t nr_lbas;
	struct regbuf_limits lim;
	uint64_t chunk_bytes;
	uint64_t max_buf_len;
	int fixed;
	bool poll;
	char char_name[REGBUF_URING_NVME_MAX_NAME];
	char blk_name[REGBUF_URING_NVME_MAX_NAME];
	uint64_t mdts_bytes;
	bool fabrics;
	uint32_t ms;
	bool ext;
	uint8_t pi_type;
	bool pi_first;
	uint32_t blk_bytes;
};

/**
 * regbuf_uring_nvme_open() - open a namespace's generic char device for passthrough
 * @ns: filled in
 * @path: /dev/ngXnY
 * @flags: 0
 *
 * Checks that @path is an nvme-generic char device (sysfs class
 * nvme-generic), asks its NSID, reads Identify Namespace (CNS 0) for the size
 * and LBA format, the queue limits from sysfs, Identify Controller (CNS 1)
 * for MDTS and whether it is a fabrics controller, and probes a one-block read
 * into a registered buffer: once with a one-page buffer (does fixed
 * passthrough work at all) and once at the start of a buffer longer than
 * max_segments pages (does the kernel count the rest of the buffer).
 *
 * Context: process context; reads block 0 of the namespace.  Identify and
 * passthrough need CAP_SYS_ADMIN on kernels without nvme_cmd_allowed() (before
 * 6.2, "nvme: identify-namespace without CAP_SYS_ADMIN"); since then write
 * access to the char device is enough for I/O commands.
 * Namespaces formatted with metadata are opened: reads and writes then carry
 * it (regbuf_uring_nvme_prep_rw_md()).
 *
 * Return: 0; -EINVAL @ns or @path NULL or @flags not 0; -ENODEV @path is not
 * an NVMe namespace char device (a regular file, /dev/null, a block device),
 * or an inactive namespace (NSZE 0); -EOPNOTSUPP a block size below 512
 * bytes or above 64 KiB, or protection information with less than 8 bytes of
 * metadata or of a type past 3 (a layout the NVM Command Set does not
 * define); -EIO Identify
 * Namespace or Identify Controller failed with an NVMe status, or their data
 * cannot be right (the format in use is not among those listed,
 * regbuf_nvme_id_ns_parse(); an MDTS of 2^64 bytes or more,
 * regbuf_nvme_id_ctrl_parse()); -EACCES/-EPERM not allowed to send
 * Identify; -ENOMEM; other -errno from open(), ioctl() or sysfs.
 */
REGBUF_MUST_CHECK int regbuf_uring_nvme_open(struct regbuf_uring_nvme_ns *ns, const char *path,
					     unsigned int flags);

/**
 * regbuf_uring_nvme_close() - close the namespace
 * @ns: an opened namespace (or one whose fd is -1)
 */
void regbuf_uring_nvme_close(struct regbuf_uring_nvme_ns *ns);

/**
 * regbuf_uring_nvme_read_limits() - a block device's queue limits from sysfs
 * @lim: filled in
 * @chunk_bytes: if not NULL, chunk_sectors in bytes (0: none)
 * @disk: name under /sys/block, e.g. "nvme0n1"
 *
 * max_hw_sectors_kb, max_segments, max_segment_size, virt_boundary_mask,
 * logical_block_size, dma_alignment (the block layer's default 511 where the
 * kernel does not show it) and chunk_sectors; the segment boundary is not in
 * sysfs and keeps the block layer's default.
 *
 * Return: 0; -EINVAL @lim or @disk NULL, a name with '/', or limits
 * regbuf_limits_validate() refuses; -errno reading sysfs (-ENOENT: no such disk).
 */
REGBUF_MUST_CHECK int regbuf_uring_nvme_read_limits(struct regbuf_limits *lim,
						    uint64_t *chunk_bytes, const char *disk);

/* Set Force Unit Access on writes and reads (NVMe base spec, Read/Write CDW12 bit 30). */
#define REGBUF_URING_NVME_F_FUA		(1U << 0)

/**
 * regbuf_uring_nvme_prep_rw() - queue an NVMe Read or Write of registered memory
 * @r: the calling thread's ring (pool created with %REGBUF_URING_POOL_F_NVME_CMD)
 * @ns: the namespace
 * @write: true for Write (opcode 01h), false for Read (02h)
 * @buf: registered memory (any memory when the pool is not registered)
 * @len: bytes, a multiple of the block size
 * @slba: first logical block
 * @flags: REGBUF_URING_NVME_F_*
 * @user_data: copied to every CQE, command i's with piece index i (bits 63..48
 *	clear; regbuf_uring_cqe_piece(), regbuf_uring_nvme_piece())
 *
 * Cuts the transfer into commands the namespace maps without a bounce copy:
 * at kernel-buffer (slot) boundaries, by regbuf_seg_split() over @ns->lim
 * (max transfer, max segments with every page its own segment, DMA
 * alignment), at chunk boundaries and at 65536 blocks (the 16-bit NLB).  With
 * registered memory each SQE is IORING_URING_CMD_FIXED with the slot's
 * buf_index; where the open-time probe found fixed passthrough failing on this
 * kernel (@ns->fixed), plain addresses are sent instead and the kernel pins
 * the pages per command.  Nothing is queued unless every command fits in the SQ.  The
 * range is not checked against the namespace size: the device answers LBA
 * Out of Range.  A namespace formatted with a separate metadata buffer needs
 * regbuf_uring_nvme_prep_rw_md(): without a metadata buffer the controller
 * would read or write the metadata at address 0, so such a read or write is
 * refused here.
 *
 * Context: hot path; the thread owning @r.
 * Return: SQEs queued (= CQEs to expect), or -EINVAL (@len 0 or not a multiple
 * of the block size (@ns->blk_bytes), a namespace with separate metadata,
 * @buf breaking the DMA alignment, a logical block of the
 * buffer straddling two kernel buffers (a command addresses one; align @buf to
 * the block size to avoid it), unknown @flags, bits 63..48 in @user_data, the
 * ring not created for passthrough); -EFAULT @buf not registered
 * (regbuf_uring_fault_explain()); -E2BIG a kernel buffer longer than
 * @ns->max_buf_len (register after regbuf_uring_pool_set_buf_len()), or more
 * than %REGBUF_URING_MAX_PIECES commands; -EOPNOTSUPP @r polls and the
 * namespace has no poll queues (@ns->poll); -EBUSY the SQ has no room for all
 * the commands.
 */
int regbuf_uring_nvme_prep_rw(struct regbuf_uring_ring *r, const struct regbuf_uring_nvme_ns *ns,
			      bool write, void *buf, uint64_t len, uint64_t slba,
			      unsigned int flags, uint64_t user_data);

/**
 * struct regbuf_uring_nvme_md - the metadata of one read or write
 * @buf: metadata, @ns->ms bytes per block, for a format with a separate
 *	metadata buffer (NULL otherwise, and with %REGBUF_NVME_RW_PRACT on a
 *	format whose metadata is the 8 bytes of protection information)
 * @prinfo: %REGBUF_NVME_RW_PRACT and %REGBUF_NVME_RW_PRCHK_* bits (a
 *	namespace with protection information only)
 * @reftag: reference tag of the first block (for Type 1, its LBA's low 32
 *	bits); each command gets the tag of its own first block
 * @apptag: application tag expected (ELBAT)
 * @appmask: the bits of @apptag checked (ELBATM)
 *
 * The metadata buffer is any memory: passthrough copies it (Linux 6.1) or
 * pins it per command (bio_integrity_map_user(), Linux 6.9 and later).
 */
struct regbuf_uring_nvme_md {
	void *buf;
	unsigned int prinfo;
	uint32_t reftag;
	uint16_t apptag;
	uint16_t appmask;
};

/**
 * regbuf_uring_nvme_prep_rw_md() - queue a Read or Write with metadata
 * @r: the calling thread's ring
 * @ns: the namespace
 * @write: Write (01h) or Read (02h)
 * @buf: registered memory; with extended LBAs each block's metadata follows
 *	its data (@len counts both: a multiple of @ns->blk_bytes)
 * @len: bytes of @buf
 * @slba: first logical block
 * @flags: REGBUF_URING_NVME_F_*
 * @md: metadata and protection information, or NULL
 * @user_data: as regbuf_uring_nvme_prep_rw() (piece index in bits 63..48)
 *
 * As regbuf_uring_nvme_prep_rw(), each command also given its part of
 * @md->buf (MPTR, metadata_len), the PRINFO bits (CDW12), the reference tag
 * of its first block (CDW14) and the application tag and mask (CDW15).  A
 * protection check the controller fails completes the command with its
 * status (SCT 2h: 82h guard, 83h application tag, 84h reference tag).
 *
 * Context: hot path; the thread owning @r.
 * Return: SQEs queued, or the errors of regbuf_uring_nvme_prep_rw(), and
 * -EINVAL for metadata that does not fit the format (regbuf_nvme_md_check():
 * PRINFO bits unknown or on a namespace without protection information,
 * @md->buf where no metadata travels separately, none where it does unless
 * PRACT with 8 bytes of it, PRACT with 8 bytes on an extended-LBA format).
 */
int regbuf_uring_nvme_prep_rw_md(struct regbuf_uring_ring *r,
				 const struct regbuf_uring_nvme_ns *ns, bool write, void *buf,
				 uint64_t len, uint64_t slba, unsigned int flags,
				 const struct regbuf_uring_nvme_md *md, uint64_t user_data);

/**
 * regbuf_uring_nvme_prep_write_zeroes() - queue NVMe Write Zeroes (08h)
 * @r: the ring
 * @ns: the namespace
 * @slba: first logical block
 * @nr_lbas: blocks, split into commands of at most 65536
 * @user_data: copied to every CQE, command i's with piece index i (bits
 *	63..48 clear): command i zeroes from @slba + i * 65536
 *
 * Return: SQEs queued, or -EINVAL (@nr_lbas 0, bits 63..48 set, ring not for
 * passthrough); -EOPNOTSUPP as regbuf_uring_nvme_prep_rw(); -E2BIG more than
 * %REGBUF_URING_MAX_PIECES commands; -EBUSY the SQ has no room for all the
 * commands.
 */
int regbuf_uring_nvme_prep_write_zeroes(struct regbuf_uring_ring *r,
					const struct regbuf_uring_nvme_ns *ns, uint64_t slba,
					uint64_t nr_lbas, uint64_t user_data);

/**
 * regbuf_uring_nvme_prep_flush() - queue NVMe Flush (00h)
 * @r: the ring
 * @ns: the namespace
 * @user_data: copied to the CQE (bits 63..48 clear)
 *
 * Return: 1, or -EINVAL (bits 63..48 set, ring not for passthrough);
 * -EOPNOTSUPP as regbuf_uring_nvme_prep_rw(); -EBUSY SQ full.
 */
int regbuf_uring_nvme_prep_flush(struct regbuf_uring_ring *r,
				 const struct regbuf_uring_nvme_ns *ns, uint64_t user_data);

/**
 * regbuf_uring_nvme_prep_cmd() - queue one raw NVMe I/O command, unchecked
 * @r: the ring
 * @ns: the namespace (its fd is used; @cmd->nsid is sent as given)
 * @cmd: the command; addr/data_len as the kernel reads them
 * @user_data: copied to the CQE (bits 63..48 clear)
 *
 * When @cmd->data_len is not 0 and the pool has registered memory, the slot
 * holding [addr, addr + data_len) is found and the SQE is
 * IORING_URING_CMD_FIXED.  Nothing is sized to the limits: a command that
 * does not fit them is failed by the kernel or copied through bounce pages.
 *
 * Return: 1, or -EINVAL (@cmd NULL, bits 63..48 set, ring not for
 * passthrough); -EOPNOTSUPP as regbuf_uring_nvme_prep_rw(); -EFAULT the data
 * is not inside one registered slot; -EBUSY SQ full.
 */
int regbuf_uring_nvme_prep_cmd(struct regbuf_uring_ring *r, const struct regbuf_uring_nvme_ns *ns,
			       const struct nvme_uring_cmd *cmd, uint64_t user_data);

/**
 * regbuf_uring_nvme_piece() - the part of a transfer command @piece carries
 * @r: the ring the transfer was prepared on
 * @ns: the namespace
 * @buf: the transfer's memory, as given to regbuf_uring_nvme_prep_rw()
 * @len: its length
 * @slba: its first logical block
 * @piece: the piece index of a CQE (regbuf_uring_cqe_piece())
 * @io_off: the command's first byte as an offset into the transfer (its first
 *	block is @slba + @io_off / block size)
 * @piece_len: the command's length in bytes
 *
 * The cut regbuf_uring_nvme_prep_rw() made, computed again: ask before the
 * registration of that memory changes.
 *
 * Return: 0; -ERANGE the transfer has fewer commands than @piece + 1; the
 * errors of regbuf_uring_nvme_prep_rw() for a transfer it would refuse.
 */
int regbuf_uring_nvme_piece(const struct regbuf_uring_ring *r,
			    const struct regbuf_uring_nvme_ns *ns, const void *buf, uint64_t len,
			    uint64_t slba, uint32_t piece, uint64_t *io_off, uint64_t *piece_len);

/**
 * struct regbuf_uring_nvme_cpl - a passthrough completion, decoded
 * @res: the CQE's res: 0, a positive NVMe status, or -errno from the kernel
 * @status: the 15-bit NVMe status (completion DW3 bits 31:17: SC 7:0,
 *	SCT 10:8, CRD 12:11, More 13, DNR 14; NVMe base spec "Completion Queue
 *	Entry"); 0 when @res is not positive.  The host driver also reports its
 *	own statuses here (0x370 host path error, 0x371 aborted by host).
 * @sct: Status Code Type
 * @sc: Status Code
 * @dnr: Do Not Retry
 * @dw0: command specific DW0 (big_cqe[0])
 */
struct regbuf_uring_nvme_cpl {
	int32_t res;
	uint16_t status;
	uint8_t sct;
	uint8_t sc;
	bool dnr;
	uint32_t dw0;
};

/**
 * regbuf_uring_nvme_cqe() - decode a passthrough CQE
 * @cqe: a CQE from a %REGBUF_URING_POOL_F_NVME_CMD ring (32 bytes)
 * @c: filled in
 *
 * nvme_uring_task_cb() completes with the NVMe status (positive), -EINTR for
 * a cancelled request, or a -errno of the submission, and DW0 in big_cqe[0].
 *
 * Return: 0 success; -EIO the device (or host driver) reported an NVMe
 * status (in @c); else the kernel's -errno.
 */
static inline int regbuf_uring_nvme_cqe(const struct io_uring_cqe *cqe,
					struct regbuf_uring_nvme_cpl *c)
{
	c->res = cqe->res;
	c->status = cqe->res > 0 ? (uint16_t)(cqe->res & REGBUF_NVME_STATUS_MASK) : 0;
	c->sc = (uint8_t)regbuf_nvme_status_sc(c->status);
	c->sct = (uint8_t)regbuf_nvme_status_sct(c->status);
	c->dnr = regbuf_nvme_status_dnr(c->status);
	c->dw0 = (uint32_t)cqe->big_cqe[0];
	if (cqe->res > 0)
		return -EIO;
	return cqe->res;
}

/**
 * regbuf_uring_nvme_rw_wait() - synchronous regbuf_uring_nvme_prep_rw()
 * @r: the ring (no other I/O of the caller in flight on it)
 * @ns: the namespace
 * @write: true for Write
 * @buf: registered memory
 * @len: bytes
 * @slba: first block
 * @flags: REGBUF_URING_NVME_F_*
 * @cpl: if not NULL, the first failed command's completion (zeroed on success)
 *
 * Tag CQEs seen while waiting are counted on the ring.
 * Return: @len, or the first failure: -EIO with the NVMe status in @cpl, a
 * kernel -errno, or a prep error.
 */
int64_t regbuf_uring_nvme_rw_wait(struct regbuf_uring_ring *r,
				  const struct regbuf_uring_nvme_ns *ns, bool write, void *buf,
				  uint64_t len, uint64_t slba, unsigned int flags,
				  struct regbuf_uring_nvme_cpl *cpl);

#ifdef __cplusplus
}
#endif

#endif /* REGBUF_URING_H */
