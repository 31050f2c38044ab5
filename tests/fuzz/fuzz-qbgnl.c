/* Fuzz target for the 802.1Qbg netlink request decoder (src/io/qbgnl.c):
 * what libvirt, or anyone root on the host, sends to the agent's port.
 *
 * Every input is decoded; a request the decoder accepts must be answerable
 * (error reply, GETLINK reply), and a valid SETLINK must survive a round
 * trip through the notice encoder with the same fields.  A mismatch
 * aborts. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "io/qbgnl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        VsmQbgnlRequest req, back;
        uint8_t out[VSM_QBGNL_MAX_REPLY];
        VsmQbgnlPort port = { .has_response = true };
        const char *why = NULL;
        size_t written = 0;
        int r = vsm_qbgnl_parse(data, size, &req), n;

        if (r != 0 && r != -EBADMSG && r != -EMSGSIZE && r != -EOPNOTSUPP && r != -E2BIG && r != -ERANGE)
                abort();
        if (size >= 16 && vsm_qbgnl_build_error(out, sizeof(out), data, 1, r) != 36)
                abort();
        if (r < 0)
                return 0;
        if (req.has_ifname && (req.ifname[0] == '\0' || strlen(req.ifname) >= VSM_QBGNL_IFNAMSIZ))
                abort();
        if (req.has_vlan && req.vlan > 4095)
                abort();
        if (req.kind == VSM_QBGNL_GETLINK) {
                memcpy(port.instance, req.instance, 16);
                if (vsm_qbgnl_build_getlink_reply(out, sizeof(out), req.nl_seq, 1, req.ifindex, &port, 1, &written) <= 0 ||
                    written != 1)
                        abort();
                return 0;
        }
        if (vsm_qbgnl_setlink_check(&req, &why) < 0) {
                if (!why)
                        abort();
                return 0;
        }
        n = vsm_qbgnl_build_notice(out, sizeof(out), req.nl_seq, req.nl_pid, req.ifindex,
                                   req.has_ifname ? req.ifname : "x", req.mac, req.vlan, req.mgr_id, req.type_id,
                                   req.type_version, req.instance);
        if (n <= 0 || vsm_qbgnl_parse(out, (size_t) n, &back) != 0)
                abort();
        if (back.kind != VSM_QBGNL_SETLINK || back.request != VSM_QBGNL_PORT_DISASSOCIATE ||
            memcmp(back.mac, req.mac, 6) != 0 || back.vlan != req.vlan || back.mgr_id != req.mgr_id ||
            back.type_id != req.type_id || back.type_version != req.type_version ||
            memcmp(back.instance, req.instance, 16) != 0 || back.ifindex != req.ifindex ||
            back.nl_pid != req.nl_pid)
                abort();
        return 0;
}
