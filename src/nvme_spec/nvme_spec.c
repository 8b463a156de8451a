// SPDX-License-Identifier: MIT
/*
 * The NVMe wire format both NVMe paths read: status names and errnos, the
 * Identify Controller / Identify Namespace parsers, and the guard of
 * protection information.  Pure functions over bytes; nothing here reaches a
 * device.
 *
 * Section numbers: NVMe Base Specification 1.4.
 */
#include <errno.h>
#include <pthread.h>
#include <string.h>

#include <regbuf/nvme_spec.h>

int regbuf_nvme_status_errno(uint16_t status)
{
	unsigned int sct = regbuf_nvme_status_sct(status), sc = regbuf_nvme_status_sc(status);

	if (status == REGBUF_NVME_STATUS_TIMEOUT)
		return -ETIMEDOUT;
	if (status == REGBUF_NVME_STATUS_ABORTED)
		return -ENXIO;
	if (status == REGBUF_NVME_STATUS_BADDESC)
		return -EINVAL;
	if (!sct && !sc)
		return 0;
	if (sct == 0) {		/* Generic Command Status, NVMe 1.4 §4.6.1.2.1 */
		switch (sc) {
		case 0x01: case 0x02: case 0x0d: case 0x0e: case 0x0f: case 0x10:
		case 0x11: case 0x12: case 0x13: case 0x15: case 0x16:
			return -EINVAL;
		case 0x0b:
			return -ENODEV;
		case 0x80:
			return -ERANGE;
		case 0x81:
			return -ENOSPC;
		}
	} else if (sct == 1 && sc == 0x82) {	/* Attempted Write to Read Only Range */
		return -EROFS;
	}
	return -EIO;
}

static const char *status_str_generic(unsigned int sc)
{
	switch (sc) {
	case 0x00: return "SUCCESS";
	case 0x01: return "INVALID_OPCODE";
	case 0x02: return "INVALID_FIELD";
	case 0x04: return "DATA_TRANSFER_ERROR";
	case 0x06: return "INTERNAL_ERROR";
	case 0x0b: return "INVALID_NAMESPACE";
	case 0x0c: return "COMMAND_SEQUENCE_ERROR";
	case 0x0d: return "INVALID_SGL_SEGMENT_DESCRIPTOR";
	case 0x0e: return "INVALID_NUMBER_OF_SGL_DESCRIPTORS";
	case 0x0f: return "DATA_SGL_LENGTH_INVALID";
	case 0x11: return "SGL_DESCRIPTOR_TYPE_INVALID";
	case 0x13: return "INVALID_PRP_OFFSET";
	case 0x80: return "LBA_OUT_OF_RANGE";
	case 0x81: return "CAPACITY_EXCEEDED";
	}
	return "UNKNOWN";
}

const char *regbuf_nvme_status_str(uint16_t status)
{
	unsigned int sct = regbuf_nvme_status_sct(status), sc = regbuf_nvme_status_sc(status);

	if (status == REGBUF_NVME_STATUS_TIMEOUT)
		return "TIMEOUT";
	if (status == REGBUF_NVME_STATUS_ABORTED)
		return "ABORTED";
	if (status == REGBUF_NVME_STATUS_BADDESC)
		return "NO_DESCRIPTOR";
	if (sct == 0)
		return status_str_generic(sc);
	if (sct == 1) {		/* Command Specific Status, NVMe 1.4 §4.6.1.2.2 */
		switch (sc) {
		case 0x00: return "INVALID_CQ";
		case 0x01: return "INVALID_QID";
		case 0x02: return "MAX_QSIZE_EXCEEDED";
		case 0x08: return "INVALID_IRQ_VECTOR";
		}
	} else if (sct == 2) {	/* Media and Data Integrity Errors, NVMe 1.4 §4.6.1.2.3 */
		switch (sc) {
		case 0x80: return "WRITE_FAULT";
		case 0x81: return "UNRECOVERED_READ";
		}
	}
	return "UNKNOWN";
}

/* A fixed-width ASCII field, NUL terminated, trailing blanks and NULs cut. */
static void copy_str(char *dst, const uint8_t *src, size_t n)
{
	memcpy(dst, src, n);
	dst[n] = '\0';
	while (n && (dst[n - 1] == ' ' || dst[n - 1] == '\0'))
		dst[--n] = '\0';
}

/* Little-endian fields of an Identify page, at any byte offset. */
static uint16_t id_le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t id_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t id_le64(const uint8_t *p)
{
	return (uint64_t)id_le32(p) | (uint64_t)id_le32(p + 4) << 32;
}

/* Identify Controller data structure, NVMe 1.4 §5.15.2.2 Figure 247. */
int regbuf_nvme_id_ctrl_parse(struct regbuf_nvme_id_ctrl *ic, const void *page,
			      unsigned int mpsmin)
{
	const uint8_t *id = page;

	memset(ic, 0, sizeof(*ic));
	ic->vid = id_le16(id);
	copy_str(ic->sn, id + 4, 20);
	copy_str(ic->mn, id + 24, 40);
	copy_str(ic->fr, id + 64, 8);
	ic->mdts = id[77];
	ic->sqes = id[512];
	ic->cqes = id[513];
	ic->nn = id_le32(id + 516);
	ic->oncs = id_le16(id + 520);
	ic->sgls = id_le32(id + 536);
	ic->ioccsz = id_le32(id + 1792);
	/* 2^MDTS units of 2^(12 + MPSMIN) bytes: beyond 2^63 it cannot be real */
	if (ic->mdts && 12 + mpsmin + ic->mdts > 63)
		return -EIO;
	ic->mdts_bytes = ic->mdts ? UINT64_C(1) << (12 + mpsmin + ic->mdts) : 0;
	return 0;
}

