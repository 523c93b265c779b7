// SPDX-License-Identifier: GPL-2.0
/*
 * KUnit tests for the memcg-aware THP deferred split queue.
 *
 * The frees: a queued THP leaves its memcg's queue, under its lock, before
 * its memcg is cleared, whichever way its last reference goes
 * (folio_put(), the munmap/exit batch, reclaim's putback).
 */

#include <kunit/test.h>
#include <linux/mm.h>
#include <linux/mman.h>
#include <linux/swap.h>

#include "thp_deferred_split.h"

/*
 * The last folio_put() of a queued THP must unqueue it from its memcg's
 * queue before uncharging it.  commit f8f931bba0f9 ("mm/thp: fix deferred
 * split unqueue naming and locking").
 */
void thp_ds_test_free_put(struct kunit *test)
{
	struct thp_ds_ctx *ctx = test->priv;
	struct thp_ds_node_base *node;
	struct thp_ds_queue mq;
	struct folio *folio;
	unsigned long addr;

	folio = thp_ds_queued_thp(test, thp_ds_param_order(test), &addr, &node, &mq);
	thp_ds_unmap_all(test, addr, folio);
	THP_DS_EXPECT_OWN_QUEUED(test, &mq, folio, true);
	kunit_release_action(test, thp_ds_leave, ctx);

	thp_ds_put(test, folio);	/* the last reference */

	THP_DS_EXPECT_OWN_LEN(test, &mq, 0, "after the last folio_put()");
	THP_DS_EXPECT_NODE_LEN(test, node, "(the THP was never on it)");
	thp_ds_check_own_queue(test, &mq);
	thp_ds_check_node(test, node);
	vm_munmap(addr, PAGE_SIZE << thp_ds_param_order(test));
}

/*
 * The batched free of munmap and exit, which is how most queued THPs die:
 * a THP whose last references are its mappings is freed from the TLB
 * gather batch (free_pages_and_swap_cache(), then the batched put, which
 * uncharges the whole batch after its loop).
 * Each folio must leave its memcg's queue before that.  The case drops
 * its own reference first, so the zap of the mapping drops the last one.
 * commit f8f931bba0f9 ("mm/thp: fix deferred split unqueue naming and
 * locking").
 */
void thp_ds_test_free_zap(struct kunit *test)
{
	struct thp_ds_ctx *ctx = test->priv;
	struct thp_ds_node_base *node;
	struct thp_ds_queue mq;
	struct folio *folio;
	unsigned long addr;

	folio = thp_ds_queued_thp(test, thp_ds_param_order(test), &addr, &node, &mq);
	THP_DS_EXPECT_OWN_QUEUED(test, &mq, folio, true);
	lru_add_drain_all();	/* no per-CPU LRU batch may hold the last reference */
	thp_ds_put(test, folio);	/* the mappings hold it now */

	vm_munmap(addr, PAGE_SIZE << thp_ds_param_order(test));	/* the zap frees it */
	kunit_release_action(test, thp_ds_leave, ctx);

	THP_DS_EXPECT_OWN_LEN(test, &mq, 0, "after munmap freed the THP");
	THP_DS_EXPECT_NODE_LEN(test, node,
			       "(the THP was never on it: was it unqueued from here?)");
	thp_ds_check_own_queue(test, &mq);
	thp_ds_check_node(test, node);
}

/*
 * Hand the isolated THP on @list to reclaim's putback, which drops the
 * last reference; false when something else held a reference and the
 * folio went back on the LRU instead (then the case has no verdict).
 */
bool thp_ds_reclaim_free(struct list_head *list)
{
	return thp_ds_putback_and_free(list) == 0;
}

/*
 * The kswapd crash's path: reclaim drops the last reference of an
 * isolated folio in move_folios_to_lru(), which must unqueue it before the
 * batched uncharge.  4.19's move_active_pages_to_lru() uncharged first;
 * the free then locked the node queue, decremented its length, and left
 * the folio on the memcg queue for deferred_split_scan() to crash on.
 * commit 7ae88534cdd9 ("mm: move mem_cgroup_uncharge out of
 * __page_cache_release()"), commit 47932e7048df ("mm: remove folio from
 * deferred split list before uncharging it").
 */
void thp_ds_test_free_reclaim(struct kunit *test)
{
	struct thp_ds_ctx *ctx = test->priv;
	struct thp_ds_node_base *node;
	struct thp_ds_queue mq;
	struct folio *folio;
	unsigned long addr;
	LIST_HEAD(list);

	folio = thp_ds_queued_thp(test, thp_ds_param_order(test), &addr, &node, &mq);
	thp_ds_unmap_all(test, addr, folio);
	KUNIT_ASSERT_TRUE(test, thp_ds_isolate(test, folio, &list));
	THP_DS_EXPECT_OWN_QUEUED(test, &mq, folio, true);
	kunit_release_action(test, thp_ds_leave, ctx);

	if (!thp_ds_reclaim_free(&list))
		thp_ds_skip(test,
			    "another reference kept the THP alive: reclaim put it back on the LRU instead of freeing it (no verdict)");

	THP_DS_EXPECT_OWN_LEN(test, &mq, 0, "after move_folios_to_lru() freed the folio");
	THP_DS_EXPECT_NODE_LEN(test, node,
			       "(the folio was never on it: was it unqueued from here?)");
	thp_ds_check_own_queue(test, &mq);
	thp_ds_check_node(test, node);
	vm_munmap(addr, PAGE_SIZE << thp_ds_param_order(test));
}
