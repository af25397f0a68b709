//! The `shardcat check` and `shardcat tables` commands of the binary:
//! validating configurations (with their routing cases), printing which
//! `time_range` period maps to which node and table, the spread of sample
//! keys, the slots moved by `shards move`/`split`, and running the
//! period-table jobs once.
//!
//! Owns: those commands' output and exit codes. Must not: hold logic the
//! proxy needs (the jobs are `shardcat::ops::tables`, placement is
//! `shardcat::placement`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use shardcat::config::Config;
use shardcat::ops::tables::{self, PeriodState};
use shardcat::placement::{KeyType, ParamValue, Period, ShardKey, ShardingRules};
use shardcat::router::shard::cases;

use crate::TablesAction;

pub mod shards;

/// `shardcat check`: validate each configuration and run its routing cases.
pub fn check(paths: &[PathBuf], live: bool, sample: Option<&Path>) -> ExitCode {
    let mut ok = true;
    let mut cases_run: Vec<PathBuf> = Vec::new();
    let canonical = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
    for p in paths {
        let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if let Some(stem) = name.strip_suffix(".cases.toml") {
            // A cases file: run it against its configuration, unless that
            // configuration is checked too (its cases run then).
            let config = p.with_file_name(format!("{stem}.toml"));
            if paths.iter().any(|q| canonical(q) == canonical(&config)) {
                continue;
            }
            match Config::load(&config) {
                Ok(cfg) => ok &= run_cases_file(&cfg, p, &mut cases_run, &canonical),
                Err(e) => {
                    ok = false;
                    println!(
                        "FAIL {}: its configuration {} is invalid: {e}",
                        p.display(),
                        config.display()
                    );
                }
            }
            continue;
        }
        match Config::load(p) {
            Ok(c) => {
                for w in [c.cleartext_warning(), c.private_key_warning()]
                    .into_iter()
                    .flatten()
                {
                    println!("WARN {w}");
                }
                println!(
                    "ok   {}: {} node(s), {} user(s), {} schema placement(s), {} table rule(s)",
                    p.display(),
                    c.nodes.len(),
                    c.users.len(),
                    c.schemas.len(),
                    c.tables.len()
                );
                if !c.cases.is_empty() {
                    let text = std::fs::read_to_string(p).unwrap_or_default();
                    ok &= report_cases(p, &cases::run(&c.sharding, &c.cases, &text));
                }
                print_periods(&c);
                shards::print_placement(p);
                if let Some(sample) = sample {
                    ok &= print_sample_spread(&c, sample);
                }
                if live {
                    ok &= check_live(&c);
                }
                let sibling = p.with_extension("cases.toml");
                if sibling.exists() {
                    ok &= run_cases_file(&c, &sibling, &mut cases_run, &canonical);
                }
            }
            Err(e) => {
                ok = false;
                println!("FAIL {e}");
            }
        }
    }
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn run_cases_file(
    cfg: &Config,
    path: &Path,
    done: &mut Vec<PathBuf>,
    canonical: &dyn Fn(&Path) -> PathBuf,
) -> bool {
    let key = canonical(path);
    if done.contains(&key) {
        return true;
    }
    done.push(key);
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => {
            println!("FAIL {}: cannot read: {e}", path.display());
            return false;
        }
    };
    let file: cases::CasesFile = match toml::from_str(&text) {
        Ok(f) => f,
        Err(e) => {
            let line = e.span().map(|s| shardcat::config::line_of(&text, s.start));
            match line {
                Some(l) => println!("FAIL {}:{l}: {}", path.display(), e.message().trim()),
                None => println!("FAIL {}: {}", path.display(), e.message().trim()),
            }
            return false;
        }
    };
    report_cases(path, &cases::run(&cfg.sharding, &file.cases, &text))
}

fn report_cases(path: &Path, results: &[cases::CaseResult]) -> bool {
    let mut ok = true;
    for r in results {
        let status = if r.ok { "ok  " } else { "FAIL" };
        println!("{status} {}:{}: {}", path.display(), r.line, r.label);
        for line in &r.detail {
            println!("       {line}");
        }
        for w in &r.warnings {
            println!("warn {}:{}: {w}", path.display(), r.line);
        }
        ok &= r.ok;
    }
    let failed = results.iter().filter(|r| !r.ok).count();
    println!(
        "{}: {} case(s), {} failed",
        path.display(),
        results.len(),
        failed
    );
    ok
}