/* CRC-16 T10-DIF (polynomial 0x8BB7), one byte at a time from a 256-entry table. */
static uint16_t crc16_table[256];
static pthread_once_t crc16_once = PTHREAD_ONCE_INIT;

static void crc16_init(void)
{
	unsigned int i, b;

	for (i = 0; i < 256; i++) {
		uint16_t c = (uint16_t)(i << 8);

		for (b = 0; b < 8; b++)
			c = (uint16_t)(c & 0x8000 ? (c << 1) ^ 0x8bb7 : c << 1);
		crc16_table[i] = c;
	}
}

uint16_t regbuf_nvme_crc16_t10dif(uint16_t crc, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	pthread_once(&crc16_once, crc16_init);
	while (len--)
		crc = (uint16_t)((crc << 8) ^ crc16_table[((crc >> 8) ^ *p++) & 0xff]);
	return crc;
}

void regbuf_nvme_pi_set(struct regbuf_nvme_pi *pi, uint16_t guard, uint16_t apptag,
			uint32_t reftag)
{
	pi->guard[0] = (uint8_t)(guard >> 8);
	pi->guard[1] = (uint8_t)guard;
	pi->apptag[0] = (uint8_t)(apptag >> 8);
	pi->apptag[1] = (uint8_t)apptag;
	pi->reftag[0] = (uint8_t)(reftag >> 24);
	pi->reftag[1] = (uint8_t)(reftag >> 16);
	pi->reftag[2] = (uint8_t)(reftag >> 8);
	pi->reftag[3] = (uint8_t)reftag;
}

int regbuf_nvme_md_check(uint32_t ms, bool ext, uint8_t pi_type, bool has_buf, uint32_t prinfo)
{
	bool pract_only = (prinfo & REGBUF_NVME_RW_PRACT) && ms == sizeof(struct regbuf_nvme_pi);

	if (prinfo & ~REGBUF_NVME_RW_PRINFO)
		return -EINVAL;
	if (prinfo && !pi_type)
		return -EINVAL;		/* no protection information to act on or check */
	if (has_buf && (!ms || ext))
		return -EINVAL;		/* nothing travels separately */
	if (ms && !ext && !has_buf && !pract_only)
		return -EINVAL;		/* MPTR 0 would be an address */
	if (ext && pract_only)
		return -EINVAL;		/* the blocks would lose their 8 bytes */
	return 0;
}

/*
 * The format in use (FLBAS, byte 26): bits 3:0 are the low four bits of its
 * index; NVMe 2.0 adds bits 6:5 as the upper two for namespaces that list
 * more than 16 formats, where they were reserved before (and are ignored).
 */
static unsigned int flbas_index(uint8_t flbas, unsigned int nlbaf)
{
	unsigned int fmt = flbas & 0xf;

	if (nlbaf > 16)
		fmt |= ((unsigned int)(flbas >> 5) & 3) << 4;
	return fmt;
}

/* Identify Namespace data structure, NVMe 1.4 §5.15.2.1 Figure 245. */
int regbuf_nvme_id_ns_parse(struct regbuf_nvme_id_ns *ns, const void *page)
{
	const uint8_t *id = page;
	const struct regbuf_nvme_lbaf *f;
	unsigned int i;

	memset(ns, 0, sizeof(*ns));
	ns->nsze = id_le64(id);
	ns->ncap = id_le64(id + 8);
	if (!ns->nsze)
		return -ENODEV;
	/* NLBAF is 0-based: 1..256 by its width, at most 64 formats exist (NVMe 2.0) */
	if (id[25] + 1u > REGBUF_NVME_MAX_LBAF)
		return -EIO;
	ns->nlbaf = (uint8_t)(id[25] + 1u);
	ns->flbas = (uint8_t)flbas_index(id[26], ns->nlbaf);
	if (ns->flbas >= ns->nlbaf)
		return -EIO;		/* the format in use is not one of those listed */
	ns->mc = id[27];
	ns->dpc = id[28];
	ns->pi_type = id[29] & 7;
	ns->pi_first = (id[29] >> 3) & 1;
	/* LBA Format n at byte 128 + 4n: MS 15:0, LBADS 23:16, RP 25:24 */
	for (i = 0; i < ns->nlbaf; i++) {
		uint32_t v = id_le32(id + 128 + 4 * i);

		ns->lbaf[i].ms = (uint16_t)(v & 0xffff);
		ns->lbaf[i].lbads = (uint8_t)(v >> 16);
		ns->lbaf[i].rp = (uint8_t)((v >> 24) & 3);
	}
	f = &ns->lbaf[ns->flbas];
	/* 2^LBADS bytes, checked before the shift; below 9 is not allowed (NVMe 1.4 §5.15.2.1) */
	if (f->lbads < 9 || f->lbads > 16)
		return -EOPNOTSUPP;
	ns->lba_size = 1u << f->lbads;
	ns->ms = f->ms;
	/* FLBAS bit 4 says where metadata goes: nowhere without any */
	ns->ext = ns->ms ? (id[26] >> 4) & 1 : 0;
	/* Protection information is 8 bytes of the metadata, and Types 1-3 are
	 * all there is (NVM Command Set Specification 1.0, 5.2.1) */
	if (ns->pi_type > REGBUF_NVME_PI_TYPE3 || (ns->pi_type && ns->ms < 8))
		return -EOPNOTSUPP;
	return 0;
}
