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
