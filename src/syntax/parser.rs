//! The pest binding: from source text to [`Expr`] and [`TemplateAst`].
//!
//! Binary operators come from the grammar as a flat list that pest's Pratt parser
//! orders by precedence. Left-associative chains are folded in a loop by pest and
//! prefix operators in a loop here, so building never recurses deeper than the
//! source nests (which the pre-scan has bounded); the depth of the resulting tree
//! is still counted, because evaluation walks it recursively.

use std::borrow::Cow;
use std::sync::LazyLock;

use pest::Parser;
use pest::error::{ErrorVariant, InputLocation};
use pest::iterators::Pair;
use pest::pratt_parser::{Assoc, Op, PrattParser};

use super::scan::{ScanMode, json_string_problem, scan};
use super::{
    BinaryOp, Expr, ExprKind, Literal, MemberKey, Name, NestingLimits, Segment, Span, SyntaxError, TemplateAst, UnaryOp,
};

#[derive(pest_derive::Parser)]
#[grammar = "../grammar/expression.pest"]
#[grammar = "../grammar/template.pest"]
#[grammar = "../grammar/json.pest"]
pub(crate) struct SyntaxParser;

/// The deepest expression tree that is built (evaluation recurses once per level).
pub(crate) const MAX_TREE_DEPTH: u32 = 256;

static PRATT: LazyLock<PrattParser<Rule>> = LazyLock::new(|| {
    PrattParser::new()
        .op(Op::infix(Rule::or, Assoc::Left))
        .op(Op::infix(Rule::and, Assoc::Left))
        .op(Op::infix(Rule::eq, Assoc::Left) | Op::infix(Rule::ne, Assoc::Left))
        .op(Op::infix(Rule::lt, Assoc::Left)
            | Op::infix(Rule::gt, Assoc::Left)
            | Op::infix(Rule::le, Assoc::Left)
            | Op::infix(Rule::ge, Assoc::Left))
        .op(Op::infix(Rule::concat, Assoc::Left))
        .op(Op::infix(Rule::add, Assoc::Left) | Op::infix(Rule::sub, Assoc::Left))
        .op(Op::infix(Rule::mul, Assoc::Left) | Op::infix(Rule::div, Assoc::Left) | Op::infix(Rule::rem, Assoc::Left))
});

/// Parses one expression (the text between `${` and `}`, or `courier eval`'s argument).
pub fn parse_expression(source: &str) -> Result<Expr, SyntaxError> {
    parse_expression_with(source, &NestingLimits::default())
}

/// Parses one expression within the given nesting limits.
pub fn parse_expression_with(source: &str, limits: &NestingLimits) -> Result<Expr, SyntaxError> {
    scan(source, ScanMode::Expression, limits)?;
    let index = LineIndex::new(source);
    let mut pairs = SyntaxParser::parse(Rule::expression, source).map_err(|e| syntax_error_from_pest(&e, &index))?;
    let expression = pairs.next().expect("grammar: expression");
    let expr = expression.into_inner().next().expect("grammar: expression holds expr");
    Ok(build_expr(expr, &index)?.expr)
}

/// Parses a text template into text and interpolations.
pub fn parse_template(source: &str) -> Result<TemplateAst, SyntaxError> {
    parse_template_with(source, &NestingLimits::default())
}

/// Parses a text template within the given nesting limits.
pub fn parse_template_with(source: &str, limits: &NestingLimits) -> Result<TemplateAst, SyntaxError> {
    scan(source, ScanMode::Template, limits)?;
    let index = LineIndex::new(source);
    let mut pairs = SyntaxParser::parse(Rule::template, source).map_err(|e| syntax_error_from_pest(&e, &index))?;
    let template = pairs.next().expect("grammar: template");
    let mut segments: Vec<Segment> = Vec::new();
    for piece in template.into_inner() {
        match piece.as_rule() {
            Rule::text => push_text(&mut segments, piece.as_str()),
            Rule::escaped_open => push_text(&mut segments, "${"),
            Rule::interpolation => {
                let span = index.span_of(&piece);
                let expr = piece.into_inner().next().expect("grammar: interpolation holds expr");
                segments.push(Segment::Interpolation(build_expr(expr, &index)?.expr, span));
            }
            _ => {}
        }
    }
    Ok(TemplateAst { segments })
}

