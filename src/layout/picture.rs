//! Pictures of a memory layout: an SVG drawing of the regions a guest's memory is made of
//! (loaded segments, heap, guard gap, stack, the memory above the stack top), one column per
//! layout, so a rewrite can be shown before and after side by side.
//!
//! Addresses grow upwards, as memory maps are usually drawn. A region's height follows the
//! square root of its size (with a floor), so a 4 KiB segment and a 2 GiB heap both stay
//! readable; every region is labelled with its name, its bounds and its size, and the picture
//! says that heights are not to scale. Text is escaped by the `svg` crate (names read from a
//! file may hold any byte).

use super::Layout;
use crate::elf::{Image, PF_W, PF_X};
use svg::node::element::{Group, Rectangle, Text as TextEl, Title};
use svg::node::Text;
use svg::Document;

/// What a band of memory is, for its colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BandKind {
    Code,
    Data,
    Heap,
    Guard,
    Stack,
    /// Heap and stack in one region, growing toward each other.
    Shared,
    /// Inside the memory limit, above the stack top (or past everything else).
    Unused,
}

impl BandKind {
    fn fill(self) -> &'static str {
        match self {
            BandKind::Code => "#8fb3de",
            BandKind::Data => "#b7d7a8",
            BandKind::Heap => "#f6d48f",
            BandKind::Guard => "#e8e8e8",
            BandKind::Stack => "#f4a582",
            BandKind::Shared => "#f9c89b",
            BandKind::Unused => "#ffffff",
        }
    }
}

/// One region of a column: `[start, end)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Band {
    pub name: String,
    pub start: u64,
    pub end: u64,
    pub kind: BandKind,
}

/// The regions of `l` over the image `img`: each loaded segment (code, or data), the heap,
/// the guard gap, the stack (or the shared heap/stack region) and the memory above the stack
/// top up to the limit, in address order; the segments alone without a layout.
pub fn bands(img: &Image, l: Option<&Layout>) -> Vec<Band> {
    let mut out: Vec<Band> = img
        .loads()
        .filter(|s| s.memsz > 0)
        .map(|s| Band {
            name: format!(
                "segment {} ({}{}{})",
                s.index,
                "R",
                if s.flags & PF_W != 0 { "W" } else { "-" },
                if s.flags & PF_X != 0 { "X" } else { "-" }
            ),
            start: u64::from(s.vaddr),
            end: u64::from(s.vaddr) + u64::from(s.memsz),
            kind: if s.flags & PF_X != 0 {
                BandKind::Code
            } else {
                BandKind::Data
            },
        })
        .collect();
    let Some(l) = l else {
        // No layout (a map that cannot start): the segments alone.
        out.sort_by_key(|b| (b.start, b.end));
        return out;
    };
    let mut add = |name: &str, start: u64, end: u64, kind: BandKind| {
        if end > start {
            out.push(Band {
                name: name.into(),
                start,
                end,
                kind,
            });
        }
    };
    if l.shared {
        add(
            "heap + stack (shared)",
            l.heap_start.into(),
            l.stack_top.into(),
            BandKind::Shared,
        );
    } else {
        add(
            "heap",
            l.heap_start.into(),
            l.heap_end.into(),
            BandKind::Heap,
        );
        if l.guard() > 0 {
            add(
                "guard gap",
                l.heap_end.into(),
                l.stack_bottom.into(),
                BandKind::Guard,
            );
        }
        add(
            "stack",
            l.stack_bottom.into(),
            l.stack_top.into(),
            BandKind::Stack,
        );
    }
    let top = out.iter().map(|b| b.end).max().unwrap_or(0);
    if l.memlimit > top {
        out.push(Band {
            name: "unused".into(),
            start: top,
            end: l.memlimit,
            kind: BandKind::Unused,
        });
    }
    out.sort_by_key(|b| (b.start, b.end));
    // A segment that also holds the heap or the stack (a NOBITS tail) is drawn up to where
    // they begin: the bands do not overlap.
    let mut kept: Vec<Band> = Vec::new();
    for b in out {
        if let Some(prev) = kept.last_mut() {
            if prev.end > b.start {
                prev.end = b.start;
            }
        }
        kept.push(b);
    }
    kept.retain(|b| b.end > b.start);
    kept
}

