#!/bin/sh
# test_tty.sh -- terminal behaviour, simulated with util-linux `script` (a pseudo-terminal):
# binary data is refused on a terminal (exit 4 with a hint), colour appears only on a
# terminal and never with NO_COLOR, and no escape sequence or progress bar is ever written
# to a pipe or file.
. "$(dirname "$0")/lib.sh"
F=$FERRY

# True when the file holds an ESC byte or a carriage return (a progress bar redraw).
has_esc() { "$PY" -c 'import sys; b = open(sys.argv[1], "rb").read(); sys.exit(0 if b"\x1b" in b or b"\r" in b else 1)' "$1"; }
# in_tty OUT CMD...: run CMD with stdin/stdout/stderr on a pseudo-terminal; its output (both
# streams) goes to OUT; returns CMD's exit status.
in_tty() { o=$1; shift; TERM=xterm script -qec "$*" /dev/null </dev/null >"$o" 2>&1; }

if ! command -v script >/dev/null 2>&1 || ! script -qec true /dev/null </dev/null >/dev/null 2>&1; then
    t_skip "util-linux script (pseudo-terminal) not available: terminal tests skipped"
    t_done tty; exit $?
fi

in_tty "$T_TMP/o" "'$F' cat some.file some.tensor"; rc=$?
[ $rc -eq 4 ] && t_ok || t_fail "cat to a terminal -> exit $rc, want 4"
grep -q 'refusing to write binary data to a terminal' "$T_TMP/o" && t_ok || t_fail "no refusal message: $(cat "$T_TMP/o")"
grep -q 'hint: use -o FILE' "$T_TMP/o" && t_ok || t_fail "no hint: $(cat "$T_TMP/o")"
# Help and version on a terminal: plain text, exit 0.
in_tty "$T_TMP/o" "'$F' --version" && t_ok || t_fail "--version on a terminal"
# (the terminal itself turns \n into \r\n: look for ESC only)
"$PY" -c 'import sys; sys.exit(1 if b"\x1b" in open(sys.argv[1], "rb").read() else 0)' "$T_TMP/o" && t_ok ||
    t_fail "--version wrote escape sequences"

if need_format gguf; then
    pyhelp "$T_TMP" <<'PY'
import sys, numpy as np
from ferrytest import *
write_gguf(sys.argv[1] + "/ok.gguf", kvs=[("general.architecture", 8, "x")],
           tensors=[("a", 0, [4], np.ones(4, np.float32).tobytes())])
open(sys.argv[1] + "/bad.gguf", "wb").write(open(sys.argv[1] + "/ok.gguf", "rb").read()[:40])
PY
    g="$T_TMP/ok.gguf"
    # cat to a terminal is refused even for a real tensor; with -o or a redirect it works.
    in_tty "$T_TMP/o" "'$F' cat '$g' a"; rc=$?
    [ $rc -eq 4 ] && t_ok || t_fail "cat of a real tensor to a terminal -> exit $rc, want 4"
    in_tty "$T_TMP/o" "'$F' cat '$g' a -o '$T_TMP/a.bin'" && t_ok || t_fail "cat -o on a terminal failed"
    [ "$(wc -c <"$T_TMP/a.bin")" -eq 16 ] && t_ok || t_fail "cat -o on a terminal wrote the wrong bytes"
    in_tty "$T_TMP/o" "'$F' cat '$g' a > '$T_TMP/b.bin'" && t_ok || t_fail "cat redirected from a terminal failed"
    # Colour: on a terminal OK/INVALID are coloured; NO_COLOR (any non-empty value) or a
    # pipe turns it off.
    in_tty "$T_TMP/o" "'$F' validate '$g' '$T_TMP/bad.gguf'"
    grep -q "$(printf '\033')\\[32mOK" "$T_TMP/o" && t_ok || t_fail "no colour on a terminal: $(od -c "$T_TMP/o" | head -3)"
    grep -q "$(printf '\033')\\[31mINVALID" "$T_TMP/o" && t_ok || t_fail "INVALID not coloured on a terminal"
    in_tty "$T_TMP/o" "NO_COLOR=1 '$F' validate '$g' '$T_TMP/bad.gguf'"
    "$PY" -c 'import sys; sys.exit(1 if b"\x1b" in open(sys.argv[1], "rb").read() else 0)' "$T_TMP/o" && t_ok ||
        t_fail "NO_COLOR=1 still coloured"
    in_tty "$T_TMP/o" "TERM=dumb '$F' validate '$g'"
    "$PY" -c 'import sys; sys.exit(1 if b"\x1b" in open(sys.argv[1], "rb").read() else 0)' "$T_TMP/o" && t_ok ||
        t_fail "TERM=dumb still coloured"
    "$F" validate "$g" "$T_TMP/bad.gguf" >"$T_TMP/o" 2>&1
    has_esc "$T_TMP/o" && t_fail "colour or \\r written to a pipe" || t_ok
    "$F" ls "$g" >"$T_TMP/o" 2>&1; "$F" info "$g" >>"$T_TMP/o" 2>&1; "$F" meta "$g" >>"$T_TMP/o" 2>&1
    has_esc "$T_TMP/o" && t_fail "escape sequences in redirected text output" || t_ok
    if have_format safetensors write; then
        # No progress bar (no \r, no escape) when stderr is not a terminal, even for a
        # conversion long enough to draw one.
        pyhelp "$T_TMP" <<'PY'
import sys, numpy as np
from ferrytest import *
write_safetensors(sys.argv[1] + "/big.safetensors", [("w", np.ones((2048, 4096), np.float32))])
PY
        "$F" convert "$T_TMP/big.safetensors" "$T_TMP/big.gguf" --dtype F16 >"$T_TMP/o" 2>"$T_TMP/e"
        has_esc "$T_TMP/e" && t_fail "progress bar drawn on a non-terminal stderr" || t_ok
        grep -q '^ferry: wrote ' "$T_TMP/e" && t_ok || t_fail "no summary line: $(cat "$T_TMP/e")"
        # On a terminal the bar appears once the work takes longer than 0.3 s.
        start=$(date +%s%N)
        in_tty "$T_TMP/o" "'$F' convert '$T_TMP/big.safetensors' '$T_TMP/big2.gguf' --dtype F16"
        ms=$(( ($(date +%s%N) - start) / 1000000 ))
        if grep -q 'converting \[' "$T_TMP/o"; then t_ok
        elif [ "$ms" -lt 600 ]; then t_skip "conversion too fast (${ms} ms) to show a progress bar"
        else t_fail "no progress bar on a terminal after ${ms} ms"; fi
        in_tty "$T_TMP/o" "NO_COLOR=1 '$F' convert '$T_TMP/big.safetensors' '$T_TMP/big3.gguf' --dtype F16"
        grep -q 'converting \[' "$T_TMP/o" && t_fail "progress bar drawn with NO_COLOR" || t_ok
        in_tty "$T_TMP/o" "'$F' convert -q '$T_TMP/big.safetensors' '$T_TMP/big4.gguf' --dtype F16"
        [ ! -s "$T_TMP/o" ] && t_ok || t_fail "--quiet printed on a terminal: $(head -c 200 "$T_TMP/o")"
    fi
fi
t_done tty
