//! The json context: request payloads.
//!
//! A [`JsonTemplate`] is JSON in which `${...}` stands as a value (it renders as typed
//! JSON), as a key or inside a string (it renders as its string form, escaped). It is
//! compiled into two forms that share the compiled holes:
//!
//! - a byte program for [`JsonTemplate::render_to_bytes`]: ranges of the source to
//!   copy as they are (the author's layout between holes), and holes to write, so a
//!   render is memcpy plus hole writes into the caller's buffer;
//! - a tree for [`JsonTemplate::render_to_value`], whose subtrees without holes were
//!   read once, at compile time, and are cloned.
//!
//! Neither path builds a string that is parsed again.

use std::sync::Arc;

use crate::error::{Error, ErrorKind};
use crate::eval::{Compiler, Engine, Node, Runtime, Shared};
use crate::functions::Context;
use crate::syntax::{Expr, JsonKey, JsonNode, Span, StringPart, parse_json_template_with};
use crate::value::{Value, write_json, write_json_string_content};
use crate::variables::VariableSource;

/// A compiled json-context template: immutable, `Send + Sync`, rendered any number
/// of times.
///
/// ```
/// use courier::{Context, Engine, Variables};
/// use courier::template::JsonTemplate;
///
/// let template = JsonTemplate::compile(&Engine::new(), r#"{"n": ${toInteger(n)}, "hi": "Hi ${name}!"}"#).unwrap();
/// let variables = Variables::from_strings([("n", "3"), ("name", "Anna \"A\"")]);
/// let mut out = Vec::new();
/// template.render_to_bytes(&variables, &Context::default(), &mut out).unwrap();
/// assert_eq!(String::from_utf8(out).unwrap(), r#"{"n": 3, "hi": "Hi Anna \"A\"!"}"#);
/// let value = template.render_to_value(&variables, &Context::default()).unwrap();
/// assert_eq!(value, serde_json::json!({"n": 3, "hi": "Hi Anna \"A\"!"}));
/// ```
#[derive(Clone)]
pub struct JsonTemplate {
    source: Arc<str>,
    shared: Arc<Shared>,
    holes: Box<[Hole]>,
    program: Box<[Op]>,
    /// The bytes the program copies from the source, for the output budget.
    static_bytes: usize,
    tree: Tree,
    /// The first key with a hole, when there is one: a rendered key may duplicate
    /// another key of its object, which the render then refuses.
    rendered_key: Option<Span>,
}

#[derive(Debug, Clone)]
struct Hole {
    node: Node,
    span: Span,
}

/// One step of the byte program.
#[derive(Debug, Clone, Copy)]
enum Op {
    /// Copy `source[start..end]` as it is.
    Copy(u32, u32),
    /// A hole standing as a value: typed JSON.
    Value(u32),
    /// A hole inside a string: its string form, escaped, without quotes.
    Text(u32),
    /// A bare hole as a key: its string form as a quoted string.
    Key(u32),
}

/// The rendered value's shape, literal subtrees pre-built.
#[derive(Debug, Clone)]
enum Tree {
    Const(serde_json::Value),
    Hole(u32),
    Text(Box<[TextPart]>),
    Array(Box<[Tree]>),
    Object(Box<[(Key, Tree)]>),
}

#[derive(Debug, Clone)]
enum Key {
    Const(String),
    Text(Box<[TextPart]>),
}

#[derive(Debug, Clone)]
enum TextPart {
    Const(Box<str>),
    Hole(u32),
}

impl std::fmt::Debug for JsonTemplate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JsonTemplate").field("source", &self.source).finish_non_exhaustive()
    }
}

