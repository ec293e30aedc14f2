/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Running guests from a selftest: a VM with 2 MiB of RAM at GPA 0, vCPUs
 * set up in any x86 mode straight from SET_SREGS, guest code assembled
 * into the test binary, and run-until-exit helpers that fail with a
 * message saying what the guest did instead.
 *
 * Guest physical memory map (identity mapped in the paging modes, 4 GiB):
 */
#ifndef KVISOR_VM_H
#define KVISOR_VM_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <linux/kvisor.h>

#include "kvisor_test.h"

/* EXPECT_EQ(1, run->field) compares int with unsigned: fine here. */
#pragma GCC diagnostic ignored "-Wsign-compare"

#define GUEST_MEM_SIZE	0x200000	/* slot 0: RAM 0 .. 2 MiB */
#define GDT_GPA		0x500		/* GDT, selectors below */
#define TSS_GPA		0x600
#define IDT_GPA		0x1000		/* 64-bit IDT: 256 gates to the stubs */
#define PML4_GPA	0x2000
#define PDPT_GPA	0x3000		/* long mode */
#define PAE_PDPT_GPA	0x3800		/* PAE */
#define PD_GPA		0x4000		/* 4 page directories (4 MiB/2 MiB pages) */
#define STUBS_GPA	0x8000		/* 64-bit exception stubs (lib/guest.c) */
#define CODE_GPA	0x10000		/* the test's guest code: RIP here */
#define DATA_GPA	0x20000		/* free for tests */
#define STACK_TOP	0x40000
#define MMIO_GPA	0xc0000000ull	/* outside every region: MMIO */

#define SEL_CODE64	0x08
#define SEL_CODE32	0x10
#define SEL_DATA	0x18
#define SEL_CODE16	0x20		/* base CODE_GPA, 64 KiB */
#define SEL_DATA16	0x28		/* base DATA_GPA, 64 KiB */
#define SEL_TSS		0x30		/* 16 bytes in long mode */
#define SEL_UCODE64	0x43		/* DPL 3 */
#define SEL_UDATA	0x4b		/* DPL 3 */

/*
 * Guest ports.  PORT_REPORT is what guests use to report values; the
 * exception stubs report vector, error code and RIP (low 32 bits) on the
 * PORT_EXC_* ports, then HLT, then IRET when run again.
 */
#define PORT_REPORT	0x10
#define PORT_EXC_VECTOR	0xe0
#define PORT_EXC_ERROR	0xe1
#define PORT_EXC_RIP	0xe2

enum guest_mode {
	MODE_REAL,	/* CS:IP = CODE_GPA>>4:0, DS=ES=SS = DATA_GPA>>4, SP 0xfff0 */
	MODE_PROT16,	/* CS = SEL_CODE16 (base CODE_GPA), IP 0; DS/SS base DATA_GPA */
	MODE_PROT32,	/* flat, no paging */
	MODE_PAGED32,	/* flat, 2-level paging with 4 MiB pages */
	MODE_PAE,	/* flat, PAE paging with 2 MiB pages */
	MODE_LONG,	/* 64-bit, 4-level paging with 2 MiB pages, IDT to stubs */
	MODE_NR
};
extern const char *const guest_mode_name[MODE_NR];

struct vm {
	int sys_fd;
	int fd;
	uint8_t *mem;		/* slot 0, GUEST_MEM_SIZE bytes */
};

struct vcpu {
	struct vm *vm;
	int fd;
	int id;
	struct kvisor_run *run;
	size_t run_size;
};

/* Guest code assembled into the test: GUEST_ASM(name, "insn\n" ...). */
#define GUEST_ASM(name, text)						\
	extern const uint8_t name[], name##_end[];			\
	asm(".pushsection .rodata.guest, \"a\"\n"			\
	    ".balign 16\n"						\
	    ".globl " #name "\n" #name ":\n"				\
	    ".intel_syntax noprefix\n"					\
	    text "\n"							\
	    ".att_syntax prefix\n"					\
	    ".code64\n"							\
	    ".globl " #name "_end\n" #name "_end:\n"			\
	    ".popsection\n")
#define GUEST_LEN(name)	((size_t)(name##_end - name))

/* -ENXIO: no VT-x/AMD-V in this box.  Else 0 or -errno. */
int vm_create(struct vm *vm);
void vm_destroy(struct vm *vm);
/* SET_MEMORY_REGION; 0 or -errno. */
int vm_set_region(struct vm *vm, uint32_t slot, uint32_t flags, uint64_t gpa,
		  uint64_t size, void *hva);
void vm_load(struct vm *vm, uint64_t gpa, const void *src, size_t len);
/* Put a guest's code at CODE_GPA. */
void vm_load_code(struct vm *vm, const uint8_t *start, const uint8_t *end);

