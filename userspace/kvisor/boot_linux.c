// SPDX-License-Identifier: GPL-2.0
/*
 * kvisor tool: the Linux/x86 boot protocol (the kernel's
 * Documentation/x86/boot.rst), 64-bit entry.
 *
 * A bzImage starts with the real-mode setup (setup_sects + 1 sectors of
 * 512 bytes, 4 when setup_sects is 0) holding the setup header at 0x1f1;
 * the protected-mode kernel follows.  kvisor needs no BIOS and no real-mode
 * code: it loads the protected-mode kernel at the header's pref_address,
 * builds the zero page (struct boot_params) with a copy of the setup
 * header, the e820 map, the command line and the initrd, writes the ACPI
 * tables (acpi.c) and enters the kernel at its 64-bit entry point (load
 * address + 0x200) in long mode: paging on with an identity map of all
 * RAM, CS = __BOOT_CS (0x10, flat 64-bit code), DS = ES = SS = __BOOT_DS
 * (0x18, flat data), RSI = the zero page, interrupts off.
 *
 * Refused, with the file and the reason, before /dev/kvisor is opened:
 * no "HdrS" magic or boot flag 0xAA55 (not a bzImage), protocol older than
 * 2.12 (no xloadflags, so no declared 64-bit entry point), no 64-bit entry
 * (XLF_KERNEL_64 clear), a file shorter than the header says, a kernel
 * whose pref_address + init_size is beyond --mem, a command line longer
 * than the kernel's cmdline_size, an initrd that does not fit between the
 * kernel and min(--mem, initrd_addr_max + 1).
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "tool.h"

/* struct setup_header offsets in the image and in the zero page */
#define HDR_SETUP_SECTS		0x1f1
#define HDR_SYSSIZE		0x1f4
#define HDR_BOOT_FLAG		0x1fe
#define HDR_JUMP		0x200
#define HDR_MAGIC		0x202
#define HDR_VERSION		0x206
#define HDR_TYPE_OF_LOADER	0x210
#define HDR_LOADFLAGS		0x211
#define HDR_RAMDISK_IMAGE	0x218
#define HDR_RAMDISK_SIZE	0x21c
#define HDR_CMD_LINE_PTR	0x228
#define HDR_INITRD_ADDR_MAX	0x22c
#define HDR_KERNEL_ALIGNMENT	0x230
#define HDR_RELOCATABLE		0x234
#define HDR_XLOADFLAGS		0x236
#define HDR_CMDLINE_SIZE	0x238
#define HDR_PREF_ADDRESS	0x258
#define HDR_INIT_SIZE		0x260
#define HDR_END_2_12		0x264	/* handover_offset and later follow */

/* struct boot_params outside the header */
#define BP_ACPI_RSDP_ADDR	0x070
#define BP_E820_ENTRIES		0x1e8
#define BP_E820_TABLE		0x2d0
#define BP_E820_MAX		128

#define XLF_KERNEL_64		(1u << 0)
#define LINUX_MIN_PROTOCOL	0x020c	/* 2.12: xloadflags */
#define LOADER_UNDEFINED	0xff	/* type_of_loader: no assigned ID */

#define E820_RAM		1
#define E820_RESERVED		2

static uint16_t get16(const uint8_t *p)
{
	return p[0] | p[1] << 8;
}

static uint32_t get32(const uint8_t *p)
{
	return get16(p) | (uint32_t)get16(p + 2) << 16;
}

static uint64_t get64(const uint8_t *p)
{
	return get32(p) | (uint64_t)get32(p + 4) << 32;
}

static void put32(uint8_t *p, uint32_t v)
{
	memcpy(p, &v, 4);	/* x86 is little-endian, as the zero page */
}

static void put64(uint8_t *p, uint64_t v)
{
	memcpy(p, &v, 8);
}

bool linux_detect(const struct image *img)
{
	return img->size >= HDR_MAGIC + 4 &&
	       !memcmp(img->data + HDR_MAGIC, "HdrS", 4) &&
	       get16(img->data + HDR_BOOT_FLAG) == 0xaa55;
}

