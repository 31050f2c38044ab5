/* The conntrack carry inside vsimigd (see daemon/carry-ct.h; issue 11,
 * DESIGN.md section 4 "Conntrack", the trust model of section 7).
 *
 * Nothing here walks the kernel's table on the main loop: dumps, installs
 * and deletes are jobs of the worker thread (io/conntrack.h); the main
 * loop only reads events (bounded per dispatch), keeps the learned table
 * and encodes the batches. */
#include "daemon/carry-ct.h"

#include <errno.h>
#include <string.h>
#include <time.h>

#include "daemon/log.h"
#include "daemon/netstate.h"
#include "io/conntrack.h"

#define CT_GONE_MAX 256
/* Entries per chunk a pre-stage dump posts while it runs (each becomes a
 * batch on the wire: the destination installs while the source dumps). */
#define CT_DUMP_CHUNK 1024
/* Entries per peer message: one is encoded (and sealed) in one dispatch
 * of the main loop, well under a millisecond at this size. */
#define CT_WIRE_BATCH 1024
/* The paced queue sends for at most this long per dispatch. */
#define CT_DRAIN_SLICE_US 1000
/* The learned table in shards: a hash table grows by rehashing all it
 * holds at once (~2 ms of CPU at 60 k entries, ~30 ms at 1 M), in the
 * dispatch whose chunk crosses the size; 64 shards grow 64 times as
 * often, each a 64th of that. */
#define CT_SHARDS 64
#define CT_OUT_RESERVE (4u * 1024u * 1024u)
#define CT_PACE_MS 10
/* Source: how long a domain gone here (the VM left) still streams what a
 * dump slower than the migration brings after the SWITCHOVER. */
#define CT_LINGER_MS 10000

enum {
        CT_TAG_PRESTAGE = 1,           /* a source dump for the pre-stage */
        CT_TAG_RESYNC,                 /* a source dump after lost events */
        CT_TAG_INSTALL,                /* a destination batch ... */
        CT_TAG_INSTALL_PRESTAGE_LAST,  /* ... the pre-stage's last */
        CT_TAG_INSTALL_DELTA_LAST,     /* ... the delta's last */
        CT_TAG_DELETE,                 /* destination: destroyed entries of the delta */
};

struct VsmCtCarry {
        const VsmConfig *config;
        VsmCtNoteFunc note;
        gpointer note_data;
        VsmCtWorker *worker;
        VsmCtEvents *events;
        GPtrArray *learning;           /* VsmCtDomain (borrowed) learning now */
        gboolean unavailable;          /* auto: the kernel's conntrack did not answer */
        GHashTable *gone;              /* uuid -> JsonNode: the counters of domains forgotten here */
        GPtrArray *lingering;          /* VsmCtDomain freed while their dump still streamed (source) */
        guint64 n_jobs, n_deleted_after_left, n_undone;
};

/* The key of a learned entry: its original tuple and zone. */
typedef struct CtKey {
        uint8_t family, proto;
        uint16_t zone;
        uint16_t sport, dport;
        uint8_t src[16], dst[16];
} CtKey;

typedef struct CtLearned {
        CtKey key;                     /* first: the hash table's key */
        VsmCtEntry e;
        gint64 learned_usec;           /* monotonic, when e.timeout was read */
        gboolean dirty;                /* changed since streamed (or destroyed) */
} CtLearned;

typedef struct CtNicRef {
        VsmNicInfo ni;                 /* strings NULL: the nwfilter parameters only */
        char bridge[16];
} CtNicRef;

struct VsmCtDomain {
        VsmCtCarry *cc;
        char uuid[37];
        /* source */
        VsmCtOwned owned;
        VsmPeerServer *server;         /* borrowed (freed after the domains) */
        gboolean learning, dump_pending, delta_wanted, delta_sent;
        GHashTable *table[CT_SHARDS];  /* CtKey -> CtLearned, by the key's top hash bits */
        guint table_n;                 /* entries in all shards */
        GHashTable *dirty;             /* CtLearned (of table) with dirty set: what the last batch and
                                        * the delta send, without a walk of the whole table */
        guint64 seq;
        gint64 prestage_start_usec;
        guint chunks;
        GQueue outq;                   /* CtOut waiting for room on the connection */
        guint out_timer;
        gboolean out_sliced;           /* the last drain stopped at its time slice, not for room */
        guint64 out_dropped;           /* entries that did not fit before the SWITCHOVER */
        gboolean lingering;            /* freed by the carry: ends once the dump's rest went out */
        guint linger_timer;
        /* destination */
        gboolean rx_any, rx_done;      /* a batch received; the delta's last received */
        gboolean after_takeover;       /* late: the VM is ours, the re-check uses kept_nics */
        GPtrArray *kept_nics;          /* VsmNicState: the carried states at the takeover */
        GArray *nics;                  /* CtNicRef */
        GArray *submitted;             /* VsmCtEntry given to the kernel (for CT_UNDO) */
        guint64 deletes;               /* destroyed entries given to the kernel (capped like submitted) */
        gint64 prestage_rx_usec, delta_rx_usec;
        /* counters (show) */
        guint64 learned, carried, skipped[_VSM_CT_SKIP_MAX], installed, failed, deleted;
        guint64 prestage_entries, delta_entries, late;
        gint64 install_busy_us;        /* destination: the worker's time in install jobs */
        gint64 slice_max_us, slice_max_cpu_us; /* the longest main-loop slice of the carry (wall, thread CPU) */
        double dump_ms;                /* source: the pre-stage dump in the worker */
        double prestage_ms;
        gint64 delta_us;               /* -1: none */
};

static void ct_note(VsmCtCarry *cc, const char *uuid, gboolean quiet, const char *fmt, ...) G_GNUC_PRINTF(4, 5);
static void ct_note(VsmCtCarry *cc, const char *uuid, gboolean quiet, const char *fmt, ...) {
        g_autofree char *text = NULL;
        va_list ap;

        va_start(ap, fmt);
        text = g_strdup_vprintf(fmt, ap);
        va_end(ap);
        if (cc->note)
                cc->note(uuid, quiet, text, cc->note_data);
}

/* The main loop's time in one piece of the carry's work (a dump chunk
 * streamed, a received batch re-checked and queued, a paced drain): wall
 * time, and the thread's CPU time (what the carry itself costs, without
 * the time the scheduler gave others on a loaded host). */
