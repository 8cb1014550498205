/* The worker's cgroup (partition.c): a VM's share of the host. */
#ifndef PETREL_MANAGER_PARTITION_H
#define PETREL_MANAGER_PARTITION_H

#include <jansson.h>
#include <stddef.h>

struct manager;
struct mgr_vm;
struct vm_resources;

int partition_jailer_args(struct manager *m, const struct vm_resources *r, char **argv, int max,
			  char bufs[][96]);
int partition_apply(struct manager *m, struct mgr_vm *vm, const struct vm_resources *r, char *err,
		    size_t errlen);
int partition_parse(json_t *o, struct vm_resources *r, char *err, size_t errlen);
json_t *partition_to_json(const struct vm_resources *r);
json_t *partition_read(struct manager *m, struct mgr_vm *vm);
/* The cgroup directory of controller ctl for vm ("" when none). */
void partition_dir(struct manager *m, const char *vm, const char *ctl, char *out, size_t size);
void partition_remove(struct manager *m, const char *vm);

#endif
