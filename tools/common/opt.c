// SPDX-License-Identifier: MIT
/*
 * regbuf CLI option parser (see opt.h).  strtoull() and strtod() alone are
 * too lenient for a tool that writes to devices: they skip spaces, accept a
 * sign (and wrap a negative value), ignore trailing garbage unless asked, and
 * strtod() accepts "nan", "inf" and hex floats.  The value functions below
 * check the characters themselves and convert only what they accepted.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "opt.h"

#define OPT_MAX 64	/* options in one command's tables together */

static int fail(char *err, size_t errlen, int ret, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int fail(char *err, size_t errlen, int ret, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
		/* The message quotes the user's bytes: keep it one line on a terminal. */
		for (; *err; err++)
			if ((unsigned char)*err < 0x20 || *err == 0x7f)
				*err = '?';
	}
	return ret;
}

/* "16M" for 16 MiB, "4096" otherwise: the shortest exact spelling of a size. */
static void fmt_size(char *buf, size_t len, uint64_t v)
{
	static const char suf[] = "KMGTPE";
	int i = -1;

	while (v && !(v & 1023) && i < 5) {
		v >>= 10;
		i++;
	}
	if (i < 0)
		snprintf(buf, len, "%" PRIu64, v);
	else
		snprintf(buf, len, "%" PRIu64 "%c", v, suf[i]);
}

/* The digits of @s as an integer; *end is the first character not used. */
static int parse_digits(const char *s, uint64_t *out, const char **end)
{
	unsigned int base = 10, d;
	uint64_t v = 0;
	const char *p = s;

	if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) {
		base = 16;
		p += 2;
	}
	for (*end = p; ; p++) {
		if (*p >= '0' && *p <= '9')
			d = (unsigned int)(*p - '0');
		else if (base == 16 && *p >= 'a' && *p <= 'f')
			d = (unsigned int)(*p - 'a' + 10);
		else if (base == 16 && *p >= 'A' && *p <= 'F')
			d = (unsigned int)(*p - 'A' + 10);
		else
			break;
		if (v > (UINT64_MAX - d) / base)
			return -ERANGE;
		v = v * base + d;
	}
	if (p == *end)
		return -EINVAL;		/* no digit at all ("", "0x", "-1", " 1") */
	*end = p;
	*out = v;
	return 0;
}

int opt_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out, char *err,
		  size_t errlen)
{
	const char *end;
	uint64_t v;
	int ret;

	if (!s || !*s)
		return fail(err, errlen, -EINVAL, "empty value (a whole number %" PRIu64 "..%"
			    PRIu64 ")", min, max);
	ret = parse_digits(s, &v, &end);
	if (ret == -ERANGE || (!ret && !*end && (v < min || v > max)))
		return fail(err, errlen, -ERANGE, "'%s' is out of range (%" PRIu64 "..%" PRIu64 ")",
			    s, min, max);
	if (ret || *end)
		return fail(err, errlen, -EINVAL, "'%s' is not a whole number (%" PRIu64 "..%"
			    PRIu64 ")", s, min, max);
	*out = v;
	return 0;
}

int opt_parse_size(const char *s, uint64_t min, uint64_t max, uint64_t *out, char *err,
		   size_t errlen)
{
	static const char suf[] = "kmgt";
	char lo[24], hi[24];
	const char *end, *at;
	unsigned int shift = 0;
	uint64_t v;
	int ret;

	fmt_size(lo, sizeof(lo), min);
	fmt_size(hi, sizeof(hi), max);
	if (!s || !*s)
		return fail(err, errlen, -EINVAL, "empty value (a size %s..%s)", lo, hi);
	ret = parse_digits(s, &v, &end);
	if (!ret && *end && (at = strchr(suf, end[0] | 0x20))) {
		shift = 10 * (unsigned int)(at - suf + 1);
		end++;
		if (end[0] == 'i' && end[1] == 'B')
			end += 2;
	}
	if (!ret && *end)
		ret = -EINVAL;
	if (ret == -EINVAL)
		return fail(err, errlen, -EINVAL, "'%s' is not a size (a number of bytes, "
			    "optionally with K, M, G or T; %s..%s)", s, lo, hi);
	if (ret || (shift && v > UINT64_MAX >> shift) || (v << shift) < min || (v << shift) > max)
		return fail(err, errlen, -ERANGE, "'%s' is out of range (%s..%s)", s, lo, hi);
	*out = v << shift;
	return 0;
}

