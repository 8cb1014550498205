/* A VM's definition: Firecracker's config-file document plus a "petrel" section (name, UUID,
 * autostart, restart policy, resources, jail ids). The Firecracker part is checked by petrel's
 * own parser (src/config), so a definition petreld accepts is one its worker accepts. */
#include "manager/definition.h"
#include "manager/cloudinit/ci_def.h"
#include "manager/defs.h"
#include "manager/mgr.h"
#include "manager/net/net_iface.h"
#include "manager/partition.h"
#include "config/firmware_config.h"
#include "config/vm_config.h"
#include "util/error.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define DEFAULT_JAIL_ID 12345

bool def_guest_agent(json_t *doc)
{
	return json_is_true(json_object_get(json_object_get(doc, "guest-agent"), "enabled"));
}

const char *restart_policy_name(enum restart_policy p)
{
	return p == RESTART_ALWAYS ? "always" : p == RESTART_ON_FAILURE ? "on-failure" : "never";
}

void def_free(struct vm_def *def)
{
	json_decref(def->doc);
	def->doc = NULL;
}

static int make_uuid(char out[37])
{
	unsigned char b[16];
	int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
	if (fd < 0 || read(fd, b, sizeof(b)) != (ssize_t)sizeof(b)) {
		if (fd >= 0)
			close(fd);
		return -EIO;
	}
	close(fd);
	b[6] = (b[6] & 0x0f) | 0x40;   /* version 4 */
	b[8] = (b[8] & 0x3f) | 0x80;   /* RFC 4122 variant */
	snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
		 b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12],
		 b[13], b[14], b[15]);
	return 0;
}

static bool uuid_ok(const char *s)
{
	if (strlen(s) != 36)
		return false;
	for (int i = 0; i < 36; i++) {
		bool dash = i == 8 || i == 13 || i == 18 || i == 23;
		if (dash ? s[i] != '-' : !strchr("0123456789abcdefABCDEF", s[i]))
			return false;
	}
	return true;
}

static int get_uint(json_t *o, const char *where, const char *key, uint64_t max, uint64_t *out,
		    char *err, size_t errlen)
{
	json_t *v = json_object_get(o, key);
	if (!v)
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < 1 || (uint64_t)json_integer_value(v) > max)
		return error_set(err, errlen, -EINVAL, "%s.%s: expected an integer from 1 to %llu", where,
			       key, (unsigned long long)max);
	*out = (uint64_t)json_integer_value(v);
	return 0;
}

/* Only these keys in o. */
int def_only_keys(json_t *o, const char *where, const char *const *keys, char *err, size_t errlen)
{
	const char *k;
	json_t *v;
	json_object_foreach(o, k, v) {
		bool known = false;
		for (const char *const *p = keys; *p; p++)
			known |= !strcmp(k, *p);
		if (!known)
			return error_set(err, errlen, -EINVAL, "%s: unknown field '%s'", where, k);
	}
	return 0;
}

static bool cpuset_ok(const char *s)
{
	if (!*s || strlen(s) >= sizeof(((struct vm_resources *)0)->cpuset))
		return false;
	for (const char *p = s; *p; p++)
		if (!strchr("0123456789,-", *p))
			return false;
	return true;
}

int partition_parse(json_t *o, struct vm_resources *r, char *err, size_t errlen)
{
	static const char *const keys[] = { "cpu_weight", "cpu_quota_pct", "cpuset", "memory_limit_mib", NULL };
	if (!json_is_object(o))
		return error_set(err, errlen, -EINVAL, "resources: expected an object");
	int e = def_only_keys(o, "resources", keys, err, errlen);
	uint64_t w = r->cpu_weight, q = r->cpu_quota_pct, mem = r->memory_limit_mib;
	long ncpu = sysconf(_SC_NPROCESSORS_CONF);
	if (e < 0 || (e = get_uint(o, "resources", "cpu_weight", 10000, &w, err, errlen)) < 0 ||
	    (e = get_uint(o, "resources", "cpu_quota_pct", 100 * (uint64_t)(ncpu > 0 ? ncpu : 1), &q, err, errlen)) < 0 ||
	    (e = get_uint(o, "resources", "memory_limit_mib", 1u << 30, &mem, err, errlen)) < 0)
		return e;
	if (mem && mem < 32)
		return error_set(err, errlen, -EINVAL, "resources.memory_limit_mib: at least 32 (a worker needs more)");
	json_t *cs = json_object_get(o, "cpuset");
	if (cs) {
		if (!json_is_string(cs) || !cpuset_ok(json_string_value(cs)))
			return error_set(err, errlen, -EINVAL, "resources.cpuset: expected a CPU list such as \"0-1,3\"");
		snprintf(r->cpuset, sizeof(r->cpuset), "%s", json_string_value(cs));
	}
	r->cpu_weight = (unsigned)w;
	r->cpu_quota_pct = (unsigned)q;
	r->memory_limit_mib = mem;
	return 0;
}

