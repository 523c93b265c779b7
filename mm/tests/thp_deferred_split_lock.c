// SPDX-License-Identifier: GPL-2.0
/*
 * KUnit tests for the memcg-aware THP deferred split queue.
 *
 * Lock discipline: a thread on another CPU holds a queue's lock in bounded
 * holds while the case's thread operates, and the case fails if the queue
 * changed while the lock was held (thp_ds_under_lock()).
 */

#include <kunit/test.h>
#include <linux/completion.h>
#include <linux/kthread.h>
#include <linux/mm.h>
#include <linux/mman.h>
#include <linux/refcount.h>
#include <linux/slab.h>

#include "thp_deferred_split.h"

/* Start @fn in a kthread bound to @cpu; it ends by itself (nobody kthread_stop()s it). */
struct task_struct *thp_ds_start_on(int cpu, int (*fn)(void *), void *data, const char *name)
{
	struct task_struct *task = kthread_create(fn, data, "%s/%d", name, cpu);

	if (IS_ERR(task))
		return task;
	kthread_bind(task, cpu);
	wake_up_process(task);
	return task;
}

/*
 * Start @fn in a kthread bound to a CPU other than the caller's.  The
 * caller is pinned with migrate_disable() first (and unpins when done), so
 * the two cannot end up sharing a CPU, where a lock held with interrupts
 * off would keep the other side from running at all.  The thread ends by
 * itself; nobody kthread_stop()s it, so nothing waits on it unbounded.
 */
struct task_struct *thp_ds_start_elsewhere(int (*fn)(void *), void *data,
					   const char *name)
{
	int cpu = cpumask_any_but(cpu_online_mask, smp_processor_id());

	if (cpu >= nr_cpu_ids)
		return ERR_PTR(-ENODEV);
	return thp_ds_start_on(cpu, fn, data, name);
}

void thp_ds_need_two_cpus(struct kunit *test)
{
	if (num_online_cpus() < 2)
		thp_ds_skip(test, "needs two online CPUs");
}

struct thp_ds_op *thp_ds_op_new(struct kunit *test, void (*fn)(struct thp_ds_op *op),
				const char *what)
{
	struct thp_ds_op *op = kunit_kzalloc(test, sizeof(*op), GFP_KERNEL);

	KUNIT_ASSERT_NOT_NULL(test, op);
	op->fn = fn;
	op->what = what;
	INIT_LIST_HEAD(&op->list);
	return op;
}

/*
 * A lock probe holds a queue's lock with interrupts off, as the queue's
 * users take it, for at most THP_DS_HOLD_MS at a time: far below the
 * soft-lockup (2 * watchdog_thresh, 20 s by default), RCU-stall (21 s) and
 * CSD-lock (5 s with CONFIG_CSD_LOCK_WAIT_DEBUG) thresholds.  Between holds
 * it lets go, with interrupts on, and takes the lock again, for no longer
 * than THP_DS_WAIT_MS in all: at most THP_DS_WAIT_MS / THP_DS_HOLD_MS holds.
 */
#define THP_DS_HOLD_MS		20

/* What a lock probe sees of its queue: compared within each hold. */
struct thp_ds_view {
	long entries;
	long counter;
	bool linked;			/* the operation's folio is on the queue */
	bool intact;
};

enum {
	THP_DS_HOLDER_NEW,		/* not started yet */
	THP_DS_HOLDER_RUNNING,		/* may use the queue until it completes */
	THP_DS_HOLDER_ABANDONED,	/* the case gave up before it started */
};

/*
 * The thread on the other CPU that holds a queue's lock while the case
 * operates.  Refcounted, not kunit_kzalloc()ed: a holder that the case
 * gives up on still owns its share.  It keeps a copy of the queue, which
 * the case's memcg keeps alive: the case keeps the memcg while a holder
 * may still run (thp_ds_case_release()).
 */
struct thp_ds_holder {
	struct thp_ds_queue q;
	const struct list_head *entry;	/* the folio's link */
	atomic_t state;
	refcount_t ref;
	struct completion done;
	/* case -> holder */
	bool reached;			/* the operation is about to run */
	bool finished;			/* the operation returned */
	/* holder -> case, read after @done */
	bool held;			/* a hold began */
	bool held_while_op;		/* ... and one lasted into the operation */
	bool contended;			/* the operation (or someone) waited for the lock */
	bool finished_early;		/* the operation returned while the lock was held */
	bool changed;			/* the queue changed while the lock was held */
	struct thp_ds_view before, after;
	unsigned int holds;
};

