// SPDX-License-Identifier: GPL-2.0
/*
 * PLACEHOLDER (interface only; replaced by the implementation before it
 * lands): the irqchip VM ioctls and device dispatch of irqchip.h.
 */
#include <linux/errno.h>
#include "../kvisor.h"

long kvisor_irqchip_vm_ioctl(struct kvisor_vm *vm, unsigned int ioctl,
			     unsigned long arg)
{
	return -ENOTTY;
}

void kvisor_irqchip_destroy(struct kvisor_vm *vm)
{
}

bool kvisor_irqchip_pio(struct kvisor_vcpu *vcpu, u16 port, unsigned int size,
			bool in, void *data)
{
	return false;
}

bool kvisor_irqchip_mmio(struct kvisor_vcpu *vcpu, u64 gpa, unsigned int len,
			 bool write, void *data)
{
	return false;
}
