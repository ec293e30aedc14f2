// SPDX-License-Identifier: GPL-2.0
/*
 * The IOAPIC: 24 pins at 0xFEC00000, after the Intel 82093AA I/O APIC
 * datasheet (order no. 290566): section 3.0 "Register Description"
 * (IOREGSEL at offset 0x00, IOWIN at 0x10; IOAPICID 0x00, IOAPICVER
 * 0x01, IOAPICARB 0x02, IOREDTBL 0x10-0x3F) and 3.2.4 (the redirection
 * table entry).  Messages go to the LAPICs through kvisor_lapic_deliver().
 *
 * Pin semantics:
 * - edge: a rising edge on an unmasked pin sends one message; an edge on
 *   a masked pin is lost (3.2.4, "Interrupt Mask").
 * - level: an asserted, unmasked pin with Remote IRR clear sends a
 *   message and sets Remote IRR; the LAPIC's EOI of that vector clears it
 *   (kvisor_ioapic_eoi) and the pin, if still asserted, sends again.
 *   Unmasking an asserted level pin sends too.  Remote IRR is only kept
 *   when a LAPIC accepted the message, so a pin aimed at no LAPIC is not
 *   wedged until the guest reprograms it.
 * - SMI, NMI, INIT and ExtINT entries are edge whatever the trigger bit
 *   says (3.2.4: "SMI ... trigger mode is ignored"; the LAPIC never EOIs
 *   the others, so a level one would block the pin for good).
 * - Polarity is stored and read back; a pin's level is the logical
 *   "asserted" of KVISOR_IRQ_LINE, so it does not invert it (the device
 *   model drives the asserted state, whichever wire level that is).
 * - Delivery status (bit 12) reads 0: the message is sent at once.
 * - Writing the trigger bit to edge clears Remote IRR, which is what
 *   Linux relies on for IOAPICs without an EOI register (version 0x11).
 * Registers that do not exist read 0 and ignore writes.
 */
#include <linux/errno.h>
#include <linux/spinlock.h>
#include <asm/unaligned.h>

#include "../kvisor.h"
#include "irqdev.h"

#define IOAPIC_REG_ID		0x00
#define IOAPIC_REG_VER		0x01
#define IOAPIC_REG_ARB		0x02
#define IOAPIC_REG_REDIR	0x10
#define IOAPIC_VERSION		(((KVISOR_IOAPIC_PINS - 1) << 16) | 0x11)
#define IOAPIC_ID_MASK		0x0f000000u

#define RTE_VECTOR		0xffull
#define RTE_DELIVERY_SHIFT	8
#define RTE_DEST_LOGICAL	BIT_ULL(11)
#define RTE_DELIVERY_STATUS	BIT_ULL(12)
#define RTE_POLARITY_LOW	BIT_ULL(13)
#define RTE_REMOTE_IRR		BIT_ULL(14)
#define RTE_LEVEL		BIT_ULL(15)
#define RTE_MASKED		BIT_ULL(16)
#define RTE_DEST_SHIFT		56
/* what a guest may write; Remote IRR and delivery status are read-only */
#define RTE_WRITABLE		(0xff00000000000000ull | 0x1afffull)

static inline unsigned int rte_delivery(u64 e)
{
	return (e >> RTE_DELIVERY_SHIFT) & 7;
}

/* Level semantics only for fixed and lowest-priority entries. */
static inline bool rte_level(u64 e)
{
	return (e & RTE_LEVEL) && rte_delivery(e) <= KVISOR_DM_LOWEST;
}

/* Queue pin @pin's message; Remote IRR is set here for level pins. */
static void ioapic_service(struct kvisor_ioapic *io, unsigned int pin,
			   struct kvisor_ioapic_out *out)
{
	u64 e = io->redir[pin];
	struct kvisor_irq_msg *m;
	unsigned int dm = rte_delivery(e);

