#include "devices/legacy/pvpanic.h"

#include "util/event_monitor.h"
#include "util/log.h"

#include <string.h>

void pvpanic_read(void *opaque, uint64_t off, uint8_t *data, uint32_t len)
{
	(void)opaque;
	memset(data, 0, len);
	if (off == 0 && len > 0)
		data[0] = PVPANIC_PANICKED | PVPANIC_CRASH_LOADED;
}

void pvpanic_write(void *opaque, uint64_t off, const uint8_t *data, uint32_t len)
{
	(void)opaque;
	if (off != 0 || len == 0)
		return;
	/* Bits the device does not offer are ignored, as a guest must not write them. */
	uint8_t v = data[0] & (PVPANIC_PANICKED | PVPANIC_CRASH_LOADED);
	if (v & PVPANIC_PANICKED) {
		log_warn("the guest kernel panicked (pvpanic port written %#x)", data[0]);
		event_emit("guest", "panic", "{s:s,s:i}", "message", "the guest kernel panicked", "code", (int)data[0]);
	}
	if (v & PVPANIC_CRASH_LOADED) {
		log_warn("the guest kernel panicked and started its crash kernel (pvpanic port written %#x)", data[0]);
		event_emit("guest", "crash-loaded", "{s:s,s:i}", "message",
			   "the guest kernel panicked and started its crash kernel", "code", (int)data[0]);
	}
}
