/* An uplink: packet socket, ECP22 (IEEE 802.1Qbg-2012 clause 43), LLDP
 * with the EVB TLV (802.1AB + 802.1Qbg D.2.13), and VDP22 dispatch to VSIs
 * (clause 41). */
#include "daemon/uplink.h"

#include <errno.h>
#include <glib-unix.h>
#include <string.h>
#include <unistd.h>

#include "daemon/log.h"
#include "io/packet.h"
#include "io/timer.h"
#include "proto/ecp.h"
#include "proto/eth.h"
#include "proto/vdp.h"
#include "sm/ecp.h"

#define UPLINK_RETRY_USEC (3 * G_USEC_PER_SEC)

typedef struct UplinkCounters {
        guint64 rx_frames;
        guint64 rx_bad;
        guint64 rx_ecp_requests;
        guint64 rx_ecp_duplicates;
        guint64 rx_ecp_acks;
        guint64 rx_lldp;
        guint64 tx_frames;
        guint64 tx_replay;             /* frames replayed on a VM's behalf */
        guint64 tx_errors;
        guint64 tx_ecp_requests;
        guint64 tx_ecp_retries;
        guint64 tx_ecp_failures;
        guint64 tx_lldp;
        guint64 vdp_unknown_vsi;
        guint64 rx_foreign;
        guint64 vdp_withdrawn;         /* superseded TLVs taken out of the unsent ULPDU */
        guint64 vdp_queued;            /* requests that waited for the one on the wire */
        guint64 vdp_bridge_deassoc;    /* bridge DE-ASSOCIATEs of VSIs not none */
        guint64 vdp_repairs;           /* re-ASSOCIATEs sent after one */
        guint64 vdp_repaired;          /* ... and answered ok */
} UplinkCounters;

struct VsmUplink {
        char *ifname;
        int ifindex;
        uint8_t mac[VSM_ETH_ALEN];
        int fd;
        guint io_id;
        gboolean fd_is_seam;
        char *down_reason;

        /* what we advertise */
        unsigned our_r, our_rte, our_rwd, our_rka;
        unsigned pacing_usec;
        unsigned lldp_interval_sec;
        unsigned max_vsis;

        VsmEcpTx *ecp_tx;
        VsmEcpRx ecp_rx;
        VsmTimer *ecp_timer;
        VsmTimer *lldp_timer;
        VsmTimer *retry_timer;

        /* what the bridge told us */
        gboolean peer_seen;
        VsmEvbTlv peer_evb;
        gint64 peer_seen_usec;
        uint8_t peer_mac[VSM_ETH_ALEN];
        char peer_chassis[64];
        VsmVdpTimers vdp_timers;

        /* VSI TLVs requested in the same main-loop iteration go out in one
         * ULPDU (one Manager ID TLV, then the VSI TLVs; lldpad answers each
         * separately): a switchover of several vNICs is not spread over
         * several ECP pacing gaps. */
        uint8_t staged_pdu[VSM_ECP_ULPDU_MAX];
        size_t staged_len;
        guint staged_n;
        uint8_t staged_mgr[VSM_VDP_MANAGER_ID_LEN];
        uint64_t staged_cookie;
        VsmTimer *flush_timer;

        GHashTable *vsis;              /* instance text -> VsmVsi (owned) */
        uint64_t next_serial;
        uint64_t next_cookie;

        UplinkCounters n;
        VsmRateLimit bad_rl;
};

#define UPLINK_BATCH_MAX 16

static void uplink_ecp_apply(VsmUplink *u, const VsmEcpTxResult *res);
static void uplink_flush(VsmUplink *u);
static void uplink_fail_cookie(VsmUplink *u, uint64_t cookie);

const char *vsm_uplink_get_name(const VsmUplink *u) {
        return u->ifname;
}

const uint8_t *vsm_uplink_get_mac(const VsmUplink *u) {
        return u->mac;
}

gboolean vsm_uplink_bridge_known(const VsmUplink *u) {
        return u->peer_seen;
}

gboolean vsm_uplink_is_up(const VsmUplink *u) {
        return u->fd >= 0;
}

const VsmVdpTimers *vsm_uplink_get_vdp_timers(const VsmUplink *u) {
        return &u->vdp_timers;
}

