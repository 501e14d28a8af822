/*
 * util.c -- the helpers every subcommand shares: option parsing and help from the command
 * tables, diagnostics, terminal detection, text escaping, human-readable sizes, the progress
 * bar, and metadata scalars as text.
 *
 * Option syntax follows the GNU conventions users expect: long options as "--name VALUE" or
 * "--name=VALUE", short ones as "-o VALUE", "-oVALUE" or clustered flags ("-qh"), options
 * and operands in any order, and "--" ending the options (so a file named "-x" can be
 * given). Long names must be spelled out in full: abbreviations would turn every new option
 * into a compatibility break for someone's script.
 *
 * Escaping. Model files come from strangers, and tensor names and metadata strings are
 * their bytes. Anything printed as text goes through cli_write_escaped(), which lets
 * printable ASCII and valid UTF-8 through and makes everything that could drive a terminal
 * visible instead: C0 controls and DEL (\n, \t, \r, \xHH), bytes that are not valid UTF-8
 * (\xHH), C1 controls and the invisible/bidirectional formatting characters that can make
 * text display differently from what it is ("Trojan Source", CVE-2021-42574) as \u{XXXX}.
 * A backslash is doubled so that the escaped form is unambiguous.
 *
 * The progress bar draws on stderr only when it is a terminal (and NO_COLOR is unset and
 * TERM is not "dumb", since it uses \r and an erase-line sequence), waits 0.3 s before the
 * first draw so quick work never flickers, and redraws at most ten times a second.
 */
#include "cli.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* ============================================================================================
 * Option parsing and help
 * ========================================================================================== */

static int opt_count(const cli_cmd *cmd)
{
    int n = 0;
    while (cmd->opts[n].long_name) n++;
    return n;
}

static void usage_line(const cli_cmd *cmd, FILE *fp)
{
    fprintf(fp, "Usage: ferry %s [options]%s%s\n", cmd->name, cmd->synopsis[0] ? " " : "",
            cmd->synopsis);
}

void cli_print_help(const cli_cmd *cmd, FILE *fp)
{
    usage_line(cmd, fp);
    fprintf(fp, "%s\n\nOptions:\n", cmd->summary);
    for (const cli_opt *o = cmd->opts; o->long_name; o++) {
        char left[64];
        snprintf(left, sizeof left, "  %c%c%s--%s%s%s", o->short_name ? '-' : ' ',
                 o->short_name ? o->short_name : ' ', o->short_name ? ", " : "  ", o->long_name,
                 o->arg ? " " : "", o->arg ? o->arg : "");
        if (strlen(left) < 24)
            fprintf(fp, "%-24s%s\n", left, o->help);
        else
            fprintf(fp, "%s\n%24s%s\n", left, "", o->help);
    }
    if (cmd->details) fprintf(fp, "\n%s\n", cmd->details);
}

int cli_usage_error(const cli_cmd *cmd, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fprintf(stderr, "ferry: %s: ", cmd->name);
    cli_write_escaped(stderr, msg, strlen(msg), 0);
    fputc('\n', stderr);
    usage_line(cmd, stderr);
    fprintf(stderr, "Try 'ferry %s --help' for more information.\n", cmd->name);
    return CLI_USAGE;
}

static int find_long(const cli_cmd *cmd, const char *name, size_t len)
{
    for (int i = 0; cmd->opts[i].long_name; i++)
        if (strlen(cmd->opts[i].long_name) == len && memcmp(cmd->opts[i].long_name, name, len) == 0)
            return i;
    return -1;
}

static int find_short(const cli_cmd *cmd, char c)
{
    for (int i = 0; cmd->opts[i].long_name; i++)
        if (cmd->opts[i].short_name == c) return i;
    return -1;
}

static bool is_help_index(const cli_cmd *cmd, int i)
{
    return strcmp(cmd->opts[i].long_name, "help") == 0;
}

