/* Unit tests for src/io/qbgnl.c: libvirt's 802.1Qbg netlink requests as
 * lldpad receives them, and the replies and notices lldpad sends.
 *
 * The request vectors tests/data/vectors/qbgnl-*.hex are built by hand
 * after libvirt's virNetDevVPortProfileOpSetLink (SETLINK) and
 * virNetlinkDumpLink (GETLINK), with the layouts of linux/if_link.h, one
 * attribute per line (see README-qbgnl.md there): libvirt's Manager ID 11,
 * type 1193047 v2, MAC 52:54:00:61:07:42, VID 0, root device up0 (ifindex
 * 3), event port 0x2100502f. */
#include <errno.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daemon/qbg-agent.h"

#include "io/qbgnl.h"
#include "test-util.h"

#define INSTANCE_HEX "5c0e1a7d3f2e4b6a9c1d0a61070042d1"

typedef struct Vector {
        const char *file;
        VsmQbgnlKind kind;
        uint32_t seq;
        uint8_t request;
} Vector;

static const Vector vectors[] = {
        { "vectors/qbgnl-boot-associate.hex", VSM_QBGNL_SETLINK, 0x6733a001, VSM_QBGNL_PORT_ASSOCIATE },
        /* with NLA_F_NESTED on the nests (newer libnl sets it) */
        { "vectors/qbgnl-prepare-preassociate.hex", VSM_QBGNL_SETLINK, 0x6733a002, VSM_QBGNL_PORT_PREASSOCIATE },
        { "vectors/qbgnl-finish-associate.hex", VSM_QBGNL_SETLINK, 0x6733a003, VSM_QBGNL_PORT_ASSOCIATE },
        { "vectors/qbgnl-disassociate.hex", VSM_QBGNL_SETLINK, 0x6733a004, VSM_QBGNL_PORT_DISASSOCIATE },
        { "vectors/qbgnl-getlink.hex", VSM_QBGNL_GETLINK, 0x6733a005, 0 },
};

static void test_vectors(void) {
        static const uint8_t mac[6] = { 0x52, 0x54, 0x00, 0x61, 0x07, 0x42 };

        for (size_t i = 0; i < G_N_ELEMENTS(vectors); i++) {
                const Vector *v = &vectors[i];
                g_autoptr(GBytes) b = vsm_test_hex_file(v->file);
                g_autoptr(GBytes) inst = vsm_test_hex(INSTANCE_HEX);
                VsmQbgnlRequest req;
                const char *why = NULL;
                gsize len;
                const uint8_t *d = g_bytes_get_data(b, &len);

                g_test_message("%s", v->file);
                g_assert_cmpint(vsm_qbgnl_parse(d, len, &req), ==, 0);
                g_assert_cmpint(req.kind, ==, v->kind);
                g_assert_cmphex(req.nl_seq, ==, v->seq);
                g_assert_cmphex(req.nl_pid, ==, 0x2100502f);
                g_assert_cmpint(req.ifindex, ==, 3);
                if (v->kind == VSM_QBGNL_GETLINK) {
                        g_assert_true(req.has_ext_mask);
                        g_assert_cmpuint(req.ext_mask, ==, 1);   /* RTEXT_FILTER_VF */
                        g_assert_false(req.has_request);
                        g_assert_cmpint(vsm_qbgnl_setlink_check(&req, &why), ==, -EINVAL);
                        continue;
                }
                g_assert_true(req.has_ifname);
                g_assert_cmpstr(req.ifname, ==, "up0");
                g_assert_true(req.has_mac);
                g_assert_cmpmem(req.mac, 6, mac, 6);
                g_assert_true(req.has_vlan);
                g_assert_cmpuint(req.vlan, ==, 0);
                g_assert_true(req.has_vsi_type);
                g_assert_cmpuint(req.mgr_id, ==, 11);
                g_assert_cmpuint(req.type_id, ==, 1193047);
                g_assert_cmpuint(req.type_version, ==, 2);
                g_assert_true(req.has_instance);
                g_assert_cmpmem(req.instance, 16, g_bytes_get_data(inst, NULL), 16);
                g_assert_true(req.has_request);
                g_assert_cmpuint(req.request, ==, v->request);
                g_assert_cmpint(vsm_qbgnl_setlink_check(&req, &why), ==, 0);
        }
}

