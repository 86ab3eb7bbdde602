"""The init's main loop: one thread, signals taken with sigtimedwait, children reaped with waitid.

States, in order:

running   the child runs; every signal is forwarded as it arrives, except that the first stop
          signal is held back for --delay-stop.
stopping  a stop signal went out; with --grace a deadline is armed, at which every descendant
          left is SIGKILLed.
draining  the child has exited during a shutdown (or by itself, with --stop-orphans): the init
          does what a well-behaved parent would have done and passes the stop signal on to the
          orphans now re-parented to it, then waits until it has no children left or the
          deadline passes.

Without --grace the init exits as soon as the child is reaped, as tini does; as PID 1 the
kernel then SIGKILLs the rest of the namespace.
"""

from __future__ import annotations

import os
import time

from hitless.init import sig
from hitless.init.log import Log, describe_status
from hitless.init.options import Options
from hitless.init.procs import Proc, comm_of, descendants, proc_is_ours, scan
from hitless.init.spawn import exit_code_for, spawn

TYPE_CHECKING = False  # mypy treats this name as true; at run time `typing` is never imported
if TYPE_CHECKING:
    from signal import struct_siginfo as SigInfo

# After the SIGKILL round, how long to wait for the dead to be reaped before exiting anyway (a
# process in uninterruptible sleep can take a while to die), and how often to repeat the round
# for processes forked while it ran.
KILL_WAIT = 5.0
REKILL_EVERY = 0.2


