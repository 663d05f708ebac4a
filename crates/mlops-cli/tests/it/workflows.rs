//! The GitHub Actions workflows against the code they drive: every `mlops ...` a step runs must
//! parse with the real command tree (`mlops_cli::args::Cli`), every script a step runs
//! (`bash path`, `./path`) and every local action (`uses: ./...`) must exist, and the manual
//! deploy's choice of training pipelines must be `PIPELINE_DEFS`' training pipelines. All
//! problems are reported at once.

use std::path::{Path, PathBuf};

use clap::error::ErrorKind;
use clap::CommandFactory;
use mlops_cli::args::Cli;
use serde_yaml::Value;

/// What a `${{ ... }}` expression or a shell variable stands for when a command line is
/// checked: a plain word, valid wherever clap takes a free value.
const PLACEHOLDER: &str = "placeholder";

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The workflow and local-action files: `.github/workflows/*.y(a)ml` and
/// `.github/actions/*/action.y(a)ml`.
fn workflow_files(root: &Path) -> Vec<PathBuf> {
    let is_yaml = |p: &Path| p.extension().is_some_and(|e| e == "yml" || e == "yaml");
    let mut files = Vec::new();
    if let Ok(dir) = std::fs::read_dir(root.join(".github/workflows")) {
        files.extend(dir.flatten().map(|e| e.path()).filter(|p| is_yaml(p)));
    }
    if let Ok(dir) = std::fs::read_dir(root.join(".github/actions")) {
        for action in dir.flatten() {
            for name in ["action.yml", "action.yaml"] {
                let path = action.path().join(name);
                if path.exists() {
                    files.push(path);
                }
            }
        }
    }
    files.sort();
    files
}

/// Every `run:` script and every `uses:` reference anywhere in the document (workflow steps
/// and composite-action steps alike).
fn collect(value: &Value, runs: &mut Vec<String>, uses: &mut Vec<String>) {
    match value {
        Value::Mapping(map) => {
            for (key, v) in map {
                match (key.as_str(), v) {
                    (Some("run"), Value::String(s)) => runs.push(s.clone()),
                    (Some("uses"), Value::String(s)) => uses.push(s.clone()),
                    _ => collect(v, runs, uses),
                }
            }
        }
        Value::Sequence(items) => items.iter().for_each(|v| collect(v, runs, uses)),
        _ => {}
    }
}

