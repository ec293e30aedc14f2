// SPDX-License-Identifier: GPL-2.0
/*
 * The API contract of Documentation/api.rst, one test per rule that a VMM
 * written from the document alone relies on (issue 19): where RIP points
 * after each kind of exit and what the next RUN does, the reset state,
 * the SET_SREGS/SET_REGS rules, the internal-error fields, the counters,
 * CHECK_EXTENSION on a VM fd, and the errnos.  The same values on both
 * vendors: nothing here depends on KVISOR_CAP_VENDOR.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>

#include "kselftest_harness.h"
#include "kvisor_test.h"
#include "vm.h"

#define STR(x)	#x
#define XSTR(x)	STR(x)

/* ---------------------------------------------------------------- */
/* 1. HLT without an irqchip                                        */
/* ---------------------------------------------------------------- */

GUEST_ASM(g_cli_hlt,
	"cli\n"
	"hlt\n"				/* CODE_GPA + 1 */
	"mov al, 0x5a\n"		/* CODE_GPA + 2 */
	"out " XSTR(PORT_REPORT) ", al\n"
	"hlt\n");

TEST(hlt_rip_after_and_resumes_with_if_clear)
{
	struct kvisor_regs r;
	struct vm vm;
	struct vcpu v;

	GUEST_SETUP(&vm, &v, MODE_LONG, g_cli_hlt);
	RUN_EXPECT(&v, KVISOR_EXIT_HLT);
	ASSERT_EQ(0, vcpu_get_regs(&v, &r));
	EXPECT_EQ(CODE_GPA + 2, r.rip) TH_LOG("RIP after HLT");
	EXPECT_EQ(0, r.rflags & (1u << 9)) TH_LOG("IF must be clear");
	EXPECT_EQ(0, v.run->if_flag);
	/* the next RUN resumes after the HLT at once, IF=0 or not */
	EXPECT_EQ(0x5a, EXPECT_OUT(&v, PORT_REPORT) & 0xff);
	vcpu_close(&v);
	vm_destroy(&vm);
}

/* ---------------------------------------------------------------- */
/* 2, 3, 4: SET_SREGS and the reset state                          */
/* ---------------------------------------------------------------- */

TEST(reset_state)
{
	struct kvisor_sregs s;
	struct kvisor_regs r;
	uint32_t id[4];
	struct vm vm;
	struct vcpu v;

	VM_CREATE_OR_SKIP(&vm);
	ASSERT_EQ(0, vcpu_add(&vm, &v, 0));
	/* no RUN yet: no exit reason */
	EXPECT_EQ(KVISOR_EXIT_UNKNOWN, v.run->exit_reason);
	ASSERT_EQ(0, vcpu_get_sregs(&v, &s));
	ASSERT_EQ(0, vcpu_get_regs(&v, &r));
	cpuid_count(1, 0, id);

	EXPECT_EQ(0xf000, s.cs.selector);
	EXPECT_EQ(0xffff0000, s.cs.base);
	EXPECT_EQ(0xffff, s.cs.limit);
	EXPECT_EQ(0xb, s.cs.type);
	EXPECT_EQ(1, s.cs.s);
	EXPECT_EQ(1, s.cs.present);
	EXPECT_EQ(0, s.cs.dpl + s.cs.db + s.cs.l + s.cs.g + s.cs.avl + s.cs.unusable);
#define DATA_SEG(seg) do {						\
	EXPECT_EQ(0, s.seg.selector);					\
	EXPECT_EQ(0, s.seg.base);					\
	EXPECT_EQ(0xffff, s.seg.limit);					\
	EXPECT_EQ(3, s.seg.type);					\
	EXPECT_EQ(1, s.seg.s);						\
	EXPECT_EQ(1, s.seg.present);					\
	EXPECT_EQ(0, s.seg.dpl + s.seg.db + s.seg.l + s.seg.g + s.seg.unusable); \
} while (0)
	DATA_SEG(ds);
	DATA_SEG(es);
	DATA_SEG(fs);
	DATA_SEG(gs);
	DATA_SEG(ss);
	EXPECT_EQ(0, s.tr.selector);
	EXPECT_EQ(0, s.tr.base);
	EXPECT_EQ(0xffff, s.tr.limit);
	EXPECT_EQ(11, s.tr.type);
	EXPECT_EQ(0, s.tr.s);
	EXPECT_EQ(1, s.tr.present);
	EXPECT_EQ(0, s.tr.unusable);
	EXPECT_EQ(0, s.ldt.selector);
	EXPECT_EQ(0, s.ldt.base);
	EXPECT_EQ(0xffff, s.ldt.limit);
	EXPECT_EQ(2, s.ldt.type);
	EXPECT_EQ(0, s.ldt.s);
	EXPECT_EQ(1, s.ldt.present);
	EXPECT_EQ(0, s.gdt.base);
	EXPECT_EQ(0xffff, s.gdt.limit);
	EXPECT_EQ(0, s.idt.base);
	EXPECT_EQ(0xffff, s.idt.limit);
	EXPECT_EQ(0x10, s.cr0);
	EXPECT_EQ(0, s.cr2 | s.cr3 | s.cr4 | s.cr8 | s.efer);
	EXPECT_EQ(0xfee00900, s.apic_base);
	EXPECT_EQ(0xfff0, r.rip);
	EXPECT_EQ(2, r.rflags);
	EXPECT_EQ(id[0], r.rdx);
	EXPECT_EQ(0, r.rax | r.rbx | r.rcx | r.rsi | r.rdi | r.rsp | r.rbp |
		     r.r8 | r.r9 | r.r10 | r.r11 | r.r12 | r.r13 | r.r14 | r.r15);
	/* vCPU 1 is not the BSP */
	{
		struct vcpu v1;

		ASSERT_EQ(0, vcpu_add(&vm, &v1, 1));
		ASSERT_EQ(0, vcpu_get_sregs(&v1, &s));
		EXPECT_EQ(0xfee00800, s.apic_base);
		vcpu_close(&v1);
	}
	/* the reset state is a valid SET_SREGS argument */
	ASSERT_EQ(0, vcpu_get_sregs(&v, &s));
	EXPECT_EQ(0, vcpu_set_sregs(&v, &s));
	vcpu_close(&v);
	vm_destroy(&vm);
}

