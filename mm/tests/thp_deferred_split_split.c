// SPDX-License-Identifier: GPL-2.0
/*
 * KUnit tests for the memcg-aware THP deferred split queue.
 *
 * Split and migration of a queued THP: split_folio() and migrate_pages()
 * take it off its memcg's queue under that queue's lock, and migration
 * queues the destination where the tree requeues.
 */

#include <kunit/test.h>
#include <linux/migrate.h>
#include <linux/mm.h>
#include <linux/mman.h>
#include <linux/swap.h>

#include "thp_deferred_split.h"

static void thp_ds_op_split(struct thp_ds_op *op)
{
	folio_lock(op->folio);
	op->done_ok = !thp_ds_split_folio(op->folio);
	folio_unlock(op->folio);
	if (!op->done_ok)
		pr_info("thp_deferred_split: the THP could not be split\n");
}

/*
 * Lock discipline of the split: splitting a queued THP takes it off its
 * memcg's queue under that queue's lock.  commit 87eaceb3faa5 ("mm: thp:
 * make deferred split shrinker memcg aware").
 */
void thp_ds_test_split_lock(struct kunit *test)
{
	struct thp_ds_ctx *ctx = test->priv;
	struct thp_ds_node_base *node;
	struct thp_ds_queue mq;
	struct thp_ds_op *op;
	struct folio *folio;
	unsigned long addr;

	thp_ds_need_two_cpus(test);
	folio = thp_ds_queued_thp(test, HPAGE_PMD_ORDER, &addr, &node, &mq);
	lru_add_drain_all();	/* a per-CPU LRU batch's reference blocks the split */
	op = thp_ds_op_new(test, thp_ds_op_split, "the split");
	op->folio = folio;
	THP_DS_EXPECT_OWN_QUEUED(test, &mq, folio, true);	/* what the operation starts from */
	thp_ds_under_lock(test, op, &mq, &node->q, folio);

	THP_DS_EXPECT_OWN_LEN(test, &mq, 0, "after the split");
	THP_DS_EXPECT_NODE_LEN(test, node, "(the THP was never on it)");
	thp_ds_check_own_queue(test, &mq);
	vm_munmap(addr, HPAGE_PMD_SIZE);
	thp_ds_put(test, folio);
	lru_add_drain_all();
	kunit_release_action(test, thp_ds_leave, ctx);
}

/*
 * A queued THP split outside the shrinker: the split must take it off its
 * memcg's queue, under that queue's lock, with the counter right.  (The
 * shrinker takes a THP off the queue before it splits it: this is the
 * path that exercises the split's own unqueue.)
 */
void thp_ds_test_split(struct kunit *test)
{
	struct thp_ds_ctx *ctx = test->priv;
	struct thp_ds_node_base *node;
	struct thp_ds_queue mq;
	struct folio *folio;
	unsigned long addr;
	struct page *page;
	bool split;
#if THP_DS_MIGRATE_SPLITS_PARTIALLY_MAPPED
	LIST_HEAD(list);
#endif

	folio = thp_ds_queued_thp(test, HPAGE_PMD_ORDER, &addr, &node, &mq);
	THP_DS_EXPECT_OWN_QUEUED(test, &mq, folio, true);
#if THP_DS_MIGRATE_SPLITS_PARTIALLY_MAPPED
	/*
	 * migrate_pages() splits a partially mapped THP that is on a deferred
	 * split queue instead of migrating it (try_split_folio()).
	 */
	KUNIT_ASSERT_TRUE(test, thp_ds_isolate(test, folio, &list));
	thp_ds_migrate(&list);	/* splits it: that migration fails is no news */
#else
	/* split it as the other splitters (KSM, madvise, reclaim) do */
	lru_add_drain_all();	/* a per-CPU LRU batch's reference blocks the split */
	folio_lock(folio);
	thp_ds_split_folio(folio);
	folio_unlock(folio);
	thp_ds_put(test, folio);
#endif

	/* the path under test: the THP was split, not migrated or left */
	KUNIT_ASSERT_EQ(test, 1, get_user_pages_fast(addr, 1, 0, &page));
	split = !folio_test_large(page_folio(page));
	put_page(page);
	KUNIT_ASSERT_TRUE_MSG(test, split,
			      "migrate_pages() did not split the partially mapped THP");
	THP_DS_EXPECT_OWN_LEN(test, &mq, 0, "after the split");
	THP_DS_EXPECT_NODE_LEN(test, node, "(the THP was never on it)");
	thp_ds_check_own_queue(test, &mq);

	vm_munmap(addr, HPAGE_PMD_SIZE);
	lru_add_drain_all();
	kunit_release_action(test, thp_ds_leave, ctx);
}

/*
 * A queued THP that migrate_pages() migrates rather than splits: a
 * partially mapped THP is split instead, so this is one the PMD fault
 * queued as possibly underused.
 */
