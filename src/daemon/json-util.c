/* Checks on untrusted JSON text before json-glib's parser sees it. */
#include "daemon/json-util.h"

#include "daemon/config.h"

gboolean vsm_json_precheck(const char *s, gsize len, int depth_max, gboolean one_object, GError **error) {
        gboolean in_str = FALSE, esc = FALSE, ended = FALSE;
        int depth = 0;

        for (gsize i = 0; i < len; i++) {
                char ch = s[i];

                if (in_str) {
                        if (esc)
                                esc = FALSE;
                        else if (ch == '\\')
                                esc = TRUE;
                        else if (ch == '"')
                                in_str = FALSE;
                        continue;
                }
                if (one_object) {
                        if (ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r')
                                continue;
                        if (ended || (depth == 0 && ch != '{')) {
                                g_set_error(error, VSM_ERROR, VSM_ERROR_INVALID, "message is not one JSON object");
                                return FALSE;
                        }
                }
                if (ch == '"')
                        in_str = TRUE;
                else if (ch == '{' || ch == '[') {
                        if (++depth > depth_max) {
                                g_set_error(error, VSM_ERROR, VSM_ERROR_INVALID, "JSON nested deeper than %d",
                                            depth_max);
                                return FALSE;
                        }
                } else if (ch == '}' || ch == ']') {
                        if (--depth == 0)
                                ended = TRUE;
                }
        }
        return TRUE;
}
