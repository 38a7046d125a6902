//! How much a proof costs in memory, and how long a run one proof can hold on this machine.
//!
//! Proving keeps every table's trace, its low-degree extension and the lookup columns in
//! memory at once. The peak grows linearly with the table cells; the constants below were
//! measured on this project's machine (release build, 2 cores): 730 MiB for `medlow_fib`
//! (CPU table 2^18 rows), 1.5 GiB for `c_bump` (2^19), 5.7 GB for `jolt_heap` (2^21), 3.6 GiB
//! for the benchmark guest at 2^20 — about 2.9 KB per CPU row. [`prove`](super::prove) stops a
//! run at the largest CPU table that fits the budget before it traces further, and refuses,
//! with the estimate, tables that do not fit before it commits to them.

use super::tables::Table;
use p3_air::BaseAir;

/// Memory beyond the tables: the fixed RANGE and SHIFT tables, the verifier data, buffers.
const BASE_BYTES: u64 = 48 << 20;
/// Bytes of peak memory per main-trace cell (a field element): its low-degree extension at
/// blowup 2, the Merkle tree over it, the quotient and the LogUp columns it takes part in.
const BYTES_PER_CELL: u64 = 22;
/// The CPU table's share of a cycle: the other tables (MEM, MULDIV, events) add about a
/// quarter on average over the fixtures.
const CPU_ROW_BYTES_FACTOR_NUM: u64 = 5;
const CPU_ROW_BYTES_FACTOR_DEN: u64 = 4;

/// A zero-knowledge proof commits twice the rows (the hiding PCS interleaves a random row
/// with every trace row and adds random codewords) and evaluates the quotient on four times
/// the points (the constraint degree grows by one: 8 chunks instead of 2 for degree-3
/// constraints): its peak per cell is about 4.25 times a plain proof's (measured on the
/// benchmark guest: 1111 MiB against 265 MiB at 2^16 CPU rows, 4157 MiB against 1257 MiB at
/// 2^18).
const ZK_FACTOR_NUM: u64 = 17;
const ZK_FACTOR_DEN: u64 = 4;

fn zk_scaled(bytes: u64, zk: bool) -> u64 {
    if zk {
        bytes * ZK_FACTOR_NUM / ZK_FACTOR_DEN
    } else {
        bytes
    }
}

/// Estimated peak bytes of proving these tables at these heights (zero-knowledge or not).
pub fn estimate_peak_bytes(tables: &[Table], heights: &[usize], zk: bool) -> u64 {
    let cells: u64 = tables
        .iter()
        .zip(heights)
        .map(|(t, &h)| {
            let w = <Table as BaseAir<super::Val>>::width(t)
                + <Table as BaseAir<super::Val>>::preprocessed_width(t);
            w as u64 * h as u64
        })
        .sum();
    BASE_BYTES + zk_scaled(cells * BYTES_PER_CELL, zk)
}

/// Estimated peak bytes of a proof whose CPU table has `rows` rows (other tables scaled).
pub fn estimate_for_cpu_rows(rows: u64, zk: bool) -> u64 {
    let w = super::tables::CpuCols::new().width as u64;
    BASE_BYTES
        + zk_scaled(
            rows * w * BYTES_PER_CELL * CPU_ROW_BYTES_FACTOR_NUM / CPU_ROW_BYTES_FACTOR_DEN,
            zk,
        )
}

/// The longest run one proof holds within `budget` bytes: one less than the largest power of
/// two of CPU rows whose estimate fits in 90 % of it (the CPU table keeps a padding row after
/// the last cycle), and at most 2^25 - 1 (the prover's table limit).
pub fn max_cycles_for(budget: u64, zk: bool) -> u64 {
    let mut best = 0;
    for k in 4..=25u32 {
        if estimate_for_cpu_rows(1 << k, zk) <= budget / 10 * 9 {
            best = (1u64 << k) - 1;
        }
    }
    best
}

/// Memory this process may use: `MemAvailable` from `/proc/meminfo`, lowered by a cgroup v2
/// limit when there is one and by the process's address-space limit (`ulimit -v`,
/// `RLIMIT_AS`; [`address_space_left`]). `None` where none can be read.
///
/// Hand-written on purpose: these are three small reads of kernel files and one `getrlimit`
/// (through rustix), and the budget needs all three together. `sysinfo` reads the first two
/// (`available_memory`, `cgroup_limits`) but not `RLIMIT_AS`, and brings a process, disk and
/// network scanner along for two numbers.
pub fn available_memory() -> Option<u64> {
    let physical = physical_memory();
    match (physical, address_space_left()) {
        (Some(p), Some(a)) => Some(p.min(a)),
        (p, a) => p.or(a),
    }
}

/// What an address-space limit (`RLIMIT_AS`) leaves for the prover's tables: three quarters
/// of the limit minus the address space already mapped (`VmSize`). Allocators reserve address
/// space beyond what they touch (glibc's per-thread arenas: 64 MiB each), so an estimate of
/// resident bytes is held to less than the whole remainder. `None` without a limit.
pub fn address_space_left() -> Option<u64> {
    #[cfg(unix)]
    {
        let limit = rustix::process::getrlimit(rustix::process::Resource::As).current?;
        let status = std::fs::read_to_string("/proc/self/status").ok();
        let mapped = status
            .as_deref()
            .and_then(|s| {
                let line = s.lines().find(|l| l.starts_with("VmSize:"))?;
                line.split_whitespace().nth(1)?.parse::<u64>().ok()
            })
            .map_or(0, |kb| kb * 1024);
        Some((limit / 4 * 3).saturating_sub(mapped))
    }
    #[cfg(not(unix))]
    {
        None
    }
}

/// `MemAvailable`, lowered by a cgroup v2 limit.
fn physical_memory() -> Option<u64> {
    let meminfo = std::fs::read_to_string("/proc/meminfo").ok();
    let avail = meminfo.as_deref().and_then(|s| {
        let line = s.lines().find(|l| l.starts_with("MemAvailable:"))?;
        let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(kb * 1024)
    });
    let cgroup = (|| {
        let max: u64 = std::fs::read_to_string("/sys/fs/cgroup/memory.max")
            .ok()?
            .trim()
            .parse()
            .ok()?;
        let cur: u64 = std::fs::read_to_string("/sys/fs/cgroup/memory.current")
            .ok()?
            .trim()
            .parse()
            .ok()?;
        Some(max.saturating_sub(cur))
    })();
    match (avail, cgroup) {
        (Some(a), Some(c)) => Some(a.min(c)),
        (a, c) => a.or(c),
    }
}

/// Bytes for messages, without losing detail: `10 MiB`, `2052 MiB`, else two decimals and
/// the bytes ([`crate::size::exact`]); "0.0 GiB" said nothing of a 10 MiB budget.
pub fn size_text(b: u64) -> String {
    crate::size::exact(b)
}

/// The message of [`super::ProveError::TooLong`]: a budget too small for any segment says so
/// and what would do, rather than "at most 0 cycles".
pub fn too_long_text(segment: u64, cap: u64, budget: u64) -> String {
    if cap == 0 {
        return format!(
            "the {} of memory available to the prover is too small for a segment of even one cycle (the CPU table alone needs more than {}, the fixed tables more again); raise --prover-memory",
            size_text(budget),
            size_text((estimate_for_cpu_rows(16, false).div_ceil(9) * 10).next_multiple_of(1 << 20))
        );
    }
    format!(
        "a segment of {segment} cycles needs more than the {} of memory available to the prover; with it a segment holds at most {cap} cycles (lower --segment-cycles or raise --prover-memory)",
        size_text(budget)
    )
}
