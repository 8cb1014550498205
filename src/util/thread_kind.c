/* The thread kinds' names (thread_kind.h): in seccomp filter files, logs and test triggers. */
#include "util/thread_kind.h"

#include <string.h>

static const char *const kind_names[SC_KIND_ALL] = {
	[SC_MAIN] = "main", [SC_API] = "api", [SC_VMM] = "vmm", [SC_VCPU] = "vcpu",
	[SC_IO] = "io", [SC_PVM_IDLE] = "pvm_idle", [SC_PAGER] = "pager",
	[SC_MIGRATION] = "migration", [SC_THROTTLE] = "throttle", [SC_POSTCOPY] = "postcopy",
	[SC_REPLICATION] = "replication", [SC_VNC] = "vnc", [SC_SPAWN] = "spawn",
};

const char *sc_kind_name(int kind)
{
	return kind >= 0 && kind < SC_KIND_ALL ? kind_names[kind] : "?";
}

int sc_kind_from_name(const char *name)
{
	for (int k = 0; k < SC_KIND_ALL; k++)
		if (!strcmp(kind_names[k], name))
			return k;
	return SC_KIND_NONE;
}
