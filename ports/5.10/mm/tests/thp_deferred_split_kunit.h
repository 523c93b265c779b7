/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What thp_deferred_split_kunit.c needs to know about this tree (5.10
 * family): each memcg, and each node, has a struct deferred_split with its
 * own spinlock, list and length counter; the queue is looked up from
 * page->mem_cgroup at every enqueue and unqueue, and a THP is linked
 * through its second tail page (page_deferred_list()).  Nothing reparents
 * a dying memcg's split queue.  The PMD fault does not queue a THP; rmap
 * queues one that loses part of its mapping.  Migration moves a partially
 * mapped THP whole and does not requeue the destination.
 *
 * The tree has no folios.  A folio of the suite is a head page here (see
 * "Folios" below): struct folio is never defined, and each folio function
 * the suite calls is the page function it replaced.
 *
 * This tree's KUnit has no suite-level init and exit, no parameterised
 * cases, no skipping, no deferred actions, no kunit_vm_mmap() and no
 * slow-case attribute, and its binary assertions insist on operands of
 * one type.  What the suite uses of them is built here on what it has:
 * each case sets the suite's fixture up for itself, a parameterised case
 * runs once for the PMD order, a skip fails the case saying so, and
 * deferred actions are KUnit resources, which are released in reverse
 * order as actions are.
 */
#ifndef _MM_TESTS_THP_DEFERRED_SPLIT_KUNIT_H
#define _MM_TESTS_THP_DEFERRED_SPLIT_KUNIT_H

#include <kunit/test.h>
#include <kunit/try-catch.h>
#include <linux/cpumask.h>
#include <linux/fs.h>
#include <linux/gfp.h>
#include <linux/huge_mm.h>
#include <linux/kthread.h>
#include <linux/memcontrol.h>
#include <linux/migrate.h>
#include <linux/mm.h>
#include <linux/mmzone.h>
#include <linux/overflow.h>
#include <linux/page_ref.h>
#include <linux/pagemap.h>
#include <linux/printk.h>
#include <linux/sched.h>
#include <linux/sched/mm.h>
#include <linux/swap.h>
#include <linux/swapops.h>

/* 7.x's typed allocation helper, which the suite uses as the newest tree asks. */
#ifndef kzalloc_obj
#define kzalloc_obj(P, gfp) kzalloc(sizeof(P), gfp)
#endif

/* ---- KUnit of later trees ----------------------------------------------- */

/*
 * This KUnit's binary assertions type-check their operands, and warn on
 * an enum compared with one of its constants (an int) or an unsigned
 * order compared with HPAGE_PMD_ORDER.  Later KUnit (6.1's, for one)
 * compares them as C does; so does this, 5.10's base macro without the
 * type check.
 */
#undef KUNIT_BASE_BINARY_ASSERTION
#define KUNIT_BASE_BINARY_ASSERTION(test, assert_class, ASSERT_CLASS_INIT,	\
				    assert_type, left, op, right, fmt, ...)	\