TEST(efer_lma_is_derived)
{
	struct kvisor_sregs s, got;
	struct vm vm;
	struct vcpu v;

	VM_CREATE_OR_SKIP(&vm);
	ASSERT_EQ(0, vcpu_add(&vm, &v, 0));
	ASSERT_EQ(0, vcpu_get_sregs(&v, &s));
	s.efer = 1u << 10;		/* LMA alone, real mode: dropped */
	ASSERT_EQ(0, vcpu_set_sregs(&v, &s));
	ASSERT_EQ(0, vcpu_get_sregs(&v, &got));
	EXPECT_EQ(0, got.efer);
	s.efer = 1u << 8;		/* LME alone: kept, no LMA */
	ASSERT_EQ(0, vcpu_set_sregs(&v, &s));
	ASSERT_EQ(0, vcpu_get_sregs(&v, &got));
	EXPECT_EQ(1u << 8, got.efer);
	/* long mode from SET_SREGS with LME only: LMA appears */
	vm_load_code(&vm, g_cli_hlt, g_cli_hlt_end);
	ASSERT_EQ(0, vcpu_setup_mode(&v, MODE_LONG, CODE_GPA));
	ASSERT_EQ(0, vcpu_get_sregs(&v, &s));
	s.efer &= ~(1ull << 10);
	ASSERT_EQ(0, vcpu_set_sregs(&v, &s));
	ASSERT_EQ(0, vcpu_get_sregs(&v, &got));
	EXPECT_EQ((1u << 8) | (1u << 10), got.efer & ((1u << 8) | (1u << 10)));
	RUN_EXPECT(&v, KVISOR_EXIT_HLT);
	vcpu_close(&v);
	vm_destroy(&vm);
}

GUEST_ASM(g_hlt, "hlt\n");

