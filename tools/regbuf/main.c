// SPDX-License-Identifier: MIT
/*
 * regbuf - command-line front end.  'regbuf bench' runs the benchmark lab,
 * a separate program (regbuf-bench, built from bench/), as git runs its
 * sub-commands: found through $REGBUF_BENCH, else where it is installed
 * (REGBUF_BENCH_PATH, relative to this binary's directory unless absolute).
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "cmd.h"
#include "opt.h"

struct cli_cmd {
	const char *name;
	const char *help;
	int (*fn)(int argc, char **argv);
};

static int cmd_version(int argc, char **argv)
{
	struct opt_spec none[] = { OPT_END };
	struct opt_spec *t[] = { none, NULL };
	char err[OPT_ERR_LEN];
	int first, ret = opt_parse(t, argc, argv, false, &first, err, sizeof(err));

	if (ret == OPT_HELP) {
		printf("usage: regbuf version\n");
		opt_usage(stdout, t);
		opt_usage_help(stdout);
		return 0;
	}
	if (!ret)
		ret = opt_no_operands(argc, argv, first, err, sizeof(err));
	if (ret) {
		cli_err("version", "%s", err);
		return 2;
	}
	printf("regbuf %s\n", REGBUF_VERSION);
	return 0;
}

/* Where regbuf-bench is: $REGBUF_BENCH, else REGBUF_BENCH_PATH beside this binary. */
static int bench_path(char *path, size_t len)
{
	const char *env = getenv("REGBUF_BENCH");
	char self[PATH_MAX];
	ssize_t n;

	if (env && *env)
		return snprintf(path, len, "%s", env) < (int)len ? 0 : -ENAMETOOLONG;
	if (REGBUF_BENCH_PATH[0] == '/')
		return snprintf(path, len, "%s", REGBUF_BENCH_PATH) < (int)len ? 0 : -ENAMETOOLONG;
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n < 0)
		return -errno;
	self[n] = '\0';
	*strrchr(self, '/') = '\0';
	return snprintf(path, len, "%s/%s", self, REGBUF_BENCH_PATH) < (int)len ? 0 :
	       -ENAMETOOLONG;
}

static int cmd_bench(int argc, char **argv)
{
	char path[PATH_MAX];
	int ret = bench_path(path, sizeof(path));

	(void)argc;
	if (!ret && access(path, X_OK))
		ret = -errno;
	if (ret) {
		cli_err("bench", "the benchmark lab regbuf-bench is not installed (%s: %s).  Build "
			"it from the regbuf source tree: ./scripts/bench builds and runs it; "
			"'meson setup build -Dbench=install' installs it for 'regbuf bench'; "
			"$REGBUF_BENCH names a copy to run", path, strerror(-ret));
		return 1;
	}
	argv[0] = (char *)"regbuf-bench";
	if (fflush(stdout)) {
		cli_err("bench", "write error on standard output: %s", strerror(errno));
		return 1;
	}
	execv(path, argv);
	cli_err("bench", "%s: %s", path, strerror(errno));
	return 1;
}

static const struct cli_cmd cmds[] = {
	{ "version", "print the version", cmd_version },
	{ "info", "what this machine offers: io_uring, hugepages, memlock, IOMMU (--json)",
	  cmd_info },
	{ "nvme", "userspace NVMe driver: list | identify | read | write", cmd_nvme },
	{ "bench", "the benchmark lab (regbuf-bench): reg | clone | io | map | nvme", cmd_bench },
};

static void usage(FILE *f)
{
	size_t i;

	fprintf(f, "usage: regbuf <command> [options]\n\ncommands:\n");
	for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		fprintf(f, "  %-10s %s\n", cmds[i].name, cmds[i].help);
	fprintf(f, "'regbuf <command> --help' lists a command's options with their ranges.\n"
		   "exit status: 0 done, 1 runtime failure, 2 bad usage (nothing touched)\n");
}

int main(int argc, char **argv)
{
	size_t i;

	cli_stdio_init();
	if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
		usage(argc < 2 ? stderr : stdout);
		return cli_exit(argc < 2 ? 2 : 0);
	}
	for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		if (!strcmp(argv[1], cmds[i].name))
			return cli_exit(cmds[i].fn(argc - 1, argv + 1));
	fprintf(stderr, "regbuf: unknown command '%s' (try 'regbuf --help')\n", argv[1]);
	return 2;
}
