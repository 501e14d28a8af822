#!/bin/sh
# demo.sh -- ferry's main job on the bundled sample: inspect it, validate it, convert it
# safetensors -> GGUF -> NumPy (.npz) -> safetensors, and check that the tensor data came
# back byte for byte. Run by `make demo` (after building).
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
ferry="$root/build/bin/ferry"
sample="$root/samples/tiny-llama.safetensors"
out=$(mktemp -d "${TMPDIR:-/tmp}/ferry-demo-XXXXXX")
trap 'rm -rf "$out"' EXIT
step() { printf '\n\033[1m$ %s\033[0m\n' "$*" | sed "s|$root/||g; s|$out/||g"; "$@"; }
[ -t 1 ] || step() { printf '\n$ %s\n' "$*" | sed "s|$root/||g; s|$out/||g"; "$@"; }

step "$ferry" info "$sample"
step "$ferry" ls "$sample"
step "$ferry" validate "$sample"
step "$ferry" convert "$sample" "$out/tiny-llama.gguf"
step "$ferry" info "$out/tiny-llama.gguf"
step "$ferry" convert "$out/tiny-llama.gguf" "$out/tiny-llama.npz"
step "$ferry" ls "$out/tiny-llama.npz"
step "$ferry" convert "$out/tiny-llama.npz" "$out/roundtrip.safetensors"
echo
echo "Checking that every tensor survived safetensors -> GGUF -> NumPy -> safetensors:"
n=0
for t in $("$ferry" ls "$sample" | awk '{print $1}'); do
    "$ferry" cat "$sample" "$t" -o "$out/a.bin"
    "$ferry" cat "$out/roundtrip.safetensors" "$t" -o "$out/b.bin"
    cmp -s "$out/a.bin" "$out/b.bin" || { echo "  MISMATCH in $t"; exit 1; }
    n=$((n + 1))
done
echo "  $n tensors identical byte for byte."
