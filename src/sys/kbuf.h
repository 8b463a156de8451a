/* SPDX-License-Identifier: MIT */
/*
 * regbuf - the kernel's rule for the range of one registered buffer, shared
 * by the table layer (registration) and the uring layer (which predicts how
 * much of an IORING_REGISTER_BUFFERS_UPDATE the kernel applies).
 */
#ifndef REGBUF_SRC_SYS_KBUF_H
#define REGBUF_SRC_SYS_KBUF_H

#include <errno.h>
#include <stdint.h>

#include <regbuf/table.h>

#define SYS_KBUF_PAGE	UINT64_C(4096)

/*
 * Kernel io_validate_user_buf_range() + the NULL-base rule: 1 = empty slot,
 * 0 = ok, -errno.
 */
static inline int sys_kbuf_validate(uint64_t addr, uint64_t len)
{
	/* The kernel's arithmetic is in unsigned long: 32 bits on a 32-bit system. */
	uintptr_t end;

	/* io_sqe_buffer_register(): a NULL base leaves the slot empty, unless it has a length. */
	if (!addr)
		return len ? -EFAULT : 1;
	/* io_validate_user_buf_range(): 0 < len <= SZ_1G ... */
	if (!len || len > REGBUF_BUF_MAX_LEN)
		return -EFAULT;
	/* ... and addr + PAGE_ALIGN(len) must not wrap. */
	if (__builtin_add_overflow(addr, (len + SYS_KBUF_PAGE - 1) & ~(SYS_KBUF_PAGE - 1), &end))
		return -EOVERFLOW;
	/*
	 * io_pin_pages(): nor may the end of the last page, ALIGN(addr + len).  An
	 * unaligned buffer ending in the top page of the address space passes the
	 * check above, but its page range cannot be represented.
	 */
	if (addr + len > UINTPTR_MAX - (SYS_KBUF_PAGE - 1))
		return -EOVERFLOW;
	return 0;
}

#endif /* REGBUF_SRC_SYS_KBUF_H */