typedef struct CtSlice {
        gint64 wall, cpu;
} CtSlice;

static gint64 thread_cpu_usec(void) {
        struct timespec ts;

        if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) < 0)
                return 0;
        return (gint64) ts.tv_sec * G_USEC_PER_SEC + ts.tv_nsec / 1000;
}

static CtSlice slice_start(void) {
        return (CtSlice) { .wall = g_get_monotonic_time(), .cpu = thread_cpu_usec() };
}

static void slice_end(VsmCtDomain *d, CtSlice t);

static guint key_hash(gconstpointer p) {
        const uint8_t *b = p;
        guint32 h = 2166136261u;

        for (size_t i = 0; i < sizeof(CtKey); i++)
                h = (h ^ b[i]) * 16777619u;
        return h;
}

static gboolean key_equal(gconstpointer a, gconstpointer b) {
        return memcmp(a, b, sizeof(CtKey)) == 0;
}

static void key_of(const VsmCtEntry *e, CtKey *k) {
        memset(k, 0, sizeof(*k));
        k->family = e->family;
        k->proto = e->proto;
        k->zone = (uint16_t) e->zone;
        k->sport = e->orig_sport;
        k->dport = e->orig_dport;
        memcpy(k->src, e->orig_src, 16);
        memcpy(k->dst, e->orig_dst, 16);
}

static GHashTable *shard(const VsmCtDomain *d, const CtKey *k) {
        return d->table[key_hash(k) >> 26];
}

static CtLearned *table_lookup(const VsmCtDomain *d, const CtKey *k) {
        return g_hash_table_lookup(shard(d, k), k);
}

static char *skipped_text(const guint64 *skipped) {
        GString *s = g_string_new(NULL);

        for (int i = 0; i < _VSM_CT_SKIP_MAX; i++)
                if (skipped[i])
                        g_string_append_printf(s, "%s%s %" G_GUINT64_FORMAT, s->len ? ", " : "",
                                               vsm_ct_skip_to_string((VsmCtSkip) i), skipped[i]);
        if (!s->len)
                g_string_append(s, "none");
        return g_string_free(s, FALSE);
}

static void domain_destroy(VsmCtDomain *d);
static void domain_linger_end(VsmCtDomain *d);

/* ---- the host's part ---- */

VsmCtCarry *vsm_ct_carry_new(const VsmConfig *config, VsmCtNoteFunc note, gpointer user_data) {
        VsmCtCarry *cc;

        if (config->ct_enabled == VSM_CONFIG_CT_OFF)
                return NULL;
        cc = g_new0(VsmCtCarry, 1);
        cc->config = config;
        cc->note = note;
        cc->note_data = user_data;
        cc->learning = g_ptr_array_new();
        cc->gone = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, (GDestroyNotify) json_node_unref);
        cc->lingering = g_ptr_array_new();
        return cc;
}

VsmCtCarry *vsm_ct_carry_free(VsmCtCarry *cc) {
        if (!cc)
                return NULL;
        /* Lingering domains end without a word (the server goes next). */
        while (cc->lingering->len) {
                VsmCtDomain *d = cc->lingering->pdata[cc->lingering->len - 1];

                d->server = NULL;
                domain_destroy(d);
        }
        g_ptr_array_unref(cc->lingering);
        vsm_ct_events_free(cc->events);
        vsm_ct_worker_free(cc->worker);
        g_ptr_array_unref(cc->learning);
        g_hash_table_unref(cc->gone);
        g_free(cc);
        return NULL;
}

JsonNode *vsm_ct_carry_to_json(const VsmCtCarry *cc) {
        JsonObject *o = json_object_new();
        JsonNode *n = json_node_new(JSON_NODE_OBJECT);

        json_object_set_boolean_member(o, "enabled", cc != NULL);
        if (cc) {
                json_object_set_boolean_member(o, "available", !cc->unavailable);
                json_object_set_int_member(o, "worker_jobs", (gint64) cc->n_jobs);
                json_object_set_int_member(o, "learning_domains", cc->learning->len);
                json_object_set_int_member(o, "events", cc->events ? (gint64) vsm_ct_events_received(cc->events) : 0);
                json_object_set_int_member(o, "event_overruns",
                                           cc->events ? (gint64) vsm_ct_events_overruns(cc->events) : 0);
                json_object_set_int_member(o, "deleted_after_left", (gint64) cc->n_deleted_after_left);
                json_object_set_int_member(o, "undone", (gint64) cc->n_undone);
        }
        json_node_take_object(n, o);
        return n;
}

static gboolean cc_worker(VsmCtCarry *cc) {
        g_autoptr(GError) error = NULL;

        if (cc->worker)
                return TRUE;
        cc->worker = vsm_ct_worker_new(&error);
        if (!cc->worker)
                vsm_log(G_LOG_LEVEL_WARNING, "conntrack: no worker thread: %s", error->message);
        return cc->worker != NULL;
}

static void cc_submit(VsmCtCarry *cc, VsmCtJob *j, VsmCtJobFunc func, gpointer data) {
        cc->n_jobs++;
        vsm_ct_worker_submit(cc->worker, j, func, data);
}

/* ---- source: learning ---- */

static void mark_dirty(VsmCtDomain *d, CtLearned *l, gboolean dirty) {
        l->dirty = dirty;
        if (dirty)
                g_hash_table_add(d->dirty, l);
        else
                g_hash_table_remove(d->dirty, l);
}

static void domain_table_clear(VsmCtDomain *d) {
        g_hash_table_remove_all(d->dirty);
        for (int i = 0; i < CT_SHARDS; i++)
                g_hash_table_remove_all(d->table[i]);
        d->table_n = 0;
}

static void domain_learn_entry(VsmCtDomain *d, const VsmCtEntry *e, gboolean dirty, gboolean keep_newer) {
        CtKey k;
        CtLearned *l;

        key_of(e, &k);
        l = table_lookup(d, &k);
        if (l && keep_newer)
                return;                 /* an event after the dump started knows better */
        if (!l) {
                if (d->table_n >= d->cc->config->ct_max_entries) {
                        d->skipped[VSM_CT_SKIP_CAP]++;
                        return;
                }
                l = g_new0(CtLearned, 1);
                l->key = k;
                g_hash_table_insert(shard(d, &l->key), &l->key, l);
                d->table_n++;
                d->learned++;
        }
        l->e = *e;
        l->e.flags = 0;
        l->learned_usec = g_get_monotonic_time();
        mark_dirty(d, l, dirty);
}

