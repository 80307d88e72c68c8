//! Templates: `PUT/GET/DELETE /v1/templates/{name}`, `GET /v1/templates`,
//! `POST /v1/templates/{name}/render`, and the catalog the send paths resolve names through.

use std::sync::Arc;

use http::StatusCode;
use lambda_http::{Body, Request, Response};
use notify_shared::{
    domain::{Channel, TenantId, time::Timestamp},
    store::{StoredTemplate, TemplateSummary},
    template::{self, CompiledTemplate, Locale, TemplateName, TemplateSource},
    validate::{FieldError, Fields},
};
use serde::Serialize;
use serde_json::{Value, json};
use tracing::info;

use crate::{
    ApiError, App,
    catalog::{Resolved, compile_stored, unavailable},
    channel,
    content::{self, Paths},
    response,
};

fn path_name(raw: &str) -> Result<TemplateName, ApiError> {
    TemplateName::parse(raw)
        .map_err(|e| ApiError::Validation(vec![FieldError::new("name", "pattern", e)]))
}

/// `?version=N`.
fn query_version(req: &Request) -> Result<Option<u32>, ApiError> {
    let Some(query) = req.uri().query() else {
        return Ok(None);
    };
    for (k, v) in form_urlencoded::parse(query.as_bytes()) {
        if k == "version" {
            return v
                .parse::<u32>()
                .ok()
                .filter(|v| *v >= 1)
                .map(Some)
                .ok_or_else(|| {
                    ApiError::Validation(vec![FieldError::new(
                        "version",
                        "range",
                        "must be a version number (1 or more)",
                    )])
                });
        }
    }
    Ok(None)
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct TemplateView<'a> {
    name: &'a TemplateName,
    version: u32,
    builtin: bool,
    channels: Vec<Channel>,
    #[serde(flatten)]
    source: &'a TemplateSource,
    #[serde(skip_serializing_if = "Option::is_none")]
    created_at: Option<Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    updated_at: Option<Timestamp>,
}

impl<'a> TemplateView<'a> {
    fn saved(t: &'a StoredTemplate) -> Self {
        Self {
            name: &t.name,
            version: t.version,
            builtin: false,
            channels: t.source.channels().into_iter().collect(),
            source: &t.source,
            created_at: Some(t.created_at),
            updated_at: Some(t.updated_at),
        }
    }

    fn builtin(name: &'a TemplateName, c: &'a CompiledTemplate) -> Self {
        Self {
            name,
            version: 0,
            builtin: true,
            channels: c.source().channels().into_iter().collect(),
            source: c.source(),
            created_at: None,
            updated_at: None,
        }
    }
}

