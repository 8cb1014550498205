/* petrel's CLI forms of the device objects: --disk, --net, --vsock, --rng. See
 * devices_config.h. */
#include "config/devices_config.h"
#include "config/devices_internal.h"
#include "util/disk_format.h"
#include "util/error.h"
#include "util/json_util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- CLI forms ---- */

int virtio_transport_from_name(const char *name, enum virtio_transport_kind *out)
{
	if (!strcmp(name, "pci"))
		*out = VIRTIO_TRANSPORT_PCI;
	else if (!strcmp(name, "mmio"))
		*out = VIRTIO_TRANSPORT_MMIO;
	else
		return -EINVAL;
	return 0;
}

/* Split "a,b=c,..." in place: calls fn(key, value-or-NULL, first) for each item. */
typedef int (*kv_fn)(void *ctx, char *key, char *val, bool first, char *err, size_t errlen);

static int split_kv(const char *arg, void *ctx, kv_fn fn, char *err, size_t errlen)
{
	/* What an option holds ends up in JSON (GET /vm/config, snapshots, migration), which
	 * carries UTF-8 only: a path of other bytes would be lost there, so it is refused here. */
	json_t *probe = json_string(arg ? arg : "");
	if (!probe)
		return error_set(err, errlen, -EINVAL, "option value is not valid UTF-8");
	json_decref(probe);
	char *copy = strdup(arg ? arg : "");
	if (!copy)
		return error_oom(err, errlen);
	int r = 0;
	bool first = true;
	char *save = NULL;
	if (*copy == '\0') {
		free(copy);
		return 0;
	}
	/* strtok_r would merge empty items; walk by hand so "a,,b" is an error. */
	char *p = copy;
	(void)save;
	for (;;) {
		char *comma = strchr(p, ',');
		if (comma)
			*comma = '\0';
		if (*p == '\0') {
			r = error_set(err, errlen, -EINVAL, "empty item in '%s'", arg);
			break;
		}
		char *eq = strchr(p, '=');
		if (eq)
			*eq++ = '\0';
		if ((r = fn(ctx, p, eq, first, err, errlen)) < 0)
			break;
		first = false;
		if (!comma)
			break;
		p = comma + 1;
	}
	free(copy);
	return r;
}

static int need_value(const char *opt, const char *key, const char *val, char *err, size_t errlen)
{
	if (!val || !*val)
		return error_set(err, errlen, -EINVAL, "--%s: '%s' needs a value (%s=...)", opt, key, key);
	return 0;
}

static int flag_no_value(const char *opt, const char *key, const char *val, char *err, size_t errlen)
{
	if (val)
		return error_set(err, errlen, -EINVAL, "--%s: '%s' takes no value", opt, key);
	return 0;
}

static int cli_transport(const char *opt, const char *val, enum virtio_transport_kind *t, char *err,
			 size_t errlen)
{
	if (need_value(opt, "transport", val, err, errlen) < 0)
		return -EINVAL;
	if (virtio_transport_from_name(val, t) < 0)
		return error_set(err, errlen, -EINVAL, "--%s: transport must be pci or mmio, not '%s'", opt,
				 val);
	return 0;
}

