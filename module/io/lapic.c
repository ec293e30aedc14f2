// SPDX-License-Identifier: GPL-2.0
/*
 * PLACEHOLDER (interface only; replaced by the LAPIC implementation before
 * it lands): the local APIC of module/io/irqchip.h.
 */
#include <linux/errno.h>
#include "../kvisor.h"

int kvisor_lapic_create(struct kvisor_vcpu *vcpu)
{
	return -EOPNOTSUPP;
}

void kvisor_lapic_free(struct kvisor_vcpu *vcpu)
{
}

long kvisor_lapic_ioctl(struct kvisor_vcpu *vcpu, unsigned int ioctl,
			void __user *argp)
{
	return -ENXIO;
}

int kvisor_lapic_deliver(struct kvisor_vm *vm, struct kvisor_vcpu *src,
			 const struct kvisor_irq_msg *m)
{
	return 0;
}

int kvisor_lapic_deliver_msi(struct kvisor_vm *vm, u64 address, u32 data)
{
	return 0;
}

void kvisor_lapic_extint_changed(struct kvisor_vm *vm)
{
}

bool kvisor_lapic_mmio(struct kvisor_vcpu *vcpu, u64 gpa, unsigned int len,
		       bool write, void *data)
{
	return false;
}

int kvisor_lapic_msr_get(struct kvisor_vcpu *vcpu, u32 index, u64 *data)
{
	return -ENOENT;
}

int kvisor_lapic_msr_set(struct kvisor_vcpu *vcpu, u32 index, u64 data,
			 bool host)
{
	return -ENOENT;
}

void kvisor_lapic_cpuid_adjust(struct kvisor_vcpu *vcpu)
{
}
