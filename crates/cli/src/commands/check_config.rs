//! `check-config`: exit 0 when the file is valid, 64 with every error otherwise.

use std::path::Path;
use std::process::ExitCode;

pub fn run(path: &Path) -> ExitCode {
    match super::load_config(path) {
        Ok(c) => {
            println!(
                "config {} is valid: {} upstream(s), {} role(s), mode {}{}",
                path.display(),
                c.upstreams.len(),
                c.policy.roles.len(),
                c.effective_mode().as_str(),
                if c.demo_mode { " (demo_mode)" } else { "" }
            );
            ExitCode::SUCCESS
        }
        Err(code) => code,
    }
}
