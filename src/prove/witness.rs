//! Traces for every table of one segment: from the public data (the tables the verifier
//! rebuilds) and from a traced piece of the run (the prover's private columns). Each table's
//! trace generation is in its file under [`super::tables`]; this module runs the segment's
//! trace through them, in one pass over its rows (CPU, with MULDIV, EVENT and IOW rows as the
//! CPU reaches them), then MEM, REG and the lookup tables from the state and multiplicities
//! the pass left. [`build`] proves a whole run as one segment.

use super::segment::{segment_events, SegmentMeta, SegmentStart};
use super::statement::Public;
use super::tables::{
    self, mem_trace, range_trace, reg_trace, CpuTrace, EventTrace, FetchTrace, IoTrace, MdTrace,
    Mults, Run, State, Table,
};
use super::Val;
use crate::vm::trace::Trace;
use p3_matrix::dense::RowMajorMatrix;
use std::collections::{BTreeMap, BTreeSet, HashMap};

pub use super::tables::{
    height, md_result, min_rows, prog_row, reg_rows, rows_for, ProgRow, ZK_MIN_ROWS,
};

/// What the public data fixes for every segment of a run: the program table with the row
/// index of each instruction pc, the initial image's words and the read-only words.
pub struct PublicTables {
    pub program: tables::Program,
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
    #[error("a segment of {0} cycles; one segment holds fewer than 2^25 (lower --segment-cycles)")]
    TooLong(usize),
    #[error("internal error: the trace and the proof tables disagree at cycle {cycle} ({what})")]
    Internal { cycle: usize, what: String },
}

/// One segment's tables and traces (main columns, in [`tables::TABLE_NAMES`] order) and what
/// the proof file states about it.
pub struct SegmentWitness {
    pub tables: Vec<Table>,
    pub traces: Vec<RowMajorMatrix<Val>>,
    pub meta: SegmentMeta,
}

/// All tables and their traces of a whole run proven as one segment. Refuses, by name, what
/// the constraints cannot prove (code modified or `tohost` written at run time, misaligned
/// accesses, instructions outside RV32IM) and checks every value against the VM's.
pub fn build(
    p: &Public,
    t: &Trace,
) -> Result<(Vec<Table>, Vec<RowMajorMatrix<Val>>), WitnessError> {
    let pt = public_tables(p);
    build_with(
        p,
        &pt,
        &SegmentStart::whole_run(&p.statement),
        &pt.image_words,
        t,
        true,
    )
    .map(|w| (w.tables, w.traces))
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
    let pt = public_tables(p);
    build_with(
        p,
        &pt,
        &SegmentStart::whole_run(&p.statement),
        &pt.image_words,
        t,
        false,
    )
    .map(|w| (w.tables, w.traces))
}

/// One segment: its trace `t` (a piece of the run, [`crate::vm::trace::SegmentedTrace`]),
/// started at `start` with memory `mem` (word -> bytes; the image in the first segment).
pub fn build_segment(
    p: &Public,
    pt: &PublicTables,
    start: &SegmentStart,
    mem: &BTreeMap<u32, [u8; 4]>,
    t: &Trace,
) -> Result<SegmentWitness, WitnessError> {
    build_with(p, pt, start, mem, t, true)
}

/// [`build_segment`] without its refusals and consistency checks (a *modified* prover; for
/// soundness tests only).
#[doc(hidden)]
pub fn build_segment_unchecked(
    p: &Public,
    pt: &PublicTables,
    start: &SegmentStart,
    mem: &BTreeMap<u32, [u8; 4]>,
    t: &Trace,
) -> Result<SegmentWitness, WitnessError> {
    build_with(p, pt, start, mem, t, false)
}

