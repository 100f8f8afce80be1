/*
 * es.c — the EndpointSecurity backend.  See es.h.
 *
 * This file compiles unchanged against Apple's SDK on macOS (link
 * -lEndpointSecurity -lbsm) and against the simulator's headers on Linux
 * (libessim): both provide the same header names, so it needs no
 * conditional at all.
 *
 * The handlers run on the ES delivery thread of their client, strictly one
 * message at a time.  They do nothing but copy: no lock, no I/O, no log;
 * vd_pipeline_submit never blocks.  Everything they count is written by
 * that one thread, or with relaxed atomics.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fcntl.h> /* FREAD, FWRITE: es_event_open_t.fflag */
#include <time.h>

#include <EndpointSecurity/EndpointSecurity.h>
#include <bsm/libbsm.h>
#include <mach/mach_time.h>

#include <verdict/backend.h>
#include <verdict/counters.h>
#include <verdict/pipeline.h>
#include <verdict/policy.h>

#include "backend/es/es.h"
#include "platform/platform.h"

struct vd_es {
	es_client_t *auth;
	es_client_t *notify;
	struct vd_pipeline *p;
	mach_timebase_info_data_t tb;
	_Atomic bool stopping;
	_Atomic int in_handler; /* handlers between their check and return */
	/* Written by one delivery thread each: no atomics needed for the
	 * previous sequence numbers, nor for the messages' own count (their
	 * ids where global_seq_num is missing). */
	uint64_t auth_seq, notify_seq;
	bool auth_seen, notify_seen;
	uint64_t auth_n, notify_n;
	_Atomic uint64_t auth_messages, notify_messages, unknown_type;
	_Atomic uint64_t kernel_drops, retained, released, cached;
	_Atomic uint64_t clear_cache_throttled, clear_cache_failed;
	_Atomic uint64_t respond_errors[8];
	char self_exe[VD_PATH_MAX];
};

/* What we subscribe to, in verdictd's terms. */
const enum vd_event_type vd_es_types[] = {
	VD_AUTH_OPEN,
	VD_AUTH_EXEC,
	VD_AUTH_RENAME,
	VD_AUTH_UNLINK,
	VD_AUTH_CREATE,
	VD_AUTH_TRUNCATE,
	VD_AUTH_LINK,
	VD_AUTH_CLONE,
	VD_AUTH_COPYFILE,
	VD_AUTH_MOUNT,
	VD_AUTH_SIGNAL,
	VD_NOTIFY_CLOSE,
	VD_NOTIFY_EXEC,
	VD_NOTIFY_FORK,
	VD_NOTIFY_EXIT,
	VD_NOTIFY_WRITE,
	VD_NOTIFY_RENAME,
	VD_NOTIFY_UNLINK,
	VD_NOTIFY_CREATE,
};
const size_t vd_es_ntypes = sizeof(vd_es_types) / sizeof(vd_es_types[0]);

