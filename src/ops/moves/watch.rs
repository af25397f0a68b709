//! A move's (or a split pair's) key watch: a binary log reader on the
//! source (`resplit::binlog`, noting only: no rule, nothing applied)
//! started at the source's log end before the verification reads its
//! chunks, so that every key written to the moved tables afterwards is
//! noted. The verification compares the keys noted in rounds while writes
//! continue (`keys::rounds`), and the pause those noted since the last
//! round (`keys`: the pause's work grows with the writes of the last
//! round, not with the tables).
//!
//! A table the reader cannot note keys of (no primary key, or a key column
//! of a type or character set the binary log gives in another form than
//! SQL compares: see [`KEY_TYPES`]) is counted in the pause instead, as all
//! tables are when the source does not log full row images, the reader
//! stopped, or it read a write logged as a statement (`binlog_format` set
//! by a session): then the pause compares row counts (and the chunks left
//! over), as before there was a watch.
//!
//! Owns: starting the watch and deciding whether its keys can be trusted.
//! Must not: compare rows (`keys`), pause or switch (`steps`, `split`).

use std::collections::HashMap;
use std::time::Duration;

use mysql_async::prelude::Queryable;
use mysql_async::Conn;

use super::keys::{self, KeyCheck, Side};
use super::progress::Progress;
use super::resplit::binlog::{self, Reader, Routes, Server};
use super::resplit::rows::{unsigned_bits, OldTable};
use super::resplit::switch::{master_pos, wait_applied};
use super::steps::qualified;
use super::verify::CatchUp;
use crate::config::Config;
use crate::placement::KeyType;

/// Primary key column types whose binary log values SQL finds the row by.
const KEY_TYPES: [&str; 12] = [
    "tinyint",
    "smallint",
    "mediumint",
    "int",
    "bigint",
    "decimal",
    "char",
    "varchar",
    "binary",
    "varbinary",
    "date",
    "datetime",
];
/// Character sets a key is bound in as the binary log gives it.
const KEY_CHARSETS: [&str; 5] = ["utf8mb4", "utf8mb3", "utf8", "ascii", "binary"];

/// A running watch.
pub(super) struct Watch {
    reader: Reader,
    check: KeyCheck,
    /// The tables its keys cover (qualified); the others are counted.
    keyed: Vec<String>,
}

impl std::fmt::Debug for Watch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Watch")
            .field("node", &self.reader.node)
            .field("keyed", &self.keyed)
            .finish()
    }
}

impl Watch {
    /// Starts watching `tables` on `node` (`source` a connection to it)
    /// from its log end; none, said why, when nothing can be watched.
    pub(super) async fn start(
        cfg: &Config,
        node: &str,
        source: &mut Conn,
        schema: &str,
        tables: &[String],
        say: &mut dyn FnMut(String),
    ) -> Result<Option<Watch>, String> {
        let sql = |e: mysql_async::Error| format!("key watch: {e}");
        let logged: Option<(String, String)> = source
            .query_first("SELECT @@GLOBAL.binlog_format, @@GLOBAL.binlog_row_image")
            .await
            .map_err(sql)?;
        if logged.as_ref().map(|(f, i)| (f.as_str(), i.as_str())) != Some(("ROW", "FULL")) {
            say(format!(
                "the source logs {logged:?}, not full row images: the pause counts the tables' rows"
            ));
            return Ok(None);
        }
        let mut olds = Vec::new();
        for t in tables {
            match keyed_shape(source, schema, t).await? {
                Ok(old) => olds.push(old),
                Err(why) => say(format!("`{t}`: {why}: the pause counts its rows")),
            }
        }
        if olds.is_empty() {
            return Ok(None);
        }
        let from = master_pos(source).await?;
        let routes = Routes {
            schema: schema.to_owned(),
            tables: olds
                .iter()
                .map(|t| (t.name.to_ascii_lowercase(), t.clone()))
                .collect(),
            rule: None,
            key_type: KeyType::Int,
            on_ddl: "the key watch stops and the pause counts the moved tables' rows instead",
            merge: false,
        };
        let server = Server::of(cfg, node).await?;
        let reader = binlog::start(node, server, from, routes).await?;
        let check = KeyCheck::new(schema, &olds, |t| vec![t.name.clone()]);
        let keyed = olds.iter().map(|t| qualified(schema, &t.name)).collect();
        Ok(Some(Watch {
            reader,
            check,
            keyed,
        }))
    }

    /// Whether the pause compares `table` (qualified) by its keys.
    pub(super) fn covers(&self, table: &str) -> bool {
        self.keyed.iter().any(|k| k == table)
    }

    /// The key rounds while writes continue (after the chunks); the keys
    /// compared.
    pub(super) async fn rounds<C: CatchUp>(
        &self,
        source: &mut Conn,
        target: &mut Conn,
        catch: C,
        progress: &mut Progress,
        say: &mut dyn FnMut(String),
    ) -> Result<u64, String> {
        let mut sides = [Side {
            check: &self.check,
            source,
            target,
            reader: &self.reader,
            catch,
        }];
        keys::rounds(&mut sides, progress, say).await
    }

