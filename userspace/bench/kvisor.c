// SPDX-License-Identifier: GPL-2.0
/* kvisor-bench: the kvisor backend (/dev/kvisor, <linux/kvisor.h>). */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <linux/kvisor.h>

#include "bench.h"

static int kv_open(struct bench_backend *b)
{
	int fd = open(b->dev, O_RDWR | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	if (ioctl(fd, KVISOR_GET_API_VERSION, 0) != KVISOR_API_VERSION) {
		close(fd);
		return -EPROTO;
	}
	b->run_size = ioctl(fd, KVISOR_GET_VCPU_MMAP_SIZE, 0);
	if (b->run_size <= 0) {
		close(fd);
		return -EPROTO;
	}
	b->sys_fd = fd;
	return 0;
}

static int kv_vm_create(struct bench_backend *b, struct bench_vm *vm)
{
	vm->fd = ioctl(b->sys_fd, KVISOR_CREATE_VM, 0);
	return vm->fd < 0 ? -errno : 0;
}

static int kv_vm_add_mem(struct bench_vm *vm, uint32_t slot, uint64_t gpa,
			 uint64_t size, void *hva)
{
	struct kvisor_memory_region mr = {
		.slot = slot,
		.guest_phys_addr = gpa,
		.memory_size = size,
		.userspace_addr = (uintptr_t)hva,
	};

	return ioctl(vm->fd, KVISOR_SET_MEMORY_REGION, &mr) ? -errno : 0;
}

static int kv_vcpu_create(struct bench_backend *b, struct bench_vm *vm,
			  struct bench_vcpu *v, int id)
{
	v->vm = vm;
	v->fd = ioctl(vm->fd, KVISOR_CREATE_VCPU, id);
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

static void flat_seg(struct kvisor_segment *s, uint16_t sel, uint8_t type)
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

static int kv_vcpu_setup(struct bench_vcpu *v, const struct bench_regs *r)
{
	struct kvisor_sregs s;
	struct kvisor_regs g;

	if (ioctl(v->fd, KVISOR_GET_SREGS, &s))
		return -errno;
	flat_seg(&s.cs, 0x08, 11);
	flat_seg(&s.ds, 0x10, 3);
	s.es = s.fs = s.gs = s.ss = s.ds;
	s.cr0 = 0x11;		/* PE | ET */
	s.cr4 = 0;
	s.efer = 0;
	if (ioctl(v->fd, KVISOR_SET_SREGS, &s))
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
	return ioctl(v->fd, KVISOR_SET_REGS, &g) ? -errno : 0;
}

static int kv_run(struct bench_vcpu *v, struct bench_exit *x)
{
	struct kvisor_run *run = v->run;

	if (ioctl(v->fd, KVISOR_RUN, 0)) {
		if (errno == EINTR) {
			x->kind = BX_INTR;
			return 0;
		}
		return -errno;
	}
	x->reason = run->exit_reason;
	switch (run->exit_reason) {
	case KVISOR_EXIT_HLT:
		x->kind = BX_HLT;
		break;
	case KVISOR_EXIT_IO:
		if (run->io.direction != KVISOR_EXIT_IO_OUT) {
			x->kind = BX_OTHER;
			break;
		}
		x->kind = BX_IO_OUT;
		x->port = run->io.port;
		x->val = 0;
		memcpy(&x->val, (char *)run + run->io.data_offset,
		       run->io.size);
		break;
	case KVISOR_EXIT_MMIO:
		if (!run->mmio.is_write) {
			x->kind = BX_OTHER;
			break;
		}
		x->kind = BX_MMIO_WRITE;
		x->addr = run->mmio.phys_addr;
		x->val = 0;
		memcpy(&x->val, run->mmio.data, run->mmio.len);
		break;
	case KVISOR_EXIT_INTR:
		x->kind = BX_INTR;
		break;
	default:
		x->kind = BX_OTHER;
		break;
	}
	return 0;
}

static int kv_stats(struct bench_vcpu *v, uint64_t *counters, int n)
{
	struct kvisor_vcpu_stats st;

	if (ioctl(v->fd, KVISOR_GET_STATS, &st))
		return -errno;
	memcpy(counters, st.counters,
	       (n < KVISOR_STAT_NR ? n : KVISOR_STAT_NR) * sizeof(*counters));
	return 0;
}

static void kv_vcpu_destroy(struct bench_vcpu *v)
{
	munmap(v->run, v->run_size);
	close(v->fd);
}

static void kv_vm_destroy(struct bench_vm *vm)
{
	close(vm->fd);
}

struct bench_backend bench_kvisor = {
	.name = "kvisor",
	.dev = "/dev/kvisor",
	.sys_fd = -1,
	.open = kv_open,
	.vm_create = kv_vm_create,
	.vm_add_mem = kv_vm_add_mem,
	.vcpu_create = kv_vcpu_create,
	.vcpu_setup = kv_vcpu_setup,
	.run = kv_run,
	.stats = kv_stats,
	.vcpu_destroy = kv_vcpu_destroy,
	.vm_destroy = kv_vm_destroy,
};
