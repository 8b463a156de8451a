/* SPDX-License-Identifier: MIT */
/*
 * NVMe wire formats the nvme layer needs until the dma layer lands: the same
 * names and layout as include/regbuf/dma.h (its owner's), so switching is
 * deleting this file.  TEMPORARY.
 */
#ifndef REGBUF_NVME_WIRE_H
#define REGBUF_NVME_WIRE_H

#include <stddef.h>
#include <stdint.h>

typedef uint16_t regbuf_le16;
typedef uint32_t regbuf_le32;
typedef uint64_t regbuf_le64;

static inline regbuf_le64 regbuf_cpu_to_le64(uint64_t v) { return v; }
static inline uint64_t regbuf_le64_to_cpu(regbuf_le64 v) { return v; }
static inline regbuf_le32 regbuf_cpu_to_le32(uint32_t v) { return v; }
static inline uint32_t regbuf_le32_to_cpu(regbuf_le32 v) { return v; }
static inline regbuf_le16 regbuf_cpu_to_le16(uint16_t v) { return v; }
static inline uint16_t regbuf_le16_to_cpu(regbuf_le16 v) { return v; }

#define REGBUF_NVME_SGL_DATA_BLOCK	0x0
#define REGBUF_NVME_SGL_SEGMENT		0x2
#define REGBUF_NVME_SGL_LAST_SEGMENT	0x3
#define REGBUF_NVME_SGL_ID(t)		((uint8_t)((t) << 4))
#define REGBUF_NVME_PSDT_PRP		(0u << 6)
#define REGBUF_NVME_PSDT_SGL_MPTR_CONTIG (1u << 6)
#define REGBUF_NVME_PSDT_MASK		(3u << 6)

struct regbuf_nvme_sgl_desc {
	regbuf_le64 addr;
	regbuf_le32 len;
	uint8_t rsvd[3];
	uint8_t type;
};

struct regbuf_nvme_sqe {
	uint8_t opcode;
	uint8_t flags;
	regbuf_le16 cid;
	regbuf_le32 nsid;
	regbuf_le32 cdw2;
	regbuf_le32 cdw3;
	regbuf_le64 mptr;
	union {
		struct {
			regbuf_le64 prp1;
			regbuf_le64 prp2;
		} prp;
		struct regbuf_nvme_sgl_desc sgl;
	} dptr;
	regbuf_le32 cdw10;
	regbuf_le32 cdw11;
	regbuf_le32 cdw12;
	regbuf_le32 cdw13;
	regbuf_le32 cdw14;
	regbuf_le32 cdw15;
};

static inline void regbuf_nvme_sgl_set(struct regbuf_nvme_sgl_desc *d, uint64_t addr,
				       uint32_t len, unsigned int type)
{
	d->addr = regbuf_cpu_to_le64(addr);
	d->len = regbuf_cpu_to_le32(len);
	d->rsvd[0] = 0;
	d->rsvd[1] = 0;
	d->rsvd[2] = 0;
	d->type = REGBUF_NVME_SGL_ID(type);
}

#endif /* REGBUF_NVME_WIRE_H */
