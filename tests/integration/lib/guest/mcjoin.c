/*
 * mcjoin - multicast joiner/receiver/sender for the vsimig test guest.
 *
 * One static binary, used both inside the Linux test guest (built by
 * build-guest.sh) and on the test host (the switch namespace):
 *
 *   mcjoin join [-i IF] [-p PORT] [-c CTLPORT] [-4 V] [-6 V] [-P PREFIX]
 *               GROUP[@SOURCE]...
 *       Join every GROUP (IPv4 or IPv6, by its spelling) on IF, any-source
 *       or, with @SOURCE, source-specific (MCAST_JOIN_SOURCE_GROUP).
 *       Forces the report version on IF first: -4 V writes
 *       /proc/sys/net/ipv4/conf/IF/force_igmp_version (default 3), -6 V
 *       .../ipv6/conf/IF/force_mld_version (default 2); 0 leaves it alone.
 *       With -p, receives UDP datagrams sent by `mcjoin send` on PORT and
 *       prints, once a second for every group whose numbers changed:
 *         PREFIXrx <group> <count> <last-seq> lost=<n> dup=<n> maxgap_ms=<n> first=<seq>
 *       lost = (highest seq - first seq + 1) - (count - dup), where dup
 *       counts datagrams not above the highest seq seen (repeated or late);
 *       maxgap_ms = the longest time between two consecutive datagrams
 *       received for that group, by the *sender's* clock (their send
 *       times are in the payload): the outage a migration caused, which
 *       the guest's own clock does not see (it stops while the VM is
 *       paused).  A new sender (new
 *       stream id) resets the group's numbers (a "rx-reset" line).
 *       With -c, answers text commands on UDP CTLPORT (IPv4 and IPv6):
 *         join G[@S] | leave G[@S] | stats | ping
 *       Runs until killed.  PREFIX defaults to "VSMGUEST: ".
 *
 *   mcjoin send [-i IF] [-t TTL] [-s SIZE] [-v] GROUP PORT RATE COUNT
 *       Send COUNT (0 = until SIGINT/SIGTERM) datagrams to GROUP:PORT at
 *       RATE per second out of IF, each carrying "VSMC", a stream id, a
 *       sequence number (1, 2, ...) and the send time (CLOCK_MONOTONIC,
 *       microseconds).  Prints
 *         mcjoin: sent <n> to <group> port <port> errors <n>
 *       at the end (and every second with -v).
 *
 *   mcjoin ctl ADDR PORT COMMAND...
 *       Send COMMAND to a `mcjoin join -c PORT`, print its answer; exit 0
 *       when it starts with "ok".
 *
 * Build: cc -static -O2 -o mcjoin mcjoin.c  (glibc static is fine: no NSS
 * lookups are used).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#define MAGIC "VSMC"
#define HDR_LEN 24 /* "VSMC" + u32 stream id + u64 seq + u64 send time (us), network order */
#define MAX_GROUPS 64

static const char *prefix = "VSMGUEST: ";
static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static void die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("mcjoin: ", stderr);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(2);
}

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static uint64_t be64get(const unsigned char *p)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

static void be64put(unsigned char *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		p[i] = (unsigned char)v;
}

/* ------------------------------------------------------------------ */
/* addresses */

struct addr {
	int family; /* AF_INET or AF_INET6 */
	union {
		struct in_addr v4;
		struct in6_addr v6;
	} u;
};

static int addr_parse(const char *s, struct addr *a)
{
	memset(a, 0, sizeof(*a));
	if (inet_pton(AF_INET, s, &a->u.v4) == 1) {
		a->family = AF_INET;
		return 0;
	}
	if (inet_pton(AF_INET6, s, &a->u.v6) == 1) {
		a->family = AF_INET6;
		return 0;
	}
	return -1;
}

static int addr_eq(const struct addr *a, const struct addr *b)
{
	if (a->family != b->family)
		return 0;
	if (a->family == AF_INET)
		return a->u.v4.s_addr == b->u.v4.s_addr;
	return memcmp(&a->u.v6, &b->u.v6, sizeof(a->u.v6)) == 0;
}

