use std::{collections::VecDeque, sync::Mutex};

use async_trait::async_trait;

use super::{Provider, ProviderError, Receipt};
use crate::domain::{Channel, Notification, NotificationId};

/// A provider for unit tests: answers from a script (then succeeds), and records every call.
pub struct ScriptedProvider {
    channel: Channel,
    script: Mutex<VecDeque<Result<Receipt, ProviderError>>>,
    calls: Mutex<Vec<NotificationId>>,
}

impl ScriptedProvider {
    pub fn new(channel: Channel) -> Self {
        Self {
            channel,
            script: Mutex::new(VecDeque::new()),
            calls: Mutex::new(Vec::new()),
        }
    }

    /// The next calls answer these, in order.
    pub fn then(self, answer: Result<Receipt, ProviderError>) -> Self {
        self.script
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push_back(answer);
        self
    }

    pub fn calls(&self) -> Vec<NotificationId> {
        self.calls.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

#[async_trait]
impl Provider for ScriptedProvider {
    fn name(&self) -> &'static str {
        "scripted"
    }

    fn channel(&self) -> Channel {
        self.channel
    }

    async fn send(&self, notification: &Notification) -> Result<Receipt, ProviderError> {
        let call = {
            let mut calls = self.calls.lock().unwrap_or_else(|p| p.into_inner());
            calls.push(notification.id.clone());
            calls.len()
        };
        let scripted = self
            .script
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .pop_front();
        scripted.unwrap_or_else(|| {
            Ok(Receipt {
                message_id: format!("scripted-{call}"),
            })
        })
    }
}
