/* SPDX-License-Identifier: GPL-2.0 */
/*
 * kvisor sample guests: entry of long64 and pv64 (already in long mode);
 * ENTRY_MAIN is the C function to call.
 */
#ifndef ENTRY_MAIN
#define ENTRY_MAIN long64_main
#endif
	.text
	.code64
	.globl	_start
_start:
	cli
	leaq	stack_top(%rip), %rsp
	call	ENTRY_MAIN
1:	hlt
	jmp	1b

	.bss
	.p2align 4
stack:
	.skip	16384
stack_top:
