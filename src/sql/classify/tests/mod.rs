//! Unit tests of `classify`, one file per feature; shared helpers here.
//!
//! Owns: the test helpers (`kind`, `flags`, `BEGIN`). Must not hold tests
//! itself.

use super::*;
use StatementKind as K;

fn kind(sql: &str) -> StatementKind {
    classify(sql).kind
}

fn flags(names: &[&str]) -> StatementFlags {
    let mut f = StatementFlags::default();
    for name in names {
        match *name {
            "locking_read" => f.locking_read = true,
            "select_into" => f.select_into = true,
            "assigns_user_variable" => f.assigns_user_variable = true,
            "named_lock" => f.named_lock = true,
            "releases_named_lock" => f.releases_named_lock = true,
            "side_effect_function" => f.side_effect_function = true,
            "uses_last_insert_id" => f.uses_last_insert_id = true,
            "uses_found_rows" => f.uses_found_rows = true,
            "uses_row_count" => f.uses_row_count = true,
            "calc_found_rows" => f.calc_found_rows = true,
            "reads_diagnostics" => f.reads_diagnostics = true,
            "temporary_table" => f.temporary_table = true,
            "multi_statement" => f.multi_statement = true,
            other => panic!("unknown flag {other}"),
        }
    }
    f
}

const BEGIN: K = K::Begin {
    read_only: false,
    read_write: false,
};

mod fast_path;
mod fingerprints;
mod kinds;
mod robustness;
mod set;
mod splitting;
