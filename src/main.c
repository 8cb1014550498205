/* petrel: a virtual machine monitor on KVM. */
#include "cli/cli.h"
#include "util/lazy_libs.h"
#include "util/log.h"

#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
	log_set_level(LOG_WARN);
	bool run = argc >= 2 && !strcmp(argv[1], "run");
	char err[256];
	if ((!run || !lazy_libs_bare_run(argc - 1, argv + 1)) && lazy_libs_load(err, sizeof(err)) < 0) {
		fprintf(stderr, "petrel: %s\n", err);
		return 127;
	}
	if (run)
		return cli_exit(cli_run(argc - 1, argv + 1));
	if (argc >= 2 && !strcmp(argv[1], "snapshot"))
		return cli_snapshot(argc - 1, argv + 1);
	if (argc >= 2 && !strcmp(argv[1], "migrate"))
		return cli_migrate(argc - 1, argv + 1);
	if (argc >= 2 && !strcmp(argv[1], "replicate"))
		return cli_replicate(argc - 1, argv + 1);
	if (argc >= 2 && !strcmp(argv[1], "image"))
		return cli_image(argc - 1, argv + 1);
	if (argc >= 2 && !strcmp(argv[1], "--version")) {
		cli_print_version();
		return 0;
	}
	/* No subcommand: Firecracker's command line (its --help also names `petrel run`). */
	return cli_exit(cli_firecracker(argc, argv));
}
