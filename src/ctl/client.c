/*
 * client.c — verdictctl's side of the control protocol: one connection
 * per request, with a deadline for the whole exchange, and the checks of
 * the reply before anything of it is printed.
 */
#include "ctl/ctl.h"

/* ---- talking to the daemon ---- */

/*
 * Bounds a connect() that waits on a full backlog (Linux) by `secs`, at
 * least a microsecond: a zero timeval would mean no timeout at all.
 * 0 or -errno.
 */
static int
send_timeout(int fd, double secs)
{
	struct timeval tv;

	tv.tv_sec = (time_t)secs;
	tv.tv_usec = (suseconds_t)((secs - (double)tv.tv_sec) * 1e6);
	if (tv.tv_sec == 0 && tv.tv_usec == 0)
		tv.tv_usec = 1;
	if (setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) == -1)
		return -errno;
	return 0;
}

static bool
is_timeout(int err)
{
	return err == EAGAIN || err == EWOULDBLOCK || err == ETIMEDOUT ||
	    err == EINPROGRESS;
}

/* The message and exit status for a failed connect(). */
static int
connect_failed(const struct opts *o, int err)
{
	switch (err) {
	case ENOENT:
	case ENOTDIR:
		vd_cli_warnx(PROG, "verdictd is not running (no socket at %s)",
		    o->socket);
		return EXIT_NODAEMON;
	case ECONNREFUSED:
		vd_cli_warnx(PROG,
		    "nothing listens on %s (verdictd is not running?)",
		    o->socket);
		return EXIT_NODAEMON;
	case EACCES:
	case EPERM:
		vd_cli_warnx(PROG,
		    "%s: permission denied: the control socket is root-only "
		    "(mode 0600)",
		    o->socket);
		return EXIT_PERM;
	default:
		if (is_timeout(err))
			vd_cli_warnx(PROG, "%s: connect timed out after %gs",
			    o->socket, o->timeout);
		else
			vd_cli_warnx(
			    PROG, "%s: connect: %s", o->socket, strerror(err));
		return EXIT_PROTO;
	}
}

/* The message and exit status for a failed receive of `what`. */
static int
io_failed(const struct opts *o, const char *what, int err)
{
	if (is_timeout(err))
		vd_cli_warnx(
		    PROG, "%s: no %s within %gs", o->socket, what, o->timeout);
	else if (err == EPIPE || err == ECONNRESET)
		vd_cli_warnx(PROG,
		    "%s: verdictd closed the connection before the %s",
		    o->socket, what);
	else
		vd_cli_warnx(
		    PROG, "%s: %s: %s", o->socket, what, strerror(err));
	return EXIT_PROTO;
}

/* Milliseconds left until `deadline` (monotonic seconds), rounded up. */
static int
ms_until(double deadline)
{
	double left = deadline - mono_now();

	return left <= 0 ? 0 : (int)(left * 1000.0 + 0.999);
}

/*
 * Sends one request and reads its reply into *r (free r->buf).  Returns 0
 * or an exit status after printing why; a reply with a non-zero status is
 * a success here, the caller reads r->status.
 */
