/* Resources before the start (Firecracker's pre-boot PUTs: boot source, machine and CPU
 * configuration, drives, network interfaces, vsock, entropy) and the --config-file document
 * that sets them section by section. See controller.h. */
#include "api/ctl_internal.h"
#include "util/unix_socket.h"

#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int ctl_check_not_started(const struct controller *ctl, const char *what, char *err,
			  size_t errlen)
{
	if (ctl->state == INSTANCE_NOT_STARTED)
		return 0;
	if (ctl->state == INSTANCE_STARTING)
		return fail(err, errlen, -EBUSY, "%s cannot be changed: the microVM is starting", what);
	/* Firecracker's wording first: clients match it. */
	return fail(err, errlen, -EBUSY, "The requested operation is not supported after starting the microVM: "
		    "%s cannot be changed after the microVM has started.", what);
}

/* Parse one section of the config-file format with vm_config_parse_json (so the API and
 * `petrel run --config` accept exactly the same objects) into a scratch config. */
static int parse_section(const char *section, json_t *body, struct vm_config *tmp, char *err,
			 size_t errlen)
{
	vm_config_init(tmp);
	json_t *doc = json_object();
	if (!doc || json_object_set(doc, section, body) < 0) {
		json_decref(doc);
		return oom(err, errlen);
	}
	char *text = json_dumps(doc, JSON_COMPACT | JSON_ENCODE_ANY);
	json_decref(doc);
	if (!text)
		return oom(err, errlen);
	int r = vm_config_parse_json(text, tmp, err, errlen);
	free(text);
	if (r < 0)
		vm_config_free(tmp);
	return r == -ENOMEM ? -ENOMEM : r < 0 ? -EINVAL : 0;
}

static void take(char **dst, char **src)
{
	free(*dst);
	*dst = *src;
	*src = NULL;
}

/* The file must exist and be readable (and writable when asked) when it is configured, like
 * Firecracker checks at PUT time, so mistakes surface before InstanceStart. */
