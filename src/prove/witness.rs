//! Traces for every table: from the public data (the tables the verifier rebuilds) and from
//! a traced VM run (the prover's private columns). Each table's trace generation is in its
//! file under [`super::tables`]; this module runs the trace through them, in one pass over
//! the run's rows (CPU, with MULDIV, EVENT and IOW rows as the CPU reaches them), then MEM,
//! REG and the lookup tables from the state and multiplicities the pass left.

use super::statement::Public;
use super::tables::{
    self, mem_trace, range_trace, reg_trace, CpuTrace, EventTrace, IoTrace, MdTrace, Mults, Run,
    State, Table,
};
use super::Val;
use crate::vm::trace::Trace;
use p3_matrix::dense::RowMajorMatrix;
use std::collections::{BTreeMap, BTreeSet, HashMap};

pub use super::tables::{
    height, md_result, min_rows, prog_row, reg_rows, rows_for, ProgRow, ZK_MIN_ROWS,
};

/// The tables fixed by the public data, with the program row index of each instruction pc.
pub struct PublicTables {
    pub program: tables::Program,
    pub image: tables::ImageTable,
    pub events: tables::Events,
    pub io: tables::IoWords,
    pub prog_index: HashMap<u32, (usize, ProgRow)>,
    pub image_words: BTreeMap<u32, [u8; 4]>,
    /// Read-only words (word addresses): every instruction word and `tohost`.
    pub ro_words: BTreeSet<u32>,
}

pub fn public_tables(p: &Public) -> PublicTables {
    let (program, prog_index) = tables::Program::from_public(p);
    let (image_words, ro_words) = tables::image_words(p);
    PublicTables {
        program,
        image: tables::ImageTable::from_words(p, &image_words, &ro_words),
        events: tables::Events::from_public(p),
        io: tables::IoWords::from_public(p),
        prog_index,
        image_words,
        ro_words,
    }
}

/// Why a run cannot be proven.
#[derive(Debug, thiserror::Error)]
pub enum WitnessError {
    #[error("cycle {cycle}, pc {pc:#x}: {what} cannot be proven")]
    Unsupported { cycle: usize, pc: u32, what: String },
    #[error("the run has {0} cycles; the prover handles at most 2^25")]
    TooLong(usize),
    #[error("internal error: the trace and the proof tables disagree at cycle {cycle} ({what})")]
    Internal { cycle: usize, what: String },
}

/// All tables and their traces (main columns), in [`tables::TABLE_NAMES`] order. Refuses, by
/// name, what the constraints cannot prove (code modified or `tohost` written at run time,
/// misaligned accesses, instructions outside RV32IM) and checks every value against the VM's.
pub fn build(
    p: &Public,
    t: &Trace,
) -> Result<(Vec<Table>, Vec<RowMajorMatrix<Val>>), WitnessError> {
    build_with(p, t, true)
}

/// [`build`] without its refusals and consistency checks: what a *modified* prover would do
/// with a run the VM does not allow. Every value is computed from the public data and the
/// trace's control flow as the honest builder computes it; where a rule is broken, the
/// witness is whatever the arithmetic gives, and the verifier must reject the proof. For
/// soundness tests only.
#[doc(hidden)]
pub fn build_unchecked(
    p: &Public,
    t: &Trace,
) -> Result<(Vec<Table>, Vec<RowMajorMatrix<Val>>), WitnessError> {
    build_with(p, t, false)
}

fn build_with(
    p: &Public,
    t: &Trace,
    checked: bool,
) -> Result<(Vec<Table>, Vec<RowMajorMatrix<Val>>), WitnessError> {
    let n = t.rows.len();
    if n >= 1 << 25 {
        return Err(WitnessError::TooLong(n));
    }
    let pt = public_tables(p);
    let mut run = Run {
        p,
        pt: &pt,
        checked,
        st: State {
            mem: HashMap::new(),
            regs: [(0, 0); 32],
            touched: BTreeSet::new(),
        },
        mults: Mults {
            u16: vec![0; 1 << 16],
            and8: vec![0; 1 << 16],
            shift: vec![0; 512],
            prog: vec![0; pt.program.height],
        },
    };
    let mut cpu = CpuTrace::new(rows_for(&p.statement, n + 1));
    let n_md = t
        .rows
        .iter()
        .filter(|r| {
            pt.prog_index
                .get(&r.pc)
                .is_some_and(|(_, p)| p.sel == tables::sel::MD)
        })
        .count();
    let mut md = MdTrace::new(rows_for(&p.statement, n_md));
    let mut events = EventTrace::new(pt.events.height);
    let mut io = IoTrace::new(pt.io.height);
    for (i, tr) in t.rows.iter().enumerate() {
        // The row's four access slots are at 8 clk + 1 .. 8 clk + 4, an event's after them.
        let ts = 8 * i as u32 + 1;
        let pr = cpu.push(&mut run, i, tr, ts, n, &mut md, events.next)?;
        if pr.sel == tables::sel::EV {
            let e = p
                .events
                .get(events.next)
                .ok_or_else(|| WitnessError::Internal {
                    cycle: i,
                    what: "more system calls than events".into(),
                })?;
            events.push(&mut run, e, ts, tr);
            // Memory words of this event.
            io.push(&mut run, e, i, tr.pc)?;
        }
    }
    if events.next != p.events.len() {
        return Err(WitnessError::Internal {
            cycle: n,
            what: "fewer system calls than events".into(),
        });
    }
    let cpu_cols = cpu.cols.clone();
    let md_cols = md.cols.clone();
    let cpu_main = cpu.finish(n);
    let ev_main = events.finish(p, checked)?;
    let md_main = md.finish();
    let mem_main = mem_trace(&mut run, n)?;
    let regs_main = reg_trace(p, &run.st);
    let range_main = range_trace(&run.mults);
    let tables = vec![
        Table::Cpu(tables::Cpu { cols: cpu_cols }),
        Table::Program(pt.program.clone()),
        Table::Mem(tables::Mem {
            cols: tables::MemCols::new(),
        }),
        Table::Image(pt.image.clone()),
        Table::Regs(tables::Regs),
        Table::Range(tables::Range),
        Table::Shift(tables::ShiftTable),
        Table::Events(pt.events.clone()),
        Table::IoWords(pt.io.clone()),
        Table::MulDiv(tables::MulDiv { cols: md_cols }),
    ];
    let traces = vec![
        cpu_main,
        tables::Program::main(&run.mults),
        mem_main,
        pt.image.main(),
        regs_main,
        range_main,
        tables::ShiftTable::main(&run.mults),
        ev_main,
        io.finish(),
        md_main,
    ];
    Ok((tables, traces))
}

/// The tables as the verifier builds them (no traces).
pub fn verifier_tables(p: &Public) -> Vec<Table> {
    let pt = public_tables(p);
    vec![
        Table::Cpu(tables::Cpu {
            cols: tables::CpuCols::new(),
        }),
        Table::Program(pt.program),
        Table::Mem(tables::Mem {
            cols: tables::MemCols::new(),
        }),
        Table::Image(pt.image),
        Table::Regs(tables::Regs),
        Table::Range(tables::Range),
        Table::Shift(tables::ShiftTable),
        Table::Events(pt.events),
        Table::IoWords(pt.io),
        Table::MulDiv(tables::MulDiv {
            cols: tables::MdCols::new(),
        }),
    ]
}
