/* SPDX-License-Identifier: GPL-2.0 */
/*
 * kvisor sample guest: the multiboot (v1) header and entry of mb32.
 * Built twice: as an ELF32 (flags 0x3: the loader uses the ELF segments)
 * and, with -DAOUT_KLUDGE, as a flat binary whose header carries the
 * load addresses (flag 16, the "a.out kludge").
 */
#define MB_MAGIC	0x1badb002
#ifdef AOUT_KLUDGE
#define MB_FLAGS	0x00010003
#else
#define MB_FLAGS	0x00000003
#endif

	.section .multiboot, "a"
	.p2align 2
mb_header:
	.long	MB_MAGIC
	.long	MB_FLAGS
	.long	-(MB_MAGIC + MB_FLAGS)
#ifdef AOUT_KLUDGE
	.long	mb_header		/* header_addr */
	.long	_load_start		/* load_addr */
	.long	_edata			/* load_end_addr */
	.long	_end			/* bss_end_addr */
	.long	_start			/* entry_addr */
#endif

	.text
	.code32
	.globl	_start
_start:
	cli
	movl	$stack_top, %esp
	pushl	%ebx			/* multiboot information */
	pushl	%eax			/* 0x2badb002 */
	call	mb_main
1:	hlt
	jmp	1b

	.bss
	.p2align 4
stack:
	.skip	8192
stack_top:
