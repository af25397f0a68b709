//! The `shardcat shards` command: moving one shard to another node online
//! (`move`, with `--abort` and `--cleanup`), moving several to new nodes as
//! one operation (`split`), and listing moved shards and moves under way
//! (`status`).
//!
//! Owns: the command's arguments, output and exit code. Must not: hold the
//! move's logic (that is `shardcat::ops::moves`).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Subcommand};
use shardcat::ops::moves::{self, MoveRequest, ResplitRequest, SplitRequest};

/// The arguments a move and a split share.
#[derive(Args)]
pub struct CommonArgs {
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
    /// Undo what has not switched (drop the targets' copies and their
    /// channels).
    #[arg(long, conflicts_with = "cleanup")]
    abort: bool,
    /// After a switch: drop the source's old tables (after a reverse
    /// switch: the target's copy).
    #[arg(long)]
    cleanup: bool,
    /// After a switch (before --cleanup): send the traffic back to the
    /// source, kept in step by the reverse channel (no new copy; a
    /// resplit: back to the old tables, brought in step from the binary
    /// log).
    #[arg(long, conflicts_with_all = ["abort", "cleanup"])]
    reverse: bool,
    /// Rows per second the copy writes at most (0: no limit).
    #[arg(long, default_value_t = 0)]
    copy_rows_per_s: u64,
    /// Rows per primary-key chunk of the verification before the switch.
    #[arg(long, default_value_t = moves::CHUNK_ROWS)]
    verify_chunk_rows: usize,
}

/// The arguments of `shards move`.
#[derive(Args)]
pub struct MoveArgs {
    #[command(flatten)]
    common: CommonArgs,
    /// The slot number or its physical table's name.
    #[arg(long)]
    shard: String,
    /// The node to move it to.
    #[arg(long)]
    to: String,
}

/// The arguments of `shards split`.
#[derive(Args)]
pub struct SplitArgs {
    #[command(flatten)]
    common: CommonArgs,
    /// The new nodes to spread the table's slots over (repeat, or a
    /// comma-separated list): a balanced plan.
    #[arg(long, value_delimiter = ',')]
    to: Vec<String>,
    /// Or the moves one by one: `SLOT=NODE` (slot number or physical
    /// table; repeat).
    #[arg(long = "slot", conflicts_with = "to")]
    slots: Vec<String>,
    /// Print the plan and change nothing.
    #[arg(long)]
    dry_run: bool,
}

/// `shards resplit`: a larger `tables_per_node`, rows kept on their node.
#[derive(Args)]
pub struct ResplitArgs {
    #[command(flatten)]
    common: CommonArgs,
    /// The new tables per node (an integer multiple of the current one).
    #[arg(long)]
    tables_per_node: usize,
    /// Print the plan, change nothing.
    #[arg(long)]
    dry_run: bool,
    /// After the switch, keep the old tables in step from the new ones
    /// (so `--reverse` loses no write) until stopped, or until a
    /// `--reverse` or `--cleanup` run takes over.
    #[arg(long, conflicts_with_all = ["abort", "cleanup", "reverse", "dry_run"])]
    follow: bool,
}

impl CommonArgs {
    fn request(self, shard: String, to: String) -> MoveRequest {
        MoveRequest {
            config: self.config,
            table: self.table,
            schema: self.schema,
            shard,
            to,
            proxies: self.proxies,
            proxy_user: self.proxy_user,
            proxy_password: self
                .proxy_password
                .or_else(|| std::env::var("SHARDCAT_PROXY_PASSWORD").ok()),
            repl_user: self.repl_user,
            repl_password: self
                .repl_password
                .or_else(|| std::env::var("SHARDCAT_REPL_PASSWORD").ok()),
            max_pause: Duration::from_millis(self.max_pause_ms),
            catch_up_timeout: Duration::from_secs(self.catch_up_timeout_s),
            abort: self.abort,
            cleanup: self.cleanup,
            reverse: self.reverse,
            copy_rate: self.copy_rows_per_s,
            chunk_rows: self.verify_chunk_rows,
        }
    }
}

#[derive(Subcommand)]
pub enum ShardsAction {
    /// Move one shard (a slot of a sharded table: its physical table and
    /// the bound tables' of the same slot) to another node while writes
    /// continue: copy from a consistent snapshot, catch up by a filtered
    /// replication channel on the target, switch the proxies with a
    /// bounded write pause. Run again to resume after an interruption.
    Move(Box<MoveArgs>),
    /// Move several slots of a sharded table to new nodes as one
    /// operation (2 nodes → 4): one copy and channel per source and
    /// target, one write pause and one placement switch for all, one
    /// record that resumes after an interruption (run again), `--abort`
    /// and `--cleanup` for all.
    Split(Box<SplitArgs>),
    /// Increases the table's `tables_per_node` online (2 → 4): each old
    /// physical table divided into new ones on the same node.
    Resplit(Box<ResplitArgs>),
    /// The shards moved off their rule's node and the moves under way.
    Status {
        #[arg(long, short)]
        config: PathBuf,
    },
}

/// Runs `shardcat shards …`.
pub fn shards(action: ShardsAction) -> ExitCode {
    let mut say = |line: String| println!("{line}");
    let outcome = match action {
        ShardsAction::Status { config } => moves::status(&config).map(|lines| {
            lines.iter().for_each(|l| println!("{l}"));
        }),
        ShardsAction::Move(a) => {
            let req = a.common.request(a.shard, a.to);
            let Some(rt) = super::runtime() else {
                return ExitCode::FAILURE;
            };
            rt.block_on(moves::run(&req, &mut say))
        }
        ShardsAction::Resplit(a) => {
            let req = ResplitRequest {
                base: a.common.request(String::new(), String::new()),
                tables_per_node: a.tables_per_node,
                dry_run: a.dry_run,
                follow: a.follow,
            };
            let Some(rt) = super::runtime() else {
                return ExitCode::FAILURE;
            };
            rt.block_on(moves::run_resplit(&req, &mut say))
        }
        ShardsAction::Split(a) => {
            let mut assign = Vec::new();
            for s in &a.slots {
                let Some((slot, node)) = s.split_once('=') else {
                    eprintln!("error: --slot {s}: give SLOT=NODE");
                    return ExitCode::FAILURE;
                };
                assign.push((slot.trim().to_owned(), node.trim().to_owned()));
            }
            let req = SplitRequest {
                base: a.common.request(String::new(), String::new()),
                to: a.to,
                assign,
                dry_run: a.dry_run,
            };
            let Some(rt) = super::runtime() else {
                return ExitCode::FAILURE;
            };
            rt.block_on(moves::run_split(&req, &mut say))
        }
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// For `shardcat check`: the slots the placement file routes off their
/// rule's node and the moves or splits under way (nothing when no slot
/// was ever moved).
pub fn print_placement(config: &std::path::Path) {
    match moves::status(config) {
        Ok(lines) if lines.iter().skip(1).any(|l| l != "nothing moved") => {
            lines.iter().for_each(|l| println!("     {l}"));
        }
        Ok(_) => {}
        Err(e) => println!("WARN {e}"),
    }
}
