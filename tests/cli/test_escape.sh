#!/bin/sh
# test_escape.sh -- hostile names and strings never reach a terminal raw. Text output escapes
# C0 controls and DEL (\n \t \r \xHH), invalid UTF-8 (\xHH), C1 controls and bidirectional
# or invisible formatting characters (\u{XXXX}), and doubles backslashes; valid UTF-8 passes.
. "$(dirname "$0")/lib.sh"
F=$FERRY

# True when the file holds no byte that could drive a terminal: C0 controls other than the
# newline, DEL, C1 controls (raw or UTF-8 encoded), bidi overrides.
clean() { "$PY" -c 'import sys
b = open(sys.argv[1], "rb").read()
bad = [c for c in b if (c < 0x20 and c != 0x0a) or c == 0x7f]
t = b.decode("utf-8", "replace")
bad += [ch for ch in t if 0x80 <= ord(ch) <= 0x9f or 0x202a <= ord(ch) <= 0x202e or 0x2066 <= ord(ch) <= 0x2069 or ch == "\ufffd"]
sys.exit(1 if bad else 0)' "$1"; }
expect_clean() { "$@" >"$T_TMP/out" 2>"$T_TMP/err"
    if clean "$T_TMP/out" && clean "$T_TMP/err"; then t_ok; else t_fail "$* printed raw control bytes"; fi; }

# Usage errors echo the user's own argument back: escaped too.
expect_clean "$F" "$(printf 'bad\033[2Jcmd')"
expect_err 'unknown command .bad\\x1b\[2Jcmd' "$F" "$(printf 'bad\033[2Jcmd')"
expect_clean "$F" ls "$(printf -- '--x\033]0;title\007')" f
expect_clean "$F" info "$(printf '/nonexistent/\033[31mred')"
expect_err '^ferry: /nonexistent/(\\x1b|\?)\[31mred' "$F" info "$(printf '/nonexistent/\033[31mred')"

if need_format safetensors; then
    pyhelp "$T_TMP" <<'PY'
import sys, numpy as np
from ferrytest import *
d = sys.argv[1]
names = ["esc\x1b[31mred", "nl\nname", "tab\tname", "bs\\name", "rtl\u202eevil", "c1\u0085x",
         "del\x7fx", "ok_\u00e9\u4e16"]
write_safetensors(d + "/evil.safetensors",
                  [(n, np.full(2, i, np.float32)) for i, n in enumerate(names)],
                  metadata={"k\x1b[0m": "v\x07\x1b]0;pwned\x07", "multi": "a\nb\rc"})
PY
    e="$T_TMP/evil.safetensors"
    expect_clean "$F" ls "$e"
    expect_clean "$F" info "$e"
    expect_clean "$F" meta "$e"
    expect_clean "$F" validate "$e"
    expect_clean "$F" meta "$e" multi
    expect_out '^esc\\x1b\[31mred +F32' "$F" ls "$e"
    expect_out '^nl\\nname +F32' "$F" ls "$e"
    expect_out '^tab\\tname +F32' "$F" ls "$e"
    expect_out '^bs\\\\name +F32' "$F" ls "$e"
    expect_out '^rtl\\u\{202e\}evil +F32' "$F" ls "$e"
    expect_out '^c1\\u\{0085\}x +F32' "$F" ls "$e"
    expect_out '^del\\x7fx +F32' "$F" ls "$e"
    expect_out '^ok_é世 +F32' "$F" ls "$e"
    # Columns stay aligned: every line has its dtype at the same column.
    "$F" ls "$e" | "$PY" -c 'import sys, unicodedata
for line in sys.stdin.read().splitlines():
    head = line[:line.index("F32")]
    print(sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in head))' | sort -u >"$T_TMP/cols"
    [ "$(wc -l <"$T_TMP/cols")" -eq 1 ] && t_ok || t_fail "ls columns not aligned: $(cat "$T_TMP/cols")"
    expect_out '^k\\x1b\[0m = "v\\x07\\x1b\]0;pwned\\x07"$' "$F" meta "$e"
    expect_out '^multi = "a\\nb\\rc"$' "$F" meta "$e"
    expect_out '^a\\nb\\rc$' "$F" meta "$e" multi
    # The tensor name given on the command line is matched as bytes, and echoed escaped.
    expect_ok "$F" cat "$e" "$(printf 'esc\033[31mred')" -o "$T_TMP/t.bin"
    expect_clean "$F" cat "$e" "$(printf 'no\033[31mpe')" -o "$T_TMP/t.bin"
    expect_err 'no tensor named "no\\x1b\[31mpe"' "$F" cat "$e" "$(printf 'no\033[31mpe')" -o "$T_TMP/t.bin"
    # JSON keeps the exact characters (escaped the JSON way).
    expect_json '[t["name"] for t in j["tensors"]] == ["esc\x1b[31mred", "nl\nname", "tab\tname", "bs\\name", "rtl\u202eevil", "c1\u0085x", "del\x7fx", "ok_\u00e9\u4e16"]' "$F" ls --json "$e"
fi

if need_format gguf; then
    pyhelp "$T_TMP" <<'PY'
import sys, numpy as np
from ferrytest import *
d = sys.argv[1]
write_gguf(d + "/evil.gguf",
           kvs=[("general.name", 8, b"bad\xff\xfeutf8\xc3"), (b"key\xe2\x80\xaebidi", 8, "v"),
                ("general.architecture", 8, "\x1b[2J")],
           tensors=[(b"t\xff\x00", 0, [1], b"\0\0\0\0"), (b"\xc2\x9bcsi", 0, [1], b"\0\0\0\0")])
PY
    g="$T_TMP/evil.gguf"
    expect_clean "$F" ls "$g"
    expect_clean "$F" info "$g"
    expect_clean "$F" meta "$g"
    expect_out '^general.name = "bad\\xff\\xfeutf8\\xc3"$' "$F" meta "$g"
    expect_out '^key\\u\{202e\}bidi = "v"$' "$F" meta "$g"
    expect_out '^\\u\{009b\}csi +F32' "$F" ls "$g"
    expect_out '^general.architecture: +"\\x1b\[2J"$' "$F" info "$g"
    expect_json 'j["metadata"]["general.name"] == "bad\ufffd\ufffdutf8\ufffd"' "$F" meta --json "$g"
fi
t_done escape
