//! Text from a service (a URL it redirected to, an error quoting its answer) shown
//! on the operator's terminal: control characters escaped, so that a service's
//! escape sequences (ESC, BEL, OSC titles, cursor moves) and bidirectional
//! overrides (U+202E) are shown, never obeyed.

/// `text` with every control character (C0, DEL, C1) and every bidirectional
/// control written as a `\u{..}` escape.
pub(crate) fn shown(text: &str) -> String {
    if !text.chars().any(is_hidden) {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len() + 8);
    for character in text.chars() {
        if is_hidden(character) {
            out.push_str(&format!("\\u{{{:x}}}", u32::from(character)));
        } else {
            out.push(character);
        }
    }
    out
}

fn is_hidden(character: char) -> bool {
    character.is_control()
        || matches!(character, '\u{200e}' | '\u{200f}' | '\u{061c}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

#[cfg(test)]
mod tests {
    use super::shown;

    #[test]
    fn escapes_and_overrides_are_shown_not_obeyed() {
        assert_eq!(shown("plain text, é"), "plain text, é");
        assert_eq!(shown("a\u{1b}]0;owned\u{7}b"), "a\\u{1b}]0;owned\\u{7}b");
        assert_eq!(shown("x\u{1b}[2Jy\r\n"), "x\\u{1b}[2Jy\\u{d}\\u{a}");
        assert_eq!(shown("\u{202e}gpj.exe"), "\\u{202e}gpj.exe");
        assert_eq!(shown("\u{9b}31m"), "\\u{9b}31m");
    }
}
