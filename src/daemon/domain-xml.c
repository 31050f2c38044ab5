/* Domain XML (libvirt's <domain> document, untrusted) -> VsmDomainInfo.
 *
 * Parsed with libxml2 and read with XPath, the way libvirt 9.0 reads it
 * (src/conf/domain_conf.c, netdev_vlan_conf.c, netdev_vport_profile_conf.c).
 * Bounded: size cap, UTF-8 and no NUL checked before parsing; lexical caps on
 * attributes per tag and namespace declarations (libxml2 2.9 is quadratic
 * in both); libxml2's depth limit (no XML_PARSE_HUGE); a cap on interfaces
 * before any is extracted.  No network, no DTD loading, no entity
 * substitution; a document type declaration is refused outright (libvirt
 * never writes one), so internal-subset entity bombs and external entities
 * are never even declared.
 *
 * The per-NIC VSIID fallback is an RFC 4122 section 4.3 name-based UUID
 * (version 5, SHA-1). */
#include "daemon/domain-xml.h"

#include <arpa/inet.h>

#include <errno.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/parserInternals.h>
#include <libxml/tree.h>
#include <libxml/xpath.h>
#include <libxml/xpathInternals.h>

#include "daemon/config.h"

G_DEFINE_AUTOPTR_CLEANUP_FUNC(xmlDoc, xmlFreeDoc)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(xmlParserCtxt, xmlFreeParserCtxt)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(xmlXPathContext, xmlXPathFreeContext)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(xmlXPathObject, xmlXPathFreeObject)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(xmlBuffer, xmlBufferFree)

/* libxml2 2.12 made the structured error const. */
#if LIBXML_VERSION >= 21200
typedef const xmlError VsmXmlError;
#else
typedef xmlError VsmXmlError;
#endif

#define VSM_VLAN_MIN 1
#define VSM_VLAN_MAX 4094
#define VSM_QBG_MANAGER_ID_MAX 0xff
#define VSM_QBG_TYPE_ID_MAX 0xffffff
#define VSM_QBG_TYPE_VERSION_MAX 0xff
/* How much of an offending value an error message quotes. */
#define VSM_ERR_VALUE_MAX 64
/* IFNAMSIZ - 1 */
#define VSM_IFNAME_MAX 15
/* Lexical caps checked before libxml2 runs; see markup_prescan().  libvirt
 * writes a handful of attributes per element and one namespace declaration
 * per <metadata> child (plus qemu:commandline and the like). */
#define VSM_XML_TAG_ATTRS_MAX 256
#define VSM_XML_NS_DECLS_MAX 128

/* Free a NIC record; NULL is fine.  Returns NULL. */
VsmNicInfo *vsm_nic_info_free(VsmNicInfo *n) {
        if (!n)
                return NULL;
        g_free(n->type);
        g_free(n->target_dev);
        g_free(n->source_bridge);
        g_free(n->source_network);
        g_free(n->source_dev);
        g_free(n->qbg_manager_id);
        g_free(n);
        return NULL;
}

/* Free a parsed domain and its NICs; NULL is fine.  Returns NULL. */
VsmDomainInfo *vsm_domain_info_free(VsmDomainInfo *d) {
        if (!d)
                return NULL;
        g_free(d->name);
        g_clear_pointer(&d->nics, g_ptr_array_unref);
        g_free(d->metadata);
        g_free(d);
        return NULL;
}

static const char *const direct_mode_names[VSM_DIRECT_MODE_MAX] = {
        [VSM_DIRECT_MODE_VEPA] = "vepa",
        [VSM_DIRECT_MODE_PRIVATE] = "private",
        [VSM_DIRECT_MODE_BRIDGE] = "bridge",
        [VSM_DIRECT_MODE_PASSTHROUGH] = "passthrough",
};

/* "vepa", "private", "bridge", "passthrough"; "?" out of range. */
const char *vsm_direct_mode_to_string(VsmDirectMode m) {
        return (guint) m < VSM_DIRECT_MODE_MAX ? direct_mode_names[m] : "?";
}

static void nic_info_free_void(gpointer p) {
        vsm_nic_info_free(p);
}

