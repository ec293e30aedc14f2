// SPDX-License-Identifier: GPL-2.0
/*
 * kvisor tool: Multiboot (version 1) kernels.
 *
 * The header is looked for, 4-byte aligned, in the first 8 KiB.  With
 * flag bit 16 the a.out kludge address fields say what to load where;
 * otherwise the file must be ELF (32 or 64) and its PT_LOAD segments are
 * loaded.  Flags 0 (page-align modules) and 1 (memory information) are
 * always honoured; any other requirement in bits 0-15 (e.g. bit 2, a
 * video mode) is refused, as the specification asks.
 *
 * Machine state, per the specification: EAX 0x2BADB002, EBX the
 * multiboot information structure (at BOOT_MBI), 32-bit protected mode
 * without paging, CS 0x08 flat code, DS/ES/FS/GS/SS 0x10 flat data,
 * interrupts off; ESP and the IDT are undefined (ESP 0, IDT limit 0).
 *
 * The information structure has mem_lower/mem_upper, a memory map
 * (0-640 KiB available, 640 KiB-1 MiB reserved, 1 MiB-end of RAM
 * available), the command line (--cmdline, "" when none), the modules
 * (--module FILE, each page-aligned after the kernel and the previous
 * module, with the file name as its command line) and the boot loader
 * name "kvisor".
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "tool.h"

#define MB_MAGIC		0x1badb002u
#define MB_BOOT_MAGIC		0x2badb002u
#define MB_SEARCH		8192
#define MB_FLAG_ALIGN		(1u << 0)
#define MB_FLAG_MEMINFO		(1u << 1)
#define MB_FLAG_VIDEO		(1u << 2)
#define MB_FLAG_AOUT		(1u << 16)

#define MBI_MEM			(1u << 0)
#define MBI_CMDLINE		(1u << 2)
#define MBI_MODS		(1u << 3)
#define MBI_MMAP		(1u << 6)
#define MBI_LOADER_NAME		(1u << 9)
#define MBI_SIZE		120	/* through the framebuffer fields */

static uint32_t get32(const uint8_t *p)
{
	return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24;
}

static void put32(struct guest *g, uint64_t addr, uint32_t v)
{
	memcpy(g->ram + addr, &v, 4);
}

static void put64(struct guest *g, uint64_t addr, uint64_t v)
{
	memcpy(g->ram + addr, &v, 8);
}

long multiboot_detect(const struct image *img)
{
	size_t off, end = img->size < MB_SEARCH ? img->size : MB_SEARCH;

	for (off = 0; off + 12 <= end; off += 4) {
		const uint8_t *h = img->data + off;

		if (get32(h) == MB_MAGIC &&
		    get32(h) + get32(h + 4) + get32(h + 8) == 0)
			return off;
	}
	return -1;
}

static int load_aout(const struct image *img, size_t hoff, struct guest *g,
		     struct boot *b)
{
	const uint8_t *h = img->data + hoff;
	uint32_t header_addr, load_addr, load_end, bss_end;
	uint64_t file_off, len, end;
	int r;

	if (hoff + 32 > img->size)
		return image_error(img->path,
				   "truncated multiboot header (address fields)");
	header_addr = get32(h + 12);
	load_addr = get32(h + 16);
	load_end = get32(h + 20);
	bss_end = get32(h + 24);
	b->entry = get32(h + 28);
	if (load_addr > header_addr || header_addr - load_addr > hoff)
		return image_error(img->path,
				   "multiboot load_addr 0x%x is not at or before header_addr 0x%x within the file",
				   load_addr, header_addr);
	file_off = hoff - (header_addr - load_addr);
	len = load_end ? (uint64_t)load_end - load_addr : img->size - file_off;
	if (load_end && load_end < load_addr)
		return image_error(img->path,
				   "multiboot load_end_addr 0x%x is below load_addr 0x%x",
				   load_end, load_addr);
	if (len > img->size - file_off)
		return image_error(img->path,
				   "truncated: multiboot load_end_addr 0x%x is beyond the end of the file",
				   load_end);
	end = (uint64_t)load_addr + len;
	if (bss_end && bss_end < end)
		return image_error(img->path,
				   "multiboot bss_end_addr 0x%x is below load_end_addr 0x%" PRIx64,
				   bss_end, end);
	if (bss_end)
		end = bss_end;
	r = boot_add_region(img->path, g, b, load_addr, end, "kernel");
	if (r)
		return r;
	memcpy(g->ram + load_addr, img->data + file_off, len);
	memset(g->ram + load_addr + len, 0, end - load_addr - len);
	b->image_end = end;
	if (b->entry < load_addr || b->entry >= end)
		return image_error(img->path,
				   "multiboot entry_addr 0x%" PRIx64 " is outside the kernel (0x%x-0x%" PRIx64 ")",
				   b->entry, load_addr, end);
	return 0;
}

/* Append a NUL-terminated string to the command-line page. */
static int put_string(const struct image *img, struct guest *g,
		      uint64_t *at, const char *s, uint32_t *addr)
{
	size_t n = strlen(s) + 1;

	if (*at + n > BOOT_CMDLINE + BOOT_CMDLINE_SIZE) {
		image_error(img->path,
			    "command line and module names take more than %llu bytes",
			    BOOT_CMDLINE_SIZE);
		return EXIT_USAGE;
	}
	memcpy(g->ram + *at, s, n);
	*addr = *at;
	*at += n;
	return 0;
}

