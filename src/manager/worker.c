/* A VM's worker: one petrel process, started through petrel-jailer (its own uid, chroot, pid
 * namespace and cgroups) or, with petreld --no-jailer, directly; then configured through its
 * API socket from the definition and started (InstanceStart). */
#include "manager/worker.h"
#include "manager/console.h"
#include "manager/events.h"
#include "manager/fsutil.h"
#include "manager/cloudinit/ci_drive.h"
#include "manager/jail_bitmap.h"
#include "manager/jail_fill.h"
#include "manager/mgr.h"
#include "manager/net/net_taps.h"
#include "manager/partition.h"
#include "manager/runstate.h"
#include "manager/util.h"
#include "manager/wclient.h"
#include "manager/worker_events.h"
#include "util/error.h"
#include "util/util.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

static int pidfd_open_(pid_t pid)
{
	return (int)syscall(SYS_pidfd_open, pid, 0);
}

/* The Firecracker sections and the worker API calls that set them, in a working order. */
static const struct section {
	const char *key, *path, *id;
} sections[] = {
	{ "machine-config", "/machine-config", NULL },
	{ "cpu-config", "/cpu-config", NULL },
	{ "boot-source", "/boot-source", NULL },
	{ "drives", "/drives/", "drive_id" },
	{ "pmem", "/pmem/", "id" },
	{ "network-interfaces", "/network-interfaces/", "iface_id" },
	{ "vsock", "/vsock", NULL },
	{ "entropy", "/entropy", NULL },
	{ "display", "/display", NULL },
	{ "console-ports", "/console-ports/", "port_id" },
	{ "guest-agent", "/guest-agent", NULL },
	{ "balloon", "/balloon", NULL },
	{ "memory-hotplug", "/hotplug/memory", NULL },
	{ "vcpu-hotplug", "/hotplug/vcpu", NULL },
	{ "mmds-config", "/mmds/config", NULL },
};

static bool id_ok(const char *s)
{
	if (!*s || strlen(s) > 64)
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
		      *s == '_' || *s == '-'))
			return false;
	return true;
}

static int configure(struct manager *m, struct mgr_vm *vm, json_t *fc, char *err, size_t errlen)
{
	const char *key;
	json_t *val;
	json_object_foreach(fc, key, val) {
		bool known = false;
		for (size_t i = 0; i < sizeof(sections) / sizeof(sections[0]); i++)
			known |= !strcmp(key, sections[i].key);
		if (!known && !json_is_null(val))
			return error_set(err, errlen, -EINVAL, "section '%s': petreld cannot set it on a worker", key);
	}
	/* The machine's identity, which its firmware shows the guest (SMBIOS), is the VM's own
	 * unless the definition gives another: the same at every start. */
	/* A display is served over VNC on a socket petreld chooses (worker_vnc_path): the
	 * definition's own vnc_socket, if any, is not a path of this host's */
	json_t *disp = json_object_get(fc, "display");
	if (json_is_object(disp)) {
		char sock[PATH_MAX];
		worker_vnc_path(m, vm, true, sock, sizeof(sock));
		json_object_set_new(disp, "vnc_socket", json_string(sock));
	}
	/* A virtio-console port's socket too: in the worker's jail (worker_port_path) */
	size_t pi;
	json_t *port;
	json_array_foreach(json_object_get(fc, "console-ports"), pi, port) {
		const char *id = json_string_value(json_object_get(port, "port_id"));
		if (!json_object_get(port, "socket_path") || !id || !id_ok(id))
			continue;
		char sock[PATH_MAX];
		worker_port_path(m, vm, id, true, sock, sizeof(sock));
		json_object_set_new(port, "socket_path", json_string(sock));
	}
	json_t *mc = json_object_get(fc, "machine-config");
	if (json_is_object(mc) && !json_object_get(mc, "uuid"))
		json_object_set_new(mc, "uuid", json_string(vm->def.uuid));
	for (size_t i = 0; i < sizeof(sections) / sizeof(sections[0]); i++) {
		const struct section *s = &sections[i];
		json_t *v = json_object_get(fc, s->key);
		if (!v || json_is_null(v))
			continue;
		int e;
		if (!s->id) {
			if ((e = worker_call(m, vm, "PUT", s->path, v, err, errlen)) < 0)
				return e;
			continue;
		}
		size_t k;
		json_t *el;
		json_array_foreach(v, k, el) {
			const char *id = json_string_value(json_object_get(el, s->id));
			char path[128];
			if (!id || !id_ok(id))
				return error_set(err, errlen, -EINVAL, "%s[%zu].%s: expected 1 to 64 of [A-Za-z0-9_-]",
					       s->key, k, s->id);
			snprintf(path, sizeof(path), "%s%s", s->path, id);
			if ((e = worker_call(m, vm, "PUT", path, el, err, errlen)) < 0)
				return e;
		}
	}
	return 0;
}

