//! The seed's logging: `enableLogging(level, handler, format)` and `getLogger()`.
//!
//! The library's own messages go through the `log` crate; [`Backend`] is its logger and
//! formats each record the seed's way (`[%(levelname)s/%(processName)s] %(message)s`),
//! with the current process's name. Levels are the seed's numbers (SUBDEBUG 5 …
//! CRITICAL 50). A forked child inherits the configuration.

use std::sync::{Arc, RwLock, RwLockWriteGuard};

use crate::error::{Error, Result};
use crate::process;
use crate::sys;

pub const SUBDEBUG: i32 = 5;
pub const DEBUG: i32 = 10;
pub const INFO: i32 = 20;
pub const SUBWARNING: i32 = 25;
pub const WARNING: i32 = 30;
pub const ERROR: i32 = 40;
pub const CRITICAL: i32 = 50;

/// The seed's default format.
pub const DEFAULT_FORMAT: &str = "[%(levelname)s/%(processName)s] %(message)s";

/// Receives each formatted line (no trailing newline) with its level and process name.
/// Called from whichever thread logs, the library's threads included.
pub type Handler = Box<dyn Fn(i32, &str, &str) + Send + Sync>;

/// One piece of a parsed format.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Text(String),
    LevelName,
    ProcessName,
    Message,
    Pid,
    AscTime,
}

pub(crate) struct Config {
    level: i32,
    /// `None`: standard error.
    handler: Option<Handler>,
    format: Vec<Piece>,
    /// The format as given, for a child started by `exec`.
    source: String,
}

static CONFIG: RwLock<Option<Arc<Config>>> = RwLock::new(None);

/// Turns logging on (again): messages at `level` or above go to `handler` (standard error
/// when `None`) formatted with `format` (the seed's default when `None`). Each call
/// replaces the whole earlier configuration.
pub fn enable(level: i32, handler: Option<Handler>, format: Option<&str>) -> Result<()> {
    if level < 0 {
        return Err(Error::invalid_argument(format!(
            "level {level} is negative"
        )));
    }
    let source = format.unwrap_or(DEFAULT_FORMAT).to_owned();
    let format = parse_format(&source)?;
    static BACKEND: Backend = Backend;
    // Fails only when the program installed its own `log` logger: then the library's
    // messages go there, and `log()` below still reaches our handler.
    let _ = log::set_logger(&BACKEND);
    log::set_max_level(level_filter(level));
    crate::lifecycle::install();
    *lock_config() = Some(Arc::new(Config {
        level,
        handler,
        format,
        source,
    }));
    Ok(())
}

/// What a child started by `exec` enables (its level and format; it logs to standard
/// error, a handler being a pointer of this process): `None` while logging is off, as
/// Python's spawn passes its `log_to_stderr` level.
pub(crate) fn for_child() -> Option<(i32, String)> {
    config().map(|config| (config.level, config.source.clone()))
}

/// Whether [`enable`] was called (the seed's `getLogger()` is not `None`).
pub fn enabled() -> bool {
    config().is_some()
}

/// The level messages must reach to be written (Python's `getEffectiveLevel()`), `None`
/// while logging is not enabled (the seed's `getLogger()` is `None`).
pub fn level() -> Option<i32> {
    config().map(|config| config.level)
}

/// Logs `message` at `level` (any number; the seed's are the constants above). Dropped
/// while logging is not enabled.
pub fn log(level: i32, message: &str) {
    let Some(config) = config() else { return };
    if level < config.level {
        return;
    }
    let name = process::current().name_string();
    let line = render(&config.format, level, &name, message);
    match &config.handler {
        Some(handler) => handler(level, &name, &line),
        None => {
            let mut bytes = line.into_bytes();
            bytes.push(b'\n');
            // Nowhere to report a failed write to standard error.
            let _ = sys::io::write_stderr(&bytes);
        }
    }
}

/// Locks the configuration for writing.
fn lock_config() -> RwLockWriteGuard<'static, Option<Arc<Config>>> {
    CONFIG
        .write()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The configuration, held across a `fork` (see `crate::lifecycle`): no other thread is
/// half-way through changing it when the child is made.
pub(crate) struct ForkGuard {
    _config: RwLockWriteGuard<'static, Option<Arc<Config>>>,
}

/// Before a `fork`: holds the configuration until the guard is dropped in both processes.
pub(crate) fn before_fork() -> ForkGuard {
    ForkGuard {
        _config: lock_config(),
    }
}

fn config() -> Option<Arc<Config>> {
    CONFIG
        .read()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .clone()
}

/// The seed's name of a level; others are `Level N`, as in Python.
fn level_name(level: i32) -> String {
    match level {
        SUBDEBUG => "SUBDEBUG".into(),
        DEBUG => "DEBUG".into(),
        INFO => "INFO".into(),
        SUBWARNING => "SUBWARNING".into(),
        WARNING => "WARNING".into(),
        ERROR => "ERROR".into(),
        CRITICAL => "CRITICAL".into(),
        n => format!("Level {n}"),
    }
}

