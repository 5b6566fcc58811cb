#!/usr/bin/env python3
"""Reference vectors for trilemma-metrics.

Creates a venv under /tmp, installs pinned reference packages there, re-runs itself in it,
and writes JSON vectors into crates/metrics/tests/vectors/. The Rust tests compare every
metric to these vectors within 1e-6.
"""
import json
import os
import random
import subprocess
import sys

VENV = "/tmp/parity-venv"
PINS = ["sacrebleu==2.4.3", "rouge-score==0.1.2", "nltk==3.9.1", "scikit-learn==1.9.1"]
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "crates", "metrics", "tests", "vectors")


def ensure_venv():
    if os.environ.get("TRILEMMA_PARITY_VENV") == "1":
        return
    py = os.path.join(VENV, "bin", "python")
    if not os.path.exists(py):
        subprocess.check_call([sys.executable, "-m", "venv", VENV])
    subprocess.check_call([py, "-m", "pip", "install", "-q"] + PINS)
    env = dict(os.environ, TRILEMMA_PARITY_VENV="1")
    sys.exit(subprocess.call([py, os.path.abspath(__file__)] + sys.argv[1:], env=env))


# ---------------------------------------------------------------- test cases

WORDS = ("the a an cat dog sat on mat quick brown fox jumps over lazy running runs ran "
         "happily happiness generalization connected connecting 42 3.14 1,000 $5 -7 "
         "Hello WORLD naïve café Straße 東京 日本語 😀 don't it's U.S.A. e-mail "
         "(paren) [brack] {brace} 'quote' \"dq\" ... ! ? ; : , . - -- / @ # %").split()


STEM_WORDS = ("caresses ponies ties caress cats feed agreed plastered bled motoring sing "
              "conflated troubled sized hopping tanned falling hissing fizzed failing filing "
              "happy sky skies dying lying tying news innings outings cannings howe proceed "
              "exceed succeed relational conditional rational valenci hesitanci digitizer "
              "conformabli radicalli differentli vileli analogousli vietnamization predication "
              "operator feudalism decisiveness hopefulness callousness formaliti sensitiviti "
              "sensibiliti triplicate formative formalize electriciti electrical hopeful "
              "goodness revival allowance inference airliner gyroscopic adjustable defensible "
              "irritant replacement adjustment dependent adoption homologou communism activate "
              "angulariti homologous effective bowdlerize probate rate cease controll roll "
              "generously beautifully fully logically analogies archaeology apologies "
              "flies died cried spied yes eye by say says saying played enjoying "
              "abilities ability national nationally nationalism internationalization "
              "meeting meetings meet corpora running runner ran runs generalizations "
              "connection connected connecting connections connective obliged ease easily "
              "agreement abed abated ebbing emitted e-mails tokenization universities").split()


def random_sentence(rng, lo=0, hi=25):
    n = rng.randint(lo, hi)
    return " ".join(rng.choice(WORDS) for _ in range(n))


def perturb(rng, s):
    toks = s.split()
    out = []
    for t in toks:
        r = rng.random()
        if r < 0.15:
            continue
        if r < 0.25:
            out.append(rng.choice(WORDS))
        elif r < 0.32:
            out.append(t.upper())
        else:
            out.append(t)
        if rng.random() < 0.05:
            out.append(rng.choice(WORDS))
    return " ".join(out)


