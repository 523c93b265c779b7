/* SPDX-License-Identifier: GPL-2.0 */
/*
 * How this tree (7.2 family) makes and removes a directory on a
 * kernel-internal mount, and passes a mount option: what
 * thp_deferred_split_cgroup.c needs of VFS.
 */
#ifndef _MM_TESTS_THP_DEFERRED_SPLIT_VFS_H
#define _MM_TESTS_THP_DEFERRED_SPLIT_VFS_H

#include <linux/dcache.h>
#include <linux/fs_context.h>
#include <linux/mnt_idmapping.h>
#include <linux/namei.h>

/* mkdir @name under @parent; returns the new, positive dentry. */
static inline struct dentry *thp_ds_mkdir(struct dentry *parent, const char *name)
{
	struct dentry *dentry = start_creating_noperm(parent, &QSTR(name));

	if (IS_ERR(dentry))
		return dentry;
	dentry = vfs_mkdir(&nop_mnt_idmap, d_inode(parent), dentry, 0755, NULL);
	if (IS_ERR(dentry))
		return dentry;
	end_creating(dentry);
	/* kernfs leaves the dentry passed to mkdir negative: look it up again */
	return lookup_noperm_positive_unlocked(&QSTR(name), parent);
}

static inline int thp_ds_rmdir(struct dentry *parent, const char *name)
{
	struct dentry *dentry = start_removing_noperm(parent, &QSTR(name));
	int err;

	if (IS_ERR(dentry))
		return PTR_ERR(dentry);
	err = vfs_rmdir(&nop_mnt_idmap, d_inode(parent), dentry, NULL);
	end_removing(dentry);
	return err;
}

/* Set flag @flag (a mount option without a value) on a mount context. */
static inline int thp_ds_fc_flag(struct fs_context *fc, const char *flag)
{
	return vfs_parse_fs_string(fc, flag, NULL);
}

#endif /* _MM_TESTS_THP_DEFERRED_SPLIT_VFS_H */
