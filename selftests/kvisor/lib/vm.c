// SPDX-License-Identifier: GPL-2.0
/* VMs, vCPUs and guest modes for the selftests (see vm.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>

#include "libkvisor.h"
#include "vm.h"

const char *const guest_mode_name[MODE_NR] = {
	"real", "16-bit protected", "32-bit protected", "32-bit paged",
	"PAE", "long",
};

int vm_create(struct vm *vm)
{
	int r;

	memset(vm, 0, sizeof(*vm));
	vm->sys_fd = vm->fd = -1;
	if (cpu_virt() == CPU_VIRT_NONE)
		return -ENXIO;
	vm->sys_fd = open(KVISOR_DEV, O_RDWR | O_CLOEXEC);
	if (vm->sys_fd < 0)
		return -errno;
	vm->fd = ioctl(vm->sys_fd, KVISOR_CREATE_VM, 0);
	if (vm->fd < 0) {
		r = -errno;
		goto fail;
	}
	vm->mem = mmap(NULL, GUEST_MEM_SIZE, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (vm->mem == MAP_FAILED) {
		vm->mem = NULL;
		r = -errno;
		goto fail;
	}
	r = vm_set_region(vm, 0, 0, 0, GUEST_MEM_SIZE, vm->mem);
	if (r)
		goto fail;
	return 0;
fail:
	vm_destroy(vm);
	return r;
}

const char *vm_refusal_reason(void)
{
	const char *why = NULL;
	char param = 0;
	int fd;

	fd = open("/sys/module/kvisor/parameters/vmx_vms", O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		if (read(fd, &param, 1) != 1)
			param = 0;
		close(fd);
		if (param == 'N')
			return "loaded with vmx_vms=0";
	}
	fd = open(KVISOR_DEV, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	if (ioctl(fd, KVISOR_CHECK_EXTENSION, KVISOR_CAP_NESTED_PAGING) <= 0)
		why = "no nested paging";
	else if (ioctl(fd, KVISOR_CHECK_EXTENSION, KVISOR_CAP_UNRESTRICTED_GUEST) <= 0)
		why = "no unrestricted guest";
	close(fd);
	return why;
}

void vm_destroy(struct vm *vm)
{
	if (vm->fd >= 0)
		close(vm->fd);
	if (vm->sys_fd >= 0)
		close(vm->sys_fd);
	if (vm->mem)
		munmap(vm->mem, GUEST_MEM_SIZE);
	vm->fd = vm->sys_fd = -1;
	vm->mem = NULL;
}

int vm_set_region(struct vm *vm, uint32_t slot, uint32_t flags, uint64_t gpa,
		  uint64_t size, void *hva)
{
	struct kvisor_memory_region r = {
		.slot = slot, .flags = flags, .guest_phys_addr = gpa,
		.memory_size = size, .userspace_addr = (uintptr_t)hva,
	};

	return ioctl(vm->fd, KVISOR_SET_MEMORY_REGION, &r) ? -errno : 0;
}

void vm_load(struct vm *vm, uint64_t gpa, const void *src, size_t len)
{
	if (gpa + len > GUEST_MEM_SIZE)
		abort();
	memcpy(vm->mem + gpa, src, len);
}

void vm_load_code(struct vm *vm, const uint8_t *start, const uint8_t *end)
{
	vm_load(vm, CODE_GPA, start, end - start);
}

int vcpu_add(struct vm *vm, struct vcpu *v, int id)
{
	long size;

	memset(v, 0, sizeof(*v));
	v->vm = vm;
	v->id = id;
	v->fd = ioctl(vm->fd, KVISOR_CREATE_VCPU, id);
	if (v->fd < 0)
		return -errno;
	size = ioctl(vm->sys_fd, KVISOR_GET_VCPU_MMAP_SIZE, 0);
	if (size < (long)sizeof(struct kvisor_run)) {
		int r = size < 0 ? -errno : -ERANGE;

		close(v->fd);
		v->fd = -1;
		return r;
	}
	v->run_size = size;
	v->run = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, v->fd, 0);
	if (v->run == MAP_FAILED) {
		int r = -errno;

		v->run = NULL;
		close(v->fd);
		v->fd = -1;
		return r;
	}
	return 0;
}

void vcpu_close(struct vcpu *v)
{
	if (v->run)
		munmap(v->run, v->run_size);
	if (v->fd >= 0)
		close(v->fd);
	v->run = NULL;
	v->fd = -1;
}

/* --- modes ---------------------------------------------------------------- */

