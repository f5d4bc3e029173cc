//! The web console in a real browser (headless Chromium through
//! chromedriver) against a real master and two minions: log in, filter
//! minions by a grain, run a job from the launcher and see both returns
//! arrive, see a grain change as a diff on the minion's page, the
//! overview charts, the live event stream, key management. Screenshots
//! of each page go to the test's temporary directory (and to
//! `BRINE_CONSOLE_SHOTS` when set).

use std::path::PathBuf;

use brine_tests::api::hash_password;
use brine_tests::browser::{binaries_or_skip, Browser};
use brine_tests::{free_port, Cluster};
use serde_json::json;

/// Screenshots into the test's directory, copied to `BRINE_CONSOLE_SHOTS`.
struct Shots {
    dir: PathBuf,
    export: Option<PathBuf>,
}

impl Shots {
    fn take(&self, b: &Browser, name: &str) {
        let path = self.dir.join(format!("{name}.png"));
        b.screenshot(&path);
        println!("screenshot: {}", path.display());
        if let Some(export) = &self.export {
            std::fs::create_dir_all(export).unwrap();
            std::fs::copy(&path, export.join(format!("{name}.png"))).unwrap();
        }
    }
}

fn rows(b: &Browser, css: &str) -> Vec<String> {
    let v = b.script(
        "return [...document.querySelectorAll(arguments[0])].map(r => r.dataset.id);",
        json!([css]),
    );
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_str().unwrap_or_default().to_string())
        .collect()
}

