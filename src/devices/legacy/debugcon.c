/* Port 0x402: the firmware's debug output, line by line into petrel's log (debug level). */
#include "devices/legacy/debugcon.h"
#include "util/log.h"

#include <string.h>

void debugcon_init(struct debugcon *c)
{
	memset(c, 0, sizeof(*c));
	pthread_mutex_init(&c->lock, NULL);
}

void debugcon_destroy(struct debugcon *c)
{
	pthread_mutex_destroy(&c->lock);
}

void debugcon_read(void *opaque, uint64_t off, uint8_t *data, uint32_t len)
{
	(void)opaque, (void)off;
	memset(data, 0, len);
	data[0] = DEBUGCON_MAGIC;
}

/* Under c->lock: log the collected line (printable characters only) and start another. */
static void flush_line(struct debugcon *c)
{
	if (c->len)
		log_debug("firmware: %.*s", (int)c->len, c->line);
	c->len = 0;
}

void debugcon_write(void *opaque, uint64_t off, const uint8_t *data, uint32_t len)
{
	struct debugcon *c = opaque;
	(void)off;
	__atomic_fetch_add(&c->bytes, len, __ATOMIC_RELAXED);
	if (log_get_level() < LOG_DEBUG)
		return;
	pthread_mutex_lock(&c->lock);
	for (uint32_t i = 0; i < len; i++) {
		char ch = (char)data[i];
		if (ch == '\n' || c->len == DEBUGCON_LINE - 1)
			flush_line(c);
		if (ch >= 0x20 && ch < 0x7f)
			c->line[c->len++] = ch;
	}
	pthread_mutex_unlock(&c->lock);
}

uint64_t debugcon_bytes(const struct debugcon *c)
{
	return __atomic_load_n(&c->bytes, __ATOMIC_RELAXED);
}
