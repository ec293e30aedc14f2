/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What irq.c, ioapic.c, pic.c and pit.c share (the VM-level half of the
 * irqchip; the LAPIC sees only irqchip.h).
 *
 * Locking: chip->lock (a spinlock taken with interrupts off) covers the
 * GSI lines, the PIC pair and the IOAPIC together, because one GSI edge
 * changes a PIC input and an IOAPIC pin at once; those devices are
 * touched rarely next to the LAPIC, so one lock costs nothing.  The PIT
 * has its own lock (pit->lock).  Nothing calls into the LAPIC
 * (kvisor_lapic_deliver, kvisor_lapic_extint_changed) with either lock
 * held: the devices collect what to deliver under the lock and deliver
 * after dropping it, so the LAPIC may call kvisor_pic_intack() or
 * kvisor_ioapic_eoi() under its own locks without an ordering problem.
 */
#ifndef KVISOR_IO_IRQDEV_H
#define KVISOR_IO_IRQDEV_H

#include <linux/hrtimer.h>
#include <linux/list.h>
#include <linux/mutex.h>
#include <linux/spinlock.h>
#include <linux/workqueue.h>
#include "irqchip.h"

/* Who drives a GSI line: the line is the OR of its sources. */
enum {
	KVISOR_IRQ_SRC_USER,	/* KVISOR_IRQ_LINE */
	KVISOR_IRQ_SRC_IRQFD,	/* an eventfd's pulse */
	KVISOR_IRQ_SRC_PIT,	/* channel 0's output, on GSI 0 */
};

/* ---- pic.c ---- */
struct kvisor_pic {
	u8 irr, isr, imr, elcr;
	u8 elcr_mask;		/* the ELCR bits that may be set */
	u8 input;		/* the IR input levels */
	u8 vector_base, icw3, priority_base, init_step;
	u32 flags;		/* KVISOR_PIC_* */
};

/* ---- ioapic.c ---- */
struct kvisor_ioapic {
	u32 id;
	u32 ioregsel;
	u64 redir[KVISOR_IOAPIC_PINS];
	u32 level;		/* pin input levels (asserted = 1) */
};

/* Deliveries decided under chip->lock, made after it is dropped. */
struct kvisor_ioapic_out {
	unsigned int n;
	u8 pin[KVISOR_IOAPIC_PINS];
	struct kvisor_irq_msg msg[KVISOR_IOAPIC_PINS];
};

/* ---- pit.c ---- */
struct kvisor_pit_channel {
	u32 count;		/* the counting element's reload: 1-0x10000 */
	u16 latched_count;
	u8 status;
	u8 mode;		/* control word bits 5:0 */
	u8 gate;
	u8 write_lsb;
	u32 flags;		/* KVISOR_PIT_* */
	ktime_t load;		/* host time counting (re)started */
	u64 frozen;		/* ticks counted when counting stopped */
};

struct kvisor_pit {
	spinlock_t lock;
	struct kvisor_pit_channel ch[3];
	u8 port61;
	struct hrtimer timer;	/* channel 0's output edges */
	u64 period_ns;		/* 0: one-shot */
};

struct kvisor_irqchip {
	struct kvisor_vm *vm;
	spinlock_t lock;	/* lines, pic[], ioapic */
	u8 line_src[KVISOR_NR_GSIS];	/* bitmap of KVISOR_IRQ_SRC_* */
	struct kvisor_pic pic[2];
	bool intr;		/* the master's INTR output */
	struct kvisor_ioapic ioapic;
	struct kvisor_pit pit;

	/* irqfds */
	struct mutex irqfd_mutex;	/* assign/deassign */
	spinlock_t irqfd_lock;		/* irqfds, irqfd->active */
	struct list_head irqfds;
	struct workqueue_struct *irqfd_wq;
};

/* irq.c: set a GSI line's level for one source; pulse = 1 then 0. */
void kvisor_irq_set(struct kvisor_irqchip *chip, unsigned int gsi, int src,
		    bool level);
void kvisor_irq_pulse(struct kvisor_irqchip *chip, unsigned int gsi, int src);
/* irq.c: make the deliveries collected under chip->lock. */
void kvisor_ioapic_deliver(struct kvisor_irqchip *chip,
			   struct kvisor_ioapic_out *out);

/* ioapic.c (chip->lock held unless said otherwise) */
void kvisor_ioapic_reset(struct kvisor_ioapic *io);
void kvisor_ioapic_set_pin(struct kvisor_ioapic *io, unsigned int pin,
			   bool level, struct kvisor_ioapic_out *out);
/* chip->lock not held: takes it, delivers after dropping it */
bool kvisor_ioapic_mmio(struct kvisor_irqchip *chip, u64 gpa,
			unsigned int len, bool write, void *data);
void kvisor_ioapic_get(struct kvisor_ioapic *io,
		       struct kvisor_ioapic_state *s);
int kvisor_ioapic_check(const struct kvisor_ioapic_state *s);
void kvisor_ioapic_set(struct kvisor_ioapic *io,
		       const struct kvisor_ioapic_state *s,
		       struct kvisor_ioapic_out *out);

/* pic.c (chip->lock held) */
void kvisor_pic_reset(struct kvisor_irqchip *chip);
void kvisor_pic_set_input(struct kvisor_irqchip *chip, unsigned int irq,
			  bool level);
/* recompute the cascade and INTR; true if INTR changed */
bool kvisor_pic_update(struct kvisor_irqchip *chip);
/* chip->lock not held */
void kvisor_pic_pio(struct kvisor_irqchip *chip, u16 port, bool in, u8 *val);
void kvisor_pic_get(struct kvisor_pic *p, struct kvisor_pic_state *s);
int kvisor_pic_check(const struct kvisor_pic *p,
		     const struct kvisor_pic_state *s);
void kvisor_pic_set(struct kvisor_pic *p, const struct kvisor_pic_state *s);

/* pit.c (takes pit->lock itself) */
void kvisor_pit_init(struct kvisor_irqchip *chip);
void kvisor_pit_destroy(struct kvisor_irqchip *chip);
void kvisor_pit_pio(struct kvisor_irqchip *chip, u16 port, bool in, u8 *val);
void kvisor_pit_get(struct kvisor_irqchip *chip, struct kvisor_pit_state *s);
int kvisor_pit_check(const struct kvisor_pit_state *s);
void kvisor_pit_set(struct kvisor_irqchip *chip,
		    const struct kvisor_pit_state *s);

#endif /* KVISOR_IO_IRQDEV_H */
