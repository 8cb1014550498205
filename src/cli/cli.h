#ifndef PETREL_CLI_CLI_H
#define PETREL_CLI_CLI_H

#include <signal.h>

struct vm;

/* Signals petrel takes through a signalfd (stop: INT, TERM, HUP; dump vCPUs: USR2). */
void cli_control_signals(sigset_t *set);
/* Block those (and the vCPU kick signal) in this thread and every thread it starts; call
 * before starting threads. Ignores SIGPIPE. */
void cli_block_signals(void);
/* A signalfd for the control signals, or -1 (logged). */
int cli_control_signalfd(void);
/* A control signal read from that signalfd: counted for the metrics (SIGHUP). */
void cli_note_signal(int signo);
/* Before a VM runs: wait until fd is readable (0) or a control signal comes through sfd
 * (its number, counted; SIGUSR2, which dumps vCPUs, means nothing yet and is skipped).
 * -1 on a poll error (logged). */
int cli_wait_readable(int fd, int sfd);
/* --pvm auto|on|off -> -1/1/0; -EINVAL (logged) otherwise. */
int cli_parse_pvm(const char *arg, int *out);

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
