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
 * Every case gets a memory cgroup of its own and its THPs from real
 * anonymous write faults in a test mm, so the folios are what the kernel
 * itself queues (anonymous, rmappable, charged by the fault path) and the
 * kernel queues them itself (at the fault, or when rmap sees a partial
 * unmap).  The cases then free, reclaim, shrink, migrate and offline them
 * through the kernel's own paths and check which queue each folio is on,
 * the queues' length counters, the lists' links and who takes which lock.
 *
 * The suite only observes: it never writes a queue, a counter or a list.
 * A queue a case leaves inconsistent (on a kernel with the bug) stays so;
 * later cases check the node queues relative to the state they found, and
 * skip, saying why, when a queue's links are broken.  It changes no THP
 * setting: a THP size the boot did not enable skips.  What a case creates
 * or changes (its cgroups, the cgroup its thread runs in) is put back by
 * KUnit deferred actions, also when the case fails half-way.  The queue
 * implementation differs between trees; thp_deferred_split_kunit.h is
 * this tree's view of it.
 */

#include <kunit/test.h>
#include <linux/cgroup.h>
#include <linux/delay.h>
#include <linux/fs.h>
#include <linux/fs_context.h>
#include <linux/huge_mm.h>
#include <linux/kernfs.h>
#include <linux/kthread.h>
#include <linux/memcontrol.h>
#include <linux/migrate.h>
#include <linux/mman.h>
#include <linux/mount.h>
#include <linux/namei.h>
#include <linux/page_counter.h>
#include <linux/poison.h>
#include <linux/sched/mm.h>
#include <linux/sched/task.h>
#include <linux/signal.h>
#include <linux/swap.h>
#include <linux/uaccess.h>
#include <trace/events/printk.h>

#include "../internal.h"
#include "thp_deferred_split_kunit.h"

/* Each run of the suite works under a cgroup of its own: thp_ds_kunit.<n>. */
#define THP_DS_TOP		"thp_ds_kunit"
#define THP_DS_DYING		"offline"

/* Bound for everything that waits on another CPU or on RCU work. */
#define THP_DS_WAIT_MS		5000
/*
 * How long the reclaim/shrinker race runs (a slow case), and its batch of
 * THPs: up to 8, and no more than 16 MB of them (a PMD THP is 2 MB with
 * 4K pages, 512 MB with arm64's 64K pages).
 */
#define THP_DS_RACE_MS		2000
#define THP_DS_RACE_BATCH_MAX	8
#define THP_DS_RACE_BATCH	clamp_t(unsigned int, SZ_16M / HPAGE_PMD_SIZE, 1, \
					THP_DS_RACE_BATCH_MAX)

/*
 * Suite fixture: the kernel's own cgroup hierarchy with the memory
 * controller (cgroup2, or for the cgroup-v1 suite a v1 hierarchy of its
 * own), mounted for the suite, the suite's top cgroup, and the count of
 * the kernel's warnings, which a console probe keeps (@warnings).
 * Without the memory controller (@no_memcg: cgroup_disable=memory, as
 * kdump kernels boot) THPs are queued on their node's queue: the cases
 * that need a memcg skip, the others run on the node queue.  The same
 * holds (@node_queues) where the tree keeps no split queue per memcg
 * (7.x with cgroup.memory=nokmem), though the memcgs are there.
 * @root_memory says whether the suite enabled the memory controller at
 * the cgroup2 root (and must disable it again).
 */
static struct {
	bool no_memcg;			/* booted with cgroup_disable=memory */
	bool node_queues;		/* THPs are queued per node only */
	struct vfsmount *cgroup;
	bool v1;
	bool probing;			/* thp_ds_probe_console() is registered */
	atomic_t warnings;
	struct dentry *top;
	struct mem_cgroup *top_memcg;
	char top_name[32];
	bool root_memory;
	atomic_t cases;
} thp_ds;

/* A node's split queue as a case found it. */
struct thp_ds_node_base {
	struct thp_ds_queue q;
	bool present;			/* the node has memory */
	long len;			/* its length counter */
	long offset;			/* entries minus counter: 0 unless already broken */
};

/* Per-case state. */
struct thp_ds_ctx {
	struct kunit *test;
	char path[48];			/* the case's cgroup, relative to the cgroup2 root */
	char leaf[16];			/* its name in the suite's top cgroup */
	struct dentry *dir;
	struct mem_cgroup *memcg;
	u64 memcg_id;			/* its id while online, for messages */
	struct thp_ds_node_base *nodes;	/* nr_node_ids entries */
	int warns;			/* thp_ds.warnings when the case began */
	/* while the case's thread runs in a cgroup: where to send it back */
	char home[128];
	struct task_struct *thread;	/* the case's thread (actions run in another) */
	pid_t pid;
	struct mem_cgroup *charge_to;	/* the memcg of the cgroup it runs in */
	struct mem_cgroup *saved_active;
	bool entered;
	bool queue_in_use;		/* a lock holder did not finish: keep the memcg */
	/* the case's own queue as the case found it (thp_ds_folio_queue()) */
	long own_len;
	long own_offset;
};

#define THP_DS_CTX(test)	((struct thp_ds_ctx *)(test)->priv)

/* thp_ds_orders[] (the header's): the orders to run the queue cases for. */
static void thp_ds_order_desc(const unsigned int *order, char *desc)
{
	snprintf(desc, KUNIT_PARAM_DESC_SIZE, "order %u", *order);
}

KUNIT_ARRAY_PARAM(thp_ds_order, thp_ds_orders, thp_ds_order_desc);

static unsigned int thp_ds_param_order(struct kunit *test)
{
	const void *param = thp_ds_param_value(test);

	return param ? *(const unsigned int *)param : HPAGE_PMD_ORDER;
}

/* ---- queue checker ------------------------------------------------------ */

/**
 * enum thp_ds_fault - what thp_ds_walk() found wrong with a list
 * @THP_DS_OK: links consistent, entries minus counter as expected
 * @THP_DS_BAD_POINTER: a link is NULL or LIST_POISON
 * @THP_DS_UNREADABLE: a link points to memory that cannot be read
 * @THP_DS_BROKEN_LINK: @cur->next->prev (or ->prev->next) is not @cur
 * @THP_DS_TOO_LONG: no way back to the head within the walk bound
 * @THP_DS_DIRECTIONS_DIFFER: forward and backward walks count differently
 * @THP_DS_COUNT_MISMATCH: entries on the list differ from the length counter
 */
enum thp_ds_fault {
	THP_DS_OK,
	THP_DS_BAD_POINTER,
	THP_DS_UNREADABLE,
	THP_DS_BROKEN_LINK,
	THP_DS_TOO_LONG,
	THP_DS_DIRECTIONS_DIFFER,
	THP_DS_COUNT_MISMATCH,
};

/* Result of one walk; filled under the queue lock, reported after it. */
struct thp_ds_walk {
	enum thp_ds_fault fault;
	const struct list_head *head;
	long index;			/* entry where the walk stopped */
	const struct list_head *entry;
	const void *expected;
	const void *found;
	bool backward;
	long forward_count;
	long backward_count;
	long counter;
	long offset;			/* the entries minus counter the caller expected */
	bool contains;			/* @wanted is linked on the list */
};

static bool thp_ds_bad_ptr(const void *p)
{
	return !p || p == LIST_POISON1 || p == LIST_POISON2;
}

/*
 * Read one link of @entry without trusting @entry: on a corrupt list it
 * can be freed, unmapped or non-canonical (0xdead000000000400 has been
 * seen), and the walk runs with interrupts off.
 */
static bool thp_ds_read_link(const struct list_head *entry, bool prev,
			     const struct list_head **link)
{
	struct list_head *const *field = prev ? &entry->prev : &entry->next;
	struct list_head *value;

	if (get_kernel_nofault(value, field))
		return false;
	*link = value;
	return true;
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
	const struct list_head *prev = head, *cur, *back;
	long i = 0;

	w->backward = backward;
	if (!thp_ds_read_link(head, backward, &cur)) {
		w->fault = THP_DS_UNREADABLE;
		w->entry = head;
		w->index = -1;
		w->found = head;
		return false;
	}
	while (cur != head) {
		if (thp_ds_bad_ptr(cur)) {
			w->fault = THP_DS_BAD_POINTER;
			w->entry = prev;
			w->index = i - 1;
			w->found = cur;
			return false;
		}
		if (!thp_ds_read_link(cur, !backward, &back)) {
			w->fault = THP_DS_UNREADABLE;
			w->entry = prev;
			w->index = i - 1;
			w->found = cur;
			return false;
		}
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
		if (!thp_ds_read_link(cur, backward, &cur)) {
			w->fault = THP_DS_UNREADABLE;
			w->entry = prev;
			w->index = i - 1;
			w->found = prev;
			return false;
		}
	}
	*count = i;
	return true;
}

/**
 * thp_ds_walk() - check a list against its length counter
 * @head: the list head
 * @counter: the length the queue claims
 * @offset: entries minus @counter as the caller last found it (0 for a
 *	    queue that was consistent)
 * @wanted: an entry to look for (may be NULL)
 * @w: the result
 *
 * Pure function of memory, read without faulting: the caller holds
 * whatever lock protects @head.  Returns true when the links are intact
 * and the list holds @counter + @offset entries.
 */
static bool thp_ds_walk(const struct list_head *head, long counter, long offset,
			const struct list_head *wanted, struct thp_ds_walk *w)
{
	long limit = max(counter + offset, 0L) + 64;

	memset(w, 0, sizeof(*w));
	w->head = head;
	w->counter = counter;
	w->offset = offset;
	if (!thp_ds_walk_one_way(head, false, limit, wanted, w, &w->forward_count))
		return false;
	if (!thp_ds_walk_one_way(head, true, limit, wanted, w, &w->backward_count))
		return false;
	w->backward = false;
	if (w->forward_count != w->backward_count) {
		w->fault = THP_DS_DIRECTIONS_DIFFER;
		return false;
	}
	if (w->forward_count - counter != offset) {
		w->fault = THP_DS_COUNT_MISMATCH;
		return false;
	}
	return true;
}

/* The links are intact (whatever the counter says). */
static bool thp_ds_links_intact(const struct thp_ds_walk *w)
{
	return w->fault == THP_DS_OK || w->fault == THP_DS_COUNT_MISMATCH;
}

/*
 * Name the list link @p for a message without printing a kernel address:
 * the head, a poison value, or the page frame and offset it points into.
 */
static void thp_ds_link_name(const struct thp_ds_walk *w, const void *p, char *buf, size_t len)
{
	unsigned long v = (unsigned long)p;

	if (!p)
		strscpy(buf, "NULL", len);
	else if (p == w->head)
		strscpy(buf, "the head", len);
	else if (p == LIST_POISON1 || p == LIST_POISON2)
		strscpy(buf, p == LIST_POISON1 ? "LIST_POISON1" : "LIST_POISON2", len);
	else if (v - POISON_POINTER_DELTA < SZ_64K)
		snprintf(buf, len, "POISON_POINTER_DELTA + %#lx", v - POISON_POINTER_DELTA);
	else if (virt_addr_valid(p))
		snprintf(buf, len, "pfn %#lx + %#lx", page_to_pfn(virt_to_page(p)),
			 (unsigned long)offset_in_page(p));
	else
		strscpy(buf, "an address outside the linear map", len);
}

/*
 * What a walk of queue @name found wrong, in words, into @buf; false when
 * nothing is wrong.  Separate from reporting so that the self-test can
 * check every diagnosis.  Entries are named by their place on the list and
 * links by what they point to (thp_ds_link_name()): that tells poison from
 * garbage from a valid entry, which is what a reader of a corrupt list
 * needs, and prints no kernel address.
 */