	if (dm == 3 || dm == 6)		/* reserved delivery modes */
		return;
	if (out->n >= KVISOR_IOAPIC_PINS)
		return;
	m = &out->msg[out->n];
	out->pin[out->n++] = pin;
	m->dest = e >> RTE_DEST_SHIFT;
	m->vector = e & RTE_VECTOR;
	m->delivery = dm;
	m->shorthand = KVISOR_SH_NONE;
	m->logical = !!(e & RTE_DEST_LOGICAL);
	m->level = rte_level(e);
	m->assert = true;
	if (rte_level(e))
		io->redir[pin] |= RTE_REMOTE_IRR;
}

/* A level pin that may send now: asserted, unmasked, Remote IRR clear. */
static bool ioapic_level_ready(const struct kvisor_ioapic *io,
			       unsigned int pin)
{
	u64 e = io->redir[pin];

	return rte_level(e) && (io->level & BIT(pin)) &&
	       !(e & (RTE_MASKED | RTE_REMOTE_IRR));
}

void kvisor_ioapic_set_pin(struct kvisor_ioapic *io, unsigned int pin,
			   bool level, struct kvisor_ioapic_out *out)
{
	bool old = io->level & BIT(pin);
	u64 e = io->redir[pin];

	if (level)
		io->level |= BIT(pin);
	else
		io->level &= ~BIT(pin);
	if (e & RTE_MASKED)
		return;
	if (rte_level(e)) {
		if (ioapic_level_ready(io, pin))
			ioapic_service(io, pin, out);
	} else if (level && !old) {
		ioapic_service(io, pin, out);
	}
}

/* Called by the LAPIC on the EOI of a level-triggered vector. */
void kvisor_ioapic_eoi(struct kvisor_vm *vm, u8 vector)
{
	struct kvisor_irqchip *chip = READ_ONCE(vm->irqchip);
	struct kvisor_ioapic_out out;
	struct kvisor_ioapic *io;
	unsigned long flags;
	unsigned int pin;

	if (!chip)
		return;
	io = &chip->ioapic;
	out.n = 0;
	spin_lock_irqsave(&chip->lock, flags);
	for (pin = 0; pin < KVISOR_IOAPIC_PINS; pin++) {
		u64 e = io->redir[pin];

		if ((e & RTE_VECTOR) != vector || !(e & RTE_REMOTE_IRR))
			continue;
		io->redir[pin] &= ~RTE_REMOTE_IRR;
		if (ioapic_level_ready(io, pin))
			ioapic_service(io, pin, &out);
	}
	spin_unlock_irqrestore(&chip->lock, flags);
	kvisor_ioapic_deliver(chip, &out);
}

static u32 ioapic_read_reg(const struct kvisor_ioapic *io, u32 index)
{
	unsigned int pin;

	switch (index) {
	case IOAPIC_REG_ID:
		return io->id;
	case IOAPIC_REG_VER:
		return IOAPIC_VERSION;
	case IOAPIC_REG_ARB:
		/* loaded from the ID (3.2.3) */
		return io->id & IOAPIC_ID_MASK;
	}
	if (index < IOAPIC_REG_REDIR)
		return 0;
	pin = (index - IOAPIC_REG_REDIR) >> 1;
	if (pin >= KVISOR_IOAPIC_PINS)
		return 0;
	return index & 1 ? io->redir[pin] >> 32 : (u32)io->redir[pin];
}

static void ioapic_write_reg(struct kvisor_ioapic *io, u32 index, u32 val,
			     struct kvisor_ioapic_out *out)
{
	unsigned int pin;
	u64 e, n;

	if (index == IOAPIC_REG_ID) {
		io->id = val & IOAPIC_ID_MASK;
		return;
	}
	if (index < IOAPIC_REG_REDIR)
		return;			/* VER, ARB: read-only */
	pin = (index - IOAPIC_REG_REDIR) >> 1;
	if (pin >= KVISOR_IOAPIC_PINS)
		return;
	e = io->redir[pin];
	if (index & 1)
		n = (e & 0xffffffffull) | ((u64)val << 32);
	else
		n = (e & ~0xffffffffull) | val;
	n = (n & RTE_WRITABLE) | (e & RTE_REMOTE_IRR);
	if (!(n & RTE_LEVEL))
		n &= ~RTE_REMOTE_IRR;
	io->redir[pin] = n;
	if (!(n & RTE_MASKED) && ioapic_level_ready(io, pin))
		ioapic_service(io, pin, out);
}

