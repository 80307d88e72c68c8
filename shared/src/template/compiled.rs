//! A template compiled: every part of every locale, compiled once when the template is read,
//! and the locale a request is rendered in.

use std::collections::BTreeMap;

use handlebars::Context;
use serde_json::Value;

use super::names::Locale;
use super::part::CompiledVariant;
use super::render::{Part, RenderError, Rendered};
use super::source::{self, TemplateSource};
use crate::domain::Channel;
use crate::validate::FieldError;

/// A template ready to render: every part compiled once, shareable across requests and
/// threads (`Arc<CompiledTemplate>`).
#[derive(Debug)]
pub struct CompiledTemplate {
    source: TemplateSource,
    variants: BTreeMap<Locale, CompiledVariant>,
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
        // `resolve` chose a locale whose variant has this channel's part.
        let content = variant.render(channel, &part).unwrap_or_else(|| {
            Err(RenderError::NoVariant {
                channel,
                locales: vec![locale.clone()],
            })
        })?;
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

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::template::tests::{compiled, locale, sms};

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
}
