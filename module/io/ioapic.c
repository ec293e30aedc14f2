// SPDX-License-Identifier: GPL-2.0
/* PLACEHOLDER (interface only): the IOAPIC of irqchip.h. */
#include "../kvisor.h"

void kvisor_ioapic_eoi(struct kvisor_vm *vm, u8 vector)
{
}
