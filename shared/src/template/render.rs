//! Rendering a compiled template for one channel, in the best locale it has.

use std::collections::BTreeMap;
use std::io;

use handlebars::template::{HelperTemplate, Parameter, TemplateElement};
use handlebars::{Context, Output, RenderContext, RenderErrorReason, Renderable, Template};
use serde_json::Value;

use super::compiled::CompiledVariant;
use super::helpers::{Escape, registry_for, reset_loop_counter};
use super::names::Locale;
use super::source::{self, TemplateSource};
use crate::domain::Channel;
use crate::validate::FieldError;

/// Bounds on what one part may render to, so `{{#each}}` nested over large data fails instead
/// of exhausting the function's memory.
pub const MAX_RENDERED_HTML_BYTES: usize = 512 * 1024;
pub const MAX_RENDERED_TEXT_BYTES: usize = 256 * 1024;
pub const MAX_RENDERED_OTHER_BYTES: usize = 16 * 1024;
/// A rendered webhook payload; the channel's own limit on what is sent is larger than a
/// template may produce.
pub const MAX_RENDERED_WEBHOOK_BYTES: usize = 256 * 1024;
/// Where the text derived from an email's HTML wraps.
const TEXT_WIDTH: usize = 78;

/// A template ready to render: every part compiled once, shareable across requests and
/// threads (`Arc<CompiledTemplate>`).
#[derive(Debug)]
pub struct CompiledTemplate {
    source: TemplateSource,
    variants: BTreeMap<Locale, CompiledVariant>,
}

/// What a template rendered to, and in which locale.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub locale: Locale,
    pub content: RenderedContent,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RenderedContent {
    Email {
        subject: String,
        html: Option<String>,
        /// Derived from the HTML when the template has no text part.
        text: Option<String>,
    },
    Sms {
        message: String,
    },
    Push {
        title: Option<String>,
        body: Option<String>,
        data: BTreeMap<String, String>,
    },
    /// JSON text, not yet checked to be JSON (the caller reports where it is not).
    Webhook {
        payload: String,
    },
}

/// Why a template could not be rendered with some data. `part` names the part, like
/// `email.subject` or `push.data.url`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RenderError {
    #[error("the template has no {channel} part in locale {}", list(.locales))]
    NoVariant {
        channel: Channel,
        /// The locales that were tried, in order.
        locales: Vec<Locale>,
    },
    #[error("{part}: the data has no `{variable}`{}", line_suffix(*.line))]
    MissingVariable {
        part: String,
        variable: String,
        line: Option<usize>,
    },
    #[error("{part}: {message}")]
    Failed { part: String, message: String },
    #[error("{part}: the rendered text is larger than {limit} bytes")]
    TooLarge { part: String, limit: usize },
}

fn list(locales: &[Locale]) -> String {
    locales
        .iter()
        .map(Locale::as_str)
        .collect::<Vec<_>>()
        .join(", ")
}

fn line_suffix(line: Option<usize>) -> String {
    line.map(|l| format!(" (line {l})")).unwrap_or_default()
}

impl TemplateSource {
    /// Validates a `PUT /v1/templates/{name}` body field by field and compiles every part.
    /// Every broken rule is reported with its path (`locales.fr-CA.email.subject`): types,
    /// sizes, unknown fields, handlebars syntax (rule `syntax`, naming line and column), and
    /// what templates may not use (`unsupported` partials and decorators, `unknown_helper`,
    /// `arguments`).
    pub fn parse(body: &Value) -> Result<(TemplateSource, CompiledTemplate), Vec<FieldError>> {
        let (source, variants) = source::read(body)?;
        let compiled = CompiledTemplate {
            source: source.clone(),
            variants,
        };
        Ok((source, compiled))
    }
}

impl CompiledTemplate {
    /// Compiles a template read back from the store. It is checked again, with the same errors
    /// as `TemplateSource::parse`.
    pub fn compile(source: &TemplateSource) -> Result<Self, Vec<FieldError>> {
        let body = serde_json::to_value(source)
            .map_err(|e| vec![FieldError::new("body", "type", e.to_string())])?;
        TemplateSource::parse(&body).map(|(_, compiled)| compiled)
    }

    pub fn source(&self) -> &TemplateSource {
        &self.source
    }

