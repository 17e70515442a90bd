//! The commands, one module each (cargo's `src/bin/cargo/commands/`): each owns its
//! `#[derive(Args)]` struct and an async `run` that turns the arguments into options and
//! calls the engine in `crate::ops`. Groups of arguments several commands share (the
//! connection, the output store, the run, the test double's data set, limits and faults)
//! are declared once, in `args`.

pub mod args;
pub mod ddl;
pub mod demo;
pub mod load;
pub mod mock;
pub mod plan;
pub mod query;
pub mod resume;
pub mod schema;
pub mod serve;
pub mod show;
pub mod status;
pub mod sync;
pub mod webhooks;
pub mod worker;

/// `--log-format`: how log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Lines for people.
    Text,
    /// One JSON object per line, and a metric line (CloudWatch Embedded Metric Format, as
    /// the Lambda function writes) for every page and every completed sync.
    Json,
}

static LOG_FORMAT: std::sync::OnceLock<LogFormat> = std::sync::OnceLock::new();

/// Notes the `--log-format` of this run (set once, by `main`).
pub fn set_log_format(format: LogFormat) {
    LOG_FORMAT.set(format).ok();
}

/// The function name that metric lines carry, when `--log-format json` asks for them.
pub fn metrics_name() -> Option<String> {
    (LOG_FORMAT.get() == Some(&LogFormat::Json)).then(|| "affinity-sync-cli".to_string())
}

/// Ends a command with exit status `code`: `1` for a state a monitoring script must see
/// (`status` of a stopped sync), `2` for bad input. `error`, when there is one, is printed
/// first as every error is.
#[derive(Debug)]
pub struct Exit {
    pub code: i32,
    pub error: Option<anyhow::Error>,
}

impl std::fmt::Display for Exit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.error {
            Some(e) => write!(f, "{e:#}"),
            None => write!(f, "exit status {}", self.code),
        }
    }
}

impl std::error::Error for Exit {}
