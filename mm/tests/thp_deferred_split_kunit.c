// SPDX-License-Identifier: GPL-2.0
/*
 * KUnit tests for the memcg-aware THP deferred split queue.
 *
 * Invariant guarded by every case: a large folio is removed from its
 * deferred split queue, under that queue's lock, before anything clears or
 * changes its memcg.  When the order is broken, the free path looks the
 * queue up from a memcg that is no longer the folio's, locks the wrong
 * queue (the node's), decrements the wrong length, and leaves the folio
 * linked on the memcg queue after it is freed; a later
 * deferred_split_scan() then walks into freed memory.  The bug was fixed
 * (and came back) several times:
 *
 *   commit 7ae88534cdd9 ("mm: move mem_cgroup_uncharge out of __page_cache_release()")
 *   commit 9bcef5973e31 ("mm: memcg: fix split queue list crash when large folio migration")
 *   commit 47932e7048df ("mm: remove folio from deferred split list before uncharging it")
 *   commit be9581ea8c05 ("mm: fix crashes from deferred split racing folio migration")
 *   commit f8f931bba0f9 ("mm/thp: fix deferred split unqueue naming and locking")
 *
 * The cases work on their own folios, charged to a memory cgroup the suite
 * creates for itself, so other THPs in the system (or kswapd) do not touch
 * the queues they check.  The queue implementation differs between trees;
 * thp_deferred_split_kunit.h is this tree's view of it.
 */

#include <kunit/test.h>
#include <linux/cgroup.h>
#include <linux/delay.h>
#include <linux/fs.h>
#include <linux/fs_context.h>
#include <linux/huge_mm.h>
#include <linux/kthread.h>
#include <linux/memcontrol.h>
#include <linux/migrate.h>
#include <linux/mman.h>
#include <linux/mount.h>
#include <linux/namei.h>
#include <linux/page_counter.h>
#include <linux/poison.h>
#include <linux/sched/mm.h>
#include <linux/swap.h>
#include <linux/uaccess.h>

#include "../internal.h"
#include "thp_deferred_split_kunit.h"

/*
 * The suite's cgroups: thp_ds_kunit has the memory controller enabled for
 * its children; thp_ds_kunit/suite is the leaf whose memcg every case
 * charges (cgroup2 lets only leaves hold tasks, and one case moves its
 * thread there); the offline case adds and removes thp_ds_kunit/offline.
 */
#define THP_DS_TOP		"thp_ds_kunit"
#define THP_DS_LEAF		"suite"
#define THP_DS_DYING		"offline"

/* Taints that mean the kernel complained while a case ran. */
#define THP_DS_BAD_TAINTS	(BIT(TAINT_WARN) | BIT(TAINT_BAD_PAGE) | BIT(TAINT_DIE))

/* How long the lock-discipline case keeps the queue locked (see there). */
#define THP_DS_LOCK_HOLD_MS	200
/* Bound for everything else that waits on another CPU or on RCU work. */
#define THP_DS_WAIT_MS		5000
/* How long the reclaim/shrinker race runs (a slow case). */
#define THP_DS_RACE_MS		2000

/*
 * Charges and uncharges pass through per-CPU stocks of up to
 * MEMCG_CHARGE_BATCH pages, so the page counter of a memcg is exact only up
 * to that much per CPU.  Usage checks allow this slack and no more.
 */
static unsigned long thp_ds_usage_slack(void)
{
	return MEMCG_CHARGE_BATCH * num_online_cpus();
}

/* Suite fixture: a cgroup2 mount with memory cgroups of our own. */
static struct {
	struct vfsmount *mnt;
	struct dentry *top;
	struct dentry *dir;
	struct mem_cgroup *memcg;
	unsigned long taints;
} thp_ds;

/* Per-case state: the baselines the case must return to. */
struct thp_ds_ctx {
	int nid;
	struct thp_ds_queue mq;		/* the suite memcg's queue on @nid */
	struct thp_ds_queue nq;		/* the queue of folios without a memcg on @nid */
	long memcg_len;
	long node_len;
	unsigned long usage;
	unsigned long taints;
};

/*
 * Orders to run the queue cases for: PMD order, and mTHP orders where the
 * tree has anonymous mTHP (order 2 is the smallest with a _deferred_list).
 */
static const unsigned int thp_ds_orders[] = { HPAGE_PMD_ORDER, 4, 2 };

static void thp_ds_order_desc(const unsigned int *order, char *desc)
{
	snprintf(desc, KUNIT_PARAM_DESC_SIZE, "order %u", *order);
}

KUNIT_ARRAY_PARAM(thp_ds_order, thp_ds_orders, thp_ds_order_desc);

static unsigned int thp_ds_param_order(struct kunit *test)
{
	return test->param_value ? *(const unsigned int *)test->param_value :
				   HPAGE_PMD_ORDER;
}

/* ---- queue checker ------------------------------------------------------ */

/**
 * enum thp_ds_fault - what thp_ds_walk() found wrong with a queue
 * @THP_DS_OK: list consistent, entry count equals the length counter
 * @THP_DS_BAD_POINTER: an entry's next or prev is NULL or LIST_POISON
 * @THP_DS_BROKEN_LINK: @cur->next->prev (or ->prev->next) is not @cur
 * @THP_DS_TOO_LONG: no way back to the head within the walk bound
 * @THP_DS_DIRECTIONS_DIFFER: forward and backward walks count differently
 * @THP_DS_COUNT_MISMATCH: entries on the list differ from the length counter
 */
enum thp_ds_fault {
	THP_DS_OK,
	THP_DS_BAD_POINTER,
	THP_DS_BROKEN_LINK,
	THP_DS_TOO_LONG,
	THP_DS_DIRECTIONS_DIFFER,
	THP_DS_COUNT_MISMATCH,
};

/* Result of one walk; filled under the queue lock, reported after it. */
struct thp_ds_walk {
	enum thp_ds_fault fault;
	long index;			/* entry where the walk stopped */
	const struct list_head *entry;
	const void *expected;
	const void *found;
	bool backward;
	long forward_count;
	long backward_count;
	long counter;
	bool contains;			/* @wanted is linked on the list */
};

static bool thp_ds_bad_ptr(const void *p)
{
	return !p || p == LIST_POISON1 || p == LIST_POISON2;
}

/*
 * Walk @head one way, checking that each hop is answered by the reverse
 * link.  Stops at the first fault; never takes more than @limit hops, so a
 * cycle that misses the head cannot hang the test.
 */
static bool thp_ds_walk_one_way(const struct list_head *head, bool backward,
				long limit, const struct list_head *wanted,
				struct thp_ds_walk *w, long *count)
{
	const struct list_head *prev = head;
	const struct list_head *cur = backward ? head->prev : head->next;
	long i = 0;

