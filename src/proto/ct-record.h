/* Connection-tracking entries as the conntrack carry moves them between
 * hosts (DESIGN.md section 4 "Conntrack"; issue 11): a compact binary
 * record per entry (base64 inside the peer channel's "conntrack"
 * message, daemon/peer.h), and the pure rules applied to them on both
 * sides: whose entry it is (address ownership), NAT detection, the
 * remaining lifetime, the zone mapping.
 *
 * Pure: no I/O, no GLib, no logging.
 *
 * Record (big-endian), 48 octets for IPv4, 96 for IPv6:
 *   u8 family (4|6) u8 l4proto u8 flags (bit 0: destroyed) u8 tcp_state
 *   be32 zone (0-65535) be32 status be32 mark be32 timeout (s)
 *   u8 wscale_orig u8 wscale_repl u8 tcpflags_orig u8 tcpflags_repl
 *   be16 orig_sport orig_dport repl_sport repl_dport
 *   orig_src orig_dst repl_src repl_dst (4 or 16 octets each) */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/buf.h"

#define VSM_CT_RECORD_LEN_IP4 48
#define VSM_CT_RECORD_LEN_IP6 96
#define VSM_CT_RECORD_HDR_LEN 32
#define VSM_CT_BATCH_MAX 16384          /* entries in one peer message */
#define VSM_CT_TIMEOUT_MAX 864000u      /* s (10 days; TCP established defaults to 5) */
#define VSM_CT_OWNED_MAX 256            /* owned addresses of one domain */
#define VSM_CT_ZONE_MAP_MAX 64
#define VSM_CT_TCP_STATE_MAX 10         /* TCP_CONNTRACK_MAX */
#define VSM_CT_WSCALE_MAX 14

#define VSM_CT_F_DESTROYED 0x01u

/* nf_conntrack_common.h: the status bits the carry looks at. */
#define VSM_CT_IPS_SEEN_REPLY 0x0002u
#define VSM_CT_IPS_ASSURED 0x0004u
#define VSM_CT_IPS_CONFIRMED 0x0008u
#define VSM_CT_IPS_SRC_NAT 0x0010u
#define VSM_CT_IPS_DST_NAT 0x0020u
/* nf_conntrack_tcp.h */
#define VSM_CT_TCP_FLAG_WINDOW_SCALE 0x01u
#define VSM_CT_TCP_FLAG_SACK_PERM 0x02u
#define VSM_CT_TCP_FLAG_CLOSE_INIT 0x04u
#define VSM_CT_TCP_FLAG_BE_LIBERAL 0x08u

typedef struct VsmCtEntry {
        uint8_t family;                 /* 4 or 6 */
        uint8_t proto;                  /* IPPROTO_* */
        uint8_t flags;                  /* VSM_CT_F_* */
        uint8_t tcp_state;              /* TCP_CONNTRACK_* (TCP only) */
        uint32_t zone;
        uint32_t status;                /* IPS_* */
        uint32_t mark;
        uint32_t timeout;               /* s left */
        uint8_t wscale_orig, wscale_repl, tcpflags_orig, tcpflags_repl;
        uint16_t orig_sport, orig_dport, repl_sport, repl_dport;  /* host order */
        uint8_t orig_src[16], orig_dst[16], repl_src[16], repl_dst[16];  /* IPv4 in the first 4 */
} VsmCtEntry;

/* Why an entry is not carried (or, at the destination, not installed). */
typedef enum VsmCtSkip {
        VSM_CT_SKIP_NAT,
        VSM_CT_SKIP_NOT_OWNED,
        VSM_CT_SKIP_CAP,
        VSM_CT_SKIP_PROTOCOL,
        VSM_CT_SKIP_ZONE,
        VSM_CT_SKIP_MALFORMED,          /* a peer message that did not decode */
        _VSM_CT_SKIP_MAX,
} VsmCtSkip;

typedef struct VsmCtAddr {
        uint8_t family;                 /* 4 or 6 */
        uint8_t nic;                    /* the vNIC's index in the domain */
        uint8_t addr[16];
} VsmCtAddr;

