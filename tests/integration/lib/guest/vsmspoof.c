/* vsmspoof - the hostile test guest's claims (tests/integration/
 * test-provenance.sh, DESIGN.md section 7 "Address provenance").
 *
 * Usage: vsmspoof IFACE COUNT INTERVAL_MS ADDR...
 *
 * Sends, COUNT times every INTERVAL_MS, from IFACE's MAC on IFACE, for
 * every ADDR: an IPv4 ARP Announcement (RFC 5227 section 3: a broadcast
 * ARP request with sender and target IP = ADDR, sender MAC = IFACE's) or
 * an unsolicited IPv6 Neighbor Advertisement with Override (RFC 4861
 * section 7.2.6: to ff02::1, source and target ADDR, target link-layer
 * address = IFACE's MAC, hop limit 255).  That is, it claims ADDR for the
 * VM whatever the addresses configured, with AF_PACKET (busybox arping
 * cannot claim an address it does not have; busybox has no NA sender).
 * Static, no library but libc.  Exit 0 once all was sent, 1 on error.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static uint16_t sum_fold(uint32_t s) {
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)~s;
}

static uint32_t sum_add(uint32_t s, const uint8_t *p, size_t n) {
	for (size_t i = 0; i + 1 < n; i += 2)
		s += (uint32_t)(p[i] << 8 | p[i + 1]);
	if (n & 1)
		s += (uint32_t)(p[n - 1] << 8);
	return s;
}

static size_t garp(uint8_t *f, const uint8_t mac[6], const uint8_t ip[4]) {
	memset(f, 0, 60);
	memset(f, 0xff, 6);
	memcpy(f + 6, mac, 6);
	f[12] = 0x08, f[13] = 0x06;
	f[14] = 0, f[15] = 1;         /* Ethernet */
	f[16] = 0x08, f[17] = 0x00;   /* IPv4 */
	f[18] = 6, f[19] = 4;
	f[20] = 0, f[21] = 1;         /* request */
	memcpy(f + 22, mac, 6);
	memcpy(f + 28, ip, 4);
	memcpy(f + 38, ip, 4);        /* target IP = sender IP, target MAC 0 */
	return 60;
}

static size_t una(uint8_t *f, const uint8_t mac[6], const uint8_t ip[16]) {
	static const uint8_t all_nodes[16] = { 0xff, 0x02, [15] = 1 };
	uint8_t *ip6 = f + 14, *icmp = f + 54;
	uint32_t s = 0;
	size_t icmp_len = 32;         /* 24 + one 8-octet TLLA option */

	memset(f, 0, 14 + 40 + icmp_len);
	f[0] = 0x33, f[1] = 0x33, f[5] = 1;
	memcpy(f + 6, mac, 6);
	f[12] = 0x86, f[13] = 0xdd;
	ip6[0] = 0x60;
	ip6[4] = 0, ip6[5] = (uint8_t)icmp_len;
	ip6[6] = 58;
	ip6[7] = 255;
	memcpy(ip6 + 8, ip, 16);
	memcpy(ip6 + 24, all_nodes, 16);
	icmp[0] = 136;
	icmp[4] = 0x20;               /* Override */
	memcpy(icmp + 8, ip, 16);
	icmp[24] = 2, icmp[25] = 1;   /* target link-layer address */
	memcpy(icmp + 26, mac, 6);
	s = sum_add(s, ip6 + 8, 32);
	s += (uint32_t)icmp_len + 58;
	s = sum_add(s, icmp, icmp_len);
	icmp[2] = (uint8_t)(sum_fold(s) >> 8);
	icmp[3] = (uint8_t)sum_fold(s);
	return 14 + 40 + icmp_len;
}

int main(int argc, char **argv) {
	struct sockaddr_ll sll = { .sll_family = AF_PACKET, .sll_halen = 6 };
	struct ifreq ifr = { 0 };
	uint8_t mac[6], frame[128];
	long count, interval;
	int fd;

	if (argc < 5) {
		fprintf(stderr, "usage: vsmspoof IFACE COUNT INTERVAL_MS ADDR...\n");
		return 1;
	}
	count = strtol(argv[2], NULL, 10);
	interval = strtol(argv[3], NULL, 10);
	fd = socket(AF_PACKET, SOCK_RAW, 0);
	if (fd < 0 || strlen(argv[1]) >= IFNAMSIZ) {
		perror("vsmspoof: socket");
		return 1;
	}
	strcpy(ifr.ifr_name, argv[1]);
	/* ifr_hwaddr and ifr_ifindex share a union: one at a time. */
	if (ioctl(fd, SIOCGIFHWADDR, &ifr) < 0) {
		perror("vsmspoof: SIOCGIFHWADDR");
		return 1;
	}
	memcpy(mac, ifr.ifr_hwaddr.sa_data, 6);
	if (ioctl(fd, SIOCGIFINDEX, &ifr) < 0) {
		perror("vsmspoof: SIOCGIFINDEX");
		return 1;
	}
	sll.sll_ifindex = ifr.ifr_ifindex;
	for (long n = 0; n < count; n++) {
		for (int i = 4; i < argc; i++) {
			uint8_t a[16];
			size_t len;

			if (inet_pton(AF_INET, argv[i], a) == 1)
				len = garp(frame, mac, a);
			else if (inet_pton(AF_INET6, argv[i], a) == 1)
				len = una(frame, mac, a);
			else {
				fprintf(stderr, "vsmspoof: not an address: %s\n", argv[i]);
				return 1;
			}
			memcpy(sll.sll_addr, frame, 6);
			if (sendto(fd, frame, len, 0, (struct sockaddr *)&sll, sizeof(sll)) < 0) {
				perror("vsmspoof: sendto");
				return 1;
			}
		}
		if (n + 1 < count) {
			struct timespec ts = { interval / 1000, (interval % 1000) * 1000000L };
			nanosleep(&ts, NULL);
		}
	}
	return 0;
}
