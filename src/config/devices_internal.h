/* What devices_config.c (JSON) and devices_cli.c (command line) share. */
#ifndef PETREL_CONFIG_DEVICES_INTERNAL_H
#define PETREL_CONFIG_DEVICES_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

/* A drive_id / iface_id: [A-Za-z0-9_], 1..DEVICES_ID_MAX characters. 0 or -EINVAL with the
 * message "where.key: ..." in err. */
int devices_check_id(const char *id, const char *where, const char *key, char *err, size_t errlen);
/* Split a CLI value "a,b=c,..." (devices_cli.c): fn(ctx, key, value or NULL, first item?) for
 * each item; empty items and non-UTF-8 text are errors. Used by pmem_config.c's --pmem too. */
typedef int (*devices_kv_fn)(void *ctx, char *key, char *val, bool first, char *err, size_t errlen);
int devices_split_kv(const char *arg, void *ctx, devices_kv_fn fn, char *err, size_t errlen);

#endif
