/* Unit tests for src/proto/dhcp.c: DHCPv4 decoding and the INIT-REBOOT
 * DHCPREQUEST replay frame.
 *
 * vectors/dhcp-init-reboot*.hex are what vsm_dhcp_init_reboot_write()
 * builds; tshark 4.0 (text2pcap + tshark -V, ip/udp checksum checks on)
 * reads them as "DHCP Request" from 0.0.0.0:68 to 255.255.255.255:67, IP
 * and UDP checksums [correct], Bootp flags 0x0000, chaddr
 * 52:54:00:12:34:56, options 53 (Request), 61 (7 octets, type Ethernet),
 * 50 (192.0.2.10), 55, End; the no-cid vector has no option 61; no expert
 * info.  The other dhcp-*.hex vectors were built independently in Python
 * (README-inet.md) and tshark decodes them as the DHCP messages named.
 */
#include <errno.h>
#include <glib.h>
#include <stdint.h>
#include <string.h>

#include "proto/dhcp.h"
#include "test-util.h"

#define VM_MAC_HEX "525400123456"
#define CID_HEX "01" VM_MAC_HEX

static const uint8_t *bytes_data(GBytes *b, size_t *ret_len) {
        gsize len;
        const uint8_t *p = g_bytes_get_data(b, &len);

        *ret_len = len;
        return p;
}

/* ---- vectors ------------------------------------------------------ */

typedef struct {
        const char *file;
        uint8_t op;
        uint8_t type;
        uint32_t xid;
        const char *cid;               /* hex, NULL if absent */
        const char *requested_ip;      /* hex, NULL if absent */
        const char *server_id;
        int64_t lease, t1, t2;         /* -1 if absent */
        const char *hostname;
        bool udp_ok;
        const char *ciaddr, *yiaddr;
} DhcpVector;

static const DhcpVector dhcp_vectors[] = {
        { "vectors/dhcp-discover.hex", 1, VSM_DHCP_DISCOVER, 0x11223344, CID_HEX, NULL, NULL, -1, -1, -1, "vm1", true,
          "00000000", "00000000" },
        { "vectors/dhcp-ack.hex", 2, VSM_DHCP_ACK, 0x11223344, CID_HEX, NULL, "c0000201", 3600, 1800, 3150, NULL, true,
          "00000000", "c000020a" },
        { "vectors/dhcp-request-overload.hex", 1, VSM_DHCP_REQUEST, 0x55667788, CID_HEX, "c000020a", NULL, -1, -1, -1,
          "vm-overload", true, "00000000", "00000000" },
        { "vectors/dhcp-request-partial-csum.hex", 1, VSM_DHCP_REQUEST, 0x99aabbcc, CID_HEX, NULL, NULL, -1, -1, -1,
          NULL, false, "c000020a", "00000000" },
        { "vectors/dhcp-inform-no-cid.hex", 1, VSM_DHCP_INFORM, 0x01020304, NULL, NULL, NULL, -1, -1, -1, NULL, true,
          "c000020a", "00000000" },
        { "vectors/dhcp-request-empty-cid.hex", 1, VSM_DHCP_REQUEST, 0x0a0b0c0d, "", "c000020a", NULL, -1, -1, -1, NULL,
          true, "00000000", "00000000" },
        { "vectors/dhcp-init-reboot.hex", 1, VSM_DHCP_REQUEST, 0x3903f326, CID_HEX, "c000020a", NULL, -1, -1, -1, NULL,
          true, "00000000", "00000000" },
        { "vectors/dhcp-init-reboot-no-cid.hex", 1, VSM_DHCP_REQUEST, 0x12345678, NULL, "c000020a", NULL, -1, -1, -1,
          NULL, true, "00000000", "00000000" },
};