static void on_event(const VsmCtEntry *e, bool destroyed, gpointer user_data) {
        VsmCtCarry *cc = user_data;

        for (guint i = 0; i < cc->learning->len; i++) {
                VsmCtDomain *d = cc->learning->pdata[i];
                CtKey k;
                CtLearned *l;

                if (!vsm_ct_owned_match(&d->owned, e, NULL))
                        continue;
                if (destroyed) {
                        key_of(e, &k);
                        l = table_lookup(d, &k);
                        if (!l && d->dump_pending) {
                                /* A tombstone: the dump may still bring
                                 * the entry as it was. */
                                domain_learn_entry(d, e, TRUE, FALSE);
                                l = table_lookup(d, &k);
                        }
                        if (l) {
                                l->e.flags |= VSM_CT_F_DESTROYED;
                                mark_dirty(d, l, TRUE);
                        }
                        continue;
                }
                /* Skipped ones (NAT, protocol) are counted at the dump. */
                if (vsm_ct_entry_check(e, &d->owned, cc->config->ct_nat_carry, NULL) >= 0)
                        continue;
                domain_learn_entry(d, e, TRUE, FALSE);
        }
}

static void domain_resync_start(VsmCtDomain *d);

static void on_overrun(gpointer user_data) {
        VsmCtCarry *cc = user_data;

        vsm_log(G_LOG_LEVEL_WARNING, "conntrack: events lost (receive buffer overrun): dumping again");
        for (guint i = 0; i < cc->learning->len; i++)
                domain_resync_start(cc->learning->pdata[i]);
}

static void domain_learning_stop(VsmCtDomain *d) {
        VsmCtCarry *cc = d->cc;

        if (!d->learning)
                return;
        d->learning = FALSE;
        g_ptr_array_remove(cc->learning, d);
        if (cc->learning->len == 0)
                g_clear_pointer(&cc->events, vsm_ct_events_free);
}

static gboolean domain_learning_start(VsmCtDomain *d) {
        VsmCtCarry *cc = d->cc;
        int err = 0;

        if (d->learning)
                return TRUE;
        if (!cc->events) {
                cc->events = vsm_ct_events_new(on_event, on_overrun, cc, &err);
                if (!cc->events) {
                        ct_note(cc, d->uuid, FALSE, "conntrack: no event socket (%s): %s", g_strerror(-err),
                                cc->config->ct_enabled == VSM_CONFIG_CT_AUTO ? "not in use here, nothing carried"
                                                                             : "nothing carried");
                        if (cc->config->ct_enabled == VSM_CONFIG_CT_AUTO)
                                cc->unavailable = TRUE;
                        return FALSE;
                }
        }
        d->learning = TRUE;
        g_ptr_array_add(cc->learning, d);
        return TRUE;
}

/* ---- sending, paced ----
 *
 * A batch goes at once while the connection's unsent octets leave
 * CT_OUT_RESERVE of VSM_PEER_DOMAIN_OUTBUF_MAX free (for the state and the
 * SWITCHOVER: a connection past the cap is closed, and with it the whole
 * carry would go late); else it waits in outq, sent every CT_PACE_MS as
 * room frees.  The delta (forced) goes at once after what waits, as far as
 * it fits; what does not is dropped and counted (cap). */
typedef struct CtOut {
        VsmPeerCtPhase phase;
        gboolean last;
        GArray *entries;
} CtOut;

static void ct_out_free(gpointer p) {
        CtOut *o = p;

        g_array_unref(o->entries);
        g_free(o);
}

static gsize ct_octets(const GArray *a) {
        gsize n = 256;

        for (guint i = 0; i < a->len; i++)
                n += vsm_ct_record_len(&g_array_index(a, VsmCtEntry, i)) * 4 / 3 + 1;
        return n;
}

static gboolean ct_fits(VsmCtDomain *d, gsize octets) {
        gsize q = vsm_peer_server_queued(d->server, d->uuid);

        return q + octets + CT_OUT_RESERVE <= VSM_PEER_DOMAIN_OUTBUF_MAX;
}

static void ct_send_now(VsmCtDomain *d, VsmPeerCtPhase phase, GArray *entries, gboolean last) {
        VsmPeerMessage m = { .type = VSM_PEER_MSG_CONNTRACK, .ct_phase = phase, .ct_last = last };

        g_strlcpy(m.domain, d->uuid, sizeof(m.domain));
        m.ct_seq = d->seq++;
        m.ct_entries = entries;
        vsm_peer_server_send(d->server, &m);
}

/* What waits, in order, while it fits (force: all of it, dropping what
 * does not fit).  FALSE when some still waits. */
static gboolean ct_drain(VsmCtDomain *d, gboolean force) {
        gint64 t0 = g_get_monotonic_time();
        CtOut *o;

        while ((o = g_queue_peek_head(&d->outq))) {
                /* A slice per dispatch; the rest at the next tick. */
                if (!force && g_get_monotonic_time() - t0 >= CT_DRAIN_SLICE_US) {
                        d->out_sliced = TRUE;
                        return FALSE;
                }
                if (ct_fits(d, ct_octets(o->entries))) {
                        ct_send_now(d, o->phase, o->entries, o->last);
                } else if (force) {
                        d->skipped[VSM_CT_SKIP_CAP] += o->entries->len;
                        d->out_dropped += o->entries->len;
                } else {
                        return FALSE;
                }
                ct_out_free(g_queue_pop_head(&d->outq));
        }
        return TRUE;
}

static gboolean on_out_timer(gpointer user_data) {
        VsmCtDomain *d = user_data;
        CtSlice t = slice_start();
        gboolean done;

        d->out_sliced = FALSE;
        done = ct_drain(d, FALSE);
        slice_end(d, t);
        if (!done) {
                /* Out of time, not of room: again as soon as the loop is idle. */
                if (d->out_sliced) {
                        d->out_timer = g_idle_add(on_out_timer, d);
                        return G_SOURCE_REMOVE;
                }
                d->out_timer = g_timeout_add(CT_PACE_MS, on_out_timer, d);
                return G_SOURCE_REMOVE;
        }
        d->out_timer = 0;
        return G_SOURCE_REMOVE;
}

