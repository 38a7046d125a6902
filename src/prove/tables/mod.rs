//! The AIRs (tables) of the RV32IM proof, one file each with its columns, its constraints
//! (and lookups and bus interactions) and its trace generation; what they share is in
//! `common.rs` (buses, column allocator, memory-access gadgets, lookup multiplicities, the
//! run's memory and register state). [`super::witness`] runs a trace through the generators.
//!
//! Values are 32-bit words held as four little-endian bytes; a program counter is a word
//! index (`pc / 4`), so every pc and every word address is a field element below 2^30 and
//! field arithmetic on them is integer arithmetic. Tables, in proof order:
//!
//! - [`cpu`] **CPU**: one row per executed instruction.
//! - [`program`] **PROGRAM** (preprocessed, from the ELF): the decoded instructions; the CPU
//!   looks its row up by pc, so it can only execute what the ELF holds.
//! - [`mem`] **MEM**: one row per memory word the run touches or the image holds, sorted by
//!   address, each inside a region the VM allows; it starts and ends every word (offline
//!   memory checking).
//! - [`image`] **IMAGE** (preprocessed, from the ELF): the initial words; MEM must start each
//!   of them exactly once, with that value.
//! - [`reg`] **REG**: the 32 registers, starting at zero or where the previous segment left
//!   them, ending where the next one starts (256 rows in a zero-knowledge proof).
//! - [`range`] **RANGE**: a 2^16-row table fixed by its own constraints that answers 16-bit
//!   range checks and byte triples `(x, y, x & y)`.
//! - [`shift`] **SHIFT** (preprocessed): shift amount byte -> multiplier `2^s` or `2^(32-s)`.
//! - [`event`] **EVENT** and [`iow`] **IOW** (preprocessed, from the public transcript): what
//!   each `ecall` (and Nexus tape instruction, CSR instruction, `mret`) read from registers
//!   and wrote back, where execution continued, and the bytes it read from or wrote to
//!   memory. The verifier replays the transcript against the ABI natively.
//! - [`muldiv`] **MULDIV**: shifts and the M extension, sent by the CPU with operands and
//!   result.
//! - [`out`] **OUT** (preprocessed, from the proof file): the words a segment changed, with
//!   their final values; the next segment's IMAGE starts from them.
//! - [`fetch`] **DYNPROG** (preprocessed, from the proof file) and **FETCH**: instructions
//!   fetched from memory (self-modifying code, code outside the instruction ranges in an
//!   executable segment), each read at its cycle and decoded by the verifier.
//!
//! A proof is a chain of segments, each a batch STARK over these tables
//! (`super::segment`): IMAGE holds the memory at segment start (the ELF's image in the
//! first), REG the registers, OUT the changed words at the end.
//!
//! [`Table`] is the enum the batch STARK proves (one AIR type), dispatching to the tables.

mod common;
pub mod cpu;
pub mod event;
pub mod fetch;
pub mod image;
pub mod iow;
pub mod mem;
pub mod muldiv;
pub mod out;
pub mod program;
pub mod range;
pub mod reg;
pub mod shift;

use common::*;

pub use common::{
    height, min_rows, reg_rows, rows_for, AND8, EVBUS, IMGBUS, MDBUS, MEMBUS, OUTBUS, PROG, SHIFT,
    U16, ZK_MIN_ROWS,
};
pub(crate) use common::{Mults, Run, State};
pub(crate) use cpu::CpuTrace;
pub use cpu::{sel, Cpu, CpuCols};
pub(crate) use event::EventTrace;
pub use event::{ev, Events};
pub(crate) use fetch::FetchTrace;
pub use fetch::{dyn_row, DynProg, Fetch, FetchCols, DYN_W};
pub use image::{image_words, ImageTable, IMAGE_W};
pub(crate) use iow::IoTrace;
pub use iow::{IoWords, IOW_MW, IOW_PW};
pub(crate) use mem::mem_trace;
pub use mem::{Mem, MemCols};
pub(crate) use muldiv::MdTrace;
pub use muldiv::{md, md_result, MdCols, MulDiv};
pub use out::{OutTable, OUT_W};
pub use program::{prog_row, ProgRow, Program, BAD_TARGET, PROG_TUPLE};
pub(crate) use range::range_trace;
pub use range::{Range, RANGE_W};
pub(crate) use reg::reg_trace;
pub use reg::{Regs, REG_PW, REG_W};
pub use shift::{shift_rows, ShiftTable, SHIFT_W};

// ---------------------------------------------------------------------------- the enum

/// All tables, in proof order.
#[derive(Clone, Debug)]
pub enum Table {
    Cpu(Cpu),
    Program(Program),
    Mem(Mem),
    Image(ImageTable),
    Regs(Regs),
    Range(Range),
    Shift(ShiftTable),
    Events(Events),
    IoWords(IoWords),
    MulDiv(MulDiv),
    Out(OutTable),
    DynProg(DynProg),
    Fetch(Fetch),
}