	w->backward = backward;
	while (cur != head) {
		const struct list_head *back;

		if (thp_ds_bad_ptr(cur)) {
			w->fault = THP_DS_BAD_POINTER;
			w->entry = prev;
			w->index = i - 1;
			w->found = cur;
			return false;
		}
		back = backward ? cur->next : cur->prev;
		if (back != prev) {
			w->fault = THP_DS_BROKEN_LINK;
			w->entry = cur;
			w->index = i;
			w->expected = prev;
			w->found = back;
			return false;
		}
		if (cur == wanted)
			w->contains = true;
		if (++i > limit) {
			w->fault = THP_DS_TOO_LONG;
			w->index = i;
			return false;
		}
		prev = cur;
		cur = backward ? cur->prev : cur->next;
	}
	*count = i;
	return true;
}

/**
 * thp_ds_walk() - check a list against its length counter
 * @head: the list head
 * @counter: the length the queue claims
 * @wanted: an entry to look for (may be NULL)
 * @w: the result
 *
 * Pure function of memory: the caller holds whatever lock protects @head.
 * Returns true when the list is consistent and holds @counter entries.
 */
static bool thp_ds_walk(const struct list_head *head, long counter,
			const struct list_head *wanted, struct thp_ds_walk *w)
{
	long limit = max(counter, 0L) + 64;

	memset(w, 0, sizeof(*w));
	w->counter = counter;
	if (!thp_ds_walk_one_way(head, false, limit, wanted, w, &w->forward_count))
		return false;
	if (!thp_ds_walk_one_way(head, true, limit, wanted, w, &w->backward_count))
		return false;
	w->backward = false;
	if (w->forward_count != w->backward_count) {
		w->fault = THP_DS_DIRECTIONS_DIFFER;
		return false;
	}
	if (w->forward_count != counter) {
		w->fault = THP_DS_COUNT_MISMATCH;
		return false;
	}
	return true;
}

static void thp_ds_report_walk(struct kunit *test, const struct thp_ds_queue *q,
			       const struct thp_ds_walk *w)
{
	const char *dir = w->backward ? "backward" : "forward";

	switch (w->fault) {
	case THP_DS_OK:
		break;
	case THP_DS_BAD_POINTER:
		KUNIT_FAIL(test,
			   "%s: walking %s, entry %ld (%p) links to %p (NULL or LIST_POISON): an entry was deleted without its queue's lock, or freed while linked",
			   q->name, dir, w->index, w->entry, w->found);
		break;
	case THP_DS_BROKEN_LINK:
		KUNIT_FAIL(test,
			   "%s: walking %s, entry %ld (%p) points back to %p, expected %p: the list was changed under another lock",
			   q->name, dir, w->index, w->entry, w->found, w->expected);
		break;
	case THP_DS_TOO_LONG:
		KUNIT_FAIL(test,
			   "%s: no way back to the head after %ld entries walking %s (length counter %ld): the list is cyclic or corrupt",
			   q->name, w->index, dir, w->counter);
		break;
	case THP_DS_DIRECTIONS_DIFFER:
		KUNIT_FAIL(test, "%s: %ld entries forward but %ld backward",
			   q->name, w->forward_count, w->backward_count);
		break;
	case THP_DS_COUNT_MISMATCH:
		KUNIT_FAIL(test,
			   "%s: %ld entries linked but length counter is %ld: an unqueue decremented another queue's counter, or unlinked without decrementing",
			   q->name, w->forward_count, w->counter);
		break;
	}
}

/*
 * Walk @q under its own lock and report any inconsistency with full
 * context.  Returns true when the queue is consistent; *@linked tells
 * whether @wanted (a folio's _deferred_list, or NULL) is on it.
 */
static bool thp_ds_check_queue(struct kunit *test, const struct thp_ds_queue *q,
			       const struct list_head *wanted, bool *linked)
{
	struct thp_ds_walk w;
	unsigned long flags;
	bool ok;

	spin_lock_irqsave(q->lock, flags);
	ok = thp_ds_walk(q->head, thp_ds_queue_len(q), wanted, &w);
	spin_unlock_irqrestore(q->lock, flags);
	if (!ok)
		thp_ds_report_walk(test, q, &w);
	if (linked)
		*linked = w.contains;
	return ok;
}

/*
 * On a kernel with the bug, a case leaves a queue whose length counter no
 * longer matches its list (the free decremented the wrong queue).  Once
 * the case has failed on that, set the counter to what the list holds, so
 * that later cases start from a consistent queue and only fail for their
 * own reasons.  A list with broken links is left alone: nothing safe to do.
 */
static void thp_ds_repair_queue(struct kunit *test, const struct thp_ds_queue *q)
{
	struct thp_ds_walk w;
	unsigned long flags;
	bool repaired = false;

	spin_lock_irqsave(q->lock, flags);
	if (!thp_ds_walk(q->head, thp_ds_queue_len(q), NULL, &w) &&
	    w.fault == THP_DS_COUNT_MISMATCH) {
		thp_ds_queue_set_len(q, w.forward_count);
		repaired = true;
	}
	spin_unlock_irqrestore(q->lock, flags);
	if (repaired)
		kunit_info(test, "repaired %s: length counter %ld set to its %ld entries\n",
			   q->name, w.counter, w.forward_count);
}

/**
 * THP_DS_EXPECT_QUEUED() - expect @folio to be (or not be) on queue @q
 * @test: the test
 * @q: struct thp_ds_queue *, checked as a whole by thp_ds_check_queue()
 * @f: struct folio *
 * @queued: whether it should be linked on @q
 *
 * Fails with the queue's name and the folio's state, so that a failure
 * reads as a diagnosis rather than "expected true, got false".
 */
#define THP_DS_EXPECT_QUEUED(test, q, f, queued) do {				\
	struct kunit *__test = (test);						\
	const struct thp_ds_queue *__q = (q);					\
	struct folio *__folio = (f);						\
	bool __linked = false;							\
										\
	thp_ds_check_queue(__test, __q, &__folio->_deferred_list, &__linked);	\
	KUNIT_EXPECT_TRUE_MSG(__test, __linked == (queued),			\
		"folio pfn %#lx (order %u, memcg_data %#lx) is %s %s",		\
		folio_pfn(__folio), folio_order(__folio), __folio->memcg_data,	\
		__linked ? "linked on" : "not linked on", __q->name);		\
} while (0)

/**
 * THP_DS_EXPECT_LEN() - expect a queue's length counter to be @len
 * @test: the test
 * @q: struct thp_ds_queue *
 * @len: expected value
 * @why: what should have changed it, for the failure message
 */
