//! Finding every place that encodes a boundary the plan moves (ARCHITECTURE.md, "Finding what
//! encodes the layout").
//!
//! Sources, most certain first: relocations kept with `-Wl,-q` (then the source of truth for
//! code), the `sp` prologue, boundary symbols, NOBITS `.heap`/`.stack` sections and the PT_LOAD
//! covering them, address materialisations found by a forward dataflow over each basic block
//! (`lui`/`auipc` + `addi`/load/store, gp-relative and x0-relative `addi`), and data words.
//! A value that appears where the rewriter cannot explain it is an [`Ambiguity`].

use crate::elf::{Image, PT_LOAD};
use crate::isa::{self, reg, Inst, Op};
use crate::layout::{
    Family, HEAP_END_SYMS, HEAP_START_SYMS, MEMORY_TOP_SYMS, STACK_BOTTOM_SYMS, STACK_TOP_SYMS,
};
use crate::plan::Plan;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// RISC-V relocation types used here (RISC-V ELF psABI, "Relocations").
pub mod rel {
    pub const R_RISCV_32: u32 = 1;
    pub const PCREL_HI20: u32 = 23;
    pub const PCREL_LO12_I: u32 = 24;
    pub const PCREL_LO12_S: u32 = 25;
    pub const HI20: u32 = 26;
    pub const LO12_I: u32 = 27;
    pub const LO12_S: u32 = 28;
    pub const GPREL_I: u32 = 47;
    pub const GPREL_S: u32 = 48;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Confidence {
    /// Named by a relocation, or the `sp` prologue itself.
    Exact,
    /// A boundary symbol, section or segment; a named data word; a complete hi/lo pair.
    High,
    /// A value match without a name (accepted, reported).
    Medium,
}

/// What kind of encoding a site is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SiteKind {
    /// `lui`/`auipc` + `addi`/load/store: two instructions patched together.
    HiLoPair,
    /// `lui rd, hi` whose consumer adds 0 (`mv`) or which stands alone.
    LuiOnly,
    /// `addi rd, gp, off` (linker relaxation).
    GpRelative,
    /// `addi rd, x0, imm`.
    AbsoluteImm,
    /// An aligned 32-bit word in loaded data.
    DataWord,
    Symbol,
    /// A section header field (`sh_addr`, `sh_size`).
    Section,
    /// A program header field (`p_vaddr`, `p_paddr`, `p_memsz`).
    Segment,
}

/// One byte-range edit of the file: at `offset`, `old` becomes `new`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Edit {
    pub offset: usize,
    pub old: u32,
    pub new: u32,
    /// 4 for words and instructions, 2 never used, 4 for every header field here (ELF32).
    pub len: usize,
    /// For instructions: the address and the instruction before and after.
    #[serde(skip)]
    pub inst: Option<(u32, Inst, Inst)>,
}

/// A place that encodes an old boundary.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Site {
    pub kind: SiteKind,
    /// Address (code, data) or a description (`symbol _stack_top`, `section .stack sh_size`).
    pub location: String,
    pub addr: Option<u32>,
    /// The boundary (or boundaries, `heap_end/stack_bottom`, when they share the old value).
    pub boundary: String,
    pub old: u32,
    pub new: u32,
    pub confidence: Confidence,
    pub why: String,
    pub edits: Vec<Edit>,
}

/// An occurrence of an old boundary value the rewriter cannot explain, or cannot patch.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Ambiguity {
    pub location: String,
    pub value: u32,
    pub why: String,
    /// True when no `--force` can help (the site would need another instruction shape).
    pub fatal: bool,
}

#[derive(Debug, Clone, Default, Serialize, schemars::JsonSchema)]
pub struct Sites {
    pub sites: Vec<Site>,
    pub ambiguities: Vec<Ambiguity>,
    /// Whether relocations (`-Wl,-q`) were used as the source of truth for code.
    pub from_relocations: bool,
    /// Addresses of data words the code loads through a materialised address (`la t, W;
    /// lw x, 0(t)`, GOT-like tables, gp/x0-relative loads): such a word holding a boundary is
    /// a pointer to it.
    #[serde(skip)]
    pub loaded_words: BTreeSet<u32>,
}

/// A `lui`/`auipc` seen in the current basic block, with what consumed it.
#[derive(Clone, Debug)]
struct Hi {
    at: u32,
    inst: Inst,
    /// lui: the upper value; auipc: pc + upper.
    base: u32,
    consumers: Vec<(u32, Inst)>,
}

fn word_edit(img: &Image, addr: u32, inst: Inst, new: Inst) -> Option<Edit> {
    let offset = img.file_offset(addr, 4)?;
    let old = img.word_at(addr)?;
    let neww = isa::encode(&new).ok()?;
    Some(Edit {
        offset,
        old,
        new: neww,
        len: 4,
        inst: Some((addr, inst, new)),
    })
}

fn field_edit(offset: usize, old: u32, new: u32) -> Edit {
    Edit {
        offset,
        old,
        new,
        len: 4,
        inst: None,
    }
}

/// Find the sites for a plan.
pub fn find(img: &Image, plan: &Plan) -> Sites {
    let mut out = Sites::default();
    if plan.moves.is_empty() {
        return out;
    }
    let old_values: BTreeSet<u32> = plan.moves.iter().map(|m| m.old).collect();
    let boundary_name = |v: u32| -> String {
        let names: Vec<&str> = plan
            .moves
            .iter()
            .filter(|m| m.old == v)
            .map(|m| m.name)
            .collect();
        if names.is_empty() {
            "?".into()
        } else {
            names.join("/")
        }
    };
    let map = |v: u32, loc: &str, out: &mut Sites| -> Option<u32> {
        match plan.map_value(v)? {
            Ok(n) => Some(n),
            Err(conflict) => {
                out.ambiguities.push(Ambiguity {
                    location: loc.to_string(),
                    value: v,
                    why: format!("{v:#x} names several boundaries that move apart ({conflict})"),
                    fatal: false,
                });
                None
            }
        }
    };
    if plan.family == Family::LoaderStack || plan.movable.vm_chooses_sp {
        // The loader's stack is a convention, not in the file: an equal value in the code or
        // data is another number. The rewrite records the new stack in PT_GNU_STACK.
        gnu_stack_sites(img, plan, &mut out);
        return out;
    }
    code_sites(img, plan, &old_values, &mut out, &map, &boundary_name);
    data_sites(img, plan, &old_values, &mut out, &map, &boundary_name);
    symbol_sites(img, plan, &mut out);
    header_sites(img, plan, &mut out);
    out.sites
        .sort_by_key(|s| (s.kind, s.addr, s.location.clone()));
    out
}

