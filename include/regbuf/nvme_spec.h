/* SPDX-License-Identifier: MIT */
/*
 * regbuf - the NVMe wire format, once, for every NVMe path of regbuf: the
 * userspace driver (nvme.h), passthrough through io_uring (uring.h) and the
 * descriptor layer (dma.h).  Little-endian types, the submission and
 * completion queue entries, the SGL descriptor, opcodes, the Read/Write and
 * Dataset Management command fields, status decoding, and the Identify
 * Controller / Identify Namespace parsers.  Nothing here talks to a device.
 *
 * Sources: NVM Express Base Specification 1.4 and 2.0 (named where 2.0
 * changed a field), NVM Express NVM Command Set Specification 1.0.
 */
#ifndef REGBUF_NVME_SPEC_H
#define REGBUF_NVME_SPEC_H

#include <stdbool.h>
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

/**
 * struct regbuf_nvme_cqe - completion queue entry, 16 bytes (NVMe 1.4 §4.6)
 * @dw0: command specific
 * @dw1: command specific
 * @sq_head: SQ head pointer: the controller consumed entries up to here
 * @sq_id: submission queue the command came from
 * @cid: command identifier
 * @status: bit 0 the phase tag, bits 15:1 the status field
 *	(regbuf_nvme_cqe_status())
 */
struct regbuf_nvme_cqe {
	regbuf_le32 dw0;
	regbuf_le32 dw1;
	regbuf_le16 sq_head;
	regbuf_le16 sq_id;
	regbuf_le16 cid;
	regbuf_le16 status;
};
REGBUF_STATIC_ASSERT(sizeof(struct regbuf_nvme_cqe) == 16, "NVMe CQE is 16 bytes");

/* ---- opcodes ---- */

/* Admin commands (NVMe 1.4 §5, Figure 139 "Opcodes for Admin Commands"). */
#define REGBUF_NVME_ADM_DELETE_SQ	0x00	/* NVMe 1.4 §5.6 */
#define REGBUF_NVME_ADM_CREATE_SQ	0x01	/* NVMe 1.4 §5.4 */
#define REGBUF_NVME_ADM_DELETE_CQ	0x04	/* NVMe 1.4 §5.5 */
#define REGBUF_NVME_ADM_CREATE_CQ	0x05	/* NVMe 1.4 §5.3 */
#define REGBUF_NVME_ADM_IDENTIFY	0x06	/* NVMe 1.4 §5.15 */
#define REGBUF_NVME_ADM_SET_FEATURES	0x09	/* NVMe 1.4 §5.21 */
/* Identify CDW10 CNS values (NVMe 1.4 §5.15.1). */
#define REGBUF_NVME_ID_CNS_NS		0x00	/* Identify Namespace */
#define REGBUF_NVME_ID_CNS_CTRL		0x01	/* Identify Controller */
/* Feature identifiers (NVMe 1.4 §5.21.1). */
#define REGBUF_NVME_FEAT_NUM_QUEUES	0x07	/* NVMe 1.4 §5.21.1.7 */

/* I/O commands of the NVM command set (NVM Command Set Specification 1.0). */
#define REGBUF_NVME_CMD_FLUSH		0x00
#define REGBUF_NVME_CMD_WRITE		0x01
#define REGBUF_NVME_CMD_READ		0x02
#define REGBUF_NVME_CMD_WRITE_ZEROES	0x08
#define REGBUF_NVME_CMD_DSM		0x09	/* Dataset Management (deallocate/trim) */

/* ---- command fields ---- */

/*
 * Read, Write and Write Zeroes (NVM Command Set Specification 1.0;
 * NVMe 1.4 §6.9, §6.15, §6.17):
 * SLBA in CDW10 (bits 31:0) and CDW11 (bits 63:32), NLB 0-based in CDW12
 * bits 15:0, so one command moves 1..65536 blocks; FUA is CDW12 bit 30.
 */
#define REGBUF_NVME_RW_FUA		(1u << 30)
#define REGBUF_NVME_MAX_NLB		65536u

/*
 * Protection Information field (PRINFO, CDW12 bits 29:26; NVMe 1.4 §8.3.1,
 * NVM Command Set Specification 1.0, 5.2): PRACT, the controller inserts the
 * protection information on writes and strips it on reads; PRCHK, which of
 * the guard, application tag and reference tag the controller checks.  The
 * expected initial reference tag is CDW14, the application tag and its mask
 * CDW15 (ELBAT bits 15:0, ELBATM bits 31:16).
 */