/* A value from the document, escaped and cut short for an error message. */
static char *err_value(const char *s) {
        g_autofree char *cut = NULL;
        gsize n = strlen(s);

        if (n > VSM_ERR_VALUE_MAX) {
                /* Cut on a character boundary; libxml2 hands out valid UTF-8. */
                const char *end = g_utf8_find_prev_char(s, s + VSM_ERR_VALUE_MAX + 1);

                cut = g_strdup_printf("%.*s...", (int) (end ? end - s : 0), s);
                s = cut;
        }
        return g_strescape(s, NULL);
}

/* ---- Before libxml2 ------------------------------------------------------ */

/* Refuse, before libxml2 sees them, the shapes that make libxml2 2.9
 * quadratic:
 * - its duplicate-attribute check (xmlParseStartTag2()) compares each
 *   attribute of a start tag with every one before it (hashed only since
 *   2.12): one tag with 400000 attributes costs minutes;
 * - namespace lookups (xmlGetNamespace(), xmlSearchNs()) walk every
 *   declaration in scope, per element and per prefixed attribute.
 * Both counts are upper bounds, found without parsing: an attribute needs an
 * '=' outside quotes, between its tag's '<' and the next '>' outside quotes
 * or the next '<' (a value cannot contain '<'; libxml2 ends the tag there).
 * A namespace declaration's name is literally "xmlns", which no entity can
 * produce.  Comments and CDATA are not skipped on purpose: libxml2 resumes
 * parsing inside a comment that holds an invalid character. */
static gboolean markup_prescan(const char *xml, gsize len, GError **error) {
        const char *p = xml, *end = xml + len;
        guint n_ns = 0;

        for (const char *q = xml; (q = memmem(q, (gsize) (end - q), "xmlns", 5)); q += 5)
                if (++n_ns > VSM_XML_NS_DECLS_MAX) {
                        g_set_error(error, VSM_ERROR, VSM_ERROR_INVALID,
                                    "domain XML: more than %d namespace declarations", VSM_XML_NS_DECLS_MAX);
                        return FALSE;
                }

        while ((p = memchr(p, '<', (gsize) (end - p)))) {
                const char *tag = p++;
                char quote = 0;
                guint n_eq = 0;

                for (; p < end && *p != '<'; p++) {
                        if (quote) {
                                if (*p == quote)
                                        quote = 0;
                        } else if (*p == '"' || *p == '\'') {
                                quote = *p;
                        } else if (*p == '=') {
                                n_eq++;
                        } else if (*p == '>') {
                                break;
                        }
                }
                if (n_eq > VSM_XML_TAG_ATTRS_MAX) {
                        g_set_error(error, VSM_ERROR, VSM_ERROR_INVALID,
                                    "domain XML: more than %d attributes in the tag at offset %" G_GSIZE_FORMAT,
                                    VSM_XML_TAG_ATTRS_MAX, (gsize) (tag - xml));
                        return FALSE;
                }
        }
        return TRUE;
}

/* ---- libxml2 parsing ---------------------------------------------------- */

typedef struct ParseState {
        char *error;            /* first error, or NULL */
        int doctype_line;       /* line of a refused <!DOCTYPE>, or 0 */
} ParseState;

/* Parser-context error sink: keeps the first message for the GError and
 * stops libxml2 printing to stderr. */
static void on_parser_error(void *user_data, VsmXmlError *err) {
        xmlParserCtxt *ctxt = user_data;
        ParseState *st = ctxt ? ctxt->_private : NULL;

        if (!st || st->error || !err)
                return;
        if (err->level < XML_ERR_ERROR)
                return;
        st->error = g_strdup_printf("line %d: %s", err->line, err->message ? err->message : "unknown error");
        /* libxml2's messages end in a newline. */
        g_strchomp(st->error);
}

/* SAX internalSubset: called as soon as "<!DOCTYPE name ..." is read, before
 * any markup declaration in it.  libvirt never writes a DOCTYPE, and refusing
 * it here means no entity is ever declared, let alone expanded or loaded. */
