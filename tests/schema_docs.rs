//! `docs/streams.md` documents every stream's tables; it must be what the catalog says.

#[test]
fn the_schema_docs_match_the_catalog() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/streams.md");
    let committed = std::fs::read_to_string(path).unwrap_or_default();
    let generated = affinity_sync_core::catalog::markdown();
    assert!(
        committed == generated,
        "docs/streams.md is out of date: run `cargo run -- schema > docs/streams.md`"
    );
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_affinity-sync"))
        .arg("schema")
        .output()
        .unwrap();
    assert_eq!(String::from_utf8(out.stdout).unwrap(), generated);
}
