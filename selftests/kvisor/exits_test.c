// SPDX-License-Identifier: GPL-2.0
/*
 * One test per exit reason that reaches userspace: HLT, port I/O (each
 * size, string and REP forms), MMIO (each size, MOV/MOVZX/MOVSX/STOS/
 * MOVS), hypercall, shutdown, failed entry, INTR (immediate_exit and a
 * signal) and the internal error for an undecodable MMIO instruction.
 * The guests run in 64-bit mode (lib/vm.c); rbx holds MMIO_GPA.
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>

#include "kselftest_harness.h"
#include "vm.h"

GUEST_ASM(g_hlt, "hlt\n");

TEST(hlt)
{
	struct vm vm;
	struct vcpu v;
	struct kvisor_regs r;

	GUEST_SETUP(&vm, &v, MODE_LONG, g_hlt);
	RUN_EXPECT(&v, KVISOR_EXIT_HLT);
	ASSERT_EQ(0, vcpu_get_regs(&v, &r));
	EXPECT_EQ(CODE_GPA + 1, r.rip);		/* after the HLT */
	vm_destroy(&vm);
}

GUEST_ASM(g_out,
	"mov al, 0x11\n"
	"out 0x10, al\n"
	"mov ax, 0x2222\n"
	"out 0x10, ax\n"
	"mov eax, 0x33333333\n"
	"mov dx, 0x1234\n"		/* port in DX, a 16-bit port number */
	"out dx, eax\n"
	"hlt\n");

TEST(io_out_each_size)
{
	struct vm vm;
	struct vcpu v;

	GUEST_SETUP(&vm, &v, MODE_LONG, g_out);
	EXPECT_EQ(0x11, EXPECT_OUT(&v, 0x10));
	EXPECT_EQ(1, v.run->io.size);
	EXPECT_EQ(1, v.run->io.count);
	EXPECT_EQ(0x2222, EXPECT_OUT(&v, 0x10));
	EXPECT_EQ(2, v.run->io.size);
	EXPECT_EQ(0x33333333, EXPECT_OUT(&v, 0x1234));
	EXPECT_EQ(4, v.run->io.size);
	RUN_EXPECT(&v, KVISOR_EXIT_HLT);
	vm_destroy(&vm);
}

GUEST_ASM(g_in,
	"xor eax, eax\n"
	"in al, 0x21\n"
	"out 0x10, eax\n"
	"in ax, 0x22\n"
	"out 0x10, eax\n"
	"mov dx, 0x4321\n"
	"in eax, dx\n"
	"out 0x10, eax\n"
	"hlt\n");

TEST(io_in_each_size)
{
	static const struct { uint16_t port; uint8_t size; uint32_t val, seen; } in[] = {
		{ 0x21, 1, 0xab, 0xab },
		{ 0x22, 2, 0xbeef, 0xbeef },
		{ 0x4321, 4, 0xdeadbeef, 0xdeadbeef },
	};
	struct vm vm;
	struct vcpu v;
	unsigned int i;

	GUEST_SETUP(&vm, &v, MODE_LONG, g_in);
	for (i = 0; i < 3; i++) {
		RUN_EXPECT(&v, KVISOR_EXIT_IO);
		ASSERT_EQ(KVISOR_EXIT_IO_IN, v.run->io.direction) TH_LOG("%s", vcpu_exit_str(&v));
		ASSERT_EQ(in[i].port, v.run->io.port);
		ASSERT_EQ(in[i].size, v.run->io.size);
		ASSERT_EQ(1, v.run->io.count);
		ASSERT_GE(v.run_size, v.run->io.data_offset + in[i].size);
		vcpu_io_set(&v, in[i].val);
		EXPECT_EQ(in[i].seen, EXPECT_OUT(&v, PORT_REPORT)) TH_LOG("IN size %u", in[i].size);
	}
	RUN_EXPECT(&v, KVISOR_EXIT_HLT);
	vm_destroy(&vm);
}

GUEST_ASM(g_outs,
	"lea rsi, [rip + 1f]\n"
	"mov ecx, 5\n"
	"mov dx, 0x30\n"
	"rep outsb\n"			/* "hello": one exit, count 5 */
	"lea rsi, [rip + 2f]\n"
	"mov ecx, 3\n"
	"rep outsw\n"			/* three words */
	"lea rsi, [rip + 1f]\n"
	"outsb\n"			/* no REP: count 1 */
	"mov rdi, 0x20000\n"
	"mov ecx, 4\n"
	"rep insb\n"			/* four bytes in, to DATA_GPA */
	"mov eax, [0x20000]\n"
	"out 0x10, eax\n"
	"hlt\n"
	"1: .ascii \"hello\"\n"
	"2: .word 0x1111, 0x2222, 0x3333\n");