/* verdictd type -> ES type, for the types above. */
static es_event_type_t
to_es(enum vd_event_type t)
{
	switch (t) {
	case VD_AUTH_OPEN:
		return ES_EVENT_TYPE_AUTH_OPEN;
	case VD_AUTH_EXEC:
		return ES_EVENT_TYPE_AUTH_EXEC;
	case VD_AUTH_RENAME:
		return ES_EVENT_TYPE_AUTH_RENAME;
	case VD_AUTH_UNLINK:
		return ES_EVENT_TYPE_AUTH_UNLINK;
	case VD_AUTH_CREATE:
		return ES_EVENT_TYPE_AUTH_CREATE;
	case VD_AUTH_TRUNCATE:
		return ES_EVENT_TYPE_AUTH_TRUNCATE;
	case VD_AUTH_LINK:
		return ES_EVENT_TYPE_AUTH_LINK;
	case VD_AUTH_CLONE:
		return ES_EVENT_TYPE_AUTH_CLONE;
	case VD_AUTH_COPYFILE:
		return ES_EVENT_TYPE_AUTH_COPYFILE;
	case VD_AUTH_MOUNT:
		return ES_EVENT_TYPE_AUTH_MOUNT;
	case VD_AUTH_SIGNAL:
		return ES_EVENT_TYPE_AUTH_SIGNAL;
	case VD_NOTIFY_CLOSE:
		return ES_EVENT_TYPE_NOTIFY_CLOSE;
	case VD_NOTIFY_EXEC:
		return ES_EVENT_TYPE_NOTIFY_EXEC;
	case VD_NOTIFY_FORK:
		return ES_EVENT_TYPE_NOTIFY_FORK;
	case VD_NOTIFY_EXIT:
		return ES_EVENT_TYPE_NOTIFY_EXIT;
	case VD_NOTIFY_WRITE:
		return ES_EVENT_TYPE_NOTIFY_WRITE;
	case VD_NOTIFY_RENAME:
		return ES_EVENT_TYPE_NOTIFY_RENAME;
	case VD_NOTIFY_UNLINK:
		return ES_EVENT_TYPE_NOTIFY_UNLINK;
	case VD_NOTIFY_CREATE:
		return ES_EVENT_TYPE_NOTIFY_CREATE;
	default:
		return ES_EVENT_TYPE_LAST;
	}
}

/* ES type -> verdictd type; -1 for types we do not handle. */
static int
from_es(es_event_type_t e)
{
	size_t i;

	for (i = 0; i < vd_es_ntypes; i++)
		if (to_es(vd_es_types[i]) == e)
			return (int)vd_es_types[i];
	return -1;
}

const char *
vd_es_respond_result_name(unsigned r)
{
	static const char *const names[] = {
		"success",
		"err_invalid_argument",
		"err_internal",
		"not_found",
		"err_duplicate_response",
		"err_event_type",
	};

	return r < sizeof(names) / sizeof(names[0]) ? names[r] : "unknown";
}

/* ------------------------------------------------------------------ */
/* Copying a message into an event                                     */

static bool
copy_token(char *dst, size_t dstsz, es_string_token_t tok)
{
	if (tok.data == NULL) {
		dst[0] = '\0';
		return false;
	}
	return vd_copy_path(dst, dstsz, tok.data, tok.length);
}

static bool
copy_file(char *dst, size_t dstsz, const es_file_t *f)
{
	bool cut;

	if (f == NULL) {
		dst[0] = '\0';
		return false;
	}
	cut = copy_token(dst, dstsz, f->path);
	return cut || f->path_truncated;
}

/* dir + "/" + name: a rename's, link's or clone's new path. */
static bool
copy_join(char *dst, size_t dstsz, const es_file_t *dir, es_string_token_t name)
{
	size_t n;
	bool cut = copy_file(dst, dstsz, dir);

	n = strlen(dst);
	if (n + 1 >= dstsz)
		return true;
	if (n == 0 || dst[n - 1] != '/')
		dst[n++] = '/';
	dst[n] = '\0';
	if (name.data == NULL)
		return cut;
	return vd_copy_path(dst + n, dstsz - n, name.data, name.length) || cut;
}

static uint64_t
ticks_to_ns(const struct vd_es *es, uint64_t ticks)
{
	/* Split so that ticks x numer cannot overflow for any delta. */
	return ticks / es->tb.denom * es->tb.numer +
	    ticks % es->tb.denom * es->tb.numer / es->tb.denom;
}

/* A Mach absolute time as the pipeline's clock reads it. */
static uint64_t
mach_to_vd(
    const struct vd_es *es, uint64_t mach, uint64_t mach_now, uint64_t vd_now)
{
	if (mach >= mach_now)
		return vd_now + ticks_to_ns(es, mach - mach_now);
	return vd_now - ticks_to_ns(es, mach_now - mach);
}

/*
 * Fields newer than a message's version are not there (the structures
 * end early, or hold garbage): the versions that brought the fields read
 * here.
 */
#define ES_V_START_TIME     3 /* es_process_t.start_time */
#define ES_V_GLOBAL_SEQ_NUM 4 /* es_message_t.global_seq_num, .thread */