static void gdt_write(struct vm *vm)
{
	uint64_t *gdt = (uint64_t *)(vm->mem + GDT_GPA);
	uint64_t tss = TSS_GPA;

	memset(gdt, 0, 0x50);
	gdt[SEL_CODE64 / 8] = 0x00af9b000000ffffull;	/* L, P, DPL0, code */
	gdt[SEL_CODE32 / 8] = 0x00cf9b000000ffffull;	/* D, G, 4 GiB */
	gdt[SEL_DATA / 8]   = 0x00cf93000000ffffull;
	gdt[SEL_CODE16 / 8] = 0x00009b000000ffffull | ((uint64_t)CODE_GPA << 16);
	gdt[SEL_DATA16 / 8] = 0x000093000000ffffull | ((uint64_t)DATA_GPA << 16);
	/* 64-bit busy TSS, limit 0x67 */
	gdt[SEL_TSS / 8] = 0x67 | ((tss & 0xffffff) << 16) | (0x8bull << 40) |
			   ((tss >> 24) << 56);
	gdt[SEL_TSS / 8 + 1] = tss >> 32;
	gdt[SEL_UCODE64 / 8] = 0x00affb000000ffffull;	/* DPL 3 */
	gdt[SEL_UDATA / 8]   = 0x00cff3000000ffffull;
	memset(vm->mem + TSS_GPA, 0, 0x68);
	/* RSP0 for interrupts from CPL 3: the top of the stack */
	*(uint64_t *)(vm->mem + TSS_GPA + 4) = STACK_TOP;
	/*
	 * No I/O permission bitmap: its base at the limit.  (With base 0 the
	 * "bitmap" would be the TSS's own first bytes, mostly zero: ports
	 * allowed at CPL 3.)
	 */
	*(uint16_t *)(vm->mem + TSS_GPA + 0x66) = 0x68;
}

/* Identity map of 4 GiB, user/writable/present, large pages. */
static void page_tables_write(struct vm *vm, enum guest_mode mode)
{
	uint64_t *pd = (uint64_t *)(vm->mem + PD_GPA);
	unsigned int i;

	if (mode == MODE_PAGED32) {
		uint32_t *pd32 = (uint32_t *)(vm->mem + PD_GPA);

		for (i = 0; i < 1024; i++)
			pd32[i] = (i << 22) | 0x87;	/* PS, U, W, P */
		return;
	}
	for (i = 0; i < 4 * 512; i++)
		pd[i] = ((uint64_t)i << 21) | 0x87;
	if (mode == MODE_PAE) {
		uint64_t *pdpt = (uint64_t *)(vm->mem + PAE_PDPT_GPA);

		for (i = 0; i < 4; i++)
			pdpt[i] = (PD_GPA + i * 0x1000) | 1;	/* only P: others reserved */
	} else {
		uint64_t *pml4 = (uint64_t *)(vm->mem + PML4_GPA);
		uint64_t *pdpt = (uint64_t *)(vm->mem + PDPT_GPA);

		memset(pml4, 0, 0x1000);
		memset(pdpt, 0, 0x1000);
		pml4[0] = PDPT_GPA | 7;
		for (i = 0; i < 4; i++)
			pdpt[i] = (PD_GPA + i * 0x1000) | 7;
	}
}

/* 256 interrupt gates (DPL 3, so INT n works from anywhere) to the stubs. */
static void idt64_write(struct vm *vm)
{
	uint64_t *idt = (uint64_t *)(vm->mem + IDT_GPA);
	unsigned int i;

	vm_load(vm, STUBS_GPA, guest_stubs, guest_stubs_end - guest_stubs);
	for (i = 0; i < 256; i++) {
		uint64_t h = STUBS_GPA + i * 16;

		idt[2 * i] = (h & 0xffff) | ((uint64_t)SEL_CODE64 << 16) |
			     (0xeeull << 40) | ((h >> 16 & 0xffff) << 48);
		idt[2 * i + 1] = h >> 32;
	}
}

static struct kvisor_segment seg(uint16_t sel, uint64_t base, uint32_t limit,
				 uint8_t type, bool db, bool l, bool g)
{
	struct kvisor_segment s = {
		.base = base, .limit = limit, .selector = sel, .type = type,
		.present = 1, .dpl = sel & 3, .db = db, .s = 1, .l = l, .g = g,
	};

	return s;
}

