# gdb support for corio: list the tasks of every loop and show the stack of
# any suspended task, in a live process or a core dump.
#
#   corio tasks [-n|-w]       every pending task of every loop
#   corio bt TASK [BT-ARGS]   TASK's own stack (TASK: id, name or address);
#                             BT-ARGS go to `backtrace` (e.g. `full`, `5`)
#   corio switch TASK         TASK's frames become the current thread's
#                             callers, so `frame N`, `up`, `info locals`
#                             work in them
#   corio switch              back to the thread's own stack
#
# Installed next to the library, as gdb's auto-load wants it:
# PREFIX/share/gdb/auto-load/LIBDIR/libcorio.so.VERSION-gdb.py; or loaded by
# hand, e.g. for a program linked with libcorio.a:
#   (gdb) source tools/gdb/corio_gdb.py
# See docs/debugging.md#gdb.
#
# It only reads memory and never runs code in the program, so it works on a
# core dump as well: from the global `corio__loops` (src/loop/registry.h) to
# each loop's task state (task_loop_state, src/task/task_internal.h), its
# pending tasks, and each task's coroutine (struct corio_coro,
# src/coro/coro.c), whose saved context (src/coro/ctx.h, the frames drawn in
# src/arch/switch_<arch>.S, or a ucontext_t) holds the registers the task
# resumes with. `corio bt` hands those registers to gdb through an unwinder
# that, while armed, makes them the caller of the thread's innermost frame;
# a frame filter leaves that frame out, so the backtrace is the task's.
# The library needs its debug information (RelWithDebInfo and Debug builds
# have it). Written for gdb 13 (Debian 12's), x86_64 and aarch64.

import itertools
import re
import time

import gdb
import gdb.unwinder

_REGISTRY_VERSION = 1
_MAX_LOOPS = 10000
_MAX_TASKS = 1000000
# `corio tasks` unwinds each task's stack (about 1 ms each) up to this many.
_WHERE_MAX = 1000


class CorioError(gdb.GdbError):
    pass


# ---- reading the program ---------------------------------------------------


def _lookup_complete(name, anchors=()):
    """The complete definition of a struct or typedef: a compilation unit
    that only declares it (a user's, seeing a public header) would give an
    opaque one, so the blocks of functions in corio's own files are tried
    too."""
    candidates = []
    try:
        candidates.append(gdb.lookup_type(name))
    except gdb.error:
        pass
    for fn in anchors:
        try:
            sym = gdb.lookup_global_symbol(fn) or gdb.lookup_static_symbol(fn)
            if sym is None:
                continue
            block = gdb.block_for_pc(int(sym.value().address))
            if block is not None:
                candidates.append(gdb.lookup_type(name, block))
        except (gdb.error, RuntimeError):
            continue
    for t in candidates:
        try:
            if t.strip_typedefs().fields():
                return t
        except (gdb.error, TypeError):
            continue
    raise CorioError(
        "corio: no debug information for %s (build corio with -g, e.g. "
        "CMAKE_BUILD_TYPE=RelWithDebInfo)" % name
    )


class _Types:
    """The library's types, looked up once per program."""

    def __init__(self):
        self.loop = _lookup_complete("struct corio_loop", ["corio_loop_create"])
        self.ls = _lookup_complete("task_loop_state", ["corio__task_step"])
        self.task = _lookup_complete("struct corio_task", ["corio__task_step"])
        self.coro = _lookup_complete("struct corio_coro", ["corio_coro_resume"])
        self.wait = _lookup_complete("corio__wait", ["corio__wait_suspend"])
        self.ctx = self.coro.strip_typedefs()["ctx"].type.strip_typedefs()
        self.ucontext = any(f.name == "uc" for f in self.ctx.fields())
        self.wait_fields = {f.name for f in self.wait.strip_typedefs().fields()}
        try:
            self.ext_task = int(gdb.parse_and_eval("CORIO__LOOP_EXT_TASK"))
        except gdb.error:
            self.ext_task = 0  # src/loop/ext.h: the first slot
        self.u64p = gdb.lookup_type("unsigned long long").pointer()
        self.coro_states = {}
        try:
            for f in gdb.lookup_type("corio_coro_state").strip_typedefs().fields():
                self.coro_states[f.name] = f.enumval
        except gdb.error:
            pass
        self.coro_states.setdefault("CORIO_CORO_SUSPENDED", 1)
        self.coro_states.setdefault("CORIO_CORO_RUNNING", 2)
        self.coro_states.setdefault("CORIO_CORO_NORMAL", 3)


