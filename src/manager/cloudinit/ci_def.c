/* A definition's cloud-init section, checked (ci_def.h): what petreld writes into a guest's
 * seed comes from whoever may define VMs, so every field has its type, its form and a limit,
 * and an error names it. */
#include "manager/cloudinit/ci_def.h"
#include "manager/cloudinit/seed.h"
#include "manager/definition.h"
#include "util/error.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WHERE "petrel.cloud-init"

json_t *ci_section(json_t *doc)
{
	return json_object_get(json_object_get(doc, "petrel"), CI_SECTION);
}

const char *ci_hostname(json_t *section, const char *vm_name)
{
	json_t *h = json_object_get(section, "hostname");
	return json_is_string(h) ? json_string_value(h) : vm_name;
}

bool ci_hostname_ok(const char *s)
{
	size_t n = strlen(s), label = 0;
	if (n == 0 || n > CI_HOSTNAME_MAX)
		return false;
	for (size_t i = 0; i <= n; i++) {
		char c = s[i];
		if (c == '.' || c == 0) {
			if (label == 0 || label > 63 || s[i - 1] == '-')
				return false;
			label = 0;
		} else if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
			   (c == '-' && label > 0)) {
			label++;
		} else {
			return false;
		}
	}
	return true;
}

/* Printable text of one line: no control characters (a newline would start another line of
 * the file it lands in). */
static bool one_line(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return false;
	return true;
}

/* A login name as useradd takes it: [a-z_][a-z0-9_-]*, at most CI_USER_NAME_MAX. */
static bool user_name_ok(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > CI_USER_NAME_MAX || !((s[0] >= 'a' && s[0] <= 'z') || s[0] == '_'))
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_' || *s == '-'))
			return false;
	return true;
}

/* crypt(3)'s form "$id$[params$]salt$hash" (mkpasswd's output): a clear-text password is
 * refused, it would land in the guest's shadow file as a hash nothing matches. */
static bool passwd_hash_ok(const char *s)
{
	size_t n = strlen(s), dollars = 0;
	if (n < 4 || n > CI_PASSWD_MAX || s[0] != '$')
		return false;
	for (; *s; s++) {
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
		      strchr("./$=,-", *s)))
			return false;
		dollars += *s == '$';
	}
	return dollars >= 3;
}

static bool absolute_path_ok(const char *s, size_t max)
{
	size_t n = strlen(s);
	if (n < 2 || n > max || s[0] != '/')
		return false;
	for (; *s; s++)
		if ((unsigned char)*s <= 0x20 || *s == 0x7f)
			return false;
	return true;
}

static int check_keys(json_t *keys, size_t u, char *err, size_t errlen)
{
	if (!json_is_array(keys) || json_array_size(keys) > CI_KEYS_MAX)
		return error_set(err, errlen, -EINVAL, WHERE ".users[%zu].ssh_authorized_keys: expected an array of at most %d keys",
				 u, CI_KEYS_MAX);
	size_t i;
	json_t *k;
	json_array_foreach(keys, i, k) {
		const char *s = json_string_value(k);
		if (!s || !s[0] || json_string_length(k) > CI_KEY_MAX_BYTES || !one_line(s))
			return error_set(err, errlen, -EINVAL,
					 WHERE ".users[%zu].ssh_authorized_keys[%zu]: expected one line of an authorized_keys file "
					 "(\"ssh-ed25519 AAAA... comment\"), 1 to %d bytes", u, i, CI_KEY_MAX_BYTES);
	}
	return 0;
}

static int check_user(json_t *user, size_t u, char *err, size_t errlen)
{
	static const char *const keys[] = { "name", "ssh_authorized_keys", "passwd", "sudo", "shell", NULL };
	char where[64];
	snprintf(where, sizeof(where), WHERE ".users[%zu]", u);
	if (!json_is_object(user))
		return error_set(err, errlen, -EINVAL, "%s: expected an object", where);
	int e = def_only_keys(user, where, keys, err, errlen);
	if (e < 0)
		return e;
	json_t *v = json_object_get(user, "name");
	if (!json_is_string(v) || !user_name_ok(json_string_value(v)))
		return error_set(err, errlen, -EINVAL, "%s.name: expected a login name, 1 to %d of [a-z0-9_-] starting with a letter or '_'",
				 where, CI_USER_NAME_MAX);
	if ((v = json_object_get(user, "ssh_authorized_keys")) && (e = check_keys(v, u, err, errlen)) < 0)
		return e;
	if ((v = json_object_get(user, "passwd")) && (!json_is_string(v) || !passwd_hash_ok(json_string_value(v))))
		return error_set(err, errlen, -EINVAL, "%s.passwd: expected a crypt(3) hash such as \"$6$salt$...\" or \"$y$...\" "
				 "(mkpasswd's output, at most %d characters), not a clear-text password", where, CI_PASSWD_MAX);
	if ((v = json_object_get(user, "sudo")) && !json_is_boolean(v) &&
	    !(json_is_string(v) && json_string_length(v) > 0 && json_string_length(v) <= CI_SUDO_MAX &&
	      one_line(json_string_value(v))))
		return error_set(err, errlen, -EINVAL, "%s.sudo: expected true, false or one sudoers rule (\"ALL=(ALL) ALL\")", where);
	if ((v = json_object_get(user, "shell")) && (!json_is_string(v) || !absolute_path_ok(json_string_value(v), CI_SHELL_MAX)))
		return error_set(err, errlen, -EINVAL, "%s.shell: expected an absolute path such as \"/bin/bash\"", where);
	return 0;
}

