//! Metrics in CloudWatch Embedded Metric Format: one JSON line on stdout per batch of values,
//! which CloudWatch Logs turns into metrics without any API call from the function
//! (<https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html>).

use std::sync::OnceLock;

use serde_json::{Map, Value, json};

/// `NOTIFY_METRICS_NAMESPACE`, default `Notify`, read once.
fn namespace() -> &'static str {
    static NAMESPACE: OnceLock<String> = OnceLock::new();
    NAMESPACE.get_or_init(|| {
        std::env::var("NOTIFY_METRICS_NAMESPACE")
            .ok()
            .filter(|n| !n.trim().is_empty())
            .unwrap_or_else(|| "Notify".to_owned())
    })
}

/// A set of values sharing the same dimensions.
///
/// The values are published under every leading part of the dimensions (`Channel`, then
/// `Channel`+`Priority`), so a dashboard can show a channel's total without adding priorities.
#[derive(Debug, Default, Clone)]
pub struct Metrics {
    dimensions: Vec<(String, String)>,
    values: Vec<(String, Value, &'static str)>,
}

impl Metrics {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn dimension(mut self, name: &str, value: &str) -> Self {
        self.dimensions.push((name.to_owned(), value.to_owned()));
        self
    }

    pub fn count(mut self, name: &str, value: usize) -> Self {
        self.values.push((name.to_owned(), json!(value), "Count"));
        self
    }

    pub fn milliseconds(mut self, name: &str, value: f64) -> Self {
        self.values
            .push((name.to_owned(), json!(value), "Milliseconds"));
        self
    }

    /// Several samples of one metric (EMF takes up to 100 per line; the rest are dropped).
    pub fn milliseconds_each(mut self, name: &str, samples: &[f64]) -> Self {
        if !samples.is_empty() {
            let kept = &samples[..samples.len().min(100)];
            self.values
                .push((name.to_owned(), json!(kept), "Milliseconds"));
        }
        self
    }

    /// The EMF document, stamped `at_ms`.
    pub fn document(&self, at_ms: i64) -> Value {
        let names: Vec<&str> = self.dimensions.iter().map(|(n, _)| n.as_str()).collect();
        let sets: Vec<&[&str]> = (1..=names.len()).map(|n| &names[..n]).collect();
        let metrics: Vec<Value> = self
            .values
            .iter()
            .map(|(name, _, unit)| json!({ "Name": name, "Unit": unit }))
            .collect();
        let mut doc = Map::new();
        doc.insert(
            "_aws".into(),
            json!({
                "Timestamp": at_ms,
                "CloudWatchMetrics": [{ "Namespace": namespace(), "Dimensions": sets, "Metrics": metrics }],
            }),
        );
        for (name, value) in &self.dimensions {
            doc.insert(name.clone(), json!(value));
        }
        for (name, value, _) in &self.values {
            doc.insert(name.clone(), json!(value));
        }
        Value::Object(doc)
    }

    /// Writes the line to stdout, where Lambda sends it to CloudWatch Logs.
    pub fn emit(&self) {
        if self.values.is_empty() {
            return;
        }
        let at = crate::clock::Clock::now(&crate::clock::SystemClock).as_millis();
        println!("{}", self.document(at));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_document_names_its_dimensions_and_metrics() {
        let doc = Metrics::new()
            .dimension("Channel", "sms")
            .dimension("Priority", "high")
            .count("Sent", 3)
            .milliseconds("ProviderLatency", 42.5)
            .document(1_700_000_000_000);
        let meta = &doc["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(doc["_aws"]["Timestamp"], 1_700_000_000_000i64);
        assert_eq!(meta["Namespace"], "Notify");
        assert_eq!(
            meta["Dimensions"],
            json!([["Channel"], ["Channel", "Priority"]])
        );
        assert_eq!(meta["Metrics"][0], json!({"Name": "Sent", "Unit": "Count"}));
        assert_eq!(meta["Metrics"][1]["Unit"], "Milliseconds");
        assert_eq!(
            (doc["Channel"].as_str(), doc["Sent"].as_f64()),
            (Some("sms"), Some(3.0))
        );
    }

    #[test]
    fn samples_go_out_as_one_array_of_at_most_a_hundred() {
        let samples: Vec<f64> = (0..150).map(f64::from).collect();
        let doc = Metrics::new()
            .dimension("Channel", "push")
            .milliseconds_each("ProviderLatency", &samples)
            .milliseconds_each("Empty", &[])
            .document(0);
        assert_eq!(doc["ProviderLatency"].as_array().map(Vec::len), Some(100));
        assert!(doc.get("Empty").is_none());
        assert_eq!(
            doc["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
            json!([["Channel"]])
        );
    }
}
