// SPDX-License-Identifier: GPL-2.0
/*
 * The small x86 instruction decoder MMIO emulation needs (see decode.h).
 *
 * Only the length of the instruction and its register or immediate operand
 * are decoded: the hardware already gives the faulting guest-physical
 * address, so the effective address is never computed, and ModRM/SIB only
 * matter for how many bytes they occupy.
 *
 * How the caller writes a load's destination register (MOV_LOAD, MOVZX,
 * MOVSX): extend the @size-byte value read to @dst_size bytes (sign
 * extension for MOVSX, zero extension otherwise), then
 *  - high_byte: write it to bits 15:8 of @reg, keep the other bits;
 *  - dst_size 8: write the whole register.  A 32-bit destination of MOV or
 *    MOVZX in 64-bit mode is reported as dst_size 8: the value zero-extended
 *    to 64 bits is exactly what the CPU writes;
 *  - dst_size 4 and mode 8 (only MOVSX to a 32-bit register, where the
 *    sign extension stops at bit 31): write the value zero-extended to 64
 *    bits, as every 32-bit register write in 64-bit mode does;
 *  - otherwise: write the low dst_size bytes, keep the other bits.
 * Stores, STOS and MOVS report dst_size 0.
 *
 * Built into kvisor.ko and, unchanged, into selftests/kvisor/decode_test.
 */
#ifdef __KERNEL__
#include <linux/errno.h>
#else
#include <errno.h>
#endif
#include "decode.h"

/* Bytes of ModRM + SIB + displacement at @p, or -EINVAL. */
static int modrm_len(const u8 *p, unsigned int left, unsigned int addr_size)
{
	u8 modrm, mod, rm;
	int len = 1;

	if (left < 1)
		return -EINVAL;
	modrm = p[0];
	mod = modrm >> 6;
	rm = modrm & 7;
	if (mod == 3)		/* a register operand: not a memory access */
		return -EINVAL;

	if (addr_size == 2) {
		if (mod == 1)
			len += 1;
		else if (mod == 2 || (mod == 0 && rm == 6))
			len += 2;
		return len;
	}

	if (rm == 4) {		/* SIB follows */
		if (left < 2)
			return -EINVAL;
		len += 1;
		if (mod == 0 && (p[1] & 7) == 5)
			len += 4;	/* no base: disp32 */
	}
	if (mod == 1)
		len += 1;
	else if (mod == 2 || (mod == 0 && rm == 5))
		len += 4;	/* disp32, or RIP/EIP-relative in 64-bit mode */
	return len;
}

static u64 read_le(const u8 *p, unsigned int n);

/*
 * The memory operand of the ModRM at @p (@left bytes, length already
 * checked by modrm_len()): Intel SDM Vol. 2A 2.1.5, tables 2-1 to 2-3,
 * and 2.2.1 (REX.X, REX.B, RIP-relative).
 */
static void modrm_ea(const u8 *p, unsigned int addr_size, u8 rex, bool mode64,
		     struct kvisor_insn *insn)
{
	static const signed char base16[8] = { 3, 3, 5, 5, 6, 7, 5, 3 };
	static const signed char index16[8] = { 6, 7, 6, 7, -1, -1, -1, -1 };
	u8 mod = p[0] >> 6, rm = p[0] & 7;
	unsigned int at = 1;

	insn->has_ea = true;
	insn->ea_scale = 1;
	insn->ea_index = KVISOR_REG_NONE;
	insn->ea_base = KVISOR_REG_NONE;
	if (addr_size == 2) {
		if (mod == 0 && rm == 6) {
			insn->ea_disp = (s64)read_le(p + 1, 2);
			return;
		}
		insn->ea_base = base16[rm];
		insn->ea_index = index16[rm] < 0 ? KVISOR_REG_NONE : index16[rm];
		insn->ss_default = insn->ea_base == 5;	/* BP */
		if (mod == 1)
			insn->ea_disp = (s8)p[1];
		else if (mod == 2)
			insn->ea_disp = (s16)read_le(p + 1, 2);
		return;
	}
	if (rm == 4) {
		u8 sib = p[1], idx = ((sib >> 3) & 7) | ((rex & 2) << 2);
		u8 base = (sib & 7) | ((rex & 1) << 3);

		at = 2;
		insn->ea_scale = 1 << (sib >> 6);
		if (idx != 4)
			insn->ea_index = idx;
		if (mod == 0 && (sib & 7) == 5) {
			insn->ea_disp = (s32)read_le(p + 2, 4);
			return;
		}
		insn->ea_base = base;
	} else if (mod == 0 && rm == 5) {
		/* disp32: RIP-relative in 64-bit mode, absolute otherwise */
		insn->ea_base = mode64 ? KVISOR_REG_RIP : KVISOR_REG_NONE;
		insn->ea_disp = (s32)read_le(p + 1, 4);
	} else {
		insn->ea_base = rm | ((rex & 1) << 3);
	}
	if (mod == 0 && rm == 5)
		return;
	insn->ss_default = insn->ea_base == 4 || insn->ea_base == 5;
	if (mod == 1)
		insn->ea_disp = (s8)p[at];
	else if (mod == 2)
		insn->ea_disp = (s32)read_le(p + at, 4);
}

