/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * subreaper.c - run one daemon as the child of a child subreaper.
 *
 * Test helper for tests/integration/lib/libvirt-testbed.sh (DESIGN.md §6).
 * libvirtd double-forks its QEMU processes, so they are re-parented to the
 * nearest subreaper, normally PID 1.  The PID 1 of this machine reaps
 * zombies slowly, and libvirtd waits for a QEMU to be reaped before it
 * reports the domain gone, so `virsh destroy` takes ~2 s and a migration's
 * source-side cleanup is delayed.  This wrapper marks itself a child
 * subreaper (prctl(PR_SET_CHILD_SUBREAPER), Linux >= 3.4) so that the
 * daemon's orphans become its children and are reaped at once.
 *
 * Usage: subreaper [-p PIDFILE] [-n] [--] PROGRAM [ARG]...
 *   -p PIDFILE  write the daemon's pid (decimal, newline) to PIDFILE
 *   -n          no linger: exit as soon as the daemon exits (orphans that
 *               are still running are re-parented to the next subreaper)
 *
 * Behaviour:
 *   - forks and execs PROGRAM (execvp), in the same process group;
 *   - SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2 received while
 *     the daemon runs are forwarded to the daemon;
 *   - reaps every child (the daemon and all adopted orphans);
 *   - when the daemon exits: by default the wrapper lingers, reaping, until
 *     it has no children left (a QEMU survives a libvirtd restart and must
 *     still be reaped promptly); a SIGTERM/SIGINT received after the daemon
 *     exited ends the linger at once;
 *   - the daemon starts with the signal mask the wrapper inherited;
 *   - exits with the daemon's exit status, or 128 + signal number if it was
 *     killed by a signal; 127 if PROGRAM could not be executed.
 */

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile sig_atomic_t pending_sig;

static void on_signal(int sig)
{
	pending_sig = sig;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: subreaper [-p PIDFILE] [-n] [--] PROGRAM [ARG]...\n");
}

static int write_pidfile(const char *path, pid_t pid)
{
	FILE *f = fopen(path, "we");

	if (!f)
		return -errno;
	fprintf(f, "%ld\n", (long)pid);
	if (fclose(f) != 0)
		return -errno;
	return 0;
}

int main(int argc, char **argv)
{
	static const int fwd[] = { SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2 };
	const char *pidfile = NULL;
	bool linger = true, daemon_done = false;
	int daemon_rc = 0, opt;
	struct sigaction sa;
	sigset_t block, orig, none;
	pid_t daemon_pid;
	size_t i;

	while ((opt = getopt(argc, argv, "+p:nh")) != -1) {
		switch (opt) {
		case 'p':
			pidfile = optarg;
			break;
		case 'n':
			linger = false;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return 2;
	}

	if (prctl(PR_SET_CHILD_SUBREAPER, 1L, 0L, 0L, 0L) < 0) {
		fprintf(stderr, "subreaper: prctl(PR_SET_CHILD_SUBREAPER): %m\n");
		return 1;
	}

	/* Block the forwarded signals until the handlers are in place and the
	 * daemon's pid is known; sigsuspend() below unblocks them atomically. */
	sigemptyset(&block);
	for (i = 0; i < sizeof(fwd) / sizeof(fwd[0]); i++)
		sigaddset(&block, fwd[i]);
	sigaddset(&block, SIGCHLD);
	sigprocmask(SIG_BLOCK, &block, &orig);
	/* Wait with nothing blocked, whatever mask we inherited. */
	sigemptyset(&none);

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	for (i = 0; i < sizeof(fwd) / sizeof(fwd[0]); i++)
		sigaction(fwd[i], &sa, NULL);
	/* A SIGCHLD handler (not SIG_IGN/SIG_DFL) makes sigsuspend() return. */
	sigaction(SIGCHLD, &sa, NULL);

	daemon_pid = fork();
	if (daemon_pid < 0) {
		fprintf(stderr, "subreaper: fork: %m\n");
		return 1;
	}
	if (daemon_pid == 0) {
		/* The daemon gets default dispositions and the original mask. */
		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = SIG_DFL;
		for (i = 0; i < sizeof(fwd) / sizeof(fwd[0]); i++)
			sigaction(fwd[i], &sa, NULL);
		sigaction(SIGCHLD, &sa, NULL);
		sigprocmask(SIG_SETMASK, &orig, NULL);
		execvp(argv[optind], argv + optind);
		fprintf(stderr, "subreaper: exec %s: %m\n", argv[optind]);
		_exit(127);
	}
	if (pidfile) {
		int r = write_pidfile(pidfile, daemon_pid);

		if (r < 0)
			fprintf(stderr, "subreaper: %s: %s\n", pidfile, strerror(-r));
	}

	for (;;) {
		int status;
		pid_t p;

		/* Reap everything that has exited. */
		while ((p = waitpid(-1, &status, WNOHANG)) > 0) {
			if (p != daemon_pid)
				continue;
			daemon_done = true;
			if (WIFEXITED(status))
				daemon_rc = WEXITSTATUS(status);
			else if (WIFSIGNALED(status))
				daemon_rc = 128 + WTERMSIG(status);
		}
		if (p < 0 && errno == ECHILD)
			break; /* no children at all: daemon done, orphans reaped */

		if (pending_sig) {
			int sig = pending_sig;

			pending_sig = 0;
			if (!daemon_done)
				kill(daemon_pid, sig);
			else if (sig == SIGTERM || sig == SIGINT)
				break; /* stop lingering */
		}
		if (daemon_done && !linger)
			break;

		sigsuspend(&none);
	}
	return daemon_rc;
}
