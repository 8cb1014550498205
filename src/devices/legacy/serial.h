/* 16550A UART (COM1): the guest console, with FIFO and interrupts. */
#ifndef PETREL_DEVICES_LEGACY_SERIAL_H
#define PETREL_DEVICES_LEGACY_SERIAL_H

#include "devices/irq.h"
#include "util/rate_limiter.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#define SERIAL_COM1_BASE 0x3f8
#define SERIAL_COM1_IRQ 4
#define SERIAL_FIFO_LEN 64

/* Everything the guest can observe; snapshot/migration serialize exactly this. */
struct serial_state {
	uint8_t ier, iir_pending_thri, lcr, mcr, lsr, msr, scr, fcr, dll, dlm;
	uint8_t rx[SERIAL_FIFO_LEN];
	uint8_t rx_head, rx_count;
	uint8_t irq_level;
};

struct outgate;

struct serial {
	struct serial_state st;
	pthread_mutex_t lock;
	int out_fd;             /* where guest output goes (stdout), -1 to discard */
	struct outgate *gate;   /* while replicated: output is held per epoch (ha/outgate.h) */
	struct irq_line irq;
	uint64_t tx_bytes, rx_bytes;
	uint64_t tx_dropped;    /* output bytes the console did not take */
	bool out_stalled;       /* the console took nothing lately: do not wait for it */
	struct token_bucket out_limit; /* PUT /serial rate_limiter: bytes past it are dropped */
	uint64_t rl_dropped;    /* output bytes the rate limiter dropped */
};

void serial_init(struct serial *s, int out_fd, struct irq_line irq);
void serial_io_read(void *opaque, uint64_t off, uint8_t *data, uint32_t len);
void serial_io_write(void *opaque, uint64_t off, const uint8_t *data, uint32_t len);
/* Limit guest output to a byte bucket (Firecracker's serial rate_limiter; NULL or not present:
 * unlimited). What exceeds it is dropped and counted in rl_dropped. Callable while running. */
void serial_set_rate_limiter(struct serial *s, const struct token_bucket_config *c);
/* Write output the guest made before a restore once more (a standby taking over writes the
 * console output of the last epoch, which the dead primary may not have written), as held
 * output is written: at most 100 ms of waiting for a console that takes nothing. */
void serial_write_again(struct serial *s, const void *data, size_t len);
/* Load saved state (queue bounds checked: -EINVAL and why) and drive the IRQ line to match. */
int serial_restore(struct serial *s, const struct serial_state *st, char *err, size_t errlen);
/* Feed host input to the guest. Returns how many bytes fit in the receive FIFO. */
size_t serial_receive(struct serial *s, const uint8_t *buf, size_t len);
/* Send a break (Linux's serial console reads break + a letter as a magic SysRq). Only into an
 * empty receive FIFO, so it stays in order with the bytes before it: false means try again. */
bool serial_send_break(struct serial *s);
/* Room left in the receive FIFO. */
size_t serial_rx_space(struct serial *s);

/* Its saved state (section UART): devices/dev_state.h, docs/snapshots.md. */
struct dev_state_ops;
extern const struct dev_state_ops serial_state_ops;

#endif