int vcpu_setup_mode(struct vcpu *v, enum guest_mode mode, uint64_t rip)
{
	struct kvisor_sregs s;
	struct kvisor_regs r;
	struct kvisor_segment code, data;
	int err;

	err = vcpu_get_sregs(v, &s);
	if (err)
		return err;
	gdt_write(v->vm);
	memset(&r, 0, sizeof(r));
	r.rflags = 2;
	r.rip = rip;
	r.rsp = STACK_TOP;

	switch (mode) {
	case MODE_REAL:
		code = seg(CODE_GPA >> 4, CODE_GPA, 0xffff, 0xb, 0, 0, 0);
		data = seg(DATA_GPA >> 4, DATA_GPA, 0xffff, 0x3, 0, 0, 0);
		r.rip = rip - CODE_GPA;
		r.rsp = 0xfff0;
		break;
	case MODE_PROT16:
		code = seg(SEL_CODE16, CODE_GPA, 0xffff, 0xb, 0, 0, 0);
		data = seg(SEL_DATA16, DATA_GPA, 0xffff, 0x3, 0, 0, 0);
		r.rip = rip - CODE_GPA;
		r.rsp = 0xfff0;
		break;
	case MODE_LONG:
		code = seg(SEL_CODE64, 0, 0xffffffff, 0xb, 0, 1, 1);
		data = seg(SEL_DATA, 0, 0xffffffff, 0x3, 1, 0, 1);
		break;
	default:
		code = seg(SEL_CODE32, 0, 0xffffffff, 0xb, 1, 0, 1);
		data = seg(SEL_DATA, 0, 0xffffffff, 0x3, 1, 0, 1);
		break;
	}
	s.cs = code;
	s.ds = s.es = s.fs = s.gs = s.ss = data;
	memset(&s.tr, 0, sizeof(s.tr));
	s.tr.base = TSS_GPA;
	s.tr.limit = 0x67;
	s.tr.selector = SEL_TSS;
	s.tr.type = 0xb;
	s.tr.present = 1;
	memset(&s.ldt, 0, sizeof(s.ldt));
	s.ldt.type = 2;
	s.ldt.unusable = 1;
	memset(&s.gdt, 0, sizeof(s.gdt));
	memset(&s.idt, 0, sizeof(s.idt));
	s.gdt.base = GDT_GPA;
	s.gdt.limit = 0x4f;
	s.cr2 = 0;
	s.cr8 = 0;

	switch (mode) {
	case MODE_REAL:
		s.idt.limit = 0x3ff;	/* the IVT at 0 */
		s.cr0 = 0x10;		/* ET */
		s.cr3 = s.cr4 = s.efer = 0;
		break;
	case MODE_PROT16:
	case MODE_PROT32:
		s.cr0 = 0x11;		/* PE, ET */
		s.cr3 = s.cr4 = s.efer = 0;
		break;
	case MODE_PAGED32:
		page_tables_write(v->vm, mode);
		s.cr0 = 0x80000011;	/* PG, ET, PE */
		s.cr3 = PD_GPA;
		s.cr4 = 0x10;		/* PSE */
		s.efer = 0;
		break;
	case MODE_PAE:
		page_tables_write(v->vm, mode);
		s.cr0 = 0x80000011;
		s.cr3 = PAE_PDPT_GPA;
		s.cr4 = 0x20;		/* PAE */
		s.efer = 0;
		break;
	case MODE_LONG:
		page_tables_write(v->vm, mode);
		idt64_write(v->vm);
		s.idt.base = IDT_GPA;
		s.idt.limit = 256 * 16 - 1;
		s.cr0 = 0x80050033;	/* PG, AM, WP, NE, ET, MP, PE */
		s.cr3 = PML4_GPA;
		s.cr4 = 0x620;		/* OSXMMEXCPT, OSFXSR, PAE */
		s.efer = 0x500;		/* LMA, LME */
		break;
	default:
		return -EINVAL;
	}
	err = vcpu_set_sregs(v, &s);
	if (err)
		return err;
	return vcpu_set_regs(v, &r);
}

/* --- ioctls -------------------------------------------------------------- */

int vcpu_run(struct vcpu *v)
{
	return ioctl(v->fd, KVISOR_RUN, 0) ? -errno : 0;
}

int vcpu_get_regs(struct vcpu *v, struct kvisor_regs *r)
{
	return ioctl(v->fd, KVISOR_GET_REGS, r) ? -errno : 0;
}

int vcpu_set_regs(struct vcpu *v, const struct kvisor_regs *r)
{
	return ioctl(v->fd, KVISOR_SET_REGS, r) ? -errno : 0;
}

int vcpu_get_sregs(struct vcpu *v, struct kvisor_sregs *s)
{
	return ioctl(v->fd, KVISOR_GET_SREGS, s) ? -errno : 0;
}

int vcpu_set_sregs(struct vcpu *v, const struct kvisor_sregs *s)
{
	return ioctl(v->fd, KVISOR_SET_SREGS, s) ? -errno : 0;
}

static int msr_io(struct vcpu *v, unsigned long req, uint32_t index, uint64_t *val)
{
	struct {
		struct kvisor_msrs h;
		struct kvisor_msr_entry e;
	} m = { .h.nmsrs = 1, .e.index = index, .e.data = *val };
	int r = ioctl(v->fd, req, &m);

	if (r < 0)
		return -errno;
	*val = m.e.data;
	return r;
}