/* cloud-init's network config, version 1 or 2, bare or under "network" (as a network-config
 * file has it). */
static int check_network(json_t *net, char *err, size_t errlen)
{
	json_t *inner = json_object_get(net, "network");
	json_t *o = json_is_object(inner) && json_object_size(net) == 1 ? inner : net;
	json_t *ver = json_object_get(o, "version");
	if (!json_is_object(net) || !json_is_integer(ver) || (json_integer_value(ver) != 1 && json_integer_value(ver) != 2))
		return error_set(err, errlen, -EINVAL, WHERE ".network_config: expected cloud-init's network config as an object "
				 "with \"version\": 2 (or 1), such as {\"version\": 2, \"ethernets\": {...}}");
	return 0;
}

/* The first lines cloud-init recognises a user-data (vendor-data) part by; a part that starts
 * otherwise would be ignored by the guest, silently. */
static const char *const data_starts[] = {
	"#cloud-config", "#!", "#include", "#cloud-boothook", "#part-handler", "#upstart-job",
	"Content-Type:", "MIME-Version:", NULL,
};

static int check_data(json_t *section, const char *field, char *err, size_t errlen)
{
	json_t *v = json_object_get(section, field);
	if (!v)
		return 0;
	if (!json_is_string(v))
		return error_set(err, errlen, -EINVAL, WHERE ".%s: expected a string (the whole file)", field);
	const char *s = json_string_value(v);
	if (json_string_length(v) != strlen(s))
		return error_set(err, errlen, -EINVAL, WHERE ".%s: contains a NUL character", field);
	for (const char *const *p = data_starts; *p; p++)
		if (!strncmp(s, *p, strlen(*p)))
			return 0;
	return error_set(err, errlen, -EINVAL, WHERE ".%s: expected a file cloud-init knows: \"#cloud-config\" on its first line, "
			 "a script (\"#!\"), \"#include\", \"#cloud-boothook\" or a MIME multipart message", field);
}

static int check_drives(json_t *doc, char *err, size_t errlen)
{
	size_t i;
	json_t *d;
	json_array_foreach(json_object_get(doc, "drives"), i, d) {
		json_t *id = json_object_get(d, "drive_id");
		if (json_is_string(id) && !strcmp(json_string_value(id), CI_DRIVE_ID))
			return error_set(err, errlen, -EINVAL, "drives[%zu]: drive_id '%s' is the cloud-init seed's, which petreld "
					 "attaches to a VM with a %s section: name the drive otherwise", i, CI_DRIVE_ID, WHERE);
	}
	return 0;
}

int ci_def_check(json_t *doc, const char *vm_name, const char *uuid, char *err, size_t errlen)
{
	static const char *const keys[] = { "hostname", "users", "network_config", "user_data", "vendor_data", NULL };
	json_t *sec = ci_section(doc);
	if (!sec)
		return 0;
	if (!json_is_object(sec))
		return error_set(err, errlen, -EINVAL, WHERE ": expected an object");
	int e = def_only_keys(sec, WHERE, keys, err, errlen);
	if (e < 0)
		return e;
	json_t *v = json_object_get(sec, "hostname");
	if (v && (!json_is_string(v) || !ci_hostname_ok(json_string_value(v))))
		return error_set(err, errlen, -EINVAL, WHERE ".hostname: expected a host name (labels of 1 to 63 of [A-Za-z0-9-], "
				 "not beginning or ending with '-', joined by '.'; at most %d)", CI_HOSTNAME_MAX);
	if (!v && !ci_hostname_ok(vm_name))
		return error_set(err, errlen, -EINVAL, WHERE ".hostname: the VM's name '%s' is not a host name (at most 63 "
				 "characters, no '-' last): give one", vm_name);
	if ((v = json_object_get(sec, "users"))) {
		if (!json_is_array(v) || json_array_size(v) > CI_USERS_MAX)
			return error_set(err, errlen, -EINVAL, WHERE ".users: expected an array of at most %d users", CI_USERS_MAX);
		size_t i, j;
		json_t *u;
		json_array_foreach(v, i, u) {
			if ((e = check_user(u, i, err, errlen)) < 0)
				return e;
			for (j = 0; j < i; j++)
				if (json_equal(json_object_get(json_array_get(v, j), "name"), json_object_get(u, "name")))
					return error_set(err, errlen, -EINVAL, WHERE ".users[%zu].name: '%s' is also users[%zu]'s", i,
							 json_string_value(json_object_get(u, "name")), j);
		}
	}
	if ((v = json_object_get(sec, "network_config")) && (e = check_network(v, err, errlen)) < 0)
		return e;
	if ((e = check_data(sec, "user_data", err, errlen)) < 0 || (e = check_data(sec, "vendor_data", err, errlen)) < 0 ||
	    (e = check_drives(doc, err, errlen)) < 0)
		return e;
	struct ci_seed seed;
	if ((e = ci_seed_make(sec, vm_name, uuid, &seed, err, errlen)) < 0)
		return e;
	size_t size = ci_seed_size(&seed);
	ci_seed_free(&seed);
	if (size > CI_SEED_MAX_BYTES)
		return error_set(err, errlen, -EINVAL, WHERE ": the seed it makes (%zu bytes) is larger than %d bytes (1 MiB)",
				 size, CI_SEED_MAX_BYTES);
	return 0;
}
