// SPDX-License-Identifier: GPL-2.0
/*
 * Guests are untrusted.  Accesses outside every region exit as MMIO and
 * never reach host memory; writes to a read-only region exit and leave
 * the memory as it was; the SVM and VMX instructions raise #UD inside the
 * guest; writes to host-critical MSRs leave the host's MSRs alone.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>

#include "kselftest_harness.h"
#include "vm.h"

/* Read then write every 64 MiB from 2 MiB to 4 GiB. */
GUEST_ASM(g_sweep,
	"mov rbx, 0x200000\n"
	"mov rdi, 0x100000000\n"
	"1: mov rax, [rbx]\n"
	"out 0x10, eax\n"
	"mov [rbx], rbx\n"
	"add rbx, 0x4000000\n"
	"cmp rbx, rdi\n"
	"jb 1b\n"
	"hlt\n");

EMPTY_FIXTURE(slow)

TEST_F_TIMEOUT(slow, gpa_sweep, 120)
{
	struct vm vm;
	struct vcpu v;
	uint64_t gpa, data;

	GUEST_SETUP(&vm, &v, MODE_LONG, g_sweep);
	for (gpa = 0x200000; gpa < 0x100000000ull; gpa += 0x4000000) {
		RUN_EXPECT(&v, KVISOR_EXIT_MMIO);
		ASSERT_EQ(gpa, v.run->mmio.phys_addr) TH_LOG("%s", vcpu_exit_str(&v));
		ASSERT_EQ(0, v.run->mmio.is_write);
		ASSERT_EQ(8, v.run->mmio.len);
		data = ~gpa;
		memcpy(v.run->mmio.data, &data, 8);
		/* the guest got what we gave, not host memory */
		ASSERT_EQ((uint32_t)~gpa, EXPECT_OUT(&v, PORT_REPORT));
		RUN_EXPECT(&v, KVISOR_EXIT_MMIO);
		ASSERT_EQ(gpa, v.run->mmio.phys_addr);
		ASSERT_EQ(1, v.run->mmio.is_write);
		memcpy(&data, v.run->mmio.data, 8);
		ASSERT_EQ(gpa, data);
	}
	RUN_EXPECT(&v, KVISOR_EXIT_HLT);
	vm_destroy(&vm);
}

#define RO_GPA	0x400000

GUEST_ASM(g_ro,
	"mov rbx, 0x400000\n"
	"mov eax, [rbx + 8]\n"
	"out 0x10, eax\n"
	"mov dword ptr [rbx + 8], 0x12345678\n"
	"mov eax, [rbx + 8]\n"
	"out 0x10, eax\n"
	"hlt\n");

TEST(readonly_region)
{
	struct vm vm;
	struct vcpu v;
	uint8_t *ro;
	uint64_t data = 0;

	GUEST_SETUP(&vm, &v, MODE_LONG, g_ro);
	ro = mmap(NULL, 0x1000, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, ro);
	memset(ro, 0xa5, 0x1000);
	ASSERT_EQ(0, vm_set_region(&vm, 1, KVISOR_MEM_READONLY, RO_GPA, 0x1000, ro));
	EXPECT_EQ(0xa5a5a5a5, EXPECT_OUT(&v, PORT_REPORT));	/* reads read memory */
	RUN_EXPECT(&v, KVISOR_EXIT_MMIO);
	EXPECT_EQ(RO_GPA + 8, v.run->mmio.phys_addr);
	EXPECT_EQ(1, v.run->mmio.is_write);
	EXPECT_EQ(4, v.run->mmio.len);
	memcpy(&data, v.run->mmio.data, 4);
	EXPECT_EQ(0x12345678, data);
	EXPECT_EQ(0xa5a5a5a5, EXPECT_OUT(&v, PORT_REPORT));	/* unchanged */
	RUN_EXPECT(&v, KVISOR_EXIT_HLT);
	EXPECT_EQ(0xa5a5a5a5, *(uint32_t *)(ro + 8));
	vm_destroy(&vm);
	munmap(ro, 0x1000);
}

GUEST_ASM(g_vmrun, "mov rax, 0x20000\nvmrun\nhlt\n");
GUEST_ASM(g_vmload, "mov rax, 0x20000\nvmload\nhlt\n");
GUEST_ASM(g_vmsave, "mov rax, 0x20000\nvmsave\nhlt\n");
GUEST_ASM(g_stgi, "mov rax, 0x20000\nstgi\nhlt\n");
GUEST_ASM(g_clgi, "mov rax, 0x20000\nclgi\nhlt\n");
GUEST_ASM(g_skinit, "mov rax, 0x20000\nskinit\nhlt\n");
GUEST_ASM(g_invlpga, "mov rax, 0x20000\ninvlpga\nhlt\n");
GUEST_ASM(g_vmxon, "mov rax, 0x20000\nvmxon [rax]\nhlt\n");
GUEST_ASM(g_vmlaunch, "mov rax, 0x20000\nvmlaunch\nhlt\n");
GUEST_ASM(g_vmptrld, "mov rax, 0x20000\nvmptrld [rax]\nhlt\n");