/* Every cut of a request is refused; no cut is read past. */
static void test_truncated(void) {
        g_autoptr(GBytes) b = vsm_test_hex_file("vectors/qbgnl-boot-associate.hex");
        gsize len;
        const uint8_t *d = g_bytes_get_data(b, &len);

        for (gsize n = 0; n < len; n++) {
                g_autofree uint8_t *cut = g_memdup2(d, n);   /* exact size: ASan sees over-reads */
                VsmQbgnlRequest req;

                g_assert_cmpint(vsm_qbgnl_parse(cut, n, &req), ==, -EBADMSG);
        }
}

/* A copy of the boot ASSOCIATE with one edit. */
static GByteArray *boot_copy(void) {
        g_autoptr(GBytes) b = vsm_test_hex_file("vectors/qbgnl-boot-associate.hex");
        gsize len;
        const uint8_t *d = g_bytes_get_data(b, &len);
        GByteArray *a = g_byte_array_new();

        g_byte_array_append(a, d, (guint) len);
        return a;
}

static int parse_array(GByteArray *a, VsmQbgnlRequest *req) {
        return vsm_qbgnl_parse(a->data, a->len, req);
}

static void set_u16(GByteArray *a, size_t off, uint16_t v) {
        memcpy(a->data + off, &v, 2);
}

static void set_u32(GByteArray *a, size_t off, uint32_t v) {
        memcpy(a->data + off, &v, 4);
}

/* Offsets in the boot ASSOCIATE vector (see the hex file's lines). */
#define OFF_IFNAME 32
#define OFF_VF_VLAN_VID (40 + 4 + 4 + 40 + 4 + 4)   /* ifla_vf_vlan.vlan */
#define OFF_VF_VLAN (40 + 4 + 4 + 40)                 /* the IFLA_VF_VLAN attribute */
#define OFF_PORT_REQUEST_VAL (0x98 - 4)

static void test_bad(void) {
        VsmQbgnlRequest req;
        const char *why = NULL;

        {       /* nlmsg_len beyond the datagram */
                g_autoptr(GByteArray) a = boot_copy();

                set_u32(a, 0, a->len + 4);
                g_assert_cmpint(parse_array(a, &req), ==, -EBADMSG);
                /* the header still names seq and pid, to answer with */
                g_assert_cmphex(req.nl_seq, ==, 0x6733a001);
        }
        {       /* an attribute running past its nest */
                g_autoptr(GByteArray) a = boot_copy();

                set_u16(a, OFF_IFNAME, 0x200);
                g_assert_cmpint(parse_array(a, &req), ==, -EBADMSG);
        }
        {       /* attribute length below its header */
                g_autoptr(GByteArray) a = boot_copy();

                set_u16(a, OFF_IFNAME, 3);
                g_assert_cmpint(parse_array(a, &req), ==, -EBADMSG);
        }
        {       /* IFLA_IFNAME without its NUL */
                g_autoptr(GByteArray) a = boot_copy();

                a->data[OFF_IFNAME + 7] = 'x';
                g_assert_cmpint(parse_array(a, &req), ==, -EBADMSG);
        }
        {       /* VID 4096 */
                g_autoptr(GByteArray) a = boot_copy();

                set_u32(a, OFF_VF_VLAN_VID, 4096);
                g_assert_cmpint(parse_array(a, &req), ==, -ERANGE);
        }
        {       /* MAC without VID: the VF_VLAN attribute made another type */
                g_autoptr(GByteArray) a = boot_copy();

                set_u16(a, OFF_VF_VLAN + 2, 9);
                g_assert_cmpint(parse_array(a, &req), ==, 0);
                g_assert_false(req.has_vlan);
                g_assert_cmpint(vsm_qbgnl_setlink_check(&req, &why), ==, -EINVAL);
                g_assert_cmpstr(why, ==, "IFLA_VF_MAC without IFLA_VF_VLAN");
        }
        {       /* request 4 */
                g_autoptr(GByteArray) a = boot_copy();

                g_assert_cmphex(a->data[OFF_PORT_REQUEST_VAL], ==, 2);
                a->data[OFF_PORT_REQUEST_VAL] = 4;
                g_assert_cmpint(parse_array(a, &req), ==, 0);
                g_assert_cmpint(vsm_qbgnl_setlink_check(&req, &why), ==, -EINVAL);
                g_assert_cmpstr(why, ==, "IFLA_PORT_REQUEST out of range");
        }
        {       /* RTM_NEWLINK */
                g_autoptr(GByteArray) a = boot_copy();

                set_u16(a, 4, 16);
                g_assert_cmpint(parse_array(a, &req), ==, -EOPNOTSUPP);
        }
        {       /* longer than we read */
                g_autoptr(GByteArray) a = boot_copy();

                g_byte_array_set_size(a, VSM_QBGNL_MAX_MSG + 4);
                set_u32(a, 0, a->len);
                g_assert_cmpint(parse_array(a, &req), ==, -EMSGSIZE);
        }
        {       /* nine IFLA_VF_PORT entries */
                uint8_t buf[512] = {};
                size_t off = 32;
                uint32_t l;

                memcpy(buf + 4, &(uint16_t){ 19 }, 2);
                memcpy(buf + off, &(uint16_t){ 4 + 9 * 4 }, 2);
                memcpy(buf + off + 2, &(uint16_t){ 24 }, 2);
                off += 4;
                for (int i = 0; i < 9; i++, off += 4) {
                        memcpy(buf + off, &(uint16_t){ 4 }, 2);
                        memcpy(buf + off + 2, &(uint16_t){ 1 }, 2);
                }
                l = (uint32_t) off;
                memcpy(buf, &l, 4);
                g_assert_cmpint(vsm_qbgnl_parse(buf, off, &req), ==, -E2BIG);
        }
}

