//! Reports of a rewrite: the human summary (with `--explain`, every patch and the instructions
//! before and after) and the JSON object of `--json`. Snapshot tests pin both.

use crate::isa::disasm::disasm;
use crate::layout::Layout;
use crate::relink::Rewrite;
use crate::size::exact;

/// The JSON report of a rewrite (`--json` adds `schema`, `measured` and `output`).
#[derive(Debug, Clone, serde::Serialize, schemars::JsonSchema)]
pub struct RewriteJson {
    pub request: crate::plan::Request,
    /// The layout before.
    pub old: LayoutJson,
    /// The layout after.
    pub new: LayoutJson,
    /// Each boundary that moves.
    pub moves: Vec<crate::plan::Move>,
    pub notes: Vec<String>,
    pub warnings: Vec<String>,
    /// The sites were found through the relocations (`-Wl,-q`).
    pub from_relocations: bool,
    /// Every patch, with the instructions it changes.
    pub sites: Vec<SiteJson>,
    /// With `--force`: the places left unchanged.
    pub forced_ambiguities: Vec<crate::sites::Ambiguity>,
}

/// A layout's boundaries in a report.
#[derive(Debug, Clone, serde::Serialize, schemars::JsonSchema)]
pub struct LayoutJson {
    /// The memory top.
    pub memlimit: u64,
    pub stack_top: u32,
    pub stack_bottom: u32,
    pub heap_start: u32,
    pub heap_end: u32,
    pub image_end: u32,
    pub shared_heap_stack: bool,
}

/// A patched site and the instructions it changes.
#[derive(Debug, Clone, serde::Serialize, schemars::JsonSchema)]
pub struct SiteJson {
    #[serde(flatten)]
    pub site: crate::sites::Site,
    pub instructions: Vec<InstructionJson>,
}

/// One instruction a site changes, disassembled.
#[derive(Debug, Clone, serde::Serialize, schemars::JsonSchema)]
pub struct InstructionJson {
    pub addr: u32,
    pub before: String,
    pub after: String,
}

pub fn report_json(rw: &Rewrite) -> RewriteJson {
    let sites = rw
        .sites
        .sites
        .iter()
        .map(|s| SiteJson {
            site: s.clone(),
            instructions: s
                .edits
                .iter()
                .filter_map(|e| {
                    e.inst.map(|(pc, b, n)| InstructionJson {
                        addr: pc,
                        before: disasm(&b, pc),
                        after: disasm(&n, pc),
                    })
                })
                .collect(),
        })
        .collect();
    RewriteJson {
        request: rw.plan.request.clone(),
        old: layout_json(&rw.plan.old),
        new: layout_json(&rw.plan.new),
        moves: rw.plan.moves.clone(),
        notes: rw.plan.notes.clone(),
        warnings: rw.warnings.clone(),
        from_relocations: rw.sites.from_relocations,
        sites,
        forced_ambiguities: rw.forced.clone(),
    }
}

fn layout_json(l: &Layout) -> LayoutJson {
    LayoutJson {
        memlimit: l.memlimit,
        stack_top: l.stack_top,
        stack_bottom: l.stack_bottom,
        heap_start: l.heap_start,
        heap_end: l.heap_end,
        image_end: l.image_end,
        shared_heap_stack: l.shared,
    }
}

/// One site on a line: location, kind, boundary, old value (`-> new` when `with_new`),
/// confidence and why. Shared by the rewrite report and `inspect`.
pub fn site_line(site: &crate::sites::Site, with_new: bool) -> String {
    let values = if with_new {
        format!("{:#x} -> {:#x}", site.old, site.new)
    } else {
        format!("{:#x}", site.old)
    };
    format!(
        "  {:<28} {:<12} {:<18} {values}  [{}] {}",
        site.location,
        name(&site.kind),
        site.boundary,
        name(&site.confidence),
        site.why
    )
}

/// The name of an enum value as `--json` gives it (`hi_lo_pair`, `exact`), for the text
/// reports: one name for a thing in both.
pub fn name<T: serde::Serialize>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(serde_json::Value::String(s)) => s,
        _ => String::new(),
    }
}

/// The human report: the layout change, every patch on a line, and with `explain` the bytes and
/// instructions each patch changes.
pub fn report_text(rw: &Rewrite, explain: bool) -> String {
    use std::fmt::Write;
    let (o, n) = (&rw.plan.old, &rw.plan.new);
    let mut s = String::new();
    let base = u64::from(rw.plan.request.base);
    if base == 0 {
        let _ = writeln!(
            s,
            "memory limit  {:#x} ({}) -> {:#x} ({})",
            o.memlimit,
            exact(o.memlimit),
            n.memlimit,
            exact(n.memlimit)
        );
    } else {
        let _ = writeln!(
            s,
            "memory limit  {} -> {} from the memory base {base:#x} (memory top {:#x} -> {:#x})",
            exact(o.memlimit.saturating_sub(base)),
            exact(n.memlimit.saturating_sub(base)),
            o.memlimit,
            n.memlimit
        );
    }
    let range =
        |a: u32, b: u32| format!("{a:#x}..{b:#x} ({})", exact(u64::from(b.saturating_sub(a))));
    if o.shared {
        let _ = writeln!(
            s,
            "heap + stack  shared region {} -> {}",
            range(o.heap_start, o.stack_top),
            range(n.heap_start, n.stack_top)
        );
    } else {
        let _ = writeln!(
            s,
            "stack         {} -> {}",
            range(o.stack_bottom, o.stack_top),
            range(n.stack_bottom, n.stack_top)
        );
        let _ = writeln!(
            s,
            "heap          {} -> {}",
            range(o.heap_start, o.heap_end),
            range(n.heap_start, n.heap_end)
        );
    }
    for note in &rw.plan.notes {
        let _ = writeln!(s, "note: {note}");
    }
    for w in &rw.warnings {
        let _ = writeln!(s, "warning: {w}");
    }
    let count = |c| rw.sites.sites.iter().filter(|x| x.confidence == c).count();
    use crate::sites::Confidence::*;
    let _ = writeln!(
        s,
        "{} sites patched ({} exact, {} high, {} medium){}",
        rw.sites.sites.len(),
        count(Exact),
        count(High),
        count(Medium),
        if rw.sites.from_relocations {
            "; relocations used as the source of truth"
        } else {
            ""
        }
    );
    // Every patch, one line each; `explain` adds the bytes and instructions it changes.
    for site in &rw.sites.sites {
        let _ = writeln!(s, "{}", site_line(site, true));
        if !explain {
            continue;
        }
        for e in &site.edits {
            match e.inst {
                Some((pc, b, n)) => {
                    let _ = writeln!(
                        s,
                        "      {pc:8x}: {:08x} {:<28} -> {:08x} {}",
                        e.old,
                        disasm(&b, pc),
                        e.new,
                        disasm(&n, pc)
                    );
                }
                None => {
                    let _ = writeln!(
                        s,
                        "      file offset {:#x}: {:#x} -> {:#x}",
                        e.offset, e.old, e.new
                    );
                }
            }
        }
    }
    for a in &rw.forced {
        let _ = writeln!(
            s,
            "warning: left unchanged (--force): at {}: {:#x}: {}",
            a.location, a.value, a.why
        );
    }
    s
}
