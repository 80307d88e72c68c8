//! What a request asks to send: inline text, or a template with its data. One parser and one
//! renderer serve a single notification, every recipient of a batch, and the compatible
//! routes, so the same body means the same thing everywhere.

use notify_shared::{
    domain::{Channel, TemplateRef},
    template::{Locale, RenderError, TemplateName},
    validate::{FieldError, Fields},
};
use serde_json::{Map, Value};

use crate::{
    catalog::Resolved,
    channel::{self, Options, Texts},
};

/// Where the text comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    Inline(Texts),
    Template {
        name: TemplateName,
        locale: Option<Locale>,
        data: Map<String, Value>,
        /// Email: a subject that replaces the template's.
        subject: Option<String>,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct ContentSpec {
    pub source: Source,
    pub options: Options,
}

/// An optional JSON object field (`data`).
pub fn object<'a>(f: &mut Fields<'a>, name: &'a str) -> Map<String, Value> {
    match f.optional_value(name) {
        None => Map::new(),
        Some(Value::Object(m)) => m.clone(),
        Some(_) => {
            f.error(name, "type", "must be a JSON object");
            Map::new()
        }
    }
}

pub fn locale<'a>(f: &mut Fields<'a>, name: &'a str) -> Option<Locale> {
    let raw = f.optional_str(name)?;
    match Locale::parse(raw) {
        Ok(l) => Some(l),
        Err(e) => {
            f.error(name, "locale", e);
            None
        }
    }
}

pub fn template_name<'a>(f: &mut Fields<'a>, name: &'a str) -> Option<TemplateName> {
    let raw = f.required_str(name)?;
    match TemplateName::parse(raw) {
        Ok(n) => Some(n),
        Err(e) => {
            f.error(name, "pattern", e);
            None
        }
    }
}

/// Reads the content of a request for `channel`: `template` (+ `locale`, `data`), or the
/// channel's inline fields, and the channel's options. With `data_is_template_data`, `data`
/// belongs to the template even for push (where inline `data` is the FCM payload).
pub fn parse<'a>(
    f: &mut Fields<'a>,
    channel: Channel,
    limits: &channel::Limits,
) -> Option<ContentSpec> {
    let options = channel::options(f, channel);
    let source = if f.has("template") {
        let name = template_name(f, "template");
        let locale = locale(f, "locale");
        let data = object(f, "data");
        let subject = refuse_inline_beside_template(f, channel);
        Some(Source::Template {
            name: name?,
            locale,
            data,
            subject,
        })
    } else {
        channel::texts(f, channel, limits, true).map(Source::Inline)
    };
    Some(ContentSpec {
        source: source?,
        options,
    })
}

/// Beside a `template`, the channel's inline fields are refused (but the one the template
/// lets a request override, which is read and returned).
pub fn refuse_inline_beside_template(f: &mut Fields<'_>, channel: Channel) -> Option<String> {
    let (replacement, replaces) = channel::template_override(f, channel);
    for &field in channel::inline_fields(channel) {
        if field != replaces && f.has(field) {
            f.optional_value(field);
            f.error(
                field,
                "exclusive",
                "give a template or inline content, not both",
            );
        }
    }
    replacement
}

/// Where the errors of one rendering are reported: the data's field and the prefix of the
/// rendered parts (`recipients[3].data`, `recipients[3].rendered.subject`).
#[derive(Debug, Clone)]
pub struct Paths {
    pub template: String,
    pub data: String,
    pub rendered: String,
}

impl Paths {
    pub fn top() -> Self {
        Self {
            template: "template".into(),
            data: "data".into(),
            rendered: "rendered".into(),
        }
    }

    pub fn recipient(index: usize) -> Self {
        Self {
            template: "template".into(),
            data: format!("recipients[{index}].data"),
            rendered: format!("recipients[{index}].rendered"),
        }
    }
}

/// Renders `template` for `channel` with `data`, then checks the result exactly as inline
/// content is checked (a rendered subject with a line break is refused like a typed one).
pub fn render(
    template: &Resolved,
    channel: Channel,
    locale: Option<&Locale>,
    data: &Value,
    subject: Option<&str>,
    limits: &channel::Limits,
    paths: &Paths,
) -> Result<Rendered, Vec<FieldError>> {
    let rendered = template
        .compiled()
        .render(channel, locale, data)
        .map_err(|e| vec![render_error(e, template, paths)])?;
    let as_json =
        channel::as_inline(rendered.content, subject, &paths.rendered).map_err(|e| vec![e])?;
    let mut f = Fields::of(&as_json, &paths.rendered).map_err(|e| vec![e])?;
    let texts = channel::texts(&mut f, channel, limits, true);
    f.finish()?;
    let texts = texts.ok_or_else(Vec::new)?;
    Ok(Rendered {
        texts,
        reference: template.saved.then(|| TemplateRef {
            name: template.name.as_str().to_owned(),
            version: template.version,
            locale: rendered.locale.as_str().to_owned(),
            builtin: template.builtin,
        }),
        locale: rendered.locale,
    })
}

/// One rendering's text, checked, and what the notification records of its template.
#[derive(Debug)]
pub struct Rendered {
    pub texts: Texts,
    pub locale: Locale,
    /// `None` for a batch's inline content.
    pub reference: Option<TemplateRef>,
}

fn render_error(e: RenderError, template: &Resolved, paths: &Paths) -> FieldError {
    let name = template.name.as_str();
    match e {
        RenderError::NoVariant { channel, locales } => FieldError::new(
            &paths.template,
            "channel",
            format!(
                "template `{name}` has no {channel} part in locale{} {}",
                if locales.len() == 1 { "" } else { "s" },
                locales
                    .iter()
                    .map(Locale::as_str)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ),
        RenderError::MissingVariable {
            part,
            variable,
            line,
        } => FieldError::new(
            &paths.data,
            "missing_variable",
            format!(
                "template `{name}` is strict and its {part}{} uses `{variable}`, which the data lacks",
                line.map(|l| format!(" (line {l})")).unwrap_or_default()
            ),
        ),
        RenderError::Failed { part, message } => FieldError::new(
            &paths.data,
            "render",
            format!("template `{name}`: its {part} could not be rendered: {message}"),
        ),
        RenderError::TooLarge { part, limit } => FieldError::new(
            &paths.rendered,
            "max_bytes",
            format!("template `{name}`: the rendered {part} is over {limit} bytes"),
        ),
    }
}

/// `data` of a batch recipient over the batch's shared `data`: the recipient's keys win.
pub fn merged(shared: &Map<String, Value>, own: Map<String, Value>) -> Value {
    if own.is_empty() {
        return Value::Object(shared.clone());
    }
    let mut data = shared.clone();
    data.extend(own);
    Value::Object(data)
}
