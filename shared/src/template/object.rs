//! Reading one JSON object of a template body: what the whole template and every channel's
//! part are read with, so neither depends on the other.

use handlebars::Template;
use serde_json::Value;

use super::syntax;
use crate::validate::{FieldError, Fields};

/// A part that was given but broke a rule (the errors are recorded where it was read).
pub(super) struct Invalid;

/// One JSON object being read. `Fields` reads strings and reports unknown fields; the fields it
/// has no reader for (nested objects, booleans, any JSON) are taken raw through it.
pub(super) struct Object<'a> {
    pub(super) fields: Fields<'a>,
    prefix: String,
    /// Errors found by other means than `fields` (nested objects, syntax).
    pub(super) errors: Vec<FieldError>,
}

impl<'a> Object<'a> {
    pub(super) fn of(value: &'a Value, prefix: &str) -> Result<Self, FieldError> {
        let fields = Fields::of(value, prefix)?;
        match value {
            Value::Object(_) => Ok(Self {
                fields,
                prefix: prefix.to_owned(),
                errors: Vec::new(),
            }),
            _ => Err(FieldError::new(prefix, "type", "must be a JSON object")),
        }
    }

    pub(super) fn path(&self, name: &str) -> String {
        if self.prefix.is_empty() {
            name.to_owned()
        } else {
            format!("{}.{name}", self.prefix)
        }
    }

    /// The field's JSON (a null is read as absent, and refused when the object is finished).
    pub(super) fn raw(&mut self, name: &'static str) -> Option<&'a Value> {
        self.fields.optional_value(name)
    }

    /// A template text of at most `max_bytes`, compiled.
    pub(super) fn template(
        &mut self,
        name: &'static str,
        max_bytes: usize,
        single_line: bool,
    ) -> Result<Option<(String, Template)>, Invalid> {
        if !self.fields.has(name) {
            // Marks the field read, and reports it if it is not a string.
            let _ = self.fields.optional_str(name);
            return Ok(None);
        }
        let text = self.fields.body_text(name, max_bytes).ok_or(Invalid)?;
        if single_line && text.chars().any(char::is_control) {
            self.fields.error(
                name,
                "single_line",
                "must not contain CR, LF or other control characters",
            );
            return Err(Invalid);
        }
        match syntax::compile(&self.path(name), &text) {
            Ok(template) => Ok(Some((text, template))),
            Err(e) => {
                self.errors.push(e);
                Err(Invalid)
            }
        }
    }

    pub(super) fn required_template(
        &mut self,
        name: &'static str,
        max_bytes: usize,
        single_line: bool,
    ) -> Result<(String, Template), Invalid> {
        if !self.fields.has(name) {
            self.fields.error(name, "required", "is required");
        }
        self.template(name, max_bytes, single_line)?.ok_or(Invalid)
    }

    pub(super) fn finish(self) -> Vec<FieldError> {
        let mut errors = self.fields.finish().err().unwrap_or_default();
        errors.extend(self.errors);
        errors
    }
}

/// The object at `path`, or `Invalid` with the error recorded.
pub(super) fn object<'a>(
    value: &'a Value,
    path: &str,
    errors: &mut Vec<FieldError>,
) -> Result<Object<'a>, Invalid> {
    Object::of(value, path).map_err(|e| {
        errors.push(e);
        Invalid
    })
}
