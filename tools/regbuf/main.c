// SPDX-License-Identifier: MIT
/*
 * regbuf - command-line front end.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cli.h"
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

static const struct cli_cmd cmds[] = {
	{ "version", "print the version", cmd_version },
	{ "info", "what this machine offers: io_uring, hugepages, memlock, IOMMU (--json)",
	  cmd_info },
	{ "bench", "measure registration, clone, I/O and NVMe descriptors (reg|clone|io|map)",
	  cmd_bench },
	{ "nvme", "userspace NVMe driver: list | identify | read | write | bench", cmd_nvme },
};

uint64_t cli_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void cli_err(const char *cmd, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "regbuf: %s: ", cmd);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

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

	if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		if (!strcmp(argv[1], cmds[i].name))
			return cmds[i].fn(argc - 1, argv + 1);
	fprintf(stderr, "regbuf: unknown command '%s' (try 'regbuf --help')\n", argv[1]);
	return 2;
}
