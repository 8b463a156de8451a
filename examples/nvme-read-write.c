// SPDX-License-Identifier: MIT
/*
 * nvme-read-write - the userspace NVMe driver: write a namespace, read it
 * back, check every byte.
 *
 * The layers in the order an application stacks them: an arena of I/O
 * memory (hugepages when there are any), a regbuf table that registers it,
 * a DMA mapping of that registered buffer made once (its PRP lists and SGL
 * are built then, not per I/O), and a queue pair that submits reads and
 * writes naming (buffer, offset, length, LBA) and polls for completions.
 *
 *   cc -O2 nvme-read-write.c $(pkg-config --cflags --libs regbuf)
 *   ./a.out 0000:01:00.0 LBA [NSID]
 *
 * The PCI function must be bound to vfio-pci (echo vfio-pci >
 * /sys/bus/pci/devices/BDF/driver_override; echo BDF >
 * /sys/bus/pci/drivers_probe) and the IOMMU on.  THE DATA AT LBA .. LBA + 256
 * KiB IS OVERWRITTEN: give a scratch device, and an LBA you mean.
 * Exit status: 0 when the data read back is the data written, 1 otherwise,
 * 2 for bad arguments.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include <regbuf/mem.h>
#include <regbuf/nvme.h>
#include <regbuf/table.h>

#define IO_LEN		(64 * 1024)	/* bytes per request */
#define NR_IOS		4		/* requests in flight together */
#define ARENA_LEN	(2u << 20)

struct dev {
	struct regbuf_nvme_ctrl *ctrl;
	struct regbuf_nvme_qpair *q;
	struct regbuf_nvme_dmamap *buf;	/* the arena, as the device sees it */
	struct regbuf_nvme_ns *ns;	/* the namespace handle I/O names */
	uint32_t lba_size;
};

/* Position-dependent data: a block landing at the wrong LBA cannot pass. */
static uint8_t pattern(uint64_t pos)
{
	return (uint8_t)(pos * 13 + (pos >> 12) + 1);
}

/*
 * NR_IOS requests of IO_LEN bytes: request i uses buffer bytes
 * [i * IO_LEN, (i + 1) * IO_LEN) and the blocks from @lba + i * IO_LEN.
 */
static int run_batch(struct dev *d, int write, uint64_t lba)
{
	struct regbuf_nvme_cpl cpl[NR_IOS];
	unsigned int i, done = 0;
	int ret, n;

	for (i = 0; i < NR_IOS; i++) {
		uint64_t off = (uint64_t)i * IO_LEN;
		uint64_t slba = lba + off / d->lba_size;

		if (write)
			ret = regbuf_nvme_submit_write(d->q, d->ns, d->buf, off, IO_LEN, slba,
						       NULL, 0);
		else
			ret = regbuf_nvme_submit_read(d->q, d->ns, d->buf, off, IO_LEN, slba,
						      NULL, 0);
		if (ret) {
			fprintf(stderr, "nvme-read-write: submit: %s\n", strerror(-ret));
			return ret;
		}
	}
	/* Polled completions: the driver uses no interrupts. */
	while (done < NR_IOS) {
		n = regbuf_nvme_reap(d->q, cpl, NR_IOS);
		for (i = 0; i < (unsigned int)n; i++) {
			if (cpl[i].status) {
				/* The raw NVMe status says what the device meant. */
				fprintf(stderr, "nvme-read-write: %s failed: %s\n",
					write ? "write" : "read", regbuf_nvme_status_str(cpl[i].status));
				return regbuf_nvme_status_errno(cpl[i].status);
			}
		}
		done += (unsigned int)n;
	}
	return 0;
}

static int parse_u64(const char *s, uint64_t *v)
{
	char *end;

	if (!*s || *s == '-')
		return -1;
	*v = strtoull(s, &end, 0);
	return *end ? -1 : 0;
}

