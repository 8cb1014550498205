/* The guest agent's answers, read as untrusted input (agent_json.h). The shapes are those of
 * qemu-guest-agent's QAPI schema (qga/qapi-schema.json): an answer is one JSON object per line,
 * {"return": VALUE} or {"error": {"class": S, "desc": S}}; guest-sync-delimited's answer is
 * preceded by a 0xFF byte. A typed reader copies only the fields petrel shows, each checked
 * (lengths, printable text, addresses parsed), into a value of its own: nothing the guest sent
 * reaches the API's answer unchecked. */
#include "agent/agent_json.h"
#include "util/error.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define AGENT_TEXT_MAX 256        /* a name, a version, a path */
#define AGENT_DESC_MAX 512        /* an error's description, as shown */
#define AGENT_MAX_COMMANDS 512
#define AGENT_MAX_IFACES 256
#define AGENT_MAX_ADDRS 256       /* per interface */
#define AGENT_MAX_PATHS 1024      /* guest-fstrim's */

/* ---- the byte stream ---- */

void agent_rx_clear(struct agent_rx *rx)
{
	rx->len = 0;
}

void agent_rx_free(struct agent_rx *rx)
{
	free(rx->buf);
	*rx = (struct agent_rx){ 0 };
}

int agent_rx_push(struct agent_rx *rx, const void *data, size_t n)
{
	/* What is buffered never holds a complete line for long (the caller takes them), so
	 * the buffer's length bounds the line being read, give or take the lines before it. */
	const uint8_t *nl = rx->len ? memrchr(rx->buf, '\n', rx->len) : NULL;
	size_t partial = nl ? rx->len - (size_t)(nl + 1 - rx->buf) : rx->len;
	const uint8_t *in_nl = n ? memrchr(data, '\n', n) : NULL;
	size_t grows = in_nl ? n - (size_t)(in_nl + 1 - (const uint8_t *)data) : partial + n;
	if (grows > AGENT_LINE_MAX || rx->len + n > 2 * (size_t)AGENT_LINE_MAX + 2) {
		agent_rx_clear(rx);
		return -EMSGSIZE;
	}
	if (rx->len + n > rx->cap) {
		size_t cap = rx->cap ? rx->cap : 4096;
		while (cap < rx->len + n)
			cap *= 2;
		uint8_t *b = realloc(rx->buf, cap);
		if (!b)
			return -ENOMEM;
		rx->buf = b;
		rx->cap = cap;
	}
	memcpy(rx->buf + rx->len, data, n);
	rx->len += n;
	return 0;
}

bool agent_rx_sentinel(struct agent_rx *rx)
{
	const uint8_t *s = rx->len ? memrchr(rx->buf, AGENT_SENTINEL, rx->len) : NULL;
	if (!s) {
		agent_rx_clear(rx);
		return false;
	}
	size_t skip = (size_t)(s + 1 - rx->buf);
	memmove(rx->buf, rx->buf + skip, rx->len - skip);
	rx->len -= skip;
	return true;
}

int agent_rx_line(struct agent_rx *rx, char **line, size_t *len)
{
	*line = NULL;
	const uint8_t *nl = rx->len ? memchr(rx->buf, '\n', rx->len) : NULL;
	if (!nl)
		return 0;
	size_t n = (size_t)(nl - rx->buf), used = n + 1;
	if (n && rx->buf[n - 1] == '\r')
		n--;
	char *l = malloc(n + 1);
	if (!l)
		return -ENOMEM;
	memcpy(l, rx->buf, n);
	l[n] = 0;
	memmove(rx->buf, rx->buf + used, rx->len - used);
	rx->len -= used;
	*line = l;
	*len = n;
	return 1;
}

/* ---- one answer ---- */

/* A string of at most max bytes with no control character and no NUL inside. */
static const char *text(json_t *v, size_t max)
{
	const char *s = json_string_value(v);
	if (!s || json_string_length(v) > max || strlen(s) != json_string_length(v))
		return NULL;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if (*p < 0x20 || *p == 0x7f)
			return NULL;
	return s;
}

int agent_reply_parse(const char *line, size_t len, json_t **ret, char *err, size_t errlen)
{
	*ret = NULL;
	json_error_t je;
	json_t *o = json_loadb(line, len, JSON_REJECT_DUPLICATES, &je);
	if (!o)
		return error_set(err, errlen, -EPROTO, "the agent's answer is not JSON: %s", je.text);
	int r = 0;
	json_t *rv = json_object_get(o, "return"), *ev = json_object_get(o, "error");
	if (!json_is_object(o))
		r = error_set(err, errlen, -EPROTO, "the agent's answer is not a JSON object");
	else if (!rv == !ev)
		r = error_set(err, errlen, -EPROTO, "the agent's answer has %s of \"return\" and \"error\"",
			      rv ? "both" : "neither");
	else if (rv)
		*ret = json_incref(rv);
	else {
		const char *cls = text(json_object_get(ev, "class"), AGENT_TEXT_MAX);
		json_t *dv = json_object_get(ev, "desc");
		const char *desc = json_string_value(dv);
		if (!json_is_object(ev) || !cls || !desc || strlen(desc) != json_string_length(dv))
			r = error_set(err, errlen, -EPROTO, "the agent's error answer lacks a class or a description");
		else {
			/* shown as a message: control characters become '?', the length is cut */
			char shown[AGENT_DESC_MAX + 1];
			snprintf(shown, sizeof(shown), "%s", desc);
			for (char *p = shown; *p; p++)
				if ((unsigned char)*p < 0x20 || *p == 0x7f)
					*p = '?';
			r = error_set(err, errlen, -EREMOTEIO, "the guest agent answered an error: %s: %s", cls, shown);
		}
	}
	json_decref(o);
	return r;
}

