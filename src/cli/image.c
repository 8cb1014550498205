/* `petrel image ...`: disk image commands.
 *
 *   petrel image create-overlay [-F raw|qcow2] [--size BYTES] [--sync] [--time] BASE OVERLAY...
 *   petrel image deploy ...  (deploy.c)
 *
 * create-overlay makes each OVERLAY a new qcow2 image over BASE (src/block/qcow2_create.c):
 * the cost does not depend on BASE's size. */
#include "block/qcow2.h"
#include "cli/cli.h"
#include "util/util.h"

#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f)
{
	fprintf(f, "usage: petrel image create-overlay [-F raw|qcow2] [--size BYTES] [--sync] [--time] BASE OVERLAY...\n"
		   "       petrel image deploy --snapshot STATE --mem-file MEM --count N --dir DIR [options]\n"
		   "  create-overlay: each OVERLAY a new qcow2 v3 image whose backing file is BASE (recorded as\n"
		   "  given: a relative BASE is relative to the overlay's directory) with BASE's format (-F, or\n"
		   "  probed now and recorded); --size: the virtual size (default BASE's); --sync: fsync each;\n"
		   "  --time: print the microseconds each took. `petrel image deploy --help` for deploy.\n");
}

static int create_overlays(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "backing-format", required_argument, NULL, 'F' }, { "size", required_argument, NULL, 's' },
		{ "sync", no_argument, NULL, 'y' }, { "time", no_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 },
	};
	struct qcow2_create_opts o = { 0 };
	bool timing = false;
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "F:", opts, NULL)) != -1) {
		switch (c) {
		case 'F': o.backing_format = optarg; break;
		case 's': {
			char *end;
			o.size = strtoull(optarg, &end, 0);
			if (*end || !o.size) {
				fprintf(stderr, "petrel: image: --size %s: a number of bytes\n", optarg);
				return 2;
			}
			break;
		}
		case 'y': o.sync = true; break;
		case 't': timing = true; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (argc - optind < 2) {
		usage(stderr);
		return 2;
	}
	o.backing = argv[optind];
	for (int i = optind + 1; i < argc; i++) {
		char err[512];
		uint64_t t0 = now_ns();
		if (qcow2_create(argv[i], &o, err, sizeof(err)) < 0) {
			fprintf(stderr, "petrel: image: %s\n", err);
			return 1;
		}
		if (timing)
			printf("%s %llu us\n", argv[i], (unsigned long long)((now_ns() - t0) / 1000));
	}
	return 0;
}

int cli_image(int argc, char **argv)
{
	if (argc >= 2 && !strcmp(argv[1], "create-overlay"))
		return create_overlays(argc - 1, argv + 1);
	if (argc >= 2 && !strcmp(argv[1], "deploy"))
		return cli_deploy(argc - 1, argv + 1);
	if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
		usage(stdout);
		return 0;
	}
	usage(stderr);
	return 2;
}
