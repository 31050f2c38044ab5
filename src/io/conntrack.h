/* The kernel's connection tracking table over ctnetlink
 * (libnetfilter_conntrack + libmnl; DESIGN.md section 4 "Conntrack":
 * libnl-nf cannot set the TCP state or NAT).
 *
 * Three parts:
 *  - VsmCtSock: blocking calls on a private NETLINK_NETFILTER socket
 *    (dump, batched install, batched delete).  Only the worker thread and
 *    tests call them: a whole-table dump must never run on the main loop.
 *  - VsmCtWorker: a thread of our own that runs those calls as jobs from a
 *    queue and posts each result back to the main context (an eventfd on
 *    the main loop), where its callback runs.
 *  - VsmCtEvents: the NEW/UPDATE/DESTROY multicast groups on a
 *    non-blocking socket on the main loop, with a large receive buffer;
 *    each event is handed over as a VsmCtEntry; a lost event (ENOBUFS) is
 *    reported, so the caller resyncs with a dump in the worker.
 * Errors are negative errno values; no logging here. */
#pragma once

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

#include "proto/ct-record.h"

typedef struct VsmCtSock VsmCtSock;

/* NULL and -errno in *ret_errno. */
VsmCtSock *vsm_ct_sock_open(int *ret_errno);
void vsm_ct_sock_close(VsmCtSock *s);
/* The entries (every zone) one of whose addresses is in owned (NULL:
 * every entry), appended to out
 * (VsmCtEntry), at most max of them (the rest counted in *ret_over).
 * *ret_seen: entries the kernel sent.  0 or -errno. */
int vsm_ct_sock_dump(VsmCtSock *s, const VsmCtOwned *owned, GArray *out, guint max, guint *ret_seen, guint *ret_over);
/* Did the last dump use the kernel's filter (CTA_FILTER, one dump per
 * owned address and tuple position; at most 16 addresses), rather than
 * one dump of the whole table filtered here? */
bool vsm_ct_sock_last_dump_filtered(const VsmCtSock *s);
/* Creates (or updates, when one with the same tuple exists) n entries,
 * several netlink messages per sendmsg, with the status
 * vsm_ct_install_status(), TCP state, window scale and flags
 * (vsm_ct_tcp_install_flags(): BE_LIBERAL both ways), mark, zone and
 * timeout; with nat_carry the NAT bits and the NAT mapping the tuples
 * imply.  ok[i] (may be NULL) says which were taken.  The number taken,
 * or -errno when the socket failed. */
int vsm_ct_sock_install(VsmCtSock *s, const VsmCtEntry *e, guint n, bool nat_carry, bool *ok);
/* Deletes n entries by their original tuple and zone, batched.  The
 * number deleted (absent ones are not counted), or -errno. */
int vsm_ct_sock_delete(VsmCtSock *s, const VsmCtEntry *e, guint n);

/* ---- the worker ---- */

typedef enum VsmCtJobType {
        VSM_CT_JOB_DUMP,               /* entries of owned: out */
        VSM_CT_JOB_INSTALL,            /* in -> installed (the ones taken) */
        VSM_CT_JOB_DELETE,             /* in */
        VSM_CT_JOB_FLUSH,              /* dump owned, delete what it found */
        _VSM_CT_JOB_MAX,
} VsmCtJobType;

typedef struct VsmCtJob {
        VsmCtJobType type;
        VsmCtOwned owned;              /* DUMP, FLUSH */
        guint max;                     /* DUMP: cap */
        guint chunk;                   /* DUMP: also post every chunk entries as they come (0: no) */
        bool orig_only;                /* DUMP: the VM's address in the original tuple only (an
                                        * entry with it only in the reply one has NAT) */
        bool nat_carry;                /* INSTALL */
        GArray *in;                    /* INSTALL, DELETE: VsmCtEntry (owned by the job) */
        /* results */
        int error;                     /* 0 or -errno */
        GArray *out;                   /* DUMP: VsmCtEntry; INSTALL: those installed */
        guint seen, over, done, failed;
        gint64 queued_usec, started_usec, ended_usec; /* monotonic */
        bool partial;                  /* a chunk of a DUMP still running: out has it; the final
                                        * result (partial false) has the rest and the counters */
        struct VsmCtJob *parent;       /* partial: the job it belongs to */
        /* the caller's, untouched */
        char tag[40];
        int user_tag;
        /* private */
        void (*func)(struct VsmCtJob *job, gpointer user_data);
        gpointer user_data;
        bool cancelled;
} VsmCtJob;

typedef void (*VsmCtJobFunc)(VsmCtJob *job, gpointer user_data);
typedef struct VsmCtWorker VsmCtWorker;

/* Starts the thread; results come back on the thread-default main
 * context of the caller. */
VsmCtWorker *vsm_ct_worker_new(GError **error);
/* Waits for the job running now, drops the rest (no callbacks). */
VsmCtWorker *vsm_ct_worker_free(VsmCtWorker *w);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VsmCtWorker, vsm_ct_worker_free)
/* A new job of type: fill its inputs, then vsm_ct_worker_submit(). */
VsmCtJob *vsm_ct_job_new(VsmCtJobType type);
/* Queues job (taken); func (may be NULL) runs on the main context with
 * the result, unless cancelled first. */
void vsm_ct_worker_submit(VsmCtWorker *w, VsmCtJob *job, VsmCtJobFunc func, gpointer user_data);
/* No callback for the jobs of user_data any more (they still run). */
void vsm_ct_worker_cancel(VsmCtWorker *w, gpointer user_data);
guint vsm_ct_worker_pending(const VsmCtWorker *w);

/* ---- events ---- */

typedef void (*VsmCtEventFunc)(const VsmCtEntry *e, bool destroyed, gpointer user_data);
/* Events were lost (the receive buffer overran): resync. */
typedef void (*VsmCtOverrunFunc)(gpointer user_data);
typedef struct VsmCtEvents VsmCtEvents;

/* Subscribes to NEW, UPDATE and DESTROY on the main loop.  NULL and
 * -errno in *ret_errno. */
VsmCtEvents *vsm_ct_events_new(VsmCtEventFunc func, VsmCtOverrunFunc overrun, gpointer user_data, int *ret_errno);
VsmCtEvents *vsm_ct_events_free(VsmCtEvents *ev);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VsmCtEvents, vsm_ct_events_free)
/* Another receive buffer size (tests: a small one overruns). */
void vsm_ct_events_set_rcvbuf(VsmCtEvents *ev, int bytes);
guint64 vsm_ct_events_received(const VsmCtEvents *ev);
/* The events socket's netlink port (tests: a forged sender's target). */
uint32_t vsm_ct_events_port(const VsmCtEvents *ev);
guint64 vsm_ct_events_overruns(const VsmCtEvents *ev);