static int parse_petrel(json_t *p, struct vm_def *def, char *err, size_t errlen)
{
	static const char *const keys[] = { "name", "uuid", "autostart", "restart", "shutdown", "resources", "jail",
					    CI_SECTION, NULL };
	if (!json_is_object(p))
		return error_set(err, errlen, -EINVAL, "petrel: expected an object");
	int e = def_only_keys(p, "petrel", keys, err, errlen);
	if (e < 0)
		return e;
	json_t *v = json_object_get(p, "name");
	if (!json_is_string(v) || !mgr_vm_name_ok(json_string_value(v)))
		return error_set(err, errlen, -EINVAL, "petrel.name: expected 1 to %d of [A-Za-z0-9-], not starting with '-'",
			       VM_NAME_MAX);
	snprintf(def->name, sizeof(def->name), "%s", json_string_value(v));
	if ((v = json_object_get(p, "uuid"))) {
		if (!json_is_string(v) || !uuid_ok(json_string_value(v)))
			return error_set(err, errlen, -EINVAL, "petrel.uuid: expected a UUID (8-4-4-4-12 hex digits)");
		snprintf(def->uuid, sizeof(def->uuid), "%s", json_string_value(v));
	} else {
		if (make_uuid(def->uuid) < 0 || json_object_set_new(p, "uuid", json_string(def->uuid)) < 0)
			return error_set(err, errlen, -EIO, "cannot make a UUID");
	}
	if ((v = json_object_get(p, "autostart"))) {
		if (!json_is_boolean(v))
			return error_set(err, errlen, -EINVAL, "petrel.autostart: expected true or false");
		def->autostart = json_is_true(v);
	}
	if ((v = json_object_get(p, "restart"))) {
		const char *s = json_is_string(v) ? json_string_value(v) : "";
		if (!strcmp(s, "never"))
			def->restart = RESTART_NEVER;
		else if (!strcmp(s, "on-failure"))
			def->restart = RESTART_ON_FAILURE;
		else if (!strcmp(s, "always"))
			def->restart = RESTART_ALWAYS;
		else
			return error_set(err, errlen, -EINVAL, "petrel.restart: expected \"never\", \"on-failure\" or \"always\"");
	}
	if ((v = json_object_get(p, "shutdown"))) {
		const char *s = json_is_string(v) ? json_string_value(v) : "";
		if (strcmp(s, "acpi") && strcmp(s, "agent"))
			return error_set(err, errlen, -EINVAL, "petrel.shutdown: expected \"acpi\" or \"agent\"");
		def->shutdown_agent = !strcmp(s, "agent");
	}
	if ((v = json_object_get(p, "resources")) && (e = partition_parse(v, &def->res, err, errlen)) < 0)
		return e;
	def->uid = def->gid = DEFAULT_JAIL_ID;
	if ((v = json_object_get(p, "jail"))) {
		static const char *const jkeys[] = { "uid", "gid", NULL };
		uint64_t uid = def->uid, gid = def->gid;
		if (!json_is_object(v))
			return error_set(err, errlen, -EINVAL, "petrel.jail: expected an object");
		if ((e = def_only_keys(v, "petrel.jail", jkeys, err, errlen)) < 0 ||
		    (e = get_uint(v, "petrel.jail", "uid", 0xfffffffe, &uid, err, errlen)) < 0 ||
		    (e = get_uint(v, "petrel.jail", "gid", 0xfffffffe, &gid, err, errlen)) < 0)
			return e;
		def->uid = (unsigned)uid;
		def->gid = (unsigned)gid;
	}
	return 0;
}

