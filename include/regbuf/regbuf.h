/* SPDX-License-Identifier: MIT */
/*
 * regbuf - umbrella header: includes every layer's header that this copy
 * was built with (<regbuf/uring.h> only when REGBUF_HAVE_URING), nothing
 * else.  Each header is self-contained; include only the layers you use.
 */
#ifndef REGBUF_REGBUF_H
#define REGBUF_REGBUF_H

#include <regbuf/features.h>
#include <regbuf/compiler.h>
#include <regbuf/seg.h>
#include <regbuf/mem.h>
#include <regbuf/alloc.h>
#include <regbuf/table.h>
#include <regbuf/nvme_spec.h>
#include <regbuf/dma.h>
#if REGBUF_HAVE_URING
#include <regbuf/uring.h>
#endif
#include <regbuf/nvme.h>

#endif /* REGBUF_REGBUF_H */