class Supervisor:
    def __init__(self, opts: Options, log: Log, collected: set[int], child_mask: set[int]) -> None:
        self.opts = opts
        self.log = log
        self.collected = collected
        self.child_mask = child_mask
        self.me = os.getpid()
        self.pid1 = self.me == 1
        # True when orphans come to us: as PID 1, or once main() has made us a subreaper.
        self.reaper = self.pid1
        self.proc_ours = proc_is_ours()
        self.child = 0
        self.child_code: int | None = None
        self.stopping = False
        self.stop_signal = sig.SIGTERM
        # Whether a stop signal reached the child (or its group) before it exited: with -g the
        # orphans still in the child's group have had theirs.
        self.forwarded_stop = False
        self.held: list[int] = []
        self.forward_at: float | None = None
        self.kill_at: float | None = None
        self.killed_at: float | None = None
        self.rekill_at: float | None = None
        self.draining = False
        # Orphans already given the stop signal while draining: each gets it once, because many
        # servers take a second one as "skip the drain, exit now".
        self.signalled: set[int] = set()

    # -- main loop -------------------------------------------------------------------------

    def run(self) -> int:
        try:
            self.child = spawn(self.opts.command, self.child_mask)
        except OSError as exc:
            os.write(2, f"hitless init: cannot run {self.opts.command[0]!r}: {exc.strerror}\n".encode())
            self.child_code = exit_code_for(exc)
            return self._finish()
        mode = "pid1" if self.pid1 else ("subreaper" if self.reaper else "plain")
        self.log.event(
            2,
            "config",
            grace=self.opts.grace,
            delay_stop=self.opts.delay_stop,
            stop_signals=",".join(sorted(sig.name(s) for s in self.opts.stop_signals)),
            process_group=self.opts.process_group,
            stop_orphans=self.opts.stop_orphans,
            remap_exit=",".join(map(str, sorted(self.opts.remap_exit))) or None,
            proc_ours=self.proc_ours,
        )
        self.log.event(
            1, "spawn", pid=self.child, command=" ".join(self.opts.command), init_pid=self.me, mode=mode
        )
        while True:
            children_left, reaped = self._reap()
            if self.child_code is not None and not (self.draining and children_left):
                break
            if reaped and self.draining and self.killed_at is None:
                # A dead orphan's own children have just become ours: they need the signal too.
                self._stop_orphans()
            now = time.monotonic()
            if self.killed_at is not None and now >= self.killed_at + KILL_WAIT:
                self.log.warn("kill.timeout", "descendants still alive after SIGKILL; exiting anyway")
                break
            timeout = self._timeout(now)
            info: SigInfo | None
            if timeout is None:
                info = sig.sigwaitinfo(self.collected)
            else:
                info = sig.sigtimedwait(self.collected, timeout)
            if info is not None:
                self._on_signal(info)
            self._on_timers()
        return self._finish()

    def _timeout(self, now: float) -> float | None:
        deadlines = [self.forward_at, self.kill_at, self.rekill_at]
        if self.killed_at is not None:
            deadlines.append(self.killed_at + KILL_WAIT)
        pending = [d for d in deadlines if d is not None]
        return max(0.0, min(pending) - now) if pending else None

    def _on_timers(self) -> None:
        now = time.monotonic()
        if self.forward_at is not None and now >= self.forward_at:
            self._release_held()
        if self.kill_at is not None and now >= self.kill_at:
            self.kill_at = None
            self.killed_at = now
            self.log.event(1, "grace.expired", grace=self.opts.grace)
            self._kill_all()
        if self.rekill_at is not None and now >= self.rekill_at:
            self._kill_all()

    def _finish(self) -> int:
        code = self.child_code if self.child_code is not None else 128 + sig.SIGKILL
        exit_code = 0 if code in self.opts.remap_exit else code
        if self.log.enabled(1):
            left = self._descendants()
            self.log.event(
                1,
                "exit",
                code=exit_code,
                child_code=code,
                # As PID 1 the kernel SIGKILLs these when we exit; as subreaper they are orphaned.
                leftovers=len(left) if left is not None else None,
                leftover_pids=",".join(str(p.pid) for p in left) if left else None,
            )
        return exit_code

    # -- reaping ---------------------------------------------------------------------------

    def _reap(self) -> tuple[bool, bool]:
        """Reap every zombie child; return (whether children are left, whether any was reaped)."""
        peek = self.log.enabled(1) and self.proc_ours
        reaped = False
        while True:
            try:
                # WNOWAIT first when logging so that the zombie's name can still be read.
                info = os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOHANG | (os.WNOWAIT if peek else 0))
            except ChildProcessError:
                return False, reaped
            if info is None:
                return True, reaped
            reaped = True
            pid = info.si_pid
            comm = comm_of(pid) if peek else None
            if peek:
                os.waitid(os.P_PID, pid, os.WEXITED)
            if info.si_code == os.CLD_EXITED:
                code, signum = info.si_status, None
            else:
                code, signum = 128 + info.si_status, info.si_status
            role = "child" if pid == self.child else "orphan"
            status = describe_status(code, signum)
            self.log.event(1, "reap", pid=pid, comm=comm, role=role, status=status, code=code)
            if pid == self.child:
                self.child_code = code
                self._on_child_exit()

    def _on_child_exit(self) -> None:
        grace = self.opts.grace
        if grace is None:
            return
        if self.stopping:
            # Held back by --delay-stop and now pointless: the child is gone. The orphans get
            # the signal below instead.
            self.forward_at = None
            self.held = []
        elif self.opts.stop_orphans:
            self.stopping = True
            sigs = self.opts.stop_signals
            self.stop_signal = sig.SIGTERM if sig.SIGTERM in sigs else min(sigs)
        else:
            return
        self.draining = True
        if self.killed_at is not None:
            return
        if self.kill_at is None:
            self.kill_at = time.monotonic() + grace
            self.log.event(1, "grace.start", grace=grace)
        self._stop_orphans()

    # -- signals ---------------------------------------------------------------------------

    def _on_signal(self, info: SigInfo) -> None:
        signum = info.si_signo
        if signum == sig.SIGCHLD:
            return
        if info.si_pid == self.me:
            # Our own doing, e.g. the SIGPIPE of a log write to a closed stderr: not the
            # child's business.
            self.log.event(2, "signal.dropped", signal=sig.name(signum), reason="sent by the init itself")
            return
        # si_pid is 0 when the sender lives outside our PID namespace (the container runtime).
        self.log.event(1, "signal.received", signal=sig.name(signum), sender=info.si_pid)
        if signum not in self.opts.stop_signals:
            self._forward(signum)
            return
        first = not self.stopping
        self.stopping = True
        if first:
            self.stop_signal = signum
        if self.held:
            # A second stop signal during --delay-stop: the sender insists, so stop waiting.
            self.held.append(signum)
            self._release_held()
        elif first and self.opts.delay_stop > 0 and self.child_code is None:
            self.held.append(signum)
            self.forward_at = time.monotonic() + self.opts.delay_stop
            self.log.event(1, "stop.delayed", signal=sig.name(signum), delay=self.opts.delay_stop)
        else:
            self._forward_stop(signum)

    def _release_held(self) -> None:
        held, self.held, self.forward_at = self.held, [], None
        for signum in held:
            self._forward_stop(signum)

    def _forward_stop(self, signum: int) -> None:
        self._forward(signum)
        self.forwarded_stop = True
        if self.opts.grace is not None and self.kill_at is None and self.killed_at is None:
            self.kill_at = time.monotonic() + self.opts.grace
            self.log.event(1, "grace.start", grace=self.opts.grace)

    def _forward(self, signum: int) -> None:
        if self.child_code is not None:
            # Draining: the orphans stand in for the child.
            orphans = self._orphans()
            if orphans is None:
                self._signal_namespace(signum, "signal.forward")
            else:
                self._signal(orphans, signum, "signal.forward")
            return
        target = -self.child if self.opts.process_group else self.child
        if self._kill(target, signum):
            self.log.event(1, "signal.forward", signal=sig.name(signum), target=target)
        else:
            self.log.event(2, "signal.forward.failed", signal=sig.name(signum), target=target)

    # -- descendants -----------------------------------------------------------------------

    def _descendants(self) -> list[Proc] | None:
        """Live descendants, or None when /proc shows another PID namespace."""
        if not self.proc_ours:
            return None
        return [p for p in descendants(self.me) if p.state not in "ZX"]

    def _orphans(self) -> list[Proc] | None:
        """Live children of the init other than the child: the re-parented orphans."""
        if not self.proc_ours:
            return None
        return [p for p in scan() if p.ppid == self.me and p.pid != self.child and p.state not in "ZX"]

    def _stop_orphans(self) -> None:
        """Give the stop signal to each orphan that has not had it (draining only).

        Only the init's own children, not their descendants: an orphan that is a proper
        parent (a server's master process) stops its workers itself and in its own order; if
        it dies instead, its children become the init's and get their turn.
        """
        orphans = self._orphans()
        if orphans is None:
            # Blind (no /proc of ours): one kill(-1) to the namespace, recorded as pid -1 so
            # that later reaps do not repeat it.
            if -1 not in self.signalled:
                self.signalled.add(-1)
                self._signal_namespace(self.stop_signal, "stop.orphans")
            return
        # -g already signalled the child's whole group, orphans included.
        skip_pgid = self.child if self.forwarded_stop and self.opts.process_group else None
        todo = [p for p in orphans if p.pid not in self.signalled and p.pgid != skip_pgid]
        self.signalled.update(p.pid for p in todo)
        if todo:
            self._signal(todo, self.stop_signal, "stop.orphans")

    def _signal(self, procs: list[Proc], signum: int, event: str) -> None:
        sent = [p for p in procs if self._kill(p.pid, signum)]
        if sent:
            pids = ",".join(str(p.pid) for p in sent)
            self.log.event(1, event, signal=sig.name(signum), pids=pids, comms=",".join(p.comm for p in sent))

    def _signal_namespace(self, signum: int, event: str) -> None:
        # As PID 1, kill(-1) reaches everyone else in our namespace without reading /proc: the
        # way to signal when /proc shows another namespace (possibly repeating a -g signal).
        # A subreaper has no such call, and kill(-1) there would hit the whole host.
        if self.pid1 and self._kill(-1, signum):
            self.log.event(1, event, signal=sig.name(signum), target=-1)

    def _kill_all(self) -> None:
        """SIGKILL every descendant, repeating until none is left."""
        if self.pid1:
            # In a PID namespace kill(-1) is everyone but us, atomically: a process cannot fork
            # once a fatal signal is pending, so nothing slips through.
            self._signal_namespace(sig.SIGKILL, "kill")
            self.rekill_at = None
            return
        if self.child_code is None:
            self._kill(-self.child if self.opts.process_group else self.child, sig.SIGKILL)
        procs = self._descendants()
        if procs:
            self._signal(procs, sig.SIGKILL, "kill")
        # A subreaper has no atomic "all descendants": one forked during the walk is missed.
        self.rekill_at = time.monotonic() + REKILL_EVERY

    @staticmethod
    def _kill(target: int, signum: int) -> bool:
        try:
            os.kill(target, signum)
        except (ProcessLookupError, PermissionError):
            return False
        return True