TEST(io_string_rep)
{
	static const uint16_t words[] = { 0x1111, 0x2222, 0x3333 };
	struct vm vm;
	struct vcpu v;
	struct kvisor_regs r;

	GUEST_SETUP(&vm, &v, MODE_LONG, g_outs);
	RUN_EXPECT(&v, KVISOR_EXIT_IO);
	ASSERT_EQ(KVISOR_EXIT_IO_OUT, v.run->io.direction);
	EXPECT_EQ(0x30, v.run->io.port);
	EXPECT_EQ(1, v.run->io.size);
	ASSERT_EQ(5, v.run->io.count) TH_LOG("rep outsb of 5 bytes: %s", vcpu_exit_str(&v));
	EXPECT_EQ(0, memcmp(vcpu_io_data(&v), "hello", 5));

	RUN_EXPECT(&v, KVISOR_EXIT_IO);
	EXPECT_EQ(2, v.run->io.size);
	ASSERT_EQ(3, v.run->io.count) TH_LOG("%s", vcpu_exit_str(&v));
	EXPECT_EQ(0, memcmp(vcpu_io_data(&v), words, 6));

	RUN_EXPECT(&v, KVISOR_EXIT_IO);
	EXPECT_EQ(1, v.run->io.count);
	EXPECT_EQ('h', *(char *)vcpu_io_data(&v));

	RUN_EXPECT(&v, KVISOR_EXIT_IO);
	ASSERT_EQ(KVISOR_EXIT_IO_IN, v.run->io.direction);
	ASSERT_EQ(4, v.run->io.count) TH_LOG("%s", vcpu_exit_str(&v));
	memcpy(vcpu_io_data(&v), "\x01\x02\x03\x04", 4);
	EXPECT_EQ(0x04030201, EXPECT_OUT(&v, PORT_REPORT));
	RUN_EXPECT(&v, KVISOR_EXIT_HLT);
	/* the string instructions advanced rSI/rDI and consumed rCX */
	ASSERT_EQ(0, vcpu_get_regs(&v, &r));
	EXPECT_EQ(0x20004, r.rdi);
	EXPECT_EQ(0, r.rcx);
	vm_destroy(&vm);
}

GUEST_ASM(g_mmio_write,
	"mov rbx, 0xc0000000\n"
	"mov byte ptr [rbx], 0x11\n"
	"mov word ptr [rbx + 2], 0x2222\n"
	"mov dword ptr [rbx + 4], 0x33333333\n"
	"mov rax, 0x4444444455555555\n"
	"mov [rbx + 8], rax\n"
	"mov qword ptr [rbx + 16], -2\n"	/* imm32 sign-extended */
	"mov ah, 0x66\n"
	"mov [rbx + 24], ah\n"			/* a high-byte register */
	"hlt\n");

TEST(mmio_write_each_size)
{
	static const struct { uint64_t off; uint32_t len; uint64_t data; } w[] = {
		{ 0, 1, 0x11 }, { 2, 2, 0x2222 }, { 4, 4, 0x33333333 },
		{ 8, 8, 0x4444444455555555ull }, { 16, 8, 0xfffffffffffffffeull },
		{ 24, 1, 0x66 },
	};
	struct vm vm;
	struct vcpu v;
	unsigned int i;

	GUEST_SETUP(&vm, &v, MODE_LONG, g_mmio_write);
	for (i = 0; i < sizeof(w) / sizeof(w[0]); i++) {
		uint64_t data = 0;

		RUN_EXPECT(&v, KVISOR_EXIT_MMIO);
		EXPECT_EQ(1, v.run->mmio.is_write) TH_LOG("write %u: %s", i, vcpu_exit_str(&v));
		EXPECT_EQ(MMIO_GPA + w[i].off, v.run->mmio.phys_addr) TH_LOG("write %u", i);
		ASSERT_EQ(w[i].len, v.run->mmio.len) TH_LOG("write %u", i);
		memcpy(&data, v.run->mmio.data, w[i].len);
		EXPECT_EQ(w[i].data, data) TH_LOG("write %u", i);
	}
	RUN_EXPECT(&v, KVISOR_EXIT_HLT);
	vm_destroy(&vm);
}

