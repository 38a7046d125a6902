#!/bin/sh
# Builds the soundness-test guests with Debian's riscv64-unknown-elf-gcc.
# Usage: tests/data/soundness/build.sh [OUTDIR]
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
OUT=${1:-$HERE}
cd "$HERE"
CC="riscv64-unknown-elf-gcc -march=rv32im -mabi=ilp32 -static -nostdlib -nostartfiles -Wl,--build-id=none"
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
sed 's/DATA_FLAGS/6/' link.ld > "$TMP/rw.ld"
sed 's/DATA_FLAGS/7/' link.ld > "$TMP/rwx.ld"
# Assemble first: a one-step build names a random temporary object in the symbol table.
$CC -c ram_code.S -o "$TMP/ram_code.o"
$CC -T "$TMP/rw.ld" "$TMP/ram_code.o" -o "$OUT/ram_code.elf"
$CC -T "$TMP/rwx.ld" "$TMP/ram_code.o" -o "$OUT/ram_code_rwx.elf" 2>/dev/null