int
request(const struct opts *o, enum vd_ctl_kind kind, const char *payload,
    size_t plen, struct reply *r)
{
	unsigned char hdr[VD_CTL_HEADER];
	struct vd_ctl_header h;
	struct sockaddr_un sun;
	double deadline = mono_now() + o->timeout;
	int fd, rc, ex;

	memset(r, 0, sizeof(*r));
	if (plen > VD_CTL_MAX_REQUEST) {
		/* parse_args() bounds names; this is the last guard. */
		vd_cli_warnx(PROG, "request too long (%zu bytes, at most %d)",
		    plen, VD_CTL_MAX_REQUEST);
		return EXIT_USAGE;
	}
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, o->socket, strlen(o->socket) + 1);

	if ((fd = socket(AF_UNIX, SOCK_STREAM, 0)) == -1) {
		vd_cli_warnx(PROG, "socket: %s", strerror(errno));
		return EXIT_PROTO;
	}
	/* The reads below keep their own deadline. */
	if ((rc = send_timeout(fd, o->timeout)) != 0) {
		vd_cli_warnx(PROG, "setsockopt: %s", strerror(-rc));
		ex = EXIT_PROTO;
		goto fail;
	}
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		ex = connect_failed(o, errno);
		goto fail;
	}

	/* At most 4 KiB: it fits the socket's buffer, so the send does not
	 * wait for the daemon. */
	if ((rc = vd_ctl_send(fd, kind, 0, payload, plen)) != 0) {
		vd_cli_warnx(PROG, "%s: sending the request: %s", o->socket,
		    strerror(-rc));
		ex = EXIT_PROTO;
		goto fail;
	}
	rc = vd_ctl_read_full(fd, hdr, sizeof(hdr), ms_until(deadline));
	if (rc != 0) {
		ex = io_failed(o, "reply", -rc);
		goto fail;
	}
	vd_ctl_header_unpack(hdr, &h);
	if (h.magic != VD_CTL_MAGIC || h.kind != (uint16_t)kind ||
	    h.flags != 0 || h.len > VD_CTL_MAX_REPLY || h.status > INT_MAX) {
		vd_cli_warnx(PROG,
		    "%s: malformed reply header (magic %#" PRIx32
		    ", kind %u, flags %#x, status %" PRIu32 ", length %" PRIu32
		    "): not verdictd, or another version?",
		    o->socket, h.magic, (unsigned)h.kind, (unsigned)h.flags,
		    h.status, h.len);
		ex = EXIT_PROTO;
		goto fail;
	}
	/* h.len is now at most VD_CTL_MAX_REPLY: safe to allocate. */
	if ((r->buf = malloc((size_t)h.len + 1)) == NULL) {
		vd_cli_warnx(
		    PROG, "out of memory for a %" PRIu32 "-byte reply", h.len);
		ex = EXIT_PROTO;
		goto fail;
	}
	rc = 0;
	if (h.len > 0)
		rc = vd_ctl_read_full(fd, r->buf, h.len, ms_until(deadline));
	if (rc != 0) {
		ex = io_failed(o, "reply payload", -rc);
		goto fail;
	}
	r->buf[h.len] = '\0';
	r->len = h.len;
	r->status = h.status;
	if (memchr(r->buf, '\0', r->len) != NULL) {
		vd_cli_warnx(PROG,
		    "%s: malformed reply: a NUL byte in the payload",
		    o->socket);
		ex = EXIT_PROTO;
		goto fail;
	}
	close(fd);
	return 0;
fail:
	free(r->buf);
	r->buf = NULL;
	close(fd);
	return ex;
}

/* Control characters from the daemon are shown as '?'. */
void
defang(char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			*s = '?';
}

/*
 * Prints the daemon's error message, at most MAX_ECHO bytes of it and with
 * control characters shown as '?': it came from the other end of a socket.
 */
static void
warn_reply(const char *prefix, const struct reply *r)
{
	char msg[MAX_ECHO + 1];
	size_t n = r->len < MAX_ECHO ? r->len : MAX_ECHO;

	memcpy(msg, r->buf, n);
	while (n > 0 && msg[n - 1] == '\n')
		n--;
	msg[n] = '\0';
	defang(msg);
	if (n == 0)
		vd_cli_warnx(PROG, "%s%s", prefix, strerror((int)r->status));
	else
		vd_cli_warnx(PROG, "%s%s", prefix, msg);
}

/* The exit status for a reply whose status is not 0. */
int
reply_failed(enum vd_ctl_kind kind, const struct reply *r)
{
	int err = (int)r->status;

	if (err == EACCES || err == EPERM) {
		warn_reply("permission denied: ", r);
		return EXIT_PERM;
	}
	if (kind == VD_CTL_GET && err == ENOENT) {
		warn_reply("", r);
		return EXIT_NOTFOUND;
	}
	if (kind == VD_CTL_RELOAD) {
		warn_reply("reload failed: ", r);
		return EXIT_NOTFOUND;
	}
	warn_reply("verdictd refused the request: ", r);
	return EXIT_PROTO;
}

