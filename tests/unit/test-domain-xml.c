/* Unit tests for the domain XML reader (daemon/domain-xml.c): libvirt 9.0
 * style documents from tests/data/domains/, hostile and malformed input,
 * and the RFC 4122 version 5 VSIID derivation. */
#include <arpa/inet.h>
#include <glib.h>
#include <string.h>

#include "daemon/config.h"
#include "daemon/domain-xml.h"
#include "proto/eth.h"
#include "test-util.h"

#define UUID_A "4b9a3c7e-1f2d-4e8a-9b6c-0d1e2f3a4b5c"
#define HEAD "<domain type='kvm'><name>t</name><uuid>" UUID_A "</uuid>"
#define DEVS_HEAD HEAD "<devices>"
#define DEVS_TAIL "</devices></domain>"
/* A document with one interface whose inner XML is x. */
#define IFACE(type, x) DEVS_HEAD "<interface type='" type "'><mac address='52:54:00:00:00:01'/>" x \
        "</interface>" DEVS_TAIL
#define QBG(params) IFACE("direct", "<source dev='eth1' mode='vepa'/><virtualport type='802.1Qbg'>" \
                          "<parameters " params "/></virtualport>")
#define QBG3(m, t, v) QBG("managerid='" m "' typeid='" t "' typeidversion='" v "'")
#define NS "https://vsimig.dev/xmlns/metadata/1"

static char *data_path(const char *name) {
        const char *dir = g_getenv("VSM_TEST_DATA");

        g_assert_nonnull(dir);
        return g_build_filename(dir, "domains", name, NULL);
}

static char *read_data(const char *name, gsize *ret_len) {
        g_autofree char *path = data_path(name);
        g_autoptr(GError) error = NULL;
        char *text = NULL;

        if (!g_file_get_contents(path, &text, ret_len, &error))
                g_error("cannot read %s: %s", path, error->message);
        return text;
}

static VsmDomainInfo *parse_ok(const char *xml, gsize len) {
        VsmDomainInfo *info = NULL;
        g_autoptr(GError) error = NULL;

        if (!vsm_domain_xml_parse(xml, len, &info, &error))
                g_error("unexpected parse failure: %s", error->message);
        g_assert_nonnull(info);
        g_assert_nonnull(info->nics);
        return info;
}

/* The document must be refused with an error whose message contains want. */
static void parse_bad(const char *xml, gsize len, const char *want) {
        VsmDomainInfo *info = (VsmDomainInfo *) 0x1;   /* must stay untouched */
        g_autoptr(GError) error = NULL;

        g_assert_false(vsm_domain_xml_parse(xml, len, &info, &error));
        g_assert_true(info == (VsmDomainInfo *) 0x1);
        g_assert_error(error, VSM_ERROR, VSM_ERROR_INVALID);
        if (!strstr(error->message, want))
                g_error("error \"%s\" does not mention \"%s\"", error->message, want);
        g_test_message("refused: %s", error->message);
}

static void assert_mac(const uint8_t mac[VSM_ETH_ALEN], const char *want) {
        char buf[18];

        g_assert_cmpstr(vsm_mac_format(mac, buf), ==, want);
}

static void assert_uuid(const uint8_t uuid[16], const char *want) {
        char buf[37];

        g_assert_cmpstr(vsm_uuid_format(uuid, buf), ==, want);
}

static const VsmNicInfo *nic(const VsmDomainInfo *info, guint i) {
        g_assert_cmpuint(i, <, info->nics->len);
        return g_ptr_array_index(info->nics, i);
}

/* ---- Real-looking libvirt 9.0 documents --------------------------------- */

