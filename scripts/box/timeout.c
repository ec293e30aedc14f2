// SPDX-License-Identifier: GPL-2.0
/*
 * /usr/bin/timeout of the test box.  The kselftest runner calls
 *
 *	timeout --foreground SECS CMD [ARG]...
 *
 * and reads exit status 124 as "timed out", like GNU coreutils; busybox's
 * timeout has neither.  This small stand-in runs CMD in a process group of
 * its own, waits for it with the signals blocked (sigwaitinfo: no helper
 * process, no race between the command's end and the alarm) and on the
 * deadline signals the whole group, so a test's children never linger and
 * never keep the runner's output pipe open.
 *
 *	timeout [--foreground] [--preserve-status] [-s SIG] [-k SECS] SECS CMD...
 *
 * Exit status: CMD's status (128 + N when signal N ended it); 124 when the
 * deadline passed (CMD's own status with --preserve-status); 125 bad usage
 * or an internal error; 126 CMD found but not runnable; 127 CMD not found.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static int parse_secs(const char *s, unsigned int *out)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || v < 0 || v > 86400 * 365)
		return -1;
	/* Only the suffixes GNU timeout takes; seconds are the default. */
	if (*end == 'm')
		v *= 60, end++;
	else if (*end == 'h')
		v *= 3600, end++;
	else if (*end == 's')
		end++;
	if (*end)
		return -1;
	*out = (unsigned int)v + (v > (unsigned int)v);
	return 0;
}

static int parse_signal(const char *s)
{
	static const struct { const char *name; int sig; } names[] = {
		{ "HUP", SIGHUP }, { "INT", SIGINT }, { "QUIT", SIGQUIT },
		{ "KILL", SIGKILL }, { "USR1", SIGUSR1 }, { "USR2", SIGUSR2 },
		{ "ALRM", SIGALRM }, { "TERM", SIGTERM },
	};
	unsigned int i;
	char *end;
	long n;

	if (!strncmp(s, "SIG", 3))
		s += 3;
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (!strcmp(s, names[i].name))
			return names[i].sig;
	n = strtol(s, &end, 10);
	return (*s && !*end && n > 0 && n < NSIG) ? (int)n : -1;
}

static void usage(void)
{
	fprintf(stderr, "usage: timeout [--foreground] [--preserve-status] [-s SIG] [-k SECS] SECS CMD [ARG]...\n");
	exit(125);
}

int main(int argc, char **argv)
{
	unsigned int secs, kill_after = 0;
	int sig = SIGTERM, preserve = 0, timed_out = 0, status, i;
	sigset_t set;
	pid_t pid;

	for (i = 1; i < argc && argv[i][0] == '-' && argv[i][1]; i++) {
		const char *a = argv[i];

		if (!strcmp(a, "--")) {
			i++;
			break;
		} else if (!strcmp(a, "--foreground") || !strcmp(a, "-v") ||
			   !strcmp(a, "--verbose")) {
			continue;
		} else if (!strcmp(a, "--preserve-status")) {
			preserve = 1;
		} else if (!strcmp(a, "-s") && i + 1 < argc) {
			sig = parse_signal(argv[++i]);
		} else if (!strncmp(a, "--signal=", 9)) {
			sig = parse_signal(a + 9);
		} else if (!strcmp(a, "-k") && i + 1 < argc) {
			if (parse_secs(argv[++i], &kill_after))
				usage();
		} else if (!strncmp(a, "--kill-after=", 13)) {
			if (parse_secs(a + 13, &kill_after))
				usage();
		} else {
			usage();
		}
	}
	if (sig < 0 || argc - i < 2 || parse_secs(argv[i], &secs))
		usage();
	i++;

	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigaddset(&set, SIGALRM);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	if (sigprocmask(SIG_BLOCK, &set, NULL)) {
		perror("timeout: sigprocmask");
		return 125;
	}

	pid = fork();
	if (pid < 0) {
		perror("timeout: fork");
		return 125;
	}
	if (pid == 0) {
		setpgid(0, 0);
		sigprocmask(SIG_UNBLOCK, &set, NULL);
		execvp(argv[i], &argv[i]);
		fprintf(stderr, "timeout: %s: %s\n", argv[i], strerror(errno));
		_exit(errno == ENOENT ? 127 : 126);
	}
	/* Both sides set the group, so neither depends on who runs first. */
	setpgid(pid, pid);
	if (secs)
		alarm(secs);

	for (;;) {
		siginfo_t si;
		int s = sigwaitinfo(&set, &si);

		if (s < 0) {
			if (errno == EINTR)
				continue;
			perror("timeout: sigwaitinfo");
			return 125;
		}
		if (s == SIGCHLD) {
			pid_t r = waitpid(pid, &status, WNOHANG);

			if (r == pid)
				break;
			continue;
		}
		if (s == SIGALRM) {
			if (timed_out) {
				/* -k: the command ignored the first signal. */
				kill(-pid, SIGKILL);
				continue;
			}
			timed_out = 1;
			kill(-pid, sig);
			/* A stopped command would never see the signal. */
			kill(-pid, SIGCONT);
			if (kill_after)
				alarm(kill_after);
			continue;
		}
		/* SIGTERM/INT/HUP sent to us: pass it on and keep waiting. */
		kill(-pid, s);
	}
	/* Whatever the command left behind in its group goes with it. */
	kill(-pid, SIGKILL);

	if (timed_out && !preserve)
		return 124;
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return WEXITSTATUS(status);
}
