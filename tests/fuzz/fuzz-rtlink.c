/* Fuzz target for the RTM_NEWLINK decoder (src/proto/rtlink.c) and the
 * VID derivation over what it accepts (src/proto/vid.c).  The kernel is
 * the only sender, but the parser is bounded as if it were hostile.
 * An accepted answer must have NUL-terminated names within IFNAMSIZ and a
 * PVID that is a member; the derivation must end with a valid state and,
 * when tagged, a VID in 1-4094.  Any violation aborts. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/rtlink.h"
#include "proto/vid.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        VsmRtLink l;
        VsmVidInput in;
        VsmVid v;
        int r = vsm_rtlink_parse(data, size, &l);

        if (r != 0 && r != -EBADMSG && r != -EPROTO && r != -E2BIG)
                abort();
        if (r != 0)
                return 0;
        if (!memchr(l.name, 0, sizeof(l.name)) || !memchr(l.kind, 0, sizeof(l.kind)) ||
            !memchr(l.slave_kind, 0, sizeof(l.slave_kind)))
                abort();
        if (l.pvid && !vsm_rtlink_vlan_member(&l, l.pvid))
                abort();
        if (l.has_vlan_id && (l.vlan_id < 1 || l.vlan_id > 4094))
                abort();
        /* The same answer in every role. */
        memset(&in, 0, sizeof(in));
        in.chain = &l;
        in.n_chain = 1;
        in.bridge = &l;
        in.tap_vlans = &l;
        in.port_vlans = &l;
        vsm_vid_derive(&in, &v);
        if ((unsigned) v.state >= VSM_VID_STATE_MAX)
                abort();
        if (v.state == VSM_VID_TAGGED && (v.vid < 1 || v.vid > 4094))
                abort();
        if (v.state != VSM_VID_TAGGED && v.vid != 0)
                abort();
        return 0;
}
