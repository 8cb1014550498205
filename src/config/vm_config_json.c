/* A VM definition as JSON: Firecracker's document (GET /vm/config, what a snapshot records)
 * and petrel's own extensions to it (device transports, O_DIRECT, polling: CLI options that
 * Firecracker's format has no place for, which a snapshot must carry to rebuild the same
 * machine). */
#include "config/vm_config.h"
#include "util/error.h"
#include "util/json_util.h"

#include <errno.h>
#include <string.h>

json_t *vm_machine_config_to_json(const struct vm_config *c)
{
	json_t *o = json_pack("{s:i, s:I, s:b, s:b, s:s}", "vcpu_count", (int)c->vcpus, "mem_size_mib",
			      (json_int_t)c->mem_mib, "smt", c->smt, "track_dirty_pages", c->track_dirty_pages,
			      "huge_pages", guest_mem_backing_name(c->huge_pages));
	/* Firecracker leaves cpu_template out when there is none. */
	if (o && c->cpu_template && strcmp(c->cpu_template, "None"))
		json_object_set_new(o, "cpu_template", json_string(c->cpu_template));
	if (o && c->has_uuid) { /* petrel's, only when there is one */
		char s[VM_UUID_STR];
		vm_uuid_format(c->uuid, s);
		json_object_set_new(o, "uuid", json_string(s));
	}
	if (o && c->smbios_serial[0])
		json_object_set_new(o, "smbios_serial", json_string(c->smbios_serial));
	/* petrel's: only when not the default, so the document looks as Firecracker's */
	if (o && c->no_reboot)
		json_object_set_new(o, "reboot", json_string("stop"));
	return o;
}

/* Firecracker writes its unset optionals as null. */
static int set_opt_string(json_t *o, const char *key, const char *val)
{
	return json_object_set_new(o, key, val ? json_string(val) : json_null());
}

static int append(json_t *arr, json_t *el)
{
	return !el || json_array_append_new(arr, el) < 0;
}

json_t *vm_config_to_json(const struct vm_config *c)
{
	json_t *o = json_object(), *drives = json_array(), *nets = json_array();
	json_t *mc = vm_machine_config_to_json(c);
	int err = !o || !drives || !nets || !mc;
	if (!err && (c->kernel_path || c->firmware || c->from_disk)) {
		json_t *bs = json_object();
		/* petrel's "firmware" and "from_disk" only when set: Firecracker's document is unchanged */
		err = !bs || (c->firmware ? set_opt_string(bs, "firmware", c->firmware)
			      : c->from_disk ? json_object_set_new(bs, "from_disk", json_true())
					     : set_opt_string(bs, "kernel_image_path", c->kernel_path)) < 0 ||
		      (c->firmware_vars && set_opt_string(bs, "firmware_vars_path", c->firmware_vars) < 0) ||
		      set_opt_string(bs, "initrd_path", c->initrd_path) < 0 ||
		      set_opt_string(bs, "boot_args", c->cmdline) < 0 ||
		      json_object_set_new(o, "boot-source", bs) < 0;
	}
	if (!err)
		err = json_object_set_new(o, "machine-config", mc) < 0;
	mc = NULL;
	if (!err && c->cpu_config_json) {
		json_t *cc = json_loads(c->cpu_config_json, 0, NULL);
		err = !cc || json_object_set_new(o, "cpu-config", cc) < 0;
	}
	for (unsigned i = 0; !err && i < c->ndrives; i++)
		err = append(drives, drive_config_to_json(&c->drives[i]));
	for (unsigned i = 0; !err && i < c->nnets; i++)
		err = append(nets, net_config_to_json(&c->nets[i]));
	if (!err) {
		err = json_object_set_new(o, "drives", drives) < 0 ||
		      json_object_set_new(o, "network-interfaces", nets) < 0;
		drives = nets = NULL;
	}
	json_t *v = !err && c->has_vsock ? vsock_config_to_json(&c->vsock) : json_null();
	err = err || !v || json_object_set_new(o, "vsock", v) < 0;
	json_t *e = !err && c->has_entropy ? entropy_config_to_json(&c->entropy) : json_null();
	err = err || !e || json_object_set_new(o, "entropy", e) < 0;
	/* Sections Firecracker reports and petrel does not have, or does not report: null. */
	json_t *mm = !err && c->mmds.configured ? mmds_config_to_json(&c->mmds) : json_null();
	err = err || !mm || json_object_set_new(o, "mmds-config", mm) < 0;
	json_t *bl = !err && c->has_balloon ? balloon_config_to_json(&c->balloon) : json_null();
	err = err || !bl || json_object_set_new(o, "balloon", bl) < 0;
	json_t *hm = !err && c->has_memory_hotplug ? hotplug_memory_config_to_json(&c->memory_hotplug) : json_null();
	err = err || !hm || json_object_set_new(o, "memory-hotplug", hm) < 0;
	json_t *pm = !err ? pmem_section_to_json(c) : NULL;
	err = err || !pm || json_object_set_new(o, "pmem", pm) < 0;
	/* petrel's "fs" (virtio-fs) only when configured: Firecracker's document has no such key */
	json_t *fs = !err && c->nfs ? fs_section_to_json(c) : NULL;
	if (!err && c->nfs)
		err = !fs || json_object_set_new(o, "fs", fs) < 0;
	/* petrel's "console-ports" and "guest-agent" only when configured (docs/guest-agent.md) */
	if (!err && c->nconsole_ports) {
		json_t *cp = console_ports_section_to_json(c);
		err = !cp || json_object_set_new(o, "console-ports", cp) < 0;
	}
	if (!err && c->has_guest_agent) {
		json_t *ga = guest_agent_config_to_json(&c->guest_agent);
		err = !ga || json_object_set_new(o, "guest-agent", ga) < 0;
	}
	/* petrel's "vcpu-hotplug" only when configured: Firecracker's document has no such key */
	if (!err && c->has_vcpu_hotplug) {
		json_t *hv = hotplug_vcpu_config_to_json(&c->vcpu_hotplug);
		err = !hv || json_object_set_new(o, "vcpu-hotplug", hv) < 0;
	}
	/* petrel's "display" only when configured: Firecracker's document has no such key */
	if (!err && c->has_display) {
		json_t *dp = display_config_to_json(&c->display);
		err = !dp || json_object_set_new(o, "display", dp) < 0;
	}
	static const char *const unset[] = { "logger", "metrics" };
	for (unsigned i = 0; !err && i < sizeof(unset) / sizeof(unset[0]); i++)
		err = json_object_set_new(o, unset[i], json_null()) < 0;
	if (!err && !c->cpu_config_json)
		err = json_object_set_new(o, "cpu-config", json_null()) < 0;
	json_decref(drives);
	json_decref(nets);
	json_decref(mc);
	if (err) {
		json_decref(o);
		return NULL;
	}
	return o;
}