static void check_vector(const DhcpVector *c, const VsmDhcpMessage *m) {
        g_assert_cmpuint(m->op, ==, c->op);
        g_assert_cmpuint(m->htype, ==, 1);
        g_assert_cmpuint(m->hlen, ==, 6);
        g_assert_cmpuint(m->message_type, ==, c->type);
        g_assert_cmphex(m->xid, ==, c->xid);
        vsm_assert_hex(m->chaddr, 16, VM_MAC_HEX "00000000000000000000");
        vsm_assert_hex(m->ciaddr, 4, c->ciaddr);
        vsm_assert_hex(m->yiaddr, 4, c->yiaddr);
        g_assert_cmpint(m->has_client_id, ==, c->cid != NULL);
        if (c->cid && c->cid[0] == '\0')
                g_assert_cmpuint(m->client_id_len, ==, 0);
        else if (c->cid)
                vsm_assert_hex(m->client_id, m->client_id_len, c->cid);
        g_assert_cmpint(m->has_requested_ip, ==, c->requested_ip != NULL);
        if (c->requested_ip)
                vsm_assert_hex(m->requested_ip, 4, c->requested_ip);
        g_assert_cmpint(m->has_server_id, ==, c->server_id != NULL);
        if (c->server_id)
                vsm_assert_hex(m->server_id, 4, c->server_id);
        g_assert_cmpint(m->has_lease_time, ==, c->lease >= 0);
        if (c->lease >= 0)
                g_assert_cmpuint(m->lease_time, ==, c->lease);
        g_assert_cmpint(m->has_t1, ==, c->t1 >= 0);
        if (c->t1 >= 0)
                g_assert_cmpuint(m->t1, ==, c->t1);
        g_assert_cmpint(m->has_t2, ==, c->t2 >= 0);
        if (c->t2 >= 0)
                g_assert_cmpuint(m->t2, ==, c->t2);
        g_assert_cmpint(m->has_hostname, ==, c->hostname != NULL);
        if (c->hostname)
                g_assert_cmpstr(m->hostname, ==, c->hostname);
}

static void test_vectors(void) {
        for (size_t i = 0; i < G_N_ELEMENTS(dhcp_vectors); i++) {
                const DhcpVector *c = &dhcp_vectors[i];
                g_autoptr(GBytes) b = vsm_test_hex_file(c->file);
                size_t len;
                const uint8_t *data = bytes_data(b, &len);
                VsmDhcpFrame f;
                VsmDhcpMessage again;
                uint8_t buf[VSM_ETH_FRAME_MAX];
                VsmReader r;
                VsmWriter w;

                g_test_message("dhcp %s", c->file);
                vsm_reader_init(&r, data, len);
                g_assert_cmpint(vsm_dhcp_frame_parse(&r, &f), ==, 0);
                g_assert_cmpint(f.udp_checksum_ok, ==, c->udp_ok);
                check_vector(c, &f.msg);

                /* Round trip through the encoder. */
                vsm_writer_init(&w, buf, sizeof(buf));
                g_assert_cmpint(vsm_dhcp_message_write(&w, &f.msg), ==, 0);
                g_assert_cmpuint(w.len, >=, VSM_DHCP_BOOTP_MIN);
                vsm_reader_init(&r, buf, w.len);
                g_assert_cmpint(vsm_dhcp_message_parse(&r, &again), ==, 0);
                check_vector(c, &again);
                g_assert_cmpuint(again.overload, ==, 0);
        }
}

static void test_overload_and_concat(void) {
        g_autoptr(GBytes) b = vsm_test_hex_file("vectors/dhcp-request-overload.hex");
        size_t len;
        const uint8_t *data = bytes_data(b, &len);
        VsmDhcpFrame f;
        VsmReader r;

        vsm_reader_init(&r, data, len);
        g_assert_cmpint(vsm_dhcp_frame_parse(&r, &f), ==, 0);
        g_assert_cmpuint(f.msg.overload, ==, 3);
        /* Two instances of option 61 (3 + 4 octets), RFC 3396. */
        g_assert_cmpuint(f.msg.client_id_len, ==, 7);
        vsm_assert_hex(f.msg.client_id, 7, CID_HEX);
}

