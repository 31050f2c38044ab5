/* lldpad's side of libvirt's 802.1Qbg netlink protocol: the codec of the
 * unicast NETLINK_ROUTE messages libvirt sends to the "lldpad" port
 * (RTM_SETLINK with IFLA_VF_PORTS, RTM_GETLINK polls), the replies
 * (NLMSG_ERROR, NLMSG_DONE with IFLA_PORT_RESPONSE) and the unsolicited
 * DE-ASSOCIATE notice, plus the socket that speaks them.
 *
 * Layouts: linux/if_link.h (IFLA_VF_PORTS, IFLA_PORT_*, struct
 * ifla_port_vsi, ifla_vf_mac, ifla_vf_vlan); what libvirt sends and
 * accepts and what lldpad answers is in the project's research note
 * libvirt-lldpad-netlink.md (libvirt virnetdevvportprofile.c 632-1001,
 * virnetdevmacvlan.c 623-848; lldpad qbg/vdpnl.c).  Netlink integers are
 * in host byte order.
 *
 * The codec functions are pure (no fds, no logging) and are fuzzed
 * (tests/fuzz/fuzz-qbgnl.c); only the vsm_qbgnl_socket_* functions make
 * syscalls. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define VSM_QBGNL_IFNAMSIZ 16
/* Largest request we read; libvirt's are ~150 octets. */
#define VSM_QBGNL_MAX_MSG 4096
/* GETLINK replies stay within this (libnl's default receive buffer is one
 * page): ports beyond it are left out, newest request first. */
#define VSM_QBGNL_MAX_REPLY 4096
/* IFLA_VF_INFO / IFLA_VF_PORT entries in one request: libvirt sends one. */
#define VSM_QBGNL_MAX_NESTED 8

/* IFLA_PORT_REQUEST values (linux/if_link.h), equal to VsmVdpRequest. */
enum {
        VSM_QBGNL_PORT_PREASSOCIATE = 0,
        VSM_QBGNL_PORT_PREASSOCIATE_RR = 1,
        VSM_QBGNL_PORT_ASSOCIATE = 2,
        VSM_QBGNL_PORT_DISASSOCIATE = 3,
};

/* IFLA_PORT_RESPONSE values we hand libvirt: lldpad's VDP22 status
 * (qbg/vdp22.c), the bridge's reason code for 1..5. */
enum {
        VSM_QBGNL_RESPONSE_SUCCESS = 0,
        VSM_QBGNL_RESPONSE_INVALID_FORMAT = 1,
        VSM_QBGNL_RESPONSE_RESOURCES = 2,
        VSM_QBGNL_RESPONSE_NO_VSI_MANAGER = 3,
        VSM_QBGNL_RESPONSE_OTHER = 4,
        VSM_QBGNL_RESPONSE_BAD_ADDRESS = 5,
        VSM_QBGNL_RESPONSE_TIMEOUT = 253,
};

typedef enum VsmQbgnlKind {
        VSM_QBGNL_SETLINK,
        VSM_QBGNL_GETLINK,
        _VSM_QBGNL_KIND_MAX,
} VsmQbgnlKind;

/* One decoded request.  has_* say which attributes were present. */
typedef struct VsmQbgnlRequest {
        VsmQbgnlKind kind;
        uint16_t nl_flags;
        uint32_t nl_seq;
        uint32_t nl_pid;                 /* header nlmsg_pid: libvirt's event port */
        int32_t ifindex;
        bool has_ifname;
        char ifname[VSM_QBGNL_IFNAMSIZ];
        /* SETLINK: IFLA_VFINFO_LIST / IFLA_VF_INFO */
        bool has_mac;
        uint8_t mac[6];
        bool has_vlan;
        uint16_t vlan;
        /* SETLINK: IFLA_VF_PORTS / IFLA_VF_PORT */
        bool has_port_vf;
        uint32_t port_vf;
        bool has_vsi_type;
        uint8_t mgr_id;
        uint32_t type_id;                /* 24 bit */
        uint8_t type_version;
        bool has_instance;
        uint8_t instance[16];
        bool has_request;
        uint8_t request;
        /* GETLINK */
        bool has_ext_mask;
        uint32_t ext_mask;
} VsmQbgnlRequest;

