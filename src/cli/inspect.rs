//! `nexus-relink inspect IN`: the memory map of any RV32 executable (its layout family, every
//! region with bounds known, inferred or unknown and where each came from, the problems of the
//! layout as linked), the `sp` prologue, and either where the layout is encoded (the sites a
//! rewrite would patch) or why a rewrite cannot move it.

use nexus_relink::elf::Image;
use nexus_relink::isa::disasm;
use nexus_relink::layout::{Bound, Layout, MemoryBase, MemoryMap};
use nexus_relink::relink::Relinker;
use nexus_relink::size::{exact, human};
use nexus_relink::vm::Abi;
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
#[command(after_help = super::EXIT_HELP_COMMON)]
pub struct Args {
    /// Guest ELF file.
    #[arg(value_name = "IN")]
    input_elf: PathBuf,
    /// Print one JSON object instead (docs/schema/inspect.json): schema, abi, abi_evidence,
    /// entry, family, family_letter, map (family, regions, problems, notes, sp_init,
    /// sp_confirmed_by, gp), segments, rewrite (possible, refusal), sp_init, program_id (the
    /// program identity a proof of this ELF states, or null when it cannot be proven),
    /// memory_base (base, source; only when the base is not 0: the address --memlimit SIZE
    /// counts from); with a rewrite model also layout, sites, ambiguities and sites_note.
    /// On failure: the error object (docs/schema/error.json).
    #[arg(long)]
    json: bool,
    /// Also draw the memory map as an SVG picture at OUT: the segments, heap, guard gap, stack
    /// and the rest up to the memory limit, with their addresses and sizes (the layout `run`
    /// uses; the segments alone when the guest cannot start).
    #[arg(long, value_name = "OUT")]
    svg: Option<PathBuf>,
    #[command(flatten)]
    pub verbosity: super::Verbosity,
}

pub fn main(a: Args) -> i32 {
    let img = match Image::read(&a.input_elf) {
        Ok(v) => v,
        Err(e) => return super::json::fail("inspect", a.json, &e, e.exit_code()),
    };
    let map = MemoryMap::discover(&img);
    if let Some(out) = &a.svg {
        let layout = map.run.as_ref().or(map.model.as_ref()).ok();
        let bands = nexus_relink::layout::picture::bands(&img, layout);
        let title = nexus_relink::escape::path(&a.input_elf);
        let limit = layout.map_or_else(|| bands.last().map_or(0, |b| b.end), |l| l.memlimit);
        let svg = nexus_relink::layout::picture::svg(
            &format!("{title}: memory map ({})", map.family),
            &[("layout".to_string(), bands, limit)],
        );
        if let Err(e) = nexus_relink::output::write_atomic(out, svg.as_bytes(), None) {
            return super::json::fail("inspect", a.json, &e, e.exit_code());
        }
    }
    if a.json {
        super::json::emit(&report_json(&img, &map));
    } else {
        out!("{}", report_text(&img, &map));
    }
    0
}

fn bound_text(b: &Bound) -> String {
    match b {
        Bound::Known { value, .. } => format!("{value:#x}"),
        Bound::Inferred { value, .. } => format!("~{value:#x}"),
        Bound::Unknown { .. } => "unknown".into(),
    }
}

/// The map's regions, problems and notes (every family).
fn map_text(map: &MemoryMap) -> String {
    use std::fmt::Write;
    let mut o = String::new();
    let _ = writeln!(
        o,
        "\n  {:<26} {:>11} {:>11} {:>10}  where the bounds come from",
        "region", "start", "end", "size"
    );
    for r in &map.regions {
        let size = match (r.start.value(), r.end.value()) {
            // A column of ten: the rounded size; the exact bounds stand beside it.
            (Some(s), Some(e)) => human(e.saturating_sub(s)),
            _ => "?".into(),
        };
        let from = if r.start.source() == r.end.source() {
            r.start.source().to_string()
        } else {
            format!("{}; {}", r.start.source(), r.end.source())
        };
        let _ = writeln!(
            o,
            "  {:<26} {:>11} {:>11} {:>10}  {from}",
            r.name,
            bound_text(&r.start),
            bound_text(&r.end),
            size
        );
    }
    let _ = writeln!(o, "  (~ inferred, not stated by the file)");
    for p in &map.problems {
        let _ = writeln!(o, "problem: {p}");
    }
    for n in &map.notes {
        let _ = writeln!(o, "note: {n}");
    }
    o
}