static int disk_kv(void *ctx, char *key, char *val, bool first, char *err, size_t errlen)
{
	struct drive_config *c = ctx;
	if (first && !val) {
		c->path_on_host = strdup(key);
		return c->path_on_host ? 0 : error_oom(err, errlen);
	}
	if (first)
		return error_set(err, errlen, -EINVAL,
				 "--disk: the first item must be the image path, not '%s=%s'", key, val);
	if (!strcmp(key, "ro") || !strcmp(key, "readonly")) {
		c->is_read_only = true;
		return flag_no_value("disk", key, val, err, errlen);
	}
	if (!strcmp(key, "direct")) {
		c->direct = true;
		return flag_no_value("disk", key, val, err, errlen);
	}
	if (!strcmp(key, "root")) {
		c->is_root_device = true;
		return flag_no_value("disk", key, val, err, errlen);
	}
	if (!strcmp(key, "id")) {
		if (need_value("disk", key, val, err, errlen) < 0 || devices_check_id(val, "--disk", "id", err, errlen) < 0)
			return -EINVAL;
		free(c->drive_id);
		c->drive_id = strdup(val);
		return c->drive_id ? 0 : error_oom(err, errlen);
	}
	if (!strcmp(key, "cache")) {
		if (need_value("disk", key, val, err, errlen) < 0)
			return -EINVAL;
		if (!strcmp(val, "unsafe"))
			c->cache_type = DRIVE_CACHE_UNSAFE;
		else if (!strcmp(val, "writeback"))
			c->cache_type = DRIVE_CACHE_WRITEBACK;
		else
			return error_set(err, errlen, -EINVAL,
					 "--disk: cache must be unsafe or writeback, not '%s'", val);
		c->has_cache_type = true;
		return 0;
	}
	if (!strcmp(key, "io")) {
		if (need_value("disk", key, val, err, errlen) < 0)
			return -EINVAL;
		if (!strcmp(val, "sync"))
			c->io_engine = DRIVE_IO_SYNC;
		else if (!strcmp(val, "async"))
			c->io_engine = DRIVE_IO_ASYNC;
		else
			return error_set(err, errlen, -EINVAL, "--disk: io must be sync or async, not '%s'",
					 val);
		c->has_io_engine = true;
		return 0;
	}
	if (!strcmp(key, "poll")) {
		char *end;
		if (need_value("disk", key, val, err, errlen) < 0)
			return -EINVAL;
		unsigned long v = strtoul(val, &end, 10);
		if (*end || val[0] == '-' || v > 1000)
			return error_set(err, errlen, -EINVAL,
					 "--disk: poll must be 0 to 1000 microseconds, not '%s'", val);
		c->poll_us = (uint32_t)v;
		return 0;
	}
	if (!strcmp(key, "transport"))
		return cli_transport("disk", val, &c->transport, err, errlen);
	if (!strcmp(key, "boot")) {
		char *end;
		if (need_value("disk", key, val, err, errlen) < 0)
			return -EINVAL;
		unsigned long v = strtoul(val, &end, 10);
		if (*end || !*val || val[0] == '-' || v > DRIVE_BOOT_INDEX_MAX)
			return error_set(err, errlen, -EINVAL, "--disk: boot must be 0 to %d (a firmware's boot order), not '%s'",
					 DRIVE_BOOT_INDEX_MAX, val);
		c->has_boot_index = true;
		c->boot_index = (unsigned)v;
		return 0;
	}
	if (!strcmp(key, "format")) {
		if (need_value("disk", key, val, err, errlen) < 0)
			return -EINVAL;
		if ((c->format = disk_format_parse(val)) < 0)
			return error_set(err, errlen, -EINVAL,
					 "--disk: format must be raw, qcow2 or auto, not '%s'", val);
		return 0;
	}
	return error_set(err, errlen, -EINVAL,
			 "--disk: unknown item '%s' (expected ro, id=NAME, direct, root, "
			 "cache=, io=, poll=, transport=, format=, boot=)",
			 key);
}

int drive_config_from_cli(const char *arg, unsigned index, struct drive_config *out, char *err,
			  size_t errlen)
{
	struct drive_config c = { 0 };
	memset(out, 0, sizeof(*out));
	if (!arg || !*arg)
		return error_set(err, errlen, -EINVAL, "--disk: expected PATH[,ro][,id=NAME][,direct]");
	int r = split_kv(arg, &c, disk_kv, err, errlen);
	if (r == 0 && !c.path_on_host)
		r = error_set(err, errlen, -EINVAL, "--disk: no image path in '%s'", arg);
	if (r == 0 && !c.drive_id) {
		char id[32];
		snprintf(id, sizeof(id), "drive%u", index);
		c.drive_id = strdup(id);
		if (!c.drive_id)
			r = error_oom(err, errlen);
	}
	if (r == 0 && !c.has_io_engine)
		c.io_engine = DRIVE_IO_ASYNC; /* petrel's CLI default; JSON keeps Firecracker's Sync */
	if (r < 0) {
		drive_config_free(&c);
		return r;
	}
	*out = c;
	return 0;
}

static int net_kv(void *ctx, char *key, char *val, bool first, char *err, size_t errlen)
{
	struct net_config *c = ctx;
	(void)first;
	if (!strcmp(key, "tap")) {
		if (need_value("net", key, val, err, errlen) < 0)
			return -EINVAL;
		if (strlen(val) >= 16)
			return error_set(err, errlen, -EINVAL, "--net: tap names are at most 15 characters");
		free(c->host_dev_name);
		c->host_dev_name = strdup(val);
		return c->host_dev_name ? 0 : error_oom(err, errlen);
	}
	if (!strcmp(key, "mac")) {
		if (need_value("net", key, val, err, errlen) < 0)
			return -EINVAL;
		if (mac_parse(val, c->guest_mac) < 0)
			return error_set(err, errlen, -EINVAL,
					 "--net: '%s' is not a MAC address (aa:bb:cc:dd:ee:ff)", val);
		if (c->guest_mac[0] & 1)
			return error_set(err, errlen, -EINVAL,
					 "--net: '%s' is a multicast address: a NIC needs a unicast one",
					 val);
		c->has_mac = true;
		return 0;
	}
	if (!strcmp(key, "id")) {
		if (need_value("net", key, val, err, errlen) < 0 || devices_check_id(val, "--net", "id", err, errlen) < 0)
			return -EINVAL;
		free(c->iface_id);
		c->iface_id = strdup(val);
		return c->iface_id ? 0 : error_oom(err, errlen);
	}
	if (!strcmp(key, "mtu")) {
		char *end;
		if (need_value("net", key, val, err, errlen) < 0)
			return -EINVAL;
		unsigned long v = strtoul(val, &end, 10);
		if (*end || v < 68 || v > 65535)
			return error_set(err, errlen, -EINVAL,
					 "--net: mtu must be between 68 and 65535, not '%s'", val);
		c->mtu = (uint32_t)v;
		c->has_mtu = true;
		return 0;
	}
	if (!strcmp(key, "transport"))
		return cli_transport("net", val, &c->transport, err, errlen);
	if (!strcmp(key, "model")) {
		if (need_value("net", key, val, err, errlen) < 0)
			return -EINVAL;
		if (strcmp(val, "virtio") && strcmp(val, "e1000"))
			return error_set(err, errlen, -EINVAL,
					 "--net: model must be virtio or e1000, not '%s'", val);
		c->model = strcmp(val, "e1000") ? NET_MODEL_VIRTIO : NET_MODEL_E1000;
		return 0;
	}
	return error_set(err, errlen, -EINVAL,
			 "--net: unknown item '%s' (expected tap=, mac=, id=, mtu=, transport=, model=)",
			 key);
}

