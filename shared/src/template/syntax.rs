//! Compiling one part of a template, and refusing what it may not use.

use std::sync::LazyLock;

use handlebars::template::{HelperTemplate, Parameter, TemplateElement, TemplateMapping};
use handlebars::{Template, TemplateError};

use super::helpers::{LOOP_TICK, OWN_HELPERS, is_helper};
use crate::validate::FieldError;

/// Compiles the text of the part at `field`. Syntax errors name their line and column.
/// Partials and decorators are refused: nothing is registered to resolve a partial, and an
/// inline partial can include itself forever. Helpers must exist and take the arguments given,
/// so a typo fails when the template is saved rather than when a notification is sent.
pub(super) fn compile(field: &str, text: &str) -> Result<Template, FieldError> {
    let mut template = Template::compile(text).map_err(|e| syntax_error(field, &e))?;
    check_template(&template, field)?;
    count_loop_iterations(&mut template);
    Ok(template)
}

/// `{{LOOP_TICK}}`, compiled once.
static TICK: LazyLock<TemplateElement> = LazyLock::new(|| {
    Template::compile(&format!("{{{{{LOOP_TICK}}}}}"))
        .ok()
        .and_then(|t| t.elements.into_iter().next())
        .expect("a constant template compiles")
});

/// Output is bounded, but a loop with an empty body writes nothing: `{{#each}}` nested three
/// deep over a thousand items would spin a billion times. Every `{{#each}}` body starts with
/// a helper that counts the iterations of the part and stops them past a bound; it writes
/// nothing, so the output is unchanged.
fn count_loop_iterations(template: &mut Template) {
    for (element, mapping) in template.elements.iter_mut().zip(&template.mapping) {
        let TemplateElement::HelperBlock(h) = element else {
            continue;
        };
        for inner in [&mut h.template, &mut h.inverse].into_iter().flatten() {
            count_loop_iterations(inner);
        }
        if h.name.as_name() == Some("each")
            && let Some(body) = &mut h.template
        {
            body.elements.insert(0, TICK.clone());
            // Errors in the counter point at the loop.
            body.mapping.insert(0, mapping.clone());
        }
    }
}

fn syntax_error(field: &str, e: &TemplateError) -> FieldError {
    let message = match e.pos() {
        Some((line, column)) => format!("line {line}, column {column}: {}", e.reason()),
        None => e.reason().to_string(),
    };
    FieldError::new(field, "syntax", message)
}

type Position = Option<(usize, usize)>;

fn at(position: Position, message: &str) -> String {
    match position {
        Some((line, column)) => format!("line {line}, column {column}: {message}"),
        None => message.to_owned(),
    }
}

fn check_template(template: &Template, field: &str) -> Result<(), FieldError> {
    for (i, element) in template.elements.iter().enumerate() {
        let position = template
            .mapping
            .get(i)
            .map(|m: &TemplateMapping| (m.0, m.1));
        check_element(element, position, field)?;
    }
    Ok(())
}

fn check_element(
    element: &TemplateElement,
    position: Position,
    field: &str,
) -> Result<(), FieldError> {
    let unsupported = |what: &str| {
        FieldError::new(
            field,
            "unsupported",
            at(position, &format!("{what} are not supported")),
        )
    };
    match element {
        TemplateElement::RawString(_) | TemplateElement::Comment(_) => Ok(()),
        TemplateElement::Expression(h) | TemplateElement::HtmlExpression(h) => {
            check_helper(h, false, position, field)
        }
        TemplateElement::HelperBlock(h) => {
            check_helper(h, true, position, field)?;
            for inner in [&h.template, &h.inverse].into_iter().flatten() {
                check_template(inner, field)?;
            }
            Ok(())
        }
        TemplateElement::PartialExpression(_) | TemplateElement::PartialBlock(_) => {
            Err(unsupported("partials ({{> name}}, {{#> name}})"))
        }
        TemplateElement::DecoratorExpression(_) | TemplateElement::DecoratorBlock(_) => Err(
            unsupported("decorators and inline partials ({{* name}}, {{#*inline}})"),
        ),
        _ => Err(unsupported("this kind of expression")),
    }
}

