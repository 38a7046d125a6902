//! The Plonky3 configuration: the KoalaBear field and its degree-4 extension, Poseidon2 Merkle
//! commitments, FRI parameters, the zero-knowledge variant (hiding FRI over salted Merkle
//! trees), and [`Stark`], a proof made with either.

use super::statement::{self, Public};
use p3_batch_stark::BatchProof;
use p3_challenger::DuplexChallenger;
use p3_commit::ExtensionMmcs;
use p3_dft::Radix2DitParallel;
use p3_field::extension::BinomialExtensionField;
use p3_field::Field;
use p3_fri::{FriParameters, HidingFriPcs, TwoAdicFriPcs};
use p3_koala_bear::{default_koalabear_poseidon2_16, KoalaBear, Poseidon2KoalaBear};
use p3_merkle_tree::{MerkleTreeHidingMmcs, MerkleTreeMmcs};
use p3_symmetric::{PaddingFreeSponge, TruncatedPermutation};
use rand::rngs::{StdRng, SysRng};
use rand::SeedableRng;

pub type Val = KoalaBear;
pub(crate) type Challenge = BinomialExtensionField<Val, 4>;
type Perm = Poseidon2KoalaBear<16>;
type Hash = PaddingFreeSponge<Perm, 16, 8, 8>;
type Compress = TruncatedPermutation<Perm, 2, 8, 16>;
type ValMmcs =
    MerkleTreeMmcs<<Val as Field>::Packing, <Val as Field>::Packing, Hash, Compress, 2, 8>;
type ChallengeMmcs = ExtensionMmcs<Val, Challenge, ValMmcs>;
pub(crate) type Challenger = DuplexChallenger<Val, Perm, 16, 8>;
type Pcs = TwoAdicFriPcs<Val, Radix2DitParallel<Val>, ValMmcs, ChallengeMmcs>;
pub type Config = p3_uni_stark::StarkConfig<Pcs, Challenge, Challenger>;

/// Random field elements salting each leaf of a hiding Merkle tree: 4 × 31 bits.
pub const SALT_ELEMS: usize = 4;
/// Random codewords the hiding PCS appends to every committed matrix (at least the extension
/// degree, 4, so that the batching over the extension field is masked too).
pub const RANDOM_CODEWORDS: usize = 4;
type ZkValMmcs = MerkleTreeHidingMmcs<
    <Val as Field>::Packing,
    <Val as Field>::Packing,
    Hash,
    Compress,
    StdRng,
    2,
    8,
    SALT_ELEMS,
>;
type ZkChallengeMmcs = ExtensionMmcs<Val, Challenge, ZkValMmcs>;
type ZkPcs = HidingFriPcs<Val, Radix2DitParallel<Val>, ZkValMmcs, ZkChallengeMmcs, StdRng>;
/// The zero-knowledge configuration: hiding FRI (random codewords, randomised quotient) over
/// salted Merkle trees, with the same hash, field and FRI parameters as [`Config`].
pub type ZkConfig = p3_uni_stark::StarkConfig<ZkPcs, Challenge, Challenger>;

fn fri_params<M>(mmcs: M) -> FriParameters<M> {
    FriParameters {
        log_blowup: 1,
        log_final_poly_len: 0,
        max_log_arity: 3,
        num_queries: 100,
        batch_proof_of_work_bits: 0,
        commit_proof_of_work_bits: 0,
        query_proof_of_work_bits: 16,
        mmcs,
    }
}

/// FRI: rate 1/2, 100 queries, 16 bits of query proof-of-work (about 116 conjectured bits),
/// folding arity 8.
pub fn config() -> Config {
    let perm = default_koalabear_poseidon2_16();
    let val_mmcs = ValMmcs::new(Hash::new(perm.clone()), Compress::new(perm.clone()), 0);
    let fri = fri_params(ChallengeMmcs::new(val_mmcs.clone()));
    let pcs = Pcs::new(Radix2DitParallel::default(), val_mmcs, fri);
    Config::new(pcs, Challenger::new(perm))
}

