// SPDX-License-Identifier: GPL-2.0
/*
 * The kvisor tracepoints: `trace-cmd record -e kvisor` around a process
 * that runs a guest (this binary again, with KVISOR_TRACE_HELPER=1: an
 * OUT, then HLT) and `trace-cmd report` shows entry and exit events, the
 * exits with their reason as text.  SKIP without trace-cmd.
 */
#include <ctype.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "vm.h"

#define TRACE_DAT	"/tmp/trace.dat"

GUEST_ASM(g_trace,
	"mov eax, 7\n"
	"out 0x10, eax\n"
	"hlt\n");

/* The helper: run the guest to HLT; exit 0 if all went as expected. */
__attribute__((constructor)) static void trace_helper(void)
{
	struct vm vm;
	struct vcpu v;

	if (!getenv("KVISOR_TRACE_HELPER"))
		return;
	if (vm_create(&vm) || vcpu_add(&vm, &v, 0))
		_exit(2);
	vm_load_code(&vm, g_trace, g_trace_end);
	if (vcpu_setup_mode(&v, MODE_LONG, CODE_GPA) || vcpu_run(&v) ||
	    v.run->exit_reason != KVISOR_EXIT_IO || vcpu_run(&v) ||
	    v.run->exit_reason != KVISOR_EXIT_HLT)
		_exit(3);
	_exit(0);
}

static bool have_trace_cmd(void)
{
	return system("command -v trace-cmd >/dev/null 2>&1") == 0;
}

static bool line_has(const char *line, const char *word)
{
	char low[1024];
	size_t i;

	for (i = 0; line[i] && i < sizeof(low) - 1; i++)
		low[i] = tolower((unsigned char)line[i]);
	low[i] = 0;
	return strstr(low, word);
}

/* trace-cmd record and report take more than 30 s in the Bochs box. */
EMPTY_FIXTURE(trace)

TEST_F_TIMEOUT(trace, record_and_report, 280)
{
	char exe[PATH_MAX], cmd[PATH_MAX + 200], line[1024];
	int entries = 0, exits = 0, exit_io = 0, exit_hlt = 0;
	struct vm probe;
	ssize_t n;
	FILE *f;
	int r;

	VM_CREATE_OR_SKIP(&probe);
	vm_destroy(&probe);
	if (!have_trace_cmd())
		SKIP(return, "trace-cmd is not installed");
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	ASSERT_LT(0, n);
	exe[n] = 0;
	unlink(TRACE_DAT);
	snprintf(cmd, sizeof(cmd),
		 "KVISOR_TRACE_HELPER=1 trace-cmd record -q -e kvisor -o %s -- %s >/tmp/trace-record.log 2>&1",
		 TRACE_DAT, exe);
	r = system(cmd);
	ASSERT_EQ(0, r) TH_LOG("%s: status %#x (see /tmp/trace-record.log)", cmd, r);

	snprintf(cmd, sizeof(cmd), "trace-cmd report -i %s 2>&1", TRACE_DAT);
	f = popen(cmd, "r");
	ASSERT_NE(NULL, f);
	while (fgets(line, sizeof(line), f)) {
		if (!line_has(line, "kvisor"))
			continue;
		if (line_has(line, "entry"))
			entries++;
		else if (line_has(line, "exit")) {
			exits++;
			if (line_has(line, "hlt"))
				exit_hlt++;
			if (line_has(line, " io") || line_has(line, "=io"))
				exit_io++;
		}
		if (entries + exits < 6)
			TH_LOG("%s", line);
	}
	pclose(f);
	EXPECT_LE(2, entries);
	EXPECT_LE(2, exits);
	EXPECT_LE(1, exit_hlt) TH_LOG("no exit event says HLT");
	EXPECT_LE(1, exit_io) TH_LOG("no exit event says IO");
}

TEST_HARNESS_MAIN