/* A signed decimal that fits an int64_t, all of s. */
bool
parse_int64(const char *s, int64_t *out)
{
	const char *p = s;
	char *end;
	long long v;

	if (*p == '-')
		p++;
	if (*p < '0' || *p > '9')
		return false;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || *end != '\0')
		return false;
	*out = (int64_t)v;
	return true;
}

/*
 * Splits a NUL-terminated line in place into exactly `nf` tab-separated
 * fields.  False when it has another number of them.
 */
bool
split_tabs(char *line, char **f, size_t nf)
{
	size_t i = 0;

	f[i++] = line;
	for (char *p = line; *p != '\0'; p++) {
		if (*p != '\t')
			continue;
		if (i == nf)
			return false;
		*p = '\0';
		f[i++] = p + 1;
	}
	return i == nf;
}

/* Counts lines; false when the payload does not end with a newline. */
bool
count_lines(const struct reply *r, size_t *n)
{
	size_t k = 0;

	if (r->len > 0 && r->buf[r->len - 1] != '\n')
		return false;
	for (size_t i = 0; i < r->len; i++)
		if (r->buf[i] == '\n')
			k++;
	*n = k;
	return true;
}

static bool
kind_ok(const char *s)
{
	return strcmp(s, "counter") == 0 || strcmp(s, "gauge") == 0;
}

/*
 * Checks and splits a GET payload: "name\tkind\tunit\tvalue\thelp\n" per
 * counter.  0 or EXIT_PROTO after saying which line is wrong.
 */
static int
parse_get(const struct opts *o, struct recs *rs)
{
	char *line = rs->r.buf, *nl, *f[5];
	size_t n, i;

	if (!count_lines(&rs->r, &n)) {
		vd_cli_warnx(PROG, "%s: malformed reply: the last line is cut",
		    o->socket);
		return EXIT_PROTO;
	}
	if (n > 0 && (rs->v = calloc(n, sizeof(*rs->v))) == NULL) {
		vd_cli_warnx(PROG, "out of memory for %zu counters", n);
		return EXIT_PROTO;
	}
	for (i = 0; i < n; i++, line = nl + 1) {
		struct rec *c = &rs->v[i];

		nl = strchr(line, '\n');
		*nl = '\0';
		if (!split_tabs(line, f, 5) ||
		    !vd_ctl_name_ok(f[0], strlen(f[0])) || !kind_ok(f[1]) ||
		    !parse_int64(f[3], &c->value)) {
			vd_cli_warnx(PROG,
			    "%s: malformed reply: counter record %zu",
			    o->socket, i + 1);
			return EXIT_PROTO;
		}
		/* Unit and help go to terminals and Prometheus files. */
		defang(f[2]);
		defang(f[4]);
		c->name = f[0];
		c->kind = f[1];
		c->counter = f[1][0] == 'c';
		c->unit = f[2];
		c->help = f[4];
	}
	rs->n = n;
	return 0;
}

void
recs_free(struct recs *rs)
{
	free(rs->v);
	free(rs->r.buf);
	memset(rs, 0, sizeof(*rs));
}

/* GET for the names asked (none: all), checked and split into *rs. */
int
get(const struct opts *o, struct recs *rs)
{
	char payload[VD_CTL_MAX_REQUEST];
	size_t plen = 0;
	int ex;

	memset(rs, 0, sizeof(*rs));
	for (size_t i = 0; i < o->nnames; i++) {
		size_t n = strlen(o->names[i]) + 1;

		if (n > sizeof(payload) - plen)
			return vd_cli_usage_error(PROG, NULL,
			    "names add up to more than %d bytes",
			    VD_CTL_MAX_REQUEST);
		memcpy(payload + plen, o->names[i], n);
		plen += n;
	}
	if ((ex = request(o, VD_CTL_GET, payload, plen, &rs->r)) != 0)
		return ex;
	if (rs->r.status != 0) {
		ex = reply_failed(VD_CTL_GET, &rs->r);
		recs_free(rs);
		return ex;
	}
	if ((ex = parse_get(o, rs)) != 0)
		recs_free(rs);
	return ex;
}
