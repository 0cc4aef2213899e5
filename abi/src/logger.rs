//! The `log` crate's records go to the host's log (`proxy_log`), at the level the host prints:
//! [`follow_host_level`] re-reads it, so nothing is formatted that the host would drop.

use crate::host;

/// proxy-wasm log levels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LogLevel {
    Trace = 0,
    Debug = 1,
    Info = 2,
    Warn = 3,
    Error = 4,
}

struct HostLog;

static LOGGER: HostLog = HostLog;

impl log::Log for HostLog {
    fn enabled(&self, metadata: &log::Metadata) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &log::Record) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let level = match record.level() {
            log::Level::Trace => LogLevel::Trace,
            log::Level::Debug => LogLevel::Debug,
            log::Level::Info => LogLevel::Info,
            log::Level::Warn => LogLevel::Warn,
            log::Level::Error => LogLevel::Error,
        };
        host::log(level as u32, &record.args().to_string());
    }

    fn flush(&self) {}
}

/// Installs the host logger (once) and sets the level the host prints now.
pub fn follow_host_level() {
    let _ = log::set_logger(&LOGGER);
    let level = match host::log_level() {
        Some(0) => log::LevelFilter::Trace,
        Some(1) => log::LevelFilter::Debug,
        Some(2) => log::LevelFilter::Info,
        Some(3) => log::LevelFilter::Warn,
        Some(_) => log::LevelFilter::Error,
        None => log::LevelFilter::Info,
    };
    log::set_max_level(level);
}