const COL_W: u32 = 150;
const LABEL_W: u32 = 330;
const MIN_H: f64 = 46.0;
const SCALE_H: f64 = 420.0;

/// A blank page with its heading: the start of every picture here.
fn page(heading: &str, w: f64, h: f64) -> Document {
    Document::new()
        .set("xmlns", "http://www.w3.org/2000/svg")
        .set("viewBox", (0, 0, w, h))
        .set("width", w)
        .set("height", h)
        .set("font-family", "monospace")
        .set("font-size", 12)
        .add(
            Rectangle::new()
                .set("width", w)
                .set("height", h)
                .set("fill", "white"),
        )
        .add(
            TextEl::new("")
                .set("x", 10)
                .set("y", 20)
                .set("font-size", 14)
                .set("font-weight", "bold")
                .add(Text::new(heading)),
        )
}

/// An SVG document with one column per `(title, bands)`, side by side, and the memory limit
/// of each on top.
pub fn svg(heading: &str, columns: &[(String, Vec<Band>, u64)]) -> String {
    let heights = |bands: &[Band]| -> Vec<f64> {
        let total: f64 = bands
            .iter()
            .map(|b| ((b.end - b.start) as f64).sqrt())
            .sum::<f64>()
            .max(1.0);
        bands
            .iter()
            .map(|b| MIN_H.max(SCALE_H * ((b.end - b.start) as f64).sqrt() / total))
            .collect()
    };
    let col_h = columns
        .iter()
        .map(|(_, b, _)| heights(b).iter().sum::<f64>())
        .fold(0.0, f64::max);
    let width = 20 + columns.len() as u32 * (COL_W + LABEL_W);
    let height = col_h as u32 + 110;
    let mut doc = page(heading, f64::from(width), f64::from(height));
    for (c, (title, bands, memlimit)) in columns.iter().enumerate() {
        let x0 = 10 + c as u32 * (COL_W + LABEL_W);
        let mut g = Group::new().set("class", "column");
        g = g.add(
            TextEl::new("")
                .set("x", x0)
                .set("y", 44)
                .set("font-weight", "bold")
                .add(Text::new(format!(
                    "{title}: memory limit {memlimit:#x} ({})",
                    crate::size::human(*memlimit)
                ))),
        );
        // Bottom (lowest address) at the bottom of the column.
        let mut y = 60.0 + col_h;
        for (b, h) in bands.iter().zip(heights(bands)) {
            y -= h;
            let size = b.end - b.start;
            let label = format!(
                "{}  {:#x}..{:#x}  {}",
                b.name,
                b.start,
                b.end,
                crate::size::human(size)
            );
            g = g.add(
                Rectangle::new()
                    .set("class", "band")
                    .set("x", x0)
                    .set("y", format!("{y:.1}"))
                    .set("width", COL_W)
                    .set("height", format!("{h:.1}"))
                    .set("fill", b.kind.fill())
                    .set("stroke", "#444")
                    .add(Title::new(&label)),
            );
            g = g
                .add(
                    TextEl::new("")
                        .set("x", x0 + 6)
                        .set("y", format!("{:.1}", y + h / 2.0 + 4.0))
                        .add(Text::new(b.name.as_str())),
                )
                .add(
                    TextEl::new("")
                        .set("x", x0 + COL_W + 8)
                        .set("y", format!("{:.1}", y + h - 3.0))
                        .add(Text::new(format!("{:#x}", b.start))),
                )
                .add(
                    TextEl::new("")
                        .set("x", x0 + COL_W + 8)
                        .set("y", format!("{:.1}", y + h / 2.0 + 4.0))
                        .set("fill", "#555")
                        .add(Text::new(crate::size::human(size))),
                );
        }
        if let Some(last) = bands.last() {
            g = g.add(
                TextEl::new("")
                    .set("x", x0 + COL_W + 8)
                    .set("y", format!("{:.1}", y + 11.0))
                    .add(Text::new(format!("{:#x} (end)", last.end))),
            );
        }
        doc = doc.add(g);
    }
    doc = doc.add(
        TextEl::new("")
            .set("x", 10)
            .set("y", height - 12)
            .set("fill", "#555")
            .add(Text::new(
                "addresses grow upwards; heights follow the square root of each region's size (not to scale)",
            )),
    );
    doc.to_string()
}

