//! The heap end an allocator keeps in its code (layout family b, GUESTS.md: SP1 ≤ v5 checks
//! its bump pointer against `MAX_MEMORY = 0x78000000` in `sys_alloc_aligned`).
//!
//! A constant is the heap end only when it is tied to the heap: it is materialised (a `lui`, a
//! `lui` and an `addi`, or a word loaded through a materialised address) inside a function
//! that also materialises the heap start (`_end`), or inside SP1's `sys_alloc_aligned`, and it
//! is an operand of a comparison there (a branch or `slt`/`sltu`), above the heap start and
//! outside the loaded image. Several such constants with different values are candidates,
//! never a guess: the map lists them and the rewrite refuses.

use crate::elf::Image;
use crate::isa::{self, Inst, Op};

/// Functions that are allocators by name (SP1's runtime, `zkvm/entrypoint/src/syscalls/memory.rs`).
pub const ALLOCATOR_FUNCS: &[&str] = &["sys_alloc_aligned"];

/// How far (bytes) around a heap-start materialisation an allocator reaches when the file has
/// no function symbols to bound it.
const WINDOW: u32 = 512;

/// A heap-end constant found in an allocator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeapEndConst {
    pub value: u32,
    /// The `lui` (and `addi`) that materialise it; empty for a loaded data word.
    pub insts: Vec<u32>,
    /// The data word it is loaded from, for that form.
    pub word: Option<u32>,
    /// The comparison that reads it.
    pub compare_at: u32,
    /// The function it lies in (its symbol, or an address range).
    pub function: String,
}

impl HeapEndConst {
    /// A lone `lui`: only multiples of 4 KiB can be encoded in place.
    pub fn lone_lui(&self) -> bool {
        self.insts.len() == 1 && self.word.is_none()
    }

    /// Where it is, in words (for the map's sources and refusals).
    pub fn describe(&self) -> String {
        let form = match (self.word, self.insts.as_slice()) {
            (Some(w), _) => format!("a word at {w:#x} loaded"),
            (None, [a]) => format!("lui at {a:#x}"),
            (None, [a, b, ..]) => format!("lui + addi at {a:#x}, {b:#x}"),
            (None, []) => "a constant".into(),
        };
        format!(
            "allocator constant in {}: {form}, compared against the heap pointer at {:#x}",
            crate::elf::escape(&self.function),
            self.compare_at
        )
    }
}

/// A tracked register: its constant value, the instructions that built it, the word it came
/// from.
#[derive(Clone)]
struct Val {
    value: u32,
    insts: Vec<u32>,
    word: Option<u32>,
}

/// Every heap-end candidate: constants compared in the allocators of `img`, whose heap starts
/// at `heap_start`. Sorted by address, one per materialisation.
pub fn heap_end_candidates(img: &Image, heap_start: u32) -> Vec<HeapEndConst> {
    let code: Vec<(u32, Option<Inst>)> = img
        .code_words()
        .map(|(a, w)| (a, isa::decode(w).ok()))
        .collect();
    let in_image = |v: u32| img.loads().any(|s| s.memsz > 0 && s.contains(v));
    let mut heap_refs: Vec<u32> = Vec::new();
    let mut compares: Vec<(u32, Val)> = Vec::new();
    let mut regs: Vec<Option<Val>> = vec![None; 32];
    let mut prev: Option<u32> = None;
    for &(pc, inst) in &code {
        // A gap in the code (another section) starts afresh.
        if prev.is_some_and(|p| p.wrapping_add(4) != pc) {
            regs.iter_mut().for_each(|r| *r = None);
        }
        prev = Some(pc);
        let Some(i) = inst else {
            regs.iter_mut().for_each(|r| *r = None);
            continue;
        };
        let get = |r: u8| regs[usize::from(r)].clone();
        if i.op.is_branch() || matches!(i.op, Op::Slt | Op::Sltu) {
            for r in [i.rs1, i.rs2] {
                if let Some(v) = get(r).filter(|v| v.value > heap_start && !in_image(v.value)) {
                    compares.push((pc, v));
                }
            }
        }
        let out = match i.op {
            Op::Lui => Some(Val {
                value: i.imm as u32,
                insts: vec![pc],
                word: None,
            }),
            Op::Auipc => Some(Val {
                value: pc.wrapping_add(i.imm as u32),
                insts: vec![pc],
                word: None,
            }),
            Op::Addi => get(i.rs1).filter(|v| v.word.is_none()).map(|v| {
                let mut insts = v.insts.clone();
                insts.push(pc);
                Val {
                    value: v.value.wrapping_add(i.imm as u32),
                    insts,
                    word: None,
                }
            }),
            Op::Lw => get(i.rs1)
                .filter(|v| v.word.is_none())
                .and_then(|v| {
                    let at = v.value.wrapping_add(i.imm as u32);
                    img.word_at(at).map(|w| (at, w))
                })
                .map(|(at, w)| Val {
                    value: w,
                    insts: Vec::new(),
                    word: Some(at),
                }),
            _ => None,
        };
        if let Some(v) = &out {
            if v.value == heap_start && v.word.is_none() {
                heap_refs.push(pc);
            }
        }
        if i.op.writes_rd() && i.rd != 0 {
            regs[usize::from(i.rd)] = out;
        }
        if matches!(i.op, Op::Jal | Op::Jalr) {
            // A call clobbers everything worth tracking here.
            regs.iter_mut().for_each(|r| *r = None);
        }
    }
    let funcs: Vec<&crate::elf::Symbol> = img
        .symbols
        .iter()
        .filter(|s| s.info & 0xf == 2 && s.size > 0)
        .collect();
    let func_of = |pc: u32| {
        funcs
            .iter()
            .find(|s| pc >= s.value && u64::from(pc) < u64::from(s.value) + u64::from(s.size))
    };
    let mut out: Vec<HeapEndConst> = Vec::new();
    for (at, v) in compares {
        let function = match func_of(at) {
            Some(f) => {
                let (lo, hi) = (f.value, f.value.wrapping_add(f.size));
                let allocator = ALLOCATOR_FUNCS.contains(&f.name.as_str())
                    || heap_refs.iter().any(|&r| r >= lo && r < hi);
                if !allocator {
                    continue;
                }
                f.name.clone()
            }
            None => {
                let Some(&r) = heap_refs.iter().find(|&&r| r.abs_diff(at) <= WINDOW) else {
                    continue;
                };
                format!(
                    "the code at {:#x} (the heap start is materialised at {r:#x})",
                    at
                )
            }
        };
        let c = HeapEndConst {
            value: v.value,
            insts: v.insts,
            word: v.word,
            compare_at: at,
            function,
        };
        if !out
            .iter()
            .any(|o| o.insts == c.insts && o.word == c.word && o.value == c.value)
        {
            out.push(c);
        }
    }
    out
}

/// The heap end of an allocator: one value (all candidates agree), or the candidates.
pub fn heap_end(
    img: &Image,
    heap_start: u32,
) -> Result<Option<Vec<HeapEndConst>>, Vec<HeapEndConst>> {
    let c = heap_end_candidates(img, heap_start);
    match c.first() {
        None => Ok(None),
        Some(f) if c.iter().all(|x| x.value == f.value) => Ok(Some(c)),
        Some(_) => Err(c),
    }
}
