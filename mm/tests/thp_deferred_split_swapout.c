// SPDX-License-Identifier: GPL-2.0
/*
 * KUnit tests for the memcg-aware THP deferred split queue.
 *
 * The cgroup-v1 paths (memory+swap accounting), in a suite of their own on
 * a cgroup-v1 memory hierarchy: the swap-out of a queued THP.
 */

#include <kunit/test.h>
#include <linux/mm.h>
#include <linux/mman.h>
#include <linux/swap.h>

#include "thp_deferred_split.h"

/* The VM event counters (/proc/vmstat's), summed over the CPUs. */
static unsigned long *thp_ds_vm_events(struct kunit *test)
{
	unsigned long *events;

	events = kunit_kcalloc(test, NR_VM_EVENT_ITEMS, sizeof(*events), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, events);
	all_vm_events(events);
	return events;
}

/*
 * cgroup-v1 swap-out of a queued THP, by reclaim.  The THP is queued by its
 * fault, as possibly underused, or where the fault does not queue it, by
 * the kernel's enqueue, as a THP mapped whole here and partly unmapped in
 * a forked mm is.  It is made cold (MADV_COLD: the reclaim_pages() of
 * older kernels keeps a folio referenced since its fault) and reclaimed
 * while it is mapped whole with reclaim_pages(), as MADV_PAGEOUT does:
 * shrink_folio_list() adds it to the swap cache whole, unmaps it and
 * writes it out, and __remove_mapping() moves its memory+swap charge to
 * the swap entries and clears its memcg with interrupts off
 * (mem_cgroup_swapout(), since v6.13 __memcg1_swapout()); the folio is
 * then freed.  The folio must leave its memcg's queue before its memcg is
 * cleared: if not, the free looks the queue up from no memcg, unlinks the
 * folio under the node queue's lock and decrements the node queue's
 * counter (it wraps below zero), while the memcg queue's counter keeps
 * counting a freed folio: the crash's state, reached as kswapd reached it.
 * Needs a swap area, which a KUnit run at boot does not have: the case
 * skips there, saying so.  commit f8f931bba0f9 ("mm/thp: fix deferred
 * split unqueue naming and locking").
 */
void thp_ds_test_swapout(struct kunit *test)
{
	struct thp_ds_ctx *ctx = test->priv;
	unsigned long addr, freed, swap, *before, *after;
	struct thp_ds_node_base *node;
	struct thp_ds_queue mq;
	struct folio *folio;
	LIST_HEAD(list);

	if (!total_swap_pages)
		thp_ds_skip(test, "no swap area: reclaim cannot swap the THP out");
	folio = thp_ds_whole_thp(test, &addr, &node, &mq);
	if (list_empty(thp_ds_deferred_list(folio)))
		thp_ds_queue_mapped(folio);
	THP_DS_EXPECT_OWN_QUEUED(test, &mq, folio, true);
	KUNIT_ASSERT_EQ(test, 0, do_madvise(current->mm, addr, HPAGE_PMD_SIZE, MADV_COLD));
	swap = thp_ds_memcg_swap(ctx->memcg);
	before = thp_ds_vm_events(test);
	lru_add_drain_all();
	KUNIT_ASSERT_TRUE(test, thp_ds_isolate(test, folio, &list));

	freed = reclaim_pages(&list);	/* swapped out and freed */
	kunit_release_action(test, thp_ds_leave, ctx);
	swap = thp_ds_memcg_swap(ctx->memcg) - swap;
	after = thp_ds_vm_events(test);
	if (freed < HPAGE_PMD_NR || after[THP_SPLIT_PAGE] != before[THP_SPLIT_PAGE]) {
		vm_munmap(addr, HPAGE_PMD_SIZE);
		thp_ds_skip(test,
			    "reclaim did not swap the THP out whole and free it (%lu pages freed, %lu THPs split; no verdict)",
			   freed, after[THP_SPLIT_PAGE] - before[THP_SPLIT_PAGE]);
	}
	if (swap != HPAGE_PMD_NR) {
		vm_munmap(addr, HPAGE_PMD_SIZE);
		thp_ds_skip(test,
			    "the swap-out moved %lu pages of memory+swap charge, not %lu: memory+swap accounting is off (no verdict)",
			   swap, (unsigned long)HPAGE_PMD_NR);
	}

	THP_DS_EXPECT_OWN_LEN(test, &mq, 0, "after the swapped-out THP was freed");
	THP_DS_EXPECT_NODE_LEN(test, node,
			       "(the THP was never on it: was it unqueued from here?)");
	thp_ds_check_own_queue(test, &mq);
	thp_ds_check_node(test, node);
	vm_munmap(addr, HPAGE_PMD_SIZE);	/* frees its swap entries */
}

/*
 * The paths that exist only with cgroup v1 (memory+swap accounting) need
 * the memory controller on a v1 hierarchy: a suite of their own, which
 * gives the controller back to cgroup2 when it ends.  It runs first, before
 * any cgroup2 memcg was charged, or its cases skip (thp_ds_setup()): the
 * other way round, v1 kmem uncharged under cgroup2 only leaves the kmem
 * counter counting.
 */
static struct kunit_case thp_ds_v1_cases[] = {
	KUNIT_CASE(thp_ds_test_swapout),
	KUNIT_CASE(thp_ds_test_charge_move),
	{}
};

struct kunit_suite thp_ds_v1_suite = {
	.name = "thp_deferred_split_v1",
#if THP_DS_SUITE_INIT
	.suite_init = thp_ds_v1_suite_init,
	.suite_exit = thp_ds_suite_exit,
#endif
	.init = thp_ds_v1_test_init,
	.exit = thp_ds_test_exit,
	.test_cases = thp_ds_v1_cases,
};
