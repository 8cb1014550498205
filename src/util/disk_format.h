/* The disk image formats petrel opens (block/disk.h) and their names in a definition
 * ("format": "raw" | "qcow2" | "auto"). Here, below config/ and block/, so that both name them
 * the same way. */
#ifndef PETREL_UTIL_DISK_FORMAT_H
#define PETREL_UTIL_DISK_FORMAT_H

enum disk_format { DISK_FORMAT_AUTO = 0, DISK_FORMAT_RAW, DISK_FORMAT_QCOW2 };

/* "raw", "qcow2" or "auto". */
const char *disk_format_name(enum disk_format f);
/* The format named s (a DISK_FORMAT_*), or -1. */
int disk_format_parse(const char *s);

#endif