static struct folio *thp_ds_migratable_thp(struct kunit *test, unsigned long *addrp,
					   struct thp_ds_node_base **nodep,
					   struct thp_ds_queue *mq)
{
#if THP_DS_MIGRATE_SPLITS_PARTIALLY_MAPPED
	return thp_ds_whole_thp(test, addrp, nodep, mq);
#else
	/* migrate_pages() migrates a partially mapped THP whole */
	return thp_ds_queued_thp(test, HPAGE_PMD_ORDER, addrp, nodep, mq);
#endif
}

/*
 * Migration of a queued THP through migrate_pages(): the source must leave
 * its memcg queue (unqueued while its refcount is frozen) before its memcg
 * is cleared, and migrate_folio_move() must queue the destination on the
 * queue of the memcg it was charged to.  commit 9bcef5973e31 ("mm: memcg:
 * fix split queue list crash when large folio migration"), commit
 * be9581ea8c05 ("mm: fix crashes from deferred split racing folio
 * migration").
 */
void thp_ds_test_migrate(struct kunit *test)
{
	struct thp_ds_ctx *ctx = test->priv;
	struct thp_ds_node_base *node;
	struct thp_ds_queue mq;
	struct folio *src, *dst;
	unsigned long addr;
	struct page *page;
	LIST_HEAD(list);
	int rc;

	src = thp_ds_migratable_thp(test, &addr, &node, &mq);
	THP_DS_EXPECT_OWN_QUEUED(test, &mq, src, true);
	KUNIT_ASSERT_TRUE(test, thp_ds_isolate(test, src, &list));

	rc = thp_ds_migrate(&list);
	if (rc)
		thp_ds_skip(test, "migrate_pages() could not migrate the THP: %d", rc);
	/* the source is freed: only its address is compared from here on */

	KUNIT_ASSERT_EQ(test, 1, get_user_pages_fast(addr, 1, FOLL_WRITE, &page));
	dst = page_folio(page);
	KUNIT_ASSERT_EQ(test, 0, kunit_add_action_or_reset(test, thp_ds_folio_put, dst));
	KUNIT_ASSERT_PTR_NE_MSG(test, dst, src, "the THP was not migrated");
	KUNIT_ASSERT_EQ(test, folio_order(dst), HPAGE_PMD_ORDER);
	/* the source left the queue: its counter below says so */
#if THP_DS_MIGRATE_REQUEUES
	THP_DS_EXPECT_OWN_QUEUED(test, &mq, dst, true);
	THP_DS_EXPECT_OWN_LEN(test, &mq, 1, "after migration: the destination, not the source");
#else
	/* the tree does not requeue the destination: the queue is empty */
	THP_DS_EXPECT_OWN_LEN(test, &mq, 0, "after migration: the source left");
	thp_ds_check_own_queue(test, &mq);
#endif
	THP_DS_EXPECT_NOT_ON_NODE(test, node, dst);
	THP_DS_EXPECT_NODE_LEN(test, node, "after migrating the queued THP");

	vm_munmap(addr, HPAGE_PMD_SIZE);
	thp_ds_put(test, dst);
	kunit_release_action(test, thp_ds_leave, ctx);
	THP_DS_EXPECT_OWN_LEN(test, &mq, 0, "after freeing the destination");
	THP_DS_EXPECT_NODE_LEN(test, node, "after freeing the destination");
}

static void thp_ds_op_migrate(struct thp_ds_op *op)
{
	int rc = thp_ds_migrate(&op->list);

	op->done_ok = !rc;
	if (rc)
		pr_info("thp_deferred_split: migrate_pages() could not migrate the THP: %d\n", rc);
}

/*
 * Lock discipline of migration: migrate_pages() of a queued THP takes the
 * source off its memcg's queue under that queue's lock; a destination it
 * queues is queued under that lock too.  (See thp_ds_under_lock().)
 * commit be9581ea8c05 ("mm: fix crashes from deferred split racing folio
 * migration").
 */
void thp_ds_test_migrate_lock(struct kunit *test)
{
	struct thp_ds_ctx *ctx = test->priv;
	struct thp_ds_node_base *node;
	struct thp_ds_queue mq;
	struct thp_ds_op *op;
	struct folio *folio;
	unsigned long addr;

	thp_ds_need_two_cpus(test);
	folio = thp_ds_migratable_thp(test, &addr, &node, &mq);
	op = thp_ds_op_new(test, thp_ds_op_migrate, "the migration");
	KUNIT_ASSERT_TRUE(test, thp_ds_isolate(test, folio, &op->list));
	THP_DS_EXPECT_OWN_QUEUED(test, &mq, folio, true);	/* what the operation starts from */
	thp_ds_under_lock(test, op, &mq, &node->q, folio);

	vm_munmap(addr, HPAGE_PMD_SIZE);	/* frees the destination */
	kunit_release_action(test, thp_ds_leave, ctx);
	THP_DS_EXPECT_OWN_LEN(test, &mq, 0, "after the migrated THP was freed");
	THP_DS_EXPECT_NODE_LEN(test, node, "(the THP was never on it)");
	thp_ds_check_own_queue(test, &mq);
}