/// The encodings of the layout: the sites a rewrite would patch, found by planning a probe
/// limit that moves every boundary (twice the current limit from the memory base, or half when
/// that does not fit).
fn encodings(img: &Image, l: &Layout) -> Result<nexus_relink::sites::Sites, String> {
    // Twice (or half) the memory counted from the base: an absolute doubling of a guest at
    // 0x80000000 would not fit, and halving it would fall below the image.
    let base = u64::from(MemoryBase::of(img).base);
    let size = l.memlimit.saturating_sub(base);
    let probe = if base + size * 2 <= nexus_relink::layout::MAX_MEMLIMIT {
        base + size * 2
    } else {
        base + size / 2
    };
    Relinker::new(probe)
        .plan(img)
        .map(|(_, s)| s)
        .map_err(|e| e.to_string())
}

/// `inspect --json` (`nexus-relink/inspect/v1`).
#[derive(Debug, serde::Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct InspectReport {
    /// `nexus-relink/inspect/v1`.
    #[schemars(extend("const" = "nexus-relink/inspect/v1"))]
    pub schema: String,
    /// The ABI detected (nexus, linux-rv32, ...).
    pub abi: String,
    /// Why that ABI.
    pub abi_evidence: Vec<String>,
    pub entry: u32,
    /// The layout family (stack_at_top, stack_below_program, ...).
    pub family: nexus_relink::layout::Family,
    /// Its letter, a to f (README "Layout families").
    pub family_letter: String,
    /// The memory map: family, regions, problems, notes, sp_init, sp_confirmed_by, gp.
    pub map: MemoryMap,
    /// Whether a rewrite can move this layout, and when not, why.
    pub rewrite: RewritePossible,
    /// The program headers: type, flags, offset, vaddr, filesz, memsz, align.
    pub segments: Vec<SegmentJson>,
    /// The program identity a proof of this ELF states; null when it cannot be proven.
    pub program_id: Option<String>,
    /// Where memory starts, when not at 0: {base, source}.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory_base: Option<MemoryBase>,
    /// The `sp` set-up.
    pub sp_init: nexus_relink::layout::SpInit,
    /// With a rewrite model: its layout (memlimit, image, heap and stack bounds, gp,
    /// shared_heap_stack, sources).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub layout: Option<LayoutJson>,
    /// With a rewrite model: where the layout is encoded (location, kind, boundary, value,
    /// confidence, why).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sites: Option<Vec<SiteJson>>,
    /// With a rewrite model: places that cannot be told apart from a boundary.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ambiguities: Option<Vec<nexus_relink::sites::Ambiguity>>,
    /// With a rewrite model: why the sites could not be listed, or null.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sites_note: Option<Option<String>>,
}

/// A program header.
#[derive(Debug, serde::Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SegmentJson {
    /// p_type (1 PT_LOAD, ...).
    #[serde(rename = "type")]
    pub p_type: u32,
    pub flags: u32,
    pub offset: u32,
    pub vaddr: u32,
    pub filesz: u32,
    pub memsz: u32,
    pub align: u32,
}

/// The rewrite model's layout.
#[derive(Debug, serde::Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LayoutJson {
    /// The memory top.
    pub memlimit: u64,
    pub image_start: u32,
    pub image_end: u32,
    pub heap_start: u32,
    pub heap_end: u32,
    pub stack_bottom: u32,
    pub stack_top: u32,
    pub gp: Option<u32>,
    pub shared_heap_stack: bool,
    /// Where each boundary was read from.
    pub sources: Vec<SourceJson>,
}

/// Where a boundary was read from.
#[derive(Debug, serde::Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SourceJson {
    pub field: String,
    pub source: String,
}

/// A place that encodes the layout.
#[derive(Debug, serde::Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SiteJson {
    pub location: String,
    pub kind: nexus_relink::sites::SiteKind,
    pub boundary: String,
    /// The value it holds now.
    pub value: u32,
    pub confidence: nexus_relink::sites::Confidence,
    pub why: String,
}

/// Whether a rewrite is possible.
#[derive(Debug, serde::Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RewritePossible {
    pub possible: bool,
    /// Why not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refusal: Option<String>,
}