static void ct_send(VsmCtDomain *d, VsmPeerCtPhase phase, GArray *entries, gboolean last, gboolean force) {
        CtOut *o;

        if (!d->server)
                return;
        if (force)
                (void) ct_drain(d, TRUE);
        if (g_queue_is_empty(&d->outq) && ct_fits(d, ct_octets(entries))) {
                ct_send_now(d, phase, entries, last);
                return;
        }
        if (force) {
                d->skipped[VSM_CT_SKIP_CAP] += entries->len;
                d->out_dropped += entries->len;
                return;
        }
        o = g_new0(CtOut, 1);
        o->phase = phase;
        o->last = last;
        o->entries = g_array_copy(entries);
        g_queue_push_tail(&d->outq, o);
        if (!d->out_timer)
                d->out_timer = g_timeout_add(CT_PACE_MS, on_out_timer, d);
}

static void ct_out_clear(VsmCtDomain *d) {
        g_queue_clear_full(&d->outq, ct_out_free);
        g_clear_handle_id(&d->out_timer, g_source_remove);
}

/* The batches of the dirty entries (changed since streamed, or
 * destroyed), destroyed ones removed from the table once sent; at least
 * one batch, the last marked.  Walks the dirty set only. */
static guint domain_stream(VsmCtDomain *d, VsmPeerCtPhase phase, guint *ret_destroyed) {
        g_autoptr(GArray) batch = g_array_sized_new(FALSE, FALSE, sizeof(VsmCtEntry), CT_WIRE_BATCH);
        g_autoptr(GPtrArray) gone = g_ptr_array_new();
        gint64 now = g_get_monotonic_time();
        GHashTableIter it;
        gpointer v;
        guint sent = 0, destroyed = 0, batches = 0;

        g_hash_table_iter_init(&it, d->dirty);
        for (;;) {
                gboolean more = g_hash_table_iter_next(&it, &v, NULL);

                if (more) {
                        CtLearned *l = v;
                        VsmCtEntry e;

                        l->dirty = FALSE;
                        e = l->e;
                        if (e.flags & VSM_CT_F_DESTROYED) {
                                g_ptr_array_add(gone, l);
                                destroyed++;
                        } else {
                                e.timeout = vsm_ct_timeout_remaining(e.timeout, (uint64_t) l->learned_usec,
                                                                     (uint64_t) now);
                                sent++;
                        }
                        g_array_append_val(batch, e);
                        if (batch->len < CT_WIRE_BATCH)
                                continue;
                }
                if (!more && batches > 0 && batch->len == 0)
                        break;
                ct_send(d, phase, batch, !more, phase == VSM_PEER_CT_DELTA);
                batches++;
                g_array_set_size(batch, 0);
                if (!more)
                        break;
        }
        g_hash_table_remove_all(d->dirty);
        for (guint i = 0; i < gone->len; i++)
                if (g_hash_table_remove(shard(d, &((CtLearned *) gone->pdata[i])->key),
                                        &((CtLearned *) gone->pdata[i])->key))
                        d->table_n--;
        d->carried += sent;
        if (ret_destroyed)
                *ret_destroyed = destroyed;
        return sent;
}

static void domain_send_delta(VsmCtDomain *d) {
        gint64 t0 = g_get_monotonic_time();
        guint destroyed = 0, n;

        n = domain_stream(d, VSM_PEER_CT_DELTA, &destroyed);
        d->delta_entries = n + destroyed;
        d->delta_sent = TRUE;
        if (d->out_dropped)
                ct_note(d->cc, d->uuid, FALSE,
                        "conntrack: %" G_GUINT64_FORMAT " entries did not reach the peer channel's buffer before "
                        "the SWITCHOVER (the migration network was slower than the pre-stage): not carried",
                        d->out_dropped);
        ct_note(d->cc, d->uuid, FALSE,
                "conntrack: delta before SWITCHOVER: %u entr%s created or changed, %u destroyed since the "
                "pre-stage (encoded in %" G_GINT64_FORMAT " us)",
                n, n == 1 ? "y" : "ies", destroyed, g_get_monotonic_time() - t0);
}

/* Dumped entries into the table: skipped ones counted, ones an event
 * already brought kept (newer).  With batch: the new ones are added there,
 * clean (they go now); else they are left dirty (for the last batch). */
static void domain_dump_take(VsmCtDomain *d, GArray *entries, GArray *batch) {
        for (guint i = 0; i < entries->len; i++) {
                const VsmCtEntry *e = &g_array_index(entries, VsmCtEntry, i);
                int v = vsm_ct_entry_check(e, &d->owned, d->cc->config->ct_nat_carry, NULL);
                CtKey k;

                if (v >= 0) {
                        d->skipped[v]++;
                        continue;
                }
                key_of(e, &k);
                if (table_lookup(d, &k))
                        continue;
                domain_learn_entry(d, e, batch == NULL, TRUE);
                if (batch && table_lookup(d, &k))
                        g_array_append_val(batch, *e);
        }
}

/* A chunk of the dump while the worker goes on: streamed at once, so the
 * destination installs while the source still dumps. */
static void domain_dump_chunk(VsmCtDomain *d, GArray *entries) {
        g_autoptr(GArray) batch = g_array_sized_new(FALSE, FALSE, sizeof(VsmCtEntry), entries->len);

        domain_dump_take(d, entries, batch);
        d->chunks++;
        if (batch->len == 0 || !d->server)
                return;
        ct_send(d, d->delta_wanted ? VSM_PEER_CT_DELTA : VSM_PEER_CT_PRESTAGE, batch, FALSE, d->delta_wanted);
        d->carried += batch->len;
        d->prestage_entries += batch->len;
}

