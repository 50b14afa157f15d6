/* long corio_test_preserve(void (*fn)(void *), void *arg, long seed)
 *
 * Loads seed+i into every callee-saved register, calls fn(arg), and
 * returns a bitmask of the registers that no longer hold their value (0
 * when the ABI was honoured across whatever fn did, e.g. a coroutine
 * switch away and back). */
#if defined(__x86_64__)
        .text
        .globl  corio_test_preserve
        .type   corio_test_preserve, @function
corio_test_preserve:
        pushq   %rbp
        pushq   %rbx
        pushq   %r12
        pushq   %r13
        pushq   %r14
        pushq   %r15
        subq    $8, %rsp
        movq    %rdx, (%rsp)
        movq    %rdi, %rax
        movq    %rsi, %rdi
        leaq    0(%rdx), %rbx
        leaq    1(%rdx), %rbp
        leaq    2(%rdx), %r12
        leaq    3(%rdx), %r13
        leaq    4(%rdx), %r14
        leaq    5(%rdx), %r15
        callq   *%rax
        movq    (%rsp), %rdx
        xorl    %eax, %eax
        xorl    %ecx, %ecx
        cmpq    %rdx, %rbx
        setne   %cl
        orq     %rcx, %rax
        leaq    1(%rdx), %rsi
        cmpq    %rsi, %rbp
        setne   %cl
        shlq    $1, %rcx
        orq     %rcx, %rax
        xorl    %ecx, %ecx
        leaq    2(%rdx), %rsi
        cmpq    %rsi, %r12
        setne   %cl
        shlq    $2, %rcx
        orq     %rcx, %rax
        xorl    %ecx, %ecx
        leaq    3(%rdx), %rsi
        cmpq    %rsi, %r13
        setne   %cl
        shlq    $3, %rcx
        orq     %rcx, %rax
        xorl    %ecx, %ecx
        leaq    4(%rdx), %rsi
        cmpq    %rsi, %r14
        setne   %cl
        shlq    $4, %rcx
        orq     %rcx, %rax
        xorl    %ecx, %ecx
        leaq    5(%rdx), %rsi
        cmpq    %rsi, %r15
        setne   %cl
        shlq    $5, %rcx
        orq     %rcx, %rax
        addq    $8, %rsp
        popq    %r15
        popq    %r14
        popq    %r13
        popq    %r12
        popq    %rbx
        popq    %rbp
        ret
        .size   corio_test_preserve, .-corio_test_preserve
#elif defined(__aarch64__)
        .text
        .globl  corio_test_preserve
        .type   corio_test_preserve, %function
/* Checks x19-x28, x29 and d8-d15 (bit i for x(19+i), bit 11+j for d(8+j)). */
corio_test_preserve:
        sub     sp, sp, #176
        stp     x19, x20, [sp, #0]
        stp     x21, x22, [sp, #16]
        stp     x23, x24, [sp, #32]
        stp     x25, x26, [sp, #48]
        stp     x27, x28, [sp, #64]
        stp     x29, x30, [sp, #80]
        stp     d8, d9, [sp, #96]
        stp     d10, d11, [sp, #112]
        stp     d12, d13, [sp, #128]
        stp     d14, d15, [sp, #144]
        str     x2, [sp, #160]
        mov     x9, x0
        mov     x0, x1
        add     x19, x2, #0
        add     x20, x2, #1
        add     x21, x2, #2
        add     x22, x2, #3
        add     x23, x2, #4
        add     x24, x2, #5
        add     x25, x2, #6
        add     x26, x2, #7
        add     x27, x2, #8
        add     x28, x2, #9
        add     x29, x2, #10
        add     x10, x2, #11
        fmov    d8, x10
        add     x10, x2, #12
        fmov    d9, x10
        add     x10, x2, #13
        fmov    d10, x10
        add     x10, x2, #14
        fmov    d11, x10
        add     x10, x2, #15
        fmov    d12, x10
        add     x10, x2, #16
        fmov    d13, x10
        add     x10, x2, #17
        fmov    d14, x10
        add     x10, x2, #18
        fmov    d15, x10
        blr     x9
        ldr     x2, [sp, #160]
        mov     x0, #0
        .macro  check reg, i
        add     x10, x2, #\i
        cmp     \reg, x10
        cset    x11, ne
        orr     x0, x0, x11, lsl #\i
        .endm
        .macro  checkd reg, i
        fmov    x12, \reg
        add     x10, x2, #\i
        cmp     x12, x10
        cset    x11, ne
        orr     x0, x0, x11, lsl #\i
        .endm
        check   x19, 0
        check   x20, 1
        check   x21, 2
        check   x22, 3
        check   x23, 4
        check   x24, 5
        check   x25, 6
        check   x26, 7
        check   x27, 8
        check   x28, 9
        check   x29, 10
        checkd  d8, 11
        checkd  d9, 12
        checkd  d10, 13
        checkd  d11, 14
        checkd  d12, 15
        checkd  d13, 16
        checkd  d14, 17
        checkd  d15, 18
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
        ret
        .size   corio_test_preserve, .-corio_test_preserve
#endif
        .section .note.GNU-stack,"",@progbits
