# ferry -- convenience front end over CMake.
#   make                 build into build/ (build/bin/ferry, build/lib/libferry.{so,a})
#   make demo            build, then run ferry on the bundled sample (scripts/demo.sh)
#   make test            build, then run every test: unit, CLI, interop, fuzz seeds, and the
#                        whole suite again under AddressSanitizer + UBSan (build-asan/)
#   make install PREFIX=/usr/local DESTDIR=
#   make fuzz            libFuzzer binaries with clang (build-fuzz/)
#   make bench           benchmarks (bench/), not part of the tests
PREFIX ?= /usr/local
DESTDIR ?=
JOBS ?= $(shell nproc 2>/dev/null || echo 2)

.PHONY: all deps build demo test test-fast asan install fuzz bench clean

all: build

deps:
	@sh scripts/deps.sh

build: deps
	@cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX=$(PREFIX) >/dev/null
	@cmake --build build -j $(JOBS) >/dev/null || cmake --build build -j 1

demo: build
	@sh scripts/demo.sh

asan: deps
	@cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DFERRY_SANITIZE=ON >/dev/null
	@cmake --build build-asan -j $(JOBS) >/dev/null || cmake --build build-asan -j 1

test: build asan
	@sh tests/run.sh build build-asan

test-fast: build
	@sh tests/run.sh build

install: deps
	@cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX=$(PREFIX) >/dev/null
	@cmake --build build -j $(JOBS) >/dev/null
	@DESTDIR=$(DESTDIR) cmake --install build >/dev/null
	@echo "installed ferry into $(DESTDIR)$(PREFIX)"

fuzz: deps
	@cmake -S . -B build-fuzz -DCMAKE_C_COMPILER=clang -DFERRY_LIBFUZZER=ON \
	    -DFERRY_SANITIZE=ON -DFERRY_BUILD_TESTS=OFF >/dev/null
	@cmake --build build-fuzz -j $(JOBS)

bench: build
	@sh bench/run.sh

clean:
	rm -rf build build-asan build-fuzz
