/* nlport-shim.c - LD_PRELOAD bind() wrapper for libvirtd in the 802.1Qbg
 * test bed (tests/integration/lib/qbg-testbed.sh).
 *
 * libvirt 9.0 returns its netlink event socket's port as an int
 * (virNetlinkEventServiceLocalPid) and treats a negative value as failure:
 * every 802.1Qbg request then fails with "sending of PortProfileRequest
 * failed." and nothing reaches the VDP agent.  libnl >= 3.2.26 binds
 * pid + (n << 22) with n seeded from time(), so about half of all libvirtd
 * starts get a port >= 2^31 (research/qbg-testbed-facts.md).  This wrapper
 * clears bit 31 of an AF_NETLINK nl_pid before the real bind(); libnl reads
 * the bound port back with getsockname().  A clash with a port in use
 * gives EADDRINUSE, on which libnl tries its next port.
 *
 * Built by the test with `cc -shared -fPIC` (never with the sanitizers: it
 * is loaded into the system's libvirtd).  Everything else passes through.
 * It takes itself out of LD_PRELOAD at load, so libvirtd's children (QEMU,
 * the hooks: an ASan-built vsimigctl refuses to run behind a preloaded
 * library) do not inherit it.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <linux/netlink.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

__attribute__((constructor)) static void nlport_shim_init(void)
{
	unsetenv("LD_PRELOAD");
}

int bind(int fd, const struct sockaddr *addr, socklen_t len)
{
	static int (*real_bind)(int, const struct sockaddr *, socklen_t);
	struct sockaddr_nl nl;

	if (!real_bind) {
		real_bind = (int (*)(int, const struct sockaddr *, socklen_t))dlsym(RTLD_NEXT, "bind");
		if (!real_bind) {
			errno = ENOSYS;
			return -1;
		}
	}
	if (addr && len >= sizeof(nl) && addr->sa_family == AF_NETLINK) {
		memcpy(&nl, addr, sizeof(nl));
		if (nl.nl_pid & 0x80000000u) {
			nl.nl_pid &= 0x7fffffffu;
			return real_bind(fd, (const struct sockaddr *)&nl, sizeof(nl));
		}
	}
	return real_bind(fd, addr, len);
}
