//! The Porter stemmer as NLTK's `PorterStemmer()` runs it by default (mode
//! `NLTK_EXTENSIONS`), which rouge-score (`use_stemmer=True`) and NLTK's METEOR use.
//! Words are handled as sequences of Unicode scalar values, like Python strings.

type W = Vec<char>;

fn is_vowel(c: char) -> bool {
    matches!(c, 'a' | 'e' | 'i' | 'o' | 'u')
}

fn is_cons(w: &[char], i: usize) -> bool {
    if is_vowel(w[i]) {
        return false;
    }
    if w[i] == 'y' {
        return i == 0 || !is_cons(w, i - 1);
    }
    true
}

/// The number of "vc" pairs in the consonant/vowel pattern of `stem`.
fn measure(stem: &[char]) -> usize {
    let mut m = 0;
    for i in 1..stem.len() {
        if !is_cons(stem, i - 1) && is_cons(stem, i) {
            m += 1;
        }
    }
    m
}

fn contains_vowel(stem: &[char]) -> bool {
    (0..stem.len()).any(|i| !is_cons(stem, i))
}

fn ends_double_consonant(w: &[char]) -> bool {
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

fn ends_with(w: &[char], suffix: &str) -> bool {
    let s: Vec<char> = suffix.chars().collect();
    w.len() >= s.len() && w[w.len() - s.len()..] == s[..]
}

fn strip<'a>(w: &'a [char], suffix: &str) -> &'a [char] {
    &w[..w.len() - suffix.chars().count()]
}

fn join(stem: &[char], rep: &str) -> W {
    let mut out = stem.to_vec();
    out.extend(rep.chars());
    out
}

type Cond<'a> = &'a dyn Fn(&[char]) -> bool;

/// The first rule whose suffix matches decides: replaced when its condition holds, else
/// the word is kept.
fn apply_rules(w: &[char], rules: &[(&str, &str, Option<Cond>)]) -> W {
    for (suffix, rep, cond) in rules {
        if ends_with(w, suffix) {
            let stem = strip(w, suffix);
            let holds = match cond {
                Some(c) => c(stem),
                None => true,
            };
            return if holds { join(stem, rep) } else { w.to_vec() };
        }
    }
    w.to_vec()
}

fn positive(s: &[char]) -> bool {
    measure(s) > 0
}

fn step1a(w: &[char]) -> W {
    if ends_with(w, "ies") && w.len() == 4 {
        return join(strip(w, "ies"), "ie");
    }
    apply_rules(
        w,
        &[
            ("sses", "ss", None),
            ("ies", "i", None),
            ("ss", "ss", None),
            ("s", "", None),
        ],
    )
}

fn step1b(w: &[char]) -> W {
    if ends_with(w, "ied") {
        let rep = if w.len() == 4 { "ie" } else { "i" };
        return join(strip(w, "ied"), rep);
    }
    if ends_with(w, "eed") {
        let stem = strip(w, "eed");
        return if measure(stem) > 0 {
            join(stem, "ee")
        } else {
            w.to_vec()
        };
    }
    let mut inter: Option<&[char]> = None;
    for suffix in ["ed", "ing"] {
        if ends_with(w, suffix) {
            let s = strip(w, suffix);
            if contains_vowel(s) {
                inter = Some(s);
                break;
            }
        }
    }
    let Some(s) = inter else {
        return w.to_vec();
    };
    for (suffix, rep) in [("at", "ate"), ("bl", "ble"), ("iz", "ize")] {
        if ends_with(s, suffix) {
            return join(strip(s, suffix), rep);
        }
    }
    if ends_double_consonant(s) {
        let last = s[s.len() - 1];
        return if matches!(last, 'l' | 's' | 'z') {
            s.to_vec()
        } else {
            s[..s.len() - 1].to_vec()
        };
    }
    if measure(s) == 1 && ends_cvc(s) {
        return join(s, "e");
    }
    s.to_vec()
}

fn step1c(w: &[char]) -> W {
    let cond = |s: &[char]| s.len() > 1 && is_cons(s, s.len() - 1);
    apply_rules(w, &[("y", "i", Some(&cond))])
}

