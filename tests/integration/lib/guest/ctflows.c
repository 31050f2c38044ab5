/* ctflows - the test guest's long-lived flows for the conntrack carry test
 * (tests/integration/test-conntrack.sh, issue 11, DESIGN.md section 4
 * "Conntrack").
 *
 * Usage: ctflows PORT
 *
 * Listens on TCP PORT (the guest's one allowed inbound port).  Every
 * connection to it starts with one line:
 *
 *   "stream TAG\n"   flow 2: an inbound TCP flow streaming both ways: the
 *                    guest reads what the peer streams and sends back
 *                    "TAG SEQ\n" padded to 64 octets per 256 octets it got
 *                    (the peer sends 256 every 10 ms).
 *   "open TAG WHAT SPORT\n"
 *                    control: open flows toward the peer's address
 *                    (WHAT: comma list) and answer "ok\n":
 *                      down   flow 1: TCP to SPORT+0, sends "TAG down\n",
 *                             then only receives (the kernel ACKs)
 *                      udp    flow 3: UDP to SPORT+2, sends "sub TAG" once;
 *                             the server pushes "TAG SEQ" every 10 ms;
 *                             each datagram received is reported as
 *                             "r TAG SEQ" to SPORT+4 from another socket
 *                             (a different 5-tuple: the reports never
 *                             touch the pushed flow's conntrack entry)
 *                      probe  one UDP datagram "probe TAG" to SPORT+6 (no
 *                             answer: an UNREPLIED entry) and one to
 *                             SPORT+8 (SNATed on the source host)
 *   "close TAG\n"    close every flow opened with TAG; answer "ok\n".
 *
 * The guest never sends on a pushed flow again after "sub" (no
 * keep-alive): that is the receive-only case a stateful firewall stalls.
 * Prints "VSMGUEST: ctflows ..." lines on stdout (the console).  Static,
 * libc only, one poll loop, hard caps on everything.
 *
 * No timers at all: poll() never times out, the guest sends only in
 * answer to what it receives.  A task sleeping in poll() with a timeout
 * keeps an hrtimer on its stack; a TCG guest (QEMU 7.2 here) that did so
 * every 10 ms panicked after some live migrations with that hrtimer's
 * function pointer garbage (the stack page's last write lost in the
 * migration), in 2 of 3 runs of test-conntrack.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAXF 64
#define TAGLEN 16

enum kind { K_FREE, K_CTL, K_STREAM, K_DOWN, K_UDP };

struct flow {
	enum kind kind;
	int fd;
	char tag[TAGLEN];
	char line[128];
	size_t used;
	unsigned long seq, rx;
	struct sockaddr_in peer;
};

static struct flow flows[MAXF];
static int report_fd = -1;

static struct flow *slot(void) {
	for (int i = 0; i < MAXF; i++)
		if (flows[i].kind == K_FREE)
			return &flows[i];
	return NULL;
}

static void drop(struct flow *f) {
	if (f->fd >= 0)
		close(f->fd);
	memset(f, 0, sizeof(*f));
	f->fd = -1;
	f->kind = K_FREE;
}

static void say(const char *what, const char *tag, const char *more) {
	printf("VSMGUEST: ctflows %s %s %s\n", what, tag, more ? more : "");
	fflush(stdout);
}

static int valid_tag(const char *t) {
	size_t n = strlen(t);
	if (n == 0 || n >= TAGLEN)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!((t[i] >= 'a' && t[i] <= 'z') || (t[i] >= '0' && t[i] <= '9') || t[i] == '-'))
			return 0;
	return 1;
}

static int open_flow(enum kind k, const char *tag, struct in_addr addr, int port) {
	struct flow *f = slot();
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr = addr, .sin_port = htons(port) };
	char buf[64];
	int fd;
	if (!f)
		return -1;
	fd = socket(AF_INET, k == K_DOWN ? SOCK_STREAM : SOCK_DGRAM, 0);
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		close(fd);
		return -1;
	}
	if (k == K_DOWN)
		snprintf(buf, sizeof(buf), "%s down\n", tag);
	else
		snprintf(buf, sizeof(buf), "sub %s", tag);
	if (send(fd, buf, strlen(buf), 0) < 0) {
		close(fd);
		return -1;
	}
	fcntl(fd, F_SETFL, O_NONBLOCK);
	memset(f, 0, sizeof(*f));
	f->kind = k;
	f->fd = fd;
	f->peer = sa;
	snprintf(f->tag, sizeof(f->tag), "%s", tag);
	return 0;
}

static void probe(const char *tag, struct in_addr addr, int port) {
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr = addr, .sin_port = htons(port) };
	char buf[64];
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	if (fd < 0)
		return;
	snprintf(buf, sizeof(buf), "probe %s", tag);
	sendto(fd, buf, strlen(buf), 0, (struct sockaddr *)&sa, sizeof(sa));
	close(fd);
}

/* One control or stream line from connection f. */
static void line(struct flow *f) {
	char cmd[16] = "", tag[TAGLEN + 8] = "", what[64] = "", ans[64];
	int sport = 0, n;
	n = sscanf(f->line, "%15s %23s %63s %d", cmd, tag, what, &sport);
	if (n < 2 || !valid_tag(tag)) {
		drop(f);
		return;
	}
	if (strcmp(cmd, "stream") == 0) {
		f->kind = K_STREAM;
		snprintf(f->tag, sizeof(f->tag), "%s", tag);
		int one = 1;
		setsockopt(f->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		say("stream", tag, NULL);
		return;
	}
	if (strcmp(cmd, "close") == 0) {
		for (int i = 0; i < MAXF; i++)
			if (flows[i].kind != K_FREE && flows[i].kind != K_CTL && strcmp(flows[i].tag, tag) == 0)
				drop(&flows[i]);
		say("closed", tag, NULL);
		send(f->fd, "ok\n", 3, MSG_NOSIGNAL);
		drop(f);
		return;
	}
	if (strcmp(cmd, "open") != 0 || n != 4 || sport < 1 || sport > 65526) {
		drop(f);
		return;
	}
	int bad = 0;
	char *save = NULL;
	for (char *w = strtok_r(what, ",", &save); w; w = strtok_r(NULL, ",", &save)) {
		if (strcmp(w, "down") == 0)
			bad |= open_flow(K_DOWN, tag, f->peer.sin_addr, sport) < 0;
		else if (strcmp(w, "udp") == 0)
			bad |= open_flow(K_UDP, tag, f->peer.sin_addr, sport + 2) < 0;
		else if (strcmp(w, "probe") == 0) {
			probe(tag, f->peer.sin_addr, sport + 6);
			probe(tag, f->peer.sin_addr, sport + 8);
		} else
			bad = 1;
	}
	if (report_fd < 0) {
		struct sockaddr_in ra = { .sin_family = AF_INET, .sin_addr = f->peer.sin_addr,
					  .sin_port = htons(sport + 4) };
		report_fd = socket(AF_INET, SOCK_DGRAM, 0);
		if (report_fd >= 0 && connect(report_fd, (struct sockaddr *)&ra, sizeof(ra)) < 0) {
			close(report_fd);
			report_fd = -1;
		}
	}
	snprintf(ans, sizeof(ans), bad ? "error\n" : "ok\n");
	say("open", tag, bad ? "error" : "ok");
	send(f->fd, ans, strlen(ans), MSG_NOSIGNAL);
	drop(f);
}

int main(int argc, char **argv) {
	struct sockaddr_in sa = { .sin_family = AF_INET };
	struct pollfd pfd[MAXF + 1];
	int lfd, one = 1, port;
	if (argc != 2 || (port = atoi(argv[1])) <= 0 || port > 65535) {
		fprintf(stderr, "usage: ctflows PORT\n");
		return 2;
	}
	for (int i = 0; i < MAXF; i++)
		drop(&flows[i]);
	lfd = socket(AF_INET, SOCK_STREAM, 0);
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	sa.sin_port = htons(port);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(lfd, 16) < 0) {
		perror("ctflows: listen");
		return 1;
	}
	printf("VSMGUEST: ctflows listening %d\n", port);
	fflush(stdout);
	for (;;) {
		int n = 0, map[MAXF + 1];
		pfd[n].fd = lfd, pfd[n].events = POLLIN, map[n++] = -1;
		for (int i = 0; i < MAXF; i++)
			if (flows[i].kind != K_FREE)
				pfd[n].fd = flows[i].fd, pfd[n].events = POLLIN, map[n++] = i;
		int r = poll(pfd, n, -1);
		if (r < 0 && errno != EINTR)
			return 1;
		if (r <= 0)
			continue;
		for (int j = 0; j < n; j++) {
			if (!(pfd[j].revents & (POLLIN | POLLERR | POLLHUP)))
				continue;
			if (map[j] < 0) {
				struct sockaddr_in peer;
				socklen_t pl = sizeof(peer);
				int cfd = accept(lfd, (struct sockaddr *)&peer, &pl);
				struct flow *f = slot();
				if (cfd < 0)
					continue;
				if (!f) {
					close(cfd);
					continue;
				}
				fcntl(cfd, F_SETFL, O_NONBLOCK);
				memset(f, 0, sizeof(*f));
				f->kind = K_CTL, f->fd = cfd, f->peer = peer;
				continue;
			}
			struct flow *f = &flows[map[j]];
			char buf[4096];
			ssize_t got;
			if (f->kind == K_FREE)
				continue;
			if (f->kind == K_UDP) {
				while ((got = recv(f->fd, buf, sizeof(buf) - 1, 0)) > 0) {
					char rep[64], t[TAGLEN + 8];
					unsigned long seq;
					buf[got] = 0;
					f->rx++;
					if (sscanf(buf, "%23s %lu", t, &seq) == 2 && report_fd >= 0) {
						snprintf(rep, sizeof(rep), "r %s %lu", f->tag, seq);
						send(report_fd, rep, strlen(rep), MSG_DONTWAIT);
					}
				}
				continue;
			}
			got = recv(f->fd, buf, sizeof(buf), 0);
			if (got == 0 || (got < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) {
				if (f->kind != K_CTL)
					say("eof", f->tag, got == 0 ? "closed" : strerror(errno));
				drop(f);
				continue;
			}
			if (got < 0)
				continue;
			f->rx += (unsigned long)got;
			if (f->kind == K_STREAM) {
				/* One 64-octet record back per 256 octets received. */
				while (f->rx >= 256) {
					char rec[64];
					f->rx -= 256;
					memset(rec, ' ', sizeof(rec));
					int k = snprintf(rec, sizeof(rec), "%s %lu", f->tag, f->seq);
					rec[k] = ' ';
					rec[63] = '\n';
					/* Never block: a stalled flow just stops growing. */
					if (send(f->fd, rec, sizeof(rec), MSG_DONTWAIT | MSG_NOSIGNAL) == (ssize_t)sizeof(rec))
						f->seq++;
					else if (errno != EAGAIN && errno != EWOULDBLOCK) {
						say("stream-error", f->tag, strerror(errno));
						drop(f);
						break;
					}
				}
				continue;
			}
			if (f->kind != K_CTL)
				continue;
			for (ssize_t i = 0; i < got && f->kind == K_CTL; i++) {
				if (buf[i] == '\n') {
					f->line[f->used] = 0;
					f->used = 0;
					line(f);
					/* A stream keeps its connection: the rest is data. */
				} else if (f->used + 1 < sizeof(f->line)) {
					f->line[f->used++] = buf[i];
				} else {
					drop(f);
				}
			}
		}
	}
}