pub fn report_json(img: &Image, map: &MemoryMap) -> InspectReport {
    let base = MemoryBase::of(img);
    let mut r = InspectReport {
        schema: super::json::id("inspect"),
        abi: Abi::detect(img).name().to_string(),
        abi_evidence: nexus_relink::abi::detect(img).evidence,
        entry: img.entry,
        family: map.family,
        family_letter: map.family.letter().to_string(),
        map: map.clone(),
        rewrite: RewritePossible {
            possible: map.model_error().is_none(),
            refusal: map.model_error().map(|e| e.to_string()),
        },
        segments: segments_json(img),
        program_id: nexus_relink::prove::program_id(img).ok(),
        memory_base: (base.base != 0).then(|| base.clone()),
        sp_init: map.sp_init.clone(),
        layout: None,
        sites: None,
        ambiguities: None,
        sites_note: None,
    };
    if let Ok(l) = &map.model {
        let (sites, ambiguities, note) = match encodings(img, l) {
            Ok(s) => (
                s.sites
                    .iter()
                    .map(|x| SiteJson {
                        location: x.location.clone(),
                        kind: x.kind,
                        boundary: x.boundary.clone(),
                        value: x.old,
                        confidence: x.confidence,
                        why: x.why.clone(),
                    })
                    .collect(),
                s.ambiguities,
                None,
            ),
            Err(e) => (Vec::new(), Vec::new(), Some(e)),
        };
        r.sp_init = l.sp_init.clone();
        r.layout = Some(LayoutJson {
            memlimit: l.memlimit,
            image_start: l.image_start,
            image_end: l.image_end,
            heap_start: l.heap_start,
            heap_end: l.heap_end,
            stack_bottom: l.stack_bottom,
            stack_top: l.stack_top,
            gp: l.gp,
            shared_heap_stack: l.shared,
            sources: l
                .sources
                .iter()
                .map(|(k, v)| SourceJson {
                    field: k.clone(),
                    source: v.clone(),
                })
                .collect(),
        });
        r.sites = Some(sites);
        r.ambiguities = Some(ambiguities);
        r.sites_note = Some(note);
    }
    r
}

fn segments_json(img: &Image) -> Vec<SegmentJson> {
    img.segments
        .iter()
        .map(|s| SegmentJson {
            p_type: s.p_type,
            flags: s.flags,
            offset: s.offset,
            vaddr: s.vaddr,
            filesz: s.filesz,
            memsz: s.memsz,
            align: s.align,
        })
        .collect()
}

pub fn report_text(img: &Image, map: &MemoryMap) -> String {
    use std::fmt::Write;
    let mut o = String::new();
    let _ = writeln!(
        o,
        "abi: {}   entry: {:#010x}   layout: {}",
        Abi::detect(img).name(),
        img.entry,
        map.family
    );
    let evidence = nexus_relink::abi::detect(img).evidence;
    if !evidence.is_empty() {
        let _ = writeln!(o, "abi from: {}", evidence.join("; "));
    }
    let base = MemoryBase::of(img);
    if base.base != 0 {
        let _ = writeln!(
            o,
            "memory base: {:#x} ({}); --memlimit SIZE counts from it (--memtop ADDR is absolute)",
            base.base, base.source
        );
    }
    o.push_str(&map_text(map));
    match &map.model {
        Ok(l) => o.push_str(&model_text(img, l, base.base)),
        Err(e) => {
            o.push_str(&sp_text(img, &map.sp_init));
            let _ = writeln!(o, "\nno rewrite possible: {e}");
        }
    }
    let _ = match nexus_relink::prove::program_id(img) {
        Ok(id) => writeln!(
            o,
            "\nprogram identity: {id}\n  (what `verify` prints for every proof of this program and layout)"
        ),
        Err(e) => writeln!(o, "\nprogram identity: none: {e}"),
    };
    o
}

