"""Loading and validating a 50-object file stays well under a second; valid input does not pay
for importing jsonschema."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time

from .helpers import load_yaml

DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata: {{name: web-{i}, labels: {{app: web-{i}}}}}
spec:
  replicas: 3
  selector: {{matchLabels: {{app: web-{i}}}}}
  template:
    metadata: {{labels: {{app: web-{i}}}}}
    spec:
      terminationGracePeriodSeconds: 45
      containers:
      - name: web
        image: example/web:1.{i}
        ports: [{{name: http, containerPort: 8080}}]
        env: [{{name: MODE, value: prod}}]
        readinessProbe: {{httpGet: {{path: /ready, port: http}}, periodSeconds: 2}}
        livenessProbe: {{httpGet: {{path: /live, port: http}}, failureThreshold: 5}}
        lifecycle: {{preStop: {{sleep: {{seconds: 5}}}}}}
        resources: {{requests: {{cpu: 100m, memory: 64Mi}}}}
---
apiVersion: v1
kind: Service
metadata: {{name: web-{i}}}
spec:
  type: LoadBalancer
  externalTrafficPolicy: Local
  selector: {{app: web-{i}}}
  ports: [{{name: http, port: 80, targetPort: http}}]
"""


def test_fifty_objects_load_well_under_a_second() -> None:
    text = "---\n".join(DEPLOYMENT.format(i=i) for i in range(25))
    load_yaml("apiVersion: v1\nkind: Service\nmetadata: {name: warm}\nspec: {ports: [{port: 1}]}\n")

    start = time.perf_counter()
    result = load_yaml(text)
    elapsed = time.perf_counter() - start

    assert result.ok, result.errors[:3]
    assert len(result.objects) == 50
    assert elapsed < 0.5, f"{elapsed:.3f}s"


def test_valid_input_is_loaded_without_importing_jsonschema_and_invalid_input_with_it() -> None:
    # jsonschema (and kubernetes_validate, whose __init__ imports it) cost ~0.1 s of start-up for
    # every hitless command; only an object that fails the compiled check needs it.
    script = textwrap.dedent(
        """
        import sys
        from hitless.api import load_text
        result = load_text(sys.argv[1])
        print(len(result.objects), len(result.errors), "jsonschema" in sys.modules,
              "kubernetes_validate" in sys.modules)
        """
    )
    valid = DEPLOYMENT.format(i=0)
    invalid = valid.replace("replicas: 3", "replicas: three")
    runs = [
        subprocess.run([sys.executable, "-c", script, text], capture_output=True, text=True, check=True)
        for text in (valid, invalid)
    ]

    assert [r.stdout.split() for r in runs] == [
        ["2", "0", "False", "False"],
        ["1", "1", "True", "False"],
    ]
