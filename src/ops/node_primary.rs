//! Which server of a node the operations tools (`tables`, `shards move`,
//! `check --live`) write to: the node's primary as the servers themselves
//! say, by the rule the proxy's role detection uses (`backend::roles`):
//! writable (`@@global.read_only = 0`) and not replicating (no default
//! replication connection). The configured primary is asked first; after
//! a promotion it is read-only, replicating or down, and the one other
//! server of the node that qualifies is taken. None or several: an error
//! naming what each server looked like (the tools never write to a
//! server that might be a stale old primary or a replica).
//!
//! Owns: that choice for tools outside the data path. Must not: change
//! servers, or be used by the proxy's statement path (it follows
//! `backend::roles` through the cluster).

use mysql_async::prelude::Queryable;
use mysql_async::Conn;

use crate::config::Config;
use crate::ops::tables::live::connect_addr;

/// What one server of a node looked like.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seen {
    /// Writable and not replicating: a primary.
    Primary,
    ReadOnly,
    Replicating,
    Unreachable(String),
}

impl Seen {
    fn describe(&self) -> String {
        match self {
            Seen::Primary => "writable".into(),
            Seen::ReadOnly => "read-only".into(),
            Seen::Replicating => "replicating".into(),
            Seen::Unreachable(e) => format!("unreachable: {e}"),
        }
    }
}

/// The one primary among `seen` (address, look), or why there is none.
pub fn choose(node: &str, seen: &[(String, Seen)]) -> Result<String, String> {
    let primaries: Vec<&String> = seen
        .iter()
        .filter(|(_, s)| *s == Seen::Primary)
        .map(|(a, _)| a)
        .collect();
    match primaries.as_slice() {
        [one] => Ok((*one).clone()),
        found => {
            let looks: Vec<String> = seen
                .iter()
                .map(|(a, s)| format!("{a} {}", s.describe()))
                .collect();
            let why = match found.len() {
                0 => "no server of the node is writable and not replicating",
                _ => "several servers of the node are writable and not replicating",
            };
            Err(format!("node `{node}`: {why} ({})", looks.join(", ")))
        }
    }
}

/// How `conn`'s server looks.
async fn look(conn: &mut Conn) -> Result<Seen, String> {
    let read_only: Option<i64> = conn
        .query_first("SELECT @@global.read_only")
        .await
        .map_err(|e| e.to_string())?;
    // Without the privilege to read replication status a server counts as
    // not replicating (as the health checker does on a configured primary).
    let replicating = match conn.query_iter("SHOW SLAVE STATUS").await {
        Ok(mut result) => {
            let rows: Vec<mysql_async::Row> = result.collect().await.map_err(|e| e.to_string())?;
            rows.iter().any(|r| {
                let running = |name: &str| {
                    r.get_opt::<String, _>(name)
                        .and_then(|v| v.ok())
                        .is_some_and(|v| v == "Yes" || v == "Connecting")
                };
                running("Slave_IO_Running") || running("Slave_SQL_Running")
            })
        }
        Err(_) => false,
    };
    Ok(match (replicating, read_only == Some(0)) {
        (true, _) => Seen::Replicating,
        (false, true) => Seen::Primary,
        (false, false) => Seen::ReadOnly,
    })
}

/// A connection to `node`'s current primary as the `[backend]` account,
/// with its address.
pub async fn connect_primary(cfg: &Config, node: &str) -> Result<(Conn, String), String> {
    let n = cfg
        .nodes
        .iter()
        .find(|n| n.name.get_ref() == node)
        .ok_or_else(|| format!("node `{node}` is not defined"))?;
    let (user, password) = (&cfg.backend.user, &cfg.backend.password);
    let timeout = cfg.backend.connect_timeout_ms;
    let mut seen = Vec::new();
    let mut conns = Vec::new();
    for addr in n.addrs() {
        match connect_addr(addr, user, password, timeout).await {
            Ok(mut conn) => {
                let s = look(&mut conn).await.unwrap_or_else(Seen::Unreachable);
                // The configured primary, writable: the usual case, one look.
                if s == Seen::Primary && seen.is_empty() {
                    return Ok((conn, addr.to_owned()));
                }
                seen.push((addr.to_owned(), s));
                conns.push((addr.to_owned(), conn));
            }
            Err(e) => seen.push((addr.to_owned(), Seen::Unreachable(e))),
        }
    }
    let chosen = choose(node, &seen)?;
    let mut found = None;
    for (addr, conn) in conns {
        match addr == chosen && found.is_none() {
            true => found = Some(conn),
            false => {
                let _ = conn.disconnect().await;
            }
        }
    }
    found
        .map(|c| (c, chosen.clone()))
        .ok_or_else(|| format!("node `{node}`: lost the connection to {chosen}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(a: &str, l: Seen) -> (String, Seen) {
        (a.to_string(), l)
    }

    #[test]
    fn the_one_writable_non_replicating_server_is_chosen() {
        let promoted = [
            s("p", Seen::Unreachable("refused".into())),
            s("r1", Seen::Primary),
            s("r2", Seen::Replicating),
        ];
        assert_eq!(choose("n1", &promoted).unwrap(), "r1");
        let old_back = [
            s("p", Seen::ReadOnly),
            s("r1", Seen::Replicating),
            s("r2", Seen::Primary),
        ];
        assert_eq!(choose("n1", &old_back).unwrap(), "r2");
    }

    #[test]
    fn none_or_several_are_errors_naming_each_server() {
        let none = [s("p", Seen::ReadOnly), s("r1", Seen::Replicating)];
        let e = choose("n1", &none).unwrap_err();
        assert!(e.contains("no server") && e.contains("p read-only"), "{e}");
        assert!(e.contains("r1 replicating"), "{e}");
        let two = [s("p", Seen::Primary), s("r1", Seen::Primary)];
        let e = choose("n1", &two).unwrap_err();
        assert!(e.contains("several"), "{e}");
    }
}
