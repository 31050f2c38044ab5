/* ECP22 transmit and receive state machines, IEEE 802.1Qbg-2012 clause 43.3.
 *
 * Pure: no I/O, no clock, no logging.  Every call takes the current time in
 * microseconds and fills a VsmEcpTxResult telling the caller what to do.
 *
 * Transmit is stop-and-wait: one ULPDU in flight, resent after
 * ack_timeout_usec up to max_retries times, then reported failed.  Further
 * ULPDUs wait in a bounded FIFO (VSM_ECP_TX_QUEUE_MAX), and the next one
 * goes out no earlier than min_gap_usec after the previous one first did.
 * Receive acknowledges everything and delivers a ULPDU only when its
 * sequence number differs from the last one delivered (duplicate detection,
 * 43.3.7).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/ecp.h"

#define VSM_ECP_TX_QUEUE_MAX 64

typedef struct VsmEcpTxConfig {
        unsigned max_retries;        /* resends after the first try (R from EVB TLV) */
        uint64_t ack_timeout_usec;   /* from RTE: 10 us * 2^RTE */
        /* At least this long between the first transmissions of two
         * ULPDUs (0: none).  lldpad's bridge ACKs at once but reads ECP
         * input from a single slot 2 ms later, so a second ULPDU arriving
         * in that window overwrites the first: it is ACKed, never answered. */
        uint64_t min_gap_usec;
} VsmEcpTxConfig;

typedef struct VsmEcpTxResult {
        /* Transmit an ECP request with this seq carrying pdu[0..pdu_len). The
         * pointer is valid until the next call on this machine. */
        bool send;
        uint16_t seq;
        const uint8_t *pdu;
        size_t pdu_len;
        bool is_retry;

        /* The ULPDU identified by cookie left the machine: acked, or its
         * retries ran out (acked == false). */
        bool completed;
        uint64_t cookie;
        bool acked;
        unsigned tries;              /* transmissions it took */

        /* When to call vsm_ecp_tx_on_timer() next; 0 = no timer needed. */
        uint64_t deadline_usec;
} VsmEcpTxResult;

typedef struct VsmEcpTx VsmEcpTx;

/* first_seq: the sequence number of the first request (use a random one). */
VsmEcpTx *vsm_ecp_tx_new(const VsmEcpTxConfig *cfg, uint16_t first_seq);
VsmEcpTx *vsm_ecp_tx_free(VsmEcpTx *tx);
/* Applies to the next (re)transmission. */
void vsm_ecp_tx_set_config(VsmEcpTx *tx, const VsmEcpTxConfig *cfg);

/* Queue a ULPDU (len <= VSM_ECP_ULPDU_MAX; -EMSGSIZE otherwise; -ENOBUFS
 * when the queue is full).  If idle it is sent at once. */
int vsm_ecp_tx_submit(VsmEcpTx *tx, uint64_t cookie, const uint8_t *pdu, size_t len,
                      uint64_t now_usec, VsmEcpTxResult *ret);
/* An ACK with sequence seq arrived.  -ESTALE if it does not match the
 * request in flight (result then says nothing to do). */
int vsm_ecp_tx_on_ack(VsmEcpTx *tx, uint16_t seq, uint64_t now_usec, VsmEcpTxResult *ret);
/* The deadline passed: resend, or give up and move on to the next. */
void vsm_ecp_tx_on_timer(VsmEcpTx *tx, uint64_t now_usec, VsmEcpTxResult *ret);
/* Drop everything queued and in flight (e.g. the link went down); each
 * dropped ULPDU is NOT reported. */
void vsm_ecp_tx_reset(VsmEcpTx *tx);
size_t vsm_ecp_tx_queued(const VsmEcpTx *tx);   /* including the one in flight */

typedef struct VsmEcpRx {
        bool have_last;
        uint16_t last_seq;
        uint64_t n_delivered;
        uint64_t n_duplicates;
} VsmEcpRx;

void vsm_ecp_rx_init(VsmEcpRx *rx);
/* A request with seq arrived.  Always ACK it; returns true if the ULPDU is
 * new and should be processed, false for a duplicate. */
bool vsm_ecp_rx_accept(VsmEcpRx *rx, uint16_t seq);