/// A plot of memory use over a run ([`crate::vm::profile::Profile`]): stack depth, heap use
/// and touched memory against cycles, with the high-water marks and the stack and heap sizes
/// of the layout as limits, so a user sees what memory limit to choose.
pub fn profile_svg(heading: &str, p: &crate::vm::profile::Profile) -> String {
    use crate::vm::profile::Sample;
    use svg::node::element::{Line, Polyline};
    let (w, h) = (880.0f64, 360.0f64);
    let (left, top, right, bottom) = (90.0, 50.0, 300.0, 50.0);
    let (pw, ph) = (w - left - right, h - top - bottom);
    let l = &p.layout;
    let stack_size = u64::from(l.stack_top.saturating_sub(l.stack_bottom));
    let heap_size = u64::from(l.heap_end.saturating_sub(l.heap_start));
    let touched = |s: &Sample| s.pages * 4096;
    let ymax = p
        .samples
        .iter()
        .map(|s| s.stack_bytes.max(s.heap_bytes).max(touched(s)))
        .max()
        .unwrap_or(0)
        .max(1) as f64
        * 1.15;
    let xmax = p.samples.last().map_or(1, |s| s.cycle.max(1)) as f64;
    let at = |c: u64, v: u64| {
        (
            left + pw * c as f64 / xmax,
            top + ph - ph * (v as f64 / ymax).min(1.0),
        )
    };
    // At most ~600 points per line: every k-th sample, keeping the peaks of each stride.
    let k = p.samples.len().div_ceil(600).max(1);
    let line = |f: &dyn Fn(&Sample) -> u64, colour: &str| {
        let mut pts = vec![format!("{:.1},{:.1}", left, top + ph)];
        for chunk in p.samples.chunks(k) {
            let v = chunk.iter().map(f).max().unwrap_or(0);
            let (x, y) = at(chunk.last().map_or(0, |s| s.cycle), v);
            pts.push(format!("{x:.1},{y:.1}"));
        }
        Polyline::new()
            .set("points", pts.join(" "))
            .set("fill", "none")
            .set("stroke", colour)
            .set("stroke-width", 2)
    };
    let label = |x: f64, y: f64, text: String, colour: &str| {
        TextEl::new("")
            .set("x", format!("{x:.1}"))
            .set("y", format!("{y:.1}"))
            .set("fill", colour)
            .add(Text::new(text))
    };
    let mut doc = page(heading, w, h)
        .add(
            Rectangle::new()
                .set("x", left)
                .set("y", top)
                .set("width", pw)
                .set("height", ph)
                .set("fill", "none")
                .set("stroke", "#444"),
        )
        .add(label(left, h - 18.0, "0".into(), "#444"))
        .add(label(
            left + pw - 120.0,
            h - 18.0,
            format!("{} cycles", p.samples.last().map_or(0, |s| s.cycle)),
            "#444",
        ))
        .add(label(
            10.0,
            top + 4.0,
            crate::size::human(ymax as u64),
            "#444",
        ))
        .add(label(10.0, top + ph, "0 B".into(), "#444"));
    // The layout's sizes: a dashed line where they fit in the plot, else named below the
    // legend.
    let mut off = 0.0;
    for (size, name, colour) in [
        (stack_size, "stack size", "#d6604d"),
        (heap_size, "heap size", "#b8860b"),
    ] {
        if size > 0 && (size as f64) >= ymax {
            doc = doc.add(label(
                left + pw + 8.0,
                top + 74.0 + off,
                format!("{name} {} (above the plot)", crate::size::human(size)),
                colour,
            ));
            off += 16.0;
        }
        if size > 0 && (size as f64) < ymax {
            let (_, y) = at(0, size);
            doc = doc
                .add(
                    Line::new()
                        .set("x1", left)
                        .set("x2", left + pw)
                        .set("y1", format!("{y:.1}"))
                        .set("y2", format!("{y:.1}"))
                        .set("stroke", colour)
                        .set("stroke-dasharray", "6 4"),
                )
                .add(label(
                    left + pw + 8.0,
                    y + 4.0,
                    format!("{name} {}", crate::size::human(size)),
                    colour,
                ));
        }
    }
    type Series<'a> = (&'a str, &'a str, &'a dyn Fn(&Sample) -> u64, u64);
    let series: [Series; 3] = [
        ("stack depth", "#d6604d", &|s| s.stack_bytes, p.peak_stack()),
        ("heap used", "#b8860b", &|s| s.heap_bytes, p.peak_heap()),
        ("memory touched", "#4393c3", &touched, p.pages() * 4096),
    ];
    for (n, (name, colour, f, peak)) in series.into_iter().enumerate() {
        doc = doc.add(line(f, colour)).add(label(
            left + pw + 8.0,
            top + 14.0 + 16.0 * n as f64,
            format!("{name}: peak {}", crate::size::human(peak)),
            colour,
        ));
    }
    let r = &p.result;
    let end = match (&r.exit_code, &r.fault) {
        (Some(c), _) => format!("exit code {c}"),
        (None, Some(f)) => format!("fault {}", f.kind.name()),
        _ => "stopped".into(),
    };
    doc = doc.add(label(
        left,
        top - 10.0,
        format!(
            "memory limit {:#x} ({}); the run ended with {end}",
            l.memlimit,
            crate::size::human(l.memlimit)
        ),
        "#222",
    ));
    doc.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bands_cover_heap_stack_and_the_rest_in_address_order() {
        let img = Image::parse(std::fs::read("fixtures/c_bump.elf").unwrap()).unwrap();
        let l = crate::layout::MemoryMap::discover(&img).run.unwrap();
        let b = bands(&img, Some(&l));
        let names: Vec<&str> = b.iter().map(|b| b.name.as_str()).collect();
        assert!(
            names.contains(&"heap") && names.contains(&"stack"),
            "{names:?}"
        );
        assert_eq!(b.last().unwrap().end, l.memlimit);
        assert!(b.windows(2).all(|w| w[0].start <= w[1].start));
    }

    #[test]
    fn a_profile_plot_shows_each_peak_and_the_limit() {
        let img = Image::read(std::path::Path::new("fixtures/deep_recursion.elf")).unwrap();
        let l = crate::layout::MemoryMap::discover(&img).run.unwrap();
        let vm = crate::vm::Vm::new(&img, &l, crate::vm::RunConfig::default()).unwrap();
        let p = crate::vm::profile::profile(vm, 5_000);
        let s = profile_svg("deep_recursion", &p);
        assert!(s.starts_with("<svg"));
        assert_eq!(s.matches("<polyline").count(), 3);
        for want in [
            format!("stack depth: peak {}", crate::size::human(p.peak_stack())),
            format!("memory limit {:#x}", l.memlimit),
            "the run ended with exit code".to_string(),
        ] {
            assert!(s.contains(&want), "{want}");
        }
    }

    #[test]
    fn the_svg_labels_every_band_with_its_bounds() {
        let bands = vec![
            Band {
                name: "heap <a&b>".into(),
                start: 0x1000,
                end: 0x9000,
                kind: BandKind::Heap,
            },
            Band {
                name: "stack".into(),
                start: 0x9000,
                end: 0x1_0000,
                kind: BandKind::Stack,
            },
        ];
        let s = svg("map", &[("before".into(), bands, 0x1_0000)]);
        assert!(s.starts_with("<svg"), "{s}");
        assert_eq!(s.matches("class=\"band\"").count(), 2);
        for want in [
            "heap &lt;a&amp;b&gt;",
            "0x1000",
            "0x9000",
            "0x10000 (end)",
            "memory limit 0x10000",
        ] {
            assert!(s.contains(want), "{want} in {s}");
        }
    }
}
