/* petrel's virtio-console ports and the guest agent's switch (docs/guest-agent.md): the
 * "console-ports" array of a definition (PUT /console-ports/{port_id} before the start) and
 * the "guest-agent" object, one place for both because the agent's port is one of the ports.
 *
 *   "console-ports": [{"port_id": "agent", "name": "org.qemu.guest_agent.0", "socket_path": P}]
 *   "guest-agent": {"enabled": true, "timeout_ms": 5000}
 *
 * Strict like the other device objects: unknown fields, wrong types, bad ids are -EINVAL with
 * "where.key: ..."; null means "not given". */
#ifndef PETREL_CONFIG_CONSOLE_PORTS_CONFIG_H
#define PETREL_CONFIG_CONSOLE_PORTS_CONFIG_H

#include "config/devices_config.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#define CONSOLE_PORTS_MAX 16             /* ports a definition names (port 0, the console, aside) */
#define CONSOLE_PORT_NAME_MAX 127        /* printable ASCII, no '/' */
#define CONSOLE_SOCKET_MAX 107           /* sockaddr_un's sun_path, less its NUL */
#define GUEST_AGENT_PORT_NAME "org.qemu.guest_agent.0"
#define GUEST_AGENT_TIMEOUT_DEFAULT 5000
#define GUEST_AGENT_TIMEOUT_MAX 600000

struct console_port_config {
	char *port_id;       /* required: [A-Za-z0-9_], 1..DEVICES_ID_MAX characters */
	char *name;          /* required: what the guest sees (/dev/virtio-ports/NAME) */
	char *socket_path;   /* optional: the device listens there; NULL: no socket (the agent's
			      * port when name is GUEST_AGENT_PORT_NAME, else a port with no back end) */
};

struct guest_agent_config {
	bool enabled;        /* adds the port GUEST_AGENT_PORT_NAME if the definition has none */
	unsigned timeout_ms; /* each wait for the agent, 1..GUEST_AGENT_TIMEOUT_MAX (default 5000) */
};

struct vm_config;

int console_port_config_from_json(json_t *obj, const char *where, struct console_port_config *out, char *err,
				  size_t errlen);
json_t *console_port_config_to_json(const struct console_port_config *c);
void console_port_config_free(struct console_port_config *c);
/* A port's name: 1..127 bytes of printable ASCII without '/'. 0 or -EINVAL and why. */
int console_port_check_name(const char *name, const char *where, char *err, size_t errlen);

/* The definition's list (vm_config.console_ports): add one, or replace the one with its
 * port_id in place; -EEXIST for a second port with the same name, -ENOSPC when full. */
int vm_config_put_console_port(struct vm_config *cfg, struct console_port_config *c, char *err, size_t errlen);
/* The "console-ports" array of a config file into cfg (replacing its list). */
int console_ports_section_from_json(json_t *arr, struct vm_config *cfg, char *err, size_t errlen);
json_t *console_ports_section_to_json(const struct vm_config *cfg);
void console_ports_section_free(struct vm_config *cfg);

/* "guest-agent": {"enabled": bool (required), "timeout_ms": N (optional)}. */
int guest_agent_config_from_json(json_t *obj, const char *where, struct guest_agent_config *out, char *err,
				 size_t errlen);
json_t *guest_agent_config_to_json(const struct guest_agent_config *c);

/* Whether the VM has a virtio-console device (a port defined or the agent enabled), and
 * the port the agent talks over: the definition's port named GUEST_AGENT_PORT_NAME without a
 * socket_path, or the one "guest-agent" adds (-1: the agent has no port). */
bool vm_config_has_console(const struct vm_config *cfg);
/* The ports the device gets, in guest order (port 1, 2, ...): the definition's, then the
 * agent's if "guest-agent" adds it. n: how many; agent: the index of the agent's, or -1. */
unsigned vm_config_console_port_count(const struct vm_config *cfg, int *agent);
/* At most CONSOLE_PORTS_MAX ports with the agent's: 0 or -EINVAL and why. */
int console_check_config(const struct vm_config *cfg, char *err, size_t errlen);

#endif
