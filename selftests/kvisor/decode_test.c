// SPDX-License-Identifier: GPL-2.0
/*
 * The MMIO instruction decoder (module/decode.c), built into this test as
 * it is into kvisor.ko, against a table of encodings (each checked with
 * objdump when written).  Every field of every result is compared; each
 * accepted encoding is also decoded with trailing garbage (must not
 * change anything) and with every truncation of it (must be refused).
 *
 * Needs neither the module nor virtualization: runs in every box and on
 * the host (build/selftests/kvisor/decode_test).
 */
#include <stdio.h>
#include <string.h>

#include "kselftest_harness.h"
#include "../../module/decode.c"

#define OK	0
#define BAD	(-EINVAL)
#define NONE	KVISOR_REG_NONE
#define STORE	KVISOR_INSN_MOV_STORE
#define LOAD	KVISOR_INSN_MOV_LOAD
#define MOVZX	KVISOR_INSN_MOVZX
#define MOVSX	KVISOR_INSN_MOVSX
#define STOS	KVISOR_INSN_STOS
#define MOVS	KVISOR_INSN_MOVS

struct dcase {
	const char *what;
	unsigned int mode;	/* 2, 4, 8 */
	const char *hex;	/* the bytes; avail is their number */
	int ret;
	/* expected fields when ret == 0 (len is the byte count) */
	enum kvisor_insn_op op;
	u8 size, dst_size, addr_size;
	int reg;
	bool high_byte, has_imm;
	u64 imm;
	bool rep;
};