    /// Renders the part for `channel` in the locale resolved from `requested`: the exact
    /// locale, else its language (`fr-CA` → `fr`), else the template's default locale — the
    /// first of these that exists and has a part for `channel`.
    pub fn render(
        &self,
        channel: Channel,
        requested: Option<&Locale>,
        data: &Value,
    ) -> Result<Rendered, RenderError> {
        let (locale, variant) = self.resolve(channel, requested)?;
        let ctx = Context::from(data.clone());
        let part = Part {
            ctx: &ctx,
            strict: self.source.strict,
        };
        let no_part = || RenderError::NoVariant {
            channel,
            locales: vec![locale.clone()],
        };
        let content = match channel {
            Channel::Email => {
                let email = variant.email.as_ref().ok_or_else(no_part)?;
                let subject = part.render(
                    &email.subject,
                    "email.subject",
                    Escape::None,
                    MAX_RENDERED_OTHER_BYTES,
                )?;
                let html = email
                    .html
                    .as_ref()
                    .map(|t| part.render(t, "email.html", Escape::Html, MAX_RENDERED_HTML_BYTES))
                    .transpose()?;
                let text = match (&email.text, &html) {
                    (Some(t), _) => {
                        Some(part.render(t, "email.text", Escape::None, MAX_RENDERED_TEXT_BYTES)?)
                    }
                    (None, Some(html)) => Some(html_to_text(html)?),
                    (None, None) => None,
                };
                RenderedContent::Email {
                    subject: single_line(&subject),
                    html,
                    text,
                }
            }
            Channel::Sms => {
                let sms = variant.sms.as_ref().ok_or_else(no_part)?;
                RenderedContent::Sms {
                    message: part.render(
                        sms,
                        "sms.message",
                        Escape::None,
                        MAX_RENDERED_OTHER_BYTES,
                    )?,
                }
            }
            Channel::Push => {
                let push = variant.push.as_ref().ok_or_else(no_part)?;
                let plain = |t: &Template, name: &str| {
                    part.render(t, name, Escape::None, MAX_RENDERED_OTHER_BYTES)
                };
                RenderedContent::Push {
                    title: push
                        .title
                        .as_ref()
                        .map(|t| plain(t, "push.title"))
                        .transpose()?,
                    body: push
                        .body
                        .as_ref()
                        .map(|t| plain(t, "push.body"))
                        .transpose()?,
                    data: push
                        .data
                        .iter()
                        .map(|(key, t)| Ok((key.clone(), plain(t, &format!("push.data.{key}"))?)))
                        .collect::<Result<_, RenderError>>()?,
                }
            }
            Channel::Webhook => {
                let webhook = variant.webhook.as_ref().ok_or_else(no_part)?;
                RenderedContent::Webhook {
                    payload: part.render(
                        webhook,
                        "webhook.payload",
                        Escape::Json,
                        MAX_RENDERED_WEBHOOK_BYTES,
                    )?,
                }
            }
        };
        Ok(Rendered {
            locale: locale.clone(),
            content,
        })
    }

    fn resolve(
        &self,
        channel: Channel,
        requested: Option<&Locale>,
    ) -> Result<(&Locale, &CompiledVariant), RenderError> {
        let language = requested.and_then(|r| Locale::parse(r.language()).ok());
        let mut candidates: Vec<Locale> = Vec::with_capacity(3);
        for candidate in [
            requested.cloned(),
            language,
            Some(self.source.default_locale.clone()),
        ]
        .into_iter()
        .flatten()
        {
            if !candidates.contains(&candidate) {
                candidates.push(candidate);
            }
        }
        for candidate in &candidates {
            if let Some((locale, variant)) = self.variants.get_key_value(candidate)
                && variant.has(channel)
            {
                return Ok((locale, variant));
            }
        }
        Err(RenderError::NoVariant {
            channel,
            locales: candidates,
        })
    }
}

/// What every part of one render shares.
struct Part<'a> {
    ctx: &'a Context,
    strict: bool,
}

