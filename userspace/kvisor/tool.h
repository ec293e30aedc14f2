/* SPDX-License-Identifier: GPL-2.0 */
/*
 * kvisor tool: what its files share.  Image loaders (load_*.c) check an
 * image and copy it into guest RAM, filling a struct boot; boot.c lays
 * out the tool's own structures in guest RAM; run.c creates the VM and
 * runs it, dispatching port I/O through the bus in pio.c to the device
 * models (dev_*.c), which know nothing of /dev/kvisor (so the unit test
 * in userspace/tests/dev_test.c drives them directly).
 */
#ifndef KVISOR_TOOL_H
#define KVISOR_TOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Exit status of the kvisor command (copied into Documentation/tool.rst).
 *
 *   0        the guest halted with interrupts off (HLT with RFLAGS.IF=0):
 *            nothing can wake it; `kvisor info` succeeded
 *   odd      the guest wrote V to the isa-debug-exit port (0xf4), or
 *            made the KVISOR_HC_EXIT hypercall with status V: the
 *            status is (V << 1) | 1, truncated to 8 bits as by exit(3)
 *            (so only V's low 7 bits show), exactly as QEMU does for
 *            isa-debug-exit
 *   2        bad command line or options
 *   4        /dev/kvisor missing or unusable (module not loaded, no
 *            permission, VT-x/AMD-V unavailable, API version mismatch,
 *            the module cannot create VMs on this CPU)
 *   6        bad image: unreadable, empty, truncated, wrong machine,
 *            segments beyond guest memory, overlapping each other or
 *            kvisor's boot structures -- refused before /dev/kvisor is
 *            opened
 *   8        triple fault (shutdown); the registers go to stderr
 *   10       VM entry failed (invalid guest state); registers to stderr
 *   12       internal error: the module could not handle an exit
 *            (e.g. an undecodable MMIO instruction) or an unknown exit
 *   14       other runtime error: an ioctl failed (create VM, memory,
 *            vCPU, registers, RUN), out of memory, or --mem more than the
 *            host's MemAvailable (the module pins all guest RAM)
 *   16       the guest halted with interrupts on (HLT with IF=1): the
 *            tool has no interrupt sources, so it would wait forever
 *   18       the guest reset the machine (reboot): keyboard controller
 *            0xFE to port 0x64, port 0xCF9, the ACPI reset register
 *   20       the guest kernel panicked (pvpanic port 0x505)
 *   22       stopped from outside: SIGINT, SIGTERM, SIGHUP or Ctrl-A x
 *
 * A Linux guest's poweroff (ACPI S5) ends the run with status 0.
 *
 * All kvisor's own statuses are even, so they never collide with a
 * debug-exit status, which is always odd.
 */
#define EXIT_USAGE		2
#define EXIT_NODEV		4
#define EXIT_IMAGE		6
#define EXIT_TRIPLE_FAULT	8
#define EXIT_ENTRY_FAIL		10
#define EXIT_INTERNAL		12
#define EXIT_RUNTIME		14
#define EXIT_IDLE		16
#define EXIT_REBOOT		18
#define EXIT_PANIC		20
#define EXIT_STOPPED		22

#define KVISOR_TOOL_VERSION	"0.2"

/*
 * Guest physical layout of kvisor's boot structures (Documentation/
 * tool.rst).  Guest RAM is one slot at 0 .. --mem.  Only the structures
 * the chosen boot needs are written; an image overlapping one of them is
 * refused.
 *
 *   0x0000 - 0x0fff   untouched (real-mode IVT and BIOS data area)
 *   0x1000 - 0x1fff   GDT (protected and long mode):
 *                       0x00 null, 0x08 flat 32-bit code, 0x10 flat data,
 *                       0x18 64-bit code
 *   0x2000 - 0x2fff   multiboot information structure, then its memory
 *                     map, then its module list (multiboot only)
 *   0x3000 - 0x3fff   multiboot command lines: the kernel's, then each
 *                     module's (its file name) (multiboot only)
 *   0x4000 - 0x4fff   long mode PML4
 *   0x5000 - 0x5fff   long mode PDPT
 *   0x6000 - ...      long mode page directories, one page per GiB of
 *                     guest RAM (2 MiB pages identity-mapping all RAM):
 *                     128 MiB needs 0x6000-0x6fff
 *
 * Multiboot modules go page-aligned after the kernel's highest byte
 * (bss included).
 */
#define BOOT_GDT		0x1000ull
#define BOOT_MBI		0x2000ull
#define BOOT_MBI_SIZE		0x1000ull
#define BOOT_CMDLINE		0x3000ull
#define BOOT_CMDLINE_SIZE	0x1000ull
#define BOOT_PML4		0x4000ull
#define BOOT_PDPT		0x5000ull
#define BOOT_PD			0x6000ull

#define GDT_CODE32		0x08
#define GDT_DATA		0x10
#define GDT_CODE64		0x18

/*
 * A Linux guest (boot_linux.c, acpi.c; Documentation/linux.rst):
 *
 *   0x1000 - 0x1fff   GDT: 0x10 64-bit code, 0x18 data (the 64-bit boot
 *                     protocol's __BOOT_CS and __BOOT_DS)
 *   0x4000 - ...      page tables, as above (all RAM, 2 MiB pages)
 *   0x10000-0x10fff   the zero page (struct boot_params); RSI points here
 *   0x20000 - ...     the command line (at most LINUX_CMDLINE_MAX bytes)
 *   0x9fc00 - 0xfffff e820-reserved: the ACPI tables from ACPI_BASE
 *   pref_address      the kernel (16 MiB for Debian's), init_size bytes
 *   top of RAM        the initrd, page aligned, below initrd_addr_max
 */
#define LINUX_ZERO_PAGE		0x10000ull
#define LINUX_CMDLINE		0x20000ull
#define LINUX_CMDLINE_MAX	0x10000ull
#define LINUX_RESERVED		0x9fc00ull	/* to 1 MiB: e820 reserved */
#define ACPI_BASE		0xe0000ull
#define ACPI_SIZE		0x10000ull
#define LINUX_GDT_CODE64	0x10
#define LINUX_GDT_DATA		0x18
/* RAM is one slot from 0: it must end below the IOAPIC and LAPIC pages */
#define LINUX_MAX_MEM		(3ull << 30)
#define LINUX_DEFAULT_CMDLINE	"console=ttyS0"

#define MIN_MEM			(1ull << 20)
#define MAX_MEM			(64ull << 30)	/* page tables below 0x46000 */
#define DEFAULT_MEM		(128ull << 20)
#define MAX_MODULES		64
#define MAX_VCPUS		64	/* --cpus; the MADT allows 255 */

enum cpu_mode { MODE_REAL, MODE_PROTECTED, MODE_LONG };
enum image_format { FMT_AUTO, FMT_FLAT, FMT_ELF, FMT_MULTIBOOT, FMT_LINUX };

struct run_opts {
	const char *device;
	const char *image;
	uint64_t mem;
	enum image_format format;
	uint64_t load, entry;
	enum cpu_mode mode;
	bool has_load, has_entry, has_mode;
	const char *cmdline;		/* NULL: none given */
	const char *modules[MAX_MODULES];
	unsigned int nr_modules;
	bool stats;
	bool check;			/* load, print the plan, don't run */
	const char *initrd;		/* Linux: --initrd, NULL: none */
	unsigned int cpus;		/* --cpus, default 1 */
};

struct guest {
	uint8_t *ram;
	uint64_t size;
};

/* A file read whole into memory. */
struct image {
	const char *path;
	uint8_t *data;
	size_t size;
};

#define MAX_REGIONS	(MAX_MODULES + 80)

/* A used range of guest RAM, [start, end). */
struct region {
	uint64_t start, end;
	char what[64];
};

/* What the loader decided: where things are, how the vCPU starts. */
struct boot {
	const char *format;		/* "flat", "elf32", ... for --check */
	enum cpu_mode mode;
	uint64_t entry;
	uint64_t rax, rbx, rdx, rsp, rsi;
	uint16_t cs_sel, ds_sel;	/* long mode: 0 = GDT_CODE64/GDT_DATA */
	bool is_linux;			/* a Linux kernel: irqchip, platform */
	struct region regions[MAX_REGIONS];
	unsigned int nr_regions;
	uint64_t image_end;		/* highest image byte + 1 */
};

/* main.c / util */
int read_image(const char *path, struct image *img, const char *what);
void free_image(struct image *img);
int image_error(const char *path, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
const char *fmt_size(uint64_t bytes);
const char *mode_name(enum cpu_mode mode);

/* boot.c */
int boot_add_region(const char *path, struct guest *g, struct boot *b,
		    uint64_t start, uint64_t end, const char *what);
int boot_setup_mode(const char *path, struct guest *g, struct boot *b);
void boot_print(const struct run_opts *o, const struct guest *g,
		const struct boot *b);

/* Loaders: 0, or EXIT_IMAGE/EXIT_USAGE after printing why. */
bool elf_detect(const struct image *img);
long multiboot_detect(const struct image *img);	/* header offset or -1 */
int load_flat(const struct run_opts *o, const struct image *img,
	      struct guest *g, struct boot *b);
int load_elf(const struct run_opts *o, const struct image *img,
	     struct guest *g, struct boot *b);
int load_multiboot(const struct run_opts *o, const struct image *img,
		   struct guest *g, struct boot *b);
/* boot_linux.c: the Linux/x86 boot protocol (bzImage) */
bool linux_detect(const struct image *img);
int load_linux(const struct run_opts *o, const struct image *img,
	       struct guest *g, struct boot *b);

/*
 * acpi.c: RSDP, XSDT, FADT, FACS, MADT and DSDT in guest RAM at
 * ACPI_BASE for @cpus vCPUs; returns the RSDP's address.
 */
uint64_t acpi_write(struct guest *g, unsigned int cpus);
/*
 * The ELF part shared with multiboot: load the PT_LOAD segments, set
 * b->entry and b->image_end; *is64 tells the class.
 */
int elf_load_segments(const struct image *img, struct guest *g,
		      struct boot *b, bool *is64);

/* run.c */
int run_guest(const struct run_opts *o, struct guest *g, struct boot *b);

/* --- the port I/O bus (pio.c) -------------------------------------------- */

struct pio_dev {
	const char *name;
	uint16_t base, len;
	/*
	 * Accesses of @size 1, 2 or 4 at @off from base.  A device with
	 * byte_regs set sees only byte accesses: the bus splits wider ones
	 * (low byte first), as an 8-bit ISA device answers.
	 */
	bool byte_regs;
	uint32_t (*in)(void *opaque, uint16_t off, unsigned int size);
	void (*out)(void *opaque, uint16_t off, unsigned int size,
		    uint32_t val);
	void *opaque;
	uint64_t reads, writes;
};

#define PIO_MAX_DEVS	16

struct pio_bus {
	struct pio_dev *devs[PIO_MAX_DEVS];
	unsigned int nr_devs;
	uint64_t unassigned_reads, unassigned_writes;
};

int pio_register(struct pio_bus *bus, struct pio_dev *dev);
/* Unassigned ports read as all ones and ignore writes, as on a PC. */
uint32_t pio_in(struct pio_bus *bus, uint16_t port, unsigned int size);
void pio_out(struct pio_bus *bus, uint16_t port, unsigned int size,
	     uint32_t val);

/* --- devices --------------------------------------------------------------- */

#define COM1_BASE	0x3f8
#define DEBUG_EXIT_PORT	0xf4
#define FW_CFG_PORT	0x510		/* selector; data at 0x511 */

/*
 * How the run ends, from a device or a vCPU: the first end_request()
 * wins; @kick (run.c) then stops every vCPU.
 */
struct vm_end {
	int status;			/* -1 while running */
	char why[160];
	void (*kick)(void *ctx);
	void *ctx;
};

void end_init(struct vm_end *e);
/* true if this call ended the run (the first one) */
bool end_request(struct vm_end *e, int status, const char *why);

/* Platform ports and addresses of a Linux guest (tool.rst). */
#define RTC_PORT	0x70		/* index; data at 0x71 */
#define I8042_DATA_PORT	0x60
#define I8042_CMD_PORT	0x64
#define PVPANIC_PORT	0x505
#define ACPI_PM_PORT	0x600		/* PM1a_EVT_BLK: status, enable */
#define ACPI_PM1_CNT	4		/* PM1a_CNT_BLK at ACPI_PM_PORT + 4 */
#define ACPI_S5_SLP_TYP	5		/* \_S5's SLP_TYP in the DSDT */
#define PCI_CONF1_PORT	0xcf8		/* CONFIG_ADDRESS; 0xcf9 reset */
#define IOAPIC_ADDR	0xfec00000u
#define LAPIC_ADDR	0xfee00000u
#define UART_IRQ	4		/* COM1: ISA IRQ 4 = GSI 4 */

/* 16550A UART. */
struct uart {
	struct pio_dev dev;
	int in_fd, out_fd;		/* -1: none */
	bool in_eof;
	/* the IRQ line (ISA IRQ 4), gated by MCR OUT2 as on a PC */
	void (*set_irq)(void *ctx, int level);
	void *irq_ctx;
	int irq_level;
	uint8_t ier, lcr, mcr, scr, fcr, dll, dlm;
	bool thre_irq_pending;
	/* received bytes (from in_fd, or looped back) */
	uint8_t rx[16];
	unsigned int rx_head, rx_count;
	uint64_t tx_bytes, rx_bytes;
};

void uart_init(struct uart *u, int in_fd, int out_fd);
/* Bytes from the input thread: how many fit in the receive FIFO. */
unsigned int uart_receive(struct uart *u, const uint8_t *buf,
			  unsigned int len);
/* rx FIFO space */
unsigned int uart_rx_room(const struct uart *u);

/* MC146818 CMOS RTC and its 128 bytes of CMOS RAM (ports 0x70, 0x71). */
struct rtc {
	struct pio_dev dev;
	uint8_t index;
	uint8_t cmos[128];
	int64_t offset;			/* guest time - host time, seconds */
	int64_t (*now)(void);		/* host time (seconds, UTC) */
};

void rtc_init(struct rtc *r, uint64_t ram_size, int64_t (*now)(void));

/*
 * PCI configuration mechanism #1 with no device behind it (0xcf8-0xcff:
 * CONFIG_ADDRESS reads back, CONFIG_DATA reads all ones) and the reset
 * control register at 0xcf9 (bit 2: reset).
 */
struct pci_conf1 {
	struct pio_dev dev;
	uint32_t addr;
	uint8_t rcr;
	struct vm_end *end;
};

void pci_conf1_init(struct pci_conf1 *p, struct vm_end *end);

/* The 8042's ports, just enough to reset: command 0xfe on port 0x64. */
struct i8042 {
	struct pio_dev data, cmd;
	struct vm_end *end;
};

void i8042_init(struct i8042 *k, struct vm_end *end);

/* ACPI PM1a event and control blocks: SLP_EN with \_S5's type: off. */
struct acpi_pm {
	struct pio_dev dev;
	uint16_t sts, en, cnt;
	struct vm_end *end;
};

void acpi_pm_init(struct acpi_pm *a, struct vm_end *end);

/* QEMU's pvpanic ISA port: bit 0 written = the guest panicked. */
struct pvpanic {
	struct pio_dev dev;
	struct vm_end *end;
};

void pvpanic_init(struct pvpanic *p, struct vm_end *end);

/* QEMU isa-debug-exit. */
struct debug_exit {
	struct pio_dev dev;
	bool fired;
	int status;			/* (value << 1) | 1 */
};

void debug_exit_init(struct debug_exit *d);

/* QEMU fw_cfg, traditional (non-DMA) I/O port interface. */
#define FW_CFG_SIGNATURE	0x00
#define FW_CFG_ID		0x01
#define FW_CFG_RAM_SIZE		0x03
#define FW_CFG_NB_CPUS		0x05
#define FW_CFG_MAX_CPUS		0x0f
#define FW_CFG_CMDLINE_SIZE	0x14
#define FW_CFG_CMDLINE_DATA	0x15
#define FW_CFG_FILE_DIR		0x19

#define FW_CFG_MAX_ITEMS	8

struct fw_cfg_item {
	uint16_t key;
	uint32_t len;
	uint8_t *data;
	bool owned;			/* malloc()ed, not in store[] */
};

struct fw_cfg {
	struct pio_dev dev;
	uint16_t selector;
	uint32_t offset;
	struct fw_cfg_item items[FW_CFG_MAX_ITEMS];
	unsigned int nr_items;
	uint8_t store[128];		/* small items' bytes */
	unsigned int store_used;
};

int fw_cfg_init(struct fw_cfg *f, uint64_t ram_size, uint16_t nr_cpus,
		const char *cmdline);
void fw_cfg_free(struct fw_cfg *f);

#endif /* KVISOR_TOOL_H */
