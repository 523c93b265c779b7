/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What thp_deferred_split_kunit.c needs to know about this tree (6.12
 * family): each memcg, and each node, has a struct deferred_split with its
 * own spinlock, list and length counter; the queue is looked up from
 * folio_memcg() at every enqueue and unqueue.  Nothing reparents a dying
 * memcg's split queue.
 */
#ifndef _MM_TESTS_THP_DEFERRED_SPLIT_KUNIT_H
#define _MM_TESTS_THP_DEFERRED_SPLIT_KUNIT_H

#include <kunit/resource.h>
#include <kunit/test.h>
#include <linux/huge_mm.h>
#include <linux/memcontrol.h>
#include <linux/migrate.h>
#include <linux/mmzone.h>
#include <linux/sched/mm.h>
#include <linux/swap.h>
#include <linux/swap_cgroup.h>
#include <linux/swapops.h>

/* 7.x's typed allocation helper, which the suite uses as the newest tree asks. */
#ifndef kzalloc_obj
#define kzalloc_obj(P, gfp) kzalloc(sizeof(P), gfp)
#endif

/* One deferred split queue: its lock, its list and its length counter. */
struct thp_ds_queue {
	char name[48];
	spinlock_t *lock;		/* protects @head and the length counter */
	struct list_head *head;
	struct deferred_split *ds;
};

static inline void thp_ds_queue_init(struct thp_ds_queue *q, struct deferred_split *ds)
{
	q->ds = ds;
	q->lock = &ds->split_queue_lock;
	q->head = &ds->split_queue;
}

/* The queue a folio charged to @memcg on node @nid is put on (one per memcg here). */
static inline bool thp_ds_memcg_queue(struct mem_cgroup *memcg, int nid,
				      struct thp_ds_queue *q)
{
	thp_ds_queue_init(q, &memcg->deferred_split_queue);
	snprintf(q->name, sizeof(q->name), "memcg %u split queue",
		 mem_cgroup_id(memcg));
	return true;
}

/* The queue of folios with no memcg on node @nid. */
static inline void thp_ds_node_queue(int nid, struct thp_ds_queue *q)
{
	thp_ds_queue_init(q, &NODE_DATA(nid)->deferred_split_queue);
	snprintf(q->name, sizeof(q->name), "node %d split queue", nid);
}

/* The counter is unsigned: a stray decrement shows as -1 here. */
static inline long thp_ds_queue_len(const struct thp_ds_queue *q)
{
	return (long)READ_ONCE(q->ds->split_queue_len);
}

/*
 * Every memcg has a split queue of its own (the deferred split shrinker is
 * SHRINKER_NONSLAB: memcg aware also with cgroup.memory=nokmem).
 */
static inline bool thp_ds_memcg_queues(void)
{
	return true;
}

#define THP_DS_REPARENTS_SPLIT_QUEUE	0

/*
 * Reclaim's putback: move_folios_to_lru() under the lruvec lock, which
 * frees the folios whose last reference it drops.  Returns the pages it
 * put back on the LRU instead (0: everything was freed).
 */
static inline unsigned int thp_ds_putback_and_free(struct list_head *list)
{
	struct folio *folio = lru_to_folio(list);
	struct lruvec *lruvec = folio_lruvec_lock_irq(folio);
	unsigned int moved = move_folios_to_lru(lruvec, list);

	unlock_page_lruvec_irq(lruvec);
	return moved;
}

/* The deferred split shrinker (and the memcg's other shrinkers), as reclaim runs them. */
static inline void thp_ds_shrink(struct mem_cgroup *memcg, int nid)
{
	shrink_slab(GFP_KERNEL, nid, memcg, 0);
}

/* ---- what differs between trees, as the cases ask it ------------------- */

/*
 * The THP orders the queue cases run for: PMD order, and two anonymous mTHP orders (2 is the
 * smallest with a deferred list).
 */
static const unsigned int thp_ds_orders[] = { HPAGE_PMD_ORDER, 4, 2 };

/* The list_head that links a large folio on a deferred split queue. */
static inline struct list_head *thp_ds_deferred_list(struct folio *folio)
{
	return &folio->_deferred_list;
}

/* A large folio the kernel puts on deferred split queues. */
static inline bool thp_ds_folio_queueable(struct folio *folio)
{
	return folio_test_large_rmappable(folio);
}

