/* SPDX-License-Identifier: GPL-2.0 */
/*
 * How this tree (6.1 family) makes and removes a directory on a
 * kernel-internal mount, and passes a mount option: what
 * thp_deferred_split_cgroup.c needs of VFS.
 */
#ifndef _MM_TESTS_THP_DEFERRED_SPLIT_VFS_H
#define _MM_TESTS_THP_DEFERRED_SPLIT_VFS_H

#include <linux/dcache.h>
#include <linux/fs_context.h>
#include <linux/mnt_idmapping.h>
#include <linux/namei.h>

/* Lock @parent and look @name up in it; on error @parent is unlocked again. */
static inline struct dentry *thp_ds_lookup_locked(struct dentry *parent, const char *name)
{
	struct dentry *dentry;

	inode_lock_nested(d_inode(parent), I_MUTEX_PARENT);
	dentry = lookup_one_len(name, parent, strlen(name));
	if (IS_ERR(dentry))
		inode_unlock(d_inode(parent));
	return dentry;
}

/* mkdir @name under @parent; returns the new, positive dentry. */
static inline struct dentry *thp_ds_mkdir(struct dentry *parent, const char *name)
{
	struct dentry *dentry = thp_ds_lookup_locked(parent, name);
	int err;

	if (IS_ERR(dentry))
		return dentry;
	err = vfs_mkdir(&init_user_ns, d_inode(parent), dentry, 0755);
	dput(dentry);
	inode_unlock(d_inode(parent));
	if (err)
		return ERR_PTR(err);
	/* kernfs leaves the dentry passed to mkdir negative: look it up again */
	return lookup_positive_unlocked(name, parent, strlen(name));
}

static inline int thp_ds_rmdir(struct dentry *parent, const char *name)
{
	struct dentry *dentry = thp_ds_lookup_locked(parent, name);
	int err;

	if (IS_ERR(dentry))
		return PTR_ERR(dentry);
	err = d_really_is_positive(dentry) ?
	      vfs_rmdir(&init_user_ns, d_inode(parent), dentry) : -ENOENT;
	dput(dentry);
	inode_unlock(d_inode(parent));
	return err;
}

/* Set flag @flag (a mount option without a value) on a mount context. */
static inline int thp_ds_fc_flag(struct fs_context *fc, const char *flag)
{
	return vfs_parse_fs_string(fc, flag, NULL, 0);
}

#endif /* _MM_TESTS_THP_DEFERRED_SPLIT_VFS_H */
