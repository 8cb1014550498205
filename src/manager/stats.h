/* Every VM's CPU time, memory and I/O (stats.c: GET /stats, petrelctl top). */
#ifndef PETREL_MANAGER_STATS_H
#define PETREL_MANAGER_STATS_H

#include <jansson.h>

struct manager;

/* The number after "KEY:" or "KEY " in a file of such lines (key NULL: its first line's), or -1. */
long long mgr_read_ll(const char *path, const char *key);
json_t *stats_json(struct manager *m);

#endif
