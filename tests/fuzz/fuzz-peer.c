/* Fuzz target: peer channel message bodies (daemon/peer.c): hello
 * (versions 1 and 2), challenge, auth, state, switchover, error.  A body
 * that decodes must survive encode + decode unchanged, and sealed (the
 * frames after the handshake) it must open under its key, sequence and
 * direction only.  The input as a sealed payload must not open. */
#include <glib.h>
#include <stdint.h>
#include <string.h>

#include "daemon/peer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        g_autoptr(VsmPeerMessage) m = NULL;
        g_autoptr(VsmPeerMessage) back = NULL;
        g_autoptr(GError) error = NULL;
        g_autoptr(GBytes) frame = NULL;
        static const guint8 sk[VSM_PEER_MAC_LEN] = { 1, 2, 3 };
        g_autoptr(GBytes) sealed = NULL;
        const uint8_t *p, *body;
        gsize len, blen;

        /* Forging a MAC by chance does not happen. */
        g_assert(!vsm_peer_frame_open(sk, TRUE, 0, data, size, &body, &blen));
        if (!vsm_peer_message_decode(data, size, &m, &error)) {
                g_assert(m == NULL && error != NULL && error->message != NULL);
                return 0;
        }
        g_assert(error == NULL && m != NULL && (unsigned) m->type < _VSM_PEER_MSG_MAX);
        frame = vsm_peer_message_encode(m);
        if (!frame)                    /* re-encoding may grow past the cap */
                return 0;
        p = g_bytes_get_data(frame, &len);
        g_assert(len > 4);
        g_assert(((gsize) p[0] << 24 | (gsize) p[1] << 16 | (gsize) p[2] << 8 | p[3]) == len - 4);
        if (!vsm_peer_message_decode(p + 4, len - 4, &back, &error))
                g_error("re-encoded message refused: %s", error->message);
        sealed = vsm_peer_frame_seal(sk, TRUE, 7, frame);
        {
                gsize slen;
                const guint8 *sp = g_bytes_get_data(sealed, &slen);

                g_assert(slen == len + VSM_PEER_MAC_LEN);
                g_assert(((gsize) sp[0] << 24 | (gsize) sp[1] << 16 | (gsize) sp[2] << 8 | sp[3]) == slen - 4);
                g_assert(vsm_peer_frame_open(sk, TRUE, 7, sp + 4, slen - 4, &body, &blen));
                g_assert(blen == len - 4 && memcmp(body, p + 4, blen) == 0);
                g_assert(!vsm_peer_frame_open(sk, FALSE, 7, sp + 4, slen - 4, &body, &blen));
                g_assert(!vsm_peer_frame_open(sk, TRUE, 8, sp + 4, slen - 4, &body, &blen));
        }
        g_assert(back->type == m->type);
        g_assert(strcmp(back->domain, m->domain) == 0);
        g_assert(strcmp(back->token, m->token) == 0);
        g_assert(strcmp(back->nonce, m->nonce) == 0);
        g_assert(strcmp(back->proof, m->proof) == 0);
        g_assert(back->version == m->version);
        g_assert(back->generation == m->generation);
        g_assert(back->suspended_at_real_usec == m->suspended_at_real_usec);
        g_assert(g_strcmp0(back->reason, m->reason) == 0);
        g_assert((back->nics == NULL) == (m->nics == NULL));
        if (m->nics) {
                g_assert(back->nics->len == m->nics->len);
                for (guint i = 0; i < m->nics->len; i++)
                        g_assert(vsm_nic_state_equal(g_ptr_array_index(back->nics, i), g_ptr_array_index(m->nics, i)));
        }
        return 0;
}