int cli_parse(const cli_cmd *cmd, int argc, char **argv, cli_args *out)
{
    memset(out, 0, sizeof *out);
    if (opt_count(cmd) > CLI_MAX_OPTS) return cli_usage_error(cmd, "too many options in table");
    out->pos = malloc(((size_t)argc + 1) * sizeof *out->pos);
    if (!out->pos) {
        cli_errorf("out of memory");
        return CLI_ERROR;
    }
    /* --help wins over everything else on the line, even a mistake elsewhere: someone asking
     * for help should get it, not an error about the command they are trying to write. */
    for (int i = 0; i < argc && strcmp(argv[i], "--") != 0; i++)
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            cli_print_help(cmd, stdout);
            return CLI_HELP;
        }
    bool only_pos = false;
    for (int i = 0; i < argc; i++) {
        char *a = argv[i];
        if (only_pos || a[0] != '-' || a[1] == 0) {
            out->pos[out->npos++] = a;
            continue;
        }
        if (strcmp(a, "--") == 0) {
            only_pos = true;
            continue;
        }
        if (a[1] == '-') {
            const char *name = a + 2;
            const char *eq   = strchr(name, '=');
            size_t len       = eq ? (size_t)(eq - name) : strlen(name);
            int k = find_long(cmd, name, len);
            if (k < 0) return cli_usage_error(cmd, "unknown option '--%.*s'", (int)len, name);
            const cli_opt *o = &cmd->opts[k];
            if (!o->arg) {
                if (eq) return cli_usage_error(cmd, "option '--%s' takes no argument",
                                               o->long_name);
                out->opt[k] = "";
            } else if (eq) {
                out->opt[k] = eq + 1;
            } else if (i + 1 < argc) {
                out->opt[k] = argv[++i];
            } else {
                return cli_usage_error(cmd, "option '--%s' needs an argument (%s)",
                                       o->long_name, o->arg);
            }
            continue;
        }
        /* A cluster of short options: flags, possibly ending with one that takes a value. */
        for (const char *c = a + 1; *c; c++) {
            int k = find_short(cmd, *c);
            if (k < 0) return cli_usage_error(cmd, "unknown option '-%c'", *c);
            const cli_opt *o = &cmd->opts[k];
            if (!o->arg) {
                out->opt[k] = "";
                continue;
            }
            if (c[1])
                out->opt[k] = c + 1;
            else if (i + 1 < argc)
                out->opt[k] = argv[++i];
            else
                return cli_usage_error(cmd, "option '-%c' needs an argument (%s)", *c, o->arg);
            break;
        }
    }
    for (int k = 0; cmd->opts[k].long_name; k++)
        if (out->opt[k] && is_help_index(cmd, k)) {
            cli_print_help(cmd, stdout);
            return CLI_HELP;
        }
    if (out->npos < cmd->min_pos)
        return cli_usage_error(cmd, "missing argument (expected %s)", cmd->synopsis);
    if (cmd->max_pos >= 0 && out->npos > cmd->max_pos)
        return cli_usage_error(cmd, "too many arguments (expected %s)", cmd->synopsis);
    return CLI_OK;
}

void cli_args_free(cli_args *a)
{
    free(a->pos);
    a->pos  = NULL;
    a->npos = 0;
}

bool cli_parse_u32(const char *s, uint32_t *out)
{
    uint64_t v = 0;
    if (!s || !*s) return false;
    for (; *s; s++) {
        if (*s < '0' || *s > '9') return false;
        v = v * 10 + (uint64_t)(*s - '0');
        if (v > UINT32_MAX) return false;
    }
    *out = (uint32_t)v;
    return true;
}

/* ============================================================================================
 * Diagnostics
 * ========================================================================================== */

void cli_errorf(const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fputs("ferry: ", stderr);
    cli_write_escaped(stderr, msg, strlen(msg), 0);
    fputc('\n', stderr);
}

static void log_line(void *ud, int level, const char *msg)
{
    const cli_log *lg = ud;
    if (level == 0 && !(lg && lg->notices)) return;
    bool color = cli_use_color(stderr);
    fputs("ferry: ", stderr);
    if (level == 0)
        fputs("note: ", stderr);
    else
        fputs(color ? "\033[33mwarning:\033[0m " : "warning: ", stderr);
    cli_write_escaped(stderr, msg, strlen(msg), 0);
    fputc('\n', stderr);
}

ferry_ctx *cli_ctx_new(cli_log *log)
{
    ferry_ctx *ctx = ferry_ctx_new(NULL);
    if (!ctx) {
        cli_errorf("out of memory");
        return NULL;
    }
    ferry_ctx_set_log(ctx, log_line, log);
    return ctx;
}

int cli_lib_error(const ferry_ctx *ctx, int status, const char *what)
{
    const char *msg = ferry_ctx_error(ctx);
    if (msg && *msg)
        cli_errorf("%s", msg);
    else
        cli_errorf("%s: %s", what ? what : "(input)", ferry_status_name(status));
    return CLI_ERROR;
}

int cli_open(ferry_ctx *ctx, const char *path, ferry_model **out)
{
    int rc = ferry_open(ctx, path, NULL, out);
    return rc ? cli_lib_error(ctx, rc, path) : CLI_OK;
}

/* ============================================================================================
 * Terminals
 * ========================================================================================== */

bool cli_isatty(FILE *fp) { return isatty(fileno(fp)) == 1; }

bool cli_use_color(FILE *fp)
{
    const char *nc   = getenv("NO_COLOR");
    const char *term = getenv("TERM");
    if (nc && *nc) return false;
    if (term && strcmp(term, "dumb") == 0) return false;
    return cli_isatty(fp);
}

