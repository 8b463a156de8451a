// SPDX-License-Identifier: MIT
/*
 * fuzz-cli-opt: the CLI's option parser (tools/common/opt.c).
 *
 * The value functions get random strings, built mostly from the characters
 * their grammars care about, and random ranges; every answer is compared
 * with a reference written from opt.h: the accepted spellings, the value,
 * -EINVAL for what is not a number of the kind, -ERANGE for one outside the
 * range (or overflowing), *out untouched on error, and a message that is one
 * NUL-terminated line inside the caller's buffer however small.
 *
 * opt_parse() gets random argument vectors over a table with one option of
 * every kind (names that are prefixes of one another included), in both
 * modes.  The reference reads the vector the way getopt_long() does for such
 * a table (options and operands mixed or stopping at the first operand, "--",
 * values in the same element or the next one, unique abbreviations matched
 * but refused, -h/--help) and predicts the outcome, the first operand, every
 * destination and every seen flag.  The vector keeps its elements (getopt
 * only permutes them).
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "opt.h"

#define MAX_STR		40
#define MAX_ARGS	12
#define ERR_CANARY	0x5a

enum { C_U64, C_SIZE, C_SECS, C_ENUM, C_ARGV };
FZ_TARGET("cli-opt", 256, 20000, "u64", "size", "secs", "enum", "argv");

/* ---- strings ------------------------------------------------------------- */

/* A string of at most @max characters, mostly from the grammar's alphabet. */
static void gen_str(struct fz *f, char *s, size_t max)
{
	static const char alpha[] = "0123456789012345678900xXabcdefABCDEFkKmMgGtTiBs.-+ e";
	size_t n = (size_t)fz_range(f, 0, max), i;

	if (fz_chance(f, 16))
		n = 0;
	for (i = 0; i < n; i++) {
		uint8_t c = fz_u8(f);

		s[i] = c < 200 ? alpha[c % (sizeof(alpha) - 1)] : (char)(fz_u8(f) | 1);
	}
	s[n] = '\0';
}

static uint64_t gen_bound(struct fz *f)
{
	switch (fz_u8(f) % 6) {
	case 0:
		return 0;
	case 1:
		return UINT64_MAX - fz_range(f, 0, 2);
	case 2:
		return UINT64_C(1) << fz_range(f, 0, 63);
	case 3:
		return fz_range(f, 0, 5000);
	default:
		return fz_u64(f);
	}
}

/* The message: one line, NUL-terminated inside @len bytes, nothing written past them. */
static void check_msg(const char *err, size_t len, size_t cap)
{
	size_t i, n;

	for (i = len; i < cap; i++)
		FZ_CHECK_EQ((uint8_t)err[i], ERR_CANARY);
	if (!len)
		return;
	n = strnlen(err, len);
	FZ_CHECK(n < len);
	FZ_CHECK(n > 0 || len == 1);
	FZ_CHECK(!memchr(err, '\n', n));
}

/* ---- reference value parsers --------------------------------------------- */

struct num {
	int ret;		/* 0, -EINVAL, -ERANGE */
	bool maybe_einval;	/* overflowing digits then garbage: either code is right */
	uint64_t v;
	const char *end;
};

/* Decimal or 0x hexadecimal digits at @s, overflow-checked. */
static struct num ref_digits(const char *s)
{
	struct num r = { 0, false, 0, s };
	bool hex = s[0] == '0' && (s[1] == 'x' || s[1] == 'X'), over = false;
	const char *p = hex ? s + 2 : s;
	unsigned int base = hex ? 16 : 10;