static void test_frame_headers(void) {
        g_autoptr(GBytes) b = vsm_test_hex_file("vectors/dhcp-ack.hex");
        size_t len;
        const uint8_t *data = bytes_data(b, &len);
        VsmDhcpFrame f;
        VsmReader r;

        vsm_reader_init(&r, data, len);
        g_assert_cmpint(vsm_dhcp_frame_parse(&r, &f), ==, 0);
        g_assert_cmpuint(vsm_reader_remaining(&r), ==, 0);
        vsm_assert_hex(f.eth.dst, 6, VM_MAC_HEX);
        vsm_assert_hex(f.ip.src, 4, "c0000201");
        vsm_assert_hex(f.ip.dst, 4, "c000020a");
        g_assert_cmpuint(f.udp.sport, ==, 67);
        g_assert_cmpuint(f.udp.dport, ==, 68);
        g_assert_cmpstr(vsm_dhcp_message_type_to_string(f.msg.message_type), ==, "ack");
        g_assert_null(vsm_dhcp_message_type_to_string(9));
        g_assert_cmpstr(vsm_dhcp_message_type_to_string(VSM_DHCP_LEASEACTIVE), ==, "leaseactive");
}

/* ---- building the replay ------------------------------------------ */

static void test_init_reboot(void) {
        static const struct {
                const char *file;
                bool cid;
                uint32_t xid;
                uint8_t n_params;
        } cases[] = {
                { "vectors/dhcp-init-reboot.hex", true, 0x3903f326, 4 },
                { "vectors/dhcp-init-reboot-no-cid.hex", false, 0x12345678, 0 },
        };

        for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
                g_autoptr(GBytes) want = vsm_test_hex_file(cases[i].file);
                size_t want_len;
                const uint8_t *want_data = bytes_data(want, &want_len);
                VsmDhcpInitReboot req = {
                        .xid = cases[i].xid,
                        .requested_ip = { 192, 0, 2, 10 },
                        .has_client_id = cases[i].cid,
                        .client_id_len = cases[i].cid ? 7 : 0,
                        .client_id = { 0x01, 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 },
                        .parameter_list_len = cases[i].n_params,
                        .parameter_list = { 1, 3, 6, 15 },
                };
                uint8_t buf[VSM_ETH_FRAME_MAX];
                VsmDhcpFrame f;
                VsmWriter w;
                VsmReader r;

                g_assert_cmpint(vsm_mac_parse("52:54:00:12:34:56", req.mac), ==, 0);
                vsm_writer_init(&w, buf, sizeof(buf));
                g_assert_cmpint(vsm_dhcp_init_reboot_write(&w, &req), ==, 0);
                g_assert_cmpmem(buf, w.len, want_data, want_len);
                /* 14 + 20 + 8 + 300. */
                g_assert_cmpuint(w.len, ==, 342);

                vsm_reader_init(&r, buf, w.len);
                g_assert_cmpint(vsm_dhcp_frame_parse(&r, &f), ==, 0);
                g_assert_true(f.udp_checksum_ok);
                g_assert_cmphex(f.udp.checksum, !=, 0);
                vsm_assert_hex(f.eth.dst, 6, "ffffffffffff");
                vsm_assert_hex(f.eth.src, 6, VM_MAC_HEX);
                vsm_assert_hex(f.ip.src, 4, "00000000");
                vsm_assert_hex(f.ip.dst, 4, "ffffffff");
                g_assert_cmpuint(f.udp.sport, ==, 68);
                g_assert_cmpuint(f.udp.dport, ==, 67);
                g_assert_cmpuint(f.msg.flags, ==, 0);
                vsm_assert_hex(f.msg.ciaddr, 4, "00000000");
                g_assert_false(f.msg.has_server_id);
                g_assert_cmpint(f.msg.has_client_id, ==, cases[i].cid);
                g_assert_cmpint(f.msg.has_parameter_list, ==, cases[i].n_params > 0);
                g_assert_cmpuint(f.msg.parameter_list_len, ==, cases[i].n_params);

                /* A full writer at any size: -ENOBUFS, nothing written. */
                for (size_t cap = 0; cap < w.len; cap += 7) {
                        uint8_t small[VSM_ETH_FRAME_MAX];
                        VsmWriter sw;

                        vsm_writer_init(&sw, small, cap);
                        g_assert_cmpint(vsm_dhcp_init_reboot_write(&sw, &req), ==, -ENOBUFS);
                        g_assert_cmpuint(sw.len, ==, 0);
                }
        }
}