#define EVENTS_IN_JAIL "/run/events"

void worker_events_path(struct manager *m, const struct mgr_vm *vm, char *out, size_t size)
{
	if (vm->jail_dir[0])
		snprintf(out, size, "%s/root" EVENTS_IN_JAIL, vm->jail_dir);
	else
		snprintf(out, size, "%s/sock/%s.events", m->state_dir, vm->def.name);
}

void worker_port_path(struct manager *m, const struct mgr_vm *vm, const char *port_id, bool worker_view, char *out,
		      size_t size)
{
	if (!vm->jail_dir[0])
		snprintf(out, size, "%s/sock/%s.port-%s", m->state_dir, vm->def.name, port_id);
	else if (worker_view)
		snprintf(out, size, "/run/port-%s.sock", port_id);
	else
		snprintf(out, size, "%s/root/run/port-%s.sock", vm->jail_dir, port_id);
}

#define VNC_IN_JAIL "/run/vnc.sock"

void worker_vnc_path(struct manager *m, const struct mgr_vm *vm, bool worker_view, char *out, size_t size)
{
	if (!vm->jail_dir[0])
		snprintf(out, size, "%s/sock/%s.vnc", m->state_dir, vm->def.name);
	else if (worker_view)
		snprintf(out, size, VNC_IN_JAIL);
	else
		snprintf(out, size, "%s/root" VNC_IN_JAIL, vm->jail_dir);
}

/* A worker without a jail: its sockets and events file (those of a jailed one are in its jail). */
static void remove_unjailed_files(struct manager *m, struct mgr_vm *vm)
{
	char path[PATH_MAX];
	worker_events_path(m, vm, path, sizeof(path));
	unlink(path);
	worker_vnc_path(m, vm, false, path, sizeof(path));
	unlink(path);
	unlink(vm->api_sock);
}

void worker_cleanup(struct manager *m, struct mgr_vm *vm)
{
	worker_events_unfollow(m, vm);
	if (vm->jail_dir[0]) {
		jail_bitmaps_out(vm->jail_dir);
		rm_tree(vm->jail_dir);
	} else if (vm->api_sock[0])
		remove_unjailed_files(m, vm);
	partition_remove(m, vm->def.name);
	console_input_remove(m, vm->def.name);
	net_taps_down(m, vm);
	runstate_remove(m, vm->def.name);
}

static bool alive(struct mgr_vm *vm)
{
	return vm->pid > 0 && proc_start_time(vm->pid) == vm->start_time;
}

/* Wait up to ms for the supervisor to see the worker end (vm->pid back to 0). */
bool worker_wait_end(struct manager *m, struct mgr_vm *vm, unsigned ms)
{
	uint64_t deadline = now_ms() + ms;
	for (;;) {
		pthread_mutex_lock(&m->lock);
		bool gone = vm->pid == 0;
		pthread_mutex_unlock(&m->lock);
		if (gone)
			return true;
		if (now_ms() >= deadline)
			return false;
		usleep(10000);
	}
}

