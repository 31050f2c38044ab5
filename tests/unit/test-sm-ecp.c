/* Unit tests for the ECP22 transmit/receive state machines (src/sm/ecp.c),
 * IEEE 802.1Qbg-2012 clause 43.3, on a fake clock. */
#include <errno.h>
#include <glib.h>
#include <string.h>

#include "sm/ecp.h"
#include "test-util.h"

/* lldpad's station advertises R = 3, RTE = 8: 10 us * 2^8 = 2560 us. */
#define LLDPAD_R 3
#define LLDPAD_RTE 8
#define T0 UINT64_C(1000000)

static VsmEcpTxConfig cfg_from_evb(unsigned r, unsigned rte) {
        return (VsmEcpTxConfig) {
                .max_retries = r,
                .ack_timeout_usec = UINT64_C(10) << rte,
        };
}

static void assert_nothing(const VsmEcpTxResult *res) {
        g_assert_false(res->send);
        g_assert_false(res->completed);
}

/* Submit a one-octet ULPDU {v} with cookie v. */
static int submit_byte(VsmEcpTx *tx, uint8_t v, uint64_t now, VsmEcpTxResult *res) {
        return vsm_ecp_tx_submit(tx, v, &v, 1, now, res);
}

static void test_free_null(void) {
        g_assert_null(vsm_ecp_tx_free(NULL));
}

/* Each new ULPDU takes the next number, wrapping 65535 -> 0; acks take
 * the machine back to idle with no timer. */
static void test_seq_progression(void) {
        static const struct {
                uint16_t first;
                unsigned n;
        } cases[] = {
                { 0, 4 },
                { 100, 3 },
                { 65533, 6 },   /* 65533 65534 65535 0 1 2 */
                { 65535, 2 },
        };

        for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
                VsmEcpTxConfig cfg = cfg_from_evb(LLDPAD_R, LLDPAD_RTE);
                VsmEcpTx *tx = vsm_ecp_tx_new(&cfg, cases[i].first);
                uint64_t now = T0;
                uint16_t want = cases[i].first;

                g_assert_nonnull(tx);
                for (unsigned k = 0; k < cases[i].n; k++, want++) {
                        VsmEcpTxResult res;

                        g_assert_cmpint(submit_byte(tx, (uint8_t) k, now, &res), ==, 0);
                        g_assert_true(res.send);
                        g_assert_false(res.is_retry);
                        g_assert_cmpuint(res.seq, ==, want);
                        g_assert_cmpuint(res.deadline_usec, ==, now + 2560);

                        now += 100;
                        g_assert_cmpint(vsm_ecp_tx_on_ack(tx, want, now, &res), ==, 0);
                        g_assert_true(res.completed);
                        g_assert_true(res.acked);
                        g_assert_cmpuint(res.cookie, ==, k);
                        g_assert_cmpuint(res.tries, ==, 1);
                        g_assert_false(res.send);
                        g_assert_cmpuint(res.deadline_usec, ==, 0);
                        g_assert_cmpuint(vsm_ecp_tx_queued(tx), ==, 0);
                }
                g_assert_cmpuint(want, ==, (uint16_t) (cases[i].first + cases[i].n));
                vsm_ecp_tx_free(tx);
        }
}

/* ULPDUs queued behind the one in flight go out in FIFO order, each when
 * the previous one is acked, with the next sequence number. */
static void test_queue_order(void) {
        VsmEcpTxConfig cfg = cfg_from_evb(LLDPAD_R, LLDPAD_RTE);
        VsmEcpTx *tx = vsm_ecp_tx_new(&cfg, 7);
        VsmEcpTxResult res;
        uint64_t now = T0;
        uint8_t buf[3];

        for (uint8_t k = 0; k < 5; k++) {
                buf[0] = k;
                buf[1] = 0xa0 | k;
                buf[2] = 0x55;
                g_assert_cmpint(vsm_ecp_tx_submit(tx, 1000 + k, buf, sizeof(buf), now, &res), ==, 0);
                g_assert_cmpuint(vsm_ecp_tx_queued(tx), ==, k + 1u);
                if (k == 0) {
                        g_assert_true(res.send);
                        g_assert_cmpuint(res.seq, ==, 7);
                        vsm_assert_hex(res.pdu, res.pdu_len, "00a055");
                } else {
                        /* Busy: queued, nothing to do, timer unchanged. */
                        assert_nothing(&res);
                        g_assert_cmpuint(res.deadline_usec, ==, T0 + 2560);
                }
        }
        /* The caller's buffer is copied. */
        memset(buf, 0xff, sizeof(buf));

        for (uint8_t k = 0; k < 5; k++) {
                now += 500;
                g_assert_cmpint(vsm_ecp_tx_on_ack(tx, (uint16_t) (7 + k), now, &res), ==, 0);
                g_assert_true(res.completed);
                g_assert_true(res.acked);
                g_assert_cmpuint(res.cookie, ==, 1000u + k);
                if (k < 4) {
                        uint8_t want[3] = { k + 1, 0xa0 | (k + 1), 0x55 };
                        g_autofree char *hex = vsm_test_to_hex(want, sizeof(want));

                        g_assert_true(res.send);
                        g_assert_false(res.is_retry);
                        g_assert_cmpuint(res.seq, ==, 8u + k);
                        vsm_assert_hex(res.pdu, res.pdu_len, hex);
                        g_assert_cmpuint(res.deadline_usec, ==, now + 2560);
                } else {
                        g_assert_false(res.send);
                        g_assert_cmpuint(res.deadline_usec, ==, 0);
                }
                g_assert_cmpuint(vsm_ecp_tx_queued(tx), ==, 4u - k);
        }
        vsm_ecp_tx_free(tx);
}

/* Retransmission count and timing, then give-up with acked == false. */
static void test_retry_timing(void) {
        static const struct {
                unsigned r, rte;
                uint64_t timeout;
        } cases[] = {
                { LLDPAD_R, LLDPAD_RTE, 2560 },  /* lldpad: 4 sends, 2.56 ms apart */
                { 0, 8, 2560 },                  /* one try only */
                { 7, 0, 10 },                    /* 3-bit R maximum */
                { 1, 14, 163840 },
        };

        for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
                VsmEcpTxConfig cfg = cfg_from_evb(cases[i].r, cases[i].rte);
                VsmEcpTx *tx = vsm_ecp_tx_new(&cfg, 42);
                VsmEcpTxResult res;
                uint64_t sent = T0;

                g_assert_cmpuint(cfg.ack_timeout_usec, ==, cases[i].timeout);
                g_assert_cmpint(submit_byte(tx, 9, T0, &res), ==, 0);
                g_assert_true(res.send);
                g_assert_cmpuint(res.deadline_usec, ==, T0 + cases[i].timeout);

                for (unsigned k = 1; k <= cases[i].r; k++) {
                        /* Early or spurious wake-ups do nothing. */
                        vsm_ecp_tx_on_timer(tx, sent + cases[i].timeout - 1, &res);
                        assert_nothing(&res);
                        g_assert_cmpuint(res.deadline_usec, ==, sent + cases[i].timeout);

                        sent += cases[i].timeout;
                        vsm_ecp_tx_on_timer(tx, sent, &res);
                        g_assert_true(res.send);
                        g_assert_true(res.is_retry);
                        g_assert_false(res.completed);
                        g_assert_cmpuint(res.seq, ==, 42);
                        vsm_assert_hex(res.pdu, res.pdu_len, "09");
                        g_assert_cmpuint(res.deadline_usec, ==, sent + cases[i].timeout);
                }

                sent += cases[i].timeout;
                vsm_ecp_tx_on_timer(tx, sent, &res);
                g_assert_false(res.send);
                g_assert_true(res.completed);
                g_assert_false(res.acked);
                g_assert_cmpuint(res.cookie, ==, 9);
                g_assert_cmpuint(res.tries, ==, cases[i].r + 1);
                g_assert_cmpuint(res.deadline_usec, ==, 0);
                g_assert_cmpuint(sent - T0, ==, (cases[i].r + 1) * cases[i].timeout);
                g_assert_cmpuint(vsm_ecp_tx_queued(tx), ==, 0);

                /* Nothing in flight: timer does nothing. */
                vsm_ecp_tx_on_timer(tx, sent + 1000000, &res);
                assert_nothing(&res);
                g_assert_cmpuint(res.deadline_usec, ==, 0);
                vsm_ecp_tx_free(tx);
        }
}

