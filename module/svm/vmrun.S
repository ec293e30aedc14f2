/* SPDX-License-Identifier: GPL-2.0 */
/*
 * One trip into an AMD-V guest (AMD APM Vol. 2, 15.5 "VMRUN" and 15.5.2
 * "VMSAVE and VMLOAD").
 *
 * VMRUN saves and restores only part of the host state (15.5.1); the rest
 * (FS, GS, TR, LDTR with their hidden parts, KernelGsBase, STAR, LSTAR,
 * CSTAR, SFMASK, SYSENTER_*) is saved with VMSAVE into a per-CPU page and
 * loaded back with VMLOAD, and the guest's copy is exchanged with VMLOAD
 * and VMSAVE on its VMCB.  The caller has cleared GIF (CLGI), so no
 * interrupt or NMI runs while GS holds the guest's base.
 *
 * void kvisor_svm_vmrun(u64 vmcb_pa, u64 *gprs, u64 host_vmcb_pa)
 * gprs[] is in ModRM order (RAX=0 ... R15=15); RAX and RSP live in the
 * VMCB and are not touched here.
 */
#include <linux/linkage.h>
#include <asm/asm.h>
#include <asm/nospec-branch.h>

#define G(r)	(r * 8)

.section .text, "ax"

SYM_FUNC_START(kvisor_svm_vmrun)
	push	%rbp
	mov	%rsp, %rbp
	push	%r15
	push	%r14
	push	%r13
	push	%r12
	push	%rbx
	push	%rdx		/* 16(%rsp): host_vmcb_pa */
	push	%rsi		/*  8(%rsp): gprs */
	push	%rdi		/*  0(%rsp): vmcb_pa */

	/* The host's FS/GS/TR/LDTR/syscall MSRs, as they are now. */
	mov	%rdx, %rax
	vmsave	%rax

	mov	%rsi, %rax
	mov	G(1)(%rax), %rcx
	mov	G(2)(%rax), %rdx
	mov	G(3)(%rax), %rbx
	mov	G(5)(%rax), %rbp
	mov	G(7)(%rax), %rdi
	mov	G(8)(%rax), %r8
	mov	G(9)(%rax), %r9
	mov	G(10)(%rax), %r10
	mov	G(11)(%rax), %r11
	mov	G(12)(%rax), %r12
	mov	G(13)(%rax), %r13
	mov	G(14)(%rax), %r14
	mov	G(15)(%rax), %r15
	mov	G(6)(%rax), %rsi

	mov	(%rsp), %rax
	vmload	%rax
	/*
	 * With V_INTR_MASKING, physical interrupts in the guest are masked
	 * by the host's RFLAGS.IF as VMRUN found it (15.21.1): set it, so a
	 * host interrupt ends the guest's run (INTR intercept).  GIF is 0,
	 * so nothing is delivered here before VMRUN or after #VMEXIT.
	 */
	sti
	vmrun	%rax
	cli
	vmsave	%rax

	mov	8(%rsp), %rax
	mov	%rcx, G(1)(%rax)
	mov	%rdx, G(2)(%rax)
	mov	%rbx, G(3)(%rax)
	mov	%rbp, G(5)(%rax)
	mov	%rsi, G(6)(%rax)
	mov	%rdi, G(7)(%rax)
	mov	%r8, G(8)(%rax)
	mov	%r9, G(9)(%rax)
	mov	%r10, G(10)(%rax)
	mov	%r11, G(11)(%rax)
	mov	%r12, G(12)(%rax)
	mov	%r13, G(13)(%rax)
	mov	%r14, G(14)(%rax)
	mov	%r15, G(15)(%rax)

	mov	16(%rsp), %rax
	vmload	%rax

	/* Leave no guest values in registers for speculation to use. */
	xor	%ecx, %ecx
	xor	%edx, %edx
	xor	%esi, %esi
	xor	%edi, %edi
	xor	%r8d, %r8d
	xor	%r9d, %r9d
	xor	%r10d, %r10d
	xor	%r11d, %r11d

	add	$24, %rsp
	pop	%rbx
	pop	%r12
	pop	%r13
	pop	%r14
	pop	%r15
	pop	%rbp
	RET
SYM_FUNC_END(kvisor_svm_vmrun)
