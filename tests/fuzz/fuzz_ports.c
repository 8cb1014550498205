/* libFuzzer target: the guest's register surface without KVM — the legacy port devices
 * (16550A serial, i8042, CMOS RTC, ACPI PM block, ACPI GED, the CPU hot-plug block), the PCI configuration mechanism
 * (0xCF8/0xCFC) with its host bridge, BARs, capabilities and MSI-X table, and the virtio-pci
 * and virtio-mmio transports of a virtio-rng device each. After the accesses, each device's
 * queues are served as the I/O thread would, so a driver the fuzzer programmed through the
 * registers (rings anywhere in its 64 KiB of RAM, which the input also fills) gets used.
 * The machine and the accesses are fuzz_port_machine.h's (fuzz_device_state.c shares them).
 *
 * Input: 64 bytes of RAM seed (repeated over RAM), then accesses of 9 bytes each: a selector
 * (bit 0 write, bits 1-2 size 1/2/4/8, bits 3-7 region), a 32-bit offset into the region
 * (modulo its length) and a 32-bit value. Nothing may crash, touch memory outside RAM or leak;
 * a hostile driver may only break its own device (NEEDS_RESET). */
#include <stdint.h>

#include "fuzz_common.h"
#include "fuzz_port_machine.h"

FUZZ_QUIET_LOGS()

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < PORT_RAM_SEED)
		return 0;
	static struct port_machine m;
	port_machine_build(&m);
	port_machine_fill_ram(&m, data);
	struct fuzz_input in = { data + PORT_RAM_SEED, size - PORT_RAM_SEED };
	port_machine_accesses(&m, &in);
	port_machine_serve(&m);
	port_machine_destroy(&m);
	return 0;
}
