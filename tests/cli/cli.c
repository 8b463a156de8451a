// SPDX-License-Identifier: MIT
/*
 * cli: every sub-command of the regbuf binary with bad values.  Each row must
 * exit 2 with one line on stderr, "regbuf: <command>: ..." naming the
 * problem, nothing on stdout, and leave everything as it was: no file
 * created or changed in the working directory (which holds a FIFO, a
 * directory and files the rows point at), no state directory created, the
 * hugetlb pools unchanged.  Then every --help (stdout, exit 0, options with
 * their ranges, no benchmark banner), block devices in bench io, and how the
 * lab ends: a row attempted and failed (a refused registration, a tool that
 * exited non-zero, I/O errors) fails the run; a row the machine cannot offer
 * is skipped with its reason, and fails only with --strict.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "clirun.h"
#include "harness.h"

static char dir[PATH_MAX], state_dir[PATH_MAX + 16];

struct bad {
	const char *args;
	const char *msg;	/* must appear in the one line on stderr */
};

/* Rows run in @dir: "fifo", "dir", "small" (1 KiB) and "big" (64 MiB) exist there. */
static const struct bad bad_top[] = {
	{ "nosuch", "unknown command 'nosuch'" },
	{ "--bogus", "unknown command '--bogus'" },
	{ "version x", "version: unexpected argument 'x'" },
	{ "version --bogus", "unknown option '--bogus'" },
};

static const struct bad bad_bench[] = {
	{ "bench --reps 0", "--reps: '0' is out of range (1..32)" },
	{ "bench --reps 33", "--reps: '33' is out of range (1..32)" },
	{ "bench --reps 5x", "--reps: '5x' is not a whole number" },
	{ "bench --reps -1", "--reps: '-1' is not a whole number" },
	{ "bench --reps=", "--reps: empty value" },
	{ "bench --reps", "--reps needs a value" },
	{ "bench --bogus", "unknown option '--bogus'" },
	{ "bench -x", "unknown option '-x'" },
	{ "bench nosuch", "unknown experiment 'nosuch'" },
	{ "bench --re 3", "write the option in full: --reps" },
	{ "bench reg --size-mb 0", "--size-mb: '0' is out of range (64..65536)" },
	{ "bench reg --size-mb 65537", "out of range (64..65536)" },
	{ "bench reg --size-mb 64abc", "'64abc' is not a whole number" },
	{ "bench reg --size-mb -64", "'-64' is not a whole number" },
	{ "bench reg --size-mb 18446744073709551617", "out of range" },
	{ "bench reg extra", "unexpected argument 'extra'" },
	{ "bench reg --max-gib 1", "unknown option '--max-gib'" },
	{ "bench clone --max-gib 0", "--max-gib: '0' is out of range (1..1024)" },
	{ "bench clone --max-gib 1.5", "'1.5' is not a whole number" },
	{ "bench clone --reps 99", "--reps: '99' is out of range" },
	{ "bench map --runs 0", "--runs: '0' is out of range (1..101)" },
	{ "bench map --runs 102", "out of range (1..101)" },
	{ "bench map --buffer-mib 5", "--buffer-mib: '5' is odd" },
	{ "bench map --buffer-mib 2", "out of range (4..65536)" },
	{ "bench map --buffer-mib 0x", "'0x' is not a whole number" },
};

static const struct bad bad_bench_io[] = {
	{ "bench io --size-mb 0", "--size-mb: '0' is out of range (64..1048576)" },
	{ "bench io --size-mb 64abc", "'64abc' is not a whole number" },
	{ "bench io --runtime nan", "--runtime: 'nan' is not a duration" },
	{ "bench io --runtime inf", "'inf' is not a duration" },
	{ "bench io --runtime -1", "'-1' is not a duration" },
	{ "bench io --runtime 1e3", "'1e3' is not a duration" },
	{ "bench io --runtime 0", "'0' is out of range (0.1..3600 seconds)" },
	{ "bench io --runtime 3601", "out of range" },
	{ "bench io --runtime 5x", "'5x' is not a duration" },
	{ "bench io --qd 8x", "--qd: '8x' is not a whole number (1..4096)" },
	{ "bench io --qd 0", "--qd: '0' is out of range (1..4096)" },
	{ "bench io --qd 4294967297", "'4294967297' is out of range (1..4096)" },
	{ "bench io --bs 4096x", "--bs: '4096x' is not a size" },
	{ "bench io --bs -4096", "'-4096' is not a size" },
	{ "bench io --bs 4100", "--bs: 4100 is not a multiple of 512" },
	{ "bench io --bs 0", "'0' is out of range (512..16M)" },
	{ "bench io --bs 32M", "'32M' is out of range (512..16M)" },
	{ "bench io --bs 4Q", "'4Q' is not a size" },
	{ "bench io --threads 1y", "--threads: '1y' is not a whole number (1..16)" },
	{ "bench io --threads 0", "out of range (1..16)" },
	{ "bench io --threads 17", "out of range (1..16)" },
	{ "bench io --rw foo", "--rw: 'foo' is not one of randread, randwrite, read, write" },
	{ "bench io --rw", "--rw needs a value" },
	{ "bench io --bs 16M --qd 4096 --threads 16", "at most 4096 MiB" },
	{ "bench io --size-mb 64 --bs 16M --qd 1 --threads 16", "less than one --bs block per thread" },
	{ "bench io --si 64", "write the option in full: --size-mb" },
	{ "bench io --file=", "--file: empty value" },
	{ "bench io --file fifo", "--file fifo: not a regular file or block device" },
	{ "bench io --file dir", "--file dir: not a regular file or block device" },
	{ "bench io --file nonexistent", "--file nonexistent: No such file or directory" },
	{ "bench io --file small --rw read", "--file small: 1024 bytes, less than one" },
	{ "bench io --file big", "--file big: the write job would overwrite its data" },
	{ "bench io --file big --rw randwrite", "--file big: the randwrite job would overwrite" },
	{ "bench io --file big --rw read --size-mb 64", "--size-mb sizes the temporary file" },
};

