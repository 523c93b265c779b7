// SPDX-License-Identifier: GPL-2.0
/*
 * Test-only helpers for KUnit tests that need memory cgroups of their own.
 *
 * A KUnit case runs in a kernel thread, and what it tests here is charged
 * by the kernel to the memcg of the task that faults: the tests need a
 * memcg per case, with the case's thread in it, created and removed by the
 * kernel's own cgroup code, so that each case's queue, charges and
 * corruption are its own and the memcg goes through the kernel's offline
 * path when the case ends.  A selftest could make the cgroups, but not
 * reach the split queue, its lock and the free paths the tests check, and
 * there is no in-kernel API to make a cgroup: these helpers do what a
 * user does, through a kernel-internal mount of the hierarchy (cgroup2,
 * or a cgroup-v1 memory hierarchy for the paths that exist only there),
 * mkdir and rmdir on it, and writes to cgroup.procs and
 * cgroup.subtree_control.
 *
 * Everything else in the tests stays off VFS and sysfs.  What the helpers
 * change (a cgroup, the memory controller enabled at the cgroup2 root, a
 * task's cgroup) is put back on teardown; every wait is bounded by
 * THP_DS_WAIT_MS.  The VFS calls that create and remove directories are
 * in thp_deferred_split_vfs.h (thp_ds_mkdir(), thp_ds_rmdir(),
 * thp_ds_fc_flag()).
 */

#include <linux/cgroup.h>
#include <linux/delay.h>
#include <linux/fs.h>
#include <linux/fs_context.h>
#include <linux/kernfs.h>
#include <linux/mm.h>
#include <linux/mount.h>
#include <linux/namei.h>
#include <linux/sched.h>

#include "thp_deferred_split_vfs.h"
#include "thp_deferred_split_cgroup.h"

/* Each run of the suites works under a cgroup of its own: thp_ds_kunit.<n>. */
#define THP_DS_TOP		"thp_ds_kunit"

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
 * bounded retry.  -ENODEV where the kernel has no cgroup-v1 memory
 * controller: the mount refuses the name (CONFIG_MEMCG_V1=n, or
 * cgroup_no_v1=memory).
 */
static struct vfsmount *thp_ds_mount_memory_v1(void)
{
	struct vfsmount *mnt;
	int waited;

