/*
 * ignore.c — fanotify ignore marks: the kernel-side cache of allows that
 * depend on the file's path alone, each guarded by an inode mark that
 * removes it when the file is written, linked, renamed or deleted.
 * Added by a worker's decided() step (never waiting: a trylock), removed
 * by the reader on a guard event and by a reload.
 */
#include "backend/fanotify/internal.h"

static bool
same_inode(const struct ign *e, const struct file_handle *fh)
{
	return e->fh.h.handle_type == fh->handle_type &&
	    e->fh.h.handle_bytes == fh->handle_bytes &&
	    memcmp(e->fh.h.f_handle, fh->f_handle, fh->handle_bytes) == 0;
}

/* The entry for this inode and mask, or (mask 0) for this inode with
 * another index than `skip`; NULL when none.  Caller holds ign_lock. */
static struct ign *
ignore_find(struct vd_fan *fan, const struct file_handle *fh, uint64_t mask,
    size_t skip)
{
	size_t i;

	for (i = 0; i < fan->nign; i++)
		if (i != skip && same_inode(&fan->ign[i], fh) &&
		    (mask == 0 || fan->ign[i].mask == mask))
			return &fan->ign[i];
	return NULL;
}

/* Removes entry i: its ignore mark, its guard mark (unless another entry
 * guards the same inode), its descriptor.  The caller holds ign_lock; the
 * last entry takes its place. */
static void
ignore_remove(struct vd_fan *fan, size_t i)
{
	struct ign *e = &fan->ign[i];

	/* ENOENT: the kernel dropped it already (the file was written). */
	(void)fanotify_mark(fan->perm_fd,
	    FAN_MARK_REMOVE | FAN_MARK_IGNORED_MASK, e->mask, e->fd, NULL);
	if (ignore_find(fan, &e->fh.h, 0, i) == NULL)
		(void)fanotify_mark(
		    fan->guard_fd, FAN_MARK_REMOVE, GUARD_MASK, e->fd, NULL);
	close(e->fd);
	*e = fan->ign[--fan->nign];
	atomic_store_explicit(
	    &fan->ignore_marks, fan->nign, memory_order_relaxed);
}

/*
 * True when no process but root's can give the file another path: the
 * file is root's and not writable by others (so, with
 * fs.protected_hardlinks, nobody else can link it), and at every step up
 * to "/" the directory is root's and either writable by root alone or
 * sticky with a root-owned entry (so nobody else can rename the file or
 * any directory above it).  Renames by root are caught by the guard
 * group, after the fact; those by anyone else would race it, so their
 * files get no ignore mark at all.
 */
static bool
path_locked(const struct vd_fan *fan, const struct stat *file, const char *path)
{
	char dir[VD_PATH_MAX];
	uid_t entry_uid = file->st_uid;
	struct stat st;
	char *slash;

	if (!fan->hardlinks_protected || file->st_uid != 0 ||
	    (file->st_mode & (S_IWGRP | S_IWOTH)) != 0 || path[0] != '/')
		return false;
	snprintf(dir, sizeof(dir), "%s", path);
	while ((slash = strrchr(dir, '/')) != NULL) {
		if (slash == dir)
			slash[1] = '\0'; /* "/" itself */
		else
			*slash = '\0';
		/* A directory: lstat looks it up, it opens nothing. */
		if (lstat(dir, &st) != 0 || !S_ISDIR(st.st_mode) ||
		    st.st_uid != 0)
			return false;
		if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0 &&
		    !((st.st_mode & S_ISVTX) && entry_uid == 0))
			return false;
		if (dir[1] == '\0')
			return true;
		entry_uid = st.st_uid;
	}
	return false;
}

/*
 * Called on a worker after the policy allowed an event for everyone
 * (path_only), before the answer: puts an ignore mark on the inode.
 * The guard mark comes first, so a rename from then on is reported; the
 * path and link count are read again after both marks, so a rename
 * before them is seen too.  Never waits: if a reload or the reader holds
 * the table, the mark is simply not added.
 */
