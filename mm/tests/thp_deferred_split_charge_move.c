// SPDX-License-Identifier: GPL-2.0
/*
 * KUnit tests for the memcg-aware THP deferred split queue.
 *
 * The cgroup-v1 charge move of a queued THP (trees before v6.13, which
 * removed the charge move).
 */

#include <kunit/test.h>
#include <linux/completion.h>
#include <linux/mm.h>
#include <linux/mman.h>
#include <linux/sched/task.h>
#include <linux/signal.h>

#include "thp_deferred_split.h"

/*
 * The task whose mm the cgroup-v1 charge move moves.  The move ignores a
 * kernel thread (get_task_mm() gives none), so this is a task that is not
 * one, started by the case with a copy of its test mm: it owns that copy
 * (mm->owner, which the move requires) and only waits for the case to let
 * it exit.
 */
struct thp_ds_mm_owner {
	struct completion exit;
};

static int thp_ds_mm_owner_fn(void *data)
{
	struct thp_ds_mm_owner *owner = data;

	wait_for_completion(&owner->exit);
	do_exit(0);
}

/*
 * cgroup-v1 charge move of a queued THP.  With memory.move_charge_at_immigrate
 * set on the destination memcg, moving a task there moves the charges of
 * its mm's anonymous pages; a PMD-mapped THP's by mem_cgroup_move_account(),
 * which changes the folio's memcg.  A THP linked on its memcg's deferred
 * split queue must not change memcg while it is linked there: the fix
 * splits it first or, when it cannot, leaves it and its charge where they
 * are.  Before it the THP moved with its link on the old memcg's queue; its
 * free then unlinks it under the new memcg's queue lock and counts it off
 * there: the old queue's counter keeps counting a freed THP, the new
 * queue's wraps below zero.  The THP is mapped whole (a PTE-mapped THP is
 * not moved) and queued as the kernel queues one it finds underused; the
 * case's own reference keeps the fix's split from succeeding, so the fixed
 * kernel leaves it.  commit f8f931bba0f9 ("mm/thp: fix deferred split
 * unqueue naming and locking"), whose charge-move hunk 6.1.y and 5.10.y
 * never received; the charge move was removed in v6.13 by commit
 * 6b611388b626 ("memcg-v1: remove charge move code").
 */
void thp_ds_test_charge_move(struct kunit *test)
{
	struct thp_ds_ctx *ctx = test->priv;
	struct thp_ds_node_base *node;
	struct thp_ds_mm_owner *owner;
	struct thp_ds_queue mq, dq;
	struct thp_ds_extra *dest;
	struct mem_cgroup *memcg;
	const char *why_not;
	struct folio *folio;
	unsigned long addr;
	bool linked = false;
	int err, status;
	char file[96];
	pid_t pid;

	why_not = thp_ds_charge_move_unsupported();
	if (why_not)
		thp_ds_skip(test, "%s", why_not);
	dest = thp_ds_extra_memcg(test, "dest");
	snprintf(file, sizeof(file), "%s/memory.move_charge_at_immigrate", dest->path);
	err = thp_ds_cgroup_write(&thp_ds.cg, file, "1");
	if (err)
		thp_ds_skip(test, "cannot turn on the charge move into %s: %d", dest->path, err);
	owner = kunit_kzalloc(test, sizeof(*owner), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, owner);
	init_completion(&owner->exit);

	thp_ds_enter_or_skip(test);
	folio = thp_ds_fault(test, HPAGE_PMD_ORDER, &addr);
	node = thp_ds_node(test, folio_nid(folio));
	thp_ds_folio_queue(test, folio, &mq);
	KUNIT_ASSERT_TRUE(test, thp_ds_memcg_queue(dest->memcg, folio_nid(folio), &dq));
	if (list_empty(thp_ds_deferred_list(folio)))
		thp_ds_queue_mapped(folio);
	THP_DS_EXPECT_OWN_QUEUED(test, &mq, folio, true);

	/*
	 * Nothing from here to kernel_wait() may end the case: the owner must
	 * be let go and waited for.  kernel_wait() needs SIGCHLD not ignored
	 * (as for call_usermodehelper()); a kernel thread ignores it.
	 */
	kernel_sigaction(SIGCHLD, SIG_DFL);
	pid = thp_ds_user_task(thp_ds_mm_owner_fn, owner);
	if (pid < 0) {
		kernel_sigaction(SIGCHLD, SIG_IGN);
		thp_ds_skip(test, "cannot start a task that is not a kernel thread: %d", pid);
	}
	vm_munmap(addr, HPAGE_PMD_SIZE);	/* the owner's copy maps it alone */
	err = thp_ds_cgroup_attach(&thp_ds.cg, dest->path, pid);	/* the charge move */
	rcu_read_lock();
	memcg = folio_memcg(folio);
	rcu_read_unlock();
	if (!err)
		thp_ds_check_queue(test, &mq, 0, thp_ds_deferred_list(folio), &linked);
	complete(&owner->exit);
	kernel_wait(pid, &status);
	kernel_sigaction(SIGCHLD, SIG_IGN);
	if (err)
		thp_ds_skip(test, "cannot move the mm's owner into %s: %d", dest->path, err);

	kunit_info(test, "the charge move %s the queued THP\n",
		   memcg == dest->memcg ? "moved" : "left");
	KUNIT_EXPECT_FALSE_MSG(test, memcg == dest->memcg && linked,
			       "the charge move changed the memcg of folio pfn %#lx while it was still linked on %s: its free then unlinks it under %s's lock and counts it off there",
			       folio_pfn(folio), mq.name, dq.name);
	lru_add_drain_all();
	thp_ds_put(test, folio);	/* the last reference: the free */
	kunit_release_action(test, thp_ds_leave, ctx);
	THP_DS_EXPECT_OWN_LEN(test, &mq, 0, "after the THP was freed");
	THP_DS_EXPECT_LEN(test, &dq, 0, "after the THP was freed (it was never on it)");
	THP_DS_EXPECT_NODE_LEN(test, node, "(the THP was never on it)");
	thp_ds_check_own_queue(test, &mq);
	thp_ds_check_queue(test, &dq, 0, NULL, NULL);
}
