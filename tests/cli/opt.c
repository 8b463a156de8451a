// SPDX-License-Identifier: MIT
/*
 * opt: the CLI's option parser (tools/common/opt.c) on its own - every value
 * function over a table of accepted and refused spellings, and opt_parse()
 * over argument vectors (abbreviations, missing values, help, operands).
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "harness.h"
#include "opt.h"

struct num_row {
	const char *s;
	int ret;
	uint64_t v;
};

static int u64_values(void)
{
	static const struct num_row rows[] = {
		{ "0", 0, 0 }, { "4096", 0, 4096 }, { "0x10", 0, 16 }, { "0XfF", 0, 255 },
		{ "007", 0, 7 }, { "", -EINVAL, 0 }, { "-1", -EINVAL, 0 }, { "+1", -EINVAL, 0 },
		{ " 1", -EINVAL, 0 }, { "1 ", -EINVAL, 0 }, { "8x", -EINVAL, 0 },
		{ "0x", -EINVAL, 0 }, { "1.0", -EINVAL, 0 }, { "4097", -ERANGE, 0 },
		{ "4294967297", -ERANGE, 0 }, { "18446744073709551615", -ERANGE, 0 },
		{ "18446744073709551616", -ERANGE, 0 }, { "0x10000000000000000", -ERANGE, 0 },
	};
	char err[OPT_ERR_LEN];
	uint64_t v;
	size_t i;
	int ret;

	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		v = 12345;
		err[0] = '\0';
		ret = opt_parse_u64(rows[i].s, 0, 4096, &v, err, sizeof(err));
		if (ret != rows[i].ret)
			return T_FAILF("'%s': %d, expected %d (%s)", rows[i].s, ret, rows[i].ret, err);
		if (!ret && v != rows[i].v)
			return T_FAILF("'%s': %llu", rows[i].s, (unsigned long long)v);
		if (ret && (v != 12345 || !strstr(err, "0..4096")))
			return T_FAILF("'%s': wrote the result or no range in '%s'", rows[i].s, err);
	}
	t_check_eq(opt_parse_u64("18446744073709551615", 0, UINT64_MAX, &v, err, sizeof(err)), 0);
	t_check(v == UINT64_MAX);
	t_check_eq(opt_parse_u64(NULL, 0, 1, &v, err, sizeof(err)), -EINVAL);
	return T_PASS;
}

static int size_values(void)
{
	static const struct num_row rows[] = {
		{ "512", 0, 512 }, { "4K", 0, 4096 }, { "4k", 0, 4096 }, { "4KiB", 0, 4096 },
		{ "16M", 0, 16 << 20 }, { "0x1000", 0, 4096 }, { "4096x", -EINVAL, 0 },
		{ "-4096", -EINVAL, 0 }, { "4Ki", -EINVAL, 0 }, { "4KB", -EINVAL, 0 },
		{ "4Q", -EINVAL, 0 }, { "K", -EINVAL, 0 }, { "", -EINVAL, 0 },
		{ "4 K", -EINVAL, 0 }, { "0", -ERANGE, 0 }, { "511", -ERANGE, 0 },
		{ "17M", -ERANGE, 0 }, { "1T", -ERANGE, 0 }, { "17179869184G", -ERANGE, 0 },
		{ "16777216T", -ERANGE, 0 },
	};
	char err[OPT_ERR_LEN];
	uint64_t v;
	size_t i;
	int ret;

	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		v = 1;
		ret = opt_parse_size(rows[i].s, 512, 16 << 20, &v, err, sizeof(err));
		if (ret != rows[i].ret)
			return T_FAILF("'%s': %d, expected %d (%s)", rows[i].s, ret, rows[i].ret, err);
		if (!ret && v != rows[i].v)
			return T_FAILF("'%s': %llu", rows[i].s, (unsigned long long)v);
		if (ret && !strstr(err, "512..16M"))
			return T_FAILF("'%s': no range in '%s'", rows[i].s, err);
	}
	/* The largest representable size, and one suffix step beyond it. */
	t_check_eq(opt_parse_size("16777215T", 0, UINT64_MAX, &v, err, sizeof(err)), 0);
	t_check(v == UINT64_C(16777215) << 40);
	t_check_eq(opt_parse_size("16777216T", 0, UINT64_MAX, &v, err, sizeof(err)), -ERANGE);
	return T_PASS;
}

