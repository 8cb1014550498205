#include "devices/legacy/debug_port.h"

#include <stdio.h>
#include <string.h>

void debug_port_read(void *opaque, uint64_t off, uint8_t *data, uint32_t len)
{
	memset(data, 0, len);
}

void debug_port_write(void *opaque, uint64_t off, const uint8_t *data, uint32_t len)
{
	struct debug_port *d = opaque;
	if (off != 0)
		return; /* the null port */
	char why[64];
	snprintf(why, sizeof(why), "guest wrote %u to the debug-exit port", data[0]);
	power_request(&d->power, VM_STOP_DEBUG_EXIT, data[0], why);
}
