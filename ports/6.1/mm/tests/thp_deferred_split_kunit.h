/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What thp_deferred_split_kunit.c needs to know about this tree (6.1
 * family): each memcg, and each node, has a struct deferred_split with its
 * own spinlock, list and length counter; the queue is looked up from the
 * page's memcg at every enqueue and unqueue, and a THP is linked through
 * its second tail page (page_deferred_list()).  Nothing reparents a dying
 * memcg's split queue.  The PMD fault does not queue a THP; rmap queues
 * one that loses part of its mapping.  Migration moves a partially mapped
 * THP whole and does not requeue the destination.
 *
 * This tree's KUnit predates deferred actions (v6.5), kunit_vm_mmap()
 * (v6.8) and the slow-case attribute (v6.6): the few of them the suite
 * uses are built here on KUnit resources, which are released in reverse
 * order as actions are.
 */
#ifndef _MM_TESTS_THP_DEFERRED_SPLIT_KUNIT_H
#define _MM_TESTS_THP_DEFERRED_SPLIT_KUNIT_H

#include <kunit/resource.h>
#include <kunit/test.h>
#include <linux/huge_mm.h>
#include <linux/kthread.h>
#include <linux/memcontrol.h>
#include <linux/migrate.h>
#include <linux/mmzone.h>
#include <linux/sched/mm.h>
#include <linux/swap.h>
#include <linux/swapops.h>

/* 7.x's typed allocation helper, which the suite uses as the newest tree asks. */
#ifndef kzalloc_obj
#define kzalloc_obj(P, gfp) kzalloc(sizeof(P), gfp)
#endif

/* ---- KUnit of later trees ----------------------------------------------- */

#define KUNIT_CASE_SLOW(test_name) KUNIT_CASE(test_name)

typedef void (kunit_action_t)(void *);

struct thp_ds_action {
	kunit_action_t *fn;
	void *data;
};

/*
 * Frees the action; KUnit frees the resource itself after this returns.
 * One function for every file of the suite (weak, so each file's copy is
 * the same one): kunit_release_action() finds actions by it.
 */
void thp_ds_action_free(struct kunit_resource *res);

void __weak thp_ds_action_free(struct kunit_resource *res)
{
	struct thp_ds_action *a = res->data;

	a->fn(a->data);
	kfree(a);
}

/* Run @fn(@data) when the case ends, after the actions added after it. */
static inline int kunit_add_action(struct kunit *test, kunit_action_t *fn, void *data)
{
	struct thp_ds_action *a = kzalloc_obj(*a, GFP_KERNEL);

	if (!a)
		return -ENOMEM;
	a->fn = fn;
	a->data = data;
	if (!kunit_alloc_resource(test, NULL, thp_ds_action_free, GFP_KERNEL, a)) {
		kfree(a);
		return -ENOMEM;
	}
	return 0;
}

static inline int kunit_add_action_or_reset(struct kunit *test, kunit_action_t *fn,
					    void *data)
{
	int err = kunit_add_action(test, fn, data);

	if (err)
		fn(data);
	return err;
}

static inline bool thp_ds_action_match(struct kunit *test, struct kunit_resource *res,
				       void *match)
{
	const struct thp_ds_action *want = match, *a = res->data;

	return res->free == thp_ds_action_free &&
	       a->fn == want->fn && a->data == want->data;
}

/* Run the latest such action now instead of when the case ends. */
static inline void kunit_release_action(struct kunit *test, kunit_action_t *fn, void *data)
{
	struct thp_ds_action want = { .fn = fn, .data = data };
	struct kunit_resource *res = kunit_find_resource(test, thp_ds_action_match, &want);

	if (!res)
		return;
	kunit_remove_resource(test, res);
	kunit_put_resource(res);
}

/*
 * vm_mmap() in a test mm of the case's thread, made on first use as
 * v6.8's kunit_vm_mmap() does; the thread's exit tears the mm down.
 */
static inline unsigned long kunit_vm_mmap(struct kunit *test, struct file *file,
					  unsigned long addr, unsigned long len,
					  unsigned long prot, unsigned long flag,
					  unsigned long offset)
{
	struct mm_struct *mm;

	if (!current->mm) {
		mm = mm_alloc();
		if (!mm)
			return 0;
		mm->task_size = TASK_SIZE;
		arch_pick_mmap_layout(mm, &current->signal->rlim[RLIMIT_STACK]);
		kthread_use_mm(mm);
	}
	return vm_mmap(file, addr, len, prot, flag, offset);
}

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
 * The THP orders the queue cases run for: PMD order only: anonymous mTHP came with v6.8.
 */
static const unsigned int thp_ds_orders[] = { HPAGE_PMD_ORDER };

/* The list_head that links a large folio on a deferred split queue. */
static inline struct list_head *thp_ds_deferred_list(struct folio *folio)
{
	return page_deferred_list(&folio->page);
}

/* A large folio the kernel puts on deferred split queues. */
static inline bool thp_ds_folio_queueable(struct folio *folio)
{
	return folio_test_large(folio) && folio->_folio_dtor == TRANSHUGE_PAGE_DTOR;
}

static inline bool thp_ds_isolate_lru(struct folio *folio)
{
	return folio_isolate_lru(folio) == 0;
}

/*
 * Whether a fault in a MADV_HUGEPAGE area may allocate an order-@order THP
 * as the boot (transparent_hugepage=) or the administrator set it: PMD
 * order only, "always" or "madvise".
 */
static inline bool thp_ds_order_enabled(unsigned int order)
{
	return order == HPAGE_PMD_ORDER &&
	       (READ_ONCE(transparent_hugepage_flags) &
		(BIT(TRANSPARENT_HUGEPAGE_FLAG) | BIT(TRANSPARENT_HUGEPAGE_REQ_MADV_FLAG)));
}

/* migrate_pages() migrates a partially mapped THP whole (later trees split it). */
#define THP_DS_MIGRATE_SPLITS_PARTIALLY_MAPPED	0

/* Migration leaves the destination unqueued (later trees requeue it). */
#define THP_DS_MIGRATE_REQUEUES	0

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
	return split_huge_page(&folio->page);
}

/*
 * The cgroup-v1 swap-out case runs in a live run only (a swap area), where
 * this tree's KUnit runs a suite again from debugfs (patches/0002, 0003).
 */
/* Memory+swap charge held by @memcg's swapped-out pages (MEMCG_SWAP). */
static inline unsigned long thp_ds_memcg_swap(struct mem_cgroup *memcg)
{
	mem_cgroup_flush_stats();
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

/* Queue a THP that is still mapped whole, with the kernel's enqueue. */
static inline void thp_ds_queue_mapped(struct folio *folio)
{
	deferred_split_huge_page(&folio->page);
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

/* Here the PMD fault does not queue a THP; rmap queues a partially unmapped one. */
#define THP_DS_FAULT_QUEUES	0

/* The case skipped: it proved nothing, and its exit checks are left out. */
static inline bool thp_ds_case_skipped(struct kunit *test)
{
	return test->status == KUNIT_SKIPPED;
}

#endif /* _MM_TESTS_THP_DEFERRED_SPLIT_KUNIT_H */
