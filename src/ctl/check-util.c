/* vsimigctl check: results, their rendering, and the bounded parsers of
 * what the checks read (adjtimex, /proc, lldpad.conf).  No I/O here but
 * the bounded file reader (vsm_check_read_file). */
#include "ctl/check.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <sys/timex.h>

#define CHECK_TEXT_MAX 512
#define LLDPAD_CONF_MAX (1024 * 1024)
#define LLDPAD_DEPTH_MAX 16

static void result_free(gpointer p) {
        VsmCheckResult *r = p;

        g_free(r->check);
        g_free(r->subject);
        g_free(r->text);
        g_free(r->fix);
        g_free(r);
}

VsmCheckReport *vsm_check_report_new(void) {
        VsmCheckReport *r = g_new0(VsmCheckReport, 1);

        r->results = g_ptr_array_new_with_free_func(result_free);
        return r;
}

void vsm_check_report_free(VsmCheckReport *r) {
        if (!r)
                return;
        g_ptr_array_unref(r->results);
        g_free(r);
}

/* One line of printable text, capped: the checks quote files, daemon
 * replies and interface names. */
static char *one_line(const char *s) {
        GString *out = g_string_new(NULL);

        for (const char *p = s; *p && out->len < CHECK_TEXT_MAX; p++) {
                unsigned char c = (unsigned char) *p;

                g_string_append_c(out, (c < 0x20 || c == 0x7f) ? '?' : (char) c);
        }
        if (!g_utf8_validate(out->str, (gssize) out->len, NULL)) {
                g_autofree char *v = g_utf8_make_valid(out->str, (gssize) out->len);

                g_string_assign(out, v);
        }
        return g_string_free(out, FALSE);
}

void vsm_check_add(VsmCheckReport *r, const char *check, const char *subject, VsmCheckLevel level,
                   const char *fix, const char *fmt, ...) {
        VsmCheckResult *res = g_new0(VsmCheckResult, 1);
        g_autofree char *text = NULL;
        va_list ap;

        va_start(ap, fmt);
        text = g_strdup_vprintf(fmt, ap);
        va_end(ap);
        res->check = g_strdup(check);
        res->subject = subject ? one_line(subject) : NULL;
        res->level = level;
        res->text = one_line(text);
        res->fix = (fix && level != VSM_CHECK_OK) ? one_line(fix) : NULL;
        g_ptr_array_add(r->results, res);
}

const char *vsm_check_level_name(VsmCheckLevel level) {
        switch (level) {
        case VSM_CHECK_OK:
                return "ok";
        case VSM_CHECK_WARN:
                return "warn";
        case VSM_CHECK_FAIL:
                return "fail";
        }
        return "?";
}

VsmCheckLevel vsm_check_report_worst(const VsmCheckReport *r) {
        VsmCheckLevel worst = VSM_CHECK_OK;

        for (guint i = 0; i < r->results->len; i++) {
                const VsmCheckResult *res = r->results->pdata[i];

                worst = MAX(worst, res->level);
        }
        return worst;
}

int vsm_check_report_exit(const VsmCheckReport *r) {
        switch (vsm_check_report_worst(r)) {
        case VSM_CHECK_OK:
                return VSM_CHECK_EXIT_OK;
        case VSM_CHECK_WARN:
                return VSM_CHECK_EXIT_WARN;
        default:
                return VSM_CHECK_EXIT_FAIL;
        }
}

static void count(const VsmCheckReport *r, guint n[3]) {
        n[0] = n[1] = n[2] = 0;
        for (guint i = 0; i < r->results->len; i++)
                n[((const VsmCheckResult *) r->results->pdata[i])->level]++;
}

char *vsm_check_report_text(const VsmCheckReport *r) {
        GString *s = g_string_new(NULL);
        guint n[3];

        for (guint i = 0; i < r->results->len; i++) {
                const VsmCheckResult *res = r->results->pdata[i];

                g_string_append_printf(s, "%-4s  %-8s %s%s%s\n", vsm_check_level_name(res->level), res->check,
                                       res->subject ? res->subject : "", res->subject ? ": " : "", res->text);
                if (res->fix)
                        g_string_append_printf(s, "      fix: %s\n", res->fix);
        }
        count(r, n);
        g_string_append_printf(s, "%u ok, %u warning%s, %u failure%s\n", n[0], n[1], n[1] == 1 ? "" : "s", n[2],
                               n[2] == 1 ? "" : "s");
        return g_string_free(s, FALSE);
}

