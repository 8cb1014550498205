/* What devices_config.c (JSON) and devices_cli.c (command line) share. */
#ifndef PETREL_CONFIG_DEVICES_INTERNAL_H
#define PETREL_CONFIG_DEVICES_INTERNAL_H

#include <stddef.h>

/* A drive_id / iface_id: [A-Za-z0-9_], 1..DEVICES_ID_MAX characters. 0 or -EINVAL with the
 * message "where.key: ..." in err. */
int devices_check_id(const char *id, const char *where, const char *key, char *err, size_t errlen);

#endif
