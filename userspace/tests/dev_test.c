// SPDX-License-Identifier: GPL-2.0
/*
 * Unit test of the kvisor tool's port I/O bus and device models, on the
 * host (no /dev/kvisor): drives them as the run loop does and prints TAP.
 */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "tool.h"

static int n, failed;

#define CHECK(cond, ...) do {					\
	n++;							\
	if (cond) {						\
		printf("ok %d - ", n);				\
	} else {						\
		printf("not ok %d - ", n);			\
		failed++;					\
	}							\
	printf(__VA_ARGS__);					\
	printf("\n");						\
} while (0)

static void test_bus(void)
{
	struct pio_bus bus = { 0 };

	CHECK(pio_in(&bus, 0x80, 1) == 0xff, "unassigned 8-bit read is 0xff");
	CHECK(pio_in(&bus, 0x80, 2) == 0xffff, "unassigned 16-bit read is 0xffff");
	CHECK(pio_in(&bus, 0x80, 4) == 0xffffffff,
	      "unassigned 32-bit read is all ones");
	pio_out(&bus, 0x80, 1, 0x12);
	CHECK(bus.unassigned_reads == 3 && bus.unassigned_writes == 1,
	      "unassigned accesses counted (3 reads, 1 write)");
}

static void test_uart(void)
{
	struct pio_bus bus = { 0 };
	struct uart u;
	int out[2], in[2];
	char buf[8] = { 0 };

	if (pipe(out) || pipe(in)) {
		CHECK(0, "pipes");
		return;
	}
	fcntl(out[0], F_SETFL, O_NONBLOCK);
	uart_init(&u, in[0], out[1]);
	CHECK(!pio_register(&bus, &u.dev), "uart registers");
	CHECK(pio_register(&bus, &u.dev) < 0, "overlapping device refused");
	CHECK(pio_in(&bus, 0x3fd, 1) == 0x60, "LSR idle: THRE and TEMT (0x60)");
	CHECK(pio_in(&bus, 0x3fa, 1) == 0x01, "IIR: no interrupt pending");
	pio_out(&bus, 0x3fa, 1, 0x07);
	CHECK(pio_in(&bus, 0x3fa, 1) == 0xc1, "IIR with FIFOs on: 0xc1");
	CHECK(pio_in(&bus, 0x3fe, 1) == 0xb0, "MSR: DCD DSR CTS");
	pio_out(&bus, 0x3ff, 1, 0xa5);
	CHECK(pio_in(&bus, 0x3ff, 1) == 0xa5, "scratch register keeps 0xa5");
	pio_out(&bus, 0x3fb, 1, 0x83);
	pio_out(&bus, 0x3f8, 1, 0x01);
	pio_out(&bus, 0x3f9, 1, 0x00);
	CHECK(pio_in(&bus, 0x3f8, 1) == 0x01 && pio_in(&bus, 0x3f9, 1) == 0,
	      "divisor latch (DLAB=1) reads back 0x0001");
	pio_out(&bus, 0x3fb, 1, 0x03);
	CHECK(pio_in(&bus, 0x3fb, 1) == 0x03, "LCR reads back 0x03");
	pio_out(&bus, 0x3f9, 1, 0x01);
	CHECK(pio_in(&bus, 0x3f9, 1) == 0x01, "IER reads back (DLAB=0)");
	pio_out(&bus, 0x3f9, 1, 0x00);
	pio_out(&bus, 0x3f8, 1, 'h');
	pio_out(&bus, 0x3f8, 1, 'i');
	CHECK(read(out[0], buf, sizeof(buf)) == 2 && !strcmp(buf, "hi"),
	      "THR writes reach the output unbuffered");
	CHECK(pio_in(&bus, 0x3fd, 2) == (0x60 | 0xb0 << 8),
	      "16-bit read at LSR is LSR | MSR << 8 (split in bytes)");
	CHECK(!(pio_in(&bus, 0x3fd, 1) & 1), "LSR: no data ready without input");
	CHECK(write(in[1], "k", 1) == 1, "input written");
	CHECK(pio_in(&bus, 0x3fd, 1) == 0x61, "LSR: data ready with input");
	CHECK(pio_in(&bus, 0x3f8, 1) == 'k', "RBR returns the input byte");
	CHECK(pio_in(&bus, 0x3fd, 1) == 0x60, "LSR: data ready clears");
	close(in[1]);
	CHECK(pio_in(&bus, 0x3fd, 1) == 0x60 && u.in_eof,
	      "end of input: no data, no blocking");
	pio_out(&bus, 0x3fc, 1, 0x13);
	pio_out(&bus, 0x3f8, 1, 'x');
	CHECK(pio_in(&bus, 0x3fd, 1) == 0x61 && pio_in(&bus, 0x3f8, 1) == 'x',
	      "loopback: transmitted byte is received");
	CHECK(pio_in(&bus, 0x3fe, 1) == 0x30, "loopback: MSR mirrors DTR/RTS");
	CHECK(u.tx_bytes == 3, "3 bytes transmitted");
	close(out[0]);
	close(out[1]);
	close(in[0]);
}