static int secs_values(void)
{
	static const struct {
		const char *s;
		int ret;
		double v;
	} rows[] = {
		{ "2", 0, 2 }, { "0.5", 0, 0.5 }, { ".5", 0, 0.5 }, { "5.", 0, 5 },
		{ "500ms", 0, 0.5 }, { "3s", 0, 3 }, { "nan", -EINVAL, 0 }, { "inf", -EINVAL, 0 },
		{ "NaN", -EINVAL, 0 }, { "1e3", -EINVAL, 0 }, { "0x1p3", -EINVAL, 0 },
		{ "-1", -EINVAL, 0 }, { "+1", -EINVAL, 0 }, { "", -EINVAL, 0 }, { ".", -EINVAL, 0 },
		{ "5 s", -EINVAL, 0 }, { "5m", -EINVAL, 0 }, { "5x", -EINVAL, 0 },
		{ "0", -ERANGE, 0 }, { "0.0009", -ERANGE, 0 }, { "86401", -ERANGE, 0 },
		{ "0.5ms", -ERANGE, 0 },
		/* The documented length limit: 31 characters pass, 32 do not. */
		{ "1.00000000000000000000000000000", 0, 1 },
		{ "1.000000000000000000000000000000", -EINVAL, 0 },
		{ "1.00000000000000000000000000000ms", 0, 0.001 },
	};
	char err[OPT_ERR_LEN];
	double v;
	size_t i;
	int ret;

	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		v = -1;
		ret = opt_parse_secs(rows[i].s, 0.001, 86400, &v, err, sizeof(err));
		if (ret != rows[i].ret)
			return T_FAILF("'%s': %d, expected %d (%s)", rows[i].s, ret, rows[i].ret, err);
		if (!ret && fabs(v - rows[i].v) > 1e-12)
			return T_FAILF("'%s': %g", rows[i].s, v);
		if (ret && v != -1)
			return T_FAILF("'%s': wrote %g on failure", rows[i].s, v);
	}
	return T_PASS;
}

static int enum_values(void)
{
	static const char *const names[] = { "randread", "randwrite", "read", NULL };
	char err[OPT_ERR_LEN];
	int k = -1;

	t_check_eq(opt_parse_enum("read", names, &k, err, sizeof(err)), 0);
	t_check_eq(k, 2);
	t_check_eq(opt_parse_enum("rand", names, &k, err, sizeof(err)), -EINVAL);
	t_check(strstr(err, "randread, randwrite, read") != NULL);
	t_check_eq(opt_parse_enum("", names, &k, err, sizeof(err)), -EINVAL);
	t_check_eq(opt_parse_enum("READ", names, &k, err, sizeof(err)), -EINVAL);
	t_check_eq(k, 2);
	return T_PASS;
}

/* Options of a pretend command, reset before each parse. */
static uint32_t qd;
static uint64_t bs;
static double runtime;
static bool flag;
static const char *file;
static int rw;
static const char *const rw_names[] = { "a", "b", NULL };
static struct opt_spec spec[] = {
	OPT_U32("qd", &qd, 1, 64, "N", "depth"),
	OPT_SIZE("bs", &bs, 512, 1 << 20, "block"),
	OPT_SECS("runtime", &runtime, 0.1, 10, "time"),
	OPT_FLAG("flag", &flag, "a flag"),
	OPT_STR("file", &file, "PATH", "a file"),
	OPT_ENUM("rw", &rw, rw_names, "pattern"),
	OPT_END
};

static int parse(const char *line, bool stop, int *first, char *err)
{
	static char buf[512];
	char *argv[32], *p;
	int argc = 0;

	qd = 8;
	bs = 4096;
	runtime = 1;
	flag = false;
	file = NULL;
	rw = 0;
	argv[argc++] = (char *)"cmd";
	snprintf(buf, sizeof(buf), "%s", line);
	for (p = strtok(buf, " "); p; p = strtok(NULL, " "))
		argv[argc++] = p;
	argv[argc] = NULL;
	err[0] = '\0';
	return opt_parse((struct opt_spec *[]){ spec, NULL }, argc, argv, stop, first, err,
			 OPT_ERR_LEN);
}

