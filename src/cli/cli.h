#ifndef PETREL_CLI_CLI_H
#define PETREL_CLI_CLI_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

struct vm;

/* Signals petrel takes through a signalfd (stop: INT, TERM, HUP; dump vCPUs: USR2). */
void cli_control_signals(sigset_t *set);
/* Block those (and the vCPU kick signal) in this thread and every thread it starts; call
 * before starting threads. Ignores SIGPIPE. */
void cli_block_signals(void);
/* A signalfd for the control signals, or -1 (logged). */
int cli_control_signalfd(void);
/* A control signal read from that signalfd: counted for the metrics (SIGHUP); the first
 * INT, TERM or HUP is the one petrel ends with (cli_exit). */
void cli_note_signal(int signo);
/* The end of every command: the event monitor's "exiting" event (and its close), then, when a
 * signal stopped petrel, death by that signal (its default action, raised again); otherwise
 * `status` is returned for main to return. */
int cli_exit(int status);
/* Before a VM runs: wait until fd is readable (0) or a control signal comes through sfd
 * (its number, counted; SIGUSR2, which dumps vCPUs, means nothing yet and is skipped).
 * -1 on a poll error (logged). */
int cli_wait_readable(int fd, int sfd);
/* --event-monitor SPEC: open the monitor (util/event_monitor.h) for instance `id` (NULL:
 * "petrel") and write its first event, `starting`. 0, or -1 (logged). */
int cli_event_monitor_open(const char *spec, const char *id);
/* `petrel run`: take --event-monitor SPEC out of argv (as seccomp_take_args does) and open it.
 * 0, or -1 (logged). */
int cli_event_monitor_take(int *argc, char **argv);
/* --pvm auto|on|off -> -1/1/0; -EINVAL (logged) otherwise. */
int cli_parse_pvm(const char *arg, int *out);

/* --version: Firecracker's first line ("Firecracker v<API version>+petrel.<version>", what
 * its clients parse), then petrel's own version and the API version in words. */
void cli_print_version(void);

/* The VM has stopped (stop_report.c): its reason (an error logged, another stop written to out
 * as "petrel: REASON"), then with stats the exit statistics and the guest memory resident of
 * mem_mib. Both `petrel run` and the Firecracker command line end with it. */
void cli_report_stop(struct vm *vm, bool stats, uint64_t mem_mib, FILE *out);

/* `petrel run ...`: returns the process exit status. */
int cli_run(int argc, char **argv);
/* `petrel [--api-sock PATH] [--config-file FILE] ...` (Firecracker's command line):
 * returns the process exit status. */
int cli_firecracker(int argc, char **argv);
/* `petrel snapshot info FILE`. */
int cli_snapshot(int argc, char **argv);
/* `petrel migrate --api-sock S --to URL`: migrate a running petrel's VM and follow it. */
int cli_migrate(int argc, char **argv);
/* `petrel replicate --api-sock S --to URL`: make a running petrel a replication primary. */
int cli_replicate(int argc, char **argv);
/* `petrel image create-overlay|deploy ...` (image.c, deploy.c): qcow2 overlays, and clones of
 * a snapshotted VM on overlays of their own. */
int cli_image(int argc, char **argv);
int cli_deploy(int argc, char **argv);
/* Serve the console (stdin -> serial) until the VM stops; a control signal through sfd (the
 * caller's cli_control_signalfd(), made before any client or peer could take the last
 * descriptor) stops it, SIGUSR2 dumps the vCPUs. */
int console_loop(struct vm *vm, int sfd);

#endif