static void test_empty_vs_absent_cid(void) {
        VsmDhcpInitReboot req = { .requested_ip = { 10, 0, 0, 5 }, .has_client_id = true, .client_id_len = 0 };
        uint8_t buf[VSM_ETH_FRAME_MAX];
        VsmDhcpFrame f;
        VsmWriter w;
        VsmReader r;

        vsm_writer_init(&w, buf, sizeof(buf));
        g_assert_cmpint(vsm_dhcp_init_reboot_write(&w, &req), ==, 0);
        vsm_reader_init(&r, buf, w.len);
        g_assert_cmpint(vsm_dhcp_frame_parse(&r, &f), ==, 0);
        g_assert_true(f.msg.has_client_id);
        g_assert_cmpuint(f.msg.client_id_len, ==, 0);

        req.has_client_id = false;
        req.client_id_len = 5;         /* ignored without has_client_id */
        vsm_writer_init(&w, buf, sizeof(buf));
        g_assert_cmpint(vsm_dhcp_init_reboot_write(&w, &req), ==, 0);
        vsm_reader_init(&r, buf, w.len);
        g_assert_cmpint(vsm_dhcp_frame_parse(&r, &f), ==, 0);
        g_assert_false(f.msg.has_client_id);
}

static void test_write_enobufs(void) {
        VsmDhcpMessage m = { .op = 2, .message_type = VSM_DHCP_ACK, .has_hostname = true, .hostname_len = 200 };
        uint8_t buf[600];
        VsmWriter w;

        memset(m.hostname, 'a', 200);
        vsm_writer_init(&w, buf, 300);
        g_assert_cmpint(vsm_dhcp_message_write(&w, &m), ==, -ENOBUFS);
        g_assert_cmpuint(w.len, ==, 0);
        vsm_writer_init(&w, buf, sizeof(buf));
        g_assert_cmpint(vsm_dhcp_message_write(&w, &m), ==, 0);
        g_assert_cmpuint(w.len, ==, 240 + 3 + 202 + 1);
}

/* ---- error paths -------------------------------------------------- */

/* A BOOTREQUEST: 236 fixed octets, magic, then opts; file and sname
 * fields from hex (zero-padded). */
static GBytes *make_msg(const char *opts, const char *file, const char *sname) {
        g_autoptr(GBytes) o = vsm_test_hex(opts);
        g_autoptr(GBytes) fi = vsm_test_hex(file ? file : "");
        g_autoptr(GBytes) sn = vsm_test_hex(sname ? sname : "");
        g_autoptr(GByteArray) a = g_byte_array_new();
        uint8_t fixed[VSM_DHCP_FIXED_LEN] = { 1, 1, 6, 0, 0xde, 0xad, 0xbe, 0xef };
        static const uint8_t magic[4] = { 0x63, 0x82, 0x53, 0x63 };

        g_assert_cmpuint(g_bytes_get_size(fi), <=, VSM_DHCP_FILE_LEN);
        g_assert_cmpuint(g_bytes_get_size(sn), <=, VSM_DHCP_SNAME_LEN);
        if (g_bytes_get_size(sn) > 0)
                memcpy(fixed + 44, g_bytes_get_data(sn, NULL), g_bytes_get_size(sn));
        if (g_bytes_get_size(fi) > 0)
                memcpy(fixed + 108, g_bytes_get_data(fi, NULL), g_bytes_get_size(fi));
        g_byte_array_append(a, fixed, sizeof(fixed));
        g_byte_array_append(a, magic, 4);
        g_byte_array_append(a, g_bytes_get_data(o, NULL), g_bytes_get_size(o));
        return g_byte_array_free_to_bytes(g_steal_pointer(&a));
}

typedef struct {
        const char *name;
        const char *opts, *file, *sname;
        int expect;
} OptCase;

