// SPDX-License-Identifier: GPL-2.0
/*
 * kvisor tool: ELF32 (EM_386) and ELF64 (EM_X86_64) executables.  The
 * PT_LOAD segments go to their physical addresses (p_paddr), bss zeroed;
 * the vCPU starts at e_entry (translated from virtual to physical when
 * it lies only in a segment's virtual range) -- ELF64 in long mode with
 * kvisor's identity-mapping page tables, ELF32 in flat protected mode.
 * Everything is checked before a byte is copied into guest RAM.
 */
#include <elf.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "tool.h"

bool elf_detect(const struct image *img)
{
	return img->size >= SELFMAG && !memcmp(img->data, ELFMAG, SELFMAG);
}

/* A program header, whichever the class. */
struct phdr {
	uint32_t type;
	uint64_t offset, vaddr, paddr, filesz, memsz;
};

static void get_phdr(const struct image *img, bool is64, uint64_t off,
		     struct phdr *p)
{
	if (is64) {
		Elf64_Phdr h;

		memcpy(&h, img->data + off, sizeof(h));
		*p = (struct phdr){ h.p_type, h.p_offset, h.p_vaddr,
				    h.p_paddr, h.p_filesz, h.p_memsz };
	} else {
		Elf32_Phdr h;

		memcpy(&h, img->data + off, sizeof(h));
		*p = (struct phdr){ h.p_type, h.p_offset, h.p_vaddr,
				    h.p_paddr, h.p_filesz, h.p_memsz };
	}
}

int elf_load_segments(const struct image *img, struct guest *g,
		      struct boot *b, bool *is64)
{
	const char *path = img->path;
	uint64_t phoff, entry, phys_entry = UINT64_MAX;
	unsigned int phnum, phentsize, machine, type, i, loads = 0;
	unsigned int want_machine, want_phentsize;
	struct phdr p;
	char what[64];
	int r;

	if (img->size < EI_NIDENT)
		return image_error(path, "truncated ELF header (%zu bytes)",
				   img->size);
	if (img->data[EI_CLASS] != ELFCLASS32 && img->data[EI_CLASS] != ELFCLASS64)
		return image_error(path, "unknown ELF class %u",
				   img->data[EI_CLASS]);
	*is64 = img->data[EI_CLASS] == ELFCLASS64;
	if (img->data[EI_DATA] != ELFDATA2LSB)
		return image_error(path, "big-endian ELF: not an x86 image");
	if (img->size < (*is64 ? sizeof(Elf64_Ehdr) : sizeof(Elf32_Ehdr)))
		return image_error(path, "truncated ELF header (%zu bytes)",
				   img->size);
	if (*is64) {
		Elf64_Ehdr eh;

		memcpy(&eh, img->data, sizeof(eh));
		type = eh.e_type;
		machine = eh.e_machine;
		entry = eh.e_entry;
		phoff = eh.e_phoff;
		phnum = eh.e_phnum;
		phentsize = eh.e_phentsize;
		want_machine = EM_X86_64;
		want_phentsize = sizeof(Elf64_Phdr);
	} else {
		Elf32_Ehdr eh;

		memcpy(&eh, img->data, sizeof(eh));
		type = eh.e_type;
		machine = eh.e_machine;
		entry = eh.e_entry;
		phoff = eh.e_phoff;
		phnum = eh.e_phnum;
		phentsize = eh.e_phentsize;
		want_machine = EM_386;
		want_phentsize = sizeof(Elf32_Phdr);
	}
	if (machine != want_machine)
		return image_error(path, "wrong machine %u for ELF%d (want %s)",
				   machine, *is64 ? 64 : 32,
				   *is64 ? "EM_X86_64 (62)" : "EM_386 (3)");
	if (type != ET_EXEC)
		return image_error(path,
				   "ELF type %u is not an executable (ET_EXEC)",
				   type);
	if (!phnum)
		return image_error(path, "no program headers");
	if (phentsize != want_phentsize)
		return image_error(path, "program header size %u, want %u",
				   phentsize, want_phentsize);
	if (phoff > img->size ||
	    (uint64_t)phnum * phentsize > img->size - phoff)
		return image_error(path,
				   "truncated: program headers at offset 0x%" PRIx64 " end beyond the file (%zu bytes)",
				   phoff, img->size);

	/* check every segment before copying any */
	for (i = 0; i < phnum; i++) {
		get_phdr(img, *is64, phoff + (uint64_t)i * phentsize, &p);
		if (p.type != PT_LOAD || !p.memsz)
			continue;
		if (p.filesz > p.memsz)
			return image_error(path,
					   "segment %u: file size 0x%" PRIx64 " exceeds memory size 0x%" PRIx64,
					   i, p.filesz, p.memsz);
		if (p.offset > img->size || p.filesz > img->size - p.offset)
			return image_error(path,
					   "truncated: segment %u's data at offset 0x%" PRIx64 "-0x%" PRIx64 " ends beyond the file (%zu bytes)",
					   i, p.offset, p.offset + p.filesz,
					   img->size);
		if (p.paddr + p.memsz < p.paddr)
			return image_error(path,
					   "segment %u at 0x%" PRIx64 " wraps around",
					   i, p.paddr);
		snprintf(what, sizeof(what), "segment %u", i);
		r = boot_add_region(path, g, b, p.paddr, p.paddr + p.memsz,
				    what);
		if (r)
			return r;
		loads++;
		if (entry >= p.paddr && entry < p.paddr + p.memsz)
			phys_entry = entry;
		else if (phys_entry == UINT64_MAX && entry >= p.vaddr &&
			 entry < p.vaddr + p.memsz)
			phys_entry = entry - p.vaddr + p.paddr;
		if (p.paddr + p.memsz > b->image_end)
			b->image_end = p.paddr + p.memsz;
	}
	if (!loads)
		return image_error(path, "no loadable (PT_LOAD) segments");
	if (phys_entry == UINT64_MAX)
		return image_error(path,
				   "entry point 0x%" PRIx64 " is in no loadable segment",
				   entry);

	for (i = 0; i < phnum; i++) {
		get_phdr(img, *is64, phoff + (uint64_t)i * phentsize, &p);
		if (p.type != PT_LOAD || !p.memsz)
			continue;
		memcpy(g->ram + p.paddr, img->data + p.offset, p.filesz);
		memset(g->ram + p.paddr + p.filesz, 0, p.memsz - p.filesz);
	}
	b->entry = phys_entry;
	return 0;
}

int load_elf(const struct run_opts *o, const struct image *img,
	     struct guest *g, struct boot *b)
{
	bool is64;
	int r;

	(void)o;
	r = elf_load_segments(img, g, b, &is64);
	if (r)
		return r;
	b->format = is64 ? "elf64" : "elf32";
	b->mode = is64 ? MODE_LONG : MODE_PROTECTED;
	return boot_setup_mode(img->path, g, b);
}