/* A late timer call resends late and re-arms from the actual send time. */
static void test_retry_late_timer(void) {
        VsmEcpTxConfig cfg = cfg_from_evb(LLDPAD_R, LLDPAD_RTE);
        VsmEcpTx *tx = vsm_ecp_tx_new(&cfg, 0);
        VsmEcpTxResult res;

        submit_byte(tx, 1, T0, &res);
        vsm_ecp_tx_on_timer(tx, T0 + 9000, &res);
        g_assert_true(res.send);
        g_assert_true(res.is_retry);
        g_assert_cmpuint(res.deadline_usec, ==, T0 + 9000 + 2560);
        /* The ack of the retransmission completes it with two tries. */
        g_assert_cmpint(vsm_ecp_tx_on_ack(tx, 0, T0 + 9100, &res), ==, 0);
        g_assert_true(res.completed);
        g_assert_true(res.acked);
        g_assert_cmpuint(res.tries, ==, 2);
        vsm_ecp_tx_free(tx);
}

/* After the give-up, the next queued ULPDU goes out in the same result
 * with the next sequence number, and a late ack for the old one is stale. */
static void test_give_up_then_next(void) {
        VsmEcpTxConfig cfg = cfg_from_evb(LLDPAD_R, LLDPAD_RTE);
        VsmEcpTx *tx = vsm_ecp_tx_new(&cfg, 65535);
        VsmEcpTxResult res;
        uint64_t now = T0;

        submit_byte(tx, 1, now, &res);
        g_assert_cmpuint(res.seq, ==, 65535);
        submit_byte(tx, 2, now, &res);
        assert_nothing(&res);

        for (unsigned k = 0; k < LLDPAD_R; k++) {
                now += 2560;
                vsm_ecp_tx_on_timer(tx, now, &res);
                g_assert_true(res.is_retry);
        }
        now += 2560;
        vsm_ecp_tx_on_timer(tx, now, &res);
        g_assert_true(res.completed);
        g_assert_false(res.acked);
        g_assert_cmpuint(res.cookie, ==, 1);
        g_assert_cmpuint(res.tries, ==, 4);
        g_assert_true(res.send);
        g_assert_false(res.is_retry);
        g_assert_cmpuint(res.seq, ==, 0);
        vsm_assert_hex(res.pdu, res.pdu_len, "02");
        g_assert_cmpuint(res.deadline_usec, ==, now + 2560);

        g_assert_cmpint(vsm_ecp_tx_on_ack(tx, 65535, now + 10, &res), ==, -ESTALE);
        assert_nothing(&res);
        g_assert_cmpuint(res.deadline_usec, ==, now + 2560);

        g_assert_cmpint(vsm_ecp_tx_on_ack(tx, 0, now + 20, &res), ==, 0);
        g_assert_true(res.acked);
        g_assert_cmpuint(res.cookie, ==, 2);
        vsm_ecp_tx_free(tx);
}

static void test_stale_ack(void) {
        VsmEcpTxConfig cfg = cfg_from_evb(LLDPAD_R, LLDPAD_RTE);
        VsmEcpTx *tx = vsm_ecp_tx_new(&cfg, 10);
        VsmEcpTxResult res;
        static const uint16_t wrong[] = { 9, 11, 0, 65535, 10 + 256 };

        /* Idle: every ack is stale. */
        g_assert_cmpint(vsm_ecp_tx_on_ack(tx, 10, T0, &res), ==, -ESTALE);
        assert_nothing(&res);
        g_assert_cmpuint(res.deadline_usec, ==, 0);

        submit_byte(tx, 1, T0, &res);
        for (size_t i = 0; i < G_N_ELEMENTS(wrong); i++) {
                g_assert_cmpint(vsm_ecp_tx_on_ack(tx, wrong[i], T0 + 5, &res), ==, -ESTALE);
                assert_nothing(&res);
                g_assert_cmpuint(res.deadline_usec, ==, T0 + 2560);
                g_assert_cmpuint(vsm_ecp_tx_queued(tx), ==, 1);
        }
        g_assert_cmpint(vsm_ecp_tx_on_ack(tx, 10, T0 + 6, &res), ==, 0);
        g_assert_true(res.acked);
        /* A duplicated ack of the same request is stale too. */
        g_assert_cmpint(vsm_ecp_tx_on_ack(tx, 10, T0 + 7, &res), ==, -ESTALE);
        assert_nothing(&res);
        vsm_ecp_tx_free(tx);
}