#define THP_DS_EXPECT_LEN(test, q, len, why) do {				\
	const struct thp_ds_queue *__q = (q);					\
	long __len = (len), __found = thp_ds_queue_len(__q);			\
										\
	KUNIT_EXPECT_EQ_MSG(test, __found, __len,				\
		"%s: length counter is %ld, expected %ld %s",			\
		__q->name, __found, __len, why);				\
} while (0)

/* ---- fixture ------------------------------------------------------------ */

static int thp_ds_write(struct vfsmount *mnt, const char *path, const char *s)
{
	struct file *f = file_open_root_mnt(mnt, path, O_WRONLY, 0);
	ssize_t ret;

	if (IS_ERR(f))
		return PTR_ERR(f);
	ret = kernel_write(f, s, strlen(s), &f->f_pos);
	fput(f);
	return ret < 0 ? ret : 0;
}

static void thp_ds_teardown(void)
{
	if (thp_ds.memcg)
		css_put(&thp_ds.memcg->css);
	if (thp_ds.dir) {
		dput(thp_ds.dir);
		thp_ds_rmdir(thp_ds.top, THP_DS_LEAF);
	}
	if (thp_ds.top) {
		dput(thp_ds.top);
		thp_ds_rmdir(thp_ds.mnt->mnt_root, THP_DS_TOP);
	}
	if (thp_ds.mnt)
		kern_unmount(thp_ds.mnt);
	memset(&thp_ds, 0, sizeof(thp_ds));
}

static int thp_ds_suite_init(struct kunit_suite *suite)
{
	struct file_system_type *type;
	struct cgroup_subsys_state *css;
	struct fs_context *fc;
	struct dentry *d;
	int err;

	if (mem_cgroup_disabled() || !has_transparent_hugepage()) {
		pr_err("thp_deferred_split: needs the memory controller and THP at runtime\n");
		return -EOPNOTSUPP;
	}
	thp_ds.taints = get_taint() & THP_DS_BAD_TAINTS;

	type = get_fs_type("cgroup2");
	if (!type)
		return -ENODEV;
	fc = fs_context_for_mount(type, SB_KERNMOUNT);
	put_filesystem(type);
	if (IS_ERR(fc))
		return PTR_ERR(fc);
	thp_ds.mnt = fc_mount(fc);
	put_fs_context(fc);
	if (IS_ERR(thp_ds.mnt)) {
		err = PTR_ERR(thp_ds.mnt);
		thp_ds.mnt = NULL;
		return err;
	}

	err = thp_ds_write(thp_ds.mnt, "cgroup.subtree_control", "+memory");
	if (err)
		goto fail;
	d = thp_ds_mkdir(thp_ds.mnt->mnt_root, THP_DS_TOP);
	if (IS_ERR(d)) {
		err = PTR_ERR(d);
		goto fail;
	}
	thp_ds.top = d;
	err = thp_ds_write(thp_ds.mnt, THP_DS_TOP "/cgroup.subtree_control", "+memory");
	if (err)
		goto fail;
	d = thp_ds_mkdir(thp_ds.top, THP_DS_LEAF);
	if (IS_ERR(d)) {
		err = PTR_ERR(d);
		goto fail;
	}
	thp_ds.dir = d;
	css = css_tryget_online_from_dir(thp_ds.dir, &memory_cgrp_subsys);
	if (IS_ERR(css)) {
		err = PTR_ERR(css);
		goto fail;
	}
	thp_ds.memcg = mem_cgroup_from_css(css);
	return 0;

fail:
	pr_err("thp_deferred_split: cannot set up the suite's memory cgroups: %d\n", err);
	thp_ds_teardown();
	return err;
}

static void thp_ds_suite_exit(struct kunit_suite *suite)
{
	thp_ds_teardown();
}

static int thp_ds_test_init(struct kunit *test)
{
	struct thp_ds_ctx *ctx = kunit_kzalloc(test, sizeof(*ctx), GFP_KERNEL);

	if (!ctx)
		return -ENOMEM;
	ctx->nid = numa_node_id();
	thp_ds_memcg_queue(thp_ds.memcg, ctx->nid, &ctx->mq);
	thp_ds_node_queue(ctx->nid, &ctx->nq);
	ctx->memcg_len = thp_ds_queue_len(&ctx->mq);
	ctx->node_len = thp_ds_queue_len(&ctx->nq);
	ctx->usage = page_counter_read(&thp_ds.memcg->memory);
	ctx->taints = get_taint() & THP_DS_BAD_TAINTS;
	test->priv = ctx;
	return 0;
}

/*
 * Every case must leave the queues, the memcg's usage and the taint flags
 * as it found them: a case that leaks a queued folio or a skewed counter
 * fails here, instead of making a later case fail for no visible reason.
 * A case that already failed has said what went wrong; then its queues are
 * only repaired, so that the next case starts clean.
 */
static void thp_ds_test_exit(struct kunit *test)
{
	struct thp_ds_ctx *ctx = test->priv;
	bool report = test->status != KUNIT_FAILURE;
	struct thp_ds_queue *mq = &ctx->mq, *nq = &ctx->nq;
	unsigned long usage;

	if (report) {
		THP_DS_EXPECT_LEN(test, nq, ctx->node_len, "after the case (residue)");
		KUNIT_EXPECT_EQ_MSG(test, get_taint() & THP_DS_BAD_TAINTS, ctx->taints,
				    "the kernel warned or reported a bad page during the case (see the log)");
	}
	thp_ds_repair_queue(test, nq);
	if (!thp_ds.dir)
		return;		/* the teardown case removed the suite's memcg */

	if (report) {
		thp_ds_check_queue(test, mq, NULL, NULL);
		THP_DS_EXPECT_LEN(test, mq, ctx->memcg_len, "after the case (residue)");
		usage = page_counter_read(&thp_ds.memcg->memory);
		KUNIT_EXPECT_LE_MSG(test, abs_diff(usage, ctx->usage), thp_ds_usage_slack(),
				    "memcg %llu usage went from %lu to %lu pages: a folio was leaked or uncharged twice",
				    (u64)mem_cgroup_id(thp_ds.memcg), ctx->usage, usage);
	}
	thp_ds_repair_queue(test, mq);
}

/* Allocate an order-@order folio charged to @memcg; skip if memory is short. */
static struct folio *thp_ds_alloc(struct kunit *test, unsigned int order,
				  struct mem_cgroup *memcg)
{
	struct folio *folio = folio_alloc(GFP_KERNEL | __GFP_NOWARN, order);
	int err;