static const struct bad bad_info[] = {
	{ "info --path fifo", "--path fifo: not a regular file or block device" },
	{ "info --path dir", "--path dir: not a regular file or block device" },
	{ "info --path nonexistent", "--path nonexistent: No such file or directory" },
	{ "info --path=", "--path: empty value" },
	{ "info --bogus", "unknown option '--bogus'" },
	{ "info extra", "unexpected argument 'extra'" },
};

static const struct bad bad_nvme[] = {
	{ "nvme", "which command?" },
	{ "nvme nosuch", "unknown command 'nosuch'" },
	{ "nvme read --lba junk --device 0000:00:01.0", "--lba: 'junk' is not a whole number" },
	{ "nvme read --device 0000:00:01.0", "--lba is required" },
	{ "nvme read --device 0000:00:01.0 --lba 1 --blocks 36028797018963969",
	  "--blocks: '36028797018963969' is out of range (1..65536)" },
	{ "nvme read --device 0000:00:01.0 --lba 0 --blocks 0", "out of range (1..65536)" },
	{ "nvme read --device 0000:00:01.0 --lba 0 --out big", "--out big exists; add --overwrite" },
	{ "nvme read --device 0000:00:01.0/../../.. --lba 0", "is not a PCI address" },
	{ "nvme read --device junk --lba 0", "'junk' is not a PCI address" },
	{ "nvme read --device 0000:00:01.8 --lba 0", "is not a PCI address" },
	{ "nvme read --lba 0", "--device BDF is required" },
	{ "nvme write --device 0000:00:01.0 --lba 0 --fill 300", "--fill: '300' is out of range (0..255)" },
	{ "nvme write --device 0000:00:01.0 --lba 0", "one of --in FILE or --fill BYTE is required" },
	{ "nvme write --device 0000:00:01.0 --lba 0 --fill 1 --in small", "one of --in FILE" },
	{ "nvme write --device 0000:00:01.0 --fill 1", "--lba is required" },
	{ "bench nvme --device 0000:00:01.0 --qd 4294967297", "--qd: '4294967297' is out of range (1..1024)" },
	{ "bench nvme --device 0000:00:01.0 --seconds -1", "--seconds: '-1' is not a duration" },
	{ "bench nvme --device 0000:00:01.0 --seconds nan", "'nan' is not a duration" },
	{ "bench nvme --device 0000:00:01.0 --size 1000", "--size: 1000 is not a multiple of 512" },
	{ "bench nvme --device 0000:00:01.0 --size 4M", "out of range (512..2M)" },
	{ "bench nvme --device 0000:00:01.0 --path both2", "--path: 'both2' is not one of" },
	{ "bench nvme --device 0000:00:01.0 --write", "add --overwrite to allow it" },
	{ "nvme identify --device 0000:00:01.0 --nsid 0", "--nsid: '0' is out of range" },
	{ "nvme identify --device 0000:00:01.0 --nsid 4294967295", "out of range (1..4294967294)" },
	{ "nvme identify --device 0000:00:01.0 extra", "unexpected argument 'extra'" },
	{ "nvme list --device 0000:00:01.0", "unknown option '--device'" },
};

/* One row: exit 2, one line naming the problem, nothing touched.  0 or T_FAIL. */
static int check_bad(const struct bad *b)
{
	char before[8192], after[8192], hp0[64], hp1[64];
	static struct cli_out o;
	const char *nl;
	int attempt;

	for (attempt = 0; attempt < 8; attempt++) {
		cli_snapshot(dir, before, sizeof(before));
		cli_hugepages(hp0, sizeof(hp0));
		if (cli_run(&o, 20, b->args))
			return T_FAILF("'%s': did not finish in 20 s", b->args);
		cli_snapshot(dir, after, sizeof(after));
		cli_hugepages(hp1, sizeof(hp1));
		/*
		 * The pools are machine-wide: another program may have moved them
		 * meanwhile.  A row that did not touch them gives equal counts on
		 * a quiet try; one that left them changed never does.
		 */
		if (!strcmp(hp0, hp1))
			break;
		usleep(300000);
	}
	if (o.status != 2)
		return T_FAILF("'%s': exit %d, expected 2 (stderr: %.200s)", b->args, o.status, o.err);
	nl = strchr(o.err, '\n');
	if (strncmp(o.err, "regbuf: ", 8) || !nl || nl[1])
		return T_FAILF("'%s': stderr is not one 'regbuf: ' line: '%s'", b->args, o.err);
	if (!strstr(o.err, b->msg))
		return T_FAILF("'%s': '%.*s' does not say '%s'", b->args, (int)(nl - o.err), o.err,
			       b->msg);
	if (o.out[0])
		return T_FAILF("'%s': printed on stdout: %.100s", b->args, o.out);
	if (strcmp(before, after))
		return T_FAILF("'%s': the working directory changed: %s -> %s", b->args, before,
			       after);
	/* Never quiet in 8 tries: the pools say nothing about this row (said, not failed). */
	if (strcmp(hp0, hp1))
		printf("  '%s': hugetlb pools moved by other programs in every try (%s -> %s)\n",
		       b->args, hp0, hp1);
	if (!access(state_dir, F_OK))
		return T_FAILF("'%s': created the state directory %s", b->args, state_dir);
	return T_PASS;
}

