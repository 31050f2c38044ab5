/* ECP22 transmit and receive state machines, IEEE 802.1Qbg-2012 clause 43.3.
 *
 * Transmit (43.3.6) is stop-and-wait.  The machine has two states:
 *   IDLE      nothing queued, no timer;
 *   WAIT_ACK  the FIFO head is in flight with sequence number `seq`, the
 *             ack timer runs until `deadline_usec`.
 * Events (submit, ack, timer) decide the transition; the entry action of
 * WAIT_ACK (ecp_tx_enter_wait_ack) is the only place that fills in a send
 * and arms the timer, and the entry action of IDLE the only place that
 * cancels it.
 *
 * Each new ULPDU takes the next sequence number (wrapping 65535 -> 0);
 * retransmissions reuse it.  A ULPDU that was given up still consumed its
 * number, and so does one dropped by vsm_ecp_tx_reset(): the peer may have
 * delivered it, and would take a new ULPDU with the same number for a
 * duplicate (43.3.7).
 *
 * lldpad (qbg/ecp22.c) counts transmissions the same way: with R = 3 it
 * sends a request 4 times, 10 us * 2^RTE apart, before giving up.
 *
 * Receive (43.3.7) keeps only the last sequence number delivered.
 */
#include "sm/ecp.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

typedef enum EcpTxState {
        ECP_TX_IDLE,
        ECP_TX_WAIT_ACK,
        ECP_TX_PACING,               /* queued, waiting out min_gap_usec */
} EcpTxState;

typedef struct EcpTxSlot {
        uint64_t cookie;
        size_t len;
        uint8_t data[VSM_ECP_ULPDU_MAX];
} EcpTxSlot;

struct VsmEcpTx {
        VsmEcpTxConfig cfg;
        EcpTxState state;
        uint16_t next_seq;           /* for the next ULPDU that goes out */

        /* FIFO ring; slots[head] is the one in flight in WAIT_ACK. */
        size_t head;
        size_t count;
        EcpTxSlot slots[VSM_ECP_TX_QUEUE_MAX];

        /* In flight (WAIT_ACK only). */
        uint16_t seq;
        unsigned tries;
        uint64_t deadline_usec;

        /* First transmission of the latest ULPDU (pacing). */
        bool have_last_tx;
        uint64_t last_first_tx_usec;
};

/* now + delta, saturating, and never 0 (0 means "no timer"). */
static uint64_t deadline_after(uint64_t now_usec, uint64_t delta_usec) {
        uint64_t d = delta_usec > UINT64_MAX - now_usec ? UINT64_MAX : now_usec + delta_usec;

        return d == 0 ? 1 : d;
}

static void ecp_tx_result_clear(VsmEcpTxResult *ret) {
        memset(ret, 0, sizeof(*ret));
}

/* Every result carries the machine's current deadline, so the caller can
 * always re-arm (or cancel) its timer from the last result it got. */
static void ecp_tx_result_finish(const VsmEcpTx *tx, VsmEcpTxResult *ret) {
        ret->deadline_usec = tx->state != ECP_TX_IDLE ? tx->deadline_usec : 0;
}

/* Entry action of WAIT_ACK: (re)transmit the FIFO head and arm the timer. */
static void ecp_tx_enter_wait_ack(VsmEcpTx *tx, bool retry, uint64_t now_usec, VsmEcpTxResult *ret) {
        const EcpTxSlot *slot = &tx->slots[tx->head];

        assert(tx->count > 0);

        if (!retry) {
                tx->seq = tx->next_seq++;
                tx->tries = 0;
                tx->last_first_tx_usec = now_usec;
                tx->have_last_tx = true;
        }
        tx->tries++;
        tx->state = ECP_TX_WAIT_ACK;
        tx->deadline_usec = deadline_after(now_usec, tx->cfg.ack_timeout_usec);

        ret->send = true;
        ret->seq = tx->seq;
        ret->pdu = slot->data;
        ret->pdu_len = slot->len;
        ret->is_retry = retry;
}