static void on_dump(VsmCtJob *j, gpointer user_data) {
        VsmCtDomain *d = user_data;
        VsmCtCarry *cc = d->cc;
        guint before = 0;
        gboolean resync = j->user_tag == CT_TAG_RESYNC;

        if (j->partial) {
                CtSlice t = slice_start();

                domain_dump_chunk(d, j->out);
                slice_end(d, t);
                return;
        }
        d->dump_pending = FALSE;
        if (!resync)
                d->dump_ms = (double) (j->ended_usec - j->started_usec) / 1000.0;
        if (j->error < 0) {
                gboolean automatic = cc->config->ct_enabled == VSM_CONFIG_CT_AUTO;

                ct_note(cc, d->uuid, FALSE, "conntrack: dump failed: %s%s", g_strerror(-j->error),
                        automatic ? " (not in use here: nothing carried)" : "");
                if (automatic)
                        cc->unavailable = TRUE;
                domain_learning_stop(d);
                if (d->lingering)
                        domain_linger_end(d);
                return;
        }
        if (resync) {
                GHashTableIter it;
                gpointer v;
                g_autoptr(GHashTable) seen = g_hash_table_new(key_hash, key_equal);
                g_autofree CtKey *keys = g_new0(CtKey, MAX(j->out->len, 1));

                /* What the dump has is current; what it lacks is gone. */
                for (guint i = 0; i < j->out->len; i++) {
                        const VsmCtEntry *e = &g_array_index(j->out, VsmCtEntry, i);

                        if (vsm_ct_entry_check(e, &d->owned, cc->config->ct_nat_carry, NULL) >= 0)
                                continue;
                        key_of(e, &keys[i]);
                        g_hash_table_add(seen, &keys[i]);
                        domain_learn_entry(d, e, TRUE, FALSE);
                }
                for (int sh = 0; sh < CT_SHARDS; sh++) {
                        g_hash_table_iter_init(&it, d->table[sh]);
                        while (g_hash_table_iter_next(&it, NULL, &v)) {
                                CtLearned *l = v;

                                if (!g_hash_table_contains(seen, &l->key)) {
                                        l->e.flags |= VSM_CT_F_DESTROYED;
                                        mark_dirty(d, l, TRUE);
                                }
                        }
                }
                return;
        }
        /* The rest of the dump goes with what events changed meanwhile
         * (dirty), as the last pre-stage batch. */
        before = d->table_n;
        domain_dump_take(d, j->out, NULL);
        d->skipped[VSM_CT_SKIP_CAP] += j->over;
        if (d->delta_wanted) {
                /* SUSPENDED came first: everything left goes as the delta. */
                ct_note(cc, d->uuid, FALSE, "conntrack: the dump ended after SUSPENDED: the rest as the delta");
                domain_send_delta(d);
                if (d->lingering)
                        domain_linger_end(d);
                return;
        }
        {
                g_autofree char *sk = skipped_text(d->skipped);
                gint64 t0 = g_get_monotonic_time();
                guint destroyed = 0;
                guint n = domain_stream(d, VSM_PEER_CT_PRESTAGE, &destroyed);

                d->prestage_entries += n;
                d->prestage_ms = (double) (g_get_monotonic_time() - d->prestage_start_usec) / 1000.0;
                ct_note(cc, d->uuid, FALSE,
                        "conntrack: pre-stage: %" G_GUINT64_FORMAT " entries streamed in %.1f ms (%u of %u in the "
                        "table; %u chunk(s) while the worker dumped, the last batch %u entries and %u destroyed; "
                        "skipped: %s); dump %.1f ms in the worker, last batch encoded in %.1f ms",
                        d->prestage_entries, d->prestage_ms, d->table_n, j->seen, d->chunks, n,
                        destroyed, sk, (double) (j->ended_usec - j->started_usec) / 1000.0,
                        (double) (g_get_monotonic_time() - t0) / 1000.0);
                (void) before;
        }
}

static void domain_dump(VsmCtDomain *d, int tag) {
        VsmCtJob *j = vsm_ct_job_new(VSM_CT_JOB_DUMP);

        j->owned = d->owned;
        /* The cap applies to what is carried; the dump may hold a few more
         * that are skipped. */
        j->max = d->cc->config->ct_max_entries + 1024;
        j->user_tag = tag;
        if (tag == CT_TAG_PRESTAGE)
                j->chunk = CT_DUMP_CHUNK;
        /* Entries with the VM only in the reply tuple have NAT: skipped
         * anyway unless nat = carry (the delete after it left looks for
         * them too). */
        j->orig_only = !d->cc->config->ct_nat_carry;
        d->dump_pending = TRUE;
        cc_submit(d->cc, j, on_dump, d);
}

static void domain_resync_start(VsmCtDomain *d) {
        if (!d->dump_pending)
                domain_dump(d, CT_TAG_RESYNC);
}

void vsm_ct_owned_from_states(VsmCtOwned *o, const GPtrArray *states) {
        memset(o, 0, sizeof(*o));
        for (guint i = 0; states && i < states->len; i++) {
                const VsmNicState *s = states->pdata[i];
                uint8_t nic = (uint8_t) MIN(i, 255u);

                if (s->has_lease)
                        (void) vsm_ct_owned_add(o, 4, s->lease_address, nic);
                for (guint k = 0; s->ip4 && k < s->ip4->len; k++)
                        (void) vsm_ct_owned_add(o, 4, (const uint8_t *) s->ip4->data + k * VSM_IP4_ALEN, nic);
                for (guint k = 0; s->ip6 && k < s->ip6->len; k++)
                        (void) vsm_ct_owned_add(o, 6, (const uint8_t *) s->ip6->data + k * VSM_IP6_ALEN, nic);
        }
}

void vsm_ct_domain_prestage(VsmCtDomain *d, const VsmCtOwned *owned, VsmPeerServer *server) {
        VsmCtCarry *cc = d->cc;

        if (cc->unavailable && cc->config->ct_enabled == VSM_CONFIG_CT_AUTO) {
                ct_note(cc, d->uuid, TRUE, "conntrack: not in use on this host: nothing carried");
                return;
        }
        d->owned = *owned;
        d->server = server;
        d->delta_wanted = d->delta_sent = FALSE;
        d->seq = 0;
        d->chunks = 0;
        d->prestage_entries = 0;
        d->out_dropped = 0;
        ct_out_clear(d);
        domain_table_clear(d);
        if (!server || !(vsm_peer_server_caps(server, d->uuid) & VSM_PEER_CAP_CONNTRACK)) {
                /* An older destination refuses the message type and closes
                 * the channel the state and the SWITCHOVER need. */
                d->server = NULL;
                ct_note(cc, d->uuid, FALSE, "conntrack: the destination did not announce \"conntrack\" (an older "
                        "vsimigd): no entries carried");
                return;
        }
        if (owned->n == 0) {
                ct_note(cc, d->uuid, FALSE, "conntrack: the VM owns no address yet: no entries carried");
                return;
        }
        if (!cc_worker(cc) || !domain_learning_start(d))
                return;
        d->prestage_start_usec = g_get_monotonic_time();
        domain_dump(d, CT_TAG_PRESTAGE);
}

