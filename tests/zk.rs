//! Zero-knowledge proofs (`prove --zk`): randomised, hiding commitments that verify, the
//! salts and random codewords really in the proof, and no crossing between the zk and the
//! plain configuration. The soundness attacks run in zk mode too (`tests/soundness.rs`).

mod common;

use nexus_relink::elf::Image;
use nexus_relink::layout::Layout;
use nexus_relink::prove::{
    self, statement, witness, ProofFile, ProveOptions, SegmentProof, Stark, VerifyError,
    RANDOM_CODEWORDS, SALT_ELEMS,
};
use nexus_relink::vm::RunConfig;

/// `nexus_io`: public input n = 50, private input "hello" (read with `ecall 0x400`).
fn guest() -> (Image, Layout, RunConfig) {
    let e = common::manifest()
        .into_iter()
        .find(|e| e.name == "nexus_io")
        .expect("fixture");
    let img = Image::parse(std::fs::read(e.elf()).unwrap()).unwrap();
    let layout = Layout::discover(&img).unwrap();
    let cfg = e.config();
    assert_eq!(cfg.private_input, b"hello");
    (img, layout, cfg)
}

fn prove_one(img: &Image, layout: &Layout, cfg: &RunConfig, zk: bool) -> ProofFile {
    let opts = ProveOptions {
        zk,
        ..ProveOptions::default()
    };
    prove::prove_with(img, layout, cfg.clone(), &opts, &|_| {})
        .unwrap()
        .0
}

fn zk_stark(pf: &ProofFile) -> &p3_batch_stark::BatchProof<prove::ZkConfig> {
    match &pf.segments[0].proof {
        Stark::Zk(p) => p,
        Stark::Plain(_) => panic!("not a zk proof"),
    }
}

/// Replace the statement bytes of a proof file (the STARK bytes stay).
fn with_statement(bytes: &[u8], f: impl FnOnce(&mut prove::Public)) -> Vec<u8> {
    let n = u64::from_le_bytes(bytes[12..20].try_into().unwrap()) as usize;
    let mut public: prove::Public = postcard::from_bytes(&bytes[20..20 + n]).unwrap();
    f(&mut public);
    let pb = postcard::to_allocvec(&public).unwrap();
    let mut out = bytes[..12].to_vec();
    out.extend((pb.len() as u64).to_le_bytes());
    out.extend(pb);
    out.extend(&bytes[20 + n..]);
    out
}

fn check(
    bytes: &[u8],
    elf: Option<(&Image, &Layout)>,
) -> Result<statement::Statement, VerifyError> {
    prove::verify(&ProofFile::from_bytes(bytes)?, elf)
}

#[test]
fn zk_proofs_are_randomised_and_verify_plain_proofs_are_reproducible() {
    let (img, layout, cfg) = guest();
    let z1 = prove_one(&img, &layout, &cfg, true);
    let z2 = prove_one(&img, &layout, &cfg, true);
    let p1 = prove_one(&img, &layout, &cfg, false);
    let p2 = prove_one(&img, &layout, &cfg, false);
    // Plain proofs of one run are deterministic: the same commitments and out-of-domain
    // openings (only the query proof-of-work witness, found by a parallel search, and so the
    // queried positions may differ).
    let plain = |pf: &ProofFile| match &pf.segments[0].proof {
        Stark::Plain(s) => (
            erased::Ser::bytes(&s.commitments),
            erased::Ser::bytes(&s.opened_values),
            erased::Ser::bytes(&s.opening_proof.commit_phase_commits),
            erased::Ser::bytes(&s.opening_proof.final_poly),
        ),
        Stark::Zk(_) => panic!("a plain proof is zk"),
    };
    assert!(plain(&p1) == plain(&p2), "two plain proofs of a run differ");
    // The statement is the same, but for the flag.
    assert!(z1.public.statement.zk && !p1.public.statement.zk);
    let mut st = z1.public.statement.clone();
    st.zk = false;
    assert_eq!(st, p1.public.statement);
    assert_eq!(z1.public, z2.public);
    // Both zk proofs verify, with and without the ELF, and report zk.
    for z in [&z1, &z2] {
        let bytes = z.to_bytes();
        assert!(check(&bytes, None).unwrap().zk);
        let st = check(&bytes, Some((&img, &layout))).unwrap();
        assert_eq!(
            (st.exit_code, st.stdout.clone()),
            (0, p1.public.statement.stdout.clone())
        );
    }
    // They differ in every commitment and in the opened values.
    let (a, b) = (zk_stark(&z1), zk_stark(&z2));
    let enc = |v: &dyn erased::Ser| v.bytes();
    assert_ne!(enc(&a.commitments.main), enc(&b.commitments.main));
    assert_ne!(
        enc(&a.commitments.quotient_chunks),
        enc(&b.commitments.quotient_chunks)
    );
    assert!(a.commitments.random.is_some() && b.commitments.random.is_some());
    assert_ne!(enc(&a.commitments.random), enc(&b.commitments.random));
    assert_ne!(
        enc(&a.commitments.permutation),
        enc(&b.commitments.permutation)
    );
    assert_ne!(enc(&a.opened_values), enc(&b.opened_values));
    for (x, y) in a
        .opened_values
        .instances
        .iter()
        .zip(&b.opened_values.instances)
    {
        assert_ne!(
            x.base_opened_values.trace_local, y.base_opened_values.trace_local,
            "a table's out-of-domain opening is the same in two zk proofs"
        );
    }
    assert_ne!(z1.to_bytes(), z2.to_bytes());
    // A plain proof has no randomisation commitment.
    match &p1.segments[0].proof {
        Stark::Plain(p) => assert!(p.commitments.random.is_none()),
        Stark::Zk(_) => panic!("a plain proof is zk"),
    }
}