static void on_doctype(void *user_data, const xmlChar *name, const xmlChar *external_id,
                       const xmlChar *system_id) {
        xmlParserCtxt *ctxt = user_data;
        ParseState *st = ctxt->_private;

        if (!st->doctype_line)
                st->doctype_line = ctxt->input ? MAX(ctxt->input->line, 1) : 1;
        ctxt->wellFormed = 0;
        xmlStopParser(ctxt);
}

static void on_xpath_error(void *user_data, VsmXmlError *err) {
        /* Our expressions are constants; nothing to report but a NULL result. */
}

static void libxml_init_once(void) {
        static gsize done;

        if (g_once_init_enter(&done)) {
                xmlInitParser();
                g_once_init_leave(&done, 1);
        }
}

static xmlDoc *parse_document(const char *xml, gsize len, GError **error) {
        g_autoptr(xmlParserCtxt) ctxt = NULL;
        g_autoptr(xmlDoc) doc = NULL;
        g_autofree char *first_error = NULL;
        ParseState st = { NULL, 0 };

        ctxt = xmlCreateMemoryParserCtxt(xml, (int) len);
        if (!ctxt) {
                g_set_error(error, VSM_ERROR, VSM_ERROR_INVALID, "domain XML: cannot create a parser");
                return NULL;
        }
        ctxt->_private = &st;
        ctxt->sax->serror = on_parser_error;
        ctxt->sax->internalSubset = on_doctype;
        ctxt->sax->externalSubset = NULL;
        /* No XML_PARSE_NOENT, XML_PARSE_DTDLOAD, XML_PARSE_DTDATTR or
         * XML_PARSE_HUGE.  XML_PARSE_IGNORE_ENC: read UTF-8 (checked by the
         * caller) whatever the declaration says; libvirt writes UTF-8, and
         * this keeps libxml2's iconv converters out of reach. */
        xmlCtxtUseOptions(ctxt, XML_PARSE_NONET | XML_PARSE_NOBLANKS | XML_PARSE_IGNORE_ENC);

        xmlParseDocument(ctxt);
        doc = g_steal_pointer(&ctxt->myDoc);
        ctxt->_private = NULL;
        first_error = g_steal_pointer(&st.error);

        if (st.doctype_line) {
                g_set_error(error, VSM_ERROR, VSM_ERROR_INVALID,
                            "domain XML: document type declarations (<!DOCTYPE>) are not accepted (line %d)",
                            st.doctype_line);
                return NULL;
        }
        if (!ctxt->wellFormed || first_error || !doc) {
                g_set_error(error, VSM_ERROR, VSM_ERROR_INVALID, "domain XML is not well-formed: %s",
                            first_error ? first_error : "parse failed");
                return NULL;
        }
        return g_steal_pointer(&doc);
}

/* ---- XPath helpers ------------------------------------------------------ */

/* Evaluate expr with node as the context node.  NULL only on an internal
 * failure (out of memory); an empty node-set is a valid result. */
static xmlXPathObject *xpath_eval(xmlXPathContext *xp, xmlNode *node, const char *expr, GError **error) {
        xmlXPathObject *obj;

        xp->node = node;
        obj = xmlXPathEval((const xmlChar *) expr, xp);
        if (!obj || obj->type != XPATH_NODESET) {
                xmlXPathFreeObject(obj);
                g_set_error(error, VSM_ERROR, VSM_ERROR_INVALID, "domain XML: cannot evaluate %s", expr);
                return NULL;
        }
        return obj;
}

static guint xpath_count(const xmlXPathObject *obj) {
        return obj->nodesetval ? (guint) obj->nodesetval->nodeNr : 0;
}

/* The first node (document order) expr selects: *ret_node is NULL when it
 * selects nothing.  FALSE only on an internal failure. */
static gboolean xpath_node(xmlXPathContext *xp, xmlNode *node, const char *expr, xmlNode **ret_node,
                           GError **error) {
        g_autoptr(xmlXPathObject) obj = xpath_eval(xp, node, expr, error);

        if (!obj)
                return FALSE;
        *ret_node = xpath_count(obj) > 0 ? obj->nodesetval->nodeTab[0] : NULL;
        return TRUE;
}