static void test_running(void) {
        gsize len;
        g_autofree char *xml = read_data("running.xml", &len);
        g_autoptr(VsmDomainInfo) info = parse_ok(xml, len);
        const VsmNicInfo *n;

        g_assert_cmpstr(info->name, ==, "web-01");
        assert_uuid(info->uuid, UUID_A);
        g_assert_cmpuint(info->nics->len, ==, 4);

        /* bridge, target dev, no vlan, no virtualport */
        n = nic(info, 0);
        assert_mac(n->mac, "52:54:00:6b:3c:58");
        g_assert_cmpstr(n->type, ==, "bridge");
        g_assert_cmpstr(n->target_dev, ==, "vnet0");
        g_assert_cmpstr(n->source_bridge, ==, "br0");
        g_assert_null(n->source_network);
        g_assert_false(n->has_vlan);
        g_assert_false(n->has_qbg);
        g_assert_false(n->has_qbg_instance);
        g_assert_null(n->qbg_manager_id);

        /* bridge on Open vSwitch with a VLAN; its virtualport is not 802.1Qbg */
        n = nic(info, 1);
        assert_mac(n->mac, "52:54:00:6b:3c:59");
        g_assert_cmpstr(n->type, ==, "bridge");
        g_assert_cmpstr(n->target_dev, ==, "vnet1");
        g_assert_cmpstr(n->source_bridge, ==, "ovsbr0");
        g_assert_true(n->has_vlan);
        g_assert_cmpuint(n->vlan, ==, 42);
        g_assert_false(n->has_qbg);
        g_assert_false(n->has_qbg_instance);

        /* direct (macvtap, VEPA) with an 802.1Qbg profile */
        n = nic(info, 2);
        assert_mac(n->mac, "52:54:00:a1:b2:c3");
        g_assert_cmpstr(n->type, ==, "direct");
        g_assert_cmpstr(n->target_dev, ==, "macvtap0");
        g_assert_cmpstr(n->source_dev, ==, "eth1");
        g_assert_cmpint(n->direct_mode, ==, VSM_DIRECT_MODE_VEPA);
        g_assert_null(n->source_bridge);
        g_assert_null(n->source_network);
        g_assert_false(n->has_vlan);
        g_assert_true(n->has_qbg);
        g_assert_cmpstr(n->qbg_manager_id, ==, "11");
        g_assert_cmpuint(n->qbg_type_id, ==, 1193047);
        g_assert_cmpuint(n->qbg_type_version, ==, 2);
        g_assert_true(n->has_qbg_instance);
        assert_uuid(n->qbg_instance, "09b11c53-8b5c-4eeb-8f00-d84eaa0aaa4f");

        /* network: live XML names both the network and its bridge */
        n = nic(info, 3);
        assert_mac(n->mac, "52:54:00:11:22:33");
        g_assert_cmpstr(n->type, ==, "network");
        g_assert_cmpstr(n->target_dev, ==, "vnet2");
        g_assert_cmpstr(n->source_network, ==, "default");
        g_assert_cmpstr(n->source_bridge, ==, "virbr0");
        g_assert_false(n->has_vlan);
        g_assert_false(n->has_qbg);

        /* Only our element, blanks dropped, namespace declared on it. */
        g_assert_cmpstr(info->metadata, ==,
                        "<vsimig:snapshot xmlns:vsimig=\"" NS "\" version=\"1\">"
                        "<vsimig:origin host=\"192.0.2.10\" port=\"7845\" token=\"q2Vx0Jm4Y1c6sXo8\"/>"
                        "<vsimig:nic mac=\"52:54:00:6b:3c:58\">"
                        "<vsimig:dhcp client-id=\"01:52:54:00:6b:3c:58\" address=\"198.51.100.23\"/>"
                        "<vsimig:group address=\"239.1.2.3\"/>"
                        "</vsimig:nic>"
                        "</vsimig:snapshot>");
}

static void test_inactive(void) {
        gsize len;
        g_autofree char *xml = read_data("inactive.xml", &len);
        g_autoptr(VsmDomainInfo) info = parse_ok(xml, len);
        const VsmNicInfo *n;

        g_assert_cmpstr(info->name, ==, "db-02");
        assert_uuid(info->uuid, "e3b0c442-98fc-4c14-9afb-f4c8996fb924");
        g_assert_null(info->metadata);      /* libosinfo's element is not ours */
        g_assert_cmpuint(info->nics->len, ==, 2);

        n = nic(info, 0);
        assert_mac(n->mac, "52:54:00:de:ad:01");
        g_assert_cmpstr(n->type, ==, "bridge");
        g_assert_null(n->target_dev);
        g_assert_cmpstr(n->source_bridge, ==, "br0");

        /* A network's partial profile: the portgroup supplies the rest, so
         * no usable 802.1Qbg profile, but the instanceid is kept. */
        n = nic(info, 1);
        assert_mac(n->mac, "52:54:00:de:ad:02");
        g_assert_cmpstr(n->type, ==, "network");
        g_assert_null(n->target_dev);
        g_assert_null(n->source_bridge);
        g_assert_cmpstr(n->source_network, ==, "qbg-net");
        g_assert_false(n->has_qbg);
        g_assert_null(n->qbg_manager_id);
        g_assert_true(n->has_qbg_instance);
        assert_uuid(n->qbg_instance, "7c9e6679-7425-40de-944b-e07fc1f90ae7");
}

/* ---- Accepted variations ------------------------------------------------- */

typedef struct GoodCase {
        const char *name;
        const char *xml;
        gboolean has_vlan;
        guint vlan;
        gboolean has_qbg;
        const char *manager;
        guint type_id;
        guint type_version;
} GoodCase;

/* Numbers as libvirt reads them: vlan base 10 (virXMLPropUInt(..., 10)),
 * virtualport parameters base 0 (virStrToLong_ui(..., 0)). */
static const GoodCase good_cases[] = {
        { "vlan-1", IFACE("bridge", "<vlan><tag id='1'/></vlan>"), TRUE, 1, FALSE, NULL, 0, 0 },
        { "vlan-4094", IFACE("bridge", "<vlan><tag id='4094'/></vlan>"), TRUE, 4094, FALSE, NULL, 0, 0 },
        { "vlan-leading-zero", IFACE("bridge", "<vlan><tag id='010'/></vlan>"), TRUE, 10, FALSE, NULL, 0, 0 },
        { "vlan-trunk-first", IFACE("bridge", "<vlan trunk='yes'><tag id='7'/><tag id='8'/></vlan>"),
          TRUE, 7, FALSE, NULL, 0, 0 },
        { "qbg-decimal", QBG3("0", "0", "0"), FALSE, 0, TRUE, "0", 0, 0 },
        { "qbg-max", QBG3("255", "16777215", "255"), FALSE, 0, TRUE, "255", 0xffffff, 255 },
        { "qbg-hex", QBG3("0x0b", "0x123456", "0xFF"), FALSE, 0, TRUE, "11", 0x123456, 255 },
        { "qbg-octal", QBG3("010", "0777", "07"), FALSE, 0, TRUE, "8", 0777, 7 },
        { "qbg-plus", QBG3("+1", "+2", "+3"), FALSE, 0, TRUE, "1", 2, 3 },
        /* Other virtualport kinds and an 802.1Qbh profile are not ours. */
        { "qbh", IFACE("direct", "<virtualport type='802.1Qbh'><parameters profileid='p1'/></virtualport>"),
          FALSE, 0, FALSE, NULL, 0, 0 },
        { "untyped-virtualport", IFACE("network", "<virtualport><parameters managerid='1' typeid='2' "
                                       "typeidversion='3'/></virtualport>"), FALSE, 0, FALSE, NULL, 0, 0 },
};