/// Parses the expression of one interpolation on its own: `start..end` is the
/// `${...}` in the source of `index` (as the pre-scan found it). Spans in the result
/// and in the error are positions in the whole source, so that `courier check` can
/// parse every hole and report the errors of each.
pub(crate) fn parse_hole(index: &LineIndex, start: usize, end: usize) -> Result<Expr, SyntaxError> {
    let inner = &index.source[start + 2..end - 1];
    let view = index.offset_by(start as u32 + 2);
    let mut pairs = SyntaxParser::parse(Rule::expression, inner).map_err(|e| hole_error_from_pest(&e, &view))?;
    let expression = pairs.next().expect("grammar: expression");
    let expr = expression.into_inner().next().expect("grammar: expression holds expr");
    Ok(build_expr(expr, &view)?.expr)
}

fn push_text(segments: &mut Vec<Segment>, text: &str) {
    if let Some(Segment::Text(last)) = segments.last_mut() {
        last.push_str(text);
    } else {
        segments.push(Segment::Text(text.to_owned()));
    }
}

/// An expression and the depth of its tree.
pub(crate) struct Built {
    pub(crate) expr: Expr,
    depth: u32,
}

type BuildResult = Result<Built, SyntaxError>;

fn node(kind: ExprKind, span: Span, depth: u32, index: &LineIndex) -> BuildResult {
    if depth > MAX_TREE_DEPTH {
        return Err(SyntaxError {
            message: format!(
                "the expression is nested {depth} levels deep, more than the limit of {MAX_TREE_DEPTH}; \
                 split it into smaller expressions"
            ),
            span: index.span(span.start, span.start + 1),
        });
    }
    Ok(Built { expr: Expr { kind, span }, depth })
}

/// Builds an [`Expr`] from an `expr` pair.
pub(crate) fn build_expr(pair: Pair<'_, Rule>, index: &LineIndex) -> BuildResult {
    let span = index.span_of(&pair);
    let mut inner = pair.into_inner();
    let first = inner.next().expect("grammar: expr starts with binary or lambda");
    if first.as_rule() == Rule::lambda {
        return build_lambda(first, index);
    }
    let condition = build_binary(first, index)?;
    if inner.next().is_none() {
        return Ok(condition);
    }
    let then = build_expr(inner.next().expect("grammar: then branch"), index)?;
    inner.next(); // `:`
    let otherwise = build_expr(inner.next().expect("grammar: else branch"), index)?;
    let depth = 1 + condition.depth.max(then.depth).max(otherwise.depth);
    let kind = ExprKind::Conditional {
        condition: Box::new(condition.expr),
        then: Box::new(then.expr),
        otherwise: Box::new(otherwise.expr),
    };
    node(kind, span, depth, index)
}

fn build_lambda(pair: Pair<'_, Rule>, index: &LineIndex) -> BuildResult {
    let span = index.span_of(&pair);
    let mut inner = pair.into_inner();
    let mut params: Vec<Name> = Vec::new();
    for name in inner.next().expect("grammar: lambda starts with params").into_inner() {
        if name.as_rule() != Rule::name {
            continue;
        }
        let text = unreserved(&name, index)?;
        if params.iter().any(|param| param.text == text) {
            let message = format!("the parameter {text} is named twice");
            return Err(SyntaxError { message, span: index.span_of(&name) });
        }
        params.push(Name { text, span: index.span_of(&name) });
    }
    inner.next(); // `->`
    let body = build_expr(inner.next().expect("grammar: lambda body"), index)?;
    let depth = body.depth + 1;
    node(ExprKind::Lambda { params, body: Box::new(body.expr) }, span, depth, index)
}

/// The expressions among a pair's children, built, and the deepest of them.
fn build_items(pair: Pair<'_, Rule>, index: &LineIndex) -> Result<(Vec<Expr>, u32), SyntaxError> {
    let mut depth = 0;
    let mut items = Vec::new();
    for part in pair.into_inner().filter(|part| part.as_rule() == Rule::expr) {
        let item = build_expr(part, index)?;
        depth = depth.max(item.depth);
        items.push(item.expr);
    }
    Ok((items, depth))
}

