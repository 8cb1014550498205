/* The core's hooks (core.h): which resources it reaches at the end of the instance and in a
 * metrics line, and what the worker runs for each action. Above the resource files, as
 * routes.c is: the core calls through these tables and never names a resource itself. */
#include "api/core.h"

static int run_start(struct controller *ctl, void *arg, char *err, size_t errlen)
{
	(void)arg;
	return ctl_start_vm(ctl, err, errlen);
}

static int run_pause(struct controller *ctl, void *arg, char *err, size_t errlen)
{
	(void)arg;
	return ctl_pause_resume(ctl, true, err, errlen);
}

static int run_resume(struct controller *ctl, void *arg, char *err, size_t errlen)
{
	(void)arg;
	return ctl_pause_resume(ctl, false, err, errlen);
}

static int run_snapshot(struct controller *ctl, void *arg, char *err, size_t errlen)
{
	return ctl_snapshot_run(ctl, arg, err, errlen);
}

static int run_promote(struct controller *ctl, void *arg, char *err, size_t errlen)
{
	(void)arg;
	return ctl_replication_promote_wait(ctl, err, errlen);
}

static int run_guest(struct controller *ctl, void *arg, char *err, size_t errlen)
{
	return ctl_guest_run(ctl, arg, err, errlen);
}

static void free_guest(void *arg)
{
	ctl_guest_request_free(arg);
}

static void free_snapshot(void *arg)
{
	ctl_snapshot_request_free(arg);
}

const struct ctl_action_ops ctl_actions[] = {
	[CTL_ACTION_START] = { run_start, NULL },
	[CTL_ACTION_PAUSE] = { run_pause, NULL },
	[CTL_ACTION_RESUME] = { run_resume, NULL },
	[CTL_ACTION_SNAPSHOT] = { run_snapshot, free_snapshot },
	[CTL_ACTION_PROMOTE] = { run_promote, NULL },
	[CTL_ACTION_GUEST] = { run_guest, free_guest },
};

/* Freed in this order (before the VM goes); metrics groups added in this order. */
const struct ctl_resource ctl_resources[] = {
	{ .name = "migration", .free = ctl_migration_free },
	{ .name = "replication", .free = ctl_replication_free },
	{ .name = "guest-agent", .free = ctl_guest_free },   /* thaws a pending freeze */
	{ .name = "mmds", .metrics_locked = ctl_mmds_metrics_locked },
	{ .name = "balloon", .metrics_locked = ctl_balloon_metrics_locked },
	{ .name = "hotplug-memory", .metrics_locked = ctl_hotplug_memory_metrics_locked },
	{ .name = "hotplug-vcpu", .metrics_locked = ctl_hotplug_vcpu_metrics_locked },
	{ .name = "pmem", .metrics_locked = ctl_pmem_metrics_locked },
	{ .name = "metrics", .flush_locked = ctl_metrics_flush_locked },
	{ .name = NULL },
};
