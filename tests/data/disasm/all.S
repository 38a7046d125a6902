/* Disassembler corpus: every RV32IM instruction and every objdump alias, with register and
 * immediate edge values, the fence variants, the Nexus custom instructions, and words objdump
 * does not name. regen.sh assembles it (rv32im_zifencei_zihintpause, linked at 0x1000) into
 * all.objdump; tests/disasm.rs checks disasm_word against every line. Words are written with
 * mnemonics where the assembler has one, `.insn` for the custom opcodes and `.word`/`.2byte`
 * otherwise (regen.sh strips the mapping symbols, so those disassemble as code too). */
	.option norelax
	.option norvc
	.text
	.globl	_start
_start:
back:
/* ---- U-type */
	lui	a0, 0
	lui	a0, 0xfffff
	lui	a0, 0x80000
	lui	a0, 0x7ffff
	lui	zero, 1
	lui	t6, 0x12345
	auipc	a0, 0
	auipc	sp, 0xfffff
	auipc	zero, 0x80000
	auipc	ra, 1

/* ---- OP-IMM, with the aliases objdump prints */
	nop
	addi	zero, zero, 0
	addi	zero, zero, 1		/* li zero,1 */
	addi	zero, a0, 0		/* mv zero,a0 */
	addi	zero, a0, 5		/* add zero,a0,5 */
	addi	a0, zero, 0		/* li a0,0 */
	li	a0, 2047
	li	a0, -2048
	li	a0, -1
	li	t6, 1
	mv	a0, a1
	mv	sp, s0
	addi	a0, a1, 1
	addi	a0, a1, -1
	addi	sp, sp, -16
	addi	sp, sp, 2047
	addi	sp, sp, -2048
	addi	s11, t6, 0x7ff
	addi	s11, t6, -0x800
	slti	a0, a1, 0
	slti	a0, a1, -1
	slti	a0, a1, 2047
	slti	a0, zero, -2048
	slti	zero, zero, 0
	sltiu	a0, a1, 0
	sltiu	a0, a1, 1		/* seqz */
	sltiu	a0, zero, 1
	sltiu	a0, a1, -1
	sltiu	a0, a1, 2
	sltiu	zero, a1, 1
	xori	a0, a1, -1		/* not */
	xori	a0, zero, -1
	xori	a0, a1, 0
	xori	a0, a1, 1
	xori	a0, a1, -2048
	xori	a0, a1, 2047
	ori	a0, a1, 0
	ori	a0, zero, 1
	ori	a0, a1, -1
	ori	a0, a1, 2047
	andi	a0, a1, 255		/* zext.b */
	andi	zero, zero, 255
	andi	a0, a1, 254
	andi	a0, a1, 256
	andi	a0, a1, -16
	andi	a0, a1, 0
	andi	a0, a1, -2048
	slli	a0, a1, 0
	slli	a0, a1, 1
	slli	a0, a1, 31
	slli	zero, zero, 0
	srli	a0, a1, 0
	srli	a0, a1, 16
	srli	a0, a1, 31
	srai	a0, a1, 0
	srai	a0, a1, 31
	srai	t6, t6, 7

/* ---- li needing lui+addi, and the 0x7ff/0x800 sign boundaries */
	li	a0, 0x800
	li	a0, 0x7ff
	li	a0, 0xfff
	li	a0, 0x1000
	li	a0, 0x12345
	li	a0, 0x12345800
	li	a0, 0x123457ff
	li	a0, 0x7fffffff
	li	a0, 0x80000000
	li	a0, 0x80000800
	li	a0, 0xfffff7ff
	li	a0, 0xfffff800
	li	a0, -4096
	li	a0, -2049
	lui	a1, %hi(0x12345678)
	addi	a1, a1, %lo(0x12345678)

/* ---- OP, with neg/snez/sltz/sgtz */
	add	a0, a1, a2
	add	zero, zero, zero
	add	zero, a0, a1
	add	a0, zero, a1
	add	a0, a1, zero
	sub	a0, a1, a2
	sub	a0, zero, a1		/* neg */
	neg	t6, t6
	sub	a0, zero, zero
	sub	a0, a1, zero
	sll	a0, a1, a2
	slt	a0, a1, a2
	slt	a0, a1, zero		/* sltz */
	slt	a0, zero, a1		/* sgtz */
	slt	a0, zero, zero
	sgtz	s1, s2
	sltz	s1, s2
	sltu	a0, a1, a2
	sltu	a0, zero, a1		/* snez */
	sltu	a0, a1, zero
	sltu	a0, zero, zero
	snez	s1, s2
	xor	a0, a1, a2
	srl	a0, a1, a2
	sra	a0, a1, a2
	or	a0, a1, a2
	and	a0, a1, a2
	not	a0, a0
	seqz	a0, a0