TEST(virtualization_instructions_ud)
{
	static const struct { const char *name; const uint8_t *s, *e; } insn[] = {
		{ "VMRUN", g_vmrun, g_vmrun_end }, { "VMLOAD", g_vmload, g_vmload_end },
		{ "VMSAVE", g_vmsave, g_vmsave_end }, { "STGI", g_stgi, g_stgi_end },
		{ "CLGI", g_clgi, g_clgi_end }, { "SKINIT", g_skinit, g_skinit_end },
		{ "INVLPGA", g_invlpga, g_invlpga_end }, { "VMXON", g_vmxon, g_vmxon_end },
		{ "VMLAUNCH", g_vmlaunch, g_vmlaunch_end }, { "VMPTRLD", g_vmptrld, g_vmptrld_end },
	};
	struct vm vm;
	struct vcpu v;
	unsigned int i;

	GUEST_SETUP(&vm, &v, MODE_LONG, g_vmrun);
	for (i = 0; i < sizeof(insn) / sizeof(insn[0]); i++) {
		uint32_t vec, rip;

		vm_load_code(&vm, insn[i].s, insn[i].e);
		ASSERT_EQ(0, vcpu_setup_mode(&v, MODE_LONG, CODE_GPA));
		vec = EXPECT_OUT(&v, PORT_EXC_VECTOR);
		EXPECT_EQ(6, vec) TH_LOG("%s: vector %u, not #UD", insn[i].name, vec);
		EXPECT_OUT(&v, PORT_EXC_ERROR);
		rip = EXPECT_OUT(&v, PORT_EXC_RIP);
		EXPECT_EQ(CODE_GPA + 7, rip) TH_LOG("%s", insn[i].name);	/* after mov rax */
		RUN_EXPECT(&v, KVISOR_EXIT_HLT);
	}
	vm_destroy(&vm);
}

/* rcx = MSR, rdx:rax = value */
GUEST_ASM(g_wrmsr,
	"wrmsr\n"
	"out 0x10, eax\n"
	"hlt\n");

TEST(host_critical_msrs)
{
	static const struct { uint32_t index; uint64_t val; } m[] = {
		{ 0xc0010117, 0x1000 },			/* VM_HSAVE_PA */
		{ 0xc0000080, 0x1d01 },			/* EFER with SVME */
		{ 0xc0010114, 0x18 },			/* VM_CR: SVMDIS, LOCK */
		{ 0xc0000082, 0xffffffff8badc0deull },	/* LSTAR */
		{ 0xc0000081, 0x0123456700000000ull },	/* STAR */
		{ 0xc0000084, 0xffffffff },		/* SFMASK */
		{ 0x174, 0x33 },			/* SYSENTER_CS */
		{ 0x176, 0xffffffff8badc0deull },	/* SYSENTER_EIP */
		{ 0xc0000101, 0xffff800012345000ull },	/* GS_BASE */
		{ 0xc0000102, 0xffff800012346000ull },	/* KERNEL_GS_BASE */
		{ 0x1b, 0xfee00100 },			/* APIC_BASE: disable x2APIC etc */
		{ 0xc0010015, 0 },			/* HWCR */
	};
	enum { NR = sizeof(m) / sizeof(m[0]) };
	uint64_t before[2][NR], after[2][NR];
	int cpus = cpus_online() > 2 ? 2 : cpus_online();
	struct vm vm;
	struct vcpu v;
	struct kvisor_regs r;
	unsigned int i;
	int c;

	GUEST_SETUP(&vm, &v, MODE_LONG, g_wrmsr);
	for (c = 0; c < cpus; c++)
		for (i = 0; i < NR; i++) {
			int e = msr_read(c, m[i].index, &before[c][i]);

			ASSERT_EQ(0, e) TH_LOG("host MSR %#x on CPU %d: %s", m[i].index, c,
					       strerror(-e));
		}
	for (i = 0; i < NR; i++) {
		ASSERT_EQ(0, vcpu_get_regs(&v, &r));
		r.rip = CODE_GPA;
		r.rsp = STACK_TOP;
		r.rflags = 2;
		r.rcx = m[i].index;
		r.rax = (uint32_t)m[i].val;
		r.rdx = m[i].val >> 32;
		ASSERT_EQ(0, vcpu_set_regs(&v, &r));
		/* the write is either the guest's own or a #GP in the guest */
		RUN_EXPECT(&v, KVISOR_EXIT_IO);
		if (v.run->io.port == PORT_EXC_VECTOR) {
			EXPECT_EQ(13, vcpu_io_value(&v)) TH_LOG("MSR %#x", m[i].index);
			EXPECT_OUT(&v, PORT_EXC_ERROR);
			EXPECT_OUT(&v, PORT_EXC_RIP);
		} else {
			EXPECT_EQ(PORT_REPORT, v.run->io.port) TH_LOG("%s", vcpu_exit_str(&v));
		}
		RUN_EXPECT(&v, KVISOR_EXIT_HLT);
	}
	/* host MSRs, on every CPU the vCPU may have run on, unchanged */
	for (c = 0; c < cpus; c++)
		for (i = 0; i < NR; i++) {
			ASSERT_EQ(0, msr_read(c, m[i].index, &after[c][i]));
			EXPECT_EQ(before[c][i], after[c][i])
				TH_LOG("host MSR %#x on CPU %d changed", m[i].index, c);
		}
	/* and the host still works: system calls, a new VM */
	EXPECT_EQ(getpid(), getpid());
	vm_destroy(&vm);
	GUEST_SETUP(&vm, &v, MODE_LONG, g_wrmsr);
	vm_destroy(&vm);
}

TEST_HARNESS_MAIN
