/* Chains of snapshots: a full one and the Diff snapshots taken after it (chain.c). */
#ifndef PETREL_SNAPSHOT_CHAIN_H
#define PETREL_SNAPSHOT_CHAIN_H

#include "memory/guest_mem.h"

#include <stddef.h>
#include <stdint.h>

struct snap_link {
	char *state, *mem;
	uint8_t id[16];
	uint64_t *map;      /* a Diff's page map (page_map.h); NULL: its file's holes tell */
	size_t map_words;
};

struct snap_chain {
	struct snap_link link[64];   /* oldest (the full snapshot) first */
	unsigned n;
};

/* Follow the parents of the state file `state` (its memory file is `mem`; NULL: the one it
 * recorded) back to a full snapshot, checking each parent is the very snapshot its child was
 * taken after. */
int snap_chain_resolve(const char *state, const char *mem, struct snap_chain *c, char *err, size_t errlen);
/* Lay every Diff's pages over guest memory (which holds the full snapshot's), oldest first. */
int snap_chain_apply(const struct snap_chain *c, struct guest_mem *mem, char *err, size_t errlen);
void snap_chain_free(struct snap_chain *c);
/* The state file `state` was read again after its chain was resolved: it must be the chain's
 * newest snapshot (id), else one written at that path in between would pair its states with
 * the chain's memory (where a file system keeps no tags, the memory files cannot show it).
 * 0, or -EAGAIN and why ("... while it was being <doing>: <again> it again"). */
int snap_chain_check_top(const struct snap_chain *c, const uint8_t id[16], const char *state,
			 const char *doing, const char *again, char *err, size_t errlen);
/* The page map to read link l's memory file by, for guest memory of total bytes: its own (NULL
 * for a full snapshot or a Diff without one), or -EINVAL with why if it is smaller. */
int snap_link_map(const struct snap_link *l, uint64_t total, const uint64_t **map, char *err, size_t errlen);
/* Open a memory file read-only after checking it is at least min_size bytes and, where the
 * file system keeps the tag, that it belongs to the snapshot `id`. fd, or -errno and why. */
int snap_mem_open(const char *path, const uint8_t id[16], uint64_t min_size, char *err, size_t errlen);

#endif
