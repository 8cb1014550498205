/* A VM's cloud-init seed drive (ci_drive.h). The seed is small and made from the definition
 * alone, so it is written at every start rather than kept in step with edits of the
 * definition: a changed section (or UUID) takes effect at the next start, and a clone, whose
 * definition has its own UUID, gets its own instance-id. */
#include "manager/cloudinit/ci_drive.h"
#include "manager/cloudinit/ci_def.h"
#include "manager/cloudinit/cidata.h"
#include "manager/cloudinit/seed.h"
#include "manager/definition.h"
#include "manager/mgr.h"
#include "util/error.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int ci_drive_path(struct manager *m, const char *name, char *out, size_t size)
{
	size_t n = strlen(m->defs_dir);
	while (n > 1 && m->defs_dir[n - 1] == '/')
		n--;
	int r = snprintf(out, size, "%.*s/%s.cidata", (int)n, m->defs_dir, name);
	return r < 0 || (size_t)r >= size ? -ENAMETOOLONG : 0;
}

void ci_drive_remove(struct manager *m, const char *name)
{
	char path[PATH_MAX];
	if (ci_drive_path(m, name, path, sizeof(path)) == 0)
		unlink(path);
}

int ci_drive_write(struct manager *m, const struct vm_def *def, char *err, size_t errlen)
{
	json_t *sec = ci_section(def->doc);
	if (!sec) {
		ci_drive_remove(m, def->name);   /* a section taken out of the definition */
		return 0;
	}
	char path[PATH_MAX];
	if (ci_drive_path(m, def->name, path, sizeof(path)) < 0)
		return error_set(err, errlen, -ENAMETOOLONG, "the definitions directory %s is too long", m->defs_dir);
	struct ci_seed seed;
	int e = ci_seed_make(sec, def->name, def->uuid, &seed, err, errlen);
	if (e < 0)
		return e;
	e = cidata_write(path, &seed, err, errlen);
	ci_seed_free(&seed);
	return e;
}

int ci_drive_attach(struct manager *m, struct mgr_vm *vm, json_t *fc, char *err, size_t errlen)
{
	char path[PATH_MAX];
	int e = ci_drive_write(m, &vm->def, err, errlen);
	if (e < 0 || !ci_section(vm->def.doc))
		return e;
	ci_drive_path(m, vm->def.name, path, sizeof(path));
	json_t *drives = json_object_get(fc, "drives");
	if (!drives) {
		drives = json_array();
		json_object_set_new(fc, "drives", drives);
	}
	json_t *d = json_pack("{s:s, s:s, s:b, s:b}", "drive_id", CI_DRIVE_ID, "path_on_host", path, "is_root_device", 0,
			      "is_read_only", 1);
	json_t *mc = json_object_get(fc, "machine-config");
	if (!d || json_array_append_new(drives, d) < 0 ||
	    (json_is_object(mc) && json_object_set_new(mc, "smbios_serial", json_string(CI_SMBIOS_SERIAL)) < 0))
		return error_set(err, errlen, -ENOMEM, "out of memory");
	return 0;
}
