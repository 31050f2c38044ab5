/* vsm_packet_send_batch (io/packet.c): sendmmsg(2) over a socketpair()
 * seam (AF_UNIX datagrams keep frame boundaries like AF_PACKET): every
 * frame out in order, per-frame errors for a refused frame in the middle,
 * a partial send when the peer's queue fills (EAGAIN for the rest), and a
 * dead fd. */
#include <errno.h>
#include <glib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "io/packet.h"
#include "test-util.h"

#define FRAMES 300

typedef struct {
        int fd[2];
        uint8_t data[FRAMES][64];
        struct iovec iov[FRAMES];
        int errors[FRAMES];
} Pair;

static void pair_init(Pair *p) {
        g_assert_cmpint(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, p->fd), ==, 0);
        for (int i = 0; i < FRAMES; i++) {
                memset(p->data[i], i & 0xff, sizeof(p->data[i]));
                p->data[i][0] = (uint8_t) (i >> 8);
                p->iov[i].iov_base = p->data[i];
                p->iov[i].iov_len = 20 + (size_t) (i % 40);
                p->errors[i] = 12345;
        }
}

static void pair_close(Pair *p) {
        close(p->fd[0]);
        close(p->fd[1]);
}

/* Reads what arrived; checks it is frames want[0..n) in order. */
static guint drain_check(Pair *p, const int *want, guint n) {
        uint8_t buf[256];
        guint got = 0;
        ssize_t r;

        while ((r = recv(p->fd[1], buf, sizeof(buf), MSG_DONTWAIT)) >= 0) {
                g_assert_cmpuint(got, <, n);
                g_assert_cmpint(r, ==, (ssize_t) p->iov[want[got]].iov_len);
                g_assert_cmpmem(buf, (size_t) r, p->iov[want[got]].iov_base, p->iov[want[got]].iov_len);
                got++;
        }
        return got;
}

static void test_all(void) {
        Pair p;
        int want[FRAMES];
        guint got = 0;
        size_t sent = 0;

        pair_init(&p);
        for (int i = 0; i < FRAMES; i++)
                want[i] = i;
        /* In slices the peer's queue holds (net.unix.max_dgram_qlen). */
        for (int off = 0; off < FRAMES; off += 5) {
                sent += vsm_packet_send_batch(p.fd[0], &p.iov[off], 5, &p.errors[off]);
                got += drain_check(&p, &want[got], FRAMES - got);
        }
        g_assert_cmpuint(sent, ==, FRAMES);
        g_assert_cmpuint(got, ==, FRAMES);
        for (int i = 0; i < FRAMES; i++)
                g_assert_cmpint(p.errors[i], ==, 0);
        pair_close(&p);
}

/* A frame the kernel refuses (larger than the socket's send buffer:
 * EMSGSIZE) is said for that frame alone; the ones after it still go. */
static void test_refused_middle(void) {
        static uint8_t huge[256 * 1024];
        Pair p;
        const int want[] = { 0, 1, 3, 4 };

        pair_init(&p);
        g_assert_cmpint(setsockopt(p.fd[0], SOL_SOCKET, SO_SNDBUF, &(int) { 4096 }, sizeof(int)), ==, 0);
        p.iov[2].iov_base = huge;
        p.iov[2].iov_len = sizeof(huge);
        g_assert_cmpuint(vsm_packet_send_batch(p.fd[0], p.iov, 5, p.errors), ==, 4);
        g_assert_cmpint(p.errors[0], ==, 0);
        g_assert_cmpint(p.errors[1], ==, 0);
        g_assert_cmpint(p.errors[2], ==, -EMSGSIZE);
        g_assert_cmpint(p.errors[3], ==, 0);
        g_assert_cmpint(p.errors[4], ==, 0);
        g_assert_cmpuint(drain_check(&p, want, G_N_ELEMENTS(want)), ==, 4);
        pair_close(&p);
}

/* The peer's queue fills part-way: sendmmsg sends fewer than asked, and
 * every frame after that gets -EAGAIN; what went is what arrives. */
static void test_partial(void) {
        Pair p;
        int want[FRAMES];
        size_t sent;
        guint n_again = 0;

        pair_init(&p);
        for (int i = 0; i < FRAMES; i++)
                want[i] = i;
        sent = vsm_packet_send_batch(p.fd[0], p.iov, FRAMES, p.errors);
        g_assert_cmpuint(sent, >, 0);
        g_assert_cmpuint(sent, <, FRAMES);
        for (size_t i = 0; i < FRAMES; i++) {
                if (i < sent) {
                        g_assert_cmpint(p.errors[i], ==, 0);
                } else {
                        g_assert_cmpint(p.errors[i], ==, -EAGAIN);
                        n_again++;
                }
        }
        g_assert_cmpuint(n_again, ==, FRAMES - sent);
        g_assert_cmpuint(drain_check(&p, want, (guint) sent), ==, sent);
        pair_close(&p);
}

static void test_bad_fd(void) {
        Pair p;

        pair_init(&p);
        g_assert_cmpuint(vsm_packet_send_batch(-1, p.iov, 3, p.errors), ==, 0);
        for (int i = 0; i < 3; i++)
                g_assert_cmpint(p.errors[i], ==, -EBADF);
        g_assert_cmpuint(vsm_packet_send_batch(p.fd[0], p.iov, 0, p.errors), ==, 0);
        pair_close(&p);
}

int main(int argc, char **argv) {
        g_test_init(&argc, &argv, NULL);
        g_test_add_func("/io-packet/all", test_all);
        g_test_add_func("/io-packet/refused-middle", test_refused_middle);
        g_test_add_func("/io-packet/partial", test_partial);
        g_test_add_func("/io-packet/bad-fd", test_bad_fd);
        return g_test_run();
}
