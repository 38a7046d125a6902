//! The main job: `nexus-relink IN --memlimit SIZE -o OUT`.

use super::{parse_u32_size, ExecArgs};
use nexus_relink::elf::Image;
use nexus_relink::layout::{Layout, MemoryBase};
use nexus_relink::plan::check_region;
use nexus_relink::relink::{write_atomic, Relinker};
use nexus_relink::report::{report_json, report_text};
use nexus_relink::size::{exact, parse_memlimit};
use nexus_relink::vm::Vm;
use nexus_relink::Error;
use std::path::{Path, PathBuf};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Guest ELF to rewrite (never modified unless --in-place).
    #[arg(value_name = "IN")]
    pub input_elf: Option<PathBuf>,
    /// New memory limit: SIZE bytes counted from the guest's memory base (0 unless its memory
    /// starts elsewhere, e.g. 0x20000000 or 0x80000000; `inspect` shows it): 16M, 16MiB,
    /// 0x1000000, 16777216, 1G … or `auto` (measure in the VM). The memory then ends at base +
    /// SIZE, at most 0xfffff000 (the last page of the address space is not memory).
    #[arg(long, value_name = "SIZE|auto", value_parser = parse_limit, allow_negative_numbers = true, conflicts_with = "memtop")]
    pub memlimit: Option<Limit>,
    /// New memory top, an absolute address where memory ends (the limit whatever the base):
    /// --memtop 0x21000000 is --memlimit 16M for a guest whose memory starts at 0x20000000.
    #[arg(long, value_name = "ADDR", value_parser = parse_memlimit, allow_negative_numbers = true)]
    pub memtop: Option<u64>,
    /// Output file.
    #[arg(short = 'o', long = "output", value_name = "OUT")]
    pub output: Option<PathBuf>,
    /// Stack size (default: keep the current stack size); a multiple of 16, at least 16.
    #[arg(long, value_name = "SIZE", value_parser = parse_stack, allow_negative_numbers = true)]
    pub stack: Option<u32>,
    /// Heap size (default: everything between the image and the stack); a multiple of 16, at
    /// least 16.
    #[arg(long, value_name = "SIZE", value_parser = parse_heap, allow_negative_numbers = true)]
    pub heap: Option<u32>,
    /// Unmapped guard gap between heap and stack (default: keep the current gap); a multiple
    /// of 16 (0 for none), so the heap end stays 16-byte aligned.
    #[arg(long, value_name = "SIZE", value_parser = parse_guard, allow_negative_numbers = true)]
    pub guard: Option<u32>,
    /// With `--memlimit auto`: headroom over the measured peak stack and heap, in percent.
    #[arg(
        long,
        value_name = "PCT",
        default_value_t = 25,
        value_parser = parse_margin,
        allow_negative_numbers = true
    )]
    pub margin: u32,
    /// Print the plan and the patches without writing anything.
    #[arg(long)]
    pub dry_run: bool,
    /// List every patch (location, kind, old → new, why) with the instructions before/after.
    #[arg(long)]
    pub explain: bool,
    /// Print the report as one JSON object (docs/schema/rewrite.json); on failure the error
    /// object (docs/schema/error.json).
    #[arg(long)]
    pub json: bool,
    /// Rewrite even when some occurrences of an old boundary value cannot be explained (they
    /// are left unchanged and listed).
    #[arg(long)]
    pub force: bool,
    /// Allow the output to be the input file (replaced atomically).
    #[arg(long)]
    pub in_place: bool,
    /// Also draw the memory map before and after the rewrite as an SVG picture at this path
    /// (side by side: segments, heap, guard gap, stack, the limit, with addresses and sizes).
    #[arg(long, value_name = "SVG")]
    pub svg: Option<PathBuf>,
    #[command(flatten)]
    pub exec: ExecArgs,
    #[command(flatten)]
    pub verbosity: super::Verbosity,
}

/// `--memlimit`: a size from the memory base or `auto`; `--memtop`: an absolute top.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    Auto,
    Bytes(u64),
    Top(u64),
}

fn parse_limit(s: &str) -> Result<Limit, String> {
    if s.trim().eq_ignore_ascii_case("auto") {
        return Ok(Limit::Auto);
    }
    parse_memlimit(s).map(Limit::Bytes)
}

fn parse_margin(s: &str) -> Result<u32, String> {
    let v = nexus_relink::size::parse_count(s, "margin")?;
    u32::try_from(v).map_err(|_| format!("invalid margin '{s}': too large (at most {})", u32::MAX))
}

