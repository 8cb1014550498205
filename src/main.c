/* petrel: a virtual machine monitor on KVM. */
#include "cli/cli.h"
#include "util/log.h"

#include <stdio.h>
#include <string.h>

static void usage(FILE *f)
{
	fprintf(f, "usage: petrel run [options]     boot a VM (petrel run --help)\n"
		   "       petrel [--api-sock PATH] [--config-file FILE] [--no-api] [options]\n"
		   "                                 Firecracker-style: REST API and/or config file\n"
		   "                                 (petrel --api-sock PATH --help)\n"
		   "       petrel --version\n");
}

int main(int argc, char **argv)
{
	log_set_level(LOG_WARN);
	if (argc >= 2 && !strcmp(argv[1], "run"))
		return cli_run(argc - 1, argv + 1);
	if (argc >= 2 && !strcmp(argv[1], "--version")) {
		printf("petrel %s\n", PETREL_VERSION);
		return 0;
	}
	if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
		usage(stdout);
		return 0;
	}
	/* No subcommand: Firecracker's command line. */
	return cli_firecracker(argc, argv);
}