_types_cache = {}


def _types():
    key = (gdb.selected_inferior().num, gdb.selected_inferior().pid,
           tuple(o.filename for o in gdb.objfiles()))
    t = _types_cache.get(key)
    if t is None:
        _types_cache.clear()
        t = _types_cache[key] = _Types()
    return t


def _registries():
    """Every `corio__loops` in the program (a program may hold more than one
    copy of corio, e.g. a static one and a shared one)."""
    seen = set()
    found = []
    syms = []
    for objfile in gdb.objfiles():
        try:
            sym = objfile.lookup_global_symbol("corio__loops")
        except (AttributeError, gdb.error):
            sym = None
        if sym is not None:
            syms.append(sym)
    if not syms:
        sym = gdb.lookup_global_symbol("corio__loops")
        if sym is not None:
            syms.append(sym)
    for sym in syms:
        try:
            v = sym.value()
            addr = int(v.address)
        except gdb.error:
            continue
        if addr not in seen:
            seen.add(addr)
            found.append(v)
    if not found:
        raise CorioError(
            "corio: `corio__loops` not found: is the program linked with "
            "corio, and with its debug information?"
        )
    return found


def _cstring(ptr, limit=200):
    try:
        if int(ptr) == 0:
            return None
        return ptr.string("utf-8", "replace")[:limit]
    except gdb.error:
        return "<unreadable>"


def _symbol_name(addr):
    """The function at addr, or None."""
    if not addr:
        return None
    try:
        block = gdb.block_for_pc(addr)
        while block is not None and block.function is None:
            block = block.superblock
        if block is not None and block.function is not None:
            return block.function.name
    except RuntimeError:
        pass
    try:
        out = gdb.execute("info symbol 0x%x" % addr, to_string=True)
        m = re.match(r"(\S+)( \+ \d+)? in section", out)
        if m:
            return m.group(1)
    except gdb.error:
        pass
    return None


def _pointer_text(ptr):
    """0x1234 <symbol> where gdb knows one."""
    try:
        return str(ptr.cast(gdb.lookup_type("void").pointer()))
    except gdb.error:
        return "0x%x" % int(ptr)


class Loop:
    def __init__(self, value, registry):
        self.value = value
        self.registry = registry
        self.address = int(value)

    def thread(self):
        """The gdb thread running the loop, if it runs and one matches."""
        if not int(self.value["running"]):
            return None
        handle = int(self.value["thread"])
        for th in gdb.selected_inferior().threads():
            try:
                h = th.handle()
            except (gdb.error, AttributeError, RuntimeError):
                continue
            if h is not None and int.from_bytes(bytes(h), "little") == handle:
                return th
        return None

    def tasks(self):
        t = _types()
        state = self.value["ext_data"][t.ext_task]
        if int(state) == 0:
            return
        ls = state.cast(t.ls.pointer()).dereference()
        node = ls["pending"]
        seen = set()
        while int(node) != 0 and len(seen) < _MAX_TASKS:
            addr = int(node)
            if addr in seen:
                gdb.write("corio: loop 0x%x: the pending list loops\n" % self.address)
                return
            seen.add(addr)
            task = Task(node.cast(t.task.pointer()), self)
            yield task
            try:
                node = task.value["pending_next"]
            except gdb.MemoryError:
                gdb.write("corio: loop 0x%x: unreadable task 0x%x\n"
                          % (self.address, addr))
                return


def loops():
    """Every loop in the registries, oldest first."""
    found = []
    for reg in _registries():
        try:
            version = int(reg["version"])
        except gdb.error:
            version = 0
        if version != _REGISTRY_VERSION:
            gdb.write("corio: registry at 0x%x has version %d, this script "
                      "reads version %d\n"
                      % (int(reg.address), version, _REGISTRY_VERSION))
            if version == 0:  # not initialised: not a corio program yet
                continue
        node = reg["head"]
        seen = set()
        while int(node) != 0 and len(seen) < _MAX_LOOPS:
            if int(node) in seen:
                break
            seen.add(int(node))
            loop = node.cast(_types().loop.pointer())
            found.append(Loop(loop, reg))
            try:
                node = loop["registry"]["next"]
            except gdb.MemoryError:
                break
    return reversed(found)


