"""Prints the version of six this image's group was built with, and that the SDK imports."""

import os

import six

import choreograph.sdk  # noqa: F401

print(f"six {six.__version__} in {os.getcwd()}")
