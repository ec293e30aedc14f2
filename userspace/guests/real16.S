/* SPDX-License-Identifier: GPL-2.0 */
/*
 * kvisor sample guest: a real-mode flat image, loaded and started at
 * 0x7c00 (kvisor run real16.bin).  Prints through COM1, reads the UART
 * scratch register back, and leaves through isa-debug-exit with value 1
 * (exit status 3).
 */
	.code16
	.section .text
	.globl _start
_start:
	cli
	xorw	%ax, %ax
	movw	%ax, %ds
	movw	%ax, %ss
	movw	$0x7c00, %sp

	movw	$hello, %si
	call	puts

	/* the scratch register keeps what is written */
	movw	$0x3ff, %dx
	movb	$0x5a, %al
	outb	%al, %dx
	inb	%dx, %al
	cmpb	$0x5a, %al
	jne	1f
	movw	$scr_ok, %si
	call	puts
1:
	movw	$0xf4, %dx
	movb	$1, %al
	outb	%al, %dx
	/* not reached under kvisor */
2:	hlt
	jmp	2b

/* print the NUL-terminated string at %si */
puts:
	lodsb
	testb	%al, %al
	jz	3f
	movb	%al, %bl
	movw	$0x3fd, %dx		/* LSR */
4:	inb	%dx, %al
	testb	$0x20, %al		/* THR empty */
	jz	4b
	movw	$0x3f8, %dx
	movb	%bl, %al
	outb	%al, %dx
	jmp	puts
3:	ret

hello:	.asciz	"Hello from real mode!\r\n"
scr_ok:	.asciz	"uart scratch register ok\r\n"
