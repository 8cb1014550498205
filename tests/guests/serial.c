/* SPDX-License-Identifier: Apache-2.0 */
/*
 * serial: the 8250 UART with interrupts through the PIC (IRQ 4).
 *  1. THR-empty interrupt: enabling IER.THRI with an empty transmitter must
 *     raise IRQ 4 with IIR = THRI.
 *  2. Receive interrupts: prints READY, then each byte typed on petrel's
 *     stdin raises IRQ 4 with IIR = RDI (or character timeout); the handler
 *     drains RBR.  A line is echoed as "got: LINE"; "quit" ends the test.
 *     With lines=N on the command line it passes after N lines.
 */
#include "guest.h"

DEFINE_GUEST("serial");

static volatile uint32_t thri_irqs, rx_irqs, other_irqs, lines_done;
static volatile uint8_t last_iir;
static char line[128];
static volatile uint32_t line_len;
static char lines[8][128];

static void uart_irq(struct irq_frame *f)
{
	for (int n = 0; n < 64; n++) {
		uint8_t iir = inb(COM1 + UART_IIR);
		if (iir & IIR_NO_INT)
			break;
		last_iir = iir;
		switch (iir & IIR_ID_MASK) {
		case IIR_THRI: /* reading IIR cleared it */
			thri_irqs++;
			outb(COM1 + UART_IER, inb(COM1 + UART_IER) & ~IER_THRI);
			break;
		case IIR_RDI:
		case IIR_CTI:
			rx_irqs++;
			while (inb(COM1 + UART_LSR) & LSR_DR) {
				char c = (char)inb(COM1 + UART_RBR);
				if (c == '\r' || c == '\n') {
					if (line_len && lines_done < ARRAY_SIZE(lines)) {
						memcpy(lines[lines_done], line, line_len);
						lines[lines_done][line_len] = '\0';
						lines_done++;
					}
					line_len = 0;
				} else if (line_len < sizeof(line) - 1) {
					line[line_len++] = c;
				}
			}
			break;
		case IIR_RLSI:
			other_irqs++;
			(void)inb(COM1 + UART_LSR);
			break;
		default:
			other_irqs++;
			(void)inb(COM1 + UART_MSR);
		}
	}
}

void test_main(void)
{
	printf("serial: hello from the guest\n");
	/* 8N1, FIFO on, DTR|RTS|OUT2 (OUT2 gates the IRQ line on a PC) */
	outb(COM1 + UART_LCR, 0x03);
	outb(COM1 + UART_FCR, 0x07);
	outb(COM1 + UART_MCR, 0x0b);
	outb(COM1 + UART_IER, 0);
	while (inb(COM1 + UART_LSR) & LSR_DR) /* stale input */
		(void)inb(COM1 + UART_RBR);
	pic_init();
	pic_set_handler(4, uart_irq);

	/* 1. THR empty interrupt */
	outb(COM1 + UART_IER, IER_THRI);
	check(wait_while_eq(&thri_irqs, 0, 10), "no THR-empty interrupt (IRQ 4) after setting IER.THRI");
	printf("serial: thri irq ok (iir=%x)\n", last_iir);

	/* 2. receive interrupts */
	long want = cmdline_int("lines", 1);
	long line_wait = cmdline_int("line_wait", 50);   /* s per line: a browser on a slow host types slowly */
	outb(COM1 + UART_IER, IER_RDI);
	printf("READY\n");
	for (uint32_t done = 0; done < (uint32_t)want;) {
		check(wait_while_eq(&lines_done, done, line_wait), "no input line after %ld s (rx irqs=%u)", line_wait, rx_irqs);
		for (; done < lines_done && done < ARRAY_SIZE(lines); done++) {
			printf("got: %s\n", lines[done]);
			if (!strcmp(lines[done], "quit"))
				want = 0;
		}
	}
	outb(COM1 + UART_IER, 0);
	printf("serial: rx irqs=%u thri irqs=%u other=%u\n", rx_irqs, thri_irqs, other_irqs);
	check(rx_irqs > 0, "no receive interrupt");
	pass();
}