/* ============================================================================================
 * Interruption
 * ========================================================================================== */

/* The one piece of mutable global state in the command: a signal handler can do nothing
 * else but set a flag. */
static volatile sig_atomic_t caught_signal;

static void on_signal(int sig) { caught_signal = sig; }

void cli_catch_signals(void)
{
    static const int sigs[] = {SIGINT, SIGTERM, SIGHUP};
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sa.sa_flags   = SA_RESTART; /* a write in progress completes; the next poll stops us */
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) {
        struct sigaction old;
        /* A signal ignored by our parent (nohup, background jobs) stays ignored. */
        if (sigaction(sigs[i], NULL, &old) == 0 && old.sa_handler == SIG_IGN) continue;
        sigaction(sigs[i], &sa, NULL);
    }
}

int cli_interrupted(void) { return caught_signal; }

void cli_reraise(void)
{
    int sig = caught_signal;
    if (!sig) return;
    signal(sig, SIG_DFL);
    raise(sig);
}

/* ============================================================================================
 * Escaping
 * ========================================================================================== */

/* Code points that are valid UTF-8 but must not reach a terminal raw: C1 controls, and
 * formatting characters that are invisible or reorder the text around them. */
static bool hidden_cp(uint32_t cp)
{
    return (cp >= 0x80 && cp <= 0x9F) || cp == 0x061C || (cp >= 0x200B && cp <= 0x200F) ||
           (cp >= 0x2028 && cp <= 0x202E) || (cp >= 0x2060 && cp <= 0x2069) || cp == 0xFEFF;
}

/* One escaping step: the escaped form of the character at s (into e, returning its length
 * and setting *used to the input bytes consumed), or 0 when the character passes as is. */
static size_t escape_one(const unsigned char *s, size_t n, unsigned flags, char *e, size_t *used)
{
    unsigned char c = s[0];
    *used = 1;
    if (c >= 0x20 && c < 0x7F) {
        if (c == '\\' || (c == '"' && (flags & CLI_ESC_QUOTE))) {
            e[0] = '\\', e[1] = (char)c;
            return 2;
        }
        return 0;
    }
    if (c == '\n' || c == '\t' || c == '\r') {
        e[0] = '\\', e[1] = c == '\n' ? 'n' : c == '\t' ? 't' : 'r';
        return 2;
    }
    uint32_t cp;
    size_t len = c < 0x80 ? 0 : cli_utf8_seq(s, n, &cp);
    if (len == 0) return (size_t)snprintf(e, 8, "\\x%02x", c);
    *used = len;
    if (hidden_cp(cp)) return (size_t)snprintf(e, 16, "\\u{%04x}", (unsigned)cp);
    return 0;
}

void cli_write_escaped(FILE *fp, const char *str, size_t n, unsigned flags)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0, run = 0; /* s[run..i) passes unchanged and is not yet written */
    while (i < n) {
        char e[16];
        size_t used;
        size_t k = escape_one(s + i, n - i, flags, e, &used);
        if (k == 0) {
            i += used;
            continue;
        }
        if (i > run) fwrite(s + run, 1, i - run, fp);
        fwrite(e, 1, k, fp);
        i += used;
        run = i;
    }
    if (i > run) fwrite(s + run, 1, i - run, fp);
}

/* Terminal columns of a printable code point: 0 for combining marks, 2 for the East Asian
 * wide and fullwidth blocks and emoji, 1 otherwise. An approximation of wcwidth() that does
 * not depend on the locale; it only has to keep columns aligned for common scripts. */
static size_t cp_width(uint32_t cp)
{
    static const struct {
        uint32_t lo, hi;
    } wide[] = {
        {0x1100, 0x115F},   {0x2E80, 0x303E},   {0x3041, 0x33FF},   {0x3400, 0x4DBF},
        {0x4E00, 0x9FFF},   {0xA000, 0xA4CF},   {0xAC00, 0xD7A3},   {0xF900, 0xFAFF},
        {0xFE30, 0xFE4F},   {0xFF00, 0xFF60},   {0xFFE0, 0xFFE6},   {0x1F300, 0x1F64F},
        {0x1F900, 0x1F9FF}, {0x20000, 0x2FFFD}, {0x30000, 0x3FFFD},
    };
    if ((cp >= 0x0300 && cp <= 0x036F) || (cp >= 0x20D0 && cp <= 0x20FF)) return 0;
    for (size_t i = 0; i < sizeof wide / sizeof wide[0]; i++)
        if (cp >= wide[i].lo && cp <= wide[i].hi) return 2;
    return 1;
}