#define REGBUF_NVME_RW_PRACT		(1u << 29)
#define REGBUF_NVME_RW_PRCHK_GUARD	(1u << 28)
#define REGBUF_NVME_RW_PRCHK_APP	(1u << 27)
#define REGBUF_NVME_RW_PRCHK_REF	(1u << 26)
#define REGBUF_NVME_RW_PRINFO		(0xfu << 26)

/**
 * regbuf_nvme_rw_cdw12() - CDW12 of a Read, Write or Write Zeroes, host order
 * @nlb: logical blocks, 1..%REGBUF_NVME_MAX_NLB (stored 0-based)
 * @fua: %REGBUF_NVME_RW_FUA or 0, or'ed with %REGBUF_NVME_RW_PRINFO bits
 *
 * Return: the CDW12 value.
 */
static inline uint32_t regbuf_nvme_rw_cdw12(uint32_t nlb, uint32_t fua)
{
	return ((nlb - 1) & 0xffff) | (fua & (REGBUF_NVME_RW_FUA | REGBUF_NVME_RW_PRINFO));
}

/**
 * struct regbuf_nvme_pi - 8-byte protection information of one block (16-bit
 * guard), big-endian on the wire (NVM Command Set Specification 1.0, 5.2.1)
 * @guard: CRC-16 T10-DIF of the block's data (regbuf_nvme_crc16_t10dif())
 * @apptag: application tag
 * @reftag: reference tag: the LBA's low 32 bits for Type 1, as the host set it
 *	for Type 2, unchecked for Type 3
 */
struct regbuf_nvme_pi {
	uint8_t guard[2];
	uint8_t apptag[2];
	uint8_t reftag[4];
};
REGBUF_STATIC_ASSERT(sizeof(struct regbuf_nvme_pi) == 8, "8-byte protection information");

/**
 * regbuf_nvme_crc16_t10dif() - the guard of protection information
 * @crc: 0 to start, or the value of the previous part
 * @buf: data
 * @len: bytes
 *
 * CRC-16 with polynomial 0x8BB7, no reflection, no final XOR (T10-DIF, as
 * the kernel's crc_t10dif()).
 *
 * Return: the CRC of @buf continuing @crc.
 */
uint16_t regbuf_nvme_crc16_t10dif(uint16_t crc, const void *buf, size_t len);

/**
 * regbuf_nvme_pi_set() - protection information for one block, in wire order
 * @pi: filled in
 * @guard: regbuf_nvme_crc16_t10dif() of the block's data and, where the
 *	protection information is the last 8 bytes of longer metadata, of the
 *	metadata bytes before it (NVM Command Set Specification 1.0, 5.2.1.1)
 * @apptag: application tag
 * @reftag: reference tag
 */
void regbuf_nvme_pi_set(struct regbuf_nvme_pi *pi, uint16_t guard, uint16_t apptag,
			uint32_t reftag);

/**
 * regbuf_nvme_md_check() - whether a read or write's metadata fits the format
 * @ms: metadata bytes per block of the format in use
 * @ext: extended LBA format (metadata after each block's data)
 * @pi_type: protection information type of the namespace (0: none)
 * @has_buf: the command is given a separate metadata buffer (MPTR)
 * @prinfo: %REGBUF_NVME_RW_PRACT and %REGBUF_NVME_RW_PRCHK_* bits
 *
 * A format with a separate metadata buffer moves @ms bytes per block through
 * MPTR, and a command without one would have the controller use address 0:
 * a buffer is required, unless PRACT has the controller insert and strip the
 * protection information that is the whole of the metadata (8 bytes; nothing
 * is transferred then, NVM Command Set Specification 1.0, 5.2.1.1).  The
 * same case on an extended-LBA format would change the data layout (blocks
 * without their 8 bytes) and is refused.
 *
 * Return: 0; -EINVAL PRINFO bits unknown or on a namespace without protection
 * information, a metadata buffer where nothing travels separately (no
 * metadata, extended LBA), none where it does, or PRACT on an extended-LBA
 * format whose metadata is only the protection information.
 */
int regbuf_nvme_md_check(uint32_t ms, bool ext, uint8_t pi_type, bool has_buf, uint32_t prinfo);

/**
 * regbuf_nvme_sqe_rw() - the command fields of a Read, Write or Write Zeroes
 * @sqe: command, other fields left as they are
 * @opcode: %REGBUF_NVME_CMD_READ, %REGBUF_NVME_CMD_WRITE or
 *	%REGBUF_NVME_CMD_WRITE_ZEROES
 * @nsid: namespace
 * @slba: first logical block
 * @nlb: logical blocks, 1..%REGBUF_NVME_MAX_NLB
 * @fua: %REGBUF_NVME_RW_FUA or 0, or'ed with %REGBUF_NVME_RW_PRINFO bits
 */
