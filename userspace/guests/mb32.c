// SPDX-License-Identifier: GPL-2.0
/*
 * kvisor sample guest: a multiboot (v1) kernel in 32-bit protected mode.
 * Prints what the loader handed over -- magic, memory sizes, the memory
 * map, the command line, the modules -- what a read beyond RAM returns
 * and fw_cfg's signature, then
 * leaves through isa-debug-exit with value 2 (exit status 5), or 0x7f
 * (status 255) when the loader got something wrong.
 */
#include "kvisor_guest.h"

struct mb_info {
	uint32_t flags, mem_lower, mem_upper, boot_device, cmdline;
	uint32_t mods_count, mods_addr, syms[4];
	uint32_t mmap_length, mmap_addr;
	uint32_t drives_length, drives_addr, config_table, boot_loader_name;
};

struct mb_mmap {
	uint32_t size;
	uint32_t base_lo, base_hi, len_lo, len_hi;
	uint32_t type;
} __attribute__((packed));

struct mb_module {
	uint32_t start, end, string, reserved;
};

static void bad(const char *why)
{
	uart_puts("mb32: FAIL: ");
	uart_puts(why);
	uart_puts("\n");
	debug_exit(0x7f);
}

static void check_cpu(void)
{
	uint32_t cr0, eflags;
	uint16_t cs, ds;

	__asm__ volatile("mov %%cr0, %0" : "=r"(cr0));
	__asm__ volatile("pushf; pop %0" : "=r"(eflags));
	__asm__ volatile("mov %%cs, %0" : "=r"(cs));
	__asm__ volatile("mov %%ds, %0" : "=r"(ds));
	if (!(cr0 & 1) || (cr0 & 0x80000000u))
		bad("not in protected mode without paging");
	if (eflags & 0x200)
		bad("interrupts are on");
	if (cs != 0x08 || ds != 0x10)
		bad("CS is not 0x08 or DS not 0x10");
}

void mb_main(uint32_t magic, struct mb_info *mbi);

void mb_main(uint32_t magic, struct mb_info *mbi)
{
	char sig[5] = { 0 };
	uint32_t i;

	uart_puts("mb32: hello from multiboot\n");
	if (magic != 0x2badb002)
		bad("bad magic in EAX");
	check_cpu();
	uart_puts("mb32: flags ");
	uart_puthex(mbi->flags);
	uart_puts("\n");
	if (mbi->flags & 1) {
		uart_puts("mb32: mem_lower ");
		uart_putdec(mbi->mem_lower);
		uart_puts(" KiB, mem_upper ");
		uart_putdec(mbi->mem_upper);
		uart_puts(" KiB\n");
	}
	if (!(mbi->flags & (1 << 2)) || !mbi->cmdline)
		bad("no command line");
	uart_puts("mb32: cmdline '");
	uart_puts((const char *)mbi->cmdline);
	uart_puts("'\n");
	if (mbi->flags & (1 << 6)) {
		uint32_t p = mbi->mmap_addr;

		while (p < mbi->mmap_addr + mbi->mmap_length) {
			struct mb_mmap *e = (struct mb_mmap *)p;

			uart_puts("mb32: mmap ");
			uart_puthex(((uint64_t)e->base_hi << 32) | e->base_lo);
			uart_puts(" len ");
			uart_puthex(((uint64_t)e->len_hi << 32) | e->len_lo);
			uart_puts(" type ");
			uart_putdec(e->type);
			uart_puts("\n");
			p += e->size + 4;
		}
	}
	if (mbi->flags & (1 << 3)) {
		struct mb_module *m = (struct mb_module *)mbi->mods_addr;

		uart_puts("mb32: ");
		uart_putdec(mbi->mods_count);
		uart_puts(" module(s)\n");
		for (i = 0; i < mbi->mods_count; i++) {
			if (m[i].start & 0xfff)
				bad("module not page aligned");
			uart_puts("mb32: module '");
			uart_puts((const char *)m[i].string);
			uart_puts("' ");
			uart_putdec(m[i].end - m[i].start);
			uart_puts(" bytes: ");
			if (m[i].end > m[i].start) {
				const char *c = (const char *)m[i].start;
				uint32_t n = m[i].end - m[i].start;

				while (n-- && *c && *c != '\n')
					uart_putc(*c++);
			}
			uart_puts("\n");
		}
	}
	/* beyond RAM: kvisor has no MMIO devices, reads are all ones */
	if ((mbi->flags & 1) && mbi->mem_upper < (0xe0000000u >> 10) - 1024) {
		volatile uint32_t *mmio = (volatile uint32_t *)0xe0000000u;
		uint32_t v;

		*mmio = 0x12345678;
		v = *mmio;
		uart_puts("mb32: mmio read ");
		uart_puthex(v);
		uart_puts("\n");
	}
	fw_cfg_read(0, sig, 4);
	uart_puts("mb32: fw_cfg signature ");
	uart_puts(sig);
	uart_puts("\n");
	uart_puts("mb32: bye\n");
	debug_exit(2);
}