	for (waited = 0; ; waited += 50) {
		mnt = thp_ds_mount("cgroup", "memory");
		if (IS_ERR(mnt) && PTR_ERR(mnt) == -EINVAL)
			return ERR_PTR(-ENODEV);
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

/* No cgroup is left under the root of the hierarchy at @mnt, dying ones included. */
static bool thp_ds_hierarchy_empty(struct vfsmount *mnt)
{
	struct kernfs_node *kn = kernfs_node_from_dentry(mnt->mnt_root);
	struct cgroup *root = kn ? kn->priv : NULL;

	return root && list_empty_careful(&root->self.children);
}

/* Wait (bounded) until @memcg's offline work has run. */
bool thp_ds_wait_offline(struct mem_cgroup *memcg)
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
 * Whether a memcg other than the root is online: then the memory
 * controller has users, and is not to be moved to a cgroup-v1 hierarchy
 * (it could not be, and what they charged would be uncharged from v1
 * counters it never went to).
 */
bool thp_ds_memcgs_in_use(void)
{
	struct mem_cgroup *memcg;

	for (memcg = mem_cgroup_iter(NULL, NULL, NULL); memcg;
	     memcg = mem_cgroup_iter(NULL, memcg, NULL)) {
		if (!mem_cgroup_is_root(memcg)) {
			mem_cgroup_iter_break(NULL, memcg);
			return true;
		}
	}
	return false;
}

/**
 * thp_ds_cgroups_setup() - mount a hierarchy and make the suite's top cgroup
 * @cg: what to set up
 * @v1: a cgroup-v1 memory hierarchy instead of cgroup2
 *
 * On cgroup2 the memory controller is enabled down to the cases' cgroups
 * (at the root too, if nothing had, and disabled there again on
 * teardown); on a cgroup-v1 memory hierarchy every cgroup has a memcg of
 * its own.  Returns 0 or an error, after which nothing is left set up:
 * -ENODEV for @v1 where the kernel has no cgroup-v1 memory controller.
 */
int thp_ds_cgroups_setup(struct thp_ds_cgroups *cg, bool v1)
{
	static atomic_t runs = ATOMIC_INIT(0);
	struct cgroup_subsys_state *css;
	struct dentry *top = NULL;
	char buf[256];
	int err, tries;

	memset(cg, 0, sizeof(*cg));
	cg->v1 = v1;
	cg->mnt = v1 ? thp_ds_mount_memory_v1() : thp_ds_mount("cgroup2", NULL);
	if (IS_ERR(cg->mnt)) {
		err = PTR_ERR(cg->mnt);
		cg->mnt = NULL;
		return err;
	}
	err = v1 ? 0 : thp_ds_read(cg->mnt, "cgroup.subtree_control", buf, sizeof(buf));
	if (err)
		goto fail;
	if (!v1 && !strstr(buf, "memory")) {
		err = thp_ds_write(cg->mnt, "cgroup.subtree_control", "+memory");
		if (err)
			goto fail;
		cg->root_memory = true;
	}
	/* a name no earlier run (of this boot, or one that could not clean up) holds */
	for (tries = 0; tries < 16; tries++) {
		snprintf(cg->top_name, sizeof(cg->top_name), THP_DS_TOP ".%d",
			 atomic_inc_return(&runs));
		top = thp_ds_mkdir(cg->mnt->mnt_root, cg->top_name);
		if (!IS_ERR(top) || PTR_ERR(top) != -EEXIST)
			break;
	}
	if (IS_ERR(top)) {
		err = PTR_ERR(top);
		goto fail;
	}
	cg->top = top;
	css = css_tryget_online_from_dir(top, &memory_cgrp_subsys);
	if (IS_ERR(css)) {
		err = PTR_ERR(css);
		goto fail;
	}
	cg->top_memcg = mem_cgroup_from_css(css);
	if (v1)
		return 0;
	snprintf(buf, sizeof(buf), "%s/cgroup.subtree_control", cg->top_name);
	err = thp_ds_write(cg->mnt, buf, "+memory");
	if (err)
		goto fail;
	return 0;

fail:
	thp_ds_cgroups_teardown(cg);
	return err;
}

/**
 * thp_ds_cgroups_teardown() - undo thp_ds_cgroups_setup()
 * @cg: what it set up (or part of it)
 *
 * A cgroup-v1 hierarchy gives the memory controller back to cgroup2 once it
 * is unmounted without cgroups, the dying ones freed: that is waited for
 * (bounded).  What cannot be put back is reported, not hidden.
 */
void thp_ds_cgroups_teardown(struct thp_ds_cgroups *cg)
{
	int err, waited;

	if (cg->top) {
		dput(cg->top);
		cg->top = NULL;
		err = thp_ds_rmdir(cg->mnt->mnt_root, cg->top_name);
		if (err)
			pr_err("thp_deferred_split: teardown: could not remove cgroup %s: %d\n",
			       cg->top_name, err);
		/*
		 * Offline may move what is left on the top memcg's queues to
		 * the root's: let that happen before the next suite looks.
		 */
		else if (cg->top_memcg && !thp_ds_wait_offline(cg->top_memcg))
			pr_err("thp_deferred_split: teardown: memcg of %s not offline %d ms after rmdir\n",
			       cg->top_name, THP_DS_WAIT_MS);
	}
	if (cg->top_memcg) {
		css_put(&cg->top_memcg->css);
		cg->top_memcg = NULL;
	}
	if (cg->v1 && cg->mnt) {
		/*
		 * Only an unmount that finds the hierarchy without cgroups
		 * destroys it (and gives the memory controller back to
		 * cgroup2): wait until the removed ones are freed.
		 */
		for (waited = 0; waited < THP_DS_WAIT_MS; waited += 50) {
			if (thp_ds_hierarchy_empty(cg->mnt))
				break;
			msleep(50);
		}
		kern_unmount(cg->mnt);
		cg->mnt = NULL;
		for (waited = 0; waited < THP_DS_WAIT_MS; waited += 50) {
			if (cgroup_subsys_on_dfl(memory_cgrp_subsys))
				break;
			msleep(50);
		}
		if (!cgroup_subsys_on_dfl(memory_cgrp_subsys))
			pr_err("thp_deferred_split: teardown: the memory controller is still on the cgroup-v1 hierarchy %d ms after unmounting it\n",
			       THP_DS_WAIT_MS);
	}
	if (cg->root_memory) {
		err = thp_ds_write(cg->mnt, "cgroup.subtree_control", "-memory");
		if (err)
			pr_err("thp_deferred_split: teardown: could not disable the memory controller at the root again: %d\n",
			       err);
		cg->root_memory = false;
	}
	if (cg->mnt)
		kern_unmount(cg->mnt);
	cg->mnt = NULL;
	cg->v1 = false;
}

/*
 * Create cgroup @name under the suite's top cgroup; its memcg, referenced,
 * and in *@dirp its directory (the caller dput()s it).
 */
struct mem_cgroup *thp_ds_cgroup_create(struct thp_ds_cgroups *cg, const char *name,
					struct dentry **dirp)
{
	return thp_ds_make_memcg(cg->top, name, dirp);
}

/* Remove cgroup @name of the suite's top cgroup, waiting (bounded) until it can go. */
int thp_ds_cgroup_remove(struct thp_ds_cgroups *cg, const char *name)
{
	return thp_ds_rmdir_bounded(cg->top, name);
}

/* Write @s to file @path (relative to the hierarchy's root). */
int thp_ds_cgroup_write(struct thp_ds_cgroups *cg, const char *path, const char *s)
{
	return thp_ds_write(cg->mnt, path, s);
}

/*
 * Move task @pid (its thread group) into cgroup @path, relative to the
 * hierarchy's root ("/" or "" is the root), as a write of its pid to the
 * cgroup's cgroup.procs does.
 */
int thp_ds_cgroup_attach(struct thp_ds_cgroups *cg, const char *path, pid_t pid)
{
	char procs[192], buf[16];

	path += *path == '/';
	snprintf(procs, sizeof(procs), "%s%scgroup.procs", path, *path ? "/" : "");
	snprintf(buf, sizeof(buf), "%d", pid);
	return thp_ds_write(cg->mnt, procs, buf);
}

/* The path of the calling task's cgroup in the hierarchy, "/" for its root. */
int thp_ds_cgroup_home(struct thp_ds_cgroups *cg, char *buf, size_t len)
{
	struct cgroup *cgrp;
	int err;

	rcu_read_lock();
	cgrp = cg->v1 ? task_cgroup(current, memory_cgrp_id) : task_dfl_cgroup(current);
	cgroup_get(cgrp);
	rcu_read_unlock();
	err = cgroup_path_ns(cgrp, buf, len, &init_cgroup_ns);
	cgroup_put(cgrp);
	return err < 0 ? err : 0;
}