	for (; ; p++) {
		unsigned int d;

		if (*p >= '0' && *p <= '9')
			d = (unsigned int)(*p - '0');
		else if (hex && *p >= 'a' && *p <= 'f')
			d = (unsigned int)(*p - 'a') + 10;
		else if (hex && *p >= 'A' && *p <= 'F')
			d = (unsigned int)(*p - 'A') + 10;
		else
			break;
		/* r.v * base + d, modulo 2^64, and whether it was more than UINT64_MAX */
		over |= __builtin_mul_overflow(r.v, base, &r.v);
		over |= __builtin_add_overflow(r.v, d, &r.v);
	}
	if (p == (hex ? s + 2 : s))
		r.ret = -EINVAL;
	else if (over)
		r.ret = -ERANGE;
	r.end = p;
	return r;
}

static struct num ref_u64(const char *s, uint64_t min, uint64_t max)
{
	struct num r = ref_digits(s);

	if (r.ret == -ERANGE && *r.end)
		r.maybe_einval = true;
	else if (!r.ret && *r.end)
		r.ret = -EINVAL;
	else if (!r.ret && (r.v < min || r.v > max))
		r.ret = -ERANGE;
	return r;
}

static struct num ref_size(const char *s, uint64_t min, uint64_t max)
{
	struct num r = ref_digits(s);
	const char *p = r.end;
	unsigned int shift = 0;

	if (*p == 'k' || *p == 'K')
		shift = 10;
	else if (*p == 'm' || *p == 'M')
		shift = 20;
	else if (*p == 'g' || *p == 'G')
		shift = 30;
	else if (*p == 't' || *p == 'T')
		shift = 40;
	if (shift && r.ret != -EINVAL) {
		p++;
		if (p[0] == 'i' && p[1] == 'B')
			p += 2;
	}
	if (r.ret == -ERANGE) {
		r.maybe_einval = *p != '\0';
		return r;
	}
	if (r.ret)
		return r;
	if (*p) {
		r.ret = -EINVAL;
		return r;
	}
	if (shift && r.v > UINT64_MAX >> shift) {
		r.ret = -ERANGE;
		return r;
	}
	r.v <<= shift;
	if (r.v < min || r.v > max)
		r.ret = -ERANGE;
	return r;
}

struct dur {
	int ret;
	double v;
};

static struct dur ref_secs(const char *s, double min, double max)
{
	struct dur r = { 0, 0 };
	const char *p = s, *num_end;
	size_t digits = 0;
	char *copy;

	while (*p >= '0' && *p <= '9') {
		p++;
		digits++;
	}
	if (*p == '.')
		for (p++; *p >= '0' && *p <= '9'; p++)
			digits++;
	num_end = p;
	/* opt.c's limit, not in opt.h: a number of 32 characters or more is refused. */
	if (!digits || (*p && strcmp(p, "s") && strcmp(p, "ms")) || num_end - s >= 32) {
		r.ret = -EINVAL;
		return r;
	}
	copy = strndup(s, (size_t)(num_end - s));
	FZ_CHECK(copy);
	r.v = strtod(copy, NULL);
	free(copy);
	if (!strcmp(p, "ms"))
		r.v /= 1000;
	if (!isfinite(r.v) || r.v < min || r.v > max)
		r.ret = -ERANGE;
	return r;
}

/* ---- the value functions --------------------------------------------------- */

