//! The Porter stemmer in NLTK's default mode (`PorterStemmer()` = `NLTK_EXTENSIONS`), which
//! `rouge-score` and NLTK's METEOR use. Written from the published algorithm plus NLTK's
//! documented departures (irregular forms, `ies`/`ied` on 4-letter words, the `y -> i`
//! condition, `bli`, `fulli`, `logi`, the recursive `alli`, the 2-letter cvc case).

type W = Vec<char>;

fn is_cons(w: &[char], i: usize) -> bool {
    match w[i] {
        'a' | 'e' | 'i' | 'o' | 'u' => false,
        'y' => i == 0 || !is_cons(w, i - 1),
        _ => true,
    }
}

fn measure(w: &[char]) -> usize {
    let cv: Vec<bool> = (0..w.len()).map(|i| is_cons(w, i)).collect();
    cv.windows(2).filter(|p| !p[0] && p[1]).count()
}

fn positive(w: &[char]) -> bool {
    measure(w) > 0
}

fn has_vowel(w: &[char]) -> bool {
    (0..w.len()).any(|i| !is_cons(w, i))
}

fn ends_double(w: &[char]) -> bool {
    let n = w.len();
    n >= 2 && w[n - 1] == w[n - 2] && is_cons(w, n - 1)
}

fn ends_cvc(w: &[char]) -> bool {
    let n = w.len();
    (n >= 3
        && is_cons(w, n - 3)
        && !is_cons(w, n - 2)
        && is_cons(w, n - 1)
        && !matches!(w[n - 1], 'w' | 'x' | 'y'))
        || (n == 2 && !is_cons(w, 0) && is_cons(w, 1))
}

fn ends(w: &[char], suffix: &str) -> bool {
    let s: Vec<char> = suffix.chars().collect();
    w.ends_with(&s)
}

fn cut(w: &[char], suffix: &str) -> W {
    w[..w.len() - suffix.chars().count()].to_vec()
}

fn with(mut stem: W, rep: &str) -> W {
    stem.extend(rep.chars());
    stem
}