static bool thp_ds_walk_describe(const struct thp_ds_walk *w, const char *name,
				 char *buf, size_t len)
{
	const char *dir = w->backward ? "backward" : "forward";
	char entry[48], found[48], expected[48];

	thp_ds_link_name(w, w->entry, entry, sizeof(entry));
	thp_ds_link_name(w, w->found, found, sizeof(found));
	thp_ds_link_name(w, w->expected, expected, sizeof(expected));
	switch (w->fault) {
	case THP_DS_OK:
		return false;
	case THP_DS_BAD_POINTER:
		snprintf(buf, len,
			 "%s: walking %s, entry %ld (%s) links to %s (NULL or LIST_POISON): an entry was deleted without its queue's lock, or freed while linked",
			 name, dir, w->index, entry, found);
		break;
	case THP_DS_UNREADABLE:
		snprintf(buf, len,
			 "%s: walking %s, entry %ld (%s) links to %s, which cannot be read: the list points into freed or unmapped memory",
			 name, dir, w->index, entry, found);
		break;
	case THP_DS_BROKEN_LINK:
		snprintf(buf, len,
			 "%s: walking %s, entry %ld (%s) points back to %s, expected %s: the list was changed under another lock",
			 name, dir, w->index, entry, found, expected);
		break;
	case THP_DS_TOO_LONG:
		snprintf(buf, len,
			 "%s: no way back to the head after %ld entries walking %s (length counter %ld): the list is cyclic or corrupt",
			 name, w->index, dir, w->counter);
		break;
	case THP_DS_DIRECTIONS_DIFFER:
		snprintf(buf, len, "%s: %ld entries forward but %ld backward",
			 name, w->forward_count, w->backward_count);
		break;
	case THP_DS_COUNT_MISMATCH:
		if (w->offset)
			snprintf(buf, len,
				 "%s: %ld entries linked and length counter %ld, a difference of %ld where the case began with %ld: an unqueue decremented another queue's counter, or unlinked without decrementing",
				 name, w->forward_count, w->counter,
				 w->forward_count - w->counter, w->offset);
		else
			snprintf(buf, len,
				 "%s: %ld entries linked but length counter is %ld: an unqueue decremented another queue's counter, or unlinked without decrementing",
				 name, w->forward_count, w->counter);
		break;
	}
	return true;
}

/* Walk @q under its own lock, with interrupts off as its users take it. */
static void thp_ds_walk_queue(const struct thp_ds_queue *q, long offset,
			      const struct list_head *wanted, struct thp_ds_walk *w)
{
	unsigned long flags;

	spin_lock_irqsave(q->lock, flags);
	thp_ds_walk(q->head, thp_ds_queue_len(q), offset, wanted, w);
	spin_unlock_irqrestore(q->lock, flags);
}

/*
 * Check @q (links, and entries against its counter relative to @offset)
 * and report anything wrong with full context.  *@linked (optional) tells
 * whether @wanted is on the list.
 */
static bool thp_ds_check_queue(struct kunit *test, const struct thp_ds_queue *q, long offset,
			       const struct list_head *wanted, bool *linked)
{
	struct thp_ds_walk w;
	char msg[384];

	thp_ds_walk_queue(q, offset, wanted, &w);
	if (thp_ds_walk_describe(&w, q->name, msg, sizeof(msg)))
		KUNIT_FAIL(test, "%s", msg);
	if (linked)
		*linked = w.contains;
	return w.fault == THP_DS_OK;
}

/* Check the case's own queue (see THP_DS_EXPECT_OWN_LEN()). */
static void thp_ds_check_own_queue(struct kunit *test, const struct thp_ds_queue *q)
{
	thp_ds_check_queue(test, q, THP_DS_CTX(test)->own_offset, NULL, NULL);
}

/* Check a node queue that is not the case's own (with a memcg). */
static void thp_ds_check_node(struct kunit *test, const struct thp_ds_node_base *node)
{
	if (!thp_ds.node_queues)
		thp_ds_check_queue(test, &node->q, node->offset, NULL, NULL);
}

/* The id of the memcg @folio is charged to (0: none), for messages. */
static u64 thp_ds_folio_memcg_id(struct folio *folio)
{
	struct mem_cgroup *memcg;
	u64 id;

	rcu_read_lock();
	memcg = folio_memcg(folio);
	id = memcg ? (u64)mem_cgroup_id(memcg) : 0;
	rcu_read_unlock();
	return id;
}

/**
 * THP_DS_EXPECT_QUEUED() - expect @folio to be (or not be) on queue @q
 * @test: the test
 * @q: struct thp_ds_queue *, checked as a whole by thp_ds_check_queue()
 * @offset: entries minus counter of @q when the case began
 * @f: struct folio *
 * @queued: whether it should be linked on @q
 *
 * Fails with the queue's name and the folio's state, so that a failure
 * reads as a diagnosis rather than "expected true, got false".
 */
#define THP_DS_EXPECT_QUEUED(test, q, offset, f, queued) do {			\
	struct kunit *__test = (test);						\
	const struct thp_ds_queue *__q = (q);					\
	struct folio *__folio = (f);						\
	bool __linked = false;							\
										\
	thp_ds_check_queue(__test, __q, (offset), thp_ds_deferred_list(__folio),	\
			   &__linked);						\
	KUNIT_EXPECT_TRUE_MSG(__test, __linked == (queued),			\
		"folio pfn %#lx (order %u, memcg %llu) is %s %s",		\
		folio_pfn(__folio), folio_order(__folio),			\
		thp_ds_folio_memcg_id(__folio),					\
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

/*
 * A case's own queue, the one its THPs belong on, is its memcg's, which the
 * case began with empty.  Without a memcg it is the node's, checked
 * relative to how the case found it; the checks that a THP stays off the
 * node queue are then the same checks, and are not made.
 */
#define THP_DS_EXPECT_OWN_LEN(test, q, len, why) do {				\
	struct kunit *__t = (test);						\
										\
	THP_DS_EXPECT_LEN(__t, q, THP_DS_CTX(__t)->own_len + (len), why);	\
} while (0)

#define THP_DS_EXPECT_OWN_QUEUED(test, q, f, queued) do {			\
	struct kunit *__t = (test);						\
										\
	THP_DS_EXPECT_QUEUED(__t, q, THP_DS_CTX(__t)->own_offset, f, queued);	\
} while (0)

#define THP_DS_EXPECT_NODE_LEN(test, node, why) do {				\
	const struct thp_ds_node_base *__n = (node);				\
										\
	if (!thp_ds.node_queues)					\
		THP_DS_EXPECT_LEN(test, &__n->q, __n->len, why);		\
} while (0)

#define THP_DS_EXPECT_NOT_ON_NODE(test, node, f) do {				\
	const struct thp_ds_node_base *__n = (node);				\
										\
	if (!thp_ds.node_queues)					\
		THP_DS_EXPECT_QUEUED(test, &__n->q, __n->offset, f, false);	\
} while (0)

/* ---- the kernel's own files: cgroup2 ------------------------------------ */

/* Mount file system @fs for the suite, with mount option @flag (or none). */
static struct vfsmount *thp_ds_mount(const char *fs, const char *flag)
{
	struct file_system_type *type = get_fs_type(fs);
	struct fs_context *fc;
	struct vfsmount *mnt;
	int err;

	if (!type)
		return ERR_PTR(-ENODEV);
	fc = fs_context_for_mount(type, SB_KERNMOUNT);
	put_filesystem(type);
	if (IS_ERR(fc))
		return ERR_CAST(fc);
	err = flag ? thp_ds_fc_flag(fc, flag) : 0;
	mnt = err ? ERR_PTR(err) : fc_mount(fc);
	put_fs_context(fc);
	return mnt;
}

/*
 * A cgroup-v1 hierarchy with the memory controller, for the paths that
 * exist only there (memory+swap accounting).  The controller can leave
 * the default hierarchy only when no memcg is left there: the memcgs the
 * cgroup2 suites removed are freed by RCU work shortly after, hence the
 * bounded retry.
 */
static struct vfsmount *thp_ds_mount_memory_v1(void)
{
	struct vfsmount *mnt;
	int waited;

	for (waited = 0; ; waited += 50) {
		mnt = thp_ds_mount("cgroup", "memory");
		if (!IS_ERR(mnt) || PTR_ERR(mnt) != -EBUSY || waited >= THP_DS_WAIT_MS)
			return mnt;
		msleep(50);
	}
}

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

static int thp_ds_read(struct vfsmount *mnt, const char *path, char *buf, size_t len)
{
	struct file *f = file_open_root_mnt(mnt, path, O_RDONLY, 0);
	loff_t pos = 0;
	ssize_t ret;

	if (IS_ERR(f))
		return PTR_ERR(f);
	ret = kernel_read(f, buf, len - 1, &pos);
	fput(f);
	if (ret < 0)
		return ret;
	buf[ret] = '\0';
	return 0;
}

/*
 * The kernel's warnings, seen as mm/kfence and mm/kasan tests see their
 * reports: through the console tracepoint.  A WARN (list debugging and
 * page_counter underflow report through one), a KASAN or KFENCE report
 * and a BUG each print a line with one of these; the suite's own messages
 * have neither.
 */
static void thp_ds_probe_console(void *ignore, const char *buf, size_t len)
{
	if (strnstr(buf, "WARNING: ", len) || strnstr(buf, "BUG: ", len))
		atomic_inc(&thp_ds.warnings);
}

static int thp_ds_warn_count(void)
{
	return atomic_read(&thp_ds.warnings);
}

/* ---- cgroups: the suite's, each case's, and the case thread's ---------- */

