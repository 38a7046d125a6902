//! Where the proof of a segment is: its stage (trace, commit, quotient, FRI/open), for a
//! progress display. The prover states trace and commit itself; inside Plonky3's
//! `prove_batch` the quotient and the FRI opening are seen through the `tracing` spans it
//! opens ("compute quotient", "FRI prover"), by a subscriber that [`watch`] installs once for
//! the process (it records nothing else and prints nothing). [`current`] reads the stage: the
//! one of the proof last started in this process.

use std::sync::atomic::{AtomicU8, Ordering};

/// A stage of one segment's proof, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Building the tables from the segment's trace.
    Trace = 1,
    /// Committing to the traces (low-degree extensions, Merkle trees) and the lookups.
    Commit = 2,
    /// Evaluating the constraints into the quotient polynomials.
    Quotient = 3,
    /// Opening at the out-of-domain point: FRI folding and queries.
    Open = 4,
}

impl Stage {
    /// The name a progress display shows.
    pub fn name(self) -> &'static str {
        match self {
            Stage::Trace => "trace",
            Stage::Commit => "commit",
            Stage::Quotient => "quotient",
            Stage::Open => "FRI/open",
        }
    }

    /// The stage a Plonky3 span (0.9.0-rc.2) starts.
    fn of_span(name: &str) -> Option<Stage> {
        match name {
            "compute quotient" => Some(Stage::Quotient),
            "FRI prover" => Some(Stage::Open),
            _ => None,
        }
    }
}

static CURRENT: AtomicU8 = AtomicU8::new(0);

/// The stage of the segment proof in progress (the last one started), or `None` before any.
pub fn current() -> Option<Stage> {
    match CURRENT.load(Ordering::Relaxed) {
        1 => Some(Stage::Trace),
        2 => Some(Stage::Commit),
        3 => Some(Stage::Quotient),
        4 => Some(Stage::Open),
        _ => None,
    }
}

pub(crate) fn set(s: Stage) {
    CURRENT.store(s as u8, Ordering::Relaxed);
}

/// Sees the spans that start a stage; every other callsite is disabled (never called again).
struct Spans;

impl tracing::Subscriber for Spans {
    fn enabled(&self, m: &tracing::Metadata<'_>) -> bool {
        m.is_span() && Stage::of_span(m.name()).is_some()
    }
    fn new_span(&self, a: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        if let Some(s) = Stage::of_span(a.metadata().name()) {
            set(s);
        }
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, _: &tracing::Event<'_>) {}
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

/// Follow the stages inside Plonky3 (see the module documentation): installs the process's
/// global `tracing` subscriber, once. False when another one was installed first (then only
/// trace and commit are seen).
pub fn watch() -> bool {
    static WATCHING: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *WATCHING.get_or_init(|| tracing::subscriber::set_global_default(Spans).is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plonky3_spans_name_the_stages() {
        assert_eq!(Stage::of_span("compute quotient"), Some(Stage::Quotient));
        assert_eq!(Stage::of_span("FRI prover"), Some(Stage::Open));
        assert_eq!(Stage::of_span("build merkle tree"), None);
        set(Stage::Commit);
        assert_eq!(current(), Some(Stage::Commit));
    }

    #[test]
    fn the_last_progress_is_not_a_segment_past_the_end() {
        use crate::prove::Progress;
        let p = |done, total| Progress::Segments { done, total }.to_string();
        assert_eq!(p(0, 1), "proving segment 1 of 1");
        assert_eq!(p(1, 1), "proved 1 segment");
        assert_eq!(p(2, 2), "proved 2 segments");
    }
}
