/*
 * control.h — verdictd's control server: the daemon's end of the protocol
 * in proto/proto.h, on a Unix stream socket (VD_CTL_DEFAULT_PATH).
 *
 * One thread, "vd-control", owns the socket.  It multiplexes up to
 * VD_CONTROL_MAX_CLIENTS connections with poll(2), each with a deadline
 * for its request and another for its reply, so a client that stalls is
 * dropped after timeout_ms and never delays the others.  Each connection
 * carries one request: the thread reads and checks it (proto/proto.c), calls
 * one of the ops, replies and closes.  A malformed, oversized or unknown
 * request gets an error reply and reaches no op.
 *
 * The socket is created mode 0600, so only its owner (root, for the
 * daemon) may connect.  A socket left behind by a dead daemon is replaced;
 * a live one, or anything that is not a socket, makes start-up fail.
 *
 * Threads: vd_control_start() and vd_control_stop() from the main thread,
 * at start-up and shutdown (start changes the process umask for an
 * instant).  The ops run on the control thread, one at a time, and must
 * not block for long: every client waits for them.  The control thread
 * never touches the event path; it sees the pipeline only through the ops.
 * vd_control_get_stats() from any thread.
 */
#ifndef VD_DAEMON_CONTROL_H
#define VD_DAEMON_CONTROL_H

#include <stddef.h>
#include <stdint.h>

/* How long a client may take to send its request, and again to read the
 * reply, before it is dropped. */
#define VD_CONTROL_TIMEOUT_MS 1000
/* Connections served at once; more wait in the listen backlog. */
#define VD_CONTROL_MAX_CLIENTS 16

/*
 * What the daemon answers with.  Each op returns 0 or -errno; an op left
 * NULL makes its request fail with EOPNOTSUPP.
 */
struct vd_control_ops {
	/*
	 * GET: calls emit(ectx, line, len) for each matching record, a line
	 * already formatted "name\tkind\tunit\tvalue\thelp\n", in the
	 * daemon's order; n == 0 asks for every record.  Returns 0, or
	 * -ENOENT with the first name that matched nothing copied into bad
	 * (badsz bytes, NUL-terminated); what was emitted is then dropped.
	 * Any other -errno is replied with its strerror() text.
	 */
	int (*get)(void *ctx, const char *const *names, size_t n,
	    void (*emit)(void *ectx, const char *line, size_t len), void *ectx,
	    char *bad, size_t badsz);
	/*
	 * STATUS: writes "key\tvalue\n" lines into buf (bufsz bytes, no NUL
	 * needed) and returns their length; a value above bufsz (as from
	 * snprintf) means they did not fit and the reply is E2BIG.
	 */
	size_t (*status)(void *ctx, char *buf, size_t bufsz);
	/*
	 * RELOAD: returns 0 or -errno, with the outcome in one line in msg
	 * (msgsz bytes, NUL-terminated, no newline) either way.
	 */
	int (*reload)(void *ctx, char *msg, size_t msgsz);
	/*
	 * EXPLAIN: the explanation of query (qlen bytes) into buf (bufsz
	 * bytes) and its length; or -errno (-EINVAL: a malformed query) with
	 * a one-line message, NUL-terminated, in buf.
	 */
	int (*explain)(
	    void *ctx, const char *query, size_t qlen, char *buf, size_t bufsz);
};

/* The server's own counters, each only ever growing. */
struct vd_control_stats {
	uint64_t connections; /* accepted */
	uint64_t requests;    /* read in full (or refused from the header)
	                         and answered */
	uint64_t errors;      /* of those, answered with a non-zero status */
	uint64_t dropped;     /* closed without a complete reply: timed out,
	                         hung up, or reply not deliverable */
};

struct vd_control;

/*
 * Creates the socket at path, owned by the caller, mode 0600, and starts
 * the thread.  timeout_ms: 0 means VD_CONTROL_TIMEOUT_MS.  ops and ctx
 * must outlive the server.  Returns the server, or NULL with *err (if err
 * is not NULL) set to a -errno and a sentence in msg:
 *   -ENAMETOOLONG  path does not fit in a sockaddr_un
 *   -EADDRINUSE    another server is listening on path
 *   -EEXIST        path exists and is not a socket (it is left alone)
 *   -ENOMEM, or -errno from socket(2), bind(2), listen(2), pipe(2),
 *   lstat(2), unlink(2), chmod(2) or pthread_create(3).
 */
struct vd_control *
vd_control_start(const char *path, const struct vd_control_ops *ops, void *ctx,
    unsigned timeout_ms, int *err, char *msg, size_t msgsz);

/* Wakes and joins the thread, drops any open connection, closes the
 * socket and unlinks it (if path still names it).  NULL is a no-op. */
void vd_control_stop(struct vd_control *c);

/* A snapshot of the server's counters; any thread. */
void
vd_control_get_stats(const struct vd_control *c, struct vd_control_stats *st);

#endif
