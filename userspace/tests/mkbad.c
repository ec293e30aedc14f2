// SPDX-License-Identifier: GPL-2.0
/*
 * Write the crafted bad images tool_test.sh feeds to `kvisor run`, each
 * of which the tool must refuse (status 6) before opening /dev/kvisor:
 *
 *   empty.img        an empty file
 *   dir.img/         a directory
 *   trunc-hdr.elf    an ELF64 header cut short
 *   trunc-phdr.elf   program headers beyond the end of the file
 *   trunc-seg.elf    a segment's data beyond the end of the file
 *   machine.elf      ELF64 for EM_AARCH64
 *   dyn.elf          ET_DYN, not an executable
 *   beyond.elf       segment 1 at 0x8000000-0x8001000, beyond 128 MiB
 *   overlap.elf      segments 0 and 1 overlap
 *   collide.elf      a segment on kvisor's page tables (0x4000)
 *   noentry.elf      the entry point in no segment
 *   mb-video.bin     a multiboot header asking for a video mode
 *
 * and small Linux bzImages (a setup header, 4 setup sectors, then a
 * protected-mode kernel of 0x1000 bytes of hlt; protocol 2.15,
 * xloadflags 0x7f, pref_address 16 MiB, init_size 2 MiB, cmdline_size
 * 32, initrd_addr_max 0x7fffffff) -- one good, the others each with one
 * fault:
 *   linux-ok.bz      good (tool_test uses it for --check and the limits)
 *   linux-old.bz     protocol 2.06
 *   linux-32.bz      xloadflags without XLF_KERNEL_64
 *   linux-trunc.bz   syssize says 0x2000 bytes, the file has 0x1000
 *   linux-nosetup.bz cut after the setup sectors
 *   linux-huge.bz    init_size 512 MiB
 *   linux-nohdrs.bz  "HdrS" misspelt
 *
 * usage: mkbad DIR
 */
#include <elf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

struct seg {
	uint64_t paddr, memsz, filesz;
};

static const char *dir;

static void write_file(const char *name, const void *data, size_t len)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "wb");
	if (!f || fwrite(data, 1, len, f) != len || fclose(f)) {
		perror(path);
		exit(1);
	}
}

/*
 * An ELF64 executable with @n segments, their data from file offset
 * 0x1000 on (hlt loops); written cut to @cut bytes when @cut is not 0.
 */
static void elf64(const char *name, const struct seg *segs, unsigned int n,
		  uint16_t machine, uint16_t type, uint64_t entry, size_t cut)
{
	static uint8_t buf[0x10000];
	Elf64_Ehdr eh = {
		.e_ident = { ELFMAG0, ELFMAG1, ELFMAG2, ELFMAG3, ELFCLASS64,
			     ELFDATA2LSB, EV_CURRENT },
		.e_type = type,
		.e_machine = machine,
		.e_version = EV_CURRENT,
		.e_entry = entry,
		.e_phoff = sizeof(Elf64_Ehdr),
		.e_ehsize = sizeof(Elf64_Ehdr),
		.e_phentsize = sizeof(Elf64_Phdr),
		.e_phnum = n,
	};
	size_t off = 0x1000;
	unsigned int i;

	memset(buf, 0, sizeof(buf));
	memcpy(buf, &eh, sizeof(eh));
	for (i = 0; i < n; i++) {
		Elf64_Phdr ph = {
			.p_type = PT_LOAD,
			.p_flags = PF_R | PF_W | PF_X,
			.p_offset = off,
			.p_vaddr = segs[i].paddr,
			.p_paddr = segs[i].paddr,
			.p_filesz = segs[i].filesz,
			.p_memsz = segs[i].memsz,
			.p_align = 0x1000,
		};

		memcpy(buf + sizeof(eh) + i * sizeof(ph), &ph, sizeof(ph));
		memset(buf + off, 0xf4, segs[i].filesz);	/* hlt */
		off += segs[i].filesz;
	}
	write_file(name, buf, cut ? cut : off);
}

