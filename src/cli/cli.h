#ifndef PETREL_CLI_CLI_H
#define PETREL_CLI_CLI_H

struct vm;

/* `petrel run ...`: returns the process exit status. */
int cli_run(int argc, char **argv);
/* `petrel [--api-sock PATH] [--config-file FILE] ...` (Firecracker's command line):
 * returns the process exit status. */
int cli_firecracker(int argc, char **argv);
/* Serve the console (stdin -> serial) until the VM stops. */
int console_loop(struct vm *vm);

#endif
