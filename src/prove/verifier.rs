//! Verifying a proof file, cheapest checks first:
//!
//! 1. with the ELF, that the statement is about it (the program identity and each field);
//! 2. the statement's own rules, the shape of its public data, the image digest, the native
//!    replay of the transcript;
//! 3. every segment's meta and the height of every table of every segment, from counts alone
//!    (the statement, the transcript, the meta): a file that claims tables larger than its
//!    statement allows is refused here, before any table is built or committed;
//! 4. then, segment by segment along the chain, the tables the verifier builds and the STARK
//!    against them.
//!
//! Memory before step 4 is a small multiple of the file's size (the decoded file, and a
//! sorted list of its instruction addresses); the tables of step 4 have the heights step 3
//! checked.

use super::segment::{self, SegmentMeta, SegmentProof, SegmentStart};
use super::statement::{self, Event, Public, Statement};
use super::tables::{self, Table};
use super::witness;
use super::{
    config, public_from_elf, public_values, yes_no, zk_public_config, Chain, Challenge, Challenger,
    ProofFile, Stark, Val, VerifyError, ZkConfig,
};
use crate::elf::Image;
use crate::layout::Layout;
use p3_batch_stark::{verify_batch, BatchProof, ProverData, StarkGenericConfig};
use p3_field::coset::TwoAdicMultiplicativeCoset;
use std::collections::BTreeMap;

/// A STARK verification failure in words (Plonky3's errors are debug dumps).
fn stark_failure(e: &p3_batch_stark::BatchVerificationError<impl std::fmt::Debug>) -> String {
    use p3_batch_stark::BatchVerificationError as B;
    use p3_uni_stark::VerificationError as V;
    match e {
        B::Verification(V::InvalidProofShape(_)) => {
            "the proof's shape does not fit the tables (sizes or counts differ)".into()
        }
        B::Verification(V::InvalidOpeningArgument(_)) => {
            "an opening does not match its commitment: the proof does not belong to this statement, or its bytes were altered".into()
        }
        B::Verification(V::OodEvaluationMismatch { .. }) => {
            "the constraints do not hold: the committed execution is not one the machine allows".into()
        }
        B::Lookup(_) => {
            "the lookup and memory arguments do not balance: a value read is not the one written, or a lookup has no table entry".into()
        }
        B::Transcript(_) | B::Verification(V::InvalidOodPowWitness) => {
            "a proof-of-work check failed".into()
        }
        _ => "the proof is invalid".into(),
    }
}

/// Verify a proof; with `elf` (and the layout discovered from it) also check that the proof
/// is about that ELF. Returns the statement.
pub fn verify(pf: &ProofFile, elf: Option<(&Image, &Layout)>) -> Result<Statement, VerifyError> {
    let p = &pf.public;
    let st = &p.statement;
    if let Some((img, layout)) = elf {
        check_elf(p, img, layout)?;
    }
    let counts = precheck(pf)?;
    let count = pf.segments.len();
    let digest = statement::statement_digest(p);
    let pt = witness::public_tables(p);
    let zk_public = st.zk.then(|| zk_public_config(p));
    // The chain: the verifier's own memory, registers and pc, from the image on.
    let mut chain = Chain::new(&pt.image_words, st, count);
    for (k, sp) in pf.segments.iter().enumerate() {
        let zk = zk_public.as_ref();
        check_segment(
            p,
            &counts,
            &digest,
            &pt,
            zk,
            count,
            &chain.start,
            &chain.mem,
            sp,
        )
        .map_err(|e| match e {
            VerifyError::Stark(m) if count > 1 => {
                VerifyError::Stark(format!("segment {k} of {count}: {m}"))
            }
            e => e,
        })?;
        chain.advance(&sp.meta);
    }
    Ok(st.clone())
}

