/* --event-monitor PATH|fd=N on both command lines (docs/events.md): the monitor opened, and the
 * first event, `starting`, written. */
#include "api/version.h"
#include "cli/cli.h"
#include "util/event_monitor.h"
#include "util/log.h"

#include <string.h>
#include <unistd.h>

int cli_event_monitor_open(const char *spec, const char *id)
{
	char err[256];
	if (event_monitor_open(spec, err, sizeof(err)) < 0) {
		log_error("%s", err);
		return -1;
	}
	event_monitor_set_id(id);
	event_emit("vmm", "starting", "{s:s,s:s,s:i}", "version", PETREL_VERSION, "firecracker_version",
		   FC_COMPAT_VERSION, "pid", (int)getpid());
	return 0;
}

int cli_event_monitor_take(int *argc, char **argv)
{
	const char *spec = NULL;
	int w = 1;
	for (int i = 1; i < *argc; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "--")) {
			while (i < *argc)
				argv[w++] = argv[i++];
			break;
		}
		if (!strcmp(a, "--event-monitor")) {
			if (i + 1 >= *argc) {
				log_error("--event-monitor needs PATH or fd=N");
				return -1;
			}
			spec = argv[++i];
		} else if (!strncmp(a, "--event-monitor=", 16)) {
			spec = a + 16;
		} else {
			argv[w++] = argv[i];
		}
	}
	argv[w] = NULL;
	*argc = w;
	return spec ? cli_event_monitor_open(spec, NULL) : 0;
}