static void thp_ds_holder_put(struct thp_ds_holder *h)
{
	if (refcount_dec_and_test(&h->ref))
		kfree(h);
}

/* Read the queue as the holder sees it; the caller holds its lock. */
static void thp_ds_view(const struct thp_ds_queue *q, const struct list_head *entry,
			struct thp_ds_view *v)
{
	struct thp_ds_walk w;

	thp_ds_walk(q->head, thp_ds_queue_len(q), 0, entry, &w);
	v->intact = thp_ds_links_intact(&w);
	v->entries = v->intact ? w.forward_count : 0;
	v->counter = w.counter;
	v->linked = w.contains;
}

static bool thp_ds_view_equal(const struct thp_ds_view *a, const struct thp_ds_view *b)
{
	return a->entries == b->entries && a->counter == b->counter &&
	       a->linked == b->linked && a->intact == b->intact;
}

/*
 * Hold the queue's lock in bounded holds while the case operates, and
 * watch the queue within each hold: nobody may change a queue while its
 * lock is held, so a change seen within a hold was made under another
 * lock.  A hold ends early when the operation returns or waits for the
 * lock (a waiter shows on the lock); the next hold begins at once, so the
 * operation's next step on the queue meets the lock held again.  Between
 * holds the queue may change: that is the operation using the lock.  It
 * polls: nothing has to wake it while it holds a spinlock.
 */
static int thp_ds_holder_fn(void *data)
{
	struct thp_ds_holder *h = data;
	struct thp_ds_view now;
	unsigned long flags;
	u64 deadline, end;
	bool reached;

	if (atomic_cmpxchg(&h->state, THP_DS_HOLDER_NEW, THP_DS_HOLDER_RUNNING) !=
	    THP_DS_HOLDER_NEW)
		goto out;	/* too late: the case went on without us */
	deadline = ktime_get_ns() + THP_DS_WAIT_MS * NSEC_PER_MSEC;
	while (!READ_ONCE(h->finished) && ktime_get_ns() < deadline &&
	       !h->changed && !h->finished_early) {
		spin_lock_irqsave(h->q.lock, flags);
		thp_ds_view(&h->q, h->entry, &h->before);
		WRITE_ONCE(h->held, true);
		h->holds++;
		end = min(ktime_get_ns() + THP_DS_HOLD_MS * NSEC_PER_MSEC, deadline);
		do {
			reached = READ_ONCE(h->reached);
			thp_ds_view(&h->q, h->entry, &now);
			if (!thp_ds_view_equal(&h->before, &now)) {
				h->changed = true;
				h->after = now;
				break;
			}
			if (!reached)
				continue;
			h->held_while_op = true;
			if (READ_ONCE(h->finished)) {
				h->finished_early = true;
				break;
			}
			if (spin_is_contended(h->q.lock)) {
				h->contended = true;
				break;
			}
			cpu_relax();
		} while (ktime_get_ns() < end);
		spin_unlock_irqrestore(h->q.lock, flags);
	}
	complete_all(&h->done);
out:
	thp_ds_holder_put(h);
	return 0;
}

/**
 * thp_ds_under_lock() - lock discipline of one queue operation
 * @test: the test
 * @op: the operation, run by the case's thread
 * @q: the queue the operation's THP belongs on
 * @node: the node queue, named in the failure
 * @folio: the THP, whose link the probe looks for on @q
 *
 * A thread on the other CPU holds @q's lock (thp_ds_holder_fn()) while
 * this one operates: an operation that links or unlinks a THP on @q must
 * wait for the lock.  The verdict is what the holder saw while it held the
 * lock: if @q changed then (an entry linked or unlinked, its counter moved,
 * its links broken), the operation took the THP on or off @q under another
 * lock (the node queue's, when the memcg was cleared first), and the case
 * fails.  An operation that waited for the lock, or returned while it was
 * held without changing @q, kept the discipline (what it should have done
 * to @q, the case checks afterwards).  One that did neither within
 * THP_DS_WAIT_MS, or ran while the lock was not held, gives no verdict on
 * the lock: the case goes on to its checks of the queues, and skips only
 * if none of them fails (thp_ds_no_verdict()).  The operation runs here,
 * in the case's thread and mm; the holder is a kernel thread on the other
 * CPU, which runs no user mm while it holds the lock.  Every wait is
 * bounded.  Not on PREEMPT_RT, where a spinlock_t sleeps and neither
 * disables interrupts nor shows its waiters.
 */
