//! Validate: re-parse and re-discover the patched file and check it is what the plan promised,
//! judging the patch, not the input (a defect the input already has is a warning carried
//! through).

use super::relink::RelinkError;
use crate::elf::Image;
use crate::isa;
use crate::layout::Layout;
use crate::plan::Plan;
use crate::sites::Site;

/// Re-parse and re-discover the output; check it is what the plan promised. A rule the
/// output breaks is an error when the input keeps it (the patch broke it), and a warning (in
/// the returned list) when the input already breaks it the same way (the output keeps the
/// input's defect, which the rewrite did not touch).
pub(crate) fn validate(
    img: &Image,
    plan: &Plan,
    sites: &[Site],
    bytes: &[u8],
) -> Result<Vec<String>, RelinkError> {
    check(img, plan, sites, bytes).map_err(|e| {
        match (e, input_defects(img, &plan.old).into_iter().next()) {
            // The input breaks a rule of its own: the output's failure is the input's, not the
            // rewrite's.
            (RelinkError::Validation(rule), Some(defect)) => {
                RelinkError::InputDefect { defect, rule }
            }
            (e, _) => e,
        }
    })
}

/// Defects of the input that can make its rewrite break a rule the output is checked for:
/// header fields ELF does not allow, sections the program headers do not cover as the section
/// headers say, and region sections that disagree with the layout's own bounds (`old`).
pub(crate) fn input_defects(img: &Image, old: &Layout) -> Vec<String> {
    use crate::elf::{PF_R, PF_W, PF_X, SHF_WRITE};
    let mut out = Vec::new();
    // A `.heap`/`.stack` section that starts at its region's start but ends elsewhere than the
    // region's end: the section table and the other sources of the layout disagree.
    for (name, start, end, what) in [
        (".heap", old.heap_start, old.heap_end, "heap end"),
        (".stack", old.stack_bottom, old.stack_top, "stack top"),
    ] {
        if let Some(sec) = img.section(name).filter(|s| s.is_alloc() && !old.shared) {
            if sec.addr == start && sec.end() != u64::from(end) {
                out.push(format!(
                    "section {name} ({:#x}..{:#x}) does not end at the {what} {end:#x} ({})",
                    sec.addr,
                    sec.end(),
                    old.source(if name == ".heap" {
                        "heap_end"
                    } else {
                        "stack_top"
                    })
                ));
            }
        }
    }
    for s in img.loads() {
        if s.align > 1 && !s.align.is_power_of_two() {
            out.push(format!(
                "program header {}: p_align {:#x} is not a power of two",
                s.index, s.align
            ));
        }
        // Bits outside R, W, X and the OS- and processor-specific masks.
        let unknown = s.flags & !(PF_R | PF_W | PF_X) & 0x000f_fff8;
        if unknown != 0 {
            out.push(format!(
                "program header {}: p_flags {:#x} has bits ELF does not define ({unknown:#x})",
                s.index, s.flags
            ));
        }
    }
    for sec in img.sections.iter().filter(|s| s.is_alloc() && s.size > 0) {
        let holder = img
            .loads()
            .find(|s| s.contains(sec.addr) && sec.end() <= s.end());
        match holder {
            None => out.push(format!(
                "section {} ({:#x}..{:#x}) lies outside every PT_LOAD",
                crate::elf::escape(&sec.name),
                sec.addr,
                sec.end()
            )),
            Some(seg) if sec.flags & u64::from(SHF_WRITE) as u32 != 0 && seg.flags & PF_W == 0 => {
                out.push(format!(
                    "section {} is writable but its PT_LOAD (program header {}) is not",
                    crate::elf::escape(&sec.name),
                    seg.index
                ))
            }
            Some(_) => {}
        }
    }
    out
}

