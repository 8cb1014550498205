/* A VM's serial console: its output for a reader (console.c) and its input (console_input.c). */
#ifndef PETREL_MANAGER_CONSOLE_H
#define PETREL_MANAGER_CONSOLE_H

#include <stddef.h>

struct manager;
struct mgr_vm;

/* console.c: GET /vms/NAME/console, the worker's console output for a reader. */
void *console_reader_new(struct manager *m, const char *vm);
void console_stream(void *reader, int fd);

/* console_input.c: the worker's stdin, a FIFO <state>/sock/<name>.in, for typing into the
 * guest's serial console. open returns the fd the worker gets as its stdin. */
int console_input_open(struct manager *m, const char *vm, char *err, size_t errlen);
void console_input_remove(struct manager *m, const char *vm);
int console_input_write(struct manager *m, struct mgr_vm *vm, const char *keys, size_t len, char *err, size_t errlen);

#endif