/* One dword of the page: IOREGSEL (0x00), IOWIN (0x10), else nothing. */
static u32 ioapic_read_dword(struct kvisor_ioapic *io, unsigned int off)
{
	if (off == 0x00)
		return io->ioregsel;
	if (off == 0x10)
		return ioapic_read_reg(io, io->ioregsel);
	return 0;
}

static void ioapic_write_dword(struct kvisor_ioapic *io, unsigned int off,
			       u32 val, struct kvisor_ioapic_out *out)
{
	if (off == 0x00)
		io->ioregsel = val & 0xff;
	else if (off == 0x10)
		ioapic_write_reg(io, io->ioregsel, val, out);
}

/*
 * The datasheet asks for dword accesses; other sizes act on the bytes
 * they cover (a narrow write merges into the register's value).
 */
bool kvisor_ioapic_mmio(struct kvisor_irqchip *chip, u64 gpa,
			unsigned int len, bool write, void *data)
{
	struct kvisor_ioapic *io = &chip->ioapic;
	struct kvisor_ioapic_out out;
	unsigned int off, i;
	unsigned long flags;
	u8 *bytes = data;

	if (gpa < KVISOR_IOAPIC_BASE ||
	    gpa - KVISOR_IOAPIC_BASE >= KVISOR_IOAPIC_SIZE)
		return false;
	off = gpa - KVISOR_IOAPIC_BASE;
	if (len > 8 || off + len > KVISOR_IOAPIC_SIZE)
		return false;
	out.n = 0;
	spin_lock_irqsave(&chip->lock, flags);
	for (i = 0; i < len; ) {
		unsigned int dw = (off + i) & ~3u, sh = (off + i) & 3;
		unsigned int n = min(4 - sh, len - i), b;
		u32 v = ioapic_read_dword(io, dw);

		if (!write) {
			for (b = 0; b < n; b++)
				bytes[i + b] = v >> ((sh + b) * 8);
		} else if (n == 4) {
			ioapic_write_dword(io, dw, get_unaligned((u32 *)&bytes[i]),
					   &out);
		} else {
			for (b = 0; b < n; b++) {
				v &= ~(0xffu << ((sh + b) * 8));
				v |= (u32)bytes[i + b] << ((sh + b) * 8);
			}
			ioapic_write_dword(io, dw, v, &out);
		}
		i += n;
	}
	spin_unlock_irqrestore(&chip->lock, flags);
	kvisor_ioapic_deliver(chip, &out);
	return true;
}

/* Reset (3.2.4): every entry masked, ID 0. */
void kvisor_ioapic_reset(struct kvisor_ioapic *io)
{
	unsigned int pin;

	memset(io, 0, sizeof(*io));
	for (pin = 0; pin < KVISOR_IOAPIC_PINS; pin++)
		io->redir[pin] = RTE_MASKED;
}

void kvisor_ioapic_get(struct kvisor_ioapic *io,
		       struct kvisor_ioapic_state *s)
{
	s->id = io->id;
	s->ioregsel = io->ioregsel;
	memcpy(s->redir, io->redir, sizeof(s->redir));
}

int kvisor_ioapic_check(const struct kvisor_ioapic_state *s)
{
	unsigned int pin;

	if ((s->id & ~IOAPIC_ID_MASK) || s->ioregsel > 0xff)
		return -EINVAL;
	for (pin = 0; pin < KVISOR_IOAPIC_PINS; pin++)
		if (s->redir[pin] & ~(RTE_WRITABLE | RTE_REMOTE_IRR))
			return -EINVAL;
	return 0;
}

/* After kvisor_ioapic_check(); pins keep their levels. */
void kvisor_ioapic_set(struct kvisor_ioapic *io,
		       const struct kvisor_ioapic_state *s,
		       struct kvisor_ioapic_out *out)
{
	unsigned int pin;

	io->id = s->id;
	io->ioregsel = s->ioregsel;
	memcpy(io->redir, s->redir, sizeof(io->redir));
	for (pin = 0; pin < KVISOR_IOAPIC_PINS; pin++)
		if (ioapic_level_ready(io, pin))
			ioapic_service(io, pin, out);
}