static void e820_add(uint8_t *zp, uint64_t addr, uint64_t size,
		     uint32_t type)
{
	uint8_t *e = zp + BP_E820_TABLE + 20 * zp[BP_E820_ENTRIES];

	if (!size || zp[BP_E820_ENTRIES] == BP_E820_MAX)
		return;
	put64(e, addr);
	put64(e + 8, size);
	put32(e + 16, type);
	zp[BP_E820_ENTRIES]++;
}

/* The GDT of the 64-bit boot protocol: __BOOT_CS 0x10, __BOOT_DS 0x18. */
static void write_linux_gdt(struct guest *g)
{
	static const uint64_t gdt[] = {
		0,
		0,
		0x00af9b000000ffffull,	/* 0x10: code, 64-bit, accessed */
		0x00cf93000000ffffull,	/* 0x18: data, 4 GiB, accessed */
	};

	memcpy(g->ram + BOOT_GDT, gdt, sizeof(gdt));
}

int load_linux(const struct run_opts *o, const struct image *img,
	       struct guest *g, struct boot *b)
{
	const char *path = img->path;
	const uint8_t *d = img->data;
	const char *cmdline = o->cmdline ? o->cmdline : LINUX_DEFAULT_CMDLINE;
	uint64_t setup_size, kernel_size, load, init_size, kend, rsdp;
	uint64_t initrd_addr = 0, top, hdr_end;
	unsigned int version, setup_sects, xlf, cmdline_max;
	size_t cmdline_len = strlen(cmdline);
	struct image initrd = { 0 };
	uint8_t *zp;
	int r;

	if (!linux_detect(img))
		return image_error(path,
				   "not a Linux bzImage: no \"HdrS\" setup header with boot flag 0xAA55");
	if (img->size < HDR_END_2_12)
		return image_error(path,
				   "truncated: %zu bytes, shorter than the setup header",
				   img->size);
	version = get16(d + HDR_VERSION);
	if (version < LINUX_MIN_PROTOCOL)
		return image_error(path,
				   "boot protocol %u.%02u is too old: kvisor needs 2.12 or later (64-bit entry declared in xloadflags)",
				   version >> 8, version & 0xff);
	xlf = get16(d + HDR_XLOADFLAGS);
	if (!(xlf & XLF_KERNEL_64))
		return image_error(path,
				   "no 64-bit entry point (xloadflags 0x%x lacks XLF_KERNEL_64): a 32-bit kernel",
				   xlf);
	setup_sects = d[HDR_SETUP_SECTS] ? d[HDR_SETUP_SECTS] : 4;
	setup_size = (setup_sects + 1ull) * 512;
	if (img->size <= setup_size)
		return image_error(path,
				   "truncated: %zu bytes, no protected-mode kernel after the %" PRIu64 "-byte setup",
				   img->size, setup_size);
	kernel_size = img->size - setup_size;
	if ((uint64_t)get32(d + HDR_SYSSIZE) * 16 > kernel_size)
		return image_error(path,
				   "truncated: the header says the kernel is %" PRIu64 " bytes, the file has %" PRIu64 " after the setup",
				   (uint64_t)get32(d + HDR_SYSSIZE) * 16, kernel_size);

	/*
	 * pref_address: where a relocatable kernel prefers to run and where
	 * a non-relocatable one must (its LOAD_PHYSICAL_ADDR).  It
	 * decompresses in place within init_size bytes from there.
	 */
	load = get64(d + HDR_PREF_ADDRESS);
	init_size = get32(d + HDR_INIT_SIZE);
	if (init_size < kernel_size)
		init_size = kernel_size;
	if (load < (1ull << 20) || (load & 0xfff))
		return image_error(path,
				   "pref_address 0x%" PRIx64 " is below 1 MiB or not page aligned",
				   load);
	kend = load + init_size;
	if (kend > g->size)
		return image_error(path,
				   "the kernel needs 0x%" PRIx64 "-0x%" PRIx64 " (pref_address + init_size) but --mem is %s: give --mem %" PRIu64 "M or more",
				   load, kend, fmt_size(g->size),
				   (uint64_t)((kend + (1ull << 20) - 1) >> 20));

	cmdline_max = get32(d + HDR_CMDLINE_SIZE);
	if (cmdline_max > LINUX_CMDLINE_MAX - 1)
		cmdline_max = LINUX_CMDLINE_MAX - 1;
	if (cmdline_len > cmdline_max)
		return image_error(path,
				   "the command line is %zu bytes; this kernel accepts at most %u (cmdline_size)",
				   cmdline_len, cmdline_max);