void worker_kill(struct manager *m, struct mgr_vm *vm)
{
	pthread_mutex_lock(&m->lock);
	vm->stopping = true;
	/* Only a process that is still the one petreld started (pid and start time). petrel
	 * first: the jailer (its parent, with --new-pid-ns) reaps it and exits; killed together,
	 * petrel was left to init as a zombie, which a minimal init never reaps. */
	bool jailed = vm->vmm_pid > 0 && vm->vmm_pid != vm->pid;
	if (alive(vm))
		kill(jailed ? vm->vmm_pid : vm->pid, SIGKILL);
	pthread_mutex_unlock(&m->lock);
	supervise_wake(m);
	if (worker_wait_end(m, vm, 3000) || !jailed)
		return;
	pthread_mutex_lock(&m->lock);
	if (alive(vm))
		kill(vm->pid, SIGKILL); /* a jailer that did not follow its child */
	pthread_mutex_unlock(&m->lock);
	worker_wait_end(m, vm, 10000);
}

static pid_t read_pid_file(const char *path, unsigned ms)
{
	uint64_t deadline = now_ms() + ms;
	do {
		pid_t pid = pid_file_read(path);
		if (pid > 0)
			return pid;
		usleep(2000);
	} while (now_ms() < deadline);
	return 0;
}

static int spawn(struct manager *m, struct mgr_vm *vm, long long *log_from, pid_t *spawned, char *err, size_t errlen)
{
	const char *name = vm->def.name;
	char *argv[44], cg[8][96], uid[16], gid[16], logpath[PATH_MAX], events[PATH_MAX];
	int argc = 0;
	if (m->jailer) {
		snprintf(uid, sizeof(uid), "%u", vm->def.uid);
		snprintf(gid, sizeof(gid), "%u", vm->def.gid);
		argv[argc++] = (char *)m->jailer;
		argv[argc++] = "--id";
		argv[argc++] = (char *)name;
		argv[argc++] = "--exec-file";
		argv[argc++] = (char *)m->petrel;
		argv[argc++] = "--uid";
		argv[argc++] = uid;
		argv[argc++] = "--gid";
		argv[argc++] = gid;
		argv[argc++] = "--chroot-base-dir";
		argv[argc++] = (char *)m->jail_base;
		argv[argc++] = "--new-pid-ns";
		argc += partition_jailer_args(m, &vm->def.res, argv + argc, 20, cg);
		argv[argc++] = "--";
		argv[argc++] = "--api-sock";
		argv[argc++] = "/run/api.sock";
		argv[argc++] = "--event-monitor";
		argv[argc++] = EVENTS_IN_JAIL;
	} else {
		argv[argc++] = (char *)m->petrel;
		argv[argc++] = "--id";
		argv[argc++] = (char *)name;
		argv[argc++] = "--api-sock";
		argv[argc++] = vm->api_sock;
		worker_events_path(m, vm, events, sizeof(events));
		argv[argc++] = "--event-monitor";
		argv[argc++] = events;
	}
	argv[argc] = NULL;
	snprintf(logpath, sizeof(logpath), "%s/logs/%s.worker.log", m->state_dir, name);
	int logfd = open(logpath, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	if (logfd < 0)
		return error_set(err, errlen, -errno, "cannot open %s: %s", logpath, strerror(errno));
	struct stat lst;
	*log_from = fstat(logfd, &lst) == 0 ? (long long)lst.st_size : 0;   /* this start's lines begin here */
	int infd = console_input_open(m, name, err, errlen);
	if (infd < 0) {
		close(logfd);
		return infd;
	}
	/* posix_spawn (clone with CLONE_VM | CLONE_VFORK), not fork: the child borrows petreld's
	 * memory instead of copying its page tables, which on a virtualized host costs
	 * milliseconds per start, and much more under nested KVM. Its own session: a signal to
	 * petreld's terminal or process group is not the VM's. */
	posix_spawnattr_t at;
	posix_spawn_file_actions_t fa;
	sigset_t none;
	sigemptyset(&none);
	posix_spawnattr_init(&at);
	posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK);
	posix_spawnattr_setsigmask(&at, &none);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, infd, 0); /* typed keys (console_input.c) */
	posix_spawn_file_actions_adddup2(&fa, logfd, 1);
	posix_spawn_file_actions_adddup2(&fa, logfd, 2);
	posix_spawn_file_actions_addclosefrom_np(&fa, 3);
	pid_t pid;
	int e = posix_spawn(&pid, argv[0], &fa, &at, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&at);
	if (e) {
		close(logfd);
		close(infd);
		return error_set(err, errlen, -e, "cannot run %s: %s", argv[0], strerror(e));
	}
	close(logfd);
	close(infd);
	pthread_mutex_lock(&m->lock);
	vm->pid = pid;
	vm->vmm_pid = pid;
	*spawned = pid;
	vm->start_time = proc_start_time(pid);
	vm->pidfd = pidfd_open_(pid);
	vm->last_exit = -1;
	pthread_mutex_unlock(&m->lock);
	supervise_wake(m); /* it watches the new pidfd */
	mgr_vm_log(m, name, "worker %d started: %s", (int)pid, argv[0]);
	return 0;
}

