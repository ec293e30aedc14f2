// SPDX-License-Identifier: GPL-2.0
/*
 * The 8259A pair of a PC: master at ports 0x20/0x21, slave at 0xA0/0xA1
 * cascaded on the master's IR2, and the ELCR (0x4D0/0x4D1) that makes
 * single inputs level-triggered, as the PIIX/ICH south bridges have it.
 * The master's INTR output reaches the LAPICs' LINT0 (virtual wire,
 * ExtINT): the LAPIC asks kvisor_pic_intr() and runs the INTA cycle with
 * kvisor_pic_intack().
 *
 * Semantics from the Intel 8259A datasheet (order no. 231468): the
 * "Interrupt Sequence", "Initialization Command Words" (ICW1-ICW4) and
 * "Operation Command Words" (OCW1-OCW3) sections.  What is not modelled:
 * the MCS-80/85 call mode (ICW4.uPM = 0 is treated as 8086 mode), buffered
 * mode (ICW4.BUF, M/S: no effect on a virtual bus), a slave on any master
 * input but IR2 (the PC wiring), and the default-IR7 for an edge request
 * that went away before INTA (edge requests stay latched until INTA, so a
 * pulse such as the PIT's is never lost).
 *
 * All of it runs under chip->lock (irqdev.h).
 */
#include <linux/errno.h>
#include <linux/spinlock.h>

#include "../kvisor.h"
#include "irqdev.h"

#define PIC_CASCADE_IRQ		2

static inline bool pic_is_master(struct kvisor_irqchip *chip,
				 struct kvisor_pic *p)
{
	return p == &chip->pic[0];
}

/* Priority of @irq: 0 is the highest (the rotation's base). */
static inline unsigned int pic_prio(const struct kvisor_pic *p,
				    unsigned int irq)
{
	return (irq - p->priority_base) & 7;
}

/* The highest-priority IRQ among @mask, or -1. */
static int pic_highest(const struct kvisor_pic *p, u8 mask)
{
	unsigned int i;

	if (!mask)
		return -1;
	for (i = 0; i < 8; i++) {
		unsigned int irq = (p->priority_base + i) & 7;

		if (mask & (1u << irq))
			return irq;
	}
	return -1;
}

/* Inputs that are level-triggered: the ELCR, or ICW1.LTIM for all. */
static inline u8 pic_level_mask(const struct kvisor_pic *p)
{
	return (p->flags & KVISOR_PIC_LTIM) ? 0xff : p->elcr;
}

static inline bool pic_cascaded(struct kvisor_irqchip *chip,
				const struct kvisor_pic *p, int irq)
{
	return p == &chip->pic[0] && irq == PIC_CASCADE_IRQ &&
	       !(p->flags & KVISOR_PIC_SINGLE) &&
	       (p->icw3 & BIT(PIC_CASCADE_IRQ));
}

/*
 * The request this chip presents on INT, or -1 ("Interrupt Sequence";
 * OCW3 special mask mode: ISR bits that are masked do not inhibit;
 * ICW4 special fully nested mode: the master lets a cascade input with
 * its ISR bit set through again, for a higher-priority slave request).
 */
static int pic_pending(struct kvisor_irqchip *chip, struct kvisor_pic *p)
{
	u8 isr = p->isr;
	int irq, cur;

	irq = pic_highest(p, p->irr & ~p->imr);
	if (irq < 0)
		return -1;
	if (p->flags & KVISOR_PIC_SPECIAL_MASK)
		isr &= ~p->imr;
	cur = pic_highest(p, isr);
	if (cur < 0 || pic_prio(p, irq) < pic_prio(p, cur))
		return irq;
	if (irq == cur && (p->flags & KVISOR_PIC_SFNM) &&
	    pic_cascaded(chip, p, irq))
		return irq;
	return -1;
}

