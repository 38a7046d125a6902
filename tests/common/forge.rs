//! A modified prover's chain: segments proven the way `prove` does (the same [`Chain`] step,
//! the same `prove_segment`), without its refusals, with hooks where the attacks change it.
#![allow(dead_code)]

use nexus_relink::elf::Image;
use nexus_relink::layout::Layout;
use nexus_relink::prove::witness::{self, PublicTables, SegmentWitness};
use nexus_relink::prove::{self, statement, Chain, ProofFile, Public, SegmentProof};
use nexus_relink::vm::trace::Trace;
use nexus_relink::vm::{RunConfig, Vm};

/// Where the attacks change a chain; each hook gets the segment's index.
pub struct Hooks<'a> {
    /// Before segment k's witness is built: where it starts, and the fixed tables.
    pub before: &'a mut dyn FnMut(usize, &mut Chain, &mut PublicTables),
    /// Before segment k is proven: its witness.
    pub edit: &'a mut dyn FnMut(usize, &mut SegmentWitness),
    /// After segment k is proven, with the chain still at its start.
    pub after: &'a mut dyn FnMut(usize, &Chain, &SegmentProof),
}

/// One segment per piece, stated as `stated`, each witness built from `witnessed` (the
/// same run's public data, or another one's).
pub fn chain(stated: Public, witnessed: &Public, pieces: &[Trace], h: Hooks) -> ProofFile {
    let mut pt = witness::public_tables(&stated);
    let digest = statement::statement_digest(&stated);
    let mut chain = Chain::new(&pt.image_words, &stated.statement, pieces.len());
    let mut segments = Vec::new();
    for (k, t) in pieces.iter().enumerate() {
        (h.before)(k, &mut chain, &mut pt);
        let mut w =
            witness::build_segment_unchecked(witnessed, &pt, &chain.start, &chain.mem, t).unwrap();
        (h.edit)(k, &mut w);
        let proof = prove::prove_segment(
            &stated,
            &digest,
            chain.count,
            &chain.start,
            &w.meta,
            &w.tables,
            &w.traces,
        )
        .unwrap();
        let sp = SegmentProof {
            meta: w.meta,
            proof,
        };
        (h.after)(k, &chain, &sp);
        chain.advance(&sp.meta);
        segments.push(sp);
    }
    ProofFile {
        public: stated,
        segments,
    }
}

/// [`chain`] with `edit` only.
pub fn chain_edited(
    public: Public,
    pieces: &[Trace],
    edit: &mut dyn FnMut(usize, &mut SegmentWitness),
) -> ProofFile {
    let witnessed = public.clone();
    chain(
        public,
        &witnessed,
        pieces,
        Hooks {
            before: &mut |_, _, _| {},
            edit,
            after: &mut |_, _, _| {},
        },
    )
}

/// An honest run in pieces of at most `seg` cycles, and its public data.
pub fn pieces(img: &Image, layout: &Layout, seg: u64) -> (Vec<Trace>, Public) {
    let mut run = Vm::new(img, layout, RunConfig::default())
        .unwrap()
        .trace_segments();
    let pieces: Vec<Trace> = std::iter::from_fn(|| run.next_segment(seg)).collect();
    let res = run.result().unwrap().clone();
    let public = prove::public_of_run(img, layout, None, Vec::new(), &pieces, res).unwrap();
    (pieces, public)
}