static void test_good(gconstpointer data) {
        const GoodCase *gc = data;
        g_autoptr(VsmDomainInfo) info = parse_ok(gc->xml, strlen(gc->xml));
        const VsmNicInfo *n;

        g_assert_cmpuint(info->nics->len, ==, 1);
        n = nic(info, 0);
        assert_mac(n->mac, "52:54:00:00:00:01");
        g_assert_cmpint(n->has_vlan, ==, gc->has_vlan);
        if (gc->has_vlan)
                g_assert_cmpuint(n->vlan, ==, gc->vlan);
        g_assert_cmpint(n->has_qbg, ==, gc->has_qbg);
        g_assert_cmpstr(n->qbg_manager_id, ==, gc->manager);
        if (gc->has_qbg) {
                g_assert_cmpuint(n->qbg_type_id, ==, gc->type_id);
                g_assert_cmpuint(n->qbg_type_version, ==, gc->type_version);
        }
        g_assert_false(n->has_qbg_instance);
}

static void test_misc_good(void) {
        /* Other interface kinds are listed; no <devices> at all is fine. */
        static const char kinds[] = DEVS_HEAD
                "<interface type='user'><mac address='52:54:00:00:00:01'/></interface>"
                "<interface type='vhostuser'><mac address='52-54-00-00-00-02'/>"
                "<source type='unix' path='/run/x.sock' mode='server'/></interface>"
                "<interface type='ethernet'><mac address='52:54:00:00:00:03'/><target dev='tap-x'/></interface>"
                DEVS_TAIL;
        static const char nodevs[] = HEAD "</domain>";
        /* The declared encoding is ignored: the text is read as UTF-8. */
        static const char latin1[] = "<?xml version='1.0' encoding='ISO-8859-1'?>"
                "<domain><name>caf\xc3\xa9</name><uuid>" UUID_A "</uuid></domain>";
        g_autoptr(VsmDomainInfo) a = parse_ok(kinds, strlen(kinds));
        g_autoptr(VsmDomainInfo) b = parse_ok(nodevs, strlen(nodevs));
        g_autoptr(VsmDomainInfo) c = parse_ok(latin1, strlen(latin1));
        g_autofree char *name255 = g_strnfill(255, 'n');
        g_autofree char *doc255 = g_strdup_printf("<domain><name>%s</name><uuid>%s</uuid></domain>", name255,
                                                  UUID_A);
        g_autoptr(VsmDomainInfo) d = parse_ok(doc255, strlen(doc255));
        /* Not NUL-terminated: only len octets are read. */
        g_autofree char *unterminated = g_strdup_printf("%sGARBAGE", nodevs);
        g_autoptr(VsmDomainInfo) e = parse_ok(unterminated, strlen(nodevs));

        g_assert_cmpuint(a->nics->len, ==, 3);
        g_assert_cmpstr(nic(a, 0)->type, ==, "user");
        g_assert_cmpstr(nic(a, 1)->type, ==, "vhostuser");
        assert_mac(nic(a, 1)->mac, "52:54:00:00:00:02");
        g_assert_cmpstr(nic(a, 2)->type, ==, "ethernet");
        g_assert_cmpstr(nic(a, 2)->target_dev, ==, "tap-x");
        g_assert_cmpuint(b->nics->len, ==, 0);
        g_assert_null(b->metadata);
        g_assert_cmpstr(c->name, ==, "caf\xc3\xa9");
        g_assert_cmpstr(d->name, ==, name255);
        g_assert_cmpstr(e->name, ==, "t");
}

/* ---- Metadata ------------------------------------------------------------- */

typedef struct MetaCase {
        const char *name;
        const char *xml;
        const char *want;          /* NULL: no metadata */
} MetaCase;

static const MetaCase meta_cases[] = {
        /* Declared on an ancestor: the serialized element declares it itself. */
        { "ns-on-root",
          "<domain xmlns:v='" NS "'><name>t</name><uuid>" UUID_A "</uuid>"
          "<metadata><v:state v:gen='3'><v:x/></v:state></metadata></domain>",
          "<v:state xmlns:v=\"" NS "\" v:gen=\"3\"><v:x/></v:state>" },
        { "default-ns",
          HEAD "<metadata><state xmlns='" NS "'>a &amp; b &lt;c&gt;</state></metadata></domain>",
          "<state xmlns=\"" NS "\">a &amp; b &lt;c&gt;</state>" },
        /* libvirt keeps the first element of a namespace. */
        { "first-only",
          HEAD "<metadata><v:one xmlns:v='" NS "'/><v:two xmlns:v='" NS "'/></metadata></domain>",
          "<v:one xmlns:v=\"" NS "\"/>" },
        { "other-ns", HEAD "<metadata><v:one xmlns:v='" NS "/x'/></metadata></domain>", NULL },
        { "no-ns", HEAD "<metadata><snapshot/></metadata></domain>", NULL },
        { "not-under-metadata", HEAD "<devices><v:one xmlns:v='" NS "'/></devices></domain>", NULL },
        { "empty", HEAD "<metadata/></domain>", NULL },
};

