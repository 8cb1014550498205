/* Firecracker's --config-file document into a VM definition.
 *
 * Parsing is strict the way Firecracker's serde(deny_unknown_fields) is: unknown fields and
 * wrongly typed values are errors that name the field. Everything is parsed into a `pending`
 * set of values first and only copied into the caller's config once the whole document is
 * known to be good, so a bad file never leaves a half-updated config behind.
 */
#include "config/vm_config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "config/cpu_template.h"
#include "util/error.h"
#include "util/json_util.h"
#include "util/util.h"

/* Values from the document, applied to the config only when all of it has parsed. */
struct pending_config {
	bool has_kernel, has_initrd, has_cmdline, has_firmware, has_vars, has_from_disk, from_disk;
	char *kernel, *initrd, *cmdline, *firmware, *vars;
	bool has_machine;
	uint64_t vcpus, mem_mib;
	bool has_smt, smt;
	bool has_dirty, dirty;
	bool has_huge;
	enum guest_mem_backing huge_pages;
	bool has_uuid;
	uint8_t uuid[16];
	char smbios_serial[VM_SMBIOS_SERIAL_MAX + 1];
	bool has_reboot, no_reboot;
	bool has_template;
	char *template_name;     /* NULL for "None" */
	char *cpu_config_json;
	/* Device sections: present ones replace what the config had. */
	struct vm_config devs;   /* only the device fields are used */
	bool has_drives, has_nets, has_vsock, has_entropy, has_pmem, has_fs, has_console_ports;
	bool has_guest_agent;
	struct guest_agent_config guest_agent;
	struct mmds_config mmds;  /* configured: "mmds-config" was given */
	bool has_balloon;
	struct balloon_config balloon;
	bool has_memory_hotplug;
	struct hotplug_memory_config memory_hotplug;
	bool has_vcpu_hotplug;
	struct hotplug_vcpu_config vcpu_hotplug;
	bool has_display;
	struct display_config display;
	struct cpu_affinity *cpu_affinity;   /* "cpu-affinity", or NULL */
};

static void pending_free(struct pending_config *p)
{
	free(p->kernel);
	free(p->firmware);
	free(p->vars);
	free(p->initrd);
	free(p->cmdline);
	free(p->template_name);
	free(p->cpu_config_json);
	display_config_free(&p->display);
	vm_config_free(&p->devs);
	mmds_config_free(&p->mmds);
	free(p->cpu_affinity);
}


/* An optional string: absent or null leaves *has false. Empty strings are refused when
 * the field is a path. */
static int opt_string(json_t *obj, const char *section, const char *key, bool is_path,
		      bool *has, char **out, char *err, size_t errlen)
{
	json_t *v = json_object_get(obj, key);
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_string(v))
		return error_set(err, errlen, -EINVAL, "%s.%s: expected a string", section, key);
	if (is_path && json_string_length(v) == 0)
		return error_set(err, errlen, -EINVAL, "%s.%s: must not be empty", section, key);
	*out = strdup(json_string_value(v));
	if (!*out)
		return error_oom(err, errlen);
	*has = true;
	return 0;
}

static int opt_bool(json_t *obj, const char *section, const char *key, bool *has, bool *out,
		    char *err, size_t errlen)
{
	json_t *v = json_object_get(obj, key);
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_boolean(v))
		return error_set(err, errlen, -EINVAL, "%s.%s: expected a boolean", section, key);
	*out = json_is_true(v);
	*has = true;
	return 0;
}

static int req_integer(json_t *obj, const char *section, const char *key, json_int_t *out,
		       char *err, size_t errlen)
{
	json_t *v = json_object_get(obj, key);
	if (!v)
		return error_set(err, errlen, -EINVAL, "%s.%s: missing required field", section, key);
	if (!json_is_integer(v))
		return error_set(err, errlen, -EINVAL, "%s.%s: expected an integer", section, key);
	*out = json_integer_value(v);
	return 0;
}