    /// Why its keys cannot be trusted, if so.
    fn unusable(&self) -> Option<String> {
        let s = self.reader.shared.lock();
        if let Some(e) = &s.error {
            return Some(format!("the key watch's binary log reader stopped ({e})"));
        }
        s.blind.as_ref().map(|q| {
            let q: String = q.chars().take(80).collect();
            format!("the source logged a write as a statement (`{q}`)")
        })
    }

    /// Inside the pause (the source's tables locked, the target at the
    /// source's position): the keys noted since the last round compared
    /// exactly, once the reader is at the source's log end (at most
    /// `left`). `Ok(Err(why))`: the keys cannot be trusted (count instead).
    pub(super) async fn in_pause(
        &self,
        source: &mut Conn,
        target: &mut Conn,
        left: Duration,
    ) -> Result<Result<u64, String>, String> {
        if let Some(why) = self.unusable() {
            return Ok(Err(why));
        }
        let end = master_pos(source).await?;
        if let Err(e) = wait_applied(&self.reader, &end, left).await {
            return match self.unusable() {
                Some(why) => Ok(Err(why)),
                None => Err(format!("{e}; nothing switched")),
            };
        }
        if let Some(why) = self.unusable() {
            return Ok(Err(why));
        }
        let keys = keys::take(&self.reader);
        self.check
            .exact(source, target, &keys, "between source and target")
            .await
            .map(Ok)
    }
}

/// `table`'s shape when the watch can note its keys; why not otherwise.
async fn keyed_shape(
    conn: &mut Conn,
    schema: &str,
    table: &str,
) -> Result<Result<OldTable, String>, String> {
    type Col = (String, String, String, Option<String>);
    let cols: Vec<Col> = conn
        .exec(
            "SELECT COLUMN_NAME, DATA_TYPE, COLUMN_TYPE, CHARACTER_SET_NAME \
             FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? \
             ORDER BY ORDINAL_POSITION",
            (schema, table),
        )
        .await
        .map_err(|e| format!("columns of `{table}`: {e}"))?;
    let pk = super::verify::primary_key(conn, schema, table)
        .await
        .map_err(|e| format!("primary key of `{table}`: {e}"))?;
    Ok(shape(table, &cols, &pk))
}

/// The shape of a table of `cols` (name, data type, column type,
/// character set) keyed by `pk`, or why the watch cannot note its keys.
fn shape(
    table: &str,
    cols: &[(String, String, String, Option<String>)],
    pk: &[String],
) -> Result<OldTable, String> {
    if pk.is_empty() {
        return Err("no primary key".into());
    }
    let index: HashMap<String, usize> = cols
        .iter()
        .enumerate()
        .map(|(i, c)| (c.0.to_ascii_lowercase(), i))
        .collect();
    let mut positions = Vec::new();
    for k in pk {
        let i = *index
            .get(&k.to_ascii_lowercase())
            .ok_or_else(|| format!("no column `{k}`"))?;
        let (_, dt, _, charset) = &cols[i];
        let dt = dt.to_ascii_lowercase();
        if !KEY_TYPES.contains(&dt.as_str()) {
            return Err(format!("key column `{k}` is {dt}"));
        }
        if let Some(cs) = charset.as_deref().filter(|cs| !KEY_CHARSETS.contains(cs)) {
            return Err(format!("key column `{k}` has character set {cs}"));
        }
        positions.push(i);
    }
    Ok(OldTable {
        name: table.to_owned(),
        columns: cols.iter().map(|c| c.0.clone()).collect(),
        unsigned_bits: cols
            .iter()
            .map(|c| unsigned_bits(&c.1.to_ascii_lowercase(), &c.2))
            .collect(),
        pk: positions,
        key: 0,
        new_tables: HashMap::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_whose_keys_the_watch_notes() {
        let col = |n: &str, dt: &str, ct: &str, cs: Option<&str>| {
            (
                n.to_owned(),
                dt.to_owned(),
                ct.to_owned(),
                cs.map(str::to_owned),
            )
        };
        let cols = vec![
            col("id", "bigint", "bigint(20) unsigned", None),
            col("name", "varchar", "varchar(20)", Some("utf8mb4")),
            col("l1", "varchar", "varchar(20)", Some("latin1")),
            col("at", "timestamp", "timestamp", None),
            col("note", "text", "text", Some("utf8mb4")),
        ];
        let pk = |k: &[&str]| k.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let t = shape("t", &cols, &pk(&["ID", "name"])).unwrap();
        assert_eq!((t.pk.clone(), t.unsigned_bits[0]), (vec![0, 1], Some(64)));
        for (key, why) in [
            (pk(&[]), "no primary key"),
            (pk(&["id", "l1"]), "character set latin1"),
            (pk(&["at"]), "is timestamp"),
            (pk(&["note"]), "is text"),
        ] {
            let e = shape("t", &cols, &key).unwrap_err();
            assert!(e.contains(why), "{key:?}: {e}");
        }
    }
}
