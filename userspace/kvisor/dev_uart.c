// SPDX-License-Identifier: GPL-2.0
/*
 * kvisor tool: a 16550A UART (COM1, ports 0x3f8-0x3ff), polled.
 *
 * Output goes to out_fd unbuffered, a write(2) per byte; input comes from
 * in_fd without blocking (poll(2) with no timeout when the guest reads
 * LSR or RBR).  There is no interrupt controller, so IER is stored and
 * IIR reports what would be pending, but nothing is ever raised.  The
 * divisor latch, LCR, MCR, SCR and FCR read back what was written;
 * loopback (MCR bit 4) feeds transmitted bytes back to the receiver and
 * reflects MCR in MSR, as the chip does.
 */
#include <errno.h>
#include <poll.h>
#include <unistd.h>

#include "tool.h"

#define UART_RBR	0	/* in, DLAB=0 */
#define UART_THR	0	/* out, DLAB=0 */
#define UART_DLL	0	/* DLAB=1 */
#define UART_IER	1	/* DLAB=0 */
#define UART_DLM	1	/* DLAB=1 */
#define UART_IIR	2	/* in */
#define UART_FCR	2	/* out */
#define UART_LCR	3
#define UART_MCR	4
#define UART_LSR	5
#define UART_MSR	6
#define UART_SCR	7

#define LCR_DLAB	0x80
#define MCR_LOOP	0x10
#define LSR_DR		0x01
#define LSR_THRE	0x20
#define LSR_TEMT	0x40
#define IER_RDI		0x01
#define IER_THRI	0x02
#define IIR_NO_INT	0x01
#define IIR_THRI	0x02
#define IIR_RDI		0x04
#define IIR_FIFO	0xc0
#define FCR_ENABLE	0x01

static void rx_push(struct uart *u, uint8_t c)
{
	if (u->rx_count == sizeof(u->rx))
		return;		/* overrun: dropped */
	u->rx[(u->rx_head + u->rx_count) % sizeof(u->rx)] = c;
	u->rx_count++;
}

/* Pull one byte from in_fd if one is ready, without blocking. */
static void rx_poll(struct uart *u)
{
	struct pollfd p = { .fd = u->in_fd, .events = POLLIN };
	uint8_t c;
	ssize_t n;

	if (u->rx_count || u->in_fd < 0 || u->in_eof || (u->mcr & MCR_LOOP))
		return;
	if (poll(&p, 1, 0) <= 0 || !(p.revents & (POLLIN | POLLHUP)))
		return;
	n = read(u->in_fd, &c, 1);
	if (n == 1) {
		rx_push(u, c);
		u->rx_bytes++;
	} else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
		u->in_eof = true;
	}
}

static void tx(struct uart *u, uint8_t c)
{
	u->tx_bytes++;
	if (u->mcr & MCR_LOOP) {
		rx_push(u, c);
		return;
	}
	if (u->out_fd < 0)
		return;
	while (write(u->out_fd, &c, 1) < 0 && errno == EINTR)
		;
}

static uint8_t msr(const struct uart *u)
{
	if (u->mcr & MCR_LOOP)	/* DTR->DSR, RTS->CTS, OUT1->RI, OUT2->DCD */
		return ((u->mcr & 0x01) << 5) | ((u->mcr & 0x02) << 3) |
		       ((u->mcr & 0x04) << 4) | ((u->mcr & 0x08) << 4);
	return 0xb0;		/* DCD, DSR, CTS: a terminal is attached */
}

static uint8_t iir(struct uart *u)
{
	uint8_t fifo = (u->fcr & FCR_ENABLE) ? IIR_FIFO : 0;

	if ((u->ier & IER_RDI) && u->rx_count)
		return fifo | IIR_RDI;
	if ((u->ier & IER_THRI) && u->thre_irq_pending) {
		u->thre_irq_pending = false;	/* reading IIR clears it */
		return fifo | IIR_THRI;
	}
	return fifo | IIR_NO_INT;
}

static uint32_t uart_in(void *opaque, uint16_t off, unsigned int size)
{
	struct uart *u = opaque;
	uint8_t c;

	(void)size;
	switch (off) {
	case UART_RBR:
		if (u->lcr & LCR_DLAB)
			return u->dll;
		rx_poll(u);
		if (!u->rx_count)
			return 0;
		c = u->rx[u->rx_head];
		u->rx_head = (u->rx_head + 1) % sizeof(u->rx);
		u->rx_count--;
		return c;
	case UART_IER:
		return (u->lcr & LCR_DLAB) ? u->dlm : u->ier;
	case UART_IIR:
		rx_poll(u);
		return iir(u);
	case UART_LCR:
		return u->lcr;
	case UART_MCR:
		return u->mcr;
	case UART_LSR:
		rx_poll(u);
		return LSR_THRE | LSR_TEMT | (u->rx_count ? LSR_DR : 0);
	case UART_MSR:
		return msr(u);
	case UART_SCR:
		return u->scr;
	}
	return 0xff;
}

static void uart_out(void *opaque, uint16_t off, unsigned int size,
		     uint32_t val)
{
	struct uart *u = opaque;

	(void)size;
	switch (off) {
	case UART_THR:
		if (u->lcr & LCR_DLAB) {
			u->dll = val;
		} else {
			tx(u, val);
			u->thre_irq_pending = true;	/* sent at once */
		}
		break;
	case UART_IER:
		if (u->lcr & LCR_DLAB) {
			u->dlm = val;
		} else {
			/* enabling THRI with THR empty raises it at once */
			if ((val & IER_THRI) && !(u->ier & IER_THRI))
				u->thre_irq_pending = true;
			u->ier = val & 0x0f;
		}
		break;
	case UART_FCR:
		u->fcr = val & 0xc9;
		if (val & 0x02) {		/* clear the receive FIFO */
			u->rx_head = 0;
			u->rx_count = 0;
		}
		break;
	case UART_LCR:
		u->lcr = val;
		break;
	case UART_MCR:
		u->mcr = val & 0x1f;
		break;
	case UART_SCR:
		u->scr = val;
		break;
	}
	/* LSR and MSR writes are ignored */
}

void uart_init(struct uart *u, int in_fd, int out_fd)
{
	*u = (struct uart) {
		.dev = {
			.name = "uart-16550a",
			.base = COM1_BASE,
			.len = 8,
			.byte_regs = true,
			.in = uart_in,
			.out = uart_out,
			.opaque = u,
		},
		.in_fd = in_fd,
		.out_fd = out_fd,
		.dll = 0x0c,		/* 9600 baud, as a BIOS leaves it */
		.lcr = 0x03,		/* 8N1 */
	};
}
