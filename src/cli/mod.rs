//! The command line: parses arguments with clap, loads inputs, calls the library,
//! and maps outcomes to exit statuses (0 success, 1 an error in what was evaluated
//! or sent, 2 bad usage). Results go to stdout, diagnostics to stderr.

mod allow;
mod check;
mod destinations;
mod enqueue;
mod eval;
mod functions;
mod import_curl;
mod inputs;
mod log;
mod otlp;
mod proxy;
mod replay;
mod secrets;
mod send;
mod serve;
mod store;
mod terminal;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Exit status for an error in the template, expression, request or its outcome.
const FAILURE: u8 = 1;
/// Exit status for bad usage: unknown options, unreadable input files.
const USAGE: u8 = 2;

#[derive(Parser)]
#[command(name = "courier", version, about = "Declarative API calls from chat flows")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Evaluate an expression and print its typed result as JSON.
    Eval(eval::EvalArgs),
    /// Render a template file (or - for stdin) in a context.
    Render(eval::RenderArgs),
    /// Report every problem in template files: syntax, JSON structure, unknown
    /// functions, argument counts, certain errors, likely mistakes.
    Check(check::CheckArgs),
    /// Run a request spec and print its outcome as one JSON object.
    Send(send::SendArgs),
    /// Print the event catalog, marking the events courier emits.
    Events(send::EventsArgs),
    /// Print the function catalog: parameters, result, summary and an example of each.
    Functions(functions::FunctionsArgs),
    /// List, replay or drop the requests kept in the replay store.
    Replay(replay::ReplayArgs),
    /// Queue a request spec once for each line of a JSONL file of variables.
    Enqueue(enqueue::EnqueueArgs),
    /// Send the queued requests that are due.
    Worker(replay::WorkerArgs),
    /// List the store's destination hosts: requests in flight, circuit breaker, failures, next probe.
    Destinations(destinations::DestinationsArgs),
    /// Serve the JSON API and the playground page for template authors.
    Serve(serve::ServeArgs),
    /// Turn a request written for another tool into a request spec (`import curl`).
    Import(import_curl::ImportArgs),
}

/// How a command prints: for people, or as JSON for editors, CI and other tools.
#[derive(clap::ValueEnum, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) enum Format {
    /// Text for people (diagnostics with a caret on stderr, tables, one event a line).
    #[default]
    Human,
    /// JSON on stdout.
    Json,
}

/// A command's failure: the message for stderr and the exit status.
pub(crate) struct Failure {
    message: String,
    status: u8,
}

impl Failure {
    /// An error in what was evaluated (exit 1); the message is printed as it is.
    pub(crate) fn error(message: impl Into<String>) -> Self {
        Failure { message: message.into(), status: FAILURE }
    }

    /// Bad usage (exit 2).
    pub(crate) fn usage(message: impl Into<String>) -> Self {
        Failure { message: format!("error: {}\n", message.into()), status: USAGE }
    }

    /// An error already reported (exit 1, nothing more to print).
    pub(crate) fn silent() -> Self {
        Failure { message: String::new(), status: FAILURE }
    }

    /// Both failures: the messages joined, the worse status.
    pub(crate) fn and(self, other: Failure) -> Self {
        Failure { message: self.message + &other.message, status: self.status.max(other.status) }
    }
}

pub(crate) fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Eval(args) => eval::eval(args),
        Command::Render(args) => eval::render(args),
        Command::Check(args) => check::check(args),
        Command::Send(args) => send::send(args),
        Command::Events(args) => send::events(args),
        Command::Functions(args) => functions::functions(args),
        Command::Replay(args) => replay::replay(args),
        Command::Enqueue(args) => enqueue::enqueue(args),
        Command::Worker(args) => replay::worker(args),
        Command::Destinations(args) => destinations::destinations(args),
        Command::Serve(args) => serve::serve(args),
        Command::Import(args) => import_curl::import(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprint!("{}", failure.message);
            ExitCode::from(failure.status)
        }
    }
}