/// How many past periods `check` lists per table (older ones are counted).
const PAST_LISTED: usize = 12;

/// For every `time_range` or composite table: which period maps to which
/// node and table today (retired and past periods summarized, then the
/// current and created-ahead ones); a composite period lists the table of
/// every hash slot.
fn print_periods(cfg: &Config) {
    let day = tables::today();
    let all = tables::period_tables(cfg, day);
    let mut by_table: BTreeMap<&str, BTreeMap<Period, Vec<&tables::PeriodTable>>> = BTreeMap::new();
    for t in &all {
        by_table
            .entry(t.logical.as_str())
            .or_default()
            .entry(t.period)
            .or_default()
            .push(t);
    }
    for (logical, periods) in by_table {
        let state_of = |tables: &Vec<&tables::PeriodTable>| {
            tables.first().map_or(PeriodState::Later, |t| t.state)
        };
        let count = |state| periods.values().filter(|t| state_of(t) == state).count();
        println!(
            "     {logical}: periods on {day}: {} retired, {} past, current, {} ahead, {} later (not routed until due)",
            count(PeriodState::Retired),
            count(PeriodState::Past),
            count(PeriodState::Ahead),
            count(PeriodState::Later),
        );
        let past: Vec<_> = periods
            .iter()
            .filter(|(_, t)| state_of(t) == PeriodState::Past)
            .collect();
        if past.len() > PAST_LISTED {
            println!("       … {} earlier past periods", past.len() - PAST_LISTED);
        }
        let shown =
            past.iter()
                .skip(past.len().saturating_sub(PAST_LISTED))
                .copied()
                .chain(periods.iter().filter(|(_, t)| {
                    matches!(state_of(t), PeriodState::Current | PeriodState::Ahead)
                }));
        for (period, tables) in shown {
            let places: Vec<String> = tables
                .iter()
                .map(|t| format!("{} {}", t.node, t.table))
                .collect();
            println!(
                "       {} {:<7} → {}",
                period.name(),
                state_of(tables).name(),
                places.join(", ")
            );
        }
    }
}

/// `--sample FILE`: places each key of the file (one per line) in every
/// sharded table and prints the rows per physical table and the skew
/// (largest table ÷ mean). False if the file cannot be read.
fn print_sample_spread(cfg: &Config, sample: &Path) -> bool {
    let text = match std::fs::read_to_string(sample) {
        Ok(t) => t,
        Err(e) => {
            println!("FAIL {}: cannot read: {e}", sample.display());
            return false;
        }
    };
    let keys: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let names = cfg.node_names();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let Ok(rules) = ShardingRules::new(cfg.tables.clone(), &refs) else {
        return false;
    };
    for placement in rules.tables() {
        let Some((key_type, _)) = placement.key_semantics() else {
            continue;
        };
        let mut counts: BTreeMap<(String, String), usize> = BTreeMap::new();
        let mut unplaced = 0usize;
        let composite = placement.root().filter(|r| r.composite().is_some());
        for line in &keys {
            // A composite table's sample line may carry the period column's
            // value after a comma: `42,2026-03-15`.
            let (key, date) = match (composite, line.split_once(',')) {
                (Some(_), Some((key, date))) => (key.trim(), Some(date.trim())),
                _ => (*line, None),
            };
            let value = match (key_type, key.parse::<i64>()) {
                (KeyType::Int, Ok(n)) => ParamValue::Int(n),
                _ => ParamValue::Bytes(key.as_bytes()),
            };
            let Ok(key) = ShardKey::from_param(value, key_type) else {
                unplaced += 1;
                continue;
            };
            let place = match composite {
                Some(root) => composite_place(root, placement.rule(), &key, date),
                None => placement
                    .target_for_key(&key)
                    .ok()
                    .map(|t| (t.node, t.table)),
            };
            match place {
                Some(place) => *counts.entry(place).or_default() += 1,
                None => unplaced += 1,
            }
        }
        let all_targets = placement.physical_targets().len().max(1);
        // Keys without a date spread over hash slots, not physical tables.
        let targets = match composite {
            Some(root) if counts.keys().all(|(_, t)| t.starts_with("hash slot")) => root
                .composite()
                .map_or(all_targets, |c| c.hash_slot_count(root.slot_count()).max(1)),
            _ => all_targets,
        };
        let placed: usize = counts.values().sum();
        let mean = placed as f64 / targets as f64;
        let max = counts.values().copied().max().unwrap_or(0);
        let skew = if mean > 0.0 { max as f64 / mean } else { 0.0 };
        println!(
            "     {}: {placed} of {} sample keys placed over {} of {targets} physical tables, skew {skew:.2} (largest ÷ mean){}",
            placement.rule().name,
            keys.len(),
            counts.len(),
            if unplaced > 0 { format!(", {unplaced} not placeable") } else { String::new() }
        );
        let mut busiest: Vec<_> = counts.into_iter().collect();
        busiest.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        for ((node, table), n) in busiest.into_iter().take(8) {
            println!("       {n:>8} {node} {table}");
        }
    }
    true
}

