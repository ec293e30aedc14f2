/* SPDX-License-Identifier: GPL-2.0 */
/*
 * One trip into a VT-x guest: VMLAUNCH or VMRESUME and back (Intel SDM
 * Vol. 3C, 26 "VM entries", 27 "VM exits", 30.3 VMLAUNCH/VMRESUME).
 *
 * The VM exit loads RSP from HOST_RSP and jumps to HOST_RIP
 * (kvisor_vmx_vmexit); everything else of the host's register state the
 * VMCS does not hold is kept on the stack here.  The caller runs with
 * interrupts disabled.
 *
 * int kvisor_vmx_vmenter(u64 *gprs, int launched)
 * gprs[] is in ModRM order (RAX=0 ... R15=15); RSP lives in the VMCS.
 * Returns 0 after a VM exit, 1 on VMfailValid (ZF=1: the error is in the
 * VM-instruction error field), 2 on VMfailInvalid (CF=1).
 */
#include <linux/linkage.h>
#include <asm/asm.h>
#include <asm/ibt.h>
#include <asm/nospec-branch.h>
#include <asm/unwind_hints.h>

#define G(r)		(r * 8)
#define HOST_RSP_FIELD	0x6c14		/* SDM Vol. 3D, B.4.4 */

.section .text, "ax"

SYM_FUNC_START(kvisor_vmx_vmenter)
	push	%rbp
	mov	%rsp, %rbp
	push	%r15
	push	%r14
	push	%r13
	push	%r12
	push	%rbx
	push	%rdi		/* 0(%rsp) at the VM exit: gprs */

	mov	$HOST_RSP_FIELD, %eax
	vmwrite	%rsp, %rax

	/* ZF from here to VMLAUNCH/VMRESUME: MOVs leave the flags alone. */
	mov	%rdi, %rax
	test	%esi, %esi
	mov	G(1)(%rax), %rcx
	mov	G(2)(%rax), %rdx
	mov	G(3)(%rax), %rbx
	mov	G(5)(%rax), %rbp
	mov	G(6)(%rax), %rsi
	mov	G(7)(%rax), %rdi
	mov	G(8)(%rax), %r8
	mov	G(9)(%rax), %r9
	mov	G(10)(%rax), %r10
	mov	G(11)(%rax), %r11
	mov	G(12)(%rax), %r12
	mov	G(13)(%rax), %r13
	mov	G(14)(%rax), %r14
	mov	G(15)(%rax), %r15
	mov	G(0)(%rax), %rax
	/* The VM exit below lands with this stack and frame. */
	UNWIND_HINT_SAVE
	jz	.Llaunch
	vmresume
	jmp	.Lfail
.Llaunch:
	vmlaunch
.Lfail:
	/*
	 * No entry: RSP is still ours, the pops below restore the host's
	 * callee-saved registers over the guest values loaded above.
	 */
	mov	$2, %eax
	jc	.Lout
	mov	$1, %eax
	jmp	.Lout

SYM_INNER_LABEL(kvisor_vmx_vmexit, SYM_L_GLOBAL)
	UNWIND_HINT_RESTORE
	ENDBR
	push	%rax
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
	popq	G(0)(%rax)

	/* Leave no guest values in registers for speculation to use. */
	xor	%ecx, %ecx
	xor	%edx, %edx
	xor	%esi, %esi
	xor	%edi, %edi
	xor	%r8d, %r8d
	xor	%r9d, %r9d
	xor	%r10d, %r10d
	xor	%r11d, %r11d
	xor	%eax, %eax

.Lout:
	add	$8, %rsp
	pop	%rbx
	pop	%r12
	pop	%r13
	pop	%r14
	pop	%r15
	pop	%rbp
	RET
SYM_FUNC_END(kvisor_vmx_vmenter)
