//! Custom task files: the shipped examples load, and bad files fail naming file, line and field.

use std::path::PathBuf;

use trilemma_tasks::{apply_filters, load_task_file, FilterStep, Item, OutputType};

fn example(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/tasks")
        .join(name)
}

#[test]
fn the_example_task_files_load() {
    let t = load_task_file(&example("capitals.toml")).unwrap();
    assert_eq!(t.info.name, "capitals");
    assert_eq!(t.info.output_type, OutputType::MultipleChoice);
    assert_eq!(t.items.len(), 6);
    assert_eq!(t.skipped_rows, 0);
    let Item::MultipleChoice {
        context,
        choices,
        gold,
        ..
    } = &t.items[1]
    else {
        panic!("multiple choice expected")
    };
    assert_eq!(context, "Question: What is the capital of Japan?\nAnswer:");
    assert_eq!(choices[2], " Tokyo");
    assert_eq!(*gold, 2, "a target given as the choice's text");

    let g = load_task_file(&example("arithmetic.toml")).unwrap();
    assert_eq!(g.items.len(), 4);
    let Item::Generate {
        prompt,
        gold,
        stop,
        max_tokens,
        filters,
        metrics,
        ..
    } = &g.items[2]
    else {
        panic!("generation expected")
    };
    assert_eq!(prompt, "Question: What is 21 plus 21?\nAnswer:");
    assert_eq!(gold, "42");
    assert_eq!(stop, &["\n", "Question:"]);
    assert_eq!(*max_tokens, 16);
    assert_eq!(metrics, &["exact_match"]);
    assert_eq!(apply_filters(" It is 42, I think 43", filters), "42");
    assert_eq!(apply_filters(" no idea", filters), "[invalid]");
}

#[test]
fn filters_follow_lm_eval() {
    let last = [FilterStep::Regex {
        pattern: r"(\d+)".into(),
        group_select: -1,
    }];
    assert_eq!(apply_filters("1 then 2 then 3", &last), "3");
    assert_eq!(
        apply_filters(" Yes ", &[FilterStep::Strip, FilterStep::Lowercase]),
        "yes"
    );
}

fn write(dir: &tempfile::TempDir, name: &str, text: &str) -> PathBuf {
    let p = dir.path().join(name);
    std::fs::write(&p, text).unwrap();
    p
}

const GOOD: &str = r#"task = "t"
dataset_path = "d.jsonl"
output_type = "generate_until"
doc_to_text = "{{q}}"
doc_to_target = "{{a}}"
metric_list = [{ metric = "exact_match" }]
"#;

#[test]
fn bad_task_files_name_file_line_and_field() {
    let dir = tempfile::tempdir().unwrap();
    write(
        &dir,
        "d.jsonl",
        "{\"q\": \"x\", \"a\": \"y\"}\nnot json\n{\"q\": \"only q\"}\n[1]\n",
    );
    // A good file: two bad rows and one row missing a template field are skipped, counted.
    let ok = load_task_file(&write(&dir, "ok.toml", GOOD)).unwrap();
    assert_eq!(ok.items.len(), 1);
    assert_eq!(ok.skipped_rows, 3);

    let missing = GOOD.replace("doc_to_target = \"{{a}}\"\n", "");
    let e = load_task_file(&write(&dir, "missing.toml", &missing))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("missing.toml:") && e.contains("doc_to_target"),
        "{e}"
    );

    let wrong = GOOD.replace("output_type = \"generate_until\"", "output_type = 3");
    let e = load_task_file(&write(&dir, "wrong.toml", &wrong))
        .unwrap_err()
        .to_string();
    assert!(e.contains("wrong.toml:3:"), "{e}");

    let metric = GOOD.replace("exact_match", "bleurt");
    let e = load_task_file(&write(&dir, "metric.toml", &metric))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("metric.toml:6:") && e.contains("metric_list.metric") && e.contains("bleurt"),
        "{e}"
    );

    let unknown = format!("{GOOD}doc_to_chioce = \"x\"\n");
    let e = load_task_file(&write(&dir, "typo.toml", &unknown))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("typo.toml:7:") && e.contains("doc_to_chioce"),
        "{e}"
    );

    let e = load_task_file(&dir.path().join("absent.toml"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("absent.toml"), "{e}");
}
