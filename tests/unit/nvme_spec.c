// SPDX-License-Identifier: MIT
/*
 * nvme_spec, the NVMe wire format both NVMe paths share: the Identify
 * Namespace parser over pages laid out as the specification draws them (the
 * format index past 16 formats, NVMe 2.0; the metadata and protection
 * fields), the Identify Controller parser, status decoding with every bit
 * around SCT/SC set, and the command fields as bytes.
 */
#include <errno.h>
#include <string.h>

#include <regbuf/nvme_spec.h>

#include "harness.h"

static uint8_t page[4096];

/* Identify Namespace: NSZE, @nformats formats (format i: LBADS 9 + i % 8, MS 8 * i), FLBAS. */
static void id_ns_page(unsigned int nformats, uint8_t flbas)
{
	unsigned int i;

	memset(page, 0, sizeof(page));
	page[0] = 0x00;
	page[1] = 0x10;		/* NSZE 4096 blocks */
	page[8] = 0x00;
	page[9] = 0x08;		/* NCAP 2048 */
	page[25] = (uint8_t)(nformats - 1);
	page[26] = flbas;
	for (i = 0; i < nformats && i < 64; i++) {
		uint8_t *f = page + 128 + 4 * i;
		uint16_t ms = (uint16_t)(8 * i);

		f[0] = (uint8_t)ms;
		f[1] = (uint8_t)(ms >> 8);
		f[2] = (uint8_t)(9 + i % 8);
		f[3] = (uint8_t)(i % 4);	/* RP */
	}
}

/* FLBAS for format index @i: bits 3:0 the low four, bits 6:5 the upper two (NVMe 2.0). */
static uint8_t flbas_of(unsigned int i)
{
	return (uint8_t)((i & 0xf) | ((i >> 4) & 3) << 5);
}

/*
 * The format in use among 64: 0, 15, 16 and 63.  Keeping only FLBAS bits
 * 3:0 reads 16 as 0 and 63 as 15, another block size than the namespace's.
 */
static int id_ns_format_index(void)
{
	static const unsigned int idx[] = { 0, 15, 16, 63 };
	struct regbuf_nvme_id_ns ns;
	unsigned int k;

	for (k = 0; k < sizeof(idx) / sizeof(idx[0]); k++) {
		unsigned int i = idx[k];

		id_ns_page(64, flbas_of(i));
		t_ok(regbuf_nvme_id_ns_parse(&ns, page));
		if (ns.flbas != i || ns.lba_size != 1u << (9 + i % 8) || ns.ms != 8 * i)
			return T_FAILF("format %u: parsed index %u, %u-byte blocks, ms %u", i,
				       ns.flbas, ns.lba_size, ns.ms);
		t_check_eq(ns.nlbaf, 64);
		t_check_eq(ns.nsze, 4096);
		t_check_eq(ns.ncap, 2048);
		t_check_eq(ns.lbaf[63].lbads, 9 + 63 % 8);
		t_check_eq(ns.lbaf[63].rp, 3);
	}
	/* 17 formats: index 16 is the first that needs bit 5 */
	id_ns_page(17, flbas_of(16));
	t_ok(regbuf_nvme_id_ns_parse(&ns, page));
	t_check_eq(ns.flbas, 16);
	/* up to 16 formats bits 6:5 are reserved: ignored, not read as an index */
	id_ns_page(16, 0x60 | 5);
	t_ok(regbuf_nvme_id_ns_parse(&ns, page));
	t_check_eq(ns.flbas, 5);
	t_check_eq(ns.lba_size, 1u << 14);
	return T_PASS;
}

