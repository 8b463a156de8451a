/* SPDX-License-Identifier: MIT */
/*
 * regbuf - umbrella header: includes every layer's header, nothing else.
 * Each header is self-contained; include only the layers you use.
 */
#ifndef REGBUF_REGBUF_H
#define REGBUF_REGBUF_H

#include <regbuf/compiler.h>
#include <regbuf/seg.h>
#include <regbuf/mem.h>
#include <regbuf/alloc.h>
#include <regbuf/table.h>
#include <regbuf/nvme_spec.h>
#include <regbuf/dma.h>
#include <regbuf/uring.h>
#include <regbuf/nvme.h>

#endif /* REGBUF_REGBUF_H */