/// `{...}`: a map when every entry is `key: value`, a set when none is (`{}` is
/// the empty set, as in EL); both kinds in one literal is an error at the first
/// entry of the other kind.
fn build_brace(pair: Pair<'_, Rule>, span: Span, index: &LineIndex) -> BuildResult {
    let mut depth = 0;
    let (mut keyed, mut items) = (Vec::new(), Vec::new());
    let mut first_kind: Option<bool> = None;
    for entry in pair.into_inner().filter(|part| part.as_rule() == Rule::entry) {
        let entry_span = index.span_of(&entry);
        let (mut parts, entry_depth) = build_items(entry, index)?;
        depth = depth.max(entry_depth);
        let is_pair = parts.len() == 2;
        if *first_kind.get_or_insert(is_pair) != is_pair {
            let message = "a literal in braces is a set ({1, 2}) or a map ({'a': 1}): give every entry a key, or none";
            return Err(SyntaxError { message: message.to_owned(), span: entry_span });
        }
        if is_pair {
            let value = parts.pop().expect("grammar: a keyed entry has a value");
            let key = parts.pop().expect("grammar: a keyed entry has a key");
            keyed.push((key, value));
        } else {
            items.extend(parts);
        }
    }
    let kind = if first_kind == Some(true) { ExprKind::Map(keyed) } else { ExprKind::Set(items) };
    node(kind, span, depth + 1, index)
}

fn build_binary(pair: Pair<'_, Rule>, index: &LineIndex) -> BuildResult {
    PRATT
        .map_primary(|unary| build_unary(unary, index))
        .map_infix(|left, op, right| {
            let (left, right) = (left?, right?);
            let op = binary_op(op.as_rule());
            let span = index.span(left.expr.span.start, right.expr.span.end);
            let depth = 1 + left.depth.max(right.depth);
            let kind = ExprKind::Binary { op, left: Box::new(left.expr), right: Box::new(right.expr) };
            node(kind, span, depth, index)
        })
        .parse(pair.into_inner())
}

fn binary_op(rule: Rule) -> BinaryOp {
    match rule {
        Rule::or => BinaryOp::Or,
        Rule::and => BinaryOp::And,
        Rule::eq => BinaryOp::Eq,
        Rule::ne => BinaryOp::Ne,
        Rule::lt => BinaryOp::Lt,
        Rule::gt => BinaryOp::Gt,
        Rule::le => BinaryOp::Le,
        Rule::ge => BinaryOp::Ge,
        Rule::concat => BinaryOp::Concat,
        Rule::add => BinaryOp::Add,
        Rule::sub => BinaryOp::Sub,
        Rule::mul => BinaryOp::Mul,
        Rule::div => BinaryOp::Div,
        Rule::rem => BinaryOp::Rem,
        other => unreachable!("grammar: {other:?} is not a binary operator"),
    }
}

fn build_unary(pair: Pair<'_, Rule>, index: &LineIndex) -> BuildResult {
    let mut operators = Vec::new();
    let mut operand = None;
    for part in pair.into_inner() {
        match part.as_rule() {
            Rule::neg => operators.push((UnaryOp::Negate, part.as_span().start())),
            Rule::not => operators.push((UnaryOp::Not, part.as_span().start())),
            Rule::empty => operators.push((UnaryOp::Empty, part.as_span().start())),
            _ => operand = Some(build_postfix(part, index)?),
        }
    }
    let mut built = operand.expect("grammar: unary ends with postfix");
    for (op, start) in operators.into_iter().rev() {
        let span = index.span(index.local(start, start).start, built.expr.span.end);
        let depth = built.depth + 1;
        built = node(ExprKind::Unary { op, operand: Box::new(built.expr) }, span, depth, index)?;
    }
    Ok(built)
}

fn build_postfix(pair: Pair<'_, Rule>, index: &LineIndex) -> BuildResult {
    let mut parts = pair.into_inner();
    let mut built = build_primary(parts.next().expect("grammar: postfix starts with primary"), index)?;
    for access in parts {
        let access_span = index.span_of(&access);
        let span = index.span(built.expr.span.start, access_span.end);
        match access.as_rule() {
            Rule::method => {
                let mut parts = access.into_inner();
                let name = parts.next().expect("grammar: method starts with a name");
                let name = Name { text: unreserved(&name, index)?, span: index.span_of(&name) };
                let (args, depth) = build_items(parts.next().expect("grammar: method arguments"), index)?;
                let depth = built.depth.max(depth) + 1;
                let kind = ExprKind::Method { target: Box::new(built.expr), name, args };
                built = node(kind, span, depth, index)?;
                continue;
            }
            Rule::apply => {
                let arguments = access.into_inner().next().expect("grammar: apply arguments");
                let (args, depth) = build_items(arguments, index)?;
                let depth = built.depth.max(depth) + 1;
                built = node(ExprKind::Apply { target: Box::new(built.expr), args }, span, depth, index)?;
                continue;
            }
            _ => {}
        }
        let key = match access.as_rule() {
            Rule::member => {
                let name = access.into_inner().next().expect("grammar: member holds a name");
                MemberKey::Name(unreserved(&name, index)?)
            }
            _ => {
                let key = build_expr(access.into_inner().next().expect("grammar: index holds expr"), index)?;
                built.depth = built.depth.max(key.depth);
                MemberKey::Index(Box::new(key.expr))
            }
        };
        let depth = built.depth + 1;
        built = node(ExprKind::Member { target: Box::new(built.expr), key }, span, depth, index)?;
    }
    Ok(built)
}

