// SPDX-License-Identifier: GPL-2.0
/*
 * Events injected with KVISOR_INJECT_EVENT reach the guest's IDT (the
 * 64-bit stubs of lib/guest.c report vector, error code and RIP):
 * exceptions with and without error code, external interrupts through
 * the interrupt window, NMIs; and an exception the guest raises itself
 * is delivered inside the guest.
 */
#include <stdio.h>
#include <string.h>

#include "kselftest_harness.h"
#include "vm.h"

GUEST_ASM(g_ev_hlt, "hlt\n");

TEST(exception_with_error_code)
{
	struct vm vm;
	struct vcpu v;
	uint32_t err, rip;

	GUEST_SETUP(&vm, &v, MODE_LONG, g_ev_hlt);
	ASSERT_EQ(0, vcpu_inject(&v, KVISOR_EVENT_EXCEPTION, 13, 0x1234));
	rip = EXPECT_EXCEPTION(&v, 13, &err);
	EXPECT_EQ(0x1234, err);
	EXPECT_EQ(CODE_GPA, rip);
	/* the handler IRETs back to the HLT */
	RUN_EXPECT(&v, KVISOR_EXIT_HLT);

	ASSERT_EQ(0, vcpu_inject(&v, KVISOR_EVENT_EXCEPTION, 14, 0x6));
	EXPECT_EXCEPTION(&v, 14, &err);
	EXPECT_EQ(0x6, err);
	vm_destroy(&vm);
}

TEST(exception_without_error_code)
{
	struct vm vm;
	struct vcpu v;
	uint32_t err;

	GUEST_SETUP(&vm, &v, MODE_LONG, g_ev_hlt);
	ASSERT_EQ(0, vcpu_inject(&v, KVISOR_EVENT_EXCEPTION, 6, -1));
	EXPECT_EXCEPTION(&v, 6, &err);
	EXPECT_EQ(0, err);	/* the stub's 0: the CPU pushed none */
	vm_destroy(&vm);
}

/* IF=0 at first; says so, enables interrupts, spins */
GUEST_ASM(g_sti,
	"mov eax, 1\n"
	"out 0x10, eax\n"
	"sti\n"
	"1: jmp 1b\n");

TEST(interrupt_window)
{
	struct vm vm;
	struct vcpu v;
	struct kvisor_vcpu_stats st;
	uint32_t rip;

	GUEST_SETUP(&vm, &v, MODE_LONG, g_sti);
	v.run->request_interrupt_window = 1;
	EXPECT_EQ(1, EXPECT_OUT(&v, PORT_REPORT));
	EXPECT_EQ(0, v.run->if_flag);
	RUN_EXPECT(&v, KVISOR_EXIT_IRQ_WINDOW_OPEN);
	EXPECT_EQ(1, v.run->if_flag);
	EXPECT_EQ(1, v.run->ready_for_interrupt_injection);
	v.run->request_interrupt_window = 0;
	ASSERT_EQ(0, vcpu_inject(&v, KVISOR_EVENT_INTERRUPT, 0x40, -1));
	rip = EXPECT_EXCEPTION(&v, 0x40, NULL);
	EXPECT_LE(CODE_GPA + 8, rip);	/* in the loop, after STI */
	ASSERT_EQ(0, vcpu_get_stats(&v, &st));
	EXPECT_LE(1, st.counters[KVISOR_STAT_INTR_WINDOW]);
	vm_destroy(&vm);
}

TEST(nmi)
{
	struct vm vm;
	struct vcpu v;

	GUEST_SETUP(&vm, &v, MODE_LONG, g_ev_hlt);
	ASSERT_EQ(0, vcpu_inject(&v, KVISOR_EVENT_NMI, 2, -1));
	EXPECT_EXCEPTION(&v, 2, NULL);
	vm_destroy(&vm);
}

GUEST_ASM(g_div0,
	"xor ecx, ecx\n"
	"div ecx\n"		/* #DE at CODE_GPA + 2 */
	"hlt\n");

TEST(guest_exception_stays_in_guest)
{
	struct vm vm;
	struct vcpu v;

	GUEST_SETUP(&vm, &v, MODE_LONG, g_div0);
	EXPECT_EQ(CODE_GPA + 2, EXPECT_EXCEPTION(&v, 0, NULL));
	vm_destroy(&vm);
}

TEST_HARNESS_MAIN