void vsm_ct_domain_delta(VsmCtDomain *d) {
        if (!d->learning)
                return;
        if (d->dump_pending) {
                /* The SWITCHOVER does not wait for it: what the dump still
                 * brings follows it and may come after the destination
                 * took the VM over (then it is not installed). */
                g_autoptr(GArray) none = g_array_new(FALSE, FALSE, sizeof(VsmCtEntry));

                ct_note(d->cc, d->uuid, FALSE,
                        "conntrack: SUSPENDED before the pre-stage dump ended (%" G_GUINT64_FORMAT " entries "
                        "streamed so far): the rest follows the SWITCHOVER as the delta",
                        d->prestage_entries);
                d->delta_wanted = TRUE;
                /* An empty delta batch, not the last, ahead of the
                 * SWITCHOVER: the destination keeps the channel open for
                 * the rest even when no chunk came yet. */
                ct_send(d, VSM_PEER_CT_DELTA, none, FALSE, TRUE);
                domain_learning_stop(d);
                return;
        }
        domain_send_delta(d);
        domain_learning_stop(d);
}

void vsm_ct_domain_stop(VsmCtDomain *d) {
        domain_learning_stop(d);
        if (d->cc->worker)
                vsm_ct_worker_cancel(d->cc->worker, d);
        d->dump_pending = d->delta_wanted = FALSE;
        ct_out_clear(d);
        domain_table_clear(d);
}

/* A forgotten domain's "deleted" counter, after the fact. */
static void gone_add_deleted(VsmCtCarry *cc, const char *uuid, guint n) {
        JsonNode *node = g_hash_table_lookup(cc->gone, uuid);
        JsonObject *o;

        if (!node)
                return;
        o = json_node_get_object(node);
        json_object_set_int_member(o, "deleted", json_object_get_int_member_with_default(o, "deleted", 0) + n);
}

static void on_flushed(VsmCtJob *j, gpointer user_data) {
        VsmCtCarry *cc = user_data;

        if (j->error < 0) {
                gboolean automatic = cc->config->ct_enabled == VSM_CONFIG_CT_AUTO;

                /* auto: conntrack is not in use here; say so once, quietly. */
                ct_note(cc, j->tag, automatic, "conntrack: deleting the VM's entries here failed: %s%s",
                        g_strerror(-j->error), automatic ? " (not in use here)" : "");
                if (automatic)
                        cc->unavailable = TRUE;
                return;
        }
        cc->n_deleted_after_left += j->done;
        gone_add_deleted(cc, j->tag, j->done);
        ct_note(cc, j->tag, j->done == 0, "conntrack: the VM left: deleted its %u entr%s here", j->done,
                j->done == 1 ? "y" : "ies");
}

void vsm_ct_domain_flush(VsmCtDomain *d, const VsmCtOwned *owned) {
        VsmCtCarry *cc = d->cc;
        VsmCtOwned all = d->owned;
        VsmCtJob *j;

        domain_learning_stop(d);
        ct_out_clear(d);
        for (size_t i = 0; owned && i < owned->n; i++)
                (void) vsm_ct_owned_add(&all, owned->a[i].family, owned->a[i].addr, owned->a[i].nic);
        if (all.n == 0 || (cc->unavailable && cc->config->ct_enabled == VSM_CONFIG_CT_AUTO) || !cc_worker(cc))
                return;
        j = vsm_ct_job_new(VSM_CT_JOB_FLUSH);
        j->owned = all;
        g_strlcpy(j->tag, d->uuid, sizeof(j->tag));
        cc_submit(cc, j, on_flushed, cc);
}

/* ---- destination ---- */

void vsm_ct_domain_set_nics(VsmCtDomain *d, const VsmDomainInfo *info) {
        g_array_set_size(d->nics, 0);
        for (guint i = 0; info && info->nics && i < info->nics->len; i++) {
                const VsmNicInfo *ni = info->nics->pdata[i];
                CtNicRef r = { .ni = *ni };

                r.ni.type = r.ni.target_dev = r.ni.source_bridge = r.ni.source_network = r.ni.qbg_manager_id = NULL;
                if (ni->source_bridge)
                        g_strlcpy(r.bridge, ni->source_bridge, sizeof(r.bridge));
                g_array_append_val(d->nics, r);
        }
}

static const CtNicRef *nic_ref(const VsmCtDomain *d, const uint8_t mac[VSM_ETH_ALEN]) {
        for (guint i = 0; i < d->nics->len; i++) {
                const CtNicRef *r = &g_array_index(d->nics, CtNicRef, i);

                if (memcmp(r->ni.mac, mac, VSM_ETH_ALEN) == 0)
                        return r;
        }
        return NULL;
}

static void on_installed(VsmCtJob *j, gpointer user_data) {
        VsmCtDomain *d = user_data;
        VsmCtCarry *cc = d->cc;

        if (j->user_tag == CT_TAG_DELETE) {
                if (j->error >= 0)
                        d->deleted += j->done;
                return;
        }
        d->installed += j->done;
        d->failed += j->failed;
        d->install_busy_us += j->ended_usec - j->started_usec;
        if (j->error < 0)
                ct_note(cc, d->uuid, FALSE, "conntrack: installing failed: %s", g_strerror(-j->error));
        if (j->user_tag == CT_TAG_INSTALL_PRESTAGE_LAST) {
                g_autofree char *sk = skipped_text(d->skipped);

                d->prestage_ms = (double) (j->ended_usec - d->prestage_rx_usec) / 1000.0;
                ct_note(cc, d->uuid, FALSE,
                        "conntrack: pre-stage installed: %" G_GUINT64_FORMAT " entries received, %" G_GUINT64_FORMAT
                        " installed, %" G_GUINT64_FORMAT " failed, refused: %s; %.1f ms from the first batch",
                        d->prestage_entries, d->installed, d->failed, sk, d->prestage_ms);
        } else if (j->user_tag == CT_TAG_INSTALL_DELTA_LAST) {
                d->delta_us = j->ended_usec - d->delta_rx_usec;
                ct_note(cc, d->uuid, FALSE,
                        "conntrack: delta installed: %" G_GUINT64_FORMAT " entries in %" G_GINT64_FORMAT
                        " us from its arrival (%" G_GUINT64_FORMAT " installed, %" G_GUINT64_FORMAT " failed in all)",
                        d->delta_entries, d->delta_us, d->installed, d->failed);
        }
}