static const OptCase opt_cases[] = {
        { "minimal", "ff", NULL, NULL, 0 },
        { "pads then end, trailing junk", "000000ff0102", NULL, NULL, 0 },
        { "no options at all", "", NULL, NULL, -EBADMSG },
        { "no END", "350103", NULL, NULL, -EBADMSG },
        { "only pads", "000000", NULL, NULL, -EBADMSG },
        { "length octet missing", "35", NULL, NULL, -EBADMSG },
        { "length past end", "3d0501020304", NULL, NULL, -EBADMSG },
        { "message type length 2", "35020301ff", NULL, NULL, -EBADMSG },
        { "message type length 0", "3500ff", NULL, NULL, -EBADMSG },
        { "message type 0", "350100ff", NULL, NULL, -EBADMSG },
        { "requested ip length 3", "3203c00002ff", NULL, NULL, -EBADMSG },
        { "requested ip twice (8 octets)", "3204c000020a3204c000020aff", NULL, NULL, -EBADMSG },
        { "requested ip split 2+2", "3202c0003202020aff", NULL, NULL, 0 },
        { "lease time length 5", "33050000000000ff", NULL, NULL, -EBADMSG },
        { "server id length 0", "3600ff", NULL, NULL, -EBADMSG },
        { "T1 length 2", "3a020000ff", NULL, NULL, -EBADMSG },
        { "T2 length 8", "3b080000000000000000ff", NULL, NULL, -EBADMSG },
        { "unknown option skipped", "fe03010203ff", NULL, NULL, 0 },
        { "overload 0", "340100ff", NULL, NULL, -EBADMSG },
        { "overload 4", "340104ff", NULL, NULL, -EBADMSG },
        { "overload length 2", "34020101ff", NULL, NULL, -EBADMSG },
        { "overload 1, file ends without END", "340101ff", "350103", NULL, 0 },
        { "overload 1, option truncated in file", "340101ff", "3dff", NULL, -EBADMSG },
        { "overload 2, sname all PAD", "340102ff", NULL, NULL, 0 },
        { "overload in file", "340101ff", "340101ff", NULL, -EBADMSG },
        { "overload not set: file not walked", "ff", "3dff", NULL, 0 },
        { "hostname 255 + 1", NULL, NULL, NULL, -EMSGSIZE },      /* built below */
        { "client id 255 in two parts", NULL, NULL, NULL, 0 },      /* built below */
        { "257 options", NULL, NULL, NULL, -EMSGSIZE },             /* built below */
        { "256 options", NULL, NULL, NULL, 0 },                     /* built below */
};

static char *opts_for(const char *name) {
        GString *s = g_string_new(NULL);

        if (strcmp(name, "hostname 255 + 1") == 0) {
                g_string_append(s, "0cff");
                for (int i = 0; i < 255; i++)
                        g_string_append(s, "61");
                g_string_append(s, "0c0162ff");
        } else if (strcmp(name, "client id 255 in two parts") == 0) {
                g_string_append(s, "3d80");
                for (int i = 0; i < 128; i++)
                        g_string_append(s, "01");
                g_string_append(s, "3d7f");
                for (int i = 0; i < 127; i++)
                        g_string_append(s, "02");
                g_string_append(s, "ff");
        } else if (strcmp(name, "257 options") == 0 || strcmp(name, "256 options") == 0) {
                int n = name[2] == '7' ? 257 : 256;

                for (int i = 0; i < n; i++)
                        g_string_append(s, "0100");
                g_string_append(s, "ff");
        }
        return g_string_free(s, FALSE);
}

static void test_option_errors(void) {
        for (size_t i = 0; i < G_N_ELEMENTS(opt_cases); i++) {
                const OptCase *c = &opt_cases[i];
                g_autofree char *built = c->opts ? NULL : opts_for(c->name);
                g_autoptr(GBytes) b = make_msg(c->opts ? c->opts : built, c->file, c->sname);
                size_t len;
                const uint8_t *data = bytes_data(b, &len);
                VsmDhcpMessage m;
                VsmReader r;
                int k;

                g_test_message("dhcp options: %s", c->name);
                memset(&m, 0xa5, sizeof(m));
                vsm_reader_init(&r, data, len);
                k = vsm_dhcp_message_parse(&r, &m);
                g_assert_cmpint(k, ==, c->expect);
                if (k < 0) {
                        g_assert_cmpuint(r.off, ==, 0);
                        /* ret_ untouched on failure. */
                        g_assert_cmphex(m.op, ==, 0xa5);
                        continue;
                }
                g_assert_cmpuint(vsm_reader_remaining(&r), ==, 0);
                if (strcmp(c->name, "requested ip split 2+2") == 0) {
                        g_assert_true(m.has_requested_ip);
                        vsm_assert_hex(m.requested_ip, 4, "c000020a");
                }
                if (strcmp(c->name, "client id 255 in two parts") == 0) {
                        g_assert_cmpuint(m.client_id_len, ==, 255);
                        g_assert_cmphex(m.client_id[127], ==, 1);
                        g_assert_cmphex(m.client_id[128], ==, 2);
                }
                if (strcmp(c->name, "overload 1, file ends without END") == 0)
                        g_assert_cmpuint(m.message_type, ==, VSM_DHCP_REQUEST);
        }
}

