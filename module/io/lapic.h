/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The run-loop side of the local APIC (module/io/lapic.c): what vcpu.c
 * and exit.c call for a vCPU of an irqchip VM (vcpu->lapic != NULL).
 *
 * One RUN iteration with a LAPIC:
 *
 *   kvisor_lapic_prepare()   process context: INIT, SIPI, timer, NMI and
 *                            clock requests; sleeps while the vCPU is
 *                            halted or waits for a SIPI
 *   irqs off
 *   kvisor_lapic_enter()     "in guest" for kicks; false if a request
 *                            came in meanwhile (loop again)
 *   vcpu_inject_events()     kvisor_lapic_next_irq() and
 *                            kvisor_lapic_irq_injected()
 *   ops->run()
 *   kvisor_lapic_exit()      CR8 -> TPR, "outside the guest"
 */
#ifndef KVISOR_IO_LAPIC_H
#define KVISOR_IO_LAPIC_H

#include <linux/types.h>

struct kvisor_vcpu;

int kvisor_lapic_prepare(struct kvisor_vcpu *vcpu);
bool kvisor_lapic_enter(struct kvisor_vcpu *vcpu);
void kvisor_lapic_exit(struct kvisor_vcpu *vcpu);
/*
 * Interrupts off.  The vector the vCPU should take next (an ExtINT from
 * the PIC or the highest IRR vector above PPR), -1 if none; @extint says
 * which.  kvisor_lapic_irq_injected() acknowledges it once injected.
 */
int kvisor_lapic_next_irq(struct kvisor_vcpu *vcpu, bool *extint);
void kvisor_lapic_irq_injected(struct kvisor_vcpu *vcpu, int vector,
			       bool extint);
/* Interrupts off: an interrupt waits for the guest (nothing acked). */
bool kvisor_lapic_has_irq(struct kvisor_vcpu *vcpu);
/* The guest executed HLT (RIP already past it): 1 loop, 0 to userspace. */
int kvisor_lapic_halt(struct kvisor_vcpu *vcpu);

#endif /* KVISOR_IO_LAPIC_H */