static void test_metadata(gconstpointer data) {
        const MetaCase *mc = data;
        g_autoptr(VsmDomainInfo) info = parse_ok(mc->xml, strlen(mc->xml));

        g_assert_cmpstr(info->metadata, ==, mc->want);
}

/* ---- Refused documents ---------------------------------------------------- */

typedef struct BadCase {
        const char *name;
        const char *xml;
        const char *want;          /* substring of the error message */
} BadCase;

static const BadCase bad_cases[] = {
        { "not-xml", "this is not XML", "not well-formed" },
        { "truncated", HEAD "<devices><interface type='bridge'>", "not well-formed" },
        { "two-roots", HEAD "</domain><domain/>", "not well-formed" },
        { "undeclared-entity", "<domain><name>&x;</name></domain>", "not well-formed" },
        { "undeclared-prefix", HEAD "<metadata><v:x/></metadata></domain>", "not well-formed" },
        { "wrong-root", "<network><name>t</name><uuid>" UUID_A "</uuid></network>", "root element is <network>" },
        { "root-in-ns", "<domain xmlns='urn:x'><name>t</name><uuid>" UUID_A "</uuid></domain>", "in a namespace" },
        { "no-name", "<domain><uuid>" UUID_A "</uuid></domain>", "missing <name>" },
        { "empty-name", "<domain><name></name><uuid>" UUID_A "</uuid></domain>", "<name> must be 1-255 octets" },
        { "no-uuid", "<domain><name>t</name></domain>", "missing <uuid>" },
        { "bad-uuid", "<domain><name>t</name><uuid>4b9a3c7e-1f2d-4e8a-9b6c-0d1e2f3a4b5</uuid></domain>",
          "<uuid> '4b9a3c7e-1f2d-4e8a-9b6c-0d1e2f3a4b5' is not a UUID" },
        { "uuid-not-hex", "<domain><name>t</name><uuid>4b9a3c7e-1f2d-4e8a-9b6c-0d1e2f3a4bzz</uuid></domain>",
          "is not a UUID" },
        { "no-type", DEVS_HEAD "<interface><mac address='52:54:00:00:00:01'/></interface>" DEVS_TAIL,
          "/domain/devices/interface[1]: missing type attribute" },
        { "no-mac", DEVS_HEAD "<interface type='bridge'><source bridge='br0'/></interface>" DEVS_TAIL,
          "/domain/devices/interface[1]: missing mac/@address" },
        { "mac-no-address", DEVS_HEAD "<interface type='bridge'><mac/></interface>" DEVS_TAIL,
          "missing mac/@address" },
        { "bad-mac", DEVS_HEAD "<interface type='bridge'><mac address='52:54:00:00:00'/></interface>" DEVS_TAIL,
          "/domain/devices/interface[1]: mac/@address '52:54:00:00:00' is not a MAC address" },
        { "mac-mixed-sep", DEVS_HEAD "<interface type='bridge'><mac address='52:54-00:00:00:01'/></interface>"
          DEVS_TAIL, "is not a MAC address" },
        { "mac-multicast", DEVS_HEAD "<interface type='bridge'><mac address='01:00:5e:00:00:01'/></interface>"
          DEVS_TAIL, "mac/@address '01:00:5e:00:00:01' is a multicast address" },
        { "second-bad", DEVS_HEAD "<interface type='bridge'><mac address='52:54:00:00:00:01'/></interface>"
          "<interface type='bridge'><mac address='xx'/></interface>" DEVS_TAIL,
          "/domain/devices/interface[2]: mac/@address 'xx'" },
        { "vlan-0", IFACE("bridge", "<vlan><tag id='0'/></vlan>"), "vlan/tag/@id '0' is not a number in 1-4094" },
        { "vlan-4095", IFACE("bridge", "<vlan><tag id='4095'/></vlan>"), "'4095' is not a number in 1-4094" },
        { "vlan-abc", IFACE("bridge", "<vlan><tag id='abc'/></vlan>"), "'abc' is not a number in 1-4094" },
        { "vlan-empty", IFACE("bridge", "<vlan><tag id=''/></vlan>"), "'' is not a number" },
        { "vlan-negative", IFACE("bridge", "<vlan><tag id='-1'/></vlan>"), "'-1' is not a number" },
        { "vlan-hex", IFACE("bridge", "<vlan><tag id='0x2a'/></vlan>"), "'0x2a' is not a number" },
        { "vlan-trailing", IFACE("bridge", "<vlan><tag id='42 '/></vlan>"), "'42 ' is not a number" },
        { "vlan-huge", IFACE("bridge", "<vlan><tag id='18446744073709551617'/></vlan>"), "is not a number" },
        { "typeid-too-big", QBG3("1", "16777216", "1"),
          "virtualport/parameters/@typeid '16777216' is not a number in 0-16777215" },
        { "typeid-hex-too-big", QBG3("1", "0x1000000", "1"), "@typeid '0x1000000'" },
        { "typeid-negative", QBG3("1", "-1", "1"), "@typeid '-1'" },
        { "typeidversion-256", QBG3("1", "1", "256"),
          "virtualport/parameters/@typeidversion '256' is not a number in 0-255" },
        { "managerid-256", QBG3("256", "1", "1"), "virtualport/parameters/@managerid '256' is not a number in 0-255" },
        { "managerid-text", QBG3("mgr", "1", "1"), "@managerid 'mgr'" },
        { "qbg-incomplete", QBG("managerid='1' typeid='2'"),
          "/domain/devices/interface[1]: 802.1Qbg virtualport/parameters lacks @typeidversion" },
        { "instanceid-bad", QBG("managerid='1' typeid='2' typeidversion='3' instanceid='not-a-uuid'"),
          "virtualport/parameters/@instanceid 'not-a-uuid' is not a UUID" },
        { "instanceid-no-hyphens",
          QBG("managerid='1' typeid='2' typeidversion='3' instanceid='09b11c538b5c4eeb8f00d84eaa0aaa4f'"),
          "is not a UUID" },
        { "direct-mode-bad", IFACE("direct", "<source dev='eth0' mode='vepa2'/>"),
          "/domain/devices/interface[1]: source/@mode 'vepa2' is not a macvtap mode" },
        { "direct-mode-case", IFACE("direct", "<source dev='eth0' mode='VEPA'/>"), "source/@mode 'VEPA'" },
        { "direct-dev-bad", IFACE("direct", "<source dev='a/b' mode='vepa'/>"),
          "source/@dev 'a/b' is not an interface name" },
        { "direct-dev-long", IFACE("direct", "<source dev='abcdefghijklmnop'/>"), "is not an interface name" },
        { "target-slash", IFACE("bridge", "<target dev='../x'/>"), "target/@dev '../x' is not an interface name" },
        { "target-long", IFACE("bridge", "<target dev='abcdefghijklmnop'/>"), "is not an interface name" },
        { "target-empty", IFACE("bridge", "<target dev=''/>"), "is not an interface name" },
        { "doctype-inline", "<!DOCTYPE domain [<!ENTITY a 'b'>]><domain><name>&a;</name><uuid>" UUID_A
          "</uuid></domain>", "(<!DOCTYPE>) are not accepted" },
        { "pi-only", "<?xml version='1.0'?>", "not well-formed" },
        { "bad-char-ref", "<domain><name>&#0;</name><uuid>" UUID_A "</uuid></domain>", "not well-formed" },
};

