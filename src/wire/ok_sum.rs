//! Combining the OK packets of one statement that ran on several shards
//! into the OK one server would have sent: counts summed, per-statement
//! status flags (`SERVER_STATUS_NO_INDEX_USED`...) or-ed, and the info
//! text (`Records: 3  Duplicates: 0  Warnings: 0`, `Rows matched: 3
//! Changed: 3  Warnings: 0`) summed label by label.
//!
//! Owns: the arithmetic on OK packets and their info text. Must not do
//! I/O, choose shards or encode packets (`packets::OkPacket::encode`).

use mysql_common::constants::StatusFlags;

use super::packets::OkPacket;

/// Status flags that describe the statement rather than the session.
const STATEMENT_FLAGS: u16 = StatusFlags::SERVER_STATUS_NO_INDEX_USED.bits()
    | StatusFlags::SERVER_STATUS_NO_GOOD_INDEX_USED.bits();

/// The statement-level status flags of `status` (kept when the proxy
/// answers for several shards with the session's own flags).
pub fn statement_flags(status: u16) -> u16 {
    status & STATEMENT_FLAGS
}

/// What kind of statement the shards ran, for info texts a shard left out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteKind {
    /// INSERT / REPLACE (with IGNORE or ON DUPLICATE KEY UPDATE): a server
    /// sends `Records: …` for several rows and nothing for one row
    /// without warnings.
    InsertLike,
    /// Any other write (its info, if any, comes from every shard).
    Other,
}

impl WriteKind {
    /// The kind of a shard statement from its SQL text.
    pub fn of_sql(sql: &str) -> WriteKind {
        let word: String = sql
            .trim_start()
            .chars()
            .take_while(|c| c.is_ascii_alphabetic())
            .collect();
        if word.eq_ignore_ascii_case("INSERT") || word.eq_ignore_ascii_case("REPLACE") {
            WriteKind::InsertLike
        } else {
            WriteKind::Other
        }
    }
}

impl OkPacket {
    /// Adds one shard's OK for the same statement. `kind` tells what a
    /// shard's missing info text stands for.
    pub fn add_shard(&mut self, ok: OkPacket, kind: WriteKind) {
        let theirs = info_of_shard(&ok, kind);
        self.info = sum_info(&self.info, &theirs);
        self.affected_rows += ok.affected_rows;
        if self.last_insert_id == 0 {
            self.last_insert_id = ok.last_insert_id;
        }
        self.warnings = self.warnings.saturating_add(ok.warnings);
        self.status = ok.status | statement_flags(self.status);
        self.changes.extend(ok.changes);
    }

    /// Ends a sum over shards: a server sends no info text for a one-row
    /// INSERT without warnings, which is what `Records: 1` over all shards
    /// (or copies) means.
    pub fn finish_shards(&mut self) {
        if let Some(fields) = parse_info(&self.info) {
            // `Records: 1  Duplicates: …` (INSERT); LOAD DATA's `Records:
            // 1  Deleted: …` is always sent.
            let one_row = fields
                .first()
                .is_some_and(|(l, n)| l == "Records" && *n == 1)
                && fields.get(1).is_some_and(|(l, _)| l == "Duplicates");
            let no_warnings = fields.iter().any(|(l, n)| l == "Warnings" && *n == 0);
            if one_row && no_warnings {
                self.info.clear();
            }
        }
    }

    /// Every copy of a broadcast table reported the same change: one
    /// server would report it once.
    pub fn divide_copies(&mut self, copies: u64) {
        if copies <= 1 {
            return;
        }
        self.affected_rows /= copies;
        self.warnings = (u64::from(self.warnings) / copies) as u16;
        if let Some(fields) = parse_info(&self.info) {
            let fields: Vec<(String, u64)> =
                fields.into_iter().map(|(l, n)| (l, n / copies)).collect();
            self.info = render_info(&fields);
        }
    }
}

/// A shard's info text; for an INSERT-like statement a shard that sent
/// none ran one row (a server answers several rows with `Records:`).
fn info_of_shard(ok: &OkPacket, kind: WriteKind) -> Vec<u8> {
    if !ok.info.is_empty() || kind != WriteKind::InsertLike {
        return ok.info.clone();
    }
    // One row: 1 affected (inserted), 2 (replaced / updated on duplicate),
    // 0 with a warning (duplicate ignored). A duplicate left unchanged by
    // ON DUPLICATE KEY UPDATE counts as none (or, under CLIENT_FOUND_ROWS,
    // looks like an insert: the one case this cannot tell apart).
    let duplicates = u64::from(ok.affected_rows == 2 || (ok.affected_rows == 0 && ok.warnings > 0));
    render_info(&[
        ("Records".into(), 1),
        ("Duplicates".into(), duplicates),
        ("Warnings".into(), u64::from(ok.warnings)),
    ])
}