static int parse_boot_source(json_t *obj, struct pending_config *p, char *err, size_t errlen)
{
	static const char *const keys[] = { "kernel_image_path", "boot_args", "initrd_path", "firmware",
						"firmware_vars_path", "from_disk", NULL };
	const char *sec = "boot-source";
	int r;

	if (!json_is_object(obj))
		return error_set(err, errlen, -EINVAL, "boot-source: expected an object");
	if ((r = json_check_keys(obj, sec, keys, err, errlen)) < 0)
		return r;
	/* petrel's extension: "firmware" ("seabios" or an image's path) boots from the disks */
	if ((r = opt_string(obj, sec, "firmware", true, &p->has_firmware, &p->firmware, err, errlen)) < 0)
		return r;
	/* and "firmware_vars_path": a UEFI firmware's variables (docs/firmware.md) */
	if ((r = opt_string(obj, sec, "firmware_vars_path", true, &p->has_vars, &p->vars, err, errlen)) < 0)
		return r;
	if (p->has_vars && p->vars && !p->firmware)
		return error_set(err, errlen, -EINVAL, "boot-source.firmware_vars_path: goes with a firmware");
	/* and "from_disk": the kernel, initrd and command line from the boot disk (docs/images.md) */
	if ((r = opt_bool(obj, sec, "from_disk", &p->has_from_disk, &p->from_disk, err, errlen)) < 0)
		return r;
	if (p->from_disk) {
		static const char *const other[] = { "kernel_image_path", "initrd_path", "firmware",
						     "firmware_vars_path", NULL };
		for (int i = 0; other[i]; i++) {
			json_t *o = json_object_get(obj, other[i]);
			if (o && !json_is_null(o))
				return error_set(err, errlen, -EINVAL, "boot-source: from_disk and %s exclude each "
						 "other (the kernel and initrd come from the boot disk)", other[i]);
		}
	}
	json_t *k = json_object_get(obj, "kernel_image_path");
	if ((!k || json_is_null(k)) && !p->has_firmware && !p->from_disk)
		return error_set(err, errlen, -EINVAL,
				 "boot-source.kernel_image_path: missing required field (or a firmware, or from_disk)");
	if ((r = opt_string(obj, sec, "kernel_image_path", true, &p->has_kernel, &p->kernel, err,
			    errlen)) < 0 ||
	    (r = opt_string(obj, sec, "initrd_path", true, &p->has_initrd, &p->initrd, err,
			    errlen)) < 0 ||
	    (r = opt_string(obj, sec, "boot_args", false, &p->has_cmdline, &p->cmdline, err,
			    errlen)) < 0)
		return r;
	return 0;
}