static void test_bad(gconstpointer data) {
        const BadCase *bc = data;

        parse_bad(bc->xml, strlen(bc->xml), bc->want);
}

typedef struct BadFile {
        const char *file;
        const char *want;
} BadFile;

static const BadFile bad_files[] = {
        { "billion-laughs.xml", "document type declarations (<!DOCTYPE>) are not accepted (line 2)" },
        { "external-entity.xml", "(<!DOCTYPE>) are not accepted" },
        { "external-dtd.xml", "(<!DOCTYPE>) are not accepted" },
        { "deep-nesting.xml", "not well-formed" },
        { "bad-mac.xml", "/domain/devices/interface[2]: mac/@address '52:54:00:6b:3c:5g' is not a MAC address" },
        { "bad-qbg.xml",
          "/domain/devices/interface[1]: virtualport/parameters/@typeid '16777216' is not a number in 0-16777215" },
};

static void test_bad_file(gconstpointer data) {
        const BadFile *bf = data;
        gsize len;
        g_autofree char *xml = read_data(bf->file, &len);
        gint64 t0 = g_get_monotonic_time();

        parse_bad(xml, len, bf->want);
        /* Refusing an entity bomb must not cost its expansion. */
        g_assert_cmpint(g_get_monotonic_time() - t0, <, G_USEC_PER_SEC);
}

/* Binary and size limits, which cannot live in C string tables. */
static void test_binary(void) {
        static const char nul[] = HEAD "</domain>\0<x/>";
        static const char nul_attr[] = DEVS_HEAD "<interface type='br\0idge'/>" DEVS_TAIL;
        static const char bad_utf8[] = "<domain><name>\xc3\x28</name><uuid>" UUID_A "</uuid></domain>";
        static const char overlong[] = "<domain><name>\xc0\xbc</name><uuid>" UUID_A "</uuid></domain>";
        static const char utf16[] = "\xff\xfe<\0d\0";
        static const char utf16_no_nul[] = "\xff\xfe\x3c\x3c";
        g_autofree char *name256 = g_strnfill(256, 'n');
        g_autofree char *doc256 = g_strdup_printf("<domain><name>%s</name><uuid>%s</uuid></domain>", name256,
                                                  UUID_A);

        parse_bad(nul, sizeof(nul) - 1, "contains a NUL octet at offset");
        parse_bad(nul_attr, sizeof(nul_attr) - 1, "NUL octet");
        parse_bad(bad_utf8, strlen(bad_utf8), "not valid UTF-8 (offset 14)");
        parse_bad(overlong, strlen(overlong), "not valid UTF-8");
        parse_bad(utf16, sizeof(utf16) - 1, "NUL octet at offset 3");
        parse_bad(utf16_no_nul, sizeof(utf16_no_nul) - 1, "not valid UTF-8 (offset 0)");
        parse_bad("", 0, "empty");
        parse_bad(doc256, strlen(doc256), "<name> must be 1-255 octets (has 256)");
}

/* A valid document padded with a comment to exactly len octets. */
static char *padded_doc(gsize len) {
        static const char head[] = HEAD "<!--";
        static const char tail[] = "--></domain>";
        char *doc = g_malloc(len + 1);

        g_assert_cmpuint(len, >=, sizeof(head) + sizeof(tail));
        memcpy(doc, head, sizeof(head) - 1);
        memset(doc + sizeof(head) - 1, 'x', len - (sizeof(head) - 1) - (sizeof(tail) - 1));
        memcpy(doc + len - (sizeof(tail) - 1), tail, sizeof(tail) - 1);
        doc[len] = '\0';
        return doc;
}

