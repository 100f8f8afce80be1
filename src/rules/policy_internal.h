/*
 * policy_internal.h — what the benchmark and tests may ask a compiled
 * policy beyond verdict/policy.h.  Not installed.
 */
#ifndef VD_RULES_POLICY_INTERNAL_H
#define VD_RULES_POLICY_INTERNAL_H

#include <stddef.h>

#include <verdict/policy.h>

/* Bytes of the snapshot: one allocation, indexes and strings included. */
size_t vd__policy_bytes(const struct vd_policy *pol);

#endif
