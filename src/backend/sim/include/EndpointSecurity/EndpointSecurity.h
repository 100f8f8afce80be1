/*
 * EndpointSecurity.h — the EndpointSecurity C API subset that verdictd uses,
 * declared for the simulator (libessim) on Linux.
 *
 * Written from Apple's public SDK headers of the macOS 12-15 era and their
 * documentation: the same names, argument order, struct field order
 * and enum values, so src/backend/es/es.c compiles unchanged against Apple's
 * <EndpointSecurity/EndpointSecurity.h> on macOS and against this one here.
 * Only what the simulator implements is declared; event types are listed in
 * full so their values match Apple's.  Nothing here goes beyond macOS
 * 12.0's SDK (tests/macos checks names and values against it when the SDK
 * is at hand): what Apple declares elsewhere (FREAD and FWRITE, in
 * <sys/fcntl.h>) is declared elsewhere here too.
 *
 * Blocks: the handler is a clang block (-fblocks, BlocksRuntime).
 */
#ifndef ESSIM_ENDPOINTSECURITY_H
#define ESSIM_ENDPOINTSECURITY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>

#include <bsm/libbsm.h>

#ifdef __cplusplus
extern "C" {
#endif

#ifndef __has_feature
#define __has_feature(x) 0
#endif
#if !__has_feature(nullability)
#define _Nonnull
#define _Nullable
#endif

/* ---- ESTypes.h ---------------------------------------------------------- */

typedef enum {
	ES_ACTION_TYPE_AUTH,
	ES_ACTION_TYPE_NOTIFY,
} es_action_type_t;

typedef enum {
	ES_AUTH_RESULT_ALLOW,
	ES_AUTH_RESULT_DENY,
} es_auth_result_t;

typedef enum {
	ES_RESULT_TYPE_AUTH,
	ES_RESULT_TYPE_FLAGS,
} es_result_type_t;

typedef enum {
	ES_RETURN_SUCCESS,
	ES_RETURN_ERROR,
} es_return_t;

typedef enum {
	ES_RESPOND_RESULT_SUCCESS,
	ES_RESPOND_RESULT_ERR_INVALID_ARGUMENT,
	ES_RESPOND_RESULT_ERR_INTERNAL,
	ES_RESPOND_RESULT_NOT_FOUND,
	ES_RESPOND_RESULT_ERR_DUPLICATE_RESPONSE,
	ES_RESPOND_RESULT_ERR_EVENT_TYPE,
} es_respond_result_t;

typedef enum {
	ES_NEW_CLIENT_RESULT_SUCCESS,
	ES_NEW_CLIENT_RESULT_ERR_INVALID_ARGUMENT,
	ES_NEW_CLIENT_RESULT_ERR_INTERNAL,
	ES_NEW_CLIENT_RESULT_ERR_NOT_ENTITLED,
	ES_NEW_CLIENT_RESULT_ERR_NOT_PERMITTED,
	ES_NEW_CLIENT_RESULT_ERR_NOT_PRIVILEGED,
	ES_NEW_CLIENT_RESULT_ERR_TOO_MANY_CLIENTS,
} es_new_client_result_t;

typedef enum {
	ES_CLEAR_CACHE_RESULT_SUCCESS,
	ES_CLEAR_CACHE_RESULT_ERR_INTERNAL,
	ES_CLEAR_CACHE_RESULT_ERR_THROTTLE,
} es_clear_cache_result_t;

/*
 * TARGET_PREFIX and TARGET_LITERAL came with macOS 13: declared only for
 * the simulator's own build and tests (ESSIM_MACOS13_API), so that code
 * built against this header, es.c first, sees no more than macOS 12's
 * SDK offers.
 */
typedef enum {
	ES_MUTE_PATH_TYPE_PREFIX,
	ES_MUTE_PATH_TYPE_LITERAL,
#ifdef ESSIM_MACOS13_API
	ES_MUTE_PATH_TYPE_TARGET_PREFIX,
	ES_MUTE_PATH_TYPE_TARGET_LITERAL,
#endif
} es_mute_path_type_t;

/* In Apple's declaration order, so the values match. */
typedef enum {
	ES_EVENT_TYPE_AUTH_EXEC,
	ES_EVENT_TYPE_AUTH_OPEN,
	ES_EVENT_TYPE_AUTH_KEXTLOAD,
	ES_EVENT_TYPE_AUTH_MMAP,
	ES_EVENT_TYPE_AUTH_MPROTECT,
	ES_EVENT_TYPE_AUTH_MOUNT,
	ES_EVENT_TYPE_AUTH_RENAME,
	ES_EVENT_TYPE_AUTH_SIGNAL,
	ES_EVENT_TYPE_AUTH_UNLINK,
	ES_EVENT_TYPE_NOTIFY_EXEC,
	ES_EVENT_TYPE_NOTIFY_OPEN,
	ES_EVENT_TYPE_NOTIFY_FORK,
	ES_EVENT_TYPE_NOTIFY_CLOSE,
	ES_EVENT_TYPE_NOTIFY_CREATE,
	ES_EVENT_TYPE_NOTIFY_EXCHANGEDATA,
	ES_EVENT_TYPE_NOTIFY_EXIT,
	ES_EVENT_TYPE_NOTIFY_GET_TASK,
	ES_EVENT_TYPE_NOTIFY_KEXTLOAD,
	ES_EVENT_TYPE_NOTIFY_KEXTUNLOAD,
	ES_EVENT_TYPE_NOTIFY_LINK,
	ES_EVENT_TYPE_NOTIFY_MMAP,
	ES_EVENT_TYPE_NOTIFY_MPROTECT,
	ES_EVENT_TYPE_NOTIFY_MOUNT,
	ES_EVENT_TYPE_NOTIFY_UNMOUNT,
	ES_EVENT_TYPE_NOTIFY_IOKIT_OPEN,
	ES_EVENT_TYPE_NOTIFY_RENAME,
	ES_EVENT_TYPE_NOTIFY_SETATTRLIST,
	ES_EVENT_TYPE_NOTIFY_SETEXTATTR,
	ES_EVENT_TYPE_NOTIFY_SETFLAGS,
	ES_EVENT_TYPE_NOTIFY_SETMODE,
	ES_EVENT_TYPE_NOTIFY_SETOWNER,
	ES_EVENT_TYPE_NOTIFY_SIGNAL,
	ES_EVENT_TYPE_NOTIFY_UNLINK,
	ES_EVENT_TYPE_NOTIFY_WRITE,
	ES_EVENT_TYPE_AUTH_FILE_PROVIDER_MATERIALIZE,
	ES_EVENT_TYPE_NOTIFY_FILE_PROVIDER_MATERIALIZE,
	ES_EVENT_TYPE_AUTH_FILE_PROVIDER_UPDATE,
	ES_EVENT_TYPE_NOTIFY_FILE_PROVIDER_UPDATE,
	ES_EVENT_TYPE_AUTH_READLINK,
	ES_EVENT_TYPE_NOTIFY_READLINK,
	ES_EVENT_TYPE_AUTH_TRUNCATE,
	ES_EVENT_TYPE_NOTIFY_TRUNCATE,
	ES_EVENT_TYPE_AUTH_LINK,
	ES_EVENT_TYPE_NOTIFY_LOOKUP,
	ES_EVENT_TYPE_AUTH_CREATE,
	ES_EVENT_TYPE_AUTH_SETATTRLIST,
	ES_EVENT_TYPE_AUTH_SETEXTATTR,
	ES_EVENT_TYPE_AUTH_SETFLAGS,
	ES_EVENT_TYPE_AUTH_SETMODE,
	ES_EVENT_TYPE_AUTH_SETOWNER,
	ES_EVENT_TYPE_AUTH_CHDIR,
	ES_EVENT_TYPE_NOTIFY_CHDIR,
	ES_EVENT_TYPE_AUTH_GETATTRLIST,
	ES_EVENT_TYPE_NOTIFY_GETATTRLIST,
	ES_EVENT_TYPE_NOTIFY_STAT,
	ES_EVENT_TYPE_NOTIFY_ACCESS,
	ES_EVENT_TYPE_AUTH_CHROOT,
	ES_EVENT_TYPE_NOTIFY_CHROOT,
	ES_EVENT_TYPE_AUTH_UTIMES,
	ES_EVENT_TYPE_NOTIFY_UTIMES,
	ES_EVENT_TYPE_AUTH_CLONE,
	ES_EVENT_TYPE_NOTIFY_CLONE,
	ES_EVENT_TYPE_NOTIFY_FCNTL,
	ES_EVENT_TYPE_AUTH_GETEXTATTR,
	ES_EVENT_TYPE_NOTIFY_GETEXTATTR,
	ES_EVENT_TYPE_AUTH_LISTEXTATTR,
	ES_EVENT_TYPE_NOTIFY_LISTEXTATTR,
	ES_EVENT_TYPE_AUTH_READDIR,
	ES_EVENT_TYPE_NOTIFY_READDIR,
	ES_EVENT_TYPE_AUTH_DELETEEXTATTR,
	ES_EVENT_TYPE_NOTIFY_DELETEEXTATTR,
	ES_EVENT_TYPE_AUTH_FSGETPATH,
	ES_EVENT_TYPE_NOTIFY_FSGETPATH,
	ES_EVENT_TYPE_NOTIFY_DUP,
	ES_EVENT_TYPE_AUTH_SETTIME,
	ES_EVENT_TYPE_NOTIFY_SETTIME,
	ES_EVENT_TYPE_NOTIFY_UIPC_BIND,
	ES_EVENT_TYPE_AUTH_UIPC_BIND,
	ES_EVENT_TYPE_NOTIFY_UIPC_CONNECT,
	ES_EVENT_TYPE_AUTH_UIPC_CONNECT,
	ES_EVENT_TYPE_AUTH_EXCHANGEDATA,
	ES_EVENT_TYPE_AUTH_SETACL,
	ES_EVENT_TYPE_NOTIFY_SETACL,
	ES_EVENT_TYPE_NOTIFY_PTY_GRANT,
	ES_EVENT_TYPE_NOTIFY_PTY_CLOSE,
	ES_EVENT_TYPE_AUTH_PROC_CHECK,
	ES_EVENT_TYPE_NOTIFY_PROC_CHECK,
	ES_EVENT_TYPE_AUTH_GET_TASK,
	ES_EVENT_TYPE_AUTH_SEARCHFS,
	ES_EVENT_TYPE_NOTIFY_SEARCHFS,
	ES_EVENT_TYPE_AUTH_FCNTL,
	ES_EVENT_TYPE_AUTH_IOKIT_OPEN,
	ES_EVENT_TYPE_AUTH_PROC_SUSPEND_RESUME,
	ES_EVENT_TYPE_NOTIFY_PROC_SUSPEND_RESUME,
	ES_EVENT_TYPE_NOTIFY_CS_INVALIDATED,
	ES_EVENT_TYPE_NOTIFY_GET_TASK_NAME,
	ES_EVENT_TYPE_NOTIFY_TRACE,
	ES_EVENT_TYPE_NOTIFY_REMOTE_THREAD_CREATE,
	ES_EVENT_TYPE_AUTH_REMOUNT,
	ES_EVENT_TYPE_NOTIFY_REMOUNT,
	ES_EVENT_TYPE_AUTH_GET_TASK_READ,
	ES_EVENT_TYPE_NOTIFY_GET_TASK_READ,
	ES_EVENT_TYPE_NOTIFY_GET_TASK_INSPECT,
	ES_EVENT_TYPE_NOTIFY_SETUID,
	ES_EVENT_TYPE_NOTIFY_SETGID,
	ES_EVENT_TYPE_NOTIFY_SETEUID,
	ES_EVENT_TYPE_NOTIFY_SETEGID,
	ES_EVENT_TYPE_NOTIFY_SETREUID,
	ES_EVENT_TYPE_NOTIFY_SETREGID,
	ES_EVENT_TYPE_AUTH_COPYFILE,
	ES_EVENT_TYPE_NOTIFY_COPYFILE,
	ES_EVENT_TYPE_LAST
} es_event_type_t;

typedef struct {
	size_t length;
	const char *_Nullable data;
} es_string_token_t;

typedef struct {
	size_t size;
	const uint8_t *_Nullable data;
} es_token_t;

typedef struct {
	es_string_token_t path;
	bool path_truncated;
	struct stat stat;
} es_file_t;

typedef struct {
	audit_token_t audit_token;
	pid_t ppid;
	pid_t original_ppid;
	pid_t group_id;
	pid_t session_id;
	uint32_t codesigning_flags;
	bool is_platform_binary;
	bool is_es_client;
	uint8_t cdhash[20];
	es_string_token_t signing_id;
	es_string_token_t team_id;
	es_file_t *_Nonnull executable;
	es_file_t *_Nullable tty;        /* message version >= 2 */
	struct timeval start_time;       /* message version >= 3 */
	audit_token_t responsible_audit_token; /* message version >= 4 */
	audit_token_t parent_audit_token;      /* message version >= 4 */
} es_process_t;

typedef struct {
	uint64_t thread_id;
} es_thread_t;

typedef struct {
	uint8_t reserved[32];
} es_event_id_t;

typedef struct {
	es_result_type_t result_type;
	union {
		es_auth_result_t auth;
		uint32_t flags;
		uint8_t reserved[32];
	} result;
} es_result_t;

typedef enum {
	ES_DESTINATION_TYPE_EXISTING_FILE,
	ES_DESTINATION_TYPE_NEW_PATH,
} es_destination_type_t;

/* ---- ESMessage.h: the events verdictd handles ---------------------------- */

typedef struct {
	/* Kernel FREAD / FWRITE bits, not O_*: <sys/fcntl.h> defines them,
	 * as on macOS, never this header. */
	int32_t fflag;
	es_file_t *_Nonnull file;
	uint8_t reserved[64];
} es_event_open_t;

typedef struct {
	es_process_t *_Nonnull target;
	es_token_t reserved0;
	union {
		uint8_t reserved[64];
		struct {
			es_file_t *_Nullable script; /* version >= 2 */
			es_file_t *_Nullable cwd;    /* version >= 3 */
			int last_fd;                 /* version >= 4 */
		};
	};
} es_event_exec_t;

typedef struct {
	es_file_t *_Nonnull source;
	es_destination_type_t destination_type;
	union {
		es_file_t *_Nonnull existing_file;
		struct {
			es_file_t *_Nonnull dir;
			es_string_token_t filename;
		} new_path;
	} destination;
	uint8_t reserved[64];
} es_event_rename_t;

typedef struct {
	es_file_t *_Nonnull target;
	es_file_t *_Nonnull parent_dir;
	uint8_t reserved[64];
} es_event_unlink_t;

typedef struct {
	es_destination_type_t destination_type;
	union {
		es_file_t *_Nonnull existing_file;
		struct {
			es_file_t *_Nonnull dir;
			es_string_token_t filename;
			mode_t mode;
		} new_path;
	} destination;
	uint8_t reserved2[16];
	union {
		uint8_t reserved[48];
	};
} es_event_create_t;

typedef struct {
	es_file_t *_Nonnull target;
	uint8_t reserved[64];
} es_event_truncate_t;

typedef struct {
	es_file_t *_Nonnull source;
	es_file_t *_Nonnull target_dir;
	es_string_token_t target_filename;
	uint8_t reserved[64];
} es_event_link_t;

typedef struct {
	es_file_t *_Nonnull source;
	es_file_t *_Nonnull target_dir;
	es_string_token_t target_name;
	uint8_t reserved[64];
} es_event_clone_t;

typedef struct {
	es_file_t *_Nonnull source;
	es_file_t *_Nullable target_file;
	es_file_t *_Nonnull target_dir;
	es_string_token_t target_name;
	mode_t mode;
	int32_t flags;
	uint8_t reserved[56];
} es_event_copyfile_t;

/* The simulator's stand-in for struct statfs: the fields es.c reads. */
struct essim_statfs {
	char f_mntonname[1024];
	char f_mntfromname[1024];
};

typedef struct {
	struct essim_statfs *_Nonnull statfs;
	uint8_t reserved[64];
} es_event_mount_t;

typedef struct {
	int sig;
	es_process_t *_Nonnull target;
	uint8_t reserved[64];
} es_event_signal_t;

typedef struct {
	bool modified;
	es_file_t *_Nonnull target;
	union {
		uint8_t reserved[64];
		struct {
			bool was_mapped_writable; /* version >= 6 */
		};
	};
} es_event_close_t;

typedef struct {
	es_process_t *_Nonnull child;
	uint8_t reserved[64];
} es_event_fork_t;

typedef struct {
	int stat;
	uint8_t reserved[64];
} es_event_exit_t;

typedef struct {
	es_file_t *_Nonnull target;
	uint8_t reserved[64];
} es_event_write_t;

typedef union {
	es_event_open_t open;
	es_event_exec_t exec;
	es_event_rename_t rename;
	es_event_unlink_t unlink;
	es_event_create_t create;
	es_event_truncate_t truncate;
	es_event_link_t link;
	es_event_clone_t clone;
	es_event_copyfile_t copyfile;
	es_event_mount_t mount;
	es_event_signal_t signal;
	es_event_close_t close;
	es_event_fork_t fork;
	es_event_exit_t exit;
	es_event_write_t write;
} es_events_t;

typedef struct {
	uint32_t version;
	struct timespec time;
	uint64_t mach_time;
	uint64_t deadline; /* Mach absolute time */
	es_process_t *_Nonnull process;
	uint64_t seq_num; /* version >= 2: per client and event type */
	es_action_type_t action_type;
	union {
		es_event_id_t auth;
		es_result_t notify;
	} action;
	es_event_type_t event_type;
	es_events_t event;
	es_thread_t *_Nullable thread; /* version >= 4 */
	uint64_t global_seq_num;       /* version >= 4: per client */
	uint64_t opaque[];             /* not to be touched */
} es_message_t;

/* ---- ESClient.h ---------------------------------------------------------- */

typedef struct es_client_s es_client_t;

typedef void (^es_handler_block_t)(es_client_t *_Nonnull,
    const es_message_t *_Nonnull);

es_new_client_result_t es_new_client(es_client_t *_Nullable *_Nonnull client,
    es_handler_block_t _Nonnull handler);
es_return_t es_delete_client(es_client_t *_Nullable client);

es_return_t es_subscribe(es_client_t *_Nonnull client,
    const es_event_type_t *_Nonnull events, uint32_t event_count);
es_return_t es_unsubscribe(es_client_t *_Nonnull client,
    const es_event_type_t *_Nonnull events, uint32_t event_count);
es_return_t es_unsubscribe_all(es_client_t *_Nonnull client);

es_respond_result_t es_respond_auth_result(es_client_t *_Nonnull client,
    const es_message_t *_Nonnull message, es_auth_result_t result,
    bool cache);
es_respond_result_t es_respond_flags_result(es_client_t *_Nonnull client,
    const es_message_t *_Nonnull message, uint32_t authorized_flags,
    bool cache);

void es_retain_message(const es_message_t *_Nonnull msg);
void es_release_message(const es_message_t *_Nonnull msg);
/* Deprecated since macOS 11, as Apple's header marks them: a warning here
 * too (es.c must not use them). */
__attribute__((deprecated("Use es_retain_message to retain a message.")))
es_message_t *_Nullable es_copy_message(const es_message_t *_Nonnull msg);
__attribute__((deprecated("Use es_release_message to release a message.")))
void es_free_message(es_message_t *_Nonnull msg);

es_return_t es_mute_process(es_client_t *_Nonnull client,
    const audit_token_t *_Nonnull audit_token);
es_return_t es_unmute_process(es_client_t *_Nonnull client,
    const audit_token_t *_Nonnull audit_token);
/* Deprecated by macOS 12. */
__attribute__((deprecated("Please use es_muted_processes_events.")))
es_return_t es_muted_processes(es_client_t *_Nonnull client,
    size_t *_Nonnull count, audit_token_t *_Nonnull *_Nullable audit_tokens);
es_return_t es_mute_path(es_client_t *_Nonnull client,
    const char *_Nonnull path, es_mute_path_type_t type);
es_return_t es_unmute_path(es_client_t *_Nonnull client,
    const char *_Nonnull path, es_mute_path_type_t type);

es_clear_cache_result_t es_clear_cache(es_client_t *_Nonnull client);

#ifdef __cplusplus
}
#endif
#endif