fn build_with(
    p: &Public,
    pt: &PublicTables,
    start: &SegmentStart,
    mem: &BTreeMap<u32, [u8; 4]>,
    t: &Trace,
    checked: bool,
) -> Result<SegmentWitness, WitnessError> {
    let n = t.rows.len();
    if n >= 1 << 25 {
        return Err(WitnessError::TooLong(n));
    }
    let st = &p.statement;
    let evs = segment_events(&p.events, start.clk0, n as u64);
    let ev_table = tables::Events::from_events(st, &evs);
    let io_table = tables::IoWords::from_events(st, &evs);
    let first = start.index == 0;
    let mut run = Run {
        p,
        pt,
        events: &evs,
        base: mem,
        first,
        checked,
        st: State {
            mem: HashMap::new(),
            regs: start.regs.map(|v| (v, 0)),
            touched: BTreeSet::new(),
        },
        mults: Mults {
            u16: vec![0; 1 << 16],
            and8: vec![0; 1 << 16],
            shift: vec![0; 512],
            prog: vec![0; pt.program.height],
        },
    };
    let mut cpu = CpuTrace::new(rows_for(st, n + 1));
    let n_md = t
        .rows
        .iter()
        .filter(|r| {
            // PROGRAM's instruction, or the one the VM fetched from memory.
            pt.prog_index
                .get(&r.pc)
                .map(|&(_, p)| p)
                .or_else(|| prog_row(r.pc, &r.inst))
                .is_some_and(|p| p.sel == tables::sel::MD)
        })
        .count();
    let mut md = MdTrace::new(rows_for(st, n_md));
    let mut events = EventTrace::new(ev_table.height);
    let mut io = IoTrace::new(io_table.height);
    let mut fetch = FetchTrace::new();
    for (i, tr) in t.rows.iter().enumerate() {
        // The row's four access slots are at 8 clk + 1 .. 8 clk + 4, an event's after them.
        let ts = 8 * i as u32 + 1;
        let pr = cpu.push(&mut run, i, tr, ts, n, &mut md, &mut fetch, events.next)?;
        // A misaligned access is an event; a forger (unchecked) may leave its event out of
        // the transcript (`soundness::a_misaligned_row_without_its_event_is_rejected`).
        let mis_event =
            cpu.mis && (run.checked || evs.get(events.next).is_some_and(|e| e.pc == tr.pc));
        if pr.sel == tables::sel::EV || mis_event {
            let e = evs.get(events.next).ok_or_else(|| WitnessError::Internal {
                cycle: i,
                what: "more system calls than events".into(),
            })?;
            events.push(&mut run, e, ts, tr);
            // Memory words of this event.
            io.push(&mut run, e, i, tr.pc)?;
        }
    }
    if events.next != evs.len() {
        return Err(WitnessError::Internal {
            cycle: n,
            what: "fewer system calls than events".into(),
        });
    }
    let cpu_cols = cpu.cols.clone();
    let md_cols = md.cols.clone();
    let cpu_main = cpu.finish(n);
    let ev_main = events.finish(&evs, checked)?;
    let md_main = md.finish();
    let touched: Vec<u32> = run.st.touched.iter().copied().collect();
    let (mem_main, changed) = mem_trace(&mut run, n)?;
    let regs_main = reg_trace(p, &run.st);
    let range_main = range_trace(&run.mults);
    let regs_out: [u32; 32] = std::array::from_fn(|r| run.st.regs[r].0);
    let last = start.last;
    let dyn_code: Vec<(u32, u32)> = fetch.counts.keys().copied().collect();
    let dynprog = if checked {
        tables::DynProg::from_pairs(p, &dyn_code)
            .map_err(|what| WitnessError::Internal { cycle: n, what })?
    } else {
        // A forger's fetched words need not decode as the verifier would.
        tables::DynProg::from_pairs(p, &dyn_code).unwrap_or_else(|_| tables::DynProg::empty(st))
    };
    let dyn_main = fetch.dyn_mults(&dynprog);
    let fetch_cols = fetch.cols.clone();
    let fetches = fetch.counts.values().sum::<u32>() as usize;
    let fetch_main = fetch.finish(rows_for(st, fetches));
    let meta = SegmentMeta {
        cycles: n as u32,
        pc_out: if last {
            0
        } else {
            t.rows.last().map_or(start.pc, |r| r.next_pc)
        },
        regs_out: if last { Vec::new() } else { regs_out.to_vec() },
        touched: if first { Vec::new() } else { touched },
        changed: if last { Vec::new() } else { changed },
        dyn_code,
    };
    let image = if first {
        tables::ImageTable::from_words(p, &pt.image_words, &pt.ro_words)
    } else {
        tables::ImageTable::from_touched(st, &meta.touched, mem, &pt.ro_words)
    };
    let out = tables::OutTable::from_changed(st, &meta.changed);
    let regs = tables::Regs::from_values(st, &start.regs, (!last).then_some(&regs_out));
    let image_main = image.main();
    let out_main = out.main();
    let tables = vec![
        Table::Cpu(tables::Cpu { cols: cpu_cols }),
        Table::Program(pt.program.clone()),
        Table::Mem(tables::Mem {
            cols: tables::MemCols::new(),
        }),
        Table::Image(image),
        Table::Regs(regs),
        Table::Range(tables::Range),
        Table::Shift(tables::ShiftTable),
        Table::Events(ev_table),
        Table::IoWords(io_table),
        Table::MulDiv(tables::MulDiv { cols: md_cols }),
        Table::Out(out),
        Table::DynProg(dynprog),
        Table::Fetch(tables::Fetch { cols: fetch_cols }),
    ];
    let traces = vec![
        cpu_main,
        tables::Program::main(&run.mults),
        mem_main,
        image_main,
        regs_main,
        range_main,
        tables::ShiftTable::main(&run.mults),
        ev_main,
        io.finish(),
        md_main,
        out_main,
        dyn_main,
        fetch_main,
    ];
    Ok(SegmentWitness {
        tables,
        traces,
        meta,
    })
}