static void
copy_signature(struct vd_signature *sig, const es_process_t *proc)
{
	sig->platform_binary = proc->is_platform_binary;
	memcpy(sig->cdhash, proc->cdhash, sizeof(sig->cdhash));
	copy_token(sig->team_id, sizeof(sig->team_id), proc->team_id);
	copy_token(sig->signing_id, sizeof(sig->signing_id), proc->signing_id);
}

static void
copy_process(struct vd_process *p, const es_process_t *proc, uint32_t version)
{
	const char *base;

	p->pid = audit_token_to_pid(proc->audit_token);
	p->uid = audit_token_to_euid(proc->audit_token);
	p->ppid = proc->ppid;
	/* 0: unknown, as for a backend that has no start time. */
	p->start_time = version < ES_V_START_TIME
	    ? 0
	    : (uint64_t)proc->start_time.tv_sec * 1000000000u +
	        (uint64_t)proc->start_time.tv_usec * 1000u;
	p->platform_binary = proc->is_platform_binary;
	memcpy(p->cdhash, proc->cdhash, sizeof(p->cdhash));
	copy_token(p->team_id, sizeof(p->team_id), proc->team_id);
	copy_token(p->signing_id, sizeof(p->signing_id), proc->signing_id);
	p->exe_truncated = copy_file(p->exe, sizeof(p->exe), proc->executable);
	base = strrchr(p->exe, '/');
	vd_copy_path(p->comm, sizeof(p->comm), base ? base + 1 : p->exe,
	    strlen(base ? base + 1 : p->exe));
}

/* The event's object(s), by type. */
/*
 * The object file's identity, for the policy runtime's decision cache.
 * st_ctime (seconds) is POSIX on both Linux and macOS, where the
 * nanosecond field is spelled differently; with the inode it is a good
 * enough change stamp, and a close-after-write invalidates the cache
 * besides.  A file with more than one link has more than one path, which
 * the identity does not pin: target_id stays false, so never cached; its
 * dev and ino are still kept, for the digest reader to check that the
 * file it opens by path is this one.
 */
static void
copy_file_id(struct vd_event *ev, const es_file_t *f)
{
	if (f == NULL)
		return;
	ev->target_dev = (uint64_t)f->stat.st_dev;
	ev->target_ino = (uint64_t)f->stat.st_ino;
	if (f->stat.st_nlink != 1)
		return;
	ev->target_ctime_ns = (uint64_t)f->stat.st_ctime * 1000000000ull;
	ev->target_id = true;
}

