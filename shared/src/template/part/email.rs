//! The email part: a subject and an HTML or a text body or both. The subject is one line (it
//! goes into a header), only the HTML is escaped, and when the template has no text the email
//! worker derives it from the HTML at send time ([`html_to_text`]): not at accept, where it was
//! most of a batch's rendering, nor in the record, where it would be written and stored.

use handlebars::Template;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::template::helpers::Escape;
use crate::template::object::{Invalid, object};
use crate::template::render::{MAX_RENDERED_OTHER_BYTES, Part, RenderError, RenderedContent};
use crate::validate::{FieldError, MAX_HTML_BYTES, MAX_TEXT_BYTES};

pub const MAX_SUBJECT_BYTES: usize = 2 * 1024;
/// Bounds on what the bodies may render to (see [`MAX_RENDERED_OTHER_BYTES`]).
pub const MAX_RENDERED_HTML_BYTES: usize = 512 * 1024;
pub const MAX_RENDERED_TEXT_BYTES: usize = 256 * 1024;
/// Where the text derived from the HTML wraps.
const TEXT_WIDTH: usize = 78;

/// A subject, and an HTML or a text body or both (the text is derived from the HTML when
/// missing, at send time).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmailPart {
    pub subject: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub html: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
}

#[derive(Debug)]
pub(super) struct CompiledEmail {
    subject: Template,
    html: Option<Template>,
    text: Option<Template>,
}

pub(super) fn read(
    value: &Value,
    path: &str,
    errors: &mut Vec<FieldError>,
) -> Result<(EmailPart, CompiledEmail), Invalid> {
    let mut obj = object(value, path, errors)?;
    // The subject goes into a header: one line.
    let subject = obj.required_template("subject", MAX_SUBJECT_BYTES, true);
    let html = obj.template("html", MAX_HTML_BYTES, false);
    let text = obj.template("text", MAX_TEXT_BYTES, false);
    let has_body = obj.fields.has("html") || obj.fields.has("text");
    errors.extend(obj.finish());
    if !has_body {
        errors.push(FieldError::new(
            path,
            "required",
            "needs html or text, or both",
        ));
        return Err(Invalid);
    }
    let ((subject, subject_t), html, text) = (subject?, html?, text?);
    let (html, html_t) = html.unzip();
    let (text, text_t) = text.unzip();
    Ok((
        EmailPart {
            subject,
            html,
            text,
        },
        CompiledEmail {
            subject: subject_t,
            html: html_t,
            text: text_t,
        },
    ))
}

impl CompiledEmail {
    pub(super) fn render(&self, part: &Part) -> Result<RenderedContent, RenderError> {
        let subject = part.render(
            &self.subject,
            "email.subject",
            Escape::None,
            MAX_RENDERED_OTHER_BYTES,
        )?;
        let html = self
            .html
            .as_ref()
            .map(|t| part.render(t, "email.html", Escape::Html, MAX_RENDERED_HTML_BYTES))
            .transpose()?;
        let text = self
            .text
            .as_ref()
            .map(|t| part.render(t, "email.text", Escape::None, MAX_RENDERED_TEXT_BYTES))
            .transpose()?;
        Ok(RenderedContent::Email {
            subject: single_line(&subject),
            html,
            text,
        })
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
pub fn html_to_text(html: &str) -> Result<String, RenderError> {
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
    use crate::domain::Channel;
    use crate::template::tests::compiled;

    #[test]
    fn the_text_derived_from_the_html_keeps_its_words_and_links_and_is_left_to_send_time() {
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
            text: None,
            html: Some(html),
            ..
        } = template
            .render(Channel::Email, None, &data)
            .unwrap()
            .content
        else {
            panic!("rendering derives no text");
        };
        let text = html_to_text(&html).unwrap();
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
}