void kvisor_pic_set_input(struct kvisor_irqchip *chip, unsigned int irq,
			  bool level)
{
	struct kvisor_pic *p = &chip->pic[irq >> 3];
	u8 mask = 1u << (irq & 7);

	if (level) {
		/* edge: a rising edge latches IRR; level: IRR follows input */
		if (!(p->input & mask) || (pic_level_mask(p) & mask))
			p->irr |= mask;
		p->input |= mask;
	} else {
		p->input &= ~mask;
		if (pic_level_mask(p) & mask)
			p->irr &= ~mask;
	}
}

bool kvisor_pic_update(struct kvisor_irqchip *chip)
{
	struct kvisor_pic *m = &chip->pic[0];
	bool intr;

	/*
	 * The slave's INT drives the master's IR2 directly: the request
	 * stays while the slave presents one (level, whatever the ELCR).
	 */
	if (pic_pending(chip, &chip->pic[1]) >= 0) {
		m->input |= BIT(PIC_CASCADE_IRQ);
		m->irr |= BIT(PIC_CASCADE_IRQ);
	} else {
		m->input &= ~BIT(PIC_CASCADE_IRQ);
		m->irr &= ~BIT(PIC_CASCADE_IRQ);
	}
	intr = pic_pending(chip, m) >= 0;
	if (intr == chip->intr)
		return false;
	WRITE_ONCE(chip->intr, intr);
	return true;
}

/* INTA on one chip: ISR/IRR bookkeeping for @irq (auto-EOI, rotation). */
static void pic_ack(struct kvisor_irqchip *chip, struct kvisor_pic *p,
		    int irq)
{
	u8 mask = 1u << irq;

	if (!(pic_level_mask(p) & mask) && !pic_cascaded(chip, p, irq))
		p->irr &= ~mask;
	if (p->flags & KVISOR_PIC_AUTO_EOI) {
		if (p->flags & KVISOR_PIC_ROTATE_AEOI)
			p->priority_base = (irq + 1) & 7;
	} else {
		p->isr |= mask;
	}
}

/*
 * The INTA cycle for the LAPIC's ExtINT: the vector of the highest
 * request, or the chip's IR7 vector (spurious) if it went away; a
 * cascaded request asks the slave (whose spurious vector is its IR7,
 * with the master's IR2 in service, as on hardware).
 */
int kvisor_pic_intack(struct kvisor_vm *vm)
{
	struct kvisor_irqchip *chip = READ_ONCE(vm->irqchip);
	struct kvisor_pic *m, *s;
	unsigned long flags;
	int irq, vec;

	if (!chip)
		return -1;
	m = &chip->pic[0];
	s = &chip->pic[1];
	spin_lock_irqsave(&chip->lock, flags);
	irq = pic_pending(chip, m);
	if (irq < 0) {
		vec = m->vector_base | 7;
	} else {
		pic_ack(chip, m, irq);
		if (pic_cascaded(chip, m, irq)) {
			int sirq = pic_pending(chip, s);

			if (sirq < 0) {
				vec = s->vector_base | 7;
			} else {
				pic_ack(chip, s, sirq);
				vec = s->vector_base | sirq;
			}
		} else {
			vec = m->vector_base | irq;
		}
	}
	/* the caller reads kvisor_pic_intr() again: no notification */
	kvisor_pic_update(chip);
	spin_unlock_irqrestore(&chip->lock, flags);
	return vec;
}

bool kvisor_pic_intr(struct kvisor_vm *vm)
{
	struct kvisor_irqchip *chip = READ_ONCE(vm->irqchip);

	return chip && READ_ONCE(chip->intr);
}