static void uplink_warn_bad(VsmUplink *u, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
static void uplink_warn_bad(VsmUplink *u, const char *fmt, ...) {
        g_autofree char *msg = NULL;
        va_list ap;

        u->n.rx_bad++;
        if (!vsm_ratelimit_test(&u->bad_rl))
                return;
        va_start(ap, fmt);
        msg = g_strdup_vprintf(fmt, ap);
        va_end(ap);
        vsm_log_if(G_LOG_LEVEL_WARNING, u->ifname, "%s: dropped frame: %s (%" G_GUINT64_FORMAT " bad so far)",
                   u->ifname, msg, u->n.rx_bad);
}

static int uplink_send_frame(VsmUplink *u, const uint8_t *frame, size_t len) {
        int r;

        if (u->fd < 0)
                return -ENETDOWN;
        r = vsm_packet_send(u->fd, frame, len);
        if (r < 0) {
                u->n.tx_errors++;
                return r;
        }
        u->n.tx_frames++;
        return 0;
}

/* ---- ECP ---- */

static gint64 now_usec(void) {
        return g_get_monotonic_time();
}

static void uplink_ecp_config(VsmUplink *u, VsmEcpTxConfig *ret) {
        unsigned r = u->our_r, rte = u->our_rte;

        /* The larger of both sides' values: never retry faster or fewer
         * times than either end asked for. */
        if (u->peer_seen) {
                r = MAX(r, u->peer_evb.r);
                rte = MAX(rte, u->peer_evb.rte);
        }
        ret->max_retries = r;
        ret->ack_timeout_usec = vsm_evb_exp_to_usec((uint8_t) MIN(rte, 25u));
        ret->min_gap_usec = u->pacing_usec;
}

static void uplink_on_ecp_timer(gpointer user_data) {
        VsmUplink *u = user_data;
        VsmEcpTxResult res = {};

        vsm_ecp_tx_on_timer(u->ecp_tx, (uint64_t) now_usec(), &res);
        uplink_ecp_apply(u, &res);
}

static int uplink_write_ecp(VsmUplink *u, uint8_t op, uint16_t seq, const uint8_t *pdu, size_t len) {
        uint8_t frame[VSM_ETH_FRAME_MAX];
        VsmWriter w;
        VsmEthHeader eh = { .ethertype = VSM_ETH_P_ECP };
        VsmEcpHeader h = { .version = VSM_ECP_VERSION, .op = op, .subtype = VSM_ECP_SUBTYPE_VDP, .seq = seq };

        memcpy(eh.dst, vsm_eth_addr_nearest_bridge, VSM_ETH_ALEN);
        memcpy(eh.src, u->mac, VSM_ETH_ALEN);
        vsm_writer_init(&w, frame, sizeof(frame));
        if (vsm_eth_header_write(&w, &eh) < 0 || vsm_ecp_header_write(&w, &h) < 0 ||
            vsm_writer_bytes(&w, pdu, len) < 0 || vsm_eth_pad(&w) < 0)
                return -EMSGSIZE;
        return uplink_send_frame(u, frame, w.len);
}

static void uplink_ecp_apply(VsmUplink *u, const VsmEcpTxResult *res) {
        if (res->send) {
                int r;

                if (res->is_retry)
                        u->n.tx_ecp_retries++;
                else
                        u->n.tx_ecp_requests++;
                r = uplink_write_ecp(u, VSM_ECP_OP_REQUEST, res->seq, res->pdu, res->pdu_len);
                if (r < 0 && vsm_ratelimit_test(&u->bad_rl))
                        vsm_log_if(G_LOG_LEVEL_WARNING, u->ifname, "%s: cannot send ECP request: %s",
                                   u->ifname, g_strerror(-r));
        }
        vsm_timer_arm(u->ecp_timer, (gint64) res->deadline_usec);

        if (res->completed && !res->acked) {
                u->n.tx_ecp_failures++;
                vsm_log_if(G_LOG_LEVEL_WARNING, u->ifname,
                           "%s: ECP request not acknowledged after %u tries, giving up", u->ifname, res->tries);
                /* Each VSI ignores cookies that are not its latest. */
                uplink_fail_cookie(u, res->cookie);
        }
        /* ECP went idle: what was collected meanwhile goes now. */
        if (res->completed && u->staged_n > 0 && vsm_ecp_tx_queued(u->ecp_tx) == 0)
                uplink_flush(u);
}


static void uplink_fail_cookie(VsmUplink *u, uint64_t cookie) {
        /* A copy (a report may change the table), in no particular order. */
        g_autoptr(GList) vsis = g_hash_table_get_values(u->vsis);

        for (GList *l = vsis; l; l = l->next)
                vsm_vsi_on_tx_failed(l->data, cookie);
}

/* Hand the staged ULPDU to ECP. */
static void uplink_flush(VsmUplink *u) {
        VsmEcpTxResult res = {};
        uint64_t cookie = u->staged_cookie;
        int r;

        vsm_timer_arm(u->flush_timer, 0);
        if (u->staged_n == 0)
                return;
        r = vsm_ecp_tx_submit(u->ecp_tx, cookie, u->staged_pdu, u->staged_len, (uint64_t) now_usec(), &res);
        u->staged_n = 0;
        u->staged_len = 0;
        if (r < 0) {
                vsm_log_if(G_LOG_LEVEL_WARNING, u->ifname, "%s: cannot queue a VDP ULPDU: %s", u->ifname,
                           g_strerror(-r));
                uplink_fail_cookie(u, cookie);
                return;
        }
        uplink_ecp_apply(u, &res);
}

/* The batch goes to ECP at the next loop iteration if ECP is idle; while
 * a ULPDU is in flight (ECP is stop-and-wait) it keeps collecting and goes
 * when ECP is done (uplink_ecp_apply), so a burst of requests (many
 * domains migrating at once) becomes few full ULPDUs, not a queue of small
 * ones that overflows. */
static void uplink_on_flush(gpointer user_data) {
        VsmUplink *u = user_data;

        if (vsm_ecp_tx_queued(u->ecp_tx) > 0 && u->staged_n < UPLINK_BATCH_MAX)
                return;
        uplink_flush(u);
}

void vsm_uplink_flush_vdp(VsmUplink *u) {
        /* Only if it can go on the wire now: behind a ULPDU in flight it
         * would only take a queue slot that a fuller batch can use. */
        if (vsm_ecp_tx_queued(u->ecp_tx) == 0)
                uplink_flush(u);
}

int vsm_uplink_send_raw(VsmUplink *u, const uint8_t *frame, size_t len) {
        int r = uplink_send_frame(u, frame, len);

        if (r == 0)
                u->n.tx_replay++;
        return r;
}

size_t vsm_uplink_send_raw_batch(VsmUplink *u, const struct iovec *frames, size_t n, int *ret_errors) {
        size_t sent;

        if (u->fd < 0) {
                for (size_t i = 0; i < n; i++)
                        ret_errors[i] = -ENETDOWN;
                return 0;
        }
        sent = vsm_packet_send_batch(u->fd, frames, n, ret_errors);
        u->n.tx_frames += sent;
        u->n.tx_replay += sent;
        u->n.tx_errors += n - sent;
        return sent;
}

int vsm_uplink_send_vdp(VsmUplink *u, const VsmVsiParams *p, VsmVdpRequest req, uint8_t status,
                        uint64_t *ret_cookie) {
        uint8_t tlv[256];
        VsmWriter w;
        g_autofree VsmVdpVsi *vsi = NULL;
        int r;

        if (u->fd < 0)
                return -ENETDOWN;
        vsi = g_new0(VsmVdpVsi, 1);
        vsi->request = req;
        vsi->status = status;
        vsi->type_id = p->type_id;
        vsi->type_version = p->type_version;
        vsi->vsiid_format = VSM_VDP_VSIID_UUID;
        memcpy(vsi->vsiid, p->instance, VSM_VDP_VSIID_LEN);
        vsi->filter_format = VSM_VDP_FILTER_MAC_VID;
        vsi->n_filters = 1;
        memcpy(vsi->filters[0].mac, p->mac, VSM_ETH_ALEN);
        vsi->filters[0].vid = p->vlan;
        vsm_writer_init(&w, tlv, sizeof(tlv));
        r = vsm_vdp_write_vsi(&w, vsi);
        if (r < 0)
                return r;

        if (u->staged_n > 0 &&
            (u->staged_n >= UPLINK_BATCH_MAX || w.len > sizeof(u->staged_pdu) - u->staged_len ||
             memcmp(u->staged_mgr, p->manager_id, VSM_VDP_MANAGER_ID_LEN) != 0))
                uplink_flush(u);
        if (u->staged_n == 0) {
                VsmWriter mw;

                vsm_writer_init(&mw, u->staged_pdu, sizeof(u->staged_pdu));
                r = vsm_vdp_write_manager_id(&mw, p->manager_id);
                if (r < 0)
                        return r;
                u->staged_len = mw.len;
                memcpy(u->staged_mgr, p->manager_id, VSM_VDP_MANAGER_ID_LEN);
                u->staged_cookie = ++u->next_cookie;
                /* Flush at the next main-loop iteration. */
                vsm_timer_arm(u->flush_timer, now_usec());
        }
        memcpy(u->staged_pdu + u->staged_len, tlv, w.len);
        u->staged_len += w.len;
        u->staged_n++;
        *ret_cookie = u->staged_cookie;
        return 0;
}

gboolean vsm_uplink_vdp_is_staged(const VsmUplink *u, uint64_t cookie) {
        return cookie != 0 && u->staged_n > 0 && cookie == u->staged_cookie;
}

void vsm_uplink_withdraw_vdp(VsmUplink *u, uint64_t cookie, const uint8_t instance[VSM_VDP_VSIID_LEN]) {
        size_t off = 0;

        if (!vsm_uplink_vdp_is_staged(u, cookie))
                return;
        /* The staged ULPDU is ours (Manager ID, then VSI TLVs as written by
         * vsm_vdp_write_vsi): walk the TLV headers, type:7 | length:9. */
        while (u->staged_len - off >= 2) {
                uint8_t type = u->staged_pdu[off] >> 1;
                size_t len = ((size_t) (u->staged_pdu[off] & 1) << 8) | u->staged_pdu[off + 1];
                size_t end;

                g_assert(len <= u->staged_len - off - 2);
                end = off + 2 + len;
                /* VSI TLV body: status(1) type ID(3) version(1) format(1) VSIID(16) */
                if (type >= VSM_VDP_TLV_PRE_ASSOCIATE && type <= VSM_VDP_TLV_DE_ASSOCIATE && len >= 6 + 16 &&
                    memcmp(u->staged_pdu + off + 2 + 6, instance, VSM_VDP_VSIID_LEN) == 0) {
                        memmove(u->staged_pdu + off, u->staged_pdu + end, u->staged_len - end);
                        u->staged_len -= end - off;
                        u->staged_n--;
                        u->n.vdp_withdrawn++;
                        continue;
                }
                off = end;
        }
        if (u->staged_n == 0) {
                u->staged_len = 0;
                vsm_timer_arm(u->flush_timer, 0);
        }
}

void vsm_uplink_count_vdp(VsmUplink *u, VsmUplinkVdpEvent ev) {
        switch (ev) {
        case VSM_UPLINK_VDP_QUEUED:
                u->n.vdp_queued++;
                break;
        case VSM_UPLINK_VDP_BRIDGE_DEASSOC:
                u->n.vdp_bridge_deassoc++;
                break;
        case VSM_UPLINK_VDP_REPAIR:
                u->n.vdp_repairs++;
                break;
        case VSM_UPLINK_VDP_REPAIRED:
                u->n.vdp_repaired++;
                break;
        case _VSM_UPLINK_VDP_EVENT_MAX:
                break;
        }
}

/* ---- LLDP ---- */

static void uplink_send_lldp(VsmUplink *u) {
        uint8_t frame[VSM_ETH_FRAME_MAX];
        VsmWriter w;
        VsmEthHeader eh = { .ethertype = VSM_ETH_P_LLDP };
        VsmLldpdu pdu = {
                .chassis_subtype = 4,       /* MAC address */
                .chassis_id_len = VSM_ETH_ALEN,
                .port_subtype = 5,          /* interface name */
                .ttl = (uint16_t) MIN(4u * u->lldp_interval_sec, 65535u),
                .has_evb = true,
        };
        int r;

        memcpy(pdu.chassis_id, u->mac, VSM_ETH_ALEN);
        pdu.port_id_len = (uint8_t) strlen(u->ifname);
        memcpy(pdu.port_id, u->ifname, pdu.port_id_len);

        /* Station EVB TLV, as lldpad's station fills it: echo the bridge's
         * status octet once known, our R/RTE, mode station, and RWD/RKA
         * marked "remote" (ROL) once we adopted the bridge's values. */
        pdu.evb.bridge_status = u->peer_seen ? u->peer_evb.bridge_status : 0;
        pdu.evb.station_status = 0x05;
        pdu.evb.r = (uint8_t) u->our_r;
        pdu.evb.rte = (uint8_t) u->our_rte;
        pdu.evb.mode = VSM_EVB_MODE_STATION;
        if (u->peer_seen) {
                pdu.evb.rol_rwd = true;
                pdu.evb.rwd = MAX(u->peer_evb.rwd, (uint8_t) u->our_rwd);
                pdu.evb.rol_rka = true;
                pdu.evb.rka = MAX(u->peer_evb.rka, (uint8_t) u->our_rka);
        } else {
                pdu.evb.rwd = (uint8_t) u->our_rwd;
                pdu.evb.rka = (uint8_t) u->our_rka;
        }

        /* The EVB TLV belongs to the nearest-customer-bridge LLDP agent
         * (01:80:c2:00:00:00), the same address ECP uses.  lldpad's bridge
         * role runs its EVB agent there and ignores an EVB TLV sent to the
         * nearest-bridge address 01:80:c2:00:00:0e: its VDP timers then
         * stay zero and it de-associates every VSI ~3 ms after answering. */
        memcpy(eh.dst, vsm_eth_addr_nearest_bridge, VSM_ETH_ALEN);
        memcpy(eh.src, u->mac, VSM_ETH_ALEN);
        vsm_writer_init(&w, frame, sizeof(frame));
        r = vsm_eth_header_write(&w, &eh);
        if (r >= 0)
                r = vsm_lldp_write(&w, &pdu);
        if (r >= 0)
                r = vsm_eth_pad(&w);
        if (r >= 0)
                r = uplink_send_frame(u, frame, w.len);
        if (r < 0) {
                vsm_log_if(G_LOG_LEVEL_WARNING, u->ifname, "%s: cannot send LLDP: %s", u->ifname, g_strerror(-r));
                return;
        }
        u->n.tx_lldp++;
}

static void uplink_on_lldp_timer(gpointer user_data) {
        VsmUplink *u = user_data;

        uplink_send_lldp(u);
        vsm_timer_arm(u->lldp_timer, now_usec() + (gint64) u->lldp_interval_sec * G_USEC_PER_SEC);
}

static void uplink_update_timers(VsmUplink *u) {
        VsmEcpTxConfig ecp;
        GHashTableIter it;
        gpointer v;

        uplink_ecp_config(u, &ecp);
        vsm_ecp_tx_set_config(u->ecp_tx, &ecp);
        if (u->peer_seen)
                vsm_vdp_timers_from_evb(u->peer_evb.rwd, u->peer_evb.rka, &u->vdp_timers);
        else
                vsm_vdp_timers_from_evb((uint8_t) u->our_rwd, (uint8_t) u->our_rka, &u->vdp_timers);
        g_hash_table_iter_init(&it, u->vsis);
        while (g_hash_table_iter_next(&it, NULL, &v))
                vsm_vsi_set_timers(v, &u->vdp_timers);
}

static void uplink_on_lldp(VsmUplink *u, const VsmEthHeader *eh, VsmReader *r) {
        g_autofree VsmLldpdu *pdu = g_new0(VsmLldpdu, 1);
        gboolean changed;
        int k;

        k = vsm_lldp_parse(r, pdu);
        if (k < 0) {
                uplink_warn_bad(u, "malformed LLDPDU from %02x:%02x:%02x:%02x:%02x:%02x: %s",
                                eh->src[0], eh->src[1], eh->src[2], eh->src[3], eh->src[4], eh->src[5],
                                g_strerror(-k));
                return;
        }
        u->n.rx_lldp++;
        if (!pdu->has_evb || pdu->evb.mode != VSM_EVB_MODE_BRIDGE)
                return;
        changed = !u->peer_seen || memcmp(&u->peer_evb, &pdu->evb, sizeof(pdu->evb)) != 0 ||
                  memcmp(u->peer_mac, eh->src, VSM_ETH_ALEN) != 0;
        u->peer_seen_usec = now_usec();
        if (!changed)
                return;
        u->peer_seen = TRUE;
        u->peer_evb = pdu->evb;
        memcpy(u->peer_mac, eh->src, VSM_ETH_ALEN);
        vsm_mac_format(eh->src, u->peer_chassis);
        uplink_update_timers(u);
        vsm_log_if(G_LOG_LEVEL_MESSAGE, u->ifname,
                   "%s: EVB bridge %s: R=%u RTE=%u (%.2f ms) RWD=%u (%.2f s) RKA=%u (%.2f s)",
                   u->ifname, u->peer_chassis, pdu->evb.r, pdu->evb.rte,
                   (double) vsm_evb_exp_to_usec(pdu->evb.rte) / 1000.0, pdu->evb.rwd,
                   (double) vsm_evb_exp_to_usec(pdu->evb.rwd) / 1e6, pdu->evb.rka,
                   (double) vsm_evb_exp_to_usec(pdu->evb.rka) / 1e6);
        /* Answer at once so the bridge sees our adopted values. */
        uplink_send_lldp(u);
}

/* ---- VDP receive ---- */

static void uplink_on_vdp(VsmUplink *u, VsmReader *r) {
        VsmVdpTlv *tlv = g_new0(VsmVdpTlv, 1);
        unsigned n_tlvs = 0;
        int k;

        for (;;) {
                VsmVdpRequest req;
                VsmVsi *vsi;
                char id[37];

                k = vsm_vdp_tlv_next(r, tlv);
                if (k == -ENODATA)
                        break;
                if (k < 0) {
                        uplink_warn_bad(u, "malformed VDP TLV #%u: %s", n_tlvs + 1, g_strerror(-k));
                        break;
                }
                if (++n_tlvs > VSM_VDP_TLVS_MAX) {
                        uplink_warn_bad(u, "VDP ULPDU has more than %d TLVs", VSM_VDP_TLVS_MAX);
                        break;
                }
                if (tlv->type == VSM_VDP_TLV_MANAGER_ID || tlv->type == VSM_VDP_TLV_ORG)
                        continue;
                if (vsm_vdp_request_from_tlv(tlv->type, &req) < 0) {
                        uplink_warn_bad(u, "unknown VDP TLV type %u (length %u) skipped", tlv->type, tlv->len);
                        continue;
                }
                if (tlv->vsi.vsiid_format != VSM_VDP_VSIID_UUID) {
                        uplink_warn_bad(u, "VSI TLV with VSIID format %u (only UUID, 5, is used)",
                                        tlv->vsi.vsiid_format);
                        continue;
                }
                vsi = vsm_uplink_find_vsi(u, tlv->vsi.vsiid);
                vsm_uuid_format(tlv->vsi.vsiid, id);
                if (!vsi) {
                        u->n.vdp_unknown_vsi++;
                        /* lldpad's bridge de-associates on its own ~15.8 s
                         * after a station DE-ASSOCIATE, for VSIs we may have
                         * dropped long ago: tolerate quietly. */
                        vsm_log_vsi(G_LOG_LEVEL_DEBUG, u->ifname, id, "%s: %s %s for unknown VSI %s ignored",
                                    u->ifname, (tlv->vsi.status & VSM_VDP_STATUS_RESPONSE) ? "response" : "request",
                                    vsm_vdp_request_to_string(req), id);
                        continue;
                }
                if (tlv->vsi.status & VSM_VDP_STATUS_RESPONSE)
                        vsm_vsi_on_response(vsi, req, tlv->vsi.status);
                else
                        vsm_vsi_on_bridge_request(vsi, req, tlv->vsi.status);
        }
        g_free(tlv);
}

static void uplink_on_ecp(VsmUplink *u, const VsmEthHeader *eh, VsmReader *r) {
        VsmEcpHeader h;
        int k;

        k = vsm_ecp_header_parse(r, &h);
        if (k < 0) {
                uplink_warn_bad(u, "ECP header: %s", k == -EPROTONOSUPPORT ?
                                "unsupported version or reserved operation" : "truncated");
                return;
        }
        if (h.subtype != VSM_ECP_SUBTYPE_VDP) {
                uplink_warn_bad(u, "ECP subtype %u is not VDP", h.subtype);
                return;
        }
        if (h.op == VSM_ECP_OP_ACK) {
                VsmEcpTxResult res = {};

                u->n.rx_ecp_acks++;
                if (vsm_ecp_tx_on_ack(u->ecp_tx, h.seq, (uint64_t) now_usec(), &res) < 0) {
                        vsm_log_if(G_LOG_LEVEL_DEBUG, u->ifname, "%s: stale ECP ACK seq %u", u->ifname, h.seq);
                        return;
                }
                uplink_ecp_apply(u, &res);
                return;
        }
        u->n.rx_ecp_requests++;
        /* Acknowledge every request, duplicates included (43.3.7). */
        k = uplink_write_ecp(u, VSM_ECP_OP_ACK, h.seq, NULL, 0);
        if (k < 0)
                vsm_log_if(G_LOG_LEVEL_WARNING, u->ifname, "%s: cannot send ECP ACK: %s", u->ifname, g_strerror(-k));
        if (!vsm_ecp_rx_accept(&u->ecp_rx, h.seq)) {
                u->n.rx_ecp_duplicates++;
                vsm_log_if(G_LOG_LEVEL_DEBUG, u->ifname, "%s: duplicate ECP seq %u acked, not processed",
                           u->ifname, h.seq);
                return;
        }
        uplink_on_vdp(u, r);
}

static void uplink_on_frame(VsmUplink *u, const uint8_t *frame, size_t len) {
        VsmReader r;
        VsmEthHeader eh;

        u->n.rx_frames++;
        vsm_reader_init(&r, frame, len);
        if (vsm_eth_header_parse(&r, &eh) < 0) {
                uplink_warn_bad(u, "runt frame of %zu octets", len);
                return;
        }
        if (memcmp(eh.src, u->mac, VSM_ETH_ALEN) == 0)
                return;         /* our own, looped back */
        if (eh.ethertype == VSM_ETH_P_LLDP) {
                uplink_on_lldp(u, &eh, &r);
                return;
        }
        if (eh.ethertype != VSM_ETH_P_ECP)
                return;
        if (memcmp(eh.dst, vsm_eth_addr_nearest_bridge, VSM_ETH_ALEN) != 0 &&
            memcmp(eh.dst, u->mac, VSM_ETH_ALEN) != 0)
                return;
        /* Once the bridge is known from its EVB TLV, ECP from anyone else
         * is ignored: a bridge without STP floods 01:80:c2:00:00:00, so
         * another station's requests (a DE-ASSOCIATE!) can reach us. */
        if (u->peer_seen && memcmp(eh.src, u->peer_mac, VSM_ETH_ALEN) != 0) {
                u->n.rx_foreign++;
                vsm_log_if(G_LOG_LEVEL_DEBUG, u->ifname,
                           "%s: ECP from %02x:%02x:%02x:%02x:%02x:%02x, not our bridge, ignored", u->ifname,
                           eh.src[0], eh.src[1], eh.src[2], eh.src[3], eh.src[4], eh.src[5]);
                return;
        }
        uplink_on_ecp(u, &eh, &r);
}

static gboolean uplink_on_readable(gint fd, GIOCondition cond, gpointer user_data) {
        VsmUplink *u = user_data;
        uint8_t frame[VSM_ETH_FRAME_MAX];

        /* Bounded batch so one busy uplink cannot starve the loop. */
        for (int i = 0; i < 64; i++) {
                gboolean outgoing;
                ssize_t n = vsm_packet_recv(fd, frame, sizeof(frame), &outgoing);

                if (n == 0)
                        break;
                if (n == -EMSGSIZE) {
                        uplink_warn_bad(u, "oversized frame (more than %d octets)", VSM_ETH_FRAME_MAX);
                        continue;
                }
                if (n < 0) {
                        vsm_log_if(G_LOG_LEVEL_WARNING, u->ifname, "%s: receive failed: %s", u->ifname,
                                   g_strerror((int) -n));
                        break;
                }
                if (outgoing)
                        continue;
                uplink_on_frame(u, frame, (size_t) n);
        }
        return G_SOURCE_CONTINUE;
}

/* ---- lifecycle ---- */

static void uplink_set_down(VsmUplink *u, const char *reason) {
        if (!u->down_reason || !g_str_equal(u->down_reason, reason))
                vsm_log_if(G_LOG_LEVEL_WARNING, u->ifname, "%s: uplink down: %s (retrying every %d s)",
                           u->ifname, reason, (int) (UPLINK_RETRY_USEC / G_USEC_PER_SEC));
        g_free(u->down_reason);
        u->down_reason = g_strdup(reason);
        vsm_timer_arm(u->retry_timer, now_usec() + UPLINK_RETRY_USEC);
}

static void uplink_attach_fd(VsmUplink *u, int fd) {
        u->fd = fd;
        u->io_id = g_unix_fd_add(fd, G_IO_IN, uplink_on_readable, u);
        g_clear_pointer(&u->down_reason, g_free);
        /* LLDP with the EVB TLV goes out before any VDP. */
        uplink_on_lldp_timer(u);
}

static void uplink_try_open(VsmUplink *u) {
        int ifindex, fd, r;
        uint8_t mac[VSM_ETH_ALEN];

        if (u->fd >= 0)
                return;
        r = vsm_link_lookup(u->ifname, &ifindex, mac);
        if (r < 0) {
                g_autofree char *why = g_strdup_printf("interface lookup failed: %s", g_strerror(-r));
                uplink_set_down(u, why);
                return;
        }
        fd = vsm_packet_open_func(ifindex);
        if (fd < 0) {
                g_autofree char *why = g_strdup_printf("cannot open packet socket: %s", g_strerror(-fd));
                uplink_set_down(u, why);
                return;
        }
        u->ifindex = ifindex;
        memcpy(u->mac, mac, VSM_ETH_ALEN);
        vsm_log_if(G_LOG_LEVEL_MESSAGE, u->ifname, "%s: uplink up (ifindex %d)", u->ifname, ifindex);
        uplink_attach_fd(u, fd);
}

static void uplink_on_retry(gpointer user_data) {
        uplink_try_open(user_data);
}

static void vsi_destroy(gpointer p) {
        vsm_vsi_free(p);
}

static VsmUplink *uplink_alloc(const char *ifname, const VsmConfig *c) {
        VsmUplink *u = g_new0(VsmUplink, 1);
        VsmEcpTxConfig ecp;

        u->ifname = g_strdup(ifname);
        u->fd = -1;
        u->our_r = c->ecp_retries;
        u->our_rte = c->ecp_rte;
        u->our_rwd = c->rwd;
        u->our_rka = c->rka;
        u->pacing_usec = c->ecp_pacing_usec;
        u->lldp_interval_sec = c->lldp_interval_sec;
        u->max_vsis = c->max_vsis;
        u->bad_rl = (VsmRateLimit) VSM_RATELIMIT_INIT(10 * G_USEC_PER_SEC, 10);
        uplink_ecp_config(u, &ecp);
        u->ecp_tx = vsm_ecp_tx_new(&ecp, (uint16_t) g_random_int_range(0, 65536));
        vsm_ecp_rx_init(&u->ecp_rx);
        vsm_vdp_timers_from_evb((uint8_t) u->our_rwd, (uint8_t) u->our_rka, &u->vdp_timers);
        u->ecp_timer = vsm_timer_new(uplink_on_ecp_timer, u);
        u->lldp_timer = vsm_timer_new(uplink_on_lldp_timer, u);
        u->retry_timer = vsm_timer_new(uplink_on_retry, u);
        u->flush_timer = vsm_timer_new(uplink_on_flush, u);
        u->vsis = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, vsi_destroy);
        return u;
}

