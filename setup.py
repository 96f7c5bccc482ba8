"""Build the optional C accelerator of the spec parser; everything else is in pyproject.toml."""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "accessio.spec._jsonscan",
            sources=["src/accessio/spec/_jsonscan.c"],
            optional=True,  # without a compiler the pure-Python scanner is used
        )
    ]
)