fn build_primary(pair: Pair<'_, Rule>, index: &LineIndex) -> BuildResult {
    let span = index.span_of(&pair);
    let literal = |literal| node(ExprKind::Literal(literal), span, 1, index);
    match pair.as_rule() {
        Rule::null => literal(Literal::Null),
        Rule::boolean => literal(Literal::Bool(pair.as_str() == "true")),
        Rule::integer => match pair.as_str().parse::<i64>() {
            Ok(value) => literal(Literal::Integer(value)),
            Err(_) => {
                Err(SyntaxError { message: format!("the integer {} does not fit in 64 bits", pair.as_str()), span })
            }
        },
        Rule::float => match pair.as_str().parse::<f64>() {
            Ok(value) if value.is_finite() => literal(Literal::Float(value)),
            _ => Err(SyntaxError { message: format!("the number {} is too large", pair.as_str()), span }),
        },
        Rule::string => {
            let text = pair.into_inner().next().expect("grammar: string holds text");
            literal(Literal::String(unescape(text.as_str())))
        }
        Rule::variable => node(ExprKind::Variable(unreserved(&pair, index)?), span, 1, index),
        Rule::group => build_expr(pair.into_inner().next().expect("grammar: group holds expr"), index),
        Rule::call => build_call(pair, span, index),
        Rule::list => {
            let (items, depth) = build_items(pair, index)?;
            node(ExprKind::List(items), span, depth + 1, index)
        }
        Rule::brace => build_brace(pair, span, index),
        other => unreachable!("grammar: {other:?} is not a primary"),
    }
}

fn build_call(pair: Pair<'_, Rule>, span: Span, index: &LineIndex) -> BuildResult {
    let mut parts = pair.into_inner();
    let name = parts.next().expect("grammar: call starts with name");
    let mut depth = 1;
    let mut args = Vec::new();
    for part in parts.filter(|part| part.as_rule() == Rule::expr) {
        let arg = build_expr(part, index)?;
        depth = depth.max(arg.depth + 1);
        args.push(arg.expr);
    }
    let name = Name { text: unreserved(&name, index)?, span: index.span_of(&name) };
    let kind = ExprKind::Call { name, args };
    node(kind, span, depth, index)
}

/// The words of the language, which cannot name a variable, function or member.
pub const RESERVED: [&str; 16] = [
    "and",
    "or",
    "not",
    "eq",
    "ne",
    "lt",
    "gt",
    "le",
    "ge",
    "div",
    "mod",
    "empty",
    "true",
    "false",
    "null",
    "instanceof",
];

/// The text of a name, refusing reserved words.
fn unreserved(pair: &Pair<'_, Rule>, index: &LineIndex) -> Result<String, SyntaxError> {
    let text = pair.as_str();
    if RESERVED.contains(&text) {
        return Err(SyntaxError {
            message: format!("`{text}` is a reserved word: it cannot name a variable, function or member"),
            span: index.span_of(pair),
        });
    }
    Ok(text.to_owned())
}

/// Resolves `\"`, `\'` and `\\`; a backslash before anything else stays as written.
fn unescape(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some(escaped @ ('"' | '\'' | '\\')) => out.push(escaped),
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => out.push('\\'),
        }
    }
    out
}

/// Turns a pest error into a [`SyntaxError`] that names what was expected in words.
pub(crate) fn syntax_error_from_pest(error: &pest::error::Error<Rule>, index: &LineIndex) -> SyntaxError {
    pest_error(error, index, "the end")
}