static int run_table(const struct bad *rows, size_t nr)
{
	size_t i;
	int ret;

	for (i = 0; i < nr; i++) {
		ret = check_bad(&rows[i]);
		if (ret)
			return ret;
	}
	printf("  %zu rows: exit 2, one line, nothing touched\n", nr);
	return T_PASS;
}

#define TABLE(t) run_table(t, sizeof(t) / sizeof(t[0]))

static int bad_top_level(void)
{
	return TABLE(bad_top);
}

static int bad_bench_common(void)
{
	return TABLE(bad_bench);
}

static int bad_bench_io_values(void)
{
	return TABLE(bad_bench_io);
}

static int bad_info_values(void)
{
	return TABLE(bad_info);
}

static int bad_nvme_values(void)
{
	return TABLE(bad_nvme);
}

/* Every --help: stdout, exit 0, the options with ranges, no banner before it. */
static int help_everywhere(void)
{
	static const struct {
		const char *args;
		const char *must[4];
	} rows[] = {
		{ "--help", { "usage: regbuf <command>", "bench", "exit status" } },
		{ "version --help", { "usage: regbuf version" } },
		{ "bench --help", { "--buffer-mib MIB", "--runs N", "--max-gib", "--overwrite" } },
		{ "bench reg --help", { "usage: regbuf bench reg", "--size-mb MIB", "(64..65536" } },
		{ "bench clone --help", { "--max-gib GIB", "(1..1024" } },
		{ "bench io --help", { "--bs SIZE", "(512..16M", "--runtime SECONDS", "--overwrite" } },
		{ "bench map --help", { "usage: regbuf bench map", "--runs N", "(1..101",
					"--buffer-mib" } },
		{ "bench io --qd 8 --help", { "--qd N" } },
		{ "info --help", { "usage: regbuf info", "--path PATH" } },
		{ "nvme --help", { "read:", "--lba L", "--blocks N", "(1..65536" } },
		{ "nvme read --help", { "--out FILE", "--overwrite" } },
		{ "nvme write --help", { "--fill BYTE", "(0..255" } },
		{ "bench nvme --help", { "--seconds SECONDS", "(1..1024", "premapped|classic|both" } },
		{ "nvme identify --help", { "--nsid N" } },
	};
	static struct cli_out o;
	size_t i, k;

	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		if (cli_run(&o, 20, rows[i].args))
			return T_FAILF("'%s' did not finish", rows[i].args);
		if (o.status || o.err[0])
			return T_FAILF("'%s': exit %d, stderr '%s'", rows[i].args, o.status, o.err);
		if (strncmp(o.out, "usage: ", 7))
			return T_FAILF("'%s': stdout does not start with the usage: %.80s",
				       rows[i].args, o.out);
		for (k = 0; k < 4 && rows[i].must[k]; k++)
			if (!strstr(o.out, rows[i].must[k]))
				return T_FAILF("'%s': help lacks '%s'", rows[i].args,
					       rows[i].must[k]);
	}
	return T_PASS;
}

