/* Firecracker's device objects (Drive, NetworkInterface, Vsock, EntropyDevice) in JSON.
 * Their CLI forms are in devices_cli.c. See devices_config.h. */
#include "config/devices_config.h"
#include "config/devices_internal.h"
#include "util/disk_format.h"
#include "util/error.h"
#include "util/json_util.h"
#include "util/log.h"
#include "util/util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* "where.key" or just "key". */
#define FIELD(where, key) (where) && *(where) ? (where) : "", (where) && *(where) ? "." : "", (key)

static int get_string(json_t *obj, const char *where, const char *key, bool required, bool nonempty,
		      char **out, char *err, size_t errlen)
{
	json_t *v = json_object_get(obj, key);
	if (!v || json_is_null(v)) {
		if (required)
			return error_set(err, errlen, -EINVAL, "%s%s%s: missing required field",
					 FIELD(where, key));
		return 0;
	}
	if (!json_is_string(v))
		return error_set(err, errlen, -EINVAL, "%s%s%s: expected a string", FIELD(where, key));
	if (nonempty && json_string_length(v) == 0)
		return error_set(err, errlen, -EINVAL, "%s%s%s: must not be empty", FIELD(where, key));
	if (strlen(json_string_value(v)) != json_string_length(v))
		return error_set(err, errlen, -EINVAL, "%s%s%s: contains a NUL character", FIELD(where, key));
	*out = strdup(json_string_value(v));
	return *out ? 0 : error_oom(err, errlen);
}

