// SPDX-License-Identifier: GPL-2.0
/*
 * Looking for a line in the kernel log.  A test writes a unique marker to
 * /dev/kmsg, does its work, then searches only what was logged after the
 * marker, so earlier runs cannot satisfy it.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/klog.h>

#include "kvisor_test.h"

#define SYSLOG_ACTION_READ_ALL		3
#define SYSLOG_ACTION_SIZE_BUFFER	10

void kmsg_mark(const char *tag)
{
	char line[160];
	int fd = open("/dev/kmsg", O_WRONLY);

	if (fd < 0)
		return;
	snprintf(line, sizeof(line), "kvisor-selftest: mark %s %d\n", tag, getpid());
	if (write(fd, line, strlen(line)) < 0)
		perror("/dev/kmsg");
	close(fd);
}

bool kmsg_since_mark_has(const char *tag, const char *text)
{
	char mark[160], *buf, *from;
	int size, n;
	bool found = false;

	size = klogctl(SYSLOG_ACTION_SIZE_BUFFER, NULL, 0);
	if (size <= 0)
		return false;
	buf = malloc(size + 1);
	if (!buf)
		return false;
	n = klogctl(SYSLOG_ACTION_READ_ALL, buf, size);
	if (n > 0) {
		buf[n] = '\0';
		snprintf(mark, sizeof(mark), "kvisor-selftest: mark %s %d", tag, getpid());
		from = strstr(buf, mark);
		/* the last marker with this tag, in case the test repeats */
		while (from) {
			char *next = strstr(from + 1, mark);

			if (!next)
				break;
			from = next;
		}
		found = from && strstr(from, text);
	}
	free(buf);
	return found;
}