/* A regular file and a block device: reads run, writes need --overwrite and are named. */
static int io_on_block_device(void)
{
	static struct cli_out o;
	char dev[64] = "", args[256], before[8192], after[8192];
	FILE *p;
	int ret = T_PASS;

	if (geteuid())
		return t_skip("needs root for a loop device");
	p = popen("losetup -f --show big 2>/dev/null", "r");
	if (!p || !fgets(dev, sizeof(dev), p) || strncmp(dev, "/dev/loop", 9)) {
		if (p)
			pclose(p);
		return t_skip("no loop device (losetup -f failed)");
	}
	pclose(p);
	dev[strcspn(dev, "\n")] = '\0';
	snprintf(args, sizeof(args), "bench io --file %s --rw randread --runtime 0.2 --reps 1 "
		 "--no-fio", dev);
	if (cli_run(&o, 120, args) || o.status) {
		ret = T_FAILF("'%s': exit %d: %s", args, o.status, o.err);
		goto out;
	}
	if (!strstr(o.out, "O_DIRECT on ") || !strstr(o.out, dev)) {
		ret = T_FAILF("'%s': no result on %s: %.300s", args, dev, o.out);
		goto out;
	}
	cli_snapshot(dir, before, sizeof(before));
	snprintf(args, sizeof(args), "bench io --file %s --rw randwrite --runtime 0.2 --no-fio",
		 dev);
	if (cli_run(&o, 60, args) || o.status != 2 || !strstr(o.err, "--overwrite")) {
		ret = T_FAILF("'%s' without --overwrite: exit %d: %s", args, o.status, o.err);
		goto out;
	}
	snprintf(args, sizeof(args), "bench io --file %s --rw randwrite --runtime 0.2 --reps 1 "
		 "--no-fio --overwrite", dev);
	if (cli_run(&o, 120, args) || o.status) {
		ret = T_FAILF("'%s': exit %d: %s", args, o.status, o.err);
		goto out;
	}
	if (!strstr(o.err, "overwriting ") || !strstr(o.err, dev) || !strstr(o.err, "64 MiB")) {
		ret = T_FAILF("'%s' did not name what it overwrites: %s", args, o.err);
		goto out;
	}
	cli_snapshot(dir, after, sizeof(after));
	/* The loop device wrote through to "big" (its mtime moved), nothing else appeared. */
	if (strstr(after, "regbuf-bench."))
		ret = T_FAILF("a temporary file was left: %s", after);
out:
	t_sh("losetup -d %s", dev);
	return ret;
}

/*
 * As an unprivileged user with RLIMIT_MEMLOCK 64 KiB, registering more than
 * that is refused by the kernel after the memory was mapped: an attempted row
 * that failed, not a prerequisite the machine lacks.  bench clone must call
 * the rows FAILED with the reason and exit 1 without --strict; bench io must
 * fail the fixed-buffer row (0 of 1 repetitions) rather than report the engine
 * that ran.
 */
static int refused_registration_fails(void)
{
	char args[1024], sd[64];
	int ret = T_PASS;

	if (geteuid())
		return t_skip("needs root to run a command as another user");
	if (t_sh("command -v setpriv >/dev/null && command -v prlimit >/dev/null"))
		return t_skip("setpriv/prlimit missing: apt-get install util-linux");
	/* Outside the test directory (0700, root's): the state directory nobody can use. */
	snprintf(sd, sizeof(sd), "/tmp/regbuf-cli-nobody.XXXXXX");
	if (!mkdtemp(sd) || chown(sd, 65534, 65534))
		return t_broken("mkdtemp %s: %s", sd, strerror(errno));
	/* cli_run() splits at spaces: run the chain through the wrapper tools themselves. */
	snprintf(args, sizeof(args), "%s --memlock=65536:65536 setpriv --reuid=65534 "
		 "--regid=65534 --clear-groups env REGBUF_STATE_DIR=%s REGBUF_BENCH=%s %s bench "
		 "clone --quick --reps 1", "prlimit", sd, REGBUF_BENCH_BIN, cli_path());
	if (t_sh("cd / && %s >%s/clone.out 2>&1", args, dir) != 1)
		ret = T_FAILF("bench clone as nobody with 64 KiB memlock did not exit 1 (output "
			      "in %s/clone.out)", dir);
	else if (t_sh("grep -q 'FAILED: .*RLIMIT_MEMLOCK' %s/clone.out", dir))
		ret = T_FAILF("no FAILED row with its reason in %s/clone.out", dir);
	else if (!t_sh("grep -q 'skipped' %s/clone.out", dir))
		ret = T_FAILF("a refused registration called skipped in %s/clone.out", dir);
	/* bench io: the fixed-buffer engine cannot register; the unfixed one runs. */
	snprintf(args, sizeof(args), "prlimit --memlock=65536:65536 setpriv --reuid=65534 "
		 "--regid=65534 --clear-groups env REGBUF_STATE_DIR=%s/state REGBUF_BENCH=%s %s "
		 "bench io --quick --no-fio --size-mb 64 --runtime 0.2", sd, REGBUF_BENCH_BIN,
		 cli_path());
	if (ret == T_PASS && t_sh("cd %s && %s >%s/io.out 2>&1", sd, args, dir) != 1)
		ret = T_FAILF("bench io as nobody with 64 KiB memlock did not exit 1");
	else if (ret == T_PASS &&
		 t_sh("grep -q 'regbuf  *FAILED: 0 of 1 repetitions measured; register: .*"
		      "RLIMIT_MEMLOCK' %s/io.out", dir))
		ret = T_FAILF("bench io: no FAILED regbuf row with its reason in %s/io.out", dir);
	else if (ret == T_PASS && t_sh("ls %s | grep -q regbuf-bench", sd) != 1)
		ret = T_FAILF("bench io left its temporary file in %s", sd);
	if (ret == T_PASS) {
		unlink("clone.out");
		unlink("io.out");
	}
	t_sh("rm -rf '%s'", sd);
	return ret;
}

/* One quick randread job on a temporary 64 MiB file: 1 thread, QD 4, one repetition. */
#define IO_QUICK "bench io --rw randread --size-mb 64 --runtime 0.2 --reps 1 --threads 1 --qd 4"