static inline bool thp_ds_isolate_lru(struct folio *folio)
{
	return folio_isolate_lru(folio);
}

/*
 * Whether a fault in a MADV_HUGEPAGE area may allocate an order-@order THP
 * as the boot (transparent_hugepage=, thp_anon=) or the administrator set
 * it: the size is "always" or "madvise", or "inherit" with the top-level
 * setting "always" or "madvise" (as thp_vma_allowable_orders() decides).
 */
static inline bool thp_ds_order_enabled(unsigned int order)
{
	unsigned long mask = READ_ONCE(huge_anon_orders_always) |
			     READ_ONCE(huge_anon_orders_madvise);

	if (hugepage_global_enabled())
		mask |= READ_ONCE(huge_anon_orders_inherit);
	return mask & BIT(order);
}

/* migrate_pages() splits a partially mapped queued THP instead of migrating it. */
#define THP_DS_MIGRATE_SPLITS_PARTIALLY_MAPPED	1

/* Migration queues the destination where the source was queued. */
#define THP_DS_MIGRATE_REQUEUES	1

/*
 * Migrate the isolated THP on @list to a new folio on its own node, as
 * compaction or NUMA balancing would; whatever migrate_pages() leaves on
 * @list goes back to the LRU.  Returns what migrate_pages() returned.
 */
static inline int thp_ds_migrate(struct list_head *list)
{
	struct migration_target_control mtc = {
		.nid = folio_nid(lru_to_folio(list)),
		.gfp_mask = GFP_HIGHUSER_MOVABLE | __GFP_NOWARN,
		.reason = MR_SYSCALL,
	};
	int rc = migrate_pages(list, alloc_migration_target, NULL, (unsigned long)&mtc,
			       MIGRATE_SYNC, MR_SYSCALL, NULL);

	if (!list_empty(list))
		putback_movable_pages(list);
	return rc;
}

/* Split a locked large folio, as the kernel's splitters outside the shrinker do. */
static inline int thp_ds_split_folio(struct folio *folio)
{
	return split_folio(folio);
}

/* Memory+swap charge held by @memcg's swapped-out pages (MEMCG_SWAP). */
static inline unsigned long thp_ds_memcg_swap(struct mem_cgroup *memcg)
{
	mem_cgroup_flush_stats(memcg);
	return memcg_page_state(memcg, MEMCG_SWAP);
}

/*
 * Start @fn in a task that is not a kernel thread, as user_mode_thread()
 * does, but forked: without CLONE_VM it gets a copy of the caller's mm, as
 * fork() makes one, and owns it.  Its exit is reported to the caller as
 * SIGCHLD.
 */
static inline pid_t thp_ds_user_task(int (*fn)(void *), void *arg)
{
	struct kernel_clone_args args = {
		.flags		= CLONE_UNTRACED,
		.exit_signal	= SIGCHLD,
		.fn		= fn,
		.fn_arg		= arg,
	};

	return kernel_clone(&args);
}

/* The cgroup-v1 charge move (memory.move_charge_at_immigrate) is here. */
static inline const char *thp_ds_charge_move_unsupported(void)
{
	return NULL;
}

/* Queue a THP that is still mapped whole, as the kernel queues one it finds underused. */
static inline void thp_ds_queue_mapped(struct folio *folio)
{
	deferred_split_folio(folio, false);
}

/* ---- KUnit and page API of this tree ------------------------------------ */

/* The tree's KUnit has suite-level fixture hooks (suite_init, suite_exit). */
#define THP_DS_SUITE_INIT	1

static inline const void *thp_ds_param_value(struct kunit *test)
{
	return test->param_value;
}

static inline unsigned long thp_ds_folio_memcg_data(struct folio *folio)
{
	return folio->memcg_data;
}

static inline struct list_head *thp_ds_folio_lru(struct folio *folio)
{
	return &folio->lru;
}

/* Here the PMD fault queues a THP as possibly underused (shrink_underused). */
#define THP_DS_FAULT_QUEUES	1

/* The case skipped: it proved nothing, and its exit checks are left out. */
static inline bool thp_ds_case_skipped(struct kunit *test)
{
	return test->status == KUNIT_SKIPPED;
}

#endif /* _MM_TESTS_THP_DEFERRED_SPLIT_KUNIT_H */
