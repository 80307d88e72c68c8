//! What a request asks to send: inline text, or a template with its data. One parser and one
//! renderer serve a single notification, every recipient of a batch, and the compatible
//! routes, so the same body means the same thing everywhere.

use notify_shared::{
    domain::{
        Channel, Content, EmailAddress, EmailContent, PushContent, SmsContent, TemplateRef,
        sms::segments,
    },
    provider::{MAX_PAYLOAD_BYTES, is_reserved_data_key, payload_size},
    template::{Locale, RenderError, RenderedContent, TemplateName},
    validate::{self, FieldError, Fields, MapLimits},
};
use serde_json::{Map, Value, json};

use crate::templates::Resolved;

/// Push `data`: FCM bounds the whole payload (4 KB); these only stop absurd shapes early.
const PUSH_DATA_LIMITS: MapLimits = MapLimits {
    max_entries: 100,
    max_key_chars: 256,
    max_value_chars: MAX_PAYLOAD_BYTES,
};
const MAX_PUSH_TITLE_BYTES: usize = 1024;
const MAX_PUSH_BODY_BYTES: usize = MAX_PAYLOAD_BYTES;
const MAX_IMAGE_URL_CHARS: usize = 2048;
/// APNs limits `apns-collapse-id` to 64 bytes.
const MAX_COLLAPSE_KEY_CHARS: usize = 64;
/// FCM keeps an undelivered message at most 28 days.
const MAX_TTL_SECONDS: u32 = 28 * 24 * 3600;
/// A display name longer than this is truncated by most mail clients anyway.
const MAX_FROM_NAME_CHARS: usize = 64;

/// The text of a message, before the channel's options are added: typed inline, or rendered
/// (the same shape either way).
pub use notify_shared::template::RenderedContent as Texts;

/// The channel's settings that are not text: they apply whatever the text came from.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Options {
    pub reply_to: Option<EmailAddress>,
    pub from_name: Option<String>,
    pub image_url: Option<String>,
    pub badge: Option<u32>,
    pub sound: Option<String>,
    pub collapse_key: Option<String>,
    pub ttl_seconds: Option<u32>,
}

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

/// The text fields of `channel` as inline content fields name them.
const TEXT_FIELDS: [(Channel, &[&str]); 3] = [
    (Channel::Email, &["text", "html"]),
    (Channel::Sms, &["message"]),
    (Channel::Push, &["title", "body"]),
];

/// Reads the content of a request for `channel`: `template` (+ `locale`, `data`), or the
/// channel's inline fields, and the channel's options. With `data_is_template_data`, `data`
/// belongs to the template even for push (where inline `data` is the FCM payload).
pub fn parse<'a>(
    f: &mut Fields<'a>,
    channel: Channel,
    sms_max_chars: usize,
) -> Option<ContentSpec> {
    let options = options(f, channel);
    let source = if f.has("template") {
        let name = template_name(f, "template");
        let locale = locale(f, "locale");
        let data = object(f, "data");
        let subject = match channel {
            Channel::Email => f.header_text("subject", validate::MAX_SUBJECT_CHARS, false),
            _ => None,
        };
        let text_fields = TEXT_FIELDS
            .iter()
            .find(|(c, _)| *c == channel)
            .map_or(&[][..], |(_, names)| *names);
        for &field in text_fields {
            if f.has(field) {
                f.optional_value(field);
                f.error(
                    field,
                    "exclusive",
                    "give a template or inline content, not both",
                );
            }
        }
        Some(Source::Template {
            name: name?,
            locale,
            data,
            subject,
        })
    } else {
        texts(f, channel, sms_max_chars, true).map(Source::Inline)
    };
    Some(ContentSpec {
        source: source?,
        options,
    })
}