/* The string value of the first node expr selects, or NULL in *ret_value
 * when it selects nothing (so a missing attribute differs from an empty
 * one).  FALSE only on an internal failure. */
static gboolean xpath_string(xmlXPathContext *xp, xmlNode *node, const char *expr, char **ret_value,
                             GError **error) {
        xmlNode *n;
        xmlChar *s;

        if (!xpath_node(xp, node, expr, &n, error))
                return FALSE;
        if (!n) {
                *ret_value = NULL;
                return TRUE;
        }
        s = xmlXPathCastNodeToString(n);
        if (!s) {
                g_set_error(error, VSM_ERROR, VSM_ERROR_INVALID, "domain XML: cannot read %s", expr);
                return FALSE;
        }
        *ret_value = g_strdup((const char *) s);
        xmlFree(s);
        return TRUE;
}

/* ---- Values ------------------------------------------------------------- */

/* An unsigned number the way libvirt's virStrToLong_ui() reads it with the
 * given base (0: decimal, 0x-hex or 0-octal; leading white space and '+'
 * allowed, nothing after the digits).  Unlike libvirt we refuse a '-'
 * (libvirt wraps "-1" to UINT_MAX, which is out of every range here). */
static gboolean parse_uint(const char *s, guint base, guint64 max, guint64 *ret_value) {
        guint64 v;
        char *end;

        if (strchr(s, '-'))
                return FALSE;
        errno = 0;
        v = g_ascii_strtoull(s, &end, base);
        if (errno != 0 || end == s || *end != '\0' || v > max)
                return FALSE;
        *ret_value = v;
        return TRUE;
}

/* Linux's dev_valid_name(): what the kernel accepts as an interface name. */
static gboolean ifname_valid(const char *s) {
        gsize n = strlen(s);

        if (n == 0 || n > VSM_IFNAME_MAX || g_str_equal(s, ".") || g_str_equal(s, ".."))
                return FALSE;
        for (const char *p = s; *p; p++)
                if (*p == '/' || *p == ':' || g_ascii_isspace(*p))
                        return FALSE;
        return TRUE;
}

/* ---- Interfaces ---------------------------------------------------------- */

/* The optional attribute XPath 'expr' selects under node, checked as a
 * number in [min, max]; 'what' names it in errors.  *ret_present tells
 * whether it was there. */
static gboolean nic_uint(xmlXPathContext *xp, xmlNode *node, guint idx, const char *expr, const char *what,
                         guint base, guint64 min, guint64 max, gboolean *ret_present, guint64 *ret_value,
                         GError **error) {
        g_autofree char *s = NULL;
        guint64 v;

        if (!xpath_string(xp, node, expr, &s, error))
                return FALSE;
        if (!s) {
                *ret_present = FALSE;
                return TRUE;
        }
        if (!parse_uint(s, base, max, &v) || v < min) {
                g_autofree char *q = err_value(s);

                g_set_error(error, VSM_ERROR, VSM_ERROR_INVALID,
                            "/domain/devices/interface[%u]: %s '%s' is not a number in %" G_GUINT64_FORMAT
                            "-%" G_GUINT64_FORMAT, idx, what, q, min, max);
                return FALSE;
        }
        *ret_present = TRUE;
        *ret_value = v;
        return TRUE;
}

/* <virtualport type='802.1Qbg'><parameters managerid= typeid=
 * typeidversion= instanceid=/></virtualport>, as libvirt's
 * virNetDevVPortProfileParse() reads it: the three numbers in base 0,
 * instanceid a UUID.  libvirt requires all three numbers except on
 * <interface type='network'>, where the network's portgroup may supply the
 * rest; such a partial profile leaves has_qbg FALSE. */
