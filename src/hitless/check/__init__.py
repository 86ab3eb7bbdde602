"""``hitless check``: static rules over manifests, with the timeline each configuration implies.

Kept empty on purpose: ``hitless.check.traffic`` (the propagation and load-balancer numbers) is
imported by other components, which must not pay for the rules, pydantic or the formats.
Entry points: ``hitless.check.runner.run_check`` and ``hitless.cli.check``.
"""
