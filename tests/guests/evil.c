/* SPDX-License-Identifier: Apache-2.0 */
/* evil.c - see evil.h. */
#include "evil.h"

void evil_set(struct evil *e, unsigned i, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next)
{
	e->vq->desc[i] = (struct vring_desc){ addr, len, flags, next };
}

void evil_expect_broken(struct evil *e, const char *name)
{
	vq_kick(e->vq);
	check(vdev_wait_broken(e->dev, 5), "%s: device did not go NEEDS_RESET (status 0x%x)", name, vdev_status(e->dev));
	check(!vq_poll(e->vq, NULL, NULL), "%s: a used buffer came back from a malformed chain", name);
	printf("%s: %s -> NEEDS_RESET\n", e->tag, name);
	e->cases++;
	e->reinit();
	e->check_alive(name);
}

/* A chain of the good head and one bad descriptor, published and kicked. */
static void head_then(struct evil *e, void *head, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next,
		      const char *name)
{
	evil_set(e, 0, (uintptr_t)head, 16, VD_NEXT, 1);
	evil_set(e, 1, addr, len, flags, next);
	vq_publish(e->vq, 0);
	evil_expect_broken(e, name);
}

void evil_malformed_chains(struct evil *e, void *head, struct vring_desc *table, struct vring_desc *table2)
{
	head_then(e, head, OUTSIDE_RAM, 512, VD_WRITE, 0, "buffer outside RAM");
	head_then(e, head, IN_MMIO_HOLE, 512, VD_WRITE, 0, "buffer in the MMIO hole");
	head_then(e, head, (uintptr_t)head, 0xfffffe00u, VD_WRITE, 0, "huge length (runs off RAM)");
	head_then(e, head, (uintptr_t)head, 16, VD_NEXT | VD_WRITE, 0, "descriptor loop");
	head_then(e, head, (uintptr_t)head, 16, VD_NEXT | VD_WRITE, 200, "next index out of range");

	vq_publish(e->vq, 500);
	evil_expect_broken(e, "head index out of range");

	e->vq->avail_idx = (uint16_t)(e->vq->avail_idx + 100);
	e->vq->avail[1] = e->vq->avail_idx;
	evil_expect_broken(e, "avail index jump");

	evil_set(e, 0, OUTSIDE_RAM, 48, VD_INDIRECT, 0);
	vq_publish(e->vq, 0);
	evil_expect_broken(e, "indirect table outside RAM");

	table[0] = (struct vring_desc){ (uintptr_t)table2, 48, VD_INDIRECT, 0 };
	evil_set(e, 0, (uintptr_t)table, 16, VD_INDIRECT, 0);
	vq_publish(e->vq, 0);
	evil_expect_broken(e, "nested indirect table");

	evil_set(e, 0, (uintptr_t)table, 40, VD_INDIRECT, 0);
	vq_publish(e->vq, 0);
	evil_expect_broken(e, "indirect table of 40 bytes");
}
