# Code placed in a writable, non-executable segment ("code run from RAM"): the VM executes only
# inside executable PT_LOADs, so `run` faults at the jump; the proof's PROGRAM table must hold
# exactly what the VM may execute. Built twice (build.sh): RW (the guest) and RWX (the machine a
# modified prover pretends to run).
    .section .text
    .globl _start
_start:
    li   a0, 1
    la   t0, ramfn
    jalr t0
    li   a7, 93
    ecall

    .section .ramtext, "awx"
ramfn:
    li   a0, 42
    ret
