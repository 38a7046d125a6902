	.file "p_env.S"
# A bare-metal test in the style of the RISC-V ISA tests' "p" environment (written here):
# _start jumps over a trap vector, zeroes every register, checks mhartid, writes machine CSRs,
# drops to the test body with mret, and ends with `li a7, 93; li a0, code; ecall` (code 0 on
# pass, (test number << 1) | 1 on failure). The image is one RWX segment at 0x80000000, as the
# ISA tests link it, so data stores land in an executable segment. With -DHTIF the result goes
# to the `tohost` word instead (Spike's HTIF convention), followed by an idle loop. -DNO_SMC leaves
# out the self-modifying code (variants without it; the prover proves both). -DMA_DATA
# adds misaligned loads and stores of every width (the form of the ISA tests' `ma_data`).
# -DFENCE_I adds the form of the ISA tests' fence_i: halfword stores over code, then fence.i.
#ifndef FAIL_AT
#define FAIL_AT 0
#endif
#define TESTNUM gp

	.section .text.init, "ax"
	.globl _start
_start:
	j reset_vector
	.align 2
trap_vector:
	csrr t5, mcause
	ori TESTNUM, TESTNUM, 1337
1:	j 1b
reset_vector:
	.irp r, 1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
	li x\r, 0
	.endr
	csrr a0, mhartid
1:	bnez a0, 1b
	la t0, 1f
	csrw mtvec, t0
	csrwi satp, 0
	.align 2
1:	li t0, 0x7fffffff
	csrw pmpaddr0, t0
	li t0, 0x1f
	csrw pmpcfg0, t0
	csrwi mie, 0
	csrwi medeleg, 0
	csrwi mideleg, 0
	li TESTNUM, 0
	la t0, trap_vector
	csrw mtvec, t0
	csrwi mstatus, 0
	li a0, 0x1800
	csrs mstatus, a0
	csrr a1, mstatus
	bne a0, a1, fail
	la t0, body
	csrw mepc, t0
	csrr a0, mhartid
	mret

body:
	# 2: add overflow wraps
	li TESTNUM, 2
	li x1, 0x7fffffff
	li x2, 1
	add x14, x1, x2
	li x7, 0x80000000
	bne x14, x7, fail
#ifndef NO_SMC
	# 3: self-modifying code made visible by fence.i (left out with -DNO_SMC)
	li TESTNUM, 3
	la t0, patch_me
	lw t1, new_insn
	sw t1, 0(t0)
	fence.i
	li a0, 0
patch_me:
	nop
	li t2, 42
	bne a0, t2, fail
#endif
#ifdef FENCE_I
	# 7: the ISA tests' fence_i form: an instruction loaded as two signed halfwords from .data
	# and stored over code with `sh` (an auipc-relative address), made visible by fence.i, at
	# the next word (an I-cache hit) and at a 64-byte-aligned word (a prefetcher miss).
	li TESTNUM, 7
	li a3, 111
	lh a0, fence_insn
	lh a1, fence_insn + 2
	.align 6
	sh a0, 1f, t0
	sh a1, 1f + 2, t0
	fence.i
1:	addi a3, a3, 222
	li t2, 444
	bne a3, t2, fail
	.align 6
	sh a0, 2f, t0
	sh a1, 2f + 2, t0
	fence.i
	.align 6
2:	addi a3, a3, 555
	li t2, 777
	bne a3, t2, fail
#endif
	# 4: data in the RWX segment
	li TESTNUM, 4
	la t0, tdat
	lw t1, 0(t0)
	addi t1, t1, 1
	sw t1, 4(t0)
	lw t2, 4(t0)
	li t3, 0xdeadbef0
	bne t2, t3, fail
	# 5: the cycle counter advances
	li TESTNUM, 5
	rdcycle t0
	nop
	rdcycle t1
	bgeu t0, t1, fail
	# 6: M extension corner cases
	li TESTNUM, 6
	li t0, 0x80000000
	li t1, -1
	div t2, t0, t1
	bne t2, t0, fail
	rem t2, t0, t1
	bnez t2, fail
	divu t2, t0, zero
	li t3, -1
	bne t2, t3, fail
#ifdef MA_DATA
	# 8-13: misaligned loads and stores (the ISA tests' ma_data form, written here), on the
	# 16 bytes 00 01 .. 0f of madat
	li TESTNUM, 8
	la t0, madat
	lw t1, 1(t0)
	li t2, 0x04030201
	bne t1, t2, fail
	li TESTNUM, 9
	lh t1, 3(t0)
	li t2, 0x0403
	bne t1, t2, fail
	li TESTNUM, 10
	lhu t1, 7(t0)
	li t2, 0x0807
	bne t1, t2, fail
	li TESTNUM, 11
	li t1, 0xa1b2c3d4
	sw t1, 5(t0)
	lw t2, 5(t0)
	bne t1, t2, fail
	lbu t3, 5(t0)
	li t4, 0xd4
	bne t3, t4, fail
	lbu t3, 8(t0)
	li t4, 0xa1
	bne t3, t4, fail
	lw t2, 4(t0)
	li t4, 0xb2c3d404
	bne t2, t4, fail
	li TESTNUM, 12
	li t1, 0xbeef
	sh t1, 11(t0)
	lh t2, 11(t0)
	li t3, 0xffffbeef
	bne t2, t3, fail
	lhu t2, 11(t0)
	bne t2, t1, fail
	lbu t3, 12(t0)
	li t4, 0xbe
	bne t3, t4, fail
	li TESTNUM, 13
	lw t2, 10(t0)
	li t3, 0x0dbeef0a
	bne t2, t3, fail
#endif
	# the deliberate failure of the failing variant
	li TESTNUM, 7
	li t0, FAIL_AT
	bnez t0, fail
#ifdef HTIF
/* The other convention: report through the HTIF `tohost` word, then idle. */
pass:
	fence
	li TESTNUM, 1
	sw TESTNUM, tohost, t5
1:	j 1b
fail:
	fence
1:	beqz TESTNUM, 1b
	sll TESTNUM, TESTNUM, 1
	or TESTNUM, TESTNUM, 1
	sw TESTNUM, tohost, t5
1:	j 1b
#else
pass:
	fence
	li TESTNUM, 1
	li a7, 93
	li a0, 0
	ecall
fail:
	fence
1:	beqz TESTNUM, 1b
	sll TESTNUM, TESTNUM, 1
	or TESTNUM, TESTNUM, 1
	li a7, 93
	addi a0, TESTNUM, 0
	ecall
#endif
	unimp

	.data
	.align 4
new_insn:
	addi a0, zero, 42
#ifdef FENCE_I
fence_insn:
	addi a3, a3, 333
#endif
tdat:
	.word 0xdeadbeef
	.word 0
#ifdef MA_DATA
	.align 4
madat:
	.byte 0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07
	.byte 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f
#endif
	.section .tohost, "aw", @progbits
	.align 6
	.globl tohost
tohost: .dword 0