VsmUplink *vsm_uplink_new(const char *ifname, const VsmConfig *config) {
        VsmUplink *u = uplink_alloc(ifname, config);

        uplink_try_open(u);
        return u;
}

VsmUplink *vsm_uplink_new_with_fd(const char *ifname, const VsmConfig *config, int fd,
                                  const uint8_t mac[VSM_ETH_ALEN]) {
        VsmUplink *u = uplink_alloc(ifname, config);

        memcpy(u->mac, mac, VSM_ETH_ALEN);
        u->fd_is_seam = TRUE;
        uplink_attach_fd(u, fd);
        return u;
}

void vsm_uplink_kick(VsmUplink *u) {
        if (u->fd < 0)
                uplink_try_open(u);
        else
                uplink_send_lldp(u);
}

VsmUplink *vsm_uplink_free(VsmUplink *u) {
        if (!u)
                return NULL;
        /* VSIs first: their waiters are told "cancelled" while we still exist. */
        g_clear_pointer(&u->vsis, g_hash_table_unref);
        g_clear_handle_id(&u->io_id, g_source_remove);
        if (u->fd >= 0)
                close(u->fd);
        vsm_timer_free(u->ecp_timer);
        vsm_timer_free(u->lldp_timer);
        vsm_timer_free(u->retry_timer);
        vsm_timer_free(u->flush_timer);
        vsm_ecp_tx_free(u->ecp_tx);
        g_free(u->down_reason);
        g_free(u->ifname);
        g_free(u);
        return NULL;
}