pub const NUM_TABLES: usize = 13;
/// CPU public values: the segment's first pc (word), its cycles, (image_end - 1) and
/// stack_bottom as (high, low) halves, the segment digest as 16 16-bit limbs (bound by the
/// Fiat-Shamir transcript), `notlast` (a segment before the last), the pc (word) the next
/// segment starts at, and the HTIF exit: whether the statement ends with it, the `tohost`
/// word index, and the stored word `(exit_code << 1) | 1` as 4 bytes.
pub const CPU_PUBLIC: usize = 6 + 16 + 2 + 6;
/// MEM public values: the region bounds (8 halves), `first`, `notlast`.
pub const MEM_PUBLIC: usize = 10;
pub const TABLE_NAMES: [&str; NUM_TABLES] = [
    "cpu", "program", "mem", "image", "regs", "range", "shift", "events", "io", "muldiv", "out",
    "dynprog", "fetch",
];

fn pre_matrix<F: Field>(rows: &[u32], width: usize, height: usize) -> RowMajorMatrix<F> {
    let mut v: Vec<F> = rows.iter().map(|&x| F::from_u32(x)).collect();
    v.resize(width * height, F::ZERO);
    RowMajorMatrix::new(v, width)
}

impl<F: Field> BaseAir<F> for Table {
    fn width(&self) -> usize {
        match self {
            Table::Cpu(t) => t.cols.width,
            Table::Program(_)
            | Table::Image(_)
            | Table::Shift(_)
            | Table::Out(_)
            | Table::DynProg(_) => 1,
            Table::Fetch(t) => t.cols.width,
            Table::Mem(t) => t.cols.width,
            Table::Regs(_) => REG_W,
            Table::Range(_) => RANGE_W,
            Table::Events(_) => ev::MW,
            Table::IoWords(_) => IOW_MW,
            Table::MulDiv(t) => t.cols.width,
        }
    }
    fn num_public_values(&self) -> usize {
        match self {
            Table::Cpu(_) => CPU_PUBLIC,
            Table::Mem(_) => MEM_PUBLIC,
            Table::Regs(_) => 1,
            _ => 0,
        }
    }
    fn preprocessed_trace(&self) -> Option<RowMajorMatrix<F>> {
        match self {
            Table::Program(t) => Some(pre_matrix(&t.rows, PROG_TUPLE, t.height)),
            Table::Image(t) => Some(pre_matrix(&t.rows, IMAGE_W, t.height)),
            Table::Shift(_) => Some(pre_matrix(&shift_rows(), SHIFT_W, 512)),
            Table::Events(t) => Some(pre_matrix(&t.rows, ev::W, t.height)),
            Table::IoWords(t) => Some(pre_matrix(&t.rows, IOW_PW, t.height)),
            Table::Regs(t) => Some(pre_matrix(&t.rows, REG_PW, t.height)),
            Table::Out(t) => Some(pre_matrix(&t.rows, OUT_W, t.height)),
            Table::DynProg(t) => Some(pre_matrix(&t.rows, DYN_W, t.height)),
            _ => None,
        }
    }
    fn preprocessed_width(&self) -> usize {
        match self {
            Table::Program(_) => PROG_TUPLE,
            Table::Image(_) => IMAGE_W,
            Table::Shift(_) => SHIFT_W,
            Table::Events(_) => ev::W,
            Table::IoWords(_) => IOW_PW,
            Table::Regs(_) => REG_PW,
            Table::Out(_) => OUT_W,
            Table::DynProg(_) => DYN_W,
            _ => 0,
        }
    }
    fn main_next_row_columns(&self) -> Vec<usize> {
        match self {
            Table::Cpu(t) => vec![t.cols.real, t.cols.clk, t.cols.pcw],
            Table::Mem(t) => vec![
                t.cols.real,
                t.cols.hi,
                t.cols.lo,
                t.cols.same,
                t.cols.hinv,
                t.cols.sd,
            ],
            Table::Range(_) => vec![0],
            Table::Events(_) => vec![ev::M_EOF],
            _ => vec![],
        }
    }
    fn preprocessed_next_row_columns(&self) -> Vec<usize> {
        vec![]
    }
}

impl<AB: PermutationAirBuilder + InteractionBuilder> Air<AB> for Table {
    fn eval(&self, b: &mut AB) {
        match self {
            Table::Cpu(t) => t.eval(b),
            Table::Program(t) => t.eval(b),
            Table::Mem(t) => t.eval(b),
            Table::Image(t) => t.eval(b),
            Table::Regs(t) => t.eval(b),
            Table::Range(t) => t.eval(b),
            Table::Shift(t) => t.eval(b),
            Table::Events(t) => t.eval(b),
            Table::IoWords(t) => t.eval(b),
            Table::MulDiv(t) => t.eval(b),
            Table::Out(t) => t.eval(b),
            Table::DynProg(t) => t.eval(b),
            Table::Fetch(t) => t.eval(b),
        }
    }
}
