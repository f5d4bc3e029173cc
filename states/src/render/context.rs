//! The template variables Salt derives from the SLS name and the template's
//! path (`salt/utils/templates.py` `generate_sls_context`).

/// `(name, value)` pairs for `tplpath`, `tplfile`, `tpldir`, `tpldot`,
/// `slspath`, `slsdotpath`, `slscolonpath`, `sls_path`. `tmplpath` is the
/// template's path (relative to the env root, or a full path), `sls` the SLS
/// name (empty for a template that is not an SLS).
pub fn sls_context(tmplpath: &str, sls: &str) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    let mut slspath = sls.replace('.', "/").trim_end_matches('/').to_string();
    if !tmplpath.is_empty() {
        let template = tmplpath.replace('\\', "/");
        let template = if sls.is_empty() {
            template.rsplit('/').next().unwrap_or_default().to_string()
        } else if template.ends_with(&format!("{slspath}.sls")) {
            template[template.len() - (4 + slspath.len())..].to_string()
        } else if template.ends_with(&format!("{slspath}/init.sls")) {
            template[template.len() - (9 + slspath.len())..].to_string()
        } else {
            // not an SLS file: a template rendered on behalf of an SLS
            let parent = match sls.rsplit_once('/') {
                Some((p, _)) if !p.is_empty() => p.to_string(),
                Some(_) => "/".to_string(),
                None => ".".to_string(),
            };
            out.push(("tplpath", tmplpath.to_string()));
            out.push(("tplfile", sls.to_string()));
            out.push(("tpldir", parent));
            return out;
        };
        slspath = match template.rsplit_once('/') {
            Some((dir, _)) => dir.to_string(),
            None => String::new(),
        };
        out.push(("tplpath", tmplpath.to_string()));
        out.push(("tplfile", template));
        out.push((
            "tpldir",
            if slspath.is_empty() {
                ".".to_string()
            } else {
                slspath.clone()
            },
        ));
        out.push(("tpldot", slspath.replace('/', ".")));
    }
    out.push(("slspath", slspath.clone()));
    out.push(("slsdotpath", slspath.replace('/', ".")));
    out.push(("slscolonpath", slspath.replace('/', ":")));
    out.push(("sls_path", slspath.replace('/', "_")));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(ctx: &[(&str, String)], k: &str) -> String {
        ctx.iter()
            .find(|(n, _)| *n == k)
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| "<missing>".into())
    }

    #[test]
    fn nested_sls_file() {
        let ctx = sls_context("/srv/salt/web/conf/main.sls", "web.conf.main");
        assert_eq!(get(&ctx, "tplfile"), "web/conf/main.sls");
        assert_eq!(get(&ctx, "tpldir"), "web/conf");
        assert_eq!(get(&ctx, "tpldot"), "web.conf");
        assert_eq!(get(&ctx, "slspath"), "web/conf");
        assert_eq!(get(&ctx, "sls_path"), "web_conf");
        assert_eq!(get(&ctx, "slsdotpath"), "web.conf");
        assert_eq!(get(&ctx, "slscolonpath"), "web:conf");
    }

    #[test]
    fn init_sls_and_top_level() {
        let ctx = sls_context("nginx/init.sls", "nginx");
        assert_eq!(get(&ctx, "tplfile"), "nginx/init.sls");
        assert_eq!(get(&ctx, "tpldir"), "nginx");
        assert_eq!(get(&ctx, "slspath"), "nginx");
        let ctx = sls_context("top.sls", "top");
        assert_eq!(get(&ctx, "tpldir"), ".");
        assert_eq!(get(&ctx, "tpldot"), "");
        assert_eq!(get(&ctx, "slspath"), "");
    }

    #[test]
    fn template_rendered_for_an_sls() {
        let ctx = sls_context(
            "/var/cache/salt/files/base/nginx/files/nginx.conf",
            "nginx.config",
        );
        assert_eq!(get(&ctx, "tplfile"), "nginx.config");
        assert_eq!(get(&ctx, "tpldir"), ".");
        assert_eq!(get(&ctx, "slspath"), "<missing>");
    }
}