/* ---- typed readers ---- */

int agent_read_sync(json_t *ret, int64_t *id, char *err, size_t errlen)
{
	if (!json_is_integer(ret))
		return error_set(err, errlen, -EPROTO, "guest-sync-delimited: expected the id, an integer");
	*id = json_integer_value(ret);
	return 0;
}

int agent_read_empty(json_t *ret, const char *cmd, char *err, size_t errlen)
{
	if (!json_is_object(ret) || json_object_size(ret))
		return error_set(err, errlen, -EPROTO, "%s: expected an empty object", cmd);
	return 0;
}

int agent_read_count(json_t *ret, const char *cmd, unsigned *n, char *err, size_t errlen)
{
	if (!json_is_integer(ret) || json_integer_value(ret) < 0 || json_integer_value(ret) > 65535)
		return error_set(err, errlen, -EPROTO, "%s: expected a count of file systems (0 to 65535)", cmd);
	*n = (unsigned)json_integer_value(ret);
	return 0;
}

int agent_read_freeze_status(json_t *ret, bool *frozen, char *err, size_t errlen)
{
	const char *s = text(ret, 16);
	if (!s || (strcmp(s, "frozen") && strcmp(s, "thawed")))
		return error_set(err, errlen, -EPROTO, "guest-fsfreeze-status: expected \"frozen\" or \"thawed\"");
	*frozen = !strcmp(s, "frozen");
	return 0;
}

int agent_read_info(json_t *ret, json_t **out, char *err, size_t errlen)
{
	*out = NULL;
	const char *version = text(json_object_get(ret, "version"), AGENT_TEXT_MAX);
	json_t *cmds = json_object_get(ret, "supported_commands");
	if (!json_is_object(ret) || !version)
		return error_set(err, errlen, -EPROTO, "guest-info: version: expected a string of printable text");
	if (!json_is_array(cmds) || json_array_size(cmds) > AGENT_MAX_COMMANDS)
		return error_set(err, errlen, -EPROTO, "guest-info: supported_commands: expected an array of at most %d",
				 AGENT_MAX_COMMANDS);
	json_t *list = json_array();
	size_t i;
	json_t *c;
	json_array_foreach(cmds, i, c) {
		const char *name = text(json_object_get(c, "name"), AGENT_TEXT_MAX);
		json_t *en = json_object_get(c, "enabled");
		if (!name || !json_is_boolean(en)) {
			json_decref(list);
			return error_set(err, errlen, -EPROTO, "guest-info: supported_commands[%zu]: expected a name and "
					 "\"enabled\"", i);
		}
		json_array_append_new(list, json_pack("{s:s, s:b}", "name", name, "enabled", json_is_true(en)));
	}
	*out = json_pack("{s:s, s:o}", "version", version, "commands", list);
	return *out ? 0 : error_oom(err, errlen);
}

/* "aa:bb:cc:dd:ee:ff" (either case) into lower case. */
static bool mac_ok(const char *s, char out[18])
{
	if (strlen(s) != 17)
		return false;
	for (int i = 0; i < 17; i++) {
		char c = s[i];
		bool hex = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
		if (i % 3 == 2 ? c != ':' : !hex)
			return false;
		out[i] = (char)(c >= 'A' && c <= 'F' ? c - 'A' + 'a' : c);
	}
	out[17] = 0;
	return true;
}

static json_t *read_address(json_t *a, const char *where, char *err, size_t errlen)
{
	const char *type = text(json_object_get(a, "ip-address-type"), 8);
	const char *addr = text(json_object_get(a, "ip-address"), 64);
	json_t *pv = json_object_get(a, "prefix");
	int af = type && !strcmp(type, "ipv4") ? AF_INET : type && !strcmp(type, "ipv6") ? AF_INET6 : 0;
	unsigned char bin[16];
	char canon[INET6_ADDRSTRLEN];
	if (!af) {
		error_set(err, errlen, -EPROTO, "%s: ip-address-type: expected \"ipv4\" or \"ipv6\"", where);
		return NULL;
	}
	if (!addr || inet_pton(af, addr, bin) != 1 || !inet_ntop(af, bin, canon, sizeof(canon))) {
		error_set(err, errlen, -EPROTO, "%s: ip-address: not an %s address", where, type);
		return NULL;
	}
	json_int_t max = af == AF_INET ? 32 : 128;
	if (!json_is_integer(pv) || json_integer_value(pv) < 0 || json_integer_value(pv) > max) {
		error_set(err, errlen, -EPROTO, "%s: prefix: expected 0 to %lld", where, (long long)max);
		return NULL;
	}
	return json_pack("{s:s, s:s, s:I}", "type", type, "address", canon, "prefix", json_integer_value(pv));
}

