//! Memory sizes as users write them: `16M`, `16MiB`, `16m`, `0x1000000`, `16777216`, `1G`, `64K`.

/// Parse a size in bytes. Suffixes K/M/G (with optional `i`, `iB` or `B`, any case) are powers
/// of 1024. The result must be at most 4 GiB (the RV32 address space).
pub fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let err = || {
        format!("invalid size '{text}': expected a number of bytes with an optional K/M/G suffix (e.g. 16M, 16MiB, 0x1000000, 16777216)")
    };
    if t.is_empty() {
        return Err(err());
    }
    if t.starts_with('-') {
        return Err(format!("invalid size '{text}': a size cannot be negative"));
    }
    let too_large = || {
        format!(
            "size '{text}' is larger than the 4 GiB RV32 address space (at most 4G, 0x100000000)"
        )
    };
    // A number too large for 64 bits is too large for the address space, not malformed.
    let number = |e: std::num::ParseIntError| match e.kind() {
        std::num::IntErrorKind::PosOverflow => too_large(),
        _ => err(),
    };
    let (num, mult) = if let Some(hex) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        (
            u64::from_str_radix(hex.replace('_', "").as_str(), 16).map_err(number)?,
            1,
        )
    } else {
        let split = t
            .find(|c: char| !c.is_ascii_digit() && c != '_')
            .unwrap_or(t.len());
        let (digits, suffix) = t.split_at(split);
        let n: u64 = digits.replace('_', "").parse().map_err(number)?;
        let mult = match suffix.trim().to_ascii_lowercase().as_str() {
            "" | "b" => 1,
            "k" | "kb" | "ki" | "kib" => 1 << 10,
            "m" | "mb" | "mi" | "mib" => 1 << 20,
            "g" | "gb" | "gi" | "gib" => 1 << 30,
            _ => return Err(err()),
        };
        (n, mult)
    };
    let v = num.checked_mul(mult).ok_or_else(too_large)?;
    if v > 1 << 32 {
        return Err(format!(
            "size '{text}' = {v} bytes is larger than the 4 GiB RV32 address space"
        ));
    }
    Ok(v)
}

/// Parse a memory limit: a size (see [`parse_size`]) of at most
/// [`MAX_MEMLIMIT`](crate::layout::MAX_MEMLIMIT), the one rule the VM, the rewrite and
/// `linker-script` share for the top of the address space.
pub fn parse_memlimit(text: &str) -> Result<u64, String> {
    let v = parse_size(text)?;
    if v > crate::layout::MAX_MEMLIMIT {
        return Err(crate::plan::too_large(v));
    }
    Ok(v)
}

/// Parse a count (`what`: "cycle count", "margin"): a decimal or `0x` number, `_` allowed.
/// A negative or too large number gets its own message.
pub fn parse_count(text: &str, what: &str) -> Result<u64, String> {
    let t = text.trim().replace('_', "");
    if t.starts_with('-') {
        return Err(format!("invalid {what} '{text}': it cannot be negative"));
    }
    let r = match t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => t.parse(),
    };
    r.map_err(|e| match e.kind() {
        std::num::IntErrorKind::PosOverflow => {
            format!("invalid {what} '{text}': too large (at most {})", u64::MAX)
        }
        _ => format!("invalid {what} '{text}': expected a whole number (e.g. 1000000, 0x100000)"),
    })
}

// Hand-written on purpose (issue 20 asked to replace hand-written pieces by crates where they
// do the same job): `parse_size` takes the spellings zkVM configurations use (16M, 16MiB,
// 0x1000000, 16_777_216) and says why a value is refused in the option's words; `exact`
// never rounds (bytesize and humansize print one rounded decimal: "2.0 GiB" for
// 0x80400000), and `arg` reads back through `parse_size`.