/*
 * A tool that ran and exited non-zero is a failure, whatever else was
 * measured: t/io_uring replaced by a program that exits 1 (the real
 * t/io_uring's failure cannot be provoked from outside) must give a FAILED
 * t/io_uring row with the exit status, and exit 1 without --strict.
 */
static int failed_tool_fails(void)
{
	int rc = t_sh("REGBUF_T_IO_URING=/bin/false %s %s >tool.out 2>&1", cli_path(), IO_QUICK);

	if (rc != 1)
		return T_FAILF("t/io_uring exiting 1: bench io exited %d, not 1 (output in "
			       "%s/tool.out)", rc, dir);
	if (t_sh("grep -Eq '^  t/io_uring +FAILED: 0 of 1 repetitions measured; t/io_uring "
		 "exited with status 1' tool.out"))
		return T_FAILF("no FAILED t/io_uring row with the exit status in %s/tool.out", dir);
	if (t_sh("grep -Eq '^  regbuf +[0-9]' tool.out"))
		return T_FAILF("the regbuf row was not measured beside it (%s/tool.out)", dir);
	/* JSON says "error" for it. */
	rc = t_sh("REGBUF_T_IO_URING=/bin/false %s %s --json >tool.out 2>tool.err", cli_path(),
		  IO_QUICK);
	if (rc != 1 || t_sh("tr -d '\\n ' <tool.out | grep -q '\"jobname\":\"t/io_uring\",.*"
			    "\"status\":\"error\",\"error\":\"t/io_uringexitedwithstatus1'")) {
		t_sh("tail -c 1500 tool.out | sed 's/^/# /'; tail -n 20 tool.err | sed 's/^/# /'");
		return T_FAILF("--json: exit %d, no t/io_uring status error (its stdout and "
			       "stderr above)", rc);
	}
	unlink("tool.out");
	unlink("tool.err");
	return T_PASS;
}

/*
 * t/io_uring's figures are measured from outside over the steady state of its
 * run (its /proc/PID/io and threads' CPU), never taken from what it prints:
 * a stand-in that prints an IOPS line and exits at once must give a FAILED
 * row that says it ended before it could be measured; one that prints the
 * same line and then reads the file with O_DIRECT for 3 s must be measured,
 * at the rate the kernel counted its reads, not the 1 IOPS it printed.
 */
static int t_io_uring_measured_from_outside(void)
{
	FILE *f = fopen("tio-early", "w");
	FILE *g = fopen("tio-reads", "w");
	int rc;

	if (!f || !g) {
		if (f)
			fclose(f);
		if (g)
			fclose(g);
		return T_FAILF("cannot write stand-ins in %s", dir);
	}
	fputs("#!/bin/sh\necho IOPS=1\n", f);
	/* The last argument is the file; dd runs again until 3 s have passed. */
	fputs("#!/bin/sh\nfor f; do :; done\necho IOPS=1\nend=$(($(date +%s) + 3))\n"
	      "while [ \"$(date +%s)\" -lt $end ]; do\n"
	      "\tdd if=\"$f\" of=/dev/null bs=4k iflag=direct status=none || exit 1\ndone\n", g);
	fclose(f);
	fclose(g);
	if (chmod("tio-early", 0755) || chmod("tio-reads", 0755))
		return T_FAILF("chmod: %s", strerror(errno));
	rc = t_sh("REGBUF_T_IO_URING=$PWD/tio-early %s %s >tool.out 2>&1", cli_path(), IO_QUICK);
	if (rc != 1 || t_sh("grep -Eq '^  t/io_uring +FAILED: 0 of 1 repetitions measured; "
			    "t/io_uring: sampling it during the run: it ended first' tool.out"))
		return T_FAILF("a t/io_uring that printed IOPS and exited: bench io exited %d, "
			       "not 1 with the reason (output in %s/tool.out)", rc, dir);
	rc = t_sh("REGBUF_T_IO_URING=$PWD/tio-reads %s %s --json >tool.out 2>tool.err", cli_path(),
		  IO_QUICK);
	if (rc || t_sh("tr -d '\\n ' <tool.out | grep -o '\"jobname\":\"t/io_uring\".*' | "
		       "grep -o '\"iops\":[0-9.e+]*' | head -n 1 | awk -F: '{ exit !($2 > 100) }'"))
		return T_FAILF("a t/io_uring reading with O_DIRECT: exit %d, or not the kernel's "
			       "count of its reads as IOPS (> 100; output in %s/tool.out)", rc, dir);
	unlink("tool.out");
	unlink("tool.err");
	unlink("tio-early");
	unlink("tio-reads");
	return T_PASS;
}

/*
 * A write job on a --file that cannot be opened for writing (immutable: even
 * root gets EPERM): nothing measured, FAILED with the reason, exit 1.
 */
static int immutable_file_fails(void)
{
	const char *args = "bench io --file big --rw randwrite --overwrite --runtime 0.2 "
			   "--reps 1 --threads 1 --qd 4 --no-fio";
	int rc, ret = T_PASS;

	if (geteuid())
		return t_skip("needs root to make a file immutable");
	if (t_sh("chattr +i big 2>/dev/null"))
		return t_skip("chattr +i: this filesystem has no immutable files");
	rc = t_sh("%s %s >ioerr.out 2>&1", cli_path(), args);
	if (rc != 1)
		ret = T_FAILF("'%s' on an immutable file exited %d, not 1 (output in "
			      "%s/ioerr.out)", args, rc, dir);
	else if (t_sh("grep -q 'bench io: FAILED: open big: Operation not permitted' ioerr.out"))
		ret = T_FAILF("no FAILED line naming the open error in %s/ioerr.out", dir);
	else
		unlink("ioerr.out");
	t_sh("chattr -i big");
	return ret;
}

