//! Every example under rules/ (including the one docker/compose.yaml
//! mounts) passes `shardcat check`, and a broken file is reported with its
//! file and line.

use std::process::Command;

fn check(paths: &[&std::path::Path]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_shardcat"))
        .arg("check")
        .args(paths)
        .output()
        .expect("run shardcat check");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn example_rules_pass_check() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("rules");
    let files: Vec<_> = std::fs::read_dir(&dir)
        .expect("rules/")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    assert!(!files.is_empty());
    let refs: Vec<&std::path::Path> = files.iter().map(|p| p.as_path()).collect();
    let (ok, out) = check(&refs);
    assert!(ok, "shardcat check failed:\n{out}");
}

#[test]
fn broken_file_names_file_and_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("bad.toml");
    std::fs::write(
        &path,
        "[[user]]\nname = \"app\"\n\n[[node]]\nname = \"n1\"\nprimary = \"127.0.0.1:1\"\nreplica = []\n",
    )
    .expect("write");
    let (ok, out) = check(&[&path]);
    assert!(!ok);
    assert!(out.contains("bad.toml:7:"), "{out}");
    assert!(out.contains("unknown field `replica`"), "{out}");
}

#[test]
fn routing_cases_run_and_report_differences() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("mini.toml");
    std::fs::write(
        &config,
        "[[user]]\nname = \"app\"\n\n[[node]]\nname = \"n1\"\nprimary = \"127.0.0.1:1\"\n\n\
         [[node]]\nname = \"n2\"\nprimary = \"127.0.0.1:2\"\n\n\
         [[table]]\nname = \"t\"\nkey = \"id\"\nkey_type = \"int\"\nalgorithm = { kind = \"hash_mod\" }\nnodes = [\"n1\", \"n2\"]\n",
    )
    .expect("write");
    let cases = dir.path().join("mini.cases.toml");
    std::fs::write(
        &cases,
        "[[case]]\nsql = \"SELECT * FROM t WHERE id = 1\"\ntargets = [{ node = \"n2\", sql = \"SELECT * FROM t_1 AS `t` WHERE id = 1\" }]\n\n\
         [[case]]\nname = \"wrong node\"\nsql = \"SELECT * FROM t WHERE id = 2\"\ntargets = [{ node = \"n2\", sql = \"SELECT * FROM t_0 AS `t` WHERE id = 2\" }]\n\n\
         [[case]]\nsql = \"UPDATE t SET id = id + 1\"\nerror = \"sharding key\"\n",
    )
    .expect("write");
    // Through the configuration, and through the cases file alone.
    for path in [&config, &cases] {
        let (ok, out) = check(&[path]);
        assert!(!ok, "{out}");
        assert!(
            out.contains("mini.cases.toml:2: SELECT * FROM t WHERE id = 1"),
            "{out}"
        );
        assert!(out.contains("FAIL ") && out.contains("wrong node"), "{out}");
        assert!(
            out.contains("- node n2: SELECT * FROM t_0 AS `t` WHERE id = 2"),
            "{out}"
        );
        assert!(
            out.contains("+ node n1: SELECT * FROM t_0 AS `t` WHERE id = 2"),
            "{out}"
        );
        assert!(out.contains("3 case(s), 1 failed"), "{out}");
    }
    // Both given: the cases run once.
    let (_, out) = check(&[&config, &cases]);
    assert_eq!(out.matches("3 case(s)").count(), 1, "{out}");
}
