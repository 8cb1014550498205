/* Between the UART's registers (serial.c) and its output side (serial_out.c). */
#ifndef PETREL_DEVICES_LEGACY_SERIAL_INT_H
#define PETREL_DEVICES_LEGACY_SERIAL_INT_H

#include "devices/legacy/serial.h"

/* A byte the guest wrote to THR: counted, rate-limited, gated or buffered, written. s->lock
 * held. */
void serial_emit(struct serial *s, uint8_t b);

#endif
