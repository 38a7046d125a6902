//! **IMAGE** (preprocessed, from the ELF): the initial memory words, one row each
//! `(real, waddr, bytes[4], ro)`, `ro` marking a read-only word (an instruction word the run
//! never wrote, or `tohost`). It receives one token per row on the image bus; MEM must start each of these
//! words exactly once, with that value (in memory space 2 when read-only). Its main trace is
//! one unused zero column.
//!
//! Rules of `docs/RULES.md` it carries: stores into code and HTIF `tohost` (it marks every
//! instruction word and `tohost` read-only, so MEM starts them in memory space 2, which no
//! store reaches); the initial memory is the image the statement's digest names.
//!
//! In a segment after the first it holds the memory at segment start instead, for the words
//! the segment touches ([`ImageTable::from_touched`]): the verifier fills it from the memory
//! it carries along the chain, so a segment can only start from the memory the previous one
//! ended with.
//!
//! Trace: [`image_words`] and [`ImageTable::from_words`] (the verifier's too).

use super::common::*;

/// Preprocessed: real, waddr, 4 bytes, read-only (an instruction word or `tohost`).
#[derive(Clone, Debug)]
pub struct ImageTable {
    pub rows: Vec<u32>,
    pub height: usize,
}
pub const IMAGE_W: usize = 7;

impl ImageTable {
    pub(super) fn eval<AB: PermutationAirBuilder + InteractionBuilder>(&self, b: &mut AB) {
        let p = preprocessed_row(b);
        let dummy: AB::Expr = b.main().current_slice()[0].into();
        b.assert_zero(dummy);
        IMGBUS.send(
            b,
            [
                p[1].clone(),
                p[2].clone(),
                p[3].clone(),
                p[4].clone(),
                p[5].clone(),
                p[6].clone(),
            ],
            Count::bounded(p[0].clone(), 1),
        );
    }
}

/// The initial image's words (word address -> bytes) and the read-only words (word
/// addresses): every instruction word, and `tohost`.
pub fn image_words(p: &Public) -> (BTreeMap<u32, [u8; 4]>, BTreeSet<u32>) {
    // Image words (later regions overwrite earlier ones, as the loader does).
    let mut image_words: BTreeMap<u32, [u8; 4]> = BTreeMap::new();
    for (a, data) in &p.image {
        for (k, &byte) in data.iter().enumerate() {
            let addr = a.wrapping_add(k as u32);
            image_words.entry(addr >> 2).or_insert([0; 4])[(addr & 3) as usize] = byte;
        }
    }
    // The input placed in memory (Ceno's hints region): initial memory as the image is.
    if let Some(at) = p.statement.input_at {
        for (k, &byte) in p.statement.public_input.iter().enumerate() {
            let addr = at.wrapping_add(k as u32);
            image_words.entry(addr >> 2).or_insert([0; 4])[(addr & 3) as usize] = byte;
        }
    }
    // Read-only words: the instruction words the run never wrote and `tohost` (an image word,
    // zero when the image does not hold it), so MEM starts each of them through IMAGE.
    let mut ro_words: BTreeSet<u32> = p.static_code_words().map(|(a, _)| a >> 2).collect();
    if let Some(t) = p.statement.tohost {
        ro_words.insert(t >> 2);
        image_words.entry(t >> 2).or_insert([0; 4]);
    }
    (image_words, ro_words)
}

impl ImageTable {
    /// The preprocessed rows of these words.
    pub fn from_words(
        p: &Public,
        image_words: &BTreeMap<u32, [u8; 4]>,
        ro_words: &BTreeSet<u32>,
    ) -> ImageTable {
        let mut rows = Vec::with_capacity(image_words.len() * IMAGE_W);
        for (w, b) in image_words {
            rows.extend([1, *w]);
            rows.extend(b.map(u32::from));
            rows.push(u32::from(ro_words.contains(w)));
        }
        ImageTable {
            height: rows_for(&p.statement, image_words.len()),
            rows,
        }
    }

    /// The rows of a later segment: each touched word (strictly increasing) with its value in
    /// `mem` (zero when absent), and whether it is read-only.
    pub fn from_touched(
        st: &crate::prove::Statement,
        touched: &[u32],
        mem: &BTreeMap<u32, [u8; 4]>,
        ro_words: &BTreeSet<u32>,
    ) -> ImageTable {
        let mut rows = Vec::with_capacity(touched.len() * IMAGE_W);
        for w in touched {
            rows.extend([1, *w]);
            rows.extend(mem.get(w).copied().unwrap_or([0; 4]).map(u32::from));
            rows.push(u32::from(ro_words.contains(w)));
        }
        ImageTable {
            height: rows_for(st, touched.len()),
            rows,
        }
    }

    /// The main trace: one zero column.
    pub(crate) fn main(&self) -> RowMajorMatrix<Val> {
        RowMajorMatrix::new(Val::zero_vec(self.height), 1)
    }
}
