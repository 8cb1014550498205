/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fwevil.h - shared by the parts of the fwevil guest (fwevil.c: fw_cfg; fwevil_chipset.c: PAM,
 * the PIIX4 PM base, port 0x92, the firmware ROM; fwevil_tramp.S: the AP's PAM loop).
 */
#ifndef PETREL_GUEST_FWEVIL_H
#define PETREL_GUEST_FWEVIL_H

#include "guest.h"

/* One hostile case done: "fwevil: ..." on the console, counted for "fwevil cases=N". */
void fwevil_case(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Where guest RAM below 4 GiB ends (the VMM's etc/e820, checked against ram_mib=). */
extern uint64_t fwevil_ram_end;

/* PCI configuration mechanism #1, bus 0. */
uint32_t cfg_read32(unsigned dev, unsigned fn, unsigned off);
uint8_t cfg_read8(unsigned dev, unsigned fn, unsigned off);
void cfg_write8(unsigned dev, unsigned fn, unsigned off, uint8_t v);
void cfg_write32(unsigned dev, unsigned fn, unsigned off, uint32_t v);

/* fw_cfg's signature, read through the selector/data ports (its first 4 bytes "QEMU"). */
bool fwcfg_signature_ok(void);

long fwcfg_tests(long unused);   /* ring 3 */
void pam_tests(void);            /* ring 0: starts the AP */
long pm_tests(long unused);      /* ring 3 */
long misc_tests(long unused);    /* ring 3 */

#endif
