# SPDX-License-Identifier: Apache-2.0
"""Loaded by pytest before any test module under tests/: the shared test framework
(tests/petrel_test) makes apilib, guestlib, nethelp, jaillib ... importable by name."""
import petrel_test  # noqa: F401