static int parse_machine_config(json_t *obj, bool smt_default, struct pending_config *p, char *err,
				size_t errlen)
{
	static const char *const keys[] = { "vcpu_count", "mem_size_mib", "smt", "cpu_template",
					    "track_dirty_pages", "huge_pages", "uuid", "reboot", "smbios_serial", NULL };
	const char *sec = "machine-config";
	json_int_t vcpus = 0, mem = 0;
	int r;

	if (!json_is_object(obj))
		return error_set(err, errlen, -EINVAL, "machine-config: expected an object");
	if ((r = json_check_keys(obj, sec, keys, err, errlen)) < 0)
		return r;
	if ((r = req_integer(obj, sec, "vcpu_count", &vcpus, err, errlen)) < 0 ||
	    (r = req_integer(obj, sec, "mem_size_mib", &mem, err, errlen)) < 0 ||
	    (r = opt_bool(obj, sec, "smt", &p->has_smt, &p->smt, err, errlen)) < 0 ||
	    (r = opt_bool(obj, sec, "track_dirty_pages", &p->has_dirty, &p->dirty, err,
			  errlen)) < 0)
		return r;

	/* Negative values must not wrap into something that passes the range check. */
	if (vcpus < 1 || vcpus > VM_MAX_VCPUS)
		return error_set(err, errlen, -EINVAL,
				 "machine-config.vcpu_count: must be between 1 and %d (got %lld)",
				 VM_MAX_VCPUS, (long long)vcpus);
	if (mem < VM_MIN_MEM_MIB || mem > VM_MAX_MEM_MIB)
		return error_set(err, errlen, -EINVAL,
				 "machine-config.mem_size_mib: must be between %d and %d (got %lld)",
				 VM_MIN_MEM_MIB, VM_MAX_MEM_MIB, (long long)mem);
	p->vcpus = (uint64_t)vcpus;
	p->mem_mib = (uint64_t)mem;
	if ((r = vm_config_check_vcpus(p->vcpus, p->has_smt ? p->smt : smt_default, err, errlen)) < 0)
		return r;

	json_t *tpl = json_object_get(obj, "cpu_template");
	if (tpl && !json_is_null(tpl)) {
		struct cpu_template t;
		if (!json_is_string(tpl))
			return error_set(err, errlen, -EINVAL,
					 "machine-config.cpu_template: expected a string");
		const char *name = json_string_value(tpl);
		if (strcmp(name, "V1N1") == 0)
			return error_set(err, errlen, -EINVAL,
					 "machine-config.cpu_template: V1N1 is an aarch64 "
					 "template; on x86 use one of None, C3, T2, T2S, T2CL, T2A");
		r = cpu_template_named(name, &t);
		cpu_template_free(&t);
		if (r == -ENOENT)
			return error_set(err, errlen, -EINVAL,
					 "machine-config.cpu_template: unknown template "
					 "'%s' (expected one of None, C3, T2, T2S, T2CL, T2A)",
					 name);
		if (r < 0)
			return error_oom(err, errlen);
		p->has_template = true;
		if (strcmp(name, "None") != 0) {
			p->template_name = strdup(name);
			if (!p->template_name)
				return error_oom(err, errlen);
		}
	}

	/* petrel's: the machine's identity (SMBIOS type 1, the firmware's UUID key) */
	json_t *u = json_object_get(obj, "uuid");
	if (u && !json_is_null(u)) {
		if (!json_is_string(u) || vm_uuid_parse(json_string_value(u), p->uuid) < 0)
			return error_set(err, errlen, -EINVAL,
					 "machine-config.uuid: expected a UUID (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)");
		p->has_uuid = true;
	}
	/* petrel's: the serial number SMBIOS shows (printable ASCII: an SMBIOS string) */
	json_t *sn = json_object_get(obj, "smbios_serial");
	if (sn && !json_is_null(sn)) {
		const char *s = json_string_value(sn);
		if (!ascii_printable(s, VM_SMBIOS_SERIAL_MAX))
			return error_set(err, errlen, -EINVAL, "machine-config.smbios_serial: expected 1 to %d printable "
					 "ASCII characters", VM_SMBIOS_SERIAL_MAX);
		snprintf(p->smbios_serial, sizeof(p->smbios_serial), "%s", s);
	}

	json_t *hp = json_object_get(obj, "huge_pages");
	if (hp && !json_is_null(hp)) {
		if (!json_is_string(hp) ||
		    guest_mem_backing_from_name(json_string_value(hp), &p->huge_pages) < 0)
			return error_set(err, errlen, -EINVAL,
					 "machine-config.huge_pages: expected one of None, Transparent, 2M");
		/* as Firecracker: 2 MiB pages need a memory size they divide */
		if (p->huge_pages == GUEST_MEM_PAGES_2M && p->mem_mib % 2)
			return error_set(err, errlen, -EINVAL,
					 "machine-config.huge_pages: 2M needs an even "
					 "mem_size_mib (got %llu)",
					 (unsigned long long)p->mem_mib);
		p->has_huge = true;
	}
	/* petrel's: what a guest reset does (docs/api.md) */
	json_t *rb = json_object_get(obj, "reboot");
	if (rb && !json_is_null(rb)) {
		const char *v = json_is_string(rb) ? json_string_value(rb) : "";
		if (strcmp(v, "reset") && strcmp(v, "stop"))
			return error_set(err, errlen, -EINVAL, "machine-config.reboot: expected one of reset, stop");
		p->has_reboot = true;
		p->no_reboot = !strcmp(v, "stop");
	}
	p->has_machine = true;
	return 0;
}

static int parse_cpu_config(json_t *obj, struct pending_config *p, char *err, size_t errlen)
{
	struct cpu_template t;
	char msg[256];

	if (!json_is_object(obj))
		return error_set(err, errlen, -EINVAL, "cpu-config: expected an object");
	char *text = json_dumps(obj, JSON_COMPACT);
	if (!text)
		return error_oom(err, errlen);
	int r = cpu_template_parse_json(text, &t, msg, sizeof(msg));
	cpu_template_free(&t);
	if (r < 0) {
		free(text);
		/* The text is a valid object, so every message starts with a field path. */
		error_set(err, errlen, -EINVAL, "cpu-config.%s", msg);
		return r;
	}
	p->cpu_config_json = text;
	return 0;
}

