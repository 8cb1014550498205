/* petrel's virtio-fs device objects and the VM definition's fs list: see fs_config.h. */
#include "config/fs_config.h"
#include "config/devices_internal.h"
#include "config/vm_config.h"
#include "util/error.h"
#include "util/json_util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define WHERE(w) ((w) && *(w) ? (w) : "fs")

void fs_config_free(struct fs_config *c)
{
	free(c->id);
	free(c->socket);
	free(c->tag);
	memset(c, 0, sizeof(*c));
}

static int get_string(json_t *obj, const char *where, const char *key, size_t max, char **out, char *err,
		      size_t errlen)
{
	json_t *v = json_object_get(obj, key);
	if (!v || json_is_null(v))
		return error_set(err, errlen, -EINVAL, "%s.%s: missing required field", WHERE(where), key);
	if (!json_is_string(v))
		return error_set(err, errlen, -EINVAL, "%s.%s: expected a string", WHERE(where), key);
	size_t n = json_string_length(v);
	if (n == 0 || n > max)
		return error_set(err, errlen, -EINVAL, "%s.%s: must be 1 to %zu bytes long (it is %zu)",
				 WHERE(where), key, max, n);
	if (strlen(json_string_value(v)) != n)
		return error_set(err, errlen, -EINVAL, "%s.%s: contains a NUL character", WHERE(where), key);
	*out = strdup(json_string_value(v));
	return *out ? 0 : error_oom(err, errlen);
}

static int check_queue_size(unsigned n, const char *where, char *err, size_t errlen)
{
	if (n < 16 || n > 1024 || (n & (n - 1)))
		return error_set(err, errlen, -EINVAL,
				 "%s.queue_size: must be a power of two from 16 to 1024, not %u",
				 WHERE(where), n);
	return 0;
}

int fs_config_from_json(json_t *obj, const char *where, struct fs_config *out, char *err, size_t errlen)
{
	static const char *const keys[] = { "id", "socket", "tag", "queue_size", "num_request_queues", NULL };
	struct fs_config c = { .queue_size = FS_QUEUE_SIZE_DEFAULT, .num_request_queues = 1 };
	uint64_t qs = FS_QUEUE_SIZE_DEFAULT, nrq = 1;
	int r;
	memset(out, 0, sizeof(*out));
	if (!json_is_object(obj))
		return error_set(err, errlen, -EINVAL, "%s: expected an object", WHERE(where));
	if ((r = json_check_keys(obj, where, keys, err, errlen)) < 0 ||
	    (r = get_string(obj, where, "id", DEVICES_ID_MAX, &c.id, err, errlen)) < 0 ||
	    (r = devices_check_id(c.id, where, "id", err, errlen)) < 0 ||
	    (r = get_string(obj, where, "socket", FS_SOCKET_MAX, &c.socket, err, errlen)) < 0 ||
	    (r = get_string(obj, where, "tag", FS_TAG_MAX, &c.tag, err, errlen)) < 0 ||
	    (r = json_get_uint(obj, where, "queue_size", false, 1, 65536, &qs, err, errlen)) < 0 ||
	    (r = check_queue_size((unsigned)qs, where, err, errlen)) < 0 ||
	    (r = json_get_uint(obj, where, "num_request_queues", false, 1, FS_MAX_REQUEST_QUEUES, &nrq, err,
			       errlen)) < 0) {
		fs_config_free(&c);
		return r < 0 ? r : -EINVAL;
	}
	c.queue_size = (unsigned)qs;
	c.num_request_queues = (unsigned)nrq;
	*out = c;
	return 0;
}

json_t *fs_config_to_json(const struct fs_config *c)
{
	return json_pack("{s:s, s:s, s:s, s:i, s:i}", "id", c->id ? c->id : "", "socket", c->socket ? c->socket : "",
			 "tag", c->tag ? c->tag : "", "queue_size", (json_int_t)c->queue_size, "num_request_queues",
			 (json_int_t)c->num_request_queues);
}

static int set_str(char **dst, const char *val, char *err, size_t errlen)
{
	free(*dst);
	*dst = strdup(val);
	return *dst ? 0 : error_oom(err, errlen);
}

static int fs_kv(void *ctx, char *key, char *val, bool first, char *err, size_t errlen)
{
	struct fs_config *c = ctx;
	if (first && !val)
		return set_str(&c->socket, key, err, errlen);
	if (first)
		return error_set(err, errlen, -EINVAL,
				 "--fs: the first item must be the back end's socket, not '%s=%s'", key, val);
	if (!val || !*val)
		return error_set(err, errlen, -EINVAL, "--fs: '%s' needs a value (%s=...)", key, key);
	char *end;
	if (!strcmp(key, "tag")) {
		if (strlen(val) > FS_TAG_MAX)
			return error_set(err, errlen, -EINVAL, "--fs: tag '%s' is longer than %d bytes", val,
					 FS_TAG_MAX);
		return set_str(&c->tag, val, err, errlen);
	}
	if (!strcmp(key, "id"))
		return devices_check_id(val, "--fs", "id", err, errlen) < 0 ? -EINVAL : set_str(&c->id, val, err, errlen);
	if (!strcmp(key, "transport"))
		return virtio_transport_from_name(val, &c->transport) < 0
			? error_set(err, errlen, -EINVAL, "--fs: transport must be pci or mmio, not '%s'",
				    val)
			: 0;
	unsigned long n = strtoul(val, &end, 10);
	if (*end || n > 65536)
		return error_set(err, errlen, -EINVAL, "--fs: %s must be a number, not '%s'", key, val);
	if (!strcmp(key, "queue_size")) {
		c->queue_size = (unsigned)n;
		return check_queue_size(c->queue_size, "--fs", err, errlen);
	}
	if (!strcmp(key, "num_request_queues")) {
		c->num_request_queues = (unsigned)n;
		return n < 1 || n > FS_MAX_REQUEST_QUEUES
			? error_set(err, errlen, -EINVAL, "--fs: num_request_queues must be 1 to %d",
				    FS_MAX_REQUEST_QUEUES)
			: 0;
	}
	return error_set(err, errlen, -EINVAL,
			 "--fs: unknown item '%s' (expected tag=, id=, queue_size=, "
			 "num_request_queues=, transport=)",
			 key);
}

int fs_config_from_cli(const char *arg, unsigned index, struct fs_config *out, char *err, size_t errlen)
{
	struct fs_config c = { .queue_size = FS_QUEUE_SIZE_DEFAULT, .num_request_queues = 1 };
	memset(out, 0, sizeof(*out));
	if (!arg || !*arg)
		return error_set(err, errlen, -EINVAL,
				 "--fs: expected SOCKET,tag=TAG[,id=NAME][,queue_size=N]");
	int r = devices_split_kv(arg, &c, fs_kv, err, errlen);
	if (r == 0 && (!c.socket || strlen(c.socket) > FS_SOCKET_MAX))
		r = error_set(err, errlen, -EINVAL, "--fs: no socket path (or one over %d bytes) in '%s'",
			      FS_SOCKET_MAX, arg);
	if (r == 0 && !c.tag)
		r = error_set(err, errlen, -EINVAL, "--fs: no tag=TAG in '%s' (what the guest mounts)", arg);
	if (r == 0 && !c.id) {
		char id[32];
		snprintf(id, sizeof(id), "fs%u", index);
		r = set_str(&c.id, id, err, errlen);
	}
	if (r < 0) {
		fs_config_free(&c);
		return r;
	}
	*out = c;
	return 0;
}

int fs_check_socket(const struct fs_config *c, char *err, size_t errlen)
{
	struct stat st;
	if (stat(c->socket, &st) < 0) {
		int e = errno;
		error_set(err, errlen, -EINVAL,
			  "fs '%s': socket '%s': %s (start the back end, e.g. virtiofsd "
			  "--socket-path=%s, first)",
			  c->id, c->socket, strerror(e), c->socket);
		return -e;
	}
	if (!S_ISSOCK(st.st_mode))
		return error_set(err, errlen, -EINVAL, "fs '%s': '%s' is not a Unix socket", c->id,
				 c->socket);
	return 0;
}

/* ---- the VM definition's list ---- */

int vm_config_put_fs(struct vm_config *cfg, struct fs_config *c, char *err, size_t errlen)
{
	int found = -1;
	for (unsigned i = 0; i < cfg->nfs; i++) {
		if (!strcmp(cfg->fs[i].id, c->id))
			found = (int)i;
		else if (!strcmp(cfg->fs[i].tag, c->tag))
			return error_set(err, errlen, -EINVAL, "fs '%s': tag '%s' is already fs '%s''s",
					 c->id, c->tag, cfg->fs[i].id),
			       -EEXIST;
	}
	if (found < 0 && cfg->nfs == FS_MAX_DEVICES)
		return error_set(err, errlen, -EINVAL, "at most %d virtio-fs devices", FS_MAX_DEVICES),
		       -ENOSPC;
	if (found >= 0)
		fs_config_free(&cfg->fs[found]);
	cfg->fs[found >= 0 ? (unsigned)found : cfg->nfs++] = *c;
	memset(c, 0, sizeof(*c));
	return 0;
}

int fs_check_config(const struct vm_config *cfg, char *err, size_t errlen)
{
	if (cfg->nfs && cfg->has_memory_hotplug)
		return error_set(err, errlen, -EINVAL,
				 "fs '%s': virtio-fs and memory-hotplug (virtio-mem) do not go "
				 "together yet: the hot-pluggable memory is not shared with the back end",
				 cfg->fs[0].id);
	return 0;
}

void fs_section_free(struct vm_config *cfg)
{
	for (unsigned i = 0; i < cfg->nfs; i++)
		fs_config_free(&cfg->fs[i]);
	cfg->nfs = 0;
}

int fs_section_from_json(json_t *arr, struct vm_config *cfg, char *err, size_t errlen)
{
	if (json_is_null(arr))
		return 0;
	if (!json_is_array(arr))
		return error_set(err, errlen, -EINVAL, "fs: expected an array");
	fs_section_free(cfg);
	size_t i;
	json_t *el;
	json_array_foreach(arr, i, el) {
		char where[32], msg[256];
		struct fs_config c;
		snprintf(where, sizeof(where), "fs[%zu]", i);
		int r = fs_config_from_json(el, where, &c, err, errlen);
		if (r < 0)
			return r;
		for (unsigned k = 0; k < cfg->nfs; k++)
			if (!strcmp(cfg->fs[k].id, c.id))
				r = error_set(err, errlen, -EINVAL, "%s: fs '%s' is defined twice", where,
					      c.id);
		if (r == 0 && (r = vm_config_put_fs(cfg, &c, msg, sizeof(msg))) < 0)
			r = error_set(err, errlen, -EINVAL, "%s: %s", where, msg);
		fs_config_free(&c);
		if (r < 0)
			return r;
	}
	return 0;
}

json_t *fs_section_to_json(const struct vm_config *cfg)
{
	json_t *a = json_array();
	for (unsigned i = 0; a && i < cfg->nfs; i++) {
		json_t *o = fs_config_to_json(&cfg->fs[i]);
		if (!o || json_array_append_new(a, o) < 0) {
			json_decref(a);
			return NULL;
		}
	}
	return a;
}