GUEST_ASM(g_mmio_read,
	"mov rbx, 0xc0000000\n"
	"mov rax, -1\n"
	"mov al, [rbx]\n"		/* 8-bit: the rest of rax stays */
	"mov rcx, -1\n"
	"mov cx, [rbx + 2]\n"		/* 16-bit: the rest stays */
	"mov rdx, -1\n"
	"mov edx, [rbx + 4]\n"		/* 32-bit: zero-extends */
	"mov rsi, [rbx + 8]\n"
	"mov rdi, -1\n"
	"movzx edi, byte ptr [rbx + 16]\n"
	"mov r8, -1\n"
	"movsx r8, word ptr [rbx + 18]\n"
	"mov r9, -1\n"
	"movsx r9d, byte ptr [rbx + 20]\n"	/* to 32 bits, then zero-extends */
	"movsxd r10, dword ptr [rbx + 24]\n"
	"mov ah, [rbx + 28]\n"		/* high byte */
	"mov r11, -1\n"
	"movzx r11d, word ptr [rbx + 30]\n"
	"hlt\n");

TEST(mmio_read_each_size)
{
	static const struct { uint64_t off; uint32_t len; uint64_t data; } rd[] = {
		{ 0, 1, 0x5a }, { 2, 2, 0x1234 }, { 4, 4, 0x89abcdef },
		{ 8, 8, 0x0123456789abcdefull }, { 16, 1, 0x80 }, { 18, 2, 0x8000 },
		{ 20, 1, 0x80 }, { 24, 4, 0x80000000 }, { 28, 1, 0x77 },
		{ 30, 2, 0xfedc },
	};
	struct vm vm;
	struct vcpu v;
	struct kvisor_regs r;
	unsigned int i;

	GUEST_SETUP(&vm, &v, MODE_LONG, g_mmio_read);
	for (i = 0; i < sizeof(rd) / sizeof(rd[0]); i++) {
		RUN_EXPECT(&v, KVISOR_EXIT_MMIO);
		EXPECT_EQ(0, v.run->mmio.is_write) TH_LOG("read %u: %s", i, vcpu_exit_str(&v));
		EXPECT_EQ(MMIO_GPA + rd[i].off, v.run->mmio.phys_addr) TH_LOG("read %u", i);
		ASSERT_EQ(rd[i].len, v.run->mmio.len) TH_LOG("read %u: %s", i, vcpu_exit_str(&v));
		memset(v.run->mmio.data, 0xee, 8);	/* bytes past len must be ignored */
		memcpy(v.run->mmio.data, &rd[i].data, rd[i].len);
	}
	RUN_EXPECT(&v, KVISOR_EXIT_HLT);
	ASSERT_EQ(0, vcpu_get_regs(&v, &r));
	EXPECT_EQ(0xffffffffffff775aull, r.rax);	/* al, then ah */
	EXPECT_EQ(0xffffffffffff1234ull, r.rcx);
	EXPECT_EQ(0x0000000089abcdefull, r.rdx);
	EXPECT_EQ(0x0123456789abcdefull, r.rsi);
	EXPECT_EQ(0x80ull, r.rdi);
	EXPECT_EQ(0xffffffffffff8000ull, r.r8);
	EXPECT_EQ(0x00000000ffffff80ull, r.r9);
	EXPECT_EQ(0xffffffff80000000ull, r.r10);
	EXPECT_EQ(0xfedcull, r.r11);
	vm_destroy(&vm);
}

GUEST_ASM(g_mmio_string,
	"mov rdi, 0xc0000100\n"
	"mov eax, 0x55\n"
	"mov ecx, 3\n"
	"rep stosb\n"			/* three 1-byte writes */
	"mov eax, 0xcafef00d\n"
	"stosd\n"			/* one 4-byte write */
	"mov rsi, 0x20000\n"		/* DATA_GPA -> MMIO */
	"movsq\n"
	"hlt\n");