static void run_value(struct fz *f, unsigned int cls)
{
	static const char *const names[] = { "randread", "randwrite", "read", "write", "rw",
					     "", "read ", NULL };
	static const double secs[] = { 0, 0.001, 0.5, 1, 60, 3600, 86400, 1e9, 1e300 };
	char s[MAX_STR + 1], err[OPT_ERR_LEN + 16];
	size_t errlen = fz_chance(f, 32) ? (size_t)fz_range(f, 0, 24) : OPT_ERR_LEN;
	uint64_t lo = gen_bound(f), hi = gen_bound(f), got = 0x1234;
	double dlo = secs[fz_u8(f) % 9], dhi = secs[fz_u8(f) % 9], dgot = -7;
	int ret, idx = -7;

	gen_str(f, s, MAX_STR);
	if (fz_chance(f, 128) && lo > hi) {
		uint64_t t = lo;

		lo = hi;
		hi = t;
	}
	memset(err, ERR_CANARY, sizeof(err));
	switch (cls) {
	case C_U64:
	case C_SIZE: {
		struct num r = cls == C_U64 ? ref_u64(s, lo, hi) : ref_size(s, lo, hi);

		ret = cls == C_U64 ? opt_parse_u64(s, lo, hi, &got, err, errlen) :
				     opt_parse_size(s, lo, hi, &got, err, errlen);
		if (r.maybe_einval && ret == -EINVAL)
			r.ret = -EINVAL;
		FZ_CHECK_EQ(ret, r.ret);
		FZ_CHECK_EQ(got, r.ret ? 0x1234 : r.v);
		break;
	}
	case C_SECS: {
		struct dur r = ref_secs(s, dlo, dhi);

		ret = opt_parse_secs(s, dlo, dhi, &dgot, err, errlen);
		FZ_CHECK_EQ(ret, r.ret);
		if (ret)
			FZ_CHECK(dgot == -7);
		else
			FZ_CHECK(dgot == r.v);
		break;
	}
	default: {
		int want = -EINVAL, i;

		if (fz_chance(f, 96))
			strcpy(s, names[fz_u8(f) % 7]);
		for (i = 0; names[i]; i++) {
			if (!strcmp(s, names[i])) {
				want = i;
				break;
			}
		}
		ret = opt_parse_enum(s, names, &idx, err, errlen);
		FZ_CHECK_EQ(ret, want < 0 ? want : 0);
		FZ_CHECK_EQ(idx, want < 0 ? -7 : want);
		break;
	}
	}
	if (ret)
		check_msg(err, errlen, sizeof(err));
	fz_stat_checked++;
}

/* ---- opt_parse() ------------------------------------------------------------ */

static const char *const rw_names[] = { "read", "write", "randread", NULL };

enum { O_JSON, O_QD, O_SIZE, O_SIZE_MB, O_SECS, O_RW, O_PATH, O_BIG, NR_OPTS, O_HELP = NR_OPTS };

struct vals {
	bool json;
	uint32_t qd;
	uint32_t big;
	uint64_t size, size_mb;
	double secs;
	int rw;
	const char *path;
	bool seen[NR_OPTS];
};

static const char *const opt_names[NR_OPTS + 1] = {
	"json", "qd", "size", "size-mb", "seconds", "rw", "path", "big", "help",
};

static void vals_init(struct vals *v)
{
	memset(v, 0, sizeof(*v));
	v->qd = 7;
	v->size = 11;
	v->size_mb = 13;
	v->big = 17;
	v->secs = 1.5;
	v->rw = 1;
	v->path = "default";
}

/* What set_value() stores for option @o, or false for a refused value. */
static bool ref_value(struct vals *v, unsigned int o, const char *arg)
{
	struct num n;
	struct dur d;
	int i;

	switch (o) {
	case O_QD:
		n = ref_u64(arg, 1, 4096);
		if (n.ret)
			return false;
		v->qd = (uint32_t)n.v;
		return true;
	case O_BIG:
		/* Wider than the uint32_t destination: clamped to UINT32_MAX. */
		n = ref_u64(arg, 2, UINT32_MAX);
		if (n.ret)
			return false;
		v->big = (uint32_t)n.v;
		return true;
	case O_SIZE:
	case O_SIZE_MB:
		n = ref_size(arg, 512, UINT64_C(1) << 40);
		if (n.ret)
			return false;
		*(o == O_SIZE ? &v->size : &v->size_mb) = n.v;
		return true;
	case O_SECS:
		d = ref_secs(arg, 0.001, 3600);
		if (d.ret)
			return false;
		v->secs = d.v;
		return true;
	case O_RW:
		for (i = 0; rw_names[i]; i++) {
			if (!strcmp(arg, rw_names[i])) {
				v->rw = i;
				return true;
			}
		}
		return false;
	case O_PATH:
		if (!*arg)
			return false;
		v->path = arg;
		return true;
	default:
		return false;
	}
}

