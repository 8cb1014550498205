/* The VM definition: what it holds, adding devices to it, and the checks a definition must
 * pass before a VM is built from it. Its JSON form is read in vm_config_parse.c and written
 * in vm_config_json.c. */
#include "config/vm_config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include <jansson.h>

#include "config/cpu_template.h"
#include "util/error.h"
#include "util/json_util.h"
#include "util/util.h"


void vm_config_init(struct vm_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->vcpus = 1;
	cfg->mem_mib = 128;
	cfg->pvm_workarounds = -1;
}

void vm_config_free(struct vm_config *cfg)
{
	if (!cfg)
		return;
	free(cfg->kernel_path);
	free(cfg->firmware);
	cfg->firmware = NULL;
	free(cfg->firmware_vars);
	cfg->firmware_vars = NULL;
	free(cfg->initrd_path);
	free(cfg->cmdline);
	free(cfg->cpu_template);
	free(cfg->cpu_config_path);
	free(cfg->cpu_config_json);
	cfg->kernel_path = cfg->initrd_path = cfg->cmdline = NULL;
	cfg->cpu_template = cfg->cpu_config_path = cfg->cpu_config_json = NULL;
	for (unsigned i = 0; i < cfg->ndrives; i++)
		drive_config_free(&cfg->drives[i]);
	cfg->ndrives = 0;
	for (unsigned i = 0; i < cfg->nnets; i++)
		net_config_free(&cfg->nets[i]);
	cfg->nnets = 0;
	vsock_config_free(&cfg->vsock);
	cfg->has_vsock = false;
	entropy_config_free(&cfg->entropy);
	cfg->has_entropy = false;
	cfg->has_balloon = false;
	cfg->has_memory_hotplug = false;
	pmem_section_free(cfg);
	fs_section_free(cfg);
	console_ports_section_free(cfg);
	cfg->has_guest_agent = false;
	cfg->has_vcpu_hotplug = false;
	display_config_free(&cfg->display);
	cfg->has_display = false;
	mmds_config_free(&cfg->mmds);
	free(cfg->cpu_affinity);
	cfg->cpu_affinity = NULL;
}

int vm_uuid_parse(const char *s, uint8_t out[16])
{
	static const unsigned dash[] = { 8, 13, 18, 23 };
	if (strlen(s) != VM_UUID_STR - 1)
		return -EINVAL;
	for (unsigned i = 0, d = 0, b = 0; i < VM_UUID_STR - 1; i++) {
		if (d < 4 && i == dash[d]) {
			if (s[i] != '-')
				return -EINVAL;
			d++;
			continue;
		}
		char c = s[i];
		int v = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
		if (v < 0)
			return -EINVAL;
		out[b / 2] = (uint8_t)(b % 2 ? (out[b / 2] | v) : v << 4);
		b++;
	}
	return 0;
}

void vm_uuid_format(const uint8_t u[16], char out[VM_UUID_STR])
{
	snprintf(out, VM_UUID_STR, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", u[0], u[1],
		 u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12], u[13], u[14], u[15]);
}

int vm_config_ensure_uuid(struct vm_config *cfg)
{
	if (cfg->has_uuid)
		return 0;
	if (getrandom(cfg->uuid, sizeof(cfg->uuid), 0) != (ssize_t)sizeof(cfg->uuid))
		return -errno;
	cfg->uuid[6] = (uint8_t)((cfg->uuid[6] & 0x0f) | 0x40); /* version 4: random */
	cfg->uuid[8] = (uint8_t)((cfg->uuid[8] & 0x3f) | 0x80); /* RFC 4122 variant */
	cfg->has_uuid = true;
	return 0;
}

bool vm_config_has_boot_resources(const struct vm_config *c)
{
	return c->kernel_path || c->firmware || c->from_disk || c->ndrives || c->npmem || c->nfs || c->nnets || c->has_vsock ||
	       c->nconsole_ports || c->has_entropy || c->has_balloon || c->has_memory_hotplug || c->has_vcpu_hotplug ||
	       c->has_display;
}

int vm_config_check_from_disk(const struct vm_config *cfg, char *err, size_t errlen)
{
	const char *other = cfg->kernel_path ? "kernel_image_path" : cfg->initrd_path ? "initrd_path"
			    : cfg->firmware ? "firmware" : cfg->firmware_vars ? "firmware_vars_path" : NULL;
	if (other)
		return error_set(err, errlen, -EINVAL, "boot-source: from_disk and %s exclude each other (the "
				 "kernel and initrd come from the boot disk)", other);
	if (vm_config_boot_drive(cfg) < 0)
		return error_set(err, errlen, -EINVAL, "boot-source.from_disk: the VM has no drive to boot from");
	return 0;
}

int vm_config_boot_drive(const struct vm_config *cfg)
{
	for (unsigned i = 0; i < cfg->ndrives; i++)
		if (cfg->drives[i].is_root_device)
			return (int)i;
	return cfg->ndrives ? 0 : -1;
}

