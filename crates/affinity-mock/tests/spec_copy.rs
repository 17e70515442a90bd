//! The vendored API documents in `spec/` must be the project's reference copies.
//!
//! The project keeps Affinity's documents in `../shared/affinity/` next to the repository;
//! `spec/` carries a copy so the double's tests run from any clone. When the reference copies
//! are present (CI, developer machines) this test fails if the two have drifted apart.

use std::path::Path;

#[test]
fn vendored_spec_matches_the_reference_copies() {
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let shared = crate_dir.join("../../../shared/affinity");
    if !shared.is_dir() {
        eprintln!("{} not present: nothing to compare", shared.display());
        return;
    }
    for name in ["openapi-v2.json", "api-v1.md"] {
        let vendored = std::fs::read(crate_dir.join("spec").join(name)).expect("vendored copy");
        let reference = std::fs::read(shared.join(name)).expect("reference copy");
        assert!(
            vendored == reference,
            "spec/{name} differs from shared/affinity/{name}: copy it over"
        );
    }
}