/// The channel's inline text fields, checked as the channel requires.
pub fn texts(
    f: &mut Fields<'_>,
    channel: Channel,
    sms_max_chars: usize,
    subject_required: bool,
) -> Option<Texts> {
    match channel {
        Channel::Email => {
            let subject = f.header_text("subject", validate::MAX_SUBJECT_CHARS, subject_required);
            let text = f.body_text("text", validate::MAX_TEXT_BYTES);
            let html = f.body_text("html", validate::MAX_HTML_BYTES);
            if !f.has("text") && !f.has("html") {
                f.error("text", "required", "text or html (or both) is required");
                return None;
            }
            let body_ok = text.is_some() || html.is_some();
            (body_ok && (subject.is_some() || !subject_required)).then(|| Texts::Email {
                subject: subject.unwrap_or_default(),
                text,
                html,
            })
        }
        Channel::Sms => {
            let message = match f.required_str("message") {
                Some(m) if m.trim().is_empty() => {
                    f.error("message", "not_blank", "must not be empty");
                    None
                }
                // Line breaks travel; other control characters would be dropped or garble it.
                Some(m) if m.chars().any(|c| c.is_control() && c != '\n' && c != '\r') => {
                    f.error(
                        "message",
                        "control_characters",
                        "must not contain control characters other than line breaks",
                    );
                    None
                }
                Some(m) if m.chars().count() > sms_max_chars => {
                    f.error(
                        "message",
                        "max_length",
                        format!("must be at most {sms_max_chars} characters"),
                    );
                    None
                }
                other => other.map(str::to_owned),
            };
            message.map(|message| Texts::Sms { message })
        }
        Channel::Push => {
            let title = f.body_text("title", MAX_PUSH_TITLE_BYTES);
            let body = f.body_text("body", MAX_PUSH_BODY_BYTES);
            let data = f.string_map("data", PUSH_DATA_LIMITS);
            for key in data.keys().filter(|k| is_reserved_data_key(k)) {
                f.error(&format!("data.{key}"), "reserved", "is a key FCM reserves");
            }
            if title.is_none() && body.is_none() && data.is_empty() {
                if !f.has("title") && !f.has("body") && !f.has("data") {
                    f.error("title", "required", "title, body or data is required");
                }
                return None;
            }
            Some(Texts::Push { title, body, data })
        }
    }
}

pub fn options(f: &mut Fields<'_>, channel: Channel) -> Options {
    match channel {
        Channel::Email => Options {
            reply_to: f.optional_email("replyTo"),
            from_name: f.header_text("fromName", MAX_FROM_NAME_CHARS, false),
            ..Options::default()
        },
        Channel::Sms => Options::default(),
        Channel::Push => Options {
            image_url: f.optional_https_url("imageUrl", MAX_IMAGE_URL_CHARS),
            badge: f.optional_u32("badge", 0..=99_999),
            sound: f.optional_label("sound", 256),
            collapse_key: f.optional_label("collapseKey", MAX_COLLAPSE_KEY_CHARS),
            ttl_seconds: f.optional_u32("ttlSeconds", 0..=MAX_TTL_SECONDS),
            ..Options::default()
        },
    }
}

/// The content to send: `texts` with the options, checked as a whole (the FCM payload
/// limit; reported on `data`, or `body` without data, under `prefix`).
pub fn assemble(texts: Texts, options: &Options, prefix: &str) -> Result<Content, FieldError> {
    Ok(match texts {
        Texts::Email {
            subject,
            text,
            html,
        } => Content::Email(EmailContent {
            subject,
            text,
            html,
            reply_to: options.reply_to.clone(),
            from_name: options.from_name.clone(),
        }),
        Texts::Sms { message } => {
            let segments = segments(&message);
            Content::Sms(SmsContent { message, segments })
        }
        Texts::Push { title, body, data } => {
            let content = PushContent {
                title,
                body,
                image_url: options.image_url.clone(),
                badge: options.badge,
                sound: options.sound.clone(),
                collapse_key: options.collapse_key.clone(),
                ttl_seconds: options.ttl_seconds,
                data,
            };
            let size = payload_size(&content);
            if size > MAX_PAYLOAD_BYTES {
                let part = if content.data.is_empty() {
                    "body"
                } else {
                    "data"
                };
                let field = if prefix.is_empty() {
                    part.to_owned()
                } else {
                    format!("{prefix}.{part}")
                };
                return Err(FieldError::new(
                    field,
                    "max_bytes",
                    format!(
                        "the FCM payload (notification and data) would be {size} bytes; FCM allows {MAX_PAYLOAD_BYTES}"
                    ),
                ));
            }
            Content::Push(content)
        }
    })
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
    sms_max_chars: usize,
    paths: &Paths,
) -> Result<Rendered, Vec<FieldError>> {
    let rendered = template
        .compiled()
        .render(channel, locale, data)
        .map_err(|e| vec![render_error(e, template, paths)])?;
    let as_json = match rendered.content {
        RenderedContent::Email {
            subject: rendered_subject,
            html,
            text,
        } => json!({
            "subject": subject.map_or(rendered_subject, str::to_owned),
            "html": html,
            "text": text,
        }),
        RenderedContent::Sms { message } => json!({ "message": message }),
        RenderedContent::Push { title, body, data } => {
            json!({ "title": title, "body": body, "data": data })
        }
    };
    let mut f = Fields::of(&as_json, &paths.rendered).map_err(|e| vec![e])?;
    let texts = texts(&mut f, channel, sms_max_chars, true);
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
