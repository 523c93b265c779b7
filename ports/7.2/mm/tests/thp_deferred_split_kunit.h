/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The deferred split queue as the tests see it: the list_lru
 * deferred_split_lru (visible to KUnit, mm/internal.h), whose sublists the
 * tests look up with list_lru_lock().
 * Each (memcg, node) has a struct list_lru_one with its own spinlock, list
 * and item count; the root memcg (kmemcg_id -1) and folios without a memcg
 * share the node's global list.  The per-memcg lists are allocated on
 * demand (folio_memcg_alloc_deferred()), and a dying memcg's lists are
 * reparented to its parent's.
 */
#ifndef _MM_TESTS_THP_DEFERRED_SPLIT_KUNIT_H
#define _MM_TESTS_THP_DEFERRED_SPLIT_KUNIT_H

#include <kunit/resource.h>
#include <kunit/test.h>
#include <linux/huge_mm.h>
#include <linux/list_lru.h>
#include <linux/memcontrol.h>
#include <linux/migrate.h>
#include <linux/sched/mm.h>
#include <linux/swap.h>

/* One deferred split queue: its lock, its list and its length counter. */
struct thp_ds_queue {
	char name[48];
	spinlock_t *lock;		/* protects @head and the length counter */
	struct list_head *head;
	struct list_lru_one *lru;
	int nid;
};

static inline void thp_ds_queue_init(struct thp_ds_queue *q, struct list_lru_one *lru,
				     int nid)
{
	q->lru = lru;
	q->nid = nid;
	q->lock = &lru->lock;
	q->head = &lru->list;
}

/*
 * Whether a memcg has split lists of its own: list_lru_init() makes a
 * list_lru memcg aware only with kmem accounting on, so with
 * cgroup.memory=nokmem every THP is on its node's list.
 */
static inline bool thp_ds_memcg_queues(void)
{
	return !mem_cgroup_kmem_disabled();
}

/*
 * The sublist of deferred_split_lru that list_lru_lock() locks for @memcg
 * (NULL: the node's) on node @nid, and the memcg whose sublist that is: an
 * ancestor's where @memcg has none of its own (a dying memcg's were
 * reparented).  The caller keeps @memcg alive.
 */
static inline struct list_lru_one *thp_ds_sublist(struct mem_cgroup *memcg, int nid,
						  struct mem_cgroup **owner)
{
	struct list_lru_one *l;
	unsigned long flags;

	*owner = memcg;
	l = list_lru_lock_irqsave(&deferred_split_lru, nid, owner, &flags);
	if (l)
		list_lru_unlock_irqrestore(l, &flags);
	return l;
}

/*
 * The list a folio charged to @memcg on node @nid is put on.  The kernel
 * allocates a memcg's lists when it charges a large folio to it
 * (folio_memcg_alloc_deferred() on the fault path); false where @memcg has
 * no list of its own.
 */
static inline bool thp_ds_memcg_queue(struct mem_cgroup *memcg, int nid,
				      struct thp_ds_queue *q)
{
	struct mem_cgroup *owner;
	struct list_lru_one *l;

	if (!thp_ds_memcg_queues())
		return false;	/* every memcg's THPs are on the node's list */
	l = thp_ds_sublist(memcg, nid, &owner);
	if (!l || owner != memcg)
		return false;
	thp_ds_queue_init(q, l, nid);
	snprintf(q->name, sizeof(q->name), "memcg %llu split list_lru (node %d)",
		 (u64)mem_cgroup_id(memcg), nid);
	return true;
}

/* The list of folios with no memcg (or the root memcg) on node @nid. */
static inline void thp_ds_node_queue(int nid, struct thp_ds_queue *q)
{
	struct mem_cgroup *owner;

	thp_ds_queue_init(q, thp_ds_sublist(NULL, nid, &owner), nid);
	snprintf(q->name, sizeof(q->name), "node %d split list_lru", nid);
}

/*
 * The sublist's item count as it is: list_lru_count_one() clamps a count
 * below zero to 0, which would hide an unqueue that decremented the wrong
 * sublist's count.
 */
static inline long thp_ds_queue_len(const struct thp_ds_queue *q)
{
	return READ_ONCE(q->lru->nr_items);
}

/* Memcg offline moves the split queue to the parent's. */
#define THP_DS_REPARENTS_SPLIT_QUEUE	1

/*
 * Reclaim's putback: move_folios_to_lru() takes the lruvec locks itself and
 * frees the folios whose last reference it drops.  Returns the pages it
 * put back on the LRU instead (0: everything was freed).
 */
static inline unsigned int thp_ds_putback_and_free(struct list_head *list)
{
	return move_folios_to_lru(list);
}

/* The deferred split shrinker (and the memcg's other shrinkers), as reclaim runs them. */
static inline void thp_ds_shrink(struct mem_cgroup *memcg, int nid)
{
	shrink_slab(GFP_KERNEL, nid, memcg, 0);
}

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

/* Queue a THP that is still mapped whole, as the kernel queues one it finds underused. */
static inline void thp_ds_queue_mapped(struct folio *folio)
{
	deferred_split_folio(folio, false);
}

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
