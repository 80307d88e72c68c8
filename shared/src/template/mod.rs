//! Templates: handlebars text per locale and channel, saved by tenants or built in, rendered
//! with a notification's data. Pure logic: templates never read files, and nothing registered
//! by name can be included, so a template sees only its own text and its data.
//!
//! - [`TemplateSource`] is a template as saved; [`TemplateSource::parse`] validates a
//!   `PUT /v1/templates/{name}` body and compiles it.
//! - [`CompiledTemplate`] renders one channel's part in the best locale for a request.
//! - [`builtin`] and [`builtins`] are the templates shipped with the service.

mod builtin;
mod compiled;
mod helpers;
mod names;
mod render;
mod source;
mod syntax;

pub use builtin::{builtin, builtins};
pub use names::{Locale, TemplateName};
pub use render::{
    CompiledTemplate, MAX_RENDERED_HTML_BYTES, MAX_RENDERED_OTHER_BYTES, MAX_RENDERED_TEXT_BYTES,
    RenderError, Rendered, RenderedContent,
};
pub use source::{EmailPart, PushPart, SmsPart, TemplateSource, Variant, WebhookPart};
