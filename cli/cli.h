/*
 * cli.h -- what the files of the ferry command share.
 *
 * The command is split like curl's src/tool_*.c: main.c dispatches, one cmd_<name>.c per
 * subcommand, util.c holds option parsing, help, sizes, terminal detection, the progress
 * bar and text escaping, json_out.c the streaming JSON emitter. Every subcommand is
 * described by one cli_cmd table (synopsis, summary, options with their help text); the
 * same table drives the parser, `--help`, and is what tests/cli/test_help.sh checks against
 * man/ferry.1, so the three cannot drift apart silently.
 *
 * Exit codes are the stable contract of DESIGN.md ("CLI contract"): 0 success, 1 a negative
 * answer, 2 an error (I/O, corrupt or unsupported input), 4 a usage error.
 *
 * Only include/ferry.h is used from the library: the CLI is a client like any other.
 */
#ifndef FERRY_CLI_H
#define FERRY_CLI_H

#include "ferry.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* ============================================================================================
 * Exit codes
 * ========================================================================================== */

enum {
    CLI_OK       = 0, /* success                                        */
    CLI_NEGATIVE = 1, /* a negative answer (validation failures)        */
    CLI_ERROR    = 2, /* I/O error, corrupt or unsupported input        */
    CLI_USAGE    = 4, /* unknown option or command, missing argument    */
    CLI_HELP     = -1 /* internal: --help was printed, exit with CLI_OK */
};

/* ============================================================================================
 * Commands and options (util.c)
 * ========================================================================================== */

#define CLI_MAX_OPTS 16

/* One option of a command. The index of the entry in its table is its identity: the parser
 * stores its value in cli_args.opt[index]. */
typedef struct cli_opt {
    char        short_name; /* 0: none                                       */
    const char *long_name;  /* without the leading "--"                      */
    const char *arg;        /* metavariable ("FILE") or NULL for a flag      */
    const char *help;       /* one line for --help                           */
} cli_opt;

typedef struct cli_args {
    const char *opt[CLI_MAX_OPTS]; /* option values; "" for a given flag; NULL if absent */
    char      **pos;               /* positional arguments (owned array, borrowed strings) */
    int         npos;
} cli_args;

typedef struct cli_cmd cli_cmd;
struct cli_cmd {
    const char    *name;     /* "ls"                                                   */
    const char    *synopsis; /* positional part of the usage line: "FILE [KEY]"        */
    const char    *summary;  /* one line for `ferry --help` and the top of --help      */
    const char    *details;  /* a paragraph after the option list (may be NULL)        */
    const cli_opt *opts;     /* terminated by an entry with long_name == NULL          */
    int            min_pos;  /* positional arguments accepted                          */
    int            max_pos;  /* -1: unlimited                                          */
    int          (*run)(const cli_cmd *cmd, cli_args *args);
};

/* The help option every command has; put it last in each table. */
#define CLI_OPT_HELP {'h', "help", NULL, "show this help and exit"}
#define CLI_OPT_END  {0, NULL, NULL, NULL}

extern const cli_cmd cli_cmd_info;
extern const cli_cmd cli_cmd_ls;
extern const cli_cmd cli_cmd_meta;
extern const cli_cmd cli_cmd_cat;
extern const cli_cmd cli_cmd_convert;
extern const cli_cmd cli_cmd_validate;
extern const cli_cmd cli_cmd_formats;

/* Parses argv (the arguments after the command name). Options and positional arguments may
 * be mixed; "--" ends the options. Returns CLI_OK, CLI_HELP (help printed to stdout) or
 * CLI_USAGE (message printed to stderr). Free with cli_args_free in every case. */
int cli_parse(const cli_cmd *cmd, int argc, char **argv, cli_args *out);
void cli_args_free(cli_args *a);
/* Prints the command's --help text to fp. */
void cli_print_help(const cli_cmd *cmd, FILE *fp);
/* Prints "ferry: CMD: <message>" and the short usage to stderr; returns CLI_USAGE. */
int cli_usage_error(const cli_cmd *cmd, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
/* Parses a decimal unsigned integer with no sign, spaces or trailing junk. */
bool cli_parse_u32(const char *s, uint32_t *out);

/* ============================================================================================
 * Diagnostics and the library (util.c)
 * ========================================================================================== */

/* A context for one command; library notices (level 0) are printed only when `notices`. */
typedef struct cli_log {
    bool notices;
} cli_log;

/* Creates a context whose log goes to stderr as "ferry: note: ..." / "ferry: warning: ...".
 * `log` must outlive the context (may be NULL: warnings only). Prints and returns NULL on
 * failure. */
ferry_ctx *cli_ctx_new(cli_log *log);
/* Prints "ferry: <library error message>" (escaped) to stderr; returns CLI_ERROR. `what`
 * names the input when the library left no message. */
int cli_lib_error(const ferry_ctx *ctx, int status, const char *what);
/* Prints "ferry: <formatted message>" (escaped) to stderr. */
void cli_errorf(const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 1, 2)))
#endif
    ;
/* Opens a model, printing the library's message on failure. Returns CLI_OK or CLI_ERROR. */
int cli_open(ferry_ctx *ctx, const char *path, ferry_model **out);

/* ============================================================================================
 * Terminal, text and sizes (util.c)
 * ========================================================================================== */

/* Nonzero when fp is a terminal. */
bool cli_isatty(FILE *fp);
/* Colour is used when fp is a terminal, NO_COLOR is unset or empty and TERM is not "dumb". */
bool cli_use_color(FILE *fp);

