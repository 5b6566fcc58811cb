//! `trilemma serve` draws as OpenAI clients ask, on a real model: sampled answers differ
//! across seeds and repeat for one seed, `n` gives that many choices, and `response_format`
//! with a JSON Schema yields JSON that validates against the schema on every prompt.

mod common;
use common::{http, start_server, Server};

use serde_json::{json, Value};

fn serve(max_batch: &str) -> Server {
    start_server(&[
        "serve",
        "smollm2-135m",
        "--listen",
        "127.0.0.1:0",
        "--max-batch",
        max_batch,
    ])
}

fn post(s: &Server, path: &str, body: &Value) -> Value {
    let r = http(&s.url, "POST", path, Some(body));
    assert_eq!(r.status, 200, "{body}: {}", r.body);
    r.json()
}

#[test]
fn sampled_answers_differ_across_seeds_and_repeat_for_one() {
    // One sequence at a time: a seed then repeats exactly (docs/serve.md, "Seeds").
    let s = serve("1");
    let ask = |seed: u64| -> String {
        let v = post(
            &s,
            "completions",
            &json!({"prompt": "Once upon a time", "max_tokens": 12, "temperature": 1.0,
                    "top_p": 0.95, "seed": seed}),
        );
        v["choices"][0]["text"].as_str().unwrap().to_string()
    };
    let texts: Vec<String> = (1..=4).map(ask).collect();
    assert_eq!(ask(1), texts[0], "seed 1 twice");
    assert_eq!(ask(3), texts[2], "seed 3 twice");
    let mut distinct = texts.clone();
    distinct.sort();
    distinct.dedup();
    assert!(
        distinct.len() >= 3,
        "four seeds, too few different answers: {texts:?}"
    );
    // Greedy (temperature 0) ignores the seed.
    let greedy = |seed: u64| {
        post(
            &s,
            "completions",
            &json!({"prompt": "Once upon a time", "max_tokens": 8, "seed": seed}),
        )["choices"][0]["text"]
            .clone()
    };
    assert_eq!(greedy(1), greedy(2));

    // n: 3 choices, indexed, each drawn with its own seed (seed + j), on both endpoints.
    let v = post(
        &s,
        "completions",
        &json!({"prompt": "Once upon a time", "max_tokens": 12, "temperature": 1.0,
                "top_p": 0.95, "seed": 1, "n": 3}),
    );
    let choices = v["choices"].as_array().unwrap();
    assert_eq!(choices.len(), 3);
    for (j, c) in choices.iter().enumerate() {
        assert_eq!(c["index"], j);
        assert_eq!(c["text"], texts[j], "choice {j} is seed {}", j + 1);
    }
    let chat = post(
        &s,
        "chat/completions",
        &json!({"messages": [{"role": "user", "content": "Say something."}], "max_tokens": 8,
                "temperature": 0.8, "n": 3, "seed": 9}),
    );
    assert_eq!(chat["choices"].as_array().unwrap().len(), 3, "{chat}");
    assert_eq!(chat["choices"][2]["index"], 2);

    // Sampled tokens come with their logprobs and alternatives too.
    let v = post(
        &s,
        "completions",
        &json!({"prompt": "Once upon a time", "max_tokens": 4, "temperature": 1.0,
                "seed": 2, "logprobs": 3}),
    );
    let lp = &v["choices"][0]["logprobs"];
    assert_eq!(lp["tokens"].as_array().unwrap().len(), 4);
    for (i, top) in lp["top_logprobs"].as_array().unwrap().iter().enumerate() {
        let chosen = lp["tokens"][i].as_str().unwrap();
        assert_eq!(top[chosen], lp["token_logprobs"][i], "{top}");
    }

    // What the server does not honour is refused, naming the field.
    for (body, field) in [
        (
            json!({"prompt": "x", "logit_bias": {"42": 5}}),
            "logit_bias",
        ),
        (json!({"prompt": "x", "temperature": 5}), "temperature"),
        (
            json!({"prompt": "x", "n": 2, "echo": true, "max_tokens": 0}),
            "n",
        ),
        (json!({"prompt": "x", "best_of": 3}), "best_of"),
    ] {
        let r = http(&s.url, "POST", "completions", Some(&body));
        assert_eq!(r.status, 400, "{body}: {}", r.body);
        assert_eq!(r.json()["error"]["param"], field, "{body}");
    }
}

#[test]
fn a_json_schema_is_met_on_every_prompt() {
    let s = serve("8");
    let schema = json!({
        "type": "object",
        "properties": {
            "city": {"type": "string", "maxLength": 24},
            "population_millions": {"type": "integer", "minimum": 0, "maximum": 999},
            "coastal": {"type": "boolean"}
        },
        "required": ["city", "population_millions", "coastal"],
        "additionalProperties": false
    });
    let validator = jsonschema::validator_for(&schema).unwrap();
    let cities = [
        "Paris", "Tokyo", "Lagos", "Lima", "Oslo", "Cairo", "Delhi", "Quito", "Seoul", "Rome",
        "Dakar", "Hanoi", "Perth", "Doha", "Kyiv", "Bern", "Accra", "Sofia", "Riga", "Baku",
    ];
    let prompts: Vec<String> = cities
        .iter()
        .map(|c| format!("Describe the city of {c} as JSON.\n"))
        .collect();
    let v = post(
        &s,
        "completions",
        &json!({"prompt": prompts, "max_tokens": 128, "response_format":
                {"type": "json_schema", "json_schema": {"name": "city", "schema": schema, "strict": true}}}),
    );
    let choices = v["choices"].as_array().unwrap();
    assert_eq!(choices.len(), 20);
    for c in choices {
        let text = c["text"].as_str().unwrap();
        let parsed: Value = serde_json::from_str(text)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {text:?} ({})", c["finish_reason"]));
        assert!(
            validator.is_valid(&parsed),
            "{parsed} does not meet the schema"
        );
    }
    // json_object on chat: any JSON object.
    let chat = post(
        &s,
        "chat/completions",
        &json!({"messages": [{"role": "user", "content": "Give me a JSON object with the key \"city\" set to \"Paris\"."}],
                "max_tokens": 64, "response_format": {"type": "json_object"}}),
    );
    assert_eq!(chat["choices"][0]["finish_reason"], "stop", "{chat}");
    let text = chat["choices"][0]["message"]["content"].as_str().unwrap();
    let parsed: Value = serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text:?}"));
    assert!(parsed.is_object());
    // A schema the converter cannot compile is the client's error, naming the field.
    let r = http(
        &s.url,
        "POST",
        "completions",
        Some(
            &json!({"prompt": "x", "response_format": {"type": "json_schema",
                     "json_schema": {"name": "x", "schema": {"type": "no-such-type"}}}}),
        ),
    );
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(r.json()["error"]["param"], "response_format");
}