type MapFn<'a> = dyn Fn(u32, &str, &mut Sites) -> Option<u32> + 'a;
type NameFn<'a> = dyn Fn(u32) -> String + 'a;

/// Relocation-derived code sites: `addr → (boundary value, is_hi)`. PCREL_LO12 relocations name
/// the `auipc`'s label; its PCREL_HI20 relocation names the target.
fn reloc_code_targets(img: &Image) -> BTreeMap<u32, u32> {
    let mut hi_target: BTreeMap<u32, u32> = BTreeMap::new();
    let sym_val = |r: &crate::elf::Reloc| -> u32 {
        img.symbols
            .get(r.sym)
            .map(|s| s.value)
            .unwrap_or(0)
            .wrapping_add(r.addend as u32)
    };
    for r in &img.relocs {
        if matches!(r.r_type, rel::HI20 | rel::PCREL_HI20) {
            hi_target.insert(r.addr, sym_val(r));
        }
    }
    let mut out = hi_target.clone();
    for r in &img.relocs {
        match r.r_type {
            rel::LO12_I | rel::LO12_S => {
                out.insert(r.addr, sym_val(r));
            }
            rel::PCREL_LO12_I | rel::PCREL_LO12_S => {
                let label = sym_val(r);
                if let Some(&t) = hi_target.get(&label) {
                    out.insert(r.addr, t);
                }
            }
            rel::GPREL_I | rel::GPREL_S => {
                out.insert(r.addr, sym_val(r));
            }
            _ => {}
        }
    }
    out
}

/// Registers a call clobbers (RISC-V psABI caller-saved: ra, t0-t6, a0-a7).
const CALLER_SAVED: [u8; 16] = [1, 5, 6, 7, 10, 11, 12, 13, 14, 15, 16, 17, 28, 29, 30, 31];

/// Registers holding a tracked `lui`/`auipc` (register, its address), sorted by register.
/// Almost always empty: only materialisations near a boundary are tracked.
type RegState = Vec<(u8, u32)>;

fn reg_get(st: &RegState, r: u8) -> Option<u32> {
    st.iter().find(|e| e.0 == r).map(|e| e.1)
}

fn reg_set(st: &mut RegState, r: u8, v: Option<u32>) {
    match (st.iter().position(|e| e.0 >= r), v) {
        (Some(k), v) if st[k].0 == r => match v {
            Some(v) => st[k].1 = v,
            None => {
                st.remove(k);
            }
        },
        (Some(k), Some(v)) => st.insert(k, (r, v)),
        (None, Some(v)) => st.push((r, v)),
        (_, None) => {}
    }
}

/// A gp- or x0-relative `addi` and the value it computes.
type Single = (u32, Inst, u32, SiteKind);

/// What the dataflow found.
struct Flow {
    /// Every `lui`/`auipc`, with the instructions that consume it.
    his: Vec<Hi>,
    singles: Vec<Single>,
    /// Addresses of words loaded through a materialised address.
    loaded: BTreeSet<u32>,
}

/// Code words in address order, with O(1) address → index (segments are contiguous runs).
struct CodeIndex {
    /// (first address, first index, count) of each contiguous run.
    runs: Vec<(u32, usize, usize)>,
}

impl CodeIndex {
    fn new(code: &[(u32, Option<Inst>)]) -> Self {
        let mut runs: Vec<(u32, usize, usize)> = Vec::new();
        for (i, &(pc, _)) in code.iter().enumerate() {
            match runs.last_mut() {
                Some(r) if r.0.wrapping_add(4 * r.2 as u32) == pc => r.2 += 1,
                _ => runs.push((pc, i, 1)),
            }
        }
        CodeIndex { runs }
    }
    fn index(&self, pc: u32) -> Option<usize> {
        self.runs.iter().find_map(|&(start, first, n)| {
            let k = pc.wrapping_sub(start);
            (k % 4 == 0 && ((k / 4) as usize) < n).then(|| first + (k / 4) as usize)
        })
    }
}

/// The control-flow graph of the code words: basic blocks and their edges.
struct Cfg {
    /// First instruction of each block (every jump target and fall-through is a leader).
    starts: Vec<usize>,
    /// Number of instructions.
    n: usize,
    /// At most two successors per block ([`Cfg::NONE`]: none).
    succ: Vec<[u32; 2]>,
    /// The fall-through edge passes through a call or ecall (clobbers the caller-saved
    /// registers).
    via_call: Vec<bool>,
    /// Call targets: they start with nothing known, whatever reaches them.
    pinned: Vec<bool>,
    has_pred: Vec<bool>,
}

impl Cfg {
    const NONE: u32 = u32::MAX;

    fn end_of(&self, b: usize) -> usize {
        if b + 1 < self.starts.len() {
            self.starts[b + 1]
        } else {
            self.n
        }
    }

