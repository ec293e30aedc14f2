// SPDX-License-Identifier: LGPL-2.1
/* libkvisor: the vCPU fd. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>

#include "libkvisor.h"

struct kvisor_run *kvisor_map_run(int sys_fd, int vcpu_fd)
{
	long size = kvisor_vcpu_mmap_size(sys_fd);
	void *p;

	if (size < 0) {
		errno = -size;
		return NULL;
	}
	if ((size_t)size < sizeof(struct kvisor_run)) {
		errno = EPROTO;
		return NULL;
	}
	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu_fd, 0);
	return p == MAP_FAILED ? NULL : p;
}

void kvisor_unmap_run(int sys_fd, struct kvisor_run *run)
{
	long size = kvisor_vcpu_mmap_size(sys_fd);

	if (run && size > 0)
		munmap(run, size);
}

#define IOCTL(fd, req, arg) (ioctl(fd, req, arg) < 0 ? -errno : 0)

int kvisor_run(int vcpu_fd)
{
	return IOCTL(vcpu_fd, KVISOR_RUN, 0);
}

int kvisor_get_regs(int vcpu_fd, struct kvisor_regs *regs)
{
	return IOCTL(vcpu_fd, KVISOR_GET_REGS, regs);
}

int kvisor_set_regs(int vcpu_fd, const struct kvisor_regs *regs)
{
	return IOCTL(vcpu_fd, KVISOR_SET_REGS, regs);
}

int kvisor_get_sregs(int vcpu_fd, struct kvisor_sregs *sregs)
{
	return IOCTL(vcpu_fd, KVISOR_GET_SREGS, sregs);
}

int kvisor_set_sregs(int vcpu_fd, const struct kvisor_sregs *sregs)
{
	return IOCTL(vcpu_fd, KVISOR_SET_SREGS, sregs);
}

struct one_msr {
	struct kvisor_msrs hdr;
	struct kvisor_msr_entry e;
};

int kvisor_get_msr(int vcpu_fd, unsigned int index, unsigned long long *data)
{
	struct one_msr m = { .hdr.nmsrs = 1, .e.index = index };
	int r = ioctl(vcpu_fd, KVISOR_GET_MSRS, &m);

	if (r < 0)
		return -errno;
	if (r != 1)
		return -EINVAL;	/* unknown MSR */
	*data = m.e.data;
	return 0;
}

int kvisor_set_msr(int vcpu_fd, unsigned int index, unsigned long long data)
{
	struct one_msr m = { .hdr.nmsrs = 1, .e.index = index, .e.data = data };
	int r = ioctl(vcpu_fd, KVISOR_SET_MSRS, &m);

	if (r < 0)
		return -errno;
	return r == 1 ? 0 : -EINVAL;
}

int kvisor_get_cpuid(int vcpu_fd, struct kvisor_cpuid_entry *entries,
		     unsigned int *nent)
{
	struct kvisor_cpuid *c;
	int r = 0;

	c = calloc(1, sizeof(*c) + *nent * sizeof(*entries));
	if (!c)
		return -ENOMEM;
	c->nent = *nent;
	if (ioctl(vcpu_fd, KVISOR_GET_CPUID, c) < 0)
		r = -errno;
	if (!r)
		memcpy(entries, c->entries, c->nent * sizeof(*entries));
	if (!r || r == -E2BIG)
		*nent = c->nent;
	free(c);
	return r;
}

int kvisor_set_cpuid(int vcpu_fd, const struct kvisor_cpuid_entry *entries,
		     unsigned int nent)
{
	struct kvisor_cpuid *c;
	int r = 0;

	if (nent > KVISOR_MAX_CPUID_ENTRIES)
		return -E2BIG;
	c = calloc(1, sizeof(*c) + nent * sizeof(*entries));
	if (!c)
		return -ENOMEM;
	c->nent = nent;
	memcpy(c->entries, entries, nent * sizeof(*entries));
	if (ioctl(vcpu_fd, KVISOR_SET_CPUID, c) < 0)
		r = -errno;
	free(c);
	return r;
}

int kvisor_inject_event(int vcpu_fd, unsigned int type, unsigned int vector,
			int has_error_code, unsigned int error_code)
{
	struct kvisor_event ev = {
		.type = type,
		.vector = vector,
		.error_code = has_error_code ? error_code : 0,
		.flags = has_error_code ? KVISOR_EVENT_HAS_ERROR_CODE : 0,
	};

	return IOCTL(vcpu_fd, KVISOR_INJECT_EVENT, &ev);
}

int kvisor_get_stats(int vcpu_fd, struct kvisor_vcpu_stats *stats)
{
	return IOCTL(vcpu_fd, KVISOR_GET_STATS, stats);
}