static void addr_ss(const struct addr *a, uint16_t port, struct sockaddr_storage *ss, socklen_t *len)
{
	memset(ss, 0, sizeof(*ss));
	if (a->family == AF_INET) {
		struct sockaddr_in *s = (struct sockaddr_in *)ss;
		s->sin_family = AF_INET;
		s->sin_port = htons(port);
		s->sin_addr = a->u.v4;
		*len = sizeof(*s);
	} else {
		struct sockaddr_in6 *s = (struct sockaddr_in6 *)ss;
		s->sin6_family = AF_INET6;
		s->sin6_port = htons(port);
		s->sin6_addr = a->u.v6;
		*len = sizeof(*s);
	}
}

/* ------------------------------------------------------------------ */
/* join mode */

struct group {
	char spec[INET6_ADDRSTRLEN * 2 + 2]; /* "G" or "G@S" as given */
	char name[INET6_ADDRSTRLEN];         /* G */
	struct addr grp, src;
	int has_src, joined;
	uint32_t stream;
	int have_stream;
	uint64_t count, first, last, max, dup, printed;
	uint64_t last_tx_us, maxgap_ms;
};

static struct group groups[MAX_GROUPS];
static int ngroups;
static int ifindex;
static const char *ifname;
static int sock4 = -1, sock6 = -1;

static int group_spec_parse(const char *spec, struct group *g)
{
	char buf[sizeof(g->spec)];
	char *at;

	if (strlen(spec) >= sizeof(buf))
		return -1;
	memset(g, 0, sizeof(*g));
	strcpy(buf, spec);
	strcpy(g->spec, spec);
	at = strchr(buf, '@');
	if (at) {
		*at++ = 0;
		if (addr_parse(at, &g->src) < 0)
			return -1;
		g->has_src = 1;
	}
	if (addr_parse(buf, &g->grp) < 0)
		return -1;
	if (g->has_src && g->src.family != g->grp.family)
		return -1;
	snprintf(g->name, sizeof(g->name), "%s", buf);
	return 0;
}

static struct group *group_find_spec(const struct group *key)
{
	for (int i = 0; i < ngroups; i++) {
		struct group *g = &groups[i];
		if (addr_eq(&g->grp, &key->grp) && g->has_src == key->has_src &&
		    (!g->has_src || addr_eq(&g->src, &key->src)))
			return g;
	}
	return NULL;
}

/* join (join=1) or leave (join=0) G or G@S on ifindex. */
static int group_op(struct group *g, int join)
{
	int fd = g->grp.family == AF_INET ? sock4 : sock6;
	int level = g->grp.family == AF_INET ? IPPROTO_IP : IPPROTO_IPV6;
	socklen_t len;
	int rc;

	if (g->has_src) {
		struct group_source_req r;
		memset(&r, 0, sizeof(r));
		r.gsr_interface = (uint32_t)ifindex;
		addr_ss(&g->grp, 0, &r.gsr_group, &len);
		addr_ss(&g->src, 0, &r.gsr_source, &len);
		rc = setsockopt(fd, level, join ? MCAST_JOIN_SOURCE_GROUP : MCAST_LEAVE_SOURCE_GROUP,
				&r, sizeof(r));
	} else {
		struct group_req r;
		memset(&r, 0, sizeof(r));
		r.gr_interface = (uint32_t)ifindex;
		addr_ss(&g->grp, 0, &r.gr_group, &len);
		rc = setsockopt(fd, level, join ? MCAST_JOIN_GROUP : MCAST_LEAVE_GROUP, &r, sizeof(r));
	}
	if (rc < 0)
		return -errno;
	g->joined = join;
	printf("%s%s %s %s\n", prefix, join ? "joined" : "left", g->spec,
	       ifname ? ifname : "-");
	fflush(stdout);
	return 0;
}

static void write_sysctl(const char *path, int v)
{
	FILE *f = fopen(path, "w");
	if (!f) {
		fprintf(stderr, "mcjoin: %s: %s\n", path, strerror(errno));
		return;
	}
	fprintf(f, "%d\n", v);
	if (fclose(f) != 0)
		fprintf(stderr, "mcjoin: %s: %s\n", path, strerror(errno));
}

