//! `--explain`: each response carries `Henaserver-Explain`, a short trace
//! of how the pipeline reached it: the path as decoded, the file or index
//! chosen, the representation and why, the rule, fallback, clean URL or
//! error page applied, the precondition or range outcome, and for a 403 or
//! 404 the exact reason. Paths are relative to the root; nothing outside
//! it is named.
//!
//! The trace travels with the request's context through the pipeline's
//! steps, as a [`Trace`].

use std::cell::RefCell;

/// The response field.
pub const FIELD: &str = "Henaserver-Explain";
/// The longest trace sent; a longer one is cut.
pub const MAX_TRACE: usize = 1024;

/// The trace of one response, carried with the request's context: notes
/// are made only when it is on, and cost nothing otherwise.
#[derive(Debug, Default)]
pub struct Trace(Option<RefCell<Vec<String>>>);

impl Trace {
    /// A trace that gathers notes when `on`.
    pub fn new(on: bool) -> Trace {
        Trace(on.then(|| RefCell::new(Vec::new())))
    }

    /// Whether notes are gathered (so that they are only made then).
    pub fn on(&self) -> bool {
        self.0.is_some()
    }

    /// Adds a step, if the trace is on.
    pub fn note(&self, step: impl FnOnce() -> String) {
        if let Some(steps) = &self.0 {
            steps.borrow_mut().push(step());
        }
    }

    /// Forgets the steps so far (the pipeline runs again from the start).
    pub fn restart(&self) {
        if let Some(steps) = &self.0 {
            steps.borrow_mut().clear();
        }
    }

    /// The trace as a field value (visible ASCII, steps joined by `; `),
    /// when it is on.
    pub fn finish(self) -> Option<String> {
        let steps = self.0?.into_inner();
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
            value.push_str("...");
        }
        Some(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notes_only_while_on() {
        let off = Trace::new(false);
        off.note(|| "lost".into());
        assert!(!off.on());
        assert_eq!(off.finish(), None);
        let on = Trace::new(true);
        on.note(|| "path café.html".into());
        on.note(|| "file".into());
        assert_eq!(on.finish().unwrap(), "path caf\\u{e9}.html; file");
        let long = Trace::new(true);
        long.note(|| "x".repeat(MAX_TRACE + 10));
        assert_eq!(long.finish().unwrap().len(), MAX_TRACE + 3);
    }
}
