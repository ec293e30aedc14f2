// SPDX-License-Identifier: GPL-2.0
/* Loading and unloading kernel modules from a test, with precise errnos. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include "kvisor_test.h"

const char *kvisor_ko_path(void)
{
	const char *p = getenv("KVISOR_KO");

	return p && *p ? p : "kvisor.ko";
}

int module_load(const char *path, const char *params)
{
	int fd, r;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	r = (int)syscall(SYS_finit_module, fd, params ? params : "", 0);
	r = r ? -errno : 0;
	close(fd);
	return r;
}

int module_unload(const char *name)
{
	return syscall(SYS_delete_module, name, O_NONBLOCK) ? -errno : 0;
}

bool module_loaded(const char *name)
{
	char path[128];
	struct stat st;

	snprintf(path, sizeof(path), "/sys/module/%s/initstate", name);
	return stat(path, &st) == 0;
}

int kvisor_reload(const char *params)
{
	int r;

	if (module_loaded("kvisor")) {
		r = module_unload("kvisor");
		if (r)
			return r;
	}
	return module_load(kvisor_ko_path(), params);
}

int kvisor_restore(void)
{
	return kvisor_reload("");
}

int run_modprobe(const char *args)
{
	char cmd[256];
	int r;

	snprintf(cmd, sizeof(cmd), "modprobe %s >/dev/null 2>&1", args);
	r = system(cmd);
	return r == 0 ? 0 : -1;
}