impl JsonTemplate {
    /// Compiles a json-context template. The JSON structure is checked with the holes
    /// in place: a missing comma, an unclosed brace or a hole where no value may stand
    /// is an error with its line and column, before any variable is known.
    pub fn compile(engine: &Engine, source: &str) -> Result<JsonTemplate, Error> {
        let source: Arc<str> = Arc::from(source);
        let ast = parse_json_template_with(&source, &engine.shared.limits.nesting)
            .map_err(|error| Error::from_syntax(error, &source))?;
        let mut builder = Builder {
            source: &source,
            compiler: Compiler::new(&engine.shared, &source, None),
            holes: Vec::new(),
            program: Vec::new(),
            copied: 0,
            static_bytes: 0,
            rendered_key: None,
        };
        let tree = builder.node(&ast)?;
        builder.copy_until(source.len() as u32);
        let Builder { compiler, holes, program, static_bytes, rendered_key, .. } = builder;
        compiler.finish()?;
        Ok(JsonTemplate {
            source: source.clone(),
            shared: engine.shared.clone(),
            holes: holes.into_boxed_slice(),
            program: program.into_boxed_slice(),
            static_bytes,
            tree,
            rendered_key,
        })
    }

    /// The source it was compiled from.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Renders the payload's bytes, appending them to `out`: the author's text as it
    /// was written, each hole replaced by its JSON. The output is valid JSON. On an
    /// error `out` is left as it was.
    pub fn render_to_bytes(
        &self,
        variables: &dyn VariableSource,
        context: &Context,
        out: &mut Vec<u8>,
    ) -> Result<(), Error> {
        let start = out.len();
        let result = self.write_bytes(variables, context, out, start);
        if result.is_err() {
            out.truncate(start);
        }
        result
    }

    fn write_bytes(
        &self,
        variables: &dyn VariableSource,
        context: &Context,
        out: &mut Vec<u8>,
        start: usize,
    ) -> Result<(), Error> {
        let runtime = Runtime::new(&self.shared, &self.source, variables, context, 0);
        let limit = self.shared.limits.max_output_bytes;
        let bytes = self.source.as_bytes();
        let mut span = START;
        for op in self.program.iter() {
            match *op {
                Op::Copy(from, to) => out.extend_from_slice(&bytes[from as usize..to as usize]),
                Op::Value(index) => {
                    let hole = &self.holes[index as usize];
                    span = hole.span;
                    let value = runtime.eval_ref(&hole.node)?;
                    write_json(&value, out)
                        .map_err(|error| Error::new(ErrorKind::Render, error.0).at(hole.span, &self.source))?;
                }
                Op::Text(index) => {
                    let hole = &self.holes[index as usize];
                    span = hole.span;
                    write_text_escaped(&*runtime.eval_ref(&hole.node)?, out);
                }
                Op::Key(index) => {
                    let hole = &self.holes[index as usize];
                    span = hole.span;
                    let value = runtime.eval_ref(&hole.node)?;
                    out.push(b'"');
                    write_text_escaped(&value, out);
                    out.push(b'"');
                }
            }
            if out.len() - start > limit {
                return Err(self.too_large(span));
            }
        }
        if let Some(span) = self.rendered_key {
            // Only templates with a rendered key read their output again.
            let mut reader = serde_json::Deserializer::from_slice(&out[start..]);
            serde::Deserialize::deserialize(&mut reader).map(|UniqueKeys| ()).map_err(|error| {
                // serde_json adds the place in the output, which the author never saw.
                let message = error.to_string();
                let why = message.rsplit_once(" at line ").map_or(message.as_str(), |(why, _)| why);
                self.duplicate_key(span, why)
            })?;
        }
        Ok(())
    }

    fn duplicate_key(&self, span: Span, why: &str) -> Error {
        Error::new(ErrorKind::Render, format!("a rendered key duplicates another key of its object: {why}"))
            .at(span, &self.source)
    }

    /// Renders the payload as a JSON tree, built directly (never through text).
    pub fn render_to_value(
        &self,
        variables: &dyn VariableSource,
        context: &Context,
    ) -> Result<serde_json::Value, Error> {
        let runtime = Runtime::new(&self.shared, &self.source, variables, context, 0);
        let limit = self.shared.limits.max_output_bytes;
        let mut render = ValueRender {
            template: self,
            runtime: &runtime,
            remaining: limit.checked_sub(self.static_bytes).ok_or_else(|| self.too_large(START))?,
        };
        render.tree(&self.tree)
    }

