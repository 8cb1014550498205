/* Output commit (Remus): what the guest sends to the outside world while it is replicated —
 * console bytes, network frames — is held per epoch and released only once the standby has
 * the checkpoint that ends that epoch, so after a failover nothing the outside saw is missing
 * from the standby's state (and the standby, re-running from there, repeats nothing it saw). */
#ifndef PETREL_UTIL_OUTGATE_H
#define PETREL_UTIL_OUTGATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Writes held output for real (a tap write, a console write). */
typedef void (*outgate_emit_fn)(void *opaque, const void *data, size_t len);

struct outgate;

struct outgate *outgate_new(void);
void outgate_free(struct outgate *g);
/* Hold data for the open epoch: true (held, or dropped when 64 MiB are held already: written
 * now it would overtake the checkpoint that made it), or false when the gate is open (the
 * caller writes it itself). stream: bytes of a stream (the console), which may join the last
 * entry; a frame (stream false) stays one write. */
bool outgate_hold(struct outgate *g, outgate_emit_fn emit, void *opaque, const void *data, size_t len,
		  bool stream);
/* End the open epoch (at a checkpoint, the guest paused): its number (1, 2, ...). */
uint64_t outgate_close_epoch(struct outgate *g);
/* A copy of what epoch n (closed, not yet released) holds for opaque's writes (the console's),
 * in order: its last cap bytes at most. The bytes copied. */
size_t outgate_copy(struct outgate *g, uint64_t n, const void *opaque, uint8_t *buf, size_t cap);
/* The standby has every checkpoint up to epoch n: write their output, in order. */
void outgate_release(struct outgate *g, uint64_t n);
/* Stop holding: write everything held and pass output straight through from now on
 * (replication ended; the VM runs unprotected). */
void outgate_open(struct outgate *g);
/* Throw away everything held and release nothing from now on (the guest stops: output no
 * standby has must not reach the outside). */
void outgate_drop(struct outgate *g);
/* A gate shut for good (as after outgate_drop) that is never freed: devices that must stay
 * behind a shut gate after the replication that owned theirs is gone point at it. */
struct outgate *outgate_shut(void);
/* Bytes dropped so far (a full gate, outgate_drop). */
uint64_t outgate_dropped(struct outgate *g);
/* Bytes held now (status). */
uint64_t outgate_held(struct outgate *g);

#endif