/*
 * getopt_long() for this table, then set_value(): OPT_*, the first operand and
 * the operands in order (@ops).
 */
static int ref_parse(int argc, char **argv, bool stop, struct vals *v, int *first, char **ops)
{
	int i, operands = 0, a;

	for (i = 1; i < argc; i++) {
		const char *t = argv[i], *eq;
		unsigned int o, cands = 0, pick = 0;
		size_t n;

		if (!strcmp(t, "--")) {
			for (i++; i < argc; i++)
				ops[operands++] = argv[i];
			break;
		}
		if (t[0] != '-' || !t[1]) {
			if (stop) {
				for (; i < argc; i++)
					ops[operands++] = argv[i];
				break;
			}
			ops[operands++] = argv[i];
			continue;
		}
		if (t[1] != '-') {
			/* Short options: only -h; the first letter decides. */
			return t[1] == 'h' ? OPT_HELP : OPT_USAGE;
		}
		eq = strchr(t + 2, '=');
		n = eq ? (size_t)(eq - (t + 2)) : strlen(t + 2);
		for (o = 0; o <= O_HELP; o++) {
			if (strncmp(opt_names[o], t + 2, n))
				continue;
			if (strlen(opt_names[o]) == n) {
				cands = 1;
				pick = o;
				break;
			}
			cands++;
			pick = o;
		}
		if (cands != 1)
			return OPT_USAGE;	/* unknown, or an ambiguous abbreviation */
		if (pick == O_HELP)
			return eq ? OPT_USAGE : OPT_HELP;
		if (pick == O_JSON) {
			if (eq || strlen(opt_names[pick]) != n)
				return OPT_USAGE;
			v->json = true;
			v->seen[pick] = true;
			continue;
		}
		a = i;
		if (!eq && ++a >= argc)
			return OPT_USAGE;	/* needs a value */
		if (strlen(opt_names[pick]) != n)
			return OPT_USAGE;	/* abbreviated */
		if (!ref_value(v, pick, eq ? eq + 1 : argv[a]))
			return OPT_USAGE;
		v->seen[pick] = true;
		i = a;
	}
	*first = argc - operands;
	return OPT_OK;
}

static void gen_arg(struct fz *f, char *s, size_t cap)
{
	unsigned int o = fz_u8(f) % (NR_OPTS + 1);
	char val[MAX_STR + 1];
	size_t n;

	switch (fz_u8(f) % 8) {
	case 0:
	case 1:		/* --name */
	case 2:
		snprintf(s, cap, "--%s", opt_names[o]);
		break;
	case 3:		/* --name=value */
		gen_str(f, val, 12);
		snprintf(s, cap, "--%s=%s", opt_names[o], val);
		break;
	case 4:		/* an abbreviation */
		n = strlen(opt_names[o]);
		snprintf(s, cap, "--%.*s", (int)fz_range(f, 0, n), opt_names[o]);
		break;
	case 5:		/* "--", "-", "-h", a short option */
		switch (fz_u8(f) % 4) {
		case 0:
			snprintf(s, cap, "--");
			break;
		case 1:
			snprintf(s, cap, "-");
			break;
		case 2:
			snprintf(s, cap, "-h");
			break;
		default: {
			/* Read in order: argument evaluation order is unspecified. */
			char a = (char)(fz_u8(f) | 1), b = (char)fz_u8(f);

			snprintf(s, cap, "-%c%c", a, b);
			break;
		}
		}
		break;
	case 6:		/* a plausible value */
		switch (fz_u8(f) % 4) {
		case 0:
			snprintf(s, cap, "%s", rw_names[fz_u8(f) % 3]);
			break;
		case 1:
			snprintf(s, cap, "%u", (unsigned int)fz_range(f, 0, 5000));
			break;
		case 2:
			snprintf(s, cap, "%uK", (unsigned int)fz_range(f, 0, 5000));
			break;
		default: {
			unsigned int a = (unsigned int)fz_range(f, 0, 99);

			snprintf(s, cap, "%u.%ums", a, (unsigned int)fz_range(f, 0, 9));
			break;
		}
		}
		break;
	default:	/* anything */
		gen_str(f, s, cap - 1 < MAX_STR ? cap - 1 : MAX_STR);
		break;
	}
}

