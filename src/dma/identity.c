// SPDX-License-Identifier: MIT
/*
 * regbuf - the identity translator: device address = host virtual address.
 * For tests, simulators and a driver in progress, which want real
 * descriptors without a device or an IOMMU.
 */
#include <stdlib.h>
#include <string.h>

#include <regbuf/dma.h>

/*
 * The cookie asks for list memory in multiples of the controller page size
 * and needs it aligned to that size; the largest power of two dividing @len
 * is that size (or more), so it is the alignment to use, at least 4 KiB.
 */
static int identity_alloc(void *priv, size_t len, void **vaddr, regbuf_iova_t *iova)
{
	size_t align = len & (0 - len);
	void *p;

	(void)priv;
	if (!len)
		return -EINVAL;
	if (align < 4096)
		align = 4096;
	p = aligned_alloc(align, (len + align - 1) & ~(align - 1));
	if (!p)
		return -ENOMEM;
	memset(p, 0, len);
	*vaddr = p;
	*iova = regbuf_iova((uint64_t)(uintptr_t)p);
	return 0;
}

static void identity_free(void *priv, void *vaddr, size_t len, regbuf_iova_t iova)
{
	(void)priv;
	(void)len;
	(void)iova;
	free(vaddr);
}

static int identity_translate(void *priv, uint64_t vaddr, uint64_t len, struct regbuf_seg *out,
			      uint32_t max)
{
	(void)priv;
	if (!max)
		return -E2BIG;
	if (!len || vaddr + len < vaddr)
		return -EINVAL;
	out[0].addr = vaddr;
	out[0].len = len;
	return 1;
}

static const struct regbuf_dma_ops identity_ops = {
	.alloc = identity_alloc,
	.free = identity_free,
	.translate = identity_translate,
};

const struct regbuf_dma_ops *regbuf_dma_ops_identity(void)
{
	return &identity_ops;
}