    /// Leaders (branch/jump targets, instructions after control transfers, run starts), then
    /// the edges of each block.
    fn build(code: &[(u32, Option<Inst>)]) -> Cfg {
        const NONE: u32 = Cfg::NONE;
        let ix = CodeIndex::new(code);
        let n = code.len();
        // Leaders: branch/jump targets, instructions after control transfers, run starts.
        let mut leader = vec![false; n];
        for &(_, first, _) in &ix.runs {
            leader[first] = true;
        }
        for (k, &(pc, inst)) in code.iter().enumerate() {
            let after = |leader: &mut Vec<bool>| {
                if k + 1 < n {
                    leader[k + 1] = true;
                }
            };
            let Some(i) = inst else {
                leader[k] = true;
                after(&mut leader);
                continue;
            };
            if i.op.is_branch() || i.op == Op::Jal {
                if let Some(t) = ix.index(pc.wrapping_add(i.imm as u32)) {
                    leader[t] = true;
                }
            }
            if i.op.ends_block() || i.op == Op::Ecall {
                after(&mut leader);
            }
        }
        let starts: Vec<usize> = (0..n).filter(|&k| leader[k]).collect();
        // The block starting at instruction k (every jump target and fall-through is a leader).
        let block_of = |k: usize| starts.binary_search(&k).ok();
        let nblocks = starts.len();
        let end_of = |b: usize| if b + 1 < nblocks { starts[b + 1] } else { n };
        let mut succ: Vec<[u32; 2]> = vec![[NONE; 2]; nblocks];
        let mut via_call = vec![false; nblocks];
        let mut pinned = vec![false; nblocks];
        let target_block = |addr: u32| ix.index(addr).and_then(block_of);
        for b in 0..nblocks {
            let last = end_of(b) - 1;
            let (pc, inst) = code[last];
            let next = if last + 1 < n && code[last + 1].0 == pc.wrapping_add(4) {
                block_of(last + 1).map_or(NONE, |b| b as u32)
            } else {
                NONE
            };
            let Some(i) = inst else { continue };
            let target = || target_block(pc.wrapping_add(i.imm as u32)).map_or(NONE, |t| t as u32);
            succ[b] = match i.op {
                op if op.is_branch() => [target(), next],
                Op::Jal if i.rd == 0 => [target(), NONE],
                Op::Jal => {
                    if let Some(t) = target_block(pc.wrapping_add(i.imm as u32)) {
                        pinned[t] = true;
                    }
                    via_call[b] = true;
                    [next, NONE]
                }
                Op::Jalr | Op::Ebreak | Op::Mret => [NONE, NONE],
                Op::Ecall => {
                    via_call[b] = true;
                    [next, NONE]
                }
                _ => [next, NONE],
            };
        }
        let mut has_pred = vec![false; nblocks];
        for &t in succ.iter().flatten().filter(|&&t| t != NONE) {
            has_pred[t as usize] = true;
        }
        Cfg {
            starts,
            n,
            succ,
            via_call,
            pinned,
            has_pred,
        }
    }
}

fn hi_base(pc: u32, i: &Inst) -> u32 {
    if i.op == Op::Lui {
        i.imm as u32
    } else {
        pc.wrapping_add(i.imm as u32)
    }
}

/// Forward dataflow over the control-flow graph: which `lui`/`auipc` (by address) each
/// register holds on entry to each instruction; a value reaching a join from different
/// `lui`s is unknown. Calls clobber the caller-saved registers; a call target or a block
/// without known predecessors starts with nothing known. Linear in the code size but for the
/// fixpoint iterations of loops.
fn dataflow(code: &[(u32, Option<Inst>)], gp: Option<u32>, tracked: &dyn Fn(u32) -> bool) -> Flow {
    let cfg = Cfg::build(code);
    let state = solve(code, &cfg, tracked);
    attach(code, &cfg, state, gp, tracked)
}

/// The register state on entry to each block, by a worklist to the fixpoint.
fn solve(
    code: &[(u32, Option<Inst>)],
    cfg: &Cfg,
    tracked: &dyn Fn(u32) -> bool,
) -> Vec<Option<RegState>> {
    const NONE: u32 = Cfg::NONE;
    let nblocks = cfg.starts.len();
    let (starts, succ, via_call, pinned, has_pred) = (
        &cfg.starts,
        &cfg.succ,
        &cfg.via_call,
        &cfg.pinned,
        &cfg.has_pred,
    );
    let end_of = |b: usize| cfg.end_of(b);
    // Blocks that create a tracked value; any other block maps "nothing known" to itself.
    let creates: Vec<bool> = (0..nblocks)
        .map(|b| {
            code[starts[b]..end_of(b)].iter().any(|&(pc, inst)| {
                inst.is_some_and(|i| {
                    matches!(i.op, Op::Lui | Op::Auipc) && tracked(hi_base(pc, &i))
                })
            })
        })
        .collect();
    let transfer = |b: usize, mut st: RegState| -> RegState {
        if st.is_empty() && !creates[b] {
            return st;
        }
        for &(pc, inst) in &code[starts[b]..end_of(b)] {
            let Some(i) = inst else { return Vec::new() };
            if i.op.writes_rd() && i.rd != 0 {
                let v =
                    (matches!(i.op, Op::Lui | Op::Auipc) && tracked(hi_base(pc, &i))).then_some(pc);
                if v.is_some() || !st.is_empty() {
                    reg_set(&mut st, i.rd, v);
                }
            }
        }
        st
    };
    let mut state: Vec<Option<RegState>> = vec![None; nblocks];
    let mut work: std::collections::VecDeque<usize> = Default::default();
    let mut queued = vec![false; nblocks];
    for b in 0..nblocks {
        if pinned[b] || !has_pred[b] {
            state[b] = Some(Vec::new());
            work.push_back(b);
            queued[b] = true;
        }
    }
    while let Some(b) = work.pop_front() {
        queued[b] = false;
        let Some(inp) = state[b].clone() else {
            continue;
        };
        let outp = transfer(b, inp);
        for t in succ[b]
            .into_iter()
            .filter(|&t| t != NONE)
            .map(|t| t as usize)
        {
            let mut incoming = outp.clone();
            if via_call[b] {
                incoming.retain(|e| !CALLER_SAVED.contains(&e.0));
            }
            let merged = match &state[t] {
                None => incoming,
                Some(cur) if pinned[t] => cur.clone(),
                Some(cur) => cur
                    .iter()
                    .filter(|e| incoming.contains(e))
                    .copied()
                    .collect(),
            };
            if state[t].as_ref() != Some(&merged) {
                state[t] = Some(merged);
                if !queued[t] {
                    queued[t] = true;
                    work.push_back(t);
                }
            }
        }
    }
    state
}