    fn too_large(&self, span: Span) -> Error {
        let limit = self.shared.limits.max_output_bytes;
        let message = format!("the output is larger than the limit of {limit} bytes");
        Error::new(ErrorKind::Limit, message).at(span, &self.source)
    }
}

/// Reads JSON text, refusing an object that has one key twice.
struct UniqueKeys;

impl<'de> serde::Deserialize<'de> for UniqueKeys {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(UniqueKeysVisitor)
    }
}

struct UniqueKeysVisitor;

impl<'de> serde::de::Visitor<'de> for UniqueKeysVisitor {
    type Value = UniqueKeys;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("JSON")
    }

    fn visit_bool<E>(self, _: bool) -> Result<UniqueKeys, E> {
        Ok(UniqueKeys)
    }

    fn visit_i64<E>(self, _: i64) -> Result<UniqueKeys, E> {
        Ok(UniqueKeys)
    }

    fn visit_u64<E>(self, _: u64) -> Result<UniqueKeys, E> {
        Ok(UniqueKeys)
    }

    fn visit_f64<E>(self, _: f64) -> Result<UniqueKeys, E> {
        Ok(UniqueKeys)
    }

    fn visit_str<E>(self, _: &str) -> Result<UniqueKeys, E> {
        Ok(UniqueKeys)
    }

    fn visit_unit<E>(self) -> Result<UniqueKeys, E> {
        Ok(UniqueKeys)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut items: A) -> Result<UniqueKeys, A::Error> {
        while items.next_element::<UniqueKeys>()?.is_some() {}
        Ok(UniqueKeys)
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut entries: A) -> Result<UniqueKeys, A::Error> {
        let mut seen = std::collections::HashSet::new();
        while let Some(key) = entries.next_key::<String>()? {
            entries.next_value::<UniqueKeys>()?;
            if seen.contains(&key) {
                let message = format!("{} appears twice", Value::from(key).describe());
                return Err(serde::de::Error::custom(message));
            }
            seen.insert(key);
        }
        Ok(UniqueKeys)
    }
}

/// Where an error about the whole template is placed.
const START: Span = Span { start: 0, end: 0, line: 1, column: 1 };

/// The string form of a value, escaped for the inside of a JSON string.
fn write_text_escaped(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Str(text) => write_json_string_content(text, out),
        other => write_json_string_content(&other.to_text(), out),
    }
}

/// Compiles the AST into the byte program and the tree, walking it in source order.
struct Builder<'a> {
    source: &'a str,
    compiler: Compiler<'a>,
    holes: Vec<Hole>,
    program: Vec<Op>,
    /// The source is in the program up to here.
    copied: u32,
    static_bytes: usize,
    rendered_key: Option<Span>,
}