class Task:
    def __init__(self, ptr, loop):
        self.ptr = ptr
        self.value = ptr.dereference()
        self.loop = loop
        self.address = int(ptr)

    @property
    def id(self):
        return int(self.value["id"])

    @property
    def id_text(self):
        # Named tasks take no number (as in asyncio): their id is 0.
        return str(self.id) if self.id else "-"

    @property
    def name(self):
        n = _cstring(self.value["name"])
        return n if n is not None else "Task-%d" % self.id

    def function(self):
        return _symbol_name(int(self.value["fn"])) or "0x%x" % int(self.value["fn"])

    def coro(self):
        c = self.value["coro"]
        if int(c) == 0:
            return None
        return c.cast(_types().coro.pointer()).dereference()

    def coro_state(self):
        c = self.coro()
        if c is None:
            return None
        return int(c["state"])

    def state(self):
        t = _types()
        c = self.coro()
        fut = self.value["fut"]
        if int(fut["state"]) != 0:
            s = "done"
        elif c is None:
            s = "not started"
        else:
            cs = int(c["state"])
            if cs == t.coro_states["CORIO_CORO_RUNNING"]:
                s = "running"
            elif cs == t.coro_states["CORIO_CORO_NORMAL"]:
                s = "running (in a coroutine it resumed)"
            elif int(fut["queued"]):
                s = "ready"
            else:
                s = "suspended"
        if int(self.value["num_cancels"]) or int(self.value["must_cancel"]):
            s += ", cancelling"
        return s

    def saved_registers(self):
        """The registers the suspended task resumes with, as
        (pc, sp, {register: value}), or None if it has no saved context
        (not started, or running)."""
        c = self.coro()
        if c is None:
            return None
        t = _types()
        if int(c["state"]) not in (t.coro_states["CORIO_CORO_SUSPENDED"],
                                   t.coro_states["CORIO_CORO_NORMAL"]):
            return None
        return _context_registers(c["ctx"])

    def waiting_for(self):
        """What the task waits on: from the wait's kind and object where the
        library records them, else guessed from its detach function."""
        w = self.value["wait"]
        if int(w) == 0:
            return ""
        t = _types()
        try:
            w = w.cast(t.wait.pointer()).dereference()
            kind = None
            if "kind" in t.wait_fields and int(w["kind"]):
                kind = _cstring(w["kind"].dereference()["name"])
            if kind is None:
                return _guess_wait(w)
            obj = w["object"] if "object" in t.wait_fields else None
            if obj is None or int(obj) == 0:
                return "sleep (one iteration)" if kind == "sleep" else kind
            if kind == "sleep":
                return _sleep_text(obj)
            if kind == "future":
                return _future_text(obj.cast(gdb.lookup_type("corio_future").pointer()))
            return "%s %s" % (kind, _pointer_text(obj))
        except gdb.error as e:
            return "<%s>" % e


def _is_live():
    """A process on this machine (its CLOCK_MONOTONIC is ours), not a core
    dump nor a remote target."""
    inf = gdb.selected_inferior()
    if not inf.pid:
        return False
    try:
        conn = inf.connection
    except AttributeError:  # gdb < 12
        return "process" in gdb.execute("info inferiors", to_string=True) and \
            "core" not in gdb.execute("info target", to_string=True)
    return conn is not None and conn.type == "native"


def _future_text(fut_ptr):
    """A future, or the task it is."""
    t = _types()
    try:
        fut = fut_ptr.dereference()
        ops = fut["ops"]
        kind = _cstring(ops["type_name"]) if int(ops) else None
        if kind == "Task":
            task = Task(fut_ptr.cast(t.task.pointer()), None)
            return "task \"%s\"" % task.name
        return "%s 0x%x" % ((kind or "future").lower(), int(fut_ptr))
    except gdb.error:
        return "future 0x%x" % int(fut_ptr)


def _sleep_text(timer):
    """A sleep on timer (a corio_handle): time left, or the deadline when
    the process's clock is not ours to read."""
    try:
        handle = timer.cast(gdb.lookup_type("corio_handle").pointer())
        when = int(handle["when"])
    except gdb.error:
        return "sleep"
    if _is_live():
        left = when / 1e9 - time.clock_gettime(time.CLOCK_MONOTONIC)
        return "sleep (%.3f s left)" % max(left, 0.0)
    return "sleep (until %.3f s on CLOCK_MONOTONIC)" % (when / 1e9)