/* rmdir @name in @parent, waiting (bounded) for a just-exited thread to leave it. */
static int thp_ds_rmdir_bounded(struct dentry *parent, const char *name)
{
	int waited, err;

	for (waited = 0; ; waited += 20) {
		err = thp_ds_rmdir(parent, name);
		if (err != -EBUSY || waited >= THP_DS_WAIT_MS)
			return err;
		msleep(20);
	}
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
 * Wait (bounded) until nothing is charged to @memcg.  Offline drains the
 * per-CPU charge stocks, on other CPUs by queued work, so usage reaches
 * its exact value a little after offline.
 */
static unsigned long thp_ds_wait_uncharged(struct mem_cgroup *memcg, int ms)
{
	unsigned long usage;
	int waited;

	for (waited = 0; ; waited += 20) {
		usage = page_counter_read(&memcg->memory);
		if (!usage || waited >= ms)
			return usage;
		msleep(20);
	}
}

/*
 * A memcg of the case's own, under the suite's top cgroup, so that no case
 * sees another's queue, charges or corruption.  Removed by
 * thp_ds_case_release() once everything else the case took is released.
 */
static struct mem_cgroup *thp_ds_make_memcg(struct dentry *parent, const char *name,
					    struct dentry **dirp)
{
	struct cgroup_subsys_state *css;
	struct dentry *dir;

	dir = thp_ds_mkdir(parent, name);
	if (IS_ERR(dir))
		return ERR_CAST(dir);
	css = css_tryget_online_from_dir(dir, &memory_cgrp_subsys);
	if (IS_ERR(css)) {
		dput(dir);
		thp_ds_rmdir(parent, name);
		return ERR_CAST(css);
	}
	*dirp = dir;
	return mem_cgroup_from_css(css);
}

/* Move task @pid (its thread group) into cgroup @path of the suite's mount. */
static int thp_ds_move_task(const char *path, pid_t pid)
{
	char procs[96], buf[16];

	snprintf(procs, sizeof(procs), "%s/cgroup.procs", path);
	snprintf(buf, sizeof(buf), "%d", pid);
	return thp_ds_write(thp_ds.cgroup, procs, buf);
}

/*
 * Move the case's thread into cgroup @path, so that its test mm's faults
 * charge that memcg (the fault charges the mm owner's memcg).  Kernel
 * memory the thread allocates meanwhile (page tables, VMAs) is kept out of
 * it with the root as active memcg, so the memcg's usage is its THPs only.
 */
static int thp_ds_enter(struct thp_ds_ctx *ctx, const char *path, struct mem_cgroup *memcg)
{
	struct cgroup *cgrp;
	int err;

	rcu_read_lock();
	cgrp = thp_ds.v1 ? task_cgroup(current, memory_cgrp_id) : task_dfl_cgroup(current);
	cgroup_get(cgrp);
	rcu_read_unlock();
	err = cgroup_path_ns(cgrp, ctx->home, sizeof(ctx->home), &init_cgroup_ns);
	cgroup_put(cgrp);
	if (err < 0)
		return err;
	ctx->thread = current;
	ctx->pid = task_tgid_nr(current);
	ctx->saved_active = set_active_memcg(root_mem_cgroup);
	err = thp_ds_move_task(path, ctx->pid);
	if (err) {
		set_active_memcg(ctx->saved_active);
		return err;
	}
	ctx->entered = true;
	ctx->charge_to = memcg;
	return 0;
}

/*
 * Send the case's thread back where it was.  Also a deferred action, which
 * runs in KUnit's cleanup thread after the case's thread has ended: then
 * the move finds no such task (-ESRCH), which is fine.
 */
static void thp_ds_leave(void *data)
{
	struct thp_ds_ctx *ctx = data;
	char procs[160], pid[16];
	int err;

	if (!ctx->entered)
		return;
	ctx->entered = false;
	if (strcmp(ctx->home, "/"))
		snprintf(procs, sizeof(procs), "%s/cgroup.procs", ctx->home + 1);
	else
		strscpy(procs, "cgroup.procs", sizeof(procs));
	snprintf(pid, sizeof(pid), "%d", ctx->pid);
	err = thp_ds_write(thp_ds.cgroup, procs, pid);
	if (err && err != -ESRCH)
		kunit_err(ctx->test, "could not move the case thread back to %s: %d\n",
			  ctx->home, err);
	if (current == ctx->thread)
		set_active_memcg(ctx->saved_active);
}

/* Run the case's thread in cgroup @path of @memcg, until thp_ds_leave(). */
static void thp_ds_enter_cgroup(struct kunit *test, const char *path, struct mem_cgroup *memcg)
{
	struct thp_ds_ctx *ctx = test->priv;
	int err = thp_ds_enter(ctx, path, memcg);

	if (err)
		kunit_skip(test, "cannot move the case thread into cgroup %s: %d", path, err);
	KUNIT_ASSERT_EQ(test, 0, kunit_add_action_or_reset(test, thp_ds_leave, ctx));
}

/* Run the case's thread in the case's own cgroup, until thp_ds_leave(). */
static void thp_ds_enter_or_skip(struct kunit *test)
{
	struct thp_ds_ctx *ctx = test->priv;

	if (thp_ds.no_memcg)
		return;		/* the THPs are charged to nothing */
	thp_ds_enter_cgroup(test, ctx->path, ctx->memcg);
}

/*
 * A second memcg for a case, beside its own: removed and released by a
 * deferred action however the case ends.  A memcg's own structures are
 * charged to its parent, which is why it is not created under the case's.
 */
struct thp_ds_extra {
	char leaf[32];
	char path[64];
	struct mem_cgroup *memcg;
	bool removed;
};

static void thp_ds_extra_release(void *data)
{
	struct thp_ds_extra *x = data;

	if (!x->removed)
		thp_ds_rmdir_bounded(thp_ds.top, x->leaf);
	css_put(&x->memcg->css);
}

/* rmdir the second memcg now and wait (bounded) for it to go offline. */
static int thp_ds_extra_offline(struct thp_ds_extra *x)
{
	int err = thp_ds_rmdir_bounded(thp_ds.top, x->leaf);

	if (err)
		return err;
	x->removed = true;
	return thp_ds_wait_offline(x->memcg) ? 0 : -ETIMEDOUT;
}

/* A case about memcgs themselves has nothing to test without them. */
static void thp_ds_need_memcg(struct kunit *test)
{
	if (thp_ds.no_memcg)
		kunit_skip(test, "the memory controller is disabled (cgroup_disable=memory)");
}

/* ... nor one about a memcg's own split queue where there is none. */
static void thp_ds_need_memcg_queues(struct kunit *test)
{
	thp_ds_need_memcg(test);
	if (thp_ds.node_queues)
		kunit_skip(test,
			   "no split queue per memcg: the deferred split list_lru is not memcg aware (cgroup.memory=nokmem)");
}

/*
 * The memcg whose shrinkers reach the case's own queue: its memcg, or
 * where THPs are queued per node only, the root's (global reclaim).
 */
static struct mem_cgroup *thp_ds_shrink_target(struct thp_ds_ctx *ctx)
{
	if (thp_ds.no_memcg)
		return NULL;
	return thp_ds.node_queues ? root_mem_cgroup : ctx->memcg;
}

static struct thp_ds_extra *thp_ds_extra_memcg(struct kunit *test, const char *suffix)
{
	struct thp_ds_ctx *ctx = test->priv;
	struct thp_ds_extra *x = kunit_kzalloc(test, sizeof(*x), GFP_KERNEL);
	struct mem_cgroup *memcg;
	struct dentry *dir;

	thp_ds_need_memcg(test);
	KUNIT_ASSERT_NOT_NULL(test, x);
	snprintf(x->leaf, sizeof(x->leaf), "%s-%s", ctx->leaf, suffix);
	snprintf(x->path, sizeof(x->path), "%s/%s", thp_ds.top_name, x->leaf);
	memcg = thp_ds_make_memcg(thp_ds.top, x->leaf, &dir);
	if (IS_ERR(memcg))
		kunit_skip(test, "cannot create a second memcg %s: %ld", x->path, PTR_ERR(memcg));
	dput(dir);
	x->memcg = memcg;
	KUNIT_ASSERT_EQ(test, 0, kunit_add_action_or_reset(test, thp_ds_extra_release, x));
	return x;
}

/* ---- THPs from real faults ---------------------------------------------- */

/*
 * The suite changes no THP setting: a fault in the case's MADV_HUGEPAGE
 * area allocates an order-@order folio only where the boot (or the
 * administrator) enabled that size, and an order that is not enabled
 * skips, saying how to enable it.
 */
static void thp_ds_need_order(struct kunit *test, unsigned int order)
{
	if (thp_ds_order_enabled(order))
		return;
	if (order == HPAGE_PMD_ORDER)
		kunit_skip(test,
			   "PMD-order THP is not enabled (boot with transparent_hugepage=madvise; a thp_anon= must name the PMD size too)");
	kunit_skip(test, "order-%u anonymous THP is not enabled (boot with thp_anon=%luK:madvise)",
		   order, (PAGE_SIZE << order) / SZ_1K);
}

static void thp_ds_folio_put(void *folio)
{
	folio_put(folio);
}

/**
 * thp_ds_fault() - fault an order-@order THP into the case's test mm
 * @test: the test; its thread must be in the memcg the THP is to charge
 * @order: folio order
 * @addrp: where the THP is mapped (a VMA of exactly its size)
 *
 * The VMA is exactly one folio long and aligned to it, so the fault can
 * allocate neither a larger folio nor a PMD THP in an mTHP case.  Returns
 * the folio with a reference of the case's (released by a deferred action
 * unless the case hands it to the path it tests); a fault that yields any
 * other order skips the case with the reason.
 *
 * What every case then relies on is asserted here: the THP is anonymous
 * and rmappable (what the kernel queues) and charged to the memcg of the
 * cgroup the thread runs in (without a memcg of its own, the memcg queue
 * and the node queue can be one list, and the case would prove nothing),
 * or without the memory controller to none.
 */
static struct folio *thp_ds_fault(struct kunit *test, unsigned int order, unsigned long *addrp)
{
	unsigned long size = PAGE_SIZE << order, start, addr;
	struct mem_cgroup *memcg;
	struct folio *folio;
	struct page *page;

	thp_ds_need_order(test, order);
	start = kunit_vm_mmap(test, NULL, 0, 2 * size, PROT_READ | PROT_WRITE,
			      MAP_PRIVATE | MAP_ANONYMOUS, 0);
	if (IS_ERR_VALUE(start) || !start)
		kunit_skip(test, "cannot map anonymous memory in a test mm");
	addr = ALIGN(start, size);
	if (addr > start)
		vm_munmap(start, addr - start);
	if (addr + size < start + 2 * size)
		vm_munmap(addr + size, start + 2 * size - (addr + size));
	KUNIT_ASSERT_EQ(test, 0, do_madvise(current->mm, addr, size, MADV_HUGEPAGE));
	if (get_user_pages_fast(addr, 1, FOLL_WRITE, &page) != 1)
		kunit_skip(test, "cannot fault in the test mapping");
	folio = page_folio(page);
	KUNIT_ASSERT_EQ(test, 0, kunit_add_action_or_reset(test, thp_ds_folio_put, folio));
	if (folio_order(folio) != order)
		kunit_skip(test, "the fault mapped an order-%u folio, not order %u (memory short?)",
			   folio_order(folio), order);
	KUNIT_ASSERT_TRUE(test, folio_test_anon(folio));
	KUNIT_ASSERT_TRUE(test, thp_ds_folio_queueable(folio));
	rcu_read_lock();
	memcg = folio_memcg(folio);
	rcu_read_unlock();
	KUNIT_ASSERT_PTR_EQ_MSG(test, memcg, ((struct thp_ds_ctx *)test->priv)->charge_to,
				"the order-%u THP is not charged to the memcg of the faulting task",
				order);
	if (!thp_ds.no_memcg)
		KUNIT_ASSERT_FALSE(test, mem_cgroup_is_root(memcg));
	*addrp = addr;
	return folio;
}

/* Drop the case's own reference now (its deferred action with it). */
static void thp_ds_put(struct kunit *test, struct folio *folio)
{
	kunit_release_action(test, thp_ds_folio_put, folio);
}

/*
 * Unmap one page of the THP: rmap then sees it partially mapped and queues
 * it for deferred split itself (deferred_split_folio(folio, true)).
 */
static void thp_ds_unmap_page(struct kunit *test, unsigned long addr)
{
	KUNIT_ASSERT_EQ(test, 0, do_madvise(current->mm, addr + PAGE_SIZE, PAGE_SIZE,
					    MADV_DONTNEED));
}

/* Unmap all of it: the queued folio lives on by the case's reference only. */
static void thp_ds_unmap_all(struct kunit *test, unsigned long addr, struct folio *folio)
{
	KUNIT_ASSERT_EQ(test, 0, do_madvise(current->mm, addr, folio_size(folio),
					    MADV_DONTNEED));
}

/*
 * Put @folio on the LRU and isolate it again, as reclaim does before
 * shrink_folio_list()/shrink_active_list(), and drop the case's reference:
 * the folio is then held by the isolation only, on @list.
 */
static bool thp_ds_isolate(struct kunit *test, struct folio *folio, struct list_head *list)
{
	lru_add_drain();
	if (!thp_ds_isolate_lru(folio))
		return false;
	thp_ds_put(test, folio);
	list_add(thp_ds_folio_lru(folio), list);
	return true;
}

/* ---- the case's queues -------------------------------------------------- */

static struct thp_ds_node_base *thp_ds_node(struct kunit *test, int nid)
{
	struct thp_ds_ctx *ctx = test->priv;

	KUNIT_ASSERT_TRUE_MSG(test, nid >= 0 && nid < nr_node_ids && ctx->nodes[nid].present,
			      "folio on node %d, which had no memory when the case began", nid);
	return &ctx->nodes[nid];
}

/*
 * The split queue @folio belongs on: its memcg's, for its node, or without
 * a memcg (or a queue per memcg) its node's.  The kernel allocates a
 * memcg's queue when it charges a THP (7.x allocates list_lru sublists on
 * demand); a queue that is not there fails the case.
 */
static void thp_ds_folio_queue(struct kunit *test, struct folio *folio, struct thp_ds_queue *q)
{
	struct thp_ds_ctx *ctx = test->priv;
	struct mem_cgroup *memcg = ctx->memcg;
	struct thp_ds_node_base *node;

	if (thp_ds.node_queues) {
		node = thp_ds_node(test, folio_nid(folio));
		*q = node->q;
		ctx->own_len = node->len;
		ctx->own_offset = node->offset;
		return;
	}

	KUNIT_ASSERT_TRUE_MSG(test, thp_ds_memcg_queue(memcg, folio_nid(folio), q),
			      "memcg %llu has no split queue for node %d after charging a THP to it: the charge or fault path did not allocate it",
			      (u64)mem_cgroup_id(memcg), folio_nid(folio));
}

/*
 * The start every queue case shares: in the case's cgroup, fault an
 * order-@order THP and unmap one page of it, so that rmap queues it.
 * Gives the THP (with the case's reference) and where it is mapped, its
 * node's queue as the case found it, and the queue it belongs on.
 */
static struct folio *thp_ds_queued_thp(struct kunit *test, unsigned int order,
				       unsigned long *addrp, struct thp_ds_node_base **nodep,
				       struct thp_ds_queue *mq)
{
	struct folio *folio;

	thp_ds_enter_or_skip(test);
	folio = thp_ds_fault(test, order, addrp);
	*nodep = thp_ds_node(test, folio_nid(folio));
	thp_ds_unmap_page(test, *addrp);
	thp_ds_folio_queue(test, folio, mq);
	return folio;
}

/*
 * The other start: in the case's cgroup, fault a PMD THP and leave it
 * mapped whole.  Where the tree's fault queues a THP (as possibly
 * underused), it must be queued; a THP that is not has no verdict (the
 * administrator may have turned that off).
 */
static struct folio *thp_ds_whole_thp(struct kunit *test, unsigned long *addrp,
				      struct thp_ds_node_base **nodep, struct thp_ds_queue *mq)
{
	struct folio *folio;

	thp_ds_enter_or_skip(test);
	folio = thp_ds_fault(test, HPAGE_PMD_ORDER, addrp);
	*nodep = thp_ds_node(test, folio_nid(folio));
	thp_ds_folio_queue(test, folio, mq);
	if (thp_ds_fault_queues() && list_empty(thp_ds_deferred_list(folio)))
		kunit_skip(test,
			   "the PMD fault did not queue the THP (transparent_hugepage/shrink_underused off?)");
	return folio;
}

/* Expect every node queue's counter and links as the case found them. */
static void thp_ds_expect_nodes_unchanged(struct kunit *test, const char *why)
{
	struct thp_ds_ctx *ctx = test->priv;
	int nid;

	for (nid = 0; nid < nr_node_ids; nid++) {
		struct thp_ds_node_base *b = &ctx->nodes[nid];

		if (!b->present)
			continue;
		THP_DS_EXPECT_LEN(test, &b->q, b->len, why);
		thp_ds_check_queue(test, &b->q, b->offset, NULL, NULL);
	}
}

/* ---- fixture ------------------------------------------------------------ */

/* No cgroup is left under the root of the hierarchy at @mnt, dying ones included. */
static bool thp_ds_hierarchy_empty(struct vfsmount *mnt)
{
	struct kernfs_node *kn = kernfs_node_from_dentry(mnt->mnt_root);
	struct cgroup *root = kn ? kn->priv : NULL;

	return root && list_empty_careful(&root->self.children);
}

static void thp_ds_teardown(void)
{
	int err, waited;

	if (thp_ds.top) {
		dput(thp_ds.top);
		thp_ds.top = NULL;
		err = thp_ds_rmdir(thp_ds.cgroup->mnt_root, thp_ds.top_name);
		if (err)
			pr_err("thp_deferred_split: teardown: could not remove cgroup %s: %d\n",
			       thp_ds.top_name, err);
		/*
		 * Offline moves what is left on the top memcg's queues to the
		 * root's (6.19+): let that happen before the next suite looks.
		 */
		else if (thp_ds.top_memcg && !thp_ds_wait_offline(thp_ds.top_memcg))
			pr_err("thp_deferred_split: teardown: memcg of %s not offline %d ms after rmdir\n",
			       thp_ds.top_name, THP_DS_WAIT_MS);
	}
	if (thp_ds.top_memcg) {
		css_put(&thp_ds.top_memcg->css);
		thp_ds.top_memcg = NULL;
	}
	if (thp_ds.v1 && thp_ds.cgroup) {
		/*
		 * Only an unmount that finds the hierarchy without cgroups
		 * destroys it (and gives the memory controller back to
		 * cgroup2): wait until the removed ones are freed.
		 */
		for (waited = 0; waited < THP_DS_WAIT_MS; waited += 50) {
			if (thp_ds_hierarchy_empty(thp_ds.cgroup))
				break;
			msleep(50);
		}
		kern_unmount(thp_ds.cgroup);
		thp_ds.cgroup = NULL;
		for (waited = 0; waited < THP_DS_WAIT_MS; waited += 50) {
			if (cgroup_subsys_on_dfl(memory_cgrp_subsys))
				break;
			msleep(50);
		}
		if (!cgroup_subsys_on_dfl(memory_cgrp_subsys))
			pr_err("thp_deferred_split: teardown: the memory controller is still on the cgroup-v1 hierarchy %d ms after unmounting it\n",
			       THP_DS_WAIT_MS);
	}
	thp_ds.v1 = false;
	if (thp_ds.root_memory) {
		err = thp_ds_write(thp_ds.cgroup, "cgroup.subtree_control", "-memory");
		if (err)
			pr_err("thp_deferred_split: teardown: could not disable the memory controller at the root again: %d\n",
			       err);
		thp_ds.root_memory = false;
	}
	if (thp_ds.cgroup)
		kern_unmount(thp_ds.cgroup);
	thp_ds.cgroup = NULL;
	if (thp_ds.probing) {
		unregister_trace_console(thp_ds_probe_console, NULL);
		tracepoint_synchronize_unregister();
		thp_ds.probing = false;
	}
}

/*
 * Mount what the suite works in and make its top cgroup: on cgroup2 with
 * the memory controller enabled down to the cases' cgroups, or (@v1) on a
 * cgroup-v1 memory hierarchy, where every cgroup has a memcg of its own.
 */
static int thp_ds_setup(bool v1)
{
	static atomic_t runs = ATOMIC_INIT(0);
	struct cgroup_subsys_state *css;
	char buf[256];
	struct dentry *top;
	int err, tries;

	if (!has_transparent_hugepage()) {
		pr_err("thp_deferred_split: the machine has no transparent huge pages\n");
		return -EOPNOTSUPP;
	}

	thp_ds.no_memcg = mem_cgroup_disabled();
	thp_ds.node_queues = thp_ds.no_memcg || !thp_ds_memcg_queues();
	if (thp_ds.node_queues && !thp_ds.no_memcg)
		pr_info("thp_deferred_split: no split queue per memcg (cgroup.memory=nokmem?): THPs are queued per node, and the cases run on the node queue\n");
	err = register_trace_console(thp_ds_probe_console, NULL);
	if (err)
		goto fail;
	thp_ds.probing = true;
	if (thp_ds.no_memcg)
		return 0;

	thp_ds.v1 = v1;
	thp_ds.cgroup = v1 ? thp_ds_mount_memory_v1() : thp_ds_mount("cgroup2", NULL);
	if (IS_ERR(thp_ds.cgroup)) {
		err = PTR_ERR(thp_ds.cgroup);
		thp_ds.cgroup = NULL;
		goto fail;
	}

	err = v1 ? 0 : thp_ds_read(thp_ds.cgroup, "cgroup.subtree_control", buf, sizeof(buf));
	if (err)
		goto fail;
	if (!v1 && !strstr(buf, "memory")) {
		err = thp_ds_write(thp_ds.cgroup, "cgroup.subtree_control", "+memory");
		if (err)
			goto fail;
		thp_ds.root_memory = true;
	}
	/* a name no earlier run (of this boot, or one that could not clean up) holds */
	for (tries = 0; tries < 16; tries++) {
		snprintf(thp_ds.top_name, sizeof(thp_ds.top_name), THP_DS_TOP ".%d",
			 atomic_inc_return(&runs));
		top = thp_ds_mkdir(thp_ds.cgroup->mnt_root, thp_ds.top_name);
		if (!IS_ERR(top) || PTR_ERR(top) != -EEXIST)
			break;
	}
	if (IS_ERR(top)) {
		err = PTR_ERR(top);
		goto fail;
	}
	thp_ds.top = top;
	css = css_tryget_online_from_dir(top, &memory_cgrp_subsys);
	if (IS_ERR(css)) {
		err = PTR_ERR(css);
		goto fail;
	}
	thp_ds.top_memcg = mem_cgroup_from_css(css);
	if (v1)
		return 0;
	snprintf(buf, sizeof(buf), "%s/cgroup.subtree_control", thp_ds.top_name);
	err = thp_ds_write(thp_ds.cgroup, buf, "+memory");
	if (err)
		goto fail;
	return 0;

fail:
	pr_err("thp_deferred_split: cannot set up the suite's cgroups and mounts: %d\n", err);
	thp_ds_teardown();
	return err;
}

static int thp_ds_suite_init(struct kunit_suite *suite)
{
	return thp_ds_setup(false);
}

static int thp_ds_v1_suite_init(struct kunit_suite *suite)
{
	return thp_ds_setup(true);
}

static void thp_ds_suite_exit(struct kunit_suite *suite)
{
	thp_ds_teardown();
}

/*
 * Last of the case's deferred actions (registered first): once its THPs
 * are freed and its thread is out, remove the case's cgroup, wait for the
 * memcg to go offline (which drains the per-CPU charge stocks) and expect
 * exactly nothing charged to it.  This runs however the case ended, so it
 * also proves that a case failing half-way leaks nothing.
 */
static void thp_ds_case_release(void *data)
{
	struct thp_ds_ctx *ctx = data;
	struct kunit *test = ctx->test;
	struct mem_cgroup *memcg = ctx->memcg;
	unsigned long usage;
	int err;

	dput(ctx->dir);
	if (ctx->queue_in_use) {
		/* a lock holder may still run on its queue: keep the memcg (and so the queue) */
		kunit_err(test, "cgroup %s is left in place: a thread of the case may still hold its queue's lock\n",
			  ctx->path);
		return;
	}
	err = thp_ds_rmdir_bounded(thp_ds.top, ctx->leaf);
	if (err) {
		/* not a check: the case leaves its cgroup behind */
		KUNIT_FAIL(test, "cannot remove the case's cgroup %s (left behind): %d", ctx->path,
			   err);
	} else if (!thp_ds_wait_offline(memcg)) {
		/* not a check: the case leaves a memcg online behind */
		KUNIT_FAIL(test, "memcg %llu still online %d ms after its cgroup was removed",
			   ctx->memcg_id, THP_DS_WAIT_MS);
	} else {
		usage = thp_ds_wait_uncharged(memcg, THP_DS_WAIT_MS);
		/* shown failing by thp_ds_test_checker_leak */
		KUNIT_EXPECT_EQ_MSG(test, usage, 0UL,
				    "memcg %llu still has %lu pages charged %d ms after the case: a folio was leaked or never uncharged",
				    ctx->memcg_id, usage, THP_DS_WAIT_MS);
	}
	css_put(&memcg->css);
}

/*
 * The first of the case's deferred actions, so the last to run: the kernel
 * must not have warned while the case ran, its exit and its other deferred
 * actions (the frees and cgroup removals) included.  A skipped case proved
 * nothing and is left skipped.
 */
static void thp_ds_case_warnings(void *data)
{
	struct thp_ds_ctx *ctx = data;
	struct kunit *test = ctx->test;
	int warns;

	if (thp_ds_case_skipped(test))
		return;
	warns = thp_ds_warn_count();
	KUNIT_EXPECT_EQ_MSG(test, warns, ctx->warns,
			    "the kernel warned %d times during the case (see the log above)",
			    warns - ctx->warns);
}

/* Record a node queue as the case finds it; false when its links are broken. */
static bool thp_ds_node_snapshot(struct kunit *test, int nid, struct thp_ds_node_base *b)
{
	struct thp_ds_walk w;
	char msg[384];

	thp_ds_node_queue(nid, &b->q);
	b->present = true;
	b->len = thp_ds_queue_len(&b->q);
	thp_ds_walk_queue(&b->q, 0, NULL, &w);
	if (!thp_ds_links_intact(&w)) {
		thp_ds_walk_describe(&w, b->q.name, msg, sizeof(msg));
		kunit_skip(test, "broken before the case began, nothing is repaired: %s", msg);
	}
	b->offset = w.forward_count - b->len;
	if (b->offset)
		kunit_info(test,
			   "%s was inconsistent before the case began (%ld entries, length counter %ld): checked relative to that\n",
			   b->q.name, w.forward_count, b->len);
	return true;
}

static void thp_ds_fixture_release(void *unused)
{
	thp_ds_teardown();
}

/*
 * Where the tree's KUnit has no suite-level init and exit (5.10), each
 * case sets the suite's fixture up for itself, and its last deferred
 * action tears it down again.
 */
static int thp_ds_case_fixture(struct kunit *test, bool v1)
{
	int err;

	if (!thp_ds_fixture_per_case())
		return 0;
	err = thp_ds_setup(v1);
	if (err)
		return err;
	return kunit_add_action_or_reset(test, thp_ds_fixture_release, NULL);
}

static int thp_ds_case_init(struct kunit *test, bool v1)
{
	struct thp_ds_ctx *ctx;
	struct mem_cgroup *memcg;
	int nid, err;

	err = thp_ds_case_fixture(test, v1);
	if (err)
		return err;

	ctx = kunit_kzalloc(test, sizeof(*ctx), GFP_KERNEL);
	if (!ctx)
		return -ENOMEM;
	ctx->test = test;
	ctx->warns = thp_ds_warn_count();
	if (kunit_add_action_or_reset(test, thp_ds_case_warnings, ctx))
		return -ENOMEM;
	if (thp_ds.no_memcg)
		goto nodes;
	snprintf(ctx->leaf, sizeof(ctx->leaf), "case%d", atomic_inc_return(&thp_ds.cases));
	snprintf(ctx->path, sizeof(ctx->path), "%s/%s", thp_ds.top_name, ctx->leaf);
	memcg = thp_ds_make_memcg(thp_ds.top, ctx->leaf, &ctx->dir);
	if (IS_ERR(memcg)) {
		kunit_err(test, "cannot create the case's cgroup %s: %ld\n", ctx->path,
			  PTR_ERR(memcg));
		return PTR_ERR(memcg);
	}
	ctx->memcg = memcg;
	ctx->memcg_id = mem_cgroup_id(memcg);
	if (kunit_add_action_or_reset(test, thp_ds_case_release, ctx))
		return -ENOMEM;

nodes:
	ctx->nodes = kunit_kcalloc(test, nr_node_ids, sizeof(*ctx->nodes), GFP_KERNEL);
	if (!ctx->nodes)
		return -ENOMEM;
	test->priv = ctx;
	for_each_node_state(nid, N_MEMORY)
		thp_ds_node_snapshot(test, nid, &ctx->nodes[nid]);
	if (thp_ds.no_memcg && v1)
		kunit_skip(test, "the memory controller is disabled (cgroup_disable=memory)");
	return 0;
}

static int thp_ds_test_init(struct kunit *test)
{
	return thp_ds_case_init(test, false);
}

static int thp_ds_v1_test_init(struct kunit *test)
{
	return thp_ds_case_init(test, true);
}

/*
 * Every case must leave the node queues as it found them, also when it
 * failed half-way: a case that skews a node queue's counter fails here,
 * instead of making a later case fail for no visible reason.  (A case's
 * own memcg queue is checked by the case, its memcg by
 * thp_ds_case_release() and the kernel's warnings by
 * thp_ds_case_warnings().)  A skipped case proved nothing, and its
 * deferred actions, which run after this, still hold what it took.
 */
static void thp_ds_test_exit(struct kunit *test)
{
	struct thp_ds_ctx *ctx = test->priv;

	if (!ctx || thp_ds_case_skipped(test))
		return;
	thp_ds_expect_nodes_unchanged(test, "after the case (residue)");
}

/* ---- cases -------------------------------------------------------------- */

/*
 * The kernel queues a THP on the queue of its own memcg (for its node),
 * never on the node queue: the memcg-aware shrinker only finds it there.
 * The PMD fault queues a THP at once (as possibly underused); rmap queues
 * any THP that loses part of its mapping.  commit 87eaceb3faa5 ("mm: thp:
 * make deferred split shrinker memcg aware").
 */
static void thp_ds_test_enqueue(struct kunit *test)
{
	struct thp_ds_ctx *ctx = test->priv;
	struct thp_ds_node_base *node;
	struct thp_ds_queue mq;
	struct folio *folio;
	unsigned long addr;

	folio = thp_ds_queued_thp(test, thp_ds_param_order(test), &addr, &node, &mq);
	THP_DS_EXPECT_OWN_QUEUED(test, &mq, folio, true);
	THP_DS_EXPECT_NOT_ON_NODE(test, node, folio);
	THP_DS_EXPECT_OWN_LEN(test, &mq, 1, "after rmap queued the partially mapped THP");
	THP_DS_EXPECT_NODE_LEN(test, node, "(the THP is charged to a memcg)");

	vm_munmap(addr, folio_size(folio));
	thp_ds_put(test, folio);
	kunit_release_action(test, thp_ds_leave, ctx);
	THP_DS_EXPECT_OWN_LEN(test, &mq, 0, "after the THP was freed");
}

/*
 * The last folio_put() of a queued THP must unqueue it from its memcg's
 * queue before uncharging it.  commit f8f931bba0f9 ("mm/thp: fix deferred
 * split unqueue naming and locking").
 */
static void thp_ds_test_free_put(struct kunit *test)
{
	struct thp_ds_ctx *ctx = test->priv;
	struct thp_ds_node_base *node;
	struct thp_ds_queue mq;
	struct folio *folio;
	unsigned long addr;

	folio = thp_ds_queued_thp(test, thp_ds_param_order(test), &addr, &node, &mq);
	thp_ds_unmap_all(test, addr, folio);
	THP_DS_EXPECT_OWN_QUEUED(test, &mq, folio, true);
	kunit_release_action(test, thp_ds_leave, ctx);

	thp_ds_put(test, folio);	/* the last reference */

	THP_DS_EXPECT_OWN_LEN(test, &mq, 0, "after the last folio_put()");
	THP_DS_EXPECT_NODE_LEN(test, node, "(the THP was never on it)");
	thp_ds_check_own_queue(test, &mq);
	thp_ds_check_node(test, node);
	vm_munmap(addr, PAGE_SIZE << thp_ds_param_order(test));
}

/*
 * The batched free of munmap and exit, which is how most queued THPs die:
 * a THP whose last references are its mappings is freed from the TLB
 * gather batch (free_pages_and_swap_cache(), then folios_put_refs(), or
 * release_pages() on 6.1), which uncharges the whole batch after its loop.
 * Each folio must leave its memcg's queue before that.  The case drops
 * its own reference first, so the zap of the mapping drops the last one.
 * commit f8f931bba0f9 ("mm/thp: fix deferred split unqueue naming and
 * locking").
 */
static void thp_ds_test_free_zap(struct kunit *test)
{
	struct thp_ds_ctx *ctx = test->priv;
	struct thp_ds_node_base *node;
	struct thp_ds_queue mq;
	struct folio *folio;
	unsigned long addr;

	folio = thp_ds_queued_thp(test, thp_ds_param_order(test), &addr, &node, &mq);
	THP_DS_EXPECT_OWN_QUEUED(test, &mq, folio, true);
	lru_add_drain_all();	/* no per-CPU LRU batch may hold the last reference */
	thp_ds_put(test, folio);	/* the mappings hold it now */

	vm_munmap(addr, PAGE_SIZE << thp_ds_param_order(test));	/* the zap frees it */
	kunit_release_action(test, thp_ds_leave, ctx);

	THP_DS_EXPECT_OWN_LEN(test, &mq, 0, "after munmap freed the THP");
	THP_DS_EXPECT_NODE_LEN(test, node,
			       "(the THP was never on it: was it unqueued from here?)");
	thp_ds_check_own_queue(test, &mq);
	thp_ds_check_node(test, node);
}

/*
 * Hand the isolated THP on @list to reclaim's putback, which drops the
 * last reference; false when something else held a reference and the
 * folio went back on the LRU instead (then the case has no verdict).
 */
static bool thp_ds_reclaim_free(struct list_head *list)
{
	return thp_ds_putback_and_free(list) == 0;
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
	struct thp_ds_node_base *node;
	struct thp_ds_queue mq;
	struct folio *folio;
	unsigned long addr;
	LIST_HEAD(list);

	folio = thp_ds_queued_thp(test, thp_ds_param_order(test), &addr, &node, &mq);
	thp_ds_unmap_all(test, addr, folio);
	KUNIT_ASSERT_TRUE(test, thp_ds_isolate(test, folio, &list));
	THP_DS_EXPECT_OWN_QUEUED(test, &mq, folio, true);
	kunit_release_action(test, thp_ds_leave, ctx);

	if (!thp_ds_reclaim_free(&list))
		kunit_skip(test,
			   "another reference kept the THP alive: reclaim put it back on the LRU instead of freeing it (no verdict)");

	THP_DS_EXPECT_OWN_LEN(test, &mq, 0, "after move_folios_to_lru() freed the folio");
	THP_DS_EXPECT_NODE_LEN(test, node,
			       "(the folio was never on it: was it unqueued from here?)");
	thp_ds_check_own_queue(test, &mq);
	thp_ds_check_node(test, node);
	vm_munmap(addr, PAGE_SIZE << thp_ds_param_order(test));
}

/*
 * The free at the end of shrink_folio_list(), reclaim's other way to free
 * a THP: a clean, lazily freed (MADV_FREE) anonymous THP is discarded
 * rather than swapped, and freed in a batch that is uncharged as a whole.
 * Each folio must leave its memcg's queue before that.  The THP is queued
 * while it is mapped whole, as the kernel queues one it finds underused
 * (MADV_FREE would split a partially mapped one), and reclaimed with
 * reclaim_pages(), as MADV_PAGEOUT does.  commit f8f931bba0f9 ("mm/thp:
 * fix deferred split unqueue naming and locking").
 */
static void thp_ds_test_free_shrink(struct kunit *test)
{
	struct thp_ds_ctx *ctx = test->priv;
	struct thp_ds_node_base *node;
	struct thp_ds_queue mq;
	unsigned long addr, freed;
	struct folio *folio;
	LIST_HEAD(list);

	thp_ds_enter_or_skip(test);
	folio = thp_ds_fault(test, HPAGE_PMD_ORDER, &addr);
	node = thp_ds_node(test, folio_nid(folio));
	thp_ds_folio_queue(test, folio, &mq);
	thp_ds_queue_mapped(folio);
	THP_DS_EXPECT_OWN_QUEUED(test, &mq, folio, true);
	KUNIT_ASSERT_EQ(test, 0, do_madvise(current->mm, addr, HPAGE_PMD_SIZE, MADV_FREE));
	lru_add_drain_all();	/* MADV_FREE goes through a per-CPU LRU batch */
	if (folio_test_swapbacked(folio))
		kunit_skip(test, "MADV_FREE did not make the THP lazily freed (no verdict)");
	KUNIT_ASSERT_TRUE(test, thp_ds_isolate(test, folio, &list));

	freed = reclaim_pages(&list);	/* shrink_folio_list() frees it */
	kunit_release_action(test, thp_ds_leave, ctx);
	if (freed < HPAGE_PMD_NR) {
		vm_munmap(addr, HPAGE_PMD_SIZE);
		kunit_skip(test, "reclaim kept the lazily freed THP (%lu pages freed; no verdict)",
			   freed);
	}

	THP_DS_EXPECT_OWN_LEN(test, &mq, 0, "after reclaim freed the THP");
	THP_DS_EXPECT_NODE_LEN(test, node,
			       "(the THP was never on it: was it unqueued from here?)");
	thp_ds_check_own_queue(test, &mq);
	thp_ds_check_node(test, node);
	vm_munmap(addr, HPAGE_PMD_SIZE);
}

/*
 * Start @fn in a kthread bound to a CPU other than the caller's.  The
 * caller is pinned with migrate_disable() first (and unpins when done), so
 * the two cannot end up sharing a CPU, where a lock held with interrupts
 * off would keep the other side from running at all.  The thread ends by
 * itself; nobody kthread_stop()s it, so nothing waits on it unbounded.
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
	kthread_bind(task, cpu);
	wake_up_process(task);
	return task;
}

static void thp_ds_need_two_cpus(struct kunit *test)
{
	if (num_online_cpus() < 2)
		kunit_skip(test, "needs two online CPUs (QEMU -smp 2)");
}

/* An operation on a queued THP whose lock discipline thp_ds_under_lock() checks. */
struct thp_ds_op {
	void (*fn)(struct thp_ds_op *op);
	const char *what;		/* for messages: "the reclaim-path free" */
	struct list_head list;		/* isolated folios the operation takes */
	struct folio *folio;
	struct mem_cgroup *memcg;
	int nid;
	unsigned long addr;		/* where the folio is mapped in the case's mm */
	bool done_ok;			/* the operation did what the case needs */
};

static struct thp_ds_op *thp_ds_op_new(struct kunit *test, void (*fn)(struct thp_ds_op *op),
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
 * THP_DS_WAIT_MS, or ran while the lock was not held, gives no verdict, and
 * the case skips.  The operation runs here, in the case's thread and mm;
 * the holder is a kernel thread on the other CPU, which runs no user mm
 * while it holds the lock.  Every wait is bounded.  Not on PREEMPT_RT,
 * where a spinlock_t sleeps and neither disables interrupts nor shows its
 * waiters.
 */
static void thp_ds_under_lock(struct kunit *test, struct thp_ds_op *op,
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
		kunit_skip(test,
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
		kunit_skip(test, "cannot start the lock holder: %ld (no verdict)", PTR_ERR(task));
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
			kunit_skip(test,
				   "the lock holder had not begun %d ms after the operation (no verdict)",
				   2 * THP_DS_WAIT_MS);
		}
		ctx->queue_in_use = true;
		thp_ds_holder_put(h);
		kunit_skip(test,
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
	if (!h->held_while_op || (!h->contended && !h->finished_early)) {
		bool held = h->held;

		thp_ds_holder_put(h);
		kunit_skip(test, "%s did not meet %s's lock held (%s within %d ms; no verdict)",
			   op->what, q->name, held ? "it never waited for it" : "not held",
			   THP_DS_WAIT_MS);
	}
	kunit_info(test, "%s %s %s's lock (%u holds)\n", op->what,
		   h->contended ? "waited for" : "returned without changing the queue under",
		   q->name, h->holds);
	thp_ds_holder_put(h);
	if (!op->done_ok)
		kunit_skip(test, "%s did not do what the case needs (see the log; no verdict)",
			   op->what);
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
static void thp_ds_test_free_reclaim_lock(struct kunit *test)
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
		kunit_skip(test, "cannot isolate the queued THP from the LRU (no verdict)");
	THP_DS_EXPECT_OWN_QUEUED(test, &mq, folio, true);	/* what the operation starts from */
	thp_ds_under_lock(test, op, &mq, &node->q, folio);

	THP_DS_EXPECT_OWN_LEN(test, &mq, 0, "after the free");
	THP_DS_EXPECT_NODE_LEN(test, node, "after the free");
	thp_ds_check_own_queue(test, &mq);
	vm_munmap(addr, HPAGE_PMD_SIZE);
}

static void thp_ds_op_shrink(struct thp_ds_op *op)
{
	thp_ds_shrink(op->memcg, op->nid);
	op->done_ok = true;
}

/*
 * Lock discipline of the deferred split shrinker: its scan of the case's
 * memcg takes the THPs off that memcg's queue and puts back the ones it
 * cannot split (the case holds a reference), under that queue's lock.
 * commit e66f3185fa04 ("mm/thp: fix deferred split queue not
 * partially_mapped").
 */
static void thp_ds_test_shrinker_lock(struct kunit *test)
{
	struct thp_ds_ctx *ctx = test->priv;
	struct thp_ds_node_base *node;
	struct thp_ds_queue mq;
	struct thp_ds_op *op;
	struct folio *folio;
	unsigned long addr;

	thp_ds_need_two_cpus(test);
	folio = thp_ds_queued_thp(test, HPAGE_PMD_ORDER, &addr, &node, &mq);
	op = thp_ds_op_new(test, thp_ds_op_shrink, "the deferred split shrinker");
	op->memcg = thp_ds_shrink_target(ctx);
	op->nid = folio_nid(folio);
	THP_DS_EXPECT_OWN_QUEUED(test, &mq, folio, true);	/* what the operation starts from */
	thp_ds_under_lock(test, op, &mq, &node->q, folio);

	THP_DS_EXPECT_OWN_QUEUED(test, &mq, folio, true);
	THP_DS_EXPECT_OWN_LEN(test, &mq, 1,
			      "after the shrinker put back the THP it could not split");
	THP_DS_EXPECT_NODE_LEN(test, node, "(the THP was never on it)");
	vm_munmap(addr, HPAGE_PMD_SIZE);
	thp_ds_put(test, folio);
	kunit_release_action(test, thp_ds_leave, ctx);
}

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
static void thp_ds_test_split_lock(struct kunit *test)
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

/* rmap's enqueue: unmapping one page of the THP makes it partially mapped. */
static void thp_ds_op_enqueue(struct thp_ds_op *op)
{
	op->done_ok = !do_madvise(current->mm, op->addr + PAGE_SIZE, PAGE_SIZE, MADV_DONTNEED);
	if (!op->done_ok)
		pr_info("thp_deferred_split: MADV_DONTNEED of one page of the THP failed\n");
}

/*
 * Lock discipline of the enqueue: unmapping part of a THP charged to the
 * case's memcg makes rmap queue it (deferred_split_folio(), 6.1
 * deferred_split_huge_page()) on that memcg's queue, under that queue's
 * lock.  Where the fault queued the THP already, the enqueue only marks it
 * partially mapped: a tree may do that under the lock or, for a queued
 * folio, without it, but never link or unlink it without the lock.
 * commit 87eaceb3faa5 ("mm: thp: make deferred split shrinker memcg
 * aware").
 */
static void thp_ds_test_enqueue_lock(struct kunit *test)
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

/*
 * The deferred split shrinker, driven through shrink_slab() for the case's
 * memcg, must take a THP it cannot split (the case holds a reference) off
 * the memcg queue under that queue's lock and put it back on the same
 * queue, with the length counter right.
 * commit e66f3185fa04 ("mm/thp: fix deferred split queue not
 * partially_mapped").
 */
static void thp_ds_test_shrinker_requeue(struct kunit *test)
{
	struct thp_ds_ctx *ctx = test->priv;
	struct thp_ds_node_base *node;
	struct thp_ds_queue mq;
	struct folio *folio;
	unsigned long addr;

	folio = thp_ds_queued_thp(test, HPAGE_PMD_ORDER, &addr, &node, &mq);

	thp_ds_shrink(thp_ds_shrink_target(ctx), folio_nid(folio));

	THP_DS_EXPECT_OWN_QUEUED(test, &mq, folio, true);
	THP_DS_EXPECT_NOT_ON_NODE(test, node, folio);
	THP_DS_EXPECT_OWN_LEN(test, &mq, 1, "after the shrinker put back a THP it could not split");

	vm_munmap(addr, HPAGE_PMD_SIZE);
	thp_ds_put(test, folio);
	kunit_release_action(test, thp_ds_leave, ctx);
	THP_DS_EXPECT_OWN_LEN(test, &mq, 0, "after the THP was freed");
}

/*
 * The kernel's own path, end to end: a THP faulted in by a task of the
 * case's memcg and partially unmapped is queued by rmap; the shrinker for
 * that memcg must then split it and take it off the memcg queue, leaving
 * the counter right.  commit 87eaceb3faa5 ("mm: thp: make deferred split
 * shrinker memcg aware").
 */
static void thp_ds_test_shrinker_split(struct kunit *test)
{
	struct thp_ds_ctx *ctx = test->priv;
	struct thp_ds_node_base *node;
	struct thp_ds_queue mq;
	struct folio *folio;
	struct page *page;
	unsigned long addr;

	folio = thp_ds_queued_thp(test, HPAGE_PMD_ORDER, &addr, &node, &mq);
	THP_DS_EXPECT_OWN_QUEUED(test, &mq, folio, true);
	thp_ds_put(test, folio);	/* the shrinker cannot split a pinned folio */

	thp_ds_shrink(thp_ds_shrink_target(ctx), folio_nid(folio));

	THP_DS_EXPECT_OWN_LEN(test, &mq, 0, "after the shrinker split the THP");
	THP_DS_EXPECT_NODE_LEN(test, node, "(the THP was never on it)");
	/* an entry left linked shows as a queue with more entries than its counter */
	thp_ds_check_own_queue(test, &mq);
	if (get_user_pages_fast(addr, 1, 0, &page) == 1) {
		KUNIT_EXPECT_FALSE_MSG(test, folio_test_large(page_folio(page)),
				       "the partially mapped THP was not split");
		put_page(page);
	}

	vm_munmap(addr, HPAGE_PMD_SIZE);
	lru_add_drain_all();
	kunit_release_action(test, thp_ds_leave, ctx);
}

/*
 * A queued THP split outside the shrinker: migrate_pages() splits a
 * partially mapped THP that is on a deferred split queue instead of
 * migrating it (try_split_folio()); trees that migrate it whole
 * split it here as their other splitters (KSM, madvise, reclaim) do, with
 * split_folio() under the folio lock.  The split must take it off its
 * memcg's queue, under that queue's lock, with the counter right.  (On
 * trees whose shrinker takes a THP off the queue before splitting it,
 * this is the path that exercises the split's own unqueue.)
 */
static void thp_ds_test_split(struct kunit *test)
{
	struct thp_ds_ctx *ctx = test->priv;
	struct thp_ds_node_base *node;
	struct thp_ds_queue mq;
	struct folio *folio;
	unsigned long addr;
	struct page *page;
	LIST_HEAD(list);
	bool split;

	folio = thp_ds_queued_thp(test, HPAGE_PMD_ORDER, &addr, &node, &mq);
	THP_DS_EXPECT_OWN_QUEUED(test, &mq, folio, true);
	if (thp_ds_migrate_splits_partially_mapped()) {
		KUNIT_ASSERT_TRUE(test, thp_ds_isolate(test, folio, &list));
		thp_ds_migrate(&list);	/* splits it: that migration fails is no news */
	} else {
		lru_add_drain_all();	/* a per-CPU LRU batch's reference blocks the split */
		folio_lock(folio);
		thp_ds_split_folio(folio);
		folio_unlock(folio);
		thp_ds_put(test, folio);
	}

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
 * Migration of a queued THP through migrate_pages(): the source must leave
 * its memcg queue (unqueued while its refcount is frozen) before its memcg
 * is cleared, and on trees that requeue the destination, migrate_folio_move()
 * must queue it on the queue of the memcg it was charged to.  Where
 * migrate_pages() splits partially mapped THPs instead of migrating them
 * (6.12 and later), the THP is one the PMD fault queued as possibly
 * underused; older trees migrate a partially mapped THP whole.
 * commit 9bcef5973e31 ("mm: memcg: fix split queue list crash when large
 * folio migration"), commit be9581ea8c05 ("mm: fix crashes from deferred
 * split racing folio migration").
 */
/*
 * A queued THP that migrate_pages() migrates rather than splits: one the
 * PMD fault queued where partially mapped THPs are split on migration
 * (those trees' fault queues a THP), a partially mapped one elsewhere.
 */
static struct folio *thp_ds_migratable_thp(struct kunit *test, unsigned long *addrp,
					   struct thp_ds_node_base **nodep,
					   struct thp_ds_queue *mq)
{
	if (!thp_ds_migrate_splits_partially_mapped())
		return thp_ds_queued_thp(test, HPAGE_PMD_ORDER, addrp, nodep, mq);
	return thp_ds_whole_thp(test, addrp, nodep, mq);
}

static void thp_ds_test_migrate(struct kunit *test)
{
	struct thp_ds_ctx *ctx = test->priv;
	struct thp_ds_node_base *node;
	struct thp_ds_queue mq;
	bool requeues = thp_ds_migrate_requeues();
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
		kunit_skip(test, "migrate_pages() could not migrate the THP: %d", rc);
	/* the source is freed: only its address is compared from here on */

	KUNIT_ASSERT_EQ(test, 1, get_user_pages_fast(addr, 1, FOLL_WRITE, &page));
	dst = page_folio(page);
	KUNIT_ASSERT_EQ(test, 0, kunit_add_action_or_reset(test, thp_ds_folio_put, dst));
	KUNIT_ASSERT_PTR_NE_MSG(test, dst, src, "the THP was not migrated");
	KUNIT_ASSERT_EQ(test, folio_order(dst), HPAGE_PMD_ORDER);
	/* the source left the queue: its counter below says so */
	THP_DS_EXPECT_OWN_QUEUED(test, &mq, dst, requeues);
	THP_DS_EXPECT_NOT_ON_NODE(test, node, dst);
	THP_DS_EXPECT_OWN_LEN(test, &mq, requeues ? 1 : 0,
			      requeues ? "after migration: the destination, not the source" :
			      "after migration: the source left, the tree does not requeue");
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
 * source off its memcg's queue under that queue's lock (6.12 and later
 * while the source's refcount is frozen, older trees when the source is
 * freed after the move) and, where the tree requeues, queues the
 * destination under it.  (See thp_ds_under_lock().)  commit be9581ea8c05
 * ("mm: fix crashes from deferred split racing folio migration").
 */
static void thp_ds_test_migrate_lock(struct kunit *test)
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

/*
 * Removing a memcg that still has a queued THP: the folio must stay on a
 * queue that a later free finds under the right lock.  Trees without
 * reparenting keep it on the dying memcg's queue; trees that reparent the
 * split queue (6.19+) move it to the parent's queue.  Either way the free
 * afterwards must unlink it from there and leave every counter right.
 *
 * The memcg taken offline is a sibling of the case's, under the suite's
 * top cgroup: a memcg's own structures are charged to its parent, and
 * would stay charged to the case's memcg for as long as the dying memcg
 * lives.  The top's queue is shared by the suite's cases, so it is checked
 * relative to how this case found it.
 */
static void thp_ds_test_memcg_offline(struct kunit *test)
{
	struct thp_ds_ctx *ctx = test->priv;
	struct thp_ds_queue dq, pq;
	struct thp_ds_node_base *node;
	struct thp_ds_extra *dying;
	struct thp_ds_walk w;
	struct folio *folio;
	unsigned long addr;
	long parent_len = 0, parent_offset = 0;

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
	if (thp_ds_reparents_split_queue()) {
		KUNIT_ASSERT_TRUE(test, thp_ds_memcg_queue(parent_mem_cgroup(dying->memcg),
							   folio_nid(folio), &pq));
		thp_ds_walk_queue(&pq, 0, NULL, &w);
		if (!thp_ds_links_intact(&w))
			kunit_skip(test, "%s's links were broken before the case", pq.name);
		parent_len = thp_ds_queue_len(&pq);
		parent_offset = w.forward_count - parent_len;
	}

	KUNIT_ASSERT_EQ_MSG(test, thp_ds_extra_offline(dying), 0,
			    "cannot take memcg %s offline", dying->path);

	if (thp_ds_reparents_split_queue()) {
		THP_DS_EXPECT_QUEUED(test, &pq, parent_offset, folio, true);
		THP_DS_EXPECT_LEN(test, &pq, parent_len + 1, "after reparenting");
	} else {
		THP_DS_EXPECT_QUEUED(test, &dq, 0, folio, true);
		THP_DS_EXPECT_LEN(test, &dq, 1, "(the dying memcg keeps its queue)");
	}
	THP_DS_EXPECT_NOT_ON_NODE(test, node, folio);

	thp_ds_put(test, folio);

	if (thp_ds_reparents_split_queue()) {
		THP_DS_EXPECT_LEN(test, &pq, parent_len, "after freeing the folio");
		thp_ds_check_queue(test, &pq, parent_offset, NULL, NULL);
	} else {
		THP_DS_EXPECT_LEN(test, &dq, 0, "after freeing the folio");
		thp_ds_check_queue(test, &dq, 0, NULL, NULL);
	}
	THP_DS_EXPECT_NODE_LEN(test, node, "after freeing the folio");
	/* the dying memcg is pinned (by the second memcg's action) until here */
	kunit_release_action(test, thp_ds_extra_release, dying);
}

/*
 * The other side of the race: the shrinker scanning the case memcg's queue.
 * Refcounted and holding its own reference on the memcg, so that however
 * the case ends (an assertion in its loop included), the scanner never
 * runs on a freed memcg or frees what the case still reads; the case stops
 * it and waits for it (bounded) in a deferred action.
 */
struct thp_ds_scanner {
	struct mem_cgroup *memcg;
	int nid;
	bool stop;
	unsigned long scans;
	refcount_t ref;
	struct completion done;
};

static void thp_ds_scanner_put(struct thp_ds_scanner *sc)
{
	if (refcount_dec_and_test(&sc->ref)) {
		if (sc->memcg)
			css_put(&sc->memcg->css);
		kfree(sc);
	}
}

static int thp_ds_scanner_fn(void *data)
{
	struct thp_ds_scanner *sc = data;
	unsigned long deadline = jiffies + msecs_to_jiffies(THP_DS_RACE_MS + THP_DS_WAIT_MS);

	while (!READ_ONCE(sc->stop) && time_before(jiffies, deadline)) {
		thp_ds_shrink(sc->memcg, sc->nid);
		WRITE_ONCE(sc->scans, sc->scans + 1);
		cond_resched();
	}
	complete_all(&sc->done);
	thp_ds_scanner_put(sc);
	return 0;
}

/* Deferred action: stop the scanner and wait for it (bounded), then let go of it. */
static void thp_ds_scanner_stop(void *data)
{
	struct thp_ds_scanner *sc = data;

	WRITE_ONCE(sc->stop, true);
	wait_for_completion_timeout(&sc->done, msecs_to_jiffies(THP_DS_WAIT_MS));
	thp_ds_scanner_put(sc);
}

/*
 * The seed's crash, as a race: reclaim frees batches of queued THPs through
 * move_folios_to_lru() on this CPU while the deferred split shrinker scans
 * the same memcg queue on the other.  If the free unlinks a folio under
 * another lock than the memcg queue's, the scan's list operations and the
 * free's collide; with CONFIG_DEBUG_LIST the kernel reports the corruption
 * (a warning, which the case's warning check catches), and the checker
 * finds the queue's links or counter broken.  A patched kernel stays
 * silent.  The THPs are queued and freed in batches, as reclaim frees
 * them, so that the shrinker finds several on the queue at once.
 *
 * Timing: runs for THP_DS_RACE_MS; a bug that the race does not hit in
 * that time still shows in the counters, which every batch moves.
 */
static void thp_ds_test_race_reclaim_scan(struct kunit *test)
{
	struct thp_ds_ctx *ctx = test->priv;
	unsigned long frees = 0, scans, deadline;
	struct thp_ds_node_base *node = NULL;
	struct thp_ds_scanner *sc;
	struct task_struct *task;
	struct thp_ds_queue mq;
	bool stopped;
	int i;

	thp_ds_need_two_cpus(test);
	sc = kzalloc_obj(*sc, GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, sc);
	sc->memcg = thp_ds_shrink_target(ctx);
	if (sc->memcg)
		css_get(&sc->memcg->css);
	sc->nid = numa_node_id();
	refcount_set(&sc->ref, 1);
	init_completion(&sc->done);
	thp_ds_enter_or_skip(test);

	/*
	 * Pinned for the whole race (by affinity, since the loop may sleep
	 * and assert): this case's thread ends with the case.
	 */
	set_cpus_allowed_ptr(current, cpumask_of(raw_smp_processor_id()));
	refcount_inc(&sc->ref);		/* the scanner's */
	task = thp_ds_start_elsewhere(thp_ds_scanner_fn, sc, "thp_ds_scanner");
	if (IS_ERR(task)) {
		refcount_dec(&sc->ref);
		thp_ds_scanner_put(sc);
		kunit_skip(test, "cannot start the scanner thread: %ld (no verdict)",
			   PTR_ERR(task));
	}
	KUNIT_ASSERT_EQ(test, 0, kunit_add_action_or_reset(test, thp_ds_scanner_stop, sc));

	deadline = jiffies + msecs_to_jiffies(THP_DS_RACE_MS);
	while (time_before(jiffies, deadline)) {
		unsigned long addr[THP_DS_RACE_BATCH_MAX];
		struct folio *folio[THP_DS_RACE_BATCH_MAX];
		LIST_HEAD(list);

		for (i = 0; i < THP_DS_RACE_BATCH; i++) {
			folio[i] = thp_ds_fault(test, HPAGE_PMD_ORDER, &addr[i]);
			thp_ds_unmap_page(test, addr[i]);
		}
		if (!node) {
			node = thp_ds_node(test, folio_nid(folio[0]));
			thp_ds_folio_queue(test, folio[0], &mq);
		}
		for (i = 0; i < THP_DS_RACE_BATCH; i++) {
			vm_munmap(addr[i], HPAGE_PMD_SIZE);
			if (!thp_ds_isolate(test, folio[i], &list))
				break;
		}
		thp_ds_reclaim_free(&list);
		frees += i;
		if (i < THP_DS_RACE_BATCH)
			break;	/* the rest are released by their deferred actions */
		cond_resched();
	}
	WRITE_ONCE(sc->stop, true);
	stopped = wait_for_completion_timeout(&sc->done, msecs_to_jiffies(THP_DS_WAIT_MS));
	scans = READ_ONCE(sc->scans);
	kunit_release_action(test, thp_ds_scanner_stop, sc);
	if (!stopped)
		kunit_skip(test, "the scanner did not stop within %d ms (no verdict)",
			   THP_DS_WAIT_MS);
	kunit_release_action(test, thp_ds_leave, ctx);
	lru_add_drain_all();

	kunit_info(test, "%lu reclaim-path frees against %lu shrinker scans in %d ms\n",
		   frees, scans, THP_DS_RACE_MS);
	if (!frees || !scans)
		kunit_skip(test, "no race: %lu frees, %lu scans (no verdict)", frees, scans);
	thp_ds_check_own_queue(test, &mq);
	thp_ds_check_node(test, node);
	THP_DS_EXPECT_OWN_LEN(test, &mq, 0, "after the race");
	THP_DS_EXPECT_NODE_LEN(test, node, "after the race");
}

/* ---- cgroup-v1 paths ---------------------------------------------------- */

/* Undo thp_ds_swap_map() once the case's swap charge is given back. */
static void thp_ds_swap_unmap_action(void *unused)
{
	thp_ds_swap_unmap();
}

/*
 * cgroup-v1 swap-out of a queued THP.  Reclaim's __remove_mapping()
 * freezes the folio's refcount and calls mem_cgroup_swapout() with
 * interrupts off; that moves the memory+swap charge to the swap entry and
 * clears the folio's memcg, and the folio is freed afterwards.  The folio
 * must leave its memcg's queue before its memcg is cleared: if not, the
 * free looks the queue up from no memcg, unlinks the folio under the node
 * queue's lock and decrements the node queue's counter (it wraps below
 * zero), while the memcg queue's counter keeps counting a freed folio:
 * the seed's state.  The case does the swap-out step itself, as reclaim
 * does, on a swap type that no swap area uses (it needs only the type's
 * swap_cgroup map, so there is no I/O and no device).  commit f8f931bba0f9
 * ("mm/thp: fix deferred split unqueue naming and locking"), whose
 * swap-out hunk 6.1.y and 5.10.y never received.
 */
static void thp_ds_test_swapout(struct kunit *test)
{
	struct thp_ds_ctx *ctx = test->priv;
	unsigned int nr = HPAGE_PMD_NR;
	struct thp_ds_node_base *node;
	const char *why_not;
	struct thp_ds_queue mq;
	struct folio *folio;
	unsigned long addr, memcg_data, pfn;
	bool linked;
	LIST_HEAD(list);
	int err;

	why_not = thp_ds_swapout_unsupported();
	if (why_not)
		kunit_skip(test, "%s", why_not);
	err = thp_ds_swap_map(nr);
	if (err)
		kunit_skip(test, "cannot give swap type %d a swap_cgroup map: %d",
			   THP_DS_SWAP_TYPE, err);
	KUNIT_ASSERT_EQ(test, 0, kunit_add_action_or_reset(test, thp_ds_swap_unmap_action, NULL));

	folio = thp_ds_queued_thp(test, HPAGE_PMD_ORDER, &addr, &node, &mq);
	thp_ds_unmap_all(test, addr, folio);
	kunit_release_action(test, thp_ds_leave, ctx);
	THP_DS_EXPECT_OWN_QUEUED(test, &mq, folio, true);
	lru_add_drain_all();
	KUNIT_ASSERT_TRUE(test, thp_ds_isolate(test, folio, &list));
	list_del_init(thp_ds_folio_lru(folio));
	if (!folio_ref_freeze(folio, 1)) {
		folio_putback_lru(folio);
		kunit_skip(test, "another reference kept the THP from being frozen (no verdict)");
	}

	local_irq_disable();
	thp_ds_swapout(folio);
	local_irq_enable();

	memcg_data = thp_ds_folio_memcg_data(folio);
	thp_ds_check_queue(test, &mq, 0, thp_ds_deferred_list(folio), &linked);
	pfn = folio_pfn(folio);

	/* nothing may stop before this: the swap charge and the folio are given back */
	thp_ds_swap_uncharge(nr);
	folio_ref_unfreeze(folio, 1);
	folio_put(folio);		/* the free after the swap-out */

	if (memcg_data)
		kunit_skip(test,
			   "mem_cgroup_swapout() left the folio charged: memory+swap accounting is off (no verdict)");
	KUNIT_EXPECT_FALSE_MSG(test, linked,
			       "mem_cgroup_swapout() cleared the memcg of folio pfn %#lx while it was still linked on %s: its free then unlinks it under %s's lock and counts it off there",
			       pfn, mq.name, node->q.name);

	THP_DS_EXPECT_OWN_LEN(test, &mq, 0, "after the swapped-out THP was freed");
	THP_DS_EXPECT_NODE_LEN(test, node,
			       "(the THP was never on it: was it unqueued from here?)");
	thp_ds_check_own_queue(test, &mq);
	thp_ds_check_node(test, node);
	vm_munmap(addr, HPAGE_PMD_SIZE);
}

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
static void thp_ds_test_charge_move(struct kunit *test)
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
		kunit_skip(test, "%s", why_not);
	dest = thp_ds_extra_memcg(test, "dest");
	snprintf(file, sizeof(file), "%s/memory.move_charge_at_immigrate", dest->path);
	err = thp_ds_write(thp_ds.cgroup, file, "1");
	if (err)
		kunit_skip(test, "cannot turn on the charge move into %s: %d", dest->path, err);
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
		kunit_skip(test, "cannot start a task that is not a kernel thread: %d", pid);
	}
	vm_munmap(addr, HPAGE_PMD_SIZE);	/* the owner's copy maps it alone */
	err = thp_ds_move_task(dest->path, pid);	/* the charge move */
	rcu_read_lock();
	memcg = folio_memcg(folio);
	rcu_read_unlock();
	if (!err)
		thp_ds_check_queue(test, &mq, 0, thp_ds_deferred_list(folio), &linked);
	complete(&owner->exit);
	kernel_wait(pid, &status);
	kernel_sigaction(SIGCHLD, SIG_IGN);
	if (err)
		kunit_skip(test, "cannot move the mm's owner into %s: %d", dest->path, err);

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

	KUNIT_EXPECT_TRUE(test, thp_ds_walk(&head, 3, 0, &b, &w));
	KUNIT_EXPECT_TRUE(test, w.contains);
	KUNIT_EXPECT_TRUE(test, thp_ds_walk(&head, 3, 0, &stray, &w));
	KUNIT_EXPECT_FALSE(test, w.contains);

	/* counter says 1, list holds 3 (the seed: counter of the wrong queue) */
	KUNIT_EXPECT_FALSE(test, thp_ds_walk(&head, 1, 0, NULL, &w));
	KUNIT_EXPECT_EQ(test, w.fault, THP_DS_COUNT_MISMATCH);
	KUNIT_EXPECT_EQ(test, w.forward_count, 3L);
	/* ... and relative to a queue that was already two off: consistent */
	KUNIT_EXPECT_TRUE(test, thp_ds_walk(&head, 1, 2, NULL, &w));
	KUNIT_EXPECT_FALSE(test, thp_ds_walk(&head, 1, 1, NULL, &w));

	/* counter wrapped below zero on an empty list */
	INIT_LIST_HEAD(&stray);
	KUNIT_EXPECT_FALSE(test, thp_ds_walk(&stray, -1, 0, NULL, &w));
	KUNIT_EXPECT_EQ(test, w.fault, THP_DS_COUNT_MISMATCH);

	/* b deleted under another lock while a still points to it */
	b.prev = LIST_POISON2;
	KUNIT_EXPECT_FALSE(test, thp_ds_walk(&head, 3, 0, NULL, &w));
	KUNIT_EXPECT_EQ(test, w.fault, THP_DS_BROKEN_LINK);
	KUNIT_EXPECT_PTR_EQ(test, w.entry, (const struct list_head *)&b);
	KUNIT_EXPECT_PTR_EQ(test, w.expected, (const void *)&a);
	b.prev = &a;

	/* a freed entry with next poisoned */
	b.next = LIST_POISON1;
	KUNIT_EXPECT_FALSE(test, thp_ds_walk(&head, 3, 0, NULL, &w));
	KUNIT_EXPECT_EQ(test, w.fault, THP_DS_BAD_POINTER);
	b.next = &c;

	/*
	 * a link into memory that cannot be read: the value seen in a freed
	 * folio's list entry on 6.12 and 7.2 (TAIL_MAPPING), which the
	 * kernel's own list_del faulted on; the walk must report it instead
	 */
	b.next = (struct list_head *)(POISON_POINTER_DELTA + 0x400);
	KUNIT_EXPECT_FALSE(test, thp_ds_walk(&head, 3, 0, NULL, &w));
	KUNIT_EXPECT_EQ(test, w.fault, THP_DS_UNREADABLE);
	KUNIT_EXPECT_PTR_EQ(test, w.found, (const void *)b.next);
	b.next = &c;

	/*
	 * a ring a -> b -> c -> a that the head still points into: caught
	 * where the ring leaves the head (a->prev is c, not the head)
	 */
	c.next = &a;
	a.prev = &c;
	KUNIT_EXPECT_FALSE(test, thp_ds_walk(&head, 3, 0, NULL, &w));
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

	KUNIT_EXPECT_TRUE(test, thp_ds_walk(&head, n, 0, NULL, &w));
	KUNIT_EXPECT_FALSE(test, thp_ds_walk(&head, 1, 0, NULL, &w));
	KUNIT_EXPECT_EQ(test, w.fault, THP_DS_TOO_LONG);
}

/* Each diagnosis says what it found, so a failure reads as a diagnosis. */
static void thp_ds_test_checker_describe(struct kunit *test)
{
	static const struct {
		enum thp_ds_fault fault;
		const char *says;
	} kinds[] = {
		{ THP_DS_BAD_POINTER, "(NULL or LIST_POISON)" },
		{ THP_DS_UNREADABLE, "which cannot be read" },
		{ THP_DS_BROKEN_LINK, "points back to" },
		{ THP_DS_TOO_LONG, "no way back to the head" },
		{ THP_DS_DIRECTIONS_DIFFER, "entries forward but" },
		{ THP_DS_COUNT_MISMATCH, "entries linked but length counter is" },
	};
	struct thp_ds_walk w = { };
	char msg[384];
	int i;

	KUNIT_EXPECT_FALSE(test, thp_ds_walk_describe(&w, "q", msg, sizeof(msg)));
	for (i = 0; i < ARRAY_SIZE(kinds); i++) {
		w.fault = kinds[i].fault;
		KUNIT_EXPECT_TRUE(test, thp_ds_walk_describe(&w, "node 7 split queue", msg,
							     sizeof(msg)));
		KUNIT_EXPECT_NOT_NULL_MSG(test, strstr(msg, kinds[i].says), "%s", msg);
		KUNIT_EXPECT_NOT_NULL(test, strstr(msg, "node 7 split queue"));
	}
	w.fault = THP_DS_COUNT_MISMATCH;
	w.offset = -1;
	KUNIT_EXPECT_TRUE(test, thp_ds_walk_describe(&w, "q", msg, sizeof(msg)));
	KUNIT_EXPECT_NOT_NULL(test, strstr(msg, "where the case began with -1"));
}

/*
 * The leak check of thp_ds_case_release() sees a THP that outlives its
 * memcg: a memcg of the case's (beside its own) gets a THP that the case
 * keeps a reference to; after rmdir and offline, its usage must still hold
 * the THP.  (Once the THP is freed, 6.x trees uncharge the dying memcg;
 * trees that charge LRU folios through objcg uncharge its parent.)
 */
static void thp_ds_test_checker_leak(struct kunit *test)
{
	struct thp_ds_ctx *ctx = test->priv;
	struct thp_ds_extra *leak;
	struct folio *folio;
	unsigned long addr;

	leak = thp_ds_extra_memcg(test, "leak");
	thp_ds_enter_cgroup(test, leak->path, leak->memcg);
	folio = thp_ds_fault(test, HPAGE_PMD_ORDER, &addr);
	kunit_release_action(test, thp_ds_leave, ctx);
	vm_munmap(addr, HPAGE_PMD_SIZE);

	KUNIT_ASSERT_EQ(test, thp_ds_extra_offline(leak), 0);
	KUNIT_EXPECT_GE(test, thp_ds_wait_uncharged(leak->memcg, 100),
			(unsigned long)HPAGE_PMD_NR);
	thp_ds_put(test, folio);
	kunit_release_action(test, thp_ds_extra_release, leak);
}

static struct kunit_case thp_ds_test_cases[] = {
	KUNIT_CASE(thp_ds_test_checker),
	KUNIT_CASE(thp_ds_test_checker_bound),
	KUNIT_CASE(thp_ds_test_checker_describe),
	KUNIT_CASE(thp_ds_test_checker_leak),
	KUNIT_CASE_PARAM(thp_ds_test_enqueue, thp_ds_order_gen_params),
	KUNIT_CASE_PARAM(thp_ds_test_free_put, thp_ds_order_gen_params),
	KUNIT_CASE_PARAM(thp_ds_test_free_zap, thp_ds_order_gen_params),
	KUNIT_CASE_PARAM(thp_ds_test_free_reclaim, thp_ds_order_gen_params),
	KUNIT_CASE(thp_ds_test_free_reclaim_lock),
	KUNIT_CASE(thp_ds_test_enqueue_lock),
	KUNIT_CASE(thp_ds_test_shrinker_lock),
	KUNIT_CASE(thp_ds_test_split_lock),
	KUNIT_CASE(thp_ds_test_free_shrink),
	KUNIT_CASE(thp_ds_test_shrinker_requeue),
	KUNIT_CASE(thp_ds_test_shrinker_split),
	KUNIT_CASE(thp_ds_test_split),
	KUNIT_CASE(thp_ds_test_migrate),
	KUNIT_CASE(thp_ds_test_migrate_lock),
	KUNIT_CASE(thp_ds_test_memcg_offline),
	{}
};

static struct kunit_suite thp_ds_test_suite = {
	.name = "thp_deferred_split",
	THP_DS_SUITE_FIXTURE(thp_ds_suite_init, thp_ds_suite_exit)
	.init = thp_ds_test_init,
	.exit = thp_ds_test_exit,
	.test_cases = thp_ds_test_cases,
};

/*
 * The paths that exist only with cgroup v1 (memory+swap accounting) need
 * the memory controller on a v1 hierarchy: a suite of their own, which
 * gives the controller back to cgroup2 when it ends.  It runs first, before
 * any cgroup2 memcg was charged: kernel memory charged under cgroup2 and
 * still cached per CPU when the controller moves to v1 is uncharged from
 * the v1 kmem counter it never went to (6.12 warns: page_counter
 * underflow, from drain_obj_stock()); the other way round, v1 kmem
 * uncharged under cgroup2, only leaves the kmem counter counting.
 */
static struct kunit_case thp_ds_v1_cases[] = {
	KUNIT_CASE(thp_ds_test_swapout),
	KUNIT_CASE(thp_ds_test_charge_move),
	{}
};

static struct kunit_suite thp_ds_v1_suite = {
	.name = "thp_deferred_split_v1",
	THP_DS_SUITE_FIXTURE(thp_ds_v1_suite_init, thp_ds_suite_exit)
	.init = thp_ds_v1_test_init,
	.exit = thp_ds_test_exit,
	.test_cases = thp_ds_v1_cases,
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
	THP_DS_SUITE_FIXTURE(thp_ds_suite_init, thp_ds_suite_exit)
	.init = thp_ds_test_init,
	.exit = thp_ds_test_exit,
	.test_cases = thp_ds_race_cases,
};

kunit_test_suites(&thp_ds_v1_suite, &thp_ds_test_suite, &thp_ds_race_suite);

MODULE_DESCRIPTION("KUnit tests for the memcg-aware THP deferred split queue");
MODULE_LICENSE("GPL");
