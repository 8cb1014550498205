/* Firmware names a definition may use (boot-source.firmware, docs/firmware.md). */
#ifndef PETREL_CONFIG_FIRMWARE_CONFIG_H
#define PETREL_CONFIG_FIRMWARE_CONFIG_H

/* Debian's SeaBIOS (package seabios): the 256 KiB build QEMU's pc machine uses. */
#define FIRMWARE_SEABIOS_PATH "/usr/share/seabios/bios-256k.bin"

/* Debian's OVMF (package ovmf): the 4 MiB build without Secure Boot (no SMM here), its code
 * read-only and a per-VM copy of the variables template as a CFI flash below it. */
#define FIRMWARE_OVMF_CODE_PATH "/usr/share/OVMF/OVMF_CODE_4M.fd"
#define FIRMWARE_OVMF_VARS_TEMPLATE "/usr/share/OVMF/OVMF_VARS_4M.fd"

#include <stdbool.h>

struct vm_config;

/* The file a firmware name stands for: "seabios" -> FIRMWARE_SEABIOS_PATH, "ovmf" ->
 * FIRMWARE_OVMF_CODE_PATH; a path is itself. */
const char *firmware_path(const char *name);
/* A UEFI layout (code + variables flash): the name "ovmf", or any firmware with a vars path;
 * firmware_names_uefi says it of the two fields as a definition has them (petreld's JSON). */
bool firmware_is_uefi(const struct vm_config *cfg);
bool firmware_names_uefi(const char *firmware, const char *vars);

#endif