int vm_config_add_drive(struct vm_config *cfg, struct drive_config *d, char *err, size_t errlen)
{
	for (unsigned i = 0; i < cfg->ndrives; i++) {
		if (!strcmp(cfg->drives[i].drive_id, d->drive_id))
			return error_set(err, errlen, -EINVAL, "drive '%s' is defined twice", d->drive_id),
			       -EEXIST;
		if (d->is_root_device && cfg->drives[i].is_root_device)
			return error_set(err, errlen, -EINVAL, "drive '%s': '%s' is already the root device",
					 d->drive_id, cfg->drives[i].drive_id),
			       -EEXIST;
	}
	if (d->is_root_device && pmem_root_index(cfg) >= 0)
		return error_set(err, errlen, -EINVAL,
				 "drive '%s': pmem device '%s' is already the root device", d->drive_id,
				 cfg->pmem[pmem_root_index(cfg)].id),
		       -EEXIST;
	if (cfg->ndrives == DEVICES_MAX_DRIVES)
		return error_set(err, errlen, -EINVAL, "at most %d drives", DEVICES_MAX_DRIVES), -ENOSPC;
	cfg->drives[cfg->ndrives++] = *d;
	memset(d, 0, sizeof(*d));
	return 0;
}

int vm_config_add_net(struct vm_config *cfg, struct net_config *n, char *err, size_t errlen)
{
	for (unsigned i = 0; i < cfg->nnets; i++) {
		if (!strcmp(cfg->nets[i].iface_id, n->iface_id))
			return error_set(err, errlen, -EINVAL, "network interface '%s' is defined twice",
					 n->iface_id),
			       -EEXIST;
		if (!strcmp(cfg->nets[i].host_dev_name, n->host_dev_name))
			return error_set(err, errlen, -EINVAL,
					 "network interfaces '%s' and '%s' use the same tap '%s'",
					 cfg->nets[i].iface_id, n->iface_id, n->host_dev_name),
			       -EEXIST;
	}
	if (cfg->nnets == DEVICES_MAX_NETS)
		return error_set(err, errlen, -EINVAL, "at most %d network interfaces", DEVICES_MAX_NETS),
		       -ENOSPC;
	cfg->nets[cfg->nnets++] = *n;
	memset(n, 0, sizeof(*n));
	return 0;
}

int vm_config_check_vcpus(uint64_t vcpus, bool smt, char *err, size_t errlen)
{
	if (vcpus < 1 || vcpus > VM_MAX_VCPUS)
		return error_set(err, errlen, -EINVAL,
				 "machine-config.vcpu_count: must be between 1 and %d (got %llu)",
				 VM_MAX_VCPUS, (unsigned long long)vcpus);
	if (smt && vcpus > 1 && vcpus % 2)
		return error_set(err, errlen, -EINVAL,
				 "machine-config.vcpu_count: must be 1 or an even number "
				 "when smt is enabled (got %llu)",
				 (unsigned long long)vcpus);
	return 0;
}

static int check_mem(uint64_t mib, char *err, size_t errlen)
{
	if (mib < VM_MIN_MEM_MIB || mib > VM_MAX_MEM_MIB)
		return error_set(err, errlen, -EINVAL,
				 "machine-config.mem_size_mib: must be between %d and %d (got %llu)",
				 VM_MIN_MEM_MIB, VM_MAX_MEM_MIB, (unsigned long long)mib);
	return 0;
}

int vm_config_validate(const struct vm_config *cfg, char *err, size_t errlen)
{
	int r;
	if (cfg->firmware && (r = vm_config_check_firmware(cfg, err, errlen)) < 0)
		return r;
	if (!cfg->firmware && cfg->firmware_vars)
		return error_set(err, errlen, -EINVAL, "boot-source.firmware_vars_path: goes with a firmware");
	if (cfg->from_disk && (r = vm_config_check_from_disk(cfg, err, errlen)) < 0)
		return r;
	if (!cfg->firmware && !cfg->from_disk && (!cfg->kernel_path || !*cfg->kernel_path))
		return error_set(err, errlen, -EINVAL, "no kernel image given (boot-source.kernel_image_path, a "
				 "boot-source.firmware or boot-source.from_disk)");
	if ((r = vm_config_check_vcpus(cfg->vcpus, cfg->smt, err, errlen)) < 0)
		return r;
	if (cfg->huge_pages == GUEST_MEM_PAGES_2M && cfg->mem_mib % 2)
		return error_set(err, errlen, -EINVAL,
				 "huge_pages 2M needs an even memory size in MiB (got %llu)",
				 (unsigned long long)cfg->mem_mib);
	if (cfg->has_balloon && cfg->balloon.amount_mib > cfg->mem_mib)
		return error_set(err, errlen, -EINVAL,
				 "balloon.amount_mib: %u MiB is more than the guest's %llu MiB of memory",
				 cfg->balloon.amount_mib, (unsigned long long)cfg->mem_mib);
	if ((r = pmem_check_root(cfg, err, errlen)) < 0 || (r = fs_check_config(cfg, err, errlen)) < 0 ||
	    (r = console_check_config(cfg, err, errlen)) < 0)
		return r;
	if (cfg->has_vcpu_hotplug &&
	    (r = hotplug_vcpu_config_check(&cfg->vcpu_hotplug, cfg->vcpus, cfg->smt, err, errlen)) < 0)
		return r;
	return check_mem(cfg->mem_mib, err, errlen);
}
