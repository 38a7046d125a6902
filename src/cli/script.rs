//! `nexus-relink linker-script --memlimit SIZE`: a GNU ld script with the layout a rewrite
//! would produce, for users who can relink.

use super::{fail, parse_u32_size};
use nexus_relink::linker_script::{render, ScriptRequest, Style, DEFAULT_STACK};
use nexus_relink::size::parse_memlimit;
use nexus_relink::Error;

#[derive(clap::Args, Debug)]
#[command(after_help = super::EXIT_HELP_SCRIPT)]
pub struct Args {
    /// Memory limit (16M, 0x1000000, …; at most 0xfffff000). The scripts link the program at
    /// 0x10000, so the memory base is 0 and SIZE is also the memory top (as for a rewrite's
    /// --memlimit and --memtop of such a guest).
    #[arg(long, value_name = "SIZE", value_parser = parse_memlimit, allow_negative_numbers = true)]
    memlimit: u64,
    /// Stack size (generic style; default 1 MiB; a multiple of 16).
    #[arg(long, value_name = "SIZE", value_parser = parse_u32_size, allow_negative_numbers = true)]
    stack: Option<u32>,
    /// Heap size (generic style; default: up to the stack; a multiple of 16).
    #[arg(long, value_name = "SIZE", value_parser = parse_u32_size, allow_negative_numbers = true)]
    heap: Option<u32>,
    /// Guard gap between heap and stack (generic style).
    #[arg(long, value_name = "SIZE", value_parser = parse_u32_size, allow_negative_numbers = true)]
    guard: Option<u32>,
    #[arg(long, value_enum, default_value = "generic")]
    style: Style,
    #[command(flatten)]
    pub verbosity: super::Verbosity,
}

pub fn main(a: Args) -> i32 {
    let go = || -> Result<String, Error> {
        if a.style == Style::Nexus && (a.stack.is_some() || a.heap.is_some() || a.guard.is_some()) {
            return Err(Error::Usage("--style nexus has a shared heap/stack region: --stack, --heap and --guard do not apply".into()));
        }
        let req = ScriptRequest {
            memlimit: a.memlimit,
            stack: a.stack.unwrap_or(DEFAULT_STACK),
            heap: a.heap,
            guard: a.guard.unwrap_or(0),
            style: a.style,
        };
        render(&req).map_err(|e| Error::Relink(e.into()))
    };
    match go() {
        Ok(s) => {
            out!("{s}");
            0
        }
        Err(e) => fail(&e),
    }
}