static gboolean nic_parse_qbg(xmlXPathContext *xp, xmlNode *iface, guint idx, VsmNicInfo *nic,
                              GError **error) {
        xmlNode *params;
        g_autofree char *instance = NULL;
        gboolean has_mgr, has_type, has_ver;
        guint64 mgr = 0, type_id = 0, ver = 0;

        if (!xpath_node(xp, iface, "virtualport[@type='802.1Qbg'][1]/parameters[1]", &params, error))
                return FALSE;
        if (!params)
                return TRUE;

        if (!nic_uint(xp, params, idx, "@managerid", "virtualport/parameters/@managerid", 0, 0,
                      VSM_QBG_MANAGER_ID_MAX, &has_mgr, &mgr, error) ||
            !nic_uint(xp, params, idx, "@typeid", "virtualport/parameters/@typeid", 0, 0,
                      VSM_QBG_TYPE_ID_MAX, &has_type, &type_id, error) ||
            !nic_uint(xp, params, idx, "@typeidversion", "virtualport/parameters/@typeidversion", 0, 0,
                      VSM_QBG_TYPE_VERSION_MAX, &has_ver, &ver, error))
                return FALSE;
        if (!xpath_string(xp, params, "@instanceid", &instance, error))
                return FALSE;
        if (instance && vsm_uuid_parse(instance, nic->qbg_instance) < 0) {
                g_autofree char *q = err_value(instance);

                g_set_error(error, VSM_ERROR, VSM_ERROR_INVALID,
                            "/domain/devices/interface[%u]: virtualport/parameters/@instanceid '%s' is not a UUID",
                            idx, q);
                return FALSE;
        }
        nic->has_qbg_instance = instance != NULL;

        if (!(has_mgr && has_type && has_ver)) {
                if (g_str_equal(nic->type, "network"))
                        return TRUE;
                g_set_error(error, VSM_ERROR, VSM_ERROR_INVALID,
                            "/domain/devices/interface[%u]: 802.1Qbg virtualport/parameters lacks @%s", idx,
                            !has_mgr ? "managerid" : !has_type ? "typeid" : "typeidversion");
                return FALSE;
        }
        nic->has_qbg = TRUE;
        /* Canonical decimal, as libvirt formats it (managerid='%d'). */
        nic->qbg_manager_id = g_strdup_printf("%u", (unsigned) mgr);
        nic->qbg_type_id = (uint32_t) type_id;
        nic->qbg_type_version = (uint8_t) ver;
        return TRUE;
}

/* The nwfilter address parameters of the NIC's <filterref> (libvirt's
 * formatdomain: at most one filterref per interface, parameters as its
 * children).  Values are taken as inet_pton() reads them; a bad one, or
 * one past the cap, restricts without allowing anything. */
static gboolean nic_parse_nwfilter(xmlXPathContext *xp, xmlNode *iface, VsmNicInfo *nic, GError **error) {
        g_autoptr(xmlXPathObject) obj =
                xpath_eval(xp, iface, "filterref[1]/parameter[@name='IP' or @name='IPV6']/@value", error);

        if (!obj)
                return FALSE;
        for (guint i = 0; i < xpath_count(obj); i++) {
                xmlChar *v = xmlXPathCastNodeToString(obj->nodesetval->nodeTab[i]);
                VsmNicAddress a = { 0 };

                nic->ip_restricted = TRUE;
                if (!v)
                        continue;
                if (inet_pton(AF_INET, (const char *) v, a.address) == 1 ||
                    (a.is_ip6 = inet_pton(AF_INET6, (const char *) v, a.address) == 1)) {
                        if (nic->n_allowed_ips < VSM_NIC_ALLOWED_IPS_MAX)
                                nic->allowed_ips[nic->n_allowed_ips++] = a;
                }
                xmlFree(v);
        }
        return TRUE;
}

/* type='direct' (libvirt's virDomainNetDefParseXML: source/@mode is one
 * of virNetDevMacVLanMode, default vepa).  libvirt requires source/@dev;
 * a NIC without one is still listed (source_dev NULL): the follower then
 * finds no uplink for it, the rest of the domain is served. */