int opt_parse_secs(const char *s, double min, double max, double *out, char *err, size_t errlen)
{
	char num[32];
	const char *p = s;
	size_t n;
	double v;

	if (!s || !*s)
		return fail(err, errlen, -EINVAL, "empty value (seconds, %g..%g)", min, max);
	while (*p >= '0' && *p <= '9')
		p++;
	if (*p == '.')
		for (p++; *p >= '0' && *p <= '9'; p++)
			;
	n = (size_t)(p - s);
	/* At least one digit, and nothing but the unit after the number. */
	if (!n || (n == 1 && *s == '.') || n >= sizeof(num) ||
	    (*p && strcmp(p, "s") && strcmp(p, "ms")))
		return fail(err, errlen, -EINVAL, "'%s' is not a duration (seconds such as 2, 0.5 "
			    "or 500ms; %g..%g)", s, min, max);
	memcpy(num, s, n);
	num[n] = '\0';
	v = strtod(num, NULL);
	if (!strcmp(p, "ms"))
		v /= 1000;
	if (!isfinite(v) || v < min || v > max)
		return fail(err, errlen, -ERANGE, "'%s' is out of range (%g..%g seconds)", s, min,
			    max);
	*out = v;
	return 0;
}

int opt_parse_enum(const char *s, const char *const *names, int *out, char *err, size_t errlen)
{
	char list[OPT_ERR_LEN / 2] = "";
	size_t used = 0;
	int i;

	for (i = 0; s && names[i]; i++) {
		if (!strcmp(s, names[i])) {
			*out = i;
			return 0;
		}
	}
	for (i = 0; names[i] && used < sizeof(list); i++)
		used += (size_t)snprintf(list + used, sizeof(list) - used, "%s%s", i ? ", " : "",
					 names[i]);
	return fail(err, errlen, -EINVAL, "'%s' is not one of %s", s ? s : "", list);
}

/* ---- getopt_long over the tables ---- */

static struct opt_spec *spec_at(struct opt_spec *const *tables, int idx)
{
	int t, i;

	for (t = 0; tables[t]; t++)
		for (i = 0; tables[t][i].kind != OPT_KIND_END; i++)
			if (!idx--)
				return &tables[t][i];
	return NULL;
}

/* Convert @arg into @sp's destination; 0 or OPT_USAGE with the message in @err. */
static int set_value(struct opt_spec *sp, const char *arg, char *err, size_t errlen)
{
	char why[OPT_ERR_LEN];
	uint64_t v = 0;
	double d = 0;
	int ret = 0, k = 0;

	why[0] = '\0';
	switch (sp->kind) {
	case OPT_KIND_FLAG:
		*(bool *)sp->dst = true;
		break;
	case OPT_KIND_STR:
		if (!*arg)
			ret = fail(why, sizeof(why), -EINVAL, "empty value");
		else
			*(const char **)sp->dst = arg;
		break;
	case OPT_KIND_U32:
		ret = opt_parse_u64(arg, sp->min, sp->max > UINT32_MAX ? UINT32_MAX : sp->max, &v,
				    why, sizeof(why));
		if (!ret)
			*(uint32_t *)sp->dst = (uint32_t)v;
		break;
	case OPT_KIND_U64:
		ret = opt_parse_u64(arg, sp->min, sp->max, &v, why, sizeof(why));
		if (!ret)
			*(uint64_t *)sp->dst = v;
		break;
	case OPT_KIND_SIZE:
		ret = opt_parse_size(arg, sp->min, sp->max, &v, why, sizeof(why));
		if (!ret)
			*(uint64_t *)sp->dst = v;
		break;
	case OPT_KIND_SECS:
		ret = opt_parse_secs(arg, sp->fmin, sp->fmax, &d, why, sizeof(why));
		if (!ret)
			*(double *)sp->dst = d;
		break;
	case OPT_KIND_ENUM:
		ret = opt_parse_enum(arg, sp->choices, &k, why, sizeof(why));
		if (!ret)
			*(int *)sp->dst = k;
		break;
	case OPT_KIND_END:
		break;
	}
	if (ret)
		return fail(err, errlen, OPT_USAGE, "--%s: %s", sp->name, why);
	sp->seen = true;
	return OPT_OK;
}

/*
 * getopt_long() takes any unambiguous prefix of a long option ("--si" for
 * "--size-mb"); a script that relies on that breaks when an option is added.
 * Insist on the full name: the option's text is the element before optind (or
 * the one before that when its value was a separate element).
 */
static bool spelled_out(char **argv, int optind_now, const struct opt_spec *sp)
{
	const char *tok = argv[optind_now - 1];
	size_t n = strlen(sp->name);

	if (sp->kind != OPT_KIND_FLAG && optarg == tok && optind_now >= 2)
		tok = argv[optind_now - 2];
	return !strncmp(tok, "--", 2) && !strncmp(tok + 2, sp->name, n) &&
	       (tok[2 + n] == '\0' || tok[2 + n] == '=');
}

