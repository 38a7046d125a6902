//! The `--json` contract (README "JSON output"): every command with `--json` prints exactly one
//! JSON object on stdout, on success its report and on failure an [`ErrorReport`], each with a
//! `schema` field naming its JSON Schema (`nexus-relink/<command>/v1`,
//! `nexus-relink/error/v1`). The reports are the typed structs below and in each command's file;
//! their schemas are generated from those types (schemars) and committed in `docs/schema/`
//! (the unit test `schemas_in_docs_are_current` regenerates them with
//! `NEXUS_RELINK_BLESS=1`), and `tests/cli_schema.rs` validates real outputs against them.
//!
//! Bytes follow one rule everywhere: a byte string is given exactly as lowercase hex in a field
//! whose name ends in `_hex`; a guest's `stdout` and `stderr` are also given as text (UTF-8,
//! invalid sequences replaced by U+FFFD) under their plain names, for reading.

use schemars::JsonSchema;
use serde::Serialize;

/// The version of every report's schema; raised when a field changes meaning or goes away.
pub const VERSION: u32 = 1;

/// The schema name of a command's report: `nexus-relink/run/v1`.
pub fn id(command: &str) -> String {
    format!("nexus-relink/{command}/v{VERSION}")
}

/// Print one report on stdout (pretty-printed, one object).
pub fn emit<T: Serialize>(report: &T) {
    outln!(
        "{}",
        serde_json::to_string_pretty(report).expect("reports serialise")
    );
}

/// Lowercase hex of `bytes` (the byte rule above).
pub fn hex(bytes: &[u8]) -> String {
    hex::encode(bytes)
}

/// A guest's output as text, for reading (invalid UTF-8 replaced by U+FFFD); the exact bytes
/// are the `_hex` field beside it.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// What every command prints with `--json` when it fails: the one-line message, its detail
/// lines, and the process's exit code. `join` adds the segments it refused.
#[derive(Debug, Default, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ErrorReport {
    /// `nexus-relink/error/v1`.
    #[schemars(extend("const" = "nexus-relink/error/v1"))]
    pub schema: String,
    /// The command that failed: rewrite, inspect, run, prove, verify, plan, prove-segment, join.
    pub command: String,
    /// The error, as the one line on stderr (without `nexus-relink: error: `).
    pub error: String,
    /// The lines that follow it on stderr (e.g. every ambiguous place), possibly none.
    pub details: Vec<String>,
    /// The process's exit code (for `run`: 125 or 126, the tool's, not the guest's).
    pub exit_code: i32,
    /// join: indices no segment proof was given for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub missing: Option<Vec<u64>>,
    /// join: indices given more than once.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duplicated: Option<Vec<u64>>,
    /// join: indices whose proof does not verify.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub invalid: Option<Vec<u64>>,
    /// join: segment proofs (their paths as given) of another run, program or segment size.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub foreign: Option<Vec<String>>,
}

impl ErrorReport {
    /// The failure object of `command` for `e`, exiting with `exit_code`.
    pub fn new(command: &str, e: &nexus_relink::Error, exit_code: i32) -> ErrorReport {
        ErrorReport {
            schema: id("error"),
            command: command.to_string(),
            error: e.to_string(),
            details: e.details(),
            exit_code,
            ..ErrorReport::default()
        }
    }

    /// A failure that is a message only (a command-line error).
    pub fn message(command: &str, error: String, exit_code: i32) -> ErrorReport {
        ErrorReport {
            schema: id("error"),
            command: command.to_string(),
            error,
            exit_code,
            ..ErrorReport::default()
        }
    }
}

/// Print `e` as one line on stderr (and its details indented below); with `json` also the
/// [`ErrorReport`] on stdout. Gives `code`.
pub fn fail(command: &str, json: bool, e: &nexus_relink::Error, code: i32) -> i32 {
    if json {
        emit(&ErrorReport::new(command, e, code));
    }
    super::report(e, code)
}

/// Every report's schema, by file name in `docs/schema/` (without `.json`).
#[cfg(test)]
pub fn schemas() -> Vec<(&'static str, schemars::Schema)> {
    use super::{distributed, inspect, prove, relink, run};
    // The schema of what is printed (a field skipped when empty is not required), not of
    // what would be read back.
    fn of<T: JsonSchema>() -> schemars::Schema {
        schemars::generate::SchemaSettings::default()
            .for_serialize()
            .into_generator()
            .into_root_schema_for::<T>()
    }
    vec![
        ("error", of::<ErrorReport>()),
        ("rewrite", of::<relink::RewriteReport>()),
        ("inspect", of::<inspect::InspectReport>()),
        ("run", of::<run::RunReport>()),
        ("prove", of::<prove::ProveReport>()),
        ("verify", of::<prove::VerifyReport>()),
        ("plan", of::<distributed::PlanReport>()),
        ("prove-segment", of::<distributed::ProveSegmentReport>()),
        ("join", of::<distributed::JoinReport>()),
    ]
}

#[cfg(test)]
mod tests {
    /// `docs/schema/NAME.json` equals the schema generated from the report types; with
    /// `NEXUS_RELINK_BLESS=1` they are rewritten.
    #[test]
    fn schemas_in_docs_are_current() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/schema");
        let bless = std::env::var_os("NEXUS_RELINK_BLESS").is_some_and(|v| v == "1");
        let mut stale = Vec::new();
        for (name, schema) in super::schemas() {
            let text = serde_json::to_string_pretty(&schema).unwrap() + "\n";
            let path = dir.join(format!("{name}.json"));
            if bless {
                std::fs::create_dir_all(&dir).unwrap();
                std::fs::write(&path, &text).unwrap();
            } else if std::fs::read_to_string(&path).ok().as_deref() != Some(text.as_str()) {
                stale.push(name);
            }
        }
        assert!(
            stale.is_empty(),
            "docs/schema/ differs from the report types for {stale:?}; regenerate with NEXUS_RELINK_BLESS=1 cargo test --bin nexus-relink schemas_in_docs_are_current"
        );
    }

    #[test]
    fn every_schema_names_its_id() {
        for (name, schema) in super::schemas() {
            let v = serde_json::to_value(&schema).unwrap();
            assert!(
                v["properties"]["schema"].is_object(),
                "{name}: no schema field"
            );
            assert!(
                v["required"]
                    .as_array()
                    .is_some_and(|r| r.iter().any(|k| k == "schema")),
                "{name}: schema not required"
            );
        }
    }
}