def _guess_wait(w):
    """Without the wait's own description: what its detach function and
    data say."""
    detach = _symbol_name(int(w["detach"])) or ""
    data = w["data"]
    if detach == "sleep_detach" and int(data):
        return _sleep_text(data)
    if detach == "await_detach" and int(data):
        fut_type = gdb.lookup_type("corio_future").pointer()
        return _future_text(data.cast(fut_type))
    if int(w["awaiting"]):
        return _future_text(w["awaiting"])
    if detach == "detach":  # src/sync/waitq.c: a lock, queue, event...
        try:
            waiter_type = gdb.lookup_type("sync_waiter").pointer()
            queue = w.address.cast(waiter_type)["queue"]
            if int(queue):
                return "sync primitive (waiters at %s)" % _pointer_text(queue)
        except gdb.error:
            pass
        return "sync primitive"
    if detach and detach != "corio__wait_no_detach":
        return detach
    return ""


# ---- saved contexts ----------------------------------------------------------


def _arch():
    try:
        name = gdb.selected_inferior().architecture().name()
    except (AttributeError, gdb.error):
        name = gdb.newest_frame().architecture().name()
    if "x86-64" in name or "x86_64" in name:
        return "x86_64"
    if "aarch64" in name:
        return "aarch64"
    raise CorioError("corio: unsupported architecture %s" % name)


def _u64(addr):
    return int(gdb.Value(addr).cast(_types().u64p).dereference())


# glibc's <sys/ucontext.h> REG_* indices of gregs (x86_64).
_X86_GREGS = {"r12": 4, "r13": 5, "r14": 6, "r15": 7, "rbp": 10, "rbx": 11,
              "rsp": 15, "rip": 16}


def _context_registers(ctx):
    """(pc, sp, {register: int}) of a saved corio__ctx."""
    arch = _arch()
    t = _types()
    if t.ucontext:
        mc = ctx["uc"]["uc_mcontext"]
        if arch == "x86_64":
            g = mc["gregs"]
            regs = {r: int(g[i]) & 0xFFFFFFFFFFFFFFFF for r, i in _X86_GREGS.items()}
            return regs["rip"], regs["rsp"], regs
        regs = {"x%d" % i: int(mc["regs"][i]) for i in range(19, 31)}
        regs["sp"] = int(mc["sp"])
        regs["pc"] = int(mc["pc"])
        return regs["pc"], regs["sp"], regs
    sp = int(ctx["sp"])
    if arch == "x86_64":
        # src/arch/switch_x86_64.S: the frame at sp.
        regs = {"r15": _u64(sp + 8), "r14": _u64(sp + 16), "r13": _u64(sp + 24),
                "r12": _u64(sp + 32), "rbx": _u64(sp + 40), "rbp": _u64(sp + 48),
                "rip": _u64(sp + 56), "rsp": sp + 64}
        return regs["rip"], regs["rsp"], regs
    # src/arch/switch_aarch64.S: x19..x30 from sp, 176 bytes in all.
    regs = {"x%d" % (19 + i): _u64(sp + 8 * i) for i in range(12)}
    regs["pc"] = regs["x30"]
    regs["sp"] = sp + 176
    return regs["pc"], regs["sp"], regs


# ---- the unwinder ------------------------------------------------------------


class _FrameId:
    # gdb 13 wants gdb.Value attributes (later ones take ints too).
    def __init__(self, sp, pc):
        ptr = gdb.lookup_type("void").pointer()
        self.sp = gdb.Value(sp).cast(ptr)
        self.pc = gdb.Value(pc).cast(ptr)


class _TaskUnwinder(gdb.unwinder.Unwinder):
    """Armed for one thread: the caller of its innermost real frame is the
    task's saved context."""

    def __init__(self):
        super().__init__("corio")
        # (ptid, level, (sp, pc) of that frame, id sp, {register: int})
        self.armed = None

    def __call__(self, pending_frame):
        armed = self.armed
        if armed is None:
            return None
        ptid, level, frame0, id_sp, regs = armed
        th = gdb.selected_thread()
        if th is None or th.ptid != ptid:
            return None
        pc_name, sp_name = ("rip", "rsp") if "rip" in regs else ("pc", "sp")
        pc = int(pending_frame.read_register(pc_name))
        try:
            if pending_frame.level() != level:
                return None
        except AttributeError:  # gdb < 11: no level(); compare registers
            if (int(pending_frame.read_register(sp_name)), pc) != frame0:
                return None
        # The frame's id: below the task's stack pointer, so that gdb sees
        # the task's frames as outer ones (else: "previous frame inner to
        # this frame").
        info = pending_frame.create_unwind_info(_FrameId(id_sp, pc))
        for name, value in regs.items():
            reg_type = pending_frame.read_register(name).type
            info.add_saved_register(name, gdb.Value(value).cast(reg_type))
        return info


