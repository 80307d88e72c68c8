use std::{
    collections::{HashMap, VecDeque},
    sync::Mutex,
};

use async_trait::async_trait;

use super::{Provider, ProviderError, Receipt};
use crate::domain::{Address, Channel, Notification, NotificationId};

type Answer = Result<Receipt, ProviderError>;

/// A provider for unit tests: answers from a script (per target, then in call order, then
/// success), resolves targets from a fixed list when given one, and records every call.
pub struct ScriptedProvider {
    channel: Channel,
    script: Mutex<VecDeque<Answer>>,
    per_target: Mutex<HashMap<String, VecDeque<Answer>>>,
    targets: Option<Vec<Address>>,
    calls: Mutex<Vec<(NotificationId, String)>>,
    forgotten: Mutex<Vec<String>>,
    latency: std::time::Duration,
}

impl ScriptedProvider {
    pub fn new(channel: Channel) -> Self {
        Self {
            channel,
            script: Mutex::new(VecDeque::new()),
            per_target: Mutex::new(HashMap::new()),
            targets: None,
            calls: Mutex::new(Vec::new()),
            forgotten: Mutex::new(Vec::new()),
            latency: std::time::Duration::ZERO,
        }
    }

    /// Every send takes this long before it answers, as a provider over the network does.
    pub fn with_latency(mut self, latency: std::time::Duration) -> Self {
        self.latency = latency;
        self
    }

    /// The next calls answer these, in order.
    pub fn then(self, answer: Answer) -> Self {
        lock(&self.script).push_back(answer);
        self
    }

    /// The next calls for `target` answer these, in order.
    pub fn then_for(self, target: &str, answer: Answer) -> Self {
        lock(&self.per_target)
            .entry(target.to_owned())
            .or_default()
            .push_back(answer);
        self
    }

    /// Every notification resolves to these targets.
    pub fn with_targets(mut self, targets: Vec<Address>) -> Self {
        self.targets = Some(targets);
        self
    }

    /// (notification, target) of every send, in order.
    pub fn calls(&self) -> Vec<(NotificationId, String)> {
        lock(&self.calls).clone()
    }

    /// The targets the worker asked to forget.
    pub fn forgotten(&self) -> Vec<String> {
        lock(&self.forgotten).clone()
    }
}

/// A panic in another test thread must not hide what was recorded.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[async_trait]
impl Provider for ScriptedProvider {
    fn name(&self) -> &'static str {
        "scripted"
    }

    fn channel(&self) -> Channel {
        self.channel
    }

    async fn targets(&self, notification: &Notification) -> Result<Vec<Address>, ProviderError> {
        match &self.targets {
            Some(t) => Ok(t.clone()),
            None => Ok(notification.recipient.address().into_iter().collect()),
        }
    }

    async fn send(&self, notification: &Notification, to: &Address) -> Answer {
        if !self.latency.is_zero() {
            tokio::time::sleep(self.latency).await;
        }
        let call = {
            let mut calls = lock(&self.calls);
            calls.push((notification.id.clone(), to.as_str().to_owned()));
            calls.len()
        };
        let for_target = lock(&self.per_target)
            .get_mut(to.as_str())
            .and_then(VecDeque::pop_front);
        let scripted = for_target.or_else(|| lock(&self.script).pop_front());
        scripted.unwrap_or_else(|| {
            Ok(Receipt {
                message_id: format!("scripted-{call}"),
                response: None,
            })
        })
    }

    async fn forget(&self, _notification: &Notification, to: &Address) {
        lock(&self.forgotten).push(to.as_str().to_owned());
    }
}