int ctl_check_file(struct controller *ctl, const char *what, const char *path, bool write, bool block_ok,
		   char *err, size_t errlen)
{
	if (ctl->dry_run)
		return 0;
	int fd = open(path, (write ? O_RDWR : O_RDONLY) | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return fail(err, errlen, -EINVAL, "%s '%s' cannot be opened%s: %s", what, path,
			    write ? " for writing" : "", strerror(errno));
	struct stat st;
	int r = fstat(fd, &st);
	close(fd);
	if (r < 0)
		return fail(err, errlen, -EINVAL, "%s '%s': %s", what, path, strerror(errno));
	/* Regular files, and block devices for disks: not FIFOs (they would block petrel or feed it
	 * a stream), sockets, directories or character devices (/dev/zero, /dev/kvm). */
	if (!S_ISREG(st.st_mode) && !(block_ok && S_ISBLK(st.st_mode)))
		return fail(err, errlen, -EINVAL, "%s '%s' is %s, not a regular file%s", what, path,
			    S_ISDIR(st.st_mode) ? "a directory" : S_ISFIFO(st.st_mode) ? "a FIFO"
			    : S_ISCHR(st.st_mode) ? "a character device" : S_ISSOCK(st.st_mode) ? "a socket"
			    : S_ISBLK(st.st_mode) ? "a block device" : "a special file",
			    block_ok ? " or block device" : "");
	return 0;
}

int ctl_put_boot_source(struct controller *ctl, json_t *body, char *err, size_t errlen)
{
	struct vm_config tmp;
	int r = parse_section("boot-source", body, &tmp, err, errlen);
	if (r < 0)
		return r;
	if ((r = ctl_check_file(ctl, "kernel image", tmp.kernel_path, false, false, err, errlen)) < 0 ||
	    (tmp.initrd_path && (r = ctl_check_file(ctl, "initrd", tmp.initrd_path, false, false, err, errlen)) < 0)) {
		vm_config_free(&tmp);
		return r;
	}
	pthread_mutex_lock(&ctl->lock);
	r = ctl_check_not_started(ctl, "the boot source", err, errlen);
	if (r == 0) {
		/* PUT replaces the whole boot source: what the body leaves out is cleared. */
		take(&ctl->cfg.kernel_path, &tmp.kernel_path);
		take(&ctl->cfg.initrd_path, &tmp.initrd_path);
		take(&ctl->cfg.cmdline, &tmp.cmdline);
	}
	pthread_mutex_unlock(&ctl->lock);
	vm_config_free(&tmp);
	return r;
}

int ctl_put_machine_config(struct controller *ctl, json_t *body, bool patch, char *err,
			   size_t errlen)
{
	if (!json_is_object(body))
		return fail(err, errlen, -EINVAL, "machine-config: expected an object");
	json_t *doc = NULL;
	int r;
	if (patch) {
		/* PATCH: the fields given replace the current ones (null means "not given"). */
		size_t given = 0;
		const char *key;
		json_t *val;
		json_object_foreach(body, key, val)
			given += !json_is_null(val);
		if (!given)
			return fail(err, errlen, -EINVAL, "machine-config: empty PATCH request (give at "
				    "least one field to change)");
		pthread_mutex_lock(&ctl->lock);
		r = ctl_check_not_started(ctl, "the machine configuration", err, errlen);
		doc = r < 0 ? NULL : vm_machine_config_to_json(&ctl->cfg);
		pthread_mutex_unlock(&ctl->lock);
		if (r < 0)
			return r;
		if (!doc)
			return oom(err, errlen);
		json_object_foreach(body, key, val) {
			if (!json_is_null(val) && json_object_set(doc, key, val) < 0) {
				json_decref(doc);
				return oom(err, errlen);
			}
		}
	} else {
		doc = json_incref(body);
	}
	struct vm_config tmp;
	r = parse_section("machine-config", doc, &tmp, err, errlen);
	json_decref(doc);
	if (r < 0)
		return r;
	pthread_mutex_lock(&ctl->lock);
	r = ctl_check_not_started(ctl, "the machine configuration", err, errlen);
	if (r == 0) {
		/* PUT: optional fields left out go back to their defaults (tmp holds them). */
		ctl->cfg.vcpus = tmp.vcpus;
		ctl->cfg.mem_mib = tmp.mem_mib;
		ctl->cfg.smt = tmp.smt;
		ctl->cfg.track_dirty_pages = tmp.track_dirty_pages;
		ctl->cfg.huge_pages = tmp.huge_pages;
		take(&ctl->cfg.cpu_template, &tmp.cpu_template);
	}
	pthread_mutex_unlock(&ctl->lock);
	vm_config_free(&tmp);
	return r;
}

int ctl_put_cpu_config(struct controller *ctl, json_t *body, char *err, size_t errlen)
{
	struct vm_config tmp;
	int r = parse_section("cpu-config", body, &tmp, err, errlen);
	if (r < 0)
		return r;
	pthread_mutex_lock(&ctl->lock);
	r = ctl_check_not_started(ctl, "the CPU configuration", err, errlen);
	if (r == 0)
		take(&ctl->cfg.cpu_config_json, &tmp.cpu_config_json);
	pthread_mutex_unlock(&ctl->lock);
	vm_config_free(&tmp);
	return r;
}

int ctl_check_path_id(const char *field, const char *body_id, const char *path_id, char *err,
		      size_t errlen)
{
	if (strcmp(body_id, path_id) != 0)
		return fail(err, errlen, -EINVAL, "%s: '%s' in the body does not match '%s' in the "
			    "path", field, body_id, path_id);
	return 0;
}

int ctl_put_drive(struct controller *ctl, const char *id, json_t *body, char *err, size_t errlen)
{
	struct drive_config d;
	int r = drive_config_from_json(body, NULL, &d, err, errlen);
	if (r < 0)
		return r == -ENOMEM ? r : -EINVAL;
	if ((r = ctl_check_path_id("drive_id", d.drive_id, id, err, errlen)) < 0 ||
	    (r = ctl_check_file(ctl, "drive backing file", d.path_on_host, !d.is_read_only, true, err, errlen)) < 0) {
		drive_config_free(&d);
		return r;
	}
	pthread_mutex_lock(&ctl->lock);
	struct vm_config *cfg = &ctl->cfg;
	r = ctl_check_not_started(ctl, "drives", err, errlen);
	int found = -1;
	for (unsigned i = 0; r == 0 && i < cfg->ndrives; i++) {
		if (!strcmp(cfg->drives[i].drive_id, d.drive_id))
			found = (int)i;
		else if (d.is_root_device && cfg->drives[i].is_root_device)
			r = fail(err, errlen, -EINVAL, "drive '%s' cannot be the root device: '%s' "
				 "already is", d.drive_id, cfg->drives[i].drive_id);
	}
	if (r == 0 && d.is_root_device && pmem_root_index(cfg) >= 0)
		r = fail(err, errlen, -EINVAL, "drive '%s' cannot be the root device: pmem device '%s' already is",
			 d.drive_id, cfg->pmem[pmem_root_index(cfg)].id);
	if (r == 0 && found >= 0) {
		/* PUT on an existing id replaces that drive in place (keeping its position). */
		drive_config_free(&cfg->drives[found]);
		cfg->drives[found] = d;
		memset(&d, 0, sizeof(d));
	} else if (r == 0) {
		char msg[256];
		r = vm_config_add_drive(cfg, &d, msg, sizeof(msg));
		if (r < 0)
			r = fail(err, errlen, -EINVAL, "%s", msg);
	}
	pthread_mutex_unlock(&ctl->lock);
	drive_config_free(&d);
	return r;
}

int ctl_put_net(struct controller *ctl, const char *id, json_t *body, char *err, size_t errlen)
{
	struct net_config n;
	int r = net_config_from_json(body, NULL, &n, err, errlen);
	if (r < 0)
		return r == -ENOMEM ? r : -EINVAL;
	if ((r = ctl_check_path_id("iface_id", n.iface_id, id, err, errlen)) < 0) {
		net_config_free(&n);
		return r;
	}
	pthread_mutex_lock(&ctl->lock);
	struct vm_config *cfg = &ctl->cfg;
	r = ctl_check_not_started(ctl, "network interfaces", err, errlen);
	int found = -1;
	for (unsigned i = 0; r == 0 && i < cfg->nnets; i++) {
		struct net_config *o = &cfg->nets[i];
		if (!strcmp(o->iface_id, n.iface_id)) {
			found = (int)i;
			continue;
		}
		if (!strcmp(o->host_dev_name, n.host_dev_name))
			r = fail(err, errlen, -EINVAL, "host_dev_name: '%s' is already used by network "
				 "interface '%s'", n.host_dev_name, o->iface_id);
		else if (n.has_mac && o->has_mac && !memcmp(n.guest_mac, o->guest_mac, 6))
			r = fail(err, errlen, -EINVAL, "guest_mac: already used by network interface "
				 "'%s'", o->iface_id);
	}
	if (r == 0 && found >= 0) {
		net_config_free(&cfg->nets[found]);
		cfg->nets[found] = n;
		memset(&n, 0, sizeof(n));
	} else if (r == 0) {
		char msg[256];
		r = vm_config_add_net(cfg, &n, msg, sizeof(msg));
		if (r < 0)
			r = fail(err, errlen, -EINVAL, "%s", msg);
	}
	pthread_mutex_unlock(&ctl->lock);
	net_config_free(&n);
	return r;
}

int ctl_put_vsock(struct controller *ctl, json_t *body, char *err, size_t errlen)
{
	struct vsock_config v;
	int r = vsock_config_from_json(body, NULL, &v, err, errlen);
	if (r < 0)
		return r == -ENOMEM ? r : -EINVAL;
	/* The device will listen there: never over a live socket (another petrel's API socket,
	 * say) or another kind of file; a stale socket is replaced at start. */
	if (!ctl->dry_run && unix_path_free(v.uds_path) == -EADDRINUSE) {
		r = fail(err, errlen, -EINVAL, "vsock uds_path '%s' is in use by another process or is not a socket",
			 v.uds_path);
		vsock_config_free(&v);
		return r;
	}
	pthread_mutex_lock(&ctl->lock);
	r = ctl_check_not_started(ctl, "the vsock device", err, errlen);
	if (r == 0) {
		vsock_config_free(&ctl->cfg.vsock);
		ctl->cfg.vsock = v;
		ctl->cfg.has_vsock = true;
		memset(&v, 0, sizeof(v));
	}
	pthread_mutex_unlock(&ctl->lock);
	vsock_config_free(&v);
	return r;
}

int ctl_put_entropy(struct controller *ctl, json_t *body, char *err, size_t errlen)
{
	struct entropy_config e;
	int r = entropy_config_from_json(body, NULL, &e, err, errlen);
	if (r < 0)
		return r == -ENOMEM ? r : -EINVAL;
	pthread_mutex_lock(&ctl->lock);
	r = ctl_check_not_started(ctl, "the entropy device", err, errlen);
	if (r == 0) {
		entropy_config_free(&ctl->cfg.entropy);
		ctl->cfg.entropy = e;
		ctl->cfg.has_entropy = true;
		memset(&e, 0, sizeof(e));
	}
	pthread_mutex_unlock(&ctl->lock);
	entropy_config_free(&e);
	return r;
}

/* ---- --config-file ---- */

static int prefixed(int r, const char *prefix, char *err, size_t errlen)
{
	if (r < 0 && err && errlen) {
		char msg[512];
		snprintf(msg, sizeof(msg), "%s", err);
		/* Messages from the shared parsers already start with the section name. */
		if (strncmp(msg, prefix, strlen(prefix)) != 0)
			snprintf(err, errlen, "%s: %s", prefix, msg);
	}
	return r;
}

static int load_device_array(struct controller *ctl, const char *section, const char *id_key,
			     json_t *arr, char *err, size_t errlen)
{
	if (json_is_null(arr))
		return 0;
	if (!json_is_array(arr))
		return fail(err, errlen, -EINVAL, "%s: expected an array", section);
	size_t i;
	json_t *el;
	json_array_foreach(arr, i, el) {
		char where[64];
		snprintf(where, sizeof(where), "%s[%zu]", section, i);
		json_t *id = json_is_object(el) ? json_object_get(el, id_key) : NULL;
		if (!json_is_string(id))
			return fail(err, errlen, -EINVAL, "%s.%s: missing or not a string", where, id_key);
		const char *v = json_string_value(id);
		int r = !strcmp(section, "fs") ? ctl_put_fs(ctl, v, el, err, errlen)
			: id_key[0] == 'd'    ? ctl_put_drive(ctl, v, el, err, errlen)
					      : ctl_put_net(ctl, v, el, err, errlen);
		if (r < 0)
			return prefixed(r, where, err, errlen);
	}
	return 0;
}

/* petrel's "cpu-affinity" (host placement, not a Firecracker resource: no endpoint; the CLI
 * makes it the process's before any VM thread starts). */
static int load_cpu_affinity(struct controller *ctl, json_t *v, char *err, size_t errlen)
{
	struct cpu_affinity *a = malloc(sizeof(*a));
	int r = a ? cpu_affinity_from_json(v, "cpu-affinity", a, err, errlen) : oom(err, errlen);
	if (r < 0) {
		free(a);
		return r;
	}
	pthread_mutex_lock(&ctl->lock);
	free(ctl->cfg.cpu_affinity);
	ctl->cfg.cpu_affinity = a;
	pthread_mutex_unlock(&ctl->lock);
	return 0;
}

int ctl_load_config(struct controller *ctl, const char *json, char *err, size_t errlen)
{
	/* The order Firecracker applies them in: logging first, so the rest is logged there. */
	static const char *const order[] = { "logger", "metrics", "boot-source", "machine-config",
					     "cpu-config", "drives", "pmem", "network-interfaces", "vsock",
					     "entropy", "balloon", "mmds-config", "memory-hotplug",
					     "cpu-affinity", "vcpu-hotplug", "fs", NULL };
	static const char *const later[] = { NULL };
	json_error_t jerr;
	json_t *root = json_loads(json, JSON_REJECT_DUPLICATES, &jerr);
	if (!root)
		return fail(err, errlen, -EINVAL, "invalid JSON at line %d, column %d: %s", jerr.line,
			    jerr.column, jerr.text);
	int r = 0;
	if (!json_is_object(root))
		r = fail(err, errlen, -EINVAL, "expected a JSON object at the top level");
	const char *key;
	json_t *val;
	json_object_foreach(root, key, val) {
		if (r < 0)
			break;
		bool known = false;
		for (const char *const *k = order; *k; k++)
			known |= !strcmp(*k, key);
		for (const char *const *k = later; !known && *k; k++) {
			if (strcmp(*k, key) != 0)
				continue;
			known = true;
			if (!json_is_null(val) && !(json_is_array(val) && !json_array_size(val)))
				r = fail(err, errlen, -EINVAL, "%s: not supported yet", key);
		}
		if (!known)
			r = fail(err, errlen, -EINVAL, "unknown field '%s'", key);
	}
	for (const char *const *k = order; r == 0 && *k; k++) {
		json_t *v = json_object_get(root, *k);
		if (!v || (json_is_null(v) && strcmp(*k, "boot-source") && strcmp(*k, "machine-config")))
			continue;
		if (!strcmp(*k, "drives"))
			r = load_device_array(ctl, "drives", "drive_id", v, err, errlen);
		else if (!strcmp(*k, "network-interfaces"))
			r = load_device_array(ctl, "network-interfaces", "iface_id", v, err, errlen);
		else if (!strcmp(*k, "pmem"))
			r = ctl_load_pmem(ctl, v, err, errlen);
		else if (!strcmp(*k, "fs"))
			r = load_device_array(ctl, "fs", "id", v, err, errlen);
		else if (!strcmp(*k, "boot-source"))
			r = ctl_put_boot_source(ctl, v, err, errlen);
		else if (!strcmp(*k, "machine-config"))
			r = prefixed(ctl_put_machine_config(ctl, v, false, err, errlen), *k, err, errlen);
		else if (!strcmp(*k, "cpu-config"))
			r = ctl_put_cpu_config(ctl, v, err, errlen);
		else if (!strcmp(*k, "vsock"))
			r = prefixed(ctl_put_vsock(ctl, v, err, errlen), *k, err, errlen);
		else if (!strcmp(*k, "entropy"))
			r = prefixed(ctl_put_entropy(ctl, v, err, errlen), *k, err, errlen);
		else if (!strcmp(*k, "balloon"))
			r = prefixed(ctl_put_balloon(ctl, v, err, errlen), *k, err, errlen);
		else if (!strcmp(*k, "memory-hotplug"))
			r = prefixed(ctl_put_hotplug_memory(ctl, v, err, errlen), *k, err, errlen);
		else if (!strcmp(*k, "vcpu-hotplug"))
			r = prefixed(ctl_put_hotplug_vcpu(ctl, v, err, errlen), *k, err, errlen);
		else if (!strcmp(*k, "cpu-affinity"))
			r = load_cpu_affinity(ctl, v, err, errlen);
		else if (!strcmp(*k, "mmds-config"))
			r = ctl_put_mmds_config(ctl, v, err, errlen);   /* its messages name the section */
		else if (!strcmp(*k, "logger"))
			r = prefixed(ctl_put_logger(ctl, v, err, errlen), *k, err, errlen);
		else if (!strcmp(*k, "metrics"))
			r = prefixed(ctl_put_metrics(ctl, v, err, errlen), *k, err, errlen);
	}
	json_decref(root);
	return r;
}
