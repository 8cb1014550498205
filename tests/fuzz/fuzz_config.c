/* libFuzzer target: vm_config_parse_json() (Firecracker --config-file JSON), then
 * vm_config_validate() on what it accepted; and a snapshot's "EXTN" section parser
 * (vm_config_extensions_from_json) on the same text, against the devices it defined. */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "config/vm_config.h"
#include "fuzz_common.h"

FUZZ_QUIET_LOGS()

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *json = malloc(size + 1);
	if (!json)
		abort();
	memcpy(json, data, size);
	json[size] = 0;
	struct vm_config cfg;
	vm_config_init(&cfg);
	char err[256];
	err[0] = 0;
	int r = vm_config_parse_json(json, &cfg, err, sizeof(err));
	FUZZ_CHECK(r == 0 || r == -EINVAL);
	FUZZ_CHECK(memchr(err, 0, sizeof(err)) != NULL);
	if (r == 0) {
		r = vm_config_validate(&cfg, err, sizeof(err));
		FUZZ_CHECK(r == 0 || r == -EINVAL);
		if (r == 0) {
			FUZZ_CHECK(cfg.kernel_path != NULL);
			FUZZ_CHECK(cfg.vcpus >= 1 && cfg.vcpus <= VM_MAX_VCPUS);
			FUZZ_CHECK(cfg.mem_mib >= VM_MIN_MEM_MIB && cfg.mem_mib <= VM_MAX_MEM_MIB);
		}
		/* a snapshot's petrel extensions for these devices: accepted or -EINVAL, never more */
		json_t *ext = json_loads(json, 0, NULL);
		if (ext) {
			r = vm_config_extensions_from_json(ext, &cfg, err, sizeof(err));
			FUZZ_CHECK(r == 0 || r == -EINVAL);
			FUZZ_CHECK(cfg.virtio_transport <= VIRTIO_TRANSPORT_MMIO);
			json_decref(ext);
		}
		/* and the extensions this config writes are read back as they were */
		json_t *out = vm_config_extensions_to_json(&cfg);
		if (out) {
			struct vm_config copy = cfg;
			FUZZ_CHECK(vm_config_extensions_from_json(out, &copy, err, sizeof(err)) == 0);
			json_decref(out);
		}
		/* parsing again on top of a filled config replaces fields without leaking */
		struct vm_config again = cfg;
		(void)vm_config_parse_json(json, &again, err, sizeof(err));
		cfg = again;
	} else {
		/* on error the config is unchanged: still the defaults */
		FUZZ_CHECK(cfg.vcpus == 1 && cfg.mem_mib == 128 && cfg.kernel_path == NULL);
	}
	vm_config_free(&cfg);
	free(json);
	return 0;
}
