// SPDX-License-Identifier: GPL-2.0
/*
 * KUnit tests for the memcg-aware THP deferred split queue.
 *
 * NUMA: a THP on one node freed by a CPU of another.  The split lists are
 * per node (each node has a queue of its own, and since the list_lru
 * conversion so has each memcg on each node): a THP must leave the list of
 * the node its memory is on, whichever CPU frees it.  A lookup by the
 * freeing CPU's node locks another node's list and counts the THP off
 * there, which on a machine of one node is the same list: the case needs
 * two nodes with CPUs and memory, and skips on one.
 */

#include <kunit/test.h>
#include <linux/cpumask.h>
#include <linux/mm.h>
#include <linux/mman.h>
#include <linux/nodemask.h>
#include <linux/sched.h>
#include <linux/swap.h>
#include <linux/topology.h>

#include "thp_deferred_split.h"

/* The first two nodes that have both CPUs and memory: @near and @far. */
static void thp_ds_need_two_nodes(struct kunit *test, int *near, int *far)
{
	int nid, found = 0;

	for_each_node_state(nid, N_MEMORY) {
		if (!node_state(nid, N_CPU) || cpumask_empty(cpumask_of_node(nid)))
			continue;
		if (found++ == 0) {
			*near = nid;
		} else {
			*far = nid;
			return;
		}
	}
	thp_ds_skip(test, "needs two NUMA nodes with CPUs and memory (found %d)", found);
}

/*
 * Move the case's thread to the CPUs of node @nid: a fault there allocates
 * on @nid (the default, local, memory policy), and a free runs there.  The
 * thread is the case's own and ends with it: nothing to put back.
 */
static void thp_ds_run_on_node(struct kunit *test, int nid)
{
	int err = set_cpus_allowed_ptr(current, cpumask_of_node(nid));

	KUNIT_ASSERT_EQ_MSG(test, err, 0, "cannot move the case's thread to node %d's CPUs", nid);
	KUNIT_ASSERT_EQ_MSG(test, numa_node_id(), nid,
			    "the case's thread runs on node %d, not on node %d it was moved to",
			    numa_node_id(), nid);
}

/*
 * The last folio_put() of a queued THP on node @far, run on a CPU of node
 * @near: the THP must leave its memcg's list on @far (or, without a queue
 * per memcg, @far's queue), and no list of @near may count it off.
 * The free's unqueue: commit f8f931bba0f9 ("mm/thp: fix deferred split
 * unqueue naming and locking"); it finds the list by folio_nid().
 */
void thp_ds_test_numa_free(struct kunit *test)
{
	struct thp_ds_ctx *ctx = test->priv;
	struct thp_ds_node_base *node, *cpu_node;
	struct thp_ds_queue mq, cq;
	bool cq_own = false;
	struct folio *folio;
	unsigned long addr;
	int near, far;

	thp_ds_need_two_nodes(test, &near, &far);
	thp_ds_run_on_node(test, far);
	folio = thp_ds_queued_thp(test, HPAGE_PMD_ORDER, &addr, &node, &mq);
	if (folio_nid(folio) != far)
		thp_ds_skip(test, "a fault on node %d's CPU allocated on node %d (memory short?)",
			    far, folio_nid(folio));
	thp_ds_unmap_all(test, addr, folio);
	lru_add_drain_all();	/* no per-CPU LRU batch of @far may hold the last reference */
	THP_DS_EXPECT_OWN_QUEUED(test, &mq, folio, true);
	kunit_release_action(test, thp_ds_leave, ctx);

	thp_ds_run_on_node(test, near);
	cpu_node = thp_ds_node(test, near);
	/* the memcg's list on @near, where it has one apart from @mq: empty */
	if (!thp_ds.node_queues && thp_ds_memcg_queue(ctx->memcg, near, &cq))
		cq_own = cq.head != mq.head;

	thp_ds_put(test, folio);	/* the last reference, on a CPU of @near */

	THP_DS_EXPECT_OWN_LEN(test, &mq, 0, "after a CPU of another node freed the THP");
	if (cq_own)
		THP_DS_EXPECT_LEN(test, &cq, 0, "(the THP's memory is on another node)");
	THP_DS_EXPECT_NODE_LEN(test, node, "(the THP is charged to a memcg)");
	/* the freeing CPU's node queue is never the THP's, memcg or not */
	THP_DS_EXPECT_LEN(test, &cpu_node->q, cpu_node->len,
			  "(the THP's memory is on another node)");
	thp_ds_check_own_queue(test, &mq);
	thp_ds_check_node(test, node);
	thp_ds_check_node(test, cpu_node);
	vm_munmap(addr, HPAGE_PMD_SIZE);
}
