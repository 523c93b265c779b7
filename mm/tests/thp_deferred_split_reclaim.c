// SPDX-License-Identifier: GPL-2.0
/*
 * KUnit tests for the memcg-aware THP deferred split queue.
 *
 * Reclaim and the deferred split shrinker: reclaim's free batch of a lazily
 * freed THP, and the shrinker's scan, requeue and split, each on the case
 * memcg's own queue and under its lock.
 */

#include <kunit/test.h>
#include <linux/mm.h>
#include <linux/mman.h>
#include <linux/swap.h>

#include "thp_deferred_split.h"

/*
 * The free at the end of shrink_folio_list(), reclaim's other way to free
 * a THP: a clean, lazily freed (MADV_FREE) anonymous THP is discarded
 * rather than swapped, and freed in a batch that is uncharged as a whole.
 * Each folio must leave its memcg's queue before that.  The THP is queued
 * while it is mapped whole, as the kernel queues one it finds underused
 * (MADV_FREE would split a partially mapped one), and reclaimed with
 * reclaim_pages(), as MADV_PAGEOUT does.  commit f8f931bba0f9 ("mm/thp:
 * fix deferred split unqueue naming and locking").
 */
void thp_ds_test_free_shrink(struct kunit *test)
{
	struct thp_ds_ctx *ctx = test->priv;
	struct thp_ds_node_base *node;
	struct thp_ds_queue mq;
	unsigned long addr, freed;
	struct folio *folio;
	LIST_HEAD(list);

	thp_ds_enter_or_skip(test);
	folio = thp_ds_fault(test, HPAGE_PMD_ORDER, &addr);
	node = thp_ds_node(test, folio_nid(folio));
	thp_ds_folio_queue(test, folio, &mq);
	thp_ds_queue_mapped(folio);
	THP_DS_EXPECT_OWN_QUEUED(test, &mq, folio, true);
	KUNIT_ASSERT_EQ(test, 0, do_madvise(current->mm, addr, HPAGE_PMD_SIZE, MADV_FREE));
	lru_add_drain_all();	/* MADV_FREE goes through a per-CPU LRU batch */
	if (folio_test_swapbacked(folio))
		thp_ds_skip(test, "MADV_FREE did not make the THP lazily freed (no verdict)");
	KUNIT_ASSERT_TRUE(test, thp_ds_isolate(test, folio, &list));

	freed = reclaim_pages(&list);	/* shrink_folio_list() frees it */
	kunit_release_action(test, thp_ds_leave, ctx);
	if (freed < HPAGE_PMD_NR) {
		vm_munmap(addr, HPAGE_PMD_SIZE);
		thp_ds_skip(test, "reclaim kept the lazily freed THP (%lu pages freed; no verdict)",
			    freed);
	}

	THP_DS_EXPECT_OWN_LEN(test, &mq, 0, "after reclaim freed the THP");
	THP_DS_EXPECT_NODE_LEN(test, node,
			       "(the THP was never on it: was it unqueued from here?)");
	thp_ds_check_own_queue(test, &mq);
	thp_ds_check_node(test, node);
	vm_munmap(addr, HPAGE_PMD_SIZE);
}

static void thp_ds_op_shrink(struct thp_ds_op *op)
{
	thp_ds_shrink(op->memcg, op->nid);
	op->done_ok = true;
}

/*
 * Lock discipline of the deferred split shrinker: its scan of the case's
 * memcg takes the THPs off that memcg's queue and puts back the ones it
 * cannot split (the case holds a reference), under that queue's lock.
 * commit e66f3185fa04 ("mm/thp: fix deferred split queue not
 * partially_mapped").
 */
