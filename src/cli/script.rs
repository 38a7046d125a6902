//! `nexus-relink linker-script --memlimit SIZE`: a GNU ld script with the layout a rewrite
//! would produce, for users who can relink.

use super::fail;
use nexus_relink::linker_script::{render, ScriptRequest, Style, DEFAULT_STACK};
use nexus_relink::size::{parse_memlimit, parse_size};
use nexus_relink::Error;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Memory limit (16M, 0x1000000, …; at most 0xfffff000).
    #[arg(long, value_name = "SIZE", allow_negative_numbers = true)]
    memlimit: String,
    /// Stack size (generic style; default 1 MiB; a multiple of 16).
    #[arg(long, value_name = "SIZE", allow_negative_numbers = true)]
    stack: Option<String>,
    /// Heap size (generic style; default: up to the stack; a multiple of 16).
    #[arg(long, value_name = "SIZE", allow_negative_numbers = true)]
    heap: Option<String>,
    /// Guard gap between heap and stack (generic style).
    #[arg(long, value_name = "SIZE", allow_negative_numbers = true)]
    guard: Option<String>,
    #[arg(long, value_enum, default_value = "generic")]
    style: Style,
}

pub fn main(a: Args) -> i32 {
    let size = |s: &Option<String>| -> Result<Option<u32>, Error> {
        s.as_deref()
            .map(|t| {
                parse_size(t)
                    .and_then(|v| u32::try_from(v).map_err(|_| format!("{t}: must be below 4 GiB")))
            })
            .transpose()
            .map_err(Error::Usage)
    };
    let go = || -> Result<String, Error> {
        if a.style == Style::Nexus && (a.stack.is_some() || a.heap.is_some() || a.guard.is_some()) {
            return Err(Error::Usage("--style nexus has a shared heap/stack region: --stack, --heap and --guard do not apply".into()));
        }
        let req = ScriptRequest {
            memlimit: parse_memlimit(&a.memlimit).map_err(Error::Usage)?,
            stack: size(&a.stack)?.unwrap_or(DEFAULT_STACK),
            heap: size(&a.heap)?,
            guard: size(&a.guard)?.unwrap_or(0),
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
