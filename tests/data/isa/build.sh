#!/bin/sh
# Builds the ISA-test-environment guests (see p_env.S) with Debian's riscv64-unknown-elf-gcc.
# Usage: tests/data/isa/build.sh [OUTDIR]
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
OUT=${1:-$HERE}
cd "$HERE"
CC="riscv64-unknown-elf-gcc -march=rv32im_zicsr_zifencei -mabi=ilp32 -static -nostdlib -nostartfiles -Wl,--build-id=none -T link.ld"
$CC p_env.S -o "$OUT/p_env_pass.elf"
$CC -DFAIL_AT=1 p_env.S -o "$OUT/p_env_fail.elf"
$CC -DHTIF p_env.S -o "$OUT/p_env_htif_pass.elf"
$CC -DHTIF -DFAIL_AT=1 p_env.S -o "$OUT/p_env_htif_fail.elf"
$CC -DHTIF -DNO_SMC p_env.S -o "$OUT/p_env_htif_nosmc_pass.elf"
$CC -DHTIF -DNO_SMC -DFAIL_AT=1 p_env.S -o "$OUT/p_env_htif_nosmc_fail.elf"
$CC -DNO_SMC p_env.S -o "$OUT/p_env_nosmc_pass.elf"
$CC -DNO_SMC -DFAIL_AT=1 p_env.S -o "$OUT/p_env_nosmc_fail.elf"
# Misaligned loads and stores of every width (the form of the ISA tests' ma_data), HTIF exit.
$CC -DHTIF -DNO_SMC -DMA_DATA p_env.S -o "$OUT/p_env_ma_data_pass.elf"
$CC -DHTIF -DNO_SMC -DMA_DATA -DFAIL_AT=1 p_env.S -o "$OUT/p_env_ma_data_fail.elf"
# The fence_i form: an instruction stored over code as two halfwords, HTIF exit.
$CC -DHTIF -DFENCE_I p_env.S -o "$OUT/p_env_fence_i_pass.elf"
$CC -DHTIF -DFENCE_I -DFAIL_AT=1 p_env.S -o "$OUT/p_env_fence_i_fail.elf"
# A user-mode test without a stack or data, `_end` page-aligned past the image (family d).
riscv64-unknown-elf-gcc -march=rv32im -mabi=ilp32 -static -nostdlib -nostartfiles -Wl,--build-id=none -T u_link.ld u_nostack.S -o "$OUT/u_nostack.elf"