/* refused encodings leave the expected fields out */
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
static const struct dcase cases[] = {
/* what				mode hex				   ret  op    sz dst ad reg  hi imm  immval		   rep */
/* 64-bit mode: MOV stores, registers, REX */
{ "mov [rax],ecx",		8, "89 08",				   OK, STORE, 4, 0, 8, 1,    0, 0, 0, 0 },
{ "mov [rax],rcx",		8, "48 89 08",				   OK, STORE, 8, 0, 8, 1,    0, 0, 0, 0 },
{ "mov [rax],cx",		8, "66 89 08",				   OK, STORE, 2, 0, 8, 1,    0, 0, 0, 0 },
{ "mov [rax],ah",		8, "88 20",				   OK, STORE, 1, 0, 8, 0,    1, 0, 0, 0 },
{ "mov [rax],spl (REX)",	8, "40 88 20",				   OK, STORE, 1, 0, 8, 4,    0, 0, 0, 0 },
{ "mov [rax],r8b",		8, "44 88 00",				   OK, STORE, 1, 0, 8, 8,    0, 0, 0, 0 },
{ "mov [r8],r8b",		8, "45 88 00",				   OK, STORE, 1, 0, 8, 8,    0, 0, 0, 0 },
{ "mov [rsp],r15 (SIB)",	8, "4c 89 3c 24",			   OK, STORE, 8, 0, 8, 15,   0, 0, 0, 0 },
{ "mov [rsp+8],r15d disp8",	8, "44 89 7c 24 08",			   OK, STORE, 4, 0, 8, 15,   0, 0, 0, 0 },
{ "mov [rip+disp32],eax",	8, "89 05 78 56 34 12",			   OK, STORE, 4, 0, 8, 0,    0, 0, 0, 0 },
{ "mov [eip+0],eax (67)",	8, "67 89 05 00 00 00 00",		   OK, STORE, 4, 0, 4, 0,    0, 0, 0, 0 },
{ "mov [rbp+8],eax",		8, "89 45 08",				   OK, STORE, 4, 0, 8, 0,    0, 0, 0, 0 },
{ "mov [r8],eax (REX.B)",	8, "41 89 00",				   OK, STORE, 4, 0, 8, 0,    0, 0, 0, 0 },
{ "mov [rax+r8],eax (REX.X)",	8, "42 89 04 00",			   OK, STORE, 4, 0, 8, 0,    0, 0, 0, 0 },
{ "mov [riz*2+0],eax SIB nobase",8, "89 04 65 00 00 00 00",		   OK, STORE, 4, 0, 8, 0,    0, 0, 0, 0 },
{ "mov gs:[rax],rcx",		8, "65 48 89 08",			   OK, STORE, 8, 0, 8, 1,    0, 0, 0, 0 },
{ "mov cs:[rax],ecx",		8, "2e 89 08",				   OK, STORE, 4, 0, 8, 1,    0, 0, 0, 0 },
{ "lock mov [rax],ecx",		8, "f0 89 08",				   OK, STORE, 4, 0, 8, 1,    0, 0, 0, 0 },
{ "REX then 66: REX void",	8, "48 66 89 08",			   OK, STORE, 2, 0, 8, 1,    0, 0, 0, 0 },
{ "66 then REX.W: W wins",	8, "66 48 89 08",			   OK, STORE, 8, 0, 8, 1,    0, 0, 0, 0 },
/* 64-bit mode: immediates */
{ "mov byte [rax],0xff",	8, "c6 00 ff",				   OK, STORE, 1, 0, 8, NONE, 0, 1, 0xff, 0 },
{ "mov word [rax],0x1234",	8, "66 c7 00 34 12",			   OK, STORE, 2, 0, 8, NONE, 0, 1, 0x1234, 0 },
{ "mov dword [rax],0x80000000",	8, "c7 00 00 00 00 80",			   OK, STORE, 4, 0, 8, NONE, 0, 1, 0x80000000, 0 },
{ "mov qword [rax],imm32 sext",	8, "48 c7 00 00 00 00 80",		   OK, STORE, 8, 0, 8, NONE, 0, 1, 0xffffffff80000000ull, 0 },
{ "mov qword [rax+8],0x7fffffff",8, "48 c7 40 08 ff ff ff 7f",		   OK, STORE, 8, 0, 8, NONE, 0, 1, 0x7fffffff, 0 },
{ "mov qword [rip-16],1",	8, "48 c7 05 f0 ff ff ff 01 00 00 00",	   OK, STORE, 8, 0, 8, NONE, 0, 1, 1, 0 },
{ "mov dword [rax+rcx*4+d32],imm",8, "c7 84 88 78 56 34 12 ef be ad de",   OK, STORE, 4, 0, 8, NONE, 0, 1, 0xdeadbeef, 0 },
{ "mov qword [rax],-1",		8, "48 c7 00 ff ff ff ff",		   OK, STORE, 8, 0, 8, NONE, 0, 1, ~0ull, 0 },
/* 64-bit mode: loads (32-bit destinations are whole-register writes) */
{ "mov eax,[0xc0000000] SIB",	8, "8b 04 25 00 00 00 c0",		   OK, LOAD,  4, 8, 8, 0,    0, 0, 0, 0 },
{ "mov ah,[0x1000]",		8, "8a 24 25 00 10 00 00",		   OK, LOAD,  1, 1, 8, 0,    1, 0, 0, 0 },
{ "mov bh,[rax]",		8, "8a 38",				   OK, LOAD,  1, 1, 8, 3,    1, 0, 0, 0 },
{ "mov dil,[rax]",		8, "40 8a 38",				   OK, LOAD,  1, 1, 8, 7,    0, 0, 0, 0 },
{ "mov rax,[rax+0x100]",	8, "48 8b 80 00 01 00 00",		   OK, LOAD,  8, 8, 8, 0,    0, 0, 0, 0 },
{ "mov ax,[rbx+2]",		8, "66 8b 43 02",			   OK, LOAD,  2, 2, 8, 0,    0, 0, 0, 0 },
{ "mov r9d,[rax]",		8, "44 8b 08",				   OK, LOAD,  4, 8, 8, 9,    0, 0, 0, 0 },
{ "mov eax,moffs64",		8, "a1 00 00 00 c0 00 00 00 00",	   OK, LOAD,  4, 8, 8, 0,    0, 0, 0, 0 },
{ "mov moffs64,rax",		8, "48 a3 00 10 00 00 00 00 00 00",	   OK, STORE, 8, 0, 8, 0,    0, 0, 0, 0 },
{ "mov al,moffs32 (67)",	8, "67 a0 00 00 00 c0",			   OK, LOAD,  1, 1, 4, 0,    0, 0, 0, 0 },
{ "mov moffs64,al",		8, "a2 00 00 00 c0 00 00 00 00",	   OK, STORE, 1, 0, 8, 0,    0, 0, 0, 0 },
{ "movzx eax,byte [rax]",	8, "0f b6 00",				   OK, MOVZX, 1, 8, 8, 0,    0, 0, 0, 0 },
{ "movzx rcx,word [rax]",	8, "48 0f b7 08",			   OK, MOVZX, 2, 8, 8, 1,    0, 0, 0, 0 },
{ "movzx dx,byte [rax]",	8, "66 0f b6 10",			   OK, MOVZX, 1, 2, 8, 2,    0, 0, 0, 0 },
{ "movzx esi,byte [rax] no hi",	8, "0f b6 30",				   OK, MOVZX, 1, 8, 8, 6,    0, 0, 0, 0 },
{ "movsx ebx,byte [rax]",	8, "0f be 18",				   OK, MOVSX, 1, 4, 8, 3,    0, 0, 0, 0 },
{ "movsx ecx,word [rax]",	8, "0f bf 08",				   OK, MOVSX, 2, 4, 8, 1,    0, 0, 0, 0 },
{ "movsx r8,word [rax]",	8, "4c 0f bf 00",			   OK, MOVSX, 2, 8, 8, 8,    0, 0, 0, 0 },
{ "movsxd rcx,dword [rax]",	8, "48 63 08",				   OK, MOVSX, 4, 8, 8, 1,    0, 0, 0, 0 },
/* 64-bit mode: strings */
{ "stosb",			8, "aa",				   OK, STOS,  1, 0, 8, 0,    0, 0, 0, 0 },
{ "rep stosq",			8, "f3 48 ab",				   OK, STOS,  8, 0, 8, 0,    0, 0, 0, 1 },
{ "stosw",			8, "66 ab",				   OK, STOS,  2, 0, 8, 0,    0, 0, 0, 0 },
{ "rep movsb",			8, "f3 a4",				   OK, MOVS,  1, 0, 8, NONE, 0, 0, 0, 1 },
{ "movsd addr32",		8, "67 a5",				   OK, MOVS,  4, 0, 4, NONE, 0, 0, 0, 0 },
{ "13 prefixes: 15 bytes ok",	8, "66 66 66 66 66 66 66 66 66 66 66 66 66 89 08", OK, STORE, 2, 0, 8, 1, 0, 0, 0, 0 },
/* 32-bit protected mode */
{ "32: mov [eax],ecx",		4, "89 08",				   OK, STORE, 4, 0, 4, 1,    0, 0, 0, 0 },
{ "32: mov ecx,[disp32]",	4, "8b 0d 00 00 00 c0",			   OK, LOAD,  4, 4, 4, 1,    0, 0, 0, 0 },
{ "32: mov [bx+si],ecx (67)",	4, "67 89 08",				   OK, STORE, 4, 0, 2, 1,    0, 0, 0, 0 },
{ "32: mov ecx,[disp16] (67)",	4, "67 8b 0e 34 12",			   OK, LOAD,  4, 4, 2, 1,    0, 0, 0, 0 },
{ "32: mov eax,moffs32",	4, "a1 00 00 00 c0",			   OK, LOAD,  4, 4, 4, 0,    0, 0, 0, 0 },
{ "32: mov eax,moffs16 (67)",	4, "67 a1 00 10",			   OK, LOAD,  4, 4, 2, 0,    0, 0, 0, 0 },
{ "32: mov dword [d32],imm32",	4, "c7 05 00 00 00 c0 78 56 34 12",	   OK, STORE, 4, 0, 4, NONE, 0, 1, 0x12345678, 0 },
{ "32: rep stosd",		4, "f3 ab",				   OK, STOS,  4, 0, 4, 0,    0, 0, 0, 1 },
{ "32: mov [eax+4],ah",		4, "88 60 04",				   OK, STORE, 1, 0, 4, 0,    1, 0, 0, 0 },
{ "32: movsx ecx,word [eax]",	4, "0f bf 08",				   OK, MOVSX, 2, 4, 4, 1,    0, 0, 0, 0 },
{ "32: mov ax,[eax] (66)",	4, "66 8b 00",				   OK, LOAD,  2, 2, 4, 0,    0, 0, 0, 0 },
/* 16-bit modes */
{ "16: mov [bx],ax",		2, "89 07",				   OK, STORE, 2, 0, 2, 0,    0, 0, 0, 0 },
{ "16: mov ax,[bp+2]",		2, "8b 46 02",				   OK, LOAD,  2, 2, 2, 0,    0, 0, 0, 0 },
{ "16: mov [disp16],si",	2, "89 36 00 10",			   OK, STORE, 2, 0, 2, 6,    0, 0, 0, 0 },
{ "16: mov [bx+disp16],eax (66)",2, "66 89 87 34 12",			   OK, STORE, 4, 0, 2, 0,    0, 0, 0, 0 },
{ "16: mov [esp],ax (67 SIB)",	2, "67 89 04 24",			   OK, STORE, 2, 0, 4, 0,    0, 0, 0, 0 },
{ "16: mov byte [disp16],0x7f",	2, "c6 06 00 10 7f",			   OK, STORE, 1, 0, 2, NONE, 0, 1, 0x7f, 0 },
{ "16: mov word [disp16],imm16",2, "c7 06 00 10 34 12",			   OK, STORE, 2, 0, 2, NONE, 0, 1, 0x1234, 0 },
{ "16: mov dword [d16],imm32",	2, "66 c7 06 00 10 78 56 34 12",	   OK, STORE, 4, 0, 2, NONE, 0, 1, 0x12345678, 0 },
{ "16: mov al,moffs16",		2, "a0 00 10",				   OK, LOAD,  1, 1, 2, 0,    0, 0, 0, 0 },
{ "16: mov ah,[disp16]",	2, "8a 26 00 10",			   OK, LOAD,  1, 1, 2, 0,    1, 0, 0, 0 },
{ "16: stosb",			2, "aa",				   OK, STOS,  1, 0, 2, 0,    0, 0, 0, 0 },
{ "16: movzx eax,byte [bx] (66)",2, "66 0f b6 07",			   OK, MOVZX, 1, 4, 2, 0,    0, 0, 0, 0 },
/* refused */
{ "add [rax],ecx",		8, "01 08",				   BAD },
{ "add [0xc0000000],eax",	8, "01 04 25 00 00 00 c0",		   BAD },
{ "xchg [rax],ecx",		8, "87 08",				   BAD },
{ "cmpxchg [rax],ecx",		8, "0f b1 08",				   BAD },
{ "lock cmpxchg [rax],ecx",	8, "f0 0f b1 08",			   BAD },
{ "push [rax]",			8, "ff 30",				   BAD },
{ "pop [rax]",			8, "8f 00",				   BAD },
{ "cmpsb",			8, "a6",				   BAD },
{ "repe scasb",			8, "f3 ae",				   BAD },
{ "F2 prefix on mov",		8, "f2 89 08",				   BAD },
{ "repne movsd",		8, "f2 a5",				   BAD },
{ "rep on mov",			8, "f3 89 08",				   BAD },
{ "lock on a load",		8, "f0 8b 08",				   BAD },
{ "lock on stos",		8, "f0 aa",				   BAD },
{ "popcnt (F3 0F B8)",		8, "f3 0f b8 08",			   BAD },
{ "mov eax,ecx: no memory",	8, "89 c8",				   BAD },
{ "movzx eax,cl: no memory",	8, "0f b6 c1",				   BAD },
{ "C6 /1",			8, "c6 08 ff",				   BAD },
{ "C7 /7 (xbegin-like)",	8, "c7 38 00 00 00 00",			   BAD },
{ "movsxd without REX.W",	8, "63 08",				   BAD },
{ "arpl in 32-bit mode",	4, "63 08",				   BAD },
{ "REX.W in 32-bit = dec eax",	4, "48 89 08",				   BAD },
{ "0F alone",			8, "0f",				   BAD },
{ "only a REX",			8, "48",				   BAD },
{ "truncated imm32",		8, "48 c7 00 00 00 00",			   BAD },
{ "truncated SIB",		8, "89 04",				   BAD },
{ "truncated disp32",		8, "89 05 00 00 00",			   BAD },
{ "truncated disp16",		2, "89 36 00",				   BAD },
{ "truncated moffs64",		8, "a1 00 00 00 c0 00 00 00",		   BAD },
{ "empty",			8, "",					   BAD },
{ "14 prefixes: 16 bytes",	8, "66 66 66 66 66 66 66 66 66 66 66 66 66 66 89 08", BAD },
{ "16 prefix bytes",		8, "26 2e 36 3e 64 65 66 67 26 2e 36 3e 64 65 66 67", BAD },
{ "16 bytes: imm past 15",	8, "66 66 66 66 66 66 66 66 66 48 c7 00 00 00 00 80", BAD },
{ "mode 3 does not exist",	3, "89 08",				   BAD },
{ "mode 0 does not exist",	0, "89 08",				   BAD },
};