JsonNode *vsm_check_report_json(const VsmCheckReport *r) {
        g_autoptr(JsonBuilder) b = json_builder_new();
        guint n[3];

        count(r, n);
        json_builder_begin_object(b);
        json_builder_set_member_name(b, "status");
        json_builder_add_string_value(b, vsm_check_level_name(vsm_check_report_worst(r)));
        json_builder_set_member_name(b, "ok");
        json_builder_add_int_value(b, n[0]);
        json_builder_set_member_name(b, "warn");
        json_builder_add_int_value(b, n[1]);
        json_builder_set_member_name(b, "fail");
        json_builder_add_int_value(b, n[2]);
        json_builder_set_member_name(b, "checks");
        json_builder_begin_array(b);
        for (guint i = 0; i < r->results->len; i++) {
                const VsmCheckResult *res = r->results->pdata[i];

                json_builder_begin_object(b);
                json_builder_set_member_name(b, "check");
                json_builder_add_string_value(b, res->check);
                json_builder_set_member_name(b, "subject");
                if (res->subject)
                        json_builder_add_string_value(b, res->subject);
                else
                        json_builder_add_null_value(b);
                json_builder_set_member_name(b, "level");
                json_builder_add_string_value(b, vsm_check_level_name(res->level));
                json_builder_set_member_name(b, "text");
                json_builder_add_string_value(b, res->text);
                json_builder_set_member_name(b, "fix");
                if (res->fix)
                        json_builder_add_string_value(b, res->fix);
                else
                        json_builder_add_null_value(b);
                json_builder_end_object(b);
        }
        json_builder_end_array(b);
        json_builder_end_object(b);
        return json_builder_get_root(b);
}

VsmCheckLevel vsm_check_time_verdict(int adjtimex_ret, int status, long maxerror_us, char **ret_text) {
        if (adjtimex_ret < 0) {
                *ret_text = g_strdup("adjtimex(2) failed: the clock's state is unknown");
                return VSM_CHECK_WARN;
        }
        if ((status & STA_UNSYNC) || adjtimex_ret == TIME_ERROR) {
                *ret_text = g_strdup("the clock is not synchronised (adjtimex: STA_UNSYNC); timelines across "
                                     "hosts cannot be compared");
                return VSM_CHECK_WARN;
        }
        if (maxerror_us > VSM_CHECK_MAXERROR_WARN_US) {
                *ret_text = g_strdup_printf("the clock's maximum error is %ld ms (over %d ms)", maxerror_us / 1000,
                                            VSM_CHECK_MAXERROR_WARN_US / 1000);
                return VSM_CHECK_WARN;
        }
        *ret_text = g_strdup_printf("the clock is synchronised (maximum error %.1f ms)", maxerror_us / 1000.0);
        return VSM_CHECK_OK;
}

gboolean vsm_check_read_file(const char *path, gsize max, char **ret, gsize *ret_len, char **ret_error) {
        g_autoptr(GString) s = NULL;
        char fdpath[64];
        struct stat st, st2;
        int pfd, fd;

        pfd = open(path, O_PATH | O_CLOEXEC);
        if (pfd < 0) {
                *ret_error = g_strdup(g_strerror(errno));
                return FALSE;
        }
        if (fstat(pfd, &st) < 0 || !S_ISREG(st.st_mode)) {
                *ret_error = g_strdup("not a regular file");
                close(pfd);
                return FALSE;
        }
        /* The very inode checked, not whatever the path names by now. */
        snprintf(fdpath, sizeof(fdpath), "/proc/self/fd/%d", pfd);
        fd = open(fdpath, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        close(pfd);
        if (fd < 0) {
                *ret_error = g_strdup(g_strerror(errno));
                return FALSE;
        }
        if (fstat(fd, &st2) < 0 || st2.st_dev != st.st_dev || st2.st_ino != st.st_ino || !S_ISREG(st2.st_mode)) {
                *ret_error = g_strdup("not a regular file");
                close(fd);
                return FALSE;
        }
        s = g_string_new(NULL);
        for (;;) {
                char buf[4096];
                ssize_t n = read(fd, buf, sizeof(buf));

                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0) {
                        *ret_error = g_strdup(g_strerror(errno));
                        close(fd);
                        return FALSE;
                }
                if (n == 0)
                        break;
                if (s->len + (gsize) n > max) {
                        *ret_error = g_strdup_printf("larger than %zu octets", (size_t) max);
                        close(fd);
                        return FALSE;
                }
                g_string_append_len(s, buf, n);
        }
        close(fd);
        *ret_len = s->len;
        *ret = g_string_free(g_steal_pointer(&s), FALSE);
        return TRUE;
}

