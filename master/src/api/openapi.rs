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
    }
}

/// The OpenAPI description of this API (no authentication needed: it
/// says what the API is, nothing of the fleet).
pub async fn document() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every parameter is where the handler reads it: a path parameter
    /// is a `{name}` of its path, everything else the query string.
    #[test]
    fn parameters_are_in_the_path_or_the_query() {
        let doc = serde_json::to_value(ApiDoc::openapi()).unwrap();
        let mut seen = 0;
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                for p in op["parameters"].as_array().into_iter().flatten() {
                    let name = p["name"].as_str().unwrap();
                    let templated = path.contains(&format!("{{{name}}}"));
                    let place = if templated { "path" } else { "query" };
                    assert_eq!(p["in"], place, "{method} {path} {name}");
                    seen += 1;
                }
            }
        }
        assert!(seen > 10, "{seen}");
    }

    /// Both token schemes are declared, and every operation but the
    /// login and the description needs one.
    #[test]
    fn the_security_schemes_are_declared() {
        let doc = serde_json::to_value(ApiDoc::openapi()).unwrap();
        let schemes = &doc["components"]["securitySchemes"];
        assert_eq!(schemes["token"]["scheme"], "bearer");
        assert_eq!(schemes["x_auth_token"]["name"], "X-Auth-Token");
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                let secured = op["security"].as_array().is_some_and(|s| !s.is_empty());
                assert_eq!(secured, path != "/login", "{method} {path}");
            }
        }
    }
}