/// Final pass: attach each consumer (`addi`, load, store) to the `lui`/`auipc` it reads, and
/// collect the gp/x0-relative singles and the words loaded through a materialised address.
fn attach(
    code: &[(u32, Option<Inst>)],
    cfg: &Cfg,
    mut state: Vec<Option<RegState>>,
    gp: Option<u32>,
    tracked: &dyn Fn(u32) -> bool,
) -> Flow {
    let nblocks = cfg.starts.len();
    let (starts, end_of) = (&cfg.starts, |b: usize| cfg.end_of(b));
    let mut his: Vec<Hi> = Vec::new();
    let mut hi_index: std::collections::HashMap<u32, usize> = Default::default();
    let mut singles = Vec::new();
    let mut loaded = BTreeSet::new();
    for b in 0..nblocks {
        let mut st = state[b].take().unwrap_or_default();
        for &(pc, inst) in &code[starts[b]..end_of(b)] {
            let Some(i) = inst else { break };
            let consumes = matches!(i.op, Op::Addi) || i.op.is_load() || i.op.is_store();
            if consumes {
                if let Some(h) = reg_get(&st, i.rs1)
                    .and_then(|a| hi_index.get(&a))
                    .map(|&k| &mut his[k])
                {
                    h.consumers.push((pc, i));
                    if i.op == Op::Lw {
                        loaded.insert(h.base.wrapping_add(i.imm as u32));
                    }
                } else if (i.rs1 == reg::GP && gp.is_some()) || i.rs1 == reg::ZERO {
                    let (v, kind) = match i.rs1 {
                        reg::ZERO => (i.imm as u32, SiteKind::AbsoluteImm),
                        _ => (
                            gp.unwrap_or(0).wrapping_add(i.imm as u32),
                            SiteKind::GpRelative,
                        ),
                    };
                    if i.op == Op::Addi && tracked(v) {
                        singles.push((pc, i, v, kind));
                    } else if i.op == Op::Lw {
                        loaded.insert(v);
                    }
                }
            }
            if i.op.writes_rd() && i.rd != 0 {
                let base = hi_base(pc, &i);
                let v = if matches!(i.op, Op::Lui | Op::Auipc) && tracked(base) {
                    hi_index.insert(pc, his.len());
                    his.push(Hi {
                        at: pc,
                        inst: i,
                        base,
                        consumers: vec![],
                    });
                    Some(pc)
                } else {
                    None
                };
                if v.is_some() || !st.is_empty() {
                    reg_set(&mut st, i.rd, v);
                }
            }
        }
    }
    Flow {
        his,
        singles,
        loaded,
    }
}

/// What the steps of the code search share.
struct CodeCtx<'a> {
    img: &'a Image,
    plan: &'a Plan,
    old_values: &'a BTreeSet<u32>,
    map: &'a MapFn<'a>,
    boundary_name: &'a NameFn<'a>,
    /// Relocation targets by instruction address, when the file keeps relocations.
    relocs: Option<BTreeMap<u32, u32>>,
    /// Upper 20 bits of every moving boundary.
    hi20s: BTreeSet<u32>,
}

impl CodeCtx<'_> {
    fn is_target(&self, pc: u32) -> Option<u32> {
        self.relocs.as_ref().and_then(|r| r.get(&pc).copied())
    }
}

/// Code sites: the dataflow's materialisations (`lui`/`auipc` and their uses) and the single
/// gp/x0-relative `addi`s that hold a moving boundary, each a site or an ambiguity.
fn code_sites(
    img: &Image,
    plan: &Plan,
    old_values: &BTreeSet<u32>,
    out: &mut Sites,
    map: &MapFn,
    boundary_name: &NameFn,
) {
    let code: Vec<(u32, Option<Inst>)> = img
        .code_words()
        .map(|(a, w)| (a, isa::decode(w).ok()))
        .collect();
    let relocs = (!img.relocs.is_empty()).then(|| reloc_code_targets(img));
    out.from_relocations = relocs.is_some();
    let gp = plan.old.gp;
    let hi20s: BTreeSet<u32> = old_values.iter().map(|&v| isa::split_hi_lo(v).0).collect();
    // Track only materialisations whose upper part can reach a moving boundary, or a data
    // word that holds one (a pointer the code may load).
    let mut near: Vec<u32> = old_values.iter().copied().collect();
    near.extend(boundary_words(img, old_values));
    let tracked = |base: u32| {
        near.iter()
            .any(|&v| (-2048..=2047).contains(&(v.wrapping_sub(base) as i32)))
    };
    let Flow {
        his,
        singles,
        loaded,
    } = dataflow(&code, gp, &tracked);
    out.loaded_words = loaded;
    let ctx = CodeCtx {
        img,
        plan,
        old_values,
        map,
        boundary_name,
        relocs,
        hi20s,
    };
    for h in &his {
        hi_site(&ctx, h, out);
    }
    for single in singles {
        single_site(&ctx, single, out);
    }
}

/// One materialisation: a site when its uses add up to a boundary, an ambiguity when they
/// come near one or share the upper part with other values.
fn hi_site(ctx: &CodeCtx, h: &Hi, out: &mut Sites) {
    let old_values = ctx.old_values;
    let relocs = &ctx.relocs;
    // Full values of each consumer.
    let vals: Vec<(u32, Inst, u32)> = h
        .consumers
        .iter()
        .map(|&(pc, c)| (pc, c, h.base.wrapping_add(c.imm as u32)))
        .collect();
    let matching: Vec<&(u32, Inst, u32)> =
        vals.iter().filter(|v| old_values.contains(&v.2)).collect();
    if let Some(rel) = &relocs {
        // Relocations decide: the hi must be relocated against a moving boundary.
        // An equal value that no relocation ties to a boundary is another number.
        if !rel.get(&h.at).is_some_and(|t| old_values.contains(t)) {
            return;
        }
    }
    beside_boundary(ctx, h, &vals, out);
    if matching.is_empty() {
        lone_hi(ctx, h, out);
        return;
    }
    pair_site(ctx, h, &vals, &matching, out);
}

