//! The `shardcat shards` command: moving one shard to another node online
//! (`move`, with `--abort` and `--cleanup`) and listing moved shards and
//! moves under way (`status`).
//!
//! Owns: the command's arguments, output and exit code. Must not: hold the
//! move's logic (that is `shardcat::ops::moves`).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Subcommand};
use shardcat::ops::moves::{self, MoveRequest};

/// The arguments of `shards move`.
#[derive(Args)]
pub struct MoveArgs {
    /// The configuration file (its placement file lies next to it).
    #[arg(long, short)]
    config: PathBuf,
    /// The sharded table (logical name).
    #[arg(long)]
    table: String,
    /// The schema of its physical tables, if the rule names none and
    /// several schemas hold them.
    #[arg(long)]
    schema: Option<String>,
    /// The slot number or its physical table's name.
    #[arg(long)]
    shard: String,
    /// The node to move it to.
    #[arg(long)]
    to: String,
    /// A proxy to pause and switch (`host:port`; repeat for several;
    /// default: the configuration's `[server] listen`).
    #[arg(long = "proxy")]
    proxies: Vec<String>,
    /// An admin user of the proxies (default: the first `admin = true`
    /// user of the configuration).
    #[arg(long)]
    proxy_user: Option<String>,
    /// Its password (or the environment variable SHARDCAT_PROXY_PASSWORD).
    #[arg(long)]
    proxy_password: Option<String>,
    /// The user the target's replication channel logs in to the source
    /// as (needs REPLICATION SLAVE; default: the backend user).
    #[arg(long)]
    repl_user: Option<String>,
    /// Its password (or the environment variable SHARDCAT_REPL_PASSWORD).
    #[arg(long)]
    repl_password: Option<String>,
    /// The longest write pause of the switch, in milliseconds.
    #[arg(long, default_value_t = 2000)]
    max_pause_ms: u64,
    /// How long the catch-up before the switch may take, in seconds.
    #[arg(long, default_value_t = 600)]
    catch_up_timeout_s: u64,
    /// Undo a move that has not switched (drop the target's copy and
    /// its channel).
    #[arg(long, conflicts_with = "cleanup")]
    abort: bool,
    /// After a switch: drop the source's old tables (after a reverse
    /// switch: the target's copy).
    #[arg(long)]
    cleanup: bool,
    /// After a switch (before --cleanup): send the traffic back to the
    /// source, kept in step by the reverse channel (no new copy).
    #[arg(long, conflicts_with_all = ["abort", "cleanup"])]
    reverse: bool,
    /// Rows per second the copy writes at most (0: no limit).
    #[arg(long, default_value_t = 0)]
    copy_rows_per_s: u64,
    /// Rows per primary-key chunk of the verification before the switch.
    #[arg(long, default_value_t = moves::CHUNK_ROWS)]
    verify_chunk_rows: usize,
}

#[derive(Subcommand)]
pub enum ShardsAction {
    /// Move one shard (a slot of a sharded table: its physical table and
    /// the bound tables' of the same slot) to another node while writes
    /// continue: copy from a consistent snapshot, catch up by a filtered
    /// replication channel on the target, switch the proxies with a
    /// bounded write pause. Run again to resume after an interruption.
    Move(Box<MoveArgs>),
    /// The shards moved off their rule's node and the moves under way.
    Status {
        #[arg(long, short)]
        config: PathBuf,
    },
}

/// Runs `shardcat shards …`.
pub fn shards(action: ShardsAction) -> ExitCode {
    let req = match action {
        ShardsAction::Status { config } => {
            return match moves::status(&config) {
                Ok(lines) => {
                    lines.iter().for_each(|l| println!("{l}"));
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("{e}");
                    ExitCode::FAILURE
                }
            };
        }
        ShardsAction::Move(a) => MoveRequest {
            config: a.config,
            table: a.table,
            schema: a.schema,
            shard: a.shard,
            to: a.to,
            proxies: a.proxies,
            proxy_user: a.proxy_user,
            proxy_password: a
                .proxy_password
                .or_else(|| std::env::var("SHARDCAT_PROXY_PASSWORD").ok()),
            repl_user: a.repl_user,
            repl_password: a
                .repl_password
                .or_else(|| std::env::var("SHARDCAT_REPL_PASSWORD").ok()),
            max_pause: Duration::from_millis(a.max_pause_ms),
            catch_up_timeout: Duration::from_secs(a.catch_up_timeout_s),
            abort: a.abort,
            cleanup: a.cleanup,
            reverse: a.reverse,
            copy_rate: a.copy_rows_per_s,
            chunk_rows: a.verify_chunk_rows,
        },
    };
    let Some(rt) = super::runtime() else {
        return ExitCode::FAILURE;
    };
    let mut say = |line: String| println!("{line}");
    match rt.block_on(moves::run(&req, &mut say)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
