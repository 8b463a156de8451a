/* SPDX-License-Identifier: MIT */
/*
 * regbuf CLI: each sub-command lives in its own file and registers in main.c.
 */
#ifndef REGBUF_CLI_CMD_H
#define REGBUF_CLI_CMD_H

/* regbuf info [--json] [--path P] (info.c) */
int cmd_info(int argc, char **argv);

/* regbuf nvme list|identify|read|write (nvme.c) */
int cmd_nvme(int argc, char **argv);

#endif /* REGBUF_CLI_CMD_H */