/// The hiding Merkle openings carry a salt per leaf, the hiding PCS carries the openings of
/// its random codewords, and both are checked: a changed salt is rejected.
#[test]
fn salts_and_random_codewords_are_in_the_proof_and_checked() {
    let (img, layout, cfg) = guest();
    let z1 = prove_one(&img, &layout, &cfg, true);
    let z2 = prove_one(&img, &layout, &cfg, true);
    let (a, b) = (zk_stark(&z1), zk_stark(&z2));
    let (rand_a, fri_a) = &a.opening_proof;
    let (rand_b, fri_b) = &b.opening_proof;
    // Random codeword openings: RANDOM_CODEWORDS values per point of every private round
    // (main, permutation, quotient, randomisation), none in the public preprocessing round.
    let per_round: Vec<Vec<usize>> = rand_a
        .iter()
        .map(|round| round.iter().flatten().map(|pt| pt.len()).collect())
        .collect();
    let private = per_round
        .iter()
        .filter(|r| !r.is_empty() && r.iter().all(|&n| n == RANDOM_CODEWORDS))
        .count();
    let public = per_round
        .iter()
        .filter(|r| !r.is_empty() && r.iter().all(|&n| n == 0))
        .count();
    assert_eq!(
        (private, public, per_round.len()),
        (4, 1, 5),
        "rounds and their random values: {per_round:?}"
    );
    assert_ne!(rand_a, rand_b, "the random codewords are fresh per proof");
    // Salts: one per opened leaf, of SALT_ELEMS field elements, in every input round.
    assert_eq!(fri_a.input_openings.len(), 5);
    let mut differ = 0;
    for (ra, rb) in fri_a.input_openings.iter().zip(&fri_b.input_openings) {
        let (salts_a, salts_b) = (&ra.opening_proof.0, &rb.opening_proof.0);
        assert_eq!(salts_a.len(), 100, "one salt set per query");
        for q in salts_a {
            assert!(!q.is_empty());
            assert!(q.iter().all(|s| s.len() == SALT_ELEMS));
        }
        let zero = <prove::Val as p3_field::PrimeCharacteristicRing>::ZERO;
        assert!(salts_a.iter().flatten().flatten().any(|&s| s != zero));
        differ += usize::from(salts_a != salts_b);
    }
    // Fresh salts in the four private rounds (the public preprocessing round's are derived
    // from the public part, so that the verifier can recompute its commitment); the queried
    // leaves differ too, as the transcripts do.
    assert_eq!(differ, 5);
    // The FRI commit-phase trees are salted too.
    assert!(fri_a
        .commit_phase_openings
        .iter()
        .all(|step| !step.opening_proof.0.is_empty()));
    // A changed salt does not match its commitment.
    let mut forged = ProofFile::from_bytes(&z1.to_bytes()).unwrap();
    if let Stark::Zk(p) = &mut forged.segments[0].proof {
        let s = &mut p.opening_proof.1.input_openings[1].opening_proof.0[0][0][0];
        *s += <prove::Val as p3_field::PrimeCharacteristicRing>::ONE;
    }
    let err = prove::verify(&forged, None).unwrap_err().to_string();
    assert!(err.contains("STARK"), "{err}");
}