#[test]
fn the_console_logs_in_filters_runs_jobs_and_shows_grain_diffs() {
    let Some((driver, chromium)) = binaries_or_skip("the_console_...") else {
        return;
    };
    let port = free_port();
    let config = format!(
        "api_port: {port}\napi_interface: 127.0.0.1\n\
         api_users:\n  admin:\n    password_hash: '{a}'\n    admin: true\n\
         \x20 viewer:\n    password_hash: '{v}'\n    areas: [inventory, jobs, events]\n\
         external_auth:\n  brine:\n    admin: ['.*']\n",
        a = hash_password("admin-pw"),
        v = hash_password("viewer-pw"),
    );
    let mut c = Cluster::builder()
        .master_config(&config)
        .minion("web1", "role: web\nappcode: shop\nowner: team-web")
        .minion("db1", "role: db\nappcode: ledger\nowner: team-data")
        .start();
    c.accept_all();
    c.wait_answering(&["web1", "db1"]);
    let shots = Shots {
        dir: c.master_root().join("screenshots"),
        export: std::env::var_os("BRINE_CONSOLE_SHOTS").map(PathBuf::from),
    };
    std::fs::create_dir_all(&shots.dir).unwrap();
    let b = Browser::start(&driver, &chromium);
    let base = format!("https://127.0.0.1:{port}");

    // `/` leads to the console; without a session it is the login page.
    b.goto(&format!("{base}/"));
    b.wait_find("#login-user");
    b.type_into("#login-user", "admin");
    b.type_into("#login-password", "wrong");
    b.click("#login-submit");
    b.wait_until("the login error", || {
        b.text("#login-error").contains("wrong password")
    });
    b.type_into("#login-password", "admin-pw");
    b.click("#login-submit");

    // Minions: both, then only the one a grain target selects.
    b.wait_until("both minions listed", || {
        rows(&b, "#minions tbody tr") == ["db1", "web1"]
    });
    assert_eq!(b.text("#user"), "admin");
    b.type_into("#tgt", "G@role:web and G@appcode:shop");
    b.click("#tgt-apply");
    b.wait_until("only web1 listed", || {
        rows(&b, "#minions tbody tr") == ["web1"]
    });
    b.wait_until("web1's row filled in", || {
        b.text("#minions tbody tr").contains("team-web")
    });
    b.type_into("#tgt", "");
    b.click("#tgt-apply");
    b.wait_until("both minions again", || {
        rows(&b, "#minions tbody tr").len() == 2
    });
    shots.take(&b, "minions");

    // Live presence: db1 going away and coming back shows in its row
    // without a reload (brine/presence/change events).
    let connected = |id: &str| b.text(&format!("#minions tr[data-id={id}] td.connected"));
    b.script(
        "document.querySelector('#minions tbody tr').dataset.kept = '1';",
        json!([]),
    );
    c.stop_minion("db1");
    b.wait_until("db1 shown disconnected", || connected("db1") == "no");
    c.start_minion("db1");
    c.wait_answering(&["db1"]);
    b.wait_until("db1 shown connected again", || connected("db1") == "yes");
    assert_eq!(connected("web1"), "yes");
    // The same row nodes: the page was not reloaded.
    assert_eq!(
        b.script(
            "return document.querySelector('#minions tbody tr').dataset.kept;",
            json!([])
        ),
        json!("1")
    );

    // The launcher: test.ping on both, each return shown as it arrives.
    b.goto(&format!("{base}/console/#/run"));
    b.type_into("#run-tgt", "*");
    b.type_into("#run-fun", "test.ping");
    b.click("#run-submit");
    b.wait_until("both returns", || {
        let mut r = rows(&b, "#job-returns tr");
        r.sort();
        r == ["db1", "web1"]
    });
    b.wait_until("the job's summary", || {
        b.text("#run-summary")
            .contains("2 returned, 0 failed, 0 missing")
    });
    assert!(b.text("#job-returns").contains("true"));
    shots.take(&b, "job");
    // The summary links to the job's page: both returns, none missing.
    b.click("#run-summary a");
    b.wait_until("the job's page", || {
        b.text("main").contains("Missing (0)") && rows(&b, "#job-returns tr").len() == 2
    });
    b.goto(&format!("{base}/console/#/jobs"));
    b.wait_until("the jobs list", || b.text("table.jobs").contains("2/2"));

    // A grain changed twice: the minion's page shows each version's old
    // and new value (a grain set in the minion's config would win over
    // grains.setval, so this is one of its own).
    let newest_color = "const r = [...document.querySelectorAll('table.diff tr')]\
                .find(t => t.firstChild && t.firstChild.textContent === 'color');\
                return r ? [r.querySelector('pre.old').textContent, r.querySelector('pre.new').textContent] : null;";
    for (old, new) in [("(none)", "green"), ("green", "blue")] {
        let out = c.brine(&["web1", "grains.setval", "color", new]);
        assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
        b.goto(&format!("{base}/console/#/minion/web1"));
        b.wait_until(&format!("the color grain's diff {old} -> {new}"), || {
            // Render the page again until the history has the change.
            b.script(
                "window.dispatchEvent(new HashChangeEvent('hashchange'));",
                json!([]),
            );
            b.wait_find("#minion-id");
            b.script(newest_color, json!([])) == json!([format!("− {old}"), format!("+ {new}")])
        });
    }
    // Recent jobs are web1's (GET /jobs?minion=): the setval is there,
    // none of the pings the harness sent to db1 alone.
    let targets = b.script(
        "const t = [...document.querySelectorAll('main table')].pop();\
         return [...t.querySelectorAll('tbody tr')].map(r => r.children[1].textContent + ' ' + r.children[2].textContent);",
        json!([]),
    );
    let targets: Vec<String> = serde_json::from_value(targets).unwrap();
    assert!(
        targets.contains(&"grains.setval web1".to_string()),
        "{targets:?}"
    );
    assert!(!targets.iter().any(|t| t.ends_with(" db1")), "{targets:?}");
    assert!(b.text("dl.facts").contains("team-web"));
    shots.take(&b, "minion");

    // Overview: counts by OS, application code and presence.
    b.goto(&format!("{base}/console/#/overview"));
    b.wait_find("#chart-appcode svg");
    let apps = b.text("#chart-appcode");
    assert!(apps.contains("shop") && apps.contains("ledger"), "{apps}");
    assert!(b.text("#chart-presence").contains("connected: 2"));
    shots.take(&b, "overview");

    // Events: live, a job's events appear without a reload.
    b.goto(&format!("{base}/console/#/events"));
    b.type_into("#event-tag", "brine/job/*");
    b.script(
        "document.querySelector('form.filter').requestSubmit();",
        json!([]),
    );
    b.wait_until("the stream live", || b.text("#event-status") == "live");
    let out = c.brine(&["db1", "test.ping"]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    b.wait_until("the job's return event", || {
        b.text("#event-rows").contains("/ret/db1")
    });
    shots.take(&b, "events");

    // Keys: both accepted; rejecting one asks first, then moves it.
    b.goto(&format!("{base}/console/#/keys"));
    b.wait_until("the accepted keys", || {
        b.text("main").contains("accepted (2)")
    });
    shots.take(&b, "keys");
    b.click("button[data-act=reject][data-id=db1]");
    b.cmd("POST", "/alert/accept", Some(json!({})))
        .unwrap_or_else(|e| panic!("confirm: {e}"));
    b.wait_until("db1 rejected", || b.text("main").contains("rejected (1)"));

    // A token the API no longer accepts leads back to the login page
    // with the API's message.
    b.script(
        "const s = JSON.parse(sessionStorage.getItem('brine.session'));\
         s.token = '0'.repeat(64); sessionStorage.setItem('brine.session', JSON.stringify(s));\
         location.hash = '#/jobs';",
        json!([]),
    );
    b.wait_until("the login page after a 401", || {
        b.text("#login-error").contains("token is unknown")
    });

    // A user without admin: no Keys in the nav, the keys page explains
    // the 403, and a job the ACL refuses shows the API's error.
    b.type_into("#login-user", "viewer");
    b.type_into("#login-password", "viewer-pw");
    b.click("#login-submit");
    b.wait_until("viewer logged in", || b.text("#user") == "viewer");
    assert!(!b.text("#nav").contains("Keys"), "{}", b.text("#nav"));
    b.goto(&format!("{base}/console/#/keys"));
    b.wait_until("the keys refusal", || {
        b.text("main").contains("admins only")
    });
    b.goto(&format!("{base}/console/#/run"));
    b.type_into("#run-tgt", "web1");
    b.click("#run-submit");
    b.wait_until("the ACL's refusal", || {
        b.text("#error").contains("authorization error")
    });

    // Logging out forgets the token: the console is back at its login.
    b.click("#logout");
    b.wait_find("#login-user");
    let token = b.script("return sessionStorage.getItem('brine.session');", json!([]));
    assert_eq!(token, json!(null));
}
