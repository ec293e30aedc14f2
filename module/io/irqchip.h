/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The in-kernel interrupt controllers and timers (KVISOR_CREATE_IRQCHIP):
 * what the core and the device files of module/io/ see of each other.
 *
 *   lapic.c    a local APIC per vCPU: registers (xAPIC MMIO, x2APIC MSRs),
 *              priorities, the APIC timer (one-shot, periodic, TSC-deadline),
 *              IPIs, INIT/SIPI, HLT that sleeps, interrupt delivery to the
 *              vCPU, the paravirtual clock
 *   ioapic.c   the IOAPIC: 24 pins at 0xFEC00000
 *   pic.c      the 8259A pair: ports 0x20/0x21, 0xA0/0xA1, ELCR 0x4D0/0x4D1
 *   pit.c      the 8254 PIT: ports 0x40-0x43 and port 0x61
 *   irq.c      struct kvisor_irqchip, the VM ioctls (GSI lines, MSIs,
 *              irqfds, chip state) and the dispatch of port and MMIO exits
 *              to the devices
 *
 * The devices are vendor-neutral: they reach the hardware only through the
 * core (vcpu.c's injection path and kvisor_arch_ops).  Work for another
 * vCPU is a request bit and a kick, never a write to its control block.
 */
#ifndef KVISOR_IO_IRQCHIP_H
#define KVISOR_IO_IRQCHIP_H

#include <linux/types.h>

struct kvisor_vm;
struct kvisor_vcpu;
struct kvisor_irqchip;

/* An interrupt message: an IPI, an IOAPIC redirection entry or an MSI. */
struct kvisor_irq_msg {
	u32 dest;		/* APIC ID, or logical destination */
	u8 vector;
	u8 delivery;		/* KVISOR_DM_* */
	u8 shorthand;		/* KVISOR_SH_* (IPIs only) */
	bool logical;		/* destination mode */
	bool level;		/* trigger mode: level */
	bool assert;		/* level: 1 = assert (INIT de-assert is 0) */
};

/* Delivery modes: the ICR / redirection entry / MSI data encoding. */
#define KVISOR_DM_FIXED		0
#define KVISOR_DM_LOWEST	1
#define KVISOR_DM_SMI		2
#define KVISOR_DM_NMI		4
#define KVISOR_DM_INIT		5
#define KVISOR_DM_SIPI		6
#define KVISOR_DM_EXTINT	7

#define KVISOR_SH_NONE		0
#define KVISOR_SH_SELF		1
#define KVISOR_SH_ALL		2
#define KVISOR_SH_OTHERS	3

/* Where the devices sit (the architectural defaults). */
#define KVISOR_APIC_DEFAULT_BASE	0xfee00000ULL
#define KVISOR_IOAPIC_BASE		0xfec00000ULL
#define KVISOR_IOAPIC_SIZE		0x1000

/* ---- lapic.c -------------------------------------------------------- */
int kvisor_lapic_create(struct kvisor_vcpu *vcpu);
void kvisor_lapic_free(struct kvisor_vcpu *vcpu);
/* KVISOR_GET/SET_LAPIC, KVISOR_GET/SET_MP_STATE on a vCPU fd */
long kvisor_lapic_ioctl(struct kvisor_vcpu *vcpu, unsigned int ioctl,
			void __user *argp);
/*
 * Deliver @m to the LAPICs it addresses (@src: the sending vCPU for IPI
 * shorthands, NULL for the IOAPIC and MSIs).  Any context that may sleep
 * or not; takes no sleeping lock.  Returns how many LAPICs accepted it.
 */
int kvisor_lapic_deliver(struct kvisor_vm *vm, struct kvisor_vcpu *src,
			 const struct kvisor_irq_msg *m);
/* An MSI write (address, data) as an interrupt message (SDM 11.11). */
int kvisor_lapic_deliver_msi(struct kvisor_vm *vm, u64 address, u32 data);
/*
 * The PIC's INTR output changed: LAPICs with LINT0 in ExtINT look again.
 * Called from any context (ioctl, exit, hrtimer, eventfd wakeup with its
 * wait-queue lock held), never with a device lock held; not called from
 * kvisor_pic_intack() (its caller reads kvisor_pic_intr() again).
 */
void kvisor_lapic_extint_changed(struct kvisor_vm *vm);
/* xAPIC MMIO: true if @gpa is this vCPU's enabled xAPIC page. */
bool kvisor_lapic_mmio(struct kvisor_vcpu *vcpu, u64 gpa, unsigned int len,
		       bool write, void *data);
/*
 * MSRs the LAPIC and the paravirtual clock own (IA32_APIC_BASE, x2APIC
 * 0x800-0x8FF, IA32_TSC_DEADLINE, the kvmclock MSRs): 0 done, -EINVAL
 * refused (#GP for a guest), -ENOENT not one of them.
 */
int kvisor_lapic_msr_get(struct kvisor_vcpu *vcpu, u32 index, u64 *data);
int kvisor_lapic_msr_set(struct kvisor_vcpu *vcpu, u32 index, u64 data,
			 bool host);
/* The default CPUID table of a vCPU of an irqchip VM: APIC bits, clock. */
void kvisor_lapic_cpuid_adjust(struct kvisor_vcpu *vcpu);

/* ---- ioapic.c ------------------------------------------------------- */
/*
 * A level-triggered vector was EOIed by a LAPIC: clear remote IRR.  A pin
 * still asserted sends again, through kvisor_lapic_deliver(), from inside
 * this call: call it without holding a lock that kvisor_lapic_deliver()
 * takes.  Any context.
 */
void kvisor_ioapic_eoi(struct kvisor_vm *vm, u8 vector);

/* ---- pic.c ---------------------------------------------------------- */
/*
 * INTA cycle: the vector of the highest pending PIC IRQ (or the spurious
 * IRQ 7/15 vector), -1 without an irqchip.  Any context; takes the
 * irqchip's spinlock and calls nothing in the LAPIC.
 */
int kvisor_pic_intack(struct kvisor_vm *vm);
/* The master's INTR output (an unmasked, unserviced request); lockless. */
bool kvisor_pic_intr(struct kvisor_vm *vm);

/* ---- irq.c ---------------------------------------------------------- */
long kvisor_irqchip_vm_ioctl(struct kvisor_vm *vm, unsigned int ioctl,
			     unsigned long arg);
void kvisor_irqchip_destroy(struct kvisor_vm *vm);
/* Port I/O and MMIO exits: true if an in-kernel device took the access. */
bool kvisor_irqchip_pio(struct kvisor_vcpu *vcpu, u16 port, unsigned int size,
			bool in, void *data);
bool kvisor_irqchip_mmio(struct kvisor_vcpu *vcpu, u64 gpa, unsigned int len,
			 bool write, void *data);

#endif /* KVISOR_IO_IRQCHIP_H */