static void
copy_targets(struct vd_event *ev, const es_message_t *msg)
{
	const es_events_t *e = &msg->event;
	char *t = ev->target, *t2 = ev->target2;
	size_t sz = sizeof(ev->target), sz2 = sizeof(ev->target2);

	switch (msg->event_type) {
	case ES_EVENT_TYPE_AUTH_OPEN:
		ev->target_truncated = copy_file(t, sz, e->open.file);
		copy_file_id(ev, e->open.file);
		ev->open_flags = ((e->open.fflag & FREAD) ? VD_OPEN_READ : 0) |
		    ((e->open.fflag & FWRITE) ? VD_OPEN_WRITE : 0);
		break;
	case ES_EVENT_TYPE_AUTH_EXEC:
	case ES_EVENT_TYPE_NOTIFY_EXEC:
		ev->target_truncated =
		    copy_file(t, sz, e->exec.target->executable);
		copy_file_id(ev, e->exec.target->executable);
		/* The program being run: msg->process is its caller. */
		copy_signature(&ev->exec_sig, e->exec.target);
		break;
	case ES_EVENT_TYPE_AUTH_RENAME:
	case ES_EVENT_TYPE_NOTIFY_RENAME:
		ev->target_truncated = copy_file(t, sz, e->rename.source);
		if (e->rename.destination_type ==
		    ES_DESTINATION_TYPE_EXISTING_FILE)
			ev->target2_truncated = copy_file(
			    t2, sz2, e->rename.destination.existing_file);
		else
			ev->target2_truncated = copy_join(t2, sz2,
			    e->rename.destination.new_path.dir,
			    e->rename.destination.new_path.filename);
		break;
	case ES_EVENT_TYPE_AUTH_UNLINK:
	case ES_EVENT_TYPE_NOTIFY_UNLINK:
		ev->target_truncated = copy_file(t, sz, e->unlink.target);
		copy_file_id(ev, e->unlink.target);
		break;
	case ES_EVENT_TYPE_AUTH_CREATE:
	case ES_EVENT_TYPE_NOTIFY_CREATE:
		if (e->create.destination_type ==
		    ES_DESTINATION_TYPE_EXISTING_FILE)
			ev->target_truncated = copy_file(
			    t, sz, e->create.destination.existing_file);
		else
			ev->target_truncated =
			    copy_join(t, sz, e->create.destination.new_path.dir,
			        e->create.destination.new_path.filename);
		break;
	case ES_EVENT_TYPE_AUTH_TRUNCATE:
		ev->target_truncated = copy_file(t, sz, e->truncate.target);
		copy_file_id(ev, e->truncate.target);
		break;
	case ES_EVENT_TYPE_AUTH_LINK:
		ev->target_truncated = copy_file(t, sz, e->link.source);
		ev->target2_truncated = copy_join(
		    t2, sz2, e->link.target_dir, e->link.target_filename);
		break;
	case ES_EVENT_TYPE_AUTH_CLONE:
		ev->target_truncated = copy_file(t, sz, e->clone.source);
		ev->target2_truncated = copy_join(
		    t2, sz2, e->clone.target_dir, e->clone.target_name);
		break;
	case ES_EVENT_TYPE_AUTH_COPYFILE:
		ev->target_truncated = copy_file(t, sz, e->copyfile.source);
		if (e->copyfile.target_file != NULL)
			ev->target2_truncated =
			    copy_file(t2, sz2, e->copyfile.target_file);
		else
			ev->target2_truncated = copy_join(t2, sz2,
			    e->copyfile.target_dir, e->copyfile.target_name);
		break;
	case ES_EVENT_TYPE_AUTH_MOUNT:
		ev->target_truncated =
		    vd_copy_path(t, sz, e->mount.statfs->f_mntonname,
		        strlen(e->mount.statfs->f_mntonname));
		break;
	case ES_EVENT_TYPE_AUTH_SIGNAL:
		ev->target_truncated =
		    copy_file(t, sz, e->signal.target->executable);
		break;
	case ES_EVENT_TYPE_NOTIFY_CLOSE:
		ev->target_truncated = copy_file(t, sz, e->close.target);
		copy_file_id(ev, e->close.target);
		ev->close_modified = e->close.modified;
		break;
	case ES_EVENT_TYPE_NOTIFY_WRITE:
		ev->target_truncated = copy_file(t, sz, e->write.target);
		copy_file_id(ev, e->write.target);
		break;
	case ES_EVENT_TYPE_NOTIFY_FORK:
		ev->target_truncated =
		    copy_file(t, sz, e->fork.child->executable);
		break;
	default:
		break; /* NOTIFY_EXIT: nothing but the process */
	}
}

/*
 * A gap in global_seq_num is the count of messages the kernel dropped.
 * Messages older than version 4 have none: no drops can be counted, and
 * the message's id is its rank in this client's stream instead.
 */
static uint64_t
count_gap(struct vd_es *es, const es_message_t *msg, uint64_t *last, bool *seen,
    uint64_t *n)
{
	uint64_t seq = msg->global_seq_num;

	++*n;
	if (msg->version < ES_V_GLOBAL_SEQ_NUM)
		return *n;
	if (*seen && seq > *last + 1)
		atomic_fetch_add_explicit(
		    &es->kernel_drops, seq - *last - 1, memory_order_relaxed);
	*last = seq;
	*seen = true;
	return seq;
}

/*
 * Both handlers: copy, submit, return.  The AUTH message is retained so it
 * stays valid until the one answer; respond() releases it.
 */