static void test_debug_exit(void)
{
	struct pio_bus bus = { 0 };
	struct debug_exit d;

	debug_exit_init(&d);
	pio_register(&bus, &d.dev);
	CHECK(!d.fired, "debug-exit idle");
	pio_out(&bus, 0xf4, 1, 0x10);
	CHECK(d.fired && d.status == 0x21, "write 0x10: status 0x21");
	pio_out(&bus, 0xf4, 1, 0x01);
	CHECK(d.status == 0x21, "first write wins");
	debug_exit_init(&d);
	pio_out(&bus, 0xf4, 4, 0);
	CHECK(d.fired && d.status == 1, "32-bit write 0: status 1");
	debug_exit_init(&d);
	pio_out(&bus, 0xf4, 2, 0x7f);
	CHECK(d.status == 0xff, "write 0x7f: status 255");
	CHECK(pio_in(&bus, 0xf4, 1) == 0xff, "debug-exit reads all ones");
}

static uint64_t fw_read(struct pio_bus *bus, uint16_t key, unsigned int len)
{
	uint64_t v = 0;
	unsigned int i;

	pio_out(bus, 0x510, 2, key);
	for (i = 0; i < len; i++)
		v |= (uint64_t)pio_in(bus, 0x511, 1) << (8 * i);
	return v;
}

static void test_fw_cfg(void)
{
	struct pio_bus bus = { 0 };
	struct fw_cfg f;
	char s[32] = { 0 };
	unsigned int i;

	CHECK(!fw_cfg_init(&f, 128ull << 20, 1, "console=ttyS0"), "fw_cfg init");
	pio_register(&bus, &f.dev);
	pio_out(&bus, 0x510, 2, 0x00);
	for (i = 0; i < 4; i++)
		s[i] = pio_in(&bus, 0x511, 1);
	CHECK(!strcmp(s, "QEMU"), "key 0x00: signature QEMU");
	CHECK(fw_read(&bus, 0x01, 4) == 1, "key 0x01: ID 1 (no DMA)");
	CHECK(fw_read(&bus, 0x03, 8) == 128ull << 20, "key 0x03: RAM size");
	CHECK(fw_read(&bus, 0x05, 2) == 1, "key 0x05: 1 vCPU");
	CHECK(fw_read(&bus, 0x0f, 2) == 1, "key 0x0f: max vCPUs 1");
	CHECK(fw_read(&bus, 0x11, 8) == 0, "key 0x11 (KERNEL_DATA): absent, 0");
	CHECK(fw_read(&bus, 0x14, 4) == 14, "key 0x14: cmdline size 14");
	pio_out(&bus, 0x510, 2, 0x15);
	for (i = 0; i < 14; i++)
		s[i] = pio_in(&bus, 0x511, 1);
	CHECK(!strcmp(s, "console=ttyS0"), "key 0x15: cmdline");
	CHECK(pio_in(&bus, 0x511, 1) == 0, "reading past the end gives 0");
	CHECK(fw_read(&bus, 0x00, 1) == 'Q', "selecting resets the offset");
	CHECK(fw_read(&bus, 0x19, 4) == 0, "key 0x19: empty file directory");
	fw_cfg_free(&f);
	CHECK(!fw_cfg_init(&f, 1ull << 30, 1, NULL) && f.nr_items == 6,
	      "fw_cfg without a command line: no 0x14/0x15");
	fw_cfg_free(&f);
}

