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
/// top up to the limit, in address order.
pub fn bands(img: &Image, l: &Layout) -> Vec<Band> {
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
    out
}

const COL_W: u32 = 150;
const LABEL_W: u32 = 330;
const MIN_H: f64 = 34.0;
const SCALE_H: f64 = 420.0;

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
    let mut doc = Document::new()
        .set("xmlns", "http://www.w3.org/2000/svg")
        .set("viewBox", (0, 0, width, height))
        .set("width", width)
        .set("height", height)
        .set("font-family", "monospace")
        .set("font-size", 12)
        .add(
            Rectangle::new()
                .set("width", width)
                .set("height", height)
                .set("fill", "white"),
        )
        .add(
            TextEl::new("")
                .set("x", 10)
                .set("y", 20)
                .set("font-size", 14)
                .set("font-weight", "bold")
                .add(Text::new(heading)),
        );
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bands_cover_heap_stack_and_the_rest_in_address_order() {
        let img = Image::parse(std::fs::read("fixtures/c_bump.elf").unwrap()).unwrap();
        let l = crate::layout::MemoryMap::discover(&img).run.unwrap();
        let b = bands(&img, &l);
        let names: Vec<&str> = b.iter().map(|b| b.name.as_str()).collect();
        assert!(
            names.contains(&"heap") && names.contains(&"stack"),
            "{names:?}"
        );
        assert_eq!(b.last().unwrap().end, l.memlimit);
        assert!(b.windows(2).all(|w| w[0].start <= w[1].start));
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
