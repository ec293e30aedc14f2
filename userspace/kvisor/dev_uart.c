// SPDX-License-Identifier: GPL-2.0
/*
 * kvisor tool: a 16550A UART (COM1, ports 0x3f8-0x3ff).
 *
 * Output goes to out_fd unbuffered, a write(2) per byte: the byte leaves
 * at once, so THR and the transmitter are empty again right away.  Input
 * fills a 16-byte receive FIFO: either from in_fd, without blocking
 * (poll(2) with no timeout when the guest reads LSR, IIR or RBR: the
 * sample guests' polled mode), or pushed by the tool's input thread with
 * uart_receive() (in_fd -1).  The divisor latch, LCR, MCR, SCR and FCR
 * read back what was written; loopback (MCR bit 4) feeds transmitted
 * bytes back to the receiver and reflects MCR in MSR, as the chip does.
 *
 * Interrupts (when set_irq is given: the tool's irqchip VMs): the line
 * is high while an enabled condition is pending -- received data
 * available (IER bit 0; any byte in the FIFO, i.e. a trigger level of
 * one, reported in IIR as 0x04) or THR empty (IER bit 1: raised when THR
 * empties, by enabling the interrupt with THR empty, cleared by reading
 * IIR while it is the reported source or by writing THR) -- and MCR OUT2
 * is set, which on a PC connects the UART's interrupt output to the
 * interrupt controller.  No line status or modem status interrupts: no
 * errors happen and the modem lines never change.
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
#define MCR_OUT2	0x08
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

unsigned int uart_rx_room(const struct uart *u)
{
	return sizeof(u->rx) - u->rx_count;
}

static void update_irq(struct uart *u)
{
	int level;

	if (!u->set_irq)
		return;
	level = (u->mcr & MCR_OUT2) &&
		(((u->ier & IER_RDI) && u->rx_count) ||
		 ((u->ier & IER_THRI) && u->thre_irq_pending));
	if (level != u->irq_level) {
		u->irq_level = level;
		u->set_irq(u->irq_ctx, level);
	}
}

unsigned int uart_receive(struct uart *u, const uint8_t *buf,
			  unsigned int len)
{
	unsigned int n = 0;

	if (u->mcr & MCR_LOOP)
		return len;	/* the receiver hears only the transmitter */
	while (n < len && u->rx_count < sizeof(u->rx)) {
		rx_push(u, buf[n++]);
		u->rx_bytes++;
	}
	update_irq(u);
	return n;
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

static uint32_t uart_read(struct uart *u, uint16_t off);

static uint32_t uart_in(void *opaque, uint16_t off, unsigned int size)
{
	struct uart *u = opaque;
	uint32_t v;

	(void)size;
	v = uart_read(u, off);
	update_irq(u);
	return v;
}

static uint32_t uart_read(struct uart *u, uint16_t off)
{
	uint8_t c;

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
			u->thre_irq_pending = false;	/* THR written */
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
	update_irq(u);
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
