// SPDX-License-Identifier: GPL-2.0
/* PLACEHOLDER (interface only): the 8259A pair of irqchip.h. */
#include "../kvisor.h"

int kvisor_pic_intack(struct kvisor_vm *vm)
{
	return -1;
}

bool kvisor_pic_intr(struct kvisor_vm *vm)
{
	return false;
}
