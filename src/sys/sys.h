/* SPDX-License-Identifier: MIT */
/*
 * regbuf - private libc/syscall wrappers that return -errno.
 *
 * The -errno convention, converted exactly once at the libc boundary: errno is read right after the failing call and
 * nowhere else, so that no later free(), munmap() or close() on an error
 * path can clobber it and callers propagate with "if (ret < 0) return ret".
 * Each wrapper returns what the call returns on success (0, a descriptor, a
 * count) and -errno on failure.  Only the calls the layers make are here.
 */
#ifndef REGBUF_SRC_SYS_SYS_H
#define REGBUF_SRC_SYS_SYS_H

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

/* open(@path, @flags | O_CLOEXEC): fd or -errno. */
static inline int sys_open(const char *path, int flags)
{
	int fd = open(path, flags | O_CLOEXEC);

	return fd < 0 ? -errno : fd;
}

/* read(2): bytes read or -errno. */
static inline ssize_t sys_read(int fd, void *buf, size_t len)
{
	ssize_t n = read(fd, buf, len);

	return n < 0 ? -errno : n;
}

/* mmap(2) with the mapping through @addrp: 0 or -errno. */
static inline int sys_mmap(void **addrp, void *hint, size_t len, int prot, int flags, int fd,
			   off_t off)
{
	void *p = mmap(hint, len, prot, flags, fd, off);

	if (p == MAP_FAILED)
		return -errno;
	*addrp = p;
	return 0;
}

/* madvise(2): 0 or -errno. */
static inline int sys_madvise(void *addr, size_t len, int advice)
{
	return madvise(addr, len, advice) ? -errno : 0;
}

/* memfd_create(2): fd or -errno. */
static inline int sys_memfd_create(const char *name, unsigned int flags)
{
	int fd = memfd_create(name, flags);

	return fd < 0 ? -errno : fd;
}

/* ftruncate(2): 0 or -errno. */
static inline int sys_ftruncate(int fd, off_t len)
{
	return ftruncate(fd, len) ? -errno : 0;
}

/* mbind(2) by raw syscall (no libnuma for one call): 0 or -errno. */
static inline int sys_mbind(void *addr, size_t len, int mode, const unsigned long *nodemask,
			    unsigned long maxnode, unsigned int flags)
{
	return syscall(SYS_mbind, addr, len, mode, nodemask, maxnode, flags) ? -errno : 0;
}

/* fcntl(@fd, F_GETFL): the file status flags or -errno. */
static inline int sys_fcntl_getfl(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	return fl < 0 ? -errno : fl;
}

/* fstat(2): 0 or -errno. */
static inline int sys_fstat(int fd, struct stat *st)
{
	return fstat(fd, st) ? -errno : 0;
}

/* ioctl(2) with a pointer argument: the ioctl's result or -errno. */
static inline int sys_ioctl(int fd, unsigned long req, void *arg)
{
	int ret = ioctl(fd, req, arg);

	return ret < 0 ? -errno : ret;
}

/* statx(2) by raw syscall (@stx is the uapi struct statx): 0 or -errno. */
static inline int sys_statx(int dirfd, const char *path, int flags, unsigned int mask, void *stx)
{
	return syscall(SYS_statx, dirfd, path, flags, mask, stx) < 0 ? -errno : 0;
}

/* strtoull(3) of a decimal number at the start of @s (the rest is ignored): 0 or -EINVAL. */
static inline int sys_strtou64(const char *s, uint64_t *val)
{
	char *end;

	errno = 0;
	*val = strtoull(s, &end, 10);
	if (errno || end == s)
		return -EINVAL;
	return 0;
}

/* pread(2): bytes read or -errno. */
static inline ssize_t sys_pread(int fd, void *buf, size_t len, off_t off)
{
	ssize_t n = pread(fd, buf, len, off);

	return n < 0 ? -errno : n;
}

/* pwrite(2): bytes written or -errno. */
static inline ssize_t sys_pwrite(int fd, const void *buf, size_t len, off_t off)
{
	ssize_t n = pwrite(fd, buf, len, off);

	return n < 0 ? -errno : n;
}

/* readlink(2) into @buf, NUL terminated: the length or -errno (-ENAMETOOLONG if cut). */
static inline ssize_t sys_readlink(const char *path, char *buf, size_t size)
{
	ssize_t n = readlink(path, buf, size - 1);

	if (n < 0)
		return -errno;
	buf[n] = '\0';
	return (size_t)n == size - 1 ? -ENAMETOOLONG : n;
}

/* ioctl(2) with an integer argument: the ioctl's result or -errno. */
static inline int sys_ioctl_val(int fd, unsigned long req, unsigned long arg)
{
	int ret = ioctl(fd, req, arg);

	return ret < 0 ? -errno : ret;
}

/* A small sysfs/procfs file as a NUL-terminated string in @buf (@len bytes): 0 or -errno. */
int sys_read_small(const char *path, char *buf, size_t len);

/* One unsigned decimal integer from a sysfs/procfs file: 0 or -errno. */
int sys_read_u64(const char *path, uint64_t *val);

#endif /* REGBUF_SRC_SYS_SYS_H */
