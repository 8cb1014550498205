/* petrel's virtio-console ports and "guest-agent": see console_ports_config.h. */
#include "config/console_ports_config.h"
#include "config/devices_internal.h"
#include "config/vm_config.h"
#include "util/error.h"
#include "util/json_util.h"
#include "util/util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WHERE(w) ((w) && *(w) ? (w) : "console-ports")

void console_port_config_free(struct console_port_config *c)
{
	free(c->port_id);
	free(c->name);
	free(c->socket_path);
	memset(c, 0, sizeof(*c));
}

int console_port_check_name(const char *name, const char *where, char *err, size_t errlen)
{
	size_t n = strlen(name);
	if (n == 0 || n > CONSOLE_PORT_NAME_MAX)
		return error_set(err, errlen, -EINVAL, "%s.name: must be 1 to %d bytes long (it is %zu)", WHERE(where),
				 CONSOLE_PORT_NAME_MAX, n);
	for (size_t i = 0; i < n; i++)
		if (name[i] < 0x20 || name[i] > 0x7e || name[i] == '/')
			return error_set(err, errlen, -EINVAL,
					 "%s.name: byte %zu (0x%02x) is not printable ASCII other than '/'",
					 WHERE(where), i, (unsigned char)name[i]);
	return 0;
}

/* A string field: absent or null is NULL unless required; 1..max bytes, no NUL. */
static int get_string(json_t *obj, const char *where, const char *key, bool required, size_t max, char **out,
		      char *err, size_t errlen)
{
	json_t *v = json_object_get(obj, key);
	*out = NULL;
	if (!v || json_is_null(v))
		return required ? error_set(err, errlen, -EINVAL, "%s.%s: missing required field", WHERE(where), key)
				: 0;
	if (!json_is_string(v))
		return error_set(err, errlen, -EINVAL, "%s.%s: expected a string", WHERE(where), key);
	size_t n = json_string_length(v);
	if (n == 0 || n > max)
		return error_set(err, errlen, -EINVAL, "%s.%s: must be 1 to %zu bytes long (it is %zu)", WHERE(where),
				 key, max, n);
	if (strlen(json_string_value(v)) != n)
		return error_set(err, errlen, -EINVAL, "%s.%s: contains a NUL character", WHERE(where), key);
	*out = strdup(json_string_value(v));
	return *out ? 0 : error_oom(err, errlen);
}

int console_port_config_from_json(json_t *obj, const char *where, struct console_port_config *out, char *err,
				  size_t errlen)
{
	static const char *const keys[] = { "port_id", "name", "socket_path", NULL };
	_cleanup_(console_port_config_free) struct console_port_config c = { 0 };
	int r;
	memset(out, 0, sizeof(*out));
	if (!json_is_object(obj))
		return error_set(err, errlen, -EINVAL, "%s: expected an object", WHERE(where));
	if ((r = json_check_keys(obj, where, keys, err, errlen)) < 0 ||
	    (r = get_string(obj, where, "port_id", true, DEVICES_ID_MAX, &c.port_id, err, errlen)) < 0 ||
	    (r = devices_check_id(c.port_id, WHERE(where), "port_id", err, errlen)) < 0 ||
	    (r = get_string(obj, where, "name", true, 4096, &c.name, err, errlen)) < 0 ||
	    (r = console_port_check_name(c.name, where, err, errlen)) < 0 ||
	    (r = get_string(obj, where, "socket_path", false, CONSOLE_SOCKET_MAX, &c.socket_path, err, errlen)) < 0)
		return r == -ENOMEM ? r : -EINVAL;
	*out = TAKE_STRUCT(c);
	return 0;
}

json_t *console_port_config_to_json(const struct console_port_config *c)
{
	json_t *o = json_pack("{s:s, s:s}", "port_id", c->port_id ? c->port_id : "", "name", c->name ? c->name : "");
	if (o && c->socket_path && json_object_set_new(o, "socket_path", json_string(c->socket_path)) < 0) {
		json_decref(o);
		return NULL;
	}
	return o;
}

/* ---- the VM definition's list ---- */

int vm_config_put_console_port(struct vm_config *cfg, struct console_port_config *c, char *err, size_t errlen)
{
	int found = -1;
	for (unsigned i = 0; i < cfg->nconsole_ports; i++) {
		if (!strcmp(cfg->console_ports[i].port_id, c->port_id))
			found = (int)i;
		else if (!strcmp(cfg->console_ports[i].name, c->name))
			return error_set(err, errlen, -EEXIST, "console port '%s': name '%s' is already port '%s''s",
					 c->port_id, c->name, cfg->console_ports[i].port_id);
	}
	if (found < 0 && cfg->nconsole_ports == CONSOLE_PORTS_MAX)
		return error_set(err, errlen, -ENOSPC, "at most %d console ports", CONSOLE_PORTS_MAX);
	if (found >= 0)
		console_port_config_free(&cfg->console_ports[found]);
	cfg->console_ports[found >= 0 ? (unsigned)found : cfg->nconsole_ports++] = TAKE_STRUCT(*c);
	return 0;
}

