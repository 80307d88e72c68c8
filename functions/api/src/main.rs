use std::sync::Arc;

use lambda_http::{Error, service_fn};
use notify_api::{ApiConfig, App};
use notify_shared::aws;

#[tokio::main]
async fn main() -> Result<(), Error> {
    let app = aws::init_function(ApiConfig::from_env, async |sdk, config| {
        Ok::<_, std::convert::Infallible>(Arc::new(App::from_aws(sdk, config)))
    })
    .await?;
    // Requests share nothing but the ports and caches, which are safe to share: answer as many
    // at once as the environment allows.
    lambda_http::run_concurrent(service_fn(move |req| {
        let app = app.clone();
        async move { Ok::<_, Error>(app.handle(req).await) }
    }))
    .await
}