/* Sections of Firecracker's format that petrel will implement later. */
static const struct {
	const char *key;
	bool is_array;
} later_sections[] = {
	{ "logger", false },
	{ "metrics", false },
};

/* Returns 1 if key is one of the later sections (0 if not), or an error. */
static int check_later_section(const char *key, json_t *val, char *err, size_t errlen)
{
	for (size_t i = 0; i < ARRAY_SIZE(later_sections); i++) {
		if (strcmp(key, later_sections[i].key) != 0)
			continue;
		if (json_is_null(val))
			return 1;
		if (later_sections[i].is_array) {
			if (!json_is_array(val))
				return error_set(err, errlen, -EINVAL, "%s: expected an array", key);
			if (json_array_size(val) == 0)
				return 1;
		} else if (!json_is_object(val)) {
			return error_set(err, errlen, -EINVAL, "%s: expected an object", key);
		}
		return error_set(err, errlen, -EINVAL, "%s: not supported yet", key);
	}
	return 0;
}

static int parse_devices(const char *key, json_t *val, struct pending_config *p, char *err, size_t errlen)
{
	char where[64];
	int r;
	if (!strcmp(key, "drives") || !strcmp(key, "network-interfaces")) {
		bool drives = key[0] == 'd';
		if (json_is_null(val))
			return 0;
		if (!json_is_array(val))
			return error_set(err, errlen, -EINVAL, "%s: expected an array", key);
		size_t i;
		json_t *el;
		json_array_foreach(val, i, el) {
			snprintf(where, sizeof(where), "%s[%zu]", key, i);
			if (drives) {
				struct drive_config d;
				if ((r = drive_config_from_json(el, where, &d, err, errlen)) < 0)
					return r;
				char msg[256];
				r = vm_config_add_drive(&p->devs, &d, msg, sizeof(msg));
				drive_config_free(&d);
				if (r < 0)
					return error_set(err, errlen, -EINVAL, "%s: %s", where, msg);
			} else {
				struct net_config n;
				if ((r = net_config_from_json(el, where, &n, err, errlen)) < 0)
					return r;
				char msg[256];
				r = vm_config_add_net(&p->devs, &n, msg, sizeof(msg));
				net_config_free(&n);
				if (r < 0)
					return error_set(err, errlen, -EINVAL, "%s: %s", where, msg);
			}
		}
		if (drives)
			p->has_drives = true;
		else
			p->has_nets = true;
		return 0;
	}
	if (!strcmp(key, "vsock")) {
		if (json_is_null(val))
			return 0;
		if ((r = vsock_config_from_json(val, "vsock", &p->devs.vsock, err, errlen)) < 0)
			return r;
		p->has_vsock = p->devs.has_vsock = true;
		return 0;
	}
	if (json_is_null(val))
		return 0;
	if ((r = entropy_config_from_json(val, "entropy", &p->devs.entropy, err, errlen)) < 0)
		return r;
	p->has_entropy = p->devs.has_entropy = true;
	return 0;
}

