//! The `shardcat` command: `serve` runs the proxy, `check` validates
//! configuration and rule files, `explain` shows where a statement goes.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};

use shardcat::backend::health;
use shardcat::config::Config;
use shardcat::frontend::Proxy;

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
    /// nodes) and report each problem with its file and line. Exit code 0
    /// only if every file is valid, so CI pipelines can run it.
    Check {
        /// Files to check.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
    },
    /// Print the route plan of a statement offline: target node, role and
    /// the SQL each target receives.
    Explain {
        #[arg(long, short)]
        config: PathBuf,
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
        Command::Check { paths } => {
            let mut ok = true;
            for p in &paths {
                match Config::load(p) {
                    Ok(c) => println!(
                        "ok   {}: {} node(s), {} user(s), {} schema placement(s)",
                        p.display(),
                        c.nodes.len(),
                        c.users.len(),
                        c.schemas.len()
                    ),
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
        Command::Explain { config, sql } => match Config::load(&config) {
            Ok(cfg) => {
                let c = shardcat::sql::classify(&sql);
                let node = cfg.node_for_schema(None);
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
        let listener = match tokio::net::TcpListener::bind(&listen).await {
            Ok(l) => l,
            Err(e) => {
                eprintln!("cannot listen on {listen}: {e}");
                return ExitCode::FAILURE;
            }
        };
        let proxy = Proxy::new(config).await;
        health::check_all_once(&proxy.cluster, timeout).await;
        health::spawn_checkers(&proxy.cluster, interval, timeout);
        tracing::info!(%listen, version = %proxy.server_version, "shardcat is listening");
        let reload_proxy = proxy.clone();
        tokio::spawn(async move { reload_on_sighup(reload_proxy, path).await });
        tokio::select! {
            r = proxy.serve(listener) => {
                if let Err(e) = r { eprintln!("listener failed: {e}"); return ExitCode::FAILURE; }
            }
            _ = tokio::signal::ctrl_c() => tracing::info!("interrupted; shutting down"),
        }
        ExitCode::SUCCESS
    })
}

/// SIGHUP: reload the file; keep the old configuration if the new one is
/// invalid. Node addresses are read at start-up only.
async fn reload_on_sighup(proxy: std::sync::Arc<Proxy>, path: PathBuf) {
    let Ok(mut hup) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) else {
        return;
    };
    while hup.recv().await.is_some() {
        match Config::load(&path) {
            Ok(new) => {
                proxy.config.store(std::sync::Arc::new(new));
                tracing::info!("configuration reloaded from {}", path.display());
            }
            Err(e) => tracing::error!("reload refused, keeping the running configuration: {e}"),
        }
    }
}