/*
 * Writes that fail with an I/O error: a loop device over a 64 MiB sparse file
 * on a 1 MiB tmpfs, so that writing its holes runs out of space.  The regbuf
 * rows were attempted and failed: FAILED with the error, exit 1.
 */
static int io_errors_fail(void)
{
	char dev[64] = "", args[256];
	FILE *p;
	int rc, ret = T_PASS;

	if (geteuid())
		return t_skip("needs root to mount a tmpfs and set up a loop device");
	if (mkdir("full", 0700) || t_sh("mount -t tmpfs -o size=1m regbuf-cli full"))
		return t_skip("cannot mount a 1 MiB tmpfs on %s/full", dir);
	if (t_sh("truncate -s 64M full/f")) {
		ret = t_broken("truncate full/f");
		goto out_umount;
	}
	p = popen("losetup -f --show full/f 2>/dev/null", "r");
	if (!p || !fgets(dev, sizeof(dev), p) || strncmp(dev, "/dev/loop", 9)) {
		if (p)
			pclose(p);
		ret = t_skip("no loop device (losetup -f failed)");
		goto out_umount;
	}
	pclose(p);
	dev[strcspn(dev, "\n")] = '\0';
	snprintf(args, sizeof(args), "bench io --file %s --rw randwrite --overwrite --runtime 0.2 "
		 "--reps 1 --threads 1 --qd 4 --no-fio", dev);
	rc = t_sh("%s %s >ioerr.out 2>&1", cli_path(), args);
	if (rc != 1)
		ret = T_FAILF("'%s' on a full backing store exited %d, not 1 (output in "
			      "%s/ioerr.out)", args, rc, dir);
	else if (t_sh("grep -Eq '^  regbuf +FAILED: 0 of 1 repetitions measured; I/O error: ' "
		      "ioerr.out"))
		ret = T_FAILF("no FAILED regbuf row with the I/O error in %s/ioerr.out", dir);
	else
		unlink("ioerr.out");
	t_sh("losetup -d %s", dev);
out_umount:
	/* The loop device lets go of its file asynchronously after losetup -d. */
	if (t_sh("for i in $(seq 100); do umount full 2>/dev/null && exit 0; sleep 0.1; done; "
		 "exit 1") || rmdir("full"))
		printf("  cannot unmount %s/full\n", dir);
	return ret;
}

/*
 * What the machine lacks is skipped with what would enable it (exit 0), and
 * fails the run with --strict (exit 1): fio hidden from PATH, and a fio tree
 * without t/io_uring built.
 */
static int missing_prerequisites_skip(void)
{
	static const char *const want[] = {
		"^  fio +%s: fio not found in PATH \\(apt-get install fio",
		"^  fio-tuned +%s: fio not found in PATH",
		"^  t/io_uring +%s: .*emptytree/t/io_uring: No such file or directory \\(build it",
		"^  regbuf +[0-9]",
	};
	const char *word[2] = { "skipped", "FAILED \\(--strict\\)" };
	char pat[256];
	int strict, rc;
	size_t i;

	if (mkdir("emptytree", 0700) && errno != EEXIST)
		return t_broken("mkdir emptytree: %s", strerror(errno));
	for (strict = 0; strict < 2; strict++) {
		rc = t_sh("env -u REGBUF_T_IO_URING PATH=/nonexistent REGBUF_FIO_TREE=$PWD/emptytree "
			  "%s %s%s >skip.out 2>&1", cli_path(), IO_QUICK, strict ? " --strict" : "");
		if (rc != strict)
			return T_FAILF("fio and t/io_uring missing%s: exit %d, not %d (output in "
				       "%s/skip.out)", strict ? ", --strict" : "", rc, strict, dir);
		for (i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
			snprintf(pat, sizeof(pat), want[i], word[strict]);
			if (t_sh("grep -Eq '%s' skip.out", pat))
				return T_FAILF("%s: no line like '%s' in %s/skip.out",
					       strict ? "--strict" : "default", pat, dir);
		}
	}
	rc = t_sh("env -u REGBUF_T_IO_URING PATH=/nonexistent REGBUF_FIO_TREE=$PWD/emptytree "
		  "%s %s --json >skip.out 2>/dev/null", cli_path(), IO_QUICK);
	if (rc || t_sh("tr -d '\\n ' <skip.out | grep -q '\"jobname\":\"fio\",.*"
		       "\"status\":\"skipped\",\"skipped\":\"fionotfoundinPATH'"))
		return T_FAILF("--json: exit %d, no fio status skipped in %s/skip.out", rc, dir);
	unlink("skip.out");
	rmdir("emptytree");
	return T_PASS;
}

/*
 * The fio rows get the path as one argument, whatever it holds: a space (a
 * shell would split it) and a colon (fio splits --filename at ':').
 */