fn parse_region(what: &'static str, s: &str) -> Result<u32, String> {
    let v = parse_u32_size(s)?;
    check_region(what, v).map_err(|e| e.to_string())?;
    Ok(v)
}

fn parse_guard(s: &str) -> Result<u32, String> {
    let v = parse_u32_size(s)?;
    nexus_relink::plan::check_guard(v).map_err(|e| e.to_string())?;
    Ok(v)
}

fn parse_stack(s: &str) -> Result<u32, String> {
    parse_region("stack", s)
}

fn parse_heap(s: &str) -> Result<u32, String> {
    parse_region("heap", s)
}

/// `--json` of a rewrite (`nexus-relink/rewrite/v1`): the plan, every patch and where the
/// output went.
#[derive(Debug, serde::Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RewriteReport {
    /// `nexus-relink/rewrite/v1`.
    #[schemars(extend("const" = "nexus-relink/rewrite/v1"))]
    pub schema: String,
    /// The request: memlimit (the memory top), base (when not 0), stack, heap, guard.
    pub request: nexus_relink::plan::Request,
    /// The layout before.
    pub old: nexus_relink::report::LayoutJson,
    /// The layout after.
    pub new: nexus_relink::report::LayoutJson,
    /// Each boundary that moves: its old and new value.
    pub moves: Vec<nexus_relink::plan::Move>,
    pub notes: Vec<String>,
    pub warnings: Vec<String>,
    /// The sites were found through the relocations (`-Wl,-q`).
    pub from_relocations: bool,
    /// Every patch: location, kind, boundary, old, new, confidence, why, edits, instructions.
    pub sites: Vec<nexus_relink::report::SiteJson>,
    /// With `--force`: the places left unchanged.
    pub forced_ambiguities: Vec<nexus_relink::sites::Ambiguity>,
    /// With `--memlimit auto`: what the run measured.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub measured: Option<Measured>,
    /// The file written, or null (`--dry-run`).
    pub output: Option<String>,
}

/// What `--memlimit auto` measured.
#[derive(Debug, Clone, serde::Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Measured {
    pub peak_stack_bytes: u32,
    pub peak_heap_bytes: u32,
    pub cycles: u64,
    pub margin_percent: u32,
    /// The limit chosen, from the memory base.
    pub memlimit: u64,
}

impl RewriteReport {
    fn new(
        rw: &nexus_relink::relink::Rewrite,
        measured: Option<Measured>,
        output: Option<String>,
    ) -> RewriteReport {
        let r = report_json(rw);
        RewriteReport {
            schema: super::json::id("rewrite"),
            request: r.request,
            old: r.old,
            new: r.new,
            moves: r.moves,
            notes: r.notes,
            warnings: r.warnings,
            from_relocations: r.from_relocations,
            sites: r.sites,
            forced_ambiguities: r.forced_ambiguities,
            measured,
            output,
        }
    }
}

pub fn main(a: Args) -> i32 {
    match go(&a) {
        Ok(code) => code,
        // Whatever went wrong after the input was read is said of it.
        Err(e) => {
            let e = match &a.input_elf {
                Some(input) => e.about(input),
                None => e,
            };
            super::json::fail("rewrite", a.json, &e, e.exit_code())
        }
    }
}

