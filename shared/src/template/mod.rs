//! Templates: handlebars text per locale and channel, saved by tenants or built in, rendered
//! with a notification's data. Pure logic: templates never read files, and nothing registered
//! by name can be included, so a template sees only its own text and its data.
//!
//! - [`TemplateSource`] is a template as saved; [`TemplateSource::parse`] validates a
//!   `PUT /v1/templates/{name}` body and compiles it.
//! - [`CompiledTemplate`] renders one channel's part in the best locale for a request.
//! - [`builtin`] and [`builtins`] are the templates shipped with the service.
//!
//! A channel's template part is one module, `part/<channel>.rs`: its source type, how it is
//! read, checked and compiled, its compiled form and how it renders. `part/mod.rs` reaches them
//! through exhaustive matches on `Channel`. Files depend one way: `source` (the whole template)
//! and `compiled` (locale resolution) use `part`; the channel modules use what every part
//! shares, `object` (the reader) and `render` (the bounded renderer, `RenderedContent`,
//! `RenderError`), which use neither.

mod builtin;
mod compiled;
mod helpers;
mod names;
mod object;
mod part;
mod render;
mod source;
mod syntax;

pub use builtin::{builtin, builtins};
pub use compiled::CompiledTemplate;
pub use names::{Locale, TemplateName};
pub use part::{
    ChatPart, EmailPart, InAppPart, MAX_CHAT_JSON_BYTES, MAX_CHAT_TEXT_BYTES,
    MAX_IN_APP_ACTION_URL_BYTES, MAX_IN_APP_BODY_BYTES, MAX_IN_APP_TITLE_BYTES,
    MAX_RENDERED_HTML_BYTES, MAX_RENDERED_TEXT_BYTES, PushPart, SmsPart, Variant, WebhookPart,
    html_to_text,
};
pub use render::{MAX_RENDERED_OTHER_BYTES, RenderError, Rendered, RenderedContent};
pub use source::TemplateSource;

/// Fixtures the unit tests of the template modules share.
#[cfg(test)]
pub(crate) mod tests {
    use serde_json::Value;

    use super::*;
    use crate::domain::Channel;

    /// The (field, rule) of every error `body` is refused with, sorted.
    pub fn errors(body: Value) -> Vec<(String, &'static str)> {
        let mut errors: Vec<_> = TemplateSource::parse(&body)
            .err()
            .unwrap_or_else(|| panic!("{body} should be refused"))
            .into_iter()
            .map(|e| (e.field, e.rule))
            .collect();
        errors.sort();
        errors
    }

    pub fn one(field: &str, rule: &'static str) -> Vec<(String, &'static str)> {
        vec![(field.to_owned(), rule)]
    }

    pub fn sms_body(message: Value) -> Value {
        serde_json::json!({"locales": {"en": {"sms": {"message": message}}}})
    }

    pub fn compiled(body: Value) -> CompiledTemplate {
        match TemplateSource::parse(&body) {
            Ok((_, compiled)) => compiled,
            Err(errors) => panic!("{errors:?}"),
        }
    }

    pub fn locale(raw: &str) -> Locale {
        Locale::parse(raw).unwrap()
    }

    pub fn sms(template: &CompiledTemplate, data: Value) -> Result<String, RenderError> {
        match template.render(Channel::Sms, None, &data)?.content {
            RenderedContent::Sms { message } => Ok(message),
            other => panic!("{other:?}"),
        }
    }

    pub fn sms_template(message: &str, strict: bool) -> CompiledTemplate {
        compiled(
            serde_json::json!({"strict": strict, "locales": {"en": {"sms": {"message": message}}}}),
        )
    }
}
