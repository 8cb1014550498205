/* A VM's cloud-init seed drive (ci_drive.c, docs/manager.md#cloud-init): petreld's file
 * <defs dir>/NAME.cidata, written again at every start of a VM whose definition has a
 * cloud-init section and attached as the read-only drive "cidata" (after the definition's
 * own), removed with the definition. */
#ifndef PETREL_MANAGER_CLOUDINIT_CI_DRIVE_H
#define PETREL_MANAGER_CLOUDINIT_CI_DRIVE_H

#include <jansson.h>
#include <stddef.h>

struct manager;
struct mgr_vm;

/* The SMBIOS serial number (machine-config.smbios_serial, petrel's) that tells cloud-init to
 * look for a NoCloud seed, where a firmware shows SMBIOS to the guest. */
#define CI_SMBIOS_SERIAL "ds=nocloud"

/* <defs dir>/<name>.cidata. 0 or -ENAMETOOLONG. */
int ci_drive_path(struct manager *m, const char *name, char *out, size_t size);
struct vm_def;
/* def's seed written to ci_drive_path (instance-id: its UUID) when it has a cloud-init section;
 * without one, an earlier seed file removed. At define (so a seed petreld cannot make is
 * refused then) and at every start. 0, or -errno with err. */
int ci_drive_write(struct manager *m, const struct vm_def *def, char *err, size_t errlen);
/* fc (vm's definition as its worker gets it) with the seed: when vm's definition has a
 * cloud-init section, the seed written again (ci_drive_write), a drive "cidata" naming it
 * appended to fc's drives (read only), and machine-config.smbios_serial CI_SMBIOS_SERIAL (when
 * fc has a machine-config). Without a section: fc unchanged. 0, or -errno with err. */
int ci_drive_attach(struct manager *m, struct mgr_vm *vm, json_t *fc, char *err, size_t errlen);
/* Remove VM name's seed file (undefine; a missing one is fine). */
void ci_drive_remove(struct manager *m, const char *name);

#endif
