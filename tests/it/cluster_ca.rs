//! Several masters, one CA: `brine-key --export-ca` on one master and
//! `--import-ca` on another before its first start give both the same CA,
//! so a minion listing both pins one fingerprint, holds one certificate
//! and answers through either; a different CA or a damaged bundle is
//! refused with a message that says why.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use brine_pki::cluster_ca::CaBundle;
use brine_pki::MasterPki;
use brine_tests::{assert_eventually, CliOutput, Cluster};

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// The fingerprint after `CA fingerprint: ` in a brine-key output.
fn printed_fingerprint(out: &CliOutput) -> String {
    out.stdout
        .lines()
        .find_map(|l| l.strip_prefix("CA fingerprint: "))
        .unwrap_or_else(|| panic!("no fingerprint printed: {out:?}"))
        .trim()
        .to_string()
}

/// The CA fingerprint a running master reports (`brine-key -F`).
fn reported_fingerprint(out: &CliOutput) -> String {
    let v: serde_json::Value =
        serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("bad json ({e}): {out:?}"));
    v["local"]["master_ca.crt"]
        .as_str()
        .unwrap_or_else(|| panic!("no master_ca.crt: {v}"))
        .to_string()
}

#[test]
fn two_masters_share_one_ca_and_a_minion_answers_both_with_one_certificate() {
    let mut c = Cluster::builder().start();
    let dir = c.dir.path().to_path_buf();
    let bundle = dir.join("cluster-ca.pem");
    let bundle_s = bundle.to_str().unwrap();

    // Export from master A: one 0600 file, and the fingerprint minions pin.
    let out = c.key(&["--export-ca", bundle_s]);
    assert_eq!(out.code, 0, "{out:?}");
    let fp = printed_fingerprint(&out);
    assert_eq!(fp, reported_fingerprint(&c.key(&["-F", "--out", "json"])));
    assert_eq!(mode(&bundle), 0o600);
    let text = std::fs::read_to_string(&bundle).unwrap();
    assert!(
        text.contains("BEGIN CERTIFICATE") && text.contains("BEGIN PRIVATE KEY"),
        "{text}"
    );
    // Only the CA: not this master's own TLS key nor its signing key.
    assert_eq!(text.matches("-----BEGIN ").count(), 2, "{text}");
    let out = c.key(&["--export-ca", bundle_s]);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stderr.contains("already exists"), "{out:?}");
    assert!(out.stderr.contains("--force"), "{out:?}");
    assert_eq!(c.key(&["--export-ca", bundle_s, "--force"]).code, 0);
    assert_eq!(mode(&bundle), 0o600);

    // Master B: config written, CA imported before its first start.
    let mut b = c.extra_master("master1", "127.0.0.2");
    let out = b.key(&["--import-ca", bundle_s]);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(printed_fingerprint(&out), fp);
    assert!(out.stdout.contains("brine-master"), "{out:?}");
    assert_eq!(mode(&b.pki_dir().join("ca.key")), 0o600);
    let again = b.key(&["--import-ca", bundle_s]);
    assert_eq!(again.code, 0, "{again:?}");
    assert!(again.stdout.contains("nothing changed"), "{again:?}");
    b.start();
    assert_eq!(fp, reported_fingerprint(&b.key(&["-F", "--out", "json"])));
    // Each master keeps its own publication signing key.
    let sign_a = std::fs::read(c.master_root().join("etc/brine/pki/master/master_sign.key"));
    let sign_b = std::fs::read(b.pki_dir().join("master_sign.key"));
    assert_ne!(sign_a.unwrap(), sign_b.unwrap());

    // A minion of both masters, pinning the one CA fingerprint, accepted at
    // each (their stores are separate).
    c.add_minion_of(
        "web1",
        &["127.0.0.1", &b.address],
        &format!("master_finger: '{fp}'"),
    );
    c.accept(&["web1"]);
    b.accept(&["web1"]);
    c.wait_answering(&["web1"]);

    // One certificate, valid at both: after a restart the minion asks
    // neither master for another and answers through both.
    let crt = c
        .minion_root("web1")
        .join("etc/brine/pki/minion/minion.crt");
    let issued = std::fs::read(&crt).expect("minion.crt");
    c.stop_minion("web1");
    c.start_minion("web1");
    c.wait_answering(&["web1"]);
    b.wait_answering(&["web1"]);
    assert_eq!(std::fs::read(&crt).unwrap(), issued);
    let log = c.minion("web1").log_text();
    assert!(!log.contains("certificate stored"), "asked again:\n{log}");
    assert!(!log.contains("refused"), "{log}");
    assert_eventually!(
        {
            let (out, v) = c.brine_json(&["-t", "5", "web1", "test.ping"]);
            out.code == 0 && v["web1"] == serde_json::Value::Bool(true)
        },
        "web1 answers master A"
    );
    let (out, v) = b.brine_json(&["-t", "5", "web1", "test.ping"]);
    assert_eq!(out.code, 0, "{out:?}\n{}", b.log_text());
    assert_eq!(v["web1"], serde_json::Value::Bool(true), "{v}");
}

