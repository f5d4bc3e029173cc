//! Types that exist only to describe values in `/openapi.json`: the
//! handlers read these as strings and check them (with messages that
//! name the valid values), but the description lists the valid values so
//! a client, or a fuzzer, knows them.

/// Salt's `tgt_type` names (`brine_proto::targeting::TargetType`).
#[derive(utoipa::ToSchema)]
#[allow(non_camel_case_types, dead_code)]
pub enum TgtType {
    glob,
    pcre,
    list,
    grain,
    grain_pcre,
    compound,
    ipcidr,
    nodegroup,
    pillar,
    pillar_pcre,
}

/// Salt's `eauth`: only `brine` (the users of `api_users`).
#[derive(utoipa::ToSchema)]
#[allow(non_camel_case_types, dead_code)]
pub enum Eauth {
    brine,
}

/// `format` of an inventory query.
#[derive(utoipa::ToSchema)]
#[allow(non_camel_case_types, dead_code)]
pub enum QueryFormat {
    json,
    csv,
}
