// SPDX-License-Identifier: GPL-2.0
/*
 * kvisor sample guest: an ELF64 kernel started in long mode.  Checks the
 * mode, prints what fw_cfg says (signature, RAM size, vCPUs, command
 * line), echoes a line of UART input, touches the last page of RAM through kvisor's identity map, and
 * leaves through isa-debug-exit with value 3 (exit status 7), or 0x7f
 * (status 255) on a failed check.
 */
#include "kvisor_guest.h"

static void bad(const char *why)
{
	uart_puts("long64: FAIL: ");
	uart_puts(why);
	uart_puts("\n");
	debug_exit(0x7f);
}

static uint64_t rdmsr(uint32_t msr)
{
	uint32_t lo, hi;

	__asm__ volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(msr));
	return ((uint64_t)hi << 32) | lo;
}

void long64_main(void);

void long64_main(void)
{
	uint64_t cr0, cr4, ram = 0;
	char sig[5] = { 0 }, cmdline[128];
	uint32_t len = 0;
	uint16_t cpus = 0;
	int i;
	volatile uint64_t *last;

	uart_puts("long64: hello from long mode\n");
	__asm__ volatile("mov %%cr0, %0" : "=r"(cr0));
	__asm__ volatile("mov %%cr4, %0" : "=r"(cr4));
	if (!(cr0 & (1ull << 31)) || !(cr4 & (1 << 5)))
		bad("paging or PAE off");
	if (!(rdmsr(0xc0000080) & (1 << 10)))
		bad("EFER.LMA clear");

	fw_cfg_read(0x00, sig, 4);
	uart_puts("long64: fw_cfg signature ");
	uart_puts(sig);
	uart_puts("\n");
	if (sig[0] != 'Q' || sig[1] != 'E' || sig[2] != 'M' || sig[3] != 'U')
		bad("fw_cfg signature");
	fw_cfg_read(0x03, &ram, 8);
	fw_cfg_read(0x05, &cpus, 2);
	uart_puts("long64: ram ");
	uart_putdec(ram >> 20);
	uart_puts(" MiB, cpus ");
	uart_putdec(cpus);
	uart_puts("\n");
	fw_cfg_read(0x14, &len, 4);
	if (len && len <= sizeof(cmdline)) {
		fw_cfg_read(0x15, cmdline, len);
		cmdline[len - 1] = 0;
		uart_puts("long64: cmdline '");
		uart_puts(cmdline);
		uart_puts("'\n");
	}
	/* echo what the UART received (kvisor: from its stdin) */
	uart_puts("long64: stdin '");
	for (i = 0; i < 64; i++) {
		int c = uart_getc();

		if (c < 0 || c == '\n')
			break;
		uart_putc(c);
	}
	uart_puts("'\n");
	if (ram) {
		last = (volatile uint64_t *)(uintptr_t)(ram - 8);
		*last = 0x6b7669736f72ull;
		if (*last != 0x6b7669736f72ull)
			bad("last word of RAM");
		uart_puts("long64: last page of RAM ok\n");
	}
	uart_puts("long64: bye\n");
	debug_exit(3);
}
