use std::sync::Arc;

use lambda_http::{Error, service_fn};
use notify_api::{ApiConfig, App};
use notify_shared::{
    aws,
    config::Env,
    telemetry::{self, InitSteps},
};

#[tokio::main]
async fn main() -> Result<(), Error> {
    let mut init = InitSteps::start();
    telemetry::init();
    init.step("tracing");
    let config = ApiConfig::from_env(&Env::from_process())?;
    init.step("config");
    let sdk = aws::load().await;
    init.step("sdk");
    let app = Arc::new(App::from_aws(&sdk, config));
    init.step("clients");
    init.done();
    // Requests share nothing but the ports and caches, which are safe to share: answer as many
    // at once as the environment allows.
    lambda_http::run_concurrent(service_fn(move |req| {
        let app = app.clone();
        async move { Ok::<_, Error>(app.handle(req).await) }
    }))
    .await
}
