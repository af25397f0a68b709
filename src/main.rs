//! The `shardcat` command: `serve` runs the proxy, `check` validates
//! configuration and rule files, `explain` shows where a statement goes.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};

use shardcat::backend::health;
use shardcat::config::Config;
use shardcat::frontend::Proxy;
use shardcat::placement::ParamValue;
use shardcat::router::shard::cases;

#[derive(Parser)]
#[command(
    name = "shardcat",
    version,
    about = "A MySQL sharding and read/write-splitting proxy"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the proxy: listen for MySQL clients and route their statements to
    /// the backend nodes described in the configuration file.
    Serve {
        /// Configuration file (TOML), e.g. rules/shardcat.toml.
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Validate configuration files (unknown keys, bad values, undefined
    /// nodes, sharding rules) and report each problem with its file and
    /// line; then run the routing test cases of each configuration
    /// (`[[case]]` entries in it and in `<name>.cases.toml` next to it; a
    /// `*.cases.toml` given directly runs against `<name>.toml`). Exit code
    /// 0 only if every file is valid and every case holds.
    Check {
        /// Files to check.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
    },
    /// Print the route plan of a statement offline: for sharded tables the
    /// targets (node, physical tables, the SQL each receives) and the merge
    /// recipe; otherwise the node, role and reason of read/write splitting.
    Explain {
        #[arg(long, short)]
        config: PathBuf,
        /// The session's current database.
        #[arg(long)]
        schema: Option<String>,
        /// Values of `?` placeholders, in order (integers are sent as
        /// integers, anything else as strings).
        #[arg(long = "param")]
        params: Vec<String>,
        /// The statement.
        sql: String,
    },
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("SHARDCAT_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    match cli.command {
        Command::Serve { config } => serve(config),
        Command::Check { paths } => check(&paths),
        Command::Explain {
            config,
            schema,
            params,
            sql,
        } => match Config::load(&config) {
            Ok(cfg) => {
                let values: Vec<ParamValue<'_>> = params
                    .iter()
                    .map(|p| match p.parse::<i64>() {
                        Ok(i) => ParamValue::Int(i),
                        Err(_) => ParamValue::Bytes(p.as_bytes()),
                    })
                    .collect();
                match cfg.sharding.plan(&sql, schema.as_deref(), &values) {
                    Ok(Some(plan)) => {
                        print!("{}", cfg.sharding.describe(&plan));
                        return ExitCode::SUCCESS;
                    }
                    Ok(None) => {}
                    Err(e) => {
                        println!("error: {e}");
                        return ExitCode::FAILURE;
                    }
                }
                let c = shardcat::sql::classify(&sql);
                let node = cfg.node_for_schema(schema.as_deref());
                let view = shardcat::router::SessionView {
                    node,
                    in_transaction: false,
                    read_only_transaction: false,
                    autocommit: true,
                    read_write_split: cfg.routing.read_write_split,
                    consistency: cfg.routing.consistency,
                    pinned_to_primary: false,
                };
                let plan = shardcat::router::route(&c, &view);
                println!("node:   {}", cfg.nodes[plan.node].name.get_ref());
                println!("role:   {}", plan.role.as_str());
                println!("reason: {}", plan.reason);
                println!("sql:    {}", sql.trim());
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("{e}");
                ExitCode::FAILURE
            }
        },
    }
}

/// `shardcat check`: validate each configuration and run its routing cases.
fn check(paths: &[PathBuf]) -> ExitCode {
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
                if let Some(w) = c.cleartext_warning() {
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

fn serve(path: PathBuf) -> ExitCode {
    let config = match Config::load(&path) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    if let Some(w) = config.cleartext_warning() {
        tracing::warn!("{}", shardcat::logsafe::escape(&w));
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2),
        )
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        let listen = config.server.listen.clone();
        let interval = Duration::from_millis(config.backend.health_interval_ms);
        let timeout = Duration::from_millis(config.backend.health_timeout_ms);
        let listener = match shardcat::frontend::lifecycle::bind(&listen, config.server.reuse_port) {
            Ok(l) => l,
            Err(e) => {
                eprintln!("cannot listen on {listen}: {e}");
                return ExitCode::FAILURE;
            }
        };
        let http_listen = config.admin.http_listen.clone();
        let proxy = Proxy::new(config).await;
        if !http_listen.is_empty() {
            match tokio::net::TcpListener::bind(&http_listen).await {
                Ok(l) => {
                    tracing::info!(%http_listen, "metrics and status page over HTTP");
                    tokio::spawn(shardcat::ops::http::serve(proxy.clone(), l));
                }
                Err(e) => {
                    eprintln!("cannot listen on {http_listen} ([admin] http_listen): {e}");
                    return ExitCode::FAILURE;
                }
            }
        }
        health::check_all_once(&proxy.cluster, timeout).await;
        health::spawn_checkers(&proxy.cluster, interval, timeout);
        if proxy.config.load().uses_xa() {
            let every = Duration::from_millis(proxy.config.load().routing.xa_recovery_interval_ms);
            let round = shardcat::backend::xa_recovery::recover_once(&proxy.cluster).await;
            tracing::info!(?round, "XA recovery at start");
            shardcat::backend::xa_recovery::spawn(proxy.cluster.clone(), every);
        }
        tracing::info!(%listen, version = %proxy.server_version, "shardcat is listening");
        let reload_proxy = proxy.clone();
        tokio::spawn(async move { reload_on_sighup(reload_proxy, path).await });
        let serving = tokio::spawn(proxy.clone().serve(listener));
        shutdown_signal().await;
        let timeout = Duration::from_millis(proxy.config.load().server.shutdown_timeout_ms);
        tracing::info!(
            clients = proxy.client_count(),
            "shutting down: no new clients; idle sessions close, transactions may finish within {} ms",
            timeout.as_millis()
        );
        let drained = shardcat::frontend::lifecycle::drain(&proxy, timeout).await;
        let _ = serving.await;
        if drained.cut > 0 {
            tracing::warn!(
                sessions = drained.cut,
                "shutdown timeout: closing sessions still in a transaction (the servers roll them back)"
            );
        } else {
            tracing::info!(waited_ms = drained.waited.as_millis() as u64, "every session ended; exiting");
        }
        ExitCode::SUCCESS
    })
}

/// Waits for SIGTERM or SIGINT (Ctrl-C).
async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

/// SIGHUP: reload the file; keep the old configuration if the new one is
/// invalid. Node addresses are read at start-up only.
async fn reload_on_sighup(proxy: std::sync::Arc<Proxy>, path: PathBuf) {
    *proxy.config_path.lock() = Some(path);
    let Ok(mut hup) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) else {
        return;
    };
    while hup.recv().await.is_some() {
        match proxy.reload() {
            Ok(msg) => tracing::info!("{msg}"),
            Err(e) => tracing::error!("reload refused, keeping the running configuration: {e}"),
        }
    }
}