gboolean vsm_check_parse_proc_stat_start(const char *stat, gsize len, guint64 *ret_ticks) {
        g_autofree char *s = NULL;
        const char *p;
        int field = 2;          /* after ")": field 3 (state) comes next */

        if (len == 0 || len > 4096 || memchr(stat, '\0', len))
                return FALSE;
        s = g_strndup(stat, len);
        p = strrchr(s, ')');    /* comm may contain ')' */
        if (!p)
                return FALSE;
        p++;
        while (*p) {
                const char *start;
                char *end;

                while (*p == ' ')
                        p++;
                if (!*p)
                        break;
                start = p;
                while (*p && *p != ' ' && *p != '\n')
                        p++;
                field++;
                if (field == 22) {
                        guint64 v = g_ascii_strtoull(start, &end, 10);

                        if (end != p || end == start)
                                return FALSE;
                        *ret_ticks = v;
                        return TRUE;
                }
                if (*p == '\n')
                        break;
        }
        return FALSE;
}

gboolean vsm_check_parse_btime(const char *text, gsize len, guint64 *ret_btime) {
        g_autofree char *s = g_strndup(text, MIN(len, (gsize) 65536));

        for (char *line = s; line && *line;) {
                char *nl = strchr(line, '\n');

                if (nl)
                        *nl = '\0';
                if (g_str_has_prefix(line, "btime ")) {
                        guint64 v;

                        if (!g_ascii_string_to_unsigned(g_strstrip(line + 6), 10, 1, G_MAXUINT64, &v, NULL))
                                return FALSE;
                        *ret_btime = v;
                        return TRUE;
                }
                line = nl ? nl + 1 : NULL;
        }
        return FALSE;
}

/* ---- lldpad.conf: a libconfig scanner, just enough to find settings ---- */

typedef enum TokKind {
        TOK_END,
        TOK_NAME,
        TOK_STRING,
        TOK_OTHER,      /* a number */
        TOK_PUNCT,
} TokKind;

typedef struct Scanner {
        const char *p, *end;
        TokKind kind;
        char punct;
        char text[64];  /* names and strings, truncated */
} Scanner;

static gboolean scan_next(Scanner *s, GError **error) {
        gsize n = 0;

        for (;;) {
                while (s->p < s->end && g_ascii_isspace(*s->p))
                        s->p++;
                if (s->p + 1 < s->end && s->p[0] == '/' && s->p[1] == '*') {
                        const char *e = g_strstr_len(s->p + 2, s->end - s->p - 2, "*/");

                        if (!e) {
                                g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "unterminated comment");
                                return FALSE;
                        }
                        s->p = e + 2;
                        continue;
                }
                if (s->p < s->end && (*s->p == '#' || (*s->p == '/' && s->p + 1 < s->end && s->p[1] == '/'))) {
                        while (s->p < s->end && *s->p != '\n')
                                s->p++;
                        continue;
                }
                break;
        }
        s->text[0] = '\0';
        if (s->p >= s->end) {
                s->kind = TOK_END;
                return TRUE;
        }
        if (g_ascii_isalpha(*s->p) || *s->p == '*' || *s->p == '_') {
                s->kind = TOK_NAME;
                while (s->p < s->end && (g_ascii_isalnum(*s->p) || strchr("-_*", *s->p))) {
                        if (n + 1 < sizeof(s->text))
                                s->text[n++] = *s->p;
                        s->p++;
                }
                s->text[n] = '\0';
                return TRUE;
        }
        if (*s->p == '"') {
                s->kind = TOK_STRING;
                s->p++;
                while (s->p < s->end && *s->p != '"') {
                        if (*s->p == '\\' && s->p + 1 < s->end)
                                s->p++;
                        if (n + 1 < sizeof(s->text))
                                s->text[n++] = *s->p;
                        s->p++;
                }
                if (s->p >= s->end) {
                        g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "unterminated string");
                        return FALSE;
                }
                s->p++;
                s->text[n] = '\0';
                return TRUE;
        }
        if (g_ascii_isdigit(*s->p) || *s->p == '-' || *s->p == '+' || *s->p == '.') {
                s->kind = TOK_OTHER;
                while (s->p < s->end && (g_ascii_isalnum(*s->p) || strchr("-+.", *s->p))) {
                        if (n + 1 < sizeof(s->text))
                                s->text[n++] = *s->p;
                        s->p++;
                }
                s->text[n] = '\0';
                return TRUE;
        }
        if (strchr(":={}()[];,", *s->p)) {
                s->kind = TOK_PUNCT;
                s->punct = *s->p++;
                return TRUE;
        }
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "unexpected character 0x%02x",
                    (unsigned char) *s->p);
        return FALSE;
}

