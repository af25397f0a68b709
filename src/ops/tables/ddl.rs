//! Rewriting a `SHOW CREATE TABLE` answer into the DDL of another period's
//! table: `CREATE TABLE IF NOT EXISTS \`schema\`.\`new\` …`, without the
//! source's `AUTO_INCREMENT=n` table option (a new period starts empty).
//!
//! Owns: that text rewrite, quote-aware. Must not run anything.

/// Why a definition cannot be copied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DdlError {
    /// The text does not start with `CREATE TABLE <name>`.
    #[error("SHOW CREATE TABLE gave an unexpected definition: {0}")]
    Unexpected(String),
}

/// Quotes an identifier with backquotes.
pub fn quote(ident: &str) -> String {
    format!("`{}`", ident.replace('`', "``"))
}

/// Length of the backquoted identifier at the start of `text`.
fn quoted_ident_len(text: &str) -> Option<usize> {
    let bytes = text.as_bytes();
    if bytes.first() != Some(&b'`') {
        return None;
    }
    let mut i = 1;
    while i < bytes.len() {
        if bytes[i] == b'`' {
            if bytes.get(i + 1) == Some(&b'`') {
                i += 2;
                continue;
            }
            return Some(i + 1);
        }
        i += 1;
    }
    None
}

/// Byte offset just after the parenthesis closing the first `(` of `text`
/// (the column list), skipping quoted strings and identifiers.
fn column_list_end(text: &str) -> Option<usize> {
    let bytes = text.as_bytes();
    let mut depth = 0usize;
    let mut quote: Option<u8> = None;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        match quote {
            Some(q) if b == b'\\' && q != b'`' => i += 1,
            Some(q) if b == q => {
                if bytes.get(i + 1) == Some(&q) {
                    i += 1;
                } else {
                    quote = None;
                }
            }
            Some(_) => {}
            None => match b {
                b'\'' | b'"' | b'`' => quote = Some(b),
                b'(' => depth += 1,
                b')' => {
                    depth = depth.checked_sub(1)?;
                    if depth == 0 {
                        return Some(i + 1);
                    }
                }
                _ => {}
            },
        }
        i += 1;
    }
    None
}

/// The definition `show_create` (of any table) for table `name` in
/// `schema`, created only if absent.
pub fn copy_ddl(show_create: &str, schema: &str, name: &str) -> Result<String, DdlError> {
    let unexpected = || DdlError::Unexpected(show_create.chars().take(80).collect());
    let rest = show_create
        .strip_prefix("CREATE TABLE ")
        .ok_or_else(unexpected)?;
    let ident = quoted_ident_len(rest).ok_or_else(unexpected)?;
    let body = &rest[ident..];
    let end = column_list_end(body).ok_or_else(unexpected)?;
    let (columns, options) = body.split_at(end);
    let options: Vec<&str> = options
        .split(' ')
        .filter(|word| {
            !word
                .strip_prefix("AUTO_INCREMENT=")
                .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        })
        .collect();
    Ok(format!(
        "CREATE TABLE IF NOT EXISTS {}.{}{columns}{}",
        quote(schema),
        quote(name),
        options.join(" ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copies_the_definition_under_the_new_name() {
        let source = "CREATE TABLE `ev_202612` (\n  `id` bigint(20) NOT NULL AUTO_INCREMENT,\n  `note` varchar(20) DEFAULT 'a) AUTO_INCREMENT=3 `x',\n  PRIMARY KEY (`id`)\n) ENGINE=InnoDB AUTO_INCREMENT=17 DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci";
        assert_eq!(
            copy_ddl(source, "d`b", "ev_202701").as_deref(),
            Ok("CREATE TABLE IF NOT EXISTS `d``b`.`ev_202701` (\n  `id` bigint(20) NOT NULL AUTO_INCREMENT,\n  `note` varchar(20) DEFAULT 'a) AUTO_INCREMENT=3 `x',\n  PRIMARY KEY (`id`)\n) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci")
        );
    }

    #[test]
    fn names_with_backquotes_and_odd_text() {
        let source =
            "CREATE TABLE `a``b` (\n  `c` int(11) DEFAULT NULL COMMENT 'it''s (x'\n) ENGINE=InnoDB";
        assert_eq!(
            copy_ddl(source, "s", "n").as_deref(),
            Ok("CREATE TABLE IF NOT EXISTS `s`.`n` (\n  `c` int(11) DEFAULT NULL COMMENT 'it''s (x'\n) ENGINE=InnoDB")
        );
        for bad in [
            "",
            "CREATE VIEW `v` AS SELECT 1",
            "CREATE TABLE `x",
            "CREATE TABLE `x` (a",
        ] {
            assert!(copy_ddl(bad, "s", "n").is_err(), "{bad}");
        }
    }
}
