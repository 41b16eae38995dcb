//! `courier enqueue SPEC --vars-jsonl FILE`: a spec queued once for each line of
//! variables, in batched transactions, with a JSON summary of what was queued and
//! which lines were not (by line number).

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::sync::Arc;

use clap::Args;
use courier::replay::{Delivery, Enqueued};
use courier::request::{CompiledRequest, Executor, ExecutorOptions};
use courier::{Context, Engine, Variables};
use serde::Serialize;

use super::Failure;
use super::allow::AllowArgs;
use super::inputs::read_json;
use super::secrets::CliSecrets;
use super::store::{store_at, store_location};

/// Lines rendered and saved in one transaction, at most: each transaction is one
/// flushed commit, so fewer and larger ones queue faster.
const BATCH: usize = 5000;
/// The bytes of input lines in one transaction, at most, so that a batch of long
/// lines (each up to [`MAX_LINE`]) does not hold gigabytes.
const BATCH_BYTES: usize = 16 << 20;
/// Errors listed in the summary; the count covers them all.
const LISTED_ERRORS: usize = 100;
/// The longest line read; a longer one is reported and skipped, so that one
/// runaway line cannot take all the memory.
const MAX_LINE: usize = 1 << 20;

/// `courier enqueue SPEC`
#[derive(Args, Debug)]
pub(crate) struct EnqueueArgs {
    /// The request spec (TOML or JSON), queued whether or not it says `queue = true`.
    spec: PathBuf,
    /// One JSON object of variables a line (strings or lists of strings, as --vars),
    /// each queued as one request; `-` reads stdin.
    #[arg(long, value_name = "FILE", required = true)]
    vars_jsonl: PathBuf,
    /// The replay store: a SQLite file or a postgres:// address [default: $COURIER_STORE, else courier-replay.db].
    #[arg(long, value_name = "FILE|URL")]
    store: Option<PathBuf>,
    /// Whose requests these are, stored with each record over the spec's `tenant`.
    #[arg(long, value_name = "T")]
    tenant: Option<String>,
    /// A JSON object of secrets, NAME → value (the environment's COURIER_SECRET_NAME comes first).
    #[arg(long, value_name = "FILE")]
    secrets: Option<PathBuf>,
    #[command(flatten)]
    allow: AllowArgs,
    #[command(flatten)]
    otlp: super::otlp::OtlpArgs,
}

/// A line that queued nothing.
#[derive(Debug, Serialize)]
struct LineError {
    line: usize,
    error: String,
}

/// What `courier enqueue` prints.
#[derive(Debug, Default, Serialize)]
struct Summary {
    queued: usize,
    failed: usize,
    errors: Vec<LineError>,
}

impl Summary {
    /// Counts a line that queued nothing. The errors of the first lines are kept:
    /// those of a batch come after the lines read past it, so they are sorted, and
    /// cut back now and then to bound the memory.
    fn fail(&mut self, line: usize, error: String) {
        self.failed += 1;
        self.errors.push(LineError { line, error });
        if self.errors.len() >= 2 * LISTED_ERRORS {
            self.first_errors();
        }
    }

    /// Keeps the errors of the first lines, in order.
    fn first_errors(&mut self) {
        self.errors.sort_by_key(|error| error.line);
        self.errors.truncate(LISTED_ERRORS);
    }
}

pub(crate) fn enqueue(args: EnqueueArgs) -> Result<(), Failure> {
    let _traces = args.otlp.start()?;
    let engine = Engine::new();
    if let Err(error) = std::fs::File::open(&args.spec) {
        return Err(Failure::usage(format!("cannot read {}: {error}", args.spec.display())));
    }
    let request =
        CompiledRequest::load(&engine, &args.spec).map_err(|error| Failure::error(format!("error: {error}\n")))?;
    let input: Box<dyn Read> = if args.vars_jsonl.as_os_str() == "-" {
        Box::new(std::io::stdin().lock())
    } else {
        Box::new(
            std::fs::File::open(&args.vars_jsonl)
                .map_err(|error| Failure::usage(format!("cannot read {}: {error}", args.vars_jsonl.display())))?,
        )
    };
    let secrets: HashMap<String, String> = match &args.secrets {
        Some(path) => serde_json::from_value(read_json(path)?).map_err(|error| {
            Failure::usage(format!("{}: secrets are a JSON object of strings: {error}", path.display()))
        })?,
        None => HashMap::new(),
    };
    let context = Context::default().with_secrets(Arc::new(CliSecrets { file: secrets }));
    let options = ExecutorOptions { destinations: args.allow.destinations()?, ..ExecutorOptions::default() };
    let store = store_at(&store_location(args.store))?;
    let delivery = Delivery::new(Executor::with_options(options)).with_store(store);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|error| Failure::error(format!("error: cannot start the runtime: {error}\n")))?;

    let mut summary = Summary::default();
    let mut lines = Lines::new(BufReader::new(input));
    let mut batch: Vec<(usize, Variables)> = Vec::new();
    let mut batch_bytes = 0;
    let mut stopped = None;
    loop {
        let line = lines.next();
        let end = line.is_none();
        match line {
            Some((number, Ok(text))) => match variables(&text) {
                Ok(Some(variables)) => {
                    batch_bytes += text.len();
                    batch.push((number, variables));
                }
                Ok(None) => {}
                Err(error) => summary.fail(number, error),
            },
            Some((number, Err(error))) => summary.fail(number, error),
            None => {}
        }
        if batch.len() == BATCH || batch_bytes >= BATCH_BYTES || (end && !batch.is_empty()) {
            let sets: Vec<&Variables> = batch.iter().map(|(_, variables)| variables).collect();
            match runtime.block_on(delivery.enqueue_many(&request, &sets, &context, args.tenant.as_deref())) {
                Ok(results) => tally(&mut summary, &batch, results),
                Err(error) => {
                    stopped = Some((batch.first().map_or(0, |(number, _)| *number), error));
                    break;
                }
            }
            batch.clear();
            batch_bytes = 0;
        }
        if end {
            break;
        }
    }
    summary.first_errors();
    let printed = super::eval::print((serde_json::to_string(&summary).unwrap_or_default() + "\n").as_bytes());
    if let Some((line, error)) = stopped {
        return Err(Failure::error(format!(
            "error: {error}; nothing from line {line} on was queued ({} requests before were)\n",
            summary.queued
        )));
    }
    printed?;
    match summary.failed {
        0 => Ok(()),
        _ => Err(Failure::silent()),
    }
}

