//! The yardstick of the cold-start bench: the smallest `lambda_runtime` function, built with the
//! workspace's release profile, so the functions' init is read as a multiple of it.

use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| async move {
        Ok::<_, Error>(event.payload)
    }))
    .await
}
