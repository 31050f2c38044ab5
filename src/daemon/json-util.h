/* Checks on untrusted JSON text before json-glib's parser sees it, shared
 * by the control socket (control-request.c) and the peer channel
 * (peer.c). */
#pragma once

#include <glib.h>

/* Whether s[0..len) is nested at most depth_max deep (json-glib's parser
 * recurses per level) and, with one_object, is one JSON object with
 * nothing after it but whitespace (json-glib would take the last of
 * "{..}{..}").  Counts brackets outside strings; the parser checks the
 * rest.  Errors: VSM_ERROR, VSM_ERROR_INVALID. */
gboolean vsm_json_precheck(const char *s, gsize len, int depth_max, gboolean one_object, GError **error);