static int udp_socket(int family, uint16_t port)
{
	int fd = socket(family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	int one = 1;

	if (fd < 0)
		die("socket: %s", strerror(errno));
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (port) {
		struct sockaddr_storage ss;
		socklen_t len;
		struct addr any = {.family = family};
		addr_ss(&any, port, &ss, &len);
		if (bind(fd, (struct sockaddr *)&ss, len) < 0)
			die("bind port %u: %s", port, strerror(errno));
	}
	return fd;
}

static void print_group(struct group *g)
{
	uint64_t span = g->count ? g->max - g->first + 1 : 0;
	uint64_t distinct = g->count - g->dup;
	uint64_t lost = span > distinct ? span - distinct : 0;

	printf("%srx %s %" PRIu64 " %" PRIu64 " lost=%" PRIu64 " dup=%" PRIu64
	       " maxgap_ms=%" PRIu64 " first=%" PRIu64 "\n",
	       prefix, g->name, g->count, g->last, lost, g->dup, g->maxgap_ms, g->first);
	g->printed = g->count;
}

static void rx_one(int fd)
{
	unsigned char buf[2048];
	unsigned char cbuf[256];
	struct iovec iov = {.iov_base = buf, .iov_len = sizeof(buf)};
	struct sockaddr_storage from;
	struct msghdr mh = {
		.msg_name = &from, .msg_namelen = sizeof(from),
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = cbuf, .msg_controllen = sizeof(cbuf),
	};
	struct addr dst = {0};
	ssize_t n = recvmsg(fd, &mh, MSG_DONTWAIT);

	if (n < 0)
		return;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
		if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) {
			struct in_pktinfo pi;
			memcpy(&pi, CMSG_DATA(c), sizeof(pi));
			dst.family = AF_INET;
			dst.u.v4 = pi.ipi_addr;
		} else if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO) {
			struct in6_pktinfo pi;
			memcpy(&pi, CMSG_DATA(c), sizeof(pi));
			dst.family = AF_INET6;
			dst.u.v6 = pi.ipi6_addr;
		}
	}
	if (!dst.family || n < HDR_LEN || memcmp(buf, MAGIC, 4) != 0)
		return;

	uint32_t stream = (uint32_t)buf[4] << 24 | (uint32_t)buf[5] << 16 | (uint32_t)buf[6] << 8 | buf[7];
	uint64_t seq = be64get(buf + 8);
	uint64_t t = be64get(buf + 16); /* sender's clock, us */

	for (int i = 0; i < ngroups; i++) {
		struct group *g = &groups[i];
		if (!addr_eq(&g->grp, &dst))
			continue;
		if (!g->have_stream || g->stream != stream) {
			if (g->have_stream) {
				print_group(g);
				printf("%srx-reset %s stream %08x\n", prefix, g->name, stream);
			}
			g->have_stream = 1;
			g->stream = stream;
			g->count = g->dup = g->maxgap_ms = g->printed = 0;
			g->first = g->max = seq;
			g->last_tx_us = t;
		}
		if (g->count && seq <= g->max)
			g->dup++; /* repeated or late: not above the highest seq seen */
		if (g->count && t > g->last_tx_us && (t - g->last_tx_us) / 1000 > g->maxgap_ms)
			g->maxgap_ms = (t - g->last_tx_us) / 1000;
		g->count++;
		g->last = seq;
		if (seq > g->max)
			g->max = seq;
		if (seq < g->first)
			g->first = seq;
		if (t > g->last_tx_us)
			g->last_tx_us = t;
		break; /* a G@S entry and a G entry: count once */
	}
}

static void ctl_reply(int fd, const struct sockaddr_storage *to, socklen_t tolen, const char *fmt, ...)
{
	char buf[4096];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(buf))
		n = sizeof(buf) - 1;
	sendto(fd, buf, (size_t)n, 0, (const struct sockaddr *)to, tolen);
}