fn parse_format(format: &str) -> Result<Vec<Piece>> {
    let mut pieces = Vec::new();
    let mut text = String::new();
    let mut rest = format;
    while let Some(at) = rest.find('%') {
        text.push_str(&rest[..at]);
        rest = &rest[at..];
        if let Some(after) = rest.strip_prefix("%%") {
            text.push('%');
            rest = after;
            continue;
        }
        let field = rest
            .strip_prefix("%(")
            .and_then(|r| r.find(')').map(|end| (&r[..end], &r[end + 1..])));
        let Some((name, after)) = field else {
            return Err(Error::invalid_argument(format!(
                "format: '%' at byte {} is neither '%%' nor '%(name)s'",
                format.len() - rest.len()
            )));
        };
        let conversion = after.chars().next();
        let piece = match (name, conversion) {
            ("levelname", Some('s')) => Piece::LevelName,
            ("processName", Some('s')) => Piece::ProcessName,
            ("message", Some('s')) => Piece::Message,
            ("asctime", Some('s')) => Piece::AscTime,
            ("process", Some('d' | 's')) => Piece::Pid,
            _ => {
                return Err(Error::invalid_argument(format!(
                    "format: unknown field '%({name}){}' (known: levelname, processName, message, asctime, process)",
                    conversion.map(String::from).unwrap_or_default()
                )))
            }
        };
        if !text.is_empty() {
            pieces.push(Piece::Text(std::mem::take(&mut text)));
        }
        pieces.push(piece);
        rest = &after[1..];
    }
    text.push_str(rest);
    if !text.is_empty() {
        pieces.push(Piece::Text(text));
    }
    Ok(pieces)
}

fn render(format: &[Piece], level: i32, process_name: &str, message: &str) -> String {
    let mut line = String::with_capacity(64 + message.len());
    for piece in format {
        match piece {
            Piece::Text(text) => line.push_str(text),
            Piece::LevelName => line.push_str(&level_name(level)),
            Piece::ProcessName => line.push_str(process_name),
            Piece::Message => line.push_str(message),
            Piece::Pid => line.push_str(&sys::process::getpid().to_string()),
            Piece::AscTime => line.push_str(&sys::io::asctime()),
        }
    }
    line
}

/// The `log` crate's levels in the seed's numbers (TRACE is SUBDEBUG).
fn seed_level(level: log::Level) -> i32 {
    match level {
        log::Level::Error => ERROR,
        log::Level::Warn => WARNING,
        log::Level::Info => INFO,
        log::Level::Debug => DEBUG,
        log::Level::Trace => SUBDEBUG,
    }
}

/// The most detailed `log` level that can still pass `level`.
fn level_filter(level: i32) -> log::LevelFilter {
    match level {
        l if l <= SUBDEBUG => log::LevelFilter::Trace,
        l if l <= DEBUG => log::LevelFilter::Debug,
        l if l <= INFO => log::LevelFilter::Info,
        l if l <= WARNING => log::LevelFilter::Warn,
        _ => log::LevelFilter::Error,
    }
}

/// The `log` crate backend: the library's own messages, formatted the seed's way.
struct Backend;

impl log::Log for Backend {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        config().is_some_and(|c| seed_level(metadata.level()) >= c.level)
    }

    fn log(&self, record: &log::Record<'_>) {
        log(seed_level(record.level()), &record.args().to_string());
    }

    fn flush(&self) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_format_renders_like_the_seed() {
        let format = parse_format(DEFAULT_FORMAT).unwrap();
        assert_eq!(
            render(&format, WARNING, "MainProcess", "doomed"),
            "[WARNING/MainProcess] doomed"
        );
        assert_eq!(render(&format, 7, "P", "m"), "[Level 7/P] m");
    }

    #[test]
    fn percent_escapes_and_pid() {
        let format = parse_format("%% %(process)d %(message)s 100%%").unwrap();
        let pid = sys::process::getpid();
        assert_eq!(render(&format, INFO, "x", "hi"), format!("% {pid} hi 100%"));
    }

    #[test]
    fn bad_formats_are_refused() {
        for bad in ["%(bogus)s", "%(message)", "%d", "tail %", "%(levelname)d"] {
            assert!(parse_format(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn level_is_the_last_enabled_one() {
        enable(32, None, None).unwrap();
        assert_eq!(level(), Some(32));
        assert!(enable(-1, None, None).is_err());
        assert_eq!(level(), Some(32));
        enable(37, Some(Box::new(|_, _, _| {})), None).unwrap();
        assert_eq!(level(), Some(37));
    }

    #[test]
    fn asctime_looks_like_python() {
        let format = parse_format("%(asctime)s").unwrap();
        let line = render(&format, INFO, "x", "");
        assert_eq!(line.len(), "2026-11-25 13:33:09,123".len(), "{line}");
        assert_eq!(&line[10..11], " ");
        assert_eq!(&line[19..20], ",");
    }
}
