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
	return 0;
}
