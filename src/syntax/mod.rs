//! Syntax: the pest grammar binding, the AST with spans, and syntax errors.
//!
//! This layer knows nothing of values or evaluation. It turns source text into an
//! [`Expr`] tree (or a [`TemplateAst`] of text and interpolations) in which every node
//! carries the [`Span`] it came from, and prints an AST back to source.

mod json;
mod literal;
mod parser;
mod printer;
pub(crate) mod scan;

pub(crate) use json::check_json_structure;
pub use json::{JsonKey, JsonMember, JsonNode, StringPart, parse_json_template_with};
pub(crate) use literal::literal_pieces;
pub(crate) use parser::{LineIndex, parse_hole};
pub use parser::{RESERVED, parse_expression, parse_expression_with, parse_template, parse_template_with};
pub use scan::{NestingLimits, check_nesting};

use std::fmt;

/// Where a node stands in its source: a byte range plus the line and column of its start.
///
/// Lines and columns are 1-based; columns count characters, not bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Span {
    /// Byte offset of the first byte.
    pub start: u32,
    /// Byte offset one past the last byte.
    pub end: u32,
    /// Line of `start`, from 1.
    pub line: u32,
    /// Column of `start` in characters, from 1.
    pub column: u32,
}

impl Span {
    /// The byte range, for slicing the source.
    pub fn range(&self) -> std::ops::Range<usize> {
        self.start as usize..self.end as usize
    }
}

/// An expression node: what it is, and where it was written.
///
/// Equality compares shape only: two expressions are equal when they mean the same
/// tree, wherever they were written (spans are positions, not meaning).
#[derive(Debug, Clone)]
pub struct Expr {
    /// The node itself.
    pub kind: ExprKind,
    /// Where it was written.
    pub span: Span,
}

impl PartialEq for Expr {
    fn eq(&self, other: &Self) -> bool {
        self.kind == other.kind
    }
}

/// The kinds of expression node.
#[derive(Debug, Clone, PartialEq)]
pub enum ExprKind {
    /// `null`, `true`, `42`, `1.5`, `"text"`.
    Literal(Literal),
    /// A bare name: a variable of the chat session.
    Variable(String),
    /// `name(arg, ...)`.
    Call {
        /// The function's name, and where it was written (for "unknown function").
        name: Name,
        /// The arguments in order.
        args: Vec<Expr>,
    },
    /// `target.name` or `target[key]`.
    Member {
        /// What is accessed.
        target: Box<Expr>,
        /// The key.
        key: MemberKey,
    },
    /// `-x`, `!x`, `empty x`.
    Unary {
        /// The operator.
        op: UnaryOp,
        /// Its operand.
        operand: Box<Expr>,
    },
    /// `a op b`.
    Binary {
        /// The operator.
        op: BinaryOp,
        /// Left operand.
        left: Box<Expr>,
        /// Right operand.
        right: Box<Expr>,
    },
    /// `[a, b]`: a list literal.
    List(Vec<Expr>),
    /// `{a, b}`: a set literal (duplicates dropped, written order kept).
    Set(Vec<Expr>),
    /// `{k: v, ...}`: a map literal, in written order.
    Map(Vec<(Expr, Expr)>),
    /// `x -> body`, `(a, b) -> body`.
    Lambda {
        /// The parameters, in order.
        params: Vec<Name>,
        /// What a call evaluates, with the parameters bound.
        body: Box<Expr>,
    },
    /// `target.name(args)`: a collection, stream or optional operation.
    Method {
        /// What the operation applies to.
        target: Box<Expr>,
        /// The operation's name, and where it was written.
        name: Name,
        /// The arguments in order.
        args: Vec<Expr>,
    },
    /// `(x -> x * 2)(3)`: a lambda called at once.
    Apply {
        /// What is called (a lambda, possibly parenthesized).
        target: Box<Expr>,
        /// The arguments in order.
        args: Vec<Expr>,
    },
    /// `condition ? then : otherwise`.
    Conditional {
        /// The condition, coerced to boolean.
        condition: Box<Expr>,
        /// Evaluated when the condition is true.
        then: Box<Expr>,
        /// Evaluated when it is false.
        otherwise: Box<Expr>,
    },
}