/// A use that lands just beside a boundary (`_heap_end - 16`) is an address derived from it
/// that an exact rewrite would leave behind: unexplained unless relocations decide. An
/// address inside the loaded image is the image's own (it never moves), whatever boundary
/// lies next to it.
fn beside_boundary(ctx: &CodeCtx, h: &Hi, vals: &[(u32, Inst, u32)], out: &mut Sites) {
    let (plan, old_values, boundary_name) = (ctx.plan, ctx.old_values, ctx.boundary_name);
    let relocs = &ctx.relocs;
    let in_image = |v: u32| v >= plan.old.image_start && v < plan.old.image_end;
    if relocs.is_none() {
        for &(pc, _, v) in vals
            .iter()
            .filter(|x| !old_values.contains(&x.2) && !in_image(x.2))
        {
            if let Some(&b) = old_values.iter().find(|&&b| {
                let d = v.wrapping_sub(b) as i32;
                d != 0 && (-256..=256).contains(&d)
            }) {
                out.ambiguities.push(Ambiguity {
                        location: format!("{:#x}+{pc:#x}", h.at),
                        value: v,
                        why: format!(
                            "materialises {v:#x}, {} bytes from the {} value {b:#x}: an address derived from the boundary?",
                            v.wrapping_sub(b) as i32,
                            boundary_name(b)
                        ),
                        fatal: false,
                    });
            }
        }
    }
}

/// A materialisation none of whose uses adds up to a boundary: a lone `lui` equal to one (the
/// sp set-up, a relocated value, or unexplained), or a boundary's upper part with no visible
/// use.
fn lone_hi(ctx: &CodeCtx, h: &Hi, out: &mut Sites) {
    let (img, plan, old_values, map, boundary_name) = (
        ctx.img,
        ctx.plan,
        ctx.old_values,
        ctx.map,
        ctx.boundary_name,
    );
    let relocs = &ctx.relocs;
    let hi20s = &ctx.hi20s;
    let hi_inst_val = h.base;
    let loc = format!("{:#x}", h.at);
    let is_target = |pc: u32| ctx.is_target(pc);
    let unconsumed = h.consumers.is_empty();
    let allocator = plan
        .movable
        .heap_end_consts
        .iter()
        .any(|c| c.insts == [h.at]);
    let named = plan.old.sp_init.insts.contains(&h.at) || is_target(h.at).is_some() || allocator;
    if unconsumed && h.inst.op == Op::Lui && old_values.contains(&hi_inst_val) && !named {
        out.ambiguities.push(Ambiguity {
                    location: loc.clone(),
                    value: hi_inst_val,
                    why: format!(
                        "lui {},{:#x} alone loads a boundary's value with nothing added to it: the boundary, or a constant that equals it?",
                        isa::REG_NAMES[h.inst.rd as usize],
                        hi_inst_val >> 12
                    ),
                    fatal: false,
                });
    } else if unconsumed && h.inst.op == Op::Lui && old_values.contains(&hi_inst_val) {
        let v = hi_inst_val;
        if let Some(new) = map(v, &loc, out) {
            let (nh, nl) = isa::split_hi_lo(new);
            if nl == 0 {
                let ni = h.inst.with_imm((nh << 12) as i32);
                if let Some(e) = word_edit(img, h.at, h.inst, ni) {
                    out.sites.push(Site {
                                kind: SiteKind::LuiOnly,
                                location: loc.clone(),
                                addr: Some(h.at),
                                boundary: boundary_name(v),
                                old: v,
                                new,
                                confidence: Confidence::Exact,
                                why: if allocator {
                                    format!(
                                        "lui {} is the allocator's heap end, compared against the heap pointer",
                                        isa::REG_NAMES[h.inst.rd as usize]
                                    )
                                } else {
                                    format!(
                                        "lui {} sets the boundary (the sp set-up, or relocated), with no low part",
                                        isa::REG_NAMES[h.inst.rd as usize]
                                    )
                                },
                                edits: vec![e],
                            });
                }
            } else {
                out.ambiguities.push(Ambiguity {
                            location: loc.clone(),
                            value: v,
                            why: format!("lui alone materialises {v:#x}, but the new value {new:#x} has low bits: it needs an addi this instruction has not"),
                            fatal: true,
                        });
            }
        }
    } else if unconsumed
        && hi20s.contains(&(isa::split_hi_lo(hi_inst_val).0))
        && h.inst.op == Op::Lui
        && relocs.is_none()
    {
        out.ambiguities.push(Ambiguity {
                    location: loc.clone(),
                    value: hi_inst_val,
                    why: "lui with a boundary's upper 20 bits whose low part is not found (no addi/load/store reads it on every path): cannot tell what it addresses".into(),
                    fatal: false,
                });
    }
}

