//! Bad configuration stops the process with exit code 2 and one line that
//! names the variable.

use std::time::Duration;

use crate::harness::{Launch, TestDb};

fn refused(launch: Launch) -> String {
    let (code, stderr) = launch.run_to_exit(Duration::from_secs(20));
    assert_eq!(code, 2, "{stderr:?}");
    assert_eq!(stderr.len(), 1, "exactly one line: {stderr:?}");
    stderr[0].clone()
}

#[tokio::test]
async fn invalid_values_exit_2_naming_the_variable() {
    let db = TestDb::unborn();
    let cases = [
        ("STRATHON_SAMPLING_RATE", "1.5", "must be between 0.0 and 1.0"),
        ("STRATHON_SAMPLING_RATE", "lots", "STRATHON_SAMPLING_RATE"),
        ("STRATHON_ENCRYPTION_KEY", "not-a-fernet-key", "not a valid Fernet key"),
        ("STRATHON_AUDIT_HMAC_KEY", "too-short", "at least 32 bytes"),
        ("STRATHON_LOG_FORMAT", "xml", "STRATHON_LOG_FORMAT"),
        ("STRATHON_MODE", "hybrid", "STRATHON_MODE"),
        ("STRATHON_RATE_LIMIT_BURST", "0", "at least 1"),
        ("STRATHON_BIND", "nowhere", "STRATHON_BIND"),
    ];
    for (var, value, expect) in cases {
        let line = refused(Launch::serve(&db).env(var, value));
        assert!(line.contains(var) && line.contains(expect), "{var}={value}: {line}");
        if var.contains("KEY") {
            assert!(!line.contains(value), "secret echoed: {line}");
        }
    }
}

#[tokio::test]
async fn cloud_mode_requires_the_keys_and_refuses_the_dev_key() {
    let db = TestDb::unborn();
    let line = refused(Launch::serve(&db).env("STRATHON_MODE", "cloud"));
    assert!(
        line.contains("STRATHON_AUDIT_HMAC_KEY") && line.contains("cloud"),
        "{line}"
    );
    let keyed = Launch::serve(&db)
        .env("STRATHON_MODE", "cloud")
        .env("STRATHON_AUDIT_HMAC_KEY", "k".repeat(64))
        .env(
            "STRATHON_ENCRYPTION_KEY",
            "cw_0x689RpI-jtRR7oE8h_eQsKImvJapLeSbXpwF4e4=",
        )
        .env("STRATHON_PASSWORD_PEPPER", "pepper")
        .env("STRATHON_SEED_DEV_KEY", "true");
    assert!(refused(keyed).contains("STRATHON_SEED_DEV_KEY"));
}

#[tokio::test]
async fn empty_audit_key_in_self_hosted_mode_warns_and_starts() {
    let db = TestDb::migrated().await;
    let server = Launch::serve(&db).env("STRATHON_AUDIT_HMAC_KEY", "").start().await;
    server.wait_ready().await;
    let warned = server.records().iter().any(|r| {
        r["level"] == "WARN"
            && r["message"]
                .as_str()
                .unwrap_or("")
                .contains("STRATHON_AUDIT_HMAC_KEY is not set")
    });
    assert!(warned, "{:#?}", server.logs());
}

#[test]
fn help_names_the_settings_each_command_reads() {
    let help = |command: &str| {
        let out = std::process::Command::new(crate::harness::binary())
            .args([command, "--help"])
            .output()
            .unwrap();
        assert!(out.status.success());
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    for command in ["serve", "dev"] {
        let text = help(command);
        assert!(
            text.contains("DATABASE_URL") && text.contains("STRATHON_SAMPLING_RATE"),
            "{command}: {text}"
        );
    }
    assert!(help("dev").contains("STRATHON_DASHBOARD_BIND"));
    let migrate = help("migrate");
    assert!(migrate.contains("DATABASE_URL"), "{migrate}");
    assert!(!migrate.contains("STRATHON_SAMPLING_RATE"), "{migrate}");
    let admin = help("admin");
    assert!(
        admin.contains("STRATHON_PASSWORD_PEPPER") && !admin.contains("STRATHON_BIND"),
        "{admin}"
    );
}