static int parse_root(json_t *root, const struct vm_config *cfg, struct pending_config *p, char *err,
		      size_t errlen)
{
	const char *key;
	json_t *val;
	int r;

	if (!json_is_object(root))
		return error_set(err, errlen, -EINVAL, "expected a JSON object at the top level");
	json_object_foreach(root, key, val) {
		/* null is "not given", as in Firecracker (GET /vm/config writes unset sections so) */
		if (json_is_null(val) && (!strcmp(key, "boot-source") || !strcmp(key, "machine-config") ||
					  !strcmp(key, "cpu-config")))
			continue;
		if (strcmp(key, "boot-source") == 0)
			r = parse_boot_source(val, p, err, errlen);
		else if (strcmp(key, "machine-config") == 0)
			r = parse_machine_config(val, cfg->smt, p, err, errlen);
		else if (strcmp(key, "cpu-config") == 0)
			r = parse_cpu_config(val, p, err, errlen);
		else if (!strcmp(key, "mmds-config"))
			r = json_is_null(val) ? 0 : mmds_config_from_json(val, "mmds-config", &p->mmds, err, errlen);
		else if (!strcmp(key, "balloon")) {
			r = json_is_null(val) ? 0 : balloon_config_from_json(val, "balloon", &p->balloon, err, errlen);
			p->has_balloon = r == 0 && !json_is_null(val);
		}
		else if (!strcmp(key, "memory-hotplug")) {
			r = json_is_null(val) ? 0 : hotplug_memory_config_from_json(val, key, &p->memory_hotplug, err, errlen);
			p->has_memory_hotplug = r == 0 && !json_is_null(val);
		}
		else if (!strcmp(key, "vcpu-hotplug")) {
			r = json_is_null(val) ? 0 : hotplug_vcpu_config_from_json(val, key, &p->vcpu_hotplug, err, errlen);
			p->has_vcpu_hotplug = r == 0 && !json_is_null(val);
		}
		else if (!strcmp(key, "display")) {
			display_config_free(&p->display);
			r = json_is_null(val) ? 0 : display_config_from_json(val, key, &p->display, err, errlen);
			p->has_display = r == 0 && !json_is_null(val);
		}
		else if (!strcmp(key, "cpu-affinity")) {
			r = json_is_null(val) ? 0 : !p->cpu_affinity && !(p->cpu_affinity = malloc(sizeof(*p->cpu_affinity)))
				? error_oom(err, errlen) : cpu_affinity_from_json(val, key, p->cpu_affinity, err, errlen);
		}
		else if (!strcmp(key, "pmem")) {
			r = pmem_section_from_json(val, &p->devs, err, errlen);
			p->has_pmem = r == 0 && !json_is_null(val);
		}
		else if (!strcmp(key, "fs")) {
			r = fs_section_from_json(val, &p->devs, err, errlen);
			p->has_fs = r == 0 && !json_is_null(val);
		}
		else if (!strcmp(key, "console-ports")) {
			r = console_ports_section_from_json(val, &p->devs, err, errlen);
			p->has_console_ports = r == 0 && !json_is_null(val);
		}
		else if (!strcmp(key, "guest-agent")) {
			r = json_is_null(val) ? 0 : guest_agent_config_from_json(val, key, &p->guest_agent, err, errlen);
			p->has_guest_agent = r == 0 && !json_is_null(val);
		}
		else if (!strcmp(key, "drives") || !strcmp(key, "network-interfaces") ||
			 !strcmp(key, "vsock") || !strcmp(key, "entropy"))
			r = parse_devices(key, val, p, err, errlen);
		else if ((r = check_later_section(key, val, err, errlen)) == 0)
			r = error_set(err, errlen, -EINVAL, "unknown field '%s'", key);
		if (r < 0)
			return r;
	}
	return 0;
}

static void take(char **dst, char **src)
{
	free(*dst);
	*dst = *src;
	*src = NULL;
}

