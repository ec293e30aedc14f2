// SPDX-License-Identifier: GPL-2.0
/*
 * kvisor tool: flat binary images, loaded at --load (default 0x7c00) and
 * started at --entry (default the load address) in --mode (default real).
 * In real mode CS:IP is 0:entry for entries below 64 KiB, else
 * (entry >> 4) & 0xf000 : entry & 0xffff; SS:SP is 0:0x7c00 and DL 0x80
 * (the boot drive), as a BIOS leaves them.
 */
#include <inttypes.h>
#include <string.h>

#include "tool.h"

int load_flat(const struct run_opts *o, const struct image *img,
	      struct guest *g, struct boot *b)
{
	uint64_t load = o->has_load ? o->load : 0x7c00;
	uint64_t entry = o->has_entry ? o->entry : load;
	int r;

	b->format = "flat";
	b->mode = o->has_mode ? o->mode : MODE_REAL;
	if (b->mode == MODE_REAL && entry >= 0x100000)
		return image_error(img->path,
				   "entry 0x%" PRIx64 " is not reachable in real mode (must be below 1 MiB)",
				   entry);
	if (b->mode == MODE_PROTECTED && entry > 0xffffffffull)
		return image_error(img->path,
				   "entry 0x%" PRIx64 " is beyond 4 GiB in protected mode",
				   entry);
	if (entry >= g->size)
		return image_error(img->path,
				   "entry 0x%" PRIx64 " is beyond guest memory (%s)",
				   entry, fmt_size(g->size));
	if (load > g->size || img->size > g->size - load)
		return image_error(img->path,
				   "image at 0x%" PRIx64 "-0x%" PRIx64 " is beyond guest memory (%s)",
				   load, load + img->size, fmt_size(g->size));
	r = boot_add_region(img->path, g, b, load, load + img->size, "image");
	r = r ?: boot_setup_mode(img->path, g, b);
	if (r)
		return r;
	memcpy(g->ram + load, img->data, img->size);
	b->entry = entry;
	b->image_end = load + img->size;
	if (b->mode == MODE_REAL) {
		b->rdx = 0x80;
		b->rsp = 0x7c00;
	}
	return 0;
}
