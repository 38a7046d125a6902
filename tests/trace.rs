//! Tracing mode: the traced run equals the fast run, and the reference checker accepts every
//! fixture's trace and rejects a tampered one (a load value, a register value, a jump).

mod common;
use common::*;
use nexus_relink::vm::{check_trace, TraceError, Vm};

#[test]
fn traced_runs_match_and_check() {
    for e in manifest() {
        let (img, layout) = load(&e.elf());
        let fast = Vm::new(&img, &layout, e.config()).unwrap().run();
        if fast.cycles > 3_000_000 {
            continue; // keep the suite fast: the long guests add nothing here
        }
        let (traced, trace) = Vm::new(&img, &layout, e.config()).unwrap().run_traced();
        assert_eq!(
            (
                &traced.stdout,
                traced.exit_code,
                traced.cycles,
                &traced.public_output
            ),
            (
                &fast.stdout,
                fast.exit_code,
                fast.cycles,
                &fast.public_output
            ),
            "{}",
            e.name
        );
        assert_eq!(
            trace.rows.len() as u64,
            fast.cycles,
            "{}: one row per instruction",
            e.name
        );
        assert_eq!(trace.rows[0].pc, img.entry);
        assert!(
            trace.mem.iter().any(|a| a.write) && trace.mem.iter().any(|a| !a.write),
            "{}",
            e.name
        );
        check_trace(&trace).unwrap_or_else(|err| panic!("{}: {err}", e.name));
    }
}

#[test]
fn tampered_traces_are_rejected() {
    let (img, layout) = load(&fixtures().join("medlow_fib.elf"));
    let (_, trace) = Vm::new(&img, &layout, Default::default())
        .unwrap()
        .run_traced();
    // A load that returns another value than memory holds.
    let mut t = trace.clone();
    let k = t.mem.iter().position(|a| !a.write).unwrap();
    t.mem[k].value ^= 1;
    assert!(matches!(check_trace(&t), Err(TraceError::Memory { .. })));
    // A register read that disagrees with the last write.
    let mut t = trace.clone();
    let row = t
        .rows
        .iter()
        .position(|r| r.inst.rs1 != 0 && r.rs1_val != 0)
        .unwrap();
    t.rows[row].rs1_val ^= 4;
    assert!(matches!(check_trace(&t), Err(TraceError::Register { .. })));
    // A jump to somewhere the next row does not start.
    let mut t = trace.clone();
    t.rows[10].next_pc = t.rows[10].next_pc.wrapping_add(4);
    assert!(matches!(
        check_trace(&t),
        Err(TraceError::ControlFlow { row: 11, .. })
    ));
    // A write whose value later reads differently.
    let mut t = trace;
    let w = (0..t.mem.len())
        .find(|&w| {
            let a = t.mem[w];
            a.write
                && a.width == 4
                && t.mem[w + 1..]
                    .iter()
                    .any(|b| !b.write && b.addr == a.addr && b.width == 4)
        })
        .expect("a word stored and loaded back (a saved register)");
    t.mem[w].value ^= 0x100;
    assert!(matches!(check_trace(&t), Err(TraceError::Memory { .. })));
}

/// A RISC Zero software call returns two words (a0 and a1): the trace keeps the second beside
/// its row (`Trace::also_written`), and the reference checker applies it (the guest reads a1
/// after its SYS_READ: without it the checker finds a register it did not expect).
#[test]
fn an_ecall_s_second_register_write_is_in_the_trace() {
    let path = fixtures().join("abi/risc0_halt.elf");
    let img = nexus_relink::elf::Image::read(&path).unwrap();
    let layout = nexus_relink::layout::MemoryMap::discover(&img).run.unwrap();
    let cfg = nexus_relink::vm::RunConfig {
        input: b"hello".to_vec(),
        ..Default::default()
    };
    let (res, mut trace) = Vm::new(&img, &layout, cfg).unwrap().run_traced();
    assert_eq!(res.exit_code, Some(5));
    let (row, reg, v) = *trace
        .also_written
        .first()
        .expect("SYS_READ writes a0 and a1");
    assert_eq!((reg, v), (11, u32::from(b'o')));
    assert_eq!(trace.also_written_by(row as usize).count(), 1);
    check_trace(&trace).unwrap();
    trace.also_written.clear();
    assert!(matches!(
        check_trace(&trace),
        Err(TraceError::Register { reg: 11, .. })
    ));
}
