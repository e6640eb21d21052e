"""Build the optional C accelerator; without a C compiler the package works in pure Python."""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "zeromq._speedups",
            ["src/zeromq/_speedups.c"],
            optional=True,  # a failed build falls back to the pure-Python engine calls
            extra_compile_args=["-O2"],
        )
    ]
)