static inline void regbuf_nvme_sqe_rw(struct regbuf_nvme_sqe *sqe, uint8_t opcode, uint32_t nsid,
				      uint64_t slba, uint32_t nlb, uint32_t fua)
{
	sqe->opcode = opcode;
	sqe->nsid = regbuf_cpu_to_le32(nsid);
	sqe->cdw10 = regbuf_cpu_to_le32((uint32_t)slba);
	sqe->cdw11 = regbuf_cpu_to_le32((uint32_t)(slba >> 32));
	sqe->cdw12 = regbuf_cpu_to_le32(regbuf_nvme_rw_cdw12(nlb, fua));
}

/*
 * Dataset Management (NVMe 1.4 §6.7, NVM Command Set Specification 1.0): CDW10 bits 7:0 the number
 * of ranges, 0-based (1..256 ranges, 16 bytes each, in the data buffer);
 * CDW11 the attributes.  Deallocate (AD) is what trim/discard sends.
 */
#define REGBUF_NVME_DSM_IDR		(1u << 0)	/* CDW11: Integral Dataset for Read */
#define REGBUF_NVME_DSM_IDW		(1u << 1)	/* CDW11: Integral Dataset for Write */
#define REGBUF_NVME_DSM_AD		(1u << 2)	/* CDW11: Deallocate */
#define REGBUF_NVME_DSM_MAX_RANGES	256u

/**
 * struct regbuf_nvme_dsm_range - one Dataset Management range, 16 bytes
 * @cattr: context attributes (access hints), 0 for none
 * @nlb: length in logical blocks (not 0-based)
 * @slba: first logical block
 */
struct regbuf_nvme_dsm_range {
	regbuf_le32 cattr;
	regbuf_le32 nlb;
	regbuf_le64 slba;
};
REGBUF_STATIC_ASSERT(sizeof(struct regbuf_nvme_dsm_range) == 16,
			 "NVMe Dataset Management range is 16 bytes");

/**
 * regbuf_nvme_dsm_range_set() - fill a Dataset Management range in wire format
 * @r: range
 * @slba: first logical block
 * @nlb: logical blocks
 */
static inline void regbuf_nvme_dsm_range_set(struct regbuf_nvme_dsm_range *r, uint64_t slba,
					     uint32_t nlb)
{
	r->cattr = regbuf_cpu_to_le32(0);
	r->nlb = regbuf_cpu_to_le32(nlb);
	r->slba = regbuf_cpu_to_le64(slba);
}

/**
 * regbuf_nvme_sqe_dsm() - the command fields of a Dataset Management
 * @sqe: command, other fields (the data pointer to the ranges) left as they are
 * @nsid: namespace
 * @nr_ranges: ranges in the data buffer, 1..%REGBUF_NVME_DSM_MAX_RANGES
 * @attrs: REGBUF_NVME_DSM_* (CDW11)
 */
static inline void regbuf_nvme_sqe_dsm(struct regbuf_nvme_sqe *sqe, uint32_t nsid,
				       uint32_t nr_ranges, uint32_t attrs)
{
	sqe->opcode = REGBUF_NVME_CMD_DSM;
	sqe->nsid = regbuf_cpu_to_le32(nsid);
	sqe->cdw10 = regbuf_cpu_to_le32((nr_ranges - 1) & 0xff);
	sqe->cdw11 = regbuf_cpu_to_le32(attrs);
}

/* ---- status ---- */

/*
 * The 15-bit status field (NVMe 1.4 §4.6.1; bits 31:17 of the CQE's DW3): SC 7:0, SCT 10:8, CRD 12:11 (Command Retry Delay, NVMe 1.4),
 * M 13 (More), DNR 14.  The kernel's passthrough completions carry the same
 * field.  Values above it are statuses regbuf makes itself for requests a
 * controller never completed.
 */
#define REGBUF_NVME_STATUS_MASK		0x7fffu
#define REGBUF_NVME_STATUS_BADDESC	0xfffd	/* no PRP/SGL could describe the data */
#define REGBUF_NVME_STATUS_TIMEOUT	0xfffe	/* no completion within the timeout */
#define REGBUF_NVME_STATUS_ABORTED	0xffff	/* controller failed (CSTS.CFS) or reset */

/**
 * regbuf_nvme_cqe_status() - the status field of a completion queue entry
 * @status: &struct regbuf_nvme_cqe status, as the controller wrote it
 *
 * Return: the 15-bit status, without the phase tag.
 */