static gboolean nic_parse_direct(xmlXPathContext *xp, xmlNode *iface, guint idx, VsmNicInfo *nic,
                                 GError **error) {
        g_autofree char *mode = NULL;

        if (!xpath_string(xp, iface, "source[1]/@dev", &nic->source_dev, error) ||
            !xpath_string(xp, iface, "source[1]/@mode", &mode, error))
                return FALSE;
        if (nic->source_dev && !ifname_valid(nic->source_dev)) {
                g_autofree char *q = err_value(nic->source_dev);

                g_set_error(error, VSM_ERROR, VSM_ERROR_INVALID,
                            "/domain/devices/interface[%u]: source/@dev '%s' is not an interface name", idx, q);
                return FALSE;
        }
        nic->direct_mode = VSM_DIRECT_MODE_VEPA;
        if (!mode)
                return TRUE;
        for (guint i = 0; i < VSM_DIRECT_MODE_MAX; i++)
                if (g_str_equal(mode, direct_mode_names[i])) {
                        nic->direct_mode = (VsmDirectMode) i;
                        return TRUE;
                }
        {
                g_autofree char *q = err_value(mode);

                g_set_error(error, VSM_ERROR, VSM_ERROR_INVALID,
                            "/domain/devices/interface[%u]: source/@mode '%s' is not a macvtap mode", idx, q);
        }
        return FALSE;
}

static gboolean nic_parse(xmlXPathContext *xp, xmlNode *iface, guint idx, VsmNicInfo **ret_nic,
                          GError **error) {
        g_autoptr(VsmNicInfo) nic = g_new0(VsmNicInfo, 1);
        g_autofree char *mac = NULL;
        gboolean has_vlan;
        guint64 vlan = 0;

        if (!xpath_string(xp, iface, "@type", &nic->type, error))
                return FALSE;
        if (!nic->type || !*nic->type) {
                g_set_error(error, VSM_ERROR, VSM_ERROR_INVALID,
                            "/domain/devices/interface[%u]: missing type attribute", idx);
                return FALSE;
        }

        if (!xpath_string(xp, iface, "mac[1]/@address", &mac, error))
                return FALSE;
        if (!mac) {
                g_set_error(error, VSM_ERROR, VSM_ERROR_INVALID,
                            "/domain/devices/interface[%u]: missing mac/@address", idx);
                return FALSE;
        }
        if (vsm_mac_parse(mac, nic->mac) < 0) {
                g_autofree char *q = err_value(mac);

                g_set_error(error, VSM_ERROR, VSM_ERROR_INVALID,
                            "/domain/devices/interface[%u]: mac/@address '%s' is not a MAC address", idx, q);
                return FALSE;
        }
        /* libvirt refuses these too ("expected unicast mac address"). */
        if (nic->mac[0] & 0x01) {
                g_set_error(error, VSM_ERROR, VSM_ERROR_INVALID,
                            "/domain/devices/interface[%u]: mac/@address '%s' is a multicast address", idx, mac);
                return FALSE;
        }

        if (!xpath_string(xp, iface, "target[1]/@dev", &nic->target_dev, error))
                return FALSE;
        if (nic->target_dev && !ifname_valid(nic->target_dev)) {
                g_autofree char *q = err_value(nic->target_dev);

                g_set_error(error, VSM_ERROR, VSM_ERROR_INVALID,
                            "/domain/devices/interface[%u]: target/@dev '%s' is not an interface name", idx, q);
                return FALSE;
        }
        if (!xpath_string(xp, iface, "source[1]/@bridge", &nic->source_bridge, error) ||
            !xpath_string(xp, iface, "source[1]/@network", &nic->source_network, error))
                return FALSE;
        if (g_str_equal(nic->type, "direct") && !nic_parse_direct(xp, iface, idx, nic, error))
                return FALSE;

        /* libvirt's virNetDevVlanParse(): base 10, 0-4095; 0 and 4095 are
         * reserved VIDs and no VSI can be associated with them. */
        if (!nic_uint(xp, iface, idx, "vlan[1]/tag[1]/@id", "vlan/tag/@id", 10, VSM_VLAN_MIN, VSM_VLAN_MAX,
                      &has_vlan, &vlan, error))
                return FALSE;
        nic->has_vlan = has_vlan;
        nic->vlan = (uint16_t) vlan;

        if (!nic_parse_qbg(xp, iface, idx, nic, error))
                return FALSE;
        if (!nic_parse_nwfilter(xp, iface, nic, error))
                return FALSE;

        *ret_nic = g_steal_pointer(&nic);
        return TRUE;
}

