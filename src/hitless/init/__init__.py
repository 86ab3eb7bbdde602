"""``hitless init``: a PID 1 for containers.

It forwards signals to its child, reaps zombies and, unlike tini and dumb-init, can wait for
every descendant during a shutdown and SIGKILL what is left after a grace period. See
``docs/init.md``.

Everything under this package must stay cheap to import: it runs as the first process of every
container, so it uses only ``os``, ``_signal``, ``time``, ``errno`` (and ``_ctypes`` for ``-s``),
never asyncio, pydantic or the rest of hitless. (The engine's runtime borrows the /proc parser
in ``procs.py``; nothing here may import from the runtime.)
"""