/// The proof is about this ELF: its program identity is the ELF's, field by field.
fn check_elf(p: &Public, img: &Image, layout: &Layout) -> Result<(), VerifyError> {
    let st = &p.statement;
    // The ABI detected from the ELF, as `run` would pick it.
    let mine =
        public_from_elf(img, layout, None).map_err(|e| VerifyError::ElfMismatch(e.to_string()))?;
    let m = &mine.statement;
    let mut diffs = Vec::new();
    if m.abi != st.abi {
        diffs.push(format!(
            "the proof is for the {} ABI, the ELF's is {}",
            st.abi.name(),
            m.abi.name()
        ));
    }
    if m.image_digest != st.image_digest
        || mine.image != p.image
        || mine.code != p.code
        || mine.exec != p.exec
    {
        diffs.push("the initial memory image (program) differs".to_string());
    }
    if m.entry != st.entry {
        diffs.push(format!("entry {:#x} vs {:#x}", st.entry, m.entry));
    }
    if m.memlimit != st.memlimit {
        diffs.push(format!(
            "the proof is for memory limit {:#x}, the ELF's is {:#x}",
            st.memlimit, m.memlimit
        ));
    }
    if m.tohost != st.tohost {
        diffs.push("the HTIF tohost word differs".into());
    }
    if m.input_at != st.input_at {
        diffs.push("where the input is placed in memory differs".into());
    }
    let layout_of = |s: &Statement| {
        (
            s.image_start,
            s.image_end,
            s.stack_bottom,
            s.stack_top,
            s.heap_start,
            s.heap_end,
            s.shared,
            s.brk,
            s.initial_sp,
            s.regions,
        )
    };
    if layout_of(m) != layout_of(st) {
        diffs.push("the stack/heap layout differs".into());
    }
    // The identity hashes exactly these fields; a difference the list above misses would be
    // a field added to one and not the other.
    if diffs.is_empty() && m.program_id() != st.program_id() {
        diffs.push("the program identity differs".into());
    }
    if diffs.is_empty() {
        Ok(())
    } else {
        Err(VerifyError::ElfMismatch(format!(
            "{} (the proof's program identity is {}, the ELF's {})",
            diffs.join("; "),
            st.program_id(),
            m.program_id()
        )))
    }
}

/// Sizes the public data fixes for every segment, counted without building any table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    /// Rows of PROGRAM: distinct pcs of the instruction ranges whose word the machine executes.
    pub program_rows: usize,
    /// Words of the initial image, `tohost` included: IMAGE's rows in the first segment.
    pub image_words: usize,
}

impl Counts {
    pub fn of(p: &Public) -> Counts {
        let mut pcs: Vec<u32> = p
            .static_code_words()
            .filter(|&(pc, w)| {
                crate::isa::decode(w).is_ok_and(|i| tables::prog_row(pc, &i).is_some())
            })
            .map(|(pc, _)| pc)
            .collect();
        pcs.sort_unstable();
        pcs.dedup();
        let mut spans: Vec<(u32, u64)> =
            p.image.iter().map(|(a, b)| (*a, b.len() as u64)).collect();
        if let Some(t) = p.statement.tohost {
            spans.push((t, 4));
        }
        if let Some(at) = p.statement.input_at {
            spans.push((at, p.statement.public_input.len() as u64));
        }
        Counts {
            program_rows: pcs.len(),
            image_words: words_covered(&spans),
        }
    }
}

/// The number of distinct words the byte ranges `(start, length)` cover (a range that runs
/// past 2^32 wraps around, as the tables' addresses do).
pub fn words_covered(ranges: &[(u32, u64)]) -> usize {
    let mut spans: Vec<(u64, u64)> = Vec::new();
    for &(a, n) in ranges {
        if n == 0 {
            continue;
        }
        let (a, end) = (u64::from(a), u64::from(a) + n.min(1 << 32));
        let top = 1u64 << 32;
        let mut push = |s: u64, e: u64| spans.push((s / 4, (e - 1) / 4));
        if end <= top {
            push(a, end);
        } else {
            push(a, top);
            push(0, end - top);
        }
    }
    spans.sort_unstable();
    let mut total = 0u64;
    let mut cur: Option<(u64, u64)> = None;
    for (s, e) in spans {
        match cur {
            Some((cs, ce)) if s <= ce + 1 => cur = Some((cs, ce.max(e))),
            Some((cs, ce)) => {
                total += ce - cs + 1;
                cur = Some((s, e));
            }
            None => cur = Some((s, e)),
        }
    }
    if let Some((cs, ce)) = cur {
        total += ce - cs + 1;
    }
    total as usize
}