/* Host paths a definition names must be absolute and without "." or ".." components: the
 * jail links them by name. */
static int path_ok(const char *where, const char *path, char *err, size_t errlen)
{
	if (path[0] != '/')
		return error_set(err, errlen, -EINVAL, "%s: '%s' is not an absolute path", where, path);
	for (const char *p = path; (p = strchr(p, '/')); p++) {
		if (!strncmp(p, "/../", 4) || !strcmp(p, "/..") || !strncmp(p, "/./", 3) || !strcmp(p, "/."))
			return error_set(err, errlen, -EINVAL, "%s: '%s' has a '.' or '..' component", where, path);
	}
	return 0;
}

const char *const def_boot_keys[] = { "kernel_image_path", "initrd_path", "firmware", "firmware_vars_path", NULL };

int def_foreach_file(json_t *doc, int (*fn)(void *, const char *where, const char *path, bool disk),
		     void *arg)
{
	json_t *bs = json_object_get(doc, "boot-source");
	int e;
	for (int i = 0; def_boot_keys[i]; i++) {
		json_t *v = json_object_get(bs, def_boot_keys[i]);
		/* a firmware's name ("seabios", "ovmf") is the Debian file it stands for; a UEFI
		 * firmware's variables file is written by the worker: a disk (uefi_vars.h) */
		bool vars = !strcmp(def_boot_keys[i], "firmware_vars_path");
		if (json_is_string(v) &&
		    (e = fn(arg, def_boot_keys[i], vars ? json_string_value(v) : firmware_path(json_string_value(v)),
			    vars)) < 0)
			return e;
	}
	const char *arrays[] = { "drives", "pmem" };
	for (int a = 0; a < 2; a++) {
		size_t i;
		json_t *el;
		json_array_foreach(json_object_get(doc, arrays[a]), i, el) {
			json_t *v = json_object_get(el, "path_on_host");
			if (json_is_string(v) && (e = fn(arg, arrays[a], json_string_value(v), true)) < 0)
				return e;
		}
	}
	return 0;
}

struct path_check { char *err; size_t errlen; };

static int check_one_path(void *arg, const char *where, const char *path, bool disk)
{
	struct path_check *c = arg;
	if (!strcmp(where, "firmware") && path[0] != '/')  /* a name petrel does not know, or a relative path */
		return error_set(c->err, c->errlen, -EINVAL,
				 "boot-source.firmware: expected \"seabios\", \"ovmf\" or an absolute path, not '%s'", path);
	return path_ok(where, path, c->err, c->errlen);
}

