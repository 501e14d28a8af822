#!/bin/sh
# test_install.sh -- `make install`-style installation into a staging prefix, then use of the
# installed library through pkg-config and through CMake's find_package(ferry), and the
# installed CLI and man page.
. "$(dirname "$0")/lib.sh"
build=$(cd "$(dirname "$FERRY")/.." && pwd)
case "$build" in *asan*) echo "skipped: install test runs on the release build only"; t_done install; exit $?;; esac
stage="$T_TMP/stage"
expect_ok cmake --install "$build" --prefix "$stage"
expect_ok test -x "$stage/bin/ferry"
expect_ok test -f "$stage/include/ferry.h"
expect_ok test -f "$stage/share/man/man1/ferry.1"
libdir=$(ls -d "$stage"/lib* | head -n 1)
for d in "$stage"/lib/*/pkgconfig "$stage"/lib/pkgconfig; do [ -d "$d" ] && pc="$d"; done
expect_ok test -f "${pc:-none}/ferry.pc"
cat > "$T_TMP/use.c" <<'C'
#include <ferry.h>
#include <stdio.h>
#include <string.h>
int main(void) {
    ferry_ctx *ctx = ferry_ctx_new(NULL);
    int ok = ctx && strcmp(ferry_version(), FERRY_VERSION_STRING) == 0 && ferry_format_count() > 0;
    ferry_ctx_free(ctx);
    puts(ok ? "ok" : "bad");
    return !ok;
}
C
# pkg-config resolves the prefix from the .pc's own prefix= line, so point it at the stage.
flags=$(PKG_CONFIG_PATH="$pc" pkg-config --define-variable=prefix="$stage" --cflags --libs --static ferry 2>/dev/null)
expect_ok cc -o "$T_TMP/use" "$T_TMP/use.c" $flags
expect_out '^ok$' env LD_LIBRARY_PATH="$(dirname "$(find "$stage" -name 'libferry.so*' | head -n 1)")" "$T_TMP/use"
mkdir -p "$T_TMP/cm"
cat > "$T_TMP/cm/CMakeLists.txt" <<'C'
cmake_minimum_required(VERSION 3.16)
project(use C)
find_package(ferry REQUIRED)
add_executable(use ../use.c)
target_link_libraries(use ferry::ferry)
C
expect_ok cmake -S "$T_TMP/cm" -B "$T_TMP/cm/b" -DCMAKE_PREFIX_PATH="$stage"
expect_ok cmake --build "$T_TMP/cm/b"
expect_out '^ok$' "$T_TMP/cm/b/use"
expect_out 'ferry' "$stage/bin/ferry" --version
t_done install