static unsigned int parse_hex(const char *s, u8 *out, unsigned int max)
{
	unsigned int n = 0, v;
	int used;

	while (n < max && sscanf(s, " %2x%n", &v, &used) == 1) {
		out[n++] = (u8)v;
		s += used;
	}
	return n;
}

static const char *op_name(enum kvisor_insn_op op)
{
	static const char *const names[] = { "MOV_STORE", "MOV_LOAD", "MOVZX",
					     "MOVSX", "STOS", "MOVS" };

	return (unsigned int)op < 6 ? names[op] : "?";
}

TEST(table_is_large)
{
	EXPECT_LE(40, (int)(sizeof(cases) / sizeof(cases[0])));
}

TEST(encodings)
{
	unsigned int c, n, k;

	for (c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		const struct dcase *t = &cases[c];
		struct kvisor_insn in;
		u8 buf[32];
		int r;

		memset(buf, 0xcc, sizeof(buf));
		n = parse_hex(t->hex, buf, sizeof(buf));
		memset(&in, 0x5a, sizeof(in));
		r = kvisor_decode_mmio(buf, n, t->mode, &in);
		ASSERT_EQ(t->ret, r) TH_LOG("%s (mode %u, %s)", t->what, t->mode, t->hex);
		if (r)
			continue;
		EXPECT_EQ(t->op, in.op) TH_LOG("%s: op %s", t->what, op_name(in.op));
		EXPECT_EQ(n, in.len) TH_LOG("%s: len", t->what);
		EXPECT_EQ(t->size, in.size) TH_LOG("%s: size", t->what);
		EXPECT_EQ(t->dst_size, in.dst_size) TH_LOG("%s: dst_size", t->what);
		EXPECT_EQ(t->addr_size, in.addr_size) TH_LOG("%s: addr_size", t->what);
		EXPECT_EQ(t->reg, in.reg) TH_LOG("%s: reg", t->what);
		EXPECT_EQ(t->high_byte, in.high_byte) TH_LOG("%s: high_byte", t->what);
		EXPECT_EQ(t->has_imm, in.has_imm) TH_LOG("%s: has_imm", t->what);
		EXPECT_EQ(t->imm, in.imm) TH_LOG("%s: imm %#llx", t->what,
						 (unsigned long long)in.imm);
		EXPECT_EQ(t->rep, in.rep) TH_LOG("%s: rep", t->what);

		/* bytes after the instruction change nothing */
		{
			struct kvisor_insn in2;

			memset(&in2, 0, sizeof(in2));
			EXPECT_EQ(0, kvisor_decode_mmio(buf, sizeof(buf), t->mode, &in2))
				TH_LOG("%s + trailing bytes", t->what);
			EXPECT_EQ(in.len, in2.len) TH_LOG("%s + trailing bytes", t->what);
			EXPECT_EQ(in.imm, in2.imm) TH_LOG("%s + trailing bytes", t->what);
			EXPECT_EQ(in.reg, in2.reg) TH_LOG("%s + trailing bytes", t->what);
			EXPECT_EQ(in.size, in2.size) TH_LOG("%s + trailing bytes", t->what);
		}
		/* every truncation is refused */
		for (k = 0; k < n; k++)
			EXPECT_EQ(-EINVAL, kvisor_decode_mmio(buf, k, t->mode, &in))
				TH_LOG("%s truncated to %u bytes", t->what, k);
	}
}

