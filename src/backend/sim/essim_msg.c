/*
 * essim_msg.c — messages of the simulated kernel: building one from a
 * posted event, laying it out as one self-contained allocation, copying
 * it, and the reference counts behind es_retain_message() /
 * es_release_message() and es_copy_message() / es_free_message().
 *
 * A message is laid out twice by the same walker: once to measure, once
 * to write.  The walker knows, per event type, which pointers the ES
 * structures carry, so a copy (es_copy_message) is the same deep walk as
 * building the original from essim_post()'s template.
 *
 * Misuse the real kernel would punish with a crash (releasing a message
 * that was not retained, es_free_message on a message that is not a copy,
 * a pointer that is not a message) aborts with a diagnostic here, so a
 * test that gets it wrong fails loudly instead of corrupting memory.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "essim_internal.h"

_Static_assert(sizeof(struct essim_kmsg) % alignof(es_message_t) == 0,
    "the message must follow its header without padding");

enum ekind {
	EK_NONE,
	EK_OPEN,
	EK_EXEC,
	EK_RENAME,
	EK_UNLINK,
	EK_CREATE,
	EK_TRUNCATE,
	EK_LINK,
	EK_CLONE,
	EK_COPYFILE,
	EK_MOUNT,
	EK_SIGNAL,
	EK_CLOSE,
	EK_FORK,
	EK_EXIT,
	EK_WRITE,
};

/* The event types essim_post() can generate, and their payload shape. */
static enum ekind
event_kind(es_event_type_t t, es_action_type_t *action)
{
	*action = ES_ACTION_TYPE_AUTH;
	switch (t) {
	case ES_EVENT_TYPE_AUTH_OPEN:
		return EK_OPEN;
	case ES_EVENT_TYPE_AUTH_EXEC:
		return EK_EXEC;
	case ES_EVENT_TYPE_AUTH_RENAME:
		return EK_RENAME;
	case ES_EVENT_TYPE_AUTH_UNLINK:
		return EK_UNLINK;
	case ES_EVENT_TYPE_AUTH_CREATE:
		return EK_CREATE;
	case ES_EVENT_TYPE_AUTH_TRUNCATE:
		return EK_TRUNCATE;
	case ES_EVENT_TYPE_AUTH_LINK:
		return EK_LINK;
	case ES_EVENT_TYPE_AUTH_CLONE:
		return EK_CLONE;
	case ES_EVENT_TYPE_AUTH_COPYFILE:
		return EK_COPYFILE;
	case ES_EVENT_TYPE_AUTH_MOUNT:
		return EK_MOUNT;
	case ES_EVENT_TYPE_AUTH_SIGNAL:
		return EK_SIGNAL;
	default:
		break;
	}
	*action = ES_ACTION_TYPE_NOTIFY;
	switch (t) {
	case ES_EVENT_TYPE_NOTIFY_OPEN:
		return EK_OPEN;
	case ES_EVENT_TYPE_NOTIFY_EXEC:
		return EK_EXEC;
	case ES_EVENT_TYPE_NOTIFY_RENAME:
		return EK_RENAME;
	case ES_EVENT_TYPE_NOTIFY_UNLINK:
		return EK_UNLINK;
	case ES_EVENT_TYPE_NOTIFY_CREATE:
		return EK_CREATE;
	case ES_EVENT_TYPE_NOTIFY_TRUNCATE:
		return EK_TRUNCATE;
	case ES_EVENT_TYPE_NOTIFY_LINK:
		return EK_LINK;
	case ES_EVENT_TYPE_NOTIFY_CLONE:
		return EK_CLONE;
	case ES_EVENT_TYPE_NOTIFY_COPYFILE:
		return EK_COPYFILE;
	case ES_EVENT_TYPE_NOTIFY_MOUNT:
		return EK_MOUNT;
	case ES_EVENT_TYPE_NOTIFY_SIGNAL:
		return EK_SIGNAL;
	case ES_EVENT_TYPE_NOTIFY_CLOSE:
		return EK_CLOSE;
	case ES_EVENT_TYPE_NOTIFY_FORK:
		return EK_FORK;
	case ES_EVENT_TYPE_NOTIFY_EXIT:
		return EK_EXIT;
	case ES_EVENT_TYPE_NOTIFY_WRITE:
		return EK_WRITE;
	default:
		return EK_NONE;
	}
}