/// The same for the inside of one `${...}` parsed on its own: its end is the `}`.
fn hole_error_from_pest(error: &pest::error::Error<Rule>, index: &LineIndex) -> SyntaxError {
    pest_error(error, index, "`}`")
}

fn pest_error(error: &pest::error::Error<Rule>, index: &LineIndex, end_word: &str) -> SyntaxError {
    let local = match error.location {
        InputLocation::Pos(position) => position,
        InputLocation::Span((start, _)) => start,
    };
    let position = (index.base as usize + local).min(index.source.len());
    let message = match &error.variant {
        ErrorVariant::ParsingError { positives, .. } if positives.contains(&Rule::json_close_string) => {
            json_string_problem(index.source, position).unwrap_or_else(|| {
                format!(
                    "expected {}, found {}",
                    describe_expected(positives, end_word),
                    describe_found(index.source, position)
                )
            })
        }
        ErrorVariant::ParsingError { positives, .. } => format!(
            "expected {}, found {}",
            describe_expected(positives, end_word),
            describe_found(index.source, position)
        ),
        ErrorVariant::CustomError { message } => message.clone(),
    };
    let end = index.source[position..].chars().next().map_or(position, |c| position + c.len_utf8());
    SyntaxError { message, span: index.span(position as u32, end as u32) }
}

fn describe_expected(positives: &[Rule], end_word: &str) -> String {
    let mut words: Vec<&str> = Vec::new();
    // The end comes last, as it does when the end is a `}` in a whole template.
    let (ends, others): (Vec<&Rule>, Vec<&Rule>) = positives.iter().partition(|rule| **rule == Rule::EOI);
    for rule in others.into_iter().chain(ends) {
        let word = match rule {
            Rule::or
            | Rule::and
            | Rule::eq
            | Rule::ne
            | Rule::lt
            | Rule::gt
            | Rule::le
            | Rule::ge
            | Rule::concat
            | Rule::add
            | Rule::sub
            | Rule::mul
            | Rule::div
            | Rule::rem
            | Rule::question
            | Rule::member
            | Rule::method
            | Rule::apply
            | Rule::arrow
            | Rule::index
            | Rule::kw_and
            | Rule::kw_or
            | Rule::kw_eq
            | Rule::kw_ne
            | Rule::kw_lt
            | Rule::kw_gt
            | Rule::kw_le
            | Rule::kw_ge
            | Rule::kw_div
            | Rule::kw_mod => "an operator",
            Rule::colon => "`:`",
            Rule::close_paren => "`)`",
            Rule::close_bracket => "`]`",
            Rule::close_brace => "`}`",
            Rule::comma => "`,`",
            Rule::name => "a name",
            Rule::EOI => end_word,
            Rule::json_comma => "`,`",
            Rule::json_colon => "`:`",
            Rule::json_close_object => "`}`",
            Rule::json_close_array => "`]`",
            Rule::json_key => "an object key (a string)",
            Rule::json_value
            | Rule::json_object
            | Rule::json_array
            | Rule::json_number
            | Rule::json_true
            | Rule::json_false
            | Rule::json_null => "a JSON value",
            Rule::json_string | Rule::json_close_string => "`\"`",
            Rule::json_chars | Rule::json_escape | Rule::escaped_open => "more string text",
            Rule::interpolation => "`${`",
            _ => "an expression",
        };
        if !words.contains(&word) {
            words.push(word);
        }
    }
    match words.as_slice() {
        [] => "something else".to_owned(),
        [one] => (*one).to_owned(),
        [init @ .., last] => format!("{} or {}", init.join(", "), last),
    }
}

fn describe_found(source: &str, position: usize) -> String {
    let rest = &source[position..];
    let Some(first) = rest.chars().next() else {
        return "the end of the input".to_owned();
    };
    if first.is_alphanumeric() || first == '_' {
        let word: String = rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_').take(40).collect();
        format!("`{word}`")
    } else if first == '\n' {
        "the end of the line".to_owned()
    } else if first.is_control() {
        format!("`{}`", first.escape_default())
    } else {
        format!("`{first}`")
    }
}

