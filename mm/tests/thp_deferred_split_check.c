// SPDX-License-Identifier: GPL-2.0
/*
 * KUnit tests for the memcg-aware THP deferred split queue.
 *
 * The queue checker: walks a deferred split queue under its lock without
 * trusting it, and says in words what is wrong with it (thp_ds_walk(),
 * thp_ds_walk_describe()); and its self-tests, a suite of their own,
 * which build small broken lists by hand and expect each kind of damage
 * to be seen.
 */

#include <kunit/test.h>
#include <linux/mm.h>
#include <linux/poison.h>
#include <linux/uaccess.h>

#include "thp_deferred_split.h"

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
bool thp_ds_walk(const struct list_head *head, long counter, long offset,
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
bool thp_ds_links_intact(const struct thp_ds_walk *w)
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
bool thp_ds_walk_describe(const struct thp_ds_walk *w, const char *name,
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
void thp_ds_walk_queue(const struct thp_ds_queue *q, long offset,
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
bool thp_ds_check_queue(struct kunit *test, const struct thp_ds_queue *q, long offset,
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

	/* counter says 1, list holds 3 (the kswapd crash: the wrong queue counted) */
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

static struct kunit_case thp_ds_checker_cases[] = {
	KUNIT_CASE(thp_ds_test_checker),
	KUNIT_CASE(thp_ds_test_checker_bound),
	KUNIT_CASE(thp_ds_test_checker_describe),
	{}
};

/*
 * The checker's self-tests need no fixture (no cgroup, no THP): a suite of
 * their own, which runs before the suites that rely on the checker.
 */
static struct kunit_suite thp_ds_checker_suite = {
	.name = "thp_deferred_split_checker",
	.test_cases = thp_ds_checker_cases,
};

kunit_test_suites(&thp_ds_checker_suite);