/// Memory words an event's host accesses touch: its IOW rows.
pub fn event_words(e: &Event) -> usize {
    let spans: Vec<(u32, u64)> = [&e.mem_read, &e.mem_read2, &e.mem_write]
        .into_iter()
        .flatten()
        .map(|(a, b)| (*a, b.len() as u64))
        .collect();
    words_covered(&spans)
}

/// Steps 2 and 3: everything about the file that needs no table (what [`verify`] checks before
/// it builds or commits any table). Returns the counts the
/// tables of step 4 are checked against.
pub fn precheck(pf: &ProofFile) -> Result<Counts, VerifyError> {
    let counts = precheck_statement(pf)?;
    let count = pf.segments.len();
    let mut start = SegmentStart::whole_run(&pf.public.statement);
    start.last = count == 1;
    for (k, sp) in pf.segments.iter().enumerate() {
        segment_precheck(&pf.public, &counts, &start, sp).map_err(|e| match e {
            VerifyError::Stark(m) if count > 1 => {
                VerifyError::Stark(format!("segment {k} of {count}: {m}"))
            }
            e => e,
        })?;
        start = start.next(&sp.meta, k + 2 == count);
    }
    Ok(counts)
}

/// Verify every segment along the chain without stopping at the first invalid one (what
/// `join` reports): the statement's checks first (an error about the whole proof), then each
/// segment against the chain the verifier carries. Returns the invalid segments, each with
/// its reason.
pub fn verify_segments(pf: &ProofFile) -> Result<Vec<(usize, VerifyError)>, VerifyError> {
    let counts = precheck_statement(pf)?;
    let p = &pf.public;
    let count = pf.segments.len();
    let digest = statement::statement_digest(p);
    let pt = witness::public_tables(p);
    let zk_public = p.statement.zk.then(|| zk_public_config(p));
    let mut chain = Chain::new(&pt.image_words, &p.statement, count);
    let mut bad = Vec::new();
    for (k, sp) in pf.segments.iter().enumerate() {
        let zk = zk_public.as_ref();
        if let Err(e) = check_segment(
            p,
            &counts,
            &digest,
            &pt,
            zk,
            count,
            &chain.start,
            &chain.mem,
            sp,
        ) {
            bad.push((k, e));
        }
        chain.advance(&sp.meta);
    }
    Ok(bad)
}

/// The checks of [`precheck`] about the statement and the chain's length, before any segment.
fn precheck_statement(pf: &ProofFile) -> Result<Counts, VerifyError> {
    let p = &pf.public;
    let st = &p.statement;
    st.check_consistency().map_err(VerifyError::Statement)?;
    p.check_shape().map_err(VerifyError::Statement)?;
    if statement::image_digest(st.entry, &p.code, &p.exec, &p.image, st.tohost) != st.image_digest {
        return Err(VerifyError::Statement(
            "the image digest does not match the image".into(),
        ));
    }
    statement::replay(p).map_err(VerifyError::Statement)?;
    let count = pf.segments.len();
    if count == 0 {
        return Err(VerifyError::Statement("the proof has no segment".into()));
    }
    let total: u64 = pf.segments.iter().map(|s| u64::from(s.meta.cycles)).sum();
    if total != st.cycles {
        return Err(VerifyError::Statement(format!(
            "the segments hold {total} cycles, the statement says {}",
            st.cycles
        )));
    }
    if count > 1 && st.zk {
        return Err(VerifyError::Statement(
            "a zero-knowledge proof of more than one segment".into(),
        ));
    }
    if count > 1 && p.events.iter().any(|e| matches!(e.write, Some((_, None)))) {
        return Err(VerifyError::Statement(
            "private input in a proof of more than one segment".into(),
        ));
    }
    Ok(Counts::of(p))
}

/// One segment's cheap checks: its meta's shape, the STARK's kind, its word lists no longer
/// than its cycles and system calls allow, and the height of each of its tables.
fn segment_precheck(
    p: &Public,
    counts: &Counts,
    start: &SegmentStart,
    sp: &SegmentProof,
) -> Result<(), VerifyError> {
    let st = &p.statement;
    let meta = &sp.meta;
    segment::check_meta(start, meta).map_err(VerifyError::Statement)?;
    if meta.dyn_code.len() > meta.cycles as usize {
        return Err(VerifyError::Statement(format!(
            "segment {} fetches more instruction words than it has cycles",
            start.index
        )));
    }
    tables::DynProg::from_pairs(p, &meta.dyn_code).map_err(|e| {
        VerifyError::Statement(format!(
            "segment {}: an instruction fetched from memory: {e}",
            start.index
        ))
    })?;
    if sp.proof.is_zk() != st.zk {
        return Err(VerifyError::Stark(format!(
            "the statement says zero-knowledge: {}, the STARK was made {} hiding commitments",
            yes_no(st.zk),
            if sp.proof.is_zk() { "with" } else { "without" }
        )));
    }
    check_heights(p, counts, start, meta, sp.proof.degree_bits())
}