/* Entry action of PACING: the timer is the end of the gap. */
static void ecp_tx_enter_pacing(VsmEcpTx *tx, uint64_t until_usec) {
        tx->state = ECP_TX_PACING;
        tx->tries = 0;
        tx->deadline_usec = until_usec == 0 ? 1 : until_usec;
}

/* The head of a non-empty FIFO goes out now, or after the pacing gap. */
static void ecp_tx_start_next(VsmEcpTx *tx, uint64_t now_usec, VsmEcpTxResult *ret) {
        uint64_t until;

        if (tx->cfg.min_gap_usec > 0 && tx->have_last_tx) {
                until = deadline_after(tx->last_first_tx_usec, tx->cfg.min_gap_usec);
                if (now_usec < until) {
                        ecp_tx_enter_pacing(tx, until);
                        return;
                }
        }
        ecp_tx_enter_wait_ack(tx, false, now_usec, ret);
}

/* Entry action of IDLE: no timer. */
static void ecp_tx_enter_idle(VsmEcpTx *tx) {
        tx->state = ECP_TX_IDLE;
        tx->tries = 0;
        tx->deadline_usec = 0;
}

/* The ULPDU in flight leaves the machine (acked or given up); report it and
 * go on with the next one, if any. */
static void ecp_tx_complete_head(VsmEcpTx *tx, bool acked, uint64_t now_usec, VsmEcpTxResult *ret) {
        const EcpTxSlot *slot = &tx->slots[tx->head];

        ret->completed = true;
        ret->cookie = slot->cookie;
        ret->acked = acked;
        ret->tries = tx->tries;

        tx->head = (tx->head + 1) % VSM_ECP_TX_QUEUE_MAX;
        tx->count--;

        if (tx->count > 0)
                ecp_tx_start_next(tx, now_usec, ret);
        else
                ecp_tx_enter_idle(tx);
}

/* Creates a transmit machine; NULL when out of memory.  The first ULPDU is
 * sent with first_seq. */
VsmEcpTx *vsm_ecp_tx_new(const VsmEcpTxConfig *cfg, uint16_t first_seq) {
        VsmEcpTx *tx;

        assert(cfg);

        tx = calloc(1, sizeof(*tx));
        if (!tx)
                return NULL;
        tx->cfg = *cfg;
        tx->next_seq = first_seq;
        ecp_tx_enter_idle(tx);
        return tx;
}

/* Frees the machine and everything queued (not reported); accepts NULL and
 * returns NULL. */
VsmEcpTx *vsm_ecp_tx_free(VsmEcpTx *tx) {
        free(tx);
        return NULL;
}

/* Replaces the retry count and ack timeout.  The timer already armed keeps
 * its deadline; the new timeout applies from the next (re)transmission and
 * the new retry count from the next expiry. */
void vsm_ecp_tx_set_config(VsmEcpTx *tx, const VsmEcpTxConfig *cfg) {
        assert(tx);
        assert(cfg);

        tx->cfg = *cfg;
}

/* Queues a ULPDU; sends it at once when idle.  -EMSGSIZE above
 * VSM_ECP_ULPDU_MAX, -ENOBUFS when VSM_ECP_TX_QUEUE_MAX are queued
 * (counting the one in flight), -EINVAL for a NULL pdu with len > 0.  *ret
 * is always filled; on error it says nothing to do and carries the
 * unchanged deadline. */