/// Maps byte offsets of one source to lines and columns.
///
/// A view made with [`LineIndex::offset_by`] maps the positions of a parser that
/// ran on a slice of the source (one `${...}`) back to positions in the whole source.
///
/// Each span costs O(log lines) whatever the source: columns are counted from
/// checkpoints every [`CHAR_BLOCK`] bytes, not from the start of the line, so a
/// template of many holes on one line compiles in linear time.
pub(crate) struct LineIndex<'a> {
    source: &'a str,
    line_starts: Cow<'a, [u32]>,
    /// The characters before each block of [`CHAR_BLOCK`] bytes.
    block_chars: Cow<'a, [u32]>,
    /// Whether the source is ASCII: then a column is a byte distance, and nothing
    /// needs counting (most templates are).
    ascii: bool,
    base: u32,
}

/// Bytes between the character-count checkpoints of a [`LineIndex`].
const CHAR_BLOCK: usize = 256;

/// The characters that start in `bytes`: every byte that is not a UTF-8 continuation.
fn chars_starting_in(bytes: &[u8]) -> u32 {
    bytes.iter().filter(|&&byte| (byte as i8) >= -0x40).count() as u32
}

impl<'a> LineIndex<'a> {
    pub(crate) fn new(source: &'a str) -> Self {
        let line_starts =
            std::iter::once(0).chain(source.match_indices('\n').map(|(at, _)| at as u32 + 1)).collect::<Vec<u32>>();
        // An ASCII source needs no character counts (see `span`).
        let counted = if source.is_ascii() { "" } else { source };
        let block_chars = std::iter::once(0)
            .chain(counted.as_bytes().chunks(CHAR_BLOCK).scan(0, |total, block| {
                *total += chars_starting_in(block);
                Some(*total)
            }))
            .collect::<Vec<u32>>();
        LineIndex {
            source,
            line_starts: Cow::Owned(line_starts),
            block_chars: Cow::Owned(block_chars),
            ascii: source.is_ascii(),
            base: 0,
        }
    }

