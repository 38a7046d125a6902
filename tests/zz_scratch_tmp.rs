use nexus_relink::{
    elf::Image,
    layout::Layout,
    vm::{RunConfig, Vm},
};
#[test]
fn scratch() {
    let mut b = std::fs::read("fixtures/linux_hello.elf").unwrap();
    let orig = Image::parse(b.clone()).unwrap();
    let mut layout = Layout::discover(&orig).unwrap();
    // text segment phdr 1 at 52+32
    let t = 52 + 32;
    b[t + 8..t + 12].copy_from_slice(&0xffff_fc00u32.to_le_bytes());
    b[t + 12..t + 16].copy_from_slice(&0xffff_fc00u32.to_le_bytes());
    b[t + 16..t + 20].copy_from_slice(&0x400u32.to_le_bytes());
    b[t + 20..t + 24].copy_from_slice(&0x400u32.to_le_bytes());
    let d = 52 + 64;
    b[d..d + 4].copy_from_slice(&6u32.to_le_bytes());
    b[24..28].copy_from_slice(&0xffff_fc00u32.to_le_bytes());
    let img = Image::parse(b).unwrap();
    println!(
        "discover: {:?}",
        Layout::discover(&img).map(|l| l.stack_top)
    );
    layout.memlimit = 1 << 32;
    let r = std::panic::catch_unwind(|| {
        Vm::new(
            &img,
            &layout,
            RunConfig {
                max_cycles: 1000,
                ..Default::default()
            },
        )
        .map(|v| v.run())
    });
    println!(
        "{:?}",
        r.as_ref()
            .map(|x| x.as_ref().map(|r| (&r.fault, r.exit_code)))
    );
}
