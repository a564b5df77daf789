//! What a stdio upstream's process starts with: a minimal environment in which `#!/usr/bin/env`
//! scripts (`npx`, `uvx`, Python entry points) run, never the gateway's own; and a child that
//! cannot start is reported as a person reads it.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use common::*;
use serde_json::json;

/// An executable script in `dir`: `#!/usr/bin/env <interpreter>`, then `body`.
fn script(dir: &std::path::Path, name: &str, interpreter: &str, body: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, format!("#!/usr/bin/env {interpreter}\n{body}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path.display().to_string()
}

fn stdio_config(command: &str, env: &str) -> String {
    format!(
        "[server]\nstartup_wait = \"1s\"\n\n[roles.reader]\nallow = [\"*\"]\n\n[[upstreams]]\nname = \"demo\"\ntransport = \"stdio\"\ncommand = \"{command}\"\ntimeout = \"5s\"\n{env}\n"
    )
}

#[tokio::test]
async fn an_env_script_runs_with_path_home_and_lang_but_not_the_gateways_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let record = dir.path().join("child-env");
    let cmd = script(
        dir.path(),
        "demo.sh",
        "sh",
        &format!("env > '{}'\nexec '{}' demo-server", record.display(), bin()),
    );
    let gw = Gateway::start_with_env(
        &stdio_config(&cmd, "env = { EXTRA = \"given\" }"),
        &[("GATEWAY_SECRET", "must-not-leak")],
    );
    let (_, key) = gw.key("reader", &[]);
    let sid = initialize(&gw.url, &key).await;
    let r = call(
        &gw.url,
        &key,
        &sid,
        "demo.echo",
        json!({"text": "hi"}),
        None,
    )
    .await;
    assert_eq!(
        text_of(&r.body),
        "hi",
        "the script started the server: {:?}",
        r.body
    );
    let env = std::fs::read_to_string(&record).unwrap();
    let path = env.lines().find_map(|l| l.strip_prefix("PATH=")).unwrap();
    assert!(
        path.starts_with(&dir.path().display().to_string()),
        "{path}"
    );
    assert!(path.split(':').any(|d| d == "/usr/bin"), "{path}");
    assert!(env.lines().any(|l| l.starts_with("LANG=")), "{env}");
    assert!(env.lines().any(|l| l == "EXTRA=given"), "{env}");
    assert!(
        !env.contains("must-not-leak"),
        "the gateway's environment leaked: {env}"
    );
}

#[tokio::test]
async fn a_child_that_cannot_start_is_reported_as_command_not_found() {
    let dir = tempfile::tempdir().unwrap();
    let cmd = script(dir.path(), "broken.sh", "no-such-interpreter-xyz", "true");
    let gw = Gateway::start(&stdio_config(&cmd, ""));
    let logs = wait_for(
        "the child's exit in the log",
        Duration::from_secs(20),
        || {
            let l = gw.logs();
            l.contains("exit code 127").then_some(l)
        },
    )
    .await;
    assert!(logs.contains("command not found"), "{logs}");
    assert!(!logs.contains("unix_wait_status"), "{logs}");
}