static uint64_t
fnv1a(const char *s, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (size_t i = 0; i < n; i++) {
		h ^= (unsigned char)s[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

/* A path as ES reports it: at most ESSIM_PATH_MAX - 1 bytes. */
static void
file_init(es_file_t *f, const char *path, mode_t mode)
{
	size_t len = strlen(path);

	memset(f, 0, sizeof *f);
	f->path_truncated = len >= ESSIM_PATH_MAX;
	if (f->path_truncated)
		len = ESSIM_PATH_MAX - 1;
	f->path = (es_string_token_t){ len, path };
	/* Stable identity per path, for consumers that key on the inode. */
	f->stat.st_dev = 0x1000001;
	f->stat.st_ino = (ino_t)fnv1a(path, len);
	f->stat.st_mode = mode;
	f->stat.st_nlink = 1;
}

static es_string_token_t
token(const char *s)
{
	return (es_string_token_t){ strlen(s), s };
}

/* "dir/name" without doubling a trailing slash of dir. */
static const char *
join(struct essim_tmpl *t, const char *dir, const char *name)
{
	size_t n = strlen(dir);
	const char *sep = n > 0 && dir[n - 1] == '/' ? "" : "/";

	snprintf(t->joined, sizeof t->joined, "%s%s%s", dir, sep, name);
	return t->joined;
}

/* The parent directory of path into t->aux_path; its last component. */
static const char *
split(struct essim_tmpl *t, const char *path)
{
	const char *slash = strrchr(path, '/');
	size_t n;

	if (slash == NULL) {
		snprintf(t->aux_path, sizeof t->aux_path, ".");
		return path;
	}
	n = (size_t)(slash - path);
	if (n == 0)
		n = 1; /* the parent of "/x" is "/" */
	if (n >= sizeof t->aux_path)
		n = sizeof t->aux_path - 1;
	memcpy(t->aux_path, path, n);
	t->aux_path[n] = '\0';
	return slash + 1;
}

/* The latest process registered with executable exe, or NULL.  Under the
 * kernel lock: process records are kernel state. */
static const struct essim_kproc *
proc_by_exe(const char *exe)
{
	const struct essim_kproc *p, *found = NULL;

	for (p = essim__k.procs; p != NULL; p = p->next)
		if (strcmp(p->exe.path.data, exe) == 0)
			found = p;
	return found;
}

int
essim__tmpl_init(struct essim_tmpl *t, es_message_t *m,
    const struct essim_event *ev, const struct essim_kproc *p,
    es_action_type_t *action)
{
	es_events_t *e = &m->event;
	enum ekind kind = event_kind(ev->type, action);
	bool need_target, need_dest;
	const char *name;

	if (kind == EK_NONE)
		return -EINVAL;
	need_target = kind != EK_SIGNAL && kind != EK_FORK && kind != EK_EXIT;
	if (kind == EK_SIGNAL && ev->target != NULL && ev->target[0] == '\0')
		return -EINVAL;
	if (need_target && (ev->target == NULL || ev->target[0] == '\0'))
		return -EINVAL;
	need_dest = kind == EK_LINK || kind == EK_CLONE || kind == EK_COPYFILE;
	if (need_dest && (ev->target2 == NULL || ev->name2 == NULL))
		return -EINVAL;
	if (kind == EK_RENAME && ev->target2 == NULL)
		return -EINVAL;

	memset(t, 0, offsetof(struct essim_tmpl, aux_path));
	memset(m, 0, sizeof *m);
	t->aux_path[0] = '\0';
	m->version = essim__k.cfg.msg_version;
	/* The process record is read-only once registered. */
	m->process = (es_process_t *)(uintptr_t)&p->proc;
	m->action_type = *action;
	if (*action == ES_ACTION_TYPE_NOTIFY) {
		m->action.notify.result_type = ES_RESULT_TYPE_AUTH;
		m->action.notify.result.auth = ES_AUTH_RESULT_ALLOW;
	}
	m->event_type = ev->type;
	t->thread.thread_id = (uint64_t)audit_token_to_pid(p->proc.audit_token);
	m->thread = &t->thread;
	if (need_target) {
		file_init(&t->f_target, ev->target, S_IFREG | 0644);
		t->tpath[t->ntpath++] = ev->target;
	}

	switch (kind) {
	case EK_OPEN:
		e->open.fflag = ev->fflag;
		e->open.file = &t->f_target;
		break;
	case EK_EXEC: {
		const struct essim_kproc *img = proc_by_exe(ev->target);

		t->f_target.stat.st_mode = S_IFREG | 0755;
		/* The image after exec: the same process, a new executable
		 * and the new program's signature, which is that of a
		 * process registered with this executable, else none. */
		t->p_target = p->proc;
		t->p_target.executable = &t->f_target;
		t->p_target.is_platform_binary =
		    img != NULL && img->proc.is_platform_binary;
		t->p_target.codesigning_flags =
		    img != NULL ? img->proc.codesigning_flags : 0;
		t->p_target.signing_id = img != NULL
		    ? img->proc.signing_id
		    : (es_string_token_t){ 0, "" };
		t->p_target.team_id = img != NULL
		    ? img->proc.team_id
		    : (es_string_token_t){ 0, "" };
		if (img != NULL)
			memcpy(t->p_target.cdhash, img->proc.cdhash,
			    sizeof t->p_target.cdhash);
		else
			memset(
			    t->p_target.cdhash, 0, sizeof t->p_target.cdhash);
		file_init(&t->f_aux, "/", S_IFDIR | 0755);
		e->exec.target = &t->p_target;
		e->exec.script = NULL;
		e->exec.cwd = &t->f_aux;
		e->exec.last_fd = 2;
		break;
	}
	case EK_RENAME:
		e->rename.source = &t->f_target;
		if (ev->name2 != NULL) {
			file_init(&t->f_dir2, ev->target2, S_IFDIR | 0755);
			e->rename.destination_type =
			    ES_DESTINATION_TYPE_NEW_PATH;
			e->rename.destination.new_path.dir = &t->f_dir2;
			e->rename.destination.new_path.filename =
			    token(ev->name2);
			t->tpath[t->ntpath++] = join(t, ev->target2, ev->name2);
		} else {
			file_init(&t->f_dir2, ev->target2, S_IFREG | 0644);
			e->rename.destination_type =
			    ES_DESTINATION_TYPE_EXISTING_FILE;
			e->rename.destination.existing_file = &t->f_dir2;
			t->tpath[t->ntpath++] = ev->target2;
		}
		break;
	case EK_UNLINK:
		split(t, ev->target);
		file_init(&t->f_aux, t->aux_path, S_IFDIR | 0755);
		e->unlink.target = &t->f_target;
		e->unlink.parent_dir = &t->f_aux;
		break;
	case EK_CREATE:
		/* A new file: ES reports its directory and name. */
		if (ev->target2 != NULL && ev->name2 != NULL) {
			snprintf(
			    t->aux_path, sizeof t->aux_path, "%s", ev->target2);
			name = ev->name2;
		} else {
			name = split(t, ev->target);
		}
		snprintf(t->name_buf, sizeof t->name_buf, "%s", name);
		file_init(&t->f_aux, t->aux_path, S_IFDIR | 0755);
		e->create.destination_type = ES_DESTINATION_TYPE_NEW_PATH;
		e->create.destination.new_path.dir = &t->f_aux;
		e->create.destination.new_path.filename = token(t->name_buf);
		e->create.destination.new_path.mode = 0644;
		break;
	case EK_TRUNCATE:
		e->truncate.target = &t->f_target;
		break;
	case EK_LINK:
		file_init(&t->f_dir2, ev->target2, S_IFDIR | 0755);
		e->link.source = &t->f_target;
		e->link.target_dir = &t->f_dir2;
		e->link.target_filename = token(ev->name2);
		t->tpath[t->ntpath++] = join(t, ev->target2, ev->name2);
		break;
	case EK_CLONE:
		file_init(&t->f_dir2, ev->target2, S_IFDIR | 0755);
		e->clone.source = &t->f_target;
		e->clone.target_dir = &t->f_dir2;
		e->clone.target_name = token(ev->name2);
		t->tpath[t->ntpath++] = join(t, ev->target2, ev->name2);
		break;
	case EK_COPYFILE:
		file_init(&t->f_dir2, ev->target2, S_IFDIR | 0755);
		e->copyfile.source = &t->f_target;
		e->copyfile.target_file = NULL;
		e->copyfile.target_dir = &t->f_dir2;
		e->copyfile.target_name = token(ev->name2);
		e->copyfile.mode = 0644;
		t->tpath[t->ntpath++] = join(t, ev->target2, ev->name2);
		break;
	case EK_MOUNT:
		snprintf(t->sfs.f_mntonname, sizeof t->sfs.f_mntonname, "%s",
		    ev->target);
		snprintf(t->sfs.f_mntfromname, sizeof t->sfs.f_mntfromname,
		    "%s", ev->target2 != NULL ? ev->target2 : "essimfs");
		e->mount.statfs = &t->sfs;
		break;
	case EK_SIGNAL:
		/* target: the signalled process's executable (the latest
		 * process registered with it; without one, the sender's
		 * process image running it); fflag: the signal number. */
		t->p_target = p->proc;
		if (ev->target != NULL) {
			const struct essim_kproc *q = proc_by_exe(ev->target);

			if (q != NULL) {
				t->p_target = q->proc;
			} else {
				file_init(
				    &t->f_target, ev->target, S_IFREG | 0755);
				t->p_target.executable = &t->f_target;
			}
			t->tpath[t->ntpath++] = ev->target;
		}
		e->signal.sig = ev->fflag != 0 ? ev->fflag : SIGTERM;
		e->signal.target = &t->p_target;
		break;
	case EK_CLOSE:
		e->close.modified = ev->modified;
		e->close.target = &t->f_target;
		e->close.was_mapped_writable = false;
		break;
	case EK_FORK:
		t->p_target = p->proc;
		e->fork.child = &t->p_target;
		break;
	case EK_EXIT:
		e->exit.stat = 0;
		break;
	case EK_WRITE:
		e->write.target = &t->f_target;
		break;
	case EK_NONE:
		return -EINVAL;
	}
	return 0;
}

/* ---- layout ------------------------------------------------------------ */

/* With base == NULL it only measures: every pointer it hands out is NULL. */
struct arena {
	char *base;
	size_t off;
};

static void *
arena_get(struct arena *a, size_t size, size_t align)
{
	void *p;

	a->off = (a->off + align - 1) & ~(align - 1);
	p = a->base != NULL ? a->base + a->off : NULL;
	a->off += size;
	return p;
}

static es_string_token_t
arena_str(struct arena *a, es_string_token_t s)
{
	char *p = arena_get(a, s.length + 1, 1);

	if (p != NULL) {
		if (s.length > 0)
			memcpy(p, s.data, s.length);
		p[s.length] = '\0';
	}
	return (es_string_token_t){ s.length, p };
}

static es_file_t *
arena_file(struct arena *a, const es_file_t *f)
{
	es_file_t *n;
	es_string_token_t path;

	if (f == NULL)
		return NULL;
	n = arena_get(a, sizeof *n, alignof(es_file_t));
	path = arena_str(a, f->path);
	if (n != NULL) {
		*n = *f;
		n->path = path;
	}
	return n;
}

static es_process_t *
arena_proc(struct arena *a, const es_process_t *p)
{
	es_process_t *n = arena_get(a, sizeof *n, alignof(es_process_t));
	es_process_t v = *p;

	v.signing_id = arena_str(a, p->signing_id);
	v.team_id = arena_str(a, p->team_id);
	v.executable = arena_file(a, p->executable);
	v.tty = arena_file(a, p->tty);
	if (n != NULL)
		*n = v;
	return n;
}

static struct essim_kmsg *
layout(struct arena *a, const es_message_t *src)
{
	struct essim_kmsg *k =
	    arena_get(a, sizeof *k, alignof(struct essim_kmsg));
	es_message_t *m = arena_get(a, sizeof *m, alignof(es_message_t));
	es_message_t v = *src;
	es_events_t *e = &v.event;
	const es_events_t *s = &src->event;
	es_action_type_t action;
	struct essim_statfs *sfs;

	v.process = arena_proc(a, src->process);
	if (src->thread != NULL) {
		v.thread = arena_get(a, sizeof *v.thread, alignof(es_thread_t));
		if (v.thread != NULL)
			*v.thread = *src->thread;
	}
	switch (event_kind(src->event_type, &action)) {
	case EK_OPEN:
		e->open.file = arena_file(a, s->open.file);
		break;
	case EK_EXEC:
		e->exec.target = arena_proc(a, s->exec.target);
		e->exec.script = arena_file(a, s->exec.script);
		e->exec.cwd = arena_file(a, s->exec.cwd);
		break;
	case EK_RENAME:
		e->rename.source = arena_file(a, s->rename.source);
		if (s->rename.destination_type ==
		    ES_DESTINATION_TYPE_EXISTING_FILE) {
			e->rename.destination.existing_file =
			    arena_file(a, s->rename.destination.existing_file);
		} else {
			e->rename.destination.new_path.dir =
			    arena_file(a, s->rename.destination.new_path.dir);
			e->rename.destination.new_path.filename = arena_str(
			    a, s->rename.destination.new_path.filename);
		}
		break;
	case EK_UNLINK:
		e->unlink.target = arena_file(a, s->unlink.target);
		e->unlink.parent_dir = arena_file(a, s->unlink.parent_dir);
		break;
	case EK_CREATE:
		if (s->create.destination_type ==
		    ES_DESTINATION_TYPE_EXISTING_FILE) {
			e->create.destination.existing_file =
			    arena_file(a, s->create.destination.existing_file);
		} else {
			e->create.destination.new_path.dir =
			    arena_file(a, s->create.destination.new_path.dir);
			e->create.destination.new_path.filename = arena_str(
			    a, s->create.destination.new_path.filename);
		}
		break;
	case EK_TRUNCATE:
		e->truncate.target = arena_file(a, s->truncate.target);
		break;
	case EK_LINK:
		e->link.source = arena_file(a, s->link.source);
		e->link.target_dir = arena_file(a, s->link.target_dir);
		e->link.target_filename = arena_str(a, s->link.target_filename);
		break;
	case EK_CLONE:
		e->clone.source = arena_file(a, s->clone.source);
		e->clone.target_dir = arena_file(a, s->clone.target_dir);
		e->clone.target_name = arena_str(a, s->clone.target_name);
		break;
	case EK_COPYFILE:
		e->copyfile.source = arena_file(a, s->copyfile.source);
		e->copyfile.target_file =
		    arena_file(a, s->copyfile.target_file);
		e->copyfile.target_dir = arena_file(a, s->copyfile.target_dir);
		e->copyfile.target_name = arena_str(a, s->copyfile.target_name);
		break;
	case EK_MOUNT:
		sfs = arena_get(a, sizeof *sfs, alignof(struct essim_statfs));
		if (sfs != NULL)
			*sfs = *s->mount.statfs;
		e->mount.statfs = sfs;
		break;
	case EK_SIGNAL:
		e->signal.target = arena_proc(a, s->signal.target);
		break;
	case EK_CLOSE:
		e->close.target = arena_file(a, s->close.target);
		break;
	case EK_FORK:
		e->fork.child = arena_proc(a, s->fork.child);
		break;
	case EK_EXIT:
		break;
	case EK_WRITE:
		e->write.target = arena_file(a, s->write.target);
		break;
	case EK_NONE:
		break;
	}
	if (m != NULL)
		*m = v;
	return k;
}

/* A process as a message of version v carries it (see shape_version). */
static void
shape_process(es_process_t *p, uint32_t v)
{
	if (p == NULL)
		return;
	if (v < 3) {
		p->start_time.tv_sec = (time_t)ESSIM_ABSENT_U64;
		p->start_time.tv_usec = (suseconds_t)(ESSIM_ABSENT_U64 >> 40);
	}
	if (v < 2)
		p->tty = NULL;
}

/*
 * Fields newer than the message's version are absent on macOS: the
 * structure ends before them, and what a client reads there is garbage.
 * Poisoned here, so a client that reads them without checking the
 * version gets nonsense a test can catch (pointers are NULL instead, so
 * the simulator's own copies stay safe).
 */
static void
shape_version(es_message_t *m)
{
	uint32_t v = m->version;
	es_action_type_t action;

	if (v >= ESSIM_MSG_VERSION_MAX)
		return;
	if (v < 4) {
		m->global_seq_num = ESSIM_ABSENT_U64;
		m->thread = NULL;
	}
	if (v < 2)
		m->seq_num = ESSIM_ABSENT_U64;
	shape_process(m->process, v);
	switch (event_kind(m->event_type, &action)) {
	case EK_EXEC:
		shape_process(m->event.exec.target, v);
		break;
	case EK_SIGNAL:
		shape_process(m->event.signal.target, v);
		break;
	case EK_FORK:
		shape_process(m->event.fork.child, v);
		break;
	default:
		break;
	}
}

struct essim_kmsg *
essim__msg_build(const es_message_t *src, struct es_client_s *c)
{
	struct arena a = { NULL, 0 };
	struct essim_kmsg *k;

	layout(&a, src);
	a = (struct arena){ malloc(a.off), 0 };
	if (a.base == NULL)
		return NULL;
	k = layout(&a, src);
	k->magic = ESSIM_MSG_MAGIC;
	k->is_copy = false;
	k->state = KMSG_NOTIFY;
	atomic_init(&k->refs, 1);
	atomic_init(&k->user_refs, 0);
	k->id = 0;
	k->client = c;
	k->orig = NULL;
	k->qnext = NULL;
	k->heap_idx = SIZE_MAX;
	k->post_ns = 0;
	k->deadline_ns = 0;
	atomic_init(&k->deliver_ns, 0);
	shape_version(essim__kmsg_msg(k));
	atomic_fetch_add_explicit(&c->refs, 1, memory_order_relaxed);
	return k;
}

const char *
essim__cache_target(const es_message_t *m)
{
	switch (m->event_type) {
	case ES_EVENT_TYPE_AUTH_OPEN:
		return m->event.open.file->path.data;
	case ES_EVENT_TYPE_AUTH_EXEC:
		return m->event.exec.target->executable->path.data;
	case ES_EVENT_TYPE_AUTH_MOUNT:
		return m->event.mount.statfs->f_mntonname;
	default:
		return NULL;
	}
}

/* ---- references --------------------------------------------------------- */

void
essim__client_put(struct es_client_s *c)
{
	/* acq_rel: every holder's writes happen before the free. */
	if (atomic_fetch_sub_explicit(&c->refs, 1, memory_order_acq_rel) != 1)
		return;
	pthread_cond_destroy(&c->cv);
	pthread_mutex_destroy(&c->qlock);
	for (size_t i = 0; i < c->npmutes; i++)
		free(c->pmutes[i].path);
	free(c->pmutes);
	free(c->mutes);
	c->magic = 0;
	free(c);
}

void
essim__kmsg_put(struct essim_kmsg *k)
{
	struct essim_kmsg *orig;
	struct es_client_s *c;

	if (atomic_fetch_sub_explicit(&k->refs, 1, memory_order_acq_rel) != 1)
		return;
	orig = k->orig;
	c = k->client;
	k->magic = 0;
	free(k);
	if (orig != NULL)
		essim__kmsg_put(orig);
	essim__client_put(c);
}

static _Noreturn void
die(const char *fn, const char *why)
{
	fprintf(stderr, "essim: %s: %s\n", fn, why);
	abort();
}

static struct essim_kmsg *
checked(const es_message_t *msg, const char *fn)
{
	struct essim_kmsg *k;

	if (msg == NULL)
		die(fn, "NULL message");
	k = essim__kmsg_of(msg);
	if (k->magic != ESSIM_MSG_MAGIC)
		die(fn, "not a message from the kernel (freed?)");
	return k;
}

/* Drops one user reference; aborts when there is none to drop. */
static void
user_put(struct essim_kmsg *k, const char *fn)
{
	unsigned u = atomic_load_explicit(&k->user_refs, memory_order_relaxed);

	do {
		if (u == 0)
			die(fn, "message not retained (over-release)");
	} while (!atomic_compare_exchange_weak_explicit(&k->user_refs, &u,
	    u - 1, memory_order_relaxed, memory_order_relaxed));
	/* Before the put: it may free the client. */
	atomic_fetch_sub_explicit(
	    &k->client->retained, 1, memory_order_relaxed);
	essim__kmsg_put(k);
}

void
es_retain_message(const es_message_t *msg)
{
	struct essim_kmsg *k = checked(msg, "es_retain_message");

	atomic_fetch_add_explicit(&k->refs, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&k->user_refs, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(
	    &k->client->retained, 1, memory_order_relaxed);
}

void
es_release_message(const es_message_t *msg)
{
	user_put(checked(msg, "es_release_message"), "es_release_message");
}

es_message_t *
es_copy_message(const es_message_t *msg)
{
	struct essim_kmsg *k = checked(msg, "es_copy_message");
	struct essim_kmsg *orig = k->is_copy ? k->orig : k;
	struct essim_kmsg *n;

	n = essim__msg_build(msg, orig->client);
	if (n == NULL)
		return NULL;
	n->is_copy = true;
	/* The answer to a copy is the answer to the original: keep it. */
	atomic_fetch_add_explicit(&orig->refs, 1, memory_order_relaxed);
	n->orig = orig;
	n->id = orig->id;
	n->post_ns = orig->post_ns;
	n->deadline_ns = orig->deadline_ns;
	atomic_init(&n->user_refs, 1);
	atomic_fetch_add_explicit(
	    &orig->client->retained, 1, memory_order_relaxed);
	return essim__kmsg_msg(n);
}

void
es_free_message(es_message_t *msg)
{
	struct essim_kmsg *k = checked(msg, "es_free_message");

	if (!k->is_copy)
		die("es_free_message", "not a copy from es_copy_message");
	user_put(k, "es_free_message");
}