impl Builder<'_> {
    fn copy_until(&mut self, end: u32) {
        if end > self.copied {
            self.program.push(Op::Copy(self.copied, end));
            self.static_bytes += (end - self.copied) as usize;
        }
        self.copied = end;
    }

    fn hole(&mut self, expr: &Expr, span: Span, op: fn(u32) -> Op) -> u32 {
        let index = self.holes.len() as u32;
        self.holes.push(Hole { node: self.compiler.compile(expr), span });
        self.copy_until(span.start);
        self.program.push(op(index));
        self.copied = span.end;
        index
    }

    fn node(&mut self, node: &JsonNode) -> Result<Tree, Error> {
        Ok(match node {
            JsonNode::Literal(span) => Tree::Const(self.literal(*span)?),
            JsonNode::Hole(expr, span) => Tree::Hole(self.hole(expr, *span, Op::Value)),
            JsonNode::String(parts, _) => Tree::Text(self.text(parts)?),
            JsonNode::Array(items, _) => {
                Tree::Array(items.iter().map(|item| self.node(item)).collect::<Result<_, _>>()?)
            }
            JsonNode::Object(members, _) => {
                let mut entries = Vec::with_capacity(members.len());
                for member in members {
                    let key = match &member.key {
                        JsonKey::Literal(span) => Key::Const(self.literal_string(*span)?),
                        JsonKey::String(parts, span) => {
                            let parts = self.text(parts)?;
                            if parts.iter().any(|part| matches!(part, TextPart::Hole(_))) {
                                self.rendered_key.get_or_insert(*span);
                            }
                            Key::Text(parts)
                        }
                        JsonKey::Hole(expr, span) => {
                            self.rendered_key.get_or_insert(*span);
                            Key::Text(Box::new([TextPart::Hole(self.hole(expr, *span, Op::Key))]))
                        }
                    };
                    entries.push((key, self.node(&member.value)?));
                }
                Tree::Object(entries.into_boxed_slice())
            }
        })
    }

    fn text(&mut self, parts: &[StringPart]) -> Result<Box<[TextPart]>, Error> {
        let mut out: Vec<TextPart> = Vec::with_capacity(parts.len());
        let push_text = |out: &mut Vec<TextPart>, text: &str| match out.last_mut() {
            Some(TextPart::Const(last)) => *last = format!("{last}{text}").into(),
            _ => out.push(TextPart::Const(text.into())),
        };
        for part in parts {
            match part {
                StringPart::Text(span) => {
                    let quoted = format!("\"{}\"", &self.source[span.range()]);
                    let text: String = serde_json::from_str(&quoted).map_err(|error| self.invalid(*span, &error))?;
                    push_text(&mut out, &text);
                }
                StringPart::EscapedOpen(span) => {
                    // Copy from the `$`: the backslash of `\${` is dropped.
                    self.copy_until(span.start);
                    self.copied = span.start + 1;
                    push_text(&mut out, "${");
                }
                StringPart::Hole(expr, span) => out.push(TextPart::Hole(self.hole(expr, *span, Op::Text))),
            }
        }
        Ok(out.into_boxed_slice())
    }

    fn literal(&self, span: Span) -> Result<serde_json::Value, Error> {
        serde_json::from_str(&self.source[span.range()]).map_err(|error| self.invalid(span, &error))
    }

    fn literal_string(&self, span: Span) -> Result<String, Error> {
        serde_json::from_str(&self.source[span.range()]).map_err(|error| self.invalid(span, &error))
    }

    /// The grammar admits only what serde_json reads; should they ever disagree, the
    /// template is refused rather than rendered differently by the two paths.
    fn invalid(&self, span: Span, error: &serde_json::Error) -> Error {
        let source: Arc<str> = Arc::from(self.source);
        Error::new(ErrorKind::Syntax, format!("invalid JSON: {error}")).at(span, &source)
    }
}

/// One render to a tree, with the output budget.
struct ValueRender<'r> {
    template: &'r JsonTemplate,
    runtime: &'r Runtime<'r>,
    /// Bytes the output may still grow by, counted as compact JSON without escapes.
    remaining: usize,
}

