/* SPDX-License-Identifier: MIT */
/*
 * regbuf CLI: leave the machine as found.
 *
 * Every change a command makes outside itself - a counter it raises (the
 * hugetlb pool, nr_hugepages) or a temporary file it creates - is recorded
 * here first, in memory and in a small state file that the process keeps
 * locked (flock) while it runs.  A normal exit and SIGINT/SIGTERM/SIGHUP undo
 * everything; after a SIGKILL the lock is gone with the process, and the next
 * undo_init() finds the state file, undoes what it lists and says so.
 *
 * A child process the command waits for (a fio run) is part of the change:
 * a signal stops and reaps it before the counters are given back, so the
 * hugepages it mapped are free again when the pool is lowered.
 *
 * Counters are given back relative to their current value (what this run
 * added, not an old absolute value, and what the kernel granted, not what
 * was asked), so pages another program reserved in the meantime stay
 * reserved; and never below the value the counter had without any live
 * run's raise (its floor, taken when this run first raises it: the value
 * then, less what the other live runs' state files say they added), so that
 * when someone lowered the counter meanwhile, this run does not take pages
 * that were there before it.  A second run never undoes a live run's
 * changes: undo_init() only undoes state files whose lock is gone.
 *
 * State files live in $REGBUF_STATE_DIR, else /run/regbuf as root, else
 * /var/tmp/regbuf-<uid>.
 */
#ifndef REGBUF_CLI_UNDO_H
#define REGBUF_CLI_UNDO_H

#include <signal.h>
#include <sys/types.h>

/*
 * Install the signal handlers and undo what killed earlier runs left (each
 * undone item is reported on stderr).  Call after the options were checked,
 * before the command changes anything.  Returns 0 or -errno (state directory
 * unusable: the command should not go on changing things it could not undo).
 */
int undo_init(const char *cmd);

/*
 * Write @value into the counter file @path (a sysctl such as nr_hugepages)
 * and record how much it rose.  Returns the value read back afterwards, or
 * -errno.  If $REGBUF_PAUSE_AFTER_RAISE is set and the counter rose, the
 * process then stops in pause() with the state recorded (for tests that
 * interrupt a run at exactly that point).
 */
long undo_counter_write(const char *path, long value);

/* Give back what this run added to every counter (also done by undo_finish()). */
void undo_counters_restore(void);

/* Record a file this run created (removed by undo_finish() or a signal). */
int undo_file_add(const char *path);

/* Remove a recorded file now and forget it. */
void undo_file_remove(const char *path);

/*
 * The child process the command is waiting for, or 0 when there is none any
 * more.  A signal kills it (SIGKILL) and waits for it before undoing the
 * rest.  Set it with the signals blocked (undo_signals_block()) between
 * fork() and this call, or a signal in between leaves the child running.
 */
void undo_child_set(pid_t pid);

/* Undo everything recorded and delete the state file (normal exit). */
void undo_finish(void);

/*
 * Block SIGINT/SIGTERM/SIGHUP in the calling thread (the old mask in @old),
 * and put the mask back.  Threads created in between inherit the block, so
 * the handler always runs in the main thread, never beside its own updates.
 */
void undo_signals_block(sigset_t *old);
void undo_signals_restore(const sigset_t *old);

/* Read a decimal counter file: the value, or -1. */
long undo_read_long(const char *path);

#endif /* REGBUF_CLI_UNDO_H */
