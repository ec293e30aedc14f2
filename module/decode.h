/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The small x86 instruction decoder that MMIO emulation needs.
 *
 * It recognises only the instructions a guest uses to touch device memory:
 * MOV (88/89/8A/8B/C6/C7, A0-A3 moffs), MOVZX/MOVSX (0F B6/B7/BE/BF),
 * MOVSXD (63 with REX.W), STOS (AA/AB) and MOVS (A4/A5), with operand-size,
 * address-size, REP and segment prefixes and REX.  Anything else is
 * reported as unknown so that the caller exits with an internal error that
 * carries the bytes, instead of guessing.
 *
 * Pure function of its input: no guest or host state is touched, so it is
 * built into the module and, unchanged, into a userspace unit test.
 */
#ifndef KVISOR_DECODE_H
#define KVISOR_DECODE_H

#ifdef __KERNEL__
#include <linux/types.h>
#else
#include <stdbool.h>
#include <stdint.h>
typedef uint8_t u8;
typedef uint32_t u32;
typedef uint64_t u64;
typedef int8_t s8;
typedef int16_t s16;
typedef int32_t s32;
typedef int64_t s64;
#endif

#define KVISOR_INSN_MAX	15	/* architectural maximum length */

enum kvisor_insn_op {
	KVISOR_INSN_MOV_STORE,	/* mem <- reg or immediate */
	KVISOR_INSN_MOV_LOAD,	/* reg <- mem (zero-extends 32-bit in 64-bit mode) */
	KVISOR_INSN_MOVZX,	/* reg <- zero-extended mem */
	KVISOR_INSN_MOVSX,	/* reg <- sign-extended mem */
	KVISOR_INSN_STOS,	/* [rDI] <- AL/AX/EAX/RAX, rDI += size */
	KVISOR_INSN_MOVS,	/* [rDI] <- [rSI], both advance */
};

/* General register numbers, as in ModRM/REX encoding (RAX=0 ... R15=15). */
#define KVISOR_REG_NONE		(-1)

struct kvisor_insn {
	enum kvisor_insn_op op;
	u8 len;			/* bytes, prefixes included */
	u8 size;		/* memory access size: 1, 2, 4 or 8 */
	/*
	 * Register bytes written by loads (0 for stores).  Extend the value
	 * read to dst_size (sign for MOVSX, else zero), then: high_byte:
	 * bits 15:8; dst_size 8, or 4 in 64-bit mode (MOVSX r32 only): the
	 * whole register, zero-extended; else the low dst_size bytes.  MOV
	 * and MOVZX to a 32-bit register in 64-bit mode report 8.
	 */
	u8 dst_size;
	u8 addr_size;		/* 2, 4 or 8: for rSI/rDI/rCX updates */
	int reg;		/* register operand, or KVISOR_REG_NONE */
	bool high_byte;		/* reg is AH/CH/DH/BH (no REX, size 1) */
	bool has_imm;		/* store of an immediate */
	u64 imm;		/* sign-extended to size */
	bool rep;		/* REP prefix on STOS/MOVS */
	u8 seg_prefix;		/* last segment override (26 2E 36 3E 64 65), or 0 */
	/*
	 * The memory operand of MOV/MOVZX/MOVSX/MOVSXD (not STOS/MOVS):
	 * offset = base + index * scale + disp, then masked to addr_size.
	 * base is KVISOR_REG_RIP for RIP-relative (add the next RIP), or
	 * KVISOR_REG_NONE; index KVISOR_REG_NONE for none.  ss_default:
	 * the base is rBP or rSP, so SS is the default segment.
	 */
	bool has_ea;
	int ea_base, ea_index;
	u8 ea_scale;
	bool ss_default;
	s64 ea_disp;
};

#define KVISOR_REG_RIP		16

/*
 * Decode the instruction at @bytes (@avail bytes readable) executing with
 * default operand/address size @mode (2 = 16-bit, 4 = 32-bit, 8 = 64-bit
 * long mode).  Returns 0 and fills @insn, or -EINVAL for anything outside
 * the supported set (or truncated, or longer than 15 bytes).
 */
int kvisor_decode_mmio(const u8 *bytes, unsigned int avail, unsigned int mode,
		       struct kvisor_insn *insn);

/*
 * How many prefix bytes start the instruction at @bytes: legacy prefixes
 * (66, 67, F0, F2, F3, 2E, 36, 3E, 26, 64, 65) and, in 64-bit mode
 * (@mode 8), REX (40-4F), in any order.  For instructions whose length
 * without prefixes is known (those a hypervisor completes).  Returns
 * -EINVAL when prefixes fill all @avail bytes or the 15-byte limit.
 */
int kvisor_decode_prefixes(const u8 *bytes, unsigned int avail,
			   unsigned int mode);

#endif /* KVISOR_DECODE_H */
