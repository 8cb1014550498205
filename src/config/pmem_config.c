/* Firecracker's Pmem objects and the VM definition's pmem list: see pmem_config.h. */
#include "config/pmem_config.h"
#include "config/devices_internal.h"
#include "config/vm_config.h"
#include "util/error.h"
#include "util/json_util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* "where.key" or just "key". */
#define FIELD(where, key) (where) && *(where) ? (where) : "", (where) && *(where) ? "." : "", (key)

static int get_string(json_t *obj, const char *where, const char *key, char **out, char *err, size_t errlen)
{
	json_t *v = json_object_get(obj, key);
	if (!v || json_is_null(v))
		return error_set(err, errlen, -EINVAL, "%s%s%s: missing required field", FIELD(where, key));
	if (!json_is_string(v))
		return error_set(err, errlen, -EINVAL, "%s%s%s: expected a string", FIELD(where, key));
	if (json_string_length(v) == 0)
		return error_set(err, errlen, -EINVAL, "%s%s%s: must not be empty", FIELD(where, key));
	if (strlen(json_string_value(v)) != json_string_length(v))
		return error_set(err, errlen, -EINVAL, "%s%s%s: contains a NUL character", FIELD(where, key));
	*out = strdup(json_string_value(v));
	return *out ? 0 : error_oom(err, errlen);
}

void pmem_config_free(struct pmem_config *c)
{
	free(c->id);
	free(c->path_on_host);
	memset(c, 0, sizeof(*c));
}

int pmem_config_copy(struct pmem_config *dst, const struct pmem_config *src)
{
	*dst = *src;
	dst->id = src->id ? strdup(src->id) : NULL;
	dst->path_on_host = src->path_on_host ? strdup(src->path_on_host) : NULL;
	if ((src->id && !dst->id) || (src->path_on_host && !dst->path_on_host)) {
		pmem_config_free(dst);
		return -ENOMEM;
	}
	return 0;
}

int pmem_config_from_json(json_t *obj, const char *where, struct pmem_config *out, char *err, size_t errlen)
{
	static const char *const keys[] = { "id", "path_on_host", "root_device", "read_only", "rate_limiter", NULL };
	struct pmem_config c = { 0 };
	int r;
	memset(out, 0, sizeof(*out));
	if (!json_is_object(obj))
		return error_set(err, errlen, -EINVAL, "%s: expected an object",
				 where && *where ? where : "pmem");
	if ((r = json_check_keys(obj, where, keys, err, errlen)) < 0 ||
	    (r = get_string(obj, where, "id", &c.id, err, errlen)) < 0 ||
	    (r = devices_check_id(c.id, where, "id", err, errlen)) < 0 ||
	    (r = get_string(obj, where, "path_on_host", &c.path_on_host, err, errlen)) < 0 ||
	    (r = json_get_bool(obj, where, "root_device", false, &c.root_device, err, errlen)) < 0 ||
	    (r = json_get_bool(obj, where, "read_only", false, &c.read_only, err, errlen)) < 0 ||
	    (r = rate_limiter_config_from_json(obj, where, "rate_limiter", &c.rate_limiter, err, errlen)) < 0) {
		pmem_config_free(&c);
		return r;
	}
	*out = c;
	return 0;
}

json_t *pmem_config_to_json(const struct pmem_config *c)
{
	json_t *o = json_pack("{s:s, s:s, s:b, s:b}", "id", c->id ? c->id : "", "path_on_host",
			      c->path_on_host ? c->path_on_host : "", "root_device", c->root_device,
			      "read_only", c->read_only);
	if (o)
		rate_limiter_config_to_json(o, "rate_limiter", &c->rate_limiter);
	return o;
}

int pmem_update_from_json(json_t *obj, char **id, struct rate_limiter_config *rl, char *err, size_t errlen)
{
	static const char *const keys[] = { "id", "rate_limiter", NULL };
	int r;
	*id = NULL;
	memset(rl, 0, sizeof(*rl));
	if (!json_is_object(obj))
		return error_set(err, errlen, -EINVAL, "pmem: expected an object");
	if ((r = json_check_keys(obj, NULL, keys, err, errlen)) < 0 ||
	    (r = get_string(obj, NULL, "id", id, err, errlen)) < 0 ||
	    (r = rate_limiter_config_from_json(obj, NULL, "rate_limiter", rl, err, errlen)) < 0) {
		free(*id);
		*id = NULL;
		return r;
	}
	return 0;
}

static int pmem_kv(void *ctx, char *key, char *val, bool first, char *err, size_t errlen)
{
	struct pmem_config *c = ctx;
	if (first && !val) {
		c->path_on_host = strdup(key);
		return c->path_on_host ? 0 : error_oom(err, errlen);
	}
	if (first)
		return error_set(err, errlen, -EINVAL,
				 "--pmem: the first item must be the file's path, not '%s=%s'", key, val);
	bool flag = !strcmp(key, "ro") || !strcmp(key, "readonly") || !strcmp(key, "root");
	if (!flag && strcmp(key, "id") && strcmp(key, "transport"))
		return error_set(err, errlen, -EINVAL,
				 "--pmem: unknown item '%s' (expected ro, root, id=NAME, transport=)", key);
	if (flag && val)
		return error_set(err, errlen, -EINVAL, "--pmem: '%s' takes no value", key);
	if (!flag && (!val || !*val))
		return error_set(err, errlen, -EINVAL, "--pmem: '%s' needs a value (%s=...)", key, key);
	if (!strcmp(key, "ro") || !strcmp(key, "readonly"))
		c->read_only = true;
	else if (!strcmp(key, "root"))
		c->root_device = true;
	else if (!strcmp(key, "id")) {
		if (devices_check_id(val, "--pmem", "id", err, errlen) < 0)
			return -EINVAL;
		free(c->id);
		if (!(c->id = strdup(val)))
			return error_oom(err, errlen);
	} else if (virtio_transport_from_name(val, &c->transport) < 0) {
		return error_set(err, errlen, -EINVAL, "--pmem: transport must be pci or mmio, not '%s'",
				 val);
	}
	return 0;
}

