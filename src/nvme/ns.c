// SPDX-License-Identifier: MIT
/*
 * Namespace handles: Identify Namespace (NVMe 1.4 §5.15.2.1) checked by the
 * spec floor's parser, kept as immutable handles the controller owns until
 * it is destroyed, so that the I/O path reads the block size from the handle
 * it is given without a lock or a search.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "nvme_priv.h"

int nvme_id_ns_parse(struct regbuf_nvme_ns_info *ni, const uint8_t *id, uint32_t nsid)
{
	struct regbuf_nvme_id_ns ns;
	int ret = regbuf_nvme_id_ns_parse(&ns, id);

	memset(ni, 0, sizeof(*ni));
	if (ret)
		return ret;
	ni->nsid = nsid;
	ni->nsze = ns.nsze;
	ni->lba_size = ns.lba_size;
	ni->ms = ns.ms;
	ni->flbas = ns.flbas;
	ni->nlbaf = ns.nlbaf;
	ni->ext = ns.ext;
	ni->pi_type = ns.pi_type;
	ni->pi_first = ns.pi_first;
	ni->blk_bytes = ns.lba_size + (ns.ext ? ns.ms : 0);
	return 0;
}

static bool ns_same(const struct regbuf_nvme_ns_info *a, const struct regbuf_nvme_ns_info *b)
{
	return a->nsid == b->nsid && a->nsze == b->nsze && a->lba_size == b->lba_size &&
	       a->ms == b->ms && a->flbas == b->flbas && a->nlbaf == b->nlbaf &&
	       a->ext == b->ext && a->pi_type == b->pi_type && a->pi_first == b->pi_first;
}

int nvme_ns_publish(struct regbuf_nvme_ctrl *c, uint32_t nsid, const uint8_t *id,
		    struct regbuf_nvme_ns **nsp)
{
	struct regbuf_nvme_ns_info ni;
	struct regbuf_nvme_ns *ns;
	int ret;

	ret = nvme_id_ns_parse(&ni, id, nsid);
	if (ret == -EIO)
		nvme_ctrl_fail(c);	/* it lists no usable format: not to be trusted */
	if (ret)
		return ret;
	pthread_mutex_lock(&c->lock);
	for (ns = c->ns; ns && !ns_same(&ns->info, &ni); ns = ns->next)
		;
	if (!ns) {
		/* filled before it is linked: a handle never changes once seen */
		ns = calloc(1, sizeof(*ns));
		if (!ns) {
			pthread_mutex_unlock(&c->lock);
			return -ENOMEM;
		}
		ns->ctrl = c;
		ns->info = ni;
		ns->lbs_shift = (uint8_t)__builtin_ctz(ni.lba_size);
		ns->next = c->ns;
		c->ns = ns;
	}
	pthread_mutex_unlock(&c->lock);
	*nsp = ns;
	return 0;
}

int regbuf_nvme_ns_get(struct regbuf_nvme_ns **nsp, struct regbuf_nvme_ctrl *c, uint32_t nsid)
{
	uint8_t *id;
	int ret;

	if (!nsp || !c || !nsid || nsid > c->info.nn)
		return -EINVAL;
	id = malloc(4096);
	if (!id)
		return -ENOMEM;
	ret = regbuf_nvme_identify_raw(c, REGBUF_NVME_ID_CNS_NS, nsid, id);
	if (!ret)
		ret = nvme_ns_publish(c, nsid, id, nsp);
	free(id);
	return ret;
}

const struct regbuf_nvme_ns_info *regbuf_nvme_ns_info(const struct regbuf_nvme_ns *ns)
{
	return &ns->info;
}

void nvme_ns_free_all(struct regbuf_nvme_ctrl *c)
{
	struct regbuf_nvme_ns *ns, *next;

	for (ns = c->ns; ns; ns = next) {
		next = ns->next;
		free(ns);
	}
	c->ns = NULL;
}
