//! Logs as one JSON object per line in the shape Cloud Logging understands (`severity`,
//! `message`, `httpRequest`, `timestamp`), or as plain text for local use.

use std::fmt;
use std::io::{self, Write};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use serde_json::Value;
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, MakeWriter};
use tracing_subscriber::registry::LookupSpan;

/// How long a line may wait in memory before the writer thread writes it out.
const WRITE_INTERVAL: Duration = Duration::from_millis(10);
/// Buffered bytes that wake the writer thread before the interval is up.
const WAKE_BYTES: usize = 256 * 1024;
/// Buffered bytes at which logging waits for the writer (nothing is dropped).
const MAX_BYTES: usize = 16 * 1024 * 1024;

/// Install the global subscriber (level from `RUST_LOG`, default `info`), writing to stdout
/// through a background thread. Keep the guard until exit: dropping it writes out the lines
/// still buffered.
pub fn init(json: bool) -> io::Result<LogGuard> {
    let (writer, guard) = BackgroundStdout::spawn()?;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer);
    let result = if json {
        builder.event_format(CloudLoggingFormat).try_init()
    } else {
        builder.with_ansi(false).try_init()
    };
    // Already initialised (e.g. twice in tests): keep the first subscriber.
    let _ = result;
    Ok(guard)
}

/// Log output for `tracing`: each event is formatted on the calling thread and appended to a
/// shared buffer; a writer thread writes the buffer out every [`WRITE_INTERVAL`] (sooner when
/// it grows large) in one `write`. A request then never waits for a `write` into a pipe (on
/// Vertex AI, the container runtime's log collector) and never wakes another thread: with
/// stdout a pipe, writing each line inline cost 14 µs of the 42 µs of CPU a single-instance
/// request took, and handing each line to a thread through a channel cost more than it saved
/// when stdout was cheap (BENCHMARKS.md).
#[derive(Clone)]
pub struct BackgroundStdout {
    shared: Arc<Shared>,
}

struct Shared {
    state: Mutex<Buffer>,
    /// Signalled when the buffer is large or a flush is requested.
    wake_writer: Condvar,
    /// Signalled after every write-out.
    written: Condvar,
}

#[derive(Default)]
struct Buffer {
    bytes: Vec<u8>,
    /// Flushes asked for, and the last one completed.
    flush_requested: u64,
    flush_done: u64,
}

/// Writes out the buffered log lines when dropped (waits up to two seconds).
pub struct LogGuard {
    shared: Arc<Shared>,
}

impl BackgroundStdout {
    /// Start the writer thread for stdout.
    pub fn spawn() -> io::Result<(BackgroundStdout, LogGuard)> {
        Self::spawn_to(io::stdout())
    }

    /// Start a writer thread for `out` (tests use a buffer).
    pub fn spawn_to(out: impl Write + Send + 'static) -> io::Result<(BackgroundStdout, LogGuard)> {
        let shared = Arc::new(Shared {
            state: Mutex::new(Buffer::default()),
            wake_writer: Condvar::new(),
            written: Condvar::new(),
        });
        let for_thread = shared.clone();
        std::thread::Builder::new()
            .name("log-writer".into())
            .spawn(move || write_out(&for_thread, out))?;
        Ok((
            BackgroundStdout {
                shared: shared.clone(),
            },
            LogGuard { shared },
        ))
    }
}

/// Lock, recovering from a thread that panicked while holding the lock (the buffer is
/// still a valid byte buffer).
fn lock(shared: &Shared) -> MutexGuard<'_, Buffer> {
    shared.state.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The writer thread: swap the buffer out, write it, repeat.
fn write_out(shared: &Shared, mut out: impl Write) {
    let mut batch = Vec::new();
    loop {
        let state = lock(shared);
        let (mut state, _) = shared
            .wake_writer
            .wait_timeout_while(state, WRITE_INTERVAL, |b| {
                b.bytes.len() < WAKE_BYTES && b.flush_requested == b.flush_done
            })
            .unwrap_or_else(PoisonError::into_inner);
        std::mem::swap(&mut batch, &mut state.bytes);
        let flushing = state.flush_requested;
        drop(state);
        if !batch.is_empty() {
            // A write error (a closed pipe) cannot be logged anywhere; drop the batch so that
            // logging never blocks.
            let _ = out.write_all(&batch).and_then(|()| out.flush());
            batch.clear();
        }
        lock(shared).flush_done = flushing;
        shared.written.notify_all();
    }
}

impl Drop for LogGuard {
    fn drop(&mut self) {
        let mut state = lock(&self.shared);
        state.flush_requested += 1;
        let target = state.flush_requested;
        self.shared.wake_writer.notify_one();
        let _ = self
            .shared
            .written
            .wait_timeout_while(state, Duration::from_secs(2), |b| b.flush_done < target);
    }
}

