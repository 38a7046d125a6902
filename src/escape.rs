//! Text read from files (section and symbol names) and paths from the command line, made safe
//! to print on one line: control characters, invisible direction overrides and bytes that are
//! not UTF-8 become escapes (`\x1e`, `\u{202e}`), a backslash is doubled. A message that quotes
//! a garbled name stays one line and shows which bytes were there.

use std::fmt::Write;

/// Bytes as printable text (see the module documentation).
pub fn bytes(b: &[u8]) -> String {
    let mut o = String::with_capacity(b.len());
    for chunk in b.utf8_chunks() {
        for c in chunk.valid().chars() {
            push_char(&mut o, c);
        }
        for x in chunk.invalid() {
            let _ = write!(o, "\\x{x:02x}");
        }
    }
    o
}

/// A string as printable text (see the module documentation).
pub fn text(s: &str) -> String {
    bytes(s.as_bytes())
}

/// A path as printable text: its bytes on Unix (a name that is not UTF-8 shows its bytes).
pub fn path(p: &std::path::Path) -> String {
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        bytes(p.as_os_str().as_bytes())
    }
    #[cfg(not(unix))]
    {
        text(&p.to_string_lossy())
    }
}

fn push_char(o: &mut String, c: char) {
    // Bidirectional overrides and isolates reorder the text around them on a terminal.
    let invisible = matches!(c, '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{feff}');
    match c {
        '\\' => o.push_str("\\\\"),
        c if (c as u32) < 0x80 && c.is_control() => {
            let _ = write!(o, "\\x{:02x}", c as u32);
        }
        c if c.is_control() || invisible => {
            let _ = write!(o, "\\u{{{:x}}}", c as u32);
        }
        c => o.push(c),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printable_text_is_kept_and_the_rest_escaped() {
        assert_eq!(bytes(b".stack"), ".stack");
        assert_eq!(bytes("données".as_bytes()), "données");
        assert_eq!(bytes(b"\x1e\x13\xff\xfeck"), "\\x1e\\x13\\xff\\xfeck");
        assert_eq!(bytes(b"a\nb\tc\x7f"), "a\\x0ab\\x09c\\x7f");
        assert_eq!(text("a\\b"), "a\\\\b");
        assert_eq!(text("x\u{202e}y\u{85}"), "x\\u{202e}y\\u{85}");
        assert_eq!(
            path(std::path::Path::new("dir/fib\n.elf")),
            "dir/fib\\x0a.elf"
        );
    }
}