TEST(mmio_stos_movs)
{
	static const struct { uint64_t gpa; uint32_t len; uint64_t data; } w[] = {
		{ 0xc0000100, 1, 0x55 }, { 0xc0000101, 1, 0x55 }, { 0xc0000102, 1, 0x55 },
		{ 0xc0000103, 4, 0xcafef00d }, { 0xc0000107, 8, 0x1122334455667788ull },
	};
	uint64_t src = 0x1122334455667788ull;
	struct vm vm;
	struct vcpu v;
	struct kvisor_regs r;
	unsigned int i;

	GUEST_SETUP(&vm, &v, MODE_LONG, g_mmio_string);
	vm_load(&vm, DATA_GPA, &src, 8);
	for (i = 0; i < sizeof(w) / sizeof(w[0]); i++) {
		uint64_t data = 0;

		RUN_EXPECT(&v, KVISOR_EXIT_MMIO);
		EXPECT_EQ(1, v.run->mmio.is_write) TH_LOG("write %u: %s", i, vcpu_exit_str(&v));
		EXPECT_EQ(w[i].gpa, v.run->mmio.phys_addr) TH_LOG("write %u: %s", i, vcpu_exit_str(&v));
		ASSERT_EQ(w[i].len, v.run->mmio.len) TH_LOG("write %u: %s", i, vcpu_exit_str(&v));
		memcpy(&data, v.run->mmio.data, w[i].len);
		EXPECT_EQ(w[i].data, data) TH_LOG("write %u", i);
	}
	RUN_EXPECT(&v, KVISOR_EXIT_HLT);
	ASSERT_EQ(0, vcpu_get_regs(&v, &r));
	EXPECT_EQ(0xc000010full, r.rdi);
	EXPECT_EQ(0x20008ull, r.rsi);
	EXPECT_EQ(0, r.rcx);
	vm_destroy(&vm);
}

/* A number of the VMM range (<linux/kvisor_para.h>): passed through. */
GUEST_ASM(g_hypercall,
	"mov eax, 0x10042\n"
	"mov ebx, 1\n"
	"mov ecx, 2\n"
	"mov edx, 3\n"
	"mov esi, 4\n"
	"vmmcall\n"
	"hlt\n");

TEST(hypercall)
{
	struct vm vm;
	struct vcpu v;
	struct kvisor_regs r;

	GUEST_SETUP(&vm, &v, MODE_LONG, g_hypercall);
	RUN_EXPECT(&v, KVISOR_EXIT_HYPERCALL);
	EXPECT_EQ(0x10042, v.run->hypercall.nr);
	EXPECT_EQ(0, v.run->hypercall.data_len);
	EXPECT_EQ(1, v.run->hypercall.args[0]);
	EXPECT_EQ(2, v.run->hypercall.args[1]);
	EXPECT_EQ(3, v.run->hypercall.args[2]);
	EXPECT_EQ(4, v.run->hypercall.args[3]);
	v.run->hypercall.ret = 0x1122334455667788ull;
	RUN_EXPECT(&v, KVISOR_EXIT_HLT);
	ASSERT_EQ(0, vcpu_get_regs(&v, &r));
	EXPECT_EQ(0x1122334455667788ull, r.rax);
	EXPECT_EQ(1, r.rbx);	/* arguments untouched */
	vm_destroy(&vm);
}

GUEST_ASM(g_hypercall_user,
	"mov eax, 0x42\n"
	"vmmcall\n"
	"out 0x10, eax\n"	/* IOPL 3: allowed at CPL 3 */
	"shr rax, 32\n"
	"out 0x10, eax\n"
	"1: jmp 1b\n");

/* From CPL 3 a hypercall fails in the guest (-EPERM in RAX), no exit. */
TEST(hypercall_from_cpl3)
{
	struct vm vm;
	struct vcpu v;
	struct kvisor_regs r;

	GUEST_SETUP(&vm, &v, MODE_LONG, g_hypercall_user);
	ASSERT_EQ(0, vcpu_enter_cpl3(&v));
	ASSERT_EQ(0, vcpu_get_regs(&v, &r));
	r.rflags = 0x3002;	/* IOPL 3 */
	ASSERT_EQ(0, vcpu_set_regs(&v, &r));
	EXPECT_EQ(0xffffffff, EXPECT_OUT(&v, PORT_REPORT));	/* -EPERM = -1 */
	EXPECT_EQ(0xffffffff, EXPECT_OUT(&v, PORT_REPORT));
	vm_destroy(&vm);
}

GUEST_ASM(g_triple_fault,
	"lidt [rip + 1f]\n"	/* an empty IDT */
	"ud2\n"			/* #UD -> #DF -> shutdown */
	"1: .word 0\n"
	".quad 0\n");

TEST(shutdown)
{
	struct vm vm;
	struct vcpu v;

	GUEST_SETUP(&vm, &v, MODE_LONG, g_triple_fault);
	RUN_EXPECT(&v, KVISOR_EXIT_SHUTDOWN);
	vm_destroy(&vm);
}

