//! Templates: `PUT/GET/DELETE /v1/templates/{name}`, `GET /v1/templates`,
//! `POST /v1/templates/{name}/render`, and the catalog the send paths resolve names through.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use http::StatusCode;
use lambda_http::{Body, Request, Response};
use notify_shared::{
    domain::{Channel, TenantId, time::Timestamp},
    store::{StoreError, StoredTemplate, TemplateStore, TemplateSummary},
    template::{self, CompiledTemplate, Locale, TemplateName, TemplateSource},
    validate::{FieldError, Fields},
};
use serde::Serialize;
use serde_json::{Value, json};
use tracing::{error, info};

use crate::{
    ApiError, App,
    content::{self, Paths, Texts},
    response,
};

/// Compiled templates a warm function keeps; past this it starts afresh (a tenant with more
/// templates than this in active use pays a compile per miss, nothing worse).
const CACHE_ENTRIES: usize = 512;

enum Compiled {
    Builtin(&'static CompiledTemplate),
    Owned(Arc<CompiledTemplate>),
}

/// A template ready to render: the tenant's latest version, or the built-in one.
pub struct Resolved {
    pub name: TemplateName,
    /// The saved version; 0 for a built-in template.
    pub version: u32,
    pub builtin: bool,
    /// False for a batch's inline content, compiled like a template but not a saved one.
    pub saved: bool,
    compiled: Compiled,
}

impl Resolved {
    pub fn compiled(&self) -> &CompiledTemplate {
        match &self.compiled {
            Compiled::Builtin(c) => c,
            Compiled::Owned(c) => c,
        }
    }

    /// The built-in template `name`, if there is one.
    fn builtin(name: &TemplateName) -> Option<Self> {
        template::builtin(name).map(|c| Self {
            name: name.clone(),
            version: 0,
            builtin: true,
            saved: true,
            compiled: Compiled::Builtin(c),
        })
    }

    /// Version `version` of the tenant's template `name`.
    fn saved(name: &TemplateName, version: u32, compiled: Arc<CompiledTemplate>) -> Self {
        Self {
            name: name.clone(),
            version,
            builtin: false,
            saved: true,
            compiled: Compiled::Owned(compiled),
        }
    }

    /// Inline content compiled as a template, so each recipient of a batch gets its data.
    pub fn inline(compiled: CompiledTemplate) -> Self {
        Self {
            name: TemplateName::parse("inline").unwrap_or_else(|_| unreachable!("a valid name")),
            version: 0,
            builtin: false,
            saved: false,
            compiled: Compiled::Owned(Arc::new(compiled)),
        }
    }
}

/// Names to templates, through a cache of compiled ones. Every lookup reads the latest
/// version number (one small consistent read), so a save in any function instance is seen by
/// the next send; only a changed version is fetched and compiled again.
pub struct Catalog {
    store: Arc<dyn TemplateStore>,
    cache: Mutex<HashMap<(TenantId, TemplateName), Cached>>,
}

/// A compiled version of a tenant's template.
type Cached = (u32, Arc<CompiledTemplate>);

impl Catalog {
    pub fn new(store: Arc<dyn TemplateStore>) -> Self {
        Self {
            store,
            cache: Mutex::new(HashMap::new()),
        }
    }

    fn cached(
        &self,
        tenant: &TenantId,
        name: &TemplateName,
        version: u32,
    ) -> Option<Arc<CompiledTemplate>> {
        let cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        cache
            .get(&(tenant.clone(), name.clone()))
            .filter(|(v, _)| *v == version)
            .map(|(_, c)| c.clone())
    }

    fn remember(
        &self,
        tenant: &TenantId,
        name: &TemplateName,
        version: u32,
        c: Arc<CompiledTemplate>,
    ) {
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        if cache.len() >= CACHE_ENTRIES {
            cache.clear();
        }
        cache.insert((tenant.clone(), name.clone()), (version, c));
    }

    /// The tenant's template `name`, else the built-in one of that name.
    pub async fn resolve(
        &self,
        tenant: &TenantId,
        name: &TemplateName,
    ) -> Result<Option<Resolved>, StoreError> {
        let Some(version) = self.store.latest_version(tenant, name).await? else {
            return Ok(Resolved::builtin(name));
        };
        let compiled = match self.cached(tenant, name, version) {
            Some(c) => c,
            None => {
                let Some(stored) = self.store.template(tenant, name, Some(version)).await? else {
                    // Deleted between the two reads.
                    return Ok(Resolved::builtin(name));
                };
                let compiled = Arc::new(compile_stored(&stored)?);
                self.remember(tenant, name, stored.version, compiled.clone());
                compiled
            }
        };
        Ok(Some(Resolved::saved(name, version, compiled)))
    }
}

/// A saved source compiled again (it compiled when saved; failing now means the stored item
/// was altered or the engine changed).
fn compile_stored(stored: &StoredTemplate) -> Result<CompiledTemplate, StoreError> {
    CompiledTemplate::compile(&stored.source).map_err(|errors| StoreError::Corrupt {
        id: format!("template {} v{}", stored.name.as_str(), stored.version),
        reason: errors
            .iter()
            .map(|e| format!("{}: {}", e.field, e.message))
            .collect::<Vec<_>>()
            .join("; "),
    })
}

fn unavailable(e: StoreError) -> ApiError {
    error!(error = %e, "the template store is unavailable");
    ApiError::Unavailable("the template store is unavailable; retry the request".into())
}

/// The template `name` of a request, resolved, or a 400 naming `field`.
pub async fn resolve_for_send(
    app: &App,
    tenant: &TenantId,
    name: &TemplateName,
    field: &str,
) -> Result<Resolved, ApiError> {
    app.catalog
        .resolve(tenant, name)
        .await
        .map_err(unavailable)?
        .ok_or_else(|| {
            let builtins: Vec<&str> = template::builtins().map(|(n, _)| n.as_str()).collect();
            ApiError::Validation(vec![FieldError::new(
                field,
                "not_found",
                format!(
                    "no template named `{}` (save one with PUT /v1/templates/{}; built in: {})",
                    name.as_str(),
                    name.as_str(),
                    builtins.join(", ")
                ),
            )])
        })
}

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
        let mut r = Response::new(Body::Empty);
        *r.status_mut() = StatusCode::NO_CONTENT;
        return Ok(r);
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
    f.finish().map_err(ApiError::Validation)?;
    let channel = channel.ok_or_else(|| ApiError::Validation(Vec::new()))?;

    let resolved = match version {
        None => app
            .catalog
            .resolve(tenant, &name)
            .await
            .map_err(unavailable)?,
        Some(v) => match app
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
        app.config.sms_max_chars,
        &Paths::top(),
    )
    .map_err(ApiError::Validation)?;
    let content = match rendered.texts {
        Texts::Email {
            subject,
            text,
            html,
        } => json!({ "subject": subject, "text": text, "html": html }),
        Texts::Sms { message } => {
            let s = notify_shared::domain::sms::segments(&message);
            json!({ "message": message, "segments": s.count, "encoding": s.encoding })
        }
        Texts::Push { title, body, data } => json!({ "title": title, "body": body, "data": data }),
    };
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