fn step2(w: &[char]) -> W {
    if ends_with(w, "alli") && positive(strip(w, "alli")) {
        return step2(&join(strip(w, "alli"), "al"));
    }
    let p: Cond = &positive;
    let logi = |_: &[char]| positive(&w[..w.len() - 3]);
    apply_rules(
        w,
        &[
            ("ational", "ate", Some(p)),
            ("tional", "tion", Some(p)),
            ("enci", "ence", Some(p)),
            ("anci", "ance", Some(p)),
            ("izer", "ize", Some(p)),
            ("bli", "ble", Some(p)),
            ("alli", "al", Some(p)),
            ("entli", "ent", Some(p)),
            ("eli", "e", Some(p)),
            ("ousli", "ous", Some(p)),
            ("ization", "ize", Some(p)),
            ("ation", "ate", Some(p)),
            ("ator", "ate", Some(p)),
            ("alism", "al", Some(p)),
            ("iveness", "ive", Some(p)),
            ("fulness", "ful", Some(p)),
            ("ousness", "ous", Some(p)),
            ("aliti", "al", Some(p)),
            ("iviti", "ive", Some(p)),
            ("biliti", "ble", Some(p)),
            ("fulli", "ful", Some(p)),
            ("logi", "log", Some(&logi)),
        ],
    )
}

fn step3(w: &[char]) -> W {
    let p: Cond = &positive;
    apply_rules(
        w,
        &[
            ("icate", "ic", Some(p)),
            ("ative", "", Some(p)),
            ("alize", "al", Some(p)),
            ("iciti", "ic", Some(p)),
            ("ical", "ic", Some(p)),
            ("ful", "", Some(p)),
            ("ness", "", Some(p)),
        ],
    )
}

fn step4(w: &[char]) -> W {
    let gt1 = |s: &[char]| measure(s) > 1;
    let g: Cond = &gt1;
    let ion = |s: &[char]| measure(s) > 1 && matches!(s.last(), Some('s' | 't'));
    apply_rules(
        w,
        &[
            ("al", "", Some(g)),
            ("ance", "", Some(g)),
            ("ence", "", Some(g)),
            ("er", "", Some(g)),
            ("ic", "", Some(g)),
            ("able", "", Some(g)),
            ("ible", "", Some(g)),
            ("ant", "", Some(g)),
            ("ement", "", Some(g)),
            ("ment", "", Some(g)),
            ("ent", "", Some(g)),
            ("ion", "", Some(&ion)),
            ("ou", "", Some(g)),
            ("ism", "", Some(g)),
            ("ate", "", Some(g)),
            ("iti", "", Some(g)),
            ("ous", "", Some(g)),
            ("ive", "", Some(g)),
            ("ize", "", Some(g)),
        ],
    )
}

fn step5a(w: &[char]) -> W {
    if ends_with(w, "e") {
        let stem = strip(w, "e");
        let m = measure(stem);
        if m > 1 || (m == 1 && !ends_cvc(stem)) {
            return stem.to_vec();
        }
    }
    w.to_vec()
}

fn step5b(w: &[char]) -> W {
    let cond = |_: &[char]| measure(&w[..w.len() - 1]) > 1;
    apply_rules(w, &[("ll", "l", Some(&cond))])
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
    if let Some(s) = irregular(word) {
        return s.to_string();
    }
    if word.chars().count() <= 2 {
        return lower;
    }
    let mut w: W = lower.chars().collect();
    for step in [step1a, step1b, step1c, step2, step3, step4, step5a, step5b] {
        w = step(&w);
    }
    w.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::stem;

    #[test]
    fn classic_examples() {
        for (w, s) in [
            ("caresses", "caress"),
            ("ponies", "poni"),
            ("ties", "tie"),
            ("hopping", "hop"),
            ("filing", "file"),
            ("happiness", "happi"),
            ("generalization", "gener"),
            ("running", "run"),
            ("dying", "die"),
            ("relational", "relat"),
            ("by", "by"),
        ] {
            assert_eq!(stem(w), s, "{w}");
        }
    }
}