/// Replace every `${{ ... }}` expression with the placeholder.
fn strip_expressions(script: &str) -> String {
    let mut out = String::new();
    let mut rest = script;
    while let Some(start) = rest.find("${{") {
        out.push_str(&rest[..start]);
        match rest[start..].find("}}") {
            Some(end) => {
                out.push_str(PLACEHOLDER);
                rest = &rest[start + end + 2..];
            }
            None => {
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

/// A shell script as simple commands: line continuations joined, comments dropped, split at
/// newlines, `;`, `&&`, `||` and `|` outside quotes; each command as words with quotes
/// removed, and a word holding a `$` variable replaced by the placeholder. Enough for the
/// one-line commands workflows run; not a shell.
fn commands(script: &str) -> Vec<Vec<String>> {
    let text = strip_expressions(script).replace("\\\n", " ");
    let mut all = Vec::new();
    let (mut words, mut word) = (Vec::new(), String::new());
    let (mut quote, mut has_var, mut in_word) = (None::<char>, false, false);
    let finish_word =
        |words: &mut Vec<String>, word: &mut String, has_var: &mut bool, in_word: &mut bool| {
            if *in_word {
                words.push(if *has_var {
                    PLACEHOLDER.to_string()
                } else {
                    std::mem::take(word)
                });
            }
            word.clear();
            *has_var = false;
            *in_word = false;
        };
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some('"'), '$') | (None, '$') => {
                has_var = true;
                in_word = true;
            }
            (Some(_), c) => {
                word.push(c);
                in_word = true;
            }
            (None, '\'' | '"') => {
                quote = Some(c);
                in_word = true;
            }
            (None, '#') if !in_word => {
                // A comment: skip to the end of the line.
                for c in chars.by_ref() {
                    if c == '\n' {
                        break;
                    }
                }
                finish_word(&mut words, &mut word, &mut has_var, &mut in_word);
                all.push(std::mem::take(&mut words));
            }
            (None, '\n' | ';' | '&' | '|') => {
                finish_word(&mut words, &mut word, &mut has_var, &mut in_word);
                all.push(std::mem::take(&mut words));
                if matches!(chars.peek(), Some('&' | '|')) {
                    chars.next();
                }
            }
            (None, c) if c.is_whitespace() => {
                finish_word(&mut words, &mut word, &mut has_var, &mut in_word);
            }
            (None, c) => {
                word.push(c);
                in_word = true;
            }
        }
    }
    finish_word(&mut words, &mut word, &mut has_var, &mut in_word);
    all.push(words);
    all.into_iter()
        .map(|mut cmd| {
            // Leading `NAME=value` assignments are the command's environment.
            let skip = cmd
                .iter()
                .take_while(|w| w.split_once('=').is_some_and(|(k, _)| is_env_name(k)))
                .count();
            cmd.drain(..skip);
            cmd
        })
        .filter(|cmd| !cmd.is_empty())
        .collect()
}

fn is_env_name(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
}

/// Problems in one workflow or action file's text; `root` resolves script and action paths.
fn check_workflow(name: &str, text: &str, root: &Path) -> Vec<String> {
    let doc: Value = match serde_yaml::from_str(text) {
        Ok(doc) => doc,
        Err(e) => return vec![format!("{name}: not YAML: {e}")],
    };
    let (mut runs, mut uses) = (Vec::new(), Vec::new());
    collect(&doc, &mut runs, &mut uses);
    let mut problems = Vec::new();
    for script in &runs {
        for cmd in commands(script) {
            check_command(name, &cmd, root, &mut problems);
        }
    }
    for action in uses.iter().filter(|u| u.starts_with("./")) {
        let path = root.join(action);
        // A reusable workflow is a file; a local action a folder with action.yml.
        let found = if action.ends_with(".yml") || action.ends_with(".yaml") {
            path.is_file()
        } else {
            path.join("action.yml").exists() || path.join("action.yaml").exists()
        };
        if !found {
            problems.push(format!(
                "{name}: `uses: {action}`: no such workflow or action in the repository"
            ));
        }
    }
    problems
}

/// One simple command: an `mlops` invocation against the clap tree, a script path against
/// the repository.
fn check_command(name: &str, cmd: &[String], root: &Path, problems: &mut Vec<String>) {
    let program = cmd[0].as_str();
    let line = cmd.join(" ");
    if program == "mlops" || program.ends_with("/mlops") {
        match Cli::command().try_get_matches_from(cmd) {
            Ok(_) => {}
            Err(e) if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) => {}
            Err(e) => {
                let first = e.to_string();
                let first = first.lines().next().unwrap_or_default().to_string();
                problems.push(format!("{name}: `{line}`: {first}"));
            }
        }
        return;
    }
    let script = if matches!(program, "bash" | "sh") {
        cmd[1..].iter().find(|w| !w.starts_with('-'))
    } else if program.starts_with("./") {
        Some(&cmd[0])
    } else {
        None
    };
    if let Some(path) = script {
        if !path.contains(PLACEHOLDER) && !root.join(path).is_file() {
            problems.push(format!(
                "{name}: `{line}`: the script {path} is not in the repository"
            ));
        }
    }
}

#[test]
fn every_mlops_command_and_script_in_the_workflows_exists() {
    let root = repo_root();
    let files = workflow_files(&root);
    let names: Vec<String> = files
        .iter()
        .map(|f| f.strip_prefix(&root).unwrap_or(f).display().to_string())
        .collect();
    for expected in ["ci.yml", "nprod.yml", "prod.yml", "deploy.yml"] {
        assert!(
            names
                .iter()
                .any(|n| n.ends_with(&format!("workflows/{expected}"))),
            "missing .github/workflows/{expected} in {names:?}"
        );
    }
    let mut problems = Vec::new();
    let mut mlops_commands = 0;
    for (file, name) in files.iter().zip(&names) {
        let text = std::fs::read_to_string(file).unwrap();
        let doc: Value = serde_yaml::from_str(&text).unwrap();
        let (mut runs, mut uses) = (Vec::new(), Vec::new());
        collect(&doc, &mut runs, &mut uses);
        mlops_commands += runs
            .iter()
            .flat_map(|r| commands(r))
            .filter(|c| c[0] == "mlops")
            .count();
        problems.extend(check_workflow(name, &text, &root));
    }
    // The deploy workflow runs alerting, compile, upload, schedule and submit at least.
    assert!(mlops_commands >= 5, "{mlops_commands} mlops commands found");
    assert!(
        problems.is_empty(),
        "{} problem(s) in the workflows:\n  {}",
        problems.len(),
        problems.join("\n  ")
    );
}