static void test_size(void) {
        g_autofree char *at_max = padded_doc(VSM_DOMAIN_XML_MAX);
        g_autofree char *over = padded_doc(VSM_DOMAIN_XML_MAX + 1);
        g_autofree char *five = padded_doc(5 * 1024 * 1024);
        g_autoptr(VsmDomainInfo) info = parse_ok(at_max, VSM_DOMAIN_XML_MAX);

        g_assert_cmpstr(info->name, ==, "t");
        parse_bad(over, VSM_DOMAIN_XML_MAX + 1, "too large (4194305 octets, at most 4194304)");
        parse_bad(five, 5 * 1024 * 1024, "too large");
        /* The cap is checked before anything is read. */
        parse_bad("", (gsize) VSM_DOMAIN_XML_MAX + 1, "too large");
}

static char *nics_doc(guint n) {
        g_autoptr(GString) s = g_string_new(DEVS_HEAD);

        for (guint i = 0; i < n; i++)
                g_string_append_printf(s, "<interface type='bridge'><mac address='52:54:00:00:%02x:%02x'/>"
                                       "<source bridge='br0'/><target dev='vnet%u'/></interface>",
                                       i >> 8, i & 0xff, i);
        g_string_append(s, DEVS_TAIL);
        return g_string_free(g_steal_pointer(&s), FALSE);
}

static void test_nic_cap(void) {
        g_autofree char *max = nics_doc(VSM_DOMAIN_NICS_MAX);
        g_autofree char *over = nics_doc(VSM_DOMAIN_NICS_MAX + 1);
        g_autoptr(VsmDomainInfo) info = parse_ok(max, strlen(max));
        /* Counted before extraction: the bad MAC in the 65th is never reached. */
        g_autoptr(GString) over_bad = g_string_new(over);

        g_assert_cmpuint(info->nics->len, ==, VSM_DOMAIN_NICS_MAX);
        assert_mac(nic(info, 63)->mac, "52:54:00:00:00:3f");
        g_assert_cmpstr(nic(info, 63)->target_dev, ==, "vnet63");
        parse_bad(over, strlen(over), "65 interfaces, at most 64 are supported");
        g_string_replace(over_bad, "52:54:00:00:00:00", "bad", 1);
        parse_bad(over_bad->str, over_bad->len, "65 interfaces");
}

static void test_misc_bad(void) {
        g_autofree char *long_mac = g_strnfill(300, 'x');
        g_autofree char *doc = g_strdup_printf(DEVS_HEAD "<interface type='bridge'><mac address='%s\xc3\xa9'/>"
                                               "</interface>" DEVS_TAIL, long_mac);
        g_autofree char *want = g_strdup_printf("mac/@address '%.64s...' is not a MAC address", long_mac);

        /* Quoted values are cut short in messages. */
        parse_bad(doc, strlen(doc), want);
        g_assert_null(vsm_nic_info_free(NULL));
        g_assert_null(vsm_domain_info_free(NULL));
}

static void test_warning_only(void) {
        /* libxml2 warns about these; a warning is no error. */
        static const char rel[] = HEAD "<metadata><x xmlns='relative'/></metadata></domain>";
        static const char ver[] = "<?xml version='1.5'?>" HEAD "</domain>";
        g_autoptr(VsmDomainInfo) a = parse_ok(rel, strlen(rel));
        g_autoptr(VsmDomainInfo) b = parse_ok(ver, strlen(ver));

        g_assert_cmpstr(a->name, ==, "t");
        g_assert_cmpstr(b->name, ==, "t");
}

/* A document whose <metadata> holds prefix + n attributes + suffix. */
static char *attrs_doc(const char *prefix, guint n, const char *suffix) {
        g_autoptr(GString) s = g_string_new(HEAD "<metadata>");

        g_string_append(s, prefix);
        for (guint i = 0; i < n; i++)
                g_string_append_printf(s, " a%u=''", i);
        g_string_append(s, suffix);
        g_string_append(s, "</metadata></domain>");
        return g_string_free(g_steal_pointer(&s), FALSE);
}

static char *ns_doc(guint n) {
        g_autoptr(GString) s = g_string_new(HEAD "<metadata>");

        for (guint i = 0; i < n; i++)
                g_string_append_printf(s, "<p%u:x xmlns:p%u='urn:%u'/>", i, i, i);
        g_string_append(s, "</metadata></domain>");
        return g_string_free(g_steal_pointer(&s), FALSE);
}

/* libxml2 2.9 checks duplicate attributes and looks up namespaces in
 * quadratic time; the lexical caps keep a 4 MiB document to about a second. */
