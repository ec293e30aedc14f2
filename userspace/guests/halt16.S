/* SPDX-License-Identifier: GPL-2.0 */
/*
 * kvisor sample guest: prints, then halts with interrupts off -- kvisor
 * ends with status 0 (nothing can wake the guest).
 */
	.code16
	.section .text
	.globl _start
_start:
	cli
	movw	$msg, %si
1:	lodsb
	testb	%al, %al
	jz	2f
	movw	$0x3f8, %dx
	outb	%al, %dx
	jmp	1b
2:	hlt
	jmp	2b
msg:	.asciz	"halting\r\n"