	if (!folio)
		kunit_skip(test, "could not allocate an order-%u folio", order);
	err = thp_ds_charge(folio, memcg);
	if (err) {
		folio_put(folio);
		kunit_skip(test, "could not charge an order-%u folio: %d", order, err);
	}
	return folio;
}

/* Allocate, charge to the suite's memcg, and queue for deferred split. */
static struct folio *thp_ds_alloc_queued(struct kunit *test, unsigned int order)
{
	struct folio *folio = thp_ds_alloc(test, order, thp_ds.memcg);

	/* partially_mapped: the shrinker keeps a folio it cannot split queued */
	deferred_split_folio(folio, true);
	return folio;
}

/*
 * Put @folio on the LRU and isolate it again, as reclaim does before
 * shrink_folio_list()/shrink_active_list(); on success the folio holds the
 * isolation reference only (the caller's reference is dropped) and is on
 * @list.  On failure the caller still owns its reference.
 */
static bool thp_ds_isolate_for_reclaim(struct folio *folio, struct list_head *list)
{
	folio_add_lru(folio);
	lru_add_drain();
	if (!folio_isolate_lru(folio))
		return false;
	folio_put(folio);
	list_add(&folio->lru, list);
	return true;
}

/* ---- cases -------------------------------------------------------------- */

/*
 * The fixture itself: the suite's memcg is a real, online child of root,
 * and a folio charged to it records it.  Without a child memcg the memcg
 * queue and the node queue can be one list (root on list_lru trees), and
 * every other case would prove nothing.
 */
static void thp_ds_test_charge(struct kunit *test)
{
	unsigned int order = thp_ds_param_order(test);
	struct folio *folio;

	KUNIT_ASSERT_NOT_NULL(test, thp_ds.memcg);
	KUNIT_EXPECT_FALSE(test, mem_cgroup_is_root(thp_ds.memcg));
	KUNIT_EXPECT_TRUE(test, mem_cgroup_online(thp_ds.memcg));

	folio = thp_ds_alloc(test, order, thp_ds.memcg);
	rcu_read_lock();
	KUNIT_EXPECT_PTR_EQ_MSG(test, folio_memcg(folio), thp_ds.memcg,
				"order-%u folio not charged to the suite's memcg %llu", order,
				(u64)mem_cgroup_id(thp_ds.memcg));
	rcu_read_unlock();
	KUNIT_EXPECT_GE(test, page_counter_read(&thp_ds.memcg->memory) + thp_ds_usage_slack(),
			((struct thp_ds_ctx *)test->priv)->usage + folio_nr_pages(folio));
	folio_put(folio);
}

/*
 * deferred_split_folio() must queue a folio on the queue of its own memcg
 * (for its node), never on the node queue: the memcg-aware shrinker only
 * finds it there.  commit 87eaceb3faa5 ("mm: thp: make deferred split
 * shrinker memcg aware").
 */
static void thp_ds_test_enqueue(struct kunit *test)
{
	struct thp_ds_ctx *ctx = test->priv;
	struct thp_ds_queue *mq = &ctx->mq, *nq = &ctx->nq;
	struct folio *folio;

	folio = thp_ds_alloc_queued(test, thp_ds_param_order(test));

	THP_DS_EXPECT_QUEUED(test, mq, folio, true);
	THP_DS_EXPECT_QUEUED(test, nq, folio, false);
	THP_DS_EXPECT_LEN(test, mq, ctx->memcg_len + 1, "after deferred_split_folio()");
	THP_DS_EXPECT_LEN(test, nq, ctx->node_len, "(the folio is charged to a memcg)");
	thp_ds_check_queue(test, nq, NULL, NULL);

	folio_put(folio);
}

/*
 * The last folio_put() of a queued folio must unqueue it from its memcg's
 * queue before uncharging it.  commit f8f931bba0f9 ("mm/thp: fix deferred
 * split unqueue naming and locking").
 */
static void thp_ds_test_free_put(struct kunit *test)
{
	struct thp_ds_ctx *ctx = test->priv;
	struct thp_ds_queue *mq = &ctx->mq, *nq = &ctx->nq;
	struct folio *folio;

	folio = thp_ds_alloc_queued(test, thp_ds_param_order(test));
	THP_DS_EXPECT_LEN(test, mq, ctx->memcg_len + 1, "after deferred_split_folio()");

	folio_put(folio);

	THP_DS_EXPECT_LEN(test, mq, ctx->memcg_len, "after the last folio_put()");
	THP_DS_EXPECT_LEN(test, nq, ctx->node_len, "(the folio was never on it)");
	thp_ds_check_queue(test, mq, NULL, NULL);
	thp_ds_check_queue(test, nq, NULL, NULL);
}

/*
 * The seed's path: reclaim drops the last reference of an isolated folio
 * in move_folios_to_lru(), which must unqueue it before the batched
 * uncharge.  4.19's move_active_pages_to_lru() uncharged first; the free
 * then locked the node queue, decremented its length, and left the folio
 * on the memcg queue for deferred_split_scan() to crash on.
 * commit 7ae88534cdd9 ("mm: move mem_cgroup_uncharge out of
 * __page_cache_release()"), commit 47932e7048df ("mm: remove folio from
 * deferred split list before uncharging it").
 */
static void thp_ds_test_free_reclaim(struct kunit *test)
{
	struct thp_ds_ctx *ctx = test->priv;
	struct thp_ds_queue *mq = &ctx->mq, *nq = &ctx->nq;
	struct folio *folio;
	LIST_HEAD(list);

	folio = thp_ds_alloc_queued(test, thp_ds_param_order(test));
	KUNIT_ASSERT_TRUE(test, thp_ds_isolate_for_reclaim(folio, &list));
	THP_DS_EXPECT_QUEUED(test, mq, folio, true);

	thp_ds_putback_and_free(&list);

	THP_DS_EXPECT_LEN(test, mq, ctx->memcg_len,
			  "after move_folios_to_lru() freed the folio");
	THP_DS_EXPECT_LEN(test, nq, ctx->node_len,
			  "(the folio was never on it: was it unqueued from here?)");
	thp_ds_check_queue(test, mq, NULL, NULL);
	thp_ds_check_queue(test, nq, NULL, NULL);
}

/*
 * Start @fn in a kthread bound to a CPU other than the caller's.  The
 * caller is pinned with migrate_disable() first (and unpins when done), so
 * the two cannot end up sharing a CPU, where a lock held with interrupts
 * off would keep the other side from running at all.
 */
