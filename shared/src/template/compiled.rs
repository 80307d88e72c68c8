//! A template's parts compiled, per locale and channel: what parsing a source produces and
//! rendering reads. Plain data, so the source reader and the renderer both depend on it and
//! not on each other.

use std::collections::BTreeMap;

use handlebars::Template;

use crate::domain::Channel;

#[derive(Debug)]
pub(super) struct CompiledVariant {
    pub(super) email: Option<CompiledEmail>,
    pub(super) sms: Option<Template>,
    pub(super) push: Option<CompiledPush>,
    pub(super) webhook: Option<Template>,
}

impl CompiledVariant {
    pub(super) fn has(&self, channel: Channel) -> bool {
        match channel {
            Channel::Email => self.email.is_some(),
            Channel::Sms => self.sms.is_some(),
            Channel::Push => self.push.is_some(),
            Channel::Webhook => self.webhook.is_some(),
        }
    }
}

#[derive(Debug)]
pub(super) struct CompiledEmail {
    pub(super) subject: Template,
    pub(super) html: Option<Template>,
    pub(super) text: Option<Template>,
}

#[derive(Debug)]
pub(super) struct CompiledPush {
    pub(super) title: Option<Template>,
    pub(super) body: Option<Template>,
    pub(super) data: BTreeMap<String, Template>,
}
