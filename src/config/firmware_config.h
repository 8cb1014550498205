/* Firmware names a definition may use (boot-source.firmware, docs/firmware.md). */
#ifndef PETREL_CONFIG_FIRMWARE_CONFIG_H
#define PETREL_CONFIG_FIRMWARE_CONFIG_H

/* Debian's SeaBIOS (package seabios): the 256 KiB build QEMU's pc machine uses. */
#define FIRMWARE_SEABIOS_PATH "/usr/share/seabios/bios-256k.bin"

/* The file a firmware name stands for: "seabios" -> FIRMWARE_SEABIOS_PATH; a path is itself. */
const char *firmware_path(const char *name);

#endif
