use aws_lambda_events::event::sqs::SqsEvent;
use lambda_runtime::{Error, LambdaEvent, service_fn};
use notify_events::{EventsConfig, Receipts, logs_event};
use notify_shared::aws;
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    let receipts = aws::init_function(EventsConfig::from_env, async |sdk, config| {
        Ok::<_, std::convert::Infallible>(std::sync::Arc::new(Receipts::on_aws(sdk, config)))
    })
    .await?;
    // Every change a receipt makes is conditional: batches may run at once.
    lambda_runtime::run_concurrent(service_fn(move |event: LambdaEvent<Value>| {
        let receipts = receipts.clone();
        async move {
            // SES's events come from the events queue; SMS statuses from CloudWatch Logs.
            if event.payload.get("awslogs").is_some() {
                receipts.handle_logs(logs_event(&event.payload)?).await?;
                return Ok::<_, Error>(Value::Null);
            }
            let sqs: SqsEvent = serde_json::from_value(event.payload)?;
            Ok(serde_json::to_value(receipts.handle(sqs).await)?)
        }
    }))
    .await
}