int vsm_ecp_tx_submit(VsmEcpTx *tx, uint64_t cookie, const uint8_t *pdu, size_t len,
                      uint64_t now_usec, VsmEcpTxResult *ret) {
        EcpTxSlot *slot;
        int r = 0;

        assert(tx);
        assert(ret);

        ecp_tx_result_clear(ret);

        if (!pdu && len > 0)
                r = -EINVAL;
        else if (len > VSM_ECP_ULPDU_MAX)
                r = -EMSGSIZE;
        else if (tx->count >= VSM_ECP_TX_QUEUE_MAX)
                r = -ENOBUFS;
        if (r < 0) {
                ecp_tx_result_finish(tx, ret);
                return r;
        }

        slot = &tx->slots[(tx->head + tx->count) % VSM_ECP_TX_QUEUE_MAX];
        slot->cookie = cookie;
        slot->len = len;
        if (len > 0)
                memcpy(slot->data, pdu, len);
        tx->count++;

        switch (tx->state) {
        case ECP_TX_IDLE:
                ecp_tx_start_next(tx, now_usec, ret);
                break;
        case ECP_TX_WAIT_ACK:
        case ECP_TX_PACING:
                break;   /* waits its turn */
        }

        ecp_tx_result_finish(tx, ret);
        return 0;
}

/* An ACK arrived.  If it matches the request in flight, that ULPDU is
 * completed (acked) and the next queued one is sent.  Otherwise -ESTALE
 * and nothing to do (a late ACK for a retry of an earlier ULPDU, or
 * garbage). */
int vsm_ecp_tx_on_ack(VsmEcpTx *tx, uint16_t seq, uint64_t now_usec, VsmEcpTxResult *ret) {
        int r = 0;

        assert(tx);
        assert(ret);

        ecp_tx_result_clear(ret);

        switch (tx->state) {
        case ECP_TX_IDLE:
        case ECP_TX_PACING:
                r = -ESTALE;
                break;
        case ECP_TX_WAIT_ACK:
                if (seq != tx->seq)
                        r = -ESTALE;
                else
                        ecp_tx_complete_head(tx, true, now_usec, ret);
                break;
        }

        ecp_tx_result_finish(tx, ret);
        return r;
}

/* The timer fired.  Before the deadline (a spurious or early wake-up) or
 * with nothing in flight this does nothing.  Otherwise the request is
 * resent if fewer than max_retries resends were made, else it is completed
 * with acked == false and the next queued ULPDU goes out. */
void vsm_ecp_tx_on_timer(VsmEcpTx *tx, uint64_t now_usec, VsmEcpTxResult *ret) {
        assert(tx);
        assert(ret);

        ecp_tx_result_clear(ret);

        switch (tx->state) {
        case ECP_TX_IDLE:
                break;
        case ECP_TX_PACING:
                if (now_usec >= tx->deadline_usec)
                        ecp_tx_enter_wait_ack(tx, false, now_usec, ret);
                break;
        case ECP_TX_WAIT_ACK:
                if (now_usec < tx->deadline_usec)
                        break;
                if (tx->tries <= tx->cfg.max_retries)
                        ecp_tx_enter_wait_ack(tx, true, now_usec, ret);
                else
                        ecp_tx_complete_head(tx, false, now_usec, ret);
                break;
        }

        ecp_tx_result_finish(tx, ret);
}

/* Drops everything queued and in flight without reporting it.  The
 * sequence number is not rewound. */
void vsm_ecp_tx_reset(VsmEcpTx *tx) {
        assert(tx);

        tx->head = 0;
        tx->count = 0;
        ecp_tx_enter_idle(tx);
}

/* Number of ULPDUs queued, including the one in flight. */
size_t vsm_ecp_tx_queued(const VsmEcpTx *tx) {
        assert(tx);

        return tx->count;
}

/* Resets the receive machine: the next request is always new. */
void vsm_ecp_rx_init(VsmEcpRx *rx) {
        assert(rx);

        memset(rx, 0, sizeof(*rx));
}

/* A request with seq arrived; the caller ACKs it whatever this returns.
 * True when it differs from the last one delivered (the first request
 * after init is always new), false for a retransmission. */
bool vsm_ecp_rx_accept(VsmEcpRx *rx, uint16_t seq) {
        assert(rx);

        if (rx->have_last && rx->last_seq == seq) {
                rx->n_duplicates++;
                return false;
        }

        rx->have_last = true;
        rx->last_seq = seq;
        rx->n_delivered++;
        return true;
}