/* A bzImage as the header comment says, one field changed by @fault. */
static void bzimage(const char *name, const char *fault)
{
	static uint8_t buf[5 * 512 + 0x1000];
	size_t len = sizeof(buf);
	uint16_t version = 0x020f, xlf = 0x7f;
	uint32_t syssize = 0x1000 / 16, init_size = 2u << 20;
	uint64_t pref = 16u << 20;
	uint32_t v32;

	if (!strcmp(fault, "old"))
		version = 0x0206;
	if (!strcmp(fault, "32"))
		xlf = 0x02;
	if (!strcmp(fault, "trunc"))
		syssize = 0x2000 / 16;
	if (!strcmp(fault, "nosetup"))
		len = 5 * 512;
	if (!strcmp(fault, "huge"))
		init_size = 512u << 20;
	memset(buf, 0, sizeof(buf));
	memset(buf + 5 * 512, 0xf4, 0x1000);		/* hlt */
	buf[0x1f1] = 4;					/* setup_sects */
	memcpy(buf + 0x1f4, &syssize, 4);
	buf[0x1fe] = 0x55;
	buf[0x1ff] = 0xaa;
	buf[0x200] = 0xeb;				/* jmp: header end */
	buf[0x201] = 0x6a;
	memcpy(buf + 0x202, strcmp(fault, "nohdrs") ? "HdrS" : "HdrZ", 4);
	memcpy(buf + 0x206, &version, 2);
	buf[0x211] = 0x01;				/* LOADED_HIGH */
	v32 = 0x7fffffff;
	memcpy(buf + 0x22c, &v32, 4);			/* initrd_addr_max */
	v32 = 0x200000;
	memcpy(buf + 0x230, &v32, 4);			/* kernel_alignment */
	buf[0x234] = 1;					/* relocatable */
	memcpy(buf + 0x236, &xlf, 2);
	v32 = 32;
	memcpy(buf + 0x238, &v32, 4);			/* cmdline_size */
	memcpy(buf + 0x258, &pref, 8);
	memcpy(buf + 0x260, &init_size, 4);
	write_file(name, buf, len);
}

int main(int argc, char **argv)
{
	static const struct seg one[] = { { 0x100000, 0x1000, 0x100 } };
	static const struct seg beyond[] = {
		{ 0x100000, 0x1000, 0x100 }, { 0x8000000, 0x1000, 0x100 },
	};
	static const struct seg overlap[] = {
		{ 0x100000, 0x2000, 0x100 }, { 0x101000, 0x1000, 0x100 },
	};
	static const struct seg collide[] = { { 0x4000, 0x1000, 0x100 } };
	static const uint32_t mb_video[] = {
		0x1badb002, 0x00010004, -(0x1badb002u + 0x00010004u),
		0x100000, 0x100000, 0, 0, 0x100020,
	};
	char path[4096];

	if (argc != 2) {
		fprintf(stderr, "usage: mkbad DIR\n");
		return 2;
	}
	dir = argv[1];
	mkdir(dir, 0755);
	write_file("empty.img", "", 0);
	snprintf(path, sizeof(path), "%s/dir.img", dir);
	mkdir(path, 0755);
	elf64("trunc-hdr.elf", one, 1, EM_X86_64, ET_EXEC, 0x100000, 30);
	elf64("trunc-phdr.elf", beyond, 2, EM_X86_64, ET_EXEC, 0x100000, 100);
	elf64("trunc-seg.elf", one, 1, EM_X86_64, ET_EXEC, 0x100000, 0x1080);
	elf64("machine.elf", one, 1, EM_AARCH64, ET_EXEC, 0x100000, 0);
	elf64("dyn.elf", one, 1, EM_X86_64, ET_DYN, 0x100000, 0);
	elf64("beyond.elf", beyond, 2, EM_X86_64, ET_EXEC, 0x100000, 0);
	elf64("overlap.elf", overlap, 2, EM_X86_64, ET_EXEC, 0x100000, 0);
	elf64("collide.elf", collide, 1, EM_X86_64, ET_EXEC, 0x4000, 0);
	elf64("noentry.elf", one, 1, EM_X86_64, ET_EXEC, 0x200000, 0);
	write_file("mb-video.bin", mb_video, sizeof(mb_video));
	bzimage("linux-ok.bz", "");
	bzimage("linux-old.bz", "old");
	bzimage("linux-32.bz", "32");
	bzimage("linux-trunc.bz", "trunc");
	bzimage("linux-nosetup.bz", "nosetup");
	bzimage("linux-huge.bz", "huge");
	bzimage("linux-nohdrs.bz", "nohdrs");
	return 0;
}