/// The tables of one segment as the verifier builds them (no traces), from the chain: where
/// the segment starts, the memory then, and what the proof file states about the segment.
pub fn verifier_tables(
    p: &Public,
    pt: &PublicTables,
    start: &SegmentStart,
    mem: &BTreeMap<u32, [u8; 4]>,
    meta: &SegmentMeta,
) -> Vec<Table> {
    let st = &p.statement;
    let evs = segment_events(&p.events, start.clk0, u64::from(meta.cycles));
    let image = if start.index == 0 {
        tables::ImageTable::from_words(p, &pt.image_words, &pt.ro_words)
    } else {
        tables::ImageTable::from_touched(st, &meta.touched, mem, &pt.ro_words)
    };
    let end: Option<[u32; 32]> = (!start.last).then(|| {
        let mut r = [0u32; 32];
        for (d, s) in r.iter_mut().zip(&meta.regs_out) {
            *d = *s;
        }
        r
    });
    vec![
        Table::Cpu(tables::Cpu {
            cols: tables::CpuCols::new(),
        }),
        Table::Program(pt.program.clone()),
        Table::Mem(tables::Mem {
            cols: tables::MemCols::new(),
        }),
        Table::Image(image),
        Table::Regs(tables::Regs::from_values(st, &start.regs, end.as_ref())),
        Table::Range(tables::Range),
        Table::Shift(tables::ShiftTable),
        Table::Events(tables::Events::from_events(st, &evs)),
        Table::IoWords(tables::IoWords::from_events(st, &evs)),
        Table::MulDiv(tables::MulDiv {
            cols: tables::MdCols::new(),
        }),
        Table::Out(tables::OutTable::from_changed(st, &meta.changed)),
        // Checked before any table is built (`verifier::precheck`); an invalid list has
        // no rows, and no fetch can be proven against it.
        Table::DynProg(
            tables::DynProg::from_pairs(p, &meta.dyn_code)
                .unwrap_or_else(|_| tables::DynProg::empty(st)),
        ),
        Table::Fetch(tables::Fetch {
            cols: tables::FetchCols::new(),
        }),
    ]
}
