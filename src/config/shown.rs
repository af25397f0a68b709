//! The configuration as `SHOW SHARDCAT CONFIG` shows it: every setting
//! written in the file, flattened to `section.key` rows, secrets masked.
//!
//! Owns: that flattening and the masking rule. Must not: validate or
//! interpret settings (`Config::parse` does).

/// `(name, value)` rows of `text` (valid TOML), in file order of sections;
/// arrays of tables are numbered (`node[0].primary`). Values of keys whose
/// name contains `password` or `secret` are replaced by `***`.
pub fn settings(text: &str) -> Vec<(String, String)> {
    let mut rows = Vec::new();
    if let Ok(t) = toml::from_str::<toml::Table>(text) {
        flatten("", &toml::Value::Table(t), &mut rows);
    }
    rows
}

fn secret(name: &str) -> bool {
    let leaf = name.rsplit('.').next().unwrap_or(name).to_ascii_lowercase();
    leaf.contains("password") || leaf.contains("secret")
}

fn flatten(prefix: &str, v: &toml::Value, rows: &mut Vec<(String, String)>) {
    match v {
        toml::Value::Table(t) => {
            for (k, v) in t {
                let name = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(&name, v, rows);
            }
        }
        toml::Value::Array(items) if items.iter().any(|i| i.is_table()) => {
            for (i, item) in items.iter().enumerate() {
                flatten(&format!("{prefix}[{i}]"), item, rows);
            }
        }
        toml::Value::String(s) if secret(prefix) && !s.is_empty() => {
            rows.push((prefix.to_string(), "***".into()));
        }
        other => rows.push((prefix.to_string(), other.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flattens_and_masks_secrets() {
        let rows = settings(
            r#"
[server]
listen = "127.0.0.1:6033"
[backend]
user = "shardcat"
password = "s3cret"
[[user]]
name = "app"
password = "pw"
[[user]]
name = "nopw"
password = ""
[[node]]
name = "n1"
replicas = [{ addr = "a:1", weight = 2 }]
"#,
        );
        let get = |n: &str| rows.iter().find(|(k, _)| k == n).map(|(_, v)| v.as_str());
        assert_eq!(get("server.listen"), Some("\"127.0.0.1:6033\""));
        assert_eq!(get("backend.password"), Some("***"));
        assert_eq!(get("user[0].password"), Some("***"));
        assert_eq!(get("user[1].password"), Some("\"\""));
        assert_eq!(get("node[0].replicas[0].weight"), Some("2"));
        assert!(!rows
            .iter()
            .any(|(_, v)| v.contains("s3cret") || v.contains("\"pw\"")));
    }
}
