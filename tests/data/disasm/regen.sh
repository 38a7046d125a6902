#!/bin/sh
# Regenerate the objdump listings of the disassembler test corpus:
#   for each NAME.S here: NAME.objdump = `riscv64-unknown-elf-objdump -d` of NAME.S assembled for
#   rv32im + Zifencei + Zihintpause (the arch tests/disasm.rs models), with the mapping symbols
#   ($x/$d) stripped so that words written with `.word` disassemble as instructions, linked at
#   0x1000. The listing header names the ELF without a directory (NAME.elf).
# Usage: regen.sh [OUTDIR]   (default: this directory). Needs the riscv64-unknown-elf binutils.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-$here}
mkdir -p "$out"
out=$(cd "$out" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
march=rv32im_zifencei_zihintpause
for src in "$here"/*.S; do
	name=$(basename "$src" .S)
	riscv64-unknown-elf-as -march=$march -mabi=ilp32 -o "$tmp/$name.o" "$src"
	riscv64-unknown-elf-objcopy --wildcard --strip-symbol='$*' "$tmp/$name.o"
	riscv64-unknown-elf-ld -m elf32lriscv -Ttext=0x1000 -e _start -o "$tmp/$name.elf" "$tmp/$name.o"
	(cd "$tmp" && riscv64-unknown-elf-objdump -d "$name.elf") > "$out/$name.objdump"
done