/* Until the new worker's API answers (docs/manager.md#waiting-for-a-worker): as long as the
 * worker, and a jailer's child, make progress; a fault at once when one of them ends. pid is
 * the one spawn() started: the supervisor may have reaped it already and cleared vm->pid, and
 * the fault is the same then (its pid, its log's last line). */
static int wait_socket(struct manager *m, struct mgr_vm *vm, pid_t pid, long long log_from, char *err, size_t errlen)
{
	char log[PATH_MAX], pidf[PATH_MAX + 32];
	snprintf(log, sizeof(log), "%s/logs/%s.worker.log", m->state_dir, vm->def.name);
	snprintf(pidf, sizeof(pidf), "%s/root/petrel.pid", vm->jail_dir);
	pthread_mutex_lock(&m->lock);
	struct worker_start_wait w = { .sock = vm->api_sock, .wp = { .pid = pid }, .ended = vm->pid != pid,
				       .idle_ms = m->api_timeout_ms, .max_ms = m->api_timeout_max_ms, .log = log,
				       .log_from = log_from };
	pthread_mutex_unlock(&m->lock);
	if (m->jailer)
		w.wp.child_pid_file = pidf;
	return worker_await_api(&w, err, errlen);
}

int worker_launch(struct manager *m, struct mgr_vm *vm, const struct worker_start *how, json_t **fc_out, char *err,
		  size_t errlen)
{
	const char *name = vm->def.name;
	/* A worker that outlived its SIGKILL (worker_kill gave up: a process stopped in the kernel,
	 * e.g. in a frozen cgroup or on a dead disk) still owns the jail, socket and cgroup that a
	 * new one would take over; the supervisor clears vm->pid when it finally ends. */
	pthread_mutex_lock(&m->lock);
	pid_t old = vm->pid;
	pthread_mutex_unlock(&m->lock);
	if (old > 0)
		return error_set(err, errlen, -EBUSY, "VM '%s': its previous worker (pid %d) has not ended yet: it did "
			       "not die of SIGKILL (stopped in the kernel?); a new one would take over its jail",
			       name, (int)old);
	if (m->jailer) {
		snprintf(vm->jail_dir, sizeof(vm->jail_dir), "%s/petrel/%s", m->jail_base, name);
		rm_tree(vm->jail_dir); /* a stale one */
		partition_remove(m, name);
		if (snprintf(vm->api_sock, sizeof(vm->api_sock), "%s/root/run/api.sock", vm->jail_dir) >=
		    (int)sizeof(vm->api_sock))
			return error_set(err, errlen, -ENAMETOOLONG, "jail base %s is too long for a socket path",
				       m->jail_base);
	} else {
		vm->jail_dir[0] = '\0';
		if (snprintf(vm->api_sock, sizeof(vm->api_sock), "%s/sock/%s.sock", m->state_dir, name) >=
		    (int)sizeof(vm->api_sock))
			return error_set(err, errlen, -ENAMETOOLONG, "state dir %s is too long for a socket path",
				       m->state_dir);
		remove_unjailed_files(m, vm);   /* a stale one's */
	}
	vm->stopping = false;
	uint64_t t0 = now_ms();
	vm->launch_t0 = t0;
	long long log_from = 0;
	pid_t pid = 0;
	json_t *fc = json_deep_copy(vm->def.doc);
	json_object_del(fc, "petrel");
	/* the taps of its interfaces on host networks, which fc then names (net_taps.h) */
	int e = net_taps_up(m, vm, fc, err, errlen);
	/* and its cloud-init seed, a drive fc names (cloudinit/ci_drive.h) */
	if (e == 0 && (e = ci_drive_attach(m, vm, fc, err, errlen)) < 0) {
		pthread_mutex_lock(&m->lock);
		net_taps_down(m, vm);
		pthread_mutex_unlock(&m->lock);
	}
	if (e == 0 && (e = spawn(m, vm, &log_from, &pid, err, errlen)) < 0) {
		pthread_mutex_lock(&m->lock);
		net_taps_down(m, vm);
		pthread_mutex_unlock(&m->lock);
	}
	if (e < 0) {
		json_decref(fc);
		return e;
	}
	vm->launch_ms[0] = (unsigned)(now_ms() - t0);
	if ((e = wait_socket(m, vm, pid, log_from, err, errlen)) < 0)
		goto fail;
	vm->launch_ms[1] = (unsigned)(now_ms() - t0);
	/* its events file is open before its API answers (docs/events.md) */
	char events[PATH_MAX];
	worker_events_path(m, vm, events, sizeof(events));
	pthread_mutex_lock(&m->lock);
	worker_events_follow(m, vm, events, false);
	pthread_mutex_unlock(&m->lock);
	if (m->jailer) {
		char root[PATH_MAX + 8], pidf[PATH_MAX + 32];
		snprintf(root, sizeof(root), "%s/root", vm->jail_dir);
		snprintf(pidf, sizeof(pidf), "%s/petrel.pid", root);
		pid_t vmm = read_pid_file(pidf, 5000);
		pthread_mutex_lock(&m->lock);
		if (vmm > 0)
			vm->vmm_pid = vmm;
		pthread_mutex_unlock(&m->lock);
		if ((e = jail_fill(vm, root, fc, err, errlen)) < 0 ||
		    (how && how->fill_jail && (e = how->fill_jail(m, vm, root, how->data, err, errlen)) < 0))
			goto fail;
	}
	vm->launch_ms[2] = (unsigned)(now_ms() - t0);
	*fc_out = fc;
	return 0;
fail:
	json_decref(fc);
	mgr_vm_log(m, name, "start failed: %s", err);
	worker_kill(m, vm);
	return e;
}