int def_parse(const char *text, size_t len, struct vm_def *def, char *err, size_t errlen)
{
	memset(def, 0, sizeof(*def));
	if (len > DEF_MAX_BYTES)
		return error_set(err, errlen, -EINVAL, "a definition is at most %d bytes", DEF_MAX_BYTES);
	json_error_t je;
	json_t *doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
	if (!doc)
		return error_set(err, errlen, -EINVAL, "not valid JSON: %s (line %d)", je.text, je.line);
	int e = 0;
	if (!json_is_object(doc)) {
		e = error_set(err, errlen, -EINVAL, "expected a JSON object at the top level");
		goto fail;
	}
	json_t *p = json_object_get(doc, "petrel");
	if (!p) {
		e = error_set(err, errlen, -EINVAL, "no \"petrel\" section (with at least a name)");
		goto fail;
	}
	if ((e = parse_petrel(p, def, err, errlen)) < 0 || (e = ci_def_check(doc, def->name, def->uuid, err, errlen)) < 0)
		goto fail;
	/* Host policy lives in petrel.resources; logs and metrics are petreld's. */
	const char *refused[] = { "cpu-affinity", "logger", "metrics" };
	for (size_t i = 0; i < 3; i++)
		if (json_object_get(doc, refused[i])) {
			e = error_set(err, errlen, -EINVAL, "%s: not in a definition (%s)", refused[i],
				    i == 0 ? "use petrel.resources.cpuset" : "petreld keeps a log per VM");
			goto fail;
		}
	/* An interface on a network of petreld's has no tap yet: Firecracker's parser checks it
	 * with a stand-in (net_iface.h). */
	size_t i;
	json_t *ifc;
	json_array_foreach(json_object_get(doc, "network-interfaces"), i, ifc)
		if ((e = net_iface_check(ifc, i, err, errlen)) < 0)
			goto fail;
	json_t *fc = json_copy(doc);
	json_object_del(fc, "petrel");
	if (json_is_array(json_object_get(fc, "network-interfaces")))
		json_object_set_new(fc, "network-interfaces", net_iface_checkable(json_object_get(fc, "network-interfaces")));
	char *fc_text = json_dumps(fc, JSON_COMPACT);
	json_decref(fc);
	struct vm_config cfg;
	vm_config_init(&cfg);
	char why[512] = "";
	e = fc_text ? vm_config_parse_json(fc_text, &cfg, why, sizeof(why)) : -ENOMEM;
	if (!e)
		e = vm_config_validate(&cfg, why, sizeof(why));
	vm_config_free(&cfg);
	free(fc_text);
	if (e < 0) {
		e = error_set(err, errlen, -EINVAL, "%s", why[0] ? why : "invalid definition");
		goto fail;
	}
	if (def->shutdown_agent && !def_guest_agent(doc)) {
		e = error_set(err, errlen, -EINVAL, "petrel.shutdown: \"agent\" needs a guest agent (\"guest-agent\": "
			      "{\"enabled\": true})");
		goto fail;
	}
	struct path_check pc = { err, errlen };
	if ((e = def_foreach_file(doc, check_one_path, &pc)) < 0)
		goto fail;
	def->doc = doc;
	return 0;
fail:
	json_decref(doc);
	return e;
}

struct file_check {
	struct manager *m;
	const struct vm_def *self;
	char *err;
	size_t errlen;
};

struct same_file { const char *path; struct stat st; bool found; };

static int same_disk(void *arg, const char *where, const char *path, bool disk)
{
	struct same_file *s = arg;
	struct stat st;
	if (disk && stat(path, &st) == 0 && st.st_dev == s->st.st_dev && st.st_ino == s->st.st_ino)
		s->found = true;
	return 0;
}

static int check_file(void *arg, const char *where, const char *path, bool disk)
{
	struct file_check *c = arg;
	struct stat st;
	if (stat(path, &st) < 0)
		return error_set(c->err, c->errlen, -(errno == ENOENT ? ENOENT : EINVAL), "%s: '%s': %s", where,
			       path, strerror(errno));
	if (!S_ISREG(st.st_mode) && !(disk && S_ISBLK(st.st_mode)))
		return error_set(c->err, c->errlen, -EINVAL, "%s: '%s' is a %s, not a %s", where, path,
			       S_ISDIR(st.st_mode) ? "directory" : S_ISFIFO(st.st_mode) ? "FIFO"
			       : S_ISSOCK(st.st_mode) ? "socket" : S_ISCHR(st.st_mode) ? "character device"
			       : "special file", disk ? "regular file or block device" : "regular file");
	if (!disk)
		return 0;
	struct same_file s = { path, st, false };
	for (struct mgr_vm *vm = c->m->vms; vm; vm = vm->next) {
		if (!strcmp(vm->def.name, c->self->name))
			continue;
		def_foreach_file(vm->def.doc, same_disk, &s);
		if (s.found)
			return error_set(c->err, c->errlen, -EEXIST, "%s: '%s' is a disk of VM '%s'", where,
				       path, vm->def.name);
	}
	return 0;
}

int def_check_files(struct manager *m, const struct vm_def *def, char *err, size_t errlen)
{
	struct file_check c = { m, def, err, errlen };
	return def_foreach_file(def->doc, check_file, &c);
}

bool mgr_vm_name_ok(const char *name)
{
	size_t n = strlen(name);
	if (n == 0 || n > VM_NAME_MAX || name[0] == '-')
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = name[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-'))
			return false;
	}
	return true;
}