impl Part<'_> {
    fn render(
        &self,
        template: &Template,
        part: &str,
        escape: Escape,
        limit: usize,
    ) -> Result<String, RenderError> {
        let registry = registry_for(escape, self.strict);
        let mut out = BoundedOutput {
            buf: String::new(),
            limit,
            exceeded: false,
        };
        let mut rc = RenderContext::new(None);
        reset_loop_counter();
        match template.render(registry, self.ctx, &mut rc, &mut out) {
            Ok(()) => Ok(out.buf),
            Err(_) if out.exceeded => Err(RenderError::TooLarge {
                part: part.to_owned(),
                limit,
            }),
            Err(e) => {
                let position = e.line_no.zip(e.column_no);
                let element = position.and_then(|p| element_at(template, p));
                let missing = match e.reason() {
                    RenderErrorReason::MissingVariable(Some(variable)) => Some(variable.clone()),
                    // A helper (`lookup`) that did not say which: the expression it was in.
                    RenderErrorReason::MissingVariable(None) => Some(
                        element
                            .and_then(helper_of)
                            .map_or_else(|| "?".to_owned(), describe),
                    ),
                    // In strict mode the built-in helpers (`eq`, `gt`, ...) see a missing
                    // variable as a missing argument.
                    RenderErrorReason::ParamNotFoundForIndex(helper, idx) if self.strict => {
                        element.and_then(|el| argument_path(el, helper, *idx))
                    }
                    _ => None,
                };
                Err(match (missing, e.reason()) {
                    (Some(variable), _) => RenderError::MissingVariable {
                        part: part.to_owned(),
                        variable,
                        line: e.line_no,
                    },
                    (None, reason) => RenderError::Failed {
                        part: part.to_owned(),
                        message: match e.line_no {
                            Some(line) => format!("line {line}: {reason}"),
                            None => reason.to_string(),
                        },
                    },
                })
            }
        }
    }
}

/// The element of `template` (or of a block within it) that starts at `position`.
fn element_at(template: &Template, position: (usize, usize)) -> Option<&TemplateElement> {
    template
        .elements
        .iter()
        .zip(&template.mapping)
        .find_map(|(element, mapping)| {
            // A raw string is mapped where the expression before it ends: skip it, it
            // cannot fail.
            let raw = matches!(
                element,
                TemplateElement::RawString(_) | TemplateElement::Comment(_)
            );
            if !raw && (mapping.0, mapping.1) == position {
                return Some(element);
            }
            let TemplateElement::HelperBlock(h) = element else {
                return None;
            };
            [&h.template, &h.inverse]
                .into_iter()
                .flatten()
                .find_map(|inner| element_at(inner, position))
        })
}

fn helper_of(element: &TemplateElement) -> Option<&HelperTemplate> {
    match element {
        TemplateElement::Expression(h)
        | TemplateElement::HtmlExpression(h)
        | TemplateElement::HelperBlock(h) => Some(h),
        _ => None,
    }
}

/// The variable passed as argument `idx` to `helper` in `element` or its subexpressions.
fn argument_path(element: &TemplateElement, helper: &str, idx: usize) -> Option<String> {
    let h = helper_of(element)?;
    if h.name.as_name() == Some(helper)
        && let Some(path @ Parameter::Path(_)) = h.params.get(idx)
    {
        return path.as_name().map(str::to_owned);
    }
    h.params
        .iter()
        .chain(h.hash.values())
        .find_map(|p| match p {
            Parameter::Subexpression(sub) => argument_path(sub.as_element(), helper, idx),
            _ => None,
        })
}

/// `lookup items 3`: an expression as it was written, near enough to find it.
fn describe(h: &HelperTemplate) -> String {
    let mut words = vec![h.name.as_name().unwrap_or("?").to_owned()];
    for p in &h.params {
        words.push(match p {
            Parameter::Literal(value) => value.to_string(),
            Parameter::Subexpression(sub) => format!(
                "({})",
                helper_of(sub.as_element()).map_or_else(|| "?".to_owned(), describe)
            ),
            other => other.as_name().unwrap_or("?").to_owned(),
        });
    }
    words.join(" ")
}

/// Collects a part's output and fails once it would pass `limit` bytes.
struct BoundedOutput {
    buf: String,
    limit: usize,
    exceeded: bool,
}

impl Output for BoundedOutput {
    fn write(&mut self, seg: &str) -> io::Result<()> {
        if self.buf.len() + seg.len() > self.limit {
            self.exceeded = true;
            return Err(io::Error::other("rendered output limit reached"));
        }
        self.buf.push_str(seg);
        Ok(())
    }
}

/// A subject goes into a header: data with a line break in it must not make two lines.
fn single_line(subject: &str) -> String {
    subject
        .split(char::is_control)
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
        .trim()
        .to_owned()
}

