//! The templates shipped with the service, in `shared/templates/<name>.json` (the shape of a
//! `PUT /v1/templates/{name}` body), compiled on first use.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use super::compiled::CompiledTemplate;
use super::names::TemplateName;
use super::source::TemplateSource;

const SOURCES: &[(&str, &str)] = &[
    (
        "confirmation",
        include_str!("../../templates/confirmation.json"),
    ),
    (
        "event-confirmation",
        include_str!("../../templates/event-confirmation.json"),
    ),
    (
        "event-reminder",
        include_str!("../../templates/event-reminder.json"),
    ),
    (
        "newsletter",
        include_str!("../../templates/newsletter.json"),
    ),
    ("otp", include_str!("../../templates/otp.json")),
    ("reset", include_str!("../../templates/reset.json")),
    ("welcome", include_str!("../../templates/welcome.json")),
];

/// Shipped with the binary and checked by the tests below, so a failure here is a build defect,
/// not bad input.
static BUILTINS: LazyLock<BTreeMap<TemplateName, CompiledTemplate>> = LazyLock::new(|| {
    SOURCES
        .iter()
        .map(|(name, json)| {
            let name = TemplateName::parse(name)
                .unwrap_or_else(|e| panic!("built-in template name `{name}`: {e}"));
            let body = serde_json::from_str(json)
                .unwrap_or_else(|e| panic!("built-in template `{name}` is not JSON: {e}"));
            let (_, compiled) = TemplateSource::parse(&body)
                .unwrap_or_else(|e| panic!("built-in template `{name}` is invalid: {e:?}"));
            (name, compiled)
        })
        .collect()
});

/// The built-in template of that name.
pub fn builtin(name: &TemplateName) -> Option<&'static CompiledTemplate> {
    BUILTINS.get(name)
}

/// Every built-in template, sorted by name.
pub fn builtins() -> impl Iterator<Item = (&'static TemplateName, &'static CompiledTemplate)> {
    BUILTINS.iter()
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;
    use crate::domain::Channel;
    use crate::template::{Locale, RenderError, RenderedContent};

    fn named(name: &str) -> &'static CompiledTemplate {
        builtin(&TemplateName::parse(name).unwrap()).unwrap()
    }

    /// GSM 03.38: the basic character set and its extension table.
    const GSM7: &str = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡\
                        ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà^{}\\[~]|€";

    #[test]
    fn the_builtins_are_listed_by_name() {
        let names: Vec<&str> = builtins().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            vec![
                "confirmation",
                "event-confirmation",
                "event-reminder",
                "newsletter",
                "otp",
                "reset",
                "welcome",
            ]
        );
        assert!(builtin(&TemplateName::parse("nope").unwrap()).is_none());
        for (name, template) in builtins() {
            let source = template.source();
            let locales: Vec<&str> = source.locales.keys().map(Locale::as_str).collect();
            assert_eq!(locales, vec!["en", "fr"], "{name}");
            assert_eq!(source.default_locale.as_str(), "en", "{name}");
            assert_eq!(source.strict, name.as_str() == "otp", "{name}");
            assert!(source.description.is_some(), "{name}");
        }
        let channels = |name: &str| {
            named(name)
                .source()
                .channels()
                .into_iter()
                .collect::<Vec<_>>()
        };
        let all = vec![Channel::Email, Channel::Sms, Channel::Push];
        assert_eq!(channels("event-confirmation"), all);
        assert_eq!(channels("event-reminder"), all);
        assert_eq!(channels("otp"), all);
        assert_eq!(channels("newsletter"), vec![Channel::Email]);
        for name in ["welcome", "reset", "confirmation"] {
            assert_eq!(channels(name), vec![Channel::Email, Channel::Sms], "{name}");
        }
    }

    #[test]
    fn every_builtin_renders_every_part_with_its_sample_data_in_strict_mode() {
        for (name, template) in builtins() {
            let mut source = template.source().clone();
            source.strict = true;
            let strict = CompiledTemplate::compile(&source).unwrap();
            let data = source
                .sample_data
                .clone()
                .unwrap_or_else(|| panic!("{name}: no sampleData"));
            for (locale, variant) in &source.locales {
                for channel in Channel::ALL.into_iter().filter(|c| variant.has(*c)) {
                    let rendered = strict
                        .render(channel, Some(locale), &data)
                        .unwrap_or_else(|e| panic!("{name} {locale} {channel}: {e}"));
                    assert_eq!(&rendered.locale, locale);
                    let texts: Vec<String> = match rendered.content {
                        RenderedContent::Email {
                            subject,
                            html,
                            text,
                        } => {
                            assert!(html.is_some(), "{name} {locale}");
                            // The text the worker derives when the template has none.
                            let text = text
                                .or_else(|| crate::template::html_to_text(html.as_deref()?).ok());
                            assert!(text.is_some(), "{name} {locale}");
                            [Some(subject), html, text].into_iter().flatten().collect()
                        }
                        RenderedContent::Sms { message } => {
                            assert!(message.chars().count() <= 160, "{name} {locale}: {message}");
                            vec![message]
                        }
                        RenderedContent::Push { title, body, data } => [title, body]
                            .into_iter()
                            .flatten()
                            .chain(data.into_values())
                            .collect(),
                        RenderedContent::Webhook { payload } => {
                            serde_json::from_str::<serde_json::Value>(&payload)
                                .unwrap_or_else(|e| panic!("{name} {locale}: {e}: {payload}"));
                            vec![payload]
                        }
                        RenderedContent::InApp {
                            title,
                            body,
                            action_url,
                            data,
                        } => [title, Some(body), action_url]
                            .into_iter()
                            .flatten()
                            .chain(data.into_values())
                            .collect(),
                        RenderedContent::Chat { text, blocks, card } => {
                            [Some(text), blocks, card].into_iter().flatten().collect()
                        }
                    };
                    for text in texts {
                        assert!(!text.trim().is_empty(), "{name} {locale} {channel}");
                        assert!(!text.contains("{{"), "{name} {locale} {channel}: {text}");
                    }
                }
            }
        }
    }

    #[test]
    fn builtin_sms_messages_fit_the_gsm7_alphabet() {
        for (name, template) in builtins() {
            for (locale, variant) in &template.source().locales {
                if let Some(sms) = &variant.sms {
                    let outside: String =
                        sms.message.chars().filter(|c| !GSM7.contains(*c)).collect();
                    assert!(outside.is_empty(), "{name} {locale}: {outside:?}");
                }
            }
        }
    }

    #[test]
    fn otp_is_strict_about_its_code() {
        let err = named("otp")
            .render(Channel::Sms, None, &json!({}))
            .unwrap_err();
        assert!(
            matches!(&err, RenderError::MissingVariable { variable, .. } if variable == "code"),
            "{err:?}"
        );
        let fr = Locale::parse("fr-FR").unwrap();
        let rendered = named("otp")
            .render(Channel::Sms, Some(&fr), &json!({"code": "123456"}))
            .unwrap();
        assert_eq!(rendered.locale.as_str(), "fr");
        assert_eq!(
            rendered.content,
            RenderedContent::Sms {
                message: "Votre code OTP est 123456. Ne le communiquez à personne.".to_owned()
            }
        );
    }

    /// The template of the service's specification ("Templates dynamiques").
    const SEED_HTML: &str = "<!DOCTYPE html>