/// The zero-knowledge configuration ([`ZkConfig`]), its salts and masks drawn from
/// generators seeded by the operating system (`getrandom`), fresh for every call: make one
/// per proof.
pub fn zk_config() -> Result<ZkConfig, String> {
    let seeded = || {
        StdRng::try_from_rng(&mut SysRng)
            .map_err(|e| format!("no randomness from the operating system: {e}"))
    };
    Ok(zk_config_from(seeded()?, seeded()?))
}

/// The zero-knowledge configuration that commits the *public* preprocessed tables (program,
/// image, shift, transcript): the verifier recomputes that commitment, so its salts must be
/// ones the verifier can derive. They are drawn from a generator seeded with a hash of the
/// public part, which hides nothing and needs to hide nothing (the tables are public); the
/// trace, quotient and FRI commitments of a proof use [`zk_config`]'s OS randomness. The
/// verifier draws nothing else from it.
pub(crate) fn zk_public_config(p: &Public) -> ZkConfig {
    use sha2::{Digest, Sha256};
    let seed = |what: &[u8]| {
        let mut h = Sha256::new();
        h.update(b"nexus-relink zk public salts ");
        h.update(what);
        h.update(statement::statement_digest(p));
        StdRng::from_seed(h.finalize().into())
    };
    zk_config_from(seed(b"mmcs"), seed(b"pcs"))
}

fn zk_config_from(mmcs_rng: StdRng, pcs_rng: StdRng) -> ZkConfig {
    let perm = default_koalabear_poseidon2_16();
    let val_mmcs = ZkValMmcs::new(
        Hash::new(perm.clone()),
        Compress::new(perm.clone()),
        0,
        mmcs_rng,
    );
    // The FRI commit-phase trees are salted too (a clone reseeds from the original's stream).
    let fri = fri_params(ZkChallengeMmcs::new(val_mmcs.clone()));
    let pcs = ZkPcs::new(
        Radix2DitParallel::default(),
        val_mmcs,
        fri,
        RANDOM_CODEWORDS,
        pcs_rng,
    );
    ZkConfig::new(pcs, Challenger::new(perm))
}

/// The STARK of a proof file: made with [`Config`], or with [`ZkConfig`] when the statement
/// says zero-knowledge.
pub enum Stark {
    Plain(BatchProof<Config>),
    Zk(BatchProof<ZkConfig>),
}

impl Stark {
    pub fn is_zk(&self) -> bool {
        matches!(self, Stark::Zk(_))
    }

    /// Per table: log2 of the committed (extended) trace domain, the trace height's log plus
    /// one in a zero-knowledge proof.
    pub fn degree_bits(&self) -> &[usize] {
        match self {
            Stark::Plain(p) => &p.degree_bits,
            Stark::Zk(p) => &p.degree_bits,
        }
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        match self {
            Stark::Plain(p) => postcard::to_allocvec(p),
            Stark::Zk(p) => postcard::to_allocvec(p),
        }
        .expect("serialisable")
    }

    /// Decode STARK bytes as a proof of the given kind; the whole slice must be one proof.
    pub fn from_bytes(b: &[u8], zk: bool) -> Result<Stark, String> {
        fn take<T: serde::de::DeserializeOwned>(b: &[u8]) -> Result<T, String> {
            let (v, tail): (T, &[u8]) = postcard::take_from_bytes(b).map_err(|e| {
                format!(
                    "the STARK proof cannot be decoded: {}",
                    crate::decode::postcard_in_words(&e)
                )
            })?;
            if !tail.is_empty() {
                return Err("trailing bytes after the STARK proof".into());
            }
            Ok(v)
        }
        Ok(if zk {
            Stark::Zk(take(b)?)
        } else {
            Stark::Plain(take(b)?)
        })
    }
}