static inline uint16_t regbuf_nvme_cqe_status(regbuf_le16 status)
{
	return (uint16_t)(regbuf_le16_to_cpu(status) >> 1);
}

/**
 * regbuf_nvme_status_sct() - Status Code Type of a raw status
 * @status: raw 15-bit status
 *
 * Return: SCT, 0..7 (0 generic, 1 command specific, 2 media and data integrity, 3 path).
 */
static inline unsigned int regbuf_nvme_status_sct(uint16_t status)
{
	return (status >> 8) & 0x7;
}

/**
 * regbuf_nvme_status_sc() - Status Code of a raw status
 * @status: raw 15-bit status
 *
 * Return: SC, 0..255, to be read with the SCT.
 */
static inline unsigned int regbuf_nvme_status_sc(uint16_t status)
{
	return status & 0xff;
}

/**
 * regbuf_nvme_status_crd() - Command Retry Delay of a raw status
 * @status: raw 15-bit status
 *
 * Return: 0 (retry at once) or 1..3, the index of the CRDT delay the
 * controller asks for before a retry (Identify Controller CRDT1..3).
 */
static inline unsigned int regbuf_nvme_status_crd(uint16_t status)
{
	return (status >> 11) & 0x3;
}

/**
 * regbuf_nvme_status_more() - More bit of a raw status
 * @status: raw 15-bit status
 *
 * Return: 1 when the Error Information log page has more about the command.
 */
static inline unsigned int regbuf_nvme_status_more(uint16_t status)
{
	return (status >> 13) & 1;
}

/**
 * regbuf_nvme_status_dnr() - Do Not Retry bit of a raw status
 * @status: raw 15-bit status
 *
 * Return: 1 when the controller says a retry would fail again, else 0.
 */
static inline unsigned int regbuf_nvme_status_dnr(uint16_t status)
{
	return (status >> 14) & 1;
}

/**
 * regbuf_nvme_status_errno() - map a raw NVMe status to an errno
 * @status: a 15-bit status, or one of regbuf's own (REGBUF_NVME_STATUS_*)
 *
 * Only SCT and SC decide; CRD, More and DNR do not change the error.
 *
 * Return: 0 for success; -EINVAL for invalid field/opcode/SGL/PRP-offset
 * errors; -ERANGE for LBA out of range; -ENOSPC for capacity exceeded;
 * -EROFS for a write to a read-only namespace; -ENODEV for an invalid
 * namespace; -ETIMEDOUT, -ENXIO and -EINVAL (BADDESC) for regbuf's own
 * statuses; -EIO for everything else (media and data transfer errors).
 */
int regbuf_nvme_status_errno(uint16_t status);

/**
 * regbuf_nvme_status_str() - short name of a raw status, e.g. "UNRECOVERED_READ"
 * @status: raw status
 *
 * Return: a static string; "UNKNOWN" for codes without a name.
 */
const char *regbuf_nvme_status_str(uint16_t status);

/* ---- Identify ---- */

/**
 * struct regbuf_nvme_id_ctrl - Identify Controller, the fields regbuf reads
 * @vid: PCI vendor id (bytes 1:0)
 * @sn: serial number, NUL terminated, trailing blanks cut (bytes 23:4)
 * @mn: model number (bytes 63:24)
 * @fr: firmware revision (bytes 71:64)
 * @mdts: Maximum Data Transfer Size as reported (byte 77): 2^MDTS units of
 *	the controller's minimum page size, 0 = no limit
 * @sqes: SQ entry sizes (byte 512): bits 3:0 required, 7:4 maximum, log2 bytes
 * @cqes: CQ entry sizes (byte 513), as @sqes
 * @oncs: Optional NVM Command Support (bytes 521:520); bit 2 = Dataset
 *	Management, bit 3 = Write Zeroes
 * @nn: number of namespaces (bytes 519:516)
 * @sgls: SGL support (bytes 539:536); bits 1:0 non-zero = SGLs for NVM commands
 * @ioccsz: I/O Queue Command Capsule Supported Size in 16-byte units (bytes
 *	1795:1792; NVMe over Fabrics 1.1, 4.1): non-zero only on a fabrics
 *	controller (reserved for PCIe)
 * @mdts_bytes: @mdts in bytes for the page size given to the parser, 0 = no limit
 */
struct regbuf_nvme_id_ctrl {
	uint16_t vid;
	char sn[21];
	char mn[41];
	char fr[9];
	uint8_t mdts;
	uint8_t sqes;
	uint8_t cqes;
	uint16_t oncs;
	uint32_t nn;
	uint32_t sgls;
	uint32_t ioccsz;
	uint64_t mdts_bytes;
};

