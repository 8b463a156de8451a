/* SPDX-License-Identifier: MIT */
/*
 * regbuf CLI: the one option parser every sub-command uses.
 *
 * A sub-command describes its options in a table, one line each:
 *
 *	struct opt_spec spec[] = {
 *		OPT_U32("qd", &qd, 1, 4096, "N", "queue depth per thread"),
 *		OPT_SIZE("bs", &bs, 512, 16 << 20, "block size"),
 *		OPT_FLAG("json", &json, "one JSON document"),
 *		OPT_END
 *	};
 *
 * and opt_parse() runs getopt_long over it.  Every value is checked against
 * its range before the command does anything: empty strings, trailing
 * garbage, signs, overflow, NaN/inf and out-of-range values are refused with
 * a one-line message naming the allowed range.  opt_usage() prints the same
 * table as help, ranges included, so the help cannot drift from the parser.
 *
 * The opt_parse_*() value functions are pure (no global state, no I/O) so a
 * fuzzer can call them directly.
 */
#ifndef REGBUF_CLI_OPT_H
#define REGBUF_CLI_OPT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Longest message an opt_parse*() function writes (one line, no newline). */
#define OPT_ERR_LEN 256

/*
 * Integers: decimal, or hexadecimal with a 0x prefix; no sign, no spaces.
 * Returns 0 and *out, or -EINVAL (not a number) / -ERANGE (outside
 * [min, max]) with a message in @err.
 */
int opt_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out, char *err,
		  size_t errlen);

/*
 * Sizes in bytes: an integer as above, optionally followed by one of the
 * binary suffixes K, M, G, T (x 1024^n; case-insensitive, "KiB" etc. also
 * accepted).  Same returns as opt_parse_u64(); overflow of the multiplication
 * is -ERANGE.
 */
int opt_parse_size(const char *s, uint64_t min, uint64_t max, uint64_t *out, char *err,
		   size_t errlen);

/*
 * Durations: a decimal number of seconds ("2", "0.5"), optionally followed by
 * "s" or "ms".  No exponents, no hex floats, no nan/inf.  The result is in
 * seconds, within [min, max].  The number (without its unit) must be shorter
 * than 32 characters: a longer one is "not a duration" (-EINVAL), since no
 * duration this CLI accepts needs more digits.
 */
int opt_parse_secs(const char *s, double min, double max, double *out, char *err, size_t errlen);

/* One of @names (NULL-terminated), exactly; *out is its index. */
int opt_parse_enum(const char *s, const char *const *names, int *out, char *err, size_t errlen);

enum opt_kind {
	OPT_KIND_END,
	OPT_KIND_FLAG,	/* bool, no argument */
	OPT_KIND_STR,	/* const char *, must not be empty */
	OPT_KIND_U32,	/* uint32_t in [min, max] */
	OPT_KIND_U64,	/* uint64_t in [min, max] */
	OPT_KIND_SIZE,	/* uint64_t bytes in [min, max], K/M/G/T suffixes */
	OPT_KIND_SECS,	/* double seconds in [fmin, fmax] */
	OPT_KIND_ENUM,	/* int index into choices */
};

struct opt_spec {
	const char *name;		/* long option, without "--" */
	enum opt_kind kind;
	void *dst;
	uint64_t min, max;
	double fmin, fmax;
	const char *const *choices;
	const char *metavar;		/* "N", "PATH", ... for the help */
	const char *help;
	bool seen;			/* set by opt_parse() when given */
};

/* Type-checked destinations: a wrong pointer type is a compile error under -Werror. */
#define OPT__PTR(p, T) ((void *)(1 ? (p) : (T *)0))

#define OPT_FLAG(n, p, h) \
	{ .name = (n), .kind = OPT_KIND_FLAG, .dst = OPT__PTR(p, bool), .help = (h) }
#define OPT_STR(n, p, mv, h) \
	{ .name = (n), .kind = OPT_KIND_STR, .dst = OPT__PTR(p, const char *), .metavar = (mv), \
	  .help = (h) }
#define OPT_U32(n, p, lo, hi, mv, h) \
	{ .name = (n), .kind = OPT_KIND_U32, .dst = OPT__PTR(p, uint32_t), .min = (lo), \
	  .max = (hi), .metavar = (mv), .help = (h) }
#define OPT_U64(n, p, lo, hi, mv, h) \
	{ .name = (n), .kind = OPT_KIND_U64, .dst = OPT__PTR(p, uint64_t), .min = (lo), \
	  .max = (hi), .metavar = (mv), .help = (h) }
#define OPT_SIZE(n, p, lo, hi, h) \
	{ .name = (n), .kind = OPT_KIND_SIZE, .dst = OPT__PTR(p, uint64_t), .min = (lo), \
	  .max = (hi), .metavar = "SIZE", .help = (h) }
#define OPT_SECS(n, p, lo, hi, h) \
	{ .name = (n), .kind = OPT_KIND_SECS, .dst = OPT__PTR(p, double), .fmin = (lo), \
	  .fmax = (hi), .metavar = "SECONDS", .help = (h) }
#define OPT_ENUM(n, p, names, h) \
	{ .name = (n), .kind = OPT_KIND_ENUM, .dst = OPT__PTR(p, int), .choices = (names), \
	  .help = (h) }
#define OPT_END { .kind = OPT_KIND_END }

/* Outcome of opt_parse(): go on, print help (exit 0), or a usage error (exit 2). */
enum { OPT_OK = 0, OPT_HELP = 1, OPT_USAGE = 2 };

/*
 * Parse argv[1..] against @tables (a NULL-terminated list of OPT_END-terminated
 * tables: a command's own options and options it shares with others).  --help
 * and -h are always accepted.  Options and operands may be mixed unless
 * @stop_at_operand, which stops at the first operand (a sub-command name).
 * On OPT_OK, *first_operand is the index of the first operand (argc if none).
 * On OPT_USAGE, @err holds the message.  Resets getopt's state itself.
 */
int opt_parse(struct opt_spec *const *tables, int argc, char **argv, bool stop_at_operand,
	      int *first_operand, char *err, size_t errlen);

/* Was option @name given?  (After opt_parse(); false for unknown names.) */
bool opt_seen(struct opt_spec *const *tables, const char *name);

/* The options of @tables, one line each, with metavar, range and help. */
void opt_usage(FILE *f, struct opt_spec *const *tables);

/* The --help line every command accepts (opt_parse() handles it), printed once. */
void opt_usage_help(FILE *f);

/*
 * For commands that take no operands: OPT_OK when opt_parse() left none
 * (@first is its *first_operand), else OPT_USAGE with "unexpected argument".
 */
int opt_no_operands(int argc, char **argv, int first, char *err, size_t errlen);

#endif /* REGBUF_CLI_OPT_H */
