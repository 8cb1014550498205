/* SPDX-License-Identifier: Apache-2.0 */
/* Serial console output, printf, string functions, reporting. */
#include "guest.h"

void *memcpy(void *d, const void *s, size_t n)
{
	void *ret = d;
	__asm__ __volatile__("rep movsb" : "+D"(d), "+S"(s), "+c"(n) : : "memory");
	return ret;
}

void *memmove(void *d, const void *s, size_t n)
{
	unsigned char *dp = d;
	const unsigned char *sp = s;
	if (dp <= sp || dp >= sp + n)
		return memcpy(d, s, n);
	while (n--)
		dp[n] = sp[n];
	return d;
}

void *memset(void *d, int c, size_t n)
{
	void *ret = d;
	__asm__ __volatile__("rep stosb" : "+D"(d), "+c"(n) : "a"(c) : "memory");
	return ret;
}

int memcmp(const void *a, const void *b, size_t n)
{
	const unsigned char *x = a, *y = b;
	for (size_t i = 0; i < n; i++)
		if (x[i] != y[i])
			return x[i] - y[i];
	return 0;
}

size_t strlen(const char *s)
{
	size_t n = 0;
	while (s[n])
		n++;
	return n;
}

int strcmp(const char *a, const char *b)
{
	while (*a && *a == *b)
		a++, b++;
	return (unsigned char)*a - (unsigned char)*b;
}

int strncmp(const char *a, const char *b, size_t n)
{
	for (; n; n--, a++, b++) {
		if (*a != *b)
			return (unsigned char)*a - (unsigned char)*b;
		if (!*a)
			break;
	}
	return 0;
}

/* ---- serial ---- */

void serial_putc(char c)
{
	if (c == '\n')
		serial_putc('\r');
	/* Bounded: a broken UART model must not hang the guest forever. */
	for (int i = 0; i < 100000 && !(inb(COM1 + UART_LSR) & LSR_THRE); i++)
		pause();
	outb(COM1 + UART_THR, (uint8_t)c);
}

void serial_puts(const char *s)
{
	while (*s)
		serial_putc(*s++);
}

/* ---- printf: %[-0][width][l|ll|z]{d,i,u,x,X,p,s,c,%} ---- */

struct out {
	char *buf; /* NULL: serial */
	size_t size, len;
};

static void out_c(struct out *o, char c)
{
	if (!o->buf)
		serial_putc(c);
	else if (o->len + 1 < o->size)
		o->buf[o->len] = c;
	o->len++;
}

static void out_field(struct out *o, const char *s, size_t n, int width, bool left, char padc)
{
	size_t pad = width > 0 && (size_t)width > n ? (size_t)width - n : 0;
	if (!left && padc == '0' && n && (*s == '-')) { /* sign before zeros */
		out_c(o, *s++);
		n--;
	}
	if (!left)
		while (pad--)
			out_c(o, padc);
	while (n--)
		out_c(o, *s++);
	if (left)
		while (pad--)
			out_c(o, ' ');
}

static int do_printf(struct out *o, const char *fmt, va_list ap)
{
	char tmp[32];
	for (; *fmt; fmt++) {
		if (*fmt != '%') {
			out_c(o, *fmt);
			continue;
		}
		fmt++;
		bool left = false;
		char padc = ' ';
		int width = 0, lng = 0;
		for (;; fmt++) {
			if (*fmt == '-')
				left = true;
			else if (*fmt == '0')
				padc = '0';
			else
				break;
		}
		while (*fmt >= '0' && *fmt <= '9')
			width = width * 10 + (*fmt++ - '0');
		while (*fmt == 'l' || *fmt == 'z') {
			lng++;
			fmt++;
		}
		switch (*fmt) {
		case 'd':
		case 'i': {
			long long v = lng ? va_arg(ap, long long) : va_arg(ap, int);
			unsigned long long u = v < 0 ? -(unsigned long long)v : (unsigned long long)v;
			int i = sizeof(tmp);
			do {
				tmp[--i] = (char)('0' + u % 10);
				u /= 10;
			} while (u);
			if (v < 0)
				tmp[--i] = '-';
			out_field(o, tmp + i, sizeof(tmp) - i, width, left, padc);
			break;
		}
		case 'u':
		case 'x':
		case 'X':
		case 'p': {
			unsigned long long u;
			unsigned base = *fmt == 'u' ? 10 : 16;
			const char *digits = *fmt == 'X' ? "0123456789ABCDEF" : "0123456789abcdef";
			if (*fmt == 'p')
				u = (uintptr_t)va_arg(ap, void *);
			else
				u = lng ? va_arg(ap, unsigned long long) : va_arg(ap, unsigned);
			int i = sizeof(tmp);
			do {
				tmp[--i] = digits[u % base];
				u /= base;
			} while (u);
			if (*fmt == 'p') {
				tmp[--i] = 'x';
				tmp[--i] = '0';
			}
			out_field(o, tmp + i, sizeof(tmp) - i, width, left, padc);
			break;
		}
		case 's': {
			const char *s = va_arg(ap, const char *);
			if (!s)
				s = "(null)";
			out_field(o, s, strlen(s), width, left, ' ');
			break;
		}
		case 'c':
			tmp[0] = (char)va_arg(ap, int);
			out_field(o, tmp, 1, width, left, ' ');
			break;
		case '%':
			out_c(o, '%');
			break;
		case '\0':
			fmt--;
			break;
		default:
			out_c(o, '%');
			out_c(o, *fmt);
		}
	}
	if (o->buf && o->size)
		o->buf[o->len < o->size ? o->len : o->size - 1] = '\0';
	return (int)o->len;
}

int vprintf(const char *fmt, va_list ap)
{
	struct out o = { 0 };
	return do_printf(&o, fmt, ap);
}

int printf(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vprintf(fmt, ap);
	va_end(ap);
	return n;
}

int vsnprintf(char *buf, size_t n, const char *fmt, va_list ap)
{
	struct out o = { .buf = buf, .size = n };
	return do_printf(&o, fmt, ap);
}

int snprintf(char *buf, size_t n, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int r = vsnprintf(buf, n, fmt, ap);
	va_end(ap);
	return r;
}

/* ---- reporting ---- */

noreturn void guest_exit(int code)
{
	/* Let the UART drain what we printed (it is synchronous in petrel, but
	 * keep the guest honest for models with a FIFO). */
	for (int i = 0; i < 1000 && !(inb(COM1 + UART_LSR) & LSR_TEMT); i++)
		pause();
	for (;;)
		outl(DEBUG_EXIT_PORT, (uint32_t)code);
}

noreturn void pass(void)
{
	printf("ok %s\n", guest_name);
	guest_exit(EXIT_PASS);
}

noreturn void fail_at(const char *file, int line, const char *cond, const char *fmt, ...)
{
	va_list ap;
	const char *base = file;
	for (const char *c = file; *c; c++)
		if (*c == '/')
			base = c + 1;
	printf("FAIL %s: ", guest_name);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf(" (%s:%d: %s)\n", base, line, cond);
	guest_exit(EXIT_FAIL);
}

noreturn void fail(const char *fmt, ...)
{
	va_list ap;
	printf("FAIL %s: ", guest_name);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	guest_exit(EXIT_FAIL);
}
