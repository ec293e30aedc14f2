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

#include "entry_gprs.inc"

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
	KVISOR_LOAD_GPRS %rax
	mov	KVISOR_GPR(0)(%rax), %rax
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
	KVISOR_SAVE_GPRS %rax
	popq	KVISOR_GPR(0)(%rax)

	/* With eIBRS only the last RSB entry needs overwriting. */
	KVISOR_SCRUB_AFTER_EXIT X86_FEATURE_RSB_VMEXIT_LITE

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
