/* SPDX-License-Identifier: MIT */
/*
 * regbuf - the registered buffer table.
 */
#ifndef REGBUF_TABLE_H
#define REGBUF_TABLE_H

#include <stdint.h>
#include <sys/uio.h>

#include <regbuf/compiler.h>
#include <regbuf/seg.h>

#ifdef __cplusplus
extern "C" {
#endif

/**
 * DOC: registered buffer tables
 *
 * A &struct regbuf_table is one ring's (or one device context's) view of up
 * to %REGBUF_TABLE_MAX_BUFS registered buffers, with io_uring's semantics
 * (io_uring/rsrc.c): registration is all-or-nothing, updates may partly
 * succeed, clone copies ranges of slots and shares the buffers.
 *
 * A registered &struct regbuf_buf describes its memory as multipage
 * segments in the buffer's own virtual address space, one per folio as the
 * kernel builds its bvecs (io_check_coalesce_buffer() rules), so that
 * regbuf_table_import() finds the segment of any position in O(1).  The table
 * does not pin memory: pinning is the backends' job (io_uring registration,
 * VFIO map, mlock for physical-address DMA).
 *
 * Concurrency: the slot array is an immutable snapshot published by
 * pointer.  regbuf_table_import() and regbuf_table_buf_get() take no lock
 * (they never wait) and may run on any number of threads while one thread
 * (or several: writers serialise on a per-table mutex) registers, updates,
 * clones or unregisters.  They are not free of shared writes: each marks
 * itself as a reader with two atomic read-modify-writes (an increment and a
 * decrement of a per-table counter shard chosen per thread), so that a
 * writer can tell when the snapshot it replaced is no longer read.  Threads
 * landing on the same shard share its cache line; a writer waits for the
 * readers in flight.  regbuf_buf_import() on a buffer the caller holds a
 * reference on touches no shared state at all.  regbuf_table_destroy() must
 * not race with anything on the same table.
 */

/* Kernel IORING_MAX_REG_BUFFERS. */
#define REGBUF_TABLE_MAX_BUFS		(1u << 14)
/*
 * Kernel per-buffer limit (SZ_1G in io_validate_user_buf_range()): the one
 * definition, used by alloc (slot length), table and uring (a longer entry is
 * registered as consecutive buffers of this size).
 */
#define REGBUF_BUF_MAX_LEN		(UINT64_C(1) << 30)
/* Kernel MAX_RW_COUNT: INT_MAX & PAGE_MASK, the largest single I/O (the one definition). */
#define REGBUF_MAX_RW_COUNT		(UINT64_C(0x7fffffff) & ~UINT64_C(4095))

/* regbuf_table_clone(): replace slots of an existing destination (IORING_REGISTER_DST_REPLACE). */
#define REGBUF_TABLE_F_CLONE_REPLACE	(1u << 0)

/*
 * regbuf_table_register() / _hinted(): flags choosing how the folio layout is
 * discovered.  Default: the cheapest method available (PAGEMAP_SCAN on 6.7+,
 * else pagemap + kpageflags when readable, else 4 KiB pages).
 */
/* Read /proc/self/pagemap + /proc/kpageflags (needs CAP_SYS_ADMIN): exact
 * folios (mTHP, PTE-mapped THP) and physical frame numbers (physical segments). */
#define REGBUF_TABLE_F_LAYOUT_PFN	(1u << 1)
/* Do not discover anything: 4 KiB pages, one segment each (what the kernel does
 * for order-0 memory). */
#define REGBUF_TABLE_F_LAYOUT_4K	(1u << 2)
/* Never go beyond the kernel: no per-run coalescing of mixed folio sizes. */
#define REGBUF_TABLE_F_KERNEL_EXACT	(1u << 3)

/* &struct regbuf_buf_info flags. */
/* The kernel's io_check_coalesce_buffer() accepted the layout: one segment per folio. */
#define REGBUF_BUF_F_COALESCED		(1u << 0)
/* Single-folio fast path: a hinted buffer inside one folio, one segment, no per-page work. */
#define REGBUF_BUF_F_SINGLE_FOLIO	(1u << 1)
/* Beyond the kernel: the kernel would use one segment per 4 KiB page, regbuf
 * coalesced runs of consecutive pages of each folio instead (mixed folio
 * sizes, or folios entered mid-way).  Seeks use a binary search. */
#define REGBUF_BUF_F_MIXED		(1u << 2)
/* Physical segments are valid (pfns were known for every page). */
#define REGBUF_BUF_F_PHYS		(1u << 3)
/* Beyond the kernel: at least two folios were physically adjacent and merged
 * into one physical segment. */
#define REGBUF_BUF_F_PHYS_MERGED	(1u << 4)
/* The coalesced segment array could not be allocated: kept per page, as
 * io_coalesce_buffer() failing leaves the kernel's per-page bvecs. */
#define REGBUF_BUF_F_COALESCE_FALLBACK	(1u << 5)
/* @kernel_nr_segs, @folio_shift and @seg0_off are what the kernel builds for
 * this memory as it was mapped at registration: every folio was read. */
#define REGBUF_BUF_F_EXACT		(1u << 6)
/* Not exact: the kernel builds at most @kernel_nr_segs bvecs, maybe fewer.
 * Some memory is mapped by page table entries and its folio sizes could not
 * be read (/proc/kpageflags needs CAP_SYS_ADMIN), so it is described per
 * 4 KiB page: a THP whose PMD mapping was split, mTHP or shmem large folios
 * may be coalesced by the kernel.  Also for %REGBUF_TABLE_F_LAYOUT_4K, and
 * when memory could not be faulted in first.  Without either flag, a
 * folio-size hint was trusted unchecked (no PAGEMAP_SCAN before Linux 6.7). */
#define REGBUF_BUF_F_UPPER_BOUND	(1u << 7)

/* How the folio layout of a buffer was learnt. */
enum regbuf_layout_source {
	REGBUF_LAYOUT_HINT,		/* the caller's folio shift (own arenas), one PAGEMAP_SCAN */
	REGBUF_LAYOUT_PAGEMAP_SCAN,	/* PAGEMAP_SCAN ioctl (+ PROCMAP_QUERY for hugetlb sizes) */
	REGBUF_LAYOUT_KPAGEFLAGS,	/* pagemap + kpageflags: exact, with pfns */
	REGBUF_LAYOUT_4K,		/* nothing known: 4 KiB pages */
	REGBUF_LAYOUT_SYNTHETIC,	/* a test-provided layout */
};

struct regbuf_table;
struct regbuf_buf;

/**
 * regbuf_layout_source_name() - short name of a layout source
 * @source: a source
 *
 * Return: "hint", "pagemap-scan", "kpageflags", "4k", "synthetic", or "?"
 * for an unknown value.
 */
const char *regbuf_layout_source_name(enum regbuf_layout_source source);

/**
 * regbuf_buf_flag_name() - short name of one %REGBUF_BUF_F_* flag
 * @flag: a single flag bit
 *
 * Return: "coalesced", "single-folio", "mixed", "phys", "phys-merged",
 * "coalesce-fallback", "exact", "upper-bound", or "?" for an unknown bit or
 * more than one bit.
 */
const char *regbuf_buf_flag_name(unsigned int flag);

/**
 * struct regbuf_buf_info - read-only description of a registered buffer
 * @ubuf: user virtual address given at registration
 * @len: length in bytes
 * @folio_shift: log2 of the segment granule: the folio size when coalesced,
 *               12 when per page, and for %REGBUF_BUF_F_MIXED (as the kernel would)
 * @nr_segs: entries in @segs
 * @flags: %REGBUF_BUF_F_*
 * @seg0_off: byte offset of @ubuf inside the first folio (kernel bvec[0].bv_offset;
 *            may exceed 4 KiB); position p lies in segment (@seg0_off + p) >> @folio_shift
 * @kernel_nr_segs: bvecs the kernel builds for this buffer (differs from
 *                  @nr_segs only with %REGBUF_BUF_F_MIXED or physical merging)
 * @segs: virtual segments; segs[0].addr == @ubuf, they tile [ubuf, ubuf + len)
 * @nr_phys_segs: entries in @phys_segs, 0 without %REGBUF_BUF_F_PHYS
 * @phys_segs: physical address runs covering the buffer in order
 * @source: how the layout was learnt
 *
 * Pointers stay valid while the caller holds a reference on the buffer.
 */
struct regbuf_buf_info {
	uint64_t ubuf;
	uint64_t len;
	unsigned int folio_shift;
	uint32_t nr_segs;
	unsigned int flags;
	uint32_t kernel_nr_segs;
	uint64_t seg0_off;
	const struct regbuf_seg *segs;
	uint32_t nr_phys_segs;
	enum regbuf_layout_source source;
	const struct regbuf_seg *phys_segs;
};

/**
 * regbuf_table_create() - allocate an empty table (no slots registered)
 * @tp: where to store the table
 * @flags: must be 0
 *
 * Return: 0; -EINVAL for a NULL @tp or unknown @flags; -ENOMEM.
 */
REGBUF_MUST_CHECK int regbuf_table_create(struct regbuf_table **tp, unsigned int flags);

/**
 * regbuf_table_destroy() - drop the table's slots and free it
 * @t: table, or NULL
 *
 * Buffers still referenced elsewhere (other tables, regbuf_table_buf_get()
 * holders) live on until their last reference goes.
 *
 * Context: no other thread may use @t any more.
 */
void regbuf_table_destroy(struct regbuf_table *t);

/**
 * regbuf_table_register() - register @nr buffers (IORING_REGISTER_BUFFERS)
 * @t: table without registered slots
 * @iov: buffers; {NULL, 0} leaves a slot empty
 * @nr: number of slots, 1..%REGBUF_TABLE_MAX_BUFS
 * @flags: %REGBUF_TABLE_F_LAYOUT_PFN, %REGBUF_TABLE_F_LAYOUT_4K, %REGBUF_TABLE_F_KERNEL_EXACT
 *
 * Validates each buffer as io_sqe_buffer_register() does, discovers its folio
 * layout and coalesces it (io_check_coalesce_buffer()).  All or nothing: on
 * any error the table stays unregistered.
 *
 * The layout is the one the kernel's pin (pin_user_pages_fast() with
 * FOLL_WRITE | FOLL_LONGTERM) will see: memory not faulted in yet, or mapping
 * the zero page, is write-faulted first (MADV_POPULATE_WRITE), and what the
 * pin refuses is refused with the kernel's -EFAULT: addresses outside any
 * mapping, read-only mappings, shared mappings of files other than shmem
 * (memfd, tmpfs, shared anonymous) and hugetlbfs.  With the default discovery
 * the result is %REGBUF_BUF_F_EXACT when every folio could be read: always
 * for hugetlb and PMD-mapped THP; for memory mapped by page table entries
 * (mTHP, a split or mremap()ed THP, shmem) only with CAP_SYS_ADMIN, which
 * /proc/kpageflags needs, else the buffer is described per 4 KiB page and
 * flagged %REGBUF_BUF_F_UPPER_BOUND.  Anonymous memory still shared
 * copy-on-write with another process is looked for (and write-faulted, as
 * the pin will) only after a fork() this library saw (pthread_atfork()).
 * The description is of the memory at the time of the call: a THP split or
 * collapsed before the kernel's registration changes the kernel's bvecs.
 *
 * Return: 0 on success;
 * -EBUSY the table is already registered;
 * -EINVAL @nr is 0 or above %REGBUF_TABLE_MAX_BUFS, unknown @flags;
 * -EFAULT @iov is NULL, or a buffer has NULL base and non-zero length, length 0
 * or above 1 GiB, covers unmapped addresses, a read-only mapping or a shared
 * mapping of a file that is neither shmem nor hugetlbfs, or cannot be faulted in;
 * -EOVERFLOW base + PAGE_ALIGN(len), or the end of the last page, wraps;
 * -EPERM %REGBUF_TABLE_F_LAYOUT_PFN without the privilege to read pfns;
 * -EIO a short read of /proc/self/pagemap or /proc/kpageflags;
 * -ENOMEM; another -errno from opening or reading those files (e.g. -ENOENT
 * without /proc) with %REGBUF_TABLE_F_LAYOUT_PFN.
 */
REGBUF_MUST_CHECK int regbuf_table_register(struct regbuf_table *t, const struct iovec *iov,
					    uint32_t nr, unsigned int flags);

/**
 * regbuf_table_register_hinted() - register buffers whose folio size is known
 * @t: table without registered slots
 * @iov: buffers; {NULL, 0} leaves a slot empty
 * @folio_shift: per buffer, log2 of the folio size backing it (12..30); the
 *               memory must be folio-aligned in virtual address space (regbuf
 *               arenas are); 0 = discover as regbuf_table_register()
 * @nr: number of slots
 * @flags: as regbuf_table_register()
 *
 * No page-table walk: the layout follows from the address and the shift.
 * The hint claims that every 2^shift-aligned virtual block the buffer
 * touches is one folio mapped at that alignment.  It is checked with one
 * PAGEMAP_SCAN of the range (the kernel may split a THP at any time, e.g.
 * after MADV_DONTNEED of one page): when the range is huge-mapped in folios
 * of that size (a hugetlb VMA of that page size, or PMD mappings for 2 MiB)
 * the buffer is %REGBUF_BUF_F_EXACT; when it is mapped otherwise, the hint is
 * dropped and the layout discovered as regbuf_table_register() does; when it
 * cannot be checked (no PAGEMAP_SCAN before Linux 6.7, or the range is not
 * all mapped) it is taken as given and the buffer has neither
 * %REGBUF_BUF_F_EXACT nor %REGBUF_BUF_F_UPPER_BOUND.  A shift of 12 describes
 * 4 KiB pages without looking (%REGBUF_BUF_F_UPPER_BOUND).  Pass
 * regbuf_mem_folio_shift() of a regbuf arena, or 0 to discover.
 *
 * Return: as regbuf_table_register(); also -EFAULT when @folio_shift is NULL,
 * -EINVAL for a shift outside 12..30.
 */
REGBUF_MUST_CHECK int regbuf_table_register_hinted(struct regbuf_table *t, const struct iovec *iov,
						   const uint8_t *folio_shift, uint32_t nr,
						   unsigned int flags);

/**
 * regbuf_table_register_sparse() - register @nr empty slots (IORING_RSRC_REGISTER_SPARSE)
 * @t: table without registered slots
 * @nr: number of slots
 *
 * Return: 0; -EBUSY already registered; -EINVAL @nr is 0 or too large; -ENOMEM.
 */
REGBUF_MUST_CHECK int regbuf_table_register_sparse(struct regbuf_table *t, uint32_t nr);

/**
 * regbuf_table_update() - replace slots [@off, @off + @nr) (IORING_REGISTER_BUFFERS_UPDATE)
 * @t: registered table
 * @off: first slot
 * @iov: new buffers; {NULL, 0} empties a slot
 * @nr: number of slots
 *
 * Like __io_sqe_buffers_update(): entries are applied in order and the first
 * failing entry stops the update.  Old buffers are put; their memory
 * descriptions live until the last holder lets go.
 *
 * Return: the number of slots updated (> 0, possibly less than @nr), or when
 * none was: -EINVAL @nr is 0 or @off + @nr exceeds the table; -EOVERFLOW
 * @off + @nr wraps; -ENXIO no table registered; -EFAULT @iov is NULL; or the
 * first entry's error as regbuf_table_register().
 */
REGBUF_MUST_CHECK int regbuf_table_update(struct regbuf_table *t, uint32_t off,
					  const struct iovec *iov, uint32_t nr);

/**
 * regbuf_table_unregister() - drop every slot (IORING_UNREGISTER_BUFFERS)
 * @t: table
 *
 * Return: 0; -ENXIO no table registered.
 */
int regbuf_table_unregister(struct regbuf_table *t);

/**
 * regbuf_table_clone() - share slots of @src into @dst (IORING_REGISTER_CLONE_BUFFERS)
 * @dst: destination table
 * @src: source table (may be @dst)
 * @dst_off: first destination slot
 * @src_off: first source slot
 * @nr: number of slots; 0 = the whole source table (offsets must then be 0)
 * @flags: %REGBUF_TABLE_F_CLONE_REPLACE
 *
 * io_clone_buffers() semantics: the new destination table has
 * max(@dst_off + @nr, old size) slots; with REPLACE, old slots before and after
 * the cloned range are kept, a gap between the old end and @dst_off is empty,
 * empty source slots give empty destination slots.  Buffers are shared (their
 * reference counts go up), never copied.  A whole-table clone into an empty
 * destination shares the source snapshot itself: O(1) whatever the size.
 * (The kernel's -EBADF/-EOPNOTSUPP for a bad source fd, -EINVAL for a bad
 * registered-ring index and pad, and -EEXIST for another single issuer have no
 * meaning here: tables are pointers.)
 *
 * Return: 0;
 * -EINVAL unknown @flags, @nr == 0 with an offset, @nr above the source size or
 * %REGBUF_TABLE_MAX_BUFS, @dst_off + @nr above %REGBUF_TABLE_MAX_BUFS;
 * -EBUSY @dst is registered and REPLACE is not given;
 * -ENXIO @src has no table;
 * -EOVERFLOW @src_off + @nr wraps or exceeds the source size, @dst_off + @nr wraps;
 * -ENOMEM.
 */
REGBUF_MUST_CHECK int regbuf_table_clone(struct regbuf_table *dst, struct regbuf_table *src,
					 uint32_t dst_off, uint32_t src_off, uint32_t nr,
					 unsigned int flags);

/**
 * regbuf_table_nr() - number of slots
 * @t: table
 *
 * Context: lock-free; the value may be stale as soon as it is returned.
 * Return: the number of slots, 0 when nothing is registered.
 */
uint32_t regbuf_table_nr(const struct regbuf_table *t);

/**
 * regbuf_buf_import() - segment iterator over [@addr, @addr + @len) of @buf
 * @buf: buffer (the caller holds a reference)
 * @addr: user virtual address of the first byte
 * @len: bytes
 * @it: iterator to fill; it points into @buf's segments
 *
 * validate_fixed_range() checks, then the O(1) seek of io_import_fixed():
 * segment (seg0_off + p) >> folio_shift, and nr_segs counted from the
 * position inside that folio (the fix for Nitesh Shetty's undercount).
 * %REGBUF_BUF_F_MIXED buffers use a binary search instead.
 *
 * Context: any thread; no lock, no allocation, no system call.
 *
 * Return: 0 (an empty iterator for @len 0); -EFAULT the range wraps, is not
 * inside the buffer, or @len exceeds %REGBUF_MAX_RW_COUNT.
 */
int regbuf_buf_import(const struct regbuf_buf *buf, uint64_t addr, uint64_t len,
		      struct regbuf_seg_iter *it);

/**
 * regbuf_table_import() - look up @slot and import a range of it (io_import_reg_buf())
 * @t: table
 * @slot: slot index (sqe->buf_index)
 * @addr: user virtual address of the first byte
 * @len: bytes
 * @it: iterator to fill
 *
 * Takes no lock and no reference: @it points into the buffer's segments, so
 * it is valid while the buffer is known to stay registered (the caller does
 * not change this slot concurrently, or holds regbuf_table_buf_get()).
 * Costs two atomic read-modify-writes on a per-table reader counter (see
 * DOC: registered buffer tables); a hot loop over one slot may instead hold
 * regbuf_table_buf_get() and call regbuf_buf_import(), which writes nothing
 * shared.
 *
 * Context: lock-free (never waits); safe against concurrent register, update,
 * clone and unregister of @t (not against regbuf_table_destroy()).
 *
 * Return: as regbuf_buf_import(); also -EFAULT for a slot out of range or empty.
 */
int regbuf_table_import(struct regbuf_table *t, uint32_t slot, uint64_t addr, uint64_t len,
			struct regbuf_seg_iter *it);

/**
 * regbuf_table_buf_get() - take a reference on @slot's buffer
 * @t: table
 * @slot: slot index
 * @bufp: where to store the buffer; release with regbuf_buf_put()
 *
 * Context: lock-free.
 *
 * Return: 0; -EFAULT slot out of range or empty (as io_find_buf_node()).
 */
int regbuf_table_buf_get(struct regbuf_table *t, uint32_t slot, struct regbuf_buf **bufp);

/**
 * regbuf_buf_get() - take another reference on a buffer the caller holds
 * @buf: buffer (the caller holds a reference: regbuf_table_buf_get() or an
 *	earlier regbuf_buf_get()), or NULL
 *
 * For a holder that outlives the caller's own reference (a DMA cookie built
 * from the buffer, a request tracker).  Release with regbuf_buf_put().
 *
 * Context: lock-free, any thread.
 */
void regbuf_buf_get(struct regbuf_buf *buf);

/**
 * regbuf_buf_put() - drop a reference; the last one frees the buffer
 * @buf: buffer, or NULL
 */
void regbuf_buf_put(struct regbuf_buf *buf);

/**
 * regbuf_buf_info() - describe a buffer
 * @buf: buffer (the caller holds a reference)
 * @info: filled in
 *
 * Return: 0; -EINVAL @buf or @info is NULL.
 */
int regbuf_buf_info(const struct regbuf_buf *buf, struct regbuf_buf_info *info);

#ifdef __cplusplus
}
#endif

#endif /* REGBUF_TABLE_H */
