/* `petrel run`'s command line (run_args.c), for run.c. */
#ifndef PETREL_CLI_RUN_ARGS_H
#define PETREL_CLI_RUN_ARGS_H

#include "config/vm_config.h"
#include "snapshot/snapshot.h"
#include "util/affinity.h"

#include <stdbool.h>

/* Options that define a VM (--kernel, --disk, --config ...) into cfg. 0, 1 (--help: done),
 * or -errno after an error was printed. */
int run_parse_args(int argc, char **argv, struct vm_config *cfg);
/* Where a VM that is not booted here comes from (--incoming, --standby) and, for a standby,
 * the standby it replicates to once it took over (--next-standby). */
struct run_from {
	const char *incoming, *standby, *next_standby;
	const char *takeover;          /* --takeover auto|external (with --standby) */
};
/* The options of a VM that is not booted: --restore (with --mem-file, --lazy ...), --incoming,
 * --standby, and what goes with them (--stats, --cpu-affinity). *found: --restore was given.
 * 0 or -errno after an error was printed. */
int run_restore_args(int argc, char **argv, struct snapshot_load_opts *o, struct run_from *from, bool *stats,
		     struct cpu_affinity **aff, bool *found);

#endif
