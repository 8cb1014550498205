/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ctrlaltdel: the keyboard (i8042, IRQ 1 through the PIC) delivers
 * Ctrl-Alt-Del. Prints "ctrlaltdel: waiting", then takes scancodes from port
 * 0x60 in its IRQ 1 handler until it has seen the make codes of Ctrl (0x1d),
 * Alt (0x38) and Del (0x53) in that order, and passes (exit 0). Fails after
 * wait=N seconds (default 60) without them.
 * (petrel: PUT /actions {"action_type": "SendCtrlAltDel"}.)
 */
#include "guest.h"

DEFINE_GUEST("ctrlaltdel");

#define I8042_DATA 0x60
#define I8042_STATUS 0x64
#define I8042_OBF 0x01

static const uint8_t want[] = { 0x1d, 0x38, 0x53 };
static volatile uint32_t matched, irqs;
static uint8_t seen[16];
static volatile uint32_t nseen;

static void kbd_irq(struct irq_frame *f)
{
	irqs++;
	/* One byte per interrupt: the controller raises a new edge for the next one. */
	if (!(inb(I8042_STATUS) & I8042_OBF))
		return;
	uint8_t b = inb(I8042_DATA);
	if (nseen < sizeof(seen))
		seen[nseen++] = b;
	if (matched < sizeof(want))
		matched = b == want[matched] ? matched + 1 : (b == want[0] ? 1 : 0);
}

/* Ring 3, interrupts on: spin until the sequence is complete or time is up. */
static long wait_for_keys(long secs)
{
	struct deadline d;
	deadline_start(&d, (int)secs);
	for (;;) {
		for (int i = 0; i < 20000; i++) {
			if (matched == sizeof(want))
				return 1;
			pause();
		}
		if (deadline_expired(&d))
			return matched == sizeof(want);
	}
}

void test_main(void)
{
	while (inb(I8042_STATUS) & I8042_OBF) /* stale bytes */
		(void)inb(I8042_DATA);
	pic_init();
	pic_set_handler(1, kbd_irq);
	long secs = cmdline_int("wait", 60);
	printf("ctrlaltdel: waiting\n");
	bool ok = user_call(wait_for_keys, secs, USER_IF);
	printf("ctrlaltdel: %u interrupts, %u scancodes:", irqs, nseen);
	for (uint32_t i = 0; i < nseen; i++)
		printf(" %02x", seen[i]);
	printf("\n");
	check(ok && matched == sizeof(want), "no Ctrl-Alt-Del within %ld s", secs);
	pass();
}
