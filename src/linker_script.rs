//! GNU ld scripts for users who can relink: the same layout a rewrite produces (stack top at
//! the limit rounded down to 16 bytes, a stack of the given size below it, the heap from the end
//! of the image up to the stack, or up to `--heap`).

use crate::plan::PlanError;

/// Script flavour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Style {
    /// Nexus zkVM 0.3 SDK layout: text at 0x88, `_heap` word, shared heap/stack up to an
    /// absolute `__memory_top`.
    Nexus,
    /// Text at 0x10000; `.heap` and `.stack` NOBITS sections inside the RW PT_LOAD (so
    /// qemu-user maps them) with `_heap_start`, `_heap_end`, `_stack_bottom`, `_stack_top`.
    Generic,
}

/// Options of a script.
#[derive(Debug, Clone)]
pub struct ScriptRequest {
    pub memlimit: u64,
    pub stack: u32,
    pub heap: Option<u32>,
    pub guard: u32,
    pub style: Style,
}

/// The stack size a generic script uses when none is given.
pub const DEFAULT_STACK: u32 = 1 << 20;

/// Render the script.
pub fn render(r: &ScriptRequest) -> Result<String, PlanError> {
    if r.memlimit > crate::layout::MAX_MEMLIMIT {
        return Err(PlanError::TooLarge(r.memlimit));
    }
    if r.style == Style::Generic {
        crate::plan::check_region("stack", r.stack)?;
        if let Some(h) = r.heap {
            crate::plan::check_region("heap", h)?;
        }
    }
    let top = r.memlimit.min((1 << 32) - 16) & !15;
    let need = u64::from(r.stack) + u64::from(r.guard) + 0x10000;
    if top < need {
        return Err(PlanError::TooSmall {
            requested: r.memlimit,
            base: 0,
            image_end: 0x10000,
            what: format!(
                "a {} B stack and a {} B guard above the text base 0x10000",
                r.stack, r.guard
            ),
            min: need,
        });
    }
    Ok(match r.style {
        Style::Nexus => format!(
            "/* nexus-relink linker-script --style nexus: memory limit {memlimit:#x} */\n\
             ENTRY(_start);\n\
             PHDRS\n{{\n\ttext PT_LOAD FLAGS(5);\n\tdata PT_LOAD FLAGS(6);\n\tstack PT_GNU_STACK FLAGS(6);\n}}\n\
             SECTIONS\n{{\n\
             \t__memory_top = {top:#x};\n\
             \t. = 0x88;\n\
             \t.text : ALIGN(4)\n\t{{\n\t\tKEEP(*(.init));\n\t\t. = ALIGN(4);\n\t\tKEEP(*(.init.rust));\n\t\t*(.text .text.*);\n\t}} :text\n\
             \t. = ALIGN(8);\n\
             \t.data : ALIGN(4)\n\t{{\n\t\t__global_pointer$ = . + 0x800;\n\t\t*(.srodata .srodata.*);\n\t\t*(.rodata .rodata.*);\n\t\t*(.sdata .sdata.* .sdata2 .sdata2.*);\n\t\t*(.data .data.*);\n\t\t. = ALIGN(4);\n\t\t_heap = .;\n\t\tLONG(_ebss);\n\t}} :data\n\
             \t.bss (NOLOAD) : ALIGN(4)\n\t{{\n\t\t*(.sbss .sbss.* .bss .bss.*);\n\t\t. = ALIGN(4);\n\t\t_ebss = .;\n\t\t_end = .;\n\t}} :data\n\
             \t/DISCARD/ : {{ *(.comment*) *(.debug*) }}\n\
             \t.eh_frame (INFO) : {{ KEEP(*(.eh_frame)) }}\n\
             \t.eh_frame_hdr (INFO) : {{ *(.eh_frame_hdr) }}\n\
             }}\n\
             ASSERT(. < __memory_top, \"Program is too large for the VM memory.\");\n",
            memlimit = r.memlimit
        ),
        Style::Generic => {
            let bottom = top - u64::from(r.stack);
            let heap_end = match r.heap {
                Some(h) => format!("_heap_start + {h:#x}"),
                None => format!("{:#x}", bottom - u64::from(r.guard)),
            };
            let guard = if r.guard > 0 {
                format!("\t.guard (NOLOAD) : {{ . = ABSOLUTE({bottom:#x}); }} :data\n")
            } else {
                String::new()
            };
            // Besides the boundaries a rewrite reads (`_heap_start` ... `_stack_top`), the
            // symbols picolibc's crt0 and libc take from its own picolibc.ld: `__stack` (the
            // initial sp), the .data and .bss bounds it copies and clears (the data is linked
            // where it runs, so the copy is onto itself), the TLS block `_set_tls` points tp at
            // (`__tls_base`, sizes and alignment: errno is thread-local), the constructor
            // arrays and the heap bounds its sbrk uses (`__heap_start`, `__heap_end`).
            format!(
                "/* nexus-relink linker-script --style generic: memory limit {memlimit:#x},\n \
                 * stack {stack:#x} bytes below {top:#x}, heap from the image end to {heap_end}.\n \
                 * Links with its own start-up code or picolibc's crt0 (--specs=picolibc.specs). */\n\
                 OUTPUT_ARCH(riscv)\nENTRY(_start)\n\
                 PHDRS\n{{\n\ttext PT_LOAD FLAGS(5);\n\tdata PT_LOAD FLAGS(6);\n\ttls PT_TLS FLAGS(4);\n\tstack PT_GNU_STACK FLAGS(6);\n}}\n\
                 SECTIONS\n{{\n\
                 \t. = 0x10000;\n\
                 \t.text : {{ KEEP(*(.text.start)) KEEP(*(.text.init.enter)) KEEP(*(.init)) *(.text .text.*) KEEP(*(.fini)) }} :text\n\
                 \t.rodata : ALIGN(4) {{ *(.rodata .rodata.* .srodata .srodata.*) }} :text\n\
                 \t.init_array : ALIGN(4) {{\n\
                 \t\tPROVIDE_HIDDEN(__preinit_array_start = .); KEEP(*(.preinit_array)) PROVIDE_HIDDEN(__preinit_array_end = .);\n\
                 \t\tPROVIDE_HIDDEN(__init_array_start = .); KEEP(*(SORT_BY_INIT_PRIORITY(.init_array.*) SORT_BY_INIT_PRIORITY(.ctors.*))) KEEP(*(.init_array .ctors)) PROVIDE_HIDDEN(__init_array_end = .);\n\
                 \t\tPROVIDE_HIDDEN(__fini_array_start = .); KEEP(*(SORT_BY_INIT_PRIORITY(.fini_array.*) SORT_BY_INIT_PRIORITY(.dtors.*))) KEEP(*(.fini_array .dtors)) PROVIDE_HIDDEN(__fini_array_end = .);\n\
                 \t}} :text\n\
                 \t. = ALIGN(0x1000);\n\
                 \t.data : ALIGN(4) {{ *(.data .data.*) }} :data\n\
                 \t.sdata : ALIGN(4) {{ __global_pointer$ = . + 0x800; *(.sdata .sdata.* .sdata2 .sdata2.*) }} :data\n\
                 \t.tdata : ALIGN(4) {{ *(.tdata .tdata.*) }} :data :tls\n\
                 \t.tbss : ALIGN(4) {{ *(.tbss .tbss.* .tcommon) }} :data :tls\n\
                 \t/* ld does not advance . over .tbss: make room for the TLS block's zeroes. */\n\
                 \t. = ADDR(.tbss) + SIZEOF(.tbss);\n\
                 \t.sbss : ALIGN(4) {{ *(.sbss .sbss.*) }} :data\n\
                 \t.bss : ALIGN(4) {{ *(.bss .bss.* COMMON) . = ALIGN(4); }} :data\n\
                 \t_end = .;\n\
                 \t.heap (NOLOAD) : ALIGN(16) {{ _heap_start = .; . = ABSOLUTE({heap_end}); _heap_end = .; }} :data\n\
                 {guard}\
                 \t.stack (NOLOAD) : {{ _stack_bottom = .; . = ABSOLUTE({top:#x}); _stack_top = .; }} :data\n\
                 \t/DISCARD/ : {{ *(.comment) *(.note .note.*) *(.eh_frame .eh_frame_hdr) }}\n\
                 }}\n\
                 PROVIDE(__stack = _stack_top);\n\
                 PROVIDE(__data_start = ADDR(.data));\n\
                 PROVIDE(__data_source = ADDR(.data));\n\
                 PROVIDE(__data_end = ADDR(.tdata) + SIZEOF(.tdata));\n\
                 PROVIDE(__data_size = __data_end - __data_start);\n\
                 PROVIDE(__tls_base = ADDR(.tdata));\n\
                 PROVIDE(__tdata_source = ADDR(.tdata));\n\
                 PROVIDE(__tdata_size = SIZEOF(.tdata));\n\
                 PROVIDE(__tbss_offset = ADDR(.tbss) - ADDR(.tdata));\n\
                 PROVIDE(__tbss_size = SIZEOF(.tbss));\n\
                 PROVIDE(__tls_size = ADDR(.tbss) + SIZEOF(.tbss) - ADDR(.tdata));\n\
                 PROVIDE(__tls_align = MAX(ALIGNOF(.tdata), ALIGNOF(.tbss)));\n\
                 PROVIDE(__bss_start = ADDR(.tbss));\n\
                 PROVIDE(__bss_end = _end);\n\
                 PROVIDE(__bss_size = __bss_end - __bss_start);\n\
                 PROVIDE(__end = _end);\n\
                 PROVIDE(__heap_start = _heap_start);\n\
                 PROVIDE(__heap_end = _heap_end);\n\
                 ASSERT(_stack_bottom == {bottom:#x}, \"the image and heap do not fit below the stack\")\n",
                memlimit = r.memlimit,
                stack = r.stack,
            )
        }
    })
}
