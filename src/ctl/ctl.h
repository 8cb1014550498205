/* petrelctl's pieces: petrelctl.c (main, the table of commands and the small ones), request.c
 * (requests to petreld), one file per larger command (top.c, console.c, vnc.c, clone.c, migrate.c,
 * replica.c, web_user.c, net.c, image.c, guest.c, backup_job.c), arena.c (memory for big answers). */
#ifndef PETREL_CTL_H
#define PETREL_CTL_H

#include <jansson.h>
#include <stdbool.h>

#define EXIT_REFUSED 1
#define EXIT_USAGE 2
#define EXIT_UNREACHABLE 3
#define EXIT_NO_VM 4

/* request.c: petreld's socket ($PETRELD_SOCKET, --socket) and --json. */
extern const char *ctl_sock_path;
extern bool ctl_json;
/* One request to petreld: 0 and *out (may be NULL), or the exit status with the reason printed. */
int ctl_request(const char *method, const char *path, const char *body, unsigned timeout_ms, json_t **out);
/* The same with a JSON body (taken; NULL: none). */
int ctl_request_json(const char *method, const char *path, json_t *body, unsigned timeout_ms, json_t **out);
/* POST the file (at most 1 MiB: a definition) to path: as ctl_request, or EXIT_REFUSED with the
 * reason printed when it cannot be read. */
int ctl_post_file(const char *path, const char *file, unsigned timeout_ms, json_t **out);
/* o as indented JSON on stdout. */
void ctl_print_json(json_t *o);
/* GET path for a list command: with --json it is printed here (0, *out NULL); else 0 and *out for
 * the command's table; or the exit status with the reason printed. */
int ctl_list(const char *path, unsigned timeout_ms, json_t **out);
/* arena.c: jansson's allocations from one pre-faulted region for a big answer of len bytes. */
void ctl_arena_init(void);
void ctl_arena_for(size_t len);
/* The commands of their own files: argv[0] is the command's name. */
int cmd_top(int argc, char **argv);
int cmd_console(int argc, char **argv);
int cmd_vnc(int argc, char **argv);       /* vnc.c */
int cmd_web_user(int argc, char **argv);
int cmd_migrate(int argc, char **argv);   /* migrate.c */
int cmd_replica(int argc, char **argv);
int cmd_guest(int argc, char **argv);     /* guest.c: the guest agent */
int cmd_net(int argc, char **argv);       /* net.c: net-define, net-list, ... */
/* image.c: image-list, image-import, image-remove, define-from-image */
int cmd_image(int argc, char **argv);
/* backup_job.c: backup-job-define, -list, -run, -remove, backup-verify */
int cmd_backup_job(int argc, char **argv);
/* clone.c */
int cmd_clone(int argc, char **argv);
int cmd_restore(int argc, char **argv);

#endif