/* Decodes the first netlink message in buf.  0; -EBADMSG for a malformed
 * header or attribute (lengths, nesting, sizes); -EMSGSIZE when longer
 * than VSM_QBGNL_MAX_MSG; -EOPNOTSUPP for a message type other than
 * RTM_SETLINK / RTM_GETLINK; -E2BIG for more than VSM_QBGNL_MAX_NESTED
 * entries in a list; -ERANGE for a VID above 4095.  On failure, ret still
 * holds the header's flags, seq and pid when the header itself was
 * complete (nl_seq/nl_pid, else zero), so an error can be answered. */
int vsm_qbgnl_parse(const uint8_t *buf, size_t len, VsmQbgnlRequest *ret);

/* What a SETLINK must carry for 802.1Qbg: a port request 0..3, the
 * instance UUID, the VSI type, and the MAC with its VID (lldpad rejects a
 * MAC without a VID: libvirt always sends both).  0 or -EINVAL, with a
 * static reason in *ret_why. */
int vsm_qbgnl_setlink_check(const VsmQbgnlRequest *req, const char **ret_why);

/* NLMSG_ERROR answering the request whose header is hdr_bytes (16 octets,
 * the request's nlmsghdr as received); error is 0 or -errno.  Returns the
 * length, or -ENOBUFS. */
int vsm_qbgnl_build_error(uint8_t *buf, size_t size, const uint8_t *req_hdr, uint32_t our_pid, int error);

typedef struct VsmQbgnlPort {
        uint8_t instance[16];
        bool has_response;               /* false while the bridge has not answered */
        uint16_t response;
} VsmQbgnlPort;

/* NLMSG_DONE + ifinfomsg + IFLA_VF_PORTS{IFLA_VF_PORT{IFLA_PORT_VF=-1,
 * IFLA_PORT_INSTANCE_UUID, [IFLA_PORT_RESPONSE]}...} as lldpad's
 * vdpnl_reply2 writes it.  Ports that would make the message longer than
 * size are left out; *ret_n_written says how many went in.  Returns the
 * length, or -ENOBUFS when not even the empty reply fits. */
int vsm_qbgnl_build_getlink_reply(uint8_t *buf, size_t size, uint32_t seq, uint32_t our_pid, int32_t ifindex,
                                  const VsmQbgnlPort *ports, size_t n_ports, size_t *ret_n_written);

/* The unsolicited notice to libvirt that the bridge de-associated a VSI,
 * as lldpad's vdpnl_send writes it: RTM_SETLINK, header nlmsg_pid = our
 * pid (libvirt compares it with /var/run/lldpad.pid), IFLA_IFNAME,
 * IFLA_VFINFO_LIST{IFLA_VF_INFO{IFLA_VF_MAC, IFLA_VF_VLAN}} (libvirt
 * matches the MAC), IFLA_VF_PORTS{IFLA_VF_PORT{IFLA_PORT_VF,
 * IFLA_PORT_VSI_TYPE, IFLA_PORT_INSTANCE_UUID, IFLA_PORT_REQUEST=3 as a
 * u16}}.  Returns the length or -ENOBUFS. */
int vsm_qbgnl_build_notice(uint8_t *buf, size_t size, uint32_t seq, uint32_t our_pid, int32_t ifindex,
                           const char *ifname, const uint8_t mac[6], uint16_t vlan, uint8_t mgr_id,
                           uint32_t type_id, uint8_t type_version, const uint8_t instance[16]);

const char *vsm_qbgnl_port_request_to_string(uint8_t request);

/* The socket: NETLINK_ROUTE bound to nl_pid = getpid(), groups 0, with
 * SO_PASSCRED so every datagram carries its sender's credentials.
 * Returns the fd or -errno (-EADDRINUSE: another socket of this process
 * already holds the port). */
int vsm_qbgnl_socket_open(void);

/* One datagram: its bytes, the sender's port (nl_pid of the source
 * address) and uid (SCM_CREDENTIALS; (uid_t)-1 when none came).  Returns
 * the length (truncated datagrams: -EMSGSIZE) or -errno (-EAGAIN). */
ssize_t vsm_qbgnl_socket_recv(int fd, uint8_t *buf, size_t size, uint32_t *ret_port, uid_t *ret_uid,
                              pid_t *ret_pid);
/* Unicast to the netlink port (groups 0).  0 or -errno. */
int vsm_qbgnl_socket_send(int fd, uint32_t port, const uint8_t *buf, size_t len);