static u64 read_le(const u8 *p, unsigned int n)
{
	u64 v = 0;

	while (n--)
		v = (v << 8) | p[n];
	return v;
}

/* Sign-extend the low @from bytes of @v to @to bytes (upper bits zero). */
static u64 sext(u64 v, unsigned int from, unsigned int to)
{
	unsigned int sh = 64 - 8 * from;
	u64 s = (u64)((s64)(v << sh) >> sh);

	return to == 8 ? s : s & ((1ull << (8 * to)) - 1);
}

int kvisor_decode_mmio(const u8 *bytes, unsigned int avail, unsigned int mode,
		       struct kvisor_insn *insn)
{
	unsigned int lim = avail < KVISOR_INSN_MAX ? avail : KVISOR_INSN_MAX;
	unsigned int i = 0, opsz, adsz, imm_len = 0;
	bool p66 = false, p67 = false, rep = false, lock = false;
	bool load = false, byte_reg = false, has_modrm = true, ok_lock = false;
	u8 rex = 0, op, op2 = 0, segp = 0;
	int mlen = 0, reg;

	if (mode != 2 && mode != 4 && mode != 8)
		return -EINVAL;

	/* Prefixes.  A REX counts only immediately before the opcode. */
	for (;; i++) {
		if (i >= lim)
			return -EINVAL;	/* truncated, or prefixes past 15 bytes */
		op = bytes[i];
		if (mode == 8 && (op & 0xf0) == 0x40) {
			rex = op;
			continue;
		}
		switch (op) {
		case 0x66:
			p66 = true;
			break;
		case 0x67:
			p67 = true;
			break;
		case 0xf3:
			rep = true;
			break;
		case 0xf0:
			lock = true;
			break;
		case 0x26: case 0x2e: case 0x36: case 0x3e: case 0x64: case 0x65:
			/* the GPA is the hardware's; MOVS's source needs it */
			segp = op;
			break;
		case 0xf2:
			return -EINVAL;
		default:
			goto opcode;
		}
		rex = 0;	/* a legacy prefix after REX voids the REX */
	}
opcode:
	i++;
	if (mode == 8)
		opsz = (rex & 8) ? 8 : p66 ? 2 : 4;
	else if (mode == 4)
		opsz = p66 ? 2 : 4;
	else
		opsz = p66 ? 4 : 2;
	if (mode == 8)
		adsz = p67 ? 4 : 8;
	else if (mode == 4)
		adsz = p67 ? 2 : 4;
	else
		adsz = p67 ? 4 : 2;

	*insn = (struct kvisor_insn) {
		.addr_size = adsz,
		.reg = KVISOR_REG_NONE,
		.seg_prefix = segp,
	};