static struct task_struct *thp_ds_start_elsewhere(int (*fn)(void *), void *data,
						  const char *name)
{
	int cpu = cpumask_any_but(cpu_online_mask, smp_processor_id());
	struct task_struct *task;

	if (cpu >= nr_cpu_ids)
		return ERR_PTR(-ENODEV);
	task = kthread_create(fn, data, "%s", name);
	if (IS_ERR(task))
		return task;
	get_task_struct(task);
	kthread_bind(task, cpu);
	wake_up_process(task);
	return task;
}

static void thp_ds_need_two_cpus(struct kunit *test)
{
	if (num_online_cpus() < 2)
		kunit_skip(test, "needs two online CPUs (QEMU -smp 2)");
}

struct thp_ds_freer {
	struct list_head list;
	struct completion started;
	struct completion done;
	bool go;
	bool finished;
};

/*
 * Runs on the other CPU: waits (bounded) for the test to hold the queue
 * lock, then frees through the reclaim path.  It polls instead of sleeping
 * so that nothing has to wake it while the test holds a spinlock.
 */
static int thp_ds_freer_fn(void *data)
{
	struct thp_ds_freer *f = data;
	unsigned long deadline = jiffies + msecs_to_jiffies(THP_DS_WAIT_MS);

	complete(&f->started);
	while (!READ_ONCE(f->go) && time_before(jiffies, deadline))
		cpu_relax();
	thp_ds_putback_and_free(&f->list);
	WRITE_ONCE(f->finished, true);
	complete(&f->done);
	return 0;
}

/*
 * Lock discipline: the reclaim-path free of a folio on the memcg queue must
 * take that queue's lock.  While this CPU holds it, the free on another CPU
 * has to wait; if it finishes anyway, it unlinked the folio under some
 * other lock (the node queue's, when the memcg was cleared first).
 *
 * Timing: the lock is held for THP_DS_LOCK_HOLD_MS after the freer was
 * told to go, long enough for a freer that does not wait to finish many
 * times over; a slow freer can only make this case pass, never fail.
 * Every wait is bounded.
 */
static void thp_ds_test_free_reclaim_lock(struct kunit *test)
{
	struct thp_ds_ctx *ctx = test->priv;
	struct thp_ds_queue *mq = &ctx->mq, *nq = &ctx->nq;
	struct task_struct *task;
	struct thp_ds_freer *f;
	struct folio *folio;
	unsigned long flags;
	unsigned long left;
	bool finished_early;
	u64 deadline;

	thp_ds_need_two_cpus(test);
	f = kunit_kzalloc(test, sizeof(*f), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, f);
	INIT_LIST_HEAD(&f->list);
	init_completion(&f->started);
	init_completion(&f->done);
	folio = thp_ds_alloc_queued(test, HPAGE_PMD_ORDER);
	KUNIT_ASSERT_TRUE(test, thp_ds_isolate_for_reclaim(folio, &f->list));

	migrate_disable();
	task = thp_ds_start_elsewhere(thp_ds_freer_fn, f, "thp_ds_freer");
	left = IS_ERR(task) ? 0 :
	       wait_for_completion_timeout(&f->started, msecs_to_jiffies(THP_DS_WAIT_MS));
	if (!left) {
		migrate_enable();
		KUNIT_FAIL(test, "the freer thread did not start within %d ms (%d)",
			   THP_DS_WAIT_MS, PTR_ERR_OR_ZERO(task));
		/* a freer that never started still owns the folio: let it free it */
		if (!IS_ERR(task)) {
			WRITE_ONCE(f->go, true);
			wait_for_completion_timeout(&f->done, msecs_to_jiffies(THP_DS_WAIT_MS));
			kthread_stop(task);
			put_task_struct(task);
		}
		return;
	}

	spin_lock_irqsave(mq->lock, flags);
	WRITE_ONCE(f->go, true);
	deadline = ktime_get_ns() + THP_DS_LOCK_HOLD_MS * NSEC_PER_MSEC;
	while (!READ_ONCE(f->finished) && ktime_get_ns() < deadline)
		cpu_relax();
	finished_early = READ_ONCE(f->finished);
	spin_unlock_irqrestore(mq->lock, flags);
	migrate_enable();

	KUNIT_EXPECT_FALSE_MSG(test, finished_early,
			       "reclaim-path free finished while %s's lock was held: the folio was unlinked under another lock (%s's?)",
			       mq->name, nq->name);
	left = wait_for_completion_timeout(&f->done, msecs_to_jiffies(THP_DS_WAIT_MS));
	KUNIT_EXPECT_GT_MSG(test, left, 0UL,
			    "reclaim-path free did not finish within %d ms after the lock was released",
			    THP_DS_WAIT_MS);
	kthread_stop(task);
	put_task_struct(task);

	THP_DS_EXPECT_LEN(test, mq, ctx->memcg_len, "after the free");
	THP_DS_EXPECT_LEN(test, nq, ctx->node_len, "after the free");
	thp_ds_check_queue(test, mq, NULL, NULL);
}

/*
 * The deferred split shrinker, driven through shrink_slab() for the suite's
 * memcg, must take a folio it cannot split (no mapping: split fails) off
 * the memcg queue under that queue's lock and put it back on the same
 * queue, with the length counter right.  commit e66f3185fa04 ("mm/thp: fix
 * deferred split queue not partially_mapped").
 */
static void thp_ds_test_shrinker_requeue(struct kunit *test)
{
	struct thp_ds_ctx *ctx = test->priv;
	struct thp_ds_queue *mq = &ctx->mq, *nq = &ctx->nq;
	struct folio *folio;

	folio = thp_ds_alloc_queued(test, HPAGE_PMD_ORDER);

	thp_ds_shrink(thp_ds.memcg, ctx->nid);

	THP_DS_EXPECT_QUEUED(test, mq, folio, true);
	THP_DS_EXPECT_QUEUED(test, nq, folio, false);
	THP_DS_EXPECT_LEN(test, mq, ctx->memcg_len + 1,
			  "after the shrinker put back a folio it could not split");
	KUNIT_EXPECT_TRUE(test, folio_test_partially_mapped(folio));
	KUNIT_EXPECT_EQ(test, folio_ref_count(folio), 1);

	folio_put(folio);
}

/* Move the calling task into the cgroup at @path (relative to the mount). */
static int thp_ds_enter_cgroup(const char *procs)
{
	char pid[16];

	snprintf(pid, sizeof(pid), "%d", task_tgid_nr(current));
	return thp_ds_write(thp_ds.mnt, procs, pid);
}

/*
 * The kernel's own path, end to end: a THP faulted into an anonymous
 * mapping of a task in the suite's memcg is queued by the fault path and by
 * rmap when part of it is unmapped; the shrinker for that memcg must then
 * split it and take it off the memcg queue, leaving the counter right.
 * commit 87eaceb3faa5 ("mm: thp: make deferred split shrinker memcg
 * aware").
 */
