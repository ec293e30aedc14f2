// SPDX-License-Identifier: GPL-2.0
/*
 * kvisor tool: the used ranges of guest RAM, and kvisor's own boot
 * structures (GDT, page tables) at the fixed addresses of tool.h.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "tool.h"

/*
 * Record [start, end) as used by @what; refuse it when it is beyond
 * guest RAM or overlaps a range recorded before.
 */
int boot_add_region(const char *path, struct guest *g, struct boot *b,
		    uint64_t start, uint64_t end, const char *what)
{
	unsigned int i;

	if (end < start || end > g->size)
		return image_error(path,
				   "%s at 0x%" PRIx64 "-0x%" PRIx64 " is beyond guest memory (%s)",
				   what, start, end, fmt_size(g->size));
	if (end == start)
		return 0;
	for (i = 0; i < b->nr_regions; i++) {
		const struct region *r = &b->regions[i];

		if (start < r->end && r->start < end)
			return image_error(path,
					   "%s at 0x%" PRIx64 "-0x%" PRIx64 " overlaps %s at 0x%" PRIx64 "-0x%" PRIx64,
					   what, start, end, r->what,
					   r->start, r->end);
	}
	if (b->nr_regions == MAX_REGIONS)
		return image_error(path, "too many segments");
	b->regions[b->nr_regions].start = start;
	b->regions[b->nr_regions].end = end;
	snprintf(b->regions[b->nr_regions].what,
		 sizeof(b->regions[0].what), "%s", what);
	b->nr_regions++;
	return 0;
}

static void write_gdt(struct guest *g)
{
	static const uint64_t gdt[] = {
		0,
		0x00cf9a000000ffffull,	/* 0x08: code, 32-bit, 4 GiB */
		0x00cf92000000ffffull,	/* 0x10: data, 4 GiB */
		0x00af9a000000ffffull,	/* 0x18: code, 64-bit */
	};

	memcpy(g->ram + BOOT_GDT, gdt, sizeof(gdt));
}

static uint64_t nr_pds(const struct guest *g)
{
	return (g->size + (1ull << 30) - 1) >> 30;
}

/* Identity map all guest RAM with 2 MiB pages. */
static void write_page_tables(struct guest *g)
{
	uint64_t *pml4 = (uint64_t *)(g->ram + BOOT_PML4);
	uint64_t *pdpt = (uint64_t *)(g->ram + BOOT_PDPT);
	uint64_t *pd = (uint64_t *)(g->ram + BOOT_PD);
	uint64_t i, n = nr_pds(g);

	memset(pml4, 0, 0x1000);
	memset(pdpt, 0, 0x1000);
	pml4[0] = BOOT_PDPT | 0x3;			/* present, writable */
	for (i = 0; i < n; i++)
		pdpt[i] = (BOOT_PD + i * 0x1000) | 0x3;
	memset(pd, 0, n * 0x1000);
	for (i = 0; i < (g->size + (2ull << 20) - 1) >> 21; i++)
		pd[i] = (i << 21) | 0x83;		/* PS, writable, present */
}

/* Reserve and write the structures b->mode needs. */
int boot_setup_mode(const char *path, struct guest *g, struct boot *b)
{
	int r;

	if (b->mode == MODE_REAL)
		return 0;
	r = boot_add_region(path, g, b, BOOT_GDT, BOOT_GDT + 0x1000,
			    "kvisor's GDT");
	if (r)
		return r;
	if (b->mode == MODE_LONG) {
		r = boot_add_region(path, g, b, BOOT_PML4,
				    BOOT_PD + nr_pds(g) * 0x1000,
				    "kvisor's page-table area");
		if (r)
			return r;
		write_page_tables(g);
	}
	write_gdt(g);
	return 0;
}

void boot_print(const struct run_opts *o, const struct guest *g,
		const struct boot *b)
{
	unsigned int i;

	printf("image     %s\n", o->image);
	printf("format    %s\n", b->format);
	printf("memory    %s\n", fmt_size(g->size));
	printf("mode      %s\n", mode_name(b->mode));
	printf("entry     0x%" PRIx64 "\n", b->entry);
	if (b->rax || b->rbx)
		printf("eax/ebx   0x%" PRIx64 " 0x%" PRIx64 "\n", b->rax, b->rbx);
	for (i = 0; i < b->nr_regions; i++)
		printf("region    0x%08" PRIx64 "-0x%08" PRIx64 " %s\n",
		       b->regions[i].start, b->regions[i].end,
		       b->regions[i].what);
}
