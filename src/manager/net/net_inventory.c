/* petreld's record of its host networks (net_inventory.h). */
#include "manager/net/net_inventory.h"
#include "manager/defs.h"
#include "manager/mgr.h"
#include "util/error.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct mgr_net *mgr_net_find(struct manager *m, const char *name)
{
	for (struct mgr_net *n = m->nets; n; n = n->next)
		if (!strcmp(n->def.name, name))
			return n;
	return NULL;
}

void mgr_net_defs_dir(struct manager *m, char *out, size_t size)
{
	snprintf(out, size, "%s/networks", m->defs_dir);
}

/* dnsmasq reads a network's reservations (DIR/hosts) after dropping its privileges: others
 * may pass through the state directory (not list it: its own subdirectories stay 0750). */
static void state_dir_passable(struct manager *m)
{
	struct stat st;
	if (stat(m->state_dir, &st) == 0 && !(st.st_mode & S_IXOTH) && chmod(m->state_dir, (st.st_mode & 07777) | S_IXOTH) == 0)
		fprintf(stderr, "petreld: %s: others may now pass through it (a network's dnsmasq reads its "
			"reservations below it)\n", m->state_dir);
}

int mgr_net_state_dir(struct manager *m, const char *name, char *out, size_t size, char *err, size_t errlen)
{
	state_dir_passable(m);
	int n = snprintf(out, size, "%s/networks", m->state_dir);
	if (n < 0 || (size_t)n >= size)
		return error_set(err, errlen, -ENAMETOOLONG, "the state directory's path is too long");
	if (mkdir(out, 0755) < 0 && errno != EEXIST)
		return error_set(err, errlen, -errno, "cannot create %s: %s", out, strerror(errno));
	n = snprintf(out, size, "%s/networks/%s", m->state_dir, name);
	if (n < 0 || (size_t)n >= size)
		return error_set(err, errlen, -ENAMETOOLONG, "the state directory's path is too long");
	if (mkdir(out, 0755) < 0 && errno != EEXIST)
		return error_set(err, errlen, -errno, "cannot create %s: %s", out, strerror(errno));
	return 0;
}

static struct mgr_net *load_one(struct manager *m, const char *dir, const char *file)
{
	char err[512], *text = NULL;
	int len = defs_read(dir, file, &text, err, sizeof(err));
	struct mgr_net *n = len < 0 ? NULL : calloc(1, sizeof(*n));
	if (n && net_def_parse(text, (size_t)len, &n->def, err, sizeof(err)) < 0) {
		free(n);
		n = NULL;
	}
	size_t fl = strlen(file);
	if (n && (fl - 5 != strlen(n->def.name) || strncmp(file, n->def.name, fl - 5))) {
		error_set(err, sizeof(err), -EINVAL, "its name is %s", n->def.name);
		mgr_net_free(n);
		n = NULL;
	}
	free(text);
	if (!n) {
		fprintf(stderr, "petreld: skipping the network definition %s/%s: %s\n", dir, file, err);
		return NULL;
	}
	n->dnsmasq_pidfd = -1;
	n->leases_fd = -1;
	return n;
}

void mgr_net_load_all(struct manager *m)
{
	char dir[4096];
	mgr_net_defs_dir(m, dir, sizeof(dir));
	DIR *d = opendir(dir);
	if (!d)
		return;
	struct dirent *de;
	while ((de = readdir(d))) {
		size_t len = strlen(de->d_name);
		if (de->d_name[0] == '.' || len < 6 || strcmp(de->d_name + len - 5, ".json"))
			continue;
		struct mgr_net *n = load_one(m, dir, de->d_name);
		if (!n)
			continue;
		bool clash = false;
		char err[256];
		for (struct mgr_net *o = m->nets; o && !clash; o = o->next)
			if (net_def_conflict(&n->def, &o->def, err, sizeof(err)) < 0) {
				fprintf(stderr, "petreld: skipping the network %s: %s\n", n->def.name, err);
				clash = true;
			}
		if (clash) {
			mgr_net_free(n);
			continue;
		}
		n->next = m->nets;
		m->nets = n;
	}
	closedir(d);
}

