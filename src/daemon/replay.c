/* The frames a destination sends on a VM's behalf in the paused window
 * (DESIGN.md section 4, "Replay facts"), built from a VsmNicState.
 *
 * RFC 2131 section 4.3.2 (INIT-REBOOT DHCPREQUEST: ciaddr 0, option 50,
 * no server identifier), RFC 1112 / RFC 2236 (v1/v2 reports to the
 * group), RFC 3376 section 4.2 and 4.2.16 (v3 current-state records and
 * how a record too large for one report is split), RFC 2710 / RFC 3810
 * section 5.2 and 5.2.15 (MLD likewise), RFC 5227 section 3 (ARP
 * Announcement), RFC 4861 section 7.2.6 (unsolicited NA).
 *
 * Pure: builds GBytes, does no I/O and never logs.  IGMPv1/v2 and MLDv1
 * groups get a report each (the format holds one group).  The IGMPv3
 * (MLDv2) records of a vNIC are packed into as few reports as fit an
 * Ethernet MTU and the codec's caps (records, pooled sources, sources per
 * record), in group order, as Linux hosts do: RFC 3376 5.2 / RFC 3810
 * 6.2 let a report carry many records, and snooping switches process
 * each.  A group whose sources do not fit one report (or the codec's
 * per-record cap) is cut as RFC 3376 4.2.16 says: INCLUDE records split
 * over several reports, EXCLUDE records truncated (the rest is said in
 * the skip reasons); each such part gets a report of its own.
 */
#include "daemon/replay.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <string.h>

#include "proto/arp.h"
#include "proto/eth.h"
#include "proto/dhcp.h"
#include "proto/igmp.h"
#include "proto/mld.h"
#include "proto/ndisc.h"

#define REPLAY_MTU 1500                /* IP packet size every frame stays within */
#define REPLAY_FRAME_MAX (VSM_ETH_HLEN + REPLAY_MTU)
#define REPLAY_DHCP_TTL 64

/* Sources that fit in one record of a report of REPLAY_MTU with a single
 * record, capped by what the codec writes per record. */
#define REPLAY_IGMP_SOURCES_PER_REPORT \
        MIN((REPLAY_MTU - VSM_IP4_RA_HLEN - VSM_IGMP_HLEN - VSM_IGMP_RECORD_HLEN) / VSM_IP4_ALEN, \
            VSM_IGMP_RECORD_SOURCES_MAX)
#define REPLAY_MLD_SOURCES_PER_REPORT \
        MIN((REPLAY_MTU - VSM_IP6_HLEN - VSM_IP6_HBH_RA_LEN - VSM_MLD_V2_REPORT_HLEN - VSM_MLD_RECORD_HLEN) / \
                    VSM_IP6_ALEN, \
            VSM_MLD_RECORD_SOURCES_MAX)

/* IGMPv3 general query: Max Resp Code 10 = 1 s, robustness 2, QQIC 125 s
 * (RFC 3376 8.1, 8.2, 8.14.1); MLDv2 likewise with 1000 ms. */
#define REPLAY_IGMP_QUERY_MAX_RESP 10
#define REPLAY_MLD_QUERY_MAX_RESP 1000
#define REPLAY_QUERY_QRV 2
#define REPLAY_QUERY_QQIC 125

static const uint8_t ip4_any[VSM_IP4_ALEN];
static const uint8_t ip6_any[VSM_IP6_ALEN];

VsmReplayFrame *vsm_replay_frame_free(VsmReplayFrame *f) {
        if (!f)
                return NULL;
        g_clear_pointer(&f->frame, g_bytes_unref);
        g_free(f->what);
        g_free(f);
        return NULL;
}

static void frame_free_void(gpointer p) {
        vsm_replay_frame_free(p);
}

/* Append a frame; takes what. */
static void frame_add(GPtrArray *out, VsmReplayKind kind, const VsmWriter *w, char *what) {
        VsmReplayFrame *f = g_new0(VsmReplayFrame, 1);

        f->kind = kind;
        f->frame = g_bytes_new(w->data, w->len);
        f->what = what;
        g_ptr_array_add(out, f);
}