static int fio_rows_take_any_path(void)
{
	int rc;

	if (t_sh("command -v fio >/dev/null"))
		return t_skip("fio not installed (apt-get install fio)");
	if (t_sh("mkdir -p 'odd dir:1' && truncate -s 64M 'odd dir:1/f'"))
		return t_broken("cannot create 'odd dir:1/f' in %s", dir);
	rc = t_sh("%s bench io --file \"$PWD/odd dir:1/f\" --rw randread --runtime 0.3 --reps 1 "
		  "--threads 1 --qd 4 >odd.out 2>&1", cli_path());
	if (rc)
		return T_FAILF("bench io on '%s/odd dir:1/f' exited %d (output in odd.out)", dir, rc);
	if (t_sh("grep -Eq '^  fio +[0-9]' odd.out && grep -Eq '^  fio-tuned +[0-9]' odd.out") &&
	    !t_sh("sed 's/^/# /' odd.out"))
		return T_FAILF("no measured fio and fio-tuned rows (output in %s/odd.out)", dir);
	t_sh("rm -rf 'odd dir:1' odd.out");
	return T_PASS;
}

/* "regbuf @args" with io_uring_setup() failing -@err, output in @out: its exit status. */
static int run_without_io_uring(int err, const char *args, const char *out)
{
	pid_t pid;
	int st;

	fflush(stdout);
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		if (t_deny_syscall(__NR_io_uring_setup, -1, 0, err))
			_exit(T_SKIP + 100);
		_exit(t_sh("%s %s >%s 2>&1", cli_path(), args, out));
	}
	waitpid(pid, &st, 0);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/*
 * io_uring refused (-EPERM: kernel.io_uring_disabled or a container's seccomp
 * profile; -ENOSYS: a kernel or sandbox without it): info says so, bench rows
 * are skipped with the reason (exit 0) or fail with it under --strict (exit 1), and the
 * temporary file and the hugepage pool are left as found.
 */
static int io_uring_refused(void)
{
	static const int errs[] = { EPERM, ENOSYS };
	char hp_before[128], hp_after[128];
	const char *why;
	size_t i;
	int rc;

	for (i = 0; i < sizeof(errs) / sizeof(errs[0]); i++) {
		why = strerror(errs[i]);	/* what the CLI prints for it */
		rc = run_without_io_uring(errs[i], "info", "nouring.out");
		if (rc == T_SKIP + 100)
			return t_skip("no seccomp filter for this architecture or kernel");
		if (rc || t_sh("grep -q 'available: no' nouring.out && grep -q 'error: %s' "
			       "nouring.out", why))
			return T_FAILF("info without io_uring (%s): exit %d, see %s/nouring.out",
				       why, rc, dir);
		cli_hugepages(hp_before, sizeof(hp_before));
		rc = run_without_io_uring(errs[i], "bench io --rw randread --no-fio --size-mb 64 "
					  "--runtime 0.2 --reps 1 --strict", "nouring.out");
		if (rc != 1 || t_sh("grep -Eq '^  regbuf +FAILED \\(--strict\\): io_uring refused by "
				    "the kernel: %s' nouring.out", why))
			return T_FAILF("bench io --strict without io_uring (%s): exit %d, no FAILED "
				       "row with the reason; see %s/nouring.out", why, rc, dir);
		rc = run_without_io_uring(errs[i], "bench io --rw randread --no-fio --size-mb 64 "
					  "--runtime 0.2 --reps 1", "nouring.out");
		if (rc || t_sh("grep -Eq '^  regbuf +skipped: io_uring refused by the kernel: %s' "
			       "nouring.out", why))
			return T_FAILF("bench io without io_uring (%s): exit %d, no skipped row with "
				       "the reason; see %s/nouring.out", why, rc, dir);
		rc = run_without_io_uring(errs[i], "bench reg --size-mb 64 --reps 1",
					  "nouring.out");
		if (rc || t_sh("grep -Eq 'skipped: .*%s' nouring.out", why))
			return T_FAILF("bench reg without io_uring (%s): exit %d, no skipped row "
				       "with the reason; see %s/nouring.out", why, rc, dir);
		cli_hugepages(hp_after, sizeof(hp_after));
		if (strcmp(hp_before, hp_after))
			return T_FAILF("hugepage pools %s before, %s after", hp_before, hp_after);
		if (!t_sh("ls | grep -q regbuf-bench"))
			return T_FAILF("a temporary file was left in %s", dir);
	}
	unlink("nouring.out");
	return T_PASS;
}

/*
 * 'regbuf bench' runs the lab binary; without one the CLI says where it looked
 * and how to get it (exit 1), and touches nothing.
 */
static int bench_without_lab(void)
{
	static struct cli_out o;
	int ret = T_PASS;

	setenv("REGBUF_BENCH", "/nonexistent/regbuf-bench", 1);
	if (cli_run(&o, 20, "bench --quick"))
		ret = T_FAILF("'bench --quick' without the lab did not finish");
	else if (o.status != 1 || !strstr(o.err, "/nonexistent/regbuf-bench") ||
		 !strstr(o.err, "-Dbench=install") || o.out[0])
		ret = T_FAILF("'bench --quick' without the lab: exit %d, stdout '%.80s', stderr "
			      "'%.300s'", o.status, o.out, o.err);
	/* The other commands do not need it. */
	else if (cli_run(&o, 20, "version") || o.status)
		ret = T_FAILF("'version' without the lab: exit %d", o.status);
	setenv("REGBUF_BENCH", REGBUF_BENCH_BIN, 1);
	return ret;
}

