//! Every example in the README's tour and scripting sections runs as
//! written: each line of each code block (transcripts, `$ …` blocks, are
//! the walkthrough tests' job) runs with `bash -c` in a directory holding
//! the files the examples name, `amqpctl` on the PATH and `AMQP_URL` aimed
//! at a vhost of its own on the test node. Lines documented to run until a
//! signal (`con` and `rpc serve` without `--count`/`--idle-timeout`/`--until-empty`) run in
//! the background, like a second terminal; the block's other lines run once
//! the broker shows their consumer, and at the block's end they get SIGTERM
//! and must exit 0. Every other line must exit 0, or the status its comment
//! names (`# exit 8 when the queue is empty`).

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::support::eventually;
use crate::support::{Cmd, Spawned, broker};

const VHOST: &str = "readme-examples";

/// The runnable lines of each code block between the tour and the Output
/// section, with the exit status a comment allows besides 0.
fn example_blocks(readme: &str) -> Vec<Vec<(String, Option<i32>)>> {
    let start = readme.find("## A quick tour").expect("tour section");
    let end = readme.find("\n## Output").expect("output section");
    let mut blocks = Vec::new();
    let mut current: Option<Vec<String>> = None;
    for line in readme[start..end].lines() {
        if line.starts_with("```") {
            match current.take() {
                Some(block) => blocks.push(block),
                None => current = Some(Vec::new()),
            }
        } else if let Some(block) = current.as_mut() {
            block.push(line.to_string());
        }
    }
    blocks
        .into_iter()
        .filter(|b| !b.iter().any(|l| l.starts_with("$ ")))
        .map(|b| {
            b.into_iter()
                .filter(|l| l.contains("amqpctl "))
                .map(|l| split_comment(&l))
                .collect()
        })
        .filter(|b: &Vec<_>| !b.is_empty())
        .collect()
}

/// A line and the status its `# exit N …` comment names. A comment starts
/// at `#` after two spaces (`'jp.lg.#'` is not one).
fn split_comment(line: &str) -> (String, Option<i32>) {
    match line.find("  #") {
        Some(i) => {
            let comment = line[i..].trim_start().trim_start_matches('#').trim();
            let code = comment
                .strip_prefix("exit ")
                .and_then(|rest| rest.split_whitespace().next())
                .and_then(|n| n.parse().ok());
            (line[..i].trim_end().to_string(), code)
        }
        None => (line.trim_end().to_string(), None),
    }
}

/// Whether the README means this line to run until a signal.
fn runs_until_a_signal(line: &str) -> bool {
    (line.starts_with("amqpctl con ") || line.starts_with("amqpctl rpc serve "))
        && !line.contains('|')
        && !["--count", "--idle-timeout", "--until-empty", "--lazy"]
            .iter()
            .any(|f| line.contains(f))
}

/// The files and queues the examples expect.
fn prepare(dir: &Path) {
    std::fs::write(dir.join("payload.bin"), [0u8, 1, 2, 255]).expect("payload");
    std::fs::create_dir(dir.join("dir")).expect("dir");
    std::fs::write(dir.join("dir/file.txt"), "archived").expect("file");
    let invoice = dir.join("process-invoice");
    std::fs::write(&invoice, "#!/bin/sh\ncat > /dev/null\n").expect("script");
    std::fs::set_permissions(&invoice, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    // The profiles the examples name: the README's own config file, private
    // as a file with passwords must be, its `dev` profile aimed at the test
    // node (a profile that names its broker beats AMQP_URL).
    let config = dir.join("config.toml");
    std::fs::write(&config, aimed_at_the_test_node(&readme_config())).expect("config");
    std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    let b = broker();
    b.add_vhost_for_guest(VHOST);
    // Queues the examples read without declaring them, and the 100
    // messages the move example takes from `from`.
    for setup in [
        "amqpctl declare queue q --durable",
        "amqpctl declare queue invoices --durable",
        "amqpctl declare queue from --durable",
        "amqpctl declare queue to --durable",
        "amqpctl declare queue dead-letters --durable",
        "amqpctl pub -k from --nb-messages 100 --interval 0 --confirm --quiet",
    ] {
        Cmd::from(shell(setup, dir)).run().code(0);
    }
}

/// README.md as it is in the tree.
fn readme() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).expect("README.md")
}

/// The README's example config file: its first `toml` block.
fn readme_config() -> String {
    let readme = readme();
    let block = readme
        .split_once("```toml\n")
        .expect("the README shows a config file")
        .1;
    block
        .split_once("```")
        .expect("its block ends")
        .0
        .to_string()
}

/// The README's config file with the URL of its `dev` profile replaced by
/// the test node's. A chosen profile that names its broker wins over
/// `$AMQP_URL`, so as written the profile examples reached the machine's
/// own broker on 5672.
fn aimed_at_the_test_node(config: &str) -> String {
    let readme_url = "amqp://guest:guest@localhost:5672/%2f";
    assert!(
        config.contains(readme_url),
        "the README's dev profile names {readme_url}; aim the new one at the test node"
    );
    let test_url = format!(
        "amqp://guest:guest@127.0.0.1:{}/{VHOST}",
        broker().amqp_port()
    );
    config.replace(readme_url, &test_url)
}

fn shell(line: &str, dir: &Path) -> Command {
    let bin = Path::new(env!("CARGO_BIN_EXE_amqpctl"))
        .parent()
        .expect("binary directory");
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut cmd = Command::new("bash");
    cmd.args(["-c", line])
        .current_dir(dir)
        .env("PATH", path)
        .env("AMQPCTL_CONFIG", dir.join("config.toml"))
        .env("RABBITMQADMIN_BASE_URI", broker().mgmt_url())
        .env(
            "AMQP_URL",
            format!("amqp://127.0.0.1:{}/{VHOST}", broker().amqp_port()),
        );
    cmd
}

/// Consumers on the examples' vhost, counted per channel (stream
/// consumers are not in `list_consumers`).
fn consumers() -> usize {
    broker()
        .ctl_ok(&[
            "list_channels",
            "vhost",
            "consumer_count",
            "--quiet",
            "--no-table-headers",
        ])
        .lines()
        .filter_map(|l| {
            let (vhost, n) = l.rsplit_once('\t')?;
            (vhost == VHOST).then(|| n.trim().parse::<usize>().ok())?
        })
        .sum()
}

#[test]
fn every_tour_and_scripting_example_runs_as_written() {
    let readme = readme();
    let dir = tempfile::tempdir().expect("tempdir");
    prepare(dir.path());
    let blocks = example_blocks(&readme);
    assert!(blocks.len() >= 10, "found only {} blocks", blocks.len());
    let mut ran = 0;
    for block in blocks {
        let mut background: Vec<Spawned> = Vec::new();
        for (line, allowed) in block {
            ran += 1;
            if runs_until_a_signal(&line) {
                let before = consumers();
                let child = Spawned::start(shell(&line, dir.path()));
                eventually(&format!("{line}: a consumer"), || consumers() > before);
                background.push(child);
                continue;
            }
            Cmd::from(shell(&line, dir.path()))
                .timeout(Duration::from_secs(120))
                .run()
                .code_one_of(&[0, allowed.unwrap_or(0)]);
        }
        for mut child in background {
            child.signal(libc::SIGTERM);
            child.exits_with(0, Duration::from_secs(20));
        }
    }
    assert!(ran >= 30, "ran only {ran} example lines");
    broker().ctl_ok(&["delete_vhost", VHOST]);
}
