/* The inventory's definitions (definitions.h): a VM's definition file read and checked, and
 * written back, indented, through the definitions directory (defs.c). */
#include "manager/definitions.h"
#include "manager/defs.h"
#include "manager/mgr.h"
#include "manager/uefi_vars.h"
#include "util/error.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The definition document as stored: indented, for people. */
int save_definition(struct manager *m, const struct vm_def *def, char *err, size_t errlen)
{
	char *text = json_dumps(def->doc, JSON_INDENT(2));
	if (!text)
		return error_set(err, errlen, -ENOMEM, "out of memory");
	size_t n = strlen(text);
	char *full = realloc(text, n + 2);
	if (!full) {
		free(text);
		return error_set(err, errlen, -ENOMEM, "out of memory");
	}
	full[n] = '\n';
	full[n + 1] = '\0';
	int e = defs_write_atomic(m->defs_dir, def->name, full, err, errlen);
	free(full);
	return e;
}

int mgr_load_definition(struct manager *m, const char *name, struct vm_def *def, char *err, size_t errlen)
{
	char file[VM_NAME_MAX + 8], *text = NULL;
	snprintf(file, sizeof(file), "%s.json", name);
	int n = defs_read(m->defs_dir, file, &text, err, errlen);
	if (n < 0)
		return n;
	int e = def_parse(text, (size_t)n, def, err, errlen);
	free(text);
	if (e == 0 && strcmp(def->name, name)) {
		e = error_set(err, errlen, -EINVAL, "%s/%s names the VM '%s'", m->defs_dir, file, def->name);
		def_free(def);
	}
	return e;
}

int mgr_def_files_ready(struct manager *m, struct vm_def *def, bool *vars_made, char *err, size_t errlen)
{
	int e = uefi_vars_prepare(m, def, vars_made, err, errlen);
	if (!e && (e = def_check_files(m, def, err, errlen)) < 0 && *vars_made) {
		uefi_vars_remove(m, def->name);
		*vars_made = false;
	}
	return e;
}
