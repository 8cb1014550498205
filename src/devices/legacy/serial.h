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
struct io_thread;

/* Guest output waits in a buffer of this size (serial_buffer_output) until a line ends, or
 * the guest has written nothing for SERIAL_IDLE_NS after the batch's first byte (a prompt),
 * or that byte has waited SERIAL_MAX_WAIT_NS (a line written slowly). */
#define SERIAL_OUT_BUF 4096
#define SERIAL_IDLE_NS 2000000
#define SERIAL_MAX_WAIT_NS 50000000

struct serial {
	struct serial_state st;
	pthread_mutex_t lock;
	int out_fd;             /* where guest output goes (stdout), -1 to discard */
	struct outgate *gate;   /* while replicated: output is held per epoch (util/outgate.h) */
	struct irq_line irq;
	uint64_t tx_bytes, rx_bytes;
	uint64_t tx_dropped;    /* output bytes the console did not take */
	bool out_stalled;       /* the console took nothing lately: do not wait for it */
	struct token_bucket out_limit; /* PUT /serial rate_limiter: bytes past it are dropped */
	uint64_t rl_dropped;    /* output bytes the rate limiter dropped */
	/* Output buffering (serial_buffer_output; io NULL: each byte is written as it comes). */
	struct io_thread *io;   /* runs the flush timer */
	int out_timer;          /* its timerfd */
	bool out_timer_armed;   /* set for the bytes in out_buf (cleared when it fires) */
	uint64_t out_wait_since; /* the console has had no room for out_buf since then (0: it had) */
	uint64_t out_first_ns, out_last_ns; /* when out_buf's first and last bytes came */
	size_t out_len;
	uint8_t out_buf[SERIAL_OUT_BUF]; /* last: serial_init leaves it alone (untouched pages) */
};

void serial_init(struct serial *s, int out_fd, struct irq_line irq);
/* Collect output and write it in batches instead of a poll and a write per byte: at a line
 * end, when SERIAL_OUT_BUF bytes wait, when the guest stops writing for SERIAL_IDLE_NS or the
 * oldest byte has waited SERIAL_MAX_WAIT_NS (a timer on io: a prompt shows at once to a
 * person), and at serial_flush. Output held for replication
 * (gate) is not buffered here: it goes to the gate byte by byte, as before. -errno (the
 * timer) and the UART stays unbuffered. */
int serial_buffer_output(struct serial *s, struct io_thread *io);
/* Write the buffered output now: wait (as a vCPU waits for a slow console, up to a second)
 * or only what the console takes at once (the rest is kept, the timer tries again). The VM
 * does it when its vCPUs stop (pause, exit), so that output made before is out before
 * anything that follows (a snapshot, the destination of a migration, the exit status). */
void serial_flush(struct serial *s, bool wait);
/* Flush (waiting) and stop buffering: before the I/O thread goes. */
void serial_destroy(struct serial *s);
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
/* The machine's reset: the registers as at power-on, the line low. */
void serial_reset(struct serial *s);
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