static void skip_add(GString *skipped, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
static void skip_add(GString *skipped, const char *fmt, ...) {
        va_list ap;

        if (skipped->len > 0)
                g_string_append(skipped, "; ");
        va_start(ap, fmt);
        g_string_append_vprintf(skipped, fmt, ap);
        va_end(ap);
}

static const char *ip4_str(const uint8_t a[VSM_IP4_ALEN], char buf[INET_ADDRSTRLEN]) {
        return inet_ntop(AF_INET, a, buf, INET_ADDRSTRLEN);
}

static const char *ip6_str(const uint8_t a[VSM_IP6_ALEN], char buf[INET6_ADDRSTRLEN]) {
        return inet_ntop(AF_INET6, a, buf, INET6_ADDRSTRLEN);
}

static gboolean ip6_is_link_local(const uint8_t a[VSM_IP6_ALEN]) {
        return a[0] == 0xfe && (a[1] & 0xc0) == 0x80;
}

/* --- DHCP --------------------------------------------------------------- */

/* The INIT-REBOOT DHCPREQUEST of RFC 2131 4.3.2 as DESIGN.md section 4
 * wants it, plus the hostname (option 12) the guest sent, which
 * vsm_dhcp_init_reboot_write() has no field for. */
static int dhcp_request_write(VsmWriter *w, const VsmNicState *s, uint32_t xid) {
        VsmEthHeader eh = { .ethertype = VSM_ETH_P_IPV4 };
        VsmIp4Header ih = {
                .ttl = REPLAY_DHCP_TTL,
                .protocol = VSM_IP_PROTO_UDP,
        };
        g_autofree VsmDhcpMessage *m = g_new0(VsmDhcpMessage, 1);
        size_t saved = w->len, ip_off, udp_off;
        int k;

        m->op = VSM_DHCP_OP_REQUEST;
        m->htype = VSM_DHCP_HTYPE_ETHER;
        m->hlen = VSM_ETH_ALEN;
        m->xid = xid;
        m->message_type = VSM_DHCP_REQUEST;
        memcpy(m->chaddr, s->mac, VSM_ETH_ALEN);
        m->has_requested_ip = true;
        memcpy(m->requested_ip, s->lease_address, VSM_IP4_ALEN);
        if (s->client_id_state == VSM_LEARN_CLIENT_ID_SENT) {
                m->has_client_id = true;
                m->client_id_len = s->client_id_len;
                memcpy(m->client_id, s->client_id, s->client_id_len);
        }
        if (s->hostname && s->hostname[0] != '\0' && strlen(s->hostname) <= VSM_DHCP_OPTION_MAX) {
                m->has_hostname = true;
                m->hostname_len = (uint8_t) strlen(s->hostname);
                memcpy(m->hostname, s->hostname, m->hostname_len);
        }

        memcpy(eh.dst, vsm_eth_addr_broadcast, VSM_ETH_ALEN);
        memcpy(eh.src, s->mac, VSM_ETH_ALEN);
        memcpy(ih.dst, vsm_ip4_broadcast, VSM_IP4_ALEN);

        if ((k = vsm_eth_header_write(w, &eh)) < 0 ||
            (k = vsm_ip4_header_begin(w, &ih, &ip_off)) < 0 ||
            (k = vsm_udp_header_begin(w, VSM_DHCP_CLIENT_PORT, VSM_DHCP_SERVER_PORT, &udp_off)) < 0 ||
            (k = vsm_dhcp_message_write(w, m)) < 0 ||
            (k = vsm_udp4_header_finish(w, ih.src, ih.dst, udp_off)) < 0 ||
            (k = vsm_ip4_header_finish(w, ip_off)) < 0) {
                w->len = saved;
                return k;
        }
        return 0;
}

static void build_dhcp(GPtrArray *out, const VsmNicState *s, gint64 real_now_usec, GString *skipped) {
        uint8_t buf[REPLAY_FRAME_MAX];
        char a[INET_ADDRSTRLEN];
        VsmWriter w;
        int k;

        if (!vsm_nic_state_can_replay_dhcp(s, real_now_usec)) {
                /* The gate is vsm_nic_state_can_replay_dhcp(); this only says why. */
                if (!s->has_lease)
                        skip_add(skipped, "dhcp: no lease");
                else if (s->client_id_state != VSM_LEARN_CLIENT_ID_SENT &&
                         s->client_id_state != VSM_LEARN_CLIENT_ID_NONE)
                        skip_add(skipped, "dhcp: client-id unknown");
                else
                        skip_add(skipped, "dhcp: lease expired");
                return;
        }

        vsm_writer_init(&w, buf, sizeof(buf));
        /* The xid only pairs the server's answer with this request and is
         * on the wire in clear: no secret, so g_random is fine (secrets
         * such as the peer tokens come from getrandom()). */
        k = dhcp_request_write(&w, s, g_random_int());
        if (k < 0) {
                skip_add(skipped, "dhcp: %s", g_strerror(-k));
                return;
        }
        frame_add(out, VSM_REPLAY_DHCP_REQUEST, &w,
                  g_strdup_printf("dhcp-request %s", ip4_str(s->lease_address, a)));
}

/* --- IGMP / MLD --------------------------------------------------------- */

static const char *version_str(VsmLearnMcastVersion v) {
        const char *s = vsm_learn_mcast_version_to_string(v);

        return s ? s : "unknown";
}

/* Whether g is well-formed enough to report; says why not. */
static gboolean group_check(const VsmStateGroup *g, const char *addr, GString *skipped) {
        gboolean v6 = g->version == VSM_LEARN_MLD_V1 || g->version == VSM_LEARN_MLD_V2;

        if ((unsigned) g->version >= _VSM_LEARN_MCAST_VERSION_MAX || v6 != !!g->is_ip6) {
                skip_add(skipped, "group %s: version %s does not match its family", addr, version_str(g->version));
                return FALSE;
        }
        if (g->is_ip6 ? !vsm_ip6_is_multicast(g->address) : !vsm_ip4_is_multicast(g->address)) {
                skip_add(skipped, "group %s: not a multicast address", addr);
                return FALSE;
        }
        if (g->is_ip6 ? vsm_ip6_is_link_local_group(g->address) : vsm_ip4_is_link_local_group(g->address)) {
                /* DESIGN.md section 4: hosts never report these. */
                skip_add(skipped, "group %s: link-local, never reported", addr);
                return FALSE;
        }
        if (g->n_sources > 0 && !g->sources) {
                skip_add(skipped, "group %s: sources missing", addr);
                return FALSE;
        }
        if ((g->version == VSM_LEARN_IGMP_V3 || g->version == VSM_LEARN_MLD_V2) &&
            g->mode == VSM_LEARN_FILTER_INCLUDE && g->n_sources == 0) {
                /* INCLUDE{} means not joined (RFC 3376 section 3). */
                skip_add(skipped, "group %s: include mode without sources", addr);
                return FALSE;
        }
        return TRUE;
}

/* How the sources of a v3/v2 record are cut into reports (RFC 3376
 * 4.2.16, RFC 3810 5.2.15): INCLUDE in parts of at most per_report,
 * EXCLUDE as one record holding what fits.  *ret_parts reports, *ret_sent
 * sources in all. */
static void record_parts(const VsmStateGroup *g, guint per_report, guint *ret_parts, guint *ret_sent) {
        if (g->mode == VSM_LEARN_FILTER_EXCLUDE || g->n_sources == 0) {
                *ret_parts = 1;
                *ret_sent = MIN(g->n_sources, per_report);
        } else {
                *ret_parts = (g->n_sources + per_report - 1) / per_report;
                *ret_sent = g->n_sources;
        }
}

static const char *group_str(const VsmStateGroup *g, char buf[INET6_ADDRSTRLEN]) {
        return g->is_ip6 ? ip6_str(g->address, buf) : ip4_str(g->address, buf);
}

static char *report_what(const VsmStateGroup *g, const char *addr, guint part, guint parts, gboolean leave) {
        const char *what = leave ? "leave" : "report";

        if (parts > 1)
                return g_strdup_printf("%s-%s %s (%u/%u)", version_str(g->version), what, addr, part + 1, parts);
        return g_strdup_printf("%s-%s %s", version_str(g->version), what, addr);
}

/* The record of a report, or of a leave: CHANGE_TO_INCLUDE{} (RFC 3376
 * 5.1, RFC 3810 6.1: "the host no longer wants the group"). */
static uint8_t record_type(const VsmStateGroup *g, gboolean leave) {
        if (leave)
                return VSM_MCAST_CHANGE_TO_INCLUDE;
        return g->mode == VSM_LEARN_FILTER_INCLUDE ? VSM_MCAST_MODE_IS_INCLUDE : VSM_MCAST_MODE_IS_EXCLUDE;
}

/* What one family's v3/v2 reports may hold: the octets left for records
 * in an IP packet of REPLAY_MTU and the codec's caps. */
typedef struct ReplayFamily {
        gboolean is_ip6;
        VsmReplayKind kind;
        VsmLearnMcastVersion with_records; /* IGMPv3 / MLDv2 */
        size_t room;                   /* octets for the records */
        size_t record_hlen;
        size_t alen;
        guint records_max;
        guint sources_max;             /* pooled, per message */
        guint per_record;              /* sources per record */
        gboolean leave;                /* leaves instead of reports */
} ReplayFamily;

static const ReplayFamily replay_igmp = {
        .is_ip6 = FALSE,
        .kind = VSM_REPLAY_IGMP_REPORT,
        .with_records = VSM_LEARN_IGMP_V3,
        .room = REPLAY_MTU - VSM_IP4_RA_HLEN - VSM_IGMP_HLEN,
        .record_hlen = VSM_IGMP_RECORD_HLEN,
        .alen = VSM_IP4_ALEN,
        .records_max = VSM_IGMP_RECORDS_MAX,
        .sources_max = VSM_IGMP_SOURCES_MAX,
        .per_record = REPLAY_IGMP_SOURCES_PER_REPORT,
};

static const ReplayFamily replay_mld = {
        .is_ip6 = TRUE,
        .kind = VSM_REPLAY_MLD_REPORT,
        .with_records = VSM_LEARN_MLD_V2,
        .room = REPLAY_MTU - VSM_IP6_HLEN - VSM_IP6_HBH_RA_LEN - VSM_MLD_V2_REPORT_HLEN,
        .record_hlen = VSM_MLD_RECORD_HLEN,
        .alen = VSM_IP6_ALEN,
        .records_max = VSM_MLD_RECORDS_MAX,
        .sources_max = VSM_MLD_SOURCES_MAX,
        .per_record = REPLAY_MLD_SOURCES_PER_REPORT,
};

/* One group record: n of g's sources from the first-th on. */
typedef struct ReplayRecord {
        const VsmStateGroup *g;
        guint first;
        guint n;
} ReplayRecord;

/* The v3/v2 report being filled. */
typedef struct ReplayPack {
        ReplayRecord records[MAX(VSM_IGMP_RECORDS_MAX, VSM_MLD_RECORDS_MAX)];
        guint n_records;
        guint n_sources;
        size_t len;                    /* octets of the records */
        guint part, parts;             /* of a split record, alone in its report */
} ReplayPack;

/* One IGMP report: v1/v2 for g (p NULL), else a v3 report of p's records. */
static int write_igmp(VsmWriter *w, const VsmNicState *s, const uint8_t *src_ip, const VsmStateGroup *g,
                      const ReplayPack *p, gboolean leave) {
        g_autofree VsmIgmpMessage *m = g_new0(VsmIgmpMessage, 1);

        if (!p) {
                g_assert(g->version == VSM_LEARN_IGMP_V1 || g->version == VSM_LEARN_IGMP_V2);
                g_assert(!leave || g->version == VSM_LEARN_IGMP_V2);
                m->type = leave ? VSM_IGMP_V2_LEAVE
                                : g->version == VSM_LEARN_IGMP_V1 ? VSM_IGMP_V1_REPORT : VSM_IGMP_V2_REPORT;
                m->version = g->version == VSM_LEARN_IGMP_V1 ? 1 : 2;
                memcpy(m->group, g->address, VSM_IP4_ALEN);
                return vsm_igmp_frame_write(w, s->mac, src_ip, m);
        }

        m->type = VSM_IGMP_V3_REPORT;
        m->version = 3;
        m->n_records = (uint16_t) p->n_records;
        for (guint r = 0; r < p->n_records; r++) {
                const ReplayRecord *rec = &p->records[r];

                m->records[r].type = record_type(rec->g, leave);
                memcpy(m->records[r].group, rec->g->address, VSM_IP4_ALEN);
                m->records[r].n_sources = (uint16_t) rec->n;
                m->records[r].first_source = m->n_sources;
                for (guint i = 0; i < rec->n; i++)
                        memcpy(m->sources[m->n_sources++], rec->g->sources[rec->first + i], VSM_IP4_ALEN);
        }
        return vsm_igmp_frame_write(w, s->mac, src_ip, m);
}

/* One MLD report: v1 for g (p NULL), else a v2 report of p's records. */
static int write_mld(VsmWriter *w, const VsmNicState *s, const uint8_t *src_ip, const VsmStateGroup *g,
                     const ReplayPack *p, gboolean leave) {
        g_autofree VsmMldMessage *m = g_new0(VsmMldMessage, 1);

        if (!p) {
                g_assert(g->version == VSM_LEARN_MLD_V1);
                m->type = leave ? VSM_MLD_V1_DONE : VSM_MLD_V1_REPORT;
                m->version = 1;
                memcpy(m->group, g->address, VSM_IP6_ALEN);
                return vsm_mld_frame_write(w, s->mac, src_ip, m);
        }

        m->type = VSM_MLD_V2_REPORT;
        m->version = 2;
        m->n_records = (uint16_t) p->n_records;
        for (guint r = 0; r < p->n_records; r++) {
                const ReplayRecord *rec = &p->records[r];

                m->records[r].type = record_type(rec->g, leave);
                memcpy(m->records[r].group, rec->g->address, VSM_IP6_ALEN);
                m->records[r].n_sources = (uint16_t) rec->n;
                m->records[r].first_source = m->n_sources;
                for (guint i = 0; i < rec->n; i++)
                        memcpy(m->sources[m->n_sources++], rec->g->sources[rec->first + i], VSM_IP6_ALEN);
        }
        return vsm_mld_frame_write(w, s->mac, src_ip, m);
}

/* Encode p (if it holds records) into a frame and empty it.
 * "what" names its first group: as for a report of its own when it holds
 * one record, else "igmpv3-report 239.1.1.1 +49 (50 records)". */
static void pack_flush(GPtrArray *out, const VsmNicState *s, const ReplayFamily *fam, const uint8_t *src_ip,
                       ReplayPack *p, GString *skipped) {
        uint8_t buf[REPLAY_FRAME_MAX];
        char a[INET6_ADDRSTRLEN];
        const VsmStateGroup *g;
        char *what;
        VsmWriter w;
        int k;

        if (p->n_records == 0)
                return;
        g = p->records[0].g;
        group_str(g, a);

        vsm_writer_init(&w, buf, sizeof(buf));
        k = fam->is_ip6 ? write_mld(&w, s, src_ip, NULL, p, fam->leave) : write_igmp(&w, s, src_ip, NULL, p, fam->leave);
        if (k < 0) {
                /* A report's records are of distinct groups. */
                for (guint r = 0; r < p->n_records; r++)
                        skip_add(skipped, "group %s: %s", group_str(p->records[r].g, a), g_strerror(-k));
        } else {
                if (p->n_records == 1)
                        what = report_what(g, a, p->part, p->parts, fam->leave);
                else
                        what = g_strdup_printf("%s-%s %s +%u (%u records)", version_str(g->version),
                                               fam->leave ? "leave" : "report", a, p->n_records - 1, p->n_records);
                frame_add(out, fam->kind, &w, what);
        }
        p->n_records = 0;
        p->n_sources = 0;
        p->len = 0;
        p->part = 0;
        p->parts = 1;
}

/* Add n of g's sources from the first-th on as one record to p, flushing
 * p first when the record does not fit it.  alone: the record is a part
 * of a record too large for one report and gets a report of its own
 * (RFC 3376 4.2.16: each part "sent in a separate Report message"). */
static void pack_add(GPtrArray *out, const VsmNicState *s, const ReplayFamily *fam, const uint8_t *src_ip,
                     ReplayPack *p, const VsmStateGroup *g, guint first, guint n, guint part, guint parts,
                     gboolean alone, GString *skipped) {
        size_t len = fam->record_hlen + (size_t) n * fam->alen;

        /* Each record alone fits an empty report (REPLAY_*_SOURCES_PER_REPORT). */
        g_assert(n <= fam->per_record && len <= fam->room);

        if (alone || p->n_records >= fam->records_max || n > fam->sources_max - p->n_sources ||
            len > fam->room - p->len)
                pack_flush(out, s, fam, src_ip, p, skipped);
        p->records[p->n_records++] = (ReplayRecord) { .g = g, .first = first, .n = n };
        p->n_sources += n;
        p->len += len;
        p->part = part;
        p->parts = parts;
        if (alone)
                pack_flush(out, s, fam, src_ip, p, skipped);
}

/* The reports of one family's groups, from src_ip (MLD: NULL for the
 * link-local derived from the MAC), groups in state order.  v1/v2 (MLDv1)
 * groups get a report each; runs of v3 (MLDv2) groups between them are
 * packed into as few reports as the MTU and the codec's caps allow, and a
 * record too large for one report is cut as record_parts() says, each
 * part in a report of its own. */
static void build_reports(GPtrArray *out, const VsmNicState *s, const ReplayFamily *fam, const uint8_t *src_ip,
                          GString *skipped) {
        g_autofree ReplayPack *p = g_new0(ReplayPack, 1);
        uint8_t buf[REPLAY_FRAME_MAX];
        char a[INET6_ADDRSTRLEN];
        VsmWriter w;
        int k;

        p->parts = 1;
        for (guint i = 0; s->groups && i < s->groups->len; i++) {
                const VsmStateGroup *g = &g_array_index(s->groups, VsmStateGroup, i);
                guint parts, sent;

                if (!!g->is_ip6 != fam->is_ip6)
                        continue;
                group_str(g, a);
                if (!group_check(g, a, skipped))
                        continue;

                if (g->version != fam->with_records) {
                        if (fam->leave && g->version == VSM_LEARN_IGMP_V1)
                                continue;       /* IGMPv1 has no leave */
                        /* Keep the order: close the v3/v2 report first. */
                        pack_flush(out, s, fam, src_ip, p, skipped);
                        vsm_writer_init(&w, buf, sizeof(buf));
                        k = fam->is_ip6 ? write_mld(&w, s, src_ip, g, NULL, fam->leave)
                                        : write_igmp(&w, s, src_ip, g, NULL, fam->leave);
                        if (k < 0)
                                skip_add(skipped, "group %s: %s", a, g_strerror(-k));
                        else
                                frame_add(out, fam->kind, &w, report_what(g, a, 0, 1, fam->leave));
                        continue;
                }

                if (fam->leave) {
                        /* A leave names no sources. */
                        pack_add(out, s, fam, src_ip, p, g, 0, 0, 0, 1, FALSE, skipped);
                        continue;
                }
                record_parts(g, fam->per_record, &parts, &sent);
                for (guint part = 0; part < parts; part++) {
                        guint first = part * fam->per_record;

                        pack_add(out, s, fam, src_ip, p, g, first, MIN(sent - first, fam->per_record), part, parts,
                                 g->n_sources > fam->per_record, skipped);
                }
                if (sent < g->n_sources)
                        skip_add(skipped, "group %s: %u excluded sources not reported", a, g->n_sources - sent);
        }
        pack_flush(out, s, fam, src_ip, p, skipped);
}

/* --- GARP / NA ---------------------------------------------------------- */

static gboolean ip4_is_unicast(const uint8_t a[VSM_IP4_ALEN]) {
        return memcmp(a, ip4_any, VSM_IP4_ALEN) != 0 && memcmp(a, vsm_ip4_broadcast, VSM_IP4_ALEN) != 0 &&
               !vsm_ip4_is_multicast(a);
}

static void build_garp(GPtrArray *out, const VsmNicState *s, const uint8_t a4[VSM_IP4_ALEN], GArray *done,
                       GString *skipped) {
        uint8_t buf[REPLAY_FRAME_MAX];
        char a[INET_ADDRSTRLEN];
        VsmWriter w;
        int k;

        for (guint i = 0; i < done->len; i++)
                if (memcmp(&g_array_index(done, uint8_t, i * VSM_IP4_ALEN), a4, VSM_IP4_ALEN) == 0)
                        return;
        ip4_str(a4, a);
        if (!ip4_is_unicast(a4)) {
                skip_add(skipped, "garp %s: not a unicast address", a);
                return;
        }
        g_array_append_vals(done, a4, VSM_IP4_ALEN);

        vsm_writer_init(&w, buf, sizeof(buf));
        k = vsm_arp_gratuitous_write(&w, s->mac, a4);
        if (k < 0) {
                skip_add(skipped, "garp %s: %s", a, g_strerror(-k));
                return;
        }
        frame_add(out, VSM_REPLAY_GARP, &w, g_strdup_printf("garp %s", a));
}

static void build_na(GPtrArray *out, const VsmNicState *s, const uint8_t a6[VSM_IP6_ALEN], GArray *done,
                     GString *skipped) {
        uint8_t buf[REPLAY_FRAME_MAX];
        char a[INET6_ADDRSTRLEN];
        VsmWriter w;
        int k;

        for (guint i = 0; i < done->len; i++)
                if (memcmp(&g_array_index(done, uint8_t, i * VSM_IP6_ALEN), a6, VSM_IP6_ALEN) == 0)
                        return;
        ip6_str(a6, a);
        if (memcmp(a6, ip6_any, VSM_IP6_ALEN) == 0 || vsm_ip6_is_multicast(a6)) {
                skip_add(skipped, "na %s: not a unicast address", a);
                return;
        }
        g_array_append_vals(done, a6, VSM_IP6_ALEN);

        vsm_writer_init(&w, buf, sizeof(buf));
        k = vsm_ndisc_unsolicited_na_write(&w, s->mac, a6, false);
        if (k < 0) {
                skip_add(skipped, "na %s: %s", a, g_strerror(-k));
                return;
        }
        frame_add(out, VSM_REPLAY_UNSOLICITED_NA, &w, g_strdup_printf("unsolicited-na %s", a));
}

/* --- entry points ------------------------------------------------------- */

/* Sources of the reports: RFC 3376 4.2.13 lets a host without an address
 * use 0.0.0.0; MLD must come from a link-local (RFC 3810 5.2.13; NULL:
 * the EUI-64 link-local of the MAC). */
static void report_sources(const VsmNicState *s, uint8_t src4[VSM_IP4_ALEN], const uint8_t **ret_src6) {
        memset(src4, 0, VSM_IP4_ALEN);
        *ret_src6 = NULL;
        if (s->has_lease)
                memcpy(src4, s->lease_address, VSM_IP4_ALEN);
        else if (s->ip4 && s->ip4->len > 0)
                memcpy(src4, &g_array_index(s->ip4, uint8_t, 0), VSM_IP4_ALEN);
        for (guint i = 0; s->ip6 && i < s->ip6->len && !*ret_src6; i++) {
                const uint8_t *a6 = &g_array_index(s->ip6, uint8_t, i * VSM_IP6_ALEN);

                if (ip6_is_link_local(a6))
                        *ret_src6 = a6;
        }
}

GPtrArray *vsm_replay_build(const VsmNicState *s, gint64 real_now_usec, char **ret_skipped) {
        g_autoptr(GPtrArray) out = g_ptr_array_new_with_free_func(frame_free_void);
        g_autoptr(GString) skipped = g_string_new(NULL);
        g_autoptr(GArray) done4 = g_array_new(FALSE, FALSE, 1);
        g_autoptr(GArray) done6 = g_array_new(FALSE, FALSE, 1);
        uint8_t src4[VSM_IP4_ALEN];
        const uint8_t *src6;

        g_return_val_if_fail(s, NULL);
        report_sources(s, src4, &src6);

        build_dhcp(out, s, real_now_usec, skipped);

        build_reports(out, s, &replay_igmp, src4, skipped);
        build_reports(out, s, &replay_mld, src6, skipped);

        /* The lease is owned while it runs (learn.c, the ownership rule). */
        if (vsm_nic_state_lease_valid(s, real_now_usec))
                build_garp(out, s, s->lease_address, done4, skipped);
        else if (s->has_lease)
                skip_add(skipped, "garp of the lease: lease expired");
        for (guint i = 0; s->ip4 && i < s->ip4->len; i++)
                build_garp(out, s, &g_array_index(s->ip4, uint8_t, i * VSM_IP4_ALEN), done4, skipped);
        for (guint i = 0; s->ip6 && i < s->ip6->len; i++)
                build_na(out, s, &g_array_index(s->ip6, uint8_t, i * VSM_IP6_ALEN), done6, skipped);

        if (ret_skipped)
                *ret_skipped = skipped->len > 0 ? g_string_free(g_steal_pointer(&skipped), FALSE) : NULL;
        return g_steal_pointer(&out);
}

GPtrArray *vsm_replay_build_leaves(const VsmNicState *s, const uint8_t host_mac[VSM_ETH_ALEN]) {
        g_autoptr(GPtrArray) out = g_ptr_array_new_with_free_func(frame_free_void);
        g_autoptr(GString) skipped = g_string_new(NULL);
        /* The report families, sending leaves. */
        ReplayFamily igmp_leave = replay_igmp, mld_leave = replay_mld;
        VsmNicState host;

        g_return_val_if_fail(s && host_mac, NULL);
        /* Not as the VM: the VM's groups, spoken by the host.  The writers
         * take the source MAC from the state; a shallow copy, read only. */
        host = *s;
        memcpy(host.mac, host_mac, VSM_ETH_ALEN);
        igmp_leave.kind = VSM_REPLAY_IGMP_LEAVE;
        igmp_leave.leave = TRUE;
        mld_leave.kind = VSM_REPLAY_MLD_LEAVE;
        mld_leave.leave = TRUE;
        /* IPv4 source 0.0.0.0 (RFC 3376 4.2.13); MLD from the link-local
         * derived from host_mac (NULL). */
        build_reports(out, &host, &igmp_leave, ip4_any, skipped);
        build_reports(out, &host, &mld_leave, NULL, skipped);
        return g_steal_pointer(&out);
}

static gboolean state_has_groups(const VsmNicState *s, gboolean is_ip6) {
        for (guint i = 0; s && s->groups && i < s->groups->len; i++)
                if (!!g_array_index(s->groups, VsmStateGroup, i).is_ip6 == !!is_ip6)
                        return TRUE;
        return FALSE;
}

GPtrArray *vsm_replay_build_queries(const VsmNicState *s, const uint8_t src_mac[VSM_ETH_ALEN], gboolean want_ip4,
                                    gboolean want_ip6) {
        g_autoptr(GPtrArray) out = g_ptr_array_new_with_free_func(frame_free_void);
        uint8_t buf[REPLAY_FRAME_MAX];
        VsmWriter w;
        int k;

        g_return_val_if_fail(src_mac, NULL);

        if (want_ip4 || state_has_groups(s, FALSE)) {
                g_autofree VsmIgmpMessage *m = g_new0(VsmIgmpMessage, 1);

                m->type = VSM_IGMP_QUERY;
                m->version = 3;
                m->max_resp_code = REPLAY_IGMP_QUERY_MAX_RESP;
                m->qrv = REPLAY_QUERY_QRV;
                m->qqic = REPLAY_QUERY_QQIC;
                vsm_writer_init(&w, buf, sizeof(buf));
                /* A fixed 12-octet query always fits. */
                k = vsm_igmp_frame_write(&w, src_mac, ip4_any, m);
                g_assert(k == 0);
                frame_add(out, VSM_REPLAY_IGMP_QUERY, &w, g_strdup("igmpv3-query 224.0.0.1"));
        }
        if (want_ip6 || state_has_groups(s, TRUE)) {
                g_autofree VsmMldMessage *m = g_new0(VsmMldMessage, 1);

                m->type = VSM_MLD_QUERY;
                m->version = 2;
                m->max_resp_code = REPLAY_MLD_QUERY_MAX_RESP;
                m->qrv = REPLAY_QUERY_QRV;
                m->qqic = REPLAY_QUERY_QQIC;
                vsm_writer_init(&w, buf, sizeof(buf));
                /* Source NULL: the link-local derived from src_mac. */
                k = vsm_mld_frame_write(&w, src_mac, NULL, m);
                g_assert(k == 0);
                frame_add(out, VSM_REPLAY_MLD_QUERY, &w, g_strdup("mldv2-query ff02::1"));
        }
        return g_steal_pointer(&out);
}

const char *vsm_replay_kind_to_string(VsmReplayKind k) {
        switch (k) {
        case VSM_REPLAY_DHCP_REQUEST:
                return "dhcp-request";
        case VSM_REPLAY_IGMP_REPORT:
                return "igmp-report";
        case VSM_REPLAY_MLD_REPORT:
                return "mld-report";
        case VSM_REPLAY_GARP:
                return "garp";
        case VSM_REPLAY_UNSOLICITED_NA:
                return "unsolicited-na";
        case VSM_REPLAY_IGMP_QUERY:
                return "igmp-query";
        case VSM_REPLAY_MLD_QUERY:
                return "mld-query";
        case VSM_REPLAY_IGMP_LEAVE:
                return "igmp-leave";
        case VSM_REPLAY_MLD_LEAVE:
                return "mld-leave";
        default:
                return NULL;
        }
}

/* See replay.h. */
guint vsm_replay_frames_tag(GPtrArray *frames, uint16_t vid) {
        guint dropped = 0;

        for (guint i = frames->len; i > 0; i--) {
                VsmReplayFrame *f = frames->pdata[i - 1];
                uint8_t buf[VSM_ETH_VLAN_FRAME_MAX];
                gsize len;
                const uint8_t *data = g_bytes_get_data(f->frame, &len);
                VsmWriter w;

                vsm_writer_init(&w, buf, sizeof(buf));
                if (vsm_eth_vlan_tag_write(&w, data, len, vid, 0) < 0) {
                        g_ptr_array_remove_index(frames, i - 1);
                        dropped++;
                        continue;
                }
                g_bytes_unref(f->frame);
                f->frame = g_bytes_new(buf, w.len);
        }
        return dropped;
}
