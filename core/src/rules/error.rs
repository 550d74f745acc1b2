//! Rule-file errors that point at the problem: file, line, column, rule name, what is wrong.

use std::fmt;
use std::ops::Range;

use crate::text::line_col;

/// One problem in a rules file (or in a list file it names).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    pub file: String,
    pub line: usize,
    pub column: usize,
    /// The route rule or section the problem is in, when there is one.
    pub rule: Option<String>,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}: ", self.file, self.line, self.column)?;
        if let Some(rule) = &self.rule {
            write!(f, "{rule}: ")?;
        }
        f.write_str(&self.message)
    }
}

/// Every problem found in a rules file; the file is not used if there is any.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct InvalidRules {
    pub errors: Vec<ConfigError>,
}

impl fmt::Display for InvalidRules {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.errors.len();
        writeln!(f, "{n} error{} in rules:", if n == 1 { "" } else { "s" })?;
        for e in &self.errors {
            writeln!(f, "  {e}")?;
        }
        Ok(())
    }
}

/// Collects errors against one source text, turning byte spans into line and column.
pub struct Errors<'a> {
    file: &'a str,
    text: &'a str,
    pub list: Vec<ConfigError>,
}

impl<'a> Errors<'a> {
    pub fn new(file: &'a str, text: &'a str) -> Self {
        Self {
            file,
            text,
            list: Vec::new(),
        }
    }

    /// Records `message` at `span`, in `rule` if given.
    pub fn at(&mut self, span: Range<usize>, rule: Option<&str>, message: impl Into<String>) {
        let (line, column) = line_col(self.text, span.start);
        self.list.push(ConfigError {
            file: self.file.to_string(),
            line,
            column,
            rule: rule.map(str::to_string),
            message: message.into(),
        });
    }
}

/// regex's syntax errors span several lines (pattern, caret, message); keep the message.
pub(super) fn one_line(e: &regex::Error) -> String {
    let text = e.to_string();
    let last = text.lines().last().unwrap_or("").trim();
    last.strip_prefix("error: ").unwrap_or(last).to_string()
}