/* ---- Metadata ------------------------------------------------------------ */

/* Our element under <metadata>, serialized on its own.  libvirt keeps only
 * the first element of each namespace, so do we.  The copy into a fresh
 * document carries namespace declarations made on ancestors (<domain>,
 * <metadata>) onto the element, so the string stands alone. */
static gboolean metadata_dump(xmlXPathContext *xp, xmlDoc *doc, char **ret_metadata, GError **error) {
        xmlNode *node, *copy;
        g_autoptr(xmlDoc) mdoc = NULL;
        g_autoptr(xmlBuffer) buf = NULL;

        if (!xpath_node(xp, xmlDocGetRootElement(doc),
                        "/domain/metadata/*[namespace-uri()='" VSIMIG_METADATA_NS "'][1]", &node, error))
                return FALSE;
        if (!node) {
                *ret_metadata = NULL;
                return TRUE;
        }
        mdoc = xmlNewDoc((const xmlChar *) "1.0");
        buf = xmlBufferCreate();
        copy = mdoc ? xmlDocCopyNode(node, mdoc, 1) : NULL;
        if (!buf || !copy) {
                g_set_error(error, VSM_ERROR, VSM_ERROR_INVALID, "domain XML: cannot copy <metadata>");
                return FALSE;
        }
        xmlDocSetRootElement(mdoc, copy);
        if (xmlNodeDump(buf, mdoc, copy, 0, 0) < 0) {
                g_set_error(error, VSM_ERROR, VSM_ERROR_INVALID, "domain XML: cannot serialize <metadata>");
                return FALSE;
        }
        *ret_metadata = g_strndup((const char *) xmlBufferContent(buf), (gsize) xmlBufferLength(buf));
        return TRUE;
}

/* ---- Entry points -------------------------------------------------------- */

/* Parse a libvirt <domain> document; see domain-xml.h for what is
 * extracted and what is refused. */