int worker_start(struct manager *m, struct mgr_vm *vm, const struct worker_start *how, char *err, size_t errlen)
{
	json_t *fc;
	int e = worker_launch(m, vm, how, &fc, err, errlen);
	if (e < 0)
		return e;
	/* A restore: the machine and its devices come from the snapshot, which names the same
	 * paths (the jail's /vm/fN are laid out as at the first start); an arriving migration:
	 * the machine comes with it. The caller says what the worker is told (how->action).
	 * Else: configure, boot. */
	json_t *act = NULL;
	if (how->action)
		e = how->action(m, vm, fc, how->data, &act, err, errlen);
	else if ((e = configure(m, vm, fc, err, errlen)) == 0)
		act = json_pack("{s:s}", "action_type", "InstanceStart");
	if (e < 0)
		goto fail;
	static const char *const paths[] = { [WORKER_BOOT] = "/actions", [WORKER_RESTORE] = "/snapshot/load",
					     [WORKER_INCOMING] = "/migration/receive" };
	unsigned configured = (unsigned)(now_ms() - vm->launch_t0);
	e = worker_call(m, vm, "PUT", paths[how->mode], act, err, errlen);
	json_decref(act);
	/* Where a start's time goes, for a host where starts are slow (docs/manager.md#figures). */
	mgr_vm_log(m, vm->def.name, "worker %s in %llu ms: spawned %u, API answering %u, jail filled %u, configured %u",
	       e < 0 ? "failed" : "up", (unsigned long long)(now_ms() - vm->launch_t0), vm->launch_ms[0],
	       vm->launch_ms[1], vm->launch_ms[2], configured);
	if (e < 0)
		goto fail;
	json_decref(fc);
	return 0;
fail:
	json_decref(fc);
	mgr_vm_log(m, vm->def.name, "start failed: %s", err);
	worker_kill(m, vm);
	return e;
}