/* ---- petrel's extensions ---- */

static const char *const transport_names[] = { "default", "pci", "mmio" };

static json_t *transport_json(enum virtio_transport_kind k)
{
	return json_string(transport_names[k <= VIRTIO_TRANSPORT_MMIO ? k : 0]);
}

json_t *vm_config_extensions_to_json(const struct vm_config *c)
{
	json_t *o = json_pack("{s:o, s:b, s:b, s:i, s:b, s:b}", "virtio_transport",
			      transport_json(c->virtio_transport), "virtio_mmio_cmdline",
			      c->virtio_mmio_cmdline, "debug_exit", c->debug_exit, "pvm",
			      c->pvm_workarounds, "stats", c->stats, "vmgenid", !c->no_vmgenid);
	json_t *drives = json_array(), *nets = json_array();
	int err = !o || !drives || !nets;
	for (unsigned i = 0; !err && i < c->ndrives; i++)
		err = append(drives, json_pack("{s:o, s:b, s:i}", "transport",
					       transport_json(c->drives[i].transport), "direct",
					       c->drives[i].direct, "poll_us", (int)c->drives[i].poll_us));
	for (unsigned i = 0; !err && i < c->nnets; i++)
		err = append(nets, json_pack("{s:o}", "transport", transport_json(c->nets[i].transport)));
	if (!err)
		err = json_object_set_new(o, "drives", drives) < 0 ||
		      json_object_set_new(o, "network-interfaces", nets) < 0;
	drives = nets = NULL;
	if (!err && c->has_vsock)
		err = json_object_set_new(o, "vsock", json_pack("{s:o}", "transport",
								 transport_json(c->vsock.transport))) < 0;
	if (!err && c->has_entropy)
		err = json_object_set_new(o, "entropy", json_pack("{s:o}", "transport",
								   transport_json(c->entropy.transport))) < 0;
	if (!err && vm_config_has_console(c))
		err = json_object_set_new(o, "console", json_pack("{s:o}", "transport",
								   transport_json(c->console_transport))) < 0;
	json_t *pmem = !err && c->npmem ? json_array() : NULL;
	for (unsigned i = 0; pmem && !err && i < c->npmem; i++)
		err = append(pmem, json_pack("{s:o}", "transport", transport_json(c->pmem[i].transport)));
	if (pmem && err)
		json_decref(pmem);
	else if (pmem)
		err = json_object_set_new(o, "pmem", pmem) < 0;
	json_decref(drives);
	json_decref(nets);
	if (err) {
		json_decref(o);
		return NULL;
	}
	return o;
}

static int get_transport(json_t *obj, const char *where, enum virtio_transport_kind *out, char *err,
			 size_t errlen)
{
	static const char *const keys[] = { "transport", "direct", "poll_us", NULL };
	int r = json_check_keys(obj, where, keys, err, errlen);
	if (r < 0)
		return r;
	const char *s = json_string_value(json_object_get(obj, "transport"));
	for (int k = 0; s && k <= VIRTIO_TRANSPORT_MMIO; k++)
		if (strcmp(s, transport_names[k]) == 0) {
			*out = (enum virtio_transport_kind)k;
			return 0;
		}
	return error_set(err, errlen, -EINVAL, "%s.transport: expected \"default\", \"pci\" or \"mmio\"",
			 where);
}