static void state_free(gpointer p) {
        vsm_nic_state_free(p);
}

void vsm_ct_domain_install(VsmCtDomain *d, const VsmPeerMessage *m, const GPtrArray *nics) {
        VsmCtCarry *cc = d->cc;
        g_autoptr(GPtrArray) checked = g_ptr_array_new_with_free_func(state_free);
        g_autoptr(GArray) add = g_array_new(FALSE, FALSE, sizeof(VsmCtEntry));
        g_autoptr(GArray) del = g_array_new(FALSE, FALSE, sizeof(VsmCtEntry));
        gboolean delta = m->ct_phase == VSM_PEER_CT_DELTA;
        VsmCtOwned owned;
        VsmCtJob *j;
        CtSlice t = slice_start();

        if (!m->ct_entries)
                return;
        d->rx_any = TRUE;
        if (delta && m->ct_last)
                d->rx_done = TRUE;
        if (d->after_takeover) {
                /* The rest of a dump slower than the migration: the
                 * carried states kept at the takeover re-check it. */
                nics = d->kept_nics;
                d->late += m->ct_entries->len;
        }
        if (!cc_worker(cc))
                return;
        if (delta && !d->delta_rx_usec)
                d->delta_rx_usec = g_get_monotonic_time();
        if (!delta && !d->prestage_rx_usec)
                d->prestage_rx_usec = g_get_monotonic_time();
        /* Only addresses the VM owns here count: the carried states,
         * re-checked against this host's view of the vNICs (nwfilter). */
        for (guint i = 0; nics && i < nics->len; i++)
                g_ptr_array_add(checked, vsm_nic_state_copy(nics->pdata[i]));
        for (guint i = 0; i < checked->len; i++) {
                VsmNicState *s = checked->pdata[i];
                const CtNicRef *r = nic_ref(d, s->mac);

                (void) vsm_nic_state_recheck(s, r ? &r->ni : NULL, nics, NULL);
        }
        vsm_ct_owned_from_states(&owned, checked);
        for (guint i = 0; i < m->ct_entries->len; i++) {
                VsmCtEntry e = g_array_index(m->ct_entries, VsmCtEntry, i);
                unsigned nic = 0;
                int v;

                if (delta)
                        d->delta_entries++;
                else
                        d->prestage_entries++;
                v = vsm_ct_entry_check(&e, &owned, cc->config->ct_nat_carry, &nic);
                if (v >= 0) {
                        d->skipped[v]++;
                        continue;
                }
                {
                        const VsmNicState *s = nic < checked->len ? checked->pdata[nic] : NULL;
                        const CtNicRef *r = s ? nic_ref(d, s->mac) : NULL;

                        e.zone = vsm_ct_zone_map_apply(&cc->config->ct_zone, r && r->bridge[0] ? r->bridge : NULL,
                                                       (uint16_t) e.zone);
                }
                if (e.flags & VSM_CT_F_DESTROYED) {
                        /* (in a pre-stage too: one streamed in an earlier
                         * chunk and destroyed while the dump ran).  Capped
                         * like the installs: a peer's endless deletes must
                         * not queue up in the worker without bound. */
                        if (d->deletes + del->len >= cc->config->ct_max_entries) {
                                d->skipped[VSM_CT_SKIP_CAP]++;
                                continue;
                        }
                        g_array_append_val(del, e);
                        continue;
                }
                if (d->submitted->len + add->len >= cc->config->ct_max_entries) {
                        d->skipped[VSM_CT_SKIP_CAP]++;
                        continue;
                }
                g_array_append_val(add, e);
        }
        if (del->len) {
                d->deletes += del->len;
                j = vsm_ct_job_new(VSM_CT_JOB_DELETE);
                j->in = g_steal_pointer(&del);
                j->user_tag = CT_TAG_DELETE;
                cc_submit(cc, j, on_installed, d);
        }
        /* Nothing to install and not the last batch: no job (a peer's
         * stream of empty batches queues nothing). */
        if (add->len == 0 && !m->ct_last) {
                slice_end(d, t);
                return;
        }
        /* (for CT_UNDO; after the takeover they are the VM's already) */
        if (!d->after_takeover)
                g_array_append_vals(d->submitted, add->data, add->len);
        j = vsm_ct_job_new(VSM_CT_JOB_INSTALL);
        j->in = g_steal_pointer(&add);
        j->nat_carry = cc->config->ct_nat_carry;
        j->user_tag = !m->ct_last ? CT_TAG_INSTALL : delta ? CT_TAG_INSTALL_DELTA_LAST : CT_TAG_INSTALL_PRESTAGE_LAST;
        cc_submit(cc, j, on_installed, d);
        slice_end(d, t);
}

gboolean vsm_ct_domain_stream_open(const VsmCtDomain *d) {
        return d && d->rx_any && !d->rx_done;
}

void vsm_ct_domain_keep(VsmCtDomain *d, const GPtrArray *nics) {
        g_array_set_size(d->submitted, 0);
        d->deletes = 0;
        if (!vsm_ct_domain_stream_open(d))
                return;
        d->after_takeover = TRUE;
        if (d->kept_nics)
                g_ptr_array_unref(d->kept_nics);
        d->kept_nics = g_ptr_array_new_with_free_func(state_free);
        for (guint i = 0; nics && i < nics->len; i++)
                g_ptr_array_add(d->kept_nics, vsm_nic_state_copy(nics->pdata[i]));
}

static void on_undone(VsmCtJob *j, gpointer user_data) {
        VsmCtCarry *cc = user_data;

        if (j->error < 0) {
                ct_note(cc, j->tag, FALSE, "conntrack: deleting the pre-staged entries failed: %s",
                        g_strerror(-j->error));
                return;
        }
        cc->n_undone += j->done;
        gone_add_deleted(cc, j->tag, j->done);
        ct_note(cc, j->tag, FALSE, "conntrack: the migration failed: deleted %u pre-staged entr%s here", j->done,
                j->done == 1 ? "y" : "ies");
}

