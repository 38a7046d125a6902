//! `nexus-relink completions SHELL` and `nexus-relink man [SUBCOMMAND]`: generated from the
//! clap definition itself (clap_complete, clap_mangen), so they list exactly the options the
//! parser takes.

use super::Cli;
use clap::CommandFactory;
use std::io::Write;

#[derive(clap::Args, Debug)]
#[command(after_help = "Install, e.g.:
  bash: nexus-relink completions bash > ~/.local/share/bash-completion/completions/nexus-relink
  zsh:  nexus-relink completions zsh > ~/.zfunc/_nexus-relink  (with fpath+=~/.zfunc)
  fish: nexus-relink completions fish > ~/.config/fish/completions/nexus-relink.fish

Exit codes:
  0  the script is printed
  1  usage error, or stdout cannot be written")]
pub struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum)]
    shell: clap_complete::Shell,
}

#[derive(clap::Args, Debug)]
#[command(
    after_help = "Install, e.g.: nexus-relink man > ~/.local/share/man/man1/nexus-relink.1
and one page per subcommand: nexus-relink man run > ~/.local/share/man/man1/nexus-relink-run.1

Exit codes:
  0  the page is printed
  1  usage error (no such subcommand), or stdout cannot be written"
)]
pub struct ManArgs {
    /// Print the page of this subcommand (nexus-relink-SUBCOMMAND(1)) instead of the main one.
    #[arg(value_name = "SUBCOMMAND")]
    subcommand: Option<String>,
}

/// The command as the parser sees it, with the name users type.
fn command() -> clap::Command {
    let mut cmd = Cli::command();
    cmd.build();
    cmd
}

fn write_out(bytes: &[u8]) -> i32 {
    let mut out = std::io::stdout().lock();
    match out.write_all(bytes).and_then(|_| out.flush()) {
        Ok(()) => 0,
        // A closed pipe (`| head`) is the reader's choice, not a failure.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => 0,
        Err(e) => {
            eprintln!("nexus-relink: error: cannot write to stdout: {e}");
            1
        }
    }
}

pub fn completions_main(a: CompletionsArgs) -> i32 {
    let mut cmd = command();
    let mut buf = Vec::new();
    clap_complete::generate(a.shell, &mut cmd, "nexus-relink", &mut buf);
    write_out(&buf)
}

/// The roff man page of the command, or of one subcommand (named `nexus-relink-NAME`, as
/// `git` names its pages).
pub fn man_page(subcommand: Option<&str>) -> Result<Vec<u8>, String> {
    let cmd = command();
    let page = match subcommand {
        None => cmd,
        Some(name) => {
            let names: Vec<&str> = cmd
                .get_subcommands()
                .filter(|c| !c.is_hide_set() && c.get_name() != "help")
                .map(|c| c.get_name())
                .collect();
            let Some(sub) = cmd.find_subcommand(name) else {
                return Err(format!(
                    "no subcommand '{}' (the subcommands: {})",
                    nexus_relink::escape::text(name),
                    names.join(", ")
                ));
            };
            // clap keeps names as `&'static str`; the process prints one page and ends.
            let full: &'static str = format!("nexus-relink-{}", sub.get_name()).leak();
            sub.clone()
                .name(full)
                .bin_name(full)
                .version(env!("CARGO_PKG_VERSION"))
        }
    };
    let mut buf = Vec::new();
    clap_mangen::Man::new(page)
        .render(&mut buf)
        .map_err(|e| format!("cannot render the man page: {e}"))?;
    Ok(buf)
}

pub fn man_main(a: ManArgs) -> i32 {
    match man_page(a.subcommand.as_deref()) {
        Ok(page) => write_out(&page),
        Err(e) => {
            eprintln!("nexus-relink: error: man: {e}");
            1
        }
    }
}