/// Counts a batch's results.
fn tally(summary: &mut Summary, batch: &[(usize, Variables)], results: Vec<Enqueued>) {
    for ((number, _), result) in batch.iter().zip(results) {
        match result {
            Ok(_) => summary.queued += 1,
            Err(error) => summary.fail(*number, error),
        }
    }
}

/// The variables of a line; `None` for a blank line.
fn variables(text: &str) -> Result<Option<Variables>, String> {
    if text.trim().is_empty() {
        return Ok(None);
    }
    let json: serde_json::Value = serde_json::from_str(text).map_err(|error| format!("not JSON: {error}"))?;
    if !json.is_object() {
        return Err("not a JSON object of variables".to_owned());
    }
    Variables::from_json(&json).map(Some).map_err(|error| error.0)
}

/// The lines of the input, numbered from 1, each at most [`MAX_LINE`] bytes of UTF-8.
struct Lines<R> {
    reader: R,
    number: usize,
}

impl<R: BufRead> Lines<R> {
    fn new(reader: R) -> Self {
        Lines { reader, number: 0 }
    }

    /// The next line (without its line break), or why it cannot be read; `None` at the end.
    fn next(&mut self) -> Option<(usize, Result<String, String>)> {
        let mut bytes = Vec::new();
        let read = (&mut self.reader).take(MAX_LINE as u64 + 1).read_until(b'\n', &mut bytes);
        self.number += 1;
        match read {
            Ok(0) => return None,
            Err(error) => return Some((self.number, Err(format!("cannot be read: {error}")))),
            Ok(_) => {}
        }
        if bytes.last() == Some(&b'\n') {
            bytes.pop();
        } else if bytes.len() > MAX_LINE {
            self.skip_rest();
            return Some((self.number, Err(format!("longer than {MAX_LINE} bytes"))));
        }
        if bytes.last() == Some(&b'\r') {
            bytes.pop();
        }
        Some((self.number, String::from_utf8(bytes).map_err(|_| "not UTF-8".to_owned())))
    }

    /// Reads past the rest of an overlong line, a buffer at a time.
    fn skip_rest(&mut self) {
        loop {
            let Ok(buffer) = self.reader.fill_buf() else { return };
            if buffer.is_empty() {
                return;
            }
            match buffer.iter().position(|byte| *byte == b'\n') {
                Some(at) => {
                    self.reader.consume(at + 1);
                    return;
                }
                None => {
                    let length = buffer.len();
                    self.reader.consume(length);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_numbered_and_an_overlong_one_is_skipped_without_being_held() {
        let mut input = b"{\"a\": \"1\"}\r\n".to_vec();
        input.extend(std::iter::repeat_n(b'x', MAX_LINE + 10));
        input.extend(b"\n\xff\n{}");
        let mut lines = Lines::new(BufReader::new(input.as_slice()));
        assert_eq!(lines.next(), Some((1, Ok("{\"a\": \"1\"}".to_owned()))));
        assert_eq!(lines.next(), Some((2, Err(format!("longer than {MAX_LINE} bytes")))));
        assert_eq!(lines.next(), Some((3, Err("not UTF-8".to_owned()))));
        assert_eq!(lines.next(), Some((4, Ok("{}".to_owned()))));
        assert_eq!(lines.next(), None);
    }

    #[test]
    fn the_summary_lists_the_first_hundred_errors_in_order_and_counts_all() {
        let mut summary = Summary::default();
        for line in (1..=1000).rev() {
            summary.fail(line, "bad".to_owned());
            assert!(summary.errors.len() < 2 * LISTED_ERRORS);
        }
        summary.first_errors();
        assert_eq!(summary.failed, 1000);
        let lines: Vec<usize> = summary.errors.iter().map(|error| error.line).collect();
        assert_eq!(lines, (1..=LISTED_ERRORS).collect::<Vec<_>>());
    }

    #[test]
    fn a_line_must_be_an_object_of_variables() {
        assert!(variables("  ").unwrap().is_none());
        assert!(variables("[1]").unwrap_err().contains("not a JSON object"));
        assert!(variables("{").unwrap_err().starts_with("not JSON"));
        assert!(variables("{\"n\": {\"x\": 1}}").is_err());
        assert!(variables("{\"n\": \"1\", \"tags\": [\"a\", \"b\"]}").unwrap().is_some());
    }
}