static void test_markup_caps(void) {
        g_autofree char *a256 = attrs_doc("<x", 256, "/>");
        g_autofree char *a257 = attrs_doc("<x", 257, "/>");
        /* '>' and '<' inside quotes, and '=' in text, do not hide or add any */
        g_autofree char *gt = attrs_doc("<x q='>'", 256, "/>");
        g_autofree char *eq_text = attrs_doc("<x", 200, ">=================================================="
                                             "==================================================</x>");
        /* libxml2 resumes inside a comment at an invalid character */
        g_autofree char *comment = attrs_doc("<!-- \x01 <x", 300, "/> -->");
        g_autofree char *ns128 = ns_doc(128);
        g_autofree char *ns129 = ns_doc(129);
        g_autoptr(VsmDomainInfo) i1 = parse_ok(a256, strlen(a256));
        g_autoptr(VsmDomainInfo) i2 = parse_ok(eq_text, strlen(eq_text));
        g_autoptr(VsmDomainInfo) i3 = parse_ok(ns128, strlen(ns128));

        g_assert_cmpstr(i1->name, ==, "t");
        g_assert_cmpstr(i2->name, ==, "t");
        g_assert_null(i3->metadata);       /* 128 foreign namespaces */
        parse_bad(a257, strlen(a257), "more than 256 attributes in the tag at offset 92");
        parse_bad(gt, strlen(gt), "more than 256 attributes");
        parse_bad(comment, strlen(comment), "more than 256 attributes");
        parse_bad(ns129, strlen(ns129), "more than 128 namespace declarations");
}

/* ---- VSIID derivation ----------------------------------------------------- */

typedef struct DeriveCase {
        const char *uuid;
        const char *mac;
        const char *want;
} DeriveCase;

/* Computed with Python's hashlib: sha1(ns.bytes + mac)[:16], then version 5
 * and the RFC 4122 variant.  The first agrees with uuid.uuid5(), whose name
 * is UTF-8 (the same octets, all MAC octets being below 0x80). */
static const DeriveCase derive_cases[] = {
        { UUID_A, "52:54:00:6b:3c:58", "fdb4a411-1eae-54c9-90c1-8a45b8bbcef1" },
        { UUID_A, "52:54:00:a1:b2:c3", "73ea2995-a645-5018-b6bb-37a050ca17de" },
        { "e3b0c442-98fc-4c14-9afb-f4c8996fb924", "52:54:00:de:ad:01", "21620b91-ac62-5d22-851d-963c865d2a58" },
        { "00000000-0000-0000-0000-000000000000", "ff:ff:ff:ff:ff:ff", "48057229-9fbd-50d4-9e8e-09daafc66f8b" },
};

/* nwfilter IP (libvirt's) and IPV6 (custom filters') parameters: the
 * addresses the NIC may own; any of them restricts. */
static void test_nwfilter(void) {
        static const char none[] = IFACE("bridge", "<filterref filter='clean-traffic'/>");
        static const char other[] = IFACE("bridge", "<filterref filter='f'><parameter name='DHCPSERVER' "
                                                    "value='10.0.0.1'/></filterref>");
        static const char some[] = IFACE(
                "bridge", "<filterref filter='clean-traffic'>"
                          "<parameter name='IP' value='10.0.0.1'/><parameter name='IP' value='10.0.0.2'/>"
                          "<parameter name='IPV6' value='2001:db8::5'/><parameter name='ip' value='10.0.0.9'/>"
                          "<parameter name='IP' value='not-an-ip'/></filterref>");
        static const char bad_only[] = IFACE("bridge", "<filterref filter='f'><parameter name='IP' value='x'/>"
                                                       "</filterref>");
        g_autoptr(VsmDomainInfo) a = parse_ok(none, strlen(none));
        g_autoptr(VsmDomainInfo) b = parse_ok(other, strlen(other));
        g_autoptr(VsmDomainInfo) c = parse_ok(some, strlen(some));
        g_autoptr(VsmDomainInfo) d = parse_ok(bad_only, strlen(bad_only));
        g_autoptr(GString) many = g_string_new(IFACE("bridge", "<filterref filter='f'>"));
        g_autoptr(VsmDomainInfo) e = NULL;
        const VsmNicInfo *n;
        uint8_t want[16] = { 0 };

        n = a->nics->pdata[0];
        g_assert_false(n->ip_restricted);
        n = b->nics->pdata[0];
        g_assert_false(n->ip_restricted);
        n = c->nics->pdata[0];
        g_assert_true(n->ip_restricted);
        g_assert_cmpuint(n->n_allowed_ips, ==, 3);
        g_assert_false(n->allowed_ips[0].is_ip6);
        g_assert_cmpmem(n->allowed_ips[0].address, 4, ((const uint8_t[]) { 10, 0, 0, 1 }), 4);
        g_assert_cmpmem(n->allowed_ips[1].address, 4, ((const uint8_t[]) { 10, 0, 0, 2 }), 4);
        g_assert_true(n->allowed_ips[2].is_ip6);
        g_assert_cmpint(inet_pton(AF_INET6, "2001:db8::5", want), ==, 1);
        g_assert_cmpmem(n->allowed_ips[2].address, 16, want, 16);
        n = d->nics->pdata[0];
        g_assert_true(n->ip_restricted);        /* fails closed */
        g_assert_cmpuint(n->n_allowed_ips, ==, 0);

        /* Past the cap: restricted, the first VSM_NIC_ALLOWED_IPS_MAX kept. */
        g_string_truncate(many, (gsize) (strstr(many->str, "</interface>") - many->str));
        for (guint i = 0; i < VSM_NIC_ALLOWED_IPS_MAX + 10; i++)
                g_string_append_printf(many, "<parameter name='IP' value='10.1.%u.%u'/>", i / 256, i % 256);
        g_string_append(many, "</filterref></interface>" DEVS_TAIL);
        e = parse_ok(many->str, many->len);
        n = e->nics->pdata[0];
        g_assert_true(n->ip_restricted);
        g_assert_cmpuint(n->n_allowed_ips, ==, VSM_NIC_ALLOWED_IPS_MAX);
}