static void test_queue_full(void) {
        VsmEcpTxConfig cfg = cfg_from_evb(LLDPAD_R, LLDPAD_RTE);
        VsmEcpTx *tx = vsm_ecp_tx_new(&cfg, 0);
        VsmEcpTxResult res;

        for (unsigned k = 0; k < VSM_ECP_TX_QUEUE_MAX; k++)
                g_assert_cmpint(submit_byte(tx, (uint8_t) k, T0, &res), ==, 0);
        g_assert_cmpuint(vsm_ecp_tx_queued(tx), ==, VSM_ECP_TX_QUEUE_MAX);

        g_assert_cmpint(submit_byte(tx, 0xee, T0, &res), ==, -ENOBUFS);
        assert_nothing(&res);
        g_assert_cmpuint(res.deadline_usec, ==, T0 + 2560);
        g_assert_cmpuint(vsm_ecp_tx_queued(tx), ==, VSM_ECP_TX_QUEUE_MAX);

        /* One completes, one more fits, and the ring wraps correctly. */
        g_assert_cmpint(vsm_ecp_tx_on_ack(tx, 0, T0 + 1, &res), ==, 0);
        g_assert_cmpint(submit_byte(tx, 0xee, T0 + 2, &res), ==, 0);
        for (unsigned k = 1; k <= VSM_ECP_TX_QUEUE_MAX; k++) {
                g_assert_cmpint(vsm_ecp_tx_on_ack(tx, (uint16_t) k, T0 + 10 + k, &res), ==, 0);
                g_assert_cmpuint(res.cookie, ==, k < VSM_ECP_TX_QUEUE_MAX ? k : 0xee);
        }
        g_assert_cmpuint(vsm_ecp_tx_queued(tx), ==, 0);
        vsm_ecp_tx_free(tx);
}

static void test_sizes(void) {
        VsmEcpTxConfig cfg = cfg_from_evb(LLDPAD_R, LLDPAD_RTE);
        VsmEcpTx *tx = vsm_ecp_tx_new(&cfg, 0);
        g_autofree uint8_t *big = g_malloc0(VSM_ECP_ULPDU_MAX + 1);
        VsmEcpTxResult res;

        big[VSM_ECP_ULPDU_MAX - 1] = 0x77;
        g_assert_cmpint(vsm_ecp_tx_submit(tx, 1, big, VSM_ECP_ULPDU_MAX + 1, T0, &res), ==, -EMSGSIZE);
        assert_nothing(&res);
        g_assert_cmpuint(res.deadline_usec, ==, 0);
        g_assert_cmpint(vsm_ecp_tx_submit(tx, 2, big, SIZE_MAX, T0, &res), ==, -EMSGSIZE);
        g_assert_cmpint(vsm_ecp_tx_submit(tx, 3, NULL, 4, T0, &res), ==, -EINVAL);
        g_assert_cmpuint(vsm_ecp_tx_queued(tx), ==, 0);

        g_assert_cmpint(vsm_ecp_tx_submit(tx, 4, big, VSM_ECP_ULPDU_MAX, T0, &res), ==, 0);
        g_assert_true(res.send);
        g_assert_cmpuint(res.pdu_len, ==, VSM_ECP_ULPDU_MAX);
        g_assert_cmpuint(res.pdu[VSM_ECP_ULPDU_MAX - 1], ==, 0x77);

        /* An empty ULPDU is legal and queues behind. */
        g_assert_cmpint(vsm_ecp_tx_submit(tx, 5, NULL, 0, T0, &res), ==, 0);
        g_assert_cmpint(vsm_ecp_tx_on_ack(tx, 0, T0 + 1, &res), ==, 0);
        g_assert_true(res.send);
        g_assert_cmpuint(res.pdu_len, ==, 0);
        vsm_ecp_tx_free(tx);
}

/* reset drops everything silently and does not rewind the sequence. */
static void test_reset(void) {
        VsmEcpTxConfig cfg = cfg_from_evb(LLDPAD_R, LLDPAD_RTE);
        VsmEcpTx *tx = vsm_ecp_tx_new(&cfg, 500);
        VsmEcpTxResult res;

        submit_byte(tx, 1, T0, &res);
        submit_byte(tx, 2, T0, &res);
        submit_byte(tx, 3, T0, &res);
        vsm_ecp_tx_reset(tx);
        g_assert_cmpuint(vsm_ecp_tx_queued(tx), ==, 0);

        vsm_ecp_tx_on_timer(tx, T0 + 2560, &res);
        assert_nothing(&res);
        g_assert_cmpuint(res.deadline_usec, ==, 0);
        g_assert_cmpint(vsm_ecp_tx_on_ack(tx, 500, T0 + 2561, &res), ==, -ESTALE);

        submit_byte(tx, 4, T0 + 3000, &res);
        g_assert_true(res.send);
        g_assert_cmpuint(res.seq, ==, 501);
        g_assert_cmpuint(res.deadline_usec, ==, T0 + 3000 + 2560);
        vsm_ecp_tx_free(tx);
}

