/* AArch64 (AAPCS64) context switch.
 *
 * int corio__ctx_switch(corio__ctx *from (x0), corio__ctx *to (x1),
 *                            int msg (w2));    returns msg in x0
 *
 * AAPCS64 (§6.1.1, §6.1.2) makes x19-x28, x29 (fp), x30 (lr), sp and the
 * low 64 bits of v8-v15 (d8-d15) callee-saved, and FPCR's control fields
 * must survive a call; everything else may be clobbered.
 *
 * Frame of a suspended context, at ctx->sp (176 bytes, 16-aligned):
 *
 *     +  0  x19 x20      + 48  x25 x26      + 96  d8  d9
 *     + 16  x21 x22      + 64  x27 x28      +112  d10 d11
 *     + 32  x23 x24      + 80  x29 x30      +128  d12 d13
 *                                           +144  d14 d15
 *     +160  FPCR         +168  padding
 *
 * Writing FPCR is the slow part, so it happens only when the two contexts'
 * values differ: unlike MXCSR on x86_64, FPCR is read straight into a
 * register (mrs), so the comparison costs no store-forwarding stall.
 *
 * Control goes to the saved lr with ret, although the return-address
 * predictor then guesses wrong (it pairs this ret with the other context's
 * bl): a br would be predicted better, but with branch target
 * identification (BTI, Armv8.5) a br may only land on a BTI pad, and the
 * return address in the caller is none, so a BTI-enabled program would
 * fault. ret is exempt from BTI.
 */

/* With -mbranch-protection the functions get BTI pads and the file says so
 * in a GNU property note, so the library stays BTI-compatible. */
#if defined(__ARM_FEATURE_BTI_DEFAULT) && __ARM_FEATURE_BTI_DEFAULT
#define BTI_C bti c
#define CORIO_AARCH64_BTI 1
#else
#define BTI_C
#define CORIO_AARCH64_BTI 0
#endif
        .text
        .globl  corio__ctx_switch
        .hidden corio__ctx_switch
        .type   corio__ctx_switch, %function
        .p2align 4
corio__ctx_switch:
        .cfi_startproc
        BTI_C
        sub     sp, sp, #176
        .cfi_def_cfa_offset 176
        stp     x19, x20, [sp, #0]
        stp     x21, x22, [sp, #16]
        stp     x23, x24, [sp, #32]
        stp     x25, x26, [sp, #48]
        stp     x27, x28, [sp, #64]
        stp     x29, x30, [sp, #80]
        .cfi_offset x19, -176
        .cfi_offset x20, -168
        .cfi_offset x21, -160
        .cfi_offset x22, -152
        .cfi_offset x23, -144
        .cfi_offset x24, -136
        .cfi_offset x25, -128
        .cfi_offset x26, -120
        .cfi_offset x27, -112
        .cfi_offset x28, -104
        .cfi_offset x29, -96
        .cfi_offset x30, -88
        stp     d8, d9, [sp, #96]
        stp     d10, d11, [sp, #112]
        stp     d12, d13, [sp, #128]
        stp     d14, d15, [sp, #144]
        mrs     x9, fpcr
        str     x9, [sp, #160]
        mov     x10, sp
        str     x10, [x0]
        ldr     x10, [x1]
        mov     sp, x10                 /* now on the incoming stack */
        ldr     x10, [sp, #160]
        cmp     x9, x10
        b.ne    .Lreload_fpcr
.Lrestore:
        ldp     x19, x20, [sp, #0]
        ldp     x21, x22, [sp, #16]
        ldp     x23, x24, [sp, #32]
        ldp     x25, x26, [sp, #48]
        ldp     x27, x28, [sp, #64]
        ldp     x29, x30, [sp, #80]
        ldp     d8, d9, [sp, #96]
        ldp     d10, d11, [sp, #112]
        ldp     d12, d13, [sp, #128]
        ldp     d14, d15, [sp, #144]
        add     sp, sp, #176
        .cfi_def_cfa_offset 0
        .cfi_restore x19
        .cfi_restore x20
        .cfi_restore x21
        .cfi_restore x22
        .cfi_restore x23
        .cfi_restore x24
        .cfi_restore x25
        .cfi_restore x26
        .cfi_restore x27
        .cfi_restore x28
        .cfi_restore x29
        .cfi_restore x30
        mov     x0, x2
        ret     x30
.Lreload_fpcr:
        msr     fpcr, x10
        b       .Lrestore
        .cfi_endproc
        .size   corio__ctx_switch, .-corio__ctx_switch

/* First code a new context runs: msg is in x0 (set by the switch), the
 * entry function in x19 (from corio__ctx_init_frame's frame). */
        .globl  corio__ctx_trampoline
        .hidden corio__ctx_trampoline
        .type   corio__ctx_trampoline, %function
        .p2align 4
corio__ctx_trampoline:
        .cfi_startproc
        .cfi_undefined x30              /* outermost frame for unwinders */
        BTI_C
        blr     x19
        brk     #0
        .cfi_endproc
        .size   corio__ctx_trampoline, .-corio__ctx_trampoline

/* void *corio__ctx_init_frame(void *top (x0, 16-aligned), void *entry (x1))
 * Writes the frame of a suspended context below top and returns its sp;
 * the new context starts with the creating thread's FPCR. */
        .globl  corio__ctx_init_frame
        .hidden corio__ctx_init_frame
        .type   corio__ctx_init_frame, %function
        .p2align 4
corio__ctx_init_frame:
        .cfi_startproc
        BTI_C
        sub     x0, x0, #176
        stp     x1, xzr, [x0, #0]       /* x19 = entry */
        stp     xzr, xzr, [x0, #16]
        stp     xzr, xzr, [x0, #32]
        stp     xzr, xzr, [x0, #48]
        stp     xzr, xzr, [x0, #64]
        adr     x9, corio__ctx_trampoline
        stp     xzr, x9, [x0, #80]      /* fp = 0, lr = trampoline */
        stp     xzr, xzr, [x0, #96]
        stp     xzr, xzr, [x0, #112]
        stp     xzr, xzr, [x0, #128]
        stp     xzr, xzr, [x0, #144]
        mrs     x9, fpcr
        stp     x9, xzr, [x0, #160]
        ret
        .cfi_endproc
        .size   corio__ctx_init_frame, .-corio__ctx_init_frame

        .section .note.GNU-stack,"",@progbits

#if CORIO_AARCH64_BTI
/* GNU_PROPERTY_AARCH64_FEATURE_1_AND = 0xc0000000, BTI bit = 1. */
        .pushsection .note.gnu.property, "a"
        .p2align 3
        .word   4
        .word   16
        .word   5                       /* NT_GNU_PROPERTY_TYPE_0 */
        .asciz  "GNU"
        .word   0xc0000000
        .word   4
        .word   1
        .word   0
        .popsection
#endif
