"""Hostile submissions for issue 9's isolation test (``tests/test_isolation.py``).

``cells/`` holds the attacks as Python sources, one notebook cell each (``# %%`` splits a
file into several cells); ``build.py`` turns the released notebook into hostile and honest
submissions at test time, with the test's paths, ports and tokens in a first cell ``P``.
"""
