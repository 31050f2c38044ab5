/* Frame builders shared by the learner unit tests (see test-frames.h). */
#include "test-frames.h"

#include <arpa/inet.h>
#include <string.h>

#include "proto/inet.h"
#include "test-util.h"

const uint8_t vsm_test_vm_mac[VSM_ETH_ALEN] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };
const uint8_t vsm_test_server_mac[VSM_ETH_ALEN] = { 0x02, 0x00, 0x00, 0x00, 0x00, 0x99 };
const uint8_t vsm_test_vm_ip[4] = { 192, 0, 2, 10 };
const uint8_t vsm_test_server_ip[4] = { 192, 0, 2, 1 };

void vsm_test_dhcp_frame(VsmTestFrame *f, const uint8_t eth_src[6], const uint8_t eth_dst[6], bool from_client,
                         const VsmDhcpMessage *m) {
        VsmWriter w;
        VsmEthHeader eth = { .ethertype = VSM_ETH_P_IPV4 };
        VsmIp4Header ip = { .ttl = 64, .protocol = VSM_IP_PROTO_UDP };
        size_t ip_off, udp_off;

        memcpy(eth.src, eth_src, 6);
        memcpy(eth.dst, eth_dst, 6);
        if (from_client) {
                memset(ip.dst, 0xff, 4);
        } else {
                memcpy(ip.src, vsm_test_server_ip, 4);
                memcpy(ip.dst, vsm_test_vm_ip, 4);
        }
        vsm_writer_init(&w, f->buf, sizeof(f->buf));
        g_assert_cmpint(vsm_eth_header_write(&w, &eth), ==, 0);
        g_assert_cmpint(vsm_ip4_header_begin(&w, &ip, &ip_off), ==, 0);
        g_assert_cmpint(vsm_udp_header_begin(&w, from_client ? 68 : 67, from_client ? 67 : 68, &udp_off), ==, 0);
        g_assert_cmpint(vsm_dhcp_message_write(&w, m), ==, 0);
        g_assert_cmpint(vsm_udp4_header_finish(&w, ip.src, ip.dst, udp_off), ==, 0);
        g_assert_cmpint(vsm_ip4_header_finish(&w, ip_off), ==, 0);
        f->len = w.len;
}

void vsm_test_dhcp_msg_init(VsmDhcpMessage *m, uint8_t op, uint8_t type, const uint8_t chaddr[6]) {
        memset(m, 0, sizeof(*m));
        m->op = op;
        m->htype = VSM_DHCP_HTYPE_ETHER;
        m->hlen = 6;
        m->xid = 0x12345678;
        memcpy(m->chaddr, chaddr, 6);
        m->message_type = type;
}

void vsm_test_client_frame(VsmTestFrame *f, uint8_t type, const char *cid_hex, const char *hostname,
                           const uint8_t *req_ip) {
        g_autofree VsmDhcpMessage *m = g_new0(VsmDhcpMessage, 1);

        vsm_test_dhcp_msg_init(m, VSM_DHCP_OP_REQUEST, type, vsm_test_vm_mac);
        if (cid_hex) {
                g_autoptr(GBytes) b = vsm_test_hex(cid_hex);
                gsize n;
                const uint8_t *p = g_bytes_get_data(b, &n);

                m->has_client_id = true;
                m->client_id_len = (uint8_t) n;
                if (n)
                        memcpy(m->client_id, p, n);
        }
        if (hostname) {
                m->has_hostname = true;
                m->hostname_len = (uint8_t) strlen(hostname);
                memcpy(m->hostname, hostname, m->hostname_len);
        }
        if (req_ip) {
                m->has_requested_ip = true;
                memcpy(m->requested_ip, req_ip, 4);
        }
        vsm_test_dhcp_frame(f, vsm_test_vm_mac, vsm_eth_addr_broadcast, true, m);
}

void vsm_test_server_frame(VsmTestFrame *f, uint8_t type, const uint8_t chaddr[6], uint32_t lease, uint32_t t1,
                           uint32_t t2) {
        g_autofree VsmDhcpMessage *m = g_new0(VsmDhcpMessage, 1);

        vsm_test_dhcp_msg_init(m, VSM_DHCP_OP_REPLY, type, chaddr);
        if (type == VSM_DHCP_ACK) {
                memcpy(m->yiaddr, vsm_test_vm_ip, 4);
                m->has_lease_time = true;
                m->lease_time = lease;
                m->has_t1 = t1 != 0;
                m->t1 = t1;
                m->has_t2 = t2 != 0;
                m->t2 = t2;
        }
        m->has_server_id = true;
        memcpy(m->server_id, vsm_test_server_ip, 4);
        vsm_test_dhcp_frame(f, vsm_test_server_mac, chaddr, false, m);
}

void vsm_test_igmp_frame(VsmTestFrame *f, const VsmIgmpMessage *m) {
        VsmWriter w;

        vsm_writer_init(&w, f->buf, sizeof(f->buf));
        g_assert_cmpint(vsm_igmp_frame_write(&w, vsm_test_vm_mac, vsm_test_vm_ip, m), ==, 0);
        f->len = w.len;
}

void vsm_test_mld_frame(VsmTestFrame *f, const VsmMldMessage *m) {
        VsmWriter w;
        uint8_t ll[16];

        vsm_ip6_link_local_from_mac(vsm_test_vm_mac, ll);
        vsm_writer_init(&w, f->buf, sizeof(f->buf));
        g_assert_cmpint(vsm_mld_frame_write(&w, vsm_test_vm_mac, ll, m), ==, 0);
        f->len = w.len;
}

void vsm_test_record_frame(VsmTestFrame *f, bool ip6, const char *group, uint8_t type, const char *const *srcs) {
        guint n = srcs ? g_strv_length((char **) srcs) : 0;

        if (ip6) {
                g_autofree VsmMldMessage *m = g_new0(VsmMldMessage, 1);

                m->type = VSM_MLD_V2_REPORT;
                m->version = 2;
                m->n_records = 1;
                m->records[0].type = type;
                g_assert_cmpint(inet_pton(AF_INET6, group, m->records[0].group), ==, 1);
                m->records[0].n_sources = (uint16_t) n;
                m->n_sources = (uint16_t) n;
                for (guint i = 0; i < n; i++)
                        g_assert_cmpint(inet_pton(AF_INET6, srcs[i], m->sources[i]), ==, 1);
                vsm_test_mld_frame(f, m);
        } else {
                g_autofree VsmIgmpMessage *m = g_new0(VsmIgmpMessage, 1);

                m->type = VSM_IGMP_V3_REPORT;
                m->version = 3;
                m->n_records = 1;
                m->records[0].type = type;
                g_assert_cmpint(inet_pton(AF_INET, group, m->records[0].group), ==, 1);
                m->records[0].n_sources = (uint16_t) n;
                m->n_sources = (uint16_t) n;
                for (guint i = 0; i < n; i++)
                        g_assert_cmpint(inet_pton(AF_INET, srcs[i], m->sources[i]), ==, 1);
                vsm_test_igmp_frame(f, m);
        }
}
