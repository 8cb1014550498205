/* petrelctl's pieces (petrelctl.c: the commands; top.c: the live table). */
#ifndef PETREL_CTL_H
#define PETREL_CTL_H

#include <jansson.h>
#include <stdbool.h>

#define EXIT_REFUSED 1
#define EXIT_USAGE 2
#define EXIT_UNREACHABLE 3
#define EXIT_NO_VM 4

extern bool ctl_json;
/* One request to petreld: 0 and *out (may be NULL), or the exit status with the reason printed. */
int ctl_request(const char *method, const char *path, const char *body, unsigned timeout_ms, json_t **out);
/* arena.c: jansson's allocations from one pre-faulted region for a big answer of len bytes. */
void ctl_arena_init(void);
void ctl_arena_for(size_t len);
int cmd_top(int argc, char **argv);
int cmd_console(const char *name);
int cmd_web_user(int argc, char **argv);
int cmd_migrate(int argc, char **argv);   /* migrate.c */
int cmd_replica(int argc, char **argv);
/* clone.c */
int cmd_clone(int argc, char **argv);
int cmd_restore(int argc, char **argv);

#endif
