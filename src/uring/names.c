// SPDX-License-Identifier: MIT
/*
 * uring: the printable names of the pool's states and paths, for the status
 * its users print and for the explanations the library writes itself (an
 * address that is not registered, map.c).
 */
#include <regbuf/uring.h>

const char *regbuf_uring_path_name(enum regbuf_uring_path path)
{
	switch (path) {
	case REGBUF_URING_PATH_SINGLE:
		return "single ring";
	case REGBUF_URING_PATH_CLONE:
		return "kernel clone (ranges, 6.13+)";
	case REGBUF_URING_PATH_CLONE_WHOLE:
		return "kernel clone (whole table, 6.12)";
	case REGBUF_URING_PATH_REGISTER:
		return "registered again per ring (no clone)";
	case REGBUF_URING_PATH_NONE:
		break;
	}
	return "none";
}

const char *regbuf_uring_state_name(enum regbuf_uring_reg_state state)
{
	switch (state) {
	case REGBUF_URING_REG_ACTIVE:
		return "registered";
	case REGBUF_URING_REG_DISABLED:
		return "registration disabled";
	case REGBUF_URING_REG_FAILED:
		return "registration failed";
	case REGBUF_URING_REG_NONE:
		break;
	}
	return "not registered";
}