/* Identify Controller ONCS bits (NVMe 1.4 §5.15.2.2). */
#define REGBUF_NVME_ONCS_DSM		(1u << 2)
#define REGBUF_NVME_ONCS_WRITE_ZEROES	(1u << 3)

/**
 * regbuf_nvme_id_ctrl_parse() - read an Identify Controller page
 * @ic: result
 * @id: the 4096-byte Identify Controller data structure (NVMe 1.4 §5.15.2.2)
 * @mpsmin: CAP.MPSMIN of the controller (its minimum page is 2^(12 + @mpsmin)
 *	bytes), the unit of MDTS; 0 where it is not known (the kernel's limits
 *	already apply)
 *
 * Return: 0; -EIO an MDTS of 2^64 bytes or more, which cannot be right.
 */
int regbuf_nvme_id_ctrl_parse(struct regbuf_nvme_id_ctrl *ic, const void *id,
			      unsigned int mpsmin);

/* LBA formats a namespace can list: 16, or 64 since NVMe 2.0. */
#define REGBUF_NVME_MAX_LBAF		64

/**
 * struct regbuf_nvme_lbaf - one LBA Format (Identify Namespace bytes 128 + 4n)
 * @ms: metadata bytes per logical block (bits 15:0)
 * @lbads: log2 of the data bytes per logical block (bits 23:16)
 * @rp: relative performance, 0 best .. 3 degraded (bits 25:24)
 */
struct regbuf_nvme_lbaf {
	uint16_t ms;
	uint8_t lbads;
	uint8_t rp;
};

/* DPS bits 2:0, the protection information type in use (NVMe 1.4 §5.15.2.1). */
#define REGBUF_NVME_PI_NONE		0
#define REGBUF_NVME_PI_TYPE1		1
#define REGBUF_NVME_PI_TYPE2		2
#define REGBUF_NVME_PI_TYPE3		3

/**
 * struct regbuf_nvme_id_ns - Identify Namespace, the fields regbuf reads
 * @nsze: size in logical blocks (bytes 7:0)
 * @ncap: capacity in logical blocks (bytes 15:8)
 * @nlbaf: LBA formats listed (NLBAF + 1, byte 25), 1..64
 * @flbas: index of the format in use (FLBAS byte 26: bits 3:0, and bits 6:5
 *	as bits 5:4 of the index when more than 16 formats are listed, NVMe 2.0)
 * @ext: FLBAS bit 4: metadata travels at the end of each block's data
 *	(extended LBA), else in a separate buffer (MPTR); 0 without metadata
 * @mc: Metadata Capabilities (byte 27): bit 0 extended LBA, bit 1 separate
 *	buffer supported
 * @dpc: End-to-end Data Protection Capabilities (byte 28)
 * @pi_type: DPS bits 2:0: REGBUF_NVME_PI_* in use (byte 29)
 * @pi_first: DPS bit 3: the protection information is the first 8 bytes of
 *	the metadata, else the last 8
 * @lba_size: data bytes per block of the format in use (2^LBADS)
 * @ms: metadata bytes per block of the format in use
 * @lbaf: the formats listed, @nlbaf of them (the rest zero)
 */
struct regbuf_nvme_id_ns {
	uint64_t nsze;
	uint64_t ncap;
	uint8_t nlbaf;
	uint8_t flbas;
	uint8_t ext;
	uint8_t mc;
	uint8_t dpc;
	uint8_t pi_type;
	uint8_t pi_first;
	uint32_t lba_size;
	uint32_t ms;
	struct regbuf_nvme_lbaf lbaf[REGBUF_NVME_MAX_LBAF];
};

/**
 * regbuf_nvme_id_ns_parse() - read an Identify Namespace page
 * @ns: result
 * @id: the 4096-byte Identify Namespace data structure (NVMe 1.4 §5.15.2.1)
 *
 * The page is checked before use (the device is not trusted): the format in
 * use must be one of those listed, and its block size 512 B..64 KiB.  A
 * format with metadata parses; whether a path can use it is the caller's
 * decision.
 *
 * Return: 0; -ENODEV inactive namespace (NSZE 0); -EIO more than 64 formats
 * listed, or the format in use not among them; -EOPNOTSUPP a block size
 * outside 512 B..64 KiB (LBADS below 9 or above 16), or protection
 * information the NVM Command Set does not define (a type past 3, or less
 * than 8 bytes of metadata to hold it).
 */
int regbuf_nvme_id_ns_parse(struct regbuf_nvme_id_ns *ns, const void *id);

#ifdef __cplusplus
}
#endif

#endif /* REGBUF_NVME_SPEC_H */
