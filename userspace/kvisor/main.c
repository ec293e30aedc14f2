// SPDX-License-Identifier: GPL-2.0
/*
 * kvisor: the command-line tool.
 *
 * Exit status (Documentation/tool.rst):
 *   0  success
 *   2  bad command line
 *   4  /dev/kvisor missing or unusable
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "libkvisor.h"

#define KVISOR_TOOL_VERSION	"0.1"

#define EXIT_USAGE	2
#define EXIT_NODEV	4

static void usage(FILE *f)
{
	fprintf(f,
		"usage: kvisor [--device PATH] COMMAND\n"
		"\n"
		"commands:\n"
		"  info        vendor, features, limits and API version of /dev/kvisor\n"
		"\n"
		"options:\n"
		"  -d, --device PATH   the kvisor device (default %s)\n"
		"  -h, --help          this text\n"
		"  -V, --version       the tool's version\n",
		KVISOR_DEFAULT_DEVICE);
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

	fprintf(stderr, "kvisor: unknown command or extra arguments: '%s'\n",
		argv[optind]);
	usage(stderr);
	return EXIT_USAGE;
}