TEST(segment_rules)
{
	struct kvisor_sregs good, s;
	struct vm vm;
	struct vcpu v;

	GUEST_SETUP(&vm, &v, MODE_LONG, g_hlt);
	ASSERT_EQ(0, vcpu_get_sregs(&v, &good));

	/* type is 4 bits, S separate: 0x13 is not "data with S" */
	s = good;
	s.ds.type = 0x13;
	EXPECT_EQ(-EINVAL, vcpu_set_sregs(&v, &s));
	s = good;
	s.ds.present = 2;
	EXPECT_EQ(-EINVAL, vcpu_set_sregs(&v, &s));
	s = good;
	s.ds.dpl = 4;
	EXPECT_EQ(-EINVAL, vcpu_set_sregs(&v, &s));

	/* limit and G must agree for a usable segment */
	s = good;
	s.ds.limit = 0x12345;
	s.ds.g = 1;
	EXPECT_EQ(-EINVAL, vcpu_set_sregs(&v, &s)) TH_LOG("limit 0x12345, G=1");
	s.ds.g = 0;
	EXPECT_EQ(0, vcpu_set_sregs(&v, &s)) TH_LOG("limit 0x12345, G=0");
	s = good;
	s.ss.limit = 0x100000;
	s.ss.g = 0;
	EXPECT_EQ(-EINVAL, vcpu_set_sregs(&v, &s)) TH_LOG("limit 0x100000, G=0");
	s.ss.limit = 0x100fff;
	s.ss.g = 1;
	EXPECT_EQ(0, vcpu_set_sregs(&v, &s)) TH_LOG("limit 0x100fff, G=1");
	s = good;
	s.cs.limit = 0xffffe;
	s.cs.g = 1;
	EXPECT_EQ(-EINVAL, vcpu_set_sregs(&v, &s)) TH_LOG("CS limit 0xffffe, G=1");
	s = good;
	s.tr.limit = 0x1000;
	s.tr.g = 1;
	EXPECT_EQ(-EINVAL, vcpu_set_sregs(&v, &s)) TH_LOG("TR limit 0x1000, G=1");
	/* an unusable segment's limit is not checked */
	s = good;
	s.fs.unusable = 1;
	s.fs.present = 0;
	s.fs.limit = 0x12345;
	s.fs.g = 1;
	EXPECT_EQ(0, vcpu_set_sregs(&v, &s));

	/* TR: a present busy TSS; 64-bit (11) in long mode */
	s = good;
	s.tr.type = 9;
	EXPECT_EQ(-EINVAL, vcpu_set_sregs(&v, &s)) TH_LOG("TR type 9");
	s.tr.type = 3;
	EXPECT_EQ(-EINVAL, vcpu_set_sregs(&v, &s)) TH_LOG("TR type 3 in long mode");
	s.tr.type = 11;
	s.tr.present = 0;
	EXPECT_EQ(-EINVAL, vcpu_set_sregs(&v, &s)) TH_LOG("TR not present");
	s.tr.present = 1;
	s.tr.unusable = 1;
	EXPECT_EQ(-EINVAL, vcpu_set_sregs(&v, &s)) TH_LOG("TR unusable");
	s = good;
	s.tr.s = 1;
	EXPECT_EQ(-EINVAL, vcpu_set_sregs(&v, &s)) TH_LOG("TR with S");
	/* LDT: unusable, or a present LDT descriptor */
	s = good;
	s.ldt.unusable = 0;
	s.ldt.present = 1;
	s.ldt.type = 3;
	EXPECT_EQ(-EINVAL, vcpu_set_sregs(&v, &s)) TH_LOG("LDT type 3");
	s.ldt.type = 2;
	s.ldt.limit = 0xffff;
	EXPECT_EQ(0, vcpu_set_sregs(&v, &s)) TH_LOG("LDT type 2");

	/* CR0: NW without CD, PG without PE */
	s = good;
	s.cr0 = (s.cr0 | (1u << 29)) & ~(1u << 30);
	EXPECT_EQ(-EINVAL, vcpu_set_sregs(&v, &s)) TH_LOG("CR0 NW without CD");
	s = good;
	s.cr0 &= ~1ull;
	EXPECT_EQ(-EINVAL, vcpu_set_sregs(&v, &s)) TH_LOG("CR0 PG without PE");

	/* the good state still runs, on both vendors */
	ASSERT_EQ(0, vcpu_set_sregs(&v, &good));
	RUN_EXPECT(&v, KVISOR_EXIT_HLT);
	/* and GET_SREGS after a run is a valid SET_SREGS argument */
	ASSERT_EQ(0, vcpu_get_sregs(&v, &s));
	EXPECT_EQ(0, vcpu_set_sregs(&v, &s));
	vcpu_close(&v);
	vm_destroy(&vm);
}

/* 16-bit TSS in TR outside long mode is fine */
TEST(tr_16bit_tss_outside_long_mode)
{
	struct kvisor_sregs s;
	struct vm vm;
	struct vcpu v;

	GUEST_SETUP(&vm, &v, MODE_PROT32, g_hlt);
	ASSERT_EQ(0, vcpu_get_sregs(&v, &s));
	s.tr.type = 3;
	s.tr.limit = 0x2b;
	EXPECT_EQ(0, vcpu_set_sregs(&v, &s));
	RUN_EXPECT(&v, KVISOR_EXIT_HLT);
	vcpu_close(&v);
	vm_destroy(&vm);
}

/* ---------------------------------------------------------------- */
/* 5, 12: system and VM fd                                          */
/* ---------------------------------------------------------------- */

TEST(vcpu_mmap_size_argument)
{
	int fd = open(KVISOR_DEV, O_RDWR);

	if (fd < 0)
		SKIP(return, "no /dev/kvisor");
	EXPECT_EQ(getpagesize(), ioctl(fd, KVISOR_GET_VCPU_MMAP_SIZE, 0));
	EXPECT_EQ(-1, ioctl(fd, KVISOR_GET_VCPU_MMAP_SIZE, 1));
	EXPECT_EQ(EINVAL, errno);
	close(fd);
}

TEST(check_extension_on_vm_fd)
{
	struct vm vm;
	long cap;

	VM_CREATE_OR_SKIP(&vm);
	EXPECT_EQ(1, ioctl(vm.sys_fd, KVISOR_CHECK_EXTENSION,
			   KVISOR_CAP_CHECK_EXTENSION_VM));
	for (cap = 0; cap <= 64; cap++) {
		long sys = ioctl(vm.sys_fd, KVISOR_CHECK_EXTENSION, cap);
		long onvm = ioctl(vm.fd, KVISOR_CHECK_EXTENSION, cap);

		EXPECT_LE(0, onvm) TH_LOG("cap %ld on the VM fd: %s", cap,
					  strerror(errno));
		EXPECT_EQ(sys, onvm) TH_LOG("cap %ld", cap);
	}
	EXPECT_EQ(1, ioctl(vm.fd, KVISOR_CHECK_EXTENSION, KVISOR_CAP_HW_ENABLED));
	vm_destroy(&vm);
}

