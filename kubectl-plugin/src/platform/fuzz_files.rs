//! Fuzz targets of the files users hand the CLI: token and link files as `token redeem`,
//! `token inspect` and `system apply` read them (YAML or JSON documents, then resources), the
//! inspector, and the redeem answer. Nothing panics, whatever the file holds.

use proptest::prelude::*;
use skupper_router::fuzzing;

proptest! {
    #![proptest_config(fuzzing::config())]

    /// Token and link files as the CLI reads them (`token redeem`, `token inspect`,
    /// `system apply`): YAML or JSON documents, then resources; and the inspector. Nothing
    /// panics, whatever the file holds.
    #[test]
    fn fuzz_token_and_link_files(data in fuzzing::inputs("token", 4096).prop_union(fuzzing::inputs("link", 4096))) {
        let text = String::from_utf8_lossy(&data);
        if let Ok(values) = super::resources::parse_values(&text) {
            for v in &values {
                let _ = skupper_core::resources::Resource::from_value(v.clone());
            }
            let report = skupper_core::inspect::inspect(&values, 1_784_800_800);
            let _ = serde_json::to_string(&report);
            let _ = skupper_core::inspect::redact(&values);
        }
        let _ = crate::grant::redeem::decode(&text);
    }
}

#[test]
fn the_token_and_link_seeds_decode() {
    for target in ["token", "link"] {
        for seed in fuzzing::corpus(target) {
            let text = String::from_utf8(seed).expect("UTF-8 seed");
            let docs = super::resources::parse_documents(&text).expect("seed decodes");
            assert!(!docs.is_empty());
            let values = super::resources::parse_values(&text).expect("values");
            let report = skupper_core::inspect::inspect(&values, 1_784_800_800);
            assert!(!matches!(report.kind, skupper_core::inspect::TokenKind::NotAToken { .. }), "{target}");
        }
    }
}