impl ValueRender<'_> {
    fn eval(&self, index: u32) -> Result<(Value, Span), Error> {
        let hole = &self.template.holes[index as usize];
        Ok((self.runtime.eval(&hole.node)?, hole.span))
    }

    fn charge(&mut self, bytes: usize, span: Span) -> Result<(), Error> {
        self.remaining = self.remaining.checked_sub(bytes).ok_or_else(|| self.template.too_large(span))?;
        Ok(())
    }

    fn tree(&mut self, tree: &Tree) -> Result<serde_json::Value, Error> {
        Ok(match tree {
            Tree::Const(value) => value.clone(),
            Tree::Hole(index) => {
                let (value, span) = self.eval(*index)?;
                self.json(&value, span)?
            }
            Tree::Text(parts) => serde_json::Value::String(self.text(parts)?),
            Tree::Array(items) => {
                serde_json::Value::Array(items.iter().map(|item| self.tree(item)).collect::<Result<_, _>>()?)
            }
            Tree::Object(entries) => {
                let mut map = serde_json::Map::with_capacity(entries.len());
                for (key, value) in entries.iter() {
                    let key = match key {
                        Key::Const(text) => text.clone(),
                        Key::Text(parts) => self.text(parts)?,
                    };
                    let value = self.tree(value)?;
                    if map.contains_key(&key)
                        && let Some(span) = self.template.rendered_key
                    {
                        let why = format!("{} appears twice", Value::from(key).describe());
                        return Err(self.template.duplicate_key(span, &why));
                    }
                    map.insert(key, value);
                }
                serde_json::Value::Object(map)
            }
        })
    }

    fn text(&mut self, parts: &[TextPart]) -> Result<String, Error> {
        let mut out = String::new();
        for part in parts {
            match part {
                TextPart::Const(text) => out.push_str(text),
                TextPart::Hole(index) => {
                    let (value, span) = self.eval(*index)?;
                    let before = out.len();
                    value.write_text(&mut out);
                    self.charge(out.len() - before, span)?;
                }
            }
        }
        Ok(out)
    }

    /// A hole's value as typed JSON, charged to the budget as it is converted.
    fn json(&mut self, value: &Value, span: Span) -> Result<serde_json::Value, Error> {
        Ok(match value {
            Value::Str(text) => {
                self.charge(text.len() + 2, span)?;
                serde_json::Value::String(text.to_string())
            }
            Value::List(items) => {
                self.charge(items.len() + 1, span)?;
                serde_json::Value::Array(items.iter().map(|item| self.json(item, span)).collect::<Result<_, _>>()?)
            }
            Value::Map(entries) => {
                let mut map = serde_json::Map::with_capacity(entries.len());
                self.charge(entries.len() + 1, span)?;
                for (key, item) in entries.iter() {
                    self.charge(key.len() + 3, span)?;
                    map.insert(key.clone(), self.json(item, span)?);
                }
                serde_json::Value::Object(map)
            }
            scalar => {
                let json = scalar
                    .to_json()
                    .map_err(|error| Error::new(ErrorKind::Render, error.0).at(span, &self.template.source))?;
                self.charge(scalar_width(scalar), span)?;
                json
            }
        })
    }
}