/* ---------------------------------------------------------------- */
/* 6: completing exits                                              */
/* ---------------------------------------------------------------- */

GUEST_ASM(g_mmio_read,
	"movabs rbx, 0xc0000000\n"		/* 10 bytes */
	"mov rax, -1\n"				/* 7 bytes: CODE_GPA + 10 */
	"mov rax, [rbx]\n"			/* CODE_GPA + 17 */
	"mov rcx, -1\n"
	"mov rcx, [rbx]\n"			/* CODE_GPA + 27 */
	"hlt\n");

TEST(mmio_read_completion)
{
	struct kvisor_regs r;
	struct vm vm;
	struct vcpu v;

	GUEST_SETUP(&vm, &v, MODE_LONG, g_mmio_read);
	RUN_EXPECT(&v, KVISOR_EXIT_MMIO);
	EXPECT_EQ(0, v.run->mmio.is_write);
	EXPECT_EQ(8, v.run->mmio.len);
	EXPECT_EQ(0, *(uint64_t *)v.run->mmio.data) TH_LOG("read data not zeroed");
	/* until the next RUN, RIP is at the load and RAX untouched */
	ASSERT_EQ(0, vcpu_get_regs(&v, &r));
	EXPECT_EQ(CODE_GPA + 17, r.rip);
	EXPECT_EQ(~0ull, r.rax);
	memcpy(v.run->mmio.data, "\x11\x22\x33\x44\x55\x66\x77\x88", 8);
	RUN_EXPECT(&v, KVISOR_EXIT_MMIO);
	ASSERT_EQ(0, vcpu_get_regs(&v, &r));
	EXPECT_EQ(0x8877665544332211ull, r.rax);
	EXPECT_EQ(CODE_GPA + 27, r.rip);
	/* not filled: the guest reads zeros */
	RUN_EXPECT(&v, KVISOR_EXIT_HLT);
	ASSERT_EQ(0, vcpu_get_regs(&v, &r));
	EXPECT_EQ(0, r.rcx);
	vcpu_close(&v);
	vm_destroy(&vm);
}

GUEST_ASM(g_in,
	"out " XSTR(PORT_REPORT) ", al\n"	/* 2 bytes */
	"mov eax, -1\n"				/* 5 bytes */
	"in eax, 0x20\n"			/* CODE_GPA + 7, 2 bytes */
	"mov ebx, eax\n"
	"mov eax, -1\n"
	"in ax, 0x21\n"
	"hlt\n");

TEST(in_completion)
{
	struct kvisor_regs r;
	uint8_t *data;
	struct vm vm;
	struct vcpu v;

	GUEST_SETUP(&vm, &v, MODE_LONG, g_in);
	EXPECT_OUT(&v, PORT_REPORT);
	data = vcpu_io_data(&v);
	memset(data, 0xee, 64);
	RUN_EXPECT(&v, KVISOR_EXIT_IO);
	ASSERT_EQ(data, vcpu_io_data(&v));
	EXPECT_EQ(KVISOR_EXIT_IO_IN, v.run->io.direction);
	EXPECT_EQ(4, v.run->io.size);
	EXPECT_EQ(0, data[0] | data[1] | data[2] | data[3]) TH_LOG("IN data not zeroed");
	/* RIP is already past the IN; RAX gets the data at the next RUN */
	ASSERT_EQ(0, vcpu_get_regs(&v, &r));
	EXPECT_EQ(CODE_GPA + 9, r.rip);
	EXPECT_EQ(0xffffffffull, r.rax);
	vcpu_io_set(&v, 0x12345678);
	RUN_EXPECT(&v, KVISOR_EXIT_IO);
	EXPECT_EQ(2, v.run->io.size);
	/* not filled: zeros, the upper half of EAX kept */
	RUN_EXPECT(&v, KVISOR_EXIT_HLT);
	ASSERT_EQ(0, vcpu_get_regs(&v, &r));
	EXPECT_EQ(0x12345678, r.rbx);
	EXPECT_EQ(0xffff0000ull, r.rax);
	vcpu_close(&v);
	vm_destroy(&vm);
}

/* ---------------------------------------------------------------- */
/* 7: KVISOR_EXIT_INTERNAL_ERROR                                    */
/* ---------------------------------------------------------------- */

GUEST_ASM(g_add_mmio,
	"movabs rbx, 0xc0000000\n"		/* 10 bytes */
	"add rax, [rbx]\n"			/* CODE_GPA + 10: 48 03 03 */
	"hlt\n");