static void test_fixed_errors(void) {
        g_autoptr(GBytes) b = make_msg("ff", NULL, NULL);
        size_t len;
        const uint8_t *data = bytes_data(b, &len);
        uint8_t copy[512];
        VsmDhcpMessage m;
        VsmReader r;

        /* Truncated anywhere before the options. */
        for (size_t n = 0; n < VSM_DHCP_FIXED_LEN + 4; n++) {
                vsm_reader_init(&r, data, n);
                g_assert_cmpint(vsm_dhcp_message_parse(&r, &m), ==, -EBADMSG);
        }
        /* hlen 17. */
        memcpy(copy, data, len);
        copy[2] = 17;
        vsm_reader_init(&r, copy, len);
        g_assert_cmpint(vsm_dhcp_message_parse(&r, &m), ==, -EBADMSG);
        copy[2] = 16;
        vsm_reader_init(&r, copy, len);
        g_assert_cmpint(vsm_dhcp_message_parse(&r, &m), ==, 0);
        /* Bad magic cookie. */
        memcpy(copy, data, len);
        copy[VSM_DHCP_FIXED_LEN + 3] = 0x64;
        vsm_reader_init(&r, copy, len);
        g_assert_cmpint(vsm_dhcp_message_parse(&r, &m), ==, -EBADMSG);
}

static void test_frame_errors(void) {
        static const struct {
                const char *file;
                size_t off;            /* 0: no change */
                uint8_t value;
                size_t truncate;
        } cases[] = {
                { "vectors/arp-reply.hex", 0, 0, 0 },                   /* not IPv4 */
                { "vectors/igmp-v2-report.hex", 0, 0, 0 },              /* not UDP */
                { "vectors/dhcp-ack.hex", 14 + 20 + 3, 53, 0 },          /* dport 53 */
                { "vectors/dhcp-ack.hex", 14 + 20 + 1, 53, 0 },          /* sport 53 */
                { "vectors/dhcp-ack.hex", 14 + 20 + 5, 7, 0 },           /* UDP length 7 */
                { "vectors/dhcp-ack.hex", 0, 0, 14 + 20 + 8 + 200 },     /* cut: IP total length past frame */
                { "vectors/dhcp-ack.hex", 0, 0, 13 },                   /* no Ethernet header */
        };

        for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
                g_autoptr(GBytes) b = vsm_test_hex_file(cases[i].file);
                size_t len;
                const uint8_t *data = bytes_data(b, &len);
                uint8_t copy[VSM_ETH_FRAME_MAX];
                VsmDhcpFrame f;
                VsmReader r;

                memcpy(copy, data, len);
                if (cases[i].off)
                        copy[cases[i].off] = cases[i].value;
                vsm_reader_init(&r, copy, cases[i].truncate ? cases[i].truncate : len);
                g_assert_cmpint(vsm_dhcp_frame_parse(&r, &f), ==, -EBADMSG);
                g_assert_cmpuint(r.off, ==, 0);
        }
}

int main(int argc, char **argv) {
        g_test_init(&argc, &argv, NULL);

        g_test_add_func("/proto/dhcp/vectors", test_vectors);
        g_test_add_func("/proto/dhcp/overload-and-concat", test_overload_and_concat);
        g_test_add_func("/proto/dhcp/frame-headers", test_frame_headers);
        g_test_add_func("/proto/dhcp/init-reboot", test_init_reboot);
        g_test_add_func("/proto/dhcp/empty-vs-absent-cid", test_empty_vs_absent_cid);
        g_test_add_func("/proto/dhcp/write-enobufs", test_write_enobufs);
        g_test_add_func("/proto/dhcp/option-errors", test_option_errors);
        g_test_add_func("/proto/dhcp/fixed-errors", test_fixed_errors);
        g_test_add_func("/proto/dhcp/frame-errors", test_frame_errors);

        return g_test_run();
}