int opt_parse(struct opt_spec *const *tables, int argc, char **argv, bool stop_at_operand,
	      int *first_operand, char *err, size_t errlen)
{
	struct option lo[OPT_MAX + 2];
	struct opt_spec *sp;
	int nr = 0, c, idx;

	while ((sp = spec_at(tables, nr))) {
		if (nr >= OPT_MAX)
			return fail(err, errlen, OPT_USAGE, "too many options in one table");
		lo[nr] = (struct option){ sp->name, sp->kind == OPT_KIND_FLAG ? no_argument
								: required_argument,
					  NULL, 256 + nr };
		sp->seen = false;
		nr++;
	}
	lo[nr++] = (struct option){ "help", no_argument, NULL, 'h' };
	lo[nr] = (struct option){ NULL, 0, NULL, 0 };

	optind = 0;	/* glibc: start over, forgetting any earlier permutation */
	opterr = 0;
	while ((c = getopt_long(argc, argv, stop_at_operand ? "+:h" : ":h", lo, &idx)) != -1) {
		if (c == 'h')
			return OPT_HELP;
		if (c == ':')
			return fail(err, errlen, OPT_USAGE, "%s needs a value", argv[optind - 1]);
		if (c == '?') {
			const char *bad = argv[optind - 1];

			if (optopt && optopt < 256)
				return fail(err, errlen, OPT_USAGE, "unknown option '-%c' (try --help)",
					    optopt);
			/* glibc: a flag given "=value" comes back as '?' with its val in optopt. */
			sp = optopt >= 256 ? spec_at(tables, optopt - 256) : NULL;
			if (sp)
				return fail(err, errlen, OPT_USAGE, "--%s takes no value", sp->name);
			return fail(err, errlen, OPT_USAGE, "unknown option '%s' (try --help)", bad);
		}
		sp = spec_at(tables, c - 256);
		if (!sp)
			return fail(err, errlen, OPT_USAGE, "internal: option %d", c);
		if (!spelled_out(argv, optind, sp))
			return fail(err, errlen, OPT_USAGE, "write the option in full: --%s",
				    sp->name);
		if (set_value(sp, optarg, err, errlen))
			return OPT_USAGE;
	}
	*first_operand = optind;
	return OPT_OK;
}

bool opt_seen(struct opt_spec *const *tables, const char *name)
{
	struct opt_spec *sp;
	int i;

	for (i = 0; (sp = spec_at(tables, i)); i++)
		if (!strcmp(sp->name, name))
			return sp->seen;
	return false;
}

void opt_usage(FILE *f, struct opt_spec *const *tables)
{
	struct opt_spec *sp;
	char left[64], range[160], lo[24], hi[24];
	int i, k;
	size_t used;

	for (i = 0; (sp = spec_at(tables, i)); i++) {
		range[0] = '\0';
		switch (sp->kind) {
		case OPT_KIND_U32:
		case OPT_KIND_U64:
			snprintf(range, sizeof(range), " (%" PRIu64 "..%" PRIu64 ", default %" PRIu64
				 ")", sp->min, sp->max, sp->kind == OPT_KIND_U32 ?
				 (uint64_t)*(uint32_t *)sp->dst : *(uint64_t *)sp->dst);
			break;
		case OPT_KIND_SIZE:
			fmt_size(lo, sizeof(lo), sp->min);
			fmt_size(hi, sizeof(hi), sp->max);
			snprintf(range, sizeof(range), " (%s..%s", lo, hi);
			fmt_size(lo, sizeof(lo), *(uint64_t *)sp->dst);
			used = strlen(range);
			snprintf(range + used, sizeof(range) - used, ", default %s)", lo);
			break;
		case OPT_KIND_SECS:
			snprintf(range, sizeof(range), " (%g..%g s, default %g)", sp->fmin, sp->fmax,
				 *(double *)sp->dst);
			break;
		case OPT_KIND_ENUM:
			used = (size_t)snprintf(range, sizeof(range), " (");
			for (k = 0; sp->choices[k] && used < sizeof(range); k++)
				used += (size_t)snprintf(range + used, sizeof(range) - used, "%s%s%s",
							 k ? "|" : "", sp->choices[k],
							 k == *(int *)sp->dst ? "*" : "");
			if (used < sizeof(range))
				snprintf(range + used, sizeof(range) - used, ")");
			break;
		case OPT_KIND_STR:
			if (*(const char **)sp->dst)
				snprintf(range, sizeof(range), " (default %s)",
					 *(const char **)sp->dst);
			break;
		case OPT_KIND_FLAG:
		case OPT_KIND_END:
			break;
		}
		if (sp->kind == OPT_KIND_FLAG)
			snprintf(left, sizeof(left), "--%s", sp->name);
		else
			snprintf(left, sizeof(left), "--%s %s", sp->name,
				 sp->kind == OPT_KIND_ENUM ? "NAME" : sp->metavar);
		fprintf(f, "  %-22s %s%s\n", left, sp->help, range);
	}
}

void opt_usage_help(FILE *f)
{
	fprintf(f, "  %-22s %s\n", "--help", "this help (also after any other option)");
}

int opt_no_operands(int argc, char **argv, int first, char *err, size_t errlen)
{
	if (first >= argc)
		return OPT_OK;
	return fail(err, errlen, OPT_USAGE, "unexpected argument '%s'", argv[first]);
}