TEST(internal_error_emulation)
{
	static const uint8_t add[] = { 0x48, 0x03, 0x03, 0xf4 };
	struct kvisor_regs r;
	int i;
	struct vm vm;
	struct vcpu v;

	GUEST_SETUP(&vm, &v, MODE_LONG, g_add_mmio);
	for (i = 0; i < 2; i++) {
		/* RIP stays at the instruction: RUN repeats the error */
		RUN_EXPECT(&v, KVISOR_EXIT_INTERNAL_ERROR);
		EXPECT_EQ(KVISOR_INTERNAL_ERROR_EMULATION, v.run->internal.suberror);
		EXPECT_EQ(0, v.run->internal.hardware_reason)
			TH_LOG("hardware_reason is for UNEXPECTED only");
		EXPECT_EQ(MMIO_GPA, v.run->internal.gpa);
		/* insn_len: the bytes fetched from RIP, not the length */
		EXPECT_EQ(15, v.run->internal.insn_len);
		EXPECT_EQ(0, memcmp(add, v.run->internal.insn_bytes, sizeof(add)));
		ASSERT_EQ(0, vcpu_get_regs(&v, &r));
		EXPECT_EQ(CODE_GPA + 10, r.rip);
	}
	/* the VMM emulates it and moves RIP on: the guest continues */
	r.rax += 5;
	r.rip += 3;
	ASSERT_EQ(0, vcpu_set_regs(&v, &r));
	RUN_EXPECT(&v, KVISOR_EXIT_HLT);
	vcpu_close(&v);
	vm_destroy(&vm);
}

GUEST_ASM(g_fetch_mmio,
	"movabs rax, 0xc0000000\n"
	"jmp rax\n");

TEST(internal_error_fetch_outside_ram)
{
	struct vm vm;
	struct vcpu v;

	GUEST_SETUP(&vm, &v, MODE_LONG, g_fetch_mmio);
	RUN_EXPECT(&v, KVISOR_EXIT_INTERNAL_ERROR);
	EXPECT_EQ(KVISOR_INTERNAL_ERROR_EMULATION, v.run->internal.suberror);
	EXPECT_EQ(0, v.run->internal.insn_len);
	EXPECT_EQ(MMIO_GPA, v.run->internal.gpa);
	EXPECT_EQ(0, v.run->internal.hardware_reason);
	vcpu_close(&v);
	vm_destroy(&vm);
}

/* ---------------------------------------------------------------- */
/* 8, 9: immediate_exit and the counters                            */
/* ---------------------------------------------------------------- */

TEST(immediate_exit_stays_set)
{
	struct vm vm;
	struct vcpu v;

	GUEST_SETUP(&vm, &v, MODE_LONG, g_hlt);
	v.run->immediate_exit = 1;
	RUN_EXPECT(&v, KVISOR_EXIT_INTR);
	EXPECT_EQ(1, v.run->immediate_exit);
	RUN_EXPECT(&v, KVISOR_EXIT_INTR);
	v.run->immediate_exit = 0;
	RUN_EXPECT(&v, KVISOR_EXIT_HLT);
	vcpu_close(&v);
	vm_destroy(&vm);
}

GUEST_ASM(g_stats,
	"xor eax, eax\n"
	"cpuid\n"
	"out " XSTR(PORT_REPORT) ", al\n"
	"movabs rbx, 0xc0000000\n"
	"mov [rbx], eax\n"
	"add rax, [rbx]\n");		/* internal error: stays here */

/* EXITS equals the sum of the reason counters; SIGNAL is not a reason. */
static void check_sum(struct __test_metadata *_metadata, struct vcpu *v,
		      struct kvisor_vcpu_stats *st)
{
	uint64_t sum = 0;
	int i;

	ASSERT_EQ(0, vcpu_get_stats(v, st));
	for (i = KVISOR_STAT_HLT; i <= KVISOR_STAT_OTHER; i++)
		if (i != KVISOR_STAT_SIGNAL)
			sum += st->counters[i];
	EXPECT_EQ(st->counters[KVISOR_STAT_EXITS], sum);
}

TEST(stats_rules)
{
	struct kvisor_vcpu_stats a, b;
	struct vm vm;
	struct vcpu v;

	GUEST_SETUP(&vm, &v, MODE_LONG, g_stats);
	check_sum(_metadata, &v, &a);
	RUN_EXPECT(&v, KVISOR_EXIT_IO);
	RUN_EXPECT(&v, KVISOR_EXIT_MMIO);
	check_sum(_metadata, &v, &b);
	EXPECT_LE(1, b.counters[KVISOR_STAT_CPUID]);
	EXPECT_EQ(1, b.counters[KVISOR_STAT_IO]);
	EXPECT_EQ(1, b.counters[KVISOR_STAT_MMIO]);
	/* a RUN ended by immediate_exit is not an exit */
	v.run->immediate_exit = 1;
	RUN_EXPECT(&v, KVISOR_EXIT_INTR);
	v.run->immediate_exit = 0;
	check_sum(_metadata, &v, &a);
	EXPECT_EQ(b.counters[KVISOR_STAT_EXITS], a.counters[KVISOR_STAT_EXITS]);
	EXPECT_EQ(b.counters[KVISOR_STAT_SIGNAL] + 1, a.counters[KVISOR_STAT_SIGNAL]);
	/* an emulation failure counts under MMIO, each time */
	RUN_EXPECT(&v, KVISOR_EXIT_INTERNAL_ERROR);
	RUN_EXPECT(&v, KVISOR_EXIT_INTERNAL_ERROR);
	check_sum(_metadata, &v, &b);
	EXPECT_EQ(a.counters[KVISOR_STAT_MMIO] + 2, b.counters[KVISOR_STAT_MMIO]);
	vcpu_close(&v);
	vm_destroy(&vm);
}