def cases():
    rng = random.Random(20261122)
    fixed = [
        ("", [""]),
        ("", ["a reference"]),
        ("a hypothesis", [""]),
        ("The cat sat on the mat.", ["The cat sat on the mat."]),
        ("the cat sat on the mat", ["The cat is on the mat."]),
        ("Hello, world!", ["hello world"]),
        ("It's 3.14, not 3,14.", ["It is 3.14 not 3,14"]),
        ("naïve café in 東京", ["naive cafe in Tokyo", "naïve café in 東京"]),
        ("running runs ran", ["run running ran"]),
        ("An apple a day", ["the apple the day"]),
        ("  spaced   out\ttext \n", ["spaced out text"]),
        ("line one.\nline two here.", ["line one.\nline two."]),
        ("😀 emoji 😀", ["emoji"]),
        ("$1,000.00", ["1000"]),
        ("word", ["word"]),
        ("The quick brown fox jumps over the lazy dog",
         ["A quick brown fox jumped over a lazy dog", "The fast brown fox leaps over the lazy dog"]),
    ]
    out = [(p, list(r)) for p, r in fixed]
    for _ in range(300):
        ref = random_sentence(rng, 1, 30)
        nrefs = 1 if rng.random() < 0.7 else rng.randint(2, 3)
        refs = [ref] + [perturb(rng, ref) for _ in range(nrefs - 1)]
        if rng.random() < 0.2:
            refs = [r.replace(" . ", " .\n") for r in refs]
        hyp = perturb(rng, ref) if rng.random() < 0.85 else random_sentence(rng, 0, 10)
        out.append((hyp, refs))
    # Multi-sentence summaries (one sentence a line) in shuffled order: ROUGE-Lsum differs
    # from ROUGE-L here.
    for _ in range(40):
        sents = [random_sentence(rng, 2, 12) for _ in range(rng.randint(2, 4))]
        hyp_sents = [perturb(rng, x) for x in sents]
        rng.shuffle(hyp_sents)
        out.append(("\n".join(hyp_sents), ["\n".join(sents)]))
    return out


# ---------------------------------------------------------------- references

def lm_eval_regex_filter(pattern, group_select, resp):
    # lm-eval's RegexFilter (filters/extraction.py) restated: findall, pick a match,
    # keep the first non-empty group of a tuple, strip; "[invalid]" when none.
    import re
    match = re.compile(pattern).findall(resp)
    if match:
        match = match[group_select]
        if isinstance(match, tuple):
            match = [m for m in match if m]
            match = match[0] if match else "[invalid]"
        match = match.strip()
    else:
        match = "[invalid]"
    return match


def lm_eval_gsm8k_normalise(s):
    # The gsm8k task's exact_match (HF `exact_match`): regexes_to_ignore removed in
    # order with re.sub, then ignore_case lowercases.
    import re
    for pat in [",", r"\$", r"(?s).*#### ", r"\.$"]:
        s = re.sub(pat, "", s)
    return s.lower()


def gsm8k_cases():
    rng = random.Random(8)
    fixed = [
        "The answer is 42.\n#### 42",
        "#### -3.5",
        "She pays $1,250.00 in total. #### 1,250",
        "no number here",
        "",
        "#### \nso 7",
        "First 3 then 4, finally 18.",
        "It costs $5. Then $12.50.",
        "Answer: -7\n",
        "#### 12\n#### 13",
        "Total = 1.000.000.",
        "x 5 y",
        "They have 10 apples and 2 pears, so 12.\n",
        "#### 72.",
        "$ $$ 9",
    ]
    out = []
    for r in fixed:
        out.append(r)
    pieces = ["The total is", "so", "####", "$", "answer:", "\n", ".", ",", "-", "apples",
              "12", "3.5", "1,000", "-4", "$20", "0.25", "100.", "7", "####  8"]
    for _ in range(150):
        out.append(" ".join(rng.choice(pieces) for _ in range(rng.randint(0, 10))))
    return out

def squad_normalize(s):
    # The official SQuAD v1.1 evaluation script's normalize_answer, restated.
    import re
    import string
    s = s.lower()
    s = "".join(ch for ch in s if ch not in set(string.punctuation))
    s = re.sub(r"\b(a|an|the)\b", " ", s)
    return " ".join(s.split())


