/* SPDX-License-Identifier: MIT *
 * Section numbers: NVMe Base Specification 1.4.
 */
/*
 * regbuf - userspace NVMe driver over VFIO (or physical addresses), polled,
 * with descriptors built once per registered buffer.
 */
#ifndef REGBUF_NVME_H
#define REGBUF_NVME_H

#include <stddef.h>
#include <stdint.h>

#include <regbuf/compiler.h>
#include <regbuf/nvme_spec.h>

#ifdef __cplusplus
extern "C" {
#endif

/**
 * DOC: userspace NVMe
 *
 * A &struct regbuf_nvme_ctrl owns one NVMe PCI function.  Two ways to reach
 * it:
 *
 * - **VFIO** (REGBUF_NVME_MODE_VFIO): the function is bound to vfio-pci and
 *   sits behind an IOMMU (type1 container).  Every buffer is mapped once,
 *   whole, at one IOVA-contiguous range (one VFIO_IOMMU_MAP_DMA, one of the
 *   container's 65535 mapping slots), so its descriptors are arithmetic.
 *   The IOMMU confines the device to what was mapped.
 * - **Physical** (REGBUF_NVME_MODE_PHYS): no IOMMU; the function is bound to
 *   uio_pci_generic and DMA uses physical addresses read from
 *   /proc/self/pagemap (needs CAP_SYS_ADMIN).  Only hugetlb memory is
 *   accepted: 4 KiB pages and THPs can be migrated or compacted under a
 *   running DMA, hugetlb pages are not moved while mapped.  **Unsafe by
 *   nature**: a wrong address is a write anywhere in RAM, nothing confines
 *   the device.  Opt in with REGBUF_NVME_F_ALLOW_UNSAFE.
 *
 * A buffer is mapped with regbuf_nvme_dmamap_create() (a VFIO DMA mapping or a
 * physical translation) and its PRP lists / SGL descriptors are built then,
 * once.  A namespace is named by a &struct regbuf_nvme_ns handle from
 * regbuf_nvme_ns_get(), which the controller owns (as SPDK's spdk_nvme_ns):
 * submission reads the block size from it, with no lock and no search.
 * Each thread creates its own &struct regbuf_nvme_qpair (one I/O submission
 * + completion queue pair) and submits reads, writes and flushes that name
 * (namespace, buffer, offset, length, LBA); completions are polled.  Requests
 * larger than the controller's MDTS are split into several commands and
 * complete once.  Completions keep the raw NVMe status (SCT/SC, DNR); a
 * helper maps it to an errno.
 */

struct regbuf_nvme_ctrl;
struct regbuf_nvme_ns;
struct regbuf_nvme_qpair;
struct regbuf_nvme_dmamap;

/* How to reach the device (struct regbuf_nvme_opts::mode). */
enum regbuf_nvme_mode {
	REGBUF_NVME_MODE_AUTO = 0,	/* whichever driver the function is bound to */
	REGBUF_NVME_MODE_VFIO = 1,	/* vfio-pci + type1 IOMMU */
	REGBUF_NVME_MODE_PHYS = 2,	/* uio_pci_generic + physical addresses (unsafe) */
};

/* Controller flags (struct regbuf_nvme_opts::flags). */
#define REGBUF_NVME_F_ALLOW_UNSAFE	(1u << 0)	/* permit physical mode */
#define REGBUF_NVME_F_NO_SGL		(1u << 1)	/* never use SGLs (PRP only) */
#define REGBUF_NVME_F_ALWAYS_SGL	(1u << 2)	/* SGL for every I/O the controller allows */

/**
 * struct regbuf_nvme_opts - controller options; zero means default
 * @mode: REGBUF_NVME_MODE_*
 * @flags: REGBUF_NVME_F_*
 * @admin_depth: admin queue entries (default 32; 2..4096)
 * @io_queues: I/O queue pairs to ask the controller for (default 64)
 * @timeout_ms: command timeout (default: CAP.TO, at least 2 s)
 * @why: if non-NULL, receives a one-line reason when creation fails
 * @why_len: bytes at @why
 */
struct regbuf_nvme_opts {
	uint32_t mode;
	uint32_t flags;
	uint32_t admin_depth;
	uint32_t io_queues;
	uint32_t timeout_ms;
	uint32_t __rsvd;
	char *why;
	size_t why_len;
};

/**
 * struct regbuf_nvme_ctrl_info - what bring-up and Identify Controller found
 * @mode: REGBUF_NVME_MODE_VFIO or _PHYS
 * @vid: PCI vendor id (Identify Controller bytes 1:0)
 * @sn: serial number, NUL terminated (bytes 23:4)
 * @mn: model number (bytes 63:24)
 * @fr: firmware revision (bytes 71:64)
 * @vs: CAP-side version register VS (NVMe 1.4 §3.1.2)
 * @mqes: CAP.MQES + 1: entries per queue the controller allows
 * @dstrd: CAP.DSTRD: doorbell stride is 4 << dstrd bytes
 * @timeout_ms: CAP.TO in milliseconds
 * @page_size: controller memory page size in use (CC.MPS)
 * @mdts_bytes: maximum data transfer (0 = no limit reported)
 * @max_cmd_bytes: largest single command this driver issues (MDTS, capped)
 * @sgls: Identify Controller SGLS (bytes 539:536); bits 1:0 non-zero = SGLs
 * @nn: number of namespaces
 * @io_queues: I/O queue pairs granted by Set Features Number of Queues
 * @bringup_ns: time from disable to ready, nanoseconds
 * @iova_limit: VFIO: DMA mapping slots the container reports (0 = unknown)
 */
struct regbuf_nvme_ctrl_info {
	uint32_t mode;
	uint16_t vid;
	char sn[21];
	char mn[41];
	char fr[9];
	uint32_t vs;
	uint32_t mqes;
	uint32_t dstrd;
	uint32_t timeout_ms;
	uint32_t page_size;
	uint64_t mdts_bytes;
	uint64_t max_cmd_bytes;
	uint32_t sgls;
	uint32_t nn;
	uint32_t io_queues;
	uint64_t bringup_ns;
	uint32_t iova_limit;
};

/**
 * struct regbuf_nvme_ns_info - Identify Namespace, the parts I/O needs
 * @nsid: namespace id
 * @nsze: size in logical blocks
 * @lba_size: bytes per logical block (2^LBADS of the format in use)
 * @ms: metadata bytes per block of that format
 * @flbas: index of the LBA format in use (&struct regbuf_nvme_id_ns flbas)
 * @nlbaf: number of LBA formats (NLBAF + 1)
 * @ext: extended LBA: each block's metadata follows its data in the data
 *	buffer; else (with @ms) it travels in a buffer of its own (MPTR)
 * @pi_type: protection information type, 0 (none) or %REGBUF_NVME_PI_TYPE1..3
 * @pi_first: the protection information is the first 8 bytes of each block's
 *	metadata, else the last 8
 * @blk_bytes: bytes one block takes in the data buffer: @lba_size, plus @ms
 *	with extended LBAs
 */
struct regbuf_nvme_ns_info {
	uint32_t nsid;
	uint64_t nsze;
	uint32_t lba_size;
	uint32_t ms;
	uint32_t flbas;
	uint32_t nlbaf;
	bool ext;
	uint8_t pi_type;
	bool pi_first;
	uint32_t blk_bytes;
};

/**
 * struct regbuf_nvme_cpl - one finished request
 * @ctx: the caller's pointer given at submission
 * @status: raw NVMe status of the first failing command (or 0): the CQE
 *	status field without the phase bit, i.e. SC in bits 7:0, SCT in 10:8,
 *	CRD 12:11, M bit 13, DNR bit 14 (NVMe 1.4 §4.6.1; decode with
 *	regbuf_nvme_status_sct() and the others in <regbuf/nvme_spec.h>); or
 *	REGBUF_NVME_STATUS_TIMEOUT / _ABORTED when the driver gave up, or
 *	REGBUF_NVME_STATUS_BADDESC when no descriptor could describe a piece
 * @cid: command identifier of that command
 * @dw0: command specific result (DW0) of the last command
 * @nr_cmds: commands the request was split into
 */
struct regbuf_nvme_cpl {
	void *ctx;
	uint16_t status;
	uint16_t cid;
	uint32_t dw0;
	uint32_t nr_cmds;
};

/**
 * regbuf_nvme_ctrl_create() - open an NVMe function and bring the controller up
 * @cp: where to store the controller
 * @bdf: PCI address, "0000:00:03.0" (domain optional)
 * @opts: options, or NULL for defaults
 *
 * Opens the device (VFIO container/group/device, or uio + sysfs), enables
 * bus mastering, disables the controller and waits for CSTS.RDY = 0, sets up
 * the admin queue, enables it (CC.MPS/IOSQES/IOCQES/CSS) and waits for
 * CSTS.RDY = 1 bounded by CAP.TO, then Identify Controller and Set Features
 * Number of Queues (NVMe 1.4 §7.6.1).
 *
 * In physical mode the function's /dev/uioN stays open (and flocked) until
 * regbuf_nvme_ctrl_destroy(): uio_pci_generic clears bus mastering when it is
 * closed, also when the process is killed, so the controller cannot finish
 * commands into memory that was freed.  With VFIO, vfio-pci disables the
 * function when its file is released.
 *
 * Context: blocks up to CAP.TO; allocates.
 * Return: 0; -ENODEV no such function, not an NVMe controller, or not bound
 * to a usable driver; -EPERM physical mode without REGBUF_NVME_F_ALLOW_UNSAFE
 * or without CAP_SYS_ADMIN (pagemap hides frame numbers); -EBUSY the VFIO
 * group is not viable or already in use, or in physical mode another process
 * holds the function; -ENOENT physical mode and no /dev/uioN for it; -ETIMEDOUT the controller did not
 * become ready/not-ready within CAP.TO; -EIO the controller reported a fatal
 * status (CSTS.CFS), an admin command failed, or CAP / Identify Controller
 * hold values that cannot be right (MQES 0, doorbells outside BAR0, MDTS
 * beyond 64 bits); -ENOMEM; -EINVAL bad
 * options.  With @opts->why set, a one-line reason is stored there.
 */
REGBUF_MUST_CHECK
int regbuf_nvme_ctrl_create(struct regbuf_nvme_ctrl **cp, const char *bdf,
			    const struct regbuf_nvme_opts *opts);

/**
 * regbuf_nvme_ctrl_destroy() - shut the controller down and release the device
 * @c: controller, or NULL
 *
 * Deletes the I/O queues still open, performs a normal shutdown (CC.SHN = 01b,
 * wait for CSTS.SHST = 10b, NVMe 1.4 §7.6.2), unmaps every DMA mapping.
 * Buffers and queue pairs must have been destroyed first.
 */
void regbuf_nvme_ctrl_destroy(struct regbuf_nvme_ctrl *c);

/**
 * regbuf_nvme_ctrl_reset() - controller level reset and re-initialisation
 * @c: controller; no queue pair may exist
 *
 * CC.EN 1 -> 0, wait CSTS.RDY = 0, then the whole bring-up again (NVMe 1.4
 * NVMe 1.4 §7.3.2).  Also the way out after CSTS.CFS.  DMA mappings survive.
 *
 * Return: 0; -EBUSY queue pairs still exist; as regbuf_nvme_ctrl_create().
 */
REGBUF_MUST_CHECK
int regbuf_nvme_ctrl_reset(struct regbuf_nvme_ctrl *c);

/**
 * regbuf_nvme_ctrl_info() - what bring-up found
 * @c: controller
 *
 * Return: the controller's capabilities and Identify data, valid while @c lives.
 */
const struct regbuf_nvme_ctrl_info *regbuf_nvme_ctrl_info(const struct regbuf_nvme_ctrl *c);

/**
 * regbuf_nvme_ctrl_failed() - whether CSTS.CFS is set (or the device vanished)
 * @c: controller
 *
 * Return: 1 if the controller reports a fatal status, 0 otherwise.
 */
int regbuf_nvme_ctrl_failed(struct regbuf_nvme_ctrl *c);

/**
 * regbuf_nvme_ns_get() - Identify Namespace, and the handle I/O names it by
 * @nsp: where to store the handle
 * @c: controller
 * @nsid: namespace, 1..NN
 *
 * Sends Identify Namespace now and checks the data before use
 * (regbuf_nvme_id_ns_parse(): the format in use listed, 512 B..64 KiB
 * blocks).  The handle belongs to @c and stays valid, unchanged, until
 * regbuf_nvme_ctrl_destroy(): any thread may submit with it while others
 * call this function.  Asking again returns the same handle while the
 * namespace is unchanged, and a new one once its Identify data differ
 * (reformatted, resized); I/O through the old handle keeps the old block
 * size.  After regbuf_nvme_ctrl_reset(), ask again.
 *
 * Context: an admin command, serialised with the others; allocates.
 * Formats with metadata (separate or extended LBA, with or without
 * protection information) are usable: reads and writes then carry it
 * (regbuf_nvme_submit_rw_md()).
 *
 * Return: 0; -EINVAL @nsp or @c NULL, bad @nsid; -ENODEV inactive namespace
 * (NSZE 0); -EOPNOTSUPP a format regbuf cannot use (block size outside
 * 512 B..64 KiB, protection information the NVM Command Set does not
 * define); -EIO command failure, or Identify data that cannot be right (the
 * controller is then marked failed); -ETIMEDOUT; -ENOMEM.
 */
REGBUF_MUST_CHECK
int regbuf_nvme_ns_get(struct regbuf_nvme_ns **nsp, struct regbuf_nvme_ctrl *c, uint32_t nsid);

/**
 * regbuf_nvme_ns_info() - what Identify Namespace said when the handle was made
 * @ns: namespace handle
 *
 * Return: the namespace's id, size and format, valid while its controller lives.
 */
const struct regbuf_nvme_ns_info *regbuf_nvme_ns_info(const struct regbuf_nvme_ns *ns);

/**
 * regbuf_nvme_identify_raw() - Identify with any CNS into a 4 KiB buffer
 * @c: controller
 * @cns: Controller or Namespace Structure (CDW10 bits 7:0)
 * @nsid: namespace, or 0
 * @data: 4096 bytes
 *
 * Return: 0; -EIO with the status in the log; -ETIMEDOUT; -ENOMEM.
 */
REGBUF_MUST_CHECK
int regbuf_nvme_identify_raw(struct regbuf_nvme_ctrl *c, uint8_t cns, uint32_t nsid, void *data);

/* Buffer flags. */
#define REGBUF_NVME_DMAMAP_F_READONLY	(1u << 0)	/* device may only read (writes from it) */

/**
 * regbuf_nvme_dmamap_create() - make memory reachable by the device, once
 * @bp: where to store the mapping
 * @c: controller
 * @addr: first byte; 4-byte aligned (NVMe 1.4 §4.3, dword alignment)
 * @len: bytes
 * @flags: REGBUF_NVME_DMAMAP_F_*
 *
 * VFIO: one VFIO_IOMMU_MAP_DMA of the pages covering the range at an IOVA
 * chosen inside the IOMMU's usable ranges (VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE).
 * Physical mode: the frame of every page from /proc/self/pagemap, which must
 * be hugetlb memory; physically contiguous pages merge into one segment.
 * The descriptors (PRP lists, SGL) are built here, never per I/O.
 *
 * Context: pins memory, allocates, one or two syscalls.
 * Return: 0; -EINVAL misaligned or empty range; -ENOSPC the container's DMA
 * mapping limit or the IOVA space is exhausted; -EPERM physical mode with
 * memory that is not hugetlb; -EFAULT unmapped memory; -ENOMEM.
 */
REGBUF_MUST_CHECK
int regbuf_nvme_dmamap_create(struct regbuf_nvme_dmamap **bp, struct regbuf_nvme_ctrl *c,
			      void *addr, size_t len, unsigned int flags);

struct regbuf_table;

/**
 * regbuf_nvme_dmamap_create_slot() - map a registered buffer of a regbuf table
 * @bp: where to store the mapping
 * @c: controller
 * @t: table
 * @slot: registered slot of @t
 * @flags: REGBUF_NVME_DMAMAP_F_*
 *
 * Holds a reference on the slot's buffer until regbuf_nvme_dmamap_destroy().
 * VFIO: as regbuf_nvme_dmamap_create() on the buffer's range.  Physical mode:
 * the DMA segments are the table's physical segments (adjacent folios
 * already merged at registration), checked against /proc/self/pagemap now
 * and required to be hugetlb.
 *
 * Return: as regbuf_nvme_dmamap_create(); -EFAULT empty slot; -EPERM physical
 * mode and the buffer was registered without frame numbers
 * (REGBUF_TABLE_F_LAYOUT_PFN, root) or is not hugetlb memory; -ESTALE the
 * memory moved since registration.
 */
REGBUF_MUST_CHECK
int regbuf_nvme_dmamap_create_slot(struct regbuf_nvme_dmamap **bp, struct regbuf_nvme_ctrl *c,
				struct regbuf_table *t, uint32_t slot, unsigned int flags);

/**
 * regbuf_nvme_dmamap_destroy() - unmap a buffer
 * @b: buffer, or NULL; no I/O on it may be in flight
 */
void regbuf_nvme_dmamap_destroy(struct regbuf_nvme_dmamap *b);

/**
 * regbuf_nvme_dmamap_iova() - device address of a byte of the buffer
 * @b: buffer
 * @off: offset
 *
 * Return: the IOVA (VFIO) or physical address; 0 if @off is outside.
 */
uint64_t regbuf_nvme_dmamap_iova(const struct regbuf_nvme_dmamap *b, uint64_t off);

/**
 * regbuf_nvme_dmamap_len() - bytes of a mapped buffer
 * @b: buffer
 *
 * Return: the length it was created with.
 */
uint64_t regbuf_nvme_dmamap_len(const struct regbuf_nvme_dmamap *b);

/**
 * regbuf_nvme_dmamap_nr_segs() - DMA segments of the buffer
 * @b: buffer
 *
 * Return: 1 under VFIO (one IOVA range); in physical mode, the physically
 * contiguous runs of the buffer.
 */
uint32_t regbuf_nvme_dmamap_nr_segs(const struct regbuf_nvme_dmamap *b);

/**
 * regbuf_nvme_qpair_create() - one I/O submission/completion queue pair
 * @qp: where to store it
 * @c: controller
 * @depth: entries (2..CAP.MQES+1); 0 = 256.  At most @depth - 1 commands are
 *	in flight (a full queue keeps one slot empty, NVMe 1.4 §4.1.2)
 * @flags: 0
 *
 * Create I/O Completion Queue then Create I/O Submission Queue (NVMe 1.4
 * NVMe 1.4 §5.3, §5.4), physically contiguous, no interrupts: completions are polled.
 * A queue pair belongs to one thread at a time.
 *
 * Return: 0; -EBUSY every queue pair the controller granted is in use;
 * -EINVAL bad @depth; -EIO the controller refused (status logged in why);
 * -ETIMEDOUT; -ENOMEM.
 */
REGBUF_MUST_CHECK
int regbuf_nvme_qpair_create(struct regbuf_nvme_qpair **qp, struct regbuf_nvme_ctrl *c,
			     uint32_t depth, unsigned int flags);

/**
 * regbuf_nvme_qpair_destroy() - delete the queues (SQ then CQ)
 * @q: queue pair, or NULL; in-flight requests are waited for (bounded by
 *	the timeout) first
 */
void regbuf_nvme_qpair_destroy(struct regbuf_nvme_qpair *q);

/* I/O flags. */
#define REGBUF_NVME_IO_F_PRP	(1u << 0)	/* force PRPs */
#define REGBUF_NVME_IO_F_SGL	(1u << 1)	/* force an SGL (-EOPNOTSUPP if unsupported) */
#define REGBUF_NVME_IO_F_FUA	(1u << 2)	/* Force Unit Access (CDW12 bit 30) */
/*
 * Post the commands but do not ring the SQ tail doorbell: a batch of
 * submissions costs one MMIO write, from regbuf_nvme_qpair_ring() (as libvfn's
 * nvme_sq_post()/nvme_sq_run() or SPDK's delayed doorbell).  Until it rings,
 * the controller does not see the commands (their timeout runs already).
 */
#define REGBUF_NVME_IO_F_DEFER		(1u << 3)

/**
 * regbuf_nvme_submit_read() - queue a read into a mapped buffer
 * @q: queue pair
 * @ns: namespace handle of the queue pair's controller
 * @b: buffer
 * @off: offset of the data in @b
 * @len: bytes; a multiple of the namespace's block size (&struct
 *	regbuf_nvme_ns_info blk_bytes: with extended LBAs, data and metadata)
 * @slba: first logical block
 * @ctx: returned in the completion
 * @flags: REGBUF_NVME_IO_F_*
 *
 * Splits at the controller's maximum transfer; every piece is a command with
 * descriptors computed from the buffer's mapping in O(1) (or O(segments
 * touched) for scattered physical memory with an SGL).  A format with a
 * separate metadata buffer needs regbuf_nvme_submit_rw_md().
 *
 * Context: hot path: no syscall, no allocation.
 * Return: 0; -EINVAL @ns NULL or of another controller, range outside @b,
 * length not a block multiple or 0, misaligned address, a format with
 * separate metadata; -EAGAIN not enough free queue entries (reap first);
 * -EOPNOTSUPP SGL forced but unsupported; -ENXIO the controller failed.
 */
int regbuf_nvme_submit_read(struct regbuf_nvme_qpair *q, const struct regbuf_nvme_ns *ns,
			    const struct regbuf_nvme_dmamap *b, uint64_t off, uint64_t len,
			    uint64_t slba, void *ctx, unsigned int flags);

/**
 * regbuf_nvme_submit_write() - queue a write from a mapped buffer
 * @q: queue pair
 * @ns: namespace handle
 * @b: buffer
 * @off: offset of the data in @b
 * @len: bytes; a multiple of the namespace's block size
 * @slba: first logical block
 * @ctx: returned in the completion
 * @flags: REGBUF_NVME_IO_F_*
 *
 * Return: as regbuf_nvme_submit_read().
 */
int regbuf_nvme_submit_write(struct regbuf_nvme_qpair *q, const struct regbuf_nvme_ns *ns,
			     const struct regbuf_nvme_dmamap *b, uint64_t off, uint64_t len,
			     uint64_t slba, void *ctx, unsigned int flags);

/**
 * struct regbuf_nvme_md - the metadata of one read or write
 * @map: DMA map holding the metadata, &struct regbuf_nvme_ns_info ms bytes
 *	per block, for a format with a separate metadata buffer; NULL for
 *	extended LBAs, and with %REGBUF_NVME_RW_PRACT on a format whose metadata
 *	is the 8 bytes of protection information
 * @off: offset of the first block's metadata in @map; 4-byte aligned, and
 *	each command's part contiguous in device address space (MPTR, NVMe 1.4
 *	4.2: always under VFIO; in physical mode inside one segment)
 * @prinfo: %REGBUF_NVME_RW_PRACT and %REGBUF_NVME_RW_PRCHK_* bits (a
 *	namespace with protection information only)
 * @reftag: reference tag of the first block (Type 1: its LBA's low 32 bits);
 *	each command gets the tag of its own first block
 * @apptag: application tag expected (ELBAT)
 * @appmask: the bits of @apptag checked (ELBATM)
 */
struct regbuf_nvme_md {
	const struct regbuf_nvme_dmamap *map;
	uint64_t off;
	uint32_t prinfo;
	uint32_t reftag;
	uint16_t apptag;
	uint16_t appmask;
};

/**
 * regbuf_nvme_submit_rw_md() - queue a read or write with metadata
 * @q: queue pair
 * @write: write from @b, else read into it
 * @ns: namespace handle
 * @b: buffer
 * @off: offset of the data in @b
 * @len: bytes; a multiple of the namespace's blk_bytes
 * @slba: first logical block
 * @md: metadata and protection information, or NULL (as
 *	regbuf_nvme_submit_read() / _write())
 * @ctx: returned in the completion
 * @flags: REGBUF_NVME_IO_F_*
 *
 * As regbuf_nvme_submit_read() / _write(), each command also given the
 * device address of its part of @md->map (MPTR; PSDT 01b with an SGL for the
 * data), the PRINFO bits (CDW12), the reference tag of its first block
 * (CDW14) and the application tag and mask (CDW15).  A protection check the
 * controller fails completes the request with its status (SCT 2h: 82h guard,
 * 83h application tag, 84h reference tag).
 *
 * Context: hot path: no syscall, no allocation.
 * Return: as regbuf_nvme_submit_read(), and -EINVAL for metadata that does
 * not fit the format (regbuf_nvme_md_check()), a metadata range outside
 * @md->map or not 4-byte aligned, or @md->map of another controller.  A
 * command whose part of the metadata is not contiguous for the device (physical
 * mode) completes with %REGBUF_NVME_STATUS_BADDESC.
 */
int regbuf_nvme_submit_rw_md(struct regbuf_nvme_qpair *q, bool write,
			     const struct regbuf_nvme_ns *ns, const struct regbuf_nvme_dmamap *b,
			     uint64_t off, uint64_t len, uint64_t slba,
			     const struct regbuf_nvme_md *md, void *ctx, unsigned int flags);

/**
 * regbuf_nvme_submit_flush() - queue a Flush (NVMe 1.4 §6.8)
 * @q: queue pair
 * @ns: namespace handle
 * @ctx: returned in the completion
 *
 * Return: 0; -EINVAL @ns NULL or of another controller; -EAGAIN queue full;
 * -ENXIO controller failed.
 */
int regbuf_nvme_submit_flush(struct regbuf_nvme_qpair *q, const struct regbuf_nvme_ns *ns,
			     void *ctx);

/**
 * regbuf_nvme_submit_cmd() - queue a command the caller built
 * @q: queue pair
 * @cmd: the command: opcode, NSID, data pointer (PRP entries or an SGL
 *	descriptor, with PSDT in @cmd->flags) and CDW2..15 as the controller
 *	should see them; the driver copies it and sets the CID
 * @ctx: returned in the completion
 * @flags: 0 or REGBUF_NVME_IO_F_DEFER
 *
 * For I/O commands regbuf has no helper for (Dataset Management, Write
 * Zeroes, Compare, vendor commands) and for callers that build descriptors
 * themselves.  The driver does not read the data pointer: every address in
 * it (and in any PRP list or SGL segment it points to) must be device memory
 * the caller mapped, e.g. regbuf_nvme_dmamap_iova() of a mapped buffer, and
 * must stay valid until the completion is reaped.  The command completes as
 * one request (nr_cmds 1) and is subject to the timeout.
 *
 * Context: hot path: no syscall, no allocation.
 * Return: 0; -EINVAL NULL @cmd or unknown @flags; -EAGAIN no free queue
 * entry (reap first); -ENXIO the controller failed.
 */
int regbuf_nvme_submit_cmd(struct regbuf_nvme_qpair *q, const struct regbuf_nvme_sqe *cmd,
			   void *ctx, unsigned int flags);

/**
 * regbuf_nvme_qpair_ring() - tell the controller about posted commands
 * @q: queue pair
 *
 * One SQ tail doorbell write (NVMe 1.4 §3.1.24) for every command posted
 * with REGBUF_NVME_IO_F_DEFER since the last ring; harmless when there is
 * none.  Submissions without the flag ring themselves.
 */
void regbuf_nvme_qpair_ring(struct regbuf_nvme_qpair *q);

/**
 * regbuf_nvme_reap() - poll for finished requests
 * @q: queue pair
 * @cpls: where to store them
 * @max: room in @cpls
 *
 * Consumes new completion queue entries (phase tag, NVMe 1.4 §4.6), rings
 * the CQ head doorbell once, and reports each request whose last command
 * finished.  When nothing arrived it checks, at most every millisecond, for
 * commands older than the timeout and for CSTS.CFS; those requests complete
 * with REGBUF_NVME_STATUS_TIMEOUT or _ABORTED.  The device is not trusted:
 * an entry naming a CID not in flight, another SQ or an SQ head outside the
 * queue is not used; the controller is marked failed
 * (regbuf_nvme_ctrl_failed()) and every request in flight completes
 * REGBUF_NVME_STATUS_ABORTED.
 *
 * Context: hot path.
 * Return: number of completions stored (0 when none).
 */
int regbuf_nvme_reap(struct regbuf_nvme_qpair *q, struct regbuf_nvme_cpl *cpls, unsigned int max);

/**
 * regbuf_nvme_qpair_inflight() - requests submitted and not yet reaped
 * @q: queue pair
 *
 * Return: the number of requests whose completion has not been reaped.
 */
unsigned int regbuf_nvme_qpair_inflight(const struct regbuf_nvme_qpair *q);

/* Operations for regbuf_nvme_io(). */
enum regbuf_nvme_op {
	REGBUF_NVME_OP_READ,
	REGBUF_NVME_OP_WRITE,
	REGBUF_NVME_OP_FLUSH,
};

/**
 * regbuf_nvme_io() - submit one request and wait for it
 * @q: queue pair with nothing else in flight
 * @op: REGBUF_NVME_OP_*
 * @ns: namespace handle
 * @b: buffer (ignored for flush)
 * @off: offset in @b
 * @len: bytes
 * @slba: first logical block
 * @cpl: if non-NULL, receives the completion (raw status)
 * @flags: REGBUF_NVME_IO_F_*
 *
 * Return: 0; a submission error; or regbuf_nvme_status_errno() of the status.
 */
int regbuf_nvme_io(struct regbuf_nvme_qpair *q, enum regbuf_nvme_op op,
		   const struct regbuf_nvme_ns *ns, const struct regbuf_nvme_dmamap *b, uint64_t off,
		   uint64_t len, uint64_t slba, struct regbuf_nvme_cpl *cpl, unsigned int flags);

/**
 * regbuf_nvme_stats - counters of one queue pair, for tests and the CLI
 * @cmds: commands submitted
 * @prp: commands that carried PRPs
 * @sgl: commands that carried an SGL
 * @splits: requests split at MDTS
 * @timeouts: commands given up on
 */
struct regbuf_nvme_stats {
	uint64_t cmds;
	uint64_t prp;
	uint64_t sgl;
	uint64_t splits;
	uint64_t timeouts;
};

/**
 * regbuf_nvme_qpair_stats() - read the counters
 * @q: queue pair
 * @st: result
 */
void regbuf_nvme_qpair_stats(const struct regbuf_nvme_qpair *q, struct regbuf_nvme_stats *st);

/*
 * Deprecated names of regbuf 0.1, removed in the next release: the DMA
 * mapping was "struct regbuf_nvme_buf", one of three types called "buf"
 * (beside the table's struct regbuf_buf and the allocator's struct
 * regbuf_alloc_span).  Using a function by its old name warns.
 */
#define regbuf_nvme_buf \
	_Pragma("GCC warning \"struct regbuf_nvme_buf is deprecated: use struct regbuf_nvme_dmamap\"") \
	regbuf_nvme_dmamap
#define REGBUF_NVME_BUF_F_READONLY \
	_Pragma("GCC warning \"REGBUF_NVME_BUF_F_READONLY is deprecated: use REGBUF_NVME_DMAMAP_F_READONLY\"") \
	REGBUF_NVME_DMAMAP_F_READONLY
#define regbuf_nvme_buf_create \
	_Pragma("GCC warning \"regbuf_nvme_buf_create() is deprecated: use regbuf_nvme_dmamap_create()\"") \
	regbuf_nvme_dmamap_create
#define regbuf_nvme_buf_create_slot \
	_Pragma("GCC warning \"regbuf_nvme_buf_create_slot() is deprecated: use regbuf_nvme_dmamap_create_slot()\"") \
	regbuf_nvme_dmamap_create_slot
#define regbuf_nvme_buf_destroy \
	_Pragma("GCC warning \"regbuf_nvme_buf_destroy() is deprecated: use regbuf_nvme_dmamap_destroy()\"") \
	regbuf_nvme_dmamap_destroy
#define regbuf_nvme_buf_iova \
	_Pragma("GCC warning \"regbuf_nvme_buf_iova() is deprecated: use regbuf_nvme_dmamap_iova()\"") \
	regbuf_nvme_dmamap_iova
#define regbuf_nvme_buf_len \
	_Pragma("GCC warning \"regbuf_nvme_buf_len() is deprecated: use regbuf_nvme_dmamap_len()\"") \
	regbuf_nvme_dmamap_len
#define regbuf_nvme_buf_nr_segs \
	_Pragma("GCC warning \"regbuf_nvme_buf_nr_segs() is deprecated: use regbuf_nvme_dmamap_nr_segs()\"") \
	regbuf_nvme_dmamap_nr_segs

#ifdef __cplusplus
}
#endif

#endif /* REGBUF_NVME_H */