<html>
<head>
    <title>Confirmation : {{eventName}}</title>
</head>
<body>
    <h1>Bonjour {{firstName}} {{lastName}} !</h1>
    <p>Votre inscription à <strong>{{eventName}}</strong> est confirmée.</p>
    <div class=\"event-details\">
        <p>📅 Date : {{eventDate}}</p>
        <p>📍 Lieu : {{location}}</p>
        <p>🎫 Places : {{ticketCount}}</p>
    </div>
    {{#if hasQRCode}}
    <div class=\"qr-code\">
        <img src=\"{{qrCodeUrl}}\" alt=\"QR Code d'accès\">
    </div>
    {{/if}}
    <p>À bientôt !</p>
</body>
</html>";

    fn seed_html(data: &Value) -> String {
        let fr = Locale::parse("fr").unwrap();
        match named("event-confirmation")
            .render(Channel::Email, Some(&fr), data)
            .unwrap()
            .content
        {
            RenderedContent::Email {
                html: Some(html), ..
            } => html,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_seed_template_renders_with_the_seed_data() {
        let source = named("event-confirmation").source();
        let fr = &source.locales[&Locale::parse("fr").unwrap()];
        assert_eq!(
            fr.email.as_ref().and_then(|e| e.html.as_deref()),
            Some(SEED_HTML)
        );
        let data = json!({
            "firstName": "Jean", "lastName": "Dupont", "eventName": "Tech Conference 2024",
            "eventDate": "31/12/2024", "location": "Paris", "ticketCount": 2,
            "hasQRCode": true, "qrCodeUrl": "https://example.com/qr?id=1&t=2",
        });
        let expected = "<!DOCTYPE html>
<html>
<head>
    <title>Confirmation : Tech Conference 2024</title>
</head>
<body>
    <h1>Bonjour Jean Dupont !</h1>
    <p>Votre inscription à <strong>Tech Conference 2024</strong> est confirmée.</p>
    <div class=\"event-details\">
        <p>📅 Date : 31/12/2024</p>
        <p>📍 Lieu : Paris</p>
        <p>🎫 Places : 2</p>
    </div>
    <div class=\"qr-code\">
        <img src=\"https://example.com/qr?id&#x3D;1&amp;t&#x3D;2\" alt=\"QR Code d'accès\">
    </div>
    <p>À bientôt !</p>
</body>
</html>";
        assert_eq!(seed_html(&data), expected);

        let mut without_qr = data.clone();
        without_qr["hasQRCode"] = json!(false);
        let html = seed_html(&without_qr);
        assert!(
            !html.contains("qr-code") && html.contains("🎫 Places : 2"),
            "{html}"
        );

        // The specification's request sends only some of the fields: the rest render empty.
        let partial =
            json!({"eventName": "Tech Conference 2024", "date": "2024-12-31", "location": "Paris"});
        let html = seed_html(&partial);
        assert!(html.contains("<h1>Bonjour   !</h1>"), "{html}");
        assert!(html.contains("📍 Lieu : Paris"), "{html}");
    }
}
