/* The event monitor (--event-monitor PATH|fd=N, docs/events.md): one JSON line per lifecycle
 * change of the VM and of petrel, for a supervisor that wants to know without polling.
 *
 * Like the logger it is process-wide (every layer reports into it: the vCPUs a guest reset,
 * the replication its state, the CLI petrel's exit), and like the logger it never blocks its
 * caller: the destination is non-blocking, a line that does not fit waits in a bounded buffer
 * for the next event, and what does not fit there is dropped (the `seq` numbers then skip).
 * Without a monitor, event_emit costs one atomic load. Thread-safe. */
#ifndef PETREL_UTIL_EVENT_MONITOR_H
#define PETREL_UTIL_EVENT_MONITOR_H

#include <stddef.h>
#include <stdint.h>

/* Open the monitor: "PATH" or "path=PATH" (a file, appended to and created 0600, or a named
 * pipe: the open waits for its reader), or "fd=N" (a descriptor petrel inherited, which it
 * then owns). 0, or -errno with the reason in err. Once: -EALREADY after the first. */
int event_monitor_open(const char *spec, char *err, size_t errlen);
/* The instance id every event carries (at most 64 characters are kept; default "petrel"). */
void event_monitor_set_id(const char *id);

/* One event: `source` (vmm, vm, guest, snapshot, migration, replication, device), `event`, and
 * properties built by jansson's json_pack from fmt and the arguments (an object format, e.g.
 * "{s:s}", or NULL for none). Nothing happens without a monitor. */
void event_emit(const char *source, const char *event, const char *fmt, ...);

/* Write what waits in the buffer, waiting up to timeout_ms for the reader; then close. The
 * last call of the process (after the "exiting" event). */
void event_monitor_close(int timeout_ms);

/* Events not written (the buffer was full, the reader gone): they left gaps in `seq`. */
uint64_t event_monitor_dropped(void);

#endif