GUEST_ASM(g_triple,
	"lidt [rip + zero_idt]\n"
	"int3\n"
	"zero_idt: .quad 0, 0\n");

TEST(stats_shutdown_counts_once)
{
	struct kvisor_vcpu_stats st;
	struct vm vm;
	struct vcpu v;

	GUEST_SETUP(&vm, &v, MODE_LONG, g_triple);
	RUN_EXPECT(&v, KVISOR_EXIT_SHUTDOWN);
	RUN_EXPECT(&v, KVISOR_EXIT_SHUTDOWN);
	RUN_EXPECT(&v, KVISOR_EXIT_SHUTDOWN);
	check_sum(_metadata, &v, &st);
	EXPECT_EQ(1, st.counters[KVISOR_STAT_SHUTDOWN]);
	vcpu_close(&v);
	vm_destroy(&vm);
}

/* ---------------------------------------------------------------- */
/* 11: RFLAGS                                                        */
/* ---------------------------------------------------------------- */

TEST(rflags_bit1_and_reserved)
{
	static const uint64_t reserved[] = {
		1u << 3, 1u << 5, 1u << 15, 1u << 22, 1ull << 31, 1ull << 32,
		1ull << 63,
	};
	struct kvisor_regs r;
	unsigned int i;
	struct vm vm;
	struct vcpu v;

	GUEST_SETUP(&vm, &v, MODE_LONG, g_hlt);
	ASSERT_EQ(0, vcpu_get_regs(&v, &r));
	r.rflags = 0;			/* bit 1 is set whatever is written */
	ASSERT_EQ(0, vcpu_set_regs(&v, &r));
	ASSERT_EQ(0, vcpu_get_regs(&v, &r));
	EXPECT_EQ(2, r.rflags);
	for (i = 0; i < sizeof(reserved) / sizeof(reserved[0]); i++) {
		r.rflags = 2 | reserved[i];
		EXPECT_EQ(-EINVAL, vcpu_set_regs(&v, &r))
			TH_LOG("RFLAGS %#llx", (unsigned long long)r.rflags);
	}
	r.rflags = 2;
	ASSERT_EQ(0, vcpu_set_regs(&v, &r));
	RUN_EXPECT(&v, KVISOR_EXIT_HLT);
	vcpu_close(&v);
	vm_destroy(&vm);
}

/* ---------------------------------------------------------------- */
/* 13: errnos                                                       */
/* ---------------------------------------------------------------- */

TEST(memory_region_bad_userspace_address)
{
	static const uint64_t bad[] = {
		0xffff888000000000ull,	/* kernel half */
		0x0000800000000000ull,	/* non-canonical */
		0x8000000000000000ull,
		0x00007ffffffff000ull,	/* range crosses the top of user space */
	};
	struct kvisor_memory_region r = {
		.slot = 1, .guest_phys_addr = 0x400000, .memory_size = 0x2000,
	};
	unsigned int i;
	struct vm vm;

	VM_CREATE_OR_SKIP(&vm);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		r.userspace_addr = bad[i];
		EXPECT_EQ(-1, ioctl(vm.fd, KVISOR_SET_MEMORY_REGION, &r));
		EXPECT_EQ(EINVAL, errno) TH_LOG("%#llx", (unsigned long long)bad[i]);
	}
	/* a user address with nothing mapped: EFAULT */
	r.userspace_addr = 0x10000000000ull;
	EXPECT_EQ(-1, ioctl(vm.fd, KVISOR_SET_MEMORY_REGION, &r));
	EXPECT_EQ(EFAULT, errno);
	vm_destroy(&vm);
}