#[test]
fn zk_and_plain_configurations_do_not_cross() {
    let (img, layout, cfg) = guest();
    let z = prove_one(&img, &layout, &cfg, true);
    let p = prove_one(&img, &layout, &cfg, false);
    let (zb, pb) = (z.to_bytes(), p.to_bytes());
    // The flag is bound by the public digest (the Fiat-Shamir transcript absorbs it).
    let mut flipped = p.public.clone();
    flipped.statement.zk = true;
    assert_ne!(
        statement::public_digest(&flipped),
        statement::public_digest(&p.public)
    );
    // A zk proof stated as plain: its STARK bytes are read as a plain proof and rejected.
    let e = check(&with_statement(&zb, |pu| pu.statement.zk = false), None).unwrap_err();
    assert!(
        matches!(e, VerifyError::Malformed(_) | VerifyError::Stark(_)),
        "{e}"
    );
    // And the reverse.
    let e = check(&with_statement(&pb, |pu| pu.statement.zk = true), None).unwrap_err();
    assert!(
        matches!(e, VerifyError::Malformed(_) | VerifyError::Stark(_)),
        "{e}"
    );
    // At the STARK level: the zk STARK decoded through the library as a plain one (when it
    // decodes at all) does not verify under the plain statement, nor the plain STARK under
    // the zk statement.
    let stark_of = |b: &[u8]| {
        let mut f = ProofFile::from_bytes(b).unwrap();
        (f.segments[0].meta.clone(), f.segments.remove(0).proof)
    };
    let (zmeta, zstark) = stark_of(&zb);
    let (pmeta, pstark) = stark_of(&pb);
    if let Ok(stark) = Stark::from_bytes(&zstark.to_bytes(), false) {
        let pf = ProofFile {
            public: p.public.clone(),
            segments: vec![SegmentProof {
                meta: zmeta.clone(),
                proof: stark,
            }],
        };
        assert!(matches!(
            prove::verify(&pf, None),
            Err(VerifyError::Stark(_))
        ));
    }
    assert!(Stark::from_bytes(&pstark.to_bytes(), true).is_err());
    // Mixed in memory: a zk statement with the plain STARK, and the reverse.
    let mixed = ProofFile {
        public: z.public.clone(),
        segments: vec![SegmentProof {
            meta: pmeta,
            proof: pstark,
        }],
    };
    let e = prove::verify(&mixed, None).unwrap_err().to_string();
    assert!(e.contains("zero-knowledge: yes"), "{e}");
    let mixed = ProofFile {
        public: p.public.clone(),
        segments: vec![SegmentProof {
            meta: zmeta,
            proof: zstark,
        }],
    };
    let e = prove::verify(&mixed, None).unwrap_err().to_string();
    assert!(e.contains("zero-knowledge: no"), "{e}");
}

#[test]
fn every_table_of_a_zk_proof_has_the_hiding_minimum() {
    let (img, layout, cfg) = guest();
    let (pf, stats) = prove::prove_with(
        &img,
        &layout,
        cfg,
        &ProveOptions {
            zk: true,
            ..ProveOptions::default()
        },
        &|_| {},
    )
    .unwrap();
    assert!(stats.heights.iter().all(|&h| h >= witness::ZK_MIN_ROWS));
    // Committed domains are twice the traces.
    for (b, h) in pf.segments[0]
        .proof
        .degree_bits()
        .iter()
        .zip(&stats.heights)
    {
        assert_eq!(1usize << b, 2 * h);
    }
    // A zk proof whose table is cut below the minimum is refused (the verifier sizes the
    // public tables from the statement's flag).
    let mut st = pf.public.statement.clone();
    st.zk = false;
    assert_eq!(witness::reg_rows(&st), 32);
    assert_eq!(
        witness::reg_rows(&pf.public.statement),
        witness::ZK_MIN_ROWS
    );
}

/// Serialised bytes of any proof part, to compare parts of two proofs.
mod erased {
    pub trait Ser {
        fn bytes(&self) -> Vec<u8>;
    }
    impl<T: serde::Serialize> Ser for T {
        fn bytes(&self) -> Vec<u8> {
            postcard::to_allocvec(self).unwrap()
        }
    }
}

/// Why a zk proof costs about 4× a plain one, not 2×: the hiding PCS doubles the committed
/// domain and the constraint degree grows by one, so the quotient of the degree-3 tables has
/// 8 chunks of the trace height instead of 2 (4× the constraint evaluations), on top of the
/// doubled trace commitments.
#[test]
fn the_zk_quotient_has_four_times_the_chunks() {
    let (img, layout, cfg) = guest();
    let z = prove_one(&img, &layout, &cfg, true);
    let p = prove_one(&img, &layout, &cfg, false);
    let chunks = |pf: &ProofFile| -> Vec<usize> {
        match &pf.segments[0].proof {
            Stark::Plain(s) => s
                .opened_values
                .instances
                .iter()
                .map(|i| i.base_opened_values.quotient_chunks.len())
                .collect(),
            Stark::Zk(s) => s
                .opened_values
                .instances
                .iter()
                .map(|i| i.base_opened_values.quotient_chunks.len())
                .collect(),
        }
    };
    let (zc, pc) = (chunks(&z), chunks(&p));
    assert_eq!(zc.len(), pc.len());
    for (t, (&zc, &pc)) in zc.iter().zip(&pc).enumerate() {
        assert!(zc >= 2 * pc, "table {t}: {zc} zk chunks, {pc} plain");
    }
    // The CPU table: degree 3.
    assert_eq!((pc[0], zc[0]), (2, 8), "plain {pc:?}, zk {zc:?}");
}