/// A name as written; equality compares the text only.
#[derive(Debug, Clone)]
pub struct Name {
    /// The name.
    pub text: String,
    /// Where it was written.
    pub span: Span,
}

impl PartialEq for Name {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

/// The key of a member access.
#[derive(Debug, Clone, PartialEq)]
pub enum MemberKey {
    /// `a.name`
    Name(String),
    /// `a[expr]`
    Index(Box<Expr>),
}

/// A literal as written.
#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    /// `null`
    Null,
    /// `true` / `false`
    Bool(bool),
    /// A 64-bit integer.
    Integer(i64),
    /// A float (always finite: literals cannot overflow to infinity silently).
    Float(f64),
    /// A string, escapes resolved.
    String(String),
}

/// Unary operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnaryOp {
    /// `-x`
    Negate,
    /// `!x`, `not x`
    Not,
    /// `empty x`
    Empty,
}

/// Binary operators (the conditional is [`ExprKind::Conditional`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinaryOp {
    /// `||`, `or`
    Or,
    /// `&&`, `and`
    And,
    /// `==`, `eq`
    Eq,
    /// `!=`, `ne`
    Ne,
    /// `<`, `lt`
    Lt,
    /// `>`, `gt`
    Gt,
    /// `<=`, `le`
    Le,
    /// `>=`, `ge`
    Ge,
    /// `+=` (string concatenation)
    Concat,
    /// `+`
    Add,
    /// `-`
    Sub,
    /// `*`
    Mul,
    /// `/`, `div`
    Div,
    /// `%`, `mod`
    Rem,
}

impl BinaryOp {
    /// The operator's canonical spelling.
    pub fn symbol(self) -> &'static str {
        match self {
            BinaryOp::Or => "||",
            BinaryOp::And => "&&",
            BinaryOp::Eq => "==",
            BinaryOp::Ne => "!=",
            BinaryOp::Lt => "<",
            BinaryOp::Gt => ">",
            BinaryOp::Le => "<=",
            BinaryOp::Ge => ">=",
            BinaryOp::Concat => "+=",
            BinaryOp::Add => "+",
            BinaryOp::Sub => "-",
            BinaryOp::Mul => "*",
            BinaryOp::Div => "/",
            BinaryOp::Rem => "%",
        }
    }

    /// Binding strength, from 2 (`||`) to 8 (`*`); the conditional is 1.
    pub fn precedence(self) -> u8 {
        match self {
            BinaryOp::Or => 2,
            BinaryOp::And => 3,
            BinaryOp::Eq | BinaryOp::Ne => 4,
            BinaryOp::Lt | BinaryOp::Gt | BinaryOp::Le | BinaryOp::Ge => 5,
            BinaryOp::Concat => 6,
            BinaryOp::Add | BinaryOp::Sub => 7,
            BinaryOp::Mul | BinaryOp::Div | BinaryOp::Rem => 8,
        }
    }
}

/// One piece of a parsed template.
#[derive(Debug, Clone, PartialEq)]
pub enum Segment {
    /// Literal text (with `\${` already turned into `${`).
    Text(String),
    /// `${ expr }`: the expression, and the span of the whole `${...}`.
    Interpolation(Expr, Span),
}

/// A parsed template: text and interpolations in order.
#[derive(Debug, Clone, PartialEq)]
pub struct TemplateAst {
    /// The pieces in source order; adjacent text is merged.
    pub segments: Vec<Segment>,
}

/// A syntax error: what was wrong and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    /// Human-readable description ("expected an expression, found end of input").
    pub message: String,
    /// Where; for an unterminated construct, where it opened.
    pub span: Span,
}

impl fmt::Display for SyntaxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}, column {}: {}", self.span.line, self.span.column, self.message)
    }
}

impl std::error::Error for SyntaxError {}