TEST(cpuid_get_after_set_and_large_nent)
{
	struct {
		struct kvisor_cpuid h;
		struct kvisor_cpuid_entry e[300];
	} set, got;
	struct vm vm;
	struct vcpu v;
	int i;

	VM_CREATE_OR_SKIP(&vm);
	ASSERT_EQ(0, vcpu_add(&vm, &v, 0));
	/* GET with nent beyond 256: fine, nent comes back as the count */
	memset(&got, 0, sizeof(got));
	got.h.nent = 300;
	ASSERT_EQ(0, ioctl(v.fd, KVISOR_GET_CPUID, &got));
	EXPECT_GE(KVISOR_MAX_CPUID_ENTRIES, got.h.nent);
	EXPECT_LT(0, got.h.nent);
	/* SET nent beyond 256: EINVAL */
	memset(&set, 0, sizeof(set));
	set.h.nent = 257;
	EXPECT_EQ(-1, ioctl(v.fd, KVISOR_SET_CPUID, &set));
	EXPECT_EQ(EINVAL, errno);
	/* what SET gave, GET returns, entry for entry */
	set.h.nent = 5;
	for (i = 0; i < 5; i++) {
		set.e[i].function = i == 4 ? 0x80000000 : i;
		set.e[i].index = i == 3 ? 7 : 0;
		set.e[i].flags = i == 3 ? KVISOR_CPUID_FLAG_INDEXED : 0;
		set.e[i].eax = 0x100 + i;
		set.e[i].ebx = 0x200 + i;
		set.e[i].ecx = 0x300 + i;
		set.e[i].edx = 0x400 + i;
	}
	ASSERT_EQ(0, ioctl(v.fd, KVISOR_SET_CPUID, &set));
	memset(&got, 0xa5, sizeof(got));
	got.h.nent = 300;
	got.h.padding = 0;
	ASSERT_EQ(0, ioctl(v.fd, KVISOR_GET_CPUID, &got));
	ASSERT_EQ(5, got.h.nent);
	EXPECT_EQ(0, memcmp(set.e, got.e, 5 * sizeof(set.e[0])));
	vcpu_close(&v);
	vm_destroy(&vm);
}

TEST(inject_event_rules)
{
	static const unsigned int bad_exc[] = { 2, 15, 22, 23, 24, 25, 26, 27, 31, 32 };
	struct kvisor_event ev;
	unsigned int i;
	struct vm vm;
	struct vcpu v;

	VM_CREATE_OR_SKIP(&vm);
	ASSERT_EQ(0, vcpu_add(&vm, &v, 0));
	for (i = 0; i < sizeof(bad_exc) / sizeof(bad_exc[0]); i++) {
		ev = (struct kvisor_event){ .type = KVISOR_EVENT_EXCEPTION,
					    .vector = bad_exc[i] };
		EXPECT_EQ(-1, ioctl(v.fd, KVISOR_INJECT_EVENT, &ev)) TH_LOG("vector %u", bad_exc[i]);
		EXPECT_EQ(EINVAL, errno);
	}
	/* #GP needs its error code flag; #UD must not have one */
	ev = (struct kvisor_event){ .type = KVISOR_EVENT_EXCEPTION, .vector = 13 };
	EXPECT_EQ(-1, ioctl(v.fd, KVISOR_INJECT_EVENT, &ev));
	ev = (struct kvisor_event){ .type = KVISOR_EVENT_EXCEPTION, .vector = 6,
				    .flags = KVISOR_EVENT_HAS_ERROR_CODE };
	EXPECT_EQ(-1, ioctl(v.fd, KVISOR_INJECT_EVENT, &ev));
	/* an error code without the flag */
	ev = (struct kvisor_event){ .type = KVISOR_EVENT_EXCEPTION, .vector = 6,
				    .error_code = 1 };
	EXPECT_EQ(-1, ioctl(v.fd, KVISOR_INJECT_EVENT, &ev));
	/* NMI: vector 0 or 2 only */
	ev = (struct kvisor_event){ .type = KVISOR_EVENT_NMI, .vector = 3 };
	EXPECT_EQ(-1, ioctl(v.fd, KVISOR_INJECT_EVENT, &ev));
	EXPECT_EQ(EINVAL, errno);
	ev.vector = 0;
	EXPECT_EQ(0, ioctl(v.fd, KVISOR_INJECT_EVENT, &ev));
	ev.vector = 2;
	EXPECT_EQ(-1, ioctl(v.fd, KVISOR_INJECT_EVENT, &ev));
	EXPECT_EQ(EBUSY, errno);
	/* interrupts 32-255 */
	ev = (struct kvisor_event){ .type = KVISOR_EVENT_INTERRUPT, .vector = 31 };
	EXPECT_EQ(-1, ioctl(v.fd, KVISOR_INJECT_EVENT, &ev));
	ev.vector = 256;
	EXPECT_EQ(-1, ioctl(v.fd, KVISOR_INJECT_EVENT, &ev));
	vcpu_close(&v);
	vm_destroy(&vm);
}

/* ---------------------------------------------------------------- */
/* 14: a failed entry keeps the guest's registers                   */
/* ---------------------------------------------------------------- */

static void seg_eq(struct __test_metadata *_metadata, const char *name,
		   const struct kvisor_segment *a, const struct kvisor_segment *b)
{
	EXPECT_EQ(0, memcmp(a, b, sizeof(*a)))
		TH_LOG("%s: before %#x/%#llx/%#x type %u, after %#x/%#llx/%#x type %u",
		       name, a->selector, (unsigned long long)a->base, a->limit, a->type,
		       b->selector, (unsigned long long)b->base, b->limit, b->type);
}

