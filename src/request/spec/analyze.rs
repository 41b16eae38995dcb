//! The loader's one path for `send` and `check`: parse, check and compile a
//! spec's text, and place each problem in the file the author edits.

use std::path::Path;
use std::sync::Arc;

use crate::eval::Engine;
use crate::request::fields;
use crate::request::source::{SpecFormat, SpecSource};
use crate::syntax::LineIndex;

use super::*;

/// What loading a spec's text found: the request or every problem (placed in the
/// text), and the templates met on the way.
pub(crate) struct Analysis {
    pub(crate) result: Result<CompiledRequest, SpecError>,
    pub(crate) templates: Vec<TemplateField>,
    pub(crate) source: Option<SpecSource>,
}

/// Parses, checks and compiles a spec's text, collecting every problem rather
/// than stopping at the first: the loader's one path, for `send` and `check` alike.
pub(crate) fn analyze(engine: &Engine, text: &str, format: SpecFormat, base_dir: &Path) -> Analysis {
    let index = LineIndex::new(text);
    let source = match SpecSource::parse(text, format) {
        Ok(source) => source,
        Err(failure) => {
            let mut problem = Problem::new("", failure.message);
            problem.span = Some(index.span(failure.at.start as u32, failure.at.end as u32));
            let result = Err(SpecError { file: None, problems: vec![problem] });
            return Analysis { result, templates: Vec::new(), source: None };
        }
    };
    let mut problems = Problems::default();
    let request = fields::deserialize(&source.tree, &mut problems)
        .and_then(|spec| CompiledRequest::compile_into(engine, spec, base_dir, &mut problems));
    let Problems { found, templates } = problems;
    let mut placed: Vec<Problem> =
        found.into_iter().map(|problem| place(problem, &source, &templates, &index)).collect();
    // In the order of the file: the spec's own text first, then any payload file.
    placed.sort_by_key(|problem| (problem.file.clone(), problem.span.map(|span| span.start)));
    let result = match request {
        Some(mut request) if placed.is_empty() => {
            request.origin = Some(Arc::new(Origin {
                text: Arc::from(text),
                file: None,
                values: source.places.iter().map(|(field, at)| (field.clone(), at.value.clone())).collect(),
                files: templates
                    .iter()
                    .filter_map(|template| Some((template.field.clone(), template.file.clone()?)))
                    .collect(),
            }));
            Ok(request.hashed(text))
        }
        _ => Err(SpecError { file: None, problems: placed }),
    };
    Analysis { result, templates, source: Some(source) }
}

/// Places a problem in the file the author edits: a template problem at its
/// line and column in the spec's text (or in its payload file), any other at its
/// field's key or value.
fn place(mut problem: Problem, source: &SpecSource, templates: &[TemplateField], index: &LineIndex) -> Problem {
    if problem.file.is_some() {
        // In a payload file, the template's own place is the file's.
        problem.span = problem.in_template;
        return problem;
    }
    let inside = problem.in_template.and_then(|span| {
        templates
            .iter()
            .any(|template| template.field == problem.field)
            .then(|| source.inside(&problem.field, span.range()))
            .flatten()
    });
    let range = inside.clone().or_else(|| {
        let located = source.place(&problem.field)?;
        let pointed = problem.message.starts_with("unknown field");
        Some(if pointed { located.key.clone().unwrap_or(located.value.clone()) } else { located.value.clone() })
    });
    problem.span =
        Some(range.map_or_else(|| index.span(0, 0), |range| index.span(range.start as u32, range.end as u32)));
    if inside.is_none()
        && let Some(span) = problem.in_template
    {
        // The template's text could not be followed to the file: say where in it.
        problem.message = format!("line {}, column {} of the value: {}", span.line, span.column, problem.message);
    }
    problem
}