static void ctl_one(int fd)
{
	char buf[512], out[4096];
	struct sockaddr_storage from;
	socklen_t flen = sizeof(from);
	ssize_t n = recvfrom(fd, buf, sizeof(buf) - 1, MSG_DONTWAIT, (struct sockaddr *)&from, &flen);
	char *cmd, *arg, *save = NULL;

	if (n <= 0)
		return;
	buf[n] = 0;
	buf[strcspn(buf, "\r\n")] = 0;
	cmd = strtok_r(buf, " \t", &save);
	arg = strtok_r(NULL, " \t", &save);
	if (!cmd) {
		ctl_reply(fd, &from, flen, "err empty");
		return;
	}
	if (!strcmp(cmd, "ping")) {
		ctl_reply(fd, &from, flen, "ok pong");
	} else if (!strcmp(cmd, "stats")) {
		size_t o = 0;
		o += (size_t)snprintf(out + o, sizeof(out) - o, "ok");
		for (int i = 0; i < ngroups && o < sizeof(out); i++) {
			struct group *g = &groups[i];
			uint64_t span = g->count ? g->max - g->first + 1 : 0;
			uint64_t distinct = g->count - g->dup;
			o += (size_t)snprintf(out + o, sizeof(out) - o,
					      "\n%s joined=%d count=%" PRIu64 " last=%" PRIu64
					      " lost=%" PRIu64 " dup=%" PRIu64 " maxgap_ms=%" PRIu64,
					      g->spec, g->joined, g->count, g->last,
					      span > distinct ? span - distinct : 0, g->dup, g->maxgap_ms);
		}
		ctl_reply(fd, &from, flen, "%s", out);
	} else if (!strcmp(cmd, "join") || !strcmp(cmd, "leave")) {
		struct group key, *g;
		int join = cmd[0] == 'j', rc;
		if (!arg || group_spec_parse(arg, &key) < 0) {
			ctl_reply(fd, &from, flen, "err bad group");
			return;
		}
		g = group_find_spec(&key);
		if (!g) {
			if (!join) {
				ctl_reply(fd, &from, flen, "err not joined");
				return;
			}
			if (ngroups == MAX_GROUPS) {
				ctl_reply(fd, &from, flen, "err too many groups");
				return;
			}
			groups[ngroups] = key;
			g = &groups[ngroups++];
		}
		if (g->joined == join) {
			ctl_reply(fd, &from, flen, "ok already");
			return;
		}
		rc = group_op(g, join);
		if (rc < 0)
			ctl_reply(fd, &from, flen, "err %s", strerror(-rc));
		else
			ctl_reply(fd, &from, flen, "ok %s %s", cmd, g->spec);
	} else {
		ctl_reply(fd, &from, flen, "err unknown command");
	}
}