VsmVsi *vsm_uplink_find_vsi(VsmUplink *u, const uint8_t instance[VSM_VDP_VSIID_LEN]) {
        char id[37];

        return g_hash_table_lookup(u->vsis, vsm_uuid_format(instance, id));
}

static void uplink_evict_idle(VsmUplink *u) {
        GHashTableIter it;
        gpointer v;

        g_hash_table_iter_init(&it, u->vsis);
        while (g_hash_table_iter_next(&it, NULL, &v))
                if (vsm_vsi_is_idle(v)) {
                        g_hash_table_iter_remove(&it);
                        return;
                }
}

VsmVsi *vsm_uplink_ensure_vsi(VsmUplink *u, const VsmVsiParams *params, GError **error) {
        VsmVsi *vsi = vsm_uplink_find_vsi(u, params->instance);

        if (vsi) {
                vsm_vsi_set_params(vsi, params);
                return vsi;
        }
        if (g_hash_table_size(u->vsis) >= u->max_vsis)
                uplink_evict_idle(u);
        if (g_hash_table_size(u->vsis) >= u->max_vsis) {
                g_set_error(error, VSM_ERROR, VSM_ERROR_BUSY, "%s already holds %u VSIs (max-vsis)",
                            u->ifname, u->max_vsis);
                return NULL;
        }
        vsi = vsm_vsi_new(u, params, ++u->next_serial);
        g_hash_table_insert(u->vsis, (gpointer) vsm_vsi_get_id(vsi), vsi);
        return vsi;
}

