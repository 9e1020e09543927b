"""The kit's test helpers, each written once: the real sandbox (`sandbox`, built on devkit.testing's
SandboxProcess), raw WebSocket clients (`sockets`, `wsclient`), paths and AWS sample events (`repo`),
and the deploy, reliability and browser suites' helpers. Conftests hold fixtures only; the app's own
tests use devkit.testing and tests/app/support.py instead."""