void thp_ds_under_lock(struct kunit *test, struct thp_ds_op *op,
		       const struct thp_ds_queue *q, const struct thp_ds_queue *node,
		       struct folio *folio)
{
	struct thp_ds_ctx *ctx = test->priv;
	struct thp_ds_holder *h;
	struct task_struct *task;
	unsigned long pfn = folio_pfn(folio);
	u64 deadline;

	if (IS_ENABLED(CONFIG_PREEMPT_RT)) {
		op->fn(op);	/* give its folios back the way it would have */
		thp_ds_skip(test,
			    "PREEMPT_RT: a spinlock_t sleeps and shows no waiters, the lock probe cannot hold it");
	}
	h = kzalloc_obj(*h, GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, h);
	h->q = *q;
	h->entry = thp_ds_deferred_list(folio);
	atomic_set(&h->state, THP_DS_HOLDER_NEW);
	refcount_set(&h->ref, 2);
	init_completion(&h->done);
	migrate_disable();
	task = thp_ds_start_elsewhere(thp_ds_holder_fn, h, "thp_ds_holder");
	if (IS_ERR(task)) {
		migrate_enable();
		kfree(h);
		op->fn(op);
		thp_ds_skip(test, "cannot start the lock holder: %ld (no verdict)", PTR_ERR(task));
	}
	deadline = ktime_get_ns() + THP_DS_WAIT_MS * NSEC_PER_MSEC;
	while (!READ_ONCE(h->held) && ktime_get_ns() < deadline)
		cpu_relax();
	WRITE_ONCE(h->reached, true);
	op->fn(op);
	WRITE_ONCE(h->finished, true);
	migrate_enable();

	/* the holder's own bound is THP_DS_WAIT_MS: twice that, it is stuck or never ran */
	if (!wait_for_completion_timeout(&h->done, msecs_to_jiffies(2 * THP_DS_WAIT_MS))) {
		if (atomic_cmpxchg(&h->state, THP_DS_HOLDER_NEW, THP_DS_HOLDER_ABANDONED) ==
		    THP_DS_HOLDER_NEW) {
			thp_ds_holder_put(h);
			thp_ds_skip(test,
				    "the lock holder had not begun %d ms after the operation (no verdict)",
				   2 * THP_DS_WAIT_MS);
		}
		ctx->queue_in_use = true;
		thp_ds_holder_put(h);
		thp_ds_skip(test,
			    "the holder of %s's lock is still running after %d ms (no verdict)",
			   q->name, 2 * THP_DS_WAIT_MS);
	}
	if (h->changed) {
		KUNIT_FAIL(test,
			   "%s changed %s while the test held its lock: folio pfn %#lx %s, %ld -> %ld entries, length counter %ld -> %ld%s: it took the THP on or off the queue under another lock (%s's?)",
			   op->what, q->name, pfn,
			   h->before.linked == h->after.linked ? "stayed" :
			   h->after.linked ? "was linked" : "was unlinked",
			   h->before.entries, h->after.entries, h->before.counter, h->after.counter,
			   h->after.intact ? "" : ", links broken", node->name);
		thp_ds_holder_put(h);
		return;
	}
	if (!op->done_ok) {
		thp_ds_holder_put(h);
		thp_ds_skip(test, "%s did not do what the case needs (see the log; no verdict)",
			    op->what);
	}
	if (!h->held_while_op || (!h->contended && !h->finished_early)) {
		/* no verdict on the lock, but the case's checks of the queues still hold */
		thp_ds_no_verdict(test,
				  "%s did not meet %s's lock held (%s within %d ms; no verdict)",
				  op->what, q->name,
				  h->held ? "it never waited for it" : "not held", THP_DS_WAIT_MS);
	} else {
		kunit_info(test, "%s %s %s's lock (%u holds)\n", op->what,
			   h->contended ? "waited for" :
			   "returned without changing the queue under",
			   q->name, h->holds);
	}
	thp_ds_holder_put(h);
}

