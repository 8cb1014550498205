/* libFuzzer target: the CPU hot-plug register block (src/devices/legacy/cpu_hotplug.c) as a
 * hostile guest drives it, and the CPUH state a snapshot, migration or replication stream
 * hands to cpu_hotplug_restore. The input's first 48 bytes are a saved state (restored if it
 * passes the checks), the rest a program of register accesses: per step one byte of op
 * (read/write, offset, length) and up to four bytes of data, with VMM inserts and removal
 * requests mixed in. After every step: inserting and removing only for present vCPUs, vCPU 0
 * present, nothing past max_cpus, and an eject callback only for a vCPU that was present. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "devices/legacy/cpu_hotplug.h"
#include "fuzz_common.h"

static uint64_t was_present;
static unsigned ejects;

static void on_eject(void *opaque, unsigned cpu)
{
	(void)opaque;
	FUZZ_CHECK(cpu != 0 && cpu < CPUHP_MAX_CPUS && ((was_present >> cpu) & 1));
	ejects++;
}

static void invariants(struct cpu_hotplug *h)
{
	uint64_t valid = h->st.max_cpus >= 64 ? ~0ull : (1ull << h->st.max_cpus) - 1;
	FUZZ_CHECK(h->st.present & 1);
	FUZZ_CHECK(((h->st.present | h->st.inserting | h->st.removing) & ~valid) == 0);
	FUZZ_CHECK(((h->st.inserting | h->st.removing) & ~h->st.present) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2)
		return 0;
	struct cpu_hotplug h;
	unsigned max = 1 + data[0] % CPUHP_MAX_CPUS, boot = 1 + data[1] % max;
	cpu_hotplug_init(&h, max, boot, CPUHP_PORT, on_eject, NULL);
	data += 2;
	size -= 2;
	char err[256] = "";
	if (size >= sizeof(struct vcpu_hotplug_state)) {
		struct vcpu_hotplug_state st;
		memcpy(&st, data, sizeof(st));
		struct vcpu_hotplug_state before = h.st;
		if (cpu_hotplug_restore(&h, &st, err, sizeof(err)) == 0)
			FUZZ_CHECK(memcmp(&h.st, &st, sizeof(st)) == 0);
		else
			FUZZ_CHECK(err[0] && memcmp(&h.st, &before, sizeof(before)) == 0);
		data += sizeof(st);
		size -= sizeof(st);
	}
	invariants(&h);
	ejects = 0;
	while (size > 0) {
		uint8_t op = data[0];
		uint8_t buf[8] = { 0 };
		size_t n = size - 1 < 4 ? size - 1 : 4;
		memcpy(buf, data + 1, n);
		data += 1 + n;
		size -= 1 + n;
		unsigned off = op & 7, len = 1u << ((op >> 3) & 3);
		unsigned cpu = buf[0] % 70;
		unsigned before_ejects = ejects;
		was_present = h.st.present;
		switch (op >> 5) {
		case 0: case 1: case 2:
			cpu_hotplug_write(&h, off, buf, len);
			break;
		case 3: case 4:
			cpu_hotplug_read(&h, off, buf, len);
			if (off == CPUHP_STATUS_OFF)
				FUZZ_CHECK((buf[0] & ~7u) == 0);
			break;
		case 5:
			if (cpu_hotplug_insert(&h, cpu) == 0)
				FUZZ_CHECK(cpu < h.st.max_cpus && ((h.st.inserting >> cpu) & 1));
			break;
		case 6:
			if (cpu_hotplug_request_remove(&h, cpu) == 0)
				FUZZ_CHECK(cpu != 0 && ((h.st.removing >> cpu) & 1));
			break;
		default:
			cpu_hotplug_cancel_remove(&h, cpu);
			break;
		}
		FUZZ_CHECK(ejects - before_ejects <= 1);
		invariants(&h);
		unsigned removing = 0;
		FUZZ_CHECK(cpu_hotplug_count(&h, &removing) >= removing);
	}
	pthread_mutex_destroy(&h.lock);
	return 0;
}