/* Length (1..4) of the valid UTF-8 sequence at s (n > 0 bytes left) with its code point, or 0
 * when the bytes do not start one (RFC 3629: no overlong forms, surrogates, or code points
 * above U+10FFFF). Inline: both escapers call it for every non-ASCII character. */
static inline size_t cli_utf8_seq(const unsigned char *s, size_t n, uint32_t *cp)
{
    unsigned char c = s[0];
    size_t len;
    uint32_t v, min;
    if (c < 0x80) {
        *cp = c;
        return 1;
    } else if (c >= 0xC2 && c <= 0xDF) {
        len = 2, v = c & 0x1F, min = 0x80;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3, v = c & 0x0F, min = 0x800;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4, v = c & 0x07, min = 0x10000;
    } else {
        return 0;
    }
    if (len > n) return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        v = (v << 6) | (s[i] & 0x3F);
    }
    if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) return 0;
    *cp = v;
    return len;
}

enum { CLI_ESC_QUOTE = 1 }; /* also escape '"' (for quoted strings) */

/* Writes s[0..n) to fp so that no byte of a hostile file reaches a terminal raw: control
 * characters become \n \t \r or \xHH, a backslash becomes \\, invalid UTF-8 bytes \xHH, C1
 * controls and bidirectional overrides \u{XXXX}; printable ASCII and other valid UTF-8 pass
 * through. */
void cli_write_escaped(FILE *fp, const char *s, size_t n, unsigned flags);
/* The number of terminal columns cli_write_escaped uses for s (East Asian wide characters
 * count two, combining marks none). */
size_t cli_escaped_width(const char *s, size_t n, unsigned flags);

/* "1.5 GiB" (binary units, bytes below 1 KiB shown exactly). buf: at least 32 bytes. */
const char *cli_human_bytes(char *buf, uint64_t n);
/* "6.74 B", "125 M" (decimal units for counts). buf: at least 32 bytes. */
const char *cli_human_count(char *buf, uint64_t n);
/* Seconds from a monotonic clock. */
double cli_now(void);

/* ============================================================================================
 * Interruption (util.c)
 * ========================================================================================== */

/* Commands that write an atomic output (convert, cat -o) catch SIGINT, SIGTERM and SIGHUP
 * so that an interrupted run can abort its sink -- removing the temporary file -- instead of
 * dying with it on disk. They poll cli_interrupted() between chunks; main() re-raises the
 * signal at exit (cli_reraise), so the shell still sees a death by that signal. */
void cli_catch_signals(void);
int cli_interrupted(void);
void cli_reraise(void);

/* ============================================================================================
 * Progress bar on stderr (util.c)
 * ========================================================================================== */

typedef struct cli_progress {
    bool        enabled; /* stderr is a terminal and the caller wants one        */
    bool        drawn;   /* something is on the line that end() must clear       */
    double      t0;      /* start time: nothing is drawn during the first 0.3 s  */
    double      last;    /* time of the last redraw (redraws are rate-limited)   */
    const char *label;
} cli_progress;

void cli_progress_start(cli_progress *p, const char *label, bool enabled);
void cli_progress_update(cli_progress *p, uint64_t done, uint64_t total);
void cli_progress_end(cli_progress *p);

/* ============================================================================================
 * Values of the metadata tree as text (util.c)
 * ========================================================================================== */

/* Writes a scalar node (NULL, BOOL, INT, UINT, FLOAT, STRING, BYTES) as text. Strings are
 * quoted and escaped when `quote`, otherwise only escaped; bytes print as <N bytes: hex...>.
 * Containers print as [N items] / {N keys}. */
void cli_print_scalar(FILE *fp, const ferry_meta *m, bool quote);

/* ============================================================================================
 * Streaming JSON (json_out.c)
 * ========================================================================================== */

typedef struct jw {
    FILE  *fp;
    char  *buf;
    size_t len;
    size_t cap;
    bool   comma; /* a value was written at this level: the next one needs a comma */
    bool   err;   /* a write or an allocation failed (sticky)                       */
} jw;

void jw_init(jw *w, FILE *fp);
/* Writes the final newline, flushes and frees. Returns 0, or -1 if anything failed. */
int jw_end(jw *w);
void jw_obj_begin(jw *w);
void jw_obj_end(jw *w);
void jw_arr_begin(jw *w);
void jw_arr_end(jw *w);
void jw_key(jw *w, const char *key);
void jw_str(jw *w, const char *s, size_t n);
void jw_cstr(jw *w, const char *s); /* NULL writes null */
void jw_int(jw *w, int64_t v);
void jw_uint(jw *w, uint64_t v);
void jw_double(jw *w, double v, ferry_dtype numtype);
void jw_bool(jw *w, bool v);
void jw_null(jw *w);
void jw_base64(jw *w, const void *data, size_t n);
/* Writes a whole metadata subtree (iteratively: the depth is the file's to choose). */
void jw_meta(jw *w, const ferry_meta *m);

/* Formats v with the fewest digits that read back to the same value -- as a float32 when
 * numtype is F32/F16/BF16/F8 and v is exactly a float, else as a double -- always with a
 * '.' or an exponent so that it reads back as a floating value. Writes "nan", "inf" or
 * "-inf" for those and returns false; buf needs 40 bytes. */
bool cli_fmt_double(char *buf, double v, ferry_dtype numtype);
/* Decimal digits of an integer; buf needs 24 bytes. Returns the length. */
size_t cli_fmt_u64(char *buf, uint64_t v);
size_t cli_fmt_i64(char *buf, int64_t v);

#endif /* FERRY_CLI_H */