	switch (op) {
	case 0x88:		/* MOV r/m8, r8 */
	case 0x89:		/* MOV r/m, r */
		insn->op = KVISOR_INSN_MOV_STORE;
		insn->size = op == 0x88 ? 1 : opsz;
		byte_reg = op == 0x88;
		ok_lock = true;
		break;
	case 0x8a:		/* MOV r8, r/m8 */
	case 0x8b:		/* MOV r, r/m */
		insn->op = KVISOR_INSN_MOV_LOAD;
		insn->size = op == 0x8a ? 1 : opsz;
		insn->dst_size = insn->size;
		byte_reg = op == 0x8a;
		load = true;
		break;
	case 0xc6:		/* MOV r/m8, imm8 */
	case 0xc7:		/* MOV r/m, imm16/32 (sign-extended for 64) */
		insn->op = KVISOR_INSN_MOV_STORE;
		insn->size = op == 0xc6 ? 1 : opsz;
		insn->has_imm = true;
		imm_len = insn->size == 8 ? 4 : insn->size;
		ok_lock = true;
		break;
	case 0xa0: case 0xa1:	/* MOV AL/rAX, moffs */
	case 0xa2: case 0xa3:	/* MOV moffs, AL/rAX */
		insn->op = op < 0xa2 ? KVISOR_INSN_MOV_LOAD : KVISOR_INSN_MOV_STORE;
		insn->size = (op & 1) ? opsz : 1;
		insn->reg = 0;
		if (op < 0xa2) {
			insn->dst_size = insn->size;
			load = true;
		} else {
			ok_lock = true;
		}
		has_modrm = false;
		mlen = adsz;	/* the offset: 8, 4 or 2 bytes */
		break;
	case 0x63:		/* MOVSXD r64, r/m32: REX.W only */
		if (mode != 8 || !(rex & 8))
			return -EINVAL;
		insn->op = KVISOR_INSN_MOVSX;
		insn->size = 4;
		insn->dst_size = 8;
		break;
	case 0xaa: case 0xab:	/* STOS */
	case 0xa4: case 0xa5:	/* MOVS */
		insn->op = op >= 0xaa ? KVISOR_INSN_STOS : KVISOR_INSN_MOVS;
		insn->size = (op & 1) ? opsz : 1;
		insn->reg = op >= 0xaa ? 0 : KVISOR_REG_NONE;
		insn->rep = rep;
		rep = false;
		has_modrm = false;
		break;
	case 0x0f:
		if (i >= lim)
			return -EINVAL;
		op2 = bytes[i++];
		switch (op2) {
		case 0xb6: case 0xb7:	/* MOVZX r, r/m8 / r/m16 */
		case 0xbe: case 0xbf:	/* MOVSX r, r/m8 / r/m16 */
			insn->op = op2 >= 0xbe ? KVISOR_INSN_MOVSX : KVISOR_INSN_MOVZX;
			insn->size = (op2 & 1) ? 2 : 1;
			insn->dst_size = opsz;
			/* MOVSX to r32 in 64-bit mode stays 4: see the top */
			if (opsz == 4 && mode == 8 && op2 < 0xbe)
				insn->dst_size = 8;
			break;
		default:
			return -EINVAL;
		}
		break;
	default:
		return -EINVAL;
	}

	if (rep)		/* REP only on the string instructions */
		return -EINVAL;
	if (lock && !ok_lock)	/* LOCK only on stores */
		return -EINVAL;

	if (has_modrm) {
		mlen = modrm_len(bytes + i, lim - i, adsz);
		if (mlen < 0)
			return mlen;
		if (insn->has_imm) {
			if (bytes[i] & 0x38)	/* C6/C7 /0 only */
				return -EINVAL;
		} else {
			insn->reg = ((bytes[i] >> 3) & 7) | ((rex & 4) << 1);
		}
	}
	if (i + mlen + imm_len > lim)
		return -EINVAL;	/* truncated, or longer than 15 bytes */
	if (has_modrm) {
		modrm_ea(bytes + i, adsz, rex, mode == 8, insn);
	} else if (op >= 0xa0 && op <= 0xa3) {
		insn->has_ea = true;
		insn->ea_base = KVISOR_REG_NONE;
		insn->ea_index = KVISOR_REG_NONE;
		insn->ea_scale = 1;
		insn->ea_disp = (s64)read_le(bytes + i, mlen);
	}

	if (insn->has_imm) {
		u64 imm = read_le(bytes + i + mlen, imm_len);

		insn->imm = sext(imm, imm_len, insn->size);
	}
	reg = insn->reg;
	if (byte_reg && !rex && reg >= 4 && reg <= 7) {
		insn->reg = reg - 4;	/* AH, CH, DH, BH */
		insn->high_byte = true;
	}
	/* a 32-bit load destination in 64-bit mode: the whole register */
	if (load && mode == 8 && insn->dst_size == 4)
		insn->dst_size = 8;

	insn->len = i + mlen + imm_len;
	return 0;
}

int kvisor_decode_prefixes(const u8 *bytes, unsigned int avail,
			   unsigned int mode)
{
	unsigned int lim = avail < KVISOR_INSN_MAX ? avail : KVISOR_INSN_MAX;
	unsigned int i;

	for (i = 0; i < lim; i++) {
		switch (bytes[i]) {
		case 0x66: case 0x67: case 0xf0: case 0xf2: case 0xf3:
		case 0x26: case 0x2e: case 0x36: case 0x3e: case 0x64: case 0x65:
			continue;
		default:
			if (mode == 8 && (bytes[i] & 0xf0) == 0x40)
				continue;
			return i;
		}
	}
	return -EINVAL;
}