/// The materialisation of `matching[0]`'s boundary: its `lui`/`auipc` and every use
/// re-encoded for the new value, or an ambiguity when the upper part is shared.
fn pair_site(
    ctx: &CodeCtx,
    h: &Hi,
    vals: &[(u32, Inst, u32)],
    matching: &[&(u32, Inst, u32)],
    out: &mut Sites,
) {
    let (img, plan, map, boundary_name) = (ctx.img, ctx.plan, ctx.map, ctx.boundary_name);
    let relocs = &ctx.relocs;
    let loc = format!("{:#x}", h.at);
    let is_target = |pc: u32| ctx.is_target(pc);
    let target = matching[0].2;
    if matching.iter().any(|v| v.2 != target) || matching.len() != vals.len() {
        // The same hi serves a boundary and another value (or two boundaries): patching
        // the hi would move the others too, unless the upper part does not change.
        let Some(new) = map(target, &loc, out) else {
            return;
        };
        let (oh, _) = isa::split_hi_lo(target);
        let (nh, _) = isa::split_hi_lo(new);
        let new_upper_same = if h.inst.op == Op::Auipc {
            false
        } else {
            oh == nh
        };
        if !new_upper_same {
            out.ambiguities.push(Ambiguity {
                    location: loc.clone(),
                    value: target,
                    why: format!(
                        "{} at {:#x} is shared by {} uses of which only {} address {target:#x}: cannot move one without the others",
                        h.inst.op.mnemonic(),
                        h.at,
                        vals.len(),
                        matching.len()
                    ),
                    fatal: false,
                });
            return;
        }
    }
    let Some(new) = map(target, &loc, out) else {
        return;
    };
    // New upper part and each consumer's new low part, relative to the hi's own address
    // for auipc (psABI PCREL_HI20/LO12 semantics).
    let rel_new = if h.inst.op == Op::Auipc {
        new.wrapping_sub(h.at)
    } else {
        new
    };
    let (nh, nl) = isa::split_hi_lo(rel_new);
    let new_hi = h.inst.with_imm((nh << 12) as i32);
    let mut edits = Vec::new();
    let mut ok = true;
    if let Some(e) = word_edit(img, h.at, h.inst, new_hi) {
        if e.old != e.new {
            edits.push(e);
        }
    } else {
        ok = false;
    }
    for &(pc, c, v) in vals {
        let new_c = if v == target {
            c.with_imm(nl)
        } else {
            // Shares the hi with an unchanged upper part: keep it.
            c
        };
        match word_edit(img, pc, c, new_c) {
            Some(e) if e.old != e.new => edits.push(e),
            Some(_) => {}
            None => ok = false,
        }
    }
    if !ok {
        out.ambiguities.push(Ambiguity {
            location: loc.clone(),
            value: target,
            why: "a use of this materialisation cannot be re-encoded with the new value".into(),
            fatal: true,
        });
        return;
    }
    let is_prologue = plan.old.sp_init.insts.contains(&h.at);
    let confidence = if is_target(h.at).is_some() || is_prologue {
        Confidence::Exact
    } else {
        Confidence::High
    };
    let cons: Vec<String> = vals
        .iter()
        .filter(|v| v.2 == target)
        .map(|v| format!("{:#x}", v.0))
        .collect();
    out.sites.push(Site {
        kind: SiteKind::HiLoPair,
        location: format!("{:#x}+{}", h.at, cons.join("+")),
        addr: Some(h.at),
        boundary: boundary_name(target),
        old: target,
        new,
        confidence,
        why: if is_prologue {
            "the sp set-up in _start".into()
        } else if relocs.is_some() {
            "relocated against a boundary symbol".into()
        } else {
            format!(
                "{} + {} materialise the boundary",
                h.inst.op.mnemonic(),
                vals[0].1.op.mnemonic()
            )
        },
        edits,
    });
}

/// A gp- or x0-relative `addi` that holds a boundary.
fn single_site(ctx: &CodeCtx, (pc, i, v, kind): Single, out: &mut Sites) {
    let (img, plan, old_values, map, boundary_name) = (
        ctx.img,
        ctx.plan,
        ctx.old_values,
        ctx.map,
        ctx.boundary_name,
    );
    let relocs = &ctx.relocs;
    let gp = ctx.plan.old.gp;
    if !old_values.contains(&v) {
        return;
    }
    if let Some(r) = &relocs {
        if r.get(&pc).is_none_or(|t| !old_values.contains(t)) {
            return;
        }
    }
    let loc = format!("{pc:#x}");
    let Some(new) = map(v, &loc, out) else {
        return;
    };
    let imm = match kind {
        SiteKind::GpRelative => new.wrapping_sub(gp.unwrap_or(0)) as i32,
        _ => new as i32,
    };
    if !Inst::imm_fits(Op::Addi, imm) {
        out.ambiguities.push(Ambiguity {
                location: loc,
                value: v,
                why: format!(
                    "{} site: the new value {new:#x} is {} from {}, beyond the ±2 KiB an addi can reach; relink with -Wl,--no-relax so the linker emits a lui/auipc pair",
                    if kind == SiteKind::GpRelative { "gp-relative" } else { "x0-relative" },
                    imm,
                    if kind == SiteKind::GpRelative { "gp" } else { "zero" }
                ),
                fatal: true,
            });
        return;
    }
    if let Some(e) = word_edit(img, pc, i, i.with_imm(imm)) {
        out.sites.push(Site {
            kind,
            location: loc,
            addr: Some(pc),
            boundary: boundary_name(v),
            old: v,
            new,
            confidence: if plan.old.sp_init.insts.contains(&pc) {
                Confidence::Exact
            } else {
                Confidence::Medium
            },
            why: if kind == SiteKind::GpRelative {
                "addi from gp (linker relaxation)".into()
            } else {
                "addi from zero".into()
            },
            edits: vec![e],
        });
    }
}

/// Ranges of loaded data that may hold pointers: allocated, file-backed, non-executable
/// sections (or non-executable segments when there are no section headers).
fn data_ranges(img: &Image) -> Vec<(u32, u32)> {
    if img.sections.iter().any(|s| s.is_alloc()) {
        img.sections
            .iter()
            .filter(|s| s.is_alloc() && !s.is_nobits() && s.flags & crate::elf::SHF_EXECINSTR == 0)
            .map(|s| (s.addr, s.size))
            .collect()
    } else {
        img.loads()
            .filter(|s| !s.is_exec())
            .map(|s| (s.vaddr, s.filesz))
            .collect()
    }
}

/// Addresses of aligned data words equal to an old boundary value.
fn boundary_words(img: &Image, old_values: &BTreeSet<u32>) -> Vec<u32> {
    let mut out = Vec::new();
    for (start, size) in data_ranges(img) {
        let Some(bytes) = img.bytes_at(start, size) else {
            continue;
        };
        let skip = (start.next_multiple_of(4) - start) as usize;
        for (k, w) in bytes.get(skip..).unwrap_or(&[]).chunks_exact(4).enumerate() {
            if old_values.contains(&u32::from_le_bytes([w[0], w[1], w[2], w[3]])) {
                out.push(start + skip as u32 + 4 * k as u32);
            }
        }
    }
    out
}