/// The rewrite model: memory limit, bar, boundaries, prologue and sites.
fn model_text(img: &Image, l: &Layout, base: u32) -> String {
    use std::fmt::Write;
    let mut o = String::new();
    if base == 0 {
        let _ = writeln!(
            o,
            "\nrewrite model: memory limit {:#x} ({})",
            l.memlimit,
            exact(l.memlimit)
        );
    } else {
        let _ = writeln!(
            o,
            "\nrewrite model: memory limit {} from the memory base {base:#x} (memory top {:#x})",
            exact(l.memlimit.saturating_sub(u64::from(base))),
            l.memlimit
        );
    }
    let mut rows: Vec<(&str, u64, u64)> = vec![(
        "image (text, data, bss)",
        l.image_start.into(),
        l.image_end.into(),
    )];
    if l.shared {
        rows.push((
            "heap + stack (shared)",
            l.heap_start.into(),
            l.stack_top.into(),
        ));
    } else {
        rows.push(("heap", l.heap_start.into(), l.heap_end.into()));
        if l.guard() > 0 {
            rows.push(("guard gap", l.heap_end.into(), l.stack_bottom.into()));
        }
        rows.push(("stack", l.stack_bottom.into(), l.stack_top.into()));
    }
    if u64::from(l.stack_top) < l.memlimit && (l.shared || l.stack_top >= l.heap_end) {
        rows.push(("above stack top", l.stack_top.into(), l.memlimit));
    }
    // A stack below the heap (families b, c): the bar in address order.
    if !l.shared && l.stack_top <= l.heap_start {
        rows.sort_by_key(|r| r.1);
    }
    // Proportional bar: 64 cells over [image_start, memlimit); every region gets at least one.
    let width = 64u64;
    let span = l.memlimit.saturating_sub(u64::from(l.image_start)).max(1);
    let mut bar = String::new();
    for (name, s, e) in &rows {
        let cells = ((e.saturating_sub(*s) * width).div_ceil(span)).clamp(1, width);
        let ch = match name.split_whitespace().next() {
            Some("image") => '#',
            Some("heap") => 'h',
            Some("guard") => ' ',
            Some("stack") => 's',
            _ => '.',
        };
        bar.extend(std::iter::repeat_n(ch, cells as usize));
    }
    let _ = writeln!(o, "\n  {:#x} [{bar}] {:#x}", l.image_start, l.memlimit);
    let _ = writeln!(o, "  # image  h heap  s stack  . unused\n");
    let _ = writeln!(o, "boundaries:");
    for (field, src) in &l.sources {
        let _ = writeln!(o, "  {field:<13} {src}");
    }
    if let Some(gp) = l.gp {
        let _ = writeln!(o, "  gp            {gp:#x}");
    }
    o.push_str(&sp_text(img, &l.sp_init));
    o.push_str(&sites_text(img, l));
    o
}

fn sp_text(img: &Image, sp: &nexus_relink::layout::SpInit) -> String {
    use std::fmt::Write;
    let mut o = String::new();
    let _ = writeln!(
        o,
        "\nsp set-up: {}{}",
        sp.kind.describe(),
        sp.value.map(|v| format!(" = {v:#x}")).unwrap_or_default()
    );
    for &at in &sp.insts {
        if let Some(w) = img.word_at(at) {
            let _ = writeln!(o, "  {at:8x}:  {w:08x}  {}", disasm::disasm_word(w, at));
        }
    }
    if let Some(w) = sp.word_addr {
        let _ = writeln!(o, "  stack top word at {w:#x}");
    }
    if let Some(m) = sp.align_mask {
        let _ = writeln!(o, "  then aligned with andi sp, sp, {m}");
    }
    if let Some(e) = sp.overwrite_ecall {
        let _ = writeln!(
            o,
            "  then ecall 0x402 (overwrite sp with the VM's stack top) at {e:#x}"
        );
    }
    o
}

fn sites_text(img: &Image, l: &Layout) -> String {
    use std::fmt::Write;
    let mut o = String::new();
    match encodings(img, l) {
        Ok(s) => {
            let _ = writeln!(
                o,
                "\nwhere the layout is encoded ({} sites):",
                s.sites.len()
            );
            for x in &s.sites {
                let _ = writeln!(o, "{}", nexus_relink::report::site_line(x, false));
            }
            for a in &s.ambiguities {
                let _ = writeln!(
                    o,
                    "  ambiguous: at {}: {:#x}: {}",
                    a.location, a.value, a.why
                );
            }
        }
        Err(e) => {
            let _ = writeln!(o, "\nno rewrite possible: {e}");
        }
    }
    o
}
