//! The prover: completeness on the fixtures and soundness (tampered traces and proofs).

mod common;

use nexus_relink::elf::Image;
use nexus_relink::layout::Layout;
use nexus_relink::prove::{self, ProofFile};

fn load(name: &str) -> (Image, Layout, common::Entry) {
    let e = common::manifest().into_iter().find(|e| e.name == name).expect("fixture");
    let bytes = std::fs::read(e.elf()).unwrap();
    let img = Image::parse(bytes).unwrap();
    let layout = Layout::discover(&img).unwrap();
    (img, layout, e)
}

fn prove_fixture(name: &str) -> ProofFile {
    let (img, layout, e) = load(name);
    let (pf, stats) = prove::prove(&img, &layout, e.config(), &|_| {}).expect("proves");
    eprintln!("{name}: {} cycles, heights {:?}, prove {:.2}s", stats.cycles, stats.heights, stats.prove_seconds);
    pf
}

#[test]
fn exit7_proves_and_verifies() {
    let pf = prove_fixture("linux_exit7");
    let (img, layout, _) = load("linux_exit7");
    let st = prove::verify(&pf, Some((&img, &layout))).expect("verifies");
    assert_eq!(st.exit_code, 7);
}
