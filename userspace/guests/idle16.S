/* SPDX-License-Identifier: GPL-2.0 */
/*
 * kvisor sample guest: halts with interrupts on.  kvisor has no
 * interrupt sources, so nothing could wake it: status 16.
 */
	.code16
	.section .text
	.globl _start
_start:
	movw	$0x3f8, %dx
	movb	$'I', %al
	outb	%al, %dx
	sti
1:	hlt
	jmp	1b