int pmem_config_from_cli(const char *arg, unsigned index, struct pmem_config *out, char *err, size_t errlen)
{
	struct pmem_config c = { 0 };
	memset(out, 0, sizeof(*out));
	if (!arg || !*arg)
		return error_set(err, errlen, -EINVAL, "--pmem: expected PATH[,ro][,root][,id=NAME]");
	int r = devices_split_kv(arg, &c, pmem_kv, err, errlen);
	if (r == 0 && !c.path_on_host)
		r = error_set(err, errlen, -EINVAL, "--pmem: no file in '%s'", arg);
	if (r == 0 && !c.id) {
		char id[32];
		snprintf(id, sizeof(id), "pmem%u", index);
		if (!(c.id = strdup(id)))
			r = error_oom(err, errlen);
	}
	if (r < 0) {
		pmem_config_free(&c);
		return r;
	}
	*out = c;
	return 0;
}

/* ---- the VM definition's list ---- */

int pmem_root_index(const struct vm_config *cfg)
{
	for (unsigned i = 0; i < cfg->npmem; i++)
		if (cfg->pmem[i].root_device)
			return (int)i;
	return -1;
}

static int root_drive(const struct vm_config *cfg)
{
	for (unsigned i = 0; i < cfg->ndrives; i++)
		if (cfg->drives[i].is_root_device)
			return (int)i;
	return -1;
}

int vm_config_add_pmem(struct vm_config *cfg, struct pmem_config *p, char *err, size_t errlen)
{
	for (unsigned i = 0; i < cfg->npmem; i++) {
		if (!strcmp(cfg->pmem[i].id, p->id))
			return error_set(err, errlen, -EINVAL, "pmem device '%s' is defined twice", p->id),
			       -EEXIST;
		if (p->root_device && cfg->pmem[i].root_device)
			return error_set(err, errlen, -EINVAL,
					 "pmem device '%s': '%s' is already the root device", p->id,
					 cfg->pmem[i].id),
			       -EEXIST;
	}
	int d = root_drive(cfg);
	if (p->root_device && d >= 0)
		return error_set(err, errlen, -EINVAL,
				 "pmem device '%s': drive '%s' is already the root device", p->id,
				 cfg->drives[d].drive_id),
		       -EEXIST;
	if (cfg->npmem == PMEM_MAX_DEVICES)
		return error_set(err, errlen, -EINVAL, "at most %d pmem devices", PMEM_MAX_DEVICES), -ENOSPC;
	cfg->pmem[cfg->npmem++] = *p;
	memset(p, 0, sizeof(*p));
	return 0;
}

int pmem_check_root(const struct vm_config *cfg, char *err, size_t errlen)
{
	int p = pmem_root_index(cfg), d = root_drive(cfg);
	if (p < 0)
		return 0;
	if (d >= 0)
		return error_set(err, errlen, -EINVAL,
				 "pmem device '%s' and drive '%s' are both the root device", cfg->pmem[p].id,
				 cfg->drives[d].drive_id);
	for (unsigned i = (unsigned)p + 1; i < cfg->npmem; i++)
		if (cfg->pmem[i].root_device)
			return error_set(err, errlen, -EINVAL,
					 "pmem devices '%s' and '%s' are both the root device",
					 cfg->pmem[p].id, cfg->pmem[i].id);
	return 0;
}

void pmem_root_cmdline(const struct vm_config *cfg, char *buf, size_t len)
{
	int i = pmem_root_index(cfg);
	if (!len)
		return;
	buf[0] = '\0';
	/* The guest names the devices /dev/pmem0, 1, ... in the order they are configured (the
	 * order petrel creates them in); the root file system is mounted ro or rw as the device. */
	if (i >= 0)
		snprintf(buf, len, " root=/dev/pmem%d %s", i, cfg->pmem[i].read_only ? "ro" : "rw");
}

void pmem_section_free(struct vm_config *cfg)
{
	for (unsigned i = 0; i < cfg->npmem; i++)
		pmem_config_free(&cfg->pmem[i]);
	cfg->npmem = 0;
}

int pmem_section_from_json(json_t *arr, struct vm_config *cfg, char *err, size_t errlen)
{
	if (json_is_null(arr))
		return 0;
	if (!json_is_array(arr))
		return error_set(err, errlen, -EINVAL, "pmem: expected an array");
	pmem_section_free(cfg);
	size_t i;
	json_t *el;
	json_array_foreach(arr, i, el) {
		char where[32], msg[256];
		struct pmem_config p;
		snprintf(where, sizeof(where), "pmem[%zu]", i);
		int r = pmem_config_from_json(el, where, &p, err, errlen);
		if (r < 0)
			return r;
		r = vm_config_add_pmem(cfg, &p, msg, sizeof(msg));
		pmem_config_free(&p);
		if (r < 0)
			return error_set(err, errlen, -EINVAL, "%s: %s", where, msg);
	}
	return 0;
}

json_t *pmem_section_to_json(const struct vm_config *cfg)
{
	json_t *a = json_array();
	for (unsigned i = 0; a && i < cfg->npmem; i++) {
		json_t *o = pmem_config_to_json(&cfg->pmem[i]);
		if (!o || json_array_append_new(a, o) < 0) {
			json_decref(a);
			return NULL;
		}
	}
	return a;
}
