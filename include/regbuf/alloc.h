/* SPDX-License-Identifier: MIT */
/*
 * regbuf - a sub-allocator of I/O buffers inside one registered arena.
 */
#ifndef REGBUF_ALLOC_H
#define REGBUF_ALLOC_H

#include <stddef.h>
#include <stdint.h>

#include <regbuf/compiler.h>

#ifdef __cplusplus
extern "C" {
#endif

/**
 * DOC: buffer sub-allocator
 *
 * Applications register one big arena and then need many I/O buffers inside
 * it, each with the table slot a fixed I/O must name (the pattern of
 * fio's t/io_uring and glommio).  The allocator knows nothing of
 * io_uring: the caller says that slot @first_slot covers the first @slot_len
 * bytes of the arena, the next slot the next @slot_len bytes, and so on
 * (kernel buffers are at most %REGBUF_BUF_MAX_LEN, so a bigger arena is
 * several slots).
 * A buffer never straddles two slots, so (slot, addr, len) is always a
 * valid fixed I/O.
 *
 * Requests up to 1 MiB (or the largest power of two in a slot, if smaller)
 * are served from power-of-two size classes, starting at the alignment (at
 * least 512 bytes); buffers of 4 KiB and more start on a 4 KiB boundary, so
 * an 8 KiB buffer needs at most PRP1 + PRP2.  Each thread keeps a small
 * magazine per class (at most 1 MiB of buffers per class, 32 buffers), so
 * most acquire/release pairs take no lock; magazines are refilled from and
 * flushed to per-class central lists under one mutex, and central lists are
 * carved from a first-fit range allocator that also serves larger requests
 * and takes freed memory back, coalescing neighbours.  When memory runs out
 * the central lists are returned to the range allocator before giving up;
 * other threads' magazines are not (call regbuf_alloc_flush() in them).
 *
 * Metadata lives outside the arena: the arena's bytes are only ever I/O data.
 */

/**
 * struct regbuf_alloc_span - one I/O buffer
 * @addr: first byte, aligned to the allocator's alignment
 * @len: usable bytes, at least the length asked for (the size class, or the
 *	request rounded up to the alignment)
 * @slot: table slot whose buffer contains [@addr, @addr + @len)
 */
struct regbuf_alloc_span {
	void *addr;
	uint32_t len;
	uint32_t slot;
};

/*
 * Deprecated: the name of struct regbuf_alloc_span in regbuf 0.1 ("buf" named
 * three types: the table's registered buffer, struct regbuf_buf; this span;
 * and the NVMe driver's DMA mapping, struct regbuf_nvme_dmamap).  Removed in
 * the next release; using it warns.
 */
#define regbuf_iobuf \
	_Pragma("GCC warning \"struct regbuf_iobuf is deprecated: use struct regbuf_alloc_span\"") \
	regbuf_alloc_span

/**
 * struct regbuf_alloc_stats - a snapshot of an allocator
 * @in_use: buffers acquired and not released
 * @in_use_bytes: their usable bytes
 * @free_bytes: bytes in the range allocator (not counting buffers cached in
 *	size classes)
 */
struct regbuf_alloc_stats {
	uint64_t in_use;
	uint64_t in_use_bytes;
	uint64_t free_bytes;
};

struct regbuf_alloc;
struct regbuf_mem;

/**
 * regbuf_alloc_create_range() - an allocator over [@base, @base + @len)
 * @ap: where to store the allocator
 * @base: first byte of the registered memory, aligned to @align
 * @len: bytes
 * @first_slot: table slot of the first @slot_len bytes
 * @slot_len: bytes per slot, a multiple of @align, at most %REGBUF_BUF_MAX_LEN (the kernel's
 *	per-buffer limit)
 * @align: power of two (the O_DIRECT memory alignment, statx stx_dio_mem_align)
 * @flags: must be 0
 *
 * Return: 0, or -EINVAL for a NULL @ap or @base, a zero @len or @slot_len, a
 * misaligned @base or @slot_len, @slot_len over 1 GiB, a non-power-of-two
 * @align, a range that wraps the address space or unknown flags;
 * -EOVERFLOW when the last slot number overflows
 * u32; -ENOMEM or -EAGAIN (out of pthread keys) on allocation failure.
 */
REGBUF_MUST_CHECK
int regbuf_alloc_create_range(struct regbuf_alloc **ap, void *base, size_t len,
			      uint32_t first_slot, uint64_t slot_len, uint32_t align,
			      unsigned int flags);

/**
 * regbuf_alloc_create() - an allocator over a whole mem arena
 * @ap: where to store the allocator
 * @mem: the arena (must outlive the allocator)
 * @first_slot: table slot of the first @slot_len bytes of @mem
 * @slot_len: bytes per slot (see regbuf_alloc_create_range())
 * @align: buffer alignment (see regbuf_alloc_create_range())
 * @flags: must be 0
 *
 * Return: as regbuf_alloc_create_range(); also -EINVAL for a NULL @mem.
 */
REGBUF_MUST_CHECK
int regbuf_alloc_create(struct regbuf_alloc **ap, struct regbuf_mem *mem, uint32_t first_slot,
			uint64_t slot_len, uint32_t align, unsigned int flags);

/**
 * regbuf_alloc_destroy() - free the allocator (not the memory)
 * @a: allocator, or NULL
 *
 * Context: no other thread may use @a any more, nor exit while holding a
 * cache of it (its thread-exit flush would race with this).
 */
void regbuf_alloc_destroy(struct regbuf_alloc *a);

/**
 * regbuf_alloc_acquire() - get a buffer of at least @len bytes
 * @a: allocator
 * @len: bytes wanted
 * @out: the buffer
 *
 * Context: any thread.  Usually lock-free (this thread's magazine).
 * Return: 0, or -EINVAL for @len 0, -E2BIG when @len can never fit (larger
 * than a slot or than u32), -ENOMEM when the arena has no room.
 */
REGBUF_MUST_CHECK
int regbuf_alloc_acquire(struct regbuf_alloc *a, size_t len, struct regbuf_alloc_span *out);

/**
 * regbuf_alloc_release() - give a buffer back
 * @a: allocator
 * @buf: a buffer from regbuf_alloc_acquire() on @a, unchanged, released once
 *
 * Context: any thread (not necessarily the one that acquired it).  A buffer
 * outside the arena is ignored; releasing twice corrupts the allocator.
 */
void regbuf_alloc_release(struct regbuf_alloc *a, const struct regbuf_alloc_span *buf);

/**
 * regbuf_alloc_flush() - return the calling thread's cached buffers
 * @a: allocator
 *
 * Done automatically when a thread exits; call it when a thread stops
 * doing I/O for a long time, so its magazines do not strand memory.
 */
void regbuf_alloc_flush(struct regbuf_alloc *a);

/**
 * regbuf_alloc_stats() - counters
 * @a: allocator
 * @st: filled in
 */
void regbuf_alloc_stats(struct regbuf_alloc *a, struct regbuf_alloc_stats *st);

#ifdef __cplusplus
}
#endif

#endif /* REGBUF_ALLOC_H */