static int parse_vectors(void)
{
	char err[OPT_ERR_LEN];
	int first;

	t_check_eq(parse("--qd 16 --bs=64K --runtime 500ms --flag --file x --rw b", false, &first,
			 err), OPT_OK);
	t_check(qd == 16 && bs == 65536 && fabs(runtime - 0.5) < 1e-12 && flag && rw == 1);
	t_check(file && !strcmp(file, "x"));
	t_check(opt_seen((struct opt_spec *[]){ spec, NULL }, "qd"));
	t_check(!opt_seen((struct opt_spec *[]){ spec, NULL }, "nosuch"));
	t_check_eq(first, 11);	/* argc: no operand */
	/* Operands mixed in, or stopping at the first one (a sub-command name). */
	t_check_eq(parse("sub --qd 2 more", false, &first, err), OPT_OK);
	t_check_eq(qd, 2);
	t_check_eq(first, 3);
	t_check_eq(parse("sub --qd 2", true, &first, err), OPT_OK);
	t_check_eq(qd, 8);
	t_check_eq(first, 1);
	/* What must be refused, each with its reason. */
	t_check_eq(parse("--q 2", false, &first, err), OPT_USAGE);
	t_check(strstr(err, "write the option in full: --qd") != NULL);
	t_check_eq(parse("--fl", false, &first, err), OPT_USAGE);
	t_check_eq(parse("--qd", false, &first, err), OPT_USAGE);
	t_check(strstr(err, "--qd needs a value") != NULL);
	t_check_eq(parse("--qd 65", false, &first, err), OPT_USAGE);
	t_check(strstr(err, "--qd: '65' is out of range (1..64)") != NULL);
	t_check_eq(parse("--nosuch", false, &first, err), OPT_USAGE);
	t_check(strstr(err, "unknown option '--nosuch'") != NULL);
	t_check_eq(parse("-z", false, &first, err), OPT_USAGE);
	t_check(strstr(err, "unknown option '-z'") != NULL);
	t_check_eq(parse("--file=", false, &first, err), OPT_USAGE);
	t_check(strstr(err, "--file: empty value") != NULL);
	t_check_eq(parse("--flag=1", false, &first, err), OPT_USAGE);
	t_check(strstr(err, "--flag takes no value") != NULL);
	t_check_eq(parse("--runtime inf", false, &first, err), OPT_USAGE);
	/* A failed value leaves the default in place. */
	t_check_eq(qd, 8);
	t_check_eq(parse("--qd 2 --help --bogus", false, &first, err), OPT_HELP);
	t_check_eq(parse("-h", false, &first, err), OPT_HELP);
	/* A value that looks like an option is still the value. */
	t_check_eq(parse("--file --qd", false, &first, err), OPT_OK);
	t_check(file && !strcmp(file, "--qd"));
	return T_PASS;
}

static int usage_lists_ranges(void)
{
	char buf[4096] = "";
	FILE *f = fmemopen(buf, sizeof(buf) - 1, "w");

	if (!f)
		return t_broken("fmemopen");
	qd = 8;
	bs = 4096;
	runtime = 1;
	rw = 1;
	file = NULL;
	opt_usage(f, (struct opt_spec *[]){ spec, NULL });
	fclose(f);
	t_check(strstr(buf, "--qd N") && strstr(buf, "(1..64, default 8)"));
	t_check(strstr(buf, "--bs SIZE") && strstr(buf, "(512..1M, default 4K)"));
	t_check(strstr(buf, "--runtime SECONDS") && strstr(buf, "(0.1..10 s, default 1)"));
	t_check(strstr(buf, "--rw NAME") && strstr(buf, "(a|b*)"));
	return T_PASS;
}

static const struct t_case cases[] = {
	T_CASE(u64_values),
	T_CASE(size_values),
	T_CASE(secs_values),
	T_CASE(enum_values),
	T_CASE(parse_vectors),
	T_CASE(usage_lists_ranges),
};

int main(int argc, char **argv)
{
	return t_main("opt", cases, sizeof(cases) / sizeof(cases[0]), argc, argv);
}
