/* A raw disk's backup bitmap sidecar across a jailed worker's life (jail_fill.h,
 * docs/backups.md#incremental-backups). The worker keeps it as DISK.petrel-bitmap beside the disk
 * it was given, /vm/fN in its jail, written to a new name and renamed over: petreld lets it write
 * in /vm, moves the host's sidecar in at the start (the host's name removed: a petreld that dies
 * before the worker's end leaves no sidecar, so the next backup is full rather than trusting one
 * the worker's writes went past) and moves the worker's back out at its end, whatever state the
 * worker left it in (one it did not close cleanly says so: stale). The drives and their jail
 * names are listed in <jail>/bitmaps, outside the worker's root. */
#include "manager/jail_bitmap.h"
#include "manager/mgr.h"
#include "util/util.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SIDECAR ".petrel-bitmap"

int jail_bitmap_in(struct mgr_vm *vm, const char *root, const char *jail_name, const char *path)
{
	char host[PATH_MAX + 16], in[PATH_MAX + 64], list[PATH_MAX + 16];
	snprintf(host, sizeof(host), "%s" SIDECAR, path);
	snprintf(in, sizeof(in), "%s/vm/%s" SIDECAR, root, jail_name);
	snprintf(list, sizeof(list), "%s/../bitmaps", root);
	if (access(host, F_OK) == 0) {
		if (link(host, in) == 0 && lchown(in, vm->def.uid, vm->def.gid) < 0)
			unlink(in);
		unlink(host);
	}
	FILE *f = fopen(list, "ae");
	if (!f)
		return -errno;
	fprintf(f, "%s\t%s\n", jail_name, path);
	return fclose(f) == 0 ? 0 : -EIO;
}

void jail_bitmaps_out(const char *jail_dir)
{
	char list[PATH_MAX + 16], line[PATH_MAX + 64];
	snprintf(list, sizeof(list), "%s/bitmaps", jail_dir);
	FILE *f = fopen(list, "re");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		char *tab = strchr(line, '\t'), *nl = strchr(line, '\n');
		if (!tab || !nl || strchr(line, '/') < tab)
			continue;
		*tab = *nl = '\0';
		char in[2 * PATH_MAX + 128], host[PATH_MAX + 80];
		struct stat st;
		snprintf(in, sizeof(in), "%s/root/vm/%s" SIDECAR, jail_dir, line);
		snprintf(host, sizeof(host), "%s" SIDECAR, tab + 1);
		/* a plain file of the worker's own: never a link it made to another file */
		if (lstat(in, &st) == 0 && S_ISREG(st.st_mode) && st.st_nlink == 1)
			rename(in, host);
	}
	fclose(f);
	unlink(list);
}
