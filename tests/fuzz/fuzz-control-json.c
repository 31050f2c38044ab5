/* Fuzz target: control-socket request lines (daemon/control-request.c). */
#include <glib.h>
#include <stdint.h>
#include <string.h>

#include "daemon/control-request.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        g_autoptr(VsmControlRequest) req = NULL;
        g_autoptr(GError) error = NULL;
        g_autofree char *line = g_malloc(size + 1);
        const char *code = NULL;
        gboolean has_id = FALSE;
        gint64 id = 0;

        memcpy(line, data, size);
        line[size] = '\0';
        if (!vsm_control_request_parse(line, size, &req, &code, &has_id, &id, &error)) {
                g_autofree char *reply = vsm_control_reply_error(has_id, id, code, error->message);
                g_assert(code != NULL && reply != NULL);
                return 0;
        }
        if (g_str_equal(req->method, "vdp.request")) {
                VsmVdpRequestParams p;
                g_autoptr(GError) e2 = NULL;

                if (vsm_vdp_request_params_parse(req->params, &p, &e2))
                        g_assert(p.type_id <= 0xffffff && p.vlan <= 4094);
                else
                        g_assert(e2 != NULL);
        }
        return 0;
}