static void thp_ds_test_shrinker_split(struct kunit *test)
{
	struct thp_ds_ctx *ctx = test->priv;
	unsigned long addr, huge, len = 2 * HPAGE_PMD_SIZE;
	struct thp_ds_queue *mq = &ctx->mq, *nq = &ctx->nq;
	struct list_head *entry;
	struct folio *folio;
	struct page *page;
	bool linked;
	int err;

	err = thp_ds_enter_cgroup(THP_DS_TOP "/" THP_DS_LEAF "/cgroup.procs");
	if (err)
		kunit_skip(test, "cannot move the test thread into the suite's cgroup: %d", err);
	addr = kunit_vm_mmap(test, NULL, 0, len, PROT_READ | PROT_WRITE,
			     MAP_PRIVATE | MAP_ANONYMOUS, 0);
	if (IS_ERR_VALUE(addr) || !addr) {
		thp_ds_enter_cgroup("cgroup.procs");
		kunit_skip(test, "cannot map anonymous memory in a test mm");
	}
	huge = ALIGN(addr, HPAGE_PMD_SIZE);

	if (put_user(1, (char __user *)huge) ||
	    get_user_pages_fast(huge, 1, FOLL_WRITE, &page) != 1) {
		thp_ds_enter_cgroup("cgroup.procs");
		kunit_skip(test, "cannot fault in the test mapping");
	}
	folio = page_folio(page);
	if (folio_order(folio) != HPAGE_PMD_ORDER) {
		put_page(page);
		vm_munmap(addr, len);
		thp_ds_enter_cgroup("cgroup.procs");
		kunit_skip(test, "the fault did not map a PMD-sized THP (order %u)",
			   folio_order(folio));
	}
	rcu_read_lock();
	KUNIT_EXPECT_PTR_EQ(test, folio_memcg(folio), thp_ds.memcg);
	rcu_read_unlock();

	/* rmap queues a THP that loses part of its mapping */
	vm_munmap(huge + PAGE_SIZE, PAGE_SIZE);
	KUNIT_EXPECT_TRUE(test, folio_test_partially_mapped(folio));
	THP_DS_EXPECT_QUEUED(test, mq, folio, true);
	THP_DS_EXPECT_LEN(test, mq, ctx->memcg_len + 1, "after a partial unmap");
	entry = &folio->_deferred_list;
	put_page(page);		/* the shrinker cannot split a pinned folio */

	thp_ds_shrink(thp_ds.memcg, ctx->nid);

	THP_DS_EXPECT_LEN(test, mq, ctx->memcg_len, "after the shrinker split the THP");
	THP_DS_EXPECT_LEN(test, nq, ctx->node_len, "(the THP was never on it)");
	thp_ds_check_queue(test, mq, entry, &linked);
	KUNIT_EXPECT_FALSE_MSG(test, linked, "the split THP's list entry is still on %s",
			       mq->name);
	if (get_user_pages_fast(huge, 1, 0, &page) == 1) {
		KUNIT_EXPECT_FALSE_MSG(test, folio_test_large(page_folio(page)),
				       "the partially mapped THP was not split");
		put_page(page);
	}

	vm_munmap(addr, len);
	lru_add_drain_all();
	KUNIT_EXPECT_EQ(test, thp_ds_enter_cgroup("cgroup.procs"), 0);
}

/*
 * Migration of a queued folio through migrate_folio(): the source must
 * leave its memcg queue (unqueued while its refcount is frozen) before
 * mem_cgroup_migrate() clears its memcg.  migrate_folio() itself does not
 * requeue the destination (migrate_folio_move() does), so the destination
 * is expected unqueued and charged to the same memcg.
 * commit 9bcef5973e31 ("mm: memcg: fix split queue list crash when large
 * folio migration"), commit be9581ea8c05 ("mm: fix crashes from deferred
 * split racing folio migration").
 */
static void thp_ds_test_migrate(struct kunit *test)
{
	struct thp_ds_ctx *ctx = test->priv;
	struct thp_ds_queue *mq = &ctx->mq, *nq = &ctx->nq;
	struct folio *src, *dst;
	int rc;

	src = thp_ds_alloc_queued(test, HPAGE_PMD_ORDER);
	dst = folio_alloc(GFP_KERNEL | __GFP_NOWARN, HPAGE_PMD_ORDER);
	if (!dst) {
		folio_put(src);
		kunit_skip(test, "could not allocate the destination folio");
	}

	KUNIT_ASSERT_TRUE(test, folio_trylock(src));
	KUNIT_ASSERT_TRUE(test, folio_trylock(dst));
	rc = migrate_folio(NULL, dst, src, MIGRATE_SYNC);
	folio_unlock(dst);
	folio_unlock(src);
	KUNIT_EXPECT_EQ(test, rc, 0);

	KUNIT_EXPECT_EQ_MSG(test, src->memcg_data, 0UL,
			    "the source folio kept its memcg after migration");
	THP_DS_EXPECT_QUEUED(test, mq, src, false);
	THP_DS_EXPECT_QUEUED(test, mq, dst, false);
	THP_DS_EXPECT_LEN(test, mq, ctx->memcg_len, "after migrating the queued folio");
	THP_DS_EXPECT_LEN(test, nq, ctx->node_len, "after migrating the queued folio");
	rcu_read_lock();
	KUNIT_EXPECT_PTR_EQ(test, folio_memcg(dst), thp_ds.memcg);
	rcu_read_unlock();

	folio_put(src);
	folio_put(dst);
	THP_DS_EXPECT_LEN(test, mq, ctx->memcg_len, "after freeing both folios");
	THP_DS_EXPECT_LEN(test, nq, ctx->node_len, "after freeing both folios");
}

struct thp_ds_scanner {
	int nid;
	unsigned long scans;
};

/* The other side of the race: the shrinker scanning the suite's memcg queue. */
static int thp_ds_scanner_fn(void *data)
{
	struct thp_ds_scanner *sc = data;

	while (!kthread_should_stop()) {
		thp_ds_shrink(thp_ds.memcg, sc->nid);
		sc->scans++;
		cond_resched();
	}
	return 0;
}

/*
 * The seed's crash, as a race: reclaim frees queued THPs through
 * move_folios_to_lru() on this CPU while the deferred split shrinker scans
 * the same memcg queue on the other.  If the free unlinks a folio under
 * another lock than the memcg queue's, the scan's list operations and the
 * free's collide; with CONFIG_DEBUG_LIST the kernel reports the corruption
 * (a warning, which the case's exit catches), and the checker finds the
 * queue's links or counter broken.  A patched kernel stays silent.
 *
 * Timing: runs for THP_DS_RACE_MS; a bug that the race does not hit in
 * that time still shows in the counters, which every iteration moves.
 */
