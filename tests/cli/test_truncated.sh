#!/bin/sh
# test_truncated.sh -- every prefix-truncation of the sample in each writable format is refused
# with exit 2 and a one-line message naming the file (never a crash, never "success").
. "$(dirname "$0")/lib.sh"
sample="$ROOT/samples/tiny-llama.safetensors"
for ext in safetensors gguf npz; do
    full="$T_TMP/full.$ext"
    if [ "$ext" = safetensors ]; then cp "$sample" "$full"; else "$FERRY" convert --quiet "$sample" "$full"; fi
    size=$(stat -c %s "$full")
    for cut in 1 7 8 9 64 500 2000 $((size / 2)) $((size - 1)); do
        head -c "$cut" "$full" > "$T_TMP/cut.$ext"
        "$FERRY" ls "$T_TMP/cut.$ext" >/dev/null 2>"$T_TMP/err"; rc=$?
        lines=$(wc -l < "$T_TMP/err")
        if [ "$rc" -eq 2 ] && [ "$lines" -eq 1 ] && grep -q "cut.$ext" "$T_TMP/err"; then t_ok
        else t_fail "$ext cut at $cut: exit $rc, $lines lines: $(cat "$T_TMP/err")"; fi
    done
done
t_done truncated
