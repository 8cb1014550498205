/* `petrel run`: boot one VM from command-line options and/or a Firecracker-format JSON file. */
#include "cli/cli.h"
#include "cli/run_args.h"
#include "ha/replication.h"
#include "migration/migration.h"
#include "seccomp/seccomp.h"
#include "snapshot/snapshot.h"
#include "util/affinity.h"
#include "util/log.h"
#include "util/thread.h"
#include "util/util.h"
#include "vm/vcpu_hotplug.h"
#include "vm/vm.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

/* Signals are taken through a signalfd (by the console loop once a VM runs, before that by
 * the wait for one); every thread started from here on (vCPUs, migration, replication)
 * inherits the mask, vCPU threads unblock only their kick signal. The signalfd or -1
 * (said why). */
static int control_signals(void)
{
	cli_block_signals();
	return cli_control_signalfd();
}

/* A VM that arrived from another petrel (a migration, a takeover) runs like any other; repl:
 * its replication to a next standby, if any (ended before the VM goes). */
static int run_arrived(struct vm *vm, struct vm_config *cfg, bool stats, struct replication *repl, int sfd)
{
	cfg->stats = stats;
	console_loop(vm, sfd);
	int status = vm_join(vm);
	cli_report_stop(vm, stats, cfg->mem_mib, stderr);
	replication_free(repl);
	vm_destroy(vm);
	return status;
}

static void incoming_done(void *opaque, struct migration *m, int e)
{
	int fd = *(int *)opaque;
	char c = e ? 1 : 0;
	if (write(fd, &c, 1) < 0)
		log_error("cannot report the migration's end: %s", strerror(errno));
}

/* The byte a migration's or replication's end callback wrote to fd, if it has run (after
 * migration_free/replication_free it has, or never will): 1 when it has not. */
static char callback_byte(int fd)
{
	char c = 1;
	struct pollfd p = { .fd = fd, .events = POLLIN };
	if (poll(&p, 1, 0) == 1 && read(fd, &c, 1) != 1)
		c = 1;
	return c;
}

/* A control signal (signo > 0) or a poll error (signo < 0) while waiting for a VM to arrive:
 * the wait is over (cancelled by the caller, before this), and a VM that arrived all the same
 * is stopped. */
static int stop_waiting(struct vm *vm, struct vm_config *cfg, bool arrived, int signo, int sfd)
{
	if (!arrived) {
		if (signo > 0)
			fprintf(stderr, "petrel: stopped by signal %d before a VM arrived\n", signo);
		return signo > 0 ? 0 : 1;
	}
	if (signo > 0)
		vm_request_stop(vm, VM_STOP_USER, 0, "stopped by signal %d", signo);
	else
		vm_request_stop(vm, VM_STOP_ERROR, 1, "stopped: cannot wait for signals");
	return run_arrived(vm, cfg, false, NULL, sfd);
}

/* --incoming: wait for one migration, then run the VM it brought like any other. */
static int run_incoming(const char *url, bool stats, int sfd)
{
	static struct vm_config cfg;
	vm_config_init(&cfg);
	int pfd[2];
	struct vm *vm = vm_alloc();
	if (!vm || pipe2(pfd, O_CLOEXEC) < 0) {
		vm_free(vm);
		return 1;
	}
	struct mig_receive_opts o = { .url = url, .console_out_fd = STDOUT_FILENO };
	struct migration *m = NULL;
	char err[512] = "", ok = 1;
	int status = 1;
	if (migration_receive_start(vm, &cfg, &o, incoming_done, &pfd[1], &m, err, sizeof(err)) < 0) {
		log_error("%s", err);
		goto out;
	}
	fprintf(stderr, "petrel: waiting for a migration on %s\n", url);
	int sig = cli_wait_readable(pfd[0], sfd);
	if (sig != 0) {
		char c = 1;
		if (sig > 0 && !migration_cancel(m)) {
			/* Past the point of no return (the source may have let go of the guest, or
			 * post-copy pages are still coming): it is stopped once it has arrived. */
			fprintf(stderr, "petrel: signal %d as the guest switches over: it stops once it runs here\n", sig);
			if (read(pfd[0], &c, 1) != 1)
				c = 1;
		}
		migration_free(m); /* joined: its callback has run, or never will */
		m = NULL;
		if (c != 0)
			c = callback_byte(pfd[0]);
		status = stop_waiting(vm, &cfg, c == 0, sig, sfd);
		goto out;
	}
	if (read(pfd[0], &ok, 1) != 1)
		ok = 1;
	struct mig_status st;
	migration_status(m, &st);
	if (ok == 0) {
		fprintf(stderr, "petrel: migrated in from %s (downtime %.2f ms)\n", st.peer, st.downtime_ms);
		status = run_arrived(vm, &cfg, stats, NULL, sfd);
	} else {
		log_error("migration from %s failed: %s", st.peer, st.reason);
	}
out:
	migration_free(m);
	close(pfd[0]);
	close(pfd[1]);
	vm_config_free(&cfg);
	vm_free(vm);
	return status;
}