/* The addresses a domain owns (sm/learn.c's provenance rule). */
typedef struct VsmCtOwned {
        size_t n;
        VsmCtAddr a[VSM_CT_OWNED_MAX];
} VsmCtOwned;

typedef enum VsmCtZoneMode {
        VSM_CT_ZONE_KEEP,
        VSM_CT_ZONE_FIXED,
        VSM_CT_ZONE_BRIDGES,
} VsmCtZoneMode;

typedef struct VsmCtZoneMap {
        VsmCtZoneMode mode;
        uint16_t fixed;
        size_t n;
        struct {
                char bridge[16];
                uint16_t zone;
        } m[VSM_CT_ZONE_MAP_MAX];
} VsmCtZoneMap;

/* The record's length for e (0 for a family that is neither 4 nor 6). */
size_t vsm_ct_record_len(const VsmCtEntry *e);
/* Appends e's record; -ENOBUFS when w is full, -EINVAL for a bad family. */
int vsm_ct_record_write(VsmWriter *w, const VsmCtEntry *e);
/* Reads one record: -EBADMSG when truncated or out of range (family,
 * flags, zone > 65535, TCP state, window scale, timeout >
 * VSM_CT_TIMEOUT_MAX, a TCP state on a non-TCP entry). */
int vsm_ct_record_read(VsmReader *r, VsmCtEntry *ret);
/* Decodes a whole block into ret (room for max entries): the count, or
 * -EBADMSG (bad record, trailing octets), -E2BIG (more than max). */
int vsm_ct_records_decode(const uint8_t *data, size_t len, VsmCtEntry *ret, size_t max);

/* TCP and UDP are carried; others (ICMP re-creates its entry at the next
 * echo; SCTP, DCCP, GRE are not handled) are skipped. */
bool vsm_ct_proto_supported(uint8_t proto);
/* NAT: a SRC_NAT/DST_NAT status bit, or a reply tuple that does not
 * mirror the original one. */
bool vsm_ct_entry_is_nat(const VsmCtEntry *e);
/* Is one end of the flow an owned address?  Orig source or destination
 * (the flow as the VM or its peer opened it), reply source or destination
 * (after NAT).  ret_nic (may be NULL): the owning vNIC's index. */
bool vsm_ct_owned_match(const VsmCtOwned *o, const VsmCtEntry *e, unsigned *ret_nic);
/* Adds an address (no duplicates); -ENOSPC when full. */
int vsm_ct_owned_add(VsmCtOwned *o, uint8_t family, const uint8_t *addr, uint8_t nic);
/* The carry's verdict on an entry: -1 carry it, else the VsmCtSkip. */
int vsm_ct_entry_check(const VsmCtEntry *e, const VsmCtOwned *o, bool nat_carry, unsigned *ret_nic);
/* The lifetime left of an entry whose timeout read timeout_s at
 * learned_usec, at now_usec (same clock): rounded up to the second, at
 * least 1, at most VSM_CT_TIMEOUT_MAX. */
uint32_t vsm_ct_timeout_remaining(uint32_t timeout_s, uint64_t learned_usec, uint64_t now_usec);

/* "keep" | a zone number | "BRIDGE:N,BRIDGE:N": 0 or -EINVAL. */
int vsm_ct_zone_map_parse(const char *s, VsmCtZoneMap *ret);
/* The zone to install an entry of zone under, for a vNIC on bridge (may
 * be NULL): a bridge the map does not name keeps the zone. */
uint16_t vsm_ct_zone_map_apply(const VsmCtZoneMap *m, const char *bridge, uint16_t zone);

/* The flags and mask to install a carried TCP entry with, one direction:
 * what the window does not need (window scale, SACK, close-init) kept,
 * BE_LIBERAL set (the window itself does not transfer, DESIGN.md
 * section 4), the rest cleared. */
void vsm_ct_tcp_install_flags(uint8_t carried, uint8_t *ret_flags, uint8_t *ret_mask);
/* The status bits to install with: SEEN_REPLY, ASSURED (and the NAT
 * bits with nat_carry). */
uint32_t vsm_ct_install_status(const VsmCtEntry *e, bool nat_carry);

const char *vsm_ct_skip_to_string(VsmCtSkip s);
