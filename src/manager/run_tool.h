/* A host program run to its end by petreld (run_tool.c): mtools for a cloud-init seed. */
#ifndef PETREL_MANAGER_RUN_TOOL_H
#define PETREL_MANAGER_RUN_TOOL_H

#include <stddef.h>

#define RUN_TOOL_TIMEOUT_MS 30000

/* Run argv (argv[0] an absolute path) with environment envp, stdin /dev/null, its stdout and
 * stderr read; wait for its end (at most RUN_TOOL_TIMEOUT_MS, then killed). Its status is ours:
 * petreld's supervisor reaps its workers by their pids only.
 * 0 when it exits 0; else -EIO (or -errno when it cannot be run) with "NAME: what it said" in err. */
int run_tool(const char *const argv[], const char *const envp[], char *err, size_t errlen);

#endif