/* CS.L and CS.D both set in long mode: VMRUN refuses the state. */
TEST(fail_entry)
{
	struct vm vm;
	struct vcpu v;
	struct kvisor_sregs s;
	int r;

	GUEST_SETUP(&vm, &v, MODE_LONG, g_hlt);
	ASSERT_EQ(0, vcpu_get_sregs(&v, &s));
	s.cs.db = 1;
	r = vcpu_set_sregs(&v, &s);
	if (r == -EINVAL)
		SKIP(goto out, "SET_SREGS refuses CS.L+CS.D; no invalid state reaches the CPU");
	ASSERT_EQ(0, r);
	RUN_EXPECT(&v, KVISOR_EXIT_FAIL_ENTRY);
	if (cpu_virt() == CPU_VIRT_SVM)
		EXPECT_EQ(~0ull, v.run->fail_entry.hardware_reason)	/* VMEXIT_INVALID */
			TH_LOG("%s", vcpu_exit_str(&v));
	/* fixed up, the vCPU runs */
	s.cs.db = 0;
	ASSERT_EQ(0, vcpu_set_sregs(&v, &s));
	RUN_EXPECT(&v, KVISOR_EXIT_HLT);
out:
	vm_destroy(&vm);
}

TEST(intr_immediate_exit)
{
	struct vm vm;
	struct vcpu v;
	struct kvisor_regs r;
	struct kvisor_vcpu_stats st;

	GUEST_SETUP(&vm, &v, MODE_LONG, g_hlt);
	v.run->immediate_exit = 1;
	RUN_EXPECT(&v, KVISOR_EXIT_INTR);
	ASSERT_EQ(0, vcpu_get_regs(&v, &r));
	EXPECT_EQ(CODE_GPA, r.rip);	/* the guest did not run */
	v.run->immediate_exit = 0;
	RUN_EXPECT(&v, KVISOR_EXIT_HLT);
	ASSERT_EQ(0, vcpu_get_stats(&v, &st));
	EXPECT_EQ(1, st.counters[KVISOR_STAT_HLT]);
	vm_destroy(&vm);
}

GUEST_ASM(g_spin, "1: jmp 1b\n");

static void on_alarm(int sig)
{
}

TEST(intr_signal)
{
	struct sigaction sa = { .sa_handler = on_alarm };	/* no SA_RESTART */
	struct vm vm;
	struct vcpu v;
	struct kvisor_vcpu_stats st;
	struct kvisor_regs r;

	GUEST_SETUP(&vm, &v, MODE_LONG, g_spin);
	ASSERT_EQ(0, sigaction(SIGALRM, &sa, NULL));
	alarm(1);
	RUN_EXPECT(&v, KVISOR_EXIT_INTR);
	alarm(0);
	ASSERT_EQ(0, vcpu_get_regs(&v, &r));
	EXPECT_EQ(CODE_GPA, r.rip);	/* still spinning on its jmp */
	ASSERT_EQ(0, vcpu_get_stats(&v, &st));
	EXPECT_LE(1, st.counters[KVISOR_STAT_SIGNAL]);
	/* and it can be run and interrupted again */
	alarm(1);
	RUN_EXPECT(&v, KVISOR_EXIT_INTR);
	vm_destroy(&vm);
}

GUEST_ASM(g_add_mmio,
	"mov rbx, 0xc0000000\n"
	"add [rbx], eax\n"	/* 01 03: not a decoder instruction */
	"hlt\n");

TEST(internal_error_emulation)
{
	struct vm vm;
	struct vcpu v;

	GUEST_SETUP(&vm, &v, MODE_LONG, g_add_mmio);
	RUN_EXPECT(&v, KVISOR_EXIT_INTERNAL_ERROR);
	EXPECT_EQ(KVISOR_INTERNAL_ERROR_EMULATION, v.run->internal.suberror);
	ASSERT_LE(2, v.run->internal.insn_len);
	ASSERT_GE(16, v.run->internal.insn_len);
	EXPECT_EQ(0x01, v.run->internal.insn_bytes[0]);
	EXPECT_EQ(0x03, v.run->internal.insn_bytes[1]);
	EXPECT_EQ(0xf4, v.run->internal.insn_len > 2 ? v.run->internal.insn_bytes[2] : 0xf4);
	EXPECT_EQ(MMIO_GPA, v.run->internal.gpa);
	vm_destroy(&vm);
}

TEST_HARNESS_MAIN
