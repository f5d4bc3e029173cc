//! `/openapi.json`, generated from the handlers' annotations (utoipa).

use axum::Json;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(title = "Brine master API", description = "Jobs, inventory, keys, events and audit of a Brine master."),
    paths(
        super::auth::login,
        super::auth::logout,
        super::minions::list,
        super::minions::detail,
        super::minions::history,
        super::minions::query,
        super::minions::audit,
        super::jobs::run,
        super::jobs::list,
        super::jobs::detail,
        super::keys::list,
        super::keys::accept,
        super::keys::reject,
        super::keys::remove,
        super::events::stream,
    ),
    modifiers(&Security),
)]
pub struct ApiDoc;

/// The token schemes: `Authorization: Bearer` and salt-api's header.
struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "token",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        components.add_security_scheme(
            "x_auth_token",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("X-Auth-Token"))),
        );
        // A client certificate from the master's CA (`brine-key --gen-api-cert`).
        components.add_security_scheme(
            "client_certificate",
            SecurityScheme::MutualTls {
                description: Some("An API user's certificate from brine-key --gen-api-cert".into()),
                extensions: None,
            },
        );
    }
}

/// The OpenAPI description of this API (no authentication needed: it
/// says what the API is, nothing of the fleet).
pub async fn document() -> Json<utoipa::openapi::OpenApi> {
    let mut doc = ApiDoc::openapi();
    doc.merge(super::monitoring::MonitoringDoc::openapi());
    Json(doc)
}
