/* The QEMU guest agent's client in the worker (docs/guest-agent.md): qemu-guest-agent's JSON
 * protocol over one end of a socketpair whose other end is virtio-console's port
 * org.qemu.guest_agent.0. One request at a time; before a request after a (re)connect, a
 * timeout or anything unexpected, 0xFF + guest-sync-delimited with a random id puts the stream
 * back in step. Every wait is bounded by the agent's timeout: a guest without an agent, a
 * silent one, one that floods or answers garbage costs that, never a hang.
 *
 * Errors (each with why in err): -ETIMEDOUT no answer in time; -EPROTO a bad answer (too long,
 * not JSON, the wrong shape); -EREMOTEIO the agent answered an error (its class and text);
 * -ENOTCONN the guest has not opened the port (nothing is sent); -EPIPE the device's end is
 * gone. */
#ifndef PETREL_AGENT_AGENT_H
#define PETREL_AGENT_AGENT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>


struct guest_agent;

/* A new client and its socketpair: *device_fd is the other end (non-blocking, close-on-exec),
 * for virtio_console_create as the agent port's fd (the device owns it from then on). */
int guest_agent_create(struct guest_agent **out, unsigned timeout_ms, int *device_fd, char *err, size_t errlen);
/* Thaws the guest first if a freeze of this client may still hold (agent_freeze.c). */
void guest_agent_free(struct guest_agent *a);
/* Whether the guest has the port open (virtio_console_port_guest_open); without one the agent
 * is asked anyway. Set before the first call. */
void guest_agent_set_port_check(struct guest_agent *a, bool (*open)(void *opaque), void *opaque);
/* A new connection (after a restore or an incoming migration): the old end is closed, a new
 * pair made, *device_fd as in guest_agent_create; the next request resyncs. */
int guest_agent_reconnect(struct guest_agent *a, int *device_fd, char *err, size_t errlen);
unsigned guest_agent_timeout_ms(const struct guest_agent *a);
/* A new timeout (0: the default), e.g. once an arriving VM's definition is known. */
void guest_agent_set_timeout_ms(struct guest_agent *a, unsigned timeout_ms);

/* Send cmd with args (NULL: none; borrowed) and wait for its answer: 0 with *ret the value of
 * "return" (a new reference; ret may be NULL). */
int guest_agent_call(struct guest_agent *a, const char *cmd, json_t *args, json_t **ret, char *err, size_t errlen);

/* Typed (agent_json.h's readers check each answer). */
int guest_agent_ping(struct guest_agent *a, char *err, size_t errlen);
/* {"version", "commands": [{"name", "enabled"}]} */
int guest_agent_info(struct guest_agent *a, json_t **out, char *err, size_t errlen);
/* [{"name", "mac", "addresses": [{"type", "address", "prefix"}]}] */
int guest_agent_interfaces(struct guest_agent *a, json_t **out, char *err, size_t errlen);
/* guest-shutdown answers nothing when it works: written, not waited for (a quick error
 * answer is read); mode "powerdown", "reboot" or "halt". */
int guest_agent_shutdown(struct guest_agent *a, const char *mode, char *err, size_t errlen);
/* The guest's clock set to ns since the Epoch (UTC). */
int guest_agent_set_time(struct guest_agent *a, int64_t ns, char *err, size_t errlen);
/* {"paths": [{"path", "trimmed"?, "minimum"?, "error"?}]} */
int guest_agent_fstrim(struct guest_agent *a, json_t **out, char *err, size_t errlen);

/* ---- freeze and thaw (agent_freeze.c) ---- */

/* guest-fsfreeze-freeze: *nfs file systems frozen. After any call (even one that failed or
 * timed out: the guest may have frozen anyway) the client counts the guest as frozen until a
 * thaw answers; guest_agent_free and guest_agent_thaw_pending thaw it. */
int guest_agent_freeze(struct guest_agent *a, unsigned *nfs, char *err, size_t errlen);
int guest_agent_thaw(struct guest_agent *a, unsigned *nfs, char *err, size_t errlen);
int guest_agent_freeze_status(struct guest_agent *a, bool *frozen, char *err, size_t errlen);
/* guest-fsfreeze-status, and guest-fsfreeze-thaw when the guest says frozen (*nfs thawed): a
 * guest restored from a snapshot taken between its freeze and its thaw is frozen, and nobody
 * else would thaw it. */
int guest_agent_thaw_if_frozen(struct guest_agent *a, bool *was_frozen, unsigned *nfs, char *err, size_t errlen);
/* A freeze of this client that no thaw has answered yet. */
bool guest_agent_freeze_pending(struct guest_agent *a);
/* Thaw if one is pending (the worker's stop hook): 0 when nothing was pending or it worked. */
int guest_agent_thaw_pending(struct guest_agent *a, char *err, size_t errlen);

/* What a frozen run did (guest_agent_frozen_run). */
struct guest_freeze_report {
	bool frozen;              /* the freeze answered: fn ran with the file systems frozen */
	unsigned nfs;             /* how many */
	uint64_t frozen_ms;       /* freeze asked .. thaw answered (or gave up) */
	int thaw_err;             /* 0, or the thaw's failure (its message in thaw_msg) */
	char thaw_msg[256];
};

/* fn(opaque) with the guest's file systems frozen: freeze, fn, thaw, the thaw on every path
 * after the freeze was asked (also when fn fails, and when the freeze itself failed or timed
 * out). A freeze that fails: with require, its error and fn is not run; without, fn runs
 * unfrozen (rep->frozen false, why in err... kept for the caller's log: err is filled only on a
 * failure returned). Returns fn's result, or the freeze's failure; a thaw that fails after fn
 * worked is returned too (-EREMOTEIO, -ETIMEDOUT, ...: rep->thaw_err, message in err). */
int guest_agent_frozen_run(struct guest_agent *a, bool require, int (*fn)(void *opaque, char *err, size_t errlen),
			   void *opaque, struct guest_freeze_report *rep, char *err, size_t errlen);

#endif
