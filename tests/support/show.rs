//! `affinity-sync show` as a running process, for the tests that look at its pages.

use std::io::BufRead;
use std::path::Path;

/// `affinity-sync show <args>` running, and the address it printed; stopped on drop.
pub struct Show {
    child: std::process::Child,
    /// `http://127.0.0.1:<port>/`.
    pub url: String,
    /// The first line it printed: `showing <store> on <url> (database: …)`.
    pub banner: String,
}

impl Show {
    /// Starts `show` with `args` in `cwd`, with `env` added to the environment (and no
    /// AFFINITY_SYNC_SHOW_TOKEN from the caller's), and waits for its address.
    pub fn start(args: &[&str], cwd: &Path, env: &[(&str, &str)]) -> Show {
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_affinity-sync"))
            .arg("show")
            .args(args)
            .current_dir(cwd)
            .env_remove("AFFINITY_SYNC_SHOW_TOKEN")
            .envs(env.iter().copied())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::inherit())
            .spawn()
            .unwrap();
        let mut banner = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut banner)
            .unwrap();
        let url = banner
            .split_whitespace()
            .find(|w| w.starts_with("http://"))
            .unwrap_or_else(|| panic!("no address in {banner:?}"))
            .to_string();
        Show { child, url, banner }
    }
}

impl Drop for Show {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
