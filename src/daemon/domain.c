/* A followed libvirt domain: NICs, migration machine, timelines. */
#include "daemon/domain.h"

#include <string.h>

struct VsmDomain {
        char *name;
        uint8_t uuid[16];
        char uuid_str[37];
        VsmDomainInfo *info;
        VsmMigration sm;
        gboolean active;
        gint64 last_usec;
        guint max_timelines;
        GQueue timelines;              /* VsmTimeline, newest last */
};

static void timeline_entry_free(gpointer p) {
        VsmTimelineEntry *e = p;

        g_free(e->text);
        g_free(e);
}

static void timeline_free(gpointer p) {
        VsmTimeline *t = p;

        g_ptr_array_unref(t->entries);
        g_free(t);
}

VsmDomain *vsm_domain_new(const char *name, const uint8_t uuid[16], const VsmMigConfig *mig,
                          guint max_timelines) {
        VsmDomain *d = g_new0(VsmDomain, 1);

        d->name = g_strdup(name);
        memcpy(d->uuid, uuid, 16);
        vsm_uuid_format(uuid, d->uuid_str);
        vsm_migration_init(&d->sm, mig);
        d->max_timelines = MAX(max_timelines, 1);
        d->last_usec = g_get_monotonic_time();
        g_queue_init(&d->timelines);
        return d;
}

VsmDomain *vsm_domain_free(VsmDomain *d) {
        if (!d)
                return NULL;
        g_queue_clear_full(&d->timelines, timeline_free);
        vsm_domain_info_free(d->info);
        g_free(d->name);
        g_free(d);
        return NULL;
}

const char *vsm_domain_get_name(const VsmDomain *d) {
        return d->name;
}

const char *vsm_domain_get_uuid_string(const VsmDomain *d) {
        return d->uuid_str;
}

const uint8_t *vsm_domain_get_uuid(const VsmDomain *d) {
        return d->uuid;
}

VsmMigration *vsm_domain_get_machine(VsmDomain *d) {
        return &d->sm;
}

const VsmDomainInfo *vsm_domain_get_info(const VsmDomain *d) {
        return d->info;
}

VsmDomainInfo *vsm_domain_steal_info(VsmDomain *d) {
        return g_steal_pointer(&d->info);
}

void vsm_domain_set_info(VsmDomain *d, VsmDomainInfo *info) {
        vsm_domain_info_free(d->info);
        d->info = info;
        if (info && info->name && !g_str_equal(info->name, d->name)) {
                g_free(d->name);
                d->name = g_strdup(info->name);
        }
}

void vsm_domain_drop_metadata(VsmDomain *d) {
        if (d->info)
                g_clear_pointer(&d->info->metadata, g_free);
}

gboolean vsm_domain_is_active(const VsmDomain *d) {
        return d->active;
}

void vsm_domain_set_active(VsmDomain *d, gboolean active) {
        d->active = active;
        d->last_usec = g_get_monotonic_time();
}

gint64 vsm_domain_get_last_usec(const VsmDomain *d) {
        return d->last_usec;
}

void vsm_domain_timeline_begin(VsmDomain *d, VsmMigRole role) {
        VsmTimeline *t = g_new0(VsmTimeline, 1);

        t->start_usec = g_get_monotonic_time();
        t->start_wall_usec = g_get_real_time();
        t->role = role;
        t->entries = g_ptr_array_new_with_free_func(timeline_entry_free);
        g_queue_push_tail(&d->timelines, t);
        while (g_queue_get_length(&d->timelines) > d->max_timelines)
                timeline_free(g_queue_pop_head(&d->timelines));
}

static void timeline_take(VsmDomain *d, char *text) {
        VsmTimeline *t = g_queue_peek_tail(&d->timelines);
        VsmTimelineEntry *e;

        if (!t) {
                vsm_domain_timeline_begin(d, d->sm.role);
                t = g_queue_peek_tail(&d->timelines);
        }
        d->last_usec = g_get_monotonic_time();
        if (t->entries->len >= VSM_TIMELINE_ENTRIES_MAX) {
                g_free(text);
                return;
        }
        e = g_new0(VsmTimelineEntry, 1);
        e->usec = d->last_usec;
        e->wall_usec = g_get_real_time();
        e->text = text;
        g_ptr_array_add(t->entries, e);
        if (t->entries->len == 1) {
                t->start_usec = e->usec;
                t->start_wall_usec = e->wall_usec;
        }
}

void vsm_domain_timeline_add(VsmDomain *d, const char *fmt, ...) {
        VsmTimeline *t = g_queue_peek_tail(&d->timelines);
        va_list ap;

        if (t && t->entries->len >= VSM_TIMELINE_ENTRIES_MAX) {
                d->last_usec = g_get_monotonic_time();
                return;                /* full: not even formatted */
        }
        va_start(ap, fmt);
        timeline_take(d, g_strdup_vprintf(fmt, ap));
        va_end(ap);
}

