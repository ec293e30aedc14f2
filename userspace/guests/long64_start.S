/* SPDX-License-Identifier: GPL-2.0 */
/* kvisor sample guest: entry of long64 (already in long mode). */
	.text
	.code64
	.globl	_start
_start:
	cli
	leaq	stack_top(%rip), %rsp
	call	long64_main
1:	hlt
	jmp	1b

	.bss
	.p2align 4
stack:
	.skip	16384
stack_top:
