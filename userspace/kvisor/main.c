// SPDX-License-Identifier: GPL-2.0
/*
 * kvisor: the command-line tool.
 *
 *   kvisor info             what /dev/kvisor offers
 *   kvisor run IMAGE        run a guest (see run_usage())
 *
 * The exit statuses are listed in tool.h and in --help.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "libkvisor.h"
#include "tool.h"

static const char exit_status_help[] =
	"exit status:\n"
	"  0    guest halted with interrupts off (HLT, IF=0); info succeeded\n"
	"  odd  guest wrote V to port 0xf4 (isa-debug-exit), or made the exit\n"
	"       hypercall with status V: (V << 1) | 1, low 8 bits\n"
	"  2    bad command line or options\n"
	"  4    /dev/kvisor missing or unusable (module not loaded?)\n"
	"  6    bad image, or one that does not fit the options (refused\n"
	"       before /dev/kvisor is opened)\n"
	"  8    triple fault (registers dumped on stderr)\n"
	"  10   VM entry failed (registers dumped on stderr)\n"
	"  12   internal error (exit the module or the tool cannot handle)\n"
	"  14   other runtime error (an ioctl failed, out of memory, --mem\n"
	"       more than the host's available memory)\n"
	"  16   guest halted with interrupts on: nothing can wake it\n"
	"  18   the guest reset the machine (Linux: reboot)\n"
	"  20   the guest kernel panicked (pvpanic)\n"
	"  22   stopped by SIGINT, SIGTERM, SIGHUP or Ctrl-A x\n"
	"A Linux guest's poweroff ends the run with status 0.\n";

static void usage(FILE *f)
{
	fprintf(f,
		"usage: kvisor [--device PATH] COMMAND [ARGS]\n"
		"\n"
		"commands:\n"
		"  info        vendor, features, limits and API version of /dev/kvisor\n"
		"  run IMAGE   run a guest image (kvisor run --help)\n"
		"\n"
		"options:\n"
		"  -d, --device PATH   the kvisor device (default %s)\n"
		"  -h, --help          this text\n"
		"  -V, --version       the tool's version\n"
		"\n%s",
		KVISOR_DEFAULT_DEVICE, exit_status_help);
}

static void run_usage(FILE *f)
{
	fprintf(f,
		"usage: kvisor run [OPTIONS] IMAGE\n"
		"       kvisor run --kernel BZIMAGE [--initrd FILE] [--cmdline STR]\n"
		"                  [--cpus N] [--mem SIZE] [OPTIONS]\n"
		"\n"
		"Run IMAGE in a VM with one vCPU.  Devices: a 16550A UART at COM1\n"
		"(0x3f8, stdout/stdin), isa-debug-exit at 0xf4, fw_cfg at 0x510.\n"
		"Hypercalls (Documentation/hypercalls.rst): the console write goes to\n"
		"stdout like the UART, the exit call ends the run.\n"
		"\n"
		"options:\n"
		"  -m, --mem SIZE        guest RAM, K/M/G suffixes (default 128M, 1M-64G)\n"
		"  -f, --format FMT      auto|flat|elf|multiboot|linux (default auto: a\n"
		"                        Linux setup header, else a multiboot header in\n"
		"                        the first 8 KiB, else ELF, else flat)\n"
		"  -K, --kernel FILE     a Linux bzImage (the IMAGE, --format linux)\n"
		"  -i, --initrd FILE     Linux: the initrd (initramfs)\n"
		"  -C, --cpus N          vCPUs (default 1; more than 1: Linux only)\n"
		"  -l, --load ADDR       flat: load address (default 0x7c00)\n"
		"  -e, --entry ADDR      flat: entry point (default the load address)\n"
		"  -M, --mode MODE       flat: real|protected|long (default real)\n"
		"  -c, --cmdline STR     command line (multiboot, Linux -- default\n"
		"                        \"" LINUX_DEFAULT_CMDLINE "\" --; and fw_cfg key 0x15)\n"
		"  -k, --module FILE     multiboot module, repeatable\n"
		"  -s, --stats           print exit statistics on stderr at the end\n"
		"  -n, --check           load and check the image, print the boot plan,\n"
		"                        do not run (does not need /dev/kvisor)\n"
		"  -d, --device PATH     the kvisor device (default %s)\n"
		"  -h, --help            this text\n"
		"\n%s",
		KVISOR_DEFAULT_DEVICE, exit_status_help);
}

/* --- helpers shared by the loaders ------------------------------------- */

int image_error(const char *path, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "kvisor: %s: ", path);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return EXIT_IMAGE;
}

const char *fmt_size(uint64_t bytes)
{
	static char buf[4][32];
	static unsigned int n;
	char *s = buf[n++ % 4];

	if (bytes && !(bytes & ((1ull << 30) - 1)))
		snprintf(s, 32, "%" PRIu64 " GiB", bytes >> 30);
	else if (bytes && !(bytes & ((1ull << 20) - 1)))
		snprintf(s, 32, "%" PRIu64 " MiB", bytes >> 20);
	else if (bytes && !(bytes & ((1ull << 10) - 1)))
		snprintf(s, 32, "%" PRIu64 " KiB", bytes >> 10);
	else
		snprintf(s, 32, "%" PRIu64 " bytes", bytes);
	return s;
}

const char *mode_name(enum cpu_mode mode)
{
	switch (mode) {
	case MODE_REAL:
		return "real";
	case MODE_PROTECTED:
		return "protected";
	case MODE_LONG:
		return "long";
	}
	return "?";
}

/* Read a whole regular file; errors say which @what and why. */
int read_image(const char *path, struct image *img, const char *what)
{
	struct stat st;
	size_t done = 0;
	ssize_t n;
	int fd;

	memset(img, 0, sizeof(*img));
	img->path = path;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return image_error(path, "cannot open %s: %s", what,
				   strerror(errno));
	if (fstat(fd, &st) < 0) {
		image_error(path, "cannot stat %s: %s", what, strerror(errno));
		goto fail;
	}
	if (S_ISDIR(st.st_mode)) {
		image_error(path, "is a directory, not a %s", what);
		goto fail;
	}
	if (!S_ISREG(st.st_mode)) {
		image_error(path, "is not a regular file");
		goto fail;
	}
	if (!st.st_size && strcmp(what, "module")) {
		image_error(path, "empty file");
		goto fail;
	}
	if ((uint64_t)st.st_size > MAX_MEM) {
		image_error(path, "%s is larger than any guest memory (%s)",
			    fmt_size(st.st_size), fmt_size(MAX_MEM));
		goto fail;
	}
	img->size = st.st_size;
	img->data = malloc(img->size ? img->size : 1);
	if (!img->data) {
		image_error(path, "out of memory reading it");
		goto fail;
	}
	while (done < img->size) {
		n = read(fd, img->data + done, img->size - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			image_error(path, "read error: %s",
				    n ? strerror(errno) : "file shrank");
			free(img->data);
			img->data = NULL;
			goto fail;
		}
		done += n;
	}
	close(fd);
	return 0;
fail:
	close(fd);
	return EXIT_IMAGE;
}

void free_image(struct image *img)
{
	free(img->data);
	img->data = NULL;
}

/* --- option parsing --------------------------------------------------------- */

static int parse_u64(const char *s, uint64_t *v)
{
	char *end;

	errno = 0;
	if (!*s || *s == '-')
		return -1;
	*v = strtoull(s, &end, 0);
	return errno || *end ? -1 : 0;
}

/* "128M", "1G", "65536", "512K" (binary units; a trailing B or iB too). */
static int parse_size(const char *s, uint64_t *v)
{
	unsigned int shift = 0;
	char *end;

	errno = 0;
	if (!*s || *s == '-')
		return -1;
	*v = strtoull(s, &end, 0);
	if (errno || end == s)
		return -1;
	switch (*end) {
	case 'k': case 'K':
		shift = 10;
		break;
	case 'm': case 'M':
		shift = 20;
		break;
	case 'g': case 'G':
		shift = 30;
		break;
	case 0:
		break;
	default:
		return -1;
	}
	if (*end)
		end++;
	if (shift && (!strcmp(end, "iB") || !strcmp(end, "B")))
		end += strlen(end);
	if (*end || (*v << shift) >> shift != *v)
		return -1;
	*v <<= shift;
	return 0;
}

