#!/bin/sh
# test_help.sh -- help, version and the man page agree with the command tables.
#   - `ferry --help`, `-h`, `help`, `--version`, `-V` print to stdout and exit 0;
#   - every command's --help (and -h, and `ferry help CMD`) exits 0 with stdout only;
#   - every option a command's --help shows is documented in man/ferry.1, and every command
#     has its own section there: the option tables in cli/cmd_*.c generate --help, so this is
#     what keeps the man page from drifting.
. "$(dirname "$0")/lib.sh"
man="$ROOT/man/ferry.1"
# roff writes '-' as '\-' and switches fonts with \fB, \fI, \fR, \fP; compare plain text.
sed -e 's/\\-/-/g' -e 's/\\f[BIRP]//g' "$man" >"$T_TMP/man.txt"

expect_out '^Usage: ferry <command>' "$FERRY" --help
expect_out '^Usage: ferry <command>' "$FERRY" -h
expect_out '^Usage: ferry <command>' "$FERRY" help
expect_out '^ferry [0-9]+\.[0-9]+\.[0-9]+ \(libferry [0-9]+\.[0-9]+\.[0-9]+\)$' "$FERRY" --version
expect_out '^ferry [0-9]+\.[0-9]+\.[0-9]+ \(libferry' "$FERRY" -V
ver=$(sed -n 's/^#define FERRY_VERSION_STRING "\(.*\)"/\1/p' "$ROOT/include/ferry.h")
expect_out "^ferry $ver \\(libferry $ver\\)\$" "$FERRY" --version

cmds=$("$FERRY" --help | sed -n '/^Commands:/,/^$/p' | awk 'NF && !/^Commands:/ {print $1}')
[ -n "$cmds" ] && t_ok || t_fail "ferry --help lists no commands"
for c in info ls meta cat convert validate formats; do
    echo "$cmds" | grep -qx "$c" && t_ok || t_fail "ferry --help does not list $c"
done
for c in $cmds; do
    "$FERRY" "$c" --help >"$T_TMP/h" 2>"$T_TMP/e"; rc=$?
    if [ $rc -eq 0 ] && [ -s "$T_TMP/h" ] && [ ! -s "$T_TMP/e" ]; then t_ok
    else t_fail "ferry $c --help -> exit $rc, stderr: $(head -c 200 "$T_TMP/e")"; fi
    expect_out "^Usage: ferry $c " "$FERRY" "$c" -h
    expect_out "^Usage: ferry $c " "$FERRY" help "$c"
    # --help wins even next to a mistake.
    expect_out "^Usage: ferry $c " "$FERRY" "$c" --no-such-option --help
    grep -q "^\.SS \"ferry $c" "$man" && t_ok || t_fail "man page has no section for '$c'"
    # Options: "-x, --long ARG" or "--long ARG" at the start of a help line.
    # Only the option column (up to the first run of two spaces), not the help text.
    opts=$(grep -E '^ +(-[a-zA-Z], )?--[a-z]' "$T_TMP/h" | sed -e 's/^ *//' -e 's/  .*//' |
           grep -oE -- '--?[a-zA-Z][a-zA-Z0-9-]*' | sort -u)
    [ -n "$opts" ] && t_ok || t_fail "ferry $c --help shows no options"
    for o in $opts; do
        # Word-bounded, so that "--to" is not found inside "--total".
        if grep -qE -- "(^|[^a-zA-Z0-9-])$o([^a-zA-Z0-9-]|\$)" "$T_TMP/man.txt"; then t_ok
        else t_fail "option $o of 'ferry $c' is not in man/ferry.1"; fi
    done
done
for o in --help -h --version -V NO_COLOR; do
    grep -qE -- "(^|[^a-zA-Z0-9-])$o([^a-zA-Z0-9-]|\$)" "$T_TMP/man.txt" && t_ok || t_fail "man page lacks $o"
done
for code in 0 1 2 4; do
    grep -q "^\.B $code\$" "$man" && t_ok || t_fail "man page EXIT STATUS lacks $code"
done
if command -v groff >/dev/null 2>&1; then
    groff -man -Tutf8 -ww "$man" >/dev/null 2>"$T_TMP/groff"
    [ ! -s "$T_TMP/groff" ] && t_ok || t_fail "groff warns: $(head -c 300 "$T_TMP/groff")"
else
    t_skip "groff not installed: man page not rendered"
fi
t_done help