/* OCW2 (datasheet table "Operation Command Word 2"). */
static void pic_ocw2(struct kvisor_pic *p, u8 val)
{
	unsigned int level = val & 7;
	int irq;

	switch (val >> 5) {
	case 0:		/* rotate in auto-EOI mode: clear */
		p->flags &= ~KVISOR_PIC_ROTATE_AEOI;
		break;
	case 4:		/* rotate in auto-EOI mode: set */
		p->flags |= KVISOR_PIC_ROTATE_AEOI;
		break;
	case 1:		/* non-specific EOI */
	case 5:		/* rotate on non-specific EOI */
		irq = pic_highest(p, p->isr);
		if (irq < 0)
			break;
		p->isr &= ~(1u << irq);
		if (val >> 5 == 5)
			p->priority_base = (irq + 1) & 7;
		break;
	case 3:		/* specific EOI */
		p->isr &= ~(1u << level);
		break;
	case 7:		/* rotate on specific EOI */
		p->isr &= ~(1u << level);
		p->priority_base = (level + 1) & 7;
		break;
	case 6:		/* set priority: @level becomes the lowest */
		p->priority_base = (level + 1) & 7;
		break;
	default:	/* 2: no operation */
		break;
	}
}

static void pic_write(struct kvisor_irqchip *chip, struct kvisor_pic *p,
		      bool a0, u8 val)
{
	if (!a0 && (val & 0x10)) {
		/*
		 * ICW1: the edge sense circuit is reset (an input must go
		 * low and high again), IMR cleared, IR7 lowest priority,
		 * special mask mode off, status read set to IRR, and the
		 * ICW4 functions zero until ICW4 comes.
		 */
		p->flags = 0;
		if (val & 0x01)
			p->flags |= KVISOR_PIC_ICW4_NEEDED;
		if (val & 0x02)
			p->flags |= KVISOR_PIC_SINGLE;
		if (val & 0x08)
			p->flags |= KVISOR_PIC_LTIM;
		p->imr = 0;
		p->isr = 0;
		p->irr &= p->input & pic_level_mask(p);
		p->priority_base = 0;
		p->init_step = 1;
	} else if (!a0 && (val & 0x08)) {
		/* OCW3 */
		if (val & 0x04)
			p->flags |= KVISOR_PIC_POLL;
		if (val & 0x02) {
			if (val & 0x01)
				p->flags |= KVISOR_PIC_READ_ISR;
			else
				p->flags &= ~KVISOR_PIC_READ_ISR;
		}
		if (val & 0x40) {
			if (val & 0x20)
				p->flags |= KVISOR_PIC_SPECIAL_MASK;
			else
				p->flags &= ~KVISOR_PIC_SPECIAL_MASK;
		}
	} else if (!a0) {
		pic_ocw2(p, val);
	} else {
		switch (p->init_step) {
		case 0:		/* OCW1 */
			p->imr = val;
			break;
		case 1:		/* ICW2: T7-T3 of the vector (8086 mode) */
			p->vector_base = val & 0xf8;
			if (!(p->flags & KVISOR_PIC_SINGLE))
				p->init_step = 2;
			else
				p->init_step = (p->flags & KVISOR_PIC_ICW4_NEEDED) ? 3 : 0;
			break;
		case 2:		/* ICW3: master's slave bitmap, slave's id */
			p->icw3 = pic_is_master(chip, p) ? val : val & 7;
			p->init_step = (p->flags & KVISOR_PIC_ICW4_NEEDED) ? 3 : 0;
			break;
		default:	/* ICW4: AEOI and SFNM; uPM, BUF, M/S ignored */
			if (val & 0x02)
				p->flags |= KVISOR_PIC_AUTO_EOI;
			if (val & 0x10)
				p->flags |= KVISOR_PIC_SFNM;
			p->init_step = 0;
			break;
		}
	}
}

static u8 pic_read(struct kvisor_irqchip *chip, struct kvisor_pic *p, bool a0)
{
	int irq;

	if (a0)
		return p->imr;
	if (p->flags & KVISOR_PIC_POLL) {
		/* poll: the read is this chip's INTA, answered as a byte */
		p->flags &= ~KVISOR_PIC_POLL;
		irq = pic_pending(chip, p);
		if (irq < 0)
			return 0;
		pic_ack(chip, p, irq);
		return 0x80 | irq;
	}
	return (p->flags & KVISOR_PIC_READ_ISR) ? p->isr : p->irr;
}

