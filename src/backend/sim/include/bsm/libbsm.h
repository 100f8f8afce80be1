/*
 * bsm/libbsm.h — the audit-token accessors of macOS's libbsm, for the
 * EndpointSecurity simulator (link with libessim instead of -lbsm).
 *
 * audit_token_t is eight 32-bit words; the layout follows macOS's
 * audit_token_to_au32(): auid, euid, egid, ruid, rgid, pid, asid,
 * pidversion.
 */
#ifndef ESSIM_BSM_LIBBSM_H
#define ESSIM_BSM_LIBBSM_H

#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
	unsigned int val[8];
} audit_token_t;

pid_t audit_token_to_pid(audit_token_t atoken);
uid_t audit_token_to_euid(audit_token_t atoken);
int audit_token_to_pidversion(audit_token_t atoken);

#ifdef __cplusplus
}
#endif
#endif
