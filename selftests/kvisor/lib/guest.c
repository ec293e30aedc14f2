// SPDX-License-Identifier: GPL-2.0
/*
 * Guest code shared by the tests: the 64-bit exception stubs that the IDT
 * of MODE_LONG points at (vector v at STUBS_GPA + 16 * v).
 *
 * Each stub pushes a 0 error code when the CPU does not push one, then
 * its vector, and jumps to the common handler, which reports the vector,
 * the error code and the interrupted RIP on the PORT_EXC_* ports, halts,
 * and when run again returns to the interrupted code with IRETQ.
 */
#include "vm.h"

#define STR(x)	#x
#define XSTR(x)	STR(x)

GUEST_ASM(guest_stubs,
	".code64\n"
	".set vec, 0\n"
	".rept 256\n"
	"  .balign 16\n"
	/* vectors with an error code: #DF #TS #NP #SS #GP #PF #AC #CP #VC #SX */
	"  .if (vec == 8) || ((vec >= 10) && (vec <= 14)) || (vec == 17) || (vec == 21) || (vec == 29) || (vec == 30)\n"
	"  .else\n"
	"    push 0\n"
	"  .endif\n"
	"  push vec\n"
	"  jmp guest_stubs_common\n"
	"  .set vec, vec + 1\n"
	".endr\n"
	"guest_stubs_common:\n"
	"  push rax\n"
	"  push rdx\n"
	/* [rsp+16] vector, [rsp+24] error code, [rsp+32] RIP */
	"  mov eax, [rsp + 16]\n"
	"  out " XSTR(PORT_EXC_VECTOR) ", eax\n"
	"  mov eax, [rsp + 24]\n"
	"  out " XSTR(PORT_EXC_ERROR) ", eax\n"
	"  mov eax, [rsp + 32]\n"
	"  out " XSTR(PORT_EXC_RIP) ", eax\n"
	"  hlt\n"
	"  pop rdx\n"
	"  pop rax\n"
	"  add rsp, 16\n"
	"  iretq\n");
