/* cloud-init's NoCloud seed (seed.h): the files cloud-init reads from a drive labelled
 * "cidata". JSON is written where cloud-init expects YAML: YAML 1.1 (PyYAML, cloud-init's
 * parser) reads JSON with a space after each ':' and ',' as jansson writes it, and nothing of the
 * definition then needs YAML's quoting rules. */
#include "manager/cloudinit/seed.h"
#include "manager/cloudinit/ci_def.h"
#include "util/error.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const ci_file_names[CI_NFILES] = { "meta-data", "user-data", "network-config", "vendor-data" };

#define SUDO_ALL "ALL=(ALL) NOPASSWD:ALL"
#define JSON_FLAGS (JSON_INDENT(2) | JSON_PRESERVE_ORDER)

/* Our users as cloud-config's "users" (cloud-init's names: passwd is the hash; lock_passwd
 * false with one, or cloud-init locks it; sudo: a sudoers rule). */
static json_t *users_config(json_t *users)
{
	json_t *out = json_array();
	size_t i;
	json_t *u;
	json_array_foreach(users, i, u) {
		json_t *o = json_pack("{s:O}", "name", json_object_get(u, "name"));
		json_t *keys = json_object_get(u, "ssh_authorized_keys"), *pw = json_object_get(u, "passwd");
		json_t *sudo = json_object_get(u, "sudo"), *shell = json_object_get(u, "shell");
		if (!o || !out)
			goto oom;
		if (keys)
			json_object_set(o, "ssh_authorized_keys", keys);
		if (pw) {
			json_object_set(o, "passwd", pw);
			json_object_set_new(o, "lock_passwd", json_false());
		}
		if (json_is_true(sudo))
			json_object_set_new(o, "sudo", json_string(SUDO_ALL));
		else if (json_is_string(sudo))
			json_object_set(o, "sudo", sudo);
		if (shell)
			json_object_set(o, "shell", shell);
		if (json_array_append_new(out, o) < 0)
			goto oom;
	}
	return out;
oom:
	json_decref(out);
	return NULL;
}

/* "#cloud-config" and the structured fields (today: the users), or NULL (none, or no memory:
 * *oom). */
static char *cloud_config(json_t *section, bool *oom)
{
	json_t *users = json_object_get(section, "users");
	*oom = false;
	if (!json_array_size(users))
		return NULL;
	json_t *cfg = json_object();
	char *body = NULL, *text = NULL;
	if (cfg && json_object_set_new(cfg, "users", users_config(users)) == 0)
		body = json_dumps(cfg, JSON_FLAGS);
	json_decref(cfg);
	if (!body || asprintf(&text, "#cloud-config\n%s\n", body) < 0)
		text = NULL;
	free(body);
	*oom = !text;
	return text;
}

/* The MIME type of a user-data part, by its first line (what cloud-init's own user-data
 * handling reads it as); NULL: a MIME message of its own, written as it is. */
static const char *part_type(const char *s)
{
	static const struct { const char *start, *type; } types[] = {
		{ "#cloud-config", "text/cloud-config" }, { "#!", "text/x-shellscript" },
		{ "#include", "text/x-include-url" }, { "#cloud-boothook", "text/cloud-boothook" },
		{ "#part-handler", "text/part-handler" }, { "#upstart-job", "text/upstart-job" },
	};
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		if (!strncmp(s, types[i].start, strlen(types[i].start)))
			return types[i].type;
	return NULL;
}

/* ours and the user's user-data in one multipart/mixed message, ours first (a later
 * cloud-config part's keys win: the user's own file says the last word). The boundary is one
 * neither part contains. */
static char *multipart(const char *ours, const char *theirs)
{
	char boundary[64];
	for (unsigned n = 0;; n++) {
		snprintf(boundary, sizeof(boundary), "==petrel-cloud-init-%u==", n);
		if (!strstr(ours, boundary) && !strstr(theirs, boundary))
			break;
	}
	const char *type = part_type(theirs);
	char *text = NULL, *head = NULL;
	if (type && asprintf(&head, "Content-Type: %s; charset=\"utf-8\"\nMIME-Version: 1.0\n"
			     "Content-Transfer-Encoding: 8bit\nContent-Disposition: attachment; filename=\"user-data\"\n\n",
			     type) < 0)
		return NULL;
	size_t tl = strlen(theirs);
	int r = asprintf(&text,
			 "Content-Type: multipart/mixed; boundary=\"%s\"\nMIME-Version: 1.0\n\n"
			 "--%s\nContent-Type: text/cloud-config; charset=\"utf-8\"\nMIME-Version: 1.0\n"
			 "Content-Transfer-Encoding: 8bit\nContent-Disposition: attachment; filename=\"petrel.cfg\"\n\n%s"
			 "--%s\n%s%s%s--%s--\n",
			 boundary, boundary, ours, boundary, head ? head : "", theirs,
			 tl && theirs[tl - 1] == '\n' ? "" : "\n", boundary);
	free(head);
	return r < 0 ? NULL : text;
}

static int user_data(json_t *section, char **out)
{
	bool oom;
	char *ours = cloud_config(section, &oom);
	const char *theirs = json_string_value(json_object_get(section, "user_data"));
	if (oom)
		return -ENOMEM;
	if (ours && theirs) {
		*out = multipart(ours, theirs);
		free(ours);
	} else {
		/* NoCloud wants the file even when it says nothing */
		*out = ours ? ours : strdup(theirs ? theirs : "#cloud-config\n");
	}
	return *out ? 0 : -ENOMEM;
}

static char *meta_data(json_t *section, const char *vm_name, const char *uuid)
{
	json_t *md = json_pack("{s:s, s:s}", "instance-id", uuid, "local-hostname", ci_hostname(section, vm_name));
	char *body = md ? json_dumps(md, JSON_FLAGS) : NULL, *text = NULL;
	json_decref(md);
	if (body && asprintf(&text, "%s\n", body) < 0)
		text = NULL;
	free(body);
	return text;
}

int ci_seed_make(json_t *section, const char *vm_name, const char *uuid, struct ci_seed *seed, char *err,
		 size_t errlen)
{
	memset(seed, 0, sizeof(*seed));
	if (!json_is_object(section))
		return error_set(err, errlen, -EINVAL, "%s: expected an object", CI_SECTION);
	int e = -ENOMEM;
	if (!(seed->text[CI_META_DATA] = meta_data(section, vm_name, uuid)) ||
	    user_data(section, &seed->text[CI_USER_DATA]) < 0)
		goto fail;
	json_t *net = json_object_get(section, "network_config");
	if (net) {
		char *body = json_dumps(net, JSON_FLAGS);
		if (!body || asprintf(&seed->text[CI_NETWORK_CONFIG], "%s\n", body) < 0)
			seed->text[CI_NETWORK_CONFIG] = NULL;
		free(body);
		if (!seed->text[CI_NETWORK_CONFIG])
			goto fail;
	}
	const char *vendor = json_string_value(json_object_get(section, "vendor_data"));
	if (vendor && !(seed->text[CI_VENDOR_DATA] = strdup(vendor)))
		goto fail;
	for (int i = 0; i < CI_NFILES; i++)
		seed->len[i] = seed->text[i] ? strlen(seed->text[i]) : 0;
	return 0;
fail:
	ci_seed_free(seed);
	return error_set(err, errlen, e, "out of memory making the cloud-init seed");
}

size_t ci_seed_size(const struct ci_seed *seed)
{
	size_t n = 0;
	for (int i = 0; i < CI_NFILES; i++)
		n += seed->len[i];
	return n;
}

void ci_seed_free(struct ci_seed *seed)
{
	for (int i = 0; i < CI_NFILES; i++) {
		free(seed->text[i]);
		seed->text[i] = NULL;
		seed->len[i] = 0;
	}
}