class _HideInnermost:
    """While the unwinder is armed, backtraces of its thread leave out the
    thread's own innermost frame(s): what follows is the task's stack."""

    def __init__(self):
        self.name = "corio"
        self.priority = 100
        self.enabled = True

    def filter(self, frames):
        armed = _unwinder.armed
        th = gdb.selected_thread()
        if armed is None or th is None or th.ptid != armed[0]:
            return frames
        return itertools.islice(frames, armed[1] + 1, None)


def _install():
    global _unwinder
    old = globals().get("_unwinder")
    if old is not None:
        old.armed = None
    _unwinder = _TaskUnwinder()
    gdb.unwinder.register_unwinder(None, _unwinder, replace=True)
    gdb.frame_filters["corio"] = _HideInnermost()


def _flush():
    gdb.invalidate_cached_frames()
    try:
        gdb.execute("maintenance flush register-cache", to_string=True)
    except gdb.error:
        try:
            gdb.execute("flushregs", to_string=True)
        except gdb.error:
            pass


def _arm(task):
    """Arms the unwinder for task on the current thread; returns the level
    of the task's innermost frame."""
    saved = task.saved_registers()
    if saved is None:
        raise CorioError("corio: task \"%s\" has no saved context" % task.name)
    pc, sp, regs = saved
    th = gdb.selected_thread()
    if th is None:
        raise CorioError("corio: no thread")
    _unwinder.armed = None
    _flush()
    # The innermost frame that is not an inlined call: unwinders are asked
    # for its caller.
    frame = gdb.newest_frame()
    while frame.type() == gdb.INLINE_FRAME and frame.older() is not None:
        frame = frame.older()
    sp_name = "rsp" if "rip" in regs else "sp"
    frame0 = (int(frame.read_register(sp_name)), int(frame.pc()))
    level = frame.level()
    _unwinder.armed = (th.ptid, level, frame0, sp - 16, regs)
    _flush()
    return level + 1


def _disarm():
    if _unwinder.armed is not None:
        _unwinder.armed = None
        _flush()


def _on_resume(_event):
    # gdb drops its frames itself when the program resumes; flushing here,
    # with the thread running, would crash it.
    _unwinder.armed = None


# ---- finding tasks -----------------------------------------------------------


def all_tasks():
    for loop in loops():
        for task in loop.tasks():
            yield task


def find_task(spec):
    spec = spec.strip()
    if not spec:
        raise CorioError("corio: which task? (an id, a name or an address)")
    tasks = list(all_tasks())
    matches = []
    if re.fullmatch(r"\d+", spec):
        matches = [t for t in tasks if t.id == int(spec)]
    if not matches:
        matches = [t for t in tasks if t.name == spec]
    if not matches and (spec.startswith("0x") or spec.startswith("$")
                        or spec.startswith("(")):
        try:
            addr = int(gdb.parse_and_eval(spec))
        except gdb.error as e:
            raise CorioError("corio: %s" % e)
        matches = [t for t in tasks if t.address == addr]
        if not matches:
            # Not pending (or not in a registry): read it all the same.
            ptr = gdb.Value(addr).cast(_types().task.pointer())
            matches = [Task(ptr, None)]
    if not matches:
        raise CorioError("corio: no pending task %s (see `corio tasks`)" % spec)
    if len(matches) > 1:
        raise CorioError(
            "corio: %d tasks match %s; give an address: %s"
            % (len(matches), spec, ", ".join("0x%x" % t.address for t in matches))
        )
    return matches[0]


def _thread_on_stack(coro):
    """The thread whose stack pointer is inside the coroutine's stack."""
    try:
        lo = int(coro["stack"]["lo"])
        hi = int(coro["stack"]["hi"])
    except gdb.error:
        return None
    sp_name = "rsp" if _arch() == "x86_64" else "sp"
    current = gdb.selected_thread()
    found = None
    try:
        for th in gdb.selected_inferior().threads():
            th.switch()
            sp = int(gdb.newest_frame().read_register(sp_name))
            if lo <= sp < hi:
                found = th
                break
    finally:
        if current is not None:
            current.switch()
    return found