void thp_ds_test_shrinker_lock(struct kunit *test)
{
	struct thp_ds_ctx *ctx = test->priv;
	struct thp_ds_node_base *node;
	struct thp_ds_queue mq;
	struct thp_ds_op *op;
	struct folio *folio;
	unsigned long addr;

	thp_ds_need_two_cpus(test);
	folio = thp_ds_queued_thp(test, HPAGE_PMD_ORDER, &addr, &node, &mq);
	op = thp_ds_op_new(test, thp_ds_op_shrink, "the deferred split shrinker");
	op->memcg = thp_ds_shrink_target(ctx);
	op->nid = folio_nid(folio);
	THP_DS_EXPECT_OWN_QUEUED(test, &mq, folio, true);	/* what the operation starts from */
	thp_ds_under_lock(test, op, &mq, &node->q, folio);

	THP_DS_EXPECT_OWN_QUEUED(test, &mq, folio, true);
	THP_DS_EXPECT_OWN_LEN(test, &mq, 1,
			      "after the shrinker put back the THP it could not split");
	THP_DS_EXPECT_NODE_LEN(test, node, "(the THP was never on it)");
	vm_munmap(addr, HPAGE_PMD_SIZE);
	thp_ds_put(test, folio);
	kunit_release_action(test, thp_ds_leave, ctx);
}

/*
 * The deferred split shrinker, driven through shrink_slab() for the case's
 * memcg, must take a THP it cannot split (the case holds a reference) off
 * the memcg queue under that queue's lock and put it back on the same
 * queue, with the length counter right.
 * commit e66f3185fa04 ("mm/thp: fix deferred split queue not
 * partially_mapped").
 */
void thp_ds_test_shrinker_requeue(struct kunit *test)
{
	struct thp_ds_ctx *ctx = test->priv;
	struct thp_ds_node_base *node;
	struct thp_ds_queue mq;
	struct folio *folio;
	unsigned long addr;

	folio = thp_ds_queued_thp(test, HPAGE_PMD_ORDER, &addr, &node, &mq);

	thp_ds_shrink(thp_ds_shrink_target(ctx), folio_nid(folio));

	THP_DS_EXPECT_OWN_QUEUED(test, &mq, folio, true);
	THP_DS_EXPECT_NOT_ON_NODE(test, node, folio);
	THP_DS_EXPECT_OWN_LEN(test, &mq, 1, "after the shrinker put back a THP it could not split");

	vm_munmap(addr, HPAGE_PMD_SIZE);
	thp_ds_put(test, folio);
	kunit_release_action(test, thp_ds_leave, ctx);
	THP_DS_EXPECT_OWN_LEN(test, &mq, 0, "after the THP was freed");
}

/*
 * The kernel's own path, end to end: a THP faulted in by a task of the
 * case's memcg and partially unmapped is queued by rmap; the shrinker for
 * that memcg must then split it and take it off the memcg queue, leaving
 * the counter right.  commit 87eaceb3faa5 ("mm: thp: make deferred split
 * shrinker memcg aware").
 */
void thp_ds_test_shrinker_split(struct kunit *test)
{
	struct thp_ds_ctx *ctx = test->priv;
	struct thp_ds_node_base *node;
	struct thp_ds_queue mq;
	struct folio *folio;
	struct page *page;
	unsigned long addr;

	folio = thp_ds_queued_thp(test, HPAGE_PMD_ORDER, &addr, &node, &mq);
	THP_DS_EXPECT_OWN_QUEUED(test, &mq, folio, true);
	thp_ds_put(test, folio);	/* the shrinker cannot split a pinned folio */

	thp_ds_shrink(thp_ds_shrink_target(ctx), folio_nid(folio));

	THP_DS_EXPECT_OWN_LEN(test, &mq, 0, "after the shrinker split the THP");
	THP_DS_EXPECT_NODE_LEN(test, node, "(the THP was never on it)");
	/* an entry left linked shows as a queue with more entries than its counter */
	thp_ds_check_own_queue(test, &mq);
	if (get_user_pages_fast(addr, 1, 0, &page) == 1) {
		KUNIT_EXPECT_FALSE_MSG(test, folio_test_large(page_folio(page)),
				       "the partially mapped THP was not split");
		put_page(page);
	}

	vm_munmap(addr, HPAGE_PMD_SIZE);
	lru_add_drain_all();
	kunit_release_action(test, thp_ds_leave, ctx);
}
