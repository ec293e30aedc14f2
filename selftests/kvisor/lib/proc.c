// SPDX-License-Identifier: GPL-2.0
/*
 * Counters the leak checks read from /proc and /sys.
 */
#include <stdio.h>
#include <string.h>

#include "kvisor_test.h"

long meminfo_kb(const char *field)
{
	char line[128];
	size_t n = strlen(field);
	long v = -1;
	FILE *f = fopen("/proc/meminfo", "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, field, n) && line[n] == ':') {
			sscanf(line + n + 1, "%ld", &v);
			break;
		}
	fclose(f);
	return v;
}

long kvisor_refcnt(void)
{
	FILE *f = fopen("/sys/module/kvisor/refcnt", "r");
	long n = -1;

	if (f) {
		if (fscanf(f, "%ld", &n) != 1)
			n = -1;
		fclose(f);
	}
	return n;
}