/// `Label: N  Label: N` pairs, or `None` when the text is not of that form.
fn parse_info(info: &[u8]) -> Option<Vec<(String, u64)>> {
    let text = std::str::from_utf8(info).ok()?;
    let mut out = Vec::new();
    for part in text.split("  ") {
        let (label, n) = part.split_once(": ")?;
        out.push((label.to_string(), n.trim().parse().ok()?));
    }
    (!out.is_empty()).then_some(out)
}

fn render_info(fields: &[(String, u64)]) -> Vec<u8> {
    let parts: Vec<String> = fields.iter().map(|(l, n)| format!("{l}: {n}")).collect();
    parts.join("  ").into_bytes()
}

/// Sums two info texts with the same labels; otherwise keeps what is
/// there (one server never mixes two kinds in one answer).
fn sum_info(a: &[u8], b: &[u8]) -> Vec<u8> {
    if a.is_empty() {
        return b.to_vec();
    }
    if b.is_empty() {
        return a.to_vec();
    }
    match (parse_info(a), parse_info(b)) {
        (Some(x), Some(y)) if x.len() == y.len() && x.iter().zip(&y).all(|(p, q)| p.0 == q.0) => {
            let sum: Vec<(String, u64)> = x
                .into_iter()
                .zip(y)
                .map(|((l, m), (_, n))| (l, m + n))
                .collect();
            render_info(&sum)
        }
        _ => a.to_vec(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(affected: u64, warnings: u16, info: &str) -> OkPacket {
        OkPacket {
            affected_rows: affected,
            warnings,
            status: 2,
            info: info.as_bytes().to_vec(),
            ..OkPacket::default()
        }
    }

    #[test]
    fn sums_update_and_insert_info() {
        let mut t = OkPacket::default();
        t.add_shard(
            ok(2, 0, "Rows matched: 2  Changed: 2  Warnings: 0"),
            WriteKind::Other,
        );
        t.add_shard(
            ok(1, 1, "Rows matched: 3  Changed: 1  Warnings: 1"),
            WriteKind::Other,
        );
        assert_eq!(t.info, b"Rows matched: 5  Changed: 3  Warnings: 1");
        assert_eq!((t.affected_rows, t.warnings), (3, 1));
        let mut t = OkPacket::default();
        t.add_shard(
            ok(2, 0, "Records: 2  Duplicates: 0  Warnings: 0"),
            WriteKind::InsertLike,
        );
        t.add_shard(ok(1, 0, ""), WriteKind::InsertLike);
        assert_eq!(t.info, b"Records: 3  Duplicates: 0  Warnings: 0");
    }

    #[test]
    fn single_rows_become_records() {
        let mut t = OkPacket::default();
        t.add_shard(ok(2, 0, ""), WriteKind::InsertLike);
        t.add_shard(ok(1, 0, ""), WriteKind::InsertLike);
        t.add_shard(ok(0, 0, ""), WriteKind::InsertLike);
        t.add_shard(ok(0, 1, ""), WriteKind::InsertLike);
        assert_eq!(t.info, b"Records: 4  Duplicates: 2  Warnings: 1");
        let mut t = OkPacket::default();
        t.add_shard(ok(1, 0, ""), WriteKind::Other);
        t.add_shard(ok(1, 0, ""), WriteKind::Other);
        assert!(t.info.is_empty());
        let mut t = OkPacket::default();
        t.add_shard(ok(1, 0, ""), WriteKind::InsertLike);
        t.add_shard(ok(1, 0, ""), WriteKind::InsertLike);
        t.divide_copies(2);
        t.finish_shards();
        assert!(t.info.is_empty());
        assert_eq!(WriteKind::of_sql("  replace INTO t"), WriteKind::InsertLike);
        assert_eq!(WriteKind::of_sql("UPDATE t"), WriteKind::Other);
    }

    #[test]
    fn statement_flags_are_kept_and_copies_divided() {
        let mut t = OkPacket::default();
        let mut a = ok(1, 0, "Rows matched: 1  Changed: 1  Warnings: 0");
        a.status |= StatusFlags::SERVER_STATUS_NO_INDEX_USED.bits();
        t.add_shard(a.clone(), WriteKind::Other);
        t.add_shard(
            ok(1, 0, "Rows matched: 1  Changed: 1  Warnings: 0"),
            WriteKind::Other,
        );
        assert_eq!(
            statement_flags(t.status),
            StatusFlags::SERVER_STATUS_NO_INDEX_USED.bits()
        );
        t.divide_copies(2);
        assert_eq!(t.info, b"Rows matched: 1  Changed: 1  Warnings: 0");
        assert_eq!(t.affected_rows, 1);
        assert_eq!(parse_info(b"garbage"), None);
    }
}