fn go(a: &Args) -> Result<i32, Error> {
    let usage = |m: &str| Error::Usage(m.to_string());
    let input = a
        .input_elf
        .as_ref()
        .ok_or_else(|| usage("missing input ELF; see --help"))?;
    let limit = match (a.memlimit, a.memtop) {
        (Some(l), _) => l,
        (None, Some(t)) => Limit::Top(t),
        (None, None) => return Err(usage(
            "missing --memlimit SIZE (e.g. --memlimit 16M, or --memlimit auto) or --memtop ADDR",
        )),
    };
    let output = match (&a.output, a.in_place, a.dry_run) {
        (Some(o), _, _) => Some(o.clone()),
        (None, true, _) => Some(input.clone()),
        (None, false, true) => None,
        (None, false, false) => return Err(usage("missing -o OUT (or --in-place, or --dry-run)")),
    };
    if let Some(o) = &output {
        // Before any work: a path that is not a regular file is refused, untouched.
        if !a.dry_run {
            nexus_relink::output::check_output(o)?;
        }
        if same_file(o, input) && !a.in_place {
            return Err(usage(&format!(
                "the output {} is the input file; pass --in-place to replace it",
                nexus_relink::escape::path(o)
            )));
        }
    }
    if let Some(p) = &a.svg {
        nexus_relink::output::check_output(p)?;
    }
    let img = Image::read(input)?;
    let mut relinker = Relinker::default().force(a.force);
    relinker.request.stack = a.stack;
    relinker.request.heap = a.heap;
    relinker.request.guard = a.guard;
    let base = MemoryBase::of(&img);
    relinker.request.base = base.base;
    let mut measured = None;
    match limit {
        Limit::Auto => {
            let (req, m) = auto_limit(&img, a, &base)?;
            relinker.request = req;
            measured = Some(m);
        }
        Limit::Bytes(b) => relinker.request.memlimit = base.top(b).map_err(Error::Usage)?,
        Limit::Top(t) => relinker.request.memlimit = t,
    }
    let rw = relinker.rewrite(&img)?;
    if measured.is_some() {
        confirm_auto(&img, &rw.bytes, a)?;
    }
    if let Some(p) = &a.svg {
        write_atomic(p, before_after_svg(&img, &rw, input)?.as_bytes(), None)?;
    }
    if let Some(o) = output.as_ref().filter(|_| !a.dry_run) {
        write_atomic(o, &rw.bytes, Some(input))?;
    }
    if a.json {
        let written = output
            .as_ref()
            .filter(|_| !a.dry_run)
            .map(|p| p.display().to_string());
        super::json::emit(&RewriteReport::new(&rw, measured, written));
    } else {
        if let Some(m) = measured.as_ref().filter(|_| !super::quiet()) {
            let top = rw.plan.request.memlimit;
            let size = top - u64::from(base.base);
            let from = if base.base == 0 {
                String::new()
            } else {
                format!(" from the memory base {:#x}, top {top:#x}", base.base)
            };
            eprintln!(
                "nexus-relink: measured peak stack {}, peak heap {} in {} cycles; with a {}% margin: memory limit {size:#x} ({}){from}",
                exact(m.peak_stack_bytes.into()), exact(m.peak_heap_bytes.into()), m.cycles, a.margin, exact(size)
            );
            for line in shrink_report(&rw.plan.old, &rw.plan.new) {
                eprintln!("nexus-relink: {line}");
            }
        }
        out!(
            "{}",
            report_text(&rw, a.explain || a.dry_run || super::verbose())
        );
        match (&output, a.dry_run) {
            (_, true) => outln!("dry run: nothing written"),
            (Some(o), false) => outln!("wrote {}", nexus_relink::escape::path(o)),
            _ => {}
        }
    }
    Ok(0)
}

/// `--memlimit auto`: what it shrank (or grew), region by region, and a warning where a
/// region shrinks by more than 4×: the measured run's needs are all it keeps, so another
/// input may need more.
fn shrink_report(old: &Layout, new: &Layout) -> Vec<String> {
    let mut out = Vec::new();
    let regions: Vec<(&str, u32, u32, &str)> = if old.shared {
        vec![(
            "heap and stack",
            old.stack_top.saturating_sub(old.heap_start),
            new.stack_top.saturating_sub(new.heap_start),
            "--memlimit SIZE",
        )]
    } else {
        vec![
            ("stack", old.stack_size(), new.stack_size(), "--stack SIZE"),
            ("heap", old.heap_size(), new.heap_size(), "--heap SIZE"),
        ]
    };
    for (name, was, now, knob) in regions {
        if was == now {
            continue;
        }
        out.push(format!(
            "--memlimit auto: {name} {} -> {}",
            exact(was.into()),
            exact(now.into())
        ));
        if u64::from(now) * 4 < u64::from(was) {
            out.push(format!(
                "warning: the {name} shrank {:.0}x, to what this run used plus the margin; a run with other input may need more: give {knob} to keep room",
                f64::from(was) / f64::from(now.max(1))
            ));
        }
    }
    out
}