static gboolean is_evb_tlv(const char *name) {
        /* 802.1Qbg-2012 EVB TLV, and the pre-standard (draft 0.2) one. */
        return g_ascii_strcasecmp(name, "tlvid0080c20d") == 0 || g_ascii_strcasecmp(name, "tlvid001b3f00") == 0;
}

static gboolean push(char stack[][64], int *depth, const char *name, GError **error) {
        if (*depth >= LLDPAD_DEPTH_MAX) {
                g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "nested deeper than %d", LLDPAD_DEPTH_MAX);
                return FALSE;
        }
        g_strlcpy(stack[(*depth)++], name, 64);
        return TRUE;
}

gboolean vsm_check_lldpad_conf_port(const char *text, gsize len, const char *ifname, VsmLldpadPort *ret,
                                    GError **error) {
        char stack[LLDPAD_DEPTH_MAX][64];
        int depth = 0;
        char pending[64] = "";  /* the last NAME before ':' or '=' */
        Scanner s = { .p = text, .end = text + len };

        memset(ret, 0, sizeof(*ret));
        ret->admin_status = -1;
        if (len > LLDPAD_CONF_MAX) {
                g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "over %d octets", LLDPAD_CONF_MAX);
                return FALSE;
        }
        if (memchr(text, '\0', len)) {
                g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "contains a NUL octet");
                return FALSE;
        }
        for (;;) {
                if (!scan_next(&s, error))
                        return FALSE;
                if (s.kind == TOK_END)
                        break;
                if (s.kind == TOK_NAME) {
                        g_strlcpy(pending, s.text, sizeof(pending));
                        continue;
                }
                if (s.kind != TOK_PUNCT)
                        continue;
                if (s.punct == '{' || s.punct == '(' || s.punct == '[') {
                        if (!push(stack, &depth, pending, error))
                                return FALSE;
                        pending[0] = '\0';
                        continue;
                }
                if (s.punct == '}' || s.punct == ')' || s.punct == ']') {
                        if (depth == 0) {
                                g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "unbalanced '%c'", s.punct);
                                return FALSE;
                        }
                        depth--;
                        pending[0] = '\0';
                        continue;
                }
                if ((s.punct == '=' || s.punct == ':') && pending[0]) {
                        char key[64];
                        const char *section = depth >= 1 ? stack[depth - 1] : "";
                        const char *parent = depth >= 2 ? stack[depth - 2] : "";

                        g_strlcpy(key, pending, sizeof(key));
                        if (!scan_next(&s, error))
                                return FALSE;
                        if (s.kind == TOK_PUNCT) {
                                /* "name : {": a group; let the loop push it. */
                                if ((s.punct == '{' || s.punct == '(' || s.punct == '[') &&
                                    !push(stack, &depth, key, error))
                                        return FALSE;
                                pending[0] = '\0';
                                if (g_str_equal(key, ifname) && s.punct == '{')
                                        ret->named = TRUE;
                                continue;
                        }
                        pending[0] = '\0';
                        /* A setting: key = value */
                        if (g_str_equal(section, ifname) && g_ascii_strcasecmp(key, "adminStatus") == 0 &&
                            s.kind == TOK_OTHER) {
                                gint64 v = g_ascii_strtoll(s.text, NULL, 0);

                                if (v >= 0 && v <= 3)
                                        ret->admin_status = MAX(ret->admin_status, (int) v);
                        }
                        if (is_evb_tlv(section) && g_str_equal(parent, ifname)) {
                                if (g_ascii_strcasecmp(key, "enableTx") == 0 && s.kind == TOK_NAME &&
                                    g_ascii_strcasecmp(s.text, "true") == 0)
                                        ret->evb_tx = TRUE;
                                if (g_ascii_strcasecmp(key, "evbmode") == 0 && s.kind == TOK_STRING)
                                        g_strlcpy(ret->evbmode, s.text, sizeof(ret->evbmode));
                        }
                        continue;
                }
        }
        if (depth != 0) {
                g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "unbalanced braces at the end");
                return FALSE;
        }
        return TRUE;
}