fn data_sites(
    img: &Image,
    plan: &Plan,
    old_values: &BTreeSet<u32>,
    out: &mut Sites,
    map: &MapFn,
    boundary_name: &NameFn,
) {
    let r32: BTreeMap<u32, u32> = img
        .relocs
        .iter()
        .filter(|r| r.r_type == rel::R_RISCV_32)
        .map(|r| {
            (
                r.addr,
                img.symbols
                    .get(r.sym)
                    .map(|s| s.value)
                    .unwrap_or(0)
                    .wrapping_add(r.addend as u32),
            )
        })
        .collect();
    let mut words = boundary_words(img, old_values);
    // The word `_start` loads sp from is data even inside a section flagged executable (read-only
    // data linked into the text).
    if let Some(a) = plan.old.sp_init.word_addr {
        if !words.contains(&a) && img.word_at(a).is_some_and(|v| old_values.contains(&v)) {
            words.push(a);
        }
    }
    for a in words {
        let Some(v) = img.word_at(a) else { continue };
        {
            {
                let loc = format!("{a:#x}");
                let named = img
                    .symbols
                    .iter()
                    .find(|s| s.value == a && !s.name.is_empty() && s.info & 0xf == 1);
                let by_prologue = plan.old.sp_init.word_addr == Some(a);
                let by_load = out.loaded_words.contains(&a);
                let by_reloc = r32.get(&a) == Some(&v);
                if by_prologue || by_reloc || by_load || named.is_some() {
                    if let Some(new) = map(v, &loc, out) {
                        out.sites.push(Site {
                            kind: SiteKind::DataWord,
                            location: loc,
                            addr: Some(a),
                            boundary: boundary_name(v),
                            old: v,
                            new,
                            confidence: if by_prologue || by_reloc {
                                Confidence::Exact
                            } else {
                                Confidence::High
                            },
                            why: if by_prologue {
                                "the word _start loads sp from".into()
                            } else if by_reloc {
                                "R_RISCV_32 relocation against a boundary symbol".into()
                            } else if by_load {
                                "a word the code loads through its address (a pointer to the boundary)".into()
                            } else {
                                format!(
                                    "data object {} holds the boundary",
                                    named.map(|s| s.name.as_str()).unwrap_or("")
                                )
                            },
                            edits: vec![field_edit(img.file_offset(a, 4).unwrap_or(0), v, new)],
                        });
                    }
                } else if img.relocs.is_empty() || r32.contains_key(&a) {
                    out.ambiguities.push(Ambiguity {
                        location: loc,
                        value: v,
                        why: format!("a data word equal to the {} value, not named by a symbol or relocation: cannot tell whether it is the boundary or another number", boundary_name(v)),
                        fatal: false,
                    });
                }
            }
        }
    }
}

fn symbol_sites(img: &Image, plan: &Plan, out: &mut Sites) {
    let o = &plan.old;
    let named = |name: &str, value: u32| -> Option<&'static str> {
        if STACK_TOP_SYMS.contains(&name) {
            Some("stack_top")
        } else if STACK_BOTTOM_SYMS.contains(&name)
            && plan.family == Family::StackBelowHeap
            && value == o.stack_top
            && value != o.stack_bottom
        {
            // Airbender's `_sstack` names the top of a stack that lies below the heap.
            Some("stack_top")
        } else if HEAP_START_SYMS.contains(&name) {
            Some("heap_start")
        } else if STACK_BOTTOM_SYMS.contains(&name) {
            Some("stack_bottom")
        } else if HEAP_END_SYMS.contains(&name) || name == "__stack_canary" {
            // Jolt's canary sits between the heap end and the stack bottom.
            Some("heap_end")
        } else if MEMORY_TOP_SYMS.contains(&name) {
            Some("memlimit")
        } else {
            None
        }
    };
    for s in &img.symbols {
        if s.name.is_empty() {
            continue;
        }
        // A symbol moves because its name says it is a boundary, never because its value
        // equals one: `_end` or a data label such as riscv-tests' `end_signature` at the stack
        // bottom names the end of the image, which does not move.
        let Some(m) =
            named(&s.name, s.value).and_then(|b| plan.move_of(b).filter(|m| m.old == s.value))
        else {
            continue;
        };
        let (boundary, new) = (m.name, m.new);
        out.sites.push(Site {
            kind: SiteKind::Symbol,
            location: format!("symbol {}", s.name),
            addr: None,
            boundary: boundary.to_string(),
            old: s.value,
            new,
            confidence: Confidence::High,
            why: "boundary symbol".into(),
            edits: vec![field_edit(s.entry_offset + 4, s.value, new)],
        });
    }
}