static gint vsi_cmp(gconstpointer a, gconstpointer b) {
        return strcmp(vsm_vsi_get_id(*(VsmVsi *const *) a), vsm_vsi_get_id(*(VsmVsi *const *) b));
}

GPtrArray *vsm_uplink_list_vsis(VsmUplink *u) {
        GPtrArray *a = g_ptr_array_new();
        GHashTableIter it;
        gpointer v;

        g_hash_table_iter_init(&it, u->vsis);
        while (g_hash_table_iter_next(&it, NULL, &v))
                g_ptr_array_add(a, v);
        g_ptr_array_sort(a, vsi_cmp);
        return a;
}

JsonNode *vsm_uplink_to_json(const VsmUplink *u) {
        g_autoptr(JsonBuilder) b = json_builder_new();
        char mac[18];

        json_builder_begin_object(b);
        json_builder_set_member_name(b, "name");
        json_builder_add_string_value(b, u->ifname);
        json_builder_set_member_name(b, "up");
        json_builder_add_boolean_value(b, u->fd >= 0);
        json_builder_set_member_name(b, "down_reason");
        if (u->down_reason)
                json_builder_add_string_value(b, u->down_reason);
        else
                json_builder_add_null_value(b);
        json_builder_set_member_name(b, "ifindex");
        json_builder_add_int_value(b, u->ifindex);
        json_builder_set_member_name(b, "mac");
        json_builder_add_string_value(b, vsm_mac_format(u->mac, mac));
        json_builder_set_member_name(b, "vsis");
        json_builder_add_int_value(b, g_hash_table_size(u->vsis));

        json_builder_set_member_name(b, "bridge");
        if (u->peer_seen) {
                json_builder_begin_object(b);
                json_builder_set_member_name(b, "mac");
                json_builder_add_string_value(b, u->peer_chassis);
                json_builder_set_member_name(b, "last_lldp_ms_ago");
                json_builder_add_int_value(b, (now_usec() - u->peer_seen_usec) / 1000);
                json_builder_set_member_name(b, "r");
                json_builder_add_int_value(b, u->peer_evb.r);
                json_builder_set_member_name(b, "rte");
                json_builder_add_int_value(b, u->peer_evb.rte);
                json_builder_set_member_name(b, "rwd");
                json_builder_add_int_value(b, u->peer_evb.rwd);
                json_builder_set_member_name(b, "rka");
                json_builder_add_int_value(b, u->peer_evb.rka);
                json_builder_end_object(b);
        } else {
                json_builder_add_null_value(b);
        }
        json_builder_set_member_name(b, "timers");
        json_builder_begin_object(b);
        json_builder_set_member_name(b, "response_timeout_ms");
        json_builder_add_int_value(b, (gint64) (u->vdp_timers.response_timeout_usec / 1000));
        json_builder_set_member_name(b, "keepalive_ms");
        json_builder_add_int_value(b, (gint64) (u->vdp_timers.keepalive_usec / 1000));
        json_builder_end_object(b);

        json_builder_set_member_name(b, "counters");
        json_builder_begin_object(b);
#define COUNTER(name) \
        json_builder_set_member_name(b, #name); \
        json_builder_add_int_value(b, (gint64) u->n.name);
        COUNTER(rx_frames)
        COUNTER(rx_bad)
        COUNTER(rx_ecp_requests)
        COUNTER(rx_ecp_duplicates)
        COUNTER(rx_ecp_acks)
        COUNTER(rx_lldp)
        COUNTER(tx_frames)
        COUNTER(tx_replay)
        COUNTER(tx_errors)
        COUNTER(tx_ecp_requests)
        COUNTER(tx_ecp_retries)
        COUNTER(tx_ecp_failures)
        COUNTER(tx_lldp)
        COUNTER(vdp_unknown_vsi)
        COUNTER(rx_foreign)
        COUNTER(vdp_withdrawn)
        COUNTER(vdp_queued)
        COUNTER(vdp_bridge_deassoc)
        COUNTER(vdp_repairs)
        COUNTER(vdp_repaired)
#undef COUNTER
        json_builder_end_object(b);
        json_builder_end_object(b);
        return json_builder_get_root(b);
}