static json_t *read_interface(json_t *ifc, size_t i, char *err, size_t errlen)
{
	const char *name = text(json_object_get(ifc, "name"), AGENT_TEXT_MAX);
	if (!json_is_object(ifc) || !name) {
		error_set(err, errlen, -EPROTO, "guest-network-get-interfaces[%zu]: name: expected printable text", i);
		return NULL;
	}
	json_t *o = json_pack("{s:s}", "name", name), *addrs = json_array();
	json_t *hw = json_object_get(ifc, "hardware-address");
	char mac[18];
	if (hw && !(text(hw, 17) && mac_ok(json_string_value(hw), mac))) {
		error_set(err, errlen, -EPROTO, "guest-network-get-interfaces[%zu] (%s): hardware-address: expected "
			  "six hex bytes", i, name);
		goto fail;
	}
	if (hw)
		json_object_set_new(o, "mac", json_string(mac));
	json_t *ips = json_object_get(ifc, "ip-addresses");
	if (ips && (!json_is_array(ips) || json_array_size(ips) > AGENT_MAX_ADDRS)) {
		error_set(err, errlen, -EPROTO, "guest-network-get-interfaces[%zu] (%s): ip-addresses: expected an "
			  "array of at most %d", i, name, AGENT_MAX_ADDRS);
		goto fail;
	}
	size_t k;
	json_t *a;
	json_array_foreach(ips, k, a) {
		char where[AGENT_TEXT_MAX + 80];
		snprintf(where, sizeof(where), "guest-network-get-interfaces[%zu] (%s): ip-addresses[%zu]", i, name, k);
		json_t *one = read_address(a, where, err, errlen);
		if (!one)
			goto fail;
		json_array_append_new(addrs, one);
	}
	json_object_set_new(o, "addresses", addrs);
	return o;
fail:
	json_decref(addrs);
	json_decref(o);
	return NULL;
}

int agent_read_interfaces(json_t *ret, json_t **out, char *err, size_t errlen)
{
	*out = NULL;
	if (!json_is_array(ret) || json_array_size(ret) > AGENT_MAX_IFACES)
		return error_set(err, errlen, -EPROTO, "guest-network-get-interfaces: expected an array of at most %d",
				 AGENT_MAX_IFACES);
	json_t *list = json_array();
	size_t i;
	json_t *ifc;
	json_array_foreach(ret, i, ifc) {
		json_t *o = read_interface(ifc, i, err, errlen);
		if (!o) {
			json_decref(list);
			return -EPROTO;
		}
		json_array_append_new(list, o);
	}
	*out = list;
	return 0;
}

/* An optional non-negative integer field copied to o. */
static bool copy_count(json_t *from, const char *key, json_t *o)
{
	json_t *v = json_object_get(from, key);
	if (!v)
		return true;
	if (!json_is_integer(v) || json_integer_value(v) < 0)
		return false;
	json_object_set_new(o, key, json_integer(json_integer_value(v)));
	return true;
}

int agent_read_fstrim(json_t *ret, json_t **out, char *err, size_t errlen)
{
	*out = NULL;
	json_t *paths = json_object_get(ret, "paths");
	if (!json_is_array(paths) || json_array_size(paths) > AGENT_MAX_PATHS)
		return error_set(err, errlen, -EPROTO, "guest-fstrim: paths: expected an array of at most %d",
				 AGENT_MAX_PATHS);
	json_t *list = json_array();
	size_t i;
	json_t *p;
	json_array_foreach(paths, i, p) {
		const char *path = text(json_object_get(p, "path"), 4096);
		json_t *ev = json_object_get(p, "error");
		const char *e = ev ? text(ev, AGENT_DESC_MAX) : NULL;
		json_t *o = path ? json_pack("{s:s}", "path", path) : NULL;
		if (!o || (ev && !e) || !copy_count(p, "trimmed", o) || !copy_count(p, "minimum", o)) {
			json_decref(o);
			json_decref(list);
			return error_set(err, errlen, -EPROTO, "guest-fstrim: paths[%zu]: expected a path, counts and "
					 "an optional error text", i);
		}
		if (e)
			json_object_set_new(o, "error", json_string(e));
		json_array_append_new(list, o);
	}
	*out = json_pack("{s:o}", "paths", list);
	return *out ? 0 : error_oom(err, errlen);
}