/* ---- M */
	mul	a0, a1, a2
	mulh	a0, a1, a2
	mulhsu	a0, a1, a2
	mulhu	a0, a1, a2
	div	a0, a1, a2
	divu	a0, a1, a2
	rem	a0, a1, a2
	remu	a0, a1, a2
	mul	zero, zero, zero
	div	t6, t5, t4
	remu	s0, ra, sp

/* ---- loads and stores */
	lb	a0, 0(a1)
	lh	a0, -1(a1)
	lw	a0, -4(sp)
	lbu	a0, 2047(a1)
	lhu	a0, -2048(a1)
	lw	zero, 0(zero)
	lw	ra, 12(sp)
	lw	t6, 0x7ff(t6)
	lbu	s0, -0x800(s0)
	sb	a0, 0(a1)
	sh	a0, -1(a1)
	sw	a0, -4(sp)
	sw	zero, 2047(zero)
	sw	ra, -2048(sp)
	sb	t6, 31(t5)
	sh	s11, 32(s10)
	sw	a0, 0x7e0(a1)

/* ---- branches: forward/backward, aliases, extreme offsets */
	beq	a0, a1, fwd
	bne	a0, a1, fwd
	blt	a0, a1, fwd
	bge	a0, a1, fwd
	bltu	a0, a1, fwd
	bgeu	a0, a1, fwd
	beq	a0, a1, back
	bne	a0, a1, back
	blt	a0, a1, back
	bge	a0, a1, back
	bltu	a0, a1, back
	bgeu	a0, a1, back
	beqz	a0, fwd
	bnez	a0, back
	blez	a0, fwd
	bgez	a0, back
	bltz	a0, fwd
	bgtz	a0, back
	bgt	a0, a1, fwd		/* blt a1,a0 */
	ble	a0, a1, fwd		/* bge a1,a0 */
	bgtu	a0, a1, back		/* bltu a1,a0 */
	bleu	a0, a1, back		/* bgeu a1,a0 */
	beq	zero, a0, fwd		/* no alias: rs1 = zero */
	bne	zero, a0, fwd
	beq	zero, zero, fwd		/* beqz zero */
	blt	zero, zero, fwd		/* bltz zero */
	bge	zero, zero, fwd		/* blez zero */
	bltu	a0, zero, fwd
	bltu	zero, a0, fwd
	bgeu	zero, a0, fwd
	bgeu	a0, zero, fwd
	beq	a0, a1, .
	bne	a0, a1, .+4
	blt	a0, a1, .-4
	bge	a0, a1, .+4094
	bltu	a0, a1, .-4096
	bgeu	t6, t5, .+2048
	beq	t6, t5, .-2048
fwd:

/* ---- jumps */
	j	back
	j	fwd2
	j	.
	jal	back			/* rd = ra */
	jal	ra, fwd2
	jal	a0, back
	jal	zero, .+4
	jal	t6, .-4
	j	.+0xffffe
	j	.-0x100000
	jal	.+2048
	jal	s0, .-2048
	ret
	jr	a0
	jr	zero
	jr	4(a1)
	jr	-2048(t6)
	jalr	a0			/* jalr ra,0(a0) */
	jalr	ra, 4(a1)
	jalr	ra, -4(a1)
	jalr	a0, 0(a1)
	jalr	a0, 4(a1)
	jalr	zero, 0(ra)		/* ret */
	jalr	zero, 4(ra)
	jalr	ra, 0(ra)
	jalr	ra, 2047(zero)
	jalr	t6, -2048(t6)
	call	fwd2			/* auipc ra + jalr ra (objdump adds a comment) */
	tail	back			/* auipc t1 + jr t1 */
	la	a0, fwd2		/* auipc + addi: `# <address>` comment */
	lla	gp, back
fwd2:

/* ---- fence, fence.tso, pause, fence.i; every pred,succ pair */
	fence
	fence	iorw, iorw
	fence	rw, rw
	fence	r, r
	fence	w, w
	fence	r, rw
	fence	rw, w
	fence	io, iorw
	fence	i, o
	fence.tso
	pause
	fence.i
	.set	.Lfset, 0
	.rept	256
	.insn	i 0x0f, 0, zero, zero, .Lfset
	.set	.Lfset, .Lfset + 1
	.endr
	.word	0x0000000f		/* fence unknown,unknown */
	.word	0x8ff0000f		/* fm = tso but not rw,rw: .4byte */
	.word	0x8000000f		/* fm = tso, empty sets */
	.word	0x1ff0000f		/* reserved fm */
	.word	0x0ff0008f		/* rd != 0 */
	.word	0x0ff2800f		/* rs1 != 0 */
	.word	0x0000200f		/* funct3 = 2 */
	.word	0x0010100f		/* fence.i with an immediate */
	.word	0x0000108f		/* fence.i with rd != 0 */