static void test_error_reply(void) {
        g_autoptr(GBytes) b = vsm_test_hex_file("vectors/qbgnl-boot-associate.hex");
        uint8_t buf[64];
        int n = vsm_qbgnl_build_error(buf, sizeof(buf), g_bytes_get_data(b, NULL), 4242, -ENODEV);

        /* nlmsghdr{36, NLMSG_ERROR, 0, the request's seq, our pid},
         * nlmsgerr{-19, the request's header} */
        g_assert_cmpint(n, ==, 36);
        vsm_assert_hex(buf, (size_t) n,
                       "24000000" "0200" "0000" "01a03367" "92100000"
                       "edffffff"
                       "98000000" "1300" "0100" "01a03367" "2f500021");
        g_assert_cmpint(vsm_qbgnl_build_error(buf, 20, g_bytes_get_data(b, NULL), 1, 0), ==, -ENOBUFS);
}

static void test_getlink_reply(void) {
        VsmQbgnlPort ports[2] = {};
        uint8_t buf[256];
        size_t written = 0;
        int n;

        memcpy(ports[0].instance, "\x5c\x0e\x1a\x7d\x3f\x2e\x4b\x6a\x9c\x1d\x0a\x61\x07\x00\x42\xd1", 16);
        ports[0].has_response = true;
        ports[0].response = 0;
        memset(ports[1].instance, 0xab, 16);
        ports[1].has_response = false;   /* pending: no IFLA_PORT_RESPONSE */
        n = vsm_qbgnl_build_getlink_reply(buf, sizeof(buf), 0x6733a005, 4242, 3, ports, 2, &written);
        g_assert_cmpuint(written, ==, 2);
        /* NLMSG_DONE, ifinfomsg{ifindex 3}, IFLA_VF_PORTS{
         *   IFLA_VF_PORT{PORT_VF -1, INSTANCE_UUID, RESPONSE u16 0},
         *   IFLA_VF_PORT{PORT_VF -1, INSTANCE_UUID}} (lldpad vdpnl_reply2) */
        vsm_assert_hex(buf, (size_t) n,
                       "6c000000" "0300" "0000" "05a03367" "92100000"
                       "00000000" "03000000" "00000000" "00000000"
                       "4c001800"
                       "28000100" "08000100ffffffff" "140004005c0e1a7d3f2e4b6a9c1d0a61070042d1"
                       "0600070000000000"
                       "20000100" "08000100ffffffff" "14000400abababababababababababababababab");
        /* ports that do not fit are left out */
        n = vsm_qbgnl_build_getlink_reply(buf, 80, 1, 1, 3, ports, 2, &written);
        g_assert_cmpint(n, >, 0);
        g_assert_cmpuint(written, ==, 1);
        g_assert_cmpint(vsm_qbgnl_build_getlink_reply(buf, 30, 1, 1, 3, ports, 2, &written), ==, -ENOBUFS);
}

/* The notice decodes as the DE-ASSOCIATE it is, with the request as a
 * u16 (lldpad's vdpnl_send) and our pid in the header. */