int vcpu_add(struct vm *vm, struct vcpu *v, int id);	/* 0 or -errno */
void vcpu_close(struct vcpu *v);
/* Write tables for @mode into guest memory, set sregs/regs; RIP = @rip. */
int vcpu_setup_mode(struct vcpu *v, enum guest_mode mode, uint64_t rip);
/* Long mode as set up above, moved to CPL 3 (user code and data). 0 or -errno. */
int vcpu_enter_cpl3(struct vcpu *v);
/* KVISOR_RUN: 0 or -errno. */
int vcpu_run(struct vcpu *v);
int vcpu_get_regs(struct vcpu *v, struct kvisor_regs *r);
int vcpu_set_regs(struct vcpu *v, const struct kvisor_regs *r);
int vcpu_get_sregs(struct vcpu *v, struct kvisor_sregs *s);
int vcpu_set_sregs(struct vcpu *v, const struct kvisor_sregs *s);
/* One MSR through GET/SET_MSRS: 1 (done), 0 (refused) or -errno. */
int vcpu_get_msr(struct vcpu *v, uint32_t index, uint64_t *val);
int vcpu_set_msr(struct vcpu *v, uint32_t index, uint64_t val);
int vcpu_get_stats(struct vcpu *v, struct kvisor_vcpu_stats *st);
int vcpu_inject(struct vcpu *v, uint32_t type, uint32_t vector, int error_code);

/* The IN/OUT data in the run page, and the first item as a number. */
void *vcpu_io_data(struct vcpu *v);
uint32_t vcpu_io_value(struct vcpu *v);
void vcpu_io_set(struct vcpu *v, uint32_t val);	/* for IN */
/* A description of the last exit, for failure messages (static buffer). */
const char *vcpu_exit_str(struct vcpu *v);
const char *exit_name(unsigned int reason);

/* The 64-bit exception stubs of lib/guest.c, loaded at STUBS_GPA. */
extern const uint8_t guest_stubs[], guest_stubs_end[];

/*
 * Test-side helpers: they ASSERT, so use them in the test's main thread,
 * after kselftest_harness.h.
 */

/*
 * Why kvisor may refuse VMs here (CHECK_EXTENSION says no nested paging
 * or no unrestricted guest, or it was loaded with vmx_vms=0), or NULL when
 * it should run them.
 */
const char *vm_refusal_reason(void);

/*
 * Create @vm, or SKIP without virtualization or where kvisor rightly
 * refuses VMs; any other refusal fails the test.
 */
#define VM_CREATE_OR_SKIP(vm) do {					\
	int __r = vm_create(vm);					\
	const char *__why;						\
	if (__r == -ENXIO)						\
		SKIP(return, "no VT-x or AMD-V in this box");		\
	__why = __r == -EOPNOTSUPP ? vm_refusal_reason() : NULL;	\
	if (__why)							\
		SKIP(return, "kvisor refuses VMs here: %s", __why);	\
	ASSERT_EQ(0, __r) TH_LOG("creating a VM: %s", strerror(-__r));	\
} while (0)

/* VM + vCPU 0 in @mode running the guest @code. */
#define GUEST_SETUP(vm, v, mode, code) do {				\
	int __s;							\
	VM_CREATE_OR_SKIP(vm);						\
	__s = vcpu_add(vm, v, 0);					\
	ASSERT_EQ(0, __s) TH_LOG("CREATE_VCPU 0: %s", strerror(-__s));	\
	vm_load_code(vm, code, code##_end);				\
	__s = vcpu_setup_mode(v, mode, CODE_GPA);			\
	ASSERT_EQ(0, __s) TH_LOG("setting up %s mode: %s",		\
				 guest_mode_name[mode], strerror(-__s));	\
} while (0)

/* Run; the exit must be @reason. */
#define RUN_EXPECT(v, reason) do {					\
	int __r = vcpu_run(v);						\
	int __want = (reason) == KVISOR_EXIT_INTR ? -EINTR : 0;	\
	ASSERT_EQ(__want, __r) TH_LOG("RUN: %s; %s",			\
				      strerror(-__r), vcpu_exit_str(v)); \
	ASSERT_EQ((unsigned int)(reason), (v)->run->exit_reason)	\
		TH_LOG("expected exit %s, got %s", exit_name(reason),	\
		       vcpu_exit_str(v));				\
} while (0)

/* Run; the exit must be an OUT of one item to @port.  Its value. */
#define EXPECT_OUT(v, p_) ({						\
	RUN_EXPECT(v, KVISOR_EXIT_IO);					\
	ASSERT_EQ(KVISOR_EXIT_IO_OUT, (v)->run->io.direction)		\
		TH_LOG("expected OUT %#x, got %s", p_, vcpu_exit_str(v)); \
	ASSERT_EQ(p_, (v)->run->io.port)				\
		TH_LOG("expected OUT %#x, got %s", p_, vcpu_exit_str(v)); \
	vcpu_io_value(v);						\
})

/* Run; the guest must take exception @vec (64-bit stubs).  Its RIP. */
#define EXPECT_EXCEPTION(v, vec, errp) ({				\
	uint32_t __vec = EXPECT_OUT(v, PORT_EXC_VECTOR);		\
	uint32_t __err = EXPECT_OUT(v, PORT_EXC_ERROR);			\
	uint32_t __rip = EXPECT_OUT(v, PORT_EXC_RIP);			\
	ASSERT_EQ((uint32_t)(vec), __vec) TH_LOG("guest exception %u at rip %#x, error %#x", \
						 __vec, __rip, __err);	\
	RUN_EXPECT(v, KVISOR_EXIT_HLT);					\
	uint32_t *__errp = (errp);					\
	if (__errp)							\
		*__errp = __err;					\
	__rip;								\
})

#endif /* KVISOR_VM_H */