/// One event's text, appended to the shared buffer when dropped.
pub struct BufferedLine<'a> {
    line: Vec<u8>,
    shared: &'a Shared,
}

impl Write for BufferedLine<'_> {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.line.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for BufferedLine<'_> {
    fn drop(&mut self) {
        if self.line.is_empty() {
            return;
        }
        let mut state = lock(self.shared);
        while state.bytes.len() >= MAX_BYTES {
            // The reader of stdout is far behind: wait rather than drop lines.
            state = self
                .shared
                .written
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
        state.bytes.extend_from_slice(&self.line);
        if state.bytes.len() >= WAKE_BYTES {
            self.shared.wake_writer.notify_one();
        }
    }
}

impl<'a> MakeWriter<'a> for BackgroundStdout {
    type Writer = BufferedLine<'a>;

    fn make_writer(&'a self) -> Self::Writer {
        BufferedLine {
            line: Vec::with_capacity(384),
            shared: &self.shared,
        }
    }
}

/// Cloud Logging's structured JSON.
pub struct CloudLoggingFormat;

/// An event's fields in the order they were recorded; `httpRequest` (JSON text written by
/// the access log) is kept as text and embedded as an object without being parsed into a
/// tree.
#[derive(Default)]
struct Fields {
    message: Option<String>,
    values: Vec<(&'static str, Value)>,
    http_request: Option<String>,
}

impl Fields {
    fn insert(&mut self, field: &Field, value: Value) {
        self.values.push((field.name(), value));
    }
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message = Some(value.to_string());
        } else {
            self.insert(field, Value::String(value.to_string()));
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        let text = format!("{value:?}");
        match field.name() {
            "message" => self.message = Some(text),
            // Embedded as an object only if it is JSON (checked without building a tree).
            "httpRequest"
                if serde_json::from_str::<serde::de::IgnoredAny>(&text).is_ok()
                    && text.starts_with('{') =>
            {
                self.http_request = Some(text)
            }
            _ => self.insert(field, Value::String(text)),
        }
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.insert(field, Value::from(value));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.insert(field, Value::from(value));
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        self.insert(field, Value::from(value));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.insert(field, Value::from(value));
    }
}

fn severity(level: &Level) -> &'static str {
    match *level {
        Level::ERROR => "ERROR",
        Level::WARN => "WARNING",
        Level::INFO => "INFO",
        _ => "DEBUG",
    }
}

/// A JSON string literal.
fn quoted(text: &str) -> String {
    Value::from(text).to_string()
}

impl<S, N> FormatEvent<S, N> for CloudLoggingFormat
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let mut fields = Fields::default();
        event.record(&mut fields);
        let metadata = event.metadata();
        write!(
            writer,
            r#"{{"severity":"{}","message":{},"timestamp":"{}","target":{}"#,
            severity(metadata.level()),
            quoted(fields.message.as_deref().unwrap_or("")),
            timestamp(),
            quoted(metadata.target()),
        )?;
        for (name, value) in &fields.values {
            write!(writer, ",{}:{value}", quoted(name))?;
        }
        if let Some(http_request) = &fields.http_request {
            write!(writer, r#","httpRequest":{http_request}"#)?;
        }
        writeln!(writer, "}}")
    }
}

/// RFC 3339 UTC time with microseconds, without a date library.
fn timestamp() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let secs = now.as_secs() as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:06}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        now.subsec_micros()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Write for Captured {
        fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    /// Lines from many threads arrive whole, each thread's in order, all of them once the
    /// guard is dropped.
    #[test]
    fn background_writer_keeps_every_line_whole_and_flushes_on_drop() {
        let out = Captured::default();
        let (writer, guard) = BackgroundStdout::spawn_to(out.clone()).unwrap();
        std::thread::scope(|s| {
            for t in 0..4 {
                let writer = &writer;
                s.spawn(move || {
                    for i in 0..5_000 {
                        let mut line = writer.make_writer();
                        // Written in two pieces, as a formatter does.
                        write!(line, "thread {t} ").unwrap();
                        writeln!(line, "line {i}").unwrap();
                    }
                });
            }
        });
        drop(guard);
        let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 20_000);
        for t in 0..4 {
            let prefix = format!("thread {t} line ");
            let numbers: Vec<usize> = lines
                .iter()
                .filter_map(|l| l.strip_prefix(&prefix))
                .map(|n| n.parse().unwrap())
                .collect();
            assert_eq!(numbers, (0..5_000).collect::<Vec<_>>());
        }
    }

    #[test]
    fn timestamp_is_rfc3339_utc() {
        let t = timestamp();
        assert_eq!(t.len(), 27, "{t}");
        assert!(
            t.starts_with("20") && t.ends_with('Z') && t.as_bytes()[10] == b'T',
            "{t}"
        );
    }
}
