//! A study report as Markdown and as an HTML page (the leaderboard and every table).

use std::fmt::Write as _;

use super::{StudyReport, StudyTable};
use crate::report::svg_esc as esc;

/// Each column's note once per table: how it was measured here, how the paper differs.
fn notes(t: &StudyTable) -> Vec<(String, String, String)> {
    let mut seen: Vec<(String, String, String)> = Vec::new();
    for c in &t.columns {
        if !seen.iter().any(|(k, _, _)| *k == c.key) {
            seen.push((c.key.clone(), c.how.clone(), c.differs.clone()));
        }
    }
    seen
}

fn md_cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

pub fn to_markdown(r: &StudyReport) -> String {
    let mut s = format!(
        "# Study `{}`: {} (seed {})\n\nBudget: {}. Hardware: {}.\n\n{}\n",
        r.study,
        r.title,
        r.seed,
        r.budget,
        r.hardware.join(", "),
        r.protocol.trim()
    );
    for n in &r.notes {
        let _ = writeln!(s, "\n> {n}");
    }
    for t in &r.tables {
        let _ = write!(s, "\n## {}\n\n{}\n\n", t.title, t.caption);
        let heads: Vec<String> = t.columns.iter().map(|c| md_cell(&c.heading)).collect();
        let _ = writeln!(s, "| {} |", heads.join(" | "));
        let _ = writeln!(s, "|{}", "---|".repeat(heads.len()));
        for row in &t.rows {
            let cells: Vec<String> = row.iter().map(|c| md_cell(&c.show())).collect();
            let _ = writeln!(s, "| {} |", cells.join(" | "));
        }
        s.push_str("\nColumns:\n");
        for (key, how, differs) in notes(t) {
            let _ = write!(s, "- `{key}`: {how}.");
            if !differs.is_empty() {
                let _ = write!(s, " Paper: {differs}");
            }
            s.push('\n');
        }
    }
    if !r.uncovered.is_empty() {
        s.push_str("\n## What the catalog cannot reproduce\n\n");
        for u in &r.uncovered {
            let _ = writeln!(s, "- {}: {}", u.paper, u.why);
        }
    }
    s
}

pub fn to_html(r: &StudyReport) -> String {
    let mut s = String::from("<!doctype html><html><head><meta charset=\"utf-8\"><title>");
    let _ = write!(
        s,
        "Study {} (seed {})</title><style>body{{font-family:sans-serif;max-width:1200px;margin:2em auto;padding:0 1em}}table{{border-collapse:collapse;margin:1em 0}}td,th{{border:1px solid #ccc;padding:3px 8px;text-align:right}}td:first-child,th:first-child,td:nth-child(2){{text-align:left}}.miss{{color:#999}}.notes{{font-size:90%;color:#333}}nav a{{margin-right:1em}}</style></head><body>",
        esc(&r.study),
        esc(&r.seed)
    );
    let _ = write!(
        s,
        "<h1>Study <code>{}</code>: {}</h1><p>Seed {} · budget {} · {}</p><p>{}</p><nav>",
        esc(&r.study),
        esc(&r.title),
        esc(&r.seed),
        esc(&r.budget),
        esc(&r.hardware.join(", ")),
        esc(r.protocol.trim())
    );
    for t in &r.tables {
        let _ = write!(s, "<a href=\"#{}\">{}</a>", esc(&t.id), esc(&t.title));
    }
    s.push_str("</nav>");
    for n in &r.notes {
        let _ = write!(s, "<blockquote>{}</blockquote>", esc(n));
    }
    for t in &r.tables {
        let _ = write!(
            s,
            "<section id=\"{}\"><h2>{}</h2><p>{}</p><table><tr>",
            esc(&t.id),
            esc(&t.title),
            esc(&t.caption)
        );
        for c in &t.columns {
            let _ = write!(s, "<th title=\"{}\">{}</th>", esc(&c.how), esc(&c.heading));
        }
        s.push_str("</tr>");
        for row in &t.rows {
            s.push_str("<tr>");
            for c in row {
                match c {
                    super::Cell::Missing { .. } => {
                        let _ = write!(s, "<td class=\"miss\">{}</td>", esc(&c.show()));
                    }
                    _ => {
                        let _ = write!(s, "<td>{}</td>", esc(&c.show()));
                    }
                }
            }
            s.push_str("</tr>");
        }
        s.push_str("</table><ul class=\"notes\">");
        for (key, how, differs) in notes(t) {
            let _ = write!(s, "<li><code>{}</code>: {}.", esc(&key), esc(&how));
            if !differs.is_empty() {
                let _ = write!(s, " <em>Paper:</em> {}", esc(&differs));
            }
            s.push_str("</li>");
        }
        s.push_str("</ul></section>");
    }
    if !r.uncovered.is_empty() {
        s.push_str("<h2>What the catalog cannot reproduce</h2><ul>");
        for u in &r.uncovered {
            let _ = write!(s, "<li>{}: {}</li>", esc(&u.paper), esc(&u.why));
        }
        s.push_str("</ul>");
    }
    s.push_str("</body></html>\n");
    s
}