/* A new config applies from the next (re)transmission. */
static void test_set_config(void) {
        VsmEcpTxConfig cfg = cfg_from_evb(LLDPAD_R, LLDPAD_RTE);
        VsmEcpTxConfig cfg2 = cfg_from_evb(1, 10);
        VsmEcpTx *tx = vsm_ecp_tx_new(&cfg, 0);
        VsmEcpTxResult res;

        submit_byte(tx, 1, T0, &res);
        vsm_ecp_tx_set_config(tx, &cfg2);
        vsm_ecp_tx_on_timer(tx, T0 + 2559, &res);
        assert_nothing(&res);
        vsm_ecp_tx_on_timer(tx, T0 + 2560, &res);
        g_assert_true(res.is_retry);
        g_assert_cmpuint(res.deadline_usec, ==, T0 + 2560 + 10240);
        /* max_retries is now 1: the second expiry gives up. */
        vsm_ecp_tx_on_timer(tx, T0 + 2560 + 10240, &res);
        g_assert_true(res.completed);
        g_assert_false(res.acked);
        g_assert_cmpuint(res.tries, ==, 2);
        vsm_ecp_tx_free(tx);
}

/* Receive: duplicate detection by "same as the last delivered". */
static void test_rx_duplicates(void) {
        static const struct {
                const char *name;
                uint16_t seq[8];
                bool want[8];
                size_t n;
        } cases[] = {
                { "first-is-new", { 0 }, { true }, 1 },
                { "retransmissions", { 5, 5, 5, 6, 6, 7 }, { true, false, false, true, false, true }, 6 },
                { "wrap", { 65534, 65535, 65535, 0, 0, 1 }, { true, true, false, true, false, true }, 6 },
                { "wrap-dup-of-zero", { 65535, 0, 0, 0, 1 }, { true, true, false, false, true }, 5 },
                /* A peer restart or lost frames jump the number: new. */
                { "jumps", { 10, 3000, 2, 2, 10 }, { true, true, true, false, true }, 5 },
                /* Only the last one counts, not a window. */
                { "abab", { 1, 2, 1, 2 }, { true, true, true, true }, 4 },
        };

        for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
                VsmEcpRx rx;
                uint64_t delivered = 0, dups = 0;

                vsm_ecp_rx_init(&rx);
                for (size_t k = 0; k < cases[i].n; k++) {
                        bool got = vsm_ecp_rx_accept(&rx, cases[i].seq[k]);

                        if (got != cases[i].want[k])
                                g_error("%s: seq[%zu]=%u: got %d", cases[i].name, k, cases[i].seq[k], got);
                        if (got)
                                delivered++;
                        else
                                dups++;
                }
                g_assert_cmpuint(rx.n_delivered, ==, delivered);
                g_assert_cmpuint(rx.n_duplicates, ==, dups);
                g_assert_true(rx.have_last);
                g_assert_cmpuint(rx.last_seq, ==, cases[i].seq[cases[i].n - 1]);
        }
}

/* Full 16-bit cycle on both ends: the receiver delivers every one once. */
static void test_tx_rx_cycle(void) {
        VsmEcpTxConfig cfg = cfg_from_evb(LLDPAD_R, LLDPAD_RTE);
        VsmEcpTx *tx = vsm_ecp_tx_new(&cfg, 65000);
        VsmEcpRx rx;
        uint64_t now = T0;

        vsm_ecp_rx_init(&rx);
        for (unsigned k = 0; k < 70000; k++) {
                VsmEcpTxResult res;

                g_assert_cmpint(submit_byte(tx, (uint8_t) k, now, &res), ==, 0);
                g_assert_true(res.send);
                g_assert_true(vsm_ecp_rx_accept(&rx, res.seq));
                /* Every 7th ack is lost: the resend is a duplicate. */
                if (k % 7 == 0) {
                        uint16_t seq = res.seq;

                        now += 2560;
                        vsm_ecp_tx_on_timer(tx, now, &res);
                        g_assert_true(res.is_retry);
                        g_assert_cmpuint(res.seq, ==, seq);
                        g_assert_false(vsm_ecp_rx_accept(&rx, res.seq));
                }
                now += 50;
                g_assert_cmpint(vsm_ecp_tx_on_ack(tx, res.seq, now, &res), ==, 0);
                g_assert_true(res.acked);
        }
        g_assert_cmpuint(rx.n_delivered, ==, 70000);
        g_assert_cmpuint(rx.n_duplicates, ==, 10000);
        vsm_ecp_tx_free(tx);
}

