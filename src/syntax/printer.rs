//! Printing an AST back to source, with the fewest parentheses that keep its shape.
//!
//! Parsing the printed text gives back an equal [`Expr`]; the property tests rely on it.

use std::fmt::{self, Display, Formatter, Write};

use super::{Expr, ExprKind, Literal, MemberKey, UnaryOp};

/// Binding strength of a node, as the parser sees it.
fn precedence(expr: &Expr) -> u8 {
    match &expr.kind {
        ExprKind::Lambda { .. } => 0,
        ExprKind::Conditional { .. } => 1,
        ExprKind::Binary { op, .. } => op.precedence(),
        ExprKind::Unary { .. } => 9,
        _ => 10,
    }
}

fn write_list(f: &mut Formatter<'_>, items: &[Expr]) -> fmt::Result {
    for (position, item) in items.iter().enumerate() {
        if position > 0 {
            f.write_str(", ")?;
        }
        write!(f, "{item}")?;
    }
    Ok(())
}

fn write_operand(f: &mut Formatter<'_>, expr: &Expr, parenthesize: bool) -> fmt::Result {
    if parenthesize { write!(f, "({expr})") } else { write!(f, "{expr}") }
}

impl Display for Expr {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match &self.kind {
            ExprKind::Literal(literal) => write!(f, "{literal}"),
            ExprKind::Variable(name) => f.write_str(name),
            ExprKind::Call { name, args } => {
                write!(f, "{}(", name.text)?;
                write_list(f, args)?;
                f.write_char(')')
            }
            ExprKind::List(items) => {
                f.write_char('[')?;
                write_list(f, items)?;
                f.write_char(']')
            }
            ExprKind::Set(items) => {
                f.write_char('{')?;
                write_list(f, items)?;
                f.write_char('}')
            }
            ExprKind::Map(entries) => {
                f.write_char('{')?;
                for (position, (key, value)) in entries.iter().enumerate() {
                    if position > 0 {
                        f.write_str(", ")?;
                    }
                    // A conditional key would swallow the entry's `:`.
                    write_operand(f, key, precedence(key) <= 1)?;
                    write!(f, ": {value}")?;
                }
                f.write_char('}')
            }
            ExprKind::Lambda { params, body } => {
                match params.as_slice() {
                    [one] => f.write_str(&one.text)?,
                    _ => {
                        f.write_char('(')?;
                        for (position, param) in params.iter().enumerate() {
                            if position > 0 {
                                f.write_str(", ")?;
                            }
                            f.write_str(&param.text)?;
                        }
                        f.write_char(')')?;
                    }
                }
                write!(f, " -> {body}")
            }
            ExprKind::Method { target, name, args } => {
                let number = matches!(target.kind, ExprKind::Literal(Literal::Integer(_) | Literal::Float(_)));
                write_operand(f, target, precedence(target) < 10 || number)?;
                write!(f, ".{}(", name.text)?;
                write_list(f, args)?;
                f.write_char(')')
            }
            ExprKind::Apply { target, args } => {
                // `f(x)` would read as a call of the function f, `a.f(x)` as an operation.
                let variable =
                    matches!(target.kind, ExprKind::Variable(_) | ExprKind::Member { key: MemberKey::Name(_), .. });
                write_operand(f, target, precedence(target) < 10 || variable)?;
                f.write_char('(')?;
                write_list(f, args)?;
                f.write_char(')')
            }
            ExprKind::Member { target, key } => {
                // `1.x` would lex as the float `1.`: numbers need parentheses too.
                let number = matches!(target.kind, ExprKind::Literal(Literal::Integer(_) | Literal::Float(_)));
                write_operand(f, target, precedence(target) < 10 || number)?;
                match key {
                    MemberKey::Name(name) => write!(f, ".{name}"),
                    MemberKey::Index(index) => write!(f, "[{index}]"),
                }
            }
            ExprKind::Unary { op, operand } => {
                f.write_str(match op {
                    UnaryOp::Negate => "-",
                    UnaryOp::Not => "!",
                    UnaryOp::Empty => "empty ",
                })?;
                write_operand(f, operand, precedence(operand) < 9)
            }
            ExprKind::Binary { op, left, right } => {
                write_operand(f, left, precedence(left) < op.precedence())?;
                write!(f, " {} ", op.symbol())?;
                write_operand(f, right, precedence(right) <= op.precedence())
            }
            ExprKind::Conditional { condition, then, otherwise } => {
                write_operand(f, condition, precedence(condition) <= 1)?;
                f.write_str(" ? ")?;
                // A lambda's body would run on through the `:`.
                write_operand(f, then, precedence(then) == 0)?;
                write!(f, " : {otherwise}")
            }
        }
    }
}

impl Display for Literal {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Literal::Null => f.write_str("null"),
            Literal::Bool(value) => write!(f, "{value}"),
            Literal::Integer(value) => write!(f, "{value}"),
            // Debug formatting is the shortest text that reads back to the same f64,
            // and always has a `.` or an exponent, so it reads back as a float.
            Literal::Float(value) => write!(f, "{value:?}"),
            Literal::String(text) => {
                f.write_char('"')?;
                for c in text.chars() {
                    if matches!(c, '"' | '\\') {
                        f.write_char('\\')?;
                    }
                    f.write_char(c)?;
                }
                f.write_char('"')
            }
        }
    }
}