void vsm_ct_domain_undo(VsmCtDomain *d) {
        VsmCtCarry *cc = d->cc;
        VsmCtJob *j;

        if (d->submitted->len == 0 || !cc_worker(cc))
                return;
        j = vsm_ct_job_new(VSM_CT_JOB_DELETE);
        j->in = g_array_copy(d->submitted);
        g_strlcpy(j->tag, d->uuid, sizeof(j->tag));
        g_array_set_size(d->submitted, 0);
        d->deletes = 0;
        cc_submit(cc, j, on_undone, cc);
}

static void slice_end(VsmCtDomain *d, CtSlice t) {
        d->slice_max_us = MAX(d->slice_max_us, g_get_monotonic_time() - t.wall);
        d->slice_max_cpu_us = MAX(d->slice_max_cpu_us, thread_cpu_usec() - t.cpu);
}

/* ---- the domain ---- */

VsmCtDomain *vsm_ct_domain_new(VsmCtCarry *cc, const char *uuid) {
        VsmCtDomain *d = g_new0(VsmCtDomain, 1);

        g_hash_table_remove(cc->gone, uuid);
        d->cc = cc;
        g_strlcpy(d->uuid, uuid, sizeof(d->uuid));
        for (int i = 0; i < CT_SHARDS; i++)
                d->table[i] = g_hash_table_new_full(key_hash, key_equal, NULL, g_free);
        d->dirty = g_hash_table_new(g_direct_hash, g_direct_equal);
        d->nics = g_array_new(FALSE, FALSE, sizeof(CtNicRef));
        d->submitted = g_array_new(FALSE, FALSE, sizeof(VsmCtEntry));
        d->delta_us = -1;
        return d;
}

static void domain_destroy(VsmCtDomain *d) {
        g_ptr_array_remove(d->cc->lingering, d);
        g_clear_handle_id(&d->linger_timer, g_source_remove);
        domain_learning_stop(d);
        if (d->cc->worker)
                vsm_ct_worker_cancel(d->cc->worker, d);
        /* Kept for `show` after the domain left (bounded). */
        if (g_hash_table_size(d->cc->gone) >= CT_GONE_MAX)
                g_hash_table_remove_all(d->cc->gone);
        g_hash_table_replace(d->cc->gone, g_strdup(d->uuid), vsm_ct_domain_to_json(d));
        ct_out_clear(d);
        g_hash_table_unref(d->dirty);
        for (int i = 0; i < CT_SHARDS; i++)
                g_hash_table_unref(d->table[i]);
        g_array_unref(d->nics);
        g_array_unref(d->submitted);
        if (d->kept_nics)
                g_ptr_array_unref(d->kept_nics);
        g_free(d);
}

/* A lingering domain's dump ended (or its time is up): the channel
 * closes once what is queued went out. */
static void domain_linger_end(VsmCtDomain *d) {
        if (d->server)
                vsm_peer_server_drop_domain(d->server, d->uuid);
        domain_destroy(d);
}

static gboolean on_linger_timeout(gpointer user_data) {
        VsmCtDomain *d = user_data;

        d->linger_timer = 0;
        ct_note(d->cc, d->uuid, FALSE,
                "conntrack: the pre-stage dump did not end within %d ms after the VM left: the rest is not carried",
                CT_LINGER_MS);
        domain_linger_end(d);
        return G_SOURCE_REMOVE;
}

gboolean vsm_ct_domain_streaming(const VsmCtDomain *d) {
        return d && d->dump_pending && d->delta_wanted && d->server;
}

VsmCtDomain *vsm_ct_domain_free(VsmCtDomain *d) {
        if (!d)
                return NULL;
        if (vsm_ct_domain_streaming(d) && !d->lingering) {
                /* The VM left while the dump still runs: what it brings
                 * still goes (the destination waits for it), then the
                 * channel closes (domain_linger_end). */
                d->lingering = TRUE;
                g_ptr_array_add(d->cc->lingering, d);
                d->linger_timer = g_timeout_add(CT_LINGER_MS, on_linger_timeout, d);
                return NULL;
        }
        domain_destroy(d);
        return NULL;
}

JsonNode *vsm_ct_carry_gone_json(const VsmCtCarry *cc, const char *uuid) {
        JsonNode *n = cc ? g_hash_table_lookup(cc->gone, uuid) : NULL;

        return n ? json_node_copy(n) : NULL;
}

JsonNode *vsm_ct_domain_to_json(const VsmCtDomain *d) {
        JsonObject *o = json_object_new();
        JsonObject *sk = json_object_new();
        JsonNode *n = json_node_new(JSON_NODE_OBJECT);

        json_object_set_int_member(o, "learned", (gint64) d->learned);
        json_object_set_int_member(o, "carried", (gint64) d->carried);
        for (int i = 0; i < _VSM_CT_SKIP_MAX; i++)
                json_object_set_int_member(sk, vsm_ct_skip_to_string((VsmCtSkip) i), (gint64) d->skipped[i]);
        json_object_set_object_member(o, "skipped", sk);
        json_object_set_int_member(o, "installed", (gint64) d->installed);
        json_object_set_int_member(o, "failed", (gint64) d->failed);
        json_object_set_int_member(o, "deleted", (gint64) d->deleted);
        json_object_set_int_member(o, "prestage_entries", (gint64) d->prestage_entries);
        json_object_set_double_member(o, "prestage_ms", d->prestage_ms);
        json_object_set_int_member(o, "delta_entries", (gint64) d->delta_entries);
        json_object_set_int_member(o, "delta_us", d->delta_us);
        json_object_set_int_member(o, "late", (gint64) d->late);
        json_object_set_double_member(o, "install_busy_ms", (double) d->install_busy_us / 1000.0);
        json_object_set_double_member(o, "dump_ms", d->dump_ms);
        json_object_set_int_member(o, "loop_slice_max_us", d->slice_max_us);
        json_object_set_int_member(o, "loop_slice_max_cpu_us", d->slice_max_cpu_us);
        json_object_set_boolean_member(o, "learning", d->learning);
        json_node_take_object(n, o);
        return n;
}
