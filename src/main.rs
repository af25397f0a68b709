//! The `shardcat` command: `serve` runs the proxy, `check` validates
//! configuration and rule files, `explain` shows where a statement goes.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};

use shardcat::backend::health;
use shardcat::config::Config;
use shardcat::frontend::Proxy;
use shardcat::placement::ParamValue;

mod cli;

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
        /// Also connect to the nodes' primaries: list each routed
        /// `time_range` period's table and warn when the current or next
        /// period has none; check that each `backend_auth = "passthrough"`
        /// user has an account on every node and the same grants on every
        /// physical table of a sharded table.
        #[arg(long)]
        live: bool,
        /// A file of sample sharding-key values (one per line): print how
        /// they spread over each sharded table's physical tables.
        #[arg(long)]
        sample: Option<PathBuf>,
        /// Files to check.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
    },
    /// Physical tables of `time_range` rules: `ensure` creates the current
    /// and next `create_ahead` periods' tables, `retire` drops (or
    /// archives) periods older than `retain`.
    Tables {
        #[command(subcommand)]
        action: TablesAction,
    },
    /// Shards: move one to another node online (`move`), several to new
    /// nodes as one operation (`split`), list moved shards and moves
    /// under way (`status`).
    Shards {
        #[command(subcommand)]
        action: cli::shards::ShardsAction,
    },
    /// Read a password from standard input (its first line) and print the
    /// `[[user]] password_hash` line for it: `caching_sha2_password`'s
    /// stored form (`$A$005$…`, new salt each time, escaped for TOML) or
    /// `mysql_native_password`'s (`*…`). The password is not echoed.
    PasswordHash {
        /// `caching_sha2_password` (default) or `mysql_native_password`.
        #[arg(long, default_value = "caching_sha2_password")]
        plugin: String,
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

#[derive(Subcommand)]
enum TablesAction {
    /// Create the missing tables of the current and next `create_ahead`
    /// periods (default 1) on their nodes, from the definition of an
    /// existing period table (SHOW CREATE TABLE). Idempotent.
    Ensure {
        #[arg(long, short)]
        config: PathBuf,
        /// List what would be created; change nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Drop the tables of periods older than the rule's `retain` (never the
    /// current period), or rename them into `--archive-schema`.
    Retire {
        #[arg(long, short)]
        config: PathBuf,
        /// List what would be retired; change nothing.
        #[arg(long)]
        dry_run: bool,
        /// Move retired tables into this schema instead of dropping them.
        #[arg(long)]
        archive_schema: Option<String>,
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
        Command::Check {
            paths,
            live,
            sample,
        } => cli::check(&paths, live, sample.as_deref()),
        Command::Tables { action } => cli::tables(action),
        Command::Shards { action } => cli::shards::shards(action),
        Command::PasswordHash { plugin } => cli::password_hash(&plugin),
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

fn serve(path: PathBuf) -> ExitCode {
    let config = match Config::load(&path) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    for w in [config.cleartext_warning(), config.private_key_warning()]
        .into_iter()
        .flatten()
    {
        tracing::warn!("{}", shardcat::logsafe::escape(&w));
    }
    let workers = match config.server.worker_threads {
        0 => std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2),
        n => n,
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
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
        let checks = health::Checks {
            interval: Duration::from_millis(config.backend.health_interval_ms),
            timeout: Duration::from_millis(config.backend.health_timeout_ms),
            detect_roles: config.backend.detect_roles,
        };
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
        health::check_all_once(&proxy.cluster, checks).await;
        *proxy.config_path.lock() = Some(path.clone());
        shardcat::ops::tables::spawn_jobs(proxy.clone());
        shardcat::frontend::deadlock::spawn(&proxy);
        health::spawn_checkers(&proxy.cluster, checks);
        if proxy.config.load().uses_xa() && shardcat::backend::xa_recovery::claim_start() {
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
