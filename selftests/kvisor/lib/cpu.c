// SPDX-License-Identifier: GPL-2.0
/* CPUID, MSRs and CPU hotplug, as the tests see them from userspace. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <cpuid.h>

#include "kvisor_test.h"

void cpuid_count(uint32_t leaf, uint32_t sub, uint32_t r[4])
{
	__cpuid_count(leaf, sub, r[0], r[1], r[2], r[3]);
}

enum cpu_virt cpu_virt(void)
{
	uint32_t r[4];
	char vendor[13];

	cpuid_count(0, 0, r);
	memcpy(vendor, &r[1], 4);
	memcpy(vendor + 4, &r[3], 4);
	memcpy(vendor + 8, &r[2], 4);
	vendor[12] = '\0';

	if (!strcmp(vendor, "GenuineIntel")) {
		cpuid_count(1, 0, r);
		return (r[2] & (1u << 5)) ? CPU_VIRT_VMX : CPU_VIRT_NONE;
	}
	if (!strcmp(vendor, "AuthenticAMD") || !strcmp(vendor, "HygonGenuine")) {
		cpuid_count(0x80000001, 0, r);
		return (r[2] & (1u << 2)) ? CPU_VIRT_SVM : CPU_VIRT_NONE;
	}
	return CPU_VIRT_NONE;
}

bool box_is_bochs(void)
{
	char buf[64] = "";
	FILE *f = fopen("/sys/class/dmi/id/bios_version", "r");

	if (!f)
		return false;
	if (!fgets(buf, sizeof(buf), f))
		buf[0] = 0;
	fclose(f);
	return !strncmp(buf, "Bochs", 5);
}

int msr_read(int cpu, uint32_t index, uint64_t *val)
{
	char path[64];
	int fd, err = 0;

	snprintf(path, sizeof(path), "/dev/cpu/%d/msr", cpu);
	fd = open(path, O_RDONLY);
	if (fd < 0 && errno == ENOENT) {
		run_modprobe("msr");
		fd = open(path, O_RDONLY);
	}
	if (fd < 0)
		return -errno;
	if (pread(fd, val, sizeof(*val), index) != sizeof(*val))
		err = errno ? -errno : -EIO;
	close(fd);
	return err;
}

int cpus_online(void)
{
	return (int)sysconf(_SC_NPROCESSORS_ONLN);
}

int cpu_set_online(int cpu, bool online)
{
	char path[80];
	int fd, err = 0;

	snprintf(path, sizeof(path), "/sys/devices/system/cpu/cpu%d/online", cpu);
	fd = open(path, O_WRONLY);
	if (fd < 0)
		return -errno;
	if (write(fd, online ? "1" : "0", 1) != 1)
		err = -errno;
	close(fd);
	return err;
}

int kvisor_hw_cpus(char *buf, size_t len)
{
	int fd;
	ssize_t n;

	fd = open("/sys/kernel/debug/kvisor/hw_cpus", O_RDONLY);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n < 0)
		return -errno;
	buf[n] = '\0';
	if (n > 0 && buf[n - 1] == '\n')
		buf[n - 1] = '\0';
	return 0;
}