int net_config_from_cli(const char *arg, unsigned index, struct net_config *out, char *err, size_t errlen)
{
	struct net_config c = { 0 };
	memset(out, 0, sizeof(*out));
	int r = split_kv(arg, &c, net_kv, err, errlen);
	if (r == 0 && !c.host_dev_name)
		r = error_set(err, errlen, -EINVAL, "--net: expected tap=NAME[,mac=MAC]");
	if (r == 0 && c.model == NET_MODEL_E1000 && (c.has_mtu || c.transport == VIRTIO_TRANSPORT_MMIO))
		r = error_set(err, errlen, -EINVAL,
			      "--net: an e1000 is a PCI card whose driver sets its MTU (mtu= and "
			      "transport= are virtio-net's)");
	if (r == 0 && !c.iface_id) {
		char id[32];
		snprintf(id, sizeof(id), "net%u", index);
		c.iface_id = strdup(id);
		if (!c.iface_id)
			r = error_oom(err, errlen);
	}
	if (r < 0) {
		net_config_free(&c);
		return r;
	}
	*out = c;
	return 0;
}

static int vsock_kv(void *ctx, char *key, char *val, bool first, char *err, size_t errlen)
{
	struct vsock_config *c = ctx;
	(void)first;
	if (!strcmp(key, "cid")) {
		char *end;
		if (need_value("vsock", key, val, err, errlen) < 0)
			return -EINVAL;
		unsigned long long v = strtoull(val, &end, 0);
		if (*end || val[0] == '-' || v < 3 || v >= UINT32_MAX)
			return error_set(err, errlen, -EINVAL,
					 "--vsock: cid must be a number from 3 to %u, not '%s'",
					 UINT32_MAX - 1, val);
		c->guest_cid = (uint32_t)v;
		return 0;
	}
	if (!strcmp(key, "uds")) {
		if (need_value("vsock", key, val, err, errlen) < 0)
			return -EINVAL;
		free(c->uds_path);
		c->uds_path = strdup(val);
		return c->uds_path ? 0 : error_oom(err, errlen);
	}
	if (!strcmp(key, "transport"))
		return cli_transport("vsock", val, &c->transport, err, errlen);
	return error_set(err, errlen, -EINVAL, "--vsock: unknown item '%s' (expected cid=, uds=, transport=)",
			 key);
}

int vsock_config_from_cli(const char *arg, struct vsock_config *out, char *err, size_t errlen)
{
	struct vsock_config c = { 0 };
	memset(out, 0, sizeof(*out));
	int r = split_kv(arg, &c, vsock_kv, err, errlen);
	if (r == 0 && (!c.guest_cid || !c.uds_path))
		r = error_set(err, errlen, -EINVAL, "--vsock: expected cid=N,uds=PATH");
	if (r < 0) {
		vsock_config_free(&c);
		return r;
	}
	*out = c;
	return 0;
}

static int rng_kv(void *ctx, char *key, char *val, bool first, char *err, size_t errlen)
{
	struct entropy_config *c = ctx;
	(void)first;
	if (!strcmp(key, "transport"))
		return cli_transport("rng", val, &c->transport, err, errlen);
	return error_set(err, errlen, -EINVAL, "--rng: unknown item '%s' (expected transport=pci|mmio)", key);
}

int entropy_config_from_cli(const char *arg, struct entropy_config *out, char *err, size_t errlen)
{
	struct entropy_config c = { 0 };
	memset(out, 0, sizeof(*out));
	int r = arg && *arg ? split_kv(arg, &c, rng_kv, err, errlen) : 0;
	if (r < 0)
		return r;
	*out = c;
	return 0;
}

int devices_split_kv(const char *arg, void *ctx, devices_kv_fn fn, char *err, size_t errlen)
{
	return split_kv(arg, ctx, fn, err, errlen);
}