do {										\
	struct kunit *__thp_ds_test = (test);					\
	typeof(left) __left = (left);						\
	typeof(right) __right = (right);					\
										\
	KUNIT_ASSERTION(__thp_ds_test, __left op __right, assert_class,		\
			ASSERT_CLASS_INIT(__thp_ds_test, assert_type, #op,	\
					  #left, __left, #right, __right),	\
			fmt, ##__VA_ARGS__);					\
} while (0)

/* Later KUnit's pointer checks (6.1 has them), in this KUnit's terms. */
#ifndef KUNIT_ASSERT_NOT_NULL
#define KUNIT_ASSERT_NOT_NULL(test, ptr) KUNIT_ASSERT_PTR_NE(test, ptr, NULL)
#endif
#ifndef KUNIT_EXPECT_NOT_NULL
#define KUNIT_EXPECT_NOT_NULL(test, ptr) KUNIT_EXPECT_PTR_NE(test, ptr, NULL)
#endif
#ifndef KUNIT_EXPECT_NOT_NULL_MSG
#define KUNIT_EXPECT_NOT_NULL_MSG(test, ptr, fmt, ...) \
	KUNIT_EXPECT_PTR_NE_MSG(test, ptr, NULL, fmt, ##__VA_ARGS__)
#endif

/* A test-managed, zeroed array (6.1's kunit_kcalloc()); NULL on overflow. */
static inline void *kunit_kcalloc(struct kunit *test, size_t n, size_t size, gfp_t gfp)
{
	size_t bytes;

	if (check_mul_overflow(n, size, &bytes))
		return NULL;
	return kunit_kzalloc(test, bytes, gfp);
}

/*
 * This KUnit cannot skip a case: a case that would skip (it proved nothing
 * either way) fails one check that says so, "SKIP (this KUnit cannot
 * skip): <reason>".  Like later KUnit's kunit_mark_skipped(), the case
 * goes on; thp_ds_skip() then ends it.
 */
#define kunit_mark_skipped(test, fmt, ...) \
	KUNIT_FAIL(test, "SKIP (this KUnit cannot skip): " fmt, ##__VA_ARGS__)

/* This KUnit keeps no status, only whether the case failed. */
#define thp_ds_failed(test) (!(test)->success)

#define KUNIT_CASE_SLOW(test_name) KUNIT_CASE(test_name)

/*
 * No parameterised cases: a case declared with KUNIT_CASE_PARAM() runs
 * once, without a parameter (thp_ds_param_value() is NULL, and the case
 * takes the PMD order, this tree's only one).  KUNIT_ARRAY_PARAM() still
 * defines the generator later KUnit would call, as 6.1's does, so that the
 * array and its description function stay in use.
 */
#ifndef KUNIT_PARAM_DESC_SIZE
#define KUNIT_PARAM_DESC_SIZE 128
#endif

/* KUNIT_CASE_PARAM(test_name, gen_params): the generator is not called. */
#define KUNIT_CASE_PARAM(test_name, ...) KUNIT_CASE(test_name)

#define KUNIT_ARRAY_PARAM(name, array, get_desc)				\
	static __maybe_unused const void *name##_gen_params(const void *prev,	\
							    char *desc)		\
	{									\
		typeof((array) + 0) __first = (array);				\
		typeof(__first) __next = prev ? (typeof(__first))prev + 1 : __first;	\
										\
		if (__next - __first >= sizeof(array) / sizeof(*__first))	\
			return NULL;						\
		get_desc(__next, desc);						\
		return __next;							\
	}

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

/*
 * Run the latest such action now instead of when the case ends: removing
 * the resource drops the list's reference, putting it drops the one
 * kunit_find_resource() took, and the last put runs the action.
 */
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

/* ---- Folios ------------------------------------------------------------- */

/*
 * A folio of the suite is the head page of a compound page (or an order-0
 * page): page_folio() gives the head.  struct folio stays undefined, so
 * that nothing can use one but these helpers.
 */
struct folio;

static inline struct page *thp_ds_page(struct folio *folio)
{
	return (struct page *)folio;
}

static inline struct folio *page_folio(struct page *page)
{
	return (struct folio *)compound_head(page);
}

static inline struct folio *lru_to_folio(struct list_head *head)
{
	return page_folio(lru_to_page(head));
}

static inline void folio_put(struct folio *folio)
{
	put_page(thp_ds_page(folio));
}

static inline int folio_nid(struct folio *folio)
{
	return page_to_nid(thp_ds_page(folio));
}

static inline unsigned int folio_order(struct folio *folio)
{
	return compound_order(thp_ds_page(folio));
}

static inline unsigned long folio_pfn(struct folio *folio)
{
	return page_to_pfn(thp_ds_page(folio));
}

static inline size_t folio_size(struct folio *folio)
{
	return page_size(thp_ds_page(folio));
}

static inline long folio_nr_pages(struct folio *folio)
{
	return compound_nr(thp_ds_page(folio));
}

static inline bool folio_test_anon(struct folio *folio)
{
	return PageAnon(thp_ds_page(folio));
}

/* As later trees' folio_test_large(): a head page, of any order above 0. */
static inline bool folio_test_large(struct folio *folio)
{
	return PageHead(thp_ds_page(folio));
}

static inline bool folio_test_swapbacked(struct folio *folio)
{
	return PageSwapBacked(thp_ds_page(folio));
}

/* The memcg a page is charged to (an anonymous page's is a plain pointer). */
static inline struct mem_cgroup *folio_memcg(struct folio *folio)
{
	return thp_ds_page(folio)->mem_cgroup;
}

static inline void folio_lock(struct folio *folio)
{
	lock_page(thp_ds_page(folio));
}

static inline void folio_unlock(struct folio *folio)
{
	unlock_page(thp_ds_page(folio));
}

static inline int folio_ref_freeze(struct folio *folio, int count)
{
	return page_ref_freeze(thp_ds_page(folio), count);
}

static inline void folio_ref_unfreeze(struct folio *folio, int count)
{
	page_ref_unfreeze(thp_ds_page(folio), count);
}

/* Drop the isolation's reference and put the page back on the LRU. */
static inline void folio_putback_lru(struct folio *folio)
{
	putback_lru_page(thp_ds_page(folio));
}

/* ---- other interfaces of later trees ------------------------------------ */

/*
 * This tree's migrate_disable() is preempt_disable(), but the lock case
 * sleeps between migrate_disable() and migrate_enable() (it starts a
 * kthread and waits for it), as later trees allow.  What the case needs
 * is that its thread stays on its CPU: pin it there by affinity instead.
 * Only the case's thread uses these, one pinning at a time.
 */
static struct cpumask thp_ds_unpinned;

static inline void thp_ds_migrate_disable(void)
{
	cpumask_copy(&thp_ds_unpinned, current->cpus_ptr);
	set_cpus_allowed_ptr(current, cpumask_of(raw_smp_processor_id()));
}

static inline void thp_ds_migrate_enable(void)
{
	set_cpus_allowed_ptr(current, &thp_ds_unpinned);
}

#define migrate_disable() thp_ds_migrate_disable()
#define migrate_enable() thp_ds_migrate_enable()

/* ---- the tree's deferred split queues ----------------------------------- */

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
 * Reclaim's putback, as shrink_inactive_list() does it: move_pages_to_lru()
 * under the node's LRU lock, which frees the THPs whose last reference it
 * drops and leaves on @list the order-0 pages it dropped, for the caller
 * to uncharge and free.  Returns the pages it put back on the LRU instead
 * (0: everything was freed).
 */
static inline unsigned int thp_ds_putback_and_free(struct list_head *list)
{
	struct page *page = thp_ds_page(lru_to_folio(list));
	struct pglist_data *pgdat = page_pgdat(page);
	struct lruvec *lruvec = mem_cgroup_page_lruvec(page, pgdat);
	unsigned int moved;

	spin_lock_irq(&pgdat->lru_lock);
	moved = move_pages_to_lru(lruvec, list);
	spin_unlock_irq(&pgdat->lru_lock);
	mem_cgroup_uncharge_list(list);
	free_unref_page_list(list);
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
	return page_deferred_list(thp_ds_page(folio));
}

/* A large folio the kernel puts on deferred split queues: a THP by its destructor. */
static inline bool thp_ds_folio_queueable(struct folio *folio)
{
	struct page *page = thp_ds_page(folio);

	return PageHead(page) && page[1].compound_dtor == TRANSHUGE_PAGE_DTOR;
}

/* isolate_lru_page() returns 0 when it took the page off the LRU. */
static inline bool thp_ds_isolate_lru(struct folio *folio)
{
	return isolate_lru_page(thp_ds_page(folio)) == 0;
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
			       MIGRATE_SYNC, MR_SYSCALL);

	if (!list_empty(list))
		putback_movable_pages(list);
	return rc;
}

/* Split a locked large folio, as the kernel's splitters outside the shrinker do. */
static inline int thp_ds_split_folio(struct folio *folio)
{
	return split_huge_page(thp_ds_page(folio));
}

/*
 * The cgroup-v1 swap-out case runs in a live run only (a swap area), where
 * this tree's KUnit runs a suite again from debugfs (patches/0002, 0003).
 */
/* Memory+swap charge held by @memcg's swapped-out pages (MEMCG_SWAP). */
static inline unsigned long thp_ds_memcg_swap(struct mem_cgroup *memcg)
{
	return memcg_page_state(memcg, MEMCG_SWAP);
}

/*
 * Before v5.19 (commit 343f4c49f243, user_mode_thread()) a task forked
 * from a kernel thread stays one until it execs, and the KUnit guest has
 * nothing to exec.
 */
static inline pid_t thp_ds_user_task(int (*fn)(void *), void *arg)
{
	return -EOPNOTSUPP;
}

/*
 * The charge move is here, and exposed (ports/5.10/exposures), but it moves
 * the charges of a user task's mm only, and this tree cannot start one.
 */
static inline const char *thp_ds_charge_move_unsupported(void)
{
	return "cannot start a user task before v5.19 without exec: the move skips kthreads";
}

/* Queue a THP that is still mapped whole, with the kernel's enqueue. */
static inline void thp_ds_queue_mapped(struct folio *folio)
{
	deferred_split_huge_page(thp_ds_page(folio));
}

/* ---- KUnit and page API of this tree ------------------------------------ */

/*
 * No suite-level fixture hooks (struct kunit_suite has no suite_init):
 * each case sets the suite's fixture up for itself
 * (thp_ds_case_fixture()).
 */
#define THP_DS_SUITE_INIT	0

static inline const void *thp_ds_param_value(struct kunit *test)
{
	return NULL;
}

static inline unsigned long thp_ds_folio_memcg_data(struct folio *folio)
{
	return (unsigned long)thp_ds_page(folio)->mem_cgroup;
}

static inline struct list_head *thp_ds_folio_lru(struct folio *folio)
{
	return &thp_ds_page(folio)->lru;
}

/* This KUnit cannot skip (a skip is a failure here, above). */
static inline bool thp_ds_case_skipped(struct kunit *test)
{
	return false;
}

/* Here the PMD fault does not queue a THP; rmap queues a partially unmapped one. */
#define THP_DS_FAULT_QUEUES	0

#endif /* _MM_TESTS_THP_DEFERRED_SPLIT_KUNIT_H */