static void thp_ds_test_race_reclaim_scan(struct kunit *test)
{
	struct thp_ds_ctx *ctx = test->priv;
	struct thp_ds_scanner *sc;
	struct thp_ds_queue *mq = &ctx->mq, *nq = &ctx->nq;
	struct task_struct *task;
	unsigned long frees = 0;
	unsigned long deadline;

	thp_ds_need_two_cpus(test);
	sc = kunit_kzalloc(test, sizeof(*sc), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, sc);
	sc->nid = ctx->nid;

	migrate_disable();
	task = thp_ds_start_elsewhere(thp_ds_scanner_fn, sc, "thp_ds_scanner");
	if (IS_ERR(task)) {
		migrate_enable();
		KUNIT_FAIL(test, "cannot start the scanner thread: %ld", PTR_ERR(task));
		return;
	}

	deadline = jiffies + msecs_to_jiffies(THP_DS_RACE_MS);
	while (time_before(jiffies, deadline)) {
		struct folio *folio = folio_alloc(GFP_KERNEL | __GFP_NOWARN, HPAGE_PMD_ORDER);
		LIST_HEAD(list);

		if (!folio)
			break;
		if (thp_ds_charge(folio, thp_ds.memcg)) {
			folio_put(folio);
			break;
		}
		deferred_split_folio(folio, true);
		if (!thp_ds_isolate_for_reclaim(folio, &list)) {
			folio_put(folio);
			break;
		}
		thp_ds_putback_and_free(&list);
		frees++;
		cond_resched();
	}
	kthread_stop(task);
	put_task_struct(task);
	migrate_enable();
	lru_add_drain_all();

	kunit_info(test, "%lu reclaim-path frees against %lu shrinker scans in %d ms\n",
		   frees, sc->scans, THP_DS_RACE_MS);
	KUNIT_EXPECT_GT(test, frees, 0UL);
	KUNIT_EXPECT_GT(test, sc->scans, 0UL);
	thp_ds_check_queue(test, mq, NULL, NULL);
	thp_ds_check_queue(test, nq, NULL, NULL);
	THP_DS_EXPECT_LEN(test, mq, ctx->memcg_len, "after the race");
	THP_DS_EXPECT_LEN(test, nq, ctx->node_len, "after the race");
}

/* Wait (bounded) until @memcg's offline work has run. */
static bool thp_ds_wait_offline(struct mem_cgroup *memcg)
{
	int waited;

	for (waited = 0; waited < THP_DS_WAIT_MS; waited += 20) {
		if (!(READ_ONCE(memcg->css.flags) & CSS_ONLINE))
			return true;
		msleep(20);
	}
	return false;
}

/*
 * Removing a memcg that still has a queued THP: the folio must stay on a
 * queue that a later free finds under the right lock.  Trees without
 * reparenting keep it on the dying memcg's queue; trees that reparent the
 * split queue (6.19+) move it to the parent's queue.  Either way the free
 * afterwards must unlink it from there and leave every counter right.
 */
static void thp_ds_test_memcg_offline(struct kunit *test)
{
	struct thp_ds_ctx *ctx = test->priv;
	struct thp_ds_queue dq, pq, *nq = &ctx->nq;
	struct cgroup_subsys_state *css;
	struct mem_cgroup *dying;
	struct dentry *dir;
	struct folio *folio;
	long parent_len;

	dir = thp_ds_mkdir(thp_ds.top, THP_DS_DYING);
	if (IS_ERR(dir))
		kunit_skip(test, "could not create the memcg to take offline: %ld", PTR_ERR(dir));
	css = css_tryget_online_from_dir(dir, &memory_cgrp_subsys);
	dput(dir);
	KUNIT_ASSERT_FALSE(test, IS_ERR(css));
	dying = mem_cgroup_from_css(css);

	folio = thp_ds_alloc(test, HPAGE_PMD_ORDER, dying);
	deferred_split_folio(folio, true);
	thp_ds_memcg_queue(dying, ctx->nid, &dq);
	thp_ds_memcg_queue(parent_mem_cgroup(dying), ctx->nid, &pq);
	parent_len = thp_ds_queue_len(&pq);
	THP_DS_EXPECT_QUEUED(test, &dq, folio, true);

	KUNIT_ASSERT_EQ(test, thp_ds_rmdir(thp_ds.top, THP_DS_DYING), 0);
	KUNIT_ASSERT_TRUE_MSG(test, thp_ds_wait_offline(dying),
			      "memcg %llu not offline %d ms after rmdir",
			      (u64)mem_cgroup_id(dying), THP_DS_WAIT_MS);

	if (thp_ds_reparents_split_queue()) {
		THP_DS_EXPECT_QUEUED(test, &pq, folio, true);
		THP_DS_EXPECT_LEN(test, &pq, parent_len + 1, "after reparenting");
	} else {
		THP_DS_EXPECT_QUEUED(test, &dq, folio, true);
		THP_DS_EXPECT_LEN(test, &dq, 1, "(the dying memcg keeps its queue)");
	}
	THP_DS_EXPECT_QUEUED(test, nq, folio, false);

	folio_put(folio);

	THP_DS_EXPECT_LEN(test, &pq, parent_len, "after freeing the folio");
	if (!thp_ds_reparents_split_queue())
		THP_DS_EXPECT_LEN(test, &dq, 0, "after freeing the folio");
	THP_DS_EXPECT_LEN(test, nq, ctx->node_len, "after freeing the folio");
	thp_ds_check_queue(test, &pq, NULL, NULL);
	css_put(css);
}

/*
 * Runs last: everything the suite charged and queued is gone, the kernel
 * did not warn at any point of the suite, and removing the suite's cgroup
 * takes its memcg offline (nothing pins it).  suite_exit removes the rest.
 */
static void thp_ds_test_no_residue(struct kunit *test)
{
	struct thp_ds_ctx *ctx = test->priv;
	struct thp_ds_queue *mq = &ctx->mq;
	struct mem_cgroup *memcg = thp_ds.memcg;

	KUNIT_EXPECT_TRUE_MSG(test, list_empty(mq->head), "%s still holds folios", mq->name);
	THP_DS_EXPECT_LEN(test, mq, 0, "at the end of the suite");
	KUNIT_EXPECT_LE_MSG(test, page_counter_read(&memcg->memory), thp_ds_usage_slack(),
			    "memcg %llu still has %lu pages charged at the end of the suite",
			    (u64)mem_cgroup_id(memcg), page_counter_read(&memcg->memory));
	KUNIT_EXPECT_EQ_MSG(test, get_taint() & THP_DS_BAD_TAINTS, thp_ds.taints,
			    "the kernel warned or reported a bad page during the suite (see the log)");

	dput(thp_ds.dir);
	thp_ds.dir = NULL;
	KUNIT_ASSERT_EQ(test, thp_ds_rmdir(thp_ds.top, THP_DS_LEAF), 0);
	KUNIT_EXPECT_TRUE_MSG(test, thp_ds_wait_offline(memcg),
			      "memcg %llu not offline %d ms after rmdir",
			      (u64)mem_cgroup_id(memcg), THP_DS_WAIT_MS);
}

