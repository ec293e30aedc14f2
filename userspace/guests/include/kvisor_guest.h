/* SPDX-License-Identifier: GPL-2.0 */
/*
 * kvisor sample guests: freestanding helpers for 32- and 64-bit C guests
 * -- port I/O, the COM1 UART, the isa-debug-exit port and fw_cfg.  No
 * libc; include only this (and gcc's <stdint.h>, fine freestanding).
 */
#ifndef KVISOR_GUEST_H
#define KVISOR_GUEST_H

#include <stdint.h>

#define COM1		0x3f8
#define DEBUG_EXIT	0xf4
#define FW_CFG_SEL	0x510
#define FW_CFG_DATA	0x511

static inline void outb(uint16_t port, uint8_t v)
{
	__asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port));
}

static inline void outw(uint16_t port, uint16_t v)
{
	__asm__ volatile("outw %0, %1" : : "a"(v), "Nd"(port));
}

static inline void outl(uint16_t port, uint32_t v)
{
	__asm__ volatile("outl %0, %1" : : "a"(v), "Nd"(port));
}

static inline uint8_t inb(uint16_t port)
{
	uint8_t v;

	__asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}

static inline uint16_t inw(uint16_t port)
{
	uint16_t v;

	__asm__ volatile("inw %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}

static inline uint32_t inl(uint16_t port)
{
	uint32_t v;

	__asm__ volatile("inl %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}

/* --- UART (COM1, polled) ------------------------------------------------ */

#define UART_LSR_DR	0x01
#define UART_LSR_THRE	0x20

static inline void uart_putc(char c)
{
	while (!(inb(COM1 + 5) & UART_LSR_THRE))
		;
	outb(COM1, c);
}

static inline void uart_puts(const char *s)
{
	while (*s) {
		if (*s == '\n')
			uart_putc('\r');
		uart_putc(*s++);
	}
}

/* -1 when no byte is waiting */
static inline int uart_getc(void)
{
	return (inb(COM1 + 5) & UART_LSR_DR) ? inb(COM1) : -1;
}

static inline void uart_puthex(uint64_t v)
{
	static const char digits[] = "0123456789abcdef";
	int i, started = 0;

	uart_puts("0x");
	for (i = 60; i >= 0; i -= 4) {
		unsigned int d = (v >> i) & 0xf;

		if (d || started || !i) {
			uart_putc(digits[d]);
			started = 1;
		}
	}
}

/* 32-bit division only: no libgcc needed in 32-bit guests */
static inline void uart_putdec(uint32_t v)
{
	char buf[11];
	int i = 0;

	do {
		buf[i++] = '0' + v % 10;
		v /= 10;
	} while (v);
	while (i)
		uart_putc(buf[--i]);
}

/* --- leaving ------------------------------------------------------------ */

/* kvisor (and QEMU with isa-debug-exit) exit with status (v << 1) | 1. */
static inline __attribute__((noreturn)) void debug_exit(uint8_t v)
{
	outb(DEBUG_EXIT, v);
	for (;;)
		__asm__ volatile("cli; hlt");
}

/* --- fw_cfg --------------------------------------------------------------- */

static inline void fw_cfg_read(uint16_t key, void *buf, uint32_t len)
{
	uint8_t *p = buf;

	outw(FW_CFG_SEL, key);
	while (len--)
		*p++ = inb(FW_CFG_DATA);
}

#endif /* KVISOR_GUEST_H */
