/* SPDX-License-Identifier: GPL-2.0 */
/*
 * kvisor sample guest: triple faults on purpose -- an empty IDT, then an
 * exception.  kvisor ends with status 8 and dumps the registers.
 */
	.code16
	.section .text
	.globl _start
_start:
	cli
	movw	$0x3f8, %dx
	movb	$'T', %al
	outb	%al, %dx
	movb	$'\n', %al
	outb	%al, %dx
	lidt	idt_empty
	int3
1:	hlt
	jmp	1b
	.p2align 2
idt_empty:
	.word	0
	.long	0
