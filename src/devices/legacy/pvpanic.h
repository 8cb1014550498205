/* The pvpanic device at I/O port 0x505 (QEMU's ISA "pvpanic", ACPI _HID QEMU0001, which
 * Linux's pvpanic-mmio driver binds through ACPI): how a guest kernel tells its VMM that it
 * panicked. A read returns the events the device supports; the guest writes an event's bit
 * when it happens. petrel reports each as a `guest` event on the event monitor
 * (docs/events.md) and in the log; the guest runs on (its own panic policy, Linux's panic=N,
 * decides whether it then reboots). No state to save: the device has none. */
#ifndef PETREL_DEVICES_LEGACY_PVPANIC_H
#define PETREL_DEVICES_LEGACY_PVPANIC_H

#include <stdint.h>

#define PVPANIC_PORT 0x505
#define PVPANIC_PANICKED 0x1     /* the guest kernel panicked */
#define PVPANIC_CRASH_LOADED 0x2 /* it panicked and a crash kernel (kdump) takes over */

void pvpanic_read(void *opaque, uint64_t off, uint8_t *data, uint32_t len);
void pvpanic_write(void *opaque, uint64_t off, const uint8_t *data, uint32_t len);

#endif
