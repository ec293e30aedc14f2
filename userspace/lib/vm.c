// SPDX-License-Identifier: LGPL-2.1
/* libkvisor: the VM fd and guest memory. */
#include <errno.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <sys/mman.h>

#include "libkvisor.h"

void *kvisor_alloc_memory(size_t size)
{
	void *p;

	if (!size) {
		errno = EINVAL;
		return NULL;
	}
	p = mmap(NULL, size, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	return p == MAP_FAILED ? NULL : p;
}

void kvisor_free_memory(void *mem, size_t size)
{
	if (mem)
		munmap(mem, size);
}

int kvisor_set_memory_region(int vm_fd, unsigned int slot, unsigned int flags,
			     unsigned long long gpa, unsigned long long size,
			     void *hva)
{
	struct kvisor_memory_region r = {
		.slot = slot,
		.flags = flags,
		.guest_phys_addr = gpa,
		.memory_size = size,
		.userspace_addr = (uintptr_t)hva,
	};

	return ioctl(vm_fd, KVISOR_SET_MEMORY_REGION, &r) < 0 ? -errno : 0;
}

int kvisor_create_vcpu(int vm_fd, unsigned int id)
{
	int r = ioctl(vm_fd, KVISOR_CREATE_VCPU, (unsigned long)id);

	return r < 0 ? -errno : r;
}
