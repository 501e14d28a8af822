/*
 * main.c -- the ferry command: global options and dispatch to the subcommands.
 *
 *   ferry <command> [options] FILE...
 *   ferry --help | -h          the command list, to stdout, exit 0
 *   ferry --version | -V       "ferry 0.1.0 (libferry 0.1.0)", to stdout, exit 0
 *   ferry help [COMMAND]       same as --help / COMMAND --help
 *
 * The version line names both the version this program was compiled against
 * (FERRY_VERSION_STRING) and the one actually linked (ferry_version()), which differ when a
 * shared libferry is upgraded under an old binary.
 *
 * stdout gets a 1 MiB buffer when it is not a terminal: `ferry ls` and `ferry cat` write a
 * lot in small pieces, and the default 4 KiB buffer would cost one write call per 4 KiB. The
 * final flush is checked, so a full disk or a closed pipe turns into exit status 2 with a
 * message instead of silently truncated output (stdout is closed, not just flushed, so that
 * errors reported at close count too).
 */
#include "cli.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static const cli_cmd *const commands[] = {
    &cli_cmd_info, &cli_cmd_ls,       &cli_cmd_meta,    &cli_cmd_cat,
    &cli_cmd_convert, &cli_cmd_validate, &cli_cmd_formats,
};
#define N_COMMANDS (sizeof commands / sizeof commands[0])

static void global_help(FILE *fp)
{
    fputs("Usage: ferry <command> [options] FILE...\n"
          "Inspect, validate and convert AI model files (safetensors, GGUF, NumPy, ...).\n"
          "\nCommands:\n", fp);
    for (size_t i = 0; i < N_COMMANDS; i++)
        fprintf(fp, "  %-10s  %s\n", commands[i]->name, commands[i]->summary);
    fputs("\nGlobal options:\n"
          "  -h, --help              show this help and exit\n"
          "  -V, --version           show the version and exit\n"
          "\nRun 'ferry <command> --help' for the options of a command.\n"
          "\nExit status: 0 success, 1 a negative answer (validation failures),\n"
          "2 an error (I/O, corrupt or unsupported input), 4 a usage error.\n"
          "Colour and progress appear only on a terminal and never when NO_COLOR is set.\n",
          fp);
}

static void global_usage_error(const char *fmt, const char *arg)
{
    fputs("ferry: ", stderr);
    char msg[256];
    snprintf(msg, sizeof msg, fmt, arg);
    cli_write_escaped(stderr, msg, strlen(msg), 0);
    fputs("\nUsage: ferry <command> [options] FILE...\n"
          "Try 'ferry --help' for the list of commands.\n", stderr);
}

static const cli_cmd *find_command(const char *name)
{
    for (size_t i = 0; i < N_COMMANDS; i++)
        if (strcmp(commands[i]->name, name) == 0) return commands[i];
    return NULL;
}

static int run_command(const cli_cmd *cmd, int argc, char **argv)
{
    cli_args args;
    int rc = cli_parse(cmd, argc, argv, &args);
    if (rc == CLI_OK) rc = cmd->run(cmd, &args);
    cli_args_free(&args);
    return rc == CLI_HELP ? CLI_OK : rc;
}

static int dispatch(int argc, char **argv)
{
    if (argc < 2) {
        global_usage_error("%s", "no command given");
        return CLI_USAGE;
    }
    const char *a = argv[1];
    if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
        global_help(stdout);
        return CLI_OK;
    }
    if (strcmp(a, "--version") == 0 || strcmp(a, "-V") == 0) {
        printf("ferry %s (libferry %s)\n", FERRY_VERSION_STRING, ferry_version());
        return CLI_OK;
    }
    if (strcmp(a, "help") == 0) {
        if (argc < 3) {
            global_help(stdout);
            return CLI_OK;
        }
        const cli_cmd *cmd = find_command(argv[2]);
        if (!cmd) {
            global_usage_error("unknown command '%s'", argv[2]);
            return CLI_USAGE;
        }
        cli_print_help(cmd, stdout);
        return CLI_OK;
    }
    if (a[0] == '-') {
        global_usage_error("unknown option '%s' (options go after the command)", a);
        return CLI_USAGE;
    }
    const cli_cmd *cmd = find_command(a);
    if (!cmd) {
        global_usage_error("unknown command '%s'", a);
        return CLI_USAGE;
    }
    return run_command(cmd, argc - 2, argv + 2);
}

int main(int argc, char **argv)
{
    enum { OUTBUF = 1 << 20 };
    char *outbuf = NULL;
    if (!cli_isatty(stdout)) {
        outbuf = malloc(OUTBUF);
        if (outbuf) setvbuf(stdout, outbuf, _IOFBF, OUTBUF);
    }
    int rc = dispatch(argc, argv);
    /* fclose flushes and reports what the kernel said about the last writes; after it nothing
     * uses stdout, so its buffer can go. */
    errno = 0;
    bool failed = ferror(stdout) != 0;
    if (fclose(stdout) != 0) failed = true;
    if (failed) {
        int e = errno;
        cli_errorf("error writing standard output%s%s", e ? ": " : "", e ? strerror(e) : "");
        rc = CLI_ERROR;
    }
    free(outbuf);
    cli_reraise(); /* an interrupted convert / cat -o has cleaned up; now die as asked */
    return rc;
}
