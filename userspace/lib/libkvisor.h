/* SPDX-License-Identifier: LGPL-2.1 */
/*
 * libkvisor: the /dev/kvisor ioctl API in friendly C.
 *
 * Functions return 0 (or a non-negative value) on success and -errno on
 * failure; kvisor_strerror() turns that into a message naming what failed.
 */
#ifndef LIBKVISOR_H
#define LIBKVISOR_H

#include <linux/kvisor.h>

#define KVISOR_DEFAULT_DEVICE	"/dev/kvisor"

/* Open the system device (NULL: /dev/kvisor).  Returns an fd or -errno. */
int kvisor_open_system(const char *path);
/* KVISOR_GET_API_VERSION; the version or -errno. */
int kvisor_api_version(int sys_fd);
/* KVISOR_CHECK_EXTENSION; the value (0: absent) or -errno. */
long kvisor_check_extension(int sys_fd, unsigned long cap);

/* Names for numbers, for messages and --stats; never NULL. */
const char *kvisor_vendor_name(long vendor);
const char *kvisor_exit_reason_name(unsigned int reason);
const char *kvisor_stat_name(unsigned int stat);

/*
 * A message for an error of @what (e.g. "open /dev/kvisor"), with advice
 * where one helps: "/dev/kvisor not found: load the module with ...".
 * Returns a static buffer, overwritten by the next call.
 */
const char *kvisor_strerror(const char *what, int err);

#endif /* LIBKVISOR_H */
