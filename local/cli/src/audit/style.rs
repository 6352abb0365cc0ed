//! Colour on a terminal, plain text when piped (or when `NO_COLOR` is set).

use std::io::IsTerminal;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Style {
    pub color: bool,
}

impl Style {
    /// Plain text: for tests, files and pipes.
    #[cfg_attr(not(test), allow(dead_code))]
    pub const PLAIN: Style = Style { color: false };

    /// Colour when standard output is a terminal and `NO_COLOR` is not set.
    pub fn for_stdout() -> Style {
        Style {
            color: std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none(),
        }
    }

    /// Colour when standard error is a terminal and `NO_COLOR` is not set.
    pub fn for_stderr() -> Style {
        Style {
            color: std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none(),
        }
    }

    fn paint(&self, code: &str, s: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_string()
        }
    }
    pub fn bold(&self, s: &str) -> String {
        self.paint("1", s)
    }
    pub fn dim(&self, s: &str) -> String {
        self.paint("2", s)
    }
    pub fn red(&self, s: &str) -> String {
        self.paint("31", s)
    }
    pub fn green(&self, s: &str) -> String {
        self.paint("32", s)
    }
    pub fn yellow(&self, s: &str) -> String {
        self.paint("33", s)
    }

    /// An execution or action status, coloured by what it means.
    pub fn status(&self, s: &str) -> String {
        match s {
            "SUCCEEDED" | "done" | "succeeded" | "approved" => self.green(s),
            "FAILED" | "TIMED_OUT" | "ABORTED" | "failed" | "rejected" => self.red(s),
            "RUNNING" | "running" | "caught" | "already" | "timed-out" => self.yellow(s),
            _ => s.to_string(),
        }
    }
}

/// Pad `s` to `width` visible characters (colour codes excluded), then colour-safe.
pub fn pad(s: &str, width: usize) -> String {
    let visible = s.chars().count();
    if visible >= width {
        s.to_string()
    } else {
        format!("{s}{}", " ".repeat(width - visible))
    }
}
