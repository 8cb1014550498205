/* SPDX-License-Identifier: Apache-2.0 */
/*
 * uartloop: the 8250 UART with unusual settings and an interrupt kept pending, checked over and
 * over, for snapshots taken mid-run (tests/api/test_api_snapshot_io.py); console input is
 * echoed as "echo: LINE".
 *
 * Set once: LCR 0x3b (8 bits, parity, even, stick), divisor 0x015a, MCR 0x0f (DTR, RTS, OUT1,
 * OUT2), FIFO on with a 14-byte trigger (FCR 0xc1). Then, forever, from ring 3:
 *   1. mask IRQ 4 at the PIC, write a new scratch value, enable IER = RDI|THRI|RLSI|MSI (0x0f):
 *      a THR-empty interrupt is now pending in the UART, its line high, the PIC holding it;
 *   2. idle about 20 ms (a snapshot almost always lands here);
 *   3. check IER, LCR, MCR, MSR, LSR, the scratch register and the divisor (through DLAB);
 *   4. unmask IRQ 4: the handler must see IIR = THR empty with the FIFO bits (0xc2) after any
 *      received data (0xc4, drained into lines); it turns THRI off again;
 *   5. echo the lines that came in; every 8th round print "uart check=N ok thri=N rx=N".
 * Input typed while IRQ 4 is masked (or while the VM is paused) waits in the receive FIFO.
 * Runs until the VM is stopped.
 */
#include "guest.h"

DEFINE_GUEST("uartloop");

#define LCR_VAL 0x3b
#define LCR_DLAB 0x80
#define DLL_VAL 0x5a
#define DLM_VAL 0x01
#define MCR_VAL 0x0f
#define FCR_VAL 0xc1
#define IER_BASE 0x0d /* RDI, RLSI, MSI */
#define MSR_VAL 0xb0  /* CTS, DSR, DCD: a modem that is there */
#define IDLE_MS 20

static volatile uint32_t thri_irqs, rx_irqs, other_irqs, bad_thri_iir;
static volatile uint32_t lines_in;
static char line[128];
static uint32_t line_len;
static char lines[8][128];
static uint64_t tsc_hz;

static void uart_irq(struct irq_frame *f)
{
	(void)f;
	for (int n = 0; n < 64; n++) {
		uint8_t iir = inb(COM1 + UART_IIR);
		if (iir & IIR_NO_INT)
			break;
		switch (iir & IIR_ID_MASK) {
		case IIR_THRI:
			thri_irqs++;
			if (iir != 0xc2)
				bad_thri_iir = iir;
			outb(COM1 + UART_IER, IER_BASE);
			break;
		case IIR_RDI:
		case IIR_CTI:
			rx_irqs++;
			while (inb(COM1 + UART_LSR) & LSR_DR) {
				char c = (char)inb(COM1 + UART_RBR);
				if (c == '\r' || c == '\n') {
					if (line_len) {
						memcpy(lines[lines_in % 8], line, line_len);
						lines[lines_in % 8][line_len] = '\0';
						lines_in++;
					}
					line_len = 0;
				} else if (line_len < sizeof(line) - 1) {
					line[line_len++] = c;
				}
			}
			break;
		default:
			other_irqs++;
			(void)inb(COM1 + UART_LSR);
			(void)inb(COM1 + UART_MSR);
		}
	}
}

static void spin_ms(uint64_t ms)
{
	uint64_t end = rdtsc() + tsc_hz / 1000 * ms;
	while (rdtsc() < end)
		pause();
}

static void expect_reg(unsigned reg, uint8_t want, const char *name, uint32_t round)
{
	uint8_t v = inb((uint16_t)(COM1 + reg));
	check(v == want, "round %u: %s is 0x%02x, expected 0x%02x", round, name, v, want);
}

static long body(long arg)
{
	(void)arg;
	uint8_t s0 = rtc_read(0);
	while (rtc_read(0) == s0)
		;
	uint64_t t0 = rdtsc();
	s0 = rtc_read(0);
	while (rtc_read(0) == s0)
		;
	tsc_hz = rdtsc() - t0;
	printf("uartloop: READY\n");
	uint32_t echoed = 0;
	for (uint32_t round = 1;; round++) {
		uint8_t scr = (uint8_t)(0xa5 ^ round);
		/* 1. an interrupt pending in the UART and the PIC */
		pic_mask(4);
		outb(COM1 + UART_SCR, scr);
		outb(COM1 + UART_IER, IER_BASE);
		outb(COM1 + UART_IER, IER_BASE | IER_THRI);
		/* 2. */
		spin_ms(IDLE_MS);
		/* 3. */
		expect_reg(UART_IER, IER_BASE | IER_THRI, "IER", round);
		expect_reg(UART_LCR, LCR_VAL, "LCR", round);
		expect_reg(UART_MCR, MCR_VAL, "MCR", round);
		expect_reg(UART_MSR, MSR_VAL, "MSR", round);
		expect_reg(UART_SCR, scr, "SCR", round);
		uint8_t lsr = inb(COM1 + UART_LSR);
		check((lsr & (LSR_THRE | LSR_TEMT)) == (LSR_THRE | LSR_TEMT), "round %u: LSR 0x%02x", round, lsr);
		outb(COM1 + UART_LCR, LCR_VAL | LCR_DLAB);
		uint8_t dll = inb(COM1 + 0), dlm = inb(COM1 + 1);
		outb(COM1 + UART_LCR, LCR_VAL);
		check(dll == DLL_VAL && dlm == DLM_VAL, "round %u: divisor 0x%02x%02x, expected 0x%02x%02x", round, dlm,
		      dll, DLM_VAL, DLL_VAL);
		/* 4. */
		uint32_t t = thri_irqs;
		pic_unmask(4);
		check(wait_while_eq(&thri_irqs, t, 20), "round %u: the pending THR-empty interrupt never came", round);
		check(!bad_thri_iir, "round %u: IIR 0x%02x for THR empty (expected 0xc2: FIFO on)", round, bad_thri_iir);
		/* 5. */
		for (; echoed < lines_in; echoed++)
			printf("echo: %s\n", lines[echoed % 8]);
		if (round % 8 == 0)
			printf("uart check=%u ok thri=%u rx=%u\n", round / 8, thri_irqs, rx_irqs);
	}
	return 0;
}

void test_main(void)
{
	outb(COM1 + UART_IER, 0);
	outb(COM1 + UART_LCR, LCR_VAL | LCR_DLAB);
	outb(COM1 + 0, DLL_VAL);
	outb(COM1 + 1, DLM_VAL);
	outb(COM1 + UART_LCR, LCR_VAL);
	outb(COM1 + UART_FCR, FCR_VAL | 0x06); /* and clear both FIFOs */
	outb(COM1 + UART_MCR, MCR_VAL);
	while (inb(COM1 + UART_LSR) & LSR_DR)
		(void)inb(COM1 + UART_RBR);
	pic_init();
	pic_set_handler(4, uart_irq);
	pic_mask(4);
	user_call(body, 0, USER_IF);
	pass();
}
