// SPDX-License-Identifier: LGPL-2.1
/* libkvisor: the system fd. */
#include <errno.h>
#include <fcntl.h>
#include <sys/ioctl.h>

#include "libkvisor.h"

int kvisor_open_system(const char *path)
{
	int fd = open(path ? path : KVISOR_DEFAULT_DEVICE, O_RDWR | O_CLOEXEC);

	return fd < 0 ? -errno : fd;
}

int kvisor_api_version(int sys_fd)
{
	int r = ioctl(sys_fd, KVISOR_GET_API_VERSION, 0);

	return r < 0 ? -errno : r;
}

long kvisor_check_extension(int sys_fd, unsigned long cap)
{
	int r = ioctl(sys_fd, KVISOR_CHECK_EXTENSION, cap);

	return r < 0 ? -errno : r;
}

int kvisor_create_vm(int sys_fd)
{
	int r = ioctl(sys_fd, KVISOR_CREATE_VM, 0);

	return r < 0 ? -errno : r;
}

long kvisor_vcpu_mmap_size(int sys_fd)
{
	int r = ioctl(sys_fd, KVISOR_GET_VCPU_MMAP_SIZE, 0);

	return r < 0 ? -errno : r;
}