static int opt_error(const char *fmt, ...)
{
	va_list ap;

	fputs("kvisor: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs(" (kvisor run --help)\n", stderr);
	return EXIT_USAGE;
}

static int parse_run(int argc, char **argv, struct run_opts *o)
{
	static const struct option opts[] = {
		{ "mem", required_argument, NULL, 'm' },
		{ "format", required_argument, NULL, 'f' },
		{ "load", required_argument, NULL, 'l' },
		{ "entry", required_argument, NULL, 'e' },
		{ "mode", required_argument, NULL, 'M' },
		{ "cmdline", required_argument, NULL, 'c' },
		{ "module", required_argument, NULL, 'k' },
		{ "stats", no_argument, NULL, 's' },
		{ "check", no_argument, NULL, 'n' },
		{ "device", required_argument, NULL, 'd' },
		{ "help", no_argument, NULL, 'h' },
		{ "kernel", required_argument, NULL, 'K' },
		{ "initrd", required_argument, NULL, 'i' },
		{ "cpus", required_argument, NULL, 'C' },
		{ }
	};
	uint64_t n;
	int c;

	optind = 0;	/* glibc: start over on the new argv */
	while ((c = getopt_long(argc, argv, "+m:f:l:e:M:c:k:snd:hK:i:C:", opts,
				NULL)) != -1) {
		switch (c) {
		case 'm':
			if (parse_size(optarg, &o->mem))
				return opt_error("--mem '%s': not a size (e.g. 128M, 1G)",
						 optarg);
			if (o->mem < MIN_MEM || o->mem > MAX_MEM)
				return opt_error("--mem %s: must be from %s to %s",
						 optarg, fmt_size(MIN_MEM),
						 fmt_size(MAX_MEM));
			if (o->mem & 0xfff)
				return opt_error("--mem %s: not a multiple of 4 KiB",
						 optarg);
			break;
		case 'f':
			if (!strcmp(optarg, "auto"))
				o->format = FMT_AUTO;
			else if (!strcmp(optarg, "flat"))
				o->format = FMT_FLAT;
			else if (!strcmp(optarg, "elf"))
				o->format = FMT_ELF;
			else if (!strcmp(optarg, "multiboot"))
				o->format = FMT_MULTIBOOT;
			else if (!strcmp(optarg, "linux"))
				o->format = FMT_LINUX;
			else
				return opt_error("--format '%s': not auto, flat, elf, multiboot or linux",
						 optarg);
			break;
		case 'l':
			if (parse_u64(optarg, &o->load))
				return opt_error("--load '%s': not an address",
						 optarg);
			o->has_load = true;
			break;
		case 'e':
			if (parse_u64(optarg, &o->entry))
				return opt_error("--entry '%s': not an address",
						 optarg);
			o->has_entry = true;
			break;
		case 'M':
			if (!strcmp(optarg, "real"))
				o->mode = MODE_REAL;
			else if (!strcmp(optarg, "protected"))
				o->mode = MODE_PROTECTED;
			else if (!strcmp(optarg, "long"))
				o->mode = MODE_LONG;
			else
				return opt_error("--mode '%s': not real, protected or long",
						 optarg);
			o->has_mode = true;
			break;
		case 'c':
			o->cmdline = optarg;
			break;
		case 'k':
			if (o->nr_modules == MAX_MODULES)
				return opt_error("more than %d --module", MAX_MODULES);
			o->modules[o->nr_modules++] = optarg;
			break;
		case 's':
			o->stats = true;
			break;
		case 'n':
			o->check = true;
			break;
		case 'd':
			o->device = optarg;
			break;
		case 'K':
			if (o->image)
				return opt_error("--kernel given twice");
			o->image = optarg;
			o->format = FMT_LINUX;
			break;
		case 'i':
			o->initrd = optarg;
			break;
		case 'C':
			if (parse_u64(optarg, &n) || n < 1 || n > MAX_VCPUS)
				return opt_error("--cpus '%s': not a number from 1 to %d",
						 optarg, MAX_VCPUS);
			o->cpus = n;
			break;
		case 'h':
			run_usage(stdout);
			return -1;
		default:
			run_usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (o->image) {		/* --kernel */
		if (optind < argc)
			return opt_error("run: --kernel and an IMAGE '%s' both given",
					 argv[optind]);
		return 0;
	}
	if (optind >= argc)
		return opt_error("run: no IMAGE given");
	if (optind + 1 < argc)
		return opt_error("run: one IMAGE only, extra argument '%s'",
				 argv[optind + 1]);
	o->image = argv[optind];
	return 0;
}

static const char *format_name(enum image_format f)
{
	static const char * const names[] = {
		[FMT_AUTO] = "auto", [FMT_FLAT] = "flat",
		[FMT_ELF] = "elf", [FMT_MULTIBOOT] = "multiboot",
		[FMT_LINUX] = "a Linux kernel",
	};

	return names[f];
}

static int cmd_run(int argc, char **argv, const char *dev)
{
	struct run_opts o = { .device = dev, .mem = DEFAULT_MEM, .cpus = 1 };
	enum image_format fmt;
	struct image img;
	struct guest g;
	struct boot *b;
	int r;

	r = parse_run(argc, argv, &o);
	if (r)
		return r < 0 ? 0 : r;
	r = read_image(o.image, &img, "guest image");
	if (r)
		return r;

	fmt = o.format;
	if (fmt == FMT_AUTO)
		fmt = linux_detect(&img) ? FMT_LINUX :
		      multiboot_detect(&img) >= 0 ? FMT_MULTIBOOT :
		      elf_detect(&img) ? FMT_ELF : FMT_FLAT;
	if (fmt != FMT_FLAT && (o.has_load || o.has_entry || o.has_mode)) {
		free_image(&img);
		return opt_error("--load, --entry and --mode are for flat images; %s is %s",
				 o.image, format_name(fmt));
	}
	if (fmt != FMT_MULTIBOOT && o.nr_modules) {
		free_image(&img);
		return opt_error("--module is for multiboot kernels; %s is %s",
				 o.image, format_name(fmt));
	}
	if (fmt != FMT_LINUX && (o.initrd || o.cpus > 1)) {
		free_image(&img);
		return opt_error("--initrd and --cpus above 1 are for Linux kernels; %s is %s",
				 o.image, format_name(fmt));
	}
	if (fmt == FMT_LINUX && o.mem > LINUX_MAX_MEM) {
		free_image(&img);
		return opt_error("--mem %s: a Linux guest gets at most %s (RAM is one range from 0, below the IOAPIC and LAPIC pages)",
				 fmt_size(o.mem), fmt_size(LINUX_MAX_MEM));
	}

	g.size = o.mem;
	g.ram = kvisor_alloc_memory(g.size);
	b = calloc(1, sizeof(*b));
	if (!g.ram || !b) {
		fprintf(stderr, "kvisor: cannot allocate %s of guest memory: %s\n",
			fmt_size(g.size), strerror(errno));
		free_image(&img);
		return EXIT_RUNTIME;
	}
	switch (fmt) {
	case FMT_MULTIBOOT:
		r = load_multiboot(&o, &img, &g, b);
		break;
	case FMT_ELF:
		r = load_elf(&o, &img, &g, b);
		break;
	case FMT_LINUX:
		r = load_linux(&o, &img, &g, b);
		break;
	default:
		r = load_flat(&o, &img, &g, b);
		break;
	}
	free_image(&img);
	if (!r) {
		if (o.check)
			boot_print(&o, &g, b);
		else
			r = run_guest(&o, &g, b);
	}
	free(b);
	kvisor_free_memory(g.ram, g.size);
	return r;
}

static int cmd_info(const char *dev)
{
	static const struct {
		unsigned long cap;
		const char *name;
	} caps[] = {
		{ KVISOR_CAP_NESTED_PAGING, "nested paging" },
		{ KVISOR_CAP_UNRESTRICTED_GUEST, "unrestricted guest" },
		{ KVISOR_CAP_TAGGED_TLB, "tagged TLB (tags)" },
		{ KVISOR_CAP_MAX_VCPUS, "max vCPUs per VM" },
		{ KVISOR_CAP_MAX_MEMORY_SLOTS, "max memory slots" },
		{ KVISOR_CAP_MAX_MEMORY_MB, "max guest memory (MiB)" },
		{ KVISOR_CAP_HW_ENABLED, "virtualization on now" },
	};
	char what[300];
	unsigned int i;
	int fd, ver;

	snprintf(what, sizeof(what), "open %s", dev);
	fd = kvisor_open_system(dev);
	if (fd < 0) {
		fprintf(stderr, "kvisor: %s\n", kvisor_strerror(what, fd));
		return EXIT_NODEV;
	}
	ver = kvisor_api_version(fd);
	if (ver < 0) {
		snprintf(what, sizeof(what), "%s: KVISOR_GET_API_VERSION", dev);
		fprintf(stderr, "kvisor: %s\n", kvisor_strerror(what, ver));
		close(fd);
		return EXIT_NODEV;
	}
	printf("%-24s %d\n", "API version", ver);
	printf("%-24s %s\n", "vendor",
	       kvisor_vendor_name(kvisor_check_extension(fd, KVISOR_CAP_VENDOR)));
	for (i = 0; i < sizeof(caps) / sizeof(caps[0]); i++)
		printf("%-24s %ld\n", caps[i].name,
		       kvisor_check_extension(fd, caps[i].cap));
	close(fd);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "device", required_argument, NULL, 'd' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ }
	};
	const char *dev = KVISOR_DEFAULT_DEVICE;
	int c;

	while ((c = getopt_long(argc, argv, "+d:hV", opts, NULL)) != -1) {
		switch (c) {
		case 'd':
			dev = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("kvisor %s (API %d)\n", KVISOR_TOOL_VERSION,
			       KVISOR_API_VERSION);
			return 0;
		default:
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (!strcmp(argv[optind], "info") && optind + 1 == argc)
		return cmd_info(dev);
	if (!strcmp(argv[optind], "run"))
		return cmd_run(argc - optind, argv + optind, dev);

	fprintf(stderr, "kvisor: unknown command or extra arguments: '%s'\n",
		argv[optind]);
	usage(stderr);
	return EXIT_USAGE;
}