static void run_argv(struct fz *f)
{
	struct vals got, want;
	struct opt_spec spec[] = {
		OPT_FLAG("json", &got.json, "json"),
		OPT_U32("qd", &got.qd, 1, 4096, "N", "queue depth"),
		OPT_SIZE("size", &got.size, 512, UINT64_C(1) << 40, "size"),
		OPT_SIZE("size-mb", &got.size_mb, 512, UINT64_C(1) << 40, "size again"),
		OPT_END
	};
	struct opt_spec more[] = {
		OPT_SECS("seconds", &got.secs, 0.001, 3600, "duration"),
		OPT_ENUM("rw", &got.rw, rw_names, "pattern"),
		OPT_STR("path", &got.path, "PATH", "file"),
		OPT_U32("big", &got.big, 2, UINT64_MAX, "N", "range clamped to 32 bits"),
		OPT_END
	};
	struct opt_spec *const tables[] = { spec, more, NULL };
	static char store[MAX_ARGS][MAX_STR + 24];
	char *argv[MAX_ARGS + 2], *orig[MAX_ARGS + 2], *ops[MAX_ARGS + 2], err[OPT_ERR_LEN + 16];
	int argc = 1 + (int)fz_range(f, 0, MAX_ARGS), i, first = -1, want_first = -1, ret, w;
	bool stop = fz_chance(f, 96);

	vals_init(&got);
	vals_init(&want);
	argv[0] = "regbuf";
	for (i = 1; i < argc; i++) {
		gen_arg(f, store[i - 1], sizeof(store[0]));
		argv[i] = store[i - 1];
	}
	argv[argc] = NULL;
	memcpy(orig, argv, sizeof(argv));

	memset(err, ERR_CANARY, sizeof(err));
	ret = opt_parse(tables, argc, argv, stop, &first, err, OPT_ERR_LEN);
	w = ref_parse(argc, orig, stop, &want, &want_first, ops);
	FZ_CHECK_EQ(ret, w);
	/* Same elements, perhaps in another order. */
	for (i = 0; i < argc; i++) {
		int k, seen = 0;

		for (k = 0; k < argc; k++)
			seen += argv[k] == orig[i];
		FZ_CHECK_EQ(seen, 1);
	}
	if (ret == OPT_USAGE)
		check_msg(err, OPT_ERR_LEN, sizeof(err));
	if (ret != OPT_OK)
		return;
	FZ_CHECK_EQ(first, want_first);
	/* The operands, in their order, after the options. */
	for (i = first; i < argc; i++)
		FZ_CHECK(argv[i] == ops[i - first]);
	for (i = 0; i < NR_OPTS; i++) {
		bool s = opt_seen(tables, opt_names[i]);

		FZ_CHECK_EQ(s, want.seen[i]);
	}
	FZ_CHECK(!opt_seen(tables, "no-such-option"));
	FZ_CHECK_EQ(got.json, want.json);
	FZ_CHECK_EQ(got.qd, want.qd);
	FZ_CHECK_EQ(got.size, want.size);
	FZ_CHECK_EQ(got.size_mb, want.size_mb);
	FZ_CHECK_EQ(got.big, want.big);
	FZ_CHECK(got.secs == want.secs);
	FZ_CHECK_EQ(got.rw, want.rw);
	FZ_CHECK(!strcmp(got.path, want.path));
	fz_stat_checked++;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned int cls;
	struct fz f;

	if (!size)
		return 0;
	cls = data[0] % fz_target.nr_classes;
	fz_init(&f, data + 1, size - 1);
	if (cls == C_ARGV)
		run_argv(&f);
	else
		run_value(&f, cls);
	return 0;
}
