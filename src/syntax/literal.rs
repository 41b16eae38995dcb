//! The literal text of a template around its `${...}` holes, as linters and
//! encoders read it: `\${` stands for `${`.

use std::ops::Range;

/// The literal text between holes, `\${` read as `${`.
pub(crate) struct LiteralPiece {
    /// The source range, between two holes (or the ends).
    pub(crate) range: Range<usize>,
    /// The characters with their offsets in the source.
    pub(crate) chars: Vec<(usize, char)>,
}

/// The literal pieces around `holes` (ranges of `${...}` in order): one before each
/// hole and one after the last, some of them empty.
pub(crate) fn literal_pieces<'a>(
    source: &'a str,
    holes: &'a [Range<usize>],
) -> impl Iterator<Item = LiteralPiece> + 'a {
    let starts = std::iter::once(0).chain(holes.iter().map(|hole| hole.end));
    let ends = holes.iter().map(|hole| hole.start).chain(std::iter::once(source.len()));
    starts.zip(ends).map(move |(start, end)| {
        let chars = source[start..end]
            .char_indices()
            .map(|(at, c)| (start + at, c))
            .filter(|&(at, c)| !(c == '\\' && source[at..].starts_with("\\${")))
            .collect();
        LiteralPiece { range: start..end, chars }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_pieces_surround_the_holes() {
        let source = "a\\${b}${x}c${y}";
        let holes = [6..10, 11..15];
        assert_eq!(&source[holes[0].clone()], "${x}");
        let pieces: Vec<String> =
            literal_pieces(source, &holes).map(|piece| piece.chars.iter().map(|(_, c)| *c).collect()).collect();
        assert_eq!(pieces, ["a${b}", "c", ""]);
    }
}