# ---- commands ----------------------------------------------------------------


class CorioPrefix(gdb.Command):
    """Tasks and event loops of a program using corio.

corio tasks [-n|-w]       every pending task of every loop
corio bt TASK [BT-ARGS]   TASK's own stack (TASK: id, name or address)
corio switch [TASK]       TASK's frames become the thread's callers
                          (no TASK: back to the thread's own stack)"""

    def __init__(self):
        super().__init__("corio", gdb.COMMAND_STACK, gdb.COMPLETE_NONE, True)


class CorioTasks(gdb.Command):
    """List the pending tasks of every corio loop.

Usage: corio tasks [-n|-w]
For each loop: its address and the thread running it. For each task: its
id (named tasks have none: -), name, state (not started, ready, suspended,
running), the function it runs, what it waits for, where it is suspended
(the outermost corio function on its stack <- the caller of that, found by
unwinding it) and its address (for `corio bt`, or for
`print *(struct corio_task *)ADDR`).
-n: do not unwind (SUSPENDED IN is left out). Beyond 1000 tasks it is left
out unless -w is given (unwinding costs about 1 ms a task)."""

    def __init__(self):
        super().__init__("corio tasks", gdb.COMMAND_STACK)

    def invoke(self, arg, from_tty):
        args = gdb.string_to_argv(arg)
        for a in args:
            if a not in ("-n", "-w"):
                raise CorioError("usage: corio tasks [-n|-w]")
        all_loops = [(loop, list(loop.tasks())) for loop in loops()]
        where = "-n" not in args
        total = sum(len(tasks) for _, tasks in all_loops)
        if where and total > _WHERE_MAX and "-w" not in args:
            gdb.write("corio: %d tasks: SUSPENDED IN is left out (`corio tasks "
                      "-w` unwinds them all, about 1 ms each)\n" % total)
            where = False
        for loop, tasks in all_loops:
            v = loop.value
            flags = []
            if int(v["closed"]):
                flags.append("closed")
            th = loop.thread()
            if th is not None:
                flags.append("running on thread %d (LWP %d)" % (th.num, th.ptid[1]))
            elif int(v["running"]):
                flags.append("running on pthread 0x%x" % int(v["thread"]))
            else:
                flags.append("not running")
            gdb.write("loop 0x%x (%s): %d pending task%s\n"
                      % (loop.address, ", ".join(flags), len(tasks),
                         "" if len(tasks) == 1 else "s"))
            if not tasks:
                continue
            head = ["ID", "NAME", "STATE", "FUNCTION", "WAITING FOR"]
            if where:
                head.append("SUSPENDED IN")
            head.append("ADDRESS")
            rows = [head]
            for task in tasks:
                try:
                    row = [task.id_text, task.name, task.state(),
                           task.function(), task.waiting_for()]
                    if where:
                        row.append(_where(task))
                except gdb.error as e:
                    row = ["?", "?", "<%s>" % e, "", ""] + [""] * where
                rows.append(row + ["0x%x" % task.address])
            widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
            for r in rows:
                cells = [c.ljust(w) if i else c.rjust(w)
                         for i, (c, w) in enumerate(zip(r, widths))]
                gdb.write("  " + "  ".join(cells).rstrip() + "\n")
        if not all_loops:
            gdb.write("corio: no live loop\n")


_src_root_cache = {}


def _corio_source_root():
    """The directory holding corio's src/, from where corio_loop_create was
    compiled; None without line information."""
    key = tuple(o.filename for o in gdb.objfiles())
    if key not in _src_root_cache:
        root = None
        sym = gdb.lookup_global_symbol("corio_loop_create")
        if sym is not None and sym.symtab is not None:
            path = sym.symtab.fullname()
            m = re.match(r"^(.*/)src/loop/[^/]+$", path)
            if m:
                root = m.group(1) + "src/"
        _src_root_cache.clear()
        _src_root_cache[key] = root
    return _src_root_cache[key]


def _in_corio(frame, root):
    try:
        sal = frame.find_sal()
        if sal.symtab is not None and root is not None:
            return sal.symtab.fullname().startswith(root)
    except gdb.error:
        pass
    name = frame.name() or ""
    return name.startswith("corio_")