static void
handle(struct vd_es *es, const es_message_t *msg, bool auth)
{
	struct vd_handle h = { .ptr = NULL, .id = 0, .fd = -1 };
	uint64_t mach_now, vd_now, id;
	struct vd_event *ev;
	int t;

	/* Announce ourselves before looking at `stopping`: quiesce sets it,
	 * then waits for in_handler to drop to 0 (both seq_cst). */
	atomic_fetch_add(&es->in_handler, 1);
	if (auth) {
		atomic_fetch_add_explicit(
		    &es->auth_messages, 1, memory_order_relaxed);
		id = count_gap(
		    es, msg, &es->auth_seq, &es->auth_seen, &es->auth_n);
	} else {
		atomic_fetch_add_explicit(
		    &es->notify_messages, 1, memory_order_relaxed);
		id = count_gap(
		    es, msg, &es->notify_seq, &es->notify_seen, &es->notify_n);
	}
	t = from_es(msg->event_type);
	if (t < 0 ||
	    (vd_event_type_action((enum vd_event_type)t) == VD_ACTION_AUTH) !=
	        auth) {
		atomic_fetch_add_explicit(
		    &es->unknown_type, 1, memory_order_relaxed);
		/* Never leave an AUTH message unanswered. */
		if (msg->action_type == ES_ACTION_TYPE_AUTH &&
		    msg->event_type == ES_EVENT_TYPE_AUTH_OPEN)
			es_respond_flags_result(
			    es->auth, msg, UINT32_MAX, false);
		else if (msg->action_type == ES_ACTION_TYPE_AUTH)
			es_respond_auth_result(
			    es->auth, msg, ES_AUTH_RESULT_ALLOW, false);
		goto out;
	}
	if (auth) {
		es_retain_message(msg);
		atomic_fetch_add_explicit(
		    &es->retained, 1, memory_order_relaxed);
		h.ptr = (void *)(uintptr_t)msg;
	}
	h.id = id;
	if (atomic_load(&es->stopping) ||
	    (ev = vd_pipeline_event_get(es->p, (enum vd_event_type)t)) ==
	        NULL) {
		/* Pool empty, or stopping: the default, at once, counted. */
		vd_pipeline_refuse(es->p, (enum vd_event_type)t, &h);
		goto out;
	}
	ev->handle = h;
	mach_now = mach_absolute_time();
	vd_now = vd_clock_ns();
	ev->arrival_ns = mach_to_vd(es, msg->mach_time, mach_now, vd_now);
	if (auth)
		ev->deadline_ns = msg->deadline > mach_now
		    ? mach_to_vd(es, msg->deadline, mach_now, vd_now)
		    : vd_now;
	copy_process(&ev->proc, msg->process, msg->version);
	copy_targets(ev, msg);
	vd_pipeline_submit(es->p, ev);
out:
	atomic_fetch_sub(&es->in_handler, 1);
}

/* ------------------------------------------------------------------ */
/* Answers                                                             */

static bool
es_respond(void *ctx, enum vd_event_type type, const struct vd_handle *h,
    const struct vd_decision *d)
{
	struct vd_es *es = ctx;
	const es_message_t *msg = h->ptr;
	es_respond_result_t r;
	uint32_t flags = 0;
	/* Only an ALLOW that depends on (executable, target) alone, and is
	 * not audited, may be cached by the kernel: a cached DENY cannot be
	 * undone by a reload before es_clear_cache. */
	bool cache = d->cache && d->verdict == VD_ALLOW && !d->audit;

	if (type == VD_AUTH_OPEN) {
		/* All bits for a full allow; a read-only allow authorizes
		 * FREAD. */
		if (d->verdict == VD_ALLOW)
			flags = (d->open_flags & VD_OPEN_WRITE) ? UINT32_MAX
			    : (d->open_flags & VD_OPEN_READ)    ? FREAD
			                                        : 0;
		/* The kernel denies from its cache any later open of the pair
		 * whose flags are not a subset of the cached ones, without
		 * asking: only an allow of every bit may be cached. */
		cache = cache && flags == UINT32_MAX;
		r = es_respond_flags_result(es->auth, msg, flags, cache);
	} else {
		r = es_respond_auth_result(es->auth, msg,
		    d->verdict == VD_ALLOW ? ES_AUTH_RESULT_ALLOW
		                           : ES_AUTH_RESULT_DENY,
		    cache);
	}
	es_release_message(msg);
	atomic_fetch_add_explicit(&es->released, 1, memory_order_relaxed);
	if (r != ES_RESPOND_RESULT_SUCCESS) {
		atomic_fetch_add_explicit(&es->respond_errors[(unsigned)r & 7],
		    1, memory_order_relaxed);
		return false;
	}
	if (cache)
		atomic_fetch_add_explicit(&es->cached, 1, memory_order_relaxed);
	return true;
}

