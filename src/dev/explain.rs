//! `--explain`: each response carries `Henaserver-Explain`, a short trace
//! of how the pipeline reached it: the path as decoded, the file or index
//! chosen, the representation and why, the rule, fallback, clean URL or
//! error page applied, the precondition or range outcome, and for a 403 or
//! 404 the exact reason. Paths are relative to the root; nothing outside
//! it is named.
//!
//! The pipeline's steps run without waiting, on one thread, so the trace
//! is gathered in a thread-local between [`begin`] and [`finish`].

use std::cell::RefCell;

/// The response field.
pub const FIELD: &str = "Henaserver-Explain";
/// The longest trace sent; a longer one is cut.
pub const MAX_TRACE: usize = 1024;

thread_local! {
    static TRACE: RefCell<Option<Vec<String>>> = const { RefCell::new(None) };
}

/// Starts gathering a trace on this thread.
pub fn begin() {
    TRACE.with(|t| *t.borrow_mut() = Some(Vec::new()));
}

/// Whether a trace is being gathered (so that notes are only made then).
pub fn on() -> bool {
    TRACE.with(|t| t.borrow().is_some())
}

/// Adds a step to the trace being gathered, if one is.
pub fn note(step: impl FnOnce() -> String) {
    TRACE.with(|t| {
        if let Some(trace) = t.borrow_mut().as_mut() {
            trace.push(step());
        }
    });
}

/// The trace gathered since [`begin`], as a field value (visible ASCII,
/// steps joined by `; `), and stops gathering.
pub fn finish() -> Option<String> {
    let steps = TRACE.with(|t| t.borrow_mut().take())?;
    let mut value = String::new();
    for step in steps {
        if !value.is_empty() {
            value.push_str("; ");
        }
        for c in step.chars() {
            match c {
                ' '..='~' => value.push(c),
                _ => value.extend(c.escape_unicode()),
            }
        }
    }
    if value.len() > MAX_TRACE {
        let mut end = MAX_TRACE;
        while !value.is_char_boundary(end) {
            end -= 1;
        }
        value.truncate(end);
        value.push('…');
        value = value.replace('…', "...");
    }
    Some(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notes_only_while_on() {
        note(|| "lost".into());
        assert_eq!(finish(), None);
        begin();
        note(|| "path café.html".into());
        note(|| "file".into());
        assert_eq!(finish().unwrap(), "path caf\\u{e9}.html; file");
        assert!(!on());
    }
}