static void standby_event(void *opaque, struct replication *r, enum repl_state st)
{
	int fd = *(int *)opaque;
	char c = st == REPL_ACTIVE ? 0 : 1;
	if ((st == REPL_ACTIVE || st == REPL_STOPPED) && write(fd, &c, 1) < 0)
		log_error("cannot report the replication's end: %s", strerror(errno));
}

static void next_standby_event(void *opaque, struct replication *r, enum repl_state st)
{
	const char *url = opaque;
	struct repl_status s;
	if (st == REPL_PROTECTED) {
		fprintf(stderr, "petrel: protected again: replicating to the standby on %s\n", url);
	} else if (st == REPL_UNPROTECTED || st == REPL_STOPPED) {
		replication_status(r, &s);
		fprintf(stderr, "petrel: not replicated to %s: %s\n", url, s.reason);
	}
}

/* The standby took over: the VM gets the next standby, one generation on (fencing), with
 * the API's defaults (PUT /replication). NULL: it runs unprotected (said why). */
static struct replication *replicate_next(struct vm *vm, const char *url, uint64_t generation)
{
	struct repl_primary_opts o = { .peer_url = url, .interval_ms = 50, .failure_timeout_ms = 1000,
				       .on_loss = REPL_LOSS_CONTINUE, .mirror_disks = true,
				       .generation = generation };
	struct replication *r = NULL;
	char err[512] = "";
	if (replication_primary_start(vm, &o, next_standby_event, (void *)url, &r, err, sizeof(err)) < 0) {
		log_error("cannot replicate to the next standby on %s: %s; the VM runs unprotected", url, err);
		return NULL;
	}
	return r;
}

/* An external-takeover standby's wait: as cli_wait_readable, and SIGRTMIN (blocked in every
 * thread, run_standby) promotes it; a refusal is said, and it waits on. */
static int wait_promotable(struct replication *r, int fd, int sfd)
{
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGRTMIN);
	int promote_fd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	if (promote_fd < 0) {
		log_error("cannot watch for SIGRTMIN: %s", strerror(errno));
		return -1;
	}
	for (;;) {
		struct pollfd p[3] = { { .fd = fd, .events = POLLIN }, { .fd = sfd, .events = POLLIN },
				       { .fd = promote_fd, .events = POLLIN } };
		if (poll(p, 3, -1) < 0 && errno != EINTR) {
			log_error("poll: %s", strerror(errno));
			close(promote_fd);
			return -1;
		}
		struct signalfd_siginfo si;
		if ((p[2].revents & POLLIN) && read(promote_fd, &si, sizeof(si)) == sizeof(si)) {
			char err[512];
			fprintf(stderr, "petrel: promotion asked for (signal from pid %u)\n", si.ssi_pid);
			if (replication_promote(r, 10000, err, sizeof(err)) < 0)
				fprintf(stderr, "petrel: not promoted: %s\n", err);
		}
		if (p[0].revents || p[1].revents) {
			close(promote_fd);
			return cli_wait_readable(fd, sfd);
		}
	}
}

/* --standby: a replication standby; when the primary dies the VM runs here like any other
 * (replicated to the next standby with --next-standby). */
static int run_standby(const char *url, const char *next, bool external, bool stats, int sfd)
{
	static struct vm_config cfg;
	vm_config_init(&cfg);
	int pfd[2];
	struct vm *vm = vm_alloc();
	if (!vm || pipe2(pfd, O_CLOEXEC) < 0) {
		vm_free(vm);
		return 1;
	}
	struct repl_standby_opts o = { .listen_url = url, .failure_timeout_ms = 1000, .console_out_fd = STDOUT_FILENO,
				       .takeover = external ? REPL_TAKEOVER_EXTERNAL : REPL_TAKEOVER_AUTO };
	struct replication *r = NULL;
	char err[512] = "", active = 1;
	int status = 1;
	if (external) { /* before the replication's thread: it must not get the signal */
		sigset_t set;
		sigemptyset(&set);
		sigaddset(&set, SIGRTMIN);
		pthread_sigmask(SIG_BLOCK, &set, NULL);
	}
	if (replication_standby_start(vm, &cfg, &o, standby_event, &pfd[1], &r, err, sizeof(err)) < 0) {
		log_error("%s", err);
		goto out;
	}
	fprintf(stderr, "petrel: standby for a primary on %s%s\n", url,
		external ? " (external takeover: promote it with SIGRTMIN)" : "");
	int sig = external ? wait_promotable(r, pfd[0], sfd) : cli_wait_readable(pfd[0], sfd);
	if (sig != 0) {
		replication_free(r); /* joined: a takeover has happened, or never will */
		r = NULL;
		status = stop_waiting(vm, &cfg, callback_byte(pfd[0]) == 0, sig, sfd);
		goto out;
	}
	if (read(pfd[0], &active, 1) != 1)
		active = 1;
	struct repl_status st;
	replication_status(r, &st);
	if (active == 0) {
		fprintf(stderr, "petrel: the primary died (%s): the VM runs here\n", st.reason);
		struct replication *p = NULL;
		if (next) { /* this standby's part is over (as PUT /replication ends it) */
			replication_free(r);
			r = NULL;
			p = replicate_next(vm, next, st.generation + 1);
		}
		status = run_arrived(vm, &cfg, stats, p, sfd);
	} else {
		fprintf(stderr, "petrel: replication ended: %s\n", st.reason);
		status = 0;
	}
out:
	replication_free(r);
	close(pfd[0]);
	close(pfd[1]);
	vm_config_free(&cfg);
	vm_free(vm);
	return status;
}