enum sink { SINK_CLOSED, SINK_FULL, SINK_PIPE, SINK_NR };
static const char *const sink_name[SINK_NR] = { ">&-", ">/dev/full", "| (reader gone, SIGPIPE ignored)" };

/* "regbuf @args" with stdout @sink, stderr into @err: its exit status (128 + signal). */
static int run_to_sink(const char *args, enum sink sink, char *err, size_t len)
{
	char cmd[1024];
	int efd[2], pfd[2] = { -1, -1 }, st;
	ssize_t n;
	size_t got = 0;
	pid_t pid;

	snprintf(cmd, sizeof(cmd), "exec %s %s", cli_path(), args);
	if (pipe(efd) || (sink == SINK_PIPE && pipe(pfd)))
		return -1;
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		int fd = -1;

		dup2(efd[1], STDERR_FILENO);
		if (sink == SINK_FULL)
			fd = open("/dev/full", O_WRONLY);
		else if (sink == SINK_PIPE) {
			close(pfd[0]);	/* nobody reads */
			fd = pfd[1];
		}
		if (fd >= 0)
			dup2(fd, STDOUT_FILENO);
		else
			close(STDOUT_FILENO);
		/* Ignored signals stay ignored across exec: the write gets EPIPE. */
		signal(SIGPIPE, SIG_IGN);
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	close(efd[1]);
	if (sink == SINK_PIPE) {
		close(pfd[0]);
		close(pfd[1]);
	}
	while (got + 1 < len && (n = read(efd[0], err + got, len - got - 1)) > 0)
		got += (size_t)n;
	err[got] = '\0';
	close(efd[0]);
	waitpid(pid, &st, 0);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/*
 * Output that could not be written is an error: every command that prints,
 * in the CLI and in the lab, exits non-zero and says so when stdout is
 * closed, a full device, or a pipe whose reader is gone.
 */
static int write_errors(void)
{
	static const char *const cmds[] = {
		"version", "--help", "info", "info --json", "nvme list", "nvme --help",
		"bench --help", "bench nvme --reps 1",
	};
	char err[4096];
	size_t i;
	int s, rc;

	for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		for (s = 0; s < SINK_NR; s++) {
			rc = run_to_sink(cmds[i], (enum sink)s, err, sizeof(err));
			if (rc < 0)
				return t_broken("cannot run '%s': %s", cmds[i], strerror(errno));
			if (rc == 0 || !strstr(err, "write error"))
				return T_FAILF("'regbuf %s %s': exit %d, stderr '%.300s'", cmds[i],
					       sink_name[s], rc, err);
		}
	}
	return T_PASS;
}

static void cleanup(void)
{
	if (dir[0])
		t_sh("rm -rf '%s'", dir);
}

static const struct t_case cases[] = {
	T_CASE(bad_top_level),
	T_CASE(bad_bench_common),
	T_CASE(bad_bench_io_values),
	T_CASE(bad_info_values),
	T_CASE(bad_nvme_values),
	T_CASE(help_everywhere),
	T_CASE(io_on_block_device),
	T_CASE(refused_registration_fails),
	T_CASE(failed_tool_fails),
	T_CASE(t_io_uring_measured_from_outside),
	T_CASE(io_errors_fail),
	T_CASE(immutable_file_fails),
	T_CASE(missing_prerequisites_skip),
	T_CASE(fio_rows_take_any_path),
	T_CASE(io_uring_refused),
	T_CASE(bench_without_lab),
	T_CASE(write_errors),
};

int main(int argc, char **argv)
{
	const char *base = getenv("TMPDIR");

	/* Not tmpfs when avoidable: bench io --file needs O_DIRECT (a loop device over it). */
	snprintf(dir, sizeof(dir), "%s/regbuf-cli.XXXXXX", access("/var/tmp", W_OK) ? (base ? base :
		 "/tmp") : "/var/tmp");
	if (!mkdtemp(dir)) {
		printf("cli: cannot create a temporary directory: %s\n", strerror(errno));
		return T_BROKEN;
	}
	atexit(cleanup);
	snprintf(state_dir, sizeof(state_dir), "%s/state", dir);
	if (chdir(dir) || mkfifo("fifo", 0600) || mkdir("dir", 0700) ||
	    t_sh("head -c 1024 /dev/urandom > small && truncate -s 64M big") ||
	    setenv("REGBUF_STATE_DIR", state_dir, 1)) {
		printf("cli: fixtures in %s: %s\n", dir, strerror(errno));
		return T_BROKEN;
	}
	unsetenv("REGBUF_NVME_DEVICE");
	unsetenv("REGBUF_PAUSE_AFTER_RAISE");
	return t_main("cli", cases, sizeof(cases) / sizeof(cases[0]), argc, argv);
}
