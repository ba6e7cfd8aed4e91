//! Escaping user text (titles, stage names) for HTML and inline SVG.

use std::borrow::Cow;

/// `text` with `&`, `<`, `>`, `"` and `'` replaced by their entities:
/// safe inside an element and inside a quoted attribute.
pub(crate) fn escape(text: &str) -> Cow<'_, str> {
    if !text.contains(['&', '<', '>', '"', '\'']) {
        return Cow::Borrowed(text);
    }
    let mut escaped = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            c => escaped.push(c),
        }
    }
    Cow::Owned(escaped)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_special_characters_are_escaped() {
        assert_eq!(escape("plain"), "plain");
        assert_eq!(escape(r#"a<b&c>"d'"#), "a&lt;b&amp;c&gt;&quot;d&#39;");
    }
}
