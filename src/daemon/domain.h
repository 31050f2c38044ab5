/* A libvirt domain as vsimigd follows it: its vNICs (from the domain XML),
 * their VSIs, the migration state machine (sm/migration.c) and the
 * timelines of its last migrations. */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>

#include "daemon/domain-xml.h"
#include "sm/migration.h"

typedef struct VsmDomain VsmDomain;

/* One line of a timeline: monotonic time and text. */
typedef struct VsmTimelineEntry {
        gint64 usec;
        gint64 wall_usec;              /* g_get_real_time() for display */
        char *text;
} VsmTimelineEntry;

typedef struct VsmTimeline {
        gint64 start_usec;
        gint64 start_wall_usec;
        VsmMigRole role;
        GPtrArray *entries;            /* VsmTimelineEntry, capped */
} VsmTimeline;

#define VSM_TIMELINE_ENTRIES_MAX 256

VsmDomain *vsm_domain_new(const char *name, const uint8_t uuid[16], const VsmMigConfig *mig,
                          guint max_timelines);
VsmDomain *vsm_domain_free(VsmDomain *d);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VsmDomain, vsm_domain_free)

const char *vsm_domain_get_name(const VsmDomain *d);
const char *vsm_domain_get_uuid_string(const VsmDomain *d);
const uint8_t *vsm_domain_get_uuid(const VsmDomain *d);
VsmMigration *vsm_domain_get_machine(VsmDomain *d);
/* Latest parsed XML (may be NULL). */
const VsmDomainInfo *vsm_domain_get_info(const VsmDomain *d);
/* Hands the current info to the caller (the domain keeps none). */
VsmDomainInfo *vsm_domain_steal_info(VsmDomain *d);
/* Takes ownership; also updates the name. */
void vsm_domain_set_info(VsmDomain *d, VsmDomainInfo *info);
/* Forget the <metadata> text of the info once it has been read (it can
 * be large and is not needed afterwards). */
void vsm_domain_drop_metadata(VsmDomain *d);
gboolean vsm_domain_is_active(const VsmDomain *d);
void vsm_domain_set_active(VsmDomain *d, gboolean active);
gint64 vsm_domain_get_last_usec(const VsmDomain *d);

/* Start a new timeline (a migration began); older ones beyond the cap are
 * dropped. */
void vsm_domain_timeline_begin(VsmDomain *d, VsmMigRole role);
/* Append to the current timeline (starting one if there is none). */
void vsm_domain_timeline_add(VsmDomain *d, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
/* The same with text already formatted: a copy is kept, no printf. */
void vsm_domain_timeline_add_text(VsmDomain *d, const char *text);

/* JSON: summary (for "domains"), and with timelines (for "show"). */
JsonNode *vsm_domain_to_json(const VsmDomain *d, gboolean with_timelines);
