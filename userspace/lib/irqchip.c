// SPDX-License-Identifier: LGPL-2.1
/* libkvisor: the in-kernel irqchip (VM fd) and the per-vCPU LAPIC state. */
#include <errno.h>
#include <string.h>
#include <sys/ioctl.h>

#include "libkvisor.h"

#define IOCTL(fd, req, arg) (ioctl(fd, req, arg) < 0 ? -errno : 0)

int kvisor_create_irqchip(int vm_fd)
{
	return IOCTL(vm_fd, KVISOR_CREATE_IRQCHIP, 0);
}

int kvisor_irq_line(int vm_fd, unsigned int gsi, unsigned int level)
{
	struct kvisor_irq_level l = { .gsi = gsi, .level = level };

	return IOCTL(vm_fd, KVISOR_IRQ_LINE, &l);
}

int kvisor_signal_msi(int vm_fd, unsigned long long address,
		      unsigned int data)
{
	struct kvisor_msi m = { .address = address, .data = data };

	return IOCTL(vm_fd, KVISOR_SIGNAL_MSI, &m);
}

int kvisor_irqfd(int vm_fd, int fd, unsigned int gsi, int deassign)
{
	struct kvisor_irqfd f = {
		.fd = fd, .gsi = gsi,
		.flags = deassign ? KVISOR_IRQFD_FLAG_DEASSIGN : 0,
	};

	return IOCTL(vm_fd, KVISOR_IRQFD, &f);
}

int kvisor_get_irqchip(int vm_fd, struct kvisor_irqchip_state *state)
{
	return IOCTL(vm_fd, KVISOR_GET_IRQCHIP, state);
}

int kvisor_set_irqchip(int vm_fd, const struct kvisor_irqchip_state *state)
{
	return IOCTL(vm_fd, KVISOR_SET_IRQCHIP, state);
}

int kvisor_get_lapic(int vcpu_fd, struct kvisor_lapic_state *state)
{
	return IOCTL(vcpu_fd, KVISOR_GET_LAPIC, state);
}

int kvisor_set_lapic(int vcpu_fd, const struct kvisor_lapic_state *state)
{
	return IOCTL(vcpu_fd, KVISOR_SET_LAPIC, state);
}

int kvisor_get_mp_state(int vcpu_fd, unsigned int *state)
{
	struct kvisor_mp_state s;
	int r = IOCTL(vcpu_fd, KVISOR_GET_MP_STATE, &s);

	if (!r)
		*state = s.state;
	return r;
}

int kvisor_set_mp_state(int vcpu_fd, unsigned int state)
{
	struct kvisor_mp_state s;

	memset(&s, 0, sizeof(s));
	s.state = state;
	return IOCTL(vcpu_fd, KVISOR_SET_MP_STATE, &s);
}