/// A size rounded to one decimal, for a fixed-width column whose exact bounds stand beside
/// it (`inspect`'s region table): `16 MiB`, `2.9 MiB`, `100 B`. Elsewhere use [`exact`].
pub fn human(bytes: u64) -> String {
    const UNITS: [(u64, &str); 3] = [(1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")];
    for (unit, name) in UNITS {
        if bytes >= unit {
            return if bytes % unit == 0 {
                format!("{} {name}", bytes / unit)
            } else {
                format!("{:.1} {name}", bytes as f64 / unit as f64)
            };
        }
    }
    format!("{bytes} B")
}

/// A size without losing detail: in the largest unit that divides it (`2052 MiB` for
/// 0x80400000, `1 MiB` for 1048576), else to two decimals with the exact bytes
/// (`1.18 MiB (1234567 B)`).
pub fn exact(bytes: u64) -> String {
    const UNITS: [(u64, &str); 3] = [(1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")];
    if let Some((unit, name)) = UNITS.iter().find(|(u, _)| bytes >= *u && bytes % u == 0) {
        return format!("{} {name}", bytes / unit);
    }
    match UNITS.iter().find(|(u, _)| bytes >= *u) {
        Some((unit, name)) => format!("{:.2} {name} ({bytes} B)", bytes as f64 / *unit as f64),
        None => format!("{bytes} B"),
    }
}

/// A size as a command-line argument that [`parse_size`] reads back exactly: `80K`, `4M`,
/// `1G`, else hexadecimal.
pub fn arg(bytes: u64) -> String {
    for (unit, suffix) in [(1u64 << 30, "G"), (1 << 20, "M"), (1 << 10, "K")] {
        if bytes >= unit && bytes % unit == 0 {
            return format!("{}{suffix}", bytes / unit);
        }
    }
    format!("{bytes:#x}")
}

#[cfg(test)]
mod tests {
    #[test]
    fn exact_sizes_keep_their_detail_and_args_read_back() {
        use super::{arg, exact, parse_size};
        assert_eq!(exact(0x8040_0000), "2052 MiB");
        assert_eq!(exact(1 << 20), "1 MiB");
        assert_eq!(exact(10 << 20), "10 MiB");
        assert_eq!(exact(1_234_567), "1.18 MiB (1234567 B)");
        assert_eq!(exact(100), "100 B");
        for v in [81920u64, 4 << 20, 1 << 30, 0x40_1010, 16, 3 << 30] {
            assert_eq!(parse_size(&arg(v)).unwrap(), v, "{}", arg(v));
        }
        assert_eq!(arg(81920), "80K");
        assert_eq!(arg(0x40_1010), "0x401010");
    }

    use super::*;

    #[test]
    fn accepts_the_documented_spellings() {
        for s in [
            "16M",
            "16MiB",
            "16m",
            "0x1000000",
            "16777216",
            "16 MB",
            "16_777_216",
        ] {
            assert_eq!(parse_size(s), Ok(16 << 20), "{s}");
        }
        assert_eq!(parse_size("1G"), Ok(1 << 30));
        assert_eq!(parse_size("64K"), Ok(64 << 10));
        assert_eq!(parse_size("4G"), Ok(1 << 32));
    }

    #[test]
    fn rejects_garbage_and_overflow() {
        for s in ["", "M", "16Q", "0x", "-1", "5G", "99999999999999999999"] {
            assert!(parse_size(s).is_err(), "{s}");
        }
    }

    #[test]
    fn counts_say_negative_too_large_or_malformed() {
        assert_eq!(parse_count("1_000", "cycle count"), Ok(1000));
        assert_eq!(parse_count("0x10", "cycle count"), Ok(16));
        let e = |s| parse_count(s, "cycle count").unwrap_err();
        assert!(e("-1").contains("cannot be negative"), "{}", e("-1"));
        assert!(e("99999999999999999999").contains("too large"));
        assert!(e("1e9").contains("expected a whole number"));
    }

    #[test]
    fn oversized_numbers_say_too_large() {
        for s in [
            "99999999999999999999",
            "0xffffffffffffffffff",
            "99999999999999999G",
        ] {
            let e = parse_size(s).unwrap_err();
            assert!(e.contains("larger than the 4 GiB"), "{s}: {e}");
        }
    }

    #[test]
    fn memory_limits_stop_below_the_last_page() {
        assert_eq!(parse_memlimit("0xfffff000"), Ok(0xffff_f000));
        for s in ["4G", "0xfffff001", "4194301K"] {
            let e = parse_memlimit(s).unwrap_err();
            assert!(
                e.contains("the largest memory limit is 0xfffff000") && !e.contains('\n'),
                "{s}: {e}"
            );
        }
        assert!(parse_size("-1").unwrap_err().contains("cannot be negative"));
    }

    #[test]
    fn human_sizes() {
        assert_eq!(human(16 << 20), "16 MiB");
        assert_eq!(human(3_000_000), "2.9 MiB");
        assert_eq!(human(100), "100 B");
        assert_eq!(human(3004 << 10), "2.9 MiB");
        assert_eq!(human(64 << 10), "64 KiB");
    }
}
