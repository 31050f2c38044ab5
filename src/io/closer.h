/* A closer thread of our own: close() of an AF_PACKET socket waits for an
 * RCU grace period in the kernel (packet_release -> synchronize_net(),
 * 5-15 ms on a loaded host), far longer than a main-loop dispatch may
 * take.  Such fds are handed to one thread that closes them, through a
 * bounded queue; when the queue is full, the caller closes inline (and it
 * is counted). */
#pragma once

#include <glib.h>

#define VSM_CLOSER_QUEUE_MAX 1024

typedef struct VsmCloserStats {
        guint64 queued;                /* handed to the thread */
        guint64 closed;                /* closed by the thread */
        guint64 inline_closed;         /* queue full or thread not startable: closed by the caller */
        guint64 max_depth;             /* deepest the queue has been */
} VsmCloserStats;

/* Closes fd (>= 0) off the calling thread: the closer thread is started on
 * first use.  Ownership of fd passes here; a negative fd is ignored. */
void vsm_closer_close(int fd);
/* Waits until every fd handed over so far has been closed. */
void vsm_closer_flush(void);
/* Drains the queue and joins the thread (at exit); a later
 * vsm_closer_close() starts it again. */
void vsm_closer_shutdown(void);
/* A copy of the counters (any thread). */
void vsm_closer_get_stats(VsmCloserStats *ret_stats);

/* Test seam: called with the fd just before close(), on the thread that
 * closes it (the closer thread, or the caller when closing inline). */
typedef void (*VsmCloserHook)(int fd, gpointer user_data);
void vsm_closer_set_hook(VsmCloserHook hook, gpointer user_data);
