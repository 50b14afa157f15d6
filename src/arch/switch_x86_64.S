/* x86_64 System V context switch.
 *
 * int corio__ctx_switch(corio__ctx *from  (rdi),
 *                         corio__ctx *to    (rsi),
 *                         int msg           (edx));   returns msg in rax
 *
 * The psABI (x86-64 psABI 1.0, §3.2.1 and §3.2.3) makes rbx, rbp, r12-r15,
 * rsp, the MXCSR control bits and the x87 control word callee-saved; all
 * else may be clobbered by a call, so this saves exactly those.
 *
 * Frame of a suspended context, at ctx->sp (offsets from sp):
 *
 *     +56  resume address
 *     +48  rbp
 *     +40  rbx
 *     +32  r12
 *     +24  r13
 *     +16  r14
 *     + 8  r15
 *     + 4  x87 control word  (16 bits, 2 bytes padding)
 *     + 0  MXCSR             (32 bits)
 *
 * What was measured (bench/switch, docs/coro.md "Switch cost"):
 *  - The resume address is fetched first and reached with an indirect jmp,
 *    not ret: a ret would pair with the call into the *other* context's
 *    switch and mispredict on the return-stack buffer every time.
 *  - The FP control words are stored and reloaded on every switch. Loading
 *    them only when they differ needs the just-stored MXCSR read back, and
 *    stmxcsr does not forward to a load: that stall costs more than the
 *    reloads it saves.
 *
 * Control-flow enforcement: jmp *%rcx lands on a return address, which no
 * ENDBR64 marks, and the shadow stack is not switched; so this file carries
 * no IBT/SHSTK property note, and a program that links corio runs without
 * CET (the linker and loader turn it off), rather than faulting.
 */
        .text
        .globl  corio__ctx_switch
        .hidden corio__ctx_switch
        .type   corio__ctx_switch, @function
        .p2align 4
corio__ctx_switch:
        .cfi_startproc
        leaq    -56(%rsp), %rsp
        .cfi_adjust_cfa_offset 56
        stmxcsr (%rsp)
        fnstcw  4(%rsp)
        movq    %r15, 8(%rsp)
        .cfi_rel_offset %r15, 8
        movq    %r14, 16(%rsp)
        .cfi_rel_offset %r14, 16
        movq    %r13, 24(%rsp)
        .cfi_rel_offset %r13, 24
        movq    %r12, 32(%rsp)
        .cfi_rel_offset %r12, 32
        movq    %rbx, 40(%rsp)
        .cfi_rel_offset %rbx, 40
        movq    %rbp, 48(%rsp)
        .cfi_rel_offset %rbp, 48
        movq    %rsp, (%rdi)
        /* The incoming frame has the same layout, so the unwind rules
         * above describe it too from here on. */
        movq    (%rsi), %rsp            /* now on the incoming stack */
        movq    56(%rsp), %rcx          /* resume address, fetched early */
        ldmxcsr (%rsp)
        fldcw   4(%rsp)
        movq    8(%rsp), %r15
        .cfi_restore %r15
        movq    16(%rsp), %r14
        .cfi_restore %r14
        movq    24(%rsp), %r13
        .cfi_restore %r13
        movq    32(%rsp), %r12
        .cfi_restore %r12
        movq    40(%rsp), %rbx
        .cfi_restore %rbx
        movq    48(%rsp), %rbp
        .cfi_restore %rbp
        leaq    64(%rsp), %rsp
        .cfi_def_cfa_offset 0
        .cfi_register %rip, %rcx
        movq    %rdx, %rax
        jmpq    *%rcx
        .cfi_endproc
        .size   corio__ctx_switch, .-corio__ctx_switch

/* First code a new context runs: the switch above jumped here with msg in
 * rax and the entry function in rbx (both from corio__ctx_init_frame's
 * frame); rsp is 16-byte aligned, so the call leaves the callee with the
 * alignment the ABI promises. entry never returns. */
        .globl  corio__ctx_trampoline
        .hidden corio__ctx_trampoline
        .type   corio__ctx_trampoline, @function
        .p2align 4
corio__ctx_trampoline:
        .cfi_startproc
        .cfi_undefined rip              /* outermost frame for unwinders */
        movq    %rax, %rdi
        callq   *%rbx
        ud2
        .cfi_endproc
        .size   corio__ctx_trampoline, .-corio__ctx_trampoline

/* void *corio__ctx_init_frame(void *top (rdi, 16-aligned), void *entry (rsi))
 * Writes the frame of a suspended context below top and returns its sp.
 * The new context starts with the creating thread's current MXCSR and x87
 * control word, as a called function would. */
        .globl  corio__ctx_init_frame
        .hidden corio__ctx_init_frame
        .type   corio__ctx_init_frame, @function
        .p2align 4
corio__ctx_init_frame:
        .cfi_startproc
        leaq    -64(%rdi), %rax
        leaq    corio__ctx_trampoline(%rip), %rcx
        movq    %rcx, 56(%rax)          /* resume address */
        movq    $0, 48(%rax)            /* rbp: end of frame chain */
        movq    %rsi, 40(%rax)          /* rbx: entry */
        movq    $0, 32(%rax)
        movq    $0, 24(%rax)
        movq    $0, 16(%rax)
        movq    $0, 8(%rax)
        movq    $0, (%rax)
        stmxcsr (%rax)
        fnstcw  4(%rax)
        ret
        .cfi_endproc
        .size   corio__ctx_init_frame, .-corio__ctx_init_frame

        .section .note.GNU-stack,"",@progbits
