/* Unit tests: a minimal state file written by hand (the VM and memory sections, the memory
 * file's name and a definition), for the tests of loads that fail or race before any state
 * is applied. Include after unit.h. */
#ifndef PETREL_TEST_SNAP_STATE_FILE_H
#define PETREL_TEST_SNAP_STATE_FILE_H

#include "config/vm_config.h"
#include "snapshot/format.h"
#include "snapshot/sections.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static inline void json_sec(struct snap_writer *w, uint32_t id, json_t *o)
{
	char *text = json_dumps(o, JSON_COMPACT);
	snap_section(w, id, 0, SEC_VERSION, text, strlen(text));
	free(text);
	json_decref(o);
}

/* state: a state file of cfg with id, nvirtio virtio devices and one memory region of mib
 * MiB in memf (named, not written). Exits 2 if it cannot be written. */
static inline void write_state_file(const char *state, const char *memf, const struct vm_config *cfg,
				    const uint8_t id[16], unsigned nvirtio, unsigned mib)
{
	char err[256] = "";
	struct snap_writer w;
	snap_writer_init(&w);
	struct snap_vm sv = { .nvcpus = 1, .nvirtio = nvirtio };
	memcpy(sv.id, id, sizeof(sv.id));
	snap_vm_put(&w, &sv);
	snap_section(&w, SEC_MEMF, 0, SEC_VERSION, memf, strlen(memf));
	json_sec(&w, SEC_CONF, vm_config_to_json(cfg));
	json_sec(&w, SEC_EXTN, vm_config_extensions_to_json(cfg));
	struct snap_mem sm = { .nregions = 1, .total = (uint64_t)mib << 20 };
	sm.r[0].size = sm.total;
	snap_mem_put(&w, &sm);
	if (snap_finish(&w) < 0 || snap_write_file(state, w.buf, w.len, err, sizeof(err)) < 0) {
		printf("state file: %s\n", err);
		exit(2);
	}
	snap_writer_free(&w);
}

#endif
