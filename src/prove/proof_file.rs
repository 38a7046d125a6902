//! The proof file: `NXRPROOF`, a format version, then length-prefixed parts (the public data,
//! the number of segments, per segment its meta and its STARK). Every length is checked
//! against the bytes left before anything is decoded, and every value must be in postcard's
//! canonical form (digests are over the canonical bytes).

use super::{Public, SegmentMeta, SegmentProof, Stark};

pub(crate) const MAGIC: &[u8; 8] = crate::elf::PROOF_MAGIC;
/// Version of the proof file format and of the constraint system. Version 2: the whole public
/// part bound into the STARK, read-only code and `tohost`, the stack rule, the private-input
/// range. Version 3: a chain of segments (continuations; [`super::segment`]). Version 6: the
/// statement states the input's length apart from the input bytes read. Version 7: the
/// executable segments, the instruction words the run wrote, and each segment's instructions
/// fetched from memory (self-modifying code). Files of other versions are refused by name.
pub const VERSION: u32 = 7;

/// Why a proof was rejected.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// No readable header: not a proof file of this format (CLI exit 2).
    #[error("not a proof file: {0}")]
    Format(String),
    /// A proof file whose statement or STARK bytes cannot be decoded: an invalid proof.
    #[error("the proof file is damaged: {0}")]
    Malformed(String),
    #[error("the proof does not match the ELF: {0}")]
    ElfMismatch(String),
    #[error("the statement is inconsistent: {0}")]
    Statement(String),
    #[error("the STARK proof is invalid: {0}")]
    Stark(String),
}

/// A proof and what it proves: the public statement and the chain of segment proofs.
pub struct ProofFile {
    pub public: Public,
    pub segments: Vec<SegmentProof>,
}

impl ProofFile {
    /// `NXRPROOF`, version, then length-prefixed parts: the public data, the number of
    /// segments, and per segment its meta and its STARK.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = MAGIC.to_vec();
        out.extend(VERSION.to_le_bytes());
        let mut part = |b: &[u8]| {
            out.extend((b.len() as u64).to_le_bytes());
            out.extend(b);
        };
        part(&postcard::to_allocvec(&self.public).expect("serialisable"));
        part(&(self.segments.len() as u64).to_le_bytes());
        for s in &self.segments {
            part(&postcard::to_allocvec(&s.meta).expect("serialisable"));
            part(&s.proof.to_bytes());
        }
        out
    }

    pub fn from_bytes(b: &[u8]) -> Result<ProofFile, VerifyError> {
        if b.len() < 20 || &b[..8] != MAGIC {
            return Err(VerifyError::Format("no NXRPROOF header".into()));
        }
        let version = u32::from_le_bytes(b[8..12].try_into().expect("4 bytes"));
        if version != VERSION {
            let why = if version < VERSION {
                "; earlier versions do not state the HTIF exit (version 4), the initial registers (3), are one STARK without segments (2), or did not bind the whole statement (1): prove again with this build"
            } else {
                "; it was made by a newer build"
            };
            return Err(VerifyError::Format(format!(
                "proof format version {version}, this build reads version {VERSION} only{why}"
            )));
        }
        let bad = |m: String| VerifyError::Malformed(m);
        let mut rest = &b[12..];
        let mut part = |what: &str| -> Result<&[u8], VerifyError> {
            if rest.len() < 8 {
                return Err(bad(format!("{what} is truncated")));
            }
            let n = u64::from_le_bytes(rest[..8].try_into().expect("8 bytes"));
            if n > (rest.len() - 8) as u64 {
                return Err(bad(format!("{what} is truncated")));
            }
            let (p, r) = rest[8..].split_at(n as usize);
            rest = r;
            Ok(p)
        };
        // One encoding per value: digests are over the canonical bytes, so a file whose bytes
        // differ from them is refused rather than read as the same statement.
        fn canonical<T: serde::Serialize + serde::de::DeserializeOwned>(
            b: &[u8],
            what: &str,
        ) -> Result<T, VerifyError> {
            let v: T = postcard::from_bytes(b).map_err(|e| {
                VerifyError::Malformed(format!(
                    "{what} cannot be decoded: {}",
                    crate::decode::postcard_in_words(&e)
                ))
            })?;
            if postcard::to_allocvec(&v).map_or(true, |c| c != b) {
                return Err(VerifyError::Malformed(format!(
                    "{what} is not in canonical form"
                )));
            }
            Ok(v)
        }
        let public: Public = canonical(part("the statement")?, "the statement")?;
        let nb = part("the segment count")?;
        let count = u64::from_le_bytes(
            nb.try_into()
                .map_err(|_| bad("the segment count is malformed".into()))?,
        );
        if count == 0 {
            return Err(bad("the proof has no segment".into()));
        }
        let mut segments = Vec::new();
        for k in 0..count {
            let what = format!("segment {k}");
            let meta: SegmentMeta = canonical(part(&what)?, &what)?;
            // The statement says which configuration made the STARKs (the flag is bound by
            // the public digest): their bytes are decoded as proofs of that kind only.
            let proof = Stark::from_bytes(part(&what)?, public.statement.zk)
                .map_err(|e| bad(format!("{what}: {e}")))?;
            segments.push(SegmentProof { meta, proof });
        }
        if !rest.is_empty() {
            return Err(bad("trailing bytes after the last segment".into()));
        }
        Ok(ProofFile { public, segments })
    }
}
