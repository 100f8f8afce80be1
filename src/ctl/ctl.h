/*
 * ctl.h — what the files of verdictctl share: its options, the checked
 * replies and records it reads from verdictd (client.c), and the ways it
 * prints them (format.c).  verdictctl.c holds the command line, -w and the
 * commands; trust.c the one command that needs no daemon, trust import.
 */
#ifndef VD_CTL_CTL_H
#define VD_CTL_CTL_H

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <verdict/version.h>

#include "proto/proto.h"
#include "util/util.h"

/* How messages on stderr start. */
#define PROG "verdictctl"

enum {
	EXIT_NOTFOUND = 1, /* no such counter, or reload refused */
	EXIT_IMPORT = 1,   /* trust import: nothing to import */
	EXIT_USAGE = VD_CLI_EXIT_USAGE,
	EXIT_NODAEMON = 3, /* no socket, or nothing listens on it */
	EXIT_PERM = 4,     /* the socket is root-only */
	EXIT_PROTO = 5,    /* timeout, I/O error, malformed reply */
};

#define DEFAULT_TIMEOUT  5.0
#define DEFAULT_INTERVAL 1.0
#define MIN_INTERVAL     0.1
#define MAX_INTERVAL     3600.0
#define MIN_TIMEOUT      0.001
#define MAX_TIMEOUT      3600.0

/* Longest daemon message echoed to stderr: enough for a sentence, and a
 * bound on what a confused daemon can make us print. */
#define MAX_ECHO 512

/* "verdictd_" + a name + "_seconds" + "_total", with room to spare. */
#define PROM_NAME_MAX (VD_CTL_MAX_NAME + 32)

enum cmd {
	CMD_GET,
	CMD_STATUS,
	CMD_RELOAD,
	CMD_EXPLAIN,
};

enum format {
	FMT_TEXT,
	FMT_VALUES, /* -n */
	FMT_JSON,
	FMT_PROM,
};

enum {
	OPT_PROMETHEUS = 256,
};

struct opts {
	enum cmd cmd;
	enum format fmt;
	bool all;
	bool verbose;
	bool watch;
	double interval;
	double timeout;
	const char *socket;
	char *const *names;
	size_t nnames;
};

/* A reply, checked: status and a NUL-terminated copy of the payload. */
struct reply {
	uint32_t status;
	char *buf;
	size_t len;
};

/* One GET record; the strings point into the reply's buffer. */
struct rec {
	const char *name;
	const char *kind; /* "counter" or "gauge" */
	const char *unit;
	const char *help;
	int64_t value;
	bool counter;
};

struct recs {
	struct reply r;
	struct rec *v;
	size_t n;
};

/* The protocol's rule (vd_ctl_name_ok()), for messages. */

bool count_lines(const struct reply *r, size_t *n);
bool parse_int64(const char *s, int64_t *out);
bool split_tabs(char *line, char **f, size_t nf);
double mono_now(void);
int flush_stdout(void);
int cmd_trust(int argc, char **argv);
int get(const struct opts *o, struct recs *rs);
int parse_args(int argc, char **argv, struct opts *o);
int print_prom(const struct recs *rs);
int reply_failed(enum vd_ctl_kind kind, const struct reply *r);
int request(const struct opts *o, enum vd_ctl_kind kind, const char *payload,
    size_t plen, struct reply *r);
void defang(char *s);
void json_str(FILE *fp, const char *s);
void json_value(FILE *fp, const char *s);
void print_json(const struct opts *o, const struct recs *rs);
void print_text(const struct opts *o, const struct recs *rs);
void recs_free(struct recs *rs);

#endif
