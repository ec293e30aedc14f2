// SPDX-License-Identifier: GPL-2.0
/* kvisor-bench: the KVM backend (/dev/kvm, <linux/kvm.h>). */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <linux/kvm.h>

#include "bench.h"

/* Below 4 GiB, above every region and MMIO address the guests use. */
#define KVM_TSS_ADDR	0xfffbd000u

static int kvm_open(struct bench_backend *b)
{
	int fd = open(b->dev, O_RDWR | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	if (ioctl(fd, KVM_GET_API_VERSION, 0) != KVM_API_VERSION) {
		close(fd);
		return -EPROTO;
	}
	b->run_size = ioctl(fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (b->run_size <= 0) {
		close(fd);
		return -EPROTO;
	}
	b->sys_fd = fd;
	return 0;
}

static int kvm_vm_create(struct bench_backend *b, struct bench_vm *vm)
{
	vm->fd = ioctl(b->sys_fd, KVM_CREATE_VM, 0);
	if (vm->fd < 0)
		return -errno;
	/* Needed on VT-x without unrestricted guest; harmless elsewhere. */
	ioctl(vm->fd, KVM_SET_TSS_ADDR, KVM_TSS_ADDR);
	return 0;
}

static int kvm_vm_add_mem(struct bench_vm *vm, uint32_t slot, uint64_t gpa,
			  uint64_t size, void *hva)
{
	struct kvm_userspace_memory_region mr = {
		.slot = slot,
		.guest_phys_addr = gpa,
		.memory_size = size,
		.userspace_addr = (uintptr_t)hva,
	};

	return ioctl(vm->fd, KVM_SET_USER_MEMORY_REGION, &mr) ? -errno : 0;
}

static int kvm_vcpu_create(struct bench_backend *b, struct bench_vm *vm,
			   struct bench_vcpu *v, int id)
{
	v->vm = vm;
	v->fd = ioctl(vm->fd, KVM_CREATE_VCPU, id);
	if (v->fd < 0)
		return -errno;
	v->run_size = b->run_size;
	v->run = mmap(NULL, v->run_size, PROT_READ | PROT_WRITE, MAP_SHARED,
		      v->fd, 0);
	if (v->run == MAP_FAILED) {
		int e = -errno;

		close(v->fd);
		return e;
	}
	return 0;
}

static void flat_seg(struct kvm_segment *s, uint16_t sel, uint8_t type)
{
	memset(s, 0, sizeof(*s));
	s->base = 0;
	s->limit = 0xffffffff;
	s->selector = sel;
	s->type = type;
	s->present = 1;
	s->db = 1;
	s->s = 1;
	s->g = 1;
}

static int kvm_vcpu_setup(struct bench_vcpu *v, const struct bench_regs *r)
{
	struct kvm_sregs s;
	struct kvm_regs g;

	if (ioctl(v->fd, KVM_GET_SREGS, &s))
		return -errno;
	flat_seg(&s.cs, 0x08, 11);
	flat_seg(&s.ds, 0x10, 3);
	s.es = s.fs = s.gs = s.ss = s.ds;
	s.cr0 = 0x11;		/* PE | ET */
	s.cr4 = 0;
	s.efer = 0;
	if (ioctl(v->fd, KVM_SET_SREGS, &s))
		return -errno;
	memset(&g, 0, sizeof(g));
	g.rip = r->rip;
	g.rflags = 2;
	g.rax = r->rax;
	g.rbx = r->rbx;
	g.rcx = r->rcx;
	g.rdx = r->rdx;
	g.rsi = r->rsi;
	g.rdi = r->rdi;
	g.rbp = r->rbp;
	return ioctl(v->fd, KVM_SET_REGS, &g) ? -errno : 0;
}

static int kvm_run(struct bench_vcpu *v, struct bench_exit *x)
{
	struct kvm_run *run = v->run;

	if (ioctl(v->fd, KVM_RUN, 0)) {
		if (errno == EINTR) {
			x->kind = BX_INTR;
			return 0;
		}
		return -errno;
	}
	x->reason = run->exit_reason;
	switch (run->exit_reason) {
	case KVM_EXIT_HLT:
		x->kind = BX_HLT;
		break;
	case KVM_EXIT_IO:
		if (run->io.direction != KVM_EXIT_IO_OUT) {
			x->kind = BX_OTHER;
			break;
		}
		x->kind = BX_IO_OUT;
		x->port = run->io.port;
		x->val = 0;
		memcpy(&x->val, (char *)run + run->io.data_offset,
		       run->io.size);
		break;
	case KVM_EXIT_MMIO:
		if (!run->mmio.is_write) {
			x->kind = BX_OTHER;
			break;
		}
		x->kind = BX_MMIO_WRITE;
		x->addr = run->mmio.phys_addr;
		x->val = 0;
		memcpy(&x->val, run->mmio.data, run->mmio.len);
		break;
	case KVM_EXIT_INTR:
		x->kind = BX_INTR;
		break;
	default:
		x->kind = BX_OTHER;
		break;
	}
	return 0;
}

static void kvm_vcpu_destroy(struct bench_vcpu *v)
{
	munmap(v->run, v->run_size);
	close(v->fd);
}

static void kvm_vm_destroy(struct bench_vm *vm)
{
	close(vm->fd);
}

struct bench_backend bench_kvm = {
	.name = "KVM",
	.dev = "/dev/kvm",
	.sys_fd = -1,
	.open = kvm_open,
	.vm_create = kvm_vm_create,
	.vm_add_mem = kvm_vm_add_mem,
	.vcpu_create = kvm_vcpu_create,
	.vcpu_setup = kvm_vcpu_setup,
	.run = kvm_run,
	.vcpu_destroy = kvm_vcpu_destroy,
	.vm_destroy = kvm_vm_destroy,
};