void vsm_domain_timeline_add_text(VsmDomain *d, const char *text) {
        VsmTimeline *t = g_queue_peek_tail(&d->timelines);

        if (t && t->entries->len >= VSM_TIMELINE_ENTRIES_MAX) {
                d->last_usec = g_get_monotonic_time();
                return;
        }
        timeline_take(d, g_strdup(text));
}

static void json_add_nics(JsonBuilder *b, const VsmDomain *d) {
        json_builder_set_member_name(b, "nics");
        json_builder_begin_array(b);
        for (guint i = 0; d->info && i < d->info->nics->len; i++) {
                const VsmNicInfo *n = d->info->nics->pdata[i];
                char mac[18];

                json_builder_begin_object(b);
                json_builder_set_member_name(b, "mac");
                json_builder_add_string_value(b, vsm_mac_format(n->mac, mac));
                json_builder_set_member_name(b, "type");
                json_builder_add_string_value(b, n->type ? n->type : "");
                json_builder_set_member_name(b, "target");
                if (n->target_dev)
                        json_builder_add_string_value(b, n->target_dev);
                else
                        json_builder_add_null_value(b);
                json_builder_set_member_name(b, "bridge");
                if (n->source_bridge)
                        json_builder_add_string_value(b, n->source_bridge);
                else
                        json_builder_add_null_value(b);
                json_builder_set_member_name(b, "network");
                if (n->source_network)
                        json_builder_add_string_value(b, n->source_network);
                else
                        json_builder_add_null_value(b);
                if (n->source_dev) {
                        json_builder_set_member_name(b, "source_dev");
                        json_builder_add_string_value(b, n->source_dev);
                        json_builder_set_member_name(b, "mode");
                        json_builder_add_string_value(b, vsm_direct_mode_to_string(n->direct_mode));
                }
                json_builder_set_member_name(b, "vlan");
                json_builder_add_int_value(b, n->has_vlan ? n->vlan : 0);
                json_builder_set_member_name(b, "qbg");
                json_builder_add_boolean_value(b, n->has_qbg);
                json_builder_end_object(b);
        }
        json_builder_end_array(b);
}

JsonNode *vsm_domain_to_json(const VsmDomain *d, gboolean with_timelines) {
        g_autoptr(JsonBuilder) b = json_builder_new();

        json_builder_begin_object(b);
        json_builder_set_member_name(b, "name");
        json_builder_add_string_value(b, d->name);
        json_builder_set_member_name(b, "uuid");
        json_builder_add_string_value(b, d->uuid_str);
        json_builder_set_member_name(b, "active");
        json_builder_add_boolean_value(b, d->active);
        json_builder_set_member_name(b, "role");
        json_builder_add_string_value(b, vsm_mig_role_to_string(d->sm.role));
        json_builder_set_member_name(b, "phase");
        json_builder_add_string_value(b, vsm_mig_phase_to_string(d->sm.phase));
        json_add_nics(b, d);
        json_builder_set_member_name(b, "migrations");
        json_builder_add_int_value(b, g_queue_get_length((GQueue *) &d->timelines));
        if (with_timelines) {
                json_builder_set_member_name(b, "timelines");
                json_builder_begin_array(b);
                for (GList *l = d->timelines.head; l; l = l->next) {
                        const VsmTimeline *t = l->data;

                        json_builder_begin_object(b);
                        json_builder_set_member_name(b, "role");
                        json_builder_add_string_value(b, vsm_mig_role_to_string(t->role));
                        json_builder_set_member_name(b, "start");
                        json_builder_add_double_value(b, (double) t->start_wall_usec / 1e6);
                        json_builder_set_member_name(b, "entries");
                        json_builder_begin_array(b);
                        for (guint i = 0; i < t->entries->len; i++) {
                                const VsmTimelineEntry *e = t->entries->pdata[i];

                                json_builder_begin_object(b);
                                json_builder_set_member_name(b, "ms");
                                json_builder_add_double_value(b, (double) (e->usec - t->start_usec) / 1000.0);
                                json_builder_set_member_name(b, "time");
                                json_builder_add_double_value(b, (double) e->wall_usec / 1e6);
                                json_builder_set_member_name(b, "text");
                                json_builder_add_string_value(b, e->text);
                                json_builder_end_object(b);
                        }
                        json_builder_end_array(b);
                        json_builder_end_object(b);
                }
                json_builder_end_array(b);
        }
        json_builder_end_object(b);
        return json_builder_get_root(b);
}