void
vd__fan_ignore_add(
    struct vd_fan *fan, const struct vd_event *ev, uint64_t epoch)
{
	uint64_t mask = vd__fan_perm_mask((enum vd_event_type)ev->type);
	char now[VD_PATH_MAX];
	struct stat st;
	struct ign *e;
	ssize_t n;
	int mount_id, fd = -1;

	if (pthread_mutex_trylock(&fan->ign_lock) != 0) {
		bump(&fan->ignore_stale);
		return;
	}
	if (epoch != atomic_load(&fan->ignore_epoch)) {
		bump(&fan->ignore_stale); /* decided under the old policy */
		goto out;
	}
	if (fan->nign >= fan->cfg.ignore_max) {
		bump(&fan->ignore_full);
		goto out;
	}
	/* Only a path nobody but root can change (a decision about the path
	 * alone is about that path). */
	if (atomic_load(&fan->need_path) &&
	    (fstat(ev->handle.fd, &st) != 0 ||
	        !path_locked(fan, &st, ev->target))) {
		bump(&fan->ignore_unlocked);
		goto out;
	}
	e = &fan->ign[fan->nign];
	e->fh.h.handle_bytes = FH_MAX;
	if ((fd = dup(ev->handle.fd)) < 0 ||
	    name_to_handle_at(fd, "", &e->fh.h, &mount_id, AT_EMPTY_PATH) != 0)
		goto error;
	/* Events for one file decided in parallel: one mark is enough. */
	if (ignore_find(fan, &e->fh.h, mask, SIZE_MAX) != NULL) {
		close(fd);
		goto out;
	}
	if (fanotify_mark(fan->guard_fd, FAN_MARK_ADD, GUARD_MASK, fd, NULL) !=
	    0)
		goto error;
	if (fanotify_mark(fan->perm_fd, FAN_MARK_ADD | FAN_MARK_IGNORED_MASK,
	        mask, fd, NULL) != 0) {
		(void)fanotify_mark(
		    fan->guard_fd, FAN_MARK_REMOVE, GUARD_MASK, fd, NULL);
		goto error;
	}
	/* Still the path and the only link the decision was about? */
	n = vd__fan_fd_path(fan, fd, now, sizeof(now) - 1);
	if (n < 0 || fstat(fd, &st) != 0 || st.st_nlink != 1 ||
	    (atomic_load(&fan->need_path) &&
	        (strncmp(now, ev->target, (size_t)n) != 0 ||
	            ev->target[n] != '\0'))) {
		e->fd = fd;
		e->mask = mask;
		fan->nign++;
		ignore_remove(fan, fan->nign - 1);
		bump(&fan->ignore_renamed);
		goto out;
	}
	e->fd = fd;
	e->mask = mask;
	fan->nign++;
	atomic_store_explicit(
	    &fan->ignore_marks, fan->nign, memory_order_relaxed);
	bump(&fan->ignore_added);
	goto out;
error:
	bump(&fan->ignore_errors);
	if (fd >= 0)
		close(fd);
out:
	pthread_mutex_unlock(&fan->ign_lock);
}

/*
 * The reader, on a guard event: the inode behind fh was written, linked,
 * renamed or deleted; its ignore marks go (all of them on an overflow,
 * fh NULL, since a rename may have been lost).
 */
void
vd__fan_ignore_guard(struct vd_fan *fan, const struct file_handle *fh)
{
	size_t i;

	pthread_mutex_lock(&fan->ign_lock);
	for (i = fan->nign; i-- > 0;)
		if (fh == NULL || same_inode(&fan->ign[i], fh)) {
			ignore_remove(fan, i);
			bump(&fan->ignore_guarded);
		}
	pthread_mutex_unlock(&fan->ign_lock);
}

size_t
vd_fan_drop_ignores(struct vd_fan *fan)
{
	size_t n;

	pthread_mutex_lock(&fan->ign_lock);
	/* First the epoch: a decision made before this point, answered
	 * after it, no longer becomes a mark. */
	atomic_fetch_add(&fan->ignore_epoch, 1);
	n = fan->nign;
	while (fan->nign > 0)
		ignore_remove(fan, fan->nign - 1);
	atomic_fetch_add(&fan->ignore_dropped, n);
	pthread_mutex_unlock(&fan->ign_lock);
	return n;
}