int cli_run(int argc, char **argv)
{
	struct vm_config cfg;
	struct snapshot_load_opts ro = { 0 };
	struct run_from from = { 0 };
	bool restore, stats = false;
	struct sc_options sc = { 0 };
	struct cpu_affinity *aff = NULL;   /* --cpu-affinity with --restore/--incoming/--standby */
	char err[512];
	int r;
	if (seccomp_take_args(&argc, argv, &sc) < 0 || cli_event_monitor_take(&argc, argv) < 0)
		return 2;
	if (seccomp_start(&sc) < 0)   /* before any file is read or thread started */
		return sc.filter_path ? 2 : 1;
	r = run_restore_args(argc, argv, &ro, &from, &stats, &aff, &restore);
	/* the VM's vCPU count comes with it: checked when its threads start */
	if (r == 0 && (from.incoming || from.standby) && (r = affinity_set(aff, 0, err, sizeof(err))) < 0)
		log_error("%s", err);
	if (r < 0) {
		free(aff);
		return 2;
	}
	if (from.incoming || from.standby) {
		free(aff);
		int sfd = control_signals();
		if (sfd < 0)
			return 1;
		int status = from.incoming ? run_incoming(from.incoming, stats, sfd)
					   : run_standby(from.standby, from.next_standby,
							 from.takeover && !strcmp(from.takeover, "external"), stats, sfd);
		close(sfd);
		return status;
	}
	if (restore) {
		r = snapshot_read_config(&ro, &cfg, err, sizeof(err));
		if (r < 0) {
			log_error("%s: %s", ro.state_path, err);
			free(aff);
			return 2;
		}
		cfg.stats = stats;
		cfg.cpu_affinity = aff;   /* cfg owns it now */
	} else {
		vm_config_init(&cfg);
		r = run_parse_args(argc, argv, &cfg);
	}
	/* Checked against the host and the vCPU count, main moved to the vmm set, before any of
	 * the VM's threads exist. */
	if (r == 0 && (r = affinity_set(cfg.cpu_affinity, vcpu_hotplug_possible(&cfg), err, sizeof(err))) < 0)
		log_error("%s", err);
	if (r != 0) {
		vm_config_free(&cfg);
		return r > 0 ? 0 : 2;
	}
	int sfd = control_signals();
	if (sfd < 0) {
		vm_config_free(&cfg);
		return 1;
	}
	struct vm *vm = vm_alloc();
	int status;
	/* The thread spawner only if a thread of the VM asks for a thread (a reset, PVM's idle
	 * kicker): this thread makes it from the console loop (util/thread.h). From here until
	 * serve_end it waits for no other thread but in thread_start. */
	int se = vm ? thread_spawner_serve_begin() : 0;
	if (se < 0)
		log_warn("cannot defer the thread spawner: %s", strerror(-se));
	if (!vm) {
		log_error("out of memory");
		status = 1;
	} else if (restore && snapshot_load(vm, &cfg, &ro, STDOUT_FILENO, err, sizeof(err)) < 0) {
		log_error("%s: %s", ro.state_path, err);
		status = 1;
	} else if (!restore && vm_create(vm, &cfg, STDOUT_FILENO) < 0) {
		status = 1;
	} else {
		if (vm_start(vm) == 0)
			console_loop(vm, sfd);
		thread_spawner_serve_end();   /* before vm_join waits for the VM's threads */
		status = vm_join(vm);
	}
	if (vm) {
		cli_report_stop(vm, cfg.stats, cfg.mem_mib, stderr);
		vm_destroy(vm);
		vm_free(vm);
	}
	vm_config_free(&cfg);
	close(sfd);
	return status;
}

int cli_snapshot(int argc, char **argv)
{
	char err[512] = "";
	if (argc == 3 && !strcmp(argv[1], "info")) {
		if (snapshot_info(argv[2], stdout, err, sizeof(err)) < 0) {
			fprintf(stderr, "petrel: %s\n", err);
			return 1;
		}
		return 0;
	}
	if ((argc == 5 || argc == 6) && !strcmp(argv[1], "merge")) {
		const char *mem = argc == 6 ? argv[3] : NULL;
		const char *out_state = argv[argc - 2], *out_mem = argv[argc - 1];
		if (snapshot_merge(argv[2], mem, out_state, out_mem, err, sizeof(err)) < 0) {
			fprintf(stderr, "petrel: %s\n", err);
			return 1;
		}
		printf("merged %s into %s and %s\n", argv[2], out_state, out_mem);
		return 0;
	}
	fprintf(stderr, "usage: petrel snapshot info STATE\n"
			"       petrel snapshot merge STATE [MEM] OUT_STATE OUT_MEM\n");
	return 2;
}
