//! What a new user meets at the command line: `check-config` reports everything `serve` would
//! trip over in one run, `keys create` checks roles, usage errors exit 64, and the store is
//! found without flags in a quickstart directory.

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::*;

fn run_in(dir: &Path, args: &[&str]) -> Output {
    Command::new(bin())
        .args(args)
        .current_dir(dir)
        .env_remove("PORTCULLIS_TEST_SECRET")
        .output()
        .unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn check_config_reports_every_problem_serve_would_hit_in_one_run() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("portcullis.toml"),
        r#"
[roles.reader]
allow = ["*"]

[[upstreams]]
name = "gone"
transport = "stdio"
command = "./bin/no-such-server"
cwd = "./no-such-dir"
env = { TOKEN = "env:PORTCULLIS_TEST_SECRET", KEY = "file:./no-such-file" }

[[upstreams]]
name = "path"
transport = "stdio"
command = "no-such-program-xyz"

[[upstreams]]
name = "remote"
transport = "http"
url = "https://tools.example.com/mcp"
headers = { Authorization = "env:PORTCULLIS_TEST_SECRET" }
"#,
    )
    .unwrap();
    let o = run_in(dir.path(), &["check-config", "--config", "portcullis.toml"]);
    assert_eq!(o.status.code(), Some(64), "{}", stderr(&o));
    let err = stderr(&o);
    for expected in [
        "upstreams[0].command: command bin/no-such-server does not exist",
        "upstreams[0].cwd: no-such-dir is not a directory",
        "upstreams[0].env.TOKEN: environment variable PORTCULLIS_TEST_SECRET is not set",
        "upstreams[0].env.KEY: cannot read no-such-file",
        "upstreams[1].command: command 'no-such-program-xyz' is not in PATH",
        "upstreams[2].headers.Authorization: environment variable PORTCULLIS_TEST_SECRET",
    ] {
        assert!(err.contains(expected), "missing {expected:?} in:\n{err}");
    }
    assert!(!err.contains("./"), "paths are shown resolved: {err}");
}