/// The table heights a segment's proof must have, from counts: the fixed tables' exactly,
/// CPU's exactly (one padding row after the last cycle), MEM's and MULDIV's at most what the
/// segment's cycles and system calls can touch; every table at least the statement's fewest
/// rows. Also bounds the meta's word lists: a segment touches at most two memory words per
/// cycle (its instruction, when fetched from memory, and one aligned data word) and the
/// words of its system calls.
fn check_heights(
    p: &Public,
    counts: &Counts,
    start: &SegmentStart,
    meta: &SegmentMeta,
    degree_bits: &[usize],
) -> Result<(), VerifyError> {
    let st = &p.statement;
    let k = start.index;
    let cycles = meta.cycles as usize;
    let evs = segment::segment_events(&p.events, start.clk0, u64::from(meta.cycles));
    let io_words: usize = evs.iter().map(event_words).sum();
    // A cycle touches its instruction word (when fetched from memory) and one data word.
    let reach = 2 * cycles + io_words;
    if meta.touched.len() > reach || meta.changed.len() > reach {
        return Err(VerifyError::Statement(format!(
            "segment {k} states {} touched and {} changed words; its {cycles} cycles and system calls reach at most {reach}",
            meta.touched.len(),
            meta.changed.len()
        )));
    }
    // The committed domains are twice the traces in a zero-knowledge proof.
    let zk = usize::from(st.zk);
    if degree_bits.len() != tables::NUM_TABLES {
        return Err(VerifyError::Stark("wrong number of tables".into()));
    }
    let mut bits = Vec::with_capacity(tables::NUM_TABLES);
    for &b in degree_bits {
        bits.push(
            b.checked_sub(zk)
                .ok_or_else(|| VerifyError::Stark("table heights out of range".into()))?,
        );
    }
    let rows = |n: usize| witness::rows_for(st, n);
    let first = start.index == 0;
    let image = if first {
        counts.image_words
    } else {
        meta.touched.len()
    };
    // [exact, or at most], per table in TABLE_NAMES order.
    let want: [(usize, bool); tables::NUM_TABLES] = [
        (rows(cycles + 1), true),
        (rows(counts.program_rows), true),
        (rows(if first { image + reach } else { image }), !first),
        (rows(image), true),
        (witness::reg_rows(st), true),
        (1 << 16, true),
        (512, true),
        (rows(evs.len()), true),
        (rows(io_words), true),
        (rows(cycles), false),
        (rows(meta.changed.len()), true),
        (rows(meta.dyn_code.len()), true),
        (rows(cycles), false),
    ];
    let min_bits = witness::min_rows(st).trailing_zeros() as usize;
    for (i, (&b, &(h, exact))) in bits.iter().zip(&want).enumerate() {
        let w = h.trailing_zeros() as usize;
        let ok = if exact {
            b == w
        } else {
            b <= w && b >= min_bits
        };
        if !ok {
            return Err(VerifyError::Stark(format!(
                "table {} has 2^{b} rows, expected {}2^{w}",
                tables::TABLE_NAMES[i],
                if exact { "" } else { "at most " }
            )));
        }
    }
    Ok(())
}

/// Check one segment of `count` against where the chain says it starts (`start`, and the
/// memory `mem` then): its meta's shape, its tables' heights, its STARK against the tables the
/// verifier builds. Not the statement, nor the chain around it ([`verify`] does both); public
/// so that tests can show a forged segment is valid on its own terms.
#[doc(hidden)]
pub fn verify_segment(
    p: &Public,
    count: usize,
    start: &SegmentStart,
    mem: &BTreeMap<u32, [u8; 4]>,
    sp: &SegmentProof,
) -> Result<(), VerifyError> {
    let digest = statement::statement_digest(p);
    let pt = witness::public_tables(p);
    let zk_public = p.statement.zk.then(|| zk_public_config(p));
    let counts = Counts::of(p);
    check_segment(
        p,
        &counts,
        &digest,
        &pt,
        zk_public.as_ref(),
        count,
        start,
        mem,
        sp,
    )
}