/* No opcode outside the supported set decodes, whatever follows it. */
TEST(unsupported_one_byte_opcodes)
{
	static const u8 ok[] = { 0x88, 0x89, 0x8a, 0x8b, 0xc6, 0xc7, 0xa0, 0xa1,
				 0xa2, 0xa3, 0xa4, 0xa5, 0xaa, 0xab, 0x63, 0x0f };
	static const u8 prefix[] = { 0x26, 0x2e, 0x36, 0x3e, 0x64, 0x65, 0x66,
				     0x67, 0xf0, 0xf2, 0xf3 };
	struct kvisor_insn in;
	unsigned int op, j, mode;
	u8 buf[16];

	for (mode = 2; mode <= 8; mode *= 2) {
		for (op = 0; op < 256; op++) {
			bool skip = memchr(ok, op, sizeof(ok)) || memchr(prefix, op, sizeof(prefix)) ||
				    (mode == 8 && (op & 0xf0) == 0x40);

			if (skip)
				continue;
			buf[0] = op;
			for (j = 1; j < sizeof(buf); j++)
				buf[j] = 0;
			EXPECT_EQ(-EINVAL, kvisor_decode_mmio(buf, sizeof(buf), mode, &in))
				TH_LOG("opcode %#x in mode %u", op, mode);
		}
	}
}

TEST_HARNESS_MAIN