/* Pacing: a second ULPDU acked at once still waits out min_gap_usec after
 * the first one's first transmission; an idle machine past the gap sends
 * at once.  lldpad's bridge loses a ULPDU that arrives within ~2 ms of the
 * previous one (it reads ECP input from one slot on a 2 ms timer). */
static void test_tx_pacing(void) {
        VsmEcpTxConfig cfg = { .max_retries = 3, .ack_timeout_usec = 2560, .min_gap_usec = 3000 };
        VsmEcpTx *tx = vsm_ecp_tx_new(&cfg, 100);
        VsmEcpTxResult r;
        uint8_t pdu[4] = { 1, 2, 3, 4 };

        g_assert_cmpint(vsm_ecp_tx_submit(tx, 1, pdu, sizeof(pdu), 1000, &r), ==, 0);
        g_assert_true(r.send);
        g_assert_cmpuint(r.seq, ==, 100);
        g_assert_cmpint(vsm_ecp_tx_submit(tx, 2, pdu, sizeof(pdu), 1100, &r), ==, 0);
        g_assert_false(r.send);
        /* ACK at 1300: the next may not go before 4000 */
        g_assert_cmpint(vsm_ecp_tx_on_ack(tx, 100, 1300, &r), ==, 0);
        g_assert_true(r.completed && r.acked);
        g_assert_cmpuint(r.cookie, ==, 1);
        g_assert_false(r.send);
        g_assert_cmpuint(r.deadline_usec, ==, 4000);
        /* an ACK while pacing is stale */
        g_assert_cmpint(vsm_ecp_tx_on_ack(tx, 101, 2000, &r), ==, -ESTALE);
        vsm_ecp_tx_on_timer(tx, 3999, &r);
        g_assert_false(r.send);
        g_assert_cmpuint(r.deadline_usec, ==, 4000);
        vsm_ecp_tx_on_timer(tx, 4000, &r);
        g_assert_true(r.send);
        g_assert_false(r.is_retry);
        g_assert_cmpuint(r.seq, ==, 101);
        g_assert_cmpuint(r.deadline_usec, ==, 4000 + 2560);
        g_assert_cmpint(vsm_ecp_tx_on_ack(tx, 101, 4200, &r), ==, 0);
        g_assert_cmpuint(r.deadline_usec, ==, 0);
        /* idle and past the gap: at once */
        g_assert_cmpint(vsm_ecp_tx_submit(tx, 3, pdu, sizeof(pdu), 7001, &r), ==, 0);
        g_assert_true(r.send);
        g_assert_cmpuint(r.seq, ==, 102);
        /* idle but within the gap: paced */
        g_assert_cmpint(vsm_ecp_tx_on_ack(tx, 102, 7100, &r), ==, 0);
        g_assert_cmpint(vsm_ecp_tx_submit(tx, 4, pdu, sizeof(pdu), 8000, &r), ==, 0);
        g_assert_false(r.send);
        g_assert_cmpuint(r.deadline_usec, ==, 10001);
        vsm_ecp_tx_free(tx);
}

int main(int argc, char **argv) {
        g_test_init(&argc, &argv, NULL);

        g_test_add_func("/sm/ecp/free-null", test_free_null);
        g_test_add_func("/sm/ecp/tx/seq-progression", test_seq_progression);
        g_test_add_func("/sm/ecp/tx/queue-order", test_queue_order);
        g_test_add_func("/sm/ecp/tx/retry-timing", test_retry_timing);
        g_test_add_func("/sm/ecp/tx/retry-late-timer", test_retry_late_timer);
        g_test_add_func("/sm/ecp/tx/give-up-then-next", test_give_up_then_next);
        g_test_add_func("/sm/ecp/tx/stale-ack", test_stale_ack);
        g_test_add_func("/sm/ecp/tx/queue-full", test_queue_full);
        g_test_add_func("/sm/ecp/tx/sizes", test_sizes);
        g_test_add_func("/sm/ecp/tx/reset", test_reset);
        g_test_add_func("/sm/ecp/tx/set-config", test_set_config);
        g_test_add_func("/sm/ecp/rx/duplicates", test_rx_duplicates);
        g_test_add_func("/sm/ecp/tx-rx-cycle", test_tx_rx_cycle);
        g_test_add_func("/ecp/tx/pacing", test_tx_pacing);

        return g_test_run();
}