def _where(task):
    """`corio_sleep <- gdb_sleeper`: the outermost corio function on the
    suspended task's stack (the call that suspended it) and its caller."""
    if task.saved_registers() is None:
        return ""
    root = _corio_source_root()
    was = _unwinder.armed
    api = caller = None
    try:
        level = _arm(task)
        frame = gdb.newest_frame()
        for _ in range(level):
            frame = frame.older()
        for _ in range(256):
            if frame is None:
                break
            if _in_corio(frame, root):
                api = frame.name() or "??"
            elif api is not None:
                caller = frame.name() or "??"
                break
            frame = frame.older()
    except gdb.error:
        pass
    finally:
        _unwinder.armed = was
        _flush()
    return " <- ".join(n for n in (api, caller) if n)


class CorioBt(gdb.Command):
    """Show the stack of a corio task.

Usage: corio bt TASK [BT-ARGS]
TASK is a task's id, its name, or its address (an expression starting with
0x, $ or a parenthesis). BT-ARGS go to `backtrace` (`full`, a count,
`-frame-arguments all`...).
A suspended task: its frames, numbered as after `corio switch TASK` (from
1, after the thread's own innermost frame). A running task: the backtrace
of the thread it runs on. A task that has not started has no stack yet."""

    def __init__(self):
        super().__init__("corio bt", gdb.COMMAND_STACK)

    def invoke(self, arg, from_tty):
        argv = gdb.string_to_argv(arg)
        if not argv:
            raise CorioError("usage: corio bt TASK [BT-ARGS]")
        task = find_task(argv[0])
        bt_args = " ".join(argv[1:])
        gdb.write("task \"%s\" (0x%x): %s\n"
                  % (task.name, task.address, task.state()))
        coro = task.coro()
        if coro is None:
            gdb.write("not started: no stack yet (its body %s has not run)\n"
                      % task.function())
            return
        if task.coro_state() == _types().coro_states["CORIO_CORO_RUNNING"]:
            th = _thread_on_stack(coro)
            if th is None:
                gdb.write("running, but no thread's stack pointer is in its "
                          "stack\n")
                return
            gdb.write("running on thread %d: its backtrace\n" % th.num)
            current = gdb.selected_thread()
            was = _unwinder.armed  # `corio switch` may have armed it
            try:
                _unwinder.armed = None
                _flush()
                th.switch()
                gdb.execute("backtrace " + bt_args, from_tty)
            finally:
                current.switch()
                _unwinder.armed = was
                _flush()
            return
        if task.saved_registers() is None:
            gdb.write("no saved context\n")
            return
        was = _unwinder.armed
        try:
            _arm(task)
            gdb.execute("backtrace " + bt_args, from_tty)
        finally:
            _unwinder.armed = was
            _flush()


class CorioSwitch(gdb.Command):
    """Make a suspended corio task's frames the current thread's callers.

Usage: corio switch TASK     (TASK: id, name or address)
       corio switch          back to the thread's own stack
Frame 1 is then the task's innermost frame (frame 0 stays the thread's own,
left out of `bt`), so `frame N`, `up`, `down`, `info locals` and `bt` work
in the task. Resuming the program switches back."""

    def __init__(self):
        super().__init__("corio switch", gdb.COMMAND_STACK)

    def invoke(self, arg, from_tty):
        if not arg.strip():
            _disarm()
            gdb.write("corio: back to the thread's own stack\n")
            return
        task = find_task(arg)
        if task.saved_registers() is None:
            raise CorioError("corio: task \"%s\" is %s: no saved context"
                             % (task.name, task.state()))
        level = _arm(task)
        gdb.execute("frame %d" % level, from_tty)


def _register():
    # Loaded again (another objfile, or `source` twice): the commands are
    # defined anew, and the old event handlers go.
    for ev, handler in getattr(gdb, "_corio_gdb_handlers", ()):
        try:
            ev.disconnect(handler)
        except (ValueError, RuntimeError):
            pass
    _install()
    CorioPrefix()
    CorioTasks()
    CorioBt()
    CorioSwitch()
    handlers = [(gdb.events.cont, _on_resume), (gdb.events.exited, _on_resume)]
    for ev, handler in handlers:
        ev.connect(handler)
    gdb._corio_gdb_handlers = handlers


_register()