static const struct vd_backend_ops es_ops = {
	.name = "es",
	.respond = es_respond,
	.release = NULL, /* NOTIFY messages are copied, never retained */
};

const struct vd_backend_ops *
vd_es_ops(void)
{
	return &es_ops;
}

/* ------------------------------------------------------------------ */
/* Life cycle                                                          */

struct vd_es *
vd_es_create(int *err)
{
	struct vd_es *es = calloc(1, sizeof(*es));

	if (es == NULL) {
		*err = -ENOMEM;
		return NULL;
	}
	mach_timebase_info(&es->tb);
	if (es->tb.denom == 0)
		es->tb.numer = es->tb.denom = 1;
	if (vd_self_exe(es->self_exe, sizeof(es->self_exe)) != 0)
		es->self_exe[0] = '\0';
	*err = 0;
	return es;
}

static const char *
new_client_error(es_new_client_result_t r)
{
	switch (r) {
	case ES_NEW_CLIENT_RESULT_ERR_INVALID_ARGUMENT:
		return "ES_NEW_CLIENT_RESULT_ERR_INVALID_ARGUMENT";
	case ES_NEW_CLIENT_RESULT_ERR_INTERNAL:
		return "ES_NEW_CLIENT_RESULT_ERR_INTERNAL";
	case ES_NEW_CLIENT_RESULT_ERR_NOT_ENTITLED:
		return "ES_NEW_CLIENT_RESULT_ERR_NOT_ENTITLED: the binary "
		       "lacks "
		       "the com.apple.developer.endpoint-security.client "
		       "entitlement";
	case ES_NEW_CLIENT_RESULT_ERR_NOT_PERMITTED:
		return "ES_NEW_CLIENT_RESULT_ERR_NOT_PERMITTED: grant Full "
		       "Disk "
		       "Access (System Settings or an MDM privacy profile)";
	case ES_NEW_CLIENT_RESULT_ERR_NOT_PRIVILEGED:
		return "ES_NEW_CLIENT_RESULT_ERR_NOT_PRIVILEGED: run as root";
	case ES_NEW_CLIENT_RESULT_ERR_TOO_MANY_CLIENTS:
		return "ES_NEW_CLIENT_RESULT_ERR_TOO_MANY_CLIENTS";
	default:
		return "unknown es_new_client_result_t";
	}
}

/* One client: created, our own executable muted, subscribed. */
static int
open_client(
    struct vd_es *es, es_client_t **out, bool auth, char *err, size_t errsz)
{
	es_event_type_t types[32];
	es_new_client_result_t r;
	uint32_t n = 0;
	size_t i;

	r = es_new_client(out, ^(es_client_t *c, const es_message_t *msg) {
		(void)c;
		handle(es, msg, auth);
	});
	if (r != ES_NEW_CLIENT_RESULT_SUCCESS) {
		*out = NULL;
		snprintf(err, errsz, "es_new_client (%s client): %s",
		    auth ? "AUTH" : "NOTIFY", new_client_error(r));
		return r == ES_NEW_CLIENT_RESULT_ERR_NOT_PRIVILEGED ? -EPERM
		                                                    : -EACCES;
	}
	/* Our own file accesses must never wait for ourselves. */
	if (es->self_exe[0] != '\0')
		es_mute_path(*out, es->self_exe, ES_MUTE_PATH_TYPE_LITERAL);
	for (i = 0; i < vd_es_ntypes && n < 32; i++)
		if ((vd_event_type_action(vd_es_types[i]) == VD_ACTION_AUTH) ==
		    auth)
			types[n++] = to_es(vd_es_types[i]);
	if (es_subscribe(*out, types, n) != ES_RETURN_SUCCESS) {
		snprintf(err, errsz, "es_subscribe (%s client) failed",
		    auth ? "AUTH" : "NOTIFY");
		es_delete_client(*out);
		*out = NULL;
		return -EIO;
	}
	return 0;
}

