use std::sync::Arc;

use lambda_http::{Error, service_fn};
use notify_api::{ApiConfig, App};
use notify_shared::{aws, config::Env, telemetry};

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init();
    let config = ApiConfig::from_env(&Env::from_process())?;
    let app = Arc::new(App::from_aws(&aws::load().await, config));
    lambda_http::run(service_fn(move |req| {
        let app = app.clone();
        async move { Ok::<_, Error>(app.handle(req).await) }
    }))
    .await
}
