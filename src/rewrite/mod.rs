//! The rewrite, stage by stage: [`plan`] (the new layout for a requested limit), [`sites`]
//! (every place in the file that encodes the old layout), [`relink`] (patch, validate, write)
//! and [`report`] (what was changed and why).

pub mod plan;
pub mod relink;
pub mod report;
pub mod sites;
