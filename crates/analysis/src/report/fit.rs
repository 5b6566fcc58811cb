//! Chart text that stays inside its chart, whatever the length of a model's name.
//!
//! An SVG cannot measure text before it is drawn, and the report has no scripts, so each
//! text's width is estimated from its characters (generously, after the widths of
//! DejaVu Sans, wider than most sans-serif fonts). Text estimated to fit is drawn as it
//! is. Text up to a fifth too wide is drawn compressed to the room it has (`textLength`,
//! which the browser honours exactly). Longer text is cut with an ellipsis to what fits,
//! drawn at exactly its estimated width, and keeps its whole name in a tooltip.

use super::svg::esc;

/// The chart text classes of the page's style sheet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Font {
    /// `.title`: 16px bold.
    Title,
    /// `.axis`: 13px.
    Axis,
    /// `.pt`: 11px.
    Point,
}

impl Font {
    fn px(self) -> f64 {
        match self {
            Font::Title => 16.0,
            Font::Axis => 13.0,
            Font::Point => 11.0,
        }
    }

    fn class(self) -> &'static str {
        match self {
            Font::Title => "title",
            Font::Axis => "axis",
            Font::Point => "pt",
        }
    }
}

/// Where a text is anchored at its position.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Anchor {
    Start,
    Middle,
    End,
}

/// Advance width of a character in em, rounded up.
fn em(c: char) -> f64 {
    match c {
        'i' | 'l' | 'j' | 'I' | '.' | ',' | ':' | ';' | '\'' | '|' | '!' => 0.32,
        'f' | 't' | 'r' | ' ' | '(' | ')' | '[' | ']' | '/' | '-' => 0.42,
        'm' | 'w' | 'M' | 'W' | '@' | '%' => 1.0,
        '#' | '&' => 0.84,
        'A'..='Z' => 0.8,
        c if c.is_ascii() => 0.65,
        _ => 1.0,
    }
}

/// Estimated width of `s` in pixels (at least its drawn width in common fonts).
pub(super) fn width(s: &str, font: Font) -> f64 {
    let bold = if font == Font::Title { 1.1 } else { 1.0 };
    s.chars().map(em).sum::<f64>() * font.px() * bold * 1.05
}

/// Most compression applied before text is cut instead.
const MAX_SQUEEZE: f64 = 1.2;

/// What is drawn of `s` in `room` pixels: the text, the length it is held to (if any),
/// and whether it was cut.
fn fit(s: &str, font: Font, room: f64) -> (String, Option<f64>, bool) {
    let w = width(s, font);
    if w <= room {
        return (s.to_string(), None, false);
    }
    if w <= room * MAX_SQUEEZE {
        return (s.to_string(), Some(room), false);
    }
    let mut kept: Vec<char> = s.chars().collect();
    loop {
        kept.pop();
        let cut: String = kept.iter().collect::<String>().trim_end().to_string() + "…";
        let w = width(&cut, font);
        if w <= room || kept.is_empty() {
            return (cut, Some(w.min(room)), true);
        }
    }
}

/// A `<text>` element placed by `place` (its `x`/`y` or `transform` attributes) that
/// keeps `s` within `room` pixels from its anchor's side.
pub(super) fn text(
    place: &str,
    anchor: Anchor,
    font: Font,
    fill: Option<&str>,
    s: &str,
    room: f64,
) -> String {
    let (shown, length, cut) = fit(s, font, room.max(1.0));
    let anchor = match anchor {
        Anchor::Start => "",
        Anchor::Middle => r#" text-anchor="middle""#,
        Anchor::End => r#" text-anchor="end""#,
    };
    let fill = fill.map_or(String::new(), |f| format!(r#" fill="{f}""#));
    let length = length.map_or(String::new(), |l| {
        format!(r#" textLength="{l:.1}" lengthAdjust="spacingAndGlyphs""#)
    });
    let title = if cut {
        format!("<title>{}</title>", esc(s))
    } else {
        String::new()
    };
    format!(
        r#"<text {place}{anchor} class="{}"{fill}{length}>{}{title}</text>"#,
        font.class(),
        esc(&shown)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_drawn_whole_compressed_or_cut_to_its_room() {
        let short = text(
            r#"x="0" y="0""#,
            Anchor::Start,
            Font::Point,
            None,
            "tiny Q4_0",
            150.0,
        );
        assert_eq!(short, r#"<text x="0" y="0" class="pt">tiny Q4_0</text>"#);
        let name = "Qwen2.5 Coder 1.5B Instruct Q4_K_M";
        let room = width(name, Font::Point) / 1.1;
        let squeezed = text(
            r#"x="0" y="0""#,
            Anchor::End,
            Font::Point,
            Some("#000"),
            name,
            room,
        );
        assert!(
            squeezed.contains(&format!(r#"textLength="{room:.1}""#)),
            "{squeezed}"
        );
        assert!(squeezed.contains(&format!(">{name}<")), "{squeezed}");
        let long = format!("{name} fine-tuned on a very long list of things <v2>");
        let cut = text(
            r#"x="0" y="0""#,
            Anchor::Middle,
            Font::Title,
            None,
            &long,
            200.0,
        );
        assert!(cut.contains("…<title>"), "{cut}");
        assert!(
            cut.contains("&lt;v2&gt;</title>"),
            "the whole name in the tooltip: {cut}"
        );
        let (shown, length, was_cut) = fit(&long, Font::Title, 200.0);
        assert!(was_cut && width(&shown, Font::Title) <= 200.0);
        assert!(length.unwrap() <= 200.0);
        // No room at all still gives an element, not a panic.
        assert!(text("", Anchor::Start, Font::Point, None, &long, 0.0).contains('…'));
    }
}