/// `PUT /v1/templates/{name}`: validates and compiles the body, then saves it as the next
/// version. 201 for a new template, 200 for a new version of one.
pub async fn put(
    app: &App,
    tenant: &TenantId,
    raw_name: &str,
    body: &Value,
) -> Result<Response<Body>, ApiError> {
    let name = path_name(raw_name)?;
    let (source, compiled) = TemplateSource::parse(body).map_err(ApiError::Validation)?;
    let stored = app
        .templates
        .save(tenant, &name, &source, app.clock.now())
        .await
        .map_err(unavailable)?;
    app.catalog
        .remember(tenant, &name, stored.version, Arc::new(compiled));
    info!(
        template = name.as_str(),
        version = stored.version,
        "template saved"
    );
    // A first version (of a new template, or one saved again after a delete) was saved now.
    let status = if stored.created_at == stored.updated_at {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok(response::json(status, &TemplateView::saved(&stored)))
}

/// `GET /v1/templates/{name}[?version=N]`: the latest version (or N), or the built-in one.
pub async fn get(
    app: &App,
    tenant: &TenantId,
    raw_name: &str,
    req: &Request,
) -> Result<Response<Body>, ApiError> {
    let name = path_name(raw_name)?;
    let version = query_version(req)?;
    let not_found = || ApiError::NotFound(format!("no template named `{}`", name.as_str()));
    if let Some(stored) = app
        .templates
        .template(tenant, &name, version)
        .await
        .map_err(unavailable)?
    {
        return Ok(response::json(
            StatusCode::OK,
            &TemplateView::saved(&stored),
        ));
    }
    let saved = app
        .templates
        .latest_version(tenant, &name)
        .await
        .map_err(unavailable)?;
    match (saved, version, template::builtin(&name)) {
        (None, None, Some(c)) => Ok(response::json(
            StatusCode::OK,
            &TemplateView::builtin(&name, c),
        )),
        (Some(_), Some(v), _) => Err(ApiError::NotFound(format!(
            "template `{}` has no version {v}",
            name.as_str()
        ))),
        _ => Err(not_found()),
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ListEntry {
    name: TemplateName,
    version: u32,
    builtin: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<String>,
    locales: Vec<Locale>,
    channels: Vec<Channel>,
    #[serde(skip_serializing_if = "Option::is_none")]
    created_at: Option<Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    updated_at: Option<Timestamp>,
}

/// `GET /v1/templates`: the tenant's templates, and the built-in ones it has not overridden.
pub async fn list(app: &App, tenant: &TenantId) -> Result<Response<Body>, ApiError> {
    let saved = app.templates.list(tenant).await.map_err(unavailable)?;
    let mut entries: Vec<ListEntry> = template::builtins()
        .filter(|(name, _)| !saved.iter().any(|s| &s.name == *name))
        .map(|(name, c)| ListEntry {
            name: name.clone(),
            version: 0,
            builtin: true,
            description: c.source().description.clone(),
            locales: c.source().locales.keys().cloned().collect(),
            channels: c.source().channels().into_iter().collect(),
            created_at: None,
            updated_at: None,
        })
        .collect();
    entries.extend(saved.into_iter().map(|s: TemplateSummary| ListEntry {
        name: s.name,
        version: s.version,
        builtin: false,
        description: s.description,
        locales: s.locales,
        channels: s.channels,
        created_at: Some(s.created_at),
        updated_at: Some(s.updated_at),
    }));
    entries.sort_by(|a, b| a.name.as_str().cmp(b.name.as_str()));
    Ok(response::json(
        StatusCode::OK,
        &json!({ "templates": entries }),
    ))
}

/// `DELETE /v1/templates/{name}`: removes every version; a built-in of that name shows
/// through again. Built-in templates themselves cannot be deleted.
pub async fn delete(
    app: &App,
    tenant: &TenantId,
    raw_name: &str,
) -> Result<Response<Body>, ApiError> {
    let name = path_name(raw_name)?;
    let deleted = app
        .templates
        .delete(tenant, &name, app.clock.now())
        .await
        .map_err(unavailable)?;
    if deleted {
        info!(template = name.as_str(), "template deleted");
        return Ok(response::no_content());
    }
    if template::builtin(&name).is_some() {
        return Err(ApiError::Conflict {
            code: "builtin_template",
            message: format!(
                "`{}` is a built-in template: it cannot be deleted, but saving one of that name overrides it",
                name.as_str()
            ),
        });
    }
    Err(ApiError::NotFound(format!(
        "no template named `{}`",
        name.as_str()
    )))
}

/// `POST /v1/templates/{name}/render` `{"channel", "locale"?, "data"?, "version"?}`: what a
/// send would produce, checked as a send would check it; nothing is sent. Without `data`,
/// the template's `sampleData`.
pub async fn render(
    app: &App,
    tenant: &TenantId,
    raw_name: &str,
    body: &Value,
) -> Result<Response<Body>, ApiError> {
    let name = path_name(raw_name)?;
    let mut f = Fields::of(body, "").map_err(|e| ApiError::Validation(vec![e]))?;
    let channel = f.required_enum::<Channel>("channel");
    let locale = content::locale(&mut f, "locale");
    let data = f.optional_value("data").cloned();
    if data.as_ref().is_some_and(|d| !d.is_object()) {
        f.error("data", "type", "must be a JSON object");
    }
    let version = f.optional_u32("version", 1..=u32::MAX);
    // An unsaved template (as `PUT` takes it): the console's live preview of an edit.
    let source = f.optional_value("source");
    if source.is_some() && version.is_some() {
        f.error(
            "source",
            "exclusive",
            "give either source or version, not both",
        );
    }
    let mut errors = Vec::new();
    let source = match source.map(TemplateSource::parse) {
        Some(Ok((_, compiled))) => Some(compiled),
        Some(Err(e)) => {
            errors.extend(
                e.into_iter()
                    .map(|e| FieldError::new(format!("source.{}", e.field), e.rule, e.message)),
            );
            None
        }
        None => None,
    };
    if let Err(e) = f.finish() {
        errors.splice(0..0, e);
    }
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let channel = channel.ok_or_else(|| ApiError::Validation(Vec::new()))?;

    let resolved = match (source, version) {
        (Some(compiled), _) => Some(Resolved::inline(compiled)),
        (None, None) => app
            .catalog
            .resolve(tenant, &name)
            .await
            .map_err(unavailable)?,
        (None, Some(v)) => match app
            .templates
            .template(tenant, &name, Some(v))
            .await
            .map_err(unavailable)?
        {
            Some(stored) => Some(Resolved::saved(
                &name,
                stored.version,
                Arc::new(compile_stored(&stored).map_err(unavailable)?),
            )),
            None => None,
        },
    }
    .ok_or_else(|| ApiError::NotFound(format!("no template named `{}`", name.as_str())))?;
    let data = data
        .or_else(|| resolved.compiled().source().sample_data.clone())
        .unwrap_or_else(|| json!({}));
    let rendered = content::render(
        &resolved,
        channel,
        locale.as_ref(),
        &data,
        None,
        &app.config.channel,
        &Paths::top(),
    )
    .map_err(ApiError::Validation)?;
    let content = channel::preview(rendered.texts);
    Ok(response::json(
        StatusCode::OK,
        &json!({
            "name": name,
            "version": resolved.version,
            "builtin": resolved.builtin,
            "channel": channel,
            "locale": rendered.locale,
            "content": content,
        }),
    ))
}