/// Where a sample key of a composite table lands: its physical table when
/// the line gives the period column's value, else its hash slot (every
/// period of it).
fn composite_place(
    root: &shardcat::placement::ShardedTable,
    rule: &shardcat::placement::TableRule,
    key: &ShardKey,
    date: Option<&str>,
) -> Option<(String, String)> {
    let composite = root.composite()?;
    match date {
        Some(date) => {
            let period_key = ShardKey::from_param(
                ParamValue::Bytes(date.as_bytes()),
                composite.period.key_type,
            )
            .ok()?;
            let slot = root.slot_for_keys(key, Some(&period_key)).ok()?;
            let target = root.physical_target(&rule.name, &root.physical_name, slot)?;
            Some((target.node, target.table))
        }
        None => {
            let slot = root
                .slots_for_range(
                    std::ops::Bound::Included(key),
                    std::ops::Bound::Included(key),
                )
                .to_vec(root.slot_count())
                .first()
                .copied()?;
            let node = root.node_of_slot(slot)?.to_owned();
            Some((
                node,
                format!("hash slot {} (all periods)", root.hash_slot(slot)),
            ))
        }
    }
}

fn runtime() -> Option<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| eprintln!("cannot start the runtime: {e}"))
        .ok()
}

/// `check --live`: the period tables on the nodes and the pass-through
/// users' grants on physical tables; false on a warning.
fn check_live(cfg: &Config) -> bool {
    let Some(rt) = runtime() else {
        return false;
    };
    let (mut lines, mut warnings) = rt.block_on(tables::check_live(cfg, tables::today()));
    let (grants, grant_warnings) = rt.block_on(shardcat::ops::grants::check_live(cfg));
    lines.extend(grants);
    warnings += grant_warnings;
    for line in lines {
        println!("{line}");
    }
    warnings == 0
}

/// `shardcat tables ensure|retire`.
pub fn tables(action: TablesAction) -> ExitCode {
    let path = match &action {
        TablesAction::Ensure { config, .. } | TablesAction::Retire { config, .. } => config,
    };
    let cfg = match Config::load(path) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let Some(rt) = runtime() else {
        return ExitCode::FAILURE;
    };
    let report = match action {
        TablesAction::Ensure { dry_run, .. } => {
            rt.block_on(tables::run_ensure(&cfg, tables::today(), dry_run))
        }
        TablesAction::Retire {
            dry_run,
            archive_schema,
            ..
        } => rt.block_on(tables::run_retire(
            &cfg,
            tables::today(),
            dry_run,
            archive_schema.as_deref(),
        )),
    };
    for line in &report.lines {
        println!("{line}");
    }
    if report.failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// `shardcat password-hash`: the `password_hash` line for the password on
/// standard input's first line (without its line end).
pub fn password_hash(plugin: &str) -> ExitCode {
    let mut line = String::new();
    if std::io::stdin().read_line(&mut line).is_err() {
        eprintln!("cannot read the password from standard input");
        return ExitCode::from(2);
    }
    let password = line.strip_suffix('\n').unwrap_or(&line);
    let password = password.strip_suffix('\r').unwrap_or(password);
    let hash = match plugin {
        "caching_sha2_password" => {
            shardcat::wire::sha2_stored::StoredSha2::new(password.as_bytes()).to_text()
        }
        "mysql_native_password" => shardcat::security::credentials::native_hash(password),
        other => {
            eprintln!(
                "--plugin {other:?}: expected caching_sha2_password or mysql_native_password"
            );
            return ExitCode::from(2);
        }
    };
    println!("password_hash = {}", toml::Value::String(hash));
    ExitCode::SUCCESS
}
