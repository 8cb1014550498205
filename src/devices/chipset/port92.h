/* Port 0x92 (System Control Port A), the APM ports 0xb2/0xb3 and the reset control register at
 * 0xCF9 (PIIX3's RCR, which OVMF's ResetCold writes) of a firmware-booted VM.
 * 0x92: reads 0x02 (A20 is always on: the gate cannot be closed); writing bit 0 = 1 asks for
 * a reset (VM_STOP_RESET). 0xb2 (APM control): a write would raise an SMI, which the machine
 * does not have: it is stored and counted, nothing more. 0xb3 (APM status) reads back what
 * was written (SeaBIOS's SMM probe). 0xCF9: bit 1 (full reset) is stored and read back, writing
 * bit 2 asks for a reset (petrel's resets are all full ones); it is not part of the saved state
 * (a restored VM reads 0 there until the guest writes it again, which changes no reset). */
#ifndef PETREL_DEVICES_CHIPSET_PORT92_H
#define PETREL_DEVICES_CHIPSET_PORT92_H

#include "devices/power.h"

#include <pthread.h>
#include <stdint.h>

struct bus;

#define PORT92_PORT 0x92
#define APM_PORT 0xb2           /* 0xb2 control, 0xb3 status */
#define APM_LEN 2

struct port92_state {
	uint8_t apmc, apms;      /* the last bytes written to 0xb2 and 0xb3 */
	uint8_t rcr;             /* 0xCF9's bit 1 (not saved) */
};

struct port92 {
	struct port92_state st;  /* lock */
	pthread_mutex_t lock;
	struct power_ctl power;
	uint64_t apmc_writes;    /* atomic: writes to 0xb2 (each an SMI on real hardware) */
	uint64_t resets;         /* atomic: resets asked through 0x92 or 0xCF9 */
};

/* Register 0x92 and 0xb2-0xb3 on pio. */
int port92_init(struct port92 *p, struct bus *pio, struct power_ctl power);
void port92_reset(struct port92 *p);
void port92_read(void *opaque, uint64_t off, uint8_t *data, uint32_t len);
void port92_write(void *opaque, uint64_t off, const uint8_t *data, uint32_t len);
void apm_read(void *opaque, uint64_t off, uint8_t *data, uint32_t len);
void apm_write(void *opaque, uint64_t off, const uint8_t *data, uint32_t len);
/* The reset control register (pci_bus_set_cf9's hooks, opaque = p). */
void port92_rcr_read(void *opaque, uint8_t *v);
void port92_rcr_write(void *opaque, uint8_t v);
uint64_t port92_apmc_writes(const struct port92 *p);

/* Its saved state (section P92 : the two APM bytes): devices/dev_state.h. */
struct dev_state_ops;
extern const struct dev_state_ops port92_state_ops;

#endif