/* ---- system */
	ecall
	ebreak
	.word	0x00100873		/* ebreak with rd != 0 */
	.word	0x00008073		/* ecall with rs1 != 0 */
	.word	0x00200073		/* uret */
	.word	0x10200073		/* sret */
	.word	0x30200073		/* mret */
	.word	0x7b200073		/* dret */
	.word	0x10500073		/* wfi */
	.word	0x12000073		/* sfence.vma */
	.word	0x12058073		/* sfence.vma a1 */
	.word	0x12a00073		/* sfence.vma zero,a0 */
	.word	0x12a58073		/* sfence.vma a1,a0 */
	.word	0x10400073		/* sfence.vm (privileged spec 1.9.1) */
	.word	0x10428073		/* sfence.vm t0 */
	.word	0x20200073		/* hret (privileged spec 1.9.1) */
	.word	0xc0001073		/* unimp (csrrw zero,cycle,zero) */
	.word	0xc0002573		/* rdcycle a0 */
	.word	0xc0102573		/* rdtime a0 */
	.word	0xc0202573		/* rdinstret a0 */
	.word	0xc8002573		/* rdcycleh a0 */
	.word	0xc8102573		/* rdtimeh a0 */
	.word	0xc8202073		/* rdinstreth zero */
	.word	0xc0302573		/* csrr a0,hpmcounter3: no Zicsr, .4byte */
	.word	0x30002573		/* csrr a0,mstatus */
	.word	0x34101073		/* csrw mepc,zero */

/* ---- Nexus custom instructions (GUESTS.md) and other custom-opcode words */
	.insn	i 0x2b, 0, a0, a1, 8	/* NexusRead: a0 = input[a1 + 8] */
	.insn	i 0x2b, 0, zero, zero, 0
	.insn	i 0x2b, 0, t6, t5, -2048
	.insn	i 0x2b, 0, a0, a0, 2047
	.insn	i 0x2b, 1, a0, a1, 8	/* custom-1, funct3 1: not Nexus */
	.insn	s 0x5b, 0, a2, 4(a1)	/* NexusWrite: output[a1 + 4] = a2 */
	.insn	s 0x5b, 0, zero, 0(zero)
	.insn	s 0x5b, 0, t6, -2048(t5)
	.insn	s 0x5b, 0, a0, 2047(a0)
	.insn	s 0x5b, 7, a2, 4(a1)	/* custom-2, funct3 7: not Nexus */
	.insn	r 0x0b, 0, 0, a0, a1, a2	/* custom-0 */
	.insn	r 0x7b, 0, 0, a0, a1, a2	/* custom-3 */
	.insn	i 0x0b, 2, a0, a1, -1
	.word	0x00c5855a		/* "NexusKeccak" opcode 0b1011010: two 16-bit parcels */

/* ---- RV64-only, A, F and other non-RV32IM 32-bit words */
	.word	0x00003003		/* ld zero,0(zero) */
	.word	0x00006003		/* lwu */
	.word	0x00003023		/* sd */
	.word	0x0005051b		/* addiw */
	.word	0x00b5053b		/* addw */
	.word	0x02051513		/* slli a0,a0,32: objdump still prints sll */
	.word	0x03f5d513		/* srli a0,a1,63 */
	.word	0x4205d513		/* srai a0,a1,32 */
	.word	0x0605d513		/* srli with funct6 = 1: illegal */
	.word	0x8005d513		/* srli with funct7 bit 6 */
	.word	0x40b50513		/* addi a0,a0,1035: funct7-looking bits are immediate */
	.word	0x80b50533		/* add with bad funct7 */
	.word	0x02000063		/* funct3 2 branch */
	.word	0x00003063		/* funct3 3 branch */
	.word	0x00001067		/* jalr funct3 1 */
	.word	0x00007003		/* load funct3 7 */
	.word	0x00004023		/* store funct3 4 */
	.word	0x1005a52f		/* lr.w a0,(a1) */
	.word	0x00c5a52f		/* amoadd.w */
	.word	0x0005a507		/* flw */
	.word	0x00a5a027		/* fsw */
	.word	0x00b57553		/* fadd.s */
	.word	0x00000057		/* vector space */
	.word	0x00000077		/* OP-P space */

/* ---- 16-bit parcels (no C extension in the arch), and longer length prefixes */
	.2byte	0x4501			/* c.li a0,0 */
	.2byte	0x0001			/* c.nop */
	.2byte	0x8082			/* c.ret */
	.2byte	0x0000			/* c.unimp / zero halfword */
	.word	0x00000000		/* two zero parcels */
	.word	0xffffffff		/* 0xffff is a reserved length prefix: two 16-bit parcels */
	.word	0x0000003f, 0		/* 64-bit length prefix: one .8byte line (skipped) */
	.2byte	0x001f, 0, 0		/* 48-bit length prefix: a .byte list (skipped) */
	.2byte	0x0001			/* realign */
	nop