/// `--svg`: the layouts before and after, side by side.
fn before_after_svg(
    img: &Image,
    rw: &nexus_relink::relink::Rewrite,
    input: &Path,
) -> Result<String, Error> {
    use nexus_relink::layout::picture;
    let new = Image::parse(rw.bytes.clone())?;
    let after = nexus_relink::layout::MemoryMap::discover(&new);
    let after_l = after.run.as_ref().unwrap_or(&rw.plan.new);
    let before_map = nexus_relink::layout::MemoryMap::discover(img);
    let before_l = before_map.run.as_ref().unwrap_or(&rw.plan.old);
    Ok(picture::svg(
        &format!(
            "{}: --memlimit {:#x}",
            nexus_relink::escape::path(input),
            rw.plan.request.memlimit
        ),
        &[
            (
                "before".to_string(),
                picture::bands(img, Some(before_l)),
                before_l.memlimit,
            ),
            (
                "after".to_string(),
                picture::bands(&new, Some(after_l)),
                after_l.memlimit,
            ),
        ],
    ))
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(x), Ok(y)) => x == y,
        _ => false,
    }
}

/// `--memlimit auto`: the rewritten guest must behave as the original under its new limit.
fn confirm_auto(img: &Image, out: &[u8], a: &Args) -> Result<(), Error> {
    let new = Image::parse(out.to_vec())?;
    let run = |i: &Image| -> Result<nexus_relink::vm::RunResult, Error> {
        let l = Layout::discover(i)?;
        Ok(Vm::new(i, &l, a.exec.config()?)?.run())
    };
    let (before, after) = (run(img)?, run(&new)?);
    if let Some(f) = after.fault {
        return Err(Error::Usage(format!(
            "--memlimit auto: the guest faults under the chosen limit ({}); raise --margin",
            f.message
        )));
    }
    if (before.stdout, before.exit_code, before.public_output)
        != (after.stdout, after.exit_code, after.public_output)
    {
        return Err(Error::Usage(
            "--memlimit auto: the rewritten guest's output differs from the original's; nothing written".into(),
        ));
    }
    Ok(())
}

/// `--memlimit auto`: run the guest under its own layout, measure, add the margin.
fn auto_limit(
    img: &Image,
    a: &Args,
    base: &MemoryBase,
) -> Result<(nexus_relink::plan::Request, Measured), Error> {
    let layout = Layout::discover(img)?;
    let family = nexus_relink::layout::MemoryMap::discover(img).family;
    if matches!(family.letter(), 'b' | 'c' | 'e') {
        // The measurement sizes a stack at the top and the heap below it (family a).
        return Err(Error::Usage(format!(
            "--memlimit auto sizes a stack at the top of memory; this guest's layout is {family}: give --memlimit SIZE (or --memtop ADDR)"
        )));
    }
    let cfg = a.exec.config()?;
    let r = Vm::new(img, &layout, cfg)?.run();
    if let Some(f) = &r.fault {
        return Err(Error::Usage(format!(
            "--memlimit auto: the guest did not finish under its current layout: {}",
            f.message
        )));
    }
    let with_margin = |v: u32| -> u64 {
        (u64::from(v) * (100 + u64::from(a.margin)))
            .div_ceil(100)
            .next_multiple_of(16)
    };
    let stack = a
        .stack
        .map(u64::from)
        .unwrap_or_else(|| with_margin(r.peak_stack_bytes).max(256));
    let heap = a
        .heap
        .map(u64::from)
        .unwrap_or_else(|| with_margin(r.peak_heap_bytes));
    let guard = if layout.shared {
        0
    } else {
        u64::from(a.guard.unwrap_or(layout.guard()))
    };
    let need = u64::from(layout.heap_start.max(layout.image_end)) + heap + guard + stack;
    let memlimit = need.next_multiple_of(4096);
    if memlimit > nexus_relink::layout::MAX_MEMLIMIT {
        let b = u64::from(base.base);
        return Err(Error::Usage(format!(
            "--memlimit auto: the run used a {} stack and a {} heap (up to {:#x}); with a {}% margin that needs a memory limit of {:#x}, above the largest, {:#x}: give --memlimit (and --heap) yourself, or a smaller --margin",
            exact(u64::from(r.peak_stack_bytes)),
            exact(u64::from(r.peak_heap_bytes)),
            u64::from(layout.heap_start) + u64::from(r.peak_heap_bytes),
            a.margin,
            memlimit - b,
            nexus_relink::layout::MAX_MEMLIMIT - b
        )));
    }
    let req = nexus_relink::plan::Request {
        memlimit,
        base: base.base,
        stack: (!layout.shared).then_some(stack as u32),
        heap: None,
        guard: a.guard,
    };
    let m = Measured {
        peak_stack_bytes: r.peak_stack_bytes,
        peak_heap_bytes: r.peak_heap_bytes,
        cycles: r.cycles,
        margin_percent: a.margin,
        memlimit: memlimit - u64::from(base.base),
    };
    Ok((req, m))
}