static int get_array(json_t *o, const char *key, unsigned want, json_t **out, char *err, size_t errlen)
{
	*out = json_object_get(o, key);
	if (!json_is_array(*out) || json_array_size(*out) != want)
		return error_set(err, errlen, -EINVAL, "petrel.%s: expected an array of %u", key, want);
	return 0;
}

int vm_config_extensions_from_json(json_t *o, struct vm_config *c, char *err, size_t errlen)
{
	static const char *const keys[] = { "virtio_transport", "virtio_mmio_cmdline", "debug_exit",
					    "pvm", "stats", "drives", "network-interfaces", "vsock",
					    "entropy", "vmgenid", "pmem", "console", NULL };
	if (!json_is_object(o))
		return error_set(err, errlen, -EINVAL, "petrel: expected an object");
	int r = json_check_keys(o, "petrel", keys, err, errlen);
	if (r < 0)
		return r;
	json_t *pvm = json_object_get(o, "pvm");
	if (!json_is_boolean(json_object_get(o, "virtio_mmio_cmdline")) ||
	    !json_is_boolean(json_object_get(o, "debug_exit")) ||
	    !json_is_boolean(json_object_get(o, "stats")) || !json_is_integer(pvm) ||
	    json_integer_value(pvm) < -1 || json_integer_value(pvm) > 1 ||
	    (json_object_get(o, "vmgenid") && !json_is_boolean(json_object_get(o, "vmgenid"))))
		return error_set(err, errlen, -EINVAL, "petrel: missing or mistyped options");
	json_t *vt = json_pack("{s:O}", "transport", json_object_get(o, "virtio_transport"));
	r = vt ? get_transport(vt, "petrel.virtio_transport", &c->virtio_transport, err, errlen)
	       : error_oom(err, errlen);
	json_decref(vt);
	if (r < 0)
		return r;
	c->virtio_mmio_cmdline = json_is_true(json_object_get(o, "virtio_mmio_cmdline"));
	c->debug_exit = json_is_true(json_object_get(o, "debug_exit"));
	c->stats = json_is_true(json_object_get(o, "stats"));
	c->pvm_workarounds = (int)json_integer_value(pvm);
	c->no_vmgenid = json_is_false(json_object_get(o, "vmgenid")); /* absent (older petrel): on */
	json_t *arr;
	if ((r = get_array(o, "drives", c->ndrives, &arr, err, errlen)) < 0)
		return r;
	for (unsigned i = 0; i < c->ndrives; i++) {
		json_t *d = json_array_get(arr, i);
		json_t *poll = json_object_get(d, "poll_us");
		if (!json_is_object(d) || !json_is_boolean(json_object_get(d, "direct")) ||
		    !json_is_integer(poll) || json_integer_value(poll) < 0 ||
		    json_integer_value(poll) > 1000000)
			return error_set(err, errlen, -EINVAL,
					 "petrel.drives[%u]: missing or mistyped options", i);
		if ((r = get_transport(d, "petrel.drives[]", &c->drives[i].transport, err, errlen)) < 0)
			return r;
		c->drives[i].direct = json_is_true(json_object_get(d, "direct"));
		c->drives[i].poll_us = (uint32_t)json_integer_value(poll);
	}
	if ((r = get_array(o, "network-interfaces", c->nnets, &arr, err, errlen)) < 0)
		return r;
	for (unsigned i = 0; i < c->nnets; i++)
		if ((r = get_transport(json_array_get(arr, i), "petrel.network-interfaces[]",
				       &c->nets[i].transport, err, errlen)) < 0)
			return r;
	json_t *v = json_object_get(o, "vsock"), *e = json_object_get(o, "entropy");
	if (!v != !c->has_vsock || !e != !c->has_entropy)
		return error_set(err, errlen, -EINVAL,
				 "petrel: vsock/entropy options do not match the devices");
	if (v && (r = get_transport(v, "petrel.vsock", &c->vsock.transport, err, errlen)) < 0)
		return r;
	if (e && (r = get_transport(e, "petrel.entropy", &c->entropy.transport, err, errlen)) < 0)
		return r;
	/* the console's transport: absent (no console, or an older snapshot) is the default */
	json_t *con = json_object_get(o, "console");
	if (con && (r = get_transport(con, "petrel.console", &c->console_transport, err, errlen)) < 0)
		return r;
	/* pmem transports: absent (no pmem devices, or a snapshot older than them) is the default */
	json_t *pm = json_object_get(o, "pmem");
	if (pm && (r = get_array(o, "pmem", c->npmem, &arr, err, errlen)) < 0)
		return r;
	for (unsigned i = 0; pm && i < c->npmem; i++)
		if ((r = get_transport(json_array_get(arr, i), "petrel.pmem[]", &c->pmem[i].transport, err, errlen)) < 0)
			return r;
	return 0;
}