/// `called`: whether the expression must name a helper (a block, a subexpression, or an
/// expression with arguments); a bare `{{name}}` may be a variable.
fn check_helper(
    h: &HelperTemplate,
    called: bool,
    position: Position,
    field: &str,
) -> Result<(), FieldError> {
    let called = called || h.block || !h.params.is_empty() || !h.hash.is_empty();
    let name = h.name.as_name().unwrap_or_default();
    if (called && !is_helper(name)) || name == LOOP_TICK {
        return Err(FieldError::new(
            field,
            "unknown_helper",
            at(position, &format!("`{name}` is not a helper")),
        ));
    }
    if let Some((_, arity)) = OWN_HELPERS.iter().find(|(n, _)| *n == name)
        && !arity.contains(&h.params.len())
    {
        let expected = if arity.start() == arity.end() {
            arity.start().to_string()
        } else {
            format!("{} to {}", arity.start(), arity.end())
        };
        return Err(FieldError::new(
            field,
            "arguments",
            at(
                position,
                &format!(
                    "`{name}` takes {expected} arguments, not {}",
                    h.params.len()
                ),
            ),
        ));
    }
    for param in h.params.iter().chain(h.hash.values()) {
        if let Parameter::Subexpression(sub) = param {
            match sub.as_element() {
                TemplateElement::Expression(inner) => check_helper(inner, true, position, field)?,
                other => check_element(other, position, field)?,
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(text: &str) -> (String, &'static str, String) {
        let e = compile("locales.fr.email.html", text).unwrap_err();
        (e.field, e.rule, e.message)
    }

    #[test]
    fn syntax_errors_name_line_and_column() {
        let (field, rule, message) = error("<p>\n  Hello\n  {{#if x}}open\n");
        assert_eq!((field.as_str(), rule), ("locales.fr.email.html", "syntax"));
        assert!(message.starts_with("line "), "{message}");
        let (_, rule, message) = error("a\nb {{name");
        assert_eq!(rule, "syntax");
        assert!(message.starts_with("line 2, column "), "{message}");
    }

    #[test]
    fn partials_and_decorators_are_refused() {
        for text in [
            "{{> header}}",
            "x {{#> layout}}body{{/layout}}",
            "{{#*inline \"loop\"}}{{> loop}}{{/inline}}{{> loop}}",
            "{{*decorate}}",
            "{{#if a}}\n  {{> nested}}\n{{/if}}",
        ] {
            let (_, rule, _) = error(text);
            assert_eq!(rule, "unsupported", "{text}");
        }
        let (_, _, message) = error("{{#if a}}\n  {{> nested}}\n{{/if}}");
        assert!(message.starts_with("line 2, column 3:"), "{message}");
    }

    #[test]
    fn unknown_helpers_and_wrong_arity_are_refused() {
        assert_eq!(error("{{uper name}}").1, "unknown_helper");
        assert_eq!(error("{{#items}}x{{/items}}").1, "unknown_helper");
        assert_eq!(error("{{upper (nope x)}}").1, "unknown_helper");
        assert_eq!(error("{{log \"x\"}}").1, "unknown_helper");
        assert_eq!(error(&format!("{{{{{LOOP_TICK}}}}}")).1, "unknown_helper");
        assert_eq!(error("{{default name}}").1, "arguments");
        assert_eq!(error("{{formatDate}}").1, "arguments");
        for ok in [
            "{{name}} {{user.name}} {{this}} {{{raw}}}",
            "{{#each items}}{{@index}} {{../title}}{{/each}}",
            "{{#if a}}x{{else if b}}y{{else}}z{{/if}}",
            "{{formatDate at \"long\" \"Europe/Paris\"}} {{formatNumber n 2 thousands=\" \"}}",
            "{{upper (default nickname \"there\")}}",
        ] {
            assert!(compile("f", ok).is_ok(), "{ok}");
        }
    }
}