/// `.heap`/`.stack` NOBITS section headers and the PT_LOAD (and NOBITS-only segments) that
/// cover them.
fn header_sites(img: &Image, plan: &Plan, out: &mut Sites) {
    let (o, n) = (&plan.old, &plan.new);
    // New extent of each region section.
    let mut moved: Vec<(u32, u32, u32, u32)> = Vec::new(); // old addr, old end, new addr, new end
    for s in img
        .sections
        .iter()
        .filter(|s| s.is_alloc() && s.is_nobits())
    {
        let (na, ne) = match s.name.as_str() {
            ".heap" if s.addr == o.heap_start && s.end() == u64::from(o.heap_end) => {
                (n.heap_start, n.heap_end)
            }
            ".stack" if s.addr == o.stack_bottom && s.end() == u64::from(o.stack_top) => {
                (n.stack_bottom, n.stack_top)
            }
            // A stack section that ends at the memory limit, a few bytes above the top the
            // prologue sets (`la sp, __memory_top - 4`), ends at the new limit.
            ".stack"
                if s.addr == o.stack_bottom
                    && s.end() == o.memlimit
                    && s.end() > u64::from(o.stack_top)
                    && s.end() - u64::from(o.stack_top) < 16 =>
            {
                (n.stack_bottom, n.memlimit as u32)
            }
            ".stack" if s.addr == o.stack_bottom && s.end() <= u64::from(o.stack_top) => {
                (n.stack_bottom, n.stack_bottom + s.size)
            }
            // Other regions between the heap end and the stack top (a guard or canary below
            // the stack) keep their place relative to the stack bottom.
            _ if !o.shared
                && s.addr >= o.heap_end
                && s.end() <= u64::from(o.stack_top)
                && s.name != ".heap" =>
            {
                let d = n.stack_bottom.wrapping_sub(o.stack_bottom);
                (s.addr.wrapping_add(d), (s.end() as u32).wrapping_add(d))
            }
            _ => continue,
        };
        moved.push((s.addr, s.end() as u32, na, ne));
        let is_heap = s.name == ".heap";
        if na != s.addr {
            out.sites.push(header_site(
                SiteKind::Section,
                format!("section {} sh_addr", s.name),
                if is_heap {
                    "heap_start"
                } else {
                    "stack_bottom"
                },
                (s.addr, na),
                "NOBITS region section",
                vec![field_edit(s.hdr_offset + 12, s.addr, na)],
            ));
        }
        if ne - na != s.size {
            out.sites.push(header_site(
                SiteKind::Section,
                format!("section {} sh_size", s.name),
                if is_heap { "heap_end" } else { "stack_top" },
                (s.size, ne - na),
                "NOBITS region section",
                vec![field_edit(s.hdr_offset + 20, s.size, ne - na)],
            ));
        }
    }
    // Family c: the writable segment ends with the heap, with or without a `.heap` section.
    if plan.family == Family::StackBelowHeap
        && !moved
            .iter()
            .any(|m| m.1 == o.heap_end && m.0 >= o.heap_start)
    {
        moved.push((o.heap_start, o.heap_end, n.heap_start, n.heap_end));
    }
    // Segments: a PT_LOAD whose memory ends at an old region end is stretched to the new end;
    // a NOBITS-only PT_LOAD holding a moved region also moves its start.
    for seg in img.segments.iter().filter(|s| s.p_type == PT_LOAD) {
        let end = seg.end() as u32;
        let covering: Vec<_> = moved
            .iter()
            .filter(|m| m.0 >= seg.vaddr && u64::from(m.1) <= seg.end())
            .collect();
        if covering.is_empty() {
            continue;
        }
        let new_end = covering
            .iter()
            .map(|m| if m.1 == end { m.3 } else { 0 })
            .max()
            .unwrap_or(0);
        let new_end = if new_end == 0 { end } else { new_end };
        // A NOBITS-only segment that begins with a moved region moves with it, by a multiple
        // of p_align so that p_vaddr stays congruent to p_offset (ELF gABI, and loaders).
        let mut new_vaddr = seg.vaddr;
        let align = i64::from(seg.align.max(1));
        if let Some(first) = covering.iter().min_by_key(|m| m.0) {
            if seg.filesz == 0 && i64::from(first.0 - seg.vaddr) < align {
                let delta = i64::from(first.2) - i64::from(first.0);
                new_vaddr = (i64::from(seg.vaddr) + delta - delta.rem_euclid(align)) as u32;
            }
        }
        let new_memsz = new_end.wrapping_sub(new_vaddr);
        if new_vaddr != seg.vaddr {
            out.sites.push(header_site(
                SiteKind::Segment,
                format!("program header {} p_vaddr", seg.index),
                "stack_bottom",
                (seg.vaddr, new_vaddr),
                "NOBITS-only PT_LOAD holding the stack",
                vec![
                    field_edit(seg.hdr_offset + 8, seg.vaddr, new_vaddr),
                    field_edit(
                        seg.hdr_offset + 12,
                        seg.paddr,
                        seg.paddr.wrapping_add(new_vaddr.wrapping_sub(seg.vaddr)),
                    ),
                ],
            ));
        }
        if new_memsz != seg.memsz {
            // Named by the region at the segment's end: the stack's top, or the heap's end.
            let ends_with_heap = new_end == plan.new.heap_end && new_end != plan.new.stack_top;
            out.sites.push(header_site(
                SiteKind::Segment,
                format!("program header {} p_memsz", seg.index),
                if ends_with_heap {
                    "heap_end"
                } else {
                    "stack_top"
                },
                (seg.memsz, new_memsz),
                if ends_with_heap {
                    "PT_LOAD ending with the heap"
                } else {
                    "PT_LOAD covering the stack"
                },
                vec![field_edit(seg.hdr_offset + 20, seg.memsz, new_memsz)],
            ));
        }
    }
}

/// Family e: the loader's stack recorded in the `PT_GNU_STACK` program header (`p_vaddr` and
/// `p_paddr` its bottom, `p_memsz` its size), which `run` and `prove` read.
fn gnu_stack_sites(img: &Image, plan: &Plan, out: &mut Sites) {
    let Some(seg) = plan
        .movable
        .gnu_stack
        .and_then(|ix| img.segments.iter().find(|s| s.index == ix))
    else {
        return;
    };
    let n = &plan.new;
    // Under ecall 0x402 only the top matters (the VM's memory top): a shared heap/stack region
    // starts at any word, the record at the next 16-byte boundary.
    let bottom = if plan.movable.vm_chooses_sp {
        n.stack_bottom.next_multiple_of(16)
    } else {
        n.stack_bottom
    };
    let size = n.stack_top - bottom;
    let why = if plan.movable.vm_chooses_sp {
        "PT_GNU_STACK records the memory top the VM gives sp (ecall 0x402)"
    } else {
        "PT_GNU_STACK records the loader's stack"
    };
    if seg.vaddr != bottom || seg.paddr != bottom {
        out.sites.push(header_site(
            SiteKind::Segment,
            format!("program header {} p_vaddr", seg.index),
            "stack_bottom",
            (seg.vaddr, bottom),
            why,
            vec![
                field_edit(seg.hdr_offset + 8, seg.vaddr, bottom),
                field_edit(seg.hdr_offset + 12, seg.paddr, bottom),
            ],
        ));
    }
    if seg.memsz != size {
        out.sites.push(header_site(
            SiteKind::Segment,
            format!("program header {} p_memsz", seg.index),
            "stack_top",
            (seg.memsz, size),
            why,
            vec![field_edit(seg.hdr_offset + 20, seg.memsz, size)],
        ));
    }
}

/// A header-field site (section or program header): always high confidence.
fn header_site(
    kind: SiteKind,
    location: String,
    boundary: &str,
    (old, new): (u32, u32),
    why: &str,
    edits: Vec<Edit>,
) -> Site {
    Site {
        kind,
        location,
        addr: None,
        boundary: boundary.into(),
        old,
        new,
        confidence: Confidence::High,
        why: why.into(),
        edits,
    }
}
