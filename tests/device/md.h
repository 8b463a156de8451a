/* SPDX-License-Identifier: MIT */
/*
 * Metadata and protection information in the device tests, for both NVMe
 * paths (passthrough and the userspace driver): blocks of data and metadata
 * keyed on their position, each with a correct protection information tuple
 * where the format has one, and the wrong tuples a controller must refuse.
 */
#ifndef REGBUF_TESTS_DEVICE_MD_H
#define REGBUF_TESTS_DEVICE_MD_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <regbuf/nvme_spec.h>

#include "harness.h"

#define MD_SALT		UINT64_C(0x6d64)
#define MD_APPTAG	0x5247

/* A namespace's format, as either path's namespace describes it. */
struct md_fmt {
	uint32_t lbs;		/* data bytes per block */
	uint32_t ms;		/* metadata bytes per block */
	bool ext;		/* metadata after each block's data */
	uint8_t pi_type;
	bool pi_first;
};

/* Where the 8-byte tuple sits in a block's metadata (Identify Namespace DPS bit 3). */
static inline uint32_t md_pi_off(const struct md_fmt *f)
{
	return f->pi_first ? 0 : f->ms - (uint32_t)sizeof(struct regbuf_nvme_pi);
}

/* Bytes one block takes in the data buffer. */
static inline uint64_t md_blk_bytes(const struct md_fmt *f)
{
	return f->lbs + (f->ext ? f->ms : 0);
}

/*
 * @nblk blocks for @lba: data and metadata by position, and where the format
 * has protection information a correct tuple in its place: the guard over
 * the data and the metadata before the tuple (NVM Command Set 1.0, 5.2.1.1),
 * the application tag, and the LBA as reference tag.  @md is unused with
 * extended LBAs.
 */
static inline void md_fill(const struct md_fmt *f, uint8_t *data, uint8_t *md, uint64_t nblk,
			   uint64_t lba, uint64_t salt)
{
	uint32_t off = md_pi_off(f);
	uint64_t i;

	for (i = 0; i < nblk; i++) {
		uint8_t *d = data + i * md_blk_bytes(f);
		uint8_t *m = f->ext ? d + f->lbs : md + i * f->ms;
		uint16_t guard;

		t_pattern_fill(d, f->lbs, (lba + i) * f->lbs, salt);
		t_pattern_fill(m, f->ms, (lba + i) * f->ms, salt ^ MD_SALT);
		if (!f->pi_type)
			continue;
		guard = regbuf_nvme_crc16_t10dif(regbuf_nvme_crc16_t10dif(0, d, f->lbs), m, off);
		regbuf_nvme_pi_set((struct regbuf_nvme_pi *)(void *)(m + off), guard, MD_APPTAG,
				   (uint32_t)(lba + i));
	}
}

/* The PRCHK bits a format's protection information can be checked with. */
static inline uint32_t md_prchk(const struct md_fmt *f)
{
	if (!f->pi_type)
		return 0;
	return REGBUF_NVME_RW_PRCHK_GUARD | REGBUF_NVME_RW_PRCHK_APP |
	       (f->pi_type == REGBUF_NVME_PI_TYPE3 ? 0 : REGBUF_NVME_RW_PRCHK_REF);
}

static inline const char *md_pi_name(const struct md_fmt *f)
{
	static const char *const names[] = { "no PI", "PI Type 1", "PI Type 2", "PI Type 3" };

	return names[f->pi_type & 3];
}

/*
 * A write the controller must fail: a byte of the tuple flipped (@byte < 8),
 * or (@byte 8) the expected initial reference tag in CDW14 one past the LBA,
 * and the status it must fail with (NVM Command Set 1.0, Figure 60: SCT 2h
 * End-to-end Guard / Application Tag / Reference Tag Check Error; SCT 1h,
 * 81h Invalid Protection Information for a Type 1 CDW14 that is not the LBA).
 * Type 3 has no reference tag to check: its first two cases only.
 */
struct md_pi_case {
	const char *what;
	unsigned int byte;
	uint8_t sct, sc;
};

static const struct md_pi_case md_pi_cases[] = {
	{ "guard", 0, 2, 0x82 },
	{ "application tag", 2, 2, 0x83 },
	{ "reference tag", 4, 2, 0x84 },
	{ "expected initial reference tag", 8, 1, 0x81 },
};

static inline unsigned int md_nr_pi_cases(const struct md_fmt *f)
{
	return f->pi_type == REGBUF_NVME_PI_TYPE3 ? 2u : 4u;
}

/*
 * Blocks one round trip may carry on QEMU 7.2: on an extended-LBA format
 * without protection information its controller returns zeroes for the
 * metadata of every block past the 16th of a command, or fails the write with
 * Write Fault (SCT 2h, SC 80h) - seen through both NVMe paths alike, while
 * the same layout with protection information (QEMU's separate code for it)
 * keeps every byte.  Such a namespace is tested in transfers of 8 blocks.
 */
static inline uint64_t md_qemu_blocks(const struct md_fmt *f, uint64_t nblk)
{
	return f->ext && !f->pi_type && nblk > 8 ? 8 : nblk;
}

/*
 * The first byte where @a and @b (@nblk blocks as the data buffer holds them)
 * differ, said as block, and data or metadata at an offset: @why, or NULL
 * when they are equal.
 */
static inline const char *md_diff(const struct md_fmt *f, const uint8_t *a, const uint8_t *b,
				  uint64_t nblk, char *why, size_t len)
{
	uint64_t i, n = nblk * md_blk_bytes(f), blk, off;

	for (i = 0; i < n && a[i] == b[i]; i++)
		;
	if (i == n)
		return NULL;
	blk = i / md_blk_bytes(f);
	off = i % md_blk_bytes(f);
	snprintf(why, len, "block %llu, %s byte %llu: wrote %#x, read %#x",
		 (unsigned long long)blk, off < f->lbs ? "data" : "metadata",
		 (unsigned long long)(off < f->lbs ? off : off - f->lbs), a[i], b[i]);
	return why;
}

#endif /* REGBUF_TESTS_DEVICE_MD_H */
