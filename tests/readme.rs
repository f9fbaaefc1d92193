//! The README is what a new user reads first: its configuration table must list every `serve` flag
//! with its environment variable and default, and CI must run the README's test command.

use clap::CommandFactory;
use dedupd::cli::Cli;

const README: &str = include_str!("../README.md");

#[test]
fn every_serve_flag_is_in_the_configuration_table() {
    let cli = Cli::command();
    let serve = cli.find_subcommand("serve").expect("serve subcommand");
    for arg in serve.get_arguments() {
        let Some(long) = arg.get_long() else { continue };
        if long == "help" || long == "version" {
            continue;
        }
        let row = README
            .lines()
            .find(|line| line.starts_with(&format!("| `--{long}` |")))
            .unwrap_or_else(|| panic!("README has no configuration row for --{long}"));
        let env = arg.get_env().and_then(|e| e.to_str()).expect("every serve flag has an environment variable");
        assert!(row.contains(&format!("`{env}`")), "--{long}: README row does not name {env}: {row}");
        let default: Vec<String> = arg.get_default_values().iter().map(|v| v.to_string_lossy().into_owned()).collect();
        if let Some(default) = default.first() {
            assert!(
                row.contains(&format!("`{default}`")),
                "--{long}: README row does not show default {default}: {row}"
            );
        }
    }
}

#[test]
fn ci_runs_the_readme_test_command() {
    assert!(README.contains("\n.ci/test "), "the README's test command is .ci/test");
    let ci = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/.ci/run")).expect(".ci/run");
    assert!(ci.lines().any(|line| line.trim() == "exec ./.ci/test"), ".ci/run must run the README's test command");
}
