//! `nexus-relink completions SHELL` and `nexus-relink man`: generated from the parser, so they
//! name every subcommand and option the parser takes.

use std::process::Command;

fn run(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_nexus-relink"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[test]
fn completions_name_every_subcommand_and_their_options() {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let (code, out, err) = run(&["completions", shell]);
        assert_eq!(code, 0, "{shell}: {err}");
        assert!(err.is_empty(), "{shell}: {err}");
        for word in [
            "inspect",
            "linker-script",
            "verify",
            "completions",
            "--memlimit",
            "--segment-cycles",
            "--prover-memory",
            "--private-input",
        ] {
            // fish writes `-l memlimit`, the others `--memlimit`.
            let name = word.trim_start_matches('-');
            assert!(out.contains(name), "{shell} completions lack {word}");
        }
    }
    // The --abi values are completed too.
    let (_, bash, _) = run(&["completions", "bash"]);
    assert!(
        bash.contains("linux-rv32"),
        "bash completions lack the --abi values"
    );
    assert!(bash.contains("--segment-cycles"), "{bash}");
    // bash loads it and registers the function for the command.
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("nexus-relink.bash");
    std::fs::write(&script, &bash).unwrap();
    if let Ok(out) = Command::new("bash")
        .arg("-c")
        .arg(format!(
            "source '{}' && complete -p nexus-relink",
            script.display()
        ))
        .output()
    {
        let said = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && said.contains("-F _nexus__relink"),
            "{said} {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn completions_of_an_unknown_shell_are_a_usage_error_with_a_suggestion() {
    let (code, out, err) = run(&["completions", "bsh"]);
    assert_eq!(code, 1);
    assert!(out.is_empty());
    assert!(
        err.contains("invalid value 'bsh'") && err.contains("did you mean 'bash'?"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
}

#[test]
fn man_pages_of_the_tool_and_each_subcommand() {
    let (code, page, err) = run(&["man"]);
    assert_eq!(code, 0, "{err}");
    assert!(page.contains(".TH nexus-relink 1"), "{page}");
    assert!(page.contains(".SH SUBCOMMANDS"), "{page}");
    // roff escapes dashes in option names.
    assert!(page.contains(r"\-\-memlimit"), "{page}");
    let (code, page, err) = run(&["man", "prove"]);
    assert_eq!(code, 0, "{err}");
    assert!(page.contains(".TH nexus-relink-prove 1"), "{page}");
    assert!(page.contains(r"\-\-prover\-memory"), "{page}");
    assert!(page.contains(r"\-\-zk"), "{page}");
    assert!(
        !page.contains(r"\-\-memlimit"),
        "prove's page shows the rewrite's options"
    );
    let (code, out, err) = run(&["man", "prov"]);
    assert_eq!(code, 1);
    assert!(out.is_empty());
    assert!(
        err.contains("no subcommand 'prov'") && err.contains("prove"),
        "{err}"
    );
}

/// When `man` is installed, the page renders without roff warnings.
#[test]
fn the_man_page_renders() {
    let Ok(probe) = Command::new("man").arg("--version").output() else {
        println!("no man here: rendering not checked");
        return;
    };
    if !probe.status.success() {
        println!("no working man here: rendering not checked");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nexus-relink.1");
    std::fs::write(&path, run(&["man"]).1).unwrap();
    let out = Command::new("man")
        .args(["-l", "-Tutf8"])
        .arg(&path)
        .env("MANWIDTH", "100")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(!err.contains("warning"), "{err}");
    assert!(text.contains("--memlimit"), "{text}");
}

/// `prove --zk`'s help says what the README measured (about 4× the proving time and memory,
/// twice the proof size), not the "about twice the proving work" it once said.
#[test]
fn zk_help_is_true_to_the_readme() {
    let (code, help, _) = run(&["prove", "--help"]);
    assert_eq!(code, 0);
    let help = help.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(
        help.contains("About 4× the proving time and memory and twice the proof size"),
        "{help}"
    );
    assert!(!help.contains("twice the proving"), "{help}");
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let readme = readme.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(
        readme.contains("zk costs about 4× the proving time and memory and twice the proof size"),
        "the README's zk cost changed: update prove --zk's help with it"
    );
}