size_t cli_escaped_width(const char *str, size_t n, unsigned flags)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t w = 0;
    for (size_t i = 0; i < n;) {
        char e[16];
        size_t used;
        size_t k = escape_one(s + i, n - i, flags, e, &used);
        uint32_t cp = s[i];
        if (k == 0 && s[i] >= 0x80) cli_utf8_seq(s + i, n - i, &cp);
        w += k ? k : cp_width(cp);
        i += used;
    }
    return w;
}

/* ============================================================================================
 * Sizes and time
 * ========================================================================================== */

const char *cli_human_bytes(char *buf, uint64_t n)
{
    static const char *const units[] = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
    if (n < 1024) {
        snprintf(buf, 32, "%llu B", (unsigned long long)n);
        return buf;
    }
    double v = (double)n / 1024;
    int u = 0;
    while (v >= 1024 && u < 5) v /= 1024, u++;
    snprintf(buf, 32, "%.*f %s", v < 10 ? 2 : v < 100 ? 1 : 0, v, units[u]);
    return buf;
}

const char *cli_human_count(char *buf, uint64_t n)
{
    static const char *const units[] = {"K", "M", "B", "T", "P", "E"};
    if (n < 1000) {
        snprintf(buf, 32, "%llu", (unsigned long long)n);
        return buf;
    }
    double v = (double)n / 1000;
    int u = 0;
    while (v >= 1000 && u < 5) v /= 1000, u++;
    snprintf(buf, 32, "%.*f %s", v < 10 ? 2 : v < 100 ? 1 : 0, v, units[u]);
    return buf;
}

double cli_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ============================================================================================
 * Progress bar
 * ========================================================================================== */

void cli_progress_start(cli_progress *p, const char *label, bool enabled)
{
    memset(p, 0, sizeof *p);
    p->enabled = enabled && cli_use_color(stderr);
    p->label   = label;
    p->t0      = cli_now();
}

void cli_progress_update(cli_progress *p, uint64_t done, uint64_t total)
{
    if (!p->enabled) return;
    double t = cli_now();
    if (t - p->t0 < 0.3 || (p->drawn && t - p->last < 0.1 && done < total)) return;
    p->last  = t;
    p->drawn = true;
    enum { WIDTH = 30 };
    double frac = total ? (double)done / (double)total : 1.0;
    if (frac > 1) frac = 1;
    int fill = (int)(frac * WIDTH);
    char bar[WIDTH + 1];
    for (int i = 0; i < WIDTH; i++) bar[i] = i < fill ? '#' : '-';
    bar[WIDTH] = 0;
    char a[32], b[32], r[32];
    double rate = (double)done / (t - p->t0);
    fprintf(stderr, "\r%s [%s] %3d%%  %s / %s  %s/s\033[K", p->label, bar, (int)(frac * 100),
            cli_human_bytes(a, done), cli_human_bytes(b, total),
            cli_human_bytes(r, (uint64_t)rate));
    fflush(stderr);
}

void cli_progress_end(cli_progress *p)
{
    if (p->drawn) fputs("\r\033[K", stderr);
    p->drawn = false;
}

/* ============================================================================================
 * Metadata scalars as text
 * ========================================================================================== */

void cli_print_scalar(FILE *fp, const ferry_meta *m, bool quote)
{
    char b[40];
    size_t n;
    const char *s;
    switch (ferry_meta_kind_of(m)) {
    case FERRY_META_NULL: fputs("null", fp); break;
    case FERRY_META_BOOL: fputs(ferry_meta_bool(m) ? "true" : "false", fp); break;
    case FERRY_META_INT:
        cli_fmt_i64(b, ferry_meta_int(m));
        fputs(b, fp);
        break;
    case FERRY_META_UINT:
        cli_fmt_u64(b, ferry_meta_uint(m));
        fputs(b, fp);
        break;
    case FERRY_META_FLOAT:
        cli_fmt_double(b, ferry_meta_float(m), ferry_meta_numtype(m));
        fputs(b, fp);
        break;
    case FERRY_META_STRING:
        s = ferry_meta_string(m, &n);
        if (quote) fputc('"', fp);
        cli_write_escaped(fp, s ? s : "", s ? n : 0, quote ? CLI_ESC_QUOTE : 0);
        if (quote) fputc('"', fp);
        break;
    case FERRY_META_BYTES:
        s = ferry_meta_string(m, &n);
        fprintf(fp, "<%zu bytes", n);
        if (n) fputs(":", fp);
        for (size_t i = 0; i < n && i < 16; i++) fprintf(fp, " %02x", (unsigned char)s[i]);
        fputs(n > 16 ? " ...>" : ">", fp);
        break;
    case FERRY_META_ARRAY: fprintf(fp, "[%lld items]", (long long)ferry_meta_count(m)); break;
    case FERRY_META_MAP: fprintf(fp, "{%lld keys}", (long long)ferry_meta_count(m)); break;
    }
}