gboolean vsm_domain_xml_parse(const char *xml, gsize len, VsmDomainInfo **ret, GError **error) {
        g_autoptr(xmlDoc) doc = NULL;
        g_autoptr(xmlXPathContext) xp = NULL;
        g_autoptr(xmlXPathObject) ifaces = NULL;
        g_autoptr(VsmDomainInfo) info = NULL;
        g_autofree char *uuid = NULL;
        const char *end;
        xmlNode *root;
        guint n_ifaces;

        g_return_val_if_fail(xml != NULL || len == 0, FALSE);
        g_return_val_if_fail(ret != NULL, FALSE);

        if (len > VSM_DOMAIN_XML_MAX) {
                g_set_error(error, VSM_ERROR, VSM_ERROR_INVALID, "domain XML is too large (%" G_GSIZE_FORMAT
                            " octets, at most %d)", len, VSM_DOMAIN_XML_MAX);
                return FALSE;
        }
        if (len == 0) {
                g_set_error(error, VSM_ERROR, VSM_ERROR_INVALID, "domain XML is empty");
                return FALSE;
        }
        /* Before libxml2 sees it: UTF-8 only, and no NUL (which would also
         * let libxml2 and a C-string consumer disagree about the end). */
        if (memchr(xml, '\0', len)) {
                g_set_error(error, VSM_ERROR, VSM_ERROR_INVALID, "domain XML contains a NUL octet at offset %"
                            G_GSIZE_FORMAT, (gsize) ((const char *) memchr(xml, '\0', len) - xml));
                return FALSE;
        }
        if (!g_utf8_validate_len(xml, len, &end)) {
                g_set_error(error, VSM_ERROR, VSM_ERROR_INVALID, "domain XML is not valid UTF-8 (offset %"
                            G_GSIZE_FORMAT ")", (gsize) (end - xml));
                return FALSE;
        }

        if (!markup_prescan(xml, len, error))
                return FALSE;

        libxml_init_once();
        doc = parse_document(xml, len, error);
        if (!doc)
                return FALSE;

        root = xmlDocGetRootElement(doc);
        if (!root || root->ns || !xmlStrEqual(root->name, (const xmlChar *) "domain")) {
                g_autofree char *q = err_value(root ? (const char *) root->name : "");

                g_set_error(error, VSM_ERROR, VSM_ERROR_INVALID,
                            "domain XML: root element is <%s>%s, not <domain>", q,
                            root && root->ns ? " in a namespace" : "");
                return FALSE;
        }

        xp = xmlXPathNewContext(doc);
        if (!xp) {
                g_set_error(error, VSM_ERROR, VSM_ERROR_INVALID, "domain XML: cannot create an XPath context");
                return FALSE;
        }
        xp->error = on_xpath_error;
        xp->userData = NULL;

        info = g_new0(VsmDomainInfo, 1);
        info->nics = g_ptr_array_new_with_free_func(nic_info_free_void);

        if (!xpath_string(xp, root, "/domain/name[1]", &info->name, error))
                return FALSE;
        if (!info->name) {
                g_set_error(error, VSM_ERROR, VSM_ERROR_INVALID, "domain XML: missing <name>");
                return FALSE;
        }
        if (strlen(info->name) < 1 || strlen(info->name) > VSM_DOMAIN_NAME_MAX) {
                g_set_error(error, VSM_ERROR, VSM_ERROR_INVALID,
                            "domain XML: <name> must be 1-%d octets (has %" G_GSIZE_FORMAT ")",
                            VSM_DOMAIN_NAME_MAX, strlen(info->name));
                return FALSE;
        }

        if (!xpath_string(xp, root, "/domain/uuid[1]", &uuid, error))
                return FALSE;
        if (!uuid) {
                g_set_error(error, VSM_ERROR, VSM_ERROR_INVALID, "domain XML: missing <uuid>");
                return FALSE;
        }
        if (vsm_uuid_parse(uuid, info->uuid) < 0) {
                g_autofree char *q = err_value(uuid);

                g_set_error(error, VSM_ERROR, VSM_ERROR_INVALID, "domain XML: <uuid> '%s' is not a UUID", q);
                return FALSE;
        }

        /* Count first: nothing is extracted from a document with too many. */
        ifaces = xpath_eval(xp, root, "/domain/devices/interface", error);
        if (!ifaces)
                return FALSE;
        n_ifaces = xpath_count(ifaces);
        if (n_ifaces > VSM_DOMAIN_NICS_MAX) {
                g_set_error(error, VSM_ERROR, VSM_ERROR_INVALID,
                            "domain XML: %u interfaces, at most %d are supported", n_ifaces, VSM_DOMAIN_NICS_MAX);
                return FALSE;
        }
        for (guint i = 0; i < n_ifaces; i++) {
                VsmNicInfo *nic;

                if (!nic_parse(xp, ifaces->nodesetval->nodeTab[i], i + 1, &nic, error))
                        return FALSE;
                g_ptr_array_add(info->nics, nic);
        }

        if (!metadata_dump(xp, doc, &info->metadata, error))
                return FALSE;

        *ret = g_steal_pointer(&info);
        return TRUE;
}

/* RFC 4122 section 4.3, version 5: SHA-1 over the namespace UUID's 16
 * octets (here the domain UUID) then the name (here the 6 MAC octets); the
 * first 16 octets of the digest, with version and variant set. */
void vsm_nic_derive_instance(const uint8_t domain_uuid[16], const uint8_t mac[VSM_ETH_ALEN],
                             uint8_t ret[VSM_VDP_VSIID_LEN]) {
        g_autoptr(GChecksum) cs = g_checksum_new(G_CHECKSUM_SHA1);
        guint8 digest[20];
        gsize digest_len = sizeof(digest);

        G_STATIC_ASSERT(VSM_VDP_VSIID_LEN == 16);
        g_checksum_update(cs, domain_uuid, 16);
        g_checksum_update(cs, mac, VSM_ETH_ALEN);
        g_checksum_get_digest(cs, digest, &digest_len);
        g_assert(digest_len == sizeof(digest));

        digest[6] = (guint8) ((digest[6] & 0x0f) | 0x50);
        digest[8] = (guint8) ((digest[8] & 0x3f) | 0x80);
        memcpy(ret, digest, VSM_VDP_VSIID_LEN);
}