static int irq_level = -1, irq_changes;

static void set_irq(void *ctx, int level)
{
	(void)ctx;
	irq_level = level;
	irq_changes++;
}

/* The UART's interrupt line, as a Linux guest's 8250 driver drives it. */
static void test_uart_irq(void)
{
	struct pio_bus bus = { 0 };
	struct uart u;
	int out[2];

	if (pipe(out)) {
		CHECK(0, "pipe");
		return;
	}
	fcntl(out[0], F_SETFL, O_NONBLOCK);
	uart_init(&u, -1, out[1]);
	u.set_irq = set_irq;
	pio_register(&bus, &u.dev);
	irq_level = 0;
	pio_out(&bus, 0x3f9, 1, 0x01);			/* IER: RDI */
	CHECK(uart_receive(&u, (const uint8_t *)"ab", 2) == 2 && irq_level == 0,
	      "data with IER.RDI but MCR.OUT2 clear: line low");
	pio_out(&bus, 0x3fc, 1, 0x08);			/* OUT2 */
	CHECK(irq_level == 1, "OUT2 set: line high with data pending");
	CHECK(pio_in(&bus, 0x3fa, 1) == 0x04, "IIR: received data (0x04)");
	CHECK(pio_in(&bus, 0x3f8, 1) == 'a' && irq_level == 1,
	      "one byte read, one left: line stays high");
	CHECK(pio_in(&bus, 0x3f8, 1) == 'b' && irq_level == 0,
	      "FIFO empty: line low");
	pio_out(&bus, 0x3f9, 1, 0x03);			/* IER: RDI, THRI */
	CHECK(irq_level == 1, "enabling THRI with THR empty raises the line");
	CHECK(pio_in(&bus, 0x3fa, 1) == 0x02 && irq_level == 0,
	      "IIR reports THR empty (0x02) and reading it clears it");
	pio_out(&bus, 0x3f8, 1, 'z');
	CHECK(irq_level == 1, "a byte sent: THR empty again, line high");
	pio_out(&bus, 0x3f9, 1, 0x00);
	CHECK(irq_level == 0 && pio_in(&bus, 0x3fa, 1) == 0x01,
	      "IER 0: line low, IIR no interrupt");
	CHECK(uart_rx_room(&u) == 16 &&
	      uart_receive(&u, (const uint8_t *)"0123456789abcdefXY", 18) == 16,
	      "the receive FIFO takes 16 bytes");
	close(out[0]);
	close(out[1]);
}

static int64_t fixed_time(void)
{
	return 1796688000;	/* 2026-12-08 00:00:00 UTC, a Tuesday */
}

static uint8_t cmos(struct pio_bus *bus, uint8_t reg)
{
	pio_out(bus, 0x70, 1, reg);
	return pio_in(bus, 0x71, 1);
}

static void test_rtc(void)
{
	struct pio_bus bus = { 0 };
	struct rtc r;

	rtc_init(&r, 256ull << 20, fixed_time);
	pio_register(&bus, &r.dev);
	CHECK(cmos(&bus, 0x09) == 0x26 && cmos(&bus, 0x32) == 0x20 &&
	      cmos(&bus, 0x08) == 0x12 && cmos(&bus, 0x07) == 0x08,
	      "BCD date 2026-12-08 (year 0x26, century 0x20)");
	CHECK(cmos(&bus, 0x04) == 0x00 && cmos(&bus, 0x02) == 0 &&
	      cmos(&bus, 0x06) == 3, "00:00, day of week 3 (Tuesday)");
	CHECK(!(cmos(&bus, 0x0a) & 0x80) && cmos(&bus, 0x0d) == 0x80 &&
	      cmos(&bus, 0x0c) == 0, "UIP clear, D valid, C no flags");
	pio_out(&bus, 0x70, 1, 0x0b);
	pio_out(&bus, 0x71, 1, 0x06);			/* binary, 24 h */
	CHECK(cmos(&bus, 0x09) == 26 && cmos(&bus, 0x08) == 12,
	      "binary mode: year 26, month 12");
	pio_out(&bus, 0x70, 1, 0x04);
	pio_out(&bus, 0x71, 1, 13);			/* set 13:00 */
	CHECK(cmos(&bus, 0x04) == 13 && r.offset == 13 * 3600,
	      "the guest sets the hour: kept as an offset to the host");
	pio_out(&bus, 0x70, 1, 0x0b);
	pio_out(&bus, 0x71, 1, 0x04);			/* binary, 12 h */
	CHECK(cmos(&bus, 0x04) == (1 | 0x80), "12-hour mode: 1 PM");
	CHECK(cmos(&bus, 0x15) == 0x80 && cmos(&bus, 0x16) == 0x02,
	      "base memory 640 KiB");
	pio_out(&bus, 0x70, 1, 0x40);
	pio_out(&bus, 0x71, 1, 0x5a);
	CHECK(cmos(&bus, 0x40) == 0x5a, "CMOS RAM keeps what was written");
}