/* What cannot be right, or cannot be used, is refused. */
static int id_ns_refusals(void)
{
	struct regbuf_nvme_id_ns ns;

	/* the index in use is not among those listed */
	id_ns_page(16, 0x0f);
	page[25] = 14;				/* 15 formats: 0..14 */
	t_check_eq(regbuf_nvme_id_ns_parse(&ns, page), -EIO);
	id_ns_page(20, flbas_of(20));		/* index 20 of 0..19 */
	t_check_eq(regbuf_nvme_id_ns_parse(&ns, page), -EIO);
	id_ns_page(64, flbas_of(63));
	t_ok(regbuf_nvme_id_ns_parse(&ns, page));
	/* NLBAF 64 (0-based): 65 formats, more than exist */
	page[25] = 64;
	t_check_eq(regbuf_nvme_id_ns_parse(&ns, page), -EIO);
	page[25] = 255;
	t_check_eq(regbuf_nvme_id_ns_parse(&ns, page), -EIO);
	/* LBADS of the format in use below 9 or above 16 */
	id_ns_page(2, 1);
	page[132 + 2] = 8;
	t_check_eq(regbuf_nvme_id_ns_parse(&ns, page), -EOPNOTSUPP);
	page[132 + 2] = 17;
	t_check_eq(regbuf_nvme_id_ns_parse(&ns, page), -EOPNOTSUPP);
	page[132 + 2] = 40;			/* checked before any shift */
	t_check_eq(regbuf_nvme_id_ns_parse(&ns, page), -EOPNOTSUPP);
	page[132 + 2] = 16;
	t_ok(regbuf_nvme_id_ns_parse(&ns, page));
	t_check_eq(ns.lba_size, 65536);
	/* a format not in use may hold anything */
	page[128 + 2] = 3;
	t_ok(regbuf_nvme_id_ns_parse(&ns, page));
	/* NSZE 0: an inactive namespace */
	memset(page, 0, 8);
	t_check_eq(regbuf_nvme_id_ns_parse(&ns, page), -ENODEV);
	return T_PASS;
}

/* Metadata and protection: MS per format, FLBAS bit 4, MC, DPC, DPS type and location. */
static int id_ns_metadata(void)
{
	struct regbuf_nvme_id_ns ns;

	id_ns_page(4, 0x10 | 2);	/* format 2, extended LBA */
	page[27] = 0x03;		/* MC: extended and separate */
	page[28] = 0x1f;		/* DPC: types 1-3, first and last */
	page[29] = 0x08 | 2;		/* DPS: Type 2, PI first */
	t_ok(regbuf_nvme_id_ns_parse(&ns, page));
	t_check_eq(ns.flbas, 2);
	t_check_eq(ns.ext, 1);
	t_check_eq(ns.ms, 16);
	t_check_eq(ns.lbaf[1].ms, 8);
	t_check_eq(ns.lbaf[3].ms, 24);
	t_check_eq(ns.lba_size, 2048);
	t_check_eq(ns.mc, 3);
	t_check_eq(ns.dpc, 0x1f);
	t_check_eq(ns.pi_type, REGBUF_NVME_PI_TYPE2);
	t_check_eq(ns.pi_first, 1);
	page[26] = 2;			/* separate metadata buffer */
	page[29] = 3;			/* Type 3, PI last */
	t_ok(regbuf_nvme_id_ns_parse(&ns, page));
	t_check_eq(ns.ext, 0);
	t_check_eq(ns.pi_type, REGBUF_NVME_PI_TYPE3);
	t_check_eq(ns.pi_first, 0);
	/* FLBAS bit 4 is not part of the index past 16 formats either */
	id_ns_page(64, 0x10 | flbas_of(33));
	t_ok(regbuf_nvme_id_ns_parse(&ns, page));
	t_check_eq(ns.flbas, 33);
	t_check_eq(ns.ext, 1);
	t_check_eq(ns.ms, 8 * 33);
	/* extended LBA without metadata is no layout at all */
	id_ns_page(4, 0x10 | 0);
	t_ok(regbuf_nvme_id_ns_parse(&ns, page));
	t_check_eq(ns.ms, 0);
	t_check_eq(ns.ext, 0);
	/* protection information needs 8 bytes of metadata; Types 4-7 do not exist */
	page[29] = 1;
	t_check_eq(regbuf_nvme_id_ns_parse(&ns, page), -EOPNOTSUPP);
	id_ns_page(4, 1);		/* 8 bytes of metadata: Type 1 fits */
	page[29] = 1;
	t_ok(regbuf_nvme_id_ns_parse(&ns, page));
	page[29] = 4;
	t_check_eq(regbuf_nvme_id_ns_parse(&ns, page), -EOPNOTSUPP);
	return T_PASS;
}