/// The plain-text alternative of an HTML email; links stay visible as numbered footnotes.
fn html_to_text(html: &str) -> Result<String, RenderError> {
    let text = html2text::config::plain_no_decorate()
        .link_footnotes(true)
        .no_link_wrapping()
        .allow_width_overflow()
        .string_from_read(html.as_bytes(), TEXT_WIDTH)
        .map_err(|e| RenderError::Failed {
            part: "email.text".to_owned(),
            message: format!("cannot derive the text from the HTML: {e}"),
        })?;
    if text.len() > MAX_RENDERED_TEXT_BYTES {
        return Err(RenderError::TooLarge {
            part: "email.text".to_owned(),
            limit: MAX_RENDERED_TEXT_BYTES,
        });
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn compiled(body: Value) -> CompiledTemplate {
        match TemplateSource::parse(&body) {
            Ok((_, compiled)) => compiled,
            Err(errors) => panic!("{errors:?}"),
        }
    }

    fn locale(raw: &str) -> Locale {
        Locale::parse(raw).unwrap()
    }

    fn sms(template: &CompiledTemplate, data: Value) -> Result<String, RenderError> {
        match template.render(Channel::Sms, None, &data)?.content {
            RenderedContent::Sms { message } => Ok(message),
            other => panic!("{other:?}"),
        }
    }

    fn sms_template(message: &str, strict: bool) -> CompiledTemplate {
        compiled(json!({"strict": strict, "locales": {"en": {"sms": {"message": message}}}}))
    }

    #[test]
    fn compiled_templates_can_be_shared_across_threads() {
        fn shareable<T: Send + Sync>() {}
        shareable::<CompiledTemplate>();
    }

    #[test]
    fn locale_falls_back_from_region_to_language_to_default_skipping_locales_without_the_channel() {
        let template = compiled(json!({
            "defaultLocale": "en",
            "locales": {
                "en": {"email": {"subject": "en", "text": "en"}, "sms": {"message": "en"}},
                "fr": {"email": {"subject": "fr", "text": "fr"}},
                "fr-CA": {"email": {"subject": "fr-CA", "text": "fr-CA"}},
            }
        }));
        let data = json!({});
        let chosen = |channel, requested: Option<&str>| {
            template
                .render(channel, requested.map(locale).as_ref(), &data)
                .map(|r| r.locale.as_str().to_owned())
        };
        assert_eq!(chosen(Channel::Email, Some("fr-CA")).unwrap(), "fr-CA");
        assert_eq!(chosen(Channel::Email, Some("fr-BE")).unwrap(), "fr");
        assert_eq!(chosen(Channel::Email, Some("fr")).unwrap(), "fr");
        assert_eq!(chosen(Channel::Email, Some("de-DE")).unwrap(), "en");
        assert_eq!(chosen(Channel::Email, None).unwrap(), "en");
        // Neither fr-CA nor fr has an SMS part: the default locale's is used.
        assert_eq!(chosen(Channel::Sms, Some("fr-CA")).unwrap(), "en");
        assert_eq!(
            chosen(Channel::Push, Some("fr-CA")).unwrap_err(),
            RenderError::NoVariant {
                channel: Channel::Push,
                locales: vec![locale("fr-CA"), locale("fr"), locale("en")],
            }
        );
        assert_eq!(
            chosen(Channel::Push, Some("en")).unwrap_err(),
            RenderError::NoVariant {
                channel: Channel::Push,
                locales: vec![locale("en")],
            }
        );
    }

    #[test]
    fn only_the_html_part_is_escaped() {
        let x = "{{x}}";
        let template = compiled(json!({
            "locales": {"en": {
                "email": {"subject": x, "html": "<p>{{x}}</p>{{{x}}}", "text": x},
                "sms": {"message": x},
                "push": {"title": x, "body": x, "data": {"k": x}},
            }}
        }));
        let raw = "<b>Tom & \"Jerry\"</b>";
        let data = json!({ "x": raw });
        let email = template
            .render(Channel::Email, None, &data)
            .unwrap()
            .content;
        assert_eq!(
            email,
            RenderedContent::Email {
                subject: raw.to_owned(),
                html: Some(format!(
                    "<p>&lt;b&gt;Tom &amp; &quot;Jerry&quot;&lt;/b&gt;</p>{raw}"
                )),
                text: Some(raw.to_owned()),
            }
        );
        assert_eq!(sms(&template, data.clone()).unwrap(), raw);
        let push = template.render(Channel::Push, None, &data).unwrap().content;
        assert_eq!(
            push,
            RenderedContent::Push {
                title: Some(raw.to_owned()),
                body: Some(raw.to_owned()),
                data: BTreeMap::from([("k".to_owned(), raw.to_owned())]),
            }
        );
    }

    #[test]
    fn a_missing_variable_is_an_error_naming_it_only_in_strict_mode() {
        let message = "Hello\n{{firstName}}!";
        assert_eq!(
            sms(&sms_template(message, true), json!({"lastName": "Martin"})).unwrap_err(),
            RenderError::MissingVariable {
                part: "sms.message".to_owned(),
                variable: "firstName".to_owned(),
                line: Some(2),
            }
        );
        assert_eq!(
            sms(&sms_template(message, false), json!({})).unwrap(),
            "Hello\n!"
        );
        // Inside a block, and as an argument of a built-in helper.
        let strict = sms_template("{{#each items}}\n{{name}}{{/each}}", true);
        let err = sms(&strict, json!({"items": [{"n": 1}]})).unwrap_err();
        assert!(
            matches!(&err, RenderError::MissingVariable { variable, line: Some(2), .. } if variable == "name"),
            "{err:?}"
        );
        let strict = sms_template("{{#if (eq status \"paid\")}}paid{{/if}}", true);
        let err = sms(&strict, json!({})).unwrap_err();
        assert!(
            matches!(&err, RenderError::MissingVariable { variable, .. } if variable == "status"),
            "{err:?}"
        );
    }

    #[test]
    fn if_and_default_work_on_missing_variables_in_strict_mode() {
        let template = sms_template(
            "Hi {{default nickname \"there\"}}{{#if vip}} (VIP){{else}}!{{/if}}",
            true,
        );
        assert_eq!(sms(&template, json!({})).unwrap(), "Hi there!");
        assert_eq!(
            sms(&template, json!({"nickname": "Jo", "vip": true})).unwrap(),
            "Hi Jo (VIP)"
        );
    }

    #[test]
    fn helper_failures_name_the_part_and_line() {
        let template = compiled(json!({"locales": {"en": {"email": {
            "subject": "ok",
            "text": "line one\n{{formatDate when \"short\" \"Mars/Olympus\"}}",
        }}}}));
        let err = template
            .render(Channel::Email, None, &json!({"when": "2026-01-01"}))
            .unwrap_err();
        let RenderError::Failed { part, message } = &err else {
            panic!("{err:?}");
        };
        assert_eq!(part, "email.text");
        assert!(message.starts_with("line 2: "), "{message}");
        assert!(message.contains("Mars/Olympus"), "{message}");
    }

    #[test]
    fn output_is_bounded_even_for_nested_loops_over_large_data() {
        let items: Vec<u32> = (0..200).collect();
        let data = json!({ "items": items });
        let loops = "{{#each items}}{{#each @root.items}}{{#each @root.items}}0123456789\
                     {{/each}}{{/each}}{{/each}}";
        let err = sms(&sms_template(loops, false), data.clone()).unwrap_err();
        assert_eq!(
            err,
            RenderError::TooLarge {
                part: "sms.message".to_owned(),
                limit: MAX_RENDERED_OTHER_BYTES,
            }
        );
        let template = compiled(json!({"locales": {"en": {"email": {
            "subject": "s", "html": loops,
        }}}}));
        let err = template.render(Channel::Email, None, &data).unwrap_err();
        assert_eq!(
            err,
            RenderError::TooLarge {
                part: "email.html".to_owned(),
                limit: MAX_RENDERED_HTML_BYTES,
            }
        );
        // Just under the bound is fine.
        let fits = "x".repeat(MAX_RENDERED_OTHER_BYTES);
        let data = json!({ "fits": fits });
        assert_eq!(
            sms(&sms_template("{{fits}}", false), data).unwrap().len(),
            fits.len()
        );
    }

    #[test]
    fn loops_are_bounded_even_when_they_write_nothing() {
        let items: Vec<u32> = (0..1000).collect();
        let data = json!({ "items": items });
        let template = sms_template(
            "start\n{{#each items}}{{#each @root.items}}{{/each}}{{/each}}",
            false,
        );
        let err = sms(&template, data).unwrap_err();
        let RenderError::Failed { part, message } = &err else {
            panic!("{err:?}");
        };
        assert_eq!(part, "sms.message");
        assert!(message.starts_with("line 2: "), "{message}");
        assert!(message.contains("loops ran more than"), "{message}");
    }

    #[test]
    fn counting_loop_iterations_leaves_the_output_unchanged() {
        let text = "<ul>\n  {{#each items}}\n  <li>{{@index}} {{this}}</li>\n  {{else}}\n  none\n  {{/each}}\n</ul>";
        let plain = handlebars::Handlebars::new();
        for data in [json!({"items": ["a", "b"]}), json!({"items": []})] {
            let template =
                compiled(json!({"locales": {"en": {"email": {"subject": "s", "html": text}}}}));
            let RenderedContent::Email { html, .. } = template
                .render(Channel::Email, None, &data)
                .unwrap()
                .content
            else {
                panic!("not an email");
            };
            assert_eq!(html.unwrap(), plain.render_template(text, &data).unwrap());
        }
    }

    #[test]
    fn text_is_derived_from_html_when_missing_with_links_kept() {
        let template = compiled(json!({"locales": {"en": {"email": {
            "subject": "Reset",
            "html": "<html><head><title>Reset</title></head><body><h1>Hello {{name}}</h1>\
                     <p>{{long}}</p><p><a href=\"{{url}}\">Choose a new password</a></p>\
                     </body></html>",
        }}}}));
        let url = "https://example.com/reset?token=a-rather-long-token-that-would-not-fit-on-one-line-0123456789";
        let data = json!({
            "name": "Ann <3",
            "url": url,
            "long": "word ".repeat(40),
        });
        let RenderedContent::Email {
            text: Some(text), ..
        } = template
            .render(Channel::Email, None, &data)
            .unwrap()
            .content
        else {
            panic!("no text");
        };
        assert!(text.contains("Hello Ann <3"), "{text}");
        assert!(text.contains("Choose a new password"), "{text}");
        assert!(text.lines().any(|l| l.contains(url)), "{text}");
        assert!(!text.contains("<p>") && !text.contains("&lt;"), "{text}");
        assert!(
            text.lines()
                .filter(|l| !l.contains(url))
                .all(|l| l.chars().count() <= TEXT_WIDTH),
            "{text}"
        );
    }

    #[test]
    fn the_subject_stays_on_one_line() {
        let template = compiled(json!({"locales": {"en": {"email": {
            "subject": "Order {{ref}}", "text": "t",
        }}}}));
        let data = json!({"ref": "42\r\nBcc: victim@example.com"});
        let RenderedContent::Email { subject, .. } = template
            .render(Channel::Email, None, &data)
            .unwrap()
            .content
        else {
            panic!("not an email");
        };
        assert_eq!(subject, "Order 42 Bcc: victim@example.com");
    }

    #[test]
    fn a_saved_source_compiles_again_with_the_same_checks() {
        let body = json!({
            "description": "d",
            "defaultLocale": "fr",
            "strict": true,
            "locales": {
                "fr": {"sms": {"message": "Bonjour {{name}}"}},
                "en": {"push": {"title": "Hi {{name}}", "data": {"id": "{{id}}"}}},
            },
            "sampleData": {"name": "Ann", "id": 7},
        });
        let (source, _) = TemplateSource::parse(&body).unwrap();
        let stored = serde_json::to_value(&source).unwrap();
        assert_eq!(stored, body);
        let read: TemplateSource = serde_json::from_value(stored).unwrap();
        let template = CompiledTemplate::compile(&read).unwrap();
        assert_eq!(template.source(), &source);
        let data = json!({"name": "Ann", "id": 7});
        assert_eq!(sms(&template, data.clone()).unwrap(), "Bonjour Ann");
        let push = template
            .render(Channel::Push, Some(&locale("en")), &data)
            .unwrap();
        assert_eq!(push.locale.as_str(), "en");

        let mut broken = read;
        if let Some(sms) = broken
            .locales
            .get_mut(&locale("fr"))
            .and_then(|v| v.sms.as_mut())
        {
            sms.message = "{{> header}}".to_owned();
        }
        let errors = CompiledTemplate::compile(&broken).unwrap_err();
        assert_eq!(
            errors
                .iter()
                .map(|e| (e.field.as_str(), e.rule))
                .collect::<Vec<_>>(),
            vec![("locales.fr.sms.message", "unsupported")]
        );
    }

    #[test]
    fn a_webhook_payload_escapes_values_as_json_strings() {
        let t = compiled(json!({
            "locales": {"en": {"webhook": {
                "payload": "{\"name\": \"{{name}}\", \"count\": {{count}}, \"items\": {{{items}}}}"
            }}}
        }));
        let data = json!({"name": "Ann \"the\" \\ O'Neil\n", "count": 3, "items": "[1,2]"});
        let RenderedContent::Webhook { payload } =
            t.render(Channel::Webhook, None, &data).unwrap().content
        else {
            panic!("a webhook part");
        };
        let parsed: Value = serde_json::from_str(&payload).expect(&payload);
        assert_eq!(
            parsed,
            json!({"name": "Ann \"the\" \\ O'Neil\n", "count": 3, "items": [1, 2]})
        );
    }
}
