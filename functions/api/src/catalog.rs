//! Template names to compiled templates, for every send path: the tenant's latest version
//! (through a cache of compiled ones), else the built-in one of that name.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use notify_shared::{
    domain::TenantId,
    store::{StoreError, StoredTemplate, TemplateStore},
    template::{self, CompiledTemplate, TemplateName},
    validate::FieldError,
};
use tracing::error;

use crate::ApiError;

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
    pub(crate) fn builtin(name: &TemplateName) -> Option<Self> {
        template::builtin(name).map(|c| Self {
            name: name.clone(),
            version: 0,
            builtin: true,
            saved: true,
            compiled: Compiled::Builtin(c),
        })
    }

    /// Version `version` of the tenant's template `name`.
    pub(crate) fn saved(
        name: &TemplateName,
        version: u32,
        compiled: Arc<CompiledTemplate>,
    ) -> Self {
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

    pub(crate) fn remember(
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
pub(crate) fn compile_stored(stored: &StoredTemplate) -> Result<CompiledTemplate, StoreError> {
    CompiledTemplate::compile(&stored.source).map_err(|errors| StoreError::Corrupt {
        id: format!("template {} v{}", stored.name.as_str(), stored.version),
        reason: errors
            .iter()
            .map(|e| format!("{}: {}", e.field, e.message))
            .collect::<Vec<_>>()
            .join("; "),
    })
}

pub(crate) fn unavailable(e: StoreError) -> ApiError {
    error!(error = %e, "the template store is unavailable");
    ApiError::Unavailable("the template store is unavailable; retry the request".into())
}

/// The template `name` of a request, resolved, or a 400 naming `field`.
pub async fn resolve_for_send(
    catalog: &Catalog,
    tenant: &TenantId,
    name: &TemplateName,
    field: &str,
) -> Result<Resolved, ApiError> {
    catalog
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