#[test]
fn the_manual_deploy_offers_exactly_the_training_pipelines() {
    let training: Vec<&str> = vertex_pipelines::PIPELINE_DEFS
        .iter()
        .filter(|d| d.is_training)
        .map(|d| d.name)
        .collect();
    for env in ["nprod", "prod"] {
        let path = repo_root().join(format!(".github/workflows/{env}.yml"));
        let doc: Value = serde_yaml::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        // YAML 1.1 reads the key `on` as the boolean true.
        let on = doc
            .get("on")
            .or_else(|| doc.get(Value::Bool(true)))
            .unwrap_or_else(|| panic!("{env}.yml has no `on`"));
        let inputs = &on["workflow_dispatch"]["inputs"];
        let options: Vec<&str> = inputs["training_pipeline"]["options"]
            .as_sequence()
            .unwrap_or_else(|| panic!("{env}.yml: training_pipeline has no options"))
            .iter()
            .filter_map(Value::as_str)
            .collect();
        assert_eq!(options, training, "{env}.yml training_pipeline choices");
        assert_eq!(inputs["run_training"]["type"].as_str(), Some("boolean"));
        let uses = doc["jobs"]["deploy"]["uses"].as_str();
        assert_eq!(uses, Some("./.github/workflows/deploy.yml"), "{env}.yml");
        assert_eq!(
            doc["jobs"]["deploy"]["with"]["environment"].as_str(),
            Some(env)
        );
    }
}

#[test]
fn the_check_catches_unknown_commands_flags_and_scripts() {
    let root = repo_root();
    let workflow = r#"
on: push
jobs:
  a:
    runs-on: ubuntu-latest
    steps:
      - run: mlops pipelines submit "${{ inputs.pipeline }}" --wait --poll-seconds 5
      - run: |
          # a comment with mlops nonsense in it
          FOO=1 mlops pipelines compile --out "$RUNNER_TEMP/p" && mlops pipelines upload
          mlops pipelines submit training --wiat
      - run: mlops pipelines frobnicate
      - run: >-
          mlops endpoints deploy --version champion
          --traffic 10 --machine-typ n1
      - run: bash .ci/run && bash scripts/missing.sh --flag
      - run: ./nowhere/deploy.sh "$X"
      - uses: ./.github/actions/nope
"#;
    let problems = check_workflow("synthetic.yml", workflow, &root);
    let text = problems.join("\n");
    assert_eq!(problems.len(), 6, "{text}");
    assert!(
        text.contains("`mlops pipelines submit training --wiat`"),
        "{text}"
    );
    assert!(text.contains("`mlops pipelines frobnicate`"), "{text}");
    assert!(text.contains("--machine-typ"), "{text}");
    assert!(
        text.contains("scripts/missing.sh is not in the repository"),
        "{text}"
    );
    assert!(
        text.contains("nowhere/deploy.sh is not in the repository"),
        "{text}"
    );
    assert!(text.contains("./.github/actions/nope"), "{text}");
    // `.ci/run` exists, and the valid invocations (expressions, variables, env prefixes,
    // comments) pass.
    assert!(
        !text.contains(".ci/run") && !text.contains("--wait"),
        "{text}"
    );
    assert!(
        !text.contains("compile") && !text.contains("comment"),
        "{text}"
    );
}

#[test]
fn commands_are_split_and_unquoted_like_the_shell() {
    let cmds = commands("A=1 mlops x \"a b\" '$c' \"$D\"; ./s.sh && y | z\n# c\nlast \\\n  arg");
    assert_eq!(
        cmds,
        [
            vec!["mlops", "x", "a b", "$c", PLACEHOLDER],
            vec!["./s.sh"],
            vec!["y"],
            vec!["z"],
            vec!["last", "arg"],
        ]
    );
}