    /// A view for parsing `source[base..]` on its own: pest positions are relative to
    /// `base`, spans come out in the whole source.
    pub(crate) fn offset_by(&self, base: u32) -> LineIndex<'_> {
        LineIndex {
            source: self.source,
            line_starts: Cow::Borrowed(&self.line_starts),
            block_chars: Cow::Borrowed(&self.block_chars),
            ascii: self.ascii,
            base: self.base + base,
        }
    }

    /// The characters before byte `offset` of the source.
    fn chars_before(&self, offset: usize) -> u32 {
        let offset = offset.min(self.source.len());
        let block = offset / CHAR_BLOCK;
        self.block_chars[block] + chars_starting_in(&self.source.as_bytes()[block * CHAR_BLOCK..offset])
    }

    /// The whole source.
    pub(crate) fn source(&self) -> &'a str {
        self.source
    }

    /// The span of `start..end` (offsets in the whole source) with the line and column of `start`.
    pub(crate) fn span(&self, start: u32, end: u32) -> Span {
        let line = self.line_starts.partition_point(|&line_start| line_start <= start);
        let line_start = self.line_starts[line - 1] as usize;
        let column = if self.ascii {
            (start as usize).min(self.source.len()).saturating_sub(line_start) as u32 + 1
        } else {
            self.chars_before(start as usize).saturating_sub(self.chars_before(line_start)) + 1
        };
        Span { start, end, line: line as u32, column }
    }

    /// The span of a parser's `start..end`, relative to this view's base.
    pub(crate) fn local(&self, start: usize, end: usize) -> Span {
        self.span(self.base + start as u32, self.base + end as u32)
    }

    pub(crate) fn span_of(&self, pair: &Pair<'_, Rule>) -> Span {
        let span = pair.as_span();
        self.local(span.start(), span.end())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_count_characters_in_ascii_and_other_sources() {
        for source in [
            "ab\ncd ${x}\n\n  e",
            "äb\nc€ ${x}\n𝄞\n  ü",
            &"a".repeat(600),
            &format!("{}\n{}", "é".repeat(300), "x".repeat(300)),
        ] {
            let index = LineIndex::new(source);
            for (offset, _) in source.char_indices() {
                let line_start = source[..offset].rfind('\n').map_or(0, |at| at + 1);
                let span = index.span(offset as u32, offset as u32);
                assert_eq!(
                    span.column as usize,
                    source[line_start..offset].chars().count() + 1,
                    "{source:?} at {offset}"
                );
                assert_eq!(span.line as usize, source[..offset].matches('\n').count() + 1);
            }
        }
    }

    fn parse(source: &str) -> Expr {
        parse_expression(source).unwrap_or_else(|e| panic!("{source}: {e}"))
    }

    fn shape(source: &str) -> String {
        parse(source).to_string()
    }

    #[test]
    fn spans_cost_the_same_anywhere_on_a_long_line() {
        let source = "é".repeat(500_000) + "x";
        let index = LineIndex::new(&source);
        let started = std::time::Instant::now();
        for step in 0..100_000u32 {
            // Counting from the start of the line, this would scan 50 GB.
            let span = index.span(1_000_000 - step % 7 * 2, 1_000_001);
            assert_eq!(span.column, 500_001 - step % 7);
        }
        assert!(started.elapsed() < std::time::Duration::from_secs(5), "took {:?}", started.elapsed());
        let lines = LineIndex::new("ab\ncé\n\nd");
        let columns: Vec<(u32, u32)> =
            [0, 1, 3, 4, 6, 8].iter().map(|&at| lines.span(at, at)).map(|span| (span.line, span.column)).collect();
        assert_eq!(columns, [(1, 1), (1, 2), (2, 1), (2, 2), (2, 3), (4, 1)]);
    }

    #[test]
    fn precedence_follows_the_table() {
        assert_eq!(shape("1 + 2 * 3"), "1 + 2 * 3");
        assert_eq!(shape("(1 + 2) * 3"), "(1 + 2) * 3");
        assert_eq!(shape("1 - 2 - 3"), "1 - 2 - 3");
        assert_eq!(shape("1 - (2 - 3)"), "1 - (2 - 3)");
        assert_eq!(shape("a += b + c"), "a += b + c");
        assert_eq!(shape("a or b and c"), "a || b && c");
        assert_eq!(shape("not a eq b"), "!a == b");
        assert_eq!(shape("a ? b : c ? d : e"), "a ? b : c ? d : e");
        assert_eq!(shape("(a ? b : c) ? d : e"), "(a ? b : c) ? d : e");
        assert_eq!(shape("- - 5"), "--5");
        assert_eq!(shape("empty x.y[0]"), "empty x.y[0]");
    }

    #[test]
    fn spans_point_at_source() {
        let expr = parse("a +\n  foo(1)");
        let ExprKind::Binary { right, .. } = expr.kind else { panic!("not binary") };
        assert_eq!((right.span.line, right.span.column, right.span.start, right.span.end), (2, 3, 6, 12));
    }

    #[test]
    fn keywords_are_not_names() {
        assert!(parse_expression("and").is_err());
        assert_eq!(shape("android"), "android");
        assert_eq!(shape("notes"), "notes");
    }

    #[test]
    fn strings_keep_unknown_escapes() {
        assert_eq!(parse(r#""\s+""#).kind, ExprKind::Literal(Literal::String(r"\s+".into())));
        assert_eq!(parse(r#"'it\'s'"#).kind, ExprKind::Literal(Literal::String("it's".into())));
    }

    #[test]
    fn errors_say_what_was_expected() {
        let error = parse_expression("1 +").unwrap_err();
        assert_eq!(error.message, "expected an expression, found the end of the input");
        assert_eq!((error.span.line, error.span.column), (1, 4));
        let error = parse_expression("f(1, 2").unwrap_err();
        assert!(error.message.contains("`)`"), "{}", error.message);
    }

    #[test]
    fn oversized_integers_are_refused() {
        assert!(parse_expression("9223372036854775807").is_ok());
        assert!(parse_expression("9223372036854775808").unwrap_err().message.contains("64 bits"));
    }

    #[test]
    fn long_chains_are_bounded() {
        let ok = vec!["1"; 200].join(" + ");
        assert!(parse_expression(&ok).is_ok());
        let deep = vec!["1"; 100_000].join(" + ");
        assert!(parse_expression(&deep).unwrap_err().message.contains("nested"));
        let bangs = "!".repeat(100_000) + "x";
        assert!(parse_expression(&bangs).unwrap_err().message.contains("nested"));
    }

    #[test]
    fn templates_split_text_and_interpolations() {
        let ast = parse_template("Hi ${name}, \\${x} costs $5 ${ stringConcat(\"}\", a) }").unwrap();
        assert_eq!(ast.segments.len(), 4);
        assert_eq!(ast.segments[0], Segment::Text("Hi ".into()));
        assert_eq!(ast.segments[2], Segment::Text(", ${x} costs $5 ".into()));
    }
}