int devices_check_id(const char *id, const char *where, const char *key, char *err, size_t errlen)
{
	size_t n = strlen(id);
	if (n == 0 || n > DEVICES_ID_MAX)
		return error_set(err, errlen, -EINVAL, "%s%s%s: must be 1 to %d characters",
				 FIELD(where, key), DEVICES_ID_MAX);
	for (size_t i = 0; i < n; i++) {
		char c = id[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_'))
			return error_set(err, errlen, -EINVAL,
					 "%s%s%s: '%s' has a character other than letters, digits and '_'",
					 FIELD(where, key), id);
	}
	return 0;
}

/* ---- free / copy ---- */

void drive_config_free(struct drive_config *c)
{
	if (!c)
		return;
	free(c->drive_id);
	free(c->path_on_host);
	free(c->partuuid);
	memset(c, 0, sizeof(*c));
}

void net_config_free(struct net_config *c)
{
	if (!c)
		return;
	free(c->iface_id);
	free(c->host_dev_name);
	memset(c, 0, sizeof(*c));
}

void vsock_config_free(struct vsock_config *c)
{
	if (!c)
		return;
	free(c->uds_path);
	free(c->vsock_id);
	memset(c, 0, sizeof(*c));
}

void entropy_config_free(struct entropy_config *c)
{
	if (c)
		memset(c, 0, sizeof(*c));
}

void drive_update_free(struct drive_update *u)
{
	if (!u)
		return;
	free(u->drive_id);
	free(u->path_on_host);
	memset(u, 0, sizeof(*u));
}

void net_update_free(struct net_update *u)
{
	if (!u)
		return;
	free(u->iface_id);
	memset(u, 0, sizeof(*u));
}

static int dup_opt(char **dst, const char *src)
{
	*dst = NULL;
	if (!src)
		return 0;
	*dst = strdup(src);
	return *dst ? 0 : -ENOMEM;
}

int drive_config_copy(struct drive_config *dst, const struct drive_config *src)
{
	*dst = *src;
	dst->drive_id = dst->path_on_host = dst->partuuid = NULL;
	if (dup_opt(&dst->drive_id, src->drive_id) < 0 || dup_opt(&dst->path_on_host, src->path_on_host) < 0 ||
	    dup_opt(&dst->partuuid, src->partuuid) < 0) {
		drive_config_free(dst);
		return -ENOMEM;
	}
	return 0;
}

int net_config_copy(struct net_config *dst, const struct net_config *src)
{
	*dst = *src;
	dst->iface_id = dst->host_dev_name = NULL;
	if (dup_opt(&dst->iface_id, src->iface_id) < 0 || dup_opt(&dst->host_dev_name, src->host_dev_name) < 0) {
		net_config_free(dst);
		return -ENOMEM;
	}
	return 0;
}

int vsock_config_copy(struct vsock_config *dst, const struct vsock_config *src)
{
	*dst = *src;
	dst->uds_path = dst->vsock_id = NULL;
	if (dup_opt(&dst->uds_path, src->uds_path) < 0 || dup_opt(&dst->vsock_id, src->vsock_id) < 0) {
		vsock_config_free(dst);
		return -ENOMEM;
	}
	return 0;
}

/* ---- MAC addresses ---- */

int mac_parse(const char *s, uint8_t mac[6])
{
	if (!s || strlen(s) != 17)
		return -EINVAL;
	for (int i = 0; i < 6; i++) {
		int hi = hex_digit(s[3 * i]), lo = hex_digit(s[3 * i + 1]);
		if (hi < 0 || lo < 0 || (i < 5 && s[3 * i + 2] != ':'))
			return -EINVAL;
		mac[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

void mac_format(const uint8_t mac[6], char out[18])
{
	snprintf(out, 18, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]);
}

/* ---- Drive ---- */

int drive_config_from_json(json_t *obj, const char *where, struct drive_config *out, char *err,
			   size_t errlen)
{
	static const char *const keys[] = { "drive_id", "partuuid", "is_root_device", "cache_type",
					    "is_read_only", "path_on_host", "rate_limiter",
					    "io_engine", "socket", "format", "boot_index", NULL };
	_cleanup_(drive_config_free) struct drive_config c = { 0 };
	_cleanup_free_ char *cache = NULL, *engine = NULL, *format = NULL;
	int r;

	memset(out, 0, sizeof(*out));
	if (!json_is_object(obj))
		return error_set(err, errlen, -EINVAL, "%s: expected an object",
				 where && *where ? where : "drive");
	if ((r = json_check_keys(obj, where, keys, err, errlen)) < 0)
		return r;
	json_t *sock = json_object_get(obj, "socket");
	if (sock && !json_is_null(sock))
		return error_set(err, errlen, -EINVAL, "%s%s%s: vhost-user block devices are not supported",
				 FIELD(where, "socket"));
	if ((r = get_string(obj, where, "drive_id", true, true, &c.drive_id, err, errlen)) < 0 ||
	    (r = devices_check_id(c.drive_id, where, "drive_id", err, errlen)) < 0 ||
	    (r = get_string(obj, where, "path_on_host", true, true, &c.path_on_host, err, errlen)) < 0 ||
	    (r = get_string(obj, where, "partuuid", false, false, &c.partuuid, err, errlen)) < 0 ||
	    (r = json_get_bool(obj, where, "is_root_device", true, &c.is_root_device, err, errlen)) < 0 ||
	    (r = json_get_bool(obj, where, "is_read_only", false, &c.is_read_only, err, errlen)) < 0 ||
	    (r = rate_limiter_config_from_json(obj, where, "rate_limiter", &c.rate_limiter, err, errlen)) < 0 ||
	    (r = get_string(obj, where, "cache_type", false, false, &cache, err, errlen)) < 0)
		return r;
	if (cache) {
		if (!strcmp(cache, "Unsafe"))
			c.cache_type = DRIVE_CACHE_UNSAFE;
		else if (!strcmp(cache, "Writeback"))
			c.cache_type = DRIVE_CACHE_WRITEBACK;
		else
			return error_set(err, errlen, -EINVAL, "%s%s%s: expected Unsafe or Writeback",
					 FIELD(where, "cache_type"));
		c.has_cache_type = true;
	}
	if ((r = get_string(obj, where, "io_engine", false, false, &engine, err, errlen)) < 0)
		return r;
	if (engine) {
		if (!strcmp(engine, "Sync"))
			c.io_engine = DRIVE_IO_SYNC;
		else if (!strcmp(engine, "Async"))
			c.io_engine = DRIVE_IO_ASYNC;
		else
			return error_set(err, errlen, -EINVAL, "%s%s%s: expected Sync or Async",
					 FIELD(where, "io_engine"));
		c.has_io_engine = true;
	}
	/* petrel's extension: the image format, not probed when given. */
	if ((r = get_string(obj, where, "format", false, false, &format, err, errlen)) < 0)
		return r;
	if (format && (c.format = disk_format_parse(format)) < 0)
		return error_set(err, errlen, -EINVAL, "%s%s%s: expected raw, qcow2 or auto",
				 FIELD(where, "format"));
	/* petrel's extension: the drive's place in a firmware's boot order */
	uint64_t boot = 0;
	if ((r = json_get_uint(obj, where, "boot_index", false, 0, DRIVE_BOOT_INDEX_MAX, &boot, err, errlen)) < 0)
		return r;
	c.has_boot_index = r == 1;
	c.boot_index = (unsigned)boot;
	*out = TAKE_STRUCT(c);
	return 0;
}

json_t *drive_config_to_json(const struct drive_config *c)
{
	json_t *o = json_object();
	if (!o)
		return NULL;
	json_object_set_new(o, "drive_id", json_string(c->drive_id ? c->drive_id : ""));
	json_object_set_new(o, "partuuid", c->partuuid ? json_string(c->partuuid) : json_null());
	json_object_set_new(o, "is_root_device", json_boolean(c->is_root_device));
	json_object_set_new(o, "cache_type", json_string(c->cache_type == DRIVE_CACHE_WRITEBACK ? "Writeback" : "Unsafe"));
	json_object_set_new(o, "is_read_only", json_boolean(c->is_read_only));
	if (c->path_on_host)
		json_object_set_new(o, "path_on_host", json_string(c->path_on_host));
	rate_limiter_config_to_json(o, "rate_limiter", &c->rate_limiter);
	json_object_set_new(o, "io_engine", json_string(c->io_engine == DRIVE_IO_ASYNC ? "Async" : "Sync"));
	json_object_set_new(o, "socket", json_null());
	if (c->format)
		json_object_set_new(o, "format", json_string(disk_format_name((enum disk_format)c->format)));
	if (c->has_boot_index)
		json_object_set_new(o, "boot_index", json_integer(c->boot_index));
	return o;
}

int drive_update_from_json(json_t *obj, const char *where, struct drive_update *out, char *err,
			   size_t errlen)
{
	static const char *const keys[] = { "drive_id", "path_on_host", "rate_limiter", NULL };
	_cleanup_(drive_update_free) struct drive_update u = { 0 };
	int r;
	memset(out, 0, sizeof(*out));
	if (!json_is_object(obj))
		return error_set(err, errlen, -EINVAL, "%s: expected an object",
				 where && *where ? where : "drive");
	if ((r = json_check_keys(obj, where, keys, err, errlen)) < 0 ||
	    (r = get_string(obj, where, "drive_id", true, true, &u.drive_id, err, errlen)) < 0 ||
	    (r = devices_check_id(u.drive_id, where, "drive_id", err, errlen)) < 0 ||
	    (r = get_string(obj, where, "path_on_host", false, true, &u.path_on_host, err, errlen)) < 0 ||
	    (r = rate_limiter_config_from_json(obj, where, "rate_limiter", &u.rate_limiter, err, errlen)) < 0)
		return r;
	*out = TAKE_STRUCT(u);
	return 0;
}

/* ---- NetworkInterface ---- */

int net_config_from_json(json_t *obj, const char *where, struct net_config *out, char *err,
			 size_t errlen)
{
	static const char *const keys[] = { "iface_id", "host_dev_name", "guest_mac", "mtu",
					    "rx_rate_limiter", "tx_rate_limiter", "model", NULL };
	_cleanup_(net_config_free) struct net_config c = { 0 };
	_cleanup_free_ char *mac = NULL, *model = NULL;
	uint64_t mtu = 0;
	int r;
	memset(out, 0, sizeof(*out));
	if (!json_is_object(obj))
		return error_set(err, errlen, -EINVAL, "%s: expected an object",
				 where && *where ? where : "network-interface");
	if ((r = json_check_keys(obj, where, keys, err, errlen)) < 0 ||
	    (r = get_string(obj, where, "iface_id", true, true, &c.iface_id, err, errlen)) < 0 ||
	    (r = devices_check_id(c.iface_id, where, "iface_id", err, errlen)) < 0 ||
	    (r = get_string(obj, where, "host_dev_name", true, true, &c.host_dev_name, err, errlen)) < 0 ||
	    (r = get_string(obj, where, "guest_mac", false, false, &mac, err, errlen)) < 0 ||
	    (r = json_get_uint(obj, where, "mtu", false, 68, 65535, &mtu, err, errlen)) < 0)
		return r;
	c.has_mtu = r == 1;
	if ((r = get_string(obj, where, "model", false, false, &model, err, errlen)) < 0)
		return r;
	if (model && !strcmp(model, "e1000"))
		c.model = NET_MODEL_E1000;
	else if (model && strcmp(model, "virtio") != 0)
		return error_set(err, errlen, -EINVAL,
				 "%s%s%s: '%s' is not a model: \"virtio\" (the default) or \"e1000\"",
				 FIELD(where, "model"), model);
	if (c.model == NET_MODEL_E1000 && c.has_mtu)
		return error_set(err, errlen, -EINVAL,
				 "%s%s%s: an e1000's MTU is its driver's to set (mtu is virtio-net's)",
				 FIELD(where, "mtu"));
	c.mtu = (uint32_t)mtu;
	if (strlen(c.host_dev_name) >= 16)
		return error_set(err, errlen, -EINVAL, "%s%s%s: interface names are at most 15 characters",
				 FIELD(where, "host_dev_name"));
	if (mac) {
		if (mac_parse(mac, c.guest_mac) < 0)
			return error_set(err, errlen, -EINVAL,
					 "%s%s%s: '%s' is not a MAC address (aa:bb:cc:dd:ee:ff)",
					 FIELD(where, "guest_mac"), mac);
		/* Firecracker takes it; a Linux guest gives such a NIC a random address of its own
		 * (nothing is at risk on the host), but that is rarely what was meant. */
		if (c.guest_mac[0] & 1)
			log_warn("%s%s%s: '%s' is a multicast address: the guest will likely ignore it and "
				 "pick a random unicast one", FIELD(where, "guest_mac"), mac);
		c.has_mac = true;
	}
	if ((r = rate_limiter_config_from_json(obj, where, "rx_rate_limiter", &c.rx_rate_limiter, err, errlen)) < 0 ||
	    (r = rate_limiter_config_from_json(obj, where, "tx_rate_limiter", &c.tx_rate_limiter, err, errlen)) < 0)
		return r;
	*out = TAKE_STRUCT(c);
	return 0;
}

json_t *net_config_to_json(const struct net_config *c)
{
	json_t *o = json_object();
	if (!o)
		return NULL;
	json_object_set_new(o, "iface_id", json_string(c->iface_id ? c->iface_id : ""));
	json_object_set_new(o, "host_dev_name", json_string(c->host_dev_name ? c->host_dev_name : ""));
	if (c->has_mac) {
		char m[18];
		mac_format(c->guest_mac, m);
		json_object_set_new(o, "guest_mac", json_string(m));
	} else {
		json_object_set_new(o, "guest_mac", json_null());
	}
	json_object_set_new(o, "mtu", c->has_mtu ? json_integer(c->mtu) : json_null());
	rate_limiter_config_to_json(o, "rx_rate_limiter", &c->rx_rate_limiter);
	rate_limiter_config_to_json(o, "tx_rate_limiter", &c->tx_rate_limiter);
	if (c->model == NET_MODEL_E1000)
		json_object_set_new(o, "model", json_string("e1000"));
	return o;
}

int net_update_from_json(json_t *obj, const char *where, struct net_update *out, char *err,
			 size_t errlen)
{
	static const char *const keys[] = { "iface_id", "rx_rate_limiter", "tx_rate_limiter", NULL };
	_cleanup_(net_update_free) struct net_update u = { 0 };
	int r;
	memset(out, 0, sizeof(*out));
	if (!json_is_object(obj))
		return error_set(err, errlen, -EINVAL, "%s: expected an object",
				 where && *where ? where : "network-interface");
	if ((r = json_check_keys(obj, where, keys, err, errlen)) < 0 ||
	    (r = get_string(obj, where, "iface_id", true, true, &u.iface_id, err, errlen)) < 0 ||
	    (r = devices_check_id(u.iface_id, where, "iface_id", err, errlen)) < 0 ||
	    (r = rate_limiter_config_from_json(obj, where, "rx_rate_limiter", &u.rx_rate_limiter, err, errlen)) < 0 ||
	    (r = rate_limiter_config_from_json(obj, where, "tx_rate_limiter", &u.tx_rate_limiter, err, errlen)) < 0)
		return r;
	*out = TAKE_STRUCT(u);
	return 0;
}

/* ---- Vsock ---- */

int vsock_config_from_json(json_t *obj, const char *where, struct vsock_config *out, char *err,
			   size_t errlen)
{
	static const char *const keys[] = { "guest_cid", "uds_path", "vsock_id", NULL };
	_cleanup_(vsock_config_free) struct vsock_config c = { 0 };
	uint64_t cid = 0;
	int r;
	memset(out, 0, sizeof(*out));
	if (!json_is_object(obj))
		return error_set(err, errlen, -EINVAL, "%s: expected an object",
				 where && *where ? where : "vsock");
	if ((r = json_check_keys(obj, where, keys, err, errlen)) < 0 ||
	    (r = json_get_uint(obj, where, "guest_cid", true, 3, UINT32_MAX - 1, &cid, err, errlen)) < 0 ||
	    (r = get_string(obj, where, "uds_path", true, true, &c.uds_path, err, errlen)) < 0 ||
	    (r = get_string(obj, where, "vsock_id", false, false, &c.vsock_id, err, errlen)) < 0)
		return r;
	c.guest_cid = (uint32_t)cid;
	*out = TAKE_STRUCT(c);
	return 0;
}

json_t *vsock_config_to_json(const struct vsock_config *c)
{
	json_t *o = json_object();
	if (!o)
		return NULL;
	json_object_set_new(o, "guest_cid", json_integer(c->guest_cid));
	json_object_set_new(o, "uds_path", json_string(c->uds_path ? c->uds_path : ""));
	if (c->vsock_id)
		json_object_set_new(o, "vsock_id", json_string(c->vsock_id));
	return o;
}

/* ---- Entropy ---- */

int entropy_config_from_json(json_t *obj, const char *where, struct entropy_config *out, char *err,
			     size_t errlen)
{
	static const char *const keys[] = { "rate_limiter", NULL };
	struct entropy_config c = { 0 };
	int r;
	memset(out, 0, sizeof(*out));
	if (!json_is_object(obj))
		return error_set(err, errlen, -EINVAL, "%s: expected an object",
				 where && *where ? where : "entropy");
	if ((r = json_check_keys(obj, where, keys, err, errlen)) < 0 ||
	    (r = rate_limiter_config_from_json(obj, where, "rate_limiter", &c.rate_limiter, err, errlen)) < 0)
		return r;
	*out = c;
	return 0;
}

json_t *entropy_config_to_json(const struct entropy_config *c)
{
	json_t *o = json_object();
	if (o)
		rate_limiter_config_to_json(o, "rate_limiter", &c->rate_limiter);
	return o;
}

/* ---- text forms ---- */

static json_t *load(const char *json, const char *where, char *err, size_t errlen)
{
	json_error_t jerr;
	if (!json) {
		error_set(err, errlen, -EINVAL, "%s%sno JSON body", where ? where : "", where ? ": " : "");
		return NULL;
	}
	json_t *root = json_loads(json, JSON_REJECT_DUPLICATES, &jerr);
	if (!root)
		error_set(err, errlen, -EINVAL, "%s%sinvalid JSON at line %d, column %d: %s",
			  where ? where : "", where ? ": " : "", jerr.line, jerr.column, jerr.text);
	return root;
}

#define TEXT_PARSER(name, type)                                                              \
	int name##_parse(const char *json, const char *where, type *out, char *err, size_t errlen) \
	{                                                                                    \
		memset(out, 0, sizeof(*out));                                                \
		json_t *root = load(json, where, err, errlen);                               \
		if (!root)                                                                   \
			return -EINVAL;                                                      \
		int r = name##_from_json(root, where, out, err, errlen);                     \
		json_decref(root);                                                           \
		return r;                                                                    \
	}

TEXT_PARSER(drive_config, struct drive_config)
TEXT_PARSER(net_config, struct net_config)
TEXT_PARSER(vsock_config, struct vsock_config)
TEXT_PARSER(entropy_config, struct entropy_config)
TEXT_PARSER(drive_update, struct drive_update)
TEXT_PARSER(net_update, struct net_update)
