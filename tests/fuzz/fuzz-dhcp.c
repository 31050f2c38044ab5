/* Fuzz target for the DHCPv4 decoder (src/proto/dhcp.c, RFC 2131/2132,
 * RFC 3396).
 *
 * The input is decoded twice: as a BOOTP/DHCP message (the UDP payload,
 * where the fuzzer reaches the option walk without having to solve
 * checksums) and as a full Ethernet frame.  Every accepted message must
 * re-encode and decode back to the same fields; from an accepted frame an
 * INIT-REBOOT request is built and must carry the learned client-id and
 * address exactly.  Any violation aborts.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/dhcp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_rc(int k) {
        if (k != 0 && k != -EBADMSG && k != -EMSGSIZE)
                abort();
}

static void assert_same(const VsmDhcpMessage *a, const VsmDhcpMessage *b) {
        if (a->op != b->op || a->htype != b->htype || a->hlen != b->hlen || a->hops != b->hops ||
            a->xid != b->xid || a->secs != b->secs || a->flags != b->flags ||
            memcmp(a->ciaddr, b->ciaddr, 4) || memcmp(a->yiaddr, b->yiaddr, 4) ||
            memcmp(a->siaddr, b->siaddr, 4) || memcmp(a->giaddr, b->giaddr, 4) ||
            memcmp(a->chaddr, b->chaddr, VSM_DHCP_CHADDR_LEN) || a->message_type != b->message_type)
                abort();
        if (a->has_client_id != b->has_client_id || a->client_id_len != b->client_id_len ||
            memcmp(a->client_id, b->client_id, a->client_id_len))
                abort();
        if (a->has_requested_ip != b->has_requested_ip ||
            (a->has_requested_ip && memcmp(a->requested_ip, b->requested_ip, 4)))
                abort();
        if (a->has_server_id != b->has_server_id || (a->has_server_id && memcmp(a->server_id, b->server_id, 4)))
                abort();
        if (a->has_lease_time != b->has_lease_time || (a->has_lease_time && a->lease_time != b->lease_time) ||
            a->has_t1 != b->has_t1 || (a->has_t1 && a->t1 != b->t1) ||
            a->has_t2 != b->has_t2 || (a->has_t2 && a->t2 != b->t2))
                abort();
        if (a->has_hostname != b->has_hostname || a->hostname_len != b->hostname_len ||
            memcmp(a->hostname, b->hostname, a->hostname_len) || b->hostname[b->hostname_len] != '\0')
                abort();
        if (a->has_parameter_list != b->has_parameter_list || a->parameter_list_len != b->parameter_list_len ||
            memcmp(a->parameter_list, b->parameter_list, a->parameter_list_len))
                abort();
}

static void check_message(const VsmDhcpMessage *m) {
        static uint8_t buf[2048];
        VsmDhcpMessage again;
        VsmWriter w;
        VsmReader r;

        if (m->overload > 3 || (m->message_type == VSM_DHCP_NONE) != (m->message_type == 0))
                abort();
        vsm_writer_init(&w, buf, sizeof(buf));
        if (vsm_dhcp_message_write(&w, m) != 0 || w.len < VSM_DHCP_BOOTP_MIN)
                abort();
        vsm_reader_init(&r, buf, w.len);
        if (vsm_dhcp_message_parse(&r, &again) != 0 || again.overload != 0)
                abort();
        assert_same(m, &again);
}

static void check_replay(const VsmDhcpMessage *m) {
        static VsmDhcpInitReboot req;
        static VsmDhcpFrame f;
        static uint8_t buf[VSM_ETH_FRAME_MAX];
        VsmWriter w;
        VsmReader r;

        memset(&req, 0, sizeof(req));
        memcpy(req.mac, m->chaddr, VSM_ETH_ALEN);
        req.xid = m->xid;
        memcpy(req.requested_ip, m->has_requested_ip ? m->requested_ip : m->yiaddr, 4);
        req.has_client_id = m->has_client_id;
        req.client_id_len = m->client_id_len;
        memcpy(req.client_id, m->client_id, m->client_id_len);
        req.parameter_list_len = m->parameter_list_len;
        memcpy(req.parameter_list, m->parameter_list, m->parameter_list_len);

        vsm_writer_init(&w, buf, sizeof(buf));
        if (vsm_dhcp_init_reboot_write(&w, &req) != 0)
                abort();
        vsm_reader_init(&r, buf, w.len);
        if (vsm_dhcp_frame_parse(&r, &f) != 0 || !f.udp_checksum_ok)
                abort();
        if (f.msg.message_type != VSM_DHCP_REQUEST || f.msg.flags != 0 || memcmp(f.msg.ciaddr, "\0\0\0\0", 4) ||
            !f.msg.has_requested_ip || memcmp(f.msg.requested_ip, req.requested_ip, 4) ||
            f.msg.has_client_id != m->has_client_id || f.msg.client_id_len != m->client_id_len ||
            memcmp(f.msg.client_id, m->client_id, m->client_id_len) || memcmp(f.eth.src, m->chaddr, 6))
                abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        static VsmDhcpMessage m;
        static VsmDhcpFrame f;
        VsmReader r;
        int k;

        if (size > 4 * VSM_ETH_FRAME_MAX)
                return 0;

        vsm_reader_init(&r, data, size);
        k = vsm_dhcp_message_parse(&r, &m);
        check_rc(k);
        if (k == 0) {
                if (vsm_reader_remaining(&r) != 0)
                        abort();
                check_message(&m);
        } else if (r.off != 0) {
                abort();
        }

        vsm_reader_init(&r, data, size);
        k = vsm_dhcp_frame_parse(&r, &f);
        check_rc(k);
        if (k == 0) {
                check_message(&f.msg);
                check_replay(&f.msg);
        } else if (r.off != 0) {
                abort();
        }
        return 0;
}
