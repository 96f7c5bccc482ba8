"""Build the optional C accelerators (the spec parser's scan, the local walk's directory
reads); everything else is in pyproject.toml."""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "accessio.spec._jsonscan",
            sources=["src/accessio/spec/_jsonscan.c"],
            optional=True,  # without a compiler the pure-Python scanner is used
        ),
        Extension(
            "accessio.storage._scandir",
            sources=["src/accessio/storage/_scandir.c"],
            optional=True,  # without a compiler directories are read with os.scandir
        ),
    ]
)
