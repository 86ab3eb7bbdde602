"""``hitless verify``: drive load through a Service while a scenario runs, then explain every failure.

- ``generator``: open-loop HTTP/1.1 load at a constant rate, timed from each request's intended
  send time (no coordinated omission), with the client address of every connection.
- ``observe``: what happened to each pod, from store watch events, runtime calls and the
  proxies' sync records (``timeline``).
- ``attribute``: a pure function from requests, connection records and the timeline to
  failures with a stable cause id, and findings that name the manifest field to change.
- ``report``: text, JSON (docs/verify.md), JUnit, and the timeline picture.
- ``local`` and ``cluster``: a run as a library call on ``options.VerifyOptions``, on this
  machine or through a cluster's API (``VerifyOptions.cluster``), the Service and workload chosen
  by ``picking``; both give a ``result.Result``, which ``emit`` writes and prints alike.
"""
