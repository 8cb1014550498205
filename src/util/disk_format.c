#include "util/disk_format.h"

#include <string.h>

const char *disk_format_name(enum disk_format f)
{
	return f == DISK_FORMAT_QCOW2 ? "qcow2" : f == DISK_FORMAT_RAW ? "raw" : "auto";
}

int disk_format_parse(const char *s)
{
	if (!strcmp(s, "raw"))
		return DISK_FORMAT_RAW;
	if (!strcmp(s, "qcow2"))
		return DISK_FORMAT_QCOW2;
	if (!strcmp(s, "auto"))
		return DISK_FORMAT_AUTO;
	return -1;
}
