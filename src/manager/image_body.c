/* The bodies of POST /images and POST /vms/from-image (images.h): untrusted text from petreld's
 * API, parsed and checked here, apart from what acts on them (images.c, from_image.c), so that
 * the fuzz target (tests/fuzz/fuzz_manager_image.c) links only the parsers. */
#include "manager/images.h"
#include "manager/verbs.h"
#include "util/error.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KEY_MAX 8192            /* one SSH public key line */
#define VCPUS_MAX 256
#define MEMORY_MIB_MAX (1u << 22)   /* 4 TiB */
#define DISK_GIB_MAX (1u << 16)     /* 64 TiB */

/* A printable string: no control characters (a line of a file cloud-init writes). */
static bool printable(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return false;
	return true;
}

static int get_name(json_t *o, const char *key, bool required, char out[VM_NAME_MAX + 1], char *err, size_t errlen)
{
	json_t *v = json_object_get(o, key);
	if (!v && !required)
		return 0;
	if (!json_is_string(v) || !mgr_vm_name_ok(json_string_value(v)))
		return error_set(err, errlen, -EINVAL, "%s: expected a name, 1 to %d of [A-Za-z0-9-], not starting with '-'",
				 key, VM_NAME_MAX);
	snprintf(out, VM_NAME_MAX + 1, "%s", json_string_value(v));
	return 0;
}

static int get_uint(json_t *o, const char *key, unsigned max, unsigned *out, char *err, size_t errlen)
{
	json_t *v = json_object_get(o, key);
	if (!v)
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > max)
		return error_set(err, errlen, -EINVAL, "%s: expected an integer from 1 to %u", key, max);
	*out = (unsigned)json_integer_value(v);
	return 0;
}

/* A string of 1 to max - 1 printable characters into out (max bytes). */
static int get_text(json_t *o, const char *key, size_t max, char *out, char *err, size_t errlen)
{
	json_t *v = json_object_get(o, key);
	if (!v)
		return 0;
	const char *s = json_string_value(v);
	if (!s || !*s || strlen(s) >= max || !printable(s))
		return error_set(err, errlen, -EINVAL, "%s: expected 1 to %zu printable characters", key, max - 1);
	snprintf(out, max, "%s", s);
	return 0;
}

int image_import_parse(const char *body, size_t len, struct image_import *q, char *err, size_t errlen)
{
	static const char *const keys[] = { "name", "path", "move", NULL };
	memset(q, 0, sizeof(*q));
	json_t *o = json_loadb(body, len, JSON_REJECT_DUPLICATES, NULL), *v;
	int e = json_is_object(o) ? def_only_keys(o, "POST /images", keys, err, errlen)
				  : error_set(err, errlen, -EINVAL, "expected {\"name\": NAME, \"path\": FILE, \"move\": false}");
	if (!e)
		e = get_name(o, "name", true, q->name, err, errlen);
	const char *path = json_string_value(json_object_get(o, "path"));
	if (!e && (!path || path[0] != '/' || strlen(path) >= sizeof(q->path) || !printable(path)))
		e = error_set(err, errlen, -EINVAL, "path: expected the absolute path of a file on this host");
	if (!e)
		snprintf(q->path, sizeof(q->path), "%s", path);
	if (!e && (v = json_object_get(o, "move"))) {
		if (json_is_boolean(v))
			q->move = json_is_true(v);
		else
			e = error_set(err, errlen, -EINVAL, "move: expected true or false");
	}
	json_decref(o);
	return e;
}

void image_vm_name(const struct image_vm_req *q, unsigned i, char out[VM_NAME_MAX + 1])
{
	if (q->count == 1)
		snprintf(out, VM_NAME_MAX + 1, "%s", q->name);
	else if (snprintf(out, VM_NAME_MAX + 1, "%s-%u", q->name, i + 1) > VM_NAME_MAX)
		out[0] = '\0';   /* image_vm_parse refuses a name this long */
}

void image_vm_tap(const struct image_vm_req *q, unsigned i, char out[FROM_IMAGE_TAP_MAX + 1])
{
	const char *pct = strstr(q->tap, "%d");
	if (pct)
		snprintf(out, FROM_IMAGE_TAP_MAX + 1, "%.*s%u%s", (int)(pct - q->tap), q->tap, i + 1, pct + 2);
	else
		snprintf(out, FROM_IMAGE_TAP_MAX + 1, "%s", q->tap);
}

/* A Linux user's name as useradd takes it: [a-z_][a-z0-9_-]*, at most 32. */
static bool user_ok(const char *s)
{
	size_t n = strlen(s);
	if (!n || n > 32 || !strchr("abcdefghijklmnopqrstuvwxyz_", s[0]))
		return false;
	return strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789_-") == n;
}