/* type='direct': source/@dev and @mode (libvirt's virNetDevMacVLanMode
 * names), vepa when @mode is absent; the macvtap is target/@dev. */
static void test_direct(void) {
        static const struct {
                const char *source;
                const char *dev;
                VsmDirectMode mode;
        } cases[] = {
                { "<source dev='eth0' mode='vepa'/>", "eth0", VSM_DIRECT_MODE_VEPA },
                { "<source dev='bond0' mode='bridge'/>", "bond0", VSM_DIRECT_MODE_BRIDGE },
                { "<source dev='eth1' mode='private'/>", "eth1", VSM_DIRECT_MODE_PRIVATE },
                { "<source dev='ens1f0' mode='passthrough'/>", "ens1f0", VSM_DIRECT_MODE_PASSTHROUGH },
                { "<source dev='up0'/>", "up0", VSM_DIRECT_MODE_VEPA },
                { "", NULL, VSM_DIRECT_MODE_VEPA },
        };

        for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
                g_autofree char *xml = g_strdup_printf(DEVS_HEAD "<interface type='direct'>"
                                                       "<mac address='52:54:00:00:00:01'/>%s"
                                                       "<target dev='macvtap3'/></interface>" DEVS_TAIL,
                                                       cases[i].source);
                g_autoptr(VsmDomainInfo) info = parse_ok(xml, strlen(xml));
                const VsmNicInfo *n = nic(info, 0);

                g_assert_cmpstr(n->type, ==, "direct");
                g_assert_cmpstr(n->source_dev, ==, cases[i].dev);
                g_assert_cmpint(n->direct_mode, ==, cases[i].mode);
                g_assert_cmpstr(n->target_dev, ==, "macvtap3");
                g_assert_null(n->source_bridge);
        }
        /* A bridge NIC's source/@dev is nothing of ours. */
        {
                static const char xml[] = IFACE("bridge", "<source bridge='br0' dev='eth0'/>");
                g_autoptr(VsmDomainInfo) info = parse_ok(xml, strlen(xml));

                g_assert_null(nic(info, 0)->source_dev);
        }
        g_assert_cmpstr(vsm_direct_mode_to_string(VSM_DIRECT_MODE_PASSTHROUGH), ==, "passthrough");
        g_assert_cmpstr(vsm_direct_mode_to_string(VSM_DIRECT_MODE_MAX), ==, "?");
}

static void test_derive(gconstpointer data) {
        const DeriveCase *dc = data;
        uint8_t uuid[16], mac[VSM_ETH_ALEN], out[VSM_VDP_VSIID_LEN];

        g_assert_cmpint(vsm_uuid_parse(dc->uuid, uuid), ==, 0);
        g_assert_cmpint(vsm_mac_parse(dc->mac, mac), ==, 0);
        vsm_nic_derive_instance(uuid, mac, out);
        assert_uuid(out, dc->want);
        g_assert_cmpuint(out[6] >> 4, ==, 5);
        g_assert_cmpuint(out[8] & 0xc0, ==, 0x80);
}

int main(int argc, char **argv) {
        g_test_init(&argc, &argv, NULL);

        g_test_add_func("/domain-xml/running", test_running);
        g_test_add_func("/domain-xml/inactive", test_inactive);
        g_test_add_func("/domain-xml/misc-good", test_misc_good);
        for (gsize i = 0; i < G_N_ELEMENTS(good_cases); i++) {
                g_autofree char *name = g_strdup_printf("/domain-xml/good/%s", good_cases[i].name);
                g_test_add_data_func(name, &good_cases[i], test_good);
        }
        for (gsize i = 0; i < G_N_ELEMENTS(meta_cases); i++) {
                g_autofree char *name = g_strdup_printf("/domain-xml/metadata/%s", meta_cases[i].name);
                g_test_add_data_func(name, &meta_cases[i], test_metadata);
        }
        for (gsize i = 0; i < G_N_ELEMENTS(bad_cases); i++) {
                g_autofree char *name = g_strdup_printf("/domain-xml/bad/%s", bad_cases[i].name);
                g_test_add_data_func(name, &bad_cases[i], test_bad);
        }
        for (gsize i = 0; i < G_N_ELEMENTS(bad_files); i++) {
                g_autofree char *name = g_strdup_printf("/domain-xml/bad-file/%s", bad_files[i].file);
                g_test_add_data_func(name, &bad_files[i], test_bad_file);
        }
        g_test_add_func("/domain-xml/binary", test_binary);
        g_test_add_func("/domain-xml/misc-bad", test_misc_bad);
        g_test_add_func("/domain-xml/warning-only", test_warning_only);
        g_test_add_func("/domain-xml/size", test_size);
        g_test_add_func("/domain-xml/nic-cap", test_nic_cap);
        g_test_add_func("/domain-xml/markup-caps", test_markup_caps);
        g_test_add_func("/domain-xml/nwfilter", test_nwfilter);
        g_test_add_func("/domain-xml/direct", test_direct);
        for (gsize i = 0; i < G_N_ELEMENTS(derive_cases); i++) {
                g_autofree char *name = g_strdup_printf("/domain-xml/derive/%" G_GSIZE_FORMAT, i);
                g_test_add_data_func(name, &derive_cases[i], test_derive);
        }
        return g_test_run();
}