static void test_notice(void) {
        static const uint8_t mac[6] = { 0x52, 0x54, 0x00, 0x61, 0x07, 0x42 };
        g_autoptr(GBytes) inst = vsm_test_hex(INSTANCE_HEX);
        uint8_t buf[512];
        VsmQbgnlRequest req;
        const char *why = NULL;
        int n = vsm_qbgnl_build_notice(buf, sizeof(buf), 7, 4242, 3, "up0", mac, 0, 11, 1193047, 2,
                                       g_bytes_get_data(inst, NULL));

        g_assert_cmpint(n, >, 0);
        g_assert_cmpint(vsm_qbgnl_parse(buf, (size_t) n, &req), ==, 0);
        g_assert_cmpint(req.kind, ==, VSM_QBGNL_SETLINK);
        g_assert_cmpuint(req.nl_pid, ==, 4242);
        g_assert_cmpuint(req.nl_seq, ==, 7);
        g_assert_cmpstr(req.ifname, ==, "up0");
        g_assert_cmpmem(req.mac, 6, mac, 6);
        g_assert_cmpuint(req.request, ==, VSM_QBGNL_PORT_DISASSOCIATE);
        g_assert_true(req.has_port_vf);
        g_assert_cmphex(req.port_vf, ==, 0xffffffff);
        g_assert_cmpuint(req.type_id, ==, 1193047);
        g_assert_cmpint(vsm_qbgnl_setlink_check(&req, &why), ==, 0);
        /* IFLA_PORT_REQUEST as a u16: a 6-octet attribute, value 3 */
        {
                gboolean found = FALSE;

                for (int i = 0; i + 6 <= n && !found; i++)
                        found = memcmp(buf + i, "\x06\x00\x06\x00\x03\x00", 6) == 0;
                g_assert_true(found);
        }
        g_assert_cmpint(vsm_qbgnl_build_notice(buf, 64, 7, 4242, 3, "up0", mac, 0, 11, 1, 2,
                                               g_bytes_get_data(inst, NULL)), ==, -ENOBUFS);
}

/* The pid file libvirt reads (/run/lldpad.pid): only a small regular
 * file counts.  A FIFO there must not block the daemon's main loop (the
 * alarm fails the test if it does), a symlink is not followed (to a huge
 * or special file), and a long file is not read past 32 octets. */
static void test_pidfile_read(void) {
        g_autofree char *dir = g_dir_make_tmp("vsm-qbgpid-XXXXXX", NULL);
        g_autofree char *file = g_build_filename(dir, "lldpad.pid", NULL);
        g_autofree char *fifo = g_build_filename(dir, "fifo", NULL);
        g_autofree char *link = g_build_filename(dir, "link", NULL);
        g_autofree char *longf = g_build_filename(dir, "long", NULL);
        g_autofree char *missing = g_build_filename(dir, "missing", NULL);
        char big[64];

        g_assert_nonnull(dir);
        g_assert_true(g_file_set_contents(file, "1234\n", -1, NULL));
        g_assert_cmpint(mkfifo(fifo, 0600), ==, 0);
        g_assert_cmpint(symlink(file, link), ==, 0);
        memset(big, ' ', sizeof(big));
        big[0] = '7';
        big[sizeof(big) - 1] = '\n';
        g_assert_true(g_file_set_contents(longf, big, sizeof(big), NULL));

        g_assert_cmpint(vsm_qbg_pidfile_read(file), ==, 1234);
        g_assert_cmpint(vsm_qbg_pidfile_read(missing), ==, 0);
        alarm(10);
        g_assert_cmpint(vsm_qbg_pidfile_read(fifo), ==, -1);
        alarm(0);
        g_assert_cmpint(vsm_qbg_pidfile_read(link), ==, -1);
        g_assert_cmpint(vsm_qbg_pidfile_read("/dev/null"), ==, -1);
        g_assert_cmpint(vsm_qbg_pidfile_read(longf), ==, -1);
        g_assert_true(g_file_set_contents(file, "12ab\n", -1, NULL));
        g_assert_cmpint(vsm_qbg_pidfile_read(file), ==, -1);

        g_unlink(longf);
        g_unlink(link);
        g_unlink(fifo);
        g_unlink(file);
        g_rmdir(dir);
}

int main(int argc, char **argv) {
        g_test_init(&argc, &argv, NULL);
        g_test_add_func("/io/qbgnl/vectors", test_vectors);
        g_test_add_func("/io/qbgnl/truncated", test_truncated);
        g_test_add_func("/io/qbgnl/bad", test_bad);
        g_test_add_func("/io/qbgnl/error-reply", test_error_reply);
        g_test_add_func("/io/qbgnl/getlink-reply", test_getlink_reply);
        g_test_add_func("/io/qbgnl/notice", test_notice);
        g_test_add_func("/io/qbgnl/pidfile-read", test_pidfile_read);
        return g_test_run();
}