void console_ports_section_free(struct vm_config *cfg)
{
	for (unsigned i = 0; i < cfg->nconsole_ports; i++)
		console_port_config_free(&cfg->console_ports[i]);
	cfg->nconsole_ports = 0;
}

int console_ports_section_from_json(json_t *arr, struct vm_config *cfg, char *err, size_t errlen)
{
	if (json_is_null(arr))
		return 0;
	if (!json_is_array(arr))
		return error_set(err, errlen, -EINVAL, "console-ports: expected an array");
	console_ports_section_free(cfg);
	size_t i;
	json_t *el;
	json_array_foreach(arr, i, el) {
		char where[40], msg[320];
		_cleanup_(console_port_config_free) struct console_port_config c = { 0 };
		snprintf(where, sizeof(where), "console-ports[%zu]", i);
		int r = console_port_config_from_json(el, where, &c, err, errlen);
		if (r < 0)
			return r;
		for (unsigned k = 0; k < cfg->nconsole_ports; k++)
			if (!strcmp(cfg->console_ports[k].port_id, c.port_id))
				return error_set(err, errlen, -EINVAL, "%s: port '%s' is defined twice", where,
						 c.port_id);
		if ((r = vm_config_put_console_port(cfg, &c, msg, sizeof(msg))) < 0)
			return error_set(err, errlen, -EINVAL, "%s: %s", where, msg);
	}
	return 0;
}

json_t *console_ports_section_to_json(const struct vm_config *cfg)
{
	json_t *a = json_array();
	for (unsigned i = 0; a && i < cfg->nconsole_ports; i++) {
		json_t *o = console_port_config_to_json(&cfg->console_ports[i]);
		if (!o || json_array_append_new(a, o) < 0) {
			json_decref(a);
			return NULL;
		}
	}
	return a;
}

/* ---- "guest-agent" ---- */

int guest_agent_config_from_json(json_t *obj, const char *where, struct guest_agent_config *out, char *err,
				 size_t errlen)
{
	static const char *const keys[] = { "enabled", "timeout_ms", NULL };
	const char *w = where && *where ? where : "guest-agent";
	uint64_t t = GUEST_AGENT_TIMEOUT_DEFAULT;
	bool en = false;
	int r;
	if (!json_is_object(obj))
		return error_set(err, errlen, -EINVAL, "%s: expected an object", w);
	if ((r = json_check_keys(obj, w, keys, err, errlen)) < 0 ||
	    (r = json_get_bool(obj, w, "enabled", true, &en, err, errlen)) < 0 ||
	    (r = json_get_uint(obj, w, "timeout_ms", false, 1, GUEST_AGENT_TIMEOUT_MAX, &t, err, errlen)) < 0)
		return r == -ENOMEM ? r : -EINVAL;
	*out = (struct guest_agent_config){ .enabled = en, .timeout_ms = (unsigned)t };
	return 0;
}

json_t *guest_agent_config_to_json(const struct guest_agent_config *c)
{
	return json_pack("{s:b, s:i}", "enabled", c->enabled, "timeout_ms",
			 (json_int_t)(c->timeout_ms ? c->timeout_ms : GUEST_AGENT_TIMEOUT_DEFAULT));
}

/* ---- what the device gets ---- */

unsigned vm_config_console_port_count(const struct vm_config *cfg, int *agent)
{
	int a = -1;
	for (unsigned i = 0; i < cfg->nconsole_ports; i++)
		if (!cfg->console_ports[i].socket_path && !strcmp(cfg->console_ports[i].name, GUEST_AGENT_PORT_NAME))
			a = (int)i;
	bool named = false;
	for (unsigned i = 0; i < cfg->nconsole_ports; i++)
		named |= !strcmp(cfg->console_ports[i].name, GUEST_AGENT_PORT_NAME);
	unsigned n = cfg->nconsole_ports;
	if (cfg->has_guest_agent && cfg->guest_agent.enabled && !named)
		a = (int)n++;
	if (agent)
		*agent = a;
	return n;
}

bool vm_config_has_console(const struct vm_config *cfg)
{
	return vm_config_console_port_count(cfg, NULL) > 0;
}

int console_check_config(const struct vm_config *cfg, char *err, size_t errlen)
{
	int agent;
	unsigned n = vm_config_console_port_count(cfg, &agent);
	if (n > CONSOLE_PORTS_MAX)
		return error_set(err, errlen, -EINVAL,
				 "console-ports: %u ports and the guest agent's make %u, more than %d (name one "
				 "of them \"%s\")", cfg->nconsole_ports, n, CONSOLE_PORTS_MAX, GUEST_AGENT_PORT_NAME);
	return 0;
}
