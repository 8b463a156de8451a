/* SPDX-License-Identifier: MIT */
/*
 * regbuf - NVMe structures as the controller reads them: little-endian
 * types, the submission queue entry and the SGL descriptor (NVM Express Base
 * Specification 1.4).  Shared by the descriptor layer (dma.h) and the
 * userspace driver (nvme.h).
 */
#ifndef REGBUF_NVME_SPEC_H
#define REGBUF_NVME_SPEC_H

#include <stddef.h>
#include <stdint.h>

#include <regbuf/compiler.h>

#ifdef __cplusplus
extern "C" {
#endif

#ifdef __cplusplus
#define REGBUF_STATIC_ASSERT(e, msg) static_assert(e, msg)
#else
#define REGBUF_STATIC_ASSERT(e, msg) _Static_assert(e, msg)
#endif

#ifdef __cplusplus
#define REGBUF_STATIC_ASSERT(e, msg) static_assert(e, msg)
#else
#define REGBUF_STATIC_ASSERT(e, msg) _Static_assert(e, msg)
#endif

/*
 * Little-endian wire values; never do arithmetic on them, convert first.
 * Under sparse (make the check with tests/build/sparse.sh) they are
 * __bitwise types, as the kernel's __le64: mixing them with host integers
 * without regbuf_cpu_to_le*() / regbuf_le*_to_cpu() is a warning.
 */
typedef uint16_t REGBUF_BITWISE regbuf_le16;
typedef uint32_t REGBUF_BITWISE regbuf_le32;
typedef uint64_t REGBUF_BITWISE regbuf_le64;

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
#define REGBUF_LE16(x) __builtin_bswap16(x)
#define REGBUF_LE32(x) __builtin_bswap32(x)
#define REGBUF_LE64(x) __builtin_bswap64(x)
#else
#define REGBUF_LE16(x) ((uint16_t)(x))
#define REGBUF_LE32(x) ((uint32_t)(x))
#define REGBUF_LE64(x) ((uint64_t)(x))
#endif

/**
 * regbuf_cpu_to_le64() - host value to little-endian wire value
 * @v: host-order value
 *
 * Return: @v in little-endian byte order.
 */
static inline regbuf_le64 regbuf_cpu_to_le64(uint64_t v)
{
	return (REGBUF_FORCE regbuf_le64)REGBUF_LE64(v);
}
/**
 * regbuf_le64_to_cpu() - little-endian wire value to host value
 * @v: little-endian value
 *
 * Return: @v in host byte order.
 */
static inline uint64_t regbuf_le64_to_cpu(regbuf_le64 v)
{
	return REGBUF_LE64((REGBUF_FORCE uint64_t)v);
}
/**
 * regbuf_cpu_to_le32() - host value to little-endian wire value
 * @v: host-order value
 *
 * Return: @v in little-endian byte order.
 */
static inline regbuf_le32 regbuf_cpu_to_le32(uint32_t v)
{
	return (REGBUF_FORCE regbuf_le32)REGBUF_LE32(v);
}
/**
 * regbuf_le32_to_cpu() - little-endian wire value to host value
 * @v: little-endian value
 *
 * Return: @v in host byte order.
 */
static inline uint32_t regbuf_le32_to_cpu(regbuf_le32 v)
{
	return REGBUF_LE32((REGBUF_FORCE uint32_t)v);
}
/**
 * regbuf_cpu_to_le16() - host value to little-endian wire value
 * @v: host-order value
 *
 * Return: @v in little-endian byte order.
 */
static inline regbuf_le16 regbuf_cpu_to_le16(uint16_t v)
{
	return (REGBUF_FORCE regbuf_le16)REGBUF_LE16(v);
}
/**
 * regbuf_le16_to_cpu() - little-endian wire value to host value
 * @v: little-endian value
 *
 * Return: @v in host byte order.
 */
static inline uint16_t regbuf_le16_to_cpu(regbuf_le16 v)
{
	return REGBUF_LE16((REGBUF_FORCE uint16_t)v);
}

/* SGL descriptor types, byte 15 bits 7:4 (NVMe 1.4 §4.4, Figure "SGL Descriptor Type"). */
#define REGBUF_NVME_SGL_DATA_BLOCK	0x0	/* a data buffer */
#define REGBUF_NVME_SGL_BIT_BUCKET	0x1	/* discard (reads only) */
#define REGBUF_NVME_SGL_SEGMENT		0x2	/* next segment, which chains on */
#define REGBUF_NVME_SGL_LAST_SEGMENT	0x3	/* next segment is the final one */
#define REGBUF_NVME_SGL_KEYED_DATA	0x4	/* fabrics only */
#define REGBUF_NVME_SGL_TRANSPORT_DATA	0x5	/* fabrics only */
#define REGBUF_NVME_SGL_VENDOR		0xf
/* SGL descriptor sub types, byte 15 bits 3:0: 0h = address, 1h = offset (fabrics). */
#define REGBUF_NVME_SGL_SUB_ADDRESS	0x0
/* Byte 15 value for type @t with the Address sub type. */
#define REGBUF_NVME_SGL_ID(t)		((uint8_t)((t) << 4 | REGBUF_NVME_SGL_SUB_ADDRESS))

/* SQE CDW0 bits 15:14 PSDT, kept in the flags byte bits 7:6 (NVMe 1.4 §4.2, Figure 105). */
#define REGBUF_NVME_PSDT_PRP		(0u << 6)
#define REGBUF_NVME_PSDT_SGL_MPTR_CONTIG (1u << 6)	/* SGL data, MPTR a contiguous buffer */
#define REGBUF_NVME_PSDT_SGL_MPTR_SGL	(2u << 6)	/* SGL data, MPTR an SGL descriptor */
#define REGBUF_NVME_PSDT_MASK		(3u << 6)

/**
 * struct regbuf_nvme_sgl_desc - one SGL descriptor, 16 bytes (NVMe 1.4 §4.4)
 * @addr: address of the data (Data Block) or of the next segment (Segment types)
 * @len: bytes of data, or bytes of the next segment (a multiple of 16)
 * @rsvd: reserved, zero
 * @type: bits 7:4 descriptor type (REGBUF_NVME_SGL_*), bits 3:0 sub type
 */
struct regbuf_nvme_sgl_desc {
	regbuf_le64 addr;
	regbuf_le32 len;
	uint8_t rsvd[3];
	uint8_t type;
};
REGBUF_STATIC_ASSERT(sizeof(struct regbuf_nvme_sgl_desc) == 16,
			 "NVMe SGL descriptor is 16 bytes");

/**
 * struct regbuf_nvme_sqe - submission queue entry, 64 bytes (NVMe 1.4 §4.2)
 * @opcode: CDW0 bits 7:0
 * @flags: CDW0 bits 15:8: FUSE (1:0), PSDT (7:6)
 * @cid: command identifier
 * @nsid: namespace
 * @cdw2: command specific
 * @cdw3: command specific
 * @mptr: metadata pointer
 * @dptr: data pointer: PRP entries or one SGL descriptor
 * @dptr.prp1: PRP entry 1
 * @dptr.prp2: PRP entry 2 or PRP list pointer
 * @dptr.sgl: SGL descriptor 1 (PSDT 01b/10b)
 * @cdw10: command specific
 * @cdw11: command specific
 * @cdw12: command specific
 * @cdw13: command specific
 * @cdw14: command specific
 * @cdw15: command specific
 */
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
REGBUF_STATIC_ASSERT(sizeof(struct regbuf_nvme_sqe) == 64, "NVMe SQE is 64 bytes");
REGBUF_STATIC_ASSERT(offsetof(struct regbuf_nvme_sqe, dptr) == 24, "DPTR is SQE bytes 24..39");
REGBUF_STATIC_ASSERT(offsetof(struct regbuf_nvme_sqe, cdw10) == 40,
			 "CDW10 is SQE bytes 40..43");
REGBUF_STATIC_ASSERT(sizeof(regbuf_le64) == 8, "a PRP entry is 8 bytes");

/**
 * regbuf_nvme_sgl_set() - fill an SGL descriptor in wire format
 * @d: descriptor
 * @addr: address
 * @len: length in bytes
 * @type: REGBUF_NVME_SGL_* type
 */
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

#ifdef __cplusplus
}
#endif

#endif /* REGBUF_NVME_SPEC_H */
