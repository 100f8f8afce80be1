/*
 * cells.h — writing counter cells (internal).
 *
 * A cell set belongs to one thread, which updates it with relaxed
 * load + store: no locked instruction on the hot path, and a concurrent
 * reader sees each value whole.  The producers' overflow cell set is shared,
 * so its updates are atomic adds.
 */
#ifndef VD_CORE_CELLS_H
#define VD_CORE_CELLS_H

#include <stdatomic.h>
#include <stdint.h>

#include "core/internal.h"

static inline void
vd__cell_add(const struct vd_cells *c, _Atomic uint64_t *x, uint64_t n)
{
	if (c->shared)
		atomic_fetch_add_explicit(x, n, memory_order_relaxed);
	else
		atomic_store_explicit(x,
		    atomic_load_explicit(x, memory_order_relaxed) + n,
		    memory_order_relaxed);
}

static inline void
vd__cell_max(_Atomic uint64_t *x, uint64_t v)
{
	uint64_t cur = atomic_load_explicit(x, memory_order_relaxed);

	/* A CAS loop, so the shared cell stays right too. */
	while (v > cur &&
	    !atomic_compare_exchange_weak_explicit(
	        x, &cur, v, memory_order_relaxed, memory_order_relaxed))
		;
}

static inline void
vd__cell_min_i64(_Atomic int64_t *x, int64_t v)
{
	int64_t cur = atomic_load_explicit(x, memory_order_relaxed);

	while (v < cur &&
	    !atomic_compare_exchange_weak_explicit(
	        x, &cur, v, memory_order_relaxed, memory_order_relaxed))
		;
}

/* budget_min_ns uses 0 for "none seen yet". */
static inline void
vd__cell_min_u64(_Atomic uint64_t *x, uint64_t v)
{
	uint64_t cur = atomic_load_explicit(x, memory_order_relaxed);

	while ((cur == 0 || v < cur) &&
	    !atomic_compare_exchange_weak_explicit(
	        x, &cur, v, memory_order_relaxed, memory_order_relaxed))
		;
}

static inline void
vd__hist_add(const struct vd_cells *c, struct vd_hist_cell *h, uint64_t v)
{
	vd__cell_add(c, &h->b[vd_hist_bucket(v)], 1);
	vd__cell_add(c, &h->count, 1);
	vd__cell_max(&h->max, v);
}

void vd__cells_init(struct vd_cells *c, bool shared);

#endif
