/* What a state file says of its consistency (docs/guest-agent.md#consistent-snapshots-and-
 * backups): a CNSY section, JSON {"consistency": "filesystem"|"crash", "frozen_ms": N},
 * added once the save is over and the guest thawed (only then is the time frozen known), by
 * writing the file again with it (state files are small; the memory file is not touched).
 * `petrel snapshot info` shows it; loads ignore it. */
#include "snapshot/snapshot.h"
#include "snapshot/state_file.h"
#include "util/error.h"

#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

int snapshot_note_consistency(const char *state_path, const char *consistency, bool frozen, uint64_t frozen_ms,
			      char *err, size_t errlen)
{
	struct snap_state_file f;
	int e = snap_state_open(state_path, &f, err, errlen);
	if (e < 0)
		return e;
	json_t *o = frozen ? json_pack("{s:s, s:I}", "consistency", consistency, "frozen_ms", (json_int_t)frozen_ms)
			   : json_pack("{s:s}", "consistency", consistency);
	char *text = o ? json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	json_decref(o);
	struct snap_writer w;
	snap_writer_init(&w);
	size_t cur = 0;
	struct snap_section s;
	while (snap_next(&f.r, &cur, &s))
		if (s.id != SEC_CNSY)
			snap_section(&w, s.id, s.instance, s.version, s.payload, (size_t)s.len);
	if (text)
		snap_section(&w, SEC_CNSY, 0, SEC_VERSION, text, strlen(text));
	e = text ? snap_finish(&w) : -ENOMEM;
	if (e == 0)
		e = snap_write_file(state_path, w.buf, w.len, err, errlen);
	else
		e = error_set(err, errlen, e, "%s: %s", state_path, strerror(-e));
	snap_writer_free(&w);
	free(text);
	snap_state_close(&f);
	return e;
}