int main(int argc, char **argv)
{
	const struct regbuf_nvme_ns_info *ns;
	struct regbuf_nvme_opts opts;
	struct regbuf_table *t;
	struct regbuf_mem *mem;
	struct dev d;
	struct iovec iov;
	char why[256] = "";
	uint64_t lba, nsid = 1, i;
	uint8_t shift, *p;
	int ret, status = 1;

	if (argc < 3 || argc > 4 || parse_u64(argv[2], &lba) ||
	    (argc == 4 && (parse_u64(argv[3], &nsid) || !nsid || nsid > UINT32_MAX))) {
		fprintf(stderr, "usage: nvme-read-write PCI-ADDRESS LBA [NSID]  "
			"(overwrites 256 KiB from LBA)\n");
		return 2;
	}
	memset(&d, 0, sizeof(d));

	/* Bring-up: reset, admin queue, Identify Controller, number of queues. */
	memset(&opts, 0, sizeof(opts));
	opts.why = why;
	opts.why_len = sizeof(why);
	ret = regbuf_nvme_ctrl_create(&d.ctrl, argv[1], &opts);
	if (ret) {
		fprintf(stderr, "nvme-read-write: %s: %s\n", argv[1], why[0] ? why : strerror(-ret));
		return 1;
	}
	/* Identify Namespace: the handle every I/O names the namespace by. */
	ret = regbuf_nvme_ns_get(&d.ns, d.ctrl, (uint32_t)nsid);
	if (ret) {
		fprintf(stderr, "nvme-read-write: namespace %" PRIu64 ": %s\n", nsid,
			strerror(-ret));
		goto out_ctrl;
	}
	ns = regbuf_nvme_ns_info(d.ns);
	d.lba_size = ns->lba_size;
	if (IO_LEN % ns->lba_size || lba + (uint64_t)NR_IOS * IO_LEN / ns->lba_size > ns->nsze) {
		fprintf(stderr, "nvme-read-write: LBA %" PRIu64 " + 256 KiB does not fit the "
			"namespace (%" PRIu64 " blocks of %u bytes)\n", lba, ns->nsze, ns->lba_size);
		goto out_ctrl;
	}
	printf("%s (%s), namespace %u: %" PRIu64 " blocks of %u bytes\n",
	       regbuf_nvme_ctrl_info(d.ctrl)->mn, regbuf_nvme_ctrl_info(d.ctrl)->sn, ns->nsid,
	       ns->nsze, ns->lba_size);

	/* I/O memory, registered once in a table. */
	ret = regbuf_mem_create(&mem, ARENA_LEN, NULL);
	if (ret) {
		fprintf(stderr, "nvme-read-write: regbuf_mem_create: %s\n", strerror(-ret));
		goto out_ctrl;
	}
	ret = regbuf_table_create(&t, 0);
	if (ret)
		goto out_mem;
	iov.iov_base = regbuf_mem_addr(mem);
	iov.iov_len = regbuf_mem_len(mem);
	shift = (uint8_t)regbuf_mem_folio_shift(mem);
	ret = regbuf_table_register_hinted(t, &iov, &shift, 1, 0);
	if (ret) {
		fprintf(stderr, "nvme-read-write: register: %s\n", strerror(-ret));
		goto out_table;
	}
	/* One DMA mapping for the whole buffer; descriptors are built now. */
	ret = regbuf_nvme_dmamap_create_slot(&d.buf, d.ctrl, t, 0, 0);
	if (ret) {
		fprintf(stderr, "nvme-read-write: DMA mapping: %s\n", strerror(-ret));
		goto out_table;
	}
	/* One queue pair per thread; this program has one thread. */
	ret = regbuf_nvme_qpair_create(&d.q, d.ctrl, 32, 0);
	if (ret) {
		fprintf(stderr, "nvme-read-write: queue pair: %s\n", strerror(-ret));
		goto out_buf;
	}

	p = (uint8_t *)regbuf_mem_addr(mem);
	for (i = 0; i < (uint64_t)NR_IOS * IO_LEN; i++)
		p[i] = pattern(lba * ns->lba_size + i);
	if (run_batch(&d, 1, lba))
		goto out_qpair;
	ret = regbuf_nvme_io(d.q, REGBUF_NVME_OP_FLUSH, d.ns, NULL, 0, 0, 0, NULL, 0);
	if (ret) {
		fprintf(stderr, "nvme-read-write: flush: %s\n", strerror(-ret));
		goto out_qpair;
	}
	memset(p, 0, (size_t)NR_IOS * IO_LEN);
	if (run_batch(&d, 0, lba))
		goto out_qpair;
	for (i = 0; i < (uint64_t)NR_IOS * IO_LEN; i++) {
		if (p[i] != pattern(lba * ns->lba_size + i)) {
			fprintf(stderr, "nvme-read-write: byte %" PRIu64 " read 0x%02x, wrote 0x%02x\n",
				i, p[i], pattern(lba * ns->lba_size + i));
			goto out_qpair;
		}
	}
	printf("wrote, flushed and read back %u KiB at LBA %" PRIu64 ": data verified\n",
	       NR_IOS * IO_LEN / 1024, lba);
	status = 0;

out_qpair:
	regbuf_nvme_qpair_destroy(d.q);
out_buf:
	regbuf_nvme_dmamap_destroy(d.buf);
out_table:
	regbuf_table_destroy(t);
out_mem:
	regbuf_mem_destroy(mem);
out_ctrl:
	/* Normal shutdown (CC.SHN), then the device is released. */
	regbuf_nvme_ctrl_destroy(d.ctrl);
	return status;
}