#[allow(clippy::too_many_arguments)]
fn check_segment(
    p: &Public,
    counts: &Counts,
    digest: &[u8; 32],
    pt: &witness::PublicTables,
    zk_public: Option<&ZkConfig>,
    count: usize,
    start: &SegmentStart,
    mem: &BTreeMap<u32, [u8; 4]>,
    sp: &SegmentProof,
) -> Result<(), VerifyError> {
    let meta = &sp.meta;
    segment_precheck(p, counts, start, sp)?;
    let tables = witness::verifier_tables(p, pt, start, mem, meta);
    // The tables have the heights the counts gave (a difference is a bug of this verifier,
    // refused rather than verified against tables of another shape).
    let zk = usize::from(p.statement.zk);
    for (i, t) in tables.iter().enumerate() {
        if let Some(h) = fixed_height(t) {
            if sp.proof.degree_bits()[i] != h.trailing_zeros() as usize + zk {
                return Err(VerifyError::Stark(format!(
                    "internal error: table {} was built with {h} rows, not the height counted",
                    tables::TABLE_NAMES[i]
                )));
            }
        }
    }
    let pvs = public_values(p, digest, count, start, meta);
    match (&sp.proof, zk_public) {
        (Stark::Plain(proof), None) => verify_stark(&config(), &tables, proof, &pvs),
        (Stark::Zk(proof), Some(c)) => verify_stark(c, &tables, proof, &pvs),
        // The kind was checked against the statement before.
        _ => Err(VerifyError::Stark(
            "the STARK's kind does not fit the statement".into(),
        )),
    }
}

/// The height of a table the verifier builds (preprocessed or fixed); `None` for the tables
/// only the prover has (CPU, MEM, MULDIV, FETCH).
fn fixed_height(t: &Table) -> Option<usize> {
    use tables::Table as T;
    Some(match t {
        T::Program(t) => t.height,
        T::Image(t) => t.height,
        T::Regs(t) => t.height,
        T::Range(_) => 1 << 16,
        T::Shift(_) => 512,
        T::Events(t) => t.height,
        T::IoWords(t) => t.height,
        T::Out(t) => t.height,
        T::DynProg(t) => t.height,
        T::Cpu(_) | T::Mem(_) | T::MulDiv(_) | T::Fetch(_) => return None,
    })
}

/// Verifying with either configuration.
fn verify_stark<SC>(
    config: &SC,
    tables: &[tables::Table],
    proof: &BatchProof<SC>,
    pvs: &[Vec<Val>],
) -> Result<(), VerifyError>
where
    SC: StarkGenericConfig<Challenge = Challenge, Challenger = Challenger> + Sync,
    SC::Pcs: p3_commit::Pcs<Challenge, Challenger, Domain = TwoAdicMultiplicativeCoset<Val>> + Sync,
    <SC::Pcs as p3_commit::Pcs<Challenge, Challenger>>::ProverData: Sync,
    <SC::Pcs as p3_commit::Pcs<Challenge, Challenger>>::Commitment: Sync,
    <SC::Pcs as p3_commit::Pcs<Challenge, Challenger>>::ProverError: Send + std::fmt::Debug,
    <SC::Pcs as p3_commit::Pcs<Challenge, Challenger>>::Error: std::fmt::Debug,
{
    // A decodable but malformed proof must be an error, not a crash: Plonky3 checks shapes,
    // and anything it asserts instead is caught here.
    let run = || -> Result<(), VerifyError> {
        let common = ProverData::from_airs_and_degrees(config, tables, &proof.degree_bits)
            .map_err(|_| VerifyError::Stark("the proof's table sizes do not fit".into()))?
            .common;
        verify_batch(config, tables, proof, pvs, &common)
            .map_err(|e| VerifyError::Stark(stark_failure(&e)))
    };
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(run))
        .map_err(|_| VerifyError::Stark("malformed proof (the verifier gave up)".into()))?
}
