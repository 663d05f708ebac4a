//! Developer tooling: `.env.example` documents every setting, and the
//! pre-commit hooks are all local (so `pre-commit run --all-files` in `cargo xtask ci` needs
//! no network) with the hooks the README promises.

use crate::common::*;

/// The variable names `.env.example` sets or shows commented out (`NAME=` / `# NAME=`).
fn example_names() -> Vec<String> {
    let text = std::fs::read_to_string(root().join(".env.example")).unwrap();
    text.lines()
        .map(|l| l.trim_start_matches('#').trim_start())
        .filter_map(|l| l.split_once('='))
        .map(|(k, _)| k)
        .filter(|k| {
            !k.is_empty()
                && k.chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
        })
        .map(str::to_string)
        .collect()
}

#[test]
fn env_example_lists_every_setting() {
    let names = example_names();
    let known: Vec<&str> = mlops_domain::settings::VARIABLES
        .iter()
        .map(|(n, _)| *n)
        .collect();
    let missing: Vec<&&str> = known
        .iter()
        .filter(|k| !names.iter().any(|n| n == **k))
        .collect();
    assert!(missing.is_empty(), ".env.example lacks {missing:?}");
    let unknown: Vec<&String> = names
        .iter()
        .filter(|n| !known.contains(&n.as_str()))
        .collect();
    assert!(unknown.is_empty(), ".env.example has unknown {unknown:?}");
}

#[test]
fn pre_commit_hooks_are_local_and_complete() {
    let text = std::fs::read_to_string(root().join(".pre-commit-config.yaml")).unwrap();
    let doc: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
    let repos = doc["repos"].as_sequence().unwrap();
    let mut ids = Vec::new();
    for repo in repos {
        assert_eq!(repo["repo"].as_str(), Some("local"), "{repo:?}");
        for hook in repo["hooks"].as_sequence().unwrap() {
            let language = hook["language"].as_str().unwrap();
            // system: a tool already installed; fail: a message. Nothing to download.
            assert!(matches!(language, "system" | "fail"), "{hook:?}");
            ids.push(hook["id"].as_str().unwrap().to_string());
        }
    }
    for id in [
        "rustfmt",
        "clippy",
        "actionlint",
        "hadolint",
        "terraform-fmt",
        "check-added-large-files",
        "detect-private-key",
        "no-dotenv",
    ] {
        assert!(ids.iter().any(|i| i == id), "no {id} hook in {ids:?}");
    }
}
