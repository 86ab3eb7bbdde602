"""The rules, one module each; ``hitless.check.registry`` finds them."""