void kvisor_pic_pio(struct kvisor_irqchip *chip, u16 port, bool in, u8 *val)
{
	unsigned long flags;
	struct kvisor_pic *p;
	bool changed;

	spin_lock_irqsave(&chip->lock, flags);
	if (port == 0x4d0 || port == 0x4d1) {
		/* ELCR: a bit set makes the input level-triggered */
		p = &chip->pic[port & 1];
		if (in) {
			*val = p->elcr;
		} else {
			p->elcr = *val & p->elcr_mask;
			p->irr = (p->irr & ~pic_level_mask(p)) |
				 (p->input & pic_level_mask(p));
		}
	} else {
		p = &chip->pic[port >> 7];
		if (in)
			*val = pic_read(chip, p, port & 1);
		else
			pic_write(chip, p, port & 1, *val);
	}
	changed = kvisor_pic_update(chip);
	spin_unlock_irqrestore(&chip->lock, flags);
	if (changed)
		kvisor_lapic_extint_changed(chip->vm);
}

/*
 * Power-on: the 8259A's state is undefined until ICW1; kvisor starts
 * with what a PC BIOS leaves (vectors 0x08 and 0x70, the cascade on IR2,
 * 8086 mode) but every input masked, so nothing reaches LINT0 before
 * the guest programs the pair.
 */
void kvisor_pic_reset(struct kvisor_irqchip *chip)
{
	int i;

	for (i = 0; i < 2; i++) {
		struct kvisor_pic *p = &chip->pic[i];

		memset(p, 0, sizeof(*p));
		p->imr = 0xff;
		p->flags = KVISOR_PIC_ICW4_NEEDED;
	}
	chip->pic[0].vector_base = 0x08;
	chip->pic[0].icw3 = BIT(PIC_CASCADE_IRQ);
	chip->pic[0].elcr_mask = 0xf8;	/* IRQ 0-2: edge only */
	chip->pic[1].vector_base = 0x70;
	chip->pic[1].icw3 = PIC_CASCADE_IRQ;
	chip->pic[1].elcr_mask = 0xde;	/* IRQ 8, 13: edge only */
	chip->intr = false;
}

void kvisor_pic_get(struct kvisor_pic *p, struct kvisor_pic_state *s)
{
	s->irr = p->irr;
	s->isr = p->isr;
	s->imr = p->imr;
	s->elcr = p->elcr;
	s->vector_base = p->vector_base;
	s->icw3 = p->icw3;
	s->priority_base = p->priority_base;
	s->init_step = p->init_step;
	s->flags = p->flags;
}

int kvisor_pic_check(const struct kvisor_pic *p,
		     const struct kvisor_pic_state *s)
{
	if ((s->elcr & ~p->elcr_mask) || (s->vector_base & 7) ||
	    s->priority_base > 7 || s->init_step > 3 ||
	    (s->flags & ~KVISOR_PIC_FLAGS))
		return -EINVAL;
	/* a slave's id is 3 bits; a master's ICW3 is a bitmap */
	if (p->elcr_mask == 0xde && s->icw3 > 7)
		return -EINVAL;
	return 0;
}

/* After kvisor_pic_check(); IRR of level inputs follows the line. */
void kvisor_pic_set(struct kvisor_pic *p, const struct kvisor_pic_state *s)
{
	p->isr = s->isr;
	p->imr = s->imr;
	p->elcr = s->elcr;
	p->vector_base = s->vector_base;
	p->icw3 = s->icw3;
	p->priority_base = s->priority_base;
	p->init_step = s->init_step;
	p->flags = s->flags;
	p->irr = (s->irr & ~pic_level_mask(p)) | (p->input & pic_level_mask(p));
}
