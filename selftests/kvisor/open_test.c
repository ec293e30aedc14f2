// SPDX-License-Identifier: GPL-2.0
/* 100 processes open /dev/kvisor at the same moment and use it. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/wait.h>

#include "kselftest_harness.h"
#include "kvisor_test.h"

#define NR_OPENERS 100

TEST(hundred_openers)
{
	int go[2], i, ok = 0;
	pid_t pids[NR_OPENERS];

	if (cpu_virt() == CPU_VIRT_NONE)
		SKIP(return, "no VT-x or AMD-V in this box");
	ASSERT_EQ(0, pipe(go));

	for (i = 0; i < NR_OPENERS; i++) {
		pids[i] = fork();
		ASSERT_LE(0, pids[i]);
		if (pids[i] == 0) {
			char c;
			int fd;

			close(go[1]);
			/* wait for the start signal: the pipe closing */
			if (read(go[0], &c, 1) != 0)
				_exit(2);
			fd = open(KVISOR_DEV, O_RDWR);
			if (fd < 0)
				_exit(3);
			if (ioctl(fd, KVISOR_GET_API_VERSION, 0) != KVISOR_API_VERSION)
				_exit(4);
			close(fd);
			_exit(0);
		}
	}
	close(go[0]);
	close(go[1]);		/* all start at once */

	for (i = 0; i < NR_OPENERS; i++) {
		int status;

		ASSERT_EQ(pids[i], waitpid(pids[i], &status, 0));
		if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
			ok++;
		else
			TH_LOG("opener %d: status %#x", i, status);
	}
	EXPECT_EQ(NR_OPENERS, ok);
}

TEST_HARNESS_MAIN