enum Suffix {
    Lit(&'static str),
    Double,
}

type Cond<'a> = &'a dyn Fn(&[char]) -> bool;

/// The first rule whose suffix the word ends with decides: replaced when its condition
/// holds, else the word is returned unchanged.
fn apply(w: W, rules: &[(Suffix, String, Option<Cond<'_>>)]) -> W {
    for (suffix, rep, cond) in rules {
        match suffix {
            Suffix::Double => {
                if ends_double(&w) {
                    let stem = w[..w.len() - 2].to_vec();
                    return if cond.is_none_or_true(&stem) {
                        with(stem, rep)
                    } else {
                        w
                    };
                }
            }
            Suffix::Lit(s) => {
                if ends(&w, s) {
                    let stem = cut(&w, s);
                    return if cond.is_none_or_true(&stem) {
                        with(stem, rep)
                    } else {
                        w
                    };
                }
            }
        }
    }
    w
}

trait CondExt {
    fn is_none_or_true(&self, stem: &[char]) -> bool;
}

impl CondExt for Option<Cond<'_>> {
    fn is_none_or_true(&self, stem: &[char]) -> bool {
        match self {
            None => true,
            Some(f) => f(stem),
        }
    }
}

fn lits<'a>(rules: &[(&'static str, &str, Cond<'a>)]) -> Vec<(Suffix, String, Option<Cond<'a>>)> {
    rules
        .iter()
        .map(|(s, r, c)| (Suffix::Lit(s), r.to_string(), Some(*c)))
        .collect()
}

fn step1a(w: W) -> W {
    if ends(&w, "ies") && w.len() == 4 {
        return with(cut(&w, "ies"), "ie");
    }
    let rules: Vec<(Suffix, String, Option<Cond<'_>>)> =
        [("sses", "ss"), ("ies", "i"), ("ss", "ss"), ("s", "")]
            .iter()
            .map(|(s, r)| (Suffix::Lit(s), r.to_string(), None))
            .collect();
    apply(w, &rules)
}

fn step1b(w: W) -> W {
    if ends(&w, "ied") {
        let rep = if w.len() == 4 { "ie" } else { "i" };
        return with(cut(&w, "ied"), rep);
    }
    if ends(&w, "eed") {
        let stem = cut(&w, "eed");
        return if measure(&stem) > 0 {
            with(stem, "ee")
        } else {
            w
        };
    }
    let mut inter = None;
    for s in ["ed", "ing"] {
        if ends(&w, s) {
            let st = cut(&w, s);
            if has_vowel(&st) {
                inter = Some(st);
                break;
            }
        }
    }
    let Some(inter) = inter else { return w };
    let last = inter.last().copied();
    let not_lsz = move |_: &[char]| !matches!(last, Some('l' | 's' | 'z'));
    let m1_cvc = |s: &[char]| measure(s) == 1 && ends_cvc(s);
    let rules: Vec<(Suffix, String, Option<Cond<'_>>)> = vec![
        (Suffix::Lit("at"), "ate".into(), None),
        (Suffix::Lit("bl"), "ble".into(), None),
        (Suffix::Lit("iz"), "ize".into(), None),
        (
            Suffix::Double,
            last.map(String::from).unwrap_or_default(),
            Some(&not_lsz),
        ),
        (Suffix::Lit(""), "e".into(), Some(&m1_cvc)),
    ];
    apply(inter, &rules)
}

fn step1c(w: W) -> W {
    let cond = |s: &[char]| s.len() > 1 && is_cons(s, s.len() - 1);
    apply(w, &[(Suffix::Lit("y"), "i".into(), Some(&cond))])
}

fn step2(w: W) -> W {
    if ends(&w, "alli") && positive(&cut(&w, "alli")) {
        return step2(with(cut(&w, "alli"), "al"));
    }
    let word = w.clone();
    let logi = move |_: &[char]| positive(&word[..word.len() - 3]);
    let p: Cond<'_> = &positive;
    let mut rules = lits(&[
        ("ational", "ate", p),
        ("tional", "tion", p),
        ("enci", "ence", p),
        ("anci", "ance", p),
        ("izer", "ize", p),
        ("bli", "ble", p),
        ("alli", "al", p),
        ("entli", "ent", p),
        ("eli", "e", p),
        ("ousli", "ous", p),
        ("ization", "ize", p),
        ("ation", "ate", p),
        ("ator", "ate", p),
        ("alism", "al", p),
        ("iveness", "ive", p),
        ("fulness", "ful", p),
        ("ousness", "ous", p),
        ("aliti", "al", p),
        ("iviti", "ive", p),
        ("biliti", "ble", p),
        ("fulli", "ful", p),
    ]);
    rules.push((Suffix::Lit("logi"), "log".into(), Some(&logi)));
    apply(w, &rules)
}

fn step3(w: W) -> W {
    let p: Cond<'_> = &positive;
    apply(
        w,
        &lits(&[
            ("icate", "ic", p),
            ("ative", "", p),
            ("alize", "al", p),
            ("iciti", "ic", p),
            ("ical", "ic", p),
            ("ful", "", p),
            ("ness", "", p),
        ]),
    )
}

fn step4(w: W) -> W {
    let gt1 = |s: &[char]| measure(s) > 1;
    let ion = |s: &[char]| measure(s) > 1 && matches!(s.last(), Some('s' | 't'));
    let g: Cond<'_> = &gt1;
    apply(
        w,
        &lits(&[
            ("al", "", g),
            ("ance", "", g),
            ("ence", "", g),
            ("er", "", g),
            ("ic", "", g),
            ("able", "", g),
            ("ible", "", g),
            ("ant", "", g),
            ("ement", "", g),
            ("ment", "", g),
            ("ent", "", g),
            ("ion", "", &ion),
            ("ou", "", g),
            ("ism", "", g),
            ("ate", "", g),
            ("iti", "", g),
            ("ous", "", g),
            ("ive", "", g),
            ("ize", "", g),
        ]),
    )
}

fn step5a(w: W) -> W {
    if ends(&w, "e") {
        let stem = cut(&w, "e");
        let m = measure(&stem);
        if m > 1 || (m == 1 && !ends_cvc(&stem)) {
            return stem;
        }
    }
    w
}

fn step5b(w: W) -> W {
    let word = w.clone();
    let cond = move |_: &[char]| measure(&word[..word.len() - 1]) > 1;
    apply(w, &[(Suffix::Lit("ll"), "l".into(), Some(&cond))])
}

fn irregular(word: &str) -> Option<&'static str> {
    Some(match word {
        "sky" | "skies" => "sky",
        "dying" => "die",
        "lying" => "lie",
        "tying" => "tie",
        "news" => "news",
        "innings" | "inning" => "inning",
        "outings" | "outing" => "outing",
        "cannings" | "canning" => "canning",
        "howe" => "howe",
        "proceed" => "proceed",
        "exceed" => "exceed",
        "succeed" => "succeed",
        _ => return None,
    })
}

/// NLTK's `PorterStemmer().stem(word)` (lowercases first).
pub fn stem(word: &str) -> String {
    let lower = word.to_lowercase();
    if irregular(word).is_some() {
        if let Some(s) = irregular(&lower) {
            return s.to_string();
        }
    }
    if word.chars().count() <= 2 {
        return lower;
    }
    let mut w: W = lower.chars().collect();
    for step in [step1a, step1b, step1c, step2, step3, step4, step5a, step5b] {
        w = step(w);
    }
    w.into_iter().collect()
}
