/* Reading the QEMU guest agent's answers (agent_json.c): the byte stream cut into lines, one
 * line into its "return" value or the agent's error, and the typed readers that check a return
 * value of each command petrel sends and copy what it keeps into a JSON value of petrel's own.
 * Everything here is guest-controlled input (tests/fuzz/fuzz_agent_reply.c); nothing touches an
 * fd, so the unit tests and the fuzzer drive it with bytes. Private to src/agent. */
#ifndef PETREL_AGENT_AGENT_JSON_H
#define PETREL_AGENT_AGENT_JSON_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define AGENT_LINE_MAX (1u << 20)      /* an answer line longer than this is refused */
#define AGENT_SENTINEL 0xFF            /* guest-sync-delimited's answer starts with it */

/* Bytes read from the agent's port, not yet cut into lines. At most AGENT_LINE_MAX of a line
 * are kept: a guest that floods costs this buffer, nothing more. */
struct agent_rx {
	uint8_t *buf;
	size_t len, cap;
};

void agent_rx_free(struct agent_rx *rx);
void agent_rx_clear(struct agent_rx *rx);
/* Append n bytes: 0; -EMSGSIZE when the line being read grows over AGENT_LINE_MAX (the
 * buffer is emptied: the caller resyncs); -ENOMEM. */
int agent_rx_push(struct agent_rx *rx, const void *data, size_t n);
/* Drop everything up to and including the last sentinel byte: true if there was one (what
 * follows it is the sync's answer); false: everything was dropped. */
bool agent_rx_sentinel(struct agent_rx *rx);
/* The next complete line (its '\n' and a '\r' before it stripped), NUL-terminated into *line
 * (malloc'd): 1; 0 when no line is complete yet; -ENOMEM. */
int agent_rx_line(struct agent_rx *rx, char **line, size_t *len);

/* One answer line: 0 with *ret the value of "return" (a new reference); -EREMOTEIO: the agent
 * answered {"error": {"class", "desc"}} (both in err); -EPROTO: not an answer (bad JSON, not
 * an object, neither or both keys, a malformed error), with why in err. */
int agent_reply_parse(const char *line, size_t len, json_t **ret, char *err, size_t errlen);

/* ---- typed readers of a "return" value: 0, or -EPROTO with why (naming the command) ---- */

/* guest-sync-delimited: the id echoed. */
int agent_read_sync(json_t *ret, int64_t *id, char *err, size_t errlen);
/* guest-ping, guest-set-time: an empty object. */
int agent_read_empty(json_t *ret, const char *cmd, char *err, size_t errlen);
/* guest-fsfreeze-freeze and -thaw: how many file systems (0 .. 65535). */
int agent_read_count(json_t *ret, const char *cmd, unsigned *n, char *err, size_t errlen);
/* guest-fsfreeze-status: "frozen" or "thawed". */
int agent_read_freeze_status(json_t *ret, bool *frozen, char *err, size_t errlen);
/* guest-info: *out = {"version": S, "commands": [{"name": S, "enabled": B}, ...]}. */
int agent_read_info(json_t *ret, json_t **out, char *err, size_t errlen);
/* guest-network-get-interfaces: *out = [{"name": S, "mac": "aa:bb:..." (absent when the agent
 * gave none), "addresses": [{"type": "ipv4"|"ipv6", "address": S, "prefix": N}]}]: every
 * address parsed and written back in its canonical form, every prefix in range, the MAC six
 * hex bytes. */
int agent_read_interfaces(json_t *ret, json_t **out, char *err, size_t errlen);
/* guest-fstrim: *out = {"paths": [{"path": S, "trimmed": N?, "minimum": N?, "error": S?}]}. */
int agent_read_fstrim(json_t *ret, json_t **out, char *err, size_t errlen);

#endif