static int id_ctrl_fields(void)
{
	struct regbuf_nvme_id_ctrl ic;

	memset(page, 0, sizeof(page));
	page[0] = 0x4f;
	page[1] = 0x1b;			/* VID 1b4f */
	memcpy(page + 4, "SN123               ", 20);
	memcpy(page + 24, "QEMU NVMe Ctrl", 14);	/* the rest NUL */
	memcpy(page + 64, "8.0.0   ", 8);
	page[77] = 5;			/* MDTS */
	page[512] = 0x66;
	page[513] = 0x44;
	page[516] = 0x00;
	page[517] = 0x01;		/* NN 256 */
	page[520] = 0x0c;		/* ONCS: DSM, Write Zeroes */
	page[536] = 0x01;		/* SGLS */
	page[1792] = 0x04;		/* IOCCSZ 4 (64 bytes): a fabrics controller */
	page[1795] = 0x01;
	t_ok(regbuf_nvme_id_ctrl_parse(&ic, page, 0));
	t_check_eq(ic.vid, 0x1b4f);
	t_check(!strcmp(ic.sn, "SN123"));
	t_check(!strcmp(ic.mn, "QEMU NVMe Ctrl"));
	t_check(!strcmp(ic.fr, "8.0.0"));
	t_check_eq(ic.mdts, 5);
	t_check_eq(ic.mdts_bytes, 128 << 10);
	t_check_eq(ic.sqes, 0x66);
	t_check_eq(ic.cqes, 0x44);
	t_check_eq(ic.nn, 256);
	t_check(ic.oncs & REGBUF_NVME_ONCS_DSM);
	t_check(ic.oncs & REGBUF_NVME_ONCS_WRITE_ZEROES);
	t_check_eq(ic.sgls, 1);
	t_check_eq(ic.ioccsz, 0x01000004);
	/* MDTS counts minimum controller pages: 2^(12 + 2 + 5) with MPSMIN 2 */
	t_ok(regbuf_nvme_id_ctrl_parse(&ic, page, 2));
	t_check_eq(ic.mdts_bytes, 512 << 10);
	page[77] = 0;			/* no limit */
	t_ok(regbuf_nvme_id_ctrl_parse(&ic, page, 0));
	t_check_eq(ic.mdts_bytes, 0);
	page[77] = 52;			/* 2^64 bytes */
	t_check_eq(regbuf_nvme_id_ctrl_parse(&ic, page, 0), -EIO);
	page[77] = 51;
	t_ok(regbuf_nvme_id_ctrl_parse(&ic, page, 0));
	t_check_eq(ic.mdts_bytes, UINT64_C(1) << 63);
	return T_PASS;
}

/*
 * Command Retry Delay (bits 12:11), More (13) and DNR (14) sit right above
 * SCT: a status with them set still names the same SCT/SC, error and name,
 * whether it comes from a CQE (phase tag below) or as the 15-bit field.
 */
static int status_crd(void)
{
	static const struct { uint16_t sct_sc; int err; const char *name; } t[] = {
		{ 0x000, 0, "SUCCESS" },
		{ 0x002, -EINVAL, "INVALID_FIELD" },
		{ 0x006, -EIO, "INTERNAL_ERROR" },
		{ 0x080, -ERANGE, "LBA_OUT_OF_RANGE" },
		{ 0x182, -EROFS, "UNKNOWN" },
		{ 0x281, -EIO, "UNRECOVERED_READ" },
		{ 0x370, -EIO, "UNKNOWN" },
		{ 0x7ff, -EIO, "UNKNOWN" },
	};
	unsigned int i, crd, more, dnr;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		for (crd = 0; crd < 4; crd++) {
			for (more = 0; more < 2; more++) {
				for (dnr = 0; dnr < 2; dnr++) {
					uint16_t st = (uint16_t)(t[i].sct_sc | crd << 11 |
								 more << 13 | dnr << 14);
					regbuf_le16 wire = regbuf_cpu_to_le16((uint16_t)(st << 1 | 1));
					uint16_t got = regbuf_nvme_cqe_status(wire);
					int err = t[i].err;

					if (!(t[i].sct_sc) && st)
						err = 0;	/* success with retry bits is success */
					if (got != st ||
					    regbuf_nvme_status_sct(got) != t[i].sct_sc >> 8 ||
					    regbuf_nvme_status_sc(got) != (t[i].sct_sc & 0xffu) ||
					    regbuf_nvme_status_crd(got) != crd ||
					    regbuf_nvme_status_more(got) != more ||
					    regbuf_nvme_status_dnr(got) != dnr ||
					    regbuf_nvme_status_errno(got) != err ||
					    strcmp(regbuf_nvme_status_str(got), t[i].name))
						return T_FAILF("status 0x%04x: got 0x%04x, SCT %u SC 0x%x "
							       "CRD %u M %u DNR %u, %d %s", st, got,
							       regbuf_nvme_status_sct(got),
							       regbuf_nvme_status_sc(got),
							       regbuf_nvme_status_crd(got),
							       regbuf_nvme_status_more(got),
							       regbuf_nvme_status_dnr(got),
							       regbuf_nvme_status_errno(got),
							       regbuf_nvme_status_str(got));
				}
			}
		}
	}
	return T_PASS;
}