/* ---- checker self-tests ------------------------------------------------- */

/*
 * The checker must see each kind of damage it claims to see.  These cases
 * build small lists by hand:
 *
 *   head <-> a <-> b <-> c <-> head
 *
 * and break one link at a time.
 */
static void thp_ds_test_checker(struct kunit *test)
{
	struct list_head head, a, b, c, stray;
	struct thp_ds_walk w;

	INIT_LIST_HEAD(&head);
	list_add_tail(&a, &head);
	list_add_tail(&b, &head);
	list_add_tail(&c, &head);

	KUNIT_EXPECT_TRUE(test, thp_ds_walk(&head, 3, &b, &w));
	KUNIT_EXPECT_TRUE(test, w.contains);
	KUNIT_EXPECT_TRUE(test, thp_ds_walk(&head, 3, &stray, &w));
	KUNIT_EXPECT_FALSE(test, w.contains);

	/* counter says 1, list holds 3 (the seed: counter of the wrong queue) */
	KUNIT_EXPECT_FALSE(test, thp_ds_walk(&head, 1, NULL, &w));
	KUNIT_EXPECT_EQ(test, w.fault, THP_DS_COUNT_MISMATCH);
	KUNIT_EXPECT_EQ(test, w.forward_count, 3L);

	/* counter wrapped below zero on an empty list */
	INIT_LIST_HEAD(&stray);
	KUNIT_EXPECT_FALSE(test, thp_ds_walk(&stray, -1, NULL, &w));
	KUNIT_EXPECT_EQ(test, w.fault, THP_DS_COUNT_MISMATCH);

	/* b deleted under another lock while a still points to it */
	b.prev = LIST_POISON2;
	KUNIT_EXPECT_FALSE(test, thp_ds_walk(&head, 3, NULL, &w));
	KUNIT_EXPECT_EQ(test, w.fault, THP_DS_BROKEN_LINK);
	KUNIT_EXPECT_PTR_EQ(test, w.entry, (const struct list_head *)&b);
	KUNIT_EXPECT_PTR_EQ(test, w.expected, (const void *)&a);
	b.prev = &a;

	/* a freed entry with next poisoned */
	b.next = LIST_POISON1;
	KUNIT_EXPECT_FALSE(test, thp_ds_walk(&head, 3, NULL, &w));
	KUNIT_EXPECT_EQ(test, w.fault, THP_DS_BAD_POINTER);
	b.next = &c;

	/*
	 * a ring a -> b -> c -> a that the head still points into: caught
	 * where the ring leaves the head (a->prev is c, not the head)
	 */
	c.next = &a;
	a.prev = &c;
	KUNIT_EXPECT_FALSE(test, thp_ds_walk(&head, 3, NULL, &w));
	KUNIT_EXPECT_EQ(test, w.fault, THP_DS_BROKEN_LINK);
	KUNIT_EXPECT_PTR_EQ(test, w.entry, (const struct list_head *)&a);
	KUNIT_EXPECT_PTR_EQ(test, w.found, (const void *)&c);
}

/* A list far longer than its counter: the walk gives up instead of running on. */
static void thp_ds_test_checker_bound(struct kunit *test)
{
	const int n = 100;
	struct list_head *entries, head;
	struct thp_ds_walk w;
	int i;

	entries = kunit_kcalloc(test, n, sizeof(*entries), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, entries);
	INIT_LIST_HEAD(&head);
	for (i = 0; i < n; i++)
		list_add_tail(&entries[i], &head);

	KUNIT_EXPECT_TRUE(test, thp_ds_walk(&head, n, NULL, &w));
	KUNIT_EXPECT_FALSE(test, thp_ds_walk(&head, 1, NULL, &w));
	KUNIT_EXPECT_EQ(test, w.fault, THP_DS_TOO_LONG);
}

static struct kunit_case thp_ds_test_cases[] = {
	KUNIT_CASE(thp_ds_test_checker),
	KUNIT_CASE(thp_ds_test_checker_bound),
	KUNIT_CASE_PARAM(thp_ds_test_charge, thp_ds_order_gen_params),
	KUNIT_CASE_PARAM(thp_ds_test_enqueue, thp_ds_order_gen_params),
	KUNIT_CASE_PARAM(thp_ds_test_free_put, thp_ds_order_gen_params),
	KUNIT_CASE_PARAM(thp_ds_test_free_reclaim, thp_ds_order_gen_params),
	KUNIT_CASE(thp_ds_test_free_reclaim_lock),
	KUNIT_CASE(thp_ds_test_shrinker_requeue),
	KUNIT_CASE(thp_ds_test_shrinker_split),
	KUNIT_CASE(thp_ds_test_migrate),
	KUNIT_CASE(thp_ds_test_memcg_offline),
	KUNIT_CASE(thp_ds_test_no_residue),
	{}
};

static struct kunit_suite thp_ds_test_suite = {
	.name = "thp_deferred_split",
	.suite_init = thp_ds_suite_init,
	.suite_exit = thp_ds_suite_exit,
	.init = thp_ds_test_init,
	.exit = thp_ds_test_exit,
	.test_cases = thp_ds_test_cases,
};

/*
 * The race gets a suite of its own: on a kernel with the bug it can crash
 * the kernel the way the seed did (deferred_split_scan() following a freed
 * folio's list), and then no later case would report.  Running it after
 * the deterministic cases keeps their results whatever happens here.
 */
static struct kunit_case thp_ds_race_cases[] = {
	KUNIT_CASE_SLOW(thp_ds_test_race_reclaim_scan),
	{}
};

static struct kunit_suite thp_ds_race_suite = {
	.name = "thp_deferred_split_race",
	.suite_init = thp_ds_suite_init,
	.suite_exit = thp_ds_suite_exit,
	.init = thp_ds_test_init,
	.exit = thp_ds_test_exit,
	.test_cases = thp_ds_race_cases,
};

kunit_test_suites(&thp_ds_test_suite, &thp_ds_race_suite);

MODULE_DESCRIPTION("KUnit tests for the memcg-aware THP deferred split queue");
MODULE_LICENSE("GPL");