TEST(failed_entry_keeps_guest_state)
{
	struct kvisor_sregs good, bad, before, after;
	struct kvisor_vcpu_stats st0, st1;
	struct kvisor_regs r0, r1;
	unsigned int i, failed = 0;
	struct vm vm;
	struct vcpu v;

	GUEST_SETUP(&vm, &v, MODE_LONG, g_hlt);
	ASSERT_EQ(0, vcpu_get_sregs(&v, &good));
	for (i = 0; i < 2; i++) {
		bad = good;
		if (i == 0)
			bad.cs.db = 1;			/* L and D */
		else
			bad.cr4 &= ~(1ull << 5);	/* long mode without PAE */
		ASSERT_EQ(0, vcpu_set_sregs(&v, &bad));
		ASSERT_EQ(0, vcpu_get_sregs(&v, &before));
		ASSERT_EQ(0, vcpu_get_regs(&v, &r0));
		ASSERT_EQ(0, vcpu_get_stats(&v, &st0));
		ASSERT_EQ(0, vcpu_run(&v));
		if (v.run->exit_reason != KVISOR_EXIT_FAIL_ENTRY) {
			TH_LOG("bad state %u: %s, not a failed entry", i, vcpu_exit_str(&v));
			ASSERT_EQ(0, vcpu_set_sregs(&v, &good));
			ASSERT_EQ(0, vcpu_set_regs(&v, &r0));
			continue;
		}
		failed++;
		ASSERT_EQ(0, vcpu_get_sregs(&v, &after));
		ASSERT_EQ(0, vcpu_get_regs(&v, &r1));
		EXPECT_EQ(before.cr0, after.cr0);
		EXPECT_EQ(before.cr2, after.cr2);
		EXPECT_EQ(before.cr3, after.cr3)
			TH_LOG("CR3 %#llx became %#llx", (unsigned long long)before.cr3,
			       (unsigned long long)after.cr3);
		EXPECT_EQ(before.cr4, after.cr4);
		EXPECT_EQ(before.cr8, after.cr8);
		EXPECT_EQ(before.efer, after.efer);
		EXPECT_EQ(before.gdt.base, after.gdt.base);
		EXPECT_EQ(before.gdt.limit, after.gdt.limit);
		EXPECT_EQ(before.idt.base, after.idt.base);
		EXPECT_EQ(before.idt.limit, after.idt.limit);
		seg_eq(_metadata, "cs", &before.cs, &after.cs);
		seg_eq(_metadata, "ss", &before.ss, &after.ss);
		seg_eq(_metadata, "ds", &before.ds, &after.ds);
		seg_eq(_metadata, "tr", &before.tr, &after.tr);
		EXPECT_EQ(0, memcmp(&r0, &r1, sizeof(r0)));
		/* a failed entry counts once, under OTHER */
		check_sum(_metadata, &v, &st1);
		EXPECT_EQ(st0.counters[KVISOR_STAT_EXITS] + 1, st1.counters[KVISOR_STAT_EXITS]);
		EXPECT_EQ(st0.counters[KVISOR_STAT_OTHER] + 1, st1.counters[KVISOR_STAT_OTHER]);
		/* the good state runs again */
		ASSERT_EQ(0, vcpu_set_sregs(&v, &good));
		RUN_EXPECT(&v, KVISOR_EXIT_HLT);
		ASSERT_EQ(0, vcpu_set_regs(&v, &r0));
	}
	EXPECT_LT(0, failed) TH_LOG("no bad state made the entry fail");
	vcpu_close(&v);
	vm_destroy(&vm);
}

/*
 * CR4 bits no vCPU may hold are refused by SET_SREGS on both vendors
 * (AMD-V would fail the entry, VT-x drop the bit): reserved bits, VMXE,
 * SMXE, LA57, PKE, CET, bits 63:32.  Bits every x86-64 CPU has are kept.
 */
TEST(cr4_reserved_bits_refused)
{
	static const unsigned int bad_bits[] = { 12, 13, 14, 15, 19, 22, 23, 24,
						 25, 31, 32, 63 };
	struct kvisor_sregs good, s;
	unsigned int i;
	struct vm vm;
	struct vcpu v;

	GUEST_SETUP(&vm, &v, MODE_LONG, g_hlt);
	ASSERT_EQ(0, vcpu_get_sregs(&v, &good));
	for (i = 0; i < sizeof(bad_bits) / sizeof(bad_bits[0]); i++) {
		s = good;
		s.cr4 |= 1ull << bad_bits[i];
		EXPECT_EQ(-EINVAL, vcpu_set_sregs(&v, &s)) TH_LOG("CR4 bit %u", bad_bits[i]);
	}
	/* refused means unchanged: the vCPU still runs the good state */
	ASSERT_EQ(0, vcpu_get_sregs(&v, &s));
	EXPECT_EQ(good.cr4, s.cr4);
	s = good;
	s.cr4 |= 0x7ff & ~(1ull << 6);	/* VME..OSXMMEXCPT but MCE: everyone's */
	EXPECT_EQ(0, vcpu_set_sregs(&v, &s));
	ASSERT_EQ(0, vcpu_get_sregs(&v, &s));
	EXPECT_EQ(good.cr4 | (0x7ff & ~(1ull << 6)), s.cr4);
	vcpu_close(&v);
	vm_destroy(&vm);
}

TEST_HARNESS_MAIN
