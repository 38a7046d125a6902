//! GNU objdump-syntax disassembler (placeholder, being written).
use super::Inst;

/// Disassemble `inst` located at `pc`, in `riscv64-unknown-elf-objdump -d` syntax.
pub fn disasm(inst: &Inst, _pc: u32) -> String {
    format!("{:?}", inst.op).to_lowercase()
}
