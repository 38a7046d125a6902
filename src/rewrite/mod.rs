//! The rewrite, stage by stage: [`plan`] (the new layout for a requested limit), [`sites`]
//! (every place in the file that encodes the old layout), `patch` (same-size edits, checked),
//! `validate` (the output re-read and judged against the plan), [`relink`] (the driver and its
//! errors) and [`report`] (what was changed and why).

mod patch;
pub mod plan;
pub mod relink;
pub mod report;
pub mod sites;
mod validate;