	r = boot_add_region(path, g, b, 0, BOOT_GDT, "the real-mode IVT and BIOS data area");
	r = r ?: boot_add_region(path, g, b, LINUX_ZERO_PAGE, LINUX_ZERO_PAGE + 0x1000,
				 "the zero page");
	r = r ?: boot_add_region(path, g, b, LINUX_CMDLINE,
				 LINUX_CMDLINE + cmdline_len + 1, "the command line");
	r = r ?: boot_add_region(path, g, b, LINUX_RESERVED, 1ull << 20,
				 "the ACPI tables (e820 reserved)");
	r = r ?: boot_add_region(path, g, b, load, kend,
				 "the kernel (pref_address + init_size)");
	if (r)
		return r;

	if (o->initrd) {
		r = read_image(o->initrd, &initrd, "initrd");
		if (r)
			return r;
		top = (uint64_t)get32(d + HDR_INITRD_ADDR_MAX) + 1;
		if (top > g->size)
			top = g->size;
		if (initrd.size > top || ((top - initrd.size) & ~0xfffull) < kend) {
			image_error(o->initrd,
				    "the initrd (%s) does not fit in --mem %s above the kernel's end at 0x%" PRIx64 " and below 0x%" PRIx64 ": give --mem %" PRIu64 "M or more",
				    fmt_size(initrd.size), fmt_size(g->size),
				    kend, top,
				    (uint64_t)((kend + initrd.size + (2ull << 20)) >> 20));
			free_image(&initrd);
			return EXIT_IMAGE;
		}
		initrd_addr = (top - initrd.size) & ~0xfffull;
		r = boot_add_region(o->initrd, g, b, initrd_addr,
				    initrd_addr + initrd.size, "the initrd");
		if (r) {
			free_image(&initrd);
			return r;
		}
		memcpy(g->ram + initrd_addr, initrd.data, initrd.size);
	}

	b->mode = MODE_LONG;
	r = boot_setup_mode(path, g, b);
	if (r) {
		free_image(&initrd);
		return r;
	}
	write_linux_gdt(g);

	memcpy(g->ram + load, d + setup_size, kernel_size);
	memcpy(g->ram + LINUX_CMDLINE, cmdline, cmdline_len + 1);

	/* the zero page: zeros, then the setup header as the image has it */
	zp = g->ram + LINUX_ZERO_PAGE;
	memset(zp, 0, 0x1000);
	hdr_end = HDR_JUMP + 2 + d[HDR_JUMP + 1];	/* the header's own end */
	if (hdr_end > img->size)
		hdr_end = img->size;
	if (hdr_end > 0x1000)
		hdr_end = 0x1000;
	memcpy(zp + HDR_SETUP_SECTS, d + HDR_SETUP_SECTS,
	       hdr_end - HDR_SETUP_SECTS);
	zp[HDR_TYPE_OF_LOADER] = LOADER_UNDEFINED;
	put32(zp + HDR_CMD_LINE_PTR, LINUX_CMDLINE);
	put32(zp + HDR_RAMDISK_IMAGE, initrd_addr);
	put32(zp + HDR_RAMDISK_SIZE, initrd.size);

	/*
	 * RAM below 640 KiB (the real-mode trampoline needs it), the BIOS
	 * area reserved, RAM from 1 MiB
	 */
	e820_add(zp, 0, LINUX_RESERVED, E820_RAM);
	e820_add(zp, LINUX_RESERVED, (1ull << 20) - LINUX_RESERVED,
		 E820_RESERVED);
	e820_add(zp, 1ull << 20, g->size - (1ull << 20), E820_RAM);

	rsdp = acpi_write(g, o->cpus);
	put64(zp + BP_ACPI_RSDP_ADDR, rsdp);
	free_image(&initrd);

	b->format = "linux bzImage";
	b->is_linux = true;
	b->entry = load + 0x200;	/* startup_64 */
	b->rsi = LINUX_ZERO_PAGE;
	b->cs_sel = LINUX_GDT_CODE64;
	b->ds_sel = LINUX_GDT_DATA;
	b->image_end = kend;
	return 0;
}
