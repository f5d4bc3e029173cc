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
    // Described only through `value_type` of query parameters, which
    // utoipa does not collect by itself.
    components(schemas(super::schema::TgtType, super::schema::Eauth, super::schema::QueryFormat)),
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

    /// Every `$ref` names a schema of the components.
    #[test]
    fn every_reference_resolves() {
        fn walk(v: &serde_json::Value, refs: &mut Vec<String>) {
            match v {
                serde_json::Value::Object(m) => {
                    if let Some(r) = m.get("$ref").and_then(|r| r.as_str()) {
                        refs.push(r.to_string());
                    }
                    m.values().for_each(|v| walk(v, refs));
                }
                serde_json::Value::Array(a) => a.iter().for_each(|v| walk(v, refs)),
                _ => {}
            }
        }
        let doc = serde_json::to_value(ApiDoc::openapi()).unwrap();
        let mut refs = Vec::new();
        walk(&doc, &mut refs);
        assert!(refs.len() > 10, "{refs:?}");
        for r in refs {
            let name = r.strip_prefix("#/components/schemas/").unwrap();
            assert!(
                doc["components"]["schemas"][name].is_object(),
                "{r} does not resolve"
            );
        }
    }

    /// The inventory query answers JSON or CSV, and says so.
    #[test]
    fn the_csv_export_is_described() {
        let doc = serde_json::to_value(ApiDoc::openapi()).unwrap();
        let content = &doc["paths"]["/inventory/query"]["get"]["responses"]["200"]["content"];
        assert!(content["application/json"].is_object(), "{content}");
        assert!(content["text/csv"].is_object(), "{content}");
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