/* Read/Write and Dataset Management as the controller reads the bytes. */
static int command_bytes(void)
{
	struct regbuf_nvme_dsm_range r[2];
	struct regbuf_nvme_sqe sqe;
	const uint8_t *b = (const uint8_t *)&sqe;
	const uint8_t *rb = (const uint8_t *)r;

	memset(&sqe, 0xee, sizeof(sqe));
	regbuf_nvme_sqe_rw(&sqe, REGBUF_NVME_CMD_WRITE, 7, UINT64_C(0x0123456789), 65536,
			   REGBUF_NVME_RW_FUA);
	t_check_eq(b[0], 0x01);
	t_check_eq(b[4], 7);
	/* CDW10/11 at bytes 40..47: SLBA little-endian */
	t_check_eq(b[40], 0x89);
	t_check_eq(b[43], 0x23);
	t_check_eq(b[44], 0x01);
	t_check_eq(b[45], 0);
	/* CDW12: NLB 0-based (65536 -> 0xffff), FUA bit 30 */
	t_check_eq(b[48], 0xff);
	t_check_eq(b[49], 0xff);
	t_check_eq(b[50], 0);
	t_check_eq(b[51], 0x40);
	t_check_eq(regbuf_nvme_rw_cdw12(1, 0), 0);
	t_check_eq(regbuf_nvme_rw_cdw12(8, REGBUF_NVME_RW_FUA), 7u | 1u << 30);
	t_check_eq(REGBUF_NVME_CMD_READ, 0x02);
	t_check_eq(REGBUF_NVME_CMD_FLUSH, 0x00);
	t_check_eq(REGBUF_NVME_CMD_WRITE_ZEROES, 0x08);

	memset(&sqe, 0, sizeof(sqe));
	regbuf_nvme_sqe_dsm(&sqe, 1, 256, REGBUF_NVME_DSM_AD);
	t_check_eq(b[0], 0x09);
	t_check_eq(b[40], 0xff);		/* NR 0-based: 256 ranges */
	t_check_eq(b[44], 0x04);		/* CDW11 bit 2: deallocate */
	regbuf_nvme_sqe_dsm(&sqe, 1, 1, REGBUF_NVME_DSM_AD | REGBUF_NVME_DSM_IDW);
	t_check_eq(b[40], 0);
	t_check_eq(b[44], 0x06);
	regbuf_nvme_dsm_range_set(&r[0], UINT64_C(0x1122334455), 0x100);
	regbuf_nvme_dsm_range_set(&r[1], 8, 1);
	/* bytes 3:0 context attributes, 7:4 length in blocks, 15:8 SLBA */
	t_check_eq(rb[0] | rb[1] | rb[2] | rb[3], 0);
	t_check_eq(rb[4], 0x00);
	t_check_eq(rb[5], 0x01);
	t_check_eq(rb[8], 0x55);
	t_check_eq(rb[12], 0x11);
	t_check_eq(rb[16 + 4], 1);
	t_check_eq(rb[16 + 8], 8);
	return T_PASS;
}

