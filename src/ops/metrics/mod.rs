//! Prometheus metrics: what operators graph and alert on.
//!
//! Families follow the Prometheus conventions (units in names, `_total`
//! counters, histograms in seconds). Labels are bounded: server, node and
//! role names from the configuration, logical table names from the rules,
//! user names from `[[user]]`, statement paths and error classes from fixed
//! lists. No SQL text or key value is ever a label.
//!
//! Owns: the metric families and their text encoding; reading the pools'
//! and health checker's live figures at scrape time. Must not: decide
//! routing or do I/O (the HTTP listener is `ops::http`).
//!
//! Files: this one (the families, their registration and the scrape),
//! `placement` (the shard-move gauges read from the placement file, the
//! period tables' labels).

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use prometheus_client::encoding::{text::encode, EncodeLabelSet};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::{Family, MetricConstructor};
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

use crate::backend::cluster::Cluster;

mod placement;
pub use placement::{MoveLabels, MovePhaseLabels, PeriodTableLabels, MOVE_PHASES};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PathLabels {
    /// How the statement was answered (`plain`, `single_shard`,
    /// `multi_shard_read`, `multi_shard_write`, `metadata`, `proxy`, …).
    pub path: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ErrorLabels {
    pub path: &'static str,
    /// `backend` (the server's own error), `refused` (the proxy refused
    /// the statement), `unavailable` (no server could run it), `client`.
    pub class: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct UserLabels {
    pub user: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TableLabels {
    /// A logical table of the rules.
    pub table: String,
    pub plan: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ServerLabels {
    pub server: String,
    pub node: String,
    pub role: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct NodeLabels {
    pub node: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PoolLabels {
    pub server: String,
    pub node: String,
    pub role: &'static str,
    pub state: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResultLabels {
    pub result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabels {
    pub reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    pub outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ActionLabels {
    pub action: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct BuildLabels {
    pub version: &'static str,
    /// `[id_generator] worker_id`: tells the instances behind one load
    /// balancer apart (it must differ between them).
    pub worker_id: u16,
}

fn latency_histogram() -> Histogram {
    // 100 µs … ~13 s.
    Histogram::new(exponential_buckets(0.0001, 2.0, 18))
}

/// A pool's checkout wait histogram: 10 µs … ~5 s.
pub fn checkout_wait_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.00001, 4.0, 10))
}

/// The constructor of a family whose members are metrics kept elsewhere
/// (the pools' own, which live as long as the pool): the next member
/// created is the one handed over in `next`.
#[derive(Clone, Debug)]
struct Adopt<M> {
    next: Arc<std::sync::Mutex<Option<M>>>,
    fallback: fn() -> M,
}

impl<M> Adopt<M> {
    fn new(fallback: fn() -> M) -> Self {
        Adopt {
            next: Arc::default(),
            fallback,
        }
    }

    /// Makes `metric` the member of `family` for `labels` (replacing the
    /// one of a pool that a reload replaced).
    fn adopt(&self, family: &Family<ServerLabels, M, Adopt<M>>, labels: &ServerLabels, metric: &M)
    where
        M: Clone,
    {
        family.remove(labels);
        *self.next.lock().unwrap_or_else(|p| p.into_inner()) = Some(metric.clone());
        drop(family.get_or_create(labels));
    }
}

impl<M> MetricConstructor<M> for Adopt<M> {
    fn new_metric(&self) -> M {
        let next = self.next.lock().unwrap_or_else(|p| p.into_inner()).take();
        next.unwrap_or_else(self.fallback)
    }
}

/// The pools' checkout figures, adopted at scrape time.
struct CheckoutFamilies {
    /// Held while the pools' metrics are adopted.
    sync: std::sync::Mutex<()>,
    wait: Family<ServerLabels, Histogram, Adopt<Histogram>>,
    wait_next: Adopt<Histogram>,
    timeouts: Family<ServerLabels, Counter, Adopt<Counter>>,
    timeouts_next: Adopt<Counter>,
}

impl Default for CheckoutFamilies {
    fn default() -> Self {
        let wait_next = Adopt::new(checkout_wait_histogram);
        let timeouts_next = Adopt::new(Counter::default);
        CheckoutFamilies {
            sync: Default::default(),
            wait: Family::new_with_constructor(wait_next.clone()),
            wait_next,
            timeouts: Family::new_with_constructor(timeouts_next.clone()),
            timeouts_next,
        }
    }
}

fn shards_histogram() -> Histogram {
    Histogram::new([1.0, 2.0, 3.0, 4.0, 6.0, 8.0, 12.0, 16.0, 32.0, 64.0, 128.0])
}

/// Every metric the proxy keeps.
pub struct Metrics {
    registry: Registry,
    started: Instant,
    pub statements: Family<PathLabels, Counter>,
    pub statement_seconds: Family<PathLabels, Histogram, fn() -> Histogram>,
    pub statement_errors: Family<ErrorLabels, Counter>,
    pub slow_statements: Counter,
    pub user_statements: Family<UserLabels, Counter>,
    pub user_errors: Family<UserLabels, Counter>,
    pub user_connections: Family<UserLabels, Gauge>,
    pub table_statements: Family<TableLabels, Counter>,
    pub shards_touched: Histogram,
    pub backend_statements: Family<ServerLabels, Counter>,
    pub backend_errors: Family<ServerLabels, Counter>,
    pub backend_seconds: Family<ServerLabels, Histogram, fn() -> Histogram>,
    pub reloads: Family<ResultLabels, Counter>,
    /// Period tables created, retired or failed by the table jobs.
    pub period_tables: Family<PeriodTableLabels, Counter>,
    /// Current or next periods without a table, as last checked.
    pub period_tables_missing: Family<PeriodTableLabels, Gauge>,
    pub client_connections: Gauge,
    uptime_seconds: Gauge<f64, std::sync::atomic::AtomicU64>,
    pool_connections: Family<PoolLabels, Gauge>,
    pool_created: Family<ServerLabels, Gauge>,
    pool_settled: Family<ServerLabels, Gauge>,
    backend_up: Family<ServerLabels, Gauge>,
    backend_in_flight: Family<ServerLabels, Gauge>,
    replication_lag: Family<ServerLabels, Gauge<f64, std::sync::atomic::AtomicU64>>,
    /// 1: the node's primary now; 0: a replica; -1: fenced (split brain).
    backend_role: Family<ServerLabels, Gauge>,
    primary_changes: Family<NodeLabels, Counter>,
    split_brain: Family<NodeLabels, Counter>,
    /// Tasks alive in the runtime (sessions, their helpers, checkers).
    runtime_tasks: Gauge,
    xa: XaFamilies,
    /// `MASTER_GTID_WAIT`s of read-your-writes, by result.
    gtid_waits: Family<ResultLabels, Counter>,
    gtid_wait_seconds: Histogram,
    /// Statements the proxy refused, by reason.
    refusals: Family<ReasonLabels, Counter>,
    sessions_pinned: Family<ReasonLabels, Gauge>,
    /// Shard moves of the placement file, read at each scrape.
    moves: placement::MoveFamilies,
    events: EventFamilies,
    checkout: CheckoutFamilies,
}

/// Families brought up to `ops::event_stats` at scrape time.
#[derive(Default)]
struct EventFamilies {
    /// Held while the counters are brought up to date.
    sync: std::sync::Mutex<()>,
    plan_cache_lookups: Family<ResultLabels, Counter>,
    merge_rows: Counter,
    merge_budget_hits: Counter,
    deadlock_victims: Counter,
    node_union_reads: Counter,
    node_union_declined: Counter,
}

/// XA families, brought up to `ops::xa_stats` at scrape time.
#[derive(Default)]
struct XaFamilies {
    /// Held while the counters are brought up to date (two scrapes at
    /// once must not add the same delta twice).
    sync: std::sync::Mutex<()>,
    transactions: Family<OutcomeLabels, Counter>,
    recovered: Family<ActionLabels, Counter>,
    phase2_deferred: Counter,
    pending: Gauge,
    runs: Counter,
    failures: Counter,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new(0)
    }
}

impl Metrics {
    /// The families of an instance whose `[id_generator] worker_id` is
    /// `worker_id` (a label of `shardcat_build_info`).
    pub fn new(worker_id: u16) -> Metrics {
        let mut registry = Registry::with_prefix("shardcat");
        let m = Metrics {
            registry: Registry::default(),
            started: Instant::now(),
            statements: Family::default(),
            statement_seconds: Family::new_with_constructor(latency_histogram),
            statement_errors: Family::default(),
            slow_statements: Counter::default(),
            user_statements: Family::default(),
            user_errors: Family::default(),
            user_connections: Family::default(),
            table_statements: Family::default(),
            shards_touched: shards_histogram(),
            period_tables: Family::default(),
            period_tables_missing: Family::default(),
            backend_statements: Family::default(),
            backend_errors: Family::default(),
            backend_seconds: Family::new_with_constructor(latency_histogram),
            reloads: Family::default(),
            client_connections: Gauge::default(),
            uptime_seconds: Gauge::default(),
            pool_connections: Family::default(),
            pool_created: Family::default(),
            pool_settled: Family::default(),
            backend_up: Family::default(),
            backend_in_flight: Family::default(),
            replication_lag: Family::default(),
            backend_role: Family::default(),
            primary_changes: Family::default(),
            split_brain: Family::default(),
            runtime_tasks: Gauge::default(),
            xa: XaFamilies::default(),
            gtid_waits: Family::default(),
            gtid_wait_seconds: latency_histogram(),
            refusals: Family::default(),
            sessions_pinned: Family::default(),
            moves: Default::default(),
            events: EventFamilies::default(),
            checkout: CheckoutFamilies::default(),
        };
        let r = &mut registry;
        m.register_statements(r);
        m.register_servers(r);
        let build: Family<BuildLabels, Gauge> = Family::default();
        build
            .get_or_create(&BuildLabels {
                version: env!("CARGO_PKG_VERSION"),
                worker_id,
            })
            .set(1);
        r.register("build_info", "Build information", build);
        Metrics { registry, ..m }
    }

    /// Registers the families of client statements, users, tables and
    /// single-target backend statements.
    fn register_statements(&self, r: &mut Registry) {
        r.register(
            "statements",
            "Client statements answered, by path",
            self.statements.clone(),
        );
        r.register(
            "statement_duration_seconds",
            "Time from a client statement's arrival to its last reply byte, by path",
            self.statement_seconds.clone(),
        );
        r.register(
            "statement_errors",
            "Client statements answered with an error",
            self.statement_errors.clone(),
        );
        r.register(
            "slow_statements",
            "Statements over [admin] slow_query_ms",
            self.slow_statements.clone(),
        );
        r.register(
            "user_statements",
            "Client statements by user",
            self.user_statements.clone(),
        );
        r.register(
            "user_errors",
            "Client statements answered with an error, by user",
            self.user_errors.clone(),
        );
        r.register(
            "user_connections",
            "Open client connections by user",
            self.user_connections.clone(),
        );
        r.register(
            "table_statements",
            "Statements on sharded or broadcast tables, by logical table and plan kind",
            self.table_statements.clone(),
        );
        r.register(
            "shards_touched",
            "Targets of each sharded statement (the scatter ratio)",
            self.shards_touched.clone(),
        );
        r.register(
            "backend_statements",
            "Single-target statements run on a server",
            self.backend_statements.clone(),
        );
        r.register(
            "backend_errors",
            "Single-target statements that failed on a server",
            self.backend_errors.clone(),
        );
        r.register(
            "backend_statement_duration_seconds",
            "Single-target statement time on a server",
            self.backend_seconds.clone(),
        );
        r.register(
            "reloads",
            "Configuration reloads, by result",
            self.reloads.clone(),
        );
        r.register(
            "client_connections",
            "Open client connections",
            self.client_connections.clone(),
        );
        r.register(
            "uptime_seconds",
            "Seconds since start",
            self.uptime_seconds.clone(),
        );
    }

    /// Registers the families of servers, pools, nodes and everything
    /// gathered at scrape time (XA, events, moves, period tables).
    fn register_servers(&self, r: &mut Registry) {
        r.register(
            "pool_connections",
            "Backend connections by state (in_use, idle)",
            self.pool_connections.clone(),
        );
        r.register(
            "pool_connections_created",
            "Backend connections opened (counter)",
            self.pool_created.clone(),
        );
        r.register(
            "pool_connections_settled",
            "Connections whose unread answer was read in the background and reused (counter)",
            self.pool_settled.clone(),
        );
        r.register(
            "backend_up",
            "1 when the health checker considers the server up",
            self.backend_up.clone(),
        );
        r.register(
            "backend_in_flight",
            "Statements running on the server now",
            self.backend_in_flight.clone(),
        );
        r.register(
            "replication_lag_seconds",
            "Replica lag as last measured (-1: unknown)",
            self.replication_lag.clone(),
        );
        r.register(
            "backend_role",
            "1: the node's primary now (as the servers' read_only and replication show); 0: a replica; -1: fenced (writable next to the primary)",
            self.backend_role.clone(),
        );
        r.register(
            "primary_changes",
            "Another server became the node's primary (counter)",
            self.primary_changes.clone(),
        );
        r.register(
            "split_brain",
            "A server was fenced for being writable while another is the primary (counter)",
            self.split_brain.clone(),
        );
        r.register(
            "runtime_tasks",
            "Tasks alive in the proxy's runtime (sessions and their helpers, checkers)",
            self.runtime_tasks.clone(),
        );
        self.xa.register(r);
        r.register(
            "gtid_waits",
            "Read-your-writes waits for a replica to apply the session's last write, by result (caught_up, timed_out)",
            self.gtid_waits.clone(),
        );
        r.register(
            "gtid_wait_duration_seconds",
            "Time of each read-your-writes wait on a replica",
            self.gtid_wait_seconds.clone(),
        );
        r.register(
            "refusals",
            "Statements the proxy refused, by reason (unsupported, routing, parse, privilege, limit)",
            self.refusals.clone(),
        );
        r.register(
            "sessions_pinned",
            "Client sessions holding their backend connections now, by reason",
            self.sessions_pinned.clone(),
        );
        self.moves.register(r);
        self.events.register(r);
        r.register(
            "pool_checkout_wait_seconds",
            "Time a checkout waited for a free connection slot of the server's pool",
            self.checkout.wait.clone(),
        );
        r.register(
            "pool_checkout_timeouts",
            "Checkouts that found no free connection in time (error 1040)",
            self.checkout.timeouts.clone(),
        );
        r.register(
            "period_tables",
            "time_range period tables created, retired or failed by the table jobs",
            self.period_tables.clone(),
        );
        r.register(
            "period_tables_missing",
            "Current or next time_range periods without a table, as last checked",
            self.period_tables_missing.clone(),
        );
    }

    /// Records one client statement (the user's counters are the
    /// session's: see `frontend::session::observe`).
    pub fn statement(&self, path: &'static str, took: Duration, error: Option<&'static str>) {
        let (count, time) = self.statement_handles(path);
        self.statement_with(&count, &time, path, took, error);
    }

    /// The statement counter and time histogram of `path`, for a caller
    /// that records many statements ([`Metrics::statement_with`]).
    pub fn statement_handles(&self, path: &'static str) -> (Counter, Histogram) {
        let labels = PathLabels { path };
        (
            self.statements.get_or_create(&labels).clone(),
            self.statement_seconds.get_or_create(&labels).clone(),
        )
    }

    /// [`Metrics::statement`] with the path's handles already taken.
    pub fn statement_with(
        &self,
        count: &Counter,
        time: &Histogram,
        path: &'static str,
        took: Duration,
        error: Option<&'static str>,
    ) {
        count.inc();
        time.observe(took.as_secs_f64());
        if let Some(class) = error {
            self.statement_errors
                .get_or_create(&ErrorLabels { path, class })
                .inc();
        }
    }

    /// Records one read-your-writes wait on a replica.
    pub fn gtid_wait(&self, caught_up: bool, took: Duration) {
        let result = if caught_up { "caught_up" } else { "timed_out" };
        self.gtid_waits
            .get_or_create(&ResultLabels { result })
            .inc();
        self.gtid_wait_seconds.observe(took.as_secs_f64());
    }

    /// Records a statement the proxy refused.
    pub fn refusal(&self, reason: &'static str) {
        self.refusals.get_or_create(&ReasonLabels { reason }).inc();
    }

    /// Sets the pinned sessions gauge: `reasons` are the pinned reasons of
    /// the sessions now (`""`: not pinned), `known` every reason, reported
    /// at 0 when no session has it.
    pub fn set_pinned<'a>(&self, known: &[&'static str], reasons: impl Iterator<Item = &'a str>) {
        let mut counts = vec![0i64; known.len()];
        for r in reasons {
            if let Some(i) = known.iter().position(|k| *k == r) {
                counts[i] += 1;
            }
        }
        for (reason, n) in known.iter().zip(counts) {
            self.sessions_pinned
                .get_or_create(&ReasonLabels { reason })
                .set(n);
        }
    }

    /// Sets the shard-move gauges from the placement file's records.
    pub fn set_moves(&self, file: &crate::config::placement_file::PlacementFile) {
        self.moves.set(file);
    }

    /// The text exposition, with the live figures of `cluster` read now.
    pub fn encode(&self, cluster: &Arc<Cluster>) -> String {
        self.uptime_seconds
            .set(self.started.elapsed().as_secs_f64());
        let checkout = &self.checkout;
        let _adopting = checkout.sync.lock().unwrap_or_else(|p| p.into_inner());
        for node in &cluster.nodes {
            for pool in &node.servers {
                let server = ServerLabels {
                    server: pool.server.addr.clone(),
                    node: node.name.clone(),
                    role: pool.server.role.as_str(),
                };
                let s = &pool.stats;
                checkout
                    .wait_next
                    .adopt(&checkout.wait, &server, &s.checkout_wait);
                checkout
                    .timeouts_next
                    .adopt(&checkout.timeouts, &server, &s.checkout_timeouts);
                let pool_labels = |state| PoolLabels {
                    server: server.server.clone(),
                    node: server.node.clone(),
                    role: server.role,
                    state,
                };
                self.pool_connections
                    .get_or_create(&pool_labels("in_use"))
                    .set(pool.busy_count() as i64);
                self.pool_connections
                    .get_or_create(&pool_labels("idle"))
                    .set(pool.idle_count() as i64);
                self.pool_created
                    .get_or_create(&server)
                    .set(s.created.load(Ordering::Relaxed) as i64);
                self.pool_settled
                    .get_or_create(&server)
                    .set(s.settled.load(Ordering::Relaxed) as i64);
                self.backend_up
                    .get_or_create(&server)
                    .set(i64::from(pool.is_healthy()));
                self.backend_in_flight
                    .get_or_create(&server)
                    .set(s.in_flight.load(Ordering::Relaxed));
                let lag = s.lag_ms.load(Ordering::Relaxed);
                self.replication_lag.get_or_create(&server).set(if lag < 0 {
                    -1.0
                } else {
                    lag as f64 / 1000.0
                });
                let role = match pool.server.current_role() {
                    _ if s.roles.is_fenced() => -1,
                    crate::backend::Role::Primary if node.has_primary() => 1,
                    _ => 0,
                };
                self.backend_role.get_or_create(&server).set(role);
            }
            let labels = NodeLabels {
                node: node.name.clone(),
            };
            let events = &node.events;
            catch_up(
                &self.primary_changes.get_or_create(&labels),
                events.primary_changes.load(Ordering::Relaxed),
            );
            catch_up(
                &self.split_brain.get_or_create(&labels),
                events.split_brain.load(Ordering::Relaxed),
            );
        }
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            self.runtime_tasks
                .set(rt.metrics().num_alive_tasks() as i64);
        }
        self.xa.set();
        self.events.set();
        let mut out = String::new();
        if encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}

/// Brings `c` up to `a` (a process-wide counter that only grows).
fn catch_up(c: &Counter, a: u64) {
    c.inc_by(a.saturating_sub(c.get()));
}

impl EventFamilies {
    fn register(&self, r: &mut Registry) {
        r.register(
            "plan_cache_lookups",
            "Sharding router plan cache lookups, by result (hit, miss)",
            self.plan_cache_lookups.clone(),
        );
        r.register(
            "merge_rows",
            "Rows sent to clients by cross-shard merges",
            self.merge_rows.clone(),
        );
        r.register(
            "merge_budget_hits",
            "Cross-shard merges refused for exceeding [routing] merge_max_groups",
            self.merge_budget_hits.clone(),
        );
        r.register(
            "deadlock_victims",
            "Transactions rolled back (1213) to break a deadlock across nodes",
            self.deadlock_victims.clone(),
        );
        r.register(
            "node_union_reads",
            "Scattered reads in pinned sessions (transactions, locks) sent as one UNION ALL per node",
            self.node_union_reads.clone(),
        );
        r.register(
            "node_union_declined",
            "Node UNION reads whose column definitions were not a single server's: run one physical table at a time",
            self.node_union_declined.clone(),
        );
    }

    fn set(&self) {
        use crate::ops::event_stats::EVENTS;
        let _guard = self.sync.lock().unwrap_or_else(|p| p.into_inner());
        let n = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
        for (result, value) in [
            ("hit", n(&EVENTS.plan_cache_hits)),
            ("miss", n(&EVENTS.plan_cache_misses)),
        ] {
            let c = self
                .plan_cache_lookups
                .get_or_create(&ResultLabels { result });
            catch_up(&c, value);
            drop(c);
        }
        catch_up(&self.merge_rows, n(&EVENTS.merge_rows));
        catch_up(&self.merge_budget_hits, n(&EVENTS.merge_budget_hits));
        catch_up(&self.deadlock_victims, n(&EVENTS.deadlock_victims));
        catch_up(&self.node_union_reads, n(&EVENTS.node_union_reads));
        catch_up(&self.node_union_declined, n(&EVENTS.node_union_declined));
    }
}

impl XaFamilies {
    fn register(&self, r: &mut Registry) {
        r.register(
            "xa_transactions",
            "Transactions with XA branches (and atomic multi-node autocommit writes), by outcome",
            self.transactions.clone(),
        );
        r.register(
            "xa_recovered_branches",
            "Prepared branches resolved by recovery, by action (commit, rollback)",
            self.recovered.clone(),
        );
        r.register(
            "xa_phase2_deferred",
            "Branches whose XA COMMIT failed after the decision (left to recovery)",
            self.phase2_deferred.clone(),
        );
        r.register(
            "xa_prepared_branches",
            "Shardcat branches left prepared by the last recovery round",
            self.pending.clone(),
        );
        r.register(
            "xa_recovery_runs",
            "XA recovery rounds run",
            self.runs.clone(),
        );
        r.register(
            "xa_recovery_failures",
            "Recovery rounds where a server did not answer or a branch stayed prepared",
            self.failures.clone(),
        );
    }

    fn set(&self) {
        use crate::ops::xa_stats::{Outcome, XA};
        let _guard = self.sync.lock().unwrap_or_else(|p| p.into_inner());
        let n = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
        // One family guard at a time: get_or_create of a new label takes
        // the family's write lock while a held guard keeps its read lock.
        for o in Outcome::ALL {
            let c = self
                .transactions
                .get_or_create(&OutcomeLabels { outcome: o.label() });
            catch_up(&c, XA.outcome(o));
            drop(c);
        }
        for (action, value) in [
            ("commit", n(&XA.recovered_commits)),
            ("rollback", n(&XA.recovered_rollbacks)),
        ] {
            let c = self.recovered.get_or_create(&ActionLabels { action });
            catch_up(&c, value);
            drop(c);
        }
        catch_up(&self.phase2_deferred, n(&XA.phase2_deferred));
        self.pending.set(XA.pending.load(Ordering::Relaxed));
        catch_up(&self.runs, n(&XA.recovery_runs));
        catch_up(&self.failures, n(&XA.recovery_failures));
    }
}