int mgr_net_run_save(struct manager *m, struct mgr_net *n)
{
	char dir[PATH_MAX], path[PATH_MAX + 16], tmp[PATH_MAX + 16], err[256];
	int e = mgr_net_state_dir(m, n->def.name, dir, sizeof(dir), err, sizeof(err));
	if (e < 0)
		return e;
	snprintf(path, sizeof(path), "%s/run.json", dir);
	snprintf(tmp, sizeof(tmp), "%s/.run.json.tmp", dir);
	json_t *o = json_pack("{s:b, s:i, s:s}", "active", n->active, "dnsmasq_pid", (int)n->dnsmasq_pid, "digest",
			      n->digest);
	e = o && json_dump_file(o, tmp, JSON_COMPACT) == 0 && rename(tmp, path) == 0 ? 0 : -EIO;
	json_decref(o);
	if (e < 0)
		fprintf(stderr, "petreld: network %s: cannot write %s\n", n->def.name, path);
	return e;
}

int mgr_net_save(struct manager *m, const struct net_def *d, char *err, size_t errlen)
{
	char dir[4096];
	mgr_net_defs_dir(m, dir, sizeof(dir));
	if (mkdir(dir, 0755) < 0 && errno != EEXIST)
		return error_set(err, errlen, -errno, "cannot create %s: %s", dir, strerror(errno));
	char *text = json_dumps(d->doc, JSON_INDENT(2));
	if (!text)
		return error_set(err, errlen, -ENOMEM, "out of memory");
	int e = defs_write_mode(dir, d->name, text, 0644, err, errlen);
	free(text);
	return e;
}

int mgr_net_remove_file(struct manager *m, const char *name, char *err, size_t errlen)
{
	char dir[4096];
	mgr_net_defs_dir(m, dir, sizeof(dir));
	return defs_remove(dir, name, err, errlen);
}

void mgr_net_free(struct mgr_net *n)
{
	if (!n)
		return;
	if (n->dnsmasq_pidfd >= 0)
		close(n->dnsmasq_pidfd);
	if (n->leases_fd >= 0)
		close(n->leases_fd);
	json_decref(n->guards_seen);
	net_def_free(&n->def);
	free(n);
}

/* Whether vm's definition has an interface on the network name. */
static bool names_network(const struct mgr_vm *vm, const char *name)
{
	size_t i;
	json_t *ifc;
	json_array_foreach(json_object_get(vm->def.doc, "network-interfaces"), i, ifc) {
		const char *net = json_string_value(json_object_get(ifc, "network"));
		if (net && !strcmp(net, name))
			return true;
	}
	return false;
}

/* Whether petreld made a tap on the network for vm's worker (net_taps.h). */
static bool has_tap_on(const struct mgr_vm *vm, const char *name)
{
	size_t i;
	json_t *t;
	json_array_foreach(vm->taps, i, t) {
		const char *net = json_string_value(json_object_get(t, "network"));
		if (net && !strcmp(net, name))
			return true;
	}
	return false;
}

const char *mgr_net_in_use(struct manager *m, const char *name)
{
	for (struct mgr_vm *vm = m->vms; vm; vm = vm->next)
		if ((vm->pid > 0 && names_network(vm, name)) || has_tap_on(vm, name))
			return vm->def.name;
	return NULL;
}

const char *mgr_net_named_by(struct manager *m, const char *name, unsigned *count)
{
	const char *first = NULL;
	unsigned k = 0;
	for (struct mgr_vm *vm = m->vms; vm; vm = vm->next)
		if (names_network(vm, name)) {
			k++;
			first = first ? first : vm->def.name;
		}
	if (count)
		*count = k;
	return first;
}