int vcpu_get_msr(struct vcpu *v, uint32_t index, uint64_t *val)
{
	*val = 0;
	return msr_io(v, KVISOR_GET_MSRS, index, val);
}

int vcpu_set_msr(struct vcpu *v, uint32_t index, uint64_t val)
{
	return msr_io(v, KVISOR_SET_MSRS, index, &val);
}

int vcpu_get_stats(struct vcpu *v, struct kvisor_vcpu_stats *st)
{
	return ioctl(v->fd, KVISOR_GET_STATS, st) ? -errno : 0;
}

int vcpu_inject(struct vcpu *v, uint32_t type, uint32_t vector, int error_code)
{
	struct kvisor_event e = { .type = type, .vector = vector };

	if (error_code >= 0) {
		e.flags = KVISOR_EVENT_HAS_ERROR_CODE;
		e.error_code = error_code;
	}
	return ioctl(v->fd, KVISOR_INJECT_EVENT, &e) ? -errno : 0;
}

/* --- exits --------------------------------------------------------------- */

void *vcpu_io_data(struct vcpu *v)
{
	return (uint8_t *)v->run + v->run->io.data_offset;
}

uint32_t vcpu_io_value(struct vcpu *v)
{
	uint32_t val = 0;

	if (v->run->io.data_offset + 4 > v->run_size)
		return 0xdeadbeef;
	memcpy(&val, vcpu_io_data(v), v->run->io.size <= 4 ? v->run->io.size : 4);
	return val;
}

void vcpu_io_set(struct vcpu *v, uint32_t val)
{
	memcpy(vcpu_io_data(v), &val, v->run->io.size <= 4 ? v->run->io.size : 4);
}

const char *exit_name(unsigned int reason)
{
	static const char *const names[] = {
		"UNKNOWN", "HLT", "IO", "MMIO", "HYPERCALL", "SHUTDOWN",
		"FAIL_ENTRY", "INTR", "INTERNAL_ERROR", "IRQ_WINDOW_OPEN",
	};

	return reason < sizeof(names) / sizeof(names[0]) ? names[reason] : "?";
}

const char *vcpu_exit_str(struct vcpu *v)
{
	static char buf[256];
	struct kvisor_run *run = v->run;
	struct kvisor_regs r;
	int n;

	n = snprintf(buf, sizeof(buf), "exit %s (%u)", exit_name(run->exit_reason),
		     run->exit_reason);
	switch (run->exit_reason) {
	case KVISOR_EXIT_IO:
		n += snprintf(buf + n, sizeof(buf) - n, ": %s port %#x size %u count %u value %#x",
			      run->io.direction == KVISOR_EXIT_IO_OUT ? "OUT" : "IN",
			      run->io.port, run->io.size, run->io.count,
			      vcpu_io_value(v));
		break;
	case KVISOR_EXIT_MMIO:
		n += snprintf(buf + n, sizeof(buf) - n, ": %s gpa %#llx len %u data %#llx",
			      run->mmio.is_write ? "write" : "read",
			      (unsigned long long)run->mmio.phys_addr, run->mmio.len,
			      *(unsigned long long *)run->mmio.data);
		break;
	case KVISOR_EXIT_HYPERCALL:
		n += snprintf(buf + n, sizeof(buf) - n, ": nr %#llx",
			      (unsigned long long)run->hypercall.nr);
		break;
	case KVISOR_EXIT_FAIL_ENTRY:
		n += snprintf(buf + n, sizeof(buf) - n, ": hw %#llx error %#llx",
			      (unsigned long long)run->fail_entry.hardware_reason,
			      (unsigned long long)run->fail_entry.error);
		break;
	case KVISOR_EXIT_INTERNAL_ERROR:
		n += snprintf(buf + n, sizeof(buf) - n, ": suberror %u hw %#llx gpa %#llx len %u",
			      run->internal.suberror,
			      (unsigned long long)run->internal.hardware_reason,
			      (unsigned long long)run->internal.gpa, run->internal.insn_len);
		break;
	}
	if (n < (int)sizeof(buf) && !vcpu_get_regs(v, &r))
		snprintf(buf + n, sizeof(buf) - n, "; rip %#llx rax %#llx",
			 (unsigned long long)r.rip, (unsigned long long)r.rax);
	return buf;
}

int vcpu_enter_cpl3(struct vcpu *v)
{
	struct kvisor_sregs s;
	int e = vcpu_get_sregs(v, &s);

	if (e)
		return e;
	s.cs.selector = SEL_UCODE64;
	s.cs.dpl = 3;
	s.ss.selector = s.ds.selector = s.es.selector = SEL_UDATA;
	s.ss.dpl = s.ds.dpl = s.es.dpl = 3;
	return vcpu_set_sregs(v, &s);
}
