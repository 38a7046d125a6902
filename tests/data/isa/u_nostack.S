# A user-mode ISA-test-style guest without any stack (layout family d): the registers are test
# registers, there is no data section, and the script's `_end` is page-aligned past the last
# loaded byte, as the official riscv-tests' user-mode builds have it. Exits through Linux's
# exit (93) with 0 when every check passes, else the number of the failing check.
	.text
	.globl _start
_start:
	li	t0, 1
	li	t1, 2
	li	a0, 1
	bge	t0, t1, fail		# check 1: 1 < 2
	li	a0, 2
	add	t2, t0, t1
	li	t3, 3
	bne	t2, t3, fail		# check 2: 1 + 2 = 3
	li	a0, 3
	li	t4, -7
	srai	t4, t4, 1
	li	t3, -4
	bne	t4, t3, fail		# check 3: -7 >> 1 = -4 (arithmetic)
	li	a0, 0
fail:
	li	a7, 93
	ecall