static int cmd_join(int argc, char **argv)
{
	int opt, igmpv = 3, mldv = 2;
	unsigned port = 0, ctlport = 0;
	int ctl = -1, one = 1;

	while ((opt = getopt(argc, argv, "i:p:c:4:6:P:")) != -1) {
		switch (opt) {
		case 'i': ifname = optarg; break;
		case 'p': port = (unsigned)atoi(optarg); break;
		case 'c': ctlport = (unsigned)atoi(optarg); break;
		case '4': igmpv = atoi(optarg); break;
		case '6': mldv = atoi(optarg); break;
		case 'P': prefix = optarg; break;
		default: die("usage: mcjoin join [-i IF] [-p PORT] [-c CTLPORT] [-4 V] [-6 V] GROUP[@SRC]...");
		}
	}
	if (ifname) {
		ifindex = (int)if_nametoindex(ifname);
		if (!ifindex)
			die("no interface %s", ifname);
		char path[256];
		if (igmpv) {
			snprintf(path, sizeof(path), "/proc/sys/net/ipv4/conf/%s/force_igmp_version", ifname);
			write_sysctl(path, igmpv);
		}
		if (mldv) {
			snprintf(path, sizeof(path), "/proc/sys/net/ipv6/conf/%s/force_mld_version", ifname);
			write_sysctl(path, mldv);
		}
	}
	sock4 = udp_socket(AF_INET, (uint16_t)port);
	sock6 = udp_socket(AF_INET6, (uint16_t)port);
	setsockopt(sock4, IPPROTO_IP, IP_PKTINFO, &one, sizeof(one));
	setsockopt(sock6, IPPROTO_IPV6, IPV6_RECVPKTINFO, &one, sizeof(one));
	if (ctlport) {
		int zero = 0;
		ctl = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
		if (ctl < 0)
			die("socket: %s", strerror(errno));
		setsockopt(ctl, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
		struct sockaddr_in6 s6 = {.sin6_family = AF_INET6, .sin6_port = htons((uint16_t)ctlport)};
		if (bind(ctl, (struct sockaddr *)&s6, sizeof(s6)) < 0)
			die("bind control port %u: %s", ctlport, strerror(errno));
	}

	for (int i = optind; i < argc; i++) {
		if (ngroups == MAX_GROUPS)
			die("too many groups");
		if (group_spec_parse(argv[i], &groups[ngroups]) < 0)
			die("bad group %s", argv[i]);
		int rc = group_op(&groups[ngroups], 1);
		if (rc < 0)
			fprintf(stderr, "mcjoin: join %s: %s\n", argv[i], strerror(-rc));
		ngroups++;
	}
	printf("%smcjoin ready port %u ctl %u groups %d\n", prefix, port, ctlport, ngroups);
	fflush(stdout);

	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	uint64_t next = now_ms() + 1000;
	while (!stop) {
		struct pollfd p[3] = {
			{.fd = sock4, .events = POLLIN},
			{.fd = sock6, .events = POLLIN},
			{.fd = ctl, .events = POLLIN},
		};
		uint64_t t = now_ms();
		int tmo = t >= next ? 0 : (int)(next - t);
		if (poll(p, ctl >= 0 ? 3 : 2, tmo) < 0 && errno != EINTR)
			die("poll: %s", strerror(errno));
		if (p[0].revents & POLLIN)
			for (int k = 0; k < 64; k++) rx_one(sock4);
		if (p[1].revents & POLLIN)
			for (int k = 0; k < 64; k++) rx_one(sock6);
		if (ctl >= 0 && (p[2].revents & POLLIN))
			ctl_one(ctl);
		t = now_ms();
		if (t >= next) {
			for (int i = 0; i < ngroups; i++)
				if (groups[i].count != groups[i].printed)
					print_group(&groups[i]);
			fflush(stdout);
			next = t + 1000;
		}
	}
	for (int i = 0; i < ngroups; i++)
		if (groups[i].count)
			print_group(&groups[i]);
	fflush(stdout);
	return 0;
}

/* ------------------------------------------------------------------ */
/* send mode */

static int cmd_send(int argc, char **argv)
{
	int opt, ttl = 1, verbose = 0;
	size_t size = 64;
	const char *ifn = NULL;
	struct addr grp;

	while ((opt = getopt(argc, argv, "i:t:s:v")) != -1) {
		switch (opt) {
		case 'i': ifn = optarg; break;
		case 't': ttl = atoi(optarg); break;
		case 's': size = (size_t)atoi(optarg); break;
		case 'v': verbose = 1; break;
		default: goto usage;
		}
	}
	if (argc - optind != 4)
		goto usage;
	if (addr_parse(argv[optind], &grp) < 0)
		die("bad group %s", argv[optind]);
	unsigned port = (unsigned)atoi(argv[optind + 1]);
	double rate = atof(argv[optind + 2]);
	uint64_t count = strtoull(argv[optind + 3], NULL, 10);
	if (!port || port > 65535 || rate <= 0)
		goto usage;
	if (size < HDR_LEN)
		size = HDR_LEN;
	if (size > 1400)
		size = 1400;

	int fd = socket(grp.family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	int zero = 0, idx = 0;
	if (fd < 0)
		die("socket: %s", strerror(errno));
	if (ifn) {
		idx = (int)if_nametoindex(ifn);
		if (!idx)
			die("no interface %s", ifn);
	}
	if (grp.family == AF_INET) {
		if (idx) {
			struct ip_mreqn m = {.imr_ifindex = idx};
			if (setsockopt(fd, IPPROTO_IP, IP_MULTICAST_IF, &m, sizeof(m)) < 0)
				die("IP_MULTICAST_IF: %s", strerror(errno));
		}
		setsockopt(fd, IPPROTO_IP, IP_MULTICAST_TTL, &ttl, sizeof(ttl));
		setsockopt(fd, IPPROTO_IP, IP_MULTICAST_LOOP, &zero, sizeof(zero));
	} else {
		if (idx && setsockopt(fd, IPPROTO_IPV6, IPV6_MULTICAST_IF, &idx, sizeof(idx)) < 0)
			die("IPV6_MULTICAST_IF: %s", strerror(errno));
		setsockopt(fd, IPPROTO_IPV6, IPV6_MULTICAST_HOPS, &ttl, sizeof(ttl));
		setsockopt(fd, IPPROTO_IPV6, IPV6_MULTICAST_LOOP, &zero, sizeof(zero));
	}

	struct sockaddr_storage to;
	socklen_t tolen;
	addr_ss(&grp, (uint16_t)port, &to, &tolen);
	char name[INET6_ADDRSTRLEN];
	inet_ntop(grp.family, &grp.u, name, sizeof(name));

	unsigned char buf[1400];
	memset(buf, 0, sizeof(buf));
	memcpy(buf, MAGIC, 4);
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	uint32_t stream = (uint32_t)getpid() ^ (uint32_t)ts.tv_nsec ^ (uint32_t)ts.tv_sec << 12;
	buf[4] = (unsigned char)(stream >> 24);
	buf[5] = (unsigned char)(stream >> 16);
	buf[6] = (unsigned char)(stream >> 8);
	buf[7] = (unsigned char)stream;

	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	setvbuf(stdout, NULL, _IOLBF, 0);

	uint64_t sent = 0, errors = 0, seq = 0;
	uint64_t period_ns = (uint64_t)(1e9 / rate);
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	uint64_t start_ns = (uint64_t)t0.tv_sec * 1000000000ull + (uint64_t)t0.tv_nsec;
	uint64_t next_print = now_ms() + 1000;
	int last_err = 0;

	while (!stop && (count == 0 || seq < count)) {
		seq++;
		be64put(buf + 8, seq);
		clock_gettime(CLOCK_MONOTONIC, &ts);
		be64put(buf + 16, (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000);
		if (sendto(fd, buf, size, 0, (struct sockaddr *)&to, tolen) < 0) {
			errors++;
			if (errno != last_err) {
				fprintf(stderr, "mcjoin: send seq %" PRIu64 ": %s\n", seq, strerror(errno));
				last_err = errno;
			}
		} else {
			sent++;
		}
		if (verbose && now_ms() >= next_print) {
			printf("mcjoin: sent %" PRIu64 " to %s port %u errors %" PRIu64 "\n", sent, name, port, errors);
			next_print += 1000;
		}
		uint64_t due = start_ns + seq * period_ns;
		struct timespec d = {.tv_sec = (time_t)(due / 1000000000ull), .tv_nsec = (long)(due % 1000000000ull)};
		while (!stop && clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &d, NULL) == EINTR)
			;
	}
	printf("mcjoin: sent %" PRIu64 " to %s port %u errors %" PRIu64 " last-seq %" PRIu64 "\n",
	       sent, name, port, errors, seq);
	return 0;
usage:
	die("usage: mcjoin send [-i IF] [-t TTL] [-s SIZE] [-v] GROUP PORT RATE COUNT");
	return 2;
}

/* ------------------------------------------------------------------ */
/* ctl mode */

static int cmd_ctl(int argc, char **argv)
{
	struct addr a;
	char msg[512] = "", buf[4096];
	size_t o = 0;

	if (argc < 4)
		die("usage: mcjoin ctl ADDR PORT COMMAND...");
	if (addr_parse(argv[1], &a) < 0)
		die("bad address %s", argv[1]);
	for (int i = 3; i < argc; i++) {
		int n = snprintf(msg + o, sizeof(msg) - o, "%s%s", i > 3 ? " " : "", argv[i]);
		if (n < 0 || (size_t)n >= sizeof(msg) - o)
			die("command too long");
		o += (size_t)n;
	}
	struct sockaddr_storage to;
	socklen_t tolen;
	addr_ss(&a, (uint16_t)atoi(argv[2]), &to, &tolen);
	int fd = socket(a.family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&to, tolen) < 0)
		die("connect: %s", strerror(errno));
	for (int attempt = 0; attempt < 5; attempt++) {
		if (send(fd, msg, strlen(msg), 0) < 0) {
			/* ICMP port unreachable from an earlier try, or no route yet */
			usleep(200000);
			continue;
		}
		struct pollfd p = {.fd = fd, .events = POLLIN};
		if (poll(&p, 1, 1000) > 0) {
			ssize_t n = recv(fd, buf, sizeof(buf) - 1, 0);
			if (n >= 0) {
				buf[n] = 0;
				puts(buf);
				return strncmp(buf, "ok", 2) == 0 ? 0 : 1;
			}
		}
	}
	fprintf(stderr, "mcjoin: no answer from %s port %s\n", argv[1], argv[2]);
	return 1;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc < 2)
		goto usage;
	if (!strcmp(argv[1], "join"))
		return cmd_join(argc - 1, argv + 1);
	if (!strcmp(argv[1], "send"))
		return cmd_send(argc - 1, argv + 1);
	if (!strcmp(argv[1], "ctl"))
		return cmd_ctl(argc - 1, argv + 1);
usage:
	fprintf(stderr,
		"usage: mcjoin join [-i IF] [-p PORT] [-c CTLPORT] [-4 V] [-6 V] [-P PREFIX] GROUP[@SRC]...\n"
		"       mcjoin send [-i IF] [-t TTL] [-s SIZE] [-v] GROUP PORT RATE COUNT\n"
		"       mcjoin ctl ADDR PORT COMMAND...\n");
	return 2;
}
