//! `MimeDict`: RFC 2822-style headers and a body.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Headers (in order, repeats allowed) and a body.
///
/// Text form: `Name: value` lines, a blank line, then the body verbatim. On parse, lines may end
/// in CRLF or LF, and a line starting with a space or tab continues the previous header's value
/// (the line break is removed, the whitespace kept — RFC 2822 unfolding). [`MimeDict::render`]
/// writes CRLF line endings and folds values longer than 78 characters at a space, so what it
/// renders parses back to the same dict exactly. Parse and render share one grammar: whatever
/// parses renders, and renders back to text that parses to the same dict. Leading whitespace of
/// a value is never part of it (even when the value begins on a continuation line), and a CR
/// that does not end a line is refused.
///
/// ```
/// use kamaelia_codec::MimeDict;
/// let text = "Subject: a long\r\n  folded line\r\nTo: a@example.org\r\nTo: b@example.org\r\n\r\nHello";
/// let dict = MimeDict::parse(text).unwrap();
/// assert_eq!(dict.get("subject"), Some("a long  folded line"));
/// assert_eq!(dict.get_all("To").count(), 2);
/// assert_eq!(dict.body, "Hello");
/// assert_eq!(MimeDict::parse(&dict.render().unwrap()).unwrap(), dict);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MimeDict {
    /// `(name, value)` in order.
    pub headers: Vec<(String, String)>,
    /// Everything after the blank line.
    pub body: String,
}

/// What is wrong with a header block, and where.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MimeError {
    /// 1-based line number (0 for a dict being rendered).
    pub line: usize,
    /// What is wrong.
    pub kind: MimeErrorKind,
}

/// The kinds of [`MimeError`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum MimeErrorKind {
    /// A header line without a `:`.
    MissingColon,
    /// A header name that is empty or has characters other than printable ASCII without `:`.
    InvalidName(String),
    /// A continuation line before any header.
    ContinuationWithoutHeader,
    /// A value with a line break, or starting with whitespace (it could not round-trip).
    InvalidValue(String),
}

impl fmt::Display for MimeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let at = if self.line > 0 {
            format!("line {}: ", self.line)
        } else {
            String::new()
        };
        match &self.kind {
            MimeErrorKind::MissingColon => write!(f, "{at}a header line needs a ':'"),
            MimeErrorKind::InvalidName(n) => write!(f, "{at}invalid header name {n:?}"),
            MimeErrorKind::ContinuationWithoutHeader => {
                write!(f, "{at}a continuation line comes before any header")
            }
            MimeErrorKind::InvalidValue(v) => write!(
                f,
                "{at}header value {v:?} has a line break or leading whitespace"
            ),
        }
    }
}

impl std::error::Error for MimeError {}

fn valid_name(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| (33..=126).contains(&b) && b != b':')
}

fn valid_value(value: &str) -> bool {
    !value.contains(['\r', '\n']) && !value.starts_with([' ', '\t'])
}

const FOLD_AT: usize = 78;

impl MimeDict {
    /// Parses a header block and body.
    pub fn parse(text: &str) -> Result<MimeDict, MimeError> {
        let mut dict = MimeDict::default();
        let mut rest = text;
        let mut line_no = 0;
        loop {
            if rest.is_empty() {
                return Ok(dict); // headers only, no body
            }
            line_no += 1;
            let (line, after) = match rest.find('\n') {
                Some(i) => (&rest[..i], &rest[i + 1..]),
                None => (rest, ""),
            };
            let line = line.strip_suffix('\r').unwrap_or(line);
            rest = after;
            if line.is_empty() {
                dict.body = rest.to_string();
                return Ok(dict);
            }
            if line.contains('\r') {
                // A CR not ending its line: no line break may hide inside a value.
                return Err(MimeError {
                    line: line_no,
                    kind: MimeErrorKind::InvalidValue(line.to_string()),
                });
            }
            if line.starts_with([' ', '\t']) {
                let Some((_, value)) = dict.headers.last_mut() else {
                    return Err(MimeError {
                        line: line_no,
                        kind: MimeErrorKind::ContinuationWithoutHeader,
                    });
                };
                // Whitespace before the first text of a value is not part of it, on whichever
                // line that text comes.
                if value.is_empty() {
                    value.push_str(line.trim_start_matches([' ', '\t']));
                } else {
                    value.push_str(line);
                }
                continue;
            }
            let Some((name, value)) = line.split_once(':') else {
                return Err(MimeError {
                    line: line_no,
                    kind: MimeErrorKind::MissingColon,
                });
            };
            if !valid_name(name) {
                return Err(MimeError {
                    line: line_no,
                    kind: MimeErrorKind::InvalidName(name.to_string()),
                });
            }
            dict.headers.push((
                name.to_string(),
                value.trim_start_matches([' ', '\t']).to_string(),
            ));
        }
    }

    /// Renders the text form (CRLF line endings, long values folded at spaces). Fails for a
    /// name or value that could not be parsed back as it is.
    pub fn render(&self) -> Result<String, MimeError> {
        let mut out = String::new();
        for (name, value) in &self.headers {
            if !valid_name(name) {
                return Err(MimeError {
                    line: 0,
                    kind: MimeErrorKind::InvalidName(name.clone()),
                });
            }
            if !valid_value(value) {
                return Err(MimeError {
                    line: 0,
                    kind: MimeErrorKind::InvalidValue(value.clone()),
                });
            }
            out.push_str(name);
            out.push(':');
            if !value.is_empty() {
                out.push(' ');
            }
            push_folded(&mut out, value, name.len() + 2);
            out.push_str("\r\n");
        }
        out.push_str("\r\n");
        out.push_str(&self.body);
        Ok(out)
    }

    /// The first value of header `name` (names compare case-insensitively).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Every value of header `name`, in order.
    pub fn get_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Appends a header.
    pub fn push(&mut self, name: impl Into<String>, value: impl Into<String>) {
        self.headers.push((name.into(), value.into()));
    }
}

/// Writes `value`, breaking before a space once a line passes [`FOLD_AT`] characters. A break
/// is only made where the next character is a space, so unfolding restores the value exactly.
fn push_folded(out: &mut String, value: &str, mut column: usize) {
    let mut chars = value.char_indices().peekable();
    let mut start = 0;
    while let Some((i, c)) = chars.next() {
        column += 1;
        if column > FOLD_AT && c != ' ' && chars.peek().is_some_and(|(_, next)| *next == ' ') {
            let end = i + c.len_utf8();
            out.push_str(&value[start..end]);
            out.push_str("\r\n");
            start = end;
            column = 0;
        }
    }
    out.push_str(&value[start..]);
}