int
vd_es_start(struct vd_es *es, struct vd_pipeline *p, char *err, size_t errsz)
{
	int rc;

	es->p = p;
	/* NOTIFY first: by the time AUTH events flow, the caches that NOTIFY
	 * events invalidate are already being kept up to date. */
	if ((rc = open_client(es, &es->notify, false, err, errsz)) != 0)
		return rc;
	if ((rc = open_client(es, &es->auth, true, err, errsz)) != 0) {
		es_delete_client(es->notify);
		es->notify = NULL;
		return rc;
	}
	return 0;
}

void
vd_es_quiesce(struct vd_es *es)
{
	struct timespec ts = { 0, 100000 };

	atomic_store(&es->stopping, true);
	if (es->auth != NULL)
		es_unsubscribe_all(es->auth);
	if (es->notify != NULL)
		es_unsubscribe_all(es->notify);
	/* A handler that saw stopping == false before our store is still
	 * counted in in_handler; once it is 0, none will submit again. */
	while (atomic_load(&es->in_handler) != 0)
		nanosleep(&ts, NULL);
}

int
vd_es_clear_cache(struct vd_es *es)
{
	es_clear_cache_result_t r;

	if (es->auth == NULL)
		return 0;
	r = es_clear_cache(es->auth);
	if (r == ES_CLEAR_CACHE_RESULT_SUCCESS)
		return 0;
	if (r == ES_CLEAR_CACHE_RESULT_ERR_THROTTLE) {
		atomic_fetch_add(&es->clear_cache_throttled, 1);
		return -EAGAIN;
	}
	return -EIO;
}

void *
vd_es_auth_client(const struct vd_es *es)
{
	return es->auth;
}

void *
vd_es_notify_client(const struct vd_es *es)
{
	return es->notify;
}

void
vd_es_stats(const struct vd_es *es, struct vd_es_stats *out)
{
	unsigned i;

	memset(out, 0, sizeof(*out));
	out->auth_messages = atomic_load(&es->auth_messages);
	out->notify_messages = atomic_load(&es->notify_messages);
	out->unknown_type = atomic_load(&es->unknown_type);
	out->kernel_drops = atomic_load(&es->kernel_drops);
	out->retained = atomic_load(&es->retained);
	out->released = atomic_load(&es->released);
	out->cached = atomic_load(&es->cached);
	out->clear_cache_throttled = atomic_load(&es->clear_cache_throttled);
	out->clear_cache_failed = atomic_load(&es->clear_cache_failed);
	for (i = 0; i < 8; i++)
		out->respond_errors[i] = atomic_load(&es->respond_errors[i]);
}

void
vd_es_finish(struct vd_es *es)
{
	if (es == NULL)
		return;
	if (es->auth != NULL)
		es_delete_client(es->auth);
	if (es->notify != NULL)
		es_delete_client(es->notify);
	es->auth = es->notify = NULL;
}

void
vd_es_destroy(struct vd_es *es)
{
	vd_es_finish(es);
	free(es);
}

/* ------------------------------------------------------------------ */
/* As a struct vd_backend                                              */

static int
b_start(void *ctx, struct vd_pipeline *p, char *msg, size_t msgsz)
{
	return vd_es_start(ctx, p, msg, msgsz);
}

static void
b_quiesce(void *ctx)
{
	vd_es_quiesce(ctx);
}

static void
b_finish(void *ctx)
{
	vd_es_finish(ctx);
}