static void test_power(void)
{
	struct pio_bus bus = { 0 };
	struct pci_conf1 pci;
	struct i8042 kbc;
	struct acpi_pm pm;
	struct pvpanic pv;
	struct vm_end e;

	end_init(&e);
	pci_conf1_init(&pci, &e);
	i8042_init(&kbc, &e);
	acpi_pm_init(&pm, &e);
	pvpanic_init(&pv, &e);
	pio_register(&bus, &pci.dev);
	pio_register(&bus, &kbc.data);
	pio_register(&bus, &kbc.cmd);
	pio_register(&bus, &pm.dev);
	pio_register(&bus, &pv.dev);
	pio_out(&bus, 0xcf8, 4, 0x80000000);
	CHECK(pio_in(&bus, 0xcf8, 4) == 0x80000000 &&
	      pio_in(&bus, 0xcfc, 4) == 0xffffffff &&
	      pio_in(&bus, 0xcfe, 2) == 0xffff,
	      "PCI conf1: address reads back, no device (all ones)");
	pio_out(&bus, 0xcf9, 1, 0x02);
	CHECK(e.status == -1 && pio_in(&bus, 0xcf9, 1) == 0x02,
	      "0xcf9 without bit 2: no reset");
	CHECK(pio_in(&bus, 0x64, 1) == 0, "8042 status: buffers empty");
	pio_out(&bus, 0x64, 1, 0xd1);
	CHECK(e.status == -1, "8042 command 0xd1: nothing");
	CHECK(pio_in(&bus, 0x505, 1) == 3, "pvpanic reads 3");
	pio_out(&bus, 0x505, 1, 2);
	CHECK(e.status == -1, "pvpanic bit 1 alone: nothing");
	CHECK(pio_in(&bus, 0x604, 2) & 1, "PM1a control: SCI_EN set");
	pio_out(&bus, 0x604, 2, (1 << 10) | (1 << 13));
	CHECK(e.status == -1, "SLP_EN with a sleep type other than S5: nothing");
	pio_out(&bus, 0x604, 2, (5 << 10) | (1 << 13));
	CHECK(e.status == 0 && strstr(e.why, "ACPI S5"), "S5: status 0");
	pio_out(&bus, 0x505, 1, 1);
	CHECK(e.status == 0, "the first end wins");
	end_init(&e);
	pio_out(&bus, 0x505, 1, 1);
	CHECK(e.status == EXIT_PANIC, "pvpanic bit 0: status 20");
	end_init(&e);
	pio_out(&bus, 0x64, 1, 0xfe);
	CHECK(e.status == EXIT_REBOOT, "8042 command 0xfe: status 18");
	end_init(&e);
	pio_out(&bus, 0xcf9, 1, 0x06);
	CHECK(e.status == EXIT_REBOOT, "0xcf9 bit 2: status 18");
}

int main(void)
{
	printf("TAP version 13\n");
	test_bus();
	test_uart();
	test_debug_exit();
	test_fw_cfg();
	test_uart_irq();
	test_rtc();
	test_power();
	printf("1..%d\n", n);
	return failed ? 1 : 0;
}
