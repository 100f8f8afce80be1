/*
 * test_ring.c — the ck_ring wrapper: order, bounds, refusal without
 * blocking.  The multi-producer proof is in tests/stress/stress_ring.c.
 */
#include "support/test.h"
#include <errno.h>
#include <stdint.h>

#include "core/ring.h"

Test(ring, init_wants_a_power_of_two)
{
	struct vd_ring r;

	cr_assert_eq(vd_ring_init(&r, 0), -EINVAL);
	cr_assert_eq(vd_ring_init(&r, 1), -EINVAL);
	cr_assert_eq(vd_ring_init(&r, 12), -EINVAL);
	cr_assert_eq(vd_ring_init(&r, 16), 0);
	cr_assert_eq(vd_ring_capacity(&r), 15);
	vd_ring_fini(&r);
}

Test(ring, a_full_ring_refuses_without_blocking)
{
	struct vd_ring r;
	uintptr_t i;

	cr_assert_eq(vd_ring_init(&r, 8), 0);
	for (i = 1; i <= 7; i++)
		cr_assert(vd_ring_push_mp(&r, (void *)i), "push %lu", i);
	cr_assert_eq(vd_ring_depth(&r), 7);
	cr_assert_not(vd_ring_push_mp(&r, (void *)99));
	cr_assert_not(vd_ring_push_sp(&r, (void *)99));
	cr_assert_eq((uintptr_t)vd_ring_pop_sc(&r), 1);
	cr_assert(vd_ring_push_mp(&r, (void *)8));
	cr_assert_not(vd_ring_push_mp(&r, (void *)99));
	for (i = 2; i <= 8; i++)
		cr_assert_eq((uintptr_t)vd_ring_pop_sc(&r), i);
	cr_assert_null(vd_ring_pop_sc(&r));
	cr_assert_eq(vd_ring_depth(&r), 0);
	vd_ring_fini(&r);
}

Test(ring, order_is_kept_across_wraps)
{
	struct vd_ring r;
	uintptr_t next_in = 1, next_out = 1;
	unsigned round, k;

	cr_assert_eq(vd_ring_init(&r, 4), 0);
	for (round = 0; round < 1000; round++) {
		for (k = 0; k < 1 + round % 3; k++)
			cr_assert(vd_ring_push_sp(&r, (void *)next_in++));
		while (vd_ring_depth(&r) > 0)
			cr_assert_eq((uintptr_t)vd_ring_pop_sc(&r), next_out++);
	}
	cr_assert_eq(next_in, next_out);
	vd_ring_fini(&r);
}

Test(ring, mpmc_pool_mode_hands_each_item_out_once)
{
	struct vd_ring r;
	uintptr_t i, seen[64] = { 0 };
	void *x;

	cr_assert_eq(vd_ring_init(&r, 64), 0);
	for (i = 0; i < 63; i++)
		cr_assert(vd_ring_push_mpmc(&r, (void *)(i + 1)));
	cr_assert_not(vd_ring_push_mpmc(&r, (void *)1000));
	while ((x = vd_ring_pop_mc(&r)) != NULL)
		seen[(uintptr_t)x - 1]++;
	for (i = 0; i < 63; i++)
		cr_assert_eq(seen[i], 1);
	vd_ring_fini(&r);
}
