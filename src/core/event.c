/*
 * event.c — event type names and path copying.
 */
#include <string.h>

#include <verdict/event.h>

static const char *const type_names[VD_EVENT_TYPE_COUNT] = {
	[VD_AUTH_OPEN] = "auth.open",
	[VD_AUTH_EXEC] = "auth.exec",
	[VD_AUTH_ACCESS] = "auth.access",
	[VD_AUTH_RENAME] = "auth.rename",
	[VD_AUTH_UNLINK] = "auth.unlink",
	[VD_AUTH_CREATE] = "auth.create",
	[VD_AUTH_TRUNCATE] = "auth.truncate",
	[VD_AUTH_LINK] = "auth.link",
	[VD_AUTH_CLONE] = "auth.clone",
	[VD_AUTH_COPYFILE] = "auth.copyfile",
	[VD_AUTH_MOUNT] = "auth.mount",
	[VD_AUTH_SIGNAL] = "auth.signal",
	[VD_NOTIFY_CLOSE] = "notify.close",
	[VD_NOTIFY_EXEC] = "notify.exec",
	[VD_NOTIFY_FORK] = "notify.fork",
	[VD_NOTIFY_EXIT] = "notify.exit",
	[VD_NOTIFY_WRITE] = "notify.write",
	[VD_NOTIFY_RENAME] = "notify.rename",
	[VD_NOTIFY_UNLINK] = "notify.unlink",
	[VD_NOTIFY_CREATE] = "notify.create",
};

const char *
vd_event_type_name(enum vd_event_type t)
{
	if ((unsigned)t >= VD_EVENT_TYPE_COUNT)
		return NULL;
	return type_names[t];
}

int
vd_event_type_parse(const char *name)
{
	int t;

	for (t = 0; t < VD_EVENT_TYPE_COUNT; t++) {
		if (strcmp(name, type_names[t]) == 0)
			return t;
		/* "open" alone means the AUTH type. */
		if (t < VD_AUTH_TYPE_COUNT &&
		    strcmp(name, type_names[t] + 5) == 0)
			return t;
	}
	return -1;
}

bool
vd_copy_path(char *dst, size_t dstsz, const char *src, size_t srclen)
{
	bool cut = srclen >= dstsz;
	size_t n = cut ? dstsz - 1 : srclen;

	memcpy(dst, src, n);
	dst[n] = '\0';
	return cut;
}
