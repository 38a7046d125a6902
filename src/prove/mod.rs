//! STARK proofs of a guest's execution (Plonky3: KoalaBear field, Poseidon2 Merkle
//! commitments, FRI, batch STARK with LogUp lookups).
//!
//! [`prove`] runs the guest and proves the run as a chain of segments ([`segment`]: one batch
//! STARK per segment, proven one at a time, the state carried between them by the verifier);
//! the proof file carries the [`Statement`] (image digest, entry, layout including the memory
//! limit, public input, outputs, exit code, cycle count), the public data the verifier needs to
//! rebuild the fixed tables (initial image, instruction ranges, system-call transcript) and
//! the segments (each its [`SegmentMeta`] and STARK). [`verify`] checks all of it; with the
//! ELF it also recomputes the image and the layout from it. See [`tables`] for the tables and what each constrains (a file each: columns,
//! constraints, trace generation); [`witness`] runs a trace through them.
//!
//! With [`ProveOptions::zk`] the STARK is zero-knowledge ([`ZkConfig`]: hiding FRI PCS over
//! salted Merkle trees, OS randomness); the statement's `zk` flag says so and selects the
//! verifier's configuration (`docs/ZK.md`).

pub mod budget;
pub mod config;
pub mod job;
pub mod proof_file;
pub mod prover;
pub mod segment;
pub mod stage;
pub mod statement;
pub mod tables;
pub mod verifier;
pub mod witness;

/// The tables under their former name (`prove::air::Table`, `prove::air::CPU_PUBLIC`, ...).
pub use tables as air;

pub use config::{config, zk_config, Config, Stark, Val, ZkConfig, RANDOM_CODEWORDS, SALT_ELEMS};
use config::{zk_public_config, Challenge, Challenger};
pub use job::{
    join, plan, prove_job, DamagedSegment, JoinError, LoadedSegment, SegmentJob, SegmentProofFile,
    StatementFile,
};
pub use proof_file::{ProofFile, VerifyError, VERSION};
use prover::public_values;
pub use prover::{
    mem_bounds, program_id, prove, prove_piece, prove_segment, prove_traces, prove_with,
    public_from_elf, public_of_run, trace_run, Progress, ProveError, ProveOptions, ProveStats,
    SegmentStats,
};
pub use segment::{Chain, SegmentMeta, SegmentProof, SegmentStart, DEFAULT_SEGMENT_CYCLES};
pub use statement::{Event, Public, Statement};
pub use verifier::{verify, verify_segment};

/// The largest memory limit: the whole 32-bit address space.
pub const MAX_MEMLIMIT: u64 = 1 << 32;

/// "yes" or "no".
pub fn yes_no(b: bool) -> &'static str {
    if b {
        "yes"
    } else {
        "no"
    }
}