static int load_modules(const struct run_opts *o, const struct image *img,
			struct guest *g, struct boot *b, uint64_t mods,
			uint64_t *str)
{
	uint64_t at = (b->image_end + 0xfff) & ~0xfffull;
	struct image m;
	char what[64];
	uint32_t name;
	unsigned int i;
	int r;

	for (i = 0; i < o->nr_modules; i++) {
		r = read_image(o->modules[i], &m, "module");
		if (r)
			return r;
		snprintf(what, sizeof(what), "module %u (%.40s)", i,
			 o->modules[i]);
		if (at + m.size > 0x100000000ull)
			r = image_error(o->modules[i],
					"module at 0x%" PRIx64 " would end beyond 4 GiB",
					at);
		else
			r = boot_add_region(o->modules[i], g, b, at,
					    at + m.size, what);
		if (!r) {
			memcpy(g->ram + at, m.data, m.size);
			r = put_string(img, g, str, o->modules[i], &name);
		}
		free_image(&m);
		if (r)
			return r;
		put32(g, mods + 16 * i, at);
		put32(g, mods + 16 * i + 4, at + m.size);
		put32(g, mods + 16 * i + 8, name);
		put32(g, mods + 16 * i + 12, 0);
		at = (at + m.size + 0xfff) & ~0xfffull;
	}
	return 0;
}

int load_multiboot(const struct run_opts *o, const struct image *img,
		   struct guest *g, struct boot *b)
{
	long hoff = multiboot_detect(img);
	uint64_t mmap, mods, str = BOOT_CMDLINE, top;
	uint32_t flags, addr, mbi_flags;
	bool is64;
	int r;

	if (hoff < 0)
		return image_error(img->path,
				   "no multiboot header in the first 8 KiB");
	flags = get32(img->data + hoff + 4);
	if (flags & MB_FLAG_VIDEO)
		return image_error(img->path,
				   "multiboot header asks for a video mode (flag 2), which kvisor cannot provide");
	if (flags & 0xfff8u)
		return image_error(img->path,
				   "multiboot header has unknown required flags 0x%x",
				   flags & 0xfff8u);
	b->format = "multiboot";
	b->mode = MODE_PROTECTED;
	if (flags & MB_FLAG_AOUT) {
		r = load_aout(img, hoff, g, b);
	} else if (elf_detect(img)) {
		r = elf_load_segments(img, g, b, &is64);
		b->format = is64 ? "multiboot elf64" : "multiboot elf32";
	} else {
		r = image_error(img->path,
				"multiboot header without address fields (flag 16) in a file that is not ELF");
	}
	if (r)
		return r;
	if (b->entry > 0xffffffffull)
		return image_error(img->path,
				   "entry point 0x%" PRIx64 " is beyond 4 GiB",
				   b->entry);

	r = boot_setup_mode(img->path, g, b);
	r = r ?: boot_add_region(img->path, g, b, BOOT_MBI,
				 BOOT_MBI + BOOT_MBI_SIZE,
				 "kvisor's multiboot information");
	r = r ?: boot_add_region(img->path, g, b, BOOT_CMDLINE,
				 BOOT_CMDLINE + BOOT_CMDLINE_SIZE,
				 "kvisor's multiboot command lines");
	if (r)
		return r;

	/* the information structure, then the memory map and module list */
	memset(g->ram + BOOT_MBI, 0, BOOT_MBI_SIZE);
	mbi_flags = MBI_MEM | MBI_CMDLINE | MBI_MMAP | MBI_LOADER_NAME;
	put32(g, BOOT_MBI + 4, (g->size < 0xa0000 ? g->size : 0xa0000) >> 10);
	top = g->size < (1ull << 32) ? g->size : (1ull << 32);
	put32(g, BOOT_MBI + 8, top > 0x100000 ? (top - 0x100000) >> 10 : 0);

	r = put_string(img, g, &str, o->cmdline ? o->cmdline : "", &addr);
	if (r)
		return r;
	put32(g, BOOT_MBI + 16, addr);
	r = put_string(img, g, &str, "kvisor", &addr);
	if (r)
		return r;
	put32(g, BOOT_MBI + 64, addr);

	mmap = BOOT_MBI + MBI_SIZE;
	put32(g, mmap, 20);
	put64(g, mmap + 4, 0);
	put64(g, mmap + 12, 0xa0000);
	put32(g, mmap + 20, 1);			/* available */
	put32(g, mmap + 24, 20);
	put64(g, mmap + 28, 0xa0000);
	put64(g, mmap + 36, 0x60000);
	put32(g, mmap + 44, 2);			/* reserved */
	put32(g, mmap + 48, 20);
	put64(g, mmap + 52, 0x100000);
	put64(g, mmap + 60, g->size - 0x100000);
	put32(g, mmap + 68, 1);
	put32(g, BOOT_MBI + 44, 72);
	put32(g, BOOT_MBI + 48, mmap);

	mods = mmap + 72;
	if (o->nr_modules) {
		mbi_flags |= MBI_MODS;
		r = load_modules(o, img, g, b, mods, &str);
		if (r)
			return r;
		put32(g, BOOT_MBI + 20, o->nr_modules);
		put32(g, BOOT_MBI + 24, mods);
	}
	put32(g, BOOT_MBI, mbi_flags);
	b->rax = MB_BOOT_MAGIC;
	b->rbx = BOOT_MBI;
	return 0;
}