#[test]
fn import_refuses_another_ca_and_bad_bundles_with_clear_messages() {
    let c = Cluster::builder().start();
    let dir = c.dir.path().to_path_buf();
    let ours = dir.join("ours.pem");
    assert_eq!(c.key(&["--export-ca", ours.to_str().unwrap()]).code, 0);
    let b = c.extra_master("master1", "127.0.0.2");
    assert_eq!(b.key(&["--import-ca", ours.to_str().unwrap()]).code, 0);
    let ca_before = std::fs::read(b.pki_dir().join("ca.crt")).unwrap();

    // A bundle of another CA.
    let other_pki = dir.join("other-pki");
    let other = MasterPki::load_or_create(&other_pki, "elsewhere").unwrap();
    let theirs = dir.join("theirs.pem");
    CaBundle::from_pki_dir(&other_pki)
        .unwrap()
        .write_to(&theirs, false)
        .unwrap();
    let out = b.key(&["--import-ca", theirs.to_str().unwrap()]);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stderr.contains("already has a different CA"), "{out:?}");
    assert!(out.stderr.contains(&other.ca_fingerprint()), "{out:?}");
    assert!(out.stderr.contains("--force"), "{out:?}");
    assert_eq!(
        std::fs::read(b.pki_dir().join("ca.crt")).unwrap(),
        ca_before
    );

    // With --force it is replaced, and the old files are kept.
    let out = b.key(&["--import-ca", theirs.to_str().unwrap(), "--force"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(printed_fingerprint(&out), other.ca_fingerprint());
    assert!(out.stdout.contains("Kept the old file as"), "{out:?}");
    let backups: Vec<String> = std::fs::read_dir(b.pki_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".bak"))
        .collect();
    assert_eq!(backups.len(), 2, "{backups:?}");

    // Bundles that are not usable, each named with its reason.
    let write = |name: &str, text: &str| {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
        p
    };
    let ca_only = String::from_utf8(ca_before).unwrap();
    for (file, want) in [
        (write("garbage.pem", "not a bundle\n"), "no PEM certificate"),
        (write("cert-only.pem", &ca_only), "0 private keys"),
        (
            write(
                "broken.pem",
                "-----BEGIN CERTIFICATE-----\n@@@@\n-----END CERTIFICATE-----\n",
            ),
            "malformed PEM",
        ),
    ] {
        let out = b.key(&["--import-ca", file.to_str().unwrap()]);
        assert_eq!(out.code, 1, "{out:?}");
        assert!(
            out.stderr.contains("is not a usable CA bundle") && out.stderr.contains(want),
            "want '{want}': {out:?}"
        );
    }
    // A bundle others could read: its key may have leaked; refused as a key file is.
    std::fs::set_permissions(&ours, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = b.key(&["--import-ca", ours.to_str().unwrap(), "--force"]);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stderr.contains("chmod 600"), "{out:?}");
    let out = b.key(&["--import-ca", dir.join("missing.pem").to_str().unwrap()]);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stderr.contains("missing.pem"), "{out:?}");
    // --force alone is a usage error.
    assert_eq!(c.key(&["--force"]).code, 64);
}