#[test]
fn check_config_lists_every_unknown_field_and_warns_about_an_empty_config() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("typos.toml"),
        "[server]\nlisen = \"127.0.0.1:1\"\n[polcy]\nmode = \"enforce\"\n",
    )
    .unwrap();
    let o = run_in(dir.path(), &["check-config", "--config", "typos.toml"]);
    assert_eq!(o.status.code(), Some(64));
    let err = stderr(&o);
    assert!(
        err.contains("server.lisen: unknown field") && err.contains("polcy: unknown field"),
        "{err}"
    );

    std::fs::write(dir.path().join("empty.toml"), "").unwrap();
    let o = run_in(dir.path(), &["check-config", "--config", "empty.toml"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(err.contains("warning: no [[upstreams]]"), "{err}");
    assert!(err.contains("warning: no [roles.NAME]"), "{err}");
}

#[test]
fn keys_create_checks_the_role_and_the_store_is_found_in_a_quickstart_directory() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("p.toml"), demo_config("read-only", "")).unwrap();
    let key = |extra: &[&str]| {
        let mut args = vec!["keys", "create", "--tenant", "t", "--agent", "a", "--role"];
        args.extend_from_slice(extra);
        run_in(dir.path(), &args)
    };
    let o = key(&["ghost", "--config", "p.toml", "--data-dir", ".portcullis"]);
    assert_eq!(o.status.code(), Some(64));
    assert!(
        stderr(&o).contains("role 'ghost' is not defined") && stderr(&o).contains("reader"),
        "{}",
        stderr(&o)
    );
    let o = key(&["reader", "--config", "p.toml", "--data-dir", ".portcullis"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = key(&["ghost"]);
    assert!(
        o.status.success(),
        "without --config the role cannot be checked: {}",
        stderr(&o)
    );
    assert!(stderr(&o).contains("warning: without --config, role 'ghost' was not checked"));
    // `keys list` and `audit` find ./.portcullis without flags.
    let o = run_in(dir.path(), &["keys", "list", "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let listed: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 2);
    // No gateway ran here, so there is no signing key: a verification that cannot check
    // signatures fails unless asked for without them.
    let o = run_in(dir.path(), &["audit", "verify"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("signatures cannot be checked"),
        "{}",
        stderr(&o)
    );
    let o = run_in(dir.path(), &["audit", "verify", "--unsigned"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("signatures NOT checked"));
    let empty = tempfile::tempdir().unwrap();
    let o = run_in(empty.path(), &["keys", "list"]);
    assert_eq!(o.status.code(), Some(64));
    assert!(
        stderr(&o).contains("./.portcullis does not exist"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn usage_errors_exit_64_and_help_exits_0() {
    let dir = tempfile::tempdir().unwrap();
    let o = run_in(dir.path(), &["keys", "create", "--tenant"]);
    assert_eq!(o.status.code(), Some(64), "{}", stderr(&o));
    let o = run_in(dir.path(), &["no-such-command"]);
    assert_eq!(o.status.code(), Some(64));
    let o = run_in(dir.path(), &["keys", "create", "--help"]);
    assert!(o.status.success());
    let help = String::from_utf8_lossy(&o.stdout);
    assert!(
        help.contains("Tenant the key acts for") && help.contains("Role from the config"),
        "{help}"
    );
    let o = run_in(dir.path(), &["--version"]);
    assert!(o.status.success());
}

#[test]
fn a_listen_address_may_be_a_host_name_that_resolves() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("p.toml"),
        "[server]\nlisten = \"localhost:8080\"\n[roles.r]\nallow = []\n",
    )
    .unwrap();
    let o = run_in(dir.path(), &["check-config", "--config", "p.toml"]);
    assert!(o.status.success(), "{}", stderr(&o));
    std::fs::write(
        dir.path().join("bad.toml"),
        "[server]\nlisten = \"localhost\"\n",
    )
    .unwrap();
    let o = run_in(dir.path(), &["check-config", "--config", "bad.toml"]);
    assert_eq!(o.status.code(), Some(64));
    assert!(
        stderr(&o).contains("a host name that resolves"),
        "{}",
        stderr(&o)
    );
}

#[tokio::test]
async fn metrics_are_openmetrics_labelled_by_upstream_and_catalog_tool() {
    let gw = Gateway::start(&demo_config("read-only", ""));
    let (_, key) = gw.key("reader", &[]);
    let sid = initialize(&gw.url, &key).await;
    let r = call(
        &gw.url,
        &key,
        &sid,
        "demo.echo",
        serde_json::json!({"text": "m"}),
        None,
    )
    .await;
    assert_eq!(text_of(&r.body), "m");
    let r = call(
        &gw.url,
        &key,
        &sid,
        "demo.no_such_tool_from_a_client",
        serde_json::json!({}),
        None,
    )
    .await;
    assert_eq!(r.error_code(), Some("unknown_tool"));
    let metrics_url = format!("{}/metrics", gw.base);
    let resp = http().get(&metrics_url).send().await.unwrap();
    assert_eq!(
        resp.headers()["content-type"],
        "application/openmetrics-text; version=1.0.0; charset=utf-8"
    );
    let text = resp.text().await.unwrap();
    for line in [
        r#"portcullis_governed_decisions_total{method="tools/call",upstream="demo",tool="demo.echo",result="allow",code="-"} 1"#,
        r#"portcullis_governed_outcomes_total{method="tools/call",upstream="demo",tool="demo.echo",result="outcome",code="ok"} 1"#,
        r#"portcullis_governed_duration_seconds_count{method="tools/call",upstream="demo",tool="demo.echo"} 1"#,
        r#"portcullis_governed_decisions_total{method="tools/call",upstream="-",tool="-",result="deny",code="unknown_tool"} 1"#,
        r#"portcullis_upstream_restarts{upstream="demo"} 0"#,
    ] {
        assert!(text.contains(line), "missing {line} in:\n{text}");
    }
    assert!(
        !text.contains("no_such_tool_from_a_client"),
        "client input never becomes a label"
    );
    assert!(
        text.trim_end().ends_with("# EOF"),
        "OpenMetrics ends with # EOF"
    );
    let resp = http()
        .get(&metrics_url)
        .header("accept", "text/plain;version=0.0.4")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 406);
    let resp = http()
        .get(&metrics_url)
        .header(
            "accept",
            "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "what Prometheus sends");
}