int vm_config_parse_json(const char *json, struct vm_config *cfg, char *err, size_t errlen)
{
	_cleanup_(pending_free) struct pending_config p = { 0 };
	json_error_t jerr;

	if (!json)
		return error_set(err, errlen, -EINVAL, "no JSON text");
	json_t *root = json_loads(json, JSON_REJECT_DUPLICATES, &jerr);
	if (!root)
		return error_set(err, errlen, -EINVAL, "invalid JSON at line %d, column %d: %s", jerr.line,
				 jerr.column, jerr.text);
	int r = parse_root(root, cfg, &p, err, errlen);
	json_decref(root);
	/* MMDS interfaces must exist (the document's network interfaces, or the config's). */
	if (r == 0 && p.mmds.configured) {
		char msg[256];
		const struct vm_config *n = p.has_nets ? &p.devs : cfg;
		if ((r = mmds_config_check_ifaces(&p.mmds, n->nets, n->nnets, msg, sizeof(msg))) < 0)
			error_set(err, errlen, -EINVAL, "mmds-config: %s", msg);
	}
	if (r < 0)
		return r;

	if (p.has_kernel || p.has_firmware || p.from_disk) { /* a boot source is one of them */
		take(&cfg->kernel_path, &p.kernel);
		take(&cfg->firmware, &p.firmware);
		take(&cfg->firmware_vars, &p.vars);
		cfg->from_disk = p.from_disk;
	}
	if (p.has_initrd)
		take(&cfg->initrd_path, &p.initrd);
	if (p.has_cmdline)
		take(&cfg->cmdline, &p.cmdline);
	if (p.has_machine) {
		cfg->vcpus = (unsigned)p.vcpus;
		cfg->mem_mib = p.mem_mib;
	}
	if (p.has_smt)
		cfg->smt = p.smt;
	if (p.has_dirty)
		cfg->track_dirty_pages = p.dirty;
	if (p.has_huge)
		cfg->huge_pages = p.huge_pages;
	if (p.has_machine) { /* machine-config replaces the whole section: no uuid clears it */
		cfg->has_uuid = p.has_uuid;
		memcpy(cfg->uuid, p.uuid, 16);
		memcpy(cfg->smbios_serial, p.smbios_serial, sizeof(cfg->smbios_serial));
	}
	if (p.has_reboot)
		cfg->no_reboot = p.no_reboot;
	if (p.has_template)
		take(&cfg->cpu_template, &p.template_name);
	if (p.cpu_config_json)
		take(&cfg->cpu_config_json, &p.cpu_config_json);
	if (p.has_drives) {
		for (unsigned i = 0; i < cfg->ndrives; i++)
			drive_config_free(&cfg->drives[i]);
		memcpy(cfg->drives, p.devs.drives, sizeof(cfg->drives));
		cfg->ndrives = p.devs.ndrives;
		p.devs.ndrives = 0;
	}
	if (p.has_nets) {
		for (unsigned i = 0; i < cfg->nnets; i++)
			net_config_free(&cfg->nets[i]);
		memcpy(cfg->nets, p.devs.nets, sizeof(cfg->nets));
		cfg->nnets = p.devs.nnets;
		p.devs.nnets = 0;
	}
	if (p.has_vsock) {
		vsock_config_free(&cfg->vsock);
		cfg->vsock = p.devs.vsock;
		cfg->has_vsock = true;
		memset(&p.devs.vsock, 0, sizeof(p.devs.vsock));
		p.devs.has_vsock = false;
	}
	if (p.has_entropy) {
		cfg->entropy = p.devs.entropy;
		cfg->has_entropy = true;
	}
	if (p.has_balloon) {
		cfg->balloon = p.balloon;
		cfg->has_balloon = true;
	}
	if (p.has_memory_hotplug) {
		cfg->memory_hotplug = p.memory_hotplug;
		cfg->has_memory_hotplug = true;
	}
	if (p.has_pmem) {
		pmem_section_free(cfg);
		memcpy(cfg->pmem, p.devs.pmem, sizeof(cfg->pmem));
		cfg->npmem = p.devs.npmem;
		p.devs.npmem = 0;
	}
	if (p.has_fs) {
		fs_section_free(cfg);
		memcpy(cfg->fs, p.devs.fs, sizeof(cfg->fs));
		cfg->nfs = p.devs.nfs;
		p.devs.nfs = 0;
	}
	if (p.has_console_ports) {
		console_ports_section_free(cfg);
		memcpy(cfg->console_ports, p.devs.console_ports, sizeof(cfg->console_ports));
		cfg->nconsole_ports = p.devs.nconsole_ports;
		p.devs.nconsole_ports = 0;
	}
	if (p.has_guest_agent) {
		cfg->guest_agent = p.guest_agent;
		cfg->has_guest_agent = true;
	}
	if (p.has_vcpu_hotplug) {
		cfg->vcpu_hotplug = p.vcpu_hotplug;
		cfg->has_vcpu_hotplug = true;
	}
	if (p.has_display) {
		display_config_free(&cfg->display);
		cfg->display = TAKE_STRUCT(p.display);
		cfg->has_display = true;
	}
	if (p.cpu_affinity) {
		free(cfg->cpu_affinity);
		cfg->cpu_affinity = TAKE_PTR(p.cpu_affinity);
	}
	if (p.mmds.configured) {
		mmds_config_free(&cfg->mmds);
		cfg->mmds = TAKE_STRUCT(p.mmds);
	}
	return 0;
}

int vm_config_load_file(const char *path, struct vm_config *cfg, char *err, size_t errlen)
{
	_cleanup_free_ char *buf = NULL;
	char msg[512];

	int r = json_read_text_file(path, VM_CONFIG_FILE_MAX, "config file", &buf, err, errlen);
	if (r < 0)
		return r;
	r = vm_config_parse_json(buf, cfg, msg, sizeof(msg));
	if (r < 0)
		error_set(err, errlen, -EINVAL, "%s: %s", path, msg);
	return r;
}