fn check(
    img: &Image,
    plan: &Plan,
    sites: &[Site],
    bytes: &[u8],
) -> Result<Vec<String>, RelinkError> {
    let bad = |m: String| Err(RelinkError::Validation(m));
    let mut warnings = Vec::new();
    let new = match Image::parse(bytes.to_vec()) {
        Ok(i) => i,
        Err(e) => return bad(format!("the output does not parse: {e}")),
    };
    // Loadable segments keep p_offset ≡ p_vaddr (mod p_align) and file bytes inside the file.
    let incongruent =
        |s: &crate::elf::Segment| s.align > 1 && s.offset % s.align != s.vaddr % s.align;
    for seg in new.loads() {
        if incongruent(seg) {
            let what = format!(
                "program header {}: p_offset {:#x} and p_vaddr {:#x} differ modulo p_align {:#x}",
                seg.index, seg.offset, seg.vaddr, seg.align
            );
            let before = img.loads().find(|s| s.index == seg.index);
            if before
                .is_some_and(|s| incongruent(s) && s.offset == seg.offset && s.align == seg.align)
            {
                warnings.push(format!(
                    "the input already has this defect, kept as is: {what}"
                ));
            } else {
                return bad(what);
            }
        }
    }
    // Only planned bytes differ.
    let planned: std::collections::BTreeSet<usize> = sites
        .iter()
        .flat_map(|s| s.edits.iter().flat_map(|e| e.offset..e.offset + e.len))
        .collect();
    if let Some(off) = (0..bytes.len()).find(|&i| bytes[i] != img.bytes[i] && !planned.contains(&i))
    {
        return bad(format!(
            "byte at offset {off:#x} changed without a planned edit"
        ));
    }
    // Patched instructions keep their opcode and registers.
    for e in sites.iter().flat_map(|s| &s.edits) {
        if let Some((addr, before, _)) = e.inst {
            match isa::decode(e.new) {
                Ok(after)
                    if after.op == before.op
                        && after.rd == before.rd
                        && after.rs1 == before.rs1
                        && after.rs2 == before.rs2 => {}
                other => {
                    let after = match other {
                        Ok(i) => crate::isa::disasm::disasm(&i, addr),
                        Err(_) => format!("the undecodable word {:#010x}", e.new),
                    };
                    return bad(format!(
                        "patched instruction at {addr:#x} changed shape: {} became {after}",
                        crate::isa::disasm::disasm(&before, addr)
                    ));
                }
            }
        }
    }
    // Section-to-segment membership and permissions unchanged for loaded sections.
    for (a, b) in img.sections.iter().zip(&new.sections) {
        if a.is_alloc() && !a.is_nobits() && (a.addr, a.size, a.flags) != (b.addr, b.size, b.flags)
        {
            return bad(format!("section {} moved", a.name));
        }
        let outside = |i: &Image, sec: &crate::elf::Section| {
            sec.is_alloc()
                && sec.size > 0
                && !i
                    .loads()
                    .any(|s| s.contains(sec.addr) && sec.end() <= s.end())
        };
        if outside(&new, b) {
            let what = format!(
                "section {} ({:#x}..{:#x}) is outside every PT_LOAD",
                b.name,
                b.addr,
                b.end()
            );
            if outside(img, a) && (a.addr, a.size) == (b.addr, b.size) {
                warnings.push(format!(
                    "the input already has this defect, kept as is: {what}"
                ));
            } else if outside(img, a) && a.addr == b.addr {
                warnings.push(format!(
                    "the input already has this defect, kept as the region moves: {what} (in the input {:#x}..{:#x})",
                    a.addr,
                    a.end()
                ));
            } else {
                return bad(what);
            }
        }
    }
    let got = match Layout::discover(&new) {
        Ok(l) => l,
        Err(e) => return bad(format!("layout discovery on the output failed: {e}")),
    };
    let want = &plan.new;
    let fields = |l: &Layout| {
        (
            l.memlimit,
            l.image_start,
            l.image_end,
            l.heap_start,
            l.heap_end,
            l.stack_bottom,
            l.stack_top,
            l.shared,
            l.sp_init.kind,
            l.sp_init.value,
        )
    };
    if fields(&got) != fields(want) {
        return bad(format!(
            "the rewritten layout differs from the plan: got memlimit {:#x}, heap {:#x}..{:#x}, stack {:#x}..{:#x}, sp {}; planned memlimit {:#x}, heap {:#x}..{:#x}, stack {:#x}..{:#x}, sp {}",
            got.memlimit, got.heap_start, got.heap_end, got.stack_bottom, got.stack_top, sp_text(got.sp_init.value),
            want.memlimit, want.heap_start, want.heap_end, want.stack_bottom, want.stack_top, sp_text(want.sp_init.value)
        ));
    }
    Ok(warnings)
}

fn sp_text(v: Option<u32>) -> String {
    v.map_or_else(|| "not constant".into(), |v| format!("{v:#x}"))
}
