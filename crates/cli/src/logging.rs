//! Structured JSON logs on stderr (stdout is for what the user asked to see). `RUST_LOG`
//! overrides the level. Lines are handed to a writer thread through a bounded buffer: a stderr
//! that blocks (a full pipe nobody reads) never stalls the gateway's workers; lines that do not
//! fit are dropped and counted (`portcullis_log_lines_dropped_total`).

use std::sync::Arc;

use tracing_appender::non_blocking::{ErrorCounter, NonBlockingBuilder, WorkerGuard};
use tracing_subscriber::EnvFilter;

/// Lines waiting for the writer at most; beyond, new lines are dropped and counted.
pub const BUFFERED_LINES: usize = 10_000;

/// Keeps the writer thread alive (and flushes it when dropped), and counts dropped lines.
pub struct Logs {
    _writer: WorkerGuard,
    dropped: ErrorCounter,
}

impl Logs {
    /// A reading of the number of lines dropped so far.
    pub fn dropped(&self) -> Arc<dyn Fn() -> u64 + Send + Sync> {
        let counter = self.dropped.clone();
        Arc::new(move || counter.dropped_lines() as u64)
    }
}

pub fn init(default_level: &str) -> Logs {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_level));
    let (writer, guard) = NonBlockingBuilder::default()
        .lossy(true)
        .buffered_lines_limit(BUFFERED_LINES)
        .thread_name("portcullis-log-writer")
        .finish(std::io::stderr());
    let dropped = writer.error_counter();
    let _ = tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_current_span(false)
        .with_env_filter(filter)
        .with_writer(writer)
        .try_init();
    Logs {
        _writer: guard,
        dropped,
    }
}
