//! Rendering one part of a template: what every channel's part renders with (a [`Part`], its
//! output bounded), and what rendering produces ([`Rendered`], [`RenderError`]).

use std::collections::BTreeMap;
use std::io;

use handlebars::template::{HelperTemplate, Parameter, TemplateElement};
use handlebars::{Context, Output, RenderContext, RenderErrorReason, Renderable, Template};

use super::helpers::{Escape, registry_for, reset_loop_counter};
use super::names::Locale;
use crate::domain::Channel;

/// A bound on what one part may render to, so `{{#each}}` nested over large data fails instead
/// of exhausting the function's memory; a channel's larger parts have their own.
pub const MAX_RENDERED_OTHER_BYTES: usize = 16 * 1024;

/// What a template rendered to, and in which locale.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub locale: Locale,
    pub content: RenderedContent,
}

/// One channel's part rendered; each variant is built by its channel's module in `part/`.
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
    InApp {
        title: Option<String>,
        body: String,
        action_url: Option<String>,
        data: BTreeMap<String, String>,
    },
    /// `blocks` and `card`: JSON text, not yet checked to be JSON.
    Chat {
        text: String,
        blocks: Option<String>,
        card: Option<String>,
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

/// What every part of one render shares.
pub(super) struct Part<'a> {
    pub(super) ctx: &'a Context,
    pub(super) strict: bool,
}

impl Part<'_> {
    /// Renders `template` with `escape`, failing once the output would pass `limit` bytes;
    /// `part` names it in errors (`email.subject`).
    pub(super) fn render(
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

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::template::MAX_RENDERED_HTML_BYTES;
    use crate::template::tests::{compiled, sms, sms_template};

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
}