static void thp_ds_op_reclaim_free(struct thp_ds_op *op)
{
	op->done_ok = thp_ds_reclaim_free(&op->list);
	if (!op->done_ok)
		pr_info("thp_deferred_split: another reference kept the THP alive: reclaim put it back on the LRU instead of freeing it\n");
}

/*
 * Lock discipline of the reclaim-path free: the free of a folio on its
 * memcg's queue must take that queue's lock.  (See thp_ds_under_lock().)
 * commit f8f931bba0f9 ("mm/thp: fix deferred split unqueue naming and
 * locking").
 */
void thp_ds_test_free_reclaim_lock(struct kunit *test)
{
	struct thp_ds_ctx *ctx = test->priv;
	struct thp_ds_node_base *node;
	struct thp_ds_queue mq;
	struct thp_ds_op *op;
	struct folio *folio;
	unsigned long addr;

	thp_ds_need_two_cpus(test);
	folio = thp_ds_queued_thp(test, HPAGE_PMD_ORDER, &addr, &node, &mq);
	thp_ds_unmap_all(test, addr, folio);
	kunit_release_action(test, thp_ds_leave, ctx);

	op = thp_ds_op_new(test, thp_ds_op_reclaim_free, "the reclaim-path free");
	if (!thp_ds_isolate(test, folio, &op->list))
		thp_ds_skip(test, "cannot isolate the queued THP from the LRU (no verdict)");
	THP_DS_EXPECT_OWN_QUEUED(test, &mq, folio, true);	/* what the operation starts from */
	thp_ds_under_lock(test, op, &mq, &node->q, folio);

	THP_DS_EXPECT_OWN_LEN(test, &mq, 0, "after the free");
	THP_DS_EXPECT_NODE_LEN(test, node, "after the free");
	thp_ds_check_own_queue(test, &mq);
	vm_munmap(addr, HPAGE_PMD_SIZE);
}

/* rmap's enqueue: unmapping one page of the THP makes it partially mapped. */
static void thp_ds_op_enqueue(struct thp_ds_op *op)
{
	op->done_ok = !do_madvise(current->mm, op->addr + PAGE_SIZE, PAGE_SIZE, MADV_DONTNEED);
	if (!op->done_ok)
		pr_info("thp_deferred_split: MADV_DONTNEED of one page of the THP failed\n");
}

/*
 * Lock discipline of the enqueue: unmapping part of a THP charged to the
 * case's memcg makes rmap queue it (deferred_split_folio()) on that
 * memcg's queue, under that queue's lock.  Where the fault queued the THP
 * already, the enqueue only marks it partially mapped: a tree may do that
 * under the lock or, for a queued folio, without it, but never link or
 * unlink it without the lock.
 * commit 87eaceb3faa5 ("mm: thp: make deferred split shrinker memcg
 * aware").
 */
void thp_ds_test_enqueue_lock(struct kunit *test)
{
	struct thp_ds_ctx *ctx = test->priv;
	struct thp_ds_node_base *node;
	struct thp_ds_queue mq;
	struct thp_ds_op *op;
	struct folio *folio;
	unsigned long addr;

	thp_ds_need_two_cpus(test);
	folio = thp_ds_whole_thp(test, &addr, &node, &mq);
	op = thp_ds_op_new(test, thp_ds_op_enqueue, "the enqueue");
	op->addr = addr;
	thp_ds_under_lock(test, op, &mq, &node->q, folio);

	THP_DS_EXPECT_OWN_QUEUED(test, &mq, folio, true);
	THP_DS_EXPECT_OWN_LEN(test, &mq, 1, "after the enqueue");
	THP_DS_EXPECT_NODE_LEN(test, node, "(the THP is charged to a memcg)");
	vm_munmap(addr, HPAGE_PMD_SIZE);
	thp_ds_put(test, folio);
	kunit_release_action(test, thp_ds_leave, ctx);
}