/* The guard: CRC-16 T10-DIF, its check value, parts, and the PI tuple in wire order. */
static int pi_guard_and_tuple(void)
{
	static const uint8_t zeros[512];
	struct regbuf_nvme_pi pi;
	uint8_t *b = (uint8_t *)&pi;
	uint16_t crc;

	/* the catalogued check value of CRC-16/T10-DIF over "123456789" */
	t_check_eq(regbuf_nvme_crc16_t10dif(0, "123456789", 9), 0xd0db);
	/* in two parts: the same as in one */
	crc = regbuf_nvme_crc16_t10dif(0, "1234", 4);
	t_check_eq(regbuf_nvme_crc16_t10dif(crc, "56789", 5), 0xd0db);
	t_check_eq(regbuf_nvme_crc16_t10dif(0, zeros, sizeof(zeros)), 0);
	t_check_eq(regbuf_nvme_crc16_t10dif(0, "", 0), 0);
	/* a single flipped bit changes it */
	t_check(regbuf_nvme_crc16_t10dif(0, "123456788", 9) != 0xd0db);
	regbuf_nvme_pi_set(&pi, 0xd0db, 0x1234, 0x89abcdef);
	t_check_eq(b[0], 0xd0);
	t_check_eq(b[1], 0xdb);
	t_check_eq(b[2], 0x12);
	t_check_eq(b[3], 0x34);
	t_check_eq(b[4], 0x89);
	t_check_eq(b[7], 0xef);
	/* PRINFO bits sit in CDW12 29:26 beside FUA, NLB 0-based */
	t_check_eq(regbuf_nvme_rw_cdw12(8, REGBUF_NVME_RW_PRACT | REGBUF_NVME_RW_PRCHK_GUARD |
					 REGBUF_NVME_RW_PRCHK_REF | REGBUF_NVME_RW_FUA),
		   0x74000007);
	t_check_eq(regbuf_nvme_rw_cdw12(1, 1u << 31), 0);
	return T_PASS;
}

/* Which metadata a read or write may carry, per format (both NVMe paths ask). */
static int md_check_rules(void)
{
	const uint32_t pract = REGBUF_NVME_RW_PRACT, guard = REGBUF_NVME_RW_PRCHK_GUARD;

	/* no metadata: nothing to give, nothing to check */
	t_ok(regbuf_nvme_md_check(0, false, 0, false, 0));
	t_check_eq(regbuf_nvme_md_check(0, false, 0, true, 0), -EINVAL);
	t_check_eq(regbuf_nvme_md_check(0, false, 0, false, guard), -EINVAL);
	/* separate metadata: a buffer, always */
	t_ok(regbuf_nvme_md_check(8, false, 0, true, 0));
	t_check_eq(regbuf_nvme_md_check(8, false, 0, false, 0), -EINVAL);
	t_check_eq(regbuf_nvme_md_check(8, false, 0, true, pract), -EINVAL);	/* no PI */
	/* ... except PRACT where the 8 bytes are all protection information */
	t_ok(regbuf_nvme_md_check(8, false, 1, false, pract | guard));
	t_ok(regbuf_nvme_md_check(8, false, 1, true, pract));
	t_check_eq(regbuf_nvme_md_check(16, false, 1, false, pract), -EINVAL);
	t_check_eq(regbuf_nvme_md_check(8, false, 1, false, guard), -EINVAL);
	/* extended LBA: in the data buffer, never a separate one */
	t_ok(regbuf_nvme_md_check(16, true, 1, false, pract | guard));
	t_check_eq(regbuf_nvme_md_check(16, true, 1, true, 0), -EINVAL);
	t_check_eq(regbuf_nvme_md_check(8, true, 1, false, pract), -EINVAL);
	t_ok(regbuf_nvme_md_check(8, true, 1, false, guard));
	/* bits outside PRINFO */
	t_check_eq(regbuf_nvme_md_check(8, false, 1, true, REGBUF_NVME_RW_FUA), -EINVAL);
	return T_PASS;
}

static const struct t_case cases[] = {
	T_CASE(id_ns_format_index),
	T_CASE(id_ns_refusals),
	T_CASE(id_ns_metadata),
	T_CASE(id_ctrl_fields),
	T_CASE(status_crd),
	T_CASE(command_bytes),
	T_CASE(pi_guard_and_tuple),
	T_CASE(md_check_rules),
};

int main(int argc, char **argv)
{
	return t_main("nvme_spec", cases, sizeof(cases) / sizeof(cases[0]), argc, argv);
}