/// At most how many bytes a scalar takes as JSON.
fn scalar_width(value: &Value) -> usize {
    match value {
        Value::Null | Value::Bool(_) => 5,
        _ => 32,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::Limits;
    use crate::variables::Variables;

    fn compile(source: &str) -> Result<JsonTemplate, Error> {
        JsonTemplate::compile(&Engine::new(), source)
    }

    /// Renders both ways, checks they agree, and returns the bytes as text.
    fn render(source: &str, variables: &Variables) -> Result<String, Error> {
        let template = compile(source)?;
        let mut out = b"prefix:".to_vec();
        let bytes = template.render_to_bytes(variables, &Context::default(), &mut out);
        let value = template.render_to_value(variables, &Context::default());
        match (bytes, value) {
            (Ok(()), Ok(value)) => {
                let text = String::from_utf8(out).unwrap();
                let text = text.strip_prefix("prefix:").expect("appends").to_owned();
                let parsed: serde_json::Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{text}: {e}"));
                assert_eq!(parsed, value, "the two paths disagree on {source}");
                assert_eq!(parsed.to_string(), value.to_string(), "number text differs on {source}");
                Ok(text)
            }
            (Err(a), Err(b)) => {
                assert_eq!(out, b"prefix:", "a failed render leaves the buffer as it was");
                assert_eq!(a.to_string(), b.to_string());
                Err(a)
            }
            (bytes, value) => panic!("the paths disagree on {source}: {bytes:?} vs {value:?}"),
        }
    }

    fn vars(pairs: &[(&str, &str)]) -> Variables {
        Variables::from_strings(pairs.iter().copied())
    }

    #[test]
    fn holes_as_values_are_typed() {
        let mut engine = Engine::new();
        engine
            .register(crate::Function::new("price", |_, _| Ok(Value::Decimal(crate::value::Decimal::new(200, 2)))))
            .unwrap();
        let source = r#"{"s": ${s}, "i": ${toInteger(n)}, "f": ${1.5 * 2}, "d": ${price()}, "b": ${true}, "n": ${null},
 "l": ${parseJson('["a", 1]')}, "m": ${parseJson('{"k": [1.50, "2"]}')}, "e": ${1e10 * 1}, "v": ${list}}"#;
        let template = JsonTemplate::compile(&engine, source).unwrap();
        let mut variables = vars(&[("s", "x\"y"), ("n", "3")]);
        variables.set("list", Value::list(vec![Value::from("a"), Value::from("b")]));
        let mut out = Vec::new();
        template.render_to_bytes(&variables, &Context::default(), &mut out).unwrap();
        let expected = "{\"s\": \"x\\\"y\", \"i\": 3, \"f\": 3.0, \"d\": 2.00, \"b\": true, \"n\": null,\n \
                        \"l\": [\"a\",1], \"m\": {\"k\":[1.5,\"2\"]}, \"e\": 1.0E10, \"v\": [\"a\",\"b\"]}";
        assert_eq!(String::from_utf8(out).unwrap(), expected);
        let value = template.render_to_value(&variables, &Context::default()).unwrap();
        assert_eq!(value.to_string(), serde_json::from_str::<serde_json::Value>(expected).unwrap().to_string());
    }

    #[test]
    fn layout_is_copied_and_holes_in_strings_are_escaped() {
        let source = "{\n  \"greeting\" :  \"Hi ${name}, \\${literal} \\u00e9\\n\",\n  \"list\": [ 1,2 ,${n} ]\n}\n";
        let out = render(source, &vars(&[("name", "A\"\n</script>"), ("n", "7")])).unwrap();
        assert_eq!(
            out,
            "{\n  \"greeting\" :  \"Hi A\\\"\\n</script>, ${literal} \\u00e9\\n\",\n  \"list\": [ 1,2 ,\"7\" ]\n}\n"
        );
    }

    #[test]
    fn keys_take_the_string_form() {
        let out =
            render(r#"{${k}: 1, "x-${k}": ${toInteger(n)}, ${n}: "${1 + 1}"}"#, &vars(&[("k", "a\"b"), ("n", "2")]));
        assert_eq!(out.unwrap(), r#"{"a\"b": 1, "x-a\"b": 2, "2": "2"}"#);
        assert_eq!(
            render("{${null}: ${toInteger()}}", &Variables::new()).map_err(|e| e.kind()).err(),
            Some(ErrorKind::Arity)
        );
        assert_eq!(render("{${missing}: 1}", &Variables::new()).unwrap(), r#"{"": 1}"#);
    }

    #[test]
    fn a_whole_document_may_be_one_hole() {
        assert_eq!(render(" ${x} ", &vars(&[("x", "v")])).unwrap(), r#" "v" "#);
        // `[1]` is a list literal inside a hole, not JSON.
        assert_eq!(render("[${[1][0]}]", &Variables::new()).unwrap(), "[1]");
        assert_eq!(render("${{'a': [1, 'x']}}", &Variables::new()).unwrap(), r#"{"a":[1,"x"]}"#);
    }

    #[test]
    fn non_finite_numbers_are_render_errors_at_the_hole() {
        let error = render("{\n  \"x\": ${1 / 0}\n}", &Variables::new()).unwrap_err();
        assert_eq!(error.kind(), ErrorKind::Render);
        assert_eq!(
            error.to_string(),
            "line 2, column 8: Infinity cannot be written as JSON: JSON has no such number (in: ${1 / 0})"
        );
        // In a string the string form is fine.
        assert_eq!(render(r#"["${1 / 0}"]"#, &Variables::new()).unwrap(), r#"["Infinity"]"#);
    }

    #[test]
    fn evaluation_errors_keep_their_place() {
        let error = render("{\"a\": 1,\n \"b\": ${toInteger(x)}}", &vars(&[("x", "abc")])).unwrap_err();
        assert_eq!(error.kind(), ErrorKind::Evaluation);
        assert_eq!((error.span().unwrap().line, error.span().unwrap().column), (2, 9));
    }

    #[test]
    fn structure_errors_come_before_variables() {
        let error = compile("{\n  \"a\": ${x}\n  \"b\": 2\n}").unwrap_err();
        assert_eq!(error.kind(), ErrorKind::Syntax);
        assert_eq!(
            error.to_string(),
            "line 3, column 3: a missing comma between two members or items; write `,` before \"b\""
        );
        let error = compile("{\"a\": ${toInterger(x)}}").unwrap_err();
        assert_eq!(error.kind(), ErrorKind::UnknownFunction);
        assert_eq!(error.suggestion(), Some("did you mean toInteger?"));
        let error = compile(&"[".repeat(100_000)).unwrap_err();
        assert!(error.message().contains("nesting deeper than"), "{error}");
    }

    #[test]
    fn a_rendered_duplicate_key_is_refused_on_both_paths() {
        let error = render(r#"{"a": 1, ${k}: 2, "b": 3}"#, &vars(&[("k", "a")])).unwrap_err();
        assert!(error.message().contains("\"a\" appears twice"), "{error}");
        let out = render(r#"{"a": 1, ${k}: 2, "b": 3}"#, &vars(&[("k", "c")])).unwrap();
        assert_eq!(out, r#"{"a": 1, "c": 2, "b": 3}"#);
    }

    #[test]
    fn the_output_limit_holds_on_both_paths() {
        let mut engine = Engine::new();
        engine.set_limits(Limits { max_output_bytes: 64, ..Limits::default() });
        let template = JsonTemplate::compile(&engine, r#"{"a": ${x}, "b": "${x}"}"#).unwrap();
        let small = vars(&[("x", "0123456789")]);
        let big = Variables::from_strings([("x", "0123456789012345678901234567890123456789")]);
        let mut out = Vec::new();
        template.render_to_bytes(&small, &Context::default(), &mut out).unwrap();
        template.render_to_value(&small, &Context::default()).unwrap();
        let mut out = Vec::new();
        let error = template.render_to_bytes(&big, &Context::default(), &mut out).unwrap_err();
        assert_eq!(error.kind(), ErrorKind::Limit);
        assert!(out.is_empty());
        let error = template.render_to_value(&big, &Context::default()).unwrap_err();
        assert_eq!(error.kind(), ErrorKind::Limit);
    }

    #[test]
    fn a_byte_program_step_stays_small() {
        assert_eq!(std::mem::size_of::<Op>(), 12);
    }

    #[test]
    fn a_limit_below_the_literal_text_is_placed_at_the_start() {
        let mut engine = Engine::new();
        engine.set_limits(Limits { max_output_bytes: 4, ..Limits::default() });
        let template = JsonTemplate::compile(&engine, r#"{"long literal": 1}"#).unwrap();
        let error = template.render_to_value(&Variables::new(), &Context::default()).unwrap_err();
        assert_eq!((error.kind(), error.span().map(|span| (span.line, span.column))), (ErrorKind::Limit, Some((1, 1))));
        let error = template.render_to_bytes(&Variables::new(), &Context::default(), &mut Vec::new()).unwrap_err();
        assert_eq!((error.kind(), error.span().map(|span| (span.line, span.column))), (ErrorKind::Limit, Some((1, 1))));
    }

    #[test]
    fn templates_are_send_and_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<JsonTemplate>();
    }
}
