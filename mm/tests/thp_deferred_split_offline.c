// SPDX-License-Identifier: GPL-2.0
/*
 * KUnit tests for the memcg-aware THP deferred split queue.
 *
 * Memcg offline with a queued THP: the folio stays on a queue that its
 * later free finds under the right lock (the dying memcg's, or its
 * parent's where the tree reparents the split queue).
 */

#include <kunit/test.h>
#include <linux/memcontrol.h>
#include <linux/mm.h>
#include <linux/mman.h>

#include "thp_deferred_split.h"

/* The name of the memcg this case takes offline, beside the case's own. */
#define THP_DS_DYING		"offline"

/*
 * Removing a memcg that still has a queued THP: the folio must stay on a
 * queue that a later free finds under the right lock: the dying memcg's
 * own, or its parent's where offline reparents the split queue.  The free
 * afterwards must unlink it from there and leave every counter right.
 *
 * The memcg taken offline is a sibling of the case's, under the suite's
 * top cgroup: a memcg's own structures are charged to its parent, and
 * would stay charged to the case's memcg for as long as the dying memcg
 * lives.  The top's queue is shared by the suite's cases, so it is checked
 * relative to how this case found it.
 */
void thp_ds_test_memcg_offline(struct kunit *test)
{
	struct thp_ds_ctx *ctx = test->priv;
	struct thp_ds_node_base *node;
	struct thp_ds_extra *dying;
	struct thp_ds_queue dq;
	struct folio *folio;
	unsigned long addr;
#if THP_DS_REPARENTS_SPLIT_QUEUE
	long parent_len, parent_offset;
	struct thp_ds_queue pq;
	struct thp_ds_walk w;
#endif

	thp_ds_need_memcg_queues(test);
	dying = thp_ds_extra_memcg(test, THP_DS_DYING);
	thp_ds_enter_cgroup(test, dying->path, dying->memcg);
	folio = thp_ds_fault(test, HPAGE_PMD_ORDER, &addr);
	kunit_release_action(test, thp_ds_leave, ctx);
	node = thp_ds_node(test, folio_nid(folio));
	thp_ds_unmap_page(test, addr);
	vm_munmap(addr, HPAGE_PMD_SIZE);
	KUNIT_ASSERT_TRUE(test, thp_ds_memcg_queue(dying->memcg, folio_nid(folio), &dq));
	THP_DS_EXPECT_QUEUED(test, &dq, 0, folio, true);
#if THP_DS_REPARENTS_SPLIT_QUEUE
	KUNIT_ASSERT_TRUE(test, thp_ds_memcg_queue(parent_mem_cgroup(dying->memcg),
						   folio_nid(folio), &pq));
	thp_ds_walk_queue(&pq, 0, NULL, &w);
	if (!thp_ds_links_intact(&w))
		thp_ds_skip(test, "%s's links were broken before the case", pq.name);
	parent_len = thp_ds_queue_len(&pq);
	parent_offset = w.forward_count - parent_len;
#endif

	KUNIT_ASSERT_EQ_MSG(test, thp_ds_extra_offline(dying), 0,
			    "cannot take memcg %s offline", dying->path);

#if THP_DS_REPARENTS_SPLIT_QUEUE
	THP_DS_EXPECT_QUEUED(test, &pq, parent_offset, folio, true);
	THP_DS_EXPECT_LEN(test, &pq, parent_len + 1, "after reparenting");
#else
	THP_DS_EXPECT_QUEUED(test, &dq, 0, folio, true);
	THP_DS_EXPECT_LEN(test, &dq, 1, "(the dying memcg keeps its queue)");
#endif
	THP_DS_EXPECT_NOT_ON_NODE(test, node, folio);

	thp_ds_put(test, folio);

#if THP_DS_REPARENTS_SPLIT_QUEUE
	THP_DS_EXPECT_LEN(test, &pq, parent_len, "after freeing the folio");
	thp_ds_check_queue(test, &pq, parent_offset, NULL, NULL);
#else
	THP_DS_EXPECT_LEN(test, &dq, 0, "after freeing the folio");
	thp_ds_check_queue(test, &dq, 0, NULL, NULL);
#endif
	THP_DS_EXPECT_NODE_LEN(test, node, "after freeing the folio");
	/* the dying memcg is pinned (by the second memcg's action) until here */
	kunit_release_action(test, thp_ds_extra_release, dying);
}
