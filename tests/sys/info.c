// SPDX-License-Identifier: MIT
/*
 * sys: `regbuf info` runs, its JSON parses, and what it reports agrees with
 * the machine (kernel release, hugetlb pools, memlock, clone support).
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "harness.h"

static char cli[PATH_MAX + 32];

/* build/tests/sys/test-info -> build/tools/regbuf/regbuf */
static int find_cli(void)
{
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	char *s;
	int i;

	if (n <= 0)
		return -1;
	self[n] = '\0';
	for (i = 0; i < 3; i++) {
		s = strrchr(self, '/');
		if (!s)
			return -1;
		*s = '\0';
	}
	snprintf(cli, sizeof(cli), "%s/tools/regbuf/regbuf", self);
	return access(cli, X_OK);
}

static int have_python(void)
{
	return t_sh("command -v python3 >/dev/null 2>&1") == 0;
}

static int text_and_usage(void)
{
	t_check_eq(t_sh("%s info >/dev/null", cli), 0);
	t_check_eq(t_sh("%s info --path /proc/self/exe >/dev/null", cli), 0);
	t_check_eq(t_sh("%s info --bogus >/dev/null 2>&1", cli), 2);
	t_check_eq(t_sh("%s info extra >/dev/null 2>&1", cli), 2);
	return T_PASS;
}

static int json_parses(void)
{
	if (!have_python())
		return t_skip("python3 missing: apt-get install python3");
	t_check_eq(t_sh("%s info --json --path %s | python3 -m json.tool >/dev/null", cli, cli), 0);
	return T_PASS;
}

/* The keys scripts rely on, and values cross-checked in Python against sysfs. */
static const char check_py[] =
	"import json, os, sys\n"
	"release, unlimited, soft_want, path = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]\n"
	"d = json.load(sys.stdin)\n"
	"for k in ('regbuf_version', 'kernel', 'io_uring', 'hugepages', 'thp',\n"
	"          'memlock', 'pagemap', 'iommu', 'arena_probe', 'path'):\n"
	"    assert k in d, k\n"
	"assert d['kernel']['release'] == release\n"
	"soft = d['memlock']['soft']\n"
	"assert soft == ('unlimited' if unlimited else soft_want), soft\n"
	"for k in ('pfns', 'kpageflags', 'pagemap_scan'):\n"
	"    assert k in d['pagemap'], k\n"
	"for k in ('iommu_groups', 'dev_vfio_vfio', 'modules'):\n"
	"    assert k in d['iommu'], k\n"
	"assert d['thp']['enabled'] in ('always', 'madvise', 'never')\n"
	"for size, pool in d['hugepages'].items():\n"
	"    assert set(pool) == {'total', 'free', 'reserved', 'surplus'}, pool\n"
	"    assert os.path.isdir('/sys/kernel/mm/hugepages/hugepages-' + size), size\n"
	"assert d['arena_probe']['tier'] in ('1G', '2M', 'THP', '4K')\n"
	"u = d['io_uring']\n"
	"if u['available']:\n"
	"    for op in ('READ_FIXED', 'WRITE_FIXED', 'READV_FIXED', 'WRITEV_FIXED'):\n"
	"        assert op in u['ops'], op\n"
	"    rel = tuple(int(x) for x in release.split('-')[0].split('.')[:2])\n"
	"    r = u['register']\n"
	"    assert r['BUFFERS'] == 'ok', r\n"
	"    if rel >= (6, 13):\n"
	"        assert r['CLONE_BUFFERS'] == 'ok', r\n"
	"        assert r['CLONE_BUFFERS_ranges_replace'] == 'ok', r\n"
	"    if rel >= (6, 15):\n"
	"        assert u['ops']['READV_FIXED'] and u['ops']['WRITEV_FIXED']\n"
	"p = d['path']\n"
	"assert p['path'] == path and 'dioalign_reported' in p\n";

static int json_keys_and_values(void)
{
	char script[] = "/tmp/regbuf-info-check-XXXXXX";
	struct rlimit rl;
	struct utsname u;
	FILE *f;
	int fd, r;

	if (!have_python())
		return t_skip("python3 missing: apt-get install python3");
	t_check_eq(getrlimit(RLIMIT_MEMLOCK, &rl), 0);
	t_check_eq(uname(&u), 0);
	fd = mkstemp(script);
	if (fd < 0 || !(f = fdopen(fd, "w")))
		return t_broken("mkstemp: %s", strerror(errno));
	fputs(check_py, f);
	fclose(f);
	r = t_sh("%s info --json --path %s | python3 %s '%s' %d %llu %s", cli, cli, script,
		 u.release, rl.rlim_cur == RLIM_INFINITY, (unsigned long long)rl.rlim_cur, cli);
	unlink(script);
	t_check_eq(r, 0);
	return T_PASS;
}

static const struct t_case cases[] = {
	T_CASE(text_and_usage),
	T_CASE(json_parses),
	T_CASE(json_keys_and_values),
};

int main(int argc, char **argv)
{
	if (find_cli()) {
		fprintf(stderr, "sys/info: regbuf CLI not found next to the test build\n");
		return T_BROKEN;
	}
	return t_main("sys/info", cases, sizeof(cases) / sizeof(cases[0]), argc, argv);
}