static void
b_destroy(void *ctx)
{
	vd_es_destroy(ctx);
}

/*
 * Decisions the kernel cached under the old policy must go:
 * es_clear_cache, retried for up to two seconds while the kernel
 * throttles it.  On the controlling thread, never on the AUTH path.
 */
static int
b_policy_changed(
    void *ctx, const struct vd_policy *pol, char *msg, size_t msgsz)
{
	struct timespec ts = { 0, 100000000 };
	struct vd_es *es = ctx;
	int i, rc = -EAGAIN;

	(void)pol;
	if (es->auth == NULL)
		return 0; /* not started: nothing cached yet */
	for (i = 0; i < 20 && rc == -EAGAIN; i++)
		if ((rc = vd_es_clear_cache(es)) == -EAGAIN)
			nanosleep(&ts, NULL);
	if (rc == 0)
		return 0;
	atomic_fetch_add_explicit(
	    &es->clear_cache_failed, 1, memory_order_relaxed);
	snprintf(msg, msgsz,
	    "es_clear_cache failed (%s): the kernel may keep decisions of "
	    "the old policy cached",
	    rc == -EAGAIN ? "throttled" : strerror(-rc));
	return rc;
}

static void
b_counters(
    void *ctx, void (*emit)(void *ectx, const struct vd_ctr *c), void *ectx)
{
	struct vd_es_stats st;
	char name[96];
	unsigned r;

	vd_es_stats(ctx, &st);
	const struct vd_ctr c[] = {
		{ "backend.es.auth_messages", VD_CTR_COUNTER, "messages",
		    "messages the AUTH client was handed",
		    (int64_t)st.auth_messages },
		{ "backend.es.notify_messages", VD_CTR_COUNTER, "messages",
		    "messages the NOTIFY client was handed",
		    (int64_t)st.notify_messages },
		{ "backend.es.kernel_drops", VD_CTR_COUNTER, "messages",
		    "messages the kernel dropped, seen as global_seq_num gaps",
		    (int64_t)st.kernel_drops },
		{ "backend.es.retained", VD_CTR_COUNTER, "messages",
		    "messages retained until their answer",
		    (int64_t)st.retained },
		{ "backend.es.released", VD_CTR_COUNTER, "messages",
		    "retained messages released after their answer",
		    (int64_t)st.released },
		{ "backend.es.cached", VD_CTR_COUNTER, "answers",
		    "answers the kernel was allowed to cache",
		    (int64_t)st.cached },
		{ "backend.es.clear_cache_throttled", VD_CTR_COUNTER, "calls",
		    "es_clear_cache calls the kernel throttled",
		    (int64_t)st.clear_cache_throttled },
		{ "backend.es.clear_cache_failed", VD_CTR_COUNTER, "reloads",
		    "reloads after which the kernel may still hold decisions "
		    "of the old policy (es_clear_cache kept failing)",
		    (int64_t)st.clear_cache_failed },
	};
	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++)
		emit(ectx, &c[i]);
	for (r = 1; r <= 5; r++) {
		struct vd_ctr e = { name, VD_CTR_COUNTER, "answers",
			"answers the kernel refused, by es_respond_result_t",
			(int64_t)st.respond_errors[r] };

		snprintf(name, sizeof(name), "backend.es.respond_errors.%s",
		    vd_es_respond_result_name(r));
		emit(ectx, &e);
	}
}

void
vd_es_backend(struct vd_es *es, struct vd_backend *out)
{
	*out = (struct vd_backend){
		.ops = &es_ops,
		.ops_ctx = es,
		.ctx = es,
		/* sha256=: by path with the message's dev and ino
		 * (verdict/digest.h), for a program that sets an enricher. */
		.policy_can = VD_POLICY_CAN_ACCESS | VD_POLICY_CAN_TEAM_ID |
		    VD_POLICY_CAN_SHA256,
		.start = b_start,
		.quiesce = b_quiesce,
		.finish = b_finish,
		.destroy = b_destroy,
		.policy_changed = b_policy_changed,
		.counters = b_counters,
	};
}