def squad_f1(pred, gold):
    from collections import Counter
    p = squad_normalize(pred).split()
    g = squad_normalize(gold).split()
    common = Counter(p) & Counter(g)
    same = sum(common.values())
    if same == 0:
        return 0.0
    prec = same / len(p)
    rec = same / len(g)
    return 2 * prec * rec / (prec + rec)


def main():
    import sacrebleu
    from sacrebleu.metrics import BLEU, CHRF
    from sklearn.metrics import f1_score
    from rouge_score import rouge_scorer
    from nltk.stem.porter import PorterStemmer
    from nltk.translate.meteor_score import meteor_score

    class NoWordNet:
        """WordNet is not available to the Rust side: a stub with no synsets."""

        @staticmethod
        def synsets(_word):
            return []

    def meteor(hyp, refs):
        return meteor_score([r.split() for r in refs], hyp.split(), wordnet=NoWordNet())

    os.makedirs(OUT, exist_ok=True)
    cs = cases()
    bleu_s = BLEU(effective_order=True)
    bleu_c = BLEU()
    chrf = CHRF()
    rtypes = ["rouge1", "rouge2", "rougeL", "rougeLsum"]
    scorer = rouge_scorer.RougeScorer(rtypes, use_stemmer=True)
    sentence = []
    for hyp, refs in cs:
        rouge = scorer.score_multi(refs, hyp)
        sentence.append({
            "prediction": hyp,
            "references": refs,
            "bleu": bleu_s.sentence_score(hyp, refs).score,
            "chrf": chrf.sentence_score(hyp, refs).score,
            "squad_em": float(max(squad_normalize(hyp) == squad_normalize(r) for r in refs)),
            "squad_f1": max(squad_f1(hyp, r) for r in refs),
            "exact_match": float(any(hyp == r for r in refs)),
            **{k: rouge[k].fmeasure for k in rtypes},
            "meteor": meteor(hyp, refs),
            # HF exact_match (lm-eval) with ignore_case and ignore_punctuation, first ref.
            "em_case_punct": float(
                hyp.lower().translate(str.maketrans("", "", __import__("string").punctuation))
                == refs[0].lower().translate(str.maketrans("", "", __import__("string").punctuation))
            ),
        })
    # Corpus BLEU/chrF: sacreBLEU takes reference streams, so corpora have a fixed count.
    corpora = []
    for k in (1, 2, 3):
        sel = [(h, r[:k]) for h, r in cs if len(r) >= k]
        hyps = [h for h, _ in sel]
        streams = [[r[i] for _, r in sel] for i in range(k)]
        corpora.append({
            "predictions": hyps,
            "references": [r for _, r in sel],
            "bleu": bleu_c.corpus_score(hyps, streams).score,
            "chrf": chrf.corpus_score(hyps, streams).score,
            # rouge-score has no corpus mode; the convention is the mean of per-pair F.
            **{k: sum(scorer.score_multi(r, h)[k].fmeasure for h, r in sel) / len(sel)
               for k in rtypes},
            "meteor": sum(meteor(h, r) for h, r in sel) / len(sel),
        })
    # Every case, with a varying number of references (sacreBLEU takes None padding).
    hyps = [h for h, _ in cs]
    streams = [[r[i] if i < len(r) else None for _, r in cs] for i in range(3)]
    corpora.append({
        "predictions": hyps,
        "references": [r for _, r in cs],
        "bleu": bleu_c.corpus_score(hyps, streams).score,
        "chrf": chrf.corpus_score(hyps, streams).score,
        **{k: sum(scorer.score_multi(r, h)[k].fmeasure for h, r in cs) / len(cs)
           for k in rtypes},
        "meteor": sum(meteor(h, r) for h, r in cs) / len(cs),
    })
    with open(os.path.join(OUT, "sentence.json"), "w", encoding="utf-8") as f:
        json.dump({"generator": "sacrebleu " + sacrebleu.__version__, "cases": sentence}, f,
                  ensure_ascii=False, indent=0)
    with open(os.path.join(OUT, "corpus.json"), "w", encoding="utf-8") as f:
        json.dump({"corpora": corpora}, f, ensure_ascii=False, indent=0)

    # Porter stems (NLTK_EXTENSIONS mode, the default) of varied English words.
    stemmer = PorterStemmer()
    words = sorted(set(
        w.lower() for w in (WORDS + STEM_WORDS) if w.isalpha()
    ))
    with open(os.path.join(OUT, "porter.json"), "w", encoding="utf-8") as f:
        json.dump({"stems": [[w, stemmer.stem(w)] for w in words]}, f, ensure_ascii=False, indent=0)

    # GSM8K extraction and matching (lm-eval's gsm8k task).
    strict = r"#### (\-?[0-9\.\,]+)"
    flexible = r"(-?[$0-9.,]{2,})|(-?[0-9]+)"
    targets = ["42", "1,250", "-7", "12", "72", "1000000", "8", "$20", "0.25", "100"]
    g = []
    for i, resp in enumerate(gsm8k_cases()):
        st = lm_eval_regex_filter(strict, 0, resp)
        fl = lm_eval_regex_filter(flexible, -1, resp)
        tgt = targets[i % len(targets)]
        g.append({
            "response": resp, "target": tgt, "strict": st, "flexible": fl,
            "strict_match": float(lm_eval_gsm8k_normalise(st) == lm_eval_gsm8k_normalise(tgt)),
            "flexible_match": float(lm_eval_gsm8k_normalise(fl) == lm_eval_gsm8k_normalise(tgt)),
            "normalised_response": lm_eval_gsm8k_normalise(resp),
        })
    # lm-eval's exact_match (the HF metric) with ignore_case and ignore_punctuation.
    import string
    table = str.maketrans("", "", string.punctuation)
    for c in g:
        a, b = c["response"], c["target"]
        c["em_case_punct"] = float(a.lower().translate(table) == b.lower().translate(table))
    with open(os.path.join(OUT, "gsm8k.json"), "w", encoding="utf-8") as f:
        json.dump({"cases": g}, f, ensure_ascii=False, indent=0)

    # Word counts for word perplexity: lm-eval's len(re.split(r"\s+", doc)).
    import re
    docs = [h for h, _ in cs] + [" lead", "trail ", "", " ", "a\u00a0b\u2003c", "x\x1fy",
                                 "tab\tsep\r\nlines\n\n", "\u3000wide"]
    with open(os.path.join(OUT, "words.json"), "w", encoding="utf-8") as f:
        json.dump({"cases": [[d, len(re.split(r"\s+", d))] for d in docs]}, f,
                  ensure_ascii=False, indent=0)

    # Macro F1 with scikit-learn (labels = sorted union, zero_division = 0).
    rng = random.Random(7)
    f1s = []
    for n in (1, 2, 5, 12, 40, 200, 500):
        labels = ["A", "B", "C", "D"][: rng.randint(1, 4)]
        y_true = [rng.choice(labels) for _ in range(n)]
        y_pred = [rng.choice(labels + ["Error"]) for _ in range(n)]
        f1s.append({
            "y_true": y_true,
            "y_pred": y_pred,
            "macro_f1": float(f1_score(y_true, y_pred, average="macro", zero_division=0)),
            "labels": sorted(set(y_true + y_pred)),
            "per_class_f1": [float(x) for x in f1_score(
                y_true, y_pred, average=None, zero_division=0,
                labels=sorted(set(y_true + y_pred)))],
        })
    with open(os.path.join(OUT, "macro_f1.json"), "w", encoding="utf-8") as f:
        json.dump({"cases": f1s}, f, ensure_ascii=False, indent=0)
    print(f"wrote {len(sentence)} sentence cases, {len(corpora)} corpora, {len(f1s)} F1 cases to {OUT}")


if __name__ == "__main__":
    ensure_venv()
    main()
