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

#include "entry_gprs.inc"

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
	KVISOR_LOAD_GPRS %rax

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
	KVISOR_SAVE_GPRS %rax

	mov	16(%rsp), %rax
	vmload	%rax

	KVISOR_SCRUB_AFTER_EXIT

	add	$24, %rsp
	pop	%rbx
	pop	%r12
	pop	%r13
	pop	%r14
	pop	%r15
	pop	%rbp
	RET
SYM_FUNC_END(kvisor_svm_vmrun)
