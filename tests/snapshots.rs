//! Snapshots (insta) of the rewrite for every fixture form at 64K, 1M, 16M, 256M and an odd
//! size: the plan, every patch, and the disassembly of changed instructions before/after — or
//! the refusal. Review a changed snapshot as you would a code change.

mod common;
use common::*;
use nexus_relink::relink::Relinker;
use nexus_relink::report::report_text;

const LIMITS: [(u64, &str); 5] = [
    (64 << 10, "64K"),
    (1 << 20, "1M"),
    (16 << 20, "16M"),
    (256 << 20, "256M"),
    (3_000_000, "3000000"),
];

#[test]
fn rewrite_reports() {
    for e in manifest() {
        let (img, layout) = load(&e.elf());
        insta::assert_snapshot!(format!("{}__layout", e.name), format!("{:#?}", layout));
        for (limit, label) in LIMITS {
            let text = match Relinker::new(limit).rewrite(&img) {
                Ok(rw) => report_text(&rw, true),
                Err(err) => {
                    let details: String =
                        err.details().iter().map(|d| format!("  {d}\n")).collect();
                    format!("refused: {err}\n{details}")
                }
            };
            insta::assert_snapshot!(format!("{}__{label}", e.name), text);
        }
    }
}