/* The user's fields: user, ssh_authorized_keys, passwd, password. */
static int parse_user(json_t *o, struct image_vm_req *q, char *err, size_t errlen)
{
	json_t *v;
	int e;
	if ((v = json_object_get(o, "user")) && (!json_is_string(v) || !user_ok(json_string_value(v))))
		return error_set(err, errlen, -EINVAL, "user: expected a user name, [a-z_][a-z0-9_-]*, at most 32");
	if (v)
		snprintf(q->user, sizeof(q->user), "%s", json_string_value(v));
	if ((v = json_object_get(o, "ssh_authorized_keys"))) {
		size_t i;
		json_t *k;
		if (!json_is_array(v) || json_array_size(v) > FROM_IMAGE_KEYS_MAX)
			return error_set(err, errlen, -EINVAL, "ssh_authorized_keys: expected an array of at most %d keys",
					 FROM_IMAGE_KEYS_MAX);
		json_array_foreach(v, i, k) {
			const char *s = json_string_value(k);
			if (!s || !*s || strlen(s) > KEY_MAX || !printable(s))
				return error_set(err, errlen, -EINVAL, "ssh_authorized_keys[%zu]: expected one line of an "
						 "authorized_keys file (1 to %d printable characters)", i, KEY_MAX);
		}
		q->keys = json_incref(v);
	}
	if ((e = get_text(o, "passwd", sizeof(q->passwd), q->passwd, err, errlen)) < 0 ||
	    (e = get_text(o, "password", sizeof(q->password), q->password, err, errlen)) < 0)
		return e;
	if (q->passwd[0] && (q->passwd[0] != '$' || strchr(q->passwd, ':')))
		return error_set(err, errlen, -EINVAL, "passwd: expected a crypt(3) hash (\"$6$...\", \"$y$...\"): "
				 "a password in clear goes in \"password\"");
	if (q->passwd[0] && q->password[0])
		return error_set(err, errlen, -EINVAL, "passwd and password: one or the other");
	if (q->user[0] && !q->keys && !q->passwd[0] && !q->password[0])
		return error_set(err, errlen, -EINVAL, "user: give it ssh_authorized_keys, a passwd or a password");
	if (!q->user[0] && (q->keys || q->passwd[0] || q->password[0]))
		snprintf(q->user, sizeof(q->user), "debian");
	return 0;
}

int image_vm_parse(const char *body, size_t len, struct image_vm_req *q, char *err, size_t errlen)
{
	static const char *const keys[] = { "name", "image", "vcpus", "memory_mib", "disk_size_gib", "network", "tap",
					    "ssh_authorized_keys", "user", "passwd", "password", "cloud_init", "count",
					    "start", "boot", NULL };
	static const char *const boots[] = { [IMAGE_BOOT_DISK] = "disk", [IMAGE_BOOT_SEABIOS] = "seabios",
					     [IMAGE_BOOT_OVMF] = "ovmf" };
	memset(q, 0, sizeof(*q));
	q->count = 1;
	q->vcpus = 1;
	q->memory_mib = 512;
	json_t *o = json_loadb(body, len, JSON_REJECT_DUPLICATES, NULL), *v;
	int e = json_is_object(o) ? def_only_keys(o, "from-image", keys, err, errlen)
				  : error_set(err, errlen, -EINVAL, "expected {\"name\": NAME, \"image\": IMAGE, ...}");
	if (!e && !(e = get_name(o, "name", true, q->name, err, errlen)) && !(e = get_name(o, "image", true, q->image, err, errlen)) &&
	    !(e = get_name(o, "network", false, q->network, err, errlen)) &&
	    !(e = get_uint(o, "count", FROM_IMAGE_MAX, &q->count, err, errlen)) &&
	    !(e = get_uint(o, "vcpus", VCPUS_MAX, &q->vcpus, err, errlen)) &&
	    !(e = get_uint(o, "memory_mib", MEMORY_MIB_MAX, &q->memory_mib, err, errlen)) &&
	    !(e = get_uint(o, "disk_size_gib", DISK_GIB_MAX, &q->disk_size_gib, err, errlen)))
		e = parse_user(o, q, err, errlen);
	char last[VM_NAME_MAX + 1];
	if (!e && (image_vm_name(q, q->count - 1, last), !last[0]))
		e = error_set(err, errlen, -EINVAL, "name: '%s-%u' would be longer than %d characters", q->name, q->count,
			      VM_NAME_MAX);
	if (!e && (v = json_object_get(o, "tap"))) {
		const char *tap = json_string_value(v);
		if (!tap || !tap_pattern_ok(tap) || strlen(tap) > FROM_IMAGE_TAP_MAX)
			e = error_set(err, errlen, -EINVAL, "tap: expected a tap's name of at most %d characters "
				      "([A-Za-z0-9_.-], '%%d' once: the VM's number)", FROM_IMAGE_TAP_MAX - 2);
		else if (q->network[0])
			e = error_set(err, errlen, -EINVAL, "network and tap: one or the other");
		else if (q->count > 1 && !strstr(tap, "%d"))
			e = error_set(err, errlen, -EINVAL, "tap: %u VMs cannot share the tap '%s': put '%%d' in it (the VM's "
				      "number)", q->count, tap);
		else
			snprintf(q->tap, sizeof(q->tap), "%s", tap);
	}
	if (!e && (v = json_object_get(o, "start"))) {
		if (json_is_boolean(v))
			q->start = json_is_true(v);
		else
			e = error_set(err, errlen, -EINVAL, "start: expected true or false");
	}
	if (!e && (v = json_object_get(o, "boot"))) {
		const char *b = json_string_value(v);
		size_t i = 0;
		while (i < sizeof(boots) / sizeof(boots[0]) && (!b || strcmp(b, boots[i])))
			i++;
		if (i == sizeof(boots) / sizeof(boots[0]))
			e = error_set(err, errlen, -EINVAL, "boot: expected \"disk\", \"seabios\" or \"ovmf\"");
		else
			q->boot = (enum image_boot)i;
	}
	if (!e && (v = json_object_get(o, "cloud_init"))) {
		if (json_is_object(v))
			q->cloud_init = json_incref(v);
		else
			e = error_set(err, errlen, -EINVAL, "cloud_init: expected an object (petrel.cloud-init's fields)");
	}
	json_decref(o);
	if (e < 0)
		image_vm_req_free(q);
	return e;
}

void image_vm_req_free(struct image_vm_req *q)
{
	json_decref(q->keys);
	json_decref(q->cloud_init);
	q->keys = q->cloud_init = NULL;
	explicit_bzero(q->password, sizeof(q->password));
}
